/* The wire codec: checked reader, bounded writer, one table of fields and
 * one table of message types driving both proto_decode() and
 * proto_encode().  See proto.h and docs/PROTOCOL.md. */
#include "proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "errnoname.h"

static const char *errno_name_or_eio(int err)
{
        const char *n = errno_name(err);
        return n ? n : "EIO";
}

/* ---- checked reader ---- */

int proto_get_bytes(struct proto_reader *r, size_t n, const uint8_t **v)
{
        if (r->left < n)
                return -EBADMSG;
        *v = r->p;
        r->p += n;
        r->left -= n;
        return 0;
}

int proto_get_u8(struct proto_reader *r, uint8_t *v)
{
        const uint8_t *p;
        int e = proto_get_bytes(r, 1, &p);
        if (e == 0)
                *v = p[0];
        return e;
}

int proto_get_u16(struct proto_reader *r, uint16_t *v)
{
        const uint8_t *p;
        int e = proto_get_bytes(r, 2, &p);
        if (e == 0)
                *v = (uint16_t)(p[0] | p[1] << 8);
        return e;
}

int proto_get_u32(struct proto_reader *r, uint32_t *v)
{
        const uint8_t *p;
        int e = proto_get_bytes(r, 4, &p);
        if (e == 0)
                *v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24;
        return e;
}

int proto_get_u64(struct proto_reader *r, uint64_t *v)
{
        uint32_t lo, hi;
        int e = proto_get_u32(r, &lo) || proto_get_u32(r, &hi) ? -EBADMSG : 0;
        if (e == 0)
                *v = (uint64_t)hi << 32 | lo;
        return e;
}

/* ---- bounded writer ---- */

void proto_writer_init(struct proto_writer *w, uint8_t *buf, size_t cap)
{
        *w = (struct proto_writer){.buf = buf, .cap = cap};
}

int proto_put_bytes(struct proto_writer *w, const void *v, size_t n)
{
        if (w->err)
                return w->err;
        if (w->cap - w->len < n)
                return (w->err = -EMSGSIZE);
        if (n)
                memcpy(w->buf + w->len, v, n);
        w->len += n;
        return 0;
}

int proto_put_u8(struct proto_writer *w, uint8_t v)
{
        return proto_put_bytes(w, &v, 1);
}

int proto_put_u16(struct proto_writer *w, uint16_t v)
{
        uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
        return proto_put_bytes(w, b, sizeof(b));
}

int proto_put_u32(struct proto_writer *w, uint32_t v)
{
        uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
        return proto_put_bytes(w, b, sizeof(b));
}

int proto_put_u64(struct proto_writer *w, uint64_t v)
{
        return proto_put_u32(w, (uint32_t)v) || proto_put_u32(w, (uint32_t)(v >> 32)) ? w->err : 0;
}

/* ---- the tables ---- */

enum wire { W_U8, W_U16, W_U32, W_U64, W_FIXED, W_STRING };

