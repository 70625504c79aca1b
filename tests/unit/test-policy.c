/* Unit tests for common/policy/policy.c: every statement, every error message
 * (file:line:col), the limits, the ownership checks of policy_load() and
 * the environment overrides.  Runs as root (it chowns temp files). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy.h"

static char dir[64];
static char pw_path[128], gr_path[128];
static struct userdb db;

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
        strcpy(dir, "/tmp/test-policy.XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(pw_path, sizeof(pw_path), "%s/passwd", dir);
        snprintf(gr_path, sizeof(gr_path), "%s/group", dir);
        write_file(pw_path, "root:x:0:0:root:/root:/bin/sh\n"
                            "app:x:1000:1000::/home/app:/bin/sh\n"
                            "bob:x:1001:1001::/home/bob:/bin/sh\n"
                            "toor:x:0:0::/root:/bin/sh\n");
        write_file(gr_path, "root:x:0:\n"
                            "app:x:1000:\n"
                            "bob:x:1001:\n"
                            "staff:x:2000:app,bob\n"
                            "wheel:x:0:\n");
        assert_int_equal(userdb_load(&db, pw_path, gr_path), 0);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        userdb_free(&db);
        unlink(pw_path);
        unlink(gr_path);
        rmdir(dir);
        return 0;
}

static int parse(struct policy *p, const char *text, char *err, size_t errlen)
{
        return policy_parse(p, "t.conf", text, strlen(text), &db, err, errlen);
}

static void test_statements(void **state)
{
        (void)state;
        static const char text[] =
            "# a full policy\n"
            "user app:staff   # launch user\n"
            "\n"
            "socket /run/sd/sd.sock\n"
            "audit -\n"
            "audit-sign /etc/stepdown/audit.key\n"
            "audit-sync always\n"
            "audit-failure allow\n"
            "audit-syslog no\n"
            "umask 027\n"
            "key /etc/stepdown/key\n"
            "\tno-new-privs\t\n"
            "setup mkdir /data owner=bob:1001 mode=0750 parents\n"
            "setup chown /data recursive xdev hardlinks\n"
            "setup chmod /data mode=02770\n"
            "allow app mkdir /data/** owner=app:app,1001:staff mode=0700,0750 parents\n"
            "allow 1001 chown /data/* recursive\n"
            "allow @staff chmod /data/x mode=0640\n"
            "allow * open /etc/ssl/app.key read\n"
            "allow app open /var/** read write create owner=app:app mode=0600\n"
            "allow app bind tcp:*:443\n"
            "allow app bind udp:127.0.0.1:5000-5010\n"
            "allow app bind tcp:[::1]:80\n"
            "allow app bind unix:/run/app/* owner=app:app mode=0660\n"
            "allow root chown /** # root may\n"
            "allow @1000 mkdir /*";
        struct policy p;
        char err[512] = "";
        int r = parse(&p, text, err, sizeof(err));
        if (r < 0)
                fail_msg("%s", err);
        assert_string_equal(p.file, "t.conf");
        assert_string_equal(p.user, "app:staff");
        assert_int_equal(p.user_uid, 1000);
        assert_int_equal(p.user_gid, 2000);
        assert_int_equal(p.user_line, 2);
        assert_string_equal(p.socket, "/run/sd/sd.sock");
        assert_int_equal(p.socket_line, 4);
        assert_string_equal(p.audit, "-");
        assert_string_equal(p.audit_sign, "/etc/stepdown/audit.key");
        assert_int_equal(p.audit_sync, POLICY_YES);
        assert_int_equal(p.audit_failure, POLICY_NO);
        assert_int_equal(p.audit_syslog, POLICY_NO);
        assert_true(p.has_umask);
        assert_int_equal(p.umask, 027);
        assert_int_equal(p.key, POLICY_KEY_FILE);
        assert_string_equal(p.key_file, "/etc/stepdown/key");
        assert_true(p.no_new_privs);
        assert_int_equal(p.no_new_privs_line, 12);

        assert_int_equal(p.n_steps, 3);
        const struct policy_step *s = &p.steps[0];
        assert_int_equal(s->line, 13);
        assert_int_equal(s->op, SD_OP_MKDIR);
        assert_string_equal(s->path, "/data");
        assert_false(s->owner_from_user);
        assert_int_equal(s->uid, 1001);
        assert_int_equal(s->gid, 1001);
        assert_true(s->has_mode);
        assert_int_equal(s->mode, 0750);
        assert_true(s->parents);
        s = &p.steps[1];
        assert_int_equal(s->op, SD_OP_CHOWN);
        assert_true(s->owner_from_user); /* defaults to the launch user */
        assert_int_equal(s->uid, 1000);
        assert_int_equal(s->gid, 2000);
        assert_true(s->recursive && s->xdev && s->hardlinks);
        assert_false(s->has_mode);
        s = &p.steps[2];
        assert_int_equal(s->op, SD_OP_CHMOD);
        assert_int_equal(s->mode, 02770);

        assert_int_equal(p.n_rules, 11);
        const struct policy_rule *x = &p.rules[0];
        assert_int_equal(x->line, 16);
        assert_int_equal(x->caller.kind, CALLER_UID);
        assert_int_equal(x->caller.uid, 1000);
        assert_string_equal(x->caller.text, "app");
        assert_int_equal(x->op, SD_OP_MKDIR);
        assert_string_equal(x->pattern, "/data/**");
        assert_int_equal(x->kind, PATTERN_DESCENDANTS);
        assert_string_equal(x->anchor, "/data");
        assert_int_equal(x->n_owners, 2);
        assert_int_equal(x->owners[1].uid, 1001);
        assert_int_equal(x->owners[1].gid, 2000);
        assert_int_equal(x->n_modes, 2);
        assert_int_equal(x->modes[1], 0750);
        assert_true(x->parents);
        x = &p.rules[1];
        assert_int_equal(x->caller.uid, 1001);
        assert_int_equal(x->kind, PATTERN_CHILDREN);
        assert_string_equal(x->anchor, "/data");
        assert_true(x->recursive);
        assert_int_equal(x->n_owners, 0);
        x = &p.rules[2];
        assert_int_equal(x->caller.kind, CALLER_GROUP);
        assert_int_equal(x->caller.gid, 2000);
        assert_int_equal(x->kind, PATTERN_EXACT);
        assert_string_equal(x->anchor, "/data");
        x = &p.rules[3];
        assert_int_equal(x->caller.kind, CALLER_ANY);
        assert_string_equal(x->anchor, "/etc/ssl");
        assert_true(x->read && !x->write && !x->create);
        x = &p.rules[4];
        assert_true(x->read && x->write && x->create);
        x = &p.rules[5];
        assert_int_equal(x->op, SD_OP_BIND);
        assert_int_equal(x->bind.family, 0);
        assert_int_equal(x->bind.socktype, SOCK_STREAM);
        assert_true(x->bind.any_addr);
        assert_int_equal(x->bind.port_lo, 443);
        assert_int_equal(x->bind.port_hi, 443);
        assert_null(x->anchor);
        x = &p.rules[6];
        assert_int_equal(x->bind.family, AF_INET);
        assert_int_equal(x->bind.socktype, SOCK_DGRAM);
        assert_memory_equal(x->bind.addr, "\x7f\0\0\x01", 4);
        assert_int_equal(x->bind.port_lo, 5000);
        assert_int_equal(x->bind.port_hi, 5010);
        x = &p.rules[7];
        assert_int_equal(x->bind.family, AF_INET6);
        assert_memory_equal(x->bind.addr, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
        x = &p.rules[8];
        assert_int_equal(x->bind.family, AF_UNIX);
        assert_int_equal(x->kind, PATTERN_CHILDREN);
        assert_string_equal(x->anchor, "/run/app");
        x = &p.rules[9];
        assert_int_equal(x->caller.uid, 0);
        assert_string_equal(x->anchor, "/");
        assert_int_equal(x->kind, PATTERN_DESCENDANTS);
        x = &p.rules[10];
        assert_int_equal(x->caller.kind, CALLER_GROUP);
        assert_int_equal(x->caller.gid, 1000);
        assert_string_equal(x->anchor, "/");
        assert_int_equal(x->kind, PATTERN_CHILDREN);

        /* --check output: every statement with its line */
        char *out = NULL;
        size_t outlen = 0;
        FILE *f = open_memstream(&out, &outlen);
        assert_non_null(f);
        policy_print(&p, f);
        fclose(f);
        static const char *const want[] = {
            "t.conf:2: user app:staff (uid 1000, gid 2000)\n",
            "t.conf:4: socket /run/sd/sd.sock\n",
            "t.conf:5: audit -\n",
            "t.conf:6: audit-sign /etc/stepdown/audit.key\n",
            "t.conf:7: audit-sync always\n",
            "t.conf:8: audit-failure allow\n",
            "t.conf:9: audit-syslog no\n",
            "t.conf:10: umask 0027\n",
            "t.conf:11: key /etc/stepdown/key\n",
            "t.conf:12: no-new-privs\n",
            "t.conf:13: setup mkdir /data owner=1001:1001 mode=0750 parents\n",
            "t.conf:14: setup chown /data owner=1000:2000 recursive xdev hardlinks\n",
            "t.conf:15: setup chmod /data mode=2770\n",
            "t.conf:16: allow 1000 mkdir /data/** owner=1000:1000,1001:2000 mode=0700,0750 "
            "parents    # app, anchor /data\n",
            "t.conf:17: allow 1001 chown /data/* recursive    # 1001, anchor /data\n",
            "t.conf:18: allow @2000 chmod /data/x mode=0640    # @staff, anchor /data\n",
            "t.conf:19: allow * open /etc/ssl/app.key read    # *, anchor /etc/ssl\n",
            "t.conf:21: allow 1000 bind tcp:*:443    # app\n",
            "t.conf:22: allow 1000 bind udp:127.0.0.1:5000-5010    # app\n",
            "t.conf:23: allow 1000 bind tcp:[::1]:80    # app\n",
            "t.conf:24: allow 1000 bind unix:/run/app/* owner=1000:1000 mode=0660    # app, "
            "anchor /run/app\n",
            "t.conf:25: allow 0 chown /**    # root, anchor /\n",
            "3 setup steps, 11 allow rules\n",
        };
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
                if (!strstr(out, want[i]))
                        fail_msg("missing line %s in:\n%s", want[i], out);
        free(out);
        policy_free(&p);
        policy_free(&p); /* idempotent */
}

