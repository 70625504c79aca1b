#include "userdb.h"

#include "errmsg.h"
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Go's bufio.Scanner gives up on longer tokens, and gosu with it. */
#define PASSWD_LINE_MAX (64 * 1024)

bool userdb_parse_id(const char *s, size_t len, int64_t *out)
{
        size_t i = 0;
        bool neg = false;
        uint64_t v = 0;

        if (len == 0)
                return false;
        if (s[0] == '+' || s[0] == '-') {
                neg = s[0] == '-';
                i = 1;
                if (len == 1)
                        return false;
        }
        for (; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (uint64_t)(s[i] - '0');
                if (v > (uint64_t)INT64_MAX + (neg ? 1 : 0))
                        return false;
        }
        if (neg)
                *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
        else
                *out = (int64_t)v;
        return true;
}

static bool is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Trims white space in place; returns the new start, sets *len. */
static char *trim(char *s, size_t *len)
{
        size_t n = *len;
        while (n > 0 && is_space(*s)) {
                s++;
                n--;
        }
        while (n > 0 && is_space(s[n - 1]))
                n--;
        s[n] = '\0';
        *len = n;
        return s;
}

/* Splits s at ':' into at most max fields (the rest is ignored, as
 * libcontainer ignores extra fields).  Missing fields are "". */
static size_t split_fields(char *s, char **f, size_t max)
{
        size_t n = 0;
        for (size_t i = 0; i < max; i++)
                f[i] = "";
        while (n < max) {
                f[n++] = s;
                char *c = strchr(s, ':');
                if (!c)
                        break;
                *c = '\0';
                s = c + 1;
        }
        return n;
}

/* An id field: digits only.  libcontainer (and so gosu) reads anything
 * else as 0, root's id; a typo must not give root's group. */
static int64_t strict_id(const char *s)
{
        size_t n = strlen(s);
        int64_t v;
        if (n == 0 || strspn(s, "0123456789") != n || !userdb_parse_id(s, n, &v))
                return USERDB_ID_INVALID;
        return v;
}

static int add_passwd(struct userdb *db, char *line, unsigned lineno, size_t *cap)
{
        char *f[7];
        split_fields(line, f, ELEMENTSOF(f));

        if (db->n_pw == *cap) {
                size_t ncap = *cap ? *cap * 2 : 32;
                struct pw_entry *n = reallocarray(db->pw, ncap, sizeof(*n));
                if (!n)
                        return -ENOMEM;
                db->pw = n;
                *cap = ncap;
        }
        struct pw_entry *e = &db->pw[db->n_pw];
        e->name = strdup(f[0]);
        e->home = strdup(f[5]);
        if (!e->name || !e->home) {
                free(e->name);
                free(e->home);
                return -ENOMEM;
        }
        e->uid = strict_id(f[2]);
        e->gid = strict_id(f[3]);
        e->line = lineno;
        db->n_pw++;
        return 0;
}

static int add_group(struct userdb *db, char *line, unsigned lineno, size_t *cap)
{
        char *f[4];
        split_fields(line, f, ELEMENTSOF(f));

        if (db->n_gr == *cap) {
                size_t ncap = *cap ? *cap * 2 : 32;
                struct gr_entry *n = reallocarray(db->gr, ncap, sizeof(*n));
                if (!n)
                        return -ENOMEM;
                db->gr = n;
                *cap = ncap;
        }
        struct gr_entry *e = &db->gr[db->n_gr];
        *e = (struct gr_entry){0};
        e->name = strdup(f[0]);
        if (!e->name)
                return -ENOMEM;
        e->gid = strict_id(f[2]);
        e->line = lineno;

        /* Comma separated, not trimmed (as libcontainer). */
        if (f[3][0] != '\0') {
                size_t n = 1;
                for (const char *p = f[3]; *p; p++)
                        n += *p == ',';
                e->members = calloc(n, sizeof(char *));
                if (!e->members)
                        goto oom;
                char *s = f[3];
                for (size_t i = 0; i < n; i++) {
                        char *c = strchr(s, ',');
                        if (c)
                                *c = '\0';
                        e->members[i] = strdup(s);
                        if (!e->members[i])
                                goto oom;
                        e->n_members++;
                        s = c ? c + 1 : s + strlen(s);
                }
        }
        db->n_gr++;
        return 0;
oom:
        for (size_t i = 0; i < e->n_members; i++)
                free(e->members[i]);
        free(e->members);
        free(e->name);
        return -ENOMEM;
}

