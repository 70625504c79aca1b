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
like "$out" "stepdown.conf:2: setup chown $T/vol/hl: regular file has 2 hard links.*rc=1$" \
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

# =====================================================================
# Identity block (issues 11/13): default policy path, starts without
# root, Docker's default capability set, user namespaces.
# =====================================================================

# --- the default policy is /etc/stepdown/stepdown.conf, whatever the prefix --
default=$("$STEPDOWND" --help | sed -n 's/.*the policy (default \([^,]*\),.*/\1/p')
is "$default" "/etc/stepdown/stepdown.conf" "--help names /etc/stepdown/stepdown.conf as the default policy"
other=$("$STEPDOWND" --help | tr '\n' ' ' | sed -n 's/.*(\(\/[^ ]*\) is not read;.*/\1/p')
# A private copy of /etc (never the host's) with a policy in stepdown/.
mkdir -p "$T/etc"
cp -a /etc/. "$T/etc/"
rm -rf "$T/etc/stepdown"
cp "$T/passwd" "$T/group" "$T/etc/"
in_etc() { # PREP CMD...: a pid+mount namespace whose /etc is $T/etc
        local prep=$1
        shift
        unshare --pid --fork --mount --mount-proc --propagation private -- /bin/bash -c \
                'mount --bind "$1/etc" /etc && eval "$2" && shift 2 && exec "$@"' _ "$T" "$prep" "$@"
}
mkdir "$T/etc/stepdown"
printf 'user app\nsetup mkdir %s/vol/dflt owner=app:app mode=0700\n' "$T" >"$T/etc/stepdown/stepdown.conf"
chmod 644 "$T/etc/stepdown/stepdown.conf"
out=$(in_etc true "$STEPDOWND" --check 2>&1; echo "rc=$?")
like "$out" "^/etc/stepdown/stepdown.conf:1: user app .*rc=0$" "--check without -c reads /etc/stepdown/stepdown.conf"
out=$(in_etc "mount -t tmpfs vol $T/vol" "$STEPDOWND" -- /bin/sh -c "id -un; stat -c '%U %a' $T/vol/dflt" 2>&1; echo "rc=$?")
is "$out" "app app 700 rc=0" "without -c, the policy at /etc/stepdown/stepdown.conf runs its setup and user"
rm -rf "$T/etc/stepdown"
if [ -n "$other" ]; then
        # A policy only at the prefix's path: not read, and said so.  The
        # nearest existing ancestor gets a private tmpfs.
        anc=$(dirname "$other")
        while [ ! -d "$anc" ]; do anc=$(dirname "$anc"); done
        out=$(in_etc "mount -t tmpfs -o mode=0755 x $anc && mkdir -p $(dirname "$other") && printf 'user app\n' >$other && chmod 644 $other" \
                "$STEPDOWND" -u 1000 -- /bin/sh -c 'echo ran' 2>&1; echo "rc=$?")
        like "$out" "^stepdownd: warning: no policy at /etc/stepdown/stepdown.conf, the one stepdownd reads by default, but there is one at $other, which is NOT read: move it to /etc/stepdown/stepdown.conf, or pass -c $other ran rc=0$" \
                "a policy only at $other is warned about, not read"
        out=$(in_etc "mount -t tmpfs -o mode=0755 x $anc && mkdir -p $(dirname "$other") && printf 'user app\n' >$other && chmod 644 $other" \
                "$STEPDOWND" --check 2>&1; echo "rc=$?")
        like "$out" "NOT read.*/etc/stepdown/stepdown.conf: .*rc=1$" "--check without a policy warns about $other too"
        out=$(in_etc true "$STEPDOWND" -u 1000 -- /bin/sh -c 'echo ran' 2>&1)
        is "$out" "ran" "no policy anywhere: a pure launcher, no warning"
else
        ok "# SKIP this build's prefix path is the default policy path"
fi

