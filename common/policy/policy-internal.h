/* Helpers shared by the policy's files; not part of the policy API.  All
 * are in policy.c, the parser, which calls none of the others: the
 * environment (policy-env.c) calls the parser, the remap resolution
 * (policy-remap.c) both; loading, printing and matching sit on the parser
 * (docs/HACKING.md). */
#pragma once

#include <stddef.h>

#include "policy.h"

#define STRINGIFY_(x) #x
#define STRINGIFY(x)  STRINGIFY_(x)

/* Resolves spec as the launch user, re-resolving the steps that default
 * to it. */
int policy_resolve_launch_user(struct policy *p, const char *spec, const struct userdb *db,
                               char *err, size_t errlen);
void policy_remap_free(struct policy_remap *m);

/* Decimal id, digits only, 0..USERDB_ID_MAX. */
bool policy_parse_id(const char *s, size_t len, int64_t *out);
