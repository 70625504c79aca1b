/* The two bits of systemd's protocol stepdownd speaks, by hand (no
 * libsystemd): sd_notify(3) readiness and sd_listen_fds(3) socket
 * activation. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "broker.h"
#include "util.h"

int sd_notify_send(const char *state)
{
        const char *path = getenv("NOTIFY_SOCKET");
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        size_t len;

        if (!path || !*path)
                return 0;
        len = strlen(path);
        if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
                return -EINVAL;
        memcpy(sa.sun_path, path, len);
        if (path[0] == '@')
                sa.sun_path[0] = '\0'; /* abstract namespace */

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
                   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
                return -errno;
        return 1;
}

int sd_listen_fd(int *out, char *err, size_t errlen)
{
        const char *pid_s = getenv("LISTEN_PID"), *n_s = getenv("LISTEN_FDS");
        int type = 0, listening = 0;
        socklen_t sl = sizeof(int);
        char *end;
        long n;

        *out = -1;
        if (!pid_s || !n_s)
                return 0;
        if (strtol(pid_s, &end, 10) != getpid() || *end)
                return 0; /* meant for another process */
        unsetenv("LISTEN_PID");
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_FDNAMES");
        n = strtol(n_s, &end, 10);
        if (*end || n != 1) {
                snprintf(err, errlen, "LISTEN_FDS=%s: expected exactly one socket", n_s);
                return -EINVAL;
        }
        if (fcntl(3, F_SETFD, FD_CLOEXEC) < 0 ||
            getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &sl) < 0 ||
            getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &listening, &sl) < 0) {
                snprintf(err, errlen, "LISTEN_FDS: fd 3 is not a socket: %s", strerror(errno));
                return -EBADF;
        }
        if (type != SOCK_SEQPACKET || !listening) {
                snprintf(err, errlen,
                         "LISTEN_FDS: fd 3 is not a listening SOCK_SEQPACKET socket "
                         "(ListenSequentialPacket= in the unit, --seqpacket for "
                         "systemd-socket-activate)");
                return -EPROTOTYPE;
        }
        *out = 3;
        return 1;
}
