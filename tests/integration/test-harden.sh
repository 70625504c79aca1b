#!/bin/bash
# The broker's hardening is in force (issue 7): after setup its
# /proc/PID/status shows exactly the capabilities its policy needs (the
# expected masks are computed here from the policy, independently of
# harden.c), nothing inheritable or ambient, no_new_privs and a seccomp
# filter; its rlimits are set; the filter kills it on execve (a test-only
# build, stepdownd-test-hooks, tries one); --no-seccomp is loud.
. "$(dirname "$0")/lib.sh"

: "${STEPDOWN_CLI:?}" "${RAW_CLIENT:?}" "${STEPDOWND_TEST_HOOKS:?}"
SD=$STEPDOWN_CLI

mkdir -p "$T/data/private" "$T/run"
chown 1000:1000 "$T/data" "$T/data/private"
chmod 700 "$T/data/private"
echo x >"$T/data/private/f"
chown 1000:1000 "$T/data/private/f"
chmod 600 "$T/data/private/f"

# expected_caps POLICY [init]: the capability mask (hex, as in
# /proc/PID/status) the allow rules need, by the rules of stepdownd(8).
expected_caps() {
        local mask=0 op pat rest mode port
        [ "${2:-}" = init ] && mask=$((mask | 1 << 5)) # CAP_KILL
        while read -r _ _ op pat rest; do
                case $pat in /* | unix:*) mask=$((mask | 1 << 1 | 1 << 2)) ;; esac # DAC_*
                for mode in $(sed -n 's/.*mode=\([0-7,]*\).*/\1/p' <<<"$rest" | tr , ' '); do
                        ((8#$mode & 02000)) && mask=$((mask | 1 << 4)) # FSETID
                done
                case $op in
                mkdir | chown) mask=$((mask | 1 << 0 | 1 << 3)) ;; # CHOWN, FOWNER
                chmod) mask=$((mask | 1 << 3)) ;;
                open) [[ " $rest " == *" create "* ]] && mask=$((mask | 1 << 0 | 1 << 3)) ;;
                bind)
                        if [[ $pat == unix:* ]]; then
                                mask=$((mask | 1 << 6 | 1 << 7)) # SETGID, SETUID: setfsuid/setfsgid
                        else
                                port=${pat##*:}
                                port=${port%%-*}
                                ((port < 1024)) && mask=$((mask | 1 << 10)) # NET_BIND_SERVICE
                        fi
                        ;;
                esac
        done < <(grep '^allow ' "$1")
        printf '%016x' "$mask"
}

# policy NAME RULE...: a policy file for the app with these allow rules.
policy() {
        local f=$T/$1.conf
        shift
        {
                echo "user app"
                echo "socket $T/run/sd.sock"
                echo "audit $T/audit.jsonl"
                printf '%s\n' "$@"
        } >"$f"
        chmod 644 "$f"
        echo "$f"
}

# The broker's status and limits, read by the app (PID 1) in exec mode, or
# by the app from PID 1 (stepdownd itself) in init mode.  The exec-mode
# app runs beside its broker from the fork on, so it first waits for an
# answer to a ping: the broker serves only once it is hardened (before
# that, its status still shows the capabilities of setup).
STATUS=''"$SD"' ping >/dev/null 2>&1 || echo "no answer to ping"
b=${B:-$(pgrep -u 0 -x stepdownd | head -1)}
grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):" /proc/$b/status | tr -d "\t" | tr "\n" " "
grep -E "^Max (open files|core file size)" /proc/$b/limits | tr -s " " | tr "\n" " "'
status_of() { # POLICY [stepdownd options...]
        local pol=$1
        shift
        printf '%s\n' "$STATUS" >"$T/app.sh"
        in_container "$STEPDOWND" "$@" -c "$pol" -- /bin/bash "$T/app.sh" 2>&1
}
want() { # MASK [seccomp]
        echo "CapInh:0000000000000000 CapPrm:$1 CapEff:$1 CapBnd:$1 CapAmb:0000000000000000 NoNewPrivs:1 Seccomp:${2:-2}"
}

# --- 1. least capability, per policy -------------------------------------------
P1=$(policy full "allow app mkdir $T/data/** mode=0700,0750 parents" \
        "allow app chown $T/data/** owner=app:app recursive" \
        "allow app chmod $T/data/** mode=0640,0600" \
        "allow app open $T/data/** read write create mode=0600" \
        "allow app bind tcp:127.0.0.1:443")
E1=$(expected_caps "$P1")
is "$E1" "000000000000040f" "the test's own computation: mkdir/chown/chmod/open create/bind 443 need 0x40f"
out=$(status_of "$P1")
like "$out" "^$(want "$E1") " "exec mode: CapEff/CapPrm/CapBnd exactly the policy's (chown, dac_*, fowner, net_bind_service), CapInh/CapAmb 0, NoNewPrivs 1, Seccomp 2"
# RLIMIT_NOFILE is only ever lowered (raising needs CAP_SYS_RESOURCE).
hard=$(ulimit -Hn)
nofile() { [ "$hard" = unlimited ] || [ "$hard" -gt "$1" ] && echo "$1" || echo "$hard"; }
like "$out" "Max core file size 0 0 bytes +Max open files $(nofile 1408) $(nofile 1408) files" \
        "rlimits: RLIMIT_NOFILE lowered to 64*17+256+64 (from $hard), RLIMIT_CORE 0"
