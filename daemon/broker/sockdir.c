/* See sockdir.h.  Where the socket lives in a directory another container
 * (or the application) can write, as in a shared emptyDir, everything here
 * may meet a planted symlink, a planted file or a name swapped under it;
 * the answer is one directory fd, checked once, and every later step
 * relative to it with no link followed. */
#include "sockdir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ops.h"
#include "resolve.h"
#include "trusted.h"
#include "util.h"

static const char *type_name(mode_t m)
{
        return S_ISLNK(m)    ? "a symbolic link"
               : S_ISDIR(m)  ? "a directory"
               : S_ISREG(m)  ? "a regular file"
               : S_ISSOCK(m) ? "a socket"
                             : "a special file";
}

/* Root's, and nobody else may add, remove or rename entries: not
 * writable by group or other, or sticky (then only root can remove or
 * rename root's entries; others' entries are checked by type below). */
static int dir_check(int fd, const char *dir, char *err, size_t errlen)
{
        struct stat st;
        char fault[96];
        if (fstat(fd, &st) < 0) {
                snprintf(err, errlen, "socket directory %s: %s", dir, strerror(errno));
                return -errno;
        }
        /* root's only, even when this process is not root */
        enum trusted_dir_fault f = trusted_dir_fault(&st, false, fault, sizeof(fault));
        if (f != TRUSTED_DIR_OK) {
                snprintf(err, errlen,
                         f == TRUSTED_DIR_OWNER
                             ? "socket directory %s: %s (its owner could replace the socket or "
                               "the key file)"
                             : "socket directory %s: %s, so others could replace the socket or "
                               "the key file; make it not writable by group or other, or sticky "
                               "(chmod +t)",
                         dir, fault);
                return -EPERM;
        }
        return 0;
}

/* The socket directory's ancestors, from its parent (pfd, named "/" +
 * parent) up to "/": none may be writable by group or other unless it is
 * sticky.  In such a directory anybody may rename the socket directory
 * (or the ancestor holding it) away, without any permission on it, and
 * put a directory of their own with their own listener in its place: the
 * application would connect to it, and the broker could not start again
 * (issue 17.1).  In a sticky one only the entry's owner (root) may. */
static int ancestors_check(int pfd, const char *parent, char *err, size_t errlen)
{
        char name[PATH_MAX + 2];
        struct stat st, root;
        bool first = true;
        _cleanup_close_ int cur = fcntl(pfd, F_DUPFD_CLOEXEC, 3);

        snprintf(name, sizeof(name), "/%s", parent);
        if (cur < 0 || stat("/", &root) < 0) {
                snprintf(err, errlen, "socket directory's parent %s: %s", name, strerror(errno));
                return -errno;
        }
        for (;;) {
                if (fstat(cur, &st) < 0) {
                        snprintf(err, errlen, "socket directory's parent %s: %s", name,
                                 strerror(errno));
                        return -errno;
                }
                if ((st.st_mode & 022) && !(st.st_mode & S_ISVTX)) {
                        snprintf(err, errlen,
                                 "%s %s: writable by %s and not sticky (mode %04o), so another "
                                 "user could rename the socket directory away and listen in its "
                                 "place; make it sticky (chmod 1777 %s) or not writable by group "
                                 "or other",
                                 first ? "the socket directory's parent"
                                       : "an ancestor of the socket directory",
                                 name, (st.st_mode & 002) ? "others" : "its group",
                                 (unsigned)(st.st_mode & 07777), name);
                        return -EPERM;
                }
                if (st.st_dev == root.st_dev && st.st_ino == root.st_ino)
                        return 0;
                int up = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (up < 0) {
                        snprintf(err, errlen, "socket directory's parent %s/..: %s", name,
                                 strerror(errno));
                        return -errno;
                }
                safe_close(cur);
                cur = up;
                first = false;
                char *slash = strrchr(name, '/');
                if (slash == name)
                        name[1] = '\0';
                else if (slash)
                        *slash = '\0';
        }
}

int sockdir_open(const char *dir, bool create, bool have_user, gid_t gid, int *dirfd, char *err,
                 size_t errlen)
{
        char why[320] = "", parent[PATH_MAX];
        int r;

        if (dir[0] != '/' || strlen(dir) >= sizeof(parent)) {
                snprintf(err, errlen, "socket directory %s: not an absolute path", dir);
                return -EINVAL;
        }
        _cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0) {
                snprintf(err, errlen, "opening /: %s", strerror(errno));
                return -errno;
        }
        _cleanup_close_ int fd = -1;
        const char *rel = dir + 1;
        const char *slash = strrchr(rel, '/');
        const char *name = slash ? slash + 1 : rel;
        if (!*rel) { /* the socket in / itself */
                fd = TAKE_FD(root);
        } else {
                /* The parent: every component by fd, no symlink. */
                snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - rel) : 0, rel);
                _cleanup_close_ int pfd = -1;
                r = resolve_beneath(root, parent, O_PATH | O_DIRECTORY, 0, RESOLVE_F_XDEV, &pfd,
                                    why, sizeof(why));
                if (r < 0) {
                        snprintf(err, errlen, "socket directory %s: %s%s", dir, why,
                                 r == -ELOOP ? " (name it by its real path, e.g. /run rather "
                                               "than /var/run)"
                                             : "");
                        return r;
                }
                r = ancestors_check(pfd, parent, err, errlen);
                if (r < 0)
                        return r;
                if (create) {
                        /* The engine's mkdir (common/engine/op-mkdir.c): built in a
                         * private staging directory, given root:gid and its
                         * mode through its fd there, renamed into place with
                         * RENAME_NOREPLACE.  It needs CAP_CHOWN only (a
                         * sidecar may hold no CAP_SETGID for an fsgid), and
                         * the parent may be a 0777 emptyDir the app shares. */
                        char anchor[PATH_MAX + 1], msg[512];
                        snprintf(anchor, sizeof(anchor), "/%s", parent);
                        r = op_mkdir(anchor, name, have_user ? 0710 : 0755, 0, have_user ? gid : 0,
                                     false, msg, sizeof(msg));
                        if (r < 0 && r != -EEXIST) {
                                snprintf(err, errlen, "creating the socket directory: %s", msg);
                                return r;
                        }
                }
                r = resolve_beneath(pfd, name, O_PATH | O_DIRECTORY, 0, RESOLVE_F_XDEV, &fd, why,
                                    sizeof(why));
                if (r < 0) {
                        snprintf(err, errlen, "socket directory %s: %s", dir, why);
                        return r;
                }
        }
        r = dir_check(fd, dir, err, errlen);
        if (r < 0)
                return r;
        *dirfd = TAKE_FD(fd);
        return 0;
}

