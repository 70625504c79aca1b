#!/bin/bash
# exec and init modes: who is PID 1, where the broker lives and when it
# goes, signal forwarding, zombie reaping, exit statuses, --check, --key-fd,
# policy options (user, umask, no-new-privs) and setup before launch.
. "$(dirname "$0")/lib.sh"

: "${STEPDOWN_CLI:?}"
SD=$STEPDOWN_CLI

mkdir -p "$T/data"
chown 1000:1000 "$T/data"
cat >"$T/pol.conf" <<EOF
user app
socket $T/run/sd.sock
umask 0027
no-new-privs
allow app mkdir $T/data/* mode=0700
EOF
cat >"$T/norules.conf" <<EOF
user app
EOF
chmod 644 "$T/pol.conf" "$T/norules.conf"
export SD T

# --- exec mode ------------------------------------------------------------------
out=$(in_container "$STEPDOWND" -c "$T/pol.conf" -- /bin/sh -c '
echo "pid=$$ uid=$(id -u) umask=$(umask) $(grep NoNewPrivs /proc/self/status | tr -d "\t")"
b=$(pgrep -P 1 -u 0 stepdownd); echo "broker_ppid=$(ps -o ppid= -p $b | tr -d " ") broker_uid=$(ps -o uid= -p $b | tr -d " ")"
echo "broker_sid=$(ps -o sid= -p $b | tr -d " ") broker_pid=$b"
grep -E "^(State|TracerPid)" /proc/$b/status >/dev/null 2>&1; kill -0 $b 2>&1 | grep -o "Operation not permitted"
$SD mkdir $T/data/x && echo mkdir-ok
ls /proc/$$/fd' 2>&1)
like "$out" "pid=1 uid=1000 umask=0027 NoNewPrivs:1" "exec: the app is PID 1 as app; policy umask and no-new-privs applied"
like "$out" "broker_ppid=1 broker_uid=0" "exec: the broker is a root child of the app"
b=$(grep -o 'broker_pid=[0-9]*' <<<"$out" | cut -d= -f2)
like "$out" "broker_sid=$b " "exec: the broker runs in its own session"
like "$out" "Operation not permitted" "exec: the app cannot signal the broker"
like "$out" "mkdir-ok" "exec: the app's request is served"
like "$out" "mkdir-ok 0 1 2 ?$" "exec: the app holds no fd from stepdownd (no listener, no key fd)"

# The broker is gone when the app exits (outside a pid namespace, so the
# kernel's namespace teardown does not do it for us: PDEATHSIG does).
in_mountns() {
        unshare --mount --propagation private -- /bin/bash -c \
                'mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group && shift 2 && exec "$@"' \
                _ "$T/passwd" "$T/group" "$@"
}
in_mountns "$STEPDOWND" -c "$T/pol.conf" -u 0 -- /bin/sh -c 'pgrep -P $$ -u 0 stepdownd >"$T/bpid"; exit 3'
rc=$?
is "$rc" "3" "exec: the app's exit status is stepdownd's"
bpid=$(cat "$T/bpid")
for _ in $(seq 50); do kill -0 "$bpid" 2>/dev/null || break; sleep 0.05; done
if [ -n "$bpid" ] && ! kill -0 "$bpid" 2>/dev/null; then ok "exec: the broker is gone after the app exits"; else not_ok "exec: the broker is gone after the app exits ($bpid)"; fi
[ ! -e "$T/run/sd.sock" ] && [ ! -e "$T/run/sd.key" ] && ok "... and removed its socket and key file" ||
        not_ok "... and removed its socket and key file"

# --- the broker ends with the app, outside a pid namespace (issue 11) -------------
# The app runs as app (uid 1000): PDEATHSIG from a parent that dropped to a
# uid that may not signal root is never delivered, so the broker watches
# the app through a pidfd.
cat >"$T/pol7.conf" <<EOF
user app
socket $T/run7/sd.sock
audit $T/audit7.jsonl
allow app mkdir $T/data/* mode=0700
EOF
chmod 644 "$T/pol7.conf"
broker_gone() { # POLICY: 0 once no stepdownd of that policy is left (5 s at most)
        for _ in $(seq 100); do
                pgrep -f -- "-c $1" >/dev/null || return 0
                sleep 0.05
        done
        return 1
}
in_mountns "$STEPDOWND" -c "$T/pol7.conf" -- true
is "$?" "0" "exec as app outside a pid namespace: an app that exits at once (true), status 0"
broker_gone "$T/pol7.conf" && ok "... no broker is left behind (within 5 s)" ||
        not_ok "... no broker is left behind (within 5 s): $(pgrep -af -- "-c $T/pol7.conf")"
[ ! -e "$T/run7/sd.sock" ] && [ ! -e "$T/run7/sd.key" ] && ok "... its socket and key file are gone" ||
        not_ok "... its socket and key file are gone: $(ls -l "$T/run7")"
like "$(tail -n 1 "$T/audit7.jsonl" 2>&1)" '"event":"stop"' "... and the audit log ends with the broker's stop record"
in_mountns "$STEPDOWND" -c "$T/pol7.conf" -- /bin/sh -c "$SD mkdir $T/data/seven && sleep 0.2; exit 5"
is "$?" "5" "exec as app, served, then exit 5: status 5"
broker_gone "$T/pol7.conf" && [ ! -e "$T/run7/sd.sock" ] && [ ! -e "$T/run7/sd.key" ] &&
        ok "... and the broker went, with its socket and key" || not_ok "... and the broker went, with its socket and key"
pkill -KILL -f -- "-c $T/pol7.conf" 2>/dev/null # only if the test failed

# --- staging directories a stopped broker left (issue 17, item 7) ----------------
# At start, root's empty 0700 .stepdown-mkdir.* directories go from the mkdir
# rules' anchors; the app's own, a non-empty one and other names stay.
mkdir -m 0700 "$T/data/.stepdown-mkdir.0123456789abcdef" "$T/data/.stepdown-mkdir.full" "$T/data/keep"
mkdir -m 0700 "$T/data/.stepdown-mkdir.app" && chown 1000:1000 "$T/data/.stepdown-mkdir.app"
echo f >"$T/data/.stepdown-mkdir.full/f"
out=$(in_container "$STEPDOWND" -c "$T/pol.conf" -- /bin/true 2>&1; echo "rc=$?")
like "$out" "removed 1 staging directory that a stopped broker left in $T/data.*rc=0$" \
        "start: a stale staging directory of root's in a mkdir rule's anchor is removed, saying so"
is "$(ls -A "$T/data" | grep -E 'stepdown-mkdir|keep' | tr '\n' ' ')" ".stepdown-mkdir.app .stepdown-mkdir.full keep " \
        "... the app's own, a non-empty one and other directories are left alone"
rm -rf "$T/data/.stepdown-mkdir.app" "$T/data/.stepdown-mkdir.full" "$T/data/keep"

# --- the socket directory: resolved by fd, no symlink, not writable by others ------
# (issue 11) A canary directory that every planted link points at; after
# each case its owner, mode and content must be as they were.
mkdir -m 0700 "$T/victim"
for f in sd.sock sd.key f; do echo victim >"$T/victim/$f"; chmod 600 "$T/victim/$f"; done
canary() { (cd "$T/victim" && stat -c '%n %u:%g %a %s %h' . * && cat ./*) | md5sum; }
canary0=$(canary)
start_at() { # SOCKET-DIR: starts an app that pings and stats socket and key; output + rc
        printf 'user app\nsocket %s/sd.sock\naudit %s/sp-audit.jsonl\nallow app mkdir %s/data/* mode=0700\n' \
                "$1" "$T" "$T" >"$T/sp.conf"
        chmod 644 "$T/sp.conf"
        in_mountns "$STEPDOWND" -c "$T/sp.conf" -- /bin/sh -c \
                "$SD ping >/dev/null && echo served; stat -c '%U:%G %a' \$STEPDOWN_SOCKET \$STEPDOWN_KEY_FILE" 2>&1
        echo "rc=$?"
}
canary_kept() { is "$(canary)" "$canary0" "... the canary directory keeps owner, mode and content"; }

mkdir "$T/p1" && ln -s "$T/victim" "$T/p1/run"
like "$(start_at "$T/p1/run")" "socket directory $T/p1/run: \"run\" is a symbolic link, which is never followed.*rc=1$" \
        "a symlink as the socket directory: refused, naming it"
canary_kept
mkdir "$T/p2" && ln -s "$T" "$T/p2/anc"
like "$(start_at "$T/p2/anc/victim")" "socket directory $T/p2/anc/victim: \"anc\" is a symbolic link.*rc=1$" \
        "a symlink as an ancestor of the socket directory: refused, naming it"
canary_kept
mkdir -m 0710 "$T/p3" && ln -s "$T/victim/sd.sock" "$T/p3/sd.sock"
like "$(start_at "$T/p3")" "$T/p3/sd.sock: exists and is a symbolic link, not a socket; remove it.*rc=1$" \
        "a symlink planted as the socket: refused, left alone"
[ -L "$T/p3/sd.sock" ] && canary_kept || not_ok "... the planted link is still there"
mkdir -m 0710 "$T/p4" && ln -s "$T/victim/sd.key" "$T/p4/sd.key"
like "$(start_at "$T/p4")" "$T/p4/sd.key: exists and is a symbolic link, not a regular file; remove it.*rc=1$" \
        "a symlink planted as the key file: refused"
is "$(ls "$T/p4")" "sd.key" "... the socket made before it is removed again, the link left alone"
canary_kept
mkdir -m 0710 "$T/p4b" && chgrp 1000 "$T/p4b" && ln "$T/victim/sd.key" "$T/p4b/sd.key"
like "$(start_at "$T/p4b")" "^served app:app 600 app:app 400 rc=0$" \
        "a stale key file that is a hard link to a root file: only the name is replaced"
canary_kept
mkdir -m 0777 "$T/p5"
like "$(start_at "$T/p5")" "socket directory $T/p5: writable by others and not sticky \(mode 0777\).*rc=1$" \
        "a socket directory others can write (0777, not sticky): refused, saying so"
chmod 0770 "$T/p5"
like "$(start_at "$T/p5")" "socket directory $T/p5: writable by its group and not sticky \(mode 0770\).*rc=1$" \
        "... its group can write it (0770): refused"
is "$(ls -A "$T/p5")" "" "... and nothing was created in it"
mkdir -m 1777 "$T/p6"
like "$(start_at "$T/p6")" "^served app:app 600 app:app 400 rc=0$" \
        "a sticky root-owned directory (1777): accepted; socket app's 0600, key app's 0400"
mkdir -m 0755 "$T/p7" && chown 1000:1000 "$T/p7"
like "$(start_at "$T/p7")" "socket directory $T/p7: owned by uid 1000, not root.*rc=1$" \
        "a socket directory the app owns: refused"
mkdir "$T/p8"
like "$(start_at "$T/p8/new")" "^served app:app 600 app:app 400 rc=0$" "a missing socket directory is created"
is "$(stat -c '%u:%g %a' "$T/p8/new")" "0:1000 710" "... root:app (0:1000) 0710, born so"
canary_kept

# Racers: the app exchanges names (renameat2 RENAME_EXCHANGE, as fast as
# it can) while root starts the broker (serve mode), waits for its start
# record, stops it with SIGTERM (it removes socket and key on the way out)
# and checks the canary, again and again.  First the socket directory
# itself, in a parent the app owns, against a symlink to the canary
# directory; then, in a sticky socket directory (accepted), the socket and
# the key against symlinks into the canary directory.  The canary is what
# a misdirected broker would change (issue 17, item 12): root's 0700
# directory holding a stale socket of root's named like the broker's (a
# broker working there deletes it at start), no key file (it would create
# one) and a file; its entries are compared by inode, type, owner and mode.
mkdir -m 0700 "$T/rvictim"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/rvictim/sd.sock"
echo victim >"$T/rvictim/f" && chmod 600 "$T/rvictim/f"
rcanary() { (cd "$T/rvictim" && stat -c '%n %i %F %u:%g %a %s %h' . * && cat f) | md5sum; }
rcanary0=$(rcanary)
cat >"$T/exchange.py" <<'PY'
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
d, secs, links = sys.argv[1], float(sys.argv[2]), sys.argv[3]
pairs = [(sys.argv[i].encode(), sys.argv[i + 1].encode()) for i in range(4, len(sys.argv), 2)]
fd = os.open(d, os.O_PATH | os.O_DIRECTORY)
os.setgroups([]); os.setresgid(1000, 1000, 1000); os.setresuid(1000, 1000, 1000)
for item in filter(None, links.split(",")):  # NAME=TARGET: the app's own symlinks
    name, target = item.split("=", 1)
    os.symlink(target, name, dir_fd=fd)
end, n = time.monotonic() + secs, 0
while time.monotonic() < end:
    for _ in range(1000):
        for a, b in pairs:
            n += libc.renameat2(fd, a, fd, b, 2) == 0  # RENAME_EXCHANGE
print(n)
PY
cat >"$T/restarts.sh" <<'SH'
T=$1 SECS=$2 STEPDOWND=$3 POL=$4 AUDIT=$5
canary() { (cd "$T/rvictim" && stat -c '%n %i %F %u:%g %a %s %h' . * && cat f) | md5sum; }
c0=$(canary) runs=0 served=0 wins=0 end=$((SECONDS + SECS))
: >>"$AUDIT"
while [ $SECONDS -lt $end ]; do
        mapfile -t a <"$AUDIT"
        n0=${#a[@]}
        "$STEPDOWND" --serve -c "$POL" 2>/dev/null &
        b=$!
        for _ in $(seq 1000); do
                kill -0 $b 2>/dev/null || break
                mapfile -t a <"$AUDIT"
                [ ${#a[@]} -gt $((n0 + 1)) ] && { served=$((served + 1)); break; }
                sleep 0.002
        done
        sleep 0.0$((RANDOM % 3)) # sometimes a moment for a swap before the cleanup
        kill -TERM $b 2>/dev/null
        wait $b
        runs=$((runs + 1))
        [ "$(canary)" = "$c0" ] || { wins=$((wins + 1)); break; }
done
echo "$runs $served $wins"
SH
race() { # NAME SOCKET-DIR EXCHANGE-DIR LINKS PAIRS...
        local name=$1 sdir=$2 xdir=$3 links=$4 runs served wins swaps
        shift 4
        printf 'user app\nsocket %s/sd.sock\naudit %s/%s-audit.jsonl\nallow app mkdir %s/data/* mode=0700\n' \
                "$sdir" "$T" "$name" "$T" >"$T/$name.conf"
        chmod 644 "$T/$name.conf"
        python3 "$T/exchange.py" "$xdir" "$RACE_SECS" "$links" "$@" >"$T/$name.swaps" &
        local xpid=$!
        read -r runs served wins < <(in_mountns /bin/bash "$T/restarts.sh" "$T" "$RACE_SECS" "$STEPDOWND" \
                "$T/$name.conf" "$T/$name-audit.jsonl")
        wait "$xpid"
        swaps=$(cat "$T/$name.swaps")
        echo "# $name racer: $runs starts ($served served), $swaps swaps, $wins wins"
        # It raced: enough starts served and names swapped (a loaded 2-core
        # machine does some 10 starts and 100000 swaps in 6 s).
        if [ "$wins" = 0 ] && [ "$runs" -ge 4 ] && [ "$served" -ge 2 ] && [ "$swaps" -ge 1000 ]; then
                ok "racer ($name): $runs broker starts ($served served) against $swaps swaps, canary untouched"
        else
                not_ok "racer ($name): $runs broker starts ($served served), $swaps swaps: $wins wins (wanted 0 wins, at least 4 starts, 2 served, 1000 swaps)"
        fi
        is "$(rcanary)" "$rcanary0" "... the canary directory keeps its entries, owners and modes (root's stale socket, no key)"
}
RACE_SECS=${RACE_SECS:-6}
mkdir "$T/r" && chown 1000:1000 "$T/r"
race socket-directory "$T/r/broker" "$T/r" "broker.l=$T/rvictim" broker broker.l
mkdir -m 1777 "$T/s"
race socket-and-key "$T/s" "$T/s" "sock.l=$T/rvictim/sd.sock,key.l=$T/rvictim/sd.key" sd.sock sock.l sd.key key.l

out=$(in_container "$STEPDOWND" -c "$T/norules.conf" -- /bin/sh -c 'pgrep -c stepdownd; env | grep -c "^STEPDOWN_[SK]"' 2>&1)
is "$out" "0 0" "exec: no allow rule, no broker and no STEPDOWN_* variables"
out=$(in_container "$STEPDOWND" --no-broker -c "$T/pol.conf" -- /bin/sh -c 'pgrep -c stepdownd' 2>&1)
is "$out" "0" "exec: --no-broker keeps none"
out=$(in_container "$STEPDOWND" -u bob -c "$T/pol.conf" -- id -u 2>&1)
is "$out" "1001" "-u overrides the policy's user"
out=$(STEPDOWN_USER=bob in_container "$STEPDOWND" -c "$T/pol.conf" -- id -u 2>&1)
is "$out" "1001" "STEPDOWN_USER overrides the policy's user"

out=$(in_container "$STEPDOWND" --key-fd -c "$T/pol.conf" -- /bin/sh -c '
echo "fd=$STEPDOWN_KEY_FD file=${STEPDOWN_KEY_FILE-unset}"; $SD ping && $SD ping && echo twice' 2>&1)
like "$out" "fd=[0-9]+ file=unset twice" "--key-fd: the key comes as an inherited fd, readable more than once"

# --- --check and policy errors ---------------------------------------------------
out=$(in_mountns "$STEPDOWND" --check -c "$T/pol.conf" 2>&1; echo "rc=$?")
like "$out" "pol.conf:5: allow .*mkdir $T/data/\\* .* rc=0$" "--check prints the rules with line numbers, exit 0"
printf 'user app\nallow app frobnicate /x\n' >"$T/bad.conf"
chmod 644 "$T/bad.conf"
out=$(in_mountns "$STEPDOWND" --check -c "$T/bad.conf" 2>&1; echo "rc=$?")
like "$out" "bad.conf:2:[0-9]+: .*rc=1$" "--check on a bad policy: file:line:col, exit 1"
out=$(in_container "$STEPDOWND" -c "$T/bad.conf" -- true 2>&1; echo "rc=$?")
like "$out" "bad.conf:2:[0-9]+: .*rc=1$" "a bad policy stops the launch, exit 1"
chmod 666 "$T/bad.conf"
out=$(in_mountns "$STEPDOWND" --check -c "$T/bad.conf" 2>&1; echo "rc=$?")
like "$out" "writ.*rc=1$" "a world-writable policy is refused"
out=$("$STEPDOWND" --check -c "$T/pol.conf" -- true 2>&1; echo "rc=$?")
like "$out" "--check takes no command.*rc=1$" "--check takes no command"
out=$("$STEPDOWND" --init --serve 2>&1; echo "rc=$?")
like "$out" "exclude each other.*rc=1$" "--init and --serve exclude each other"

# --- setup steps before launch ----------------------------------------------------
mkdir "$T/vol"
cat >"$T/setup.conf" <<EOF
user app
setup mkdir $T/vol/appdata mode=0750
setup chown $T/vol/appdata recursive
EOF
chmod 644 "$T/setup.conf"
out=$(in_container "$STEPDOWND" -c "$T/setup.conf" -- /bin/sh -c "stat -c '%u %a' $T/vol/appdata; touch $T/vol/appdata/f && echo writable" 2>&1)
is "$out" "1000 750 writable" "setup steps run before launch: the volume is the app's"
printf 'user app\nsetup chmod %s/vol/missing mode=0700\n' "$T" >"$T/setup-bad.conf"
chmod 644 "$T/setup-bad.conf"
out=$(in_container "$STEPDOWND" -c "$T/setup-bad.conf" -- /bin/echo launched 2>&1; echo "rc=$?")
like "$out" "setup-bad.conf:2.*rc=1$" "a failing setup step names its line; exit 1"
if grep -q launched <<<"$out"; then not_ok "... and the command is not launched"; else ok "... and the command is not launched"; fi

# --- init mode ----------------------------------------------------------------------
out=$(in_container "$STEPDOWND" --init -c "$T/pol.conf" -- /bin/sh -c '
echo "pid=$$ ppid=$PPID uid=$(id -u)"; echo "pid1=$(ps -o user=,comm= -p 1)"
$SD mkdir $T/data/y && echo mkdir-ok' 2>&1)
like "$out" "pid=[0-9]+ ppid=1 uid=1000 pid1=root +stepdownd mkdir-ok" "init: stepdownd stays PID 1 (root), the app is its child and is served"

for st in 0 7 42; do
        in_container "$STEPDOWND" --init -u app -- /bin/sh -c "exit $st"
        is "$?" "$st" "init: exit status $st passed through"
done
in_container "$STEPDOWND" --init -u app -- /bin/sh -c 'kill -KILL $$'
is "$?" "137" "init: app killed by SIGKILL: 128+9"

# Signals sent to PID 1 reach the app.
cat >"$T/trap.sh" <<'SH'
#!/bin/bash
for s in TERM INT HUP QUIT USR1 USR2 WINCH; do trap "echo got-$s" $s; done
echo ready
for _ in $(seq 200); do sleep 0.05; done
SH
chmod 755 "$T/trap.sh"
unshare --pid --fork --mount --mount-proc --propagation private -- /bin/bash -c \
        'mount --bind "$1" /etc/passwd; mount --bind "$2" /etc/group; exec "$3" --init -u app -- "$4"' \
        _ "$T/passwd" "$T/group" "$STEPDOWND" "$T/trap.sh" >"$T/sig.out" 2>&1 &
upid=$!
for _ in $(seq 100); do grep -q ready "$T/sig.out" 2>/dev/null && break; sleep 0.05; done
init=$(pgrep -P "$upid" | head -1)
for s in HUP QUIT USR1 USR2 WINCH INT; do kill -"$s" "$init"; sleep 0.15; done
kill -TERM "$init"
# bash runs traps between commands: wait until the app has run all seven
# (a fixed pause lost got-TERM under ASan beside a second suite), at most
# 10 s: the app itself ends after 200 short sleeps.
for _ in $(seq 200); do
        [ "$(grep -c '^got-' "$T/sig.out" 2>/dev/null)" -ge 7 ] && break
        sleep 0.05
done
is "$(grep -o 'got-[A-Z0-9]*' "$T/sig.out" | sort | tr '\n' ' ')" \
        "got-HUP got-INT got-QUIT got-TERM got-USR1 got-USR2 got-WINCH " \
        "init: TERM, INT, HUP, QUIT, USR1, USR2 and WINCH are forwarded to the app"
kill -KILL "$init" 2>/dev/null
wait "$upid" 2>/dev/null

out=$(in_container "$STEPDOWND" --init -u app -- /bin/sh -c 'kill -TERM $$; sleep 5' 2>&1; echo "rc=$?")
is "$out" "rc=143" "init: app killed by SIGTERM: 128+15"

# Zombies: orphans reparented to PID 1 are reaped.
out=$(in_container "$STEPDOWND" --init -u app -- /bin/sh -c '
for i in 1 2 3 4 5; do (sleep 0.1 & exit 0); done; sleep 0.6
ps -eo stat= | grep -c "^Z"' 2>&1)
is "$out" "0" "init: orphaned children are reaped (no zombies)"

# Not PID 1: stepdownd makes itself child subreaper.
# (Polled, not timed: on a loaded machine the orphan may take a while.)
out=$("$STEPDOWND" --init -u 0 -- /bin/sh -c '(sleep 3.14159 &)
for i in $(seq 100); do
        p=$(pgrep -xf "sleep 3.14159") && [ "$(ps -o ppid= -p $p | tr -d " ")" = "$PPID" ] && break
        sleep 0.05
done
echo "$(ps -o ppid= -p $p | tr -d " ") me=$PPID"; kill $p' 2>&1)
set -- $out
me=${2:-}
is "${1:-} $me" "${me#me=} $me" "init: not PID 1, orphans come to stepdownd (child subreaper)"

out=$(in_container "$STEPDOWND" --init -u app -- no-such-command-xyz 2>&1; echo "rc=$?")
like "$out" "not found.*rc=127$" "init: a command that cannot be found: 127"

done_testing
