#!/usr/bin/env bash
# The mounted tree: what is where, the bytes of every file against the CLI's, exact sizes, folders
# that partition the register, stable inode numbers and mtimes across a remount, and a snapshot that
# is a working register.
source "$(dirname "$0")/lib.sh" || exit 1   # without it $T and $MNT are empty: never run on

make_register 2000
mount_register
note "mounted in ${MOUNT_MS} ms"
[ "$MOUNT_MS" -lt 2000 ] || fail "mounting took ${MOUNT_MS} ms"
cd "$MNT"

note "the top level"
assert_eq "README applicants audit clps ctl jobs joined register.jsonl register.tsv snapshot stats verdicts watchlist" \
    "$(ls | tr '\n' ' ' | sed 's/ $//')" "ls of the mount"
assert_eq "approved excluded pending review" "$(ls verdicts | tr '\n' ' ' | sed 's/ $//')" "ls verdicts"
assert_eq "checkpoints head log" "$(ls audit | grep -v '^[0-9]' | tr '\n' ' ' | sed 's/ $//')" \
    "fixed names in audit/"
for name in README stats register.tsv register.jsonl ctl 'applicants/<id>/summary' \
    'applicants/<id>/ctl' 'verdicts/{approved,excluded,review,pending}/<id>' 'clps/<clp-slug>/<id>' \
    'joined/<YYYY-MM-DD>/<id>' 'watchlist/<id>' 'audit/<YYYY-MM-DD>' audit/log audit/head 'jobs/<n>' \
    snapshot/register.db 'revet joined FROM [TO]' 'cancel JOB' 'approve REASON' 'note TEXT' release; do
    grep -qF -- "$name" README || fail "README does not mention $name"
done

note "the same bytes as the CLI"
cmp <("$REGFS" export "$DB") register.tsv || fail "register.tsv differs from regfs export"
cmp <("$REGFS" export "$DB" --format jsonl) register.jsonl || fail "register.jsonl differs from regfs export --format jsonl"
cmp <("$REGFS" log "$DB") audit/log || fail "audit/log differs from regfs log"
cmp <("$REGFS" stats "$DB") stats || fail "stats differs from regfs stats"
assert_eq "$("$REGFS" log "$DB" | tail -n 1 | cut -f1,7 | tr '\t' ' ')" "$(cat audit/head)" "audit/head"
cat audit/2*-*-* | cmp - audit/log || fail "the day files together are not the log"