# --- started without root (docker run --user, runAsNonRoot) ---------------
as_app() { echo "setpriv --reuid=1000 --regid=1000 --clear-groups --"; }
conf <<EOF2
user app
setup mkdir $T/vol/data owner=app:app mode=0750
setup chown $T/vol owner=app:app recursive
EOF2
# shellcheck disable=SC2046
out=$(vol_container "mkdir -m 0750 $T/vol/data && mkdir -p $T/vol/d/e && touch $T/vol/d/e/f && chown -R 1000:1000 $T/vol" \
        $(as_app) "$STEPDOWND" -c "$T/stepdown.conf" -- /bin/sh -c 'echo "ran as $(id -u)"' 2>&1; echo "rc=$?")
is "$out" "ran as 1000 rc=0" "not root: setup steps that already hold pass, silently, and the command runs"
# shellcheck disable=SC2046
out=$(vol_container "mkdir -m 0750 $T/vol/data && mkdir -p $T/vol/d/e && touch $T/vol/d/e/f && chown -R 1000:1000 $T/vol && chown 0:0 $T/vol/d/e/f" \
        $(as_app) "$STEPDOWND" -c "$T/stepdown.conf" -- /bin/sh -c 'echo APP-RAN' 2>&1; echo "rc=$?")
like "$out" "^stepdownd: $T/stepdown.conf:3: setup chown $T/vol: stepdownd runs as uid 1000 without root, and $T/vol/d/e/f is owned by 0:0, not 1000:1000; either start it as root \\(drop docker run --user / runAsUser\\) so it makes the change, or fix the volume beforehand \\(as root: chown -hR 1000:1000 $T/vol\\); .setup-unprivileged warn. or .skip. in the policy makes this step optional rc=1$" \
        "not root: a step that needs a change fails naming FILE:LINE, what differs and both fixes"
is "$(grep -c APP-RAN <<<"$out")" "0" "... and the command does not run"
# shellcheck disable=SC2046
out=$(vol_container "mkdir -m 0755 $T/vol/data && chown -R 1000:1000 $T/vol" \
        $(as_app) "$STEPDOWND" -c "$T/stepdown.conf" -- /bin/true 2>&1; echo "rc=$?")
like "$out" "stepdown.conf:2: setup mkdir $T/vol/data: .*and $T/vol/data has mode 0755, not 0750; .*\\(as root: install -d -o 1000 -g 1000 -m 0750 $T/vol/data\\).*rc=1$" \
        "not root: a directory with another mode is named with both modes"
# shellcheck disable=SC2046
out=$(vol_container "chown 1000:1000 $T/vol" \
        $(as_app) "$STEPDOWND" -c "$T/stepdown.conf" -- /bin/true 2>&1; echo "rc=$?")
like "$out" "stepdown.conf:2: setup mkdir $T/vol/data: .*and $T/vol/data does not exist;.*rc=1$" \
        "not root: a missing directory is named"
for how in warn skip; do
        conf <<EOF2
user app
setup-unprivileged $how
setup chown $T/vol owner=app:app recursive
EOF2
        # shellcheck disable=SC2046
        out=$(vol_container "touch $T/vol/rootfile" $(as_app) "$STEPDOWND" -c "$T/stepdown.conf" -- \
                /bin/sh -c "echo ran; stat -c %u $T/vol/rootfile" 2>&1; echo "rc=$?")
        if [ $how = warn ]; then
                is "$out" "stepdownd: warning: $T/stepdown.conf:3: setup chown $T/vol skipped: not root (uid 1000), and $T/vol is owned by 0:0, not 1000:1000 (as root: chown -hR 1000:1000 $T/vol) ran 0 rc=0" \
                        "setup-unprivileged warn: one line per step that needs a change, and the command runs"
        else
                is "$out" "ran 0 rc=0" "setup-unprivileged skip: no step looked at, nothing said, the command runs"
        fi
done
out=$(vol_container "touch $T/vol/rootfile" "$STEPDOWND" -c "$T/stepdown.conf" -- /bin/sh -c "stat -c %u $T/vol/rootfile" 2>&1; echo "rc=$?")
is "$out" "1000 rc=0" "setup-unprivileged skip: started as root, the step still runs"