static int load_file(struct userdb *db, const char *path, bool group, bool *have)
{
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *buf = NULL;
        size_t bufsz = 0, cap = 0;
        unsigned lineno = 0;
        ssize_t n;
        int r;

        *have = false;
        f = fopen(path, "re");
        if (!f)
                return 0; /* like libcontainer: a missing file is an empty one */
        *have = true;

        while ((n = getline(&buf, &bufsz, f)) >= 0) {
                size_t len = (size_t)n;
                lineno++;
                if (!group && len > PASSWD_LINE_MAX)
                        return -E2BIG;
                /* A line with a NUL byte cannot be matched against a C
                 * string without truncating a field: skip it. */
                if (memchr(buf, '\0', len))
                        continue;
                char *line = trim(buf, &len);
                if (len == 0)
                        continue;
                if (group && line[0] == '#')
                        continue;
                r = group ? add_group(db, line, lineno, &cap) : add_passwd(db, line, lineno, &cap);
                if (r < 0)
                        return r;
        }
        if (ferror(f))
                return -EIO;
        return 0;
}

int userdb_load(struct userdb *db, const char *passwd_path, const char *group_path)
{
        int r;

        *db = (struct userdb){0};
        passwd_path = passwd_path ? passwd_path : USERDB_PASSWD_PATH;
        group_path = group_path ? group_path : USERDB_GROUP_PATH;
        db->passwd_path = strdup(passwd_path);
        db->group_path = strdup(group_path);
        r = db->passwd_path && db->group_path ? 0 : -ENOMEM;
        if (r >= 0)
                r = load_file(db, passwd_path, false, &db->have_passwd);
        if (r >= 0)
                r = load_file(db, group_path, true, &db->have_group);
        if (r < 0)
                userdb_free(db);
        return r;
}

void userdb_free(struct userdb *db)
{
        if (!db)
                return;
        for (size_t i = 0; i < db->n_pw; i++) {
                free(db->pw[i].name);
                free(db->pw[i].home);
        }
        free(db->pw);
        for (size_t i = 0; i < db->n_gr; i++) {
                for (size_t j = 0; j < db->gr[i].n_members; j++)
                        free(db->gr[i].members[j]);
                free(db->gr[i].members);
                free(db->gr[i].name);
        }
        free(db->gr);
        free(db->passwd_path);
        free(db->group_path);
        *db = (struct userdb){0};
}

const struct pw_entry *userdb_user_by_name(const struct userdb *db, const char *name)
{
        for (size_t i = 0; i < db->n_pw; i++)
                if (strcmp(db->pw[i].name, name) == 0)
                        return &db->pw[i];
        return NULL;
}

const struct pw_entry *userdb_user_by_uid(const struct userdb *db, int64_t uid)
{
        for (size_t i = 0; i < db->n_pw; i++)
                if (db->pw[i].uid == uid && uid != USERDB_ID_INVALID)
                        return &db->pw[i];
        return NULL;
}

const struct gr_entry *userdb_group_by_name(const struct userdb *db, const char *name)
{
        for (size_t i = 0; i < db->n_gr; i++)
                if (strcmp(db->gr[i].name, name) == 0)
                        return &db->gr[i];
        return NULL;
}

const struct gr_entry *userdb_group_by_gid(const struct userdb *db, int64_t gid)
{
        for (size_t i = 0; i < db->n_gr; i++)
                if (db->gr[i].gid == gid && gid != USERDB_ID_INVALID)
                        return &db->gr[i];
        return NULL;
}

bool userdb_group_has_member(const struct gr_entry *g, const char *user)
{
        for (size_t i = 0; i < g->n_members; i++)
                if (strcmp(g->members[i], user) == 0)
                        return true;
        return false;
}

void exec_user_free(struct exec_user *u)
{
        if (!u)
                return;
        free(u->groups);
        free(u->home);
        free(u->name);
        *u = (struct exec_user){0};
}

