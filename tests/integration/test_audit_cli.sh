#!/usr/bin/env bash
# test_audit_cli.sh: the audit chain as an auditor meets it: `regfs verify` on the database,
# `regfs log` as text, and scripts/verify-audit re-checking that text with standard tools only.
# Tampering with the database (through the sqlite3 shell) or with the text copy must be found and
# the first bad event named, by both checkers.
source "$(dirname "$0")/cli.sh" || exit 1
VA=$REGFS_TOP/scripts/verify-audit

[ -x "$VA" ] || { echo "FAIL: $VA missing or not executable" >&2; exit 1; }
command -v sqlite3 >/dev/null ||
    { echo "FAIL: the sqlite3 shell is needed (scripts/install-deps)" >&2; exit 1; }

# ---- a register with a history ----
run 0 "$REGFS" init db || exit 1
for v in off on off on off on; do
    run 0 "$REGFS" config db auto_exclude "$v" || exit 1
done
run 0 "$REGFS" verify db || exit 1
n_before=$(sed -n 's/^ok: \([0-9]*\) events.*/\1/p' out)
run 0 "$REGFS" config db auto_exclude on       # unchanged: no event
expect_in out "(unchanged)"
run 0 "$REGFS" verify db
grep -qE '^ok: [0-9]+ events, head [0-9]+ [0-9a-f]{64}$' out || fail "regfs verify printed: $(cat out)"
ok_line=$(cat out)
n=$(sed -n 's/^ok: \([0-9]*\) events.*/\1/p' out)
[ "$n" = "$n_before" ] || fail "setting the same value wrote an event ($n_before -> $n)"
[ "$n" -ge 7 ] || fail "expected at least 7 events, verify says $n"
head_hash=$(awk '{print $NF}' out)

# ---- the text copy re-checks with standard tools, to the same head ----
run 0 "$REGFS" log db || exit 1
mv out log
[ "$(wc -l < log)" -eq "$n" ] || fail "regfs log printed $(wc -l < log) lines for $n events"
awk -F'\t' 'NF != 7 { bad = 1 } END { exit bad }' log ||
    fail "regfs log lines are not 7 tab-separated fields"
run 0 "$VA" log
[ "$(cat out)" = "$ok_line" ] || fail "verify-audit says '$(cat out)', regfs verify says '$ok_line'"
run 0 "$VA" - < log
[ "$(cat out)" = "$ok_line" ] || fail "verify-audit from stdin says '$(cat out)'"
run 0 "$VA" < log
run 0 "$VA" --expect "$n:$head_hash" log

# The six-line loop the manual gives auditors, run as printed, agrees too.
"$VA" --help | sed -n '/^    By hand/,/^SEE ALSO/p' | sed '1,2d;$d' | sed '/^$/d; s/^        //' \
    > by-hand.sh
[ "$(wc -l < by-hand.sh)" -eq 6 ] || fail "the manual's by-hand loop is not 6 lines: $(cat by-hand.sh)"
cp log audit.log
[ "$(sh by-hand.sh)" = "$ok_line" ] || fail "the by-hand loop says '$(sh by-hand.sh)'"

# ---- a tail of the log, as audit/<day> files are, checked from the hash before it ----
k=3
head -n "$k" log > part1
tail -n +"$((k + 1))" log > part2
run 0 "$VA" --from-hash "$(tail -n 1 part1 | cut -f 7)" part2
[ "$(cat out)" = "ok: $((n - k)) events, head $n $head_hash" ] || fail "tail check printed '$(cat out)'"
run 1 "$VA" part2
expect_in err "line 1: seq gap: expected 1, found $((k + 1))"
run 1 "$VA" --from-hash "$(head -n 1 part1 | cut -f 7)" part2
expect_in err "line 1 (seq $((k + 1))): hash mismatch"

# ---- usage ----
run 0 "$VA" --help
expect_in out "EXIT STATUS"
expect_in out "--from-hash"
run 2 "$VA" --bogus log
run 2 "$VA" --from-hash 1234 log
run 2 "$VA" --expect 5 log
run 2 "$VA" log log
run 2 "$VA" no-such-file
expect_in err "no-such-file"

# ---- tampering with the text copy ----
# The event to attack: the third auto_exclude change, in the middle of the log.
t=$(awk -F'\t' '$4 == "setting.set" { if (++c == 3) { print $1; exit } }' log)
if [ -z "$t" ] || [ "$t" -ge "$n" ]; then
    fail "no setting.set event to tamper with"; t=2
fi

sed "${t}s/\"new\":\"off\"/\"new\":\"on\"/" log > edited
cmp -s log edited && fail "the edit changed nothing"
run 1 "$VA" edited
expect_in err "line $t (seq $t): hash mismatch"

# The attacker recomputes the edited line's own hash: the next line no longer chains.
awk -F'\t' -v t="$t" 'NR == t - 1 { print $7 }' log > prevhash
body=$(sed -n "${t}p" edited | cut -f 1-6)
newhash=$(printf '%s\t%s' "$(cat prevhash)" "$body" | sha256sum | cut -c 1-64)
awk -F'\t' -v OFS='\t' -v t="$t" -v h="$newhash" 'NR == t { $7 = h } { print }' edited > rehashed
run 1 "$VA" rehashed
expect_in err "line $((t + 1)) (seq $((t + 1))): hash mismatch"
# ... unless every later hash is recomputed too: then only a recorded head can tell.
run 1 "$VA" --expect "$n:$head_hash" rehashed

