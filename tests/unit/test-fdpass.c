/* Unit tests for common/base/fdpass.c: fds over a real socketpair, and
 * what becomes of fds that arrive when one (or none) was wanted.  Every
 * case counts the entries of /proc/self/fd before and after: an fd the
 * helper should have closed shows up there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdpass.h"

#define MAX_SENT 8

static int count_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        assert_non_null(d);
        int n = 0;
        for (struct dirent *e; (e = readdir(d));)
                n += e->d_name[0] != '.';
        closedir(d);
        return n;
}

/* A fresh file of its own (unlinked), to tell fds apart by inode. */
static int tmp_fd(void)
{
        char path[] = "/tmp/test-fdpass.XXXXXX";
        int fd = mkostemp(path, O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(unlink(path), 0);
        return fd;
}

static void assert_same_file(int a, int b)
{
        struct stat sa, sb;
        assert_int_equal(fstat(a, &sa), 0);
        assert_int_equal(fstat(b, &sb), 0);
        assert_int_equal(sa.st_dev, sb.st_dev);
        assert_int_equal(sa.st_ino, sb.st_ino);
}

static void pair(int sv[2])
{
        assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void unpair(int sv[2])
{
        close(sv[0]);
        close(sv[1]);
}

/* Sends one byte with n fds in a single SCM_RIGHTS message: what a hostile
 * peer can send instead of the one fd the helper expects. */
static void send_many(int sock, const int *fds, size_t n)
{
        FDPASS_CTRL(MAX_SENT) u;
        memset(&u, 0, sizeof(u));
        struct iovec iov = {.iov_base = "x", .iov_len = 1};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = u.buf,
                            .msg_controllen = CMSG_SPACE(n * sizeof(int))};
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(n * sizeof(int));
        memcpy(CMSG_DATA(c), fds, n * sizeof(int));
        assert_int_equal(sendmsg(sock, &mh, MSG_NOSIGNAL), 1);
}

/* Receives one message with room for `room` fds (0: no control buffer). */
static ssize_t recv_into(int sock, struct msghdr *mh, void *ctrl, size_t room)
{
        static char byte;
        static struct iovec iov = {.iov_base = &byte, .iov_len = 1};
        *mh = (struct msghdr){.msg_iov = &iov,
                              .msg_iovlen = 1,
                              .msg_control = room ? ctrl : NULL,
                              .msg_controllen = room ? CMSG_SPACE(room * sizeof(int)) : 0};
        return recvmsg(sock, mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
}

static void test_one_fd_passes(void **state)
{
        (void)state;
        int sv[2];
        pair(sv);
        int f = tmp_fd();
        assert_int_equal(fdpass_send(sv[0], "hello", 5, f, MSG_NOSIGNAL), 5);
        /* the sender's fd stays the sender's */
        assert_true(fcntl(f, F_GETFD) >= 0);

        char buf[16];
        int fd = -2;
        assert_int_equal(fdpass_recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT, &fd), 5);
        assert_memory_equal(buf, "hello", 5);
        assert_true(fd >= 0);
        assert_int_not_equal(fd, f);
        assert_same_file(fd, f);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        close(fd);

        /* the same through fdpass_take_one on a caller's buffer */
        assert_int_equal(fdpass_send(sv[0], "x", 1, f, MSG_NOSIGNAL), 1);
        FDPASS_CTRL(4) u;
        struct msghdr mh;
        assert_int_equal(recv_into(sv[1], &mh, u.buf, 4), 1);
        fd = fdpass_take_one(&mh);
        assert_true(fd >= 0);
        assert_same_file(fd, f);
        close(fd);
        close(f);
        unpair(sv);
}

static void test_no_fd(void **state)
{
        (void)state;
        int sv[2];
        pair(sv);
        int before = count_fds();
        assert_int_equal(fdpass_send(sv[0], "ab", 2, -1, MSG_NOSIGNAL), 2);
        char buf[4];
        int fd = -2;
        assert_int_equal(fdpass_recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT, &fd), 2);
        assert_int_equal(fd, -ENODATA);

        assert_int_equal(fdpass_send(sv[0], "ab", 2, -1, MSG_NOSIGNAL), 2);
        FDPASS_CTRL(4) u;
        struct msghdr mh;
        assert_int_equal(recv_into(sv[1], &mh, u.buf, 4), 1);
        assert_int_equal(mh.msg_controllen, 0);
        assert_false(fdpass_close_all(&mh));
        assert_int_equal(fdpass_take_one(&mh), -ENODATA);
        assert_int_equal(count_fds(), before);

        /* nothing to read: recvmsg's errno, and no fd */
        assert_int_equal(fdpass_recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT, &fd), -EAGAIN);
        assert_int_equal(fd, -1);
        unpair(sv);
}

