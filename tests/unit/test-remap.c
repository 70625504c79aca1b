/* Unit tests for common/users/remap.c (passwd/group transforms, the rename and
 * bind-mount replacement) and op_chown_from()'s filter.  Runs as root;
 * the bind-mount cases run in a private mount namespace of their own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ops.h"
#include "remap.h"

static char dir[64];

static void write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
        fclose(f);
}

static char *read_file(const char *path)
{
        static char buf[8192];
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
        return buf;
}

static int setup(void **state)
{
        (void)state;
        strcpy(dir, "/tmp/test-remap.XXXXXX");
        assert_non_null(mkdtemp(dir));
        chmod(dir, 0755);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
        return 0;
}

static const struct remap_ids ids = {
    .user = "app",
    .old_uid = 1000,
    .new_uid = 4242,
    .old_gid = 1000,
    .new_gid = 4343,
};

static void test_passwd_text(void **state)
{
        (void)state;
        static const char in[] = "root:x:0:0:root:/root:/bin/sh\n"
                                 "\n"
                                 "# app:x:1000:1000 (a comment is a strange entry, left alone)\n"
                                 "  app:x:1000:1000:App,,,:/home/app:/bin/sh  \n"
                                 "app:x:1000:1000:duplicate, not ours:/x:/bin/sh\n"
                                 "web:x:1001:1000::/srv:/bin/sh\n"
                                 "short:x\n"
                                 "bob:x:4242:2000::/home/bob:/bin/sh";
        char *out, msg[256];
        size_t len;
        unsigned changed;
        assert_int_equal(
            remap_passwd_text(in, strlen(in), &ids, &out, &len, &changed, msg, sizeof(msg)), 0);
        assert_string_equal(out, "root:x:0:0:root:/root:/bin/sh\n"
                                 "\n"
                                 "# app:x:1000:1000 (a comment is a strange entry, left alone)\n"
                                 "app:x:4242:4343:App,,,:/home/app:/bin/sh\n"
                                 "app:x:1000:4343:duplicate, not ours:/x:/bin/sh\n"
                                 "web:x:1001:4343::/srv:/bin/sh\n"
                                 "short:x\n"
                                 "bob:x:4242:2000::/home/bob:/bin/sh");
        assert_int_equal(len, strlen(out));
        assert_int_equal(changed, 3);
        free(out);

        /* takeover: bob gets app's old uid; a group holder's gid is swapped. */
        struct remap_ids t = ids;
        t.new_gid = 2000;
        t.uid_holder = "bob";
        t.gid_holder = "staff";
        assert_int_equal(
            remap_passwd_text(in, strlen(in), &t, &out, &len, &changed, msg, sizeof(msg)), 0);
        assert_non_null(strstr(out, "\nbob:x:1000:1000::/home/bob:/bin/sh"));
        assert_non_null(strstr(out, "\napp:x:4242:2000:App,,,:/home/app:/bin/sh\n"));
        free(out);

        /* Already done: nothing changes. */
        static const char done[] = "app:x:4242:4343::/home/app:/bin/sh\n";
        assert_int_equal(
            remap_passwd_text(done, strlen(done), &ids, &out, &len, &changed, msg, sizeof(msg)), 0);
        assert_int_equal(changed, 0);
        assert_string_equal(out, done);
        free(out);

        static const char none[] = "root:x:0:0::/:/bin/sh\n";
        assert_int_equal(
            remap_passwd_text(none, strlen(none), &ids, &out, &len, &changed, msg, sizeof(msg)),
            -ENOENT);
        assert_string_equal(msg, "no entry for user \"app\"");
        static const char bad[] = "root:x:0:0::/:/bin/sh\napp:x:abc\n";
        assert_int_equal(
            remap_passwd_text(bad, strlen(bad), &ids, &out, &len, &changed, msg, sizeof(msg)),
            -EINVAL);
        assert_string_equal(msg, "line 2: the entry of \"app\" has no numeric uid and gid fields");
}

static void test_group_text(void **state)
{
        (void)state;
        static const char in[] = "root:x:0:\n"
                                 "# app:x:1000:\n"
                                 "app:x:1000:\n"
                                 "staff:x:2000:app,bob\n"
                                 "alias:x:1000:bob\n";
        char *out, msg[256];
        size_t len;
        unsigned changed;
        assert_int_equal(
            remap_group_text(in, strlen(in), &ids, &out, &len, &changed, msg, sizeof(msg)), 0);
        assert_string_equal(out, "root:x:0:\n"
                                 "# app:x:1000:\n"
                                 "app:x:4343:\n"
                                 "staff:x:2000:app,bob\n"
                                 "alias:x:4343:bob\n");
        assert_int_equal(changed, 2);
        free(out);

        struct remap_ids t = ids;
        t.new_gid = 2000;
        t.gid_holder = "staff";
        assert_int_equal(
            remap_group_text(in, strlen(in), &t, &out, &len, &changed, msg, sizeof(msg)), 0);
        assert_non_null(strstr(out, "\napp:x:2000:\nstaff:x:1000:app,bob\n"));
        free(out);

        /* No gid change: the group file is left as it is. */
        t = ids;
        t.new_gid = t.old_gid = -1;
        assert_int_equal(
            remap_group_text(in, strlen(in), &t, &out, &len, &changed, msg, sizeof(msg)), 0);
        assert_int_equal(changed, 0);
        free(out);
}

