/* The broker's end of transparent mode: it takes the listener the
 * application hands over (filter.c), and for each notified call reads the
 * arguments once, resolves the path, checks that the notification is still
 * valid, and answers: served through the request pipeline when an allow
 * rule matches, or continued (the kernel decides with the application's
 * own credentials) otherwise.
 *
 * Reading another process's memory: /proc/TID/mem, opened with the
 * caller's fsuid/fsgid (reader_enter) so that no CAP_SYS_PTRACE is needed (the
 * application is dumpable after its exec; Yama ptrace_scope 1 is met by
 * PR_SET_PTRACER or by being its ancestor).  What cannot be read, or
 * cannot be served exactly as the kernel would do it, continues: the
 * kernel then decides as it would without stepdown. */
#include "fdpass.h"
#include "intercept.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "audit.h"
#include "icept-internal.h"
#include "log.h"
#include "pathnorm.h"
#include "policy.h"
#include "util.h"

#ifndef SECCOMP_USER_NOTIF_FLAG_CONTINUE
#define SECCOMP_USER_NOTIF_FLAG_CONTINUE (1UL << 0)
#endif

unsigned icept_test_delay_ms;

/* ---- reading the caller ---- */

/* Uid/Gid (all four equal, else the caller is mid-change: -EAGAIN),
 * Groups, Umask and Tgid of /proc/TID/status. */
static int read_status(struct icall *ic)
{
        char path[64], buf[16384];
        snprintf(path, sizeof(path), "/proc/%d/status", (int)ic->tid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        int e = errno;
        close(fd);
        if (n <= 0)
                return n < 0 ? -e : -EIO;
        buf[n] = '\0';

        unsigned long u[4], g[4];
        unsigned um = 0;
        bool have_u = false, have_g = false, have_um = false, have_groups = false;
        ic->n_groups = 0;
        for (char *line = buf, *nl; line && *line; line = nl ? nl + 1 : NULL) {
                nl = strchr(line, '\n');
                if (nl)
                        *nl = '\0';
                if (sscanf(line, "Uid: %lu %lu %lu %lu", &u[0], &u[1], &u[2], &u[3]) == 4)
                        have_u = true;
                else if (sscanf(line, "Gid: %lu %lu %lu %lu", &g[0], &g[1], &g[2], &g[3]) == 4)
                        have_g = true;
                else if (sscanf(line, "Umask: %o", &um) == 1)
                        have_um = true;
                else if (strncmp(line, "Tgid:", 5) == 0)
                        ic->tgid = (pid_t)strtol(line + 5, NULL, 10);
                else if (strncmp(line, "Groups:", 7) == 0) {
                        char *p = line + 7, *end;
                        if (!nl) /* cut by the buffer: a gid may be cut too */
                                return -E2BIG;
                        have_groups = true;
                        for (;;) {
                                unsigned long v = strtoul(p, &end, 10);
                                if (end == p)
                                        break;
                                if (ic->n_groups == ICEPT_GROUPS_MAX)
                                        return -E2BIG;
                                ic->groups[ic->n_groups++] = (gid_t)v;
                                p = end;
                        }
                }
        }
        if (!have_u || !have_g || !have_um || !have_groups)
                return -EIO;
        if (u[0] != u[1] || u[0] != u[2] || u[0] != u[3] || g[0] != g[1] || g[0] != g[2] ||
            g[0] != g[3])
                return -EAGAIN;
        ic->uid = (uid_t)u[0];
        ic->gid = (gid_t)g[0];
        ic->umask = (mode_t)um;
        return 0;
}

/* A NUL-terminated string at addr in the caller's memory, into buf: page
 * by page, so that a string ending just before an unmapped page reads. */
static int read_string(int mem, uint64_t addr, char *buf, size_t len)
{
        size_t got = 0;
        if (!addr)
                return -EFAULT;
        while (got < len) {
                size_t chunk = 4096 - ((addr + got) & 4095);
                if (chunk > len - got)
                        chunk = len - got;
                ssize_t n = pread(mem, buf + got, chunk, (off_t)(addr + got));
                if (n <= 0)
                        return n < 0 && errno != EIO ? -errno : -EFAULT;
                if (memchr(buf + got, '\0', (size_t)n))
                        return 0;
                got += (size_t)n;
        }
        return -ENAMETOOLONG;
}

static int read_mem(int mem, uint64_t addr, void *buf, size_t len)
{
        ssize_t n = pread(mem, buf, len, (off_t)addr);
        return n == (ssize_t)len ? 0 : n < 0 && errno != EIO ? -errno : -EFAULT;
}

/* /proc/TID/cwd, or /proc/TID/fd/N for an *at directory fd. */
static int read_base(const struct icall *ic, int dirfd, char *buf, size_t len)
{
        char link[64];
        if (dirfd == AT_FDCWD)
                snprintf(link, sizeof(link), "/proc/%d/cwd", (int)ic->tid);
        else
                snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)ic->tid, dirfd);
        ssize_t n = readlink(link, buf, len - 1);
        if (n < 0)
                return -errno;
        if ((size_t)n >= len - 1)
                return -ENAMETOOLONG;
        buf[n] = '\0';
        /* Not a path in our root (a pipe, a deleted directory, another
         * mount namespace's root): nothing to serve. */
        if (buf[0] != '/' || strstr(buf, " (deleted)"))
                return -ENOENT;
        return 0;
}

