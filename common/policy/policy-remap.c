/* The remap resolution that makes every name in the policy follow the
 * remapped user to its new ids: the policy text is parsed again against
 * the user database as it will be after the remap, with the environment's
 * overrides applied again.  The top of the policy's files: it calls the
 * parser (policy.c) and the environment (policy-env.c), and nothing below
 * calls it (the statement's sources are parsed in policy.c, the
 * STEPDOWN_REMAP override is in policy-env.c).
 * Nothing here writes anything; daemon/start/remap-step.c does the work at start. */
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errmsg.h"
#include "pathnorm.h"
#include "policy-internal.h"
#include "util.h"

/* "FILE:LINE: remap" or "STEPDOWN_REMAP" for messages. */
static void where(const struct policy *p, char *buf, size_t len)
{
        if (p->remap.origin || !p->remap.line)
                snprintf(buf, len, "STEPDOWN_REMAP");
        else
                snprintf(buf, len, "%s:%u: remap", p->file ? p->file : "?", p->remap.line);
}

/* What the walk of an owner: path saw, "/" first and the path's object
 * last, for the check of what the remapped user could change there. */
struct walk_step {
        int64_t uid, gid;
        mode_t mode;
        bool mount_root;
        uint64_t mnt_id;
        size_t end; /* the object is the path's first end bytes ("/" when 0) */
};
struct owner_walk {
        struct walk_step *s;
        size_t n;
};

static void walk_done(struct owner_walk *w)
{
        free(w->s);
        *w = (struct owner_walk){0};
}

