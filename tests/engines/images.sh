# Base images without a registry (sourced by tests/engines/run.sh after
# lib.sh).  Rootfs tarballs are cached under $E/cache, so only the first
# run pays for debootstrap; `docker import` makes images of them.
#
#   stepdown-test/busybox   busybox-static's applets, the static stepdownd
#                           and stepdown (gosu symlink too), a passwd with
#                           root, app (1000) and nobody.  No libc at all.
#   stepdown-test/debian    Debian bookworm (debootstrap --variant=minbase)
#                           plus Debian's redis-server, nginx and curl:
#                           stands in for debian:bookworm-slim,
#                           redis:7-bookworm and an nginx image.

DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# The packages added to minbase; the tarball's name (and the image's label)
# carries them, so a change makes a new one.
DEBIAN_INCLUDE=redis-server,nginx,curl
DEBIAN_TAR=$E/cache/debian-bookworm-${DEBIAN_INCLUDE//,/-}.tar

# The Debian rootfs tarball, made once (about 90 s) and cached.
debian_tar() {
        local tar=$DEBIAN_TAR root=$E/cache/debroot.tmp
        [ -s "$tar" ] && return 0
        mkdir -p "$E/cache"
        if grep -q " $root" /proc/mounts; then
                echo "images.sh: $root has mounts left from an interrupted debootstrap; unmount them" >&2
                return 1
        fi
        rm -rf "$root"
        local t0=$SECONDS
        debootstrap --variant=minbase --include="$DEBIAN_INCLUDE" bookworm "$root" "$DEBIAN_MIRROR" \
                >"$E/logs/debootstrap.log" 2>&1 || {
                echo "images.sh: debootstrap failed; see $E/logs/debootstrap.log" >&2
                tail -5 "$E/logs/debootstrap.log" >&2
                return 1
        }
        rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/*
        tar -C "$root" --numeric-owner -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
        rm -rf "$root"
        diag "debootstrap of bookworm minbase + $DEBIAN_INCLUDE: $((SECONDS - t0)) s (cached in $tar)"
}

# The busybox rootfs: rebuilt every run (it holds the binaries under test).
busybox_tar() { # STEPDOWND STEPDOWN
        local root=$E/busybox-root
        rm -rf "$root"
        mkdir -p "$root"/bin "$root"/etc "$root"/usr/local/sbin "$root"/usr/local/bin \
                "$root"/tmp "$root"/run "$root"/data "$root"/proc "$root"/sys "$root"/dev
        chmod 1777 "$root/tmp"
        cp /bin/busybox "$root/bin/busybox"
        local a
        for a in $(/bin/busybox --list); do
                [ "$a" = busybox ] || ln -s busybox "$root/bin/$a"
        done
        install -m 0755 "$1" "$root/usr/local/sbin/stepdownd"
        install -m 0755 "$2" "$root/usr/local/bin/stepdown"
        ln -s ../sbin/stepdownd "$root/usr/local/bin/gosu"
        cat >"$root/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/data:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PW
        cat >"$root/etc/group" <<'GR'
root:x:0:
app:x:1000:
nogroup:x:65534:
GR
        tar -C "$root" --numeric-owner --owner=0 --group=0 -cf "$E/busybox.tar" .
        rm -rf "$root"
}

import_images() { # STEPDOWND STEPDOWN
        debian_tar || return 1
        busybox_tar "$1" "$2" || return 1
        local env='--change=ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
        "$DOCKER" import "$env" --change='CMD ["/bin/sh"]' "$E/busybox.tar" stepdown-test/busybox >/dev/null &&
                if [ "$("$DOCKER" image inspect -f '{{index .Config.Labels "stepdown-test.rootfs"}}' \
                        stepdown-test/debian 2>/dev/null)" != "${DEBIAN_TAR##*/}" ]; then
                        "$DOCKER" import "$env" --change='CMD ["/bin/bash"]' \
                                --change="LABEL stepdown-test.rootfs=${DEBIAN_TAR##*/}" \
                                "$DEBIAN_TAR" stepdown-test/debian >/dev/null
                fi
}
