#!/bin/bash
# Transparent mode against a hostile app (issue 20, adversarial tests): the
# app (uid 1000) runs under `intercept mkdir chown chmod open` and plays each
# attack on the broker's seccomp notifier through intercept-hostile; every
# case is judged from the filesystem afterwards.  $T/data and $T/vict are
# root's 0755 (the app cannot write them itself): anything in $T/data was
# made by the broker, anything in $T/vict is a broker that acted on a path no
# rule allows.  $T/own and $T/aside are the app's; the files in them are
# root's.
. "$(dirname "$0")/lib.sh"

: "${STEPDOWN_CLI:?}" "${INTERCEPT_HOSTILE:?}"
SD=$STEPDOWN_CLI
H=$INTERCEPT_HOSTILE

mkdir -p "$T/data" "$T/datb" "$T/vict" "$T/own" "$T/aside" "$T/appdir" "$T/run" "$T/keys" "$T/sec2" "$T/sync"
chmod 0700 "$T/sec2"
echo ALLOWED >"$T/keys/allowed" && echo SHADOW >"$T/sec2/shadow1" && chmod 600 "$T/keys/allowed" "$T/sec2/shadow1"
chown 1000:1000 "$T/own" "$T/aside" "$T/appdir" "$T/sync"
cat >"$T/pol.conf" <<EOF
user app
socket $T/run/sd.sock
intercept mkdir chown chmod open
allow app mkdir $T/data/* mode=0700
allow app mkdir $T/datb/* mode=0700
allow app open $T/keys/allowed read
allow app chown $T/own/* owner=app:app
allow app chmod $T/own/* mode=0600
EOF
chmod 644 "$T/pol.conf"

# app CMD...: CMD's stdout; stepdownd's and CMD's stderr go to $T/stderr.
app() { timeout 120 unshare --pid --fork --mount --mount-proc --propagation private -- \
        /bin/bash -c 'mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group && shift 2 && exec "$@"' \
        _ "$T/passwd" "$T/group" "$STEPDOWND" -c "$T/pol.conf" -- "$@" 2>>"$T/stderr"; }
own() { stat -c '%u:%g %a' "$1" 2>&1; }
# nothing_in DIR DESCRIPTION: DIR is empty
nothing_in() { is "$(ls -A "$1")" "" "$2"; }
# all_apps PATTERN DESCRIPTION: every directory matching $T/data/PATTERN is
# the app's, 0700 (made by the broker under the rule); none at all passes.
all_apps() {
        local bad=""
        for d in $T/data/$1; do
                [ -e "$d" ] || continue
                [ -d "$d" ] && [ ! -L "$d" ] && [ "$(own "$d")" = "1000:1000 700" ] || bad="$bad $d($(own "$d"))"
        done
        is "$bad" "" "$2"
}

# --- the mechanism works at all (else the "nothing was made" checks below
# would prove nothing) ---------------------------------------------------------
out=$(app /bin/sh -c "exec 2>&1; mkdir -m 0700 $T/data/plain && echo made; mkdir -m 0700 $T/vict/plain; echo rc=\$?")
like "$out" "^made mkdir: cannot create directory .$T/vict/plain.: Permission denied rc=1$" \
        "an unmodified mkdir: served where a rule allows it, the kernel's own EACCES where none does"
is "$(own "$T/data/plain")" "1000:1000 700" "... made as the app's, 0700"
nothing_in "$T/vict" "... nothing made where no rule allows"

# --- the path buffer rewritten while the call is pending ---------------------
# Two threads flip the buffer between $T/data/flip and $T/vict/flip (same
# length) while the main thread calls mkdir(buf) for 3 s.
out=$(app "$H" flip "$T/data/flip" "$T/vict/flip" 3)
like "$out" "^flip: calls=[0-9]{3,} " "flip: the race ran ($(flat "$out"))"
served=$(sed -n 's/.* ok=\([0-9]*\) eexist=\([0-9]*\) .*/\1 + \2/p' <<<"$out")
[ "$((${served:-0}))" -gt 0 ] && ok "flip: ... and the broker served some calls ($((served)))" ||
        not_ok "flip: ... and the broker served some calls (none: the race proves nothing)"
nothing_in "$T/vict" "flip: nothing made under $T/vict (the broker acted on what it read, never on a path no rule allows)"
all_apps "flip*" "flip: what was made is the allowed path, the app's 0700"

