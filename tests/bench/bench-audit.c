/* Cost of one audit record: records per second written with the hash
 * chain only, with Ed25519 signing, and with fsync after every record.
 * Usage: bench-audit [DIR] (default: a temporary directory under
 * $TMPDIR or /var/tmp, so fsync reaches a real disk when there is one). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"

static double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Logs records for about `seconds` (at most max); prints and returns records/s. */
static double run(const char *name, const char *path, const char *key, bool sync, double seconds,
                  long max)
{
        struct audit_config cfg = {.path = path, .sign_key_file = key, .sync_always = sync};
        struct audit *a = NULL;
        char err[256];
        unlink(path);
        if (audit_open(&a, &cfg, NULL, err, sizeof(err)) < 0) {
                fprintf(stderr, "bench-audit: %s\n", err);
                exit(1);
        }
        struct audit_caller caller = {1000, 1000, 4242, "/usr/bin/app", 98765};
        struct audit_event ev = {
            .event = "request",
            .request_id = 1,
            .caller = &caller,
            .op = "mkdir",
            .path = "/data/tenant42/cache",
            .uid = 1000,
            .gid = 1000,
            .mode = 0750,
            .decision = "allow",
            .rule = "/etc/stepdown/stepdown.conf:12",
            .changed = -1,
            .duration_us = 40,
        };
        long n = 0;
        double start = now(), t;
        do {
                for (int i = 0; i < 16 && n < max; i++, n++) {
                        ev.request_id = (uint64_t)n + 1;
                        int r = audit_log(a, &ev);
                        if (r < 0) {
                                fprintf(stderr, "bench-audit: audit_log: %s\n", strerror(-r));
                                exit(1);
                        }
                }
                t = now() - start;
        } while (t < seconds && n < max);
        audit_close(a);
        double rate = (double)n / t;
        printf("%-24s %10.0f records/s  (%6.2f us/record, %ld records)\n", name, rate, 1e6 / rate,
               n);
        return rate;
}

int main(int argc, char **argv)
{
        char dir[256];
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof(dir), "%s/bench-audit.XXXXXX", tmp && *tmp ? tmp : "/var/tmp");
        if (argc > 1)
                snprintf(dir, sizeof(dir), "%s/bench-audit.XXXXXX", argv[1]);
        if (!mkdtemp(dir)) {
                perror(dir);
                return 1;
        }
        char path[300], sk[300], pk[300], err[256];
        snprintf(path, sizeof(path), "%s/audit.jsonl", dir);
        snprintf(sk, sizeof(sk), "%s/audit.key", dir);
        snprintf(pk, sizeof(pk), "%s/audit.pub", dir);
        if (audit_keygen(sk, pk, err, sizeof(err)) < 0) {
                fprintf(stderr, "bench-audit: %s\n", err);
                return 1;
        }
        printf("audit records in %s\n", dir);
        run("chain", path, NULL, false, 0.5, 2000000);
        run("chain + sign", path, sk, false, 0.5, 2000000);
        run("chain + fsync", path, NULL, true, 0.5, 20000);
        run("chain + sign + fsync", path, sk, true, 0.5, 20000);
        unlink(path);
        unlink(sk);
        unlink(pk);
        rmdir(dir);
        return 0;
}
