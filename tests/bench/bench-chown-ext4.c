/* Recursive chown on a real file system (issue 21 item 4): a whole
 * `stepdownd` start with `setup chown TREE owner=U:G recursive` (and
 * --no-broker -- /bin/true) against coreutils `chown -R --no-dereference`
 * on a tree of ~101,000 entries on ext4 (an image on a loop device,
 * made, mounted in a private mount namespace and removed by the bench),
 * cold (caches dropped before every run) and warm, in one interleaved
 * run, with io_uring and without it (STEPDOWN_CHOWN_URING=0, as where a
 * seccomp filter refuses io_uring); with a second STEPDOWND (older code, e.g. a build of the code
 * before a change) its figures too. Every run gives the tree a new owner.  Prints the totals, the
 * ratios to coreutils and whether the targets are met (cold <= 1.0, warm <= 0.9).
 *
 * usage: bench-chown-ext4 STEPDOWND [OLD_STEPDOWND [ENTRIES [ROUNDS]]]
 *   (defaults: no old, 101000 entries, 3 rounds; root, losetup, mkfs.ext4) */
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include "bench-tree.h"

enum { NEW, PLAIN, OLD, COREUTILS, KINDS };
static const char *const kind_name[KINDS] = {"stepdownd", "stepdownd, no io_uring",
                                             "stepdownd before", "chown -R"};

static char W[64], img[96], mnt[96], tree[128], conf[128], loopdev[64];
static const char *sd[2];

static double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void cleanup(void)
{
        if (mnt[0])
                umount2(mnt, MNT_DETACH);
        if (loopdev[0]) {
                char cmd[128];
                snprintf(cmd, sizeof(cmd), "losetup -d %s", loopdev);
                if (system(cmd) != 0)
                        fprintf(stderr, "bench-chown-ext4: %s failed\n", cmd);
        }
        if (img[0])
                unlink(img);
        if (conf[0])
                unlink(conf);
        if (mnt[0])
                rmdir(mnt);
        if (W[0])
                rmdir(W);
}

static void fail(const char *what)
{
        fprintf(stderr, "bench-chown-ext4: %s: %s\n", what, strerror(errno));
        cleanup();
        exit(1);
}

static double child_cpu; /* CPU time (user + system) of the last run */

static int run_argv(char *const argv[], bool quiet)
{
        pid_t pid = fork();
        if (pid < 0)
                fail("fork");
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (quiet && null >= 0) {
                        dup2(null, 1);
                        dup2(null, 2);
                }
                execvp(argv[0], argv);
                _exit(127);
        }
        int st;
        struct rusage ru;
        if (wait4(pid, &st, 0, &ru) != pid)
                fail("wait4");
        child_cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void drop_caches(void)
{
        sync();
        FILE *f = fopen("/proc/sys/vm/drop_caches", "w");
        if (!f || fputs("3\n", f) < 0 || fclose(f) != 0)
                fail("/proc/sys/vm/drop_caches");
}

/* One run of kind giving the tree owner id:id; the time it took. */
static double run(int kind, unsigned id, bool cold)
{
        char owner[32];
        snprintf(owner, sizeof(owner), "%u:%u", id, id);
        if (kind != COREUTILS) {
                FILE *f = fopen(conf, "w");
                if (!f ||
                    fprintf(f, "user root\nsetup chown %s owner=%s recursive\n", tree, owner) < 0 ||
                    fclose(f) != 0)
                        fail(conf);
        }
        if (cold)
                drop_caches();
        char *cu[] = {"chown", "-R", "--no-dereference", owner, tree, NULL};
        char *st[] = {(char *)sd[kind == OLD], "-c", conf, "--no-broker", "--", "/bin/true", NULL};
        /* plain calls: what a walk does where io_uring is refused */
        if (kind == PLAIN)
                setenv("STEPDOWN_CHOWN_URING", "0", 1);
        double t = now();
        int r = run_argv(kind == COREUTILS ? cu : st, true);
        t = now() - t;
        unsetenv("STEPDOWN_CHOWN_URING");
        struct stat sb;
        if (r != 0 || lstat(tree, &sb) < 0 || sb.st_uid != id) {
                fprintf(stderr, "bench-chown-ext4: %s failed (status %d)\n", kind_name[kind], r);
                cleanup();
                exit(1);
        }
        return t;
}

