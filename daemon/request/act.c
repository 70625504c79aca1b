/* The acts: one function per operation, run by request_run() once the
 * policy allowed the call (request.h).  Each takes the call, the rule and
 * the result and nothing of the broker's, and hands the work to the
 * engine (common/engine/ops.h) or, for bind, does it here. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fsid.h"
#include "match.h"
#include "ops.h"
#include "pathnorm.h"
#include "policy.h"
#include "request.h"
#include "resolve.h"
#include "util.h"

#define MKDIR_DEFAULT_MODE     0750
#define UNIX_BIND_DEFAULT_MODE 0660

/* rule's anchor and the path below it ("" for the anchor itself). */
static const char *rule_rest(const struct policy_rule *rule, const char *path)
{
        const char *rest = path_rest(rule->anchor, path);
        return !rest || strcmp(rest, ".") == 0 ? "" : rest;
}

/* What the engine is given for path under rule: an exact rule names the
 * object itself, which is then its own anchor (so it may be a mount point:
 * a volume, a secret bind-mounted as a file), with rest ""; a wildcard
 * rule gives its anchor and rule_rest(). */
static const char *rule_anchor(const struct policy_rule *rule, const char *path)
{
        return rule->kind == PATTERN_EXACT ? path : rule->anchor;
}

static const char *rule_below(const struct policy_rule *rule, const char *path)
{
        return rule->kind == PATTERN_EXACT ? "" : rule_rest(rule, path);
}

/* mkdir: a directory below an allowed anchor, with the mode and owner the
 * rule allows (default owner: the caller; default mode: the rule's first
 * mode=, else 0750). */
int act_mkdir(const struct sd_call *call, const struct policy_rule *rule, struct sd_result *res)
{
        const struct sd_request *rq = &call->rq;
        mode_t mode = rq->has_mode ? rq->mode : rule->n_modes ? rule->modes[0] : MKDIR_DEFAULT_MODE;
        uid_t uid = rq->has_owner ? rq->owner_uid : rq->uid;
        gid_t gid = rq->has_owner ? rq->owner_gid : rq->gid;

        res->mode = (int32_t)mode;
        res->uid = uid;
        res->gid = gid;
        return op_mkdir(rule_anchor(rule, rq->path), rule_below(rule, rq->path), mode, uid, gid,
                        rq->parents, res->msg, sizeof(res->msg));
}

/* chown: the owner of a path (or, with recursive, a tree) below an
 * allowed anchor; never through a symlink.  res->count: the entries
 * changed. */
int act_chown(const struct sd_call *call, const struct policy_rule *rule, uint64_t max_entries,
              struct sd_result *res)
{
        const struct sd_request *rq = &call->rq;
        struct op_stats st = {.max_visited = max_entries};
        const struct op_expect ex = {.dev = call->expect_dev, .ino = call->expect_ino};
        int e;

        if (call->has_expect && rq->recursive) {
                snprintf(res->msg, sizeof(res->msg),
                         "%.300s: an expected object is one entry, "
                         "not a tree",
                         rq->path);
                e = -EINVAL;
        } else if (call->has_expect)
                e = op_chown_expect(rule_anchor(rule, rq->path), rule_below(rule, rq->path),
                                    rq->owner_uid, rq->owner_gid, rule->xdev, rule->hardlinks, &ex,
                                    &st, res->msg, sizeof(res->msg));
        else
                e = op_chown(rule_anchor(rule, rq->path), rule_below(rule, rq->path), rq->owner_uid,
                             rq->owner_gid, rq->recursive, rule->xdev, rule->hardlinks, &st,
                             res->msg, sizeof(res->msg));
        res->count = (int64_t)st.changed;
        return e;
}

/* chmod: the mode of a directory or regular file below an allowed anchor,
 * one of the modes the rule lists (no set-uid/set-gid/sticky unless it
 * names them). */
int act_chmod(const struct sd_call *call, const struct policy_rule *rule, struct sd_result *res)
{
        const struct sd_request *rq = &call->rq;
        const struct op_expect ex = {.dev = call->expect_dev, .ino = call->expect_ino};

        return op_chmod_expect(rule_anchor(rule, rq->path), rule_below(rule, rq->path), rq->mode,
                               call->has_expect ? &ex : NULL, res->msg, sizeof(res->msg));
}

/* open: a regular file below an allowed anchor, read and/or write, maybe
 * created (owned by the caller, with the mode asked for); res->fd is the
 * open file. */
int act_open(const struct sd_call *call, const struct policy_rule *rule, struct sd_result *res)
{
        const struct sd_request *rq = &call->rq;
        int fd = -1;

        int e = op_open(rule_anchor(rule, rq->path), rule_below(rule, rq->path), call->open_flags,
                        rq->mode, rq->uid, rq->gid, &fd, res->msg, sizeof(res->msg));
        if (e == 0)
                res->fd = fd;
        return e;
}

/* bind: a TCP/UDP port (typically below 1024) or a unix socket path below
 * an allowed anchor.  A new socket (sock_fd -1) is bound, made to listen
 * (stream sockets) and goes back as res->fd, to be handed on the systemd
 * way (LISTEN_FDS); the caller's own socket (sock_fd) is only bound. */

/* The socket to bind: the caller's own (sock_fd, *fd stays -1), or a new
 * one of family (in *fd).  The fd to bind, or -errno. */
static int bind_target(int sock_fd, int family, int type, int *fd, char *err, size_t errlen)
{
        if (sock_fd >= 0)
                return sock_fd;
        *fd = socket(family, type | SOCK_CLOEXEC, 0);
        if (*fd < 0) {
                snprintf(err, errlen, "socket: %s", strerror(errno));
                return -errno;
        }
        return *fd;
}

