/* chown below an anchor, optionally recursive.  The walk holds one
 * directory fd per level (explicit stack, bounded depth), reads each
 * directory with getdents64, stats every entry relative to its directory
 * fd without following symlinks, writes only owners that differ, changes
 * symlinks themselves, skips other mounts unless xdev, refuses hard-linked
 * regular files unless hardlinks, and strips set-uid/set-gid bits. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "op-util.h"
#include "ops.h"
#include "resolve.h"
#include "util.h"

#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif

#define DENTS_BUF (256 * 1024)
#define STATX_WANT                                                                                 \
        (STATX_TYPE | STATX_MODE | STATX_UID | STATX_GID | STATX_NLINK | STATX_INO | STATX_MNT_ID)

struct frame {
        int fd;
        const char *self; /* name in the parent frame's arena; "" for the root */
        char *names;      /* pending subdirectory names, NUL-separated */
        size_t len, cap, pos;
};

struct walk {
        uid_t uid;
        gid_t gid;
        const struct op_chown_from *from; /* NULL: every entry */
        bool xdev, hardlinks;
        struct mount_key root;
        struct op_stats *st;
        const char *path;
        struct frame *stack;
        size_t depth, cap;
        char *buf;
        char *err;
        size_t errlen;
};

/* "root/a/b/name" for a message about name in the top frame. */
static const char *entry_path(struct walk *w, const char *name, char *buf, size_t len)
{
        op_join(buf, len, w->path, "");
        if (w->depth == 0) /* the target itself */
                return buf;
        for (size_t i = 1; i < w->depth; i++) {
                char tmp[PATH_MAX + NAME_MAX + 2];
                snprintf(tmp, sizeof(tmp), "%s", buf);
                op_join(buf, len, tmp, w->stack[i].self);
        }
        if (name) {
                char tmp[PATH_MAX + NAME_MAX + 2];
                snprintf(tmp, sizeof(tmp), "%s", buf);
                op_join(buf, len, tmp, name);
        }
        return buf;
}

static int walk_fail(struct walk *w, const char *name, int r, const char *why, int cap)
{
        char p[PATH_MAX + NAME_MAX + 2];
        return op_fail(w->err, w->errlen, "chown", entry_path(w, name, p, sizeof(p)), r, why, cap);
}

/* The owner an entry that has uid:gid gets ((uid_t)-1 / (gid_t)-1: kept). */
static uid_t new_uid(const struct walk *w, uid_t uid)
{
        return w->from && w->from->uid != uid ? (uid_t)-1 : w->uid;
}

static gid_t new_gid(const struct walk *w, gid_t gid)
{
        return w->from && w->from->gid != gid ? (gid_t)-1 : w->gid;
}

static bool needs_change(const struct walk *w, uid_t uid, gid_t gid)
{
        uid_t u = new_uid(w, uid);
        gid_t g = new_gid(w, gid);
        return (u != (uid_t)-1 && u != uid) || (g != (gid_t)-1 && g != gid);
}

static int refuse_hardlink(struct walk *w, const char *name, nlink_t n)
{
        char why[256];
        snprintf(why, sizeof(why),
                 "regular file has %lu hard links; another name may be outside the tree "
                 "(e.g. /etc/shadow), so its owner is not changed (a rule with \"hardlinks\" "
                 "allows it)",
                 (unsigned long)n);
        return walk_fail(w, name, -EMLINK, why, -1);
}

/* Changes the entry behind fd (any kind of fd, O_PATH included); name in
 * dirfd is only used to reopen it for the set-uid strip where needed. */
