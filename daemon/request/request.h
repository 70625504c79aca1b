/* The request pipeline (docs/HACKING.md).  A front door turns what it
 * received into a struct sd_call (a plain value: the operation, its
 * arguments, the caller); request_run() takes it through policy match ->
 * intent record -> act (one act_<op>() per operation, over the engine) ->
 * outcome record, and fills a struct sd_result that the front door turns
 * into its own answer.  The audit bracket lives in request.c and nowhere
 * else; what one request needs between steps travels in the call and the
 * result, what outlives it in the broker's struct request_ctx.
 *
 * Front doors: the socket (dispatch.c: PROTO_* message -> sd_call ->
 * reply), and tomorrow the app's own system calls. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "match.h"
#include "proto.h"

struct policy;
struct policy_rule;
struct audit;
struct peer;

/* One request, as a front door hands it to the pipeline. */
struct sd_call {
        /* What the policy is asked: op, path or address, arguments, and the
         * caller's uid, gid and groups.  rq.path points at path below;
         * rq.addr (an IP bind) at storage the front door keeps. */
        struct sd_request rq;
        /* Who asked, for the audit record (rq holds uid/gid/groups). */
        pid_t pid;
        pid_t tid;          /* 0 = not known (the socket door) */
        const char *exe;    /* NULL = unknown */
        uint64_t pidfd_ino; /* 0 = unknown */
        /* Which door: "socket" or "syscall", and the system call's name
         * (NULL for the socket).  The records of socket requests do not
         * show them. */
        const char *via;
        const char *syscall;
        /* Arguments as the engine takes them and the record shows them. */
        char path[PROTO_MAX_PATH + 1]; /* "" = none */
        int open_flags;                /* open: O_* */
        char flags_text[64];           /* e.g. "recursive", "read,write" ("" = none) */
        char addr_text[160];           /* bind: "tcp:ADDR:PORT", "unix:PATH" ("" = none) */
        char addr[48];                 /* bind: the IP address rq.addr points at */
        /* bind: a socket of the caller's to bind (the syscall door), or -1
         * for a new one the broker makes, binds, listens on and returns. */
        int sock_fd;
        /* chown (not recursive), chmod: act only on the object with this
         * device and inode (the fd an fchown/fchmod names), compared on
         * the fd the engine acts through; another object fails with
         * OP_NOT_EXPECTED (ops.h), nothing changed. */
        bool has_expect;
        dev_t expect_dev;
        ino_t expect_ino;
        /* A request for which no allow rule matches gets SD_RES_NO_RULE
         * and leaves no record (the syscall door lets the call go on);
         * false: it is refused and recorded. */
        bool quiet_no_rule;
};

/* What came of it. */
struct sd_result {
        enum sd_result_kind {
                SD_RES_OK,
                SD_RES_NO_RULE, /* quiet_no_rule only: nothing matched, nothing recorded */
                SD_RES_REFUSED, /* the policy said no (EACCES) */
                SD_RES_BAD,     /* malformed: the front door or the policy said so */
                SD_RES_FAILED,  /* allowed, but it failed (or cannot be recorded) */
        } kind;
        int err; /* positive errno, 0 for SD_RES_OK */
        char msg[512];
        int64_t count; /* entries changed (chown), -1 = none */
        int fd;        /* an fd for the caller (open, bind), -1 = none; owned by the result */
        /* For the record: */
        const char *decision; /* "allow", "deny", or NULL (not matched: "deny") */
        unsigned rule_line;   /* the allow rule that decided, 0 = none */
        /* What the act did where the request left it to the rule or the
         * caller (mkdir's mode and owner, a unix socket's mode): shown in
         * the outcome record instead of the request's; -1 = as asked. */
        int64_t uid, gid;
        int32_t mode;
};

/* What outlives one request: the broker owns it (one per broker). */
struct request_ctx {
        const struct policy *policy;
        struct audit *audit;        /* NULL: nothing is recorded */
        uint64_t max_chown_entries; /* entries one chown may look at */
        /* request_id in the audit log: the broker numbers the requests it
         * records (1, 2, ... from its start), so the intent and outcome
         * records of one request carry the same id and no two requests of
         * one start share one.  (The client's message id is no use there:
         * every `stepdown` command sends its request as message 2.) */
        uint64_t last_request_id;
        /* Set while records cannot be written, so the warning is logged
         * once per outage.  Whether to refuse is audit_ready()'s call. */
        bool audit_failing;
        /* The "rule" of the last record, policy_where() of where_line in
         * where_policy (0: none yet): both records of a request, and the
         * requests that match the same rule, print it once. */
        const struct policy *where_policy;
        unsigned where_line;
        char where[PATH_MAX + 32];
};

/* request.c */
/* A call with no arguments, from nobody: sock_fd -1, via "socket". */
void call_init(struct sd_call *call);
/* Fills in the caller from the kernel's peer credentials. */
void call_set_peer(struct sd_call *call, const struct peer *p);
/* open: call->flags_text ("read,write,create,trunc,append,excl", those
 * that apply) from rq.read, rq.write and open_flags. */
void call_open_flags_text(struct sd_call *call);
void result_init(struct sd_result *res);
void result_done(struct sd_result *res);
/* Marks res as kind with err (positive or negative) and a message; closes
 * its fd.  SD_RES_REFUSED sets decision "deny"; the others keep it. */
