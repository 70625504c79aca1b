/* policy_match(): first check that the request is well formed, then try
 * every allow rule in file order; the first that matches in full wins.
 * While trying, remember the rule that came closest so a refusal can say
 * which line nearly allowed it and why it did not. */
#include "match.h"

#include "errmsg.h"
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "pathnorm.h"

/* The request's address in binary; 0 or -EINVAL. */
static int request_addr(const struct sd_request *r, unsigned char out[16], char *why, size_t whylen)
{
        char buf[INET6_ADDRSTRLEN + 2];
        const char *a = r->addr;
        size_t n;

        memset(out, 0, 16);
        if (!a || !*a || strcmp(a, "*") == 0)
                return 0;
        n = strnlen(a, sizeof(buf));
        if (n >= sizeof(buf))
                return errmsg(why, whylen, -EINVAL, "bad address");
        if (r->family == AF_INET6 && a[0] == '[' && n > 2 && a[n - 1] == ']') {
                memcpy(buf, a + 1, n - 2);
                buf[n - 2] = '\0';
        } else {
                memcpy(buf, a, n + 1);
        }
        if (inet_pton(r->family, buf, out) != 1)
                return errmsg(why, whylen, -EINVAL, "bad %s address \"%s\"",
                              r->family == AF_INET ? "IPv4" : "IPv6", buf);
        return 0;
}

/* Refuses arguments the operation does not take, and malformed ones. */
static int check_request(const struct sd_request *r, char *why, size_t whylen)
{
        char msg[128];
        bool unix_bind = r->op == SD_OP_BIND && r->family == AF_UNIX;
        bool takes_owner = r->op == SD_OP_MKDIR || r->op == SD_OP_CHOWN || unix_bind ||
                           (r->op == SD_OP_OPEN && r->create);
        bool takes_mode = r->op == SD_OP_MKDIR || r->op == SD_OP_CHMOD || unix_bind ||
                          (r->op == SD_OP_OPEN && r->create);
        const char *op = sd_op_name(r->op);

        if (r->op < SD_OP_MKDIR || r->op > SD_OP_BIND)
                return errmsg(why, whylen, -EINVAL, "unknown operation %d", (int)r->op);
        if (r->op != SD_OP_BIND || unix_bind) {
                if (path_check(r->path, msg, sizeof(msg)) < 0)
                        return errmsg(why, whylen, -EINVAL, "bad path: %s", msg);
        }
        if (r->op == SD_OP_BIND) {
                if (r->family != AF_INET && r->family != AF_INET6 && r->family != AF_UNIX)
                        return errmsg(why, whylen, -EINVAL, "bind: unknown address family %d",
                                      r->family);
                if (r->socktype != SOCK_STREAM && r->socktype != SOCK_DGRAM &&
                    !(unix_bind && r->socktype == SOCK_SEQPACKET))
                        return errmsg(why, whylen, -EINVAL, "bind: unsupported socket type %d",
                                      r->socktype);
                if (!unix_bind && (r->port == 0 || r->port > 65535))
                        return errmsg(why, whylen, -EINVAL, "bind: port %u out of range 1-65535",
                                      r->port);
        }
        if (r->has_owner && !takes_owner)
                return errmsg(why, whylen, -EINVAL, "%s%s takes no owner", op,
                              r->op == SD_OP_OPEN ? " without create" : "");
        if (r->has_mode && !takes_mode)
                return errmsg(why, whylen, -EINVAL, "%s%s takes no mode", op,
                              r->op == SD_OP_OPEN ? " without create" : "");
        if (r->has_mode && r->mode > 07777)
                return errmsg(why, whylen, -EINVAL, "mode %o out of range (0 to 07777)",
                              (unsigned)r->mode);
        if (r->op == SD_OP_CHMOD && !r->has_mode)
                return errmsg(why, whylen, -EINVAL, "chmod needs a mode");
        if (r->recursive && r->op != SD_OP_CHOWN)
                return errmsg(why, whylen, -EINVAL, "%s takes no recursive", op);
        if (r->parents && r->op != SD_OP_MKDIR)
                return errmsg(why, whylen, -EINVAL, "%s takes no parents", op);
        if ((r->read || r->write || r->create) && r->op != SD_OP_OPEN)
                return errmsg(why, whylen, -EINVAL, "%s takes no read, write or create", op);
        if (r->op == SD_OP_OPEN && !r->read && !r->write)
                return errmsg(why, whylen, -EINVAL, "open needs read, write or both");
        return 0;
}

