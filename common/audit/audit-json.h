/* JSON building and parsing for the audit log: a growable buffer, a string
 * encoder that accepts any bytes, a strict validating scanner for one
 * object per line, and the parser for the fields the chain depends on.
 * Shared by the writer (audit.c), the verifier (audit-verify.c), the unit
 * test and the fuzzer. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- output buffer ---------------------------------------------------- */

struct jbuf {
        char *data;
        size_t len, cap;
        int err; /* first error (-ENOMEM, -E2BIG), sticky until jbuf_reset */
};

void jbuf_reset(struct jbuf *b);
void jbuf_free(struct jbuf *b);
void jbuf_put_slow(struct jbuf *b, const void *p, size_t n);
/* Appends n bytes (kept NUL-terminated); inline: the writer calls it some
 * sixty times a record. */
static inline void jbuf_put(struct jbuf *b, const void *p, size_t n)
{
        if (!b->err && n < b->cap && b->len + n + 1 <= b->cap) {
                memcpy(b->data + b->len, p, n);
                b->len += n;
                b->data[b->len] = '\0';
        } else
                jbuf_put_slow(b, p, n);
}
/* Inline, so that the length of a literal is known at compile time. */
static inline void jbuf_puts(struct jbuf *b, const char *s)
{
        jbuf_put(b, s, strlen(s));
}
void jbuf_printf(struct jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Decimal, without printf (the writer's hot path). */
void jbuf_put_u64(struct jbuf *b, uint64_t v);
void jbuf_put_i64(struct jbuf *b, int64_t v);

/* ---- encoder ---------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s (1-4), 0 if the bytes at
 * s do not start one (overlong forms, surrogates and > U+10FFFF are not
 * well-formed). */
size_t utf8_sequence(const unsigned char *s, size_t len);
bool utf8_valid(const char *s, size_t len);

/* Appends s[0..len) as a quoted JSON string: '"' and '\' escaped, bytes
 * 0x00-0x1f and 0x7f as \u00XX, C1 controls U+0080-U+009F as \u0080-\u009f,
 * U+2028/U+2029 as \u2028/\u2029, other
 * well-formed UTF-8 as is, and every byte that is not part of well-formed
 * UTF-8 as \ufffd (lossy: see json_put_member_string). */
void json_put_string(struct jbuf *b, const char *s, size_t len);
/* The same; returns whether s[0..len) was well-formed UTF-8. */
bool json_put_string_valid(struct jbuf *b, const char *s, size_t len);

/* The member's value: "value" or null, and ,"name_b64":"..." after it
 * when needed (json_put_member_string without the name part). */
void json_put_value_string(struct jbuf *b, const char *name, const char *s);
/* Appends ,"name":"value" (null when s is NULL).  When s is not valid
 * UTF-8 it also appends ,"name_b64":"<base64 of the exact bytes>", so the
 * raw value can always be recovered.  With first, no leading comma. */
void json_put_member_string(struct jbuf *b, const char *name, const char *s, bool first);

/* ---- scanner ---------------------------------------------------------- */

enum json_type {
        JSON_STRING,
        JSON_NUMBER,
        JSON_OBJECT,
        JSON_ARRAY,
        JSON_TRUE,
        JSON_FALSE,
        JSON_NULL,
};

struct json_value {
        enum json_type type;
        const char *start; /* raw token; strings include their quotes */
        size_t len;
};

/* Called for each member of the object, name raw (escapes not decoded).
 * A non-zero return stops the scan and is returned. */
typedef int (*json_member_fn)(const char *name, size_t name_len, const struct json_value *v,
                              void *userdata);

/* Validates that s[0..len) is exactly one JSON object (RFC 8259, strings
 * well-formed UTF-8, nesting at most 32 deep) and reports its top-level
 * members.  Returns 0, -ENODATA if the text ends early (truncated),
 * -EBADMSG on any other syntax error. */
int json_scan_object(const char *s, size_t len, json_member_fn fn, void *userdata);

/* Decodes a JSON_STRING value into raw bytes (appended to out, not
 * NUL-terminated).  -EBADMSG for lone surrogates or NUL (\u0000 is
 * decoded; callers that need C strings check). */
int json_string_decode(const struct json_value *v, struct jbuf *out);

/* A JSON_NUMBER that is a plain non-negative integer fitting uint64_t;
 * -EBADMSG otherwise. */
int json_u64(const struct json_value *v, uint64_t *out);

/* ---- audit records ---------------------------------------------------- */

#define AUDIT_LOG_ID_HEX 32 /* 16 random bytes */
#define AUDIT_HASH_BYTES 32 /* BLAKE2b-256 */
#define AUDIT_SIG_BYTES  64 /* Ed25519 */
/* A signed line ends with ,"sig":"<128 hex>"} */
#define AUDIT_SIG_SUFFIX_LEN (7 + 1 + 2 * AUDIT_SIG_BYTES + 1 + 1)

/* Intents named in one "lost" member at most (the count says the rest). */
#define AUDIT_LOST_MAX 16

struct audit_record {
        uint64_t seq;
        char log[AUDIT_LOG_ID_HEX + 1];
        uint8_t prev[AUDIT_HASH_BYTES];
        bool has_policy_hash;
        bool has_continues;
        char cont_log[AUDIT_LOG_ID_HEX + 1];
        uint64_t cont_seq;
        bool has_sig;
        uint8_t sig[AUDIT_SIG_BYTES];
        bool has_sealed; /* "sealed":N: a seal over N unsigned records before it */
        uint64_t sealed;
        bool is_intent;  /* "event":"intent" */
        bool is_start;   /* "event":"start" */
        bool is_stop;    /* "event":"stop" */
        bool has_intent; /* an outcome: "intent":N */
        uint64_t intent; /* N: seq of its intent record */
        uint64_t lost;   /* "lost":{"records":N,...}: records not written before this one */
        size_t n_lost_intents;
        uint64_t lost_intents[AUDIT_LOST_MAX]; /* "intents":[...] */
};

/* Parses one line (without its newline) into the chain fields.  Returns
 * 0, -ENODATA if the line ends early, -EBADMSG if it is not a well-formed
 * record (invalid JSON, a missing, malformed or repeated chain field, a
 * "sig" that is not the last member). */
int audit_record_parse(const char *line, size_t len, struct audit_record *r);
