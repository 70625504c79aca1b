/* The application's side of transparent mode: a classic BPF program, built
 * here rather than with libseccomp so that the foreign ABIs get exactly the
 * answer documented (libseccomp's bad-architecture action would refuse
 * every foreign call, not only the intercepted ones).
 *
 * The program, per call:
 *   native ABI: a notified number -> SECCOMP_RET_USER_NOTIF, else ALLOW;
 *   x32 (x86-64 numbers with __X32_SYSCALL_BIT): the same calls -> ERRNO;
 *   i386: the same calls (and socketcall(SYS_BIND, ...)) -> ERRNO;
 *   any other ABI (not on x86-64: a compat ABI of the native one) -> ERRNO
 *   for every call, since its numbers are not known here. */
#include "intercept.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/net.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fdpass.h"
#include "icept-internal.h"
#include "policy.h"
#include "util.h"

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif
#ifndef PR_SET_PTRACER
#define PR_SET_PTRACER 0x59616d61
#endif
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

#if defined(__x86_64__)
#define ICEPT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ICEPT_ARCH AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define ICEPT_ARCH AUDIT_ARCH_I386
#elif defined(__riscv) && __riscv_xlen == 64
#define ICEPT_ARCH AUDIT_ARCH_RISCV64
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ICEPT_ARCH AUDIT_ARCH_PPC64LE
#elif defined(__s390x__)
#define ICEPT_ARCH AUDIT_ARCH_S390X
#else
#error "transparent mode: add this architecture's AUDIT_ARCH_* here"
#endif

struct sc {
        enum icept_sc sc;
        enum sd_op op;
        const char *name;
        int nr; /* native */
};

/* Every variant of each operation on the native ABI (architectures without
 * the old calls, such as arm64, have only the *at ones). */
static const struct sc native[] = {
#ifdef SYS_mkdir
    {ICEPT_MKDIR, SD_OP_MKDIR, "mkdir", SYS_mkdir},
#endif
    {ICEPT_MKDIRAT, SD_OP_MKDIR, "mkdirat", SYS_mkdirat},
#ifdef SYS_chown
    {ICEPT_CHOWN, SD_OP_CHOWN, "chown", SYS_chown},
#endif
#ifdef SYS_lchown
    {ICEPT_LCHOWN, SD_OP_CHOWN, "lchown", SYS_lchown},
#endif
    {ICEPT_FCHOWN, SD_OP_CHOWN, "fchown", SYS_fchown},
    {ICEPT_FCHOWNAT, SD_OP_CHOWN, "fchownat", SYS_fchownat},
#ifdef SYS_chmod
    {ICEPT_CHMOD, SD_OP_CHMOD, "chmod", SYS_chmod},
#endif
    {ICEPT_FCHMOD, SD_OP_CHMOD, "fchmod", SYS_fchmod},
    {ICEPT_FCHMODAT, SD_OP_CHMOD, "fchmodat", SYS_fchmodat},
    {ICEPT_FCHMODAT2, SD_OP_CHMOD, "fchmodat2", SYS_fchmodat2},
#ifdef SYS_open
    {ICEPT_OPEN, SD_OP_OPEN, "open", SYS_open},
#endif
    {ICEPT_OPENAT, SD_OP_OPEN, "openat", SYS_openat},
    {ICEPT_OPENAT2, SD_OP_OPEN, "openat2", SYS_openat2},
#ifdef SYS_creat
    {ICEPT_CREAT, SD_OP_OPEN, "creat", SYS_creat},
#endif
    {ICEPT_BIND, SD_OP_BIND, "bind", SYS_bind},
};

#ifdef __x86_64__
#define X32_BIT 0x40000000u
/* i386 numbers (asm/unistd_32.h), including the 32-bit-id chown family. */
static const struct {
        enum sd_op op;
        int nr;
} i386_calls[] = {
    {SD_OP_MKDIR, 39},  {SD_OP_MKDIR, 296}, {SD_OP_CHOWN, 182}, {SD_OP_CHOWN, 16},
    {SD_OP_CHOWN, 95},  {SD_OP_CHOWN, 212}, {SD_OP_CHOWN, 198}, {SD_OP_CHOWN, 207},
    {SD_OP_CHOWN, 298}, {SD_OP_CHMOD, 15},  {SD_OP_CHMOD, 94},  {SD_OP_CHMOD, 306},
    {SD_OP_CHMOD, 452}, {SD_OP_OPEN, 5},    {SD_OP_OPEN, 295},  {SD_OP_OPEN, 437},
    {SD_OP_OPEN, 8},    {SD_OP_BIND, 361},
};
#define I386_SOCKETCALL 102
#endif

int icept_syscall_of(int nr, enum sd_op *op, const char **name)
{
        for (size_t i = 0; i < ELEMENTSOF(native); i++)
                if (native[i].nr == nr) {
                        *op = native[i].op;
                        *name = native[i].name;
                        return (int)native[i].sc;
                }
        return -1;
}

uint32_t icept_native_arch(void)
{
        return ICEPT_ARCH;
}

void icept_syscall_names(unsigned ops, char *buf, size_t len)
{
        size_t n = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(native) && n < len; i++)
                if (ops & (1u << native[i].op))
                        n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? " " : "",
                                              native[i].name);
}

