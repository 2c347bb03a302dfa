#!/usr/bin/env bash
# A full disk (a size-limited tmpfs holding the register) during an import, a re-vet through the
# mount's ctl and `regfs vet`: each fails with an error that says the disk is full,
# writes nothing (the register exports the same, integrity_check and regfs verify pass), the
# daemon goes on serving reads, and once there is room again everything works.
source "$(dirname "$0")/lib.sh" || exit 1   # without it $T and $MNT are empty: never run on

SIZE=3000
python3 "$TOP/scripts/gen-register" --size $SIZE --out "$T/gen" >/dev/null 2>&1 || fail "gen-register failed"
python3 "$TOP/scripts/gen-register" --size $SIZE --seed 2 --out "$T/gen2" >/dev/null 2>&1 || fail "gen-register failed"
mkdir "$T/small"
mount -t tmpfs -o size=24m,mode=0700 regfs-test-full "$T/small" || fail "cannot mount a tmpfs"
# The daemon's mount first, then the tmpfs under it, then lib.sh's cleanup with the test's status.
full_disk_cleanup() {
    local st=$?
    set +e
    fusermount3 -u -z "$MNT" 2>/dev/null
    umount -l "$T/small" 2>/dev/null
    (exit $st)
    cleanup
}
trap full_disk_cleanup EXIT
DB=$T/small/register.db
"$REGFS" init "$DB" >/dev/null || fail "regfs init failed"
"$REGFS" import --quiet "$DB" watchlist "$T/gen/watchlist.csv" >/dev/null 2>&1 || fail "watch list import failed"
rc=0; "$REGFS" import --quiet "$DB" applicants "$T/gen/applicants.csv" >/dev/null 2>&1 || rc=$?
[ $rc -eq 0 ] || [ $rc -eq 3 ] || fail "the applicants' import failed ($rc)"

sql() { python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print("\n".join("|".join(map(str,r)) for r in c.execute(sys.argv[2])))' "$DB" "$1"; }
check_sound() {   # WHEN
    assert_eq ok "$(sql 'PRAGMA integrity_check')" "integrity_check $1"
    "$REGFS" verify "$DB" >"$T/verify" 2>&1 || fail "regfs verify $1: $(cat "$T/verify")"
}
# Fills the tmpfs, then frees $1 KiB of it.
fill_disk() {
    rm -f "$T/small/filler"
    dd if=/dev/zero of="$T/small/filler" bs=64k >/dev/null 2>&1 || true
    truncate -s "-${1}K" "$T/small/filler"
    note "disk full but for $(df -k --output=avail "$T/small" | tail -n 1 | tr -d ' ') KiB"
}
expect_full() {   # WHAT FILE-WITH-THE-ERROR
    grep -q 'disk holding the register is full' "$2" || fail "$1 on a full disk said: $(cat "$2")"
}
applicants=$(sql 'SELECT count(*) FROM applicant')
events=$(sql 'SELECT count(*) FROM audit')
"$REGFS" export "$DB" >"$T/before.tsv" || fail "export failed"

note "an import that runs out of room: a clear error, nothing imported"
fill_disk 256
rc=0; "$REGFS" import --quiet "$DB" applicants "$T/gen2/applicants.csv" >"$T/out" 2>&1 || rc=$?
assert_eq 1 "$rc" "the import's exit status on a full disk"
expect_full "the import" "$T/out"
assert_eq "$applicants" "$(sql 'SELECT count(*) FROM applicant')" "applicants after the failed import"
assert_eq "$events" "$(sql 'SELECT count(*) FROM audit')" "audit events after the failed import"
rm -f "$T/small/filler"
"$REGFS" export "$DB" >"$T/after.tsv" || fail "export failed"
cmp -s "$T/before.tsv" "$T/after.tsv" || fail "the failed import changed the register"
check_sound "after the failed import"

note "a re-vet through the mount that runs out of room: the job fails saying so, reads go on"
mount_register
some=$(sed -n 2p "$T/after.tsv" | cut -f1)
cat "$MNT/applicants/$some/summary" >"$T/summary" || fail "cannot read before the disk is full"
fill_disk 64
echo "revet all" >"$MNT/ctl" || fail "revet all was refused"
job=$(ls "$MNT/jobs" | sort -n | tail -n 1)
wait_for "grep -q '^state: failed' '$MNT/jobs/$job'" 60 || fail "the job on a full disk: $(cat "$MNT/jobs/$job")"
grep -q '^error: .*disk holding the register is full' "$MNT/jobs/$job" || fail "jobs/$job: $(cat "$MNT/jobs/$job")"
cmp -s "$T/summary" "$MNT/applicants/$some/summary" || fail "reading after the failed job"
assert_eq "$applicants" "$(ls "$MNT/verdicts/pending" | wc -l)" "verdicts/pending after the failed job"
grep -q "^applicants: $applicants\$" "$MNT/stats" || fail "stats after the failed job: $(cat "$MNT/stats")"
assert_eq 0 "$(sql "SELECT count(*) FROM audit WHERE action = 'verdict.auto'")" "verdict events after the failed job"

note "regfs vet on a full disk: a clear error"
fill_disk 0
rc=0; "$REGFS" vet --quiet "$DB" all >"$T/out" 2>&1 || rc=$?
assert_eq 1 "$rc" "regfs vet's exit status on a full disk"
expect_full "regfs vet" "$T/out"
assert_eq "$applicants" "$(ls "$MNT/verdicts/pending" | wc -l)" "verdicts/pending after the failed vet (the disk still full)"
cmp -s "$T/summary" "$MNT/applicants/$some/summary" || fail "reading after the failed vet"

note "room again: nothing was written, and everything works"
rm -f "$T/small/filler"
assert_eq 0 "$(sql "SELECT count(*) FROM audit WHERE action = 'verdict.auto'")" "verdict events after the failed job and vet"
check_sound "after the full disk"
echo "revet all" >"$MNT/ctl" || fail "revet all was refused"
job=$(ls "$MNT/jobs" | sort -n | tail -n 1)
wait_for "grep -q '^state: done' '$MNT/jobs/$job'" 60 || fail "the job after the disk was freed: $(cat "$MNT/jobs/$job" "$T/daemon.log")"
assert_eq 0 "$(ls "$MNT/verdicts/pending" | wc -l)" "verdicts/pending after the re-vet"
unmount_register
check_sound "at the end"
echo PASS
