/* The broker's event loop side: the listener, one struct conn_state per
 * peer (socket, events, handshake state, queued replies), receiving and
 * checking packets, and sending replies with their fds.  What a request
 * means is dispatch.c's business.  A bad peer is answered and/or dropped;
 * the broker lives on (STYLE.md habit 4). */
#include <errno.h>
#include <event2/event.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "log.h"
#include "match.h"
#include "policy.h"
#include "util.h"

#define STR_(x)   #x
#define STRING(x) STR_(x)

enum conn_phase { PHASE_HELLO, PHASE_READY };

struct queued {
        uint8_t *buf;
        size_t len;
        int fd;
};

struct conn_state {
        struct conn c; /* first: handlers get &state->c */
        int fd;
        enum conn_phase phase;
        uint8_t nonce[PROTO_NONCE_BYTES];
        struct event *ev_read, *ev_write, *ev_timer;
        time_t last_active;
        struct queued outq[BROKER_MAX_INFLIGHT];
        unsigned n_out;
        LIST_ENTRY(conn_state) link;
};

struct broker {
        struct event_base *base;
        struct broker_config cfg;
        int listen_fd;
        struct event *ev_accept, *ev_resume;
        LIST_HEAD(, conn_state) conns;
        unsigned n_conns;
        unsigned long serial;
        uint32_t listen_uid; /* the listening socket's uid, as clients see it */
};

static time_t now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec;
}

static void event_freep(struct event **e)
{
        if (*e)
                event_free(*e);
        *e = NULL;
}

static void conn_free(struct conn_state *s)
{
        struct broker *b = s->c.broker;

        LIST_REMOVE(s, link);
        b->n_conns--;
        event_freep(&s->ev_read);
        event_freep(&s->ev_write);
        event_freep(&s->ev_timer);
        for (unsigned i = 0; i < s->n_out; i++) {
                free(s->outq[i].buf);
                safe_close(s->outq[i].fd);
        }
        safe_close(s->fd);
        peer_clear(&s->c.peer);
        free(s);
}

static void conn_log_drop(const struct conn_state *s, const char *why)
{
        log_warn("client %lu (pid %d uid %u): %s; dropping it", s->c.serial, (int)s->c.peer.pid,
                 (unsigned)s->c.peer.uid, why);
}

static void conn_drop(struct conn_state *s, const char *why)
{
        if (why)
                conn_log_drop(s, why);
        conn_free(s);
}

/* Sends one packet (with fd, if >= 0) without blocking.  0, -EAGAIN, or
 * -errno for a dead peer. */
static int send_packet(int sock, const uint8_t *buf, size_t len, int fd)
{
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } u;
        struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

        if (fd >= 0) {
                memset(&u, 0, sizeof(u));
                mh.msg_control = u.buf;
                mh.msg_controllen = sizeof(u.buf);
                struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        }
        if (sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
                return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
        return 0;
}

/* Sends a reply packet, or queues it when the peer is not reading.  Takes
 * ownership of fd.  Returns 0, or -1 when the connection was dropped. */
static int conn_send(struct conn_state *s, const uint8_t *buf, size_t len, int fd)
{
        int r = -EAGAIN;

        if (s->n_out == 0)
                r = send_packet(s->fd, buf, len, fd);
        if (r == 0) {
                safe_close(fd);
                return 0;
        }
        if (r != -EAGAIN) {
                safe_close(fd);
                conn_drop(s, NULL); /* gone: nothing to say to it */
                return -1;
        }
        if (s->n_out == BROKER_MAX_INFLIGHT) {
                safe_close(fd);
                conn_drop(s, "too many requests in flight (it does not read its replies, "
                             "limit " STRING(BROKER_MAX_INFLIGHT) ")");
                return -1;
        }
        struct queued *q = &s->outq[s->n_out];
        q->buf = malloc(len);
        if (!q->buf) {
                safe_close(fd);
                conn_drop(s, "out of memory queueing a reply");
                return -1;
        }
        memcpy(q->buf, buf, len);
        q->len = len;
        q->fd = fd;
        s->n_out++;
        event_add(s->ev_write, NULL);
        return 0;
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
        struct conn_state *s = arg;
        unsigned done = 0;
        (void)fd;
        (void)what;

        while (done < s->n_out) {
                struct queued *q = &s->outq[done];
                int r = send_packet(s->fd, q->buf, q->len, q->fd);
                if (r == -EAGAIN)
                        break;
                if (r < 0) {
                        conn_drop(s, NULL);
                        return;
                }
                free(q->buf);
                q->fd = safe_close(q->fd);
                done++;
        }
        memmove(s->outq, s->outq + done, (s->n_out - done) * sizeof(s->outq[0]));
        s->n_out -= done;
        if (s->n_out == 0)
                event_del(s->ev_write);
}