static void test_defaults(void **state)
{
        (void)state;
        struct policy p;
        char err[256];
        assert_int_equal(parse(&p, "", err, sizeof(err)), 0);
        assert_null(p.user);
        assert_null(p.socket);
        assert_int_equal(p.key, POLICY_KEY_AUTO);
        assert_false(p.has_umask);
        assert_int_equal(p.n_rules, 0);
        policy_free(&p);
        assert_int_equal(parse(&p, "key none\nkey2", err, sizeof(err)), -EINVAL);
        assert_int_equal(parse(&p, "key none\n#x\n\n   \n", err, sizeof(err)), 0);
        assert_int_equal(p.key, POLICY_KEY_NONE);
        policy_free(&p);
        assert_int_equal(parse(&p, "key auto\numask 0", err, sizeof(err)), 0);
        assert_int_equal(p.key, POLICY_KEY_AUTO);
        assert_int_equal(p.key_line, 1);
        policy_free(&p);
        /* text need not be NUL terminated: only len bytes are read */
        assert_int_equal(policy_parse(&p, "x", "umask 022XYZ", 9, &db, err, sizeof(err)), 0);
        assert_int_equal(p.umask, 022);
        policy_free(&p);
}

struct ecase {
        const char *text;
        const char *msg;
};

/* intercept OP... [log-continued] [required]: the ops as bits, printed back in order. */
static void test_intercept(void **state)
{
        (void)state;
        const char *text = "user app\nintercept open mkdir bind log-continued\n";
        struct policy p;
        char err[512];
        assert_int_equal(policy_parse(&p, "t.conf", text, strlen(text), &db, err, sizeof(err)), 0);
        assert_int_equal(p.intercept_ops,
                         (1u << SD_OP_OPEN) | (1u << SD_OP_MKDIR) | (1u << SD_OP_BIND));
        assert_true(p.intercept_log_continued);
        assert_int_equal(p.intercept_line, 2);
        char *out = NULL;
        size_t outlen = 0;
        FILE *f = open_memstream(&out, &outlen);
        assert_non_null(f);
        policy_print(&p, f);
        fclose(f);
        assert_non_null(strstr(out, "t.conf:2: intercept mkdir open bind log-continued\n"));
        free(out);
        policy_free(&p);

        text = "user app\nintercept chmod\n";
        assert_int_equal(policy_parse(&p, "t.conf", text, strlen(text), &db, err, sizeof(err)), 0);
        assert_int_equal(p.intercept_ops, 1u << SD_OP_CHMOD);
        assert_false(p.intercept_log_continued);
        assert_false(p.intercept_required);
        policy_free(&p);

        /* required, before or after log-continued: printed in one order */
        text = "user app\nintercept mkdir required log-continued\n";
        assert_int_equal(policy_parse(&p, "t.conf", text, strlen(text), &db, err, sizeof(err)), 0);
        assert_true(p.intercept_required);
        assert_true(p.intercept_log_continued);
        f = open_memstream(&out, &outlen);
        assert_non_null(f);
        policy_print(&p, f);
        fclose(f);
        assert_non_null(strstr(out, "t.conf:2: intercept mkdir log-continued required\n"));
        free(out);
        policy_free(&p);
}

