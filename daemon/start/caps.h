/* Capability sets of the current process, by raw capget/capset/prctl so
 * that a static stepdownd needs no extra library for a pure launch. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Highest capability number the running kernel knows. */
int caps_last_cap(void);
/* True if cap is in the effective set. */
bool caps_have_effective(int cap);
/* Drops cap from the bounding set for every cap; -EPERM without
 * CAP_SETPCAP. */
int caps_drop_bounding(void);
/* Clears the ambient set (no-op on kernels without ambient caps). */
int caps_clear_ambient(void);
/* Clears effective, permitted and inheritable. */
int caps_clear_all(void);
/* 0 if every set (effective, permitted, inheritable, ambient, and the
 * bounding set when check_bounding) is empty; else -ENOTEMPTY and the
 * name of the first non-empty set in *which. */
int caps_verify_empty(bool check_bounding, const char **which);

/* Least capability for the resident broker (harden.c): drops every
 * capability not in keep (bit N = capability N) from the bounding set
 * (only when CAP_SETPCAP is effective; *bounding_dropped says whether it
 * was), clears the ambient and inheritable sets, and leaves effective =
 * permitted = keep & the current permitted set. */
int caps_limit(uint64_t keep, bool *bounding_dropped);
/* The current permitted set as a bit mask. */
int caps_permitted(uint64_t *out);
