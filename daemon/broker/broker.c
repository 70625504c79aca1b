/* The broker's event loop side: the listener, one struct conn_state per
 * peer (socket, events, handshake state, queued replies), receiving and
 * checking packets, and sending replies with their fds.  What a request
 * means is daemon/request's business.  A bad peer is answered and/or
 * dropped; the broker lives on (STYLE.md habit 4). */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "broker.h"
#include "fdpass.h"
#include "log.h"
#include "match.h"
#include "ops.h"
#include "policy.h"
#include "request.h"
#include "util.h"

#define STR_(x)   #x
#define STRING(x) STR_(x)

enum conn_phase { PHASE_HELLO, PHASE_READY };

struct queued {
        uint8_t *buf;
        size_t len;
        int fd;
};

/* The connections of one peer uid, counted as they come and go, so that
 * admit() and the reclaim find how many a uid holds without a scan. */
struct uid_tally {
        uid_t uid;
        unsigned n;     /* connections */
        unsigned hello; /* of them not authenticated yet */
        LIST_ENTRY(uid_tally) link;
};

/* Refusals at accept and connections dropped to make room, counted per
 * uid and reason between two audit records (refusal_note()).  Reasons: */
enum refusal {
        REFUSE_UNNAMED,
        REFUSE_UID_FULL,
        REFUSE_FULL,
        EVICT_HELLO, /* dropped to make room: not authenticated */
        EVICT_IDLE,  /* ... idle longest */
        REFUSE_N
};
struct refused {
        bool used;
        enum refusal why;
        uid_t uid; /* the last such peer's credentials */
        gid_t gid;
        pid_t pid;
        unsigned long count; /* since the last record */
        time_t since;        /* ... which was written then */
};

struct conn_state {
        struct conn c; /* first: handlers get &state->c */
        int fd;
        enum conn_phase phase;
        struct uid_tally *tally;
        uint8_t nonce[PROTO_NONCE_BYTES];
        struct event *ev_read, *ev_write, *ev_timer;
        time_t last_active; /* accept, AUTH, or the last operation request (not PING) */
        uint64_t accepted_ms;
        struct queued outq[BROKER_MAX_INFLIGHT];
        unsigned n_out;
        struct job *job; /* its long request in the worker (reading paused), or NULL */
        LIST_ENTRY(conn_state) link;
};

/* A long request (request_is_long(): a recursive chown) runs its act in
 * the worker thread, so that the loop serves the other clients meanwhile
 * (issue 21 item 3).  The loop matches it and writes its intent record
 * (dispatch), queues it, and stops reading from its connection; the
 * worker runs request_act() and hands it back through a pipe; the loop
 * writes the outcome record and replies (dispatch_finish).  So the audit
 * bracket stays in order around the act, every record is written by the
 * loop, and a connection has one request at a time as before.  One
 * worker, jobs in arrival order: walks wait for each other, nothing else
 * waits for a walk.  The thread is started at the first long request,
 * after the hardening, whose seccomp filter, Landlock domain and
 * capabilities it inherits. */
struct job {
        struct deferred d;
        struct conn_state *s; /* NULL once the connection is gone */
        uint32_t msg_id;
        struct job *next;
};

struct worker {
        pthread_t thread;
        bool started, quit;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        struct job *todo, **todo_tail; /* for the worker, in order */
        struct job *done;              /* back to the loop */
        unsigned pending;              /* queued, running or not yet finished by the loop */
        int pipe[2];                   /* worker -> loop: a job is done */
        struct event *ev_done;
};

struct broker {
        struct event_base *base;
        struct broker_config cfg;
        int listen_fd;
        struct event *ev_accept, *ev_resume;
        LIST_HEAD(, conn_state) conns;
        unsigned n_conns;
        LIST_HEAD(, uid_tally) uids;
        unsigned n_uids;
        struct refused refused[BROKER_REFUSED_UIDS];
        unsigned long refused_other[REFUSE_N]; /* refused from uids beyond the table */
        time_t refused_other_since;
        struct event *ev_refused;
        struct event *ev_seal; /* audit seals by time (audit_seal_due) */
        unsigned long serial;
        uint32_t listen_uid;    /* the listening socket's uid, as clients see it */
        struct request_ctx req; /* what the request pipeline keeps between requests */
        struct worker w;
        struct job *spare; /* the next request's, until one is deferred */
};

