/* The three ways stepdownd runs the broker (DESIGN.md, Process model):
 * exec (the broker is a child of the application, which execs in place),
 * init (stepdownd stays PID 1 like tini and serves from its own loop) and
 * serve (broker only, for systemd units and sidecars). */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"
#include "broker.h"
#include "config.h"
#include "harden.h"
#include "intercept.h"
#include "launch.h"
#include "log.h"
#include "policy.h"
#include "sockdir.h"
#include "util.h"

/* What the broker holds besides its loop. */
struct runtime {
        int listen_fd;
        char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
        int dir_fd;          /* the socket's directory (sockdir.c), -1 if none */
        char sock_name[256]; /* sock_path's last component, in dir_fd */
        bool own_socket;     /* we bound it: removed on the way out */
        char key_path[PATH_MAX];
        char key_name[256];
        bool own_key_file; /* we wrote it: removed on the way out */
        uint8_t key[PROTO_KEY_BYTES];
        bool have_key; /* false: `key none` */
        int key_fd;    /* --key-fd: the memfd the application inherits */
        /* Transparent mode (intercept.h): the socketpair the application
         * hands its listener over, and the broker's pid when the broker is
         * not its ancestor (exec mode). */
        int icept_app, icept_broker;
        pid_t icept_ptracer;
};

static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

static void runtime_init(struct runtime *rt)
{
        memset(rt, 0, sizeof(*rt));
        rt->listen_fd = -1;
        rt->key_fd = -1;
        rt->dir_fd = -1;
        rt->icept_app = rt->icept_broker = -1;
}

/* Socket and key go by name in the directory's fd, and only if they still
 * are a socket and a regular file. */
static void runtime_cleanup(struct runtime *rt)
{
        rt->listen_fd = safe_close(rt->listen_fd);
        rt->key_fd = safe_close(rt->key_fd);
        rt->icept_app = safe_close(rt->icept_app);
        rt->icept_broker = safe_close(rt->icept_broker);
        if (rt->own_socket)
                sockdir_remove(rt->dir_fd, rt->sock_name, S_IFSOCK);
        if (rt->own_key_file)
                sockdir_remove(rt->dir_fd, rt->key_name, S_IFREG);
        rt->dir_fd = safe_close(rt->dir_fd);
        rt->own_socket = rt->own_key_file = false;
        sodium_memzero(rt->key, sizeof(rt->key));
}

/* Splits path (absolute) into its directory and last component. */
static int split_path(const char *path, char *dir, size_t dirlen, char *name, size_t namelen,
                      char *err, size_t errlen)
{
        const char *slash = strrchr(path, '/');
        if (path[0] != '/' || !slash || !slash[1] || strlen(slash + 1) >= namelen ||
            (size_t)(slash - path) >= dirlen) {
                snprintf(err, errlen, "socket %s: must be an absolute path to a file", path);
                return -EINVAL;
        }
        snprintf(dir, dirlen, "%.*s", slash == path ? 1 : (int)(slash - path), path);
        snprintf(name, namelen, "%s", slash + 1);
        return 0;
}

/* The socket's directory (created root:GID 0710 when missing: only the
 * application's group may traverse it, nobody but root may list or add
 * entries), resolved from / by fd without symlinks and refused when others
 * can write it (sockdir.c); the socket is bound in it, born the
 * application's. */
static int socket_create(struct runtime *rt, const char *path, const struct launch *l, char *err,
                         size_t errlen)
{
        char dir[sizeof(rt->sock_path)];
        bool have_user = l != NULL;
        int r;

        if (path[0] != '/' || strlen(path) >= sizeof(rt->sock_path)) {
                snprintf(err, errlen, "socket %s: must be an absolute path under %zu bytes", path,
                         sizeof(rt->sock_path));
                return -EINVAL;
        }
        snprintf(rt->sock_path, sizeof(rt->sock_path), "%s", path);
        r = split_path(path, dir, sizeof(dir), rt->sock_name, sizeof(rt->sock_name), err, errlen);
        if (r == 0)
                r = sockdir_open(dir, true, have_user, have_user ? l->user.gid : 0, &rt->dir_fd,
                                 err, errlen);
        if (r == 0)
                r = sockdir_bind(rt->dir_fd, rt->sock_name, path, have_user,
                                 have_user ? l->user.uid : 0, have_user ? l->user.gid : 0,
                                 &rt->listen_fd, err, errlen);
        if (r < 0)
                return r;
        rt->own_socket = true;
        return 0;
}

