#include "setup.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

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
                 * directory (never a symlink) gets the owner and mode. */
                mode_t mode = s->has_mode ? s->mode : 0755;
                int r = op_mkdir(anchor, rest, mode, s->uid, s->gid, s->parents, err, errlen);
                if (r != -EEXIST)
                        return r;
                r = op_chown(s->path, "", s->uid, s->gid, false, false, false, st, err, errlen);
                if (r < 0)
                        return r;
                return op_chmod(s->path, "", mode, err, errlen);
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
                struct op_stats st = {0};
                char where[PATH_MAX], msg[1024] = "", flags[64] = "";

                policy_where(p, s->line, where, sizeof(where));
                snprintf(flags, sizeof(flags), "%s%s%s%s", s->parents ? "parents," : "",
                         s->recursive ? "recursive," : "", s->xdev ? "xdev," : "",
                         s->hardlinks ? "hardlinks," : "");
                if (flags[0])
                        flags[strlen(flags) - 1] = '\0';
                struct audit_event ev = {
                    .event = "intent",
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
                int r = run_step(s, &st, msg, sizeof(msg));

                ev.event = "setup";
                ev.intent = ar < 0 ? 0 : audit_seq(a);
                ev.error = r < 0 ? -r : 0;
                ev.duration_us = now_us() - t0;
                /* Issue 12: new struct op_stats counters (skipped entries,
                 * ...) go into this outcome record here. */
                ev.changed = s->op == SD_OP_CHOWN ? (int64_t)st.changed : -1;
                ev.message = msg[0] ? msg : NULL;
                ar = a ? audit_log(a, &ev) : 0;

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