static time_t now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec;
}

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void event_freep(struct event **e)
{
        if (*e)
                event_free(*e);
        *e = NULL;
}

static struct uid_tally *tally_find(const struct broker *b, uid_t uid)
{
        struct uid_tally *t;
        for (t = LIST_FIRST(&b->uids); t; t = LIST_NEXT(t, link))
                if (t->uid == uid)
                        return t;
        return NULL;
}

/* Counts s in its uid's tally (a new one for a uid not present), as not
 * authenticated yet.  false when out of memory. */
static bool tally_add(struct broker *b, struct conn_state *s)
{
        struct uid_tally *t = tally_find(b, s->c.peer.uid);

        if (!t) {
                t = calloc(1, sizeof(*t));
                if (!t)
                        return false;
                t->uid = s->c.peer.uid;
                LIST_INSERT_HEAD(&b->uids, t, link);
                b->n_uids++;
        }
        t->n++;
        t->hello++;
        s->tally = t;
        return true;
}

static void tally_remove(struct broker *b, struct conn_state *s)
{
        struct uid_tally *t = s->tally;

        if (!t)
                return;
        t->n--;
        t->hello -= s->phase == PHASE_HELLO;
        s->tally = NULL;
        if (t->n == 0) {
                LIST_REMOVE(t, link);
                b->n_uids--;
                free(t);
        }
}

/* Authenticated (or `key none`): the idle time starts now. */
static void conn_ready(struct conn_state *s)
{
        if (s->phase == PHASE_HELLO && s->tally)
                s->tally->hello--;
        s->phase = PHASE_READY;
        s->last_active = now_s();
}

static void conn_free(struct conn_state *s)
{
        struct broker *b = s->c.broker;

        if (s->job) /* finished without a reply */
                s->job->s = NULL;
        LIST_REMOVE(s, link);
        b->n_conns--;
        tally_remove(b, s);
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
        ssize_t n = fdpass_send(sock, buf, len, fd, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0)
                return n == -EWOULDBLOCK ? -EAGAIN : (int)n;
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
                dispatch_audit_auth(&s->c.broker->req, &s->c.peer, "no AUTH after HELLO");
                return conn_error(s, m->id, EACCES, PROTO_ERR_AUTH,
                                  "authenticate first: the broker expects AUTH after HELLO", true);
        }
        /* The MAC covers both ends as the kernel shows them: a process in
         * the middle sees another server uid, or is another client uid. */
        struct proto_auth_peers peers = {.server_uid = s->c.broker->listen_uid,
                                         .client_uid = (uint32_t)s->c.peer.uid};
        uint8_t proof[PROTO_MAC_BYTES];
        if (auth_check(s->c.cfg->key, s->nonce, &peers, m, proof) < 0) {
                dispatch_audit_auth(&s->c.broker->req, &s->c.peer,
                                    "authentication failed: wrong key");
                return conn_error(s, m->id, EACCES, PROTO_ERR_AUTH,
                                  "authentication failed: wrong key", true);
        }
        sodium_memzero(s->nonce, sizeof(s->nonce));
        conn_ready(s);
        struct timeval tv = {.tv_sec = s->c.cfg->idle_timeout_s};
        event_add(s->ev_timer, &tv);

        uint8_t buf[PROTO_HEADER_SIZE + 4 + PROTO_MAC_BYTES];
        ssize_t n = proto_encode_auth_ok(buf, sizeof(buf), m->id, proof); /* we hold the key too */
        return n < 0 ? -1 : conn_send(s, buf, (size_t)n, -1);
}

const char *broker_test_hold;

