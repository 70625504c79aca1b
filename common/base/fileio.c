/* See fileio.h. */
#include "fileio.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "util.h"

#define READ_FULL_FIRST 16384 /* bytes; doubled as needed, up to max */

ssize_t read_fill(int fd, void *buf, size_t len)
{
        size_t got = 0;
        while (got < len) {
                ssize_t n = read(fd, (char *)buf + got, len - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                if (n == 0)
                        break;
                got += (size_t)n;
        }
        return (ssize_t)got;
}

int read_full(int fd, size_t max, char **buf, size_t *len)
{
        size_t cap = 0;
        *buf = NULL;
        *len = 0;
        for (;;) {
                if (*len == cap) {
                        if (cap >= max)
                                return -E2BIG;
                        size_t ncap = cap ? cap * 2 : READ_FULL_FIRST;
                        if (ncap > max)
                                ncap = max;
                        char *n = realloc(*buf, ncap + 1);
                        if (!n)
                                return -ENOMEM;
                        *buf = n;
                        cap = ncap;
                }
                ssize_t n = read_fill(fd, *buf + *len, cap - *len);
                if (n < 0)
                        return (int)n;
                *len += (size_t)n;
                if (*len < cap)
                        break; /* the end */
        }
        (*buf)[*len] = '\0';
        return 0;
}
