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
        F_EVENT = 1 << 8,
        F_INTENT = 1 << 9,
        F_LOST = 1 << 10,
        F_LOST_RECORDS = 1 << 11,
        F_LOST_INTENTS = 1 << 12,
        F_SEALED = 1 << 13,
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

/* The numbers of "intents":[N,...]: scanned by hand, the scanner has
 * validated the array already. */
static int lost_intents(struct audit_record *r, const struct json_value *v)
{
        const char *p = v->start + 1, *end = v->start + v->len - 1;
        while (p < end) {
                while (p < end && (*p == ' ' || *p == ','))
                        p++;
                if (p >= end)
                        break;
                struct json_value n = {.type = JSON_NUMBER, .start = p};
                while (p < end && *p >= '0' && *p <= '9')
                        p++;
                n.len = (size_t)(p - n.start);
                uint64_t seq;
                if (json_u64(&n, &seq) < 0 || seq == 0)
                        return -EBADMSG;
                if (r->n_lost_intents < AUDIT_LOST_MAX)
                        r->lost_intents[r->n_lost_intents++] = seq;
        }
        return 0;
}

static int lost_member(const char *name, size_t len, const struct json_value *v, void *ud)
{
        struct parse_ctx *c = ud;
        if (name_is(name, len, "records"))
                return mark(c, F_LOST_RECORDS) ?: json_u64(v, &c->r->lost);
        if (name_is(name, len, "intents")) {
                if (v->type != JSON_ARRAY)
                        return -EBADMSG;
                return mark(c, F_LOST_INTENTS) ?: lost_intents(c->r, v);
        }
        return 0;
}

static int record_member(const char *name, size_t len, const struct json_value *v, void *ud)
{
        struct parse_ctx *c = ud;
        struct audit_record *r = c->r;
        if (name_is(name, len, "event")) {
                int e = mark(c, F_EVENT);
                r->is_intent = v->len == 8 && memcmp(v->start, "\"intent\"", 8) == 0;
                r->is_start = v->len == 7 && memcmp(v->start, "\"start\"", 7) == 0;
                r->is_stop = v->len == 6 && memcmp(v->start, "\"stop\"", 6) == 0;
                return e;
        }
        if (name_is(name, len, "intent")) {
                r->has_intent = true;
                return mark(c, F_INTENT) ?: json_u64(v, &r->intent);
        }
        if (name_is(name, len, "lost")) {
                int e = mark(c, F_LOST);
                if (e < 0 || v->type != JSON_OBJECT)
                        return -EBADMSG;
                e = json_scan_object(v->start, v->len, lost_member, c);
                if (e < 0)
                        return e;
                return (c->seen & F_LOST_RECORDS) && r->lost > 0 ? 0 : -EBADMSG;
        }
        if (name_is(name, len, "seq"))
                return mark(c, F_SEQ) ?: json_u64(v, &r->seq);
        if (name_is(name, len, "sealed")) {
                r->has_sealed = true;
                return mark(c, F_SEALED) ?: json_u64(v, &r->sealed);
        }
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
        if (r->has_sealed && !r->has_sig)
                return -EBADMSG; /* a seal without its signature */
        return 0;
}

/* ---- chain verification ----------------------------------------------- */

#define VERIFY_MAX_LOGS    4096 /* distinct log ids in one run */
#define VERIFY_MAX_INTENTS 64   /* intents of one log waiting for their outcome */
#define VERIFY_LIST_LINES  20   /* foreign line numbers named per file */

struct open_intent {
        uint64_t seq;
        const char *file;
        size_t line;
};

