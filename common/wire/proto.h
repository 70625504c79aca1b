/* The stepdown wire protocol.  This header owns the format; docs/PROTOCOL.md
 * describes it byte by byte and tests/unit/test-proto.c keeps the two equal.
 *
 * Framing: AF_UNIX SOCK_SEQPACKET, one message per packet, at most
 * PROTO_MAX_MSG bytes.  All integers little-endian.
 *
 *   header (16 bytes): magic "SDWN" | u16 version | u16 type | u32 id | u32 len
 *   payload (len bytes): fields, each u16 tag | u16 length | value
 *
 * Each message type has a set of allowed and required fields.  Unknown
 * types, unknown or misplaced tags, duplicate tags, missing required fields,
 * wrong lengths and trailing bytes are all decode errors.
 *
 * Handshake: on accept the server sends HELLO (id 0).  With PROTO_AUTH_MAC
 * the client answers AUTH (its own id) with a fresh nonce of its own and
 *     crypto_auth(key, "stepdown-auth-v3\0" || nonce || u32 server_uid ||
 *                 u32 client_uid)
 * where server_uid is the uid of the listening socket as SO_PEERCRED
 * shows it to the client, and client_uid the client's uid as SO_PEERCRED
 * shows it to the server: the MAC is bound to the two ends of this one
 * connection, so a process in the middle that relays the challenge fails
 * (docs/PROTOCOL.md, "Why the MAC covers the uids").  The server replies
 * AUTH_OK (same id) carrying its own proof
 *     crypto_auth(key, "stepdown-server-v3\0" || client nonce ||
 *                 u32 server_uid || u32 client_uid)
 * or ERROR (kind AUTH) and closes.  A client that holds a key refuses a
 * server whose proof is wrong or missing, and one that offers
 * PROTO_AUTH_NONE (mutual authentication, version 3).
 * With PROTO_AUTH_NONE the client sends requests right away.  Every reply
 * echoes the id of the request it answers.
 *
 * What docs/PROTOCOL.md promises about the server side (the broker):
 *  - a decode error is answered with proto_encode_error(m.id, decode errno,
 *    PROTO_ERR_BAD_REQUEST, m.why) (or the peer is dropped); PATH values
 *    are additionally checked for normal form (path_check_len) -> BAD_REQUEST;
 *  - any request before a successful AUTH (method mac) -> ERROR kind AUTH;
 *  - OPEN/BIND success: proto_encode_ok(id, -1, 1) with the fd as
 *    SCM_RIGHTS on that packet; BIND returns tcp and unix sockets already
 *    listening, unix ones of type SOCK_STREAM;
 *  - MKDIR without MODE/UID/GID: the policy's default (normally caller).
 *
 * Bump PROTO_VERSION if any of the numbers below change. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROTO_VERSION 3 /* 2: the MAC covers both ends' uids; 3: the server proves the key too */

#define PROTO_MAGIC       "SDWN"
#define PROTO_HEADER_SIZE 16
#define PROTO_MAX_MSG     8192 /* whole packet, header included */
#define PROTO_MAX_PATH    4095 /* bytes, no NUL: fits PATH_MAX with its NUL */
#define PROTO_MAX_FDS     1    /* fds riding on one reply (SCM_RIGHTS) */

#define PROTO_KEY_BYTES     32 /* == crypto_auth_KEYBYTES */
#define PROTO_NONCE_BYTES   32
#define PROTO_MAC_BYTES     32                   /* == crypto_auth_BYTES (HMAC-SHA-512-256) */
#define PROTO_AUTH_DOMAIN   "stepdown-auth-v3"   /* the client's MAC, hashed with its NUL */
#define PROTO_SERVER_DOMAIN "stepdown-server-v3" /* the server's proof, hashed with its NUL */

/* Message types, in blocks. */
enum proto_type {
        /* 0x01xx handshake */
        PROTO_HELLO = 0x0100,   /* server -> client */
        PROTO_AUTH = 0x0101,    /* client -> server */
        PROTO_AUTH_OK = 0x0102, /* server -> client */

        /* 0x02xx requests, client -> server */
        PROTO_PING = 0x0200,
        PROTO_MKDIR = 0x0201,
        PROTO_CHOWN = 0x0202,
        PROTO_CHMOD = 0x0203,
        PROTO_OPEN = 0x0204,
        PROTO_BIND = 0x0205,
        PROTO_ALLOWED = 0x0206,

        /* 0x03xx replies, server -> client */
        PROTO_OK = 0x0300,
        PROTO_ERROR = 0x0301,
        PROTO_ALLOWED_REPLY = 0x0302,
};

