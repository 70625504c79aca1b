/* Unit tests for common/policy/match.c and common/policy/pathnorm.c: a table of allowed
 * and refused requests covering every pattern form, argument constraint
 * and caller form, and refusal of paths that are not in normal form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "match.h"
#include "pathnorm.h"

static char dir[64];
static char pw_path[128], gr_path[128];
static struct userdb db;
static struct policy pol;

static const char POLICY[] =
    "allow app mkdir /data/** owner=app:app,bob:staff mode=0700,0750,02750 parents\n" /* 1 */
    "allow app mkdir /exact/dir\n"                                                    /* 2 */
    "allow bob chown /data/* recursive\n"                                             /* 3 */
    "allow 1000 chmod /srv/** mode=0644,0600,04755\n"                                 /* 4 */
    "allow @staff open /etc/ssl/app.key read\n"                                       /* 5 */
    "allow * open /var/log/app/* write create mode=0640\n"                            /* 6 */
    "allow app bind tcp:*:443\n"                                                      /* 7 */
    "allow app bind udp:127.0.0.1:5000-5010\n"                                        /* 8 */
    "allow app bind tcp:[::1]:8080\n"                                                 /* 9 */
    "allow bob bind unix:/run/app/** owner=bob:bob mode=0660\n"                       /* 10 */
    "allow bob mkdir /*\n"                                                            /* 11 */
    "allow app chown /home/app\n"                                                     /* 12 */
    "allow app open /srv/tenants/*/settings.json read write\n"                        /* 13 */
    "allow app chown /t/*/logs/** owner=bob,app\n"                                    /* 14 */
    "allow * mkdir /*/inbox\n"                                                        /* 15 */
    "allow bob bind unix:/run/*/sock\n";                                              /* 16 */

static void write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
        fclose(f);
}

