/* The broker's hardening (issue 7): least capability computed from the
 * policy, securebits, no_new_privs, rlimits, a Landlock ruleset
 * (landlock.c, issue 17) and a seccomp allowlist.
 * Capabilities go through caps.c's raw capget/capset/prctl calls (libcap
 * would add a library for what is a mask and four prctl loops); the filter
 * through libseccomp, which resolves names per architecture and refuses
 * foreign-architecture system calls for us. */
#include "harden.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "audit.h"
#include "broker.h"
#include "caps.h"
#include "intercept.h"
#include "landlock.h"
#include "log.h"
#include "ops.h"
#include "policy.h"
#include "util.h"

#ifndef SECBIT_NOROOT
#define SECBIT_NOROOT                 (1 << 0)
#define SECBIT_NOROOT_LOCKED          (1 << 1)
#define SECBIT_NO_SETUID_FIXUP        (1 << 2)
#define SECBIT_NO_SETUID_FIXUP_LOCKED (1 << 3)
#define SECBIT_KEEP_CAPS_LOCKED       (1 << 5)
#endif
#ifndef SECBIT_NO_CAP_AMBIENT_RAISE
#define SECBIT_NO_CAP_AMBIENT_RAISE        (1 << 6)
#define SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED (1 << 7)
#endif

#if defined(__SANITIZE_ADDRESS__)
#define HARDEN_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HARDEN_SANITIZER 1
#endif
#endif

#define BIT(c) (UINT64_C(1) << (c))

static bool modes_have_setgid(const struct policy_rule *x)
{
        for (size_t i = 0; i < x->n_modes; i++)
                if (x->modes[i] & S_ISGID)
                        return true;
        return false;
}

uint64_t harden_caps_for(const struct policy *p, bool supervise)
{
        uint64_t caps = supervise ? BIT(CAP_KILL) : 0;

        for (size_t i = 0; p && i < p->n_rules; i++) {
                const struct policy_rule *x = &p->rules[i];
                /* Any path: the application's own directories (mode 0700,
                 * owned by it) are the norm, and root without these cannot
                 * search or read them. */
                if (x->anchor)
                        caps |= BIT(CAP_DAC_OVERRIDE) | BIT(CAP_DAC_READ_SEARCH);
                /* Setting set-gid on a file whose group root is not in. */
                if (modes_have_setgid(x))
                        caps |= BIT(CAP_FSETID);
                switch (x->op) {
                case SD_OP_MKDIR: /* owner change, then the mode on a file root no longer owns */
                case SD_OP_CHOWN: /* and the set-uid/set-gid strip after an owner change */
                        caps |= BIT(CAP_CHOWN) | BIT(CAP_FOWNER);
                        break;
                case SD_OP_CHMOD:
                        caps |= BIT(CAP_FOWNER);
                        break;
                case SD_OP_OPEN:
                        if (x->create)
                                caps |= BIT(CAP_CHOWN) | BIT(CAP_FOWNER);
                        break;
                case SD_OP_BIND:
                        if (x->bind.family == AF_UNIX) /* born the caller's: setfsuid/setfsgid */
                                caps |= BIT(CAP_SETGID) | BIT(CAP_SETUID);
                        else if (x->bind.port_lo < 1024)
                                caps |= BIT(CAP_NET_BIND_SERVICE);
                        break;
                }
        }
        /* Transparent mode reads the caller's /proc/TID/mem with its
         * fsuid/fsgid (no CAP_SYS_PTRACE). */
        if (p && p->intercept_ops)
                caps |= BIT(CAP_SETGID) | BIT(CAP_SETUID);
        return caps;
}

static const struct {
        int cap;
        const char *name;
} cap_names[] = {
    {CAP_CHOWN, "cap_chown"},
    {CAP_DAC_OVERRIDE, "cap_dac_override"},
    {CAP_DAC_READ_SEARCH, "cap_dac_read_search"},
    {CAP_FOWNER, "cap_fowner"},
    {CAP_FSETID, "cap_fsetid"},
    {CAP_KILL, "cap_kill"},
    {CAP_SETGID, "cap_setgid"},
    {CAP_SETUID, "cap_setuid"},
    {CAP_NET_BIND_SERVICE, "cap_net_bind_service"},
};

