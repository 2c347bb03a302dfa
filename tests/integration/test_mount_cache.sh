#!/usr/bin/env bash
# The kernel keeps what it read (pages, attributes, folder listings) until the daemon says it went
# stale: every read here is made once to fill the cache, then again after a change, through the
# same mount.  A missing invalidation shows as the old content.  Also: folders nobody changed keep
# their listings, ctl files stay empty after a write, and stats agrees with `regfs stats` before and
# after a change (it keeps counts in the register between changes).
source "$(dirname "$0")/lib.sh" || exit 1   # without it $T and $MNT are empty: never run on

make_register 2000
# stats' counts against SQL's own, in the file FILE
counts_right() {
    local v
    for v in approved excluded review pending; do
        assert_eq "$(sqlite3 "$DB" "SELECT count(*) FROM applicant WHERE verdict = '$v'")" \
            "$(awk -v k="$v:" '$1 == k { print $2 }' "$1")" "$v in $1"
    done
    assert_eq "$(sqlite3 "$DB" "SELECT count(*) FROM applicant WHERE ballot = 1")" \
        "$(awk '$1 == "ballot_eligible:" { print $2 }' "$1")" "ballot_eligible in $1"
}
mount_register
cd "$MNT"

id=$(ls verdicts/review | sed -n 1p)
[ -n "$id" ] || fail "nobody to review"
app=applicants/$id
cmp <("$REGFS" stats "$DB") stats || fail "stats differs from regfs stats after a mount"

note "a ctl change replaces what the kernel read before it"
verdict0=$(cat "$app/verdict")
summary0=$(cat "$app/summary")
review0=$(ls verdicts/review)
excluded0=$(ls verdicts/excluded)
applicants0=$(ls applicants)
stats0=$(cat stats)
ls -l "$app" verdicts/review verdicts/excluded >/dev/null
head0=$(cat audit/head)
grep -q '^review' <<<"$verdict0" || fail "$id's verdict is not review: $verdict0"
echo "exclude member of another party" >"$app/ctl" || fail "the exclude was refused"
grep -q '^excluded rule=manual' "$app/verdict" || fail "the verdict read before the change came back: $(cat "$app/verdict")"
assert_eq "$(stat -c %s "$app/verdict")" "$(wc -c <"$app/verdict")" "the verdict's size after the change"
[ "$(cat "$app/summary")" != "$summary0" ] || fail "the summary read before the change came back"
ls verdicts/review | grep -qx "$id" && fail "ls verdicts/review still lists $id (a stale listing)"
ls verdicts/excluded | grep -qx "$id" || fail "ls verdicts/excluded does not list $id (a stale listing)"
assert_eq "$(grep -cvx "$id" <<<"$review0")" "$(ls verdicts/review | wc -l)" "verdicts/review's entries"
[ "$(cat audit/head)" != "$head0" ] || fail "audit/head read before the change came back"
[ "$(cat stats)" != "$stats0" ] || fail "stats read before the change came back"
cmp <("$REGFS" stats "$DB") stats || fail "stats differs from regfs stats after a change"
assert_eq "$applicants0" "$(ls applicants)" "applicants/ after a change to one verdict"

note "ctl files stay empty after a write"
assert_eq 0 "$(stat -c %s "$app/ctl")" "the size of $app/ctl after a write"
assert_eq 0 "$(stat -c %s ctl)" "the size of ctl"
echo "note seen twice at the same meeting" >"$app/ctl" || fail "the note was refused"
assert_eq 0 "$(stat -c %s "$app/ctl")" "the size of $app/ctl after a second write"
assert_eq 0 "$(wc -c <"$app/ctl")" "what a read of $app/ctl returns"

note "a change by another process replaces what the kernel read"
cat "$app/verdict" "$app/record.json" >/dev/null
ls verdicts/excluded verdicts/review >/dev/null
h=$(audit_head)
"$REGFS" config "$DB" auto_exclude off >/dev/null || fail "regfs config failed"
"$REGFS" vet --quiet "$DB" all >/dev/null 2>&1 || fail "regfs vet all failed"
wait_for '[ "$(audit_head)" -gt "$h" ]' 5 || fail "audit/head did not follow another process's change"
wait_for 'cmp -s <("$REGFS" export "$DB") register.tsv' 5 || fail "register.tsv did not follow regfs vet"
for v in approved excluded review pending; do
    want=$(awk -F'\t' -v v="$v" 'NR > 1 && $12 == v { print $1 }' register.tsv | sort)
    assert_eq "$want" "$(ls verdicts/$v | sort)" "verdicts/$v after regfs vet"
