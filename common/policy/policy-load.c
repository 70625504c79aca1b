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
#include "fileio.h"
#include "policy-internal.h"
#include "util.h"

/* ---- loading: the file and every directory above it must be root's ---- */

#define LOAD_SYMLINKS_MAX 40

/* A directory on the way: owned by root, and not writable by group or
 * other unless sticky (then only root can replace root's entries). */
static int check_dir(int fd, const char *path, char *err, size_t errlen)
{
        char sp[POLICY_SHORT_BUF];
        const char *shown = policy_short_path(path, sp, sizeof(sp));
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

/* What a message says a problem is about: nothing when it is the path
 * given (the caller puts that first), else the path walked so far. */
static const char *about(const char *shown, const char *path, char *buf, size_t len)
{
        char sp[POLICY_SHORT_BUF];
        size_t n = strlen(shown);
        if (strncmp(shown, path, n) == 0 && path[n + strspn(path + n, "/")] == '\0')
                return ""; /* the same, but for trailing slashes */
        snprintf(buf, len, "%s: ", policy_short_path(shown, sp, sizeof(sp)));
        return buf;
}

/* Walks path from "/" by directory fds, checking each directory, following
 * symbolic links by hand (so their directories are checked too), and
 * returns an fd for the file itself.  Messages do not repeat path. */
static int open_checked(const char *path, int *ret, char *err, size_t errlen)
{
        _cleanup_free_ char *todo = NULL; /* what remains to walk */
        _cleanup_close_ int dir = -1;
        char shown[PATH_MAX], ab[POLICY_SHORT_BUF + 2];
        unsigned links = 0;
        int r;

        if (path[0] == '/')
                todo = strdup(path);
        else {
                _cleanup_free_ char *cwd = getcwd(NULL, 0);
                if (!cwd)
                        return errmsg(err, errlen, negative_errno(), "getcwd: %m");
                if (asprintf(&todo, "%s/%s", cwd, path) < 0)
                        todo = NULL;
        }
        if (!todo)
                return -ENOMEM;
        /* path made absolute: what the messages need not repeat */
        _cleanup_free_ char *full = strdup(todo);
        if (!full)
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
                        return errmsg(err, errlen, -EISDIR, "is a directory, not the policy file");
                char *e = strchrnul(s, '/');
                bool last = strspn(e, "/") == strlen(e);
                char comp[NAME_MAX + 1];
                if ((size_t)(e - s) > NAME_MAX)
                        return errmsg(err, errlen, -ENAMETOOLONG,
                                      "a component is longer than %d bytes", NAME_MAX);
                memcpy(comp, s, (size_t)(e - s));
                comp[e - s] = '\0';
                s = e;
                if (strcmp(comp, ".") == 0)
                        continue;

                size_t sl = strlen(shown);
                snprintf(shown + sl, sizeof(shown) - sl, "%s%s", sl > 1 ? "/" : "", comp);
                int fd = openat(dir, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) /* the directory on the way, unless it is the file itself */
                        return errmsg(err, errlen, negative_errno(), "%s%m",
                                      about(shown, full, ab, sizeof(ab)));
                _cleanup_close_ int next = fd;
                struct stat st;
                if (fstat(next, &st) < 0)
                        return errmsg(err, errlen, negative_errno(), "%s%m",
                                      about(shown, full, ab, sizeof(ab)));

                if (S_ISLNK(st.st_mode)) {
                        char target[PATH_MAX];
                        if (++links > LOAD_SYMLINKS_MAX)
                                return errmsg(err, errlen, -ELOOP, "too many symbolic links");
                        ssize_t n = readlinkat(next, "", target, sizeof(target));
                        if (n < 0)
                                return errmsg(err, errlen, negative_errno(), "%s%m",
                                              about(shown, full, ab, sizeof(ab)));
                        if ((size_t)n >= sizeof(target) || n == 0)
                                return errmsg(err, errlen, -ENAMETOOLONG, "%sbad link",
                                              about(shown, full, ab, sizeof(ab)));
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
                        const char *a = about(shown, full, ab, sizeof(ab));
                        if (!S_ISREG(st.st_mode))
                                return errmsg(err, errlen, -EINVAL, "%s%s", a,
                                              S_ISDIR(st.st_mode)
                                                  ? "is a directory, not the policy file"
                                                  : "not a regular file");
                        if (st.st_uid != 0)
                                return errmsg(err, errlen, -EPERM,
                                              "%srefusing the policy: it is owned by uid %u, not "
                                              "root",
                                              a, (unsigned)st.st_uid);
                        if (st.st_mode & 022)
                                return errmsg(err, errlen, -EPERM,
                                              "%srefusing the policy: it is writable by group or "
                                              "other (mode %04o)",
                                              a, (unsigned)(st.st_mode & 07777));
                        /* Open for reading in the checked directory, and make
                         * sure it is still the file that was checked. */
                        int rfd = openat(dir, comp,
                                         O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                        if (rfd < 0)
                                return errmsg(err, errlen, negative_errno(), "%s%m", a);
                        struct stat st2;
                        if (fstat(rfd, &st2) < 0 || st2.st_dev != st.st_dev ||
                            st2.st_ino != st.st_ino) {
                                close(rfd);
                                return errmsg(err, errlen, -EAGAIN, "%schanged while opening", a);
                        }
                        *ret = rfd;
                        return 0;
                }
                if (!S_ISDIR(st.st_mode))
                        return errmsg(err, errlen, -ENOTDIR, "%snot a directory",
                                      about(shown, full, ab, sizeof(ab)));
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
        size_t len;
        char msg[PATH_MAX + 256], sp[POLICY_SHORT_BUF];
        const char *shown = policy_short_path(path, sp, sizeof(sp));
        int r;

        *p = (struct policy){0};
        r = open_checked(path, &fd, msg, sizeof(msg));
        if (r == -ENOMEM)
                return errmsg(err, errlen, r, "%s: out of memory", shown);
        if (r < 0)
                return errmsg(err, errlen, r, "%s: %s", shown, msg);
        r = read_full(fd, POLICY_FILE_MAX, &text, &len);
        if (r == -E2BIG)
                return errmsg(err, errlen, r, "%s: file too large (limit %u bytes)", shown,
                              POLICY_FILE_MAX);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return errmsg(err, errlen, r, "%s: read: %s", shown, strerror(-r));
        return policy_parse(p, path, text, len, db, err, errlen);
}
