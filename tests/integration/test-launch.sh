#!/bin/bash
# stepdownd as a pure launcher (no policy): identity, PID, capabilities,
# signals, fds, exit statuses, refusals; differential against Debian's gosu.
. "$(dirname "$0")/lib.sh"

# Every command runs with a deadline (issue 17, item 12): a regression that
# hangs fails its case within LAUNCH_TIMEOUT seconds, saying so, instead of
# holding the whole file until meson's limit.  The container's namespace
# goes with it (unshare --kill-child: its PID 1 dies with unshare).
LAUNCH_TIMEOUT=${LAUNCH_TIMEOUT:-30}
deadline() {
        timeout -k 5 "$LAUNCH_TIMEOUT" "$@"
        local rc=$?
        # 124: stopped by SIGTERM; 137: deaf to it, killed 5 s later
        { [ "$rc" = 124 ] || [ "$rc" = 137 ]; } && echo "timed out after ${LAUNCH_TIMEOUT}s: $*" >&2
        return "$rc"
}
eval "$(declare -f in_container | sed 's/unshare --pid --fork/deadline unshare --kill-child --pid --fork/')"
if ! declare -f in_container | grep -q 'deadline unshare --kill-child'; then
        echo "Bail out! in_container (lib.sh) changed shape: no deadline could be added"
        exit 1
fi

GOSU=$(command -v gosu || true)

cat >"$T/probe" <<'SH'
#!/bin/sh
g=$(sed -n 's/^Groups:[[:space:]]*//p' /proc/self/status | tr -s ' \t' ' ' | sed 's/ $//')
echo "uid=$(id -u) gid=$(id -g) groups=[$g] home=${HOME-unset}"
SH
chmod 755 "$T/probe"
ln -s "$STEPDOWND" "$T/gosu"

# --- 1. the command is PID 1 and keeps the identity the spec names -------
out=$(in_container "$STEPDOWND" -u app -- /bin/sh -c 'echo pid=$$ $(id -u):$(id -g)')
is "$out" "pid=1 1000:1000" "command runs as PID 1 with app's uid:gid"

out=$(in_container "$STEPDOWND" -u app -- "$T/probe")
is "$out" "uid=1000 gid=1000 groups=[5 2000 2000] home=/home/app" \
        "app: supplementary groups from /etc/group in file order, HOME from passwd"

out=$(HOME=/elsewhere in_container "$STEPDOWND" -u nobody -- "$T/probe")
is "$out" "uid=65534 gid=65534 groups=[1 5 60 100 2000] home=/nonexistent" \
        "HOME is replaced by the passwd entry's, as gosu does"

out=$(in_container "$STEPDOWND" -u 4242 -- "$T/probe")
is "$out" "uid=4242 gid=0 groups=[] home=/" "numeric uid without passwd entry: gid stays, HOME=/"

out=$(in_container "$STEPDOWND" -u 4242:4343 -- "$T/probe")
is "$out" "uid=4242 gid=4343 groups=[] home=/" "numeric uid:gid without entries"

# --- 2. differential: every spec form against Debian's gosu ---------------
if [ -n "$GOSU" ]; then
        users=('' 0 root 1 daemon games 1000 app 1001 bob nohome 4242 65534 nobody +1000 007
               -1 99999999999 nosuch 0day)
        groups=(NONE '' 0 root 60 games 1000 app 2000 staff staff2 4242 nogroup nosuch -5)
        : >"$T/specs"
        for u in "${users[@]}"; do
                for g in "${groups[@]}"; do
                        if [ "$g" = NONE ]; then printf '%s\n' "$u"; else printf '%s:%s\n' "$u" "$g"; fi
                done
        done >>"$T/specs"
        cat >"$T/matrix.sh" <<'SH'
