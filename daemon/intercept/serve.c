/* A notified call through the request pipeline (request.h), the same
 * match, audit bracket and engine as a socket request, with
 * quiet_no_rule: a call no allow rule matches leaves no record and
 * continues.  What the engine cannot do exactly as the kernel would (a
 * final symlink, open flags it does not take, an fd whose object is no
 * longer at its name) continues
 * before the pipeline sees it: the kernel then decides with the
 * application's credentials. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "icept-internal.h"
#include "ops.h"
#include "request.h"
#include "util.h"

/* The object at path now, not following a final symlink (reading only:
 * the act resolves it again, beneath its anchor, without symlinks). */
static int look(const char *path, struct stat *st)
{
        return fstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

/* Open flags the engine takes: the access mode, O_CREAT, O_EXCL, O_TRUNC,
 * O_APPEND; O_CLOEXEC and O_NONBLOCK are set on the fd handed over;
 * O_NOFOLLOW, O_NOCTTY and O_LARGEFILE change nothing for a regular file
 * opened without symlinks.  Anything else: -1 (continue). */
static int open_flags(int f, struct sd_call *call)
{
        int acc = f & O_ACCMODE;
        int known = O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_APPEND | O_CLOEXEC | O_NONBLOCK |
                    O_NOFOLLOW | O_NOCTTY | O_LARGEFILE;
        if (acc == O_ACCMODE || (f & ~known))
                return -1;
        call->rq.read = acc == O_RDONLY || acc == O_RDWR;
        call->rq.write = acc == O_WRONLY || acc == O_RDWR;
        call->rq.create = (f & O_CREAT) != 0;
        call->open_flags = acc | (f & (O_CREAT | O_EXCL | O_TRUNC | O_APPEND));
        call_open_flags_text(call);
        return 0;
}

/* The caller's socket fd, taken with pidfd_getfd(2): that needs the
 * caller's real uid/gid (PTRACE_MODE_ATTACH_REALCREDS), which the broker
 * takes for the call and gives back (effective ids stay 0, so
 * CAP_NET_BIND_SERVICE still binds it).  -errno: continue. */
static int take_socket(const struct icept *ic, const struct icall *c)
{
        int pidfd = (int)syscall(SYS_pidfd_open, c->tgid, 0);
        if (pidfd < 0)
                return -errno;
        /* The pid was the caller's when the notification was checked; the
         * pidfd is the caller's if the notification is still valid now. */
        if (!icept_still_valid(ic, c)) {
                close(pidfd);
                return -ESRCH;
        }
        int fd = -1, e = 0;
        if (setresgid(c->gid, (gid_t)-1, (gid_t)-1) < 0 ||
            setresuid(c->uid, (uid_t)-1, (uid_t)-1) < 0)
                e = -errno;
        else if ((fd = (int)syscall(SYS_pidfd_getfd, pidfd, c->fd, 0)) < 0)
                e = -errno;
        if (setresuid(0, (uid_t)-1, (uid_t)-1) < 0 || setresgid(0, (gid_t)-1, (gid_t)-1) < 0)
                abort(); /* a broker left with the caller's real ids is a broken invariant */
        close(pidfd);
        return e < 0 ? e : fd;
}

/* bind: an IP port the kernel would refuse the caller (below
 * ip_unprivileged_port_start), on the caller's own socket.  0 to serve
 * (call->sock_fd set), -1 to continue. */
static int bind_args(const struct icept *ic, const struct icall *c, struct sd_call *call)
{
        int family = c->addr.ss_family, port;
        const void *ip;
        if (family == AF_INET && c->addrlen >= sizeof(struct sockaddr_in)) {
                const struct sockaddr_in *a = (const void *)&c->addr;
                port = ntohs(a->sin_port), ip = &a->sin_addr;
        } else if (family == AF_INET6 && c->addrlen >= sizeof(struct sockaddr_in6)) {
                const struct sockaddr_in6 *a = (const void *)&c->addr;
                port = ntohs(a->sin6_port), ip = &a->sin6_addr;
        } else {
                return -1; /* unix sockets: the kernel binds them (see stepdownd(8)) */
        }
        if (port == 0 || port >= ic->unpriv_port_start)
                return -1;
        int fd = take_socket(ic, c);
        if (fd < 0)
                return -1;
        int type = 0, domain = 0;
        socklen_t l1 = sizeof(type), l2 = sizeof(domain);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l1) < 0 ||
            getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l2) < 0 || domain != family ||
            (type != SOCK_STREAM && type != SOCK_DGRAM)) {
                close(fd);
                return -1;
        }
        inet_ntop(family, ip, call->addr, sizeof(call->addr));
        call->rq.family = family;
        call->rq.socktype = type;
        call->rq.addr = call->addr;
        call->rq.port = (unsigned)port;
        snprintf(call->addr_text, sizeof(call->addr_text),
                 family == AF_INET6 ? "%s:[%s]:%d" : "%s:%s:%d",
                 type == SOCK_STREAM ? "tcp" : "udp", call->addr, port);
        call->sock_fd = fd;
        return 0;
}