static bool in_range(int64_t id)
{
        return id >= 0 && id <= USERDB_ID_MAX;
}

static const char *pw_file(const struct userdb *db)
{
        return db->passwd_path ? db->passwd_path : "the passwd file";
}

static const char *gr_file(const struct userdb *db)
{
        return db->group_path ? db->group_path : "the group file";
}

/* The gids of every group that lists user, in file order, duplicates
 * included (libcontainer).  A listing group whose gid field is not a number
 * is refused (libcontainer would add gid 0); with refuse_root (the spec
 * named the user) so is one with gid 0. */
static int supplementary(const struct userdb *db, const char *user, bool refuse_root, gid_t **out,
                         size_t *n_out, char *err, size_t errlen)
{
        size_t n = 0, k = 0;

        *out = NULL;
        *n_out = 0;
        for (size_t i = 0; i < db->n_gr; i++)
                n += userdb_group_has_member(&db->gr[i], user);
        if (n == 0)
                return 0;
        _cleanup_free_ gid_t *groups = calloc(n, sizeof(gid_t));
        if (!groups)
                return -ENOMEM;
        for (size_t i = 0; i < db->n_gr; i++) {
                const struct gr_entry *g = &db->gr[i];
                if (!userdb_group_has_member(g, user))
                        continue;
                if (g->gid == USERDB_ID_INVALID)
                        return errmsg(err, errlen, -EINVAL,
                                      "%s:%u: group %s lists %s as a member, but its gid field is "
                                      "not a number; refusing (fix that line: gosu would read it "
                                      "as gid 0, root's group)",
                                      gr_file(db), g->line, g->name, user);
                if (!in_range(g->gid))
                        return errmsg(err, errlen, -ERANGE,
                                      "group %s: gid %lld out of range 0-2147483647", g->name,
                                      (long long)g->gid);
                if (g->gid == 0 && refuse_root)
                        return errmsg(err, errlen, -EPERM,
                                      "%s:%u: group %s (gid 0, root's group) lists %s as a member; "
                                      "refusing supplementary gid 0 (remove %s from that line, or "
                                      "name a group in the spec, %s:GROUP, which sets no "
                                      "supplementary groups)",
                                      gr_file(db), g->line, g->name, user, user, user);
                groups[k++] = (gid_t)g->gid;
        }
        *out = TAKE_PTR(groups);
        *n_out = k;
        return 0;
}

int userdb_resolve(const struct userdb *db, const char *spec, uid_t cur_uid, gid_t cur_gid,
                   struct exec_user *out, char *err, size_t errlen)
{
        _cleanup_free_ char *copy = strdup(spec);
        const struct pw_entry *pw = NULL;
        int64_t uid = cur_uid, gid = cur_gid, uarg = 0, garg = 0;
        const char *home = "/";
        char *user_arg, *group_arg = "";
        bool u_num, g_num, user_named, group_named;
        int r;

        *out = (struct exec_user){0};
        if (!copy)
                return -ENOMEM;

        /* "a:b:c" is user a, group b; the rest is ignored (libcontainer). */
        user_arg = copy;
        char *c = strchr(copy, ':');
        if (c) {
                *c = '\0';
                group_arg = c + 1;
                c = strchr(group_arg, ':');
                if (c)
                        *c = '\0';
        }
        u_num = userdb_parse_id(user_arg, strlen(user_arg), &uarg);
        g_num = userdb_parse_id(group_arg, strlen(group_arg), &garg);
        /* A name other than "root": what it maps to comes from the files,
         * so it may not silently mean uid 0 or gid 0. */
        user_named = user_arg[0] != '\0' && !u_num && strcmp(user_arg, "root") != 0;
        group_named = group_arg[0] != '\0' && !g_num && strcmp(group_arg, "root") != 0;

        if (user_arg[0] == '\0')
                pw = userdb_user_by_uid(db, uid);
        else if (u_num)
                pw = userdb_user_by_uid(db, uarg);
        else
                pw = userdb_user_by_name(db, user_arg);

