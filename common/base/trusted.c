/* Opening root's own files by a path without following anything a
 * non-root process could bend (trusted.h). */
#include "trusted.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "resolve.h"
#include "util.h"

static const char *owner_name(void)
{
        return geteuid() ? "stepdownd's" : "root";
}

static bool owner_ok(uid_t uid)
{
        return uid == 0 || uid == geteuid();
}

enum trusted_dir_fault trusted_dir_fault(const struct stat *st, bool euid_ok, char *why,
                                         size_t whylen)
{
        if (euid_ok ? !owner_ok(st->st_uid) : st->st_uid != 0) {
                snprintf(why, whylen, "owned by uid %u, not %s", (unsigned)st->st_uid,
                         euid_ok ? owner_name() : "root");
                return TRUSTED_DIR_OWNER;
        }
        if ((st->st_mode & 022) && !(st->st_mode & S_ISVTX)) {
                snprintf(why, whylen, "writable by %s and not sticky (mode %04o)",
                         (st->st_mode & 002) ? "others" : "its group",
                         (unsigned)(st->st_mode & 07777));
                return TRUSTED_DIR_WRITABLE;
        }
        return TRUSTED_DIR_OK;
}

int trusted_dir_open(const char *path, int *dirfd, const char **name, char *why, size_t whylen)
{
        const char *slash = strrchr(path, '/');
        char dir[PATH_MAX];
        size_t dlen = slash ? (size_t)(slash - path) : 0;
        *name = slash ? slash + 1 : path;
        if (!**name || strcmp(*name, ".") == 0 || strcmp(*name, "..") == 0) {
                snprintf(why, whylen, "names a directory, not a file");
                return -EISDIR;
        }
        if (dlen >= sizeof(dir)) {
                snprintf(why, whylen, "the path is longer than PATH_MAX");
                return -ENAMETOOLONG;
        }
        memcpy(dir, path, dlen);
        dir[dlen] = '\0';
        const char *rel = dir;
        while (*rel == '/')
                rel++;
        const char *shown = dlen ? dir : path[0] == '/' ? "/" : ".";
        _cleanup_close_ int base =
            open(path[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (base < 0)
                return negative_errno();
        char rwhy[320] = "";
        _cleanup_close_ int fd = -1;
        int r = resolve_beneath(base, rel, O_PATH | O_DIRECTORY, 0, RESOLVE_F_XDEV, &fd, rwhy,
                                sizeof(rwhy));
        if (r < 0) {
                snprintf(why, whylen, "directory %s: %s", shown, rwhy[0] ? rwhy : strerror(-r));
                return r;
        }
        struct stat st;
        char fault[96];
        if (fstat(fd, &st) < 0)
                return negative_errno();
        enum trusted_dir_fault f = trusted_dir_fault(&st, true, fault, sizeof(fault));
        if (f != TRUSTED_DIR_OK) {
                snprintf(why, whylen,
                         f == TRUSTED_DIR_OWNER
                             ? "its directory %s is %s (its owner could replace the file or "
                               "point it elsewhere)"
                             : "its directory %s is %s, so others could replace the file; make "
                               "it writable by its owner only, or sticky (chmod +t)",
                         shown, fault);
                return -EPERM;
        }
        *dirfd = TAKE_FD(fd);
        return 0;
}

int trusted_file_open(const char *path, bool any_owner, int *ret, char *why, size_t whylen)
{
        _cleanup_close_ int dirfd = -1;
        const char *name;
        int r = trusted_dir_open(path, &dirfd, &name, why, whylen);
        if (r == -ENOENT && whylen)
                why[0] = '\0'; /* "PATH: No such file or directory" says it all */
        if (r < 0)
                return r;
        /* O_NONBLOCK: a fifo put there must not block the open. */
        _cleanup_close_ int fd =
            openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0) {
                r = negative_errno();
                snprintf(why, whylen, "%s%s", strerror(-r),
                         r == -ELOOP ? " (a symbolic link, which is never followed)" : "");
                return r;
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode)) {
                snprintf(why, whylen, "not a regular file");
                return -EINVAL;
        }
        if (!any_owner && !owner_ok(st.st_uid)) {
                snprintf(why, whylen, "owned by uid %u, not %s", (unsigned)st.st_uid, owner_name());
                return -EPERM;
        }
        if (st.st_mode & 022) {
                snprintf(why, whylen, "writable by group or others (mode %04o)",
                         (unsigned)(st.st_mode & 07777));
                return -EPERM;
        }
        *ret = TAKE_FD(fd);
        return 0;
}
