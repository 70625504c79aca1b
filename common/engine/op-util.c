/* Shared pieces of the operations engine: target lookup, verified reopen,
 * fd-based chmod, and error messages that name a missing capability. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "op-util.h"
#include "resolve.h"
#include "util.h"

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

static bool have_fchmodat2 = true;

const char *op_join(char *buf, size_t len, const char *path, const char *name)
{
        size_t n = strlen(path);
        bool slash = n > 0 && path[n - 1] == '/';
        snprintf(buf, len, "%s%s%s", path, slash || !name[0] ? "" : "/", name);
        return buf;
}

void op_target_done(struct op_target *t)
{
        t->parent_fd = safe_close(t->parent_fd);
}

int op_target_init(struct op_target *t, const char *op, const char *anchor, const char *rest,
                   bool xdev, char *err, size_t errlen)
{
        char why[512] = "";
        t->parent_fd = -1;
        t->check_mount = rest[0] != '\0';
        op_join(t->path, sizeof(t->path), anchor, rest);

        int r = resolve_check_rest(rest, why, sizeof(why));
        if (r < 0)
                return op_fail(err, errlen, op, t->path, r, why, -1);

        char dir[PATH_MAX];
        const char *name, *below = "";
        if (rest[0]) {
                const char *slash = strrchr(rest, '/');
                name = slash ? slash + 1 : rest;
                below = dir;
                snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - rest) : 0, rest);
                r = resolve_anchor(anchor, &t->parent_fd, why, sizeof(why));
        } else {
                /* The anchor itself: open its parent, act on its last name. */
                size_t n = strlen(anchor);
                while (n > 1 && anchor[n - 1] == '/')
                        n--;
                if (n >= sizeof(dir))
                        return op_fail(err, errlen, op, t->path, -ENAMETOOLONG, NULL, -1);
                memcpy(dir, anchor, n);
                dir[n] = '\0';
                char *slash = strrchr(dir, '/');
                if (!slash || n == 1) {
                        name = ".";
                        r = resolve_anchor(anchor, &t->parent_fd, why, sizeof(why));
                } else {
                        name = anchor + (slash + 1 - dir); /* strcspn below drops a '/' */
                        if (slash == dir)
                                slash++;
                        *slash = '\0';
                        r = resolve_anchor(dir, &t->parent_fd, why, sizeof(why));
                }
        }
        size_t nl = strcspn(name, "/");
        if (nl > NAME_MAX)
                return op_fail(err, errlen, op, t->path, -ENAMETOOLONG, NULL, -1);
        memcpy(t->name, name, nl);
        t->name[nl] = '\0';
        if (!rest[0] && strcmp(t->name, ".") != 0 &&
            (strcmp(t->name, "..") == 0 || resolve_check_rest(t->name, NULL, 0) < 0))
                return op_fail(err, errlen, op, t->path, -EINVAL, "anchor is not a normal path",
                               -1);
        if (r < 0)
                return op_fail(err, errlen, op, t->path, r, why, -1);
        if (below[0]) {
                _cleanup_close_ int afd = TAKE_FD(t->parent_fd);
                r = resolve_beneath(afd, below, O_PATH | O_DIRECTORY, 0, xdev ? RESOLVE_F_XDEV : 0,
                                    &t->parent_fd, why, sizeof(why));
                if (r < 0)
                        return op_fail(err, errlen, op, t->path, r, why, -1);
        }
        return 0;
}

