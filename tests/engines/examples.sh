# Every example in docs/examples/, built from its own Dockerfile and run
# the way its README says (sourced by run.sh).

# docs/examples/dockerfile: the README's build and run, word for word
# except --network none and the local base image.
example_dockerfile() {
        local log=$E/logs/ex-dockerfile.log out
        if tar -cf - -C docs/examples/dockerfile . -C "$STATIC/daemon" stepdownd -C "$STATIC/client" stepdown |
                build ex-dockerfile - --build-arg BASE=stepdown-test/debian >"$log" 2>&1; then
                ok "dockerfile example: docker build (BuildKit) from docs/examples/dockerfile/Dockerfile"
        else
                not_ok "dockerfile example: docker build" "$log"
                return
        fi
        printf s3cret >"$W/db-password"
        chmod 0400 "$W/db-password"
        "${RUN[@]}" --name ex-dockerfile -v demo-data:/data \
                -v "$W/db-password:/run/secrets/db-password:ro" ex-dockerfile >"$log" 2>&1
        echo "exit status $?" >>"$log"
        out=$(text_only "$log")
        local uid
        uid=$("${RUN[@]}" --rm --entrypoint id ex-dockerfile -u app)
        if [ "$out" = "app: uid=$uid gid=$uid groups=$uid pid=1
app: /data is app:app 750, app.log is app
app: secret via broker: 6 bytes
app: /etc/shadow refused with status 4
exit status 0" ]; then
                ok "dockerfile example: docker run prints the README's four lines"
        else
                not_ok "dockerfile example: docker run prints the README's four lines" "$log"
        fi
}

# docs/examples/redis-migration: the image's redis-server as PID 1 under
# the redis user, the volume made redis's, SAVE, SHUTDOWN -> status 0.
example_redis() {
        local log=$E/logs/ex-redis.log
        if tar -cf - -C docs/examples/redis-migration . -C "$STATIC/daemon" stepdownd |
                build ex-redis - --build-arg BASE=stepdown-test/debian >"$log" 2>&1; then
                ok "redis example: docker build from docs/examples/redis-migration/Dockerfile"
        else
                not_ok "redis example: docker build" "$log"
                return
        fi
        # A volume holding a root-owned file, as an old deployment left it.
        "${RUN[@]}" --rm -v redis-data:/data stepdown-test/busybox \
                sh -c 'echo old >/data/seed && chmod 0644 /data/seed' >/dev/null
        "${RUN[@]}" -d --name ex-redis -v redis-data:/data ex-redis >"$log" 2>&1
        if ! wait_redis ex-redis; then
                logs ex-redis
                not_ok "redis example: redis-server answers PING" "$E/logs/ex-redis.err"
                return
        fi
        {
                "$DOCKER" exec ex-redis redis-cli SAVE
                "$DOCKER" exec ex-redis sh -c 'grep -E "^(Name|Uid|Gid|CapEff|CapPrm|CapBnd)" /proc/1/status; stat -c "%n %U:%G %a" /data/dump.rdb /data/seed'
        } >"$log" 2>&1
        local redis_uid
        redis_uid=$("$DOCKER" exec ex-redis id -u redis)
        if grep -q '^OK' "$log" && grep -qP '^Name:\tredis-server' "$log" &&
                grep -qP "^Uid:\t$redis_uid\t$redis_uid\t$redis_uid\t$redis_uid" "$log" &&
                grep -qP '^CapEff:\t0+$' "$log" && grep -qP '^CapPrm:\t0+$' "$log" &&
                grep -q '^/data/dump.rdb redis:redis 600$' "$log" &&
                grep -q '^/data/seed redis:redis 644$' "$log"; then
                ok "redis example: PID 1 is redis-server as redis, no capabilities; SAVE writes a 0600 dump; the root-owned file became redis's"
        else
                not_ok "redis example: PID 1 is redis-server as redis, no capabilities, SAVE" "$log"
        fi
        "$DOCKER" exec ex-redis redis-cli SHUTDOWN >/dev/null 2>&1
        local st
        st=$(timeout 20 "$DOCKER" wait ex-redis)
        logs ex-redis
        if [ "$st" = 0 ]; then
                ok "redis example: redis-cli SHUTDOWN ends the container with status 0"
        else
                not_ok "redis example: redis-cli SHUTDOWN ends the container with status 0 (got '$st')" "$E/logs/ex-redis.err"
        fi
        audit_verify ex-redis "redis example"

        # docker run --user: the original entrypoint skips its chown when not
        # root, so `--user redis` on a fresh volume must start redis.
        "${RUN[@]}" -d --name ex-redis-user --user redis -v redis-user:/data ex-redis >/dev/null 2>&1
        if wait_redis ex-redis-user; then
                ok "redis example: docker run --user redis starts redis-server (setup optional when not root)"
        else
                logs ex-redis-user
                not_ok "redis example: docker run --user redis starts redis-server" "$E/logs/ex-redis-user.err"
        fi
        "$DOCKER" rm -f ex-redis-user >/dev/null 2>&1
}

wait_redis() { # CONTAINER
        for _ in $(seq 100); do
                [ "$("$DOCKER" exec "$1" redis-cli PING 2>/dev/null)" = PONG ] && return 0
                [ "$("$DOCKER" inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = true ] || return 1
                sleep 0.1
        done
        return 1
}

# The audit records a container wrote to its log stream, verified: the
# JSON lines taken out of `docker logs`, and the whole stream given as -.
# Exit 3 is "intact so far, no stop record": the container runs on, or
# exec mode's broker died with PID 1 (docs/AUDIT.md, Verify).
audit_verify() { # CONTAINER WHAT
        local log=$E/logs/audit-$1.log
        "$DOCKER" logs "$1" 2>&1 | grep '^{' >"$W/audit-$1.jsonl"
        if [ -s "$W/audit-$1.jsonl" ] && { "$STEPDOWN" audit verify "$W/audit-$1.jsonl" >"$log" 2>&1 || [ $? = 3 ]; }; then
                ok "$2: the audit records in docker logs verify ($(grep -c . "$W/audit-$1.jsonl") records)"
        else
                not_ok "$2: the audit records in docker logs verify" "$log"
        fi
        if "$DOCKER" logs "$1" 2>&1 | { "$STEPDOWN" audit verify - >"$log" 2>&1 || [ $? = 3 ]; }; then
                ok "$2: docker logs piped whole into stepdown audit verify -"
        else
                not_ok "$2: docker logs piped whole into stepdown audit verify -" "$log"
        fi
}

# docs/examples/compose-sidecar: docker-compose up with the README's three
# preparation steps; the override only takes the network away and names
# the local base image.
example_compose() {
        local c log=$E/logs/ex-compose.log
        c=$(context compose-sidecar)
        od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$c/stepdown.key"
        chown 1000:1000 "$c/stepdown.key" && chmod 0400 "$c/stepdown.key"
        chown root:root "$c/stepdown.conf" && chmod 0644 "$c/stepdown.conf"
        cp tests/engines/compose-sidecar.override.yml "$c/"
        local dc=(docker-compose -p stepdown-engines -f "$c/docker-compose.yml" -f "$c/compose-sidecar.override.yml")
        if ! (cd "$c" && "${dc[@]}" up -d --build) >"$log" 2>&1; then
                not_ok "compose example: docker-compose up (network none)" "$log"
                (cd "$c" && "${dc[@]}" down -v) >/dev/null 2>&1
                return
        fi
        ok "compose example: docker-compose up builds the broker and starts both services"
        local app
        for _ in $(seq 60); do
                app=$( (cd "$c" && "${dc[@]}" logs --no-color app) 2>&1)
                grep -q uploads <<<"$app" && break
                sleep 1
        done
        (cd "$c" && "${dc[@]}" logs --no-color) >"$log" 2>&1
        if grep -qE 'drwxr-x--- +[0-9]+ 1000 +1000 .* uploads$' <<<"$app"; then
                ok "compose example: the app (uid 1000, no capabilities) made /data/uploads/2024 through the broker after its health check"
        else
                not_ok "compose example: the app made /data/uploads/2024 through the broker" "$log"
        fi
        local broker
        broker=$("$DOCKER" ps -aq --filter label=com.docker.compose.project=stepdown-engines --filter label=com.docker.compose.service=broker)
        "$DOCKER" logs "$broker" 2>&1 | grep '^{' >"$W/audit-compose.jsonl"
        if grep -q '"op":"mkdir".*"decision":"allow".*"result":"OK"' "$W/audit-compose.jsonl" &&
                { "$STEPDOWN" audit verify "$W/audit-compose.jsonl" >>"$log" 2>&1 || [ $? = 3 ]; }; then
                ok "compose example: the broker's audit records (docker-compose logs) record the mkdir and verify"
        else
                not_ok "compose example: the broker's audit records record the mkdir and verify" "$log"
        fi
        (cd "$c" && "${dc[@]}" down -v) >>"$log" 2>&1 || not_ok "compose example: docker-compose down -v" "$log"
}

examples_checks() {
        local t=$SECONDS
        example_dockerfile
        example_redis
        example_compose
        example_nginx
        diag "examples: $((SECONDS - t)) s"
}
