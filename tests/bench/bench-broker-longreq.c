/* A long request against the others (issue 21 item 3): client B's chmod
 * latency (p99) through `stepdownd --serve` while client A's recursive
 * chown of a 100,000-entry tree runs, against B's p99 on an idle broker.
 * Target: busy p99 / idle p99 <= 2.
 *
 * A flips the tree between two owners, request after request, so every
 * walk changes every entry.  B sends chmods (two modes in turn) of a file
 * outside the tree for as long as A has finished fewer than WALKS walks
 * since B began, or MIN_SAMPLES of them on an idle broker.  Given OLD_STEPDOWND (e.g. built from
 * main), both brokers run side by side on their own sockets and the rounds alternate (new idle, new
 * busy, old idle, old busy, ROUNDS times), so that the figures of the code before are taken in the
 * same run.  Everything is on a tmpfs in a private mount namespace.
 *
 * usage: bench-broker-longreq STEPDOWND [OLD_STEPDOWND [ENTRIES]]
 * (root; ENTRIES default 100000) */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-client.h"
#include "proto.h"

#define ROUNDS      3
#define WALKS       2    /* A's walks B waits through, busy */
#define MIN_SAMPLES 5000 /* B's requests on an idle broker */
#define MAX_SAMPLES 400000
#define PER_DIR     1000

static char dir[32];
static uint8_t key[PROTO_KEY_BYTES];

static double pct(double *v, size_t n, double q)
{
        bench_sort(v, n);
        size_t i = (size_t)((double)n * q);
        return v[i < n ? i : n - 1];
}

/* DIR/tree: entries in all (the tree's root not counted), PER_DIR a
 * directory. */
static void make_tree(unsigned long entries)
{
        char p[256];
        snprintf(p, sizeof(p), "%s/tree", dir);
        if (mkdir(p, 0755) < 0)
                bench_die(p);
        unsigned long made = 0;
        for (unsigned d = 0; made < entries; d++) {
                snprintf(p, sizeof(p), "%s/tree/d%u", dir, d);
                if (mkdir(p, 0755) < 0)
                        bench_die(p);
                made++;
                for (unsigned f = 0; f + 1 < PER_DIR && made < entries; f++, made++) {
                        snprintf(p, sizeof(p), "%s/tree/d%u/f%u", dir, d, f);
                        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                        if (fd < 0)
                                bench_die(p);
                        close(fd);
                }
        }
}

struct broker {
        const char *label;
        char sock[100], file[100];
        pid_t pid;
        /* B's latencies, idle and busy, over all rounds; A's walk times */
        double *idle, *busy, walk[64];
        size_t n_idle, n_busy, n_walk;
};

static void broker_start(struct broker *b, const char *label, const char *bin, const char *tag)
{
        char rules[512];
        b->label = label;
        snprintf(b->file, sizeof(b->file), "%s/f-%s", dir, tag);
        bench_write_file(b->file, "", 0600);
        snprintf(rules, sizeof(rules),
                 "allow root chown %s/tree owner=1000:1000,1001:1001 recursive\n"
                 "allow root chmod %s mode=0600,0640\n",
                 dir, b->file);
        b->pid = bench_serve(bin, NULL, dir, tag, key, rules, b->sock, sizeof(b->sock));
        if (b->pid < 0) {
                fprintf(stderr, "bench-broker-longreq: %s did not start\n", label);
                exit(1);
        }
        b->idle = malloc(MAX_SAMPLES * ROUNDS * sizeof(double));
        b->busy = malloc(MAX_SAMPLES * ROUNDS * sizeof(double));
        if (!b->idle || !b->busy)
                bench_die("malloc");
}

/* What A and B share: A's finished walks, and when to stop. */
struct shared {
        volatile unsigned long walks;
        volatile double walk_us[64];
        volatile int stop;
};

/* Client A: recursive chowns of the tree, owners in turn, until told. */
static void client_a(struct broker *b, struct shared *sh)
{
        char path[128], msg[512];
        uint8_t req[2][PROTO_MAX_MSG];
        size_t len[2];
        snprintf(path, sizeof(path), "%s/tree", dir);
        for (int i = 0; i < 2; i++)
                len[i] = (size_t)proto_encode_chown(req[i], sizeof(req[i]), 2, path, 1000 + i,
                                                    1000 + i, PROTO_CHOWN_RECURSIVE);
        int fd = bench_connect(b->sock, key);
        for (unsigned long i = 0; !sh->stop; i++) {
                double t0 = bench_now_us();
                if (bench_request(fd, req[i & 1], len[i & 1], msg, sizeof(msg)) != 0) {
                        fprintf(stderr, "bench-broker-longreq: chown -R: %s\n", msg);
                        _exit(1);
                }
                if (sh->walks < 64)
                        sh->walk_us[sh->walks] = bench_now_us() - t0;
                __atomic_add_fetch(&sh->walks, 1, __ATOMIC_SEQ_CST);
        }
        _exit(0);
}

