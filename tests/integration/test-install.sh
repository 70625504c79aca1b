#!/bin/bash
# `meson install` into a DESTDIR puts every piece where Debian expects it:
# binaries, libstepdown with its header and pkg-config file, the man pages,
# the systemd units (pointing at the installed stepdownd and policy), the
# example policy (valid as shipped) and, with -Dgosu_symlink=true, gosu.
# Nothing lands outside the prefix, and an install without DESTDIR into a
# confined filesystem (only the prefix writable) succeeds.
. "$(dirname "$0")/lib.sh"
: "${BUILD_ROOT:?}" "${PREFIX:?}" "${BINDIR:?}" "${SBINDIR:?}" "${LIBDIR:?}" "${INCLUDEDIR:?}"
: "${MANDIR:?}" "${DATADIR:?}" "${SYSCONFDIR:?}" "${GOSU_SYMLINK:?}" "${STATIC:?}"

D=$T/root
out=$(meson install -C "$BUILD_ROOT" --no-rebuild --quiet --destdir "$D" 2>&1)
is "rc=$? $out" "rc=0" "meson install --destdir succeeds"

isfile() { # MODE PATH DESCRIPTION
        local got
        got=$(stat -c '%F %a' "$D$2" 2>&1)
        is "$got" "regular file $1" "$3 ($2)"
}
isfile 755 "$PREFIX/$SBINDIR/stepdownd" "stepdownd in sbin"
isfile 755 "$PREFIX/$BINDIR/stepdown" "stepdown in bin"
isfile 644 "$PREFIX/$INCLUDEDIR/stepdown/stepdown.h" "the public header"
isfile 644 "$PREFIX/$LIBDIR/libstepdown.a" "the static library"
isfile 644 "$PREFIX/$LIBDIR/pkgconfig/stepdown.pc" "the pkg-config file"
is "$(readlink "$D$PREFIX/$LIBDIR/libstepdown.so") $(readlink "$D$PREFIX/$LIBDIR/libstepdown.so.0")" \
        "libstepdown.so.0 libstepdown.so.0.1.0" "the shared library with its soname links"
isfile 644 "$PREFIX/$MANDIR/man8/stepdownd.8" "stepdownd(8)"
isfile 644 "$PREFIX/$MANDIR/man1/stepdown.1" "stepdown(1)"
isfile 644 "$PREFIX/$MANDIR/man5/stepdown.conf.5" "stepdown.conf(5)"
isfile 644 "$PREFIX/$DATADIR/doc/stepdown/stepdown.conf.example" "the example policy"
units=$PREFIX/lib/systemd/system
isfile 644 "$units/stepdownd.service" "the service unit"
isfile 644 "$units/stepdownd.socket" "the socket unit"

# The unit starts the installed binary with the installed policy path.
read -r -a cmd <<<"$(sed -n 's/^ExecStart=//p' "$D$units/stepdownd.service")"
is "${cmd[*]}" "$PREFIX/$SBINDIR/stepdownd --serve --config $SYSCONFDIR/stepdown/stepdown.conf" \
        "the service's ExecStart names the installed stepdownd and policy"
like "$("$D${cmd[0]}" --version 2>&1)" "^stepdownd" "the installed stepdownd runs"

if [ "$STATIC" = true ]; then
        for b in "$PREFIX/$SBINDIR/stepdownd" "$PREFIX/$BINDIR/stepdown"; do
                like "$(readelf -l "$D$b" | grep -c 'program interpreter')" "^0$" \
                        "$(basename "$b") is fully static (no ELF interpreter)"
        done
        # The examples COPY the build tree's binaries: with -Dstrip=true
        # they are stripped as linked, the size that ships.
        if [ "${STRIP:-false}" = true ]; then
                for b in daemon/stepdownd client/stepdown; do
                        is "$(readelf -S "$BUILD_ROOT/$b" | grep -cE '\.(symtab|debug_info)')" "0" \
                                "-Dstrip=true: $b in the build tree is stripped (no symbol table)"
                done
        fi
fi

