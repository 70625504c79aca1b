/* What the benchmarks (and the campaign) share: a client's side of the
 * handshake as libstepdown does it, one request and its reply, a broker
 * started on its own policy, the tmpfs they run on, and the clock. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

/* Microseconds on CLOCK_MONOTONIC. */
double bench_now_us(void);

/* perror(what), exit 1. */
_Noreturn void bench_die(const char *what);

/* Sorts v[0..n) in ascending order (for percentiles). */
void bench_sort(double *v, size_t n);

/* Writes text to path (created or truncated with mode); exits on failure. */
void bench_write_file(const char *path, const char *text, mode_t mode);

/* Writes key to path, a new file of mode 0400; exits on failure. */
void bench_write_key(const char *path, const uint8_t key[PROTO_KEY_BYTES]);

/* Makes dir ("/tmp/NAME.XXXXXX", mode 0755) and mounts a tmpfs with opts
 * on it in a private mount namespace of ours (what we start inherits
 * it); exits on failure. */
void bench_tmpfs(char *dir, size_t len, const char *name, const char *opts);

/* Starts `bin [flag] --serve` (flag may be NULL; its stdout to /dev/null)
 * under names of its own in dir: the socket DIR/run-TAG/sd.sock (copied
 * to sock), the key DIR/key-TAG (key written there), the policy
 * DIR/pol-TAG.conf ("socket", "key", then rules); waits up to 5 s for the
 * socket.  The pid, or -1 (the broker killed) if the socket did not
 * appear. */
pid_t bench_serve(const char *bin, const char *flag, const char *dir, const char *tag,
                  const uint8_t key[PROTO_KEY_BYTES], const char *rules, char *sock,
                  size_t socklen);

/* A field of /proc/PID/status in KiB ("VmRSS:", "RssAnon:"), or -1. */
long bench_status_kib(pid_t pid, const char *field);

/* Connects to the broker at sock and authenticates with key (HELLO, AUTH
 * with a nonce of our own, AUTH_OK whose proof is checked).  The fd;
 * exits with a message on any failure. */
int bench_connect(const char *sock, const uint8_t key[PROTO_KEY_BYTES]);

/* Sends req and reads the reply: 0 for OK, else -1 with the broker's
 * words in msg (msglen > 0).  Exits if the connection fails. */
int bench_request(int fd, const uint8_t *req, size_t len, char *msg, size_t msglen);
