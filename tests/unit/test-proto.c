/* Unit tests for common/wire/proto.c: every message round-trips, every decode
 * error is an error (never a crash), the MAC handshake, and the hex
 * examples in docs/PROTOCOL.md equal what the encoder writes.
 *
 *   test-proto --examples     prints the examples as PROTOCOL.md has them
 *   test-proto --corpus DIR   writes them as fuzz seeds */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "proto.h"

/* ---- the examples (also documented in docs/PROTOCOL.md) ---- */

static uint8_t ex_key[PROTO_KEY_BYTES], ex_nonce[PROTO_NONCE_BYTES], ex_cnonce[PROTO_NONCE_BYTES];
/* The broker listening as root, the client uid 1000. */
static const struct proto_auth_peers ex_peers = {.server_uid = 0, .client_uid = 1000};

static void ex_init(void)
{
        for (int i = 0; i < PROTO_KEY_BYTES; i++)
                ex_key[i] = (uint8_t)(0x80 + i);
        for (int i = 0; i < PROTO_NONCE_BYTES; i++) {
                ex_nonce[i] = (uint8_t)i;
                ex_cnonce[i] = (uint8_t)(0x40 + i); /* the client's nonce */
        }
}

static ssize_t ex_hello(uint8_t *b, size_t n)
{
        return proto_encode_hello(b, n, 0, PROTO_AUTH_MAC, ex_nonce);
}
static ssize_t ex_auth(uint8_t *b, size_t n)
{
        uint8_t mac[PROTO_MAC_BYTES];
        proto_auth_mac(ex_key, ex_nonce, &ex_peers, mac);
        return proto_encode_auth(b, n, 1, mac, ex_cnonce);
}
static ssize_t ex_auth_ok(uint8_t *b, size_t n)
{
        uint8_t mac[PROTO_MAC_BYTES];
        proto_auth_server_mac(ex_key, ex_cnonce, &ex_peers, mac);
        return proto_encode_auth_ok(b, n, 1, mac);
}
static ssize_t ex_ping(uint8_t *b, size_t n)
{
        return proto_encode_empty(b, n, PROTO_PING, 2);
}
static ssize_t ex_mkdir(uint8_t *b, size_t n)
{
        return proto_encode_mkdir(b, n, 3, "/data/t42", 0750, 1000, 1000, PROTO_MKDIR_PARENTS);
}
static ssize_t ex_chown(uint8_t *b, size_t n)
{
        return proto_encode_chown(b, n, 4, "/data/t42", 1000, -1, PROTO_CHOWN_RECURSIVE);
}
static ssize_t ex_chmod(uint8_t *b, size_t n)
{
        return proto_encode_chmod(b, n, 5, "/data/t42/f", 0640);
}
static ssize_t ex_open(uint8_t *b, size_t n)
{
        return proto_encode_open(b, n, 6, "/etc/ssl/private/app.key", PROTO_OPEN_READ, 0);
}
static ssize_t ex_open_create(uint8_t *b, size_t n)
{
        return proto_encode_open(b, n, 7, "/data/log",
                                 PROTO_OPEN_WRITE | PROTO_OPEN_CREATE | PROTO_OPEN_APPEND, 0640);
}
static ssize_t ex_bind(uint8_t *b, size_t n)
{
        return proto_encode_bind(b, n, 8, PROTO_BIND_TCP, "0.0.0.0", 443);
}
static ssize_t ex_bind_unix(uint8_t *b, size_t n)
{
        return proto_encode_bind(b, n, 9, PROTO_BIND_UNIX, "/run/app.sock", 0);
}
static ssize_t ex_allowed(uint8_t *b, size_t n)
{
        return proto_encode_empty(b, n, PROTO_ALLOWED, 10);
}
static ssize_t ex_ok(uint8_t *b, size_t n)
{
        return proto_encode_ok(b, n, 3, -1, 0);
}
static ssize_t ex_ok_count(uint8_t *b, size_t n)
{
        return proto_encode_ok(b, n, 4, 17, 0);
}
static ssize_t ex_ok_fd(uint8_t *b, size_t n)
{
        return proto_encode_ok(b, n, 6, -1, 1);
}
static ssize_t ex_error(uint8_t *b, size_t n)
{
        return proto_encode_error(b, n, 5, EACCES, PROTO_ERR_REFUSED, "no allow rule matches");
}
static ssize_t ex_allowed_reply(uint8_t *b, size_t n)
{
        return proto_encode_allowed_reply(b, n, 10, "allow app mkdir /data/** mode=0750\n");
}