/* The key: generated (written for the application, or put in a memfd),
 * provisioned (`key FILE`), or none. */
static int key_prepare(struct runtime *rt, const struct mode_config *mc, char *err, size_t errlen)
{
        const struct policy *p = mc->policy;
        const struct launch *l = mc->launch;
        int r;

        unsetenv("STEPDOWN_KEY_FILE");
        unsetenv("STEPDOWN_KEY_FD");
        if (p->key == POLICY_KEY_NONE)
                return 0;
        if (p->key == POLICY_KEY_FILE) {
                r = auth_key_load(p->key_file, rt->key, err, errlen);
                if (r < 0)
                        return r;
                rt->have_key = true;
                return setenv("STEPDOWN_KEY_FILE", p->key_file, 1) < 0 ? -errno : 0;
        }
        auth_key_generate(rt->key);
        rt->have_key = true;
        if (mc->key_fd) {
                rt->key_fd = auth_key_memfd(rt->key, err, errlen);
                if (rt->key_fd < 0)
                        return rt->key_fd;
                char num[16];
                snprintf(num, sizeof(num), "%d", rt->key_fd);
                return setenv("STEPDOWN_KEY_FD", num, 1) < 0 ? -errno : 0;
        }
        if (!l) {
                snprintf(err, errlen,
                         "a generated key needs someone to give it to: set `user` in the policy "
                         "(the key file is made readable by that user), or use `key FILE` or "
                         "`key none`");
                return -EINVAL;
        }
        /* Next to the socket: foo.sock -> foo.key, in the directory's fd
         * (a socket passed by activation: its directory, resolved and
         * checked the same way). */
        char dir[sizeof(rt->sock_path)];
        if (!rt->sock_path[0]) {
                snprintf(err, errlen,
                         "the socket passed by socket activation has no path to put a key file "
                         "next to: use --key-fd, `key FILE` or `key none`");
                return -EINVAL;
        }
        r = split_path(rt->sock_path, dir, sizeof(dir), rt->sock_name, sizeof(rt->sock_name), err,
                       errlen);
        if (r == 0 && rt->dir_fd < 0)
                r = sockdir_open(dir, false, true, l->user.gid, &rt->dir_fd, err, errlen);
        if (r < 0)
                return r;
        size_t n = strlen(rt->sock_name);
        if (n > 5 && strcmp(rt->sock_name + n - 5, ".sock") == 0)
                n -= 5;
        if (n + 5 > sizeof(rt->key_name)) {
                snprintf(err, errlen, "socket %s: name too long for a key file next to it",
                         rt->sock_path);
                return -ENAMETOOLONG;
        }
        snprintf(rt->key_name, sizeof(rt->key_name), "%.*s.key", (int)n, rt->sock_name);
        snprintf(rt->key_path, sizeof(rt->key_path), "%s%s%s", dir, strcmp(dir, "/") ? "/" : "",
                 rt->key_name);
        r = sockdir_write_key(rt->dir_fd, rt->key_name, rt->key_path, rt->key, sizeof(rt->key),
                              l->user.uid, l->user.gid, err, errlen);
        if (r < 0)
                return r;
        rt->own_key_file = true;
        return setenv("STEPDOWN_KEY_FILE", rt->key_path, 1) < 0 ? -errno : 0;
}

