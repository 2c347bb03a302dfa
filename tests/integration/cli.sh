# tests/integration/cli.sh: what the command-line tests share (sourced, not run).  They need no
# mount, count their failures and go on, and end with `exit $((failures > 0))` or the like.
#
#   $work                    a fresh folder named after the test, removed at exit; the current one
#   fail MESSAGE             prints "FAIL: MESSAGE" and counts it in $failures
#   run WANT_STATUS CMD...   runs CMD with stdout in ./out and stderr in ./err; checks its status
#   expect_in FILE TEXT      FILE contains TEXT (a fixed string)
#
# $REGFS is the binary under test (tests/run sets it; by default the sanitizer build).
set -u

REGFS_TOP=${REGFS_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
REGFS=${REGFS:-$REGFS_TOP/build/san/regfs}
[ -x "$REGFS" ] || { echo "FAIL: no regfs binary at $REGFS (make first)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/regfs-test-$(basename "$0" .sh).XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

run() {
    local want=$1; shift
    "$@" >out 2>err
    local got=$?
    if [ "$got" -ne "$want" ]; then
        fail "$* exited $got, want $want"
        sed 's/^/    stdout: /' out | head -5 >&2
        sed 's/^/    stderr: /' err | head -5 >&2
        return 1
    fi
    return 0
}

expect_in() {
    grep -qF -- "$2" "$1" || { fail "$1 does not say '$2':"; sed 's/^/    /' "$1" | head -8 >&2; }
}