static const struct example {
        const char *name;
        ssize_t (*build)(uint8_t *b, size_t n);
        uint16_t type;
} examples[] = {
    {"hello", ex_hello, PROTO_HELLO},
    {"auth", ex_auth, PROTO_AUTH},
    {"auth-ok", ex_auth_ok, PROTO_AUTH_OK},
    {"ping", ex_ping, PROTO_PING},
    {"mkdir", ex_mkdir, PROTO_MKDIR},
    {"chown", ex_chown, PROTO_CHOWN},
    {"chmod", ex_chmod, PROTO_CHMOD},
    {"open", ex_open, PROTO_OPEN},
    {"open-create", ex_open_create, PROTO_OPEN},
    {"bind", ex_bind, PROTO_BIND},
    {"bind-unix", ex_bind_unix, PROTO_BIND},
    {"allowed", ex_allowed, PROTO_ALLOWED},
    {"ok", ex_ok, PROTO_OK},
    {"ok-count", ex_ok_count, PROTO_OK},
    {"ok-fd", ex_ok_fd, PROTO_OK},
    {"error", ex_error, PROTO_ERROR},
    {"allowed-reply", ex_allowed_reply, PROTO_ALLOWED_REPLY},
};

/* Hex as PROTOCOL.md shows it: 16 bytes a line, separated by spaces. */
static void hex(const uint8_t *b, size_t n, char *out, size_t outlen)
{
        size_t o = 0;
        for (size_t i = 0; i < n && o + 4 < outlen; i++)
                o += (size_t)snprintf(out + o, outlen - o, "%02x%s", b[i],
                                      i + 1 == n ? "\n" : (i % 16 == 15 ? "\n" : " "));
        out[o] = '\0';
}

/* ---- round trips ---- */

static void test_examples_round_trip(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
                uint8_t buf[PROTO_MAX_MSG], again[PROTO_MAX_MSG];
                struct proto_msg m;
                ssize_t n = examples[i].build(buf, sizeof(buf));
                assert_true(n >= PROTO_HEADER_SIZE);
                assert_int_equal(proto_decode(buf, (size_t)n, &m), 0);
                assert_int_equal(m.type, examples[i].type);
                assert_null(m.why);
                /* decode -> encode gives the same bytes */
                ssize_t n2 = proto_encode(&m, again, sizeof(again));
                assert_int_equal(n2, n);
                assert_memory_equal(buf, again, (size_t)n);
                /* one byte short of room is -EMSGSIZE, except where the
                 * encoder cuts text to fit (error message, rule list) */
                ssize_t short_n = examples[i].build(again, (size_t)n - 1);
                if (examples[i].type == PROTO_ERROR || examples[i].type == PROTO_ALLOWED_REPLY) {
                        assert_true(short_n > 0 && short_n < n);
                        assert_int_equal(proto_decode(again, (size_t)short_n, &m), 0);
                } else {
                        assert_int_equal(short_n, -EMSGSIZE);
                }
        }
}

static void test_fields(void **state)
{
        uint8_t buf[PROTO_MAX_MSG];
        struct proto_msg m;
        (void)state;

        assert_int_equal(proto_decode(buf, (size_t)ex_mkdir(buf, sizeof(buf)), &m), 0);
        assert_int_equal(m.id, 3);
        assert_int_equal(m.path_len, 9);
        assert_memory_equal(m.path, "/data/t42", 9);
        assert_int_equal(m.mode, 0750);
        assert_int_equal(m.uid, 1000);
        assert_int_equal(m.gid, 1000);
        assert_int_equal(m.flags, PROTO_MKDIR_PARENTS);

        assert_int_equal(proto_decode(buf, (size_t)ex_chown(buf, sizeof(buf)), &m), 0);
        assert_true(m.present & PROTO_F_UID);
        assert_false(m.present & PROTO_F_GID);

        /* mkdir with only a path: defaults are absent, not zero-valued */
        ssize_t n = proto_encode_mkdir(buf, sizeof(buf), 9, "/d", (mode_t)-1, -1, -1, 0);
        assert_int_equal(proto_decode(buf, (size_t)n, &m), 0);
        assert_int_equal(m.present, PROTO_F_PATH);

        assert_int_equal(proto_decode(buf, (size_t)ex_bind(buf, sizeof(buf)), &m), 0);
        assert_int_equal(m.bind_proto, PROTO_BIND_TCP);
        assert_int_equal(m.port, 443);
        assert_memory_equal(m.address, "0.0.0.0", 7);

        assert_int_equal(proto_decode(buf, (size_t)ex_error(buf, sizeof(buf)), &m), 0);
        assert_int_equal(m.kind, PROTO_ERR_REFUSED);
        assert_memory_equal(m.errname, "EACCES", 6);
        assert_string_equal(proto_kind_name(m.kind), "REFUSED_BY_POLICY");

        assert_int_equal(proto_decode(buf, (size_t)ex_ok_count(buf, sizeof(buf)), &m), 0);
        assert_int_equal(m.count, 17);

        /* a large u64 and full u32 ids survive */
        n = proto_encode_ok(buf, sizeof(buf), UINT32_MAX, INT64_MAX, 0);
        assert_int_equal(proto_decode(buf, (size_t)n, &m), 0);
        assert_int_equal(m.id, UINT32_MAX);
        assert_true(m.count == (uint64_t)INT64_MAX);

        /* an errno without a name goes out as EIO */
        n = proto_encode_error(buf, sizeof(buf), 1, 100000, PROTO_ERR_FAILED, NULL);
        assert_int_equal(proto_decode(buf, (size_t)n, &m), 0);
        assert_memory_equal(m.errname, "EIO", 3);
        assert_false(m.present & PROTO_F_MESSAGE);
}

