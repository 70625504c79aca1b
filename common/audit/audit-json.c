/* JSON encoder and strict scanner for audit records (see audit-json.h). */
#include "audit-json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit.h"

/* ---- output buffer ---------------------------------------------------- */

void jbuf_reset(struct jbuf *b)
{
        b->len = 0;
        b->err = 0;
}

void jbuf_free(struct jbuf *b)
{
        free(b->data);
        *b = (struct jbuf){0};
}

static bool jbuf_reserve(struct jbuf *b, size_t n)
{
        if (b->err)
                return false;
        if (n > AUDIT_RECORD_MAX * 8 || b->len > AUDIT_RECORD_MAX * 8 - n) {
                b->err = -E2BIG;
                return false;
        }
        if (b->len + n + 1 <= b->cap)
                return true;
        size_t cap = b->cap ? b->cap : 512;
        while (cap < b->len + n + 1)
                cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
                b->err = -ENOMEM;
                return false;
        }
        b->data = d;
        b->cap = cap;
        return true;
}

void jbuf_put_slow(struct jbuf *b, const void *p, size_t n)
{
        if (!jbuf_reserve(b, n))
                return;
        if (n)
                memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
}

void jbuf_printf(struct jbuf *b, const char *fmt, ...)
{
        char small[128];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(small, sizeof(small), fmt, ap);
        va_end(ap);
        if (n < 0) {
                if (!b->err)
                        b->err = -EINVAL;
                return;
        }
        if ((size_t)n < sizeof(small)) {
                jbuf_put(b, small, (size_t)n);
                return;
        }
        if (!jbuf_reserve(b, (size_t)n))
                return;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        b->len += (size_t)n;
}

/* The two decimal digits of 0..99, in order: n's are at 2 * n. */
static const char dec_pairs[2 * 100 + 1] = "00010203040506070809101112131415161718192021222324"
                                           "25262728293031323334353637383940414243444546474849"
                                           "50515253545556575859606162636465666768697071727374"
                                           "75767778798081828384858687888990919293949596979899";

void jbuf_put_u64(struct jbuf *b, uint64_t v)
{
        char d[20];
        size_t n = sizeof(d);
        for (; v >= 100; v /= 100) /* two digits a division */
                memcpy(d + (n -= 2), dec_pairs + 2 * (v % 100), 2);
        if (v >= 10)
                memcpy(d + (n -= 2), dec_pairs + 2 * v, 2);
        else
                d[--n] = (char)('0' + v);
        jbuf_put(b, d + n, sizeof(d) - n);
}

void jbuf_put_i64(struct jbuf *b, int64_t v)
{
        if (v < 0) {
                jbuf_put(b, "-", 1);
                jbuf_put_u64(b, -(uint64_t)v);
        } else
                jbuf_put_u64(b, (uint64_t)v);
}

/* ---- encoder ---------------------------------------------------------- */

size_t utf8_sequence(const unsigned char *s, size_t len)
{
        if (len == 0)
                return 0;
        unsigned char c = s[0];
        if (c < 0x80)
                return 1;
        size_t n;
        unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the 2nd byte */
        if (c >= 0xc2 && c <= 0xdf)
                n = 2;
        else if (c >= 0xe0 && c <= 0xef) {
                n = 3;
                if (c == 0xe0)
                        lo = 0xa0; /* no overlong forms */
                else if (c == 0xed)
                        hi = 0x9f; /* no surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
                n = 4;
                if (c == 0xf0)
                        lo = 0x90;
                else if (c == 0xf4)
                        hi = 0x8f; /* <= U+10FFFF */
        } else
                return 0;
        if (len < n || s[1] < lo || s[1] > hi)
                return 0;
        for (size_t i = 2; i < n; i++)
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
        return n;
}

bool utf8_valid(const char *s, size_t len)
{
        const unsigned char *p = (const unsigned char *)s;
        while (len > 0) {
                size_t n = utf8_sequence(p, len);
                if (n == 0)
                        return false;
                p += n;
                len -= n;
        }
        return true;
}

void json_put_string(struct jbuf *b, const char *s, size_t len)
{
        (void)json_put_string_valid(b, s, len);
}

