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
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"
#include "broker.h"
#include "config.h"
#include "harden.h"
#include "launch.h"
#include "log.h"
#include "policy.h"
#include "util.h"

/* What the broker holds besides its loop. */
struct runtime {
        int listen_fd;
        char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
        bool own_socket; /* we bound it: unlink on the way out */
        char key_path[PATH_MAX];
        bool own_key_file; /* we wrote it: unlink on the way out */
        uint8_t key[PROTO_KEY_BYTES];
        bool have_key; /* false: `key none` */
        int key_fd;    /* --key-fd: the memfd the application inherits */
};

static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

static void runtime_init(struct runtime *rt)
{
        memset(rt, 0, sizeof(*rt));
        rt->listen_fd = -1;
        rt->key_fd = -1;
}

static void runtime_cleanup(struct runtime *rt)
{
        rt->listen_fd = safe_close(rt->listen_fd);
        rt->key_fd = safe_close(rt->key_fd);
        if (rt->own_socket)
                unlink(rt->sock_path);
        if (rt->own_key_file)
                unlink(rt->key_path);
        rt->own_socket = rt->own_key_file = false;
        sodium_memzero(rt->key, sizeof(rt->key));
}

/* The socket's directory: created root:GID 0710 (only the application's
 * group may traverse it, nobody but root may list or add entries), or, if
 * it exists, accepted only when root owns it and nobody else can write it,
 * so nobody can swap the socket or the key file. */
static int socket_dir(const char *dir, bool have_user, gid_t gid, char *err, size_t errlen)
{
        struct stat st;

        if (mkdir(dir, 0700) == 0) {
                if (chown(dir, 0, have_user ? gid : 0) < 0 ||
                    chmod(dir, have_user ? 0710 : 0755) < 0) {
                        snprintf(err, errlen, "socket directory %s: %s", dir, strerror(errno));
                        return -errno;
                }
                return 0;
        }
        if (errno != EEXIST) {
                snprintf(err, errlen, "creating the socket directory %s: %s", dir, strerror(errno));
                return -errno;
        }
        if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
                snprintf(err, errlen, "socket directory %s: not a directory", dir);
                return -ENOTDIR;
        }
        if (st.st_uid != 0 || (st.st_mode & 022)) {
                snprintf(err, errlen,
                         "socket directory %s: must be owned by root and not writable by "
                         "group or other (owner %u, mode %04o)",
                         dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
                return -EPERM;
        }
        return 0;
}

static int socket_create(struct runtime *rt, const char *path, const struct launch *l, char *err,
                         size_t errlen)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        char dirbuf[sizeof(rt->sock_path)];
        struct stat st;
        bool have_user = l != NULL;
        int r;

        if (path[0] != '/' || strlen(path) >= sizeof(sa.sun_path)) {
                snprintf(err, errlen, "socket %s: must be an absolute path under %zu bytes", path,
                         sizeof(sa.sun_path));
                return -EINVAL;
        }
        snprintf(rt->sock_path, sizeof(rt->sock_path), "%s", path);
        snprintf(dirbuf, sizeof(dirbuf), "%s", path);
        r = socket_dir(dirname(dirbuf), have_user, have_user ? l->user.gid : 0, err, errlen);
        if (r < 0)
                return r;

        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode)) {
                        snprintf(err, errlen, "socket %s: exists and is not a socket", path);
                        return -EEXIST;
                }
                unlink(path); /* a stale socket from an earlier run */
        }
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                snprintf(err, errlen, "socket(): %s", strerror(errno));
                return -errno;
        }
        memcpy(sa.sun_path, path, strlen(path));
        mode_t old = umask(0177); /* born 0600: nobody else can connect in between */
        r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        if (r < 0) {
                snprintf(err, errlen, "binding %s: %s", path, strerror(errno));
                return -errno;
        }
        rt->own_socket = true;
        /* The application owns it (0600: only its uid may connect); with no
         * launch user (serve without `user`) anyone may connect, and peer
         * credentials, the policy and the key decide. */
        if ((have_user ? chown(path, l->user.uid, l->user.gid) : chmod(path, 0666)) < 0 ||
            listen(fd, SOMAXCONN) < 0) {
                snprintf(err, errlen, "socket %s: %s", path, strerror(errno));
                return -errno;
        }
        rt->listen_fd = TAKE_FD(fd);
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
        /* Next to the socket: foo.sock -> foo.key. */
        size_t n = strlen(rt->sock_path);
        if (n > 5 && strcmp(rt->sock_path + n - 5, ".sock") == 0)
                n -= 5;
        snprintf(rt->key_path, sizeof(rt->key_path), "%.*s.key", (int)n, rt->sock_path);
        r = auth_key_write(rt->key_path, rt->key, l->user.uid, l->user.gid, err, errlen);
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