static const struct ecase errors[] = {
    {"bogus 1", "t.conf:1:1: unknown statement \"bogus\" (expected user, socket, audit, "
                "audit-sign, audit-sync, audit-failure, audit-syslog, umask, key, "
                "no-new-privs, intercept, setup, setup-unprivileged, broker, allow or remap)"},
    {"setup-unprivileged maybe", "t.conf:1:20: invalid setup-unprivileged \"maybe\" (expected "
                                 "fail, warn or skip)"},
    {"setup-unprivileged", "t.conf:1:19: missing fail, warn or skip after \"setup-unprivileged\""},
    {"setup-unprivileged skip\nsetup-unprivileged warn", "t.conf:2:1: duplicate "
                                                         "\"setup-unprivileged\" statement (first "
                                                         "at line 1)"},
    {"intercept", "t.conf:1:10: missing an operation (mkdir, chown, chmod, open or bind) after "
                  "\"intercept\""},
    {"intercept mkdir rmdir", "t.conf:1:17: unknown operation \"rmdir\" (expected mkdir, chown, "
                              "chmod, open or bind)"},
    {"intercept mkdir mkdir", "t.conf:1:17: operation \"mkdir\" named twice"},
    {"intercept log-continued", "t.conf:1:11: \"log-continued\" goes last, after the operations"},
    {"intercept log-continued mkdir", "t.conf:1:11: \"log-continued\" goes last, after the "
                                      "operations"},
    {"intercept required", "t.conf:1:11: \"required\" goes last, after the operations"},
    {"intercept mkdir required open", "t.conf:1:17: \"required\" goes last, after the "
                                      "operations"},
    {"intercept mkdir required log-continued required", "t.conf:1:40: \"required\" named twice"},
    {"intercept mkdir\nintercept open", "t.conf:2:1: duplicate \"intercept\" statement (first at "
                                        "line 1)"},
    {"broker maybe", "t.conf:1:8: invalid broker \"maybe\" (expected required or optional)"},
    {"broker required extra", "t.conf:1:17: unexpected \"extra\" after required or optional "
                              "(expected end of line)"},
    {"\n\nallow app mkdr /data", "t.conf:3:11: unknown operation \"mkdr\" (expected mkdir, "
                                 "chown, chmod, open or bind)"},
    {"user", "t.conf:1:5: missing a user spec after \"user\""},
    {"user app bob", "t.conf:1:10: unexpected \"bob\" after a user spec (expected end of line)"},
    {"user nosuch", "t.conf:1:6: invalid user spec \"nosuch\": unable to find user nosuch: no "
                    "matching entries in passwd file"},
    {"user toor", "t.conf:1:6: invalid user spec \"toor\": user toor resolves to uid 0: its "
                  "passwd entry maps it to root; refusing (say \"root\" or \"0\" to run as "
                  "root on purpose)"},
    {"user app\nuser bob", "t.conf:2:1: duplicate \"user\" statement (first at line 1)"},
    {"socket run/x", "t.conf:1:8: invalid socket path \"run/x\": path is not absolute (must "
                     "start with /) (expected an absolute path without ., .., // or a "
                     "trailing /)"},
    {"socket /run//x", "t.conf:1:8: invalid socket path \"/run//x\": path contains // "
                       "(expected an absolute path without ., .., // or a trailing /)"},
    {"audit /var/log/../x", "t.conf:1:7: invalid audit path \"/var/log/../x\": path contains "
                            "a \"..\" component (expected an absolute path without ., .., // "
                            "or a trailing /)"},
    {"audit-sign -", "t.conf:1:12: invalid key file \"-\": path is not absolute (must start "
                     "with /) (expected an absolute path without ., .., // or a trailing /)"},
    {"audit-sync sometimes", "t.conf:1:12: invalid audit-sync \"sometimes\" (expected always "
                             "or never)"},
    {"audit-failure", "t.conf:1:14: missing deny or allow after \"audit-failure\""},
    {"audit-syslog 1", "t.conf:1:14: invalid audit-syslog \"1\" (expected yes or no)"},
    {"umask 0778", "t.conf:1:7: invalid umask \"0778\" (expected an octal number 0 to 0777)"},
    {"umask 01000", "t.conf:1:7: invalid umask \"01000\" (expected an octal number 0 to 0777)"},
    {"key random", "t.conf:1:5: invalid key \"random\" (expected auto, none or an absolute "
                   "path)"},
    {"no-new-privs yes", "t.conf:1:14: unexpected \"yes\" after no-new-privs (expected end of "
                         "line)"},
    {"setup", "t.conf:1:6: missing operation after \"setup\" (expected mkdir, chown or "
              "chmod)"},
    {"setup open /x", "t.conf:1:7: unknown operation \"open\" (expected mkdir, chown or "
                      "chmod)"},
    {"setup mkdir", "t.conf:1:12: missing path after \"setup mkdir\""},
    {"setup mkdir /data/*", "t.conf:1:13: wildcard in setup path \"/data/*\" (setup takes one "
                            "exact path)"},
    {"user app\nsetup mkdir /d recursive", "t.conf:2:16: option \"recursive\" is not valid "
                                           "for setup mkdir (expected owner=, mode= or "
                                           "parents)"},
    {"setup chmod /d", "t.conf:1:15: missing mode= for setup chmod"},
    {"setup chmod /d mode=0600,0700", "t.conf:1:26: setup takes one mode= value"},
    {"setup chown /d owner=app:app,bob:bob", "t.conf:1:30: setup takes one owner= value"},
    {"setup chown /d", "t.conf:1:1: setup chown without owner= needs a user statement (the "
                       "launch user it defaults to)"},
    {"allow", "t.conf:1:6: missing caller after \"allow\" (expected a user, uid, @group or *)"},
    {"allow app", "t.conf:1:10: missing operation (expected mkdir, chown, chmod, open or "
                  "bind)"},
    {"allow app mkdir", "t.conf:1:16: missing path pattern after \"mkdir\""},
    {"allow app bind", "t.conf:1:15: missing address (tcp:ADDR:PORT, udp:ADDR:PORT or "
                       "unix:PATH) after \"bind\""},
    {"allow nosuch mkdir /d", "t.conf:1:7: unknown user \"nosuch\" (not in the passwd file)"},
    {"allow toor mkdir /d", "t.conf:1:7: user \"toor\" maps to uid 0 in the passwd file; "
                            "refusing (write \"root\" or \"0\" to mean root)"},
    {"allow 2147483648 mkdir /d", "t.conf:1:7: uid 2147483648 out of range (0 to "
                                  "2147483647)"},
    {"allow @nogroup mkdir /d", "t.conf:1:8: unknown group \"nogroup\" (not in the group "
                                "file)"},
    {"allow @ mkdir /d", "t.conf:1:7: missing group name after \"@\""},
    {"allow @wheel mkdir /d", "t.conf:1:8: group \"wheel\" maps to gid 0 in the group file; "
                              "refusing (write \"root\" or \"0\" to mean gid 0)"},
    {"allow app mkdir data/**", "t.conf:1:17: invalid path \"data\": path is not absolute "
                                "(must start with /) (expected an absolute path without ., "
                                ".., // or a trailing /)"},
    {"allow app mkdir /da*ta", "t.conf:1:20: wildcard in \"/da*ta\" (a * stands for one "
                               "whole component, ** for any depth and only at the end)"},
    {"allow app mkdir /data/*x/y", "t.conf:1:23: wildcard in \"/data/*x/y\" (a * stands for "
                                   "one whole component, ** for any depth and only at the end)"},
    {"allow app mkdir /data/**/x", "t.conf:1:23: wildcard in \"/data/**/x\" (a * stands for "
                                   "one whole component, ** for any depth and only at the end)"},
    {"allow app mkdir /data/***", "t.conf:1:23: wildcard in \"/data/***\" (a * stands for one "
                                  "whole component, ** for any depth and only at the end)"},
    {"allow app mkdir **", "t.conf:1:17: invalid pattern \"**\" (write /* or /**)"},
    {"allow app mkdir */x", "t.conf:1:17: invalid pattern \"*/x\": path is not absolute (must "
                            "start with /) (expected an absolute path without ., .., // or a "
                            "trailing /)"},
    {"allow app mkdir /data/*//x", "t.conf:1:17: invalid pattern \"/data/*//x\": path contains "
                                   "// (expected an absolute path without ., .., // or a "
                                   "trailing /)"},
    {"allow app mkdir /srv/*/logs parents", "t.conf:1:17: parents is not valid with a wildcard "
                                            "before the last component (it would create "
                                            "directories \"/srv/*/logs\" does not name)"},
    {"allow app mkdir //**", "t.conf:1:17: invalid pattern \"//**\" (write /* or /**)"},
    {"allow app mkdir /data/", "t.conf:1:17: invalid path \"/data/\": path ends with / "
                               "(expected an absolute path without ., .., // or a trailing "
                               "/)"},
    {"allow app mkdir /data/./x", "t.conf:1:17: invalid path \"/data/./x\": path contains a "
                                  "\".\" component (expected an absolute path without ., .., "
                                  "// or a trailing /)"},
    {"allow app mkdir /d foo", "t.conf:1:20: unknown option \"foo\" (expected owner=, mode= "
                               "or parents)"},
    {"allow app mkdir /d recursive", "t.conf:1:20: option \"recursive\" is not valid for "
                                     "mkdir (expected owner=, mode= or parents)"},
    {"allow app chown /d mode=0700", "t.conf:1:20: option \"mode\" is not valid for chown "
                                     "(expected owner=, recursive, xdev or hardlinks)"},
    {"allow app open /d read parents", "t.conf:1:24: option \"parents\" is not valid for "
                                       "open (expected owner=, mode=, read, write or "
                                       "create)"},
    {"allow app mkdir /d parents parents", "t.conf:1:28: duplicate option \"parents\""},
    {"allow app mkdir /d owner", "t.conf:1:20: option \"owner\" needs a value "
                                 "(owner=USER[:GROUP])"},
    {"allow app mkdir /d mode", "t.conf:1:20: option \"mode\" needs a value (mode=MODE)"},
    {"allow app mkdir /d parents=yes", "t.conf:1:20: option \"parents\" takes no value"},
    {"allow app mkdir /d owner=", "t.conf:1:26: empty owner= (expected USER[:GROUP])"},
    {"allow app mkdir /d owner=app:", "t.conf:1:26: invalid owner \"app:\" (expected "
                                      "USER:GROUP, or USER for USER's primary group)"},
    {"allow app mkdir /d owner=:app", "t.conf:1:26: invalid owner \":app\" (expected "
                                      "USER:GROUP, or USER for USER's primary group)"},
    {"allow app mkdir /d owner=a:b:c", "t.conf:1:26: invalid owner \"a:b:c\" (expected "
                                       "USER:GROUP, or USER for USER's primary group)"},
    {"allow app mkdir /d owner=4242", "t.conf:1:26: owner \"4242\" has no passwd entry, so no "
                                      "primary group (write 4242:GROUP)"},
    {"allow app mkdir /d owner=nouser", "t.conf:1:26: unknown user \"nouser\" (not in the "
                                        "passwd file)"},
    {"setup chown /d owner=4242", "t.conf:1:22: owner \"4242\" has no passwd entry, so no "
                                  "primary group (write 4242:GROUP)"},
    {"allow app mkdir /d owner=app:app,,bob:bob", "t.conf:1:34: empty entry in owner= list"},
    {"allow app mkdir /d owner=app:app,bob:nogrp", "t.conf:1:38: unknown group \"nogrp\" "
                                                   "(not in the group file)"},
    {"allow app mkdir /d owner=app:app,nouser:app", "t.conf:1:34: unknown user \"nouser\" "
                                                    "(not in the passwd file)"},
    {"allow app mkdir /d mode=0700,0800", "t.conf:1:30: invalid mode \"0800\" (expected an "
                                          "octal number 0 to 07777)"},
    {"allow app mkdir /d mode=017777", "t.conf:1:25: invalid mode \"017777\" (expected an "
                                       "octal number 0 to 07777)"},
    {"allow app mkdir /d mode=", "t.conf:1:25: empty mode= (expected an octal mode)"},
    {"allow app chmod /d", "t.conf:1:19: missing mode= for allow chmod (the modes it may "
                           "set)"},
    {"allow app open /d create", "t.conf:1:25: missing read or write for allow open"},
    {"allow app open /d read mode=0600", "t.conf:1:16: owner= and mode= for open need create"},
    {"allow app bind tcp:*:80 mode=0600", "t.conf:1:16: owner= and mode= are only valid for "
                                          "unix: binds"},
    {"allow app bind sctp:*:80", "t.conf:1:16: invalid bind address \"sctp:*:80\" (expected "
                                 "tcp:ADDR:PORT, udp:ADDR:PORT or unix:PATH)"},
    {"allow app bind tcp:*", "t.conf:1:21: missing port in \"tcp:*\" (expected ADDR:PORT)"},
    {"allow app bind tcp:1.2.3:80", "t.conf:1:20: invalid address in \"tcp:1.2.3:80\" "
                                    "(expected *, an IPv4 address or [IPv6])"},
    {"allow app bind tcp:::1:80", "t.conf:1:20: invalid address in \"tcp:::1:80\" (expected "
                                  "*, an IPv4 address or [IPv6])"},
    {"allow app bind tcp:[::1:80", "t.conf:1:20: invalid address in \"tcp:[::1:80\" "
                                   "(expected *, an IPv4 address or [IPv6])"},
    {"allow app bind tcp:[::1]80", "t.conf:1:25: missing port in \"tcp:[::1]80\" (expected "
                                   "ADDR:PORT)"},
    {"allow app bind tcp:*:0", "t.conf:1:22: invalid port \"0\" (expected a number 1-65535 "
                               "or a range LO-HI)"},
    {"allow app bind tcp:*:65536", "t.conf:1:22: invalid port \"65536\" (expected a number "
                                   "1-65535 or a range LO-HI)"},
    {"allow app bind tcp:*:90-80", "t.conf:1:22: invalid port \"90-80\" (expected a number "
                                   "1-65535 or a range LO-HI)"},
    {"allow app bind udp:*:8x", "t.conf:1:22: invalid port \"8x\" (expected a number 1-65535 "
                                "or a range LO-HI)"},
    {"allow app bind unix:@abstract", "t.conf:1:21: invalid unix socket path \"@abstract\" "
                                      "(expected an absolute path; abstract sockets are not "
                                      "supported)"},
    {"allow app bind unix:/run/*/x*", "t.conf:1:29: wildcard in \"/run/*/x*\" (a * stands for "
                                      "one whole component, ** for any depth and only at the "
                                      "end)"},
    {"user app\r\n", "t.conf:1:9: carriage return (DOS line ends? use \\n only)"},
    {"user app\x01", "t.conf:1:9: control character 0x01"},
    {"allow app mkdir /d # \x7f", "t.conf:1:22: control character 0x7f"},
};

