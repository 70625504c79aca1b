/* The resident broker: the libevent loop that accepts connections on the
 * SOCK_SEQPACKET socket, authenticates each peer (auth.c), and hands its
 * messages to the socket front door (daemon/request/dispatch.c), which
 * runs them through the request pipeline (request.h).  Also the modes that run it (modes.c) and the
 * bits of systemd's protocol (sdnotify.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

struct event_base;
struct policy;
struct audit;
struct launch;
struct audit_config;

/* Limits on what one client can make the broker hold (STYLE.md habit 9). */
#define BROKER_MAX_CONNS 64 /* connections at once; more get ERROR(LIMIT) */
/* Connections one peer uid may hold at once: 0 means half of max_conns, so
 * one uid flooding the socket leaves the other half to the rest.  The
 * share shrinks as more uids connect (max_conns / uids present, never
 * above this).  A uid at its share makes room for its newcomer with one
 * of its own connections that has not authenticated (that of the process
 * holding the most), so a process with the app's uid but no key cannot
 * keep the key holder out.  When the table is full a newcomer may take
 * the slot of the uid that holds the most (at least two more than the
 * newcomer's): an unauthenticated connection of it, or else its
 * connection idle longest (broker.c, reclaim_for()). */
#define BROKER_MAX_CONNS_PER_UID 0
#define BROKER_AUTH_TIMEOUT      5 /* seconds from accept to a verified AUTH */
/* An unauthenticated connection whose process holds no other is not
 * dropped to make room before this (a key holder's handshake takes
 * milliseconds; one dropped in the middle sees a closed socket). */
#define BROKER_HELLO_GRACE_MS 1000
/* Refusals at accept (a uid no allow rule names, a uid at its share, a
 * full broker) are audited per uid and reason: the first at once, then one
 * record with a count per interval while they go on, the rest at stop
 * (broker_flush()).  Uids beyond the table's share one record a reason. */
#define BROKER_REFUSED_UIDS     16
#define BROKER_REFUSED_INTERVAL 60 /* seconds */
/* Seconds an authenticated client may go without an operation (a PING is
 * none). */
#define BROKER_IDLE_TIMEOUT 300
/* Entries one recursive chown request may look at.  The walk runs in the
 * broker's worker thread (broker.c), so the other clients are served
 * meanwhile, but walks wait for each other and a stop waits for the one
 * under way: this bounds that (about 5-10 us an entry: a second or two). */
#define BROKER_MAX_CHOWN_ENTRIES 200000
/* The nice value of the thread that runs long requests (the loop's is
 * the process's): under load, a walk gives way to the loop. */
#define BROKER_WORKER_NICE   10
#define BROKER_MAX_INFLIGHT  16 /* replies queued because the client does not read */
#define BROKER_MSGS_PER_WAKE 1  /* requests per wake-up: fair, and no extra EAGAIN read */

struct broker_config {
        const struct policy *policy;
        struct audit *audit;        /* may be NULL */
        const uint8_t *key;         /* PROTO_KEY_BYTES, or NULL for `key none` */
        unsigned max_conns;         /* 0: BROKER_MAX_CONNS */
        unsigned max_conns_per_uid; /* 0: max_conns / 2 (at least 1) */
        unsigned auth_timeout_s;    /* 0: BROKER_AUTH_TIMEOUT */
        unsigned idle_timeout_s;    /* 0: BROKER_IDLE_TIMEOUT */
        uint64_t max_chown_entries; /* 0: BROKER_MAX_CHOWN_ENTRIES */
};

/* Who is on the other end, from the kernel at accept time. */
struct peer {
        pid_t pid;
        uid_t uid;
        gid_t gid;
        gid_t *groups; /* SO_PEERGROUPS: supplementary groups */
        size_t n_groups;
        uint64_t pidfd_ino; /* SO_PEERPIDFD inode, 0 where the kernel has none */
        char exe[256];      /* /proc/PID/exe at accept, "" if unreadable */
};

struct broker;

/* stepdownd-test-hooks only (harden.c, STEPDOWN_TEST_HOOK=worker-hold:PATH):
 * the worker thread holds each job until PATH exists (60 s at most), so a
 * test can see the loop serve others while a long request is open. */
