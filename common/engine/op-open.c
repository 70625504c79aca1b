/* open below an anchor: regular files only, checked on an O_PATH fd
 * before the real open (so a fifo or device is never opened), hard-linked
 * files refused, created files get an exact mode and owner. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <unistd.h>

#include "op-util.h"
#include "ops.h"
#include "util.h"

static const char *type_name(mode_t m)
{
        switch (m & S_IFMT) {
        case S_IFDIR:
                return "is a directory, not a regular file";
        case S_IFIFO:
                return "is a fifo, not a regular file";
        case S_IFCHR:
                return "is a character device, not a regular file";
        case S_IFBLK:
                return "is a block device, not a regular file";
        case S_IFSOCK:
                return "is a socket, not a regular file";
        default:
                return "is not a regular file";
        }
}

static int create_file(struct op_target *t, int acc, mode_t mode, uid_t uid, gid_t gid, int *fd_out,
                       char *err, size_t errlen)
{
        /* Mode 0 until owner and mode are set: nobody else can open it. */
        _cleanup_close_ int fd = openat(
            t->parent_fd, t->name, acc | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0);
        if (fd < 0) {
                int r = negative_errno();
                return r == -EEXIST ? r : op_fail(err, errlen, "open", t->path, r, NULL, -1);
        }
        if ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) < 0)
                return op_fail(err, errlen, "open", t->path, negative_errno(), NULL, CAP_CHOWN);
        if (fchmod(fd, mode) < 0)
                return op_fail(err, errlen, "open", t->path, negative_errno(), NULL, CAP_FOWNER);
        *fd_out = TAKE_FD(fd);
        return 0;
}

int op_open(const char *anchor, const char *rest, int oflags, mode_t create_mode, uid_t create_uid,
            gid_t create_gid, int *fd_out, char *err, size_t errlen)
{
        int acc = oflags & O_ACCMODE;
        if ((oflags & ~(O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_APPEND)) || acc == O_ACCMODE ||
            (acc == O_RDONLY && (oflags & (O_TRUNC | O_APPEND))) || (create_mode & ~(mode_t)07777))
                return op_fail(err, errlen, "open", anchor, -EINVAL,
                               "unsupported open flags or create mode", -1);
        acc |= oflags & O_APPEND;

        _cleanup_(op_target_done) struct op_target t;
        int r = op_target_init(&t, "open", anchor, rest, false, err, errlen);
        if (r < 0)
                return r;
        if (oflags & O_CREAT) {
                r = create_file(&t, acc, create_mode, create_uid, create_gid, fd_out, err, errlen);
                if (r != -EEXIST)
                        return r;
                if (oflags & O_EXCL)
                        return op_fail(err, errlen, "open", t.path, r, "already exists", -1);
        }

        _cleanup_close_ int pfd = -1;
        struct stat st;
        r = op_target_open(&t, "open", false, &pfd, &st, err, errlen);
        if (r == -ENOENT)
                return op_fail(err, errlen, "open", t.path, r, NULL, -1);
        if (r < 0)
                return r;
        if (!S_ISREG(st.st_mode))
                return op_fail(err, errlen, "open", t.path,
                               S_ISDIR(st.st_mode) ? -EISDIR : -EOPNOTSUPP, type_name(st.st_mode),
                               -1);
        if (st.st_nlink > 1)
                return op_fail(err, errlen, "open", t.path, -EMLINK,
                               "has more than one hard link; another name may be outside the "
                               "allowed tree (e.g. /etc/shadow), so it is not opened",
                               -1);
        _cleanup_close_ int fd = -1;
        r = op_reopen(t.parent_fd, t.name, pfd, &st, acc, &fd);
        if (r == -EAGAIN)
                return op_fail(err, errlen, "open", t.path, r, "was replaced while being opened",
                               -1);
        if (r < 0)
                return op_fail(err, errlen, "open", t.path, r, NULL, -1);
        if ((oflags & O_TRUNC) && ftruncate(fd, 0) < 0)
                return op_fail(err, errlen, "open", t.path, negative_errno(), NULL, -1);
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
                return op_fail(err, errlen, "open", t.path, negative_errno(), NULL, -1);
        *fd_out = TAKE_FD(fd);
        return 0;
}
