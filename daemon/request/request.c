/* The request pipeline: policy match -> intent record -> act -> outcome
 * record -> result (request.h).  The audit bracket of every operation is
 * here and nowhere else: what one request needs from one step to the next
 * is in its call and result, what outlives it in the broker's
 * request_ctx. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "audit.h"
#include "broker.h"
#include "log.h"
#include "match.h"
#include "policy.h"
#include "request.h"
#include "util.h"

void call_init(struct sd_call *call)
{
        memset(call, 0, sizeof(*call));
        call->via = "socket";
        call->sock_fd = -1;
        call->rq.path = call->path;
}

void call_set_peer(struct sd_call *call, const struct peer *p)
{
        call->rq.uid = p->uid;
        call->rq.gid = p->gid;
        call->rq.groups = p->groups;
        call->rq.n_groups = p->n_groups;
        call->pid = p->pid;
        call->exe = p->exe[0] ? p->exe : NULL;
        call->pidfd_ino = p->pidfd_ino;
}

void call_open_flags_text(struct sd_call *call)
{
        int f = call->open_flags;
        snprintf(call->flags_text, sizeof(call->flags_text), "%s%s%s%s%s%s",
                 call->rq.read ? "read," : "", call->rq.write ? "write," : "",
                 f & O_CREAT ? "create," : "", f & O_TRUNC ? "trunc," : "",
                 f & O_APPEND ? "append," : "", f & O_EXCL ? "excl," : "");
        size_t n = strlen(call->flags_text);
        if (n)
                call->flags_text[n - 1] = '\0';
}

void result_init(struct sd_result *res)
{
        memset(res, 0, sizeof(*res));
        res->kind = SD_RES_OK;
        res->count = -1;
        res->fd = -1;
        res->uid = res->gid = -1;
        res->mode = -1;
}

void result_done(struct sd_result *res)
{
        res->fd = safe_close(res->fd);
}

void result_set(struct sd_result *res, enum sd_result_kind kind, int err, const char *fmt, ...)
{
        va_list ap;

        res->kind = kind;
        res->err = err < 0 ? -err : err;
        va_start(ap, fmt);
        vsnprintf(res->msg, sizeof(res->msg), fmt, ap);
        va_end(ap);
        res->fd = safe_close(res->fd);
        if (kind == SD_RES_REFUSED)
                res->decision = "deny";
}

static uint64_t now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Writes one record about call: its "intent" (what is about to be done:
 * the request's arguments) or its outcome ("request": what was done and
 * how it ended).  0 or -errno; the first failure of an outage is
 * logged. */
static int record(struct request_ctx *ctx, const char *event, const char *op, uint64_t id,
                  const struct sd_call *call, const struct sd_result *res, uint64_t duration_us,
                  uint64_t intent)
{
        struct audit *a = ctx->audit;
        if (!a)
                return 0;
        bool outcome = strcmp(event, "intent") != 0;
        bool error = outcome && res->kind != SD_RES_OK;
        const struct sd_request *rq = &call->rq;
        struct audit_caller who = {
            .uid = rq->uid,
            .gid = rq->gid,
            .pid = call->pid,
            .exe = call->exe,
            .pidfd_ino = call->pidfd_ino,
        };
        struct audit_event ev = {
            .event = event,
            .request_id = id,
            .intent = intent,
            .caller = &who,
            .op = op,
            .path = call->path[0] ? call->path : NULL,
            .uid = rq->has_owner ? (int64_t)rq->owner_uid : -1,
            .gid = rq->has_owner ? (int64_t)rq->owner_gid : -1,
            .mode = rq->has_mode ? (int32_t)rq->mode : -1,
            .flags = call->flags_text[0] ? call->flags_text : NULL,
            .addr = call->addr_text[0] ? call->addr_text : NULL,
            .decision = res->decision ? res->decision : "deny",
            .error = error ? res->err : 0,
            .duration_us = duration_us,
            /* Issue 12: when struct op_stats grows counters (entries
             * skipped by a recursive chown, ...), the act puts them in
             * the result and they go into this outcome record here. */
            .changed = !outcome || error ? -1 : res->count,
            .message = error ? res->msg : NULL,
        };
        /* The syscall door (daemon/intercept/) says so; socket records
         * stay as they were. */
        if (call->syscall) {
                ev.via = call->via;
                ev.syscall = call->syscall;
                ev.tid = call->tid;
        }
        /* What the act decided where the request left it open. */
        if (outcome && res->uid >= 0)
                ev.uid = res->uid;
        if (outcome && res->gid >= 0)
                ev.gid = res->gid;
        if (outcome && res->mode >= 0)
                ev.mode = res->mode;
        if (res->rule_line && ctx->policy) {
                if (ctx->where_line != res->rule_line || ctx->where_policy != ctx->policy) {
                        policy_where(ctx->policy, res->rule_line, ctx->where, sizeof(ctx->where));
                        ctx->where_line = res->rule_line;
                        ctx->where_policy = ctx->policy;
                }
                ev.rule = ctx->where;
        }
        int e = audit_log(a, &ev);
        if (e < 0 && !ctx->audit_failing)
                log_warn("audit log: a record could not be written: %s%s", strerror(-e),
                         audit_failure_allow(a) ? " (audit-failure allow: going on)"
                                                : "; refusing operations until it can");
        ctx->audit_failing = e < 0;
        return e;
}

