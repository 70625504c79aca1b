/* See fdpass.h. */
#include "fdpass.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util.h"

ssize_t fdpass_send(int sock, const void *buf, size_t len, int fd, int flags)
{
        FDPASS_CTRL(1) u;
        struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

        if (fd >= 0) {
                memset(&u, 0, sizeof(u));
                mh.msg_control = u.buf;
                mh.msg_controllen = sizeof(u.buf);
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &fd, sizeof(int));
        }
        ssize_t n = sendmsg(sock, &mh, flags);
        return n < 0 ? negative_errno() : n;
}

ssize_t fdpass_recv(int sock, void *buf, size_t len, int flags, int *fd)
{
        FDPASS_CTRL(1) u;
        struct iovec iov = {.iov_base = buf, .iov_len = len};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = u.buf,
                            .msg_controllen = sizeof(u.buf)};

        *fd = -1;
        ssize_t n = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
        if (n < 0)
                return negative_errno();
        *fd = fdpass_take_one(&mh);
        return n;
}

int fdpass_send_byte(int sock, char byte, int fd, int flags)
{
        ssize_t n = fdpass_send(sock, &byte, 1, fd, flags);
        return n == 1 ? 0 : n < 0 ? (int)n : -EIO;
}

int fdpass_recv_byte(int sock, int flags, int nofd)
{
        char byte;
        int fd;
        ssize_t n = fdpass_recv(sock, &byte, 1, flags, &fd);
        if (n != 1) {
                safe_close(fd);
                return n < 0 ? (int)n : -EIO;
        }
        return fd < 0 ? nofd : fd;
}

bool fdpass_close_all(struct msghdr *mh)
{
        bool any = mh->msg_flags & MSG_CTRUNC;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
                    c->cmsg_len < CMSG_LEN(0))
                        continue;
                size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < n; i++) {
                        int fd;
                        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        safe_close(fd);
                }
                any = true;
        }
        return any;
}

int fdpass_take_one(struct msghdr *mh)
{
        struct cmsghdr *c = CMSG_FIRSTHDR(mh);
        if (c && !CMSG_NXTHDR(mh, c) && !(mh->msg_flags & MSG_CTRUNC) &&
            c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len == CMSG_LEN(sizeof(int))) {
                int fd;
                memcpy(&fd, CMSG_DATA(c), sizeof(int));
                return fd;
        }
        return fdpass_close_all(mh) ? -EBADMSG : -ENODATA;
}
