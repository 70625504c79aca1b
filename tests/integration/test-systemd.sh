#!/bin/bash
# The systemd units: `systemd-analyze verify` accepts the generated
# stepdownd.service and stepdownd.socket, and the service's own ExecStart
# line serves requests when started the way stepdownd.socket starts it
# (systemd-socket-activate --seqpacket: LISTEN_FDS on the first connection),
# with readiness reported on NOTIFY_SOCKET.
. "$(dirname "$0")/lib.sh"
: "${STEPDOWN_CLI:?}" "${SYSTEMD_SERVICE:?}" "${SYSTEMD_SOCKET:?}"

# --- systemd-analyze verify ----------------------------------------------
# verify insists that ExecStart's binary exists, and the installed path
# (e.g. /usr/local/sbin/stepdownd) does not exist here: the copies checked
# differ from the generated units only in that path, pointed at the
# binary under test.
if ! command -v systemd-analyze >/dev/null; then
        echo "# SKIP systemd-analyze is not installed"
else
        mkdir "$T/units"
        exec_bin=$(sed -n 's/^ExecStart=\([^ ]*\) .*/\1/p' "$SYSTEMD_SERVICE")
        sed "s#^ExecStart=$exec_bin #ExecStart=$STEPDOWND #" "$SYSTEMD_SERVICE" >"$T/units/stepdownd.service"
        cp "$SYSTEMD_SOCKET" "$T/units/stepdownd.socket"
        is "$(diff "$SYSTEMD_SERVICE" "$T/units/stepdownd.service" | grep -c '^[<>]')" 2 \
                "only the ExecStart binary differs in the copy verified"
        out=$(cd "$T/units" && systemd-analyze verify --man=no stepdownd.service stepdownd.socket 2>&1)
        rc=$?
        is "rc=$rc $out" "rc=0" "systemd-analyze verify accepts both units"
        # The directives the sandbox relies on are all there, spelled the
        # way this systemd reads them (a typo would only warn in verify).
        for d in Type=notify NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
                PrivateDevices=yes "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" \
                SystemCallFilter=@system-service LockPersonality=yes MemoryDenyWriteExecute=yes \
                RestrictNamespaces=yes; do
                like "$(grep -Fx "$d" "$SYSTEMD_SERVICE")" "." "service sets $d"
        done
        caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$SYSTEMD_SERVICE")
        is "$caps" "CAP_CHOWN CAP_FOWNER CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_NET_BIND_SERVICE" \
                "capability bounding set is what the operations need"
        like "$(grep '^ListenSequentialPacket=' "$SYSTEMD_SOCKET")" '=/run/stepdown/stepdown.sock$' \
                "socket unit listens SOCK_SEQPACKET on the default path"
fi

# --- socket activation with the unit's command line ----------------------
if ! command -v systemd-socket-activate >/dev/null || ! command -v python3 >/dev/null; then
        echo "# SKIP systemd-socket-activate or python3 missing"
        done_testing
        exit
fi

read -r -a cmd <<<"$(sed -n 's/^ExecStart=//p' "$SYSTEMD_SERVICE")"
is "${#cmd[@]} $(basename "${cmd[0]}") ${cmd[1]} ${cmd[2]}" "4 stepdownd --serve --config" \
        "ExecStart is stepdownd --serve --config FILE"
# The installed binary and policy paths become the ones under test; every
# other word is the unit's.
cmd[0]=$STEPDOWND
cmd[3]=$T/stepdown.conf

mkdir -m 0755 "$T/data"
od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$T/app.key"
chown 1000:1000 "$T/app.key"
chmod 0400 "$T/app.key"
cat >"$T/stepdown.conf" <<CONF
audit $T/audit.jsonl
key $T/app.key
allow app mkdir $T/data/* owner=app:app mode=0750
CONF
chmod 0644 "$T/stepdown.conf"

cat >"$T/notify.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(20)
with open(sys.argv[2], "w") as f:
    f.write(s.recv(4096).decode() + "\n")
    f.flush()
PY

cat >"$T/run.sh" <<'RUN'
T=$1 CLI=$2 SOCKET_UNIT=$3
shift 3
sock=/run/stepdown/stepdown.sock
mount -t tmpfs tmpfs /run
mkdir -m 0755 /run/stepdown
python3 "$T/notify.py" "$T/notify.sock" "$T/notify.out" &
for _ in $(seq 100); do [ -S "$T/notify.sock" ] && break; sleep 0.05; done
systemd-socket-activate --seqpacket -l "$sock" -E NOTIFY_SOCKET="$T/notify.sock" -- "$@" \
        2>"$T/activate.err" &
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
# What SocketMode= in stepdownd.socket does; systemd-socket-activate makes
# the socket 0644, which only root could connect to.
chmod "$(sed -n 's/^SocketMode=//p' "$SOCKET_UNIT")" "$sock"
as_app() { setpriv --reuid=1000 --regid=1000 --clear-groups env STEPDOWN_SOCKET=$sock STEPDOWN_KEY_FILE="$T/app.key" "$CLI" "$@"; }
as_app ping >/dev/null 2>&1; echo "ping=$?"
as_app mkdir -m 0750 "$T/data/new" 2>&1; echo "mkdir=$?"
stat -c 'owner=%u:%g mode=%a' "$T/data/new"
as_app mkdir -m 0777 "$T/data/wide" >/dev/null 2>&1; echo "refused=$?"
[ -e "$T/data/wide" ] && echo "wide exists"
for _ in $(seq 100); do [ -s "$T/notify.out" ] && break; sleep 0.05; done
echo "notify=$(cat "$T/notify.out" 2>/dev/null)"
RUN
out=$(in_container bash "$T/run.sh" "$T" "$STEPDOWN_CLI" "$SYSTEMD_SOCKET" "${cmd[@]}" 2>&1)
is "$(grep '^ping=' <<<"$out")" "ping=0" "stepdown ping through the activated socket"
is "$(grep '^mkdir=' <<<"$out")" "mkdir=0" "an allowed mkdir succeeds"
is "$(grep '^owner=' <<<"$out")" "owner=1000:1000 mode=750" "and makes the directory the caller's"
is "$(grep -E '^(refused=|wide)' <<<"$out")" "refused=4" "a mode the policy does not list is refused (exit 4)"
like "$(grep '^notify=' <<<"$out")" "READY=1" "stepdownd told NOTIFY_SOCKET it is ready"
like "$(cat "$T/audit.jsonl" 2>/dev/null)" '"decision":"deny"' "the refusal is in the audit log"
[ "$T_FAILED" -eq 0 ] || { echo "$out"; cat "$T/activate.err"; } | sed 's/^/# /'
done_testing