/* Matches call against the policy: 0 with *rule, or -EACCES (refused) /
 * -EINVAL (malformed) with res filled in.  Sets decision and rule_line. */
static int match(const struct request_ctx *ctx, struct sd_call *call, struct sd_result *res,
                 const struct policy_rule **rule)
{
        struct sd_request *rq = &call->rq;
        char why[sizeof(res->msg)];

        int e = policy_match(ctx->policy, rq, rule, why, sizeof(why));
        /* bind "*" may be served by an IPv6 socket (both families) or an
         * IPv4 one: the rules for IPv6 first, then those for IPv4. */
        if (e < 0 && rq->op == SD_OP_BIND && rq->family == AF_INET6 && rq->addr &&
            strcmp(rq->addr, "*") == 0) {
                rq->family = AF_INET;
                e = policy_match(ctx->policy, rq, rule, why, sizeof(why));
        }
        if (e == -EINVAL) {
                result_set(res, SD_RES_BAD, EINVAL, "%s", why);
                return e;
        }
        if (e < 0) {
                result_set(res, SD_RES_REFUSED, EACCES, "%s", why);
                return -EACCES;
        }
        res->decision = "allow";
        res->rule_line = (*rule)->line;
        return 0;
}

static int act(const struct request_open *o, const struct sd_call *call,
               const struct policy_rule *rule, struct sd_result *res)
{
        switch (call->rq.op) {
        case SD_OP_MKDIR:
                return act_mkdir(call, rule, res);
        case SD_OP_CHOWN:
                return act_chown(call, rule, o->max_chown_entries, res);
        case SD_OP_CHMOD:
                return act_chmod(call, rule, res);
        case SD_OP_OPEN:
                return act_open(call, rule, res);
        case SD_OP_BIND:
                return act_bind(call, rule, res);
        }
        snprintf(res->msg, sizeof(res->msg), "operation %d is not one the broker performs",
                 (int)call->rq.op);
        return -EOPNOTSUPP;
}

/* Fail closed (docs/AUDIT.md, Failures): refuse up front when the record
 * could not be written (file gone, disk full, last record failed), and
 * still write the refusal's record, of the bare operation, if the sink
 * takes it (a write that works ends the outage).  true to go on. */
