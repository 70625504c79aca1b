/* Rewriting /etc/passwd and /etc/group for remap: the line transforms and
 * the safe replacement (rename, or a bind mount from a private tmpfs). */
#include "remap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "errmsg.h"
#include "fileio.h"
#include "resolve.h"
#include "userdb.h"
#include "util.h"

#define REMAP_FILE_MAX (64u << 20)

bool remap_force_bind, remap_force_attach;

const char *remap_how_name(enum remap_how how)
{
        switch (how) {
        case REMAP_RENAMED:
                return "rewritten";
        case REMAP_BOUND:
                return "bind-mounted";
        default:
                return "unchanged";
        }
}

static bool is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* A line as userdb.c sees it: trimmed; fields split at ':'. */
struct line {
        const char *s; /* trimmed start */
        size_t len;
        const char *f[5]; /* starts of the first five fields (NULL: missing) */
        size_t flen[5];
};

static void split_line(const char *s, size_t len, struct line *l)
{
        while (len && is_space(*s))
                s++, len--;
        while (len && is_space(s[len - 1]))
                len--;
        *l = (struct line){.s = s, .len = len};
        const char *p = s, *end = s + len;
        for (size_t i = 0; i < 5; i++) {
                l->f[i] = p;
                const char *c = memchr(p, ':', (size_t)(end - p));
                l->flen[i] = (size_t)((c ? c : end) - p);
                if (!c) {
                        for (size_t j = i + 1; j < 5; j++)
                                l->f[j] = NULL;
                        break;
                }
                p = c + 1;
        }
}

static bool field_is(const struct line *l, size_t i, const char *s)
{
        return l->f[i] && l->flen[i] == strlen(s) && memcmp(l->f[i], s, l->flen[i]) == 0;
}

static bool field_id(const struct line *l, size_t i, int64_t *out)
{
        return l->f[i] && userdb_parse_id(l->f[i], l->flen[i], out);
}

/* Writes line l with field idx[k] replaced by val[k] (-1: kept). */
static void put_line(FILE *o, const struct line *l, size_t i1, int64_t v1, size_t i2, int64_t v2)
{
        const char *p = l->s, *end = l->s + l->len;
        for (size_t i = 0; i < 5 && l->f[i]; i++) {
                if ((i == i1 && v1 >= 0) || (i == i2 && v2 >= 0)) {
                        fwrite(p, 1, (size_t)(l->f[i] - p), o);
                        fprintf(o, "%lld", (long long)(i == i1 && v1 >= 0 ? v1 : v2));
                        p = l->f[i] + l->flen[i];
                }
        }
        fwrite(p, 1, (size_t)(end - p), o);
}

static int transform(const char *in, size_t len, const struct remap_ids *ids, bool group,
                     char **out, size_t *outlen, unsigned *changed, char *msg, size_t msglen)
{
        bool gid_change = ids->new_gid >= 0 && ids->old_gid >= 0 && ids->new_gid != ids->old_gid;
        bool found = group;
        unsigned lineno = 0;
        char *buf = NULL;
        size_t blen = 0;
        FILE *o = open_memstream(&buf, &blen);
        if (!o)
                return -ENOMEM;
        *changed = 0;
        for (size_t pos = 0; pos < len;) {
                const char *s = in + pos;
                const char *nl = memchr(s, '\n', len - pos);
                size_t n = nl ? (size_t)(nl - s) : len - pos;
                size_t take = nl ? n + 1 : n;
                pos += take;
                lineno++;
                struct line l;
                split_line(s, n, &l);
                if (l.len == 0 || memchr(s, '\0', n) || (group && l.s[0] == '#')) {
                        fwrite(s, 1, take, o);
                        continue;
                }
                int64_t a = -1, b = -1, id;
                if (!group) {
                        bool ours = !found && field_is(&l, 0, ids->user);
                        if (ours) {
                                found = true;
                                if (!field_id(&l, 2, &id) || !l.f[3]) {
                                        fclose(o);
                                        free(buf);
                                        return errmsg(msg, msglen, -EINVAL,
                                                      "line %u: the entry of \"%s\" has no "
                                                      "numeric uid and gid fields",
                                                      lineno, ids->user);
                                }
                                if (id != ids->new_uid)
                                        a = ids->new_uid;
                        } else if (ids->uid_holder && field_is(&l, 0, ids->uid_holder) &&
                                   field_id(&l, 2, &id) && id == ids->new_uid) {
                                a = ids->old_uid;
                        }
                        if (gid_change && field_id(&l, 3, &id)) {
                                if (id == ids->old_gid)
                                        b = ids->new_gid;
                                else if (ids->gid_holder && id == ids->new_gid)
                                        b = ids->old_gid;
                        }
                } else if (gid_change && field_id(&l, 2, &id)) {
                        if (id == ids->old_gid)
                                b = ids->new_gid;
                        else if (ids->gid_holder && field_is(&l, 0, ids->gid_holder) &&
                                 id == ids->new_gid)
                                b = ids->old_gid;
                }
                if (a < 0 && b < 0) {
                        fwrite(s, 1, take, o);
                        continue;
                }
                (*changed)++;
                if (group)
                        put_line(o, &l, 2, b, 5, -1);
                else
                        put_line(o, &l, 2, a, 3, b);
                if (nl)
                        fputc('\n', o);
        }
        if (fclose(o) != 0) {
                free(buf);
                return -ENOMEM;
        }
        if (!found) {
                free(buf);
                return errmsg(msg, msglen, -ENOENT, "no entry for user \"%s\"", ids->user);
        }
        *out = buf;
        *outlen = blen;
        return 0;
}

