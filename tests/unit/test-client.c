/* Unit tests for libstepdown against a scripted fake broker: a child
 * process serving one connection on a SOCK_SEQPACKET socket in a temp dir.
 * The child exits non-zero if the client sent something unexpected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/lib-internal.h"
#include "proto.h"
#include "stepdown/stepdown.h"

static char dir[64], sock_path[128];
static uint8_t key[PROTO_KEY_BYTES];

/* ---- the fake broker (runs in the child) ---- */

#define SRV_CHECK(cond)                                                                            \
        do {                                                                                       \
                if (!(cond)) {                                                                     \
                        fprintf(stderr, "fake broker: %s:%d: %s\n", __FILE__, __LINE__, #cond);    \
                        _exit(1);                                                                  \
                }                                                                                  \
        } while (0)

static void srv_send(int fd, const uint8_t *b, ssize_t len, int passfd)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } ctrl;
        struct iovec iov = {.iov_base = (void *)b, .iov_len = (size_t)len};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        SRV_CHECK(len > 0);
        if (passfd >= 0) {
                mh.msg_control = &ctrl;
                mh.msg_controllen = sizeof(ctrl);
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &passfd, sizeof(int));
        }
        SRV_CHECK(sendmsg(fd, &mh, MSG_NOSIGNAL) == len);
}

/* Receives one request into buf and decodes it; checks its type. */
static void srv_expect(int fd, uint8_t *buf, struct proto_msg *m, uint16_t type)
{
        ssize_t n = recv(fd, buf, PROTO_MAX_MSG, 0);
        SRV_CHECK(n > 0);
        SRV_CHECK(proto_decode(buf, (size_t)n, m) == 0);
        SRV_CHECK(m->type == type);
}

static void srv_hello(int fd, uint8_t method, uint8_t nonce[PROTO_NONCE_BYTES])
{
        uint8_t b[PROTO_MAX_MSG];
        for (int i = 0; i < PROTO_NONCE_BYTES; i++)
                nonce[i] = (uint8_t)(rand() & 0xff);
        srv_send(fd, b, proto_encode_hello(b, sizeof(b), 0, method, nonce), -1);
}

/* The two ends as the fake broker sees them: it called listen() itself,
 * and the client's uid comes from SO_PEERCRED. */
static void srv_peers(int fd, struct proto_auth_peers *peers)
{
        struct ucred uc;
        socklen_t len = sizeof(uc);
        SRV_CHECK(getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0);
        peers->server_uid = (uint32_t)geteuid();
        peers->client_uid = (uint32_t)uc.uid;
}

/* HELLO(mac) + AUTH check + AUTH_OK. */
static void srv_auth(int fd)
{
        uint8_t nonce[PROTO_NONCE_BYTES], b[PROTO_MAX_MSG], out[PROTO_MAX_MSG];
        struct proto_msg m;
        struct proto_auth_peers peers;
        srv_hello(fd, PROTO_AUTH_MAC, nonce);
        srv_expect(fd, b, &m, PROTO_AUTH);
        srv_peers(fd, &peers);
        SRV_CHECK(proto_auth_verify(key, nonce, &peers, m.mac) == 0);
        /* ... and bound to the client uid: not valid for another one */
        peers.client_uid ^= 1;
        SRV_CHECK(proto_auth_verify(key, nonce, &peers, m.mac) == -EPERM);
        peers.client_uid ^= 1;
        /* version 3: the proof over the client's nonce */
        uint8_t proof[PROTO_MAC_BYTES];
        SRV_CHECK(m.present & PROTO_F_NONCE);
        proto_auth_server_mac(key, m.nonce, &peers, proof);
        srv_send(fd, out, proto_encode_auth_ok(out, sizeof(out), m.id, proof), -1);
}

typedef void (*script_fn)(int fd);

/* Serves one connection with script, after refusing the first `full`
 * ones the way a full broker does (ERROR id 0, LIMIT, EUSERS, close). */
static pid_t serve_after_full(script_fn script, int full)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        assert_true(lfd >= 0);
        unlink(sock_path);
        strcpy(sa.sun_path, sock_path);
        assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(lfd, 4), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int cfd;
                for (int i = 0; i < full; i++) {
                        uint8_t out[PROTO_MAX_MSG];
                        cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                        SRV_CHECK(cfd >= 0);
                        srv_send(cfd, out,
                                 proto_encode_error(out, sizeof(out), 0, EUSERS, PROTO_ERR_LIMIT,
                                                    "too many clients: the broker serves at most "
                                                    "1 at once"),
                                 -1);
                        close(cfd);
                }
                if (!script)
                        _exit(0);
                cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                SRV_CHECK(cfd >= 0);
                script(cfd);
                /* wait for the client to hang up, so nothing is cut short */
                char c;
                while (recv(cfd, &c, 1, 0) > 0)
                        ;
                _exit(0);
        }
        close(lfd);
        return pid;
}

