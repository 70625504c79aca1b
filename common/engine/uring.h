/* A minimal io_uring: one ring per thread, batches of operations
 * submitted together and waited for together.  The recursive chown uses
 * it to open and stat the entries of a directory in a few system calls
 * instead of two each (issue 21: on kernels with page-table isolation a
 * system call costs more than the work it asks for).
 *
 * Only where the caller may use io_uring: before the seccomp filter (its
 * operations are not filtered by it) and where the kernel and the
 * container engine allow it; uring_init() fails (-ENOSYS, -EPERM, ...)
 * otherwise and the caller walks with plain system calls. */
#pragma once

#include <linux/io_uring.h>
#include <stdint.h>
#include <stddef.h>

/* Kernel worker threads a ring may use at most (opens that wait for the
 * disk run there, in parallel). */
#define URING_WORKERS 8

struct uring {
        int fd;
        unsigned entries;
        unsigned queued; /* prepared, not yet submitted */
        unsigned *sq_tail, sq_mask;
        unsigned *sq_array;
        struct io_uring_sqe *sqes;
        unsigned *cq_head, *cq_tail, cq_mask;
        struct io_uring_cqe *cqes;
        void *sq_map, *cq_map;
        size_t sq_len, cq_len, sqes_len;
};

/* A ring of entries (a power of two) that supports openat and statx: 0,
 * or -errno (nothing to free). */
int uring_init(struct uring *u, unsigned entries);
void uring_free(struct uring *u);

/* The next submission entry, zeroed, with user_data set; NULL when
 * entries are already queued. */
struct io_uring_sqe *uring_sqe(struct uring *u, uint64_t user_data);

/* Submits what is queued and waits for all of it: res[user_data] gets
 * each result (user_data < the number queued).  0, or -errno when the
 * ring itself failed (then some results may be missing: set res[] to a
 * value no operation returns before). */
int uring_run(struct uring *u, int *res);
