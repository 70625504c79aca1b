/* What the audit log costs the broker (issue 5 item 6): chmod requests per
 * second, one client, through the broker's own loop (broker_new from
 * daemon/, the code `stepdownd --serve` runs, without its capability drop
 * and seccomp filter), with
 *
 *   off      no audit log
 *   records  records written, no hash chain (audit_config.no_chain,
 *            benchmarks only: measures what the chain itself costs)
 *   chain    the default: records with the BLAKE2b chain
 *   sign     chain + Ed25519 signature on every record
 *   fsync    chain + fsync after every record (audit-sync always)
 *   chain-1rec, sign-1rec
 *            chain (+ sign) with one record per request, as before issue
 *            12: the intent record written before each allowed operation
 *            is left out (audit_config.no_intent, benchmarks only), so
 *            the same run says what intent records cost
 *
 * each with its log on a tmpfs and on the disk (/var/tmp).  All ten brokers
 * run at once; the client visits them in turn, ROUNDS times, N/ROUNDS
 * requests a visit, so drift (other load, CPU frequency) hits every
 * variant alike; each variant's rate is that of its median visit.  Prints
 * requests/s and the chain's cost against plain
 * records (target: under 10%).
 *
 * usage: bench-broker-audit [N] [DISKDIR]   (default 10000 requests per
 * variant, /var/tmp; root, for the tmpfs in a private mount namespace) */
#include <errno.h>
#include <event2/event.h>
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

#include "audit.h"
#include "broker.h"
#include "policy.h"
#include "proto.h"
#include "userdb.h"

#define ROUNDS 20

struct variant {
        const char *name;
        bool audit, no_chain, sign, sync, no_intent;
        bool disk;
        pid_t pid;
        char sock[108];
        double us[ROUNDS]; /* client wall time of each visit */
        size_t done;       /* requests per visit */
};

static struct variant variants[] = {
    {"off", false, false, false, false, false, false, 0, "", {0}, 0},
    {"records", true, true, false, false, false, false, 0, "", {0}, 0},
    {"chain", true, false, false, false, false, false, 0, "", {0}, 0},
    {"chain+sign", true, false, true, false, false, false, 0, "", {0}, 0},
    {"chain+fsync", true, false, false, true, false, false, 0, "", {0}, 0},
    {"chain-1rec", true, false, false, false, true, false, 0, "", {0}, 0},
    {"sign-1rec", true, false, true, false, true, false, 0, "", {0}, 0},
    {"off", false, false, false, false, false, true, 0, "", {0}, 0},
    {"records", true, true, false, false, false, true, 0, "", {0}, 0},
    {"chain", true, false, false, false, false, true, 0, "", {0}, 0},
    {"chain+sign", true, false, true, false, false, true, 0, "", {0}, 0},
    {"chain+fsync", true, false, false, true, false, true, 0, "", {0}, 0},
    {"chain-1rec", true, false, false, false, true, true, 0, "", {0}, 0},
    {"sign-1rec", true, false, true, false, true, true, 0, "", {0}, 0},
};
#define N_VARIANTS (sizeof(variants) / sizeof(variants[0]))

static char tmpdir[64], diskdir[256], key_path[128], file_path[128];

static double now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void die(const char *what)
{
        perror(what);
        exit(1);
}

static void dief(const char *what, const char *err)
{
        fprintf(stderr, "bench-broker-audit: %s: %s\n", what, err);
        exit(1);
}

