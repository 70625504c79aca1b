#!/bin/bash
# The resident broker confines itself with Landlock (issue 17 item 11), in
# every mode.  stepdownd-test-hooks, once hardened, makes a mkdir of its own
# where STEPDOWN_TEST_HOOK=landlock:PATH says -- past every policy check, as
# a bug in the engine would: outside the rules' anchors the kernel refuses
# it (root, with CAP_DAC_OVERRIDE), inside an anchor it works, and the
# broker still serves its requests, removes its socket and key at exit and
# reopens a rotated audit log.  --no-landlock lifts the wall, loudly.
. "$(dirname "$0")/lib.sh"

: "${STEPDOWN_CLI:?}" "${STEPDOWND_TEST_HOOKS:?}"
SD=$STEPDOWN_CLI
HOOKS=$STEPDOWND_TEST_HOOKS

mkdir -p "$T/data" "$T/outside" "$T/run" "$T/log"
chown 1000:1000 "$T/data"
cat >"$T/pol.conf" <<EOF
user app
socket $T/run/sd.sock
audit $T/log/audit.jsonl
allow app mkdir $T/data/* mode=0700
EOF
chmod 644 "$T/pol.conf"

# hooked MODE PATH [stepdownd options]: the broker (exec or init mode) with
# the hook aimed at PATH; the app makes one request and reports it.
hooked() {
        local mode=$1 path=$2
        shift 2
        printf '%s\n' "$SD mkdir $T/data/req-$mode; echo rc=\$?" >"$T/app.sh"
        in_container env STEPDOWN_TEST_HOOK="landlock:$path" "$HOOKS" "$@" \
                $([ "$mode" = init ] && echo --init) -c "$T/pol.conf" -- /bin/bash "$T/app.sh" 2>&1
}

out=$(hooked exec "$T/outside/exec")
if grep -q '"event":"harden".*landlock unavailable' "$T/log/audit.jsonl"; then
        echo "1..0 # SKIP Landlock is not available here: $(grep -o 'landlock unavailable[^"]*' "$T/log/audit.jsonl" | head -1)"
        exit 0
fi
like "$out" "test hook: mkdir $T/outside/exec: Permission denied" \
        "exec mode: the broker's own mkdir outside every anchor is refused by the kernel"
[ ! -e "$T/outside/exec" ] && ok "... and nothing was made there" || not_ok "... and nothing was made there"
like "$out" "rc=0$" "... while the app's request inside the anchor is served"
is "$(stat -c %u "$T/data/req-exec")" "1000" "... and made, the app's"
# (a sanitizer build adds /proc, for its reports)
like "$(grep '"event":"harden"' "$T/log/audit.jsonl")" "seccomp on; landlock ABI [0-9]+: (3|4) paths" \
        "the harden record says Landlock is in force (anchor, socket directory, audit log directory)"

out=$(hooked exec "$T/data/hooked")
like "$out" "test hook: mkdir $T/data/hooked: made" "the same mkdir inside the anchor works (so the hook can succeed)"
[ -d "$T/data/hooked" ] && ok "... the directory is there" || not_ok "... the directory is there"

out=$(hooked init "$T/outside/init")
like "$out" "test hook: mkdir $T/outside/init: Permission denied.*rc=0$" \
        "init mode: refused outside, the request served"
[ ! -e "$T/outside/init" ] && ok "... and nothing was made there" || not_ok "... and nothing was made there"
is "$(ls -A "$T/run")" "" "... and at exit the confined broker removed its socket and key"

# serve: a rotated audit log is reopened (created anew) by the confined broker
sed 's/^user app$/key none/' "$T/pol.conf" >"$T/serve.conf"
chmod 644 "$T/serve.conf"
in_container env STEPDOWN_TEST_HOOK="landlock:$T/outside/serve" "$HOOKS" --serve -c "$T/serve.conf" \
        >"$T/serve.out" 2>&1 &
upid=$!
for _ in $(seq 100); do [ -S "$T/run/sd.sock" ] && break; sleep 0.05; done
mv "$T/log/audit.jsonl" "$T/log/audit.jsonl.1"
# this subshell -> unshare -> stepdownd (PID 1 inside)
kill -HUP "$(pgrep -P "$(pgrep -P "$upid")")"
out=$(setpriv --reuid=1000 --regid=1000 --clear-groups env STEPDOWN_SOCKET="$T/run/sd.sock" \
        "$SD" mkdir "$T/data/req-serve" 2>&1; echo "rc=$?")
is "$out" "rc=0" "serve mode: the request is served"
kill -TERM "$(pgrep -P "$(pgrep -P "$upid")")"
wait "$upid"
like "$(cat "$T/serve.out")" "test hook: mkdir $T/outside/serve: Permission denied" \
        "... and the broker's own mkdir outside the anchors is refused"
like "$(cat "$T/log/audit.jsonl" 2>&1)" "\"op\":\"mkdir\".*req-serve" \
        "... a rotated audit log is created anew after SIGHUP and gets the request's record"
[ ! -e "$T/run/sd.sock" ] && ok "... and the socket is removed at exit" || not_ok "... and the socket is removed at exit"

out=$(hooked exec "$T/outside/off" --no-landlock)
like "$out" "LANDLOCK DISABLED \(--no-landlock\)" "--no-landlock: a warning on stderr"
like "$out" "test hook: mkdir $T/outside/off: made" "... and the wall is gone (so it was Landlock that refused)"
like "$(grep '"event":"harden"' "$T/log/audit.jsonl" | tail -1)" "landlock OFF \(--no-landlock" \
        "... and the harden record says so"

done_testing