int remap_passwd_text(const char *in, size_t len, const struct remap_ids *ids, char **out,
                      size_t *outlen, unsigned *changed, char *msg, size_t msglen)
{
        return transform(in, len, ids, false, out, outlen, changed, msg, msglen);
}

int remap_group_text(const char *in, size_t len, const struct remap_ids *ids, char **out,
                     size_t *outlen, unsigned *changed, char *msg, size_t msglen)
{
        return transform(in, len, ids, true, out, outlen, changed, msg, msglen);
}

static int write_all(int fd, const char *buf, size_t len)
{
        while (len) {
                ssize_t n = write(fd, buf, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                buf += n;
                len -= (size_t)n;
        }
        return 0;
}

/* Makes the new file: owner and mode of the old one, then the text. */
static int fill(int fd, const struct stat *st, const char *text, size_t len)
{
        if (fchown(fd, st->st_uid, st->st_gid) < 0 || fchmod(fd, st->st_mode & 07777) < 0)
                return negative_errno();
        return write_all(fd, text, len);
}

/* Whether the mount that dirfd/name is on propagates to other mount
 * namespaces ("shared:N" in mountinfo). 0: it does not. */
static int check_private(int dirfd, const char *name, const char *shown, char *err, size_t errlen)
{
        struct statx sx;
        if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &sx) < 0)
                return errmsg(err, errlen, negative_errno(), "%s: statx: %m", shown);
        if (!(sx.stx_mask & STATX_MNT_ID))
                return errmsg(err, errlen, -EOPNOTSUPP,
                              "%s: the kernel gives no mount id, so whether a bind mount over it "
                              "would propagate cannot be checked; refusing",
                              shown);
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return errmsg(err, errlen, negative_errno(),
                              "/proc/self/mountinfo: %m (needed to check that a bind mount over "
                              "%s stays in this mount namespace)",
                              shown);
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, f) > 0) {
                unsigned long long id;
                if (sscanf(line, "%llu ", &id) != 1 || id != sx.stx_mnt_id)
                        continue;
                char *dash = strstr(line, " - ");
                char *shared = strstr(line, " shared:");
                if (shared && (!dash || shared < dash))
                        return errmsg(err, errlen, -EPERM,
                                      "%s is on a shared mount (propagation \"%.*s\" in "
                                      "/proc/self/mountinfo): a bind mount over it would show in "
                                      "other mount namespaces too; refusing (run stepdownd in the "
                                      "container's own mount namespace, or make the mount "
                                      "private)",
                                      shown, (int)strcspn(shared + 1, " "), shared + 1);
                return 0;
        }
        return errmsg(err, errlen, -ENOENT, "%s: mount %llu not found in /proc/self/mountinfo",
                      shown, (unsigned long long)sx.stx_mnt_id);
}

/* A detached bind mount of the file name at the root of the detached tmpfs
 * mnt.  Kernels that refuse to clone from a detached mount (EINVAL) get
 * the tmpfs attached for a moment at a directory that exists, cloned from
 * there, and detached again. */
