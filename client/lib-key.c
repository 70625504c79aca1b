/* Where the client key comes from: an inherited fd or a file. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "lib-internal.h"
#include "util.h"

/* Big enough for the hex form and one byte more, to see oversize input. */
#define KEY_READ_MAX (2 * STEPDOWN_KEY_BYTES + 2)

int sdlib_parse_key(const uint8_t *buf, size_t len, uint8_t key[STEPDOWN_KEY_BYTES])
{
        size_t bin_len;

        if (len == STEPDOWN_KEY_BYTES) {
                memcpy(key, buf, STEPDOWN_KEY_BYTES);
                return 0;
        }
        if (len == 2 * STEPDOWN_KEY_BYTES + 1 && buf[len - 1] == '\n')
                len--;
        if (len != 2 * STEPDOWN_KEY_BYTES)
                return -EINVAL;
        if (sodium_hex2bin(key, STEPDOWN_KEY_BYTES, (const char *)buf, len, NULL, &bin_len, NULL) !=
                0 ||
            bin_len != STEPDOWN_KEY_BYTES)
                return -EINVAL;
        return 0;
}

static int read_key_fd(int fd, uint8_t key[STEPDOWN_KEY_BYTES])
{
        uint8_t buf[KEY_READ_MAX];
        size_t len = 0;
        /* pread first, so the key can be read again from a file or memfd;
         * a pipe (ESPIPE) is read once. */
        bool seekable = true;
        int r;

        while (len < sizeof(buf)) {
                ssize_t n = seekable ? pread(fd, buf + len, sizeof(buf) - len, (off_t)len)
                                     : read(fd, buf + len, sizeof(buf) - len);
                if (n < 0 && errno == ESPIPE && seekable && len == 0) {
                        seekable = false;
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = negative_errno();
                        sodium_memzero(buf, sizeof(buf));
                        return r;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        r = sdlib_parse_key(buf, len, key);
        sodium_memzero(buf, sizeof(buf));
        return r;
}

static int parse_fd(const char *s, int *fd)
{
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < 0 || v > INT32_MAX)
                return -EINVAL;
        *fd = (int)v;
        return 0;
}

/* "expected ..., found N bytes" or the errno text, after what. */
static int key_error(int r, const char *what, char *msg, size_t msglen)
{
        if (r == -EINVAL)
                snprintf(msg, msglen, "%s: not a key (expected %d raw bytes or %d hex digits)",
                         what, STEPDOWN_KEY_BYTES, 2 * STEPDOWN_KEY_BYTES);
        else
                snprintf(msg, msglen, "%s: %s", what, strerror(-r));
        return r;
}

/* Opens path for reading without following a symbolic link in any
 * component: each directory by an O_NOFOLLOW fd of the one before, the
 * file itself with O_NOFOLLOW.  A link is -ELOOP with *link naming the
 * component (up to linklen bytes). */
static int open_nofollow(const char *path, char *link, size_t linklen)
{
        char comp[NAME_MAX + 1];
        const char *p = path;
        _cleanup_close_ int dir = -1;
        int at = AT_FDCWD;

        if (*p == '/') {
                dir = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (dir < 0)
                        return negative_errno();
                at = dir;
        }
        for (;;) {
                while (*p == '/')
                        p++;
                size_t n = strcspn(p, "/");
                if (n == 0)
                        return -EISDIR; /* "/" or a path ending in "/" */
                if (n > NAME_MAX)
                        return -ENAMETOOLONG;
                memcpy(comp, p, n);
                comp[n] = '\0';
                p += n;
                bool last = p[strspn(p, "/")] == '\0';
                int fd = last ? openat(at, comp, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC)
                              : openat(at, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) {
                        int r = negative_errno();
                        struct stat st;
                        if ((r == -ELOOP || r == -ENOTDIR) &&
                            fstatat(at, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                            S_ISLNK(st.st_mode)) {
                                snprintf(link, linklen, "%.*s", (int)(p - path), path);
                                return -ELOOP;
                        }
                        return r;
                }
                if (last)
                        return fd;
                safe_close(dir);
                dir = fd;
                at = fd;
        }
}

/* The key file: opened without following links, a regular file of the
 * caller's own (any owner's for root), private (no group or other bits):
 * a key that another user owns, could replace or read proves nothing
 * about this process. */
static int open_key_file(const char *path, const char *what, char *msg, size_t msglen)
{
        char link[PATH_MAX];
        struct stat st;
        int fd = open_nofollow(path, link, sizeof(link));

        if (fd == -ELOOP) {
                snprintf(msg, msglen,
                         "%s: %s is a symbolic link (the key file is opened without following "
                         "links: name the file itself)",
                         what, link);
                return fd;
        }
        if (fd < 0)
                return key_error(fd, what, msg, msglen);
        _cleanup_close_ int kfd = fd;
        if (fstat(kfd, &st) < 0)
                return key_error(negative_errno(), what, msg, msglen);
        if (S_ISDIR(st.st_mode))
                return key_error(-EISDIR, what, msg, msglen);
        if (!S_ISREG(st.st_mode)) {
                snprintf(msg, msglen, "%s: not a regular file", what);
                return -EINVAL;
        }
        /* Root may use a key another user owns: the app's provisioned key
         * read by a health check in the broker's container (the compose
         * example).  Root could read or replace it anyway, and the server's
         * uid check still stands between it and an impostor the owner runs. */
        if (st.st_uid != geteuid() && geteuid() != 0) {
                snprintf(msg, msglen,
                         "%s: owned by uid %u, not by this process's uid %u (a key file must be "
                         "the caller's own)",
                         what, (unsigned)st.st_uid, (unsigned)geteuid());
                return -EPERM;
        }
        if (st.st_mode & 077) {
                snprintf(msg, msglen,
                         "%s: mode %04o gives group or other access (a key file must be private: "
                         "chmod 600)",
                         what, (unsigned)(st.st_mode & 07777));
                return -EPERM;
        }
        return TAKE_FD(kfd);
}

int sdlib_load_key(uint8_t key[STEPDOWN_KEY_BYTES], char *msg, size_t msglen)
{
        char what[PATH_MAX + 64];
        const char *s;
        int fd, r;

        s = getenv("STEPDOWN_KEY_FD");
        if (s && *s) {
                if (parse_fd(s, &fd) < 0) {
                        snprintf(msg, msglen, "STEPDOWN_KEY_FD=%s: not a file descriptor number",
                                 s);
                        return -EINVAL;
                }
                r = read_key_fd(fd, key);
                if (r < 0) {
                        snprintf(what, sizeof(what), "the key fd STEPDOWN_KEY_FD=%s", s);
                        return key_error(r, what, msg, msglen);
                }
                return 1;
        }
        s = getenv("STEPDOWN_KEY_FILE");
        if (s && *s) {
                snprintf(what, sizeof(what), "the key file STEPDOWN_KEY_FILE=%s", s);
                _cleanup_close_ int kfd = open_key_file(s, what, msg, msglen);
                if (kfd < 0)
                        return kfd;
                r = read_key_fd(kfd, key);
                if (r < 0)
                        return key_error(r, what, msg, msglen);
                return 1;
        }
        return 0;
}
