/* Loading a policy file: refused unless root owns it and every directory
 * on the way to it, and group/other cannot write them. */
#include "policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pathnorm.h"
#include "errmsg.h"
#include "policy-internal.h"
#include "util.h"

/* ---- loading: the file and every directory above it must be root's ---- */

#define LOAD_SYMLINKS_MAX 40

/* A directory on the way: owned by root, and not writable by group or
 * other unless sticky (then only root can replace root's entries). */
static int check_dir(int fd, const char *shown, char *err, size_t errlen)
{
        struct stat st;
        if (fstat(fd, &st) < 0)
                return errmsg(err, errlen, negative_errno(), "%s: cannot stat: %m", shown);
        if (st.st_uid != 0)
                return errmsg(err, errlen, -EPERM,
                              "refusing the policy: directory %s is owned by uid %u, not root",
                              shown, (unsigned)st.st_uid);
        if ((st.st_mode & 022) && !(st.st_mode & S_ISVTX))
                return errmsg(err, errlen, -EPERM,
                              "refusing the policy: directory %s is writable by group or other "
                              "(mode %04o)",
                              shown, (unsigned)(st.st_mode & 07777));
        return 0;
}

/* Walks path from "/" by directory fds, checking each directory, following
 * symbolic links by hand (so their directories are checked too), and
 * returns an fd for the file itself. */
static int open_checked(const char *path, int *ret, char *err, size_t errlen)
{
        _cleanup_free_ char *todo = NULL; /* what remains to walk */
        _cleanup_close_ int dir = -1;
        char shown[PATH_MAX];
        unsigned links = 0;
        int r;

        if (path[0] == '/')
                todo = strdup(path);
        else {
                _cleanup_free_ char *cwd = getcwd(NULL, 0);
                if (!cwd)
                        return errmsg(err, errlen, negative_errno(), "%s: getcwd: %m", path);
                if (asprintf(&todo, "%s/%s", cwd, path) < 0)
                        todo = NULL;
        }
        if (!todo)
                return -ENOMEM;

restart:
        safe_close(dir);
        dir = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0)
                return errmsg(err, errlen, negative_errno(), "/: %m");
        snprintf(shown, sizeof(shown), "/");
        if ((r = check_dir(dir, shown, err, errlen)) < 0)
                return r;

        for (char *s = todo;;) {
                while (*s == '/')
                        s++;
                if (*s == '\0')
                        return errmsg(err, errlen, -EISDIR, "%s: is a directory", path);
                char *e = strchrnul(s, '/');
                bool last = strspn(e, "/") == strlen(e);
                char comp[NAME_MAX + 1];
                if ((size_t)(e - s) > NAME_MAX)
                        return errmsg(err, errlen, -ENAMETOOLONG, "%s: name too long", path);
                memcpy(comp, s, (size_t)(e - s));
                comp[e - s] = '\0';
                s = e;
                if (strcmp(comp, ".") == 0)
                        continue;

                int fd = openat(dir, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) /* the component only when it is not the whole path */
                        return strcmp(comp, path) == 0
                                   ? errmsg(err, errlen, negative_errno(), "%m")
                                   : errmsg(err, errlen, negative_errno(), "%s: %m", comp);
                _cleanup_close_ int next = fd;
                struct stat st;
                if (fstat(next, &st) < 0)
                        return errmsg(err, errlen, negative_errno(), "%s: %m", path);
                size_t sl = strlen(shown);
                snprintf(shown + sl, sizeof(shown) - sl, "%s%s", sl > 1 ? "/" : "", comp);

                if (S_ISLNK(st.st_mode)) {
                        char target[PATH_MAX];
                        if (++links > LOAD_SYMLINKS_MAX)
                                return errmsg(err, errlen, -ELOOP, "%s: too many symbolic links",
                                              path);
                        ssize_t n = readlinkat(next, "", target, sizeof(target));
                        if (n < 0)
                                return errmsg(err, errlen, negative_errno(), "%s: %m", shown);
                        if ((size_t)n >= sizeof(target) || n == 0)
                                return errmsg(err, errlen, -ENAMETOOLONG, "%s: bad link", shown);
                        target[n] = '\0';
                        char *rest;
                        if (asprintf(&rest, "%s%s", target, s) < 0)
                                return -ENOMEM;
                        free(todo);
                        todo = rest;
                        if (todo[0] == '/')
                                goto restart;
                        /* relative: continue in the same directory */
                        shown[sl] = '\0';
                        s = todo;
                        continue;
                }
                if (last) {
                        if (!S_ISREG(st.st_mode))
                                return errmsg(err, errlen, -EINVAL, "%s: not a regular file",
                                              shown);
                        if (st.st_uid != 0)
                                return errmsg(err, errlen, -EPERM,
                                              "refusing the policy: %s is owned by uid %u, not "
                                              "root",
                                              shown, (unsigned)st.st_uid);
                        if (st.st_mode & 022)
                                return errmsg(err, errlen, -EPERM,
                                              "refusing the policy: %s is writable by group or "
                                              "other (mode %04o)",
                                              shown, (unsigned)(st.st_mode & 07777));
                        /* Open for reading in the checked directory, and make
                         * sure it is still the file that was checked. */
                        int rfd = openat(dir, comp,
                                         O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                        if (rfd < 0)
                                return errmsg(err, errlen, negative_errno(), "%s: %m", shown);
                        struct stat st2;
                        if (fstat(rfd, &st2) < 0 || st2.st_dev != st.st_dev ||
                            st2.st_ino != st.st_ino) {
                                close(rfd);
                                return errmsg(err, errlen, -EAGAIN, "%s: changed while opening",
                                              shown);
                        }
                        *ret = rfd;
                        return 0;
                }
                if (!S_ISDIR(st.st_mode))
                        return errmsg(err, errlen, -ENOTDIR, "%s: not a directory", shown);
                if ((r = check_dir(next, shown, err, errlen)) < 0)
                        return r;
                safe_close(dir);
                dir = TAKE_FD(next);
        }
}

int policy_load(struct policy *p, const char *path, const struct userdb *db, char *err,
                size_t errlen)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *text = NULL;
        size_t len = 0, cap = 0;
        char msg[PATH_MAX + 256];
        int r;

        *p = (struct policy){0};
        r = open_checked(path, &fd, msg, sizeof(msg));
        if (r == -ENOMEM)
                return errmsg(err, errlen, r, "%s: out of memory", path);
        if (r < 0)
                return errmsg(err, errlen, r, "%s: %s", path, msg);
        for (;;) {
                if (len == cap) {
                        if (cap >= POLICY_FILE_MAX)
                                return errmsg(err, errlen, -E2BIG,
                                              "%s: file too large (limit %u bytes)", path,
                                              POLICY_FILE_MAX);
                        size_t ncap = cap ? cap * 2 : 16384;
                        char *n = realloc(text, ncap + 1);
                        if (!n)
                                return -ENOMEM;
                        text = n;
                        cap = ncap;
                }
                ssize_t n = read(fd, text + len, cap - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return errmsg(err, errlen, negative_errno(), "%s: read: %m", path);
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        return policy_parse(p, path, text ? text : "", len, db, err, errlen);
}
