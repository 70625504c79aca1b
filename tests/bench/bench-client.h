/* What the broker benchmarks share: a client's side of the handshake as
 * libstepdown does it, one request and its reply, and the clock. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* Microseconds on CLOCK_MONOTONIC. */
double bench_now_us(void);

/* Connects to the broker at sock and authenticates with key (HELLO, AUTH
 * with a nonce of our own, AUTH_OK whose proof is checked).  The fd;
 * exits with a message on any failure. */
int bench_connect(const char *sock, const uint8_t key[PROTO_KEY_BYTES]);

/* Sends req and reads the reply: 0 for OK, else -1 with the broker's
 * words in msg (msglen > 0).  Exits if the connection fails. */
int bench_request(int fd, const uint8_t *req, size_t len, char *msg, size_t msglen);
