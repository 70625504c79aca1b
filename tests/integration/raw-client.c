/* raw-client: speaks the wire protocol by hand, for the adversarial cases
 * the library never produces.  Prints one line per packet it receives:
 *   hello MAC|NONE / auth-ok / ok [count=N] [fd] / error KIND ERRNO message /
 *   allowed / eof / timeout
 *
 * Usage: raw-client SOCKET CASE [ARG]
 *        raw-client SOCKET relay LISTEN-PATH [N]
 *        raw-client SOCKET hog N SECONDS [PING-MS]
 * relay plays a process in the middle: it listens on LISTEN-PATH, and
 * for each of N clients (default 1) connects to SOCKET and passes every
 * packet both ways unchanged, the handshake included.  hog plays a peer
 * without the key that tries to hold N connections for SECONDS: every one
 * the broker closes or refuses is replaced at once; it prints the most it
 * held at once (connections that got HELLO and had nothing more waiting:
 * not an ERROR that drops them) and how many it opened.  With PING-MS it
 * also sends a PING on every connection it holds every PING-MS ms (with
 * `key none` each is served at HELLO), as a client keeping its slots.
 *        raw-client LISTEN-PATH impostor none|mac N
 * impostor plays a server in the broker's place (protocol 3, issue 17):
 * it listens on LISTEN-PATH and for each of N clients sends HELLO with
 * AUTH_METHOD none or mac, answers AUTH with an AUTH_OK whose proof is
 * made up (it has no key), and any request with OK; it prints
 * "impostor got TYPE [PATH]" for every packet it receives.
 * The key comes from STEPDOWN_KEY_FILE (raw or hex) when set; a client
 * with the key checks the server's proof in AUTH_OK ("bad-proof"). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fdpass.h"
#include "proto.h"

static const char *sock_path;
static uint8_t key[PROTO_KEY_BYTES];
static bool have_key;
static uint8_t last_mac[PROTO_MAC_BYTES]; /* the MAC of the last packet received */

static int conn_open(void)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                printf("connect-failed %s\n", strerrorname_np(errno));
                exit(3);
        }
        return fd;
}

/* Receives one packet within ms; prints it; returns its type, 0 for eof,
 * -1 for timeout.  nonce (may be NULL) gets HELLO's nonce. */
static int recv_print(int fd, int ms, uint8_t *nonce, bool quiet)
{
        uint8_t buf[PROTO_MAX_MSG];
        FDPASS_CTRL(1) u;
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = u.buf,
                            .msg_controllen = sizeof(u.buf)};
        struct pollfd p = {.fd = fd, .events = POLLIN};
        struct proto_msg m;

        if (poll(&p, 1, ms) == 0) {
                if (!quiet)
                        printf("timeout\n");
                return -1;
        }
        ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        if (n <= 0) {
                if (!quiet)
                        printf("eof\n");
                return 0;
        }
        bool got_fd = fdpass_close_all(&mh);
        if (proto_decode(buf, (size_t)n, &m) < 0) {
                printf("undecodable %s\n", m.why);
                return -2;
        }
        if (m.type == PROTO_HELLO && nonce)
                memcpy(nonce, m.nonce, PROTO_NONCE_BYTES);
        if (m.present & PROTO_F_MAC)
                memcpy(last_mac, m.mac, PROTO_MAC_BYTES);
        if (quiet)
                return m.type;
        switch (m.type) {
        case PROTO_HELLO:
                printf("hello %s\n", m.auth_method == PROTO_AUTH_MAC ? "MAC" : "NONE");
                break;
        case PROTO_AUTH_OK:
                printf("auth-ok\n");
                break;
        case PROTO_OK:
                printf("ok");
                if (m.present & PROTO_F_COUNT)
                        printf(" count=%llu", (unsigned long long)m.count);
                printf("%s\n", got_fd ? " fd" : "");
                break;
        case PROTO_ERROR:
                printf("error %s %.*s %.*s\n", proto_kind_name(m.kind), (int)m.errname_len,
                       m.errname, (int)m.message_len, m.message ? m.message : "");
                break;
        default:
                printf("%s\n", proto_type_name(m.type));
        }
        fflush(stdout);
        return m.type;
}

static void send_raw(int fd, const void *buf, size_t len, int pass_fd)
{
        ssize_t n = fdpass_send(fd, buf, len, pass_fd, MSG_NOSIGNAL);
        if (n < 0)
                printf("send-failed %s\n", strerrorname_np((int)-n));
}

