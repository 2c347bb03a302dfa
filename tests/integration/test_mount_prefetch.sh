#!/usr/bin/env bash
# The mount reads the register into the kernel's page cache, so that the first listings after a
# mount do not wait on scattered disk reads (fs/prefetch.c); -o noprefetch leaves it to be read
# as it is used.  Residency is what fincore(1) reports for the register file, after its pages were
# dropped with `dd iflag=nocache` (for this file only: no drop of the whole machine's caches).
# The watcher's first pass over the audit log at mount reads most of a small register anyway, so
# the daemon's log tells the two cases apart; that the prefetch is worth having is measured by
# scripts/bench (cold ls -l), not here.
source "$(dirname "$0")/lib.sh" || exit 1   # without it $T and $MNT are empty: never run on
command -v fincore >/dev/null || fail "fincore (util-linux) is missing"

# The register must be on a filesystem with a page cache to drop: when $T is a tmpfs (a /tmp in
# memory), on a folder of /var/tmp instead.
if [ "$(stat -f -c %T "$T")" = tmpfs ]; then
    disk=$(mktemp -d /var/tmp/regfs-prefetch.XXXXXX)
    trap 'rc=$?; rm -rf "$disk"; (exit $rc); cleanup' EXIT
    DB=$disk/register.db
fi
make_register 3000
size=$(stat -c %s "$DB")

resident() { fincore --bytes --noheadings --output RES "$DB" | tr -d ' '; }

# Drops the register's pages (they must be clean first: the vet just wrote it).
evict() {
    sync "$DB"
    dd if="$DB" iflag=nocache count=0 status=none
    [ "$(resident)" -lt "$size" ] ||
        fail "the register's pages could not be dropped ($(stat -f -c %T "$DB") at $(dirname "$DB"))"
}

note "default: the whole register is read in at mount"
evict
before=$(resident)
mount_register
wait_for '[ "$(resident)" -ge "$size" ]' 5 ||
    fail "$(resident) of $size bytes of the register in the page cache 5 s after mounting (before: $before)"
mib=$(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1048576 }')
wait_for "grep -q 'prefetch: the register ($mib MiB) is in the page cache' '$T/daemon.log'" 5 ||
    fail "the daemon did not say it read the whole register ($mib MiB): $(grep prefetch "$T/daemon.log")"
[ "$(ls "$MNT/applicants" | wc -l)" -eq 3000 ] || fail "applicants/ does not list 3000 applicants"
unmount_register

note "a remount finds the register in the page cache and reads nothing again"
mount_register
wait_for "grep -q 'prefetch: the register ($mib MiB) is in the page cache (0.0 MiB read' '$T/daemon.log'" 5 ||
    fail "the remount's prefetch did not find the register cached: $(grep prefetch "$T/daemon.log")"
unmount_register

note "-o noprefetch: the register is not read in at mount"
evict
mount_register -o noprefetch
[ "$(ls "$MNT/applicants" | wc -l)" -eq 3000 ] || fail "-o noprefetch: applicants/ does not list 3000 applicants"
! grep -q 'prefetch' "$T/daemon.log" || fail "-o noprefetch: the daemon still read the register: $(cat "$T/daemon.log")"
unmount_register

note "an unknown option is still refused, -o noprefetch did not open the door to them"
rc=0
timeout $((10 * SLOW)) "$REGFS" mount "$DB" "$MNT" -f -o noprefetch,noprefetchx >"$T/bad.log" 2>&1 || rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "-o noprefetchx was accepted (status $rc)"
grep -q 'noprefetchx' "$T/bad.log" || fail "the error does not name -o noprefetchx: $(cat "$T/bad.log")"
echo "PASS"
