/* stepdown audit verify [--pubkey FILE] FILE...
 * stepdown audit show [--deny] [--op OP] [--uid USER] [--since TIME] [--follow] [--json] [FILE...]
 * stepdown audit keygen SECRET-FILE PUBLIC-FILE
 * verify and keygen are option parsing around audit_verify() and
 * audit_keygen(); show reads records (skipping other lines), checks each
 * one's link as it comes (audit_chain_check) and prints the ones that
 * match as a table, every field escaped, or as they are (JSON Lines). */
#include "cmd-audit.h"

#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit-json.h"
#include "audit.h"
#include "userdb.h"

static const char usage_text[] =
    "Usage: stepdown audit verify [--pubkey FILE] FILE...\n"
    "       stepdown audit show [--deny] [--op OP] [--uid USER] [--since TIME] [--follow]\n"
    "                           [--json] [FILE...]\n"
    "       stepdown audit keygen SECRET-FILE PUBLIC-FILE\n"
    "\n"
    "verify checks the hash chain of audit logs given oldest first\n"
    "(rotated files, then the current one; - is standard input); lines\n"
    "that are not audit records (a docker logs capture) are named and\n"
    "skipped.  With --pubkey every seal (a signed record: the broker seals\n"
    "the chain every 256 records, within 1 s, and at start, stop and\n"
    "SIGHUP) must carry a valid Ed25519 signature by that key, and proves\n"
    "every record before it; records after a log's last seal are named.\n"
    "Without a key, a rewritten log or a cut tail cannot be detected:\n"
    "sign ('audit-sign') and verify with --pubkey.\n"
    "Exit status: 0 intact; 1 not intact; 2 usage error or unreadable\n"
    "input; 3 intact so far, but a log's last start has no stop record\n"
    "(cut, or the broker still runs); 4 no audit records at all; 5 (with\n"
    "--pubkey) intact and every seal valid, but records after a log's\n"
    "last seal are chained and not signed (a broker killed or still\n"
    "running, or records added by someone without the key).\n"
    "show prints the records of FILEs (standard input without FILE) as a\n"
    "table, every field escaped for the terminal, or with --json as they\n"
    "are; filters: --deny (refusals), --op OP (operation or event), --uid\n"
    "USER (caller, a name or a number), --since TIME (YYYY-MM-DD[THH:MM\n"
    "[:SS]] UTC, or 10m, 2h, 1d ago); --follow keeps reading the last FILE.\n"
    "Its CHAIN column checks each record's link as it reads: ok (linked\n"
    "to seq 1 of its log), ? (its log began before the input), BAD.\n"
    "keygen writes a key pair for 'audit-sign'.\n";

static int usage(FILE *f, int status)
{
        fputs(usage_text, f);
        return status;
}

static int verify(int argc, char **argv)
{
        static const struct option longopts[] = {
            {"pubkey", required_argument, NULL, 'k'},
            {"help", no_argument, NULL, 'h'},
            {0},
        };
        const char *pubkey = NULL;
        int c;
        optind = 0; /* full getopt reset: callers may have parsed before */
        argv[0] = (char *)"stepdown audit verify"; /* getopt's messages */
        while ((c = getopt_long(argc, argv, "+k:h", longopts, NULL)) != -1) {
                if (c == 'k')
                        pubkey = optarg;
                else if (c == 'h')
                        return usage(stdout, 0);
                else
                        return usage(stderr, 2);
        }
        if (optind >= argc) {
                fprintf(stderr, "stepdown audit verify: no FILE given\n");
                return usage(stderr, 2);
        }
        int r = audit_verify(argv + optind, (size_t)(argc - optind), pubkey, stdout);
        fflush(stdout);
        return r < 0 ? 2 : r; /* AUDIT_VERIFY_*: 0 intact, 1 broken, 3 open, 4 empty, 5 unsealed */
}

/* ---- show ------------------------------------------------------------- */

struct show_opts {
        bool deny, json, follow;
        const char *op;
        bool have_uid;
        uint32_t uid;
        char since[32]; /* "" or a prefix of the records' time format */
};

/* What show has printed, for the line after the table. */
struct show_state {
        struct audit_chain *chain;
        bool header;
        size_t rows[3]; /* by enum audit_row */
        size_t malformed;
};

/* --op: the operations and events stepdownd records (docs/AUDIT.md). */
static const char *const known_ops[] = {
    "mkdir", "chown", "chmod",  "open",  "bind",   "auth",    "connect", "remap",
    "start", "setup", "harden", "serve", "intent", "request", "stop",    NULL,
};

