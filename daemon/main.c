/* stepdownd: the root entrypoint.  Parses the command line, loads the
 * policy, runs its setup steps, then launches the command under the
 * dropped identity, with the broker beside it when the policy allows
 * runtime requests (modes.c). */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "audit.h"
#include "broker.h"
#include "check.h"
#include "config.h"
#include "gosu.h"
#include "harden.h"
#include "launch.h"
#include "log.h"
#include "policy.h"
#include "remap-step.h"
#include "setup.h"

struct options {
        const char *user;
        bool no_new_privs;
        bool have_umask;
        mode_t umask;
        bool no_broker;
        const char *config;
        bool check, init, serve, key_fd;
        bool no_seccomp;  /* hardening (issue 7) */
        bool no_landlock; /* hardening (issue 17) */
        unsigned max_clients, auth_timeout, idle_timeout, max_chown_entries;
        unsigned max_clients_per_uid;
};

static void help(void)
{
        printf("Usage: stepdownd [OPTIONS] [--] COMMAND [ARG...]\n"
               "       stepdownd --init [OPTIONS] [--] COMMAND [ARG...]\n"
               "       stepdownd --serve [OPTIONS]\n"
               "       stepdownd --check [-c FILE]\n"
               "\n"
               "Launch COMMAND under a dropped identity, the way gosu does: same PID,\n"
               "same terminal, docker --user semantics, no capabilities.  With a policy,\n"
               "run its setup steps first and keep a root broker that serves the\n"
               "runtime requests the policy allows.\n"
               "\n"
               "Options:\n"
               "  -c, --config FILE   the policy (default " STEPDOWN_CONFIG_PATH ",\n"
               "                      when it exists; without one, a pure launcher)\n"
#ifdef STEPDOWN_CONFIG_PATH_OTHER
               "                      (" STEPDOWN_CONFIG_PATH_OTHER " is not read;\n"
               "                      a policy there is warned about)\n"
#endif
               "      --check         validate the policy and the files it names (key,\n"
               "                      audit log, symlinks in its paths), print what it\n"
               "                      loaded, exit\n"
               "      --init          stay PID 1 like tini: run COMMAND as a child, forward\n"
               "                      signals, reap zombies, serve requests, exit with\n"
               "                      COMMAND's status (128+N when killed by signal N)\n"
               "      --serve         broker only, no COMMAND (systemd units, sidecars;\n"
               "                      socket activation and sd_notify readiness)\n"
               "      --key-fd        give COMMAND the key as an inherited fd\n"
               "                      (STEPDOWN_KEY_FD) instead of a file (STEPDOWN_KEY_FILE)\n"
               "      --max-clients N connections served at once (default 64)\n"
               "      --max-clients-per-uid N  connections one uid may hold at once\n"
               "                      (default: half of --max-clients)\n"
               "      --auth-timeout S  seconds a client has to authenticate (default 5)\n"
               "      --idle-timeout S  seconds an idle client is kept (default 300)\n"
               "      --max-chown-entries N  entries one recursive chown request may\n"
               "                      look at before it stops (default 200000)\n"
               "  -u, --user SPEC     run COMMAND as SPEC: USER, USER:GROUP, UID, UID:GID,\n"
               "                      USER:GID, UID:GROUP, UID:, :GID (resolved from\n"
               "                      /etc/passwd and /etc/group, as gosu and Docker do);\n"
               "                      overrides the policy's user and STEPDOWN_USER\n"
               "      --no-new-privs  set no_new_privs before exec (set-uid binaries and\n"
               "                      file capabilities stop working for COMMAND)\n"
               "      --umask MODE    set the umask (octal, e.g. 0027) for COMMAND\n"
               "      --no-broker     keep no root broker beside COMMAND\n"
               "      --no-seccomp    do not install the broker's seccomp filter (debugging\n"
               "                      only; logged as a warning and in the audit log)\n"
               "      --no-landlock   do not confine the broker with Landlock (debugging\n"
               "                      only; logged as a warning and in the audit log)\n"
               "  -h, --help          show this help and exit\n"
               "  -V, --version       show the version and exit\n"
               "\n"
               "Exit status: COMMAND's own when it runs; 1 when stepdownd fails;\n"
               "126 when COMMAND is found but cannot be executed; 127 when it is not found.\n"
               "Invoked as \"gosu\", stepdownd takes gosu's command line instead.\n"
               "See stepdownd(8).\n");
}

