#!/usr/bin/env bash
# test_import_cli.sh: `regfs import` as a user meets it: the summary line, the exit status (0 all
# imported, 3 some rejected, 1 failure with nothing imported, 2 usage), each rejected row named on
# stderr by line and column, the rejects file beside the input, "nothing to change" on a re-import,
# and a progress bar that is drawn on a terminal and never in a pipe.
source "$(dirname "$0")/cli.sh" || exit 1
expect_not_in() {
    if grep -qF -- "$2" "$1"; then fail "$1 says '$2' but should not"; sed 's/^/    /' "$1" | head -8 >&2; fi
}
# count SQL: the register's answer, through the sqlite3 shell.
count() { sqlite3 db "$1"; }

command -v sqlite3 >/dev/null || { echo "FAIL: the sqlite3 shell is needed (scripts/install-deps)" >&2; exit 1; }

HEADER=id,given_name,family_name,date_of_birth,email,postcode,clp,kind,joined_at,declared_party,aims_values
run 0 "$REGFS" init db || exit 1

# ---- a clean file: exit 0, a summary, no rejects file ----
cat >applicants.csv <<EOF
$HEADER
1000001,Ann,Smith,1980-01-01,ann@example.org,SW1A 1AA,Bristol West,member,2016-01-05,,yes
1000002,Bob,"Jones, Jr",,,,Leeds Central,registered_supporter,2016-07-01T12:00:00Z,"Green Party, once",no
1000003,Siân,Evans,,,LL77 7TW,Ynys Môn,affiliated_supporter,2016-07-02,,yes
EOF
run 0 "$REGFS" import db applicants applicants.csv
expect_in out "applicants.csv: 3 rows: 3 added, 0 changed, 0 unchanged"
[ -s err ] && fail "a clean import wrote to stderr: $(cat err)"
[ -e applicants.rejects.csv ] && fail "a clean import left a rejects file"
[ "$(count 'SELECT count(*) FROM applicant')" = 3 ] || fail "expected 3 applicants"
[ "$(count "SELECT clp_slug FROM applicant WHERE id = 1000003")" = ynys-mon ] || fail "clp_slug not made"

# ---- the same file again: nothing to change, no event ----
events=$(count 'SELECT count(*) FROM audit')
run 0 "$REGFS" import db applicants applicants.csv
expect_in out "applicants.csv: nothing to change (3 rows unchanged)"
[ "$(count 'SELECT count(*) FROM audit')" = "$events" ] || fail "a re-import wrote audit events"

# ---- a changed row: one update, audited ----
sed -i 's/ann@example.org/ann@new.example.org/' applicants.csv
run 0 "$REGFS" import db applicants applicants.csv
expect_in out "3 rows: 0 added, 1 changed, 2 unchanged"
[ "$(count "SELECT count(*) FROM audit WHERE action = 'applicant.update' AND applicant = '1000001'")" = 1 ] ||
    fail "the change was not audited once"
expect_in <(count "SELECT detail FROM audit WHERE action = 'applicant.update'") \
    '"email":["ann@example.org","ann@new.example.org"]'

