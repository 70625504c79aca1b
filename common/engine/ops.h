/* The operations engine: mkdir, chown, chmod and open below a policy
 * anchor, holding DESIGN.md's path-safety invariant.  Setup steps and the
 * broker both call these.
 *
 * anchor is the rule's absolute anchor (trusted; no symlink may appear in
 * it).  rest is the path below it: "" means the anchor itself, else
 * "a/b" (no "..", ".", empty components or leading "/").  Every function
 * resolves with resolve_beneath() and then acts on fds only.  Each returns
 * 0 or -errno; on failure err holds a message naming the path and reason
 * (and, for a missing capability, the capability and the fix). */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct op_stats {
        uint64_t visited; /* entries looked at */
        uint64_t changed; /* entries whose owner was changed */
        /* In: a recursive chown stops with -E2BIG after looking at this
         * many entries (0: no bound); what it changed stays changed.  The
         * broker bounds runtime requests with it; setup steps run
         * unbounded. */
        uint64_t max_visited;
        /* Out, counted only when report is set (without it each of these
         * fails the operation, as before):
         * skipped_hardlinks: regular files with several links whose owner
         *   needed a change (without "hardlinks"), left alone;
         * skipped_moved: directories that were moved or replaced while a
         *   deep walk had let go of them, not walked further. */
        uint64_t skipped_hardlinks;
        uint64_t skipped_moved;
        /* In: when set, an entry that cannot be changed safely is skipped,
         * counted above and reported here (path, and why) instead of
         * failing the whole operation.  Setup steps set it. */
        void (*report)(void *arg, const char *path, const char *why);
        /* In: called every OP_PROGRESS_EVERY entries of a recursive chown
         * (the callback decides by the clock whether to say anything). */
        void (*progress)(void *arg, const struct op_stats *st);
        void *arg;
        /* In: how many threads walk a recursive chown (0 or 1: the calling
         * thread alone; at most OP_CHOWN_MAX_THREADS; one under an fd limit
         * too low for each to hold its share of directories).  The counts
         * above and max_visited are the same whatever the number; the
         * first error met stops every thread and is the one returned;
         * report and progress are called one at a time, from any of the
         * threads.  Setup steps set it; the broker does not (one long
         * request runs on its worker thread, beside the loop). */
        unsigned threads;
        /* In: each walker may open and stat entries in batches through
         * io_uring (where the kernel and any seccomp filter allow it; else
         * plain system calls, the same checks either way).  io_uring's
         * operations pass no seccomp filter: setup steps only. */
        bool uring;
        /* In: the walkers share the caller's fd table, handing fds over
         * as they are (for comparisons: the parallel walk before each
         * walker had a table of its own). */
        bool shared_fds;
        /* Out: entries opened through io_uring (0: plain calls only). */
        uint64_t batched;
        /* Out: directories one walker handed to another (parallel walk),
         * their fds passed between the walkers' own fd tables. */
        uint64_t handed;
};

#define OP_PROGRESS_EVERY 1024

/* Threads for a recursive chown: $STEPDOWN_CHOWN_THREADS (1 to
 * OP_CHOWN_MAX_THREADS) if set, else the online CPUs up to
 * OP_CHOWN_DEFAULT_THREADS (another value is warned about and ignored). */
#define OP_CHOWN_DEFAULT_THREADS 8
#define OP_CHOWN_MAX_THREADS     64
unsigned op_chown_threads(void);

/* Whether setup steps batch through io_uring: yes unless
 * $STEPDOWN_CHOWN_URING is "0" (for comparisons; where io_uring is
 * refused the walk uses plain calls anyway). */
bool op_chown_uring(void);

/* Directory fds a recursive chown holds at most.  A tree of any depth is
 * walked: levels above the deepest ones held are let go and re-opened by
 * name from a held ancestor (never through ".."), each checked to be the
 * same directory (device, inode, mount) as before. */
#define OP_CHOWN_HELD_FDS 256

/* Creates anchor/rest with exactly mode (umask-proof) owned by uid:gid
 * ((uid_t)-1 / (gid_t)-1 keep root's); the directory appears at its name
 * already owned and moded (made in a private staging directory beside it
 * and renamed into place without replacing anything).  parents: create missing
 * directories below the anchor the same way, and succeed without changes
 * if the final directory exists (mkdir -p).  Otherwise EEXIST. */
int op_mkdir(const char *anchor, const char *rest, mode_t mode, uid_t uid, gid_t gid, bool parents,
             char *err, size_t errlen);

