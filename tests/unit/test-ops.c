/* Adversarial tests for the operations engine (common/base/resolve.c,
 * common/op-*.c).  Runs as root in a private mount namespace on a tmpfs;
 * every case checks that canaries outside the anchor (owner, mode,
 * contents) are unchanged.  The whole set runs twice: with openat2 and
 * with the forced component-walk fallback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/seccomp.h>

#include "ops.h"
#include "uring.h"
#include "resolve.h"

#define U1 1000
#define U2 1001

static char top[64];     /* tmpfs mount point */
static char base[128];   /* per-case directory */
static char anchor[160]; /* base/anchor */
static char err[1024];
static int case_no;

/* Threads a recursive chown walks with (the groups below run the chown
 * tests with one and with several). */
static unsigned chown_threads;
static bool chown_uring; /* and whether it batches through io_uring */

static int walk_chown(const char *a, const char *rest, uid_t uid, gid_t gid, bool recursive,
                      bool xdev, bool hardlinks, struct op_stats *st, char *e, size_t elen)
{
        struct op_stats none = {0};
        if (!st)
                st = &none;
        st->threads = chown_threads;
        st->uring = chown_uring;
        return op_chown(a, rest, uid, gid, recursive, xdev, hardlinks, st, e, elen);
}

static const char *P(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *P(const char *fmt, ...)
{
        static char bufs[8][512];
        static int i;
        char *b = bufs[i++ % 8];
        int n = snprintf(b, 512, "%s/", base);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b + n, 512 - (size_t)n, fmt, ap);
        va_end(ap);
        return b;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
}

static void expect_file(const char *path, uid_t uid, gid_t gid, mode_t mode, const char *text)
{
        struct stat st;
        assert_int_equal(lstat(path, &st), 0);
        if (st.st_uid != uid)
                fail_msg("%s: uid %u, expected %u", path, (unsigned)st.st_uid, (unsigned)uid);
        assert_int_equal(st.st_gid, gid);
        assert_int_equal(st.st_mode & 07777, mode);
        if (text) {
                char buf[256] = "";
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                assert_true(fd >= 0);
                assert_true(read(fd, buf, sizeof(buf) - 1) >= 0);
                close(fd);
                assert_string_equal(buf, text);
        }
}

static int count_entries(const char *path)
{
        DIR *d = opendir(path);
        assert_non_null(d);
        int n = 0;
        for (struct dirent *e; (e = readdir(d));)
                n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
        closedir(d);
        return n;
}

/* Everything outside the anchor that an attack could aim at. */
static void check_canaries(void)
{
        assert_int_equal(count_entries(P("outside")), 2);
        assert_int_equal(count_entries(P("outside/etc")), 1);
        expect_file(P("outside"), 0, 0, 0755, NULL);
        expect_file(P("outside/canary"), 0, 0, 0644, "canary\n");
        expect_file(P("outside/etc"), 0, 0, 0755, NULL);
        expect_file(P("outside/etc/shadow"), 0, 0, 0640, "secret\n");
        assert_int_equal(access(P("outside/new"), F_OK), -1);
        assert_int_equal(access(P("outside/etc/new"), F_OK), -1);
        expect_file(base, 0, 0, 0755, NULL);
}

static int case_setup(void **state)
{
        (void)state;
        snprintf(base, sizeof(base), "%s/case%d", top, ++case_no);
        snprintf(anchor, sizeof(anchor), "%s/anchor", base);
        umask(022);
        if (mkdir(base, 0755) < 0 || mkdir(P("outside"), 0755) < 0 ||
            mkdir(P("outside/etc"), 0755) < 0 || mkdir(anchor, 0755) < 0)
                return -1;
        write_file(P("outside/canary"), "canary\n", 0644);
        write_file(P("outside/etc/shadow"), "secret\n", 0640);
        err[0] = '\0';
        return 0;
}

static int case_teardown(void **state)
{
        (void)state;
        check_canaries();
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
        return system(cmd) == 0 ? 0 : -1;
}

static void make_tree(void)
{
        assert_int_equal(mkdir(P("anchor/a"), 0755), 0);
        assert_int_equal(mkdir(P("anchor/a/b"), 0755), 0);
        assert_int_equal(mkdir(P("anchor/a/b/c"), 0755), 0);
        write_file(P("anchor/a/b/c/file"), "data\n", 0644);
}

static void test_basic(void **state)
{
        (void)state;
        struct op_stats st = {0};
        umask(0777);
        assert_int_equal(op_mkdir(anchor, "d", 0750, U1, U1, false, err, sizeof(err)), 0);
        expect_file(P("anchor/d"), U1, U1, 0750, NULL);
        assert_int_equal(op_mkdir(anchor, "d", 0750, U1, U1, false, err, sizeof(err)), -EEXIST);
        assert_non_null(strstr(err, "anchor/d"));
        assert_int_equal(op_mkdir(anchor, "d", 0700, U2, U2, true, err, sizeof(err)), 0);
        expect_file(P("anchor/d"), U1, U1, 0750, NULL);
        assert_int_equal(op_mkdir(anchor, "p/q/r", 02770, U2, U1, true, err, sizeof(err)), 0);
        expect_file(P("anchor/p"), U2, U1, 02770, NULL);
        expect_file(P("anchor/p/q/r"), U2, U1, 02770, NULL);
        assert_int_equal(op_mkdir(anchor, "x/y", 0700, U1, U1, false, err, sizeof(err)), -ENOENT);
        /* no staging directory is left behind */
        assert_int_equal(count_entries(anchor), 2);
        assert_int_equal(count_entries(P("anchor/p")), 1);
        assert_int_equal(count_entries(P("anchor/p/q")), 1);

        int fd = -1;
        assert_int_equal(
            op_open(anchor, "d/f", O_RDWR | O_CREAT, 0640, U1, U2, &fd, err, sizeof(err)), 0);
        assert_int_equal(write(fd, "hi\n", 3), 3);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        close(fd);
        expect_file(P("anchor/d/f"), U1, U2, 0640, "hi\n");
        assert_int_equal(op_open(anchor, "d/f", O_WRONLY | O_CREAT | O_EXCL, 0600, U1, U1, &fd, err,
                                 sizeof(err)),
                         -EEXIST);
        assert_int_equal(op_open(anchor, "d/f", O_WRONLY | O_TRUNC, 0, 0, 0, &fd, err, sizeof(err)),
                         0);
        close(fd);
        expect_file(P("anchor/d/f"), U1, U2, 0640, "");
        assert_int_equal(
            op_open(anchor, "d/f", O_RDONLY | O_NONBLOCK, 0, 0, 0, &fd, err, sizeof(err)), -EINVAL);
        umask(022);

        assert_int_equal(op_chmod(anchor, "d/f", 0600, err, sizeof(err)), 0);
        expect_file(P("anchor/d/f"), U1, U2, 0600, NULL);
        assert_int_equal(op_chmod(anchor, "d", 0700, err, sizeof(err)), 0);
        expect_file(P("anchor/d"), U1, U1, 0700, NULL);

        /* recursive chown writes only what differs: a second run changes 0 */
        assert_int_equal(walk_chown(anchor, "", U2, U2, true, false, false, &st, err, sizeof(err)),
                         0);
        assert_int_equal(st.visited, 6);
        assert_int_equal(st.changed, 6);
        expect_file(P("anchor/p/q/r"), U2, U2, 02770, NULL);
        assert_int_equal(walk_chown(anchor, "", U2, U2, true, false, false, &st, err, sizeof(err)),
                         0);
        assert_int_equal(st.visited, 6);
        assert_int_equal(st.changed, 0);
        assert_int_equal(
            walk_chown(anchor, "p", U1, (gid_t)-1, false, false, false, &st, err, sizeof(err)), 0);
        assert_int_equal(st.changed, 1);
        expect_file(P("anchor/p"), U1, U2, 02770, NULL);
        expect_file(P("anchor/p/q"), U2, U2, 02770, NULL);

        /* the anchor itself, and an anchor that names a file */
        assert_int_equal(op_mkdir(P("anchor/new"), "", 0711, U1, U1, false, err, sizeof(err)), 0);
        expect_file(P("anchor/new"), U1, U1, 0711, NULL);
        assert_int_equal(op_open(P("anchor/d/f"), "", O_RDONLY, 0, 0, 0, &fd, err, sizeof(err)), 0);
        close(fd);
}

/* Every kind of symlink at every level of anchor/a/b/c/file is refused by
 * every operation, and nothing outside changes. */