static const struct field {
        uint16_t tag;
        uint32_t bit;
        enum wire wire;
        size_t off;     /* value (or pointer, for W_FIXED/W_STRING) in proto_msg */
        size_t len_off; /* W_STRING: its length in proto_msg */
        size_t fixed;   /* W_FIXED: exact length */
} fields[] = {
#define F(tag, bit, wire, member)                                                                  \
        {                                                                                          \
                tag, bit, wire, offsetof(struct proto_msg, member), 0, 0                           \
        }
#define FX(tag, bit, member, n)                                                                    \
        {                                                                                          \
                tag, bit, W_FIXED, offsetof(struct proto_msg, member), 0, n                        \
        }
#define FS(tag, bit, member)                                                                       \
        {                                                                                          \
                tag, bit, W_STRING, offsetof(struct proto_msg, member),                            \
                    offsetof(struct proto_msg, member##_len), 0                                    \
        }
    F(PROTO_T_VERSION, PROTO_F_VERSION, W_U16, server_version),
    F(PROTO_T_AUTH_METHOD, PROTO_F_AUTH_METHOD, W_U8, auth_method),
    FX(PROTO_T_NONCE, PROTO_F_NONCE, nonce, PROTO_NONCE_BYTES),
    FX(PROTO_T_MAC, PROTO_F_MAC, mac, PROTO_MAC_BYTES),
    FS(PROTO_T_PATH, PROTO_F_PATH, path),
    F(PROTO_T_MODE, PROTO_F_MODE, W_U32, mode),
    F(PROTO_T_UID, PROTO_F_UID, W_U32, uid),
    F(PROTO_T_GID, PROTO_F_GID, W_U32, gid),
    F(PROTO_T_FLAGS, PROTO_F_FLAGS, W_U32, flags),
    F(PROTO_T_BIND_PROTO, PROTO_F_BIND_PROTO, W_U8, bind_proto),
    FS(PROTO_T_ADDRESS, PROTO_F_ADDRESS, address),
    F(PROTO_T_PORT, PROTO_F_PORT, W_U16, port),
    F(PROTO_T_COUNT, PROTO_F_COUNT, W_U64, count),
    FS(PROTO_T_ERRNO, PROTO_F_ERRNO, errname),
    F(PROTO_T_KIND, PROTO_F_KIND, W_U8, kind),
    FS(PROTO_T_MESSAGE, PROTO_F_MESSAGE, message),
    FS(PROTO_T_TEXT, PROTO_F_TEXT, text),
    F(PROTO_T_NFDS, PROTO_F_NFDS, W_U8, nfds),
    F(PROTO_T_TRUNCATED, PROTO_F_TRUNCATED, W_U8, truncated),
#undef F
#undef FX
#undef FS
};

static const struct msgtype {
        uint16_t type;
        const char *name;
        uint32_t allowed;
        uint32_t required;
} types[] = {
    {PROTO_HELLO, "hello", PROTO_F_VERSION | PROTO_F_AUTH_METHOD | PROTO_F_NONCE,
     PROTO_F_VERSION | PROTO_F_AUTH_METHOD | PROTO_F_NONCE},
    {PROTO_AUTH, "auth", PROTO_F_NONCE | PROTO_F_MAC, PROTO_F_NONCE | PROTO_F_MAC},
    {PROTO_AUTH_OK, "auth-ok", PROTO_F_MAC, PROTO_F_MAC},
    {PROTO_PING, "ping", 0, 0},
    {PROTO_MKDIR, "mkdir", PROTO_F_PATH | PROTO_F_MODE | PROTO_F_UID | PROTO_F_GID | PROTO_F_FLAGS,
     PROTO_F_PATH},
    {PROTO_CHOWN, "chown", PROTO_F_PATH | PROTO_F_UID | PROTO_F_GID | PROTO_F_FLAGS, PROTO_F_PATH},
    {PROTO_CHMOD, "chmod", PROTO_F_PATH | PROTO_F_MODE, PROTO_F_PATH | PROTO_F_MODE},
    {PROTO_OPEN, "open", PROTO_F_PATH | PROTO_F_FLAGS | PROTO_F_MODE, PROTO_F_PATH | PROTO_F_FLAGS},
    {PROTO_BIND, "bind", PROTO_F_BIND_PROTO | PROTO_F_ADDRESS | PROTO_F_PORT,
     PROTO_F_BIND_PROTO | PROTO_F_ADDRESS},
    {PROTO_ALLOWED, "allowed", 0, 0},
    {PROTO_OK, "ok", PROTO_F_COUNT | PROTO_F_NFDS, 0},
    {PROTO_ERROR, "error", PROTO_F_ERRNO | PROTO_F_KIND | PROTO_F_MESSAGE,
     PROTO_F_ERRNO | PROTO_F_KIND},
    {PROTO_ALLOWED_REPLY, "allowed-reply", PROTO_F_TEXT | PROTO_F_TRUNCATED, PROTO_F_TEXT},
};

static const struct msgtype *find_type(uint16_t type)
{
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
                if (types[i].type == type)
                        return &types[i];
        return NULL;
}

static const struct field *find_field(uint16_t tag)
{
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
                if (fields[i].tag == tag)
                        return &fields[i];
        return NULL;
}

const char *proto_type_name(uint16_t type)
{
        const struct msgtype *t = find_type(type);
        return t ? t->name : NULL;
}

const char *proto_kind_name(uint8_t kind)
{
        static const char *const names[] = {
            [PROTO_ERR_REFUSED] = "REFUSED_BY_POLICY",
            [PROTO_ERR_FAILED] = "FAILED",
            [PROTO_ERR_BAD_REQUEST] = "BAD_REQUEST",
            [PROTO_ERR_AUTH] = "AUTH",
            [PROTO_ERR_LIMIT] = "LIMIT",
        };
        return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : NULL;
}

int proto_strcpy(char *dst, size_t dstsz, const char *s, size_t len)
{
        if (len >= dstsz)
                return -ENAMETOOLONG;
        if (len)
                memcpy(dst, s, len);
        dst[len] = '\0';
        return 0;
}

/* ---- semantic checks, shared by decode and encode ---- */

static bool has_nul(const char *s, size_t len)
{
        return len && memchr(s, '\0', len) != NULL;
}

static bool valid_ip(const char *s, size_t len)
{
        char buf[INET6_ADDRSTRLEN];
        unsigned char bin[sizeof(struct in6_addr)];
        if (len == 1 && s[0] == '*')
                return true;
        if (proto_strcpy(buf, sizeof(buf), s, len) < 0)
                return false;
        return inet_pton(AF_INET, buf, bin) == 1 || inet_pton(AF_INET6, buf, bin) == 1;
}

#define BAD(why_)                                                                                  \
        do {                                                                                       \
                m->why = (why_);                                                                   \
                return -EBADMSG;                                                                   \
        } while (0)

static int check_open_flags(struct proto_msg *m)
{
        const uint32_t all = PROTO_OPEN_READ | PROTO_OPEN_WRITE | PROTO_OPEN_CREATE |
                             PROTO_OPEN_TRUNC | PROTO_OPEN_APPEND | PROTO_OPEN_EXCL;
        uint32_t f = m->flags;
        if (f & ~all)
                BAD("unknown open flag");
        if (!(f & (PROTO_OPEN_READ | PROTO_OPEN_WRITE)))
                BAD("open needs read or write");
        if ((f & (PROTO_OPEN_CREATE | PROTO_OPEN_TRUNC | PROTO_OPEN_APPEND)) &&
            !(f & PROTO_OPEN_WRITE))
                BAD("create, trunc and append need write");
        if ((f & PROTO_OPEN_EXCL) && !(f & PROTO_OPEN_CREATE))
                BAD("excl needs create");
        if (!!(f & PROTO_OPEN_CREATE) != !!(m->present & PROTO_F_MODE))
                BAD("mode is given exactly when create is");
        return 0;
}

static int check_msg(const struct msgtype *t, struct proto_msg *m)
{
        uint32_t p = m->present;

        if (p & ~t->allowed)
                BAD("field not allowed in this message type");
        if ((p & t->required) != t->required)
                BAD("missing required field");
        if ((p & PROTO_F_VERSION) && m->server_version < 1)
                BAD("bad version field");
        if ((p & PROTO_F_AUTH_METHOD) && m->auth_method > PROTO_AUTH_MAC)
                BAD("unknown auth method");
        if (p & PROTO_F_PATH) {
                if (m->path_len < 1 || m->path_len > PROTO_MAX_PATH)
                        BAD("path length out of range");
                if (m->path[0] != '/')
                        BAD("path is not absolute");
                if (has_nul(m->path, m->path_len))
                        BAD("NUL in path");
        }
        if ((p & PROTO_F_MODE) && m->mode > 07777)
                BAD("mode out of range");
        if ((p & PROTO_F_UID) && m->uid == UINT32_MAX)
                BAD("uid out of range");
        if ((p & PROTO_F_GID) && m->gid == UINT32_MAX)
                BAD("gid out of range");
        if (t->type == PROTO_MKDIR && (m->flags & ~PROTO_MKDIR_PARENTS))
                BAD("unknown mkdir flag");
        if (t->type == PROTO_CHOWN && (m->flags & ~PROTO_CHOWN_RECURSIVE))
                BAD("unknown chown flag");
        if (t->type == PROTO_CHOWN && !(p & (PROTO_F_UID | PROTO_F_GID)))
                BAD("chown needs uid or gid");
        if (t->type == PROTO_OPEN && check_open_flags(m) < 0)
                return -EBADMSG;
        if (t->type == PROTO_BIND) {
                bool is_unix = m->bind_proto == PROTO_BIND_UNIX;
                if (m->bind_proto < PROTO_BIND_TCP || m->bind_proto > PROTO_BIND_UNIX)
                        BAD("unknown bind protocol");
                if (!!(p & PROTO_F_PORT) == is_unix)
                        BAD("port is given exactly for tcp and udp");
                if (has_nul(m->address, m->address_len))
                        BAD("NUL in address");
                if (is_unix && (m->address_len < 1 || m->address_len > 107 || m->address[0] != '/'))
                        BAD("unix address is not an absolute path of 1..107 bytes");
                if (!is_unix && !valid_ip(m->address, m->address_len))
                        BAD("address is not an IP literal or *");
        }
        if (p & PROTO_F_ERRNO) {
                if (m->errname_len < 1 || m->errname_len > 31)
                        BAD("errno name length out of range");
                for (size_t i = 0; i < m->errname_len; i++) {
                        char c = m->errname[i];
                        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
                                BAD("bad character in errno name");
                }
        }
        if ((p & PROTO_F_KIND) && !proto_kind_name(m->kind))
                BAD("unknown error kind");
        if ((p & PROTO_F_MESSAGE) && has_nul(m->message, m->message_len))
                BAD("NUL in message");
        if ((p & PROTO_F_TEXT) && has_nul(m->text, m->text_len))
                BAD("NUL in text");
        if ((p & PROTO_F_NFDS) && m->nfds > PROTO_MAX_FDS)
                BAD("too many fds");
        if ((p & PROTO_F_TRUNCATED) && m->truncated > 1)
                BAD("truncated is not 0 or 1");
        return 0;
}

/* ---- decode ---- */

static int decode_field(const struct field *f, struct proto_reader *v, size_t vlen,
                        struct proto_msg *m)
{
        char *base = (char *)m;
        static const size_t widths[] = {[W_U8] = 1, [W_U16] = 2, [W_U32] = 4, [W_U64] = 8};

        if (f->wire == W_FIXED) {
                if (vlen != f->fixed)
                        BAD("wrong field length");
                return proto_get_bytes(v, vlen, (const uint8_t **)(base + f->off));
        }
        if (f->wire == W_STRING) {
                *(size_t *)(base + f->len_off) = vlen;
                return proto_get_bytes(v, vlen, (const uint8_t **)(base + f->off));
        }
        if (vlen != widths[f->wire])
                BAD("wrong field length");
        switch (f->wire) {
        case W_U8:
                return proto_get_u8(v, (uint8_t *)(base + f->off));
        case W_U16:
                return proto_get_u16(v, (uint16_t *)(base + f->off));
        case W_U32:
                return proto_get_u32(v, (uint32_t *)(base + f->off));
        default:
                return proto_get_u64(v, (uint64_t *)(base + f->off));
        }
}

int proto_decode(const uint8_t *buf, size_t len, struct proto_msg *m)
{
        struct proto_reader r = {buf, len};
        const uint8_t *magic;
        uint32_t plen;
        const struct msgtype *t;

        *m = (struct proto_msg){0};
        if (len > PROTO_MAX_MSG) {
                m->why = "message too large";
                return -EMSGSIZE;
        }
        if (proto_get_bytes(&r, 4, &magic) || memcmp(magic, PROTO_MAGIC, 4) != 0)
                BAD("bad magic");
        if (proto_get_u16(&r, &m->version) || proto_get_u16(&r, &m->type) ||
            proto_get_u32(&r, &m->id) || proto_get_u32(&r, &plen))
                BAD("truncated header");
        if (m->version != PROTO_VERSION) {
                m->why = "unsupported protocol version";
                return -EPROTONOSUPPORT;
        }
        if (plen != r.left)
                BAD("payload length does not match the packet");
        t = find_type(m->type);
        if (!t) {
                m->why = "unknown message type";
                return -EOPNOTSUPP;
        }
        while (r.left > 0) {
                uint16_t tag, flen;
                const uint8_t *val;
                if (proto_get_u16(&r, &tag) || proto_get_u16(&r, &flen))
                        BAD("truncated field header");
                if (proto_get_bytes(&r, flen, &val))
                        BAD("truncated field");
                const struct field *f = find_field(tag);
                if (!f)
                        BAD("unknown field");
                if (m->present & f->bit)
                        BAD("duplicate field");
                struct proto_reader v = {val, flen};
                if (decode_field(f, &v, flen, m) < 0) {
                        if (!m->why)
                                m->why = "bad field";
                        return -EBADMSG;
                }
                m->present |= f->bit;
        }
        return check_msg(t, m);
}

/* ---- encode ---- */

static int encode_field(const struct field *f, const struct proto_msg *m, struct proto_writer *w)
{
        const char *base = (const char *)m;
        /* Only W_FIXED and W_STRING fields hold a pointer at f->off. */
        const void *ptr = f->wire == W_FIXED || f->wire == W_STRING
                              ? *(const void *const *)(base + f->off)
                              : NULL;

        proto_put_u16(w, f->tag);
        switch (f->wire) {
        case W_U8:
                return proto_put_u16(w, 1) || proto_put_u8(w, *(const uint8_t *)(base + f->off));
        case W_U16:
                return proto_put_u16(w, 2) || proto_put_u16(w, *(const uint16_t *)(base + f->off));
        case W_U32:
                return proto_put_u16(w, 4) || proto_put_u32(w, *(const uint32_t *)(base + f->off));
        case W_U64:
                return proto_put_u16(w, 8) || proto_put_u64(w, *(const uint64_t *)(base + f->off));
        case W_FIXED:
                return proto_put_u16(w, (uint16_t)f->fixed) || proto_put_bytes(w, ptr, f->fixed);
        case W_STRING: {
                size_t n = *(const size_t *)(base + f->len_off);
                if (n > UINT16_MAX)
                        return (w->err = -EMSGSIZE);
                return proto_put_u16(w, (uint16_t)n) || proto_put_bytes(w, ptr, n);
        }
        }
        return -EINVAL;
}

ssize_t proto_encode(struct proto_msg *m, uint8_t *buf, size_t cap)
{
        const struct msgtype *t = find_type(m->type);
        struct proto_writer w;

        m->why = NULL;
        if (!t) {
                m->why = "unknown message type";
                return -EOPNOTSUPP;
        }
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
                const struct field *f = &fields[i];
                if ((m->present & f->bit) && (f->wire == W_FIXED || f->wire == W_STRING) &&
                    *(const void *const *)((const char *)m + f->off) == NULL &&
                    (f->wire == W_FIXED || *(const size_t *)((const char *)m + f->len_off))) {
                        m->why = "NULL field";
                        return -EINVAL;
                }
        }
        if (check_msg(t, m) < 0)
                return -EINVAL;

        proto_writer_init(&w, buf, cap < PROTO_MAX_MSG ? cap : PROTO_MAX_MSG);
        proto_put_bytes(&w, PROTO_MAGIC, 4);
        proto_put_u16(&w, PROTO_VERSION);
        proto_put_u16(&w, m->type);
        proto_put_u32(&w, m->id);
        proto_put_u32(&w, 0); /* payload length, patched below */
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
                if (m->present & fields[i].bit)
                        encode_field(&fields[i], m, &w);
        if (w.err) {
                m->why = "message too large";
                return w.err;
        }
        uint32_t plen = (uint32_t)(w.len - PROTO_HEADER_SIZE);
        struct proto_writer lw;
        proto_writer_init(&lw, buf + 12, 4);
        proto_put_u32(&lw, plen);
        return (ssize_t)w.len;
}