/* The state of one log (chain) seen in the input. */
struct logstate {
        char id[AUDIT_LOG_ID_HEX + 1];
        uint64_t seq; /* of its last record */
        uint8_t hash[AUDIT_HASH_BYTES];
        const char *file; /* where its last record is */
        size_t line;
        size_t records;
        uint64_t first_seq; /* of its first record in this input */
        bool is_signed;     /* a signed record was seen */
        bool sealed_batch;  /* ... one with "sealed": seals in batches, not every record */
        const char *sig_file;
        size_t sig_line;
        /* With a key: records since its last valid seal, chained but not
         * yet proven (the first few named, for a log with no seal at all). */
        size_t unsealed;
        uint64_t unsealed_seq;
        const char *unsealed_file;
        size_t unsealed_line;
        const char *seal_file; /* its last valid seal */
        size_t seal_line;
        size_t n_unsigned_lines;
        const char *unsigned_file[VERIFY_LIST_LINES];
        size_t unsigned_line[VERIFY_LIST_LINES];
        const char *rejected_file; /* a record rejected since the last good one */
        size_t rejected_line;
        struct open_intent intents[VERIFY_MAX_INTENTS];
        size_t n_intents;
        /* Its last start record in this input, and whether a stop record
         * came after it: a start with no stop is a log cut at a record
         * boundary, or one still being written. */
        bool started, stopped;
        uint64_t start_seq;
        const char *start_file;
        size_t start_line;
};

struct verifier {
        FILE *report;
        const uint8_t *pk; /* NULL: signatures not checked */
        struct logstate *logs;
        size_t n_logs;
        size_t records, problems, foreign, torn;
        size_t open;     /* logs whose last start has no stop record */
        size_t unsealed; /* records after the last seal of their log (with a key) */
};