static void test_limits(void **state)
{
        static uint8_t buf[PROTO_MAX_MSG + 64];
        static char big[3 * PROTO_MAX_MSG];
        struct proto_msg m;
        ssize_t n;
        (void)state;

        /* the longest path fits; one more byte is refused */
        big[0] = '/';
        memset(big + 1, 'a', PROTO_MAX_PATH - 1);
        big[PROTO_MAX_PATH] = '\0';
        n = proto_encode_chmod(buf, sizeof(buf), 1, big, 0600);
        assert_true(n > 0);
        assert_int_equal(proto_decode(buf, (size_t)n, &m), 0);
        assert_int_equal(m.path_len, PROTO_MAX_PATH);
        big[PROTO_MAX_PATH] = 'a';
        big[PROTO_MAX_PATH + 1] = '\0';
        assert_int_equal(proto_encode_chmod(buf, sizeof(buf), 1, big, 0600), -EINVAL);

        /* an over-long error message is cut to fit, at a UTF-8 boundary */
        for (size_t i = 0; i + 2 < sizeof(big); i += 2)
                memcpy(big + i, "\xc3\xa9", 2); /* é */
        big[sizeof(big) - 2] = '\0';
        n = proto_encode_error(buf, sizeof(buf), 1, EACCES, PROTO_ERR_FAILED, big);
        assert_int_equal(n, PROTO_MAX_MSG - 1); /* one byte short: a whole é did not fit */
        assert_int_equal(proto_decode(buf, (size_t)n, &m), 0);
        assert_int_equal(m.message_len % 2, 0);

        /* an over-long rule list is cut at a line and marked */
        for (size_t i = 0; i + 10 < sizeof(big); i += 10)
                memcpy(big + i, "allow x y\n", 10);
        big[sizeof(big) - 1] = '\0';
        n = proto_encode_allowed_reply(buf, sizeof(buf), 1, big);
        assert_true(n > 0 && n <= PROTO_MAX_MSG);
        assert_int_equal(proto_decode(buf, (size_t)n, &m), 0);
        assert_int_equal(m.truncated, 1);
        assert_int_equal(m.text[m.text_len - 1], '\n');
        assert_int_equal(m.text_len % 10, 0);

        /* the writer never writes past cap, and says so once */
        struct proto_writer w;
        proto_writer_init(&w, buf, 3);
        assert_int_equal(proto_put_u16(&w, 1), 0);
        assert_int_equal(proto_put_u16(&w, 2), -EMSGSIZE);
        assert_int_equal(proto_put_u8(&w, 3), -EMSGSIZE);
        assert_int_equal(w.len, 2);

        /* a packet over PROTO_MAX_MSG is refused before it is looked at */
        n = ex_ping(buf, sizeof(buf));
        assert_int_equal(proto_decode(buf, PROTO_MAX_MSG + 1, &m), -EMSGSIZE);
}

