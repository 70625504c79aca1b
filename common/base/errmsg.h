/* The one way common/ code describes a failure: a message into the
 * caller's buffer, and the -errno it returns. */
#pragma once

#include <stddef.h>

/* Formats into err (when err and errlen are non-zero, truncating) and
 * returns r, so a failure reads: return errmsg(err, errlen, -EINVAL, ...). */
int errmsg(char *err, size_t errlen, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
