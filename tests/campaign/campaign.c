/* The hostile-client campaign (issue 7): plays a compromised application
 * against a running broker for SECONDS, then checks that the broker came
 * through.
 *
 *   campaign BROKER-PID SOCKET VOL CANARY-DIR SECONDS
 *   campaign bind-race SOCKET DIR SECONDS
 *
 * The second form runs only racers.c's bind exchanger (DIR as
 * CAMPAIGN_BIND_DIR) against a broker serving SOCKET; exit 1 if it won or
 * did not race enough (integration.bind).
 *
 * Run as root (it reads the broker's /proc entries); the attackers are
 * forked workers that drop to the owner of VOL and read the key from
 * STEPDOWN_KEY_FILE.  Attacks: mutated messages (valid ones from
 * common/wire/proto.c's encoder with bytes, lengths and tags changed), handshake
 * abuse (wrong MAC, replayed AUTH, requests before AUTH, silence), floods
 * of connections past the limit, fds sent in, symlink swaps racing every
 * path-taking operation toward CANARY-DIR, half-closed sockets, disconnects
 * in the middle of a recursive chown.  Afterwards: the broker answers a
 * ping and an allowed mkdir, its RSS and fd count are back to the baseline
 * (small tolerance), and nothing in CANARY-DIR changed.  Prints the figures;
 * exits 1 on any finding. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sodium.h>
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

#include "bench-client.h"
#include "proto.h"
#include "racers.h"
#include "util.h"

#define WORKERS      4
#define RSS_SLACK_KB 4096 /* malloc keeps freed arenas; more is a leak */
/* The campaign must have done something (a broker refusing everything
 * would otherwise pass): at least this many requests answered and
 * recursive chowns through the racer's directory completed in 12 s on a
 * loaded 2-core machine (measured there: some 6000 requests); fewer in a
 * shorter run, in proportion. */
#define MIN_REQUESTS   500
#define MIN_RACE_WALKS 1
#define MIN_SECONDS    12.0

struct counters {
        unsigned long requests, connections, refused_full, kills;
        unsigned long race_walks; /* recursive chowns of VOL/race... that completed */
};
static struct counters *shared; /* one per worker, in shared memory */
static const char *sock_path, *vol, *canary;
static uint8_t key[PROTO_KEY_BYTES];
static bool have_key;

static double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int dial(struct counters *c)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        struct timeval tv = {.tv_sec = 3};
        if (fd < 0)
                return -1;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                close(fd);
                return -1;
        }
        c->connections++;
        return fd;
}

/* Reads one packet; its type, or -1. */
static int get(int fd, struct proto_msg *m, uint8_t *buf)
{
        ssize_t n = recv(fd, buf, PROTO_MAX_MSG, 0);
        if (n <= 0 || proto_decode(buf, (size_t)n, m) < 0)
                return -1;
        return m->type;
}

/* Connects and authenticates (mac: the MAC sent, for replays).  fd or -1. */
static int session(struct counters *c, uint8_t mac[PROTO_MAC_BYTES])
{
        uint8_t buf[PROTO_MAX_MSG], out[128], m2[PROTO_MAC_BYTES];
        struct proto_msg m;
        int fd = dial(c);
        if (fd < 0)
                return -1;
        if (get(fd, &m, buf) != PROTO_HELLO) {
                close(fd);
                return -1;
        }
        if (m.auth_method == PROTO_AUTH_MAC) {
                struct proto_auth_peers peers;
                if (proto_auth_peers_client(fd, &peers) < 0) {
                        close(fd);
                        return -1;
                }
                proto_auth_mac(key, m.nonce, &peers, mac ? mac : m2);
                ssize_t n = proto_encode_auth(out, sizeof(out), 1, mac ? mac : m2, m.nonce);
                if (send(fd, out, (size_t)n, 0) < 0 || get(fd, &m, buf) != PROTO_AUTH_OK) {
                        close(fd);
                        return -1;
                }
        }
        return fd;
}

static const char *const rnd_names[] = {"a", "b",    "race/x",    "race/x/in", "race/x/f",
                                        "t", "t/d1", "../../etc", "race",      "f"};

static const char *rnd_path(char *p, size_t len, unsigned *which)
{
        *which = randombytes_uniform(ELEMENTSOF(rnd_names));
        snprintf(p, len, "%s/%s", vol, rnd_names[*which]);
        return p;
}

