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
 * The entries' O_PATH fds are closed in batches (close_range over runs
 * of the fds the walker opened), which saves a system call per entry.
 *
 * Regular files with several hard links that need a change are refused
 * unless hardlinks (another name may be outside the tree), set-uid and
 * set-gid bits are stripped where an owner changes, other mounts are
 * skipped unless xdev.
 *
 * Parallel walk (st->threads > 1): the calling thread and up to
 * threads - 1 others each run the walk above on a subtree of their own.
 * A walker that enters a directory while another walker waits for work
 * hands it over instead: opened, checked and changed exactly as it would
 * have walked it, the fd passes to the other walker, which walks it as
 * its root (re-opens of let-go levels start there).  Each walker thread
 * has an fd table of its own (unshare(CLONE_FILES)), so the fd travels
 * through a socket pair (SCM_RIGHTS); in a table threads share, every
 * call on an fd takes a reference on the file and every open and close
 * takes the table's lock, which cost the two-thread walk ~6%.  At most one
 * directory per waiting walker is queued (the pending one nearest the
 * root, the largest share), so memory and fds stay bounded
 * (each walker holds OP_CHOWN_HELD_FDS / threads levels).  The counts are
 * shared (atomic), so the totals do not depend on the thread count;
 * max_visited stays exact; progress and report calls are serialized; the
 * first error stops every walker and is the one returned. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fdpass.h"
#include "log.h"
#include "op-util.h"
#include "ops.h"
#include "resolve.h"
#include "uring.h"
#include "util.h"

#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif

#define DENTS_BUF      (256 * 1024)
#define FD_STATX_FLAGS (AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT)
#define STATX_WANT                                                                                 \
        (STATX_TYPE | STATX_MODE | STATX_UID | STATX_GID | STATX_NLINK | STATX_INO | STATX_MNT_ID)

/* Entries a walker opens at once through its ring. */
#define BATCH 128

struct frame {
        int fd;    /* -1 while let go (deep walks) */
        dev_t dev; /* identity, checked when re-opened */
        ino_t ino;
        const char *self; /* name in the parent frame's arena; "" for the root */
        char *names;      /* pending subdirectory names, NUL-separated */
        size_t len, cap, pos;
};

struct pool;

struct walk {
        struct pool *pool; /* NULL: one thread */
        size_t held;       /* directory fds held at most */
        uid_t uid;
        gid_t gid;
        const struct op_chown_from *from; /* NULL: every entry */
        bool xdev, hardlinks;
        struct mount_key root;
        struct op_stats *st;
        const char *path;
        struct frame *stack;
        size_t depth, cap;
        size_t low;          /* frames 1..low-1 are let go; low..depth-1 hold fds */
        size_t at;           /* messages name entries of frame at - 1 (0: the top one) */
        int pend[64], npend; /* O_PATH fds still to close (CLOSE_RUN at most) */
        char *buf;
        char *err;
        size_t errlen;
        struct uring *ring;          /* NULL: plain system calls */
        const char **names;          /* BATCH queued entries, with a ring */
        int res[BATCH];              /* the ring's results */
        uint64_t lvisited, lchanged; /* counted here, not yet in st (COUNT_RUN) */
};

/* A directory opened, checked and changed by one walker, to be read and
 * walked by another. */
struct job {
        int fd;
        dev_t dev;
        ino_t ino;
        char *path;
};

struct pool {
        pthread_mutex_t mu;
        pthread_cond_t cv;
        struct job *q; /* at most threads jobs, first in first out */
        /* The queued jobs' fds ride in [0] -> [1] (SCM_RIGHTS), in queue
         * order: each walker thread has its own fd table.  -1: no socket
         * pair, the threads share the caller's table and the fds are
         * in the queue. */
        int sock[2];
        size_t qlen;
        unsigned threads, idle; /* walkers, those waiting for a job */
        unsigned reserved;      /* jobs being prepared for them */
        bool done, stop;
        int r; /* the first error; its message is in err */
        char *err;
        size_t errlen;
        struct walk proto; /* settings every walker copies */
};

/* Visits a walker of a pool counts on its own before adding them to the
 * shared counts (one atomic add instead of one per entry: the shared
 * line no longer bounces between CPUs at every entry).  Not with
 * max_visited, which stays exact entry by entry. */
#define COUNT_RUN 64