/* The call as the pipeline takes it: 0, or -1 to continue. */
static int build(const struct icept *ic, const struct icall *c, struct sd_call *call)
{
        struct sd_request *rq = &call->rq;
        struct stat st;

        call->via = "syscall";
        call->syscall = c->syscall;
        call->pid = c->tgid;
        call->tid = c->tid;
        call->quiet_no_rule = true;
        rq->op = c->op;
        rq->uid = c->uid;
        rq->gid = c->gid;
        rq->groups = c->groups;
        rq->n_groups = c->n_groups;
        if (c->op != SD_OP_BIND)
                snprintf(call->path, sizeof(call->path), "%s", c->path);

        switch (c->op) {
        case SD_OP_MKDIR: /* the kernel's mode: 0777|S_ISVTX bits, less the umask */
                rq->has_mode = true;
                rq->mode = c->mode & 01777 & ~c->umask;
                return 0;
        case SD_OP_CHOWN:
        case SD_OP_CHMOD:
                if (c->has_expect) { /* fchown, fchmod: the fd's object */
                        st = c->fd_st;
                        call->has_expect = true;
                        call->expect_dev = st.st_dev;
                        call->expect_ino = st.st_ino;
                } else if (look(c->path, &st) < 0) {
                        return -1; /* ENOENT and friends: the kernel says it */
                }
                /* What the engine refuses for safety, the kernel decides
                 * with the caller's own rights: a symbolic link (followed by
                 * chown/chmod, the link itself by lchown), and for chmod a
                 * regular file with other names. */
                if (S_ISLNK(st.st_mode))
                        return -1;
                if (c->op == SD_OP_CHMOD && S_ISREG(st.st_mode) && st.st_nlink > 1)
                        return -1;
                if (c->op == SD_OP_CHMOD) {
                        rq->has_mode = true;
                        rq->mode = c->mode & 07777;
                        return 0;
                }
                /* -1 keeps that half: the policy judges the pair it ends up as. */
                rq->has_owner = true;
                rq->owner_uid = c->owner_uid == (uid_t)-1 ? st.st_uid : c->owner_uid;
                rq->owner_gid = c->owner_gid == (gid_t)-1 ? st.st_gid : c->owner_gid;
                return 0;
        case SD_OP_OPEN:
                if (open_flags(c->oflags, call) < 0)
                        return -1;
                if (look(c->path, &st) == 0 && S_ISLNK(st.st_mode))
                        return -1; /* followed (ELOOP under O_NOFOLLOW): the kernel's */
                if (rq->create) {
                        rq->has_mode = true;
                        rq->mode = c->mode & 07777 & ~c->umask;
                }
                return 0;
        case SD_OP_BIND:
                return bind_args(ic, c, call);
        }
        return -1;
}

void icept_serve(struct icept *ic, const struct icall *c)
{
        struct sd_call call;
        struct sd_result res;

        call_init(&call);
        result_init(&res);
        if (build(ic, c, &call) < 0) {
                icept_continue(ic, c);
                return;
        }
        request_run(ic->rctx, &call, &res);
        switch (res.kind) {
        case SD_RES_OK:
                if (res.fd >= 0) {
                        if (c->oflags & O_NONBLOCK)
                                (void)fcntl(res.fd, F_SETFL, fcntl(res.fd, F_GETFL) | O_NONBLOCK);
                        (void)icept_answer_fd(ic, c, res.fd, (c->oflags & O_CLOEXEC) != 0);
                } else {
                        icept_answer(ic, c, 0);
                }
                break;
        case SD_RES_FAILED: /* allowed and recorded: the engine's errno */
                if (call.has_expect && res.err == -OP_NOT_EXPECTED) {
                        /* the name no longer holds the fd's object: the
                         * kernel acts on the fd itself */
                        icept_continue(ic, c);
                        break;
                }
                icept_answer(ic, c, res.err ? res.err : EIO);
                break;
        case SD_RES_NO_RULE: /* no allow rule: as if stepdown were not there */
        case SD_RES_REFUSED:
        case SD_RES_BAD:
                icept_continue(ic, c);
                break;
        }
        safe_close(call.sock_fd);
        result_done(&res);
}
