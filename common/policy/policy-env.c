/* Environment and command-line overrides of a loaded policy:
 * STEPDOWN_USER / -u, STEPDOWN_CHOWN and STEPDOWN_REMAP.  Calls the
 * parser (policy.c) only; the remap resolution (policy-remap.c) calls
 * this. */
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

/* ---- overrides ---- */

int policy_set_user(struct policy *p, const char *spec, const char *origin, const struct userdb *db,
                    char *err, size_t errlen)
{
        char msg[256];
        if (!origin)
                origin = "user override";
        int r = policy_resolve_launch_user(p, spec, db, msg, sizeof(msg));
        if (r == -ENOMEM)
                return errmsg(err, errlen, r, "out of memory");
        if (r < 0)
                return errmsg(err, errlen, -EINVAL, "%s: invalid user spec \"%s\": %s", origin,
                              spec, msg);
        p->user_line = 0;
        p->user_origin = origin;
        return 0;
}

static int add_env_chown(struct policy *p, const char *path, size_t len, char *err, size_t errlen)
{
        char msg[128];
        int r = path_check_len(path, len, msg, sizeof(msg));
        if (r < 0)
                return errmsg(err, errlen, r,
                              "STEPDOWN_CHOWN: invalid path \"%.*s\": %s (expected absolute paths "
                              "separated by spaces)",
                              (int)(len > 256 ? 256 : len), path, msg);
        if (memchr(path, '*', len))
                return errmsg(err, errlen, -EINVAL, "STEPDOWN_CHOWN: wildcard in \"%.*s\"",
                              (int)len, path);
        if (p->n_steps == POLICY_STEPS_MAX)
                return errmsg(err, errlen, -E2BIG,
                              "STEPDOWN_CHOWN: too many setup steps (at most " STRINGIFY(
                                  POLICY_STEPS_MAX) ")");
        struct policy_step *ns = reallocarray(p->steps, p->n_steps + 1, sizeof(*ns));
        if (!ns)
                return -ENOMEM;
        p->steps = ns;
        ns[p->n_steps] = (struct policy_step){
            .op = SD_OP_CHOWN,
            .path = strndup(path, len),
            .owner_from_user = true,
            .uid = p->user_uid,
            .gid = p->user_gid,
            .recursive = true,
        };
        if (!ns[p->n_steps].path)
                return -ENOMEM;
        p->n_steps++;
        return 0;
}

int policy_apply_overrides(struct policy *p, const char *user, const char *chown,
                           const struct userdb *db, char *err, size_t errlen)
{
        int r;
        if (user && *user && (r = policy_set_user(p, user, "STEPDOWN_USER", db, err, errlen)) < 0)
                return r;
        if (!chown)
                return 0;
        for (size_t i = 0, len = strlen(chown); i < len;) {
                while (i < len && (chown[i] == ' ' || chown[i] == '\t' || chown[i] == '\n'))
                        i++;
                if (i == len)
                        break;
                size_t j = i;
                while (j < len && chown[j] != ' ' && chown[j] != '\t' && chown[j] != '\n')
                        j++;
                if (!p->user)
                        return errmsg(err, errlen, -EINVAL,
                                      "STEPDOWN_CHOWN: needs a launch user (a user statement or "
                                      "STEPDOWN_USER) to give the paths to");
                if ((r = add_env_chown(p, chown + i, j - i, err, errlen)) < 0)
                        return r;
                i = j;
        }
        return 0;
}

int policy_apply_env(struct policy *p, const struct userdb *db, char *err, size_t errlen)
{
        int r = policy_apply_overrides(p, getenv("STEPDOWN_USER"), getenv("STEPDOWN_CHOWN"), db,
                                       err, errlen);
        if (r < 0)
                return r;
        return policy_apply_remap_env(p, getenv("STEPDOWN_REMAP"), db, err, errlen);
}

int policy_apply_remap_env(struct policy *p, const char *value, const struct userdb *db, char *err,
                           size_t errlen)
{
        struct policy_remap *m = &p->remap;
        int64_t uid, gid = -1;
        (void)db;

        if (!value || !*value)
                return 0;
        const char *colon = strchr(value, ':');
        size_t ulen = colon ? (size_t)(colon - value) : strlen(value);
        if (!policy_parse_id(value, ulen, &uid) ||
            (colon && !policy_parse_id(colon + 1, strlen(colon + 1), &gid)))
                return errmsg(err, errlen, -EINVAL,
                              "STEPDOWN_REMAP=%.64s: expected UID or UID:GID (decimal numbers "
                              "from 1 to %lld)",
                              value, USERDB_ID_MAX);
        if (uid == 0 || gid == 0)
                return errmsg(err, errlen, -EINVAL,
                              "STEPDOWN_REMAP=%s: 0 (root) refused as a remap target", value);
        if (!m->user) {
                /* No remap statement: remap the launch user's name. */
                const char *spec = p->user ? p->user : "";
                size_t n = strcspn(spec, ":");
                bool digits = n > 0 && strspn(spec, "0123456789") >= n;
                if (n == 0 || digits)
                        return errmsg(err, errlen, -EINVAL,
                                      "STEPDOWN_REMAP=%s: no user name to remap (write a remap "
                                      "statement, or a user statement or STEPDOWN_USER that "
                                      "names a user, not a uid)",
                                      value);
                if (!(m->user = strndup(spec, n)))
                        return -ENOMEM;
        }
        free(m->uid.arg);
        m->uid = (struct remap_src){.kind = REMAP_SRC_NUMBER, .number = uid};
        if (gid >= 0) {
                free(m->gid.arg);
                m->gid = (struct remap_src){.kind = REMAP_SRC_NUMBER, .number = gid};
        }
        m->origin = "STEPDOWN_REMAP";
        return 0;
}
