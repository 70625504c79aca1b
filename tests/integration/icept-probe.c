/* Calls test-intercept.sh makes through a foreign system-call ABI (which
 * no shell tool does): i386 `int 0x80` and x32.  Prints "rc=N errno=NAME"
 * for each; the caller judges them from the filesystem too.
 *   icept-probe int80-mkdir PATH    mkdir(PATH, 0755) through int 0x80
 *   icept-probe x32-mkdir PATH      mkdir(PATH, 0755) with __X32_SYSCALL_BIT
 *   icept-probe native-mkdir PATH   mkdir(PATH, 0755), for comparison
 *   icept-probe no-listener CMD...  runs CMD under a filter that refuses
 *                                   seccomp() with NEW_LISTENER (EPERM), as a
 *                                   container's profile might
 * A kernel (or hypervisor) without ia32 emulation faults int 0x80: then
 * "int80: fault" and exit status 3, one line. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "errnoname.h"

static void on_fault(int sig)
{
        static const char msg[] = "int80: fault\n";
        (void)sig;
        (void)!write(STDOUT_FILENO, msg, sizeof(msg) - 1);
        _exit(3);
}

static int report(long rc)
{
        int e = rc < 0 && rc > -4096 ? (int)-rc : 0;
        const char *name = e ? errno_name(e) : "0";
        printf("rc=%ld errno=%s\n", e ? -1L : rc, name ? name : "?");
        return 0;
}

static int no_listener(char **cmd)
{
        struct sock_filter f[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_seccomp, 0, 3),
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
            BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, SECCOMP_FILTER_FLAG_NEW_LISTENER, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
            syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
                perror("seccomp");
                return 2;
        }
        execvp(cmd[0], cmd);
        perror(cmd[0]);
        return 127;
}

int main(int argc, char **argv)
{
        if (argc >= 3 && strcmp(argv[1], "no-listener") == 0)
                return no_listener(argv + 2);
        if (argc != 3) {
                fprintf(stderr, "usage: icept-probe int80-mkdir|x32-mkdir|native-mkdir PATH\n");
                return 2;
        }
        const char *op = argv[1], *path = argv[2];
        if (strcmp(op, "native-mkdir") == 0) {
                long rc = mkdir(path, 0755);
                return report(rc < 0 ? -errno : rc);
        }
#if defined(__x86_64__)
        /* int 0x80 passes 32-bit pointers: the path goes below 4 GiB. */
        char *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
        if (low == MAP_FAILED || strlen(path) >= 4096) {
                perror("mmap");
                return 2;
        }
        strcpy(low, path);
        long rc;
        if (strcmp(op, "int80-mkdir") == 0) {
                long nr = 39; /* i386 mkdir */
                struct sigaction sa = {.sa_handler = on_fault};
                sigaction(SIGSEGV, &sa, NULL);
                sigaction(SIGBUS, &sa, NULL);
                __asm__ volatile("int $0x80"
                                 : "=a"(rc)
                                 : "a"(nr), "b"((long)low), "c"(0755L)
                                 : "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "memory");
                return report(rc);
        }
        if (strcmp(op, "x32-mkdir") == 0) {
                rc = syscall(0x40000000L | SYS_mkdir, low, 0755);
                return report(rc < 0 ? -errno : rc);
        }
#endif
        fprintf(stderr, "icept-probe: %s: not on this architecture\n", op);
        return 2;
}
