/* The policy as `stepdownd --check` prints it. */
#include "policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pathnorm.h"
#include "errmsg.h"
#include "policy-internal.h"
#include "util.h"

/* ---- printing (stepdownd --check) ---- */

void policy_where(const struct policy *p, unsigned line, char *buf, size_t len)
{
        char s[POLICY_SHORT_BUF];
        if (line)
                snprintf(buf, len, "%s:%u",
                         p->file ? policy_short_path(p->file, s, sizeof(s)) : "?", line);
        else
                snprintf(buf, len, "STEPDOWN_CHOWN");
}

static void print_owners(FILE *f, const struct policy_owner *o, size_t n)
{
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%s%u:%u", i ? "," : " owner=", (unsigned)o[i].uid, (unsigned)o[i].gid);
}

static void print_modes(FILE *f, const mode_t *m, size_t n)
{
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%s%04o", i ? "," : " mode=", (unsigned)m[i]);
}

static void print_flag(FILE *f, bool on, const char *name)
{
        if (on)
                fprintf(f, " %s", name);
}

static void print_bind(FILE *f, const struct policy_rule *r)
{
        const struct policy_bind *b = &r->bind;
        char addr[INET6_ADDRSTRLEN] = "*";

        if (b->family == AF_UNIX) {
                fprintf(f, "unix:%s", r->pattern + 5);
                return;
        }
        if (!b->any_addr)
                inet_ntop(b->family, b->addr, addr, sizeof(addr));
        fprintf(f, "%s:%s%s%s:%u", b->socktype == SOCK_DGRAM ? "udp" : "tcp",
                b->family == AF_INET6 ? "[" : "", addr, b->family == AF_INET6 ? "]" : "",
                b->port_lo);
        if (b->port_hi != b->port_lo)
                fprintf(f, "-%u", b->port_hi);
}

static void print_src(FILE *f, const char *what, const struct remap_src *s)
{
        if (s->kind == REMAP_SRC_NUMBER)
                fprintf(f, " %s=%lld", what, (long long)s->number);
        else if (s->kind == REMAP_SRC_ENV)
                fprintf(f, " %s=env:%s", what, s->arg);
        else if (s->kind == REMAP_SRC_OWNER)
                fprintf(f, " %s=owner:%s", what, s->arg);
}

/* As written (sources are read at start, not by --check). */
static void print_remap(const struct policy *p, FILE *f)
{
        const struct policy_remap *m = &p->remap;
        if (m->line)
                fprintf(f, "%s:%u: ", p->file ? p->file : "?", m->line);
        if (m->origin)
                fprintf(f, "%s: ", m->origin);
        fprintf(f, "remap %s", m->user);
        print_src(f, "uid", &m->uid);
        print_src(f, "gid", &m->gid);
        for (size_t i = 0; i < m->n_paths; i++)
                fprintf(f, "%s%s", i ? "," : " chown=", m->paths[i]);
        print_flag(f, m->takeover, "takeover");
        if (m->resolved && m->active)
                fprintf(f, "    # uid %lld -> %lld, gid %lld -> %lld", (long long)m->old_uid,
                        (long long)m->new_uid, (long long)m->old_gid, (long long)m->new_gid);
        fputc('\n', f);
}

static const char *tristate(enum policy_tristate t, const char *yes, const char *no)
{
        return t == POLICY_YES ? yes : no;
}

