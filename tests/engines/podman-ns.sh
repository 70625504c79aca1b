#!/bin/bash
# The podman part of the engine stage, run by podman.sh inside a private
# mount namespace:  unshare --mount --propagation private podman-ns.sh E W
#
# /run, /var/lib and /etc/cni/net.d are fresh tmpfs here, so podman's run-time state
# (/run/libpod, /run/containers, the rootless user's XDG_RUNTIME_DIR, CNI
# locks) never reaches the host; its storage is under $E/podman and
# a /tmp/sd-rootless.* directory.  The rootless user exists only in this namespace: private
# copies of /etc/passwd, /etc/group, /etc/subuid and /etc/subgid are
# bind-mounted over the host's (newuidmap, set-uid root, reads them here).
#
# Writes one result per line to $W/podman.results:
#   ok|not ok|skip <TAB> description <TAB> detail (a log file or a reason)
set -uo pipefail
E=$1 W=$2
RES=$W/podman.results
: >"$RES"
result() { printf '%s\t%s\t%s\n' "$1" "$2" "${3:-}" >>"$RES"; }
L=$E/logs
. "$(dirname "$0")/nginx.sh"

mount -t tmpfs -o mode=0755 podman-run /run || exit 1
mount -t tmpfs -o mode=0755 podman-cni /etc/cni/net.d || exit 1
# Rootful podman keeps a blob cache in /var/lib/containers/cache whatever
# --root says; nothing else here needs /var/lib.
mount -t tmpfs -o mode=0755 podman-varlib /var/lib || exit 1
# This machine's root lacks CAP_SYS_RESOURCE (so may CI's): podman's
# default rlimits (nofile 1048576, nproc 4194304) cannot be set; lower ones
# can.
cat >"$W/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
CONF
export CONTAINERS_CONF=$W/containers.conf
P=(podman --root "$E/podman/root" --runroot /run/podman-runroot --tmpdir /run/libpod-tmp
        --cgroup-manager cgroupfs --events-backend file)