static int chown_fd(struct walk *w, int dirfd, const char *name, int fd, const struct stat *st)
{
        if (!needs_change(w, st->st_uid, st->st_gid))
                return 0;
        if (S_ISREG(st->st_mode) && st->st_nlink > 1 && !w->hardlinks)
                return refuse_hardlink(w, name, st->st_nlink);
        if (fchownat(fd, "", new_uid(w, st->st_uid), new_gid(w, st->st_gid),
                     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
                return walk_fail(w, name, negative_errno(), NULL, CAP_CHOWN);
        w->st->changed++;
        if (!S_ISREG(st->st_mode) || !(st->st_mode & (S_ISUID | S_ISGID)))
                return 0;
        /* The kernel clears S_ISUID, and S_ISGID only together with g+x;
         * clear whatever is left explicitly. */
        struct stat now;
        if (fstat(fd, &now) < 0)
                return walk_fail(w, name, negative_errno(), NULL, -1);
        if (!(now.st_mode & (S_ISUID | S_ISGID)))
                return 0;
        int r = op_fchmod(dirfd, name, fd, &now, now.st_mode & 01777);
        return r < 0 ? walk_fail(w, name, r, "cannot clear set-uid/set-gid", CAP_FOWNER) : 0;
}

static void statx_to_stat(const struct statx *sx, struct stat *st)
{
        *st = (struct stat){
            .st_mode = sx->stx_mode,
            .st_uid = sx->stx_uid,
            .st_gid = sx->stx_gid,
            .st_nlink = sx->stx_nlink,
            .st_ino = sx->stx_ino,
            .st_dev = makedev(sx->stx_dev_major, sx->stx_dev_minor),
        };
}

static bool same_mount(const struct walk *w, const struct statx *sx)
{
        if (w->xdev)
                return true;
        struct mount_key k = {.dev = makedev(sx->stx_dev_major, sx->stx_dev_minor)};
        if (sx->stx_mask & STATX_MNT_ID) {
                k.mnt_id = sx->stx_mnt_id;
                k.has_mnt_id = true;
        }
        return mount_key_equal(&w->root, &k);
}

/* A non-directory entry: changed by name, never followed.  A set-uid or
 * set-gid file goes through an fd so the strip hits the same inode. */
static int visit_file(struct walk *w, int dirfd, const char *name, const struct statx *sx)
{
        if (!same_mount(w, sx) || !needs_change(w, sx->stx_uid, sx->stx_gid))
                return 0;
        if (S_ISREG(sx->stx_mode) && sx->stx_nlink > 1 && !w->hardlinks)
                return refuse_hardlink(w, name, sx->stx_nlink);
        if (S_ISREG(sx->stx_mode) && (sx->stx_mode & (S_ISUID | S_ISGID))) {
                _cleanup_close_ int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                struct stat st;
                if (fd < 0 || fstat(fd, &st) < 0)
                        return errno == ENOENT ? 0 : walk_fail(w, name, negative_errno(), NULL, -1);
                return chown_fd(w, dirfd, name, fd, &st);
        }
        if (fchownat(dirfd, name, new_uid(w, sx->stx_uid), new_gid(w, sx->stx_gid),
                     AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : walk_fail(w, name, negative_errno(), NULL, CAP_CHOWN);
        w->st->changed++;
        return 0;
}

static int push(struct walk *w, int fd, const char *self)
{
        if (w->depth >= OP_CHOWN_MAX_DEPTH) {
                safe_close(fd);
                return walk_fail(w, self, -ELOOP,
                                 "tree is deeper than 4096 levels; refusing to descend further",
                                 -1);
        }
        if (w->depth == w->cap) {
                size_t cap = w->cap ? w->cap * 2 : 16;
                struct frame *s = realloc(w->stack, cap * sizeof(*s));
                if (!s) {
                        safe_close(fd);
                        return -ENOMEM;
                }
                w->stack = s;
                w->cap = cap;
        }
        w->stack[w->depth++] = (struct frame){.fd = fd, .self = self};
        return 0;
}

static void pop(struct walk *w)
{
        struct frame *f = &w->stack[--w->depth];
        safe_close(f->fd);
        free(f->names);
}

static int remember_dir(struct frame *f, const char *name)
{
        size_t n = strlen(name) + 1;
        if (f->len + n > f->cap) {
                size_t cap = f->cap ? f->cap * 2 : 4096;
                while (cap < f->len + n)
                        cap *= 2;
                char *p = realloc(f->names, cap);
                if (!p)
                        return -ENOMEM;
                f->names = p;
                f->cap = cap;
        }
        memcpy(f->names + f->len, name, n);
        f->len += n;
        return 0;
}

/* Reads the top frame's directory: files are handled now, subdirectories
 * remembered for later so only one getdents buffer is needed. */
static int read_dir(struct walk *w)
{
        struct frame *f = &w->stack[w->depth - 1];
        for (;;) {
                ssize_t n = getdents64(f->fd, w->buf, DENTS_BUF);
                if (n < 0)
                        return walk_fail(w, NULL, negative_errno(), NULL, -1);
                if (n == 0)
                        return 0;
                for (ssize_t off = 0; off < n;) {
                        struct dirent64 *d = (struct dirent64 *)(w->buf + off);
                        off += d->d_reclen;
                        const char *name = d->d_name;
                        if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2])))
                                continue;
                        if (w->st->max_visited && w->st->visited >= w->st->max_visited)
                                return walk_fail(w, NULL, -E2BIG,
                                                 "stopped: the tree has more entries than one "
                                                 "request may walk (the broker's "
                                                 "--max-chown-entries); the entries already "
                                                 "changed keep their new owner",
                                                 -1);
                        w->st->visited++;
                        struct statx sx;
                        if (statx(f->fd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_WANT,
                                  &sx) < 0) {
                                if (errno == ENOENT)
                                        continue;
                                return walk_fail(w, name, negative_errno(), NULL, -1);
                        }
                        int r = S_ISDIR(sx.stx_mode)
                                    ? (same_mount(w, &sx) ? remember_dir(f, name) : 0)
                                    : visit_file(w, f->fd, name, &sx);
                        if (r < 0)
                                return r;
                }
        }
}

