/* Racers for issue 11, items 1 and 4 (see racers.h for the set-up).
 *
 * bind: the application asks for `bind unix:DIR/s.sock` over and over
 * while a child of its own exchanges that name with a root-owned file in
 * the same directory (renameat2 RENAME_EXCHANGE, as fast as it can).  A
 * broker that gives the socket to the caller by name after bind() chowns
 * the root file instead.  Between tries the exchanger is stopped and the
 * names are put back, so every try starts alike; a root file that became
 * the caller's is a win, set aside, and the next victim is used.
 *
 * restart: root restarts `stepdownd --serve` with its socket directory
 * below a directory the application owns, while the application exchanges
 * the socket directory with a symlink to a root-only canary directory
 * holding a stale socket of root's named like the broker's and no key
 * file (issue 17, item 12: a canary of ordinary files named like them made
 * a misdirected broker refuse, so nothing changed).  A broker that works
 * in the directory by path after checking it follows the symlink, deletes
 * the stale socket and creates its own and a key.  After each restart the
 * canary is checked (and put back if changed: a win).
 *
 * The root side keeps an fd of every victim, so a victim is judged by its
 * inode, wherever the racer left its name. */
#include "racers.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "util.h"

#define BIND_VICTIMS 64
#define VICTIM_TEXT  "victim\n"

/* What each racer must at least have done in a 12 s campaign on a loaded
 * 2-core machine (measured there: some 3500 bind tries and 130 restarts). */
#define MIN_BIND_TRIES     200
#define MIN_BIND_SERVED    100
#define MIN_BIND_SWAPS     1000
#define MIN_RESTARTS       10
#define MIN_RESTARTS_READY 5
#define MIN_RESTART_SWAPS  100

static double mono(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void drop(uid_t uid, gid_t gid)
{
        if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
            setresuid(uid, uid, uid) < 0) {
                perror("racers: dropping privileges");
                _exit(2);
        }
}

struct racer_counts *racers_counts_new(void)
{
        void *p = mmap(NULL, sizeof(struct racer_counts), PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? NULL : p;
}

/* A root-owned 0600 file holding VICTIM_TEXT, unchanged? */
static bool victim_intact(int fd)
{
        struct stat st;
        char buf[64];
        ssize_t n = pread(fd, buf, sizeof(buf), 0);
        return fstat(fd, &st) == 0 && st.st_uid == 0 && st.st_gid == 0 &&
               (st.st_mode & 07777) == 0600 && st.st_nlink >= 1 && n == strlen(VICTIM_TEXT) &&
               memcmp(buf, VICTIM_TEXT, (size_t)n) == 0;
}

static int victim_create(int dfd, const char *name)
{
        int fd = openat(dfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, VICTIM_TEXT, strlen(VICTIM_TEXT)) < 0 || fchown(fd, 0, 0) < 0 ||
            fchmod(fd, 0600) < 0) {
                perror("racers: creating a victim");
                _exit(2);
        }
        return fd;
}

/* --- bind unix ------------------------------------------------------------ */

static _Noreturn void bind_exchanger(int dfd, struct racer_counts *rc, volatile unsigned *idx,
                                     double until)
{
        char v[32];
        while (mono() < until && *idx < BIND_VICTIMS) {
                snprintf(v, sizeof(v), "victim%u", *idx);
                unsigned long n = 0;
                for (int i = 0; i < 256; i++)
                        n += renameat2(dfd, "s.sock", dfd, v, RENAME_EXCHANGE) == 0;
                rc->bind_swaps += n;
        }
        _exit(0);
}

static int recv_reply(int fd, struct proto_msg *m)
{
        uint8_t buf[PROTO_MAX_MSG];
        union {
                char b[CMSG_SPACE(sizeof(int))];
                struct cmsghdr a;
        } u;
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof(u.b)};
        ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        if (n <= 0)
                return -1;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                        int got;
                        memcpy(&got, CMSG_DATA(c), sizeof(int));
                        close(got);
                }
        return proto_decode(buf, (size_t)n, m) < 0 ? -1 : m->type;
}

