#include "gosu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "launch.h"

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: gosu user-spec command [args]\n"
                "   eg: gosu tianon bash\n"
                "       gosu nobody:root bash -c 'whoami && id'\n"
                "       gosu 1000:1 id\n"
                "\n"
                "gosu version: 1.14-compatible (stepdownd %s)\n"
                "gosu license: ISC (stepdown; gosu itself is Apache-2.0)\n"
                "\n",
                STEPDOWN_VERSION);
}

int gosu_main(int argc, char **argv)
{
        struct launch l = {.gosu = true};
        char err[512];
        struct stat st;

        if (argc >= 2) {
                const char *a = argv[1];
                if (!strcmp(a, "--help") || !strcmp(a, "-h") || !strcmp(a, "-?")) {
                        usage(stdout);
                        return 0;
                }
                if (!strcmp(a, "--version") || !strcmp(a, "-v")) {
                        printf("1.14-compatible (stepdownd %s)\n", STEPDOWN_VERSION);
                        return 0;
                }
        }
        if (argc <= 2) {
                usage(stderr);
                return 1;
        }

        if (stat("/proc/self/exe", &st) < 0) {
                fprintf(stderr, "error: stat /proc/self/exe: %m\n");
                return 1;
        }
        if (st.st_mode & (S_ISUID | S_ISGID)) {
                fprintf(stderr,
                        "error: \"stepdownd %s (gosu)\" appears to be installed with the '%s' bit "
                        "set, which is an exceptionally bad idea!\n\nSee "
                        "https://github.com/tianon/gosu/issues/11 for some discussion of why this "
                        "is a really dangerous thing to do.\n",
                        STEPDOWN_VERSION, st.st_mode & S_ISUID ? "setuid" : "setgid");
                return 1;
        }

        if (launch_resolve(&l, argv[1], err, sizeof(err)) < 0 ||
            launch_drop(&l, err, sizeof(err)) < 0) {
                fprintf(stderr, "error: failed switching to \"%s\": %s\n", argv[1], err);
                return 1;
        }
        launch_exec(&l, argv + 2);
}