#!/bin/bash
# Runs every spec through gosu, stepdownd -u and stepdownd-as-gosu; prints
# one line per spec and tool, errors reduced to their exit status.
# A spec that hangs is cut at 30 s (timeout's rc 124 shows in its line).
run() { local o; o=$(timeout -k 5 30 "$@" 2>/dev/null) ; local rc=$?; [ $rc = 0 ] && echo "$o" || echo "error rc=$rc"; }
while IFS= read -r spec; do
        a=$(run "$GOSU" "$spec" "$T/probe")
        b=$(run "$STEPDOWND" -u "$spec" -- "$T/probe")
        c=$(run "$T/gosu" "$spec" "$T/probe")
        printf '%s|%s|%s|%s\n' "$spec" "$a" "$b" "$c"
done <"$T/specs"
SH
        chmod 755 "$T/matrix.sh"
        GOSU=$GOSU T=$T STEPDOWND=$STEPDOWND LAUNCH_TIMEOUT=300 in_container "$T/matrix.sh" >"$T/matrix.out"
        total=$(wc -l <"$T/matrix.out")
        bad=$(awk -F'|' '$2 != $3 || $2 != $4' "$T/matrix.out")
        is "$total" "$(wc -l <"$T/specs")" "matrix ran every spec ($total)"
        is "$bad" "" "uid, gid, groups and HOME match gosu for all $total specs (stepdownd -u and as gosu)"
        errs=$(grep -c 'error rc=1|error rc=1|error rc=1' "$T/matrix.out")
        like "$errs" '^[1-9][0-9]*$' "the matrix includes refused specs ($errs), refused by both"

        # Malformed lines: gosu and stepdownd read them the same way.
        cp "$T/passwd" "$T/passwd.good"
        cp "$T/group" "$T/group.good"
        printf '#hash:x:7:7::/h:/bin/sh\n  sp:x:8:8::/sp:/bin/sh  \nshort:x:9\n\n:x:10:10::/empty:\ndup:x:100:100::/d1:\ndup:x:101:101::/d2:\ncrlf:x:11:11::/crlf:/bin/sh\r\n' >>"$T/passwd"
        printf 'badg:x:zz:nobody\n  sg:x:62: nobody , dup \nm1:x:63:dup,,nobody\nm1:x:64:dup\nlast:x:65:dup' >>"$T/group"
        printf '%s\n' '#hash' sp short dup dup: crlf nobody nobody:m1 dup:64 ':62' 9:badg >"$T/specs"
        GOSU=$GOSU T=$T STEPDOWND=$STEPDOWND LAUNCH_TIMEOUT=300 in_container "$T/matrix.sh" >"$T/matrix.out"
        # Deliberate differences (stepdownd(8), DIFFERENCES FROM GOSU): an id
        # field that is not a number is gid 0 for gosu and refused here:
        # short (no gid field), nobody (listed by badg, gid "zz"), 9:badg.
        differ='^(short|nobody|9:badg)[|]'
        bad=$(grep -Ev "$differ" "$T/matrix.out" | awk -F'|' '$2 != $3 || $2 != $4')
        is "$bad" "" "malformed passwd/group lines are read as gosu reads them (but the 3 below)"
        got=$(grep -E "$differ" "$T/matrix.out" | sort)
        is "$got" "9:badg|uid=9 gid=0 groups=[] home=|error rc=1|error rc=1
nobody|uid=65534 gid=65534 groups=[0 1 5 60 63 100 2000] home=/nonexistent|error rc=1|error rc=1
short|uid=9 gid=0 groups=[] home=|error rc=1|error rc=1" \
                "a garbled gid field: gosu gives gid 0, stepdownd -u and as gosu refuse"
        cp "$T/passwd.good" "$T/passwd"
        cp "$T/group.good" "$T/group"
else
        not_ok "Debian's gosu is not installed (scripts/deps installs it)"
fi

# --- 3. names that map to root are refused --------------------------------
out=$(in_container "$STEPDOWND" -u toor -- /bin/true 2>&1; echo "rc=$?")
like "$out" "toor resolves to uid 0: its passwd entry maps it to root" "a name mapped to uid 0 is refused"
like "$out" "rc=1$" "... with exit status 1"
out=$(in_container "$STEPDOWND" -u garbled -- /bin/true 2>&1; echo "rc=$?")
like "$out" "/etc/passwd:8: user garbled has a uid field that is not a number; refusing.*rc=1" \
        "a garbled uid field (gosu: uid 0) is refused, naming file and line"
