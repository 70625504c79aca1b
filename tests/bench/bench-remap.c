/* remap benchmark (issue 14): the image user's home of ~100,000 entries
 * moved from 1000:1000 to 4242:4242 by
 *   stepdownd's remap   (stepdownd -c POLICY --no-broker -- /bin/true)
 *   an entrypoint        (usermod -u; groupmod -g; chown -R -- what the
 *                         hand-written USER_ID/GROUP_ID entrypoints do)
 * at a first start and at a restart (ids already right), plus the restart
 * on a read-only root (stepdownd binds the files again and walks the home,
 * already right), and the engine alone: an already-right remap walk
 * (op_chown_from) against an already-right `setup chown` walk (op_chown).
 * Everything happens in a private mount namespace: a tmpfs holds the home
 * and a copy of /etc that is bind-mounted over /etc.  Prints medians.
 *
 * usage: bench-remap STEPDOWND [ENTRIES [ROUNDS]]  (defaults 100000, 5; root) */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ops.h"

#define FILES_PER_DIR 80
#define LINKS_PER_DIR 19
#define SUBDIRS       10

static char W[64];
static const char *stepdownd;

static double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
        perror(what);
        exit(1);
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
        char cmd[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        if (system(cmd) != 0) {
                fprintf(stderr, "bench-remap: failed: %s\n", cmd);
                exit(1);
        }
}

static void write_file(const char *path, const char *text, mode_t mode)
{
        FILE *f = fopen(path, "w");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                die(path);
        chmod(path, mode);
}

/* home/dN/sM/{f*,l*}, all 1000:1000: returns the number of entries. */
static long make_home(const char *home, long want)
{
        long n = 1; /* home itself */
        char p[256];
        if (mkdir(home, 0755) < 0)
                die(home);
        for (int d = 0; n < want; d++) {
                snprintf(p, sizeof(p), "%s/d%d", home, d);
                if (mkdir(p, 0755) < 0)
                        die(p);
                n++;
                for (int s = 0; s < SUBDIRS && n < want; s++) {
                        snprintf(p, sizeof(p), "%s/d%d/s%d", home, d, s);
                        if (mkdir(p, 0755) < 0)
                                die(p);
                        n++;
                        int dfd = open(p, O_RDONLY | O_DIRECTORY);
                        if (dfd < 0)
                                die(p);
                        for (int i = 0; i < FILES_PER_DIR && n < want; i++, n++) {
                                char name[16];
                                snprintf(name, sizeof(name), "f%d", i);
                                if (mknodat(dfd, name, S_IFREG | 0644, 0) < 0)
                                        die("mknodat");
                        }
                        for (int i = 0; i < LINKS_PER_DIR && n < want; i++, n++) {
                                char name[16];
                                snprintf(name, sizeof(name), "l%d", i);
                                if (symlinkat(i % 2 ? "f0" : "/etc/passwd", dfd, name) < 0)
                                        die("symlinkat");
                        }
                        close(dfd);
                }
        }
        sh("chown -hR 1000:1000 %s", home);
        return n;
}

/* The image as shipped: app is 1000:1000. */
static void reset_db(void)
{
        char p[128], text[512];
        snprintf(p, sizeof(p), "%s/etc/passwd", W);
        snprintf(text, sizeof(text),
                 "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::%s/home:/bin/sh\n", W);
        write_file(p, text, 0644);
        snprintf(p, sizeof(p), "%s/etc/group", W);
        write_file(p, "root:x:0:\napp:x:1000:\n", 0644);
        snprintf(p, sizeof(p), "%s/etc/shadow", W);
        write_file(p, "root:*:19000:0:99999:7:::\napp:!:19000:0:99999:7:::\n", 0640);
        snprintf(p, sizeof(p), "%s/etc/gshadow", W);
        write_file(p, "root:*::\napp:!::\n", 0640);
}

static void reset_home(void)
{
        sh("chown -hR 1000:1000 %s/home", W);
}

/* Runs argv (as a child), optionally in a new mount namespace with /etc
 * read-only; returns the seconds it took. */
static double timed(char *const argv[], bool ro)
{
        double t0 = now();
        pid_t pid = fork();
        if (pid < 0)
                die("fork");
        if (pid == 0) {
                if (ro && (unshare(CLONE_NEWNS) < 0 ||
                           mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
                           mount(NULL, "/etc", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0))
                        _exit(100);
                int null = open("/dev/null", O_WRONLY);
                dup2(null, 1);
                execv(argv[0], argv);
                _exit(127);
        }
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                fprintf(stderr, "bench-remap: %s failed (status %d)\n", argv[0], st);
                exit(1);
        }
        return now() - t0;
}

static void check_owner(const char *what, uid_t uid)
{
        char p[128];
        struct stat st;
        snprintf(p, sizeof(p), "%s/home/d0/s0/f1", W);
        if (lstat(p, &st) < 0 || st.st_uid != uid) {
                fprintf(stderr, "bench-remap: after %s, %s is owned by %u, not %u\n", what, p,
                        (unsigned)st.st_uid, (unsigned)uid);
                exit(1);
        }
}

