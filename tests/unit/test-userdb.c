/* Unit tests for common/users/userdb.c: passwd/group parsing and spec
 * resolution with gosu/libcontainer semantics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "userdb.h"

static char dir[64];
static char pw_path[128], gr_path[128];

static void write_file(const char *path, const char *text, size_t len)
{
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(text, 1, len, f), len);
        fclose(f);
}

static const char PASSWD[] = "root:x:0:0:root:/root:/bin/sh\n"
                             "app:x:1000:1000:App:/home/app:/bin/sh\n"
                             "bob:x:1001:1001::/home/bob:/bin/sh\n"
                             "  spaced:x:1003:1003::/sp:/bin/sh  \n"
                             "\n"
                             "short:x:9\n"
                             "toor:x:0:0::/root:/bin/sh\n"
                             "garbled:x:abc:100::/g:/bin/sh\n"
                             "dup:x:100:100::/d1:\n"
                             "dup:x:101:101::/d2:\n"
                             "#hash:x:7:7::/h:/bin/sh\n"
                             "zerog:x:1100:0::/z:/bin/sh\n"
                             "zm:x:1101:1101::/zm:/bin/sh\n"
                             "plus:x:+1102:1102::/p:/bin/sh\n"
                             "nobody:x:65534:65534::/nonexistent:/bin/false";
static const char GROUP[] = "root:x:0:\n"
                            "tty:x:5:app,nobody\n"
                            "# comment:x:77:app\n"
                            "app:x:1000:\n"
                            "staff:x:2000:app,bob\n"
                            "spaced:x:2001: app , bob \n"
                            "badgid:x:zz:bob\n"
                            "empty:x:2002:,,\n"
                            "last:x:2003:app\n"
                            "wheel:x:0:zm\n"
                            "bad2:x: 5:nobody";

static int setup(void **state)
{
        (void)state;
        strcpy(dir, "/tmp/test-userdb.XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(pw_path, sizeof(pw_path), "%s/passwd", dir);
        snprintf(gr_path, sizeof(gr_path), "%s/group", dir);
        write_file(pw_path, PASSWD, strlen(PASSWD));
        write_file(gr_path, GROUP, strlen(GROUP));
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        unlink(pw_path);
        unlink(gr_path);
        rmdir(dir);
        return 0;
}

static void test_parse_id(void **state)
{
        (void)state;
        int64_t v;
        assert_true(userdb_parse_id("0", 1, &v));
        assert_int_equal(v, 0);
        assert_true(userdb_parse_id("007", 3, &v));
        assert_int_equal(v, 7);
        assert_true(userdb_parse_id("+1000", 5, &v));
        assert_int_equal(v, 1000);
        assert_true(userdb_parse_id("-1", 2, &v));
        assert_int_equal(v, -1);
        assert_true(userdb_parse_id("9223372036854775807", 19, &v));
        assert_int_equal(v, INT64_MAX);
        assert_true(userdb_parse_id("-9223372036854775808", 20, &v));
        assert_true(v == INT64_MIN);
        assert_false(userdb_parse_id("9223372036854775808", 19, &v));
        assert_false(userdb_parse_id("", 0, &v));
        assert_false(userdb_parse_id("+", 1, &v));
        assert_false(userdb_parse_id("-", 1, &v));
        assert_false(userdb_parse_id("0day", 4, &v));
        assert_false(userdb_parse_id(" 1", 2, &v));
        assert_false(userdb_parse_id("1 ", 2, &v));
        assert_false(userdb_parse_id("0x10", 4, &v));
        assert_false(userdb_parse_id("1_000", 5, &v));
}

static void test_load(void **state)
{
        (void)state;
        struct userdb db;
        assert_int_equal(userdb_load(&db, pw_path, gr_path), 0);
        assert_true(db.have_passwd);
        assert_true(db.have_group);
        /* passwd: '#' lines are entries (libcontainer), blank lines are not */
        assert_int_equal(db.n_pw, 14);
        const struct pw_entry *p = userdb_user_by_name(&db, "spaced");
        assert_non_null(p);
        assert_int_equal(p->uid, 1003);
        assert_string_equal(p->home, "/sp");
        p = userdb_user_by_name(&db, "short");
        assert_non_null(p);
        assert_int_equal(p->uid, 9);
        assert_int_equal(p->gid, USERDB_ID_INVALID); /* missing: not a number */
        assert_int_equal(p->line, 6);
        assert_string_equal(p->home, "");
        p = userdb_user_by_name(&db, "garbled");
        assert_int_equal(p->uid, USERDB_ID_INVALID); /* libcontainer: 0 */
        assert_int_equal(userdb_user_by_name(&db, "plus")->uid, USERDB_ID_INVALID);
        /* An invalid field never matches a numeric look-up. */
        assert_null(userdb_user_by_uid(&db, USERDB_ID_INVALID));
        assert_string_equal(userdb_user_by_uid(&db, 0)->name, "root");
        p = userdb_user_by_name(&db, "dup");
        assert_int_equal(p->uid, 100); /* first wins */
        assert_non_null(userdb_user_by_name(&db, "#hash"));
        assert_non_null(userdb_user_by_name(&db, "nobody")); /* no final newline */
        /* group: '#' lines skipped */
        assert_null(userdb_group_by_name(&db, "# comment"));
        const struct gr_entry *g = userdb_group_by_name(&db, "spaced");
        assert_non_null(g);
        assert_int_equal(g->n_members, 2);
        assert_string_equal(g->members[0], " app "); /* members not trimmed */
        g = userdb_group_by_name(&db, "empty");
        assert_int_equal(g->n_members, 3);
        assert_int_equal(userdb_group_by_name(&db, "badgid")->gid, USERDB_ID_INVALID);
        assert_int_equal(userdb_group_by_name(&db, "badgid")->line, 7);
        assert_int_equal(userdb_group_by_name(&db, "bad2")->gid, USERDB_ID_INVALID);
        assert_null(userdb_group_by_gid(&db, USERDB_ID_INVALID));
        assert_string_equal(userdb_group_by_gid(&db, 0)->name, "root");
        userdb_free(&db);
        userdb_free(&db); /* idempotent */
}

