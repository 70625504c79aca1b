/* A hostile app for transparent mode (issue 20, adversarial tests): run as
 * the app under `stepdownd -c POLICY -- intercept-hostile CMD ARGS...` with
 * `intercept mkdir chown chmod`, each subcommand plays one attack on the
 * broker's notifier and prints one line of counts; test-intercept-hostile.sh
 * judges the outcome from the filesystem afterwards.
 *
 *   flip ALLOWED FORBIDDEN SECS   mkdir(buf) while two threads rewrite buf
 *                                 between ALLOWED and FORBIDDEN (same length)
 *   flipopen ALLOWED FORBIDDEN SECS  the same with open(buf, O_RDONLY), and
 *                                 what each fd reads: ALLOWED's content
 *                                 starts with "ALLOWED", anything else is
 *                                 counted as leaked
 *   dirfd ADIR FDIR NAME SECS     mkdirat(fd, NAME) while a thread dup2()s
 *                                 an fd of ADIR and one of FDIR onto fd
 *   fdswap PATH OTHER SECS        fchown/fchmod(fd of PATH) while a thread
 *                                 exchanges PATH and OTHER (RENAME_EXCHANGE)
 *   pathswap PATH OTHER SECS      chown/lchown/chmod(PATH) while a thread
 *                                 exchanges PATH and OTHER (a symlink)
 *   fdmoved PATH OTHER            the same, exchanged once before the calls
 *   hardlink VICTIM LINK          link VICTIM at LINK, then chown/chmod and
 *                                 fchown/fchmod it to the app / 0600
 *   fork PATH                     mkdir(PATH) from a forked child
 *   thread-exit DIR N             N threads mkdir(DIR/tI), each signalled
 *                                 mid-call and exiting in the handler; then
 *                                 mkdir(DIR/final-te) from the main thread
 *   dead DIR N                    N children mkdir(DIR/kI_J) in a loop,
 *                                 each SIGKILLed mid-call; then
 *                                 mkdir(DIR/final-dead)
 *   pidreuse ADIR BDIR SYNC       a child in ADIR makes mkdir("r") and is
 *                                 SIGKILLed while the broker holds the call
 *                                 (stepdownd-test-hooks notif-delay); once
 *                                 the test has set ns_last_pid (SYNC/go), a
 *                                 second child, in BDIR, takes its pid
 *   flood THREADS SECS SERVED CONT SYNC
 *                                 THREADS threads mkdir SERVED (a rule
 *                                 matches, exists: EEXIST from the engine)
 *                                 or CONT (no rule: continued); once 100
 *                                 calls were made, SYNC/flooding is
 *                                 created, and the flood stops when
 *                                 SYNC/done appears (or after SECS)
 *   abi32 PATH...                 mkdir(PATH) through int 0x80 (i386 39),
 *                                 then the i386 call whose number is
 *                                 x86_64's mkdir (83: symlink(PATH, PATH~)),
 *                                 then x32's mkdir (83 | 0x40000000)
 *   userns-fd PATH                in a user + mount namespace of its own, a
 *                                 tmpfs over PATH's directory and a file of
 *                                 its own at PATH: fchmod(fd, 0600) and
 *                                 fchown(fd, uid, gid) (the outer ids); the
 *                                 fd's path names PATH, its object is not
 *                                 the one the broker finds there
 *   badptr                        mkdir() of a path the broker cannot read:
 *                                 a wild pointer, a PROT_NONE page, a string
 *                                 running into one (not NUL-terminated)
 *   stack-errno PATH              own filter: mkdir/mkdirat -> EPERM; mkdir
 *   stack-allow PATH              own filter: everything ALLOW; mkdir
 *   stack-notify PATH             own listener on mkdir/mkdirat (the kernel
 *                                 refuses a second listener in a filter
 *                                 tree: EBUSY, said), answered CONTINUE by
 *                                 a thread of ours where it is not; mkdir
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static atomic_int stop;

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
        fprintf(stderr, "intercept-hostile: %s: %s\n", what, strerror(errno));
        exit(1);
}

/* Counts of results by errno (0: success). */
struct tally {
        long calls, ok, eexist, eacces, eperm, enoent, other;
        int other_errno;
};