static pid_t serve(script_fn script)
{
        return serve_after_full(script, 0);
}

static void reap(pid_t pid)
{
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
}

static int count_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        int n = 0;
        assert_non_null(d);
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

/* ---- scripts and tests ---- */

static void script_ping(int fd)
{
        uint8_t b[PROTO_MAX_MSG], out[PROTO_MAX_MSG];
        struct proto_msg m;
        srv_auth(fd);
        srv_expect(fd, b, &m, PROTO_PING);
        srv_send(fd, out, proto_encode_ok(out, sizeof(out), m.id, -1, 0), -1);
}

static void test_handshake_and_ping(void **state)
{
        struct stepdown *sd;
        (void)state;
        pid_t pid = serve(script_ping);
        assert_int_equal(stepdown_connect_to(sock_path, key, &sd), 0);
        assert_int_equal(stepdown_ping(sd), 0);
        assert_null(stepdown_errmsg(sd));
        stepdown_close(sd);
        reap(pid);
}

static void script_wrong_key(int fd)
{
        uint8_t nonce[PROTO_NONCE_BYTES], b[PROTO_MAX_MSG], out[PROTO_MAX_MSG];
        struct proto_msg m;
        srv_hello(fd, PROTO_AUTH_MAC, nonce);
        srv_expect(fd, b, &m, PROTO_AUTH);
        struct proto_auth_peers peers;
        srv_peers(fd, &peers);
        SRV_CHECK(proto_auth_verify(key, nonce, &peers, m.mac) == -EPERM);
        srv_send(fd, out,
                 proto_encode_error(out, sizeof(out), m.id, EACCES, PROTO_ERR_AUTH, "bad key"), -1);
}

static void test_wrong_key(void **state)
{
        struct stepdown *sd = (void *)1;
        uint8_t other[PROTO_KEY_BYTES];
        (void)state;
        memcpy(other, key, sizeof(other));
        other[0] ^= 1;
        pid_t pid = serve(script_wrong_key);
        assert_int_equal(stepdown_connect_to(sock_path, other, &sd), -EACCES);
        assert_null(sd);
        reap(pid);
}

static void script_hello_only(int fd)
{
        uint8_t nonce[PROTO_NONCE_BYTES];
        srv_hello(fd, PROTO_AUTH_MAC, nonce);
}

static void test_no_key(void **state)
{
        struct stepdown *sd;
        (void)state;
        pid_t pid = serve(script_hello_only);
        assert_int_equal(stepdown_connect_to(sock_path, NULL, &sd), -ENOKEY);
        reap(pid);
}

static void script_errors(int fd)
{
        uint8_t b[PROTO_MAX_MSG], out[PROTO_MAX_MSG], nonce[PROTO_NONCE_BYTES];
        struct proto_msg m;
        srv_hello(fd, PROTO_AUTH_NONE, nonce);
        srv_expect(fd, b, &m, PROTO_MKDIR);
        SRV_CHECK(m.path_len == 7 && memcmp(m.path, "/data/x", 7) == 0);
        SRV_CHECK(m.present == (PROTO_F_PATH | PROTO_F_MODE | PROTO_F_FLAGS));
        SRV_CHECK(m.mode == 0700 && m.flags == PROTO_MKDIR_PARENTS);
        srv_send(fd, out,
                 proto_encode_error(out, sizeof(out), m.id, EACCES, PROTO_ERR_REFUSED,
                                    "no allow rule for mkdir /data/x"),
                 -1);
        srv_expect(fd, b, &m, PROTO_CHMOD);
        srv_send(fd, out,
                 proto_encode_error(out, sizeof(out), m.id, ENOENT, PROTO_ERR_FAILED, NULL), -1);
        srv_expect(fd, b, &m, PROTO_CHOWN);
        SRV_CHECK(m.present == (PROTO_F_PATH | PROTO_F_GID | PROTO_F_FLAGS) && m.gid == 50);
        srv_send(fd, out, proto_encode_ok(out, sizeof(out), m.id, 12345, 0), -1);
        srv_expect(fd, b, &m, PROTO_ALLOWED);
        srv_send(fd, out, proto_encode_allowed_reply(out, sizeof(out), m.id, "allow a\n"), -1);
        /* a reply with the wrong id */
        srv_expect(fd, b, &m, PROTO_PING);
        srv_send(fd, out, proto_encode_ok(out, sizeof(out), m.id + 1, -1, 0), -1);
}

