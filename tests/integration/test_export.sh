#!/usr/bin/env bash
# test_export: `regfs export` and `regfs log` as an admin scripts them.
#
# Builds a register with `regfs init` and `regfs import` (a CSV with quotes, commas, a backslash and
# accents), then writes a tab and a newline into one applicant's declared party with the sqlite3
# shell (import refuses control characters, but a register must export whatever it holds).  Checks
# the TSV header and that every applicant is one line, whatever its values; that the JSONL is one
# valid object per line that jq reads, in id order, with the same values; that two exports are the
# same bytes; that bad arguments are usage errors (exit 2) and a missing register a failure (exit
# 1); and that `regfs log` prints the chain `regfs verify` counts, filtered by applicant, day and
# sequence number.  Needs no mount.
set -euo pipefail
top=${REGFS_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
REGFS=${REGFS:-$top/build/san/regfs}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
db=$work/reg.db

# Runs "$@", expecting exit status $1; stdout and stderr go to $work/out and $work/err.
expect_status() {
    local want=$1 got=0
    shift
    "$@" >"$work/out" 2>"$work/err" || got=$?
    [ "$got" -eq "$want" ] || fail "$* exited $got, not $want: $(cat "$work/err")"
}

export REGFS_NOW=1795507200   # 2026-11-24T08:00:00Z: the import's audit events fall on that day
"$REGFS" init "$db" >/dev/null
cat >"$work/applicants.csv" <<'CSV'
id,given_name,family_name,date_of_birth,email,postcode,clp,kind,joined_at,declared_party,aims_values
1000042,Siân,"O'Brien, Jr",1980-02-29,sian@example.org,CF10 1AA,Cardiff Central,member,2026-11-20T09:15:00Z,Left\Right,yes
1000007,Bill,Jones,1975-06-01,bill@example.org,M1 1AE,Manchester Central,registered_supporter,2026-11-21,,yes
1000005,Zoë,"Lee ""Annie""",,,,Bristol West,affiliated_supporter,2026-11-22,Green Party,no
CSV
for i in $(seq 1000100 1000149); do
    echo "$i,Given$i,Family$i,1990-01-01,p$i@example.org,LS1 1AA,Leeds Central,member,2026-11-23,,yes"
done >>"$work/applicants.csv"
"$REGFS" import --quiet "$db" applicants "$work/applicants.csv" >/dev/null 2>"$work/import.err" ||
    fail "import failed: $(cat "$work/import.err")"
n=$(sqlite3 "$db" 'SELECT count(*) FROM applicant')
[ "$n" -eq 53 ] || fail "import gave $n applicants, not 53"
sqlite3 "$db" "UPDATE applicant SET declared_party = 'tab' || char(9) || 'new' || char(10) || 'line'
               WHERE id = 1000007"

# ---- TSV ----
header=$'id\tkind\tgiven_name\tfamily_name\tdate_of_birth\temail\tpostcode\tclp\tjoined_at\tdeclared_party\taims_values\tverdict\trule\tscore\tdecided_by\tballot'
[ "$("$REGFS" export "$db" | head -1)" = "$header" ] || fail "TSV header: $("$REGFS" export "$db" | head -1)"
"$REGFS" export "$db" >"$work/a.tsv"
"$REGFS" export "$db" --format tsv >"$work/b.tsv"
cmp -s "$work/a.tsv" "$work/b.tsv" || fail "--format tsv is not the default's bytes"
[ "$(wc -l <"$work/a.tsv")" -eq $((n + 1)) ] || fail "$(wc -l <"$work/a.tsv") TSV lines for $n applicants"
awk -F'\t' 'NF != 16 { bad = 1; print "line " NR ": " NF " fields" } END { exit bad }' "$work/a.tsv" >&2 ||
    fail "a TSV line does not have 16 fields"
[ "$(cut -f1 "$work/a.tsv" | tail -n +2)" = "$(sqlite3 "$db" 'SELECT id FROM applicant ORDER BY id')" ] ||
    fail "TSV rows are not the applicants in id order"
grep -qxF $'1000042\tmember\tSiân\tO\'Brien, Jr\t1980-02-29\tsian@example.org\tCF10 1AA\tCardiff Central\t2026-11-20T09:15:00Z\tLeft\\\\Right\tyes\tpending\t\t0.00\t\tno' "$work/a.tsv" ||
    fail "applicant 1000042's line: $(grep '^1000042' "$work/a.tsv")"
[ "$(awk -F'\t' '$1 == 1000007 { print $10 }' "$work/a.tsv")" = 'tab\tnew\nline' ] ||
    fail "tab and newline not escaped: $(grep '^1000007' "$work/a.tsv")"
[ "$(awk -F'\t' '$1 == 1000005 { print $4 }' "$work/a.tsv")" = 'Lee "Annie"' ] || fail "quotes changed"

# ---- JSONL ----
"$REGFS" export "$db" --format jsonl >"$work/a.jsonl"
"$REGFS" export --format=jsonl "$db" >"$work/b.jsonl"
cmp -s "$work/a.jsonl" "$work/b.jsonl" || fail "--format=jsonl differs from --format jsonl"
[ "$(wc -l <"$work/a.jsonl")" -eq "$n" ] || fail "$(wc -l <"$work/a.jsonl") JSONL lines for $n applicants"
[ "$(tail -c 1 "$work/a.jsonl" | od -An -c | tr -d ' ')" = '\n' ] || fail "JSONL does not end in a newline"
[ "$("$REGFS" export "$db" --format jsonl | jq -c .id)" = "$(sqlite3 "$db" 'SELECT id FROM applicant ORDER BY id')" ] ||
    fail "jq -c .id does not list the applicants in id order"
jq -e -s 'all(.[]; (keys | length) == 17 and (.reasons | type) == "array" and (.ballot | type) == "boolean"
                    and (.score | type) == "number")' "$work/a.jsonl" >/dev/null ||
    fail "a JSONL object lacks a field or has the wrong type"
