/* Shared by filter.c, notify.c and serve.c (not for the rest of the
 * daemon: intercept.h is). */
#pragma once

#include <limits.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "intercept.h"
#include "policy.h"

struct event;
struct audit;

/* The notified system calls (filter.c's table). */
enum icept_sc {
        ICEPT_MKDIR,
        ICEPT_MKDIRAT,
        ICEPT_CHOWN,
        ICEPT_LCHOWN,
        ICEPT_FCHOWN,
        ICEPT_FCHOWNAT,
        ICEPT_CHMOD,
        ICEPT_FCHMOD,
        ICEPT_FCHMODAT,
        ICEPT_FCHMODAT2,
        ICEPT_OPEN,
        ICEPT_OPENAT,
        ICEPT_OPENAT2,
        ICEPT_CREAT,
        ICEPT_BIND,
};

/* The call for native number nr: its operation and name; -1 if none. */
int icept_syscall_of(int nr, enum sd_op *op, const char **name);
uint32_t icept_native_arch(void);

#define ICEPT_OPS                (SD_OP_BIND + 1)
#define ICEPT_GROUPS_MAX         256
#define ICEPT_CONTINUED_INTERVAL ICEPT_CONTINUED_SECONDS

/* One notified call, read once. */
struct icall {
        uint64_t id; /* the notification's cookie */
        pid_t tid, tgid;
        int sc; /* enum icept_sc */
        enum sd_op op;
        const char *syscall;
        /* the caller, as the kernel knows it (/proc/TID/status) */
        uid_t uid;
        gid_t gid;
        gid_t groups[ICEPT_GROUPS_MAX];
        size_t n_groups;
        mode_t umask;
        /* the arguments */
        char path[PATH_MAX]; /* absolute, normal (pathnorm.h) */
        int fd;              /* bind, fchown, fchmod: the caller's fd number; -1 */
        /* fchown, fchmod: the fd's object (stat of /proc/TID/fd/N), which
         * the engine must find at path when it acts (has_expect) */
        bool has_expect;
        struct stat fd_st;
        mode_t mode;
        uid_t owner_uid;
        gid_t owner_gid;
        int oflags;
        struct sockaddr_storage addr;
        socklen_t addrlen;
};

struct request_ctx;

struct icept {
        struct event_base *base;
        const struct policy *policy;
        struct audit *audit;
        struct request_ctx *rctx;
        int sock; /* the handoff socketpair's end, -1 once the listener came */
        struct event *sock_ev;
        int listener;
        struct event *ev;
        struct seccomp_notif_sizes sizes;
        struct seccomp_notif *req;
        struct seccomp_notif_resp *resp;
        unsigned ops_with_rules; /* intercepted ops some allow rule names */
        int unpriv_port_start;   /* net.ipv4.ip_unprivileged_port_start at the start */
        /* The ids the last caller's /proc/TID/status gave: the path is
         * read as them first (the kernel refuses the read if they are not
         * this caller's; then status is read and the read made again) */
        bool have_ids;
        uid_t read_uid;
        gid_t read_gid;
        bool log_continued;
        uint64_t continued[ICEPT_OPS];
        struct event *flush_ev;
};

/* Answers: continue (counted for log-continued), an errno (0: success),
 * or a new fd in the caller (closes nothing; 0, or -errno after answering
 * that errno). */
void icept_continue(struct icept *ic, const struct icall *c);
void icept_answer(struct icept *ic, const struct icall *c, int err);
int icept_answer_fd(struct icept *ic, const struct icall *c, int fd, bool cloexec);

/* Whether c's notification is still pending (its caller alive, the pid
 * not reused). */
bool icept_still_valid(const struct icept *ic, const struct icall *c);

/* serve.c: the call through the request pipeline, answered. */
void icept_serve(struct icept *ic, const struct icall *c);
