/* stepdown.conf parser.  One line, one statement; words separated by
 * spaces or tabs; '#' starts a comment.  Every error is
 * "FILE:LINE:COL: what was wrong (what was expected)".  The grammar is in
 * docs/stepdown.conf.5.  Loading with ownership checks is in
 * policy-load.c, the environment overrides in policy-env.c, the --check
 * printout in policy-print.c. */
#include "policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pathnorm.h"
#include "errmsg.h"
#include "policy-internal.h"
#include "util.h"

const char *sd_op_name(enum sd_op op)
{
        switch (op) {
        case SD_OP_MKDIR:
                return "mkdir";
        case SD_OP_CHOWN:
                return "chown";
        case SD_OP_CHMOD:
                return "chmod";
        case SD_OP_OPEN:
                return "open";
        case SD_OP_BIND:
                return "bind";
        }
        return "?";
}

struct word {
        char *s; /* NUL terminated in the line buffer */
        size_t len;
        unsigned col;
};

struct ctx {
        struct policy *p;
        const char *name;
        const struct userdb *db;
        unsigned line;
        unsigned eol_col; /* column just past the last word */
        char *err;
        size_t errlen;
};

static int perr(const struct ctx *c, unsigned col, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int perr(const struct ctx *c, unsigned col, int r, const char *fmt, ...)
{
        va_list ap;
        if (c->err && c->errlen) {
                char sp[POLICY_SHORT_BUF];
                int n = snprintf(c->err, c->errlen,
                                 "%s:%u:%u: ", policy_short_path(c->name, sp, sizeof(sp)), c->line,
                                 col);
                if (n >= 0 && (size_t)n < c->errlen) {
                        va_start(ap, fmt);
                        vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
                        va_end(ap);
                }
        }
        return r;
}

/* ---- small value parsers ---- */

const char *policy_short_path(const char *path, char *buf, size_t len)
{
        size_t n = strlen(path), head = 48, tail = 96;
        if (n <= POLICY_SHORT_PATH)
                return path;
        /* whole UTF-8 sequences on both sides of the cut */
        while (head > 0 && ((unsigned char)path[head] & 0xC0) == 0x80)
                head--;
        const char *t = path + n - tail;
        while (*t && ((unsigned char)*t & 0xC0) == 0x80)
                t++;
        snprintf(buf, len, "%.*s...(%zu bytes)...%s", (int)head, path, n, t);
        return buf;
}

/* Decimal id, digits only, 0..USERDB_ID_MAX (policy-internal.h). */
bool policy_parse_id(const char *s, size_t len, int64_t *out)
{
        int64_t v = 0;
        if (len == 0 || len > 10)
                return false;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (s[i] - '0');
        }
        if (v > USERDB_ID_MAX)
                return false;
        *out = v;
        return true;
}

static bool all_digits(const char *s, size_t len)
{
        for (size_t i = 0; i < len; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return len > 0;
}

/* Octal, 1 to 5 digits, at most max. */
static bool parse_mode(const char *s, size_t len, mode_t max, mode_t *out)
{
        mode_t v = 0;
        if (len == 0 || len > 5)
                return false;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '7')
                        return false;
                v = v * 8 + (mode_t)(s[i] - '0');
        }
        if (v > max)
                return false;
        *out = v;
        return true;
}

/* A user name or uid; names are looked up in db.  A name other than
 * "root" that maps to uid 0 is refused, as for the launch user. */
static int resolve_user(const struct ctx *c, const char *s, size_t len, unsigned col, uid_t *out)
{
        int64_t id;
        char name[256];

        if (all_digits(s, len)) {
                if (!policy_parse_id(s, len, &id))
                        return perr(c, col, -EINVAL, "uid %.*s out of range (0 to %lld)", (int)len,
                                    s, USERDB_ID_MAX);
                *out = (uid_t)id;
                return 0;
        }
        if (len >= sizeof(name))
                return perr(c, col, -EINVAL, "user name too long");
        memcpy(name, s, len);
        name[len] = '\0';
        const struct pw_entry *pw = userdb_user_by_name(c->db, name);
        if (!pw)
                return perr(c, col, -EINVAL, "unknown user \"%s\" (not in the passwd file)", name);
        if (pw->uid < 0 || pw->uid > USERDB_ID_MAX)
                return perr(c, col, -EINVAL, "user \"%s\" has uid %lld, out of range", name,
                            (long long)pw->uid);
        if (pw->uid == 0 && strcmp(name, "root") != 0)
                return perr(c, col, -EINVAL,
                            "user \"%s\" maps to uid 0 in the passwd file; refusing (write "
                            "\"root\" or \"0\" to mean root)",
                            name);
        *out = (uid_t)pw->uid;
        return 0;
}

static int resolve_group(const struct ctx *c, const char *s, size_t len, unsigned col, gid_t *out)
{
        int64_t id;
        char name[256];

        if (all_digits(s, len)) {
                if (!policy_parse_id(s, len, &id))
                        return perr(c, col, -EINVAL, "gid %.*s out of range (0 to %lld)", (int)len,
                                    s, USERDB_ID_MAX);
                *out = (gid_t)id;
                return 0;
        }
        if (len >= sizeof(name))
                return perr(c, col, -EINVAL, "group name too long");
        memcpy(name, s, len);
        name[len] = '\0';
        const struct gr_entry *gr = userdb_group_by_name(c->db, name);
        if (!gr)
                return perr(c, col, -EINVAL, "unknown group \"%s\" (not in the group file)", name);
        if (gr->gid < 0 || gr->gid > USERDB_ID_MAX)
                return perr(c, col, -EINVAL, "group \"%s\" has gid %lld, out of range", name,
                            (long long)gr->gid);
        if (gr->gid == 0 && strcmp(name, "root") != 0)
                return perr(c, col, -EINVAL,
                            "group \"%s\" maps to gid 0 in the group file; refusing (write "
                            "\"root\" or \"0\" to mean gid 0)",
                            name);
        *out = (gid_t)gr->gid;
        return 0;
}

