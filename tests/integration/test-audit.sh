#!/bin/bash
# The audit log end to end, with the real broker (stepdownd --serve) and the
# real `stepdown` command: every field of an allowed mkdir, a refusal and a
# recursive chown; a full disk refuses operations up front and the broker
# recovers when space returns; rotation with SIGHUP; concurrent clients;
# `audit -`; signing, and a forged or edited record rejected.
. "$(dirname "$0")/lib.sh"

: "${STEPDOWN_CLI:?}" "${RAW_CLIENT:?}"
SD=$STEPDOWN_CLI

if ! command -v python3 >/dev/null; then
        echo "1..0 # SKIP needs python3 (scripts/deps installs it)"
        exit 0
fi

# The whole test runs in a private mount namespace: the log's tiny tmpfs and
# the test users are ours alone, and vanish with it.
if [ -z "${AUDIT_TEST_NS:-}" ]; then
        AUDIT_TEST_NS=1 unshare --mount --propagation private -- /bin/bash "$0"
        exit $?
fi
mount --bind "$T/passwd" /etc/passwd && mount --bind "$T/group" /etc/group || exit 1
mkdir -p "$T/alog" "$T/data" "$T/keys"
mount -t tmpfs -o size=512k,mode=0755 tmpfs "$T/alog" || exit 1
trap 'umount -l "$T/alog" 2>/dev/null; rm -rf "$T"' EXIT
chown 1000:1000 "$T/data"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/keys/app.key"
chown 1000:1000 "$T/keys/app.key"
chmod 400 "$T/keys/app.key"

LOG=$T/alog/audit.jsonl
# policy FILE AUDIT-LINES...: a serve-mode policy with these audit lines.
policy() {
        local f=$1
        shift
        {
                echo "socket $T/run/sd.sock"
                echo "key $T/keys/app.key"
                printf '%s\n' "$@"
                echo "allow app mkdir $T/data/** mode=0700,0750 parents"
                echo "allow app chown $T/data/** owner=app:app,bob:bob recursive"
                echo "allow app chmod $T/data/** mode=0600,0640"
        } >"$f"
        chmod 644 "$f"
}
# start POLICY [STDERR-FILE]: a broker in the background, $BROKER its pid.
start() {
        rm -rf "$T/run"
        "$STEPDOWND" --serve -c "$1" 2>"${2:-$T/broker.err}" &
        BROKER=$!
        for _ in $(seq 200); do [ -S "$T/run/sd.sock" ] && break; sleep 0.02; done
}
stop() { kill -TERM "$BROKER" && wait "$BROKER"; }
as_app() { setpriv --reuid=1000 --regid=1000 --clear-groups env STEPDOWN_SOCKET="$T/run/sd.sock" STEPDOWN_KEY_FILE="$T/keys/app.key" "$@"; }
r() { as_app "$SD" "$@" 2>&1; echo "rc=$?"; }
verify() { "$SD" audit verify "$@" 2>&1; echo "rc=$?"; }
# forge IN OUT LINE OLD NEW: OUT is IN with OLD replaced by NEW in line LINE
# and the chain relinked after it (what anyone without the key can do).
forge() {
        python3 - "$@" <<'PY'
import hashlib, sys
lines = open(sys.argv[1], "rb").read().split(b"\n")[:-1]
n = int(sys.argv[3]) - 1
assert sys.argv[4].encode() in lines[n]
lines[n] = lines[n].replace(sys.argv[4].encode(), sys.argv[5].encode())
for i in range(n + 1, len(lines)):
    prev = hashlib.blake2b(lines[i - 1], digest_size=32).hexdigest().encode()
    j = lines[i].index(b'"prev":"') + 8
    lines[i] = lines[i][:j] + prev + lines[i][j + 64:]
open(sys.argv[2], "wb").write(b"".join(l + b"\n" for l in lines))
PY
}
# json SCRIPT FILE...: runs a python snippet over the files' records (list
# `recs`, one dict per line; a line that is not JSON fails); prints what
# the snippet prints.
json() {
        python3 - "$@" <<'PY'
import json, re, sys
script, files = sys.argv[1], sys.argv[2:]
recs = []
for f in files:
    with open(f, "rb") as fh:
        for n, line in enumerate(fh, 1):
            if not line.endswith(b"\n"):
                print(f"{f}:{n}: no newline"); sys.exit(0)
            try:
                recs.append(json.loads(line))
            except ValueError as e:
                print(f"{f}:{n}: not JSON: {e}"); sys.exit(0)
exec(script)
PY
}

# --- (a) every field, for an allowed mkdir, a refusal and a recursive chown -----
policy "$T/pol.conf" "audit $LOG"
start "$T/pol.conf"
out=$(r mkdir -m 0750 "$T/data/a"; r chmod 0644 "$T/data/a"; touch "$T/data/a/f1" "$T/data/a/f2"
      r chown -R bob:bob "$T/data/a")
