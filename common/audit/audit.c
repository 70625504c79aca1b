/* Audit log writer: builds one JSON record per event, chains it to the
 * previous record with BLAKE2b-256, optionally signs it with Ed25519 and
 * writes it with a single write(2).  Format and semantics: docs/AUDIT.md. */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "audit-json.h"
#include "blake2b.h"
#include "errnoname.h"
#include "fileio.h"
#include "trusted.h"
#include "util.h"

#define SPAN_KEY_MAX 1024
#define SPAN_MAX     2048

struct audit {
        char *path; /* NULL: no file sink */
        bool is_stderr;
        int fd;       /* -1 while the file could not be (re)opened */
        int open_err; /* why fd is -1 */
        bool removed; /* the file was unlinked under us: fail until audit_reopen */
        /* real_us() of audit_ready's last look that found the file linked
         * and AUDIT_ROOM_AMPLE free (0: none): while it is recent
         * (recently_checked), neither audit_ready nor write_record asks
         * again.  seen_us: real_us() of the last call or record since;
         * written: the bytes this writer appended since. */
        uint64_t checked_us, seen_us, written;
        bool sync_always, failure_allow, syslog;
        bool no_chain;                  /* benchmarks only: "prev":null, nothing hashed */
        bool no_intent;                 /* benchmarks only: intent records not written */
        int last_err;                   /* of the last audit_log/audit_reopen, 0 = it worked */
        unsigned char *sk;              /* sodium_malloc'd Ed25519 secret key or NULL */
        unsigned seal_records, seal_ms; /* seal bounds (audit_config) */
        uint64_t unsealed;              /* records written since the last seal */
        uint64_t unsealed_since;        /* mono_ms() of the first of them */
        bool buf_seal;                  /* the record in buf is a seal */

        char log_id[AUDIT_LOG_ID_HEX + 1];
        uint64_t seq; /* of the last record written, 0 = none yet */
        uint8_t prev[AUDIT_HASH_BYTES];
        bool have_policy_hash;
        char policy_hash[2 * AUDIT_HASH_BYTES + 1];
        uint64_t rec_us;     /* real_us() of the record in buf (its "time") */
        time_t time_sec;     /* the second time_text was formatted for */
        char time_text[21];  /* "YYYY-MM-DDTHH:MM:SS." of time_sec, or "" */
        bool need_continues; /* next record starts a new file */
        bool bad_tail;       /* the file ends with an incomplete line */
        uint64_t lost;       /* records not written since the last one that was */
        size_t n_lost_intents;
        uint64_t lost_intents[AUDIT_LOST_MAX]; /* intents whose outcome was lost */
        struct jbuf buf;
        /* The members from "caller" to "rule" of the last record that
         * were built (put_span_cached) and the values they were built
         * from (span_key, span_key_len bytes; 0: none). */
        size_t span_key_len, span_len;
        char span_key[SPAN_KEY_MAX];
        char span[SPAN_MAX];
        /* Why the file could not be opened, or "" (it may name the log and
         * its directory).  Last: the fields a record reads stay on one or
         * two pages, not on both sides of these 8 KiB. */
        char why[2 * PATH_MAX + 512];
};

/* "WHAT ARG: WHY" (why: what is at fault, else the error's name). */
static void set_err(char *err, size_t errlen, const char *what, const char *arg, const char *why,
                    int r)
{
        if (err && errlen)
                snprintf(err, errlen, "%s %s: %s", what, arg, why && why[0] ? why : strerror(-r));
}

/* The policy file and the signing key are opened as root's own files
 * (trusted.h): a link in a directory on the way, or a directory someone
 * else can change, could hand root another file. */
static int hash_file(const char *path, char hex[2 * AUDIT_HASH_BYTES + 1], char *why, size_t whylen)
{
        _cleanup_close_ int fd = -1;
        int r = trusted_file_open(path, false, &fd, why, whylen);
        if (r < 0)
                return r;
        crypto_generichash_state st;
        crypto_generichash_init(&st, NULL, 0, AUDIT_HASH_BYTES);
        for (;;) {
                unsigned char chunk[8192];
                ssize_t n = read_fill(fd, chunk, sizeof(chunk));
                if (n < 0)
                        return (int)n;
                crypto_generichash_update(&st, chunk, (size_t)n);
                if ((size_t)n < sizeof(chunk))
                        break; /* the end */
        }
        uint8_t h[AUDIT_HASH_BYTES];
        crypto_generichash_final(&st, h, sizeof(h));
        sodium_bin2hex(hex, 2 * AUDIT_HASH_BYTES + 1, h, sizeof(h));
        return 0;
}

