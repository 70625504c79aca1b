/* Transparent mode's cost (issue 20 item 6), in one interleaved run:
 *   native         mkdirat(2) of an existing directory (EEXIST), no filter;
 *   bare continue  the same call notified to a bare supervisor of our own
 *                  (a SECCOMP_FILTER_FLAG_NEW_LISTENER filter on mkdirat)
 *                  that answers SECCOMP_USER_NOTIF_FLAG_CONTINUE at once:
 *                  the floor of a continued call;
 *   bare answer    the same, the supervisor answering -EEXIST at once: the
 *                  floor of a served call, without the work;
 *   bare read      the same, the supervisor first reading the path as any
 *                  judging supervisor must (open /proc/PID/mem, pread,
 *                  close, SECCOMP_IOCTL_NOTIF_ID_VALID), then CONTINUE: for
 *                  information, what a continue costs once it is judged;
 *   engine mkdir   op_mkdir() of a new directory, called directly (what
 *                  bench-broker calls "direct");
 *   continued      the EEXIST call under `stepdownd` with `intercept mkdir`
 *                  and no rule matching it (the broker continues it);
 *   served         mkdirat(2) of a new directory an allow rule matches,
 *                  under stepdownd (the broker makes it through the engine).
 * The last two run in the app (intercept-loop, as uid 1000 through a private
 * /etc/passwd) under a fresh stepdownd each round.  Each round times N calls
 * of each kind; the figures are microseconds per call, the median over the
 * rounds.  Targets: continued <= 1.2 x bare continue, served <= 1.3 x
 * (bare answer + engine mkdir).  Everything on a tmpfs in a private mount
 * namespace.
 *
 * usage: bench-intercept STEPDOWND INTERCEPT-LOOP [N [ROUNDS]]
 * (root; N calls per kind and round, default 500; ROUNDS default 31: short
 * rounds, many of them, so that a busy machine shifts the median little) */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-client.h"
#include "fdpass.h"
#include "ops.h"

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define NATIVE_ARCH AUDIT_ARCH_I386
#endif

static char dir[32];

static double median(double *v, int n)
{
        bench_sort(v, (size_t)n);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* n calls of mkdirat(existing), each EEXIST; microseconds per call. */
static double mkdir_existing(const char *existing, long n)
{
        double t0 = bench_now_us();
        for (long i = 0; i < n; i++)
                if (mkdirat(AT_FDCWD, existing, 0700) == 0 || errno != EEXIST) {
                        fprintf(stderr, "bench-intercept: mkdirat %s: %s (wanted EEXIST)\n",
                                existing, strerror(errno));
                        _exit(1);
                }
        return (bench_now_us() - t0) / (double)n;
}

/* ---- the floor: a bare supervisor ---- */

static int install_listener(void)
{
        struct sock_filter f[] = {
#ifdef NATIVE_ARCH
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
#endif
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mkdirat, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                bench_die("no_new_privs");
        int fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                              SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
        if (fd < 0)
                bench_die("seccomp NEW_LISTENER");
        return fd;
}

static void send_fd(int sock, int fd)
{
        if (fdpass_send(sock, "", 1, fd, 0) != 1)
                bench_die("sendmsg");
}

static int recv_fd(int sock)
{
        char c;
        int fd;
        if (fdpass_recv(sock, &c, 1, 0, &fd) != 1 || fd < 0)
                bench_die("recvmsg");
        return fd;
}

enum bare_mode { BARE_CONTINUE, BARE_ANSWER, BARE_READ };

/* The path argument of the notified mkdirat, read as a supervisor must. */
static void read_path(const struct seccomp_notif *req, int lfd)
{
        char mem[64], path[4096];
        snprintf(mem, sizeof(mem), "/proc/%u/mem", req->pid);
        int fd = open(mem, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || pread(fd, path, sizeof(path), (off_t)req->data.args[1]) <= 0)
                bench_die("read the path");
        close(fd);
        if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) < 0)
                bench_die("SECCOMP_IOCTL_NOTIF_ID_VALID");
}

/* A child installs the filter and makes n EEXIST calls; we answer each:
 * CONTINUE at once, the error -EEXIST at once, or CONTINUE after reading
 * the path.  Returns the child's microseconds per call. */