# --- podman kube play (rootful) ---------------------------------------------
kube() {
        local log=$L/podman-kube.log y=$W/pod-podman.yaml
        rm -rf "$E/podman"
        "${P[@]}" load -q -i "$W/kube-images.tar" >"$log" 2>&1 ||
                { result "not ok" "kubernetes example: podman load of the images" "$log"; return; }
        python3 tests/engines/kube-for-podman.py docs/examples/kubernetes/pod.yaml >"$y" 2>"$W/kube-changes" ||
                { result "not ok" "kubernetes example: rewriting pod.yaml for podman" "$W/kube-changes"; return; }
        if ! timeout 120 "${P[@]}" kube play --network none "$y" >>"$log" 2>&1; then
                result "not ok" "kubernetes example: podman kube play (network none)" "$log"
                return
        fi
        result ok "kubernetes example: podman kube play of docs/examples/kubernetes/pod.yaml ($(wc -l <"$W/kube-changes") podman-4.3 changes, see below)"
        while read -r line; do result diag "$line"; done <"$W/kube-changes"
        local app=app-with-stepdown-app broker=app-with-stepdown-stepdown-broker
        for _ in $(seq 100); do
                "${P[@]}" logs "$app" 2>&1 | grep -q 'app: done' && break
                sleep 0.1
        done
        {
                echo "== app"
                "${P[@]}" logs "$app"
                echo "== broker"
                "${P[@]}" logs "$broker"
        } >"$log" 2>&1
        if grep -qE '^drwxr-x--- +[0-9]+ 1000 +1000 .* uploads$' "$log" && grep -q '^app: done' "$log"; then
                result ok "kubernetes example: the app (runAsUser 1000, no capabilities, read-only root) made /data/uploads/2024 through the sidecar broker (key auto, ConfigMap policy)"
        else
                result "not ok" "kubernetes example: the app made /data/uploads/2024 through the sidecar broker" "$log"
        fi
        # The documented layout cannot be hijacked (issue 17.1): the
        # emptyDir is sticky after the broker's first setup step, so the
        # app's uid (any uid of the pod) cannot rename the broker's
        # directory away to put its own listener in its place.
        local hij
        hij=$("${P[@]}" exec "$app" sh -c 'stat -c "%a %u" /run/stepdown /run/stepdown/broker
                mv /run/stepdown/broker /run/stepdown/mine 2>&1; echo "mv rc=$?"
                stepdown ping >/dev/null && echo served' 2>&1 | tr '\n' ' ')
        echo "== hijack attempt: $hij" >>"$log"
        if printf '%s\n' "$hij" | grep -qE '^1777 0 710 0 .*mv rc=[1-9][0-9]* served $'; then
                result ok "kubernetes example: the emptyDir is sticky (1777), the app cannot rename the broker's directory away, the broker still serves"
        else
                result "not ok" "kubernetes example: the socket layout cannot be hijacked (got: $hij)" "$log"
        fi
        "${P[@]}" logs "$broker" 2>&1 | grep '^{' >"$W/audit-kube.jsonl"
        if grep -q '"op":"mkdir".*"result":"OK"' "$W/audit-kube.jsonl" &&
                { "$STEPDOWN" audit verify "$W/audit-kube.jsonl" >>"$log" 2>&1 || [ $? = 3 ]; }; then
                result ok "kubernetes example: the broker's audit records (podman logs) record the mkdir and verify"
        else
                result "not ok" "kubernetes example: the broker's audit records verify" "$log"
        fi
        timeout 60 "${P[@]}" kube down "$y" >>"$log" 2>&1
        "${P[@]}" pod rm -af >/dev/null 2>&1
}

# --- the nginx example under rootful podman run --------------------------------
# docs/examples/nginx's image (built by dockerd, docker save): nginx as
# www-data under transparent mode.  podman keeps privileged ports
# privileged in the container, so here the broker binds port 80.
nginx_podman() {
        local log=$L/podman-nginx.log c=pnginx
        if [ ! -s "$W/nginx-image.tar" ]; then
                result "not ok" "nginx example under podman: the image (docs/examples/nginx) was not built"
                return
        fi
        "${P[@]}" load -q -i "$W/nginx-image.tar" >"$log" 2>&1 ||
                { result "not ok" "nginx example under podman: podman load" "$log"; return; }
        "${P[@]}" run -d --network none --name "$c" ex-nginx >>"$log" 2>&1 ||
                { result "not ok" "nginx example under podman: podman run" "$log"; return; }
        local up=
        wait_page "$c" "${P[@]}" && up=1
        "${P[@]}" logs "$c" >>"$log" 2>&1
        if [ -z "$up" ]; then
                result "not ok" "nginx example under podman run (rootful, network none): nginx serves its page (curl in the container)" "$log"
                "${P[@]}" rm -f "$c" >/dev/null 2>&1
                return
        fi
        result ok "nginx example under podman run (rootful, network none): nginx serves its page (curl in the container)"
        nginx_state "$c" "${P[@]}" >"$log.state" 2>&1
        cat "$log.state" >>"$log"
        result diag "podman: $(grep '^ip_unprivileged_port_start' "$log.state"); binds the broker served: $(grep '"event":"request"' "$log" |
                grep '"via":"syscall"' | grep -c '"op":"bind"')"
        grep '^stepdownd' "$log" | while read -r l; do result diag "podman: $l"; done
        if nginx_state_ok "$log.state"; then
                result ok "nginx example under podman: PID 1 is nginx as www-data (workers too), no capabilities; its pid file and temp directories are www-data's"
        else
                result "not ok" "nginx example under podman: nginx as www-data, no capabilities; its files www-data's" "$log"
        fi
        "${P[@]}" rm -f "$c" >/dev/null 2>&1
}