static void add(struct walk *w, uint64_t *counter)
{
        if (w->pool && counter == &w->st->changed && !w->st->max_visited) {
                w->lchanged++;
                return;
        }
        if (w->pool)
                __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
        else
                (*counter)++;
}

static void lock(struct walk *w)
{
        if (w->pool)
                pthread_mutex_lock(&w->pool->mu);
}

static void unlock(struct walk *w)
{
        if (w->pool)
                pthread_mutex_unlock(&w->pool->mu);
}

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
        return frame_path(w, w->at ? w->at - 1 : w->depth - 1, name, buf, len);
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
        entry_path(w, name, p, sizeof(p));
        lock(w);
        add(w, counter);
        w->st->report(w->st->arg, p, why);
        unlock(w);
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
        add(w, &w->st->changed);
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
static int judge_file(struct walk *w, struct frame *f, const char *name, int fd,
                      const struct statx *sx, bool again, bool *direct)
{
        if (!same_mount(w, sx))
                return 0;
        if (S_ISDIR(sx->stx_mode) && again) /* flips between types: an attack */
                return skip_or_fail(w, name, &w->st->skipped_moved, -EAGAIN,
                                    "changed type repeatedly during the walk; not walked");
        if (S_ISDIR(sx->stx_mode)) /* a directory: walked later, like the others */
                return remember_dir(f, name);
        bool change = needs_change(w, sx->stx_uid, sx->stx_gid);
        if (direct)
                *direct = change;
        if (!change)
                return 0;
        struct stat st;
        statx_to_stat(sx, &st);
        return chown_fd(w, f->fd, name, fd, &st);
}

static int check_file(struct walk *w, struct frame *f, const char *name, int fd, bool again,
                      bool *direct)
{
        struct statx sx;
        if (statx(fd, "", FD_STATX_FLAGS, STATX_WANT, &sx) < 0)
                return walk_fail(w, name, negative_errno(), NULL, -1);
        return judge_file(w, f, name, fd, &sx, again, direct);
}

/* The O_PATH fds of the entries are closed in batches: the fds this
 * walker opened (only those, whatever other threads open), sorted, each
 * run of consecutive numbers closed by one close_range() (one system call
 * for many entries instead of one each). */
#define CLOSE_RUN 64

static int cmp_fd(const void *a, const void *b)
{
        return *(const int *)a - *(const int *)b;
}

static void close_run(struct walk *w)
{
        qsort(w->pend, w->npend, sizeof(w->pend[0]), cmp_fd);
        for (int i = 0, j; i < w->npend; i = j) {
                for (j = i + 1; j < w->npend && w->pend[j] == w->pend[j - 1] + 1;)
                        j++;
                if (j - i == 1 ||
                    close_range((unsigned)w->pend[i], (unsigned)w->pend[j - 1], 0) < 0)
                        for (int k = i; k < j; k++)
                                close(w->pend[k]);
        }
        w->npend = 0;
}

static void close_later(struct walk *w, int fd)
{
        w->pend[w->npend++] = fd;
        if (w->npend == CLOSE_RUN)
                close_run(w);
}

