#include "remap-step.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errmsg.h"
#include "log.h"
#include "ops.h"
#include "remap.h"
#include "util.h"

static uint64_t now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* "owner:/workspace", "env:HOST_UID", "4242" */
static void src_text(const struct policy_remap *m, const struct remap_src *s, char *buf, size_t len)
{
        if (m->origin)
                snprintf(buf, len, "%s", m->origin);
        else if (s->kind == REMAP_SRC_ENV)
                snprintf(buf, len, "env:%s", s->arg);
        else if (s->kind == REMAP_SRC_OWNER)
                snprintf(buf, len, "owner:%s", s->arg);
        else
                snprintf(buf, len, "%lld", (long long)s->number);
}

/* Appends to the summary that goes into the audit record. */
static void add(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(char *buf, size_t len, const char *fmt, ...)
{
        size_t n = strlen(buf);
        va_list ap;
        if (n >= len - 1)
                return;
        va_start(ap, fmt);
        vsnprintf(buf + n, len - n, fmt, ap);
        va_end(ap);
}

/* Home and chown= paths, from the old ids to the new ones. */
static int chown_paths(const struct policy_remap *m, uint64_t *changed, char *sum, size_t sumlen,
                       char *err, size_t errlen)
{
        bool uc = m->new_uid != m->old_uid;
        bool gc = m->new_gid >= 0 && m->new_gid != m->old_gid;
        struct op_chown_from from = {
            .uid = uc ? (uid_t)m->old_uid : (uid_t)-1,
            .gid = gc ? (gid_t)m->old_gid : (gid_t)-1,
        };
        uid_t nu = uc ? (uid_t)m->new_uid : (uid_t)-1;
        gid_t ng = gc ? (gid_t)m->new_gid : (gid_t)-1;

        for (size_t i = 0; i <= m->n_paths; i++) {
                bool home = i == 0;
                const char *path = home ? m->home : m->paths[i - 1];
                if (home && (path[0] != '/' || strcmp(path, "/") == 0)) {
                        add(sum, sumlen, "; home \"%s\" not walked", path);
                        continue;
                }
                struct op_stats st = {0};
                char msg[PATH_MAX + 512] = "";
                /* hardlinks: only entries carrying the old ids change, so a
                 * hard link can only reach a file of the user itself. */
                int r = op_chown_from(path, "", nu, ng, &from, true, false, true, &st, msg,
                                      sizeof(msg));
                if (r == -ENOENT && home) {
                        add(sum, sumlen, "; home %s does not exist", path);
                        continue;
                }
                if (r < 0)
                        return errmsg(err, errlen, r, "%s%s",
                                      home ? "home: " : "chown=: ", msg[0] ? msg : strerror(-r));
                *changed += st.changed;
                add(sum, sumlen, "; %s: %llu of %llu entries changed", path,
                    (unsigned long long)st.changed, (unsigned long long)st.visited);
        }
        return 0;
}

static int rewrite(const struct policy_remap *m, const char *name, remap_transform fn, char *sum,
                   size_t sumlen, char *err, size_t errlen)
{
        struct remap_ids ids = {
            .user = m->user,
            .old_uid = m->old_uid,
            .new_uid = m->new_uid,
            .old_gid = m->old_gid,
            .new_gid = m->new_gid,
            .uid_holder = m->uid_holder,
            .gid_holder = m->gid_holder,
        };
        enum remap_how how;
        unsigned lines;
        bool takeover = m->uid_holder || m->gid_holder;
        int r = remap_rewrite("/etc", name, fn, &ids, !takeover, &how, &lines, err, errlen);
        if (r < 0)
                return r;
        add(sum, sumlen, "; /etc/%s: %s", name, remap_how_name(how));
        if (lines)
                add(sum, sumlen, " (%u line%s)", lines, lines == 1 ? "" : "s");
        return 0;
}

/* A takeover whose swap would only be bind-mounted (read-only root, passwd
 * a mount point) is refused before anything changes: the underlying file
 * keeps the old ids, so between two starts the holder runs with the user's
 * old uid (gid), and the next start's walk of the home from the old ids
 * would hand the user whatever of the holder's it put there. */
static int takeover_persists(const struct policy_remap *m, bool gc, char *err, size_t errlen)
{
        static const char *const names[] = {"group", "passwd"};
        if (!m->uid_holder && !m->gid_holder)
                return 0;
        for (size_t i = gc ? 0 : 1; i < ELEMENTSOF(names); i++) {
                char why[PATH_MAX + 128];
                int r = remap_in_place("/etc", names[i], why, sizeof(why));
                if (r < 0)
                        return errmsg(err, errlen, r, "%s", why);
                if (r > 0)
                        continue;
                char who[2 * NAME_MAX + 128] = "";
                if (m->uid_holder)
                        add(who, sizeof(who), "user %s has uid %lld", m->uid_holder,
                            (long long)m->old_uid);
                if (m->gid_holder)
                        add(who, sizeof(who), "%sgroup %s gid %lld", m->uid_holder ? ", " : "",
                            m->gid_holder, (long long)m->old_gid);
                return errmsg(err, errlen, -EROFS,
                              "takeover refused: %s, so the swap would be bound again at every "
                              "start over a file keeping the old ids: between starts %s, and the "
                              "next walk of the home would give %s what they left there; nothing "
                              "changed (give %s, or the holder in the image, ids no other entry "
                              "holds)",
                              why, who, m->user, m->user);
        }
        return 0;
}

/* USER and LOGNAME for the launch, when it runs as the remapped user. */
static int set_names(const struct policy *p)
{
        const char *spec = p->user ? p->user : "";
        size_t n = strcspn(spec, ":");
        if (n != strlen(p->remap.user) || memcmp(spec, p->remap.user, n) != 0)
                return 0;
        if (setenv("USER", p->remap.user, 1) < 0 || setenv("LOGNAME", p->remap.user, 1) < 0)
                return negative_errno();
        return 0;
}

int remap_step_run(const struct policy *p, struct audit *a, char *err, size_t errlen)
{
        const struct policy_remap *m = &p->remap;
        char where[PATH_MAX + 32], sum[3 * PATH_MAX] = "", msg[PATH_MAX + 1024] = "";
        char us[PATH_MAX + 16], gs[PATH_MAX + 16]; /* sources as written */
        uint64_t t0 = now_us(), changed = 0;
        int r = 0;

        if (!m->user)
                return 0;
        if (m->origin || !m->line)
                snprintf(where, sizeof(where), "STEPDOWN_REMAP");
        else
                policy_where(p, m->line, where, sizeof(where));

        if (m->ignored) {
                /* A gid the user may have chosen collided: on stderr and on
                 * record as a refusal of that value, before the remap's own
                 * record. */
                log_warn("%s", m->ignored);
                struct audit_event iev = {
                    .event = "remap",
                    .op = "remap",
                    .path = m->gid.arg,
                    .uid = -1,
                    .gid = -1,
                    .mode = -1,
                    .decision = "deny",
                    .rule = where,
                    .error = EEXIST,
                    .changed = -1,
                    .message = m->ignored,
                };
                int ir = a ? audit_log(a, &iev) : 0;
                if (ir < 0 && !audit_failure_allow(a))
                        return errmsg(err, errlen, ir,
                                      "%s: remap %s: the record of an ignored gid could not be "
                                      "written (%s); stopping (policy: audit-failure deny)",
                                      where, m->user, strerror(-ir));
        }
        if (!m->active) {
                log_warn("%s", m->note ? m->note : "remap: not active");
                snprintf(sum, sizeof(sum), "%s", m->note ? m->note : "not active");
        } else {
                bool uc = m->new_uid != m->old_uid;
                bool gc = m->new_gid >= 0 && m->new_gid != m->old_gid;
                src_text(m, &m->uid, us, sizeof(us));
                src_text(m, &m->gid, gs, sizeof(gs));
                snprintf(sum, sizeof(sum), "%s: uid %lld -> %lld (%s)", m->user,
                         (long long)m->old_uid, (long long)m->new_uid, us);
                if (m->new_gid >= 0)
                        add(sum, sizeof(sum), ", gid %lld -> %lld (%s)", (long long)m->old_gid,
                            (long long)m->new_gid, gs);
                if (m->uid_holder)
                        add(sum, sizeof(sum), "; takeover: user %s gets uid %lld", m->uid_holder,
                            (long long)m->old_uid);
                if (m->gid_holder)
                        add(sum, sizeof(sum), "; takeover: group %s gets gid %lld", m->gid_holder,
                            (long long)m->old_gid);
                if (!uc && !gc) {
                        add(sum, sizeof(sum), "; already done, nothing changed");
                } else {
                        /* Files first, the user database last: a start that
                         * fails half way leaves passwd saying the old ids, so
                         * the next start walks again and finishes. */
                        r = takeover_persists(m, gc, msg, sizeof(msg));
                        if (r == 0)
                                r = chown_paths(m, &changed, sum, sizeof(sum), msg, sizeof(msg));
                        if (r == 0 && gc)
                                r = rewrite(m, "group", remap_group_text, sum, sizeof(sum), msg,
                                            sizeof(msg));
                        if (r == 0)
                                r = rewrite(m, "passwd", remap_passwd_text, sum, sizeof(sum), msg,
                                            sizeof(msg));
                }
                if (r == 0 && (r = set_names(p)) < 0)
                        snprintf(msg, sizeof(msg), "setenv: %s", strerror(-r));
        }

        struct audit_event ev = {
            .event = "remap",
            .op = "remap",
            .path = m->active ? m->home : NULL,
            .uid = m->active ? m->new_uid : -1,
            .gid = m->active ? m->new_gid : -1,
            .mode = -1,
            .flags = m->takeover ? "takeover" : NULL,
            .decision = "allow",
            .rule = where,
            .error = r < 0 ? -r : 0,
            .duration_us = now_us() - t0,
            .changed = m->active ? (int64_t)changed : -1,
            .message = r < 0 ? msg : sum,
        };
        int ar = a ? audit_log(a, &ev) : 0;
        if (r < 0)
                return errmsg(err, errlen, r, "%s: remap %s: %s", where, m->user, msg);
        if (ar < 0 && !audit_failure_allow(a))
                return errmsg(err, errlen, ar,
                              "%s: remap %s: done, but its audit record could not be written "
                              "(%s); stopping (policy: audit-failure deny)",
                              where, m->user, strerror(-ar));
        return 0;
}
