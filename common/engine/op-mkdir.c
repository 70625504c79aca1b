/* mkdir below an anchor.  Root never sets the owner or mode of a
 * directory it reached by name after creating it: the app could have
 * exchanged the new name with a directory of root's in between
 * (renameat2(RENAME_EXCHANGE)), and root would chown and chmod that one.
 *
 * Design: the new directory is made inside a private staging directory,
 * given its owner and mode there, and then renamed into place with
 * renameat2(RENAME_NOREPLACE).
 *
 *   1. mkdirat(parent, ".stepdown-mkdir.RANDOM", 0700) with umask 0, and
 *      open it O_DIRECTORY|O_NOFOLLOW.  The fd must show a directory owned
 *      by our fsuid with no group/other permission (so no ACL grants
 *      anyone else access either: the ACL mask is the group bits).  Only
 *      root can add, rename or remove entries inside it; the app can at
 *      most rename the staging directory itself, which does not matter,
 *      since everything below goes through its fd.
 *   2. mkdirat(stage, "d", MODE & 0777); open it, and chown and chmod
 *      it where it is not yet as asked, through its own fd: nothing but
 *      root can have swapped it.
 *   3. renameat2(stage, "d", parent, name, RENAME_NOREPLACE): the finished
 *      directory appears at its name already owned and moded as it must
 *      end; an entry that appeared meanwhile is never replaced (EEXIST,
 *      handled as an existing entry).  The staging directory is on the
 *      same mount by construction (it is in the parent), so the rename
 *      cannot fail with EXDEV.
 *   4. rmdir the staging directory, on every path (issue 17, item 7:
 *      root's bookkeeping never stays in the app's directory).  It is
 *      found through the parent's fd, never by a path: under its name if
 *      that still is the inode sfd holds, else by scanning the parent for
 *      that inode (the app can rename it only within the parent: moving a
 *      directory to another parent needs write permission on the
 *      directory itself, which is root's 0700).  Each removal checks the
 *      inode at the name, then rmdirs it; if the app swapped another
 *      empty directory in between, removing that one is something the app
 *      could do itself (it can write the parent, and a sticky parent
 *      forbids the swap).  If the name was swapped before root opened it
 *      (the fd shows a directory that is not a fresh, empty one of ours),
 *      the orphan is root's empty 0700 directory whose ctime is not older
 *      than the mkdir: the parent is scanned for those.  A staging
 *      directory left by a broker killed mid-way is removed at the next
 *      start (op_mkdir_sweep(), from setup: the mkdir rules' anchors and
 *      the mkdir steps' directories), or by the app itself.
 *
 * A long-running broker (op_mkdir_keep_stages()) skips steps 1 and 4 for
 * a directory made directly in an anchor: the staging directory made there
 * by step 1 is kept and reused by the next requests (see kept_get(): its
 * privacy is checked when it is made, what it passes on each time) and
 * removed when keeping is turned off at stop, or by the start-time sweep
 * after a broker that was killed.  That takes a mkdir, an open, a
 * directory read and an rmdir of the app's directory off every request.
 *
 * Why not fsuid/fsgid around mkdirat (create the inode owned by the
 * caller): setfsuid needs CAP_SETUID, which the hardened broker does not
 * keep (and should not: it is the capability to become anyone); a
 * non-zero fsuid also drops CAP_DAC_OVERRIDE from the effective set, so a
 * root-owned parent the app cannot write would refuse the mkdir, and a
 * set-gid parent or the set-gid/sticky bits still need a chmod/chown after
 * creation, i.e. the same re-open by name.
 *
 * An existing directory is opened O_PATH|O_NOFOLLOW once; its type and
 * mount are checked on that fd, and (op_mkdir_ensure) owner and mode are
 * set through that same fd. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "op-util.h"
#include "ops.h"
#include "resolve.h"
#include "util.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

enum exist { EXIST_FAIL, EXIST_KEEP, EXIST_FIX };

/* An entry is at name: check it through one O_PATH fd and (EXIST_FIX) set
 * owner and mode through that fd.  -ENOENT (no message) if it vanished.
 * descend: the entry is a parent to go through (mkdir -p): a symlink is
 * -ELOOP, another type -ENOTDIR, another mount -EXDEV. */
