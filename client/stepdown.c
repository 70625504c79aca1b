/* stepdown: the command-line client.  One table of subcommands; each is
 * option parsing around one libstepdown call (STYLE.md habit 10). */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd-audit.h"
#include "config.h"
#include "pathnorm.h"
#include "stepdown/stepdown.h"
#include "userdb.h"

enum {
        EXIT_DONE = 0,
        EXIT_OPFAILED = 1,
        EXIT_USAGE = 2,
        EXIT_UNREACHABLE = 3,
        EXIT_REFUSED = 4,
};

/* One option (or operand) of a subcommand, as --help describes it; a
 * newline in text continues the description on the next line. */
struct opt_help {
        const char *opt, *text;
};

struct cmd {
        const char *name;
        int (*run)(int argc, char **argv); /* argv[0] is the subcommand; returns an exit status */
        const char *usage;
        const char *summary; /* for `stepdown NAME --help`; NULL: the command prints its own */
        struct opt_help opts[7];
};

static const char *prog = "stepdown";
/* The subcommand being run, for its --help and getopt's messages. */
static const struct cmd *current;
static char current_label[32] = "stepdown";
static void cmd_help(const struct cmd *cmd);

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
        va_list ap;
        fprintf(stderr, "%s: ", prog);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry '%s --help'.\n", current_label);
        return EXIT_USAGE;
}

/* The broker could not be reached or did not let us in; the library's
 * message names the variable, key file or socket at fault. */
static int connect_or_fail(struct stepdown **sd)
{
        char msg[PATH_MAX + 1024];
        int r = stepdown_connect_msg(sd, msg, sizeof(msg));
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", prog, msg[0] ? msg : strerror(-r));
                return EXIT_UNREACHABLE;
        }
        return EXIT_DONE;
}

/* A PATH argument must be absolute and normal before anything is asked:
 * 0, or the usage status with the reason printed. */
static int check_path(const char *op, const char *path)
{
        char why[128];
        if (path_check(path, why, sizeof(why)) == 0)
                return 0;
        return usage_error("%s %s: %s", op, path, why);
}

/* Prints why OP on WHAT failed and picks the exit status. */
static int op_failed(struct stepdown *sd, int r, const char *op, const char *what)
{
        const char *msg = stepdown_errmsg(sd);
        enum stepdown_error_kind kind = stepdown_error_kind(sd);
        int status = EXIT_OPFAILED;

        if (kind == STEPDOWN_ERR_REFUSED)
                status = EXIT_REFUSED;
        else if (kind == STEPDOWN_ERR_AUTH ||
                 (kind == STEPDOWN_ERR_NONE && (r == -ECONNRESET || r == -EPIPE || r == -EAGAIN ||
                                                r == -EPROTO || r == -ENOTCONN)))
                status = EXIT_UNREACHABLE;
        if (status == EXIT_REFUSED || !msg || !*msg) {
                fprintf(stderr, "%s: %s%s%s: %s%s%s\n", prog, op, what ? " " : "", what ? what : "",
                        status == EXIT_REFUSED ? "refused by policy" : strerror(-r),
                        msg && *msg ? ": " : "", msg && *msg ? msg : "");
        } else {
                /* The broker's message usually starts with "OP WHAT: "
                 * itself; say it once, with the errno text after it. */
                char head[PATH_MAX + 64];
                snprintf(head, sizeof(head), "%s%s%s: ", op, what ? " " : "", what ? what : "");
                if (strncmp(msg, head, strlen(head)) == 0)
                        msg += strlen(head);
                /* ... and the errno text only when the message lacks it. */
                const char *etext = strerror(-r);
                if (strstr(msg, etext))
                        fprintf(stderr, "%s: %s%s\n", prog, head, msg);
                else
                        fprintf(stderr, "%s: %s%s (%s)\n", prog, head, msg, etext);
        }
        stepdown_close(sd);
        return status;
}