static void test_error_mapping(void **state)
{
        struct stepdown *sd;
        uint64_t changed = 0;
        char *text;
        (void)state;
        pid_t pid = serve(script_errors);
        assert_int_equal(stepdown_connect_to(sock_path, NULL, &sd), 0);

        assert_int_equal(
            stepdown_mkdir(sd, "/data/x", 0700, (uid_t)-1, (gid_t)-1, STEPDOWN_MKDIR_PARENTS),
            -EACCES);
        assert_true(stepdown_refused(sd));
        assert_string_equal(stepdown_errmsg(sd), "no allow rule for mkdir /data/x");

        assert_int_equal(stepdown_chmod(sd, "/data/y", 0600), -ENOENT);
        assert_false(stepdown_refused(sd));
        assert_int_equal(stepdown_error_kind(sd), STEPDOWN_ERR_FAILED);
        assert_null(stepdown_errmsg(sd));

        assert_int_equal(
            stepdown_chown(sd, "/data/z", (uid_t)-1, 50, STEPDOWN_CHOWN_RECURSIVE, &changed), 0);
        assert_int_equal(changed, 12345);
        assert_int_equal(stepdown_error_kind(sd), STEPDOWN_ERR_NONE);

        assert_int_equal(stepdown_allowed(sd, &text), 0);
        assert_string_equal(text, "allow a\n");
        free(text);

        assert_int_equal(stepdown_ping(sd), -EPROTO);

        /* bad arguments never reach the broker */
        assert_int_equal(stepdown_chmod(sd, "relative", 0600), -EINVAL);
        assert_int_equal(stepdown_chown(sd, "/a", (uid_t)-1, (gid_t)-1, 0, NULL), -EINVAL);
        int fd;
        assert_int_equal(stepdown_bind(sd, "tcp:nohost:1", &fd), -EINVAL);
        assert_int_equal(fd, -1);
        stepdown_close(sd);
        reap(pid);
}

static void script_fds(int fd)
{
        uint8_t b[PROTO_MAX_MSG], out[PROTO_MAX_MSG], nonce[PROTO_NONCE_BYTES];
        struct proto_msg m;
        char path[192];
        srv_hello(fd, PROTO_AUTH_NONE, nonce);

        srv_expect(fd, b, &m, PROTO_OPEN);
        SRV_CHECK(m.flags == PROTO_OPEN_READ && !(m.present & PROTO_F_MODE));
        snprintf(path, sizeof(path), "%s/secret", dir);
        int f = open(path, O_RDONLY | O_CLOEXEC);
        SRV_CHECK(f >= 0);
        srv_send(fd, out, proto_encode_ok(out, sizeof(out), m.id, -1, 1), f);

        /* BIND: the request carries the parsed address */
        srv_expect(fd, b, &m, PROTO_BIND);
        SRV_CHECK(m.bind_proto == PROTO_BIND_TCP && m.port == 8443 && m.address_len == 2 &&
                  memcmp(m.address, "::", 2) == 0);
        srv_send(fd, out, proto_encode_ok(out, sizeof(out), m.id, -1, 1), f);

        /* OK that claims an fd but has none */
        srv_expect(fd, b, &m, PROTO_OPEN);
        srv_send(fd, out, proto_encode_ok(out, sizeof(out), m.id, -1, 1), -1);

        /* an fd nobody asked for, riding on a PING reply */
        srv_expect(fd, b, &m, PROTO_PING);
        srv_send(fd, out, proto_encode_ok(out, sizeof(out), m.id, -1, 0), f);

        /* an fd on an ERROR reply */
        srv_expect(fd, b, &m, PROTO_OPEN);
        srv_send(fd, out, proto_encode_error(out, sizeof(out), m.id, EPERM, PROTO_ERR_FAILED, "x"),
                 f);
        close(f);
}

static void test_fd_passing(void **state)
{
        struct stepdown *sd;
        char buf[16] = {0};
        int fd = -1;
        (void)state;
        pid_t pid = serve(script_fds);
        assert_int_equal(stepdown_connect_to(sock_path, NULL, &sd), 0);
        int before = count_fds();

        assert_int_equal(stepdown_open(sd, "/etc/key", STEPDOWN_OPEN_READ, 0, &fd), 0);
        assert_true(fd >= 0);
        assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
        assert_int_equal(pread(fd, buf, sizeof(buf) - 1, 0), 6);
        assert_string_equal(buf, "secret");
        close(fd);

        assert_int_equal(stepdown_bind(sd, "tcp:[::]:8443", &fd), 0);
        assert_true(fd >= 0);
        close(fd);

        assert_int_equal(stepdown_open(sd, "/etc/key", STEPDOWN_OPEN_READ, 0, &fd), -EPROTO);
        assert_int_equal(fd, -1);
        assert_int_equal(stepdown_ping(sd), 0);
        assert_int_equal(stepdown_open(sd, "/etc/key", STEPDOWN_OPEN_READ, 0, &fd), -EPERM);
        assert_int_equal(fd, -1);
        assert_int_equal(count_fds(), before); /* stray fds were closed */
        stepdown_close(sd);
        reap(pid);
}

static void script_silent(int fd)
{
        uint8_t b[PROTO_MAX_MSG], nonce[PROTO_NONCE_BYTES];
        struct proto_msg m;
        srv_hello(fd, PROTO_AUTH_NONE, nonce);
        srv_expect(fd, b, &m, PROTO_PING); /* and never answer */
        srv_expect(fd, b, &m, PROTO_PING); /* then hang up */
        close(fd);
        _exit(0);
}

