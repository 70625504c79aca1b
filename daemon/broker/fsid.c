/* See fsid.h.  Raw capget/capset (as caps.c): no libcap for two calls. */
#include "fsid.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

static int effective_get(uint32_t eff[2], struct __user_cap_data_struct d[2])
{
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
        if (syscall(SYS_capget, &h, d) < 0)
                return -errno;
        eff[0] = d[0].effective;
        eff[1] = d[1].effective;
        return 0;
}

/* Sets the effective set back to eff (it stays within permitted: the
 * permitted set does not change with the fsuid). */
static int effective_set(const uint32_t eff[2])
{
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
        struct __user_cap_data_struct d[2];
        uint32_t now[2] = {0, 0};
        int r = effective_get(now, d);
        if (r < 0)
                return r;
        if (now[0] == eff[0] && now[1] == eff[1])
                return 0;
        d[0].effective = eff[0];
        d[1].effective = eff[1];
        return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

int fsid_enter(uid_t uid, gid_t gid, struct fsid_saved *s)
{
        struct __user_cap_data_struct d[2];
        int r = effective_get(s->effective, d);
        if (r < 0)
                return r;
        /* setfsuid/setfsgid return the previous id and say nothing of
         * failure: ask again to see whether it took. */
        s->fsgid = (gid_t)setfsgid(gid);
        if ((gid_t)setfsgid(gid) != gid) {
                setfsgid(s->fsgid);
                return -EPERM;
        }
        s->fsuid = (uid_t)setfsuid(uid);
        if ((uid_t)setfsuid(uid) != uid) {
                setfsuid(s->fsuid);
                setfsgid(s->fsgid);
                return -EPERM;
        }
        r = effective_set(s->effective);
        if (r < 0) {
                fsid_leave(s);
                return r;
        }
        return 0;
}

void fsid_leave(const struct fsid_saved *s)
{
        setfsuid(s->fsuid);
        setfsgid(s->fsgid);
        if ((uid_t)setfsuid(s->fsuid) != s->fsuid || (gid_t)setfsgid(s->fsgid) != s->fsgid ||
            effective_set(s->effective) < 0) {
                log_error("restoring the broker's filesystem ids and capabilities failed");
                abort();
        }
}
