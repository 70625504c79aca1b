/* One table from message type to handler (STYLE.md habit 2, OpenSSH's
 * monitor dispatch): a type that is not in the table, or that only the
 * server sends, is refused here before any handler runs. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "broker.h"
#include "log.h"
#include "match.h"
#include "pathnorm.h"
#include "policy.h"
#include "util.h"

static const struct dispatch_entry table[] = {
    {PROTO_PING, "ping", 0, handle_ping},
    {PROTO_MKDIR, "mkdir", DISPATCH_AUDIT, handle_mkdir},
    {PROTO_CHOWN, "chown", DISPATCH_AUDIT, handle_chown},
    {PROTO_CHMOD, "chmod", DISPATCH_AUDIT, handle_chmod},
    {PROTO_OPEN, "open", DISPATCH_AUDIT, handle_open},
    {PROTO_BIND, "bind", DISPATCH_AUDIT, handle_bind},
    {PROTO_ALLOWED, "allowed", 0, handle_allowed},
};

const struct dispatch_entry *dispatch_find(uint16_t type)
{
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (table[i].type == type)
                        return &table[i];
        return NULL;
}

void reply_init(struct reply *r)
{
        memset(r, 0, sizeof(*r));
        r->type = PROTO_OK;
        r->count = -1;
        r->fd = -1;
        r->uid = r->gid = -1;
        r->mode = -1;
}

void reply_done(struct reply *r)
{
        r->fd = safe_close(r->fd);
        free(r->text);
        r->text = NULL;
}

void reply_error(struct reply *r, int err, enum proto_error_kind kind, const char *fmt, ...)
{
        va_list ap;

        r->type = PROTO_ERROR;
        r->err = err < 0 ? -err : err;
        r->kind = kind;
        va_start(ap, fmt);
        vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
        va_end(ap);
        r->fd = safe_close(r->fd);
        if (kind == PROTO_ERR_REFUSED)
                r->decision = "deny";
}

int handler_path(const struct proto_msg *m, struct reply *r)
{
        char msg[256];

        if (proto_strcpy(r->path, sizeof(r->path), m->path, m->path_len) < 0 ||
            path_check(r->path, msg, sizeof(msg)) < 0) {
                reply_error(r, EINVAL, PROTO_ERR_BAD_REQUEST, "bad path: %s",
                            r->path[0] ? msg : "too long");
                return -1;
        }
        return 0;
}

/* The audited request being dispatched (the broker serves one at a time):
 * handler_match writes its intent record once the policy allows it, and
 * dispatch names that record in the outcome. */
static struct {
        const char *op;  /* NULL: not an audited operation */
        uint64_t id;     /* its request_id */
        uint64_t intent; /* seq of the intent record, 0 = none written */
} current;

/* request_id in the audit log: the broker numbers the requests it records
 * (1, 2, ... from its start), so the intent and outcome records of one
 * request carry the same id and no two requests of one start share one.
 * The client's message id is no use there: every `stepdown` command sends
 * its request as message 2. */
static uint64_t last_request_id;

static int audit_request(struct conn *c, const char *event, const char *op, uint64_t id,
                         const struct reply *r, uint64_t duration_us, uint64_t intent);

/* Intent before the act: an allowed operation is performed only after a
 * record saying what is about to be done (who, what, which rule) is in the
 * log.  If that record cannot be written, nothing is done. */
static int audit_intent(struct conn *c, struct reply *r)
{
        struct audit *a = c->cfg->audit;
        if (!a || !current.op)
                return 0;
        int e = audit_request(c, "intent", current.op, current.id, r, 0, 0);
        if (e < 0 && !audit_failure_allow(a)) {
                reply_error(r, -e, PROTO_ERR_FAILED,
                            "the audit log cannot be written, so the broker performs nothing");
                r->decision = "allow";
                return -1;
        }
        current.intent = e < 0 ? 0 : audit_seq(a);
        return 0;
}

int handler_match(struct conn *c, struct sd_request *rq, struct reply *r,
                  const struct policy_rule **rule)
{
        char why[sizeof(r->msg)];
        int e;

        rq->uid = c->peer.uid;
        rq->gid = c->peer.gid;
        rq->groups = c->peer.groups;
        rq->n_groups = c->peer.n_groups;
        e = policy_match(c->cfg->policy, rq, rule, why, sizeof(why));
        if (e == -EINVAL) {
                reply_error(r, EINVAL, PROTO_ERR_BAD_REQUEST, "%s", why);
                return -1;
        }
        if (e < 0) {
                reply_error(r, EACCES, PROTO_ERR_REFUSED, "%s", why);
                return -1;
        }
        r->decision = "allow";
        r->rule_line = (*rule)->line;
        return audit_intent(c, r);
}

void handler_owner(const struct conn *c, const struct proto_msg *m, struct sd_request *rq,
                   struct reply *r)
{
        if (!(m->present & (PROTO_F_UID | PROTO_F_GID)))
                return;
        rq->has_owner = true;
        rq->owner_uid = (m->present & PROTO_F_UID) ? (uid_t)m->uid : c->peer.uid;
        rq->owner_gid = (m->present & PROTO_F_GID) ? (gid_t)m->gid : c->peer.gid;
        r->uid = rq->owner_uid;
        r->gid = rq->owner_gid;
}

