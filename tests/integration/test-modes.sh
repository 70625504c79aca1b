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
ls /proc/$$/fd | tr "\n" " "; echo' 2>&1)
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
sleep 0.2
# bash runs traps between commands; give the app a moment, then check.
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
out=$("$STEPDOWND" --init -u 0 -- /bin/sh -c '(sleep 0.3 &); sleep 0.1; ps -o ppid= -p $(pgrep -f "^sleep 0.3") | tr -d " "; echo "me=$PPID"' 2>&1)
set -- $out
is "${1:-} ${2:-}" "${2#me=} me=${2#me=}" "init: not PID 1, orphans come to stepdownd (child subreaper)"

out=$(in_container "$STEPDOWND" --init -u app -- no-such-command-xyz 2>&1; echo "rc=$?")
like "$out" "not found.*rc=127$" "init: a command that cannot be found: 127"

done_testing