static void test_reader(void **state)
{
        const uint8_t b[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        struct proto_reader r = {b, 3};
        uint8_t u8 = 0;
        uint16_t u16 = 0;
        uint32_t u32 = 0;
        uint64_t u64 = 0;
        (void)state;

        assert_int_equal(proto_get_u32(&r, &u32), -EBADMSG);
        assert_int_equal(r.left, 3); /* nothing consumed on failure */
        assert_int_equal(proto_get_u16(&r, &u16) || proto_get_u8(&r, &u8), 0);
        assert_int_equal(u16, 0x0201);
        assert_int_equal(u8, 3);
        assert_int_equal(proto_get_u8(&r, &u8), -EBADMSG);
        r = (struct proto_reader){b, 9};
        assert_int_equal(proto_get_u64(&r, &u64), 0);
        assert_true(u64 == 0x0807060504030201ull);
        assert_int_equal(proto_get_u64(&r, &u64), -EBADMSG);
}

/* ---- decode errors ---- */

/* Decodes an exact-size copy, so ASan sees any read past the end. */
static int decode_copy(const uint8_t *b, size_t n, struct proto_msg *m)
{
        uint8_t *c = malloc(n ? n : 1);
        assert_non_null(c);
        if (n)
                memcpy(c, b, n);
        int r = proto_decode(c, n, m);
        free(c);
        return r;
}

static void put_le16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
        put_le16(p, (uint16_t)v);
        put_le16(p + 2, (uint16_t)(v >> 16));
}

static void test_truncated_everywhere(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
                uint8_t buf[PROTO_MAX_MSG];
                struct proto_msg m;
                ssize_t n = examples[i].build(buf, sizeof(buf));
                for (size_t cut = 0; cut < (size_t)n; cut++) {
                        assert_int_equal(decode_copy(buf, cut, &m), -EBADMSG);
                        assert_non_null(m.why);
                }
                /* the same with the header's length fixed up: cuts inside a
                 * field are errors, cuts between fields may leave a valid
                 * shorter message, but nothing crashes */
                for (size_t cut = PROTO_HEADER_SIZE; cut < (size_t)n; cut++) {
                        uint8_t fixed[PROTO_MAX_MSG];
                        memcpy(fixed, buf, cut);
                        put_le32(fixed + 12, (uint32_t)(cut - PROTO_HEADER_SIZE));
                        int r = decode_copy(fixed, cut, &m);
                        assert_true(r == 0 || r == -EBADMSG);
                }
                /* a byte too many is as bad as one too few */
                buf[n] = 0;
                assert_int_equal(decode_copy(buf, (size_t)n + 1, &m), -EBADMSG);
        }
}

/* Builds header + raw payload. */
static size_t raw(uint8_t *b, uint16_t version, uint16_t type, uint32_t id, const void *payload,
                  size_t plen)
{
        memcpy(b, PROTO_MAGIC, 4);
        put_le16(b + 4, version);
        put_le16(b + 6, type);
        put_le32(b + 8, id);
        put_le32(b + 12, (uint32_t)plen);
        memcpy(b + PROTO_HEADER_SIZE, payload, plen);
        return PROTO_HEADER_SIZE + plen;
}

#define EXPECT(r, label, ...)                                                                      \
        do {                                                                                       \
                static const uint8_t p_[] = {__VA_ARGS__};                                         \
                size_t n_ = raw(buf, PROTO_VERSION, type, 77, p_, sizeof(p_));                     \
                int got_ = decode_copy(buf, n_, &m);                                               \
                if (got_ != (r))                                                                   \
                        fail_msg("%s: got %d, want %d (%s)", #label, got_, (r),                    \
                                 m.why ? m.why : "-");                                             \
        } while (0)

static void test_header_errors(void **state)
{
        uint8_t buf[64];
        struct proto_msg m;
        size_t n;
        (void)state;

        n = raw(buf, PROTO_VERSION, PROTO_PING, 5, "", 0);
        assert_int_equal(decode_copy(buf, n, &m), 0);

        buf[0] = 'X';
        assert_int_equal(decode_copy(buf, n, &m), -EBADMSG);
        assert_string_equal(m.why, "bad magic");
        assert_int_equal(m.id, 0);

        n = raw(buf, PROTO_VERSION + 1, PROTO_PING, 5, "", 0);
        assert_int_equal(decode_copy(buf, n, &m), -EPROTONOSUPPORT);
        assert_int_equal(m.id, 5); /* so the error reply can echo it */
        n = raw(buf, 0, PROTO_PING, 5, "", 0);
        assert_int_equal(decode_copy(buf, n, &m), -EPROTONOSUPPORT);

        n = raw(buf, PROTO_VERSION, 0x0299, 6, "", 0);
        assert_int_equal(decode_copy(buf, n, &m), -EOPNOTSUPP);
        assert_int_equal(m.id, 6);
        assert_int_equal(m.type, 0x0299);

        /* payload length that disagrees with the packet, both ways */
        n = raw(buf, PROTO_VERSION, PROTO_PING, 5, "", 0);
        put_le32(buf + 12, 4);
        assert_int_equal(decode_copy(buf, n, &m), -EBADMSG);
        put_le32(buf + 12, UINT32_MAX);
        assert_int_equal(decode_copy(buf, n, &m), -EBADMSG);

        assert_int_equal(decode_copy(buf, 0, &m), -EBADMSG);
}

