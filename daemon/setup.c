#include "setup.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

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

int setup_run(const struct policy *p, struct audit *a, char *err, size_t errlen)
{
        for (size_t i = 0; i < p->n_steps; i++) {
                const struct policy_step *s = &p->steps[i];
                char where[PATH_MAX], msg[1024] = "", flags[64] = "", skipped[128];
                uint64_t t0 = now_us();
                policy_where(p, s->line, where, sizeof(where));
                struct step_talk talk = {
                    .where = where, .op = sd_op_name(s->op), .path = s->path, .t0 = t0};
                struct op_stats st = {
                    .report = step_report, .progress = step_progress, .arg = &talk};

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
                /* the audit record carries what was skipped (and the first) */
                if (r >= 0 && skipped[0])
                        snprintf(msg, sizeof(msg), "%s; first: %s", skipped, talk.first);

                snprintf(flags, sizeof(flags), "%s%s%s%s", s->parents ? "parents," : "",
                         s->recursive ? "recursive," : "", s->xdev ? "xdev," : "",
                         s->hardlinks ? "hardlinks," : "");
                if (flags[0])
                        flags[strlen(flags) - 1] = '\0';
                struct audit_event ev = {
                    .event = "setup",
                    .op = sd_op_name(s->op),
                    .path = s->path,
                    .uid = s->op == SD_OP_CHMOD ? -1 : (int64_t)s->uid,
                    .gid = s->op == SD_OP_CHMOD ? -1 : (int64_t)s->gid,
                    .mode = s->has_mode ? (int32_t)s->mode : -1,
                    .flags = flags[0] ? flags : NULL,
                    .decision = "allow",
                    .rule = where,
                    .error = r < 0 ? -r : 0,
                    .duration_us = took,
                    .changed = s->op == SD_OP_CHOWN ? (int64_t)st.changed : -1,
                    .message = msg[0] ? msg : NULL,
                };
                int ar = a ? audit_log(a, &ev) : 0;

                if (r < 0) {
                        snprintf(err, errlen, "%s: setup %s %s: %s", where, sd_op_name(s->op),
                                 s->path, msg[0] ? msg : strerror(-r));
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