void harden_caps_format(uint64_t caps, char *buf, size_t len)
{
        size_t n = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(cap_names) && n < len; i++)
                if (caps & BIT(cap_names[i].cap))
                        n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "," : "",
                                              cap_names[i].name);
        if (!buf[0])
                snprintf(buf, len, "none");
}

unsigned long harden_nofile(unsigned max_conns)
{
        if (!max_conns)
                max_conns = BROKER_MAX_CONNS;
        /* Each connection: its socket and up to BROKER_MAX_INFLIGHT queued
         * replies with an fd each.  The walk: the directory fds it holds at
         * any depth, plus the target's anchor/parent fds.  Slack: listener,
         * audit log, libevent, stdio, syslog, a bind in progress. */
        return (unsigned long)max_conns * (1 + BROKER_MAX_INFLIGHT) + OP_CHOWN_HELD_FDS + 64;
}

/* RLIMIT_CORE 0; RLIMIT_NOFILE lowered to what the limits need, never
 * raised: an operator's lower limit stands (EMFILE is handled: accept
 * pauses, a walk fails with a clear error). */
static int set_rlimits(unsigned max_conns, char *err, size_t errlen)
{
        struct rlimit core = {0, 0}, nofile;
        rlim_t want = harden_nofile(max_conns);

        if (setrlimit(RLIMIT_CORE, &core) < 0 || getrlimit(RLIMIT_NOFILE, &nofile) < 0) {
                snprintf(err, errlen, "RLIMIT_CORE/RLIMIT_NOFILE: %s", strerror(errno));
                return -errno;
        }
        if (nofile.rlim_max > want)
                nofile.rlim_max = want;
        if (nofile.rlim_cur > nofile.rlim_max)
                nofile.rlim_cur = nofile.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &nofile) < 0) {
                snprintf(err, errlen, "setrlimit(RLIMIT_NOFILE): %s", strerror(errno));
                return -errno;
        }
        return 0;
}

/* The system calls the loop, the handlers, the engine, the audit log and
 * the exit path make (found with strace -f over the integration tests and
 * the campaign).  Narrowed by argument where that is cheap. */
static const char *const allowed_calls[] = {
    /* the loop and its connections */
    "epoll_wait", "epoll_pwait", "epoll_ctl", "poll", "ppoll", "accept4", "recvmsg", "sendmsg",
    "sendto", "recvfrom", "getsockopt", "getsockname", "shutdown", "clock_gettime", "gettimeofday",
    "getrandom", "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "capget",
    /* signals (libevent's self-pipe, sigprocmask around them) */
    "rt_sigreturn", "rt_sigprocmask", "rt_sigaction", "restart_syscall",
    /* files: the engine's fd-only operations and the audit log */
    "read", "write", "readv", "writev", "pread64", "pwrite64", "close", "fstat", "newfstatat",
    "statx", "lseek", "openat", "openat2", "fcntl", "dup", "getdents64", "mkdirat", "fchownat",
    "fchown", "fchmodat", "fchmod", "ftruncate", "fsync", "fdatasync", "readlink", "readlinkat",
    "name_to_handle_at", "umask", "unlink", "unlinkat", "renameat2", "renameat",
    "fgetxattr", /* mkdir: a kept staging directory's default ACL against its anchor's */
    /* bind unix: the socket born the caller's (fsid.c) */
    "setfsuid", "setfsgid", "capset",
    /* bind requests, sd_notify, syslog */
    "bind", "listen", "connect", "setsockopt",
    /* memory (mmap and mprotect below, without PROT_EXEC) */
    "mlock", /* libsodium's guarded allocations (audit-sign key) */
    "munlock", "fstatfs", "brk", "munmap", "mremap", "madvise", "futex",
    /* the way out */
    "exit", "exit_group",
#ifdef HARDEN_SANITIZER
    /* ASan/UBSan/LSan: reports, the leak check at exit (a ptrace-ing
     * thread), shadow memory.  Only in sanitizer builds. */
    "clone", "clone3", "ptrace", "wait4", "waitid", "sched_yield", "sigaltstack", "prctl",
    "sched_getaffinity", "getrlimit", "prlimit64", "setrlimit", "pipe2", "tgkill", "nanosleep",
    "clock_nanosleep", "open", "stat", "lstat", "access", "uname", "getdents",
    "ioctl", /* isatty(2) before a report */
#endif
};