static double bare(const char *existing, long n, enum bare_mode mode)
{
        int sv[2], res[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 || pipe(res) < 0)
                bench_die("socketpair");
        pid_t kid = fork();
        if (kid < 0)
                bench_die("fork");
        if (kid == 0) {
                close(sv[0]);
                close(res[0]);
                send_fd(sv[1], install_listener());
                double us = mkdir_existing(existing, n);
                if (write(res[1], &us, sizeof(us)) != sizeof(us))
                        _exit(1);
                _exit(0);
        }
        close(sv[1]);
        close(res[1]);
        int lfd = recv_fd(sv[0]);
        close(sv[0]);

        struct seccomp_notif_sizes sz;
        if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz) < 0)
                bench_die("SECCOMP_GET_NOTIF_SIZES");
        struct seccomp_notif *req = calloc(1, sz.seccomp_notif);
        struct seccomp_notif_resp *resp = calloc(1, sz.seccomp_notif_resp);
        if (!req || !resp)
                bench_die("calloc");
        for (long i = 0; i < n; i++) {
                memset(req, 0, sz.seccomp_notif);
                if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_RECV, req) < 0)
                        bench_die("SECCOMP_IOCTL_NOTIF_RECV");
                memset(resp, 0, sz.seccomp_notif_resp);
                resp->id = req->id;
                if (mode == BARE_READ)
                        read_path(req, lfd);
                if (mode == BARE_ANSWER)
                        resp->error = -EEXIST;
                else
                        resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
                if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0)
                        bench_die("SECCOMP_IOCTL_NOTIF_SEND");
        }
        double us = -1;
        if (read(res[0], &us, sizeof(us)) != sizeof(us))
                us = -1;
        int st;
        if (waitpid(kid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) || us < 0) {
                fprintf(stderr, "bench-intercept: the bare supervisor's child failed\n");
                exit(1);
        }
        close(lfd);
        close(res[0]);
        free(req);
        free(resp);
        return us;
}

/* ---- the engine's own mkdir ---- */

static double engine_mkdir(int round, long n)
{
        char anchor[128], name[64], err[256];
        snprintf(anchor, sizeof(anchor), "%s/eng", dir);
        double sum = 0;
        for (long i = 0; i < n; i++) {
                snprintf(name, sizeof(name), "e%d_%ld", round, i);
                double a = bench_now_us();
                int r = op_mkdir(anchor, name, 0700, 1000, 1000, false, err, sizeof(err));
                sum += bench_now_us() - a;
                if (r < 0) {
                        fprintf(stderr, "bench-intercept: engine: %s\n", err);
                        exit(1);
                }
        }
        return sum / (double)n;
}

/* ---- under stepdownd ---- */

/* Runs STEPDOWND -c POLICY -- LOOP ... and parses its line; 0, or -1 with
 * why in why (the broker's stderr, first line). */
