/* The broker's Landlock wall (daemon/harden/landlock.c): a forked child applies
 * the ruleset built for a policy, then calls the engine directly (no
 * policy check: common/engine/ops.h) as a future bug would.  Paths outside every
 * anchor, and anchors of another operation, are refused by the kernel
 * with EACCES although the child is root; the rules' own paths still
 * work.  TCP bind and connect are held to the `bind tcp:` rules' ports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../daemon/harden/landlock.h"
#include "ops.h"
#include "policy.h"
#include "userdb.h"
#include "util.h"

static char base[64];
static char err[1024];
static struct userdb db;

static const char *P(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *P(const char *fmt, ...)
{
        static char bufs[8][512];
        static int i;
        char *b = bufs[i++ % 8];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b, sizeof(bufs[0]), fmt, ap);
        va_end(ap);
        return b;
}

static void write_file(const char *path, const char *text)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
}

/* In the confined child: a failed check exits with its line number. */
#define CHECK(cond)                                                                                \
        do {                                                                                       \
                if (!(cond)) {                                                                     \
                        fprintf(stderr, "test-landlock.c:%d: %s failed (%s)\n", __LINE__, #cond,   \
                                err);                                                              \
                        _exit(__LINE__ & 0xff ? __LINE__ & 0xff : 1);                              \
                }                                                                                  \
        } while (0)

/* Parses text, forks, applies the ruleset (sockdir_fd and audit_path as
 * given) in the child, runs body there and waits for it. */
static void confined(const char *text, int sockdir_fd, const char *audit_path, void (*body)(void))
{
        struct policy p = {0};
        assert_int_equal(policy_parse(&p, "t.conf", text, strlen(text), &db, err, sizeof(err)), 0);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                struct landlock_extra x = {.sockdir_fd = sockdir_fd, .audit_path = audit_path};
                int r = landlock_apply(&p, &x, err, sizeof(err));
                CHECK(r == 0);
                body();
                _exit(0);
        }
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        policy_free(&p);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
}

static int abi;

static int setup(void **state)
{
        (void)state;
        abi = landlock_abi();
        strcpy(base, "/tmp/test-landlock.XXXXXX");
        assert_non_null(mkdtemp(base));
        write_file(P("%s/passwd", base), "root:x:0:0:root:/root:/bin/sh\n"
                                         "app:x:1000:1000::/home/app:/bin/sh\n");
        write_file(P("%s/group", base), "root:x:0:\napp:x:1000:\n");
        assert_int_equal(userdb_load(&db, P("%s/passwd", base), P("%s/group", base)), 0);
        static const char *const dirs[] = {"mk", "ch",  "ch/sub",  "op",  "sock",
                                           "sd", "log", "pending", "out", "out/sub"};
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
                assert_int_equal(mkdir(P("%s/%s", base, dirs[i]), 0755), 0);
        write_file(P("%s/op/f", base), "in\n");
        write_file(P("%s/mk/f", base), "mk\n");
        write_file(P("%s/out/secret", base), "secret\n");
        write_file(P("%s/sd/old.sock", base), "");
        write_file(P("%s/out/victim", base), "");
        assert_int_equal(symlink(P("%s/out", base), P("%s/link", base)), 0);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        userdb_free(&db);
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
        return system(cmd) == 0 ? 0 : -1;
}

static void need_landlock(void)
{
        if (abi < 2) {
                fprintf(stderr, "# skipped: Landlock ABI %d (needs >= 2)\n", abi);
                skip();
        }
}

static const char *policy_text(void)
{
        return P("allow app mkdir %s/mk/** mode=0750 parents\n"
                 "allow app chown %s/ch/** recursive\n"
                 "allow app chmod %s/ch/** mode=0700\n"
                 "allow app open %s/op/* read write create\n"
                 "allow app bind unix:%s/sock/*\n"
                 "allow app bind tcp:127.0.0.1:47311\n",
                 base, base, base, base, base);
}

static int open_ok(const char *anchor, const char *rest, int flags)
{
        int fd = -1;
        int r = op_open(anchor, rest, flags, 0600, 1000, 1000, &fd, err, sizeof(err));
        safe_close(fd);
        return r;
}

static int bind_unix(const char *dir, const char *name)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        _cleanup_close_ int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (dfd < 0 || s < 0)
                return -errno;
        /* as act.c (act_bind) does: through the directory's fd */
        snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dfd, name);
        return bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
}

static int tcp(bool do_bind, unsigned port)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        _cleanup_close_ int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0)
                return -errno;
        int r = do_bind ? bind(s, (struct sockaddr *)&sa, sizeof(sa))
                        : connect(s, (struct sockaddr *)&sa, sizeof(sa));
        return r < 0 ? -errno : 0;
}