/* The application: asks, stops the exchanger, judges, tidies, goes on. */
static _Noreturn void bind_binder(const char *dir, int dfd, struct racer_counts *rc,
                                  volatile unsigned *idx, uid_t uid, double until,
                                  int (*dial_auth)(void))
{
        char path[512], v[32];
        uint8_t buf[PROTO_MAX_MSG];
        struct proto_msg m;
        int fd = -1;

        snprintf(path, sizeof(path), "%s/s.sock", dir);
        pid_t ex = fork();
        if (ex == 0)
                bind_exchanger(dfd, rc, idx, until);
        while (mono() < until && *idx < BIND_VICTIMS && ex > 0) {
                if (fd < 0 && (fd = dial_auth()) < 0) {
                        usleep(10000);
                        continue;
                }
                ssize_t n = proto_encode_bind(buf, sizeof(buf), 5, PROTO_BIND_UNIX, path, 0);
                int t = -1;
                if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n || (t = recv_reply(fd, &m)) < 0)
                        fd = safe_close(fd);
                if (t == PROTO_OK)
                        rc->bind_served++;
                kill(ex, SIGSTOP);
                waitpid(ex, NULL, WUNTRACED);
                rc->bind_tries++;
                snprintf(v, sizeof(v), "victim%u", *idx);
                struct stat a, b;
                bool has_a = fstatat(dfd, "s.sock", &a, AT_SYMLINK_NOFOLLOW) == 0;
                bool has_b = fstatat(dfd, v, &b, AT_SYMLINK_NOFOLLOW) == 0;
                if ((has_a && S_ISREG(a.st_mode) && a.st_uid == uid) ||
                    (has_b && S_ISREG(b.st_mode) && b.st_uid == uid)) {
                        if (!rc->bind_wins++)
                                rc->bind_first_win = rc->bind_tries;
                        (*idx)++; /* that victim is spent: leave it wherever it is */
                        if (has_a && S_ISREG(a.st_mode)) {
                                char aside[48];
                                snprintf(aside, sizeof(aside), "won%lu", rc->bind_wins);
                                renameat(dfd, "s.sock", dfd, aside);
                        }
                } else {
                        if (has_a && S_ISSOCK(a.st_mode))
                                unlinkat(dfd, "s.sock", 0);
                        if (has_b && S_ISSOCK(b.st_mode))
                                unlinkat(dfd, v, 0), has_b = false;
                        if (!has_b && has_a && S_ISREG(a.st_mode))
                                renameat(dfd, "s.sock", dfd, v);
                }
                kill(ex, SIGCONT);
        }
        safe_close(fd);
        if (ex > 0) {
                kill(ex, SIGKILL);
                waitpid(ex, NULL, 0);
        }
        _exit(0);
}

static _Noreturn void bind_race(const char *dir, struct racer_counts *rc, double until, uid_t uid,
                                gid_t gid, int (*dial_auth)(void))
{
        int vfd[BIND_VICTIMS];
        char v[32];
        volatile unsigned *idx =
            mmap(NULL, sizeof(unsigned), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        int dfd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0 || idx == MAP_FAILED) {
                perror("racers: bind directory");
                _exit(2);
        }
        for (unsigned i = 0; i < BIND_VICTIMS; i++) {
                snprintf(v, sizeof(v), "victim%u", i);
                unlinkat(dfd, v, 0);
                vfd[i] = victim_create(dfd, v);
        }
        rc->bind_ran = true;
        pid_t pid = fork();
        if (pid == 0) {
                drop(uid, gid);
                bind_binder(dir, dfd, rc, idx, uid, until, dial_auth);
        }
        waitpid(pid, NULL, 0);
        /* The verdict by inode: every victim must still be root's, 0600,
         * with its text.  (The binder's count may miss a win it tidied.) */
        unsigned long lost = 0;
        for (unsigned i = 0; i < BIND_VICTIMS; i++)
                if (!victim_intact(vfd[i]))
                        lost++;
        if (lost > rc->bind_wins)
                rc->bind_wins = lost;
        _exit(0);
}

/* --- socket directory planting across restarts ---------------------------- */