static int parse_mode(const char *s, mode_t *mode)
{
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 8);
        if (errno || end == s || *end || v > 07777 || s[0] == '-' || s[0] == '+')
                return -EINVAL;
        *mode = (mode_t)v;
        return 0;
}

/* OWNER: USER, USER:GROUP, :GROUP or USER: (the user's login group), each
 * part a name (looked up in /etc/passwd and /etc/group) or a number. */
static int parse_owner(const char *spec, uid_t *uid, gid_t *gid)
{
        struct userdb db = {0};
        const char *colon = strchr(spec, ':');
        size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
        const char *group = colon ? colon + 1 : NULL;
        int64_t id;
        int r = userdb_load(&db, USERDB_PASSWD_PATH, USERDB_GROUP_PATH);

        *uid = (uid_t)-1;
        *gid = (gid_t)-1;
        if (r < 0)
                return r;
        r = -EINVAL;
        if (ulen == 0 && (!group || !*group))
                goto out;
        if (ulen > 0) {
                char *user = strndup(spec, ulen);
                const struct pw_entry *pw = user ? userdb_user_by_name(&db, user) : NULL;
                if (pw) {
                        *uid = (uid_t)pw->uid;
                        if (group && !*group)
                                *gid = (gid_t)pw->gid;
                } else if (user && userdb_parse_id(user, ulen, &id) && id >= 0 &&
                           id <= USERDB_ID_MAX && !(group && !*group)) {
                        *uid = (uid_t)id;
                }
                free(user);
                if (*uid == (uid_t)-1)
                        goto out;
        }
        if (group && *group) {
                const struct gr_entry *gr = userdb_group_by_name(&db, group);
                if (gr)
                        *gid = (gid_t)gr->gid;
                else if (userdb_parse_id(group, strlen(group), &id) && id >= 0 &&
                         id <= USERDB_ID_MAX)
                        *gid = (gid_t)id;
                else
                        goto out;
        }
        r = 0;
out:
        userdb_free(&db);
        return r;
}

/* getopt over argv[0..argc) with the usual reset.  Every subcommand takes
 * -h/--help (OPTS must hold "h", LONGOPTS "help" when given): its help is
 * printed and the program exits 0.  getopt's complaints name the
 * subcommand ("stepdown mkdir: invalid option -- 'x'") and point at its
 * help. */
static int next_opt(int argc, char **argv, const char *opts, const struct option *longopts)
{
        static const struct option help_only[] = {{"help", no_argument, NULL, 'h'}, {0}};
        int c;

        argv[0] = current_label;
        opterr = 1;
        c = getopt_long(argc, argv, opts, longopts ? longopts : help_only, NULL);
        if (c == 'h') {
                cmd_help(current);
                exit(fflush(stdout) == 0 ? EXIT_DONE : EXIT_OPFAILED);
        }
        if (c == '?' || c == ':')
                fprintf(stderr, "Try '%s --help'.\n", current_label);
        return c;
}

static int cmd_ping(int argc, char **argv)
{
        struct stepdown *sd;
        int r;
        if (next_opt(argc, argv, "+h", NULL) != -1)
                return EXIT_USAGE;
        if (optind != argc)
                return usage_error("%s takes no arguments", "ping");
        if (connect_or_fail(&sd))
                return EXIT_UNREACHABLE;
        r = stepdown_ping(sd);
        if (r < 0)
                return op_failed(sd, r, "ping", NULL);
        stepdown_close(sd);
        return EXIT_DONE;
}

static int cmd_allowed(int argc, char **argv)
{
        struct stepdown *sd;
        char *text;
        int r;
        if (next_opt(argc, argv, "+h", NULL) != -1)
                return EXIT_USAGE;
        if (optind != argc)
                return usage_error("%s takes no arguments", "allowed");
        if (connect_or_fail(&sd))
                return EXIT_UNREACHABLE;
        r = stepdown_allowed(sd, &text);
        if (r < 0)
                return op_failed(sd, r, "allowed", NULL);
        fputs(text, stdout);
        free(text);
        stepdown_close(sd);
        return fflush(stdout) == 0 ? EXIT_DONE : EXIT_OPFAILED;
}