/* As op_mkdir, but an existing final directory (never a symlink or any
 * other type: EEXIST) gets owner uid:gid and mode, set through the fd its
 * type was checked on; it may be a mount point.  Setup steps use this. */
int op_mkdir_ensure(const char *anchor, const char *rest, mode_t mode, uid_t uid, gid_t gid,
                    bool parents, char *err, size_t errlen);

/* Removes the staging directories op_mkdir left in dir (a broker killed
 * mid-way): entries named .stepdown-mkdir.* that are empty directories of
 * our euid with mode 0700, found through an fd of dir (resolved without
 * symlinks).  *removed counts them, but for kept ones
 * (.stepdown-mkdir.kept.*, op_mkdir_keep_stages), which a killed broker
 * always leaves.  0, or -errno with "sweep DIR: why". */
int op_mkdir_sweep(const char *dir, unsigned *removed, char *err, size_t errlen);

/* on: from now on op_mkdir/op_mkdir_ensure keep the staging directory they
 * make directly in an anchor (one per anchor, up to 8, the least recently
 * used one removed for a ninth) and reuse it for the next directory made
 * there, re-checked on its fds each time (op-mkdir.c).  off: every kept
 * staging directory is removed (under whatever name the app gave it).
 * For a process that serves many requests (the broker, at start and at
 * stop); the kept directories are .stepdown-mkdir.kept.* in the anchors,
 * which op_mkdir_sweep() removes if the process was killed. */
void op_mkdir_keep_stages(bool on);

/* Changes the owner of anchor/rest (never of a symlink's target).
 * recursive: the whole tree below, any depth, symlinks changed themselves,
 * other mounts skipped unless xdev, regular files with several hard links
 * refused unless hardlinks (below the target: skipped and reported if
 * st->report is set),
 * set-uid/set-gid stripped where an owner changes, only differing entries
 * written.  An entry that needs a change is opened O_PATH|O_NOFOLLOW,
 * checked on that fd and changed through it.  st (may be NULL) gets
 * counts. */
int op_chown(const char *anchor, const char *rest, uid_t uid, gid_t gid, bool recursive, bool xdev,
             bool hardlinks, struct op_stats *st, char *err, size_t errlen);

/* Which entries op_chown_from() changes: an entry's owner only where it is
 * uid, its group only where it is gid; (uid_t)-1 / (gid_t)-1 never match
 * (that half is left as it is).  remap moves a user from its old ids to
 * new ones this way, leaving everything that carries other ids alone. */
struct op_chown_from {
        uid_t uid;
        gid_t gid;
};

/* op_chown() restricted by from (NULL: no restriction, as op_chown). */
int op_chown_from(const char *anchor, const char *rest, uid_t uid, gid_t gid,
                  const struct op_chown_from *from, bool recursive, bool xdev, bool hardlinks,
                  struct op_stats *st, char *err, size_t errlen);

/* Sets the mode (07777 bits) of a directory or regular file; refuses
 * symlinks, other file types and hard-linked regular files. */
int op_chmod(const char *anchor, const char *rest, mode_t mode, char *err, size_t errlen);

/* The object a caller means (st_dev, st_ino of what it holds open): the
 * *_expect variants act only when the entry they resolved is that object,
 * compared on the very fd the change goes through (after resolution, so
 * a rename between the caller's look and the act cannot slip another file
 * in).  Another object: OP_NOT_EXPECTED, nothing changed. */
struct op_expect {
        dev_t dev;
        ino_t ino;
};
#define OP_NOT_EXPECTED (-ESTALE)

/* op_chown (not recursive) and op_chmod of the object expect names. */
int op_chown_expect(const char *anchor, const char *rest, uid_t uid, gid_t gid, bool xdev,
                    bool hardlinks, const struct op_expect *expect, struct op_stats *st, char *err,
                    size_t errlen);
int op_chmod_expect(const char *anchor, const char *rest, mode_t mode,
                    const struct op_expect *expect, char *err, size_t errlen);

/* Opens a regular file; oflags is O_RDONLY, O_WRONLY or O_RDWR with any of
 * O_CREAT, O_EXCL, O_TRUNC, O_APPEND.  A created file gets exactly
 * create_mode and create_uid:create_gid.  Refuses directories, fifos,
 * devices, sockets (without blocking) and hard-linked files.  *fd_out is
 * O_CLOEXEC. */
int op_open(const char *anchor, const char *rest, int oflags, mode_t create_mode, uid_t create_uid,
            gid_t create_gid, int *fd_out, char *err, size_t errlen);