/* ---- handshake MAC ---- */

/* The longer domain; the other is hashed in the same buffer, shorter. */
#define AUTH_INPUT_MAX (sizeof(PROTO_SERVER_DOMAIN) + PROTO_NONCE_BYTES + 8)
_Static_assert(sizeof(PROTO_AUTH_DOMAIN) <= sizeof(PROTO_SERVER_DOMAIN), "domain sizes");

/* domain (with its NUL) || nonce || u32le server_uid || u32le client_uid;
 * returns its length. */
static size_t auth_input(const char *domain, const uint8_t nonce[PROTO_NONCE_BYTES],
                         const struct proto_auth_peers *peers, uint8_t in[AUTH_INPUT_MAX])
{
        struct proto_writer w;
        proto_writer_init(&w, in, AUTH_INPUT_MAX);
        proto_put_bytes(&w, domain, strlen(domain) + 1); /* with its NUL */
        proto_put_bytes(&w, nonce, PROTO_NONCE_BYTES);
        proto_put_u32(&w, peers->server_uid);
        proto_put_u32(&w, peers->client_uid);
        return w.len;
}

int proto_auth_peers_client(int fd, struct proto_auth_peers *peers)
{
        struct ucred uc;
        socklen_t len = sizeof(uc);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
                return -errno;
        peers->server_uid = (uint32_t)uc.uid;
        peers->client_uid = (uint32_t)geteuid();
        return 0;
}