static int cmd_mkdir(int argc, char **argv)
{
        struct stepdown *sd;
        mode_t mode = (mode_t)-1;
        uid_t uid = (uid_t)-1;
        gid_t gid = (gid_t)-1;
        unsigned flags = 0;
        int c, r;

        while ((c = next_opt(argc, argv, "+hpm:o:", NULL)) != -1) {
                if (c == 'p')
                        flags |= STEPDOWN_MKDIR_PARENTS;
                else if (c == 'm' && parse_mode(optarg, &mode) == 0)
                        continue;
                else if (c == 'o' && parse_owner(optarg, &uid, &gid) == 0)
                        continue;
                else if (c == 'm' || c == 'o')
                        return usage_error("bad %s: %s", c == 'm' ? "mode" : "owner", optarg);
                else
                        return EXIT_USAGE;
        }
        if (optind != argc - 1)
                return usage_error("%s needs exactly one PATH", "mkdir");
        if (check_path("mkdir", argv[optind]))
                return EXIT_USAGE;
        if (connect_or_fail(&sd))
                return EXIT_UNREACHABLE;
        r = stepdown_mkdir(sd, argv[optind], mode, uid, gid, flags);
        if (r < 0)
                return op_failed(sd, r, "mkdir", argv[optind]);
        stepdown_close(sd);
        return EXIT_DONE;
}

static int cmd_chown(int argc, char **argv)
{
        struct stepdown *sd;
        uid_t uid;
        gid_t gid;
        unsigned flags = 0;
        bool verbose = false;
        uint64_t changed;
        int c, r;

        while ((c = next_opt(argc, argv, "+hRv", NULL)) != -1) {
                if (c == 'R')
                        flags |= STEPDOWN_CHOWN_RECURSIVE;
                else if (c == 'v')
                        verbose = true;
                else
                        return EXIT_USAGE;
        }
        if (optind != argc - 2)
                return usage_error("%s needs OWNER and PATH", "chown");
        if (parse_owner(argv[optind], &uid, &gid) < 0)
                return usage_error("bad owner: %s", argv[optind]);
        if (check_path("chown", argv[optind + 1]))
                return EXIT_USAGE;
        if (connect_or_fail(&sd))
                return EXIT_UNREACHABLE;
        r = stepdown_chown(sd, argv[optind + 1], uid, gid, flags, &changed);
        if (r < 0)
                return op_failed(sd, r, "chown", argv[optind + 1]);
        if (verbose)
                printf("%s: %" PRIu64 " %s changed\n", argv[optind + 1], changed,
                       changed == 1 ? "entry" : "entries");
        stepdown_close(sd);
        return EXIT_DONE;
}

static int cmd_chmod(int argc, char **argv)
{
        struct stepdown *sd;
        mode_t mode;
        int r;

        if (next_opt(argc, argv, "+h", NULL) != -1)
                return EXIT_USAGE;
        if (optind != argc - 2)
                return usage_error("%s needs MODE and PATH", "chmod");
        if (parse_mode(argv[optind], &mode) < 0)
                return usage_error("bad mode: %s", argv[optind]);
        if (check_path("chmod", argv[optind + 1]))
                return EXIT_USAGE;
        if (connect_or_fail(&sd))
                return EXIT_UNREACHABLE;
        r = stepdown_chmod(sd, argv[optind + 1], mode);
        if (r < 0)
                return op_failed(sd, r, "chmod", argv[optind + 1]);
        stepdown_close(sd);
        return EXIT_DONE;
}

/* execvp(), telling "not found" (127) from "found but cannot be run"
 * (126) the way stepdownd does: a PATH entry that merely cannot be
 * searched does not make the command "found". */