static void test_timeout_and_hangup(void **state)
{
        struct stepdown *sd;
        struct timespec t0, t1;
        (void)state;
        pid_t pid = serve(script_silent);
        assert_int_equal(stepdown_connect_to(sock_path, NULL, &sd), 0);
        assert_int_equal(stepdown_set_timeout(sd, 200), 0);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_int_equal(stepdown_ping(sd), -EAGAIN);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        assert_true(secs >= 0.15 && secs < 5);
        assert_int_equal(stepdown_ping(sd), -ECONNRESET);
        stepdown_close(sd);
        reap(pid);
}

static void test_not_a_broker(void **state)
{
        struct stepdown *sd;
        (void)state;
        unlink(sock_path);
        assert_int_equal(stepdown_connect_to(sock_path, key, &sd), -ENOENT);
        assert_null(sd);
        assert_int_equal(stepdown_connect_to("", key, &sd), -EINVAL);
}

static void test_key_formats(void **state)
{
        uint8_t out[PROTO_KEY_BYTES];
        char hex[2 * PROTO_KEY_BYTES + 2];
        (void)state;
        for (int i = 0; i < PROTO_KEY_BYTES; i++)
                snprintf(hex + 2 * i, 3, "%02x", key[i]);
        assert_int_equal(sdlib_parse_key(key, sizeof(key), out), 0);
        assert_memory_equal(out, key, sizeof(key));
        memset(out, 0, sizeof(out));
        assert_int_equal(sdlib_parse_key((uint8_t *)hex, 64, out), 0);
        assert_memory_equal(out, key, sizeof(key));
        strcat(hex, "\n");
        assert_int_equal(sdlib_parse_key((uint8_t *)hex, 65, out), 0);
        assert_int_equal(sdlib_parse_key((uint8_t *)hex, 31, out), -EINVAL);
        assert_int_equal(sdlib_parse_key((uint8_t *)hex, 63, out), -EINVAL);
        hex[3] = 'g';
        assert_int_equal(sdlib_parse_key((uint8_t *)hex, 64, out), -EINVAL);
}

/* stepdown_connect() from the environment: key file (hex), key fd (raw). */
static void test_connect_from_env(void **state)
{
        struct stepdown *sd;
        char kpath[192], hex[2 * PROTO_KEY_BYTES + 2];
        (void)state;
        for (int i = 0; i < PROTO_KEY_BYTES; i++)
                snprintf(hex + 2 * i, 3, "%02x", key[i]);
        strcat(hex, "\n");
        snprintf(kpath, sizeof(kpath), "%s/key", dir);
        FILE *f = fopen(kpath, "w");
        assert_non_null(f);
        fputs(hex, f);
        fclose(f);
        assert_int_equal(chmod(kpath, 0600), 0);

        setenv("STEPDOWN_SOCKET", sock_path, 1);
        setenv("STEPDOWN_KEY_FILE", kpath, 1);
        pid_t pid = serve(script_ping);
        assert_int_equal(stepdown_connect(&sd), 0);
        assert_int_equal(stepdown_ping(sd), 0);
        stepdown_close(sd);
        reap(pid);

        int p[2];
        char num[16];
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        assert_int_equal(write(p[1], key, sizeof(key)), (ssize_t)sizeof(key));
        close(p[1]);
        snprintf(num, sizeof(num), "%d", p[0]);
        setenv("STEPDOWN_KEY_FD", num, 1); /* takes precedence over the file */
        setenv("STEPDOWN_KEY_FILE", "/nonexistent", 1);
        pid = serve(script_ping);
        assert_int_equal(stepdown_connect(&sd), 0);
        assert_int_equal(stepdown_ping(sd), 0);
        stepdown_close(sd);
        reap(pid);
        close(p[0]);

        setenv("STEPDOWN_KEY_FD", "x", 1);
        assert_int_equal(stepdown_connect(&sd), -EINVAL);
        unsetenv("STEPDOWN_KEY_FD");
        assert_int_equal(stepdown_connect(&sd), -ENOENT); /* the key file */
        unsetenv("STEPDOWN_KEY_FILE");
        setenv("STEPDOWN_TIMEOUT", "soon", 1);
        assert_int_equal(stepdown_connect(&sd), -EINVAL);
        unsetenv("STEPDOWN_TIMEOUT");
        unsetenv("STEPDOWN_SOCKET");
}

/* A full broker (EUSERS) is asked again with backoff: the client gets in
 * once a slot is free, and gives up with a message naming the socket when
 * none frees within its timeout. */
