#!/bin/bash
# What a client may trust about its broker (issue 17, item 1), played by
# an attacker for real: another uid of the "pod" renames root's socket
# directory away in a shared directory and listens in its place; key
# files that are links, someone else's, or readable by others; socket
# directories below a parent others can write.  Each case checks what the
# victim (the app's client, the broker) believed and what happened.
. "$(dirname "$0")/lib.sh"

: "${STEPDOWN_CLI:?}" "${RAW_CLIENT:?}"
SD=$STEPDOWN_CLI
RC=$RAW_CLIENT

mkdir -p "$T/data" "$T/keys"
chown 1000:1000 "$T/data" "$T/keys"

# in_ns CMD...: a mount namespace with the test users; bg_ns: the same
# in the background, where $! is then CMD itself.
NS_SH='mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group && shift 2 && exec "$@"'
in_ns() { unshare --mount --propagation private -- /bin/bash -c "$NS_SH" _ "$T/passwd" "$T/group" "$@"; }
bg_ns() { exec unshare --mount --propagation private -- /bin/bash -c "$NS_SH" _ "$T/passwd" "$T/group" "$@"; }
wait_sock() { for _ in $(seq 200); do [ -S "$1" ] && return 0; sleep 0.05; done; return 1; }
as_app() { setpriv --reuid=1000 --regid=1000 --clear-groups "$@"; }
as_bob() { setpriv --reuid=1001 --regid=1001 --clear-groups "$@"; }
# policy FILE SOCKET [LINE...]: a serve-mode policy for user app.
policy() {
        local f=$1 sock=$2
        shift 2
        {
                echo "user app"
                echo "socket $sock"
                echo "audit $T/audit.jsonl"
                printf '%s\n' "$@"
                echo "allow app mkdir $T/data/* mode=0700"
        } >"$f"
        chmod 644 "$f"
}
n_audit() { grep -c "$1" "$T/audit.jsonl" 2>/dev/null || true; }

# --- 1. the socket directory's parent ------------------------------------------
# A 0777 directory without the sticky bit (an emptyDir as Kubernetes makes
# it): anybody may rename the broker's directory away in it.
mkdir -m 0777 "$T/pod0"
policy "$T/p0.conf" "$T/pod0/broker/sd.sock"
out=$(in_ns "$STEPDOWND" --serve -c "$T/p0.conf" 2>&1; echo "rc=$?")
like "$out" "the socket directory's parent $T/pod0: writable by others and not sticky \(mode 0777\), so another user could rename the socket directory away and listen in its place; make it sticky \(chmod 1777 $T/pod0\).*rc=1$" \
        "a socket directory in a 0777 non-sticky parent: refused, naming the parent, its mode and chmod 1777"
is "$(ls -A "$T/pod0")" "" "... and nothing was created in it"
mkdir -m 0770 "$T/pod1" && chgrp 1000 "$T/pod1"
policy "$T/p1.conf" "$T/pod1/broker/sd.sock"
out=$(in_ns "$STEPDOWND" --serve -c "$T/p1.conf" 2>&1; echo "rc=$?")
like "$out" "the socket directory's parent $T/pod1: writable by its group and not sticky \(mode 0770\).*rc=1$" \
        "a parent its group can write (0770): refused"
mkdir -m 0777 "$T/pod2" && mkdir -m 0755 "$T/pod2/inner"
policy "$T/p2.conf" "$T/pod2/inner/broker/sd.sock"
out=$(in_ns "$STEPDOWND" --serve -c "$T/p2.conf" 2>&1; echo "rc=$?")
like "$out" "an ancestor of the socket directory $T/pod2: writable by others and not sticky \(mode 0777\).*chmod 1777 $T/pod2.*rc=1$" \
        "an ancestor further up that others can write: refused too, naming it"
is "$(ls -A "$T/pod2/inner")" "" "... nothing created below it"

# --- 2. the documented layout (the Kubernetes example): sticky, unhijackable -------
# The example's policy makes the emptyDir sticky in its first setup step.
mkdir -m 0777 "$T/pod"
policy "$T/pod.conf" "$T/pod/broker/sd.sock" "setup chmod $T/pod mode=1777"
bg_ns "$STEPDOWND" --serve -c "$T/pod.conf" >"$T/pod.err" 2>&1 &
bpid=$!
wait_sock "$T/pod/broker/sd.sock"
is "$(stat -c '%a' "$T/pod")" "1777" "the example's first setup step makes the emptyDir sticky; the broker starts"
out=$(as_bob mv "$T/pod/broker" "$T/pod/gone" 2>&1; echo "rc=$?")
like "$out" "Operation not permitted.*rc=1$" "another uid cannot rename root's socket directory away in the sticky parent"
out=$(as_app env STEPDOWN_SOCKET="$T/pod/broker/sd.sock" STEPDOWN_KEY_FILE="$T/pod/broker/sd.key" \
        "$SD" mkdir -m 0700 "$T/data/real" 2>&1; echo "rc=$?")