[ "$(jq -r 'select(.id == 1000007) | .declared_party' "$work/a.jsonl")" = $'tab\tnew\nline' ] ||
    fail "JSONL does not carry the declared party intact"
[ "$(jq -r 'select(.id == 1000042) | .family_name' "$work/a.jsonl")" = "O'Brien, Jr" ] || fail "JSONL family_name"
# One object per line: jq reads the lines as they are, and each is compact.
! grep -q '": ' "$work/a.jsonl" || fail "JSONL is not compact"

# ---- usage and failures ----
expect_status 2 "$REGFS" export "$db" --format csv
grep -q "unknown format 'csv'" "$work/err" || fail "bad --format message: $(cat "$work/err")"
[ ! -s "$work/out" ] || fail "a usage error wrote to stdout"
expect_status 2 "$REGFS" export "$db" --format
expect_status 2 "$REGFS" export
expect_status 2 "$REGFS" export "$db" extra
expect_status 2 "$REGFS" export "$db" --frobnicate
expect_status 1 "$REGFS" export "$work/missing.db"
[ ! -e "$work/missing.db" ] || fail "export created the register it was asked to read"
expect_status 0 "$REGFS" export --help
grep -q 'tsv|jsonl' "$work/out" || fail "export --help lacks the formats"

# ---- log ----
events=$("$REGFS" verify "$db" | sed -n 's/^ok: \([0-9]*\) events.*/\1/p')
[ -n "$events" ] && [ "$events" -gt 53 ] || fail "verify counted '$events' events"
"$REGFS" log "$db" >"$work/log"
[ "$(wc -l <"$work/log")" -eq "$events" ] || fail "log has $(wc -l <"$work/log") lines, verify counts $events"
awk -F'\t' 'NF != 7 || $1 != NR { bad = 1; print "line " NR ": " $0 } END { exit bad }' "$work/log" >&2 ||
    fail "log lines are not seven fields in sequence"
# Each hash chains from its predecessor: the documented recipe with sha256sum holds.
prev=0000000000000000000000000000000000000000000000000000000000000000
while IFS= read -r line; do
    want=${line##*$'\t'}
    got=$(printf '%s\t%s' "$prev" "${line%$'\t'*}" | sha256sum | cut -d' ' -f1)
    [ "$got" = "$want" ] || fail "event ${line%%$'\t'*}: hash does not chain"
    prev=$want
done < <(head -5 "$work/log")
"$REGFS" log "$db" --applicant 1000042 >"$work/log42"
[ -s "$work/log42" ] || fail "no events for applicant 1000042"
awk -F'\t' '$5 != 1000042 { bad = 1 } END { exit bad }' "$work/log42" || fail "--applicant let in other events"
[ "$(awk -F'\t' '$5 == 1000042' "$work/log")" = "$(cat "$work/log42")" ] || fail "--applicant missed events"
[ "$("$REGFS" log "$db" --day 2026-11-24)" = "$(cat "$work/log")" ] || fail "--day 2026-11-24 lost events"
[ -z "$("$REGFS" log "$db" --day 2026-11-25)" ] || fail "--day 2026-11-25 found events"
[ -z "$("$REGFS" log "$db" --applicant 1000042 --day 2026-11-25)" ] || fail "--applicant with --day ignored the day"
[ "$("$REGFS" log "$db" --applicant 1000042 --day 2026-11-24)" = "$(cat "$work/log42")" ] ||
    fail "--applicant with --day 2026-11-24"
[ "$("$REGFS" log "$db" --from 10)" = "$(tail -n +10 "$work/log")" ] || fail "--from 10"
[ -z "$("$REGFS" log "$db" --from $((events + 1)))" ] || fail "--from past the end printed events"
expect_status 2 "$REGFS" log "$db" --day 2026-02-30
expect_status 2 "$REGFS" log "$db" --applicant x
expect_status 2 "$REGFS" log "$db" --applicant 0
expect_status 2 "$REGFS" log "$db" --from -1
expect_status 2 "$REGFS" log "$db" --from
expect_status 2 "$REGFS" log
expect_status 1 "$REGFS" log "$work/missing.db"
echo "test_export: ok"