/* The primary group of the user with uid (USER given without :GROUP). */
static int primary_group(const struct ctx *c, const char *s, size_t len, unsigned col, uid_t uid,
                         gid_t *out)
{
        char name[256];
        const struct pw_entry *pw = NULL;
        if (all_digits(s, len)) {
                pw = userdb_user_by_uid(c->db, uid);
        } else if (len < sizeof(name)) { /* by name: another entry may share the uid */
                memcpy(name, s, len);
                name[len] = '\0';
                pw = userdb_user_by_name(c->db, name);
        }
        if (!pw)
                return perr(c, col, -EINVAL,
                            "owner \"%.*s\" has no passwd entry, so no primary group (write "
                            "%.*s:GROUP)",
                            (int)len, s, (int)len, s);
        if (pw->gid < 0 || pw->gid > USERDB_ID_MAX)
                return perr(c, col, -EINVAL, "user \"%s\" has primary gid %lld, out of range",
                            pw->name, (long long)pw->gid);
        *out = (gid_t)pw->gid;
        return 0;
}

/* USER:GROUP, or USER alone for USER's primary group, at s (len bytes). */
static int parse_owner(const struct ctx *c, const char *s, size_t len, unsigned col,
                       struct policy_owner *o)
{
        const char *colon = memchr(s, ':', len);
        if (colon == s || (colon && colon == s + len - 1) ||
            (colon && memchr(colon + 1, ':', len - (size_t)(colon - s) - 1)))
                return perr(c, col, -EINVAL,
                            "invalid owner \"%.*s\" (expected USER:GROUP, or USER for USER's "
                            "primary group)",
                            (int)len, s);
        size_t ulen = colon ? (size_t)(colon - s) : len;
        int r = resolve_user(c, s, ulen, col, &o->uid);
        if (r < 0)
                return r;
        if (!colon)
                return primary_group(c, s, len, col, o->uid, &o->gid);
        return resolve_group(c, colon + 1, len - ulen - 1, col + (unsigned)ulen + 1, &o->gid);
}

/* ---- patterns ---- */

static int check_plain_path(const struct ctx *c, const char *s, size_t len, unsigned col,
                            const char *what)
{
        char msg[128];
        if (path_check_len(s, len, msg, sizeof(msg)) < 0)
                return perr(c, col, -EINVAL,
                            "invalid %s \"%.*s\": %s (expected an absolute path "
                            "without ., .., // or a trailing /)",
                            what, (int)(len > 256 ? 256 : len), s, msg);
        return 0;
}

/* Checks the wildcards of a pattern: each "*" is one whole component,
 * "**" only the last.  Sets *first to the offset of the '/' before the
 * first wildcard component (len: none) and *mid when a "*" comes before
 * the last component. */
static int scan_wildcards(const struct ctx *c, const char *s, size_t len, unsigned col,
                          size_t *first, bool *mid)
{
        *first = len;
        *mid = false;
        for (size_t i = 0; i < len;) {
                size_t j = i;
                while (j < len && s[j] != '/')
                        j++;
                const char *star = memchr(s + i, '*', j - i);
                bool last = j == len;
                if (star) {
                        bool one = j - i == 1, two = j - i == 2 && s[i] == '*' && s[i + 1] == '*';
                        if (!one && !(two && last))
                                return perr(c, col + (unsigned)(star - s), -EINVAL,
                                            "wildcard in \"%.*s\" (a * stands for one whole "
                                            "component, ** for any depth and only at the end)",
                                            (int)(len > 256 ? 256 : len), s);
                        if (*first == len)
                                *first = i ? i - 1 : 0;
                        *mid |= !last;
                }
                i = j + 1;
        }
        return 0;
}

/* PATH, PATH/ *, PATH/ ** or a pattern with "*" components within (a
 * mid-path wildcard); fills kind and a new anchor: the fixed part before
 * the first wildcard component, or for an exact path the directory that
 * holds it. */
static int parse_pattern(const struct ctx *c, const char *s, size_t len, unsigned col,
                         enum pattern_kind *kind, char **anchor)
{
        size_t base = len;
        bool mid;
        int r = scan_wildcards(c, s, len, col, &base, &mid);
        if (r < 0)
                return r;
        if (mid)
                *kind = PATTERN_GLOB;
        else if (base == len)
                *kind = PATTERN_EXACT;
        else
                *kind = len - base == 3 ? PATTERN_DESCENDANTS : PATTERN_CHILDREN;
        if (*kind == PATTERN_GLOB) {
                /* The whole pattern in normal form ("*" is a plain name to
                 * path_check). */
                if ((r = check_plain_path(c, s, len, col, "pattern")) < 0)
                        return r;
        } else if (*kind != PATTERN_EXACT && base == 0) {
                if (s[0] != '/')
                        return perr(c, col, -EINVAL, "invalid pattern \"%.*s\" (write /* or /**)",
                                    (int)len, s);
        } else if (*kind != PATTERN_EXACT && base == 1) {
                return perr(c, col, -EINVAL, "invalid pattern \"%.*s\" (write /* or /**)", (int)len,
                            s);
        } else if ((r = check_plain_path(c, s, base, col, "path")) < 0) {
                return r;
        }
        if (base == 0) {
                *anchor = strdup("/");
                return *anchor ? 0 : -ENOMEM;
        }
        if (*kind == PATTERN_EXACT) {
                const char *slash = s + base - 1;
                while (slash > s && *slash != '/')
                        slash--;
                base = slash == s ? 1 : (size_t)(slash - s);
        }
        *anchor = strndup(s, base);
        return *anchor ? 0 : -ENOMEM;
}

static int parse_port(const struct ctx *c, const char *s, size_t len, unsigned col,
                      struct policy_bind *b)
{
        const char *dash = memchr(s, '-', len);
        size_t l1 = dash ? (size_t)(dash - s) : len;
        int64_t lo, hi;
        if (!all_digits(s, l1) || !policy_parse_id(s, l1, &lo) ||
            (dash && (!all_digits(dash + 1, len - l1 - 1) ||
                      !policy_parse_id(dash + 1, len - l1 - 1, &hi))))
                goto bad;
        if (!dash)
                hi = lo;
        if (lo < 1 || hi > 65535 || lo > hi)
                goto bad;
        b->port_lo = (unsigned)lo;
        b->port_hi = (unsigned)hi;
        return 0;
bad:
        return perr(c, col, -EINVAL,
                    "invalid port \"%.*s\" (expected a number 1-65535 or a range LO-HI)", (int)len,
                    s);
}

