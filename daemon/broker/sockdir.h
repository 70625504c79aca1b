/* The broker's own socket directory, socket and key file (issue 11,
 * item 4).  The directory and every ancestor are resolved by fd from "/"
 * without following a symlink (resolve_beneath); the directory must be
 * root's and not writable by group or other unless it is sticky; the
 * socket and the key are created, checked and removed relative to that fd
 * only, born with their final owner and mode (fsid.c).  Each returns 0 or
 * -errno with a message naming the path in err. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Opens the directory dir (absolute) into *dirfd (O_PATH).  With create,
 * a missing last component is made: root:gid 0710 with have_user (only
 * the application's group may traverse it), root:root 0755 without.
 * Ancestors must exist. */
int sockdir_open(const char *dir, bool create, bool have_user, gid_t gid, int *dirfd, char *err,
                 size_t errlen);

/* Binds and listens a SOCK_SEQPACKET socket name in dirfd (a stale socket
 * of that name is removed first; anything else there is refused): owned
 * uid:gid mode 0600 with have_user, root's mode 0666 without.  path is the
 * full path, for messages. */
int sockdir_bind(int dirfd, const char *name, const char *path, bool have_user, uid_t uid,
                 gid_t gid, int *out, char *err, size_t errlen);

/* Writes len bytes of data to a new file name in dirfd, owned uid:gid mode
 * 0400 (a stale regular file of that name is removed first; anything else
 * there is refused). */
int sockdir_write_key(int dirfd, const char *name, const char *path, const uint8_t *data,
                      size_t len, uid_t uid, gid_t gid, char *err, size_t errlen);

/* Removes name from dirfd if it is of type (S_IFSOCK, S_IFREG). */
void sockdir_remove(int dirfd, const char *name, mode_t type);