static void test_symlink_levels(void **state)
{
        (void)state;
        static const char *levels[] = {"a", "a/b", "a/b/c", "a/b/c/file"};
        char targets[6][256];
        snprintf(targets[0], 256, "%s", "REAL"); /* a relative link to the real thing */
        snprintf(targets[1], 256, "%s", P("outside"));
        snprintf(targets[2], 256, "%s", P("outside/etc"));
        snprintf(targets[3], 256, "%s", "dangling");
        snprintf(targets[4], 256, "%s", "../../../../outside");
        snprintf(targets[5], 256, "%s", "/");
        for (size_t l = 0; l < 4; l++) {
                for (size_t k = 0; k < 6; k++) {
                        make_tree();
                        char real[300];
                        const char *lv = levels[l];
                        const char *leaf = strrchr(lv, '/') ? strrchr(lv, '/') + 1 : lv;
                        snprintf(real, sizeof(real), "%s.real", P("anchor/%s", lv));
                        assert_int_equal(rename(P("anchor/%s", lv), real), 0);
                        char tgt[300];
                        snprintf(tgt, sizeof(tgt), "%s", targets[k]);
                        if (k == 0)
                                snprintf(tgt, sizeof(tgt), "%s.real", leaf);
                        assert_int_equal(symlink(tgt, P("anchor/%s", lv)), 0);

                        int fd = -1;
                        assert_int_equal(walk_chown(anchor, "a/b/c/file", U1, U1, false, false,
                                                    false, NULL, err, sizeof(err)),
                                         -ELOOP);
                        assert_non_null(strstr(err, "symbolic link"));
                        assert_int_equal(op_chmod(anchor, "a/b/c/file", 0666, err, sizeof(err)),
                                         -ELOOP);
                        assert_int_equal(
                            op_open(anchor, "a/b/c/file", O_RDONLY, 0, 0, 0, &fd, err, sizeof(err)),
                            -ELOOP);
                        assert_int_equal(op_open(anchor, "a/b/c/file", O_WRONLY | O_CREAT | O_TRUNC,
                                                 0666, U1, U1, &fd, err, sizeof(err)),
                                         -ELOOP);
                        int r = op_mkdir(anchor, "a/b/c/new", 0777, U1, U1, true, err, sizeof(err));
                        assert_true(r == -ELOOP || (l == 3 && r == 0));
                        r = op_mkdir(anchor, "a/b/c/file/new", 0777, U1, U1, false, err,
                                     sizeof(err));
                        assert_true(r < 0);
                        /* recursive: the link itself changes, its target never */
                        struct op_stats st = {0};
                        assert_int_equal(walk_chown(anchor, "", U1, U1, true, false, false, &st,
                                                    err, sizeof(err)),
                                         0);
                        expect_file(P("anchor/%s", lv), U1, U1, 0777, NULL);
                        check_canaries();
                        char cmd[600];
                        snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", P("anchor/a"),
                                 P("anchor/a.real"));
                        assert_int_equal(system(cmd), 0);
                }
        }
        /* a symlink inside the anchor's own path is refused too */
        assert_int_equal(symlink("anchor", P("alink")), 0);
        assert_int_equal(
            walk_chown(P("alink"), "", U2, U2, true, false, false, NULL, err, sizeof(err)), -ELOOP);
        assert_int_equal(
            walk_chown(P("alink/x"), "", U2, U2, true, false, false, NULL, err, sizeof(err)),
            -ELOOP);
        expect_file(anchor, U1, U1, 0755, NULL);
}

static void test_dotdot(void **state)
{
        (void)state;
        static const char *bad[] = {"..",
                                    "../outside/canary",
                                    "a/../../outside/canary",
                                    "/etc",
                                    "a//b",
                                    "a/",
                                    "./a",
                                    "a/.",
                                    "a/./b"};
        make_tree();
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                int fd = -1;
                assert_int_equal(
                    walk_chown(anchor, bad[i], U1, U1, true, false, false, NULL, err, sizeof(err)),
                    -EINVAL);
                assert_int_equal(op_chmod(anchor, bad[i], 0777, err, sizeof(err)), -EINVAL);
                assert_int_equal(op_open(anchor, bad[i], O_RDWR, 0, 0, 0, &fd, err, sizeof(err)),
                                 -EINVAL);
                assert_int_equal(op_mkdir(anchor, bad[i], 0777, U1, U1, true, err, sizeof(err)),
                                 -EINVAL);
        }
        assert_int_equal(walk_chown(P("anchor/../outside"), "", U1, U1, true, false, false, NULL,
                                    err, sizeof(err)),
                         -EINVAL);
        assert_int_equal(
            walk_chown("relative", "", U1, U1, true, false, false, NULL, err, sizeof(err)),
            -EINVAL);
        int fd = -1;
        assert_int_equal(resolve_beneath(AT_FDCWD, "../x", O_PATH, 0, 0, &fd, err, sizeof(err)),
                         -EINVAL);
}

/* A child flips anchor/d (a real tree) with anchor/s (a symlink to
 * outside) and anchor/d/x with anchor/d/l (a symlink to /) while the
 * engine works on the tree over and over. */
static void test_race(void **state)
{
        (void)state;
        assert_int_equal(mkdir(P("anchor/d"), 0755), 0);
        assert_int_equal(mkdir(P("anchor/d/x"), 0755), 0);
        for (int i = 0; i < 20; i++)
                write_file(P("anchor/d/x/f%d", i), "x\n", 0644);
        assert_int_equal(symlink("../outside", P("anchor/s")), 0);
        assert_int_equal(symlink(P("outside/etc"), P("anchor/d/l")), 0);

        volatile uint64_t *flips =
            mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        assert_true(flips != MAP_FAILED);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                for (;;) {
                        if (renameat2(AT_FDCWD, P("anchor/d"), AT_FDCWD, P("anchor/s"),
                                      RENAME_EXCHANGE) == 0)
                                (*flips)++;
                        renameat2(AT_FDCWD, P("anchor/d/x"), AT_FDCWD, P("anchor/d/l"),
                                  RENAME_EXCHANGE);
                        renameat2(AT_FDCWD, P("anchor/s/x"), AT_FDCWD, P("anchor/s/l"),
                                  RENAME_EXCHANGE);
                }
        }
        unsigned ok = 0;
        for (int i = 0; i < 400 || *flips < 2000; i++) {
                struct op_stats st = {0};
                uid_t u = i % 2 ? U1 : U2;
                if (walk_chown(anchor, "", u, u, true, false, false, &st, err, sizeof(err)) == 0 &&
                    st.changed > 0)
                        ok++;
                walk_chown(anchor, "d/x/f1", u, u, false, false, false, NULL, err, sizeof(err));
                op_chmod(anchor, "d/x/f2", 0666, err, sizeof(err));
                op_chmod(anchor, "d/x", 0777, err, sizeof(err));
                int fd = -1;
                if (op_open(anchor, "d/x/f3", O_WRONLY | O_TRUNC, 0, 0, 0, &fd, err, sizeof(err)) ==
                    0)
                        close(fd);
                op_mkdir(anchor, "d/x/new", 0777, U1, U1, true, err, sizeof(err));
                if (i > 20000)
                        break;
        }
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        assert_true(*flips >= 2000);
        assert_true(ok > 0);
        munmap((void *)flips, 4096);
        check_canaries();
}

static void test_hardlink(void **state)
{
        (void)state;
        assert_int_equal(link(P("outside/etc/shadow"), P("anchor/hl")), 0);
        int fd = -1;
        assert_int_equal(walk_chown(anchor, "", U1, U1, true, false, false, NULL, err, sizeof(err)),
                         -EMLINK);
        assert_non_null(strstr(err, "hard link"));
        assert_non_null(strstr(err, "anchor/hl"));
        assert_int_equal(
            walk_chown(anchor, "hl", U1, U1, false, false, false, NULL, err, sizeof(err)), -EMLINK);
        assert_int_equal(op_chmod(anchor, "hl", 0666, err, sizeof(err)), -EMLINK);
        assert_int_equal(op_open(anchor, "hl", O_RDONLY, 0, 0, 0, &fd, err, sizeof(err)), -EMLINK);
        assert_int_equal(
            op_open(anchor, "hl", O_WRONLY | O_CREAT | O_TRUNC, 0644, 0, 0, &fd, err, sizeof(err)),
            -EMLINK);
        check_canaries();
        assert_int_equal(unlink(P("anchor/hl")), 0);
        /* both names inside: allowed with hardlinks */
        write_file(P("anchor/h1"), "h\n", 0644);
        assert_int_equal(link(P("anchor/h1"), P("anchor/h2")), 0);
        assert_int_equal(walk_chown(anchor, "", U1, U1, true, false, false, NULL, err, sizeof(err)),
                         -EMLINK);
        assert_int_equal(walk_chown(anchor, "", U1, U1, true, false, true, NULL, err, sizeof(err)),
                         0);
        expect_file(P("anchor/h2"), U1, U1, 0644, "h\n");
}

/* The expected object (an fchown/fchmod's fd): after a rename-exchange
 * another file is at the name, and the engine, comparing on the fd it
 * acts through, refuses with OP_NOT_EXPECTED and changes neither file. */
static void test_expect(void **state)
{
        (void)state;
        struct stat sx;
        write_file(P("anchor/x"), "x\n", 0644);
        write_file(P("anchor/y"), "y\n", 0644);
        assert_int_equal(stat(P("anchor/x"), &sx), 0);
        assert_int_equal(syscall(SYS_renameat2, AT_FDCWD, P("anchor/x"), AT_FDCWD, P("anchor/y"),
                                 2 /* EXCHANGE */),
                         0);
        const struct op_expect ex = {.dev = sx.st_dev, .ino = sx.st_ino};
        struct op_stats st = {0};
        assert_int_equal(
            op_chown_expect(anchor, "x", U1, U1, false, false, &ex, &st, err, sizeof(err)),
            OP_NOT_EXPECTED);
        assert_non_null(strstr(err, "anchor/x"));
        assert_int_equal(st.changed, 0);
        assert_int_equal(op_chmod_expect(anchor, "x", 0600, &ex, err, sizeof(err)),
                         OP_NOT_EXPECTED);
        expect_file(P("anchor/x"), 0, 0, 0644, "y\n");
        expect_file(P("anchor/y"), 0, 0, 0644, "x\n");
        /* the object it expects, at the name it looks at: changed */
        assert_int_equal(
            op_chown_expect(anchor, "y", U1, U1, false, false, &ex, &st, err, sizeof(err)), 0);
        assert_int_equal(op_chmod_expect(anchor, "y", 0600, &ex, err, sizeof(err)), 0);
        expect_file(P("anchor/y"), U1, U1, 0600, "x\n");
        expect_file(P("anchor/x"), 0, 0, 0644, "y\n");
        check_canaries();
}

static void alarm_handler(int sig)
{
        (void)sig;
        fail_msg("an operation blocked on a fifo or device");
}

