#include "launch.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "caps.h"
#include "log.h"

static int step_fail(char *err, size_t errlen, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int step_fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
        va_list ap;
        int n;
        va_start(ap, fmt);
        n = vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        if (r < 0 && n >= 0 && (size_t)n < errlen)
                snprintf(err + n, errlen - (size_t)n, ": %s", strerror(-r));
        return r < 0 ? r : -EPERM;
}

int launch_resolve(struct launch *l, const char *spec, char *err, size_t errlen)
{
        struct userdb db;
        int r;

        l->spec = spec;
        r = userdb_load(&db, NULL, NULL);
        if (r < 0)
                return step_fail(err, errlen, r, "reading %s and %s", USERDB_PASSWD_PATH,
                                 USERDB_GROUP_PATH);
        r = userdb_resolve(&db, spec, getuid(), getgid(), &l->user, err, errlen);
        userdb_free(&db);
        return r;
}

/* The first line of a small /proc file, blanks squeezed ("" if none). */
static void read_squeezed(const char *path, char *buf, size_t len)
{
        FILE *f = fopen(path, "re");
        size_t n = 0;
        int c, prev = ' ';

        buf[0] = '\0';
        if (!f)
                return;
        while ((c = fgetc(f)) != EOF && c != '\n' && n + 1 < len) {
                if (c == ' ' || c == '\t') {
                        if (prev == ' ')
                                continue;
                        c = ' ';
                }
                buf[n++] = (char)c;
                prev = c;
        }
        while (n > 0 && buf[n - 1] == ' ')
                n--;
        buf[n] = '\0';
        fclose(f);
}

bool launch_in_userns(char *desc, size_t desclen, bool *setgroups_denied)
{
        char um[128], gm[128], sg[32];

        read_squeezed("/proc/self/uid_map", um, sizeof(um));
        read_squeezed("/proc/self/gid_map", gm, sizeof(gm));
        read_squeezed("/proc/self/setgroups", sg, sizeof(sg));
        *setgroups_denied = strcmp(sg, "deny") == 0;
        /* No /proc, or the initial namespace's full identity map. */
        if (um[0] == '\0' || strcmp(um, "0 0 4294967295") == 0)
                return false;
        snprintf(desc, desclen, "uid_map \"%s\", gid_map \"%s\", setgroups \"%s\"", um, gm,
                 sg[0] ? sg : "?");
        return true;
}

/* After a failed setgroups/setgid/setuid: inside a user namespace, say so
 * and what to map or change (appended to err). */
static void userns_hint(char *err, size_t errlen, const char *call, int r, long id)
{
        char ns[400], what[64];
        bool deny;
        size_t n = strlen(err);

        if (n >= errlen || !launch_in_userns(ns, sizeof(ns), &deny))
                return;
        if (id < 0)
                snprintf(what, sizeof(what), "%s", call);
        else
                snprintf(what, sizeof(what), "%s %ld", call, id);
        if (r == -EPERM && deny)
                snprintf(
                    err + n, errlen - n,
                    "; this is a user namespace (%s) in which setgroups(2) is denied, as "
                    "`unshare --map-root-user` leaves it: start stepdownd in a namespace whose "
                    "maps were written with newuidmap/newgidmap (rootless podman, or "
                    "subordinate ids from /etc/subuid and /etc/subgid), which allows it",
                    ns);
        else if (r == -EINVAL)
                snprintf(err + n, errlen - n,
                         "; this is a user namespace (%s) and %s is not mapped in it: map it "
                         "(for rootless podman, a subordinate range in /etc/subuid and /etc/subgid "
                         "that covers it, or --userns=keep-id for your own id)",
                         ns, what);
        else
                snprintf(err + n, errlen - n,
                         "; this is a user namespace (%s): stepdownd needs CAP_SETUID and "
                         "CAP_SETGID in it, with the target ids mapped",
                         ns);
}

static bool already_target(const struct exec_user *u)
{
        uid_t ru, eu, su;
        gid_t rg, eg, sg;
        if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
                return false;
        return ru == u->uid && eu == u->uid && su == u->uid && rg == u->gid && eg == u->gid &&
               sg == u->gid;
}

