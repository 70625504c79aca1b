/* Recursive chown benchmark (issue 21 item 4): the engine's safe walk
 * against coreutils `chown -R --no-dereference` on one generated tree
 * (files, directories, symlinks) on a tmpfs in a private mount namespace,
 * in one interleaved run: the walk on one thread, on THREADS threads
 * (each walker with an fd table of its own, and, for comparison, sharing
 * the caller's as they did before), with plain calls instead of io_uring,
 * the walk as it was before issue 21 (op-chown-before.c, a copy kept for
 * this comparison), the floor (the system calls a walk that acts through
 * each entry's own fd cannot leave out, and nothing else) and coreutils.
 * Every run gives the tree a new owner, so each one really writes every
 * entry; the order rotates each round.  Then
 * the same on the tree already right (a restart: coreutils writes every
 * entry again, the engine none).  Prints per-round times, the ratios to
 * coreutils and whether each target of issue 21 is met, and what the
 * system calls the walk cannot avoid cost here, each alone on one file
 * (statx and fchownat on a changed entry's fd, against coreutils' one
 * fchownat by name).
 *
 * usage: bench-chown [ENTRIES [ROUNDS [THREADS]]]
 *   (defaults 100000, 5 and the online CPUs up to 8; root) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench-tree.h"
#include "ops.h"
#include "uring.h"

#define DENTS_BYTES (256 * 1024) /* as the engine reads a directory */

/* The walk before issue 21 (op-chown-before.c, compiled with renamed
 * entry points). */
int before_op_chown(const char *anchor, const char *rest, uid_t uid, gid_t gid, bool recursive,
                    bool xdev, bool hardlinks, struct op_stats *st, char *err, size_t errlen);

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

enum { NEW1, NEWN, SHAREDN, PLAIN1, PLAINN, BEFORE, FLOOR, COREUTILS, KINDS };
static const char *const kind_name[KINDS] = {
    "engine, 1 thread", "engine, N threads", "N threads, one fd table", "plain, 1 thread",
    "plain, N threads", "engine before",     "floor, 1 thread",         "coreutils chown -R"};

static unsigned threads;

/* CPU time (user + system) each kind took, summed like the wall times:
 * on a loaded machine the wall times say more about the load. */
static double cpu_fresh[KINDS], cpu_right[KINDS], *cpu_now;

