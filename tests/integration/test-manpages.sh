#!/bin/bash
# The man pages cannot drift from the programs: every option that
# `stepdownd --help`, `stepdown --help` and each `stepdown COMMAND --help`
# print appears in stepdownd(8) and stepdown(1), and every page renders
# without a groff warning and passes the man-page lint.
set -u
: "${STEPDOWND:?}" "${STEPDOWN_CLI:?}" "${SRCDIR:?}"
T_NUM=0
T_FAILED=0
ok() { T_NUM=$((T_NUM + 1)); echo "ok $T_NUM - $*"; }
not_ok() { T_NUM=$((T_NUM + 1)); T_FAILED=$((T_FAILED + 1)); echo "not ok $T_NUM - $*"; }

if ! command -v man >/dev/null; then
        echo "1..0 # SKIP man (man-db) is not installed"
        exit 0
fi

lint_dir=$(mktemp -d)
trap 'rm -rf "$lint_dir"' EXIT

# Rendered as plain ASCII, so "\-\-serve" in the source reads "--serve".
render() { MANWIDTH=80 LC_ALL=C man -l "$1" 2>/dev/null | col -b; }

# The options a --help text mentions: "-c", "--config", "--key-fd" ...
# wherever they stand (option lists, usage lines, prose).
options() {
        grep -oE '(^|[][ ,(|/])--?[A-Za-z][A-Za-z0-9-]*' | sed 's/^[][ ,(|/]//' | sort -u
}

check_page() { # PROGRAM PAGE [HELP-TEXT NAME] (default: PROGRAM --help)
        local help page opt missing=""
        help=${3-$("$1" --help 2>&1)}
        page=$(render "$2")
        [ -n "$help" ] && [ -n "$page" ] || { not_ok "$(basename "$2"): --help and the page both have text"; return; }
        for opt in $(options <<<"$help"); do
                # The option as a word of its own: "-c" must not match "-check".
                grep -qE -- "(^|[^A-Za-z0-9-])$opt([^A-Za-z0-9-]|$)" <<<"$page" || missing="$missing $opt"
        done
        if [ -z "$missing" ]; then
                ok "$(basename "$2") names every option of ${4:-$(basename "$1")} --help ($(options <<<"$help" | wc -l) options)"
        else
                not_ok "$(basename "$2") misses options from ${4:-$(basename "$1")} --help:$missing"
        fi
}

check_page "$STEPDOWND" "$SRCDIR/docs/stepdownd.8"
check_page "$STEPDOWN_CLI" "$SRCDIR/docs/stepdown.1"

# Every command `stepdown --help` lists takes -h and --help: its usage on
# stdout, exit 0, nothing on stderr; its options are in stepdown(1).  A
# bad option is named with the command ("stepdown mkdir: invalid option")
# and points at that help, exit 2.  (The audit subcommands' own options
# are cmd-audit.c's; `stepdown audit --help` is checked here.)
commands=$("$STEPDOWN_CLI" --help | sed -n 's/^  stepdown \([a-z]*\) .*/\1/p; s/^  stepdown \([a-z]*\)$/\1/p' | sort -u)
if [ "$(echo $commands)" = "allowed audit bind chmod chown mkdir open ping" ]; then
        ok "stepdown --help lists its eight commands"
else
        not_ok "stepdown --help lists its eight commands"
        echo "#   got: $(echo $commands)"
fi
for c in $commands; do
        for h in -h --help; do
                out=$("$STEPDOWN_CLI" "$c" "$h" 2>"$lint_dir/err")
                rc=$?
                if [ $rc -eq 0 ] && [ ! -s "$lint_dir/err" ] && grep -q "^Usage: stepdown $c\b" <<<"$out"; then
                        ok "stepdown $c $h prints its usage and exits 0"
                else
                        not_ok "stepdown $c $h prints its usage and exits 0"
                        { echo "rc=$rc"; head -3 <<<"$out"; cat "$lint_dir/err"; } | sed 's/^/#   /'
                fi
        done
        # The command's options appear in stepdown(1).
        check_page "$STEPDOWN_CLI" "$SRCDIR/docs/stepdown.1" "$("$STEPDOWN_CLI" "$c" --help 2>&1)" "stepdown $c"
        [ "$c" = audit ] && continue
        out=$("$STEPDOWN_CLI" "$c" -Z 2>&1)
        rc=$?
        expected="stepdown $c: invalid option -- 'Z'