like "$out" "^rc=0 .*refused by policy.* rc=4 rc=0$" "mkdir allowed, chmod 0644 refused, chown -R allowed"
export LM EXE FIELDS
LM=$(grep -n " mkdir " "$T/pol.conf" | cut -d: -f1)
LC=$(grep -n " chown " "$T/pol.conf" | cut -d: -f1)
EXE=$(readlink -f "$SD")
FIELDS="time seq log prev event request_id caller op args decision rule result duration_us changed message"
export T LM LC EXE FIELDS
out=$(json '
import os
T = os.environ["T"]; pol = T + "/pol.conf"
bad = []
def want(cond, what):
    if not cond: bad.append(what)
for i, r in enumerate(recs):
    keys = [k for k in r if k not in ("policy_hash", "continues", "lost", "intent", "sig")]
    want(keys == os.environ["FIELDS"].split(), f"record {i+1}: members {keys}")
    want(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", r["time"]), f"record {i+1}: time")
    want(r["seq"] == i + 1, f"record {i+1}: seq")
    want(re.fullmatch(r"[0-9a-f]{32}", r["log"]) and r["log"] == recs[0]["log"], "log id")
    want(re.fullmatch(r"[0-9a-f]{64}", r["prev"]), "prev")
ph = recs[0].get("policy_hash", "")
want(recs[0]["prev"] == "0" * 64 and re.fullmatch(r"[0-9a-f]{64}", ph), "first record")
want([r.get("policy_hash") for r in recs if r["event"] == "start"] == [ph], "one start record")
want([r["event"] for r in recs] == ["start", "harden", "serve", "intent", "request", "request",
     "intent", "request"], "events " + str([r["event"] for r in recs]))
reqs = [r for r in recs if r["event"] == "request"]
# Intent before the act: each allowed request names the seq of its intent
# record, which came before it with the same caller, op and path.
for r in reqs:
    if r["decision"] == "allow":
        i = recs[r["intent"] - 1]
        want(i["event"] == "intent" and i["seq"] == r["intent"] and i["op"] == r["op"] and
             i["args"]["path"] == r["args"]["path"] and i["caller"] == r["caller"] and
             i["rule"] == r["rule"] and i["result"] == "OK", f"intent of {r}")
    else:
        want("intent" not in r, "a refusal has no intent")
# request_id: the number the broker gives each request (every CLI request is
# message 2 of its client): one per request, shared by intent and outcome.
ids = [r["request_id"] for r in reqs]
want(ids == [1, 2, 3], f"request ids {ids}")
want(all(recs[r["intent"] - 1]["request_id"] == r["request_id"] for r in reqs if "intent" in r),
     "an intent and its outcome share the request id")
want(len(reqs) == 3, f"{len(reqs)} requests")
m, d, c = reqs
for r in reqs:
    cl = r["caller"]
    # exe is null while the broker lacks CAP_SYS_PTRACE (stepdownd(8)).
    want(cl["uid"] == 1000 and cl["gid"] == 1000 and cl["pid"] > 1 and
         cl["exe"] in (None, os.environ["EXE"]),
         f"caller {cl}")
    want("pidfd_ino" in cl, "pidfd_ino")
    want(isinstance(r["request_id"], int) and r["request_id"] > 0, "request_id")
    want(isinstance(r["duration_us"], int) and 0 <= r["duration_us"] < 5000000, "duration_us")
want(m["op"] == "mkdir" and m["args"] == {"path": T + "/data/a", "uid": 1000, "gid": 1000,
     "mode": "0750", "flags": None, "addr": None}, "mkdir args " + str(m["args"]))
want(m["decision"] == "allow" and m["rule"] == pol + ":" + os.environ["LM"] and
     m["result"] == "OK" and m["changed"] is None and m["message"] is None, f"mkdir {m}")
want(d["op"] == "chmod" and d["args"]["path"] == T + "/data/a" and d["args"]["mode"] == "0644" and
     d["decision"] == "deny" and d["rule"] is None and d["result"] == "EACCES" and
     d["message"] and d["changed"] is None, f"refusal {d}")
want(c["op"] == "chown" and c["args"]["uid"] == 1001 and c["args"]["gid"] == 1001 and
     c["args"]["mode"] is None and "recursive" in (c["args"]["flags"] or "") and
     c["decision"] == "allow" and c["rule"] == pol + ":" + os.environ["LC"] and
     c["result"] == "OK" and c["changed"] == 3, f"chown {c}")
print("ok" if not bad else "; ".join(bad))
' "$LOG")
is "$out" "ok" "(a) start, mkdir, refusal, chown -R: every field present, in order, and right"
like "$(verify "$LOG")" "^$LOG: 8 records $LOG:8: open: log [0-9a-f]{32} ends at seq 8 without a stop record for its last start \(seq 1, $LOG:1\): cut after that record, or the broker is still running .* open \(intact so far\): 8 records in 1 file, 1 log, signatures not checked; 1 log without a stop record \(above\) rc=3$" \
        "(a) the log verifies so far, and is reported open (no stop: the broker runs), exit 3"

# --- (b) a full disk: refused up front, the broker lives on and recovers ----------
# Fill the log's tmpfs, then give back a little: less room than a record may
# need (AUDIT_ROOM, 64 KiB) but enough for small ones.
dd if=/dev/zero of="$T/alog/filler" bs=4k 2>/dev/null
out=$(r mkdir "$T/data/full1")
is "$out" "stepdown: mkdir $T/data/full1: the audit log cannot be written, so the broker performs nothing (No space left on device) rc=1" \
        "(b) disk full: mkdir is refused with ENOSPC, naming the audit log (exit 1)"
[ ! -e "$T/data/full1" ] && ok "(b) ... and nothing was created" || not_ok "(b) ... and nothing was created"
is "$(r ping)" "rc=0" "(b) the broker keeps serving (ping)"
is "$(tail -c 1 "$LOG" | od -An -c | tr -d ' ')" '\n' "(b) no torn line left in the log"
truncate -s -32K "$T/alog/filler"
out=$(r chown -R app:app "$T/data/a")
like "$out" "the audit log cannot be written.*\\(No space left on device\\) rc=1$" \
        "(b) 32 KiB free (< AUDIT_ROOM): still refused before anything is done"
is "$(stat -c %U "$T/data/a/f1")" "bob" "(b) ... the files were not chowned"
like "$(tail -1 "$LOG")" '"op":"chown",.*"decision":"deny",.*"result":"ENOSPC"' \
        "(b) ... and the refusal itself is recorded, since it fits"
rm "$T/alog/filler"
out=$(r mkdir "$T/data/full2"; r chown -R app:app "$T/data/a")
is "$out" "rc=0 rc=0" "(b) space back: requests succeed again at once"
out=$(json 'e = [r["decision"] for r in recs if r["result"] == "ENOSPC"]; print(len(e) > 0 and set(e) == {"deny"})' "$LOG")
is "$out" "True" "(b) the refusals that fitted are in the log, as refusals (ENOSPC), nothing else failed"
like "$(verify "$LOG")" "open \(intact so far\): .*rc=3$" "(b) stepdown audit verify passes on the log (open: the broker runs)"

# A deleted log: refused until SIGHUP makes a new one.
mv "$LOG" "$T/alog/deleted.jsonl"
cp "$T/alog/deleted.jsonl" "$T/alog/keep.jsonl"
rm "$T/alog/deleted.jsonl"
out=$(r mkdir "$T/data/gone")
like "$out" "the audit log cannot be written.*\\(No such file or directory\\) rc=1$" \
        "(b) log file deleted: requests refused (ENOENT), nothing done"
[ ! -e "$T/data/gone" ] && ok "(b) ... and nothing was created" || not_ok "(b) ... and nothing was created"
kill -HUP "$BROKER"
sleep 0.2
is "$(r mkdir "$T/data/gone")" "rc=0" "(b) SIGHUP: a new file, requests served again"
like "$(verify "$T/alog/keep.jsonl" "$LOG")" "records $LOG:1: lost: 1 record before this one could not be written $LOG: 2 records $LOG:2: open: .* NOT intact: 1 problem .*rc=1$" \
        "(b) ... and it continues the chain, saying that the refusal's record was lost"
mv "$T/alog/keep.jsonl" "$T/alog/before.jsonl"
cat "$T/alog/before.jsonl" "$LOG" >"$T/all.jsonl"

# --- (c) rotation: mv, SIGHUP, the chain continues in the new file ---------------
mv "$LOG" "$T/alog/audit.jsonl.1"
is "$(r chmod 0600 "$T/data/a/f1")" "rc=0" "(c) rotated (mv, no SIGHUP yet): still written to the old file"
kill -HUP "$BROKER"
sleep 0.2
out=$(r chmod 0640 "$T/data/a/f1"; r mkdir "$T/data/after")
is "$out" "rc=0 rc=0" "(c) after SIGHUP requests are served"
like "$(tail -1 "$T/alog/audit.jsonl.1")" '"mode":"0600"' "(c) the old file ends with the last record before SIGHUP"
like "$(verify "$T/alog/audit.jsonl.1" "$LOG")" "^[^ ]* continues log .*lost: 1 record .*: 4 records $LOG: 4 records NOT intact: 1 problem.*rc=1$" \
        "(c) stepdown audit verify OLD NEW: the chain holds; the one record lost in (b) is all it reports"
out=$(json '
old = [json.loads(l) for l in open(sys.argv[2])]
new = [json.loads(l) for l in open(sys.argv[3])]
c = new[0].get("continues")
print(c == {"log": old[-1]["log"], "seq": old[-1]["seq"]} and new[0]["seq"] == old[-1]["seq"] + 1
      and new[0]["log"] == old[-1]["log"])
 ' "$T/alog/audit.jsonl.1" "$LOG")
is "$out" "True" "(c) the new file's first record carries continues {log, seq} and the next seq"
like "$(verify "$LOG" "$T/alog/audit.jsonl.1")" "reordered.*rc=1$" "(c) files in the wrong order: broken"

# --- (d) 25 concurrent clients: whole lines only, the chain verifies --------------
for c in $(seq 25); do touch "$T/data/c$c"; done
for c in $(seq 25); do
        (for i in $(seq 8); do as_app "$SD" chmod $((i % 2 ? 600 : 640)) "$T/data/c$c" || echo "client $c failed"; done) &
done >"$T/clients.out" 2>&1
wait $(jobs -p | grep -v "^$BROKER$")
is "$(cat "$T/clients.out")" "" "(d) 25 clients x 8 chmods: all served"
out=$(json '
reqs = [r for r in recs if r["event"] == "request" and r["op"] == "chmod" and "/data/c" in r["args"]["path"]]
print(len(reqs), all(r["result"] == "OK" for r in reqs))
' "$LOG")
is "$out" "200 True" "(d) every line of the log is whole JSON; 200 records for 200 requests"
like "$(verify "$T/alog/audit.jsonl.1" "$LOG")" "$LOG: 404 records NOT intact: 1 problem.*rc=1$" "(d) the chain verifies (but for the record lost in (b))"
stop
like "$(tail -1 "$LOG")" '"event":"stop"' "the broker stops with a stop record"

# --- (e) audit - (stderr), signing ------------------------------------------------
policy "$T/pol-stderr.conf" "audit -"
start "$T/pol-stderr.conf" "$T/stderr.out"
like "$(r mkdir "$T/data/e1"; r chmod 0644 "$T/data/e1")" "^rc=0 .*refused by policy.* rc=4$" "(e) audit -: requests served"
stop
grep '^{' "$T/stderr.out" >"$T/stderr.jsonl"
like "$(json 'print(" ".join(r["event"] + ":" + (r["op"] or "-") + ":" + (r["decision"] or "-") for r in recs if r["event"] != "harden"))' "$T/stderr.jsonl")" \
        "^start:-:- serve:-:- intent:mkdir:allow request:mkdir:allow request:chmod:deny stop:-:-$" "(e) audit -: the records are on stderr"
like "$(verify "$T/stderr.jsonl")" "intact: [67] records.*rc=0$" "(e) ... and they verify"
like "$(verify "$T/stderr.out")" "intact: [67] records.*rc=0$" "(e) ... also the whole stderr, read as a mixed stream"

"$SD" audit keygen "$T/keys/audit.key" "$T/keys/audit.pub" >/dev/null 2>&1
"$SD" audit keygen "$T/keys/other.key" "$T/keys/other.pub" >/dev/null 2>&1
policy "$T/pol-sign.conf" "audit $T/signed.jsonl" "audit-sign $T/keys/audit.key"
start "$T/pol-sign.conf"
like "$(r mkdir "$T/data/s1"; r chmod 0644 "$T/data/s1"; r chmod 0600 "$T/data/a/f1")" "^rc=0 .* rc=4 rc=0$" \
        "(e) audit-sign: requests served"
stop
# Sealed in batches (docs/AUDIT.md, "Seals"): the first record and the stop
# record are seals; each seal says how many unsigned records it seals.
like "$(json 'print(all(re.fullmatch(r"[0-9a-f]{128}", r.get("sig", "")) for r in (recs[0], recs[-1])), recs[-1]["event"], all(("sig" in r) == ("sealed" in r) for r in recs), sum(r.get("sealed", 0) + ("sig" in r) for r in recs) == len(recs), len(recs))' "$T/signed.jsonl")" \
        "^True stop True True (8|9)$" "(e) the first and the stop record are seals, and the seals cover every record"
like "$(verify --pubkey "$T/keys/audit.pub" "$T/signed.jsonl")" "intact: .*rc=0$" "(e) verify --pubkey accepts the signed log"
like "$(verify --pubkey "$T/keys/other.pub" "$T/signed.jsonl")" "signed.jsonl:1: bad signature.*rc=1$" \
        "(e) ... another key's public half rejects it at line 1"
# Forge: change the mode of the last request and recompute its hash link, so
# the chain holds and only the signature can tell.
forge "$T/signed.jsonl" "$T/forged.jsonl" "$(grep -n '"mode":"0600"' "$T/signed.jsonl" | tail -n 1 | cut -d: -f1)" \
        '"mode":"0600"' '"mode":"0666"'
fl=$(grep -n '"mode":"0666"' "$T/forged.jsonl" | cut -d: -f1)
like "$(verify "$T/forged.jsonl")" "intact: .*rc=0$" "(e) forged record with a recomputed chain: the chain alone is fooled"
like "$(verify --pubkey "$T/keys/audit.pub" "$T/forged.jsonl")" "forged.jsonl:$(grep -c . "$T/forged.jsonl"): bad signature \(a seal over the [0-9]+ unsigned records since $T/forged.jsonl:2: it or one of them was changed or forged.*rc=1$" \
        "(e) ... verify --pubkey rejects the seal after it (the stop record), naming the records it covers (line $fl among them)"
sed '2s/"seq":2/"seq":7/' "$T/signed.jsonl" >"$T/edited.jsonl"
like "$(verify --pubkey "$T/keys/audit.pub" "$T/edited.jsonl")" "edited.jsonl:[23]: .*rc=1$" \
        "(e) an edited byte: rejected (exit 1, line named)"

# --- (f) one start, one chain: every mode, every sink ------------------------------
# chain FILE: the audit records among the lines of FILE (a mixed stream):
# how many log ids, whether seq runs 1, 2, 3, ... and the events in order.
chain() {
        python3 - "$1" <<'PY'
import json, sys
recs = []
for line in open(sys.argv[1], "rb"):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if isinstance(r, dict) and "log" in r and "seq" in r:
        recs.append(r)
ids = {r["log"] for r in recs}
seqs = [r["seq"] for r in recs] == list(range(1, len(recs) + 1))
print(f"logs={len(ids)} seq={'1..' + str(len(recs)) if seqs else 'BROKEN'}",
      " ".join(r["event"] + (":" + r["op"] if r["op"] else "") for r in recs))
PY
}
mkdir -p "$T/fdata"
chown 1000:1000 "$T/fdata"
# fpolicy FILE SINK
fpolicy() {
        {
                echo "user app"
                echo "socket $T/run/sd.sock"
                echo "key $T/keys/app.key"
                echo "audit $2"
                echo "setup mkdir $T/fdata/s owner=app:app mode=0750"
                echo "setup chmod $T/fdata/s mode=0700"
                echo "allow app mkdir $T/fdata/** mode=0750"
        } >"$1"
        chmod 644 "$1"
}
SETUP="start intent:mkdir setup:mkdir intent:chmod setup:chmod harden serve intent:mkdir request:mkdir"
for sink in file stderr; do
        for mode in exec init serve; do
                rm -rf "$T/fdata/s" "$T/fdata/x" "$T/f.jsonl" "$T/f.err" "$T/run"
                if [ $sink = file ]; then dest=$T/f.jsonl; fpolicy "$T/f.conf" "$dest"
                else dest=$T/f.err; fpolicy "$T/f.conf" -; fi
                case $mode in
                exec | init)
                        flag=; [ $mode = init ] && flag=--init
                        in_container "$STEPDOWND" $flag -c "$T/f.conf" -- \
                                /bin/sh -c "echo app says hello >&2; $SD mkdir $T/fdata/x; echo app exits >&2" \
                                2>"$T/f.err"
                        ;;
                serve)
                        start "$T/f.conf" "$T/f.err"
                        as_app "$SD" mkdir "$T/fdata/x"
                        stop
                        ;;
                esac
                # exec: the broker dies with the container's PID 1 (SIGKILL
                # from the kernel), so it may not get to write "stop".
                want="logs=1 seq=1..10 $SETUP stop"
                [ $mode = exec ] && want="logs=1 seq=1..(9|10) $SETUP( stop)?"
                like "$(chain "$dest")" "^$want\$" \
                        "(f) $mode mode, audit ${sink/file/FILE}: one log id, seq 1.., start, setup steps, hardening, requests, stop"
                [ $mode$sink = execstderr ] && echo "# (f) exec, audit -: $(chain "$dest"); verify said: $(flat "$(verify "$dest")")"
                # A log whose last start has no stop is open (exit 3): exec
                # mode when the broker died before writing it.
                want="intact: 10 records in 1 file, 1 log.*rc=0"
                [ $mode = exec ] && want="(intact: 10 records in 1 file, 1 log.*rc=0|open \(intact so far\): 9 records in 1 file, 1 log.*; 1 log without a stop record \(above\) rc=3)"
                like "$(verify "$dest")" "$want\$" \
                        "(f) ... and verify says intact$([ $sink = stderr ] && echo ' (the app'"'"'s lines named as foreign)')"
        done
done

# --- (g) the app fills the log's filesystem in the middle of a long chown ----------
# The log on a 1 MiB tmpfs with a world-writable directory; the tree lies
# below a ~3.9 KiB path, so the chown's outcome record is bigger than a page
# and cannot slip into the log's last, partly used page.  The app (uid 1000,
# a real process) starts a recursive chown of 30000 files, waits until the
# walk has begun (the top directory changed owner), fills the filesystem,
# waits for the reply, frees the space and asks for something else.
mkdir -p "$T/afs" "$T/appout"
mount -t tmpfs -o size=1m,mode=0755 tmpfs "$T/afs" || exit 1
mkdir -m 1777 "$T/afs/tmp"
chown 1000:1000 "$T/appout"
long=$T/data/L
for _ in $(seq 15); do long=$long/$(printf 'x%.0s' $(seq 250)); done
mkdir -p "$long/big"
for i in $(seq 30); do
        mkdir "$long/big/d$i"
        (cd "$long/big/d$i" && touch $(seq -f f%g 1000))
done
chown -R 1000:1000 "$T/data/L"
policy "$T/pol-g.conf" "audit $T/afs/audit.jsonl"
start "$T/pol-g.conf"
cat >"$T/appout/fill.sh" <<'EOF'
to=$1
: "${SD:?}" "${BIG:?}" "${OUT:?}" "${AFS:?}" "${DATA:?}"
"$SD" chown -R "$to:$to" "$BIG" >"$OUT/chown.out" 2>&1 &
c=$!
for _ in $(seq 3000); do [ "$(stat -c %u "$BIG")" = "$to" ] && break; done
dd if=/dev/zero of="$AFS/tmp/fill" bs=4k 2>/dev/null
wait $c
echo "chown rc=$?"
rm -f "$AFS/tmp/fill"
"$SD" mkdir "$DATA/after-fill$to" 2>&1
echo "mkdir rc=$?"
EOF
won=0
for try in 1 2 3 4 5; do
        to=$((try % 2 ? 1001 : 1000))
        out=$(as_app env SD="$SD" BIG="$long/big" OUT="$T/appout" AFS="$T/afs" DATA="$T/data" bash "$T/appout/fill.sh" $to)
        # Did the fill land inside the walk?  Then the chown's outcome was lost.
        if grep -q "WAS performed" "$T/appout/chown.out"; then won=1; break; fi
        rm -rf "$T/data/after-fill$to"
done
is "$won" 1 "(g) the app filled the log's filesystem while the chown walked (try $try of at most 5)"
is "$out" "chown rc=1 mkdir rc=0" "(g) the chown is reported as performed but unrecorded; after the space is freed requests are served"
like "$(cat "$T/appout/chown.out")" "chown WAS performed, but its audit record could not be written.*No space left" \
        "(g) ... the client is told so"
export BIG="$long/big"
out=$(json '
import os
big = os.environ["BIG"]
i = [r for r in recs if r["event"] == "intent" and r["op"] == "chown" and r["args"]["path"] == big]
last = i[-1]
outcome = [r for r in recs if r.get("intent") == last["seq"]]
after = [r for r in recs if r["seq"] > last["seq"]]
print("intent", last["caller"]["uid"], last["args"]["uid"], "outcomes", len(outcome),
      "next", after[0]["event"], after[0]["op"], after[0].get("lost"))
' "$T/afs/audit.jsonl")
like "$out" "^intent 1000 10(00|01) outcomes 0 next intent mkdir \{'records': 1, 'intents': \[[0-9]+\]\}$" \
        "(g) the log holds the chown's intent (caller uid 1000, the owner asked for), no outcome, and the next record says 1 was lost, naming the intent"
iseq=$(json 'print([r for r in recs if r["event"] == "intent" and r["op"] == "chown"][-1]["seq"])' "$T/afs/audit.jsonl")
gv=$(verify "$T/afs/audit.jsonl")
echo "# (g) verify said: $(flat "$gv")"
like "$gv" "lost: 1 record before this one could not be written; among them the outcome of intent seq $iseq .*NOT intact.*rc=1$" \
        "(g) verify reports the loss and the intent it concerns, and does not say intact"
stop
umount "$T/afs"

# --- (h) audit - is shared with the app: a forged chain and half lines ------------
# Exec mode, the records and the app's output on one pipe (docker logs).  The
# app (uid 1000, PID 1) leaves half a line before each request, so the
# broker's record lands on the same line, and appends a self-consistent
# forged chain: a start and a chown of /etc/shadow "by uid 0".
cat >"$T/appout/forge.py" <<'PY'
import hashlib, json, os
log = os.urandom(16).hex()
def rec(seq, prev, **kw):
    r = {"time": "2026-12-04T12:00:00.000000Z", "seq": seq, "log": log, "prev": prev}
    r.update(kw)
    return json.dumps(r, separators=(",", ":"))
a = rec(1, "0" * 64, policy_hash="ab" * 32, event="start", request_id=None, caller=None, op=None,
        args={"path": None, "uid": None, "gid": None, "mode": None, "flags": None, "addr": None},
        decision=None, rule=None, result="OK", duration_us=0, changed=None, message="stepdownd")
b = rec(2, hashlib.blake2b(a.encode(), digest_size=32).hexdigest(), event="request", request_id=1,
        caller={"uid": 0, "gid": 0, "pid": 1, "exe": "/bin/sh", "pidfd_ino": None}, op="chown",
        args={"path": "/etc/shadow", "uid": 1000, "gid": 1000, "mode": None, "flags": None,
              "addr": None}, decision="allow", rule="/etc/stepdown/stepdown.conf:3", result="OK",
        duration_us=9, changed=1, message=None)
print(a, b, sep="\n", flush=True)
PY
cat >"$T/appout/app.sh" <<'EOF'
printf 'progress 50%%' >&2
"$SD" mkdir "$D/h1"
python3 "$OUT/forge.py" >&2
printf 'half' >&2
"$SD" mkdir "$D/h2"
echo app done >&2
EOF
for signed in yes no; do
        rm -rf "$T/fdata/h1" "$T/fdata/h2"
        fpolicy "$T/h.conf" -
        [ $signed = yes ] && echo "audit-sign $T/keys/audit.key" >>"$T/h.conf"
        in_container "$STEPDOWND" -c "$T/h.conf" -- env SD="$SD" D="$T/fdata" OUT="$T/appout" \
                /bin/sh "$T/appout/app.sh" 2>&1 | cat >"$T/h-$signed.out"
done
H=$T/h-yes.out
[ -d "$T/fdata/h2" ] && ok "(h) the app's requests were served" || not_ok "(h) the app's requests were served"
forged=$(grep -n 'etc/shadow\|"policy_hash":"abab' "$H" | cut -d: -f1 | tr '\n' ' ')
torn1=$(grep -n '^progress 50%{' "$H" | cut -d: -f1)
torn2=$(grep -n '^half{' "$H" | cut -d: -f1)
[ -n "$torn1" ] && [ -n "$torn2" ] && ok "(h) the app's half lines tore two of the broker's lines ($torn1, $torn2)" ||
        not_ok "(h) the app's half lines tore two of the broker's lines"
out=$(verify "$H")
echo "# (h) verify said: $(flat "$out")"
like "$out" "$H:$torn1: 12 foreign bytes before the record .* $H:$torn2: 4 foreign bytes before the record" \
        "(h) verify names the foreign bytes before the records, by line, and still checks the records"
like "$out" "is not signed, but other logs in this input are.*NOT intact.*rc=1$" \
        "(h) without the key: the unsigned forged chain among signed records is named, not intact"
out=$(verify --pubkey "$T/keys/audit.pub" "$H")
echo "# (h) verify --pubkey said: $(flat "$out")"
f1=$(echo $forged | cut -d' ' -f1)
f2=$(echo $forged | cut -d' ' -f2)
like "$out" "$H:$f1: bad signature \(record is not signed\) $H:$f2: bad signature \(record is not signed\) .*NOT intact: 2 problems.*rc=1$" \
        "(h) with --pubkey: exactly the two forged lines ($f1, $f2) are rejected"
genuine=$(sed -n "${torn1}p" "$H" | grep -o '"log":"[0-9a-f]*"')
like "$(grep -F "$genuine" "$H" | "$SD" audit verify --pubkey "$T/keys/audit.pub" - 2>&1; echo "rc=$?")" \
        "(intact: 1[01] records in 1 file, 1 log, all signatures valid; 2 records with foreign bytes before it on its line rc=0|-:2: unsealed: [0-9]+ records after the last seal \(-:1\) are chained but not signed .*sealed part intact: 1[01] records in 1 file, 1 log, all signatures valid; 2 records with foreign bytes before it on its line; 1 log without a stop record \(above\); [0-9]+ records after the last seal are chained but not signed \(above\) rc=5)$" \
        "(h) the broker's own records (verify - on stdin) are intact and sealed (stop missing: the tail after the last seal named, exit 5)"
echo "# (h) unsigned: verify said: $(flat "$(verify "$T/h-no.out")")"
like "$(verify "$T/h-no.out")" ":$(grep -n 'etc/shadow' "$T/h-no.out" | cut -d: -f1): open: log [0-9a-f]{32} ends at seq 2 without a stop record .* open \(intact so far\): 1[234] records in 1 file, 2 logs.*rc=3$" \
        "(h) unsigned audit -: the forged chain is a second, self-consistent log; verify can only count it (signing is the guarantee)"

# --- (i) stepdown audit show: a recorded log, each filter ---------------------------
{
        echo "socket $T/run/sd.sock"
        echo "key none"
        echo "audit $T/show.jsonl"
        echo "allow app mkdir $T/data/** mode=0700,0750"
        echo "allow bob chmod $T/data/** mode=0600"
} >"$T/pol-i.conf"
chmod 644 "$T/pol-i.conf"
start "$T/pol-i.conf"
touch "$T/data/i-file"
chown 1001:1001 "$T/data/i-file"
as_bob() { setpriv --reuid=1001 --regid=1001 --clear-groups env STEPDOWN_SOCKET="$T/run/sd.sock" "$@"; }
as_app env -u STEPDOWN_KEY_FILE "$SD" mkdir "$T/data/i1"
as_app env -u STEPDOWN_KEY_FILE "$SD" chmod 0644 "$T/data/i1" 2>/dev/null
as_bob "$SD" chmod 0600 "$T/data/i-file"
as_bob "$SD" mkdir "$T/data/i2" 2>/dev/null
as_app env -u STEPDOWN_KEY_FILE "$SD" mkdir "$T/data/i-$(printf '\033')[2J"
show() { "$SD" audit show "$@" 2>&1; echo "rc=$?"; }
# rows FILTER...: "op:decision:result:uid=N" of each row the table shows.
rows() { "$SD" audit show "$@" "$T/show.jsonl" | awk '/^[0-9]/ { print $6 ":" $8 ":" $9 ":" $4 }' | tr '\n' ' '; }
out=$(show "$T/show.jsonl")
like "$out" "^SEQ +CHAIN +TIME +CALLER +OP +PATH/ADDRESS +DECISION +RESULT +CHANGED +RULE/REASON " "(i) show: a table with a header"
like "$out" " ok +[-0-9T:]+Z uid=1000 pid=[0-9]+ +mkdir +$T/data/i1 +allow +OK +- +$T/pol-i.conf:4 " "(i) ... a row: chain mark, time, caller, op, path, decision, result, changed, rule"
like "$out" "$T/data/i-\\\\x1b\[2J " "(i) ... a control character in a path is shown escaped, never sent to the terminal"
n=$(grep -c . "$T/show.jsonl")
is "$(show "$T/show.jsonl" | grep -c '^[0-9]')" "$n" "(i) no filter: one row per record ($n)"
is "$(rows --deny)" "chmod:deny:EACCES:uid=1000 mkdir:deny:EACCES:uid=1001 " "(i) --deny: the two refusals"
is "$(rows --op mkdir --uid 1000)" "mkdir:allow:intent:uid=1000 mkdir:allow:OK:uid=1000 mkdir:allow:intent:uid=1000 mkdir:allow:OK:uid=1000 " \
        "(i) --op mkdir --uid 1000: app's two mkdirs, intent and outcome each"
is "$(rows --uid 1001)" "chmod:allow:intent:uid=1001 chmod:allow:OK:uid=1001 mkdir:deny:EACCES:uid=1001 " "(i) --uid 1001: bob's three records"
is "$(rows --op stop)" "" "(i) --op stop: nothing yet (the broker runs)"
is "$(rows --uid app)" "$(rows --uid 1000)" "(i) --uid app: a user name is the same as its uid"
is "$(show --uid nosuchuser "$T/show.jsonl")" "stepdown audit show: --uid nosuchuser: not a uid, nor a user name in this host's user database rc=2" \
        "(i) --uid with an unknown name: a usage error naming it"
is "$(show --op frob "$T/show.jsonl")" "stepdown audit show: --op frob: not an operation or event the audit log records; one of: mkdir chown chmod open bind auth connect remap start setup harden serve intent request stop rc=2" \
        "(i) --op frob: refused, listing the operations and events (it would match nothing)"
like "$(show --deny "$T/show.jsonl")" " deny +EACCES +- +no allow rule for chmod $T/data/i1 by uid 1000; closest is $T/pol-i.conf:5 \(allow bob chmod $T/data/\*\*\): the caller does not match" \
        "(i) a refusal's row says why, naming the closest rule"
like "$(show --op chown "$T/alog/before.jsonl")" " chown +$T/data/a +allow +OK +3 +$T/pol.conf:$LC" \
        "(i) a recursive chown's row shows how many entries it changed"
like "$("$SD" audit show "$T/show.jsonl" | tail -1)" "^chain: $n rows ok \(linked to seq 1 of their log\), 0 \? .*, 0 BAD" \
        "(i) after the table: every row belongs to an intact chain"
is "$(show --since 2999-01-01 "$T/show.jsonl")" "rc=0" "(i) --since in the future: nothing"
is "$(show --since 1h "$T/show.jsonl" | grep -c '^[0-9]')" "$n" "(i) --since 1h: everything"
is "$(show --since yesterday-ish "$T/show.jsonl")" \
        "stepdown audit show: --since yesterday-ish: expected YYYY-MM-DD[THH:MM[:SS]] (UTC) or N followed by s, m, h or d (ago) rc=2" \
        "(i) a --since it cannot read is a usage error naming the value"
is "$(show --json --deny "$T/show.jsonl" | head -2 | python3 -c 'import json,sys; print(" ".join(json.loads(l)["op"] for l in sys.stdin))')" "chmod mkdir" \
        "(i) --json --deny: the records as they are, one per line, for jq"
is "$("$SD" audit show --json <"$T/stderr.out" | cmp - "$T/stderr.jsonl" && echo same)" "same" \
        "(i) from standard input, a mixed stream: only the records come out, byte for byte"
"$SD" audit show --follow --op chmod "$T/show.jsonl" >"$T/follow.out" 2>&1 &
fpid=$!
sleep 0.3
as_bob "$SD" chmod 0600 "$T/data/i-file"
for _ in $(seq 50); do [ "$(grep -c chmod "$T/follow.out")" -ge 4 ] && break; sleep 0.1; done
kill "$fpid"
wait "$fpid" 2>/dev/null
is "$(grep -c "chmod .*$T/data/i-file" "$T/follow.out")" "4" "(i) --follow: a request made later shows up (intent and outcome)"
as_app env -u STEPDOWN_KEY_FILE "$SD" mkdir "$T/data/$(printf 'L%.0s' $(seq 200))"
n=$(grep -c . "$T/show.jsonl")
out=$("$SD" audit show "$T/show.jsonl" | awk 'NR == 1 { d = index($0, "DECISION"); r = index($0, "RESULT"); next }
        /^[0-9]/ { n++; if (substr($0, d - 1, 1) != " " || substr($0, d, 1) !~ /[-ad]/ || substr($0, r - 1, 1) != " ") bad++ }
        END { print n, bad + 0 }')
is "$out" "$n 0" "(i) a 200-character path does not shift the columns (elided in the middle)"
like "$("$SD" audit show "$T/show.jsonl")" " /tmp/[^ ]*\.\.\.L{27} +allow" "(i) ... the long path is shown as head...tail"
stop

# --- (k) nothing to verify is not "intact" ------------------------------------------
: >"$T/empty.jsonl"
head -c 100000 /dev/urandom >"$T/random.bin"
is "$(verify "$T/empty.jsonl")" "$T/empty.jsonl: 0 records NOT verified: no audit records in 1 file (0 foreign lines): nothing was checked; are the records in another file or stream? rc=4" \
        "(k) an empty file: not intact, its own message, exit 4"
like "$(verify "$T/random.bin")" "NOT verified: no audit records in 1 file \([0-9]+ foreign lines?\): nothing was checked.* rc=4$" \
        "(k) 100 kB of random bytes: not intact, exit 4"
out=$(printf 'app: starting\napp: listening on :8080\n' | "$SD" audit verify - 2>&1; echo "rc=$?")
like "$out" "^-: 2 foreign lines .* NOT verified: no audit records in 1 file \(2 foreign lines\).* rc=4$" \
        "(k) a captured stream that holds only the app's lines (the records went elsewhere): exit 4"
# --help and -h for every audit subcommand; getopt messages name the subcommand.
for sub in verify show keygen; do
        for h in -h --help; do
                out=$("$SD" audit $sub $h 2>&1; echo "rc=$?")
                like "$out" "^Usage: stepdown audit verify .* rc=0$" "(k) stepdown audit $sub $h: the usage, exit 0"
        done
done
like "$("$SD" audit verify --bogus 2>&1; echo "rc=$?")" "^stepdown audit verify: unrecognized option '--bogus' Usage: .*rc=2$" \
        "(k) an unknown option: named with the subcommand, usage, exit 2"
like "$("$SD" audit show -Z 2>&1; echo "rc=$?")" "^stepdown audit show: invalid option -- 'Z' Usage: .*rc=2$" \
        "(k) ... also for show"

# --- (l) show on a captured stream the app writes to: nothing reaches the terminal raw --
# Exec mode, `audit -`: the app's requests carry a C1 control (U+009B, CSI)
# and a byte that is not UTF-8 in their paths, and the app writes a forged
# record with OSC, CSI, C1 and hidden-text sequences in every field, and a
# plain line of escape sequences.  Neither the table nor --json may put any
# of them on the terminal raw; the forged record is not marked "ok".
cat >"$T/appout/esc.py" <<'PY'
import json, os, sys
esc = "\x1b]0;pwned\x07\x1b[2J\u009b31m\x1b[8m\u202e"
r = {"time": esc + "2026-12-06T00:00:00.000000Z", "seq": 3, "log": os.urandom(16).hex(),
     "prev": "ab" * 32, "event": "request" + esc, "request_id": 1,
     "caller": {"uid": esc, "gid": 0, "pid": esc, "exe": esc, "pidfd_ino": None},
     "op": "chown" + esc, "args": {"path": "/etc/shadow" + esc, "uid": 0, "gid": 0, "mode": esc,
     "flags": esc, "addr": None}, "decision": "deny" + esc, "rule": "x:1" + esc,
     "result": "EPERM" + esc, "duration_us": 1, "changed": None, "message": esc,
     "lost": {"records": 1, "intents": [], "x": esc}}
sys.stderr.buffer.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
sys.stderr.buffer.write(b"\x1b]0;pwned\x07\x1b[2J\xc2\x9b31m plain app line \x9b\xff\n")
PY
printf '%s\n' '"$SD" mkdir "$D/c1-$(printf '"'"'\302\233'"'"')2J"' \
        '"$SD" mkdir "$D/bad-$(printf '"'"'\233'"'"')x"' \
        'python3 "$OUT/esc.py"' >"$T/appout/esc.sh"
rm -rf "$T/fdata/s"
fpolicy "$T/l.conf" -
in_container "$STEPDOWND" -c "$T/l.conf" -- env SD="$SD" D="$T/fdata" OUT="$T/appout" \
        /bin/sh "$T/appout/esc.sh" 2>"$T/l.out"
[ -d "$T/fdata/c1-$(printf '\302\233')2J" ] && ok "(l) the app's requests with a C1 control in the path were served" ||
        not_ok "(l) the app's requests with a C1 control in the path were served"
grep -q 'pwned' "$T/l.out" && ok "(l) the captured stream holds the app's forged record and escape sequences" ||
        not_ok "(l) the captured stream holds the app's forged record"
# raw FILE: the code points a terminal would act on that FILE holds raw
# (C0 but newline, DEL, C1, bidi controls), or "not UTF-8".
raw() {
        python3 - "$1" <<'PY'
import sys
try:
    t = open(sys.argv[1], "rb").read().decode("utf-8")
except UnicodeDecodeError as e:
    print("not UTF-8:", e); sys.exit(0)
bad = sorted({"U+%04X" % ord(c) for c in t if (ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) <= 0x9f
              or 0x202a <= ord(c) <= 0x202e or 0x2066 <= ord(c) <= 0x2069})
print(" ".join(bad) if bad else "none")
PY
}
"$SD" audit show <"$T/l.out" >"$T/l.table" 2>&1
"$SD" audit show --json <"$T/l.out" >"$T/l.json" 2>&1
like "$(python3 -c 'import sys; d = open(sys.argv[1], "rb").read(); print(b"\x1b]0;" in d, b"\xc2\x9b" in d, b"\x9b\xff" in d)' "$T/l.out")" \
        "^True True True$" "(l) the input does carry OSC, C1 and bytes that are not UTF-8 raw (the attack is real)"
is "$(raw "$T/l.table")" "none" "(l) show: no control character reaches the terminal raw"
is "$(raw "$T/l.json")" "none" "(l) show --json: none either (C1 and bidi as \\u escapes, still the same JSON)"
like "$(cat "$T/l.table")" '\\x1b\]0;pwned\\x07\\x1b\[2J\\u009b31m\\x1b\[8m\\u202e' "(l) ... the forged fields are shown escaped"
like "$(grep -F 'c1-\u009b2J' "$T/l.table" | head -1)" 'c1-\\u009b2J ' "(l) ... the C1 control in a real request's path is shown as \\u009b"
like "$(grep -F "$T/fdata/bad-" "$T/l.table" | head -1)" "bad-$(printf '\357\277\275')x " "(l) ... a byte that is not UTF-8 as U+FFFD"
is "$(grep pwned "$T/l.table" | grep '^[0-9]' | awk '{print $2}' | sort -u | tr '\n' ' ')" "? " \
        "(l) the forged record is not marked ok (?: its log began before this input)"
is "$(awk '/^[0-9]/ && !/pwned/ {print $2}' "$T/l.table" | sort -u | tr '\n' ' ')" "ok " \
        "(l) every record of the broker is marked ok"
python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]; print("ok")' "$T/l.json" >"$T/l.jq" 2>&1
is "$(cat "$T/l.jq")" "ok" "(l) show --json still prints JSON"
# A deleted record: every later row of its log is BAD; an injected copy: only it.
grep '^{' "$T/l.out" | grep -v pwned >"$T/l.jsonl"
nl=$(grep -c . "$T/l.jsonl")
sed 5d "$T/l.jsonl" >"$T/l-del.jsonl"
is "$("$SD" audit show "$T/l-del.jsonl" | awk '/^[0-9]/ {print $2}' | uniq -c | awk '{print $1 $2}' | tr '\n' ' ')" "4ok $((nl - 5))BAD " \
        "(l) a deleted record: the rows before it ok, every row after it BAD"
{ sed -n 1,6p "$T/l.jsonl"; sed -n 3p "$T/l.jsonl"; sed -n '7,$p' "$T/l.jsonl"; } >"$T/l-dup.jsonl"
is "$("$SD" audit show "$T/l-dup.jsonl" | awk '/^[0-9]/ {print $2}' | uniq -c | awk '{print $1 $2}' | tr '\n' ' ')" "6ok 1BAD $((nl - 6))ok " \
        "(l) a record slipped in again: only that row BAD, the chain goes on around it"

# --- (j) the log's directory on the app's volume: swapped for a link between starts --
# /vol is the app's (a volume), /vol/log root's; between two starts the app
# moves /vol/log away and puts a symlink to a root-only directory there.
# The second start must refuse, naming the link, and write nothing anywhere.
mkdir -p "$T/vol/log" "$T/rootonly"
chown 1000:1000 "$T/vol"
chmod 700 "$T/rootonly"
VLOG=$T/vol/log/audit.jsonl
fpolicy "$T/j.conf" "$VLOG"
rm -rf "$T/fdata/s"
out=$(in_container "$STEPDOWND" -c "$T/j.conf" -- /bin/true 2>&1; echo "rc=$?")
is "$out" "rc=0" "(j) first start: the log in the app's volume, in a root directory"
n1=$(grep -c . "$VLOG")
as_app /bin/sh -c "mv '$T/vol/log' '$T/vol/log.old' && ln -s '$T/rootonly' '$T/vol/log'"
[ -L "$T/vol/log" ] && ok "(j) the app swapped $T/vol/log for a symlink to a root-only directory" ||
        not_ok "(j) the app swapped $T/vol/log for a symlink"
rm -rf "$T/fdata/s"
out=$(in_container "$STEPDOWND" -c "$T/j.conf" -- /bin/sh -c 'echo the app ran' 2>&1; echo "rc=$?")
like "$out" "^stepdownd: (.*: )?audit log $VLOG: directory $T/vol/log: \"log\" is a symbolic link, which is never followed rc=1$" \
        "(j) second start: refused, naming the link (the app does not run)"
is "$(ls -A "$T/rootonly")" "" "(j) ... nothing landed in the link's target"
is "$(grep -c . "$T/vol/log.old/audit.jsonl")" "$n1" "(j) ... nor in the moved log"
[ ! -e "$T/fdata/s" ] && ok "(j) ... and no setup step ran" || not_ok "(j) ... and no setup step ran"
# The app makes its own directory there instead: refused, named.
as_app /bin/sh -c "rm '$T/vol/log' && mkdir '$T/vol/log'"
out=$(in_container "$STEPDOWND" -c "$T/j.conf" -- /bin/true 2>&1; echo "rc=$?")
like "$out" "its directory $T/vol/log is owned by uid 1000, not root .*rc=1$" \
        "(j) a log directory the app made: refused, naming it and its owner"
is "$(ls -A "$T/vol/log")" "" "(j) ... and nothing written there"
# A root directory the launch user's group may write (not sticky): refused.
rmdir "$T/vol/log"
mkdir -m 0770 "$T/vol/log"
chgrp 1000 "$T/vol/log"
out=$(in_container "$STEPDOWND" -c "$T/j.conf" -- /bin/true 2>&1; echo "rc=$?")
like "$out" "its directory $T/vol/log is writable by its group and not sticky \(mode 0770\).*rc=1$" \
        "(j) a root log directory the app's group can write: refused, naming mode and chmod +t"
chmod 1770 "$T/vol/log"
out=$(in_container "$STEPDOWND" -c "$T/j.conf" -- /bin/true 2>&1; echo "rc=$?")
is "$out" "rc=0" "(j) ... made sticky: accepted"
is "$(stat -c %U "$VLOG")" "root" "(j) ... the log file is root's"

# --- (n) seals in batches: by time, the unsealed tail, forgery before a seal, a cut
policy "$T/pol-seal.conf" "audit $T/sealed.jsonl" "audit-sign $T/keys/audit.key"
start "$T/pol-seal.conf"
like "$(r mkdir "$T/data/n1"; r chmod 0640 "$T/data/n1")" "^rc=0 rc=0$" "(n) requests served"
# The seal timer: within 1 s of the first unsealed record (waited for up to
# 5 s: a loaded machine may run the broker late).
for _ in $(seq 50); do tail -n 1 "$T/sealed.jsonl" | grep -q '"event":"seal"' && break; sleep 0.1; done
n_seal=$(grep -c . "$T/sealed.jsonl")
like "$(tail -n 1 "$T/sealed.jsonl")" '"event":"seal",.*,"sealed":[0-9]+,"sig":"[0-9a-f]{128}"}$' \
        "(n) idle for a second: the broker sealed the chain by itself (a seal record, signed)"
like "$(r chmod 0600 "$T/data/n1")" "^rc=0$" "(n) one more request after the seal"
kill -KILL "$BROKER"
wait "$BROKER" 2>/dev/null
n_all=$(grep -c . "$T/sealed.jsonl")
out=$(verify --pubkey "$T/keys/audit.pub" "$T/sealed.jsonl")
like "$out" "sealed.jsonl:$((n_seal + 1)): unsealed: $((n_all - n_seal)) records after the last seal \($T/sealed.jsonl:$n_seal\) are chained but not signed .*sealed part intact: $n_all records.*rc=5$" \
        "(n) killed: verify --pubkey proves everything up to the last seal and names the unsealed tail (exit 5)"
like "$(verify "$T/sealed.jsonl")" "open \(intact so far\).*rc=3$" "(n) ... without the key: open, as before"
out=$("$SD" audit show "$T/sealed.jsonl" 2>&1)
like "$(flat "$out")" " seal .*seals the [0-9]+ records before it" "(n) audit show: the seal record says what it seals"
is "$(echo "$out" | awk '/^[0-9]/ {print $2}' | sort -u | tr '\n' ' ')" "ok " "(n) ... and every row, sealed or not yet, is ok in the CHAIN column"
# Cut right after the seal: what remains is proven, the cut seen as today (no stop).
head -n "$n_seal" "$T/sealed.jsonl" >"$T/sealed-cut.jsonl"
out=$(verify --pubkey "$T/keys/audit.pub" "$T/sealed-cut.jsonl")
like "$out" "open: log [0-9a-f]{32} ends at seq $n_seal without a stop record.*open \(intact so far\): $n_seal records in 1 file, 1 log, all signatures valid; 1 log without a stop record \(above\) rc=3$" \
        "(n) cut after a seal: open (exit 3), every record signed for"
# A record before the seal forged, the chain relinked: the seal rejects it.
forge "$T/sealed.jsonl" "$T/sealed-forged.jsonl" $((n_seal - 1)) '"result":"OK"' '"result":"EPERM"'
grep -q '"sig"' <(sed -n "$((n_seal - 1))p" "$T/sealed-forged.jsonl") && not_ok "(n) the forged record is not a seal"
like "$(verify "$T/sealed-forged.jsonl")" "open \(intact so far\).*rc=3$" "(n) a forged record before the seal, chain relinked: the chain alone is fooled"
like "$(verify --pubkey "$T/keys/audit.pub" "$T/sealed-forged.jsonl")" "sealed-forged.jsonl:$n_seal: bad signature \(a seal over the [0-9]+ unsigned records? since .*NOT intact.*rc=1$" \
        "(n) ... verify --pubkey rejects the seal over it (exit 1)"

# --- (m) the provisioned key file, by a path the app could bend ---------------
# The app owns $T/kvol (a volume) and plants a link in it to a root-only
# directory holding root's own key, so that the broker would take a secret
# of root's for the app's key; then puts a key file of its own there.  Both
# starts must stop before serving, naming the component at fault.
mkdir -p "$T/kvol" "$T/rootkeys"
chown 1000:1000 "$T/kvol"
chmod 700 "$T/rootkeys"
head -c 32 /dev/urandom >"$T/rootkeys/root.key"
chmod 400 "$T/rootkeys/root.key"
kpolicy() { printf 'socket %s/run/sd.sock\nkey %s\nallow app mkdir %s/data/** mode=0700\n' "$T" "$1" "$T" >"$T/m.conf"; chmod 644 "$T/m.conf"; }
kstart() { rm -rf "$T/run"; timeout 10 "$STEPDOWND" --serve -c "$T/m.conf" 2>&1; echo "rc=$?"; }
as_app ln -s "$T/rootkeys" "$T/kvol/k"
kpolicy "$T/kvol/k/root.key"
like "$(kstart)" "key file $T/kvol/k/root.key: directory $T/kvol/k: \"k\" is a symbolic link.*rc=1$" \
        "(m) key FILE through a link the app planted in a directory on the way: refused, naming it"
[ ! -e "$T/run/sd.sock" ] && ok "(m) ... and no broker serves with it" || not_ok "(m) ... and no broker serves with it"
as_app /bin/sh -c "rm '$T/kvol/k' && head -c 32 /dev/urandom >'$T/kvol/app.key' && chmod 400 '$T/kvol/app.key'"
kpolicy "$T/kvol/app.key"
like "$(kstart)" "key file $T/kvol/app.key: its directory $T/kvol is owned by uid 1000, not root .*rc=1$" \
        "(m) key FILE in a directory the app owns (it could swap the file): refused, naming the directory"
[ ! -e "$T/run/sd.sock" ] && ok "(m) ... and no broker serves with it" || not_ok "(m) ... and no broker serves with it"
# The same key in a directory only root can change: served.
mkdir -m 0755 "$T/kroot" && cp -p "$T/kvol/app.key" "$T/kroot/app.key"
kpolicy "$T/kroot/app.key"
start "$T/m.conf" "$T/m.err"
out=$(setpriv --reuid=1000 --regid=1000 --clear-groups env STEPDOWN_SOCKET="$T/run/sd.sock" STEPDOWN_KEY_FILE="$T/kvol/app.key" "$SD" ping 2>&1; echo "rc=$?")
like "$out" "rc=0$" "(m) ... the same key file in root's directory: the broker serves the app that holds it"
stop

done_testing
