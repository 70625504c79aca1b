/* Tamper-evident audit log: one JSON object per line, each record carrying
 * the BLAKE2b-256 hash of the previous record, optionally Ed25519-signed.
 * Record format, rotation and failure semantics: docs/AUDIT.md.
 *
 * Like all of common/, these functions return 0 or -errno and do not
 * print (audit_verify writes its findings to the FILE it is given). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct audit_record;

struct audit;

struct audit_config {
        const char *path;          /* file path, "-" = stderr, NULL = no file/stderr sink */
        const char *sign_key_file; /* Ed25519 secret key (audit_keygen format) or NULL */
        bool sync_always;          /* fsync after every record */
        bool failure_allow;        /* policy "audit-failure allow" */
        bool syslog;               /* also send every record to syslog (LOG_AUTHPRIV) */
        /* Benchmarks only (tests/bench/bench-broker-audit.c): records without
         * the hash chain ("prev":null, no BLAKE2b), to measure what the chain
         * itself costs.  No policy statement or option sets it; such a log
         * does not verify. */
        bool no_chain;
        /* Benchmarks only, likewise: "intent" records are not written
         * (audit_log returns 0 for them), to measure what they cost
         * against one record per request.  Such a log hides operations. */
        bool no_intent;
        /* Signing (sign_key_file): the chain is sealed, a record signed,
         * at most every seal_records records and seal_ms milliseconds
         * after the first unsealed record (0: the defaults below); see
         * audit_seal_due.  Tests and benchmarks set them. */
        unsigned seal_records, seal_ms;
};

/* The seal bounds' defaults (docs/AUDIT.md, "Seals").  A broker checks
 * audit_seal_due every AUDIT_SEAL_TICK_MS, so no record stays unsealed
 * longer than AUDIT_SEAL_MS + AUDIT_SEAL_TICK_MS (1 s). */
#define AUDIT_SEAL_RECORDS 256
#define AUDIT_SEAL_MS      900
#define AUDIT_SEAL_TICK_MS 100

struct audit_caller {
        uint32_t uid, gid;
        int32_t pid;
        const char *exe;    /* NULL if unknown */
        uint64_t pidfd_ino; /* 0 if unknown */
};

struct audit_event {
        const char *event;   /* "start", "setup", "harden", "serve", "intent", "request", "stop" */
        uint64_t request_id; /* 0 = none */
        /* An outcome record ("setup", "request") names the seq of the
         * "intent" record written before the act (audit_seq() right after
         * that record); 0 = none (a refusal, nothing was attempted). */
        uint64_t intent;
        const struct audit_caller *caller; /* NULL = none (start, stop, setup) */
        const char *op;                    /* "mkdir", "chown", ... or NULL */
        const char *path;                  /* NULL = none */
        int64_t uid, gid;                  /* owner arguments, -1 = none */
        int32_t mode;                      /* -1 = none */
        const char *flags;                 /* e.g. "recursive,parents" or NULL */
        const char *addr;                  /* bind address or NULL */
        const char *decision;              /* "allow" / "deny" or NULL */
        const char *rule;                  /* "FILE:LINE" or NULL */
        int error; /* 0 or positive errno; printed as errno name, "OK" for 0 */
        uint64_t duration_us;
        int64_t changed;     /* recursive chown entries changed, -1 = n/a */
        const char *message; /* free text or NULL */

        /* The front door, when not the socket: "syscall" (transparent
         * mode) with the system call's name, and the calling thread
         * (shown in "caller"); NULL / 0 = not written. */
        const char *via, *syscall;
        int32_t tid;
};

/* Largest record audit_log writes (longer ones fail with -E2BIG); also
 * the longest line the writer reads back from an existing log's tail. */
#define AUDIT_RECORD_MAX (256 * 1024)

/* Opens the sinks.  A new log gets a random log id, and its first record
 * names the BLAKE2b-256 hash of policy_path (NULL: no policy hash); when
 * the file already ends with a record, the chain continues from it.  With
 * cfg->path == NULL and !cfg->syslog every audit_log is a no-op. */
int audit_open(struct audit **a, const struct audit_config *cfg, const char *policy_path, char *err,
               size_t errlen);

/* Writes one record with ONE write(2) (O_APPEND), fsync when sync_always.
 * Returns -errno if it could not be written; the chain does not advance
 * then, and the caller refuses the operation unless
 * audit_failure_allow(a).  A record that could not be written is counted:
 * the next record that is written carries "lost":{"records":N,"intents":
 * [SEQ...]} (the intents whose outcome record was among them), so a gap
 * is never silent. */
int audit_log(struct audit *a, const struct audit_event *ev);

/* Seals (signing only): a record is signed, and with it every record
 * before it in the chain, as a log's and each file's first record, at
 * start, stop and audit_reopen, and every seal_records records.  Between
 * them, audit_seal_due says whether the oldest unsealed record is
 * seal_ms old (now_ms: CLOCK_MONOTONIC milliseconds); audit_seal then
 * writes a "seal" record (0 when there is nothing to seal or no key). */