# ---- rows rejected: exit 3, stderr names line and column, the rejects file beside the input ----
mkdir -p in
{
    echo "$HEADER"
    echo "1000010,Good,Row,,,,Leeds,member,2016-01-05,,yes"
    echo "1000011,Bad,Date,2016-02-30,,,Leeds,member,2016-01-05,,yes"
    echo "1000012,Bad,Kind,,,,Leeds,Member,2016-01-05,,yes"
    echo "1000010,Dup,Id,,,,Leeds,member,2016-01-05,,yes"
    printf '1000013,Bad\377,Utf8,,,,Leeds,member,2016-01-05,,yes\n'
    echo "1000014,Good,Row,,,,Leeds,member,2016-01-05,,yes"
} >in/bad.csv
cp in/bad.csv input-copy
run 3 "$REGFS" import db applicants in/bad.csv
expect_in out "in/bad.csv: 6 rows: 2 added, 0 changed, 0 unchanged, 4 rejected (see in/bad.rejects.csv)"
expect_in err 'in/bad.csv:3: date_of_birth: "2016-02-30" is not a real date'
expect_in err 'in/bad.csv:4: kind: "Member" is not member, registered_supporter or affiliated_supporter'
expect_in err 'in/bad.csv:5: id: duplicate id 1000010, first on line 2'
expect_in err 'in/bad.csv:6: given_name: invalid UTF-8 at byte 4 of field 2'
[ "$(wc -l <err)" -eq 4 ] || fail "expected 4 lines on stderr, got $(wc -l <err)"
cmp -s in/bad.csv input-copy || fail "the input was modified"
cat >want <<EOF
$HEADER,error
1000011,Bad,Date,2016-02-30,,,Leeds,member,2016-01-05,,yes,"line 3: date_of_birth: ""2016-02-30"" is not a real date"
1000012,Bad,Kind,,,,Leeds,Member,2016-01-05,,yes,"line 4: kind: ""Member"" is not member, registered_supporter or affiliated_supporter"
1000010,Dup,Id,,,,Leeds,member,2016-01-05,,yes,"line 5: id: duplicate id 1000010, first on line 2"
1000013,Bad�,Utf8,,,,Leeds,member,2016-01-05,,yes,line 6: given_name: invalid UTF-8 at byte 4 of field 2
EOF
cmp -s want in/bad.rejects.csv || { fail "rejects file differs:"; diff want in/bad.rejects.csv >&2; }
[ "$(stat -c %a in/bad.rejects.csv)" = 600 ] || fail "rejects file is not private (mode $(stat -c %a in/bad.rejects.csv))"
[ "$(count 'SELECT count(*) FROM applicant WHERE id IN (1000010, 1000014)')" = 2 ] || fail "good rows not imported"
[ "$(count 'SELECT count(*) FROM applicant WHERE id BETWEEN 1000011 AND 1000013')" = 0 ] || fail "bad rows imported"

# Fixed: the rows go in and the stale rejects file goes away.
grep -v -e '^1000010,Dup' -e 'Bad' in/bad.csv >in/fixed.csv
cp in/bad.rejects.csv in/fixed.rejects.csv
run 0 "$REGFS" import db applicants in/fixed.csv
expect_in out "nothing to change (2 rows unchanged)"
[ -e in/fixed.rejects.csv ] && fail "a stale rejects file was left"

# --rejects puts them elsewhere; it never overwrites the input or a file that is not a rejects file.
run 3 "$REGFS" import --rejects elsewhere.csv db applicants in/bad.csv
expect_in out "(see elsewhere.csv)"
expect_in elsewhere.csv "1000012,Bad,Kind"
run 1 "$REGFS" import --rejects in/bad.csv db applicants in/bad.csv
expect_in err "is the input"
cmp -s in/bad.csv input-copy || fail "the input was overwritten"
run 1 "$REGFS" import --rejects applicants.csv db applicants in/bad.csv
expect_in err "not a rejects file"

# ---- the whole file refused: exit 1, nothing imported, no rejects file ----
events=$(count 'SELECT count(*) FROM audit')
printf 'id,given_name,family_name,e-mail,clp,kind,joined_at,declared_party,aims_values\n1,A,B,,C,member,2016-01-01,,yes\n' >cols.csv
run 1 "$REGFS" import db applicants cols.csv
expect_in err "missing columns: date_of_birth, email, postcode"
expect_in err "unknown column: e-mail"
[ -e cols.rejects.csv ] && fail "a refused file left a rejects file"
[ "$(count 'SELECT count(*) FROM audit')" = "$events" ] || fail "a refused file wrote audit events"
# A spreadsheet's other exports: UTF-16 (with and without its byte-order mark), and lines ending
# in CR alone.  Each is named for what it is, with the way to convert it.
for enc in UTF-16 UTF-16LE UTF-16BE; do
    printf '%s\n1000021,Ann,Smith,,,,Leeds,member,2016-01-05,,yes\n' "$HEADER" | iconv -f UTF-8 -t $enc >utf16.csv
    run 1 "$REGFS" import db applicants utf16.csv
    expect_in err "utf16.csv: the file "
    expect_in err "UTF-16"
    expect_in err "iconv -f UTF-16 -t UTF-8"
done
printf '%s\r1000022,Ann,Smith,,,,Leeds,member,2016-01-05,,yes\r' "$HEADER" >mac.csv
run 1 "$REGFS" import db applicants mac.csv
expect_in err "mac.csv: its lines end in a carriage return alone"
[ "$(count 'SELECT count(*) FROM applicant WHERE id IN (1000021, 1000022)')" = 0 ] ||
    fail "a UTF-16 or CR-only file imported rows"