static void test_unprivileged(void **state)
{
        (void)state;
        struct policy p;
        char err[512] = "";
        assert_int_equal(parse(&p, "user app\n", err, sizeof(err)), 0);
        assert_int_equal(p.setup_unprivileged, POLICY_UNPRIV_FAIL); /* the defaults */
        assert_int_equal(p.broker_required, POLICY_UNSET);
        policy_free(&p);
        static const char *const how[] = {"fail", "warn", "skip"};
        for (int i = 0; i < 3; i++) {
                char text[128];
                snprintf(text, sizeof(text), "user app\nsetup-unprivileged %s\nbroker %s\n", how[i],
                         i ? "optional" : "required");
                assert_int_equal(parse(&p, text, err, sizeof(err)), 0);
                assert_int_equal(p.setup_unprivileged, (enum policy_unpriv)i);
                assert_int_equal(p.setup_unprivileged_line, 2);
                assert_int_equal(p.broker_required, i ? POLICY_NO : POLICY_YES);
                assert_int_equal(p.broker_line, 3);
                char *out = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&out, &len);
                assert_non_null(f);
                policy_print(&p, f);
                fclose(f);
                char want[128];
                snprintf(want, sizeof(want),
                         "t.conf:2: setup-unprivileged %s\nt.conf:3: broker %s\n", how[i],
                         i ? "optional" : "required");
                assert_non_null(strstr(out, want));
                free(out);
                policy_free(&p);
        }
}

/* owner=USER: USER's uid and primary group, in setup and allow alike;
 * "*" as a whole component anywhere: anchored before the first one. */
static void test_owner_user_and_mid_wildcard(void **state)
{
        (void)state;
        static const char text[] = "user bob\n"
                                   "setup chown /data owner=app recursive\n"
                                   "setup mkdir /data/b owner=1001\n"
                                   "allow app chown /srv/tenants/*/data/** owner=app,bob:staff\n"
                                   "allow app open /srv/tenants/*/settings.json read\n"
                                   "allow app mkdir /*/x\n"
                                   "allow app bind unix:/run/*/s owner=bob\n"
                                   "allow app mkdir /srv/*/*\n";
        struct policy p;
        char err[512] = "";
        if (parse(&p, text, err, sizeof(err)) < 0)
                fail_msg("%s", err);
        assert_int_equal(p.n_steps, 2);
        assert_false(p.steps[0].owner_from_user);
        assert_int_equal(p.steps[0].uid, 1000);
        assert_int_equal(p.steps[0].gid, 1000);
        assert_int_equal(p.steps[1].uid, 1001);
        assert_int_equal(p.steps[1].gid, 1001);

        assert_int_equal(p.n_rules, 5);
        const struct policy_rule *x = &p.rules[0];
        assert_int_equal(x->kind, PATTERN_GLOB);
        assert_string_equal(x->anchor, "/srv/tenants");
        assert_int_equal(x->n_owners, 2);
        assert_int_equal(x->owners[0].uid, 1000);
        assert_int_equal(x->owners[0].gid, 1000);
        assert_int_equal(x->owners[1].uid, 1001);
        assert_int_equal(x->owners[1].gid, 2000);
        x = &p.rules[1];
        assert_int_equal(x->kind, PATTERN_GLOB);
        assert_string_equal(x->anchor, "/srv/tenants");
        x = &p.rules[2];
        assert_int_equal(x->kind, PATTERN_GLOB);
        assert_string_equal(x->anchor, "/");
        x = &p.rules[3];
        assert_int_equal(x->kind, PATTERN_GLOB);
        assert_string_equal(x->anchor, "/run");
        assert_int_equal(x->owners[0].uid, 1001);
        assert_int_equal(x->owners[0].gid, 1001);
        x = &p.rules[4]; /* two wildcards: anchored before the first */
        assert_int_equal(x->kind, PATTERN_GLOB);
        assert_string_equal(x->anchor, "/srv");
        policy_free(&p);
}

static void test_short_path(void **state)
{
        (void)state;
        char buf[POLICY_SHORT_BUF], path[400];
        memset(path, 'x', 160);
        path[160] = '\0';
        assert_ptr_equal(policy_short_path(path, buf, sizeof(buf)), path); /* short: itself */
        /* long: head, length, tail; a UTF-8 sequence is never cut */
        memset(path, 'a', 300);
        memcpy(path + 47, "\xc3\xa9", 2);       /* straddles the head's cut at 48 */
        memcpy(path + 299 - 97, "\xc3\xa9", 2); /* straddles the tail's cut (at 299 - 96) */
        memcpy(path + 290, "/end.conf", 10);
        const char *s = policy_short_path(path, buf, sizeof(buf));
        assert_ptr_equal(s, buf);
        assert_true(strlen(s) < POLICY_SHORT_BUF);
        assert_memory_equal(s, path, 47);
        assert_non_null(strstr(s, "a...(299 bytes)...a"));
        assert_null(strchr(s, '\xc3'));
        assert_string_equal(s + strlen(s) - 9, "/end.conf");
}

static void test_errors(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
                struct policy p;
                char err[512] = "";
                int r = parse(&p, errors[i].text, err, sizeof(err));
                if (r >= 0)
                        fail_msg("accepted: %s", errors[i].text);
                if (strcmp(err, errors[i].msg) != 0)
                        fail_msg("for %s\n got: %s\nwant: %s", errors[i].text, err, errors[i].msg);
                assert_null(p.rules); /* emptied on error */
                assert_null(p.file);
        }
}

static void test_nul(void **state)
{
        (void)state;
        struct policy p;
        char err[256];
        assert_int_equal(policy_parse(&p, "n", "user app\0x\n", 11, &db, err, sizeof(err)),
                         -EINVAL);
        assert_string_equal(err, "n:1:9: NUL byte in the file");
}

