/* The stepdown.conf policy: parser, loader (ownership checks), environment
 * overrides and the --check printout.  The grammar is written down in
 * docs/stepdown.conf.5; keep the two in step. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "userdb.h"

#define POLICY_LINE_MAX  4096       /* bytes per line, newline excluded */
#define POLICY_RULES_MAX 1024       /* allow statements */
#define POLICY_STEPS_MAX 256        /* setup statements and STEPDOWN_CHOWN paths */
#define POLICY_LIST_MAX  32         /* owners or modes in one owner=/mode= list */
#define POLICY_WORDS_MAX 32         /* words on one line */
#define POLICY_FILE_MAX  (8u << 20) /* bytes in the file */

enum sd_op { SD_OP_MKDIR = 1, SD_OP_CHOWN, SD_OP_CHMOD, SD_OP_OPEN, SD_OP_BIND };

/* "mkdir", "chown", "chmod", "open", "bind"; "?" for anything else. */
const char *sd_op_name(enum sd_op op);

enum policy_caller_kind {
        CALLER_ANY = 1, /* "*" */
        CALLER_UID,     /* a user name or a uid */
        CALLER_GROUP,   /* "@group": primary or supplementary gid */
};

struct policy_caller {
        enum policy_caller_kind kind;
        uid_t uid;  /* CALLER_UID */
        gid_t gid;  /* CALLER_GROUP */
        char *text; /* as written: "app", "1000", "@staff", "*" */
};

struct policy_owner {
        uid_t uid;
        gid_t gid;
};

enum pattern_kind { PATTERN_EXACT, PATTERN_CHILDREN, PATTERN_DESCENDANTS };

/* bind tcp:ADDR:PORT, udp:ADDR:PORT, unix:PATTERN */
struct policy_bind {
        int family;   /* AF_INET, AF_INET6, AF_UNIX; 0 for tcp:* / udp:* (either IP family) */
        int socktype; /* SOCK_STREAM (tcp, unix), SOCK_DGRAM (udp) */
        bool any_addr;
        unsigned char addr[16]; /* in network order, 4 bytes used for AF_INET */
        unsigned port_lo, port_hi;
};

struct policy_rule {
        unsigned line;
        struct policy_caller caller;
        enum sd_op op;
        char *pattern; /* as written ("/data/ **" without the space; "tcp:*:443") */
        /* Path rules and bind unix: rules (the PATH part): */
        enum pattern_kind kind;
        char *anchor;                /* the directory the engine opens: the fixed part before
                                      * / * or / **, or dirname(pattern) for an exact pattern;
                                      * NULL for tcp/udp binds */
        struct policy_owner *owners; /* owner=; none: the caller's own uid:gid */
        size_t n_owners;
        mode_t *modes; /* mode=; none: any mode without 07000 bits */
        size_t n_modes;
        bool recursive, parents, xdev, hardlinks;
        bool read, write, create;
        struct policy_bind bind;
};

struct policy_step {
        unsigned line; /* 0 for steps from STEPDOWN_CHOWN */
        enum sd_op op; /* SD_OP_MKDIR, SD_OP_CHOWN or SD_OP_CHMOD */
        char *path;
        bool owner_from_user; /* no owner=: uid/gid are the launch user's */
        uid_t uid;
        gid_t gid;
        bool has_mode;
        mode_t mode;
        bool parents, recursive, xdev, hardlinks;
};

enum policy_unpriv { POLICY_UNPRIV_FAIL = 0, POLICY_UNPRIV_WARN, POLICY_UNPRIV_SKIP };
enum policy_key { POLICY_KEY_AUTO = 0, POLICY_KEY_NONE, POLICY_KEY_FILE };
enum policy_tristate { POLICY_UNSET = 0, POLICY_YES, POLICY_NO };

struct policy {
        char *file; /* the name used in messages */

        /* NULL / unset means "not given": the daemon uses its default. */
        char *user; /* the launch user spec */
        uid_t user_uid;
        gid_t user_gid;
        char *socket;
        char *audit; /* a path, or "-" for stderr */
        char *audit_sign;
        enum policy_tristate audit_sync;    /* always = YES, never = NO */
        enum policy_tristate audit_failure; /* deny = YES, allow = NO */
        enum policy_tristate audit_syslog;  /* yes, no */
        bool has_umask;
        mode_t umask;
        enum policy_key key;
        char *key_file; /* POLICY_KEY_FILE */
        bool no_new_privs;

        /* Line of each statement (0: not given, or user given by an
         * override: then user_origin names it). */
        const char *user_origin;
        unsigned user_line, socket_line, audit_line, audit_sign_line, audit_sync_line,
            audit_failure_line, audit_syslog_line, umask_line, key_line, no_new_privs_line;

        struct policy_step *steps;
        size_t n_steps;
        struct policy_rule *rules;
        size_t n_rules;

        /* Started without root (docker run --user, runAsNonRoot): what the
         * setup steps do (`setup-unprivileged fail|warn|skip`) and whether
         * the start fails for want of a broker (`broker required|optional`,
         * YES = required).  Line 0: not given (fail, optional). */
        enum policy_unpriv setup_unprivileged;
        enum policy_tristate broker_required;
        unsigned setup_unprivileged_line, broker_line;
};

/* Parses text (len bytes, need not be NUL terminated) named name in
 * messages.  Users and groups are resolved against db.  On error returns
 * -EINVAL (-E2BIG for a limit, -ENOMEM) with "name:line:col: message" in
 * err, and p is left empty (policy_free is still safe). */
int policy_parse(struct policy *p, const char *name, const char *text, size_t len,
                 const struct userdb *db, char *err, size_t errlen);

/* Opens path, refuses it unless it is a regular file owned by root that
 * group and other cannot write, and unless every directory on the way to
 * it is owned by root and not writable by group or other (a sticky
 * directory such as /tmp is accepted: others cannot replace root's entries
 * there), then parses it.  Symbolic links on the way are followed, and
 * their directories checked the same way.  -EPERM for an unsafe file. */
int policy_load(struct policy *p, const char *path, const struct userdb *db, char *err,
                size_t errlen);

/* Replaces the launch user (validated like the user statement) and
 * re-resolves the setup steps that default to it.  origin names the
 * override in messages and in policy_print ("STEPDOWN_USER", "-u"; NULL:
 * "user override"). */
int policy_set_user(struct policy *p, const char *spec, const char *origin, const struct userdb *db,
                    char *err, size_t errlen);

/* STEPDOWN_USER (non-empty: replaces user) and STEPDOWN_CHOWN (paths
 * separated by spaces: appends `setup chown PATH recursive` steps owned by
 * the launch user).  Messages name the variable. */
int policy_apply_env(struct policy *p, const struct userdb *db, char *err, size_t errlen);
/* The same with the values given (NULL: not set), for tests. */
int policy_apply_overrides(struct policy *p, const char *user, const char *chown,
                           const struct userdb *db, char *err, size_t errlen);

void policy_free(struct policy *p);

/* What `stepdownd --check` prints: every statement, setup step and rule,
 * one a line, as "FILE:LINE: statement", with names resolved to ids. */
void policy_print(const struct policy *p, FILE *f);

/* "FILE:LINE" of a rule or step, or "STEPDOWN_CHOWN" for line 0. */
void policy_where(const struct policy *p, unsigned line, char *buf, size_t len);
