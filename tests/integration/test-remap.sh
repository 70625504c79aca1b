#!/bin/bash
# remap (issue 14): the image's user app (1000:1000) takes the host user's
# ids (4242:4242, the owner of a bind-mounted workspace) at start.  Each
# "container" gets a private copy of /etc bind-mounted over the real one
# (so passwd/group can be renamed in place, or are read-only), the
# workspace bind-mounted twice (at $T/ws and inside the home), and a
# populated home with symlinks pointing out and hard links.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/image.sh"

: "${STEPDOWN_CLI:?}"
SD=$STEPDOWN_CLI

mkdir -p "$T/etc" "$T/ws" "$T/wssrc" "$T/canary" "$T/outside"
cp -a /etc/. "$T/etc/"
echo secret >"$T/canary/file"
chmod 600 "$T/canary/file"
echo hard >"$T/canary/hard"
chmod 600 "$T/canary/hard"
echo old >"$T/outside/f"
chown 1000:1000 "$T/outside/f"
canary() { stat -c '%u:%g %a %h' "$T/canary/file" "$T/canary/hard" "$T/canary" "$T/outside/f"; }

# reset [EXTRA-PASSWD-LINE [EXTRA-GROUP-LINE]]: fresh user database, home
# and workspace, as an image would ship them.
reset() {
        cat >"$T/etc/passwd" <<EOF
root:x:0:0:root:/root:/bin/bash
app:x:1000:1000:App:$T/home/app:/bin/sh
bob:x:1001:1001::/home/bob:/bin/sh
${1:-}
EOF
        cat >"$T/etc/group" <<EOF
root:x:0:
app:x:1000:
bob:x:1001:
staff:x:2000:app,bob
${2:-}
EOF
        chmod 644 "$T/etc/passwd" "$T/etc/group"
        rm -rf "$T/home" "$T/audit.jsonl"
        rm -rf "${T:?}/wssrc/"* "$T/wssrc/".[!.]* 2>/dev/null
        mkdir -p "$T/home/app/.config/deep" "$T/home/app/ws"
        echo conf >"$T/home/app/.config/deep/f"
        echo p >"$T/home/app/.profile"
        echo l >"$T/home/app/hl1"
        ln "$T/home/app/hl1" "$T/home/app/hl2"                   # hard link inside the home
        ln "$T/canary/hard" "$T/home/app/hlout"                  # hard link to a root file outside
        ln -s "$T/canary/file" "$T/home/app/out-link"            # symlinks pointing out
        ln -s ../../canary "$T/home/app/.config/up"
        ln -s .profile "$T/home/app/in-link"
        cp /bin/true "$T/home/app/suid" && chmod 4755 "$T/home/app/suid"
        echo b >"$T/home/app/bobs"
        echo g >"$T/home/app/rootgroup"
        chown -hR 1000:1000 "$T/home/app"
        chown -h 0:0 "$T/home/app/out-link" "$T/home/app/hlout"
        chmod 4755 "$T/home/app/suid"
        chown 1001:1001 "$T/home/app/bobs"
        chown 0:1000 "$T/home/app/rootgroup"
        echo host >"$T/wssrc/hostfile"
        echo img >"$T/wssrc/imagefile"
        chown 4242:4242 "$T/wssrc" "$T/wssrc/hostfile"
        chown 1000:1000 "$T/wssrc/imagefile"
        chown 1000:1000 "$T/outside/f"
}

conf() { cat >"$T/stepdown.conf"; chmod 644 "$T/stepdown.conf"; }

# box CMD...: stepdownd's "container": private /etc (read-only with RO=1),
# the workspace at $T/ws and at $T/home/app/ws.
box() {
        RO=${RO:-0} unshare --pid --fork --mount --mount-proc --propagation private -- /bin/bash -c '
                mount --bind "$1/etc" /etc &&
                { [ "$RO" != 1 ] || mount -o remount,bind,ro /etc; } &&
                mount --bind "$1/wssrc" "$1/ws" && mount --bind "$1/wssrc" "$1/home/app/ws" &&
                shift && exec "$@"' _ "$T" "$@"
}

homestate() {
        (cd "$T/home/app" && stat -c '%n %u:%g %a' . .config .config/deep .config/deep/f \
                .profile hl1 hl2 hlout out-link .config/up in-link suid bobs rootgroup)
}
remap_record() { grep '"event":"remap"' "$T/audit.jsonl" | tail -1; }