/* A text of n lines "PREFIX<i>SUFFIX\n". */
static char *repeat(const char *prefix, const char *suffix, size_t n)
{
        size_t cap = n * (strlen(prefix) + strlen(suffix) + 16) + 1, len = 0;
        char *s = malloc(cap);
        assert_non_null(s);
        s[0] = '\0';
        for (size_t i = 0; i < n; i++)
                len +=
                    (size_t)snprintf(s + len, cap - len, "%s%u%s\n", prefix, (unsigned)i, suffix);
        return s;
}

static void test_limits(void **state)
{
        (void)state;
        struct policy p;
        char err[512];

        /* rules: 1024 fine, 1025 not */
        char *t = repeat("allow app mkdir /d", "", POLICY_RULES_MAX);
        assert_int_equal(parse(&p, t, err, sizeof(err)), 0);
        assert_int_equal(p.n_rules, POLICY_RULES_MAX);
        policy_free(&p);
        free(t);
        t = repeat("allow app mkdir /d", "", POLICY_RULES_MAX + 1);
        assert_int_equal(parse(&p, t, err, sizeof(err)), -E2BIG);
        assert_string_equal(err, "t.conf:1025:1: too many allow rules (at most 1024)");
        free(t);

        t = repeat("setup mkdir /d", " owner=0:0", POLICY_STEPS_MAX + 1);
        assert_int_equal(parse(&p, t, err, sizeof(err)), -E2BIG);
        assert_string_equal(err, "t.conf:257:1: too many setup steps (at most 256)");
        free(t);

        /* line length: 4096 fine (a comment), 4097 not */
        char *line = malloc(POLICY_LINE_MAX + 16);
        assert_non_null(line);
        memset(line, 'x', POLICY_LINE_MAX + 1);
        line[0] = '#';
        line[POLICY_LINE_MAX] = '\n';
        line[POLICY_LINE_MAX + 1] = '\0';
        assert_int_equal(parse(&p, line, err, sizeof(err)), 0);
        policy_free(&p);
        line[POLICY_LINE_MAX] = 'x';
        assert_int_equal(parse(&p, line, err, sizeof(err)), -E2BIG);
        assert_string_equal(err, "t.conf:1:4097: line too long (at most 4096 bytes)");

        /* A line of 4096 bytes holds a path of 4089 bytes; paths up to
         * PATH_MAX - 1 come only from STEPDOWN_CHOWN (see test_env). */
        char *path = malloc(PATH_MAX + 1);
        assert_non_null(path);
        memset(path, 'a', PATH_MAX);
        path[0] = '/';
        path[POLICY_LINE_MAX - 7] = '\0'; /* "socket " + path = 4096 */
        snprintf(line, POLICY_LINE_MAX + 16, "socket %s", path);
        assert_int_equal(parse(&p, line, err, sizeof(err)), 0);
        policy_free(&p);
        free(path);

        /* owners and modes per rule */
        char buf[2048] = "allow app mkdir /d owner=app:app";
        for (int i = 1; i < POLICY_LIST_MAX; i++)
                strcat(buf, ",app:app");
        assert_int_equal(parse(&p, buf, err, sizeof(err)), 0);
        policy_free(&p);
        strcat(buf, ",bob:bob");
        assert_int_equal(parse(&p, buf, err, sizeof(err)), -E2BIG);
        assert_string_equal(err, "t.conf:1:282: too many owners (at most 32)");
        strcpy(buf, "allow app mkdir /d mode=0700");
        for (int i = 1; i <= POLICY_LIST_MAX; i++)
                strcat(buf, ",0700");
        assert_int_equal(parse(&p, buf, err, sizeof(err)), -E2BIG);
        assert_string_equal(err, "t.conf:1:185: too many modes (at most 32)");

        /* words per line */
        strcpy(buf, "allow app mkdir /d");
        for (int i = 4; i < POLICY_WORDS_MAX + 1; i++)
                strcat(buf, " x");
        assert_int_equal(parse(&p, buf, err, sizeof(err)), -E2BIG);
        assert_string_equal(err, "t.conf:1:76: too many words on one line (at most 32)");
        free(line);
}

/* ---- policy_load: ownership and permission checks ---- */

static char ldir[128], lsub[160], lfile[192];

static int load_setup(void **state)
{
        (void)state;
        strcpy(ldir, "/tmp/test-policy-load.XXXXXX");
        assert_non_null(mkdtemp(ldir));
        assert_int_equal(chmod(ldir, 0755), 0);
        snprintf(lsub, sizeof(lsub), "%s/etc", ldir);
        assert_int_equal(mkdir(lsub, 0755), 0);
        snprintf(lfile, sizeof(lfile), "%s/stepdown.conf", lsub);
        write_file(lfile, "user app\nallow app mkdir /data/*\n");
        assert_int_equal(chmod(lfile, 0644), 0);
        return 0;
}

static int load_teardown(void **state)
{
        (void)state;
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ldir);
        assert_int_equal(system(cmd), 0);
        return 0;
}

static int load(const char *path, char *err, size_t len)
{
        struct policy p;
        int r = policy_load(&p, path, &db, err, len);
        if (r == 0) {
                assert_int_equal(p.n_rules, 1);
                assert_string_equal(p.file, path);
        }
        policy_free(&p);
        return r;
}

static void test_load(void **state)
{
        (void)state;
        char err[1024], want[1024], path[256];

        if (geteuid() != 0)
                skip();
        assert_int_equal(load(lfile, err, sizeof(err)), 0);

        /* the file: group/other writable, not root's */
        assert_int_equal(chmod(lfile, 0664), 0);
        assert_int_equal(load(lfile, err, sizeof(err)), -EPERM);
        snprintf(want, sizeof(want),
                 "%s: refusing the policy: it is writable by group or other (mode 0664)", lfile);
        assert_string_equal(err, want);
        assert_int_equal(chmod(lfile, 0646), 0);
        assert_int_equal(load(lfile, err, sizeof(err)), -EPERM);
        assert_int_equal(chmod(lfile, 0600), 0);
        assert_int_equal(load(lfile, err, sizeof(err)), 0);
        assert_int_equal(chown(lfile, 1000, 0), 0);
        assert_int_equal(load(lfile, err, sizeof(err)), -EPERM);
        snprintf(want, sizeof(want), "%s: refusing the policy: it is owned by uid 1000, not root",
                 lfile);
        assert_string_equal(err, want);
        assert_int_equal(chown(lfile, 0, 1000), 0); /* group owner alone is fine */
        assert_int_equal(load(lfile, err, sizeof(err)), 0);

        /* a directory above it */
        assert_int_equal(chmod(lsub, 0775), 0);
        assert_int_equal(load(lfile, err, sizeof(err)), -EPERM);
        snprintf(want, sizeof(want),
                 "%s: refusing the policy: directory %s is writable by group or other (mode "
                 "0775)",
                 lfile, lsub);
        assert_string_equal(err, want);
        assert_int_equal(chmod(lsub, 01777), 0); /* sticky, like /tmp: accepted */
        assert_int_equal(load(lfile, err, sizeof(err)), 0);
        assert_int_equal(chmod(lsub, 0755), 0);
        assert_int_equal(chown(ldir, 1000, 1000), 0);
        assert_int_equal(load(lfile, err, sizeof(err)), -EPERM);
        snprintf(want, sizeof(want),
                 "%s: refusing the policy: directory %s is owned by uid 1000, not root", lfile,
                 ldir);
        assert_string_equal(err, want);
        assert_int_equal(chown(ldir, 0, 0), 0);

        /* a symlink: followed, and the directories of its target checked */
        snprintf(path, sizeof(path), "%s/link.conf", ldir);
        assert_int_equal(symlink("etc/stepdown.conf", path), 0);
        assert_int_equal(load(path, err, sizeof(err)), 0);
        assert_int_equal(chmod(lsub, 0777), 0);
        assert_int_equal(load(path, err, sizeof(err)), -EPERM);
        assert_non_null(strstr(err, "is writable by group or other (mode 0777)"));
        assert_int_equal(chmod(lsub, 0755), 0);
        snprintf(path, sizeof(path), "%s/abs.conf", ldir);
        assert_int_equal(symlink(lfile, path), 0);
        assert_int_equal(load(path, err, sizeof(err)), 0);
        snprintf(path, sizeof(path), "%s/etc/../etc/./stepdown.conf", ldir);
        assert_int_equal(load(path, err, sizeof(err)), 0);

        /* a relative name is taken from the working directory */
        char cwd[PATH_MAX];
        assert_non_null(getcwd(cwd, sizeof(cwd)));
        assert_int_equal(chdir(lsub), 0);
        assert_int_equal(load("stepdown.conf", err, sizeof(err)), 0);
        assert_int_equal(chdir(cwd), 0);

        /* not a regular file, missing: the path once (issue 18) */
        assert_int_equal(load(lsub, err, sizeof(err)), -EINVAL);
        snprintf(want, sizeof(want), "%s: is a directory, not the policy file", lsub);
        assert_string_equal(err, want);
        snprintf(path, sizeof(path), "%s/", lsub);
        assert_int_equal(load(path, err, sizeof(err)), -EINVAL);
        snprintf(want, sizeof(want), "%s/: is a directory, not the policy file", lsub);
        assert_string_equal(err, want);
        snprintf(path, sizeof(path), "%s/missing", lsub);
        assert_int_equal(load(path, err, sizeof(err)), -ENOENT);
        snprintf(want, sizeof(want), "%s: No such file or directory", path);
        assert_string_equal(err, want);
        snprintf(path, sizeof(path), "%s/nodir/missing", lsub);
        assert_int_equal(load(path, err, sizeof(err)), -ENOENT);
        snprintf(want, sizeof(want), "%s: %s/nodir: No such file or directory", path, lsub);
        assert_string_equal(err, want);

        /* a long path is shortened in the middle, the reason kept */
        char longp[5100];
        int n = snprintf(longp, sizeof(longp), "%s/", lsub);
        memset(longp + n, 'a', 5000);
        longp[n + 5000] = '\0';
        assert_int_equal(load(longp, err, sizeof(err)), -ENAMETOOLONG);
        assert_true(strlen(err) < 300);
        assert_non_null(strstr(err, "...(5"));
        assert_non_null(strstr(err, "a: a component is longer than 255 bytes"));

        /* parse errors name the file */
        write_file(lfile, "user app\nallow app mkdr /x\n");
        assert_int_equal(load(lfile, err, sizeof(err)), -EINVAL);
        snprintf(want, sizeof(want), "%s:2:11: unknown operation", lfile);
        assert_memory_equal(err, want, strlen(want));
}