static void auth_mac(const char *domain, const uint8_t key[PROTO_KEY_BYTES],
                     const uint8_t nonce[PROTO_NONCE_BYTES], const struct proto_auth_peers *peers,
                     uint8_t mac[PROTO_MAC_BYTES])
{
        uint8_t in[AUTH_INPUT_MAX];
        _Static_assert(PROTO_KEY_BYTES == crypto_auth_KEYBYTES, "key size");
        _Static_assert(PROTO_MAC_BYTES == crypto_auth_BYTES, "mac size");
        crypto_auth(mac, in, auth_input(domain, nonce, peers, in), key);
}

static int auth_verify(const char *domain, const uint8_t key[PROTO_KEY_BYTES],
                       const uint8_t nonce[PROTO_NONCE_BYTES], const struct proto_auth_peers *peers,
                       const uint8_t mac[PROTO_MAC_BYTES])
{
        uint8_t in[AUTH_INPUT_MAX];
        size_t n = auth_input(domain, nonce, peers, in);
        return crypto_auth_verify(mac, in, n, key) == 0 ? 0 : -EPERM;
}

int proto_auth_mac(const uint8_t key[PROTO_KEY_BYTES], const uint8_t nonce[PROTO_NONCE_BYTES],
                   const struct proto_auth_peers *peers, uint8_t mac[PROTO_MAC_BYTES])
{
        auth_mac(PROTO_AUTH_DOMAIN, key, nonce, peers, mac);
        return 0;
}

