/* libstepdown: ask the stepdown broker for a privileged operation.
 *
 *     struct stepdown *sd;
 *     int r = stepdown_connect(&sd);
 *     if (r < 0) ...;                        // unreachable or not authenticated
 *     r = stepdown_mkdir(sd, "/data/t42", 0750, (uid_t)-1, (gid_t)-1, 0);
 *     if (r < 0 && stepdown_refused(sd))
 *             fprintf(stderr, "refused: %s\n", stepdown_errmsg(sd));
 *     stepdown_close(sd);
 *
 * Every function returns 0 or a negative errno.  When the broker answered
 * with an error, the errno is the one it named and stepdown_errmsg() holds
 * its message.  Calls are synchronous, one request at a time per handle;
 * a handle is not thread-safe.  No call blocks longer than the timeout
 * (30 s by default, STEPDOWN_TIMEOUT seconds, or stepdown_set_timeout()).
 * Every fd the library creates or receives is close-on-exec. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STEPDOWN_KEY_BYTES 32

/* stepdown_mkdir() flags */
#define STEPDOWN_MKDIR_PARENTS 0x1u
/* stepdown_chown() flags */
#define STEPDOWN_CHOWN_RECURSIVE 0x1u
/* stepdown_open() flags: READ and/or WRITE; CREATE (uses mode), TRUNC,
 * APPEND and EXCL need WRITE; EXCL needs CREATE. */
#define STEPDOWN_OPEN_READ   0x01u
#define STEPDOWN_OPEN_WRITE  0x02u
#define STEPDOWN_OPEN_CREATE 0x04u
#define STEPDOWN_OPEN_TRUNC  0x08u
#define STEPDOWN_OPEN_APPEND 0x10u
#define STEPDOWN_OPEN_EXCL   0x20u

/* What kind of error the last failed call was (the broker's own word). */
enum stepdown_error_kind {
        STEPDOWN_ERR_NONE = 0,        /* no broker error: success or a local failure */
        STEPDOWN_ERR_REFUSED = 1,     /* refused by policy */
        STEPDOWN_ERR_FAILED = 2,      /* allowed, but the operation failed */
        STEPDOWN_ERR_BAD_REQUEST = 3, /* the broker could not parse the request */
        STEPDOWN_ERR_AUTH = 4,        /* not authenticated */
        STEPDOWN_ERR_LIMIT = 5,       /* a broker limit was hit */
};

struct stepdown;

/* Connects to $STEPDOWN_SOCKET (default /run/stepdown/stepdown.sock) and
 * authenticates with the key from $STEPDOWN_KEY_FD (an inherited fd) or
 * $STEPDOWN_KEY_FILE (a file).  The key is 32 raw bytes, or 64 hex digits
 * optionally followed by one newline; a key file is opened without
 * following a symbolic link and must be the caller's own (any owner's
 * for root), with no group or other permission bits.  Without either variable no key is used (for
 * brokers with `key none`).  $STEPDOWN_TIMEOUT (seconds) sets the
 * timeout.  A broker that is full (too many clients) is asked again, with
 * growing pauses, until the timeout has passed.
 * The server must be the broker: its listener's uid (SO_PEERCRED) must be
 * 0, or $STEPDOWN_BROKER_UID, and with a key it must prove that it holds
 * the same key (protocol 3); otherwise nothing is sent and the result is
 * -EPERM.  Errors: the connect(2) errno (-ENOENT, -ECONNREFUSED, -EACCES,
 * ...), -ENOTSOCK (the path is no socket), -EPERM (the server is not the
 * broker, as above; or a key file someone else owns or can read), -ENOKEY
 * (the broker wants a key and none is set), -EACCES (the broker refused
 * the key or the caller), -EUSERS (still full at the timeout), -EPROTO (not
 * a stepdown broker), -EPROTONOSUPPORT (another protocol version), -EAGAIN
 * (timeout), -EINVAL (a bad variable), -ELOOP (a symbolic link in the key
 * file's path), or the errno of reading the key.
 * On failure *sd is NULL. */
int stepdown_connect(struct stepdown **sd);

/* Same, and on failure writes one line into msg (msglen bytes) that names
 * what failed: the variable and its value, the key file, or the socket,
 * with the errno text or the broker's own message. */
int stepdown_connect_msg(struct stepdown **sd, char *msg, size_t msglen);

/* Same with an explicit socket path and key (NULL: no key). */
int stepdown_connect_to(const char *path, const uint8_t *key, struct stepdown **sd);

/* Closes the connection and frees sd.  NULL is fine. */
void stepdown_close(struct stepdown *sd);

/* Sets the send/receive timeout in milliseconds (0: wait forever). */
int stepdown_set_timeout(struct stepdown *sd, unsigned msec);

/* The broker's message for the last failed call, or NULL when the last
 * call succeeded or failed locally. */
const char *stepdown_errmsg(const struct stepdown *sd);
enum stepdown_error_kind stepdown_error_kind(const struct stepdown *sd);
/* true when the last call was refused by the broker's policy. */
bool stepdown_refused(const struct stepdown *sd);

int stepdown_ping(struct stepdown *sd);

/* mode (mode_t)-1: the broker's default; uid/gid (uid_t)-1 / (gid_t)-1:
 * not specified (the broker's default, normally the caller). */
int stepdown_mkdir(struct stepdown *sd, const char *path, mode_t mode, uid_t uid, gid_t gid,
                   unsigned flags);

/* At least one of uid/gid must be given.  *changed (may be NULL) gets the
 * number of entries the broker changed. */
int stepdown_chown(struct stepdown *sd, const char *path, uid_t uid, gid_t gid, unsigned flags,
                   uint64_t *changed);

int stepdown_chmod(struct stepdown *sd, const char *path, mode_t mode);

/* Opens path in the broker and receives the fd (close-on-exec) in *fd. */
int stepdown_open(struct stepdown *sd, const char *path, unsigned flags, mode_t mode, int *fd);

/* address: "tcp:HOST:PORT", "udp:HOST:PORT" (HOST an IPv4 literal,
 * "[IPv6]" or "*") or "unix:/PATH".  Receives the bound socket in *fd
 * (close-on-exec; TCP and unix stream sockets are listening). */
int stepdown_bind(struct stepdown *sd, const char *address, int *fd);

/* The policy rules that apply to the caller, one per line; *text is
 * malloc()ed and NUL-terminated. */
int stepdown_allowed(struct stepdown *sd, char **text);

#ifdef __cplusplus
}
#endif
