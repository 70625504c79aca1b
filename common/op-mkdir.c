/* mkdir below an anchor: mkdirat on the resolved parent fd, then owner and
 * exact mode set on the new directory's own fd (umask-proof). */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "op-util.h"
#include "ops.h"
#include "resolve.h"
#include "util.h"

/* Creates name in dirfd; exist_ok accepts an existing directory and
 * leaves it untouched (mkdir -p). */
static int make_dir(int dirfd, const char *name, const char *path, mode_t mode, uid_t uid,
                    gid_t gid, bool exist_ok, char *err, size_t errlen)
{
        if (mkdirat(dirfd, name, 0700) < 0) {
                int r = negative_errno();
                if (r != -EEXIST)
                        return op_fail(err, errlen, "mkdir", path, r, NULL, -1);
                struct stat st;
                if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return op_fail(err, errlen, "mkdir", path, negative_errno(), NULL, -1);
                if (S_ISLNK(st.st_mode))
                        return op_fail(err, errlen, "mkdir", path, -EEXIST,
                                       "exists as a symbolic link, which is never followed", -1);
                if (!S_ISDIR(st.st_mode))
                        return op_fail(err, errlen, "mkdir", path, -EEXIST,
                                       "exists and is not a directory", -1);
                if (!exist_ok)
                        return op_fail(err, errlen, "mkdir", path, -EEXIST, "already exists", -1);
                return 0;
        }
        /* If the caller swapped the new directory for a symlink, O_NOFOLLOW
         * refuses it; if for another directory, that one is in the tree. */
        _cleanup_close_ int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return op_fail(err, errlen, "mkdir", path, negative_errno(),
                               "the new directory was replaced before it could be set up", -1);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return op_fail(err, errlen, "mkdir", path, negative_errno(), NULL, -1);
        if ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
            fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
                return op_fail(err, errlen, "mkdir", path, negative_errno(), NULL, CAP_CHOWN);
        int r = op_fchmod(dirfd, name, fd, &st, mode);
        if (r < 0)
                return op_fail(err, errlen, "mkdir", path, r, NULL, CAP_FOWNER);
        return 0;
}

static int mkdir_parents(const char *anchor, const char *rest, mode_t mode, uid_t uid, gid_t gid,
                         char *err, size_t errlen)
{
        char path[PATH_MAX + NAME_MAX + 2], why[512] = "";
        op_join(path, sizeof(path), anchor, rest);
        _cleanup_close_ int cur = -1;
        int r = resolve_anchor(anchor, &cur, why, sizeof(why));
        if (r < 0)
                return op_fail(err, errlen, "mkdir", path, r, why, -1);

        for (const char *p = rest;;) {
                size_t n = strcspn(p, "/");
                char name[NAME_MAX + 1];
                memcpy(name, p, n);
                name[n] = '\0';
                bool last = p[n] == '\0';
                if (last)
                        return make_dir(cur, name, path, mode, uid, gid, true, err, errlen);

                _cleanup_close_ int next = -1;
                r = resolve_beneath(cur, name, O_PATH | O_DIRECTORY, 0, 0, &next, why, sizeof(why));
                if (r == -ENOENT) {
                        r = make_dir(cur, name, path, mode, uid, gid, true, err, errlen);
                        if (r < 0)
                                return r;
                        r = resolve_beneath(cur, name, O_PATH | O_DIRECTORY, 0, 0, &next, why,
                                            sizeof(why));
                }
                if (r < 0)
                        return op_fail(err, errlen, "mkdir", path, r, why, -1);
                safe_close(cur);
                cur = TAKE_FD(next);
                p += n + 1;
        }
}

int op_mkdir(const char *anchor, const char *rest, mode_t mode, uid_t uid, gid_t gid, bool parents,
             char *err, size_t errlen)
{
        char why[512];
        if (mode & ~(mode_t)07777)
                return op_fail(err, errlen, "mkdir", anchor, -EINVAL, "mode has bits beyond 07777",
                               -1);
        if (parents && rest[0]) {
                int r = resolve_check_rest(rest, why, sizeof(why));
                if (r < 0)
                        return op_fail(err, errlen, "mkdir", anchor, r, why, -1);
                return mkdir_parents(anchor, rest, mode, uid, gid, err, errlen);
        }
        _cleanup_(op_target_done) struct op_target t;
        int r = op_target_init(&t, "mkdir", anchor, rest, false, err, errlen);
        if (r < 0)
                return r;
        return make_dir(t.parent_fd, t.name, t.path, mode, uid, gid, parents, err, errlen);
}
