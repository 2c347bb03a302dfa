# tests/integration/lib.sh: what the mount tests share (sourced, not run).
#
#   make_register [SIZE]     a fresh register of SIZE (2000) applicants in $DB: scripts/gen-register,
#                            regfs init, import of the watch list and the applicants, vet all
#   mount_register [ARGS]    regfs mount $DB $MNT -f ARGS in the background; returns once mounted
#   unmount_register         fusermount3 -u $MNT; the daemon must exit 0 and the mount be gone
#   fail MESSAGE             ends the test with "FAIL: MESSAGE"
#
# Every test runs in its own folder ($T, removed at exit with whatever is still mounted there).
# $T is world-searchable (0755) so that a test run as `nobody` is refused by the mount itself and not
# by the folder around it.  $REGFS is the binary under test (tests/run sets it to the sanitizer build).
# REGFS_SLOW (1) stretches every wait here by that factor (tests/run --valgrind sets it).
set -euo pipefail

TOP=${REGFS_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
REGFS=${REGFS:-$TOP/regfs}
SLOW=${REGFS_SLOW:-1}
[ -x "$REGFS" ] || { echo "FAIL: no regfs binary at $REGFS (make first)" >&2; exit 1; }
command -v fusermount3 >/dev/null || { echo "FAIL: fusermount3 is missing" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/regfs-test.XXXXXX")
chmod 755 "$T"
DB=$T/register.db
MNT=$T/mnt
DAEMON_PID=
mkdir -p "$MNT"

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

note() { echo "-- $*"; }

cleanup() {
    local rc=$?
    cd /
    if [ $rc -ne 0 ] && [ -s "$T/daemon.log" ]; then
        echo "---- the daemon's log" >&2
        tail -n 80 "$T/daemon.log" >&2
    fi
    # Also when the daemon is gone and the mount point says "not connected".
    fusermount3 -u -z "$MNT" 2>/dev/null || true
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    rm -rf "$T"
    exit $rc
}
trap cleanup EXIT

make_register() {
    local size=${1:-2000}
    python3 "$TOP/scripts/gen-register" --size "$size" --out "$T/gen" >/dev/null 2>&1 ||
        fail "scripts/gen-register --size $size failed"
    "$REGFS" init "$DB" >/dev/null || fail "regfs init failed"
    "$REGFS" import --quiet "$DB" watchlist "$T/gen/watchlist.csv" >/dev/null 2>&1 ||
        fail "importing the watch list failed"
    local rc=0
    "$REGFS" import --quiet "$DB" applicants "$T/gen/applicants.csv" >/dev/null 2>&1 || rc=$?
    [ $rc -eq 0 ] || [ $rc -eq 3 ] || fail "importing the applicants failed ($rc)"
    "$REGFS" vet --quiet "$DB" all >/dev/null 2>&1 || fail "regfs vet failed"
}

# Mounts in the foreground, in the background of this shell; MOUNT_MS is how long it took.
mount_register() {
    local start=$(date +%s%N) i
    "$REGFS" mount "$DB" "$MNT" -f "$@" >"$T/daemon.log" 2>&1 &
    DAEMON_PID=$!
    for i in $(seq $((200 * SLOW))); do
        if mountpoint -q "$MNT"; then
            MOUNT_MS=$(( ($(date +%s%N) - start) / 1000000 ))
            return 0
        fi
        kill -0 "$DAEMON_PID" 2>/dev/null || { DAEMON_PID=; fail "the daemon died while mounting"; }
        sleep 0.05
    done
    fail "not mounted after $((10 * SLOW)) s"
}

unmount_register() {
    local rc=0
    cd /
    fusermount3 -u "$MNT" || fail "fusermount3 -u failed"
    wait "$DAEMON_PID" || rc=$?
    DAEMON_PID=
    [ $rc -eq 0 ] || fail "the daemon exited with status $rc after fusermount3 -u"
    ! mountpoint -q "$MNT" || fail "still mounted after the daemon exited"
}

# The audit log's newest sequence number, as the mount shows it.
audit_head() { cut -d' ' -f1 "$MNT/audit/head"; }

# Waits up to $2 seconds (5) for the command $1 to succeed.
wait_for() {
    local i
    for i in $(seq $(( ${2:-5} * 10 * SLOW ))); do
        eval "$1" && return 0
        sleep 0.1
    done
    return 1
}

assert_eq() {   # EXPECTED ACTUAL WHAT
    [ "$1" = "$2" ] || fail "$3: expected '$1', got '$2'"
}
