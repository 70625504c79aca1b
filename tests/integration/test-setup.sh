#!/bin/bash
# Policy setup steps before launch: a fresh root-owned tmpfs volume becomes
# the app user's before the app starts; failures stop the start; --check;
# STEPDOWN_CHOWN / STEPDOWN_USER; policy ownership refusal; symlinks in
# the volume are never followed.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/vol" "$T/canary"
echo secret >"$T/canary/file"
chmod 640 "$T/canary/file"
canary() { stat -c '%u:%g %a' "$T/canary/file" "$T/canary"; cat "$T/canary/file"; }
canary_before=$(canary)

conf() { # write the policy from stdin to $T/stepdown.conf, root-owned 0644
        cat >"$T/stepdown.conf"
        chmod 644 "$T/stepdown.conf"
}

# container VOLSETUP -- ARGS: a tmpfs on $T/vol (root 0755), then stepdownd ARGS
vol_container() {
        local prep=$1
        shift
        unshare --pid --fork --mount --mount-proc --propagation private -- /bin/bash -c '
                mount --bind "$1/passwd" /etc/passwd && mount --bind "$1/group" /etc/group &&
                mount -t tmpfs -o mode=0755,size=8m vol "$1/vol" && eval "$2" && shift 2 && exec "$@"
        ' _ "$T" "$prep" "$@"
}

