/* chown below an anchor, optionally recursive.
 *
 * Root acts on the object it checked.  The walk reads each directory with
 * getdents64 and looks at every entry with statx by name (no following):
 * that is only a filter, so an entry that is already right costs one
 * system call and is never written.  An entry that needs a change is
 * opened O_PATH|O_NOFOLLOW relative to its directory fd, checked again on
 * that fd (type, owner, link count, mount) and changed through it
 * (fchownat(fd, "", AT_EMPTY_PATH)); a name swapped after the filter (a
 * hard link to a file outside the tree, a symlink) is seen by the fd check
 * or is simply the object changed.  Directories are opened O_DIRECTORY|
 * O_NOFOLLOW, checked, changed and read through that same fd.
 *
 * Any depth: the walk keeps an explicit stack (no recursion on the C
 * stack) of directory frames, each with the names of its subdirectories
 * still to visit.  At most OP_CHOWN_HELD_FDS frames hold an fd (the root
 * and the deepest ones); a frame let go is re-opened by name, level by
 * level, from the root (never through ".."), each level
 * checked to be the directory it was (device, inode, mount).  One that
 * moved is not walked further: reported and counted when the caller
 * asked for reports, else the walk fails with EAGAIN.
 *
 * Regular files with several hard links that need a change are refused
 * unless hardlinks (another name may be outside the tree), set-uid and
 * set-gid bits are stripped where an owner changes, other mounts are
 * skipped unless xdev. */
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
        int fd;    /* -1 while let go (deep walks) */
        dev_t dev; /* identity, checked when re-opened */
        ino_t ino;
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
        size_t low; /* frames 1..low-1 are let go; low..depth-1 hold fds */
        char *buf;
        char *err;
        size_t errlen;
};

/* Prepends "/c" to the tail being built backwards in tail[*t..]. */
static bool prepend(char *tail, size_t *t, const char *c)
{
        size_t n = strlen(c);
        if (n + 1 > *t)
                return false;
        *t -= n;
        memcpy(tail + *t, c, n);
        tail[--*t] = '/';
        return true;
}

/* "root/a/b[/name]" for a message about frame level (or name in it).  A
 * very deep path keeps its head and its last components. */
static const char *frame_path(struct walk *w, size_t level, const char *name, char *buf, size_t len)
{
        char tail[1024];
        size_t t = sizeof(tail) - 1;
        tail[t] = '\0';
        bool ok = !name || !name[0] || prepend(tail, &t, name);
        for (size_t i = level; ok && i >= 1; i--)
                ok = prepend(tail, &t, w->stack[i].self);
        size_t n = strlen(w->path);
        bool slash = n > 0 && w->path[n - 1] == '/';
        snprintf(buf, len, "%.*s%s%s", (int)(slash ? n - 1 : n), w->path, ok ? "" : "/...",
                 tail + t);
        return buf;
}