bool audit_seal_due(const struct audit *a, uint64_t now_ms);
int audit_seal(struct audit *a);

/* Seq of the last record written (0: none yet): after an "intent" record,
 * the number its outcome record names in audit_event.intent. */
uint64_t audit_seq(const struct audit *a);

/* Records lost since the last record written (see audit_log). */
uint64_t audit_lost(const struct audit *a);

/* The fd of the file or stderr sink (-1: none), for a forked broker that
 * keeps this log open and closes every other fd; after the fork it calls
 * audit_forked(), which reconnects the syslog sink. */
int audit_fd(const struct audit *a);
void audit_forked(struct audit *a);

bool audit_failure_allow(const struct audit *a);

/* Free space audit_ready demands on the log's filesystem: more than any
 * record of a request can take (a 4095-byte path of invalid UTF-8 is
 * ~31 KiB escaped with its base64 twin). */
#define AUDIT_ROOM (64 * 1024)

/* Whether the next record can be expected to be written, asked before an
 * operation is performed: 0, or -errno naming why not.  Not ready: the
 * file was unlinked (-ENOENT until audit_reopen), could not be reopened
 * (the open error), its filesystem has less than AUDIT_ROOM bytes free for
 * unprivileged users (-ENOSPC), or the last record failed for a reason
 * that free space does not explain (that error, until a record is written
 * again).  One fstat and one fstatvfs per call, but not while the
 * last look found AUDIT_ROOM_AMPLE free and is recent: less than
 * AUDIT_RECHECK_US ago, or, while records and calls come less than
 * AUDIT_RECHECK_US apart (a busy broker), less than AUDIT_RECHECK_MAX_US
 * ago; and this writer's own records since then took less than
 * AUDIT_ROOM_AMPLE - AUDIT_ROOM.  Then neither this call nor the records
 * that follow ask again: a full disk or a deleted file is seen up to
 * 10 ms late (a record that does not fit is still counted as lost; a
 * record written in those milliseconds goes with the deleted file, as one
 * written just before the rm would), and at the first call after a pause
 * of 1 ms. */
int audit_ready(struct audit *a);
#define AUDIT_RECHECK_US     1000
#define AUDIT_RECHECK_MAX_US 10000
#define AUDIT_ROOM_AMPLE     (16 * AUDIT_ROOM)

/* SIGHUP/logrotate: reopens the path.  If the new file is empty its first
 * record carries a "continues" marker and the previous record's hash. */
int audit_reopen(struct audit *a);

void audit_close(struct audit *a); /* NULL-safe */

/* Checks the chain across files given oldest first ("-" is standard
 * input).  Lines that are not audit records (a `docker logs` capture) are
 * counted and named, not checked; a line that looks like a record but does
 * not parse is an error.  Findings go to report ("FILE:LINE: edited|
 * deleted|reordered|truncated|torn|bad signature|unsigned|no outcome|lost
 * ..." lines), then one summary line.  With pubkey_file every seal (signed
 * record) must be valid, and proves the records before it; records after
 * a log's last seal are named ("unsealed: N records after the last
 * seal ...").  Returns one of these, or -errno on I/O errors: */
enum {                          /* the values are `stepdown audit verify`'s exit statuses */
       AUDIT_VERIFY_INTACT = 0, /* every chain intact, every start has its stop */
       AUDIT_VERIFY_BROKEN = 1, /* a problem was found */
       /* Intact so far, but a log's last start has no stop record: cut at
        * a record boundary (which an unsigned chain cannot tell), or still
        * being written. */
       AUDIT_VERIFY_OPEN = 3,
       AUDIT_VERIFY_EMPTY = 4, /* no audit record at all: nothing was verified */
       /* With a key: every seal valid and every chain intact, but the
        * last records of a log come after its last seal, so no signature
        * proves them (a broker killed or still running, or records
        * appended by someone without the key); named in the report. */
       AUDIT_VERIFY_UNSEALED = 5,
};
int audit_verify(char **files, size_t n, const char *pubkey_file, FILE *report);

/* Checks records one at a time as they are read (stepdown audit show), with
 * no look-ahead: whether each one belongs to an intact chain so far.  Only
 * the links are checked (not signatures: verify --pubkey does that). */
enum audit_row {
        AUDIT_ROW_OK,        /* linked to the previous record of its log, from its seq 1 */
        AUDIT_ROW_UNCHECKED, /* its log began before this input: no link to seq 1 */
        AUDIT_ROW_BAD,       /* its log's chain is broken at or before this record */
};
struct audit_chain;
struct audit_chain *audit_chain_new(void); /* NULL: out of memory */
/* rec[0..len): the record as parsed into *r (audit_record_parse). */
enum audit_row audit_chain_check(struct audit_chain *c, const char *rec, size_t len,
                                 const struct audit_record *r);
void audit_chain_free(struct audit_chain *c); /* NULL-safe */

/* Creates an Ed25519 key pair: secret_path (mode 0400) and public_path
 * (0444), each one line of hex.  Refuses to overwrite existing files. */
int audit_keygen(const char *secret_path, const char *public_path, char *err, size_t errlen);
