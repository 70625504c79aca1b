/* stepdown audit verify [--pubkey FILE] FILE...
 * stepdown audit show [--deny] [--op OP] [--uid N] [--since TIME] [--follow] [--json] [FILE...]
 * stepdown audit keygen SECRET-FILE PUBLIC-FILE
 * verify and keygen are option parsing around audit_verify() and
 * audit_keygen(); show reads records (skipping other lines) and prints the
 * ones that match as a table or as they are (JSON Lines). */
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

static const char usage_text[] =
    "Usage: stepdown audit verify [--pubkey FILE] FILE...\n"
    "       stepdown audit show [--deny] [--op OP] [--uid N] [--since TIME] [--follow]\n"
    "                           [--json] [FILE...]\n"
    "       stepdown audit keygen SECRET-FILE PUBLIC-FILE\n"
    "\n"
    "verify checks the hash chain of audit logs given oldest first\n"
    "(rotated files, then the current one; - is standard input); lines\n"
    "that are not audit records (a docker logs capture) are named and\n"
    "skipped.  With --pubkey every record must carry a valid Ed25519\n"
    "signature by that key.  Exit status: 0 intact, 1 broken, 2 usage\n"
    "error or unreadable input.\n"
    "show prints the records of FILEs (standard input without FILE) as a\n"
    "table, or with --json as they are; filters: --deny (refusals), --op OP\n"
    "(operation or event), --uid N (caller), --since TIME (YYYY-MM-DD[THH:MM\n"
    "[:SS]] UTC, or 10m, 2h, 1d ago); --follow keeps reading the last FILE.\n"
    "It does not verify: run verify for that.\n"
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
        return r < 0 ? 2 : r; /* AUDIT_VERIFY_*: 0 intact, 1 broken, 3 open, 4 empty */
}

/* ---- show ------------------------------------------------------------- */

struct show_opts {
        bool deny, json, follow;
        const char *op;
        bool have_uid;
        uint32_t uid;
        char since[32]; /* "" or a prefix of the records' time format */
};

/* The members of a record show prints, raw (JSON tokens in the line). */
struct view {
        struct json_value time, seq, event, caller, op, args, decision, rule, result, message,
            intent, lost;
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
        };
        for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
                if (is_name(name, len, m[i].name)) {
                        *(struct json_value *)((char *)w + m[i].off) = *v;
                        return 0;
                }
        return 0;
}

/* A string member decoded (NUL-terminated in out), or "" for null/absent. */
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

/* Prints s for a terminal: control bytes and DEL as \xNN, nothing else
 * changed (a path could otherwise move the cursor or clear the screen). */
static void put_safe(const char *s, int width)
{
        int n = 0;
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if (*p < 0x20 || *p == 0x7f || *p == '\\') {
                        n += printf(*p == '\\' ? "\\\\" : "\\x%02x", *p);
                } else {
                        putchar(*p);
                        n++;
                }
        }
        for (; n < width; n++)
                putchar(' ');
}