static int exec_cmd(char **argv)
{
        const char *cmd = argv[0], *path = getenv("PATH");
        bool found = false;
        int err = ENOENT;

        if (strchr(cmd, '/')) {
                execv(cmd, argv);
                err = errno;
                found = err != ENOENT && err != ENOTDIR;
        } else {
                size_t clen = strlen(cmd);
                for (const char *p = path ? path : "/bin:/usr/bin";; p++) {
                        const char *e = strchrnul(p, ':');
                        size_t dlen = (size_t)(e - p);
                        const char *dir = dlen ? p : ".";
                        char buf[PATH_MAX];
                        struct stat st;
                        dlen = dlen ? dlen : 1;
                        if (dlen + 1 + clen + 1 <= sizeof(buf)) {
                                memcpy(buf, dir, dlen);
                                buf[dlen] = '/';
                                memcpy(buf + dlen + 1, cmd, clen + 1);
                                execv(buf, argv);
                                if (errno != ENOENT && errno != ENOTDIR && errno != ENAMETOOLONG &&
                                    !(errno == EACCES && stat(buf, &st) < 0) && !found) {
                                        found = true;
                                        err = errno;
                                }
                        }
                        if (*e == '\0')
                                break;
                        p = e;
                }
        }
        if (!found) {
                if (strchr(cmd, '/'))
                        fprintf(stderr, "%s: cannot run %s: no such file\n", prog, cmd);
                else
                        fprintf(stderr, "%s: cannot run %s: command not found in PATH=%s\n", prog,
                                cmd, path ? path : "(unset: /bin:/usr/bin)");
                return 127;
        }
        fprintf(stderr, "%s: cannot run %s: %s\n", prog, cmd, strerror(err));
        return 126;
}

/* Puts fd at number target (without close-on-exec) and execs argv. */
static int exec_with_fd(int fd, int target, char **argv)
{
        if (fd == target) {
                if (fcntl(fd, F_SETFD, 0) < 0)
                        goto fail;
        } else {
                if (dup2(fd, target) < 0)
                        goto fail;
                close(fd);
        }
        return exec_cmd(argv);
fail:
        fprintf(stderr, "%s: cannot pass the fd: %s\n", prog, strerror(errno));
        return EXIT_OPFAILED;
}

/* Splits "OPTIONS... -- COMMAND..." at the first "--"; returns its index
 * or -1. */
static int find_dashdash(int argc, char **argv)
{
        for (int i = 1; i < argc; i++)
                if (strcmp(argv[i], "--") == 0)
                        return i;
        return -1;
}

static int cmd_open(int argc, char **argv)
{
        static const struct option longopts[] = {
            {"fd", required_argument, NULL, 'F'}, {"help", no_argument, NULL, 'h'}, {0}};
        int dd = find_dashdash(argc, argv), c, r, fd, target = 3;
        unsigned flags = 0;
        mode_t mode = 0;
        struct stepdown *sd;
        char *end, buf[16];

        while ((c = next_opt(dd < 0 ? argc : dd, argv, "hrwc:atx", longopts)) != -1) {
                switch (c) {
                case 'r':
                        flags |= STEPDOWN_OPEN_READ;
                        break;
                case 'w':
                        flags |= STEPDOWN_OPEN_WRITE;
                        break;
                case 'c':
                        if (parse_mode(optarg, &mode) < 0)
                                return usage_error("bad mode: %s", optarg);
                        flags |= STEPDOWN_OPEN_CREATE | STEPDOWN_OPEN_WRITE;
                        break;
                case 'a':
                        flags |= STEPDOWN_OPEN_APPEND | STEPDOWN_OPEN_WRITE;
                        break;
                case 't':
                        flags |= STEPDOWN_OPEN_TRUNC | STEPDOWN_OPEN_WRITE;
                        break;
                case 'x':
                        flags |= STEPDOWN_OPEN_EXCL;
                        break;
                case 'F':
                        errno = 0;
                        long v = strtol(optarg, &end, 10);
                        if (errno || end == optarg || *end || v < 0 || v > 65535)
                                return usage_error("bad fd number: %s", optarg);
                        target = (int)v;
                        break;
                default:
                        return EXIT_USAGE;
                }
        }
        if (dd < 0 || dd == argc - 1)
                return usage_error("%s needs -- COMMAND", "open");
        if (optind != dd - 1)
                return usage_error("%s needs exactly one PATH", "open");
        if (!(flags & (STEPDOWN_OPEN_READ | STEPDOWN_OPEN_WRITE)))
                flags |= STEPDOWN_OPEN_READ;
        if ((flags & STEPDOWN_OPEN_EXCL) && !(flags & STEPDOWN_OPEN_CREATE))
                return usage_error("%s", "-x needs -c MODE");
        if (check_path("open", argv[optind]))
                return EXIT_USAGE;
        if (connect_or_fail(&sd))
                return EXIT_UNREACHABLE;
        r = stepdown_open(sd, argv[optind], flags, mode, &fd);
        if (r < 0)
                return op_failed(sd, r, "open", argv[optind]);
        stepdown_close(sd);
        snprintf(buf, sizeof(buf), "%d", target);
        if (setenv("STEPDOWN_FD", buf, 1) < 0)
                return EXIT_OPFAILED;
        return exec_with_fd(fd, target, argv + dd + 1);
}