/* The test hook above: waits until broker_test_hold exists. */
static void test_hold(void)
{
        struct stat st;
        for (int i = 0; i < 6000 && fstatat(AT_FDCWD, broker_test_hold, &st, 0) < 0; i++)
                (void)poll(NULL, 0, 10);
}

static void *worker_main(void *arg)
{
        struct worker *w = arg;
        /* Below the loop: a request that wakes the loop gets the CPU from
         * a walk at once (Linux: this thread's nice value only). */
        if (setpriority(PRIO_PROCESS, 0, BROKER_WORKER_NICE) < 0)
                log_warn("worker thread: setpriority: %s", strerror(errno));
        pthread_mutex_lock(&w->mu);
        for (;;) {
                while (!w->todo && !w->quit)
                        pthread_cond_wait(&w->cv, &w->mu);
                struct job *j = w->todo;
                if (!j)
                        break; /* quit, and nothing left */
                w->todo = j->next;
                if (!w->todo)
                        w->todo_tail = &w->todo;
                pthread_mutex_unlock(&w->mu);
                if (broker_test_hold)
                        test_hold();
                request_act(&j->d.open, &j->d.call, &j->d.res);
                pthread_mutex_lock(&w->mu);
                j->next = w->done;
                w->done = j;
                char c = 0;
                (void)!write(w->pipe[1], &c, 1); /* a full pipe has a wake-up in it already */
        }
        pthread_mutex_unlock(&w->mu);
        return NULL;
}

/* Hands j to the worker (started now if it is not yet) and pauses its
 * connection.  0, or -errno when there is no worker (then the caller
 * runs the act itself). */
static int worker_queue(struct broker *b, struct job *j)
{
        struct worker *w = &b->w;
        if (!w->ev_done)
                return -ENOSYS;
        if (!w->started) {
                int e = pthread_create(&w->thread, NULL, worker_main, w);
                if (e) {
                        log_warn("starting the worker thread: %s; long requests run in the loop",
                                 strerror(e));
                        event_freep(&w->ev_done);
                        return -e;
                }
                w->started = true;
        }
        j->s->job = j;
        event_del(j->s->ev_read);
        pthread_mutex_lock(&w->mu);
        j->next = NULL;
        *w->todo_tail = j;
        w->todo_tail = &j->next;
        w->pending++;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        return 0;
}

/* The loop's half of finished jobs: outcome record, reply, reading on. */
static void worker_finish(struct broker *b)
{
        struct worker *w = &b->w;
        pthread_mutex_lock(&w->mu);
        struct job *done = w->done;
        w->done = NULL;
        pthread_mutex_unlock(&w->mu);
        /* the list is newest first: reverse it */
        struct job *list = NULL;
        while (done) {
                struct job *next = done->next;
                done->next = list;
                list = done;
                done = next;
        }
        for (struct job *j = list, *next; j; j = next) {
                next = j->next;
                struct reply rp;
                reply_init(&rp);
                dispatch_finish(&b->req, &j->d, &rp);
                struct conn_state *s = j->s;
                if (s) {
                        s->job = NULL;
                        event_add(s->ev_read, NULL);
                        (void)conn_reply(s, j->msg_id, &rp); /* may drop s */
                }
                reply_done(&rp);
                free(j);
                w->pending--;
        }
}

static void on_worker_done(evutil_socket_t fd, short what, void *arg)
{
        char buf[64];
        (void)what;
        while (read(fd, buf, sizeof(buf)) > 0)
                ;
        worker_finish(arg);
}

/* Waits for every job handed to the worker and finishes it (stop). */
static void worker_drain(struct broker *b)
{
        struct worker *w = &b->w;
        while (w->started && w->pending) {
                struct pollfd pfd = {.fd = w->pipe[0], .events = POLLIN};
                if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
                        break;
                on_worker_done(w->pipe[0], 0, b);
        }
}