static int runtime_prepare(struct runtime *rt, const struct mode_config *mc, bool activation)
{
        const struct policy *p = mc->policy;
        char err[512] = "";
        int r = 0;

        if (activation) {
                r = sd_listen_fd(&rt->listen_fd, err, sizeof(err));
                if (r > 0) {
                        struct sockaddr_un sa;
                        socklen_t sl = sizeof(sa);
                        if (getsockname(rt->listen_fd, (struct sockaddr *)&sa, &sl) == 0 &&
                            sl > offsetof(struct sockaddr_un, sun_path) && sa.sun_path[0])
                                snprintf(rt->sock_path, sizeof(rt->sock_path), "%.*s",
                                         (int)(sl - offsetof(struct sockaddr_un, sun_path)),
                                         sa.sun_path);
                        if (fcntl(rt->listen_fd, F_SETFL, O_NONBLOCK) < 0)
                                r = -errno;
                }
        }
        if (r == 0)
                r = socket_create(rt, p->socket ? p->socket : STEPDOWN_SOCKET_PATH, mc->launch, err,
                                  sizeof(err));
        if (r >= 0)
                r = key_prepare(rt, mc, err, sizeof(err));
        if (r >= 0 && rt->sock_path[0])
                r = setenv("STEPDOWN_SOCKET", rt->sock_path, 1) < 0 ? -errno : 0;
        if (r >= 0 && p->intercept_ops && mc->launch) {
                int sv[2];
                if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
                        r = -errno;
                        snprintf(err, sizeof(err), "transparent mode: socketpair: %s",
                                 strerror(errno));
                } else {
                        rt->icept_app = sv[0];
                        rt->icept_broker = sv[1];
                }
        }
        if (r < 0) {
                log_error("broker: %s", err[0] ? err : strerror(-r));
                runtime_cleanup(rt);
                return r;
        }
        return 0;
}

static void audit_event_simple(struct audit *a, const char *event, const char *message)
{
        struct audit_event ev = {
            .event = event, .uid = -1, .gid = -1, .mode = -1, .changed = -1, .message = message};
        if (a)
                (void)audit_log(a, &ev);
}

/* The loop, shared by the modes.  In init mode child is the application:
 * signals are forwarded to it and the loop ends when it exits, with its
 * status in *status. */
struct loop {
        struct event_base *base;
        struct broker *broker;
        struct audit *audit;
        pid_t child;
        int status;
        bool child_done;
        int app_pidfd; /* exec mode: the application (our parent), -1 if none */
        bool app_gone; /* exec mode: it has exited */
};

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
        struct loop *lp = arg;
        (void)what;

        if (lp->child > 0 && !lp->child_done) {
                kill(lp->child, (int)sig);
                return;
        }
        if (sig == SIGHUP) { /* logrotate */
                if (lp->audit)
                        (void)audit_reopen(lp->audit);
                return;
        }
        if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT)
                event_base_loopbreak(lp->base);
}

static void on_child(evutil_socket_t sig, short what, void *arg)
{
        struct loop *lp = arg;
        int st;
        pid_t pid;
        (void)sig;
        (void)what;

        /* Reap every zombie, not only the application: as PID 1 we inherit
         * every orphan in the container. */
        while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
                if (pid != lp->child)
                        continue;
                lp->child_done = true;
                lp->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                event_base_loopbreak(lp->base);
        }
}

/* exec mode: the application exited (its pidfd is readable).  PDEATHSIG
 * cannot do this: the kernel drops the signal when the dying parent has
 * dropped to a uid that may not signal root. */
static void on_app_exit(evutil_socket_t fd, short what, void *arg)
{
        struct loop *lp = arg;
        (void)fd;
        (void)what;
        lp->app_gone = true;
        event_base_loopbreak(lp->base);
}