static void test_field_errors(void **state)
{
        uint8_t buf[256];
        struct proto_msg m;
        uint16_t type;
        (void)state;

        type = PROTO_CHMOD;
        /* good: path "/a", mode 0640 */
        EXPECT(0, ok, 0x10, 0, 2, 0, '/', 'a', 0x11, 0, 4, 0, 0xa0, 1, 0, 0);
        /* unknown tag */
        EXPECT(-EBADMSG, unknown, 0x10, 0, 2, 0, '/', 'a', 0x11, 0, 4, 0, 0xa0, 1, 0, 0, 0x77, 0x77,
               0, 0);
        assert_string_equal(m.why, "unknown field");
        /* duplicate tag */
        EXPECT(-EBADMSG, dup, 0x10, 0, 2, 0, '/', 'a', 0x11, 0, 4, 0, 0xa0, 1, 0, 0, 0x11, 0, 4, 0,
               0xa0, 1, 0, 0);
        assert_string_equal(m.why, "duplicate field");
        /* missing required MODE */
        EXPECT(-EBADMSG, missing, 0x10, 0, 2, 0, '/', 'a');
        assert_string_equal(m.why, "missing required field");
        /* a known tag that does not belong in chmod (UID) */
        EXPECT(-EBADMSG, misplaced, 0x10, 0, 2, 0, '/', 'a', 0x11, 0, 4, 0, 0xa0, 1, 0, 0, 0x12, 0,
               4, 0, 0, 0, 0, 0);
        /* NUL inside the path */
        EXPECT(-EBADMSG, nul, 0x10, 0, 3, 0, '/', 0, 'a', 0x11, 0, 4, 0, 0xa0, 1, 0, 0);
        assert_string_equal(m.why, "NUL in path");
        /* relative and empty paths */
        EXPECT(-EBADMSG, rel, 0x10, 0, 1, 0, 'a', 0x11, 0, 4, 0, 0xa0, 1, 0, 0);
        EXPECT(-EBADMSG, empty, 0x10, 0, 0, 0, 0x11, 0, 4, 0, 0xa0, 1, 0, 0);
        /* mode with the wrong width, and out of range */
        EXPECT(-EBADMSG, width, 0x10, 0, 2, 0, '/', 'a', 0x11, 0, 2, 0, 0xa0, 1);
        EXPECT(-EBADMSG, range, 0x10, 0, 2, 0, '/', 'a', 0x11, 0, 4, 0, 0, 0x10, 0, 0);
        /* a field longer than what is left */
        EXPECT(-EBADMSG, overrun, 0x10, 0, 9, 0, '/', 'a');

        type = PROTO_OPEN;
        /* no read/write; create without mode; mode without create; bad bit */
        EXPECT(-EBADMSG, norw, 0x10, 0, 1, 0, '/', 0x14, 0, 4, 0, 0, 0, 0, 0);
        EXPECT(-EBADMSG, nomode, 0x10, 0, 1, 0, '/', 0x14, 0, 4, 0, 6, 0, 0, 0);
        EXPECT(-EBADMSG, modenocreate, 0x10, 0, 1, 0, '/', 0x14, 0, 4, 0, 1, 0, 0, 0, 0x11, 0, 4, 0,
               0, 0, 0, 0);
        EXPECT(-EBADMSG, badbit, 0x10, 0, 1, 0, '/', 0x14, 0, 4, 0, 0x41, 0, 0, 0);
        EXPECT(0, good, 0x10, 0, 1, 0, '/', 0x14, 0, 4, 0, 1, 0, 0, 0);

        type = PROTO_CHOWN;
        EXPECT(-EBADMSG, noowner, 0x10, 0, 1, 0, '/');
        EXPECT(-EBADMSG, uidmax, 0x10, 0, 1, 0, '/', 0x12, 0, 4, 0, 0xff, 0xff, 0xff, 0xff);
        EXPECT(0, gidonly, 0x10, 0, 1, 0, '/', 0x13, 0, 4, 0, 0, 0, 0, 0);

        type = PROTO_BIND;
        EXPECT(0, tcp, 0x20, 0, 1, 0, 1, 0x21, 0, 1, 0, '*', 0x22, 0, 2, 0, 80, 0);
        EXPECT(-EBADMSG, noport, 0x20, 0, 1, 0, 1, 0x21, 0, 1, 0, '*');
        EXPECT(-EBADMSG, unixport, 0x20, 0, 1, 0, 3, 0x21, 0, 1, 0, '/', 0x22, 0, 2, 0, 80, 0);
        EXPECT(-EBADMSG, badip, 0x20, 0, 1, 0, 1, 0x21, 0, 3, 0, '1', '.', '2', 0x22, 0, 2, 0, 80,
               0);
        EXPECT(-EBADMSG, badproto, 0x20, 0, 1, 0, 4, 0x21, 0, 1, 0, '/');

        type = PROTO_ERROR;
        EXPECT(0, err, 0x31, 0, 2, 0, 'E', 'X', 0x32, 0, 1, 0, 2);
        EXPECT(-EBADMSG, lower, 0x31, 0, 2, 0, 'E', 'x', 0x32, 0, 1, 0, 2);
        EXPECT(-EBADMSG, kind, 0x31, 0, 2, 0, 'E', 'X', 0x32, 0, 1, 0, 9);

        type = PROTO_HELLO;
        EXPECT(-EBADMSG, shortnonce, 0x01, 0, 2, 0, 1, 0, 0x02, 0, 1, 0, 1, 0x03, 0, 1, 0, 0);

        type = PROTO_OK;
        EXPECT(-EBADMSG, nfds, 0x35, 0, 1, 0, 2);
}