bool json_put_string_valid(struct jbuf *b, const char *s, size_t len)
{
        bool valid = true;
        static const char hex[] = "0123456789abcdef";
        const unsigned char *p = (const unsigned char *)s;
        jbuf_put(b, "\"", 1);
        size_t i = 0;
        while (i < len) {
                size_t run = i; /* copy runs of plain bytes in one go */
                while (run < len && p[run] >= 0x20 && p[run] < 0x7f && p[run] != '"' &&
                       p[run] != '\\')
                        run++;
                if (run > i) {
                        jbuf_put(b, p + i, run - i);
                        i = run;
                        continue;
                }
                unsigned char c = p[i];
                if (c == '"' || c == '\\') {
                        char e[2] = {'\\', (char)c};
                        jbuf_put(b, e, 2);
                        i++;
                } else if (c < 0x80) { /* control characters and DEL */
                        char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
                        jbuf_put(b, e, 6);
                        i++;
                } else {
                        size_t n = utf8_sequence(p + i, len - i);
                        if (n == 0) {
                                jbuf_puts(b, "\\ufffd");
                                valid = false;
                                i++;
                        } else if (n == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0) {
                                /* C1 controls (U+0080-U+009F; U+009B is CSI):
                                 * escaped, so a record shown on a terminal
                                 * (docker logs, tail) carries none raw. */
                                char e[6] = {
                                    '\\', 'u', '0', '0', hex[p[i + 1] >> 4], hex[p[i + 1] & 0xf]};
                                jbuf_put(b, e, 6);
                                i += 2;
                        } else if (n == 3 && p[i] == 0xe2 && p[i + 1] == 0x80 &&
                                   (p[i + 2] == 0xa8 || p[i + 2] == 0xa9)) {
                                jbuf_puts(b, p[i + 2] == 0xa8 ? "\\u2028" : "\\u2029");
                                i += 3;
                        } else {
                                jbuf_put(b, p + i, n);
                                i += n;
                        }
                }
        }
        jbuf_put(b, "\"", 1);
        return valid;
}

/* Bytes a JSON string cannot carry as they are (json_put_string_valid
 * escapes or checks them), and the NUL that ends a C string. */
static const bool not_plain[256] = {
    [0x00 ... 0x1f] = true,
    ['"'] = true,
    ['\\'] = true,
    [0x7f ... 0xff] = true,
};

void json_put_value_string(struct jbuf *b, const char *name, const char *s)
{
        if (!s) {
                jbuf_puts(b, "null");
                return;
        }
        /* Nearly every value of a record is printable ASCII: one pass finds
         * its end, and it is copied as it is. */
        const unsigned char *p = (const unsigned char *)s;
        while (!not_plain[*p])
                p++;
        if (*p == '\0') {
                jbuf_put(b, "\"", 1);
                jbuf_put(b, s, (size_t)(p - (const unsigned char *)s));
                jbuf_put(b, "\"", 1);
                return;
        }
        size_t len = strlen(s);
        if (json_put_string_valid(b, s, len))
                return;
        jbuf_printf(b, ",\"%s_b64\":\"", name);
        size_t b64len = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
        if (!jbuf_reserve(b, b64len))
                return;
        sodium_bin2base64(b->data + b->len, b64len, (const unsigned char *)s, len,
                          sodium_base64_VARIANT_ORIGINAL);
        b->len += b64len - 1; /* without the NUL */
        jbuf_put(b, "\"", 1);
}

void json_put_member_string(struct jbuf *b, const char *name, const char *s, bool first)
{
        jbuf_put(b, first ? "\"" : ",\"", first ? 1 : 2);
        jbuf_puts(b, name);
        jbuf_put(b, "\":", 2);
        json_put_value_string(b, name, s);
}

/* ---- scanner ---------------------------------------------------------- */

#define JSON_MAX_DEPTH 32

struct jp {
        const unsigned char *p, *end;
        int depth;
};

static void skip_ws(struct jp *j)
{
        while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
                j->p++;
}