# The example policy loads as shipped (its user "app" exists in the
# test's private /etc/passwd).
cp "$D$PREFIX/$DATADIR/doc/stepdown/stepdown.conf.example" "$T/example.conf"
# --check also looks for the audit log's directory: the image makes it
# (here a private /var/log).
out=$(in_container /bin/bash -c 'mount -t tmpfs logs /var/log && mkdir /var/log/stepdown &&
        exec "$@"' _ "$STEPDOWND" --check -c "$T/example.conf" 2>&1)
like "rc=$? $(tail -1 <<<"$out")" "^rc=0 .*setup steps?, .*allow rules?" \
        "stepdownd --check accepts the installed example policy"

# A client program builds against the installed header, library and
# pkg-config file alone.
if command -v pkg-config >/dev/null && command -v cc >/dev/null; then
        cat >"$T/client.c" <<'C'
#include <stdio.h>
#include <stepdown/stepdown.h>
int main(void)
{
        struct stepdown *sd = NULL;
        int r = stepdown_connect_to("/nonexistent/stepdown.sock", NULL, &sd);
        printf("connect=%d\n", r < 0);
        return 0;
}
C
        flags=$(PKG_CONFIG_PATH="$D$PREFIX/$LIBDIR/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$D" \
                pkg-config --cflags --libs stepdown)
        # A sanitizer build installs an instrumented library: link the same
        # runtime (the linker's notes about libasan go to a file).
        case "${SANITIZE:-none}" in none | "") ;; *) flags="$flags -fsanitize=$SANITIZE" ;; esac
        # shellcheck disable=SC2086
        out=$(cc -o "$T/client" "$T/client.c" $flags 2>"$T/cc.err" &&
                LD_LIBRARY_PATH="$D$PREFIX/$LIBDIR" "$T/client" 2>&1 || cat "$T/cc.err")
        is "$out" "connect=1" "a program builds with pkg-config stepdown and links libstepdown"
fi

# --- an install stays inside its prefix -------------------------------------
# Everything the DESTDIR install wrote is beneath DESTDIR/PREFIX: no
# /etc, no /var (the example policy once went to /etc/stepdown whatever
# the prefix).
files() { (cd "$1" && find . -mindepth 1 \( -type f -o -type l \) | sort); }
outside=$(cd "$D" && find . -mindepth 1 \( -type f -o -type l \) | grep -v "^\.$PREFIX/" || true)
is "$outside" "" "the DESTDIR install writes nothing outside DESTDIR$PREFIX"

# The same install without DESTDIR, as `meson install` into a private
# prefix runs: in a private mount namespace where every mount is
# read-only but the build tree (meson's install log) and the prefix (an
# overlay over the host's: its upper layer collects what is written, the
# host's stays untouched).  A write anywhere else fails with EROFS, which
# fails the install.
if [ "$PREFIX" = / ]; then
        ok "# SKIP the confined install: the prefix is /"
