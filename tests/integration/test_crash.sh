#!/usr/bin/env bash
# kill -9 in the middle of things: of `regfs import`, of the daemon during a re-vet and during a
# burst of ctl writes, and of `regfs vet`.  After each: PRAGMA integrity_check is ok, regfs verify
# passes (the chain, and every verdict agreeing with its last audit event), an import is all or
# nothing, an interrupted job resumes from where it stopped and vets nobody twice, a job another live
# process holds is left to it (and taken over by a mounted daemon once that process dies), and the
# dead daemon's mountpoint is named stale with the command that clears it.
source "$(dirname "$0")/lib.sh" || exit 1   # without it $T and $MNT are empty: never run on

SIZE=20000
# Every job here (in the daemon and in regfs vet) waits 20 ms after each batch it commits, so that
# hold.py can take the write lock between two batches and a kill lands mid-job.
export REGFS_JOB_PAUSE_MS=20
python3 "$TOP/scripts/gen-register" --size $SIZE --out "$T/gen" >/dev/null 2>&1 || fail "gen-register failed"
"$REGFS" init "$DB" >/dev/null || fail "regfs init failed"
"$REGFS" import --quiet "$DB" watchlist "$T/gen/watchlist.csv" >/dev/null 2>&1 || fail "watch list import failed"

