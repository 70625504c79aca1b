/* The listener's way from the application to the broker: one byte with
 * the fd in SCM_RIGHTS over the socketpair made before the fork. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "icept-internal.h"

struct fdmsg {
        char byte;
        struct iovec iov;
        struct msghdr mh;
        union { /* last: struct cmsghdr ends in a flexible array */
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } u;
};

static void fdmsg_init(struct fdmsg *m)
{
        memset(m, 0, sizeof(*m));
        m->byte = 'L';
        m->iov = (struct iovec){.iov_base = &m->byte, .iov_len = 1};
        m->mh = (struct msghdr){.msg_iov = &m->iov,
                                .msg_iovlen = 1,
                                .msg_control = m->u.buf,
                                .msg_controllen = sizeof(m->u.buf)};
}

int icept_send_fd(int sock, int fd)
{
        struct fdmsg m;
        fdmsg_init(&m);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m.mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
        return sendmsg(sock, &m.mh, MSG_NOSIGNAL) == 1 ? 0 : -errno;
}

int icept_recv_fd(int sock)
{
        struct fdmsg m;
        fdmsg_init(&m);
        ssize_t n = recvmsg(sock, &m.mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0)
                return -errno;
        struct cmsghdr *c = CMSG_FIRSTHDR(&m.mh);
        if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
            c->cmsg_len != CMSG_LEN(sizeof(int)))
                return -EBADMSG;
        int fd;
        memcpy(&fd, CMSG_DATA(c), sizeof(int));
        if (n != 1) {
                close(fd);
                return -EBADMSG;
        }
        return fd;
}
