/* Checks of the files and directories a policy names (check.h).  Only
 * what would fail for certain is an error: a path that does not exist yet
 * may be made by a setup step or mounted later, so only the key, the audit
 * log's directory and symbolic links on the way are judged. */
#include "check.h"

#include "intercept.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker.h"
#include "log.h"
#include "resolve.h"
#include "util.h"

void check_real_path(const char *path, char *buf, size_t len)
{
        char head[PATH_MAX];
        int n = snprintf(head, sizeof(head), "%s", path);

        buf[0] = '\0';
        if (n < 0 || (size_t)n >= sizeof(head) || path[0] != '/')
                return;
        for (;;) {
                char *real = realpath(head, NULL);
                if (real) {
                        const char *tail = path + strlen(head);
                        snprintf(buf, len, "%s%s", strcmp(real, "/") == 0 && *tail ? "" : real,
                                 tail);
                        free(real);
                        if (strcmp(buf, path) == 0)
                                buf[0] = '\0';
                        return;
                }
                char *slash = strrchr(head, '/');
                if (!slash || slash == head)
                        return;
                *slash = '\0';
        }
}

int check_key(const struct policy *p)
{
        uint8_t key[PROTO_KEY_BYTES];
        char err[PATH_MAX + 128], where[PATH_MAX + 32];

        if (p->key != POLICY_KEY_FILE)
                return 0;
        int r = auth_key_load(p->key_file, key, err, sizeof(err));
        sodium_memzero(key, sizeof(key));
        if (r >= 0)
                return 0;
        policy_where(p, p->key_line, where, sizeof(where));
        log_error("%s: %s%s", where, err,
                  r == -ENOENT ? " (provision the key there, mode 0600, or drop the statement "
                                 "for a key generated at each start)"
                               : "");
        return r;
}

/* The audit log: its directory must exist (the log is opened before any
 * setup step runs) and the log, when it exists, must be a regular file
 * with one link, not a symbolic link (it is opened O_NOFOLLOW). */