static int existing(int dirfd, const char *name, const char *path, enum exist how, mode_t mode,
                    uid_t uid, gid_t gid, bool descend, int *out, char *err, size_t errlen)
{
        _cleanup_close_ int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                int r = negative_errno();
                return r == -ENOENT ? r : op_fail(err, errlen, "mkdir", path, r, NULL, -1);
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
                return op_fail(err, errlen, "mkdir", path, negative_errno(), NULL, -1);
        char why[NAME_MAX + 128];
        if (S_ISLNK(st.st_mode)) {
                snprintf(why, sizeof(why),
                         "\"%s\" exists as a symbolic link, which is never followed", name);
                return op_fail(err, errlen, "mkdir", path, descend ? -ELOOP : -EEXIST, why, -1);
        }
        if (!S_ISDIR(st.st_mode)) {
                snprintf(why, sizeof(why), "\"%s\" exists and is not a directory", name);
                return op_fail(err, errlen, "mkdir", path, descend ? -ENOTDIR : -EEXIST, why, -1);
        }
        if (how == EXIST_FAIL)
                return op_fail(err, errlen, "mkdir", path, -EEXIST, "already exists", -1);
        if (descend) {
                struct mount_key a, b;
                int r = fd_mount_key(dirfd, &a);
                if (r == 0)
                        r = fd_mount_key(fd, &b);
                if (r < 0)
                        return op_fail(err, errlen, "mkdir", path, r, NULL, -1);
                if (!mount_key_equal(&a, &b))
                        return op_fail(err, errlen, "mkdir", path, -EXDEV,
                                       "is another mount, which is not crossed", -1);
        }
        if (how == EXIST_FIX) {
                if (((uid != (uid_t)-1 && uid != st.st_uid) ||
                     (gid != (gid_t)-1 && gid != st.st_gid)) &&
                    fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
                        return op_fail(err, errlen, "mkdir", path, negative_errno(), NULL,
                                       CAP_CHOWN);
                /* chown may have cleared set-gid: compare with the inode now */
                if (fstat(fd, &st) < 0)
                        return op_fail(err, errlen, "mkdir", path, negative_errno(), NULL, -1);
                if ((st.st_mode & 07777) != mode) {
                        int r = op_fchmod(dirfd, name, fd, &st, mode);
                        if (r < 0)
                                return op_fail(err, errlen, "mkdir", path, r, NULL, CAP_FOWNER);
                }
        }
        if (out)
                *out = TAKE_FD(fd);
        return 0;
}

#define STAGE_PREFIX ".stepdown-mkdir."
/* A kept one's (op_mkdir_keep_stages): the sweep removes those without a
 * word, as a broker killed at the end of its container (exec mode: the
 * app is the namespace's init) always leaves its kept ones. */
#define KEPT_PREFIX STAGE_PREFIX "kept."

static void stage_name(char *buf, size_t len, bool kept)
{
        static unsigned counter;
        uint64_t rnd = 0;
        if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
                rnd = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL) ^ ++counter;
        snprintf(buf, len, "%s%016llx", kept ? KEPT_PREFIX : STAGE_PREFIX, (unsigned long long)rnd);
}

/* Owner and mode of a staging directory: ours, 0700 (plus the set-gid bit
 * a set-gid parent passes on). */
static bool stage_like(const struct stat *st)
{
        return S_ISDIR(st->st_mode) && st->st_uid == geteuid() && (st->st_mode & 0777) == 0700;
}

/* Removes the empty directory name in dirfd if it still is the inode want
 * (see step 4 on the window between the check and the rmdir). */