/* Reads a whole small text file (a key) into buf, NUL-terminated. */
static int read_small(const char *path, char *buf, size_t size, bool secret, char *why,
                      size_t whylen)
{
        _cleanup_close_ int fd = -1;
        int r = trusted_file_open(path, false, &fd, why, whylen);
        if (r < 0)
                return r;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (secret && (st.st_mode & 0077))
                return -EPERM; /* a signing key others can read signs nothing */
        ssize_t n = read_fill(fd, buf, size - 1);
        if (n < 0)
                return (int)n;
        size_t len = (size_t)n;
        buf[len] = '\0';
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
                buf[--len] = '\0';
        return (int)len;
}

static int load_secret_key(struct audit *a, const char *path, char *why, size_t whylen)
{
        char *hex = sodium_malloc(4 * crypto_sign_SECRETKEYBYTES);
        if (!hex)
                return -ENOMEM;
        int r = read_small(path, hex, 4 * crypto_sign_SECRETKEYBYTES, true, why, whylen);
        if (r >= 0) {
                a->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
                size_t bin_len = 0;
                if (!a->sk)
                        r = -ENOMEM;
                else if (r != 2 * crypto_sign_SECRETKEYBYTES ||
                         sodium_hex2bin(a->sk, crypto_sign_SECRETKEYBYTES, hex, (size_t)r, NULL,
                                        &bin_len, NULL) < 0 ||
                         bin_len != crypto_sign_SECRETKEYBYTES)
                        r = -EINVAL;
                else
                        r = 0;
        }
        sodium_free(hex);
        return r;
}

/* Picks up the chain from the last line of a non-empty log file. */
static int read_tail(struct audit *a)
{
        struct stat st;
        if (fstat(a->fd, &st) < 0)
                return negative_errno();
        a->bad_tail = false;
        if (!S_ISREG(st.st_mode) || st.st_size == 0)
                return 0; /* empty: a new log, or the continuation of ours */
        size_t want = st.st_size > AUDIT_RECORD_MAX + 1 ? AUDIT_RECORD_MAX + 1 : (size_t)st.st_size;
        _cleanup_free_ char *tail = malloc(want);
        if (!tail)
                return -ENOMEM;
        ssize_t n = pread(a->fd, tail, want, st.st_size - (off_t)want);
        if (n < 0)
                return negative_errno();
        if ((size_t)n != want)
                return -EIO;
        if (tail[want - 1] != '\n') {
                a->bad_tail = true; /* a torn line: start a new log after it */
                return 0;
        }
        size_t start = want - 1;
        while (start > 0 && tail[start - 1] != '\n')
                start--;
        size_t len = want - 1 - start;
        struct audit_record rec;
        if (audit_record_parse(tail + start, len, &rec) < 0)
                return 0; /* not ours or damaged: begin a new log; verify will say why */
        memcpy(a->log_id, rec.log, sizeof(a->log_id));
        a->seq = rec.seq;
        crypto_generichash(a->prev, sizeof(a->prev), (unsigned char *)tail + start, len, NULL, 0);
        return 1;
}

/* The log's directory, resolved from / (a relative path: from the working
 * directory) with no symbolic link in any component, by the engine's
 * resolver: the app may own a directory on the way (a volume) and swap a
 * component for a link between two starts.  The directory itself must be
 * the broker's (root's) and writable by nobody else unless sticky: whoever
 * can rename or replace entries there could swap the log for a file of
 * their own.  On failure a->why says which path and why. */
static int open_dir(struct audit *a, int *dirfd, const char **name)
{
        char why[PATH_MAX + 512] = "";
        int r = trusted_dir_open(a->path, dirfd, name, why, sizeof(why));
        if (r < 0)
                snprintf(a->why, sizeof(a->why), "audit log %s: %s%s", a->path,
                         why[0] ? why : strerror(-r),
                         r == -EPERM ? "; refusing to write there" : "");
        return r;
}