/* A valid request of a random kind; *race_walk: it is a recursive chown
 * of a path the symlink racer flips (below VOL/race). */
static ssize_t valid(uint8_t *buf, size_t cap, bool *race_walk)
{
        char p[512];
        unsigned which;
        rnd_path(p, sizeof(p), &which);
        *race_walk = false;
        switch (randombytes_uniform(7)) {
        case 0:
                return proto_encode_mkdir(buf, cap, 7, p, 0700, -1, -1, PROTO_MKDIR_PARENTS);
        case 1:
                *race_walk = strncmp(rnd_names[which], "race", 4) == 0;
                return proto_encode_chown(buf, cap, 7, p, 1000, 1000, PROTO_CHOWN_RECURSIVE);
        case 2:
                return proto_encode_chmod(buf, cap, 7, p, 0600);
        case 3:
                return proto_encode_open(buf, cap, 7, p, PROTO_OPEN_READ | PROTO_OPEN_WRITE, 0600);
        case 4:
                return proto_encode_open(buf, cap, 7, p, PROTO_OPEN_WRITE | PROTO_OPEN_CREATE,
                                         0600);
        case 5:
                return proto_encode_bind(buf, cap, 7, PROTO_BIND_TCP, "127.0.0.1", 80);
        default:
                return proto_encode_empty(buf, cap, PROTO_ALLOWED, 7);
        }
}

static void mutate(uint8_t *buf, size_t *len)
{
        switch (randombytes_uniform(5)) {
        case 0: /* flip bytes */
                for (unsigned i = randombytes_uniform(4) + 1; i > 0; i--)
                        buf[randombytes_uniform((uint32_t)*len)] ^=
                            (uint8_t)(1u << randombytes_uniform(8));
                break;
        case 1: /* truncate */
                *len = randombytes_uniform((uint32_t)*len + 1);
                break;
        case 2: /* extend with garbage, maybe past the limit */
        {
                size_t add = randombytes_uniform(PROTO_MAX_MSG + 64 - (uint32_t)*len);
                randombytes_buf(buf + *len, add);
                *len += add;
                break;
        }
        case 3: /* a header length or tag at random */
                if (*len >= 16)
                        randombytes_buf(buf + 8 + 4 * randombytes_uniform(2), 4);
                break;
        default: /* a field tag */
                if (*len > 18)
                        randombytes_buf(buf + 16, 2);
                break;
        }
}

static void send_fds(int fd, unsigned n)
{
        int fds[64];
        union {
                char b[CMSG_SPACE(sizeof(fds))];
                struct cmsghdr a;
        } u = {0};
        uint8_t buf[64];
        ssize_t len = proto_encode_empty(buf, sizeof(buf), PROTO_PING, 3);
        struct iovec iov = {.iov_base = buf, .iov_len = (size_t)len};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = u.b,
                            .msg_controllen = CMSG_SPACE(n * sizeof(int))};
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        for (unsigned i = 0; i < n; i++)
                fds[i] = STDIN_FILENO;
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(n * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
        (void)sendmsg(fd, &mh, MSG_NOSIGNAL);
}

