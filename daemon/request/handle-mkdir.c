/* mkdir: a directory below an allowed anchor, with the mode and owner the
 * rule allows (default owner: the caller; default mode: the rule's first
 * mode=, else 0750). */
#include <errno.h>
#include <string.h>

#include "broker.h"
#include "match.h"
#include "ops.h"

#define MKDIR_DEFAULT_MODE 0750

void handle_mkdir(struct conn *c, const struct proto_msg *m, struct reply *r)
{
        struct sd_request rq = {.op = SD_OP_MKDIR};
        const struct policy_rule *rule;
        char err[512] = "";

        if (handler_path(m, r) < 0)
                return;
        rq.path = r->path;
        rq.parents = (m->flags & PROTO_MKDIR_PARENTS) != 0;
        rq.has_mode = (m->present & PROTO_F_MODE) != 0;
        rq.mode = m->mode;
        handler_owner(c, m, &rq, r);
        if (rq.has_mode)
                r->mode = (int32_t)m->mode;
        if (rq.parents)
                strcpy(r->flags, "parents");
        if (handler_match(c, &rq, r, &rule) < 0)
                return;

        mode_t mode = rq.has_mode ? rq.mode : rule->n_modes ? rule->modes[0] : MKDIR_DEFAULT_MODE;
        uid_t uid = rq.has_owner ? rq.owner_uid : c->peer.uid;
        gid_t gid = rq.has_owner ? rq.owner_gid : c->peer.gid;
        r->mode = (int32_t)mode;
        r->uid = uid;
        r->gid = gid;
        int e = op_mkdir(handler_anchor(rule, r->path), handler_below(rule, r->path), mode, uid,
                         gid, rq.parents, err, sizeof(err));
        if (e < 0)
                handler_failed(r, -e, err);
}