[ "$(count 'SELECT count(*) FROM audit')" = "$events" ] || fail "a file in the wrong format wrote audit events"
printf '%s\n1000020,"Ann,Smith,,,,Leeds,member,2016-01-05,,yes\n' "$HEADER" >open.csv
run 3 "$REGFS" import db applicants open.csv
expect_in err "open.csv:2: given_name: unterminated quoted field 2"
run 1 "$REGFS" import db applicants no-such-file.csv
expect_in err "no-such-file.csv: No such file or directory"
run 1 "$REGFS" import no-such.db applicants applicants.csv

# ---- usage: exit 2 ----
run 2 "$REGFS" import
run 2 "$REGFS" import db applicants
run 2 "$REGFS" import db members applicants.csv
expect_in err "unknown kind 'members'"
run 2 "$REGFS" import --frobnicate db applicants applicants.csv
run 0 "$REGFS" import --help
expect_in out "--rejects FILE"

# ---- stdin: no rejects file unless asked ----
printf '%s\n1000030,Stdin,Row,,,,Leeds,member,2016-01-05,,yes\n1000031,Bad,Row,,,,Leeds,member,2016-01-05,,maybe\n' "$HEADER" |
    run 3 "$REGFS" import db applicants -
expect_in out "<stdin>: 2 rows: 1 added, 0 changed, 0 unchanged, 1 rejected"
expect_not_in out "(see"
expect_in err '<stdin>:3: aims_values: "maybe" is not yes or no'
# Not even when stdin is the file named as the rejects file.
run 1 "$REGFS" import --rejects in/bad.csv db applicants - <in/bad.csv
expect_in err "is the input"
cmp -s in/bad.csv input-copy || fail "the input was overwritten through stdin"
# A pipe given by name has no rejects file beside it either.
run 3 "$REGFS" import db applicants <(cat in/bad.csv)
expect_in out "4 rejected"
expect_not_in out "(see"

# ---- the watch list and the organisations ----
cat >watch.csv <<EOF
organisation,role,source,id,given_name,family_name,date_of_birth,email,postcode
Socialist Workers Party,organiser,https://example.org/swp,W001,John,Smith,1970-01-01,,
EOF
run 0 "$REGFS" import db watchlist watch.csv
expect_in out "watch.csv: 1 row: 1 added, 0 changed, 0 unchanged"
[ "$(count "SELECT value FROM counter WHERE name = 'watchlist_version'")" = 1 ] || fail "watchlist_version not bumped"
run 0 "$REGFS" import db watchlist watch.csv
expect_in out "nothing to change (1 row unchanged)"
printf 'name,aliases\nSocialist Workers Party,SWP|Socialist Workers\nOur Own List,\n' >orgs.csv
run 0 "$REGFS" import db organisations orgs.csv
expect_in out "orgs.csv: 2 rows: 1 added, 0 changed, 1 unchanged"
[ "$(count 'SELECT count(*) FROM organisation')" = 2 ] || fail "organisations not replaced"
removed=$(sed -n 's/.*, \([0-9]*\) removed.*/\1/p' out)
[ "${removed:-0}" -gt 10 ] || fail "the default organisations were not removed: $(cat out)"

# ---- progress: never in a pipe; drawn on a terminal ----
{
    echo "$HEADER"
    for i in $(seq 1 30000); do echo "$((2000000 + i)),G$i,F$i,,,,Leeds,member,2016-01-05,,yes"; done
} >big.csv
run 0 "$REGFS" import db applicants big.csv
expect_in out "big.csv: 30000 rows: 30000 added"
if grep -q $'\r\|\033' out err; then fail "progress escapes in a pipe"; fi
if command -v script >/dev/null; then
    sed -i 's/,yes$/,no/' big.csv
    script -qec "$REGFS import db applicants big.csv" /dev/null >tty.out 2>&1
    grep -q 'rows' tty.out && grep -q $'\r' tty.out || fail "no progress bar on a terminal: $(head -c 300 tty.out)"
    expect_in tty.out "30000 rows: 0 added, 30000 changed"
    run 0 "$REGFS" import --quiet db applicants big.csv
    expect_in out "nothing to change (30000 rows unchanged)"
fi

# ---- after all that, the chain still holds ----
run 0 "$REGFS" verify db
expect_in out "ok: "

[ "$failures" -eq 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo "ok"