static int rmdir_if(int dirfd, const char *name, const struct stat *want)
{
        struct stat now;
        if (fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) < 0)
                return negative_errno();
        if (now.st_dev != want->st_dev || now.st_ino != want->st_ino)
                return -ESTALE;
        return unlinkat(dirfd, name, AT_REMOVEDIR) < 0 ? negative_errno() : 0;
}

typedef bool (*stage_match_fn)(const char *name, const struct stat *st, const void *arg);

/* rmdir_if() on each entry of dirfd that match accepts.  Returns how many
 * matched (removed or not), -errno if dirfd cannot be read; *removed
 * counts the removals. */
static int stage_scan(int dirfd, stage_match_fn match, const void *arg, unsigned *removed)
{
        int rfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC);
        if (rfd < 0)
                return negative_errno();
        DIR *d = fdopendir(rfd);
        if (!d) {
                int r = negative_errno();
                close(rfd);
                return r;
        }
        int found = 0;
        for (struct dirent *e; (e = readdir(d));) {
                struct stat st;
                if ((e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) ||
                    strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
                    fstatat(rfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !match(e->d_name, &st, arg))
                        continue;
                found++;
                if (rmdir_if(rfd, e->d_name, &st) == 0)
                        (*removed)++;
        }
        closedir(d);
        return found;
}

static bool same_inode(const char *name, const struct stat *st, const void *arg)
{
        const struct stat *want = arg;
        (void)name;
        return st->st_dev == want->st_dev && st->st_ino == want->st_ino;
}

/* Removes the staging directory sfd (created as stage in dirfd) under
 * whatever name it has now. */
static void stage_remove(int dirfd, const char *stage, int sfd)
{
        struct stat want;
        unlinkat(sfd, "d", AT_REMOVEDIR);
        if (fstat(sfd, &want) < 0 || rmdir_if(dirfd, stage, &want) == 0)
                return;
        /* renamed by the app: chase it (each round reads the parent once;
         * a readdir racing renames may miss it, so only its link count
         * says it is gone) */
        for (int tries = 0; tries < 64; tries++) {
                unsigned removed = 0;
                if (fstat(sfd, &want) < 0 || want.st_nlink == 0 ||
                    stage_scan(dirfd, same_inode, &want, &removed) < 0 || removed)
                        return;
        }
}

/* A staging directory that was made at or after *since and whose name
 * was swapped before it could be opened: ours, empty, and not the
 * directory that came back under the staging name (*not). */
struct orphan {
        struct timespec since;
        struct stat not ;
};

static bool orphan_match(const char *name, const struct stat *st, const void *arg)
{
        const struct orphan *o = arg;
        (void)name;
        return stage_like(st) &&
               (st->st_ctim.tv_sec > o->since.tv_sec ||
                (st->st_ctim.tv_sec == o->since.tv_sec &&
                 st->st_ctim.tv_nsec >= o->since.tv_nsec)) &&
               !same_inode(name, st, &o->not );
}

/* Is the directory fd empty (its offset is left at the start)? */
static bool dir_empty(int fd)
{
        union {
                struct dirent64 e;
                char buf[512];
        } u;
        lseek(fd, 0, SEEK_SET);
        ssize_t n = getdents64(fd, u.buf, sizeof(u.buf));
        bool empty = n > 0;
        for (ssize_t off = 0; empty && off < n;) {
                struct dirent64 *e = (struct dirent64 *)(u.buf + off);
                off += e->d_reclen;
                empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
        }
        lseek(fd, 0, SEEK_SET);
        return empty;
}

/* arg: true for kept ones, false for the others */
static bool stale_stage(const char *name, const struct stat *st, const void *arg)
{
        bool kept = *(const bool *)arg;
        return strncmp(name, STAGE_PREFIX, strlen(STAGE_PREFIX)) == 0 &&
               (strncmp(name, KEPT_PREFIX, strlen(KEPT_PREFIX)) == 0) == kept && stage_like(st);
}