done
other=$(awk -F'\t' 'NR > 1 && $12 == "review" { print $1; exit }' register.tsv)
[ -n "$other" ] || fail "regfs vet with auto_exclude off left nobody to review"
grep -q '^review' "applicants/$other/verdict" || fail "applicants/$other/verdict did not follow regfs vet"
wait_for 'cmp -s <("$REGFS" stats "$DB") stats' 5 || fail "stats did not follow regfs vet"

note "after a revet through ctl, what was read before is gone"
cat applicants/*/verdict >/dev/null
"$REGFS" config "$DB" auto_exclude on >/dev/null || fail "regfs config failed"
echo "revet all" >ctl || fail "revet all was refused"
wait_for '! grep -q "state: \(queued\|running\)" jobs/*' 30 || fail "the revet did not finish"
cmp <("$REGFS" export "$DB") register.tsv || fail "register.tsv did not follow the revet"
awk -F'\t' 'NR > 1 { print $1, $12 }' register.tsv | sort >"$T/want"
for d in applicants/*/; do
    n=${d#applicants/}
    n=${n%/}
    echo "$n $(cut -d' ' -f1 "$d/verdict")"
done | sort >"$T/got"
cmp "$T/want" "$T/got" || fail "verdicts read after the revet differ from register.tsv: $(diff "$T/want" "$T/got" | head -4)"
cmp <("$REGFS" stats "$DB") stats || fail "stats differs from regfs stats after the revet"
counts_right stats

# A reader holding applicant $1's summary open across a note keeps its version whole, a new open
# reads the note, and once the holder closes, stat agrees with what a read returns.
held_open_check() {
    local held=applicants/$1 old new marker="held-open note $$ $RANDOM"
    old=$(cat "$held/summary")
    cat "$held/summary" "$held/summary" >/dev/null   # in the page cache now
    exec 3<"$held/summary"
    echo "note $marker" >"$held/ctl" || fail "the note was refused"
    new=$(cat "$held/summary")
    grep -qF "$marker" <<<"$new" ||
        fail "a new open of $held/summary did not show the note written while another reader held it"
    assert_eq "$old" "$(cat <&3)" "what the reader that held $held/summary open reads"
    exec 3<&-
    wait_for '[ "$(stat -c %s "$held/summary")" = "$(wc -c <"$held/summary")" ]' 5 ||
        fail "stat of $held/summary did not follow the note once its last reader closed"
    assert_eq "$new" "$(cat "$held/summary")" "$held/summary read again, through the page cache"
}

note "a file held open keeps its version; a new open reads the newest; stat follows at close"
held_open_check "$(ls verdicts/approved | sed -n 1p)"

unmount_register
note "stats counted at the end of a vet are used by the next mount, and stay right"
"$REGFS" vet --quiet "$DB" all >/dev/null 2>&1 || fail "regfs vet all failed"
mount_register
cmp <("$REGFS" stats "$DB") "$MNT/stats" || fail "stats differs from regfs stats after a remount"
counts_right "$MNT/stats"
echo "exclude seen at another party's conference" >"$MNT/$app/ctl" || fail "the exclude was refused"
counts_right "$MNT/stats"
unmount_register

note "with room for 8 files in the daemon's page-cache records, forgotten all the time, reads stay fresh"
REGFS_PIN_MAX=8 mount_register
cd "$MNT"
ls applicants | sed -n '1,30p' >"$T/few"
while read -r id; do cat applicants/$id/summary applicants/$id/verdict >/dev/null; done <"$T/few"
while read -r id; do
    echo "note small table $id" >applicants/$id/ctl || fail "the note to $id was refused"
done <"$T/few"
while read -r id; do
    grep -qF "small table $id" applicants/$id/summary || fail "applicants/$id/summary does not show its note"
    assert_eq "$(wc -c <applicants/$id/summary)" "$(stat -c %s applicants/$id/summary)" \
        "the size stat gives applicants/$id/summary"
done <"$T/few"
held_open_check "$(sed -n 5p "$T/few")"
unmount_register
echo "PASS"
