/* allowed: what may I do?  The allow rules whose caller matches the peer,
 * one a line: "LINE: OP PATTERN [owner=..] [mode=..] [flags]". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "broker.h"
#include "policy.h"
#include "request.h"

static bool caller_is(const struct policy_caller *k, const struct peer *p)
{
        switch (k->kind) {
        case CALLER_ANY:
                return true;
        case CALLER_UID:
                return k->uid == p->uid;
        case CALLER_GROUP:
                if (k->gid == p->gid)
                        return true;
                for (size_t i = 0; i < p->n_groups; i++)
                        if (p->groups[i] == k->gid)
                                return true;
                return false;
        }
        return false;
}

static void print_rule(FILE *f, const struct policy_rule *x)
{
        fprintf(f, "%u: %s %s", x->line, sd_op_name(x->op), x->pattern);
        for (size_t i = 0; i < x->n_owners; i++)
                fprintf(f, "%s%u:%u", i ? "," : " owner=", (unsigned)x->owners[i].uid,
                        (unsigned)x->owners[i].gid);
        for (size_t i = 0; i < x->n_modes; i++)
                fprintf(f, "%s%04o", i ? "," : " mode=", (unsigned)x->modes[i]);
        const struct {
                bool on;
                const char *name;
        } flags[] = {{x->recursive, "recursive"}, {x->parents, "parents"}, {x->xdev, "xdev"},
                     {x->hardlinks, "hardlinks"}, {x->read, "read"},       {x->write, "write"},
                     {x->create, "create"}};
        for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
                if (flags[i].on)
                        fprintf(f, " %s", flags[i].name);
        fputc('\n', f);
}

void answer_allowed(const struct request_ctx *ctx, const struct peer *peer,
                    const struct proto_msg *m, struct reply *r)
{
        const struct policy *p = ctx->policy;
        char *text = NULL;
        size_t len = 0;
        (void)m;

        FILE *f = open_memstream(&text, &len);
        if (!f) {
                reply_error(r, ENOMEM, PROTO_ERR_FAILED, "out of memory");
                return;
        }
        for (size_t i = 0; i < p->n_rules; i++)
                if (caller_is(&p->rules[i].caller, peer))
                        print_rule(f, &p->rules[i]);
        if (fclose(f) != 0) {
                free(text);
                reply_error(r, ENOMEM, PROTO_ERR_FAILED, "out of memory");
                return;
        }
        r->type = PROTO_ALLOWED_REPLY;
        r->text = text;
}