/* Field tags.  A tag means the same thing in every message type. */
enum proto_tag {
        PROTO_T_VERSION = 0x0001,     /* u16: highest version the server speaks */
        PROTO_T_AUTH_METHOD = 0x0002, /* u8: enum proto_auth_method */
        PROTO_T_NONCE = 0x0003,       /* 32 bytes */
        PROTO_T_MAC = 0x0004,         /* 32 bytes */

        PROTO_T_PATH = 0x0010,  /* 1..PROTO_MAX_PATH bytes, absolute, no NUL */
        PROTO_T_MODE = 0x0011,  /* u32, <= 07777 */
        PROTO_T_UID = 0x0012,   /* u32, not 0xffffffff */
        PROTO_T_GID = 0x0013,   /* u32, not 0xffffffff */
        PROTO_T_FLAGS = 0x0014, /* u32, per-type bits below; unknown bits refused */

        PROTO_T_BIND_PROTO = 0x0020, /* u8: enum proto_bind_proto */
        PROTO_T_ADDRESS = 0x0021,    /* IP literal, "*", or an absolute unix path */
        PROTO_T_PORT = 0x0022,       /* u16 */

        PROTO_T_COUNT = 0x0030,     /* u64: e.g. entries changed */
        PROTO_T_ERRNO = 0x0031,     /* errno name, "EACCES": [A-Z0-9]{1,31} */
        PROTO_T_KIND = 0x0032,      /* u8: enum proto_error_kind */
        PROTO_T_MESSAGE = 0x0033,   /* text for humans, no NUL */
        PROTO_T_TEXT = 0x0034,      /* ALLOWED reply: rules, one per line, no NUL */
        PROTO_T_NFDS = 0x0035,      /* u8: fds attached to this packet (0..1) */
        PROTO_T_TRUNCATED = 0x0036, /* u8 0/1: TEXT was cut to fit PROTO_MAX_MSG */
};

enum proto_auth_method {
        PROTO_AUTH_NONE = 0,
        PROTO_AUTH_MAC = 1,
};

enum proto_bind_proto {
        PROTO_BIND_TCP = 1,
        PROTO_BIND_UDP = 2,
        PROTO_BIND_UNIX = 3,
};

enum proto_error_kind {
        PROTO_ERR_REFUSED = 1,     /* REFUSED_BY_POLICY: no allow rule matched */
        PROTO_ERR_FAILED = 2,      /* allowed, but the operation failed */
        PROTO_ERR_BAD_REQUEST = 3, /* malformed or unknown message */
        PROTO_ERR_AUTH = 4,        /* authentication failed or missing */
        PROTO_ERR_LIMIT = 5,       /* a broker limit was hit */
};

/* PROTO_T_FLAGS bits. */
#define PROTO_MKDIR_PARENTS   0x1u
#define PROTO_CHOWN_RECURSIVE 0x1u
#define PROTO_OPEN_READ       0x01u
#define PROTO_OPEN_WRITE      0x02u
#define PROTO_OPEN_CREATE     0x04u /* needs MODE */
#define PROTO_OPEN_TRUNC      0x08u
#define PROTO_OPEN_APPEND     0x10u
#define PROTO_OPEN_EXCL       0x20u /* only with CREATE */

/* Bits of proto_msg.present, one per field. */
enum proto_field {
        PROTO_F_VERSION = 1u << 0,
        PROTO_F_AUTH_METHOD = 1u << 1,
        PROTO_F_NONCE = 1u << 2,
        PROTO_F_MAC = 1u << 3,
        PROTO_F_PATH = 1u << 4,
        PROTO_F_MODE = 1u << 5,
        PROTO_F_UID = 1u << 6,
        PROTO_F_GID = 1u << 7,
        PROTO_F_FLAGS = 1u << 8,
        PROTO_F_BIND_PROTO = 1u << 9,
        PROTO_F_ADDRESS = 1u << 10,
        PROTO_F_PORT = 1u << 11,
        PROTO_F_COUNT = 1u << 12,
        PROTO_F_ERRNO = 1u << 13,
        PROTO_F_KIND = 1u << 14,
        PROTO_F_MESSAGE = 1u << 15,
        PROTO_F_TEXT = 1u << 16,
        PROTO_F_NFDS = 1u << 17,
        PROTO_F_TRUNCATED = 1u << 18,
};

/* A decoded message.  String and byte fields point into the packet (which
 * must outlive the struct) and are NOT NUL-terminated: use the _len, or
 * proto_strcpy().  A field not in `present` is zero. */
struct proto_msg {
        uint16_t version;
        uint16_t type;
        uint32_t id;
        uint32_t present; /* PROTO_F_* */