static void body_engine(void)
{
        char out[128];
        struct stat st;

        snprintf(out, sizeof(out), "%s/out", base);

        /* mkdir: in its anchor, yes; outside, or in another rule's anchor, no */
        CHECK(op_mkdir(P("%s/mk", base), "a/b", 0750, 1000, 1000, true, err, sizeof(err)) == 0);
        CHECK(op_mkdir(out, "x", 0750, 1000, 1000, false, err, sizeof(err)) == -EACCES);
        CHECK(op_mkdir(P("%s/op", base), "x", 0750, 1000, 1000, false, err, sizeof(err)) ==
              -EACCES);
        CHECK(op_mkdir("/etc", "stepdown-landlock-test", 0750, 1000, 1000, false, err,
                       sizeof(err)) == -EACCES);

        /* open: the open rule's files; nothing else, not even for root */
        CHECK(open_ok(P("%s/op", base), "f", O_RDWR) == 0);
        CHECK(open_ok(P("%s/op", base), "new", O_WRONLY | O_CREAT | O_EXCL) == 0);
        CHECK(open_ok(out, "secret", O_RDONLY) == -EACCES);
        CHECK(open_ok(out, "victim", O_WRONLY | O_TRUNC) == -EACCES);
        CHECK(open_ok(out, "planted", O_WRONLY | O_CREAT) == -EACCES);
        CHECK(open_ok("/etc", "passwd", O_RDONLY) == -EACCES);
        CHECK(open_ok(P("%s/mk", base), "f", O_RDONLY) == -EACCES);

        /* chown -R: walks its anchor; another tree's directories stay shut */
        struct op_stats s = {0};
        CHECK(op_chown(P("%s/ch", base), "", 1000, 1000, true, false, false, &s, err,
                       sizeof(err)) == 0);
        CHECK(s.changed >= 2);
        CHECK(op_chown(out, "", 1000, 1000, true, false, false, NULL, err, sizeof(err)) == -EACCES);

        /* bind unix: in the rule's directory, not elsewhere */
        CHECK(bind_unix(P("%s/sock", base), "s") == 0);
        CHECK(bind_unix(out, "s") == -EACCES);

        /* the socket's directory: its entries may go, others' not */
        int sd = open(P("%s/sd", base), O_PATH | O_DIRECTORY | O_CLOEXEC);
        CHECK(unlinkat(sd, "old.sock", 0) == 0);
        CHECK(unlink(P("%s/victim", out)) < 0 && errno == EACCES);

        /* the audit log: created (after rotation) and written in its directory */
        int lfd =
            open(P("%s/log/audit.jsonl", base), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        CHECK(lfd >= 0 && write(lfd, "{}\n", 3) == 3);
        close(lfd);

        /* tcp: the rule's port only, and no outgoing connections */
        if (abi >= 4) {
                CHECK(tcp(true, 47311) == 0);
                CHECK(tcp(true, 47312) == -EACCES);
                CHECK(tcp(false, 47311) == -EACCES);
        }

        /* what root could do there before, it still can't do afterwards */
        CHECK(stat(P("%s/x", out), &st) < 0 && errno == ENOENT);
        CHECK(stat(P("%s/planted", out), &st) < 0 && errno == ENOENT);
}

static void test_engine(void **state)
{
        (void)state;
        need_landlock();
        int sd = open(P("%s/sd", base), O_PATH | O_DIRECTORY | O_CLOEXEC);
        assert_true(sd >= 0);
        confined(policy_text(), sd, P("%s/log/audit.jsonl", base), body_engine);
        close(sd);

        /* the parent, unconfined, sees what the child did and did not do */
        struct stat st;
        assert_int_equal(stat(P("%s/mk/a/b", base), &st), 0);
        assert_int_equal(st.st_uid, 1000);
        assert_int_equal(stat(P("%s/ch/sub", base), &st), 0);
        assert_int_equal(st.st_uid, 1000);
        assert_int_equal(stat(P("%s/out/sub", base), &st), 0);
        assert_int_equal(st.st_uid, 0);
        assert_int_equal(stat(P("%s/out/victim", base), &st), 0);
        assert_int_equal(stat(P("%s/sd/old.sock", base), &st), -1);
        assert_int_equal(stat(P("%s/log/audit.jsonl", base), &st), 0);
        assert_int_equal(st.st_size, 3);
}

/* The wall is the rules', not the whole machine's: without it (no
 * Landlock applied) the same root child does everything the first test
 * saw refused.  Shows the refusals come from the ruleset. */
static void body_unconfined(void)
{
        CHECK(open_ok(P("%s/out", base), "secret", O_RDONLY) == 0);
        CHECK(op_mkdir(P("%s/op", base), "y", 0750, 1000, 1000, false, err, sizeof(err)) == 0);
        CHECK(rmdir(P("%s/op/y", base)) == 0);
}

static void test_unconfined(void **state)
{
        (void)state;
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                body_unconfined();
                _exit(0);
        }
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* An anchor that does not exist yet stands for its nearest existing
 * ancestor, so requests work once it appears; an anchor reached through a
 * symbolic link (the app may plant one where it can write) grants
 * nothing where the link points. */
static void body_anchors(void)
{
        CHECK(op_mkdir(P("%s/pending/later", base), "x", 0750, 1000, 1000, false, err,
                       sizeof(err)) == -ENOENT);
        CHECK(mkdir(P("%s/pending/later", base), 0755) == 0);
        CHECK(op_mkdir(P("%s/pending/later", base), "x", 0750, 1000, 1000, false, err,
                       sizeof(err)) == 0);
        CHECK(mkdirat(AT_FDCWD, P("%s/out/through-link", base), 0700) < 0 && errno == EACCES);
}

static void test_anchors(void **state)
{
        (void)state;
        need_landlock();
        const char *text = P("allow app mkdir %s/pending/later/** mode=0750\n"
                             "allow app mkdir %s/link/** mode=0750\n",
                             base, base);
        confined(text, -1, NULL, body_anchors);
        struct stat st;
        assert_int_equal(stat(P("%s/pending/later/x", base), &st), 0);
        assert_int_equal(stat(P("%s/out/through-link", base), &st), -1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_engine),
            cmocka_unit_test(test_unconfined),
            cmocka_unit_test(test_anchors),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
