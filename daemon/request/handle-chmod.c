/* chmod: the mode of a directory or regular file below an allowed anchor,
 * one of the modes the rule lists (no set-uid/set-gid/sticky unless it
 * names them). */
#include <errno.h>

#include "broker.h"
#include "match.h"
#include "ops.h"

void handle_chmod(struct conn *c, const struct proto_msg *m, struct reply *r)
{
        struct sd_request rq = {.op = SD_OP_CHMOD};
        const struct policy_rule *rule;
        char err[512] = "";

        if (handler_path(m, r) < 0)
                return;
        rq.path = r->path;
        rq.has_mode = true;
        rq.mode = m->mode;
        r->mode = (int32_t)m->mode;
        if (handler_match(c, &rq, r, &rule) < 0)
                return;

        int e = op_chmod(handler_anchor(rule, r->path), handler_below(rule, r->path), rq.mode, err,
                         sizeof(err));
        if (e < 0)
                handler_failed(r, -e, err);
}