/* Two fds where one was wanted: both closed in the receiver, an error. */
static void test_two_fds_closed(void **state)
{
        (void)state;
        int sv[2];
        pair(sv);
        int fds[2] = {tmp_fd(), tmp_fd()};
        int before = count_fds();

        send_many(sv[0], fds, 2);
        FDPASS_CTRL(4) u;
        struct msghdr mh;
        assert_int_equal(recv_into(sv[1], &mh, u.buf, 4), 1);
        assert_false(mh.msg_flags & MSG_CTRUNC);
        assert_int_equal(count_fds(), before + 2); /* they did arrive */
        assert_int_equal(fdpass_take_one(&mh), -EBADMSG);
        assert_int_equal(count_fds(), before);

        /* fdpass_recv's buffer for one fd takes two on 64-bit: closed too */
        send_many(sv[0], fds, 2);
        int fd = -2;
        char byte;
        assert_int_equal(fdpass_recv(sv[1], &byte, 1, MSG_DONTWAIT, &fd), 1);
        assert_int_equal(fd, -EBADMSG);
        assert_int_equal(count_fds(), before);
        close(fds[0]);
        close(fds[1]);
        unpair(sv);
}

/* One fd, but a second control message beside it (SO_PASSCRED adds
 * SCM_CREDENTIALS): not the one message take_one accepts; the fd is
 * closed, found past the other message. */
static void test_second_cmsg(void **state)
{
        (void)state;
        int sv[2];
        pair(sv);
        int on = 1;
        assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)), 0);
        int f = tmp_fd();
        int before = count_fds();

        assert_int_equal(fdpass_send(sv[0], "x", 1, f, MSG_NOSIGNAL), 1);
        FDPASS_CTRL(16) u; /* room for the credentials too */
        struct msghdr mh;
        assert_int_equal(recv_into(sv[1], &mh, u.buf, 16), 1);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        assert_non_null(c);
        assert_int_equal(c->cmsg_type, SCM_CREDENTIALS);
        assert_non_null(CMSG_NXTHDR(&mh, c));
        assert_int_equal(count_fds(), before + 1);
        assert_int_equal(fdpass_take_one(&mh), -EBADMSG);
        assert_int_equal(count_fds(), before);
        close(f);
        unpair(sv);
}

/* MSG_CTRUNC from a control buffer too small (none at all, or room for
 * fewer than came): failure, and what did arrive is closed. */
static void test_ctrunc_small_buffer(void **state)
{
        (void)state;
        int sv[2];
        pair(sv);
        int fds[MAX_SENT];
        for (int i = 0; i < MAX_SENT; i++)
                fds[i] = tmp_fd();
        int before = count_fds();

        send_many(sv[0], fds, 1);
        struct msghdr mh;
        assert_int_equal(recv_into(sv[1], &mh, NULL, 0), 1);
        assert_true(mh.msg_flags & MSG_CTRUNC);
        assert_int_equal(fdpass_take_one(&mh), -EBADMSG);
        assert_int_equal(count_fds(), before);

        send_many(sv[0], fds, MAX_SENT);
        FDPASS_CTRL(4) u;
        assert_int_equal(recv_into(sv[1], &mh, u.buf, 4), 1);
        assert_true(mh.msg_flags & MSG_CTRUNC);
        assert_true(count_fds() > before); /* some came, the rest the kernel dropped */
        assert_int_equal(fdpass_take_one(&mh), -EBADMSG);
        assert_int_equal(count_fds(), before);

        /* the same through fdpass_recv (room for one) */
        send_many(sv[0], fds, MAX_SENT);
        int fd = -2;
        char byte;
        assert_int_equal(fdpass_recv(sv[1], &byte, 1, MSG_DONTWAIT, &fd), 1);
        assert_int_equal(fd, -EBADMSG);
        assert_int_equal(count_fds(), before);
        for (int i = 0; i < MAX_SENT; i++)
                close(fds[i]);
        unpair(sv);
}

/* MSG_CTRUNC from a full fd table (RLIMIT_NOFILE): the kernel cannot
 * install the fd; failure, nothing left behind. */
static void test_ctrunc_full_table(void **state)
{
        (void)state;
        int sv[2];
        pair(sv);
        int f = tmp_fd();
        assert_int_equal(fdpass_send(sv[0], "x", 1, f, MSG_NOSIGNAL), 1);
        assert_int_equal(fdpass_send(sv[0], "x", 1, f, MSG_NOSIGNAL), 1);

        struct rlimit old, low;
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
        low = old;
        low.rlim_cur = 64;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
        /* fill every free slot below the limit */
        int fill[64], nfill = 0;
        for (int d; nfill < 64 && (d = fcntl(f, F_DUPFD_CLOEXEC, 0)) >= 0;)
                fill[nfill++] = d;
        assert_int_equal(errno, EMFILE);
        assert_int_equal(fcntl(f, F_DUPFD_CLOEXEC, 0), -1);

        FDPASS_CTRL(1) u;
        struct msghdr mh;
        ssize_t n = recv_into(sv[1], &mh, u.buf, 1);
        int flags = mh.msg_flags;
        int r = fdpass_take_one(&mh);
        int fd = -2;
        char byte;
        ssize_t n2 = fdpass_recv(sv[1], &byte, 1, MSG_DONTWAIT, &fd);
        /* the table is still full: nothing was installed and kept */
        int still_full = fcntl(f, F_DUPFD_CLOEXEC, 0);
        if (still_full >= 0)
                close(still_full);
        for (int i = 0; i < nfill; i++)
                close(fill[i]);
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);

        assert_int_equal(n, 1);
        assert_true(flags & MSG_CTRUNC);
        assert_int_equal(r, -EBADMSG);
        assert_int_equal(n2, 1);
        assert_int_equal(fd, -EBADMSG);
        assert_int_equal(still_full, -1);
        close(f);
        unpair(sv);
}

