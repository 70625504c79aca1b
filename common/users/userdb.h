/* /etc/passwd and /etc/group, parsed directly (no NSS) the way Docker's
 * libcontainer/user package parses them, and user-spec resolution with the
 * same results as gosu 1.14 (which uses that package).
 *
 * Line splitting is libcontainer's: missing fields read as empty, leading
 * and trailing white space of a line is trimmed, blank lines are skipped,
 * and in the group file lines starting with '#' are skipped.  Id fields
 * are NOT lenient (libcontainer reads a field that is not a number as 0,
 * i.e. root): a uid or gid field that is not a plain decimal number (digits
 * only, no sign, no blanks, not empty) reads as USERDB_ID_INVALID, which
 * never matches a numeric look-up and which userdb_resolve() refuses, with
 * the file and line, whenever that field would be used. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define USERDB_PASSWD_PATH "/etc/passwd"
#define USERDB_GROUP_PATH  "/etc/group"
#define USERDB_ID_MAX      2147483647LL
/* A uid/gid field that is not a number (never in range 0..USERDB_ID_MAX,
 * so every range check refuses it too). */
#define USERDB_ID_INVALID (-1LL)

struct pw_entry {
        char *name;
        int64_t uid;
        int64_t gid;
        char *home;
        unsigned line; /* in the passwd file, for messages (0: unknown) */
};

struct gr_entry {
        char *name;
        int64_t gid;
        char **members;
        size_t n_members;
        unsigned line; /* in the group file */
};

struct userdb {
        struct pw_entry *pw;
        size_t n_pw;
        bool have_passwd; /* the file could be opened */
        struct gr_entry *gr;
        size_t n_gr;
        bool have_group;
        char *passwd_path; /* as loaded, for messages (NULL: "the passwd file") */
        char *group_path;
};

/* Loads both files.  A file that does not exist (or cannot be opened) is
 * treated as empty, as libcontainer does; numeric specs still work then.
 * Returns 0, -ENOMEM, or -E2BIG for a passwd line longer than 64 KiB (Go's
 * bufio.Scanner limit, which makes gosu fail the same way). */
int userdb_load(struct userdb *db, const char *passwd_path, const char *group_path);
void userdb_free(struct userdb *db);

const struct pw_entry *userdb_user_by_name(const struct userdb *db, const char *name);
const struct pw_entry *userdb_user_by_uid(const struct userdb *db, int64_t uid);
const struct gr_entry *userdb_group_by_name(const struct userdb *db, const char *name);
const struct gr_entry *userdb_group_by_gid(const struct userdb *db, int64_t gid);
bool userdb_group_has_member(const struct gr_entry *g, const char *user);

/* Parses a decimal number exactly as Go's strconv.Atoi (optional sign,
 * digits only, must fit in int64).  Returns false if it is not one. */
bool userdb_parse_id(const char *s, size_t len, int64_t *out);

/* The identity an exec will get. */
struct exec_user {
        uid_t uid;
        gid_t gid;
        gid_t *groups; /* supplementary groups for setgroups() */
        size_t n_groups;
        char *home;     /* "/" when the user has no passwd entry */
        char *name;     /* passwd name that matched, or NULL */
        bool spec_name; /* the user part of the spec was a name, not a number */
};

void exec_user_free(struct exec_user *u);

/* Resolves USER, USER:GROUP, UID, UID:GID, USER:GID, UID:GROUP, UID:, :GID
 * and "" against db, with cur_uid/cur_gid as the defaults (what the empty
 * parts mean), like libcontainer's GetExecUser.  On failure returns -errno
 * and writes a message to err:
 *   -ENOENT  no such user / group (and not a number)
 *   -ERANGE  a number outside 0..2147483647
 *   -EINVAL  an id field the spec needs is not a number (file:line named)
 *   -EPERM   a user *name* other than "root" resolved to uid 0, or a name
 *            other than "root" resolved to gid 0: a group name in the spec,
 *            or (no group in the spec) a user name whose passwd entry or
 *            supplementary groups give gid 0.  Numbers are taken as given.
 *   -ENOMEM */
int userdb_resolve(const struct userdb *db, const char *spec, uid_t cur_uid, gid_t cur_gid,
                   struct exec_user *out, char *err, size_t errlen);