/* base + "/" + rel into out, in normal form ("." and "//" dropped, no
 * trailing "/").  A ".." is not resolved by name (the kernel resolves it
 * through what is on disk): -EXDEV, the call continues. */
static int join_path(const char *base, const char *rel, char *out, size_t len)
{
        char tmp[PATH_MAX * 2];
        int n = rel[0] == '/' ? snprintf(tmp, sizeof(tmp), "%s", rel)
                              : snprintf(tmp, sizeof(tmp), "%s/%s", base, rel);
        if (n < 0 || (size_t)n >= sizeof(tmp))
                return -ENAMETOOLONG;
        size_t o = 0;
        for (char *s = tmp, *e; *s; s = e) {
                while (*s == '/')
                        s++;
                if (!*s)
                        break;
                e = s;
                while (*e && *e != '/')
                        e++;
                size_t cl = (size_t)(e - s);
                if (cl == 1 && s[0] == '.')
                        continue;
                if (cl == 2 && s[0] == '.' && s[1] == '.')
                        return -EXDEV;
                if (o + 1 + cl + 1 > len)
                        return -ENAMETOOLONG;
                out[o++] = '/';
                memcpy(out + o, s, cl);
                o += cl;
        }
        if (o == 0)
                out[o++] = '/';
        out[o] = '\0';
        char why[128];
        return path_check(out, why, sizeof(why)) < 0 ? -EINVAL : 0;
}

/* fchown, fchmod: the fd's object and its name now (/proc/TID/fd/N).
 * An O_PATH fd continues (the kernel answers EBADF).  The name is only
 * where the engine looks: it acts on what it finds there only if that is
 * the object stat()ed here (has_expect), so a rename in between makes the
 * call continue, never act on another file. */