static int switch_ids(const struct launch *l, char *err, size_t errlen)
{
        const struct exec_user *u = &l->user;
        const char *which = NULL;
        bool dropped_bounding = false;
        int r;

        if (u->uid != 0) {
                /* Capabilities must not survive the uid change, and the
                 * bounding set goes too so no set-uid or file-capability
                 * binary can give any back.  The bounding set needs
                 * CAP_SETPCAP; a runtime that dropped it leaves the set as
                 * it is (gosu never touches it). */
                if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
                        return step_fail(err, errlen, -errno, "prctl(PR_SET_KEEPCAPS)");
                r = caps_clear_ambient();
                if (r < 0)
                        return step_fail(err, errlen, r, "clearing the ambient capability set");
                if (!l->gosu && caps_have_effective(CAP_SETPCAP)) {
                        r = caps_drop_bounding();
                        if (r < 0)
                                return step_fail(err, errlen, r,
                                                 "dropping the capability bounding set");
                        dropped_bounding = true;
                }
        }

        if (setgroups(u->n_groups, u->groups) < 0) {
                r = step_fail(err, errlen, -errno, "setgroups(%zu groups)", u->n_groups);
                userns_hint(err, errlen, "one of the supplementary gids", r, -1);
                return r;
        }
        if (setresgid(u->gid, u->gid, u->gid) < 0) {
                r = step_fail(err, errlen, -errno, "setgid(%u)", (unsigned)u->gid);
                userns_hint(err, errlen, "gid", r, (long)u->gid);
                return r;
        }
        if (setresuid(u->uid, u->uid, u->uid) < 0) {
                r = step_fail(err, errlen, -errno, "setuid(%u)", (unsigned)u->uid);
                userns_hint(err, errlen, "uid", r, (long)u->uid);
                return r;
        }

        if (u->uid == 0)
                return 0; /* root on purpose: nothing to verify away */

        r = caps_clear_all();
        if (r < 0)
                return step_fail(err, errlen, r, "clearing the capability sets");

        /* Verify the drop: uid 0 must be out of reach and no set may hold
         * a capability. */
        if (setresuid(0, 0, 0) == 0 || seteuid(0) == 0)
                return step_fail(err, errlen, 0, "verifying the drop: uid 0 could be regained");
        if (!already_target(u))
                return step_fail(err, errlen, 0,
                                 "verifying the drop: real/effective/saved ids are not %u:%u",
                                 (unsigned)u->uid, (unsigned)u->gid);
        r = caps_verify_empty(dropped_bounding, &which);
        if (r < 0)
                return step_fail(err, errlen, 0,
                                 "verifying the drop: the %s capability set is not empty", which);
        return 0;
}

int launch_drop(const struct launch *l, char *err, size_t errlen)
{
        const struct exec_user *u = &l->user;
        int r;

        if (geteuid() != 0 &&
            !(caps_have_effective(CAP_SETUID) && caps_have_effective(CAP_SETGID))) {
                /* Started without root (docker run --user, Kubernetes
                 * runAsNonRoot): fine if we already are the target. */
                if (!already_target(u))
                        return step_fail(err, errlen, 0,
                                         "running as uid %u gid %u without root (no CAP_SETUID and "
                                         "CAP_SETGID), so cannot switch to %s (uid %u gid %u); "
                                         "start as root, or run the container as %u:%u",
                                         (unsigned)getuid(), (unsigned)getgid(), l->spec,
                                         (unsigned)u->uid, (unsigned)u->gid, (unsigned)u->uid,
                                         (unsigned)u->gid);
        } else {
                r = switch_ids(l, err, errlen);
                if (r < 0)
                        return r;
        }

        /* gosu: HOME always comes from the passwd entry ("/" without one). */
        if (setenv("HOME", u->home, 1) < 0)
                return step_fail(err, errlen, -errno, "setenv(HOME)");
        if (l->have_umask)
                umask(l->umask);
        if (l->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return step_fail(err, errlen, -errno, "prctl(PR_SET_NO_NEW_PRIVS)");
        return 0;
}

/* execvp() without its /bin/sh fallback for ENOEXEC (gosu and Docker have
 * none either), telling "not found" from "found but not executable": a
 * PATH directory this user cannot search is "not found", like a missing
 * one, not EACCES as execvp would say. */
static int exec_path(char **argv, bool *found)
{
        const char *cmd = argv[0];
        *found = false;

        if (strchr(cmd, '/')) {
                execv(cmd, argv);
                *found = errno != ENOENT && errno != ENOTDIR;
                return -errno;
        }

        const char *path = getenv("PATH");
        if (!path)
                path = "/bin:/usr/bin";
        int err = -ENOENT;
        size_t clen = strlen(cmd);
        for (const char *p = path;; p++) {
                const char *e = strchrnul(p, ':');
                size_t dlen = (size_t)(e - p);
                char buf[PATH_MAX];
                if (dlen == 0) /* an empty entry is the current directory */
                        p = ".", dlen = 1;
                if (dlen + 1 + clen + 1 <= sizeof(buf)) {
                        memcpy(buf, p, dlen);
                        buf[dlen] = '/';
                        memcpy(buf + dlen + 1, cmd, clen + 1);
                        execv(buf, argv);
                        struct stat st;
                        if (errno != ENOENT && errno != ENOTDIR && errno != ENAMETOOLONG &&
                            !(errno == EACCES && stat(buf, &st) < 0) && !*found) {
                                *found = true;
                                err = -errno;
                        }
                }
                if (*e == '\0')
                        break;
                p = e;
        }
        return err;
}

_Noreturn void launch_exec(const struct launch *l, char **argv)
{
        bool found;
        int e = -exec_path(argv, &found);

        if (l->gosu) {
                if (!found && !strchr(argv[0], '/'))
                        fprintf(stderr, "error: exec: \"%s\": executable file not found in $PATH\n",
                                argv[0]);
                else
                        fprintf(stderr, "error: exec failed: %s\n", strerror(e));
                exit(1);
        }
        if (!found) {
                if (strchr(argv[0], '/'))
                        log_error("cannot run %s: no such file", argv[0]);
                else
                        log_error("cannot run %s: command not found in PATH=%s", argv[0],
                                  getenv("PATH") ? getenv("PATH") : "(unset: /bin:/usr/bin)");
                exit(127);
        }
        log_error("cannot run %s: %s%s", argv[0], strerror(e),
                  e == EACCES ? " (not executable by this user?)" : "");
        exit(126);
}
