/* Audit log verification: the chain fields of a record, the hash chain
 * across rotated files, Ed25519 signatures, and key generation. */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "audit-json.h"
#include "util.h"

/* ---- record line parser ----------------------------------------------- */

enum {
        F_SEQ = 1 << 0,
        F_LOG = 1 << 1,
        F_PREV = 1 << 2,
        F_POLICY = 1 << 3,
        F_CONT = 1 << 4,
        F_SIG = 1 << 5,
        F_CONT_LOG = 1 << 6,
        F_CONT_SEQ = 1 << 7,
};

struct parse_ctx {
        struct audit_record *r;
        const char *line;
        size_t len;
        unsigned seen;
};

static bool name_is(const char *name, size_t len, const char *want)
{
        return len == strlen(want) && memcmp(name, want, len) == 0;
}

/* A string of exactly 2*n lowercase hex digits, decoded into out. */
static int get_hex(const struct json_value *v, uint8_t *out, size_t n)
{
        if (v->type != JSON_STRING || v->len != 2 * n + 2)
                return -EBADMSG;
        for (size_t i = 1; i <= 2 * n; i++) {
                char c = v->start[i];
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                        return -EBADMSG;
        }
        return sodium_hex2bin(out, n, v->start + 1, 2 * n, NULL, NULL, NULL) < 0 ? -EBADMSG : 0;
}

static int get_log_id(const struct json_value *v, char out[AUDIT_LOG_ID_HEX + 1])
{
        uint8_t bin[AUDIT_LOG_ID_HEX / 2];
        int r = get_hex(v, bin, sizeof(bin));
        if (r < 0)
                return r;
        memcpy(out, v->start + 1, AUDIT_LOG_ID_HEX);
        out[AUDIT_LOG_ID_HEX] = '\0';
        return 0;
}

static int mark(struct parse_ctx *c, unsigned bit)
{
        if (c->seen & bit)
                return -EBADMSG; /* repeated chain field */
        c->seen |= bit;
        return 0;
}

static int continues_member(const char *name, size_t len, const struct json_value *v, void *ud)
{
        struct parse_ctx *c = ud;
        if (name_is(name, len, "log"))
                return mark(c, F_CONT_LOG) ?: get_log_id(v, c->r->cont_log);
        if (name_is(name, len, "seq"))
                return mark(c, F_CONT_SEQ) ?: json_u64(v, &c->r->cont_seq);
        return 0;
}

static int record_member(const char *name, size_t len, const struct json_value *v, void *ud)
{
        struct parse_ctx *c = ud;
        struct audit_record *r = c->r;
        if (name_is(name, len, "seq"))
                return mark(c, F_SEQ) ?: json_u64(v, &r->seq);
        if (name_is(name, len, "log"))
                return mark(c, F_LOG) ?: get_log_id(v, r->log);
        if (name_is(name, len, "prev"))
                return mark(c, F_PREV) ?: get_hex(v, r->prev, sizeof(r->prev));
        if (name_is(name, len, "policy_hash")) {
                r->has_policy_hash = true;
                return mark(c, F_POLICY);
        }
        if (name_is(name, len, "continues")) {
                int e = mark(c, F_CONT);
                if (e < 0 || v->type != JSON_OBJECT)
                        return -EBADMSG;
                r->has_continues = true;
                e = json_scan_object(v->start, v->len, continues_member, c);
                if (e < 0)
                        return e;
                return (c->seen & (F_CONT_LOG | F_CONT_SEQ)) == (F_CONT_LOG | F_CONT_SEQ)
                           ? 0
                           : -EBADMSG;
        }
        if (name_is(name, len, "sig")) {
                /* Only as the last member, in the writer's exact layout. */
                size_t at = c->len - AUDIT_SIG_SUFFIX_LEN;
                if (c->len < AUDIT_SIG_SUFFIX_LEN + 2 || v->start != c->line + at + 7 ||
                    memcmp(c->line + at, ",\"sig\":", 7) != 0)
                        return -EBADMSG;
                r->has_sig = true;
                return mark(c, F_SIG) ?: get_hex(v, r->sig, sizeof(r->sig));
        }
        return 0;
}

int audit_record_parse(const char *line, size_t len, struct audit_record *r)
{
        *r = (struct audit_record){0};
        struct parse_ctx c = {r, line, len, 0};
        int e = json_scan_object(line, len, record_member, &c);
        if (e < 0)
                return e;
        if ((c.seen & (F_SEQ | F_LOG | F_PREV)) != (F_SEQ | F_LOG | F_PREV) || r->seq == 0)
                return -EBADMSG;
        if (r->has_sig && line[len - 1] != '}')
                return -EBADMSG;
        return 0;
}

/* ---- chain verification ----------------------------------------------- */