# --- rootless podman ----------------------------------------------------------
RL_UID=
RL_DIR=
rootless() {
        local log=$L/podman-rootless.log name=sdrootless
        # A uid and subordinate range nobody on this host uses.
        RL_UID=61234
        while getent passwd "$RL_UID" >/dev/null || getent group "$RL_UID" >/dev/null; do RL_UID=$((RL_UID + 1)); done
        # Its home in /tmp: the build tree may sit below a directory the
        # user cannot search (a clone in /root).
        RL_DIR=$(mktemp -d /tmp/sd-rootless.XXXXXX)
        chmod 0755 "$RL_DIR"
        local home=$RL_DIR/home run=/run/user/$RL_UID
        install -d -o "$RL_UID" -g "$RL_UID" -m 0700 "$home" "$run"
        for f in passwd group subuid subgid; do
                cp "/etc/$f" "$W/$f" 2>/dev/null || : >"$W/$f"
                chmod 0644 "$W/$f"
        done
        echo "$name:x:$RL_UID:$RL_UID:stepdown rootless test:$home:/bin/sh" >>"$W/passwd"
        echo "$name:x:$RL_UID:" >>"$W/group"
        echo "$name:400000:65536" >>"$W/subuid"
        echo "$name:400000:65536" >>"$W/subgid"
        for f in passwd group subuid subgid; do
                mount --bind "$W/$f" "/etc/$f" || { result "not ok" "rootless podman: private /etc/$f"; return; }
        done
        install -m 0644 "$W/rootless-image.tar" "$RL_DIR/image.tar"
        as_user() {
                setpriv --reuid="$RL_UID" --regid="$RL_UID" --clear-groups -- \
                        env -i HOME="$home" USER=$name LOGNAME=$name XDG_RUNTIME_DIR="$run" \
                        PATH=/usr/sbin:/usr/bin:/sbin:/bin CONTAINERS_CONF="$CONTAINERS_CONF" \
                        podman --cgroup-manager cgroupfs --events-backend file "$@"
        }
        if ! as_user load -q -i "$RL_DIR/image.tar" >"$log" 2>&1; then
                result "not ok" "rootless podman: podman load as uid $RL_UID" "$log"
                return
        fi
        as_user info --format '{{.Store.GraphDriverName}} {{.Host.IDMappings.UIDMap}}' >>"$log" 2>&1
        result diag "rootless podman: uid $RL_UID (namespace-private passwd, subuid 400000:65536), storage $(tail -1 "$log")"
        as_user run --rm --network none -v rl-data:/data stepdown-test/rootless >"$log.run" 2>&1
        echo "exit status $?" >>"$log.run"
        cat "$log.run" >>"$log"
        if [ "$(grep -v '^{' "$log.run" | grep -v '^stepdownd: warning' | tr '\n' ' ')" = "uid=1000(app) gid=1000(app) /data 1000:1000 750 /data/sub 1000:1000 exit status 0 " ]; then
                result ok "rootless podman (uid $RL_UID, subuid range): setup chown of the volume, app as 1000, the broker's mkdir"
        else
                result "not ok" "rootless podman (uid $RL_UID, subuid range): setup, app, broker" "$log"
        fi
        # Only the user's own uid mapped (no subordinate range): the drop
        # to app cannot work, and stepdownd must say why (a user
        # namespace, what to map) rather than a bare errno.
        as_user run --rm --network none --uidmap 0:0:1 --gidmap 0:0:1 -v rl-data1:/data \
                stepdown-test/rootless >"$log.one" 2>&1
        echo "exit status $?" >>"$log.one"
        cat "$log.one" >>"$log"
        if ! grep -q '^exit status 0$' "$log.one" && grep -v '^{' "$log.one" | grep -qi 'user namespace'; then
                result ok "rootless podman, only the user's uid mapped: stepdownd says it is a user namespace"
        else
                result "not ok" "rootless podman, only the user's uid mapped: stepdownd says it is a user namespace" "$log.one"
        fi
        as_user rm -af >/dev/null 2>&1
        as_user volume rm -af >/dev/null 2>&1
}

# Rootless podman leaves a pause process holding its user namespace, and
# conmon processes: end them by the pids podman recorded, then the storage
# (files of subordinate uids; root removes them).
rootless_end() {
        [ -n "$RL_UID" ] || return 0
        local p
        for p in $(cat "/run/user/$RL_UID/libpod/tmp/pause.pid" 2>/dev/null) $(pgrep -u "$RL_UID" 2>/dev/null); do
                kill "$p" 2>/dev/null
        done
        sleep 0.5
        for p in $(pgrep -u "$RL_UID" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        [ -n "$RL_DIR" ] && rm -rf "$RL_DIR"
}
kube_end() {
        "${P[@]}" pod rm -af >/dev/null 2>&1
        "${P[@]}" rm -af >/dev/null 2>&1
        rm -rf "$E/podman"
}
trap 'rootless_end; kube_end' EXIT
trap 'exit 143' TERM INT

kube
nginx_podman
rootless
