#!/bin/bash
# The real-engine stage: stepdown under Docker, Compose and Podman as users
# run it.  Emits TAP (one line per check) on stdout; `scripts/test-engines`
# runs it and turns the TAP into a meson-style testlog.json.
#
#   tests/engines/run.sh BUILD-STATIC-DIR ENGINE-DIR
#
# BUILD-STATIC-DIR holds the static build under test (daemon/stepdownd,
# client/stepdown); ENGINE-DIR (created) holds everything this run makes:
# the private containerd and dockerd, their state and sockets, podman's
# storage, logs, and the cached Debian rootfs.  Needs root.
#
# Checks that depend on a fix not merged yet print "# SKIP" with the
# reason when, and only when, the failure is the known one; any other
# failure is "not ok".
set -uo pipefail
cd "$(dirname "$0")/../.."
SRC=$PWD
STATIC=$(cd "$1" && pwd)
mkdir -p "$2"
E=$(cd "$2" && pwd)
STEPDOWND=$STATIC/daemon/stepdownd
STEPDOWN=$STATIC/client/stepdown

. tests/engines/lib.sh
. tests/engines/images.sh

mkdir -p "$E/logs" "$E/ctx"
rm -f "$E"/logs/check-*.log
W=$(mktemp -d "$E/work.XXXXXX")
chmod 755 "$W"

cleanup() {
        set +e
        # Podman first (its containers are not dockerd's), then the engine.
        podman_cleanup
        if [ -n "${DOCKERD_PID:-}" ]; then
                "$DOCKER" ps -aq | xargs -r "$DOCKER" rm -f >/dev/null 2>&1
                "$DOCKER" volume prune -f >/dev/null 2>&1
        fi
        stop_engine
        rm -rf "$W" ${CLEAN_DIRS:-}
}
trap cleanup EXIT
trap 'exit 130' INT TERM

T0=$SECONDS
echo "TAP version 13"

# --- the engine -------------------------------------------------------------
engine_paths
SD=
for d in overlay2 vfs; do
        if start_engine "$d"; then
                SD=$d
                break
        fi
done
if [ -z "$SD" ]; then
        not_ok "a private dockerd starts (overlay2 or vfs)" "$E/logs/dockerd-vfs.log"
        echo "1..$TAP_N"
        exit 1
fi
ok "a private dockerd starts: storage $SD, data under $E/docker, socket $DOCKER_HOST"
# Containers and volumes an interrupted run left in the data root.
"$DOCKER" ps -aq | xargs -r "$DOCKER" rm -f >/dev/null 2>&1
"$DOCKER" volume prune -f >/dev/null 2>&1
diag "dockerd pid $DOCKERD_PID, containerd pid $CONTAINERD_PID ($(dockerd --version))"

t=$SECONDS
if import_images "$STEPDOWND" "$STEPDOWN" >"$E/logs/images.log" 2>&1; then
        ok "base images imported without a registry (busybox-static + static build; debootstrap bookworm)"
else
        not_ok "base images imported without a registry" "$E/logs/images.log"
        echo "1..$TAP_N"
        exit 1
fi
grep '^# ' "$E/logs/images.log" # the debootstrap's time, on a first run
diag "images: $((SECONDS - t)) s"

RUN=("$DOCKER" run --network none)
# build TAG CONTEXT [ARGS...]: BuildKit (COPY --chmod needs it on 20.10);
# CONTEXT - reads a tar stream, as the examples' READMEs build.
build() {
        local tag=$1 dir=$2
        shift 2
        DOCKER_BUILDKIT=1 "$DOCKER" build --network none -q -t "$tag" "$@" "$dir"
}
# A build context directory: an example plus the static binaries, as the
# compose README says to copy them.
context() { # EXAMPLE
        local c=$E/ctx/$1
        rm -rf "$c"
        cp -r "docs/examples/$1" "$c"
        cp "$STEPDOWND" "$STEPDOWN" "$c/"
        echo "$c"
}
# Each container's logs, kept for the failure reports.
logs() { "$DOCKER" logs "$1" >"$E/logs/$1.out" 2>"$E/logs/$1.err"; }

# The app's lines, the warnings, and the audit records of a stderr stream.
text_only() { grep -v '^{' "$@" || true; }

. tests/engines/examples.sh
. tests/engines/nginx.sh
. tests/engines/matrix.sh
. tests/engines/podman.sh

examples_checks
matrix_checks
podman_checks

echo "1..$TAP_N"
diag "engine stage: $TAP_N checks, $TAP_FAIL failed, $TAP_SKIP skipped, $((SECONDS - T0)) s"
[ "$TAP_FAIL" = 0 ]