/* The members of a record show prints, raw (JSON tokens in the line). */
struct view {
        struct json_value time, seq, event, caller, op, args, decision, rule, result, message,
            intent, lost, changed, sealed;
        struct json_value c_uid, c_pid, a_path, a_addr, a_uid, a_gid, a_mode, a_flags;
};

static bool is_name(const char *name, size_t len, const char *want)
{
        return len == strlen(want) && memcmp(name, want, len) == 0;
}

static int view_caller(const char *name, size_t len, const struct json_value *v, void *ud)
{
        struct view *w = ud;
        if (is_name(name, len, "uid"))
                w->c_uid = *v;
        else if (is_name(name, len, "pid"))
                w->c_pid = *v;
        return 0;
}

static int view_args(const char *name, size_t len, const struct json_value *v, void *ud)
{
        struct view *w = ud;
        if (is_name(name, len, "path"))
                w->a_path = *v;
        else if (is_name(name, len, "addr"))
                w->a_addr = *v;
        else if (is_name(name, len, "uid"))
                w->a_uid = *v;
        else if (is_name(name, len, "gid"))
                w->a_gid = *v;
        else if (is_name(name, len, "mode"))
                w->a_mode = *v;
        else if (is_name(name, len, "flags"))
                w->a_flags = *v;
        return 0;
}

static int view_member(const char *name, size_t len, const struct json_value *v, void *ud)
{
        struct view *w = ud;
        static const struct {
                const char *name;
                size_t off;
        } m[] = {
            {"time", offsetof(struct view, time)},
            {"seq", offsetof(struct view, seq)},
            {"event", offsetof(struct view, event)},
            {"caller", offsetof(struct view, caller)},
            {"op", offsetof(struct view, op)},
            {"args", offsetof(struct view, args)},
            {"decision", offsetof(struct view, decision)},
            {"rule", offsetof(struct view, rule)},
            {"result", offsetof(struct view, result)},
            {"message", offsetof(struct view, message)},
            {"intent", offsetof(struct view, intent)},
            {"lost", offsetof(struct view, lost)},
            {"changed", offsetof(struct view, changed)},
            {"sealed", offsetof(struct view, sealed)},
        };
        for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
                if (is_name(name, len, m[i].name)) {
                        *(struct json_value *)((char *)w + m[i].off) = *v;
                        return 0;
                }
        return 0;
}

/* A string member decoded (NUL-terminated in out), or "" for null/absent.
 * A decoded NUL ends it early; put_field shows what comes before. */
static const char *str(const struct json_value *v, struct jbuf *out)
{
        jbuf_reset(out);
        if (v->start && v->type == JSON_STRING)
                json_string_decode(v, out);
        jbuf_put(out, "", 0);
        return out->err || !out->data ? "" : out->data;
}

static bool str_is(const struct json_value *v, const char *want)
{
        size_t n = strlen(want);
        return v->start && v->type == JSON_STRING && v->len == n + 2 &&
               memcmp(v->start + 1, want, n) == 0;
}

/* A code point a terminal acts on or that reorders text: C1 controls
 * (U+0080-U+009F, U+009B is CSI), bidirectional controls, the line and
 * paragraph separators.  p holds a well-formed sequence of n bytes. */
static bool unsafe_char(const unsigned char *p, size_t n)
{
        if (n == 2)
                return p[0] == 0xc2 && p[1] < 0xa0;
        if (n != 3 || p[0] != 0xe2)
                return false;
        return (p[1] == 0x80 &&
                ((p[2] >= 0x8e && p[2] <= 0x8f) || (p[2] >= 0xa8 && p[2] <= 0xae))) ||
               (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9);
}

static uint32_t code_point(const unsigned char *p, size_t n)
{
        return n == 2 ? ((uint32_t)(p[0] & 0x1f) << 6) | (p[1] & 0x3f)
                      : ((uint32_t)(p[0] & 0x0f) << 12) | ((uint32_t)(p[1] & 0x3f) << 6) |
                            (p[2] & 0x3f);
}

/* s as a terminal may show it: C0 controls, DEL and every byte that is
 * not part of well-formed UTF-8 as \xNN, C1 and bidirectional controls as
 * \uXXXX, a backslash as \\; nothing else changed. */
