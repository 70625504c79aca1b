/* Launch cost: `stepdownd -u nobody -- true` against `gosu nobody true` and
 * `setpriv --reuid=nobody --regid=nogroup --clear-groups true`, run
 * interleaved (round-robin, order rotated every round) so machine noise
 * hits all three alike; prints median/mean per tool and the ratios.
 * Usage: bench-launch STEPDOWND [ROUNDS] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NTOOLS 3

static double now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static double run(char *const argv[])
{
        double t0 = now_us();
        pid_t pid = fork();
        if (pid < 0) {
                perror("fork");
                exit(1);
        }
        if (pid == 0) {
                execv(argv[0], argv);
                _exit(127);
        }
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        double t = now_us() - t0;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                fprintf(stderr, "bench-launch: %s failed (status %d)\n", argv[0], st);
                exit(1);
        }
        return t;
}

static int cmp(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static char *which(const char *name)
{
        static const char *dirs[] = {"/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"};
        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
                char *p;
                if (asprintf(&p, "%s/%s", dirs[i], name) < 0)
                        exit(1);
                if (access(p, X_OK) == 0)
                        return p;
                free(p);
        }
        fprintf(stderr, "bench-launch: %s not found\n", name);
        exit(1);
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fprintf(stderr, "usage: %s STEPDOWND [ROUNDS]\n", argv[0]);
                return 2;
        }
        if (geteuid() != 0) {
                fprintf(stderr, "bench-launch: needs root\n");
                return 77;
        }
        int rounds = argc > 2 ? atoi(argv[2]) : 400;
        char *t = which("true");
        char *sd[] = {argv[1], "-u", "nobody", "--", t, NULL};
        char *gosu[] = {which("gosu"), "nobody", t, NULL};
        char *setpriv[] = {
            which("setpriv"), "--reuid=nobody", "--regid=nogroup", "--clear-groups", t, NULL};
        char *const *cmds[NTOOLS] = {sd, gosu, setpriv};
        const char *names[NTOOLS] = {"stepdownd", "gosu", "setpriv"};
        double *samples[NTOOLS];
        for (int k = 0; k < NTOOLS; k++) {
                samples[k] = calloc((size_t)rounds, sizeof(double));
                if (!samples[k])
                        return 1;
        }

        /* warm-up: page cache, dynamic loader */
        for (int k = 0; k < NTOOLS; k++)
                for (int i = 0; i < 20; i++)
                        run(cmds[k]);
        for (int i = 0; i < rounds; i++)
                for (int j = 0; j < NTOOLS; j++) {
                        int k = (i + j) % NTOOLS;
                        samples[k][i] = run(cmds[k]);
                }

        double med[NTOOLS];
        printf("launch benchmark, %d interleaved rounds (wall time of fork+exec+wait)\n", rounds);
        printf("%-10s %10s %10s %10s\n", "tool", "median_us", "mean_us", "p90_us");
        for (int k = 0; k < NTOOLS; k++) {
                double sum = 0;
                for (int i = 0; i < rounds; i++)
                        sum += samples[k][i];
                qsort(samples[k], (size_t)rounds, sizeof(double), cmp);
                med[k] = samples[k][rounds / 2];
                printf("%-10s %10.1f %10.1f %10.1f\n", names[k], med[k], sum / rounds,
                       samples[k][rounds * 9 / 10]);
        }
        printf("ratio stepdownd/setpriv (median): %.3f  (target <= 1.10)\n", med[0] / med[2]);
        printf("ratio stepdownd/gosu    (median): %.3f  (target < 1.00)\n", med[0] / med[1]);
        for (int k = 0; k < NTOOLS; k++)
                free(samples[k]);
        return 0;
}
