#include "setup.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "check.h"
#include "launch.h"
#include "log.h"
#include "ops.h"

/* Splits a step's absolute path into the anchor the engine opens (refusing
 * a symlink in any of its components) and the rest resolved beneath it.
 * chown and chmod act on the anchor itself, so the path may be a mount
 * point (the freshly mounted volume); mkdir anchors at the parent, or with
 * parents at the deepest directory that exists, so the engine creates the
 * missing ones beneath it. */
static int split(const struct policy_step *s, char *anchor, size_t alen, const char **rest)
{
        const char *path = s->path;
        size_t n = strlen(path);

        if (n >= alen || path[0] != '/')
                return -EINVAL;
        memcpy(anchor, path, n + 1);
        *rest = "";
        if (s->op != SD_OP_MKDIR || n == 1)
                return 0;
        char *slash = strrchr(anchor, '/');
        for (;;) {
                if (slash == anchor) {
                        anchor[1] = '\0';
                        *rest = path + 1;
                        break;
                }
                *slash = '\0';
                *rest = path + (slash - anchor) + 1;
                struct stat st;
                if (!s->parents || lstat(anchor, &st) == 0)
                        break;
                slash = strrchr(anchor, '/');
        }
        return 0;
}

static uint64_t now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* What stderr hears about one step while it runs: entries skipped (the
 * first few by name), and for a step that takes more than a second a
 * progress line at most once a second and a summary at the end. */
#define REPORT_NAMED 20

struct step_talk {
        const char *where, *op, *path;
        uint64_t t0, last; /* step start, last progress line (us) */
        unsigned reported; /* skipped entries named so far */
        char first[512];   /* the first one skipped, for the audit record */
};

static void step_report(void *arg, const char *path, const char *why)
{
        struct step_talk *t = arg;
        if (!t->first[0])
                snprintf(t->first, sizeof(t->first), "%s (%s)", path, why);
        if (t->reported++ < REPORT_NAMED)
                log_warn("%s: setup %s %s: skipped %s: %s", t->where, t->op, t->path, path, why);
}

static void step_progress(void *arg, const struct op_stats *st)
{
        struct step_talk *t = arg;
        uint64_t now = now_us();
        if (now - t->t0 < 1000000u || now - t->last < 1000000u)
                return;
        t->last = now;
        fprintf(stderr, "%s: %s: setup %s %s: %llu entries seen, %llu changed, %.1f s\n",
                log_program(), t->where, t->op, t->path, (unsigned long long)st->visited,
                (unsigned long long)st->changed, (double)(now - t->t0) / 1e6);
}

/* "N hard-linked files skipped, M moved directories skipped" or "". */
static void skipped_text(const struct op_stats *st, char *buf, size_t len)
{
        buf[0] = '\0';
        if (st->skipped_hardlinks)
                snprintf(buf, len, "%llu hard-linked file%s skipped",
                         (unsigned long long)st->skipped_hardlinks,
                         st->skipped_hardlinks == 1 ? "" : "s");
        if (st->skipped_moved) {
                size_t n = strlen(buf);
                snprintf(buf + n, len - n, "%s%llu moved director%s skipped", n ? ", " : "",
                         (unsigned long long)st->skipped_moved,
                         st->skipped_moved == 1 ? "y" : "ies");
        }
}

static int run_step(const struct policy_step *s, struct op_stats *st, char *err, size_t errlen)
{
        char anchor[PATH_MAX];
        const char *rest;

        if (split(s, anchor, sizeof(anchor), &rest) < 0) {
                snprintf(err, errlen, "not an absolute path");
                return -EINVAL;
        }
        switch (s->op) {
        case SD_OP_MKDIR: {
                /* A setup step states what must be true, so a restart with
                 * the directory already there succeeds: the existing
                 * directory gets the owner and mode, through the fd it was
                 * checked on.  Anything else there (a file, a symlink)
                 * fails the step. */
                mode_t mode = s->has_mode ? s->mode : 0755;
                return op_mkdir_ensure(anchor, rest, mode, s->uid, s->gid, s->parents, err, errlen);
        }
        case SD_OP_CHOWN:
                return op_chown(anchor, rest, s->uid, s->gid, s->recursive, s->xdev, s->hardlinks,
                                st, err, errlen);
        case SD_OP_CHMOD:
                return op_chmod(anchor, rest, s->mode, err, errlen);
        default:
                snprintf(err, errlen, "operation %s cannot be a setup step", sd_op_name(s->op));
                return -EINVAL;
        }
}