static int hexval(unsigned char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

static int scan_string(struct jp *j)
{
        j->p++; /* opening quote */
        while (j->p < j->end) {
                unsigned char c = *j->p;
                if (c == '"') {
                        j->p++;
                        return 0;
                }
                if (c < 0x20)
                        return -EBADMSG;
                if (c == '\\') {
                        if (j->end - j->p < 2)
                                return -ENODATA;
                        c = j->p[1];
                        if (c == 'u') {
                                for (int k = 2; k < 6; k++) {
                                        if (j->p + k >= j->end)
                                                return -ENODATA;
                                        if (hexval(j->p[k]) < 0)
                                                return -EBADMSG;
                                }
                                j->p += 6;
                        } else if (strchr("\"\\/bfnrt", c) && c) {
                                j->p += 2;
                        } else
                                return -EBADMSG;
                        continue;
                }
                if (c < 0x80) {
                        j->p++;
                        continue;
                }
                size_t n = utf8_sequence(j->p, (size_t)(j->end - j->p));
                if (n == 0) {
                        /* A sequence cut by the end of the text is truncation. */
                        size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
                        if ((size_t)(j->end - j->p) < need && c >= 0xc2 && c <= 0xf4) {
                                bool prefix_ok = true;
                                for (const unsigned char *q = j->p + 1; q < j->end; q++)
                                        prefix_ok &= (*q & 0xc0) == 0x80;
                                if (prefix_ok)
                                        return -ENODATA;
                        }
                        return -EBADMSG;
                }
                j->p += n;
        }
        return -ENODATA;
}

static int scan_digits(struct jp *j)
{
        if (j->p >= j->end)
                return -ENODATA;
        if (*j->p < '0' || *j->p > '9')
                return -EBADMSG;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
                j->p++;
        return 0;
}

static int scan_number(struct jp *j)
{
        int r;
        if (*j->p == '-')
                j->p++;
        if (j->p >= j->end)
                return -ENODATA;
        if (*j->p == '0')
                j->p++;
        else if ((r = scan_digits(j)) < 0)
                return r;
        if (j->p < j->end && *j->p == '.') {
                j->p++;
                if ((r = scan_digits(j)) < 0)
                        return r;
        }
        if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
                j->p++;
                if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
                        j->p++;
                if ((r = scan_digits(j)) < 0)
                        return r;
        }
        return 0;
}

static int scan_literal(struct jp *j, const char *word)
{
        size_t n = strlen(word);
        size_t have = (size_t)(j->end - j->p);
        if (memcmp(j->p, word, have < n ? have : n) != 0)
                return -EBADMSG;
        if (have < n)
                return -ENODATA;
        j->p += n;
        return 0;
}

static int scan_value(struct jp *j, struct json_value *v);

/* Scans an object or array body; for the top-level object reports members. */
static int scan_container(struct jp *j, bool object, json_member_fn fn, void *userdata)
{
        if (++j->depth > JSON_MAX_DEPTH)
                return -EBADMSG;
        j->p++; /* opening bracket */
        char close = object ? '}' : ']';
        skip_ws(j);
        if (j->p < j->end && *j->p == close) {
                j->p++;
                j->depth--;
                return 0;
        }
        for (;;) {
                int r;
                const unsigned char *name = NULL;
                size_t name_len = 0;
                skip_ws(j);
                if (object) {
                        if (j->p >= j->end)
                                return -ENODATA;
                        if (*j->p != '"')
                                return -EBADMSG;
                        name = j->p + 1;
                        if ((r = scan_string(j)) < 0)
                                return r;
                        name_len = (size_t)(j->p - 1 - name);
                        skip_ws(j);
                        if (j->p >= j->end)
                                return -ENODATA;
                        if (*j->p++ != ':')
                                return -EBADMSG;
                }
                struct json_value v;
                if ((r = scan_value(j, &v)) < 0)
                        return r;
                if (fn && (r = fn((const char *)name, name_len, &v, userdata)) != 0)
                        return r;
                skip_ws(j);
                if (j->p >= j->end)
                        return -ENODATA;
                unsigned char c = *j->p++;
                if (c == close)
                        break;
                if (c != ',')
                        return -EBADMSG;
        }
        j->depth--;
        return 0;
}

static int scan_value(struct jp *j, struct json_value *v)
{
        int r;
        skip_ws(j);
        if (j->p >= j->end)
                return -ENODATA;
        v->start = (const char *)j->p;
        switch (*j->p) {
        case '"':
                v->type = JSON_STRING;
                r = scan_string(j);
                break;
        case '{':
        case '[':
                v->type = *j->p == '{' ? JSON_OBJECT : JSON_ARRAY;
                r = scan_container(j, *j->p == '{', NULL, NULL);
                break;
        case 't':
                v->type = JSON_TRUE;
                r = scan_literal(j, "true");
                break;
        case 'f':
                v->type = JSON_FALSE;
                r = scan_literal(j, "false");
                break;
        case 'n':
                v->type = JSON_NULL;
                r = scan_literal(j, "null");
                break;
        default:
                if (*j->p != '-' && (*j->p < '0' || *j->p > '9'))
                        return -EBADMSG;
                v->type = JSON_NUMBER;
                r = scan_number(j);
                break;
        }
        if (r < 0)
                return r;
        v->len = (size_t)((const char *)j->p - v->start);
        return 0;
}

