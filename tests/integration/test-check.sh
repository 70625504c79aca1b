#!/bin/bash
# Issue 18: `stepdownd --check` looks at what a policy names on disk (a
# provisioned key, the audit log's directory, allow anchors and setup paths
# through a symbolic link) and names FILE:LINE for each; start-time errors
# name the line too.  The policy language: owner=USER (USER's primary
# group) and a "*" component within a pattern, played through the broker
# with symlinks planted where the wildcard stands.
. "$(dirname "$0")/lib.sh"

: "${STEPDOWN_CLI:?}"
SD=$STEPDOWN_CLI

conf() { # the policy from stdin, root-owned 0644
        cat >"$T/c.conf"
        chmod 644 "$T/c.conf"
}
check() { in_container "$STEPDOWND" --check -c "$T/c.conf" 2>&1; echo "rc=$?"; }

mkdir -p "$T/real/tenants" "$T/logs" "$T/outside"
ln -s real "$T/link"
echo canary >"$T/outside/canary"
chmod 600 "$T/outside/canary"
canary_state() { stat -c '%u:%g %a' "$T/outside/canary" "$T/outside"; cat "$T/outside/canary"; }
CANARY=$(canary_state)

# --- --check: a provisioned key that does not load --------------------------
conf <<EOF
user app
key /nonexistent/key
allow app mkdir $T/real/*
EOF
out=$(check)
like "$out" "stepdownd: $T/c.conf:2: key file /nonexistent/key: No such file or directory" \
        "--check: a missing key file is reported with FILE:LINE"
like "$out" "1 problem above.*rc=1$" "--check: ... and exits 1"
head -c 32 /dev/urandom >"$T/key"
chmod 600 "$T/key"
sed -i "s|/nonexistent/key|$T/key|" "$T/c.conf"
like "$(check)" "rc=0$" "--check: the same policy with the key in place passes"
chmod 644 "$T/key"
like "$(check)" "$T/c.conf:2: key file $T/key: mode 0644 lets group or other read it.*rc=1$" \
        "--check: a key others can read is reported as the start would refuse it"

# --- --check: the audit log ---------------------------------------------------
conf <<EOF
user app
audit /nonexistent/dir/audit.log
EOF
like "$(check)" "stepdownd: $T/c.conf:2: audit log /nonexistent/dir/audit.log: its directory /nonexistent/dir does not exist .*rc=1$" \
        "--check: an audit log in a missing directory is reported with FILE:LINE"
conf <<EOF
user app
audit $T/logs/audit.log
EOF
like "$(check)" "rc=0$" "--check: an audit log in an existing directory passes"
conf <<EOF
user app
audit -
audit-sign /nonexistent/sign.key
EOF
like "$(check)" "$T/c.conf:3: signing key /nonexistent/sign.key: No such file or directory.*rc=1$" \
        "--check: a missing audit-sign key is reported with FILE:LINE"
conf <<EOF
user app
audit $T/logs/audit.log
EOF
ln -s "$T/outside/canary" "$T/logs/audit.log"
like "$(check)" "$T/c.conf:2: audit log $T/logs/audit.log: is a symbolic link, which is refused at start.*rc=1$" \
        "--check: an audit log that is a symbolic link is reported"
rm "$T/logs/audit.log"

# --- --check: anchors and setup paths through a symbolic link -----------------
conf <<EOF
user app
allow app open $T/link/tenants/*/settings.json read
allow app mkdir $T/link/x
setup mkdir $T/link/data
allow app bind unix:$T/link/s/*
EOF
out=$(check)
like "$out" "$T/c.conf:2: allow app open $T/link/tenants/\\*/settings.json: \"link\" is a symbolic link, which is never followed, so every request it allows would be refused \\(write the real path: $T/real/tenants/\\*/settings.json\\)" \
        "--check: an allow anchor through a symlink is reported with the real pattern"
like "$out" "$T/c.conf:3: allow app mkdir $T/link/x: \"link\" is a symbolic link.*real path: $T/real/x\\)" \
        "--check: an exact allow path through a symlink is reported"
like "$out" "$T/c.conf:4: setup mkdir $T/link/data: \"link\" is a symbolic link, which is never followed, so the step would fail \\(write the real path: $T/real/data\\)" \
        "--check: a setup path through a symlink is reported with its real path"
like "$out" "$T/c.conf:5: allow app bind unix:$T/link/s/\\*: .*real path: $T/real/s/\\*\\)" \
        "--check: a unix: bind anchor through a symlink is reported"
like "$out" "4 problems above.*rc=1$" "--check: every problem is reported, exit 1"
sed -i "s|$T/link/|$T/real/|" "$T/c.conf"
like "$(check)" "rc=0$" "--check: the same policy with the real paths passes (missing paths are fine)"