static _Noreturn void restart_exchanger(const char *dir, const char *target,
                                        struct racer_counts *rc, double until)
{
        char parent[512];
        snprintf(parent, sizeof(parent), "%s", dir);
        char *slash = strrchr(parent, '/');
        const char *name = slash + 1;
        char link[300];
        *slash = '\0';
        snprintf(link, sizeof(link), "%s.l", name);
        int pfd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (pfd < 0)
                _exit(2);
        while (mono() < until) {
                unsigned long n = 0;
                for (int i = 0; i < 256; i++) {
                        if (renameat2(pfd, name, pfd, link, RENAME_EXCHANGE) == 0) {
                                n++;
                        } else if (errno == ENOENT) {
                                if (symlinkat(target, pfd, link) < 0 && errno != EEXIST)
                                        _exit(2);
                                break;
                        }
                }
                rc->restart_swaps += n;
        }
        _exit(0);
}

/* A stale socket of root's named like the broker's, where the canary
 * directory tfd holds it: a broker sent there deletes it at start.  Its
 * O_PATH fd, or exits. */
static int stale_socket(int tfd)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/sd.sock", tfd);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                perror("racers: the canary's stale socket");
                _exit(2);
        }
        close(fd);
        fd = openat(tfd, "sd.sock", O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                perror("racers: the canary's stale socket");
                _exit(2);
        }
        return fd;
}

/* The canary as a misdirected broker would change it: root's 0700
 * directory, its stale socket still the same inode under its name, no key
 * file beside it. */
static bool target_intact(int tfd, int sfd)
{
        struct stat st, a, b;
        return fstat(tfd, &st) == 0 && st.st_uid == 0 && st.st_gid == 0 &&
               (st.st_mode & 07777) == 0700 && fstat(sfd, &b) == 0 &&
               fstatat(tfd, "sd.sock", &a, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(a.st_mode) &&
               a.st_ino == b.st_ino && a.st_dev == b.st_dev && a.st_uid == 0 &&
               fstatat(tfd, "sd.key", &b, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT;
}

/* One start and stop of the broker: READY=1 (or its exit), then SIGTERM. */
static bool restart_once(const char *sd, const char *policy, int nfd, const char *nname)
{
        pid_t pid = fork();
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR);
                dup2(null, 0);
                dup2(null, 1);
                dup2(null, 2);
                setenv("NOTIFY_SOCKET", nname, 1);
                execl(sd, "stepdownd", "--serve", "-c", policy, (char *)NULL);
                _exit(127);
        }
        if (pid < 0)
                return false;
        bool ready = false;
        double give_up = mono() + 5;
        while (mono() < give_up) {
                struct pollfd p = {.fd = nfd, .events = POLLIN};
                if (poll(&p, 1, 5) > 0) {
                        char buf[64];
                        ssize_t n = recv(nfd, buf, sizeof(buf) - 1, 0);
                        if (n > 0) {
                                buf[n] = '\0';
                                if (strstr(buf, "READY=1")) {
                                        ready = true;
                                        break;
                                }
                        }
                }
                if (waitpid(pid, NULL, WNOHANG) == pid)
                        return false;
        }
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        return ready;
}