/* The audit record of step s (event, outcome fields left to the caller);
 * flags (64 bytes) holds its flag list. */
static struct audit_event step_event(const struct policy_step *s, const char *event,
                                     const char *where, char flags[64])
{
        snprintf(flags, 64, "%s%s%s%s", s->parents ? "parents," : "",
                 s->recursive ? "recursive," : "", s->xdev ? "xdev," : "",
                 s->hardlinks ? "hardlinks," : "");
        if (flags[0])
                flags[strlen(flags) - 1] = '\0';
        return (struct audit_event){
            .event = event,
            .op = sd_op_name(s->op),
            .path = s->path,
            .uid = s->op == SD_OP_CHMOD ? -1 : (int64_t)s->uid,
            .gid = s->op == SD_OP_CHMOD ? -1 : (int64_t)s->gid,
            .mode = s->has_mode ? (int32_t)s->mode : -1,
            .flags = flags[0] ? flags : NULL,
            .decision = "allow",
            .rule = where,
            .changed = -1,
        };
}

/* What to write instead: `parents` for a mkdir whose parent is missing;
 * the real path for one through a symbolic link above its last component
 * (the last one is never resolved for the hint: in a volume, a link there
 * may be anyone's). */
static void step_hint(const struct policy_step *s, int r, char *buf, size_t len)
{
        char dir[PATH_MAX], real[PATH_MAX];
        const char *slash = strrchr(s->path, '/');

        if (r == -ENOENT && s->op == SD_OP_MKDIR && !s->parents) {
                snprintf(buf, len,
                         " (add `parents` to the step to create the missing parent "
                         "directories too)");
                return;
        }
        if (r != -ELOOP || !slash || slash == s->path)
                return;
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - s->path), s->path);
        check_real_path(dir, real, sizeof(real));
        if (real[0])
                snprintf(buf, len, " (its real path is %s%s: write that in the policy)",
                         strcmp(real, "/") ? real : "", slash);
}

/* "FILE:LINE: setup OP PATH: WHY", the engine's "OP PATH: " not said twice;
 * in a user namespace, an owner that is not mapped there is named as such
 * (chown gives EINVAL) with what to map. */
static void step_failed(const struct policy_step *s, const char *where, int r, const char *msg,
                        char *err, size_t errlen)
{
        char prefix[PATH_MAX + 32], ns[400];
        bool deny;
        int n = snprintf(prefix, sizeof(prefix), "%s %s: ", sd_op_name(s->op), s->path);
        if (n > 0 && strncmp(msg, prefix, (size_t)n) == 0)
                msg += n;
        n = snprintf(err, errlen, "%s: setup %s %s: %s", where, sd_op_name(s->op), s->path,
                     msg[0] ? msg : strerror(-r));
        if (n > 0 && (size_t)n < errlen)
                step_hint(s, r, err + n, errlen - (size_t)n);
        n = (int)strlen(err);
        if (r == -EINVAL && s->op != SD_OP_CHMOD && n > 0 && (size_t)n < errlen &&
            launch_in_userns(ns, sizeof(ns), &deny))
                snprintf(err + n, errlen - (size_t)n,
                         "; this is a user namespace (%s) and uid %u or gid %u is not mapped in "
                         "it: map it (for rootless podman, a subordinate range in /etc/subuid "
                         "and /etc/subgid that covers it, or --userns=keep-id for your own id)",
                         ns, (unsigned)s->uid, (unsigned)s->gid);
}

/* Staging directories a broker killed mid-mkdir left (common/engine/op-mkdir.c,
 * step 4) go at start, from the directories where the mkdir rules and
 * steps make theirs.  Best effort: a directory that cannot be read has
 * its errors reported by the mkdir that uses it. */