static void test_encode_refuses(void **state)
{
        uint8_t buf[PROTO_MAX_MSG];
        (void)state;
        /* the encoder applies the decoder's rules */
        assert_int_equal(proto_encode_chmod(buf, sizeof(buf), 1, "rel", 0600), -EINVAL);
        assert_int_equal(proto_encode_chmod(buf, sizeof(buf), 1, "/a", 010000), -EINVAL);
        assert_int_equal(proto_encode_open(buf, sizeof(buf), 1, "/a", 0, 0), -EINVAL);
        assert_int_equal(proto_encode_chown(buf, sizeof(buf), 1, "/a", -1, -1, 0), -EINVAL);
        assert_int_equal(proto_encode_bind(buf, sizeof(buf), 1, PROTO_BIND_TCP, "nope", 1),
                         -EINVAL);
        assert_int_equal(proto_encode_empty(buf, sizeof(buf), 0x0999, 1), -EOPNOTSUPP);
        assert_int_equal(proto_encode_chmod(buf, sizeof(buf), 1, NULL, 0600), -EINVAL);
}

static void test_parse_bind(void **state)
{
        uint8_t proto;
        char addr[108];
        uint16_t port;
        (void)state;

        assert_int_equal(proto_parse_bind("tcp:0.0.0.0:443", &proto, addr, sizeof(addr), &port), 0);
        assert_int_equal(proto, PROTO_BIND_TCP);
        assert_string_equal(addr, "0.0.0.0");
        assert_int_equal(port, 443);
        assert_int_equal(proto_parse_bind("udp:[::1]:53", &proto, addr, sizeof(addr), &port), 0);
        assert_int_equal(proto, PROTO_BIND_UDP);
        assert_string_equal(addr, "::1");
        assert_int_equal(proto_parse_bind("tcp:*:0", &proto, addr, sizeof(addr), &port), 0);
        assert_string_equal(addr, "*");
        assert_int_equal(proto_parse_bind("unix:/run/a.sock", &proto, addr, sizeof(addr), &port),
                         0);
        assert_int_equal(proto, PROTO_BIND_UNIX);
        assert_string_equal(addr, "/run/a.sock");

        static const char *const bad[] = {
            "tcp:0.0.0.0", "tcp:0.0.0.0:65536", "tcp:0.0.0.0:-1", "tcp::::443", "tcp:[1.2.3.4]:1",
            "sctp:*:1",    "unix:rel",          "tcp:host:80",    "tcp:*:8x",   "",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(proto_parse_bind(bad[i], &proto, addr, sizeof(addr), &port),
                                 -EINVAL);
}

static void test_mac(void **state)
{
        uint8_t key[PROTO_KEY_BYTES], other[PROTO_KEY_BYTES], mac[PROTO_MAC_BYTES];
        uint8_t nonce[PROTO_NONCE_BYTES], nonce2[PROTO_NONCE_BYTES];
        (void)state;

        memcpy(key, ex_key, sizeof(key));
        memcpy(other, ex_key, sizeof(other));
        other[31] ^= 1;
        memcpy(nonce, ex_nonce, sizeof(nonce));
        memcpy(nonce2, ex_nonce, sizeof(nonce2));
        nonce2[0] ^= 0x80;

        assert_int_equal(proto_auth_mac(key, nonce, &ex_peers, mac), 0);
        assert_int_equal(proto_auth_verify(key, nonce, &ex_peers, mac), 0);
        assert_int_equal(proto_auth_verify(other, nonce, &ex_peers, mac), -EPERM); /* wrong key */
        assert_int_equal(proto_auth_verify(key, nonce2, &ex_peers, mac),
                         -EPERM); /* replayed answer */
        /* Bound to the two ends: a relay in the middle is either another
         * server uid to the client or another client uid to the server. */
        struct proto_auth_peers relay_srv = ex_peers, relay_cli = ex_peers;
        relay_srv.server_uid = 1000;
        relay_cli.client_uid = 1001;
        assert_int_equal(proto_auth_verify(key, nonce, &relay_srv, mac), -EPERM);
        assert_int_equal(proto_auth_verify(key, nonce, &relay_cli, mac), -EPERM);
        /* The documented input: "stepdown-auth-v3\0" || nonce || u32le || u32le. */
        uint8_t in[17 + PROTO_NONCE_BYTES + 8] = "stepdown-auth-v3", byhand[PROTO_MAC_BYTES];
        memcpy(in + 17, nonce, PROTO_NONCE_BYTES);
        in[17 + PROTO_NONCE_BYTES + 4] = 0xe8; /* 1000 = 0x3e8 */
        in[17 + PROTO_NONCE_BYTES + 5] = 0x03;
        crypto_auth(byhand, in, sizeof(in), key);
        assert_memory_equal(byhand, mac, sizeof(mac));
        mac[5] ^= 1;
        assert_int_equal(proto_auth_verify(key, nonce, &ex_peers, mac), -EPERM);

        /* domain separation: the MAC is not crypto_auth over the bare nonce */
        uint8_t bare[PROTO_MAC_BYTES];
        mac[5] ^= 1;
        crypto_auth(bare, nonce, sizeof(nonce), key);
        assert_memory_not_equal(bare, mac, sizeof(mac));
}

/* Version 3: the server proves the key in AUTH_OK, over the client's
 * nonce and the same two ends; the proof is no client MAC (another domain),
 * and a relay or a reflected client MAC fails. */
static void test_server_proof(void **state)
{
        uint8_t proof[PROTO_MAC_BYTES], cmac[PROTO_MAC_BYTES], other[PROTO_KEY_BYTES];
        uint8_t cnonce2[PROTO_NONCE_BYTES], byhand[PROTO_MAC_BYTES];
        (void)state;
        ex_init();
        memcpy(other, ex_key, sizeof(other));
        other[0] ^= 1;
        memcpy(cnonce2, ex_cnonce, sizeof(cnonce2));
        cnonce2[31] ^= 1;

        assert_int_equal(proto_auth_server_mac(ex_key, ex_cnonce, &ex_peers, proof), 0);
        assert_int_equal(proto_auth_server_verify(ex_key, ex_cnonce, &ex_peers, proof), 0);
        assert_int_equal(proto_auth_server_verify(other, ex_cnonce, &ex_peers, proof), -EPERM);
        assert_int_equal(proto_auth_server_verify(ex_key, cnonce2, &ex_peers, proof), -EPERM);
        struct proto_auth_peers relay_srv = ex_peers, relay_cli = ex_peers;
        relay_srv.server_uid = 1001; /* an impostor listening as another uid */
        relay_cli.client_uid = 1001;
        assert_int_equal(proto_auth_server_verify(ex_key, ex_cnonce, &relay_srv, proof), -EPERM);
        assert_int_equal(proto_auth_server_verify(ex_key, ex_cnonce, &relay_cli, proof), -EPERM);
        /* A client MAC over the same nonce is not a server proof: a server
         * cannot answer with the client's own MAC (reflection). */
        proto_auth_mac(ex_key, ex_cnonce, &ex_peers, cmac);
        assert_memory_not_equal(cmac, proof, sizeof(proof));
        assert_int_equal(proto_auth_server_verify(ex_key, ex_cnonce, &ex_peers, cmac), -EPERM);
        /* The documented input: "stepdown-server-v3\0" || client nonce ||
         * u32le server uid || u32le client uid. */
        uint8_t in[19 + PROTO_NONCE_BYTES + 8] = "stepdown-server-v3";
        memcpy(in + 19, ex_cnonce, PROTO_NONCE_BYTES);
        in[19 + PROTO_NONCE_BYTES + 4] = 0xe8;
        in[19 + PROTO_NONCE_BYTES + 5] = 0x03;
        crypto_auth(byhand, in, sizeof(in), ex_key);
        assert_memory_equal(byhand, proof, sizeof(proof));

        /* AUTH carries the client's nonce, AUTH_OK the proof; both required. */
        uint8_t b[128];
        struct proto_msg m;
        ssize_t n = proto_encode_auth(b, sizeof(b), 1, cmac, ex_cnonce);
        assert_true(n > 0);
        assert_int_equal(proto_decode(b, (size_t)n, &m), 0);
        assert_memory_equal(m.nonce, ex_cnonce, PROTO_NONCE_BYTES);
        n = proto_encode_empty(b, sizeof(b), PROTO_AUTH_OK, 1); /* a v2 AUTH_OK: no proof */
        assert_true(n < 0);
        struct proto_msg v2auth = {
            .type = PROTO_AUTH, .id = 1, .present = PROTO_F_MAC, .mac = cmac};
        assert_true(proto_encode(&v2auth, b, sizeof(b)) < 0); /* AUTH without a client nonce */
}

/* ---- the examples in docs/PROTOCOL.md ---- */

static char *read_doc(void)
{
        FILE *f = fopen(SRCDIR "/docs/PROTOCOL.md", "r");
        assert_non_null(f);
        static char doc[256 * 1024];
        size_t n = fread(doc, 1, sizeof(doc) - 1, f);
        fclose(f);
        doc[n] = '\0';
        return doc;
}

static void test_doc_examples(void **state)
{
        const char *doc = read_doc();
        (void)state;
        for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
                uint8_t buf[PROTO_MAX_MSG];
                char want[4 * PROTO_MAX_MSG], marker[64];
                ssize_t n = examples[i].build(buf, sizeof(buf));
                hex(buf, (size_t)n, want, sizeof(want));
                snprintf(marker, sizeof(marker), "<!-- example %s -->\n```\n", examples[i].name);
                const char *at = strstr(doc, marker);
                if (!at)
                        fail_msg("docs/PROTOCOL.md has no example \"%s\"", examples[i].name);
                at += strlen(marker);
                if (strncmp(at, want, strlen(want)) != 0 || strncmp(at + strlen(want), "```", 3))
                        fail_msg("docs/PROTOCOL.md example \"%s\" differs; it should be:\n%s",
                                 examples[i].name, want);
        }
}

