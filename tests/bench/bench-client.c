/* See bench-client.h. */
#include "bench-client.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

double bench_now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void fail(const char *what, const char *sock)
{
        fprintf(stderr, "bench: %s: %s\n", sock, what);
        exit(1);
}

int bench_connect(const char *sock, const uint8_t key[PROTO_KEY_BYTES])
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        uint8_t buf[PROTO_MAX_MSG], mac[PROTO_MAC_BYTES];
        struct proto_msg m;
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                fail("connect", sock);
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0 || proto_decode(buf, (size_t)n, &m) < 0 || m.type != PROTO_HELLO)
                fail("no HELLO", sock);
        struct proto_auth_peers peers;
        if (proto_auth_peers_client(fd, &peers) < 0)
                fail("SO_PEERCRED", sock);
        proto_auth_mac(key, m.nonce, &peers, mac);
        /* What libstepdown does: a fresh nonce of its own, the server's
         * proof checked (protocol 3). */
        uint8_t cnonce[PROTO_NONCE_BYTES];
        randombytes_buf(cnonce, sizeof(cnonce));
        n = proto_encode_auth(buf, sizeof(buf), 1, mac, cnonce);
        if (send(fd, buf, (size_t)n, 0) < 0 || (n = recv(fd, buf, sizeof(buf), 0)) <= 0 ||
            proto_decode(buf, (size_t)n, &m) < 0 || m.type != PROTO_AUTH_OK ||
            proto_auth_server_verify(key, cnonce, &peers, m.mac) < 0)
                fail("authentication", sock);
        return fd;
}

int bench_request(int fd, const uint8_t *req, size_t len, char *msg, size_t msglen)
{
        uint8_t buf[PROTO_MAX_MSG];
        struct proto_msg m;
        ssize_t n;
        if (send(fd, req, len, 0) < 0 || (n = recv(fd, buf, sizeof(buf), 0)) <= 0 ||
            proto_decode(buf, (size_t)n, &m) < 0) {
                fprintf(stderr, "bench: a request got no answer\n");
                exit(1);
        }
        if (m.type == PROTO_OK)
                return 0;
        snprintf(msg, msglen, "%.*s", (int)m.message_len, m.message);
        return -1;
}
