/* Fuzzes the request path check and the matcher against a fixed policy.
 * Input: a 10-byte header that picks the operation, flags, caller, owner,
 * mode, family and port, then an address (length-prefixed) and the raw
 * path bytes as they would come off the wire.  Checks invariants: only
 * normal paths are matched, an allowed path lies under the rule's anchor,
 * and special mode bits are granted only when a rule names them. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "match.h"
#include "pathnorm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *members[] = {"bob"};
static struct pw_entry pw[] = {
    {"root", 0, 0, "/root", 0},
    {"app", 1000, 1000, "/home/app", 0},
    {"bob", 1001, 1001, "/home/bob", 0},
};
static struct gr_entry gr[] = {
    {"root", 0, NULL, 0, 0},
    {"app", 1000, NULL, 0, 0},
    {"bob", 1001, NULL, 0, 0},
    {"staff", 2000, members, 1, 0},
};
static const struct userdb db = {pw, 3, true, gr, 4, true, NULL, NULL};

static const char POLICY[] = "allow app mkdir /data/** owner=app:app,bob:staff mode=0700,02750 "
                             "parents\n"
                             "allow app mkdir /exact/dir\n"
                             "allow bob chown /data/* recursive\n"
                             "allow 1000 chmod /srv/** mode=0644,04755\n"
                             "allow @staff open /etc/ssl/app.key read\n"
                             "allow * open /var/log/app/* write create mode=0640\n"
                             "allow app bind tcp:*:443\n"
                             "allow app bind udp:127.0.0.1:5000-5010\n"
                             "allow app bind tcp:[::1]:8080\n"
                             "allow bob bind unix:/run/app/** owner=bob:bob mode=0660\n"
                             "allow bob mkdir /*\n"
                             "allow root chown /**\n"
                             "allow app open /srv/tenants/*/settings.json read\n";

static const struct {
        uid_t uid;
        gid_t gid;
        size_t n_groups;
} callers[] = {{1000, 1000, 0}, {1000, 1000, 1}, {1001, 1001, 1},
               {1002, 2000, 0}, {0, 0, 0},       {65534, 65534, 0}};
static const gid_t staff[] = {2000};
static const uid_t owners[][2] = {{1000, 1000}, {1001, 2000}, {1001, 1001}, {0, 0}};
static const int families[][2] = {{AF_INET, SOCK_STREAM},  {AF_INET, SOCK_DGRAM},
                                  {AF_INET6, SOCK_STREAM}, {AF_INET6, SOCK_DGRAM},
                                  {AF_UNIX, SOCK_STREAM},  {AF_UNIX, SOCK_SEQPACKET},
                                  {AF_UNIX, SOCK_RAW},     {99, SOCK_STREAM}};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct policy pol;
        static bool loaded;
        char why[8192], err[256];

        if (!loaded) {
                int r =
                    policy_parse(&pol, "fuzz.conf", POLICY, strlen(POLICY), &db, err, sizeof(err));
                if (r < 0) {
                        fprintf(stderr, "fuzz-match: fixed policy: %s\n", err);
                        abort();
                }
                loaded = true;
        }
        if (size < 10)
                return 0;
        uint8_t op = data[0], fl = data[1];
        size_t alen = data[9];
        const uint8_t *rest = data + 10;
        size_t rlen = size - 10;
        if (alen > rlen)
                alen = rlen;
        char addr[256];
        memcpy(addr, rest, alen);
        addr[alen] = '\0';
        const char *path = (const char *)rest + alen;
        size_t plen = rlen - alen;

        /* path_check_len and path_check agree on the same bytes */
        int pc = path_check_len(path, plen, err, sizeof(err));
        char *copy = malloc(plen + 1);
        if (!copy)
                return 0;
        memcpy(copy, path, plen);
        copy[plen] = '\0';
        if (pc == 0 && path_check(copy, err, sizeof(err)) != 0)
                abort();

        struct sd_request r = {
            .op = (enum sd_op)(op % 7),
            .path = copy, /* the matcher checks it again */
            .uid = callers[data[2] % 6].uid,
            .gid = callers[data[2] % 6].gid,
            .groups = staff,
            .n_groups = callers[data[2] % 6].n_groups,
            .has_owner = fl & 1,
            .owner_uid = owners[data[3] % 4][0],
            .owner_gid = owners[data[3] % 4][1],
            .has_mode = fl & 2,
            .mode = (mode_t)(data[4] | data[5] << 8),
            .recursive = fl & 4,
            .parents = fl & 8,
            .read = fl & 16,
            .write = fl & 32,
            .create = fl & 64,
            .family = families[data[6] % 8][0],
            .socktype = families[data[6] % 8][1],
            .addr = (fl & 128) ? NULL : addr,
            .port = (unsigned)(data[7] | data[8] << 8) + (data[6] >= 128 ? 65536 : 0),
        };
        const struct policy_rule *rule = NULL;
        int m = policy_match(&pol, &r, &rule, why, sizeof(why));
        if (m != 0 && m != -EACCES && m != -EINVAL)
                abort();
        if (m == 0) {
                if (!rule || rule->op != r.op)
                        abort();
                if (r.has_mode && (r.mode & 07000)) {
                        bool named = false;
                        for (size_t i = 0; i < rule->n_modes; i++)
                                named |= rule->modes[i] == r.mode;
                        if (!named)
                                abort();
                }
                if (r.op != SD_OP_BIND || r.family == AF_UNIX) {
                        if (path_check(r.path, err, sizeof(err)) != 0 || !rule->anchor)
                                abort();
                        const char *below = path_rest(rule->anchor, r.path);
                        if (!below)
                                abort();
                        if (rule->kind != PATTERN_EXACT && strcmp(below, ".") == 0)
                                abort();
                        if (rule->kind == PATTERN_CHILDREN && strchr(below, '/'))
                                abort();
                        if (strstr(below, "/../") || strncmp(below, "../", 3) == 0 ||
                            strcmp(below, "..") == 0)
                                abort();
                }
        }
        free(copy);
        return 0;
}
