/* The stepdown.conf policy: parser, loader (ownership checks), environment
 * overrides and the --check printout.  The grammar is written down in
 * docs/stepdown.conf.5; keep the two in step. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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

/* PATTERN_GLOB: a "*" component before the last one ("/srv/tenants/ * /conf"
 * without the spaces), matched component by component beneath the anchor. */
enum pattern_kind { PATTERN_EXACT, PATTERN_CHILDREN, PATTERN_DESCENDANTS, PATTERN_GLOB };

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

/* remap USER uid=SRC [gid=SRC] [chown=PATH[,PATH...]] [takeover]
 * (docs/stepdown.conf.5, "REMAP"). */
#define POLICY_REMAP_PATHS_MAX 32

enum remap_src_kind {
        REMAP_SRC_NONE = 0, /* not given (gid only: the group keeps its gid) */
        REMAP_SRC_NUMBER,
        REMAP_SRC_ENV,   /* env:NAME */
        REMAP_SRC_OWNER, /* owner:/ABS/PATH */
};

struct remap_src {
        enum remap_src_kind kind;
        int64_t number; /* REMAP_SRC_NUMBER */
        char *arg;      /* the variable name or the path */
};

struct policy_remap {
        unsigned line;      /* 0: from STEPDOWN_REMAP alone */
        const char *origin; /* "STEPDOWN_REMAP" when the ids come from it, else NULL */
        char *user;         /* NULL: no remap */
        struct remap_src uid, gid;
        char **paths; /* chown= */
        size_t n_paths;
        bool takeover;

        /* Filled in by policy_remap_resolve(): */
        bool resolved;
        bool active;      /* false: an env: source was unset or empty */
        char *note;       /* why it is inactive, for stderr and the audit log */
        int64_t old_uid;  /* the entry's ids before the remap */
        int64_t old_gid;  /* -1: no group remap */
        int64_t new_uid;  /* == old_uid: already done (restart) */
        int64_t new_gid;  /* -1: no group remap */
        char *home;       /* the entry's home directory */
        char *uid_holder; /* takeover: the entry that held new_uid, or NULL */
        char *gid_holder; /* takeover: the group that held new_gid, or NULL */
        char *group_name; /* the primary group's name, or NULL when it has no entry */
        char *ignored;    /* a user-chosen gid= value that was not applied, and why */
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
        /* intercept OP... [log-continued] [required] (docs/stepdown.conf.5, "TRANSPARENT
         * MODE"): bit (1u << op) per intercepted enum sd_op; line 0: none. */
        unsigned intercept_ops;
        bool intercept_log_continued;
        /* required: a refused mechanism stops the start (exit 1) */
        bool intercept_required;
        unsigned intercept_line;

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
        struct policy_remap remap;
        char *text; /* the policy text, so a remap can re-resolve names */
        size_t text_len;
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
 * the launch user) and STEPDOWN_REMAP (policy_apply_remap_env).  Messages
 * name the variable. */
int policy_apply_env(struct policy *p, const struct userdb *db, char *err, size_t errlen);
/* The same with the values given (NULL: not set), for tests. */
int policy_apply_overrides(struct policy *p, const char *user, const char *chown,
                           const struct userdb *db, char *err, size_t errlen);

/* STEPDOWN_REMAP=UID[:GID] (value NULL or empty: nothing).  It replaces
 * the uid= and gid= sources of the remap statement, or remaps the launch
 * user's name when there is none. */
int policy_apply_remap_env(struct policy *p, const char *value, const struct userdb *db, char *err,
                           size_t errlen);

/* Resolves the remap (if any): reads the uid/gid sources (environment,
 * owner of a path), checks the user's entry in db and the collisions,
 * records old and new ids in p->remap, and -- when the ids change -- parses
 * the policy again against db with the remap applied, so every name in it
 * (user, owner=, allow callers, @groups) follows the user to its new ids.
 * Overrides (STEPDOWN_*, the user override) are applied again.  Numbers
 * in the policy stay numbers.  Nothing on disk changes (daemon/start/remap-step.c
 * does that).  Messages name the statement's FILE:LINE or STEPDOWN_REMAP. */
int policy_remap_resolve(struct policy *p, const struct userdb *db, char *err, size_t errlen);

void policy_free(struct policy *p);

/* What `stepdownd --check` prints: every statement, setup step and rule,
 * one a line, as "FILE:LINE: statement", with names resolved to ids. */
void policy_print(const struct policy *p, FILE *f);

/* "FILE:LINE" of a rule or step, or "STEPDOWN_CHOWN" for line 0 (the
 * file's name shortened as below). */
void policy_where(const struct policy *p, unsigned line, char *buf, size_t len);

/* path as a message shows it: itself when at most POLICY_SHORT_PATH bytes,
 * else its head and tail around "...(N bytes)..." (a 4,000-byte path
 * would drown the reason).  buf: at least POLICY_SHORT_BUF bytes. */
#define POLICY_SHORT_PATH 160
#define POLICY_SHORT_BUF  (POLICY_SHORT_PATH + 32)
const char *policy_short_path(const char *path, char *buf, size_t len);