/* The broker for v, in this (child) process; never returns. */
static _Noreturn void serve(struct variant *v, const struct policy *p)
{
        char err[512], log[512];
        struct audit *a = NULL;
        struct broker *b = NULL;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};

        if (v->audit) {
                snprintf(log, sizeof(log), "%s/%s.jsonl", v->disk ? diskdir : tmpdir, v->name);
                struct audit_config cfg = {
                    .path = log,
                    .sign_key_file = v->sign ? key_path : NULL,
                    .sync_always = v->sync,
                    .no_chain = v->no_chain,
                    .no_intent = v->no_intent,
                };
                if (audit_open(&a, &cfg, NULL, err, sizeof(err)) < 0)
                        dief("audit_open", err);
        }
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", v->sock);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0)
                die("listen");
        struct broker_config bc = {.policy = p, .audit = a, .key = NULL};
        struct event_base *base = event_base_new();
        if (!base || broker_new(base, fd, &bc, &b) < 0)
                dief("broker", "cannot start");
        event_base_dispatch(base);
        _exit(0);
}

static int client_connect(const char *sock)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        uint8_t buf[PROTO_MAX_MSG];
        struct proto_msg m;
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                die("connect");
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0 || proto_decode(buf, (size_t)n, &m) < 0 || m.type != PROTO_HELLO)
                dief("hello", "no HELLO from the broker");
        return fd;
}

/* n chmods on one connection; returns the wall time in µs. */
static double visit(struct variant *v, size_t n)
{
        uint8_t req[2][PROTO_MAX_MSG], buf[PROTO_MAX_MSG];
        size_t len[2];
        struct proto_msg m;
        int fd = client_connect(v->sock);

        len[0] = (size_t)proto_encode_chmod(req[0], sizeof(req[0]), 2, file_path, 0600);
        len[1] = (size_t)proto_encode_chmod(req[1], sizeof(req[1]), 3, file_path, 0640);
        double t0 = now_us();
        for (size_t i = 0; i < n; i++) {
                ssize_t r;
                if (send(fd, req[i & 1], len[i & 1], 0) < 0 ||
                    (r = recv(fd, buf, sizeof(buf), 0)) <= 0 ||
                    proto_decode(buf, (size_t)r, &m) < 0)
                        die("request");
                if (m.type != PROTO_OK) {
                        fprintf(stderr, "bench-broker-audit: %s: the broker said: %.*s\n", v->name,
                                (int)m.message_len, m.message);
                        exit(1);
                }
        }
        double t = now_us() - t0;
        close(fd);
        return t;
}

