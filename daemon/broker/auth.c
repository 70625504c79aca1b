/* Who is calling, and proof that it is the launched application: kernel
 * peer credentials captured at accept, and the per-launch key that only
 * the application was given (checked by challenge-response, the key itself
 * never crosses the socket). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker.h"
#include "trusted.h"
#include "util.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5 */
#endif

#define PEER_GROUPS_MAX 65536

static int peer_groups(int fd, struct peer *p)
{
        socklen_t len = 32 * sizeof(gid_t);

        for (;;) {
                gid_t *g = malloc(len ? len : sizeof(gid_t));
                socklen_t got = len;
                if (!g)
                        return -ENOMEM;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &got) == 0) {
                        p->groups = g;
                        p->n_groups = got / sizeof(gid_t);
                        return 0;
                }
                free(g);
                if (errno != ERANGE || got <= len || got > PEER_GROUPS_MAX * sizeof(gid_t))
                        return errno == ENOPROTOOPT ? 0 : -errno;
                len = got;
        }
}

int peer_read(int fd, struct peer *p)
{
        struct ucred uc;
        socklen_t len = sizeof(uc);

        memset(p, 0, sizeof(*p));
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
                return -errno;
        p->pid = uc.pid;
        p->uid = uc.uid;
        p->gid = uc.gid;
        return peer_groups(fd, p);
}

void peer_identify(int fd, struct peer *p)
{
        char proc[64];

        /* The pidfd names this process even if its PID is reused later;
         * the audit records its inode. */
        int pidfd = -1;
        socklen_t len = sizeof(pidfd);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0 && pidfd >= 0) {
                struct stat st;
                if (fstat(pidfd, &st) == 0)
                        p->pidfd_ino = (uint64_t)st.st_ino;
                close(pidfd);
        }

        snprintf(proc, sizeof(proc), "/proc/%d/exe", (int)p->pid);
        ssize_t n = p->pid > 0 ? readlink(proc, p->exe, sizeof(p->exe) - 1) : -1;
        p->exe[n > 0 ? n : 0] = '\0';
}

void peer_clear(struct peer *p)
{
        free(p->groups);
        p->groups = NULL;
        p->n_groups = 0;
}

void auth_key_generate(uint8_t key[PROTO_KEY_BYTES])
{
        crypto_auth_keygen(key);
}

int auth_key_load(const char *path, uint8_t key[PROTO_KEY_BYTES], char *err, size_t errlen)
{
        uint8_t buf[2 * PROTO_KEY_BYTES + 2];
        struct stat st;
        ssize_t n;
        size_t bin_len = 0;

        /* Root's own file, by a path nobody else can bend (trusted.h): no
         * link in any component, a directory only root can change. */
        char why[PATH_MAX + 512] = "";
        _cleanup_close_ int fd = -1;
        int r = trusted_file_open(path, true, &fd, why, sizeof(why));
        if (r < 0) {
                snprintf(err, errlen, "key file %s: %s", path, why[0] ? why : strerror(-r));
                return r;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                snprintf(err, errlen, "key file %s: not a regular file", path);
                return -EINVAL;
        }
        if (st.st_mode & 077) {
                snprintf(err, errlen, "key file %s: mode %04o lets group or other read it", path,
                         (unsigned)(st.st_mode & 07777));
                return -EPERM;
        }
        n = read(fd, buf, sizeof(buf));
        if (n < 0) {
                snprintf(err, errlen, "key file %s: %s", path, strerror(errno));
                return -errno;
        }
        if (n == PROTO_KEY_BYTES) {
                memcpy(key, buf, PROTO_KEY_BYTES);
        } else if ((n == 2 * PROTO_KEY_BYTES ||
                    (n == 2 * PROTO_KEY_BYTES + 1 && buf[n - 1] == '\n')) &&
                   sodium_hex2bin(key, PROTO_KEY_BYTES, (const char *)buf, 2 * PROTO_KEY_BYTES,
                                  NULL, &bin_len, NULL) == 0 &&
                   bin_len == PROTO_KEY_BYTES) {
                /* hex form */
        } else {
                sodium_memzero(buf, sizeof(buf));
                snprintf(err, errlen,
                         "key file %s: expected %d raw bytes or %d hex digits, found %zd bytes",
                         path, PROTO_KEY_BYTES, 2 * PROTO_KEY_BYTES, n);
                return -EINVAL;
        }
        sodium_memzero(buf, sizeof(buf));
        return 0;
}

int auth_key_memfd(const uint8_t key[PROTO_KEY_BYTES], char *err, size_t errlen)
{
        _cleanup_close_ int fd = memfd_create("stepdown-key", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0 || write(fd, key, PROTO_KEY_BYTES) != PROTO_KEY_BYTES ||
            fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0 ||
            lseek(fd, 0, SEEK_SET) < 0) {
                int e = errno ? errno : EIO;
                snprintf(err, errlen, "creating the key memfd: %s", strerror(e));
                return -e;
        }
        return TAKE_FD(fd);
}

int auth_check(const uint8_t *key, const uint8_t nonce[PROTO_NONCE_BYTES],
               const struct proto_auth_peers *peers, const struct proto_msg *m,
               uint8_t proof[PROTO_MAC_BYTES])
{
        memset(proof, 0, PROTO_MAC_BYTES);
        if (!key)
                return 0;
        if (!(m->present & PROTO_F_MAC) || !(m->present & PROTO_F_NONCE))
                return -EPERM;
        int r = proto_auth_verify(key, nonce, peers, m->mac);
        if (r < 0)
                return r;
        /* Our side of the mutual proof: the client's nonce, the same two
         * ends.  Only after the client proved the key, so an unkeyed
         * prober gets no MAC to study. */
        return proto_auth_server_mac(key, m->nonce, peers, proof);
}
