#include "pathnorm.h"

#include "errmsg.h"
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int path_check_len(const char *path, size_t len, char *err, size_t errlen)
{
        if (!path || len == 0)
                return errmsg(err, errlen, -EINVAL, "empty path");
        if (memchr(path, '\0', len))
                return errmsg(err, errlen, -EINVAL, "path contains a NUL byte");
        if (len > PATH_MAX - 1)
                return errmsg(err, errlen, -ENAMETOOLONG, "path longer than %d bytes",
                              PATH_MAX - 1);
        if (path[0] != '/')
                return errmsg(err, errlen, -EINVAL, "path is not absolute (must start with /)");
        if (len == 1)
                return 0;
        if (path[len - 1] == '/')
                return errmsg(err, errlen, -EINVAL, "path ends with /");

        /* Each component starts after a '/'. */
        for (size_t i = 1; i <= len;) {
                size_t j = i;
                while (j < len && path[j] != '/')
                        j++;
                size_t n = j - i;
                if (n == 0)
                        return errmsg(err, errlen, -EINVAL, "path contains //");
                if ((n == 1 && path[i] == '.') || (n == 2 && path[i] == '.' && path[i + 1] == '.'))
                        return errmsg(err, errlen, -EINVAL, "path contains a \"%.*s\" component",
                                      (int)n, path + i);
                i = j + 1;
        }
        return 0;
}

int path_check(const char *path, char *err, size_t errlen)
{
        if (!path)
                return errmsg(err, errlen, -EINVAL, "empty path");
        return path_check_len(path, strnlen(path, PATH_MAX), err, errlen);
}

const char *path_rest(const char *anchor, const char *path)
{
        size_t n = strlen(anchor);

        if (strcmp(anchor, path) == 0)
                return ".";
        if (n == 1 && anchor[0] == '/')
                return path[0] == '/' && path[1] ? path + 1 : NULL;
        if (strncmp(anchor, path, n) != 0 || path[n] != '/' || path[n + 1] == '\0')
                return NULL;
        return path + n + 1;
}
