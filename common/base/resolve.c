/* Safe resolution below a trusted anchor: openat2 where the kernel has it,
 * otherwise a component walk with O_NOFOLLOW and mount checks. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "resolve.h"
#include "util.h"

#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif

bool resolve_force_fallback = false;
static bool have_openat2 = true;

#define seterr(...)                                                                                \
        do {                                                                                       \
                if (errlen > 0)                                                                    \
                        snprintf(err, errlen, __VA_ARGS__);                                        \
        } while (0)

int resolve_check_rest(const char *rest, char *err, size_t errlen)
{
        if (strlen(rest) >= PATH_MAX) {
                seterr("path is longer than PATH_MAX");
                return -ENAMETOOLONG;
        }
        if (rest[0] == '\0')
                return 0;
        if (rest[0] == '/') {
                seterr("path below the anchor must be relative");
                return -EINVAL;
        }
        for (const char *p = rest;;) {
                size_t n = strcspn(p, "/");
                if (n == 0) {
                        seterr("path has an empty component (\"//\" or a trailing \"/\")");
                        return -EINVAL;
                }
                if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
                        seterr("path has a \"%.*s\" component", (int)n, p);
                        return -EINVAL;
                }
                if (n > NAME_MAX) {
                        seterr("path component longer than NAME_MAX");
                        return -ENAMETOOLONG;
                }
                if (p[n] == '\0')
                        return 0;
                p += n + 1;
        }
}

int fd_mount_key(int fd, struct mount_key *k)
{
        struct statx sx;
        if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
                  STATX_TYPE | STATX_MNT_ID, &sx) < 0)
                return negative_errno();
        *k = (struct mount_key){.dev = makedev(sx.stx_dev_major, sx.stx_dev_minor)};
        if (sx.stx_mask & STATX_MNT_ID) {
                k->mnt_id = sx.stx_mnt_id;
                k->has_mnt_id = true;
                return 0;
        }
        /* Kernels before 5.8: name_to_handle_at reports the mount id on
         * filesystems that support file handles. */
        union {
                struct file_handle fh;
                char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
        } h = {.fh.handle_bytes = MAX_HANDLE_SZ};
        int mnt;
        if (name_to_handle_at(fd, "", &h.fh, &mnt, AT_EMPTY_PATH) == 0) {
                k->mnt_id = (uint64_t)mnt;
                k->has_mnt_id = true;
        }
        return 0;
}

/* The mount id, where both have one, names the mount exactly (a bind
 * mount of the same filesystem differs; ids are unique among live
 * mounts).  st_dev alone is the fallback: it is not a mount's identity on
 * an overlayfs whose layers sit on different filesystems, where a file
 * reports its layer's device, not the overlay's. */
bool mount_key_equal(const struct mount_key *a, const struct mount_key *b)
{
        if (a->has_mnt_id && b->has_mnt_id)
                return a->mnt_id == b->mnt_id;
        return a->dev == b->dev;
}

/* Component walk: every step O_NOFOLLOW, every directory checked to be a
 * directory on the anchor's mount.  Names the failing component in err. */
static int walk(int anchor_fd, const char *rest, int flags, mode_t mode, unsigned rflags, int *fd,
                char *err, size_t errlen)
{
        struct mount_key base, k;
        int r = fd_mount_key(anchor_fd, &base);
        if (r < 0) {
                seterr("cannot stat the anchor: %s", strerror(-r));
                return r;
        }
        _cleanup_close_ int cur = fcntl(anchor_fd, F_DUPFD_CLOEXEC, 3);
        if (cur < 0)
                return negative_errno();

        const char *p = rest[0] ? rest : ".";
        for (;;) {
                size_t n = strcspn(p, "/");
                char name[NAME_MAX + 1];
                memcpy(name, p, n);
                name[n] = '\0';
                bool last = p[n] == '\0';
                struct stat st;

                int oflags = last ? (flags & ~O_NOFOLLOW) : O_PATH;
                _cleanup_close_ int nfd =
                    openat(cur, name, oflags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, last ? mode : 0);
                if (nfd < 0) {
                        r = negative_errno();
                        if ((r == -ELOOP || r == -ENOTDIR || r == -EMLINK) &&
                            fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                            S_ISLNK(st.st_mode)) {
                                seterr("\"%s\" is a symbolic link, which is never followed", name);
                                return -ELOOP;
                        }
                        seterr("\"%s\": %s", name, strerror(-r));
                        return r;
                }
                if (fstat(nfd, &st) < 0)
                        return negative_errno();
                if (S_ISLNK(st.st_mode)) {
                        seterr("\"%s\" is a symbolic link, which is never followed", name);
                        return -ELOOP;
                }
                if (!last && !S_ISDIR(st.st_mode)) {
                        seterr("\"%s\" is not a directory", name);
                        return -ENOTDIR;
                }
                if (!(rflags & RESOLVE_F_XDEV) && rest[0]) {
                        r = fd_mount_key(nfd, &k);
                        if (r < 0)
                                return r;
                        if (!mount_key_equal(&base, &k)) {
                                seterr("\"%s\" is on another mount, which is not crossed", name);
                                return -EXDEV;
                        }
                }
                if (last) {
                        *fd = TAKE_FD(nfd);
                        return 0;
                }
                safe_close(cur);
                cur = TAKE_FD(nfd);
                p += n + 1;
        }
}

