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
#include "errnoname.h"
#include "resolve.h"
#include "util.h"

struct audit {
        char *path; /* NULL: no file sink */
        bool is_stderr;
        int fd;       /* -1 while the file could not be (re)opened */
        int open_err; /* why fd is -1 */
        bool removed; /* the file was unlinked under us: fail until audit_reopen */
        bool sync_always, failure_allow, syslog;
        bool no_chain;                /* benchmarks only: "prev":null, nothing hashed */
        bool no_intent;               /* benchmarks only: intent records not written */
        int last_err;                 /* of the last audit_log/audit_reopen, 0 = it worked */
        char why[2 * PATH_MAX + 512]; /* why the file could not be opened, or "" (it may name
                                       * the log and its directory) */
        unsigned char *sk;            /* sodium_malloc'd Ed25519 secret key or NULL */

        char log_id[AUDIT_LOG_ID_HEX + 1];
        uint64_t seq; /* of the last record written, 0 = none yet */
        uint8_t prev[AUDIT_HASH_BYTES];
        bool have_policy_hash;
        char policy_hash[2 * AUDIT_HASH_BYTES + 1];
        bool need_continues; /* next record starts a new file */
        bool bad_tail;       /* the file ends with an incomplete line */
        uint64_t lost;       /* records not written since the last one that was */
        size_t n_lost_intents;
        uint64_t lost_intents[AUDIT_LOST_MAX]; /* intents whose outcome was lost */
        struct jbuf buf;
};

static void set_err(char *err, size_t errlen, const char *what, const char *arg, int r)
{
        if (err && errlen)
                snprintf(err, errlen, "%s %s: %s", what, arg, strerror(-r));
}

static int hash_file(const char *path, char hex[2 * AUDIT_HASH_BYTES + 1])
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        crypto_generichash_state st;
        crypto_generichash_init(&st, NULL, 0, AUDIT_HASH_BYTES);
        for (;;) {
                unsigned char chunk[8192];
                ssize_t n = read(fd, chunk, sizeof(chunk));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                if (n == 0)
                        break;
                crypto_generichash_update(&st, chunk, (size_t)n);
        }
        uint8_t h[AUDIT_HASH_BYTES];
        crypto_generichash_final(&st, h, sizeof(h));
        sodium_bin2hex(hex, 2 * AUDIT_HASH_BYTES + 1, h, sizeof(h));
        return 0;
}