static int loop_run(const struct mode_config *mc, struct runtime *rt, struct loop *lp)
{
        struct event *sig_ev[ELEMENTSOF(forwarded) + 2] = {0};
        struct broker_config bc = {
            .policy = mc->policy,
            .audit = mc->audit,
            .key = rt && rt->have_key ? rt->key : NULL,
            .max_conns = mc->max_conns,
            .max_conns_per_uid = mc->max_conns_per_uid,
            .auth_timeout_s = mc->auth_timeout_s,
            .idle_timeout_s = mc->idle_timeout_s,
            .max_chown_entries = mc->max_chown_entries,
        };
        int r = 0;

        lp->audit = mc->audit;
        for (size_t i = 0; i < ELEMENTSOF(forwarded); i++) {
                sig_ev[i] = evsignal_new(lp->base, forwarded[i], on_stop, lp);
                if (!sig_ev[i] || event_add(sig_ev[i], NULL) < 0)
                        r = -ENOMEM;
        }
        if (lp->child > 0) {
                sig_ev[ELEMENTSOF(forwarded)] = evsignal_new(lp->base, SIGCHLD, on_child, lp);
                if (!sig_ev[ELEMENTSOF(forwarded)] ||
                    event_add(sig_ev[ELEMENTSOF(forwarded)], NULL) < 0)
                        r = -ENOMEM;
        }
        if (lp->app_pidfd >= 0) {
                sig_ev[ELEMENTSOF(forwarded) + 1] =
                    event_new(lp->base, lp->app_pidfd, EV_READ, on_app_exit, lp);
                if (!sig_ev[ELEMENTSOF(forwarded) + 1] ||
                    event_add(sig_ev[ELEMENTSOF(forwarded) + 1], NULL) < 0)
                        r = -ENOMEM;
        }
        if (r == 0 && rt)
                r = broker_new(lp->base, rt->listen_fd, &bc, &lp->broker);
        struct icept *icept = NULL;
        if (r == 0 && rt && rt->icept_broker >= 0) {
                int e = icept_new(lp->base, rt->icept_broker, mc->policy, mc->audit,
                                  broker_request_ctx(lp->broker), &icept);
                rt->icept_broker = -1; /* icept_new owns it */
                if (e < 0 && mc->policy->intercept_required) {
                        log_error("transparent mode required (%s:%u), but the broker cannot take "
                                  "notifications (%s)",
                                  mc->policy->file, mc->policy->intercept_line, strerror(-e));
                        r = e;
                } else if (e < 0)
                        log_warn("transparent mode off: the broker cannot take notifications "
                                 "(%s); the application's intercepted calls fail with ENOSYS",
                                 strerror(-e));
        }
        /* Hardening (issue 7, harden.c): everything the loop needs is open
         * and (init mode) the application is forked, so drop capabilities
         * and install the seccomp filter now; never serve without them. */
        if (r == 0 && rt) {
                struct harden_config hc = {.seccomp = !mc->no_seccomp,
                                           .landlock = !mc->no_landlock,
                                           .supervise = lp->child > 0 ? lp->child : 0,
                                           .max_conns = mc->max_conns,
                                           .intercept = icept ? mc->policy->intercept_ops : 0,
                                           .sockdir_fd = rt->dir_fd};
                char herr[512] = "";
                r = harden_apply(mc->policy, &hc, mc->audit, herr, sizeof(herr));
                if (r < 0)
                        log_error("broker: hardening: %s", herr);
        }
        if (r < 0) {
                log_error_errno(r, "starting the broker loop");
        } else {
                if (rt)
                        audit_event_simple(mc->audit, "serve", "broker serving");
                /* Unblock only now: a signal that came early is pending and
                 * is delivered into the loop. */
                sigset_t all;
                sigfillset(&all);
                sigprocmask(SIG_UNBLOCK, &all, NULL);
                if (lp->child > 0) /* it may have exited before SIGCHLD had a handler */
                        on_child(SIGCHLD, 0, lp);
                if (!lp->child_done && !lp->app_gone)
                        event_base_dispatch(lp->base);
                broker_flush(lp->broker); /* refusals counted, before "stop" */
                icept_free(icept);        /* log-continued counts, likewise */
                icept = NULL;
                if (rt)
                        audit_event_simple(mc->audit, "stop", "broker stopped");
        }
        icept_free(icept);
        broker_free(lp->broker);
        lp->broker = NULL;
        for (size_t i = 0; i < ELEMENTSOF(sig_ev); i++)
                if (sig_ev[i])
                        event_free(sig_ev[i]);
        return r;
}

static void block_signals(sigset_t *old)
{
        sigset_t all;
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, old);
}

/* In a child that is about to exec the application: default dispositions
 * and the original mask, the key fd inherited, everything else ours left
 * to O_CLOEXEC. */