is "$out" "rc=0" "... and the app is served by the real broker"
[ -d "$T/data/real" ] && ok "... its directory exists" || not_ok "... its directory exists"

# --- 3. the impostor -----------------------------------------------------------
# The old example's layout: the parent loses its sticky bit (a 0777
# emptyDir, as the broker had accepted it before this check).  bob, any
# other uid of the pod, renames the broker's directory away (no right on
# the directory itself is needed), makes his own under the same name and
# listens there.  The app, holding the real key, asks for a mkdir.
chmod 0777 "$T/pod"
as_bob mv "$T/pod/broker" "$T/pod/stolen" && as_bob mkdir -m 0755 "$T/pod/broker" &&
        ok "bob renamed root's socket directory away in the non-sticky parent and made his own" ||
        not_ok "bob renamed root's socket directory away in the non-sticky parent and made his own"
KEY=$T/pod/stolen/sd.key # the real key, where the app still has it (an fd in exec mode)
impostor() { # METHOD: bob listens at the broker's path; its log in $T/imp.out
        rm -f "$T/pod/broker/sd.sock"
        # not through as_bob: $! must be the impostor itself (setpriv
        # execs it), so that the kill below does not leave it behind
        setpriv --reuid=1001 --regid=1001 --clear-groups \
                "$RC" "$T/pod/broker/sd.sock" impostor "$1" 1 >"$T/imp.out" 2>&1 &
        ipid=$!
        wait_sock "$T/pod/broker/sd.sock"
}
app_mkdir() { # DIR [ENV...]: the app's client, with the real key
        local d=$1
        shift
        as_app env STEPDOWN_SOCKET="$T/pod/broker/sd.sock" STEPDOWN_KEY_FILE="$KEY" "$@" \
                "$SD" mkdir -m 0700 "$T/data/$d" 2>&1
        echo "rc=$?"
}
n_req=$(n_audit '"op":"mkdir"')
impostor none
out=$(app_mkdir victim1)
wait $ipid
like "$out" "^stepdown: the server at $T/pod/broker/sd.sock runs as uid 1001, not as root: refusing it \(another user's socket in the broker's place\? if the broker does run as uid 1001, set STEPDOWN_BROKER_UID=1001\) rc=3$" \
        "impostor (uid 1001): the key-holding client refuses a server that is not root, and says why"
is "$(grep -c 'impostor got' "$T/imp.out")" "0" "... the impostor got nothing from it"
# The uid check aside (a deployment whose broker runs as that uid), the
# handshake alone must still catch the impostor: it has no key.
impostor none
out=$(app_mkdir victim2 STEPDOWN_BROKER_UID=1001)
wait $ipid
like "$out" "^stepdown: the server at $T/pod/broker/sd.sock does not ask for the key this client holds \(AUTH_METHOD none\), so it cannot prove it is the broker that made the key: refusing it rc=3$" \
        "impostor offering AUTH_METHOD none: refused by a client that holds a key"
is "$(grep -c 'impostor got' "$T/imp.out")" "0" "... no request reached it"
impostor mac
out=$(app_mkdir victim3 STEPDOWN_BROKER_UID=1001)
wait $ipid
like "$out" "^stepdown: the server at $T/pod/broker/sd.sock did not prove that it holds the key \(wrong proof in AUTH_OK\): refusing it rc=3$" \
        "impostor asking for AUTH and answering with a made-up proof: refused"
is "$(flat "$(cat "$T/imp.out")")" "impostor listening impostor got auth impostor: client 1 gone" \
        "... it saw the AUTH (useless to it: bound to its own uid) and no request"
# A key file planted in the impostor's directory: bob's, not the app's.
impostor mac
head -c 32 /dev/urandom >"$T/bobkey" && chown 1001:1001 "$T/bobkey" && chmod 0644 "$T/bobkey"
as_bob cp -p "$T/bobkey" "$T/pod/broker/sd.key"
out=$(KEY=$T/pod/broker/sd.key app_mkdir victim4 STEPDOWN_BROKER_UID=1001)
kill $ipid 2>/dev/null
wait $ipid 2>/dev/null
like "$out" "^stepdown: the key file STEPDOWN_KEY_FILE=$T/pod/broker/sd.key: owned by uid 1001, not by this process's uid 1000 \(a key file must be the caller's own\) rc=3$" \
        "a key file the impostor planted next to its socket: refused (not the app's own)"