static void escape(struct jbuf *out, const char *s)
{
        const unsigned char *p = (const unsigned char *)s;
        size_t len = strlen(s);
        jbuf_reset(out);
        for (size_t i = 0; i < len;) {
                size_t n = p[i] < 0x80 ? 1 : utf8_sequence(p + i, len - i);
                if (p[i] < 0x20 || p[i] == 0x7f || n == 0)
                        jbuf_printf(out, "\\x%02x", p[i]);
                else if (p[i] == '\\')
                        jbuf_puts(out, "\\\\");
                else if (unsafe_char(p + i, n))
                        jbuf_printf(out, "\\u%04x", (unsigned)code_point(p + i, n));
                else
                        jbuf_put(out, p + i, n);
                i += n ? n : 1;
        }
        jbuf_put(out, "", 0);
}

/* Prints s escaped, at most max columns (0: no limit; a longer value keeps
 * its head and tail around "..."), padded to width.  A column is a
 * character: escaped text is ASCII or well-formed UTF-8. */
static void put_field(const char *s, size_t width, size_t max)
{
        struct jbuf e = {0};
        escape(&e, s);
        const char *t = e.data && !e.err ? e.data : "?";
        size_t len = strlen(t), cols = 0;
        for (size_t i = 0; i < len; i++)
                cols += ((unsigned char)t[i] & 0xc0) != 0x80;
        if (max && cols > max) {
                size_t head = max / 4, tail = max - 3 - head, a = 0, b = len, c = 0;
                for (size_t k = 0; k <= head; a++) /* a: the byte after head columns */
                        if (a == len || ((unsigned char)t[a] & 0xc0) != 0x80)
                                if (k++ == head)
                                        break;
                for (; b > 0 && c < tail; b--) /* b: where the last tail columns begin */
                        c += ((unsigned char)t[b - 1] & 0xc0) != 0x80;
                printf("%.*s...%s", (int)a, t, t + b);
                cols = max;
        } else
                fputs(t, stdout);
        for (; cols < width; cols++)
                putchar(' ');
        jbuf_free(&e);
}

/* A raw JSON token (a number, an object) or "-". */
static void put_token(const struct json_value *v, size_t width, size_t max)
{
        char buf[64];
        if (v->start && v->type != JSON_NULL)
                snprintf(buf, sizeof(buf), "%.*s", (int)v->len, v->start);
        else
                snprintf(buf, sizeof(buf), "-");
        put_field(buf, width, max);
}

static const char *const row_mark[] = {"ok", "?", "BAD"};

#define COL_PATH 40

static void print_header(void)
{
        printf("%-6s %-5s %-20s %-22s %-8s %-*s %-8s %-8s %-7s %s\n", "SEQ", "CHAIN", "TIME",
               "CALLER", "OP", COL_PATH, "PATH/ADDRESS", "DECISION", "RESULT", "CHANGED",
               "RULE/REASON");
}

static void print_row(const struct view *w, enum audit_row mark)
{
        struct jbuf b = {0};
        char caller[64];
        put_token(&w->seq, 6, 20);
        putchar(' ');
        put_field(row_mark[mark], 5, 0);
        putchar(' ');
        /* 2026-12-04T16:30:04.123456Z -> 2026-12-04T16:30:04Z */
        char t[32];
        snprintf(t, sizeof(t), "%.19sZ", str(&w->time, &b));
        put_field(t, 20, 20);
        putchar(' ');
        if (w->c_uid.start)
                snprintf(caller, sizeof(caller), "uid=%.*s pid=%.*s",
                         (int)(w->c_uid.len < 20 ? w->c_uid.len : 20), w->c_uid.start,
                         w->c_pid.start ? (int)(w->c_pid.len < 20 ? w->c_pid.len : 20) : 1,
                         w->c_pid.start ? w->c_pid.start : "-");
        else if (str_is(&w->event, "setup") || str_is(&w->event, "intent") ||
                 str_is(&w->event, "remap"))
                snprintf(caller, sizeof(caller), "(setup)");
        else
                snprintf(caller, sizeof(caller), "(stepdownd)");
        put_field(caller, 22, 0);
        putchar(' ');
        put_field(str(w->op.start && w->op.type == JSON_STRING ? &w->op : &w->event, &b), 8, 16);
        putchar(' ');
        const char *obj = str(&w->a_path, &b);
        if (!*obj)
                obj = str(&w->a_addr, &b);
        bool msg_shown = false;
        char seal[64];
        if (!*obj && str_is(&w->event, "seal") && w->sealed.type == JSON_NUMBER) {
                /* a seal by time: what it signs */
                snprintf(seal, sizeof(seal), "seals the %.*s records before it",
                         (int)(w->sealed.len < 20 ? w->sealed.len : 20), w->sealed.start);
                obj = seal;
        }
        if (!*obj && w->op.type != JSON_STRING) {
                obj = str(&w->message, &b); /* start, harden, serve, stop */
                msg_shown = true;
        }
        put_field(*obj ? obj : "-", COL_PATH, COL_PATH);
        putchar(' ');
        put_field(w->decision.type == JSON_STRING ? str(&w->decision, &b) : "-", 8, 8);
        putchar(' ');
        bool failed = !str_is(&w->result, "OK");
        put_field(str_is(&w->event, "intent") ? "intent" : str(&w->result, &b), 8, 16);
        putchar(' ');
        put_token(&w->changed, 7, 20);
        putchar(' ');
        /* The rule that allowed it; for a refusal or a failure, why (a
         * refusal names the closest rule and what it lacked). */
        const char *rule = w->rule.type == JSON_STRING ? str(&w->rule, &b) : "";
        bool why = !msg_shown && (failed || str_is(&w->decision, "deny")) &&
                   w->message.type == JSON_STRING;
        if (*rule || !why)
                put_field(*rule ? rule : "-", 0, 0);
        if (why) {
                fputs(*rule ? ": " : "", stdout);
                put_field(str(&w->message, &b), 0, 0);
        }
        putchar('\n');
        if (w->lost.start) {
                fputs("       ^ ", stdout);
                put_token(&w->lost, 0, 60);
                fputs(": records not written before this one (stepdown audit verify names them)\n",
                      stdout);
        }
        jbuf_free(&b);
}

