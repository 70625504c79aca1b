# Shared by tests/engines/*: a private container engine under the build
# tree, TAP output, cleanup.  Sourced by tests/engines/run.sh.
#
# Everything lives under $E (build-engines/ by default): the private
# containerd (its root, state and socket), dockerd (--data-root,
# --exec-root, --pidfile, its socket), podman's storage, the cached rootfs
# tarballs.  Nothing is written to /var/lib/docker, /var/lib/containerd,
# /run/docker*, /run/containerd or /etc; the host's engine (if any) is
# never contacted: every docker command goes to $DOCKER_HOST.

DOCKER=${DOCKER:-/usr/bin/docker} # Debian's docker.io CLI, not another on PATH

# --- TAP --------------------------------------------------------------------
TAP_N=0
TAP_FAIL=0
TAP_SKIP=0
ok() { # DESCRIPTION
        TAP_N=$((TAP_N + 1))
        echo "ok $TAP_N - $*"
}
not_ok() { # DESCRIPTION [details file or text]
        TAP_N=$((TAP_N + 1))
        TAP_FAIL=$((TAP_FAIL + 1))
        echo "not ok $TAP_N - $1"
        if [ -n "${2:-}" ]; then
                if [ -f "$2" ]; then sed 's/^/#   /' "$2" | tail -40; else echo "$2" | sed 's/^/#   /'; fi
        fi
}
skip() { # DESCRIPTION REASON
        TAP_N=$((TAP_N + 1))
        TAP_SKIP=$((TAP_SKIP + 1))
        echo "ok $TAP_N - $1 # SKIP $2"
}
diag() { echo "# $*"; }

# check DESCRIPTION CMD...: one TAP line; the command's output goes to a
# log that is shown when it fails.
check() {
        local desc=$1 log
        shift
        log=$E/logs/check-$((TAP_N + 1)).log
        if "$@" >"$log" 2>&1; then ok "$desc"; else not_ok "$desc" "$log"; fi
}

# --- the private containerd + dockerd ---------------------------------------
# Sockets must fit sun_path (108 bytes): when the build tree is deep, the
# run directory (sockets only) goes to a short /tmp directory.
engine_paths() {
        R=$E/run
        if [ ${#R} -gt 60 ]; then
                R=$(mktemp -d /tmp/sd-eng.XXXXXX)
                CLEAN_DIRS="${CLEAN_DIRS:-} $R"
        fi
        mkdir -p "$R" "$E/containerd" "$E/docker" "$E/logs"
        export DOCKER_HOST=unix://$R/docker.sock
        # The CLI's own state (BuildKit's node id) too, not ~/.docker.
        export DOCKER_CONFIG=$E/docker-config
        CONTAINERD_SOCK=$R/containerd.sock
}

# containerd and dockerd run together in a private mount namespace whose
# /run is a fresh tmpfs: dockerd's hard-wired /run/docker (plugin
# discovery) and every layer and container mount stay in there and vanish
# with it.  Their sockets, pids and state are under $R and $E.
start_engine() { # STORAGE_DRIVER
        local sd=$1
        cat >"$E/containerd.toml" <<TOML
version = 2
root = "$E/containerd/root"
state = "$R/containerd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[debug]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$E/containerd/opt"
TOML
        # The identity key would otherwise go to /etc/docker/key.json.
        printf '{"deprecated-key-path": "%s"}\n' "$E/docker/key.json" >"$E/daemon.json"
        # A run that was killed outright left its engine behind: stop it,
        # by the pids it recorded, when they are still this tree's.
        local f p
        for f in docker containerd; do
                p=$(cat "$R/$f.pid" 2>/dev/null) || continue
                if grep -qF -- "$E" "/proc/$p/cmdline" 2>/dev/null; then
                        echo "stopping the $f (pid $p) a previous run left behind" >&2
                        stop_pid "$p" "$f"
                fi
        done
        rm -f "$R/docker.pid" "$R/containerd.pid" "$CONTAINERD_SOCK"
        unshare --mount --propagation private -- /bin/sh -c '
                E=$1 R=$2 SD=$3 SOCK=$4 HOST=$5
                mount -t tmpfs -o mode=0755 engine-run /run || exit 1
                containerd --config "$E/containerd.toml" >"$E/logs/containerd.log" 2>&1 &
                echo $! >"$R/containerd.pid"
                i=0
                while [ ! -S "$SOCK" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
                dockerd --config-file "$E/daemon.json" \
                        --data-root "$E/docker/data-$SD" --exec-root "$R/docker-exec" \
                        --pidfile "$R/docker.pid" -H "$HOST" \
                        --containerd "$SOCK" --containerd-namespace stepdown-test \
                        --containerd-plugins-namespace stepdown-test-plugins \
                        --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
                        --userland-proxy=false --storage-driver "$SD" \
                        >"$E/logs/dockerd-$SD.log" 2>&1 &
                wait
        ' engine-ns "$E" "$R" "$sd" "$CONTAINERD_SOCK" "$DOCKER_HOST" &
        ENGINE_NS_PID=$!
        for _ in $(seq 150); do
                if "$DOCKER" version >/dev/null 2>&1; then
                        DOCKERD_PID=$(cat "$R/docker.pid")
                        CONTAINERD_PID=$(cat "$R/containerd.pid")
                        return 0
                fi
                kill -0 "$ENGINE_NS_PID" 2>/dev/null || break
                sleep 0.2
        done
        tail -5 "$E/logs/dockerd-$sd.log" >&2
        stop_engine
        return 1
}

stop_pid() { # PID NAME [SECONDS]: TERM, then KILL after SECONDS (20)
        local pid=$1
        [ -n "$pid" ] || return 0
        kill -0 "$pid" 2>/dev/null || return 0
        kill "$pid" 2>/dev/null || true
        for _ in $(seq $((${3:-20} * 10))); do
                kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
                sleep 0.1
        done
        echo "$2 (pid $pid) ignored SIGTERM for ${3:-20} s: SIGKILL" >&2
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
}

# dockerd first (it stops its containers), then containerd; the namespace
# (and with it every mount made in it) goes when both have exited.
stop_engine() {
        [ -n "${DOCKERD_PID:-}" ] || DOCKERD_PID=$(cat "$R/docker.pid" 2>/dev/null || true)
        [ -n "${CONTAINERD_PID:-}" ] || CONTAINERD_PID=$(cat "$R/containerd.pid" 2>/dev/null || true)
        stop_pid "${DOCKERD_PID:-}" dockerd
        stop_pid "${CONTAINERD_PID:-}" containerd
        [ -n "${ENGINE_NS_PID:-}" ] && wait "$ENGINE_NS_PID" 2>/dev/null
        DOCKERD_PID= CONTAINERD_PID= ENGINE_NS_PID=
        return 0
}
