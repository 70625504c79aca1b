/* What a policy names on disk, looked at before anything changes.
 * `stepdownd --check` reports every problem that would stop a start or
 * refuse every request of a rule; a start refuses the provisioned key
 * before its setup steps run.  Each problem is logged once, as
 * "FILE:LINE: what: why (what to do)". */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "policy.h"

/* path with its symbolic links resolved, as far as it exists (the missing
 * rest appended as written); "" when that is path itself or nothing
 * resolves. */
void check_real_path(const char *path, char *buf, size_t len);

/* The provisioned key (`key FILE`) loads as the broker will load it.
 * 0, or -errno after logging. */
int check_key(const struct policy *p);

/* --check: the key, the audit log and its signing key, every allow rule's
 * anchor and every setup path.  Returns how many problems it logged. */
unsigned check_policy_files(const struct policy *p);

/* --check: what transparent mode (`intercept`) does with this policy, one
 * fact a line ("intercept: ..."): the operations and system calls
 * notified, no_new_privs, the foreign ABIs, the broker's Landlock, and
 * intercepted operations no allow rule names.  Nothing without intercept. */
void check_print_intercept(const struct policy *p, FILE *f);