static void test_fifo_device(void **state)
{
        (void)state;
        signal(SIGALRM, alarm_handler);
        alarm(20);
        assert_int_equal(mkfifo(P("anchor/fifo"), 0644), 0);
        assert_int_equal(mknod(P("anchor/null"), S_IFCHR | 0666, makedev(1, 3)), 0);
        assert_int_equal(chmod(P("anchor/null"), 0666), 0);
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", P("anchor/sock"));
        assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
        close(s);
        struct op_stats st = {0};
        assert_int_equal(walk_chown(anchor, "", U1, U1, true, false, false, &st, err, sizeof(err)),
                         0);
        assert_int_equal(st.changed, 4);
        expect_file(P("anchor/fifo"), U1, U1, 0644, NULL);
        expect_file(P("anchor/null"), U1, U1, 0666, NULL);
        assert_int_equal(
            walk_chown(anchor, "fifo", U2, U2, false, false, false, NULL, err, sizeof(err)), 0);
        expect_file(P("anchor/fifo"), U2, U2, 0644, NULL);
        static const char *names[] = {"fifo", "null", "sock"};
        for (size_t i = 0; i < 3; i++) {
                int fd = -1;
                assert_int_equal(
                    op_open(anchor, names[i], O_RDONLY, 0, 0, 0, &fd, err, sizeof(err)),
                    -EOPNOTSUPP);
                assert_non_null(strstr(err, "not a regular file"));
                assert_int_equal(op_open(anchor, names[i], O_WRONLY | O_CREAT, 0600, 0, 0, &fd, err,
                                         sizeof(err)),
                                 -EOPNOTSUPP);
                assert_int_equal(op_chmod(anchor, names[i], 0600, err, sizeof(err)), -EOPNOTSUPP);
        }
        int fd = -1;
        assert_int_equal(op_open(anchor, "", O_RDONLY, 0, 0, 0, &fd, err, sizeof(err)), -EISDIR);
        alarm(0);
}

static void test_bind_mount(void **state)
{
        (void)state;
        assert_int_equal(mkdir(P("anchor/mnt"), 0755), 0);
        assert_int_equal(mount(P("outside"), P("anchor/mnt"), NULL, MS_BIND, NULL), 0);
        write_file(P("anchor/file"), "f\n", 0644);
        assert_int_equal(mount(P("outside/canary"), P("anchor/file"), NULL, MS_BIND, NULL), 0);
        assert_int_equal(mkdir(P("other"), 0755), 0);
        write_file(P("other/o"), "o\n", 0644);
        assert_int_equal(mkdir(P("anchor/mnt2"), 0755), 0);
        assert_int_equal(mount(P("other"), P("anchor/mnt2"), NULL, MS_BIND, NULL), 0);

        struct op_stats st = {0};
        int fd = -1;
        assert_int_equal(walk_chown(anchor, "", U1, U1, true, false, false, &st, err, sizeof(err)),
                         0);
        expect_file(P("other/o"), 0, 0, 0644, "o\n");
        expect_file(P("other"), 0, 0, 0755, NULL);
        check_canaries();
        assert_int_equal(
            walk_chown(anchor, "mnt/canary", U1, U1, false, false, false, NULL, err, sizeof(err)),
            -EXDEV);
        assert_int_equal(
            walk_chown(anchor, "mnt", U1, U1, false, false, false, NULL, err, sizeof(err)), -EXDEV);
        assert_int_equal(
            walk_chown(anchor, "file", U1, U1, false, false, false, NULL, err, sizeof(err)),
            -EXDEV);
        assert_int_equal(op_open(anchor, "mnt/canary", O_RDONLY, 0, 0, 0, &fd, err, sizeof(err)),
                         -EXDEV);
        assert_int_equal(op_chmod(anchor, "mnt/etc/shadow", 0666, err, sizeof(err)), -EXDEV);
        assert_int_equal(op_mkdir(anchor, "mnt/new", 0777, U1, U1, true, err, sizeof(err)), -EXDEV);
        check_canaries();
        /* xdev crosses (checked on the harmless mount only) */
        assert_int_equal(
            walk_chown(anchor, "mnt2/o", U1, U1, false, true, false, NULL, err, sizeof(err)), 0);
        expect_file(P("other/o"), U1, U1, 0644, "o\n");
        assert_int_equal(umount2(P("anchor/mnt"), 0), 0);
        assert_int_equal(umount2(P("anchor/file"), 0), 0);
        assert_int_equal(walk_chown(anchor, "", U2, U2, true, true, false, &st, err, sizeof(err)),
                         0);
        expect_file(P("other"), U2, U2, 0755, NULL);
        assert_int_equal(umount2(P("anchor/mnt2"), 0), 0);
}

static void test_setuid(void **state)
{
        (void)state;
        write_file(P("anchor/su"), "s\n", 04755);
        write_file(P("anchor/sg"), "s\n", 02755);
        write_file(P("anchor/sgnx"), "s\n", 02644);
        write_file(P("anchor/both"), "s\n", 06711);
        write_file(P("anchor/one"), "s\n", 02644);
        assert_int_equal(
            walk_chown(anchor, "one", U1, U1, false, false, false, NULL, err, sizeof(err)), 0);
        expect_file(P("anchor/one"), U1, U1, 0644, NULL);
        assert_int_equal(walk_chown(anchor, "", U1, U1, true, false, false, NULL, err, sizeof(err)),
                         0);
        expect_file(P("anchor/su"), U1, U1, 0755, NULL);
        expect_file(P("anchor/sg"), U1, U1, 0755, NULL);
        expect_file(P("anchor/sgnx"), U1, U1, 0644, NULL);
        expect_file(P("anchor/both"), U1, U1, 0711, NULL);
        /* already right: untouched (nothing is written) */
        assert_int_equal(chmod(P("anchor/su"), 04755), 0);
        assert_int_equal(walk_chown(anchor, "", U1, U1, true, false, false, NULL, err, sizeof(err)),
                         0);
        expect_file(P("anchor/su"), U1, U1, 04755, NULL);
}

static void test_mkdir_symlinked_parent(void **state)
{
        (void)state;
        assert_int_equal(symlink(P("outside"), P("anchor/p")), 0);
        assert_int_equal(symlink("../outside/etc", P("anchor/q")), 0);
        assert_int_equal(op_mkdir(anchor, "p/new", 0777, U1, U1, false, err, sizeof(err)), -ELOOP);
        assert_int_equal(op_mkdir(anchor, "p/new", 0777, U1, U1, true, err, sizeof(err)), -ELOOP);
        assert_int_equal(op_mkdir(anchor, "q/new/x", 0777, U1, U1, true, err, sizeof(err)), -ELOOP);
        assert_int_equal(op_mkdir(anchor, "q", 0777, U1, U1, true, err, sizeof(err)), -EEXIST);
        assert_non_null(strstr(err, "symbolic link"));
        assert_int_equal(op_mkdir(anchor, "q", 0777, U1, U1, false, err, sizeof(err)), -EEXIST);
        /* exact mode and owner despite a hostile umask */
        umask(0777);
        assert_int_equal(op_mkdir(anchor, "m/n", 0751, U1, U2, true, err, sizeof(err)), 0);
        umask(022);
        expect_file(P("anchor/m"), U1, U2, 0751, NULL);
        expect_file(P("anchor/m/n"), U1, U2, 0751, NULL);
}

static void test_open_links(void **state)
{
        (void)state;
        int fd = -1;
        assert_int_equal(symlink(P("outside/canary"), P("anchor/sl")), 0);
        assert_int_equal(symlink("../outside/new", P("anchor/dl")), 0);
        assert_int_equal(mkfifo(P("anchor/fifo"), 0666), 0);
        assert_int_equal(op_open(anchor, "sl", O_RDONLY, 0, 0, 0, &fd, err, sizeof(err)), -ELOOP);
        assert_int_equal(op_open(anchor, "sl", O_RDWR | O_TRUNC, 0, 0, 0, &fd, err, sizeof(err)),
                         -ELOOP);
        assert_int_equal(
            op_open(anchor, "dl", O_WRONLY | O_CREAT, 0666, U1, U1, &fd, err, sizeof(err)), -ELOOP);
        assert_int_equal(
            op_open(anchor, "dl", O_WRONLY | O_CREAT | O_EXCL, 0666, U1, U1, &fd, err, sizeof(err)),
            -EEXIST);
        assert_int_equal(op_open(anchor, "fifo", O_WRONLY, 0, 0, 0, &fd, err, sizeof(err)),
                         -EOPNOTSUPP);
        umask(0777);
        assert_int_equal(op_open(anchor, "c", O_WRONLY | O_CREAT | O_APPEND, 04640, U1, U2, &fd,
                                 err, sizeof(err)),
                         0);
        umask(022);
        assert_true(fcntl(fd, F_GETFL) & O_APPEND);
        assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
        close(fd);
        expect_file(P("anchor/c"), U1, U2, 04640, "");
}

/* anchor/d/d/.../d (depth levels), each level also holding an empty "e"
 * created before or after its "d", so whatever order getdents gives, some
 * "e" is visited after the deep "d" below it: the walk must come back to
 * levels it let go of (more than OP_CHOWN_HELD_FDS) and re-open them. */
static int make_deep_at(const char *dir, int depth)
{
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        for (int i = 0; i < depth; i++) {
                if (i % 2)
                        assert_int_equal(mkdirat(fd, "e", 0755), 0);
                assert_int_equal(mkdirat(fd, "d", 0755), 0);
                if (!(i % 2))
                        assert_int_equal(mkdirat(fd, "e", 0755), 0);
                int n = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                assert_true(n >= 0);
                close(fd);
                fd = n;
        }
        return fd; /* the deepest directory */
}

static void make_deep(int depth)
{
        close(make_deep_at(anchor, depth));
}