else
        mkdir -p "$T/ovl/upper" "$T/ovl/work"
        # shellcheck disable=SC2016
        out=$(unshare --mount --propagation private bash -c '
        prefix=$1 build=$2 upper=$3 work=$4
        mount -t overlay overlay -o "lowerdir=$prefix,upperdir=$upper,workdir=$work" "$prefix" || exit 90
        mount --bind "$build" "$build" || exit 91
        while read -r _ _ _ _ mp _; do
                mp=$(printf "%b" "$mp")         # mountinfo escapes spaces as \040
                case $mp in "$prefix" | "$build" | /proc | /proc/* | /sys | /sys/* | /dev | /dev/*) continue ;; esac
                mount -o remount,bind,ro "$mp" 2>/dev/null
        done </proc/self/mountinfo
        # The confinement holds: outside the prefix and the build tree, nothing
        # can be written (this is what makes the install below a test).
        for probe in /etc /var /tmp "$(dirname "$prefix")"; do
                touch "$probe/.stepdown-install-probe" 2>/dev/null && { echo "wrote $probe"; rm -f "$probe/.stepdown-install-probe"; }
        done
        echo confined
        meson install -C "$build" --no-rebuild --quiet 2>&1
        echo "rc=$?"
        ' _ "$PREFIX" "$BUILD_ROOT" "$T/ovl/upper" "$T/ovl/work" 2>&1)
        like "$(head -1 <<<"$out")" "^confined$" "the confinement holds: /etc, /var, /tmp and the prefix's parent are read-only"
        is "$(tail -1 <<<"$out")" "rc=0" "meson install without DESTDIR succeeds with only its prefix writable"
        [ "$(tail -1 <<<"$out")" = rc=0 ] || sed 's/^/#   /' <<<"$out"
        is "$(files "$T/ovl/upper")" "$(files "$D$PREFIX")" \
                "...and writes the same files into the prefix as the DESTDIR install"
fi

# --- the README's build lines -------------------------------------------------
# With only `scripts/deps build` (cmocka hidden: its pkg-config file and
# CMake package covered in a private mount namespace), `meson setup`
# succeeds, says the unit tests are left out, and keeps the other suites.
: "${SRCDIR:?}"
pcdir=$(pkg-config --variable=pcfiledir cmocka 2>/dev/null)
cmakedir=$(dpkg -L libcmocka-dev 2>/dev/null | grep '/cmake/cmocka$' || true)
# shellcheck disable=SC2016
out=$(unshare --mount --propagation private bash -c '
pcdir=$1 cmakedir=$2 tmp=$3 src=$4
if [ -n "$pcdir" ]; then
        cp -a "$pcdir" "$tmp/pc" && rm "$tmp/pc/cmocka.pc" && mount --bind "$tmp/pc" "$pcdir" || exit 90
fi
if [ -n "$cmakedir" ]; then mount -t tmpfs none "$cmakedir" || exit 91; fi
pkg-config --exists cmocka && echo "cmocka still visible"
meson setup "$tmp/nocmocka" "$src" 2>&1; echo "rc=$?"' _ "$pcdir" "$cmakedir" "$T" "$SRCDIR" 2>&1)
like "$(tail -1 <<<"$out")" "^rc=0$" "meson setup succeeds without cmocka"
[ "$(tail -1 <<<"$out")" = rc=0 ] || tail -20 <<<"$out" | sed 's/^/#   /'
like "$out" "Run-time dependency cmocka found: NO" "...which it looked for and did not find"
like "$out" "WARNING: cmocka not found: the unit tests are not built \(libcmocka-dev" \
        "...and says the unit tests are left out, naming the package"
suites=$(meson introspect --tests "$T/nocmocka" 2>/dev/null |
        python3 -c 'import json, sys; print(" ".join(sorted({t["name"].split(".")[0] for t in json.load(sys.stdin)})))')
is "$suites" "fuzz integration lint" "...and keeps every other suite (no unit.*)"

# The README's line for images (docs/examples/README.md has it on one
# line; README.md says the same) builds the two binaries and libstepdown,
# no test program.
line=$(sed -n 's/^ *meson setup build-static //p' "$SRCDIR/docs/examples/README.md")
like "$line" "-Dstatic=true .*-Dtests=false" "docs/examples/README.md's static line sets -Dtests=false"
like "$(tr '\n' ' ' <"$SRCDIR/README.md" | tr -s ' ')" "meson setup build-static $line &&" \
        "README.md gives the same static line"
# shellcheck disable=SC2086
out=$(cd "$SRCDIR" && meson setup "$T/static" $line 2>&1)
is "rc=$?" "rc=0" "the static line sets up"
programs=$(meson introspect --targets "$T/static" 2>/dev/null |
        python3 -c 'import json, sys; print(" ".join(sorted(t["name"] for t in json.load(sys.stdin) if t["type"] == "executable")))')
is "$programs" "stepdown stepdownd" "...and builds no program but stepdownd and stepdown (no test program)"
is "$(meson introspect --tests "$T/static" 2>/dev/null)" "[]" "...and defines no test"

if [ "$GOSU_SYMLINK" = true ]; then
        is "$(readlink "$D$PREFIX/$BINDIR/gosu")" "$PREFIX/$SBINDIR/stepdownd" \
                "-Dgosu_symlink=true installs gosu -> stepdownd"
        # The link's target is in the tree and acts as gosu under that name.
        target=$D$(readlink "$D$PREFIX/$BINDIR/gosu")
        out=$(in_container bash -c 'exec -a gosu "$1" app id' _ "$target" 2>&1)
        like "$out" "^uid=1000\(app\) gid=1000\(app\)" "invoked as gosu, the installed stepdownd is gosu"
else
        is "$(ls "$D$PREFIX/$BINDIR")" "stepdown" "no gosu link without -Dgosu_symlink"
fi
done_testing