static void test_full_broker_retry(void **state)
{
        struct stepdown *sd;
        char msg[512];
        struct timespec t0, t1;
        (void)state;
        pid_t pid = serve_after_full(script_ping, 3);
        assert_int_equal(stepdown_connect_to(sock_path, key, &sd), 0);
        assert_int_equal(stepdown_ping(sd), 0);
        stepdown_close(sd);
        reap(pid);

        /* Full for longer than STEPDOWN_TIMEOUT=1. */
        setenv("STEPDOWN_SOCKET", sock_path, 1);
        setenv("STEPDOWN_TIMEOUT", "1", 1);
        unsetenv("STEPDOWN_KEY_FD");
        unsetenv("STEPDOWN_KEY_FILE");
        pid = serve_after_full(NULL, 1000);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_int_equal(stepdown_connect_msg(&sd, msg, sizeof(msg)), -EUSERS);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        assert_true(secs >= 0.9 && secs < 5);
        assert_null(sd);
        char want[512];
        snprintf(want, sizeof(want),
                 "the broker at %s stayed full for 1000 ms: too many clients: the broker "
                 "serves at most 1 at once",
                 sock_path);
        assert_string_equal(msg, want);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        unsetenv("STEPDOWN_TIMEOUT");
        unsetenv("STEPDOWN_SOCKET");
}

/* A full broker drops a connection that has not authenticated yet to
 * make room: HELLO, then ERROR id 0 (LIMIT, EUSERS), then it closes,
 * mostly before the client's AUTH arrives (send: EPIPE).  The client
 * reads why and knocks again like for any full broker. */
static void script_evict(int fd)
{
        uint8_t b[PROTO_MAX_MSG], nonce[PROTO_NONCE_BYTES];
        srv_hello(fd, PROTO_AUTH_MAC, nonce);
        srv_send(fd, b,
                 proto_encode_error(b, sizeof(b), 0, EUSERS, PROTO_ERR_LIMIT,
                                    "dropped before it authenticated, to make room"),
                 -1);
}

static void test_dropped_to_make_room(void **state)
{
        struct stepdown *sd;
        (void)state;
        for (int i = 0; i < 20; i++) {
                struct sockaddr_un sa = {.sun_family = AF_UNIX};
                int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
                assert_true(lfd >= 0);
                unlink(sock_path);
                strcpy(sa.sun_path, sock_path);
                assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
                assert_int_equal(listen(lfd, 4), 0);
                pid_t pid = fork();
                assert_true(pid >= 0);
                if (pid == 0) {
                        int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                        SRV_CHECK(cfd >= 0);
                        script_evict(cfd);
                        close(cfd);
                        cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                        SRV_CHECK(cfd >= 0);
                        script_ping(cfd);
                        char c;
                        while (recv(cfd, &c, 1, 0) > 0)
                                ;
                        _exit(0);
                }
                close(lfd);
                assert_int_equal(stepdown_connect_to(sock_path, key, &sd), 0);
                assert_int_equal(stepdown_ping(sd), 0);
                stepdown_close(sd);
                reap(pid);
        }
}

/* A broker of another protocol version: its HELLO has version 1. */
static void script_old_hello(int fd)
{
        uint8_t b[PROTO_MAX_MSG], nonce[PROTO_NONCE_BYTES] = {0};
        ssize_t n = proto_encode_hello(b, sizeof(b), 0, PROTO_AUTH_MAC, nonce);
        b[4] = 1;
        srv_send(fd, b, n, -1);
}

static void test_version_mismatch(void **state)
{
        struct stepdown *sd;
        char msg[512], want[512];
        (void)state;
        setenv("STEPDOWN_SOCKET", sock_path, 1);
        unsetenv("STEPDOWN_KEY_FD");
        unsetenv("STEPDOWN_KEY_FILE");
        pid_t pid = serve(script_old_hello);
        assert_int_equal(stepdown_connect_msg(&sd, msg, sizeof(msg)), -EPROTONOSUPPORT);
        snprintf(want, sizeof(want),
                 "the broker at %s: it speaks protocol version 1, this client version %d",
                 sock_path, PROTO_VERSION);
        assert_string_equal(msg, want);
        reap(pid);
        unsetenv("STEPDOWN_SOCKET");
}