int proto_auth_verify(const uint8_t key[PROTO_KEY_BYTES], const uint8_t nonce[PROTO_NONCE_BYTES],
                      const struct proto_auth_peers *peers, const uint8_t mac[PROTO_MAC_BYTES])
{
        return auth_verify(PROTO_AUTH_DOMAIN, key, nonce, peers, mac);
}

int proto_auth_server_mac(const uint8_t key[PROTO_KEY_BYTES],
                          const uint8_t client_nonce[PROTO_NONCE_BYTES],
                          const struct proto_auth_peers *peers, uint8_t mac[PROTO_MAC_BYTES])
{
        auth_mac(PROTO_SERVER_DOMAIN, key, client_nonce, peers, mac);
        return 0;
}

int proto_auth_server_verify(const uint8_t key[PROTO_KEY_BYTES],
                             const uint8_t client_nonce[PROTO_NONCE_BYTES],
                             const struct proto_auth_peers *peers,
                             const uint8_t mac[PROTO_MAC_BYTES])
{
        return auth_verify(PROTO_SERVER_DOMAIN, key, client_nonce, peers, mac);
}

/* ---- convenience encoders ---- */

static void set_str(const char *s, const char **p, size_t *len)
{
        *p = s;
        *len = s ? strlen(s) : 0;
}