static void say(struct verifier *v, const char *file, size_t line, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static void say(struct verifier *v, const char *file, size_t line, const char *fmt, va_list ap)
{
        if (line)
                fprintf(v->report, "%s:%zu: ", file, line);
        else
                fprintf(v->report, "%s: ", file);
        vfprintf(v->report, fmt, ap);
        fputc('\n', v->report);
}

/* A finding that makes the input not intact; checking goes on. */
static void problem(struct verifier *v, const char *file, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void problem(struct verifier *v, const char *file, size_t line, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        say(v, file, line, fmt, ap);
        va_end(ap);
        v->problems++;
}

/* A broken chain: reported, and checking stops (what follows cannot be
 * placed). */
static int broken(struct verifier *v, const char *file, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int broken(struct verifier *v, const char *file, size_t line, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        say(v, file, line, fmt, ap);
        va_end(ap);
        v->problems++;
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

/* Where a record starts in a line, or -1 when the line does not look like
 * an audit record at all (app output in a `docker logs` capture).  A line
 * with both "log":" and "prev":" looks like one; the record starts at its
 * first {"time":" (else at its first '{'), so bytes another writer left
 * before it on the same line can be told apart from the record. */
static ssize_t record_start(const char *line, size_t len)
{
        if (!memmem(line, len, "\"log\":\"", 7) || !memmem(line, len, "\"prev\":\"", 8))
                return -1;
        const char *p = memmem(line, len, "{\"time\":\"", 9);
        if (!p)
                p = memchr(line, '{', len);
        return p ? p - line : 0;
}

/* The record with log and seq in f from its current position on. */
static bool find_seq(FILE *f, const char *log, uint64_t seq)
{
        _cleanup_free_ char *buf = NULL;
        size_t cap = 0;
        ssize_t len;
        while ((len = getline(&buf, &cap, f)) > 0) {
                struct audit_record r;
                if (buf[len - 1] == '\n')
                        len--;
                ssize_t at = record_start(buf, (size_t)len);
                if (at >= 0 && audit_record_parse(buf + at, (size_t)(len - at), &r) == 0 &&
                    r.seq == seq && strcmp(r.log, log) == 0)
                        return true;
        }
        return false;
}

/* After a gap: does the missing record come later (reordered) or never
 * (deleted)?  Reads on from the current position of f, then later files
 * (standard input is not read again). */
static bool appears_later(FILE *f, char **files, size_t n, size_t next, const char *log,
                          uint64_t seq)
{
        if (find_seq(f, log, seq))
                return true;
        for (; next < n; next++) {
                if (strcmp(files[next], "-") == 0)
                        continue;
                _cleanup_fclose_ FILE *g = fopen(files[next], "re");
                if (g && find_seq(g, log, seq))
                        return true;
        }
        return false;
}

static struct logstate *find_log(struct verifier *v, const char *id)
{
        for (size_t i = 0; i < v->n_logs; i++)
                if (strcmp(v->logs[i].id, id) == 0)
                        return &v->logs[i];
        return NULL;
}

static struct logstate *add_log(struct verifier *v, const char *id)
{
        if (v->n_logs >= VERIFY_MAX_LOGS)
                return NULL;
        struct logstate *l = realloc(v->logs, (v->n_logs + 1) * sizeof(*l));
        if (!l)
                return NULL;
        v->logs = l;
        l = &v->logs[v->n_logs++];
        memset(l, 0, sizeof(*l));
        memcpy(l->id, id, sizeof(l->id));
        return l;
}

/* Checks how record r (at file:line) links to the previous record of its
 * log; *out is its log's state (a new one for a new log).  Returns 1 when
 * the chain is broken. */
static int check_link(struct verifier *v, const char *file, size_t lineno, bool first_in_file,
                      const struct audit_record *r, FILE *f, char **files, size_t n, size_t next,
                      struct logstate **out)
{
        static const uint8_t zero[AUDIT_HASH_BYTES];
        struct logstate *l = find_log(v, r->log);
        *out = l;
        if (!l) {
                if (r->seq == 1) {
                        if (memcmp(r->prev, zero, sizeof(zero)) != 0 || !r->has_policy_hash)
                                return broken(v, file, lineno,
                                              "edited (first record of a log needs a zero prev "
                                              "and policy_hash)");
                } else if (r->has_continues && first_in_file) {
                        fprintf(v->report,
                                "%s:%zu: continues log %s after seq %" PRIu64
                                " from an earlier file (not given; that link is not checked)\n",
                                file, lineno, r->cont_log, r->cont_seq);
                } else {
                        problem(v, file, lineno,
                                "deleted (log %s starts mid-stream at seq %" PRIu64
                                ": seq 1..%" PRIu64
                                " are not in this input, deleted or before the capture began; "
                                "the link to them is not checked)",
                                r->log, r->seq, r->seq - 1);
                }
                *out = add_log(v, r->log);
                if (*out)
                        (*out)->first_seq = r->seq;
                return *out ? 0
                            : broken(v, file, lineno, "too many logs (over %d)", VERIFY_MAX_LOGS);
        }
        if (r->seq == 1)
                return broken(v, file, lineno, "reordered (seq 1 of log %s again)", r->log);
        uint64_t want = l->seq + 1;
        if (r->seq < want)
                return broken(v, file, lineno,
                              "reordered (seq %" PRIu64 " after seq %" PRIu64
                              " of log %s at %s:%zu)",
                              r->seq, l->seq, r->log, l->file, l->line);
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
        if (memcmp(r->prev, l->hash, sizeof(l->hash)) != 0) {
                if (l->rejected_file)
                        return broken(v, file, lineno,
                                      "edited (\"prev\" matches neither %s:%zu nor the rejected "
                                      "record at %s:%zu)",
                                      l->file, l->line, l->rejected_file, l->rejected_line);
                return broken(v, l->file, l->line,
                              "edited (its hash does not match \"prev\" of %s:%zu)", file, lineno);
        }
        return 0;
}

/* Signatures.  A signed record is a seal: with --pubkey its signature must
 * be valid, and it proves every record before it in its chain.  A log
 * sealed in batches ("sealed":N on its seals) has unsigned records between
 * seals, counted until the next seal (finish() names those after the
 * last one); in a log whose every record is signed (before batches), an
 * unsigned record was not written by the broker that signs, with or
 * without the key.  Returns false when the record is rejected. */
static bool check_signed(struct verifier *v, const char *file, size_t lineno, const char *rec,
                         size_t len, const struct audit_record *r)
{
        struct logstate *l = find_log(v, r->log);
        if (v->pk && r->has_sig && !check_sig(v, rec, len, r)) {
                if (l && l->unsealed)
                        problem(v, file, lineno,
                                "bad signature (a seal over the %zu unsigned record%s since "
                                "%s:%zu: it or one of them was changed or forged, or the key is "
                                "not the broker's)",
                                l->unsealed, l->unsealed == 1 ? "" : "s", l->unsealed_file,
                                l->unsealed_line);
                else
                        problem(v, file, lineno, "bad signature");
                return false;
        }
        if (!r->has_sig && l && l->is_signed && !l->sealed_batch) {
                if (v->pk)
                        problem(v, file, lineno, "bad signature (record is not signed)");
                else
                        problem(v, file, lineno,
                                "unsigned record in a signed log (log %s is signed since %s:%zu): "
                                "not written by the broker that signs it",
                                r->log, l->sig_file, l->sig_line);
                return false;
        }
        return true;
}

/* After a record was linked into l: seals and the unsigned records since. */
static void note_seal(struct verifier *v, struct logstate *l, const char *file, size_t lineno,
                      const struct audit_record *r)
{
        if (r->has_sig) {
                if (!l->is_signed) {
                        l->is_signed = true;
                        l->sig_file = file;
                        l->sig_line = lineno;
                }
                l->sealed_batch |= r->has_sealed;
                l->unsealed = 0;
                l->seal_file = file;
                l->seal_line = lineno;
                return;
        }
        if (!v->pk)
                return;
        if (l->unsealed++ == 0) {
                l->unsealed_seq = r->seq;
                l->unsealed_file = file;
                l->unsealed_line = lineno;
        }
        if (!l->is_signed && l->n_unsigned_lines < VERIFY_LIST_LINES) {
                l->unsigned_file[l->n_unsigned_lines] = file;
                l->unsigned_line[l->n_unsigned_lines++] = lineno;
        }
}

/* Intent and outcome records: every intent must be followed by its
 * outcome, or by a record saying the outcome was lost. */
static void check_intents(struct verifier *v, struct logstate *l, const char *file, size_t lineno,
                          const struct audit_record *r)
{
        if (r->lost) {
                fprintf(v->report,
                        "%s:%zu: lost: %" PRIu64 " record%s before this one could not be written",
                        file, lineno, r->lost, r->lost == 1 ? "" : "s");
                for (size_t i = 0; i < r->n_lost_intents; i++) {
                        size_t k = 0;
                        while (k < l->n_intents && l->intents[k].seq != r->lost_intents[i])
                                k++;
                        if (k < l->n_intents) {
                                fprintf(v->report, "%s outcome of intent seq %" PRIu64 " (%s:%zu)",
                                        i ? "," : "; among them the", r->lost_intents[i],
                                        l->intents[k].file, l->intents[k].line);
                                l->intents[k] = l->intents[--l->n_intents];
                        } else
                                fprintf(v->report,
                                        "%s outcome of intent seq %" PRIu64 " (not in this input)",
                                        i ? "," : "; among them the", r->lost_intents[i]);
                }
                fputc('\n', v->report);
                v->problems++;
        }
        if (r->has_intent) {
                size_t k = 0;
                while (k < l->n_intents && l->intents[k].seq != r->intent)
                        k++;
                if (k < l->n_intents)
                        l->intents[k] = l->intents[--l->n_intents];
                else if (r->intent >= r->seq || r->intent >= l->first_seq)
                        problem(v, file, lineno,
                                "outcome of intent seq %" PRIu64
                                ", which is not an intent of log %s waiting for its outcome",
                                r->intent, r->log);
        }
        if (r->is_intent) {
                if (l->n_intents >= VERIFY_MAX_INTENTS)
                        problem(v, file, lineno, "more than %d intents without an outcome",
                                VERIFY_MAX_INTENTS);
                else
                        l->intents[l->n_intents++] = (struct open_intent){r->seq, file, lineno};
        }
}

static void list_foreign(struct verifier *v, const char *file, const size_t *lines, size_t shown,
                         size_t count)
{
        if (!count)
                return;
        fprintf(v->report, "%s: %zu foreign line%s (not audit records; not checked): line%s", file,
                count, count == 1 ? "" : "s", count == 1 ? "" : "s");
        for (size_t i = 0; i < shown; i++)
                fprintf(v->report, "%s %zu", i ? "," : "", lines[i]);
        fprintf(v->report, "%s\n", count > shown ? ", ..." : "");
}

/* Standard input, copied to an unnamed file so gaps can be looked up
 * ahead (appears_later). */
static FILE *open_input(const char *file)
{
        if (strcmp(file, "-") != 0)
                return fopen(file, "re");
        FILE *t = tmpfile();
        if (!t)
                return NULL;
        char buf[65536];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
                if (fwrite(buf, 1, n, t) != n) {
                        fclose(t);
                        return NULL;
                }
        if (ferror(stdin) || fflush(t) != 0 || fseek(t, 0, SEEK_SET) != 0) {
                fclose(t);
                errno = EIO;
                return NULL;
        }
        return t;
}

static int verify_file(struct verifier *v, char **files, size_t n, size_t idx)
{
        const char *file = files[idx];
        FILE *f = open_input(file);
        if (!f) {
                int r = negative_errno();
                fprintf(v->report, "%s: %s\n", file, strerror(-r));
                return r;
        }
        _cleanup_free_ char *line = NULL;
        size_t cap = 0, lineno = 0, first = v->records, n_foreign = 0;
        size_t foreign[VERIFY_LIST_LINES];
        ssize_t len;
        int ret = 0;
        while (ret == 0 && (len = getline(&line, &cap, f)) > 0) {
                lineno++;
                bool whole = line[len - 1] == '\n';
                if (whole)
                        line[--len] = '\0';
                ssize_t at = record_start(line, (size_t)len);
                if (at < 0) {
                        if (n_foreign < VERIFY_LIST_LINES)
                                foreign[n_foreign] = lineno;
                        n_foreign++;
                        continue;
                }
                if (!whole) {
                        problem(v, file, lineno, "truncated (last line incomplete)");
                        break;
                }
                const char *rec = line + at;
                size_t rlen = (size_t)(len - at);
                struct audit_record r;
                int e = audit_record_parse(rec, rlen, &r);
                if (e == -ENODATA) {
                        problem(v, file, lineno,
                                "truncated (record ends early: cut off, or torn by another "
                                "writer)");
                        continue;
                }
                if (e < 0) {
                        problem(v, file, lineno,
                                "edited (not a well-formed record: changed, forged, or torn by "
                                "another writer)");
                        continue;
                }
                if (at > 0) {
                        fprintf(v->report,
                                "%s:%zu: %zd foreign byte%s before the record (another writer's "
                                "unfinished line); the record itself is checked\n",
                                file, lineno, at, at == 1 ? "" : "s");
                        v->torn++;
                }
                if (!check_signed(v, file, lineno, rec, rlen, &r)) {
                        struct logstate *l = find_log(v, r.log);
                        if (l) {
                                l->rejected_file = file;
                                l->rejected_line = lineno;
                        }
                        continue;
                }
                struct logstate *l;
                ret =
                    check_link(v, file, lineno, v->records == first, &r, f, files, n, idx + 1, &l);
                if (ret)
                        break;
                check_intents(v, l, file, lineno, &r);
                crypto_generichash(l->hash, sizeof(l->hash), (const unsigned char *)rec, rlen, NULL,
                                   0);
                l->seq = r.seq;
                l->file = file;
                l->line = lineno;
                if (r.is_start) {
                        l->started = true;
                        l->stopped = false;
                        l->start_seq = r.seq;
                        l->start_file = file;
                        l->start_line = lineno;
                } else if (r.is_stop)
                        l->stopped = true;
                l->rejected_file = NULL;
                l->records++;
                note_seal(v, l, file, lineno, &r);
                v->records++;
        }
        if (ret == 0 && ferror(f))
                ret = -EIO;
        fclose(f);
        v->foreign += n_foreign;
        list_foreign(v, file, foreign,
                     n_foreign < VERIFY_LIST_LINES ? n_foreign : VERIFY_LIST_LINES, n_foreign);
        if (ret == 0)
                fprintf(v->report, "%s: %zu record%s\n", file, v->records - first,
                        v->records - first == 1 ? "" : "s");
        return ret;
}

/* After the last file: intents left without an outcome, and unsigned logs
 * among signed ones. */
static void finish(struct verifier *v)
{
        bool any_signed = false;
        for (size_t i = 0; i < v->n_logs; i++)
                any_signed |= v->logs[i].is_signed;
        for (size_t i = 0; i < v->n_logs; i++) {
                struct logstate *l = &v->logs[i];
                for (size_t k = 0; k < l->n_intents; k++)
                        problem(v, l->intents[k].file, l->intents[k].line,
                                "intent seq %" PRIu64 " of log %s has no outcome record (the "
                                "operation may have been performed unrecorded, or is still "
                                "running)",
                                l->intents[k].seq, l->id);
                if (v->pk && !l->is_signed) {
                        /* Not one seal: none of it was written by the broker
                         * that signs (its first record is always a seal). */
                        for (size_t k = 0; k < l->n_unsigned_lines; k++)
                                problem(v, l->unsigned_file[k], l->unsigned_line[k],
                                        "bad signature (record is not signed)");
                        if (l->records > l->n_unsigned_lines)
                                problem(v, l->file, l->line,
                                        "... and %zu more unsigned records of log %s (not one "
                                        "seal)",
                                        l->records - l->n_unsigned_lines, l->id);
                } else if (v->pk && l->unsealed) {
                        fprintf(v->report,
                                "%s:%zu: unsealed: %zu record%s after the last seal (%s:%zu) %s "
                                "chained but not signed (log %s, seq %" PRIu64 "-%" PRIu64
                                "): the broker had not sealed them yet (killed, or still "
                                "running), or they were added\n",
                                l->unsealed_file, l->unsealed_line, l->unsealed,
                                l->unsealed == 1 ? "" : "s", l->seal_file, l->seal_line,
                                l->unsealed == 1 ? "is" : "are", l->id, l->unsealed_seq, l->seq);
                        v->unsealed += l->unsealed;
                }
                if (any_signed && !l->is_signed && !v->pk)
                        problem(v, l->file, l->line,
                                "log %s is not signed, but other logs in this input are: its %zu "
                                "record%s (the last one here) were not written by the broker that "
                                "signs",
                                l->id, l->records, l->records == 1 ? "" : "s");
                if (l->started && !l->stopped) {
                        fprintf(v->report,
                                "%s:%zu: open: log %s ends at seq %" PRIu64
                                " without a stop record for its last start (seq %" PRIu64
                                ", %s:%zu): cut after that record, or the broker is still "
                                "running (or was killed: exec mode in a container)\n",
                                l->file, l->line, l->id, l->seq, l->start_seq, l->start_file,
                                l->start_line);
                        v->open++;
                }
        }
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
        int r = 0;
        for (size_t i = 0; i < n && r == 0; i++)
                r = verify_file(&v, files, n, i);
        if (r == 0)
                finish(&v);
        free(v.logs);
        if (r < 0)
                return r;
        if (v.problems) {
                fprintf(report, "NOT intact: %zu problem%s (above)%s\n", v.problems,
                        v.problems == 1 ? "" : "s",
                        r ? "; checking stopped at the broken link" : "");
                return AUDIT_VERIFY_BROKEN;
        }
        if (v.records == 0) {
                fprintf(report,
                        "NOT verified: no audit records in %zu file%s (%zu foreign line%s): "
                        "nothing was checked; are the records in another file or stream?\n",
                        n, n == 1 ? "" : "s", v.foreign, v.foreign == 1 ? "" : "s");
                return AUDIT_VERIFY_EMPTY;
        }
        fprintf(report, "%s: %zu record%s in %zu file%s, %zu log%s, %s",
                v.unsealed ? "sealed part intact"
                : v.open   ? "open (intact so far)"
                           : "intact",
                v.records, v.records == 1 ? "" : "s", n, n == 1 ? "" : "s", v.n_logs,
                v.n_logs == 1 ? "" : "s", v.pk ? "all signatures valid" : "signatures not checked");
        if (v.foreign)
                fprintf(report, "; %zu foreign line%s ignored", v.foreign,
                        v.foreign == 1 ? "" : "s");
        if (v.torn)
                fprintf(report, "; %zu record%s with foreign bytes before it on its line", v.torn,
                        v.torn == 1 ? "" : "s");
        if (v.open)
                fprintf(report, "; %zu log%s without a stop record (above)", v.open,
                        v.open == 1 ? "" : "s");
        if (v.unsealed)
                fprintf(report,
                        "; %zu record%s after the last seal %s chained but not signed (above)",
                        v.unsealed, v.unsealed == 1 ? "" : "s", v.unsealed == 1 ? "is" : "are");
        fputc('\n', report);
        return v.unsealed ? AUDIT_VERIFY_UNSEALED
               : v.open   ? AUDIT_VERIFY_OPEN
                          : AUDIT_VERIFY_INTACT;
}

/* ---- row by row, for show --------------------------------------------- */

struct chain_log {
        char id[AUDIT_LOG_ID_HEX + 1];
        uint64_t seq; /* of its last record that linked */
        uint8_t hash[AUDIT_HASH_BYTES];
        bool partial; /* first seen after its seq 1, or with a bad seq 1 */
        bool is_signed;
        bool sealed_batch; /* signed in batches: unsigned records between seals */
};

struct audit_chain {
        struct chain_log *logs;
        size_t n;
};

struct audit_chain *audit_chain_new(void)
{
        return sodium_init() < 0 ? NULL : calloc(1, sizeof(struct audit_chain));
}

void audit_chain_free(struct audit_chain *c)
{
        if (c)
                free(c->logs);
        free(c);
}

/* A record that does not link is BAD and leaves its log as it was: a line
 * another writer slipped in is the only BAD row, while after a deletion
 * or an edit nothing links again and every later row of that log is BAD. */
enum audit_row audit_chain_check(struct audit_chain *c, const char *rec, size_t len,
                                 const struct audit_record *r)
{
        static const uint8_t zero[AUDIT_HASH_BYTES];
        enum audit_row row;
        struct chain_log *l = NULL;
        for (size_t i = 0; i < c->n && !l; i++)
                if (strcmp(c->logs[i].id, r->log) == 0)
                        l = &c->logs[i];
        if (!l) {
                if (c->n >= VERIFY_MAX_LOGS)
                        return AUDIT_ROW_BAD;
                l = realloc(c->logs, (c->n + 1) * sizeof(*l));
                if (!l)
                        return AUDIT_ROW_BAD;
                c->logs = l;
                l = &c->logs[c->n++];
                bool first_ok =
                    r->seq == 1 && memcmp(r->prev, zero, sizeof(zero)) == 0 && r->has_policy_hash;
                *l = (struct chain_log){.partial = !first_ok};
                memcpy(l->id, r->log, sizeof(l->id));
                row = first_ok ? AUDIT_ROW_OK : r->seq == 1 ? AUDIT_ROW_BAD : AUDIT_ROW_UNCHECKED;
        } else if ((l->is_signed && !l->sealed_batch && !r->has_sig) || r->seq != l->seq + 1 ||
                   memcmp(r->prev, l->hash, sizeof(l->hash)) != 0) {
                return AUDIT_ROW_BAD;
        } else
                row = l->partial ? AUDIT_ROW_UNCHECKED : AUDIT_ROW_OK;
        l->seq = r->seq;
        l->is_signed |= r->has_sig;
        l->sealed_batch |= r->has_sealed;
        crypto_generichash(l->hash, sizeof(l->hash), (const unsigned char *)rec, len, NULL, 0);
        return row;
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