static void count(struct tally *t, int r, int err)
{
        t->calls++;
        if (r == 0)
                t->ok++;
        else if (err == EEXIST)
                t->eexist++;
        else if (err == EACCES)
                t->eacces++;
        else if (err == EPERM)
                t->eperm++;
        else if (err == ENOENT)
                t->enoent++;
        else {
                t->other++;
                t->other_errno = err;
        }
}

static void print_tally(const char *what, const struct tally *t)
{
        printf("%s: calls=%ld ok=%ld eexist=%ld eacces=%ld eperm=%ld enoent=%ld other=%ld", what,
               t->calls, t->ok, t->eexist, t->eacces, t->eperm, t->enoent, t->other);
        if (t->other)
                printf(" (%s)", strerror(t->other_errno));
        printf("\n");
}

/* ---- flip: the path buffer rewritten while the call is pending ---- */

static char flipbuf[4096];
static const char *flip_a, *flip_b;

static void *flipper(void *arg)
{
        size_t len = strlen(flip_a);
        (void)arg;
        while (!atomic_load(&stop)) {
                memcpy(flipbuf, flip_b, len);
                sched_yield();
                memcpy(flipbuf, flip_a, len);
                sched_yield();
        }
        return NULL;
}

static int cmd_flip(char **a)
{
        flip_a = a[0];
        flip_b = a[1];
        if (strlen(flip_a) != strlen(flip_b) || strlen(flip_a) >= sizeof(flipbuf)) {
                fprintf(stderr, "flip: the two paths must have the same length\n");
                return 2;
        }
        strcpy(flipbuf, flip_a);
        double end = now_s() + atof(a[2]);
        pthread_t th[2];
        for (int i = 0; i < 2; i++)
                pthread_create(&th[i], NULL, flipper, NULL);
        struct tally t = {0};
        while (now_s() < end) {
                int r = mkdir(flipbuf, 0700);
                count(&t, r, errno);
        }
        atomic_store(&stop, 1);
        for (int i = 0; i < 2; i++)
                pthread_join(th[i], NULL);
        print_tally("flip", &t);
        return 0;
}

static int cmd_flipopen(char **a)
{
        flip_a = a[0];
        flip_b = a[1];
        if (strlen(flip_a) != strlen(flip_b) || strlen(flip_a) >= sizeof(flipbuf))
                return 2;
        strcpy(flipbuf, flip_a);
        double end = now_s() + atof(a[2]);
        pthread_t th;
        pthread_create(&th, NULL, flipper, NULL);
        struct tally t = {0};
        long allowed = 0, leaked = 0;
        while (now_s() < end) {
                int fd = open(flipbuf, O_RDONLY | O_CLOEXEC);
                count(&t, fd < 0 ? -1 : 0, errno);
                if (fd < 0)
                        continue;
                char buf[16] = "";
                ssize_t n = read(fd, buf, sizeof(buf) - 1);
                if (n >= 7 && memcmp(buf, "ALLOWED", 7) == 0)
                        allowed++;
                else
                        leaked++;
                close(fd);
        }
        atomic_store(&stop, 1);
        pthread_join(th, NULL);
        print_tally("flipopen", &t);
        printf("flipopen: read-allowed=%ld read-other=%ld\n", allowed, leaked);
        return 0;
}

/* ---- dirfd: the *at directory fd swapped under the call ---- */

enum { SWAP_FD = 100 };
static int dir_a, dir_b;

static void *dup2er(void *arg)
{
        (void)arg;
        while (!atomic_load(&stop)) {
                dup2(dir_b, SWAP_FD);
                sched_yield();
                dup2(dir_a, SWAP_FD);
        }
        return NULL;
}