/* Each way stepdown_connect() can fail locally names what is at fault. */
static void test_connect_messages(void **state)
{
        struct stepdown *sd;
        char msg[512], want[512], kpath[192];
        (void)state;
        setenv("STEPDOWN_SOCKET", sock_path, 1);
        unsetenv("STEPDOWN_KEY_FD");

        setenv("STEPDOWN_KEY_FILE", "/nonexistent/key", 1);
        assert_int_equal(stepdown_connect_msg(&sd, msg, sizeof(msg)), -ENOENT);
        assert_string_equal(msg, "the key file STEPDOWN_KEY_FILE=/nonexistent/key: No such file "
                                 "or directory");
        setenv("STEPDOWN_KEY_FILE", dir, 1); /* a directory: unreadable as a key */
        assert_int_equal(stepdown_connect_msg(&sd, msg, sizeof(msg)), -EISDIR);
        snprintf(want, sizeof(want), "the key file STEPDOWN_KEY_FILE=%s: Is a directory", dir);
        assert_string_equal(msg, want);
        snprintf(kpath, sizeof(kpath), "%s/secret", dir); /* 6 bytes, not a key */
        setenv("STEPDOWN_KEY_FILE", kpath, 1);
        assert_int_equal(stepdown_connect_msg(&sd, msg, sizeof(msg)), -EINVAL);
        snprintf(want, sizeof(want),
                 "the key file STEPDOWN_KEY_FILE=%s: not a key (expected 32 raw bytes or 64 hex "
                 "digits)",
                 kpath);
        assert_string_equal(msg, want);
        unsetenv("STEPDOWN_KEY_FILE");

        setenv("STEPDOWN_KEY_FD", "x", 1);
        assert_int_equal(stepdown_connect_msg(&sd, msg, sizeof(msg)), -EINVAL);
        assert_string_equal(msg, "STEPDOWN_KEY_FD=x: not a file descriptor number");
        setenv("STEPDOWN_KEY_FD", "999", 1);
        assert_int_equal(stepdown_connect_msg(&sd, msg, sizeof(msg)), -EBADF);
        assert_string_equal(msg, "the key fd STEPDOWN_KEY_FD=999: Bad file descriptor");
        unsetenv("STEPDOWN_KEY_FD");

        setenv("STEPDOWN_TIMEOUT", "abc", 1);
        assert_int_equal(stepdown_connect_msg(&sd, msg, sizeof(msg)), -EINVAL);
        assert_string_equal(msg, "STEPDOWN_TIMEOUT=abc: not a number of seconds from 0 to 86400");
        unsetenv("STEPDOWN_TIMEOUT");

        unlink(sock_path);
        assert_int_equal(stepdown_connect_msg(&sd, msg, sizeof(msg)), -ENOENT);
        snprintf(want, sizeof(want),
                 "cannot connect to the broker at %s: No such file or directory", sock_path);
        assert_string_equal(msg, want);
        unsetenv("STEPDOWN_SOCKET");
}

/* ---- issue 17.1: the client checks its server ---- */

/* A `key none` broker: HELLO none, one PING answered. */
static void script_ping_nokey(int fd)
{
        uint8_t b[PROTO_MAX_MSG], out[PROTO_MAX_MSG], nonce[PROTO_NONCE_BYTES];
        struct proto_msg m;
        srv_hello(fd, PROTO_AUTH_NONE, nonce);
        srv_expect(fd, b, &m, PROTO_PING);
        srv_send(fd, out, proto_encode_ok(out, sizeof(out), m.id, -1, 0), -1);
}

/* Says nothing: the client must hang up on its own. */
static void script_nothing(int fd)
{
        (void)fd;
}

/* An impostor without the key: it asks for AUTH and answers with a
 * made-up proof, then would serve any request with OK. */
static void script_fake_proof(int fd)
{
        uint8_t nonce[PROTO_NONCE_BYTES], b[PROTO_MAX_MSG], out[PROTO_MAX_MSG];
        uint8_t fake[PROTO_MAC_BYTES];
        struct proto_msg m;
        srv_hello(fd, PROTO_AUTH_MAC, nonce);
        srv_expect(fd, b, &m, PROTO_AUTH);
        memset(fake, 0x5a, sizeof(fake));
        srv_send(fd, out, proto_encode_auth_ok(out, sizeof(out), m.id, fake), -1);
        /* the client must hang up now, without a request */
        ssize_t n = recv(fd, b, sizeof(b), 0);
        SRV_CHECK(n == 0);
}

/* A proof with the right key but for other ends (a relay's view). */
static void script_relayed_proof(int fd)
{
        uint8_t nonce[PROTO_NONCE_BYTES], b[PROTO_MAX_MSG], out[PROTO_MAX_MSG];
        uint8_t proof[PROTO_MAC_BYTES];
        struct proto_msg m;
        struct proto_auth_peers peers;
        srv_hello(fd, PROTO_AUTH_MAC, nonce);
        srv_expect(fd, b, &m, PROTO_AUTH);
        srv_peers(fd, &peers);
        peers.client_uid += 1; /* the broker saw the relay, not this client */
        proto_auth_server_mac(key, m.nonce, &peers, proof);
        srv_send(fd, out, proto_encode_auth_ok(out, sizeof(out), m.id, proof), -1);
        SRV_CHECK(recv(fd, b, sizeof(b), 0) == 0);
}

/* An impostor that does not ask for a key at all. */
static void script_no_auth(int fd)
{
        uint8_t nonce[PROTO_NONCE_BYTES], b[PROTO_MAX_MSG];
        srv_hello(fd, PROTO_AUTH_NONE, nonce);
        SRV_CHECK(recv(fd, b, sizeof(b), 0) == 0);
}

