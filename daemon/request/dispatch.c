/* The socket front door: one table from message type to operation
 * (STYLE.md habit 2, OpenSSH's monitor dispatch).  A type that is not in
 * the table, or that only the server sends, is refused here; an operation
 * is decoded into a struct sd_call, run through the pipeline
 * (request_run, request.c), and its result encoded as the reply. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "broker.h"
#include "match.h"
#include "pathnorm.h"
#include "request.h"
#include "util.h"

void reply_init(struct reply *r)
{
        memset(r, 0, sizeof(*r));
        r->type = PROTO_OK;
        r->count = -1;
        r->fd = -1;
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
}

/* ---- decoding: one function per operation, PROTO_* message -> call ---- */

/* Copies the path (len bytes at s) into call->path (NUL-terminated, in
 * normal form); 0, or -1 with res BAD. */
static int decode_path(const char *s, size_t len, struct sd_call *call, struct sd_result *res)
{
        char msg[256];

        if (proto_strcpy(call->path, sizeof(call->path), s, len) < 0 ||
            path_check(call->path, msg, sizeof(msg)) < 0) {
                result_set(res, SD_RES_BAD, EINVAL, "bad path: %s",
                           call->path[0] ? msg : "too long");
                return -1;
        }
        return 0;
}

/* The owner a request names (UID/GID fields; a missing one is the
 * caller's own). */
static void decode_owner(const struct proto_msg *m, struct sd_call *call)
{
        struct sd_request *rq = &call->rq;

        if (!(m->present & (PROTO_F_UID | PROTO_F_GID)))
                return;
        rq->has_owner = true;
        rq->owner_uid = (m->present & PROTO_F_UID) ? (uid_t)m->uid : rq->uid;
        rq->owner_gid = (m->present & PROTO_F_GID) ? (gid_t)m->gid : rq->gid;
}

static int decode_mkdir(const struct proto_msg *m, struct sd_call *call, struct sd_result *res)
{
        struct sd_request *rq = &call->rq;

        rq->op = SD_OP_MKDIR;
        if (decode_path(m->path, m->path_len, call, res) < 0)
                return -1;
        rq->parents = (m->flags & PROTO_MKDIR_PARENTS) != 0;
        rq->has_mode = (m->present & PROTO_F_MODE) != 0;
        rq->mode = m->mode;
        decode_owner(m, call);
        if (rq->parents)
                strcpy(call->flags_text, "parents");
        return 0;
}

static int decode_chown(const struct proto_msg *m, struct sd_call *call, struct sd_result *res)
{
        struct sd_request *rq = &call->rq;

        rq->op = SD_OP_CHOWN;
        if (decode_path(m->path, m->path_len, call, res) < 0)
                return -1;
        rq->recursive = (m->flags & PROTO_CHOWN_RECURSIVE) != 0;
        decode_owner(m, call);
        if (rq->recursive)
                strcpy(call->flags_text, "recursive");
        return 0;
}

static int decode_chmod(const struct proto_msg *m, struct sd_call *call, struct sd_result *res)
{
        struct sd_request *rq = &call->rq;

        rq->op = SD_OP_CHMOD;
        if (decode_path(m->path, m->path_len, call, res) < 0)
                return -1;
        rq->has_mode = true;
        rq->mode = m->mode;
        return 0;
}

static int decode_open(const struct proto_msg *m, struct sd_call *call, struct sd_result *res)
{
        struct sd_request *rq = &call->rq;
        uint32_t f = m->flags;

        rq->op = SD_OP_OPEN;
        if (decode_path(m->path, m->path_len, call, res) < 0)
                return -1;
        rq->read = (f & PROTO_OPEN_READ) != 0;
        rq->write = (f & PROTO_OPEN_WRITE) != 0;
        rq->create = (f & PROTO_OPEN_CREATE) != 0;
        rq->has_mode = rq->create;
        rq->mode = m->mode;
        call->open_flags = rq->read && rq->write ? O_RDWR : rq->write ? O_WRONLY : O_RDONLY;
        call->open_flags |=
            (f & PROTO_OPEN_CREATE ? O_CREAT : 0) | (f & PROTO_OPEN_TRUNC ? O_TRUNC : 0) |
            (f & PROTO_OPEN_APPEND ? O_APPEND : 0) | (f & PROTO_OPEN_EXCL ? O_EXCL : 0);
        call_open_flags_text(call);
        return 0;
}