/* Encodes and sends an ERROR; drops the connection after it when close. */
static int conn_error(struct conn_state *s, uint32_t id, int err, enum proto_error_kind kind,
                      const char *msg, bool close)
{
        uint8_t buf[PROTO_MAX_MSG];
        ssize_t n = proto_encode_error(buf, sizeof(buf), id, err, kind, msg);

        /* Logged before the reply leaves: whoever reads the reply (and
         * prints what it got) finds the broker's line already written, never
         * in the middle of its own output (issue 18, item 9). */
        if (close)
                conn_log_drop(s, msg);
        if (n < 0 || conn_send(s, buf, (size_t)n, -1) < 0)
                return -1;
        if (close) {
                conn_drop(s, NULL);
                return -1;
        }
        return 0;
}

static int conn_reply(struct conn_state *s, uint32_t id, struct reply *r)
{
        uint8_t buf[PROTO_MAX_MSG];
        ssize_t n;
        int fd = -1;

        switch (r->type) {
        case PROTO_OK:
                n = proto_encode_ok(buf, sizeof(buf), id, r->count, r->fd >= 0 ? 1 : 0);
                fd = TAKE_FD(r->fd);
                break;
        case PROTO_ALLOWED_REPLY:
                n = proto_encode_allowed_reply(buf, sizeof(buf), id, r->text ? r->text : "");
                break;
        default:
                n = proto_encode_error(buf, sizeof(buf), id, r->err, r->kind, r->msg);
                break;
        }
        if (n < 0) {
                safe_close(fd);
                n = proto_encode_error(buf, sizeof(buf), id, EIO, PROTO_ERR_FAILED,
                                       "the broker could not encode its reply");
                if (n < 0)
                        return -1;
        }
        return conn_send(s, buf, (size_t)n, fd);
}

static int handle_auth(struct conn_state *s, const struct proto_msg *m)
{
        if (m->type != PROTO_AUTH) {
                dispatch_audit_auth(&s->c, "no AUTH after HELLO");
                return conn_error(s, m->id, EACCES, PROTO_ERR_AUTH,
                                  "authenticate first: the broker expects AUTH after HELLO", true);
        }
        /* The MAC covers both ends as the kernel shows them: a process in
         * the middle sees another server uid, or is another client uid. */
        struct proto_auth_peers peers = {.server_uid = s->c.broker->listen_uid,
                                         .client_uid = (uint32_t)s->c.peer.uid};
        uint8_t proof[PROTO_MAC_BYTES];
        if (auth_check(s->c.cfg->key, s->nonce, &peers, m, proof) < 0) {
                dispatch_audit_auth(&s->c, "authentication failed: wrong key");
                return conn_error(s, m->id, EACCES, PROTO_ERR_AUTH,
                                  "authentication failed: wrong key", true);
        }
        sodium_memzero(s->nonce, sizeof(s->nonce));
        s->phase = PHASE_READY;
        struct timeval tv = {.tv_sec = s->c.cfg->idle_timeout_s};
        event_add(s->ev_timer, &tv);

        uint8_t buf[PROTO_HEADER_SIZE + 4 + PROTO_MAC_BYTES];
        ssize_t n = proto_encode_auth_ok(buf, sizeof(buf), m->id, proof); /* we hold the key too */
        return n < 0 ? -1 : conn_send(s, buf, (size_t)n, -1);
}

/* Reads and answers one packet.  Returns 1 to go on, 0 when nothing is
 * left to read, -1 when the connection is gone. */