out=$(status_of "$P1" --max-clients 8)
like "$out" "Max open files $(nofile 456) $(nofile 456) " "... RLIMIT_NOFILE follows --max-clients (8*17+256+64)"
like "$(in_container "$STEPDOWND" --check -c "$P1" 2>&1)" \
        "^capabilities: cap_chown,cap_dac_override,cap_dac_read_search,cap_fowner,cap_net_bind_service capabilities with --init: cap_chown,cap_dac_override,cap_dac_read_search,cap_fowner,cap_kill,cap_net_bind_service " \
        "--check prints the capability sets"

P2=$(policy chmod "allow app chmod $T/data/** mode=0640,0600")
E2=$(expected_caps "$P2")
out=$(status_of "$P2")
like "$out" "^$(want "$E2") " "a chmod-only policy keeps only dac_override, dac_read_search, fowner ($E2)"
printf '%s\n' "$SD chmod 0640 $T/data/private/f; echo rc=\$?" >"$T/app.sh"
out=$(in_container "$STEPDOWND" -c "$P2" -- /bin/bash "$T/app.sh" 2>&1)
is "$out rc_mode=$(stat -c %a "$T/data/private/f")" "rc=0 rc_mode=640" \
        "... and still reaches into the app's 0700 directory and changes the app's file"

P3=$(policy bind8080 "allow app bind tcp:127.0.0.1:8080")
E3=$(expected_caps "$P3")
is "$E3" "0000000000000000" "a bind above 1024 needs no capability at all"
out=$(status_of "$P3")
like "$out" "^$(want "$E3") " "... and the broker holds none, in any set"
printf '%s\n' "$SD bind tcp:127.0.0.1:8080 -- true; echo rc=\$?" >"$T/app.sh"
is "$(in_container "$STEPDOWND" -c "$P3" -- /bin/bash "$T/app.sh" 2>&1)" "rc=0" "... and still serves the bind"

P4=$(policy setgid "allow app chmod $T/data/** mode=02770")
out=$(status_of "$P4")
like "$out" "^$(want "$(expected_caps "$P4")") " "a set-gid mode adds cap_fsetid (0x1e)"

printf '%s\n' "B=1; $STATUS" >"$T/app.sh"
out=$(in_container "$STEPDOWND" --init -c "$P2" -- /bin/bash "$T/app.sh" 2>&1)
like "$out" "^$(want "$(expected_caps "$P2" init)") " "init mode: PID 1 (the broker) keeps cap_kill too, to forward signals"
in_container "$STEPDOWND" --init -c "$P2" -- /bin/bash -c 'trap "echo got-TERM; exit 7" TERM; sleep 5 & wait' >"$T/fwd.out" 2>&1 &
upid=$!
sleep 1
# this subshell -> unshare -> stepdownd (PID 1 inside)
kill -TERM "$(pgrep -P "$(pgrep -P "$upid")")"
wait "$upid"
rc=$?
is "$(cat "$T/fwd.out") rc=$rc" "got-TERM rc=7" "... and forwarding a signal to the app still works under the filter"

# --- 2. seccomp kills a forbidden system call ------------------------------------
S=$(policy serve "allow * chmod $T/data/** mode=0600")
sed -i 's/^user app$/key none/' "$S"
in_container env STEPDOWN_TEST_HOOK=execve "$STEPDOWND_TEST_HOOKS" --serve -c "$S" >"$T/hook.out" 2>&1
rc=$?
is "$rc" "159" "a broker that calls execve after the filter is killed by SIGSYS (128+31)"
in_container env STEPDOWN_TEST_HOOK=execve "$STEPDOWND_TEST_HOOKS" --no-seccomp --no-landlock --serve -c "$S" >"$T/hook.out" 2>&1
is "$?" "0" "... the same build with --no-seccomp execs /bin/true instead (so it is the filter that kills)"
if grep -q STEPDOWN_TEST_HOOK "$STEPDOWND"; then
        not_ok "the real stepdownd has no test hook"
else
        ok "the real stepdownd has no test hook"
fi

# --- 3. --no-seccomp is loud ---------------------------------------------------------
rm -f "$T/audit.jsonl"
out=$(status_of "$P1" --no-seccomp)
like "$out" "$(want "$E1" 0) " "--no-seccomp: no filter (Seccomp 0), capabilities still dropped"
like "$out" "SECCOMP FILTER DISABLED \(--no-seccomp\)" "... with a warning on stderr"
like "$(grep '"event":"harden"' "$T/audit.jsonl")" "seccomp OFF \(--no-seccomp" "... and in the audit log"
rm -f "$T/audit.jsonl"
status_of "$P1" >/dev/null
like "$(grep '"event":"harden"' "$T/audit.jsonl")" \
        "capabilities cap_chown,cap_dac_override,cap_dac_read_search,cap_fowner,cap_net_bind_service; no_new_privs; seccomp on" \
        "a harden record names the capabilities kept and seccomp on"
# exit 3: intact, but open (no stop record: exec mode, the broker dies with PID 1)
like "$("$SD" audit verify "$T/audit.jsonl" 2>&1; echo "rc=$?")" "(intact: .*rc=0|open \(intact so far\): .*rc=3)$" "... and the audit chain verifies"

done_testing