sql() { python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print("\n".join("|".join(map(str,r)) for r in c.execute(sys.argv[2])))' "$DB" "$1"; }

# Everything that must hold after a crash.
check_sound() {   # WHEN
    assert_eq ok "$(sql 'PRAGMA integrity_check')" "integrity_check $1"
    "$REGFS" verify "$DB" >"$T/verify" 2>&1 || fail "regfs verify $1: $(cat "$T/verify")"
    [ "$(stat -c %a "$DB")" = 600 ] || fail "the database's mode $1: $(stat -c %a "$DB")"
}

# Holds the write lock once job $1 has committed some batches but not all, so that the job is
# stopped mid-way, waiting for the lock; touches $2 then (with "done total" in it) and holds on.
cat >"$T/hold.py" <<'PY'
import os, sqlite3, sys, time
db, job, ready = sys.argv[1], sys.argv[2], sys.argv[3]
# JOB is a job's id (held once some batches are done), or pid:PID for the job that process PID
# holds (held as soon as it has one, done or not; gives up when the process has ended)
pid = int(job[4:]) if job.startswith("pid:") else 0
if pid:
    sql, arg = "SELECT done, total, state, id FROM job WHERE owner LIKE ?", "% " + str(pid) + " %"
else:
    sql, arg = "SELECT done, total, state, id FROM job WHERE id = ?", int(job)
c = sqlite3.connect(db, timeout=0, isolation_level=None)
while True:
    if pid:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            sys.exit("process %d ended before it could be caught" % pid)
    try:
        c.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        time.sleep(0.001)
        continue
    row = c.execute(sql, (arg,)).fetchone()
    if row and (0 < row[0] < row[1] and row[2] == "running" or pid and row[2] in ("queued", "running")):
        open(ready + ".tmp", "w").write("%d %d %d %s\n" % (row[0], row[1], row[3], row[2]))
        os.rename(ready + ".tmp", ready)
        time.sleep(600)
    c.execute("ROLLBACK")
    if row and row[2] != "running" and row[2] != "queued":
        sys.exit("job %s ended (%s) before it could be caught mid-way" % (job, row[2]))
    time.sleep(0.001)
PY
hold_midway() {   # JOB|pid:PID: returns once the job is stopped mid-way; HOLDER is the holder's pid
    try_hold "$1" || fail "could not catch job $1 mid-way"
}
try_hold() {     # the same, but returns 1 if the job ended first
    rm -f "$T/held"
    python3 "$T/hold.py" "$DB" "$1" "$T/held" &
    HOLDER=$!
    wait_for "[ -e '$T/held' ] || ! kill -0 $HOLDER 2>/dev/null" 120 ||
        fail "job $1 never showed progress: $(sql 'SELECT * FROM job')"
    [ -e "$T/held" ] || return 1
    read HELD_DONE HELD_TOTAL HELD_JOB HELD_STATE <"$T/held"
}
release() { kill "$HOLDER" 2>/dev/null || true; wait "$HOLDER" 2>/dev/null || true; }

note "kill -9 of regfs import midway: nothing imported, and the import runs again"
# The CSV comes through a pipe that this shell holds open after half of it: the import has read
# and written half the rows in its transaction, and cannot finish, when it is killed.
mkfifo "$T/feed"
"$REGFS" import --quiet "$DB" applicants - <"$T/feed" >"$T/import.out" 2>&1 &
imp=$!
exec 3>"$T/feed"
half=$(( $(wc -l <"$T/gen/applicants.csv") / 2 ))
head -n "$half" "$T/gen/applicants.csv" >"$T/half.csv"
cat "$T/half.csv" >&3
half_bytes=$(stat -c %s "$T/half.csv")
cat >"$T/locked.py" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
try:
    c.execute("BEGIN IMMEDIATE")
except sqlite3.OperationalError:
    sys.exit(0)          # someone holds the write lock
sys.exit(1)
PY
wait_for "python3 '$T/locked.py' '$DB' && [ \$(awk '/^rchar/ {print \$2}' /proc/$imp/io) -ge $half_bytes ]" 120 ||
    fail "the import never took the write lock or read its input: $(cat "$T/import.out")"
kill -9 $imp
rc=0; wait $imp || rc=$?
exec 3>&-
assert_eq 137 "$rc" "the import's exit status (killed)"
check_sound "after the import was killed"
assert_eq 0 "$(sql 'SELECT count(*) FROM applicant')" "applicants after a killed import (all or nothing)"
assert_eq 0 "$(sql "SELECT count(*) FROM audit WHERE action = 'applicant.import'")" "import events after a killed import"
rc=0; "$REGFS" import --quiet "$DB" applicants "$T/gen/applicants.csv" >/dev/null 2>&1 || rc=$?
[ $rc -eq 0 ] || [ $rc -eq 3 ] || fail "the import after the crash failed ($rc)"
n=$(sql 'SELECT count(*) FROM applicant')
[ "$n" -gt $((SIZE * 9 / 10)) ] || fail "only $n applicants after the second import"
assert_eq "$n" "$(sql "SELECT count(*) FROM audit WHERE action = 'applicant.import'")" "import events"
check_sound "after the second import"

note "kill -9 of the daemon during a re-vet: the job resumes at the next mount"
mount_register
echo "revet all" >"$MNT/ctl" || fail "revet all was refused"
job=$(ls "$MNT/jobs" | sort -n | tail -n 1)
hold_midway "$job"
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null || true; DAEMON_PID=
release
note "caught job $job at $HELD_DONE of $HELD_TOTAL"
check_sound "after the daemon was killed mid-job"
assert_eq "running|$HELD_DONE" "$(sql "SELECT state, done FROM job WHERE id = $job")" "the killed job's row"
assert_eq "$HELD_DONE" "$(sql "SELECT count(*) FROM audit WHERE action = 'verdict.auto'")" "verdicts written before the kill"

note "the stale mountpoint is named, with the way to clear it"
rc=0; "$REGFS" mount "$DB" "$MNT" 2>"$T/err" || rc=$?
assert_eq 1 "$rc" "regfs mount on a stale mountpoint"
grep -q "a stale mount" "$T/err" && grep -qF "fusermount3 -u $MNT" "$T/err" ||
    fail "regfs mount on a stale mountpoint said: $(cat "$T/err")"
fusermount3 -u "$MNT" || fail "fusermount3 -u did not clear the stale mount"

mount_register
wait_for "grep -q '^state: done' '$MNT/jobs/$job'" 120 || fail "job $job did not finish after the remount: $(cat "$MNT/jobs/$job")"
grep -q "resuming job $job" "$T/daemon.log" || fail "the daemon did not say it resumed job $job"
assert_eq "$n" "$(sed -n 's/^done: //p' "$MNT/jobs/$job")" "applicants the resumed job vetted"
assert_eq "$n" "$(sql "SELECT count(*) FROM audit WHERE action = 'verdict.auto'")" "verdict events (each applicant once)"
assert_eq 0 "$(sql "SELECT count(*) FROM applicant WHERE verdict = 'pending'")" "pending applicants after the job"
unmount_register
check_sound "after the resumed job"

note "kill -9 of the daemon during a burst of ctl writes: every write that returned is recorded"
mount_register
: >"$T/written"
ls "$MNT/applicants" >"$T/all-ids"
head -n 400 "$T/all-ids" >"$T/ids"
(
    while read -r id; do
        echo "exclude crash test for $id" >"$MNT/applicants/$id/ctl" 2>/dev/null || exit 0
        echo "$id" >>"$T/written"
    done <"$T/ids"
) &
writer=$!
wait_for "[ \$(wc -l <'$T/written') -ge 30 ]" 120 || fail "the ctl writes did not start"
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null || true; DAEMON_PID=
wait $writer || true
written=$(wc -l <"$T/written")
[ "$written" -lt 400 ] || fail "every ctl write finished before the kill"
events=$(sql "SELECT count(*) FROM audit WHERE action = 'verdict.manual'")
note "$written writes returned, $events recorded"
[ "$events" -eq "$written" ] || [ "$events" -eq $((written + 1)) ] ||
    fail "$written ctl writes returned but $events verdict.manual events were recorded"
while read -r id; do
    assert_eq "excluded|1" "$(sql "SELECT verdict, manual FROM applicant WHERE id = $id")" "applicant $id after its exclude returned"
done <"$T/written"
check_sound "after the daemon was killed during ctl writes"
fusermount3 -u "$MNT" || fail "could not clear the stale mount"
mount_register
[ -s "$MNT/applicants/$(head -n 1 "$T/written")/verdict" ] || fail "cannot read after the remount"
unmount_register

note "a job held by a live regfs vet is left to it; once that process is killed, the next vet resumes it"
# `regfs vet` is caught once it has its job (and before it has finished, if it is not too quick
# for that: then it is tried again)
start_held_vet() {
    local attempt
    for attempt in 1 2 3 4 5 6 7 8; do
        "$REGFS" vet --quiet "$DB" all >"$T/vet-out" 2>&1 &
        VET=$!
        try_hold "pid:$VET" && return 0
        wait $VET || fail "regfs vet failed: $(cat "$T/vet-out")"
    done
    fail "regfs vet always finished before it could be caught"
}
start_held_vet
vet1=$VET job=$HELD_JOB
kill -STOP $vet1
release
"$REGFS" vet --quiet "$DB" pending >"$T/vet2" 2>&1 || fail "a second regfs vet failed: $(cat "$T/vet2")"
grep -q "^job $job (all, requested by .*) is being run by process $vet1: left to it" "$T/vet2" ||
    fail "the second vet said: $(cat "$T/vet2")"
! grep -q "resuming job $job" "$T/vet2" || fail "the second vet said it resumed a job it left alone: $(cat "$T/vet2")"
assert_eq "$HELD_STATE|$HELD_DONE" "$(sql "SELECT state, done FROM job WHERE id = $job")" "the held job after a second vet"
kill -9 $vet1; kill -CONT $vet1 2>/dev/null || true; wait $vet1 2>/dev/null || true
check_sound "after regfs vet was killed"
"$REGFS" vet --quiet "$DB" pending >"$T/vet3" 2>&1 || fail "the third regfs vet failed: $(cat "$T/vet3")"
grep -q "^resuming job $job " "$T/vet3" || fail "the third vet did not resume job $job: $(cat "$T/vet3")"
assert_eq "done|$n|" "$(sql "SELECT state, done, owner FROM job WHERE id = $job")" "the resumed job"
check_sound "after the third vet"

note "a regfs vet killed while the register is mounted: the daemon takes its job over"
mount_register
start_held_vet
vet4=$VET job=$HELD_JOB
kill -9 $vet4; wait $vet4 2>/dev/null || true
release
wait_for "grep -q '^state: done' '$MNT/jobs/$job'" 120 || fail "the daemon did not take job $job over: $(cat "$MNT/jobs/$job")"
grep -q "resuming job $job: the process that ran it is gone" "$T/daemon.log" || fail "the daemon's log: $(cat "$T/daemon.log")"
assert_eq "$n" "$(sed -n 's/^done: //p' "$MNT/jobs/$job")" "applicants the taken-over job vetted"
unmount_register
check_sound "at the end"
echo PASS