/* A stale name from an earlier run: removed if it is of type, else the
 * start is refused (a planted link or file stays as it is). */
static int clear_stale(int dirfd, const char *name, const char *path, mode_t type, char *err,
                       size_t errlen)
{
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return 0;
        if ((st.st_mode & S_IFMT) != type) {
                snprintf(err, errlen, "%s: exists and is %s, not %s; remove it", path,
                         type_name(st.st_mode), type_name(type));
                return -EEXIST;
        }
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT) {
                snprintf(err, errlen, "removing a stale %s: %s", path, strerror(errno));
                return -errno;
        }
        return 0;
}

/* Gives the root-owned entry name in dirfd (of type) to uid:gid through
 * an O_PATH fd of it, after checking that fd is what was just made. */
static int give_away(int dirfd, const char *name, mode_t type, uid_t uid, gid_t gid)
{
        _cleanup_close_ int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        if ((st.st_mode & S_IFMT) != type || st.st_uid != 0)
                return -EAGAIN;
        if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        return 0;
}

int sockdir_bind(int dirfd, const char *name, const char *path, bool have_user, uid_t uid,
                 gid_t gid, int *out, char *err, size_t errlen)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int r = clear_stale(dirfd, name, path, S_IFSOCK, err, errlen);
        if (r < 0)
                return r;
        /* The directory as the fd holds it (a magic link: renaming or
         * replacing the directory's name does not change it), then one
         * component that bind() creates and never follows. */
        int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dirfd, name);
        if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) {
                snprintf(err, errlen, "socket %s: the name %s is too long", path, name);
                return -ENAMETOOLONG;
        }
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                snprintf(err, errlen, "socket(): %s", strerror(errno));
                return -errno;
        }
        /* With a user: the application's, 0600 (only its uid may connect).
         * Without (serve without `user`): root's, 0666, and peer
         * credentials, the policy and the key decide.  Bound as root, then
         * given away through an O_PATH fd of the new name: sockdir_open()
         * accepted only a root directory that nobody else may write, or a
         * sticky one, where nobody but root may rename or remove root's
         * socket, so the name cannot be swapped between the bind and the
         * open; the fd is checked (a socket, root's) before the chown.
         * This needs CAP_CHOWN only, not CAP_DAC_OVERRIDE (writing the
         * 0710 directory as the application would). */
        mode_t old = umask(have_user ? 0177 : 0111);
        r = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
        umask(old);
        if (r == 0 && have_user)
                r = give_away(dirfd, name, S_IFSOCK, uid, gid);
        if (r == -ENOENT && access("/proc/self/fd", X_OK) < 0) {
                snprintf(err, errlen,
                         "binding %s: /proc is not mounted (stepdownd binds through "
                         "/proc/self/fd)",
                         path);
                return r;
        }
        if (r == 0 && listen(fd, SOMAXCONN) < 0)
                r = -errno;
        if (r < 0) {
                snprintf(err, errlen, "binding %s: %s", path, strerror(-r));
                return r;
        }
        *out = TAKE_FD(fd);
        return 0;
}

int sockdir_write_key(int dirfd, const char *name, const char *path, const uint8_t *data,
                      size_t len, uid_t uid, gid_t gid, char *err, size_t errlen)
{
        int r = clear_stale(dirfd, name, path, S_IFREG, err, errlen);
        if (r < 0)
                return r;
        /* Created as root with O_EXCL (this fd is the new inode), then
         * given away through the fd: no name is acted on after the check. */
        mode_t old = umask(0);
        _cleanup_close_ int fd =
            openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);
        r = fd < 0 ? -errno : 0;
        umask(old);
        if (r == 0 && fchown(fd, uid, gid) < 0)
                r = -errno;
        errno = 0;
        if (r == 0 && write(fd, data, len) != (ssize_t)len)
                r = errno ? -errno : -EIO;
        if (r < 0) {
                snprintf(err, errlen, "writing the key file %s: %s", path, strerror(-r));
                if (fd >= 0)
                        sockdir_remove(dirfd, name, S_IFREG);
                return r;
        }
        return 0;
}

void sockdir_remove(int dirfd, const char *name, mode_t type)
{
        struct stat st;
        if (dirfd >= 0 && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            (st.st_mode & S_IFMT) == type)
                (void)unlinkat(dirfd, name, 0);
}