static bool show_match(const struct show_opts *o, const struct view *w)
{
        struct jbuf b = {0};
        bool ok = true;
        if (o->deny && !str_is(&w->decision, "deny"))
                ok = false;
        if (ok && o->op && !str_is(&w->op, o->op) && !str_is(&w->event, o->op))
                ok = false;
        if (ok && o->have_uid) {
                uint64_t u;
                ok = w->c_uid.start && json_u64(&w->c_uid, &u) == 0 && u == o->uid;
        }
        if (ok && o->since[0])
                ok = strcmp(str(&w->time, &b), o->since) >= 0;
        jbuf_free(&b);
        return ok;
}

/* --json: the record as it is, but for C1 and bidirectional controls,
 * which stepdownd writes escaped and a forged line could carry raw: they
 * can only be inside strings, where \uXXXX is the same JSON. */
static void put_json(const char *rec, size_t len)
{
        const unsigned char *p = (const unsigned char *)rec;
        for (size_t i = 0; i < len;) {
                size_t n = p[i] < 0x80 ? 1 : utf8_sequence(p + i, len - i);
                if (n > 1 && unsafe_char(p + i, n))
                        printf("\\u%04x", (unsigned)code_point(p + i, n));
                else
                        fwrite(p + i, 1, n ? n : 1, stdout);
                i += n ? n : 1;
        }
        putchar('\n');
}

/* One line: skipped unless it is an audit record; every record is checked
 * against the chain as it comes; printed if it matches. */
static void show_line(const struct show_opts *o, struct show_state *st, const char *file,
                      size_t lineno, char *line, size_t len)
{
        const char *rec = memmem(line, len, "{\"time\":\"", 9);
        if (!rec)
                return;
        size_t rlen = len - (size_t)(rec - line);
        struct audit_record r;
        struct view w = {0};
        if (audit_record_parse(rec, rlen, &r) < 0 ||
            json_scan_object(rec, rlen, view_member, &w) < 0) {
                if (memmem(line, len, "\"prev\":\"", 8)) {
                        fprintf(stderr,
                                "stepdown audit show: %s:%zu: not a well-formed record, skipped "
                                "(stepdown audit verify says more)\n",
                                file, lineno);
                        st->malformed++;
                }
                return;
        }
        enum audit_row mark = audit_chain_check(st->chain, rec, rlen, &r);
        if (w.caller.type == JSON_OBJECT)
                json_scan_object(w.caller.start, w.caller.len, view_caller, &w);
        if (w.args.type == JSON_OBJECT)
                json_scan_object(w.args.start, w.args.len, view_args, &w);
        if (!show_match(o, &w))
                return;
        if (o->json) {
                put_json(rec, rlen);
        } else {
                if (!st->header) {
                        print_header();
                        st->header = true;
                }
                print_row(&w, mark);
                st->rows[mark]++;
        }
        if (o->follow)
                fflush(stdout);
}