int op_target_open(struct op_target *t, const char *op, bool xdev, int *fd, struct stat *st,
                   char *err, size_t errlen)
{
        _cleanup_close_ int pfd = openat(t->parent_fd, t->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (pfd < 0) {
                int r = negative_errno();
                return r == -ENOENT ? r : op_fail(err, errlen, op, t->path, r, NULL, -1);
        }
        if (fstat(pfd, st) < 0)
                return op_fail(err, errlen, op, t->path, negative_errno(), NULL, -1);
        if (S_ISLNK(st->st_mode))
                return op_fail(err, errlen, op, t->path, -ELOOP,
                               "is a symbolic link, which is never followed", -1);
        if (t->check_mount && !xdev) {
                struct mount_key a, b;
                int r = fd_mount_key(t->parent_fd, &a);
                if (r == 0)
                        r = fd_mount_key(pfd, &b);
                if (r < 0)
                        return op_fail(err, errlen, op, t->path, r, NULL, -1);
                if (!mount_key_equal(&a, &b))
                        return op_fail(err, errlen, op, t->path, -EXDEV,
                                       "is another mount, which is not crossed", -1);
        }
        *fd = TAKE_FD(pfd);
        return 0;
}

int op_reopen(int dirfd, const char *name, int pathfd, const struct stat *st, int flags, int *fd)
{
        int base = O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
        _cleanup_close_ int nfd = S_ISDIR(st->st_mode)
                                      ? openat(pathfd, ".", flags | base | O_DIRECTORY)
                                      : openat(dirfd, name, flags | base);
        if (nfd < 0)
                return negative_errno();
        struct stat now;
        if (fstat(nfd, &now) < 0)
                return negative_errno();
        if (now.st_dev != st->st_dev || now.st_ino != st->st_ino)
                return -EAGAIN;
        *fd = TAKE_FD(nfd);
        return 0;
}

int op_fchmod(int dirfd, const char *name, int pathfd, const struct stat *st, mode_t mode)
{
        if (have_fchmodat2) {
                if (syscall(SYS_fchmodat2, pathfd, "", mode, AT_EMPTY_PATH) == 0)
                        return 0;
                if (errno != ENOSYS)
                        return negative_errno();
                have_fchmodat2 = false;
        }
        if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
                return -EOPNOTSUPP;
        _cleanup_close_ int fd = -1;
        int r = op_reopen(dirfd, name, pathfd, st, O_RDONLY, &fd);
        if (r < 0)
                return r;
        return fchmod(fd, mode) < 0 ? negative_errno() : 0;
}

static const char *cap_name(int cap)
{
        switch (cap) {
        case CAP_CHOWN:
                return "CHOWN";
        case CAP_FOWNER:
                return "FOWNER";
        case CAP_DAC_OVERRIDE:
                return "DAC_OVERRIDE";
        default:
                return NULL;
        }
}

/* Is cap in our effective set?  (raw capget: no libcap dependency) */
static bool have_cap(int cap)
{
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
        struct __user_cap_data_struct d[2] = {{0}};
        if (syscall(SYS_capget, &h, d) < 0)
                return true;
        return d[cap / 32].effective & (1u << (cap % 32));
}

int op_fail(char *err, size_t errlen, const char *op, const char *path, int r, const char *why,
            int cap)
{
        if (!err || errlen == 0)
                return r;
        if (r == -EACCES)
                cap = CAP_DAC_OVERRIDE;
        else if (r != -EPERM)
                cap = -1;
        char hint[256] = "";
        if (cap >= 0 && geteuid() != 0)
                snprintf(hint, sizeof(hint),
                         " (stepdown runs as uid %u, not root; start it as root so it holds "
                         "CAP_%s)",
                         (unsigned)geteuid(), cap_name(cap));
        else if (cap >= 0 && !have_cap(cap))
                snprintf(hint, sizeof(hint),
                         " (capability CAP_%s is missing, e.g. the container runs with "
                         "cap_drop: ALL; add cap_add: [%s] or start as root with the default "
                         "capabilities)",
                         cap_name(cap), cap_name(cap));
        /* a very deep path keeps its head and tail so the reason still fits */
        size_t n = strlen(path);
        int head = n > 240 ? 100 : (int)n;
        const char *tail = n > 240 ? path + n - 100 : "";
        snprintf(err, errlen, "%s %.*s%s%s: %s%s", op, head, path, n > 240 ? "..." : "", tail,
                 why ? why : strerror(-r), hint);
        return r;
}