static int parse_bind(const struct ctx *c, struct policy_rule *rule, const struct word *w)
{
        struct policy_bind *b = &rule->bind;
        const char *s = w->s;
        size_t off;

        if (strncmp(s, "unix:", 5) == 0) {
                b->family = AF_UNIX;
                b->socktype = 0;
                if (s[5] != '/')
                        return perr(c, w->col + 5, -EINVAL,
                                    "invalid unix socket path \"%s\" (expected an absolute path; "
                                    "abstract sockets are not supported)",
                                    s + 5);
                return parse_pattern(c, s + 5, w->len - 5, w->col + 5, &rule->kind, &rule->anchor);
        }
        if (strncmp(s, "tcp:", 4) == 0)
                b->socktype = SOCK_STREAM;
        else if (strncmp(s, "udp:", 4) == 0)
                b->socktype = SOCK_DGRAM;
        else
                return perr(c, w->col, -EINVAL,
                            "invalid bind address \"%s\" (expected tcp:ADDR:PORT, udp:ADDR:PORT "
                            "or unix:PATH)",
                            s);
        off = 4;
        const char *a = s + off, *end;
        char buf[INET6_ADDRSTRLEN + 1];
        if (*a == '[') {
                end = strchr(a, ']');
                size_t n = end ? (size_t)(end - a - 1) : 0;
                if (!end || n == 0 || n >= sizeof(buf))
                        goto bad_addr;
                memcpy(buf, a + 1, n);
                buf[n] = '\0';
                if (inet_pton(AF_INET6, buf, b->addr) != 1)
                        goto bad_addr;
                b->family = AF_INET6;
                end++;
        } else {
                end = strchr(a, ':');
                size_t n = end ? (size_t)(end - a) : strlen(a);
                if (n == 1 && *a == '*') {
                        b->any_addr = true;
                        b->family = 0;
                } else {
                        if (n == 0 || n >= sizeof(buf) || !end)
                                goto bad_addr;
                        memcpy(buf, a, n);
                        buf[n] = '\0';
                        if (inet_pton(AF_INET, buf, b->addr) != 1)
                                goto bad_addr;
                        b->family = AF_INET;
                }
        }
        if (!end || *end != ':')
                return perr(c, w->col + (unsigned)((end ? end : s + w->len) - s), -EINVAL,
                            "missing port in \"%s\" (expected ADDR:PORT)", s);
        end++;
        return parse_port(c, end, w->len - (size_t)(end - s), w->col + (unsigned)(end - s), b);
bad_addr:
        return perr(c, w->col + (unsigned)off, -EINVAL,
                    "invalid address in \"%s\" (expected *, an IPv4 address or [IPv6])", s);
}

/* ---- options ---- */

enum opt {
        OPT_OWNER,
        OPT_MODE,
        OPT_RECURSIVE,
        OPT_PARENTS,
        OPT_XDEV,
        OPT_HARDLINKS,
        OPT_READ,
        OPT_WRITE,
        OPT_CREATE,
        _OPT_MAX,
};

static const struct {
        const char *name;
        bool value;
} options[_OPT_MAX] = {
    [OPT_OWNER] = {"owner", true},  [OPT_MODE] = {"mode", true}, [OPT_RECURSIVE] = {"recursive", 0},
    [OPT_PARENTS] = {"parents", 0}, [OPT_XDEV] = {"xdev", 0},    [OPT_HARDLINKS] = {"hardlinks", 0},
    [OPT_READ] = {"read", 0},       [OPT_WRITE] = {"write", 0},  [OPT_CREATE] = {"create", 0},
};

#define O(x) (1u << (x))

static unsigned valid_options(enum sd_op op, bool setup)
{
        switch (op) {
        case SD_OP_MKDIR:
                return O(OPT_OWNER) | O(OPT_MODE) | O(OPT_PARENTS);
        case SD_OP_CHOWN:
                return O(OPT_OWNER) | O(OPT_RECURSIVE) | O(OPT_XDEV) | O(OPT_HARDLINKS);
        case SD_OP_CHMOD:
                return O(OPT_MODE);
        case SD_OP_OPEN:
                return setup ? 0
                             : O(OPT_READ) | O(OPT_WRITE) | O(OPT_CREATE) | O(OPT_OWNER) |
                                   O(OPT_MODE);
        case SD_OP_BIND:
                return setup ? 0 : O(OPT_OWNER) | O(OPT_MODE);
        }
        return 0;
}

/* "owner=, mode= or parents" */
static void option_list(unsigned mask, char *buf, size_t len)
{
        size_t n = 0, total = 0, k = 0;
        for (int i = 0; i < _OPT_MAX; i++)
                total += (mask & O(i)) != 0;
        buf[0] = '\0';
        if (total == 0) {
                snprintf(buf, len, "no options");
                return;
        }
        for (int i = 0; i < _OPT_MAX; i++) {
                if (!(mask & O(i)))
                        continue;
                k++;
                const char *sep = k == 1 ? "" : k == total ? " or " : ", ";
                int m = snprintf(buf + n, len - n, "%s%s%s", sep, options[i].name,
                                 options[i].value ? "=" : "");
                if (m < 0 || (size_t)m >= len - n)
                        return;
                n += (size_t)m;
        }
}

struct parsed_options {
        unsigned seen;
        struct policy_owner owners[POLICY_LIST_MAX];
        size_t n_owners;
        mode_t modes[POLICY_LIST_MAX];
        size_t n_modes;
};

static int parse_list(const struct ctx *c, const struct word *w, size_t vofs, enum opt o,
                      bool single, struct parsed_options *po)
{
        const char *v = w->s + vofs;
        size_t vlen = w->len - vofs;
        size_t count = 0;
        const char *what = o == OPT_OWNER ? "owners" : "modes";

        if (vlen == 0)
                return perr(c, w->col + (unsigned)vofs, -EINVAL, "empty %s= (expected %s)",
                            options[o].name, o == OPT_OWNER ? "USER[:GROUP]" : "an octal mode");
        for (size_t i = 0; i <= vlen;) {
                size_t j = i;
                while (j < vlen && v[j] != ',')
                        j++;
                unsigned col = w->col + (unsigned)(vofs + i);
                if (count == (single ? 1 : POLICY_LIST_MAX))
                        return perr(c, col, single ? -EINVAL : -E2BIG,
                                    single ? "setup takes one %s= value"
                                           : "too many %s (at most " STRINGIFY(POLICY_LIST_MAX) ")",
                                    single ? options[o].name : what);
                if (j == i)
                        return perr(c, col, -EINVAL, "empty entry in %s= list", options[o].name);
                if (o == OPT_OWNER) {
                        int r = parse_owner(c, v + i, j - i, col, &po->owners[count]);
                        if (r < 0)
                                return r;
                } else if (!parse_mode(v + i, j - i, 07777, &po->modes[count])) {
                        return perr(c, col, -EINVAL,
                                    "invalid mode \"%.*s\" (expected an octal number 0 to 07777)",
                                    (int)(j - i), v + i);
                }
                count++;
                i = j + 1;
        }
        if (o == OPT_OWNER)
                po->n_owners = count;
        else
                po->n_modes = count;
        return 0;
}