# --- start-time errors name the policy line -----------------------------------
mkdir -p "$T/vol"
conf <<EOF
user app
key /nonexistent/key
setup mkdir $T/vol/made
allow app mkdir $T/vol/*
EOF
out=$(in_container "$STEPDOWND" -c "$T/c.conf" -- /bin/echo APP-RAN 2>&1; echo "rc=$?")
is "$out" "stepdownd: $T/c.conf:2: key file /nonexistent/key: No such file or directory (provision the key there, mode 0600, or drop the statement for a key generated at each start) rc=1" \
        "start: a missing key names FILE:LINE, exit 1, the command not run"
[ -e "$T/vol/made" ] && not_ok "start: the setup steps did not run" || ok "start: the setup steps did not run"

conf <<EOF
user app
audit /nonexistent/dir/audit.log
EOF
out=$(in_container "$STEPDOWND" -c "$T/c.conf" -- /bin/echo APP-RAN 2>&1; echo "rc=$?")
is "$out" "stepdownd: $T/c.conf:2: audit log /nonexistent/dir/audit.log: directory /nonexistent/dir: \"nonexistent\": No such file or directory (its directory must exist: the log is opened before the setup steps run) rc=1" \
        "start: an audit log that cannot be opened names FILE:LINE once (no 'audit log: audit log')"

chmod 700 "$T/logs"
conf <<EOF
user app
audit $T/logs/audit.log
EOF
out=$(in_container setpriv --reuid 1000 --regid 1000 --clear-groups "$STEPDOWND" -c "$T/c.conf" -- /bin/echo APP-RAN 2>&1; echo "rc=$?")
like "$out" "^stepdownd: $T/c.conf:2: audit log $T/logs/audit.log: Permission denied stepdownd: not root \\(uid 1000\\): start the container as root, or point \`audit\` at a file uid 1000 may write \\(\`audit -\` for standard error\\) rc=1$" \
        "start: a non-root start against a root-only log says why and what to do"

# --- owner=USER: USER's primary group, in setup and allow ---------------------
rm -rf "$T/vol" && mkdir -p "$T/vol/tree/sub" && touch "$T/vol/tree/sub/f"
conf <<EOF
user root
setup chown $T/vol/tree owner=bob recursive
setup mkdir $T/vol/made owner=1000
EOF
out=$(in_container "$STEPDOWND" -c "$T/c.conf" --no-broker -- /bin/true 2>&1; echo "rc=$?")
is "$out $(stat -c '%u:%g' "$T/vol/tree" "$T/vol/tree/sub/f" "$T/vol/made")" "rc=0 1001:1001 1001:1001 1000:1000" \
        "setup chown owner=bob recursive / mkdir owner=1000: the user's uid and primary gid (chown -R bob)"
like "$(check)" "setup chown $T/vol/tree owner=1001:1001 recursive" "--check prints owner=bob resolved to uid:gid"

# --- a "*" component within a pattern, through the broker ---------------------
# tenants/a is real, tenants/b is a symlink to outside/, tenants/c holds a
# settings.json that is a symlink to the canary.
rm -rf "$T/srv" && mkdir -p "$T/srv/tenants/a/logs" "$T/srv/tenants/c"
echo tenant-a >"$T/srv/tenants/a/settings.json"
chmod 600 "$T/srv/tenants/a/settings.json"
touch "$T/srv/tenants/a/logs/x"
ln -s "$T/outside" "$T/srv/tenants/b"
ln -s "$T/outside/canary" "$T/srv/tenants/c/settings.json"
ln -s canary "$T/outside/settings.json"
mkdir -p "$T/outside/logs" && touch "$T/outside/logs/x"
conf <<EOF
user app
socket $T/run/sd.sock
allow app open $T/srv/tenants/*/settings.json read
allow app chown $T/srv/tenants/*/logs/** owner=bob
EOF
cat >"$T/app.sh" <<EOF
r() { "\$@" 2>&1; echo "rc=\$?"; }
r $SD open -r $T/srv/tenants/a/settings.json -- /bin/sh -c 'cat <&3'
r $SD open -r $T/srv/tenants/b/settings.json -- /bin/sh -c 'cat <&3'
r $SD open -r $T/srv/tenants/c/settings.json -- /bin/sh -c 'cat <&3'
r $SD open -r $T/srv/tenants/a/logs/settings.json -- /bin/sh -c 'cat <&3'
r $SD chown bob:bob $T/srv/tenants/a/logs/x
r $SD chown bob:bob $T/srv/tenants/b/logs/x
r $SD chown bob:staff $T/srv/tenants/a/logs/x
EOF
chmod 755 "$T/app.sh"
out=$(in_container "$STEPDOWND" -c "$T/c.conf" -- /bin/bash "$T/app.sh" 2>&1)
like "$out" "^tenant-a rc=0 " "mid-path wildcard: a tenant's root-only settings.json is read through the fd"
like "$out" "rc=0 stepdown: open $T/srv/tenants/b/settings.json: [^=]*\"b\" is a symbolic link, which is never followed[^=]* rc=[1-9]" \
        "mid-path wildcard: a tenant directory that is a symlink is refused, not followed"
like "$out" "stepdown: open $T/srv/tenants/c/settings.json: [^=]*symbolic link[^=]* rc=[1-9]" \
        "mid-path wildcard: a settings.json that is a symlink is refused, not followed"
like "$out" "stepdown: open $T/srv/tenants/a/logs/settings.json: [^=]*closest is $T/c.conf:3[^=]* rc=[1-9]" \
        "mid-path wildcard: one component only (tenants/a/logs/settings.json is refused)"
like "$out" "stepdown: chown $T/srv/tenants/b/logs/x: [^=]*\"b\" is a symbolic link[^=]* rc=[1-9]" \
        "mid-path wildcard: chown through a symlinked tenant is refused"
like "$out" "owner 1001:2000 is not in its owner= list[^=]* rc=[1-9]$" \
        "allow owner=bob: bob:staff is not bob's primary group, refused"
is "$(stat -c '%u:%g' "$T/srv/tenants/a/logs/x" "$T/outside/logs/x")" "1001:1001 0:0" \
        "allow owner=bob: bob:bob allowed below the wildcard; the file behind the symlink unchanged"
is "$(canary_state)" "$CANARY" "the canary outside is unchanged"

# --- message forms (item 5): each thing said once, long paths shortened -----
out=$("$STEPDOWND" -c "$T/nodir/missing.conf" -- true 2>&1; echo "rc=$?")
is "$out" "stepdownd: $T/nodir/missing.conf: $T/nodir: No such file or directory rc=1" \
        "a policy in a missing directory names the directory, once"
out=$("$STEPDOWND" -c "$T/missing.conf" -- true 2>&1; echo "rc=$?")
is "$out" "stepdownd: $T/missing.conf: No such file or directory rc=1" "a missing policy: its path once"
out=$("$STEPDOWND" -c "$T/real" -- true 2>&1; echo "rc=$?")
is "$out" "stepdownd: $T/real: is a directory, not the policy file rc=1" \
        "a directory given as the policy: its path once"
long="$T/$(head -c 5000 /dev/zero | tr '\0' a)"
out=$("$STEPDOWND" -c "$long" -- true 2>&1; echo "rc=$?")
like "$out" "^stepdownd: $T/a+\\.\\.\\.\\(50[0-9][0-9] bytes\\)\\.\\.\\.a+: a component is longer than 255 bytes rc=1$" \
        "a 5,000-byte policy path is shortened in the middle, the reason kept"
[ "${#out}" -lt 300 ] && ok "... the message stays short (${#out} bytes)" || not_ok "... the message stays short (${#out} bytes)"
out=$("$STEPDOWND" --bogus 2>&1; echo "rc=$?")
is "$out" "stepdownd: unrecognized option '--bogus' Try 'stepdownd --help' for more information. rc=1" \
        "getopt's errors say stepdownd:, not the full path it was started by"

# --- setup hints: parents, the real path --------------------------------------
rm -rf "$T/vol" && mkdir -p "$T/vol/real" && ln -s real "$T/vol/link"
ln -s "$T/outside" "$T/vol/real/planted"
conf <<EOF
user app
setup mkdir $T/vol/missing/x owner=app
EOF
out=$(in_container "$STEPDOWND" -c "$T/c.conf" -- /bin/echo APP-RAN 2>&1; echo "rc=$?")
like "$out" "^stepdownd: $T/c.conf:2: setup mkdir $T/vol/missing/x: .*No such file or directory \\(add \`parents\` to the step to create the missing parent directories too\\) rc=1$" \
        "setup mkdir whose parent is missing suggests parents"
conf <<EOF
user app
setup mkdir $T/vol/link/x owner=app
EOF
out=$(in_container "$STEPDOWND" -c "$T/c.conf" -- /bin/echo APP-RAN 2>&1; echo "rc=$?")
like "$out" "^stepdownd: $T/c.conf:2: setup mkdir $T/vol/link/x: .*\"link\" is a symbolic link, which is never followed \\(its real path is $T/vol/real/x: write that in the policy\\) rc=1$" \
        "setup path through a symlinked directory suggests the real path"
[ -e "$T/vol/real/x" ] && not_ok "... and nothing is made through the link" || ok "... and nothing is made through the link"
conf <<EOF
user app
setup chown $T/vol/link/planted owner=app
EOF
out=$(in_container "$STEPDOWND" -c "$T/c.conf" -- /bin/echo APP-RAN 2>&1; echo "rc=$?")
like "$out" "its real path is $T/vol/real/planted: write" \
        "a last component that is a link is never resolved for the hint (only the directories above)"
is "$(canary_state)" "$CANARY" "the canary the planted link names is unchanged"
out=$(check)
like "$out" "$T/c.conf:2: setup chown $T/vol/link/planted: .*real path: $T/vol/real/planted\\).*rc=1$" \
        "--check gives the same hint"

done_testing
