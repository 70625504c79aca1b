/* The listener's way from the application to the broker: one byte with
 * the fd in SCM_RIGHTS over the socketpair made before the fork. */
#include <errno.h>
#include <sys/socket.h>

#include "fdpass.h"
#include "icept-internal.h"
#include "util.h"

int icept_send_fd(int sock, int fd)
{
        ssize_t n = fdpass_send(sock, "L", 1, fd, MSG_NOSIGNAL);
        return n == 1 ? 0 : n < 0 ? (int)n : -EIO;
}

int icept_recv_fd(int sock)
{
        char byte;
        int fd;
        ssize_t n = fdpass_recv(sock, &byte, 1, MSG_DONTWAIT, &fd);
        if (n < 0)
                return (int)n;
        if (fd < 0)
                return -EBADMSG;
        if (n != 1) {
                safe_close(fd);
                return -EBADMSG;
        }
        return fd;
}