int op_mkdir_sweep(const char *dir, unsigned *removed, char *err, size_t errlen)
{
        char why[512] = "";
        _cleanup_close_ int fd = -1;
        *removed = 0;
        int r = resolve_anchor(dir, &fd, why, sizeof(why));
        if (r < 0)
                return op_fail(err, errlen, "sweep", dir, r, why, -1);
        unsigned kept = 0;
        r = stage_scan(fd, stale_stage, &(bool){false}, removed);
        if (r >= 0)
                r = stage_scan(fd, stale_stage, &(bool){true}, &kept);
        return r < 0 ? op_fail(err, errlen, "sweep", dir, r, NULL, -1) : 0;
}

/* Step 1: a fresh private staging directory in dirfd (kept: to be kept),
 * its name in stage (64 bytes), its fd in *out.  On failure nothing of
 * ours stays. */
static int stage_make(int dirfd, const char *path, bool kept, char *stage, int *out, char *err,
                      size_t errlen)
{
        int r = -EEXIST;
        struct orphan o = {.not = {.st_ino = 0}};
        clock_gettime(CLOCK_REALTIME_COARSE, &o.since);
        mode_t old = umask(0); /* exactly 0700, whatever the process's umask */
        for (int tries = 0; tries < 16 && r == -EEXIST; tries++) {
                stage_name(stage, 64, kept);
                r = mkdirat(dirfd, stage, 0700) < 0 ? negative_errno() : 0;
        }
        umask(old);
        if (r < 0)
                return op_fail(err, errlen, "mkdir", path, r == -EEXIST ? -EAGAIN : r,
                               r == -EEXIST ? "no free name for a staging directory" : NULL, -1);
        _cleanup_close_ int sfd =
            openat(dirfd, stage, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        struct stat st;
        if (sfd < 0 || fstat(sfd, &st) < 0 || !stage_like(&st) || !dir_empty(sfd)) {
                /* not ours, not private or not fresh: never create anything
                 * in it, and remove ours under the name it was given (an
                 * empty directory under our random name is ours on a file
                 * system that does not keep root's 0700, or one the app put
                 * there and may remove itself) */
                r = sfd < 0 ? negative_errno() : -EAGAIN;
                unsigned removed = 0;
                if (sfd >= 0 && fstat(sfd, &o.not ) == 0 && dir_empty(sfd) &&
                    rmdir_if(dirfd, stage, &o.not ) == 0 && o.not .st_uid == geteuid())
                        removed = 1; /* it was ours: no orphan to look for */
                for (int tries = 0; tries < 8 && !removed; tries++)
                        if (stage_scan(dirfd, orphan_match, &o, &removed) < 0)
                                break;
                return op_fail(err, errlen, "mkdir", path, r,
                               "its staging directory was replaced before it could be used "
                               "(or the filesystem does not keep root's owner and mode 0700)",
                               -1);
        }
        *out = TAKE_FD(sfd);
        return 0;
}

/* Steps 2-3 in the private staging directory sfd: "d" is made, owned and
 * moded there and renamed to name in dirfd.  On failure "d" is gone again
 * (only root can reach it: nobody else can search sfd).  -EEXIST (no
 * message) if name appeared meanwhile; -ESTALE (no message) if the
 * staging directory was removed (a kept one, by the app) or is not empty. */
static int build_in(int sfd, int dirfd, const char *name, const char *path, mode_t mode, uid_t uid,
                    gid_t gid, int *out, char *err, size_t errlen)
{
        /* "d" is born with the permission bits asked for (less the
         * process's umask; plus what a set-gid staging directory or a
         * default ACL passes on): nobody but root can reach it inside the
         * private staging directory, and owner and mode are compared and
         * set below before it is renamed into place, so the usual case
         * needs no chmod (and no umask(2) around it). */
        if (mkdirat(sfd, "d", mode & 0777) < 0) {
                int r = negative_errno();
                return r == -ENOENT || r == -EEXIST
                           ? -ESTALE
                           : op_fail(err, errlen, "mkdir", path, r, NULL, -1);
        }
        struct stat st;
        int cap = -1, r = 0;
        _cleanup_close_ int fd = openat(sfd, "d", O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                r = negative_errno();
        bool chown = r == 0 && ((uid != (uid_t)-1 && uid != st.st_uid) ||
                                (gid != (gid_t)-1 && gid != st.st_gid));
        if (chown && fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
                r = negative_errno();
                cap = CAP_CHOWN;
        }
        /* chown may have cleared set-gid: compare with the inode now */
        if (chown && r == 0 && fstat(fd, &st) < 0)
                r = negative_errno();
        if (r == 0 && (st.st_mode & 07777) != mode) {
                r = op_fchmod(sfd, "d", fd, &st, mode);
                cap = CAP_FOWNER;
        }
        if (r == 0 && renameat2(sfd, "d", dirfd, name, RENAME_NOREPLACE) < 0) {
                r = negative_errno();
                cap = -1;
                if (r == -EINVAL || r == -ENOSYS) {
                        /* A filesystem without RENAME_NOREPLACE: a plain
                         * rename never replaces a non-directory or a
                         * non-empty directory; the only thing it could
                         * replace is an empty directory created in this
                         * instant, which is checked first. */
                        struct stat x;
                        if (fstatat(dirfd, name, &x, AT_SYMLINK_NOFOLLOW) == 0)
                                r = -EEXIST;
                        else
                                r = renameat(sfd, "d", dirfd, name) < 0 ? negative_errno() : 0;
                }
        }
        if (r < 0) {
                unlinkat(sfd, "d", AT_REMOVEDIR);
                return r == -EEXIST ? r : op_fail(err, errlen, "mkdir", path, r, NULL, cap);
        }
        *out = TAKE_FD(fd);
        return 0;
}

/* Kept staging directories (op_mkdir_keep_stages()): one per anchor, made
 * by stage_make() and reused by later requests instead of a fresh one
 * each time.  Its privacy (a directory of ours, mode 0700, empty) is
 * checked on its fd when it is made, and its fstat kept: owner, mode,
 * set-gid bit and group of a directory owned by root can be changed by
 * root only, so they need no second look.  Each use checks that a
 * directory made in it inherits what one made in the anchor itself would
 * now: the set-gid bit and group (compared with the anchor's fstat, which
 * also finds the slot) and the default ACL (compared with the anchor's
 * system.posix_acl_default, read on an O_RDONLY fd of the anchor).
 * Anything else drops it and makes a new one.  Nobody but root can add,
 * swap or remove anything inside it; the app can rename it within the
 * anchor or remove it (it is empty between requests): a removed one is
 * found by the mkdirat in it failing (build_in: -ESTALE), which costs a
 * new one.  One thread at a time (stage_make sets the umask, which is the
 * process's). */
#define KEPT_MAX     8
#define KEPT_ACL_MAX 512
#define ACL_DEFAULT  "system.posix_acl_default"

struct kept_stage {
        int pfd;   /* the anchor, O_RDONLY; -1: slot unused */
        int sfd;   /* the staging directory */
        dev_t dev; /* the anchor's device and inode */
        ino_t ino;
        char name[64];  /* the staging directory's name when it was made */
        struct stat st; /* its fstat then */
        uint64_t used;
        ssize_t acl_len; /* its default ACL: bytes, or -ENODATA for none */
        char acl[KEPT_ACL_MAX];
};

static struct {
        bool on;
        uint64_t tick;
        struct kept_stage k[KEPT_MAX];
} kept;

/* The default ACL of fd: its length in buf, -ENODATA if it has none (or
 * the filesystem has no ACLs), another -errno (-ERANGE: too long). */
static ssize_t default_acl(int fd, char *buf, size_t len)
{
        ssize_t n = fgetxattr(fd, ACL_DEFAULT, buf, len);
        if (n >= 0)
                return n;
        int r = negative_errno();
        return r == -EOPNOTSUPP ? -ENODATA : r;
}

static void kept_drop(struct kept_stage *k)
{
        if (k->pfd < 0)
                return;
        stage_remove(k->pfd, k->name, k->sfd);
        k->pfd = safe_close(k->pfd);
        k->sfd = safe_close(k->sfd);
}

/* Does a directory made in the staging directory *s inherit what one made
 * in the anchor *p (whose fd is k->pfd) would? */
static bool kept_usable(struct kept_stage *k, const struct stat *p, const struct stat *s)
{
        char acl[KEPT_ACL_MAX];
        if ((p->st_mode & S_ISGID) != (s->st_mode & S_ISGID) ||
            ((p->st_mode & S_ISGID) && p->st_gid != s->st_gid))
                return false;
        ssize_t n = default_acl(k->pfd, acl, sizeof(acl));
        return n == k->acl_len && (n < 0 || memcmp(acl, k->acl, (size_t)n) == 0);
}

/* The kept staging directory for the anchor dirfd (made if needed), or
 * NULL (then the caller makes a one-shot one): a default ACL that cannot
 * be read or is too long to compare is not kept. */
static struct kept_stage *kept_get(int dirfd, const char *path, char *err, size_t errlen)
{
        struct stat p, s;
        if (fstat(dirfd, &p) < 0)
                return NULL;
        struct kept_stage *k = NULL, *lru = &kept.k[0];
        for (size_t i = 0; i < KEPT_MAX; i++) {
                struct kept_stage *x = &kept.k[i];
                if (x->pfd >= 0 && x->dev == p.st_dev && x->ino == p.st_ino)
                        k = x;
                if (x->pfd < 0 ? lru->pfd >= 0 : lru->pfd >= 0 && x->used < lru->used)
                        lru = x;
        }
        if (k && kept_usable(k, &p, &k->st)) {
                k->used = ++kept.tick;
                return k;
        }
        if (!k)
                k = lru;
        kept_drop(k);
        _cleanup_close_ int pfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int sfd = -1;
        if (pfd < 0 || stage_make(dirfd, path, true, k->name, &sfd, err, errlen) < 0)
                return NULL;
        k->acl_len = default_acl(sfd, k->acl, sizeof(k->acl));
        if ((k->acl_len < 0 && k->acl_len != -ENODATA) || fstat(sfd, &s) < 0 || !stage_like(&s)) {
                stage_remove(dirfd, k->name, sfd);
                return NULL;
        }
        k->pfd = TAKE_FD(pfd);
        k->sfd = TAKE_FD(sfd);
        k->dev = p.st_dev;
        k->ino = p.st_ino;
        k->used = ++kept.tick;
        k->st = s;
        if (!kept_usable(k, &p, &s)) { /* the anchor changed meanwhile */
                kept_drop(k);
                return NULL;
        }
        return k;
}

void op_mkdir_keep_stages(bool on)
{
        if (on && !kept.on)
                for (size_t i = 0; i < KEPT_MAX; i++)
                        kept.k[i].pfd = kept.k[i].sfd = -1;
        if (!on && kept.on)
                for (size_t i = 0; i < KEPT_MAX; i++)
                        kept_drop(&kept.k[i]);
        kept.on = on;
}

/* Steps 1-4 above.  -EEXIST (no message) if name appeared meanwhile.
 * keep: dirfd is an anchor, where a kept staging directory may be used
 * (the start-time sweep looks there). */
static int create_dir(int dirfd, const char *name, const char *path, mode_t mode, uid_t uid,
                      gid_t gid, bool keep, int *out, char *err, size_t errlen)
{
        /* a kept one removed under us is dropped and made anew once; then
         * the one-shot way */
        for (int tries = 0; keep && kept.on && tries < 2; tries++) {
                struct kept_stage *k = kept_get(dirfd, path, err, errlen);
                if (!k)
                        break;
                int r = build_in(k->sfd, dirfd, name, path, mode, uid, gid, out, err, errlen);
                if (r != -ESTALE)
                        return r;
                kept_drop(k);
        }
        char stage[64];
        _cleanup_close_ int sfd = -1;
        int r = stage_make(dirfd, path, false, stage, &sfd, err, errlen);
        if (r < 0)
                return r;
        r = build_in(sfd, dirfd, name, path, mode, uid, gid, out, err, errlen);
        stage_remove(dirfd, stage, sfd);
        return r == -ESTALE ? op_fail(err, errlen, "mkdir", path, -ENOENT, NULL, -1) : r;
}

/* name in dirfd becomes a directory (see above); how says what to do
 * when it exists.  *out (may be NULL) gets an O_PATH fd of it. */
static int make_dir(int dirfd, const char *name, const char *path, mode_t mode, uid_t uid,
                    gid_t gid, enum exist how, bool descend, bool keep, int *out, char *err,
                    size_t errlen)
{
        int r = -ENOENT;
        for (int tries = 0; tries < 8 && r == -ENOENT; tries++) {
                struct stat st;
                _cleanup_close_ int fd = -1;
                /* A plain mkdir where a kept staging directory serves goes
                 * straight to creating: the renameat2(RENAME_NOREPLACE)
                 * answers -EEXIST for a name that is there, which then
                 * takes the same way as one the fstatat finds. */
                bool absent =
                    (keep && kept.on && how == EXIST_FAIL) ||
                    (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
                r = absent ? create_dir(dirfd, name, path, mode, uid, gid, keep, &fd, err, errlen)
                           : -EEXIST;
                if (r == -EEXIST)
                        r = existing(dirfd, name, path, how, mode, uid, gid, descend, &fd, err,
                                     errlen);
                if (r == 0 && out)
                        *out = TAKE_FD(fd);
        }
        if (r == -ENOENT)
                return op_fail(err, errlen, "mkdir", path, -EAGAIN,
                               "appeared and vanished repeatedly while being created", -1);
        return r;
}

static int mkdir_parents(const char *anchor, const char *rest, mode_t mode, uid_t uid, gid_t gid,
                         enum exist how, char *err, size_t errlen)
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
                _cleanup_close_ int next = -1;
                r = make_dir(cur, name, path, mode, uid, gid, last ? how : EXIST_KEEP, !last,
                             p == rest, &next, err, errlen);
                if (r < 0 || last)
                        return r;
                safe_close(cur);
                cur = TAKE_FD(next);
                p += n + 1;
        }
}

static int do_mkdir(const char *anchor, const char *rest, mode_t mode, uid_t uid, gid_t gid,
                    bool parents, enum exist how, char *err, size_t errlen)
{
        char why[512];
        if (mode & ~(mode_t)07777)
                return op_fail(err, errlen, "mkdir", anchor, -EINVAL, "mode has bits beyond 07777",
                               -1);
        if (parents && rest[0]) {
                int r = resolve_check_rest(rest, why, sizeof(why));
                if (r < 0)
                        return op_fail(err, errlen, "mkdir", anchor, r, why, -1);
                return mkdir_parents(anchor, rest, mode, uid, gid, how, err, errlen);
        }
        _cleanup_(op_target_done) struct op_target t;
        int r = op_target_init(&t, "mkdir", anchor, rest, false, err, errlen);
        if (r < 0)
                return r;
        /* the anchor is the parent when rest is one name */
        bool keep = rest[0] && !strchr(rest, '/');
        return make_dir(t.parent_fd, t.name, t.path, mode, uid, gid, how, false, keep, NULL, err,
                        errlen);
}

int op_mkdir(const char *anchor, const char *rest, mode_t mode, uid_t uid, gid_t gid, bool parents,
             char *err, size_t errlen)
{
        return do_mkdir(anchor, rest, mode, uid, gid, parents, parents ? EXIST_KEEP : EXIST_FAIL,
                        err, errlen);
}

int op_mkdir_ensure(const char *anchor, const char *rest, mode_t mode, uid_t uid, gid_t gid,
                    bool parents, char *err, size_t errlen)
{
        return do_mkdir(anchor, rest, mode, uid, gid, parents, EXIST_FIX, err, errlen);
}
