/* Recursive chown benchmark: op_chown(recursive) against coreutils
 * `chown -R --no-dereference` on two identical generated trees (files,
 * directories, symlinks) on a tmpfs in a private mount namespace.  Rounds
 * alternate which one goes first and give every round a new owner, so
 * both really write every entry.  Prints per-round times and the ratio
 * engine/coreutils (target <= 1.0).
 *
 * usage: bench-chown [ENTRIES [ROUNDS]]   (defaults 100000 and 5; root) */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
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
#define LINKS_PER_DIR 20
#define SUBDIRS       25

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

/* One leaf directory: files and symlinks (relative, absolute, dangling). */
static long fill_leaf(int dfd)
{
        char name[32];
        for (int i = 0; i < FILES_PER_DIR; i++) {
                snprintf(name, sizeof(name), "f%d", i);
                if (mknodat(dfd, name, S_IFREG | 0644, 0) < 0)
                        die("mknodat");
        }
        static const char *targets[] = {"f0", "/etc/passwd", "../..", "missing"};
        for (int i = 0; i < LINKS_PER_DIR; i++) {
                snprintf(name, sizeof(name), "l%d", i);
                if (symlinkat(targets[i % 4], dfd, name) < 0)
                        die("symlinkat");
        }
        return FILES_PER_DIR + LINKS_PER_DIR;
}

/* top/dN/sM/{f*,l*}: returns the number of entries below top. */
static long make_tree(const char *top, long want)
{
        if (mkdir(top, 0755) < 0)
                die("mkdir");
        int tfd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (tfd < 0)
                die(top);
        long n = 0;
        char name[32];
        for (int d = 0; n < want; d++) {
                snprintf(name, sizeof(name), "d%d", d);
                if (mkdirat(tfd, name, 0755) < 0)
                        die("mkdirat");
                int dfd = openat(tfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd < 0)
                        die("openat");
                n++;
                for (int s = 0; s < SUBDIRS && n < want; s++) {
                        snprintf(name, sizeof(name), "s%d", s);
                        if (mkdirat(dfd, name, 0755) < 0)
                                die("mkdirat");
                        int sfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (sfd < 0)
                                die("openat");
                        n += 1 + fill_leaf(sfd);
                        close(sfd);
                }
                close(dfd);
        }
        close(tfd);
        return n;
}

static double run_engine(const char *dir, unsigned id, long expect)
{
        char err[1024];
        struct op_stats st = {0};
        double t = now();
        int r = op_chown(dir, "", id, id, true, false, false, &st, err, sizeof(err));
        t = now() - t;
        if (r < 0) {
                fprintf(stderr, "bench-chown: %s\n", err);
                exit(1);
        }
        if ((long)st.changed != expect + 1) {
                fprintf(stderr, "bench-chown: engine changed %lu entries, expected %ld\n",
                        (unsigned long)st.changed, expect + 1);
                exit(1);
        }
        return t;
}

static double run_coreutils(const char *dir, unsigned id)
{
        char owner[32];
        snprintf(owner, sizeof(owner), "%u:%u", id, id);
        double t = now();
        pid_t pid = fork();
        if (pid < 0)
                die("fork");
        if (pid == 0) {
                execlp("chown", "chown", "-R", "--no-dereference", owner, dir, (char *)NULL);
                _exit(127);
        }
        int status;
        if (waitpid(pid, &status, 0) < 0)
                die("waitpid");
        t = now() - t;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "bench-chown: chown -R failed (status %d)\n", status);
                exit(1);
        }
        struct stat st;
        if (lstat(dir, &st) < 0 || st.st_uid != id)
                die("coreutils result");
        return t;
}

int main(int argc, char **argv)
{
        long want = argc > 1 ? atol(argv[1]) : 100000;
        int rounds = argc > 2 ? atoi(argv[2]) : 5;
        if (geteuid() != 0) {
                fprintf(stderr, "bench-chown: needs root (mount namespace, chown)\n");
                return 77;
        }
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                die("private mount namespace");
        char top[] = "/tmp/bench-chown.XXXXXX";
        if (!mkdtemp(top) || mount("tmpfs", top, "tmpfs", 0, "mode=0755") < 0)
                die("tmpfs");
        char a[64], b[64];
        snprintf(a, sizeof(a), "%s/engine", top);
        snprintf(b, sizeof(b), "%s/coreutils", top);
        double t = now();
        long n = make_tree(a, want);
        make_tree(b, want);
        printf("bench-chown: two trees of %ld entries each (%d files + %d symlinks per leaf "
               "directory), generated in %.2fs\n",
               n + 1, FILES_PER_DIR, LINKS_PER_DIR, now() - t);

        double te = 0, tc = 0;
        for (int r = 0; r < rounds; r++) {
                unsigned id = 20000 + (unsigned)r;
                double e, c;
                if (r % 2 == 0) {
                        e = run_engine(a, id, n);
                        c = run_coreutils(b, id);
                } else {
                        c = run_coreutils(b, id);
                        e = run_engine(a, id, n);
                }
                te += e;
                tc += c;
                printf("round %d (uid %u, %s first): engine %.3fs  coreutils %.3fs  ratio %.3f\n",
                       r + 1, id, r % 2 ? "coreutils" : "engine", e, c, e / c);
        }
        /* Already right: nothing is written (a restarted container). */
        char err[1024];
        struct op_stats st = {0};
        double z = now();
        if (op_chown(a, "", 20000 + (unsigned)rounds - 1, 20000 + (unsigned)rounds - 1, true, false,
                     false, &st, err, sizeof(err)) < 0 ||
            st.changed != 0)
                die("idempotent run");
        z = now() - z;
        printf("engine, tree already right: %.3fs, %lu visited, 0 changed\n", z,
               (unsigned long)st.visited);
        printf("total: engine %.3fs  coreutils %.3fs  ratio engine/coreutils %.3f\n", te, tc,
               te / tc);

        umount2(top, MNT_DETACH);
        rmdir(top);
        return 0;
}
