/* Launching the command: resolve the user spec, drop to it, exec. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "userdb.h"

struct launch {
        const char *spec; /* the user spec as given, for messages */
        struct exec_user user;
        bool no_new_privs;
        bool have_umask;
        mode_t umask;
        bool gosu; /* gosu mode: gosu's messages and exit codes */
};

/* Resolves spec against the system passwd/group files into l->user.
 * Returns 0, or -errno with a message in err. */
int launch_resolve(struct launch *l, const char *spec, char *err, size_t errlen);

/* Switches the process to l->user: setgroups, setgid, setuid, drop every
 * capability (effective, permitted, inheritable, ambient, bounding) unless
 * the target is uid 0, then verifies that uid 0 cannot be regained.  When
 * not started as root and the current identity already is the target, it
 * changes nothing.  Sets HOME as gosu does, the umask and no_new_privs.
 * Returns 0, or -errno with the failing step in err. */
int launch_drop(const struct launch *l, char *err, size_t errlen);

/* Whether this process runs in a user namespace other than the initial one
 * (/proc/self/uid_map is not "0 0 4294967295").  If so, desc gets
 * 'uid_map "0 1000 1", gid_map "0 1000 1", setgroups "deny"' for messages.
 * *setgroups_denied tells whether /proc/self/setgroups says "deny". */
bool launch_in_userns(char *desc, size_t desclen, bool *setgroups_denied);

/* execvp()s argv; on failure prints why and exits 127 (not found) or 126
 * (found but not executable); 1 for both in gosu mode, as gosu does. */
_Noreturn void launch_exec(const struct launch *l, char **argv);