        uint16_t server_version;
        uint8_t auth_method;
        const uint8_t *nonce; /* PROTO_NONCE_BYTES */
        const uint8_t *mac;   /* PROTO_MAC_BYTES */

        const char *path;
        size_t path_len;
        uint32_t mode;
        uint32_t uid;
        uint32_t gid;
        uint32_t flags;

        uint8_t bind_proto;
        const char *address;
        size_t address_len;
        uint16_t port;

        uint64_t count;
        const char *errname;
        size_t errname_len;
        uint8_t kind;
        const char *message;
        size_t message_len;
        const char *text;
        size_t text_len;
        uint8_t nfds;
        uint8_t truncated;

        /* Set by proto_decode() on failure: a static string saying why, for
         * the ERROR reply.  NULL on success. */
        const char *why;
};

/* The checked reader (STYLE.md habit 5).  Getters return 0, or -EBADMSG
 * when fewer bytes are left than asked for (nothing is consumed then);
 * chain them with ||. */
struct proto_reader {
        const uint8_t *p;
        size_t left;
};

int proto_get_u8(struct proto_reader *r, uint8_t *v);
int proto_get_u16(struct proto_reader *r, uint16_t *v);
int proto_get_u32(struct proto_reader *r, uint32_t *v);
int proto_get_u64(struct proto_reader *r, uint64_t *v);
int proto_get_bytes(struct proto_reader *r, size_t n, const uint8_t **v);

/* The bounded writer.  The first overflow sets err = -EMSGSIZE and every
 * later put is a no-op returning it, so a whole message can be written and
 * checked once. */
struct proto_writer {
        uint8_t *buf;
        size_t cap;
        size_t len;
        int err;
};

void proto_writer_init(struct proto_writer *w, uint8_t *buf, size_t cap);
int proto_put_u8(struct proto_writer *w, uint8_t v);
int proto_put_u16(struct proto_writer *w, uint16_t v);
int proto_put_u32(struct proto_writer *w, uint32_t v);
int proto_put_u64(struct proto_writer *w, uint64_t v);
int proto_put_bytes(struct proto_writer *w, const void *v, size_t n);

/* Decodes one packet.  Returns 0, or:
 *   -EMSGSIZE         len > PROTO_MAX_MSG
 *   -EBADMSG          truncated, bad magic, length mismatch, bad/unknown/
 *                     duplicate/misplaced field, missing required field,
 *                     bad value (NUL in a string, unknown flag bit, ...)
 *   -EPROTONOSUPPORT  header version != PROTO_VERSION
 *   -EOPNOTSUPP       unknown message type
 * On failure m->why says why, and m->version/type/id are filled in when the
 * header was readable (m->id is 0 otherwise), so the ERROR reply can echo
 * the id. */
int proto_decode(const uint8_t *buf, size_t len, struct proto_msg *m);

/* Encodes m (its type, id and the fields in m->present; m->version is
 * ignored, PROTO_VERSION is written) into buf.  The result is checked with
 * the same rules as proto_decode(), so nothing the peer would refuse is
 * ever produced.  Returns the packet length, -EMSGSIZE if it does not fit
 * in min(cap, PROTO_MAX_MSG), or -EINVAL / -EOPNOTSUPP (m->why says why). */
ssize_t proto_encode(struct proto_msg *m, uint8_t *buf, size_t cap);

/* Convenience encoders over proto_encode(); strings are NUL-terminated. */
ssize_t proto_encode_hello(uint8_t *buf, size_t cap, uint32_t id, uint8_t auth_method,
                           const uint8_t nonce[PROTO_NONCE_BYTES]);
/* AUTH: the client's MAC and its own fresh nonce (the server's proof
 * covers it). */
ssize_t proto_encode_auth(uint8_t *buf, size_t cap, uint32_t id, const uint8_t mac[PROTO_MAC_BYTES],
                          const uint8_t client_nonce[PROTO_NONCE_BYTES]);
/* AUTH_OK: the server's proof (proto_auth_server_mac). */
ssize_t proto_encode_auth_ok(uint8_t *buf, size_t cap, uint32_t id,
                             const uint8_t mac[PROTO_MAC_BYTES]);
/* For types without fields: PING, ALLOWED, OK (no count, no fd). */
ssize_t proto_encode_empty(uint8_t *buf, size_t cap, uint16_t type, uint32_t id);
/* uid/gid < 0: field omitted.  mode (mode_t)-1: omitted (broker's default). */
ssize_t proto_encode_mkdir(uint8_t *buf, size_t cap, uint32_t id, const char *path, mode_t mode,
                           int64_t uid, int64_t gid, uint32_t flags);