static int try_openat2(int anchor_fd, const char *rest, int flags, mode_t mode, unsigned rflags)
{
        struct open_how how = {
            /* openat2 rejects O_NOCTTY next to O_PATH */
            .flags =
                (uint64_t)((flags & ~O_NOFOLLOW) | O_CLOEXEC | ((flags & O_PATH) ? 0 : O_NOCTTY)),
            .mode = (flags & (O_CREAT | __O_TMPFILE)) ? mode : 0,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        if (!(rflags & RESOLVE_F_XDEV))
                how.resolve |= RESOLVE_NO_XDEV;
        for (int tries = 0;; tries++) {
                long fd = syscall(SYS_openat2, anchor_fd, rest[0] ? rest : ".", &how, sizeof(how));
                if (fd >= 0)
                        return (int)fd;
                /* EAGAIN: a rename raced the lookup; retrying is safe. */
                if (errno != EAGAIN || tries >= 16)
                        return negative_errno();
        }
}

int resolve_beneath(int anchor_fd, const char *rest, int flags, mode_t mode, unsigned rflags,
                    int *fd, char *err, size_t errlen)
{
        int r = resolve_check_rest(rest, err, errlen);
        if (r < 0)
                return r;
        if (resolve_force_fallback || !have_openat2)
                return walk(anchor_fd, rest, flags, mode, rflags, fd, err, errlen);

        r = try_openat2(anchor_fd, rest, flags, mode, rflags);
        if (r >= 0) {
                *fd = r;
                return 0;
        }
        if (r == -ENOSYS) {
                have_openat2 = false;
                return walk(anchor_fd, rest, flags, mode, rflags, fd, err, errlen);
        }
        /* Say which component was refused: re-run the (equally safe) walk
         * read-only for its message; keep openat2's verdict either way. */
        char why[256] = "";
        _cleanup_close_ int dfd = -1;
        if (walk(anchor_fd, rest, O_PATH, 0, rflags, &dfd, why, sizeof(why)) < 0 && why[0])
                seterr("%s", why);
        else if (r == -ELOOP)
                seterr("a symbolic link in the path is never followed");
        else if (r == -EXDEV)
                seterr("the path leaves the anchor or crosses into another mount");
        else
                seterr("%s", strerror(-r));
        return r;
}

int resolve_anchor(const char *anchor, int *dirfd, char *err, size_t errlen)
{
        if (anchor[0] != '/') {
                seterr("anchor \"%s\" is not an absolute path", anchor);
                return -EINVAL;
        }
        const char *rest = anchor;
        while (*rest == '/')
                rest++;
        char buf[PATH_MAX];
        size_t len = strlen(rest);
        if (len >= sizeof(buf)) {
                seterr("anchor is longer than PATH_MAX");
                return -ENAMETOOLONG;
        }
        memcpy(buf, rest, len + 1);
        while (len > 0 && buf[len - 1] == '/')
                buf[--len] = '\0';

        _cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
                return negative_errno();
        char why[256] = "";
        int r = resolve_beneath(root, buf, O_PATH | O_DIRECTORY, 0, RESOLVE_F_XDEV, dirfd, why,
                                sizeof(why));
        if (r < 0)
                seterr("anchor %s: %s", anchor, why[0] ? why : strerror(-r));
        return r;
}
