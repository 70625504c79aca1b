/* The policy's setup steps, run as root before the command is launched,
 * through the same engine as the broker's runtime requests. */
#pragma once

#include <stddef.h>

#include "audit.h"
#include "policy.h"

/* Runs p's setup steps in order.  Stops at the first failure: returns
 * -errno with "FILE:LINE: setup OP PATH: reason" in err, and nothing after
 * that step runs.  Every step is audited to a (may be NULL); a step whose
 * record cannot be written fails unless the policy allows audit failures. */
int setup_run(const struct policy *p, struct audit *a, char *err, size_t errlen);