Try 'stepdown $c --help'."
        if [ $rc -eq 2 ] && [ "$out" = "$expected" ]; then
                ok "stepdown $c -Z: the error names the command and its --help (exit 2)"
        else
                not_ok "stepdown $c -Z: the error names the command and its --help (exit 2)"
                { echo "rc=$rc"; echo "$out"; } | sed 's/^/#   /'
        fi
done

# After "--" a -h belongs to COMMAND: open and bind go on to ask the
# broker (none here: exit 3) instead of printing their help.
for c in "open -r /nonexistent/f" "bind tcp:127.0.0.1:1"; do
        # shellcheck disable=SC2086
        out=$(STEPDOWN_SOCKET=/nonexistent/stepdown.sock "$STEPDOWN_CLI" $c -- true -h 2>&1)
        rc=$?
        if [ $rc -eq 3 ] && ! grep -q '^Usage' <<<"$out"; then
                ok "stepdown ${c%% *} ... -- COMMAND -h: the -h is COMMAND's"
        else
                not_ok "stepdown ${c%% *} ... -- COMMAND -h: the -h is COMMAND's"
                { echo "rc=$rc"; echo "$out"; } | sed 's/^/#   /'
        fi
done

for page in "$SRCDIR"/docs/*.[1-8]; do
        warnings=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
        if [ -z "$warnings" ] && [ -n "$(render "$page")" ]; then
                ok "$(basename "$page") renders without warnings"
        else
                not_ok "$(basename "$page") renders without warnings"
                sed 's/^/#   /' <<<"$warnings"
        fi
done
# A man-page lint: groff's warnings (-ww), mandoc's (-T lint, warnings and
# worse; its STYLE notes are not faults) and the slip neither sees, an
# alternating-font macro (.BR, .IR, ...) given prose: it joins its
# arguments without spaces, so ".BR X .)  The original" renders
# "X.)Theoriginal".  Each check first proves it catches a known-bad page.
runtogether() { # PAGE...: "FILE:LINE: ..." for each macro that joins two words
        awk '/^\.(BR|RB|BI|IB|IR|RI)[ \t]/ {
                rest = substr($0, 5); n = 0
                while (match(rest, /^[ \t]*("([^"]|"")*"|[^ \t]+)/)) {
                        t = substr(rest, RSTART, RLENGTH); sub(/^[ \t]+/, "", t)
                        tok[++n] = t; rest = substr(rest, RSTART + RLENGTH)
                }
                for (i = 1; i < n; i++)
                        if (tok[i] ~ /[A-Za-z]$/ && tok[i + 1] ~ /^[a-z][a-z]/) {
                                printf "%s:%d: %s joins \"%s\" and \"%s\" without a space\n",
                                        FILENAME, FNR, substr($0, 1, 3), tok[i], tok[i + 1]
                                break
                        }
        }' "$@"
}
groff_lint() { groff -man -ww -z "$1" 2>&1; }
mandoc_lint() { mandoc -T lint -W warning "$1" 2>&1; }
bad=$lint_dir/bad.8
printf '%s\n' '.TH BAD 8' '.SH NAME' 'bad \- a page with faults' '.SH DESCRIPTION' \
        'before 5.3, fall back to' '.BR PR_SET_PDEATHSIG .)  The original process drops' \
        '.BR' '.in +2n' '\f(XX unknown font' >"$bad"
linters="runtogether groff_lint"
if command -v mandoc >/dev/null; then
        linters="$linters mandoc_lint"
else
        ok "# SKIP mandoc -T lint: mandoc is not installed (scripts/deps test installs it)"
fi
for lint in $linters; do
        if [ -n "$($lint "$bad")" ]; then
                ok "$lint finds the faults of a known-bad page"
        else
                not_ok "$lint finds the faults of a known-bad page"
        fi
        for page in "$SRCDIR"/docs/*.[1-8]; do
                out=$($lint "$page")
                if [ -z "$out" ]; then
                        ok "$(basename "$page"): $lint finds nothing"
                else
                        not_ok "$(basename "$page"): $lint finds nothing"
                        sed 's/^/#   /' <<<"$out"
                fi
        done
done

# The three pages DESIGN.md promises are all there.
for page in stepdownd.8 stepdown.1 stepdown.conf.5; do
        if [ -f "$SRCDIR/docs/$page" ]; then ok "docs/$page exists"; else not_ok "docs/$page exists"; fi
done

echo "1..$T_NUM"
[ "$T_FAILED" -eq 0 ]
