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

# --- setup mkdir where something else stands: fails naming the step --------
# (issue 11 item 5: it used to succeed and chmod the file)
conf <<EOF2
user app
setup mkdir $T/vol/data owner=app:app mode=0750
setup mkdir $T/vol/p/q owner=app:app mode=0750 parents
EOF2
for kind in file fifo symlink; do
        case $kind in
        file) make='echo keep >$1/vol/data && chmod 600 $1/vol/data' ;;
        fifo) make='mkfifo -m 600 $1/vol/data' ;;
        symlink) make='ln -s $1/canary $1/vol/data' ;;
        esac
        out=$(vol_container "$make" /bin/bash -c '"$@"; echo "rc=$?"; stat -c "%u:%g %a %F" '"$T/vol/data"'' _ \
                "$STEPDOWND" -c "$T/stepdown.conf" --no-broker -- /bin/sh -c 'echo APP-RAN' 2>&1)
        like "$out" "stepdown.conf:2: setup mkdir $T/vol/data: .*\"data\" exists (and is not a directory|as a symbolic link).* rc=1 " \
                "setup mkdir where a $kind stands fails naming file:line and why"
        like "$out" "rc=1 0:0 (600|777) " "... and the $kind is left as it was"
        is "$(grep -c APP-RAN <<<"$out")" "0" "... and the command is not launched"
done
out=$(vol_container 'mkdir $1/vol/p && echo keep >$1/vol/p/q' /bin/bash -c '"$@"; echo "rc=$?"; stat -c "%u:%g %a" '"$T/vol/p/q"'' _ \
        "$STEPDOWND" -c "$T/stepdown.conf" --no-broker -- /bin/true 2>&1)
like "$out" "stepdown.conf:3: setup mkdir $T/vol/p/q: .*\"q\" exists and is not a directory.* rc=1 0:0 644$" \
        "setup mkdir parents where a file stands fails too, the file unchanged"
is "$(canary)" "$canary_before" "the symlink's target outside is unchanged"

# --- a deep tree and hard-linked files do not brick the start -------------
# (issue 11 item 6: 4,100 nested directories made every later start fail
# with ELOOP; a hard-linked file that needed a change failed the step)
conf <<EOF2
user app
setup chown $T/vol recursive
EOF2
deep_prep='cd $1/vol && perl -e '"'"'for (1..4100) { mkdir "d" or die; chdir "d" or die } open(F, ">f") or die'"'"' &&
        echo x >$1/vol/hl && ln $1/vol/hl $1/vol/hl2 && echo y >$1/vol/plain'
twice='"$@"; echo "rc1=$?"; "$@"; echo "rc2=$?"'
out=$(vol_container "$deep_prep" /bin/bash -c "$twice" _ \
        "$STEPDOWND" -c "$T/stepdown.conf" --no-broker -- /bin/sh -c '
        echo "not app:" $(find '"$T/vol"' ! -user app | sort)
        echo "levels: $(find '"$T/vol"' -type d | wc -l)"' 2>&1)
like "$out" "stepdownd: warning: $T/stepdown.conf:2: setup chown $T/vol: skipped $T/vol/hl2?: regular file has 2 hard links" \
        "a hard-linked file that needs a change is skipped and reported on stderr, naming step and file"
like "$out" "not app: $T/vol/hl $T/vol/hl2 levels: 4101 rc1=0 " \
        "the start succeeds: all 4,100 levels and the deepest file are the app's, only the hard-linked file is not"
like "$out" "rc1=0 .*skipped $T/vol/hl.* not app: $T/vol/hl $T/vol/hl2 levels: 4101 rc2=0$" \
        "a restart after that works too (and reports the file again)"

conf <<EOF2
user app
setup chown $T/vol recursive hardlinks
EOF2
out=$(vol_container "$deep_prep" "$STEPDOWND" -c "$T/stepdown.conf" --no-broker -- /bin/sh -c '
        echo "not app: $(find '"$T/vol"' ! -user app | wc -l)"' 2>&1; echo "rc=$?")
like "$out" "not app: 0 rc=0$" "with hardlinks the hard-linked file is changed too"
is "$(grep -c skipped <<<"$out")" "0" "... and nothing is reported skipped"

conf <<EOF2
user app
setup chown $T/vol/hl
EOF2
out=$(vol_container 'echo x >$1/vol/hl && ln $1/vol/hl $1/vol/hl2' "$STEPDOWND" -c "$T/stepdown.conf" --no-broker -- /bin/true 2>&1; echo "rc=$?")
like "$out" "stepdown.conf:2: setup chown $T/vol/hl: chown $T/vol/hl: regular file has 2 hard links.*rc=1$" \
        "a setup chown naming a hard-linked file itself fails the step (like a symlink there)"

# the audit record of the step carries what was skipped
conf <<EOF2
user app
audit $T/vol/audit.jsonl
setup chown $T/vol recursive
EOF2
out=$(vol_container 'echo x >$1/vol/hl && ln $1/vol/hl $1/vol/hl2' /bin/bash -c '"$@"; grep "\"setup\"" '"$T/vol/audit.jsonl"'' _ \
        "$STEPDOWND" -c "$T/stepdown.conf" --no-broker -- /bin/true 2>&1)
like "$out" "\"message\":\"2 hard-linked files skipped; first: $T/vol/hl2? \\(regular file has 2 hard links" \
        "the step's audit record says how many entries were skipped and names the first"

# --- progress for long steps, silence for fast ones -----------------------
# The walk is slowed for real: strace delays every getdents64 by 0.1 s
# (12,000 entries in 9 directories: about 5 s).
conf <<EOF2
user app
setup chown $T/vol recursive
EOF2
if command -v strace >/dev/null; then
        out=$(vol_container 'for d in 1 2 3 4 5 6 7 8; do mkdir $1/vol/d$d && (cd $1/vol/d$d && seq 1500 | xargs touch); done' \
                strace -f -qq -o /dev/null -e trace=getdents64 -e inject=getdents64:delay_exit=100000 \
                "$STEPDOWND" -c "$T/stepdown.conf" --no-broker -- /bin/true 2>&1; echo "rc=$?")
        progress=$(grep -E "^stepdownd: $T/stepdown.conf:2: setup chown $T/vol: [0-9]+ entries seen, [0-9]+ changed, [0-9.]+ s$" <<<"$out")
        summary=$(grep -E "^stepdownd: $T/stepdown.conf:2: setup chown $T/vol: done in [0-9.]+ s: 12009 entries seen, 12009 changed$" <<<"$out")
        like "$out" "rc=0$" "a slowed recursive chown succeeds"
        ok_progress=$( [ -n "$progress" ] && awk '{ t = $(NF-1); if (t < 1.0 || (n && t < last + 0.95)) bad = 1; last = t; n++ } END { print bad ? "bad" : "good" }' <<<"$progress")
        is "$ok_progress" "good" "progress lines (entries seen, changed, elapsed) come after the first second, at most one a second"
        is "$(grep -c . <<<"$summary")" "1" "a one-line summary ends a step that took over a second"
        is "$(grep -vc -e "entries seen" <<<"$out")" "1" "nothing else is printed"
else
        for d in "a slowed recursive chown succeeds" "progress lines" "a one-line summary" "nothing else"; do
                ok "$d # SKIP strace is not installed (scripts/deps installs it)"
        done
fi
out=$(vol_container 'mkdir $1/vol/d && touch $1/vol/d/f' "$STEPDOWND" -c "$T/stepdown.conf" --no-broker -- /bin/true 2>&1; echo "rc=$?")
is "$out" "rc=0" "a fast step prints nothing"

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