static int cmd_bind(int argc, char **argv)
{
        int dd = find_dashdash(argc, argv), r, fd;
        struct stepdown *sd;
        char buf[32];

        if (next_opt(dd < 0 ? argc : dd, argv, "+h", NULL) != -1)
                return EXIT_USAGE;
        if (dd < 0 || dd == argc - 1)
                return usage_error("%s needs -- COMMAND", "bind");
        if (optind != dd - 1)
                return usage_error("%s needs exactly one ADDRESS", "bind");
        if (connect_or_fail(&sd))
                return EXIT_UNREACHABLE;
        r = stepdown_bind(sd, argv[optind], &fd);
        if (r == -EINVAL && stepdown_error_kind(sd) == STEPDOWN_ERR_NONE) {
                stepdown_close(sd);
                return usage_error("bad address: %s (tcp:HOST:PORT, udp:HOST:PORT, unix:/PATH)",
                                   argv[optind]);
        }
        if (r < 0)
                return op_failed(sd, r, "bind", argv[optind]);
        stepdown_close(sd);
        snprintf(buf, sizeof(buf), "%ld", (long)getpid());
        if (setenv("LISTEN_FDS", "1", 1) < 0 || setenv("LISTEN_PID", buf, 1) < 0 ||
            unsetenv("LISTEN_FDNAMES") < 0)
                return EXIT_OPFAILED;
        return exec_with_fd(fd, 3, argv + dd + 1);
}

static const struct cmd cmds[] = {
    {"ping", cmd_ping, "ping", "Check that the broker answers and lets the caller in.", {{0}}},
    {"allowed",
     cmd_allowed,
     "allowed",
     "List the policy's allow rules that apply to the caller.",
     {{0}}},
    {"mkdir",
     cmd_mkdir,
     "mkdir [-p] [-m MODE] [-o OWNER] PATH",
     "Ask the broker to create the directory PATH.",
     {{"-p", "create missing parents too"},
      {"-m MODE", "octal mode (default: the broker's)"},
      {"-o OWNER", "owner (default: the broker's, normally you)"}}},
    {"chown",
     cmd_chown,
     "chown [-R] [-v] OWNER PATH",
     "Ask the broker to change the owner of PATH.",
     {{"-R", "change the whole tree"},
      {"-v", "say how many entries changed (\"PATH: N entries changed\")"}}},
    {"chmod",
     cmd_chmod,
     "chmod MODE PATH",
     "Ask the broker to set the mode of PATH (octal).",
     {{0}}},
    {"open",
     cmd_open,
     "open [-r] [-w] [-c MODE] [-a] [-t] [-x] [--fd N] PATH -- COMMAND...",
     "Ask the broker to open PATH, then run COMMAND with the open file as fd 3.",
     {{"-r / -w", "open for reading (default) / writing"},
      {"-c MODE", "create if missing, with MODE (implies -w)"},
      {"-a / -t / -x", "append / truncate / fail if it exists (with -c)"},
      {"--fd N", "pass the fd as N (default 3), named in STEPDOWN_FD"}}},
    {"bind",
     cmd_bind,
     "bind ADDRESS -- COMMAND...",
     "Ask the broker to bind a socket, then run COMMAND with it as fd 3.",
     {{"ADDRESS", "tcp:HOST:PORT, udp:HOST:PORT ([IPv6] or *), unix:/PATH;\n"
                  "the socket is passed as fd 3 with LISTEN_FDS=1, LISTEN_PID"}}},
    {"audit",
     cmd_audit,
     "audit verify [--pubkey FILE] FILE... | audit show [FILTERS] [FILE...] | audit keygen SECRET "
     "PUBLIC",
     NULL,
     {{0}}},
};