# Only the HASH field changed.
awk -F'\t' -v OFS='\t' -v t="$t" 'NR == t { $7 = substr($7, 2) "0" } { print }' log > badhash
run 1 "$VA" badhash
expect_in err "line $t (seq $t): hash mismatch"

# Lines removed from the middle, lines swapped, a field lost, DOS line endings.
sed "${t},$((t + 1))d" log > cut-middle
run 1 "$VA" cut-middle
expect_in err "line $t: seq gap: expected $t, found $((t + 2))"
awk -v t="$t" 'NR == t { held = $0; next } { print } NR == t + 1 { print held }' log > swapped
run 1 "$VA" swapped
expect_in err "line $t: seq gap: expected $t, found $((t + 1))"
sed "${t}s/\t[0-9a-f]*\$//" log > short
run 1 "$VA" short
expect_in err "line $t: malformed line: 6 fields, expected 7"
sed 's/$/\r/' log > dos
run 1 "$VA" dos
expect_in err "line 1: malformed line"
printf '\n' | cat log - > blank
run 1 "$VA" blank
expect_in err "line $((n + 1)): malformed line: empty"

# ---- tampering with the database ----
# With the triggers in place, SQLite itself refuses.
if sqlite3 db "UPDATE audit SET detail = '{}' WHERE seq = $t" 2>sqlerr; then
    fail "the audit table took an UPDATE"
fi
expect_in sqlerr "append-only"
if sqlite3 db "DELETE FROM audit WHERE seq = $t" 2>sqlerr; then
    fail "the audit table took a DELETE"
fi
run 0 "$REGFS" verify db

# Someone with the file drops them first.
sqlite3 db "DROP TRIGGER audit_no_update;
            UPDATE audit SET detail = '{\"key\":\"auto_exclude\",\"new\":\"on\",\"old\":\"on\"}'
            WHERE seq = $t" || fail "sqlite3 could not tamper"
run 4 "$REGFS" verify db
expect_in err "event $t"
run 0 "$REGFS" log db
mv out log2
run 1 "$VA" log2
expect_in err "line $t (seq $t): hash mismatch"
# The untouched copy taken earlier still checks: it is the evidence of what was there.
run 0 "$VA" --expect "$n:$head_hash" log

# ---- a log longer than verify-audit's 10,000-line batches ----
rm -f db db-wal db-shm
run 0 "$REGFS" init db || exit 1
{
    echo "id,given_name,family_name,date_of_birth,email,postcode,clp,kind,joined_at,declared_party,aims_values"
    awk 'BEGIN { for (i = 1; i <= 25000; i++)
        printf "%d,Bill%d,Smith,1980-01-%02d,b%d@example.org,SW1A 1AA,Bristol West,member,2026-07-14,,yes\n",
               i, i, i % 28 + 1, i }'
} > applicants.csv
run 0 "$REGFS" import --quiet db applicants applicants.csv || exit 1
run 0 "$REGFS" verify db
big_ok=$(cat out)
big_n=$(sed -n 's/^ok: \([0-9]*\) events.*/\1/p' out)
[ "$big_n" -gt 20000 ] || fail "the import wrote only $big_n events"
run 0 "$REGFS" log db
mv out big
start=$(date +%s)
run 0 "$VA" big
[ "$(cat out)" = "$big_ok" ] || fail "verify-audit says '$(cat out)', regfs verify says '$big_ok'"
echo "verify-audit: $big_n events in $(( $(date +%s) - start ))s"
# Breaks in each batch, and on the batch boundaries, are named exactly.
for line in 2 9999 10000 10001 20000 20001 "$big_n"; do
    sed "${line}s/Smith/Smyth/" big > big-edited
    cmp -s big big-edited && sed "${line}s/\"/'/" big > big-edited
    run 1 "$VA" big-edited
    expect_in err "line $line (seq $line): hash mismatch"
done
# The same with its temporary files in a directory of this test's (removed after each batch
# rather than overwritten, unless that too is a memory file system).
mkdir tmpdir
TMPDIR=$work/tmpdir run 0 "$VA" big
[ "$(cat out)" = "$big_ok" ] || fail "verify-audit with TMPDIR=$work/tmpdir says '$(cat out)'"
TMPDIR=$work/tmpdir run 1 "$VA" big-edited
expect_in err "line $big_n (seq $big_n): hash mismatch"
[ -z "$(find tmpdir -mindepth 1)" ] || fail "verify-audit left files in TMPDIR: $(find tmpdir | head -3)"
sed '10000,10001d' big > big-cut
run 1 "$VA" big-cut
expect_in err "line 10000: seq gap: expected 10000, found 10002"
# An early break is reported even when a later line is also bad.
sed '10001s/Smith/Smyth/; 15000d' big > big-two
run 1 "$VA" big-two
expect_in err "line 10001 (seq 10001): hash mismatch"
# Verifying from the middle of a batch.
tail -n +12345 big > big-tail
run 0 "$VA" --from-hash "$(sed -n 12344p big | cut -f 7)" big-tail
expect_in out "ok: $((big_n - 12344)) events"

# The database tampered deep in the log: both checkers name the same event.
sqlite3 db "DROP TRIGGER audit_no_update;
            UPDATE audit SET actor = 'mallory:1001' WHERE seq = 21000" || fail "sqlite3 could not tamper"
run 4 "$REGFS" verify db
expect_in err "event 21000"
run 0 "$REGFS" log db
mv out big2
run 1 "$VA" big2
expect_in err "line 21000 (seq 21000): hash mismatch"

if [ "$failures" -gt 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "ok"
