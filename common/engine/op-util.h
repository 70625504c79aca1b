/* Internal helpers shared by the op-*.c files (not part of the engine's
 * API): locating the target of an operation, reopening an O_PATH fd
 * safely, chmod on an fd, and error messages with capability hints. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* The entry an operation acts on: name inside the O_PATH directory
 * parent_fd.  When rest is "" the entry is the anchor itself, found in
 * the anchor's parent (mount crossing allowed: the policy named it). */
struct op_target {
        int parent_fd;
        char name[NAME_MAX + 1];
        bool check_mount;
        char path[PATH_MAX + NAME_MAX + 2]; /* anchor/rest, for messages */
};

/* Resolves the parent of anchor/rest; t->parent_fd must be released with
 * op_target_done() even on failure. */
int op_target_init(struct op_target *t, const char *op, const char *anchor, const char *rest,
                   bool xdev, char *err, size_t errlen);
void op_target_done(struct op_target *t);

/* Opens the entry O_PATH|O_NOFOLLOW into *fd and fstat()s it into *st;
 * refuses a symlink (-ELOOP) and, unless xdev, a mount point (-EXDEV).
 * -ENOENT is returned without a message so callers can create. */
int op_target_open(struct op_target *t, const char *op, bool xdev, int *fd, struct stat *st,
                   char *err, size_t errlen);

/* Opens the entry name in dirfd for real (flags | O_NOFOLLOW | O_NONBLOCK |
 * O_NOCTTY | O_CLOEXEC) and checks it is the inode st describes (-EAGAIN
 * if it was swapped).  Directories are reopened through pathfd itself. */
int op_reopen(int dirfd, const char *name, int pathfd, const struct stat *st, int flags, int *fd);

/* chmod of the entry behind the O_PATH fd pathfd (found as name in dirfd):
 * fchmodat2(AT_EMPTY_PATH) where the kernel has it, else a verified real
 * open of a regular file or directory; other types give -EOPNOTSUPP. */
int op_fchmod(int dirfd, const char *name, int pathfd, const struct stat *st, mode_t mode);

/* Fills err with "OP PATH: WHY" (WHY defaults to strerror) plus, when r is
 * -EPERM/-EACCES and the needed capability is missing, which one and the
 * fix.  cap is a CAP_* number or -1.  Returns r. */
int op_fail(char *err, size_t errlen, const char *op, const char *path, int r, const char *why,
            int cap);

/* "PATH/NAME" into buf (for messages about entries below a target). */
const char *op_join(char *buf, size_t len, const char *path, const char *name);