ssize_t proto_encode_hello(uint8_t *buf, size_t cap, uint32_t id, uint8_t auth_method,
                           const uint8_t nonce[PROTO_NONCE_BYTES])
{
        struct proto_msg m = {.type = PROTO_HELLO,
                              .id = id,
                              .present = PROTO_F_VERSION | PROTO_F_AUTH_METHOD | PROTO_F_NONCE,
                              .server_version = PROTO_VERSION,
                              .auth_method = auth_method,
                              .nonce = nonce};
        return proto_encode(&m, buf, cap);
}

ssize_t proto_encode_auth(uint8_t *buf, size_t cap, uint32_t id, const uint8_t mac[PROTO_MAC_BYTES],
                          const uint8_t client_nonce[PROTO_NONCE_BYTES])
{
        struct proto_msg m = {.type = PROTO_AUTH,
                              .id = id,
                              .present = PROTO_F_NONCE | PROTO_F_MAC,
                              .nonce = client_nonce,
                              .mac = mac};
        return proto_encode(&m, buf, cap);
}

ssize_t proto_encode_auth_ok(uint8_t *buf, size_t cap, uint32_t id,
                             const uint8_t mac[PROTO_MAC_BYTES])
{
        struct proto_msg m = {.type = PROTO_AUTH_OK, .id = id, .present = PROTO_F_MAC, .mac = mac};
        return proto_encode(&m, buf, cap);
}