# A name that maps to gid 0 (gosu runs it with gid 0): refused unless the
# spec says root or 0 for the group; a number is taken as given.
cp "$T/passwd" "$T/passwd.good"
cp "$T/group" "$T/group.good"
echo 'ogid:x:1100:0::/o:/bin/sh' >>"$T/passwd"
echo 'wheel:x:0:zm' >>"$T/group"
echo 'zm:x:1101:1101::/zm:/bin/sh' >>"$T/passwd"
out=$(in_container "$STEPDOWND" -u ogid -- /bin/true 2>&1; echo "rc=$?")
like "$out" "user ogid has gid 0 \(root's group\) in /etc/passwd:10; refusing \(say ogid:0 or ogid:root.*rc=1$" \
        "a user name whose passwd entry has gid 0 is refused"
out=$(in_container "$STEPDOWND" -u app:wheel -- /bin/true 2>&1; echo "rc=$?")
like "$out" "group wheel resolves to gid 0: /etc/group:12 maps it to root's group.*rc=1$" \
        "a group name that maps to gid 0 is refused"
out=$(in_container "$T/gosu" zm /bin/true 2>&1; echo "rc=$?")
like "$out" "/etc/group:12: group wheel \(gid 0, root's group\) lists zm as a member.*rc=1$" \
        "supplementary gid 0 through a user name is refused (gosu mode too)"
out=$(in_container "$STEPDOWND" -u ogid:0 -- "$T/probe" 2>&1; echo "rc=$?")
is "$out" "uid=1100 gid=0 groups=[] home=/o rc=0" "USER:0 says gid 0 on purpose: allowed"
out=$(in_container "$T/gosu" app:root "$T/probe" 2>&1; echo "rc=$?")
is "$out" "uid=1000 gid=0 groups=[] home=/home/app rc=0" "USER:root: allowed"
out=$(in_container "$STEPDOWND" -u 1101 -- "$T/probe" 2>&1; echo "rc=$?")
is "$out" "uid=1101 gid=1101 groups=[0] home=/zm rc=0" "a numeric spec is taken as given (gosu, Docker)"
if [ -n "$GOSU" ]; then
        out=$(in_container "$GOSU" app:wheel "$T/probe" 2>&1; echo "rc=$?")
        is "$out" "uid=1000 gid=0 groups=[] home=/home/app rc=0" \
                "(gosu itself runs app:wheel with gid 0: a deliberate difference)"
fi
cp "$T/passwd.good" "$T/passwd"
cp "$T/group.good" "$T/group"
out=$(in_container "$T/gosu" toor /bin/true 2>&1; echo "rc=$?")
like "$out" "maps it to root.*rc=1" "refused in gosu mode too"
out=$(in_container "$STEPDOWND" -u root -- /bin/sh -c 'id -u' 2>&1)
is "$out" "0" "the literal name root is allowed"

# --- 4. bad specs: clear errors, exit 1 ------------------------------------
out=$(in_container "$STEPDOWND" -u nosuch -- /bin/true 2>&1; echo "rc=$?")
like "$out" "user nosuch: unable to find user nosuch: no matching entries in passwd file" "unknown user named"
like "$out" "rc=1$" "unknown user: exit 1"
out=$(in_container "$STEPDOWND" -u 0day -- /bin/true 2>&1; echo "rc=$?")
like "$out" "0day: not a number, and no such user.*rc=1" "0day: neither a number nor a user"
out=$(in_container "$STEPDOWND" -u app:nosuch -- /bin/true 2>&1; echo "rc=$?")
like "$out" "unable to find group nosuch.*rc=1" "unknown group named"
out=$(in_container "$STEPDOWND" -u 99999999999 -- /bin/true 2>&1; echo "rc=$?")
like "$out" "range 0-2147483647.*rc=1" "out-of-range uid"