        if (pw) {
                if (pw->uid == USERDB_ID_INVALID)
                        return errmsg(err, errlen, -EINVAL,
                                      "%s:%u: user %s has a uid field that is not a number; "
                                      "refusing (fix that line: gosu would read it as uid 0, root)",
                                      pw_file(db), pw->line, pw->name);
                /* A tampered passwd can map any name to 0: only the
                 * literal name "root" (and numbers) may mean root. */
                if (pw->uid == 0 && user_named)
                        return errmsg(err, errlen, -EPERM,
                                      "user %s resolves to uid 0: its passwd entry maps it to "
                                      "root; refusing (say \"root\" or \"0\" to run as root on "
                                      "purpose)",
                                      user_arg);
                uid = pw->uid;
                gid = pw->gid;
                home = pw->home;
        } else if (user_arg[0] != '\0') {
                if (!u_num) {
                        if (user_arg[0] >= '0' && user_arg[0] <= '9')
                                return errmsg(err, errlen, -ENOENT,
                                              "unable to find user %s: not a number, and no such "
                                              "user in the passwd file",
                                              user_arg);
                        return errmsg(err, errlen, -ENOENT,
                                      "unable to find user %s: no matching entries in passwd file",
                                      user_arg);
                }
                uid = uarg;
                if (!in_range(uid))
                        return errmsg(err, errlen, -ERANGE,
                                      "uids and gids must be in range 0-2147483647");
        }

        _cleanup_free_ gid_t *groups = NULL;
        size_t n_groups = 0;
        if (group_arg[0] != '\0') {
                const struct gr_entry *g =
                    g_num ? userdb_group_by_gid(db, garg) : userdb_group_by_name(db, group_arg);
                if (g && g->gid == USERDB_ID_INVALID)
                        return errmsg(err, errlen, -EINVAL,
                                      "%s:%u: group %s has a gid field that is not a number; "
                                      "refusing (fix that line: gosu would read it as gid 0, "
                                      "root's group)",
                                      gr_file(db), g->line, g->name);
                if (g)
                        gid = g->gid;
                else if (!g_num)
                        return errmsg(err, errlen, -ENOENT,
                                      "unable to find group %s: no matching entries in group file",
                                      group_arg);
                else {
                        gid = garg;
                        if (!in_range(gid))
                                return errmsg(err, errlen, -ERANGE,
                                              "uids and gids must be in range 0-2147483647");
                }
                if (gid == 0 && group_named)
                        return errmsg(err, errlen, -EPERM,
                                      "group %s resolves to gid 0: %s:%u maps it to root's group; "
                                      "refusing (say \"root\" or \"0\" to run with gid 0 on "
                                      "purpose)",
                                      group_arg, gr_file(db), g ? g->line : 0);
        } else if (pw) {
                if (pw->gid == USERDB_ID_INVALID)
                        return errmsg(err, errlen, -EINVAL,
                                      "%s:%u: user %s has a gid field that is not a number; "
                                      "refusing (fix that line, or name the group: %s:GROUP; gosu "
                                      "would read it as gid 0, root's group)",
                                      pw_file(db), pw->line, pw->name,
                                      user_arg[0] ? user_arg : "USER");
                if (pw->gid == 0 && user_named)
                        return errmsg(err, errlen, -EPERM,
                                      "user %s has gid 0 (root's group) in %s:%u; refusing (say "
                                      "%s:0 or %s:root to run with gid 0 on purpose)",
                                      user_arg, pw_file(db), pw->line, user_arg, user_arg);
                /* Implicit form: every group that lists the user. */
                r = supplementary(db, pw->name, user_named, &groups, &n_groups, err, errlen);
                if (r < 0)
                        return r;
        }

        if (!in_range(uid) || !in_range(gid))
                return errmsg(err, errlen, -ERANGE, "uids and gids must be in range 0-2147483647");

        out->uid = (uid_t)uid;
        out->gid = (gid_t)gid;
        out->home = strdup(home);
        out->name = pw ? strdup(pw->name) : NULL;
        out->spec_name = user_arg[0] != '\0' && !u_num;
        if (!out->home || (pw && !out->name)) {
                exec_user_free(out);
                return -ENOMEM;
        }
        out->groups = TAKE_PTR(groups);
        out->n_groups = n_groups;
        return 0;
}
