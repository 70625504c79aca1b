/* Helpers shared by the policy's files (policy.c, policy-env.c,
 * policy-load.c, policy-print.c); not part of the policy API. */
#pragma once

#include <stddef.h>

#include "policy.h"

#define STRINGIFY_(x) #x
#define STRINGIFY(x)  STRINGIFY_(x)

/* Formats a message into err (when given) and returns r. */
int policy_fail(char *err, size_t errlen, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Replaces *dst with a copy of s; -ENOMEM. */
int policy_set_string(char **dst, const char *s);
/* Resolves spec as the launch user, re-resolving the steps that default
 * to it. */
int policy_resolve_launch_user(struct policy *p, const char *spec, const struct userdb *db,
                               char *err, size_t errlen);
/* remap (policy-remap.c): parses a uid=/gid= source (a number, env:NAME
 * or owner:/ABS/PATH); -EINVAL with the reason in msg, or -ENOMEM. */
int remap_src_parse(const char *s, size_t len, struct remap_src *out, char *msg, size_t msglen);
void policy_remap_free(struct policy_remap *m);

/* Decimal id, digits only, 0..USERDB_ID_MAX. */
bool policy_parse_id(const char *s, size_t len, int64_t *out);
