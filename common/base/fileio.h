/* Reading a file: to the end or until a buffer is full (the loop the
 * policy loader, remap's rewrite of /etc/passwd and /etc/group and the
 * audit log's key and policy hash share). */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Reads fd into buf until len bytes are read or the end is reached,
 * retrying EINTR: the bytes read (fewer than len: the end was reached), or
 * read's -errno. */
ssize_t read_fill(int fd, void *buf, size_t len);

/* Reads fd to its end into *buf (malloc'd, NUL-terminated; *len bytes
 * before the NUL), the buffer growing as needed.  0; -E2BIG if max bytes
 * were read and the end not yet seen (a file of max bytes or more);
 * -ENOMEM; or read's -errno.  *buf is set (for the caller to free) even
 * on failure. */
int read_full(int fd, size_t max, char **buf, size_t *len);