struct verifier {
        FILE *report;
        const uint8_t *pk; /* NULL: signatures not checked */
        bool have_prev;
        uint8_t prev_hash[AUDIT_HASH_BYTES];
        uint64_t prev_seq;
        char prev_log[AUDIT_LOG_ID_HEX + 1];
        const char *prev_file;
        size_t prev_line;
        size_t records, logs;
};

static int broken(struct verifier *v, const char *file, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int broken(struct verifier *v, const char *file, size_t line, const char *fmt, ...)
{
        va_list ap;
        fprintf(v->report, "%s:%zu: ", file, line);
        va_start(ap, fmt);
        vfprintf(v->report, fmt, ap);
        va_end(ap);
        fputc('\n', v->report);
        return 1;
}

static bool check_sig(const struct verifier *v, const char *line, size_t len,
                      const struct audit_record *r)
{
        size_t mlen = len - AUDIT_SIG_SUFFIX_LEN;
        _cleanup_free_ unsigned char *m = malloc(mlen + 1);
        if (!m)
                return false;
        memcpy(m, line, mlen);
        m[mlen] = '}';
        return crypto_sign_verify_detached(r->sig, m, mlen + 1, v->pk) == 0;
}

/* After a gap: does the missing record come later (reordered) or never
 * (deleted)?  Reads on from the current position of f, then later files. */
static bool find_seq(FILE *f, const char *log, uint64_t seq)
{
        _cleanup_free_ char *buf = NULL;
        size_t cap = 0;
        ssize_t len;
        while ((len = getline(&buf, &cap, f)) > 0) {
                struct audit_record r;
                if (buf[len - 1] == '\n')
                        len--;
                if (audit_record_parse(buf, (size_t)len, &r) == 0 && r.seq == seq &&
                    strcmp(r.log, log) == 0)
                        return true;
        }
        return false;
}

static bool appears_later(FILE *f, char **files, size_t n, size_t next, const char *log,
                          uint64_t seq)
{
        if (find_seq(f, log, seq))
                return true;
        for (; next < n; next++) {
                _cleanup_fclose_ FILE *g = fopen(files[next], "re");
                if (g && find_seq(g, log, seq))
                        return true;
        }
        return false;
}

/* Checks how record r (at file:line) links to the previous record. */
static int check_link(struct verifier *v, const char *file, size_t lineno,
                      const struct audit_record *r, FILE *f, char **files, size_t n, size_t next)
{
        static const uint8_t zero[AUDIT_HASH_BYTES];
        if (r->seq == 1) {
                if (v->have_prev && strcmp(r->log, v->prev_log) == 0)
                        return broken(v, file, lineno, "reordered (seq 1 of log %s again)", r->log);
                if (memcmp(r->prev, zero, sizeof(zero)) != 0 || !r->has_policy_hash)
                        return broken(v, file, lineno,
                                      "edited (first record of a log needs a zero prev and "
                                      "policy_hash)");
                v->logs++;
                return 0;
        }
        if (!v->have_prev) {
                if (r->has_continues && lineno == 1) {
                        fprintf(v->report,
                                "%s:1: continues log %s after seq %" PRIu64
                                " from an earlier file (not given; that link is not checked)\n",
                                file, r->cont_log, r->cont_seq);
                        v->logs++;
                        return 0;
                }
                return broken(v, file, lineno,
                              "deleted (log %s starts at seq %" PRIu64 "; earlier records missing)",
                              r->log, r->seq);
        }
        if (strcmp(r->log, v->prev_log) != 0)
                return broken(v, file, lineno,
                              "deleted (seq %" PRIu64 " of log %s follows seq %" PRIu64
                              " of log %s)",
                              r->seq, r->log, v->prev_seq, v->prev_log);
        uint64_t want = v->prev_seq + 1;
        if (r->seq < want)
                return broken(v, file, lineno, "reordered (seq %" PRIu64 " after seq %" PRIu64 ")",
                              r->seq, v->prev_seq);
        if (r->seq > want) {
                if (appears_later(f, files, n, next, r->log, want))
                        return broken(v, file, lineno,
                                      "reordered (seq %" PRIu64 " where seq %" PRIu64
                                      " belongs; it comes later)",
                                      r->seq, want);
                return broken(v, file, lineno,
                              "deleted (seq %" PRIu64 "..%" PRIu64 " missing before this line)",
                              want, r->seq - 1);
        }
        if (memcmp(r->prev, v->prev_hash, sizeof(v->prev_hash)) != 0)
                return broken(v, v->prev_file, v->prev_line,
                              "edited (its hash does not match \"prev\" of %s:%zu)", file, lineno);
        return 0;
}

static int verify_file(struct verifier *v, char **files, size_t n, size_t idx)
{
        const char *file = files[idx];
        FILE *f = fopen(file, "re");
        if (!f) {
                int r = negative_errno();
                fprintf(v->report, "%s: %s\n", file, strerror(-r));
                return r;
        }
        _cleanup_free_ char *line = NULL;
        size_t cap = 0, lineno = 0, first = v->records;
        ssize_t len;
        int ret = 0;
        while (ret == 0 && (len = getline(&line, &cap, f)) > 0) {
                lineno++;
                if (line[len - 1] != '\n') {
                        ret = broken(v, file, lineno, "truncated (last line incomplete)");
                        break;
                }
                line[--len] = '\0';
                struct audit_record r;
                int e = audit_record_parse(line, (size_t)len, &r);
                if (e == -ENODATA)
                        ret = broken(v, file, lineno, "truncated (record ends early)");
                else if (e < 0)
                        ret = broken(v, file, lineno, "edited (not a well-formed record)");
                else if (v->pk && !r.has_sig)
                        ret = broken(v, file, lineno, "bad signature (record is not signed)");
                else if (v->pk && !check_sig(v, line, (size_t)len, &r))
                        ret = broken(v, file, lineno, "bad signature");
                else
                        ret = check_link(v, file, lineno, &r, f, files, n, idx + 1);
                if (ret)
                        break;
                crypto_generichash(v->prev_hash, sizeof(v->prev_hash), (unsigned char *)line,
                                   (size_t)len, NULL, 0);
                v->have_prev = true;
                v->prev_seq = r.seq;
                memcpy(v->prev_log, r.log, sizeof(v->prev_log));
                v->prev_file = file;
                v->prev_line = lineno;
                v->records++;
        }
        if (ret == 0 && ferror(f))
                ret = -EIO;
        fclose(f);
        if (ret == 0)
                fprintf(v->report, "%s: %zu records\n", file, v->records - first);
        return ret;
}

static int read_hex_key(const char *path, uint8_t *out, size_t n)
{
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return negative_errno();
        char buf[2 * crypto_sign_SECRETKEYBYTES + 8];
        if (!fgets(buf, sizeof(buf), f))
                return -EINVAL;
        size_t len = strcspn(buf, "\r\n");
        size_t bin_len = 0;
        if (len != 2 * n || sodium_hex2bin(out, n, buf, len, NULL, &bin_len, NULL) < 0 ||
            bin_len != n)
                return -EINVAL;
        return 0;
}

int audit_verify(char **files, size_t n, const char *pubkey_file, FILE *report)
{
        uint8_t pk[crypto_sign_PUBLICKEYBYTES];
        struct verifier v = {.report = report};
        if (sodium_init() < 0)
                return -EIO;
        if (pubkey_file) {
                int r = read_hex_key(pubkey_file, pk, sizeof(pk));
                if (r < 0) {
                        fprintf(report, "%s: %s\n", pubkey_file,
                                r == -EINVAL ? "not an Ed25519 public key" : strerror(-r));
                        return r;
                }
                v.pk = pk;
        }
        for (size_t i = 0; i < n; i++) {
                int r = verify_file(&v, files, n, i);
                if (r != 0)
                        return r;
        }
        fprintf(report, "intact: %zu records in %zu file%s, %s\n", v.records, n, n == 1 ? "" : "s",
                v.pk ? "all signatures valid" : "signatures not checked");
        return 0;
}

/* ---- key generation --------------------------------------------------- */

static int write_key(const char *path, const uint8_t *key, size_t n, mode_t mode)
{
        char hex[2 * crypto_sign_SECRETKEYBYTES + 2];
        sodium_bin2hex(hex, sizeof(hex), key, n);
        size_t len = 2 * n;
        hex[len++] = '\n';
        _cleanup_close_ int fd =
            open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, mode);
        int r = 0;
        if (fd < 0)
                r = negative_errno();
        else if (fchmod(fd, mode) < 0)
                r = negative_errno();
        else {
                ssize_t w = write(fd, hex, len);
                if (w < 0 || fsync(fd) < 0)
                        r = negative_errno();
                else if ((size_t)w != len)
                        r = -ENOSPC;
        }
        sodium_memzero(hex, sizeof(hex));
        if (r < 0 && fd >= 0)
                unlink(path);
        return r;
}

int audit_keygen(const char *secret_path, const char *public_path, char *err, size_t errlen)
{
        uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
        if (sodium_init() < 0)
                return -EIO;
        crypto_sign_keypair(pk, sk);
        int r = write_key(secret_path, sk, sizeof(sk), 0400);
        sodium_memzero(sk, sizeof(sk));
        if (r < 0) {
                snprintf(err, errlen, "%s: %s", secret_path, strerror(-r));
                return r;
        }
        r = write_key(public_path, pk, sizeof(pk), 0444);
        if (r < 0) {
                snprintf(err, errlen, "%s: %s", public_path, strerror(-r));
                unlink(secret_path);
                return r;
        }
        return 0;
}
