# The main image (docs/examples/dockerfile, built by examples.sh) under
# the docker run options users combine it with (sourced by run.sh).  The
# secret is mounted as a directory (/run/secrets), the way Kubernetes
# mounts secrets.

FOUR_LINES='app: /data is app:app 750, app.log is app
app: secret via broker: 6 bytes
app: /etc/shadow refused with status 4'

# run_main NAME [docker run options...]: runs the image once, keeps its
# output in $E/logs/NAME.log; true when it printed the README's lines and
# exited 0.
run_main() {
        local name=$1 log=$E/logs/$1.log
        shift
        "${RUN[@]}" --name "$name" -v "$W/secrets:/run/secrets:ro" "$@" ex-dockerfile >"$log" 2>&1
        echo "exit status $?" >>"$log"
        [ "$(text_only "$log" | grep -v '^stepdownd: warning' | sed 1d)" = "$FOUR_LINES
exit status 0" ] && grep -q "^app: uid=$APP_UID gid=$APP_UID groups=$APP_UID pid=1$" "$log"
}

warnings() { grep '^stepdownd: warning' "$E/logs/$1.log"; }

matrix_checks() {
        local t=$SECONDS log
        if ! "$DOCKER" image inspect ex-dockerfile >/dev/null 2>&1; then
                not_ok "matrix: the main image (docs/examples/dockerfile) was not built"
                return
        fi
        mkdir -p "$W/secrets"
        printf s3cret >"$W/secrets/db-password"
        chmod 0400 "$W/secrets/db-password"
        APP_UID=$("${RUN[@]}" --rm --entrypoint id ex-dockerfile -u app)

        # Default: Docker's default capabilities and seccomp profile.
        if run_main m-default -v m-default:/data; then
                ok "matrix: default docker run: setup, the app as app (PID 1), the broker's open, a refusal"
        else
                not_ok "matrix: default docker run" "$E/logs/m-default.log"
        fi
        if [ -z "$(warnings m-default)" ]; then
                ok "matrix: default docker run prints no warning"
        else
                not_ok "matrix: default docker run prints no warning" "$E/logs/m-default.log"
        fi
        audit_verify m-default "matrix: default docker run"

        # Only the capabilities stepdownd(8) names: CHOWN, FOWNER (setup
        # chown/chmod), DAC_OVERRIDE, DAC_READ_SEARCH (any path rule),
        # SETUID, SETGID (the drop to the user), SETPCAP (to empty the
        # bounding set).
        local caps=(--cap-drop ALL)
        for c in CHOWN FOWNER DAC_OVERRIDE DAC_READ_SEARCH SETUID SETGID SETPCAP; do caps+=(--cap-add "$c"); done
        if run_main m-caps "${caps[@]}" -v m-caps:/data && [ -z "$(warnings m-caps)" ]; then
                ok "matrix: --cap-drop ALL + CHOWN FOWNER DAC_OVERRIDE DAC_READ_SEARCH SETUID SETGID SETPCAP: works, no warning"
        else
                not_ok "matrix: --cap-drop ALL plus the documented capabilities" "$E/logs/m-caps.log"
        fi

        if run_main m-nnp --security-opt no-new-privileges -v m-nnp:/data; then
                ok "matrix: --security-opt no-new-privileges"
        else
                not_ok "matrix: --security-opt no-new-privileges" "$E/logs/m-nnp.log"
        fi

        if run_main m-ro --read-only --tmpfs /run -v m-ro:/data; then
                ok "matrix: --read-only with a tmpfs /run"
        else
                not_ok "matrix: --read-only with a tmpfs /run" "$E/logs/m-ro.log"
        fi

        # A named volume across a restart: the second start's setup changes
        # nothing (audit "changed":0) and the app finds its file again.
        log=$E/logs/m-restart.log
        run_main m-restart -v m-restart:/data
        "$DOCKER" start -a m-restart >>"$log" 2>&1
        echo "exit status $?" >>"$log"
        local changes
        changes=$(grep '"event":"setup".*"op":"chown"' "$log" | grep -o '"changed":[0-9]*' | tr '\n' ' ')
        if [ "$changes" = '"changed":1 "changed":0 ' ] &&
                [ "$(grep -c '^exit status 0$' "$log")" = 2 ] &&
                [ "$("${RUN[@]}" --rm -v m-restart:/data stepdown-test/busybox grep -c started /data/app.log)" = 2 ]; then
                ok "matrix: a named volume across docker start: the second setup changes nothing (audit changed 1, then 0)"
        else
                not_ok "matrix: a named volume across a restart (setup chown changed: $changes)" "$log"
        fi

        # --init: stepdownd stays PID 1, forwards docker stop's SIGTERM,
        # exits 128+15 promptly (well before docker stop's 10 s SIGKILL).
        log=$E/logs/m-init.log
        "${RUN[@]}" -d --name m-init -v "$W/secrets:/run/secrets:ro" -v m-init:/data \
                --entrypoint /usr/local/sbin/stepdownd ex-dockerfile \
                -c /etc/stepdown/stepdown.conf --init -- /usr/local/bin/app.sh sleep 1000 >"$log" 2>&1
        for _ in $(seq 100); do
                "$DOCKER" logs m-init 2>&1 | grep -q 'refused with status' && break
                sleep 0.1
        done
        local t0 took st
        t0=$(date +%s%N)
        "$DOCKER" stop -t 10 m-init >>"$log" 2>&1
        took=$((($(date +%s%N) - t0) / 1000000))
        st=$("$DOCKER" inspect -f '{{.State.ExitCode}}' m-init)
        "$DOCKER" logs m-init >>"$log" 2>&1
        if [ "$st" = 143 ] && [ "$took" -lt 5000 ]; then
                ok "matrix: --init: docker stop takes ${took} ms, exit status 143"
        else
                not_ok "matrix: --init: docker stop promptly with status 143 (took ${took} ms, status $st)" "$log"
        fi

        # The classic entrypoint, untouched, with gosu being stepdownd's
        # gosu symlink: chown -R app /data && exec gosu app "$@".  As with gosu,
        # the bounding set is left alone; effective and permitted are empty.
        log=$E/logs/m-gosu.log
        mkdir -p "$E/ctx/gosu"
        cat >"$E/ctx/gosu/docker-entrypoint.sh" <<'SH'
#!/bin/sh
set -e
chown -R app /data
exec gosu app "$@"
SH
        cat >"$E/ctx/gosu/Dockerfile" <<'DF'
FROM stepdown-test/busybox
COPY --chmod=0755 docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /data
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["sh", "-c", "echo \"$(id) pid=$$ HOME=$HOME /data=$(stat -c %U /data)\"; grep -E '^Cap(Eff|Prm)' /proc/self/status"]
DF
        if build m-gosu "$E/ctx/gosu" >"$log" 2>&1 && "${RUN[@]}" --rm -v m-gosu:/data m-gosu >"$log" 2>&1 &&
                grep -q '^uid=1000(app) gid=1000(app) pid=1 HOME=/data /data=app$' "$log" &&
                grep -qP '^CapEff:\t0+$' "$log" && grep -qP '^CapPrm:\t0+$' "$log"; then
                ok "matrix: exec gosu app \"\$@\" entrypoint with the gosu symlink: app, PID 1, no capabilities"
        else
                not_ok "matrix: exec gosu app \"\$@\" entrypoint with the gosu symlink" "$log"
        fi

        # docker run --user (Kubernetes runAsNonRoot) on a volume that is
        # already the app's: the setup steps hold, so the app must start.
        log=$E/logs/m-user.log
        "${RUN[@]}" --rm --user "$APP_UID:$APP_UID" -v m-default:/data ex-dockerfile id -u >"$log" 2>&1
        echo "exit status $?" >>"$log"
        if [ "$(text_only "$log" | grep -v '^stepdownd:' | tr '\n' ' ')" = "$APP_UID exit status 0 " ]; then
                ok "matrix: docker run --user app on an app-owned volume starts the app"
        else
                not_ok "matrix: docker run --user app on an app-owned volume starts the app" "$log"
        fi

        # The policy at /etc/stepdown/stepdown.conf is found without -c.
        log=$E/logs/m-nocfg.log
        "${RUN[@]}" --rm -v m-default:/data --entrypoint /usr/local/sbin/stepdownd ex-dockerfile -- id -u >"$log" 2>&1
        echo "exit status $?" >>"$log"
        if [ "$(text_only "$log" | grep -v '^stepdownd:' | tr '\n' ' ')" = "$APP_UID exit status 0 " ]; then
                ok "matrix: stepdownd without -c reads /etc/stepdown/stepdown.conf"
        else
                not_ok "matrix: stepdownd without -c reads /etc/stepdown/stepdown.conf" "$log"
        fi
        diag "matrix: $((SECONDS - t)) s"
}