ssize_t proto_encode_chown(uint8_t *buf, size_t cap, uint32_t id, const char *path, int64_t uid,
                           int64_t gid, uint32_t flags);
ssize_t proto_encode_chmod(uint8_t *buf, size_t cap, uint32_t id, const char *path, mode_t mode);
/* mode is sent only with PROTO_OPEN_CREATE. */
ssize_t proto_encode_open(uint8_t *buf, size_t cap, uint32_t id, const char *path, uint32_t flags,
                          mode_t mode);
/* port is ignored (not sent) for PROTO_BIND_UNIX. */
ssize_t proto_encode_bind(uint8_t *buf, size_t cap, uint32_t id, uint8_t bind_proto,
                          const char *address, uint16_t port);
/* count < 0: omitted.  nfds: how many fds the sender attaches (0 or 1). */
ssize_t proto_encode_ok(uint8_t *buf, size_t cap, uint32_t id, int64_t count, unsigned nfds);
/* err: an errno (sign ignored; unknown ones are sent as "EIO").  message
 * may be NULL; it is cut (at a UTF-8 boundary) to fit. */
ssize_t proto_encode_error(uint8_t *buf, size_t cap, uint32_t id, int err,
                           enum proto_error_kind kind, const char *message);
/* text is cut at a line boundary to fit, with TRUNCATED set. */
ssize_t proto_encode_allowed_reply(uint8_t *buf, size_t cap, uint32_t id, const char *text);

/* Name of a message type ("mkdir", "hello", ...) or NULL if unknown. */
const char *proto_type_name(uint16_t type);
/* "REFUSED_BY_POLICY", "FAILED", "BAD_REQUEST", "AUTH", "LIMIT", or NULL. */
const char *proto_kind_name(uint8_t kind);

/* Copies a length-delimited field into dst with a NUL.  Returns 0 or
 * -ENAMETOOLONG if it does not fit. */
int proto_strcpy(char *dst, size_t dstsz, const char *s, size_t len);

/* Parses "tcp:ADDR:PORT", "udp:ADDR:PORT" (ADDR an IPv4 literal, "[IPv6]"
 * or "*") or "unix:/PATH".  addr gets ADDR without brackets.  Returns 0 or
 * -EINVAL. */
int proto_parse_bind(const char *s, uint8_t *bind_proto, char *addr, size_t addrlen,
                     uint16_t *port);

/* Who the two ends of one connection are, as the kernel shows them:
 * server_uid is the listening socket's uid (SO_PEERCRED on the client's
 * connected socket; the server reads it on its listening socket), and
 * client_uid the connecting process's uid (SO_PEERCRED on the server's
 * accepted socket; the client knows its own effective uid). */
struct proto_auth_peers {
        uint32_t server_uid;
        uint32_t client_uid;
};

/* The client's view for its connected socket fd: server_uid from
 * SO_PEERCRED, client_uid its own effective uid (what the server's
 * SO_PEERCRED shows).  0 or -errno. */
int proto_auth_peers_client(int fd, struct proto_auth_peers *peers);

/* mac = crypto_auth(key, "stepdown-auth-v2\0" || nonce || u32 server_uid ||
 * u32 client_uid), integers little-endian.  Returns 0. */
int proto_auth_mac(const uint8_t key[PROTO_KEY_BYTES], const uint8_t nonce[PROTO_NONCE_BYTES],
                   const struct proto_auth_peers *peers, uint8_t mac[PROTO_MAC_BYTES]);
/* Constant-time check of mac.  Returns 0 or -EPERM. */
int proto_auth_verify(const uint8_t key[PROTO_KEY_BYTES], const uint8_t nonce[PROTO_NONCE_BYTES],
                      const struct proto_auth_peers *peers, const uint8_t mac[PROTO_MAC_BYTES]);
/* The server's proof for AUTH_OK: mac = crypto_auth(key,
 * "stepdown-server-v3\0" || client_nonce || u32 server_uid || u32
 * client_uid), the same peers as the client's MAC.  Returns 0. */
int proto_auth_server_mac(const uint8_t key[PROTO_KEY_BYTES],
                          const uint8_t client_nonce[PROTO_NONCE_BYTES],
                          const struct proto_auth_peers *peers, uint8_t mac[PROTO_MAC_BYTES]);
/* The client's constant-time check of the server's proof.  0 or -EPERM. */
int proto_auth_server_verify(const uint8_t key[PROTO_KEY_BYTES],
                             const uint8_t client_nonce[PROTO_NONCE_BYTES],
                             const struct proto_auth_peers *peers,
                             const uint8_t mac[PROTO_MAC_BYTES]);