app_script='id -u; id -g; id -un; whoami; echo "HOME=$HOME USER=$USER LOGNAME=$LOGNAME"
touch '"$T"'/ws/written && stat -c "ws/written %u:%g" '"$T"'/ws/written
'"$SD"' mkdir '"$T"'/ws/viabroker >/dev/null && stat -c "ws/viabroker %u:%g" '"$T"'/ws/viabroker
'"$SD"' allowed | grep -c "mkdir '"$T"'/ws/\*\*"'

# --- first start: the rename path -------------------------------------------
reset
CANARY=$(canary)
conf <<EOF
user app
socket $T/run/sd.sock
audit $T/audit.jsonl
remap app uid=owner:$T/ws gid=owner:$T/ws
allow app mkdir $T/ws/**
EOF
ino_before=$(stat -c %i "$T/etc/passwd")
out=$(box "$STEPDOWND" -c "$T/stepdown.conf" -- /bin/sh -c "$app_script" 2>&1; echo "rc=$?")
is "$out" "4242 4242 app app HOME=$T/home/app USER=app LOGNAME=app ws/written 4242:4242 ws/viabroker 4242:4242 1 rc=0" \
        "the app runs as 4242:4242 under the name app, HOME/USER/LOGNAME from the entry, writes 4242-owned files, its allow rule matches"
is "$(grep -E '^(app|bob|root):' "$T/etc/passwd"; grep -E '^(app|staff):' "$T/etc/group")" \
        "root:x:0:0:root:/root:/bin/bash app:x:4242:4242:App:$T/home/app:/bin/sh bob:x:1001:1001::/home/bob:/bin/sh app:x:4242: staff:x:2000:app,bob" \
        "passwd and group give app 4242:4242; name, home, shell and the other entries stay"
is "$(stat -c '%U:%G %a' "$T/etc/passwd" "$T/etc/group"; [ "$(stat -c %i "$T/etc/passwd")" != "$ino_before" ] && echo new-inode)" \
        "root:root 644 root:root 644 new-inode" "the files keep owner and mode, and were replaced by a new file (renamed in)"
is "$(ls -a "$T/etc" | grep -c stepdown-new)" "0" "no temporary file is left in /etc"
is "$(homestate)" ". 4242:4242 755 .config 4242:4242 755 .config/deep 4242:4242 755 .config/deep/f 4242:4242 644 .profile 4242:4242 644 hl1 4242:4242 644 hl2 4242:4242 644 hlout 0:0 600 out-link 0:0 777 .config/up 4242:4242 777 in-link 4242:4242 777 suid 4242:4242 755 bobs 1001:1001 644 rootgroup 0:4242 644" \
        "the home is 4242's: only old ids changed (bob's file, root's hard link and symlink stay; root:app becomes root:4242; set-uid stripped)"
is "$(stat -c '%u:%g' "$T/wssrc" "$T/wssrc/hostfile" "$T/wssrc/imagefile")" "4242:4242 4242:4242 1000:1000" \
        "the workspace (a mount inside the home) is left as it is"
is "$(canary)" "$CANARY" "nothing outside changed (symlink and hard-link targets, a 1000-owned file elsewhere)"
like "$(remap_record)" '"uid":4242,"gid":4242.*"changed":1[0-9],.*app: uid 1000 -> 4242 \(owner:[^)]*/ws\), gid 1000 -> 4242 \(owner:[^)]*/ws\); [^"]*/home/app: 1[0-9] of 1[0-9] entries changed; /etc/group: rewritten \(1 line\); /etc/passwd: rewritten \(1 line\)' \
        "the audit log records the remap: old and new ids, source, entries changed, files written"

# --- restart: nothing to do, a check only ------------------------------------
ino_before=$(stat -c %i "$T/etc/passwd")
out=$(box "$STEPDOWND" -c "$T/stepdown.conf" -- /bin/sh -c 'id -u; id -un; echo $USER' 2>&1; echo "rc=$?")
is "$out" "4242 app app rc=0" "a restart runs the app as 4242 again"
is "$(stat -c %i "$T/etc/passwd")" "$ino_before" "... without rewriting passwd"
like "$(remap_record)" '"changed":0,.*already done, nothing changed' "... and audits that nothing changed"

# --- env: with the variable unset; then set ------------------------------------
reset
conf <<EOF
user app
socket $T/run/sd.sock
audit $T/audit.jsonl
remap app uid=env:HOST_UID gid=env:HOST_GID
EOF
out=$(box env -u HOST_UID -u HOST_GID "$STEPDOWND" -c "$T/stepdown.conf" -- /bin/sh -c 'id -u; id -un' 2>&1; echo "rc=$?")
like "$out" "stepdown.conf:4: remap: uid=env:HOST_UID: HOST_UID is unset, so app is not remapped \(no remap\) 1000 app rc=0$" \
        "env: unset: no remap, said on stderr naming the variable, the app runs as 1000"
is "$(grep -c 'HOST_UID is unset' <<<"$out")" "1" "... said once"
like "$(remap_record)" '"message":"[^"]*HOST_UID is unset' "... and in the audit log"
is "$(grep '^app:' "$T/etc/passwd"; stat -c '%u' "$T/home/app/.profile")" "app:x:1000:1000:App:$T/home/app:/bin/sh 1000" \
        "... passwd and home untouched"
out=$(box env HOST_UID=4242 HOST_GID=4343 "$STEPDOWND" -c "$T/stepdown.conf" -- /bin/sh -c 'id -u; id -g; id -gn' 2>&1; echo "rc=$?")
is "$out" "4242 4343 app rc=0" "env: set: the ids come from the variables"

# --- STEPDOWN_REMAP without a remap statement -----------------------------------
reset
conf <<EOF
user app
socket $T/run/sd.sock
EOF
out=$(box env STEPDOWN_REMAP=4242:4242 "$STEPDOWND" -c "$T/stepdown.conf" --no-broker -- /bin/sh -c 'id -u; id -g; id -un; echo $HOME' 2>&1; echo "rc=$?")
is "$out" "4242 4242 app $T/home/app rc=0" "STEPDOWN_REMAP=UID:GID remaps the launch user"
is "$(stat -c '%u:%g' "$T/home/app/.profile")" "4242:4242" "... and its home"
out=$(box env STEPDOWN_REMAP=0:0 "$STEPDOWND" -c "$T/stepdown.conf" --no-broker -- /bin/true 2>&1; echo "rc=$?")
like "$out" "STEPDOWN_REMAP=0:0: 0 \(root\) refused.*rc=1$" "STEPDOWN_REMAP to root is refused"

# --- a uid collision: refused, naming the holder; takeover swaps ----------------
reset "holder:x:4242:4300::/nonexistent:/bin/sh" "holders:x:4242:"
conf <<EOF
user app
socket $T/run/sd.sock
audit $T/audit.jsonl
remap app uid=owner:$T/ws gid=owner:$T/ws
EOF
pw_before=$(cat "$T/etc/passwd" "$T/etc/group")
out=$(box "$STEPDOWND" -c "$T/stepdown.conf" -- /bin/sh -c 'echo APP-RAN' 2>&1; echo "rc=$?")
like "$out" "stepdown.conf:4: remap: uid 4242 already belongs to user \"holder\" in /etc/passwd; refusing .*takeover.*rc=1$" \
        "a uid collision is refused, naming the entry that holds the uid"
is "$(grep -c APP-RAN <<<"$out"; [ "$pw_before" = "$(cat "$T/etc/passwd" "$T/etc/group")" ] && echo same; stat -c %u "$T/home/app/.profile")" \
        "0 same 1000" "... the app does not run, passwd, group and home are untouched"
sed -i 's/^remap .*/& takeover/' "$T/stepdown.conf"
out=$(box "$STEPDOWND" -c "$T/stepdown.conf" -- /bin/sh -c 'id -u; id -un; id -gn' 2>&1; echo "rc=$?")
is "$out" "4242 app app rc=0" "with takeover the app gets 4242"
is "$(grep -E '^(app|holder):' "$T/etc/passwd"; grep -E '^(app|holders):' "$T/etc/group")" \
        "app:x:4242:4242:App:$T/home/app:/bin/sh holder:x:1000:4300::/nonexistent:/bin/sh app:x:4242: holders:x:1000:" \
        "... and the holders get app's old ids in exchange"

# --- read-only root: bind-mounted from a private tmpfs; restart ----------------
reset
conf <<EOF
user app
socket $T/run/sd.sock
audit $T/audit.jsonl
remap app uid=owner:$T/ws gid=owner:$T/ws chown=$T/outside
EOF
pw_before=$(cat "$T/etc/passwd" "$T/etc/group")
out=$(RO=1 box "$STEPDOWND" -c "$T/stepdown.conf" -- /bin/sh -c 'id -u; id -un; grep ^app: /etc/passwd /etc/group; touch /etc/x 2>/dev/null || echo etc-ro' 2>&1; echo "rc=$?")
is "$out" "4242 app /etc/passwd:app:x:4242:4242:App:$T/home/app:/bin/sh /etc/group:app:x:4242: etc-ro rc=0" \
        "read-only root: the container sees app as 4242:4242 and the app runs so"
is "$([ "$pw_before" = "$(cat "$T/etc/passwd" "$T/etc/group")" ] && echo same)" "same" \
        "... the read-only files underneath are not modified (bind mounts, gone with the namespace)"
like "$(remap_record)" "/etc/group: bind-mounted \(1 line\); /etc/passwd: bind-mounted \(1 line\)" "... the audit log says bind-mounted"
is "$(stat -c '%u:%g' "$T/outside/f" "$T/home/app/.profile")" "4242:4242 4242:4242" "chown= paths are chowned from the old ids too"
chown 1000:1000 "$T/outside/f"
out=$(RO=1 box "$STEPDOWND" -c "$T/stepdown.conf" -- /bin/sh -c 'id -u; id -un' 2>&1; echo "rc=$?")
is "$out" "4242 app rc=0" "restart on a read-only root: bind-mounted again"
like "$(remap_record)" "/home/app: 0 of 1[0-9] entries changed" "... and the home, already right, is only walked"

# --- owner: through a symlink is refused; root as a result is refused ----------
reset
ln -sfn ws "$T/wslink"
conf <<EOF
user app
remap app uid=owner:$T/wslink/hostfile
EOF
out=$(box "$STEPDOWND" -c "$T/stepdown.conf" --no-broker -- /bin/sh -c 'echo APP-RAN' 2>&1; echo "rc=$?")
like "$out" "stepdown.conf:2: remap: uid=owner:$T/wslink/hostfile: $T/wslink is a symbolic link; refusing.*rc=1$" \
        "owner: pointing through a symlink is refused, naming the link"
conf <<EOF
user app
remap app uid=owner:$T/canary
EOF
out=$(box "$STEPDOWND" -c "$T/stepdown.conf" --no-broker -- /bin/sh -c 'echo APP-RAN' 2>&1; echo "rc=$?")
like "$out" "stepdown.conf:2: remap: uid=owner:$T/canary: resolves to uid 0 \(root\); refusing.*rc=1$" \
        "owner: of a root-owned path is refused (no remap to root)"
is "$(grep -c '^app:x:1000:1000' "$T/etc/passwd"; canary)" "1 $CANARY" "... nothing changed"

# --- the app chgrps its workspace to one of its groups (issue 17, item 3) -----
# The remapped app owns the workspace that gid=owner: names, so it can give
# it any group it has: staff (2000), of which app is a member.  That must
# neither stop the next start (it collided with staff for good) nor, with
# takeover, make staff the group whose gid is swapped.
reset
conf <<EOF
user app
socket $T/run/sd.sock
audit $T/audit.jsonl
remap app uid=owner:$T/ws gid=owner:$T/ws
EOF
out=$(box "$STEPDOWND" -c "$T/stepdown.conf" -- /bin/sh -c "id -u; id -g; chgrp staff $T/ws && stat -c %u:%g $T/ws" 2>&1; echo "rc=$?")
is "$out" "4242 4242 4242:2000 rc=0" "attack: the remapped app chgrps its workspace to staff, one of its groups"
ignored="gid=owner:$T/ws: gid 2000 \(group \"staff\"\) is one app has, and app owns $T/ws, so app may have set it \(chgrp\); ignored: app's group keeps gid 4242"
for tk in "" " takeover"; do
        sed -i "s|^remap .*|remap app uid=owner:$T/ws gid=owner:$T/ws$tk|" "$T/stepdown.conf"
        db_before=$(cat "$T/etc/passwd" "$T/etc/group")
        out=$(box "$STEPDOWND" -c "$T/stepdown.conf" -- /bin/sh -c 'id -u; id -g; id -gn' 2>&1; echo "rc=$?")
        like "$out" "stepdown.conf:4: remap: $ignored .*4242 4242 app rc=0$" \
                "next start${tk:+ with$tk}: the container starts, app keeps 4242:4242, the ignored gid is said on stderr"
        is "$([ "$db_before" = "$(cat "$T/etc/passwd" "$T/etc/group")" ] && echo same; grep -E '^(app|staff):' "$T/etc/group")" \
                "same app:x:4242: staff:x:2000:app,bob" "... passwd and group unchanged: staff keeps its gid${tk:+ (no takeover victim)}"
        like "$(grep '"decision":"deny"' "$T/audit.jsonl" | grep '"event":"remap"' | tail -1)" \
                "\"path\":\"$T/ws\".*\"decision\":\"deny\".*\"result\":\"EEXIST\".*gid=owner:$T/ws: gid 2000 .group ..staff... is one app has, .*ignored: app's group keeps gid 4242" "... and the audit log has it as a denied remap record"
done
is "$(stat -c %u:%g "$T/home/app/.profile" "$T/wssrc")" "4242:4242 4242:2000" "... the home keeps 4242:4242, the workspace the group the app gave it"
# A group without app listed first with the same gid: app still has 2000
# (through staff), so it is still app's choice, not early's to lose.
sed -i '1i early:x:2000:' "$T/etc/group"
out=$(box "$STEPDOWND" -c "$T/stepdown.conf" -- /bin/sh -c 'id -u; id -g' 2>&1; echo "rc=$?")
like "$out" "gid 2000 \(group \"early\"\) is one app has, .*4242 4242 rc=0$" "... also when a group app is not in holds the gid first"
is "$(grep -E '^(early|staff):' "$T/etc/group")" "early:x:2000: staff:x:2000:app,bob" "... and no takeover swaps it"

# The same on a read-only root: passwd says 1000:1000 at every start.
reset
sed -i "s|^remap .*|remap app uid=owner:$T/ws gid=owner:$T/ws takeover|" "$T/stepdown.conf"
out=$(RO=1 box "$STEPDOWND" -c "$T/stepdown.conf" -- /bin/sh -c "chgrp staff $T/ws && stat -c %u:%g $T/ws" 2>&1; echo "rc=$?")
is "$out" "4242:2000 rc=0" "attack, read-only root: the app chgrps its workspace to staff"
out=$(RO=1 box "$STEPDOWND" -c "$T/stepdown.conf" -- /bin/sh -c 'id -u; id -g; id -gn; grep ^staff: /etc/group' 2>&1; echo "rc=$?")
like "$out" "gid 2000 \(group \"staff\"\) is one app has, and app owns $T/ws, .*ignored: app's group keeps gid 1000 .*4242 1000 app staff:x:2000:app,bob rc=0$" \
        "... the next start goes on with app's group at 1000, staff keeps 2000 even with takeover"

# An owner: path in a directory app owns: app could put there whatever it
# likes (a file of another uid moved in) and pick its ids: refused, naming
# the directory; a mount point there (the workspace) cannot be replaced.
reset
mkdir "$T/home/app/proj" && chown 4242:4242 "$T/home/app/proj"
conf <<EOF
user app
remap app uid=owner:$T/home/app/proj
EOF
out=$(box "$STEPDOWND" -c "$T/stepdown.conf" --no-broker -- /bin/sh -c 'echo APP-RAN' 2>&1; echo "rc=$?")
like "$out" "^stepdownd: $T/stepdown.conf:2: remap: uid=owner:$T/home/app/proj: $T/home/app belongs to app \(uid 1000\), so app could put any file at $T/home/app/proj and pick its uid; refusing .*rc=1$" \
        "owner: in a directory the app owns is refused, naming the directory"
is "$(grep -c '^app:x:1000:1000' "$T/etc/passwd"; stat -c %u "$T/home/app/.profile")" "1 1000" "... nothing changed"
sed -i "s|^remap .*|remap app uid=owner:$T/home/app/ws|" "$T/stepdown.conf"
out=$(box "$STEPDOWND" -c "$T/stepdown.conf" --no-broker -- /bin/sh -c 'id -u' 2>&1; echo "rc=$?")
is "$out" "4242 rc=0" "... a mount point in that directory (the workspace) is accepted"

# --- takeover on a read-only root (issue 17, item 10) --------------------------
# The swap could only be bind-mounted: underneath, holder keeps 4242 and app
# 1000, so during each run holder is uid 1000 -- and a 0600 file holder
# leaves in a shared directory, moved into app's home by app, would be
# app's after the next start's walk from the old uid 1000.  Refused before
# anything changes; the file keeps its owner.
reset "holder:x:4242:4300::/nonexistent:/bin/sh" "holders:x:4242:"
mkdir -p "$T/shared" && chmod 777 "$T/shared"
conf <<EOF
user app
socket $T/run/sd.sock
audit $T/audit.jsonl
remap app uid=owner:$T/ws gid=owner:$T/ws takeover
EOF
echo holder-secret >"$T/home/app/stolen" && chown 1000:4300 "$T/home/app/stolen" && chmod 600 "$T/home/app/stolen"
state_before=$(cat "$T/etc/passwd" "$T/etc/group"; homestate; stat -c '%u:%g %a' "$T/home/app/stolen")
for i in 1 2; do
        out=$(RO=1 box "$STEPDOWND" -c "$T/stepdown.conf" -- /bin/sh -c 'echo APP-RAN' 2>&1; echo "rc=$?")
        like "$out" "^stepdownd: $T/stepdown.conf:4: remap app: takeover refused: /etc/group is on a read-only filesystem, so the swap would be bound again at every start .*between starts user holder has uid 1000, group holders gid 1000, .*nothing changed \(give app, or the holder in the image, ids no other entry holds\) rc=1$" \
                "read-only root, start $i: takeover refused, naming the file, the holders and why"
        is "$(grep -c APP-RAN <<<"$out"; [ "$state_before" = "$(cat "$T/etc/passwd" "$T/etc/group"; homestate; stat -c '%u:%g %a' "$T/home/app/stolen")" ] && echo same)" \
                "0 same" "... the app does not run; passwd, group, the home and holder's 0600 file in it (1000:4300) are untouched"
done
like "$(remap_record)" '"result":"EROFS".*takeover refused' "... and the refusal is on record"
# Where the swap is written for good, it is safe: play the attack for real.
rm "$T/home/app/stolen"
out=$(box "$STEPDOWND" -c "$T/stepdown.conf" -- /bin/sh -c 'id -u; id -g' 2>&1; echo "rc=$?")
is "$out" "4242 4242 rc=0" "writable /etc: the takeover is written to passwd and group once"
setpriv --reuid 1000 --regid 4300 --clear-groups /bin/sh -c "echo holder-secret >$T/shared/secret && chmod 600 $T/shared/secret"
setpriv --reuid 4242 --regid 4242 --clear-groups mv "$T/shared/secret" "$T/home/app/stolen"
out=$(box "$STEPDOWND" -c "$T/stepdown.conf" -- /bin/sh -c "cat $T/home/app/stolen 2>/dev/null || echo no-read" 2>&1; echo "rc=$?")
is "$out $(stat -c '%u:%g %a' "$T/home/app/stolen")" "no-read rc=0 1000:4300 600" \
        "... holder's 0600 file, moved into the home by the app, stays holder's across the next start"
# A takeover with nothing to take over runs on a read-only root.
reset
out=$(RO=1 box "$STEPDOWND" -c "$T/stepdown.conf" -- /bin/sh -c 'id -u; id -g' 2>&1; echo "rc=$?")
is "$out" "4242 4242 rc=0" "read-only root, takeover but no entry holds 4242: runs (bind-mounted)"

# --- docs/examples/devcontainer: the image, run as its README shows ----------
# The host's workspace, owned by the developer (4242:4242), bind-mounted at
# /workspace; the command given is what `docker run IMAGE CMD` would run.
mkdir -p "$T/devws" && echo mine >"$T/devws/README" && chown -R 4242:4242 "$T/devws"
out=$(image_run "$SRCDIR/docs/examples/devcontainer" '
mount --bind "'"$T"'/devws" "$R/workspace"
IMAGE_CMD=("${IMAGE_CMD[@]:0:4}" /bin/sh -c "id; whoami; echo HOME=\$HOME; touch /workspace/new; stat -c \"%u:%g %n\" /workspace/new \$HOME \$HOME/.bashrc")' 2>&1)
# (image.sh's overlay has its upper layer on a tmpfs and its lower on the
# host's root, so a file in the home reports another st_dev than the
# overlay's directories: the engine tells mounts apart by mount id, and the
# home's files are changed too.)
like "$out" "uid=4242\(app\) gid=4242\(app\) groups=4242\(app\) app HOME=/home/app 4242:4242 /workspace/new 4242:4242 /home/app 4242:4242 /home/app/.bashrc$" \
        "devcontainer example: app runs as the workspace's owner under its own name, the home follows"
like "$out" '"event":"remap".*"message":"app: uid [0-9]+ -> 4242 \(owner:/workspace\), gid [0-9]+ -> 4242 \(owner:/workspace\)' \
        "devcontainer example: the remap is on stderr (docker logs)"
[ "$T_FAILED" -eq 0 ] || sed 's/^/# /' <<<"$out"

done_testing