extern const char *broker_test_hold;

/* One connection. */
struct conn {
        struct broker *broker;
        const struct broker_config *cfg;
        struct peer peer;
        unsigned long serial; /* connection number, for log lines */
};

/* broker.c */
int broker_new(struct event_base *base, int listen_fd, const struct broker_config *cfg,
               struct broker **out);
void broker_free(struct broker *b);
/* Waits for a long request the worker thread is running and finishes it
 * (outcome record, reply), then writes the audit records of refusals
 * counted since the last ones; call before the stop record (broker_free
 * does it too). */
void broker_flush(struct broker *b);
unsigned broker_n_conns(const struct broker *b);
/* The request pipeline's state (request ids, audit), which the other front
 * door (transparent mode, daemon/intercept/) shares. */
struct request_ctx *broker_request_ctx(struct broker *b);

/* auth.c: peer credentials, the per-launch key and the challenge. */
/* The kernel's credentials: pid, uid, gid, groups (cheap, enough to
 * decide whether to serve the peer).  0 or -errno. */
int peer_read(int fd, struct peer *p);
/* For a peer that is served: its pidfd inode and /proc/PID/exe. */
void peer_identify(int fd, struct peer *p);
void peer_clear(struct peer *p);
/* Fresh key from libsodium (crypto_auth_keygen). */
void auth_key_generate(uint8_t key[PROTO_KEY_BYTES]);
/* A provisioned key (policy `key FILE`): exactly PROTO_KEY_BYTES raw bytes,
 * or 2*PROTO_KEY_BYTES hex digits with an optional newline; the file must
 * be a regular file not readable or writable by group/other. */
int auth_key_load(const char *path, uint8_t key[PROTO_KEY_BYTES], char *err, size_t errlen);
/* A sealed, read-only memfd holding the key, close-on-exec (the caller
 * clears FD_CLOEXEC in the child that is to inherit it). */
int auth_key_memfd(const uint8_t key[PROTO_KEY_BYTES], char *err, size_t errlen);
/* Checks an AUTH message's MAC over nonce and the two ends' uids (the
 * listening socket's and the peer's, proto.h), in constant time, and
 * fills proof with the server's MAC over the client's nonce for AUTH_OK.
 * 0 or -EPERM. */
int auth_check(const uint8_t *key, const uint8_t nonce[PROTO_NONCE_BYTES],
               const struct proto_auth_peers *peers, const struct proto_msg *m,
               uint8_t proof[PROTO_MAC_BYTES]);

/* modes.c */
struct mode_config {
        const struct policy *policy; /* may be NULL: no broker */
        struct audit *audit;
        const struct audit_config *audit_config; /* unused: the broker keeps `audit` (issue 12) */
        struct launch *launch; /* exec/init: who the command runs as; serve: NULL without `user` */
        bool broker;           /* run a broker (exec/init) */
        bool key_fd;           /* hand the key over as an inherited fd */
        unsigned max_conns, auth_timeout_s, idle_timeout_s;
        unsigned max_conns_per_uid; /* 0: max_conns / 2 */
        uint64_t max_chown_entries; /* 0: BROKER_MAX_CHOWN_ENTRIES */
        bool no_seccomp;            /* hardening (harden.h): --no-seccomp, for debugging */
        bool no_landlock;           /* hardening (landlock.h): --no-landlock, for debugging */
};
/* Each returns the exit status for main (exec mode returns only on error). */
int mode_exec(const struct mode_config *mc, char **argv);
int mode_init(const struct mode_config *mc, char **argv);
int mode_serve(const struct mode_config *mc);

/* sdnotify.c */
/* sd_notify(3): sends state to $NOTIFY_SOCKET.  1 sent, 0 no socket, -errno. */
int sd_notify_send(const char *state);
/* sd_listen_fds(3) for one socket: 1 with *out = 3 when LISTEN_PID is us and
 * fd 3 is a listening SOCK_SEQPACKET socket (the LISTEN_* variables are then
 * removed), 0 when nothing was passed, -errno with a message otherwise. */
int sd_listen_fd(int *out, char *err, size_t errlen);
