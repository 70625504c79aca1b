#include "caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT           47
#define PR_CAP_AMBIENT_IS_SET    1
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

static int capget_v3(struct __user_cap_data_struct d[2])
{
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        return syscall(SYS_capget, &h, d) < 0 ? -errno : 0;
}

int caps_last_cap(void)
{
        static int last = -1;
        if (last >= 0)
                return last;
        FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
        if (f) {
                if (fscanf(f, "%d", &last) != 1)
                        last = -1;
                fclose(f);
        }
        if (last < 0) {
                /* No /proc: probe the bounding set. */
                for (last = 0; last < 64; last++)
                        if (prctl(PR_CAPBSET_READ, last + 1, 0, 0, 0) < 0)
                                break;
        }
        return last;
}

bool caps_have_effective(int cap)
{
        struct __user_cap_data_struct d[2];
        if (capget_v3(d) < 0)
                return false;
        return d[cap / 32].effective & (1u << (cap % 32));
}

int caps_drop_bounding(void)
{
        int last = caps_last_cap();
        for (int c = 0; c <= last; c++) {
                if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 0)
                        continue;
                if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
                        return -errno;
        }
        return 0;
}

int caps_clear_ambient(void)
{
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                return -errno;
        return 0;
}

int caps_clear_all(void)
{
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        struct __user_cap_data_struct d[2];
        memset(d, 0, sizeof(d));
        return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

int caps_verify_empty(bool check_bounding, const char **which)
{
        struct __user_cap_data_struct d[2];
        int r = capget_v3(d);
        if (r < 0)
                return r;
        for (int i = 0; i < 2; i++) {
                if (d[i].effective) {
                        *which = "effective";
                        return -ENOTEMPTY;
                }
                if (d[i].permitted) {
                        *which = "permitted";
                        return -ENOTEMPTY;
                }
                if (d[i].inheritable) {
                        *which = "inheritable";
                        return -ENOTEMPTY;
                }
        }
        int last = caps_last_cap();
        for (int c = 0; c <= last; c++) {
                if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) > 0) {
                        *which = "ambient";
                        return -ENOTEMPTY;
                }
                if (check_bounding && prctl(PR_CAPBSET_READ, c, 0, 0, 0) > 0) {
                        *which = "bounding";
                        return -ENOTEMPTY;
                }
        }
        return 0;
}

int caps_permitted(uint64_t *out)
{
        struct __user_cap_data_struct d[2];
        int r = capget_v3(d);
        if (r < 0)
                return r;
        *out = (uint64_t)d[1].permitted << 32 | d[0].permitted;
        return 0;
}

int caps_limit(uint64_t keep, bool *bounding_dropped)
{
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        struct __user_cap_data_struct d[2];
        uint64_t prm;
        int last = caps_last_cap();
        int r;

        *bounding_dropped = false;
        /* The bounding set first: dropping from it needs CAP_SETPCAP,
         * which the capset below takes away. */
        if (caps_have_effective(CAP_SETPCAP)) {
                for (int c = 0; c <= last && c < 64; c++) {
                        if (keep & (UINT64_C(1) << c) || prctl(PR_CAPBSET_READ, c, 0, 0, 0) <= 0)
                                continue;
                        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
                                return -errno;
                }
                *bounding_dropped = true;
        }
        r = caps_clear_ambient();
        if (r < 0)
                return r;
        r = caps_permitted(&prm);
        if (r < 0)
                return r;
        prm &= keep;
        memset(d, 0, sizeof(d));
        d[0].effective = d[0].permitted = (uint32_t)prm;
        d[1].effective = d[1].permitted = (uint32_t)(prm >> 32);
        return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}