/* close_all closes every fd of the message, and says there were some. */
static void test_close_all(void **state)
{
        (void)state;
        int sv[2];
        pair(sv);
        int fds[3] = {tmp_fd(), tmp_fd(), tmp_fd()};
        int before = count_fds();

        send_many(sv[0], fds, 3);
        FDPASS_CTRL(MAX_SENT) u;
        struct msghdr mh;
        assert_int_equal(recv_into(sv[1], &mh, u.buf, MAX_SENT), 1);
        assert_false(mh.msg_flags & MSG_CTRUNC);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        assert_non_null(c);
        assert_int_equal(c->cmsg_len, CMSG_LEN(3 * sizeof(int)));
        int got[3];
        memcpy(got, CMSG_DATA(c), sizeof(got));
        assert_int_equal(count_fds(), before + 3);
        assert_true(fdpass_close_all(&mh));
        assert_int_equal(count_fds(), before);
        for (int i = 0; i < 3; i++) {
                errno = 0;
                assert_int_equal(fcntl(got[i], F_GETFD), -1);
                assert_int_equal(errno, EBADF);
        }
        /* the sender's own copies are untouched */
        for (int i = 0; i < 3; i++) {
                assert_true(fcntl(fds[i], F_GETFD) >= 0);
                close(fds[i]);
        }
        unpair(sv);
}

/* The send side's errors: -errno, never a signal. */
static void test_send_errors(void **state)
{
        (void)state;
        int sv[2];
        pair(sv);
        close(sv[1]);
        int f = tmp_fd();
        ssize_t r = fdpass_send(sv[0], "x", 1, f, MSG_NOSIGNAL);
        assert_true(r == -ECONNREFUSED || r == -ENOTCONN || r == -EPIPE);
        assert_int_equal(fdpass_send(-1, "x", 1, f, 0), -EBADF);
        close(f);
        close(sv[0]);
}

/* The one-byte hand-over: the fd arrives; a byte without an fd, or with
 * two, gives the caller's errno and leaves nothing open; end of file is
 * -EIO; an empty queue is recvmsg's -EAGAIN. */
static void test_byte_handover(void **state)
{
        (void)state;
        int start = count_fds();
        int sv[2];
        pair(sv);
        int f = tmp_fd();
        int before = count_fds();

        assert_int_equal(fdpass_send_byte(sv[0], 'L', f, MSG_NOSIGNAL), 0);
        int fd = fdpass_recv_byte(sv[1], MSG_DONTWAIT, -EMFILE);
        assert_true(fd >= 0);
        assert_same_file(fd, f);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        close(fd);

        assert_int_equal(fdpass_send_byte(sv[0], 'L', -1, MSG_NOSIGNAL), 0);
        assert_int_equal(fdpass_recv_byte(sv[1], MSG_DONTWAIT, -EMFILE), -EMFILE);
        int fds[2] = {f, f};
        send_many(sv[0], fds, 2);
        assert_int_equal(fdpass_recv_byte(sv[1], MSG_DONTWAIT, -EBADMSG), -EBADMSG);
        assert_int_equal(count_fds(), before);

        assert_int_equal(fdpass_recv_byte(sv[1], MSG_DONTWAIT, -EBADMSG), -EAGAIN);
        unpair(sv);

        /* end of file on a stream: -EIO, not the caller's errno */
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        close(sv[0]);
        assert_int_equal(fdpass_recv_byte(sv[1], MSG_DONTWAIT, -EBADMSG), -EIO);
        close(sv[1]);

        /* a peer gone: the send's -errno */
        pair(sv);
        close(sv[1]);
        int r = fdpass_send_byte(sv[0], 'L', f, MSG_NOSIGNAL);
        assert_true(r == -ECONNREFUSED || r == -ENOTCONN || r == -EPIPE);
        close(sv[0]);
        close(f);
        assert_int_equal(count_fds(), start);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_one_fd_passes),       cmocka_unit_test(test_no_fd),
            cmocka_unit_test(test_two_fds_closed),      cmocka_unit_test(test_second_cmsg),
            cmocka_unit_test(test_ctrunc_small_buffer), cmocka_unit_test(test_ctrunc_full_table),
            cmocka_unit_test(test_close_all),           cmocka_unit_test(test_send_errors),
            cmocka_unit_test(test_byte_handover),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
