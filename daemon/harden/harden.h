/* What the resident broker gives up before it serves (issue 7): every
 * capability its policy's allow rules do not need (from every set:
 * effective, permitted, inheritable, ambient, bounding), set-uid root
 * semantics (securebits), no_new_privs, core dumps and unbounded fds, and
 * finally every system call outside an allowlist (seccomp, killing the
 * process on anything else; execve is never on it).  See stepdownd(8),
 * "Hardening". */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct policy;
struct audit;

struct harden_config {
        bool seccomp;       /* false: --no-seccomp (debugging; logged loudly) */
        bool landlock;      /* false: --no-landlock (debugging; logged loudly) */
        pid_t supervise;    /* init mode: the application, which the loop may signal
                             * (CAP_KILL, and kill() only to it); 0 otherwise */
        unsigned max_conns; /* the broker's connection limit (0: BROKER_MAX_CONNS) */
        unsigned intercept; /* transparent mode: the ops intercepted (1 << sd_op), 0 = off */
        int sockdir_fd;     /* the socket's directory (Landlock: socket and key are
                             * removed at exit), -1 if none; the audit log's directory
                             * comes from the policy */
};

/* The capabilities (bit N = capability N) that p's allow rules need;
 * supervise adds CAP_KILL (forwarding signals to an application running
 * as another user). */
uint64_t harden_caps_for(const struct policy *p, bool supervise);

/* "cap_chown,cap_fowner" (lowercase, in capability order), "none" for 0. */
void harden_caps_format(uint64_t caps, char *buf, size_t len);

/* The RLIMIT_NOFILE the broker sets: every connection with a full reply
 * queue of fds, the recursive chown walk's one fd per level, and slack. */
unsigned long harden_nofile(unsigned max_conns);

/* Applies everything, in order: rlimits, securebits, the capability drop,
 * no_new_privs, the Landlock ruleset (landlock.h, unless !hc->landlock;
 * where the kernel lacks it, one warning), the seccomp filter (unless !hc->seccomp).  Call it once,
 * after setup and after every file the loop needs is open, right before
 * serving.  Writes a "harden" audit record (a may be NULL).  0, or -errno
 * with err filled in; the caller must not serve then. */
int harden_apply(const struct policy *p, const struct harden_config *hc, struct audit *a, char *err,
                 size_t errlen);
