# Podman: the Kubernetes example with `podman kube play`, and rootless
# podman as an unprivileged user (sourced by run.sh).  The images are built
# by the private dockerd and handed over with `docker save`; podman itself
# runs in podman-ns.sh, inside a private mount namespace.

podman_images() {
        local c=$E/ctx/kube-broker a=$E/ctx/kube-app r=$E/ctx/rootless
        rm -rf "$c" "$a" "$r"
        mkdir -p "$c" "$a" "$r"
        # The broker image as the kubernetes README builds it: the compose
        # example's Dockerfile.broker (FROM scratch, the two binaries).
        tar -cf - -C "$STATIC/daemon" stepdownd -C "$STATIC/client" stepdown \
                -C "$SRC/docs/examples/compose-sidecar" Dockerfile.broker |
                build registry.example.com/stepdown-broker:0.1.0 - -f Dockerfile.broker || return 1
        # The app image the pod names: busybox and the client, waiting
        # for the broker (podman has no startup-probe ordering), asking
        # for a directory, then idling.
        cat >"$a/Dockerfile" <<'DF'
FROM stepdown-test/busybox
CMD ["sh", "-c", "for i in $(seq 100); do stepdown ping 2>/dev/null && break; sleep 0.1; done; stepdown mkdir -p -m 0750 /data/uploads/2024 && ls -ln /data && echo app: done && exec sleep 1000"]
DF
        build registry.example.com/app:1.0 "$a" || return 1
        "$DOCKER" save -o "$W/kube-images.tar" registry.example.com/stepdown-broker:0.1.0 registry.example.com/app:1.0 || return 1
        # The rootless image: stepdownd as entrypoint with a policy that
        # makes the volume app's and lets app make directories in it.
        cat >"$r/stepdown.conf" <<'CONF'
user    app
socket  /run/stepdown/stepdown.sock
audit   -
setup chown /data owner=app:app recursive
setup chmod /data mode=0750
allow app mkdir /data/** mode=0750
CONF
        cat >"$r/Dockerfile" <<'DF'
FROM stepdown-test/busybox
COPY --chmod=0644 stepdown.conf /etc/stepdown/stepdown.conf
VOLUME /data
ENTRYPOINT ["/usr/local/sbin/stepdownd", "-c", "/etc/stepdown/stepdown.conf", "--"]
CMD ["sh", "-c", "id; stat -c '%n %u:%g %a' /data; stepdown mkdir -m 0750 /data/sub && stat -c '%n %u:%g' /data/sub"]
DF
        build stepdown-test/rootless "$r" || return 1
        "$DOCKER" save -o "$W/rootless-image.tar" stepdown-test/rootless || return 1
        # The nginx example's image (examples.sh built it), for podman run.
        rm -f "$W/nginx-image.tar"
        if "$DOCKER" image inspect ex-nginx >/dev/null 2>&1; then
                "$DOCKER" save -o "$W/nginx-image.tar" ex-nginx
        fi
}

podman_checks() {
        local t=$SECONDS
        if ! podman_images >"$E/logs/podman-images.log" 2>&1; then
                not_ok "podman: images built by dockerd and saved" "$E/logs/podman-images.log"
                return
        fi
        # DOCKER_CONFIG would be podman's auth file too: not for podman.
        env -u DOCKER_CONFIG -u DOCKER_HOST STEPDOWN="$STEPDOWN" unshare --mount --propagation private -- \
                bash tests/engines/podman-ns.sh "$E" "$W" >"$E/logs/podman-ns.log" 2>&1 &
        PODMAN_NS_PID=$!
        wait "$PODMAN_NS_PID"
        PODMAN_NS_PID=
        if [ ! -s "$W/podman.results" ]; then
                not_ok "podman: the podman checks ran" "$E/logs/podman-ns.log"
                return
        fi
        local kind desc detail
        while IFS=$'\t' read -r kind desc detail; do
                case $kind in
                ok) ok "$desc" ;;
                skip) skip "$desc" "$detail" ;;
                diag) diag "$desc" ;;
                *) not_ok "$desc" "$detail" ;;
                esac
        done <"$W/podman.results"
        diag "podman: $((SECONDS - t)) s"
}

# An interrupted run: podman-ns.sh (unshare exec'd it, so this is its
# pid) removes its pods, containers, the rootless user's processes and the
# storage on SIGTERM, once the podman command it is running has returned
# (kube play is bounded by 120 s).
podman_cleanup() {
        [ -n "${PODMAN_NS_PID:-}" ] || return 0
        stop_pid "$PODMAN_NS_PID" podman-ns.sh 150
        PODMAN_NS_PID=
}