static int visit_file(struct walk *w, struct frame *f, const char *name, bool again, bool *direct)
{
        int fd = openat(f->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == EMFILE && w->npend > 0) { /* give back the batch's fds */
                close_run(w);
                fd = openat(f->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        }
        if (fd < 0)
                return errno == ENOENT ? 0 : walk_fail(w, name, negative_errno(), NULL, -1);
        int r = check_file(w, f, name, fd, again, direct);
        close_later(w, fd);
        return r;
}

/* Progress of a pool at visited entries (a multiple of
 * OP_PROGRESS_EVERY): what the walkers counted so far, as one thread
 * would see it there. */
static void pool_progress(struct walk *w, uint64_t visited)
{
        struct op_stats *st = w->st;
        pthread_mutex_lock(&w->pool->mu);
        struct op_stats now = {
            .visited = visited,
            .changed = __atomic_load_n(&st->changed, __ATOMIC_RELAXED),
            .max_visited = st->max_visited,
            .skipped_hardlinks = __atomic_load_n(&st->skipped_hardlinks, __ATOMIC_RELAXED),
            .skipped_moved = __atomic_load_n(&st->skipped_moved, __ATOMIC_RELAXED),
            .report = st->report,
            .progress = st->progress,
            .arg = st->arg,
            .threads = st->threads,
        };
        st->progress(st->arg, &now);
        pthread_mutex_unlock(&w->pool->mu);
}

/* Adds what a walker of a pool counted on its own to the shared counts;
 * the progress call for a multiple of OP_PROGRESS_EVERY the visits pass
 * (COUNT_RUN < OP_PROGRESS_EVERY: at most one). */
static void flush_counts(struct walk *w)
{
        struct op_stats *st = w->st;
        if (w->lchanged)
                __atomic_fetch_add(&st->changed, w->lchanged, __ATOMIC_RELAXED);
        w->lchanged = 0;
        uint64_t n = w->lvisited;
        w->lvisited = 0;
        if (n == 0)
                return;
        uint64_t v = __atomic_fetch_add(&st->visited, n, __ATOMIC_RELAXED);
        if (st->progress && (v + n) / OP_PROGRESS_EVERY > v / OP_PROGRESS_EVERY)
                pool_progress(w, (v + n) / OP_PROGRESS_EVERY * OP_PROGRESS_EVERY);
}

/* Counts one more entry visited: 0, or -E2BIG past max_visited (exact
 * whatever the thread count: the count is taken atomically), or
 * -ECANCELED when another walker failed. */
static int visit(struct walk *w)
{
        struct op_stats *st = w->st;
        uint64_t v;
        if (w->pool) {
                if (__atomic_load_n(&w->pool->stop, __ATOMIC_RELAXED))
                        return -ECANCELED;
                if (!st->max_visited) {
                        if (++w->lvisited >= COUNT_RUN)
                                flush_counts(w);
                        return 0;
                }
                v = __atomic_fetch_add(&st->visited, 1, __ATOMIC_RELAXED);
        } else
                v = st->visited++;
        if (st->max_visited && v >= st->max_visited)
                return walk_fail(w, NULL, -E2BIG,
                                 "stopped: the tree has more entries than one request may walk "
                                 "(the broker's --max-chown-entries); the entries already "
                                 "changed keep their new owner",
                                 -1);
        if (!st->progress || (v + 1) % OP_PROGRESS_EVERY != 0)
                return 0;
        if (w->pool)
                pool_progress(w, v + 1);
        else
                st->progress(st->arg, st);
        return 0;
}

static int read_entries(struct walk *w);

/* Reads the top frame's directory: files are handled now, subdirectories
 * remembered for later so only one getdents buffer is needed. */
static int read_dir(struct walk *w)
{
        int r = read_entries(w);
        close_run(w);
        return r;
}

/* With a ring (setup steps, where io_uring is allowed), the entries that
 * read_entries() would open one by one in direct mode are queued and
 * opened O_PATH|O_NOFOLLOW BATCH at a time in one submission (the opens
 * complete inline, without the ring's worker threads); each is then
 * checked on its fd and changed through it exactly as visit_file() does,
 * and the fds go in close_range() runs.  That spares one system call per
 * entry.  (statx goes through the ring's worker threads, which costs more
 * than the call it saves: it stays a plain call.)  An open that fails
 * other than ENOENT is redone as a plain one, with its own message
 * (EMFILE gives back fds there).  *direct: whether the last entry needed
 * a change. */
static int run_batch(struct walk *w, struct frame *f, size_t n, bool *direct)
{
        const char **names = w->names;
        for (size_t i = 0; i < n; i++) {
                struct io_uring_sqe *e = uring_sqe(w->ring, i);
                e->opcode = IORING_OP_OPENAT;
                e->fd = f->fd;
                e->addr = (uintptr_t)names[i];
                e->open_flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
                w->res[i] = -EIO;
        }
        int r = uring_run(w->ring, w->res);
        if (r < 0)
                r = walk_fail(w, NULL, r, "io_uring", -1);
        uint64_t opened = 0;
        for (size_t i = 0; i < n; i++)
                opened += w->res[i] >= 0;
        if (w->pool)
                __atomic_fetch_add(&w->st->batched, opened, __ATOMIC_RELAXED);
        else
                w->st->batched += opened;
        for (size_t i = 0; i < n; i++) {
                int fd = w->res[i];
                if (r < 0 || fd == -ENOENT)
                        ;
                else if (fd < 0) {
                        close_run(w);
                        r = visit_file(w, f, names[i], false, direct);
                } else
                        r = check_file(w, f, names[i], fd, false, direct);
                if (fd >= 0)
                        close_later(w, fd);
        }
        return r;
}

static int read_entries(struct walk *w)
{
        struct frame *f = &w->stack[w->depth - 1];
        bool direct = false;
        for (;;) {
                ssize_t n = getdents64(f->fd, w->buf, DENTS_BUF);
                if (n < 0)
                        return walk_fail(w, NULL, negative_errno(), NULL, -1);
                if (n == 0)
                        return 0;
                size_t k = 0; /* entries queued for run_batch() */
                int r = 0;
                for (ssize_t off = 0; off < n && r >= 0;) {
                        struct dirent64 *d = (struct dirent64 *)(w->buf + off);
                        off += d->d_reclen;
                        const char *name = d->d_name;
                        if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2])))
                                continue;
                        r = visit(w);
                        if (r < 0)
                                break;
                        /* The filter: statx by name spots entries that
                         * need nothing (one system call, nothing written).
                         * While entries keep needing a change, go straight
                         * to the fd check, which has to be made anyway; a
                         * directory is then only remembered (opened,
                         * checked and changed when it is entered). */
                        if (direct && d->d_type == DT_DIR) {
                                r = remember_dir(f, name);
                        } else if (direct && w->ring) {
                                w->names[k++] = name;
                                if (k == BATCH) {
                                        r = run_batch(w, f, k, &direct);
                                        k = 0;
                                }
                        } else if (direct) {
                                r = visit_file(w, f, name, false, &direct);
                        } else {
                                struct statx sx;
                                if (statx(f->fd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
                                          STATX_WANT, &sx) < 0) {
                                        if (errno != ENOENT)
                                                r = walk_fail(w, name, negative_errno(), NULL, -1);
                                } else if (!same_mount(w, &sx))
                                        ;
                                else if (S_ISDIR(sx.stx_mode))
                                        r = remember_dir(f, name);
                                else if (needs_change(w, sx.stx_uid, sx.stx_gid))
                                        r = visit_file(w, f, name, false, &direct);
                        }
                }
                /* the queued names live in this buffer; entries counted
                 * before a stop are still handled */
                int r2 = k > 0 ? run_batch(w, f, k, &direct) : 0;
                if (r < 0 || r2 < 0)
                        return r < 0 ? r : r2;
        }
}

