/* errno <-> symbolic name ("ENOENT"), for the wire protocol and audit. */
#pragma once

/* Returns the symbolic name of err (sign ignored), or NULL if unknown. */
const char *errno_name(int err);
/* Returns the positive errno for a symbolic name, or 0 if unknown. */
int errno_from_name(const char *name);