static int clone_file(int mnt, const char *name, int *tree, char *err, size_t errlen)
{
        *tree = remap_force_attach ? (errno = EINVAL, -1)
                                   : open_tree(mnt, name, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (*tree >= 0)
                return 0;
        if (errno != EINVAL)
                return errmsg(err, errlen, negative_errno(), "open_tree(OPEN_TREE_CLONE): %m");
        static const char *const spots[] = {"/run", "/tmp", "/mnt", "/dev"};
        for (size_t i = 0; i < ELEMENTSOF(spots); i++) {
                struct stat st;
                if (lstat(spots[i], &st) < 0 || !S_ISDIR(st.st_mode))
                        continue;
                int r = check_private(AT_FDCWD, spots[i], spots[i], err, errlen);
                if (r < 0)
                        continue;
                if (move_mount(mnt, "", AT_FDCWD, spots[i], MOVE_MOUNT_F_EMPTY_PATH) < 0)
                        continue;
                char path[64];
                snprintf(path, sizeof(path), "%s/%s", spots[i], name);
                *tree = open_tree(AT_FDCWD, path,
                                  OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
                r = *tree < 0 ? negative_errno() : 0;
                umount2(spots[i], MNT_DETACH);
                if (r < 0)
                        return errmsg(err, errlen, r, "open_tree(%s): %m", path);
                return 0;
        }
        return errmsg(err, errlen, -EINVAL,
                      "cannot make a bind mount from a detached tmpfs on this kernel, and none of "
                      "/run, /tmp, /mnt, /dev could hold it for a moment");
}

static int bind_new(int dirfd, const char *name, const char *shown, const struct stat *st,
                    const char *text, size_t len, char *err, size_t errlen)
{
        int r = check_private(dirfd, name, shown, err, errlen);
        if (r < 0)
                return r;
        _cleanup_close_ int fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
        if (fs < 0)
                return errmsg(err, errlen, negative_errno(), "%s: fsopen(tmpfs): %m", shown);
        if (fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0755", 0) < 0 ||
            fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return errmsg(err, errlen, negative_errno(), "%s: creating a tmpfs: %m", shown);
        _cleanup_close_ int mnt =
            fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
        if (mnt < 0)
                return errmsg(err, errlen, negative_errno(), "%s: fsmount: %m", shown);
        _cleanup_close_ int fd =
            openat(mnt, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 || (r = fill(fd, st, text, len)) < 0)
                return errmsg(err, errlen, fd < 0 ? negative_errno() : r,
                              "%s: writing the new file on a tmpfs: %s", shown,
                              strerror(fd < 0 ? errno : -r));
        _cleanup_close_ int tree = -1;
        if ((r = clone_file(mnt, name, &tree, err, errlen)) < 0)
                return r;
        /* Read-only like the root it covers (best effort: kernels before
         * 5.12 have no mount_setattr). */
        struct mount_attr ma = {.attr_set = MOUNT_ATTR_RDONLY};
        (void)mount_setattr(tree, "", AT_EMPTY_PATH, &ma, sizeof(ma));
        if (move_mount(tree, "", dirfd, name, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                return errmsg(err, errlen, negative_errno(), "%s: bind mount over it: %m", shown);
        return 0;
}

/* New file beside the old one, renamed over it.  1: cannot be done here
 * (read-only directory, or the file is a mount point): bind instead. */
static int rename_new(int dirfd, const char *name, const char *shown, const struct stat *st,
                      const char *text, size_t len, char *err, size_t errlen)
{
        char tmp[NAME_MAX + 1];
        if (snprintf(tmp, sizeof(tmp), ".%s.stepdown-new", name) >= (int)sizeof(tmp))
                return errmsg(err, errlen, -ENAMETOOLONG, "%s: name too long", shown);
        if (unlinkat(dirfd, tmp, 0) < 0 && errno != ENOENT) {
                if (errno == EROFS)
                        return 1;
                return errmsg(err, errlen, negative_errno(), "%s: removing a stale %s: %m", shown,
                              tmp);
        }
        int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno == EROFS)
                return 1;
        if (fd < 0)
                return errmsg(err, errlen, negative_errno(), "%s: creating %s: %m", shown, tmp);
        int r = fill(fd, st, text, len);
        if (r == 0 && fsync(fd) < 0)
                r = negative_errno();
        if (close(fd) < 0 && r == 0)
                r = negative_errno();
        if (r == 0 && remap_force_bind)
                r = -EBUSY;
        if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
                r = negative_errno();
        if (r < 0) {
                unlinkat(dirfd, tmp, 0);
                if (r == -EBUSY)
                        return 1;
                return errmsg(err, errlen, r, "%s: writing the new file %s: %s", shown, tmp,
                              strerror(-r));
        }
        if (fsync(dirfd) < 0)
                return errmsg(err, errlen, negative_errno(), "%s: fsync of the directory: %m",
                              shown);
        return 0;
}

/* dir (resolved from "/" without symbolic links) as an O_RDONLY fd;
 * shown gets "dir/name" for messages. */
static int open_dir(const char *dir, const char *name, char *shown, size_t shownlen, int *dirfd,
                    char *err, size_t errlen)
{
        char why[512];
        _cleanup_close_ int pathfd = -1;
        snprintf(shown, shownlen, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", name);
        int r = resolve_anchor(dir, &pathfd, why, sizeof(why));
        if (r < 0)
                return errmsg(err, errlen, r, "%s: %s", shown, why);
        *dirfd = openat(pathfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (*dirfd < 0)
                return errmsg(err, errlen, negative_errno(), "%s: %m", dir);
        return 0;
}

/* 1: dirfd/name can be renamed over; 0: it would be bound (why says why). */
static int can_rename(int dirfd, const char *name, const char *shown, char *why, size_t whylen)
{
        struct statx d, f;
        struct statvfs vfs;
        if (remap_force_bind)
                return errmsg(why, whylen, 0, "%s cannot be renamed over (test)", shown);
        if (statx(dirfd, "", AT_EMPTY_PATH, STATX_MNT_ID, &d) < 0 ||
            statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &f) < 0)
                return errmsg(why, whylen, negative_errno(), "%s: statx: %m", shown);
        bool mount_root =
            (f.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
                ? (f.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0
                : ((d.stx_mask & f.stx_mask & STATX_MNT_ID) && d.stx_mnt_id != f.stx_mnt_id);
        if (mount_root)
                return errmsg(why, whylen, 0, "%s is a mount point", shown);
        if (fstatvfs(dirfd, &vfs) < 0)
                return errmsg(why, whylen, negative_errno(), "%s: statvfs: %m", shown);
        if (vfs.f_flag & ST_RDONLY)
                return errmsg(why, whylen, 0, "%s is on a read-only filesystem", shown);
        return 1;
}

int remap_in_place(const char *dir, const char *name, char *why, size_t whylen)
{
        char shown[PATH_MAX + NAME_MAX + 2];
        _cleanup_close_ int dirfd = -1;
        int r = open_dir(dir, name, shown, sizeof(shown), &dirfd, why, whylen);
        return r < 0 ? r : can_rename(dirfd, name, shown, why, whylen);
}

int remap_rewrite(const char *dir, const char *name, remap_transform fn,
                  const struct remap_ids *ids, bool may_bind, enum remap_how *how,
                  unsigned *changed, char *err, size_t errlen)
{
        char shown[PATH_MAX + NAME_MAX + 2], why[512];
        _cleanup_close_ int dirfd = -1, fd = -1;
        _cleanup_free_ char *in = NULL, *out = NULL;
        size_t outlen = 0;
        struct stat st;
        int r;

        *how = REMAP_UNCHANGED;
        *changed = 0;
        if ((r = open_dir(dir, name, shown, sizeof(shown), &dirfd, err, errlen)) < 0)
                return r;
        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0 && errno == ELOOP)
                return errmsg(err, errlen, -ELOOP,
                              "%s is a symbolic link; refusing to rewrite what it points to",
                              shown);
        if (fd < 0)
                return errmsg(err, errlen, negative_errno(), "%s: %m", shown);
        if (fstat(fd, &st) < 0)
                return errmsg(err, errlen, negative_errno(), "%s: %m", shown);
        if (!S_ISREG(st.st_mode))
                return errmsg(err, errlen, -EINVAL, "%s: not a regular file", shown);
        if ((uint64_t)st.st_size > REMAP_FILE_MAX)
                return errmsg(err, errlen, -E2BIG, "%s: larger than %u bytes", shown,
                              REMAP_FILE_MAX);
        size_t len;
        r = read_full(fd, (size_t)st.st_size + 1, &in, &len);
        if (r == -E2BIG) /* more than st_size bytes */
                return errmsg(err, errlen, -EAGAIN, "%s: grew while read", shown);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return errmsg(err, errlen, r, "%s: read: %s", shown, strerror(-r));
        if ((r = fn(in, len, ids, &out, &outlen, changed, why, sizeof(why))) < 0)
                return r == -ENOMEM ? r : errmsg(err, errlen, r, "%s: %s", shown, why);
        if (*changed == 0)
                return 0;
        if (!may_bind && (r = can_rename(dirfd, name, shown, why, sizeof(why))) <= 0)
                return errmsg(err, errlen, r < 0 ? r : -EROFS,
                              "%s; not bind-mounting it (the change would not outlive this "
                              "mount namespace)",
                              why);
        r = rename_new(dirfd, name, shown, &st, out, outlen, err, errlen);
        if (r < 0)
                return r;
        if (r == 0) {
                *how = REMAP_RENAMED;
                return 0;
        }
        if (!may_bind) /* renaming failed after all (EROFS, EBUSY) */
                return errmsg(err, errlen, -EROFS,
                              "%s cannot be renamed over; not bind-mounting it (the change "
                              "would not outlive this mount namespace)",
                              shown);
        if ((r = bind_new(dirfd, name, shown, &st, out, outlen, err, errlen)) < 0)
                return r;
        *how = REMAP_BOUND;
        return 0;
}