/* One round of one attack. */
static void attack(struct counters *c, int kind)
{
        uint8_t buf[PROTO_MAX_MSG + 64], in[PROTO_MAX_MSG];
        uint8_t mac[PROTO_MAC_BYTES];
        struct proto_msg m;
        int fd, fds[80];
        size_t len;

        switch (kind) {
        case 0: /* mutated and valid requests on one session */
                fd = session(c, NULL);
                for (int i = 0; fd >= 0 && i < 20; i++) {
                        bool walk;
                        len = (size_t)valid(buf, sizeof(buf), &walk);
                        if (randombytes_uniform(2)) {
                                mutate(buf, &len);
                                walk = false;
                        }
                        int t = send(fd, buf, len, MSG_NOSIGNAL) < 0 ? -1 : get(fd, &m, in);
                        if (t < 0)
                                break;
                        c->requests++;
                        c->race_walks += walk && t == PROTO_OK;
                }
                safe_close(fd);
                break;
        case 1: /* handshake abuse: wrong MAC, a replayed one, a request first */
                fd = session(c, mac);
                safe_close(fd);
                fd = dial(c);
                if (fd >= 0 && get(fd, &m, in) == PROTO_HELLO) {
                        int how = (int)randombytes_uniform(3);
                        if (how == 2)
                                randombytes_buf(mac, sizeof(mac));
                        len = how == 0
                                  ? (size_t)proto_encode_empty(buf, sizeof(buf), PROTO_PING, 1)
                                  : (size_t)proto_encode_auth(buf, sizeof(buf), 1, mac, m.nonce);
                        if (send(fd, buf, len, MSG_NOSIGNAL) == (ssize_t)len) {
                                c->requests++;
                                if (get(fd, &m, in) != PROTO_ERROR || m.kind != PROTO_ERR_AUTH)
                                        c->kills++; /* accepted without the key: a finding */
                        }
                }
                safe_close(fd);
                break;
        case 2: /* a flood past the connection limit, some silent until the timeout */
        {
                unsigned n = 0;
                for (unsigned i = 0; i < ELEMENTSOF(fds); i++)
                        if ((fds[n] = dial(c)) >= 0)
                                n++;
                for (unsigned i = 0; i < n; i++)
                        if (get(fds[i], &m, in) == PROTO_ERROR && m.kind == PROTO_ERR_LIMIT)
                                c->refused_full++;
                usleep(randombytes_uniform(4) ? 10000 : 1200000);
                for (unsigned i = 0; i < n; i++)
                        close(fds[i]);
                break;
        }
        case 3: /* fds sent in, before and after AUTH */
                fd = randombytes_uniform(2) ? session(c, NULL) : dial(c);
                if (fd >= 0) {
                        send_fds(fd, 1 + randombytes_uniform(60));
                        c->requests++;
                        (void)get(fd, &m, in);
                }
                safe_close(fd);
                break;
        case 4: /* half-closed: a request, then SHUT_WR, then read */
                fd = session(c, NULL);
                if (fd >= 0) {
                        bool walk;
                        len = (size_t)valid(buf, sizeof(buf), &walk);
                        if (send(fd, buf, len, MSG_NOSIGNAL) > 0)
                                c->requests++;
                        shutdown(fd, SHUT_WR);
                        (void)get(fd, &m, in);
                }
                safe_close(fd);
                break;
        default: /* gone in the middle of a recursive chown or open */
                fd = session(c, NULL);
                if (fd >= 0) {
                        char p[512];
                        snprintf(p, sizeof(p), "%s/t", vol);
                        len = (size_t)proto_encode_chown(buf, sizeof(buf), 9, p, 1000, 1000,
                                                         PROTO_CHOWN_RECURSIVE);
                        if (send(fd, buf, len, MSG_NOSIGNAL) > 0)
                                c->requests++;
                        bool walk;
                        len = (size_t)valid(buf, sizeof(buf), &walk);
                        (void)send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
                }
                safe_close(fd);
                break;
        }
}

/* Mostly mutated requests; each other attack a tenth of the time. */
static int pick(void)
{
        int k = (int)randombytes_uniform(10);
        return k < 5 ? 0 : k - 4;
}

/* Flips VOL/race/x between a real directory and a symlink to the canary
 * directory, as fast as it can. */
static _Noreturn void racer(double until)
{
        char x[512], tmpd[512], tmpl[512];
        snprintf(x, sizeof(x), "%s/race/x", vol);
        snprintf(tmpd, sizeof(tmpd), "%s/race/x.d", vol);
        snprintf(tmpl, sizeof(tmpl), "%s/race/x.l", vol);
        while (now() < until) {
                mkdir(tmpd, 0700);
                if (symlink(canary, tmpl) < 0 && errno != EEXIST)
                        continue;
                rename(tmpd, x);
                renameat2(AT_FDCWD, tmpl, AT_FDCWD, x, RENAME_EXCHANGE);
                rename(tmpl, tmpd);
                if (randombytes_uniform(16) == 0) { /* start over */
                        unlink(x);
                        unlink(tmpl);
                        rmdir(tmpd);
                }
        }
        _exit(0);
}

/* For racers.c: an authenticated connection. */
static int racer_session(void)
{
        struct counters c = {0};
        return session(&c, NULL);
}

static void drop_to_vol_owner(void)
{
        struct stat st;
        if (stat(vol, &st) < 0 || setgroups(0, NULL) < 0 ||
            setresgid(st.st_gid, st.st_gid, st.st_gid) < 0 ||
            setresuid(st.st_uid, st.st_uid, st.st_uid) < 0) {
                perror("campaign: dropping to the owner of VOL");
                _exit(2);
        }
}

