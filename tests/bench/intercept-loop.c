/* The app side of bench-intercept (issue 20 item 6): run under
 * `stepdownd -c POLICY -- intercept-loop EXISTING NEWDIR PREFIX N`, it times
 * N mkdirat(2) calls of EXISTING (no rule matches it: the broker continues
 * them and the kernel says EEXIST) and N mkdirat(2) calls of fresh names
 * NEWDIR/PREFIX<i> (an allow rule matches: the broker serves them), and
 * prints one line:
 *   seccomp=MODE filters=N continued=US served=US
 * (microseconds per call, the mean over the N calls; MODE and N from
 * /proc/self/status, so the bench can tell that a filter was in force).
 * A served call that fails ends the line with served=none(ERRNO TEXT)
 * instead; a continued call that does not answer EEXIST exits 1. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void status_field(const char *field, char *out, size_t len)
{
        char line[256];
        FILE *f = fopen("/proc/self/status", "re");
        snprintf(out, len, "?");
        while (f && fgets(line, sizeof(line), f))
                if (strncmp(line, field, strlen(field)) == 0) {
                        snprintf(out, len, "%s", line + strlen(field));
                        out[strcspn(out, "\n")] = '\0';
                        char *p = out;
                        while (*p == ' ' || *p == '\t')
                                p++;
                        memmove(out, p, strlen(p) + 1);
                }
        if (f)
                fclose(f);
}

int main(int argc, char **argv)
{
        if (argc != 5) {
                fprintf(stderr, "usage: intercept-loop EXISTING NEWDIR PREFIX N\n");
                return 2;
        }
        long n = strtol(argv[4], NULL, 10);
        char mode[32], filters[32], path[4096];
        if (n < 1)
                return 2;
        status_field("Seccomp:", mode, sizeof(mode));
        status_field("Seccomp_filters:", filters, sizeof(filters));

        double t0 = now_us();
        for (long i = 0; i < n; i++)
                if (mkdirat(AT_FDCWD, argv[1], 0700) == 0 || errno != EEXIST) {
                        fprintf(stderr, "intercept-loop: mkdirat %s: %s (wanted EEXIST)\n", argv[1],
                                strerror(errno));
                        return 1;
                }
        double continued = (now_us() - t0) / (double)n;

        double served = 0;
        for (long i = 0; i < n; i++) {
                snprintf(path, sizeof(path), "%s/%s%ld", argv[2], argv[3], i);
                double a = now_us();
                int r = mkdirat(AT_FDCWD, path, 0700);
                served += now_us() - a;
                if (r < 0) {
                        printf("seccomp=%s filters=%s continued=%.3f served=none(%s)\n", mode,
                               filters, continued, strerror(errno));
                        return 0;
                }
        }
        printf("seccomp=%s filters=%s continued=%.3f served=%.3f\n", mode, filters, continued,
               served / (double)n);
        return 0;
}