note "sizes in stat are the bytes a read returns"
find . -type f ! -name ctl -printf '%s %p\n' | sort -k2 >"$T/stat-sizes"
find . -type f ! -name ctl -exec wc -c {} + | grep -v ' total$' | awk '{print $1, $2}' | sort -k2 >"$T/read-sizes"
[ "$(wc -l <"$T/stat-sizes")" -gt 8000 ] || fail "too few files: $(wc -l <"$T/stat-sizes")"
diff "$T/stat-sizes" "$T/read-sizes" >"$T/size-diff" || { head "$T/size-diff"; fail "stat sizes differ from wc -c"; }
for f in applicants/*/ctl ctl; do [ -f "$f" ] && [ ! -s "$f" ]; done || fail "a ctl file is not an empty file"

note "one folder per applicant, and the verdict folders partition them"
tail -n +2 register.tsv | cut -f1 | sort >"$T/ids"
assert_eq 2000 "$(wc -l <"$T/ids")" "applicants in register.tsv"
ls applicants | sort | diff - "$T/ids" >/dev/null || fail "applicants/ is not the register's ids"
for v in approved excluded review pending; do
    tail -n +2 register.tsv | awk -F'\t' -v v=$v '$12 == v { print $1 }' | sort >"$T/want-$v"
    ls "verdicts/$v" | sort | diff - "$T/want-$v" >/dev/null || fail "verdicts/$v does not match register.tsv"
done
[ "$(wc -l <"$T/want-excluded")" -gt 0 ] || fail "the register has no exclusions to show"
id=$(head -n 1 "$T/want-excluded")
assert_eq "../../applicants/$id" "$(readlink "verdicts/excluded/$id")" "the symlink's target"
grep -q '^excluded' "verdicts/excluded/$id/verdict" || fail "verdicts/excluded/$id/verdict does not say excluded"
[ ! -e "verdicts/approved/$id" ] || fail "$id is in two verdict folders"

note "every applicant once in clps/ and once in joined/"
assert_eq 2000 "$(find clps -mindepth 2 -type l | wc -l)" "symlinks under clps/"
assert_eq 2000 "$(find clps -mindepth 2 -type l -printf '%f\n' | sort -u | wc -l)" "distinct ids under clps/"
assert_eq 2000 "$(find joined -mindepth 2 -type l | wc -l)" "symlinks under joined/"
sed -n "2,51p" register.tsv | cut -f1,9 | while IFS=$'\t' read -r i joined_at; do
    [ -L "joined/${joined_at:0:10}/$i" ] || fail "joined/${joined_at:0:10}/$i is missing"
done
clp=$(ls clps | sed -n 1p)
for i in $(ls "clps/$clp"); do
    [ "$(readlink -f "clps/$clp/$i")" = "$MNT/applicants/$i" ] || fail "clps/$clp/$i does not lead to its applicant"
done

note "the watch list and the jobs"
assert_eq "$(awk '/^watchlist:/ {print $2}' stats)" "$(ls watchlist | wc -l)" "entries in watchlist/"
grep -q . "watchlist/$(ls watchlist | sed -n 1p)" || fail "a watch-list entry is empty"
grep -q '^state: done' "jobs/$(ls jobs | sed -n 1p)" || fail "the vet's job is not shown as done"

note "names that are not there"
first=$(head -n 1 "$T/ids")
for p in applicants/0$first applicants/1 "applicants/$first/nope" "verdicts/approved/$id" clps/no-such-clp \
    joined/2016-02-30 joined/1900-01-01 audit/1999-01-01 jobs/999999 watchlist/W99999 nothing; do
    [ ! -e "$p" ] || fail "$p exists"
    err=$(stat "$p" 2>&1 || true)
    [[ $err == *"No such file or directory"* ]] || fail "stat $p: $err"
done

note "a snapshot is a consistent, working copy of the register"
cp snapshot/register.db "$T/copy.db"
"$REGFS" verify "$T/copy.db" >/dev/null || fail "the snapshot's audit chain does not verify"
cmp <("$REGFS" stats "$T/copy.db") stats || fail "the snapshot's stats differ"
assert_eq "$(stat -c %s snapshot/register.db)" "$(stat -c %s "$T/copy.db")" "the snapshot's size"

note "a signed checkpoint shows in audit/checkpoints/ and verifies from there"
[ -z "$(ls audit/checkpoints)" ] || fail "checkpoints before any was made"
"$REGFS" keygen "$T/secret.key" "$T/public.key" >/dev/null 2>&1 || fail "regfs keygen failed"
"$REGFS" checkpoint "$DB" --key "$T/secret.key" >"$T/statement" 2>/dev/null || fail "regfs checkpoint failed"
seq=$(awk '/^seq:/ {print $2}' "$T/statement")
wait_for "[ -e audit/checkpoints/$seq ]" 5 || fail "audit/checkpoints/$seq did not appear: $(ls audit/checkpoints)"
cmp "$T/statement" "audit/checkpoints/$seq" || fail "audit/checkpoints/$seq is not the statement"
assert_eq "$(wc -c <"$T/statement")" "$(stat -c %s "audit/checkpoints/$seq")" "the checkpoint's size"
"$REGFS" verify "$DB" --checkpoint "audit/checkpoints/$seq" --pubkey "$T/public.key" >/dev/null ||
    fail "the checkpoint read from the mount does not verify"

note "inode numbers are unique, and stable with mtimes and sizes across a remount"
find . -printf '%i %s %T@ %p\n' | sort -k4 >"$T/before"
assert_eq "$(wc -l <"$T/before")" "$(cut -d' ' -f1 "$T/before" | sort -u | wc -l)" "distinct inode numbers"
unmount_register
mount_register
cd "$MNT"
find . -printf '%i %s %T@ %p\n' | sort -k4 | diff "$T/before" - >"$T/remount-diff" ||
    { head "$T/remount-diff"; fail "inodes, sizes or mtimes changed across a remount"; }
unmount_register
echo "ok"