static int print_examples(void)
{
        for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
                uint8_t buf[PROTO_MAX_MSG];
                char h[4 * PROTO_MAX_MSG];
                ssize_t n = examples[i].build(buf, sizeof(buf));
                hex(buf, (size_t)n, h, sizeof(h));
                printf("<!-- example %s -->\n```\n%s```\n\n", examples[i].name, h);
        }
        return 0;
}

static int write_corpus(const char *dir)
{
        for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
                uint8_t buf[PROTO_MAX_MSG];
                char path[4096];
                ssize_t n = examples[i].build(buf, sizeof(buf));
                snprintf(path, sizeof(path), "%s/%s", dir, examples[i].name);
                FILE *f = fopen(path, "wb");
                if (!f || fwrite(buf, 1, (size_t)n, f) != (size_t)n || fclose(f) != 0)
                        return 1;
        }
        return 0;
}

int main(int argc, char **argv)
{
        ex_init();
        if (argc == 2 && strcmp(argv[1], "--examples") == 0)
                return print_examples();
        if (argc == 3 && strcmp(argv[1], "--corpus") == 0)
                return write_corpus(argv[2]);
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_examples_round_trip),
            cmocka_unit_test(test_fields),
            cmocka_unit_test(test_limits),
            cmocka_unit_test(test_reader),
            cmocka_unit_test(test_truncated_everywhere),
            cmocka_unit_test(test_header_errors),
            cmocka_unit_test(test_field_errors),
            cmocka_unit_test(test_encode_refuses),
            cmocka_unit_test(test_parse_bind),
            cmocka_unit_test(test_mac),
            cmocka_unit_test(test_server_proof),
            cmocka_unit_test(test_doc_examples),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