static int open_sink(struct audit *a)
{
        a->why[0] = '\0';
        if (a->is_stderr) {
                a->fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
                return a->fd < 0 ? negative_errno() : 0;
        }
        /* The log may sit where the app can write (a shared volume): a
         * link in the path would send root's records where the app points,
         * a fifo would block the broker, a hard link or a file of the app's
         * would append them to a file it can edit.  The file is opened in
         * the directory checked (open_dir) without following a link, and
         * the fd opened is the one checked and written.  O_NONBLOCK only
         * for the open. */
        _cleanup_close_ int dirfd = -1;
        const char *name;
        int r = open_dir(a, &dirfd, &name);
        if (r < 0)
                return r;
        a->fd = openat(dirfd, name,
                       O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK,
                       0600);
        if (a->fd < 0) {
                r = negative_errno();
                snprintf(a->why, sizeof(a->why), "audit log %s: %s%s", a->path, strerror(-r),
                         r == -ELOOP ? " (a symbolic link, which is never followed)" : "");
                return r;
        }
        struct stat st;
        r = fstat(a->fd, &st) < 0                 ? negative_errno()
            : !S_ISREG(st.st_mode)                ? -ENOTSUP
            : st.st_nlink > 1                     ? -EMLINK
            : st.st_uid != geteuid()              ? -EPERM
            : fcntl(a->fd, F_SETFL, O_APPEND) < 0 ? negative_errno()
                                                  : 0;
        if (r == -ENOTSUP || r == -EMLINK)
                snprintf(a->why, sizeof(a->why), "audit log %s: %s; refusing to write to it",
                         a->path,
                         r == -EMLINK ? "has more than one hard link" : "is not a regular file");
        else if (r == -EPERM)
                snprintf(a->why, sizeof(a->why),
                         "audit log %s: owned by uid %u, not %s (its owner could edit the "
                         "records); refusing to write to it",
                         a->path, (unsigned)st.st_uid, geteuid() ? "stepdownd's" : "root");
        if (r < 0)
                a->fd = safe_close(a->fd);
        return r;
}

static void new_log(struct audit *a)
{
        uint8_t id[AUDIT_LOG_ID_HEX / 2];
        randombytes_buf(id, sizeof(id));
        sodium_bin2hex(a->log_id, sizeof(a->log_id), id, sizeof(id));
        a->seq = 0;
        memset(a->prev, 0, sizeof(a->prev));
}

/* Opens the sink.  A log with no records yet adopts the chain at the end
 * of the file; one that has records continues its own chain, into the
 * file with a "continues" marker unless the file ends with our last
 * record (the same file opened again). */
static int attach_file(struct audit *a)
{
        int r = open_sink(a);
        if (r < 0 || a->is_stderr)
                return r;
        uint8_t prev[AUDIT_HASH_BYTES];
        char log_id[sizeof(a->log_id)];
        uint64_t seq = a->seq;
        memcpy(prev, a->prev, sizeof(prev));
        memcpy(log_id, a->log_id, sizeof(log_id));
        r = read_tail(a);
        if (r < 0) {
                a->fd = safe_close(a->fd);
                return r;
        }
        if (seq == 0)
                return 0;
        if (r > 0 && strcmp(a->log_id, log_id) == 0 && a->seq == seq &&
            memcmp(a->prev, prev, sizeof(prev)) == 0)
                return 0;
        memcpy(a->prev, prev, sizeof(prev));
        memcpy(a->log_id, log_id, sizeof(log_id));
        a->seq = seq;
        a->need_continues = true;
        return 0;
}