static void sweep_stages(const struct policy *p)
{
        char dir[PATH_MAX], why[1024];
        for (size_t i = 0; i < p->n_rules + p->n_steps; i++) {
                const char *d = NULL, *rest;
                if (i < p->n_rules && p->rules[i].op == SD_OP_MKDIR)
                        d = p->rules[i].anchor;
                else if (i >= p->n_rules && p->steps[i - p->n_rules].op == SD_OP_MKDIR &&
                         split(&p->steps[i - p->n_rules], dir, sizeof(dir), &rest) == 0)
                        d = dir;
                unsigned n = 0;
                if (d && op_mkdir_sweep(d, &n, why, sizeof(why)) == 0 && n)
                        log_warn("removed %u staging director%s that a stopped broker left in %s",
                                 n, n == 1 ? "y" : "ies", d);
        }
}

int setup_run(const struct policy *p, struct audit *a, char *err, size_t errlen)
{
        sweep_stages(p);
        for (size_t i = 0; i < p->n_steps; i++) {
                const struct policy_step *s = &p->steps[i];
                char where[PATH_MAX], msg[1024] = "", flags[64] = "", skipped[128];
                policy_where(p, s->line, where, sizeof(where));
                struct step_talk talk = {.where = where, .op = sd_op_name(s->op), .path = s->path};
                /* a recursive chown walks with several threads and
                 * batches through io_uring (the seccomp filter, which has
                 * neither, comes later) */
                struct op_stats st = {.report = step_report,
                                      .progress = step_progress,
                                      .arg = &talk,
                                      .threads = op_chown_threads(),
                                      .uring = op_chown_uring()};
                struct audit_event ev = step_event(s, "intent", where, flags);
                /* Intent before the act (docs/AUDIT.md): no step runs
                 * unless the log says first that it is about to. */
                int ar = a ? audit_log(a, &ev) : 0;
                if (ar < 0 && !audit_failure_allow(a)) {
                        snprintf(err, errlen,
                                 "%s: setup %s %s: not done: its audit record could not be "
                                 "written (%s) (policy: audit-failure deny)",
                                 where, sd_op_name(s->op), s->path, strerror(-ar));
                        return ar;
                }
                uint64_t t0 = now_us();
                talk.t0 = t0;
                int r = run_step(s, &st, msg, sizeof(msg));
                uint64_t took = now_us() - t0;
                skipped_text(&st, skipped, sizeof(skipped));
                if (talk.reported > REPORT_NAMED)
                        log_warn("%s: setup %s %s: %u more skipped entries not named", where,
                                 sd_op_name(s->op), s->path, talk.reported - REPORT_NAMED);
                if (r >= 0 && took >= 1000000u)
                        fprintf(stderr,
                                "%s: %s: setup %s %s: done in %.1f s: %llu entries seen, %llu "
                                "changed%s%s\n",
                                log_program(), where, sd_op_name(s->op), s->path,
                                (double)took / 1e6, (unsigned long long)st.visited,
                                (unsigned long long)st.changed, skipped[0] ? ", " : "", skipped);
                /* The outcome record carries what was skipped (and the first). */
                if (r >= 0 && skipped[0])
                        snprintf(msg, sizeof(msg), "%s; first: %s", skipped, talk.first);

                ev.event = "setup";
                ev.intent = ar < 0 ? 0 : audit_seq(a);
                ev.error = r < 0 ? -r : 0;
                ev.duration_us = took;
                ev.changed = s->op == SD_OP_CHOWN ? (int64_t)st.changed : -1;
                ev.message = msg[0] ? msg : NULL;
                ar = a ? audit_log(a, &ev) : 0;

                if (r < 0) {
                        step_failed(s, where, r, msg, err, errlen);
                        return r;
                }
                if (ar < 0 && !audit_failure_allow(a)) {
                        snprintf(err, errlen,
                                 "%s: setup %s %s: done, but its audit record could not be "
                                 "written (%s); stopping (policy: audit-failure deny)",
                                 where, sd_op_name(s->op), s->path, strerror(-ar));
                        return ar;
                }
        }
        return 0;
}