/* A new thread's own set-up (glibc's start_thread). */
static const char *const thread_calls[] = {"rseq", "set_robust_list"};

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* Transparent mode: the notifier's ioctls on its listener (and nothing
 * else through ioctl); for bind, the caller's socket taken with
 * pidfd_getfd under the caller's real ids: setresuid/setresgid that change
 * the real id only (effective and saved stay root's). */
static int add_intercept_rules(scmp_filter_ctx ctx, unsigned ops)
{
        static const unsigned long ioctls[] = {SECCOMP_IOCTL_NOTIF_RECV, SECCOMP_IOCTL_NOTIF_SEND,
                                               SECCOMP_IOCTL_NOTIF_ID_VALID,
                                               SECCOMP_IOCTL_NOTIF_ADDFD};
        int r = 0;
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(ioctls); i++)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                     SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)ioctls[i], 0));
        if (!(ops & (1u << SD_OP_BIND)))
                return r;
        if (r == 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(setresuid), 2,
                                     SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, 0xffffffffu),
                                     SCMP_A2(SCMP_CMP_MASKED_EQ, 0xffffffffu, 0xffffffffu));
        if (r == 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(setresgid), 2,
                                     SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, 0xffffffffu),
                                     SCMP_A2(SCMP_CMP_MASKED_EQ, 0xffffffffu, 0xffffffffu));
        if (r == 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(pidfd_open), 0);
        if (r == 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(pidfd_getfd), 0);
        return r;
}

static int add_rules(scmp_filter_ctx ctx, const struct harden_config *hc)
{
        int r;

        for (size_t i = 0; i < ELEMENTSOF(allowed_calls); i++) {
                int nr = seccomp_syscall_resolve_name(allowed_calls[i]);
                if (nr == __NR_SCMP_ERROR)
                        continue; /* not on this architecture (e.g. poll on arm64) */
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
                if (r < 0)
                        return r;
        }
        /* Newer than libseccomp 2.5's table: by number (the same on every
         * architecture since 5.x). */
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SYS_fchmodat2, 0);
        if (r < 0)
                return r;
        /* the chown walk closes the fds of the entries in runs */
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SYS_close_range, 0);
        if (r < 0)
                return r;
        /* Memory that is never executable. */
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                             SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
        if (r == 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                                     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
        /* Sockets of the three families bind requests and sd_notify use. */
        static const int families[] = {AF_UNIX, AF_INET, AF_INET6};
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(families); i++)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                                     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i], 0));
                /* The worker thread for long requests (broker.c): threads only.
                 * clone3's flags are behind a pointer the filter cannot read, so it
                 * says ENOSYS and glibc falls back to clone, whose flags must hold
                 * CLONE_THREAD (no new process).  The thread inherits this filter,
                 * the Landlock domain and the capabilities. */
#ifndef HARDEN_SANITIZER
        if (r == 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                                     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
        if (r == 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
#endif
        /* ... which lowers its own priority (setpriority(PRIO_PROCESS, 0)
         * is the calling thread's), nobody else's. */
        if (r == 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(setpriority), 2,
                                     SCMP_A0(SCMP_CMP_EQ, PRIO_PROCESS, 0),
                                     SCMP_A1(SCMP_CMP_EQ, 0, 0));
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(thread_calls); i++) {
                int nr = seccomp_syscall_resolve_name(thread_calls[i]);
                if (nr != __NR_SCMP_ERROR)
                        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
        }
        /* abort(): a signal to ourselves only. */
        if (r == 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
                                     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0));
        if (r == 0 && hc->intercept)
                r = add_intercept_rules(ctx, hc->intercept);
        /* init mode: forward signals to the application and reap. */
        if (r == 0 && hc->supervise > 0) {
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
                                     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)hc->supervise, 0));
#ifndef HARDEN_SANITIZER
                if (r == 0)
                        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(wait4), 0);
                if (r == 0)
                        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(waitid), 0);
#endif
        }
        return r;
}

static int install_seccomp(const struct harden_config *hc, char *err, size_t errlen)
{
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
        if (!ctx) {
                snprintf(err, errlen, "seccomp_init failed");
                return -ENOMEM;
        }
        int r = add_rules(ctx, hc);
        if (r == 0)
                r = seccomp_load(ctx);
        seccomp_release(ctx);
        if (r < 0)
                snprintf(err, errlen, "installing the seccomp filter: %s", strerror(-r));
        return r;
}

