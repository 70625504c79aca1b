/* The matcher: deny by default; a request is allowed only when one allow
 * rule matches its caller, operation, path (or address) and every
 * argument.  Request paths must be in normal form (pathnorm.h). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "policy.h"

struct sd_request {
        enum sd_op op;
        const char *path; /* path operations and unix binds */
        /* the caller, from the kernel's peer credentials */
        uid_t uid;
        gid_t gid;
        const gid_t *groups; /* supplementary groups */
        size_t n_groups;
        /* arguments */
        bool has_owner; /* mkdir, chown, open+create, unix bind; default: the caller's uid:gid */
        uid_t owner_uid;
        gid_t owner_gid;
        bool has_mode; /* mkdir, chmod (required), open+create, unix bind */
        mode_t mode;
        bool recursive;           /* chown */
        bool parents;             /* mkdir */
        bool read, write, create; /* open: read and/or write */
        /* bind: */
        int family;       /* AF_INET, AF_INET6, AF_UNIX */
        int socktype;     /* SOCK_STREAM for tcp, SOCK_DGRAM for udp */
        const char *addr; /* IP literal; NULL, "" or "*": the unspecified address */
        unsigned port;
};

/* true when some allow rule names this caller (its uid, its primary or a
 * supplementary group, or "*"), whatever the operation: the broker drops
 * at accept a peer for whom nothing could ever be allowed. */
bool policy_names_caller(const struct policy *p, uid_t uid, gid_t gid, const gid_t *groups,
                         size_t n_groups);

/* 0: allowed, *rule set, why = "allowed by FILE:LINE".
 * -EACCES: refused, *rule NULL, why says why no rule matched and names the
 * closest rule (FILE:LINE and what it did not allow) when there is one.
 * -EINVAL: a malformed request (path not normal, an argument that the
 * operation does not take, a bad address), why says what. */
int policy_match(const struct policy *p, const struct sd_request *r,
                 const struct policy_rule **rule, char *why, size_t whylen);