static int conn_read_one(struct conn_state *s)
{
        uint8_t buf[PROTO_MAX_MSG];
        union {
                char buf[CMSG_SPACE(16 * sizeof(int))];
                struct cmsghdr align;
        } u;
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = u.buf,
                            .msg_controllen = sizeof(u.buf)};
        struct proto_msg m;
        bool had_fds = false;
        char why[160];

        ssize_t n = recvmsg(s->fd, &mh, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
        if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                        return 0;
                conn_drop(s, NULL);
                return -1;
        }
        if (n == 0) { /* end of file */
                conn_drop(s, NULL);
                return -1;
        }
        s->last_active = now_s();

        /* Fds a client sends are closed unread. */
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
                if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < nfd; i++) {
                        int fd;
                        memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                        close(fd);
                }
                had_fds = true;
        }
        if (mh.msg_flags & MSG_CTRUNC)
                had_fds = true;

        bool authed = s->phase == PHASE_READY;
        if ((size_t)n > sizeof(buf)) {
                snprintf(why, sizeof(why), "message of %zd bytes is over the limit of %d", n,
                         PROTO_MAX_MSG);
                /* The header may still be there: echo its id if so. */
                memset(&m, 0, sizeof(m));
                proto_decode(buf, sizeof(buf), &m);
                return conn_error(s, m.id, EMSGSIZE, PROTO_ERR_LIMIT, why, !authed) < 0 ? -1 : 1;
        }

        int r = proto_decode(buf, (size_t)n, &m);
        if (r < 0) {
                snprintf(why, sizeof(why), "bad message: %s", m.why ? m.why : "undecodable");
                return conn_error(s, m.id, -r, PROTO_ERR_BAD_REQUEST, why, !authed) < 0 ? -1 : 1;
        }
        if (had_fds)
                return conn_error(s, m.id, EBADMSG, PROTO_ERR_BAD_REQUEST,
                                  "the broker accepts no file descriptors from clients "
                                  "(closed unread)",
                                  !authed) < 0
                           ? -1
                           : 1;
        if (!authed)
                return handle_auth(s, &m) < 0 ? -1 : 1;
        if (m.type == PROTO_AUTH)
                return conn_error(s, m.id, EALREADY, PROTO_ERR_BAD_REQUEST, "already authenticated",
                                  false) < 0
                           ? -1
                           : 1;

        struct reply rp;
        reply_init(&rp);
        dispatch(&s->c, &m, &rp);
        r = conn_reply(s, m.id, &rp);
        reply_done(&rp);
        return r < 0 ? -1 : 1;
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
        struct conn_state *s = arg;
        (void)fd;
        (void)what;

        for (unsigned i = 0; i < BROKER_MSGS_PER_WAKE; i++)
                if (conn_read_one(s) <= 0)
                        return;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
        struct conn_state *s = arg;
        const struct broker_config *cfg = s->c.cfg;
        char why[96];
        (void)fd;
        (void)what;

        if (s->phase == PHASE_HELLO) {
                snprintf(why, sizeof(why), "did not authenticate within %u s", cfg->auth_timeout_s);
                conn_error(s, 0, ETIMEDOUT, PROTO_ERR_LIMIT, why, true);
                return;
        }
        time_t idle = now_s() - s->last_active;
        if (idle < (time_t)cfg->idle_timeout_s) {
                struct timeval tv = {.tv_sec = (time_t)cfg->idle_timeout_s - idle};
                event_add(s->ev_timer, &tv);
                return;
        }
        snprintf(why, sizeof(why), "idle for %u s", cfg->idle_timeout_s);
        conn_error(s, 0, ETIMEDOUT, PROTO_ERR_LIMIT, why, true);
}