int audit_open(struct audit **ret, const struct audit_config *cfg, const char *policy_path,
               char *err, size_t errlen)
{
        int r;
        char why[PATH_MAX + 512] = "";
        if (sodium_init() < 0)
                return -EIO;
        struct audit *a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->fd = -1;
        a->sync_always = cfg->sync_always;
        a->failure_allow = cfg->failure_allow;
        a->syslog = cfg->syslog;
        a->no_chain = cfg->no_chain;
        a->no_intent = cfg->no_intent;
        a->seal_records = cfg->seal_records ? cfg->seal_records : AUDIT_SEAL_RECORDS;
        a->seal_ms = cfg->seal_ms ? cfg->seal_ms : AUDIT_SEAL_MS;
        new_log(a);
        if (policy_path) {
                if ((r = hash_file(policy_path, a->policy_hash, why, sizeof(why))) < 0) {
                        set_err(err, errlen, "cannot hash policy", policy_path, why, r);
                        goto fail;
                }
                a->have_policy_hash = true;
        }
        if (cfg->sign_key_file &&
            (r = load_secret_key(a, cfg->sign_key_file, why, sizeof(why))) < 0) {
                set_err(err, errlen,
                        r == -EPERM && !why[0]
                            ? "signing key (must not be readable by group or others)"
                            : "signing key",
                        cfg->sign_key_file, why, r);
                goto fail;
        }
        if (cfg->path) {
                a->is_stderr = strcmp(cfg->path, "-") == 0;
                a->path = strdup(cfg->path);
                if (!a->path) {
                        r = -ENOMEM;
                        goto fail;
                }
                if ((r = attach_file(a)) < 0) {
                        if (a->why[0])
                                snprintf(err, errlen, "%s", a->why);
                        else
                                set_err(err, errlen, "audit log", cfg->path, NULL, r);
                        goto fail;
                }
        }
        if (a->syslog)
                openlog(NULL, LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
        *ret = a;
        return 0;
fail:
        audit_close(a);
        return r;
}

bool audit_failure_allow(const struct audit *a)
{
        return a && a->failure_allow;
}

/* Two digits, four digits, six digits: the time without printf. */
static char *put_digits(char *p, unsigned v, int n)
{
        for (int i = n - 1; i >= 0; i--, v /= 10)
                p[i] = (char)('0' + v % 10);
        return p + n;
}

/* {"time":"YYYY-MM-DDTHH:MM:SS.uuuuuuZ": the date and time of day are
 * formatted once a second (the writer's hot path has no printf). */
static void put_time(struct audit *a, struct jbuf *b)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        a->rec_us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
        if (ts.tv_sec != a->time_sec || !a->time_text[0]) {
                struct tm tm;
                gmtime_r(&ts.tv_sec, &tm);
                char *p = a->time_text;
                p = put_digits(p, (unsigned)(tm.tm_year + 1900) % 10000, 4);
                *p++ = '-';
                p = put_digits(p, (unsigned)tm.tm_mon + 1, 2);
                *p++ = '-';
                p = put_digits(p, (unsigned)tm.tm_mday, 2);
                *p++ = 'T';
                p = put_digits(p, (unsigned)tm.tm_hour, 2);
                *p++ = ':';
                p = put_digits(p, (unsigned)tm.tm_min, 2);
                *p++ = ':';
                p = put_digits(p, (unsigned)tm.tm_sec, 2);
                *p++ = '.';
                *p = '\0';
                a->time_sec = ts.tv_sec;
        }
        char us[8];
        put_digits(us, (unsigned)(ts.tv_nsec / 1000), 6);
        us[6] = 'Z';
        us[7] = '"';
        jbuf_put(b, "{\"time\":\"", 9);
        jbuf_put(b, a->time_text, 20);
        jbuf_put(b, us, 8);
}

/* ,"name": of a literal name, in one copy of known length. */
#define KEY(name)        ",\"" name "\":"
#define put_key(b, name) jbuf_put(b, KEY(name), sizeof(KEY(name)) - 1)

/* ,"name":"value" (json_put_member_string) of a literal name. */
#define put_str(b, name, s) (put_key(b, name), json_put_value_string(b, name, s))

/* ,"name":N or ,"name":null for a negative N. */
#define put_i64(b, name, v) (put_key(b, name), put_i64_value(b, v))
static void put_i64_value(struct jbuf *b, int64_t v)
{
        if (v < 0)
                jbuf_put(b, "null", 4);
        else
                jbuf_put_u64(b, (uint64_t)v);
}

/* ,"name":N (0 as null when zero_null). */
#define put_u64(b, name, v, zero_null) (put_key(b, name), put_u64_value(b, v, zero_null))
static void put_u64_value(struct jbuf *b, uint64_t v, bool zero_null)
{
        if (zero_null && v == 0)
                jbuf_put(b, "null", 4);
        else
                jbuf_put_u64(b, v);
}