static long fd_count(pid_t pid)
{
        char cmd[64];
        snprintf(cmd, sizeof(cmd), "ls /proc/%d/fd | wc -l", (int)pid);
        FILE *p = popen(cmd, "r");
        long n = -1;
        if (p && fscanf(p, "%ld", &n) != 1)
                n = -1;
        if (p)
                pclose(p);
        return n;
}

/* Owner, mode, size and a hash of every entry directly in the canary dir. */
static void canary_state(char *out, size_t len)
{
        char cmd[600];
        snprintf(cmd, sizeof(cmd),
                 "cd '%s' && find . -exec stat -c '%%n %%u:%%g %%a %%s' {} + | sort && "
                 "find . -type f -exec cat {} + | md5sum",
                 canary);
        FILE *p = popen(cmd, "r");
        size_t n = p ? fread(out, 1, len - 1, p) : 0;
        out[n] = '\0';
        if (p)
                pclose(p);
}

/* The broker still serves: a ping and an allowed mkdir.  0 or -1. */
static int still_serves(void)
{
        struct counters c = {0};
        uint8_t buf[PROTO_MAX_MSG];
        struct proto_msg m;
        char p[512];
        int ok = -1;
        int fd = session(&c, NULL);
        ssize_t n = proto_encode_empty(buf, sizeof(buf), PROTO_PING, 1);
        if (fd >= 0 && send(fd, buf, (size_t)n, 0) == n && get(fd, &m, buf) == PROTO_OK) {
                snprintf(p, sizeof(p), "%s/after-campaign-%d", vol, (int)getpid());
                n = proto_encode_mkdir(buf, sizeof(buf), 2, p, 0700, -1, -1, 0);
                if (send(fd, buf, (size_t)n, 0) == n && get(fd, &m, buf) == PROTO_OK)
                        ok = 0;
        }
        safe_close(fd);
        return ok;
}

static double min_scale(double secs)
{
        return secs < MIN_SECONDS ? secs / MIN_SECONDS : 1.0;
}

/* campaign bind-race SOCKET DIR SECONDS */
static int bind_race_only(const char *dir, double secs)
{
        struct racer_counts *rc = racers_counts_new();
        struct stat st;
        pid_t pids[2];
        if (!rc || stat(dir, &st) < 0) {
                perror("campaign: bind-race");
                return 2;
        }
        setenv("CAMPAIGN_BIND_DIR", dir, 1);
        unsetenv("CAMPAIGN_RESTART_POLICY");
        signal(SIGPIPE, SIG_IGN);
        int n = racers_start(rc, now() + secs, st.st_uid, st.st_gid, racer_session, pids);
        for (int i = 0; i < n; i++)
                waitpid(pids[i], NULL, 0);
        return racers_report(rc, min_scale(secs)) ? 1 : 0;
}

