/* Fuzzes the audit JSON encoder and the verifier's line parser.
 * First byte selects the target: even = encoder round trip (every input
 * must encode to JSON the scanner accepts and decode back to the input,
 * or to U+FFFD for bytes that are not UTF-8, with an exact base64 twin);
 * odd = record parser and scanner on the rest as one line, then the whole
 * verifier on it as a file. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sodium.h>

#include "audit-json.h"
#include "audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int capture(const char *name, size_t len, const struct json_value *v, void *ud)
{
        if (len == 1 && name[0] == 'v')
                *(struct json_value *)ud = *v;
        return 0;
}

static void encoder(const char *s, size_t len)
{
        struct jbuf b = {0}, out = {0};
        jbuf_puts(&b, "{\"v\":");
        json_put_string(&b, s, len);
        jbuf_puts(&b, "}");
        if (b.err)
                abort();
        struct json_value v = {0};
        if (json_scan_object(b.data, b.len, capture, &v) != 0 || v.type != JSON_STRING)
                abort();
        if (json_string_decode(&v, &out) != 0)
                abort();
        if (utf8_valid(s, len)) {
                if (out.len != len || (len && memcmp(out.data, s, len) != 0))
                        abort();
        } else if (!utf8_valid(out.data, out.len)) {
                abort();
        }
        /* The member form recovers the exact bytes (C strings: up to NUL). */
        char *cstr = strndup(s, len);
        if (!cstr)
                abort();
        jbuf_reset(&b);
        json_put_member_string(&b, "v", cstr, true);
        size_t clen = strlen(cstr);
        if (!utf8_valid(cstr, clen)) {
                const char *p = strstr(b.data, ",\"v_b64\":\"");
                if (!p)
                        abort();
                p += 10;
                unsigned char *raw = malloc(clen + 1);
                size_t raw_len = 0;
                if (!raw ||
                    sodium_base642bin(raw, clen + 1, p, strlen(p) - 1, NULL, &raw_len, NULL,
                                      sodium_base64_VARIANT_ORIGINAL) != 0 ||
                    raw_len != clen || memcmp(raw, cstr, clen) != 0)
                        abort();
                free(raw);
        }
        free(cstr);
        jbuf_free(&b);
        jbuf_free(&out);
}

static void parser(const char *s, size_t len)
{
        struct audit_record r;
        int e = audit_record_parse(s, len, &r);
        if (e != 0 && e != -ENODATA && e != -EBADMSG)
                abort();
        /* A parsed record's lost list never overflows, and a "lost" member
         * always says at least one record. */
        if (e == 0 && (r.n_lost_intents > AUDIT_LOST_MAX || (r.n_lost_intents && !r.lost)))
                abort();
        (void)json_scan_object(s, len, NULL, NULL);
        /* show's row-by-row chain check: the record against itself (a new
         * log, then a repeat that cannot link). */
        if (e == 0) {
                struct audit_chain *c = audit_chain_new();
                if (!c)
                        abort();
                enum audit_row first = audit_chain_check(c, s, len, &r);
                if (first == AUDIT_ROW_OK && (r.seq != 1 || !r.has_policy_hash))
                        abort();
                if (audit_chain_check(c, s, len, &r) != AUDIT_ROW_BAD)
                        abort();
                audit_chain_free(c);
        }
        /* The whole verifier over the input as a log file. */
        int fd = memfd_create("audit", MFD_CLOEXEC);
        if (fd < 0)
                return;
        if (write(fd, s, len) == (ssize_t)len) {
                char path[64];
                snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
                char *files[] = {path, path};
                FILE *devnull = fopen("/dev/null", "we");
                if (devnull) {
                        int v = audit_verify(files, 2, NULL, devnull);
                        if (v != AUDIT_VERIFY_INTACT && v != AUDIT_VERIFY_BROKEN &&
                            v != AUDIT_VERIFY_OPEN && v != AUDIT_VERIFY_EMPTY)
                                abort();
                        fclose(devnull);
                }
        }
        close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size == 0 || size > 64 * 1024)
                return 0;
        if (sodium_init() < 0)
                abort();
        if (data[0] % 2 == 0)
                encoder((const char *)data + 1, size - 1);
        else
                parser((const char *)data + 1, size - 1);
        return 0;
}