# The same for open: the buffer flips between $T/keys/allowed (root's 0600,
# an open rule allows reading it) and $T/sec2/shadow1 (root's 0600 in a
# 0700 directory, no rule): no fd the app gets may read the second.
out=$(app "$H" flipopen "$T/keys/allowed" "$T/sec2/shadow1" 3)
like "$out" "^flipopen: calls=[0-9]{3,} .* flipopen: read-allowed=[1-9][0-9]* read-other=0$" \
        "flipopen: the allowed file was served, the other never read ($(flat "$out"))"

# --- the *at directory fd swapped under the call ------------------------------
out=$(app "$H" dirfd "$T/data" "$T/vict" at 3)
like "$out" "^dirfd: calls=[0-9]{3,} " "dirfd: the race ran ($(flat "$out"))"
nothing_in "$T/vict" "dirfd: nothing made under the swapped-in $T/vict"
all_apps "at" "dirfd: what was made is under the allowed directory, the app's 0700"

# --- fchown/fchmod of an fd whose name moved ----------------------------------
# The app opens $T/own/x (root's file X), then exchanges it with
# $T/aside/y (root's file Y): the allowed name now holds Y, the fd is X.
reset_xy() {
        rm -f "$T/own/x" "$T/aside/y"
        echo X >"$T/own/x" && echo Y >"$T/aside/y" && chmod 644 "$T/own/x" "$T/aside/y"
}
# where LETTER: the path that holds file LETTER now
where() { grep -lx "$1" "$T/own/x" "$T/aside/y"; }
reset_xy
out=$(app "$H" fdmoved "$T/own/x" "$T/aside/y")
like "$out" "fdmoved fchown: calls=1 ok=0 eexist=0 eacces=0 eperm=1 .*fdmoved fchmod: calls=1 ok=0 eexist=0 eacces=0 eperm=1 " \
        "fd moved off the allowed name: fchown and fchmod fail with the kernel's EPERM"
is "$(own "$(where Y)") $(own "$(where X)")" "0:0 644 0:0 644" \
        "... neither the object now at the allowed name (Y) nor the fd's own (X) changed"

reset_xy
out=$(app "$H" fdswap "$T/own/x" "$T/aside/y" 5)
like "$out" "fdswap fchown: calls=[0-9]{2,} " "fdswap: the race ran ($(flat "$out"))"
is "$(own "$(where Y)")" "0:0 644" \
        "fdswap: the file swapped in at the allowed name (never the fd's object) keeps root's 0644"

# chown, lchown and chmod by name while a thread exchanges the allowed name
# with a symbolic link to root's $T/tgt/target: the target is never
# changed (no symlink followed by root), whatever the timing.
mkdir -p "$T/tgt" && echo T >"$T/tgt/target" && chmod 644 "$T/tgt/target"
reset_xy
ln -s "$T/tgt/target" "$T/aside/lnk" && chown -h 1000:1000 "$T/aside/lnk"
out=$(app "$H" pathswap "$T/own/x" "$T/aside/lnk" 3)
like "$out" "pathswap chown: calls=[0-9]{2,} " "pathswap: the race ran ($(flat "$out"))"
is "$(own "$T/tgt/target")" "0:0 644" "pathswap: the symlink's target keeps root's 0644"
rm -f "$T/own/x" "$T/aside/lnk"

# --- an fd whose path names an allowed object it is not -------------------------
# In a user + mount namespace of its own the app mounts a tmpfs over $T/own
# and makes its own $T/own/ux there: the fd's path is the allowed name, its
# object is not root's $T/own/ux that the broker finds at that name.
echo U >"$T/own/ux" && chmod 644 "$T/own/ux"
out=$(app "$H" userns-fd "$T/own/ux")
if grep -q "userns-fd: unshare" <<<"$out"; then
        ok "# SKIP userns-fd: no unprivileged user namespace here ($(flat "$out"))"
else
        like "$out" "^userns-fd: calls=2 ok=1 .* other=1 \(Invalid argument\)$" \
                "userns-fd: fchmod of its own file works, fchown to ids its namespace does not map: the kernel's EINVAL"
fi
is "$(own "$T/own/ux")" "0:0 644" "userns-fd: the object at the allowed name (not the fd's) keeps root's 0644"

# --- a hard link of a victim at the allowed name -------------------------------
# Root's world-writable $T/vict/shared (so protected_hardlinks lets the app
# link it), linked at $T/own/hl: chown/chmod by name and by fd.
echo shared >"$T/vict/shared" && chmod 666 "$T/vict/shared"
out=$(app "$H" hardlink "$T/vict/shared" "$T/own/hl")
like "$out" "^hardlink: calls=5 ok=0 " "hardlink: chown, chmod, fchown, fchmod, fchownat of the link all fail ($(flat "$out"))"
is "$(own "$T/vict/shared")" "0:0 666" "hardlink: the linked victim keeps root's 0666"
rm -f "$T/own/hl" "$T/vict/shared"