static void worker_stop(struct broker *b)
{
        struct worker *w = &b->w;
        worker_drain(b);
        if (w->started) {
                pthread_mutex_lock(&w->mu);
                w->quit = true;
                pthread_cond_signal(&w->cv);
                pthread_mutex_unlock(&w->mu);
                pthread_join(w->thread, NULL);
                w->started = false;
        }
        event_freep(&w->ev_done);
        if (w->pipe[0] >= 0) {
                close(w->pipe[0]);
                close(w->pipe[1]);
                w->pipe[0] = w->pipe[1] = -1;
        }
}

/* The pipe and its event, made before the hardening (pipe2 is not on the
 * seccomp allowlist); the thread comes later. */
static int worker_init(struct broker *b)
{
        struct worker *w = &b->w;
        w->todo_tail = &w->todo;
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->cv, NULL);
        if (pipe2(w->pipe, O_CLOEXEC | O_NONBLOCK) < 0)
                return -errno;
        w->ev_done = event_new(b->base, w->pipe[0], EV_READ | EV_PERSIST, on_worker_done, b);
        if (!w->ev_done || event_add(w->ev_done, NULL) < 0)
                return -ENOMEM;
        return 0;
}

/* Reads and answers one packet.  Returns 1 to go on, 0 when nothing is
 * left to read, -1 when the connection is gone. */
static int conn_read_one(struct conn_state *s)
{
        uint8_t buf[PROTO_MAX_MSG];
        FDPASS_CTRL(16) u;
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = u.buf,
                            .msg_controllen = sizeof(u.buf)};
        struct proto_msg m;
        char why[160];

        ssize_t n = recvmsg(s->fd, &mh, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
        if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                        return 0;
                conn_drop(s, NULL);
                return -1;
        }
        /* Fds a client sends are closed unread (MSG_CTRUNC: some it sent
         * were dropped by the kernel), an empty message's too: on
         * SOCK_SEQPACKET n == 0 is one as well as the end of file. */
        bool had_fds = fdpass_close_all(&mh);
        if (n == 0) { /* end of file, or an empty message: either way, gone */
                conn_drop(s, NULL);
                return -1;
        }

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

        /* Only an operation counts as activity for the idle timeout: a
         * client that merely pings (or sends what is refused unread) does
         * not keep its slot (issue 17 item 9). */
        const struct dispatch_entry *e = dispatch_find(m.type);
        if (e && (e->flags & DISPATCH_AUDIT))
                s->last_active = now_s();
        struct broker *b = s->c.broker;
        if (!b->spare && !(b->spare = calloc(1, sizeof(*b->spare))))
                return conn_error(s, m.id, ENOMEM, PROTO_ERR_FAILED, "out of memory", false) < 0
                           ? -1
                           : 1;
        struct reply rp;
        reply_init(&rp);
        if (dispatch(&b->req, &s->c.peer, &m, &rp, &b->spare->d)) {
                struct job *j = b->spare;
                b->spare = NULL;
                j->s = s;
                j->msg_id = m.id;
                if (worker_queue(b, j) == 0)
                        return 0; /* the reply comes when the worker is done */
                /* no thread: the act runs here, as it always did */
                request_act(&j->d.open, &j->d.call, &j->d.res);
                dispatch_finish(&b->req, &j->d, &rp);
                j->s = NULL;
                free(j);
        }
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
        s->accepted_ms = now_ms();
        LIST_INSERT_HEAD(&b->conns, s, link);
        b->n_conns++;
        if (!tally_add(b, s)) {
                conn_drop(s, "out of memory");
                return;
        }
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
        if (!b->cfg.key)
                conn_ready(s);
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

/* Why a peer was refused at accept or dropped to make room: its errno,
 * and the words of the audit record (the peer itself is told more, with
 * numbers). */
static const struct {
        int err;
        const char *why;
} refusals[REFUSE_N] = {
    [REFUSE_UNNAMED] = {EACCES, "refused at accept: no allow rule names this uid or its groups"},
    [REFUSE_UID_FULL] = {EUSERS,
                         "refused at accept: this uid holds its share of the broker's connections"},
    [REFUSE_FULL] = {EUSERS, "refused at accept: the broker is full"},
    [EVICT_HELLO] = {EUSERS, "dropped before it authenticated, to make room"},
    [EVICT_IDLE] = {EUSERS, "dropped as the connection idle longest, to make room"},
};

