/* The broker's Landlock ruleset (landlock.h).  Raw system calls: glibc has
 * no wrappers, and the build's <linux/landlock.h> may predate the rights
 * the running kernel knows, so every newer constant is guarded and the
 * handled rights are masked down to the kernel's ABI. */
#include "landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/landlock.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "policy.h"
#include "resolve.h"
#include "util.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule       445
#define SYS_landlock_restrict_self  446
#endif
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#endif
#ifndef LANDLOCK_ACCESS_FS_REFER /* ABI 2 */
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE /* ABI 3 */
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV /* ABI 5 */
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP /* ABI 4 */
#define LANDLOCK_ACCESS_NET_BIND_TCP    (1ULL << 0)
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif
#define RULE_PATH_BENEATH 1 /* LANDLOCK_RULE_PATH_BENEATH */
#define RULE_NET_PORT     2 /* LANDLOCK_RULE_NET_PORT (ABI 4) */

/* The kernel's structures as of ABI 4, declared here so that older
 * headers build; the size passed tells the kernel which fields we mean. */
struct ll_ruleset_attr {
        uint64_t handled_access_fs;
        uint64_t handled_access_net;
};
struct ll_path_beneath_attr {
        uint64_t allowed_access;
        int32_t parent_fd;
} __attribute__((packed));
struct ll_net_port_attr {
        uint64_t allowed_access;
        uint64_t port;
};

#define FS(x) LANDLOCK_ACCESS_FS_##x
/* Every right of ABI 1 but EXECUTE: execve is the seccomp filter's (never
 * on its allowlist), and --no-seccomp, a debugging switch, stays what it
 * says it is. */
#define FS_ABI1                                                                                    \
        (FS(WRITE_FILE) | FS(READ_FILE) | FS(READ_DIR) | FS(REMOVE_DIR) | FS(REMOVE_FILE) |        \
         FS(MAKE_CHAR) | FS(MAKE_DIR) | FS(MAKE_REG) | FS(MAKE_SOCK) | FS(MAKE_FIFO) |             \
         FS(MAKE_BLOCK) | FS(MAKE_SYM))
/* Rights that may be granted on a regular file (the rest need a directory). */
#define FS_FILE (FS(WRITE_FILE) | FS(READ_FILE) | FS(TRUNCATE) | FS(IOCTL_DEV))

/* A policy whose tcp port ranges add up to more than this leaves TCP bind
 * unhandled (one rule per port; 64k add_rule calls would slow the start
 * for a wall that such a policy hardly narrows). */
#define PORTS_MAX 4096

#if defined(__SANITIZE_ADDRESS__)
#define LANDLOCK_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LANDLOCK_SANITIZER 1
#endif
#endif

int landlock_abi(void)
{
        long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
        return abi < 0 ? negative_errno() : (int)abi;
}

static uint64_t fs_handled(int abi)
{
        uint64_t fs = FS_ABI1;
        if (abi >= 2)
                fs |= FS(REFER);
        if (abi >= 3)
                fs |= FS(TRUNCATE);
        if (abi >= 5)
                fs |= FS(IOCTL_DEV);
        return fs;
}

/* Kernels before 6.6 lack fchmodat2: the engine then sets a mode through
 * a verified O_RDONLY reopen (op-util.c, op_fchmod), which needs read. */
static bool chmod_reopens(void)
{
        return syscall(SYS_fchmodat2, -1, "", 0, AT_EMPTY_PATH) < 0 && errno == ENOSYS;
}

/* What a rule's operation does below its anchor (common/op-*.c,
 * daemon/request/act.c). */
static uint64_t rule_rights(const struct policy_rule *x, bool reopens)
{
        uint64_t reopen = reopens ? FS(READ_FILE) | FS(READ_DIR) : 0;

        switch (x->op) {
        case SD_OP_MKDIR:
                /* the staging directory: made, opened O_RDONLY, emptied
                 * and removed; the new directory renamed out of it */
                return FS(MAKE_DIR) | FS(READ_DIR) | FS(REMOVE_DIR) | FS(REFER);
        case SD_OP_CHOWN: /* the recursive walk opens directories O_RDONLY */
                return FS(READ_DIR) | reopen;
        case SD_OP_CHMOD:
                return reopen;
        case SD_OP_OPEN:
                return (x->read ? FS(READ_FILE) : 0) |
                       (x->write ? FS(WRITE_FILE) | FS(TRUNCATE) : 0) |
                       (x->create ? FS(MAKE_REG) : 0);
        case SD_OP_BIND: /* unix:PATH; tcp/udp have no anchor */
                return x->anchor ? FS(MAKE_SOCK) : 0;
        }
        return 0;
}