static void let_go(struct walk *w, size_t i)
{
        w->stack[i].fd = safe_close(w->stack[i].fd);
}

/* Keeps at most w->held frames (the root and the deepest) open. */
static void bound_fds(struct walk *w)
{
        while (w->depth > w->low && w->depth - w->low + 1 > w->held)
                let_go(w, w->low++);
}

static int push(struct walk *w, int fd, const char *self, dev_t dev, ino_t ino)
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
            .dev = dev,
            .ino = ino,
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
        /* keep the deepest w->held - 1 of the re-opened levels */
        size_t keep = top + 2 > w->held ? top + 2 - w->held : 1;
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
                        lock(w);
                        add(w, &w->st->skipped_moved);
                        w->st->report(w->st->arg, p2, why);
                        unlock(w);
                        return 0;
                }
                f->fd = fd;
                if (i - 1 >= 1 && i - 1 < keep)
                        let_go(w, i - 1);
        }
        w->low = keep;
        return 0;
}

/* Does a walker wait for work that no queued job will give it?  (A hint
 * read without the lock; give() decides under it.) */
static bool wanted(const struct walk *w)
{
        const struct pool *p = w->pool;
        return p && __atomic_load_n(&p->idle, __ATOMIC_RELAXED) >
                        __atomic_load_n(&p->qlen, __ATOMIC_RELAXED) +
                            __atomic_load_n(&p->reserved, __ATOMIC_RELAXED);
}

/* Queues j (under p->mu); its fd goes into the pool's socket pair, and
 * the donor's copy is closed, or stays in the queue (no socket pair).
 * Fails only when the kernel has no memory for the message; j is then
 * still the caller's. */