static void test_missing_files(void **state)
{
        (void)state;
        struct userdb db;
        struct exec_user u;
        char err[256];
        assert_int_equal(userdb_load(&db, "/nonexistent/passwd", "/nonexistent/group"), 0);
        assert_false(db.have_passwd);
        assert_int_equal(userdb_resolve(&db, "1234:55", 0, 0, &u, err, sizeof(err)), 0);
        assert_int_equal(u.uid, 1234);
        assert_int_equal(u.gid, 55);
        assert_string_equal(u.home, "/");
        exec_user_free(&u);
        assert_int_equal(userdb_resolve(&db, "app", 0, 0, &u, err, sizeof(err)), -ENOENT);
        userdb_free(&db);
}

struct rcase {
        const char *spec;
        int rc;
        unsigned uid, gid;
        const char *groups; /* space separated */
        const char *home;
};

static void check(const struct userdb *db, const struct rcase *c)
{
        struct exec_user u;
        char err[256] = "";
        char buf[256] = "";
        int r = userdb_resolve(db, c->spec, 0, 0, &u, err, sizeof(err));
        if (r != c->rc)
                fail_msg("spec '%s': rc %d, expected %d (%s)", c->spec, r, c->rc, err);
        if (r < 0) {
                assert_true(strlen(err) > 0);
                return;
        }
        for (size_t i = 0; i < u.n_groups; i++)
                snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%u", i ? " " : "",
                         (unsigned)u.groups[i]);
        if (u.uid != c->uid || u.gid != c->gid || strcmp(buf, c->groups) || strcmp(u.home, c->home))
                fail_msg("spec '%s': got %u:%u [%s] %s, expected %u:%u [%s] %s", c->spec, u.uid,
                         u.gid, buf, u.home, c->uid, c->gid, c->groups, c->home);
        exec_user_free(&u);
}