static int setup(void **state)
{
        (void)state;
        char err[512];
        strcpy(dir, "/tmp/test-match.XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(pw_path, sizeof(pw_path), "%s/passwd", dir);
        snprintf(gr_path, sizeof(gr_path), "%s/group", dir);
        write_file(pw_path, "root:x:0:0:root:/root:/bin/sh\n"
                            "app:x:1000:1000::/home/app:/bin/sh\n"
                            "bob:x:1001:1001::/home/bob:/bin/sh\n");
        write_file(gr_path, "root:x:0:\napp:x:1000:\nbob:x:1001:\nstaff:x:2000:bob\n");
        assert_int_equal(userdb_load(&db, pw_path, gr_path), 0);
        if (policy_parse(&pol, "t.conf", POLICY, strlen(POLICY), &db, err, sizeof(err)) < 0)
                fail_msg("%s", err);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        policy_free(&pol);
        userdb_free(&db);
        unlink(pw_path);
        unlink(gr_path);
        rmdir(dir);
        return 0;
}

static const gid_t staff[] = {2000};

/* callers */
#define APP       .uid = 1000, .gid = 1000
#define APP_STAFF .uid = 1000, .gid = 1000, .groups = staff, .n_groups = 1
#define BOB       .uid = 1001, .gid = 1001, .groups = staff, .n_groups = 1
#define EVE       .uid = 1002, .gid = 1002
#define PRIMARY   .uid = 1003, .gid = 2000 /* staff as primary group */

#define OWNER(u, g) .has_owner = true, .owner_uid = (u), .owner_gid = (g)
#define MODE(m)     .has_mode = true, .mode = (m)
#define TCP4(a, p)  .family = AF_INET, .socktype = SOCK_STREAM, .addr = (a), .port = (p)
#define TCP6(a, p)  .family = AF_INET6, .socktype = SOCK_STREAM, .addr = (a), .port = (p)
#define UDP4(a, p)  .family = AF_INET, .socktype = SOCK_DGRAM, .addr = (a), .port = (p)

struct mcase {
        struct sd_request req;
        int rc;
        unsigned line;   /* the rule that allows it */
        const char *why; /* a substring of the explanation */
};

#define OK(l, ...)                                                                                 \
        {                                                                                          \
                {__VA_ARGS__}, 0, l, NULL                                                          \
        }
#define NO(w, ...)                                                                                 \
        {                                                                                          \
                {__VA_ARGS__}, -EACCES, 0, w                                                       \
        }
#define BAD(w, ...)                                                                                \
        {                                                                                          \
                {__VA_ARGS__}, -EINVAL, 0, w                                                       \
        }
#define MKDIR(p)             .op = SD_OP_MKDIR, .path = (p)
#define CHOWN(p)             .op = SD_OP_CHOWN, .path = (p)
#define CHMOD(p)             .op = SD_OP_CHMOD, .path = (p)
#define OPEN(p)              .op = SD_OP_OPEN, .path = (p)
#define BIND                 .op = SD_OP_BIND
#define CLOSEST(l, what)     "closest is t.conf:" #l " " what
#define NOT_OWNER_LIST(u, g) "owner " #u ":" #g " is not in its owner= list"
#define NOT_MODE_LIST(m)     "mode " #m " is not in its mode= list"

static const struct mcase cases[] = {
    /* exact, children, descendants; "not the directory itself"; prefix tricks */
    OK(1, MKDIR("/data/a"), APP),
    OK(1, MKDIR("/data/a/b/c"), APP),
    NO(CLOSEST(11, "(allow bob mkdir /*): the caller does not match"), MKDIR("/data"), APP),
    NO("no allow rule for mkdir /data2 by uid 1000; closest is t.conf:11", MKDIR("/data2"), APP),
    NO(CLOSEST(1, "(allow app mkdir /data/**): the path or address does not match"),
       MKDIR("/data2/x"), APP),
    NO(NULL, MKDIR("/data2/x"), APP),
    NO(NULL, MKDIR("/dat"), APP),
    NO(NULL, MKDIR("/"), APP),
    OK(11, MKDIR("/data"), BOB),
    OK(11, MKDIR("/x"), BOB),
    NO(NULL, MKDIR("/x/y"), BOB),
    NO(NULL, MKDIR("/"), BOB),
    OK(2, MKDIR("/exact/dir"), APP),
    NO(NULL, MKDIR("/exact"), APP),
    NO(NULL, MKDIR("/exact/dir/x"), APP),
    NO(NULL, MKDIR("/exact/dirx"), APP),
    OK(3, CHOWN("/data/x"), BOB),
    NO(CLOSEST(3, "(allow bob chown /data/*): the path or address does not match"),
       CHOWN("/data/x/y"), BOB),
    NO(NULL, CHOWN("/data"), BOB),
    NO(NULL, CHOWN("/datax/y"), BOB),
    OK(12, CHOWN("/home/app"), APP),
    NO(NULL, CHOWN("/home/app/x"), APP),
    NO(NULL, CHOWN("/home"), APP),
    OK(4, CHMOD("/srv/a/b/c"), APP, MODE(0644)),
    NO(NULL, CHMOD("/srv"), APP, MODE(0644)),

    /* owners: a list, and the default (the caller's own uid:gid) */
    OK(1, MKDIR("/data/x"), APP, OWNER(1000, 1000)),
    OK(1, MKDIR("/data/x"), APP, OWNER(1001, 2000)),
    NO(NOT_OWNER_LIST(1001, 1001), MKDIR("/data/x"), APP, OWNER(1001, 1001)),
    NO(NOT_OWNER_LIST(0, 0), MKDIR("/data/x"), APP, OWNER(0, 0)),
    OK(2, MKDIR("/exact/dir"), APP, OWNER(1000, 1000)),
    NO("owner 1001:1001 is not the caller's own uid:gid (it has no owner=)", MKDIR("/exact/dir"),
       APP, OWNER(1001, 1001)),
    NO("owner 1000:2000 is not the caller's own", MKDIR("/exact/dir"), APP, OWNER(1000, 2000)),
    NO(NULL, MKDIR("/exact/dir"), APP_STAFF, OWNER(1000, 2000)),
    OK(3, CHOWN("/data/x"), BOB, OWNER(1001, 1001)),
    NO("owner 1000:1000 is not the caller's own", CHOWN("/data/x"), BOB, OWNER(1000, 1000)),
    NO("owner 0:0", CHOWN("/data/x"), BOB, OWNER(0, 0)),

    /* modes: a list (set-uid/set-gid only when named), and no list */
    OK(1, MKDIR("/data/x"), APP, MODE(0700)),
    OK(1, MKDIR("/data/x"), APP, MODE(0750)),
    OK(1, MKDIR("/data/x"), APP, MODE(02750)),
    NO(NOT_MODE_LIST(0755), MKDIR("/data/x"), APP, MODE(0755)),
    NO(NOT_MODE_LIST(6750), MKDIR("/data/x"), APP, MODE(06750)),
    NO(NOT_MODE_LIST(0000), MKDIR("/data/x"), APP, MODE(0)),
    OK(2, MKDIR("/exact/dir"), APP, MODE(0777)),
    OK(2, MKDIR("/exact/dir"), APP, MODE(0)),
    NO("mode 4755 is not allowed (set-uid, set-gid and sticky bits need a mode= that names "
       "them)",
       MKDIR("/exact/dir"), APP, MODE(04755)),
    NO("mode 2777 is not allowed", MKDIR("/exact/dir"), APP, MODE(02777)),
    NO("mode 1777 is not allowed", MKDIR("/exact/dir"), APP, MODE(01777)),
    OK(4, CHMOD("/srv/x"), APP, MODE(0600)),
    OK(4, CHMOD("/srv/x"), APP, MODE(04755)),
    NO(NOT_MODE_LIST(2755), CHMOD("/srv/x"), APP, MODE(02755)),
    NO(NOT_MODE_LIST(0755), CHMOD("/srv/x"), APP, MODE(0755)),
    BAD("chmod needs a mode", CHMOD("/srv/x"), APP),
    BAD("mode 10000 out of range", CHMOD("/srv/x"), APP, MODE(010000)),

    /* recursive, parents */
    OK(3, CHOWN("/data/x"), BOB, .recursive = true),
    NO("it does not allow recursive", CHOWN("/home/app"), APP, .recursive = true),
    OK(1, MKDIR("/data/a/b"), APP, .parents = true),
    NO("it does not allow parents", MKDIR("/exact/dir"), APP, .parents = true),
    BAD("mkdir takes no recursive", MKDIR("/data/x"), APP, .recursive = true),
    BAD("chown takes no parents", CHOWN("/data/x"), BOB, .parents = true),
    BAD("chown takes no mode", CHOWN("/data/x"), BOB, MODE(0700)),
    BAD("chmod takes no owner", CHMOD("/srv/x"), APP, MODE(0600), OWNER(1000, 1000)),
    BAD("mkdir takes no read, write or create", MKDIR("/data/x"), APP, .read = true),

    /* open: read, write, create */
    OK(5, OPEN("/etc/ssl/app.key"), BOB, .read = true),
    OK(5, OPEN("/etc/ssl/app.key"), APP_STAFF, .read = true),
    OK(5, OPEN("/etc/ssl/app.key"), PRIMARY, .read = true),
    NO(CLOSEST(5, "(allow @staff open /etc/ssl/app.key): the caller does not match"),
       OPEN("/etc/ssl/app.key"), APP, .read = true),
    NO("it does not allow write", OPEN("/etc/ssl/app.key"), BOB, .read = true, .write = true),
    NO(NULL, OPEN("/etc/ssl/app.key2"), BOB, .read = true),
    NO(NULL, OPEN("/etc/ssl"), BOB, .read = true),
    OK(6, OPEN("/var/log/app/x.log"), EVE, .write = true),
    OK(6, OPEN("/var/log/app/x.log"), EVE, .write = true, .create = true),
    OK(6, OPEN("/var/log/app/x.log"), EVE, .write = true, .create = true, MODE(0640)),
    OK(6, OPEN("/var/log/app/x.log"), EVE, .write = true, .create = true, OWNER(1002, 1002)),
    NO("owner 1000:1000 is not the caller's own", OPEN("/var/log/app/x.log"), EVE, .write = true,
       .create = true, OWNER(1000, 1000)),
    NO(NOT_MODE_LIST(0600), OPEN("/var/log/app/x.log"), EVE, .write = true, .create = true,
       MODE(0600)),
    NO("it does not allow read", OPEN("/var/log/app/x.log"), EVE, .read = true),
    NO("it does not allow create", OPEN("/etc/ssl/app.key"), BOB, .read = true, .create = true),
    NO(NULL, OPEN("/var/log/app/sub/x.log"), EVE, .write = true),
    NO(NULL, OPEN("/var/log/app"), EVE, .write = true),
    BAD("open needs read, write or both", OPEN("/var/log/app/x"), EVE),
    BAD("open without create takes no mode", OPEN("/var/log/app/x"), EVE, .write = true,
        MODE(0640)),
    BAD("open without create takes no owner", OPEN("/var/log/app/x"), EVE, .write = true,
        OWNER(1002, 1002)),

    /* bind: family, address, port ranges, unix paths */
    OK(7, BIND, APP, TCP4("0.0.0.0", 443)),
    OK(7, BIND, APP, TCP4(NULL, 443)),
    OK(7, BIND, APP, TCP4("*", 443)),
    OK(7, BIND, APP, TCP4("192.0.2.1", 443)),
    OK(7, BIND, APP, TCP6("::", 443)),
    OK(7, BIND, APP, TCP6("2001:db8::1", 443)),
    NO(CLOSEST(7, "(allow app bind tcp:*:443): the path or address does not match"), BIND, APP,
       TCP4("0.0.0.0", 444)),
    NO(NULL, BIND, APP, UDP4("0.0.0.0", 443)),
    NO(NULL, BIND, BOB, TCP4("0.0.0.0", 443)),
    OK(8, BIND, APP, UDP4("127.0.0.1", 5000)),
    OK(8, BIND, APP, UDP4("127.0.0.1", 5005)),
    OK(8, BIND, APP, UDP4("127.0.0.1", 5010)),
    NO(NULL, BIND, APP, UDP4("127.0.0.1", 4999)),
    NO(NULL, BIND, APP, UDP4("127.0.0.1", 5011)),
    NO(NULL, BIND, APP, UDP4("127.0.0.2", 5005)),
    NO(NULL, BIND, APP, UDP4("0.0.0.0", 5005)),
    NO(NULL, BIND, APP, TCP4("127.0.0.1", 5005)),
    NO(NULL, BIND, APP, .family = AF_INET6, .socktype = SOCK_DGRAM, .addr = "::ffff:127.0.0.1",
       .port = 5005),
    OK(9, BIND, APP, TCP6("::1", 8080)),
    OK(9, BIND, APP, TCP6("[::1]", 8080)),
    NO(NULL, BIND, APP, TCP6("::2", 8080)),
    NO(NULL, BIND, APP, TCP6("::", 8080)),
    NO(NULL, BIND, APP, TCP4("127.0.0.1", 8080)),
    OK(10, BIND, BOB, .family = AF_UNIX, .socktype = SOCK_STREAM, .path = "/run/app/s.sock"),
    OK(10, BIND, BOB, .family = AF_UNIX, .socktype = SOCK_DGRAM, .path = "/run/app/a/b",
       OWNER(1001, 1001), MODE(0660)),
    NO(NOT_MODE_LIST(0666), BIND, BOB, .family = AF_UNIX, .socktype = SOCK_STREAM,
       .path = "/run/app/s", MODE(0666)),
    NO(NOT_OWNER_LIST(1000, 1000), BIND, BOB, .family = AF_UNIX, .socktype = SOCK_STREAM,
       .path = "/run/app/s", OWNER(1000, 1000)),
    NO(NULL, BIND, BOB, .family = AF_UNIX, .socktype = SOCK_STREAM, .path = "/run/app"),
    NO(NULL, BIND, BOB, .family = AF_UNIX, .socktype = SOCK_STREAM, .path = "/run/apps/x"),
    NO(NULL, BIND, APP, .family = AF_UNIX, .socktype = SOCK_STREAM, .path = "/run/app/s"),
    BAD("bad path", BIND, BOB, .family = AF_UNIX, .socktype = SOCK_STREAM, .path = "/run/app/../x"),
    BAD("bind: unknown address family 17", BIND, APP, .family = 17, .socktype = SOCK_STREAM,
        .port = 443),
    BAD("bind: unsupported socket type", BIND, APP, .family = AF_INET, .socktype = SOCK_RAW,
        .port = 443),
    BAD("bind: port 0 out of range 1-65535", BIND, APP, TCP4(NULL, 0)),
    BAD("bind: port 65536 out of range", BIND, APP, TCP4(NULL, 65536)),
    BAD("bad IPv4 address \"1.2.3\"", BIND, APP, TCP4("1.2.3", 443)),
    BAD("bad IPv6 address", BIND, APP, TCP6("::1::2", 443)),
    BAD("bad IPv4 address \"::1\"", BIND, APP, TCP4("::1", 443)),
    BAD("bind takes no mode", BIND, APP, TCP4(NULL, 443), MODE(0600)),

    /* callers: name, uid, @group (primary and supplementary), * */
    NO(CLOSEST(1, "(allow app mkdir /data/**): the caller does not match"), MKDIR("/data/x"), EVE),
    OK(4, CHMOD("/srv/x"), APP_STAFF, MODE(0644)),
    NO(NULL, CHMOD("/srv/x"), BOB, MODE(0644)),
    OK(6, OPEN("/var/log/app/y"), .uid = 0, .gid = 0, .write = true),
    OK(6, OPEN("/var/log/app/y"), .uid = 65534, .gid = 65534, .write = true),
    NO("no allow rule for chmod /x by uid 1002", CHMOD("/x"), EVE, MODE(0644)),

    /* a mid-path wildcard: "*" is one whole component, a final "**" any depth */
    OK(13, OPEN("/srv/tenants/a/settings.json"), APP, .read = true),
    OK(13, OPEN("/srv/tenants/b-2/settings.json"), APP, .read = true, .write = true),
    NO(NULL, OPEN("/srv/tenants/settings.json"), APP, .read = true),
    NO(NULL, OPEN("/srv/tenants/a/b/settings.json"), APP, .read = true),
    NO(NULL, OPEN("/srv/tenants/a/settings.jsonx"), APP, .read = true),
    NO(NULL, OPEN("/srv/tenants/a"), APP, .read = true),
    NO(NULL, OPEN("/srv/tenants"), APP, .read = true),
    NO(NULL, OPEN("/srv/tenantsX/a/settings.json"), APP, .read = true),
    NO(CLOSEST(13, "(allow app open /srv/tenants/*/settings.json): it does not allow create"),
       OPEN("/srv/tenants/a/settings.json"), APP, .read = true, .create = true),
    NO(CLOSEST(13, "(allow app open /srv/tenants/*/settings.json): the caller does not match"),
       OPEN("/srv/tenants/a/settings.json"), BOB, .read = true),
    /* owner=bob,app: each user's uid with its primary group */
    OK(14, CHOWN("/t/x/logs/a"), APP, OWNER(1001, 1001)),
    OK(14, CHOWN("/t/x/logs/a/b"), APP, OWNER(1000, 1000)),
    OK(14, CHOWN("/t/x/logs/a"), APP),
    NO(NOT_OWNER_LIST(1001, 2000), CHOWN("/t/x/logs/a"), APP, OWNER(1001, 2000)),
    NO(NULL, CHOWN("/t/x/logs"), APP, OWNER(1000, 1000)),
    NO(NULL, CHOWN("/t/logs/a"), APP, OWNER(1000, 1000)),
    NO(NULL, CHOWN("/t/x/y/logs/a"), APP, OWNER(1000, 1000)),
    OK(15, MKDIR("/home/inbox"), EVE),
    NO(NULL, MKDIR("/inbox"), EVE),
    NO(NULL, MKDIR("/a/b/inbox"), EVE),
    NO(NULL, MKDIR("/home/inbox/x"), EVE),
    OK(16, BIND, BOB, .family = AF_UNIX, .socktype = SOCK_STREAM, .path = "/run/x/sock"),
    NO(NULL, BIND, BOB, .family = AF_UNIX, .socktype = SOCK_STREAM, .path = "/run/sock"),
    NO(NULL, BIND, BOB, .family = AF_UNIX, .socktype = SOCK_STREAM, .path = "/run/x/y/sock"),

    /* not in normal form: refused before matching */
    BAD("bad path: path is not absolute", MKDIR("data/x"), APP),
    BAD("bad path: path contains a \".\" component", MKDIR("/data/./x"), APP),
    BAD("bad path: path contains a \"..\" component", MKDIR("/data/../etc"), APP),
    BAD("bad path: path contains a \"..\" component", MKDIR("/data/x/.."), APP),
    BAD("bad path: path contains //", MKDIR("/data//x"), APP),
    BAD("bad path: path ends with /", MKDIR("/data/x/"), APP),
    BAD("bad path: empty path", MKDIR(""), APP),
    BAD("bad path: empty path", MKDIR(NULL), APP),
    BAD("unknown operation 0", .op = 0, .path = "/data/x", APP),
    BAD("unknown operation 6", .op = 6, .path = "/data/x", APP),
};

static void test_table(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const struct mcase *c = &cases[i];
                const struct policy_rule *rule = (const void *)1;
                char why[8192] = "";
                int r = policy_match(&pol, &c->req, &rule, why, sizeof(why));
                if (r != c->rc)
                        fail_msg("case %zu (%s %s): rc %d, expected %d: %s", i,
                                 sd_op_name(c->req.op), c->req.path ? c->req.path : "", r, c->rc,
                                 why);
                if (r == 0) {
                        char want[64];
                        assert_non_null(rule);
                        if (rule->line != c->line)
                                fail_msg("case %zu: allowed by line %u, expected %u", i, rule->line,
                                         c->line);
                        snprintf(want, sizeof(want), "allowed by t.conf:%u", c->line);
                        assert_string_equal(why, want);
                } else {
                        assert_null(rule);
                        assert_true(why[0] != '\0');
                        if (c->why && !strstr(why, c->why))
                                fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, why,
                                         c->why);
                }
        }
}