static void send_ping(int fd, uint32_t id)
{
        uint8_t buf[PROTO_HEADER_SIZE];
        ssize_t n = proto_encode_empty(buf, sizeof(buf), PROTO_PING, id);
        send_raw(fd, buf, (size_t)n, -1);
}

/* Connects and authenticates; mac_out (may be NULL) gets the MAC sent. */
static int connect_auth(uint8_t *mac_out, bool quiet)
{
        uint8_t nonce[PROTO_NONCE_BYTES], mac[PROTO_MAC_BYTES], buf[128];
        uint8_t cnonce[PROTO_NONCE_BYTES];
        int fd = conn_open();
        if (recv_print(fd, 5000, nonce, quiet) != PROTO_HELLO)
                exit(2);
        if (have_key) {
                struct proto_auth_peers peers;
                if (proto_auth_peers_client(fd, &peers) < 0)
                        exit(2);
                proto_auth_mac(key, nonce, &peers, mac);
                randombytes_buf(cnonce, sizeof(cnonce));
                ssize_t n = proto_encode_auth(buf, sizeof(buf), 1, mac, cnonce);
                send_raw(fd, buf, (size_t)n, -1);
                if (mac_out)
                        memcpy(mac_out, mac, sizeof(mac));
                if (recv_print(fd, 5000, NULL, quiet) != PROTO_AUTH_OK)
                        exit(2);
                if (proto_auth_server_verify(key, cnonce, &peers, last_mac) < 0) {
                        printf("bad-proof\n");
                        exit(2);
                }
        }
        return fd;
}

/* Passes packets between a and b until one side closes.  Returns how many
 * went each way. */
static void pump(int a, int b, int *ab, int *ba)
{
        uint8_t buf[PROTO_MAX_MSG];
        struct pollfd p[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};

        for (;;) {
                if (poll(p, 2, 10000) <= 0)
                        return;
                for (int i = 0; i < 2; i++) {
                        if (!p[i].revents)
                                continue;
                        ssize_t n = recv(p[i].fd, buf, sizeof(buf), 0);
                        if (n <= 0 || send(p[1 - i].fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
                                return;
                        ++*(i == 0 ? ab : ba);
                }
        }
}

static void relay(const char *listen_path, int n)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", listen_path);
        unlink(listen_path);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            chmod(listen_path, 0777) < 0 || listen(lfd, 4) < 0) {
                printf("relay-failed %s\n", strerrorname_np(errno));
                exit(3);
        }
        printf("relaying\n");
        for (int i = 0; i < n; i++) {
                int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), up = conn_open(), ab = 0, ba = 0;
                if (c < 0)
                        exit(3);
                pump(c, up, &ab, &ba);
                printf("relayed %d up, %d down\n", ab, ba);
                close(c);
                close(up);
        }
        unlink(listen_path);
}

/* A server in the broker's place, without the key (see the usage). */
static void impostor(const char *listen_path, bool mac, int n)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        uint8_t buf[PROTO_MAX_MSG], nonce[PROTO_NONCE_BYTES], fake[PROTO_MAC_BYTES];
        int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", listen_path);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            chmod(listen_path, 0777) < 0 || listen(lfd, 4) < 0) {
                printf("impostor-failed %s\n", strerrorname_np(errno));
                exit(3);
        }
        printf("impostor listening\n");
        for (int i = 0; i < n; i++) {
                int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0)
                        exit(3);
                randombytes_buf(nonce, sizeof(nonce));
                ssize_t len = proto_encode_hello(buf, sizeof(buf), 0,
                                                 mac ? PROTO_AUTH_MAC : PROTO_AUTH_NONE, nonce);
                send_raw(c, buf, (size_t)len, -1);
                for (;;) {
                        struct pollfd p = {.fd = c, .events = POLLIN};
                        struct proto_msg m;
                        if (poll(&p, 1, 10000) <= 0)
                                break;
                        ssize_t r = recv(c, buf, sizeof(buf), 0);
                        if (r <= 0 || proto_decode(buf, (size_t)r, &m) < 0)
                                break;
                        printf("impostor got %s%s%.*s\n", proto_type_name(m.type),
                               m.path ? " " : "", (int)m.path_len, m.path ? m.path : "");
                        randombytes_buf(fake, sizeof(fake)); /* it cannot make the proof */
                        len = m.type == PROTO_AUTH
                                  ? proto_encode_auth_ok(buf, sizeof(buf), m.id, fake)
                                  : proto_encode_ok(buf, sizeof(buf), m.id, -1, 0);
                        send_raw(c, buf, (size_t)len, -1);
                }
                printf("impostor: client %d gone\n", i + 1);
                close(c);
        }
}

