/* Passing file descriptors over a Unix socket (SCM_RIGHTS): the one copy
 * the walkers' socket pair, the listener's handoff, the broker and
 * libstepdown share.  -errno, no logging. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

/* A control buffer with room for n fds, aligned for struct cmsghdr:
 * `FDPASS_CTRL(1) u;` then .msg_control = u.buf, .msg_controllen =
 * sizeof(u.buf). */
#define FDPASS_CTRL(n)                                                                             \
        union {                                                                                    \
                struct cmsghdr align;                                                              \
                char buf[CMSG_SPACE((n) * sizeof(int))];                                           \
        }

/* Sends len bytes of buf over sock with sendmsg(flags), and fd in
 * SCM_RIGHTS if fd >= 0 (none if fd < 0).  The bytes sent, or -errno.
 * fd stays the caller's. */
ssize_t fdpass_send(int sock, const void *buf, size_t len, int fd, int flags);

/* Receives one message of up to len bytes into buf with recvmsg(flags |
 * MSG_CMSG_CLOEXEC) and room for one fd.  The bytes received, or -errno
 * (*fd is then -1); *fd is fdpass_take_one's answer: the fd, or -errno
 * with every fd that came closed. */
ssize_t fdpass_recv(int sock, void *buf, size_t len, int flags, int *fd);

/* The one-byte hand-over (the walkers' socket pair, the listener's
 * hand-off): byte with fd (fd >= 0).  0, or -errno (-EIO: the byte did
 * not go). */
int fdpass_send_byte(int sock, char byte, int fd, int flags);

/* The other end: one byte with exactly one fd.  The fd, or -errno:
 * recvmsg's, -EIO when no byte came (end of file; an fd that came is
 * closed), or nofd when the byte came without exactly one fd (whatever
 * came is closed: fdpass_take_one). */
int fdpass_recv_byte(int sock, int flags, int nofd);

/* Closes every fd of every SCM_RIGHTS message in mh's control data.
 * true if the message carried fds or may have (MSG_CTRUNC: the kernel
 * dropped what did not fit in the buffer or in the fd table). */
bool fdpass_close_all(struct msghdr *mh);

/* The fd, if mh carried exactly one: one control message, SCM_RIGHTS,
 * one fd, not truncated.  Otherwise every fd that came is closed:
 * -ENODATA if none came, -EBADMSG if anything else did.  After a fd is
 * returned, do not call fdpass_close_all on mh. */
int fdpass_take_one(struct msghdr *mh);