/* Parses words[0..n) as options valid for op. */
static int parse_options(const struct ctx *c, const struct word *w, size_t n, enum sd_op op,
                         bool setup, struct parsed_options *po)
{
        unsigned valid = valid_options(op, setup);
        char expected[128];

        option_list(valid, expected, sizeof(expected));
        for (size_t i = 0; i < n; i++) {
                const char *eq = strchr(w[i].s, '=');
                size_t nlen = eq ? (size_t)(eq - w[i].s) : w[i].len;
                int o;
                for (o = 0; o < _OPT_MAX; o++)
                        if (strlen(options[o].name) == nlen &&
                            memcmp(options[o].name, w[i].s, nlen) == 0)
                                break;
                if (o == _OPT_MAX)
                        return perr(c, w[i].col, -EINVAL, "unknown option \"%.*s\" (expected %s)",
                                    (int)nlen, w[i].s, expected);
                if (!(valid & O(o)))
                        return perr(c, w[i].col, -EINVAL,
                                    "option \"%s\" is not valid for %s%s (expected %s)",
                                    options[o].name, setup ? "setup " : "", sd_op_name(op),
                                    expected);
                if (po->seen & O(o))
                        return perr(c, w[i].col, -EINVAL, "duplicate option \"%s\"",
                                    options[o].name);
                po->seen |= O(o);
                if (options[o].value && !eq)
                        return perr(c, w[i].col, -EINVAL, "option \"%s\" needs a value (%s=%s)",
                                    options[o].name, options[o].name,
                                    o == OPT_OWNER ? "USER[:GROUP]" : "MODE");
                if (!options[o].value && eq)
                        return perr(c, w[i].col, -EINVAL, "option \"%s\" takes no value",
                                    options[o].name);
                if (options[o].value) {
                        int r = parse_list(c, &w[i], nlen + 1, (enum opt)o, setup, po);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int parse_op(const struct ctx *c, const struct word *w, bool setup, enum sd_op *op)
{
        static const enum sd_op ops[] = {SD_OP_MKDIR, SD_OP_CHOWN, SD_OP_CHMOD, SD_OP_OPEN,
                                         SD_OP_BIND};
        for (size_t i = 0; i < (setup ? 3 : ELEMENTSOF(ops)); i++)
                if (strcmp(w->s, sd_op_name(ops[i])) == 0) {
                        *op = ops[i];
                        return 0;
                }
        return perr(c, w->col, -EINVAL, "unknown operation \"%s\" (expected %s)", w->s,
                    setup ? "mkdir, chown or chmod" : "mkdir, chown, chmod, open or bind");
}

/* ---- statements ---- */

static int need_args(const struct ctx *c, const struct word *w, size_t n, size_t min, size_t max,
                     const char *what)
{
        if (n - 1 < min)
                return perr(c, c->eol_col, -EINVAL, "missing %s after \"%s\"", what, w[0].s);
        if (n - 1 > max)
                return perr(c, w[max + 1].col, -EINVAL,
                            "unexpected \"%s\" after %s (expected end of line)", w[max + 1].s,
                            max ? what : w[0].s);
        return 0;
}

static int once(const struct ctx *c, const struct word *w, unsigned *line)
{
        if (*line)
                return perr(c, w->col, -EINVAL, "duplicate \"%s\" statement (first at line %u)",
                            w->s, *line);
        *line = c->line;
        return 0;
}

/* Replaces *dst with a copy of s; -ENOMEM. */
static int policy_set_string(char **dst, const char *s)
{
        char *n = strdup(s);
        if (!n)
                return -ENOMEM;
        free(*dst);
        *dst = n;
        return 0;
}

int policy_resolve_launch_user(struct policy *p, const char *spec, const struct userdb *db,
                               char *err, size_t errlen)
{
        struct exec_user u;
        int r = userdb_resolve(db, spec, 0, 0, &u, err, errlen);
        if (r < 0)
                return r;
        p->user_uid = u.uid;
        p->user_gid = u.gid;
        exec_user_free(&u);
        for (size_t i = 0; i < p->n_steps; i++)
                if (p->steps[i].owner_from_user) {
                        p->steps[i].uid = p->user_uid;
                        p->steps[i].gid = p->user_gid;
                }
        return policy_set_string(&p->user, spec);
}

static int st_user(struct ctx *c, struct word *w, size_t n)
{
        char msg[256];
        int r = need_args(c, w, n, 1, 1, "a user spec");
        if (r < 0 || (r = once(c, w, &c->p->user_line)) < 0)
                return r;
        r = policy_resolve_launch_user(c->p, w[1].s, c->db, msg, sizeof(msg));
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return perr(c, w[1].col, -EINVAL, "invalid user spec \"%s\": %s", w[1].s, msg);
        return 0;
}

static int st_path(struct ctx *c, struct word *w, size_t n, unsigned *line, char **dst,
                   const char *what, bool dash)
{
        int r = need_args(c, w, n, 1, 1, what);
        if (r < 0 || (r = once(c, w, line)) < 0)
                return r;
        if (!(dash && strcmp(w[1].s, "-") == 0) &&
            (r = check_plain_path(c, w[1].s, w[1].len, w[1].col, what)) < 0)
                return r;
        return policy_set_string(dst, w[1].s);
}

static int st_socket(struct ctx *c, struct word *w, size_t n)
{
        return st_path(c, w, n, &c->p->socket_line, &c->p->socket, "socket path", false);
}

static int st_audit(struct ctx *c, struct word *w, size_t n)
{
        return st_path(c, w, n, &c->p->audit_line, &c->p->audit, "audit path", true);
}

static int st_audit_sign(struct ctx *c, struct word *w, size_t n)
{
        return st_path(c, w, n, &c->p->audit_sign_line, &c->p->audit_sign, "key file", false);
}

static int st_choice(struct ctx *c, struct word *w, size_t n, unsigned *line,
                     enum policy_tristate *dst, const char *yes, const char *no)
{
        char what[64];
        snprintf(what, sizeof(what), "%s or %s", yes, no);
        int r = need_args(c, w, n, 1, 1, what);
        if (r < 0 || (r = once(c, w, line)) < 0)
                return r;
        if (strcmp(w[1].s, yes) == 0)
                *dst = POLICY_YES;
        else if (strcmp(w[1].s, no) == 0)
                *dst = POLICY_NO;
        else
                return perr(c, w[1].col, -EINVAL, "invalid %s \"%s\" (expected %s)", w[0].s, w[1].s,
                            what);
        return 0;
}

static int st_audit_sync(struct ctx *c, struct word *w, size_t n)
{
        return st_choice(c, w, n, &c->p->audit_sync_line, &c->p->audit_sync, "always", "never");
}

static int st_audit_failure(struct ctx *c, struct word *w, size_t n)
{
        return st_choice(c, w, n, &c->p->audit_failure_line, &c->p->audit_failure, "deny", "allow");
}

static int st_audit_syslog(struct ctx *c, struct word *w, size_t n)
{
        return st_choice(c, w, n, &c->p->audit_syslog_line, &c->p->audit_syslog, "yes", "no");
}

static int st_umask(struct ctx *c, struct word *w, size_t n)
{
        int r = need_args(c, w, n, 1, 1, "an octal umask");
        if (r < 0 || (r = once(c, w, &c->p->umask_line)) < 0)
                return r;
        if (!parse_mode(w[1].s, w[1].len, 0777, &c->p->umask))
                return perr(c, w[1].col, -EINVAL,
                            "invalid umask \"%s\" (expected an octal number 0 to 0777)", w[1].s);
        c->p->has_umask = true;
        return 0;
}

static int st_key(struct ctx *c, struct word *w, size_t n)
{
        int r = need_args(c, w, n, 1, 1, "auto, none or a key file path");
        if (r < 0 || (r = once(c, w, &c->p->key_line)) < 0)
                return r;
        if (strcmp(w[1].s, "auto") == 0)
                c->p->key = POLICY_KEY_AUTO;
        else if (strcmp(w[1].s, "none") == 0)
                c->p->key = POLICY_KEY_NONE;
        else if (w[1].s[0] != '/')
                return perr(c, w[1].col, -EINVAL,
                            "invalid key \"%s\" (expected auto, none or an absolute path)", w[1].s);
        else {
                if ((r = check_plain_path(c, w[1].s, w[1].len, w[1].col, "key file")) < 0)
                        return r;
                c->p->key = POLICY_KEY_FILE;
                return policy_set_string(&c->p->key_file, w[1].s);
        }
        return 0;
}

static int st_no_new_privs(struct ctx *c, struct word *w, size_t n)
{
        int r = need_args(c, w, n, 0, 0, "");
        if (r < 0 || (r = once(c, w, &c->p->no_new_privs_line)) < 0)
                return r;
        c->p->no_new_privs = true;
        return 0;
}

/* The words that may end an intercept statement, in any order. */
static bool intercept_option(const char *s)
{
        return strcmp(s, "log-continued") == 0 || strcmp(s, "required") == 0;
}

/* intercept OP... [log-continued] [required]: transparent mode for those
 * operations (exec and --init modes; the allow rules decide). */
static int st_intercept(struct ctx *c, struct word *w, size_t n)
{
        int r = need_args(c, w, n, 1, POLICY_WORDS_MAX,
                          "an operation (mkdir, chown, chmod, open or bind)");
        if (r < 0 || (r = once(c, w, &c->p->intercept_line)) < 0)
                return r;
        for (size_t i = 1; i < n; i++) {
                enum sd_op op;
                if (intercept_option(w[i].s)) {
                        bool last = i > 1;
                        for (size_t j = i + 1; j < n; j++)
                                last &= intercept_option(w[j].s);
                        if (!last)
                                return perr(c, w[i].col, -EINVAL,
                                            "\"%s\" goes last, after the operations", w[i].s);
                        bool *flag = w[i].s[0] == 'r' ? &c->p->intercept_required
                                                      : &c->p->intercept_log_continued;
                        if (*flag)
                                return perr(c, w[i].col, -EINVAL, "\"%s\" named twice", w[i].s);
                        *flag = true;
                        continue;
                }
                if ((r = parse_op(c, &w[i], false, &op)) < 0)
                        return r;
                if (c->p->intercept_ops & (1u << op))
                        return perr(c, w[i].col, -EINVAL, "operation \"%s\" named twice", w[i].s);
                c->p->intercept_ops |= 1u << op;
        }
        return 0;
}

/* setup-unprivileged fail|warn|skip: what setup steps do when stepdownd
 * is started without root. */
static int st_setup_unprivileged(struct ctx *c, struct word *w, size_t n)
{
        static const char *const names[] = {"fail", "warn", "skip"};
        int r = need_args(c, w, n, 1, 1, "fail, warn or skip");
        if (r < 0 || (r = once(c, w, &c->p->setup_unprivileged_line)) < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcmp(w[1].s, names[i]) == 0) {
                        c->p->setup_unprivileged = (enum policy_unpriv)i;
                        return 0;
                }
        return perr(c, w[1].col, -EINVAL,
                    "invalid setup-unprivileged \"%s\" (expected fail, warn or skip)", w[1].s);
}

static int st_broker(struct ctx *c, struct word *w, size_t n)
{
        return st_choice(c, w, n, &c->p->broker_line, &c->p->broker_required, "required",
                         "optional");
}

static int st_setup(struct ctx *c, struct word *w, size_t n)
{
        struct policy *p = c->p;
        struct parsed_options po = {0};
        enum sd_op op;
        int r;

        if (n < 2)
                return perr(c, c->eol_col, -EINVAL,
                            "missing operation after \"setup\" (expected mkdir, chown or chmod)");
        if ((r = parse_op(c, &w[1], true, &op)) < 0)
                return r;
        if (n < 3)
                return perr(c, c->eol_col, -EINVAL, "missing path after \"setup %s\"", w[1].s);
        if (memchr(w[2].s, '*', w[2].len))
                return perr(c, w[2].col, -EINVAL,
                            "wildcard in setup path \"%s\" (setup takes one exact path)", w[2].s);
        if ((r = check_plain_path(c, w[2].s, w[2].len, w[2].col, "path")) < 0)
                return r;
        if ((r = parse_options(c, w + 3, n - 3, op, true, &po)) < 0)
                return r;
        if (op == SD_OP_CHMOD && !(po.seen & O(OPT_MODE)))
                return perr(c, c->eol_col, -EINVAL, "missing mode= for setup chmod");
        if (p->n_steps == POLICY_STEPS_MAX)
                return perr(c, w[0].col, -E2BIG,
                            "too many setup steps (at most " STRINGIFY(POLICY_STEPS_MAX) ")");

        struct policy_step *ns = reallocarray(p->steps, p->n_steps + 1, sizeof(*ns));
        if (!ns)
                return -ENOMEM;
        p->steps = ns;
        struct policy_step *s = &p->steps[p->n_steps];
        *s = (struct policy_step){
            .line = c->line,
            .op = op,
            .path = strdup(w[2].s),
            .parents = po.seen & O(OPT_PARENTS),
            .recursive = po.seen & O(OPT_RECURSIVE),
            .xdev = po.seen & O(OPT_XDEV),
            .hardlinks = po.seen & O(OPT_HARDLINKS),
        };
        if (!s->path)
                return -ENOMEM;
        p->n_steps++;
        if (po.n_modes) {
                s->has_mode = true;
                s->mode = po.modes[0];
        }
        if (po.n_owners) {
                s->uid = po.owners[0].uid;
                s->gid = po.owners[0].gid;
        } else if (op != SD_OP_CHMOD) {
                s->owner_from_user = true;
                s->uid = p->user_uid;
                s->gid = p->user_gid;
        }
        return 0;
}

static int parse_caller(const struct ctx *c, const struct word *w, struct policy_caller *caller)
{
        int r;
        if (strcmp(w->s, "*") == 0)
                caller->kind = CALLER_ANY;
        else if (w->s[0] == '@') {
                caller->kind = CALLER_GROUP;
                if (w->len == 1)
                        return perr(c, w->col, -EINVAL, "missing group name after \"@\"");
                if ((r = resolve_group(c, w->s + 1, w->len - 1, w->col + 1, &caller->gid)) < 0)
                        return r;
        } else {
                caller->kind = CALLER_UID;
                if ((r = resolve_user(c, w->s, w->len, w->col, &caller->uid)) < 0)
                        return r;
        }
        caller->text = strdup(w->s);
        return caller->text ? 0 : -ENOMEM;
}

static void rule_free(struct policy_rule *r)
{
        free(r->caller.text);
        free(r->pattern);
        free(r->anchor);
        free(r->owners);
        free(r->modes);
}

static int st_allow(struct ctx *c, struct word *w, size_t n)
{
        struct policy *p = c->p;
        struct parsed_options po = {0};
        struct policy_rule rule = {.line = c->line};
        int r;

        if (n < 2)
                return perr(c, c->eol_col, -EINVAL,
                            "missing caller after \"allow\" (expected a user, uid, @group or *)");
        if (n < 3)
                return perr(c, c->eol_col, -EINVAL,
                            "missing operation (expected mkdir, chown, chmod, open or bind)");
        if ((r = parse_op(c, &w[2], false, &rule.op)) < 0)
                return r;
        if (n < 4)
                return perr(c, c->eol_col, -EINVAL, "missing %s after \"%s\"",
                            rule.op == SD_OP_BIND ? "address (tcp:ADDR:PORT, udp:ADDR:PORT or "
                                                    "unix:PATH)"
                                                  : "path pattern",
                            w[2].s);
        if (p->n_rules == POLICY_RULES_MAX)
                return perr(c, w[0].col, -E2BIG,
                            "too many allow rules (at most " STRINGIFY(POLICY_RULES_MAX) ")");
        if ((r = parse_caller(c, &w[1], &rule.caller)) < 0)
                goto out;
        if (rule.op == SD_OP_BIND)
                r = parse_bind(c, &rule, &w[3]);
        else
                r = parse_pattern(c, w[3].s, w[3].len, w[3].col, &rule.kind, &rule.anchor);
        if (r < 0)
                goto out;
        if ((r = parse_options(c, w + 4, n - 4, rule.op, false, &po)) < 0)
                goto out;

        unsigned seen = po.seen;
        if (rule.op == SD_OP_CHMOD && !(seen & O(OPT_MODE))) {
                r = perr(c, c->eol_col, -EINVAL,
                         "missing mode= for allow chmod (the modes it may set)");
                goto out;
        }
        if (rule.op == SD_OP_OPEN && !(seen & (O(OPT_READ) | O(OPT_WRITE)))) {
                r = perr(c, c->eol_col, -EINVAL, "missing read or write for allow open");
                goto out;
        }
        if (rule.op == SD_OP_OPEN && !(seen & O(OPT_CREATE)) &&
            (seen & (O(OPT_OWNER) | O(OPT_MODE)))) {
                r = perr(c, w[3].col, -EINVAL, "owner= and mode= for open need create");
                goto out;
        }
        if (rule.op == SD_OP_BIND && rule.bind.family != AF_UNIX &&
            (seen & (O(OPT_OWNER) | O(OPT_MODE)))) {
                r = perr(c, w[3].col, -EINVAL, "owner= and mode= are only valid for unix: binds");
                goto out;
        }
        if (rule.kind == PATTERN_GLOB && (seen & O(OPT_PARENTS))) {
                r = perr(c, w[3].col, -EINVAL,
                         "parents is not valid with a wildcard before the last component (it "
                         "would create directories \"%s\" does not name)",
                         w[3].s);
                goto out;
        }
        rule.recursive = seen & O(OPT_RECURSIVE);
        rule.parents = seen & O(OPT_PARENTS);
        rule.xdev = seen & O(OPT_XDEV);
        rule.hardlinks = seen & O(OPT_HARDLINKS);
        rule.read = seen & O(OPT_READ);
        rule.write = seen & O(OPT_WRITE);
        rule.create = seen & O(OPT_CREATE);
        r = -ENOMEM;
        rule.pattern = strdup(w[3].s);
        if (!rule.pattern)
                goto out;
        if (po.n_owners) {
                rule.owners = calloc(po.n_owners, sizeof(*rule.owners));
                if (!rule.owners)
                        goto out;
                memcpy(rule.owners, po.owners, po.n_owners * sizeof(*rule.owners));
                rule.n_owners = po.n_owners;
        }
        if (po.n_modes) {
                rule.modes = calloc(po.n_modes, sizeof(*rule.modes));
                if (!rule.modes)
                        goto out;
                memcpy(rule.modes, po.modes, po.n_modes * sizeof(*rule.modes));
                rule.n_modes = po.n_modes;
        }
        struct policy_rule *nr = reallocarray(p->rules, p->n_rules + 1, sizeof(*nr));
        if (!nr)
                goto out;
        p->rules = nr;
        p->rules[p->n_rules++] = rule;
        return 0;
out:
        rule_free(&rule);
        return r;
}

static bool env_name_ok(const char *s, size_t len)
{
        if (len == 0 || (s[0] >= '0' && s[0] <= '9'))
                return false;
        for (size_t i = 0; i < len; i++)
                if (!(s[i] == '_' || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
                      (s[i] >= '0' && s[i] <= '9')))
                        return false;
        return true;
}

/* A remap statement's uid=/gid= source: a number, env:NAME or
 * owner:/ABS/PATH.  -EINVAL with the reason in msg, or -ENOMEM. */
static int remap_src_parse(const char *s, size_t len, struct remap_src *out, char *msg,
                           size_t msglen)
{
        *out = (struct remap_src){0};
        if (len > 4 && memcmp(s, "env:", 4) == 0) {
                if (!env_name_ok(s + 4, len - 4))
                        return errmsg(msg, msglen, -EINVAL,
                                      "invalid variable name \"%.*s\" (expected letters, digits "
                                      "and _)",
                                      (int)(len - 4), s + 4);
                out->kind = REMAP_SRC_ENV;
        } else if (len > 6 && memcmp(s, "owner:", 6) == 0) {
                char why[128];
                if (path_check_len(s + 6, len - 6, why, sizeof(why)) < 0)
                        return errmsg(msg, msglen, -EINVAL,
                                      "invalid path \"%.*s\": %s (expected an absolute path "
                                      "without ., .., // or a trailing /)",
                                      (int)(len - 6 > 256 ? 256 : len - 6), s + 6, why);
                out->kind = REMAP_SRC_OWNER;
        } else if (policy_parse_id(s, len, &out->number)) {
                if (out->number == 0)
                        return errmsg(msg, msglen, -EINVAL, "0 (root) refused as a remap target");
                out->kind = REMAP_SRC_NUMBER;
                return 0;
        } else {
                return errmsg(msg, msglen, -EINVAL,
                              "invalid source \"%.*s\" (expected a number from 1 to %lld, "
                              "env:NAME or owner:/PATH)",
                              (int)(len > 64 ? 64 : len), s, USERDB_ID_MAX);
        }
        size_t skip = out->kind == REMAP_SRC_ENV ? 4 : 6;
        out->arg = strndup(s + skip, len - skip);
        if (!out->arg) {
                out->kind = REMAP_SRC_NONE;
                return -ENOMEM;
        }
        return 0;
}

/* remap USER uid=SRC [gid=SRC] [chown=PATH[,PATH...]] [takeover] */
static int st_remap(struct ctx *c, struct word *w, size_t n)
{
        struct policy_remap *m = &c->p->remap;
        char msg[256];
        int r;

        if (n < 2)
                return perr(c, c->eol_col, -EINVAL, "missing user name after \"remap\"");
        if ((r = once(c, w, &m->line)) < 0)
                return r;
        if (all_digits(w[1].s, w[1].len))
                return perr(c, w[1].col, -EINVAL,
                            "remap needs a user name, not a uid (\"%s\"): the name is what "
                            "follows the new ids",
                            w[1].s);
        uid_t uid;
        if ((r = resolve_user(c, w[1].s, w[1].len, w[1].col, &uid)) < 0)
                return r;
        if (uid == 0)
                return perr(c, w[1].col, -EINVAL, "remap of root (\"%s\") refused", w[1].s);
        if ((r = policy_set_string(&m->user, w[1].s)) < 0)
                return r;
        for (size_t i = 2; i < n; i++) {
                const char *s = w[i].s;
                struct remap_src *src = NULL;
                if (strncmp(s, "uid=", 4) == 0)
                        src = &m->uid;
                else if (strncmp(s, "gid=", 4) == 0)
                        src = &m->gid;
                if (src) {
                        if (src->kind)
                                return perr(c, w[i].col, -EINVAL, "duplicate option \"%.3s\"", s);
                        if ((r = remap_src_parse(s + 4, w[i].len - 4, src, msg, sizeof(msg))) < 0)
                                return r == -ENOMEM ? r
                                                    : perr(c, w[i].col + 4, r, "%.3s=: %s", s, msg);
                        continue;
                }
                if (strcmp(s, "takeover") == 0) {
                        if (m->takeover)
                                return perr(c, w[i].col, -EINVAL, "duplicate option \"takeover\"");
                        m->takeover = true;
                        continue;
                }
                if (strncmp(s, "chown=", 6) != 0)
                        return perr(c, w[i].col, -EINVAL,
                                    "unknown option \"%s\" (expected uid=, gid=, chown= or "
                                    "takeover)",
                                    s);
                if (m->n_paths)
                        return perr(c, w[i].col, -EINVAL, "duplicate option \"chown\"");
                for (size_t a = 6; a <= w[i].len;) {
                        size_t b = a;
                        while (b < w[i].len && s[b] != ',')
                                b++;
                        unsigned col = w[i].col + (unsigned)a;
                        if (b == a)
                                return perr(c, col, -EINVAL, "empty entry in chown= list");
                        if (memchr(s + a, '*', b - a))
                                return perr(c, col, -EINVAL, "wildcard in chown= path");
                        if ((r = check_plain_path(c, s + a, b - a, col, "chown= path")) < 0)
                                return r;
                        if (m->n_paths == POLICY_REMAP_PATHS_MAX)
                                return perr(c, col, -E2BIG,
                                            "too many chown= paths (at most " STRINGIFY(
                                                POLICY_REMAP_PATHS_MAX) ")");
                        char **np = reallocarray(m->paths, m->n_paths + 1, sizeof(*np));
                        if (!np)
                                return -ENOMEM;
                        m->paths = np;
                        if (!(np[m->n_paths] = strndup(s + a, b - a)))
                                return -ENOMEM;
                        m->n_paths++;
                        a = b + 1;
                }
        }
        if (!m->uid.kind)
                return perr(c, c->eol_col, -EINVAL,
                            "missing uid= for remap (a number, env:NAME or owner:/PATH)");
        return 0;
}

static const struct {
        const char *name;
        int (*fn)(struct ctx *c, struct word *w, size_t n);
} statements[] = {
    {"user", st_user},
    {"socket", st_socket},
    {"audit", st_audit},
    {"audit-sign", st_audit_sign},
    {"audit-sync", st_audit_sync},
    {"audit-failure", st_audit_failure},
    {"audit-syslog", st_audit_syslog},
    {"umask", st_umask},
    {"key", st_key},
    {"no-new-privs", st_no_new_privs},
    {"intercept", st_intercept},
    {"setup", st_setup},
    {"setup-unprivileged", st_setup_unprivileged},
    {"broker", st_broker},
    {"allow", st_allow},
    {"remap", st_remap},
};

/* One line (len bytes, no newline) copied into buf. */
static int parse_line(struct ctx *c, const char *line, size_t len, char *buf)
{
        struct word w[POLICY_WORDS_MAX];
        size_t n = 0;

        if (len > POLICY_LINE_MAX)
                return perr(c, POLICY_LINE_MAX + 1, -E2BIG,
                            "line too long (at most " STRINGIFY(POLICY_LINE_MAX) " bytes)");
        for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char)line[i];
                if (ch == '\0')
                        return perr(c, (unsigned)i + 1, -EINVAL, "NUL byte in the file");
                if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
                        return perr(c, (unsigned)i + 1, -EINVAL,
                                    ch == '\r' ? "carriage return (DOS line ends? use \\n only)"
                                               : "control character 0x%02x",
                                    ch);
        }
        const char *hash = memchr(line, '#', len);
        if (hash)
                len = (size_t)(hash - line);
        memcpy(buf, line, len);
        buf[len] = '\0';

        c->eol_col = 1;
        for (size_t i = 0; i < len;) {
                while (i < len && (buf[i] == ' ' || buf[i] == '\t'))
                        i++;
                if (i == len)
                        break;
                size_t j = i;
                while (j < len && buf[j] != ' ' && buf[j] != '\t')
                        j++;
                if (n == POLICY_WORDS_MAX)
                        return perr(
                            c, (unsigned)i + 1, -E2BIG,
                            "too many words on one line (at most " STRINGIFY(POLICY_WORDS_MAX) ")");
                w[n++] = (struct word){.s = buf + i, .len = j - i, .col = (unsigned)i + 1};
                c->eol_col = (unsigned)j + 1;
                buf[j] = '\0';
                i = j + 1;
        }
        if (n == 0)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(statements); i++)
                if (strcmp(w[0].s, statements[i].name) == 0)
                        return statements[i].fn(c, w, n);
        return perr(c, 1 + (unsigned)(w[0].s - buf), -EINVAL,
                    "unknown statement \"%s\" (expected user, socket, audit, audit-sign, "
                    "audit-sync, audit-failure, audit-syslog, umask, key, no-new-privs, intercept, "
                    "setup, setup-unprivileged, broker, allow or remap)",
                    w[0].s);
}