/* Takes ownership of fd and of the peer's memory. */
static void conn_new(struct broker *b, int fd, struct peer *peer)
{
        uint8_t buf[PROTO_MAX_MSG];
        struct conn_state *s = calloc(1, sizeof(*s));

        if (!s) {
                peer_clear(peer);
                close(fd);
                return;
        }
        s->fd = fd;
        s->c.broker = b;
        s->c.cfg = &b->cfg;
        s->c.serial = ++b->serial;
        s->c.peer = *peer;
        s->last_active = now_s();
        LIST_INSERT_HEAD(&b->conns, s, link);
        b->n_conns++;
        s->ev_read = event_new(b->base, fd, EV_READ | EV_PERSIST, on_readable, s);
        s->ev_write = event_new(b->base, fd, EV_WRITE | EV_PERSIST, on_writable, s);
        s->ev_timer = event_new(b->base, -1, 0, on_timer, s);
        if (!s->ev_read || !s->ev_write || !s->ev_timer) {
                conn_drop(s, "out of memory");
                return;
        }

        randombytes_buf(s->nonce, sizeof(s->nonce));
        ssize_t n = proto_encode_hello(buf, sizeof(buf), 0,
                                       b->cfg.key ? PROTO_AUTH_MAC : PROTO_AUTH_NONE, s->nonce);
        if (n < 0 || conn_send(s, buf, (size_t)n, -1) < 0)
                return;
        s->phase = b->cfg.key ? PHASE_HELLO : PHASE_READY;
        struct timeval tv = {.tv_sec = s->phase == PHASE_HELLO ? b->cfg.auth_timeout_s
                                                               : b->cfg.idle_timeout_s};
        event_add(s->ev_timer, &tv);
        event_add(s->ev_read, NULL);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
        struct broker *b = arg;
        (void)fd;
        (void)what;
        event_add(b->ev_accept, NULL);
}

/* Answers a peer refused at accept with one ERROR and closes it.  Not
 * logged: a flood of refused peers must not flood the log; the peer is
 * told why. */
static void refuse(int fd, int err, enum proto_error_kind kind, const char *msg)
{
        uint8_t buf[512];
        ssize_t n = proto_encode_error(buf, sizeof(buf), 0, err, kind, msg);
        if (n > 0)
                (void)send_packet(fd, buf, (size_t)n, -1);
        close(fd);
}

/* May this peer connect at all?  Root, the launch user, and any uid that
 * some allow rule names (by uid, group or "*"); anyone else could never
 * be allowed anything, so it gets no slot to hold. */
static bool peer_welcome(const struct broker *b, const struct peer *p)
{
        const struct policy *pol = b->cfg.policy;

        if (!pol || p->uid == 0 || (pol->user && p->uid == pol->user_uid))
                return true;
        return policy_names_caller(pol, p->uid, p->gid, p->groups, p->n_groups);
}

static unsigned conns_of(const struct broker *b, uid_t uid)
{
        unsigned n = 0;
        for (const struct conn_state *s = LIST_FIRST(&b->conns); s; s = LIST_NEXT(s, link))
                n += s->c.peer.uid == uid;
        return n;
}

/* The table is full and a peer holding mine connections knocks:
 * drop the oldest connection that has not authenticated yet of the uid
 * holding the most, if that uid holds at least two more than the
 * newcomer's.  A client that has the key authenticates within
 * milliseconds, so only a peer without it (holding its slots until the
 * auth timeout) loses them: no uid can keep another out by connecting in
 * a loop.  true when a slot was freed. */
static bool evict_for(struct broker *b, unsigned mine)
{
        struct conn_state *s, *victim = NULL;
        unsigned most = 0;

        for (s = LIST_FIRST(&b->conns); s; s = LIST_NEXT(s, link)) {
                if (s->phase != PHASE_HELLO)
                        continue;
                unsigned n = conns_of(b, s->c.peer.uid);
                if (n > most || (n == most && victim && s->c.serial < victim->c.serial)) {
                        most = n;
                        victim = s;
                }
        }
        if (!victim || most < mine + 2)
                return false;
        char why[160];
        snprintf(why, sizeof(why),
                 "dropped before it authenticated to make room: the broker is full "
                 "(%u clients) and uid %u holds %u of them",
                 b->cfg.max_conns, (unsigned)victim->c.peer.uid, most);
        conn_error(victim, 0, EUSERS, PROTO_ERR_LIMIT, why, true);
        return true;
}