/* ==== started without root (docker run --user): check, never act ========
 * Nothing here changes anything or needs privilege, so plain fd-relative
 * reads are enough; the engine (op_*) is not called. */

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

struct unpriv {
        const struct policy_step *s;
        char differs[PATH_MAX + 256]; /* the first difference, "" while none */
};

static bool owner_differs(const struct policy_step *s, const struct stat *st)
{
        return (s->uid != (uid_t)-1 && st->st_uid != s->uid) ||
               (s->gid != (gid_t)-1 && st->st_gid != s->gid);
}

static void note_owner(struct unpriv *u, const char *path, const struct stat *st)
{
        snprintf(u->differs, sizeof(u->differs), "%s is owned by %u:%u, not %u:%u", path,
                 (unsigned)st->st_uid, (unsigned)st->st_gid, (unsigned)u->s->uid,
                 (unsigned)u->s->gid);
}

/* The tree below dirfd (path names it), until the first entry whose owner
 * differs.  Symbolic links are looked at themselves; other mounts are not
 * entered unless xdev, as the engine does. */
/* How deep the unprivileged check descends (it recurses, one PATH_MAX
 * buffer a level); a deeper tree is reported as not checkable. */
#define UNPRIV_MAX_DEPTH 256

static void walk_unpriv(struct unpriv *u, int dirfd, const char *path, dev_t dev, unsigned depth)
{
        DIR *d = fdopendir(dirfd);
        struct dirent *e;

        if (!d) {
                snprintf(u->differs, sizeof(u->differs), "%s cannot be read: %s", path,
                         strerror(errno));
                close(dirfd);
                return;
        }
        while (!u->differs[0] && (errno = 0, e = readdir(d))) {
                char sub[PATH_MAX];
                struct stat st;
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                        continue;
                snprintf(sub, sizeof(sub), "%s/%s", strcmp(path, "/") ? path : "", e->d_name);
                if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        snprintf(u->differs, sizeof(u->differs), "%s cannot be examined: %s", sub,
                                 strerror(errno));
                        break;
                }
                if (st.st_dev != dev && !u->s->xdev)
                        continue;
                if (owner_differs(u->s, &st)) {
                        note_owner(u, sub, &st);
                        break;
                }
                if (!S_ISDIR(st.st_mode))
                        continue;
                if (depth + 1 >= UNPRIV_MAX_DEPTH) {
                        snprintf(u->differs, sizeof(u->differs),
                                 "%s is deeper than %u levels and cannot be checked", sub,
                                 UNPRIV_MAX_DEPTH);
                        break;
                }
                int fd = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) {
                        snprintf(u->differs, sizeof(u->differs), "%s cannot be read: %s", sub,
                                 strerror(errno));
                        break;
                }
                walk_unpriv(u, fd, sub, dev, depth + 1);
        }
        if (!u->differs[0] && errno)
                snprintf(u->differs, sizeof(u->differs), "%s cannot be read: %s", path,
                         strerror(errno));
        closedir(d);
}