static const char *entry_path(struct walk *w, const char *name, char *buf, size_t len)
{
        if (w->depth == 0)
                return op_join(buf, len, w->path, "");
        return frame_path(w, w->depth - 1, name, buf, len);
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

/* An entry that is left alone: reported and counted when the caller asked
 * for reports, else the operation fails with r. */
static int skip_or_fail(struct walk *w, const char *name, uint64_t *counter, int r, const char *why)
{
        if (!w->st->report)
                return walk_fail(w, name, r, why, -1);
        char p[PATH_MAX + NAME_MAX + 2];
        (*counter)++;
        w->st->report(w->st->arg, entry_path(w, name, p, sizeof(p)), why);
        return 0;
}

static int refuse_hardlink(struct walk *w, const char *name, nlink_t n)
{
        char why[256];
        snprintf(why, sizeof(why),
                 "regular file has %lu hard links; another name may be outside the tree "
                 "(e.g. /etc/shadow), so its owner is not changed (a rule with \"hardlinks\" "
                 "allows it)",
                 (unsigned long)n);
        /* the target itself (not an entry below it) is refused outright,
         * like a symlink there */
        if (w->depth == 0)
                return walk_fail(w, name, -EMLINK, why, -1);
        return skip_or_fail(w, name, &w->st->skipped_hardlinks, -EMLINK, why);
}

/* Changes the entry behind fd (any kind of fd, O_PATH included), which st
 * describes (from that fd); name in dirfd is only used by op_fchmod to
 * reopen it, verified, for the set-uid strip where fchmodat2 is missing. */
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

/* An entry that needs a change (or, direct, may): opened
 * O_PATH|O_NOFOLLOW, checked and changed through that fd.  *direct (may be
 * NULL) says whether it needed a change, so the next entry skips the
 * filter. */
static int visit_file(struct walk *w, struct frame *f, const char *name, bool again, bool *direct)
{
        _cleanup_close_ int fd = openat(f->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : walk_fail(w, name, negative_errno(), NULL, -1);
        struct statx sx;
        if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_WANT, &sx) <
            0)
                return walk_fail(w, name, negative_errno(), NULL, -1);
        if (!same_mount(w, &sx))
                return 0;
        if (S_ISDIR(sx.stx_mode) && again) /* flips between types: an attack */
                return skip_or_fail(w, name, &w->st->skipped_moved, -EAGAIN,
                                    "changed type repeatedly during the walk; not walked");
        if (S_ISDIR(sx.stx_mode)) /* a directory: walked later, like the others */
                return remember_dir(f, name);
        bool change = needs_change(w, sx.stx_uid, sx.stx_gid);
        if (direct)
                *direct = change;
        if (!change)
                return 0;
        struct stat st;
        statx_to_stat(&sx, &st);
        return chown_fd(w, f->fd, name, fd, &st);
}

static void progress(struct walk *w)
{
        if (w->st->progress && (w->st->visited % OP_PROGRESS_EVERY) == 0)
                w->st->progress(w->st->arg, w->st);
}

/* Reads the top frame's directory: files are handled now, subdirectories
 * remembered for later so only one getdents buffer is needed. */
static int read_dir(struct walk *w)
{
        struct frame *f = &w->stack[w->depth - 1];
        bool direct = false;
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
                        progress(w);
                        /* The filter: statx by name spots entries that
                         * need nothing (one system call, nothing written).
                         * While entries keep needing a change, go straight
                         * to the fd check, which has to be made anyway. */
                        int r = 0;
                        if (direct) {
                                r = visit_file(w, f, name, false, &direct);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        struct statx sx;
                        if (statx(f->fd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_WANT,
                                  &sx) < 0) {
                                if (errno == ENOENT)
                                        continue;
                                return walk_fail(w, name, negative_errno(), NULL, -1);
                        }
                        if (!same_mount(w, &sx))
                                continue;
                        if (S_ISDIR(sx.stx_mode))
                                r = remember_dir(f, name);
                        else if (needs_change(w, sx.stx_uid, sx.stx_gid))
                                r = visit_file(w, f, name, false, &direct);
                        if (r < 0)
                                return r;
                }
        }
}

static void let_go(struct walk *w, size_t i)
{
        w->stack[i].fd = safe_close(w->stack[i].fd);
}

/* Keeps at most OP_CHOWN_HELD_FDS frames (the root and the deepest) open. */
static void bound_fds(struct walk *w)
{
        while (w->depth > w->low && w->depth - w->low + 1 > OP_CHOWN_HELD_FDS)
                let_go(w, w->low++);
}

static int push(struct walk *w, int fd, const char *self, const struct statx *sx)
{
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
        w->stack[w->depth++] = (struct frame){
            .fd = fd,
            .self = self,
            .dev = makedev(sx->stx_dev_major, sx->stx_dev_minor),
            .ino = sx->stx_ino,
        };
        bound_fds(w);
        return 0;
}

static void pop(struct walk *w)
{
        struct frame *f = &w->stack[--w->depth];
        safe_close(f->fd);
        free(f->names);
        if (w->low > w->depth)
                w->low = w->depth;
}

/* The top frame was let go and still has subdirectories to visit: open
 * the levels from the root down again by name, each checked to be the
 * directory it was.  One that is not: the frames from there down are not
 * walked further (reported) and 0 is returned. */
