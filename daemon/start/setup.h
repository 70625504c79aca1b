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

/* Started without root (docker run --user, runAsNonRoot): runs nothing,
 * checks p's setup steps read-only instead.  A step that already holds
 * passes; one that would need a change fails the start ("FILE:LINE: setup
 * OP PATH: not root ..., and WHAT DIFFERS; the two fixes") unless the
 * policy says `setup-unprivileged warn` (one line, go on) or `skip` (no
 * step is looked at).  Audited like setup_run(). */
int setup_run_unprivileged(const struct policy *p, struct audit *a, char *err, size_t errlen);