ssize_t proto_encode_empty(uint8_t *buf, size_t cap, uint16_t type, uint32_t id)
{
        struct proto_msg m = {.type = type, .id = id};
        return proto_encode(&m, buf, cap);
}

static void set_owner(struct proto_msg *m, int64_t uid, int64_t gid)
{
        if (uid >= 0) {
                m->present |= PROTO_F_UID;
                m->uid = uid > UINT32_MAX ? UINT32_MAX : (uint32_t)uid;
        }
        if (gid >= 0) {
                m->present |= PROTO_F_GID;
                m->gid = gid > UINT32_MAX ? UINT32_MAX : (uint32_t)gid;
        }
}

ssize_t proto_encode_mkdir(uint8_t *buf, size_t cap, uint32_t id, const char *path, mode_t mode,
                           int64_t uid, int64_t gid, uint32_t flags)
{
        struct proto_msg m = {.type = PROTO_MKDIR, .id = id, .present = PROTO_F_PATH};
        set_str(path, &m.path, &m.path_len);
        if (mode != (mode_t)-1) {
                m.present |= PROTO_F_MODE;
                m.mode = mode;
        }
        set_owner(&m, uid, gid);
        if (flags) {
                m.present |= PROTO_F_FLAGS;
                m.flags = flags;
        }
        return proto_encode(&m, buf, cap);
}

ssize_t proto_encode_chown(uint8_t *buf, size_t cap, uint32_t id, const char *path, int64_t uid,
                           int64_t gid, uint32_t flags)
{
        struct proto_msg m = {.type = PROTO_CHOWN, .id = id, .present = PROTO_F_PATH};
        set_str(path, &m.path, &m.path_len);
        set_owner(&m, uid, gid);
        if (flags) {
                m.present |= PROTO_F_FLAGS;
                m.flags = flags;
        }
        return proto_encode(&m, buf, cap);
}

ssize_t proto_encode_chmod(uint8_t *buf, size_t cap, uint32_t id, const char *path, mode_t mode)
{
        struct proto_msg m = {
            .type = PROTO_CHMOD, .id = id, .present = PROTO_F_PATH | PROTO_F_MODE, .mode = mode};
        set_str(path, &m.path, &m.path_len);
        return proto_encode(&m, buf, cap);
}

ssize_t proto_encode_open(uint8_t *buf, size_t cap, uint32_t id, const char *path, uint32_t flags,
                          mode_t mode)
{
        struct proto_msg m = {
            .type = PROTO_OPEN, .id = id, .present = PROTO_F_PATH | PROTO_F_FLAGS, .flags = flags};
        set_str(path, &m.path, &m.path_len);
        if (flags & PROTO_OPEN_CREATE) {
                m.present |= PROTO_F_MODE;
                m.mode = mode;
        }
        return proto_encode(&m, buf, cap);
}

ssize_t proto_encode_bind(uint8_t *buf, size_t cap, uint32_t id, uint8_t bind_proto,
                          const char *address, uint16_t port)
{
        struct proto_msg m = {.type = PROTO_BIND,
                              .id = id,
                              .present = PROTO_F_BIND_PROTO | PROTO_F_ADDRESS,
                              .bind_proto = bind_proto};
        set_str(address, &m.address, &m.address_len);
        if (bind_proto != PROTO_BIND_UNIX) {
                m.present |= PROTO_F_PORT;
                m.port = port;
        }
        return proto_encode(&m, buf, cap);
}