static int cmd_dirfd(char **a)
{
        dir_a = open(a[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        dir_b = open(a[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_a < 0 || dir_b < 0 || dup2(dir_a, SWAP_FD) < 0)
                die("open");
        double end = now_s() + atof(a[3]);
        pthread_t th;
        pthread_create(&th, NULL, dup2er, NULL);
        struct tally t = {0};
        while (now_s() < end) {
                int r = mkdirat(SWAP_FD, a[2], 0700);
                count(&t, r, errno);
        }
        atomic_store(&stop, 1);
        pthread_join(th, NULL);
        print_tally("dirfd", &t);
        return 0;
}

/* ---- fdswap / fdmoved: fchown/fchmod of an fd whose name moved ---- */

static const char *swap_x, *swap_y;

static void *exchanger(void *arg)
{
        (void)arg;
        while (!atomic_load(&stop))
                syscall(SYS_renameat2, AT_FDCWD, swap_x, AT_FDCWD, swap_y, RENAME_EXCHANGE);
        return NULL;
}

static int fd_calls(int fd, double secs, const char *what)
{
        struct tally c = {0}, m = {0};
        double end = now_s() + secs;
        do {
                int r = fchown(fd, getuid(), getgid());
                count(&c, r, errno);
                r = fchmod(fd, 0600);
                count(&m, r, errno);
        } while (now_s() < end);
        char name[64];
        snprintf(name, sizeof(name), "%s fchown", what);
        print_tally(name, &c);
        snprintf(name, sizeof(name), "%s fchmod", what);
        print_tally(name, &m);
        return 0;
}

static int cmd_fdswap(char **a)
{
        swap_x = a[0];
        swap_y = a[1];
        int fd = open(swap_x, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                die(swap_x);
        pthread_t th;
        pthread_create(&th, NULL, exchanger, NULL);
        fd_calls(fd, atof(a[2]), "fdswap");
        atomic_store(&stop, 1);
        pthread_join(th, NULL);
        return 0;
}

static int cmd_pathswap(char **a)
{
        swap_x = a[0];
        swap_y = a[1];
        pthread_t th;
        pthread_create(&th, NULL, exchanger, NULL);
        struct tally c = {0}, l = {0}, m = {0};
        double end = now_s() + atof(a[2]);
        do {
                int r = chown(swap_x, getuid(), getgid());
                count(&c, r, errno);
                r = lchown(swap_x, getuid(), getgid());
                count(&l, r, errno);
                r = chmod(swap_x, 0600);
                count(&m, r, errno);
        } while (now_s() < end);
        atomic_store(&stop, 1);
        pthread_join(th, NULL);
        print_tally("pathswap chown", &c);
        print_tally("pathswap lchown", &l);
        print_tally("pathswap chmod", &m);
        return 0;
}

static int cmd_fdmoved(char **a)
{
        int fd = open(a[0], O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                die(a[0]);
        if (syscall(SYS_renameat2, AT_FDCWD, a[0], AT_FDCWD, a[1], RENAME_EXCHANGE) < 0)
                die("RENAME_EXCHANGE");
        return fd_calls(fd, 0, "fdmoved");
}

static int cmd_hardlink(char **a)
{
        if (link(a[0], a[1]) < 0)
                die("link");
        int fd = open(a[1], O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                die(a[1]);
        struct tally t = {0};
        int r = chown(a[1], getuid(), getgid());
        count(&t, r, errno);
        r = chmod(a[1], 0600);
        count(&t, r, errno);
        r = fchown(fd, getuid(), getgid());
        count(&t, r, errno);
        r = fchmod(fd, 0600);
        count(&t, r, errno);
        r = fchownat(AT_FDCWD, a[1], getuid(), getgid(), AT_SYMLINK_NOFOLLOW);
        count(&t, r, errno);
        print_tally("hardlink", &t);
        return 0;
}

/* ---- fork, thread-exit, dead ---- */

static int cmd_fork(char **a)
{
        pid_t kid = fork();
        if (kid == 0) {
                int r = mkdir(a[0], 0700);
                printf("fork child: mkdir %s\n", r == 0 ? "ok" : strerror(errno));
                fflush(stdout);
                _exit(r == 0 ? 0 : 1);
        }
        int st;
        waitpid(kid, &st, 0);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

static void exit_thread(int sig)
{
        (void)sig;
        syscall(SYS_exit, 0); /* this thread only; its call is abandoned */
}

static atomic_int t_ok, t_err;

static void *mkdir_thread(void *arg)
{
        if (mkdir((const char *)arg, 0700) == 0)
                atomic_fetch_add(&t_ok, 1);
        else
                atomic_fetch_add(&t_err, 1);
        return NULL;
}

static int cmd_thread_exit(char **a)
{
        int n = atoi(a[1]);
        char(*paths)[512] = calloc((size_t)n, 512);
        struct sigaction sa = {.sa_handler = exit_thread};
        sigaction(SIGUSR1, &sa, NULL);
        srand((unsigned)getpid());
        for (int i = 0; i < n; i++) {
                pthread_t th;
                snprintf(paths[i], 512, "%s/t%d", a[0], i);
                if (pthread_create(&th, NULL, mkdir_thread, paths[i]) != 0)
                        die("pthread_create");
                struct timespec d = {0, (rand() % 60) * 1000};
                nanosleep(&d, NULL);
                pthread_kill(th, SIGUSR1);
                pthread_join(th, NULL);
        }
        char final[512];
        snprintf(final, sizeof(final), "%s/final-te", a[0]);
        int r = mkdir(final, 0700);
        printf("thread-exit: threads=%d completed-ok=%d completed-err=%d final=%s\n", n,
               atomic_load(&t_ok), atomic_load(&t_err), r == 0 ? "ok" : strerror(errno));
        free(paths);
        return 0;
}

static int cmd_dead(char **a)
{
        int n = atoi(a[1]), killed = 0;
        srand((unsigned)getpid());
        for (int i = 0; i < n; i++) {
                pid_t kid = fork();
                if (kid == 0) {
                        char p[512];
                        for (int j = 0;; j++) {
                                snprintf(p, sizeof(p), "%s/k%d_%d", a[0], i, j);
                                mkdir(p, 0700);
                        }
                }
                struct timespec d = {0, (200 + rand() % 2000) * 1000};
                nanosleep(&d, NULL);
                kill(kid, SIGKILL);
                int st;
                waitpid(kid, &st, 0);
                killed += WIFSIGNALED(st);
        }
        char final[512];
        snprintf(final, sizeof(final), "%s/final-dead", a[0]);
        int r = mkdir(final, 0700);
        printf("dead: children=%d killed=%d final=%s\n", n, killed,
               r == 0 ? "ok" : strerror(errno));
        return 0;
}

/* An fd of DIR/NAME for writing, opened before the calls that must not
 * queue behind the held one (open is intercepted; write is not). */
static int sync_fd(const char *dir, const char *name)
{
        char p[4096];
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                die(p);
        return fd;
}

static void put(int fd, long v)
{
        char text[32];
        snprintf(text, sizeof(text), "%ld\n", v);
        if (write(fd, text, strlen(text)) < 0)
                die("write");
        close(fd);
}

static int cmd_pidreuse(char **a)
{
        char go[4096];
        int pid_fd = sync_fd(a[2], "pid"), killed_fd = sync_fd(a[2], "killed"), ready[2];
        snprintf(go, sizeof(go), "%s/go", a[2]);
        if (pipe(ready) < 0)
                die("pipe");
        /* From here on the parent makes no intercepted call: the broker
         * serves one call at a time, and ours would wait behind the held
         * one (which would then be served before we kill its caller). */
        pid_t first = fork();
        if (first == 0) {
                if (chdir(a[0]) < 0 || write(ready[1], "r", 1) != 1)
                        _exit(1);
                mkdir("r", 0700);
                _exit(0);
        }
        char c;
        if (read(ready[0], &c, 1) != 1)
                die("read");
        struct timespec d = {0, 300 * 1000 * 1000}; /* the broker holds the call */
        nanosleep(&d, NULL);
        kill(first, SIGKILL);
        waitpid(first, NULL, 0);
        put(pid_fd, first);
        put(killed_fd, 1);
        for (int i = 0; i < 100 && access(go, F_OK) < 0; i++)
                usleep(20000);
        pid_t second = fork();
        if (second == 0) {
                if (chdir(a[1]) < 0)
                        _exit(1);
                sleep(3); /* holds the pid past the broker's wait */
                _exit(0);
        }
        waitpid(second, NULL, 0);
        printf("pidreuse: first=%d second=%d %s\n", (int)first, (int)second,
               first == second ? "reused" : "not-reused");
        return 0;
}

/* ---- flood ---- */

static const char *flood_path[2];
static atomic_long flood_calls;

static void *flooder(void *arg)
{
        const char *p = flood_path[(long)arg & 1];
        while (!atomic_load(&stop)) {
                mkdir(p, 0700);
                atomic_fetch_add(&flood_calls, 1);
        }
        return NULL;
}

static int cmd_flood(char **a)
{
        int n = atoi(a[0]);
        pthread_t *th = calloc((size_t)n, sizeof(*th));
        flood_path[0] = a[2];
        flood_path[1] = a[3];
        char flooding[PATH_MAX], done[PATH_MAX];
        snprintf(flooding, sizeof(flooding), "%s/flooding", a[4]);
        snprintf(done, sizeof(done), "%s/done", a[4]);
        for (long i = 0; i < n; i++)
                pthread_create(&th[i], NULL, flooder, (void *)i);
        double t0 = now_s(), end = t0 + atof(a[1]);
        const struct timespec tick = {0, 10 * 1000 * 1000};
        /* "flooding" once the calls are coming; then until "done" (the
         * test's socket client was served) or the time is up */
        while (atomic_load(&flood_calls) < 100 && now_s() < end)
                nanosleep(&tick, NULL);
        int fd = open(flooding, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
                perror(flooding);
                end = 0;
        } else
                close(fd);
        bool told = false;
        while (!(told = access(done, F_OK) == 0) && now_s() < end)
                nanosleep(&tick, NULL);
        atomic_store(&stop, 1);
        for (int i = 0; i < n; i++)
                pthread_join(th[i], NULL);
        printf("flood: threads=%d calls=%ld in %.1f s, %s\n", n, atomic_load(&flood_calls),
               now_s() - t0, told ? "until the client was served" : "out of time");
        free(th);
        return 0;
}

/* ---- foreign ABIs (x86_64 only) ---- */

#if defined(__x86_64__)
static long int80(long nr, long b, long c)
{
        long ret;
        __asm__ volatile("int $0x80"
                         : "=a"(ret)
                         : "a"(nr), "b"(b), "c"(c)
                         : "r8", "r9", "r10", "r11", "memory");
        return ret;
}

/* Each call in a child of its own: where the kernel has no i386 entry
 * (int 0x80 is a general protection fault, as in some VMs) the child dies of
 * SIGSEGV and we say "unavailable". */
static void call(const char *what, const char *path, int kind, char *p, char *q)
{
        pid_t kid = fork();
        if (kid == 0) {
                long r = kind == 0   ? int80(39, (long)p, 0700)
                         : kind == 1 ? int80(83, (long)p, (long)q)
                                     : (syscall(83 | 0x40000000, p, 0700) < 0 ? -errno : 0);
                printf("%s %s: %s\n", what, path, r >= 0 ? "ok" : strerror((int)-r));
                fflush(stdout);
                _exit(0);
        }
        int st;
        waitpid(kid, &st, 0);
        if (WIFSIGNALED(st))
                printf("%s %s: unavailable (%s)\n", what, path, strsignal(WTERMSIG(st)));
}

static int cmd_abi32(int argc, char **a)
{
        /* i386 pointers are 32 bits: the strings live below 4 GiB. */
        char *low = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
        if (low == MAP_FAILED)
                die("mmap MAP_32BIT");
        for (int i = 0; i < argc; i++) {
                char *p = low, *q = low + 8192;
                snprintf(p, 8192, "%s", a[i]);
                snprintf(q, 8192, "%s~", a[i]);
                call("i386-mkdir", a[i], 0, p, q);
                call("i386-83", a[i], 1, p, q);
                call("x32-mkdir", a[i], 2, p, q);
        }
        return 0;
}
#endif

/* ---- an fd whose path names an allowed object it is not ---- */

static void write_proc(const char *path, const char *text)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
                die(path);
        close(fd);
}

static int cmd_userns_fd(char **a)
{
        char map[64], dir[4096];
        uid_t uid = getuid();
        gid_t gid = getgid();
        snprintf(dir, sizeof(dir), "%s", a[0]);
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir)
                return 2;
        *slash = '\0';
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
                printf("userns-fd: unshare: %s\n", strerror(errno));
                return 0;
        }
        write_proc("/proc/self/setgroups", "deny");
        snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
        write_proc("/proc/self/uid_map", map);
        snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
        write_proc("/proc/self/gid_map", map);
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("tmpfs", dir, "tmpfs", 0, "mode=0755") < 0)
                die("mount tmpfs");
        int fd = open(a[0], O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
                die(a[0]);
        struct tally t = {0};
        int r = fchmod(fd, 0600);
        count(&t, r, errno);
        r = fchown(fd, uid, gid);
        count(&t, r, errno);
        print_tally("userns-fd", &t);
        return 0;
}

/* ---- paths the broker cannot read ---- */

static int cmd_badptr(char **a)
{
        long pg = sysconf(_SC_PAGESIZE);
        char *m =
            mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        (void)a;
        if (m == MAP_FAILED || mprotect(m + pg, (size_t)pg, PROT_NONE) < 0)
                die("mmap");
        char *run = m + pg - 5; /* "/tmp/" and then the PROT_NONE page */
        memcpy(run, "/tmp/", 5);
        const struct {
                const char *what;
                const char *p;
        } c[] = {{"wild", (const char *)8}, {"prot-none", m + pg}, {"unterminated", run}};
        for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
                int r = mkdir(c[i].p, 0700);
                printf("badptr %s: %s\n", c[i].what, r == 0 ? "ok" : strerror(errno));
        }
        return 0;
}

/* ---- a filter of the app's own, stacked on the broker's ---- */

/* -errno when the kernel refuses the filter. */
static int own_filter(unsigned ret_match, unsigned flags)
{
        struct sock_filter f[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#ifdef __NR_mkdir
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mkdir, 1, 0),
#else
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mkdirat, 1, 0),
#endif
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mkdirat, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, ret_match),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        int fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
        return fd < 0 ? -errno : fd;
}

static int own_listener;

static void *own_supervisor(void *arg)
{
        struct seccomp_notif_sizes sz;
        (void)arg;
        syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz);
        struct seccomp_notif *req = calloc(1, sz.seccomp_notif);
        struct seccomp_notif_resp *resp = calloc(1, sz.seccomp_notif_resp);
        for (;;) {
                memset(req, 0, sz.seccomp_notif);
                if (ioctl(own_listener, SECCOMP_IOCTL_NOTIF_RECV, req) < 0)
                        break;
                memset(resp, 0, sz.seccomp_notif_resp);
                resp->id = req->id;
                resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
                ioctl(own_listener, SECCOMP_IOCTL_NOTIF_SEND, resp);
        }
        return NULL;
}

