/* stepdownd: the root entrypoint.  Parses the command line, then launches
 * the command under the dropped identity. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gosu.h"
#include "launch.h"
#include "log.h"

struct options {
        const char *user;
        bool no_new_privs;
        bool have_umask;
        mode_t umask;
        bool no_broker;
};

static void help(void)
{
        printf("Usage: stepdownd [OPTIONS] [--] COMMAND [ARG...]\n"
               "\n"
               "Launch COMMAND under a dropped identity, the way gosu does: same PID,\n"
               "same terminal, docker --user semantics, no capabilities.\n"
               "\n"
               "Options:\n"
               "  -u, --user SPEC     run COMMAND as SPEC: USER, USER:GROUP, UID, UID:GID,\n"
               "                      USER:GID, UID:GROUP, UID:, :GID (resolved from\n"
               "                      /etc/passwd and /etc/group, as gosu and Docker do)\n"
               "      --no-new-privs  set no_new_privs before exec (set-uid binaries and\n"
               "                      file capabilities stop working for COMMAND)\n"
               "      --umask MODE    set the umask (octal, e.g. 0027) for COMMAND\n"
               "      --no-broker     keep no root broker beside COMMAND\n"
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

static int parse_args(int argc, char **argv, struct options *o)
{
        enum { OPT_NO_NEW_PRIVS = 256, OPT_UMASK, OPT_NO_BROKER };
        static const struct option longopts[] = {
            {"user", required_argument, NULL, 'u'},
            {"no-new-privs", no_argument, NULL, OPT_NO_NEW_PRIVS},
            {"umask", required_argument, NULL, OPT_UMASK},
            {"no-broker", no_argument, NULL, OPT_NO_BROKER},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, 'V'},
            {0},
        };
        int c;

        /* '+': stop at the first non-option, so COMMAND's own options are
         * never taken for ours even without "--". */
        while ((c = getopt_long(argc, argv, "+u:hV", longopts, NULL)) >= 0) {
                switch (c) {
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

int main(int argc, char **argv)
{
        struct options o = {0};
        struct launch l = {0};
        char err[512];
        int r;

        const char *base = strrchr(argv[0], '/');
        base = base ? base + 1 : argv[0];
        if (strcmp(base, "gosu") == 0)
                return gosu_main(argc, argv);

        log_init("stepdownd");
        r = parse_args(argc, argv, &o);
        if (r < 0)
                return 1;
        if (r >= argc) {
                log_error("no command given; usage: stepdownd [OPTIONS] -- COMMAND [ARG...]");
                return 1;
        }
        if (!o.user) {
                log_error("no user given: use -u USER-SPEC");
                return 1;
        }

        l.no_new_privs = o.no_new_privs;
        l.have_umask = o.have_umask;
        l.umask = o.umask;
        if (launch_resolve(&l, o.user, err, sizeof(err)) < 0) {
                log_error("user %s: %s", o.user, err);
                return 1;
        }
        if (launch_drop(&l, err, sizeof(err)) < 0) {
                log_error("dropping to %s: %s", o.user, err);
                return 1;
        }
        launch_exec(&l, argv + r);
}