static int cmp(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

/* The median visit's rate: one visit slowed by other load on the machine
 * does not move it. */
static double rps(const struct variant *v)
{
        double us[ROUNDS];
        memcpy(us, v->us, sizeof(us));
        qsort(us, ROUNDS, sizeof(double), cmp);
        return (double)v->done / (us[ROUNDS / 2] / 1e6);
}

static void cleanup(void)
{
        char cmd[600];
        for (size_t i = 0; i < N_VARIANTS; i++)
                if (variants[i].pid > 0) {
                        kill(variants[i].pid, SIGKILL);
                        waitpid(variants[i].pid, NULL, 0);
                }
        umount2(tmpdir, MNT_DETACH);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", tmpdir, diskdir);
        if (system(cmd) != 0)
                fprintf(stderr, "bench-broker-audit: could not remove %s, %s\n", tmpdir, diskdir);
}

int main(int argc, char **argv)
{
        char err[512], text[512], pub[160];
        size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
        const char *disk_base = argc > 2 ? argv[2] : "/var/tmp";

        if (geteuid() != 0) {
                printf("bench-broker-audit: needs root; skipped\n");
                return 77;
        }
        if (n < ROUNDS * 10)
                n = ROUNDS * 10;
        n -= n % ROUNDS;
        if (sodium_init() < 0)
                die("sodium_init");
        setvbuf(stdout, NULL, _IOLBF, 0);
        signal(SIGPIPE, SIG_IGN);

        snprintf(tmpdir, sizeof(tmpdir), "/tmp/sd-bench-audit.XXXXXX");
        snprintf(diskdir, sizeof(diskdir), "%s/sd-bench-audit.XXXXXX", disk_base);
        if (!mkdtemp(tmpdir) || !mkdtemp(diskdir))
                die("mkdtemp");
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("tmpfs", tmpdir, "tmpfs", 0, "mode=0700,size=64m") < 0)
                die("tmpfs");
        atexit(cleanup);
        snprintf(key_path, sizeof(key_path), "%s/audit.key", tmpdir);
        snprintf(pub, sizeof(pub), "%s/audit.pub", tmpdir);
        if (audit_keygen(key_path, pub, err, sizeof(err)) < 0)
                dief("keygen", err);
        snprintf(text, sizeof(text), "%s/data", tmpdir);
        if (mkdir(text, 0755) < 0)
                die("mkdir data");
        snprintf(file_path, sizeof(file_path), "%s/data/f", tmpdir);
        int ffd = open(file_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (ffd < 0)
                die("data file");
        close(ffd);

        struct userdb db = {0};
        struct policy p = {0};
        if (userdb_load(&db, "/etc/passwd", "/etc/group") < 0)
                die("userdb");
        snprintf(text, sizeof(text), "key none\nallow root chmod %s/data/* mode=0600,0640\n",
                 tmpdir);
        if (policy_parse(&p, "bench", text, strlen(text), &db, err, sizeof(err)) < 0)
                dief("policy", err);

        for (size_t i = 0; i < N_VARIANTS; i++) {
                struct variant *v = &variants[i];
                snprintf(v->sock, sizeof(v->sock), "%s/%zu.sock", tmpdir, i);
                if ((v->pid = fork()) < 0)
                        die("fork");
                if (v->pid == 0)
                        serve(v, &p);
        }
        for (size_t i = 0; i < N_VARIANTS; i++) {
                for (int t = 0; t < 200 && access(variants[i].sock, F_OK) < 0; t++)
                        usleep(10000);
                visit(&variants[i], 50); /* warm up: the log exists, pages are in */
        }

        printf("bench-broker-audit: chmod through the broker, 1 client, %zu requests per "
               "variant in %d interleaved rounds; logs on tmpfs and in %s\n",
               n, ROUNDS, disk_base);
        for (int round = 0; round < ROUNDS; round++)
                for (size_t i = 0; i < N_VARIANTS; i++) {
                        variants[i].us[round] = visit(&variants[i], n / ROUNDS);
                        variants[i].done = n / ROUNDS;
                }

        printf("  %-12s %14s %14s %14s %14s\n", "audit", "tmpfs req/s", "us/req", "disk req/s",
               "us/req");
        for (size_t i = 0; i < N_VARIANTS / 2; i++) {
                const struct variant *t = &variants[i], *d = &variants[i + N_VARIANTS / 2];
                printf("  %-12s %14.0f %14.1f %14.0f %14.1f\n", t->name, rps(t), 1e6 / rps(t),
                       rps(d), 1e6 / rps(d));
        }
        for (size_t base = 0; base < N_VARIANTS; base += N_VARIANTS / 2) {
                const struct variant *off = &variants[base], *rec = &variants[base + 1],
                                     *chain = &variants[base + 2];
                double cost = (1 - rps(chain) / rps(rec)) * 100;
                printf("  %s: records cost %.1f%% of throughput against no audit; the chain "
                       "costs %.1f%% against plain records (target < 10%%)  %s\n",
                       off->disk ? "disk " : "tmpfs", (1 - rps(rec) / rps(off)) * 100, cost,
                       cost < 10 ? "met" : "MISSED");
                const struct variant *sign = &variants[base + 3], *c1 = &variants[base + 5],
                                     *s1 = &variants[base + 6];
                printf("  %s: intent records (two records per allowed request) cost %.1f%% with "
                       "the chain, %.1f%% with signing, against one record per request\n",
                       off->disk ? "disk " : "tmpfs", (1 - rps(chain) / rps(c1)) * 100,
                       (1 - rps(sign) / rps(s1)) * 100);
        }
        policy_free(&p);
        userdb_free(&db);
        return 0;
}
