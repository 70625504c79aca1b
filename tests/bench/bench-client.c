/* See bench-client.h. */
#include "bench-client.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double bench_now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

void bench_die(const char *what)
{
        perror(what);
        exit(1);
}

static int cmp(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

void bench_sort(double *v, size_t n)
{
        qsort(v, n, sizeof(double), cmp);
}

void bench_write_file(const char *path, const char *text, mode_t mode)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) < 0)
                bench_die(path);
}

void bench_write_key(const char *path, const uint8_t key[PROTO_KEY_BYTES])
{
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
        if (fd < 0 || write(fd, key, PROTO_KEY_BYTES) != (ssize_t)PROTO_KEY_BYTES)
                bench_die("key");
        close(fd);
}

void bench_tmpfs(char *dir, size_t len, const char *name, const char *opts)
{
        snprintf(dir, len, "/tmp/%s.XXXXXX", name);
        if (!mkdtemp(dir) || chmod(dir, 0755) < 0)
                bench_die("mkdtemp");
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("tmpfs", dir, "tmpfs", 0, opts) < 0)
                bench_die("tmpfs");
}

pid_t bench_serve(const char *bin, const char *flag, const char *dir, const char *tag,
                  const uint8_t key[PROTO_KEY_BYTES], const char *rules, char *sock, size_t socklen)
{
        char kpath[256], policy[256], text[2048];
        snprintf(sock, socklen, "%s/run-%s/sd.sock", dir, tag);
        snprintf(kpath, sizeof(kpath), "%s/key-%s", dir, tag);
        snprintf(policy, sizeof(policy), "%s/pol-%s.conf", dir, tag);
        bench_write_key(kpath, key);
        snprintf(text, sizeof(text), "socket %s\nkey %s\n%s", sock, kpath, rules);
        bench_write_file(policy, text, 0644);
        pid_t pid = fork();
        if (pid < 0)
                bench_die("fork");
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY);
                dup2(null, 1);
                if (flag)
                        execl(bin, "stepdownd", flag, "--serve", "-c", policy, (char *)NULL);
                else
                        execl(bin, "stepdownd", "--serve", "-c", policy, (char *)NULL);
                bench_die("exec stepdownd");
        }
        for (int i = 0; i < 500 && access(sock, F_OK) < 0; i++)
                usleep(10000);
        if (access(sock, F_OK) < 0) {
                kill(pid, SIGTERM);
                waitpid(pid, NULL, 0);
                return -1;
        }
        return pid;
}

long bench_status_kib(pid_t pid, const char *field)
{
        char p[64], line[256];
        long v = -1;
        snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
        FILE *f = fopen(p, "re");
        while (f && fgets(line, sizeof(line), f))
                if (strncmp(line, field, strlen(field)) == 0)
                        v = strtol(line + strlen(field), NULL, 10);
        if (f)
                fclose(f);
        return v;
}

static void fail(const char *what, const char *sock)
{
        fprintf(stderr, "bench: %s: %s\n", sock, what);
        exit(1);
}

int bench_connect(const char *sock, const uint8_t key[PROTO_KEY_BYTES])
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        uint8_t buf[PROTO_MAX_MSG], mac[PROTO_MAC_BYTES];
        struct proto_msg m;
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                fail("connect", sock);
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0 || proto_decode(buf, (size_t)n, &m) < 0 || m.type != PROTO_HELLO)
                fail("no HELLO", sock);
        struct proto_auth_peers peers;
        if (proto_auth_peers_client(fd, &peers) < 0)
                fail("SO_PEERCRED", sock);
        proto_auth_mac(key, m.nonce, &peers, mac);
        /* What libstepdown does: a fresh nonce of its own, the server's
         * proof checked (protocol 3). */
        uint8_t cnonce[PROTO_NONCE_BYTES];
        randombytes_buf(cnonce, sizeof(cnonce));
        n = proto_encode_auth(buf, sizeof(buf), 1, mac, cnonce);
        if (send(fd, buf, (size_t)n, 0) < 0 || (n = recv(fd, buf, sizeof(buf), 0)) <= 0 ||
            proto_decode(buf, (size_t)n, &m) < 0 || m.type != PROTO_AUTH_OK ||
            proto_auth_server_verify(key, cnonce, &peers, m.mac) < 0)
                fail("authentication", sock);
        return fd;
}

int bench_request(int fd, const uint8_t *req, size_t len, char *msg, size_t msglen)
{
        uint8_t buf[PROTO_MAX_MSG];
        struct proto_msg m;
        ssize_t n;
        if (send(fd, req, len, 0) < 0 || (n = recv(fd, buf, sizeof(buf), 0)) <= 0 ||
            proto_decode(buf, (size_t)n, &m) < 0) {
                fprintf(stderr, "bench: a request got no answer\n");
                exit(1);
        }
        if (m.type == PROTO_OK)
                return 0;
        snprintf(msg, msglen, "%.*s", (int)m.message_len, m.message);
        return -1;
}