static _Noreturn void exec_app(const struct mode_config *mc, struct runtime *rt,
                               const sigset_t *mask, char **argv)
{
        char err[512];

        for (size_t i = 0; i < ELEMENTSOF(forwarded); i++)
                signal(forwarded[i], SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        sigprocmask(SIG_SETMASK, mask, NULL);
        if (rt) {
                sodium_memzero(rt->key, sizeof(rt->key));
                if (rt->key_fd >= 0 && fcntl(rt->key_fd, F_SETFD, 0) < 0) {
                        log_error("keeping the key fd open for %s: %s", argv[0], strerror(errno));
                        _exit(1);
                }
        }
        if (launch_drop(mc->launch, err, sizeof(err)) < 0) {
                log_error("dropping to %s: %s", mc->launch->spec, err);
                _exit(1);
        }
        if (rt && rt->icept_app >= 0) {
                rt->icept_broker = safe_close(rt->icept_broker);
                int r = icept_install(mc->policy->intercept_ops, rt->icept_app, rt->icept_ptracer,
                                      err, sizeof(err));
                rt->icept_app = -1; /* closed by icept_install */
                if (r == -EPIPE) {
                        log_error("transparent mode: %s", err);
                        _exit(1);
                }
                if (r < 0 && mc->policy->intercept_required) {
                        log_error("transparent mode required (%s:%u): %s; %s does not run",
                                  mc->policy->file, mc->policy->intercept_line, err, argv[0]);
                        _exit(1);
                }
                if (r < 0)
                        log_warn("transparent mode off: %s; %s runs without it", err, argv[0]);
        }
        launch_exec(mc->launch, argv);
}

/* Closes every fd from 3 up except the ones in keep (-1 entries ignored). */
static int close_all_but(int *keep, size_t n)
{
        unsigned lo = 3;
        for (size_t i = 0; i < n; i++) /* sort: n is tiny */
                for (size_t j = i + 1; j < n; j++)
                        if (keep[j] < keep[i]) {
                                int t = keep[i];
                                keep[i] = keep[j];
                                keep[j] = t;
                        }
        for (size_t i = 0; i < n; i++) {
                if (keep[i] < (int)lo)
                        continue;
                if ((unsigned)keep[i] > lo && close_range(lo, (unsigned)keep[i] - 1, 0) < 0)
                        return -errno;
                lo = (unsigned)keep[i] + 1;
        }
        return close_range(lo, ~0U, 0) < 0 ? -errno : 0;
}

/* The broker child closes what it does not need: every inherited fd but
 * stderr and stdout (its log), the listener, the socket directory, the
 * application's pidfd and the audit log; stdin from /dev/null.  The audit
 * log stays the handle stepdownd opened before setup, so the broker's
 * records continue that chain (one start, one chain; for `audit -` there
 * is no file to pick the chain up from). */
static int broker_child_prepare(const struct mode_config *mc, struct runtime *rt, int app_pidfd)
{
        int keep[] = {rt->listen_fd, rt->dir_fd, app_pidfd, audit_fd(mc->audit), rt->icept_broker};
        rt->icept_app = safe_close(rt->icept_app);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null >= 0) {
                dup2(null, STDIN_FILENO);
                close(null);
        }
        rt->key_fd = safe_close(rt->key_fd);
        int r = close_all_but(keep, ELEMENTSOF(keep));
        audit_forked(mc->audit);
        return r;
}

/* intercept without a broker (no allow rules, started without root,
 * --no-broker): nothing to hand the calls to.  -1 when the policy
 * requires transparent mode (the command must not run). */
static int warn_no_intercept(const struct mode_config *mc)
{
        if (mc->broker || !mc->policy || !mc->policy->intercept_ops)
                return 0;
        if (mc->policy->intercept_required) {
                log_error("transparent mode required (%s:%u), but there is no broker to serve "
                          "the intercepted calls, so the command does not run",
                          mc->policy->file, mc->policy->intercept_line);
                return -1;
        }
        log_warn("transparent mode off: there is no broker to serve the intercepted calls "
                 "(%s:%u), so the command runs without it",
                 mc->policy->file, mc->policy->intercept_line);
        return 0;
}