# --- a forked child, a thread that exits mid-call, a process that dies --------
like "$(app "$H" fork "$T/data/forked")" "^fork child: mkdir ok$" "fork: the forked child's mkdir is served"
is "$(own "$T/data/forked")" "1000:1000 700" "... made as the app's"

out=$(app "$H" thread-exit "$T/data" 200)
like "$out" "^thread-exit: threads=200 .* final=ok$" \
        "thread-exit: 200 threads signalled mid-call and gone; the broker still serves the next call ($(flat "$out"))"
all_apps "t*" "thread-exit: what was made is the app's 0700"
nothing_in "$T/vict" "... and nothing elsewhere"

out=$(app "$H" dead "$T/data" 30)
like "$out" "^dead: children=30 killed=30 final=ok$" \
        "dead: 30 processes SIGKILLed with calls pending; the broker still serves ($(flat "$out"))"
all_apps "k*" "dead: what was made is the app's 0700"
nothing_in "$T/vict" "... and nothing elsewhere"

# A caller that dies while the broker holds its call, and its pid reused:
# stepdownd-test-hooks waits 1.5 s between reading a call and checking it
# (notif-delay).  A child in $T/data calls mkdir("r") and is SIGKILLed
# 0.3 s in; the test then sets the namespace's ns_last_pid so that the next
# child, in $T/datb (a rule allows r there too), takes the dead one's pid.
# Nothing may be made for the dead caller, under either directory.
: "${STEPDOWND_TEST_HOOKS:?}"
timeout 60 unshare --pid --fork --mount --mount-proc --propagation private -- \
        /bin/bash -c 'mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group && shift 2 && exec "$@"' \
        _ "$T/passwd" "$T/group" env STEPDOWN_TEST_HOOK=notif-delay:1500 "$STEPDOWND_TEST_HOOKS" \
        -c "$T/pol.conf" -- "$H" pidreuse "$T/data" "$T/datb" "$T/sync" >"$T/pidreuse.out" 2>>"$T/stderr" &
apid=$!
for _ in $(seq 200); do [ -s "$T/sync/killed" ] && break; sleep 0.05; done
p=$(cat "$T/sync/pid" 2>/dev/null)
h=$(pgrep -o -f "^$H pidreuse $T/data") # the app itself, in its pid namespace
if [ -n "$p" ] && [ -n "$h" ] && [ "$(readlink "/proc/$h/ns/pid")" != "$(readlink /proc/self/ns/pid)" ]; then
        nsenter --target "$h" --pid -- /bin/sh -c "echo $((p - 1)) >/proc/sys/kernel/ns_last_pid"
fi
touch "$T/sync/go"
wait $apid
out=$(cat "$T/pidreuse.out")
like "$out" "^pidreuse: first=([0-9]+) second=\1 reused$" "pidreuse: the dead caller's pid was taken by another process ($(flat "$out"))"
[ ! -e "$T/data/r" ] && ok "pidreuse: nothing made for the dead caller (its call was read, then the notification was gone)" ||
        not_ok "pidreuse: $T/data/r was made for a caller that was dead: $(own "$T/data/r")"
[ ! -e "$T/datb/r" ] && ok "pidreuse: ... nor under the cwd of the process that took its pid" ||
        not_ok "pidreuse: $T/datb/r was made: the broker took the new process for the caller"