struct builder {
        int ruleset;
        int abi;
        uint64_t handled_fs;
        unsigned paths, ports;
};

/* One landlock_add_rule; what names the rule in msg on failure. */
static int add_rule(struct builder *b, int type, const void *attr, const char *what, char *msg,
                    size_t msglen)
{
        if (syscall(SYS_landlock_add_rule, b->ruleset, type, attr, 0) == 0)
                return 0;
        int r = negative_errno();
        snprintf(msg, msglen, "landlock: a rule for %s: %s", what, strerror(-r));
        return r;
}

static int add_fd(struct builder *b, int fd, uint64_t rights, const char *what, char *msg,
                  size_t msglen)
{
        struct stat st;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISDIR(st.st_mode))
                rights &= FS_FILE;
        struct ll_path_beneath_attr pb = {.allowed_access = rights & b->handled_fs,
                                          .parent_fd = fd};
        if (!pb.allowed_access)
                return 0;
        int r = add_rule(b, RULE_PATH_BENEATH, &pb, what, msg, msglen);
        b->paths += r == 0;
        return r;
}

/* dir, resolved from / without symbolic links (resolve_anchor, as the
 * engine does); missing: its nearest existing ancestor. */
static int add_path(struct builder *b, const char *dir, uint64_t rights, const char *why, char *msg,
                    size_t msglen)
{
        char buf[PATH_MAX], err[512] = "";
        int fd = -1, r;

        if (!(rights & b->handled_fs))
                return 0;
        snprintf(buf, sizeof(buf), "%s", dir);
        while ((r = resolve_anchor(buf, &fd, err, sizeof(err))) == -ENOENT && strcmp(buf, "/")) {
                char *slash = strrchr(buf, '/');
                slash[slash == buf ? 1 : 0] = '\0';
        }
        if (r < 0) {
                log_warn("broker: landlock: %s %s is left out of the ruleset (%s): the broker "
                         "cannot use it while it runs",
                         why, dir, err[0] ? err : strerror(-r));
                return 0;
        }
        if (strcmp(buf, dir))
                log_warn("broker: landlock: %s %s does not exist yet; the ruleset grants its "
                         "rights below %s instead",
                         why, dir, buf);
        r = add_fd(b, fd, rights, dir, msg, msglen);
        safe_close(fd);
        return r;
}

static int add_port(struct builder *b, unsigned port, char *msg, size_t msglen)
{
        struct ll_net_port_attr np = {.allowed_access = LANDLOCK_ACCESS_NET_BIND_TCP, .port = port};
        char what[32];
        snprintf(what, sizeof(what), "tcp port %u", port);
        int r = add_rule(b, RULE_NET_PORT, &np, what, msg, msglen);
        b->ports += r == 0;
        return r;
}

static bool is_tcp(const struct policy_rule *x)
{
        return x->op == SD_OP_BIND && x->bind.family != AF_UNIX && x->bind.socktype == SOCK_STREAM;
}

/* The tcp ports the rules name, or PORTS_MAX + 1 when there are more. */
static unsigned tcp_ports(const struct policy *p)
{
        unsigned n = 0;
        for (size_t i = 0; i < p->n_rules && n <= PORTS_MAX; i++)
                if (is_tcp(&p->rules[i]))
                        n += p->rules[i].bind.port_hi - p->rules[i].bind.port_lo + 1;
        return n;
}

