#!/bin/bash
# Real programs, unmodified (issue 20): Debian's nginx and PostgreSQL run
# as their own users from the first instruction, with transparent mode
# (`intercept`) serving the few privileged calls they make and nothing
# else.  Each runs in a "container": a new pid, mount and network
# namespace (lo up, net.ipv4.ip_unprivileged_port_start=1024 so port 80
# stays privileged) whose /run, /var/log/nginx, /var/lib/nginx and
# /var/lib/postgresql are fresh root-owned tmpfs (0755 root:root), with
# private /etc/passwd, /etc/group and /etc/shadow holding www-data and
# postgres.  The policies are the examples' own (docs/examples/nginx,
# docs/examples/postgres), read as shipped; nginx runs under exec mode and
# under --init.
#
# Prints TAP; registered with meson's exitcode protocol so that exit 77
# (nginx or PostgreSQL not installed) is a skip.
. "$(dirname "$0")/lib.sh"
: "${SRCDIR:?}" "${STEPDOWN_CLI:?}"
EX=$SRCDIR/docs/examples

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
missing=
[ -x "$NGINX" ] || missing="$missing nginx"
[ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] || missing="$missing postgresql"
command -v curl >/dev/null || missing="$missing curl"
command -v python3 >/dev/null || missing="$missing python3"
if [ -n "$missing" ]; then
        echo "1..0 # SKIP not installed:$missing (scripts/deps test installs them)"
        exit 77
fi
for d in /var/log/nginx /var/lib/nginx /var/lib/postgresql /var/www/html; do
        if [ ! -d "$d" ]; then
                echo "1..0 # SKIP $d is missing (the mount point of a fresh tmpfs; the nginx and postgresql packages make it)"
                exit 77
        fi
done

cat >"$T/rpasswd" <<'PW'
root:x:0:0:root:/root:/bin/bash
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
postgres:x:101:104:PostgreSQL administrator:/var/lib/postgresql:/bin/bash
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
PW
cat >"$T/rgroup" <<'GR'
root:x:0:
shadow:x:42:
www-data:x:33:
postgres:x:104:
nogroup:x:65534:
GR
cat >"$T/rshadow" <<'SH'
root:*:20000:0:99999:7:::
www-data:*:20000:0:99999:7:::
postgres:*:20000:0:99999:7:::
nobody:*:20000:0:99999:7:::
SH
chmod 644 "$T/rpasswd" "$T/rgroup"
chown root:root "$T/rshadow" && chmod 640 "$T/rshadow"
for p in nginx postgres; do
        install -m 0644 -o root -g root "$EX/$p/stepdown.conf" "$T/$p.conf"
done
# The page nginx serves (its default site's root, a fresh tmpfs too).
TOKEN=stepdown-realapps-$$-$RANDOM
echo "<p>$TOKEN</p>" >"$T/index.html"
chmod 644 "$T/index.html"

# realapps SCRIPT [ARG...]: runs the bash SCRIPT as PID 1 of a container
# laid out as above; ARGs follow $STEPDOWND, $T and $PGBIN.
realapps() {
        local script=$1
        shift
        unshare --pid --fork --mount --mount-proc --net --propagation private -- /bin/bash -c '
                set -e
                ip link set lo up
                sysctl -qw net.ipv4.ip_unprivileged_port_start=1024
                for d in /run /var/log/nginx /var/lib/nginx /var/lib/postgresql /var/www/html; do
                        mount -t tmpfs -o mode=0755,uid=0,gid=0 realapps "$d"
                done
                install -m 0644 "$2/index.html" /var/www/html/index.html
                mount --bind "$2/rpasswd" /etc/passwd
                mount --bind "$2/rgroup" /etc/group
                mount --bind "$2/rshadow" /etc/shadow
                set +e
                cd /
                export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C
                sd=$1 t=$2 pg=$3 script=$4
                shift 4
                exec /bin/bash -c "$script" realapps "$sd" "$t" "$pg" "$@"' \
                _ "$STEPDOWND" "$T" "$PGBIN" "$script" "$@"
}