# --- a flood of intercepted calls; socket clients stay served ------------------
# 16 threads: half served (EEXIST from the engine), half continued, from
# before the socket client starts until it was served (at most 60 s: on a
# loaded machine a fixed flood of a few seconds could end first).
mkdir -m 0700 "$T/data/flood" "$T/fsync" && chown 1000:1000 "$T/data/flood" "$T/fsync"
out=$(app /bin/sh -c "'$H' flood 16 60 '$T/data/flood' '$T/vict/flood' '$T/fsync' &
while [ ! -e '$T/fsync/flooding' ]; do sleep 0.05; done
s=\$(date +%s%N); '$SD' ping >/dev/null && '$SD' mkdir '$T/data/viasock' && echo served
echo sock_ms=\$(( (\$(date +%s%N) - s) / 1000000 )); touch '$T/fsync/done'; wait")
like "$out" "^served sock_ms=[0-9]+ flood: threads=16 calls=[0-9]+ in [0-9.]+ s, until the client was served$" "flood: ping and mkdir over the socket served during the flood ($(flat "$out"))"
ms=$(grep -o 'sock_ms=[0-9]*' <<<"$out" | cut -d= -f2)
[ -n "$ms" ] && [ "$ms" -lt 5000 ] && ok "... within 5 s (${ms} ms)" || not_ok "... within 5 s (${ms:-?} ms)"
is "$(own "$T/data/viasock")" "1000:1000 700" "... the socket's mkdir made its directory"
nothing_in "$T/vict" "... and the continued half made nothing"

# --- foreign ABIs: refused, not passed -----------------------------------------
# $T/appdir is the app's: a call passed to the kernel would make it there.
native=$(setpriv --reuid 1000 --regid 1000 --clear-groups "$H" abi32 "$T/appdir/probe" 2>&1)
rm -rf "$T/appdir/probe" "$T/appdir/probe~"
out=$(app "$H" abi32 "$T/appdir/a32" "$T/data/a32")
if grep -q "^i386-mkdir $T/appdir/probe: ok" <<<"$native"; then
        like "$out" "i386-mkdir $T/appdir/a32: [A-Z][a-z]" "i386 mkdir (int 0x80) of a path the app may write: an errno"
        like "$out" "i386-mkdir $T/data/a32: [A-Z][a-z]" "i386 mkdir of an allowed path: an errno"
        ! grep -q ": ok$" <<<"$(grep i386-mkdir <<<"$out")" && ok "... neither answered ok" || not_ok "... neither answered ok: $(flat "$out")"
else
        ok "# SKIP i386 mkdir: this kernel has no i386 entry ($(grep -m1 i386-mkdir <<<"$native"))"
fi
[ ! -e "$T/appdir/a32" ] && ok "foreign ABI: nothing made where the app could have made it (refused, not passed)" ||
        not_ok "foreign ABI: $T/appdir/a32 was made: a foreign call was passed"
[ ! -e "$T/data/a32" ] && ok "foreign ABI: nothing made at the allowed path (i386 83 is symlink, not x86_64's mkdir)" ||
        not_ok "foreign ABI: $T/data/a32 was made ($(own "$T/data/a32")): the broker served a foreign call"
like "$out" "x32-mkdir $T/appdir/a32: [A-Z][a-z]" "x32 mkdir (83 | 0x40000000): an errno"

# --- paths the broker cannot read: the kernel's own EFAULT ----------------------
is "$(app "$H" badptr)" "badptr wild: Bad address badptr prot-none: Bad address badptr unterminated: Bad address" \
        "a wild pointer, a PROT_NONE page, a string running into one: the kernel's EFAULT"

# --- a filter the app stacks on top ---------------------------------------------
is "$(app "$H" stack-errno "$T/data/se")" "stack-errno: mkdir Operation not permitted" \
        "stacked ERRNO filter: the call fails with it"
[ ! -e "$T/data/se" ] && ok "... and the broker did nothing" || not_ok "... and the broker did nothing ($(own "$T/data/se"))"
is "$(app "$H" stack-allow "$T/data/sa")" "stack-allow: mkdir ok" "stacked ALLOW filter: the broker's filter still serves"
is "$(own "$T/data/sa")" "1000:1000 700" "... made as the app's"
# A listener of the app's own would be asked first (and its CONTINUE would
# run the call natively); the kernel refuses a second listener in a filter
# tree, so the broker keeps serving.
out=$(app "$H" stack-notify "$T/data/sn")
like "$out" "^stack-notify: (listener refused: Device or resource busy stack-notify: mkdir ok|mkdir Permission denied)$" \
        "stacked listener of the app's: refused by the kernel (EBUSY) and the broker still serves, or it runs the call with the app's own rights"
if grep -q "listener refused" <<<"$out"; then
        is "$(own "$T/data/sn")" "1000:1000 700" "... made by the broker, as the app's"
else
        [ ! -e "$T/data/sn" ] && ok "... nothing made" || not_ok "... nothing made"
fi
nothing_in "$T/vict" "at the end, $T/vict is still empty"

# What stepdownd and the attacks said on stderr, once each line.
sort "$T/stderr" | uniq -c | sort -rn | head -n 20 | sed 's/^/# stderr: /'
bad=$(grep -E 'AddressSanitizer|runtime error|LeakSanitizer|Segmentation|Aborted|intercept-hostile: ' "$T/stderr")
is "$bad" "" "no sanitizer report, crash or failed attack set-up on stderr"

done_testing