static void make_etc(char *etc, size_t len)
{
        snprintf(etc, len, "%s/etc", dir);
        mkdir(etc, 0755);
        char p[256];
        snprintf(p, sizeof(p), "%s/passwd", etc);
        write_file(p, "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n");
        assert_int_equal(chmod(p, 0640), 0);
        assert_int_equal(chown(p, 0, 42), 0);
}

static void test_rewrite_rename(void **state)
{
        (void)state;
        char etc[128], p[256], err[512];
        struct stat before, after;
        enum remap_how how;
        unsigned changed;
        make_etc(etc, sizeof(etc));
        snprintf(p, sizeof(p), "%s/passwd", etc);
        assert_int_equal(stat(p, &before), 0);
        /* A writable directory: the change can be made in place. */
        assert_int_equal(remap_in_place(etc, "passwd", err, sizeof(err)), 1);
        int r = remap_rewrite(etc, "passwd", remap_passwd_text, &ids, false, &how, &changed, err,
                              sizeof(err));
        if (r < 0)
                fail_msg("%s", err);
        assert_int_equal(how, REMAP_RENAMED);
        assert_int_equal(changed, 1);
        assert_string_equal(read_file(p),
                            "root:x:0:0::/root:/bin/sh\napp:x:4242:4343::/home/app:/bin/sh\n");
        assert_int_equal(stat(p, &after), 0);
        assert_int_not_equal(before.st_ino, after.st_ino);
        assert_int_equal(after.st_mode & 07777, 0640);
        assert_int_equal(after.st_gid, 42);
        char tmp[256];
        snprintf(tmp, sizeof(tmp), "%s/.passwd.stepdown-new", etc);
        assert_int_equal(access(tmp, F_OK), -1);

        /* Second time: unchanged, same inode. */
        assert_int_equal(remap_rewrite(etc, "passwd", remap_passwd_text, &ids, true, &how, &changed,
                                       err, sizeof(err)),
                         0);
        assert_int_equal(how, REMAP_UNCHANGED);
        assert_int_equal(stat(p, &before), 0);
        assert_int_equal(before.st_ino, after.st_ino);

        /* A symbolic link is refused, and so is one in the directory path. */
        char l[256];
        snprintf(l, sizeof(l), "%s/group", etc);
        assert_int_equal(symlink("passwd", l), 0);
        assert_int_equal(remap_rewrite(etc, "group", remap_group_text, &ids, true, &how, &changed,
                                       err, sizeof(err)),
                         -ELOOP);
        assert_non_null(strstr(err, "/etc/group is a symbolic link; refusing"));
        snprintf(l, sizeof(l), "%s/etclink", dir);
        assert_int_equal(symlink("etc", l), 0);
        assert_true(remap_rewrite(l, "passwd", remap_passwd_text, &ids, true, &how, &changed, err,
                                  sizeof(err)) < 0);
}

/* The bind path, in a child with a private mount namespace: a read-only
 * directory (EROFS), a file that is a mount point (EBUSY), and a shared
 * mount (refused). */
enum bind_case { BIND_RO, BIND_RO_ATTACH, BIND_MOUNTPOINT, BIND_SHARED };