static double cpu_of(const struct rusage *ru)
{
        return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
               (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
}

static double cpu_self(void)
{
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return cpu_of(&ru);
}

static int cmp_int(const void *a, const void *b)
{
        return *(const int *)a - *(const int *)b;
}

/* Closes the n fds of fds (sorted in place), each run of consecutive
 * numbers by one close_range(), as the engine's walk does. */
static void close_runs(int *fds, int n)
{
        qsort(fds, (size_t)n, sizeof(int), cmp_int);
        for (int i = 0, j; i < n; i = j) {
                for (j = i + 1; j < n && fds[j] == fds[j - 1] + 1; j++)
                        ;
                if (close_range((unsigned)fds[i], (unsigned)fds[j - 1], 0) < 0)
                        die("close_range");
        }
}

/* The floor of any walk that acts on each entry through its own fd, on
 * one thread: the calls the engine cannot leave out, and nothing else
 * (no check, no stack, no audit count).  Each directory opened, statx-ed
 * and changed through its fd, then read; its other entries opened O_PATH
 * 64 at a time through io_uring, each statx-ed and changed through its fd,
 * the fds closed in close_range() runs.  Returns the entries changed.
 * With fresh false (the tree right already) the floor is the engine's
 * filter alone: each entry looked at once, a statx by name (a directory
 * on its fd), nothing opened or changed. */
enum { FLOOR_RUN = 64 };

/* The floor's act on k entries of dfd: opened O_PATH in one io_uring
 * submission, statx and fchownat on each fd, closed in runs. */
static long floor_batch(struct uring *u, int dfd, const char **names, int k, unsigned id)
{
        int res[FLOOR_RUN];
        struct statx sx;
        for (int i = 0; i < k; i++) {
                struct io_uring_sqe *e = uring_sqe(u, (uint64_t)i);
                e->opcode = IORING_OP_OPENAT;
                e->fd = dfd;
                e->addr = (uintptr_t)names[i];
                e->open_flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
                res[i] = -EIO;
        }
        if (k && uring_run(u, res) < 0)
                die("io_uring");
        for (int i = 0; i < k; i++)
                if (res[i] < 0 ||
                    statx(res[i], "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) <
                        0 ||
                    fchownat(res[i], "", id, id, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
                        die("floor: entry");
        close_runs(res, k);
        return k;
}

static long floor_walk(struct uring *u, int dfd, unsigned id, bool fresh)
{
        char *buf = malloc(DENTS_BYTES); /* the names below stay in it */
        if (!buf)
                die("malloc");
        long changed = 0;
        struct statx sx;
        if (statx(dfd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) < 0 ||
            (fresh && fchownat(dfd, "", id, id, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0))
                die("floor: directory");
        changed += fresh;
        ssize_t n;
        while ((n = getdents64(dfd, buf, DENTS_BYTES)) > 0) {
                const char *names[FLOOR_RUN], *dirs[DENTS_BYTES / 24];
                int k = 0, nd = 0;
                for (ssize_t off = 0; off < n;) {
                        struct dirent64 *d = (struct dirent64 *)(buf + off);
                        off += d->d_reclen;
                        if (d->d_name[0] == '.' &&
                            (!d->d_name[1] || (d->d_name[1] == '.' && !d->d_name[2])))
                                continue;
                        if (d->d_type == DT_DIR)
                                dirs[nd++] = d->d_name; /* walked after the others */
                        else if (!fresh) {              /* right already: one look by name */
                                if (statx(dfd, d->d_name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS,
                                          &sx) < 0)
                                        die("floor: statx");
                        } else {
                                names[k++] = d->d_name;
                                if (k == FLOOR_RUN) {
                                        changed += floor_batch(u, dfd, names, k, id);
                                        k = 0;
                                }
                        }
                }
                changed += floor_batch(u, dfd, names, k, id);
                for (int i = 0; i < nd; i++) {
                        int sub =
                            openat(dfd, dirs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0)
                                die("floor: openat");
                        changed += floor_walk(u, sub, id, fresh);
                        close(sub);
                }
        }
        if (n < 0)
                die("getdents64");
        free(buf);
        return changed;
}

/* One run of kind on dir, giving it owner id; expect entries changed (or
 * -1: coreutils, checked on the top). */
static double run(int kind, const char *dir, unsigned id, long expect)
{
        char err[1024];
        struct op_stats st = {.threads =
                                  kind == NEWN || kind == SHAREDN || kind == PLAINN ? threads : 1,
                              .uring = kind == NEW1 || kind == NEWN || kind == SHAREDN,
                              .shared_fds = kind == SHAREDN};
        double c0 = cpu_self();
        double t = now();
        if (kind == COREUTILS) {
                char owner[32];
                snprintf(owner, sizeof(owner), "%u:%u", id, id);
                pid_t pid = fork();
                if (pid < 0)
                        die("fork");
                if (pid == 0) {
                        execlp("chown", "chown", "-R", "--no-dereference", owner, dir,
                               (char *)NULL);
                        _exit(127);
                }
                int status;
                struct rusage ru;
                if (wait4(pid, &status, 0, &ru) < 0)
                        die("wait4");
                t = now() - t;
                cpu_now[kind] += cpu_of(&ru);
                struct stat sb;
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || lstat(dir, &sb) < 0 ||
                    sb.st_uid != id) {
                        fprintf(stderr, "bench-chown: chown -R failed (status %d)\n", status);
                        exit(1);
                }
                return t;
        }
        if (kind == FLOOR) {
                struct uring u;
                int top = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (top < 0 || uring_init(&u, FLOOR_RUN) < 0)
                        die("floor: io_uring");
                long changed = floor_walk(&u, top, id, expect > 0);
                t = now() - t;
                cpu_now[kind] += cpu_self() - c0;
                uring_free(&u);
                close(top);
                if (changed != expect) {
                        fprintf(stderr,
                                "bench-chown: the floor walk changed %ld entries, "
                                "expected %ld\n",
                                changed, expect);
                        exit(1);
                }
                return t;
        }
        int r = kind == BEFORE
                    ? before_op_chown(dir, "", id, id, true, false, false, &st, err, sizeof(err))
                    : op_chown(dir, "", id, id, true, false, false, &st, err, sizeof(err));
        t = now() - t;
        cpu_now[kind] += cpu_self() - c0;
        if (r < 0) {
                fprintf(stderr, "bench-chown: %s: %s\n", kind_name[kind], err);
                exit(1);
        }
        if ((long)st.changed != expect) {
                fprintf(stderr, "bench-chown: %s changed %lu entries, expected %ld\n",
                        kind_name[kind], (unsigned long)st.changed, expect);
                exit(1);
        }
        return t;
}

/* Microseconds one call of kind takes on file (the average of many):
 * what a system call costs on this machine, and the calls a walk that
 * checks and acts on each entry's fd cannot avoid. */
enum { NULL_CALL, STATX_FD, CHOWN_FD, CHOWN_NAME, CALLS };

static double call_us(int kind, const char *file)
{
        int fd = open(file, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                die(file);
        const int n = 100000;
        struct statx sx;
        double t = now();
        for (int i = 0; i < n; i++) {
                int r = 0;
                switch (kind) {
                case NULL_CALL:
                        r = getppid() > 0 ? 0 : -1;
                        break;
                case STATX_FD:
                        r = statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS,
                                  &sx);
                        break;
                case CHOWN_FD:
                        r = fchownat(fd, "", 0, 0, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
                        break;
                default:
                        r = fchownat(AT_FDCWD, file, 0, 0, AT_SYMLINK_NOFOLLOW);
                }
                if (r < 0)
                        die("call_us");
        }
        t = now() - t;
        close(fd);
        return t / n * 1e6;
}

/* The 1-minute load average (other work on the machine). */
static double load(void)
{
        double l = 0;
        FILE *f = fopen("/proc/loadavg", "r");
        if (f) {
                if (fscanf(f, "%lf", &l) != 1)
                        l = 0;
                fclose(f);
        }
        return l;
}

static bool target(const char *what, double ratio, double goal, bool applies)
{
        printf("  %-58s %.3f  target <= %.2f: %s\n", what, ratio, goal,
               !applies        ? "n/a (one CPU)"
               : ratio <= goal ? "met"
                               : "NOT met");
        return !applies || ratio <= goal;
}

int main(int argc, char **argv)
{
        long want = argc > 1 ? atol(argv[1]) : 100000;
        int rounds = argc > 2 ? atoi(argv[2]) : 5;
        threads = argc > 3 ? (unsigned)atoi(argv[3]) : op_chown_threads();
        if (threads < 2)
                threads = 2;
        if (geteuid() != 0) {
                fprintf(stderr, "bench-chown: needs root (mount namespace, chown)\n");
                return 77;
        }
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                die("private mount namespace");
        char top[] = "/tmp/bench-chown.XXXXXX";
        if (!mkdtemp(top) || mount("tmpfs", top, "tmpfs", 0, "mode=0755") < 0)
                die("tmpfs");
        char dir[64];
        snprintf(dir, sizeof(dir), "%s/tree", top);
        double t = now();
        long n = make_tree(dir, want) + 1;
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        printf("bench-chown: a tree of %ld entries (%d files + %d symlinks per leaf directory), "
               "generated in %.2fs; %u threads for N, %ld online CPUs\n",
               n, FILES_PER_DIR, LINKS_PER_DIR, now() - t, threads, cpus);

        /* fresh: every run gives every entry a new owner */
        double fresh[KINDS] = {0}, right[KINDS] = {0};
        unsigned id = 20000;
        cpu_now = cpu_fresh;
        for (int r = 0; r < rounds; r++) {
                printf("round %d:", r + 1);
                for (int k = 0; k < KINDS; k++) {
                        int kind = (k + r) % KINDS;
                        double e = run(kind, dir, ++id, n);
                        fresh[kind] += e;
                        printf("  %s %.3fs", kind_name[kind], e);
                }
                printf("\n");
        }
        /* already right: each kind again with the owner the tree has */
        cpu_now = cpu_right;
        for (int r = 0; r < rounds; r++) {
                printf("already right, round %d:", r + 1);
                for (int k = 0; k < KINDS; k++) {
                        int kind = (k + r) % KINDS;
                        double e = run(kind, dir, id, 0);
                        right[kind] += e;
                        printf("  %s %.3fs", kind_name[kind], e);
                }
                printf("\n");
        }
        double c = fresh[COREUTILS], cr = right[COREUTILS];
        printf("totals over %d rounds (ratio = time / coreutils chown -R on the same tree):\n",
               rounds);
        bool ok = true;
        ok &= target("fresh tree, engine on 1 thread / coreutils", fresh[NEW1] / c, 1.3, true);
        char what[128];
        snprintf(what, sizeof(what), "fresh tree, engine on %u threads / coreutils", threads);
        ok &= target(what, fresh[NEWN] / c, 0.9, cpus >= 2);
        snprintf(what, sizeof(what), "fresh tree, %u threads sharing one fd table / coreutils",
                 threads);
        printf("  %-58s %.3f  (before each walker had its own)\n", what, fresh[SHAREDN] / c);
        printf("  %-58s %.3f  (no io_uring: a seccomp filter refuses it)\n",
               "fresh tree, plain calls on 1 thread / coreutils", fresh[PLAIN1] / c);
        snprintf(what, sizeof(what), "fresh tree, plain calls on %u threads / coreutils", threads);
        printf("  %-58s %.3f  (no io_uring)\n", what, fresh[PLAINN] / c);
        printf("  %-58s %.3f  (before issue 21)\n", "fresh tree, engine before / coreutils",
               fresh[BEFORE] / c);
        printf("  %-58s %.3f  (open + statx + fchownat through each entry's fd,\n"
               "  %-58s        nothing else: no walk that acts through the fd it checked,\n"
               "  %-58s        on one thread, is faster here)\n",
               "fresh tree, the floor on 1 thread / coreutils", fresh[FLOOR] / c, "", "");
        ok &= target("already right, engine on 1 thread / coreutils", right[NEW1] / cr, 0.5, true);
        snprintf(what, sizeof(what), "already right, engine on %u threads / coreutils", threads);
        ok &= target(what, right[NEWN] / cr, 0.5, true);
        printf("  %-58s %.3f  (no io_uring)\n",
               "already right, plain calls on 1 thread / coreutils", right[PLAIN1] / cr);
        printf("  %-58s %.3f  (one statx per entry, nothing else)\n",
               "already right, the floor on 1 thread / coreutils", right[FLOOR] / cr);
        printf("  %-58s %.3f  (before issue 21)\n", "already right, engine before / coreutils",
               right[BEFORE] / cr);
        /* The floor of a walk that checks each entry on its fd: statx and
         * fchownat on that fd, one system call each, against coreutils'
         * one fchownat by name per entry (as measured on this tree). */
        char file[96];
        snprintf(file, sizeof(file), "%s/probe", top);
        int pf = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (pf < 0)
                die(file);
        close(pf);
        double us[CALLS];
        for (int k = 0; k < CALLS; k++)
                us[k] = call_us(k, file);
        double per_entry = c / rounds / n * 1e6;
        printf("system calls here: none %.2f us, statx on an fd %.2f us, fchownat on an fd "
               "%.2f us, by name %.2f us; coreutils %.2f us per entry\n",
               us[NULL_CALL], us[STATX_FD], us[CHOWN_FD], us[CHOWN_NAME], per_entry);
        printf("  floor of the checked walk on one thread, (statx + fchownat on the fd) / "
               "coreutils: %.2f\n",
               (us[STATX_FD] + us[CHOWN_FD]) / per_entry);
        printf("CPU time (user + system) / coreutils' (load: %.1f):\n", load());
        for (int k = 0; k < COREUTILS; k++)
                printf("  %-24s fresh %.3f (%.2fs)  already right %.3f (%.2fs)\n", kind_name[k],
                       cpu_fresh[k] / cpu_fresh[COREUTILS], cpu_fresh[k],
                       cpu_right[k] / cpu_right[COREUTILS], cpu_right[k]);
        printf("bench-chown: %s\n", ok ? "every target met" : "some target NOT met");

        umount2(top, MNT_DETACH);
        rmdir(top);
        return 0;
}