static int add_rules(struct builder *b, const struct policy *p, const struct landlock_extra *x,
                     bool net_bind, char *msg, size_t msglen)
{
        bool reopens = chmod_reopens();
        int r = 0;

        for (size_t i = 0; r == 0 && i < p->n_rules; i++) {
                const struct policy_rule *rule = &p->rules[i];
                char why[64];
                snprintf(why, sizeof(why), "the anchor of line %u,", rule->line);
                if (rule->anchor)
                        r = add_path(b, rule->anchor, rule_rights(rule, reopens), why, msg, msglen);
                for (unsigned port = rule->bind.port_lo;
                     r == 0 && net_bind && is_tcp(rule) && port <= rule->bind.port_hi; port++)
                        r = add_port(b, port, msg, msglen);
        }
        if (r == 0 && x && x->sockdir_fd >= 0)
                r = add_fd(b, x->sockdir_fd, FS(REMOVE_FILE), "the socket's directory", msg,
                           msglen);
        if (r == 0 && x && x->audit_path && x->audit_path[0] == '/') { /* not "-" (stderr) */
                char dir[PATH_MAX];
                const char *slash = strrchr(x->audit_path, '/');
                snprintf(dir, sizeof(dir), "%.*s",
                         slash == x->audit_path ? 1 : (int)(slash - x->audit_path), x->audit_path);
                r = add_path(b, dir, FS(READ_FILE) | FS(WRITE_FILE) | FS(MAKE_REG),
                             "the audit log's directory", msg, msglen);
        }
#ifdef LANDLOCK_SANITIZER
        /* ASan/LSan read /proc/self/maps and friends for their reports. */
        if (r == 0)
                r = add_path(b, "/proc", FS(READ_FILE) | FS(READ_DIR), "(sanitizer build)", msg,
                             msglen);
#endif
        return r;
}

int landlock_apply(const struct policy *p, const struct landlock_extra *x, char *msg, size_t msglen)
{
        struct builder b = {.ruleset = -1, .abi = landlock_abi()};
        int r;

        if (b.abi == -ENOSYS || b.abi == -EOPNOTSUPP || b.abi == -EPERM) {
                snprintf(msg, msglen,
                         "landlock unavailable (%s): the broker runs without its "
                         "filesystem and network wall",
                         b.abi == -ENOSYS       ? "the kernel has no Landlock"
                         : b.abi == -EOPNOTSUPP ? "Landlock is disabled at boot (lsm=)"
                                                : "refused by a seccomp profile");
                return 1;
        }
        if (b.abi < 0) {
                snprintf(msg, msglen, "landlock: asking the ABI version: %s", strerror(-b.abi));
                return b.abi;
        }
        if (b.abi < 2) {
                /* ABI 1 refuses every rename between directories, which
                 * the engine's mkdir makes (staging directory). */
                snprintf(msg, msglen,
                         "landlock ABI 1 (kernel before 5.19) cannot allow the "
                         "renames mkdir makes: the broker runs without its wall");
                return 1;
        }
        unsigned ports = tcp_ports(p);
        bool net_bind = b.abi >= 4 && ports <= PORTS_MAX;
        b.handled_fs = fs_handled(b.abi);
        struct ll_ruleset_attr attr = {
            .handled_access_fs = b.handled_fs,
            .handled_access_net = b.abi < 4 ? 0
                                            : LANDLOCK_ACCESS_NET_CONNECT_TCP |
                                                  (net_bind ? LANDLOCK_ACCESS_NET_BIND_TCP : 0),
        };
        b.ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr,
                                 b.abi < 4 ? sizeof(attr.handled_access_fs) : sizeof(attr), 0);
        if (b.ruleset < 0) {
                r = negative_errno();
                snprintf(msg, msglen, "landlock: creating the ruleset: %s", strerror(-r));
                return r;
        }
        r = add_rules(&b, p, x, net_bind, msg, msglen);
        if (r == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                r = negative_errno();
                snprintf(msg, msglen, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(-r));
        }
        if (r == 0 && syscall(SYS_landlock_restrict_self, b.ruleset, 0) < 0) {
                r = negative_errno();
                snprintf(msg, msglen, "landlock: restricting the broker: %s", strerror(-r));
        }
        safe_close(b.ruleset);
        if (r < 0)
                return r;
        snprintf(msg, msglen, "landlock ABI %d: %u path%s, %s", b.abi, b.paths,
                 b.paths == 1 ? "" : "s",
                 b.abi < 4  ? "tcp not covered (ABI < 4)"
                 : net_bind ? (b.ports ? "bind on the rules' tcp ports only" : "no tcp bind")
                            : "tcp bind not covered (more than 4096 ports)");
        return 0;
}