# --- 5. capabilities, no_new_privs, umask ----------------------------------
out=$(in_container "$STEPDOWND" -u app -- /bin/sh -c 'grep ^Cap /proc/self/status' | awk '{print $1 $2}' | tr '\n' ' ')
is "$out" "CapInh:0000000000000000 CapPrm:0000000000000000 CapEff:0000000000000000 CapBnd:0000000000000000 CapAmb:0000000000000000 " \
        "every capability set is empty, bounding and ambient included"
out=$(in_container "$STEPDOWND" -u app -- /bin/sh -c 'grep ^NoNewPrivs /proc/self/status')
like "$out" "NoNewPrivs:[[:space:]]+0" "no_new_privs off by default"
out=$(in_container "$STEPDOWND" --no-new-privs -u app -- /bin/sh -c 'grep ^NoNewPrivs /proc/self/status')
like "$out" "NoNewPrivs:[[:space:]]+1" "--no-new-privs shows NoNewPrivs: 1"
out=$(in_container "$STEPDOWND" --umask 0027 -u app -- /bin/sh -c umask)
is "$out" "0027" "--umask sets the command's umask"
out=$(in_container "$STEPDOWND" --umask 999 -u app -- /bin/true 2>&1; echo "rc=$?")
like "$out" "--umask 999: expected an octal mode.*rc=1" "a bad --umask is refused"

# --- 6. session, terminal, fds ---------------------------------------------
out=$(in_container /bin/sh -c 'cut -d" " -f6,7 /proc/$$/stat; exec "$0" -u app -- /bin/sh -c "cut -d\" \" -f1,6,7 /proc/\$\$/stat"' "$STEPDOWND")
set -- $out
is "$3 $4 $5" "1 $1 $2" "same PID, session and controlling terminal after exec"
if command -v script >/dev/null; then
        out=$(deadline script -qec "$(printf '%q ' unshare --kill-child --pid --fork --mount --mount-proc /bin/sh -c 'tty; exec "$0" -u 1000 -- tty' "$STEPDOWND")" /dev/null | tr -d '\r')
        set -- $out
        like "${1:-} ${2:-}" "^/dev/pts/[0-9]+ /dev/pts/[0-9]+$" "a terminal is present under script(1)"
        is "${2:-}" "${1:-}" "the command keeps the controlling terminal"
fi
# Close every fd above 2 first (the test runner may leak some), then see
# that the command holds exactly 0, 1, 2 plus one we pass on purpose.  The
# command itself lists its fds (ls -l /proc/self/fd as the exec'd command,
# not a shell that may still hold pipe fds while it sets up a pipeline);
# the one entry that is ls's own handle on /proc/PID/fd is left out.
fds() {
        in_container /bin/bash -c 'for f in /proc/$$/fd/*; do n=${f##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-"; done; exec 7</dev/null; exec "$@"' \
                _ "$@" 2>/dev/null |
                awk '$(NF-1) == "->" && $NF !~ "^/proc/[0-9]+/fd$" { print $(NF-2) }' | sort -n | tr '\n' ' '
}
out=$(fds "$STEPDOWND" -u app -- ls -l /proc/self/fd)
is "$out" "0 1 2 7 " "no fd opened by stepdownd is inherited (only 0-2 and the caller's fd 7)"
out=$(fds "$T/gosu" app ls -l /proc/self/fd)
is "$out" "0 1 2 7 " "... as gosu too"

# --- 7. SIGTERM to PID 1 reaches the command --------------------------------
unshare --kill-child --pid --fork --mount --mount-proc --propagation private -- /bin/bash -c \
        'mount --bind "$1" /etc/passwd; exec "$2" -u app -- /bin/sh -c "trap \"echo got-TERM; exit 7\" TERM; echo ready; while :; do sleep 0.05; done"' \
        _ "$T/passwd" "$STEPDOWND" >"$T/sig.out" 2>&1 &