int json_scan_object(const char *s, size_t len, json_member_fn fn, void *userdata)
{
        struct jp j = {(const unsigned char *)s, (const unsigned char *)s + len, 0};
        skip_ws(&j);
        if (j.p >= j.end)
                return -ENODATA;
        if (*j.p != '{')
                return -EBADMSG;
        int r = scan_container(&j, true, fn, userdata);
        if (r < 0)
                return r;
        skip_ws(&j);
        return j.p == j.end ? 0 : -EBADMSG;
}

static void put_utf8(struct jbuf *out, uint32_t cp)
{
        unsigned char u[4];
        size_t n;
        if (cp < 0x80) {
                u[0] = (unsigned char)cp;
                n = 1;
        } else if (cp < 0x800) {
                u[0] = (unsigned char)(0xc0 | (cp >> 6));
                u[1] = (unsigned char)(0x80 | (cp & 0x3f));
                n = 2;
        } else if (cp < 0x10000) {
                u[0] = (unsigned char)(0xe0 | (cp >> 12));
                u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
                u[2] = (unsigned char)(0x80 | (cp & 0x3f));
                n = 3;
        } else {
                u[0] = (unsigned char)(0xf0 | (cp >> 18));
                u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
                u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
                u[3] = (unsigned char)(0x80 | (cp & 0x3f));
                n = 4;
        }
        jbuf_put(out, u, n);
}

static uint32_t hex4(const unsigned char *p)
{
        return (uint32_t)(hexval(p[0]) << 12 | hexval(p[1]) << 8 | hexval(p[2]) << 4 |
                          hexval(p[3]));
}

int json_string_decode(const struct json_value *v, struct jbuf *out)
{
        if (v->type != JSON_STRING || v->len < 2)
                return -EINVAL;
        /* The scanner validated the token; decode between the quotes. */
        const unsigned char *p = (const unsigned char *)v->start + 1;
        const unsigned char *end = (const unsigned char *)v->start + v->len - 1;
        while (p < end) {
                const unsigned char *run = p;
                while (run < end && *run != '\\')
                        run++;
                jbuf_put(out, p, (size_t)(run - p));
                p = run;
                if (p >= end)
                        break;
                unsigned char c = p[1];
                p += 2;
                switch (c) {
                case 'b':
                        jbuf_put(out, "\b", 1);
                        continue;
                case 'f':
                        jbuf_put(out, "\f", 1);
                        continue;
                case 'n':
                        jbuf_put(out, "\n", 1);
                        continue;
                case 'r':
                        jbuf_put(out, "\r", 1);
                        continue;
                case 't':
                        jbuf_put(out, "\t", 1);
                        continue;
                case 'u':
                        break;
                default: /* " \ / */
                        jbuf_put(out, &c, 1);
                        continue;
                }
                uint32_t cp = hex4(p);
                p += 4;
                if (cp >= 0xdc00 && cp <= 0xdfff)
                        return -EBADMSG; /* lone low surrogate */
                if (cp >= 0xd800 && cp <= 0xdbff) {
                        if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
                                return -EBADMSG;
                        uint32_t lo = hex4(p + 2);
                        if (lo < 0xdc00 || lo > 0xdfff)
                                return -EBADMSG;
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        p += 6;
                }
                put_utf8(out, cp);
        }
        return out->err;
}

int json_u64(const struct json_value *v, uint64_t *out)
{
        if (v->type != JSON_NUMBER || v->len == 0 || v->len > 20)
                return -EBADMSG;
        uint64_t n = 0;
        for (size_t i = 0; i < v->len; i++) {
                unsigned char c = (unsigned char)v->start[i];
                if (c < '0' || c > '9')
                        return -EBADMSG;
                if (n > (UINT64_MAX - (c - '0')) / 10)
                        return -EBADMSG; /* does not fit */
                n = n * 10 + (c - '0');
        }
        *out = n;
        return 0;
}
