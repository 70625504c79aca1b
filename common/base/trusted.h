/* Opening a file whose path root was given (a policy, a key file, the
 * audit log's directory) so that nobody else can bend it: resolved from /
 * (a relative path: from the working directory) by resolve_beneath() with
 * no symbolic link in any component (mount points may be crossed), in a
 * directory owned by root, or by this process's uid when it is not root,
 * that group and others cannot write unless it is sticky.  Return 0 or
 * -errno; why gets what is at fault, naming the part (never the whole
 * path: the caller puts that first). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

enum trusted_dir_fault { TRUSTED_DIR_OK, TRUSTED_DIR_OWNER, TRUSTED_DIR_WRITABLE };

/* The rule for a directory root trusts (its fstat in st): owned by root,
 * or with euid_ok by this process's uid when it is not root, and not
 * writable by group or others unless it is sticky (then nobody but an
 * entry's owner may remove or rename it).  TRUSTED_DIR_OK, or the rule it
 * breaks with the fault in why for the caller to name the directory
 * before and say what it puts at risk after: "owned by uid 1000, not
 * root", "writable by others and not sticky (mode 0777)". */
enum trusted_dir_fault trusted_dir_fault(const struct stat *st, bool euid_ok, char *why,
                                         size_t whylen);

/* Opens the directory part of path (O_PATH) into *dirfd, checked as above;
 * *name points at the last component in path.  A path naming a directory
 * ("", "/", "x/", ".", "..") is refused with -EISDIR. */
int trusted_dir_open(const char *path, int *dirfd, const char **name, char *why, size_t whylen);

/* Opens path read-only into *fd: its directory checked by
 * trusted_dir_open, the file itself a regular file that group and others
 * cannot write, owned by root (or this process's uid) unless any_owner,
 * opened without following a link; the fd opened is the one checked.
 * A missing file or directory leaves why empty (the errno says it).
 * any_owner is for a file root shares with its owner (the provisioned
 * `key FILE` the app reads too): its owner may change it, nobody may
 * swap it or a directory on the way. */
int trusted_file_open(const char *path, bool any_owner, int *fd, char *why, size_t whylen);