static unsigned check_audit(const struct policy *p)
{
        char dir[PATH_MAX], where[PATH_MAX + 32];
        struct stat st;
        unsigned bad = 0;

        policy_where(p, p->audit_line, where, sizeof(where));
        if (p->audit && strcmp(p->audit, "-") != 0) {
                const char *slash = strrchr(p->audit, '/');
                snprintf(dir, sizeof(dir), "%.*s",
                         slash && slash != p->audit ? (int)(slash - p->audit) : 1, p->audit);
                int e = stat(dir, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
                if (e) {
                        log_error("%s: audit log %s: its directory %s %s (it is opened before "
                                  "the setup steps run, so create it in the image or mount "
                                  "it)",
                                  where, p->audit, dir,
                                  e == ENOENT    ? "does not exist"
                                  : e == ENOTDIR ? "is not a directory"
                                                 : strerror(e));
                        bad++;
                } else if (lstat(p->audit, &st) == 0 && (!S_ISREG(st.st_mode) || st.st_nlink > 1)) {
                        log_error("%s: audit log %s: %s, which is refused at start", where,
                                  p->audit,
                                  S_ISLNK(st.st_mode)   ? "is a symbolic link"
                                  : S_ISREG(st.st_mode) ? "has more than one hard link"
                                                        : "is not a regular file");
                        bad++;
                }
        }
        if (p->audit_sign && access(p->audit_sign, F_OK) < 0) {
                policy_where(p, p->audit_sign_line, where, sizeof(where));
                log_error("%s: signing key %s: %s", where, p->audit_sign, strerror(errno));
                bad++;
        }
        return bad;
}

/* A path opened without following symbolic links in any component: one
 * there fails every request (or the setup step) for certain. */
static unsigned check_no_symlink(const struct policy *p, unsigned line, const char *what,
                                 const char *path, const char *tail, bool last_too,
                                 const char *effect)
{
        char why[PATH_MAX + 128], where[PATH_MAX + 32], real[PATH_MAX];
        int fd = -1;

        int r = resolve_anchor(path, &fd, why, sizeof(why));
        safe_close(fd);
        if (r != -ELOOP)
                return 0;
        /* "anchor PATH: " is said by what already */
        size_t n = strlen(path);
        const char *reason = why;
        if (strncmp(why, "anchor ", 7) == 0 && strncmp(why + 7, path, n) == 0 &&
            strncmp(why + 7 + n, ": ", 2) == 0)
                reason = why + 7 + n + 2;
        const char *slash = strrchr(path, '/');
        if (last_too || !slash || slash == path) {
                check_real_path(path, real, sizeof(real));
        } else { /* the directories above only (setup.c: step_hint) */
                char dir[PATH_MAX];
                snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
                check_real_path(dir, real, sizeof(real));
                if (real[0])
                        snprintf(real + strlen(real), sizeof(real) - strlen(real), "%s", slash);
        }
        policy_where(p, line, where, sizeof(where));
        log_error("%s: %s: %s, so %s%s%s%s%s", where, what, reason, effect,
                  real[0] ? " (write the real path: " : "", real, real[0] ? tail : "",
                  real[0] ? ")" : "");
        return 1;
}

unsigned check_policy_files(const struct policy *p)
{
        char what[PATH_MAX + 64];
        unsigned bad = p->n_rules > 0 && check_key(p) < 0;

        bad += check_audit(p);
        for (size_t i = 0; i < p->n_rules; i++) {
                const struct policy_rule *x = &p->rules[i];
                if (!x->anchor)
                        continue;
                /* An exact path is opened itself (act.c: rule_anchor);
                 * a unix socket and a wildcard rule, at their anchor. */
                bool exact = x->kind == PATTERN_EXACT && x->op != SD_OP_BIND;
                snprintf(what, sizeof(what), "allow %s %s %s", x->caller.text, sd_op_name(x->op),
                         x->pattern);
                const char *pattern = x->op == SD_OP_BIND ? x->pattern + 5 : x->pattern;
                const char *path = exact ? pattern : x->anchor;
                /* the pattern past its anchor, to say the whole real one */
                const char *tail = pattern + (strcmp(path, "/") == 0 ? 0 : strlen(path));
                bad += check_no_symlink(p, x->line, what, path, tail, true,
                                        "every request it allows would be refused");
        }
        for (size_t i = 0; i < p->n_steps; i++) {
                const struct policy_step *s = &p->steps[i];
                snprintf(what, sizeof(what), "setup %s %s", sd_op_name(s->op), s->path);
                bad +=
                    check_no_symlink(p, s->line, what, s->path, "", false, "the step would fail");
        }
        return bad;
}

void check_print_intercept(const struct policy *p, FILE *f)
{
        char names[512], ops[64] = "";
        size_t n = 0;

        if (!p->intercept_ops)
                return;
        for (enum sd_op op = SD_OP_MKDIR; op <= SD_OP_BIND; op++)
                if (p->intercept_ops & (1u << op))
                        n += (size_t)snprintf(ops + n, sizeof(ops) - n, "%s%s", n ? " " : "",
                                              sd_op_name(op));
        icept_syscall_names(p->intercept_ops, names, sizeof(names));
        fprintf(f, "intercept: %s (system calls %s), in exec and --init modes\n", ops, names);
        fprintf(f, "intercept: implies no_new_privs for the application (set-uid/set-gid bits and "
                   "file capabilities stop working for it)\n");
        fprintf(f, "intercept: the same calls through a foreign ABI (i386 int 0x80, x32) fail "
                   "with ENOSYS\n");
        fprintf(f, "intercept: the broker runs without its Landlock ruleset (it reads the "
                   "application's memory through /proc/PID/mem)\n");
        if (p->intercept_log_continued)
                fprintf(f,
                        "intercept: log-continued: calls no rule allows are counted, one "
                        "record per operation every %d s\n",
                        ICEPT_CONTINUED_SECONDS);
        if (p->intercept_required)
                fprintf(f, "intercept: required: when the kernel or the broker refuses it, "
                           "stepdownd exits 1 and the command does not run\n");
        for (enum sd_op op = SD_OP_MKDIR; op <= SD_OP_BIND; op++) {
                bool ruled = false;
                for (size_t i = 0; i < p->n_rules; i++)
                        ruled |= p->rules[i].op == op;
                if ((p->intercept_ops & (1u << op)) && !ruled)
                        fprintf(f,
                                "intercept %s: no allow rule names %s, so every such call "
                                "continues to the kernel\n",
                                sd_op_name(op), sd_op_name(op));
        }
}