static int bind_child(const char *etc, enum bind_case c)
{
        bool shared = c == BIND_SHARED;
        char p[256], err[512];
        enum remap_how how;
        unsigned changed;
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return 10;
        if (shared && (mount(etc, etc, NULL, MS_BIND, NULL) < 0 ||
                       mount(NULL, etc, NULL, MS_SHARED, NULL) < 0))
                return 11;
        snprintf(p, sizeof(p), "%s/passwd", etc);
        remap_force_attach = c == BIND_RO_ATTACH;
        struct stat run_before, run_after;
        if (stat("/run", &run_before) < 0)
                return 18;
        if ((c == BIND_RO || c == BIND_RO_ATTACH) &&
            (mount(etc, etc, NULL, MS_BIND, NULL) < 0 ||
             mount(NULL, etc, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0))
                return 12;
        if (c == BIND_MOUNTPOINT && mount(p, p, NULL, MS_BIND, NULL) < 0)
                return 12;
        remap_force_bind = shared; /* writable: as if renaming gave EBUSY */
        if (!shared) {
                /* Without leave to bind (a takeover): said up front, and
                 * refused without a change. */
                const char *want = c == BIND_MOUNTPOINT ? "passwd is a mount point"
                                                        : "passwd is on a read-only filesystem";
                if (remap_in_place(etc, "passwd", err, sizeof(err)) != 0 || !strstr(err, want)) {
                        fprintf(stderr, "# in place: %s\n", err);
                        return 20;
                }
                if (remap_rewrite(etc, "passwd", remap_passwd_text, &ids, false, &how, &changed,
                                  err, sizeof(err)) != -EROFS ||
                    !strstr(err, want) || !strstr(err, "not bind-mounting it") ||
                    !strstr(read_file(p), "app:x:1000:1000:")) {
                        fprintf(stderr, "# no bind: %s\n", err);
                        return 21;
                }
        }
        int r = remap_rewrite(etc, "passwd", remap_passwd_text, &ids, true, &how, &changed, err,
                              sizeof(err));
        if (shared) {
                fprintf(stderr, "# %s\n", err);
                return r == -EPERM && strstr(err, "is on a shared mount") ? 0 : 13;
        }
        if (r < 0) {
                fprintf(stderr, "# %s\n", err);
                return 14;
        }
        if (how != REMAP_BOUND || strstr(read_file(p), "app:x:4242:4343:") == NULL)
                return 15;
        struct stat st;
        if (stat(p, &st) < 0 || (st.st_mode & 07777) != 0640 || st.st_gid != 42)
                return 16;
        int fd = open(p, O_WRONLY);
        if (fd >= 0 || errno != EROFS) /* the bind is read-only too */
                return 17;
        /* The tmpfs attached for a moment is gone again. */
        if (stat("/run", &run_after) < 0 || run_after.st_dev != run_before.st_dev)
                return 19;
        return 0;
}

static int run_child(const char *etc, enum bind_case c)
{
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(bind_child(etc, c));
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

static void test_rewrite_bind(void **state)
{
        (void)state;
        char etc[128], p[256];
        make_etc(etc, sizeof(etc));
        snprintf(p, sizeof(p), "%s/passwd", etc);
        char *before = strdup(read_file(p));
        assert_int_equal(run_child(etc, BIND_RO), 0);
        assert_string_equal(read_file(p), before); /* underneath: untouched */
        assert_int_equal(run_child(etc, BIND_RO_ATTACH), 0);
        assert_string_equal(read_file(p), before);
        assert_int_equal(run_child(etc, BIND_MOUNTPOINT), 0);
        assert_string_equal(read_file(p), before);
        assert_int_equal(run_child(etc, BIND_SHARED), 0);
        assert_string_equal(read_file(p), before);
        char tmp[256];
        snprintf(tmp, sizeof(tmp), "%s/.passwd.stepdown-new", etc);
        assert_int_equal(access(tmp, F_OK), -1);
        free(before);
}

static void test_chown_from(void **state)
{
        (void)state;
        char t[128], p[256], err[512];
        snprintf(t, sizeof(t), "%s/tree", dir);
        assert_int_equal(mkdir(t, 0755), 0);
        static const struct {
                const char *name;
                uid_t uid;
                gid_t gid;
                uid_t want_uid;
                gid_t want_gid;
        } e[] = {
            {"both", 1000, 1000, 4242, 4343}, {"uidonly", 1000, 50, 4242, 50},
            {"gidonly", 0, 1000, 0, 4343},    {"other", 1001, 1001, 1001, 1001},
            {"done", 4242, 4343, 4242, 4343},
        };
        assert_int_equal(chown(t, 1000, 1000), 0);
        for (size_t i = 0; i < sizeof(e) / sizeof(e[0]); i++) {
                snprintf(p, sizeof(p), "%s/%s", t, e[i].name);
                write_file(p, "x");
                assert_int_equal(lchown(p, e[i].uid, e[i].gid), 0);
        }
        struct op_chown_from from = {.uid = 1000, .gid = 1000};
        struct op_stats st = {0};
        int r = op_chown_from(t, "", 4242, 4343, &from, true, false, true, &st, err, sizeof(err));
        if (r < 0)
                fail_msg("%s", err);
        assert_int_equal(st.changed, 4); /* the directory and three entries */
        for (size_t i = 0; i < sizeof(e) / sizeof(e[0]); i++) {
                struct stat s;
                snprintf(p, sizeof(p), "%s/%s", t, e[i].name);
                assert_int_equal(lstat(p, &s), 0);
                if (s.st_uid != e[i].want_uid || s.st_gid != e[i].want_gid)
                        fail_msg("%s: %u:%u, want %u:%u", e[i].name, s.st_uid, s.st_gid,
                                 e[i].want_uid, e[i].want_gid);
        }
        /* Again: nothing left to change. */
        assert_int_equal(
            op_chown_from(t, "", 4242, 4343, &from, true, false, true, &st, err, sizeof(err)), 0);
        assert_int_equal(st.changed, 0);

        /* Only the uid half: groups are never touched. */
        snprintf(p, sizeof(p), "%s/both", t);
        assert_int_equal(lchown(p, 1000, 1000), 0);
        from = (struct op_chown_from){.uid = 1000, .gid = (gid_t)-1};
        assert_int_equal(
            op_chown_from(t, "", 4242, (gid_t)-1, &from, true, false, true, &st, err, sizeof(err)),
            0);
        struct stat s;
        assert_int_equal(lstat(p, &s), 0);
        assert_int_equal(s.st_uid, 4242);
        assert_int_equal(s.st_gid, 1000);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_passwd_text),    cmocka_unit_test(test_group_text),
            cmocka_unit_test(test_rewrite_rename), cmocka_unit_test(test_rewrite_bind),
            cmocka_unit_test(test_chown_from),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
