/* Reading a file whole: the one loop the policy loader and remap's
 * rewrite of /etc/passwd and /etc/group share. */
#pragma once

#include <stddef.h>

/* Reads fd to its end into *buf (malloc'd, NUL-terminated; *len bytes
 * before the NUL), the buffer growing as needed.  0; -E2BIG if max bytes
 * were read and the end not yet seen (a file of max bytes or more);
 * -ENOMEM; or read's -errno.  *buf is set (for the caller to free) even
 * on failure. */
int read_full(int fd, size_t max, char **buf, size_t *len);