/* One audit record for count refusals of one uid (r) or of the uids
 * beyond the table (r NULL) since `since`; first: the first of a uid,
 * written at once. */
static void refusal_record(struct broker *b, const struct refused *r, enum refusal why,
                           unsigned long count, time_t since, bool first)
{
        struct audit *a = b->cfg.audit;
        char msg[256];

        if (!a || !count)
                return;
        struct audit_caller who = {
            .uid = r ? r->uid : 0, .gid = r ? r->gid : 0, .pid = r ? r->pid : 0};
        if (first)
                snprintf(msg, sizeof(msg),
                         "%s (1 connection; more within %d s are counted in one record)",
                         refusals[why].why, BROKER_REFUSED_INTERVAL);
        else
                snprintf(
                    msg, sizeof(msg), "%s (%lu connection%s in the last %ld s%s)",
                    refusals[why].why, count, count == 1 ? "" : "s", (long)(now_s() - since),
                    r ? ""
                      : ", from uids beyond the " STRING(BROKER_REFUSED_UIDS) " counted apart");
        struct audit_event ev = {
            .event = "request",
            .caller = r ? &who : NULL,
            .op = "connect",
            .uid = -1,
            .gid = -1,
            .mode = -1,
            .decision = "deny",
            .error = refusals[why].err,
            .changed = -1,
            .message = msg,
        };
        (void)audit_log(a, &ev); /* nothing is performed: a lost record is counted by audit_log */
}

/* Writes the counts gathered since the last records.  At an interval's
 * end (stop false) a uid refused nothing during it leaves the table, so
 * its next refusal is recorded at once again; at stop (true) every
 * entry goes. */
static void refusal_flush(struct broker *b, bool stop)
{
        time_t now = now_s();
        bool left = false;

        for (unsigned i = 0; i < BROKER_REFUSED_UIDS; i++) {
                struct refused *r = &b->refused[i];
                if (!r->used)
                        continue;
                refusal_record(b, r, r->why, r->count, r->since, false);
                r->used = r->count && !stop;
                r->count = 0;
                r->since = now;
                left |= r->used;
        }
        for (unsigned w = 0; w < REFUSE_N; w++) {
                refusal_record(b, NULL, w, b->refused_other[w], b->refused_other_since, false);
                b->refused_other[w] = 0;
        }
        b->refused_other_since = now;
        if (left && !stop) {
                struct timeval tv = {.tv_sec = BROKER_REFUSED_INTERVAL};
                event_add(b->ev_refused, &tv);
        }
}

static void on_refused_tick(evutil_socket_t fd, short what, void *arg)
{
        (void)fd;
        (void)what;
        refusal_flush(arg, false);
}

/* Puts a refusal (or a connection dropped to make room) on record without
 * letting a flood fill the log: the first of a uid and reason at once,
 * the rest counted into one record per BROKER_REFUSED_INTERVAL (issue 17
 * item 6). */
static void refusal_note(struct broker *b, const struct peer *p, enum refusal why)
{
        struct refused *r, *slot = NULL;

        if (!b->cfg.audit)
                return;
        for (unsigned i = 0; i < BROKER_REFUSED_UIDS; i++) {
                r = &b->refused[i];
                if (r->used && r->uid == p->uid && r->why == why) {
                        r->count++;
                        r->gid = p->gid;
                        r->pid = p->pid;
                        return;
                }
                if (!r->used && !slot)
                        slot = r;
        }
        if (!event_pending(b->ev_refused, EV_TIMEOUT, NULL)) {
                struct timeval tv = {.tv_sec = BROKER_REFUSED_INTERVAL};
                event_add(b->ev_refused, &tv);
                b->refused_other_since = now_s();
        }
        if (!slot) {
                b->refused_other[why]++;
                return;
        }
        *slot = (struct refused){.used = true,
                                 .why = why,
                                 .uid = p->uid,
                                 .gid = p->gid,
                                 .pid = p->pid,
                                 .since = now_s()};
        refusal_record(b, slot, why, 1, slot->since, true);
}

