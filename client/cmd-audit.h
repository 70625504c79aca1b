/* stepdown audit: verify an audit log chain, make a signing key pair. */
#pragma once

/* argv[0] is "audit".  Returns the exit status: 0 intact / done, 1 the
 * chain is broken (or keygen failed), 2 usage error or unreadable input. */
int cmd_audit(int argc, char **argv);