static int ip_socket(const struct policy_rule *rule, int family, int type, const char *addr,
                     unsigned port, int sock_fd, int *out, char *err, size_t errlen)
{
        struct sockaddr_storage ss = {0};
        socklen_t sl;
        int one = 1;
        bool any = !*addr || strcmp(addr, "*") == 0;

        _cleanup_close_ int fd = -1;
        int s = bind_target(sock_fd, family, type, &fd, err, errlen);
        if (s < 0)
                return s;
        if (family == AF_INET6) {
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
                /* [::] covers IPv4 too only when the rule allows either family. */
                int v6only = rule->bind.family == AF_INET6 || !any;
                s6->sin6_family = AF_INET6;
                s6->sin6_port = htons((uint16_t)port);
                if (!any && inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
                        return -EINVAL;
                if (fd >= 0)
                        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
                sl = sizeof(*s6);
        } else {
                struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
                s4->sin_family = AF_INET;
                s4->sin_port = htons((uint16_t)port);
                if (!any && inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
                        return -EINVAL;
                sl = sizeof(*s4);
        }
        if (fd >= 0 && type == SOCK_STREAM)
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(s, (struct sockaddr *)&ss, sl) < 0 ||
            (fd >= 0 && type == SOCK_STREAM && listen(fd, SOMAXCONN) < 0)) {
                snprintf(err, errlen, "binding %s port %u: %s", any ? "*" : addr, port,
                         strerror(errno));
                return -errno;
        }
        *out = TAKE_FD(fd);
        return 0;
}

/* Binds path (below rule's anchor) through an fd of its parent directory,
 * reached without symlinks, so the caller cannot redirect it.  The socket
 * is born the caller's, with its mode: bind() runs with the caller's
 * fsuid/fsgid (fsid.c) and umask, and nothing is changed by name after it
 * (issue 11: a chown of the name after bind chowned whatever the caller
 * had exchanged in by then).  Other ways were weighed: fchown() of the
 * socket's fd changes the sockfs inode, not the file in the directory
 * (tried: the file stays root's), and binding in a private directory then
 * renameat2(RENAME_NOREPLACE) needs a private directory on the caller's
 * file system that the caller cannot swap, which is more names to trust.
 * The broker's effective capabilities stay through the bind (fsid.h), so
 * the policy, not the directory's mode, decides where a socket may be;
 * the new inode is all it creates (an existing name, symlink or not, gives
 * EADDRINUSE), so nothing else can be reached.  In a set-gid directory the
 * socket takes the directory's group, as anything the caller creates
 * there would.
 *
 * The path is /proc/self/fd/DIR/NAME: the magic link is the directory the
 * fd holds (renaming or replacing its name changes nothing), and NAME is
 * one component, created, never followed. */
static int unix_socket(const struct sd_call *call, const struct policy_rule *rule, const char *path,
                       mode_t mode, int *out, char *err, size_t errlen)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        char parent[PATH_MAX];
        const char *rest = rule_rest(rule, path);
        const char *slash = strrchr(rest, '/');
        const char *name = slash ? slash + 1 : rest;
        int r;

        if (!*rest) {
                snprintf(err, errlen, "%.300s: is the rule's anchor directory", path);
                return -EISDIR;
        }
        snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - rest) : 0, rest);
        _cleanup_close_ int anchor = -1;
        _cleanup_close_ int dir = -1;
        r = resolve_anchor(rule->anchor, &anchor, err, errlen);
        if (r == 0)
                r = resolve_beneath(anchor, parent, O_PATH | O_DIRECTORY, 0,
                                    rule->xdev ? RESOLVE_F_XDEV : 0, &dir, err, errlen);
        if (r < 0)
                return r;
        int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dir, name);
        if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) {
                snprintf(err, errlen, "%.300s: name too long for a unix socket", path);
                return -ENAMETOOLONG;
        }
        _cleanup_close_ int fd = -1;
        int s = bind_target(call->sock_fd, AF_UNIX, SOCK_STREAM, &fd, err, errlen);
        if (s < 0)
                return s;
        struct fsid_saved saved;
        mode_t old = umask(~mode & 0777);
        r = fsid_enter(call->rq.uid, call->rq.gid, &saved);
        if (r < 0) {
                umask(old);
                snprintf(err, errlen, "binding %.300s as uid %u gid %u: %s", path,
                         (unsigned)call->rq.uid, (unsigned)call->rq.gid, strerror(-r));
                return r;
        }
        r = bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
        fsid_leave(&saved);
        umask(old);
        if (r == 0 && fd >= 0 && listen(fd, SOMAXCONN) < 0)
                r = -errno;
        if (r < 0) {
                snprintf(err, errlen, "binding %.300s: %s", path, strerror(-r));
                return r;
        }
        *out = TAKE_FD(fd);
        return 0;
}

int act_bind(const struct sd_call *call, const struct policy_rule *rule, struct sd_result *res)
{
        const struct sd_request *rq = &call->rq;
        int fd = -1, e;

        if (rq->family == AF_UNIX) {
                mode_t mode = rule->n_modes ? rule->modes[0] : UNIX_BIND_DEFAULT_MODE;
                res->mode = (int32_t)mode;
                e = unix_socket(call, rule, rq->path, mode, &fd, res->msg, sizeof(res->msg));
        } else {
                e = ip_socket(rule, rq->family, rq->socktype, rq->addr ? rq->addr : "", rq->port,
                              call->sock_fd, &fd, res->msg, sizeof(res->msg));
        }
        if (e == 0)
                res->fd = fd;
        return e;
}