/* pat and rest are relative paths: a "*" component of pat matches one
 * component of rest, a final "**" one or more, any other one itself. */
static bool glob_matches(const char *pat, const char *rest)
{
        for (;;) {
                size_t pn = strcspn(pat, "/"), n = strcspn(rest, "/");
                if (n == 0)
                        return false;
                if (pn == 2 && memcmp(pat, "**", 2) == 0 && !pat[2])
                        return true;
                if (!(pn == 1 && pat[0] == '*') && (pn != n || memcmp(pat, rest, n) != 0))
                        return false;
                if (!pat[pn] || !rest[n])
                        return !pat[pn] && !rest[n];
                pat += pn + 1;
                rest += n + 1;
        }
}

static bool path_matches(const struct policy_rule *rule, const char *pattern, const char *path)
{
        const char *rest;
        switch (rule->kind) {
        case PATTERN_GLOB:
                rest = path_rest(rule->anchor, path);
                /* the pattern below the anchor: past "/anchor/" (or "/") */
                pattern += strcmp(rule->anchor, "/") == 0 ? 1 : strlen(rule->anchor) + 1;
                return rest && strcmp(rest, ".") != 0 && glob_matches(pattern, rest);
        case PATTERN_EXACT:
                return strcmp(pattern, path) == 0;
        case PATTERN_CHILDREN:
                rest = path_rest(rule->anchor, path);
                return rest && strcmp(rest, ".") != 0 && !strchr(rest, '/');
        case PATTERN_DESCENDANTS:
                rest = path_rest(rule->anchor, path);
                return rest && strcmp(rest, ".") != 0;
        }
        return false;
}

static bool target_matches(const struct policy_rule *rule, const struct sd_request *r,
                           const unsigned char addr[16])
{
        const struct policy_bind *b = &rule->bind;

        if (rule->op != SD_OP_BIND)
                return path_matches(rule, rule->pattern, r->path);
        if ((b->family == AF_UNIX) != (r->family == AF_UNIX))
                return false;
        if (r->family == AF_UNIX)
                return (b->socktype == 0 || b->socktype == r->socktype) &&
                       path_matches(rule, rule->pattern + 5, r->path);
        if (b->socktype != r->socktype || (b->family && b->family != r->family))
                return false;
        if (!b->any_addr && memcmp(b->addr, addr, r->family == AF_INET ? 4 : 16) != 0)
                return false;
        return r->port >= b->port_lo && r->port <= b->port_hi;
}

static bool caller_matches(const struct policy_caller *c, const struct sd_request *r)
{
        switch (c->kind) {
        case CALLER_ANY:
                return true;
        case CALLER_UID:
                return c->uid == r->uid;
        case CALLER_GROUP:
                if (c->gid == r->gid)
                        return true;
                for (size_t i = 0; i < r->n_groups; i++)
                        if (r->groups && r->groups[i] == c->gid)
                                return true;
                return false;
        }
        return false;
}

bool policy_names_caller(const struct policy *p, uid_t uid, gid_t gid, const gid_t *groups,
                         size_t n_groups)
{
        struct sd_request r = {.uid = uid, .gid = gid, .groups = groups, .n_groups = n_groups};

        for (size_t i = 0; i < p->n_rules; i++)
                if (caller_matches(&p->rules[i].caller, &r))
                        return true;
        return false;
}