is "$(grep -c 'impostor got' "$T/imp.out")" "0" "... and nothing was sent"
ls "$T/data" >"$T/data.ls"
is "$(flat "$(cat "$T/data.ls")")" "real" "the victim's state: none of the app's mkdirs reported success or happened anywhere"
is "$(n_audit '"op":"mkdir"')" "$n_req" "... and the real broker's audit shows no request from those attempts"
# The real broker is still there (its directory renamed): clients that
# find it directly still get in.
out=$(as_app env STEPDOWN_SOCKET="$T/pod/stolen/sd.sock" STEPDOWN_KEY_FILE="$KEY" "$SD" ping 2>&1; echo "rc=$?")
like "$out" "rc=0$" "... while the real broker, reached at its real place, still proves itself and serves"
kill -TERM "$bpid"
wait "$bpid"

# --- 4. the key file -----------------------------------------------------------
head -c 32 /dev/urandom >"$T/keys/app.key"
chown 1000:1000 "$T/keys/app.key" && chmod 0400 "$T/keys/app.key"
# The broker's copy lives in a directory only root can change (it refuses
# a key file whose directory the app owns: test-audit.sh plays that).
mkdir -m 0755 "$T/bkeys" && cp -p "$T/keys/app.key" "$T/bkeys/app.key"
mkdir -m 0755 "$T/run4"
policy "$T/p4.conf" "$T/run4/sd.sock" "key $T/bkeys/app.key"
bg_ns "$STEPDOWND" --serve -c "$T/p4.conf" >"$T/p4.err" 2>&1 &
bpid=$!
wait_sock "$T/run4/sd.sock"
try_key() { # KEYFILE [as_app|as_bob]
        ${2:-as_app} env STEPDOWN_SOCKET="$T/run4/sd.sock" STEPDOWN_KEY_FILE="$1" "$SD" ping 2>&1
        echo "rc=$?"
}
like "$(try_key "$T/keys/app.key")" "rc=0$" "the app's own 0400 key file: accepted"
n_auth=$(n_audit '"op":"auth"')
# a symlink to the real key, as the last component and as a directory
as_app ln -s "$T/keys/app.key" "$T/keys/link.key"
like "$(try_key "$T/keys/link.key")" "^stepdown: the key file STEPDOWN_KEY_FILE=$T/keys/link.key: $T/keys/link.key is a symbolic link \(the key file is opened without following links: name the file itself\) rc=3$" \
        "a key file that is a symbolic link: refused, naming the link"
ln -s "$T/keys" "$T/keylinkdir"
like "$(try_key "$T/keylinkdir/app.key")" "^stepdown: the key file STEPDOWN_KEY_FILE=$T/keylinkdir/app.key: $T/keylinkdir is a symbolic link .*rc=3$" \
        "a symbolic link as a directory of its path: refused, naming that component"
# someone else's file holding the right key (root's, readable by all)
cp "$T/keys/app.key" "$T/keys/root.key" && chmod 0644 "$T/keys/root.key"
like "$(try_key "$T/keys/root.key")" "^stepdown: the key file STEPDOWN_KEY_FILE=$T/keys/root.key: owned by uid 0, not by this process's uid 1000 \(a key file must be the caller's own\) rc=3$" \
        "a key file someone else owns (root's, readable): refused"
# the app's own, but readable by others
cp "$T/keys/app.key" "$T/keys/open.key" && chown 1000:1000 "$T/keys/open.key" && chmod 0644 "$T/keys/open.key"
like "$(try_key "$T/keys/open.key")" "^stepdown: the key file STEPDOWN_KEY_FILE=$T/keys/open.key: mode 0644 gives group or other access \(a key file must be private: chmod 600\) rc=3$" \
        "the app's own key file at 0644: refused"
# ... which bob could read and use: he is refused as well
like "$(try_key "$T/keys/open.key" as_bob)" "owned by uid 1000, not by this process's uid 1001.*rc=3$" \
        "... and another uid cannot use the app's readable key file either"
is "$(n_audit '"op":"auth"')" "$n_auth" "the refused key files never reached the broker (no authentication attempt audited)"
# root's health check reading the app's private key (the compose example)
out=$(STEPDOWN_SOCKET="$T/run4/sd.sock" STEPDOWN_KEY_FILE="$T/keys/app.key" "$SD" ping 2>&1; echo "rc=$?")
like "$out" "rc=0$" "root may use the app's private key file (a health check in the broker's container)"
kill -TERM "$bpid"
wait "$bpid"

# --- 5. not a socket (issue 18, item 5) -------------------------------------------
out=$(STEPDOWN_SOCKET=/etc/passwd "$SD" ping 2>&1; echo "rc=$?")
is "$out" "stepdown: cannot connect to the broker at /etc/passwd: it is a regular file, not a socket rc=3" \
        "STEPDOWN_SOCKET naming a regular file says it is not a socket"

done_testing