void result_set(struct sd_result *res, enum sd_result_kind kind, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The pipeline.  res comes in from result_init(), or as SD_RES_BAD when
 * the front door could not decode the request (then it is only
 * recorded).  On return res says what happened; its fd is the caller's. */
void request_run(struct request_ctx *ctx, struct sd_call *call, struct sd_result *res);
/* The pipeline cut around its act, for an act that runs off the event
 * loop (request_is_long(): a recursive chown, broker.c's worker thread).
 * request_begin() matches and writes the intent record: REQUEST_ACT, run
 * request_act() (in any thread: it reads only the call, the result and o,
 * never ctx) and then request_end(); REQUEST_END, res is final, call
 * request_end() for the outcome record; REQUEST_DONE, nothing more (res
 * is final and recorded, or not to be).  The records keep their order:
 * intent before the act, outcome after it.  request_run() is the three
 * in a row. */
struct request_open {
        const struct policy_rule *rule; /* the allow rule that matched */
        const char *op;
        uint64_t t0, id, intent;    /* start, request_id, the intent record's seq */
        uint64_t max_chown_entries; /* ctx's, for the act */
};
enum request_next { REQUEST_DONE, REQUEST_END, REQUEST_ACT };
bool request_is_long(const struct sd_call *call);
enum request_next request_begin(struct request_ctx *ctx, struct sd_call *call,
                                struct sd_result *res, struct request_open *o);
void request_act(const struct request_open *o, const struct sd_call *call, struct sd_result *res);
void request_end(struct request_ctx *ctx, const struct sd_call *call, struct sd_result *res,
                 const struct request_open *o);
/* Records a failed authentication of call's caller. */
void request_audit_auth(struct request_ctx *ctx, const struct sd_call *call, const char *why);

/* act.c: one act per operation, run once the policy allowed the call
 * under rule.  Each works on the call, the rule and the result alone (no
 * state of the broker's), so it may run off the event loop (act_bind sets
 * the process-wide umask around its bind(): not beside other acts).  0,
 * or -errno with res->msg saying why; fills res->fd, res->count, and what
 * it decided (res->mode/uid/gid). */
int act_mkdir(const struct sd_call *call, const struct policy_rule *rule, struct sd_result *res);
int act_chown(const struct sd_call *call, const struct policy_rule *rule, uint64_t max_entries,
              struct sd_result *res);
int act_chmod(const struct sd_call *call, const struct policy_rule *rule, struct sd_result *res);
int act_open(const struct sd_call *call, const struct policy_rule *rule, struct sd_result *res);
int act_bind(const struct sd_call *call, const struct policy_rule *rule, struct sd_result *res);

/* ---- the socket front door (dispatch.c, handle-allowed.c) ---- */

/* What the socket door answers; broker.c encodes and sends it. */
struct reply {
        uint16_t type; /* PROTO_OK, PROTO_ERROR or PROTO_ALLOWED_REPLY */
        int err;       /* PROTO_ERROR: positive errno */
        enum proto_error_kind kind;
        char msg[512];
        int64_t count; /* PROTO_OK: entries changed, -1 for none */
        int fd;        /* PROTO_OK: fd passed back with SCM_RIGHTS, -1 for none */
        char *text;    /* PROTO_ALLOWED_REPLY, malloc'd */
};

enum {
        DISPATCH_AUDIT = 1u << 0, /* an operation: through the pipeline, audited */
};
/* Decodes m into call: 0, or -1 with res set to SD_RES_BAD. */
typedef int (*decode_fn)(const struct proto_msg *m, struct sd_call *call, struct sd_result *res);
/* Answers a question about the broker itself (ping, allowed). */
typedef void (*answer_fn)(const struct request_ctx *ctx, const struct peer *p,
                          const struct proto_msg *m, struct reply *r);
struct dispatch_entry {
        uint16_t type;
        const char *name;
        unsigned flags;
        decode_fn decode; /* DISPATCH_AUDIT */
        answer_fn answer; /* otherwise */
};
/* The table's entry for type, or NULL: unknown types are refused there. */
const struct dispatch_entry *dispatch_find(uint16_t type);
/* A request whose act is left to the caller (dispatch() returned true). */
struct deferred {
        struct sd_call call;
        struct sd_result res;
        struct request_open open;
        char exe[256]; /* call.exe points here: the peer's may be gone at the end */
};
/* Answers m from peer p: r is filled in (an ERROR for unknown types) and
 * false returned; or, for a request whose act is long (request_is_long)
 * and allowed, its intent is recorded, d holds it and true is returned:
 * the caller runs request_act(&d->open, &d->call, &d->res) (in another
 * thread if it likes) and then dispatch_finish(), which writes the
 * outcome record and fills r.  Nothing in d points into p. */
bool dispatch(struct request_ctx *ctx, const struct peer *p, const struct proto_msg *m,
              struct reply *r, struct deferred *d);
void dispatch_finish(struct request_ctx *ctx, struct deferred *d, struct reply *r);
/* Audits a failed authentication of p. */
void dispatch_audit_auth(struct request_ctx *ctx, const struct peer *p, const char *why);
void reply_init(struct reply *r);
void reply_done(struct reply *r);
void reply_error(struct reply *r, int err, enum proto_error_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* handle-allowed.c */
void answer_allowed(const struct request_ctx *ctx, const struct peer *p, const struct proto_msg *m,
                    struct reply *r);