static int under_stepdownd(const char *sd, const char *loop, const char *policy, int round, long n,
                           double *continued, double *served, char *why, size_t whylen)
{
        char existing[128], newdir[128], prefix[32], count[32], line[512] = "", errp[128];
        snprintf(existing, sizeof(existing), "%s/exist", dir);
        snprintf(newdir, sizeof(newdir), "%s/data", dir);
        snprintf(prefix, sizeof(prefix), "s%d_", round);
        snprintf(count, sizeof(count), "%ld", n);
        snprintf(errp, sizeof(errp), "%s/stderr", dir);
        int out[2];
        if (pipe(out) < 0)
                bench_die("pipe");
        pid_t kid = fork();
        if (kid == 0) {
                int efd = open(errp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (efd < 0 || dup2(out[1], 1) < 0 || dup2(efd, 2) < 0)
                        _exit(127);
                execl(sd, "stepdownd", "-c", policy, "--", loop, existing, newdir, prefix, count,
                      (char *)NULL);
                _exit(127);
        }
        close(out[1]);
        ssize_t got = 0, r;
        while ((r = read(out[0], line + got, sizeof(line) - 1 - (size_t)got)) > 0)
                got += r;
        line[got] = '\0';
        close(out[0]);
        int st;
        waitpid(kid, &st, 0);
        char mode[16] = "", filters[16] = "", served_s[64] = "";
        if (!WIFEXITED(st) || WEXITSTATUS(st) ||
            sscanf(line, "seccomp=%15s filters=%15s continued=%lf served=%63[^\n]", mode, filters,
                   continued, served_s) != 4) {
                FILE *f = fopen(errp, "re");
                snprintf(why, whylen, "stepdownd exited %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
                if (f && fgets(line, sizeof(line), f)) {
                        line[strcspn(line, "\n")] = '\0';
                        snprintf(why, whylen, "%s", line);
                }
                if (f)
                        fclose(f);
                return -1;
        }
        if (strcmp(mode, "2") != 0 || atoi(filters) < 1) {
                snprintf(why, whylen, "the app ran without a seccomp filter (Seccomp: %s)", mode);
                return -1;
        }
        *served = -1;
        if (sscanf(served_s, "%lf", served) != 1)
                snprintf(why, whylen, "the served call failed: %s", served_s);
        return 0;
}

static const char *met(double ratio, double target)
{
        return ratio <= target ? "met" : "NOT met";
}

int main(int argc, char **argv)
{
        char path[256], text[1024], why[512] = "";

        if (argc < 3) {
                fprintf(stderr, "usage: bench-intercept STEPDOWND INTERCEPT-LOOP [N [ROUNDS]]\n");
                return 2;
        }
        if (geteuid() != 0) {
                printf("bench-intercept: needs root; skipped\n");
                return 77;
        }
        long n = argc > 3 ? strtol(argv[3], NULL, 10) : 500;
        int rounds = argc > 4 ? atoi(argv[4]) : 31;
        if (n < 100)
                n = 100;
        if (rounds < 1 || rounds > 99)
                rounds = 31;
        setvbuf(stdout, NULL, _IOLBF, 0);

        /* tmpfs in a private mount namespace; the app is uid 1000 "app"
         * through private /etc/passwd and /etc/group (the host's stay). */
        bench_tmpfs(dir, sizeof(dir), "sd-bench", "mode=0755,size=64m,nr_inodes=200000");
        const char *mk[] = {"data", "eng", "exist", "run"};
        for (size_t i = 0; i < sizeof(mk) / sizeof(mk[0]); i++) {
                snprintf(path, sizeof(path), "%s/%s", dir, mk[i]);
                if (mkdir(path, 0755) < 0)
                        bench_die(path);
        }
        snprintf(path, sizeof(path), "%s/passwd", dir);
        bench_write_file(path, "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:App:/:/bin/sh\n",
                         0644);
        if (mount(path, "/etc/passwd", NULL, MS_BIND, NULL) < 0)
                bench_die("bind /etc/passwd");
        snprintf(path, sizeof(path), "%s/group", dir);
        bench_write_file(path, "root:x:0:\napp:x:1000:\n", 0644);
        if (mount(path, "/etc/group", NULL, MS_BIND, NULL) < 0)
                bench_die("bind /etc/group");
        snprintf(text, sizeof(text),
                 "user app\nsocket %s/run/sd.sock\nintercept mkdir\n"
                 "allow app mkdir %s/data/* mode=0700\n",
                 dir, dir);
        char policy[128];
        snprintf(policy, sizeof(policy), "%s/pol.conf", dir);
        bench_write_file(policy, text, 0644);
        char existing[128];
        snprintf(existing, sizeof(existing), "%s/exist", dir);

        double nat[99], bc[99], ba[99], br[99], eng[99], cont[99], serv[99];
        bool with_sd = true, with_served = true;
        printf("bench-intercept: %ld calls per kind and round, %d rounds, interleaved\n", n,
               rounds);
        for (int r = 0; r < rounds; r++) {
                nat[r] = mkdir_existing(existing, n);
                bc[r] = bare(existing, n, BARE_CONTINUE);
                ba[r] = bare(existing, n, BARE_ANSWER);
                br[r] = bare(existing, n, BARE_READ);
                eng[r] = engine_mkdir(r, n);
                if (with_sd && under_stepdownd(argv[1], argv[2], policy, r, n, &cont[r], &serv[r],
                                               why, sizeof(why)) < 0) {
                        with_sd = false;
                        printf("bench-intercept: under stepdownd: %s; the stepdownd figures are "
                               "left out\n",
                               why);
                }
                if (with_sd && with_served && serv[r] < 0) {
                        with_served = false;
                        printf("bench-intercept: under stepdownd: %s; the served figure is left "
                               "out\n",
                               why);
                }
        }

        double m_nat = median(nat, rounds), m_bc = median(bc, rounds), m_ba = median(ba, rounds),
               m_br = median(br, rounds), m_eng = median(eng, rounds);
        printf("  %-44s %8.2f us/call\n", "native mkdirat (EEXIST)", m_nat);
        printf("  %-44s %8.2f us/call\n", "bare supervisor, CONTINUE at once", m_bc);
        printf("  %-44s %8.2f us/call\n", "bare supervisor, answered -EEXIST at once", m_ba);
        printf("  %-44s %8.2f us/call\n", "bare supervisor, reads the path, CONTINUE", m_br);
        printf("  %-44s %8.2f us/call\n", "engine op_mkdir, direct", m_eng);
        if (with_sd) {
                double m_c = median(cont, rounds), rc = m_c / m_bc, m_s = 0, rs = 0;
                printf("  %-44s %8.2f us/call\n", "stepdownd: continued (no rule, EEXIST)", m_c);
                if (with_served) {
                        m_s = median(serv, rounds), rs = m_s / (m_ba + m_eng);
                        printf("  %-44s %8.2f us/call\n", "stepdownd: served (mkdir by a rule)",
                               m_s);
                }
                printf("continued / bare continue          = %.2f (target <= 1.2: %s)\n", rc,
                       met(rc, 1.2));
                if (with_served)
                        printf("served / (bare answer + engine)    = %.2f (target <= 1.3: %s)\n",
                               rs, met(rs, 1.3));
                printf("continued / bare read (information) = %.2f\n", m_c / m_br);
        }
        printf("bare continue / native             = %.1f\n", m_bc / m_nat);
        umount2(dir, MNT_DETACH);
        rmdir(dir);
        return 0;
}
