/* One function per request, each the client half of a daemon handler:
 * encode, sdlib_transact(), interpret the reply. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib-internal.h"
#include "util.h"

_Static_assert(STEPDOWN_MKDIR_PARENTS == PROTO_MKDIR_PARENTS, "flag");
_Static_assert(STEPDOWN_CHOWN_RECURSIVE == PROTO_CHOWN_RECURSIVE, "flag");
_Static_assert(STEPDOWN_OPEN_READ == PROTO_OPEN_READ && STEPDOWN_OPEN_WRITE == PROTO_OPEN_WRITE &&
                   STEPDOWN_OPEN_CREATE == PROTO_OPEN_CREATE &&
                   STEPDOWN_OPEN_TRUNC == PROTO_OPEN_TRUNC &&
                   STEPDOWN_OPEN_APPEND == PROTO_OPEN_APPEND &&
                   STEPDOWN_OPEN_EXCL == PROTO_OPEN_EXCL,
               "flag");
_Static_assert((int)STEPDOWN_ERR_REFUSED == PROTO_ERR_REFUSED &&
                   (int)STEPDOWN_ERR_LIMIT == PROTO_ERR_LIMIT,
               "kind");

/* An encoder's result: a packet length or an error meaning the arguments
 * were bad (-EINVAL) or too long for one message (-ENAMETOOLONG). */
static int check_len(struct stepdown *sd, ssize_t len)
{
        sd->kind = STEPDOWN_ERR_NONE;
        sd->have_msg = false;
        if (len == -EMSGSIZE)
                return -ENAMETOOLONG;
        return len < 0 ? -EINVAL : 0;
}

static int64_t id_or_none(uint32_t id)
{
        return id == UINT32_MAX ? -1 : (int64_t)id;
}

static int simple(struct stepdown *sd, const uint8_t *buf, ssize_t len, uint64_t *count)
{
        struct proto_msg m;
        int r = check_len(sd, len);
        if (r < 0)
                return r;
        r = sdlib_transact(sd, buf, (size_t)len, &m, NULL);
        if (r < 0)
                return r;
        if (m.type != PROTO_OK)
                return -EPROTO;
        if (count)
                *count = m.count;
        return 0;
}

int stepdown_ping(struct stepdown *sd)
{
        uint8_t buf[PROTO_HEADER_SIZE];
        return simple(sd, buf, proto_encode_empty(buf, sizeof(buf), PROTO_PING, sd->next_id++),
                      NULL);
}

int stepdown_mkdir(struct stepdown *sd, const char *path, mode_t mode, uid_t uid, gid_t gid,
                   unsigned flags)
{
        uint8_t buf[PROTO_MAX_MSG];
        if (!path)
                return -EINVAL;
        ssize_t len = proto_encode_mkdir(buf, sizeof(buf), sd->next_id++, path, mode,
                                         id_or_none(uid), id_or_none(gid), flags);
        return simple(sd, buf, len, NULL);
}

int stepdown_chown(struct stepdown *sd, const char *path, uid_t uid, gid_t gid, unsigned flags,
                   uint64_t *changed)
{
        uint8_t buf[PROTO_MAX_MSG];
        if (!path)
                return -EINVAL;
        ssize_t len = proto_encode_chown(buf, sizeof(buf), sd->next_id++, path, id_or_none(uid),
                                         id_or_none(gid), flags);
        if (changed)
                *changed = 0;
        return simple(sd, buf, len, changed);
}

int stepdown_chmod(struct stepdown *sd, const char *path, mode_t mode)
{
        uint8_t buf[PROTO_MAX_MSG];
        if (!path)
                return -EINVAL;
        return simple(sd, buf, proto_encode_chmod(buf, sizeof(buf), sd->next_id++, path, mode),
                      NULL);
}

static int with_fd(struct stepdown *sd, const uint8_t *buf, ssize_t len, int *fd)
{
        struct proto_msg m;
        int r = check_len(sd, len);
        *fd = -1;
        if (r < 0)
                return r;
        return sdlib_transact(sd, buf, (size_t)len, &m, fd);
}

int stepdown_open(struct stepdown *sd, const char *path, unsigned flags, mode_t mode, int *fd)
{
        uint8_t buf[PROTO_MAX_MSG];
        if (!path || !fd)
                return -EINVAL;
        return with_fd(sd, buf,
                       proto_encode_open(buf, sizeof(buf), sd->next_id++, path, flags, mode), fd);
}

int stepdown_bind(struct stepdown *sd, const char *address, int *fd)
{
        uint8_t buf[PROTO_MAX_MSG], proto;
        char addr[108];
        uint16_t port;
        if (!address || !fd)
                return -EINVAL;
        *fd = -1;
        if (proto_parse_bind(address, &proto, addr, sizeof(addr), &port) < 0)
                return -EINVAL;
        return with_fd(sd, buf,
                       proto_encode_bind(buf, sizeof(buf), sd->next_id++, proto, addr, port), fd);
}

int stepdown_allowed(struct stepdown *sd, char **text)
{
        static const char note[] = "# (list truncated by the broker)\n";
        uint8_t buf[PROTO_HEADER_SIZE];
        struct proto_msg m;
        ssize_t len = proto_encode_empty(buf, sizeof(buf), PROTO_ALLOWED, sd->next_id++);
        int r = check_len(sd, len);

        if (!text)
                return -EINVAL;
        *text = NULL;
        if (r < 0)
                return r;
        r = sdlib_transact(sd, buf, (size_t)len, &m, NULL);
        if (r < 0)
                return r;
        if (m.type != PROTO_ALLOWED_REPLY)
                return -EPROTO;
        char *s = malloc(m.text_len + sizeof(note));
        if (!s)
                return -ENOMEM;
        memcpy(s, m.text, m.text_len);
        s[m.text_len] = '\0';
        if (m.truncated)
                strcat(s, note);
        *text = s;
        return 0;
}
