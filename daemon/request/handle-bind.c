/* bind: a TCP/UDP port (typically below 1024) or a unix socket path below
 * an allowed anchor; the bound socket (listening, for stream sockets) goes
 * back with SCM_RIGHTS, to be handed on the systemd way (LISTEN_FDS). */
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

#include "broker.h"
#include "fsid.h"
#include "match.h"
#include "policy.h"
#include "resolve.h"
#include "util.h"

#define UNIX_BIND_DEFAULT_MODE 0660

static int ip_socket(const struct policy_rule *rule, int family, int type, const char *addr,
                     unsigned port, int *out, char *err, size_t errlen)
{
        struct sockaddr_storage ss = {0};
        socklen_t sl;
        int one = 1;
        bool any = !*addr || strcmp(addr, "*") == 0;

        _cleanup_close_ int fd = socket(family, type | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                snprintf(err, errlen, "socket: %s", strerror(errno));
                return -errno;
        }
        if (family == AF_INET6) {
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
                /* [::] covers IPv4 too only when the rule allows either family. */
                int v6only = rule->bind.family == AF_INET6 || !any;
                s6->sin6_family = AF_INET6;
                s6->sin6_port = htons((uint16_t)port);
                if (!any && inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
                        return -EINVAL;
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
        if (type == SOCK_STREAM)
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&ss, sl) < 0 ||
            (type == SOCK_STREAM && listen(fd, SOMAXCONN) < 0)) {
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
static int unix_socket(const struct conn *c, const struct policy_rule *rule, const char *path,
                       mode_t mode, int *out, char *err, size_t errlen)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        char parent[PATH_MAX];
        const char *rest = handler_rest(rule, path);
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
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                snprintf(err, errlen, "socket: %s", strerror(errno));
                return -errno;
        }
        struct fsid_saved saved;
        mode_t old = umask(~mode & 0777);
        r = fsid_enter(c->peer.uid, c->peer.gid, &saved);
        if (r < 0) {
                umask(old);
                snprintf(err, errlen, "binding %.300s as uid %u gid %u: %s", path,
                         (unsigned)c->peer.uid, (unsigned)c->peer.gid, strerror(-r));
                return r;
        }
        r = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
        fsid_leave(&saved);
        umask(old);
        if (r == 0 && listen(fd, SOMAXCONN) < 0)
                r = -errno;
        if (r < 0) {
                snprintf(err, errlen, "binding %.300s: %s", path, strerror(-r));
                return r;
        }
        *out = TAKE_FD(fd);
        return 0;
}

void handle_bind(struct conn *c, const struct proto_msg *m, struct reply *r)
{
        struct sd_request rq = {.op = SD_OP_BIND};
        const struct policy_rule *rule = NULL;
        char addr[INET6_ADDRSTRLEN + 2], err[512] = "";
        int fd = -1, e;

        if (m->bind_proto == PROTO_BIND_UNIX) {
                struct proto_msg pm = *m;
                pm.path = m->address;
                pm.path_len = m->address_len;
                if (handler_path(&pm, r) < 0)
                        return;
                snprintf(r->addr, sizeof(r->addr), "unix:%.150s", r->path);
                rq.family = AF_UNIX;
                rq.socktype = SOCK_STREAM;
                rq.path = r->path;
                if (handler_match(c, &rq, r, &rule) < 0)
                        return;
                mode_t mode = rule->n_modes ? rule->modes[0] : UNIX_BIND_DEFAULT_MODE;
                r->mode = (int32_t)mode;
                e = unix_socket(c, rule, r->path, mode, &fd, err, sizeof(err));
        } else {
                if (proto_strcpy(addr, sizeof(addr), m->address, m->address_len) < 0) {
                        reply_error(r, EINVAL, PROTO_ERR_BAD_REQUEST, "bad address");
                        return;
                }
                rq.socktype = m->bind_proto == PROTO_BIND_UDP ? SOCK_DGRAM : SOCK_STREAM;
                rq.addr = addr;
                rq.port = m->port;
                snprintf(r->addr, sizeof(r->addr), "%s:%s%s%s:%u",
                         rq.socktype == SOCK_DGRAM ? "udp" : "tcp", strchr(addr, ':') ? "[" : "",
                         addr, strchr(addr, ':') ? "]" : "", (unsigned)m->port);
                /* "*" may be served by an IPv6 socket (both families) or an
                 * IPv4 one: try the rules for IPv6 first. */
                bool any = strcmp(addr, "*") == 0;
                rq.family = strchr(addr, ':') || any ? AF_INET6 : AF_INET;
                if (handler_match(c, &rq, r, &rule) < 0 && any) {
                        reply_init(r);
                        snprintf(r->addr, sizeof(r->addr), "%s:*:%u",
                                 rq.socktype == SOCK_DGRAM ? "udp" : "tcp", (unsigned)m->port);
                        rq.family = AF_INET;
                        handler_match(c, &rq, r, &rule);
                }
                if (r->type == PROTO_ERROR)
                        return;
                e = ip_socket(rule, rq.family, rq.socktype, addr, rq.port, &fd, err, sizeof(err));
        }
        if (e < 0) {
                handler_failed(r, -e, err);
                return;
        }
        r->fd = fd;
}