void broker_flush(struct broker *b)
{
        if (!b)
                return;
        worker_drain(b); /* a walk under way ends, and is recorded, before the stop */
        refusal_flush(b, true);
}

/* Answers a peer refused at accept with one ERROR saying why, closes it,
 * and notes the refusal for the audit log. */
static void refuse(struct broker *b, int fd, struct peer *p, enum refusal why,
                   enum proto_error_kind kind, const char *msg)
{
        uint8_t buf[512];
        ssize_t n = proto_encode_error(buf, sizeof(buf), 0, refusals[why].err, kind, msg);
        if (n > 0)
                (void)send_packet(fd, buf, (size_t)n, -1);
        close(fd);
        refusal_note(b, p, why);
        peer_clear(p);
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

/* What uid may hold: the table shared among the uids present (uid
 * counted), never more than --max-clients-per-uid, at least 1. */
static unsigned uid_share(const struct broker *b, uid_t uid)
{
        unsigned n = b->n_uids + !tally_find(b, uid);
        unsigned share = b->cfg.max_conns / n;

        share = share ? share : 1;
        return share < b->cfg.max_conns_per_uid ? share : b->cfg.max_conns_per_uid;
}

/* Drops s to make room, telling it why; on record through refusal_note()
 * rather than one log line each, which a flood would multiply. */
static void conn_evict(struct conn_state *s, enum refusal kind, const char *why)
{
        struct broker *b = s->c.broker;
        uint8_t buf[PROTO_MAX_MSG];
        ssize_t n = proto_encode_error(buf, sizeof(buf), 0, EUSERS, PROTO_ERR_LIMIT, why);

        refusal_note(b, &s->c.peer, kind);
        if (n < 0 || conn_send(s, buf, (size_t)n, -1) < 0)
                return;
        conn_drop(s, NULL);
}

static int by_pid_then_age(const void *x, const void *y)
{
        const struct conn_state *a = *(struct conn_state *const *)x;
        const struct conn_state *b = *(struct conn_state *const *)y;

        if (a->c.peer.pid != b->c.peer.pid)
                return a->c.peer.pid < b->c.peer.pid ? -1 : 1;
        return a->c.serial < b->c.serial ? -1 : a->c.serial > b->c.serial;
}

/* Of uid's connections that have not authenticated, the oldest of the
 * process holding the most of them: a client with the key holds one
 * while it authenticates, a process holding them without the key holds
 * many.  Where each process holds one, the oldest if it has had
 * BROKER_HELLO_GRACE_MS to authenticate, else none: a client with the
 * key is not dropped in the middle of its handshake (it would see the
 * socket closed rather than a full broker it can ask again).  NULL when
 * none may go. */
static struct conn_state *hello_victim(struct broker *b, uid_t uid)
{
        const struct uid_tally *t = tally_find(b, uid);
        struct conn_state *s, *victim = NULL, **v = NULL;
        size_t n = 0, best = 0;

