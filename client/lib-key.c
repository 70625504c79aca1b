/* Where the client key comes from: an inherited fd or a file. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
                _cleanup_close_ int kfd = open(s, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (kfd < 0)
                        return key_error(negative_errno(), what, msg, msglen);
                r = read_key_fd(kfd, key);
                if (r < 0)
                        return key_error(r, what, msg, msglen);
                return 1;
        }
        return 0;
}
