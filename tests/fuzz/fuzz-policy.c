/* Fuzzes the policy parser: the input is a policy text.  Also runs the
 * --check printout and the environment overrides on whatever parsed, so
 * every field the parser fills is read back. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *members[] = {"app", "bob"};
static struct pw_entry pw[] = {
    {"root", 0, 0, "/root", 0},          {"app", 1000, 1000, "/home/app", 0},
    {"bob", 1001, 1001, "/home/bob", 0}, {"toor", 0, 0, "/root", 0},
    {"big", 4294967296LL, 1, "/", 0},
};
static struct gr_entry gr[] = {
    {"root", 0, NULL, 0, 0},
    {"app", 1000, NULL, 0, 0},
    {"staff", 2000, members, 2, 0},
    {"wheel", 0, NULL, 0, 0},
};
static const struct userdb db = {
    pw, sizeof(pw) / sizeof(pw[0]), true, gr, sizeof(gr) / sizeof(gr[0]), true, NULL, NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static FILE *null;
        struct policy p;
        char err[512];

        if (!null)
                null = fopen("/dev/null", "we");
        /* The parser must not read past size: no NUL terminator given. */
        int r = policy_parse(&p, "fuzz.conf", (const char *)data, size, &db, err, sizeof(err));
        if (r < 0) {
                /* every error names the file, or says it ran out of memory */
                if (r != -ENOMEM && strncmp(err, "fuzz.conf:", 10) != 0)
                        abort();
                policy_free(&p);
                return 0;
        }
        for (size_t i = 0; i < p.n_rules; i++) {
                const struct policy_rule *x = &p.rules[i];
                if (x->line == 0 || !x->pattern || !x->caller.text)
                        abort();
                if (x->op != SD_OP_BIND && !x->anchor)
                        abort();
        }
        if (null)
                policy_print(&p, null);
        policy_apply_overrides(&p, "bob", "/vol /x/y", &db, err, sizeof(err));
        policy_free(&p);
        return 0;
}
