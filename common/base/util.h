/* Small helpers shared by every part of stepdown: cleanup attributes,
 * fd/pointer hand-off and array sizes (STYLE.md habit 7). */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f)     __attribute__((cleanup(f)))
#define _cleanup_free_   _cleanup_(freep)
#define _cleanup_close_  _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _fd_ = (fd);                                                                   \
                (fd) = -1;                                                                         \
                _fd_;                                                                              \
        })

#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _p_ = (p);                                                           \
                (p) = NULL;                                                                        \
                _p_;                                                                               \
        })

static inline void freep(void *p)
{
        free(*(void **)p);
}

/* close() that keeps errno, for cleanup paths. */
static inline int safe_close(int fd)
{
        if (fd >= 0) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
        return -1;
}

static inline void closep(int *fd)
{
        safe_close(*fd);
}

#include <stdio.h>
static inline void fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}

/* Negative errno from the current errno, never 0 (for -errno returns). */
static inline int negative_errno(void)
{
        return errno > 0 ? -errno : -EIO;
}