/* ---- environment overrides ---- */

static void test_env(void **state)
{
        (void)state;
        struct policy p;
        char err[512];

        assert_int_equal(parse(&p, "user app\nsetup chown /data\n", err, sizeof(err)), 0);
        assert_int_equal(
            policy_apply_overrides(&p, "bob", "/vol/a  /vol/b\t/c", &db, err, sizeof(err)), 0);
        assert_string_equal(p.user, "bob");
        assert_int_equal(p.user_uid, 1001);
        assert_int_equal(p.user_line, 0);
        assert_int_equal(p.n_steps, 4);
        assert_int_equal(p.steps[0].uid, 1001); /* the default owner follows the user */
        for (size_t i = 1; i < 4; i++) {
                assert_int_equal(p.steps[i].op, SD_OP_CHOWN);
                assert_int_equal(p.steps[i].line, 0);
                assert_true(p.steps[i].recursive);
                assert_true(p.steps[i].owner_from_user);
                assert_int_equal(p.steps[i].uid, 1001);
                assert_int_equal(p.steps[i].gid, 1001);
        }
        assert_string_equal(p.steps[1].path, "/vol/a");
        assert_string_equal(p.steps[3].path, "/c");
        char *out = NULL;
        size_t outlen = 0;
        FILE *f = open_memstream(&out, &outlen);
        policy_print(&p, f);
        fclose(f);
        assert_non_null(strstr(out, "STEPDOWN_USER: user bob (uid 1001, gid 1001)\n"));
        assert_non_null(strstr(out, "STEPDOWN_CHOWN: setup chown /vol/b owner=1001:1001 "
                                    "recursive\n"));
        free(out);

        assert_int_equal(policy_set_user(&p, "app", NULL, &db, err, sizeof(err)), 0);
        assert_int_equal(p.steps[0].uid, 1000);
        assert_int_equal(policy_set_user(&p, "toor", NULL, &db, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "user override: invalid user spec \"toor\": user toor resolves "
                                 "to uid 0: its passwd entry maps it to root; refusing (say "
                                 "\"root\" or \"0\" to run as root on purpose)");
        assert_string_equal(p.user, "app"); /* unchanged by a failed override */
        assert_int_equal(p.steps[0].uid, 1000);
        assert_int_equal(policy_apply_overrides(&p, "nosuch", NULL, &db, err, sizeof(err)),
                         -EINVAL);
        assert_string_equal(err, "STEPDOWN_USER: invalid user spec \"nosuch\": unable to find "
                                 "user nosuch: no matching entries in passwd file");
        assert_int_equal(policy_apply_overrides(&p, NULL, "/ok relative", &db, err, sizeof(err)),
                         -EINVAL);
        assert_string_equal(err, "STEPDOWN_CHOWN: invalid path \"relative\": path is not absolute "
                                 "(must start with /) (expected absolute paths separated by "
                                 "spaces)");
        assert_int_equal(policy_apply_overrides(&p, NULL, "/a/../b", &db, err, sizeof(err)),
                         -EINVAL);
        assert_int_equal(policy_apply_overrides(&p, NULL, "/a/*", &db, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "STEPDOWN_CHOWN: wildcard in \"/a/*\"");
        char *path = malloc(PATH_MAX + 1);
        assert_non_null(path);
        memset(path, 'a', PATH_MAX);
        path[0] = '/';
        path[PATH_MAX - 1] = '\0';
        assert_int_equal(policy_apply_overrides(&p, NULL, path, &db, err, sizeof(err)), 0);
        assert_int_equal(strlen(p.steps[p.n_steps - 1].path), PATH_MAX - 1);
        path[PATH_MAX - 1] = 'a';
        path[PATH_MAX] = '\0';
        assert_int_equal(policy_apply_overrides(&p, NULL, path, &db, err, sizeof(err)),
                         -ENAMETOOLONG);
        assert_non_null(strstr(err, ": path longer than 4095 bytes (expected absolute paths"));
        free(path);
        policy_free(&p);

        /* no launch user to give the paths to */
        assert_int_equal(parse(&p, "", err, sizeof(err)), 0);
        assert_int_equal(policy_apply_overrides(&p, "", "/x", &db, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "STEPDOWN_CHOWN: needs a launch user (a user statement or "
                                 "STEPDOWN_USER) to give the paths to");
        assert_int_equal(policy_apply_overrides(&p, "", "  ", &db, err, sizeof(err)), 0);
        assert_int_equal(p.n_steps, 0);
        policy_free(&p);

        /* the real environment */
        assert_int_equal(parse(&p, "user app", err, sizeof(err)), 0);
        setenv("STEPDOWN_USER", "1001:staff", 1);
        setenv("STEPDOWN_CHOWN", "/srv", 1);
        assert_int_equal(policy_apply_env(&p, &db, err, sizeof(err)), 0);
        unsetenv("STEPDOWN_USER");
        unsetenv("STEPDOWN_CHOWN");
        assert_int_equal(p.user_uid, 1001);
        assert_int_equal(p.user_gid, 2000);
        assert_int_equal(p.n_steps, 1);
        assert_int_equal(p.steps[0].gid, 2000);
        policy_free(&p);
}

/* The example in stepdown.conf(5) is a valid policy. */
static void test_man_example(void **state)
{
        (void)state;
        FILE *f = fopen(SRCDIR "/docs/stepdown.conf.5", "re");
        char line[512], text[4096] = "", err[512];
        bool in = false, seen = false;
        assert_non_null(f);
        while (fgets(line, sizeof(line), f)) {
                if (strcmp(line, ".SH EXAMPLE\n") == 0)
                        seen = true;
                else if (seen && strcmp(line, ".EX\n") == 0)
                        in = true;
                else if (in && strcmp(line, ".EE\n") == 0)
                        break;
                else if (in)
                        strncat(text, line, sizeof(text) - strlen(text) - 1);
        }
        fclose(f);
        assert_true(in);
        struct policy p;
        if (parse(&p, text, err, sizeof(err)) < 0)
                fail_msg("%s", err);
        assert_int_equal(p.n_steps, 2);
        assert_int_equal(p.n_rules, 5);
        policy_free(&p);
}

static void test_op_names(void **state)
{
        (void)state;
        assert_string_equal(sd_op_name(SD_OP_MKDIR), "mkdir");
        assert_string_equal(sd_op_name(SD_OP_CHOWN), "chown");
        assert_string_equal(sd_op_name(SD_OP_CHMOD), "chmod");
        assert_string_equal(sd_op_name(SD_OP_OPEN), "open");
        assert_string_equal(sd_op_name(SD_OP_BIND), "bind");
        assert_string_equal(sd_op_name((enum sd_op)0), "?");
}

/* ---- remap (issue 14) ---- */

static void test_remap_parse(void **state)
{
        (void)state;
        struct policy p;
        char err[512];
        int r =
            parse(&p,
                  "user app\n"
                  "remap app uid=env:HOST_UID gid=owner:/workspace chown=/opt/app,/var/cache/app "
                  "takeover\n",
                  err, sizeof(err));
        if (r < 0)
                fail_msg("%s", err);
        assert_string_equal(p.remap.user, "app");
        assert_int_equal(p.remap.line, 2);
        assert_int_equal(p.remap.uid.kind, REMAP_SRC_ENV);
        assert_string_equal(p.remap.uid.arg, "HOST_UID");
        assert_int_equal(p.remap.gid.kind, REMAP_SRC_OWNER);
        assert_string_equal(p.remap.gid.arg, "/workspace");
        assert_int_equal(p.remap.n_paths, 2);
        assert_string_equal(p.remap.paths[1], "/var/cache/app");
        assert_true(p.remap.takeover);
        policy_free(&p);

        assert_int_equal(parse(&p, "remap app uid=4242\n", err, sizeof(err)), 0);
        assert_int_equal(p.remap.uid.kind, REMAP_SRC_NUMBER);
        assert_int_equal(p.remap.uid.number, 4242);
        assert_int_equal(p.remap.gid.kind, REMAP_SRC_NONE);
        policy_free(&p);

        static const struct {
                const char *text, *err;
        } bad[] = {
            {"remap\n", "t.conf:1:6: missing user name after \"remap\""},
            {"remap app\n", "t.conf:1:10: missing uid= for remap (a number, env:NAME or "
                            "owner:/PATH)"},
            {"remap 1000 uid=5\n", "t.conf:1:7: remap needs a user name, not a uid (\"1000\")"},
            {"remap nosuch uid=5\n", "t.conf:1:7: unknown user \"nosuch\""},
            {"remap root uid=5\n", "t.conf:1:7: remap of root (\"root\") refused"},
            {"remap toor uid=5\n", "t.conf:1:7: user \"toor\" maps to uid 0"},
            {"remap app uid=0\n", "t.conf:1:15: uid=: 0 (root) refused as a remap target"},
            {"remap app uid=2147483648\n", "t.conf:1:15: uid=: invalid source \"2147483648\""},
            {"remap app uid=env:1X\n", "t.conf:1:15: uid=: invalid variable name \"1X\""},
            {"remap app uid=env:\n", "t.conf:1:15: uid=: invalid source \"env:\""},
            {"remap app uid=owner:rel\n", "t.conf:1:15: uid=: invalid path \"rel\""},
            {"remap app uid=owner:/a/../b\n", "t.conf:1:15: uid=: invalid path \"/a/../b\""},
            {"remap app uid=5 uid=6\n", "t.conf:1:17: duplicate option \"uid\""},
            {"remap app uid=5 chown=/a,,/b\n", "t.conf:1:26: empty entry in chown= list"},
            {"remap app uid=5 chown=/a/*\n", "t.conf:1:23: wildcard in chown= path"},
            {"remap app uid=5 chown=a\n", "t.conf:1:23: invalid chown= path \"a\""},
            {"remap app uid=5 takeover takeover\n", "t.conf:1:26: duplicate option \"takeover\""},
            {"remap app uid=5 recursive\n", "t.conf:1:17: unknown option \"recursive\" (expected "
                                            "uid=, gid=, chown= or takeover)"},
            {"remap app uid=5\nremap bob uid=6\n",
             "t.conf:2:1: duplicate \"remap\" statement (first at line 1)"},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                r = parse(&p, bad[i].text, err, sizeof(err));
                if (r != -EINVAL || strncmp(err, bad[i].err, strlen(bad[i].err)) != 0)
                        fail_msg("%s: got %d \"%s\", want \"%s...\"", bad[i].text, r, err,
                                 bad[i].err);
                policy_free(&p);
        }
}

static void test_remap_env(void **state)
{
        (void)state;
        struct policy p;
        char err[512];

        /* Replaces the statement's sources; without GID the gid= stays. */
        assert_int_equal(parse(&p, "remap app uid=env:X gid=env:Y\n", err, sizeof(err)), 0);
        assert_int_equal(policy_apply_remap_env(&p, "4242", &db, err, sizeof(err)), 0);
        assert_int_equal(p.remap.uid.kind, REMAP_SRC_NUMBER);
        assert_int_equal(p.remap.uid.number, 4242);
        assert_int_equal(p.remap.gid.kind, REMAP_SRC_ENV);
        assert_string_equal(p.remap.origin, "STEPDOWN_REMAP");
        assert_int_equal(policy_apply_remap_env(&p, "4242:4343", &db, err, sizeof(err)), 0);
        assert_int_equal(p.remap.gid.number, 4343);
        policy_free(&p);

        /* No statement: the launch user's name. */
        assert_int_equal(parse(&p, "user app:staff\n", err, sizeof(err)), 0);
        assert_int_equal(policy_apply_remap_env(&p, "", &db, err, sizeof(err)), 0);
        assert_null(p.remap.user);
        assert_int_equal(policy_apply_remap_env(&p, "4242:4242", &db, err, sizeof(err)), 0);
        assert_string_equal(p.remap.user, "app");
        policy_free(&p);

        static const struct {
                const char *user, *value, *err;
        } bad[] = {
            {"user 1000\n", "4242", "STEPDOWN_REMAP=4242: no user name to remap"},
            {"\n", "4242", "STEPDOWN_REMAP=4242: no user name to remap"},
            {"user app\n", "0", "STEPDOWN_REMAP=0: 0 (root) refused"},
            {"user app\n", "5:0", "STEPDOWN_REMAP=5:0: 0 (root) refused"},
            {"user app\n", "x", "STEPDOWN_REMAP=x: expected UID or UID:GID"},
            {"user app\n", "5:", "STEPDOWN_REMAP=5:: expected UID or UID:GID"},
            {"user app\n", "-5", "STEPDOWN_REMAP=-5: expected UID or UID:GID"},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_int_equal(parse(&p, bad[i].user, err, sizeof(err)), 0);
                int r = policy_apply_remap_env(&p, bad[i].value, &db, err, sizeof(err));
                if (r != -EINVAL || strncmp(err, bad[i].err, strlen(bad[i].err)) != 0)
                        fail_msg("%s: got %d \"%s\", want \"%s...\"", bad[i].value, r, err,
                                 bad[i].err);
                policy_free(&p);
        }
}

static void clear_env(void)
{
        unsetenv("STEPDOWN_USER");
        unsetenv("STEPDOWN_CHOWN");
        unsetenv("STEPDOWN_REMAP");
        unsetenv("TEST_REMAP_UID");
}

/* Every name follows the user to its new ids; numbers stay numbers. */
static void test_remap_names_follow(void **state)
{
        (void)state;
        struct policy p;
        char err[512];
        clear_env();
        static const char text[] = "user app\n"
                                   "remap app uid=4242 gid=4343\n"
                                   "setup mkdir /d/x owner=app:app\n"
                                   "setup chown /d/y\n"
                                   "allow app mkdir /d/**\n"
                                   "allow 1000 chmod /d/** mode=0600\n"
                                   "allow @app chown /d/** owner=app:app,bob:bob\n"
                                   "allow bob chmod /d/** mode=0600\n"
                                   "allow app chown /e/*/f owner=app\n";
        assert_int_equal(parse(&p, text, err, sizeof(err)), 0);
        assert_int_equal(p.rules[0].caller.uid, 1000);
        assert_int_equal(p.rules[4].owners[0].gid, 1000);
        int r = policy_remap_resolve(&p, &db, err, sizeof(err));
        if (r < 0)
                fail_msg("%s", err);
        assert_true(p.remap.active);
        assert_int_equal(p.remap.old_uid, 1000);
        assert_int_equal(p.remap.new_uid, 4242);
        assert_int_equal(p.remap.old_gid, 1000);
        assert_int_equal(p.remap.new_gid, 4343);
        assert_string_equal(p.remap.home, "/home/app");
        assert_string_equal(p.remap.group_name, "app");
        assert_int_equal(p.user_uid, 4242);
        assert_int_equal(p.user_gid, 4343);
        assert_int_equal(p.steps[0].uid, 4242);
        assert_int_equal(p.steps[0].gid, 4343);
        assert_int_equal(p.steps[1].uid, 4242); /* owner defaults to the user */
        assert_int_equal(p.rules[0].caller.uid, 4242);
        assert_int_equal(p.rules[1].caller.uid, 1000); /* a number stays */
        assert_int_equal(p.rules[2].caller.gid, 4343);
        assert_int_equal(p.rules[2].owners[0].uid, 4242);
        assert_int_equal(p.rules[2].owners[1].uid, 1001);
        assert_int_equal(p.rules[3].caller.uid, 1001);
        /* owner=USER: the remapped uid and primary gid */
        assert_int_equal(p.rules[4].owners[0].uid, 4242);
        assert_int_equal(p.rules[4].owners[0].gid, 4343);
        /* Resolving again changes nothing. */
        assert_int_equal(policy_remap_resolve(&p, &db, err, sizeof(err)), 0);
        assert_int_equal(p.rules[0].caller.uid, 4242);
        policy_free(&p);

        /* The user override (-u) is applied again after the re-parse. */
        assert_int_equal(parse(&p, "user bob\nremap app uid=4242\n", err, sizeof(err)), 0);
        assert_int_equal(policy_set_user(&p, "app", NULL, &db, err, sizeof(err)), 0);
        assert_int_equal(policy_remap_resolve(&p, &db, err, sizeof(err)), 0);
        assert_string_equal(p.user, "app");
        assert_int_equal(p.user_uid, 4242);
        assert_int_equal(p.user_gid, 1000); /* no gid=: the group keeps its gid */
        assert_int_equal(p.remap.old_gid, -1);
        policy_free(&p);
}

static void test_remap_resolve_cases(void **state)
{
        (void)state;
        struct policy p;
        char err[512];
        clear_env();

        /* env: unset or empty: no remap, and a note naming the variable. */
        assert_int_equal(
            parse(&p, "user app\nremap app uid=env:TEST_REMAP_UID\n", err, sizeof(err)), 0);
        assert_int_equal(policy_remap_resolve(&p, &db, err, sizeof(err)), 0);
        assert_false(p.remap.active);
        assert_non_null(strstr(p.remap.note, "TEST_REMAP_UID is unset"));
        assert_int_equal(p.user_uid, 1000);
        policy_free(&p);
        setenv("TEST_REMAP_UID", "", 1);
        assert_int_equal(
            parse(&p, "user app\nremap app uid=env:TEST_REMAP_UID\n", err, sizeof(err)), 0);
        assert_int_equal(policy_remap_resolve(&p, &db, err, sizeof(err)), 0);
        assert_non_null(strstr(p.remap.note, "TEST_REMAP_UID is empty"));
        policy_free(&p);
        setenv("TEST_REMAP_UID", "12ab", 1);
        assert_int_equal(
            parse(&p, "user app\nremap app uid=env:TEST_REMAP_UID\n", err, sizeof(err)), 0);
        assert_int_equal(policy_remap_resolve(&p, &db, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "t.conf:2: remap: uid=env:TEST_REMAP_UID: \"12ab\" is not a uid "
                                 "(expected a decimal number from 1 to 2147483647)");
        policy_free(&p);
        setenv("TEST_REMAP_UID", "0", 1);
        assert_int_equal(
            parse(&p, "user app\nremap app uid=env:TEST_REMAP_UID\n", err, sizeof(err)), 0);
        assert_int_equal(policy_remap_resolve(&p, &db, err, sizeof(err)), -EPERM);
        assert_non_null(strstr(err, "resolves to uid 0 (root); refusing to remap app to root"));
        policy_free(&p);
        clear_env();

        /* owner: of a path; a symlink on the way is refused. */
        char d[128], link[160], file[160];
        snprintf(d, sizeof(d), "%s/ws", dir);
        snprintf(link, sizeof(link), "%s/wslink", dir);
        snprintf(file, sizeof(file), "%s/f", dir); /* not in ws: 4242 could replace it there */
        assert_int_equal(mkdir(d, 0755), 0);
        write_file(file, "x");
        assert_int_equal(chown(d, 4242, 4343), 0);
        assert_int_equal(chown(file, 4444, 4545), 0);
        assert_int_equal(symlink("ws", link), 0);
        char text[512];
        snprintf(text, sizeof(text), "user app\nremap app uid=owner:%s gid=owner:%s\n", d, file);
        assert_int_equal(parse(&p, text, err, sizeof(err)), 0);
        assert_int_equal(policy_remap_resolve(&p, &db, err, sizeof(err)), 0);
        assert_int_equal(p.remap.new_uid, 4242);
        assert_int_equal(p.remap.new_gid, 4545);
        policy_free(&p);
        /* In a directory the user will own, it could pick its ids: refused. */
        char inws[192];
        snprintf(inws, sizeof(inws), "%s/g", d);
        write_file(inws, "x");
        assert_int_equal(chown(inws, 4444, 4545), 0);
        snprintf(text, sizeof(text), "user app\nremap app uid=owner:%s gid=owner:%s\n", d, inws);
        assert_int_equal(parse(&p, text, err, sizeof(err)), 0);
        assert_int_equal(policy_remap_resolve(&p, &db, err, sizeof(err)), -EPERM);
        assert_non_null(strstr(err, "ws belongs to app (uid 4242), so app could put any file at "));
        policy_free(&p);
        unlink(inws);
        snprintf(text, sizeof(text), "user app\nremap app uid=owner:%s/f\n", link);
        assert_int_equal(parse(&p, text, err, sizeof(err)), 0);
        assert_int_equal(policy_remap_resolve(&p, &db, err, sizeof(err)), -ELOOP);
        char want[512];
        snprintf(want, sizeof(want),
                 "t.conf:2: remap: uid=owner:%s/f: %s is a symbolic link; refusing", link, link);
        assert_memory_equal(err, want, strlen(want));
        policy_free(&p);
        snprintf(text, sizeof(text), "user app\nremap app uid=owner:%s/nothere\n", d);
        assert_int_equal(parse(&p, text, err, sizeof(err)), 0);
        assert_int_equal(policy_remap_resolve(&p, &db, err, sizeof(err)), -ENOENT);
        policy_free(&p);
        unlink(link);
        unlink(file);
        rmdir(d);

        /* Collisions: refused naming the holder; takeover swaps. */
        assert_int_equal(parse(&p, "user app\nremap app uid=1001\n", err, sizeof(err)), 0);
        assert_int_equal(policy_remap_resolve(&p, &db, err, sizeof(err)), -EEXIST);
        assert_string_equal(err, "t.conf:2: remap: uid 1001 already belongs to user \"bob\" in "
                                 "/etc/passwd; refusing to give it to \"app\" too (add "
                                 "\"takeover\" to the remap statement to give \"bob\" uid 1000 "
                                 "in exchange)");
        policy_free(&p);
        assert_int_equal(parse(&p, "user app\nremap app uid=4242 gid=2000\n", err, sizeof(err)), 0);
        assert_int_equal(policy_remap_resolve(&p, &db, err, sizeof(err)), -EEXIST);
        assert_non_null(strstr(err, "gid 2000 already belongs to group \"staff\""));
        policy_free(&p);
        assert_int_equal(parse(&p,
                               "user app\nremap app uid=1001 gid=1001 takeover\n"
                               "allow bob mkdir /d/**\nallow @bob mkdir /e/**\n",
                               err, sizeof(err)),
                         0);
        assert_int_equal(policy_remap_resolve(&p, &db, err, sizeof(err)), 0);
        assert_string_equal(p.remap.uid_holder, "bob");
        assert_string_equal(p.remap.gid_holder, "bob");
        assert_int_equal(p.user_uid, 1001);
        assert_int_equal(p.rules[0].caller.uid, 1000); /* bob has app's old uid now */
        assert_int_equal(p.rules[1].caller.gid, 1000);
        policy_free(&p);

        /* A remap of a user without an entry is refused at resolve time. */
        assert_int_equal(parse(&p, "user 5000\n", err, sizeof(err)), 0);
        p.remap.user = strdup("ghost");
        p.remap.uid.kind = REMAP_SRC_NUMBER;
        p.remap.uid.number = 4242;
        assert_int_equal(policy_remap_resolve(&p, &db, err, sizeof(err)), -ENOENT);
        assert_string_equal(err, "STEPDOWN_REMAP: user \"ghost\" has no entry in /etc/passwd");
        policy_free(&p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_statements),
            cmocka_unit_test(test_defaults),
            cmocka_unit_test(test_errors),
            cmocka_unit_test(test_owner_user_and_mid_wildcard),
            cmocka_unit_test(test_short_path),
            cmocka_unit_test(test_unprivileged),
            cmocka_unit_test(test_nul),
            cmocka_unit_test(test_limits),
            cmocka_unit_test_setup_teardown(test_load, load_setup, load_teardown),
            cmocka_unit_test(test_env),
            cmocka_unit_test(test_man_example),
            cmocka_unit_test(test_op_names),
            cmocka_unit_test(test_intercept),
            cmocka_unit_test(test_remap_parse),
            cmocka_unit_test(test_remap_env),
            cmocka_unit_test(test_remap_names_follow),
            cmocka_unit_test(test_remap_resolve_cases),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