/* Client B: chmods, each timed, into lat: MIN_SAMPLES on an idle broker;
 * beside A, until A finished WALKS more walks (a broker that serves
 * nothing else during a walk gives B about one request a walk). */
static size_t client_b(struct broker *b, struct shared *sh, double *lat)
{
        uint8_t req[2][PROTO_MAX_MSG];
        size_t len[2], n = 0;
        char msg[512];
        len[0] = (size_t)proto_encode_chmod(req[0], sizeof(req[0]), 2, b->file, 0600);
        len[1] = (size_t)proto_encode_chmod(req[1], sizeof(req[1]), 3, b->file, 0640);
        int fd = bench_connect(b->sock, key);
        unsigned long w0 = sh ? sh->walks : 0;
        while (n < MAX_SAMPLES && (sh ? sh->walks < w0 + WALKS : n < MIN_SAMPLES)) {
                double t0 = bench_now_us();
                if (bench_request(fd, req[n & 1], len[n & 1], msg, sizeof(msg)) != 0) {
                        fprintf(stderr, "bench-broker-longreq: chmod: %s\n", msg);
                        exit(1);
                }
                lat[n++] = bench_now_us() - t0;
        }
        close(fd);
        return n;
}

static void round_idle(struct broker *b)
{
        b->n_idle += client_b(b, NULL, b->idle + b->n_idle);
}

static void round_busy(struct broker *b, struct shared *sh)
{
        memset((void *)sh, 0, sizeof(*sh));
        pid_t a = fork();
        if (a == 0)
                client_a(b, sh);
        /* B begins once A's first walk is under way */
        usleep(20000);
        b->n_busy += client_b(b, sh, b->busy + b->n_busy);
        sh->stop = 1;
        int st;
        if (waitpid(a, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
                exit(1);
        for (unsigned long i = 0; i < sh->walks && i < 64 && b->n_walk < 64; i++)
                b->walk[b->n_walk++] = sh->walk_us[i];
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fprintf(stderr,
                        "usage: bench-broker-longreq STEPDOWND [OLD_STEPDOWND [ENTRIES]]\n");
                return 2;
        }
        if (geteuid() != 0) {
                printf("bench-broker-longreq: needs root; skipped\n");
                return 77;
        }
        unsigned long entries = argc > 3 ? strtoul(argv[3], NULL, 10) : 100000;
        if (sodium_init() < 0)
                bench_die("sodium_init");
        setvbuf(stdout, NULL, _IOLBF, 0);
        bench_tmpfs(dir, sizeof(dir), "sd-longreq", "mode=0755,size=256m,nr_inodes=400000");
        crypto_auth_keygen(key);
        double t0 = bench_now_us();
        make_tree(entries);
        printf("bench-broker-longreq: a tree of %lu entries made in %.1f s\n", entries,
               (bench_now_us() - t0) / 1e6);

        struct broker br[2] = {0};
        int k = 0;
        broker_start(&br[k++], "this broker", argv[1], "new");
        if (argc > 2 && argv[2][0])
                broker_start(&br[k++], "the old broker", argv[2], "old");
        struct shared *sh =
            mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (sh == MAP_FAILED)
                bench_die("mmap");
        for (int r = 0; r < ROUNDS; r++)
                for (int i = 0; i < k; i++) {
                        round_idle(&br[i]);
                        round_busy(&br[i], sh);
                }
        double ratio[2];
        for (int i = 0; i < k; i++) {
                kill(br[i].pid, SIGTERM);
                waitpid(br[i].pid, NULL, 0);
                double ip50 = pct(br[i].idle, br[i].n_idle, 0.5),
                       ip99 = pct(br[i].idle, br[i].n_idle, 0.99);
                double bp50 = pct(br[i].busy, br[i].n_busy, 0.5),
                       bp99 = pct(br[i].busy, br[i].n_busy, 0.99);
                double wp50 = pct(br[i].walk, br[i].n_walk, 0.5);
                ratio[i] = bp99 / ip99;
                printf("%s:\n", br[i].label);
                printf("  chmod, idle broker        %7zu requests  p50 %9.1f us  p99 %9.1f us\n",
                       br[i].n_idle, ip50, ip99);
                printf("  chmod, beside chown -R    %7zu requests  p50 %9.1f us  p99 %9.1f us\n",
                       br[i].n_busy, bp50, bp99);
                printf("  chown -R of %lu entries   %7zu walks     p50 %9.1f ms\n", entries,
                       br[i].n_walk, wp50 / 1e3);
                free(br[i].idle);
                free(br[i].busy);
        }
        printf("targets:\n");
        printf("  chmod p99 beside a %lu-entry chown -R / idle p99 = %.2f   (target <= 2)  %s\n",
               entries, ratio[0], ratio[0] <= 2 ? "met" : "NOT met");
        if (k > 1)
                printf("  the same, code before (old broker) = %.2f   (target <= 2)  %s\n",
                       ratio[1], ratio[1] <= 2 ? "met" : "NOT met");
        umount2(dir, MNT_DETACH);
        rmdir(dir);
        return 0;
}