static int parse_umask(const char *s, mode_t *out)
{
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 8);
        if (errno || end == s || *end || v > 0777 || s[0] == '-' || s[0] == '+')
                return -EINVAL;
        *out = (mode_t)v;
        return 0;
}

static int parse_count(const char *opt, const char *s, unsigned max, unsigned *out)
{
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || end == s || *end || v < 1 || v > max || s[0] == '-' || s[0] == '+') {
                log_error("%s %s: expected a number from 1 to %u", opt, s, max);
                return -EINVAL;
        }
        *out = (unsigned)v;
        return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
        enum {
                OPT_NO_NEW_PRIVS = 256,
                OPT_UMASK,
                OPT_NO_BROKER,
                OPT_CHECK,
                OPT_INIT,
                OPT_SERVE,
                OPT_KEY_FD,
                OPT_MAX_CLIENTS,
                OPT_MAX_CLIENTS_PER_UID,
                OPT_AUTH_TIMEOUT,
                OPT_IDLE_TIMEOUT,
                OPT_MAX_CHOWN_ENTRIES,
                OPT_NO_SECCOMP,
                OPT_NO_LANDLOCK,
        };
        static const struct option longopts[] = {
            {"config", required_argument, NULL, 'c'},
            {"check", no_argument, NULL, OPT_CHECK},
            {"init", no_argument, NULL, OPT_INIT},
            {"serve", no_argument, NULL, OPT_SERVE},
            {"key-fd", no_argument, NULL, OPT_KEY_FD},
            {"max-clients", required_argument, NULL, OPT_MAX_CLIENTS},
            {"max-clients-per-uid", required_argument, NULL, OPT_MAX_CLIENTS_PER_UID},
            {"auth-timeout", required_argument, NULL, OPT_AUTH_TIMEOUT},
            {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
            {"max-chown-entries", required_argument, NULL, OPT_MAX_CHOWN_ENTRIES},
            {"user", required_argument, NULL, 'u'},
            {"no-new-privs", no_argument, NULL, OPT_NO_NEW_PRIVS},
            {"umask", required_argument, NULL, OPT_UMASK},
            {"no-broker", no_argument, NULL, OPT_NO_BROKER},
            {"no-seccomp", no_argument, NULL, OPT_NO_SECCOMP},
            {"no-landlock", no_argument, NULL, OPT_NO_LANDLOCK},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, 'V'},
            {0},
        };
        int c;

        /* '+': stop at the first non-option, so COMMAND's own options are
         * never taken for ours even without "--". */
        while ((c = getopt_long(argc, argv, "+c:u:hV", longopts, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        o->config = optarg;
                        break;
                case OPT_CHECK:
                        o->check = true;
                        break;
                case OPT_INIT:
                        o->init = true;
                        break;
                case OPT_SERVE:
                        o->serve = true;
                        break;
                case OPT_KEY_FD:
                        o->key_fd = true;
                        break;
                case OPT_MAX_CLIENTS:
                        if (parse_count("--max-clients", optarg, 4096, &o->max_clients) < 0)
                                return -EINVAL;
                        break;
                case OPT_MAX_CLIENTS_PER_UID:
                        if (parse_count("--max-clients-per-uid", optarg, 4096,
                                        &o->max_clients_per_uid) < 0)
                                return -EINVAL;
                        break;
                case OPT_AUTH_TIMEOUT:
                        if (parse_count("--auth-timeout", optarg, 3600, &o->auth_timeout) < 0)
                                return -EINVAL;
                        break;
                case OPT_IDLE_TIMEOUT:
                        if (parse_count("--idle-timeout", optarg, 86400, &o->idle_timeout) < 0)
                                return -EINVAL;
                        break;
                case OPT_MAX_CHOWN_ENTRIES:
                        if (parse_count("--max-chown-entries", optarg, 4000000000u,
                                        &o->max_chown_entries) < 0)
                                return -EINVAL;
                        break;
                case 'u':
                        o->user = optarg;
                        break;
                case OPT_NO_NEW_PRIVS:
                        o->no_new_privs = true;
                        break;
                case OPT_UMASK:
                        if (parse_umask(optarg, &o->umask) < 0) {
                                log_error("--umask %s: expected an octal mode from 0 to 0777",
                                          optarg);
                                return -EINVAL;
                        }
                        o->have_umask = true;
                        break;
                case OPT_NO_BROKER:
                        o->no_broker = true;
                        break;
                case OPT_NO_SECCOMP:
                        o->no_seccomp = true;
                        break;
                case OPT_NO_LANDLOCK:
                        o->no_landlock = true;
                        break;
                case 'h':
                        help();
                        exit(0);
                case 'V':
                        printf("stepdownd %s\n", STEPDOWN_VERSION);
                        exit(0);
                default:
                        fprintf(stderr, "Try 'stepdownd --help' for more information.\n");
                        return -EINVAL;
                }
        }
        return optind;
}