# --- a fresh volume becomes the app's before the app starts ---------------
conf <<EOF2
user app
setup mkdir $T/vol/data owner=app:app mode=0750
setup chown $T/vol recursive
EOF2
out=$(vol_container 'mkdir -p $1/vol/old/deep && touch $1/vol/old/deep/f' \
        "$STEPDOWND" -c "$T/stepdown.conf" --no-broker -- /bin/sh -c '
        stat -c "%U:%G %a %n" '"$T/vol/data $T/vol $T/vol/old/deep/f"'
        echo hi >'"$T/vol/data/written"' && echo "app wrote to the volume as $(id -un)"' 2>&1)
is "$out" "app:app 750 $T/vol/data app:app 755 $T/vol app:app 644 $T/vol/old/deep/f app wrote to the volume as app" \
        "setup mkdir + recursive chown give the fresh volume to the app user, who can write to it"

# --- STEPDOWN_CHOWN adds recursive chown steps; STEPDOWN_USER replaces user --
conf <<EOF2
user app
EOF2
out=$(STEPDOWN_USER=bob STEPDOWN_CHOWN="$T/vol" vol_container 'touch $1/vol/x' \
        "$STEPDOWND" -c "$T/stepdown.conf" --no-broker -- /bin/sh -c "id -un; stat -c '%U %n' $T/vol/x" 2>&1)
is "$out" "bob bob $T/vol/x" "STEPDOWN_USER replaces user, STEPDOWN_CHOWN chowns the volume to it"

# --- a failing step stops the start, names the line; the app never runs ---
conf <<EOF2
user app
# line 2
setup mkdir $T/vol/a owner=app:app mode=0700
setup chmod $T/vol/missing mode=0700
setup mkdir $T/vol/b owner=app:app mode=0700
EOF2
out=$(vol_container true "$STEPDOWND" -c "$T/stepdown.conf" --no-broker -- /bin/sh -c 'echo APP-RAN' 2>&1; echo "rc=$?")
like "$out" "stepdown.conf:4: setup chmod $T/vol/missing: .*rc=1$" "a failing step exits 1 naming file:line and the step"
is "$(grep -c APP-RAN <<<"$out")" "0" "the command is not launched after a failed step"

# --- symlinks planted in the volume are never followed --------------------
conf <<EOF2
user app
setup chown $T/vol recursive
EOF2
out=$(vol_container 'ln -s $1/canary/file $1/vol/link; ln -s $1/canary $1/vol/dirlink; mkdir $1/vol/d; ln -s ../../canary $1/vol/d/up' \
        "$STEPDOWND" -c "$T/stepdown.conf" --no-broker -- /bin/sh -c "stat -c '%U %n' $T/vol/link $T/vol/dirlink $T/vol/d/up" 2>&1)
is "$out" "app $T/vol/link app $T/vol/dirlink app $T/vol/d/up" "symlinks in the volume are chowned themselves"
is "$(canary)" "$canary_before" "the canary outside the volume is unchanged"

conf <<EOF2
user app
setup chown $T/vol/link
EOF2
out=$(vol_container 'ln -s $1/canary/file $1/vol/link' "$STEPDOWND" -c "$T/stepdown.conf" --no-broker -- /bin/true 2>&1; echo "rc=$?")
like "$out" "stepdown.conf:2: setup chown $T/vol/link: .*rc=1$" "a setup path that is a symlink is refused"
is "$(canary)" "$canary_before" "... and the canary is unchanged"

# --- restart: a volume that is already right is left alone ----------------
conf <<EOF2
user app
setup chown $T/vol recursive
EOF2
out=$(vol_container 'mkdir $1/vol/d; touch $1/vol/d/f; chown -R 1000:1000 $1/vol; touch -d 2001-01-01 $1/vol/d/f' \
        "$STEPDOWND" -c "$T/stepdown.conf" --no-broker -- /bin/sh -c "stat -c '%U %y' $T/vol/d/f" 2>&1)
like "$out" "^app 2001-01-01" "an already-right volume is left as it was"

# --- restart: setup mkdir of an existing directory makes it right ---------
conf <<EOF2
user app
setup mkdir $T/vol/data owner=app:app mode=0750
EOF2
out=$(vol_container 'mkdir -m 0777 $1/vol/data' "$STEPDOWND" -c "$T/stepdown.conf" --no-broker -- /bin/sh -c "stat -c '%U:%G %a' $T/vol/data" 2>&1; echo "rc=$?")
is "$out" "app:app 750 rc=0" "setup mkdir of an existing directory succeeds and fixes owner and mode"
out=$(vol_container 'ln -s $1/canary $1/vol/data' "$STEPDOWND" -c "$T/stepdown.conf" --no-broker -- /bin/true 2>&1; echo "rc=$?")
like "$out" "stepdown.conf:2: setup mkdir $T/vol/data: .*rc=1$" "setup mkdir where a symlink stands is refused"
is "$(canary)" "$canary_before" "... and the symlink's target is unchanged"

# --- --check -----------------------------------------------------------------
conf <<EOF2
user app
umask 0027
setup mkdir $T/vol/data owner=app:app mode=0750
allow app mkdir $T/vol/data/** mode=0700
EOF2
out=$(in_container "$STEPDOWND" --check -c "$T/stepdown.conf" 2>&1; echo "rc=$?")
like "$out" "stepdown.conf:1: user app" "--check prints the user with its line"
like "$out" "stepdown.conf:3: setup mkdir $T/vol/data" "--check prints setup steps with their lines"
like "$out" "stepdown.conf:4: allow .*mkdir $T/vol/data/\\*\\*" "--check prints rules with their lines"
like "$out" "rc=0$" "--check: exit 0 for a valid policy"
printf 'user app\nallow app mkdr /data/**\n' | conf
out=$(in_container "$STEPDOWND" --check -c "$T/stepdown.conf" 2>&1; echo "rc=$?")
like "$out" "stepdown.conf:2:11: .*mkdr.*rc=1$" "--check: file:line:col and exit 1 for a bad policy"

# --- the policy must be root's and not writable by others ----------------
printf 'user app\n' | conf
chmod 664 "$T/stepdown.conf"
out=$("$STEPDOWND" -c "$T/stepdown.conf" --no-broker -- /bin/true 2>&1; echo "rc=$?")
like "$out" "stepdown.conf.*writable.*rc=1$" "a group-writable policy is refused"
chmod 644 "$T/stepdown.conf"
chown 1000 "$T/stepdown.conf"
out=$("$STEPDOWND" -c "$T/stepdown.conf" --no-broker -- /bin/true 2>&1; echo "rc=$?")
like "$out" "stepdown.conf.*owned by uid 1000.*rc=1$" "a policy not owned by root is refused"
chown 0 "$T/stepdown.conf"
out=$("$STEPDOWND" -c "$T/nonexistent.conf" --no-broker -- /bin/true 2>&1; echo "rc=$?")
like "$out" "nonexistent.conf.*rc=1$" "a missing policy named with -c is an error"

done_testing