static int read_fd_object(struct icall *ic, const __u64 *a)
{
        char base[PATH_MAX], p[64], buf[256];
        ic->fd = (int)a[0];
        if (ic->sc == ICEPT_FCHOWN)
                ic->owner_uid = (uid_t)a[1], ic->owner_gid = (gid_t)a[2];
        else
                ic->mode = (mode_t)a[1];
        if (ic->fd < 0)
                return -EBADF;
        int r = read_base(ic, ic->fd, base, sizeof(base));
        if (r < 0)
                return r;
        snprintf(p, sizeof(p), "/proc/%d/fdinfo/%d", (int)ic->tid, ic->fd);
        int f = open(p, O_RDONLY | O_CLOEXEC);
        if (f < 0)
                return -errno;
        ssize_t n = read(f, buf, sizeof(buf) - 1);
        close(f);
        if (n <= 0)
                return -EIO;
        buf[n] = '\0';
        const char *fl = strstr(buf, "\nflags:");
        if (!fl || (strtoul(fl + 8, NULL, 8) & O_PATH))
                return -EBADF;
        snprintf(p, sizeof(p), "/proc/%d/fd/%d", (int)ic->tid, ic->fd);
        if (stat(p, &ic->fd_st) < 0)
                return -errno;
        ic->has_expect = true;
        return join_path("/", base, ic->path, sizeof(ic->path));
}

/* The arguments of the call, as the kernel would take them.  Runs with the
 * caller's fsuid/fsgid.  0 to serve; -errno: continue. */
static int read_args(struct icall *ic, const struct seccomp_data *d)
{
        const __u64 *a = d->args;
        char rel[PATH_MAX], base[PATH_MAX];
        int dirfd = AT_FDCWD, r;
        uint64_t path_addr = 0;
        char mempath[64];

        if (ic->sc == ICEPT_FCHOWN || ic->sc == ICEPT_FCHMOD)
                return read_fd_object(ic, a);
        snprintf(mempath, sizeof(mempath), "/proc/%d/mem", (int)ic->tid);
        int mem = open(mempath, O_RDONLY | O_CLOEXEC);
        if (mem < 0)
                return -errno;

        ic->fd = -1;
        switch (ic->sc) {
        case ICEPT_MKDIR:
                path_addr = a[0];
                ic->mode = (mode_t)a[1];
                break;
        case ICEPT_MKDIRAT:
                dirfd = (int)a[0], path_addr = a[1];
                ic->mode = (mode_t)a[2];
                break;
        case ICEPT_CHOWN:
        case ICEPT_LCHOWN:
                path_addr = a[0];
                ic->owner_uid = (uid_t)a[1], ic->owner_gid = (gid_t)a[2];
                break;
        case ICEPT_FCHOWNAT:
                dirfd = (int)a[0], path_addr = a[1];
                ic->owner_uid = (uid_t)a[2], ic->owner_gid = (gid_t)a[3];
                if ((int)a[4] & ~AT_SYMLINK_NOFOLLOW) { /* AT_EMPTY_PATH: the kernel's */
                        close(mem);
                        return -EOPNOTSUPP;
                }
                break;
        case ICEPT_CHMOD:
                path_addr = a[0];
                ic->mode = (mode_t)a[1];
                break;
        case ICEPT_FCHMODAT:
        case ICEPT_FCHMODAT2:
                dirfd = (int)a[0], path_addr = a[1];
                ic->mode = (mode_t)a[2];
                if (ic->sc == ICEPT_FCHMODAT2 && ((int)a[3] & ~AT_SYMLINK_NOFOLLOW)) {
                        close(mem);
                        return -EOPNOTSUPP;
                }
                break;
        case ICEPT_OPEN:
                path_addr = a[0];
                ic->oflags = (int)a[1], ic->mode = (mode_t)a[2];
                break;
        case ICEPT_OPENAT:
                dirfd = (int)a[0], path_addr = a[1];
                ic->oflags = (int)a[2], ic->mode = (mode_t)a[3];
                break;
        case ICEPT_OPENAT2: {
                struct open_how how = {0};
                dirfd = (int)a[0], path_addr = a[1];
                if (a[3] != sizeof(how) || read_mem(mem, a[2], &how, sizeof(how)) < 0 ||
                    how.resolve || how.flags >> 32) { /* RESOLVE_*: the kernel's business */
                        close(mem);
                        return -EOPNOTSUPP;
                }
                ic->oflags = (int)how.flags, ic->mode = (mode_t)how.mode;
                break;
        }
        case ICEPT_CREAT:
                path_addr = a[0];
                ic->oflags = O_CREAT | O_WRONLY | O_TRUNC, ic->mode = (mode_t)a[1];
                break;
        case ICEPT_FCHOWN:
        case ICEPT_FCHMOD: /* read_fd_object */
                close(mem);
                return -EOPNOTSUPP;
        case ICEPT_BIND:
                ic->fd = (int)a[0];
                if (a[2] > sizeof(ic->addr) || a[2] < sizeof(sa_family_t)) {
                        close(mem);
                        return -EOPNOTSUPP;
                }
                ic->addrlen = (socklen_t)a[2];
                r = read_mem(mem, a[1], &ic->addr, ic->addrlen);
                close(mem);
                return r;
        }
        r = read_string(mem, path_addr, rel, sizeof(rel));
        close(mem);
        if (r < 0)
                return r;
        if (!rel[0])
                return -ENOENT; /* the kernel's answer to "", however it is asked */
        if (rel[0] != '/' && (r = read_base(ic, dirfd, base, sizeof(base))) < 0)
                return r;
        /* "dir/" names a directory: only mkdir takes it (join drops it). */
        size_t rl = strlen(rel);
        if (rl > 1 && rel[rl - 1] == '/' && ic->op != SD_OP_MKDIR)
                return -EOPNOTSUPP;
        return join_path(base, rel, ic->path, sizeof(ic->path));
}