/* Reads a whole small text file (a key) into buf, NUL-terminated. */
static int read_small(const char *path, char *buf, size_t size, bool secret)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        struct stat st;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (secret && (st.st_mode & 0077))
                return -EPERM; /* a signing key others can read signs nothing */
        size_t len = 0;
        while (len < size - 1) {
                ssize_t n = read(fd, buf + len, size - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = '\0';
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
                buf[--len] = '\0';
        return (int)len;
}

static int load_secret_key(struct audit *a, const char *path)
{
        char *hex = sodium_malloc(4 * crypto_sign_SECRETKEYBYTES);
        if (!hex)
                return -ENOMEM;
        int r = read_small(path, hex, 4 * crypto_sign_SECRETKEYBYTES, true);
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
        const char *slash = strrchr(a->path, '/');
        char dir[PATH_MAX];
        size_t dlen = slash ? (size_t)(slash - a->path) : 0;
        *name = slash ? slash + 1 : a->path;
        if (!**name || strcmp(*name, ".") == 0 || strcmp(*name, "..") == 0) {
                snprintf(a->why, sizeof(a->why), "audit log %s: names a directory, not a file",
                         a->path);
                return -EISDIR;
        }
        if (dlen >= sizeof(dir)) {
                snprintf(a->why, sizeof(a->why), "audit log: the path is longer than PATH_MAX");
                return -ENAMETOOLONG;
        }
        memcpy(dir, a->path, dlen);
        dir[dlen] = '\0';
        const char *rel = dir;
        while (*rel == '/')
                rel++;
        _cleanup_close_ int base =
            open(a->path[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (base < 0)
                return negative_errno();
        char why[320] = "";
        int r = resolve_beneath(base, rel, O_PATH | O_DIRECTORY, 0, RESOLVE_F_XDEV, dirfd, why,
                                sizeof(why));
        if (r < 0) {
                snprintf(a->why, sizeof(a->why), "audit log %s: directory %s: %s", a->path,
                         dlen                ? dir
                         : a->path[0] == '/' ? "/"
                                             : ".",
                         why[0] ? why : strerror(-r));
                return r;
        }
        struct stat st;
        if (fstat(*dirfd, &st) < 0)
                return negative_errno();
        const char *shown = dlen ? dir : a->path[0] == '/' ? "/" : ".";
        if (st.st_uid != 0 && st.st_uid != geteuid()) {
                snprintf(a->why, sizeof(a->why),
                         "audit log %s: its directory %s is owned by uid %u, not %s (its owner "
                         "could replace the log or point it elsewhere); refusing to write there",
                         a->path, shown, (unsigned)st.st_uid, geteuid() ? "stepdownd's" : "root");
                return -EPERM;
        }
        if ((st.st_mode & 022) && !(st.st_mode & S_ISVTX)) {
                snprintf(a->why, sizeof(a->why),
                         "audit log %s: its directory %s is writable by %s and not sticky (mode "
                         "%04o), so others could replace the log; make it writable by its owner "
                         "only, or sticky (chmod +t)",
                         a->path, shown, (st.st_mode & 002) ? "others" : "its group",
                         (unsigned)(st.st_mode & 07777));
                return -EPERM;
        }
        return 0;
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
        new_log(a);
        if (policy_path) {
                if ((r = hash_file(policy_path, a->policy_hash)) < 0) {
                        set_err(err, errlen, "cannot hash policy", policy_path, r);
                        goto fail;
                }
                a->have_policy_hash = true;
        }
        if (cfg->sign_key_file && (r = load_secret_key(a, cfg->sign_key_file)) < 0) {
                set_err(err, errlen,
                        r == -EPERM ? "signing key (must not be readable by group or others)"
                                    : "signing key",
                        cfg->sign_key_file, r);
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
                                set_err(err, errlen, "audit log", cfg->path, r);
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

static void put_time(struct jbuf *b)
{
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        jbuf_printf(b, "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ\"", tm.tm_year + 1900,
                    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
}

static void put_i64(struct jbuf *b, const char *name, int64_t v)
{
        if (v < 0)
                jbuf_printf(b, ",\"%s\":null", name);
        else
                jbuf_printf(b, ",\"%s\":%" PRId64, name, v);
}

static void build_record(struct audit *a, const struct audit_event *ev)
{
        struct jbuf *b = &a->buf;
        char prev[2 * AUDIT_HASH_BYTES + 1] = "";
        if (!a->no_chain)
                sodium_bin2hex(prev, sizeof(prev), a->prev, sizeof(a->prev));
        jbuf_reset(b);
        if (a->bad_tail)
                jbuf_puts(b, "\n"); /* end the torn line so this record stands alone */
        size_t start = b->len;
        put_time(b);
        if (a->no_chain)
                jbuf_printf(b, ",\"seq\":%" PRIu64 ",\"log\":\"%s\",\"prev\":null", a->seq + 1,
                            a->log_id);
        else
                jbuf_printf(b, ",\"seq\":%" PRIu64 ",\"log\":\"%s\",\"prev\":\"%s\"", a->seq + 1,
                            a->log_id, prev);
        if (a->seq == 0 || (ev->event && strcmp(ev->event, "start") == 0))
                json_put_member_string(b, "policy_hash",
                                       a->have_policy_hash ? a->policy_hash : NULL, false);
        if (a->need_continues && a->seq > 0)
                jbuf_printf(b, ",\"continues\":{\"log\":\"%s\",\"seq\":%" PRIu64 "}", a->log_id,
                            a->seq);
        if (a->lost) {
                jbuf_printf(b, ",\"lost\":{\"records\":%" PRIu64 ",\"intents\":[", a->lost);
                for (size_t i = 0; i < a->n_lost_intents; i++)
                        jbuf_printf(b, "%s%" PRIu64, i ? "," : "", a->lost_intents[i]);
                jbuf_puts(b, "]}");
        }
        json_put_member_string(b, "event", ev->event, false);
        if (ev->request_id)
                jbuf_printf(b, ",\"request_id\":%" PRIu64, ev->request_id);
        else
                jbuf_puts(b, ",\"request_id\":null");
        if (ev->intent)
                jbuf_printf(b, ",\"intent\":%" PRIu64, ev->intent);
        const struct audit_caller *c = ev->caller;
        if (c) {
                jbuf_printf(b,
                            ",\"caller\":{\"uid\":%" PRIu32 ",\"gid\":%" PRIu32 ",\"pid\":%" PRId32,
                            c->uid, c->gid, c->pid);
                json_put_member_string(b, "exe", c->exe, false);
                put_i64(b, "pidfd_ino", c->pidfd_ino ? (int64_t)c->pidfd_ino : -1);
                if (ev->tid)
                        jbuf_printf(b, ",\"tid\":%" PRId32, ev->tid);
                jbuf_puts(b, "}");
        } else
                jbuf_puts(b, ",\"caller\":null");
        json_put_member_string(b, "op", ev->op, false);
        if (ev->via) {
                json_put_member_string(b, "via", ev->via, false);
                json_put_member_string(b, "syscall", ev->syscall, false);
        }
        jbuf_puts(b, ",\"args\":{");
        json_put_member_string(b, "path", ev->path, true);
        put_i64(b, "uid", ev->uid);
        put_i64(b, "gid", ev->gid);
        if (ev->mode >= 0)
                jbuf_printf(b, ",\"mode\":\"%04o\"", (unsigned)ev->mode);
        else
                jbuf_puts(b, ",\"mode\":null");
        json_put_member_string(b, "flags", ev->flags, false);
        json_put_member_string(b, "addr", ev->addr, false);
        jbuf_puts(b, "}");
        json_put_member_string(b, "decision", ev->decision, false);
        json_put_member_string(b, "rule", ev->rule, false);
        const char *name = ev->error ? errno_name(ev->error) : "OK";
        if (name)
                json_put_member_string(b, "result", name, false);
        else
                jbuf_printf(b, ",\"result\":\"errno %d\"", ev->error);
        jbuf_printf(b, ",\"duration_us\":%" PRIu64, ev->duration_us);
        put_i64(b, "changed", ev->changed);
        json_put_member_string(b, "message", ev->message, false);
        if (a->sk && !b->err) {
                /* Signed bytes: the record with the sig member left out. */
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
        struct stat st;
        if (!a->is_stderr) {
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
                count_lost(a, ev);
                return a->last_err = r; /* not written: the chain does not advance */
        }
        size_t start = a->bad_tail ? 1 : 0;
        const char *line = a->buf.data + start;
        size_t line_len = a->buf.len - start - 1; /* without the newline */
        if (a->syslog)
                syslog(LOG_AUTHPRIV | LOG_NOTICE, "%.*s", (int)line_len, line);
        if (!a->no_chain)
                crypto_generichash(a->prev, sizeof(a->prev), (const unsigned char *)line, line_len,
                                   NULL, 0);
        a->seq++;
        a->need_continues = false;
        a->bad_tail = false;
        a->lost = 0;
        a->n_lost_intents = 0;
        /* An fsync failure still refuses the operation; the record stays in
         * the chain because its bytes are in the file. */
        return a->last_err = sync_err;
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
        if ((uint64_t)sv.f_bavail * sv.f_frsize < AUDIT_ROOM)
                return -ENOSPC;
        /* Space came back: a record that failed for want of it is no reason
         * to refuse; any other failure is, until a record is written. */
        return a->last_err == -ENOSPC ? 0 : a->last_err;
}

int audit_reopen(struct audit *a)
{
        if (!a || !a->path || a->is_stderr)
                return 0;
        a->fd = safe_close(a->fd);
        a->removed = false;
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
