/* chmod below an anchor: on the resolved entry's fd, never on a symlink,
 * never on a hard-linked file (it could be a name for a file outside). */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/stat.h>

#include "op-util.h"
#include "ops.h"
#include "util.h"

int op_chmod(const char *anchor, const char *rest, mode_t mode, char *err, size_t errlen)
{
        return op_chmod_expect(anchor, rest, mode, NULL, err, errlen);
}

int op_chmod_expect(const char *anchor, const char *rest, mode_t mode,
                    const struct op_expect *expect, char *err, size_t errlen)
{
        if (mode & ~(mode_t)07777)
                return op_fail(err, errlen, "chmod", anchor, -EINVAL, "mode has bits beyond 07777",
                               -1);
        _cleanup_(op_target_done) struct op_target t;
        int r = op_target_init(&t, "chmod", anchor, rest, false, err, errlen);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = -1;
        struct stat st;
        r = op_target_open(&t, "chmod", false, &fd, &st, err, errlen);
        if (r == -ENOENT)
                return op_fail(err, errlen, "chmod", t.path, r, NULL, -1);
        if (r < 0)
                return r;
        if (expect && (st.st_dev != expect->dev || st.st_ino != expect->ino))
                return op_fail(err, errlen, "chmod", t.path, OP_NOT_EXPECTED,
                               "is no longer the object the caller holds", -1);
        if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
                return op_fail(err, errlen, "chmod", t.path, -EOPNOTSUPP,
                               "is not a regular file or directory", -1);
        if (S_ISREG(st.st_mode) && st.st_nlink > 1)
                return op_fail(err, errlen, "chmod", t.path, -EMLINK,
                               "has more than one hard link; another name may be outside the "
                               "allowed tree (e.g. /etc/shadow), so it is not changed",
                               -1);
        if ((st.st_mode & 07777) == mode)
                return 0;
        r = op_fchmod(t.parent_fd, t.name, fd, &st, mode);
        if (r < 0)
                return op_fail(err, errlen, "chmod", t.path, r, NULL, CAP_FOWNER);
        return 0;
}
