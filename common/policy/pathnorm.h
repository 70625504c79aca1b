/* Request paths in normal form, and splitting them at a rule's anchor.
 *
 * A normal path is absolute, has no "." or ".." component, no "//", no
 * trailing "/" (except "/" itself), no NUL byte, and is at most
 * PATH_MAX - 1 bytes long.  Anything else is refused before matching, so
 * the matcher and the engine only ever see one spelling of a path. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* 0 if path is normal, else -EINVAL (or -ENAMETOOLONG) with a message. */
int path_check(const char *path, char *err, size_t errlen);

/* The same for len bytes off the wire: a NUL byte inside is refused. */
int path_check_len(const char *path, size_t len, char *err, size_t errlen);

/* For normal paths: the part of path below anchor ("a/b" for anchor
 * "/data", path "/data/a/b"), "." when path equals anchor, or NULL when
 * path is not anchor or beneath it ("/data2" is not beneath "/data"). */
const char *path_rest(const char *anchor, const char *path);