static uint64_t mono_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t mono_ms(void)
{
        return mono_us() / 1000u;
}

static uint64_t real_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Whether audit_ready's last look (a real_us() time) still stands at now
 * (audit.h): less than AUDIT_RECHECK_US ago, or less than
 * AUDIT_RECHECK_MAX_US ago while the calls and records since came less
 * than AUDIT_RECHECK_US apart, and this writer's records since took less
 * than the room to spare.  Then a record need not fstat again (a syscall
 * costs microseconds, the record itself less).  The wall clock, so that a
 * record asks with the time it already read for its "time" member; a
 * clock set back or forward only makes the next look come sooner. */
static bool recently_checked(struct audit *a, uint64_t now)
{
        if (!a->checked_us || now < a->checked_us || now < a->seen_us ||
            a->written >= AUDIT_ROOM_AMPLE - AUDIT_ROOM)
                return false;
        bool busy = now - a->seen_us < AUDIT_RECHECK_US;
        a->seen_us = now;
        return now - a->checked_us < (busy ? AUDIT_RECHECK_MAX_US : AUDIT_RECHECK_US);
}

static bool event_is(const struct audit_event *ev, const char *name)
{
        return ev->event && strcmp(ev->event, name) == 0;
}

/* Whether the record being built seals the chain (docs/AUDIT.md, "Seals"):
 * a log's first record and each file's first, start, stop and seal
 * records, and the seal_records-th record since the last seal. */
static bool seal_now(const struct audit *a, const struct audit_event *ev)
{
        return a->seq == 0 || a->need_continues || a->unsealed + 1 >= a->seal_records ||
               event_is(ev, "start") || event_is(ev, "stop") || event_is(ev, "seal");
}

/* The members from "caller" to "rule": who asked what, and the rule. */
static void put_span(struct jbuf *b, const struct audit_event *ev)
{
        const struct audit_caller *c = ev->caller;
        if (c) {
                jbuf_puts(b, ",\"caller\":{\"uid\":");
                jbuf_put_u64(b, c->uid);
                put_u64(b, "gid", c->gid, false);
                jbuf_put(b, ",\"pid\":", 7);
                jbuf_put_i64(b, c->pid);
                put_str(b, "exe", c->exe);
                put_i64(b, "pidfd_ino", c->pidfd_ino ? (int64_t)c->pidfd_ino : -1);
                if (ev->tid)
                        jbuf_printf(b, ",\"tid\":%" PRId32, ev->tid);
                jbuf_puts(b, "}");
        } else
                jbuf_puts(b, ",\"caller\":null");
        put_str(b, "op", ev->op);
        if (ev->via) {
                put_str(b, "via", ev->via);
                put_str(b, "syscall", ev->syscall);
        }
        jbuf_puts(b, ",\"args\":{");
        jbuf_put(b, "\"path\":", 7);
        json_put_value_string(b, "path", ev->path);
        put_i64(b, "uid", ev->uid);
        put_i64(b, "gid", ev->gid);
        if (ev->mode > 07777)
                jbuf_printf(b, ",\"mode\":\"%o\"", (unsigned)ev->mode);
        else if (ev->mode >= 0) {
                char m[14] = ",\"mode\":\"0000\"";
                for (int i = 3, v = ev->mode; i >= 0; i--, v >>= 3)
                        m[9 + i] = (char)('0' + (v & 7));
                jbuf_put(b, m, 14);
        } else
                jbuf_puts(b, ",\"mode\":null");
        put_str(b, "flags", ev->flags);
        put_str(b, "addr", ev->addr);
        jbuf_puts(b, "}");
        put_str(b, "decision", ev->decision);
        put_str(b, "rule", ev->rule);
}

/* ev's values that put_span builds from, into k (SPAN_KEY_MAX bytes):
 * their length, 0 when they do not fit.  A string is 1 and its bytes
 * with the NUL, NULL is one 0 byte, so two different events never have
 * the same key. */
static void key_raw(char *k, size_t *n, const void *v, size_t len)
{
        if (len && *n + len <= SPAN_KEY_MAX)
                memcpy(k + *n, v, len);
        *n += len;
}

