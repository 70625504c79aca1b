/* chown: the owner of a path (or, with recursive, a tree) below an
 * allowed anchor; never through a symlink.  The reply counts the entries
 * changed. */
#include <errno.h>
#include <string.h>

#include "broker.h"
#include "match.h"
#include "ops.h"

void handle_chown(struct conn *c, const struct proto_msg *m, struct reply *r)
{
        struct sd_request rq = {.op = SD_OP_CHOWN};
        const struct policy_rule *rule;
        struct op_stats st = {.max_visited = c->cfg->max_chown_entries};
        char err[512] = "";

        if (handler_path(m, r) < 0)
                return;
        rq.path = r->path;
        rq.recursive = (m->flags & PROTO_CHOWN_RECURSIVE) != 0;
        handler_owner(c, m, &rq, r);
        if (rq.recursive)
                strcpy(r->flags, "recursive");
        if (handler_match(c, &rq, r, &rule) < 0)
                return;

        int e = op_chown(handler_anchor(rule, r->path), handler_below(rule, r->path), rq.owner_uid,
                         rq.owner_gid, rq.recursive, rule->xdev, rule->hardlinks, &st, err,
                         sizeof(err));
        r->count = (int64_t)st.changed;
        if (e < 0)
                handler_failed(r, -e, err);
}