static int reopen_top(struct walk *w)
{
        size_t top = w->depth - 1;
        /* keep the deepest OP_CHOWN_HELD_FDS - 1 of the re-opened levels */
        size_t keep = top + 2 > OP_CHOWN_HELD_FDS ? top + 2 - OP_CHOWN_HELD_FDS : 1;
        for (size_t i = 1; i <= top; i++) {
                struct frame *p = &w->stack[i - 1], *f = &w->stack[i];
                int fd;
                for (;;) {
                        fd = openat(p->fd, f->self, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        /* out of fds: hold fewer of the re-opened levels */
                        if (fd >= 0 || errno != EMFILE || keep + 1 >= i)
                                break;
                        let_go(w, keep++);
                }
                struct statx sx;
                bool same = fd >= 0 &&
                            statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
                                  STATX_WANT, &sx) == 0 &&
                            S_ISDIR(sx.stx_mode) && same_mount(w, &sx) &&
                            makedev(sx.stx_dev_major, sx.stx_dev_minor) == f->dev &&
                            sx.stx_ino == f->ino;
                if (!same) {
                        safe_close(fd);
                        /* frames i..top stay let go; they are popped next */
                        w->low = keep < i ? keep : i;
                        char p2[PATH_MAX + NAME_MAX + 2];
                        frame_path(w, i, NULL, p2, sizeof(p2));
                        for (size_t j = i; j <= top; j++)
                                w->stack[j].pos = w->stack[j].len;
                        const char *why = "was moved or replaced during the walk; what is below "
                                          "it was not walked";
                        if (!w->st->report)
                                return op_fail(w->err, w->errlen, "chown", p2, -EAGAIN, why, -1);
                        w->st->skipped_moved++;
                        w->st->report(w->st->arg, p2, why);
                        return 0;
                }
                f->fd = fd;
                if (i - 1 >= 1 && i - 1 < keep)
                        let_go(w, i - 1);
        }
        w->low = keep;
        return 0;
}

/* Opens subdirectory name of the top frame, changes it and pushes it. */
static int enter_dir(struct walk *w, const char *name)
{
        int dirfd = w->stack[w->depth - 1].fd;
        int fd;
        for (;;) {
                fd = openat(dirfd, name,
                            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
                /* out of fds: let go of one more ancestor and try again */
                if (fd >= 0 || errno != EMFILE || w->low + 1 >= w->depth)
                        break;
                let_go(w, w->low++);
        }
        if (fd < 0) {
                int r = negative_errno();
                if (r == -ENOENT)
                        return 0;
                if (r == -EMFILE)
                        return walk_fail(w, name, r, "too many open files", -1);
                if (r != -ELOOP && r != -ENOTDIR)
                        return walk_fail(w, name, r, NULL, -1);
                /* Replaced by a non-directory since it was read: handle
                 * it as what it is now, through an fd, never followed. */
                return visit_file(w, &w->stack[w->depth - 1], name, true, NULL);
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
        r = push(w, fd, name, &sx);
        return r < 0 ? r : read_dir(w);
}

static int walk_tree(struct walk *w, int rootfd, const struct statx *rsx)
{
        int r = push(w, rootfd, "", rsx);
        if (r < 0)
                return r;
        w->low = 1;
        r = read_dir(w);
        while (r >= 0 && w->depth > 0) {
                struct frame *f = &w->stack[w->depth - 1];
                if (f->pos >= f->len) {
                        pop(w);
                        continue;
                }
                if (f->fd < 0) {
                        r = reopen_top(w);
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
        st->visited = st->changed = st->skipped_hardlinks = st->skipped_moved = 0;

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
        struct statx rsx;
        r = fd_mount_key(rootfd, &w.root);
        if (r == 0 && statx(rootfd, "", AT_EMPTY_PATH, STATX_WANT, &rsx) < 0)
                r = negative_errno();
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
        r = walk_tree(&w, rootfd, &rsx);
        free(w.buf);
        free(w.stack);
        return r;
}