# stop SIG PID: signals PID and waits for it; SIGKILL after 30 s (in the
# container's fresh pid namespace, the watchdog's pid cannot be reused).
STOP='stop() { kill -$1 $2; (sleep 30; kill -KILL $2 2>/dev/null) & local wd=$!; wait $2; local rc=$?; kill $wd 2>/dev/null; return $rc; }'
# What a process is: its name, ids, capabilities, no_new_privs, seccomp.
PROC_STATUS='status() { grep -E "^(Name|Uid|Gid|Groups|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):" /proc/$1/status | tr "\t\n" "  " | tr -s " "; }'
# Owner, group and mode of each path.
ST='st() { stat -c "%n %U:%G %a" "$@" 2>&1; }'
# The tree of the container's fresh directories, for "changes nothing"
# (stepdownd's own /run/stepdown and mount's /run/mount left out).
SNAP='snap() { find /run /var/lib/nginx /var/log/nginx /var/lib/postgresql /var/www/html \( -path /run/stepdown -o -path /run/mount \) -prune -o -type d -printf "%p %u:%g %m dir\n" -o -printf "%p %u:%g %m %y %s\n" | sort; }'

# line KEY: the first line of $out that starts with KEY.
line() { grep -m1 -- "^$1" <<<"$out"; }