/* Whether the default policy exists.  When it does not but one exists at
 * the prefix's path (/usr/local/etc/... for a build with the default
 * prefix), that one is silently not read: say so. */
static bool have_default_policy(void)
{
        if (access(STEPDOWN_CONFIG_PATH, F_OK) == 0)
                return true;
#ifdef STEPDOWN_CONFIG_PATH_OTHER
        if (access(STEPDOWN_CONFIG_PATH_OTHER, F_OK) == 0)
                log_warn("no policy at %s, the one stepdownd reads by default, but there is one at "
                         "%s, which is NOT read: move it to %s, or pass -c %s",
                         STEPDOWN_CONFIG_PATH, STEPDOWN_CONFIG_PATH_OTHER, STEPDOWN_CONFIG_PATH,
                         STEPDOWN_CONFIG_PATH_OTHER);
#endif
        return false;
}

/* After a policy refused for its owner: in a user namespace the owner may
 * just be unmapped (it then shows as the overflow uid, 65534). */
static void policy_userns_hint(const char *err)
{
        char ns[400], want[64];
        bool deny;
        unsigned overflow = 65534;
        FILE *f = fopen("/proc/sys/kernel/overflowuid", "re");

        if (f) {
                if (fscanf(f, "%u", &overflow) != 1)
                        overflow = 65534;
                fclose(f);
        }
        snprintf(want, sizeof(want), "owned by uid %u,", overflow);
        if (!strstr(err, want) || !launch_in_userns(ns, sizeof(ns), &deny))
                return;
        log_error("this is a user namespace (%s): uid %u is the overflow uid, which files "
                  "owned by an id not mapped in it show; map the host owner of the policy and "
                  "its directories (root, for an image's own files) to 0 in the namespace, as "
                  "rootless podman does with a subordinate uid range, or give the policy from "
                  "a path the namespace's root owns",
                  ns, overflow);
}

/* The policy named by -c, or the default one when it exists. */
static int load_policy(const struct options *o, struct policy *p, bool *have)
{
        const char *path = o->config;
        struct userdb db;
        char err[1024];
        int r;

        *have = false;
        if (!path) {
                if (!have_default_policy())
                        return 0;
                path = STEPDOWN_CONFIG_PATH;
        }
        r = userdb_load(&db, NULL, NULL);
        if (r < 0)
                return log_error_errno(r, "reading %s and %s", USERDB_PASSWD_PATH,
                                       USERDB_GROUP_PATH);
        r = policy_load(p, path, &db, err, sizeof(err));
        if (r == 0)
                r = policy_apply_env(p, &db, err, sizeof(err));
        if (r == 0 && o->user)
                r = policy_set_user(p, o->user, 0, &db, err, sizeof(err));
        if (r == 0 && !o->check) /* remap: names follow the user to its new ids */
                r = policy_remap_resolve(p, &db, err, sizeof(err));
        userdb_free(&db);
        if (r < 0) {
                log_error("%s", err);
                if (r == -EPERM)
                        policy_userns_hint(err);
                policy_free(p);
                return r;
        }
        *have = true;
        return 0;
}

static int open_audit(const struct policy *p, struct audit_config *ac, struct audit **a)
{
        char err[512];

        *ac = (struct audit_config){
            .path = p->audit,
            .sign_key_file = p->audit_sign,
            .sync_always = p->audit_sync == POLICY_YES,
            .failure_allow = p->audit_failure == POLICY_NO,
            .syslog = p->audit_syslog == POLICY_YES,
        };
        int r = audit_open(a, ac, p->file, err, sizeof(err));
        if (r < 0) {
                /* err names the log or the signing key and its path: put
                 * the statement's line before it. */
                char where[512];
                bool sign = strncmp(err, "signing key", 11) == 0;
                bool is_log = strncmp(err, "audit log", 9) == 0;
                policy_where(p, sign ? p->audit_sign_line : p->audit_line, where, sizeof(where));
                log_error("%s: %s%s", sign || is_log ? where : p->file, err,
                          r == -ENOENT && is_log ? " (its directory must exist: the log is opened "
                                                   "before the setup steps run)"
                                                 : "");
                if (r == -EACCES && geteuid() != 0)
                        log_error("not root (uid %u): start the container as root, or point `%s` "
                                  "at a file uid %u may %s%s",
                                  (unsigned)geteuid(), sign ? "audit-sign" : "audit",
                                  (unsigned)geteuid(), sign ? "read" : "write",
                                  sign ? "" : " (`audit -` for standard error)");
        }
        return r;
}