static int conn_try(void)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

static void hog(int n, int secs, int ping_ms)
{
        struct pollfd p[1024];
        bool held[1024] = {0};
        uint8_t buf[PROTO_MAX_MSG];
        struct timespec t0, t, pinged;
        long opened = 0;
        int most = 0;

        n = n > 1024 ? 1024 : n;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        pinged = t0;
        for (int i = 0; i < n; i++) {
                p[i].fd = conn_try();
                p[i].events = POLLIN;
                opened += p[i].fd >= 0;
        }
        for (;;) {
                clock_gettime(CLOCK_MONOTONIC, &t);
                if (t.tv_sec - t0.tv_sec >= secs)
                        break;
                bool ping = ping_ms > 0 && (t.tv_sec - pinged.tv_sec) * 1000 +
                                                   (t.tv_nsec - pinged.tv_nsec) / 1000000 >=
                                               ping_ms;
                if (ping)
                        pinged = t;
                poll(p, (nfds_t)n, 20);
                for (int i = 0; i < n; i++) {
                        /* Everything waiting: HELLO, the OKs of pings, or
                         * the ERROR and end of file of a dropped one. */
                        while (p[i].fd >= 0 && (p[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                                struct proto_msg m;
                                ssize_t r = recv(p[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
                                if (r < 0 && errno == EAGAIN)
                                        break;
                                if (r > 0 && proto_decode(buf, (size_t)r, &m) == 0 &&
                                    (m.type == PROTO_HELLO || (held[i] && m.type == PROTO_OK))) {
                                        held[i] = true;
                                        continue;
                                }
                                close(p[i].fd); /* refused, dropped: knock again */
                                p[i].fd = -1;
                                held[i] = false;
                        }
                        if (p[i].fd < 0) {
                                p[i].fd = conn_try();
                                opened += p[i].fd >= 0;
                        } else if (ping && held[i]) {
                                uint8_t pb[PROTO_HEADER_SIZE];
                                ssize_t pn = proto_encode_empty(pb, sizeof(pb), PROTO_PING, 7);
                                (void)!send(p[i].fd, pb, (size_t)pn, MSG_DONTWAIT | MSG_NOSIGNAL);
                        }
                        p[i].revents = 0;
                }
                /* Held now: HELLO seen and no ERROR waiting behind it. */
                poll(p, (nfds_t)n, 0);
                int now = 0;
                for (int i = 0; i < n; i++)
                        now += held[i] && !(p[i].revents & (POLLHUP | POLLERR)) &&
                               !(!ping_ms && (p[i].revents & POLLIN));
                most = now > most ? now : most;
        }
        printf("held at most %d, opened %ld\n", most, opened);
}

static void header(uint8_t *b, uint16_t version, uint16_t type, uint32_t id, uint32_t len)
{
        memcpy(b, PROTO_MAGIC, 4);
        b[4] = (uint8_t)version, b[5] = (uint8_t)(version >> 8);
        b[6] = (uint8_t)type, b[7] = (uint8_t)(type >> 8);
        for (int i = 0; i < 4; i++) {
                b[8 + i] = (uint8_t)(id >> (8 * i));
                b[12 + i] = (uint8_t)(len >> (8 * i));
        }
}

static void load_key(void)
{
        const char *path = getenv("STEPDOWN_KEY_FILE");
        uint8_t buf[2 * PROTO_KEY_BYTES + 2];
        size_t bin;
        if (!path)
                return;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
        if (fd >= 0)
                close(fd);
        if (n == PROTO_KEY_BYTES)
                memcpy(key, buf, PROTO_KEY_BYTES);
        else if (n >= 2 * PROTO_KEY_BYTES &&
                 sodium_hex2bin(key, sizeof(key), (char *)buf, 2 * PROTO_KEY_BYTES, NULL, &bin,
                                NULL) == 0)
                ;
        else {
                printf("cannot read key %s\n", path);
                exit(2);
        }
        have_key = true;
}

int main(int argc, char **argv)
{
        uint8_t buf[PROTO_MAX_MSG + 512], mac[PROTO_MAC_BYTES];
        int fd;

        if (argc < 3) {
                fprintf(stderr, "usage: raw-client SOCKET CASE [ARG]\n");
                return 2;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        sock_path = argv[1];
        const char *c = argv[2];
        int arg = argc > 3 ? atoi(argv[3]) : 0;
        load_key();

        if (strcmp(c, "hog") == 0 && argc > 4) {
                hog(arg, atoi(argv[4]), argc > 5 ? atoi(argv[5]) : 0);
        } else if (strcmp(c, "impostor") == 0 && argc > 3) {
                impostor(sock_path, strcmp(argv[3], "mac") == 0, argc > 4 ? atoi(argv[4]) : 1);
        } else if (strcmp(c, "relay") == 0 && argc > 3) {
                relay(argv[3], argc > 4 ? atoi(argv[4]) : 1);
        } else if (strcmp(c, "ping") == 0) {
                fd = connect_auth(NULL, false);
                send_ping(fd, 7);
                recv_print(fd, 5000, NULL, false);
        } else if (strcmp(c, "nokey") == 0) { /* a request without AUTH */
                fd = conn_open();
                recv_print(fd, 5000, NULL, false);
                send_ping(fd, 7);
                recv_print(fd, 5000, NULL, false);
                recv_print(fd, 5000, NULL, false);
        } else if (strcmp(c, "wrongkey") == 0) {
                uint8_t nonce[PROTO_NONCE_BYTES];
                fd = conn_open();
                recv_print(fd, 5000, nonce, false);
                randombytes_buf(mac, sizeof(mac));
                send_raw(fd, buf, (size_t)proto_encode_auth(buf, sizeof(buf), 1, mac, nonce), -1);
                recv_print(fd, 5000, NULL, false);
                recv_print(fd, 5000, NULL, false);
        } else if (strcmp(c, "replay") == 0) { /* the same MAC on a new connection */
                uint8_t nonce[PROTO_NONCE_BYTES] = {0};
                int first = connect_auth(mac, false);
                fd = conn_open();
                recv_print(fd, 5000, NULL, false);
                send_raw(fd, buf, (size_t)proto_encode_auth(buf, sizeof(buf), 1, mac, nonce), -1);
                recv_print(fd, 5000, NULL, false);
                recv_print(fd, 5000, NULL, false);
                close(first);
        } else if (strcmp(c, "truncated") == 0) {
                fd = connect_auth(NULL, true);
                header(buf, PROTO_VERSION, PROTO_PING, 9, 0);
                send_raw(fd, buf, 10, -1);
                recv_print(fd, 5000, NULL, false);
                header(buf, PROTO_VERSION, PROTO_CHMOD, 10, 40); /* says 40, has 4 */
                send_raw(fd, buf, PROTO_HEADER_SIZE + 4, -1);
                recv_print(fd, 5000, NULL, false);
                send_ping(fd, 11);
                recv_print(fd, 5000, NULL, false);
        } else if (strcmp(c, "oversize") == 0) {
                fd = connect_auth(NULL, true);
                memset(buf, 'A', sizeof(buf));
                header(buf, PROTO_VERSION, PROTO_PING, 12, sizeof(buf) - PROTO_HEADER_SIZE);
                send_raw(fd, buf, sizeof(buf), -1);
                recv_print(fd, 5000, NULL, false);
                send_ping(fd, 13);
                recv_print(fd, 5000, NULL, false);
        } else if (strcmp(c, "badversion") == 0) {
                fd = connect_auth(NULL, true);
                header(buf, 99, PROTO_PING, 14, 0);
                send_raw(fd, buf, PROTO_HEADER_SIZE, -1);
                recv_print(fd, 5000, NULL, false);
                send_ping(fd, 15);
                recv_print(fd, 5000, NULL, false);
        } else if (strcmp(c, "unknownop") == 0) {
                fd = connect_auth(NULL, true);
                header(buf, PROTO_VERSION, 0x02ff, 16, 0);
                send_raw(fd, buf, PROTO_HEADER_SIZE, -1);
                recv_print(fd, 5000, NULL, false);
                header(buf, PROTO_VERSION, PROTO_OK, 17, 0); /* a server-only type */
                send_raw(fd, buf, PROTO_HEADER_SIZE, -1);
                recv_print(fd, 5000, NULL, false);
                send_ping(fd, 18);
                recv_print(fd, 5000, NULL, false);
        } else if (strcmp(c, "withfd") == 0) {
                int pass = open("/dev/null", O_RDONLY | O_CLOEXEC);
                fd = connect_auth(NULL, true);
                ssize_t n = proto_encode_empty(buf, sizeof(buf), PROTO_PING, 19);
                send_raw(fd, buf, (size_t)n, pass);
                recv_print(fd, 5000, NULL, false);
                send_ping(fd, 20);
                recv_print(fd, 5000, NULL, false);
        } else if (strcmp(c, "emptyfds") == 0) { /* arg empty messages, 16 fds each */
                int pass = open("/dev/null", O_RDONLY | O_CLOEXEC), dropped = 0;
                FDPASS_CTRL(16) u;
                memset(&u, 0, sizeof(u));
                for (int i = 0; i < arg; i++) {
                        fd = conn_open();
                        if (recv_print(fd, 5000, NULL, true) != PROTO_HELLO)
                                exit(2);
                        struct iovec iov = {.iov_base = buf, .iov_len = 0};
                        struct msghdr mh = {.msg_iov = &iov,
                                            .msg_iovlen = 1,
                                            .msg_control = u.buf,
                                            .msg_controllen = sizeof(u.buf)};
                        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
                        cm->cmsg_level = SOL_SOCKET;
                        cm->cmsg_type = SCM_RIGHTS;
                        cm->cmsg_len = CMSG_LEN(16 * sizeof(int));
                        for (int k = 0; k < 16; k++)
                                memcpy(CMSG_DATA(cm) + k * sizeof(int), &pass, sizeof(int));
                        if (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0) {
                                printf("send-failed %s\n", strerrorname_np(errno));
                                exit(3);
                        }
                        dropped += recv_print(fd, 5000, NULL, true) == 0;
                        close(fd);
                }
                printf("sent %d, dropped %d\n", arg, dropped);
        } else if (strcmp(c, "silent") == 0) { /* connects, says nothing */
                fd = conn_open();
                recv_print(fd, 5000, NULL, false);
                recv_print(fd, arg * 1000, NULL, false);
                recv_print(fd, 1000, NULL, false);
        } else if (strcmp(c, "flood") == 0) { /* requests without reading replies */
                fd = connect_auth(NULL, true);
                int sent = 0, got = 0;
                for (int i = 0; i < arg; i++) {
                        ssize_t n = proto_encode_empty(buf, sizeof(buf), PROTO_PING, (uint32_t)i);
                        if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) < 0)
                                break;
                        sent++;
                }
                int t;
                while ((t = recv_print(fd, 3000, NULL, true)) > 0)
                        got++;
                printf("sent %d, replies %d, then %s\n", sent, got, t == 0 ? "eof" : "still open");
        } else if (strcmp(c, "holdraw") == 0) { /* arg bare connections, nothing sent */
                int n = 0;
                for (int i = 0; i < arg; i++) {
                        struct sockaddr_un sa = {.sun_family = AF_UNIX};
                        int f = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
                        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
                        if (f >= 0 && connect(f, (struct sockaddr *)&sa, sizeof(sa)) == 0)
                                n++;
                }
                printf("connected %d\n", n);
                while (read(0, buf, sizeof(buf)) > 0)
                        ;
        } else if (strcmp(c, "hold") == 0) { /* arg connections, held until stdin closes */
                for (int i = 0; i < arg; i++)
                        connect_auth(NULL, true);
                printf("holding %d\n", arg);
                while (read(0, buf, sizeof(buf)) > 0)
                        ;
        } else if (strcmp(c, "rtt") == 0) { /* arg pings, prints the slowest in ms */
                struct timespec a, b;
                double worst = 0;
                fd = connect_auth(NULL, true);
                for (int i = 0; i < arg; i++) {
                        clock_gettime(CLOCK_MONOTONIC, &a);
                        send_ping(fd, (uint32_t)i);
                        if (recv_print(fd, 10000, NULL, true) != PROTO_OK)
                                return 1;
                        clock_gettime(CLOCK_MONOTONIC, &b);
                        double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 +
                                    (double)(b.tv_nsec - a.tv_nsec) / 1e6;
                        worst = ms > worst ? ms : worst;
                }
                printf("max %.0f ms\n", worst);
        } else {
                fprintf(stderr, "raw-client: unknown case %s\n", c);
                return 2;
        }
        return 0;
}