# allow rules without root: one line, no broker, the command starts.
conf <<EOF2
user app
socket $T/run/sd.sock
allow app mkdir $T/vol/**
EOF2
# shellcheck disable=SC2046
out=$(vol_container true $(as_app) "$STEPDOWND" -c "$T/stepdown.conf" -- \
        /bin/sh -c 'echo "ran socket=${STEPDOWN_SOCKET-none}"' 2>&1; echo "rc=$?")
is "$out" "stepdownd: warning: no broker: not root (uid 1000); the policy's 1 allow rule will not be served (start as root for them, or \`broker required\` to make this an error) ran socket=none rc=0" \
        "allow rules without root: one clear line, no broker, the command starts"
# shellcheck disable=SC2046
out=$(vol_container true $(as_app) "$STEPDOWND" --init -c "$T/stepdown.conf" -- /bin/sh -c 'echo ran; exit 3' 2>&1; echo "rc=$?")
like "$out" "no broker: not root .*ran rc=3$" "... in --init mode too"
echo "broker required" >>"$T/stepdown.conf"
# shellcheck disable=SC2046
out=$(vol_container true $(as_app) "$STEPDOWND" -c "$T/stepdown.conf" -- /bin/sh -c 'echo APP-RAN' 2>&1; echo "rc=$?")
is "$out" "stepdownd: $T/stepdown.conf:4: broker required, but stepdownd runs as uid 1000 without root, so it cannot keep one; start the container as root (drop --user / runAsUser), or say \`broker optional\` to start without one rc=1" \
        "broker required without root: the start fails, naming the line"
printf 'user app\nsetup-unprivileged warn\nbroker required\n' | conf
out=$(in_container "$STEPDOWND" --check -c "$T/stepdown.conf" 2>&1; echo "rc=$?")
like "$out" "stepdown.conf:2: setup-unprivileged warn .*stepdown.conf:3: broker required .*rc=0$" "--check prints both statements"
printf 'user app\nsetup-unprivileged maybe\n' | conf
out=$(in_container "$STEPDOWND" --check -c "$T/stepdown.conf" 2>&1; echo "rc=$?")
like "$out" "stepdown.conf:2:20: invalid setup-unprivileged \"maybe\" \\(expected fail, warn or skip\\) rc=1$" "a bad setup-unprivileged value: file:line:col"

# The redis example: its entrypoint skipped the chown when not root; the
# migrated policy says setup-unprivileged skip.
cp "$SRCDIR/docs/examples/redis-migration/stepdown.conf" "$T/redis.conf"
sed -i "s#/data#$T/vol#" "$T/redis.conf"
chmod 644 "$T/redis.conf"
cp "$T/passwd" "$T/passwd.id"
echo 'redis:x:999:999::/var/lib/redis:/bin/sh' >>"$T/passwd"
echo 'redis:x:999:' >>"$T/group"
out=$(vol_container "touch $T/vol/dump.rdb" setpriv --reuid=999 --regid=999 --clear-groups -- \
        "$STEPDOWND" -c "$T/redis.conf" -- /bin/sh -c "echo ran as \$(id -u); stat -c %u $T/vol/dump.rdb" 2>&1; echo "rc=$?")
is "$(grep -v '^{' <<<"$out")" "ran as 999 0 rc=0" "redis example, docker run --user redis: the chown is skipped, redis-server starts"
like "$(grep '^{' <<<"$out")" '"event":"setup",.*"op":"chown",.*"flags":"recursive".*"result":"OK".*"message":"not root: skipped \(setup-unprivileged skip\)"' \
        "... and its audit record (stderr, docker logs) says it was skipped"
out=$(vol_container "touch $T/vol/dump.rdb" "$STEPDOWND" -c "$T/redis.conf" -- \
        /bin/sh -c "stat -c %u:%g $T/vol/dump.rdb" 2>/dev/null; echo "rc=$?")
is "$out" "999:999 rc=0" "redis example as root: the chown runs"
cp "$T/passwd.id" "$T/passwd"
sed -i '/^redis:/d' "$T/group"

# --- Docker's default capability set: no warning --------------------------
mkdir -p "$T/run"
conf <<EOF2
user app
socket $T/run/sd.sock
allow app mkdir $T/vol/**
allow app chown $T/vol/**
EOF2
docker_default=-all,+chown,+dac_override,+fowner,+fsetid,+kill,+setgid,+setuid,+setpcap,+net_bind_service,+net_raw,+sys_chroot,+mknod,+audit_write,+setfcap
# The app waits until the broker has installed its seccomp filter, which
# comes after the capability check, so a warning is out before it exits.
cat >"$T/wait-harden" <<'SH'
#!/bin/sh
for _ in $(seq 200); do
        b=$(pgrep -P 1 stepdownd)
        [ -n "$b" ] && grep -q '^Seccomp:[[:space:]]*2' "/proc/$b/status" && { echo ran; exit 0; }
        sleep 0.05
done
echo "the broker never hardened"
SH
chmod 755 "$T/wait-harden"
out=$(vol_container true setpriv --bounding-set "$docker_default" -- "$STEPDOWND" -c "$T/stepdown.conf" -- \
        "$T/wait-harden" 2>&1; echo "rc=$?")
is "$out" "ran rc=0" "Docker's default capability set (no cap_dac_read_search): no warning at all"
out=$(vol_container true setpriv --bounding-set -all,+setgid,+setuid,+setpcap,+dac_read_search,+chown,+fowner -- \
        "$STEPDOWND" -c "$T/stepdown.conf" -- "$T/wait-harden" 2>&1; echo "rc=$?")
like "$out" "^stepdownd: warning: broker: this process lacks capabilities the policy's allow rules need: cap_dac_override \\(reaching directories and files whose permissions shut root out, e.g. the app's 0700 directories\\); requests needing them will fail with EPERM/EACCES.  Grant them \\(docker run --cap-add DAC_OVERRIDE; .* ran rc=0$" \
        "without cap_dac_override: the warning names it, what fails and --cap-add DAC_OVERRIDE"

# --- user namespaces (rootless engines) ------------------------------------
out=$(unshare --user --map-root-user --mount --propagation private -- /bin/bash -c \
        'mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group && exec "$3" -u app -- /bin/true' \
        _ "$T/passwd" "$T/group" "$STEPDOWND" 2>&1; echo "rc=$?")
like "$out" "setgroups\\(3 groups\\): Operation not permitted; this is a user namespace \\(uid_map \"0 0 1\", gid_map \"0 0 1\", setgroups \"deny\"\\) in which setgroups\\(2\\) is denied, as .unshare --map-root-user. leaves it: .*newuidmap/newgidmap.*rc=1$" \
        "unshare --map-root-user: the setgroups failure says user namespace, setgroups deny, and what to use"
printf 'user 0\n' | conf
out=$(setpriv --reuid=1000 --regid=1000 --clear-groups -- unshare --user --map-root-user -- \
        "$STEPDOWND" -c "$T/stepdown.conf" -- /bin/true 2>&1; echo "rc=$?")
like "$out" "directory / is owned by uid 65534, not root stepdownd: this is a user namespace \\(uid_map \"0 1000 1\", gid_map \"0 1000 1\", setgroups \"deny\"\\): uid 65534 is the overflow uid.*map the host owner of the policy.*rc=1$" \
        "a policy owned by an unmapped uid (65534): the error says user namespace and what to map"

mkdir -p "$T/nsvol"
printf 'user 0\nsetup chown %s owner=1000:1000\n' "$T/nsvol" | conf
out=$(unshare --user --map-root-user -- "$STEPDOWND" -c "$T/stepdown.conf" -- /bin/true 2>&1; echo "rc=$?")
like "$out" "^stepdownd: [^ ]*stepdown.conf:2: setup chown $T/nsvol: Invalid argument; this is a user namespace \\(uid_map \"0 0 1\", gid_map \"0 0 1\", setgroups \"deny\"\\) and uid 1000 or gid 1000 is not mapped in it: map it .*subuid.*rc=1$" \
        "a setup chown to an id the user namespace does not map: says so, once, and what to map"

done_testing