#define PROG_MAX 128

struct prog {
        struct sock_filter f[PROG_MAX];
        unsigned n;
};

static void emit(struct prog *p, struct sock_filter ins)
{
        if (p->n < PROG_MAX)
                p->f[p->n++] = ins;
}

/* if (A == k) return ret; */
static void if_eq_ret(struct prog *p, uint32_t k, uint32_t ret)
{
        emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, k, 0, 1));
        emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ret));
}

static void load(struct prog *p, uint32_t off)
{
        emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, off));
}

#define RET_ERRNO (SECCOMP_RET_ERRNO | (ICEPT_FOREIGN_ERRNO & SECCOMP_RET_DATA))

static int build(unsigned ops, struct prog *p)
{
        p->n = 0;
        load(p, offsetof(struct seccomp_data, arch));
#ifdef __x86_64__
        /* arch == i386: its list, then socketcall(SYS_BIND, ...) */
        emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386, 0, 0));
        unsigned i386_jump = p->n - 1;
#endif
        /* arch != native (and not i386): refused */
        emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ICEPT_ARCH, 1, 0));
        emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, RET_ERRNO));
        load(p, offsetof(struct seccomp_data, nr));
#ifdef __x86_64__
        /* x32: the same calls with __X32_SYSCALL_BIT (their numbers are the
         * x86-64 ones for all of these) */
        emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_BIT, 0, 0));
        unsigned x32_jump = p->n - 1;
#endif
        for (size_t i = 0; i < ELEMENTSOF(native); i++)
                if (ops & (1u << native[i].op))
                        if_eq_ret(p, (uint32_t)native[i].nr, SECCOMP_RET_USER_NOTIF);
        emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
#ifdef __x86_64__
        p->f[x32_jump].jt = (uint8_t)(p->n - x32_jump - 1);
        for (size_t i = 0; i < ELEMENTSOF(native); i++)
                if (ops & (1u << native[i].op))
                        if_eq_ret(p, X32_BIT | (uint32_t)native[i].nr, RET_ERRNO);
        emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));

        p->f[i386_jump].jt = (uint8_t)(p->n - i386_jump - 1);
        load(p, offsetof(struct seccomp_data, nr));
        for (size_t i = 0; i < ELEMENTSOF(i386_calls); i++)
                if (ops & (1u << i386_calls[i].op))
                        if_eq_ret(p, (uint32_t)i386_calls[i].nr, RET_ERRNO);
        if (ops & (1u << SD_OP_BIND)) {
                emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, I386_SOCKETCALL, 0,
                                                     3));
                load(p, offsetof(struct seccomp_data, args[0]));
                emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_BIND, 0, 1));
                emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, RET_ERRNO));
        }
        emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
#endif
        return p->n < PROG_MAX && p->n < 256 ? 0 : -E2BIG;
}

int icept_install(unsigned ops, int sock, pid_t ptracer, char *err, size_t errlen)
{
        struct prog p;
        int r = build(ops, &p), listener = -1;

        if (r < 0) {
                snprintf(err, errlen, "the filter program is too long");
                goto out;
        }
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                r = -errno;
                snprintf(err, errlen, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
                goto out;
        }
        struct sock_fprog fp = {.len = (unsigned short)p.n, .filter = p.f};
        /* WAIT_KILLABLE_RECV (5.19): once the broker has taken a call, a
         * signal no longer interrupts it (and restarts it as a second call
         * the broker would serve again). */
        listener = (int)syscall(
            SYS_seccomp, SECCOMP_SET_MODE_FILTER,
            SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &fp);
        if (listener < 0 && errno == EINVAL)
                listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                                        SECCOMP_FILTER_FLAG_NEW_LISTENER, &fp);
        if (listener < 0) {
                r = -errno;
                snprintf(err, errlen, "seccomp(SECCOMP_SET_MODE_FILTER, NEW_LISTENER): %s%s",
                         strerror(errno),
                         errno == EINVAL || errno == ENOSYS
                             ? " (a kernel without seccomp user notification, 5.0 and later)"
                         : errno == EBUSY ? " (a listener filter is already installed)"
                         : errno == EPERM ? " (refused by the container's seccomp profile?)"
                                          : "");
                goto out;
        }
        /* the listener's way to the broker: one byte with the fd over the
         * socketpair made before the fork */
        r = fdpass_send_byte(sock, 'L', listener, MSG_NOSIGNAL);
        if (r < 0) {
                /* The filter is in place but nobody will answer it: every
                 * intercepted call would fail with ENOSYS.  Cannot be undone,
                 * so the caller must not exec. */
                snprintf(err, errlen, "handing the listener to the broker: %s", strerror(-r));
                r = -EPIPE;
                goto out;
        }
        /* Yama ptrace_scope 1: the broker reads /proc/PID/mem, which needs
         * it to be an ancestor or the declared tracer (EINVAL: no Yama). */
        if (ptracer > 0)
                (void)prctl(PR_SET_PTRACER, (unsigned long)ptracer, 0, 0, 0);
out:
        safe_close(listener);
        safe_close(sock);
        return r;
}