/* ---- reading as the caller ---- */

/* The broker's filesystem ids become the caller's while it reads the
 * caller's /proc entries (PTRACE_MODE_*_FSCREDS compares them): one
 * setfsgid and one setfsuid each way, their return values being the ids
 * they replaced.  Each entry checks that the ids it replaces are the
 * broker's (what the first entry found), so a way out that did not take is
 * caught at the next way in, before anything else is read.  Without
 * SECBIT_NO_SETUID_FIXUP the kernel drops the filesystem capabilities from
 * the effective set when the fsuid leaves 0 and raises them from the
 * permitted set when it returns: the first way out compares the effective
 * set with the one the first entry found (the loop runs after hardening,
 * so it no longer changes) and, only if the kernel did not restore it
 * exactly, every way out puts it back (capset). */
struct reader_ids {
        uid_t fsuid;
        gid_t fsgid;
};

static struct {
        bool known;   /* the broker's ids and effective set below are set */
        bool checked; /* one way out was checked */
        bool restore; /* the kernel's fixup does not give the set back: capset */
        uid_t fsuid;
        gid_t fsgid;
        struct __user_cap_data_struct caps[2];
} broker;

static int caps_get(struct __user_cap_data_struct d[2])
{
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
        return syscall(SYS_capget, &h, d) < 0 ? -errno : 0;
}