static int enqueue(struct pool *p, const struct job *j)
{
        struct job q = *j;
        if (p->sock[0] >= 0) {
                int r = fdpass_send_byte(p->sock[0], 0, q.fd, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (r < 0)
                        return r;
                q.fd = safe_close(q.fd);
        }
        p->q[p->qlen] = q;
        __atomic_store_n(&p->qlen, p->qlen + 1, __ATOMIC_RELAXED);
        p->proto.st->handed++;
        pthread_cond_signal(&p->cv);
        return 0;
}

/* Takes the first queued job (under p->mu), its fd in this thread's
 * table: 0, or -errno with j->fd -1 (j->path is the caller's either
 * way). */
static int dequeue(struct pool *p, struct job *j)
{
        *j = p->q[0];
        memmove(p->q, p->q + 1, (p->qlen - 1) * sizeof(*p->q));
        __atomic_store_n(&p->qlen, p->qlen - 1, __ATOMIC_RELAXED);
        if (p->sock[1] < 0)
                return 0;
        /* no fd with the byte: MSG_CTRUNC, it did not fit in this table */
        j->fd = fdpass_recv_byte(p->sock[1], MSG_DONTWAIT, -EMFILE);
        return j->fd < 0 ? j->fd : 0;
}

/* Hands the directory fd (checked and changed, name in the top frame) to
 * a waiting walker.  false: nobody waits any more, walk it here. */
static bool give(struct walk *w, int fd, const char *name, const struct statx *sx)
{
        struct pool *p = w->pool;
        char path[PATH_MAX + NAME_MAX + 2];
        frame_path(w, w->depth - 1, name, path, sizeof(path));
        char *copy = strdup(path);
        if (!copy)
                return false;
        pthread_mutex_lock(&p->mu);
        bool ok = p->idle > p->qlen + p->reserved && !p->stop;
        if (ok)
                ok = enqueue(p, &(struct job){
                                    .fd = fd,
                                    .dev = makedev(sx->stx_dev_major, sx->stx_dev_minor),
                                    .ino = sx->stx_ino,
                                    .path = copy,
                                }) == 0;
        pthread_mutex_unlock(&p->mu);
        if (!ok)
                free(copy);
        return ok;
}

/* Opens subdirectory name of frame level (messages name it through
 * w->at), checks it and changes it: 1 with *fd and *sx, 0 when it is gone,
 * on another mount or no longer a directory (then handled as what it is),
 * or -errno.  let_go: on EMFILE let go of ancestors and try again. */
static int open_dir(struct walk *w, size_t level, const char *name, bool let_go_ok, int *fdp,
                    struct statx *sx)
{
        if (w->pool && __atomic_load_n(&w->pool->stop, __ATOMIC_RELAXED))
                return -ECANCELED;
        int dirfd = w->stack[level].fd;
        int fd;
        for (;;) {
                fd = openat(dirfd, name,
                            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
                /* out of fds: let go of one more ancestor and try again */
                if (fd >= 0 || errno != EMFILE || !let_go_ok || w->low + 1 >= w->depth)
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
                r = visit_file(w, &w->stack[level], name, true, NULL);
                close_run(w);
                return r;
        }
        struct stat st;
        if (statx(fd, "", AT_EMPTY_PATH, STATX_WANT, sx) < 0) {
                int r = negative_errno();
                safe_close(fd);
                return walk_fail(w, name, r, NULL, -1);
        }
        if (!same_mount(w, sx)) {
                safe_close(fd);
                return 0;
        }
        statx_to_stat(sx, &st);
        int r = chown_fd(w, dirfd, name, fd, &st);
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        *fdp = fd;
        return 1;
}

/* Opens subdirectory name of the top frame, changes it and pushes it (or
 * hands it to a waiting walker). */
static int enter_dir(struct walk *w, const char *name)
{
        int fd;
        struct statx sx;
        int r = open_dir(w, w->depth - 1, name, true, &fd, &sx);
        if (r <= 0)
                return r;
        if (wanted(w) && give(w, fd, name, &sx))
                return 0;
        r = push(w, fd, name, makedev(sx.stx_dev_major, sx.stx_dev_minor), sx.stx_ino);
        return r < 0 ? r : read_dir(w);
}

/* A walker waits: hand it the pending subdirectory nearest the root (the
 * largest share of the work there is, so walkers seldom hand over).  1 if
 * one was taken from its frame, 0 if none was, or -errno. */
static int share(struct walk *w)
{
        struct pool *p = w->pool;
        size_t i = 0;
        while (i + 1 < w->depth && (w->stack[i].fd < 0 || w->stack[i].pos >= w->stack[i].len))
                i++;
        if (i + 1 >= w->depth) /* only the top frame: enter_dir hands over */
                return 0;
        pthread_mutex_lock(&p->mu);
        bool ok = !p->stop && p->idle > p->qlen + p->reserved;
        if (ok)
                __atomic_store_n(&p->reserved, p->reserved + 1, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&p->mu);
        if (!ok)
                return 0;
        struct frame *f = &w->stack[i];
        const char *name = f->names + f->pos;
        f->pos += strlen(name) + 1;
        int fd;
        struct statx sx;
        w->at = i + 1;
        int r = open_dir(w, i, name, false, &fd, &sx);
        w->at = 0;
        char path[PATH_MAX + NAME_MAX + 2];
        char *copy = r > 0 ? strdup(frame_path(w, i, name, path, sizeof(path))) : NULL;
        if (r > 0 && !copy) {
                safe_close(fd);
                r = op_fail(w->err, w->errlen, "chown", path, -ENOMEM, NULL, -1);
        }
        pthread_mutex_lock(&p->mu);
        __atomic_store_n(&p->reserved, p->reserved - 1, __ATOMIC_RELAXED);
        /* qlen + reserved stayed below idle: the slot is there */
        int q = r > 0 ? enqueue(p,
                                &(struct job){
                                    .fd = fd,
                                    .dev = makedev(sx.stx_dev_major, sx.stx_dev_minor),
                                    .ino = sx.stx_ino,
                                    .path = copy,
                                })
                      : 0;
        pthread_mutex_unlock(&p->mu);
        if (q < 0) {
                safe_close(fd);
                free(copy);
                r = op_fail(w->err, w->errlen, "chown", path, q,
                            "cannot hand the directory to another walker", -1);
        }
        return r < 0 ? r : 1;
}

/* Walks the directory behind rootfd (already changed), which is w->path;
 * takes rootfd. */
static int walk_tree(struct walk *w, int rootfd, dev_t dev, ino_t ino)
{
        int r = push(w, rootfd, "", dev, ino);
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
                if (wanted(w) && (r = share(w)) != 0)
                        continue;
                const char *name = f->names + f->pos;
                f->pos += strlen(name) + 1;
                r = enter_dir(w, name);
        }
        while (w->depth > 0)
                pop(w);
        return r < 0 ? r : 0;
}

/* One walker of a pool: walks jobs until every walker waits and none is
 * queued, or one failed.  The first failure's message goes to the pool. */
static void walker(struct pool *p, struct walk *w, struct job *first)
{
        struct job j = *first;
        int r = 0;
        pthread_mutex_lock(&p->mu);
        for (;;) {
                if (j.path) {
                        pthread_mutex_unlock(&p->mu);
                        w->path = j.path;
                        if (r < 0) /* the job's fd did not reach this thread */
                                r = op_fail(w->err, w->errlen, "chown", j.path, r,
                                            "cannot take the directory over from another walker",
                                            -1);
                        else
                                r = walk_tree(w, j.fd, j.dev, j.ino);
                        flush_counts(w);
                        pthread_mutex_lock(&p->mu);
                        if (r < 0 && r != -ECANCELED && !p->stop) {
                                __atomic_store_n(&p->stop, true, __ATOMIC_RELAXED);
                                p->r = r;
                                snprintf(p->err, p->errlen, "%s", w->err);
                                pthread_cond_broadcast(&p->cv);
                        }
                        free(j.path);
                        j.path = NULL;
                }
                if (p->qlen > 0 && !p->stop) {
                        r = dequeue(p, &j);
                        continue;
                }
                __atomic_store_n(&p->idle, p->idle + 1, __ATOMIC_RELAXED);
                if (p->idle == p->threads || p->stop) {
                        p->done = true;
                        pthread_cond_broadcast(&p->cv);
                }
                while (!p->done && p->qlen == 0)
                        pthread_cond_wait(&p->cv, &p->mu);
                if (p->done)
                        break;
                __atomic_store_n(&p->idle, p->idle - 1, __ATOMIC_RELAXED);
        }
        pthread_mutex_unlock(&p->mu);
}

static int walk_init(struct walk *w, const struct walk *proto, char *err, size_t errlen)
{
        *w = *proto;
        w->err = err;
        w->errlen = errlen;
        w->buf = malloc(DENTS_BUF);
        w->ring = NULL;
        w->names = NULL;
        if (w->buf && w->st->uring) {
                /* no ring (the kernel, a seccomp filter): plain calls */
                w->ring = malloc(sizeof(*w->ring));
                w->names = malloc(BATCH * sizeof(*w->names));
                if (!w->ring || !w->names || uring_init(w->ring, BATCH) < 0) {
                        free(w->ring);
                        free(w->names);
                        w->ring = NULL;
                        w->names = NULL;
                }
        }
        return w->buf ? 0 : -ENOMEM;
}

static void walk_done(struct walk *w)
{
        if (w->ring) {
                uring_free(w->ring);
                free(w->ring);
                free(w->names);
        }
        free(w->buf);
        free(w->stack);
}

struct thread {
        pthread_t tid;
        struct pool *p;
};

static void *walker_thread(void *arg)
{
        struct thread *t = arg;
        struct pool *p = t->p;
        struct walk w;
        /* An fd table of its own (the fds handed over come through the
         * pool's socket pair): in a table that threads share, the kernel
         * takes a reference on the file at each call on an fd and a lock
         * at each open and close.  Where unshare is refused the table
         * stays shared, which works the same, only slower. */
        if (p->sock[0] >= 0)
                (void)unshare(CLONE_FILES);
        char *err = malloc(p->errlen);
        struct job none = {.fd = -1};
        if (err && walk_init(&w, &p->proto, err, p->errlen) == 0) {
                walker(p, &w, &none);
                walk_done(&w);
        } else {
                /* no memory for a walker: leave the work to the others */
                pthread_mutex_lock(&p->mu);
                p->threads--;
                if (p->idle == p->threads) {
                        p->done = true;
                        pthread_cond_broadcast(&p->cv);
                }
                pthread_mutex_unlock(&p->mu);
        }
        free(err);
        return NULL;
}

/* Directory fds each of threads walkers holds at most. */
static size_t held_fds(unsigned threads)
{
        return OP_CHOWN_HELD_FDS / threads > 16 ? OP_CHOWN_HELD_FDS / threads : 16;
}

/* Walks the tree behind rootfd with up to threads walkers (the calling
 * thread is one).  A thread that cannot be started leaves its share to
 * the others. */
static int walk_parallel(struct walk *proto, unsigned threads, int rootfd, dev_t dev, ino_t ino)
{
        struct pool p = {
            .mu = PTHREAD_MUTEX_INITIALIZER,
            .cv = PTHREAD_COND_INITIALIZER,
            .threads = threads,
            .err = proto->err,
            .errlen = proto->errlen,
            .sock = {-1, -1},
        };
        struct thread *t = calloc(threads, sizeof(*t));
        p.q = calloc(threads, sizeof(*p.q));
        struct walk w = {.buf = NULL};
        char *path = strdup(proto->path);
        char *err = malloc(proto->errlen);
        if (!t || !p.q || !path || !err || walk_init(&w, proto, err, proto->errlen) < 0) {
                free(w.buf);
                free(t);
                free(p.q);
                free(path);
                free(err);
                safe_close(rootfd);
                return op_fail(proto->err, proto->errlen, "chown", proto->path, -ENOMEM, NULL, -1);
        }
        if (proto->st->shared_fds || socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, p.sock) < 0)
                p.sock[0] = p.sock[1] = -1;
        proto->pool = &p;
        proto->held = held_fds(threads);
        w.pool = &p;
        w.held = proto->held;
        p.proto = *proto;
        /* the walkers take no signals: they stay with the caller's threads */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        unsigned started = 1;
        for (unsigned i = 1; i < threads; i++) {
                t[i].p = &p;
                if (pthread_create(&t[i].tid, NULL, walker_thread, &t[i]) != 0)
                        break;
                started++;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (started < threads) {
                pthread_mutex_lock(&p.mu);
                p.threads = started;
                pthread_mutex_unlock(&p.mu);
        }
        struct job root = {.fd = rootfd, .dev = dev, .ino = ino, .path = path};
        walker(&p, &w, &root);
        for (unsigned i = 1; i < started; i++)
                pthread_join(t[i].tid, NULL);
        /* jobs left when a walker failed (their fds in the socket pair
         * go with it) */
        for (size_t i = 0; i < p.qlen; i++) {
                safe_close(p.q[i].fd);
                free(p.q[i].path);
        }
        safe_close(p.sock[0]);
        safe_close(p.sock[1]);
        walk_done(&w);
        free(err);
        free(p.q);
        free(t);
        pthread_mutex_destroy(&p.mu);
        pthread_cond_destroy(&p.cv);
        return p.r;
}

unsigned op_chown_threads(void)
{
        const char *e = getenv("STEPDOWN_CHOWN_THREADS");
        if (e && *e) {
                char *end;
                errno = 0;
                unsigned long n = strtoul(e, &end, 10);
                if (!*end && !errno && n >= 1 && n <= OP_CHOWN_MAX_THREADS)
                        return (unsigned)n;
                log_warn("STEPDOWN_CHOWN_THREADS=%s is not a number from 1 to %u; using the "
                         "online CPUs up to %u",
                         e, OP_CHOWN_MAX_THREADS, OP_CHOWN_DEFAULT_THREADS);
        }
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        if (n < 1)
                return 1;
        return n > OP_CHOWN_DEFAULT_THREADS ? OP_CHOWN_DEFAULT_THREADS : (unsigned)n;
}

bool op_chown_uring(void)
{
        const char *e = getenv("STEPDOWN_CHOWN_URING");
        return !e || strcmp(e, "0") != 0;
}

int op_chown(const char *anchor, const char *rest, uid_t uid, gid_t gid, bool recursive, bool xdev,
             bool hardlinks, struct op_stats *st, char *err, size_t errlen)
{
        return op_chown_from(anchor, rest, uid, gid, NULL, recursive, xdev, hardlinks, st, err,
                             errlen);
}

/* op_chown_from(), and when expect is set (never with recursive) only on
 * that object, compared on the fd chown_fd() changes it through. */
static int chown_target(const char *anchor, const char *rest, uid_t uid, gid_t gid,
                        const struct op_chown_from *from, bool recursive, bool xdev, bool hardlinks,
                        const struct op_expect *expect, struct op_stats *st, char *err,
                        size_t errlen)
{
        struct op_stats dummy = {0};
        if (!st)
                st = &dummy;
        st->visited = st->changed = st->skipped_hardlinks = st->skipped_moved = st->batched =
            st->handed = 0;

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
        if (expect && (top.st_dev != expect->dev || top.st_ino != expect->ino))
                return op_fail(err, errlen, "chown", t.path, OP_NOT_EXPECTED,
                               "is no longer the object the caller holds", -1);

        struct walk w = {
            .held = OP_CHOWN_HELD_FDS,
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
        dev_t dev = makedev(rsx.stx_dev_major, rsx.stx_dev_minor);
        unsigned threads = st->threads > OP_CHOWN_MAX_THREADS ? OP_CHOWN_MAX_THREADS : st->threads;
        /* Under a low fd limit one walker, which lets go of ancestors as
         * it needs: several could starve each other of fds. */
        struct rlimit rl;
        if (threads > 1 &&
            (getrlimit(RLIMIT_NOFILE, &rl) < 0 ||
             rl.rlim_cur < (rlim_t)threads * (held_fds(threads) + 8 + CLOSE_RUN) + 64))
                threads = 1;
        if (threads > 1)
                r = walk_parallel(&w, threads, rootfd, dev, rsx.stx_ino);
        else if (walk_init(&w, &w, err, errlen) < 0) {
                safe_close(rootfd);
                r = op_fail(err, errlen, "chown", t.path, -ENOMEM, NULL, -1);
        } else {
                r = walk_tree(&w, rootfd, dev, rsx.stx_ino);
                walk_done(&w);
        }
        /* walkers that found the limit reached counted one entry each */
        if (st->max_visited && st->visited > st->max_visited)
                st->visited = st->max_visited;
        return r;
}

int op_chown_from(const char *anchor, const char *rest, uid_t uid, gid_t gid,
                  const struct op_chown_from *from, bool recursive, bool xdev, bool hardlinks,
                  struct op_stats *st, char *err, size_t errlen)
{
        return chown_target(anchor, rest, uid, gid, from, recursive, xdev, hardlinks, NULL, st, err,
                            errlen);
}

int op_chown_expect(const char *anchor, const char *rest, uid_t uid, gid_t gid, bool xdev,
                    bool hardlinks, const struct op_expect *expect, struct op_stats *st, char *err,
                    size_t errlen)
{
        return chown_target(anchor, rest, uid, gid, NULL, false, xdev, hardlinks, expect, st, err,
                            errlen);
}
