/* libstepdown internals shared by its files (not installed). */
#pragma once

#include <stdint.h>

#include "proto.h"
#include "stepdown/stepdown.h"

struct stepdown {
        int fd;
        uint32_t next_id;
        enum stepdown_error_kind kind;
        bool have_msg;
        bool server_refused; /* msg says why the client refused the server */
        char msg[PROTO_MAX_MSG];
        uint8_t rbuf[PROTO_MAX_MSG]; /* the last reply; proto_msg points here */
};

/* Sends the packet req[0..len) and waits for the reply with the same id.
 * reply points into sd->rbuf.  With fd non-NULL, one fd riding on the
 * reply is stored there (-1 if none); other fds are closed.  Maps an ERROR
 * reply to its errno and records its kind and message.  Returns 0 or
 * -errno. */
int sdlib_transact(struct stepdown *sd, const uint8_t *req, size_t len, struct proto_msg *reply,
                   int *fd);

/* Reads the client key from STEPDOWN_KEY_FD / STEPDOWN_KEY_FILE.  Returns
 * 1 with key filled, 0 if neither is set, or -errno with msg naming the
 * variable, its value and what is wrong. */
int sdlib_load_key(uint8_t key[STEPDOWN_KEY_BYTES], char *msg, size_t msglen);

/* Parses a key: 32 raw bytes, or 64 hex digits plus an optional newline. */
int sdlib_parse_key(const uint8_t *buf, size_t len, uint8_t key[STEPDOWN_KEY_BYTES]);
