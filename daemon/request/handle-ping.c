/* ping: is the broker there and did I authenticate?  Answers OK. */
#include "broker.h"

void handle_ping(struct conn *c, const struct proto_msg *m, struct reply *r)
{
        (void)c;
        (void)m;
        r->type = PROTO_OK;
}
