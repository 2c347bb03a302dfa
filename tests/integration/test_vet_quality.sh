#!/usr/bin/env bash
# test_vet_quality.sh: vetting a generated register end to end, as `make demo` does it, measured
# against the generator's ground truth with scripts/vet-quality --check (precision of exclusions,
# recall of the watch-listed and of declared members of other parties, the review load), then
# vetted again: the second run must change nothing and write nothing to the audit log.  Also:
# `regfs vet` refuses a bad scope with exit 2, and vets a list of ids.
source "$(dirname "$0")/cli.sh" || exit 1
db=$work/register.db
stat_of() { "$REGFS" stats "$db" | sed -n "s/^$1: //p"; }

python3 "$REGFS_TOP/scripts/gen-register" --size 3000 --seed 1 --out "$work/gen" >/dev/null ||
    { echo "FAIL: gen-register" >&2; exit 1; }
"$REGFS" init "$db" >/dev/null || { echo "FAIL: regfs init" >&2; exit 1; }
"$REGFS" import --quiet "$db" watchlist "$work/gen/watchlist.csv" >/dev/null ||
    { echo "FAIL: import watchlist" >&2; exit 1; }
"$REGFS" import --quiet "$db" applicants "$work/gen/applicants.csv" >/dev/null 2>"$work/import.err"
rc=$?
[ $rc -eq 0 ] || [ $rc -eq 3 ] || { cat "$work/import.err" >&2; echo "FAIL: import applicants: $rc" >&2; exit 1; }
applicants=$(stat_of applicants)
[ "$applicants" -gt 2900 ] || fail "only $applicants applicants imported"

# A bad scope is a usage error and changes nothing.
"$REGFS" vet "$db" verdict maybe >/dev/null 2>"$work/usage.err"
[ $? -eq 2 ] || fail "vet with a bad scope should exit 2"
grep -q "verdict needs one of" "$work/usage.err" || fail "no reason given for the bad scope"
[ "$(stat_of pending)" = "$applicants" ] || fail "a refused vet changed something"

# The first vet decides everybody, and says so.
out=$("$REGFS" vet "$db" all) || fail "vet all failed"
echo "$out"
echo "$out" | grep -Eq "^vetted [0-9,]+ applicants in [0-9.]+ s \([0-9,]+/s\): [0-9,]+ changed; approved [0-9,]+, excluded [0-9,]+, review [0-9,]+$" ||
    fail "unexpected summary: $out"
[ "$(stat_of pending)" = 0 ] || fail "applicants left pending after vet all"

"$REGFS" export "$db" >"$work/export.tsv" || fail "export failed"
python3 "$REGFS_TOP/scripts/vet-quality" --check "$work/gen/truth.csv" "$work/export.tsv" >"$work/quality.txt" ||
    fail "vet-quality goals missed: $(tr '\n' ' ' <"$work/quality.txt")"
cat "$work/quality.txt"
grep -q '^excluded_precision: ' "$work/quality.txt" || fail "vet-quality printed no precision"

# Nothing has changed since: a second vet changes nothing and writes no audit event.
head_before=$(stat_of audit_head)
out=$("$REGFS" vet "$db" all) || fail "second vet failed"
echo "$out" | grep -q ": 0 changed;" || fail "second vet changed something: $out"
[ "$(stat_of audit_head)" = "$head_before" ] || fail "second vet moved the audit head"
"$REGFS" verify "$db" >/dev/null || fail "audit chain broken after vetting"

# Ids: vetted again, unchanged; the default scope (pending) finds nobody.
first=$(awk -F'\t' 'NR == 2 { print $1 }' "$work/export.tsv")
out=$("$REGFS" vet --quiet "$db" "$first") || fail "vet $first failed"
echo "$out" | grep -q "^vetted 1 applicant in .*: 0 changed;" || fail "vet of one id: $out"
out=$("$REGFS" vet "$db") || fail "vet (pending) failed"
echo "$out" | grep -q "^vetted 0 applicants" || fail "vet pending: $out"
[ "$(stat_of audit_head)" = "$head_before" ] || fail "vetting unchanged applicants moved the audit head"

[ $failures -eq 0 ] || exit 1
echo "ok"
