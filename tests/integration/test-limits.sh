#!/bin/bash
# The bound on a recursive chown request (--max-chown-entries): a tree
# within the bound is changed whole; a larger one stops with E2BIG and a
# message naming the limit, and the broker goes on serving.  And the
# connection slots under a flood (issue 11 item 8): a socket open to all
# (serve mode, no user), another uid without the key holding every slot it
# can, the app's requests all served in time.
. "$(dirname "$0")/lib.sh"
: "${STEPDOWN_CLI:?}"
mkdir -p "$T/run" "$T/data/small/d" "$T/data/big"
touch "$T/data/small/a" "$T/data/small/d/b"
for i in $(seq 1 40); do touch "$T/data/big/f$i"; done
chown -R 1000:1000 "$T/data"

cat >"$T/pol.conf" <<EOF2
user app
socket $T/run/sd.sock
allow app chown $T/data/** owner=app:app,bob:bob recursive
EOF2
chmod 644 "$T/pol.conf"

out=$(in_container "$STEPDOWND" -c "$T/pol.conf" --max-chown-entries 10 -- /bin/sh -c '
        "$0" chown -R -v bob:bob "$1/data/small"; echo "rc=$?"
        "$0" chown -R bob:bob "$1/data/big"; echo "rc=$?"
        "$0" ping; echo "rc=$?"' "$STEPDOWN_CLI" "$T" 2>&1)
like "$out" "^$T/data/small: 4 entries changed rc=0" "a tree within the bound is changed whole (4 entries)"
is "$(stat -c %u "$T/data/small" "$T/data/small/a" "$T/data/small/d" "$T/data/small/d/b" | sort -u)" "1001" "... every entry now bob's"
like "$out" "chown $T/data/big: stopped: the tree has more entries than one request may walk .*--max-chown-entries.* rc=1" \
        "a larger tree stops with a message naming the limit (exit 1)"
is "$(stat -c %u "$T/data/big" "$T/data/big"/f* | grep -c 1001)" "10" "... after the bound's 10 entries"
like "$out" "rc=0$" "the broker still answers after a bounded request"
out=$("$STEPDOWND" --max-chown-entries 0 --check -c "$T/pol.conf" 2>&1; echo "rc=$?")
like "$out" "--max-chown-entries 0: expected a number from 1 to .*rc=1$" "a zero bound is refused"

# --- connection slots under a flood --------------------------------------------
mkdir -p "$T/keys" "$T/flood"
chown 1000:1000 "$T/flood"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/keys/app.key"
chown 1000:1000 "$T/keys/app.key"
chmod 400 "$T/keys/app.key"
cat >"$T/flood.conf" <<EOF2
socket $T/run/flood.sock
key $T/keys/app.key
allow app mkdir $T/flood/* mode=0700
allow bob chmod $T/flood/* mode=0600
EOF2
chmod 644 "$T/flood.conf"
as_uid() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --clear-groups "$@"; }
# flood ARGS...: a serve-mode broker (its socket 0666: no user) that gives
# a client 30 s to authenticate, bob (named by a rule, no key) and nohome
# (named by none) each reconnecting in a loop to hold every slot they can
# for 14 s; meanwhile the app (uid 1000, with the key) makes 40 requests,
# 8 at a time, each with a 10 s timeout: shorter than a held slot lasts,
# so waiting for the flood's slots to time out is not enough.
flood() {
        rm -rf "$T/run/flood.sock" "$T"/flood/r* "$T/flood.err"
        unshare --mount --propagation private -- /bin/bash -c \
                'mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group && shift 2 && exec "$@"' \
                _ "$T/passwd" "$T/group" "$STEPDOWND" --serve --auth-timeout 30 -c "$T/flood.conf" "$@" >"$T/flood.log" 2>&1 &
        local spid=$!
        for _ in $(seq 100); do [ -S "$T/run/flood.sock" ] && break; sleep 0.05; done
        as_uid 1001 "$RAW_CLIENT" "$T/run/flood.sock" hog 200 14 >"$T/hog-bob" &
        local h1=$!
        as_uid 1002 "$RAW_CLIENT" "$T/run/flood.sock" hog 50 14 >"$T/hog-nohome" &
        local h2=$!
        sleep 2
        local batch=()
        for i in $(seq 40); do
                (t0=$(date +%s%N)
                 as_uid 1000 env STEPDOWN_SOCKET="$T/run/flood.sock" STEPDOWN_KEY_FILE="$T/keys/app.key" \
                        STEPDOWN_TIMEOUT=10 "$STEPDOWN_CLI" mkdir -m 0700 "$T/flood/r$i" 2>>"$T/flood.err"
                 echo "$? $(( ($(date +%s%N) - t0) / 1000000 ))") &
                batch+=($!)
                if [ $((i % 8)) -eq 0 ]; then wait "${batch[@]}"; batch=(); fi
        done >"$T/flood.rc"
        wait $h1 $h2
        kill -TERM $spid 2>/dev/null
        wait $spid 2>/dev/null
        fails=$(awk '$1 != 0' "$T/flood.rc" | wc -l)
        worst=$(awk '{print $2}' "$T/flood.rc" | sort -n | tail -1)
        made=$(ls -d "$T"/flood/r* 2>/dev/null | wc -l)
}
flood
is "$fails $made" "0 40" "flood, default limits: all 40 of the app's requests served (worst ${worst} ms) while two other uids flood"
like "$(cat "$T/hog-bob")" "^held at most (3[0-2]|[12]?[0-9]), opened [0-9]+" \
        "... bob (named by a rule, no key) held at most half the 64 slots ($(cat "$T/hog-bob"))"
like "$(cat "$T/hog-nohome")" "^held at most 0, opened [0-9]+" "... nohome (named by no rule) held none: dropped at accept"
flood --max-clients-per-uid 64
is "$fails $made" "0 40" "flood, one uid allowed all 64 slots: the app still gets in (worst ${worst} ms): unauthenticated slots are reclaimed"
like "$(cat "$T/hog-bob")" "^held at most (6[0-4]|[1-5]?[0-9]), opened [0-9]+" "... bob took up to all of them ($(cat "$T/hog-bob"))"
head -5 "$T/flood.err" | sed 's/^/# /'
unshare --mount --propagation private -- /bin/bash -c \
        'mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group && shift 2 && exec "$@"' \
        _ "$T/passwd" "$T/group" "$STEPDOWND" --serve -c "$T/flood.conf" >"$T/flood.log" 2>&1 &
spid=$!
for _ in $(seq 100); do [ -S "$T/run/flood.sock" ] && break; sleep 0.05; done
out=$(as_uid 1002 "$RAW_CLIENT" "$T/run/flood.sock" silent 1 2>&1 | head -2)
cli=$(as_uid 1002 env STEPDOWN_SOCKET="$T/run/flood.sock" "$STEPDOWN_CLI" ping 2>&1; echo "rc=$?")
kill -TERM $spid; wait $spid
is "$out" "error AUTH EACCES uid 1002: no allow rule names this uid or its groups; not served
eof" "a uid no allow rule names gets one ERROR saying why, then the connection closes"

is "$cli" "stepdown: the broker at $T/run/flood.sock: uid 1002: no allow rule names this uid or its groups; not served
rc=3" "... and stepdown says so, naming the socket (exit 3)"

done_testing