int policy_parse(struct policy *p, const char *name, const char *text, size_t len,
                 const struct userdb *db, char *err, size_t errlen)
{
        struct ctx c = {.p = p, .name = name, .db = db, .err = err, .errlen = errlen};
        _cleanup_free_ char *buf = malloc(POLICY_LINE_MAX + 1);
        int r = 0;

        *p = (struct policy){0};
        if (err && errlen)
                err[0] = '\0';
        if (!buf || !(p->file = strdup(name)))
                return -ENOMEM;
        for (size_t pos = 0; pos < len;) {
                const char *nl = memchr(text + pos, '\n', len - pos);
                size_t n = nl ? (size_t)(nl - text) - pos : len - pos;
                c.line++;
                r = parse_line(&c, text + pos, n, buf);
                if (r < 0)
                        goto fail;
                pos += n + 1;
        }
        if (!(p->text = malloc(len + 1)))
                goto oom;
        memcpy(p->text, text, len);
        p->text[len] = '\0';
        p->text_len = len;
        for (size_t i = 0; i < p->n_steps; i++)
                if (p->steps[i].owner_from_user && !p->user) {
                        c.line = p->steps[i].line;
                        r = perr(&c, 1, -EINVAL,
                                 "setup %s without owner= needs a user statement (the launch "
                                 "user it defaults to)",
                                 sd_op_name(p->steps[i].op));
                        goto fail;
                }
        return 0;
oom:
        r = -ENOMEM;
fail:
        if (r == -ENOMEM)
                errmsg(err, errlen, r, "%s: out of memory", name);
        policy_free(p);
        return r;
}

void policy_remap_free(struct policy_remap *m)
{
        free(m->user);
        free(m->uid.arg);
        free(m->gid.arg);
        for (size_t i = 0; i < m->n_paths; i++)
                free(m->paths[i]);
        free(m->paths);
        free(m->note);
        free(m->home);
        free(m->uid_holder);
        free(m->gid_holder);
        free(m->group_name);
        free(m->ignored);
        *m = (struct policy_remap){0};
}

void policy_free(struct policy *p)
{
        if (!p)
                return;
        free(p->file);
        free(p->user);
        free(p->socket);
        free(p->audit);
        free(p->audit_sign);
        free(p->key_file);
        for (size_t i = 0; i < p->n_steps; i++)
                free(p->steps[i].path);
        free(p->steps);
        for (size_t i = 0; i < p->n_rules; i++)
                rule_free(&p->rules[i]);
        free(p->rules);
        policy_remap_free(&p->remap);
        free(p->text);
        *p = (struct policy){0};
}
