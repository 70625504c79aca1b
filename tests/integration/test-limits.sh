#!/bin/bash
# The bound on a recursive chown request (--max-chown-entries): a tree
# within the bound is changed whole; a larger one stops with E2BIG and a
# message naming the limit, and the broker goes on serving.
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
like "$out" "^4 rc=0" "a tree within the bound is changed whole (4 entries)"
is "$(stat -c %u "$T/data/small" "$T/data/small/a" "$T/data/small/d" "$T/data/small/d/b" | sort -u)" "1001" "... every entry now bob's"
like "$out" "chown $T/data/big: stopped: the tree has more entries than one request may walk .*--max-chown-entries.* rc=1" \
        "a larger tree stops with a message naming the limit (exit 1)"
is "$(stat -c %u "$T/data/big" "$T/data/big"/f* | grep -c 1001)" "10" "... after the bound's 10 entries"
like "$out" "rc=0$" "the broker still answers after a bounded request"
out=$("$STEPDOWND" --max-chown-entries 0 --check -c "$T/pol.conf" 2>&1; echo "rc=$?")
like "$out" "--max-chown-entries 0: expected a number from 1 to .*rc=1$" "a zero bound is refused"

done_testing