int main(int argc, char **argv)
{
        bool bind_only = argc == 5 && strcmp(argv[1], "bind-race") == 0;
        if (argc != 6 && !bind_only) {
                fprintf(stderr, "usage: campaign BROKER-PID SOCKET VOL CANARY-DIR SECONDS\n"
                                "       campaign bind-race SOCKET DIR SECONDS\n");
                return 2;
        }
        pid_t broker = atoi(argv[1]);
        sock_path = argv[2];
        vol = argv[3];
        canary = argv[4];
        double secs = atof(argv[bind_only ? 4 : 5]);
        const char *kf = getenv("STEPDOWN_KEY_FILE");
        if (sodium_init() < 0)
                return 2;
        if (kf) {
                int fd = open(kf, O_RDONLY | O_CLOEXEC);
                have_key = fd >= 0 && read(fd, key, sizeof(key)) == (ssize_t)sizeof(key);
                safe_close(fd);
                if (!have_key) {
                        fprintf(stderr, "campaign: cannot read the key from %s\n", kf);
                        return 2;
                }
        }
        if (bind_only)
                return bind_race_only(argv[3], secs);
        shared = mmap(NULL, sizeof(*shared) * (WORKERS + 1), PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (shared == MAP_FAILED)
                return 2;
        signal(SIGPIPE, SIG_IGN);

        /* Baseline, after a warm-up of ordinary requests that ends with
         * the probe run afterwards (a ping and an allowed mkdir): the
         * broker keeps a staging directory per mkdir anchor (two fds,
         * op-mkdir.c), made at the first mkdir there, which the random
         * requests above may not have made. */
        char before[8192], after[8192];
        canary_state(before, sizeof(before));
        pid_t warm = fork();
        if (warm == 0) {
                drop_to_vol_owner();
                for (int i = 0; i < 20; i++)
                        attack(&shared[WORKERS], i % 2 ? 0 : 4);
                _exit(still_serves() < 0 ? 1 : 0);
        }
        int warm_st = 0;
        waitpid(warm, &warm_st, 0);
        usleep(300000);
        long rss0 = bench_status_kib(broker, "VmRSS:"), fds0 = fd_count(broker);

        double t0 = now(), until = t0 + secs;
        pid_t kids[WORKERS + 1], rkids[2];
        struct racer_counts *rc = racers_counts_new();
        struct stat vst;
        int n_rkids = rc && stat(vol, &vst) == 0
                          ? racers_start(rc, until, vst.st_uid, vst.st_gid, racer_session, rkids)
                          : 0;
        for (int w = 0; w <= WORKERS; w++) {
                kids[w] = fork();
                if (kids[w] == 0) {
                        drop_to_vol_owner();
                        if (w == WORKERS)
                                racer(until);
                        while (now() < until)
                                attack(&shared[w], pick());
                        _exit(0);
                }
        }
        for (int w = 0; w <= WORKERS; w++)
                waitpid(kids[w], NULL, 0);
        for (int w = 0; w < n_rkids; w++)
                waitpid(rkids[w], NULL, 0);
        double took = now() - t0;

        /* Let the broker notice the last disconnects and time out the
         * silent ones. */
        long rss1 = 0, fds1 = 0;
        for (int i = 0; i < 40; i++) {
                usleep(250000);
                rss1 = bench_status_kib(broker, "VmRSS:");
                fds1 = fd_count(broker);
                if (fds1 == fds0 && rss1 <= rss0 + RSS_SLACK_KB)
                        break;
        }
        struct counters sum = shared[WORKERS];
        for (int w = 0; w < WORKERS; w++) {
                sum.requests += shared[w].requests;
                sum.connections += shared[w].connections;
                sum.refused_full += shared[w].refused_full;
                sum.kills += shared[w].kills;
                sum.race_walks += shared[w].race_walks;
        }
        canary_state(after, sizeof(after));

        int findings = 0;
        if (!WIFEXITED(warm_st) || WEXITSTATUS(warm_st) != 0)
                printf("FINDING: no answer to a ping and an allowed mkdir before the campaign\n"),
                    findings++;
        if (kill(broker, 0) < 0)
                printf("FINDING: the broker (pid %d) is gone\n", (int)broker), findings++;
        pid_t probe = fork();
        int st = 0;
        if (probe == 0) {
                drop_to_vol_owner();
                _exit(still_serves() < 0 ? 1 : 0);
        }
        waitpid(probe, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                printf("FINDING: no answer to a ping and an allowed mkdir afterwards\n"),
                    findings++;
        if (fds1 != fds0)
                printf("FINDING: broker fds %ld before, %ld after\n", fds0, fds1), findings++;
        if (rss1 < 0 || rss1 > rss0 + RSS_SLACK_KB)
                printf("FINDING: broker RSS %ld kB before, %ld kB after\n", rss0, rss1), findings++;
        if (strcmp(before, after) != 0)
                printf("FINDING: the canaries changed:\n--- before\n%s--- after\n%s", before,
                       after),
                    findings++;
        if (rc)
                findings += racers_report(rc, min_scale(secs));
        if ((double)sum.requests < MIN_REQUESTS * min_scale(secs) ||
            (double)sum.race_walks < MIN_RACE_WALKS)
                printf("FINDING: the campaign did not attack enough: %lu requests, %lu "
                       "recursive chowns through the racer's directory completed (at least "
                       "%.0f and %d wanted)\n",
                       sum.requests, sum.race_walks, MIN_REQUESTS * min_scale(secs),
                       MIN_RACE_WALKS),
                    findings++;
        if (sum.kills)
                printf("FINDING: %lu handshakes without the key were accepted\n", sum.kills),
                    findings++;
        printf("campaign: %.1f s, %lu requests, %lu connections (%lu refused at the limit), "
               "%lu recursive chowns through the racer's directory, broker RSS %ld -> %ld kB, "
               "fds %ld -> %ld, %d findings\n",
               took, sum.requests, sum.connections, sum.refused_full, sum.race_walks, rss0, rss1,
               fds0, fds1, findings);
        return findings ? 1 : 0;
}
