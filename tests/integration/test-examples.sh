#!/bin/bash
# The examples in docs/examples run as documented: the Dockerfile's image
# (entrypoint logic, policy, app) and the redis migration run in a fresh
# pid+mount+network namespace (tests/integration/image.sh); the compose
# file and the Kubernetes pod are checked as YAML and for the pieces the
# sidecar design depends on.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/image.sh"
: "${STEPDOWN_CLI:?}" "${SRCDIR:?}"
EX=$SRCDIR/docs/examples

# --- (a) dockerfile ----------------------------------------------------------
# The orchestrator's part: a root-only secret, as `docker run --secret`
# or a Kubernetes secret volume with defaultMode 0400 would mount it.
out=$(image_run "$EX/dockerfile" '
mkdir -p "$R/run/secrets" && printf s3cret >"$R/run/secrets/db-password"
chmod 0400 "$R/run/secrets/db-password"' 2>&1)
rc=$?
is "rc=$rc" "rc=0" "dockerfile: the image's entrypoint and app exit 0"
like "$out" "app: uid=[0-9]+ gid=[0-9]+ groups=[0-9]+ pid=1( |$)" \
        "dockerfile: the app runs as PID 1 without root"
like "$(grep '^app: uid' <<<"$out")" "^app: uid=([1-9][0-9]*) gid=([1-9][0-9]*)" \
        "dockerfile: ...under the app user's non-zero uid and gid"
like "$out" "app: /data is app:app 750, app.log is app" \
        "dockerfile: the setup steps made the fresh /data volume the app's"
is "$(grep -c 'could read the secret directly' <<<"$out")" "0" \
        "dockerfile: the app cannot open the root-only secret itself"
like "$out" "app: secret via broker: 6 bytes" "dockerfile: the broker passes the secret's fd"
like "$out" "app: /etc/shadow refused with status 4" "dockerfile: what the policy does not list is refused"
like "$out" '"decision":"deny"' "dockerfile: the refusal is audited on stderr (docker logs)"
[ "$T_FAILED" -eq 0 ] || sed 's/^/# /' <<<"$out"

# --- (b) redis-migration ---------------------------------------------------
# Debian's redis-server plays the official image's (the overlay root holds
# it and its redis user).  Started in the background; redis-cli talks to it
# inside the container's network namespace.
redis_test() {
        local failed_before=$T_FAILED pid1 uid i rc
        uid=$(id -u redis)
        IMAGE_BG=1 image_run "$EX/redis-migration" '
mkdir "$R/data/restored" && echo old >"$R/data/restored/notes.txt"' >"$T/redis.out" 2>&1
        if ! pid1=$(image_pid1); then
                not_ok "redis: the container starts"
                kill "$IMAGE_PID" 2>/dev/null
                wait "$IMAGE_PID"
                sed 's/^/# /' "$T/redis.out"
                return
        fi
        cli() { nsenter -t "$pid1" -n redis-cli "$@" 2>&1; }
        for i in $(seq 100); do
                [ "$(cli ping)" = PONG ] && break
                sleep 0.1
        done
        is "$(cli ping)" "PONG" "redis: redis-server answers"
        like "$(cli info server | tr -d '\r')" "process_id:1( |$)" "redis: redis-server is PID 1 of the container"
        is "$(awk '/^Uid:|^Gid:/ {print $2, $3, $4, $5}' "/proc/$pid1/status")" \
                "$uid $uid $uid $uid $(id -g redis) $(id -g redis) $(id -g redis) $(id -g redis)" \
                "redis: it runs as the redis user and group (real, effective, saved, fs)"
        is "$(awk '/^CapEff:|^CapPrm:/ {print $2}' "/proc/$pid1/status")" \
                "0000000000000000 0000000000000000" "redis: with no capabilities"
        is "$(cli config get dir | tail -1)" "/data" "redis: its working directory is /data"
        is "$(stat -c '%u %a' "/proc/$pid1/root/data" "/proc/$pid1/root/data/restored/notes.txt")" \
                "$uid 755 $uid 644" \
                "redis: the setup step gave the volume and root's old files to redis"
        is "$(cli save)" "OK" "redis: SAVE succeeds"
        is "$(stat -c '%u %a' "/proc/$pid1/root/data/dump.rdb" 2>&1)" "$uid 600" \
                "redis: dump.rdb is in /data, redis's, mode 0600 (umask 0077)"
        cli shutdown nosave >/dev/null
        # If it does not stop, end the unshare process (--kill-child takes
        # the container with it) rather than hang.
        for i in $(seq 100); do
                kill -0 "$IMAGE_PID" 2>/dev/null || break
                sleep 0.1
        done
        kill "$IMAGE_PID" 2>/dev/null
        wait "$IMAGE_PID"
        rc=$?
        is "rc=$rc" "rc=0" "redis: SHUTDOWN ends the container with status 0"
        like "$(cat "$T/redis.out")" '"event":"setup".*"op":"chown".*"decision":"allow"' \
                "redis: the setup step is audited on stderr"
        [ "$T_FAILED" -eq "$failed_before" ] || sed 's/^/# /' "$T/redis.out"
}
if command -v redis-server >/dev/null && command -v redis-cli >/dev/null && id redis >/dev/null 2>&1; then
        redis_test
else
        ok "redis: # SKIP redis-server is not installed (scripts/deps installs it)"
fi

# --- (c) compose-sidecar and (d) kubernetes: YAML ---------------------------
# No engine runs here: the files are parsed as YAML, the pieces the sidecar
# design depends on are checked, and the policies they carry pass --check.
if python3 -c 'import yaml' 2>/dev/null; then
        out=$(python3 - "$EX" "$T" <<'PY' 2>&1
import os, sys, yaml
ex, tmp = sys.argv[1:]
def check(cond, what):
    print(("ok " if cond else "not ok ") + what)
c = yaml.safe_load(open(os.path.join(ex, "compose-sidecar/docker-compose.yml")))
b, a = c["services"]["broker"], c["services"]["app"]
check("--serve" in open(os.path.join(ex, "compose-sidecar/Dockerfile.broker")).read()
      or "--serve" in str(b.get("command", "")), "compose: the broker runs stepdownd --serve")
mounts = lambda s: {v.split(":")[1]: v.split(":")[0] for v in s["volumes"]}
check(mounts(b).get("/run/stepdown") == mounts(a).get("/run/stepdown") == "stepdown-run"
      and "stepdown-run" in c["volumes"], "compose: both mount the socket volume at /run/stepdown")
check(os.path.dirname(a["environment"]["STEPDOWN_SOCKET"]) == "/run/stepdown",
      "compose: the app's STEPDOWN_SOCKET is on that volume")
check(b["secrets"] == a["secrets"] == ["stepdown_key"] and "file" in c["secrets"]["stepdown_key"]
      and a["environment"]["STEPDOWN_KEY_FILE"] == "/run/secrets/stepdown_key",
      "compose: the key is one file, a secret mounted in both")
check(str(a["user"]).split(":")[0] != "0" and b["cap_drop"] == ["ALL"],
      "compose: the app is not root; the broker drops all but the capabilities it names")
docs = list(yaml.safe_load_all(open(os.path.join(ex, "kubernetes/pod.yaml"))))
cm = next(d for d in docs if d["kind"] == "ConfigMap")
pod = next(d for d in docs if d["kind"] == "Pod")
spec = pod["spec"]
side = spec["initContainers"][0]
app = spec["containers"][0]
check(side.get("restartPolicy") == "Always", "kubernetes: the broker is a native sidecar (restartPolicy: Always)")
check("--serve" in side["args"] and "startupProbe" in side, "kubernetes: it serves and gates the app on a startup probe")
vm = lambda ctr: {m["name"]: m["mountPath"] for m in ctr["volumeMounts"]}
empty = [v["name"] for v in spec["volumes"] if "emptyDir" in v]
check("stepdown-run" in empty and vm(side)["stepdown-run"] == vm(app)["stepdown-run"],
      "kubernetes: broker and app share the socket emptyDir at the same path")
check(app["env"] == side["env"] and app["env"][0]["value"].startswith(vm(app)["stepdown-run"] + "/"),
      "kubernetes: the app's STEPDOWN_SOCKET and key are on it")
check(app["securityContext"]["runAsNonRoot"] is True and side["securityContext"]["capabilities"]["drop"] == ["ALL"],
      "kubernetes: the app is non-root; the broker drops all but the capabilities it names")
open(tmp + "/k8s.conf", "w").write(cm["data"]["stepdown.conf"])
PY
)
        while read -r status rest; do
                if [ "$status" = ok ]; then ok "$rest"; else not_ok "${rest#ok }"; fi
        done <<<"$out"
        for f in "compose-sidecar/stepdown.conf:$EX/compose-sidecar/stepdown.conf" \
                "kubernetes/pod.yaml's ConfigMap:$T/k8s.conf"; do
                cp "${f#*:}" "$T/check.conf" && chmod 0644 "$T/check.conf"
                # --check also loads the provisioned key: give it the
                # compose secret the container would have (a private /run).
                r=$(in_container /bin/bash -c 'mount -t tmpfs -o mode=0755 run /run &&
                        mkdir /run/secrets && head -c 32 /dev/urandom >/run/secrets/stepdown_key &&
                        chmod 0400 /run/secrets/stepdown_key && exec "$@"' _ \
                        "$STEPDOWND" --check -c "$T/check.conf" 2>&1)
                like "rc=$? $(tail -1 <<<"$r")" "^rc=0 " "the policy in ${f%%:*} passes --check"
        done
else
        ok "compose/kubernetes YAML # SKIP python3-yaml is not installed (scripts/deps installs it)"
fi

# --- (e) the gosu drop-in in an image ------------------------------------------
# An image that keeps `exec gosu app "$@"` links gosu to the static
# stepdownd, as stepdownd(8) and docs/examples/dockerfile/README.md show:
#   RUN ln -s /usr/local/sbin/stepdownd /usr/local/bin/gosu
# Invoked as gosu it reads no policy (documented there): with a policy at
# the default path that stepdownd itself refuses, gosu still runs the
# command as the user it is given.  /etc is an overlay in the container,
# so the policy written there never reaches the host.
policy=$("$STEPDOWND" --help | sed -n 's/.*--config FILE .*(default \(\/[^ ,)]*\).*/\1/p')
top=$(dirname "$(dirname "$policy")")
if [ -n "$policy" ] && [ -d "$top" ]; then
        mkdir -p "$T/gosu-img/bin" "$T/gosu-img/up" "$T/gosu-img/work"
        ln -s "$STEPDOWND" "$T/gosu-img/bin/gosu"
        # shellcheck disable=SC2016
        out=$(unshare --pid --fork --mount --mount-proc --propagation private -- bash -c '
policy=$1 top=$2 img=$3 stepdownd=$4
mount -t overlay overlay -o "lowerdir=$top,upperdir=$img/up,workdir=$img/work" "$top" || exit 90
mount --bind "$5" /etc/passwd && mount --bind "$6" /etc/group || exit 91
mkdir -p "$(dirname "$policy")" && echo "user nosuchuser" >"$policy" && chmod 0644 "$policy"
"$stepdownd" -u app -- id 2>&1; echo "rc=$?"
"$img/bin/gosu" app id 2>&1; echo "rc=$?"' _ "$policy" "$top" "$T/gosu-img" "$STEPDOWND" "$T/passwd" "$T/group" 2>&1)
        like "$(head -2 <<<"$out")" "$policy.*nosuchuser.* rc=1$" \
                "gosu drop-in: stepdownd itself reads the default policy (here one it refuses)"
        like "$(tail -2 <<<"$out")" "^uid=1000\(app\) gid=1000\(app\) .*rc=0$" \
                "gosu drop-in: linked as gosu, it reads no policy and runs the command as the user given"
        [ ! -e "$policy" ] || [ "$(cat "$policy")" != "user nosuchuser" ]
        is "$?" "0" "gosu drop-in: the policy written in the container is not on the host"
else
        ok "gosu drop-in # SKIP the default policy's directory ($policy) has no existing parent"
fi

done_testing
