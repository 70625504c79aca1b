/* stepdown audit verify [--pubkey FILE] FILE...
 * stepdown audit keygen SECRET-FILE PUBLIC-FILE
 * Thin option parsing around audit_verify() and audit_keygen(). */
#include "cmd-audit.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"

static const char usage_text[] = "Usage: stepdown audit verify [--pubkey FILE] FILE...\n"
                                 "       stepdown audit keygen SECRET-FILE PUBLIC-FILE\n"
                                 "\n"
                                 "verify checks the hash chain of audit logs given oldest first\n"
                                 "(rotated files, then the current one); with --pubkey every\n"
                                 "record must carry a valid Ed25519 signature by that key.\n"
                                 "Exit status: 0 intact, 1 broken, 2 usage error or unreadable\n"
                                 "input.  keygen writes a key pair for 'audit-sign'.\n";

static int usage(FILE *f, int status)
{
        fputs(usage_text, f);
        return status;
}

static int verify(int argc, char **argv)
{
        static const struct option longopts[] = {
            {"pubkey", required_argument, NULL, 'k'},
            {"help", no_argument, NULL, 'h'},
            {0},
        };
        const char *pubkey = NULL;
        int c;
        optind = 0; /* full getopt reset: callers may have parsed before */
        while ((c = getopt_long(argc, argv, "+k:h", longopts, NULL)) != -1) {
                if (c == 'k')
                        pubkey = optarg;
                else if (c == 'h')
                        return usage(stdout, 0);
                else
                        return usage(stderr, 2);
        }
        if (optind >= argc) {
                fprintf(stderr, "stepdown audit verify: no FILE given\n");
                return usage(stderr, 2);
        }
        int r = audit_verify(argv + optind, (size_t)(argc - optind), pubkey, stdout);
        fflush(stdout);
        return r == 0 ? 0 : r == 1 ? 1 : 2;
}

static int keygen(int argc, char **argv)
{
        if (argc != 3)
                return usage(stderr, 2);
        char err[512];
        int r = audit_keygen(argv[1], argv[2], err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "stepdown audit keygen: %s\n", err);
                return 1;
        }
        printf("secret key: %s (mode 0400; name it in 'audit-sign')\n"
               "public key: %s (give it to 'stepdown audit verify --pubkey')\n",
               argv[1], argv[2]);
        return 0;
}

int cmd_audit(int argc, char **argv)
{
        if (argc < 2)
                return usage(stderr, 2);
        if (strcmp(argv[1], "verify") == 0)
                return verify(argc - 1, argv + 1);
        if (strcmp(argv[1], "keygen") == 0)
                return keygen(argc - 1, argv + 1);
        if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
                return usage(stdout, 0);
        fprintf(stderr, "stepdown audit: unknown subcommand: %s\n", argv[1]);
        return usage(stderr, 2);
}
