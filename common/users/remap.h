/* Rewriting /etc/passwd and /etc/group for the remap statement
 * (stepdown.conf(5), "REMAP"): the text transform, and putting the new
 * file in place -- a complete new file renamed over the old one, or, where
 * that cannot be done (a read-only root filesystem, a file that is itself
 * a mount point), a bind mount of the new file from a private tmpfs.
 * Reading the files goes through userdb.c; this file only writes.  Like
 * all of common/, the functions return 0 or -errno and do not print. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct remap_ids {
        const char *user;
        int64_t old_uid, new_uid;
        int64_t old_gid, new_gid; /* -1 / equal: no group change */
        const char *uid_holder;   /* takeover: this user gets old_uid, or NULL */
        const char *gid_holder;   /* takeover: this group gets old_gid, or NULL */
};

/* The passwd text with the user's uid (and every primary gid equal to the
 * old gid) changed, and with takeover the holder's ids swapped.  Lines not
 * changed are copied byte for byte.  *out is malloc'ed (NUL terminated),
 * *changed counts the lines rewritten.  -ENOENT when the user has no line,
 * -EINVAL for a line of the user that cannot be read (msg says which). */
int remap_passwd_text(const char *in, size_t len, const struct remap_ids *ids, char **out,
                      size_t *outlen, unsigned *changed, char *msg, size_t msglen);
/* The same for the group file: every group with the old gid gets the new
 * one (with takeover, gid_holder gets the old one). */
int remap_group_text(const char *in, size_t len, const struct remap_ids *ids, char **out,
                     size_t *outlen, unsigned *changed, char *msg, size_t msglen);

enum remap_how {
        REMAP_UNCHANGED = 0, /* the file already said so */
        REMAP_RENAMED,       /* new file + fsync + rename + fsync of the directory */
        REMAP_BOUND,         /* bind-mounted from a private tmpfs */
};
const char *remap_how_name(enum remap_how how);

/* Rewrites dir/name (dir is an absolute directory, "/etc"; no symbolic
 * link may appear in it or be name) through transform, keeping owner and
 * mode.  The new file is written beside the old one (O_CREAT | O_EXCL |
 * O_NOFOLLOW through the directory fd), fsync'ed, renamed over it and the
 * directory fsync'ed.  When the directory is read-only (EROFS) or the file
 * is a mount point (EBUSY), the new file is made on a detached tmpfs and
 * bind-mounted over the old one instead -- refused (-EPERM) when the mount
 * it would land on propagates to other mount namespaces (shared), since
 * the bind would show there too.  *how says which was done. */
typedef int (*remap_transform)(const char *in, size_t len, const struct remap_ids *ids, char **out,
                               size_t *outlen, unsigned *changed, char *msg, size_t msglen);
/* With may_bind false, a file that would have to be bind-mounted is left
 * as it is and -EROFS returned (err names the file and why). */
int remap_rewrite(const char *dir, const char *name, remap_transform transform,
                  const struct remap_ids *ids, bool may_bind, enum remap_how *how,
                  unsigned *changed, char *err, size_t errlen);

/* Whether remap_rewrite() could replace dir/name in place (rename), so
 * that the change outlives this mount namespace: 1 yes; 0 no, it would be
 * bind-mounted (why says so: a read-only filesystem, a mount point); or
 * -errno with err.  Nothing is written. */
int remap_in_place(const char *dir, const char *name, char *why, size_t whylen);

/* Tests only: act as if renaming gave EBUSY (take the bind-mount path),
 * and as if the kernel could not clone a detached mount (take the path for
 * older kernels: the tmpfs attached for a moment at /run, /tmp, /mnt or
 * /dev). */
extern bool remap_force_bind, remap_force_attach;
