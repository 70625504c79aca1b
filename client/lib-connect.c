/* Connection, handshake and the request/reply exchange of libstepdown. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "errnoname.h"
#include "fdpass.h"
#include "lib-internal.h"
#include "util.h"

#define DEFAULT_SOCKET     "/run/stepdown/stepdown.sock"
#define DEFAULT_TIMEOUT_MS 30000u
#define CMSG_FDS_MAX       8 /* room to receive (and close) a few stray fds */

static void reset_error(struct stepdown *sd)
{
        sd->kind = STEPDOWN_ERR_NONE;
        sd->have_msg = sd->server_refused = false;
        sd->msg[0] = '\0';
}

int stepdown_set_timeout(struct stepdown *sd, unsigned msec)
{
        struct timeval tv = {.tv_sec = msec / 1000, .tv_usec = (msec % 1000) * 1000};
        if (setsockopt(sd->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
            setsockopt(sd->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
                return negative_errno();
        return 0;
}

static int env_timeout(unsigned *msec)
{
        const char *s = getenv("STEPDOWN_TIMEOUT");
        char *end;
        if (!s || !*s) {
                *msec = DEFAULT_TIMEOUT_MS;
                return 0;
        }
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-' || v > 86400)
                return -EINVAL;
        *msec = (unsigned)v * 1000u;
        return 0;
}

/* Receives one packet into sd->rbuf.  fds riding on it go to *fd if it
 * is exactly one and fd is non-NULL; all others are closed. */
static ssize_t recv_packet(struct stepdown *sd, int *fd)
{
        FDPASS_CTRL(CMSG_FDS_MAX) ctrl;
        struct iovec iov = {.iov_base = sd->rbuf, .iov_len = sizeof(sd->rbuf)};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctrl, .msg_controllen = sizeof(ctrl)};
        ssize_t n;

        do
                n = recvmsg(sd->fd, &mh, MSG_CMSG_CLOEXEC | MSG_TRUNC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : negative_errno();
        if (n == 0) {
                fdpass_close_all(&mh);
                return -ECONNRESET; /* the broker closed the connection */
        }
        if (fd) {
                int got = fdpass_take_one(&mh);
                if (got >= 0)
                        *fd = got;
        } else {
                fdpass_close_all(&mh);
        }
        if ((size_t)n > sizeof(sd->rbuf)) {
                if (fd)
                        *fd = safe_close(*fd);
                return -EPROTO;
        }
        return n;
}

static int send_packet(struct stepdown *sd, const uint8_t *buf, size_t len)
{
        ssize_t n;
        do
                n = send(sd->fd, buf, len, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : negative_errno();
        return (size_t)n == len ? 0 : -EPROTO;
}

static int take_error(struct stepdown *sd, const struct proto_msg *m)
{
        char name[32];
        int err = 0;

        sd->kind = (enum stepdown_error_kind)m->kind;
        if (proto_strcpy(name, sizeof(name), m->errname, m->errname_len) == 0)
                err = errno_from_name(name);
        if (m->present & PROTO_F_MESSAGE) {
                proto_strcpy(sd->msg, sizeof(sd->msg), m->message, m->message_len);
                sd->have_msg = true;
        }
        return err > 0 ? -err : -EIO;
}

int sdlib_transact(struct stepdown *sd, const uint8_t *req, size_t len, struct proto_msg *reply,
                   int *fd)
{
        struct proto_msg m;
        uint32_t id;
        ssize_t n;
        int r, got = -1;

        reset_error(sd);
        if (fd)
                *fd = -1;
        if (proto_decode(req, len, &m) < 0)
                return -EINVAL;
        id = m.id;
        r = send_packet(sd, req, len);
        n = r < 0 ? r : recv_packet(sd, fd ? &got : NULL);
        if (n == -EPIPE || n == -ECONNRESET) {
                /* The broker closed first (our request unread: the kernel
                 * reports a reset before the queue); it may have said why
                 * (a full broker making room, a timeout), and that ERROR
                 * is still queued for us: a full broker is tried again. */
                ssize_t e = recv_packet(sd, NULL);
                if (e > 0 && proto_decode(sd->rbuf, (size_t)e, reply) == 0 &&
                    reply->type == PROTO_ERROR && reply->id == 0)
                        return take_error(sd, reply);
        }
        if (n < 0)
                return (int)n;
        /* An ERROR with id 0 is the broker speaking on its own (a
         * timeout, or making room when full): it answers us too. */
        if (proto_decode(sd->rbuf, (size_t)n, reply) < 0 ||
            (reply->id != id && !(reply->type == PROTO_ERROR && reply->id == 0))) {
                safe_close(got);
                return -EPROTO;
        }
        if (reply->type == PROTO_ERROR) {
                safe_close(got);
                return take_error(sd, reply);
        }
        if (fd) {
                /* The fd and the NFDS field must agree. */
                if (reply->type != PROTO_OK || reply->nfds != 1 || got < 0) {
                        safe_close(got);
                        return -EPROTO;
                }
                *fd = got;
        }
        return 0;
}

/* The uid the broker must run as: root, or STEPDOWN_BROKER_UID. */
static int env_broker_uid(uid_t *uid)
{
        const char *s = getenv("STEPDOWN_BROKER_UID");
        char *end;
        if (!s || !*s) {
                *uid = 0;
                return 0;
        }
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-' || v >= UINT32_MAX)
                return -EINVAL;
        *uid = (uid_t)v;
        return 0;
}

/* Is the server the one it should be: does the process that listens on
 * the socket run as the broker's uid?  A socket another uid put in the
 * broker's place (a renamed socket directory, a changed STEPDOWN_SOCKET)
 * is refused here, key or no key. */
static int check_server_uid(struct stepdown *sd, uid_t want, struct proto_auth_peers *peers)
{
        int r = proto_auth_peers_client(sd->fd, peers);
        if (r < 0)
                return r;
        if (peers->server_uid == (uint32_t)want)
                return 0;
        unsigned got = (unsigned)peers->server_uid;
        if (want)
                snprintf(sd->msg, sizeof(sd->msg),
                         "runs as uid %u, not as uid %u (STEPDOWN_BROKER_UID): refusing it", got,
                         (unsigned)want);
        else
                snprintf(sd->msg, sizeof(sd->msg),
                         "runs as uid %u, not as root: refusing it (another user's socket in the "
                         "broker's place? if the broker does run as uid %u, set "
                         "STEPDOWN_BROKER_UID=%u)",
                         got, got, got);
        sd->have_msg = sd->server_refused = true;
        return -EPERM;
}

static int refuse_server(struct stepdown *sd, const char *why)
{
        snprintf(sd->msg, sizeof(sd->msg), "%s: refusing it", why);
        sd->have_msg = sd->server_refused = true;
        return -EPERM;
}

static int handshake(struct stepdown *sd, const uint8_t *key, uid_t broker_uid)
{
        struct proto_msg m;
        struct proto_auth_peers peers;
        uint8_t mac[PROTO_MAC_BYTES], cnonce[PROTO_NONCE_BYTES];
        uint8_t out[PROTO_HEADER_SIZE + 2 * (4 + PROTO_MAC_BYTES)];
        ssize_t n, len;
        int r;

        r = check_server_uid(sd, broker_uid, &peers);
        if (r < 0)
                return r;
        n = recv_packet(sd, NULL);
        if (n < 0)
                return (int)n;
        r = proto_decode(sd->rbuf, (size_t)n, &m);
        if (r == -EPROTONOSUPPORT) {
                snprintf(sd->msg, sizeof(sd->msg),
                         "it speaks protocol version %u, this client version %u", m.version,
                         PROTO_VERSION);
                sd->have_msg = true;
                return -EPROTONOSUPPORT;
        }
        if (r < 0)
                return -EPROTO;
        if (m.type == PROTO_ERROR) /* LIMIT: full; AUTH: this uid is not served */
                return take_error(sd, &m);
        if (m.type != PROTO_HELLO)
                return -EPROTO;
        if (m.auth_method == PROTO_AUTH_NONE) {
                /* A broker given a key always asks for it: a server that
                 * does not cannot prove it is ours. */
                return key ? refuse_server(sd, "does not ask for the key this client holds "
                                               "(AUTH_METHOD none), so it cannot prove it is the "
                                               "broker that made the key")
                           : 0;
        }
        if (!key)
                return -ENOKEY;
        /* Bound to this connection's two ends: a relay in the middle is
         * another server uid to us, or another client uid to the broker.
         * Our nonce asks the server for its proof in turn. */
        randombytes_buf(cnonce, sizeof(cnonce));
        proto_auth_mac(key, m.nonce, &peers, mac);
        len = proto_encode_auth(out, sizeof(out), sd->next_id++, mac, cnonce);
        sodium_memzero(mac, sizeof(mac));
        if (len < 0)
                return (int)len;
        n = sdlib_transact(sd, out, (size_t)len, &m, NULL);
        if (n < 0)
                return sd->kind == STEPDOWN_ERR_AUTH ? -EACCES : (int)n;
        if (m.type != PROTO_AUTH_OK)
                return -EPROTO;
        if (proto_auth_server_verify(key, cnonce, &peers, m.mac) < 0)
                return refuse_server(sd, "did not prove that it holds the key (wrong proof in "
                                         "AUTH_OK)");
        return 0;
}

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* Says why connecting to path failed, once, naming the socket. */
static void connect_msg(const struct stepdown *sd, int r, const char *path, unsigned timeout_ms,
                        bool connected, char *msg, size_t msglen)
{
        const char *bmsg = sd && sd->have_msg ? sd->msg : NULL;
        struct stat st;

        if (!msg || !msglen)
                return;
        if (!connected && r == -ENOTSOCK && stat(path, &st) == 0)
                snprintf(msg, msglen, "cannot connect to the broker at %s: it is %s, not a socket",
                         path,
                         S_ISDIR(st.st_mode)   ? "a directory"
                         : S_ISREG(st.st_mode) ? "a regular file"
                                               : "a special file");
        else if (!connected)
                snprintf(msg, msglen, "cannot connect to the broker at %s: %s", path, strerror(-r));
        else if (r == -ENOKEY)
                snprintf(msg, msglen,
                         "the broker at %s wants a key: set STEPDOWN_KEY_FILE or STEPDOWN_KEY_FD",
                         path);
        else if (r == -EAGAIN)
                snprintf(msg, msglen, "the broker at %s did not answer within %u ms", path,
                         timeout_ms);
        else if (r == -EUSERS)
                snprintf(msg, msglen, "the broker at %s stayed full for %u ms: %s", path,
                         timeout_ms, bmsg ? bmsg : strerror(-r));
        else if (r == -EPROTO)
                snprintf(msg, msglen, "%s does not speak the stepdown protocol version %u", path,
                         PROTO_VERSION);
        else if (r == -ECONNRESET)
                snprintf(msg, msglen, "the broker at %s closed the connection during the handshake",
                         path);
        else if (bmsg && sd->server_refused) /* the client refused the server */
                snprintf(msg, msglen, "the server at %s %s", path, bmsg);
        else if (bmsg) /* the broker's own words: "authentication failed: wrong key" */
                snprintf(msg, msglen, "the broker at %s: %s", path, bmsg);
        else
                snprintf(msg, msglen, "the broker at %s: %s", path, strerror(-r));
}

/* One attempt: socket, connect, handshake.  *connected says whether
 * connect(2) succeeded.  On failure *ret keeps sd (for its message) when
 * the broker said something; the caller closes it. */
static int connect_once(const char *path, const uint8_t *key, uid_t broker_uid, unsigned timeout_ms,
                        struct stepdown **ret, bool *connected)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        struct stepdown *sd;
        int r;

        *ret = NULL;
        *connected = false;
        memcpy(sa.sun_path, path, strlen(path));
        sd = calloc(1, sizeof(*sd));
        if (!sd)
                return -ENOMEM;
        *ret = sd;
        sd->next_id = 1;
        sd->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (sd->fd < 0)
                return negative_errno();
        r = stepdown_set_timeout(sd, timeout_ms);
        if (r == 0 && connect(sd->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                r = errno == EINPROGRESS || errno == EWOULDBLOCK ? -EAGAIN : negative_errno();
                /* connect(2) says ECONNREFUSED for a file that is no socket */
                struct stat st;
                if (r == -ECONNREFUSED && stat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
                        r = -ENOTSOCK;
        } else if (r == 0)
                *connected = true;
        if (r == 0)
                r = handshake(sd, key, broker_uid);
        return r;
}

/* Connects and authenticates; a full broker (EUSERS) is tried again with
 * backoff until timeout_ms (0: forever) has passed. */
static int connect_to(const char *path, const uint8_t *key, unsigned timeout_ms,
                      struct stepdown **ret, char *msg, size_t msglen)
{
        uint64_t start = now_ms();
        unsigned backoff = 5;
        struct stepdown *sd;
        bool connected;
        int r;

        uid_t broker_uid;

        *ret = NULL;
        if (!path || !*path || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
                if (msg && msglen)
                        snprintf(msg, msglen, "bad socket path \"%s\": %s", path ? path : "",
                                 path && *path ? "longer than 107 bytes" : "empty");
                return -EINVAL;
        }
        if (env_broker_uid(&broker_uid) < 0) {
                if (msg && msglen)
                        snprintf(msg, msglen, "STEPDOWN_BROKER_UID=%s: not a uid number",
                                 getenv("STEPDOWN_BROKER_UID"));
                return -EINVAL;
        }
        for (;;) {
                r = connect_once(path, key, broker_uid, timeout_ms, &sd, &connected);
                if (r == 0)
                        break;
                uint64_t spent = now_ms() - start;
                if (r != -EUSERS || (timeout_ms && spent >= timeout_ms)) {
                        connect_msg(sd, r, path, timeout_ms, connected, msg, msglen);
                        stepdown_close(sd);
                        return r;
                }
                stepdown_close(sd);
                /* Full: wait a little (jittered, so a crowd spreads out)
                 * and knock again. */
                unsigned wait = backoff / 2 + randombytes_uniform(backoff / 2 + 1);
                if (timeout_ms && spent + wait > timeout_ms)
                        wait = (unsigned)(timeout_ms - spent);
                sleep_ms(wait ? wait : 1);
                if (backoff < 500)
                        backoff *= 2;
        }
        reset_error(sd);
        *ret = sd;
        return 0;
}

int stepdown_connect_to(const char *path, const uint8_t *key, struct stepdown **sd)
{
        return connect_to(path, key, DEFAULT_TIMEOUT_MS, sd, NULL, 0);
}

int stepdown_connect_msg(struct stepdown **sd, char *msg, size_t msglen)
{
        uint8_t key[STEPDOWN_KEY_BYTES];
        const char *path = getenv("STEPDOWN_SOCKET");
        const char *t = getenv("STEPDOWN_TIMEOUT");
        char scratch[8];
        unsigned timeout;
        int r, have;

        *sd = NULL;
        if (!msg || !msglen)
                msg = scratch, msglen = sizeof(scratch);
        msg[0] = '\0';
        if (!path || !*path)
                path = DEFAULT_SOCKET;
        r = env_timeout(&timeout);
        if (r < 0) {
                snprintf(msg, msglen,
                         "STEPDOWN_TIMEOUT=%s: not a number of seconds from 0 to 86400", t);
                return r;
        }
        have = sdlib_load_key(key, msg, msglen);
        if (have < 0)
                return have;
        r = connect_to(path, have ? key : NULL, timeout, sd, msg, msglen);
        sodium_memzero(key, sizeof(key));
        return r;
}

int stepdown_connect(struct stepdown **sd)
{
        return stepdown_connect_msg(sd, NULL, 0);
}

void stepdown_close(struct stepdown *sd)
{
        if (!sd)
                return;
        safe_close(sd->fd);
        free(sd);
}

const char *stepdown_errmsg(const struct stepdown *sd)
{
        return sd && sd->have_msg ? sd->msg : NULL;
}

enum stepdown_error_kind stepdown_error_kind(const struct stepdown *sd)
{
        return sd ? sd->kind : STEPDOWN_ERR_NONE;
}

bool stepdown_refused(const struct stepdown *sd)
{
        return stepdown_error_kind(sd) == STEPDOWN_ERR_REFUSED;
}
