/* The broker's second wall (issue 17 item 11): a Landlock ruleset built
 * from the policy, so that a bug in the engine cannot reach outside what
 * the allow rules can need.  The fd discipline of the engine stays the
 * guarantee; this only bounds what a mistake in it could touch.
 *
 * What the ruleset grants (every other handled right is refused by the
 * kernel with EACCES, anywhere):
 *   - each rule's anchor: the rights its operation needs (landlock.c,
 *     rule_rights());
 *   - the socket's directory: REMOVE_FILE (socket and key go at exit);
 *   - the audit log's directory: read, write and create regular files
 *     (reopened after rotation, or after a failed write);
 *   - TCP: bind only on the ports of `bind tcp:` rules, connect nowhere.
 * See docs/SECURITY.md, "Landlock", for what it cannot cover. */
#pragma once

#include <stddef.h>

struct policy;

struct landlock_extra {
        int sockdir_fd;         /* the socket's directory, -1 if none */
        const char *audit_path; /* the audit log (absolute); NULL or "-": none */
};

/* The Landlock ABI version of the running kernel: >= 1, or -errno
 * (-ENOSYS: no Landlock; -EOPNOTSUPP: disabled at boot; -EPERM: refused by
 * a seccomp profile). */
int landlock_abi(void);

/* Builds the ruleset for p and x and restricts the calling thread (and
 * what it forks later) to it; sets no_new_privs, which Landlock needs.
 * Returns 0 when the ruleset is in force (msg: "landlock ABI N: P paths,
 * Q tcp ports"), 1 when the kernel cannot give it (msg: one line saying
 * why; the caller warns and goes on), or -errno with msg naming what
 * failed (the caller must not serve then).  Anchors that do not exist yet
 * stand for their nearest existing ancestor, anchors with a symbolic link
 * on the way are left out (the engine refuses them too); each such case
 * is one warning on stderr. */
int landlock_apply(const struct policy *p, const struct landlock_extra *x, char *msg,
                   size_t msglen);
