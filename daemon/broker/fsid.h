/* Creating a file system object already owned by its final owner
 * (DESIGN.md, "the object the broker checks is the object it acts on"):
 * the creating call (bind of a unix socket, mkdirat) runs with the owner's
 * filesystem uid and gid, so there is no chown by name afterwards.
 *
 * fsid_enter() keeps the effective capability set as it was: without
 * SECBIT_NO_SETUID_FIXUP the kernel drops CAP_CHOWN, CAP_DAC_*, CAP_FOWNER,
 * CAP_FSETID... from it when the fsuid leaves 0 (capabilities(7)), which
 * fsid_enter() puts back from the permitted set with capset(), so the
 * broker creates where the policy says it may whether or not the
 * securebit is set (harden.c sets it when it can).  fsid_leave() restores
 * fsuid, fsgid and the effective set; it cannot fail short of a kernel
 * bug, and aborts if it does (a broker stuck with a caller's fsuid is a
 * broken invariant).  A change of fsuid also makes the kernel clear
 * PR_SET_PDEATHSIG and reset the dumpable flag to fs.suid_dumpable; the
 * broker relies on neither (it watches the application with a pidfd, and
 * its /proc entries stay root's either way). */
#pragma once

#include <stdint.h>
#include <sys/types.h>

struct fsid_saved {
        uid_t fsuid;
        gid_t fsgid;
        uint32_t effective[2];
};

/* 0, or -errno (EPERM: no CAP_SETUID/CAP_SETGID) with nothing changed. */
int fsid_enter(uid_t uid, gid_t gid, struct fsid_saved *s);
void fsid_leave(const struct fsid_saved *s);