ssize_t proto_encode_ok(uint8_t *buf, size_t cap, uint32_t id, int64_t count, unsigned nfds)
{
        struct proto_msg m = {.type = PROTO_OK, .id = id};
        if (count >= 0) {
                m.present |= PROTO_F_COUNT;
                m.count = (uint64_t)count;
        }
        if (nfds) {
                m.present |= PROTO_F_NFDS;
                m.nfds = nfds > UINT8_MAX ? UINT8_MAX : (uint8_t)nfds;
        }
        return proto_encode(&m, buf, cap);
}

static size_t room(size_t cap, size_t used)
{
        if (cap > PROTO_MAX_MSG)
                cap = PROTO_MAX_MSG;
        return cap > used ? cap - used : 0;
}

ssize_t proto_encode_error(uint8_t *buf, size_t cap, uint32_t id, int err,
                           enum proto_error_kind kind, const char *message)
{
        struct proto_msg m = {.type = PROTO_ERROR,
                              .id = id,
                              .present = PROTO_F_ERRNO | PROTO_F_KIND,
                              .kind = (uint8_t)kind};
        const char *name = errno_name_or_eio(err);
        set_str(name, &m.errname, &m.errname_len);
        if (message) {
                size_t max = room(cap, PROTO_HEADER_SIZE + 4 + m.errname_len + 4 + 1 + 4);
                m.present |= PROTO_F_MESSAGE;
                set_str(message, &m.message, &m.message_len);
                if (m.message_len > max) {
                        m.message_len = max;
                        /* do not end inside a UTF-8 sequence */
                        while (m.message_len > 0 &&
                               ((unsigned char)message[m.message_len] & 0xc0) == 0x80)
                                m.message_len--;
                }
        }
        return proto_encode(&m, buf, cap);
}

ssize_t proto_encode_allowed_reply(uint8_t *buf, size_t cap, uint32_t id, const char *text)
{
        struct proto_msg m = {.type = PROTO_ALLOWED_REPLY, .id = id, .present = PROTO_F_TEXT};
        size_t max = room(cap, PROTO_HEADER_SIZE + 4 + 4 + 1);
        set_str(text ? text : "", &m.text, &m.text_len);
        if (m.text_len > max) {
                const char *nl = memrchr(m.text, '\n', max);
                m.text_len = nl ? (size_t)(nl - m.text) + 1 : 0;
                m.present |= PROTO_F_TRUNCATED;
                m.truncated = 1;
        }
        return proto_encode(&m, buf, cap);
}

/* ---- bind addresses ---- */

static int parse_port(const char *s, uint16_t *port)
{
        unsigned long v = 0;
        if (!*s || strlen(s) > 5)
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned long)(*s - '0');
        }
        if (v > UINT16_MAX)
                return -EINVAL;
        *port = (uint16_t)v;
        return 0;
}

int proto_parse_bind(const char *s, uint8_t *bind_proto, char *addr, size_t addrlen, uint16_t *port)
{
        const char *rest, *colon, *host;
        size_t hostlen;

        if (strncmp(s, "unix:", 5) == 0) {
                rest = s + 5;
                if (rest[0] != '/' || strlen(rest) > 107)
                        return -EINVAL;
                *bind_proto = PROTO_BIND_UNIX;
                *port = 0;
                return proto_strcpy(addr, addrlen, rest, strlen(rest)) < 0 ? -EINVAL : 0;
        }
        if (strncmp(s, "tcp:", 4) == 0)
                *bind_proto = PROTO_BIND_TCP;
        else if (strncmp(s, "udp:", 4) == 0)
                *bind_proto = PROTO_BIND_UDP;
        else
                return -EINVAL;
        rest = s + 4;
        colon = strrchr(rest, ':');
        if (!colon || parse_port(colon + 1, port) < 0)
                return -EINVAL;
        host = rest;
        hostlen = (size_t)(colon - rest);
        if (hostlen >= 2 && host[0] == '[' && host[hostlen - 1] == ']') {
                host++;
                hostlen -= 2;
                if (!memchr(host, ':', hostlen))
                        return -EINVAL; /* brackets only around IPv6 */
        } else if (memchr(host, ':', hostlen)) {
                return -EINVAL; /* IPv6 needs brackets */
        }
        if (!valid_ip(host, hostlen))
                return -EINVAL;
        return proto_strcpy(addr, addrlen, host, hostlen) < 0 ? -EINVAL : 0;
}
