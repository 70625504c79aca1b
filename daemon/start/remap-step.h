/* The remap statement at start (stepdown.conf(5), "REMAP"): run as root
 * before the setup steps, after policy_remap_resolve() has worked out the
 * old and new ids and re-resolved the policy's names. */
#pragma once

#include <stddef.h>

#include "audit.h"
#include "policy.h"

/* Chowns the user's home and the chown= paths from the old ids to the new
 * ones (only entries carrying the old ids), then rewrites /etc/group and
 * /etc/passwd (common/users/remap.h), and sets USER and LOGNAME to the user's
 * name when it is the launch user.  An inactive remap (an env: source
 * unset or empty) is said once on stderr.  Either way one "remap" record
 * goes to the audit log a (may be NULL).  Returns 0, or -errno with
 * "WHERE: remap USER: reason" in err; a failure leaves passwd and group as
 * they were, so the next start tries again. */
int remap_step_run(const struct policy *p, struct audit *a, char *err, size_t errlen);
