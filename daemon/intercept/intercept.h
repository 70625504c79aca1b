/* Transparent mode (issue 20; stepdown.conf(5) and stepdownd(8),
 * "TRANSPARENT MODE"): the application's own mkdir, chown, chmod, open and
 * bind system calls, as the policy's `intercept` statement names them, go
 * to the broker through a seccomp user-notification filter
 * (seccomp_unotify(2)).  The broker serves a call an allow rule matches
 * through the request pipeline and lets every other one continue, so the
 * kernel decides it with the application's own credentials.
 *
 * filter.c runs in the application, after the drop and before exec: it
 * installs the filter (which its children and threads inherit) and hands
 * the listener to the broker over a socketpair made before the fork.
 * notify.c is the broker's end. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct event_base;
struct broker_config;

/* The errno a call of an intercepted operation gets when it is made
 * through a foreign system-call ABI (i386 `int 0x80`, x32): the broker
 * cannot read such a call's arguments as the native ones, and passing it
 * on would let the app route around the policy's front door. */
#define ICEPT_FOREIGN_ERRNO ENOSYS

/* log-continued: seconds between the records that count continued calls. */
#define ICEPT_CONTINUED_SECONDS 60

/* In the application, after the drop (ids, capabilities, umask) and
 * before exec: sets no_new_privs, installs the filter for the operations
 * in ops (bit 1 << enum sd_op), sends the listener over sock (SCM_RIGHTS)
 * and closes both.  ptracer: the broker's pid when it is not the
 * application's ancestor (exec mode; Yama ptrace_scope 1 then needs
 * PR_SET_PTRACER), else 0.  0; -EPIPE when the filter is in place but
 * the listener did not reach the broker (the caller must not exec: every
 * intercepted call would fail); any other -errno with one line in err
 * saying what the kernel refused (no filter: the caller says it and execs
 * without). */
int icept_install(unsigned ops, int sock, pid_t ptracer, char *err, size_t errlen);

/* The broker's end: takes the listener from sock (its end of the
 * socketpair; owned from here on) when the application sends it, and
 * serves the calls in base's loop under p through the request pipeline
 * (rctx: the broker's, so request ids stay one sequence).
 * 0, or -errno (the kernel has no SECCOMP_GET_NOTIF_SIZES: ENOSYS). */
struct policy;
struct audit;
struct icept;
struct request_ctx;
int icept_new(struct event_base *base, int sock, const struct policy *p, struct audit *a,
              struct request_ctx *rctx, struct icept **out);
/* Writes the log-continued counts not yet written; NULL-safe. */
void icept_free(struct icept *ic);

/* stepdownd-test-hooks only (harden.c, STEPDOWN_TEST_HOOK=notif-delay:MS):
 * the broker waits this long after reading a call and before checking
 * that its notification is still valid, so that a test can kill the
 * caller and reuse its pid in between.  0 in stepdownd. */
extern unsigned icept_test_delay_ms;

/* The system calls notified for ops, as names, for --check: "mkdir mkdirat
 * ..." into buf. */
void icept_syscall_names(unsigned ops, char *buf, size_t len);