static void test_too_long(void **state)
{
        (void)state;
        char *p = malloc(PATH_MAX + 2);
        char why[256];
        assert_non_null(p);
        memcpy(p, "/data/", 6);
        memset(p + 6, 'a', PATH_MAX - 6);
        p[PATH_MAX - 1] = '\0'; /* PATH_MAX - 1 bytes: the most allowed */
        for (size_t i = 255; i < PATH_MAX - 1; i += 256)
                p[i] = '/';
        struct sd_request r = {MKDIR(p), APP};
        assert_int_equal(policy_match(&pol, &r, NULL, why, sizeof(why)), 0);
        p[PATH_MAX - 1] = 'a';
        p[PATH_MAX] = '\0';
        assert_int_equal(policy_match(&pol, &r, NULL, why, sizeof(why)), -EINVAL);
        assert_string_equal(why, "bad path: path longer than 4095 bytes");
        p[PATH_MAX] = 'a';
        p[PATH_MAX + 1] = '\0';
        assert_int_equal(policy_match(&pol, &r, NULL, why, sizeof(why)), -EINVAL);
        free(p);
}

static void test_empty_policy(void **state)
{
        (void)state;
        struct policy empty = {0};
        char why[256];
        struct sd_request r = {MKDIR("/data/x"), APP};
        assert_int_equal(policy_match(&empty, &r, NULL, why, sizeof(why)), -EACCES);
        assert_string_equal(why, "no allow rule for mkdir /data/x by uid 1000");
        assert_int_equal(policy_match(&empty, &r, NULL, NULL, 0), -EACCES);
}