static void key_str(char *k, size_t *n, const char *s)
{
        size_t len = s ? strlen(s) + 1 : 0;
        key_raw(k, n, len ? "\1" : "", 1);
        key_raw(k, n, s, len);
}

static size_t span_key(const struct audit_event *ev, char *k)
{
        size_t n = 0;
        const struct audit_caller *c = ev->caller;
        key_raw(k, &n, c ? "\1" : "", 1);
        if (c) {
                key_raw(k, &n, &c->uid, sizeof(c->uid));
                key_raw(k, &n, &c->gid, sizeof(c->gid));
                key_raw(k, &n, &c->pid, sizeof(c->pid));
                key_raw(k, &n, &c->pidfd_ino, sizeof(c->pidfd_ino));
                key_raw(k, &n, &ev->tid, sizeof(ev->tid));
                key_str(k, &n, c->exe);
        }
        key_raw(k, &n, &ev->uid, sizeof(ev->uid));
        key_raw(k, &n, &ev->gid, sizeof(ev->gid));
        key_raw(k, &n, &ev->mode, sizeof(ev->mode));
        const char *strs[] = {ev->op,    ev->via,  ev->syscall,  ev->path,
                              ev->flags, ev->addr, ev->decision, ev->rule};
        for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
                key_str(k, &n, strs[i]);
        return n <= SPAN_KEY_MAX ? n : 0;
}

/* put_span, or a copy of the last record's span when it was built from
 * the same values (an outcome record after its intent). */
static void put_span_cached(struct audit *a, struct jbuf *b, const struct audit_event *ev)
{
        char key[SPAN_KEY_MAX];
        size_t klen = span_key(ev, key);
        if (klen && klen == a->span_key_len && memcmp(key, a->span_key, klen) == 0) {
                jbuf_put(b, a->span, a->span_len);
                return;
        }
        size_t at = b->len;
        put_span(b, ev);
        a->span_key_len = 0;
        if (klen && !b->err && b->len - at <= SPAN_MAX) {
                memcpy(a->span_key, key, klen);
                memcpy(a->span, b->data + at, b->len - at);
                a->span_key_len = klen;
                a->span_len = b->len - at;
        }
}

/* The two hex digits of every byte, in order: a byte's are at 2 * byte. */
static const char hex_pairs[2 * 256 + 1] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

static void build_record(struct audit *a, const struct audit_event *ev)
{
        struct jbuf *b = &a->buf;
        char prev[2 * AUDIT_HASH_BYTES]; /* not secret: no constant-time hex needed */
        for (size_t i = 0; i < AUDIT_HASH_BYTES; i++)
                memcpy(prev + 2 * i, hex_pairs + 2 * a->prev[i], 2);
        jbuf_reset(b);
        if (a->bad_tail)
                jbuf_puts(b, "\n"); /* end the torn line so this record stands alone */
        size_t start = b->len;
        put_time(a, b);
        put_u64(b, "seq", a->seq + 1, false);
        jbuf_put(b, ",\"log\":\"", 8);
        jbuf_put(b, a->log_id, AUDIT_LOG_ID_HEX);
        if (a->no_chain)
                jbuf_put(b, "\",\"prev\":null", 13);
        else {
                jbuf_put(b, "\",\"prev\":\"", 10);
                jbuf_put(b, prev, 2 * AUDIT_HASH_BYTES);
                jbuf_put(b, "\"", 1);
        }
        if (a->seq == 0 || (ev->event && strcmp(ev->event, "start") == 0))
                put_str(b, "policy_hash", a->have_policy_hash ? a->policy_hash : NULL);
        if (a->need_continues && a->seq > 0) {
                jbuf_put(b, ",\"continues\":{\"log\":\"", 21);
                jbuf_put(b, a->log_id, AUDIT_LOG_ID_HEX);
                jbuf_put(b, "\"", 1);
                put_u64(b, "seq", a->seq, false);
                jbuf_put(b, "}", 1);
        }
        if (a->lost) {
                jbuf_put(b, ",\"lost\":{\"records\":", 19);
                jbuf_put_u64(b, a->lost);
                jbuf_puts(b, ",\"intents\":[");
                for (size_t i = 0; i < a->n_lost_intents; i++) {
                        if (i)
                                jbuf_put(b, ",", 1);
                        jbuf_put_u64(b, a->lost_intents[i]);
                }
                jbuf_puts(b, "]}");
        }
        put_str(b, "event", ev->event);
        put_u64(b, "request_id", ev->request_id, true);
        if (ev->intent)
                put_u64(b, "intent", ev->intent, false);
        put_span_cached(a, b, ev);
        const char *name = ev->error ? errno_name(ev->error) : "OK";
        if (name)
                put_str(b, "result", name);
        else
                jbuf_printf(b, ",\"result\":\"errno %d\"", ev->error);
        put_u64(b, "duration_us", ev->duration_us, false);
        put_i64(b, "changed", ev->changed);
        put_str(b, "message", ev->message);
        a->buf_seal = a->sk && !b->err && seal_now(a, ev);
        if (a->buf_seal) {
                /* A seal: this record signed, with the number of unsigned
                 * records before it since the last seal; its "prev" chains
                 * to them, so the signature proves them all.  Signed bytes:
                 * the record with the sig member left out. */
                put_u64(b, "sealed", a->unsealed, false);
                uint8_t sig[AUDIT_SIG_BYTES];
                char hex[2 * AUDIT_SIG_BYTES + 1];
                jbuf_puts(b, "}");
                crypto_sign_detached(sig, NULL, (unsigned char *)b->data + start, b->len - start,
                                     a->sk);
                b->len--;
                sodium_bin2hex(hex, sizeof(hex), sig, sizeof(sig));
                jbuf_printf(b, ",\"sig\":\"%s\"", hex);
        }
        jbuf_puts(b, "}\n");
        if (!b->err && b->len - start > AUDIT_RECORD_MAX)
                b->err = -E2BIG;
}

