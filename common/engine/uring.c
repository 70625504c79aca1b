/* A minimal io_uring (uring.h): the ring's three mappings, submission in
 * order, completions read with the barriers the kernel's ABI asks for
 * (the tails are published with release stores and read with acquire
 * loads). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uring.h"
#include "util.h"

static int sys_setup(unsigned entries, struct io_uring_params *p)
{
        return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int sys_enter(int fd, unsigned submit, unsigned wait)
{
        return (int)syscall(__NR_io_uring_enter, fd, submit, wait,
                            wait ? IORING_ENTER_GETEVENTS : 0, NULL, (size_t)0);
}

/* Does the kernel know openat and statx for io_uring?  (Both came in
 * 5.6 with the probe; a kernel without the probe is older.) */
static bool supported(int fd)
{
        size_t len = sizeof(struct io_uring_probe) + 256 * sizeof(struct io_uring_probe_op);
        struct io_uring_probe *p = calloc(1, len);
        if (!p)
                return false;
        bool ok = syscall(__NR_io_uring_register, fd, IORING_REGISTER_PROBE, p, 256) == 0 &&
                  p->last_op >= IORING_OP_STATX &&
                  (p->ops[IORING_OP_OPENAT].flags & IO_URING_OP_SUPPORTED) &&
                  (p->ops[IORING_OP_STATX].flags & IO_URING_OP_SUPPORTED);
        free(p);
        return ok;
}

void uring_free(struct uring *u)
{
        if (u->sqes && u->sqes != MAP_FAILED)
                munmap(u->sqes, u->sqes_len);
        if (u->cq_map && u->cq_map != MAP_FAILED && u->cq_map != u->sq_map)
                munmap(u->cq_map, u->cq_len);
        if (u->sq_map && u->sq_map != MAP_FAILED)
                munmap(u->sq_map, u->sq_len);
        safe_close(u->fd);
        *u = (struct uring){.fd = -1};
}

int uring_init(struct uring *u, unsigned entries)
{
        *u = (struct uring){.fd = -1};
        /* one task submits (each walker has its own ring); completions
         * are run when it waits, without interrupting it */
        struct io_uring_params p = {.flags =
                                        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN};
        int fd = sys_setup(entries, &p);
        if (fd < 0 && errno == EINVAL) {
                p = (struct io_uring_params){0};
                fd = sys_setup(entries, &p);
        }
        if (fd < 0)
                return negative_errno();
        u->fd = fd;
        if (!supported(fd)) {
                uring_free(u);
                return -EOPNOTSUPP;
        }
        /* An open that must wait for the disk (a cold cache) runs in a
         * kernel worker thread of this task; each one counts against the
         * container's pids limit.  At most URING_WORKERS of them (a kernel
         * without the cap: its own bound). */
        unsigned max[2] = {URING_WORKERS, URING_WORKERS};
        (void)syscall(__NR_io_uring_register, fd, IORING_REGISTER_IOWQ_MAX_WORKERS, max, 2);
        u->entries = p.sq_entries;
        u->sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
        u->cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
        bool single = p.features & IORING_FEAT_SINGLE_MMAP;
        if (single && u->cq_len > u->sq_len)
                u->sq_len = u->cq_len;
        u->sq_map = mmap(NULL, u->sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                         IORING_OFF_SQ_RING);
        if (u->sq_map == MAP_FAILED)
                goto fail;
        u->cq_map = single ? u->sq_map
                           : mmap(NULL, u->cq_len, PROT_READ | PROT_WRITE,
                                  MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
        if (u->cq_map == MAP_FAILED)
                goto fail;
        u->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
        u->sqes = mmap(NULL, u->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                       IORING_OFF_SQES);
        if (u->sqes == MAP_FAILED)
                goto fail;
        char *sq = u->sq_map, *cq = u->cq_map;
        u->sq_tail = (unsigned *)(sq + p.sq_off.tail);
        u->sq_mask = *(unsigned *)(sq + p.sq_off.ring_mask);
        u->sq_array = (unsigned *)(sq + p.sq_off.array);
        u->cq_head = (unsigned *)(cq + p.cq_off.head);
        u->cq_tail = (unsigned *)(cq + p.cq_off.tail);
        u->cq_mask = *(unsigned *)(cq + p.cq_off.ring_mask);
        u->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
        return 0;
fail:;
        int r = negative_errno();
        uring_free(u);
        return r;
}

struct io_uring_sqe *uring_sqe(struct uring *u, uint64_t user_data)
{
        if (u->queued >= u->entries)
                return NULL;
        unsigned tail = *u->sq_tail + u->queued++;
        unsigned i = tail & u->sq_mask;
        struct io_uring_sqe *e = &u->sqes[i];
        memset(e, 0, sizeof(*e));
        e->user_data = user_data;
        u->sq_array[i] = i;
        return e;
}

int uring_run(struct uring *u, int *res)
{
        unsigned n = u->queued;
        if (n == 0)
                return 0;
        /* publish the entries, then the tail */
        __atomic_store_n(u->sq_tail, *u->sq_tail + n, __ATOMIC_RELEASE);
        u->queued = 0;
        unsigned submitted = 0, done = 0;
        while (done < n) {
                unsigned head = *u->cq_head;
                unsigned tail = __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE);
                for (; head != tail; head++, done++) {
                        const struct io_uring_cqe *c = &u->cqes[head & u->cq_mask];
                        res[c->user_data] = c->res;
                }
                __atomic_store_n(u->cq_head, head, __ATOMIC_RELEASE);
                if (done >= n)
                        break;
                int r = sys_enter(u->fd, n - submitted, n - done);
                if (r < 0 && errno != EINTR && errno != EAGAIN && errno != EBUSY)
                        return negative_errno();
                if (r > 0)
                        submitted += (unsigned)r;
        }
        return 0;
}