static int cmp(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
        qsort(v, (size_t)n, sizeof(*v), cmp);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void report(const char *what, double *v, int n)
{
        printf("  %-58s %8.1f ms\n", what, median(v, n) * 1e3);
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fprintf(stderr, "usage: bench-remap STEPDOWND [ENTRIES [ROUNDS]]\n");
                return 2;
        }
        stepdownd = argv[1];
        long want = argc > 2 ? atol(argv[2]) : 100000;
        int rounds = argc > 3 ? atoi(argv[3]) : 5;
        if (rounds < 1 || rounds > 100 || want < 100) {
                fprintf(stderr, "bench-remap: bad arguments\n");
                return 2;
        }
        if (geteuid() != 0 || access("/usr/sbin/usermod", X_OK) < 0) {
                printf("bench-remap: SKIP (needs root and usermod)\n");
                return 0;
        }
        /* usermod refuses while any process runs as the user's uid, so the
         * bench runs in its own pid namespace with its own /proc. */
        if (unshare(CLONE_NEWNS | CLONE_NEWPID) < 0)
                die("unshare");
        pid_t child = fork();
        if (child < 0)
                die("fork");
        if (child > 0) {
                int st;
                if (waitpid(child, &st, 0) != child)
                        die("waitpid");
                return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
        }
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                die("private mount namespace and /proc");
        strcpy(W, "/tmp/bench-remap.XXXXXX");
        if (!mkdtemp(W))
                die("mkdtemp");
        if (mount("tmpfs", W, "tmpfs", 0, "mode=0755") < 0)
                die("tmpfs");
        sh("cp -a /etc %s/etc", W);
        reset_db();
        char etc[96];
        snprintf(etc, sizeof(etc), "%s/etc", W);
        if (mount(etc, "/etc", NULL, MS_BIND, NULL) < 0)
                die("bind /etc");
        char home[96], conf[96];
        snprintf(home, sizeof(home), "%s/home", W);
        snprintf(conf, sizeof(conf), "%s/stepdown.conf", W);
        write_file(conf, "user app\nremap app uid=4242 gid=4242\n", 0644);
        long n = make_home(home, want);
        printf("bench-remap: home of %ld entries (%d files and %d symlinks per directory) on "
               "tmpfs, 1000:1000 -> 4242:4242, median of %d rounds\n",
               n, FILES_PER_DIR, LINKS_PER_DIR, rounds);

        char *sd[] = {(char *)stepdownd, "-c", conf, "--no-broker", "--", "/bin/true", NULL};
        char script[512];
        snprintf(script, sizeof(script),
                 "usermod -u 4242 app && groupmod -g 4242 app && chown -R 4242:4242 %s", home);
        char *ep[] = {"/bin/sh", "-c", script, NULL};
        double first_sd[100], first_ep[100], again_sd[100], again_ep[100], ro_sd[100];
        double walk_chown[100], walk_from[100];

        for (int r = 0; r < rounds; r++) {
                reset_db();
                reset_home();
                first_sd[r] = timed(sd, false);
                check_owner("stepdownd", 4242);
                again_sd[r] = timed(sd, false);

                reset_db();
                reset_home();
                first_ep[r] = timed(ep, false);
                check_owner("usermod + chown -R", 4242);
                again_ep[r] = timed(ep, false);

                /* Read-only root: the image's files say 1000 again at every
                 * start; the home is already 4242's. */
                reset_db();
                ro_sd[r] = timed(sd, true);
                check_owner("stepdownd (read-only root)", 4242);

                /* The engine alone, the tree already right. */
                char err[512];
                struct op_stats st = {0};
                struct op_chown_from from = {.uid = 1000, .gid = 1000};
                double t0 = now();
                if (op_chown(home, "", 4242, 4242, true, false, true, &st, err, sizeof(err)) < 0)
                        fprintf(stderr, "op_chown: %s\n", err), exit(1);
                walk_chown[r] = now() - t0;
                t0 = now();
                if (op_chown_from(home, "", 4242, 4242, &from, true, false, true, &st, err,
                                  sizeof(err)) < 0)
                        fprintf(stderr, "op_chown_from: %s\n", err), exit(1);
                walk_from[r] = now() - t0;
                if (st.changed != 0)
                        fprintf(stderr, "bench-remap: already-right walk changed %llu\n",
                                (unsigned long long)st.changed),
                            exit(1);
        }
        printf("first start (home 1000:1000):\n");
        report("stepdownd remap", first_sd, rounds);
        report("usermod -u + groupmod -g + chown -R", first_ep, rounds);
        printf("restart (ids already right):\n");
        report("stepdownd remap (writable root: check only)", again_sd, rounds);
        report("usermod -u + groupmod -g + chown -R", again_ep, rounds);
        report("stepdownd remap (read-only root: bind again, walk)", ro_sd, rounds);
        printf("engine, already-right home:\n");
        report("setup chown walk (op_chown)", walk_chown, rounds);
        report("remap walk (op_chown_from)", walk_from, rounds);
        printf("ratio first start stepdownd/entrypoint: %.2f; restart: %.3f; "
               "remap walk / chown walk: %.2f\n",
               median(first_sd, rounds) / median(first_ep, rounds),
               median(again_sd, rounds) / median(again_ep, rounds),
               median(walk_from, rounds) / median(walk_chown, rounds));

        umount2("/etc", MNT_DETACH);
        umount2(W, MNT_DETACH);
        rmdir(W);
        return 0;
}