void policy_print(const struct policy *p, FILE *f)
{
        const char *file = p->file ? p->file : "?";

        if (p->user_line)
                fprintf(f, "%s:%u: ", file, p->user_line);
        else if (p->user)
                fprintf(f, "%s: ", p->user_origin ? p->user_origin : "override");
        if (p->user)
                fprintf(f, "user %s (uid %u, gid %u)\n", p->user, (unsigned)p->user_uid,
                        (unsigned)p->user_gid);
        if (p->socket)
                fprintf(f, "%s:%u: socket %s\n", file, p->socket_line, p->socket);
        if (p->audit)
                fprintf(f, "%s:%u: audit %s\n", file, p->audit_line, p->audit);
        if (p->audit_sign)
                fprintf(f, "%s:%u: audit-sign %s\n", file, p->audit_sign_line, p->audit_sign);
        if (p->audit_sync)
                fprintf(f, "%s:%u: audit-sync %s\n", file, p->audit_sync_line,
                        tristate(p->audit_sync, "always", "never"));
        if (p->audit_failure)
                fprintf(f, "%s:%u: audit-failure %s\n", file, p->audit_failure_line,
                        tristate(p->audit_failure, "deny", "allow"));
        if (p->audit_syslog)
                fprintf(f, "%s:%u: audit-syslog %s\n", file, p->audit_syslog_line,
                        tristate(p->audit_syslog, "yes", "no"));
        if (p->has_umask)
                fprintf(f, "%s:%u: umask %04o\n", file, p->umask_line, (unsigned)p->umask);
        if (p->key_line)
                fprintf(f, "%s:%u: key %s\n", file, p->key_line,
                        p->key == POLICY_KEY_FILE   ? p->key_file
                        : p->key == POLICY_KEY_NONE ? "none"
                                                    : "auto");
        if (p->no_new_privs)
                fprintf(f, "%s:%u: no-new-privs\n", file, p->no_new_privs_line);
        if (p->intercept_line) {
                fprintf(f, "%s:%u: intercept", file, p->intercept_line);
                for (enum sd_op op = SD_OP_MKDIR; op <= SD_OP_BIND; op++)
                        if (p->intercept_ops & (1u << op))
                                fprintf(f, " %s", sd_op_name(op));
                fprintf(f, "%s%s\n", p->intercept_log_continued ? " log-continued" : "",
                        p->intercept_required ? " required" : "");
        }
        if (p->setup_unprivileged_line)
                fprintf(f, "%s:%u: setup-unprivileged %s\n", file, p->setup_unprivileged_line,
                        p->setup_unprivileged == POLICY_UNPRIV_SKIP   ? "skip"
                        : p->setup_unprivileged == POLICY_UNPRIV_WARN ? "warn"
                                                                      : "fail");
        if (p->broker_line)
                fprintf(f, "%s:%u: broker %s\n", file, p->broker_line,
                        tristate(p->broker_required, "required", "optional"));

        if (p->remap.user)
                print_remap(p, f);

        for (size_t i = 0; i < p->n_steps; i++) {
                const struct policy_step *s = &p->steps[i];
                char where[PATH_MAX + 32];
                policy_where(p, s->line, where, sizeof(where));
                fprintf(f, "%s: setup %s %s", where, sd_op_name(s->op), s->path);
                if (s->op != SD_OP_CHMOD)
                        fprintf(f, " owner=%u:%u", (unsigned)s->uid, (unsigned)s->gid);
                if (s->has_mode)
                        fprintf(f, " mode=%04o", (unsigned)s->mode);
                print_flag(f, s->parents, "parents");
                print_flag(f, s->recursive, "recursive");
                print_flag(f, s->xdev, "xdev");
                print_flag(f, s->hardlinks, "hardlinks");
                fputc('\n', f);
        }

        for (size_t i = 0; i < p->n_rules; i++) {
                const struct policy_rule *r = &p->rules[i];
                fprintf(f, "%s:%u: allow ", file, r->line);
                switch (r->caller.kind) {
                case CALLER_UID:
                        fprintf(f, "%u", (unsigned)r->caller.uid);
                        break;
                case CALLER_GROUP:
                        fprintf(f, "@%u", (unsigned)r->caller.gid);
                        break;
                default:
                        fputc('*', f);
                }
                fprintf(f, " %s ", sd_op_name(r->op));
                if (r->op == SD_OP_BIND)
                        print_bind(f, r);
                else
                        fputs(r->pattern, f);
                print_owners(f, r->owners, r->n_owners);
                print_modes(f, r->modes, r->n_modes);
                print_flag(f, r->recursive, "recursive");
                print_flag(f, r->parents, "parents");
                print_flag(f, r->xdev, "xdev");
                print_flag(f, r->hardlinks, "hardlinks");
                print_flag(f, r->read, "read");
                print_flag(f, r->write, "write");
                print_flag(f, r->create, "create");
                fprintf(f, "    # %s", r->caller.text);
                if (r->anchor)
                        fprintf(f, ", anchor %s", r->anchor);
                fputc('\n', f);
        }
        fprintf(f, "%zu setup step%s, %zu allow rule%s\n", p->n_steps, p->n_steps == 1 ? "" : "s",
                p->n_rules, p->n_rules == 1 ? "" : "s");
}