static void test_server_must_prove_key(void **state)
{
        struct stepdown *sd = (void *)1;
        char msg[512], want[512];
        (void)state;
        setenv("STEPDOWN_SOCKET", sock_path, 1);
        char num[16];
        int kfd = memfd_create("key", MFD_CLOEXEC); /* read again by each connect */
        assert_true(kfd >= 0);
        assert_int_equal(write(kfd, key, sizeof(key)), (ssize_t)sizeof(key));
        snprintf(num, sizeof(num), "%d", kfd);
        setenv("STEPDOWN_KEY_FD", num, 1);

        pid_t pid = serve(script_fake_proof);
        assert_int_equal(stepdown_connect_msg(&sd, msg, sizeof(msg)), -EPERM);
        assert_null(sd);
        snprintf(want, sizeof(want),
                 "the server at %s did not prove that it holds the key (wrong proof in "
                 "AUTH_OK): refusing it",
                 sock_path);
        assert_string_equal(msg, want);
        reap(pid);

        pid = serve(script_relayed_proof);
        assert_int_equal(stepdown_connect_to(sock_path, key, &sd), -EPERM);
        reap(pid);

        pid = serve(script_no_auth);
        assert_int_equal(stepdown_connect_msg(&sd, msg, sizeof(msg)), -EPERM);
        snprintf(want, sizeof(want),
                 "the server at %s does not ask for the key this client holds (AUTH_METHOD "
                 "none), so it cannot prove it is the broker that made the key: refusing it",
                 sock_path);
        assert_string_equal(msg, want);
        reap(pid);

        /* without a key, AUTH_METHOD none is what `key none` brokers say */
        unsetenv("STEPDOWN_KEY_FD");
        pid = serve(script_ping_nokey);
        assert_int_equal(stepdown_connect_to(sock_path, NULL, &sd), 0);
        assert_int_equal(stepdown_ping(sd), 0);
        stepdown_close(sd);
        reap(pid);
        close(kfd);
        unsetenv("STEPDOWN_SOCKET");
}

/* The server's uid: root unless STEPDOWN_BROKER_UID names another.  The
 * fake broker runs as this test's uid (root here); naming another uid
 * plays a socket that uid does not own. */
static void test_server_uid(void **state)
{
        struct stepdown *sd;
        char msg[512], want[512];
        unsigned me = (unsigned)geteuid();
        (void)state;
        setenv("STEPDOWN_SOCKET", sock_path, 1);
        unsetenv("STEPDOWN_KEY_FD");
        unsetenv("STEPDOWN_KEY_FILE");
        snprintf(want, sizeof(want), "%u", me + 4242);
        setenv("STEPDOWN_BROKER_UID", want, 1);
        pid_t pid = serve(script_nothing);
        assert_int_equal(stepdown_connect_msg(&sd, msg, sizeof(msg)), -EPERM);
        snprintf(want, sizeof(want),
                 "the server at %s runs as uid %u, not as uid %u (STEPDOWN_BROKER_UID): refusing "
                 "it",
                 sock_path, me, me + 4242);
        assert_string_equal(msg, want);
        reap(pid);
        setenv("STEPDOWN_BROKER_UID", "-1", 1);
        assert_int_equal(stepdown_connect_msg(&sd, msg, sizeof(msg)), -EINVAL);
        assert_string_equal(msg, "STEPDOWN_BROKER_UID=-1: not a uid number");
        snprintf(want, sizeof(want), "%u", me);
        setenv("STEPDOWN_BROKER_UID", want, 1);
        pid = serve(script_ping_nokey);
        assert_int_equal(stepdown_connect_msg(&sd, msg, sizeof(msg)), 0);
        assert_int_equal(stepdown_ping(sd), 0);
        stepdown_close(sd);
        reap(pid);
        unsetenv("STEPDOWN_BROKER_UID");
        unsetenv("STEPDOWN_SOCKET");
}

/* The key file is the caller's own and private, and no link is followed
 * to it (issue 17.1). */