static int walk_add(struct owner_walk *w, int fd, size_t end, const char *path, char *err,
                    size_t errlen)
{
        struct statx sx;
        if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW,
                  STATX_TYPE | STATX_MODE | STATX_UID | STATX_GID | STATX_MNT_ID, &sx) < 0)
                return errmsg(err, errlen, negative_errno(), "owner:%s: %.*s: statx: %m", path,
                              end ? (int)end : 1, end ? path : "/");
        struct walk_step *s = reallocarray(w->s, w->n + 1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        w->s = s;
        s = &w->s[w->n];
        *s = (struct walk_step){.uid = sx.stx_uid,
                                .gid = sx.stx_gid,
                                .mode = sx.stx_mode,
                                .mnt_id = (sx.stx_mask & STATX_MNT_ID) ? sx.stx_mnt_id : 0,
                                .end = end};
        if (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
                s->mount_root = (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
        else /* kernels before 5.8: another mount id than the directory's */
                s->mount_root = w->n && s->mnt_id && w->s[w->n - 1].mnt_id &&
                                s->mnt_id != w->s[w->n - 1].mnt_id;
        w->n++;
        return 0;
}

/* The owner of an absolute path, walked from "/" without following any
 * symbolic link: a link anywhere in the path is refused.  walk gets what
 * was seen on the way. */
static int owner_of(const char *path, bool want_gid, int64_t *out, struct owner_walk *walk,
                    char *err, size_t errlen)
{
        _cleanup_close_ int dir = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        char shown[PATH_MAX] = "";
        struct stat st;
        int r;

        if (dir < 0)
                return errmsg(err, errlen, negative_errno(), "/: %m");
        if (fstat(dir, &st) < 0)
                return errmsg(err, errlen, negative_errno(), "/: %m");
        if ((r = walk_add(walk, dir, 0, path, err, errlen)) < 0)
                return r;
        for (const char *s = path; *s;) {
                while (*s == '/')
                        s++;
                if (!*s)
                        break;
                size_t n = strcspn(s, "/");
                char comp[NAME_MAX + 1];
                if (n > NAME_MAX)
                        return errmsg(err, errlen, -ENAMETOOLONG, "%s: name too long", path);
                memcpy(comp, s, n);
                comp[n] = '\0';
                s += n;
                size_t sl = strlen(shown);
                snprintf(shown + sl, sizeof(shown) - sl, "/%s", comp);
                int fd = openat(dir, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return errmsg(err, errlen, negative_errno(), "owner:%s: %s: %m", path,
                                      shown);
                safe_close(dir);
                dir = fd;
                if (fstat(dir, &st) < 0)
                        return errmsg(err, errlen, negative_errno(), "owner:%s: %s: %m", path,
                                      shown);
                if (S_ISLNK(st.st_mode))
                        return errmsg(err, errlen, -ELOOP,
                                      "owner:%s: %s is a symbolic link; refusing (owner: paths "
                                      "are resolved without following symbolic links: name the "
                                      "real path)",
                                      path, shown);
                if (*s && !S_ISDIR(st.st_mode))
                        return errmsg(err, errlen, -ENOTDIR, "owner:%s: %s is not a directory",
                                      path, shown);
                if ((r = walk_add(walk, dir, (size_t)(s - path), path, err, errlen)) < 0)
                        return r;
        }
        *out = want_gid ? (int64_t)st.st_gid : (int64_t)st.st_uid;
        return 0;
}

/* One source's value: 0 and *out set; 1 when an env: variable is unset or
 * empty (then note says so); -errno with a message. */
static int eval_src(const struct policy *p, const struct remap_src *src, bool gid, int64_t *out,
                    struct owner_walk *walk, char **note, char *err, size_t errlen)
{
        const char *what = gid ? "gid" : "uid";
        char w[PATH_MAX + 32], msg[PATH_MAX + 256];
        int r;

        where(p, w, sizeof(w));
        switch (src->kind) {
        case REMAP_SRC_NONE:
                *out = -1;
                return 0;
        case REMAP_SRC_NUMBER:
                *out = src->number;
                return 0;
        case REMAP_SRC_ENV: {
                const char *v = getenv(src->arg);
                if (!v || !*v) {
                        if (!*note && asprintf(note,
                                               "%s: %s=env:%s: %s is %s, so %s is not remapped "
                                               "(no remap)",
                                               w, what, src->arg, src->arg, v ? "empty" : "unset",
                                               p->remap.user) < 0) {
                                *note = NULL;
                                return -ENOMEM;
                        }
                        return 1;
                }
                if (!policy_parse_id(v, strlen(v), out))
                        return errmsg(err, errlen, -EINVAL,
                                      "%s: %s=env:%s: \"%.64s\" is not a %s (expected a decimal "
                                      "number from 1 to %lld)",
                                      w, what, src->arg, v, what, USERDB_ID_MAX);
                break;
        }
        case REMAP_SRC_OWNER:
                if ((r = owner_of(src->arg, gid, out, walk, msg, sizeof(msg))) < 0)
                        return errmsg(err, errlen, r, "%s: %s=%s", w, what, msg);
                break;
        }
        if (*out == 0)
                return errmsg(err, errlen, -EPERM,
                              "%s: %s=%s%s: resolves to %s 0 (root); refusing to remap %s to root",
                              w, what, src->kind == REMAP_SRC_ENV ? "env:" : "owner:", src->arg,
                              what, p->remap.user);
        return 0;
}

/* A copy of db (arrays copied, strings shared) with the remap applied. */
struct db_copy {
        struct userdb db;
};

static void db_copy_done(struct db_copy *c)
{
        free(c->db.pw);
        free(c->db.gr);
}

static int db_copy_remapped(const struct userdb *db, const struct policy_remap *m,
                            struct db_copy *c)
{
        c->db = *db;
        c->db.pw = db->n_pw ? calloc(db->n_pw, sizeof(*db->pw)) : NULL;
        c->db.gr = db->n_gr ? calloc(db->n_gr, sizeof(*db->gr)) : NULL;
        if ((db->n_pw && !c->db.pw) || (db->n_gr && !c->db.gr))
                return -ENOMEM;
        if (db->n_pw)
                memcpy(c->db.pw, db->pw, db->n_pw * sizeof(*db->pw));
        if (db->n_gr)
                memcpy(c->db.gr, db->gr, db->n_gr * sizeof(*db->gr));
        bool gid_change = m->new_gid >= 0 && m->new_gid != m->old_gid;
        bool done_user = false;
        for (size_t i = 0; i < c->db.n_pw; i++) {
                struct pw_entry *e = &c->db.pw[i];
                if (!done_user && strcmp(e->name, m->user) == 0) {
                        e->uid = m->new_uid;
                        done_user = true;
                } else if (m->uid_holder && strcmp(e->name, m->uid_holder) == 0 &&
                           e->uid == m->new_uid)
                        e->uid = m->old_uid;
                if (gid_change && e->gid == m->old_gid)
                        e->gid = m->new_gid;
                else if (gid_change && m->gid_holder && e->gid == m->new_gid)
                        e->gid = m->old_gid;
        }
        for (size_t i = 0; gid_change && i < c->db.n_gr; i++) {
                struct gr_entry *e = &c->db.gr[i];
                if (e->gid == m->old_gid)
                        e->gid = m->new_gid;
                else if (m->gid_holder && strcmp(e->name, m->gid_holder) == 0 &&
                         e->gid == m->new_gid)
                        e->gid = m->old_gid;
        }
        return 0;
}

/* The ids the remapped user has now or may have at run time: its uid and
 * gid before and after the remap, the groups that list it, and the group
 * of the user statement ("app:staff"). */
struct who {
        const struct userdb *db;
        const char *user;
        int64_t uid[2], gid[2], spec_gid;
};

static void who_init(struct who *u, const struct policy *p, const struct policy_remap *m,
                     const struct pw_entry *pw, const struct userdb *db)
{
        *u = (struct who){.db = db,
                          .user = m->user,
                          .uid = {pw->uid, m->new_uid},
                          .gid = {pw->gid, m->new_gid},
                          .spec_gid = -1};
        const char *colon = p->user ? strchr(p->user, ':') : NULL;
        if (colon && colon[1] && !policy_parse_id(colon + 1, strlen(colon + 1), &u->spec_gid)) {
                const struct gr_entry *g = userdb_group_by_name(db, colon + 1);
                u->spec_gid = g ? g->gid : -1;
        }
}

static bool who_uid(const struct who *u, int64_t id)
{
        return id == u->uid[0] || id == u->uid[1];
}

/* Whether the user may hold gid id at run time through a group (it is a
 * member of a group with that gid, whatever its name) or the user
 * statement, so that it could chgrp a file of its own to it. */
static bool who_member(const struct who *u, int64_t id)
{
        if (id == u->spec_gid)
                return true;
        for (size_t i = 0; i < u->db->n_gr; i++)
                if (u->db->gr[i].gid == id && userdb_group_has_member(&u->db->gr[i], u->user))
                        return true;
        return false;
}

static bool who_gid(const struct who *u, int64_t id)
{
        return id == u->gid[0] || id == u->gid[1] || who_member(u, id);
}

/* Refuses an owner: path in which the user could put an object of its
 * choosing (and so pick the ids it gets): a directory on the way that it
 * owns, or may write through its group or the others bits (a sticky one:
 * when it also owns the entry below).  A mount point cannot be renamed or
 * removed, so a directory above it does not count. */
static int check_walk(const char *w, const char *what, const char *path,
                      const struct owner_walk *walk, const struct who *u, char *err, size_t errlen)
{
        for (size_t i = 0; i + 1 < walk->n; i++) {
                const struct walk_step *d = &walk->s[i], *c = &walk->s[i + 1];
                char why[128];
                if (c->mount_root)
                        continue;
                if (who_uid(u, d->uid))
                        snprintf(why, sizeof(why), "belongs to %s (uid %lld)", u->user,
                                 (long long)d->uid);
                else if ((d->mode & S_IWGRP) && who_gid(u, d->gid) &&
                         (!(d->mode & S_ISVTX) || who_uid(u, c->uid)))
                        snprintf(why, sizeof(why), "is writable by group %lld, which %s has",
                                 (long long)d->gid, u->user);
                else if ((d->mode & S_IWOTH) && (!(d->mode & S_ISVTX) || who_uid(u, c->uid)))
                        snprintf(why, sizeof(why), "is writable by all users (mode %04o)%s",
                                 (unsigned)(d->mode & 07777),
                                 (d->mode & S_ISVTX) ? ", and the entry below is its own" : "");
                else
                        continue;
                return errmsg(err, errlen, -EPERM,
                              "%s: %s=owner:%s: %.*s %s, so %s could put any file at %.*s and "
                              "pick its %s; refusing (name a path only root can change, or a "
                              "mount point such as a bind-mounted workspace)",
                              w, what, path, d->end ? (int)d->end : 1, d->end ? path : "/", why,
                              u->user, (int)c->end, path, what);
        }
        return 0;
}

/* Checks the entry and the collisions; fills the ids and names in m. */
static int plan(const struct policy *p, struct policy_remap *m, const struct userdb *db,
                const struct owner_walk *wu, const struct owner_walk *wg, char *err, size_t errlen)
{
        char w[PATH_MAX + 32];
        where(p, w, sizeof(w));

        const struct pw_entry *pw = userdb_user_by_name(db, m->user);
        if (!pw)
                return errmsg(err, errlen, -ENOENT, "%s: user \"%s\" has no entry in %s", w,
                              m->user, USERDB_PASSWD_PATH);
        if (pw->uid <= 0 || pw->uid > USERDB_ID_MAX || pw->gid < 0 || pw->gid > USERDB_ID_MAX)
                return errmsg(err, errlen, -EINVAL,
                              "%s: user \"%s\" has uid %lld gid %lld in %s; refusing to remap it",
                              w, m->user, (long long)pw->uid, (long long)pw->gid,
                              USERDB_PASSWD_PATH);
        m->old_uid = pw->uid;
        if (m->new_gid >= 0) {
                if (pw->gid == 0)
                        return errmsg(err, errlen, -EPERM,
                                      "%s: user \"%s\" has primary gid 0 (root); refusing to "
                                      "remap that group",
                                      w, m->user);
                m->old_gid = pw->gid;
        } else {
                m->old_gid = -1;
        }
        if (!(m->home = strdup(pw->home)))
                return -ENOMEM;
        struct who u;
        who_init(&u, p, m, pw, db);
        int r = check_walk(w, "uid", m->uid.arg, wu, &u, err, errlen);
        if (r == 0)
                r = check_walk(w, "gid", m->gid.arg, wg, &u, err, errlen);
        if (r < 0)
                return r;
        /* The user owns the gid= path: it may have set its group (chgrp)
         * to any group it has, so that value must not stop the start nor
         * pick whose gid a takeover swaps. */
        bool gid_chosen = wg->n && who_uid(&u, wg->s[wg->n - 1].uid);

        if (m->new_uid != m->old_uid) {
                for (size_t i = 0; i < db->n_pw; i++) {
                        const struct pw_entry *e = &db->pw[i];
                        if (e == pw || e->uid != m->new_uid)
                                continue;
                        if (!m->takeover)
                                return errmsg(err, errlen, -EEXIST,
                                              "%s: uid %lld already belongs to user \"%s\" in "
                                              "%s; refusing to give it to \"%s\" too (add "
                                              "\"takeover\" to the remap statement to give "
                                              "\"%s\" uid %lld in exchange)",
                                              w, (long long)m->new_uid, e->name, USERDB_PASSWD_PATH,
                                              m->user, e->name, (long long)m->old_uid);
                        if (!(m->uid_holder = strdup(e->name)))
                                return -ENOMEM;
                        break;
                }
        }
        if (m->new_gid < 0)
                return 0;
        /* The primary group: the entry holding the user's gid; when none
         * does, a group named like the user that already holds the new gid
         * (a start that stopped between writing group and passwd). */
        const struct gr_entry *prim = userdb_group_by_gid(db, m->old_gid);
        if (!prim) {
                const struct gr_entry *g = userdb_group_by_name(db, m->user);
                if (g && g->gid == m->new_gid)
                        prim = g;
        }
        if (prim && !(m->group_name = strdup(prim->name)))
                return -ENOMEM;
        if (m->new_gid == m->old_gid)
                return 0;
        for (size_t i = 0; i < db->n_gr; i++) {
                const struct gr_entry *g = &db->gr[i];
                if (g->gid != m->new_gid || g == prim)
                        continue;
                if (gid_chosen && who_member(&u, m->new_gid)) {
                        if (asprintf(&m->ignored,
                                     "%s: gid=owner:%s: gid %lld (group \"%s\") is one %s has, "
                                     "and %s owns %s, so %s may have set it (chgrp); ignored: "
                                     "%s's group keeps gid %lld (a gid the user can choose "
                                     "neither stops the start nor picks a takeover)",
                                     w, m->gid.arg, (long long)m->new_gid, g->name, m->user,
                                     m->user, m->gid.arg, m->user, m->user,
                                     (long long)m->old_gid) < 0) {
                                m->ignored = NULL;
                                return -ENOMEM;
                        }
                        m->new_gid = m->old_gid;
                        return 0;
                }
                if (!m->takeover)
                        return errmsg(err, errlen, -EEXIST,
                                      "%s: gid %lld already belongs to group \"%s\" in %s; "
                                      "refusing to give it to \"%s\"'s group too (add "
                                      "\"takeover\" to the remap statement to give \"%s\" gid "
                                      "%lld in exchange)",
                                      w, (long long)m->new_gid, g->name, USERDB_GROUP_PATH, m->user,
                                      g->name, (long long)m->old_gid);
                if (!(m->gid_holder = strdup(g->name)))
                        return -ENOMEM;
                break;
        }
        return 0;
}

int policy_remap_resolve(struct policy *p, const struct userdb *db, char *err, size_t errlen)
{
        struct policy_remap *m = &p->remap;
        struct owner_walk wu = {0}, wg = {0};
        int r;

        if (!m->user || m->resolved)
                return 0;
        int ru = eval_src(p, &m->uid, false, &m->new_uid, &wu, &m->note, err, errlen);
        int rg = ru < 0 ? 0 : eval_src(p, &m->gid, true, &m->new_gid, &wg, &m->note, err, errlen);
        if (ru < 0 || rg < 0) {
                walk_done(&wu);
                walk_done(&wg);
                return ru < 0 ? ru : rg;
        }
        m->resolved = true;
        if (ru > 0 || rg > 0) {
                m->active = false; /* an env: source unset or empty: no remap */
                walk_done(&wu);
                walk_done(&wg);
                return 0;
        }
        m->active = true;
        r = plan(p, m, db, &wu, &wg, err, errlen);
        walk_done(&wu);
        walk_done(&wg);
        if (r < 0)
                return r;
        if (m->new_uid == m->old_uid && (m->new_gid < 0 || m->new_gid == m->old_gid))
                return 0; /* already remapped: the names resolve right as they are */

        /* Parse again as the names will resolve after the remap. */
        struct db_copy c = {0};
        struct policy q;
        r = db_copy_remapped(db, m, &c);
        if (r == 0)
                r = policy_parse(&q, p->file, p->text, p->text_len, &c.db, err, errlen);
        if (r < 0) {
                db_copy_done(&c);
                return r;
        }
        r = policy_apply_env(&q, &c.db, err, errlen);
        if (r == 0 && p->user && !p->user_line && p->user_origin &&
            strcmp(p->user_origin, "STEPDOWN_USER") != 0)
                r = policy_set_user(&q, p->user, p->user_origin, &c.db, err, errlen);
        db_copy_done(&c);
        if (r < 0) {
                policy_free(&q);
                return r;
        }
        policy_remap_free(&q.remap);
        q.remap = p->remap;
        p->remap = (struct policy_remap){0};
        policy_free(p);
        *p = q;
        return 0;
}
