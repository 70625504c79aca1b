#!/bin/bash
# serve mode: broker only, under systemd-socket-activate (LISTEN_FDS) and on
# its own socket; sd_notify readiness; a provisioned key (sidecar); SIGTERM
# stops it cleanly.
. "$(dirname "$0")/lib.sh"

: "${STEPDOWN_CLI:?}" "${RAW_CLIENT:?}"
SD=$STEPDOWN_CLI
ACTIVATE=$(command -v systemd-socket-activate || true)

mkdir -p "$T/data" "$T/keys"
chown 1000:1000 "$T/data"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/keys/app.key"
echo >>"$T/keys/app.key"
chown 1000:1000 "$T/keys/app.key"
chmod 400 "$T/keys/app.key"
cat >"$T/pol.conf" <<EOF
socket $T/run/sd.sock
key $T/keys/app.key
audit $T/audit.jsonl
allow app mkdir $T/data/* mode=0700
EOF
chmod 644 "$T/pol.conf"

# in_ns CMD...: mount namespace with the test users, host pid namespace.
in_ns() {
        unshare --mount --propagation private -- /bin/bash -c \
                'mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group && shift 2 && exec "$@"' \
                _ "$T/passwd" "$T/group" "$@"
}
# bg_ns CMD...: the same in the background; $! is then CMD itself.
bg_ns() {
        exec unshare --mount --propagation private -- /bin/bash -c \
                'mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group && shift 2 && exec "$@"' \
                _ "$T/passwd" "$T/group" "$@"
}
# stop PID: SIGTERM to PID and its children (systemd-socket-activate's
# child is the stepdownd it started), then wait for PID.
stop() {
        local kids
        kids=$(pgrep -P "$1")
        kill -TERM $kids "$1" 2>/dev/null
        wait "$1" 2>/dev/null
}
as_app() { setpriv --reuid=1000 --regid=1000 --clear-groups env STEPDOWN_SOCKET="$1" STEPDOWN_KEY_FILE="$T/keys/app.key" "${@:2}"; }

# --- own socket, provisioned key, sd_notify, SIGTERM -----------------------------
bg_ns "$STEPDOWND" --serve -c "$T/pol.conf" >"$T/serve.out" 2>&1 &
spid=$!
for _ in $(seq 100); do [ -S "$T/run/sd.sock" ] && break; sleep 0.05; done
out=$(as_app "$T/run/sd.sock" "$SD" mkdir "$T/data/one" 2>&1; echo "rc=$?")
is "$out" "rc=0" "serve: own socket, provisioned key (key FILE): the request is served"
is "$(stat -c '%u %a' "$T/data/one")" "1000 700" "... the directory is the app's"
out=$(STEPDOWN_SOCKET=$T/run/sd.sock "$RAW_CLIENT" "$T/run/sd.sock" nokey | head -1)
is "$out" "hello MAC" "serve: the provisioned key is required"
is "$(stat -c '%u %a' "$T/run/sd.sock")" "0 666" "serve without user: the socket is open to all, the key and policy decide"
kill -TERM "$spid"
wait "$spid"
is "$?" "0" "serve: SIGTERM stops it with status 0"
[ ! -e "$T/run/sd.sock" ] && ok "... and it removed its socket" || not_ok "... and it removed its socket"
like "$(tail -1 "$T/audit.jsonl")" '"event":"stop"' "... after writing the stop record"

# --- socket activation -------------------------------------------------------------
if [ -n "$ACTIVATE" ]; then
        rm -rf "$T/act"
        mkdir -m 755 "$T/act"
        bg_ns "$ACTIVATE" --seqpacket -l "$T/act/sd.sock" "$STEPDOWND" --serve -c "$T/pol.conf" >"$T/act.out" 2>&1 &
        apid=$!
        for _ in $(seq 100); do [ -S "$T/act/sd.sock" ] && break; sleep 0.05; done
        chmod 666 "$T/act/sd.sock"
        out=$(as_app "$T/act/sd.sock" "$SD" mkdir "$T/data/two" 2>&1; echo "rc=$?")
        is "$out" "rc=0" "serve under systemd-socket-activate: the first connection starts stepdownd and is served"
        out=$(as_app "$T/act/sd.sock" "$SD" ping 2>&1; echo "rc=$?")
        is "$out" "rc=0" "... and the next one too (the inherited listener is kept)"
        out=$(as_app "$T/act/sd.sock" "$SD" mkdir "$T/elsewhere" 2>&1; echo "rc=$?")
        like "$out" "refused by policy.*rc=4" "... refusals still come from the policy"
        like "$(grep -c '"event":"start"' "$T/audit.jsonl")" "^2$" "... one broker start recorded for the activated one"
        stop "$apid"
        [ -S "$T/act/sd.sock" ] && ok "an inherited socket is not removed (systemd owns it)" ||
                not_ok "an inherited socket is not removed (systemd owns it)"
else
        not_ok "systemd-socket-activate is not installed (scripts/deps installs systemd)"
fi

# A stream socket passed by mistake is refused with a hint.
if [ -n "$ACTIVATE" ]; then
        rm -f "$T/act/stream.sock"
        bg_ns "$ACTIVATE" -l "$T/act/stream.sock" "$STEPDOWND" --serve -c "$T/pol.conf" >"$T/stream.out" 2>&1 &
        spid=$!
        for _ in $(seq 100); do [ -S "$T/act/stream.sock" ] && break; sleep 0.05; done
        python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])" "$T/act/stream.sock" 2>/dev/null
        sleep 0.5
        stop "$spid"
        like "$(cat "$T/stream.out")" "not a listening SOCK_SEQPACKET socket .*--seqpacket" \
                "a SOCK_STREAM socket from activation is refused, naming the fix"
fi

# --- readiness with NOTIFY_SOCKET ------------------------------------------------
if command -v python3 >/dev/null; then
        rm -rf "$T/run"
        python3 - "$T/notify.sock" >"$T/notify.out" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(10)
for _ in range(2):
    print(s.recv(100).decode(), flush=True)
PY
        npid=$!
        for _ in $(seq 100); do [ -S "$T/notify.sock" ] && break; sleep 0.05; done
        NOTIFY_SOCKET=$T/notify.sock bg_ns "$STEPDOWND" --serve -c "$T/pol.conf" 2>/dev/null &
        spid=$!
        for _ in $(seq 100); do grep -q READY "$T/notify.out" 2>/dev/null && break; sleep 0.05; done
        kill -TERM "$spid"
        wait "$spid"
        wait "$npid"
        is "$(tr '\n' ' ' <"$T/notify.out")" "READY=1 STOPPING=1 " "serve: READY=1 via NOTIFY_SOCKET, STOPPING=1 on SIGTERM"
fi

# --- serve needs a policy and no command -------------------------------------------
out=$("$STEPDOWND" --serve 2>&1; echo "rc=$?")
like "$out" "--serve needs a policy.*rc=1$" "serve without a policy: exit 1"
out=$("$STEPDOWND" --serve -c "$T/pol.conf" -- true 2>&1; echo "rc=$?")
like "$out" "--serve takes no command.*rc=1$" "serve with a command: exit 1"

# --- a sidecar without CAP_SETGID, its socket directory in a shared 0777 dir -------
# The Kubernetes example: the broker holds CHOWN, FOWNER, DAC_OVERRIDE,
# DAC_READ_SEARCH only, and /run/stepdown is an emptyDir (0777) the app
# shares.  The socket directory is made by the engine's mkdir (built in a
# private place, renamed in), so it needs no fsgid.  As in the example,
# the first setup steps make the emptyDir root's and sticky (a 0777 parent
# without it is refused: issue 17.1; podman hands the emptyDir to the app's
# uid, and a directory's owner may rename entries even when it is sticky).
mkdir -p "$T/shared" && chmod 0777 "$T/shared" && chown 1000:1000 "$T/shared"
cat >"$T/side.conf" <<EOF
user app
setup chown $T/shared owner=0:0
setup chmod $T/shared mode=1777
socket $T/shared/broker/sd.sock
allow app mkdir $T/data/*
EOF
chmod 644 "$T/side.conf"
(bg_ns setpriv --bounding-set -all,+chown,+fowner,+dac_override,+dac_read_search \
        "$STEPDOWND" --serve -c "$T/side.conf") 2>"$T/side.err" &
spid=$!
for _ in $(seq 100); do [ -S "$T/shared/broker/sd.sock" ] && break; sleep 0.05; done
is "$(stat -c '%u:%g %a' "$T/shared" "$T/shared/broker" "$T/shared/broker/sd.sock" 2>&1 | tr '\n' ' ')" \
        "0:0 1777 0:1000 710 1000:1000 600 " "serve without CAP_SETGID: the app's 0777 emptyDir made root's and sticky, the socket directory in it root:app 0710, the socket the app's"
kill -TERM "$spid"
wait "$spid"
is "$(cat "$T/side.err")" "" "... and nothing on stderr"

done_testing