/* "  LABEL   TEXT", TEXT's continuation lines under its first. */
static void print_opt(const char *cmd, const char *opt, const char *text)
{
        int n = printf("  %s%s%s", cmd ? cmd : "", cmd ? " " : "", opt);
        printf("%*s", n < 20 ? 20 - n : 1, "");
        for (; *text; text++) {
                putchar(*text);
                if (*text == '\n')
                        printf("%20s", "");
        }
        putchar('\n');
}

/* What every help ends with: operands, environment, exit status. */
static void help_footer(void)
{
        printf("\n"
               "OWNER is USER, USER:GROUP, :GROUP or USER: (USER's login group), by name or\n"
               "number.  Environment: STEPDOWN_SOCKET, STEPDOWN_KEY_FILE, STEPDOWN_KEY_FD,\n"
               "STEPDOWN_TIMEOUT (seconds, default 30; a full broker is asked again until\n"
               "then).  PATH must be absolute and normal.\n"
               "\n"
               "Exit status: 0 done; 1 the operation failed; 2 usage error (a bad PATH too);\n"
               "3 broker unreachable or full, authentication failed, or the key or a\n"
               "STEPDOWN_* variable unusable; 4 refused by policy.  open and bind: COMMAND's\n"
               "status, 127 not found, 126 not executable.  See stepdown(1).\n");
}

/* `stepdown NAME --help`. */
static void cmd_help(const struct cmd *cmd)
{
        printf("Usage: %s %s\n\n%s\n\nOptions:\n", prog, cmd->usage, cmd->summary);
        for (const struct opt_help *o = cmd->opts; o->opt; o++)
                print_opt(NULL, o->opt, o->text);
        print_opt(NULL, "-h, --help", "show this help and exit");
        help_footer();
}

static void help(void)
{
        printf(
            "Usage: %s COMMAND [ARGS...]\n\nAsk the stepdown broker for a privileged operation.\n\n"
            "Commands:\n",
            prog);
        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
                printf("  %s %s\n", prog, cmds[i].usage);
        printf("\nOptions:\n");
        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
                for (const struct opt_help *o = cmds[i].opts; o->opt; o++)
                        print_opt(cmds[i].name, o->opt, o->text);
        print_opt(NULL, "-h, --help", "show this help and exit (after a COMMAND: its own help)");
        print_opt(NULL, "-V, --version", "show the version and exit");
        help_footer();
}

int main(int argc, char **argv)
{
        if (argc < 2)
                return usage_error("%s", "missing command");
        if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
                help();
                return EXIT_DONE;
        }
        if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
                printf("stepdown %s\n", STEPDOWN_VERSION);
                return EXIT_DONE;
        }
        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
                if (strcmp(argv[1], cmds[i].name) == 0) {
                        current = &cmds[i];
                        snprintf(current_label, sizeof(current_label), "%s %s", prog, cmds[i].name);
                        return cmds[i].run(argc - 1, argv + 1);
                }
        return usage_error("unknown command: %s", argv[1]);
}
