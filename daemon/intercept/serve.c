/* The notified call through the request pipeline.  Until the pipeline
 * (request_run) is merged, every call continues: the kernel decides it. */
#include "icept-internal.h"

void icept_serve(struct icept *ic, const struct icall *c)
{
        icept_continue(ic, c);
}