static void test_path_check(void **state)
{
        (void)state;
        char err[128];
        assert_int_equal(path_check("/", err, sizeof(err)), 0);
        assert_int_equal(path_check("/a", err, sizeof(err)), 0);
        assert_int_equal(path_check("/a/.b/..c/...", err, sizeof(err)), 0);
        assert_int_equal(path_check("/a b/*/#", err, sizeof(err)), 0);
        assert_int_equal(path_check("//", err, sizeof(err)), -EINVAL);
        assert_int_equal(path_check("/.", err, sizeof(err)), -EINVAL);
        assert_int_equal(path_check("/..", err, sizeof(err)), -EINVAL);
        assert_int_equal(path_check("/./a", err, sizeof(err)), -EINVAL);
        assert_int_equal(path_check(".", err, sizeof(err)), -EINVAL);
        assert_int_equal(path_check("", err, sizeof(err)), -EINVAL);
        assert_int_equal(path_check(NULL, NULL, 0), -EINVAL);

        /* bytes off the wire: the length is what counts */
        assert_int_equal(path_check_len("/data/x", 7, err, sizeof(err)), 0);
        assert_int_equal(path_check_len("/data/xyz", 7, err, sizeof(err)), 0);
        assert_int_equal(path_check_len("/data\0/x", 8, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "path contains a NUL byte");
        assert_int_equal(path_check_len("/data/x\0", 8, err, sizeof(err)), -EINVAL);
        assert_int_equal(path_check_len("/", 0, err, sizeof(err)), -EINVAL);
        assert_int_equal(path_check_len("/a/", 3, err, sizeof(err)), -EINVAL);
        assert_int_equal(path_check_len("/a/", 2, err, sizeof(err)), 0);
        static char big[PATH_MAX + 1];
        memset(big, 'a', sizeof(big));
        big[0] = '/';
        assert_int_equal(path_check_len(big, PATH_MAX - 1, err, sizeof(err)), 0);
        assert_int_equal(path_check_len(big, PATH_MAX, err, sizeof(err)), -ENAMETOOLONG);
}

static void test_path_rest(void **state)
{
        (void)state;
        assert_string_equal(path_rest("/data", "/data/a/b"), "a/b");
        assert_string_equal(path_rest("/data", "/data/a"), "a");
        assert_string_equal(path_rest("/data", "/data"), ".");
        assert_null(path_rest("/data", "/data2"));
        assert_null(path_rest("/data", "/data2/a"));
        assert_null(path_rest("/data", "/dat"));
        assert_null(path_rest("/data", "/"));
        assert_null(path_rest("/data/a", "/data"));
        assert_string_equal(path_rest("/", "/x/y"), "x/y");
        assert_string_equal(path_rest("/", "/"), ".");

        /* what the engine is given for a matched request */
        const struct policy_rule *rule;
        char why[256];
        struct sd_request r = {MKDIR("/data/t42/logs"), APP};
        assert_int_equal(policy_match(&pol, &r, &rule, why, sizeof(why)), 0);
        assert_string_equal(rule->anchor, "/data");
        assert_string_equal(path_rest(rule->anchor, r.path), "t42/logs");
        struct sd_request e = {MKDIR("/exact/dir"), APP};
        assert_int_equal(policy_match(&pol, &e, &rule, why, sizeof(why)), 0);
        assert_string_equal(rule->anchor, "/exact");
        assert_string_equal(path_rest(rule->anchor, e.path), "dir");
        struct sd_request b = {MKDIR("/x"), BOB};
        assert_int_equal(policy_match(&pol, &b, &rule, why, sizeof(why)), 0);
        assert_string_equal(rule->anchor, "/");
        assert_string_equal(path_rest(rule->anchor, b.path), "x");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_table),        cmocka_unit_test(test_too_long),
            cmocka_unit_test(test_empty_policy), cmocka_unit_test(test_path_check),
            cmocka_unit_test(test_path_rest),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