# --- the container itself ----------------------------------------------------
out=$(realapps '
SD=$1
'"$ST"'
echo "port-start $(sysctl -n net.ipv4.ip_unprivileged_port_start)"
st /run /var/log/nginx /var/lib/nginx /var/lib/postgresql
echo "www-data: $(id www-data)"
setpriv --reuid=www-data --regid=www-data --init-groups -- /usr/bin/python3 -c "
import socket
s = socket.socket()
try:
    s.bind((\"127.0.0.1\", 80))
    print(\"native bind 80: bound\")
except OSError as e:
    print(\"native bind 80:\", e.strerror)"
setpriv --reuid=www-data --regid=www-data --init-groups -- nginx -g "daemon off;" 2>&1 | sed "s/^/native nginx: /"
echo "native nginx rc=${PIPESTATUS[0]}"
setpriv --reuid=postgres --regid=postgres --init-groups -- "$3/initdb" -D /var/lib/postgresql/data 2>&1 | sed "s/^/native initdb: /"
st /var/lib/nginx/body /var/lib/postgresql/data
' 2>&1)
printf '%s\n' "$out" | sed 's/^/# /'
like "$out" "^port-start 1024 /run root:root 755 /var/log/nginx root:root 755 /var/lib/nginx root:root 755 /var/lib/postgresql root:root 755 " \
        "container: privileged ports stay privileged (1024); /run, /var/log/nginx, /var/lib/nginx, /var/lib/postgresql are fresh root:root 0755"
like "$(line "www-data:")" "www-data: uid=33\(www-data\) gid=33\(www-data\) groups=33\(www-data\)" "container: a private passwd/group with www-data"
like "$(line "native bind 80:")" "native bind 80: Permission denied" "without stepdown, www-data may not bind port 80 here"
like "$(grep "^native nginx" <<<"$out" | tail -2)" "native nginx: .*mkdir\(\) \"/var/lib/nginx/body\" failed \(13: Permission denied\) native nginx rc=1" \
        "without stepdown, nginx as www-data stops at its first mkdir (Permission denied)"
like "$(line "native initdb: creating")" "native initdb: creating directory /var/lib/postgresql/data ... initdb: error: could not create directory \"/var/lib/postgresql/data\": Permission denied" \
        "without stepdown, initdb as postgres cannot create its data directory"
like "$(grep "^stat:" <<<"$out")" "/var/lib/nginx/body': No such file or directory .*/var/lib/postgresql/data': No such file or directory$" \
        "...and neither left anything behind"

# --- nginx -------------------------------------------------------------------
# The policy is docs/examples/nginx/stepdown.conf, the command Debian's
# nginx with its own configuration, in the foreground; under stepdownd's
# exec mode (nginx keeps stepdownd's pid, the broker is its child) and
# --init mode (stepdownd stays, serves and forwards signals; nginx is its
# child, its workers grandchildren).
nginx_case() { # exec|init
local mode=$1 flag= M
[ "$mode" = init ] && flag=--init
M="nginx ($mode)"
out=$(realapps '
SD=$1 T=$2 flag=$4
'"$PROC_STATUS"'
'"$ST"'
'"$STOP"'
get() { curl -sS -g --noproxy "*" --max-time 5 "$1" 2>&1; }
"$SD" $flag -c "$T/nginx.conf" -- nginx -g "daemon off;" >"$T/nginx.out" 2>"$T/nginx.err" &
pid=$!
for _ in $(seq 100); do
        curl -s --noproxy "*" --max-time 1 -o /dev/null http://127.0.0.1:80/ && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.1
done
# nginx master: stepdownd itself in exec mode, its child with --init.
m=$pid
[ -z "$flag" ] || m=$(pgrep -P $pid -x nginx)
echo "page4: $(get http://127.0.0.1:80/)"
echo "page6: $(get "http://[::1]:80/")"
echo "master: $(status $m)"
nw=0 nok=0
for w in $(pgrep -P $m -x nginx); do
        echo "worker $w: $(status $w)"
        nw=$((nw + 1))
        status $w | grep -qE "Uid: 33 33 33 33 Gid: 33 33 33 33 Groups: CapPrm: 0+ CapEff: 0+ CapBnd: 0+ CapAmb: 0+ NoNewPrivs: 1 Seccomp: 2 $" && nok=$((nok + 1))
done
echo "workers: $nw, www-data without capabilities: $nok"
echo "nginx processes: $(ps -C nginx -o uid= | wc -l), not www-data: $(ps -C nginx -o uid= | grep -cvx " *33")"
echo "pidfile: $(cat /run/nginx.pid 2>&1) pid=$m"
echo "listeners: $(ss -Hltnp "sport = :80" | grep -c "pid=$m,")"
st /run/nginx.pid /var/log/nginx/access.log /var/log/nginx/error.log
st /var/lib/nginx/body /var/lib/nginx/fastcgi /var/lib/nginx/proxy /var/lib/nginx/scgi /var/lib/nginx/uwsgi
echo "access.log GETs: $(grep -c "\"GET / HTTP" /var/log/nginx/access.log)"
stop QUIT $pid
echo "nginx-rc=$?"
' "$flag" 2>&1)
printf '%s\n' "$out" | sed 's/^/# /'
sed 's/^/# stderr: /' "$T/nginx.err" | grep -v '^# stderr: {' | head -20
like "$(line "page4:")" "^page4: <p>$TOKEN</p>$" "$M: serves the page on 127.0.0.1:80"
like "$(line "page6:")" "page6: <p>$TOKEN</p>$" "$M: ...and on [::1]:80 (listen [::]:80)"
like "$(line "master:")" "master: Name: nginx Uid: 33 33 33 33 Gid: 33 33 33 33 Groups: CapPrm: 0+ CapEff: 0+ CapBnd: 0+ CapAmb: 0+ NoNewPrivs: 1 Seccomp: 2$" \
        "$M: its master runs as www-data (no supplementary group, as docker run --user) with no capabilities, under no_new_privs and a seccomp filter"
like "$(line "workers:")" "workers: ([1-9][0-9]*), www-data without capabilities: \1$" \
        "$M: its workers too"
like "$(line "nginx processes:")" "nginx processes: ([2-9]|[1-9][0-9]+), not www-data: 0$" "$M: no nginx process runs as anyone but www-data"
like "$(line "pidfile:")" "pidfile: ([0-9]+) pid=\1$" "$M: wrote its pid file /run/nginx.pid (a root-owned /run) with its own pid"
like "$(line "listeners:")" "listeners: 2$" "$M: its own sockets listen on port 80 (0.0.0.0 and ::), in the master"
like "$(grep -E "^/run/nginx.pid |^/var/log/nginx/" <<<"$out")" "^/run/nginx.pid www-data:www-data 644 /var/log/nginx/access.log www-data:www-data 644 /var/log/nginx/error.log www-data:www-data 644$" \
        "$M: the pid file and the logs it created are www-data's (0644, born so)"
like "$(grep "^/var/lib/nginx/" <<<"$out")" "^/var/lib/nginx/body www-data:www-data 700 /var/lib/nginx/fastcgi www-data:www-data 700 /var/lib/nginx/proxy www-data:www-data 700 /var/lib/nginx/scgi www-data:www-data 700 /var/lib/nginx/uwsgi www-data:www-data 700$" \
        "$M: the five temp directories it made are www-data's (0700)"
# Three requests answered: the wait's first success, page4 and page6.
like "$(line "access.log GETs:")" "access.log GETs: 3$" "$M: its workers log through the fd the broker opened (three requests, three lines)"
like "$(line "nginx-rc=")" "nginx-rc=0$" "$M: SIGQUIT ends it gracefully with status 0"
grep '^{' "$T/nginx.err" >"$T/nginx-audit.jsonl"
served() { # OP PATH-OR-PORT
        grep '"via":"syscall"' "$T/nginx-audit.jsonl" | grep '"event":"request"' | grep "\"op\":\"$1\"" |
                grep -F -- "$2" | grep -c '"result":"OK"'
}
is "$(for p in body fastcgi proxy scgi uwsgi; do served mkdir "/var/lib/nginx/$p" | sed 's/^[1-9][0-9]*$/y/'; done)" "y y y y y" \
        "$M audit: each temp directory's mkdir is a served call (\"via\":\"syscall\", OK)"
is "$(for p in /run/nginx.pid /var/log/nginx/access.log /var/log/nginx/error.log; do served open "$p" | sed 's/^[1-9][0-9]*$/y/'; done)" "y y y" \
        "$M audit: the pid file's and the logs' opens are served calls"
like "$(served bind ':80')" "^[2-9]" "$M audit: both binds of port 80 are served calls"
like "$(grep -c '"via":"syscall"' "$T/nginx-audit.jsonl") $("$STEPDOWN_CLI" audit verify "$T/nginx-audit.jsonl" 2>&1; echo "rc=$?")" \
        "^[1-9][0-9]* .*rc=[03]$" "$M audit: the chain verifies"
}
nginx_case exec
nginx_case init

# --- PostgreSQL ----------------------------------------------------------------
# initdb as postgres into the root-owned /var/lib/postgresql (its mkdir of
# the data directory is served), then the cluster runs under the same
# policy (postgres in the foreground, as a container's CMD) and psql asks it
# a question over the socket in /run/postgresql (a setup step).
out=$(realapps '
SD=$1 T=$2 PGBIN=$3
'"$PROC_STATUS"'
'"$ST"'
'"$STOP"'
sd() { env -i PATH="$PGBIN:/usr/bin:/bin" LC_ALL=C.UTF-8 "$SD" -c "$T/postgres.conf" -- "$@"; }
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups -- env -i PATH="$PGBIN:/usr/bin:/bin" "$@"; }
sd initdb -D /var/lib/postgresql/data >"$T/initdb.out" 2>"$T/initdb.err"
echo "initdb-rc=$?"
grep -E "^(creating directory|Success)" "$T/initdb.out"
st /run/postgresql /var/lib/postgresql/data /var/lib/postgresql/data/PG_VERSION /var/lib/postgresql/data/base
# Not through sd(): $! must be stepdownd itself (postgres keeps its pid).
env -i PATH="$PGBIN:/usr/bin:/bin" LC_ALL=C.UTF-8 "$SD" -c "$T/postgres.conf" -- \
        postgres -D /var/lib/postgresql/data >"$T/pg.out" 2>"$T/pg.err" &
pid=$!
for _ in $(seq 150); do
        as_pg pg_isready -q -h /run/postgresql && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.1
done
echo "select: $(as_pg psql -h /run/postgresql -X -Atc "select 1" 2>&1)"
echo "whoami: $(as_pg psql -h /run/postgresql -X -Atc "select current_user, count(*) > 0 from pg_database" 2>&1)"
echo "postmaster: $(status $pid)"
echo "pidfile: $(head -1 /var/lib/postgresql/data/postmaster.pid 2>&1) pid=$pid"
echo "postgres processes: $(ps -C postgres -o uid= | wc -l), not postgres: $(ps -C postgres -o uid= | grep -cvx " *101")"
stop INT $pid
echo "postgres-rc=$?"
' 2>&1)
printf '%s\n' "$out" | sed 's/^/# /'
grep -v '^{' "$T/initdb.err" 2>/dev/null | sed 's/^/# initdb stderr: /' | head -10
grep -v '^{' "$T/pg.err" 2>/dev/null | sed 's/^/# postgres stderr: /' | tail -10
like "$(grep -E "^(initdb-rc|creating directory|Success)" <<<"$out")" "^initdb-rc=0 creating directory /var/lib/postgresql/data ... ok .*Success\." \
        "postgres: initdb as postgres creates /var/lib/postgresql/data in the root-owned /var/lib/postgresql and succeeds"
like "$(grep -E "^/run/postgresql|^/var/lib/postgresql/" <<<"$out")" "^/run/postgresql postgres:postgres 2775 /var/lib/postgresql/data postgres:postgres 700 /var/lib/postgresql/data/PG_VERSION postgres:postgres 600 /var/lib/postgresql/data/base postgres:postgres 700$" \
        "postgres: the data directory is born postgres's (0700), and so is all in it; the socket directory is a setup step's"
like "$(line "select:")" "select: 1$" "postgres: the cluster starts (postgres in the foreground under the same policy) and psql -c 'select 1' answers 1"
like "$(line "whoami:")" "whoami: postgres\|t$" "postgres: ...as the postgres role, over the socket in /run/postgresql"
like "$(line "postmaster:")" "postmaster: Name: postgres Uid: 101 101 101 101 Gid: 104 104 104 104 Groups: CapPrm: 0+ CapEff: 0+ CapBnd: 0+ CapAmb: 0+ NoNewPrivs: 1 Seccomp: 2$" \
        "postgres: the postmaster (stepdownd's pid) runs as postgres with no capabilities"
like "$(line "pidfile:")" "pidfile: ([0-9]+) pid=\1$" "postgres: postmaster.pid names it"
like "$(line "postgres processes:")" "postgres processes: ([2-9]|[1-9][0-9]+), not postgres: 0$" "postgres: every postgres process is postgres's"
like "$(line "postgres-rc=")" "postgres-rc=0$" "postgres: SIGINT (fast shutdown) ends it with status 0"
grep '^{' "$T/initdb.err" >"$T/initdb-audit.jsonl"
is "$(grep '"via":"syscall"' "$T/initdb-audit.jsonl" | grep '"event":"request"' | grep -c .) $(grep '"via":"syscall"' "$T/initdb-audit.jsonl" |
        grep '"event":"request"' | grep '"op":"mkdir"' | grep -F '"path":"/var/lib/postgresql/data","uid":101,"gid":104,"mode":"0700"' | grep -c '"result":"OK"')" "1 1" \
        "postgres audit: initdb's mkdir of the data directory is one served call; its other mkdirs (inside it) continued unrecorded"

# --- a shell under the same policy ---------------------------------------------
# What no rule allows fails exactly as the kernel fails it: the same
# commands as www-data without stepdown, then under stepdownd with the
# nginx policy; same messages, same statuses, and the tree is unchanged.
cat >"$T/probe.sh" <<'PROBE'
r() { "$@" 2>&1; echo "rc=$?"; }
r mkdir /run/probe
r mkdir /var/lib/nginx/a/b
r mkdir -m 0755 /var/lib/nginx/wrongmode
r mkdir /var/www/html/probe
r bash -c ': >/run/other.pid'
r bash -c ': >/var/log/nginx/sub/x.log'
r bash -c ': >/var/lib/nginx/file'
r bash -c 'echo x >>/var/www/html/index.html'
r cat /etc/shadow
r cat /run/nope
r python3 -c 'import socket; socket.socket().bind(("127.0.0.1", 81))'
r python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).bind(("127.0.0.1", 80))'
PROBE
chmod 644 "$T/probe.sh"
out=$(realapps '
SD=$1 T=$2
'"$SNAP"'
snap >"$T/snap0"
setpriv --reuid=www-data --regid=www-data --init-groups -- bash "$T/probe.sh" >"$T/probe-native" 2>&1
snap >"$T/snap1"
"$SD" -c "$T/nginx.conf" -- bash "$T/probe.sh" >"$T/probe-sd" 2>"$T/probe-sd.err"
echo "sd-rc=$?"
snap >"$T/snap2"
' 2>&1)
printf '%s\n' "$out" | sed 's/^/# /'
sed 's/^/# native: /' "$T/probe-native"
is "$out" "sd-rc=0" "shell: the probe ran under stepdownd"
like "$(cat "$T/probe-native")" "mkdir: cannot create directory '/run/probe': Permission denied rc=1 .*No such file or directory rc=1 .*Permission denied rc=1 .*Permission denied rc=1 .*Permission denied rc=1 .*No such file or directory rc=1 .*Permission denied rc=1 .*Permission denied rc=1 cat: /etc/shadow: Permission denied rc=1 cat: /run/nope: No such file or directory rc=1 .*PermissionError: \[Errno 13\] Permission denied rc=1 .*PermissionError: \[Errno 13\] Permission denied rc=1$" \
        "shell: natively every probe fails (Permission denied, No such file or directory)"
if diff -u "$T/probe-native" "$T/probe-sd" >"$T/probe.diff"; then
        ok "shell: under the policy, every call no rule allows fails with the kernel's own message and status (mkdir, open, bind; EACCES and ENOENT)"
else
        not_ok "shell: under the policy, every call no rule allows fails with the kernel's own message and status"
        sed 's/^/#   /' "$T/probe.diff"
fi
if diff -u "$T/snap0" "$T/snap1" >"$T/snap.diff" && diff -u "$T/snap0" "$T/snap2" >>"$T/snap.diff"; then
        ok "shell: ...and nothing changed in /run, /var/lib/nginx, /var/log/nginx, /var/www/html"
else
        not_ok "shell: ...and nothing changed"
        sed 's/^/#   /' "$T/snap.diff"
fi
is "$(grep '^{' "$T/probe-sd.err" | grep -c '"via":"syscall"')" "0" \
        "shell: no call was served (none is in the audit log: continued calls are not recorded)"

done_testing
