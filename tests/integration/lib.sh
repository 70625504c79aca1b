# Shared helpers for the integration tests (bash, TAP output).
#
# Each test runs the real binaries in throwaway "containers": a new pid and
# mount namespace (unshare --pid --fork --mount --mount-proc) with private
# /etc/passwd and /etc/group bind-mounted over the real ones, so the host's
# files are never touched and everything is gone when the namespace ends.

set -u

: "${STEPDOWND:?STEPDOWND must name the stepdownd binary}"

T_NUM=0
T_FAILED=0

# Close whatever fds the test runner leaked into us (bash keeps the script
# itself on fd 255), so "the command holds only 0, 1, 2" checks measure
# stepdown, not the environment.
for _fd in /proc/$$/fd/*; do
        _n=${_fd##*/}
        if [ "$_n" -gt 2 ] && [ "$_n" -lt 255 ]; then
                eval "exec $_n>&-" 2>/dev/null
        fi
done
unset _fd _n

if [ "$(id -u)" != 0 ] || ! unshare --pid --fork --mount --mount-proc true 2>/dev/null; then
        echo "1..0 # SKIP needs root and namespaces"
        exit 0
fi

T=$(mktemp -d /tmp/stepdown-test.XXXXXX)
chmod 755 "$T"
trap 'rm -rf "$T"' EXIT

ok() { T_NUM=$((T_NUM + 1)); echo "ok $T_NUM - $*"; }
not_ok() {
        T_NUM=$((T_NUM + 1))
        T_FAILED=$((T_FAILED + 1))
        echo "not ok $T_NUM - $*"
}
# Output is compared with newlines turned into spaces (and no trailing
# space), so "cmd 2>&1; echo rc=$?" reads as one line.
flat() { printf '%s' "$1" | tr '\n' ' ' | sed 's/ *$//'; }
# is ACTUAL EXPECTED DESCRIPTION
is() {
        set -- "$(flat "$1")" "$(flat "$2")" "$3"
        if [ "$1" = "$2" ]; then
                ok "$3"
        else
                not_ok "$3"
                { printf 'got:      %s\n' "$1"; printf 'expected: %s\n' "$2"; } | sed 's/^/#   /'
        fi
}
# like ACTUAL PATTERN DESCRIPTION (grep -E pattern)
like() {
        set -- "$(flat "$1")" "$2" "$3"
        if printf '%s\n' "$1" | grep -qE -- "$2"; then
                ok "$3"
        else
                not_ok "$3"
                { printf 'got: %s\n' "$1"; printf 'wanted to match: %s\n' "$2"; } | sed 's/^/#   /'
        fi
}
done_testing() {
        echo "1..$T_NUM"
        [ "$T_FAILED" -eq 0 ]
}

# The test users, in private files.  Ids 1000/1001 exist on the host too;
# these copies carry only our own entries, so the host's never leak in.
write_userdb() {
        cat >"$T/passwd" <<'PW'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
games:x:5:60:games:/usr/games:/usr/sbin/nologin
app:x:1000:1000:App:/home/app:/bin/sh
bob:x:1001:1001::/home/bob:/bin/sh
nohome:x:1002:1002
toor:x:0:0:evil twin:/root:/bin/sh
garbled:x:abc:100::/g:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
PW
        cat >"$T/group" <<'GR'
root:x:0:
daemon:x:1:nobody
tty:x:5:nobody,app
games:x:60:nobody
users:x:100:games,nobody
app:x:1000:
bob:x:1001:
staff:x:2000:app,bob,nobody
# a comment line
staff2:x:2000:app
nogroup:x:65534:
GR
        chmod 644 "$T/passwd" "$T/group"
}
write_userdb

# in_container CMD [ARG...]: runs CMD as PID 1 of a fresh pid+mount
# namespace that sees $T/passwd and $T/group as /etc/passwd and /etc/group.
in_container() {
        unshare --pid --fork --mount --mount-proc --propagation private -- \
                /bin/bash -c 'mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group &&
                              shift 2 && exec "$@"' _ "$T/passwd" "$T/group" "$@"
}
