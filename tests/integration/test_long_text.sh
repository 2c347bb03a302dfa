#!/usr/bin/env bash
# Text at the import's length limits (200 bytes a name), in Cyrillic, Welsh and emoji, where the
# rules quote and cut it: watch-list entries whose names, organisations and roles are as long as
# the import allows, applicants with those names, and declared parties of 200 bytes.  The rules cut
# such text to fit their messages; a cut that split a character once left every record.json of
# 60 applicants in 80 failing with EIO ("stored reasons are not a JSON array").  After `regfs vet
# all`, every applicant's record.json, register.jsonl and `regfs export --format jsonl` must parse
# with jq, and every reason must be whole UTF-8 (iconv).
source "$(dirname "$0")/lib.sh" || exit 1   # without it $T and $MNT are empty: never run on

"$REGFS" init "$DB" >/dev/null
python3 - "$T" <<'EOF'
import random, sys
random.seed(42)
letters = "абвгдежзийклмнопрстуфхцчшщыэюяŵŷâêîôûéàü😀"
def text(nbytes):   # as many letters as fit in nbytes
    s = ""
    while True:
        c = random.choice(letters)
        if len((s + c).encode()) > nbytes:
            return s
        s += c
people = []
with open(sys.argv[1] + "/watch.csv", "w") as f:
    f.write("id,given_name,family_name,date_of_birth,email,postcode,organisation,role,source\n")
    for i in range(40):
        g, fam = text(random.choice([5, 60, 199, 200])), text(random.choice([5, 100, 200]))
        f.write(f'W{i:05d},"{g}","{fam}",1980-01-{i % 28 + 1:02d},,BS6 5AB,"{text(200)}","{text(200)}",test\n')
        people.append((g, fam, i))
with open(sys.argv[1] + "/applicants.csv", "w") as f:
    f.write("id,given_name,family_name,date_of_birth,email,postcode,clp,kind,joined_at,declared_party,aims_values\n")
    for k, (g, fam, i) in enumerate(people):
        f.write(f'{1000 + k},"{g}","{fam}",1980-01-{i % 28 + 1:02d},,BS6 5AB,"{text(200)}",member,2026-07-01,"{text(200)}",yes\n')
        f.write(f'{2000 + k},"{g}","{fam}",,,,"{text(200)}",member,2026-07-01,"{text(199)}",no\n')
EOF
"$REGFS" import "$DB" watchlist "$T/watch.csv" >/dev/null || fail "the watch list did not import"
"$REGFS" import "$DB" applicants "$T/applicants.csv" >/dev/null || fail "the applicants did not import"
"$REGFS" vet "$DB" all >"$T/vet" 2>&1 || fail "regfs vet all: $(cat "$T/vet")"
grep -q 'vetted 80 applicants' "$T/vet" || fail "regfs vet all: $(cat "$T/vet")"

"$REGFS" export "$DB" --format jsonl >"$T/export.jsonl" 2>"$T/err" || fail "regfs export: $(cat "$T/err")"
assert_eq 80 "$(jq -c .id "$T/export.jsonl" | wc -l)" "applicants in regfs export --format jsonl"
jq -r '.reasons[] | .reason, (.evidence // "")' "$T/export.jsonl" | iconv -f UTF-8 -t UTF-8 >/dev/null ||
    fail "a reason is not UTF-8"
# Somewhere the rules had to cut: a reason that quotes a watch-listed person in full is longer
# than the rules' buffers.
[ "$(jq -r '.reasons[] | select(.rule == "watch-list") | .reason' "$T/export.jsonl" | wc -l)" -gt 0 ] ||
    fail "no watch-list reason: the test does not reach the cuts it is about"

mount_register
bad=0
for f in "$MNT"/applicants/*/record.json; do
    jq -e .reasons "$f" >/dev/null 2>"$T/jq" || { bad=$((bad + 1)); echo "$f: $(cat "$T/jq")" >&2; }
done
assert_eq 0 "$bad" "applicants whose record.json does not parse"
assert_eq 80 "$(jq -c .id "$MNT/register.jsonl" | wc -l)" "applicants in register.jsonl"
unmount_register
"$REGFS" verify "$DB" >/dev/null || fail "regfs verify"
echo "ok"
