#!/bin/bash
# Runs the hostile-client campaign (campaign.c) for SECONDS against a
# stepdownd --serve broker in a pid+mount namespace with a tmpfs: the
# application's volume /vol (here $V/vol, owned by app) and canaries
# outside it that a symlink swap tries to reach.  TAP output; afterwards
# the audit log must verify.
#
#   run-campaign.sh SECONDS      (STEPDOWND, STEPDOWN_CLI, CAMPAIGN set)
. "$(dirname "$0")/../integration/lib.sh"

: "${STEPDOWN_CLI:?}" "${CAMPAIGN:?}"
SECS=${1:-15}

cat >"$T/inner.sh" <<'EOF'
set -u
V=$1 SECS=$2
mount -t tmpfs -o mode=0755 campaign "$V"
mkdir -p "$V/vol/race" "$V/vol/t" "$V/canary/dir" "$V/run" "$V/vol/socks" "$V/vol/sd" "$V/canary/sockvictim"
for i in $(seq 40); do mkdir -p "$V/vol/t/d$i"; for j in $(seq 25); do echo "$i $j" >"$V/vol/t/d$i/f$j"; done; done
chown -R 1000:1000 "$V/vol"
echo "do not touch" >"$V/canary/secret"
echo "nor this" >"$V/canary/dir/inner"
chmod 600 "$V/canary/secret"; chmod 700 "$V/canary/dir"
# racers.c: where a planted symlink points: a stale socket of root's named
# like the broker's (a broker sent there would delete it), no key file
chmod 700 "$V/canary/sockvictim"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$V/canary/sockvictim/sd.sock"
cat >"$V/restart.conf" <<POL
user app
socket $V/vol/sd/broker/sd.sock
audit $V/restart-audit.jsonl
allow app mkdir $V/vol/** mode=0700
POL
chmod 644 "$V/restart.conf"
cat >"$V/pol.conf" <<POL
user app
socket $V/run/sd.sock
audit $V/audit.jsonl
allow app mkdir $V/vol/** mode=0700,0750 parents
allow app chown $V/vol/** owner=app:app recursive
allow app chmod $V/vol/** mode=0600,0640,0700,0750
allow app open $V/vol/** read write create mode=0600
allow app bind unix:$V/vol/socks/*
POL
chmod 644 "$V/pol.conf"
"$STEPDOWND" --serve --auth-timeout 1 -c "$V/pol.conf" 2>"$V/broker.err" &
broker=$!
for _ in $(seq 100); do [ -S "$V/run/sd.sock" ] && break; sleep 0.05; done
STEPDOWN_KEY_FILE=$V/run/sd.key CAMPAIGN_BIND_DIR=$V/vol/socks \
        CAMPAIGN_RESTART_POLICY=$V/restart.conf CAMPAIGN_RESTART_DIR=$V/vol/sd/broker \
        CAMPAIGN_RESTART_TARGET=$V/canary/sockvictim "$CAMPAIGN" "$broker" "$V/run/sd.sock" "$V/vol" "$V/canary" "$SECS"
echo "campaign-rc=$?"
kill -TERM "$broker"
wait "$broker"
echo "broker-rc=$?"
"$STEPDOWN_CLI" audit verify "$V/audit.jsonl" >/dev/null 2>&1
echo "audit-verify-rc=$?"
echo "audit-records=$(wc -l <"$V/audit.jsonl")"
echo "broker-log-lines=$(wc -l <"$V/broker.err")"
EOF
mkdir -p "$T/v"
out=$(STEPDOWND=$STEPDOWND STEPDOWN_CLI=$STEPDOWN_CLI CAMPAIGN=$CAMPAIGN \
        in_container /bin/bash "$T/inner.sh" "$T/v" "$SECS" 2>&1)
grep -E '^(campaign|FINDING|audit-records|broker-log-lines)' <<<"$out" | sed 's/^/# /'
like "$out" "campaign: .* 0 findings" "the broker came through ${SECS}s of hostile clients: still serving, RSS and fds at baseline, canaries untouched"
like "$out" "campaign-rc=0" "... campaign exit status 0"
like "$out" "broker-rc=0" "... and it stopped cleanly on SIGTERM afterwards"
like "$out" "audit-verify-rc=0" "... and its audit chain verifies"
done_testing