int mode_exec(const struct mode_config *mc, char **argv)
{
        struct runtime rt;
        sigset_t mask;
        pid_t parent = getpid();

        if (warn_no_intercept(mc) < 0)
                return 1;
        if (!mc->broker) {
                sigprocmask(SIG_SETMASK, NULL, &mask);
                exec_app(mc, NULL, &mask, argv);
        }
        runtime_init(&rt);
        if (runtime_prepare(&rt, mc, false) < 0)
                return 1;

        block_signals(&mask);
        pid_t pid = fork();
        if (pid < 0) {
                log_error_errno(errno, "fork");
                runtime_cleanup(&rt);
                return 1;
        }
        if (pid > 0) {
                /* The application: keeps our PID (1 in a container). */
                rt.listen_fd = safe_close(rt.listen_fd);
                rt.own_socket = rt.own_key_file = false; /* the broker removes them */
                rt.icept_ptracer = pid;
                audit_close(mc->audit);
                exec_app(mc, &rt, &mask, argv);
        }

        /* The broker: its own session, and it ends with the application,
         * which it watches through a pidfd in its loop (PDEATHSIG is not
         * delivered once the application has dropped to a uid that may not
         * signal root).  The pidfd is taken first and then checked against
         * getppid(): if the parent had already gone, the pid might name
         * another process, and the application is gone anyway, so the
         * broker only writes its records and removes socket and key. */
        setsid();
        struct loop lp = {.child = -1, .app_pidfd = -1};
        lp.app_pidfd = (int)syscall(SYS_pidfd_open, parent, 0);
        if (lp.app_pidfd < 0) {
                /* Kernel < 5.3, or a container seccomp profile older than
                 * pidfd_open (EPERM): PDEATHSIG, which works in a pid
                 * namespace or while the application is root. */
                if (errno != ENOSYS)
                        log_warn("broker: pidfd_open of the application (pid %d): %s; outside "
                                 "a pid namespace the broker may outlive it",
                                 (int)parent, strerror(errno));
                if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) < 0)
                        lp.app_gone = true;
        }
        if (getppid() != parent) {
                lp.app_pidfd = safe_close(lp.app_pidfd);
                lp.app_gone = true;
        }
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

        int r = broker_child_prepare(mc, &rt, lp.app_pidfd);
        if (r == 0) {
                lp.base = event_base_new();
                r = lp.base ? loop_run(mc, &rt, &lp) : -ENOMEM;
        }
        if (lp.base)
                event_base_free(lp.base);
        audit_close(mc->audit);
        runtime_cleanup(&rt);
        safe_close(lp.app_pidfd);
        _exit(r < 0 ? 1 : 0);
}

int mode_init(const struct mode_config *mc, char **argv)
{
        struct runtime rt;
        struct loop lp = {.child = -1, .app_pidfd = -1};
        sigset_t mask;
        int r;

        if (warn_no_intercept(mc) < 0)
                return 1;
        block_signals(&mask);
        runtime_init(&rt);
        if (mc->broker && runtime_prepare(&rt, mc, false) < 0)
                return 1;
        /* Orphans of the application come to us even when we are not PID 1. */
        if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
                log_warn("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

        lp.base = event_base_new();
        if (!lp.base) {
                runtime_cleanup(&rt);
                return log_error_errno(ENOMEM, "event_base_new"), 1;
        }
        pid_t pid = fork();
        if (pid < 0) {
                r = log_error_errno(errno, "fork");
                event_base_free(lp.base);
                runtime_cleanup(&rt);
                return 1;
        }
        if (pid == 0) {
                /* Like tini: the application gets its own process group and
                 * the terminal's foreground, so ^C reaches it once. */
                setpgid(0, 0);
                if (isatty(STDIN_FILENO)) {
                        signal(SIGTTOU, SIG_IGN);
                        (void)tcsetpgrp(STDIN_FILENO, getpgrp());
                        signal(SIGTTOU, SIG_DFL);
                }
                audit_close(mc->audit);
                exec_app(mc, mc->broker ? &rt : NULL, &mask, argv);
        }
        rt.key_fd = safe_close(rt.key_fd);
        rt.icept_app = safe_close(rt.icept_app);
        lp.child = pid;
        r = loop_run(mc, mc->broker ? &rt : NULL, &lp);
        event_base_free(lp.base);
        runtime_cleanup(&rt);
        if (!lp.child_done) {
                /* The loop failed: do not leave the application behind. */
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                return 1;
        }
        (void)r;
        return lp.status;
}

int mode_serve(const struct mode_config *mc)
{
        struct runtime rt;
        struct loop lp = {.child = -1, .app_pidfd = -1};
        sigset_t mask;
        int r;

        /* Signals wait (blocked) until the loop handles them: a SIGTERM
         * right after the socket appears still stops us cleanly. */
        block_signals(&mask);
        runtime_init(&rt);
        if (runtime_prepare(&rt, mc, true) < 0)
                return 1;
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        lp.base = event_base_new();
        if (!lp.base) {
                runtime_cleanup(&rt);
                return log_error_errno(ENOMEM, "event_base_new"), 1;
        }
        (void)sd_notify_send("READY=1");
        r = loop_run(mc, &rt, &lp);
        (void)sd_notify_send("STOPPING=1");
        event_base_free(lp.base);
        runtime_cleanup(&rt);
        return r < 0 ? 1 : 0;
}