upid=$!
for _ in $(seq 100); do grep -q ready "$T/sig.out" 2>/dev/null && break; sleep 0.05; done
child=$(pgrep -P "$upid" | head -1)
kill -TERM "$child"
(sleep "$LAUNCH_TIMEOUT"; kill -KILL "$upid" 2>/dev/null) &
watchdog=$!
wait "$upid"
rc=$?
kill "$watchdog" 2>/dev/null
is "$(head -2 "$T/sig.out" | tr '\n' ' ')" "ready got-TERM " "SIGTERM sent to PID 1 reaches the command"
is "$rc" "7" "the command's exit status comes back"

# --- 8. exit statuses for a command that cannot run ------------------------
out=$(in_container "$STEPDOWND" -u app -- no-such-command-xyz 2>&1; echo "rc=$?")
like "$out" "no-such-command-xyz: command not found in PATH=.*rc=127" "not found: 127, says which"
printf '#!/bin/sh\necho hi\n' >"$T/noexec"
chmod 644 "$T/noexec"
out=$(in_container "$STEPDOWND" -u app -- "$T/noexec" 2>&1; echo "rc=$?")
like "$out" "cannot run .*noexec: Permission denied.*rc=126" "not executable: 126, says which"
out=$(in_container "$STEPDOWND" -u app 2>&1; echo "rc=$?")
like "$out" "no command given.*rc=1" "no command: usage error, exit 1"
out=$(deadline "$STEPDOWND" --bogus 2>&1; echo "rc=$?")
like "$out" "unrecognized option.*rc=1" "unknown option: exit 1"
out=$(deadline "$STEPDOWND" -- /bin/true 2>&1; echo "rc=$?")
like "$out" "no user given.*rc=1" "no user: exit 1"

# --- 9. started without root ------------------------------------------------
out=$(in_container setpriv --reuid=1000 --regid=1000 --clear-groups -- "$STEPDOWND" -u app -- /bin/sh -c 'echo $(id -u):$(id -g)' 2>&1; echo "rc=$?")
like "$out" "^1000:1000 rc=0$" "not root but already the target: the command just runs"
out=$(in_container setpriv --reuid=1000 --regid=1000 --clear-groups -- "$STEPDOWND" -u bob -- /bin/true 2>&1; echo "rc=$?")
like "$out" "running as uid 1000 gid 1000 without root .*cannot switch to bob \\(uid 1001 gid 1001\\).*rc=1" \
        "not root and not the target: the error names the current uid and what is missing"

# --- 10. gosu mode -----------------------------------------------------------
out=$(deadline "$T/gosu" 2>&1; echo "rc=$?")
like "$out" "^Usage: gosu user-spec command \\[args\\].*rc=1$" "gosu with no arguments: usage on stderr, exit 1"
out=$(deadline "$T/gosu" app 2>&1; echo "rc=$?")
like "$out" "Usage: gosu.*rc=1$" "gosu with a spec but no command: usage, exit 1"
for h in --help -h -?; do
        out=$(deadline "$T/gosu" "$h" 2>/dev/null; echo "rc=$?")
        like "$out" "Usage: gosu.*rc=0$" "gosu $h: usage on stdout, exit 0"
done
for v in --version -v; do
        out=$(deadline "$T/gosu" "$v"; echo "rc=$?")
        like "$out" "^1.14-compatible .*rc=0$" "gosu $v"