static void test_resolve(void **state)
{
        (void)state;
        static const struct rcase cases[] = {
            {"app", 0, 1000, 1000, "5 2000 2003", "/home/app"},
            {"app:", 0, 1000, 1000, "5 2000 2003", "/home/app"},
            {"1000", 0, 1000, 1000, "5 2000 2003", "/home/app"},
            {"+1000", 0, 1000, 1000, "5 2000 2003", "/home/app"},
            {"app:staff", 0, 1000, 2000, "", "/home/app"},
            {"app:5", 0, 1000, 5, "", "/home/app"},
            {"app:4242", 0, 1000, 4242, "", "/home/app"},
            {"1000:tty", 0, 1000, 5, "", "/home/app"},
            {"4242", 0, 4242, 0, "", "/"},
            {"4242:4343", 0, 4242, 4343, "", "/"},
            {"4242:staff", 0, 4242, 2000, "", "/"},
            {":2000", 0, 0, 2000, "", "/root"},
            {"", 0, 0, 0, "", "/root"},
            {"root", 0, 0, 0, "", "/root"},
            {"0", 0, 0, 0, "", "/root"},
            {"0:0", 0, 0, 0, "", "/root"},
            /* bob is listed by badgid, whose gid field is "zz": gosu gives
             * him supplementary gid 0; refused here. */
            {"bob", -EINVAL, 0, 0, NULL, NULL},
            {"1001", -EINVAL, 0, 0, NULL, NULL},
            {"bob:staff", 0, 1001, 2000, "", "/home/bob"},
            /* short has no gid field: gosu gives gid 0. */
            {"short", -EINVAL, 0, 0, NULL, NULL},
            {"9", -EINVAL, 0, 0, NULL, NULL},
            {"short:1000", 0, 9, 1000, "", ""},
            {"app:badgid", -EINVAL, 0, 0, NULL, NULL},
            {"plus", -EINVAL, 0, 0, NULL, NULL},
            /* A name that maps to gid 0 needs the spec to say root or 0. */
            {"zerog", -EPERM, 0, 0, NULL, NULL},
            {"zerog:", -EPERM, 0, 0, NULL, NULL},
            {"zerog:0", 0, 1100, 0, "", "/z"},
            {"zerog:root", 0, 1100, 0, "", "/z"},
            {"1100", 0, 1100, 0, "", "/z"}, /* a number is taken as given */
            {"app:wheel", -EPERM, 0, 0, NULL, NULL},
            {"root:wheel", -EPERM, 0, 0, NULL, NULL},
            {"app:0", 0, 1000, 0, "", "/home/app"},
            {"app:root", 0, 1000, 0, "", "/home/app"},
            {"zm", -EPERM, 0, 0, NULL, NULL}, /* supplementary gid 0 from wheel */
            {"zm:1101", 0, 1101, 1101, "", "/zm"},
            {"1101", 0, 1101, 1101, "0", "/zm"},
            {"dup", 0, 100, 100, "", "/d1"},
            {"#hash", 0, 7, 7, "", "/h"},
            {"app:staff:extra", 0, 1000, 2000, "", "/home/app"},
            {"nosuch", -ENOENT, 0, 0, NULL, NULL},
            {"0day", -ENOENT, 0, 0, NULL, NULL},
            {"app:nosuch", -ENOENT, 0, 0, NULL, NULL},
            {"99999999999", -ERANGE, 0, 0, NULL, NULL},
            {"-1", -ERANGE, 0, 0, NULL, NULL},
            {"app:-5", -ERANGE, 0, 0, NULL, NULL},
            {"toor", -EPERM, 0, 0, NULL, NULL},
            {"garbled", -EINVAL, 0, 0, NULL, NULL},
            {"garbled:100", -EINVAL, 0, 0, NULL, NULL},
            {"toor:staff", -EPERM, 0, 0, NULL, NULL},
        };
        struct userdb db;
        assert_int_equal(userdb_load(&db, pw_path, gr_path), 0);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                check(&db, &cases[i]);
        userdb_free(&db);
}

static void test_resolve_defaults(void **state)
{
        (void)state;
        struct userdb db;
        struct exec_user u;
        char err[256];
        assert_int_equal(userdb_load(&db, pw_path, gr_path), 0);
        /* The empty spec means "whoever runs me". */
        assert_int_equal(userdb_resolve(&db, "", 1000, 1000, &u, err, sizeof(err)), 0);
        assert_int_equal(u.uid, 1000);
        assert_string_equal(u.name, "app");
        exec_user_free(&u);
        assert_int_equal(userdb_resolve(&db, ":5", 5555, 6666, &u, err, sizeof(err)), 0);
        assert_int_equal(u.uid, 5555);
        assert_int_equal(u.gid, 5);
        assert_string_equal(u.home, "/");
        assert_null(u.name);
        exec_user_free(&u);
        userdb_free(&db);
}