static bool audit_usable(struct request_ctx *ctx, const char *op, uint64_t id,
                         const struct sd_call *call, struct sd_result *res)
{
        struct audit *a = ctx->audit;
        int e = audit_ready(a);
        if (e >= 0 || audit_failure_allow(a))
                return true;
        struct sd_call bare;
        call_init(&bare);
        bare.rq.op = call->rq.op;
        bare.rq.uid = call->rq.uid;
        bare.rq.gid = call->rq.gid;
        bare.pid = call->pid;
        bare.exe = call->exe;
        bare.pidfd_ino = call->pidfd_ino;
        result_set(res, SD_RES_FAILED, e,
                   "the audit log cannot be written, so the broker performs nothing");
        res->decision = NULL;
        res->rule_line = 0;
        (void)record(ctx, "request", op, id, &bare, res, 0, 0);
        return false;
}

bool request_is_long(const struct sd_call *call)
{
        return call->rq.op == SD_OP_CHOWN && call->rq.recursive;
}

enum request_next request_begin(struct request_ctx *ctx, struct sd_call *call,
                                struct sd_result *res, struct request_open *o)
{
        struct audit *a = ctx->audit;
        bool matched = false;

        *o = (struct request_open){.op = sd_op_name(call->rq.op),
                                   .t0 = now_us(),
                                   .max_chown_entries = ctx->max_chown_entries};
        if (call->quiet_no_rule && res->kind == SD_RES_OK) {
                if (match(ctx, call, res, &o->rule) == -EACCES) {
                        res->kind = SD_RES_NO_RULE;
                        return REQUEST_DONE;
                }
                matched = true;
        }
        if (a) {
                o->id = ++ctx->last_request_id;
                if (!audit_usable(ctx, o->op, o->id, call, res))
                        return REQUEST_DONE;
        }
        if (res->kind == SD_RES_OK && !matched)
                (void)match(ctx, call, res, &o->rule);
        if (res->kind != SD_RES_OK)
                return REQUEST_END;
        /* Intent before the act: an allowed operation is performed only
         * after a record saying what is about to be done (who, what, which
         * rule) is in the log.  If that record cannot be written, nothing
         * is done. */
        int e = record(ctx, "intent", o->op, o->id, call, res, 0, 0);
        if (e < 0 && !audit_failure_allow(a)) {
                result_set(res, SD_RES_FAILED, e,
                           "the audit log cannot be written, so the broker performs nothing");
                return REQUEST_END;
        }
        o->intent = e < 0 || !a ? 0 : audit_seq(a);
        return REQUEST_ACT;
}

void request_act(const struct request_open *o, const struct sd_call *call, struct sd_result *res)
{
        int e = act(o, call, o->rule, res);
        if (e < 0) {
                res->kind = SD_RES_FAILED;
                res->err = -e;
                if (!res->msg[0])
                        snprintf(res->msg, sizeof(res->msg), "%s", strerror(-e));
                res->fd = safe_close(res->fd);
        }
}

void request_end(struct request_ctx *ctx, const struct sd_call *call, struct sd_result *res,
                 const struct request_open *o)
{
        struct audit *a = ctx->audit;
        bool performed = res->kind == SD_RES_OK;
        int e_log = record(ctx, "request", o->op, o->id, call, res, now_us() - o->t0, o->intent);
        if (e_log < 0 && performed && !audit_failure_allow(a))
                result_set(res, SD_RES_FAILED, e_log,
                           "%s WAS performed, but its audit record could not be written%s; "
                           "the broker refuses operations until a record can be written (the "
                           "intent record is in the log, and the next record says one was lost)",
                           o->op, res->fd >= 0 ? " (the file descriptor is withheld)" : "");
}

void request_run(struct request_ctx *ctx, struct sd_call *call, struct sd_result *res)
{
        struct request_open o;
        switch (request_begin(ctx, call, res, &o)) {
        case REQUEST_DONE:
                return;
        case REQUEST_ACT:
                request_act(&o, call, res);
                break;
        case REQUEST_END:
                break;
        }
        request_end(ctx, call, res, &o);
}

void request_audit_auth(struct request_ctx *ctx, const struct sd_call *call, const char *why)
{
        struct sd_result res;
        result_init(&res);
        result_set(&res, SD_RES_REFUSED, EACCES, "%s", why);
        (void)record(ctx, "request", "auth", ++ctx->last_request_id, call, &res, 0, 0);
}