static int cmd_stack(const char *kind, char **a)
{
        int r = 0;
        if (strcmp(kind, "stack-errno") == 0)
                r = own_filter(SECCOMP_RET_ERRNO | EPERM, 0);
        else if (strcmp(kind, "stack-allow") == 0)
                r = own_filter(SECCOMP_RET_ALLOW, 0);
        else if ((own_listener =
                      own_filter(SECCOMP_RET_USER_NOTIF, SECCOMP_FILTER_FLAG_NEW_LISTENER)) < 0)
                printf("%s: listener refused: %s\n", kind, strerror(-own_listener));
        else {
                pthread_t th;
                pthread_create(&th, NULL, own_supervisor, NULL);
        }
        if (r < 0) {
                errno = -r;
                die("seccomp");
        }
        r = mkdir(a[0], 0700);
        printf("%s: mkdir %s\n", kind, r == 0 ? "ok" : strerror(errno));
        fflush(stdout);
        _exit(0); /* a supervisor thread stays blocked in RECV */
}

int main(int argc, char **argv)
{
        static const struct {
                const char *name;
                int args;
                int (*fn)(char **);
        } cmds[] = {
            {"flip", 3, cmd_flip},
            {"flipopen", 3, cmd_flipopen},
            {"dirfd", 4, cmd_dirfd},
            {"fdswap", 3, cmd_fdswap},
            {"fdmoved", 2, cmd_fdmoved},
            {"pathswap", 3, cmd_pathswap},
            {"hardlink", 2, cmd_hardlink},
            {"fork", 1, cmd_fork},
            {"thread-exit", 2, cmd_thread_exit},
            {"dead", 2, cmd_dead},
            {"flood", 5, cmd_flood},
            {"pidreuse", 3, cmd_pidreuse},
            {"badptr", 0, cmd_badptr},
            {"userns-fd", 1, cmd_userns_fd},
        };
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc < 2) {
                fprintf(stderr, "usage: intercept-hostile CMD ARGS... (see the source)\n");
                return 2;
        }
        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
                if (strcmp(argv[1], cmds[i].name) == 0) {
                        if (argc != cmds[i].args + 2) {
                                fprintf(stderr, "%s: takes %d arguments\n", argv[1], cmds[i].args);
                                return 2;
                        }
                        return cmds[i].fn(argv + 2);
                }
        if (strncmp(argv[1], "stack-", 6) == 0 && argc == 3)
                return cmd_stack(argv[1], argv + 2);
        if (strcmp(argv[1], "abi32") == 0) {
#if defined(__x86_64__)
                return cmd_abi32(argc - 2, argv + 2);
#else
                printf("abi32: not x86_64\n");
                return 77;
#endif
        }
        fprintf(stderr, "intercept-hostile: unknown command %s\n", argv[1]);
        return 2;
}