/* The arguments; NULL when they are allowed, else why not (in buf). */
static const char *args_refused(const struct policy_rule *rule, const struct sd_request *r,
                                char *buf, size_t len)
{
        bool owner = r->op == SD_OP_MKDIR || r->op == SD_OP_CHOWN ||
                     (r->op == SD_OP_OPEN && r->create) ||
                     (r->op == SD_OP_BIND && r->family == AF_UNIX);

        if (r->op == SD_OP_OPEN) {
                if (r->read && !rule->read)
                        return "it does not allow read";
                if (r->write && !rule->write)
                        return "it does not allow write";
                if (r->create && !rule->create)
                        return "it does not allow create";
        }
        if (r->recursive && !rule->recursive)
                return "it does not allow recursive";
        if (r->parents && !rule->parents)
                return "it does not allow parents";
        if (owner) {
                uid_t u = r->has_owner ? r->owner_uid : r->uid;
                gid_t g = r->has_owner ? r->owner_gid : r->gid;
                bool ok = false;
                if (rule->n_owners == 0)
                        ok = u == r->uid && g == r->gid;
                for (size_t i = 0; i < rule->n_owners && !ok; i++)
                        ok = rule->owners[i].uid == u && rule->owners[i].gid == g;
                if (!ok) {
                        snprintf(buf, len, "owner %u:%u is not %s", (unsigned)u, (unsigned)g,
                                 rule->n_owners ? "in its owner= list"
                                                : "the caller's own uid:gid (it has no owner=)");
                        return buf;
                }
        }
        if (r->has_mode) {
                bool ok = false;
                if (rule->n_modes == 0)
                        ok = (r->mode & 07000) == 0;
                for (size_t i = 0; i < rule->n_modes && !ok; i++)
                        ok = rule->modes[i] == r->mode;
                if (!ok) {
                        snprintf(buf, len, "mode %04o is not %s", (unsigned)r->mode,
                                 rule->n_modes ? "in its mode= list"
                                               : "allowed (set-uid, set-gid and sticky bits "
                                                 "need a mode= that names them)");
                        return buf;
                }
        }
        return NULL;
}

static void describe_request(const struct sd_request *r, char *buf, size_t len)
{
        char a[INET6_ADDRSTRLEN] = "*";
        if (r->op != SD_OP_BIND)
                snprintf(buf, len, "%s %s", sd_op_name(r->op), r->path);
        else if (r->family == AF_UNIX)
                snprintf(buf, len, "bind unix:%s", r->path);
        else {
                if (r->addr && *r->addr)
                        snprintf(a, sizeof(a), "%s", r->addr);
                snprintf(buf, len, "bind %s:%s:%u", r->socktype == SOCK_DGRAM ? "udp" : "tcp", a,
                         r->port);
        }
}

int policy_match(const struct policy *p, const struct sd_request *r,
                 const struct policy_rule **rule, char *why, size_t whylen)
{
        unsigned char addr[16] = {0};
        const struct policy_rule *best = NULL;
        const char *best_why = NULL;
        char argbuf[160], bestbuf[160], what[PATH_MAX + 32], where[PATH_MAX + 32];
        int best_score = 0, r_;

        if (rule)
                *rule = NULL;
        if ((r_ = check_request(r, why, whylen)) < 0)
                return r_;
        if (r->op == SD_OP_BIND && r->family != AF_UNIX &&
            (r_ = request_addr(r, addr, why, whylen)) < 0)
                return r_;

        for (size_t i = 0; i < p->n_rules; i++) {
                const struct policy_rule *x = &p->rules[i];
                if (x->op != r->op)
                        continue;
                bool target = target_matches(x, r, addr);
                bool caller = caller_matches(&x->caller, r);
                const char *no = NULL;
                int score = target * 2 + caller;
                if (target && caller) {
                        no = args_refused(x, r, argbuf, sizeof(argbuf));
                        if (!no) {
                                if (rule)
                                        *rule = x;
                                policy_where(p, x->line, where, sizeof(where));
                                return errmsg(why, whylen, 0, "allowed by %s", where);
                        }
                        score = 4;
                } else if (!target) {
                        no = "the path or address does not match";
                } else {
                        no = "the caller does not match";
                }
                if (score > best_score) {
                        best = x;
                        best_score = score;
                        snprintf(bestbuf, sizeof(bestbuf), "%s", no);
                        best_why = bestbuf;
                }
        }

        describe_request(r, what, sizeof(what));
        if (!best)
                return errmsg(why, whylen, -EACCES, "no allow rule for %s by uid %u", what,
                              (unsigned)r->uid);
        policy_where(p, best->line, where, sizeof(where));
        return errmsg(why, whylen, -EACCES,
                      "no allow rule for %s by uid %u; closest is %s (allow %s %s %s): %s", what,
                      (unsigned)r->uid, where, best->caller.text, sd_op_name(best->op),
                      best->pattern, best_why);
}
