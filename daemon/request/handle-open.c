/* open: a regular file below an allowed anchor, read and/or write, maybe
 * created (owned by the caller, with the mode asked for); the fd goes
 * back with SCM_RIGHTS. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "broker.h"
#include "match.h"
#include "ops.h"

static int open_flags(uint32_t f, char *names, size_t len)
{
        int o = (f & PROTO_OPEN_READ) && (f & PROTO_OPEN_WRITE) ? O_RDWR
                : (f & PROTO_OPEN_WRITE)                        ? O_WRONLY
                                                                : O_RDONLY;
        o |= (f & PROTO_OPEN_CREATE ? O_CREAT : 0) | (f & PROTO_OPEN_TRUNC ? O_TRUNC : 0) |
             (f & PROTO_OPEN_APPEND ? O_APPEND : 0) | (f & PROTO_OPEN_EXCL ? O_EXCL : 0);
        snprintf(names, len, "%s%s%s%s%s%s", f & PROTO_OPEN_READ ? "read," : "",
                 f & PROTO_OPEN_WRITE ? "write," : "", f & PROTO_OPEN_CREATE ? "create," : "",
                 f & PROTO_OPEN_TRUNC ? "trunc," : "", f & PROTO_OPEN_APPEND ? "append," : "",
                 f & PROTO_OPEN_EXCL ? "excl," : "");
        size_t n = strlen(names);
        if (n)
                names[n - 1] = '\0';
        return o;
}

void handle_open(struct conn *c, const struct proto_msg *m, struct reply *r)
{
        struct sd_request rq = {.op = SD_OP_OPEN};
        const struct policy_rule *rule;
        char err[512] = "";
        int fd = -1;

        if (handler_path(m, r) < 0)
                return;
        rq.path = r->path;
        rq.read = (m->flags & PROTO_OPEN_READ) != 0;
        rq.write = (m->flags & PROTO_OPEN_WRITE) != 0;
        rq.create = (m->flags & PROTO_OPEN_CREATE) != 0;
        rq.has_mode = rq.create;
        rq.mode = m->mode;
        if (rq.create)
                r->mode = (int32_t)m->mode;
        int oflags = open_flags(m->flags, r->flags, sizeof(r->flags));
        if (handler_match(c, &rq, r, &rule) < 0)
                return;

        int e = op_open(handler_anchor(rule, r->path), handler_below(rule, r->path), oflags,
                        rq.mode, c->peer.uid, c->peer.gid, &fd, err, sizeof(err));
        if (e < 0) {
                handler_failed(r, -e, err);
                return;
        }
        r->fd = fd;
}