static bool target(const char *what, double ratio, double goal)
{
        printf("  %-44s %.3f  target <= %.2f: %s\n", what, ratio, goal,
               ratio <= goal ? "met" : "NOT met");
        return ratio <= goal;
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fprintf(stderr,
                        "usage: bench-chown-ext4 STEPDOWND [OLD_STEPDOWND [ENTRIES [ROUNDS]]]\n");
                return 2;
        }
        sd[0] = argv[1];
        sd[1] = argc > 2 && argv[2][0] ? argv[2] : NULL;
        long want = argc > 3 ? atol(argv[3]) : 101000;
        int rounds = argc > 4 ? atoi(argv[4]) : 3;
        if (geteuid() != 0 || access("/sbin/mkfs.ext4", X_OK) < 0 ||
            access("/sbin/losetup", X_OK) < 0) {
                printf("bench-chown-ext4: SKIP (needs root, mkfs.ext4 and losetup)\n");
                return 77;
        }
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                fail("private mount namespace");
        /* the image on the disk (/var/tmp), not on a tmpfs */
        strcpy(W, "/var/tmp/bench-chown-ext4.XXXXXX");
        if (!mkdtemp(W))
                fail("mkdtemp");
        snprintf(img, sizeof(img), "%s/ext4.img", W);
        snprintf(mnt, sizeof(mnt), "%s/mnt", W);
        if (mkdir(mnt, 0755) < 0)
                fail(mnt);
        char *mkfs[] = {"mkfs.ext4", "-q", "-F", "-N", "200000", img, NULL};
        int fd = open(img, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0 || ftruncate(fd, 2LL << 30) < 0 || close(fd) < 0)
                fail(img);
        if (run_argv(mkfs, true) != 0)
                fail("mkfs.ext4");
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "losetup -f --show %s", img);
        FILE *p = popen(cmd, "r");
        if (!p || !fgets(loopdev, sizeof(loopdev), p) || pclose(p) != 0)
                fail("losetup");
        loopdev[strcspn(loopdev, "\n")] = '\0';
        if (mount(loopdev, mnt, "ext4", 0, NULL) < 0) {
                int e = errno;
                mnt[0] = '\0';
                errno = e;
                fail("mount ext4");
        }
        snprintf(tree, sizeof(tree), "%s/tree", mnt);
        snprintf(conf, sizeof(conf), "%s/stepdown.conf", W);
        double t = now();
        long n = make_tree(tree, want) + 1;
        sync();
        printf("bench-chown-ext4: ext4 on %s, a tree of %ld entries, generated in %.1fs; "
               "STEPDOWN_CHOWN_THREADS=%s; %d rounds, cold (caches dropped) and warm\n",
               loopdev, n, now() - t,
               getenv("STEPDOWN_CHOWN_THREADS") ? getenv("STEPDOWN_CHOWN_THREADS")
                                                : "(unset: online CPUs)",
               rounds);

        double tot[2][KINDS] = {{0}}, cpu[2][KINDS] = {{0}};
        unsigned id = 30000;

        for (int r = 0; r < rounds; r++) {
                for (int cold = 1; cold >= 0; cold--) {
                        printf("round %d, %s:", r + 1, cold ? "cold" : "warm");
                        /* rotate the order: new, old, coreutils */
                        for (int k = 0; k < KINDS; k++) {
                                int kind = (k + r) % KINDS;
                                if (kind == OLD && !sd[1])
                                        continue;
                                double e = run(kind, ++id, cold);
                                tot[cold][kind] += e;
                                cpu[cold][kind] += child_cpu;
                                printf("  %s %.3fs", kind_name[kind], e);
                        }
                        printf("\n");
                }
        }
        printf("totals (ratio = time / chown -R):\n");
        bool ok = target("cold: stepdownd start / chown -R", tot[1][NEW] / tot[1][COREUTILS], 1.0);
        ok &= target("warm: stepdownd start / chown -R", tot[0][NEW] / tot[0][COREUTILS], 0.9);
        printf("  %-44s %.3f  (plain calls)\n", "cold: stepdownd, no io_uring / chown -R",
               tot[1][PLAIN] / tot[1][COREUTILS]);
        printf("  %-44s %.3f  (plain calls)\n", "warm: stepdownd, no io_uring / chown -R",
               tot[0][PLAIN] / tot[0][COREUTILS]);
        if (sd[1]) {
                printf("  %-44s %.3f  (OLD_STEPDOWND)\n", "cold: stepdownd before / chown -R",
                       tot[1][OLD] / tot[1][COREUTILS]);
                printf("  %-44s %.3f  (OLD_STEPDOWND)\n", "warm: stepdownd before / chown -R",
                       tot[0][OLD] / tot[0][COREUTILS]);
        }
        printf("CPU time (user + system) / chown -R's:\n");
        for (int k = 0; k < COREUTILS; k++)
                if (k != OLD || sd[1])
                        printf("  %-17s cold %.3f  warm %.3f\n", kind_name[k],
                               cpu[1][k] / cpu[1][COREUTILS], cpu[0][k] / cpu[0][COREUTILS]);
        printf("bench-chown-ext4: %s\n", ok ? "every target met" : "some target NOT met");
        cleanup();
        return 0;
}