/* Opens subdirectory name of the top frame, changes it and pushes it. */
static int enter_dir(struct walk *w, const char *name)
{
        int dirfd = w->stack[w->depth - 1].fd;
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
                int r = negative_errno();
                if (r == -ENOENT)
                        return 0;
                if (r == -EMFILE)
                        return walk_fail(w, name, r,
                                         "too many open files (the walk keeps one descriptor "
                                         "per directory level)",
                                         -1);
                if (r != -ELOOP && r != -ENOTDIR)
                        return walk_fail(w, name, r, NULL, -1);
                /* Replaced by a non-directory since it was read: handle
                 * it as what it is now, without following it. */
                struct statx sx;
                if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_WANT, &sx) < 0)
                        return errno == ENOENT ? 0 : walk_fail(w, name, negative_errno(), NULL, -1);
                if (S_ISDIR(sx.stx_mode))
                        return walk_fail(w, name, -EAGAIN, "changed repeatedly during the walk",
                                         -1);
                return visit_file(w, dirfd, name, &sx);
        }
        struct statx sx;
        struct stat st;
        if (statx(fd, "", AT_EMPTY_PATH, STATX_WANT, &sx) < 0) {
                int r = negative_errno();
                safe_close(fd);
                return walk_fail(w, name, r, NULL, -1);
        }
        if (!same_mount(w, &sx)) {
                safe_close(fd);
                return 0;
        }
        statx_to_stat(&sx, &st);
        int r = chown_fd(w, dirfd, name, fd, &st);
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        r = push(w, fd, name);
        return r < 0 ? r : read_dir(w);
}

static int walk_tree(struct walk *w, int rootfd)
{
        int r = push(w, rootfd, "");
        if (r < 0)
                return r;
        r = read_dir(w);
        while (r >= 0 && w->depth > 0) {
                struct frame *f = &w->stack[w->depth - 1];
                if (f->pos >= f->len) {
                        pop(w);
                        continue;
                }
                const char *name = f->names + f->pos;
                f->pos += strlen(name) + 1;
                r = enter_dir(w, name);
        }
        while (w->depth > 0)
                pop(w);
        return r < 0 ? r : 0;
}

int op_chown(const char *anchor, const char *rest, uid_t uid, gid_t gid, bool recursive, bool xdev,
             bool hardlinks, struct op_stats *st, char *err, size_t errlen)
{
        return op_chown_from(anchor, rest, uid, gid, NULL, recursive, xdev, hardlinks, st, err,
                             errlen);
}

int op_chown_from(const char *anchor, const char *rest, uid_t uid, gid_t gid,
                  const struct op_chown_from *from, bool recursive, bool xdev, bool hardlinks,
                  struct op_stats *st, char *err, size_t errlen)
{
        struct op_stats dummy = {0};
        if (!st)
                st = &dummy;
        *st = (struct op_stats){.max_visited = st->max_visited};

        _cleanup_(op_target_done) struct op_target t;
        int r = op_target_init(&t, "chown", anchor, rest, xdev, err, errlen);
        if (r < 0)
                return r;
        _cleanup_close_ int pfd = -1;
        struct stat top;
        r = op_target_open(&t, "chown", xdev, &pfd, &top, err, errlen);
        if (r == -ENOENT)
                return op_fail(err, errlen, "chown", t.path, r, NULL, -1);
        if (r < 0)
                return r;

        struct walk w = {
            .uid = uid,
            .gid = gid,
            .from = from,
            .xdev = xdev,
            .hardlinks = hardlinks,
            .st = st,
            .path = t.path,
            .err = err,
            .errlen = errlen,
        };
        st->visited = 1;
        if (!recursive || !S_ISDIR(top.st_mode))
                return chown_fd(&w, t.parent_fd, t.name, pfd, &top);

        int rootfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return op_fail(err, errlen, "chown", t.path, negative_errno(), NULL, -1);
        r = fd_mount_key(rootfd, &w.root);
        if (r < 0) {
                safe_close(rootfd);
                return op_fail(err, errlen, "chown", t.path, r, NULL, -1);
        }
        r = chown_fd(&w, t.parent_fd, t.name, rootfd, &top);
        if (r < 0) {
                safe_close(rootfd);
                return r;
        }
        w.buf = malloc(DENTS_BUF);
        if (!w.buf) {
                safe_close(rootfd);
                return op_fail(err, errlen, "chown", t.path, -ENOMEM, NULL, -1);
        }
        r = walk_tree(&w, rootfd);
        free(w.buf);
        free(w.stack);
        return r;
}