/* Decides on one accepted connection: refused with a reason, or served. */
static void admit(struct broker *b, int fd)
{
        struct peer peer;
        char msg[192];
        int r = peer_read(fd, &peer);

        if (r < 0) {
                log_warn("a new client: reading its credentials: %s", strerror(-r));
                close(fd);
                return;
        }
        if (!peer_welcome(b, &peer)) {
                snprintf(msg, sizeof(msg),
                         "uid %u: no allow rule names this uid or its groups; not served",
                         (unsigned)peer.uid);
                peer_clear(&peer);
                refuse(fd, EACCES, PROTO_ERR_AUTH, msg);
                return;
        }
        unsigned mine = conns_of(b, peer.uid);
        if (b->cfg.max_conns_per_uid < b->cfg.max_conns && mine >= b->cfg.max_conns_per_uid) {
                snprintf(msg, sizeof(msg),
                         "too many clients: the broker serves at most %u at once for one uid "
                         "(uid %u)",
                         b->cfg.max_conns_per_uid, (unsigned)peer.uid);
                peer_clear(&peer);
                refuse(fd, EUSERS, PROTO_ERR_LIMIT, msg);
                return;
        }
        if (b->n_conns >= b->cfg.max_conns && !evict_for(b, mine)) {
                snprintf(msg, sizeof(msg), "too many clients: the broker serves at most %u at once",
                         b->cfg.max_conns);
                peer_clear(&peer);
                refuse(fd, EUSERS, PROTO_ERR_LIMIT, msg);
                return;
        }
        peer_identify(fd, &peer);
        conn_new(b, fd, &peer);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
        struct broker *b = arg;
        (void)what;

        for (int i = 0; i < 16; i++) {
                int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd < 0) {
                        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                            errno == ENOMEM) {
                                /* Out of fds: stop accepting for a second
                                 * instead of spinning on a readable listener. */
                                struct timeval tv = {.tv_sec = 1};
                                log_warn("accept: %s; pausing new connections for 1 s",
                                         strerror(errno));
                                event_del(b->ev_accept);
                                event_add(b->ev_resume, &tv);
                        }
                        return;
                }
                admit(b, fd);
        }
}

int broker_new(struct event_base *base, int listen_fd, const struct broker_config *cfg,
               struct broker **out)
{
        struct broker *b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->base = base;
        b->cfg = *cfg;
        if (!b->cfg.max_conns)
                b->cfg.max_conns = BROKER_MAX_CONNS;
        if (!b->cfg.max_conns_per_uid)
                b->cfg.max_conns_per_uid = b->cfg.max_conns / 2 ? b->cfg.max_conns / 2 : 1;
        if (!b->cfg.auth_timeout_s)
                b->cfg.auth_timeout_s = BROKER_AUTH_TIMEOUT;
        if (!b->cfg.idle_timeout_s)
                b->cfg.idle_timeout_s = BROKER_IDLE_TIMEOUT;
        if (!b->cfg.max_chown_entries)
                b->cfg.max_chown_entries = BROKER_MAX_CHOWN_ENTRIES;
        b->listen_fd = listen_fd;
        LIST_INIT(&b->conns);
        /* What a client's SO_PEERCRED shows of us: the credentials of
         * whoever called listen() (us, or systemd for socket activation). */
        struct ucred uc;
        socklen_t uclen = sizeof(uc);
        if (getsockopt(listen_fd, SOL_SOCKET, SO_PEERCRED, &uc, &uclen) < 0) {
                int e = -errno;
                free(b);
                return e;
        }
        b->listen_uid = (uint32_t)uc.uid;
        b->ev_accept = event_new(base, listen_fd, EV_READ | EV_PERSIST, on_accept, b);
        b->ev_resume = event_new(base, -1, 0, on_resume, b);
        if (!b->ev_accept || !b->ev_resume || event_add(b->ev_accept, NULL) < 0) {
                broker_free(b);
                return -ENOMEM;
        }
        *out = b;
        return 0;
}

void broker_free(struct broker *b)
{
        if (!b)
                return;
        while (!LIST_EMPTY(&b->conns))
                conn_free(LIST_FIRST(&b->conns));
        event_freep(&b->ev_accept);
        event_freep(&b->ev_resume);
        free(b);
}

unsigned broker_n_conns(const struct broker *b)
{
        return b->n_conns;
}