/* Allow rules, but not root: no broker.  One line, and the command starts,
 * unless the policy says `broker required`. */
static int no_broker_unprivileged(const struct policy *p)
{
        char where[512];

        if (p->broker_required == POLICY_YES) {
                policy_where(p, p->broker_line, where, sizeof(where));
                log_error("%s: broker required, but stepdownd runs as uid %u without root, so it "
                          "cannot keep one; start the container as root (drop --user / "
                          "runAsUser), or say `broker optional` to start without one",
                          where, (unsigned)geteuid());
                return -EPERM;
        }
        log_warn("no broker: not root (uid %u); the policy's %zu allow rule%s will not be served "
                 "(start as root for them, or `broker required` to make this an error)",
                 (unsigned)geteuid(), p->n_rules, p->n_rules == 1 ? "" : "s");
        return 0;
}

static int audit_start(struct audit *a, const struct options *o)
{
        char msg[128];
        snprintf(msg, sizeof(msg), "stepdownd %s, %s mode, pid %d", STEPDOWN_VERSION,
                 o->serve  ? "serve"
                 : o->init ? "init"
                           : "exec",
                 (int)getpid());
        struct audit_event ev = {
            .event = "start", .uid = -1, .gid = -1, .mode = -1, .changed = -1, .message = msg};
        return audit_log(a, &ev);
}

static int run(const struct options *o, struct policy *p, bool have_policy, char **cmd)
{
        struct launch l = {0};
        struct audit_config ac = {0};
        struct audit *a = NULL;
        char err[512];
        int r;

        if (o->serve && have_policy && p->intercept_line) {
                log_error("%s:%u: intercept needs exec or --init mode: with --serve there is no "
                          "application to install the filter in",
                          p->file, p->intercept_line);
                return 1;
        }
        const char *user = o->user ? o->user : have_policy ? p->user : NULL;
        if (!o->serve && !user) {
                log_error("no user given: use -u USER-SPEC");
                return 1;
        }
        l.no_new_privs = o->no_new_privs || (have_policy && p->no_new_privs);
        l.have_umask = o->have_umask || (have_policy && p->has_umask);
        l.umask = o->have_umask ? o->umask : have_policy ? p->umask : 0;
        if (have_policy && open_audit(p, &ac, &a) < 0)
                return 1;
        /* One start, one chain (docs/AUDIT.md): start, remap, setup steps,
         * hardening, requests, stop, all through this one handle. */
        if (a && audit_start(a, o) < 0 && !audit_failure_allow(a)) {
                log_error("audit log: the start record could not be written; stopping "
                          "(policy: audit-failure deny)");
                audit_close(a);
                return 1;
        }
        if (have_policy && remap_step_run(p, a, err, sizeof(err)) < 0) {
                log_error("%s", err);
                audit_close(a);
                return 1;
        }
        if (user && launch_resolve(&l, user, err, sizeof(err)) < 0) {
                log_error("user %s: %s", user, err);
                audit_close(a);
                return 1;
        }

        /* Started without root (docker run --user, runAsNonRoot): setup
         * steps are checked, not run; a broker cannot be kept. */
        bool root = geteuid() == 0;
        bool broker = have_policy && p->n_rules > 0 && !o->no_broker;
        /* The broker loads a provisioned key after the setup steps: a
         * missing one stops the start before they change anything. */
        if (broker && (root || o->serve) && check_key(p) < 0) {
                audit_close(a);
                exec_user_free(&l.user);
                return 1;
        }
        if (have_policy && !root && !o->serve) {
                r = setup_run_unprivileged(p, a, err, sizeof(err));
                if (r < 0)
                        log_error("%s", err);
                else if (broker)
                        r = no_broker_unprivileged(p);
                if (r < 0) {
                        audit_close(a);
                        exec_user_free(&l.user);
                        return 1;
                }
                broker = false;
        } else if (have_policy && setup_run(p, a, err, sizeof(err)) < 0) {
                log_error("%s", err);
                audit_close(a);
                exec_user_free(&l.user);
                return 1;
        }

        struct mode_config mc = {
            .policy = have_policy ? p : NULL,
            .audit = a,
            .audit_config = &ac,
            .launch = user ? &l : NULL,
            .broker = broker,
            .key_fd = o->key_fd,
            .max_conns = o->max_clients,
            .max_conns_per_uid = o->max_clients_per_uid,
            .auth_timeout_s = o->auth_timeout,
            .idle_timeout_s = o->idle_timeout,
            .max_chown_entries = o->max_chown_entries,
            .no_seccomp = o->no_seccomp,
            .no_landlock = o->no_landlock,
        };
        if (o->serve)
                r = mode_serve(&mc);
        else if (o->init)
                r = mode_init(&mc, cmd);
        else
                r = mode_exec(&mc, cmd);
        audit_close(a);
        exec_user_free(&l.user);
        return r;
}