static int show_file(const struct show_opts *o, struct show_state *st, const char *file,
                     bool follow)
{
        FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "re");
        if (!f) {
                fprintf(stderr, "stepdown audit show: %s: %s\n", file, strerror(errno));
                return 2;
        }
        char *line = NULL, *part = NULL;
        size_t cap = 0, lineno = 0, plen = 0;
        ssize_t n;
        for (;;) {
                n = getline(&line, &cap, f);
                if (n <= 0) {
                        if (!follow || ferror(f))
                                break;
                        clearerr(f);
                        fflush(stdout);
                        usleep(200 * 1000);
                        continue;
                }
                if (line[n - 1] != '\n') { /* a line still being written: keep it */
                        if (!follow)
                                goto last;
                        char *p = realloc(part, plen + (size_t)n + 1);
                        if (!p)
                                break;
                        part = p;
                        memcpy(part + plen, line, (size_t)n);
                        plen += (size_t)n;
                        continue;
                }
                if (plen) {
                        char *p = realloc(part, plen + (size_t)n + 1);
                        if (!p)
                                break;
                        part = p;
                        memcpy(part + plen, line, (size_t)n + 1);
                        n += (ssize_t)plen;
                        plen = 0;
                        free(line);
                        line = part;
                        cap = (size_t)n + 1;
                        part = NULL;
                }
                line[--n] = '\0';
        last:
                lineno++;
                show_line(o, st, file, lineno, line, (size_t)n);
        }
        int r = ferror(f) ? 2 : 0;
        if (r)
                fprintf(stderr, "stepdown audit show: %s: read error\n", file);
        free(line);
        free(part);
        if (f != stdin)
                fclose(f);
        return r;
}

/* --since: YYYY-MM-DD[THH:MM[:SS]] (UTC; a space for the T is fine) or
 * N s|m|h|d ago.  Stored as the prefix records' times are compared with. */
static int parse_since(const char *s, char out[32])
{
        char *end;
        errno = 0;
        unsigned long long n = strtoull(s, &end, 10);
        if (!errno && end != s && s[0] >= '0' && s[0] <= '9' && end[0] && !end[1] &&
            strchr("smhd", end[0]) && n < 100000000ULL) {
                unsigned long long mul = end[0] == 's'   ? 1
                                         : end[0] == 'm' ? 60
                                         : end[0] == 'h' ? 3600
                                                         : 86400;
                time_t t = time(NULL) - (time_t)(n * mul);
                struct tm tm;
                gmtime_r(&t, &tm);
                strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
                return 0;
        }
        static const char pattern[] = "dddd-dd-ddTdd:dd:dd";
        size_t len = strlen(s);
        if (len && s[len - 1] == 'Z')
                len--;
        if (len != 10 && len != 16 && len != 19)
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                if (pattern[i] == 'd'   ? !(c >= '0' && c <= '9')
                    : pattern[i] == 'T' ? c != 'T' && c != ' '
                                        : c != pattern[i])
                        return -EINVAL;
                out[i] = pattern[i] == 'T' ? 'T' : c;
        }
        out[len] = '\0';
        return 0;
}

/* --uid: a number, or a user name of /etc/passwd, read directly (no NSS),
 * as stepdownd reads it: the static binary finds the same users. */
static int parse_uid(const char *arg, uint32_t *uid)
{
        char *end;
        errno = 0;
        unsigned long v = strtoul(arg, &end, 10);
        if (arg[0] >= '0' && arg[0] <= '9' && !errno && !*end && v <= UINT32_MAX) {
                *uid = (uint32_t)v;
                return 0;
        }
        struct userdb db;
        int r = userdb_load(&db, USERDB_PASSWD_PATH, USERDB_GROUP_PATH);
        if (r < 0)
                return r;
        const struct pw_entry *pw = userdb_user_by_name(&db, arg);
        r = pw && pw->uid >= 0 && pw->uid <= UINT32_MAX ? 0 : -ENOENT;
        if (r == 0)
                *uid = (uint32_t)pw->uid;
        userdb_free(&db);
        return r;
}

static bool known_op(const char *op)
{
        for (size_t i = 0; known_ops[i]; i++)
                if (strcmp(op, known_ops[i]) == 0)
                        return true;
        return false;
}