static int decode_bind(const struct proto_msg *m, struct sd_call *call, struct sd_result *res)
{
        struct sd_request *rq = &call->rq;
        char *addr = call->addr;

        rq->op = SD_OP_BIND;
        if (m->bind_proto == PROTO_BIND_UNIX) {
                if (decode_path(m->address, m->address_len, call, res) < 0)
                        return -1;
                snprintf(call->addr_text, sizeof(call->addr_text), "unix:%.150s", call->path);
                rq->family = AF_UNIX;
                rq->socktype = SOCK_STREAM;
                return 0;
        }
        rq->path = NULL;
        if (proto_strcpy(addr, sizeof(call->addr), m->address, m->address_len) < 0) {
                result_set(res, SD_RES_BAD, EINVAL, "bad address");
                return -1;
        }
        rq->socktype = m->bind_proto == PROTO_BIND_UDP ? SOCK_DGRAM : SOCK_STREAM;
        rq->addr = addr;
        rq->port = m->port;
        snprintf(call->addr_text, sizeof(call->addr_text), "%s:%s%s%s:%u",
                 rq->socktype == SOCK_DGRAM ? "udp" : "tcp", strchr(addr, ':') ? "[" : "", addr,
                 strchr(addr, ':') ? "]" : "", (unsigned)m->port);
        /* "*": the pipeline tries the rules for IPv6 first, then IPv4. */
        rq->family = strchr(addr, ':') || strcmp(addr, "*") == 0 ? AF_INET6 : AF_INET;
        return 0;
}

/* ---- questions about the broker itself: no operation, not audited ---- */

static void answer_ping(const struct request_ctx *ctx, const struct peer *p,
                        const struct proto_msg *m, struct reply *r)
{
        (void)ctx;
        (void)p;
        (void)m;
        r->type = PROTO_OK;
}

static const struct dispatch_entry table[] = {
    {PROTO_PING, "ping", 0, NULL, answer_ping},
    {PROTO_MKDIR, "mkdir", DISPATCH_AUDIT, decode_mkdir, NULL},
    {PROTO_CHOWN, "chown", DISPATCH_AUDIT, decode_chown, NULL},
    {PROTO_CHMOD, "chmod", DISPATCH_AUDIT, decode_chmod, NULL},
    {PROTO_OPEN, "open", DISPATCH_AUDIT, decode_open, NULL},
    {PROTO_BIND, "bind", DISPATCH_AUDIT, decode_bind, NULL},
    {PROTO_ALLOWED, "allowed", 0, NULL, answer_allowed},
};

const struct dispatch_entry *dispatch_find(uint16_t type)
{
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (table[i].type == type)
                        return &table[i];
        return NULL;
}

/* The result as the reply: OK with its count and fd, or an ERROR. */
static void reply_from(struct reply *r, struct sd_result *res)
{
        static const enum proto_error_kind kinds[] = {
            [SD_RES_NO_RULE] = PROTO_ERR_REFUSED,
            [SD_RES_REFUSED] = PROTO_ERR_REFUSED,
            [SD_RES_BAD] = PROTO_ERR_BAD_REQUEST,
            [SD_RES_FAILED] = PROTO_ERR_FAILED,
        };

        if (res->kind == SD_RES_OK) {
                r->type = PROTO_OK;
                r->count = res->count;
                r->fd = TAKE_FD(res->fd);
                return;
        }
        reply_error(r, res->err, kinds[res->kind], "%s", res->msg);
}

bool dispatch(struct request_ctx *ctx, const struct peer *p, const struct proto_msg *m,
              struct reply *r, struct deferred *d)
{
        const struct dispatch_entry *e = dispatch_find(m->type);

        if (!e) {
                const char *name = proto_type_name(m->type);
                reply_error(r, EOPNOTSUPP, PROTO_ERR_BAD_REQUEST,
                            "message type 0x%04x%s%s%s is not a request the broker serves", m->type,
                            name ? " (" : "", name ? name : "", name ? ")" : "");
                return false;
        }
        if (!(e->flags & DISPATCH_AUDIT)) {
                e->answer(ctx, p, m, r);
                return false;
        }
        struct sd_call *call = &d->call;
        struct sd_result *res = &d->res;
        call_init(call);
        call_set_peer(call, p);
        result_init(res);
        (void)e->decode(m, call, res); /* a bad request is recorded by the pipeline */
        switch (request_begin(ctx, call, res, &d->open)) {
        case REQUEST_DONE:
                break;
        case REQUEST_ACT:
                if (request_is_long(call) && res->kind == SD_RES_OK) {
                        /* what outlives the peer's connection */
                        snprintf(d->exe, sizeof(d->exe), "%s", call->exe ? call->exe : "");
                        call->exe = call->exe ? d->exe : NULL;
                        call->rq.groups = NULL;
                        call->rq.n_groups = 0;
                        call->rq.path = call->path;
                        return true;
                }
                request_act(&d->open, call, res);
                __attribute__((fallthrough));
        case REQUEST_END:
                request_end(ctx, call, res, &d->open);
                break;
        }
        reply_from(r, res);
        result_done(res);
        return false;
}

void dispatch_finish(struct request_ctx *ctx, struct deferred *d, struct reply *r)
{
        request_end(ctx, &d->call, &d->res, &d->open);
        reply_from(r, &d->res);
        result_done(&d->res);
}

void dispatch_audit_auth(struct request_ctx *ctx, const struct peer *p, const char *why)
{
        struct sd_call call;
        call_init(&call);
        call_set_peer(&call, p);
        request_audit_auth(ctx, &call, why);
}