/* Undoes a short append so no torn line is left behind. */
static bool undo_partial(int fd, size_t written)
{
        off_t end = lseek(fd, 0, SEEK_END);
        return end >= (off_t)written && ftruncate(fd, end - (off_t)written) == 0;
}

/* Returns 0 when the record is in the file, 1 when it is but fsync
 * failed (*sync_err), -errno when it is not. */
static int write_record(struct audit *a, const struct audit_event *ev, int *sync_err)
{
        if (a->removed)
                return -ENOENT;
        if (a->fd < 0) {
                int r = attach_file(a);
                if (r < 0)
                        return r;
                build_record(a, ev); /* the chain state may have changed */
                if (a->buf.err)
                        return a->buf.err;
        }
        struct stat st = {0};
        if (!a->is_stderr && (a->bad_tail || !recently_checked(a, a->rec_us))) {
                if (fstat(a->fd, &st) < 0)
                        return negative_errno();
                if (S_ISREG(st.st_mode) && st.st_nlink == 0) {
                        a->removed = true; /* records would vanish: refuse until reopened */
                        return -ENOENT;
                }
        }
        /* The newline that ends a torn line is needed only while the file
         * still ends without one (another writer may have finished it). */
        size_t off = 0;
        char last;
        if (a->bad_tail && !a->is_stderr && S_ISREG(st.st_mode) && st.st_size > 0 &&
            pread(a->fd, &last, 1, st.st_size - 1) == 1 && last == '\n')
                off = 1;
        ssize_t n;
        do
                n = write(a->fd, a->buf.data + off, a->buf.len - off);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return negative_errno();
        if ((size_t)n != a->buf.len - off) {
                if (a->is_stderr || !undo_partial(a->fd, (size_t)n))
                        a->bad_tail = true; /* the next record starts on a new line */
                return -ENOSPC;
        }
        a->written += (size_t)n;
        if (a->sync_always && fsync(a->fd) < 0 && errno != EINVAL) {
                *sync_err = negative_errno(); /* written, maybe not durable */
                return 1;
        }
        return 0;
}

/* A record that was not written: the next one that is says so. */
static void count_lost(struct audit *a, const struct audit_event *ev)
{
        a->lost++;
        if (ev->intent && a->n_lost_intents < AUDIT_LOST_MAX)
                a->lost_intents[a->n_lost_intents++] = ev->intent;
}