static int caps_set(struct __user_cap_data_struct d[2])
{
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
        return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

static void reader_broken(void)
{
        log_error("restoring the broker's filesystem ids and capabilities failed");
        abort();
}

static int reader_enter(uid_t uid, gid_t gid, struct reader_ids *s)
{
        if (!broker.known) {
                int r = caps_get(broker.caps);
                if (r < 0)
                        return r;
        }
        /* A switch that did not take leaves the broker's ids: the open of
         * /proc/TID/mem then fails and the call continues. */
        s->fsgid = (gid_t)setfsgid(gid);
        s->fsuid = (uid_t)setfsuid(uid);
        if (!broker.known) {
                broker.fsuid = s->fsuid;
                broker.fsgid = s->fsgid;
                broker.known = true;
        } else if (s->fsuid != broker.fsuid || s->fsgid != broker.fsgid) {
                reader_broken();
        }
        return 0;
}

static void reader_leave(const struct reader_ids *s)
{
        setfsuid(s->fsuid);
        setfsgid(s->fsgid);
        if (broker.restore) {
                if (caps_set(broker.caps) < 0)
                        reader_broken();
                return;
        }
        if (broker.checked)
                return;
        struct __user_cap_data_struct d[2];
        if ((uid_t)setfsuid((uid_t)-1) != s->fsuid || (gid_t)setfsgid((gid_t)-1) != s->fsgid ||
            caps_get(d) < 0)
                reader_broken();
        broker.checked = true;
        if (d[0].effective != broker.caps[0].effective ||
            d[1].effective != broker.caps[1].effective) {
                broker.restore = true;
                if (caps_set(broker.caps) < 0)
                        reader_broken();
        }
}

/* ---- answers ---- */

static int respond(struct icept *ic, uint64_t id, int err, bool cont)
{
        struct seccomp_notif_resp *resp = ic->resp;
        memset(resp, 0, ic->sizes.seccomp_notif_resp);
        resp->id = id;
        resp->error = cont ? 0 : -err;
        resp->flags = cont ? SECCOMP_USER_NOTIF_FLAG_CONTINUE : 0;
        if (ioctl(ic->listener, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0)
                return -errno; /* ENOENT: the caller is gone (killed), nothing to answer */
        return 0;
}

bool icept_still_valid(const struct icept *ic, const struct icall *c)
{
        uint64_t id = c->id;
        return ioctl(ic->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

void icept_continue(struct icept *ic, const struct icall *c)
{
        (void)respond(ic, c->id, 0, true);
        if (ic->log_continued && c->op > 0 && c->op < ICEPT_OPS)
                ic->continued[c->op]++;
}

void icept_answer(struct icept *ic, const struct icall *c, int err)
{
        (void)respond(ic, c->id, err, false);
}

int icept_answer_fd(struct icept *ic, const struct icall *c, int fd, bool cloexec)
{
        struct seccomp_notif_addfd add = {
            .id = c->id,
            .flags = SECCOMP_ADDFD_FLAG_SEND,
            .srcfd = (uint32_t)fd,
            .newfd_flags = cloexec ? O_CLOEXEC : 0,
        };
        int r = ioctl(ic->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add);
        if (r < 0 && errno == ENOENT)
                return 0; /* the caller is gone: the fd is closed with ours */
        if (r < 0) {
                int e = errno; /* EMFILE: the caller's table is full */
                icept_answer(ic, c, e);
                return -e;
        }
        return 0;
}

/* ---- the loop's side ---- */

/* Whether some allow rule for op could name path: every pattern lies at
 * or below its rule's anchor.  A cheap string test, before the caller's
 * status is read; the policy decides the rest. */
static bool path_may_match(const struct icept *ic, enum sd_op op, const char *path)
{
        const struct policy *p = ic->policy;
        for (size_t i = 0; i < p->n_rules; i++) {
                const struct policy_rule *rule = &p->rules[i];
                if (rule->op != op || !rule->anchor)
                        continue;
                size_t n = strlen(rule->anchor);
                if (strncmp(path, rule->anchor, n) == 0 &&
                    (path[n] == '\0' || path[n] == '/' || rule->anchor[n - 1] == '/'))
                        return true;
        }
        return false;
}

/* The caller's ids and more from /proc/TID/status, remembered for reading
 * the next caller's arguments. */
static int caller_status(struct icept *ic, struct icall *c)
{
        int r = read_status(c);
        if (r == 0) {
                ic->have_ids = true;
                ic->read_uid = c->uid;
                ic->read_gid = c->gid;
        }
        return r;
}

/* The arguments, read as uid:gid.  0, or -errno: continue. */
static int read_as(struct icall *c, const struct seccomp_data *d, uid_t uid, gid_t gid)
{
        struct reader_ids saved;
        int r = reader_enter(uid, gid, &saved);
        if (r < 0)
                return r;
        r = read_args(c, d);
        reader_leave(&saved);
        return r;
}

static void on_call(struct icept *ic)
{
        struct seccomp_notif *n = ic->req;
        struct icall c;
        int r;

        memset(n, 0, ic->sizes.seccomp_notif);
        if (ioctl(ic->listener, SECCOMP_IOCTL_NOTIF_RECV, n) < 0)
                return; /* ENOENT: the caller was killed before we took it */
        memset(&c, 0, sizeof(c));
        c.id = n->id;
        c.tid = (pid_t)n->pid;
        c.sc = icept_syscall_of(n->data.nr, &c.op, &c.syscall);
        /* Nothing to serve: no rule for the operation, a call we do not
         * know (cannot happen: the filter names them), a caller outside our
         * pid namespace (pid 0), or a foreign ABI (the filter refuses those
         * before they get here). */
        if (c.sc < 0 || !(ic->ops_with_rules & (1u << c.op)) || c.tid <= 0 ||
            n->data.arch != icept_native_arch()) {
                icept_continue(ic, &c);
                return;
        }
        /* The path first, read as the last caller's ids (the processes
         * under one filter mostly share them): a path no rule could name
         * continues without the caller's status.  Where the kernel refuses
         * those ids, the caller's own are read and the path read again. */
        bool fresh = !ic->have_ids;
        if (fresh && caller_status(ic, &c) < 0) {
                icept_continue(ic, &c);
                return;
        }
        r = read_as(&c, &n->data, fresh ? c.uid : ic->read_uid, fresh ? c.gid : ic->read_gid);
        if ((r == -EACCES || r == -EPERM) && !fresh) {
                fresh = true;
                r = caller_status(ic, &c);
                if (r == 0)
                        r = read_as(&c, &n->data, c.uid, c.gid);
        }
        /* A path no rule could name: nothing more to read.  Otherwise the
         * caller's own ids, groups and umask (what was read as the last
         * caller's is this caller's if the notification is still valid,
         * checked once, below, after every read). */
        bool may = r == 0 && (c.op == SD_OP_BIND || path_may_match(ic, c.op, c.path));
        if (may && !fresh && caller_status(ic, &c) < 0)
                may = false;
        if (icept_test_delay_ms)
                (void)poll(NULL, 0, (int)icept_test_delay_ms);
        /* Everything above came from a process that may be gone and its pid
         * reused: only now, the notification still valid, is it the
         * caller's. */
        if (!icept_still_valid(ic, &c))
                return;
        if (!may) {
                icept_continue(ic, &c);
                return;
        }
        icept_serve(ic, &c);
}

static void on_listener(evutil_socket_t fd, short what, void *arg)
{
        struct icept *ic = arg;
        struct pollfd p = {.fd = (int)fd, .events = POLLIN};
        (void)what;

        /* The RECV ioctl blocks when nothing is pending, and the listener
         * also polls readable (POLLHUP) once no process uses the filter. */
        if (poll(&p, 1, 0) <= 0)
                return;
        if (p.revents & POLLIN) {
                on_call(ic);
                return;
        }
        if (p.revents & (POLLHUP | POLLERR)) {
                event_del(ic->ev);
                ic->listener = safe_close(ic->listener);
        }
}

/* The application sends the listener once, right before its exec; EOF
 * without it: it could not install the filter (and said why). */
static void on_handoff(evutil_socket_t fd, short what, void *arg)
{
        struct icept *ic = arg;
        (void)what;
        int l = fdpass_recv_byte((int)fd, MSG_DONTWAIT, -EBADMSG);
        if (l == -EAGAIN || l == -EINTR)
                return;
        event_del(ic->sock_ev);
        ic->sock = safe_close(ic->sock);
        if (l < 0)
                return;
        ic->listener = l;
        ic->ev = event_new(ic->base, l, EV_READ | EV_PERSIST, on_listener, ic);
        if (!ic->ev || event_add(ic->ev, NULL) < 0) {
                /* Nobody would answer the application's calls. */
                log_error("transparent mode: cannot watch the listener; the application's "
                          "intercepted calls fail with ENOSYS");
                ic->listener = safe_close(ic->listener);
        }
}

/* log-continued: one record per operation and interval, with the count. */
static void flush_continued(struct icept *ic)
{
        for (int op = 1; op < ICEPT_OPS; op++) {
                if (!ic->continued[op])
                        continue;
                char msg[160];
                snprintf(msg, sizeof(msg),
                         "%" PRIu64 " call%s continued to the kernel (not served under an allow "
                         "rule) in the last %u s or less",
                         ic->continued[op], ic->continued[op] == 1 ? "" : "s",
                         ICEPT_CONTINUED_INTERVAL);
                struct audit_event ev = {.event = "continued",
                                         .op = sd_op_name((enum sd_op)op),
                                         .via = "syscall",
                                         .uid = -1,
                                         .gid = -1,
                                         .mode = -1,
                                         .changed = (int64_t)ic->continued[op],
                                         .decision = NULL,
                                         .message = msg};
                if (ic->audit)
                        (void)audit_log(ic->audit, &ev);
                ic->continued[op] = 0;
        }
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
        (void)fd;
        (void)what;
        flush_continued(arg);
}

int icept_new(struct event_base *base, int sock, const struct policy *p, struct audit *a,
              struct request_ctx *rctx, struct icept **out)
{
        struct icept *ic = calloc(1, sizeof(*ic));
        *out = NULL;
        if (!ic) {
                safe_close(sock);
                return -ENOMEM;
        }
        ic->base = base;
        ic->sock = sock;
        ic->listener = -1;
        ic->policy = p;
        ic->audit = a;
        ic->rctx = rctx;
        ic->log_continued = p->intercept_log_continued;
        for (size_t i = 0; i < p->n_rules; i++)
                ic->ops_with_rules |= 1u << p->rules[i].op;
        ic->ops_with_rules &= p->intercept_ops;
        /* Ports from here up any process may bind: those binds continue. */
        ic->unpriv_port_start = 1024;
        FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "re");
        if (f) {
                if (fscanf(f, "%d", &ic->unpriv_port_start) != 1)
                        ic->unpriv_port_start = 1024;
                fclose(f);
        }
        if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &ic->sizes) < 0) {
                int e = errno;
                icept_free(ic);
                return -e;
        }
        /* The kernel's structures may be larger than ours, never smaller. */
        if (ic->sizes.seccomp_notif < sizeof(struct seccomp_notif))
                ic->sizes.seccomp_notif = sizeof(struct seccomp_notif);
        if (ic->sizes.seccomp_notif_resp < sizeof(struct seccomp_notif_resp))
                ic->sizes.seccomp_notif_resp = sizeof(struct seccomp_notif_resp);
        ic->req = calloc(1, ic->sizes.seccomp_notif);
        ic->resp = calloc(1, ic->sizes.seccomp_notif_resp);
        ic->sock_ev = event_new(base, sock, EV_READ | EV_PERSIST, on_handoff, ic);
        if (ic->log_continued)
                ic->flush_ev = event_new(base, -1, EV_PERSIST, on_flush, ic);
        struct timeval iv = {.tv_sec = ICEPT_CONTINUED_INTERVAL};
        if (!ic->req || !ic->resp || !ic->sock_ev || event_add(ic->sock_ev, NULL) < 0 ||
            (ic->log_continued && (!ic->flush_ev || event_add(ic->flush_ev, &iv) < 0))) {
                icept_free(ic);
                return -ENOMEM;
        }
        *out = ic;
        return 0;
}

void icept_free(struct icept *ic)
{
        if (!ic)
                return;
        flush_continued(ic);
        if (ic->ev)
                event_free(ic->ev);
        if (ic->sock_ev)
                event_free(ic->sock_ev);
        if (ic->flush_ev)
                event_free(ic->flush_ev);
        safe_close(ic->listener);
        safe_close(ic->sock);
        free(ic->req);
        free(ic->resp);
        free(ic);
}