static int loop_run(const struct mode_config *mc, struct runtime *rt, struct loop *lp)
{
        struct event *sig_ev[ELEMENTSOF(forwarded) + 1] = {0};
        struct broker_config bc = {
            .policy = mc->policy,
            .audit = mc->audit,
            .key = rt && rt->have_key ? rt->key : NULL,
            .max_conns = mc->max_conns,
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
        if (r == 0 && rt)
                r = broker_new(lp->base, rt->listen_fd, &bc, &lp->broker);
        /* Hardening (issue 7, harden.c): everything the loop needs is open
         * and (init mode) the application is forked, so drop capabilities
         * and install the seccomp filter now; never serve without them. */
        if (r == 0 && rt) {
                struct harden_config hc = {.seccomp = !mc->no_seccomp,
                                           .supervise = lp->child > 0 ? lp->child : 0,
                                           .max_conns = mc->max_conns};
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
                if (!lp->child_done)
                        event_base_dispatch(lp->base);
                if (rt)
                        audit_event_simple(mc->audit, "stop", "broker stopped");
        }
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
        launch_exec(mc->launch, argv);
}

/* Closes every fd from 3 up but a and b (either may be -1). */
static int keep_only(int a, int b)
{
        if (a > b) {
                int t = a;
                a = b;
                b = t;
        }
        if (a < 3) /* -1 or a standard fd: only b to keep */
                a = b;
        if (a > 3 && close_range(3, (unsigned)a - 1, 0) < 0)
                return -errno;
        if (b > a + 1 && close_range((unsigned)a + 1, (unsigned)b - 1, 0) < 0)
                return -errno;
        if (close_range((unsigned)b + 1, ~0U, 0) < 0)
                return -errno;
        return 0;
}

/* The broker child closes what it does not need: every inherited fd but
 * stderr and stdout (its log), the listener and the audit log, stdin from
 * /dev/null.  The audit log stays the handle stepdownd opened before setup,
 * so the broker's records continue that chain (one start, one chain; for
 * `audit -` there is no file to pick the chain up from). */
static int broker_child_prepare(const struct mode_config *mc, struct runtime *rt)
{
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null >= 0) {
                dup2(null, STDIN_FILENO);
                close(null);
        }
        rt->key_fd = safe_close(rt->key_fd);
        int r = keep_only(rt->listen_fd, audit_fd(mc->audit));
        audit_forked(mc->audit);
        return r;
}

int mode_exec(const struct mode_config *mc, char **argv)
{
        struct runtime rt;
        sigset_t mask;
        pid_t parent = getpid();

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
                audit_close(mc->audit);
                exec_app(mc, &rt, &mask, argv);
        }

        /* The broker: its own session, and it dies with the application.
         * PDEATHSIG is armed only now, so check that the parent did not
         * exit before that (then we were reparented already). */
        setsid();
        if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) < 0 || getppid() != parent)
                _exit(0);
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

        struct loop lp = {.child = -1};
        int r = broker_child_prepare(mc, &rt);
        if (r == 0) {
                lp.base = event_base_new();
                r = lp.base ? loop_run(mc, &rt, &lp) : -ENOMEM;
        }
        if (lp.base)
                event_base_free(lp.base);
        audit_close(mc->audit);
        runtime_cleanup(&rt);
        _exit(r < 0 ? 1 : 0);
}

int mode_init(const struct mode_config *mc, char **argv)
{
        struct runtime rt;
        struct loop lp = {.child = -1};
        sigset_t mask;
        int r;

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
        struct loop lp = {.child = -1};
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