int audit_log(struct audit *a, const struct audit_event *ev)
{
        int r = 0, sync_err = 0;
        if (!a || !ev)
                return -EINVAL;
        if (!a->path && !a->syslog)
                return 0;
        if (a->no_intent && ev->event && strcmp(ev->event, "intent") == 0)
                return 0;
        build_record(a, ev);
        if (a->buf.err) {
                count_lost(a, ev);
                return a->buf.err; /* this record only: the sink is fine */
        }
        if (a->path && (r = write_record(a, ev, &sync_err)) < 0) {
                a->checked_us = 0;
                count_lost(a, ev);
                return a->last_err = r; /* not written: the chain does not advance */
        }
        size_t start = a->bad_tail ? 1 : 0;
        const char *line = a->buf.data + start;
        size_t line_len = a->buf.len - start - 1; /* without the newline */
        if (a->syslog)
                syslog(LOG_AUTHPRIV | LOG_NOTICE, "%.*s", (int)line_len, line);
        if (!a->no_chain)
                blake2b256(a->prev, line, line_len); /* libsodium's digest, in half the time */
        a->seq++;
        if (a->buf_seal)
                a->unsealed = 0;
        else if (a->sk && a->unsealed++ == 0)
                a->unsealed_since = mono_ms();
        a->need_continues = false;
        a->bad_tail = false;
        a->lost = 0;
        a->n_lost_intents = 0;
        /* An fsync failure still refuses the operation; the record stays in
         * the chain because its bytes are in the file. */
        return a->last_err = sync_err;
}

bool audit_seal_due(const struct audit *a, uint64_t now_ms)
{
        return a && a->sk && a->unsealed > 0 && now_ms - a->unsealed_since >= a->seal_ms;
}

int audit_seal(struct audit *a)
{
        if (!a || !a->sk || a->unsealed == 0)
                return 0;
        struct audit_event ev = {.event = "seal", .uid = -1, .gid = -1, .mode = -1, .changed = -1};
        return audit_log(a, &ev);
}

uint64_t audit_seq(const struct audit *a)
{
        return a ? a->seq : 0;
}

uint64_t audit_lost(const struct audit *a)
{
        return a ? a->lost : 0;
}

int audit_fd(const struct audit *a)
{
        return a ? a->fd : -1;
}

void audit_forked(struct audit *a)
{
        if (a && a->syslog) {
                closelog();
                openlog(NULL, LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
        }
}

int audit_ready(struct audit *a)
{
        if (!a || !a->path)
                return 0; /* no sink, or syslog only: nothing to ask */
        if (a->removed)
                return -ENOENT;
        if (a->fd < 0)
                return a->last_err < 0 ? a->last_err : -EBADF;
        if (a->is_stderr)
                return a->last_err;
        uint64_t now = real_us();
        if (a->last_err == 0 && recently_checked(a, now))
                return 0;
        a->checked_us = 0;
        struct stat st;
        struct statvfs sv;
        if (fstat(a->fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return a->last_err;
        if (st.st_nlink == 0) {
                a->removed = true;
                return -ENOENT;
        }
        if (fstatvfs(a->fd, &sv) < 0)
                return negative_errno();
        uint64_t room = (uint64_t)sv.f_bavail * sv.f_frsize;
        if (room < AUDIT_ROOM)
                return -ENOSPC;
        if (room >= AUDIT_ROOM_AMPLE && a->last_err == 0) {
                a->checked_us = a->seen_us = now;
                a->written = 0;
        }
        /* Space came back: a record that failed for want of it is no reason
         * to refuse; any other failure is, until a record is written. */
        return a->last_err == -ENOSPC ? 0 : a->last_err;
}

int audit_reopen(struct audit *a)
{
        if (!a || !a->path || a->is_stderr)
                return 0;
        if (a->fd >= 0 && !a->removed)
                (void)audit_seal(a); /* the old file ends sealed */
        a->fd = safe_close(a->fd);
        a->removed = false;
        a->checked_us = 0;
        /* On failure audit_log retries the open on every record. */
        return a->last_err = attach_file(a);
}

void audit_close(struct audit *a)
{
        if (!a)
                return;
        safe_close(a->fd);
        if (a->syslog)
                closelog();
        sodium_free(a->sk);
        jbuf_free(&a->buf);
        free(a->path);
        free(a);
}