#ifdef STEPDOWN_TEST_HOOKS
/* Test builds only (stepdownd-test-hooks, never installed): a forbidden
 * system call right after the filter, so a test can watch it kill us. */
static void test_hook(void)
{
        const char *h = getenv("STEPDOWN_TEST_HOOK");
        if (h && strcmp(h, "execve") == 0) {
                char *argv[] = {(char *)"true", NULL};
                execve("/bin/true", argv, environ);
                log_error("test hook: execve: %s", strerror(errno));
        }
        /* notif-delay:MS: transparent mode waits between reading a call and
         * checking its notification (a window for pid-reuse tests). */
        if (h && strncmp(h, "notif-delay:", 12) == 0)
                icept_test_delay_ms = (unsigned)strtoul(h + 12, NULL, 10);
        /* worker-hold:PATH: the broker's worker holds each job until PATH
         * exists (a long request that stays open until the test says). */
        if (h && strncmp(h, "worker-hold:", 12) == 0)
                broker_test_hold = h + 12;
        /* landlock:PATH: a mkdir the policy's rules do not reach (or do),
         * made directly, past every policy check. */
        if (h && strncmp(h, "landlock:", 9) == 0)
                log_warn("test hook: mkdir %s: %s", h + 9,
                         mkdirat(AT_FDCWD, h + 9, 0700) < 0 ? strerror(errno) : "made");
}
#endif

/* What each capability the broker may want is for, and its name for
 * `docker run --cap-add`. */
static const struct {
        int cap;
        const char *name, *docker, *why;
} cap_uses[] = {
    {CAP_CHOWN, "cap_chown", "CHOWN", "owner changes: mkdir owner=, chown, open create"},
    {CAP_DAC_OVERRIDE, "cap_dac_override", "DAC_OVERRIDE",
     "reaching directories and files whose permissions shut root out, e.g. the app's 0700 "
     "directories"},
    {CAP_DAC_READ_SEARCH, "cap_dac_read_search", "DAC_READ_SEARCH",
     "searching and reading such directories"},
    {CAP_FOWNER, "cap_fowner", "FOWNER", "modes of files root does not own"},
    {CAP_FSETID, "cap_fsetid", "FSETID", "set-gid modes"},
    {CAP_KILL, "cap_kill", "KILL", "--init: signals to the command"},
    {CAP_NET_BIND_SERVICE, "cap_net_bind_service", "NET_BIND_SERVICE", "ports below 1024"},
    {CAP_SETUID, "cap_setuid", "SETUID",
     "the caller's filesystem uid: unix socket binds, intercept (reading the caller's memory)"},
    {CAP_SETGID, "cap_setgid", "SETGID", "the caller's filesystem gid, likewise"},
};

/* One warning naming the capabilities the policy needs that this process
 * lacks, what fails without each, and how to grant them.  CAP_DAC_OVERRIDE
 * covers every permission check CAP_DAC_READ_SEARCH bypasses (directory
 * search and read, file read: capabilities(7), generic_permission()); what
 * only CAP_DAC_READ_SEARCH adds, open_by_handle_at(2) and linkat(2) with
 * AT_EMPTY_PATH, the broker never calls (the first is not even in its
 * seccomp filter).  So it is never reported missing: a container with
 * Docker's default set (CAP_DAC_OVERRIDE, no CAP_DAC_READ_SEARCH) lacks
 * nothing, and one without CAP_DAC_OVERRIDE is told to add that. */
static void warn_missing(uint64_t want, uint64_t prm)
{
        uint64_t miss = want & ~prm & ~BIT(CAP_DAC_READ_SEARCH);
        char what[1024], flags[256];
        size_t n = 0, m = 0;

        if (!(want & BIT(CAP_DAC_OVERRIDE)) && (want & ~prm & BIT(CAP_DAC_READ_SEARCH)))
                miss |= BIT(CAP_DAC_READ_SEARCH); /* (no rule wants one without the other) */
        if (!miss)
                return;
        what[0] = flags[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(cap_uses); i++) {
                if (!(miss & BIT(cap_uses[i].cap)) || n >= sizeof(what) || m >= sizeof(flags))
                        continue;
                n += (size_t)snprintf(what + n, sizeof(what) - n, "%s%s (%s)", n ? ", " : "",
                                      cap_uses[i].name, cap_uses[i].why);
                m += (size_t)snprintf(flags + m, sizeof(flags) - m, " --cap-add %s",
                                      cap_uses[i].docker);
        }
        log_warn("broker: this process lacks capabilities the policy's allow rules need: %s; "
                 "requests needing them will fail with EPERM/EACCES.  Grant them (docker run%s; "
                 "Kubernetes securityContext.capabilities.add; systemd CapabilityBoundingSet=) "
                 "or remove those rules",
                 what, flags);
}

