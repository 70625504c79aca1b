#!/bin/bash
# bind through the broker, every family: tcp (IPv4 and IPv6), udp and unix
# sockets arrive bound (and listening where that applies) as fd 3 with
# LISTEN_FDS=1; binds the policy does not name are refused (exit 4).  Runs
# in its own network namespace, so ports never clash with the host.
. "$(dirname "$0")/lib.sh"
: "${STEPDOWN_CLI:?}"
mkdir -p "$T/run" "$T/socks" "$T/elsewhere"
chmod 755 "$T/socks"
chown 1000:1000 "$T/socks"

cat >"$T/pol.conf" <<EOF2
user app
socket $T/run/sd.sock
allow app bind tcp:127.0.0.1:443
allow app bind tcp:[::1]:8443
allow app bind udp:127.0.0.1:53
allow app bind unix:$T/socks/*
EOF2
chmod 644 "$T/pol.conf"

cat >"$T/app.sh" <<'APP'
SD=$1 T=$2
r() { "$@" 2>&1; echo "rc=$?"; }
probe='echo "fds=$LISTEN_FDS pid_ok=$([ "$LISTEN_PID" = $$ ] && echo y)"; ss -H -ln -p 2>/dev/null | grep -c "pid=$$,fd=3"'
r $SD bind tcp:127.0.0.1:443 -- /bin/bash -c "$probe; exec 5<>/dev/tcp/127.0.0.1/443 && echo connected"
r $SD bind tcp:[::1]:8443 -- /bin/bash -c "$probe; exec 5<>/dev/tcp/::1/8443 && echo connected6"
r $SD bind udp:127.0.0.1:53 -- /bin/bash -c "$probe; ss -H -lnu | grep -c 127.0.0.1:53"
r $SD bind unix:$T/socks/app.sock -- /bin/bash -c "$probe; stat -c '%F %U' $T/socks/app.sock"
echo "--- refused"
r $SD bind tcp:127.0.0.1:80 -- true
r $SD bind tcp:0.0.0.0:443 -- true
r $SD bind udp:127.0.0.1:54 -- true
r $SD bind unix:$T/elsewhere/x.sock -- true
r $SD bind unix:$T/socks/sub/x.sock -- true
APP

out=$(unshare --pid --fork --mount --mount-proc --net --propagation private -- /bin/bash -c '
        ip link set lo up
        mount --bind "$1/passwd" /etc/passwd && mount --bind "$1/group" /etc/group
        exec "$2" -c "$1/pol.conf" -- /bin/bash "$1/app.sh" "$3" "$1"' _ "$T" "$STEPDOWND" "$STEPDOWN_CLI" 2>&1)
printf "%s\n" "$out" | sed "s/^/# /"
allowed=${out%%--- refused*}
refused=${out#*--- refused}

like "$allowed" "^fds=1 pid_ok=y 1 connected rc=0" "tcp 127.0.0.1:443: listening socket as fd 3, LISTEN_FDS/LISTEN_PID set, accepts connections"
like "$allowed" "fds=1 pid_ok=y 1 connected6 rc=0" "tcp [::1]:8443: IPv6 listening socket as fd 3"
like "$allowed" "fds=1 pid_ok=y 1 1 rc=0" "udp 127.0.0.1:53: bound datagram socket as fd 3"
like "$allowed" "fds=1 pid_ok=y 1 socket app rc=0" "unix: listening socket as fd 3, the socket file owned by the caller"
like "$refused" "^ stepdown: bind tcp:127.0.0.1:80: refused by policy.* rc=4 " "tcp port not named: refused (4)"
like "$refused" "bind tcp:0.0.0.0:443: refused by policy.* rc=4 " "tcp address not named: refused (4)"
like "$refused" "bind udp:127.0.0.1:54: refused by policy.* rc=4 " "udp port not named: refused (4)"
like "$refused" "bind unix:$T/elsewhere/x.sock: refused by policy.* rc=4 " "unix path outside the pattern: refused (4)"
like "$refused" "bind unix:$T/socks/sub/x.sock: refused by policy.* rc=4$" "unix path deeper than /*: refused (4)"
is "$(ls "$T/elsewhere" | wc -l)" "0" "no socket file appeared outside the pattern"

done_testing
