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
like "$out" "app: /data is app:app 755, app.log is app" \
        "dockerfile: the setup steps made the fresh /data volume the app's"
is "$(grep -c 'could read the secret directly' <<<"$out")" "0" \
        "dockerfile: the app cannot open the root-only secret itself"
like "$out" "app: secret via broker: 6 bytes" "dockerfile: the broker passes the secret's fd"
like "$out" "app: /etc/shadow refused with status 4" "dockerfile: what the policy does not list is refused"
like "$out" '"decision":"deny"' "dockerfile: the refusal is audited on stderr (docker logs)"
[ "$T_FAILED" -eq 0 ] || sed 's/^/# /' <<<"$out"
done_testing