const char *handler_rest(const struct policy_rule *rule, const char *path)
{
        const char *rest = path_rest(rule->anchor, path);
        return !rest || strcmp(rest, ".") == 0 ? "" : rest;
}

const char *handler_anchor(const struct policy_rule *rule, const char *path)
{
        return rule->kind == PATTERN_EXACT ? path : rule->anchor;
}

const char *handler_below(const struct policy_rule *rule, const char *path)
{
        return rule->kind == PATTERN_EXACT ? "" : handler_rest(rule, path);
}

void handler_failed(struct reply *r, int err, const char *msg)
{
        const char *decision = r->decision;
        reply_error(r, err, PROTO_ERR_FAILED, "%s",
                    msg && *msg ? msg : strerror(err < 0 ? -err : err));
        r->decision = decision;
}

/* Set while records cannot be written, so the warning is logged once per
 * outage.  Whether to refuse is audit_ready()'s call, asked before every
 * operation. */
static bool audit_failing;

static uint64_t now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int audit_request(struct conn *c, const char *event, const char *op, uint64_t id,
                         const struct reply *r, uint64_t duration_us, uint64_t intent)
{
        bool outcome = strcmp(event, "intent") != 0;
        struct audit *a = c->cfg->audit;
        char where[PATH_MAX + 32];
        struct audit_caller who = {
            .uid = c->peer.uid,
            .gid = c->peer.gid,
            .pid = c->peer.pid,
            .exe = c->peer.exe[0] ? c->peer.exe : NULL,
            .pidfd_ino = c->peer.pidfd_ino,
        };
        struct audit_event ev = {
            .event = event,
            .request_id = id,
            .intent = intent,
            .caller = &who,
            .op = op,
            .path = r->path[0] ? r->path : NULL,
            .uid = r->uid,
            .gid = r->gid,
            .mode = r->mode,
            .flags = r->flags[0] ? r->flags : NULL,
            .addr = r->addr[0] ? r->addr : NULL,
            .decision = r->decision ? r->decision : "deny",
            .error = outcome && r->type == PROTO_ERROR ? r->err : 0,
            .duration_us = duration_us,
            /* Issue 12: when struct op_stats grows counters (entries
             * skipped by a recursive chown, ...), the handler puts them in
             * the reply and they go into this outcome record here. */
            .changed = !outcome || r->type == PROTO_ERROR ? -1 : r->count,
            .message = outcome && r->type == PROTO_ERROR ? r->msg : NULL,
        };
        if (!a)
                return 0;
        if (r->rule_line && c->cfg->policy) {
                policy_where(c->cfg->policy, r->rule_line, where, sizeof(where));
                ev.rule = where;
        }
        int e = audit_log(a, &ev);
        if (e < 0 && !audit_failing)
                log_warn("audit log: a record could not be written: %s%s", strerror(-e),
                         audit_failure_allow(a) ? " (audit-failure allow: going on)"
                                                : "; refusing operations until it can");
        audit_failing = e < 0;
        return e;
}

void dispatch_audit_auth(struct conn *c, const char *why)
{
        struct reply r;
        reply_init(&r);
        reply_error(&r, EACCES, PROTO_ERR_AUTH, "%s", why);
        (void)audit_request(c, "request", "auth", ++last_request_id, &r, 0, 0);
}

void dispatch(struct conn *c, const struct proto_msg *m, struct reply *r)
{
        const struct dispatch_entry *e = dispatch_find(m->type);
        struct audit *a = c->cfg->audit;

        if (!e) {
                const char *name = proto_type_name(m->type);
                reply_error(r, EOPNOTSUPP, PROTO_ERR_BAD_REQUEST,
                            "message type 0x%04x%s%s%s is not a request the broker serves", m->type,
                            name ? " (" : "", name ? name : "", name ? ")" : "");
                return;
        }
        if (!(e->flags & DISPATCH_AUDIT) || !a) {
                e->handler(c, m, r);
                return;
        }
        /* Fail closed (docs/AUDIT.md, Failures): refuse up front when the
         * record could not be written (file gone, disk full, last record
         * failed), and still write the refusal's record if the sink takes
         * it (a write that works ends the outage). */
        uint64_t id = ++last_request_id;
        int e_ready = audit_ready(a);
        if (e_ready < 0 && !audit_failure_allow(a)) {
                reply_error(r, -e_ready, PROTO_ERR_FAILED,
                            "the audit log cannot be written, so the broker performs nothing");
                (void)audit_request(c, "request", e->name, id, r, 0, 0);
                return;
        }
        /* The handler matches the policy, and handler_match writes the
         * intent record before the handler acts; the outcome follows. */
        current.op = e->name;
        current.id = id;
        current.intent = 0;
        uint64_t t0 = now_us();
        e->handler(c, m, r);
        uint64_t intent = current.intent;
        current.op = NULL;
        bool performed = r->type != PROTO_ERROR;
        int e_log = audit_request(c, "request", e->name, id, r, now_us() - t0, intent);
        if (e_log < 0 && performed && !audit_failure_allow(a))
                reply_error(r, -e_log, PROTO_ERR_FAILED,
                            "%s WAS performed, but its audit record could not be written%s; "
                            "the broker refuses operations until a record can be written (the "
                            "intent record is in the log, and the next record says one was lost)",
                            e->name, r->fd >= 0 ? " (the file descriptor is withheld)" : "");
}