static void audit_note(struct audit *a, const char *msg)
{
        struct audit_event ev = {
            .event = "harden", .uid = -1, .gid = -1, .mode = -1, .changed = -1, .message = msg};
        if (a)
                (void)audit_log(a, &ev);
}

int harden_apply(const struct policy *p, const struct harden_config *hc, struct audit *a, char *err,
                 size_t errlen)
{
        uint64_t want = harden_caps_for(p, hc->supervise > 0), prm = 0;
        bool bounding = false;
        char names[256], msg[768];
        int r;

        r = set_rlimits(hc->max_conns, err, errlen);
        if (r < 0)
                return r;
        /* uid 0 stays, but no longer means capabilities: not on exec, not
         * by a set-uid fixup, never again raised into the ambient set. */
        if (prctl(PR_SET_SECUREBITS,
                  SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                      SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                      SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
                  0, 0, 0) < 0 &&
            errno != EPERM) {
                snprintf(err, errlen, "prctl(PR_SET_SECUREBITS): %s", strerror(errno));
                return -errno;
        }
        if (caps_permitted(&prm) == 0)
                warn_missing(want, prm);
        r = caps_limit(want, &bounding);
        if (r < 0) {
                snprintf(err, errlen, "dropping capabilities: %s", strerror(-r));
                return r;
        }
        for (int c = 0; !bounding && c <= caps_last_cap() && c < 64; c++)
                if (!(want & BIT(c)) && prctl(PR_CAPBSET_READ, c, 0, 0, 0) > 0) {
                        log_warn("broker: no CAP_SETPCAP, so the capability bounding set "
                                 "keeps capabilities the policy does not need");
                        break;
                }
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                snprintf(err, errlen, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
                return -errno;
        }

        /* Before the filter: its allowlist has no landlock_* calls. */
        char ll[256] = "landlock OFF (--no-landlock: debugging only)";
        struct landlock_extra lx = {.sockdir_fd = hc->sockdir_fd,
                                    .audit_path = p ? p->audit : NULL};
        /* A Landlock domain may not ptrace (nor open /proc/PID/mem of) a
         * process outside it, and the application is outside the broker's:
         * transparent mode reads its calls' arguments there. */
        if (hc->landlock && hc->intercept)
                snprintf(ll, sizeof(ll),
                         "landlock off: transparent mode (intercept) reads the application's "
                         "memory through /proc/PID/mem, which a Landlock domain may not do to a "
                         "process outside it");
        r = hc->landlock && !hc->intercept ? landlock_apply(p, &lx, ll, sizeof(ll)) : 1;
        if (r < 0) {
                snprintf(err, errlen, "%s", ll);
                return r;
        }
        if (r > 0 && hc->landlock)
                log_warn("broker: %s", ll);
        else if (r > 0)
                log_warn("broker: *** LANDLOCK DISABLED (--no-landlock) *** a bug in the engine "
                         "reaches every path root can; for debugging only");

        harden_caps_format(want & prm, names, sizeof(names));
        if (hc->seccomp) {
                r = install_seccomp(hc, err, errlen);
                if (r < 0)
                        return r;
        } else {
                log_warn("broker: *** SECCOMP FILTER DISABLED (--no-seccomp) *** every system "
                         "call is open to a compromised broker; for debugging only");
        }
        snprintf(msg, sizeof(msg), "capabilities %s; no_new_privs; seccomp %s; %s", names,
                 hc->seccomp ? "on" : "OFF (--no-seccomp: debugging only)", ll);
        audit_note(a, msg);
#ifdef STEPDOWN_TEST_HOOKS
        test_hook();
#endif
        return 0;
}