/* Fills u->differs with what is not yet as step s states, or leaves it "". */
static void check_unpriv(struct unpriv *u)
{
        const struct policy_step *s = u->s;
        mode_t mode = s->op == SD_OP_MKDIR && !s->has_mode ? 0755 : s->mode;
        struct stat st;

        if (lstat(s->path, &st) < 0) {
                snprintf(u->differs, sizeof(u->differs), "%s %s", s->path,
                         errno == ENOENT ? "does not exist" : strerror(errno));
                return;
        }
        if (S_ISLNK(st.st_mode)) {
                snprintf(u->differs, sizeof(u->differs), "%s is a symbolic link", s->path);
                return;
        }
        if (s->op == SD_OP_MKDIR && !S_ISDIR(st.st_mode)) {
                snprintf(u->differs, sizeof(u->differs), "%s is not a directory", s->path);
                return;
        }
        if (s->op != SD_OP_CHMOD && owner_differs(s, &st)) {
                note_owner(u, s->path, &st);
                return;
        }
        if ((s->op == SD_OP_CHMOD || s->op == SD_OP_MKDIR) && (st.st_mode & 07777) != mode) {
                snprintf(u->differs, sizeof(u->differs), "%s has mode %04o, not %04o", s->path,
                         (unsigned)(st.st_mode & 07777), (unsigned)mode);
                return;
        }
        if (s->op == SD_OP_CHOWN && s->recursive && S_ISDIR(st.st_mode)) {
                int fd = open(s->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        snprintf(u->differs, sizeof(u->differs), "%s cannot be read: %s", s->path,
                                 strerror(errno));
                else
                        walk_unpriv(u, fd, s->path, st.st_dev, 0);
        }
}

/* What root would run to make step s hold: the second fix. */
static void fix_command(const struct policy_step *s, char *buf, size_t len)
{
        mode_t mode = s->has_mode ? s->mode : 0755;
        switch (s->op) {
        case SD_OP_MKDIR:
                snprintf(buf, len, "install -d -o %u -g %u -m %04o %s", (unsigned)s->uid,
                         (unsigned)s->gid, (unsigned)mode, s->path);
                break;
        case SD_OP_CHOWN:
                snprintf(buf, len, "chown %s %u:%u %s", s->recursive ? "-hR" : "-h",
                         (unsigned)s->uid, (unsigned)s->gid, s->path);
                break;
        default:
                snprintf(buf, len, "chmod %04o %s", (unsigned)s->mode, s->path);
        }
}

int setup_run_unprivileged(const struct policy *p, struct audit *a, char *err, size_t errlen)
{
        enum policy_unpriv how = p->setup_unprivileged;

        for (size_t i = 0; i < p->n_steps; i++) {
                const struct policy_step *s = &p->steps[i];
                struct unpriv u = {.s = s};
                char where[PATH_MAX], msg[PATH_MAX + 512], fix[PATH_MAX + 64];
                uint64_t t0 = now_us();
                bool fail = false;

                char flags[64] = "";
                policy_where(p, s->line, where, sizeof(where));
                if (how == POLICY_UNPRIV_SKIP)
                        snprintf(msg, sizeof(msg), "not root: skipped (setup-unprivileged skip)");
                else {
                        check_unpriv(&u);
                        if (!u.differs[0])
                                snprintf(msg, sizeof(msg), "not root: checked, already holds");
                        else {
                                fail = how == POLICY_UNPRIV_FAIL;
                                snprintf(msg, sizeof(msg), "not root: %s: %s", u.differs,
                                         fail ? "would need a change" : "skipped");
                        }
                }
                struct audit_event ev = step_event(s, "setup", where, flags);
                ev.error = fail ? EPERM : 0;
                ev.duration_us = now_us() - t0;
                ev.changed = s->op == SD_OP_CHOWN ? 0 : -1;
                ev.message = msg;
                int ar = a ? audit_log(a, &ev) : 0;

                if (u.differs[0]) {
                        fix_command(s, fix, sizeof(fix));
                        if (fail) {
                                snprintf(err, errlen,
                                         "%s: setup %s %s: stepdownd runs as uid %u without root, "
                                         "and %s; either start it as root (drop docker run --user "
                                         "/ runAsUser) so it makes the change, or fix the volume "
                                         "beforehand (as root: %s); `setup-unprivileged warn` or "
                                         "`skip` in the policy makes this step optional",
                                         where, sd_op_name(s->op), s->path, (unsigned)geteuid(),
                                         u.differs, fix);
                                return -EPERM;
                        }
                        log_warn("%s: setup %s %s skipped: not root (uid %u), and %s (as root: "
                                 "%s)",
                                 where, sd_op_name(s->op), s->path, (unsigned)geteuid(), u.differs,
                                 fix);
                }
                if (ar < 0 && !audit_failure_allow(a)) {
                        snprintf(err, errlen,
                                 "%s: setup %s %s: its audit record could not be written (%s); "
                                 "stopping (policy: audit-failure deny)",
                                 where, sd_op_name(s->op), s->path, strerror(-ar));
                        return ar;
                }
        }
        return 0;
}
/* ==== end: started without root ========================================== */