/* Every directory of the deep tree has owner uid. */
static void expect_deep(int depth, uid_t uid)
{
        int fd = open(anchor, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        for (int i = 0; i < depth; i++) {
                struct stat d, e;
                assert_int_equal(fstatat(fd, "d", &d, AT_SYMLINK_NOFOLLOW), 0);
                assert_int_equal(fstatat(fd, "e", &e, AT_SYMLINK_NOFOLLOW), 0);
                if (d.st_uid != uid || e.st_uid != uid)
                        fail_msg("level %d: d %u, e %u, expected %u", i, (unsigned)d.st_uid,
                                 (unsigned)e.st_uid, (unsigned)uid);
                int n = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                assert_true(n >= 0);
                close(fd);
                fd = n;
        }
        close(fd);
}

/* A tree of any depth is walked (issue 11 item 6: 4,100 levels used to
 * fail with ELOOP), holding a bounded number of fds: also under an fd
 * limit far below the bound. */
static void test_deep_tree(void **state)
{
        (void)state;
        const int depth = 4100;
        make_deep(depth);
        struct op_stats st = {0};
        assert_int_equal(walk_chown(anchor, "", U1, U1, true, false, false, &st, err, sizeof(err)),
                         0);
        assert_int_equal(st.visited, 2 * depth + 1);
        assert_int_equal(st.changed, 2 * depth + 1);
        assert_int_equal(st.skipped_moved, 0);
        expect_deep(depth, U1);
        /* nothing left open */
        int probe = open("/", O_PATH | O_CLOEXEC);
        close(probe);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                struct rlimit rl = {.rlim_cur = (rlim_t)probe + 40, .rlim_max = (rlim_t)probe + 40};
                if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                        _exit(2);
                struct op_stats s2 = {0};
                int r = walk_chown(anchor, "", U2, U2, true, false, false, &s2, err, sizeof(err));
                if (r < 0)
                        fprintf(stderr, "%s\n", err);
                _exit(r == 0 && s2.changed == 2 * depth + 1 ? 0 : 3);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        expect_deep(depth, U2);
        int after = open("/", O_PATH | O_CLOEXEC);
        assert_int_equal(after, probe);
        close(after);
}

/* A level the deep walk let go of is moved away while the walk is below
 * it (from the progress callback, so exactly then): re-opening it by name
 * finds it gone, and what is below it is not walked; reported with
 * report, EAGAIN without. */
struct moved_ctx {
        bool done;
        unsigned reports;
        char path[1024], why[256];
};

static void moved_progress(void *arg, const struct op_stats *st)
{
        (void)st;
        struct moved_ctx *m = arg;
        if (!m->done) {
                m->done = true;
                assert_int_equal(rename(P("anchor/a/d"), P("anchor/a/x")), 0);
        }
}

static void moved_report(void *arg, const char *path, const char *why)
{
        struct moved_ctx *m = arg;
        m->reports++;
        snprintf(m->path, sizeof(m->path), "%s", path);
        snprintf(m->why, sizeof(m->why), "%s", why);
}

static void test_deep_moved(void **state)
{
        (void)state;
        for (int round = 0; round < 2; round++) {
                assert_int_equal(mkdir(P("anchor/a"), 0755), 0);
                int fd = make_deep_at(P("anchor/a"), 300); /* deeper than OP_CHOWN_HELD_FDS */
                for (int i = 0; i < 1100; i++) {           /* the callback fires down here */
                        char name[16];
                        snprintf(name, sizeof(name), "f%d", i);
                        int f = openat(fd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                        assert_true(f >= 0);
                        close(f);
                }
                close(fd);
                struct moved_ctx m = {0};
                struct op_stats st = {.progress = moved_progress,
                                      .report = round == 0 ? moved_report : NULL,
                                      .arg = &m};
                int r = walk_chown(anchor, "", U1, U1, true, false, false, &st, err, sizeof(err));
                assert_true(m.done);
                if (round == 0) {
                        assert_int_equal(r, 0);
                        assert_int_equal(st.skipped_moved, 1);
                        assert_int_equal(m.reports, 1);
                        if (!strstr(m.path, "anchor/a/d") || !strstr(m.why, "moved"))
                                fail_msg("reported %s: %s", m.path, m.why);
                } else {
                        assert_int_equal(r, -EAGAIN);
                        if (!strstr(err, "anchor/a/d") || !strstr(err, "moved"))
                                fail_msg("%s", err);
                }
                char cmd[256];
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", P("anchor/a"));
                assert_int_equal(system(cmd), 0);
        }
}

/* Real racers (issue 11, items 2 and 3).  A child process plays the app:
 * it exchanges names as fast as it can while the engine works, bounded in
 * time.  The canary is held by an fd, so it is checked whatever name it
 * has at the end.  Each racer prints its number of tries. */
#define RACE_SECONDS 3.0
#define RACE_TRIES   200000
/* A racer that did not race proves nothing: at least this many swaps by
 * each racer and operations the engine completed (a loaded 2-core machine
 * does thousands in RACE_SECONDS). */
#define RACE_MIN_SWAPS  20
#define RACE_MIN_SERVED 20

static double mono(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Swaps each racer made (shared with the children). */
static volatile uint64_t *race_hits;

static pid_t start_racer(void (*body)(void))
{
        if (!race_hits) {
                race_hits =
                    mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
                assert_true(race_hits != MAP_FAILED);
        }
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                body();
                _exit(0);
        }
        return pid;
}

static void stop_racer(pid_t pid)
{
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
}

static void expect_canary_fd(int fd, const char *what, unsigned long tries)
{
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        if (st.st_uid != 0 || st.st_gid != 0 || (st.st_mode & 07777) != 0700)
                fail_msg("%s: the racer won after %lu tries: canary is %u:%u %04o", what, tries,
                         (unsigned)st.st_uid, (unsigned)st.st_gid, (unsigned)(st.st_mode & 07777));
}

/* anchor/new <-> anchor/cdir, a root-owned 0700 directory; when only the
 * canary is there (the engine has not created "new" yet), put it back. */
static void mkdir_exchanger(void)
{
        for (;;) {
                if (renameat2(AT_FDCWD, P("anchor/new"), AT_FDCWD, P("anchor/cdir"),
                              RENAME_EXCHANGE) == 0)
                        race_hits[0]++;
                else
                        renameat2(AT_FDCWD, P("anchor/new"), AT_FDCWD, P("anchor/cdir"),
                                  RENAME_NOREPLACE);
        }
}

/* The staging directory op_mkdir makes beside the new one, as soon as it
 * shows up: exchanged with anchor/cdir2 (root-owned 0700 too, not empty),
 * or renamed away to a name of the racer's choosing, as the app can do in
 * a directory it may write (not to another directory: moving a directory
 * to another parent needs write permission on the directory itself).
 * When the canary itself carries a staging name, it goes back to cdir2. */
static void stage_exchanger(void)
{
        int dfd = open(anchor, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct stat c2;
        if (dfd < 0 || fstatat(dfd, "cdir2", &c2, AT_SYMLINK_NOFOLLOW) < 0)
                _exit(1);
        char buf[4096], away[32];
        for (unsigned long n = 0;; n++) {
                lseek(dfd, 0, SEEK_SET);
                ssize_t len = getdents64(dfd, buf, sizeof(buf));
                for (ssize_t off = 0; off < len;) {
                        struct dirent64 *d = (struct dirent64 *)(buf + off);
                        off += d->d_reclen;
                        if (strncmp(d->d_name, ".stepdown-mkdir.", 16) != 0)
                                continue;
                        if (d->d_ino == c2.st_ino) {
                                renameat2(dfd, d->d_name, dfd, "cdir2", RENAME_EXCHANGE);
                                continue;
                        }
                        snprintf(away, sizeof(away), "away.%lu", n % 4);
                        if (renameat2(dfd, d->d_name, dfd, n % 2 ? "cdir2" : away,
                                      n % 2 ? RENAME_EXCHANGE : RENAME_NOREPLACE) == 0)
                                race_hits[1]++;
                }
        }
}

/* Entries of the anchor that are root's bookkeeping left behind: a
 * staging name or an empty root-owned 0700 directory, other than the two
 * canaries (which the racers may have left under any name). */
static unsigned long count_litter(int cfd, int c2fd)
{
        struct stat c, c2;
        assert_int_equal(fstat(cfd, &c), 0);
        assert_int_equal(fstat(c2fd, &c2), 0);
        DIR *d = opendir(anchor);
        assert_non_null(d);
        unsigned long n = 0;
        for (struct dirent *e; (e = readdir(d));) {
                struct stat st;
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
                    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    st.st_ino == c.st_ino || st.st_ino == c2.st_ino)
                        continue;
                if (strncmp(e->d_name, ".stepdown-mkdir.", 16) == 0 ||
                    (S_ISDIR(st.st_mode) && st.st_uid == 0 && (st.st_mode & 07777) == 0700)) {
                        if (n < 8)
                                printf("left behind: %s (%u:%u %04o)\n", e->d_name,
                                       (unsigned)st.st_uid, (unsigned)st.st_gid,
                                       (unsigned)(st.st_mode & 07777));
                        n++;
                }
        }
        closedir(d);
        return n;
}

static void test_race_mkdir_exchange(void **state)
{
        (void)state;
        assert_int_equal(mkdir(P("anchor/cdir"), 0700), 0);
        write_file(P("anchor/cdir/secret"), "canary\n", 0600);
        assert_int_equal(mkdir(P("anchor/cdir2"), 0700), 0);
        write_file(P("anchor/cdir2/secret"), "canary\n", 0600);
        int cfd = open(P("anchor/cdir"), O_PATH | O_DIRECTORY | O_CLOEXEC);
        int sfd = open(P("anchor/cdir/secret"), O_PATH | O_CLOEXEC);
        int c2fd = open(P("anchor/cdir2"), O_PATH | O_DIRECTORY | O_CLOEXEC);
        assert_true(cfd >= 0 && sfd >= 0 && c2fd >= 0);
        pid_t pid = start_racer(mkdir_exchanger);
        pid_t pid2 = start_racer(stage_exchanger);
        race_hits[0] = race_hits[1] = 0;
        unsigned long tries = 0, made = 0;
        double t0 = mono();
        while (tries < RACE_TRIES && mono() - t0 < RACE_SECONDS) {
                tries++;
                /* alternate the plain and the mkdir -p path */
                if (op_mkdir(anchor, "new", 0777, U1, U1, tries % 2, err, sizeof(err)) == 0)
                        made++;
                expect_canary_fd(cfd, "mkdir exchange", tries);
                expect_canary_fd(c2fd, "mkdir staging exchange", tries);
                /* the empty one is ours: remove it under whichever name */
                if (unlinkat(AT_FDCWD, P("anchor/new"), AT_REMOVEDIR) < 0)
                        unlinkat(AT_FDCWD, P("anchor/cdir"), AT_REMOVEDIR);
        }
        stop_racer(pid);
        stop_racer(pid2);
        unsigned long litter = count_litter(cfd, c2fd);
        printf("mkdir exchange racers: %lu tries (%lu directories made) in %.1fs, %lu exchanges "
               "of the new name and %lu swaps of a staging name, no win, %lu staging "
               "directories left behind\n",
               tries, made, mono() - t0, (unsigned long)race_hits[0], (unsigned long)race_hits[1],
               litter);
        /* it raced: both racers swapped, and the engine still made some */
        assert_true(race_hits[0] >= RACE_MIN_SWAPS);
        assert_true(race_hits[1] >= RACE_MIN_SWAPS / 2); /* a staging name lives briefly */
        assert_true(made >= RACE_MIN_SERVED);
        if (litter)
                fail_msg("mkdir staging: %lu of root's staging directories left in the app's "
                         "directory after %lu tries",
                         litter, tries);
        assert_int_equal(fstat(c2fd, &(struct stat){0}), 0);
        close(c2fd);
        struct stat st;
        assert_int_equal(fstat(sfd, &st), 0);
        assert_int_equal(st.st_uid, 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        close(cfd);
        close(sfd);
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", anchor);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(mkdir(anchor, 0755), 0);
}

/* The staging directories of this process in the anchor: root's
 * .stepdown-mkdir.* directories and root's empty 0700 directories other
 * than the canary (by inode).  *ino gets the last one's inode. */
static int count_stages(const struct stat *canary, ino_t *ino)
{
        DIR *d = opendir(anchor);
        assert_non_null(d);
        int n = 0;
        for (struct dirent *e; (e = readdir(d));) {
                struct stat st;
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
                    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    (canary && st.st_ino == canary->st_ino) || st.st_uid != 0 ||
                    !S_ISDIR(st.st_mode))
                        continue;
                if (strncmp(e->d_name, ".stepdown-mkdir.", 16) == 0 ||
                    (st.st_mode & 07777) == 0700) {
                        n++;
                        if (ino)
                                *ino = st.st_ino;
                }
        }
        closedir(d);
        return n;
}

/* A default ACL (posix_acl_xattr, version 2): owner rwx, user U2 rwx,
 * group r-x, mask rwx, other r-x. */
static size_t acl_blob(uint8_t *b)
{
        static const struct {
                uint16_t tag, perm;
                uint32_t id;
        } e[] = {{0x01, 7, (uint32_t)-1},
                 {0x02, 7, U2},
                 {0x04, 5, (uint32_t)-1},
                 {0x10, 7, (uint32_t)-1},
                 {0x20, 5, (uint32_t)-1}};
        uint32_t version = 2;
        memcpy(b, &version, 4);
        memcpy(b + 4, e, sizeof(e));
        return 4 + sizeof(e);
}

/* Kept staging directories (op_mkdir_keep_stages): one per anchor,
 * reused; a directory made through it inherits what the anchor passes on
 * now (set-gid group, default ACL), not what it passed on when the staging
 * directory was made; the app removing or renaming it costs a new one;
 * turning keeping off removes it under whatever name it has; a process
 * killed with one kept leaves it for the start-time sweep; below the
 * anchor (mkdir -p's deeper levels, a nested target) nothing is kept. */
static void test_mkdir_kept_stage(void **state)
{
        (void)state;
        ino_t ino = 0, ino2 = 0;
        op_mkdir_keep_stages(true);
        assert_int_equal(op_mkdir(anchor, "a", 0750, U1, U1, false, err, sizeof(err)), 0);
        expect_file(P("anchor/a"), U1, U1, 0750, NULL);
        assert_int_equal(count_stages(NULL, &ino), 1);
        assert_int_equal(op_mkdir(anchor, "b", 02770, U2, U1, false, err, sizeof(err)), 0);
        expect_file(P("anchor/b"), U2, U1, 02770, NULL);
        assert_int_equal(count_entries(P("anchor/b")), 0);
        assert_int_equal(count_stages(NULL, &ino2), 1);
        assert_int_equal(ino2, ino); /* reused */
        /* deeper levels and nested targets: one-shot, nothing stays there */
        assert_int_equal(op_mkdir(anchor, "p/q/r", 0755, U1, U1, true, err, sizeof(err)), 0);
        assert_int_equal(op_mkdir(anchor, "a/x", 0700, U1, U1, false, err, sizeof(err)), 0);
        assert_int_equal(count_entries(P("anchor/p")), 1);
        assert_int_equal(count_entries(P("anchor/a")), 1);
        assert_int_equal(count_stages(NULL, &ino2), 1);
        assert_int_equal(ino2, ino);

        /* the anchor becomes set-gid U2: the group follows at once */
        assert_int_equal(chown(anchor, 0, U2), 0);
        assert_int_equal(chmod(anchor, 02755), 0);
        assert_int_equal(op_mkdir(anchor, "g", 0750, U1, (gid_t)-1, false, err, sizeof(err)), 0);
        expect_file(P("anchor/g"), U1, U2, 0750, NULL);
        assert_int_equal(count_stages(NULL, &ino2), 1);
        assert_true(ino2 != ino); /* made anew */
        assert_int_equal(chmod(anchor, 0755), 0);
        assert_int_equal(op_mkdir(anchor, "h", 0750, U1, (gid_t)-1, false, err, sizeof(err)), 0);
        expect_file(P("anchor/h"), U1, 0, 0750, NULL);

        /* a default ACL set on the anchor is inherited at once, and
         * removed, no longer */
        uint8_t acl[64], got[64];
        size_t len = acl_blob(acl);
        if (setxattr(anchor, "system.posix_acl_default", acl, len, 0) == 0) {
                assert_int_equal(op_mkdir(anchor, "c", 0750, U1, U1, false, err, sizeof(err)), 0);
                assert_int_equal(
                    getxattr(P("anchor/c"), "system.posix_acl_default", got, sizeof(got)),
                    (ssize_t)len);
                assert_memory_equal(got, acl, len);
                expect_file(P("anchor/c"), U1, U1, 0750, NULL);
                assert_int_equal(removexattr(anchor, "system.posix_acl_default"), 0);
                assert_int_equal(op_mkdir(anchor, "e", 0750, U1, U1, false, err, sizeof(err)), 0);
                assert_int_equal(
                    getxattr(P("anchor/e"), "system.posix_acl_default", got, sizeof(got)), -1);
                assert_int_equal(errno, ENODATA);
        } else {
                printf("no POSIX ACLs on this tmpfs (%s): the ACL half is not played\n",
                       strerror(errno));
        }

        /* the app removes it, or renames it: a new one, then keeping off
         * removes the renamed one too */
        assert_int_equal(count_stages(NULL, &ino), 1);
        DIR *d = opendir(anchor);
        assert_non_null(d);
        for (struct dirent *e; (e = readdir(d));)
                if (strncmp(e->d_name, ".stepdown-mkdir.", 16) == 0)
                        assert_int_equal(unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR), 0);
        closedir(d);
        assert_int_equal(op_mkdir(anchor, "f", 0700, U1, U1, false, err, sizeof(err)), 0);
        expect_file(P("anchor/f"), U1, U1, 0700, NULL);
        assert_int_equal(count_stages(NULL, &ino), 1);
        d = opendir(anchor);
        assert_non_null(d);
        for (struct dirent *e; (e = readdir(d));)
                if (strncmp(e->d_name, ".stepdown-mkdir.", 16) == 0)
                        assert_int_equal(renameat(dirfd(d), e->d_name, dirfd(d), "moved"), 0);
        closedir(d);
        op_mkdir_keep_stages(false);
        assert_int_equal(count_stages(NULL, NULL), 0);
        assert_int_equal(access(P("anchor/moved"), F_OK), -1);

        /* killed while keeping one: the sweep at the next start removes it
         * (without counting it: a broker killed at the end of its
         * container always leaves its kept ones) */
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                op_mkdir_keep_stages(true);
                _exit(op_mkdir(anchor, "k", 0700, U1, U1, false, err, sizeof(err)) == 0 ? 0 : 1);
        }
        int wst;
        assert_int_equal(waitpid(pid, &wst, 0), pid);
        assert_true(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
        assert_int_equal(count_stages(NULL, NULL), 1);
        unsigned removed = 99;
        assert_int_equal(op_mkdir_sweep(anchor, &removed, err, sizeof(err)), 0);
        assert_int_equal(removed, 0);
        assert_int_equal(count_stages(NULL, NULL), 0);
}

/* The kept staging directory's short way (issue 21 item 3): no umask(2)
 * around the mkdir, no chown where the owner is already right, no stat of
 * the name before a plain mkdir.  Whatever the process's umask, the
 * directory made and the staging directory come out exactly as asked; a
 * name that is a file or a symlink is refused as existing, with nothing
 * followed, changed or left in the staging directory; an owner that is
 * already right and one that is not both end as asked. */
static void test_mkdir_kept_short_way(void **state)
{
        (void)state;
        op_mkdir_keep_stages(true);
        mode_t old = umask(0777);
        int r = op_mkdir(anchor, "u", 02775, U1, U2, false, err, sizeof(err));
        umask(old);
        assert_int_equal(r, 0);
        expect_file(P("anchor/u"), U1, U2, 02775, NULL);
        DIR *d = opendir(anchor);
        assert_non_null(d);
        char stage[PATH_MAX + NAME_MAX + 2] = "";
        for (struct dirent *e; (e = readdir(d));)
                if (strncmp(e->d_name, ".stepdown-mkdir.", 16) == 0)
                        snprintf(stage, sizeof(stage), "%s/%s", anchor, e->d_name);
        closedir(d);
        assert_true(stage[0]);
        expect_file(stage, 0, 0, 0700, NULL);

        write_file(P("anchor/f"), "app\n", 0640);
        assert_int_equal(symlink("../outside/etc", P("anchor/l")), 0);
        assert_int_equal(op_mkdir(anchor, "f", 0777, U1, U1, false, err, sizeof(err)), -EEXIST);
        assert_int_equal(op_mkdir(anchor, "l", 0777, U1, U1, false, err, sizeof(err)), -EEXIST);
        assert_non_null(strstr(err, "symbolic link"));
        expect_file(P("anchor/f"), 0, 0, 0640, "app\n");
        expect_file(P("outside/etc"), 0, 0, 0755, NULL);
        assert_int_equal(count_entries(stage), 0);

        /* root's own, already right (no chown); then the caller's */
        assert_int_equal(op_mkdir(anchor, "r", 0711, 0, 0, false, err, sizeof(err)), 0);
        expect_file(P("anchor/r"), 0, 0, 0711, NULL);
        assert_int_equal(op_mkdir(anchor, "s", 0750, U2, U2, false, err, sizeof(err)), 0);
        expect_file(P("anchor/s"), U2, U2, 0750, NULL);
        assert_int_equal(count_entries(stage), 0);
        op_mkdir_keep_stages(false);
        assert_int_equal(count_stages(NULL, NULL), 0);
}

/* The app (uid U1, owning the anchor) against the kept staging directory
 * root reuses between requests: it exchanges it with cdir2 (root's 0700
 * directory with a secret), replaces it with a directory of its own that
 * holds a symlink "d" to outside/etc (what a root acting by name would
 * then chown), removes it, renames it away, and tries to plant a
 * directory, a symlink and a hard link inside it.  Nothing may be planted,
 * the canaries and everything outside stay as they were, every directory
 * made is empty and as asked, and keeping off leaves nothing of root's. */
static void kept_stage_racer(void)
{
        if (setgroups(0, NULL) < 0 || setresgid(U1, U1, U1) < 0 || setresuid(U1, U1, U1) < 0)
                _exit(1);
        int dfd = open(anchor, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct stat c2;
        if (dfd < 0 || fstatat(dfd, "cdir2", &c2, AT_SYMLINK_NOFOLLOW) < 0)
                _exit(1);
        char buf[4096], in[300], away[32];
        for (unsigned long n = 0;; n++) {
                lseek(dfd, 0, SEEK_SET);
                ssize_t len = getdents64(dfd, buf, sizeof(buf));
                for (ssize_t off = 0; off < len;) {
                        struct dirent64 *e = (struct dirent64 *)(buf + off);
                        off += e->d_reclen;
                        /* root's directories under any name (the staging
                         * directory once renamed away too), not its own */
                        struct stat st;
                        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
                            fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                            !S_ISDIR(st.st_mode) || st.st_uid != 0)
                                continue;
                        if (e->d_ino == c2.st_ino) { /* the canary: back to its name */
                                if (strcmp(e->d_name, "cdir2") != 0)
                                        renameat2(dfd, e->d_name, dfd, "cdir2", RENAME_EXCHANGE);
                                continue;
                        }
                        snprintf(in, sizeof(in), "%s/d", e->d_name);
                        race_hits[4]++;
                        if (mkdirat(dfd, in, 0777) == 0 ||
                            symlinkat("../../outside/etc", dfd, in) == 0 ||
                            linkat(dfd, "mine/f", dfd, in, 0) == 0)
                                race_hits[5]++; /* planted: must never happen */
                        switch (n % 4) {
                        case 0:
                                if (renameat2(dfd, e->d_name, dfd, "cdir2", RENAME_EXCHANGE) == 0)
                                        race_hits[3]++;
                                break;
                        case 1: /* its own directory, with a trap, over it */
                                mkdirat(dfd, "trap", 0777);
                                if (symlinkat("../../outside/etc", dfd, "trap/d") < 0 &&
                                    errno != EEXIST)
                                        break;
                                if (renameat(dfd, "trap", dfd, e->d_name) == 0)
                                        race_hits[3]++;
                                break;
                        case 2:
                                if (unlinkat(dfd, e->d_name, AT_REMOVEDIR) == 0)
                                        race_hits[3]++;
                                break;
                        default:
                                snprintf(away, sizeof(away), "away.%lu", n % 8);
                                if (renameat2(dfd, e->d_name, dfd, away, RENAME_NOREPLACE) == 0)
                                        race_hits[3]++;
                        }
                }
        }
}

static void test_race_mkdir_kept_stage(void **state)
{
        (void)state;
        assert_int_equal(chown(anchor, U1, U1), 0);
        assert_int_equal(mkdir(P("anchor/cdir2"), 0700), 0);
        write_file(P("anchor/cdir2/secret"), "canary\n", 0600);
        assert_int_equal(mkdir(P("anchor/mine"), 0755), 0);
        write_file(P("anchor/mine/f"), "app\n", 0644);
        assert_int_equal(chown(P("anchor/mine"), U1, U1), 0);
        assert_int_equal(chown(P("anchor/mine/f"), U1, U1), 0);
        int c2fd = open(P("anchor/cdir2"), O_PATH | O_DIRECTORY | O_CLOEXEC);
        int secfd = open(P("anchor/cdir2/secret"), O_PATH | O_CLOEXEC);
        int etcfd = open(P("outside/etc"), O_PATH | O_DIRECTORY | O_CLOEXEC);
        assert_true(c2fd >= 0 && secfd >= 0 && etcfd >= 0);
        op_mkdir_keep_stages(true);
        pid_t pid = start_racer(kept_stage_racer);
        race_hits[3] = race_hits[4] = race_hits[5] = 0;
        unsigned long tries = 0, made = 0;
        double t0 = mono();
        while (tries < RACE_TRIES && mono() - t0 < RACE_SECONDS) {
                tries++;
                if (op_mkdir(anchor, "new", 0777, U1, U1, tries % 2, err, sizeof(err)) == 0) {
                        made++;
                        expect_file(P("anchor/new"), U1, U1, 0777, NULL);
                        if (count_entries(P("anchor/new")) != 0)
                                fail_msg("kept staging: a made directory is not empty after %lu "
                                         "tries",
                                         tries);
                        assert_int_equal(rmdir(P("anchor/new")), 0);
                }
                expect_canary_fd(c2fd, "kept staging exchange", tries);
                struct stat st;
                assert_int_equal(fstat(etcfd, &st), 0);
                if (st.st_uid != 0 || st.st_gid != 0 || (st.st_mode & 07777) != 0755)
                        fail_msg("kept staging: outside/etc is %u:%u %04o after %lu tries",
                                 (unsigned)st.st_uid, (unsigned)st.st_gid,
                                 (unsigned)(st.st_mode & 07777), tries);
        }
        stop_racer(pid);
        op_mkdir_keep_stages(false);
        struct stat c2;
        assert_int_equal(fstat(c2fd, &c2), 0);
        int left = count_stages(&c2, NULL);
        printf("kept staging racer: %lu tries (%lu directories made) in %.1fs, %lu swaps, "
               "removals or renames of the staging directory, %lu plant attempts, %lu planted, "
               "%d of root's directories left behind\n",
               tries, made, mono() - t0, (unsigned long)race_hits[3], (unsigned long)race_hits[4],
               (unsigned long)race_hits[5], left);
        assert_int_equal(race_hits[5], 0);
        assert_true(race_hits[3] >= RACE_MIN_SWAPS);
        assert_true(race_hits[4] >= RACE_MIN_SWAPS);
        assert_true(made >= RACE_MIN_SERVED);
        if (left)
                fail_msg("kept staging: %d of root's directories left in the app's directory",
                         left);
        struct stat st;
        assert_int_equal(fstat(secfd, &st), 0);
        assert_int_equal(st.st_uid, 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        close(c2fd);
        close(secfd);
        close(etcfd);
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", anchor);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(mkdir(anchor, 0755), 0);
}

/* anchor/t/f5 (a file the walk checks, needing a change) <-> base/hl, a
 * hard link to outside/etc/shadow that is not in the tree. */
static void chown_link_swapper(void)
{
        for (;;)
                if (renameat2(AT_FDCWD, P("anchor/t/f5"), AT_FDCWD, P("hl"), RENAME_EXCHANGE) == 0)
                        race_hits[2]++;
}

static void test_race_chown_hardlink(void **state)
{
        (void)state;
        assert_int_equal(mkdir(P("anchor/t"), 0755), 0);
        for (int i = 0; i < 10; i++)
                write_file(P("anchor/t/f%d", i), "f\n", 0644);
        assert_int_equal(link(P("outside/etc/shadow"), P("hl")), 0);
        int cfd = open(P("outside/etc/shadow"), O_PATH | O_CLOEXEC);
        assert_true(cfd >= 0);
        pid_t pid = start_racer(chown_link_swapper);
        race_hits[2] = 0;
        unsigned long tries = 0, done = 0;
        double t0 = mono();
        while (tries < RACE_TRIES && mono() - t0 < RACE_SECONDS) {
                tries++;
                uid_t u = tries % 2 ? U1 : U2;
                struct op_stats st = {0};
                if (walk_chown(anchor, "", u, u, true, false, false, &st, err, sizeof(err)) == 0)
                        done++;
                struct stat cs;
                assert_int_equal(fstat(cfd, &cs), 0);
                if (cs.st_uid != 0 || cs.st_gid != 0 || (cs.st_mode & 07777) != 0640)
                        fail_msg("chown hard-link swap: the racer won after %lu tries: "
                                 "shadow is %u:%u %04o",
                                 tries, (unsigned)cs.st_uid, (unsigned)cs.st_gid,
                                 (unsigned)(cs.st_mode & 07777));
        }
        stop_racer(pid);
        printf("chown hard-link racer: %lu tries (%lu walks completed) in %.1fs, %lu swaps, no "
               "win\n",
               tries, done, mono() - t0, (unsigned long)race_hits[2]);
        assert_true(race_hits[2] >= RACE_MIN_SWAPS);
        assert_true(done >= RACE_MIN_SERVED);
        close(cfd);
        /* put the link back where check_canaries does not count it */
        unlink(P("hl"));
        unlink(P("anchor/t/f5"));
}

/* The start-time sweep (issue 17, item 7) removes what a broker killed
 * mid-mkdir left, and only that: root's empty 0700 directories named like
 * a staging directory; never the app's, a non-empty one, another mode, a
 * symlink or a file of that name, nor anything below the directory. */
static void test_mkdir_sweep(void **state)
{
        (void)state;
        const char *stale[] = {"anchor/.stepdown-mkdir.0123456789abcdef",
                               "anchor/.stepdown-mkdir.x"};
        for (size_t i = 0; i < 2; i++)
                assert_int_equal(mkdir(P("%s", stale[i]), 0700), 0);
        assert_int_equal(mkdir(P("anchor/.stepdown-mkdir.app"), 0700), 0);
        assert_int_equal(chown(P("anchor/.stepdown-mkdir.app"), U1, U1), 0);
        assert_int_equal(mkdir(P("anchor/.stepdown-mkdir.full"), 0700), 0);
        write_file(P("anchor/.stepdown-mkdir.full/f"), "f\n", 0600);
        assert_int_equal(mkdir(P("anchor/.stepdown-mkdir.open"), 0755), 0);
        assert_int_equal(mkdir(P("anchor/.stepdown-mkdir.sub"), 0700), 0);
        assert_int_equal(mkdir(P("anchor/.stepdown-mkdir.sub/.stepdown-mkdir.deep"), 0700), 0);
        assert_int_equal(symlink("../outside", P("anchor/.stepdown-mkdir.link")), 0);
        write_file(P("anchor/.stepdown-mkdir.file"), "f\n", 0600);
        assert_int_equal(mkdir(P("anchor/keep"), 0700), 0);
        unsigned removed = 99;
        assert_int_equal(op_mkdir_sweep(anchor, &removed, err, sizeof(err)), 0);
        assert_int_equal(removed, 2);
        for (size_t i = 0; i < 2; i++)
                assert_int_equal(access(P("%s", stale[i]), F_OK), -1);
        expect_file(P("anchor/.stepdown-mkdir.app"), U1, U1, 0700, NULL);
        expect_file(P("anchor/.stepdown-mkdir.full/f"), 0, 0, 0600, "f\n");
        expect_file(P("anchor/.stepdown-mkdir.open"), 0, 0, 0755, NULL);
        expect_file(P("anchor/.stepdown-mkdir.sub/.stepdown-mkdir.deep"), 0, 0, 0700, NULL);
        expect_file(P("anchor/.stepdown-mkdir.file"), 0, 0, 0600, "f\n");
        expect_file(P("anchor/keep"), 0, 0, 0700, NULL);
        assert_int_equal(count_entries(anchor), 7);
        /* a symlinked directory is not swept through */
        assert_int_equal(symlink("anchor", P("alink")), 0);
        assert_int_equal(op_mkdir_sweep(P("alink"), &removed, err, sizeof(err)), -ELOOP);
        assert_non_null(strstr(err, "sweep "));
        assert_int_equal(unlink(P("alink")), 0);
}

/* Without CAP_CHOWN the error names the capability and the fix. */
static void test_missing_cap(void **state)
{
        (void)state;
        write_file(P("anchor/f"), "f\n", 0644);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
                struct __user_cap_data_struct d[2];
                if (syscall(SYS_capget, &h, d) < 0)
                        _exit(2);
                d[0].effective &= ~(1u << CAP_CHOWN);
                if (syscall(SYS_capset, &h, d) < 0)
                        _exit(3);
                int r = walk_chown(anchor, "", U1, U1, true, false, false, NULL, err, sizeof(err));
                _exit(r == -EPERM && strstr(err, "CAP_CHOWN") && strstr(err, "cap_add: [CHOWN]")
                          ? 0
                          : 4);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        expect_file(P("anchor/f"), 0, 0, 0644, NULL);
}

/* resolve_beneath itself: each refusal names the component. */
static void test_resolve(void **state)
{
        (void)state;
        make_tree();
        int afd = -1, fd = -1;
        assert_int_equal(resolve_anchor(anchor, &afd, err, sizeof(err)), 0);
        assert_int_equal(resolve_beneath(afd, "a/b/c/file", O_RDONLY, 0, 0, &fd, err, sizeof(err)),
                         0);
        close(fd);
        assert_int_equal(resolve_beneath(afd, "", O_PATH, 0, 0, &fd, err, sizeof(err)), 0);
        close(fd);
        assert_int_equal(rename(P("anchor/a/b"), P("anchor/a/b.real")), 0);
        assert_int_equal(symlink("b.real", P("anchor/a/b")), 0);
        assert_int_equal(resolve_beneath(afd, "a/b/c/file", O_RDONLY, 0, 0, &fd, err, sizeof(err)),
                         -ELOOP);
        assert_non_null(strstr(err, "\"b\" is a symbolic link"));
        assert_int_equal(resolve_beneath(afd, "a/b", O_PATH, 0, 0, &fd, err, sizeof(err)), -ELOOP);
        assert_int_equal(
            resolve_beneath(afd, "a/b.real/c/file/x", O_PATH, 0, 0, &fd, err, sizeof(err)),
            -ENOTDIR);
        assert_int_equal(resolve_beneath(afd, "a/nope/x", O_PATH, 0, 0, &fd, err, sizeof(err)),
                         -ENOENT);
        assert_int_equal(resolve_beneath(afd, "a/b.real/c/new", O_WRONLY | O_CREAT | O_EXCL, 0600,
                                         0, &fd, err, sizeof(err)),
                         0);
        close(fd);
        assert_int_equal(mount("tmpfs", P("anchor/a/b.real"), "tmpfs", 0, NULL), 0);
        assert_int_equal(resolve_beneath(afd, "a/b.real", O_PATH, 0, 0, &fd, err, sizeof(err)),
                         -EXDEV);
        assert_int_equal(
            resolve_beneath(afd, "a/b.real", O_PATH, 0, RESOLVE_F_XDEV, &fd, err, sizeof(err)), 0);
        close(fd);
        assert_int_equal(umount2(P("anchor/a/b.real"), 0), 0);
        close(afd);
        assert_int_equal(resolve_anchor(P("anchor/a/b/c"), &afd, err, sizeof(err)), -ELOOP);
        assert_int_equal(resolve_anchor(P("anchor/a/b.real/c/file"), &afd, err, sizeof(err)),
                         -ENOTDIR);
}

/* The parallel walk (issue 21 item 1): the same counts, reports and
 * owners whatever the thread count, max_visited exact, progress at the
 * same counts, the first error the one returned. */
struct par_ctx {
        unsigned reports, progress;
        uint64_t at[8];
};

static void par_report(void *arg, const char *path, const char *why)
{
        struct par_ctx *c = arg;
        (void)why;
        const char *name = strrchr(path, '/');
        if (!name || (strcmp(name, "/hl") != 0 && strcmp(name, "/f0") != 0))
                fail_msg("reported %s", path);
        c->reports++; /* called one at a time: no lock */
}

static void par_progress(void *arg, const struct op_stats *st)
{
        struct par_ctx *c = arg;
        if (c->progress < 8)
                c->at[c->progress] = st->visited;
        c->progress++;
}

/* entries of the tree below anchor (anchor included) owned by uid:uid */
static unsigned long owned_by(const char *dir, uid_t uid)
{
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "find '%s' -uid %u -gid %u | wc -l", dir, (unsigned)uid,
                 (unsigned)uid);
        FILE *f = popen(cmd, "r");
        assert_non_null(f);
        unsigned long n = 0;
        assert_int_equal(fscanf(f, "%lu", &n), 1);
        pclose(f);
        return n;
}

/* fds open in this process (the caller's table) */
static int open_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        assert_non_null(d);
        int n = 0;
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

static void test_parallel_walk(void **state)
{
        (void)state;
        /* 20 x 4 directories of 40 files, 5 symlinks and a hard-linked
         * pair each: 20 * (1 + 4 * 47) + 1 = 3781 entries */
        for (int d = 0; d < 20; d++) {
                assert_int_equal(mkdir(P("anchor/d%d", d), 0755), 0);
                for (int s = 0; s < 4; s++) {
                        assert_int_equal(mkdir(P("anchor/d%d/s%d", d, s), 0755), 0);
                        for (int f = 0; f < 40; f++)
                                write_file(P("anchor/d%d/s%d/f%d", d, s, f), "", 0644);
                        for (int l = 0; l < 5; l++)
                                assert_int_equal(symlink("/etc", P("anchor/d%d/s%d/l%d", d, s, l)),
                                                 0);
                        assert_int_equal(
                            link(P("anchor/d%d/s%d/f0", d, s), P("anchor/d%d/s%d/hl", d, s)), 0);
                }
        }
        const uint64_t total = 20 * (1 + 4 * 47) + 1;
        static const unsigned threads[] = {1, 2, 3, 8, 1};
        int fds = open_fds();
        uint64_t handed = 0;
        for (size_t i = 0; i < sizeof(threads) / sizeof(threads[0]); i++) {
                uid_t u = i % 2 ? U1 : U2;
                struct par_ctx c = {0};
                struct op_stats st = {.report = par_report,
                                      .progress = par_progress,
                                      .arg = &c,
                                      .threads = threads[i]};
                assert_int_equal(
                    op_chown(anchor, "", u, u, true, false, false, &st, err, sizeof(err)), 0);
                /* directories handed over had their fds passed between
                 * the walkers' own tables; none is left open in the
                 * caller's */
                if (threads[i] == 1)
                        assert_int_equal(st.handed, 0);
                handed += st.handed;
                assert_int_equal(open_fds(), fds);
                assert_int_equal(st.visited, total);
                assert_int_equal(st.changed, total - 2 * 80);
                assert_int_equal(st.skipped_hardlinks, 2 * 80);
                assert_int_equal(c.reports, 2 * 80);
                assert_int_equal(owned_by(anchor, u), total - 2 * 80);
                /* progress at 1024, 2048 and 3072 entries, in any order */
                assert_int_equal(c.progress, 3);
                assert_int_equal(c.at[0] + c.at[1] + c.at[2], 1024 * 6);
                for (int k = 0; k < 3; k++)
                        assert_int_equal(c.at[k] % 1024, 0);
        }
        /* Whether a walker waits while another still has directories to
         * hand over is up to the scheduler (a loaded machine may run the
         * first walker through before the others start): walk again until
         * one was handed over */
        for (int i = 0; handed == 0 && i < 50; i++) {
                uid_t u = i % 2 ? U1 : U2;
                struct op_stats st = {
                    .report = par_report, .arg = &(struct par_ctx){0}, .threads = 8};
                assert_int_equal(
                    op_chown(anchor, "", u, u, true, false, false, &st, err, sizeof(err)), 0);
                assert_int_equal(st.changed, total - 2 * 80);
                assert_int_equal(owned_by(anchor, u), total - 2 * 80);
                assert_int_equal(open_fds(), fds);
                handed += st.handed;
        }
        assert_true(handed > 0);
        /* max_visited: exactly that many looked at, whatever the threads;
         * what was changed is what the count says */
        for (size_t i = 0; i < 4; i++) {
                uid_t u = 2000 + (uid_t)i;
                struct op_stats st = {.max_visited = 500,
                                      .threads = threads[i],
                                      .report = par_report,
                                      .arg = &(struct par_ctx){0}};
                assert_int_equal(
                    op_chown(anchor, "", u, u, true, false, false, &st, err, sizeof(err)), -E2BIG);
                assert_non_null(strstr(err, "more entries than one request may walk"));
                assert_int_equal(st.visited, 500);
                assert_true(st.changed <= 500);
                assert_int_equal(owned_by(anchor, u), st.changed);
        }
        /* the first error is the one returned, with its path; the walk
         * stops (a hard link without report fails it) */
        for (size_t i = 0; i < 4; i++) {
                struct op_stats st = {.threads = threads[i]};
                assert_int_equal(
                    op_chown(anchor, "", U1, U1, true, false, false, &st, err, sizeof(err)),
                    -EMLINK);
                if ((!strstr(err, "/hl: ") && !strstr(err, "/f0: ")) ||
                    !strstr(err, ": regular file has 2 hard links; another name may be outside"))
                        fail_msg("%s", err);
                assert_true(st.visited < total);
        }
}

/* In a child: a seccomp filter that makes nr fail with EPERM (what a
 * container engine's profile does), then a walk of the tree by 4 threads.
 * Exit status: 0 when every entry got the owner and directories were
 * handed over, else the line that failed. */
static int walk_refused(long nr, uid_t u, unsigned long total)
{
        struct sock_filter f[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
                    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
                        _exit(__LINE__ % 250 + 1);
                if (syscall(nr, 0, 0, 0, 0) == 0 || errno != EPERM) /* the filter works */
                        _exit(__LINE__ % 250 + 1);
                /* walked until a directory was handed over (up to the
                 * scheduler: see test_parallel_walk), ending with owner u */
                uint64_t handed = 0;
                for (int i = 0; i < 50 && (handed == 0 || i % 2 == 0); i++) {
                        struct op_stats st = {.threads = 4};
                        uid_t to = i % 2 ? u + 100 : u;
                        if (op_chown(anchor, "", to, to, true, false, true, &st, err, sizeof(err)) <
                            0) {
                                fprintf(stderr, "%s\n", err);
                                _exit(__LINE__ % 250 + 1);
                        }
                        if (st.changed != total)
                                _exit(__LINE__ % 250 + 1);
                        handed += st.handed;
                }
                _exit(handed > 0 ? 0 : __LINE__ % 250 + 1);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

/* Where a container engine's seccomp profile refuses unshare (Docker's
 * default does without CAP_SYS_ADMIN), or socketpair, the walkers share
 * one fd table, which works the same. */
static void test_parallel_walk_refused(void **state)
{
        (void)state;
        for (int d = 0; d < 10; d++) {
                assert_int_equal(mkdir(P("anchor/d%d", d), 0755), 0);
                for (int s = 0; s < 3; s++) {
                        assert_int_equal(mkdir(P("anchor/d%d/s%d", d, s), 0755), 0);
                        for (int f = 0; f < 10; f++)
                                write_file(P("anchor/d%d/s%d/f%d", d, s, f), "", 0644);
                }
        }
        const unsigned long total = 10 * (1 + 3 * 11) + 1;
        assert_int_equal(walk_refused(SYS_unshare, U1, total), 0);
        assert_int_equal(owned_by(anchor, U1), total);
        assert_int_equal(walk_refused(SYS_socketpair, U2, total), 0);
        assert_int_equal(owned_by(anchor, U2), total);
}

/* STEPDOWN_CHOWN_THREADS sets the default thread count; a bad value is
 * ignored (the online CPUs up to 8). */
static void test_chown_threads_env(void **state)
{
        (void)state;
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        unsigned def = cpus < 1 ? 1 : cpus > 8 ? 8 : (unsigned)cpus;
        unsetenv("STEPDOWN_CHOWN_THREADS");
        assert_int_equal(op_chown_threads(), def);
        setenv("STEPDOWN_CHOWN_THREADS", "3", 1);
        assert_int_equal(op_chown_threads(), 3);
        setenv("STEPDOWN_CHOWN_THREADS", "64", 1);
        assert_int_equal(op_chown_threads(), 64);
        static const char *bad[] = {"0", "65", "2x", "-1", "many"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                setenv("STEPDOWN_CHOWN_THREADS", bad[i], 1);
                assert_int_equal(op_chown_threads(), def);
        }
        unsetenv("STEPDOWN_CHOWN_THREADS");
}

static int use_openat2(void **state)
{
        (void)state;
        resolve_force_fallback = false;
        return 0;
}

static int use_fallback(void **state)
{
        (void)state;
        resolve_force_fallback = true;
        return 0;
}

static int use_threads(void **state)
{
        (void)state;
        resolve_force_fallback = false;
        chown_threads = 4;
        chown_uring = false;
        return 0;
}

static int use_uring(void **state)
{
        (void)state;
        resolve_force_fallback = false;
        chown_threads = 1;
        chown_uring = true;
        return 0;
}

static int use_uring_threads(void **state)
{
        use_uring(state);
        chown_threads = 4;
        return 0;
}

/* With io_uring the walk really opens the entries through the ring (so
 * the groups that run every chown test with it test that path), and
 * changes what the plain walk changes; without it nothing is batched. */
static void test_chown_batched(void **state)
{
        (void)state;
        struct uring u;
        int r = uring_init(&u, 8);
        if (r < 0 && chown_uring) {
                printf("io_uring refused here (%s): the walk uses plain calls\n", strerror(-r));
                skip();
        }
        if (r == 0)
                uring_free(&u);
        for (int d = 0; d < 3; d++) {
                assert_int_equal(mkdir(P("anchor/d%d", d), 0755), 0);
                for (int f = 0; f < 300; f++)
                        write_file(P("anchor/d%d/f%d", d, f), "", 0644);
                assert_int_equal(symlink("/etc/shadow", P("anchor/d%d/l", d)), 0);
        }
        const uint64_t total = 1 + 3 * (1 + 301);
        for (int i = 0; i < 2; i++) {
                uid_t id = i ? U2 : U1;
                struct op_stats st = {0};
                assert_int_equal(
                    walk_chown(anchor, "", id, id, true, false, false, &st, err, sizeof(err)), 0);
                assert_int_equal(st.visited, total);
                assert_int_equal(st.changed, total);
                if (chown_uring)
                        assert_true(st.batched >= 3 * 290);
                else
                        assert_int_equal(st.batched, 0);
                assert_int_equal(owned_by(anchor, id), total);
                struct stat sb;
                assert_int_equal(stat("/etc/shadow", &sb), 0);
                assert_int_not_equal(sb.st_uid, id);
        }
}

/* STEPDOWN_CHOWN_URING=0 turns the batches off; anything else leaves them
 * on. */
static void test_chown_uring_env(void **state)
{
        (void)state;
        unsetenv("STEPDOWN_CHOWN_URING");
        assert_true(op_chown_uring());
        setenv("STEPDOWN_CHOWN_URING", "0", 1);
        assert_false(op_chown_uring());
        setenv("STEPDOWN_CHOWN_URING", "1", 1);
        assert_true(op_chown_uring());
        unsetenv("STEPDOWN_CHOWN_URING");
}

#define CASE(f) cmocka_unit_test_setup_teardown(f, case_setup, case_teardown)

int main(void)
{
        if (geteuid() != 0) {
                fprintf(stderr, "test-ops: needs root (namespaces, mknod, chown)\n");
                return 77;
        }
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                perror("test-ops: private mount namespace");
                return 1;
        }
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
        }
        snprintf(top, sizeof(top), "/tmp/test-ops.XXXXXX");
        if (!mkdtemp(top) || mount("tmpfs", top, "tmpfs", 0, "mode=0755") < 0) {
                perror("test-ops: tmpfs");
                return 1;
        }
        const struct CMUnitTest tests[] = {
            CASE(test_basic),
            CASE(test_symlink_levels),
            CASE(test_dotdot),
            CASE(test_race),
            CASE(test_hardlink),
            CASE(test_fifo_device),
            CASE(test_bind_mount),
            CASE(test_setuid),
            CASE(test_mkdir_symlinked_parent),
            CASE(test_open_links),
            CASE(test_deep_tree),
            CASE(test_deep_moved),
            CASE(test_missing_cap),
            CASE(test_resolve),
            CASE(test_mkdir_sweep),
            CASE(test_race_mkdir_exchange),
            CASE(test_race_chown_hardlink),
            CASE(test_parallel_walk),
            CASE(test_parallel_walk_refused),
            CASE(test_chown_threads_env),
            CASE(test_chown_uring_env),
            CASE(test_mkdir_kept_stage),
            CASE(test_mkdir_kept_short_way),
            CASE(test_race_mkdir_kept_stage),
            CASE(test_expect),
        };
        /* every chown test, each recursive walk by 4 threads (not
         * test_deep_moved: which level a walker lets go of, the one that
         * test moves, depends on the hand-overs) */
        const struct CMUnitTest threaded[] = {
            CASE(test_basic),
            CASE(test_symlink_levels),
            CASE(test_dotdot),
            CASE(test_race),
            CASE(test_hardlink),
            CASE(test_fifo_device),
            CASE(test_bind_mount),
            CASE(test_setuid),
            CASE(test_deep_tree),
            CASE(test_missing_cap),
            CASE(test_race_chown_hardlink),
            CASE(test_chown_batched),
        };
        int r = cmocka_run_group_tests_name("ops with openat2", tests, use_openat2, NULL);
        r += cmocka_run_group_tests_name("ops with the fallback walk", tests, use_fallback, NULL);
        r += cmocka_run_group_tests_name("ops with 4 chown threads", threaded, use_threads, NULL);
        /* the same with the batches through io_uring, on one thread and
         * on four */
        r += cmocka_run_group_tests_name("ops with io_uring", threaded, use_uring, NULL);
        r += cmocka_run_group_tests_name("ops with io_uring and 4 threads", threaded,
                                         use_uring_threads, NULL);
        umount2(top, MNT_DETACH);
        rmdir(top);
        return r ? 1 : 0;
}
