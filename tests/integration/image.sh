# Runs an example's Dockerfile without a container engine (sourced by
# test-examples.sh after lib.sh).  The "image" is a copy-on-write view of
# this host's root (overlayfs, upper layer on a tmpfs): FROM is the host's
# Debian, RUN lines run in it with chroot, COPY puts files in it (the
# static binaries come from the build under test), VOLUME gets a fresh
# tmpfs, WORKDIR/ENV/ENTRYPOINT/CMD are honoured.  The container is a new
# pid, mount and network namespace; ENTRYPOINT+CMD is exec'd as its PID 1
# with Docker's default environment.  Nothing leaves the namespace.
#
# image_run DIR [HOOK]: runs DIR/Dockerfile's image; HOOK (a shell
# snippet) runs as root in the namespace, with $R the image root, just
# before the entrypoint (the orchestrator's part: mounting a secret,
# seeding a volume).  With IMAGE_BG=1 it runs in the background and sets
# IMAGE_PID (the unshare process) instead of waiting.

# The Dockerfile as a shell script for the namespace, on stdout.
image_script() { # DIR
        python3 - "$1" "$STEPDOWND" "$STEPDOWN_CLI" <<'PY'
import json, os, shlex, sys
d, stepdownd, stepdown = sys.argv[1:]
binaries = {"stepdownd": stepdownd, "stepdown": stepdown}
text = open(os.path.join(d, "Dockerfile")).read().replace("\\\n", " ")
q = shlex.quote
out, workdir, env, entry, cmd = [], "/", [], [], []
def words(rest):
    return json.loads(rest) if rest.startswith("[") else rest.split()
for line in text.splitlines():
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    op, _, rest = line.partition(" ")
    op, rest = op.upper(), rest.strip()
    if op == "FROM":
        pass  # the host's root plays the base image
    elif op == "RUN":
        out.append("chroot \"$R\" /bin/sh -c %s >&2" % q(rest))
    elif op == "COPY":
        w = rest.split()
        mode = None
        while w[0].startswith("--"):
            if w[0].startswith("--chmod="):
                mode = w[0].split("=", 1)[1]
            else:
                sys.exit("image.sh: unsupported COPY flag " + w[0])
            w = w[1:]
        *srcs, dest = w
        for s in srcs:
            src = binaries.get(s, os.path.join(d, s))
            target = dest + os.path.basename(s) if dest.endswith("/") else dest
            out.append("mkdir -p \"$R\"%s" % q(os.path.dirname(target)))
            out.append("cp %s \"$R\"%s" % (q(src), q(target)))
            if mode:
                out.append("chmod %s \"$R\"%s" % (mode, q(target)))
    elif op == "VOLUME":
        for v in words(rest):
            out.append("mkdir -p \"$R\"%s && mount -t tmpfs -o mode=0755 tmpfs \"$R\"%s" % (q(v), q(v)))
    elif op == "WORKDIR":
        workdir = rest
        out.append("mkdir -p \"$R\"%s" % q(rest))
    elif op == "ENV":
        for kv in shlex.split(rest):
            if "=" not in kv:
                sys.exit("image.sh: ENV needs KEY=VALUE")
            env.append(kv)
    elif op == "ENTRYPOINT":
        entry, cmd = words(rest), []
    elif op == "CMD":
        cmd = words(rest)
    elif op in ("LABEL", "EXPOSE", "STOPSIGNAL", "ARG"):
        pass
    else:
        sys.exit("image.sh: unsupported instruction " + op)
out.append("IMAGE_WORKDIR=%s" % q(workdir))
out.append("IMAGE_ENV=(%s)" % " ".join(q(e) for e in env))
out.append("IMAGE_CMD=(%s)" % " ".join(q(a) for a in entry + cmd))
print("\n".join(out))
PY
}

image_run() { # DIR [HOOK]
        local script
        script=$(image_script "$1") || return 1
        cat >"$T/image-boot.sh" <<BOOT
set -eu
R=$T/image/root
mount -t tmpfs tmpfs "$T/image"
mkdir "\$R" "$T/image/upper" "$T/image/work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$T/image/upper,workdir=$T/image/work" "\$R"
mount -t proc proc "\$R/proc"
mount --rbind /dev "\$R/dev"
mount -t tmpfs tmpfs "\$R/run"
mount -t tmpfs tmpfs "\$R/tmp"
ip link set lo up
$script
${2:-}
exec chroot "\$R" /usr/bin/env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root HOSTNAME=example "\${IMAGE_ENV[@]}" \
        /bin/sh -c 'cd "\$0" && exec "\$@"' "\$IMAGE_WORKDIR" "\${IMAGE_CMD[@]}"
BOOT
        mkdir -p "$T/image"
        if [ "${IMAGE_BG:-0}" = 1 ]; then
                unshare --pid --fork --mount --net --propagation private --kill-child \
                        bash "$T/image-boot.sh" &
                IMAGE_PID=$!
        else
                unshare --pid --fork --mount --net --propagation private --kill-child \
                        bash "$T/image-boot.sh"
        fi
}

# The host pid of the container's PID 1 (a child of the unshare process).
image_pid1() {
        local c
        for _ in $(seq 100); do
                c=$(pgrep -P "$IMAGE_PID" | head -1)
                [ -n "$c" ] && { echo "$c"; return 0; }
                sleep 0.05
        done
        return 1
}
