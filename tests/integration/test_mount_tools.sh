#!/usr/bin/env bash
# The tools admins use, on the real mount: grep -r, jq, find -newer, tail -f, tar (the archive is the
# tree, byte for byte), rsync and restic twice (the second run moves nothing), and readers reading on
# while a re-vet job runs.
source "$(dirname "$0")/lib.sh" || exit 1   # without it $T and $MNT are empty: never run on

make_register 2000
mount_register
cd "$MNT"
n=$(($(wc -l <register.tsv) - 1))

note "grep -r finds an applicant by name, and says nothing else"
read -r id family < <(awk -F'\t' 'NR == 2 { print $1, $4 }' register.tsv)
grep -rlF -- "$family" applicants >"$T/grep.out" 2>"$T/grep.err" || fail "grep -r found nothing for $family"
[ ! -s "$T/grep.err" ] || fail "grep -r complained: $(sed -n 1,3p "$T/grep.err")"
grep -qx "applicants/$id/summary" "$T/grep.out" || fail "grep -r did not find applicants/$id/summary"
rc=0; grep -rq "no such text anywhere in the register" . 2>"$T/grep.err" || rc=$?
assert_eq 1 "$rc" "grep -r's status for text that is nowhere"
[ ! -s "$T/grep.err" ] || fail "grep -r over the whole mount complained: $(sed -n 1,3p "$T/grep.err")"

note "jq reads every record and the JSONL"
jq -e -s 'length' applicants/*/record.json >"$T/jq.out" || fail "jq could not read every record.json"
assert_eq "$n" "$(cat "$T/jq.out")" "records read by jq"
assert_eq "$n" "$(jq -c . register.jsonl | wc -l)" "objects in register.jsonl"
jq -r .id register.jsonl | sort | diff - <(ls applicants | sort) >/dev/null || fail "register.jsonl's ids are not applicants/"

note "find -newer finds exactly what a change touched"
touch "$T/ref"
sleep 1.1
echo "refer checking a report from the CLP" >"applicants/$id/ctl" || fail "refer was refused"
find applicants -newer "$T/ref" -type f | sort >"$T/newer"
printf 'applicants/%s/%s\n' "$id" history "$id" record.json "$id" summary "$id" verdict | sort |
    diff - "$T/newer" || fail "find -newer under applicants/ is not the changed applicant's four files"
find . -maxdepth 1 -newer "$T/ref" -type f | sort | grep -qx './register.tsv' || fail "register.tsv is not newer"

note "tail -f prints a new event as it happens"
tail -n 0 -f audit/log >"$T/tail.out" 2>&1 &
tail_pid=$!
sleep 1.5
echo "note seen by tail -f" >"applicants/$id/ctl" || fail "the note was refused"
wait_for "grep -q 'seen by tail -f' '$T/tail.out'" 6 || { kill $tail_pid; fail "tail -f did not print the event"; }
kill $tail_pid
wait $tail_pid 2>/dev/null || true
grep -q 'evidence.add' "$T/tail.out" || fail "tail -f printed: $(cat "$T/tail.out")"

note "tar: the archive lists the same files and holds the same bytes as a walk"
tar -cf "$T/tree.tar" . 2>"$T/tar.err" || fail "tar failed: $(sed -n 1,3p "$T/tar.err")"
[ ! -s "$T/tar.err" ] || fail "tar warned: $(sed -n 1,3p "$T/tar.err")"
tar -tf "$T/tree.tar" | sed 's|/$||' | sort >"$T/tar.list"
find . | sort >"$T/find.list"
diff "$T/find.list" "$T/tar.list" >/dev/null || fail "tar's listing is not find's: $(diff "$T/find.list" "$T/tar.list" | sed -n 1,4p)"
mkdir "$T/x"
tar -xf "$T/tree.tar" -C "$T/x"
diff -r --no-dereference -x register.db . "$T/x" >/dev/null || fail "the extracted tree differs from the mount"

note "rsync twice: the second run transfers nothing"
rsync -a "$MNT/" "$T/r/" || fail "the first rsync failed"
rsync -a --itemize-changes --stats "$MNT/" "$T/r/" >"$T/rsync.out" || fail "the second rsync failed"
grep -q '^Number of regular files transferred: 0$' "$T/rsync.out" ||
    fail "the second rsync transferred files: $(grep -E '^[<>ch.][fdL]' "$T/rsync.out" | sed -n 1,5p)"
if grep -qE '^[<>ch.*][fdLDS]' "$T/rsync.out"; then
    fail "the second rsync changed something: $(grep -E '^[<>ch.*][fdLDS]' "$T/rsync.out" | sed -n 1,5p)"
fi
cmp register.tsv "$T/r/register.tsv" || fail "rsync's copy of register.tsv differs"

if command -v restic >/dev/null; then
    note "restic twice: the second backup finds nothing new or changed"
    export RESTIC_REPOSITORY=$T/restic RESTIC_PASSWORD=test RESTIC_CACHE_DIR=$T/restic-cache
    restic init -q >/dev/null || fail "restic init failed"
    restic backup -q . >/dev/null || fail "the first restic backup failed"
    restic backup --json . >"$T/restic.json" || fail "the second restic backup failed"
    jq -e 'select(.message_type == "summary") | .files_new == 0 and .files_changed == 0 and .dirs_changed == 0' \
        "$T/restic.json" >/dev/null ||
        fail "the second restic backup saw changes: $(jq -c 'select(.message_type == "summary")' "$T/restic.json")"
fi

note "readers read on while a re-vet job runs"
echo "revet all" >ctl || fail "revet all was refused"
job=$(ls jobs | sort -n | tail -n 1)
for i in 1 2 3; do
    cmp -s <("$REGFS" export "$DB") register.tsv || true   # the job moves it on; reading must not fail
    cat applicants/*/verdict >/dev/null || fail "reading verdicts during a job failed"
done
wait_for "grep -q '^state: done' jobs/$job" 30 || fail "the job did not finish: $(cat "jobs/$job")"
cmp <("$REGFS" export "$DB") register.tsv || fail "register.tsv differs from regfs export after the job"

unmount_register
echo "ok"
