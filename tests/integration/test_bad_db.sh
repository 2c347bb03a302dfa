#!/usr/bin/env bash
# A bad database at start: missing, not SQLite, SQLite but not a register, empty, a newer schema,
# locked by another process, read-only, open to other users.  Every command that opens a register
# says what is wrong in one line and exits 1; nothing crashes, nothing hangs, nothing is mounted,
# and the file is left as it was.
source "$(dirname "$0")/lib.sh" || exit 1   # without it $T and $MNT are empty: never run on

make_register 300
good_count=$("$REGFS" stats "$DB" | sed -n 's/^applicants: //p')
[ "$good_count" -gt 0 ] || fail "the test register has no applicants"

# expect_refused WHAT PATTERN COMMAND...: exit 1, one line on stderr matching PATTERN, not mounted.
expect_refused() {
    local what=$1 pattern=$2 rc=0
    shift 2
    timeout 60 "$@" >"$T/out" 2>"$T/err" </dev/null || rc=$?
    [ $rc -eq 1 ] || fail "$what: $* exited $rc, not 1 ($(head -c 300 "$T/err"))"
    [ "$(wc -l <"$T/err")" -eq 1 ] || fail "$what: $* said more than one line: $(cat "$T/err")"
    grep -Eq "$pattern" "$T/err" || fail "$what: $* said '$(cat "$T/err")', not /$pattern/"
    ! grep -qi 'sanitizer\|runtime error' "$T/err" || fail "$what: $* crashed"
    ! mountpoint -q "$MNT" || fail "$what: $* mounted something"
}

# Every command that opens a register, on the file $1.
all_commands() {   # FILE WHAT PATTERN
    local f=$1 what=$2 pattern=$3
    expect_refused "$what" "$pattern" "$REGFS" stats "$f"
    expect_refused "$what" "$pattern" "$REGFS" verify "$f"
    expect_refused "$what" "$pattern" "$REGFS" vet --quiet "$f" all
    expect_refused "$what" "$pattern" "$REGFS" import --quiet "$f" applicants "$T/gen/applicants.csv"
    expect_refused "$what" "$pattern" "$REGFS" export "$f"
    expect_refused "$what" "$pattern" "$REGFS" log "$f"
    expect_refused "$what" "$pattern" "$REGFS" mount "$f" "$MNT"
    expect_refused "$what" "$pattern" "$REGFS" mount "$f" "$MNT" -o ro
}

note "a missing file"
all_commands "$T/missing.db" "missing" 'missing\.db: No such file or directory'
[ ! -e "$T/missing.db" ] || fail "a command created the missing database"

note "a file that is not SQLite"
printf 'applicant,verdict\n1,approved\n' >"$T/text.db"; chmod 600 "$T/text.db"
sum=$(md5sum <"$T/text.db")
all_commands "$T/text.db" "not SQLite" 'text\.db: not a regfs database'
assert_eq "$sum" "$(md5sum <"$T/text.db")" "the text file after every command"

note "an SQLite database that is not a register"
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("create table t(x)"); c.commit()' "$T/other.db"
chmod 600 "$T/other.db"
all_commands "$T/other.db" "someone else's SQLite" 'other\.db: not a regfs database'
assert_eq "t" "$(python3 -c 'import sqlite3,sys; print(",".join(r[0] for r in sqlite3.connect(sys.argv[1]).execute("select name from sqlite_schema")))' "$T/other.db")" "the other database's tables"

note "an empty file (only regfs init makes a register of it)"
: >"$T/empty.db"; chmod 600 "$T/empty.db"
all_commands "$T/empty.db" "empty" 'empty\.db: not a regfs database \(an empty file'
[ ! -s "$T/empty.db" ] || fail "a command wrote into the empty file"

note "a register from a newer regfs"
cp "$DB" "$T/newer.db"
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("pragma user_version = 999"); c.commit()' "$T/newer.db"
all_commands "$T/newer.db" "newer schema" 'newer\.db: schema version 999 is newer than this regfs'