static void test_error_messages(void **state)
{
        (void)state;
        struct userdb db;
        struct exec_user u;
        char err[256];
        assert_int_equal(userdb_load(&db, pw_path, gr_path), 0);
        userdb_resolve(&db, "toor", 0, 0, &u, err, sizeof(err));
        assert_non_null(strstr(err, "toor resolves to uid 0: its passwd entry maps it to root"));
        userdb_resolve(&db, "garbled", 0, 0, &u, err, sizeof(err));
        assert_non_null(
            strstr(err, "/passwd:8: user garbled has a uid field that is not a number"));
        userdb_resolve(&db, "short", 0, 0, &u, err, sizeof(err));
        assert_non_null(strstr(err, "/passwd:6: user short has a gid field that is not a number"));
        userdb_resolve(&db, "bob", 0, 0, &u, err, sizeof(err));
        assert_non_null(strstr(err, "/group:7: group badgid lists bob as a member, but its gid "
                                    "field is not a number"));
        userdb_resolve(&db, "app:badgid", 0, 0, &u, err, sizeof(err));
        assert_non_null(strstr(err, "/group:7: group badgid has a gid field that is not a number"));
        userdb_resolve(&db, "app:wheel", 0, 0, &u, err, sizeof(err));
        assert_non_null(strstr(err, "group wheel resolves to gid 0: "));
        assert_non_null(strstr(err, "/group:10 maps it to root's group"));
        userdb_resolve(&db, "zerog", 0, 0, &u, err, sizeof(err));
        assert_non_null(strstr(err, "user zerog has gid 0 (root's group) in "));
        assert_non_null(strstr(err, "say zerog:0 or zerog:root"));
        userdb_resolve(&db, "zm", 0, 0, &u, err, sizeof(err));
        assert_non_null(strstr(err, "/group:10: group wheel (gid 0, root's group) lists zm"));
        userdb_resolve(&db, "0day", 0, 0, &u, err, sizeof(err));
        assert_non_null(strstr(err, "0day: not a number"));
        userdb_resolve(&db, "app:nosuch", 0, 0, &u, err, sizeof(err));
        assert_non_null(strstr(err, "unable to find group nosuch"));
        /* A tiny buffer truncates, never overflows. */
        char tiny[8];
        assert_int_equal(userdb_resolve(&db, "nosuch", 0, 0, &u, tiny, sizeof(tiny)), -ENOENT);
        assert_int_equal(strlen(tiny), 7);
        userdb_free(&db);
}

static void test_malformed(void **state)
{
        (void)state;
        /* Lines of every broken shape: none may crash or mis-parse. */
        static const char pw[] = ":::::::::::\n"
                                 ":\n"
                                 "nocolons\n"
                                 "a:b\n"
                                 "x:x:1e3:2::/h\n"
                                 "y:x:99999999999999999999:1::/h\n"
                                 "nul\0evil:x:0:0::/:\n"
                                 "z:x: 5:6::/h\n"
                                 "ok:x:42:43::/ok:/bin/sh\n";
        static const char gr[] = "::::\n,,,,\ng1:x:\ng2\n:x:3:a,b\ng3:x:4:ok,,ok\n";
        struct userdb db;
        struct exec_user u;
        char err[256];
        write_file(pw_path, pw, sizeof(pw) - 1);
        write_file(gr_path, gr, sizeof(gr) - 1);
        assert_int_equal(userdb_load(&db, pw_path, gr_path), 0);
        assert_int_equal(userdb_resolve(&db, "ok", 0, 0, &u, err, sizeof(err)), 0);
        assert_int_equal(u.uid, 42);
        assert_int_equal(u.n_groups, 1); /* listed twice in g3: the group counts once */
        exec_user_free(&u);
        /* "nul\0evil" was skipped: a truncated "nul" must not match it. */
        assert_int_equal(userdb_resolve(&db, "nul", 0, 0, &u, err, sizeof(err)), -ENOENT);
        /* Non-numeric and overflowing uid fields are not numbers: refused
         * (libcontainer reads them as 0). */
        assert_int_equal(userdb_resolve(&db, "x", 0, 0, &u, err, sizeof(err)), -EINVAL);
        assert_int_equal(userdb_resolve(&db, "y", 0, 0, &u, err, sizeof(err)), -EINVAL);
        assert_int_equal(userdb_resolve(&db, "z", 0, 0, &u, err, sizeof(err)), -EINVAL);
        userdb_free(&db);

        /* A passwd line over 64 KiB fails the load, as gosu fails. */
        size_t n = 70 * 1024;
        char *big = malloc(n + 1);
        assert_non_null(big);
        memset(big, 'a', n);
        big[n] = '\n';
        write_file(pw_path, big, n + 1);
        free(big);
        assert_int_equal(userdb_load(&db, pw_path, gr_path), -E2BIG);

        write_file(pw_path, PASSWD, strlen(PASSWD));
        write_file(gr_path, GROUP, strlen(GROUP));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse_id),         cmocka_unit_test(test_load),
            cmocka_unit_test(test_missing_files),    cmocka_unit_test(test_resolve),
            cmocka_unit_test(test_resolve_defaults), cmocka_unit_test(test_error_messages),
            cmocka_unit_test(test_malformed),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