static void test_key_file_trust(void **state)
{
        struct stepdown *sd;
        char msg[512], want[1024], kpath[192], lpath[192], ldir[192], via[256];
        (void)state;
        setenv("STEPDOWN_SOCKET", sock_path, 1);
        unsetenv("STEPDOWN_KEY_FD");
        snprintf(kpath, sizeof(kpath), "%s/key32", dir);
        int fd = open(kpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, key, sizeof(key)), (ssize_t)sizeof(key));
        close(fd);
        assert_int_equal(chmod(kpath, 0600), 0);

        /* a symlink as the last component */
        snprintf(lpath, sizeof(lpath), "%s/keylink", dir);
        assert_int_equal(symlink(kpath, lpath), 0);
        setenv("STEPDOWN_KEY_FILE", lpath, 1);
        assert_int_equal(stepdown_connect_msg(&sd, msg, sizeof(msg)), -ELOOP);
        snprintf(want, sizeof(want),
                 "the key file STEPDOWN_KEY_FILE=%s: %s is a symbolic link (the key file is "
                 "opened without following links: name the file itself)",
                 lpath, lpath);
        assert_string_equal(msg, want);
        /* ... and as a directory on the way */
        snprintf(ldir, sizeof(ldir), "%s/dirlink", dir);
        assert_int_equal(symlink(dir, ldir), 0);
        snprintf(via, sizeof(via), "%s/key32", ldir);
        setenv("STEPDOWN_KEY_FILE", via, 1);
        assert_int_equal(stepdown_connect_msg(&sd, msg, sizeof(msg)), -ELOOP);
        snprintf(want, sizeof(want),
                 "the key file STEPDOWN_KEY_FILE=%s: %s is a symbolic link (the key file is "
                 "opened without following links: name the file itself)",
                 via, ldir);
        assert_string_equal(msg, want);

        /* readable by others */
        setenv("STEPDOWN_KEY_FILE", kpath, 1);
        assert_int_equal(chmod(kpath, 0644), 0);
        assert_int_equal(stepdown_connect_msg(&sd, msg, sizeof(msg)), -EPERM);
        snprintf(want, sizeof(want),
                 "the key file STEPDOWN_KEY_FILE=%s: mode 0644 gives group or other access (a "
                 "key file must be private: chmod 600)",
                 kpath);
        assert_string_equal(msg, want);
        assert_int_equal(chmod(kpath, 0600), 0);

        /* Someone else's private key file: root may use it (a health check
         * in the broker's container reading the app's key, as in the
         * compose example); test-trust.sh plays the non-root refusals. */
        if (geteuid() == 0) {
                assert_int_equal(chown(kpath, 4242, 4242), 0);
                pid_t pid = serve(script_ping);
                assert_int_equal(stepdown_connect_msg(&sd, msg, sizeof(msg)), 0);
                assert_int_equal(stepdown_ping(sd), 0);
                stepdown_close(sd);
                reap(pid);
                assert_int_equal(chown(kpath, 0, 0), 0);
        }

        /* the same file, the caller's and private: accepted */
        pid_t pid = serve(script_ping);
        assert_int_equal(stepdown_connect_msg(&sd, msg, sizeof(msg)), 0);
        assert_int_equal(stepdown_ping(sd), 0);
        stepdown_close(sd);
        reap(pid);
        unsetenv("STEPDOWN_KEY_FILE");
        unsetenv("STEPDOWN_SOCKET");
}

/* A path that is not a socket says so (issue 18.5), not "Connection
 * refused". */
static void test_not_a_socket(void **state)
{
        struct stepdown *sd;
        char msg[512], want[512], path[192];
        (void)state;
        unsetenv("STEPDOWN_KEY_FD");
        unsetenv("STEPDOWN_KEY_FILE");
        snprintf(path, sizeof(path), "%s/secret", dir);
        setenv("STEPDOWN_SOCKET", path, 1);
        assert_int_equal(stepdown_connect_msg(&sd, msg, sizeof(msg)), -ENOTSOCK);
        snprintf(want, sizeof(want),
                 "cannot connect to the broker at %s: it is a regular file, not a socket", path);
        assert_string_equal(msg, want);
        setenv("STEPDOWN_SOCKET", dir, 1);
        assert_int_equal(stepdown_connect_msg(&sd, msg, sizeof(msg)), -ENOTSOCK);
        snprintf(want, sizeof(want),
                 "cannot connect to the broker at %s: it is a directory, not a socket", dir);
        assert_string_equal(msg, want);
        unsetenv("STEPDOWN_SOCKET");
}

static int setup(void **state)
{
        (void)state;
        char path[192];
        strcpy(dir, "/tmp/test-client.XXXXXX");
        if (!mkdtemp(dir))
                return -1;
        snprintf(sock_path, sizeof(sock_path), "%s/sock", dir);
        snprintf(path, sizeof(path), "%s/secret", dir);
        FILE *f = fopen(path, "w");
        if (!f)
                return -1;
        fputs("secret", f);
        fclose(f);
        if (chmod(path, 0600) < 0)
                return -1;
        for (int i = 0; i < PROTO_KEY_BYTES; i++)
                key[i] = (uint8_t)(i * 7 + 3);
        srand(42);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_handshake_and_ping),
            cmocka_unit_test(test_wrong_key),
            cmocka_unit_test(test_no_key),
            cmocka_unit_test(test_error_mapping),
            cmocka_unit_test(test_fd_passing),
            cmocka_unit_test(test_timeout_and_hangup),
            cmocka_unit_test(test_not_a_broker),
            cmocka_unit_test(test_key_formats),
            cmocka_unit_test(test_connect_from_env),
            cmocka_unit_test(test_full_broker_retry),
            cmocka_unit_test(test_dropped_to_make_room),
            cmocka_unit_test(test_connect_messages),
            cmocka_unit_test(test_version_mismatch),
            cmocka_unit_test(test_server_must_prove_key),
            cmocka_unit_test(test_server_uid),
            cmocka_unit_test(test_key_file_trust),
            cmocka_unit_test(test_not_a_socket),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