        if (t && t->hello)
                v = calloc(t->hello, sizeof(*v));
        for (s = LIST_FIRST(&b->conns); s; s = LIST_NEXT(s, link)) {
                if (s->phase != PHASE_HELLO || s->c.peer.uid != uid)
                        continue;
                if (v && n < t->hello)
                        v[n++] = s;
                if (!victim || s->c.serial < victim->c.serial)
                        victim = s;
        }
        if (v) {
                qsort(v, n, sizeof(*v), by_pid_then_age);
                for (size_t i = 0, j; i < n; i = j) {
                        for (j = i; j < n && v[j]->c.peer.pid == v[i]->c.peer.pid; j++)
                                ;
                        if (j - i > best || (j - i == best && v[i]->c.serial < victim->c.serial)) {
                                best = j - i;
                                victim = v[i];
                        }
                }
                free(v);
        }
        if (victim && best < 2 && now_ms() - victim->accepted_ms < BROKER_HELLO_GRACE_MS)
                return NULL;
        return victim;
}

/* Frees a slot of uid's that is not authenticated: hello_victim() is
 * dropped with why, unless its AUTH is already there to be read: that is
 * read first (the connection is then authenticated, or dropped for a bad
 * one).  A client with the key sends AUTH the moment HELLO arrives, so
 * what goes is a peer without it.  false when uid has no such
 * connection. */
static bool evict_hello(struct broker *b, uid_t uid, const char *why)
{
        struct conn_state *victim = hello_victim(b, uid);

        if (!victim)
                return false;
        if (conn_read_one(victim) == 0)
                conn_evict(victim, EVICT_HELLO, why);
        return true;
}

/* uid's connection idle the longest (operations only count, not PING),
 * dropped with why; false when it has none authenticated. */
static bool evict_idle(struct broker *b, uid_t uid, const char *why)
{
        struct conn_state *s, *victim = NULL;

        for (s = LIST_FIRST(&b->conns); s; s = LIST_NEXT(s, link))
                if (s->phase == PHASE_READY && s->c.peer.uid == uid &&
                    (!victim || s->last_active < victim->last_active ||
                     (s->last_active == victim->last_active && s->c.serial < victim->c.serial)))
                        victim = s;
        if (!victim)
                return false;
        conn_evict(victim, EVICT_IDLE, why);
        return true;
}

/* The table is full and a peer of uid holding mine connections knocks.
 * The uid holding the most, if that is at least two more than mine, gives
 * up one: among the uids with unauthenticated connections the one
 * holding the most gives its oldest (see evict_hello), else the uid
 * holding the most gives the connection idle longest (issue 17 item 9:
 * with `key none` every connection is authenticated at accept).  No uid
 * can keep another out by connecting in a loop, nor by holding
 * connections and pinging them.  Failing that, a connection of uid's own
 * that has not authenticated gives way to the newcomer (item 8: a
 * process with the app's uid but no key cannot hold the app's slots).
 * true when a slot is free. */
static bool reclaim_for(struct broker *b, uid_t uid, unsigned mine)
{
        char why[192];

        for (unsigned tries = 0; tries < b->cfg.max_conns && b->n_conns >= b->cfg.max_conns;
             tries++) {
                struct uid_tally *t, *hello = NULL, *most = NULL;
                for (t = LIST_FIRST(&b->uids); t; t = LIST_NEXT(t, link)) {
                        if (t->uid == uid || t->n < mine + 2)
                                continue;
                        if (t->hello && (!hello || t->n > hello->n))
                                hello = t;
                        if (!most || t->n > most->n)
                                most = t;
                }
                if (hello) {
                        snprintf(why, sizeof(why),
                                 "dropped before it authenticated to make room: the broker is "
                                 "full (%u clients) and uid %u holds %u of them",
                                 b->cfg.max_conns, (unsigned)hello->uid, hello->n);
                        if (evict_hello(b, hello->uid, why))
                                continue;
                }
                if (most) {
                        snprintf(why, sizeof(why),
                                 "dropped to make room: the broker is full (%u clients), uid %u "
                                 "holds %u of them and this one was idle the longest",
                                 b->cfg.max_conns, (unsigned)most->uid, most->n);
                        if (evict_idle(b, most->uid, why))
                                continue;
                }
                snprintf(why, sizeof(why),
                         "dropped before it authenticated: the broker is full (%u clients) and "
                         "a newer connection of uid %u takes its place",
                         b->cfg.max_conns, (unsigned)uid);
                if (!evict_hello(b, uid, why))
                        return false;
        }
        return b->n_conns < b->cfg.max_conns;
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
                refuse(b, fd, &peer, REFUSE_UNNAMED, PROTO_ERR_AUTH, msg);
                return;
        }
        /* At its share, the uid's own unauthenticated connections make
         * room before the newcomer is refused (issue 17 item 8). */
        unsigned share = uid_share(b, peer.uid);
        struct uid_tally *t = tally_find(b, peer.uid);
        if (t && t->n >= share && share < b->cfg.max_conns) {
                snprintf(msg, sizeof(msg),
                         "dropped before it authenticated: uid %u is at its share of %u "
                         "connections and a newer one takes its place",
                         (unsigned)peer.uid, share);
                for (unsigned i = t->hello; i > 0; i--) {
                        if (!evict_hello(b, peer.uid, msg))
                                break;
                        t = tally_find(b, peer.uid);
                        if (!t || t->n < share)
                                break;
                }
        }
        unsigned mine = t ? t->n : 0;
        if (share < b->cfg.max_conns && mine >= share) {
                int k = snprintf(msg, sizeof(msg),
                                 "too many clients: the broker serves at most %u at once for one "
                                 "uid (uid %u)",
                                 share, (unsigned)peer.uid);
                if (share < b->cfg.max_conns_per_uid && k > 0 && (size_t)k < sizeof(msg))
                        snprintf(msg + k, sizeof(msg) - (size_t)k, "; %u uids share %u slots",
                                 b->n_uids + !t, b->cfg.max_conns);
                refuse(b, fd, &peer, REFUSE_UID_FULL, PROTO_ERR_LIMIT, msg);
                return;
        }
        if (b->n_conns >= b->cfg.max_conns && !reclaim_for(b, peer.uid, mine)) {
                snprintf(msg, sizeof(msg), "too many clients: the broker serves at most %u at once",
                         b->cfg.max_conns);
                refuse(b, fd, &peer, REFUSE_FULL, PROTO_ERR_LIMIT, msg);
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

static void on_seal_tick(evutil_socket_t fd, short what, void *arg)
{
        struct broker *b = arg;
        (void)fd;
        (void)what;
        if (audit_seal_due(b->cfg.audit, now_ms()))
                (void)audit_seal(b->cfg.audit); /* a lost seal is counted; the next one covers it */
}

int broker_new(struct event_base *base, int listen_fd, const struct broker_config *cfg,
               struct broker **out)
{
        struct broker *b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->base = base;
        b->cfg = *cfg;
        b->w.pipe[0] = b->w.pipe[1] = -1;
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
        b->req = (struct request_ctx){.policy = b->cfg.policy,
                                      .audit = b->cfg.audit,
                                      .max_chown_entries = b->cfg.max_chown_entries};
        b->listen_fd = listen_fd;
        LIST_INIT(&b->conns);
        LIST_INIT(&b->uids);
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
        b->ev_refused = event_new(base, -1, 0, on_refused_tick, b);
        b->ev_seal = event_new(base, -1, EV_PERSIST, on_seal_tick, b);
        struct timeval tick = {0, AUDIT_SEAL_TICK_MS * 1000};
        if (!b->ev_accept || !b->ev_resume || !b->ev_refused || !b->ev_seal ||
            event_add(b->ev_accept, NULL) < 0 ||
            (b->cfg.audit && event_add(b->ev_seal, &tick) < 0) || worker_init(b) < 0) {
                broker_free(b);
                return -ENOMEM;
        }
        /* mkdir reuses one staging directory per anchor (op-mkdir.c),
         * removed at stop */
        op_mkdir_keep_stages(true);
        *out = b;
        return 0;
}

void broker_free(struct broker *b)
{
        if (!b)
                return;
        worker_stop(b);
        free(b->spare);
        op_mkdir_keep_stages(false);
        while (!LIST_EMPTY(&b->conns))
                conn_free(LIST_FIRST(&b->conns));
        if (b->ev_refused)
                refusal_flush(b, true);
        event_freep(&b->ev_accept);
        event_freep(&b->ev_resume);
        event_freep(&b->ev_refused);
        event_freep(&b->ev_seal);
        free(b);
}

struct request_ctx *broker_request_ctx(struct broker *b)
{
        return &b->req;
}

unsigned broker_n_conns(const struct broker *b)
{
        return b->n_conns;
}