/* After the table: how many rows belong to an intact chain. */
static void show_summary(const struct show_state *st)
{
        if (!st->header)
                return;
        printf("chain: %zu row%s ok (linked to seq 1 of their log), %zu ? (their log began "
               "before this input), %zu BAD (not in an intact chain)",
               st->rows[AUDIT_ROW_OK], st->rows[AUDIT_ROW_OK] == 1 ? "" : "s",
               st->rows[AUDIT_ROW_UNCHECKED], st->rows[AUDIT_ROW_BAD]);
        if (st->malformed)
                printf("; %zu malformed record%s skipped", st->malformed,
                       st->malformed == 1 ? "" : "s");
        printf("; stepdown audit verify checks the rest (cut tails, signatures)\n");
}

static int show(int argc, char **argv)
{
        static const struct option longopts[] = {
            {"deny", no_argument, NULL, 'd'},      {"op", required_argument, NULL, 'o'},
            {"uid", required_argument, NULL, 'u'}, {"since", required_argument, NULL, 's'},
            {"follow", no_argument, NULL, 'f'},    {"json", no_argument, NULL, 'j'},
            {"help", no_argument, NULL, 'h'},      {0},
        };
        struct show_opts o = {0};
        int c;
        optind = 0;
        argv[0] = (char *)"stepdown audit show"; /* getopt's messages */
        while ((c = getopt_long(argc, argv, "+do:u:s:fjh", longopts, NULL)) != -1) {
                switch (c) {
                case 'd':
                        o.deny = true;
                        break;
                case 'o':
                        if (!known_op(optarg)) {
                                fprintf(stderr,
                                        "stepdown audit show: --op %s: not an operation or "
                                        "event the audit log records; one of:",
                                        optarg);
                                for (size_t i = 0; known_ops[i]; i++)
                                        fprintf(stderr, " %s", known_ops[i]);
                                fputc('\n', stderr);
                                return 2;
                        }
                        o.op = optarg;
                        break;
                case 'u':
                        if (parse_uid(optarg, &o.uid) < 0) {
                                fprintf(stderr,
                                        "stepdown audit show: --uid %s: not a uid, nor a user "
                                        "name in this host's user database\n",
                                        optarg);
                                return 2;
                        }
                        o.have_uid = true;
                        break;
                case 's':
                        if (parse_since(optarg, o.since) < 0) {
                                fprintf(stderr,
                                        "stepdown audit show: --since %s: expected "
                                        "YYYY-MM-DD[THH:MM[:SS]] (UTC) or N followed by s, m, h "
                                        "or d (ago)\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case 'f':
                        o.follow = true;
                        break;
                case 'j':
                        o.json = true;
                        break;
                case 'h':
                        return usage(stdout, 0);
                default:
                        return usage(stderr, 2);
                }
        }
        struct show_state st = {.chain = audit_chain_new()};
        if (!st.chain) {
                fprintf(stderr, "stepdown audit show: out of memory\n");
                return 2;
        }
        int r = 0;
        if (optind >= argc)
                r = show_file(&o, &st, "-", o.follow);
        for (int i = optind; i < argc; i++) {
                int e = show_file(&o, &st, argv[i], o.follow && i == argc - 1);
                if (e)
                        r = e;
        }
        show_summary(&st);
        audit_chain_free(st.chain);
        fflush(stdout);
        return r;
}

static int keygen(int argc, char **argv)
{
        if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
                return usage(stdout, 0);
        if (argc != 3 || argv[1][0] == '-') {
                fprintf(stderr, "stepdown audit keygen: expected SECRET-FILE PUBLIC-FILE\n");
                return usage(stderr, 2);
        }
        char err[512];
        int r = audit_keygen(argv[1], argv[2], err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "stepdown audit keygen: %s\n", err);
                return 1;
        }
        printf("secret key: %s (mode 0400; name it in 'audit-sign')\n"
               "public key: %s (give it to 'stepdown audit verify --pubkey')\n",
               argv[1], argv[2]);
        return 0;
}

int cmd_audit(int argc, char **argv)
{
        if (argc < 2)
                return usage(stderr, 2);
        if (strcmp(argv[1], "verify") == 0)
                return verify(argc - 1, argv + 1);
        if (strcmp(argv[1], "show") == 0)
                return show(argc - 1, argv + 1);
        if (strcmp(argv[1], "keygen") == 0)
                return keygen(argc - 1, argv + 1);
        if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
                return usage(stdout, 0);
        fprintf(stderr, "stepdown audit: unknown subcommand: %s\n", argv[1]);
        return usage(stderr, 2);
}
