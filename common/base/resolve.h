/* Safe path resolution for the operations engine (DESIGN.md, "Operations
 * and the path-safety invariant").
 *
 * A policy names an absolute anchor (trusted: root wrote it); the rest of
 * a request's path lives below it in a directory the unprivileged caller
 * may control.  resolve_anchor() opens the anchor refusing symlinks in any
 * component; resolve_beneath() resolves the rest below it with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
 * [| RESOLVE_NO_XDEV]) or, where the kernel lacks openat2 (< 5.6), with a
 * component-by-component walk (O_NOFOLLOW, mount checks) that gives the same
 * guarantees.  Both return 0 or -errno and describe failures in err. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* rflags for resolve_beneath() */
#define RESOLVE_F_XDEV 0x1u /* allow crossing into other mounts */

/* Tests set this to run the component walk even where openat2 exists. */
extern bool resolve_force_fallback;

/* Opens the absolute directory anchor (O_PATH|O_DIRECTORY|O_CLOEXEC) into
 * *dirfd; refuses ("not absolute", "..", a symlink in any component). */
int resolve_anchor(const char *anchor, int *dirfd, char *err, size_t errlen);

/* Opens rest ("" = the anchor itself, else "a/b") below anchor_fd with
 * flags (O_CLOEXEC and O_NOCTTY are added; O_NOFOLLOW is implied) and mode
 * (for O_CREAT).  Refuses "..", ".", empty components, absolute paths,
 * symlinks anywhere, and mount crossings unless rflags has RESOLVE_F_XDEV. */
int resolve_beneath(int anchor_fd, const char *rest, int flags, mode_t mode, unsigned rflags,
                    int *fd, char *err, size_t errlen);

/* Checks that rest is "" or relative components without ".", ".." or empty
 * ones, each at most NAME_MAX, the whole below PATH_MAX.  0 or -EINVAL. */
int resolve_check_rest(const char *rest, char *err, size_t errlen);

/* Identity of the mount an inode was reached through: st_dev plus the
 * mount id (statx STATX_MNT_ID, else name_to_handle_at) where the kernel
 * gives one, so bind mounts of the same filesystem are told apart too. */
struct mount_key {
        uint64_t dev;
        uint64_t mnt_id;
        bool has_mnt_id;
};
int fd_mount_key(int fd, struct mount_key *k);
bool mount_key_equal(const struct mount_key *a, const struct mount_key *b);