static _Noreturn void restart_race(const char *sd, const char *policy, const char *dir,
                                   const char *target, struct racer_counts *rc, double until,
                                   uid_t uid, gid_t gid)
{
        int tfd = open(target, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (tfd < 0) {
                perror("racers: restart target");
                _exit(2);
        }
        struct stat sst;
        int sfd = openat(tfd, "sd.sock", O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (sfd < 0 || fstat(sfd, &sst) < 0 || !S_ISSOCK(sst.st_mode)) {
                if (sfd >= 0)
                        close(sfd);
                unlinkat(tfd, "sd.sock", 0);
                sfd = stale_socket(tfd);
        }
        char nname[64];
        snprintf(nname, sizeof(nname), "@stepdown-campaign-%d", (int)getpid());
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        memcpy(sa.sun_path + 1, nname + 1, strlen(nname) - 1);
        int nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (nfd < 0 ||
            bind(nfd, (struct sockaddr *)&sa,
                 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(nname))) < 0) {
                perror("racers: notify socket");
                _exit(2);
        }
        rc->restart_ran = true;
        pid_t ex = fork();
        if (ex == 0) {
                drop(uid, gid);
                restart_exchanger(dir, target, rc, until);
        }
        while (mono() < until) {
                if (restart_once(sd, policy, nfd, nname))
                        rc->restarts_ready++;
                rc->restarts++;
                if (target_intact(tfd, sfd))
                        continue;
                if (!rc->restart_wins++)
                        rc->restart_first_win = rc->restarts;
                /* Put the canaries back for the next try. */
                if (fchown(tfd, 0, 0) < 0 || fchmod(tfd, 0700) < 0)
                        perror("racers: restoring the canary directory");
                close(sfd);
                unlinkat(tfd, "sd.sock", 0);
                unlinkat(tfd, "sd.key", 0);
                sfd = stale_socket(tfd);
        }
        kill(ex, SIGKILL);
        waitpid(ex, NULL, 0);
        _exit(0);
}

int racers_start(struct racer_counts *rc, double until, uid_t uid, gid_t gid,
                 int (*dial_auth)(void), pid_t pids[2])
{
        const char *bdir = getenv("CAMPAIGN_BIND_DIR");
        const char *sd = getenv("STEPDOWND"), *pol = getenv("CAMPAIGN_RESTART_POLICY");
        const char *rdir = getenv("CAMPAIGN_RESTART_DIR"), *tgt = getenv("CAMPAIGN_RESTART_TARGET");
        int n = 0;

        if (bdir && *bdir) {
                pid_t p = fork();
                if (p == 0)
                        bind_race(bdir, rc, until, uid, gid, dial_auth);
                if (p > 0)
                        pids[n++] = p;
        }
        if (sd && pol && rdir && tgt && strrchr(rdir, '/')) {
                pid_t p = fork();
                if (p == 0)
                        restart_race(sd, pol, rdir, tgt, rc, until, uid, gid);
                if (p > 0)
                        pids[n++] = p;
        }
        return n;
}

/* A finding if a racer raced less than its minimums (times scale). */
static int too_little(const char *what, const unsigned long got[3], const unsigned long min[3],
                      const char *const names[3], double scale)
{
        for (int i = 0; i < 3; i++)
                if ((double)got[i] < (double)min[i] * scale) {
                        printf("FINDING: the %s racer did not race: %lu %s, %lu %s, %lu %s "
                               "(at least %.0f, %.0f, %.0f wanted)\n",
                               what, got[0], names[0], got[1], names[1], got[2], names[2],
                               (double)min[0] * scale, (double)min[1] * scale,
                               (double)min[2] * scale);
                        return 1;
                }
        return 0;
}

int racers_report(const struct racer_counts *rc, double scale)
{
        int findings = 0;
        if (rc->bind_ran) {
                printf("campaign: bind unix exchanger: %lu tries (%lu bound), %lu swaps, %lu wins",
                       rc->bind_tries, rc->bind_served, rc->bind_swaps, rc->bind_wins);
                if (rc->bind_first_win)
                        printf(" (first at try %lu)", rc->bind_first_win);
                printf("\n");
                if (rc->bind_wins)
                        printf("FINDING: bind unix gave %lu root-owned files to the caller\n",
                               rc->bind_wins),
                            findings++;
                else
                        findings +=
                            too_little("bind unix",
                                       (const unsigned long[]){rc->bind_tries, rc->bind_served,
                                                               rc->bind_swaps},
                                       (const unsigned long[]){MIN_BIND_TRIES, MIN_BIND_SERVED,
                                                               MIN_BIND_SWAPS},
                                       (const char *const[]){"tries", "bound", "swaps"}, scale);
        }
        if (rc->restart_ran) {
                printf("campaign: socket-directory planting: %lu restarts (%lu served), %lu swaps, "
                       "%lu wins",
                       rc->restarts, rc->restarts_ready, rc->restart_swaps, rc->restart_wins);
                if (rc->restart_first_win)
                        printf(" (first at restart %lu)", rc->restart_first_win);
                printf("\n");
                if (rc->restart_wins)
                        printf("FINDING: a restarting broker changed the canary socket "
                               "directory %lu times\n",
                               rc->restart_wins),
                            findings++;
                else
                        findings +=
                            too_little("socket-directory",
                                       (const unsigned long[]){rc->restarts, rc->restarts_ready,
                                                               rc->restart_swaps},
                                       (const unsigned long[]){MIN_RESTARTS, MIN_RESTARTS_READY,
                                                               MIN_RESTART_SWAPS},
                                       (const char *const[]){"restarts", "served", "swaps"}, scale);
        }
        return findings;
}
