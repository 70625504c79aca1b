#!/bin/sh
# A stand-in application: shows who it runs as, writes to its volume and
# asks the broker for the one privileged thing the policy allows.  Replace
# it with your server (CMD in the Dockerfile).
set -eu
echo "app: uid=$(id -u) gid=$(id -g) groups=$(id -G) pid=$$"
echo "app: started" >>/data/app.log
echo "app: /data is $(stat -c '%U:%G %a' /data), app.log is $(stat -c '%U' /data/app.log)"

# The secret is root's and mode 0400: the app cannot open it itself...
if cat /run/secrets/db-password >/dev/null 2>&1; then
        echo "app: could read the secret directly (it is not root-only)"
fi
# ...but the broker opens it and hands the fd over as fd 3.
stepdown open -r /run/secrets/db-password -- \
        sh -c 'echo "app: secret via broker: $(wc -c <&3) bytes"'

# Everything the policy does not list is refused (exit status 4).
rc=0
stepdown open -r /etc/shadow -- true 2>/dev/null || rc=$?
echo "app: /etc/shadow refused with status $rc"

# A real image would `exec` its server here.
if [ $# -gt 0 ]; then
        exec "$@"
fi