note "open to other users: refused, for the database and for its -wal and -shm"
cp "$DB" "$T/open.db"; chmod 644 "$T/open.db"
all_commands "$T/open.db" "world-readable" 'open\.db: other users may read it \(mode 0644\).*chmod'
chmod 604 "$T/open.db"
expect_refused "world-readable" 'mode 0604' "$REGFS" mount "$T/open.db" "$MNT"
chmod 600 "$T/open.db"
"$REGFS" stats "$T/open.db" >/dev/null || fail "stats refused open.db once it was 0600"
# A -shm a careless copy left readable to others (SQLite gives it the database's mode otherwise)
python3 - "$T/open.db" <<'PY' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1]); c.execute("select count(*) from applicant").fetchall()
time.sleep(30)
PY
holder=$!
wait_for "[ -e '$T/open.db-shm' ]" 10 || fail "no -shm file appeared"
assert_eq 600 "$(stat -c %a "$T/open.db-shm")" "the mode SQLite gave the -shm file"
chmod 644 "$T/open.db-shm"
expect_refused "world-readable -shm" 'open\.db-shm: other users may read it' "$REGFS" mount "$T/open.db" "$MNT"
kill $holder; wait $holder 2>/dev/null || true
note "group access is the owner's decision, and allowed"
cp "$DB" "$T/group.db"; chmod 640 "$T/group.db"
"$REGFS" stats "$T/group.db" >/dev/null || fail "stats refused a 0640 register"

note "locked by another process: a clear error after the busy timeout, never a hang"
export REGFS_BUSY_TIMEOUT=2
cp "$DB" "$T/locked.db"
python3 - "$T/locked.db" "$T/locked.ready" <<'PY' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("pragma locking_mode = exclusive"); c.execute("begin exclusive")
c.execute("insert into setting(key, value) values ('lock-test', 'x')")
open(sys.argv[2], "w").close()
time.sleep(60)
PY
holder=$!
wait_for "[ -e '$T/locked.ready' ]" 10 || fail "the lock holder did not start"
start=$SECONDS
all_commands "$T/locked.db" "locked" 'locked by another process'
[ $((SECONDS - start)) -lt 50 ] || fail "the locked commands took $((SECONDS - start)) s"
kill $holder; wait $holder 2>/dev/null || true
note "a write lock only: readers and the mount go on, writers give up clearly"
rm -f "$T/locked.ready"
python3 - "$T/locked.db" "$T/locked.ready" <<'PY' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("begin immediate"); c.execute("insert into setting(key, value) values ('lock-test', 'x')")
open(sys.argv[2], "w").close()
time.sleep(60)
PY
holder=$!
wait_for "[ -e '$T/locked.ready' ]" 10 || fail "the lock holder did not start"
assert_eq "$good_count" "$("$REGFS" stats "$T/locked.db" | sed -n 's/^applicants: //p')" "stats under a write lock"
expect_refused "write-locked" 'locked by another process' "$REGFS" vet --quiet "$T/locked.db" all
kill $holder; wait $holder 2>/dev/null || true
unset REGFS_BUSY_TIMEOUT
"$REGFS" vet --quiet "$T/locked.db" all >/dev/null || fail "vet failed once the lock was gone"

note "a read-only filesystem: writers refused, readers and mount -o ro served"
mkdir "$T/ro"
mount -t tmpfs -o size=16m,mode=0700 regfs-test-ro "$T/ro" || fail "cannot mount a tmpfs"
cp "$DB" "$T/ro/register.db"
mount -o remount,ro "$T/ro" || fail "cannot remount the tmpfs read-only"
RO=$T/ro/register.db
expect_refused "read-only fs" 'register\.db: the register is on a read-only filesystem' "$REGFS" vet --quiet "$RO" all
expect_refused "read-only fs" 'read-only filesystem' "$REGFS" import --quiet "$RO" applicants "$T/gen/applicants.csv"
expect_refused "read-only fs" 'read-only filesystem; mount it with -o ro' "$REGFS" mount "$RO" "$MNT"
assert_eq "$good_count" "$("$REGFS" stats "$RO" | sed -n 's/^applicants: //p')" "stats on a read-only filesystem"
"$REGFS" verify "$RO" | grep -q '^ok: ' || fail "verify on a read-only filesystem"
DB=$RO mount_register -o ro
assert_eq "$good_count" "$(ls "$MNT/applicants" | wc -l)" "applicants/ mounted -o ro from a read-only filesystem"
unmount_register
umount "$T/ro"

note "a read-only file, for a user who may not write it"
nobody_uid=$(id -u nobody)
mkdir "$T/mine"; cp "$DB" "$T/mine/register.db"
chown -R nobody "$T/mine"; chmod 400 "$T/mine/register.db"
as_nobody() { setpriv --reuid="$nobody_uid" --regid="$(id -g nobody)" --clear-groups "$@"; }
rc=0; as_nobody "$REGFS" vet --quiet "$T/mine/register.db" all 2>"$T/err" || rc=$?
[ $rc -eq 1 ] && grep -q 'register\.db: the register is read-only here (Permission denied)' "$T/err" ||
    fail "vet on a file its user may not write: $rc $(cat "$T/err")"
assert_eq "$good_count" "$(as_nobody "$REGFS" stats "$T/mine/register.db" | sed -n 's/^applicants: //p')" "stats on a read-only file"
echo PASS