/* A set-uid or set-gid stepdownd (or one with file capabilities) would be
 * root for whoever runs it: `stepdownd -u root -- sh`.  Refused in every
 * mode before anything is read (environment, argv, files), as gosu refuses
 * a set-uid gosu.  Writes with write(2) only: no stdio, no locale. */
static void refuse_setuid(void)
{
        uid_t ru, eu, su;
        gid_t rg, eg, sg;
        char msg[512];

        if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
                _exit(1);
        bool secure = getauxval(AT_SECURE) != 0;
        if (ru == eu && rg == eg && !secure)
                return;
        int n = snprintf(msg, sizeof(msg),
                         "stepdownd: refusing to run set-uid, set-gid or with file capabilities "
                         "(real uid %u gid %u, effective uid %u gid %u, AT_SECURE %d): that would "
                         "give root to anyone who runs it; remove the bits (chmod u-s,g-s, setcap "
                         "-r) and start stepdownd as root instead (container entrypoint, systemd "
                         "unit)\n",
                         (unsigned)ru, (unsigned)rg, (unsigned)eu, (unsigned)eg, secure);
        if (n > 0 && write(2, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1) < 0)
                _exit(1);
        _exit(1);
}

int main(int argc, char **argv)
{
        struct options o = {0};
        struct policy p = {0};
        bool have_policy;
        int r;

        refuse_setuid();

        const char *base = strrchr(argv[0], '/');
        base = base ? base + 1 : argv[0];
        if (strcmp(base, "gosu") == 0)
                return gosu_main(argc, argv);

        log_init("stepdownd");
        /* getopt's messages name argv[0]: "stepdownd:", as ours do, not
         * the full path it was started by. */
        char *argv0 = argv[0];
        argv[0] = (char *)"stepdownd";
        r = parse_args(argc, argv, &o);
        argv[0] = argv0;
        if (r < 0)
                return 1;
        if (o.init + o.serve + o.check > 1) {
                log_error("--init, --serve and --check exclude each other");
                return 1;
        }
        if (o.check && !o.config && !have_default_policy())
                o.config = STEPDOWN_CONFIG_PATH; /* so the error names it */
        if (!o.serve && !o.check && r >= argc) {
                log_error("no command given; usage: stepdownd [OPTIONS] -- COMMAND [ARG...]");
                return 1;
        }
        if ((o.serve || o.check) && r < argc) {
                log_error("%s takes no command (got %s)", o.serve ? "--serve" : "--check", argv[r]);
                return 1;
        }
        if (load_policy(&o, &p, &have_policy) < 0)
                return 1;
        if (o.check) {
                /* Hardening (issue 7): what the broker keeps after setup,
                 * first: the last line stays the summary. */
                if (have_policy && p.n_rules > 0) {
                        char caps[256], kill[256];
                        harden_caps_format(harden_caps_for(&p, false), caps, sizeof(caps));
                        harden_caps_format(harden_caps_for(&p, true), kill, sizeof(kill));
                        printf("capabilities: %s\n", caps);
                        printf("capabilities with --init: %s\n", kill);
                }
                if (have_policy)
                        check_print_intercept(&p, stdout);
                policy_print(&p, stdout);
                bool flushed = fflush(stdout) == 0;
                unsigned bad = have_policy ? check_policy_files(&p) : 0;
                if (bad)
                        log_error("%s: %u problem%s above: the policy parses, but a start or its "
                                  "requests would fail",
                                  p.file, bad, bad == 1 ? "" : "s");
                policy_free(&p);
                return flushed && !bad ? 0 : 1;
        }
        if (o.serve && (!have_policy || p.n_rules == 0)) {
                log_error("--serve needs a policy with allow rules (-c FILE)");
                policy_free(&p);
                return 1;
        }
        r = run(&o, &p, have_policy, argv + r);
        policy_free(&p);
        return r;
}