static void print_row(const struct view *w)
{
        struct jbuf b = {0};
        char seq[24] = "", caller[48] = "-", what[24];
        if (w->seq.start)
                snprintf(seq, sizeof(seq), "%.*s", (int)w->seq.len, w->seq.start);
        /* 2026-12-04T16:30:04.123456Z -> 2026-12-04T16:30:04Z */
        char t[32];
        snprintf(t, sizeof(t), "%.19sZ", str(&w->time, &b));
        if (w->c_uid.start)
                snprintf(caller, sizeof(caller), "uid=%.*s pid=%.*s", (int)w->c_uid.len,
                         w->c_uid.start, w->c_pid.start ? (int)w->c_pid.len : 1,
                         w->c_pid.start ? w->c_pid.start : "-");
        else if (str_is(&w->event, "setup") || str_is(&w->event, "intent"))
                snprintf(caller, sizeof(caller), "(setup)");
        else
                snprintf(caller, sizeof(caller), "(stepdownd)");
        snprintf(what, sizeof(what), "%s",
                 str(w->op.start && w->op.type == JSON_STRING ? &w->op : &w->event, &b));
        printf("%-6s %-20s %-22s %-8s ", seq, t, caller, what);
        const char *obj = str(&w->a_path, &b);
        if (!*obj)
                obj = str(&w->a_addr, &b);
        if (!*obj && w->op.type != JSON_STRING)
                obj = str(&w->message, &b); /* start, harden, serve, stop */
        put_safe(*obj ? obj : "-", 40);
        char result[32];
        if (str_is(&w->event, "intent"))
                snprintf(result, sizeof(result), "intent");
        else
                snprintf(result, sizeof(result), "%s", str(&w->result, &b));
        printf(" %-8s %-8s ", w->decision.type == JSON_STRING ? str(&w->decision, &b) : "-",
               result);
        put_safe(w->rule.type == JSON_STRING ? str(&w->rule, &b) : "-", 0);
        putchar('\n');
        if (w->lost.start)
                printf("       ^ %.*s: records not written before this one (stepdown audit verify "
                       "names them)\n",
                       (int)w->lost.len, w->lost.start);
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

/* One line: skipped unless it is an audit record; printed if it matches. */
static void show_line(const struct show_opts *o, const char *file, size_t lineno, char *line,
                      size_t len, bool *header)
{
        const char *rec = memmem(line, len, "{\"time\":\"", 9);
        if (!rec)
                return;
        size_t rlen = len - (size_t)(rec - line);
        struct audit_record r;
        struct view w = {0};
        if (audit_record_parse(rec, rlen, &r) < 0 ||
            json_scan_object(rec, rlen, view_member, &w) < 0) {
                if (memmem(line, len, "\"prev\":\"", 8))
                        fprintf(stderr,
                                "stepdown audit show: %s:%zu: not a well-formed record, skipped "
                                "(stepdown audit verify says more)\n",
                                file, lineno);
                return;
        }
        if (w.caller.type == JSON_OBJECT)
                json_scan_object(w.caller.start, w.caller.len, view_caller, &w);
        if (w.args.type == JSON_OBJECT)
                json_scan_object(w.args.start, w.args.len, view_args, &w);
        if (!show_match(o, &w))
                return;
        if (o->json) {
                fwrite(rec, 1, rlen, stdout);
                putchar('\n');
        } else {
                if (!*header) {
                        printf("%-6s %-20s %-22s %-8s %-40s %-8s %-8s %s\n", "SEQ", "TIME",
                               "CALLER", "OP", "PATH/ADDRESS", "DECISION", "RESULT", "RULE");
                        *header = true;
                }
                print_row(&w);
        }
        if (o->follow)
                fflush(stdout);
}

static int show_file(const struct show_opts *o, const char *file, bool follow, bool *header)
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
                show_line(o, file, lineno, line, (size_t)n, header);
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
        while ((c = getopt_long(argc, argv, "+do:u:s:fjh", longopts, NULL)) != -1) {
                char *end;
                unsigned long v;
                switch (c) {
                case 'd':
                        o.deny = true;
                        break;
                case 'o':
                        o.op = optarg;
                        break;
                case 'u':
                        errno = 0;
                        v = strtoul(optarg, &end, 10);
                        if (errno || end == optarg || *end || v > UINT32_MAX || optarg[0] == '-') {
                                fprintf(stderr, "stepdown audit show: --uid %s: not a number\n",
                                        optarg);
                                return 2;
                        }
                        o.have_uid = true;
                        o.uid = (uint32_t)v;
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
        bool header = false;
        int r = 0;
        if (optind >= argc)
                return show_file(&o, "-", o.follow, &header);
        for (int i = optind; i < argc; i++) {
                int e = show_file(&o, argv[i], o.follow && i == argc - 1, &header);
                if (e)
                        r = e;
        }
        fflush(stdout);
        return r;
}

static int keygen(int argc, char **argv)
{
        if (argc != 3)
                return usage(stderr, 2);
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