done
out=$(in_container "$T/gosu" app no-such-command-xyz 2>&1; echo "rc=$?")
is "$out" "error: exec: \"no-such-command-xyz\": executable file not found in \$PATH rc=1" "gosu mode: gosu's not-found error and exit 1"
out=$(in_container "$T/gosu" nosuch true 2>&1; echo "rc=$?")
is "$out" "error: failed switching to \"nosuch\": unable to find user nosuch: no matching entries in passwd file rc=1" "gosu mode: gosu's unknown-user error"
cp "$STEPDOWND" "$T/sd-suid"
chmod 4755 "$T/sd-suid"
ln -s "$T/sd-suid" "$T/suid/gosu" 2>/dev/null || { mkdir "$T/suid"; ln -s "$T/sd-suid" "$T/suid/gosu"; }
out=$(deadline "$T/suid/gosu" app true 2>&1; echo "rc=$?")
like "$out" "installed with the 'setuid' bit set.*rc=1$" "gosu mode refuses a set-uid binary"
chmod 2755 "$T/sd-suid"
out=$(deadline "$T/suid/gosu" app true 2>&1; echo "rc=$?")
like "$out" "installed with the 'setgid' bit set.*rc=1$" "gosu mode refuses a set-gid binary"
out=$(in_container /bin/sh -c 'exec "$0" app "$@"' "$T/gosu" /bin/sh -c 'echo "$@"' sh a 'b c' 2>&1)
is "$out" "a b c" "an entrypoint's 'exec gosu app \"\$@\"' works unchanged"

# --- 11. a set-uid/set-gid stepdownd is refused in every mode ---------------
# Run by an unprivileged user (setpriv) in a namespace: without the check,
# "stepdownd -u root -- id -u" prints 0.
printf 'user root\nallow root mkdir /nonexistent-sd/**\n' >"$T/suid.conf"
chmod 644 "$T/suid.conf"
as_user() { in_container setpriv --reuid=1000 --regid=1000 --clear-groups -- "$@"; }
suid_bits="4755 2755"
if findmnt -no OPTIONS -T "$T" | grep -qw nosuid; then
        ok "# SKIP $T is on a nosuid mount: set-uid bits have no effect there"
        suid_bits=""
fi
for bits in $suid_bits; do
        cp "$STEPDOWND" "$T/sd-suid"
        chown 0:0 "$T/sd-suid"
        chmod "$bits" "$T/sd-suid"
        rm -rf "$T/suid"
        mkdir "$T/suid"
        ln -s "$T/sd-suid" "$T/suid/gosu"
        for mode in "-u root -- id -u" "--init -u root -- id -u" "--serve -c $T/suid.conf" \
                "--check -c $T/suid.conf" "--help" "-c $T/suid.conf -- id -u"; do
                # shellcheck disable=SC2086
                out=$(as_user "$T/sd-suid" $mode 2>&1; echo "rc=$?")
                like "$out" "^stepdownd: refusing to run set-uid, set-gid or with file capabilities \(real uid 1000 gid 1000, effective uid [0-9]+ gid [0-9]+, AT_SECURE 1\).* rc=1$" \
                        "mode $bits: stepdownd $mode by uid 1000 is refused before anything runs"
        done
        out=$(as_user "$T/suid/gosu" root id -u 2>&1; echo "rc=$?")
        like "$out" "^stepdownd: refusing to run set-uid.* rc=1$" "mode $bits: as gosu, by uid 1000: refused"
done
if command -v setcap >/dev/null; then
        # File capabilities alone: real and effective ids agree, AT_SECURE is set.
        cp "$STEPDOWND" "$T/sd-suid"
        chmod 755 "$T/sd-suid"
        if setcap cap_setuid,cap_setgid+ep "$T/sd-suid" 2>/dev/null; then
                out=$(as_user "$T/sd-suid" -u root -- id -u 2>&1; echo "rc=$?")
                like "$out" "^stepdownd: refusing .*\(real uid 1000 gid 1000, effective uid 1000 gid 1000, AT_SECURE 1\).* rc=1$" \
                        "file capabilities (AT_SECURE) are refused too"
        else
                ok "# SKIP setcap failed on $T"
        fi
fi
rm -f "$T/sd-suid"
rm -rf "$T/suid"
out=$(as_user "$STEPDOWND" -u 1000 -- id -u 2>&1; echo "rc=$?")
is "$out" "1000 rc=0" "an ordinary stepdownd run by uid 1000 for itself still works"

done_testing
