#!/usr/bin/env bash
# test_gen_register: scripts/gen-register writes what the vetting tests rely on.
#
# Generates a 3,000-applicant register twice with the same seed (under different Python hash
# seeds) and once with another seed, then checks the files: byte-identical for the same seed and
# different for another; row counts; exact headers; unique ids; valid dates; and that the ground
# truth is true: watch-listed applicants really resemble their watch-list entry and agree with it
# on a fact the list publishes, namesakes share a name but not the date of birth or postcode area,
# duplicates really repeat an earlier applicant, clean applicants never share a family name with a
# watch-listed person together with a date of birth, email or full postcode, and every applicant
# has a label.  Needs no mount.  Takes a second or two.
set -euo pipefail
top=${REGFS_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
gen=$top/scripts/gen-register
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

[ -x "$gen" ] || fail "$gen is not executable"
head -1 "$gen" | grep -qx '#!/usr/bin/env python3' || fail "gen-register lacks its #! line"

# --help is a manual page: it names every option and every file.
help=$("$gen" --help) || fail "--help exited non-zero"
for word in --size --watchlist --seed --out applicants.csv watchlist.csv truth.csv; do
    grep -q -- "$word" <<<"$help" || fail "--help does not mention $word"
done
# Bad arguments are refused with usage status 2 and write nothing.
set +e
"$gen" --size 0 --out "$work/bad" 2>/dev/null; rc=$?
set -e
[ $rc -eq 2 ] || fail "--size 0 exited $rc, not 2"
[ ! -e "$work/bad" ] || fail "--size 0 created its output directory"

PYTHONHASHSEED=1 "$gen" --size 3000 --seed 7 --out "$work/a" 2>"$work/a.err"
PYTHONHASHSEED=2 "$gen" --size 3000 --seed 7 --out "$work/b" 2>/dev/null
"$gen" --size 3000 --seed 8 --out "$work/c" 2>/dev/null
grep -q '^gen-register: 3000 applicants' "$work/a.err" || fail "no one-line summary on stderr: $(cat "$work/a.err")"
[ "$(wc -l <"$work/a.err")" -eq 1 ] || fail "summary is not one line"
for f in applicants.csv watchlist.csv truth.csv; do
    cmp -s "$work/a/$f" "$work/b/$f" || fail "$f differs between two runs with seed 7"
    ! cmp -s "$work/a/$f" "$work/c/$f" || fail "$f is the same for seeds 7 and 8"
    [ ! -e "$work/a/$f.tmp" ] || fail "$f.tmp left behind"
done
# A different size with the same seed is another register, not a prefix of this one.
"$gen" --size 2000 --seed 7 --out "$work/d" 2>/dev/null
[ "$(($(wc -l <"$work/d/applicants.csv") - 1))" -eq 2000 ] || fail "--size 2000 did not give 2000 rows"
# An explicit --watchlist is honoured.
"$gen" --size 1000 --watchlist 321 --seed 3 --out "$work/e" 2>/dev/null
[ "$(($(wc -l <"$work/e/watchlist.csv") - 1))" -eq 321 ] || fail "--watchlist 321 not honoured"

python3 - "$work/a" "$top/data/organisations.csv" <<'PY'
import csv, datetime, re, sys, unicodedata
from collections import Counter

out, orgs_path = sys.argv[1], sys.argv[2]
errors = []

def check(cond, msg):
    if not cond:
        errors.append(msg)
    return cond

def read(name):
    raw = open(f"{out}/{name}", "rb").read()
    check(b"\r" not in raw, f"{name}: has CR line ends")
    check(raw.endswith(b"\n"), f"{name}: last line unterminated")
    text = raw.decode("utf-8")          # raises on invalid UTF-8
    rows = list(csv.reader(text.splitlines(keepends=True)))
    return rows[0], rows[1:]

def fold(s):
    s = s.replace("Ł", "L").replace("ł", "l")
    s = "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))
    return "".join(c for c in s.lower() if c.isalnum() and c.isascii())

def tokens(s):
    return {fold(t) for t in re.split(r"[\s\-]+", s) if fold(t)}

def edits(a, b):
    """Levenshtein distance with adjacent transposition."""
    prev2, prev = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]

def close(a, b):
    fa, fb = fold(a), fold(b)
    return fa == fb or (tokens(a) & tokens(b)) or (fa and fb and edits(fa, fb) <= 2)

def given_close(a, b, note):
    fa, fb = fold(a.split()[0]) if a.split() else "", fold(b.split()[0]) if b.split() else ""
    if close(a, b) or (fa and fb and (len(fa) == 1 or len(fb) == 1) and fa[0] == fb[0]):
        return True
    if fa and fb and edits(fa, fb) <= 2:        # first names a slip apart, middle names aside
        return True
    return "nickname" in note or "full name" in note

def resembles(app, w, note):
    if close(app["family_name"], w["family_name"]) and given_close(app["given_name"], w["given_name"], note):
        return True
    return close(app["given_name"], w["family_name"]) and close(app["family_name"], w["given_name"])

def district(pc):
    return pc.upper().split()[0] if " " in pc else ""

def area(pc):
    return re.match(r"[A-Z]*", district(pc)).group(0)

def date_ok(s):
    try:
        return datetime.date.fromisoformat(s).isoformat() == s
    except ValueError:
        return False

# -- headers, counts, ids -----------------------------------------------------------------
ah, A = read("applicants.csv")
wh, W = read("watchlist.csv")
th, T = read("truth.csv")
check(ah == ["id", "given_name", "family_name", "date_of_birth", "email", "postcode", "clp", "kind",
             "joined_at", "declared_party", "aims_values"], f"applicants header {ah}")
check(wh == ["id", "given_name", "family_name", "date_of_birth", "email", "postcode", "organisation",
             "role", "source"], f"watchlist header {wh}")
check(th == ["id", "label", "watch_id", "note"], f"truth header {th}")
check(len(A) == 3000, f"{len(A)} applicants, not 3000")
check(len(W) == 200, f"{len(W)} watch-list entries, not max(200, 3000*20000//630000)")
check(all(len(r) == len(ah) for r in A), "an applicant row has the wrong number of fields")
check(all(len(r) == len(wh) for r in W), "a watch-list row has the wrong number of fields")
check(all(len(r) == len(th) for r in T), "a truth row has the wrong number of fields")
A = [dict(zip(ah, r)) for r in A]
W = [dict(zip(wh, r)) for r in W]
T = [dict(zip(th, r)) for r in T]
ids = [a["id"] for a in A]
check(all(re.fullmatch(r"[1-9][0-9]*", i) for i in ids), "an applicant id is not a positive integer")
check(len(set(ids)) == len(ids), "applicant ids are not unique")
check(int(ids[0]) >= 1000000, f"ids start at {ids[0]}, not near 1000000")
check(int(ids[-1]) - int(ids[0]) + 1 > len(ids), "applicant ids are contiguous")
wids = [w["id"] for w in W]
check(all(re.fullmatch(r"W[0-9]{5}", i) for i in wids) and len(set(wids)) == len(wids),
      "watch-list ids are not unique W00000-style ids")
check([t["id"] for t in T] == ids, "truth.csv does not label every applicant, in order")

# -- fields --------------------------------------------------------------------------------
kinds = Counter(a["kind"] for a in A)
check(set(kinds) == {"member", "registered_supporter", "affiliated_supporter"}, f"kinds {kinds}")
check(0.74 < kinds["member"] / 3000 < 0.84, f"member share {kinds['member'] / 3000:.3f}")
check(0.16 < kinds["registered_supporter"] / 3000 < 0.23, "registered supporter share")
check(0.01 < kinds["affiliated_supporter"] / 3000 < 0.05, "affiliated supporter share")
check({a["aims_values"] for a in A} == {"yes", "no"} or {a["aims_values"] for a in A} == {"yes"},
      "aims_values is not yes/no")
check(len({a["clp"] for a in A}) > 400, "too few constituencies used")
check(sum(1 for a in A if not a["date_of_birth"]) < 0.08 * 3000, "too many missing dates of birth")
pc_re = re.compile(r"[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][ABD-HJLNP-UW-Z]{2}")
bad_pc = sum(1 for a in A if not pc_re.fullmatch(a["postcode"]))
check(bad_pc < 0.02 * 3000, f"{bad_pc} malformed postcodes")
ref = datetime.date(2026, 7, 21)
surge = 0
for a in A:
    dob, joined = a["date_of_birth"], a["joined_at"]
    if dob and not check(date_ok(dob), f"{a['id']}: bad date_of_birth {dob!r}"):
        continue
    day = joined[:10]
    ok = date_ok(day) and (len(joined) == 10 or re.fullmatch(r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z", joined[10:]))
    if not check(ok, f"{a['id']}: bad joined_at {joined!r}"):
        continue
    check("1970-01-01" <= day <= "2026-07-21", f"{a['id']}: joined {day}")
    surge += "2026-06-24" <= day <= "2026-07-03"
    if dob:
        age = (ref - datetime.date.fromisoformat(dob)).days / 365.2425
        check(8 < age <= 96, f"{a['id']}: age {age:.1f}")
        age_at_join = (datetime.date.fromisoformat(day) - datetime.date.fromisoformat(dob)).days / 365.2425
        check(age_at_join > 8, f"{a['id']}: joined at age {age_at_join:.1f}")
check(abs(surge / 3000 - 128 / 630) < 0.01, f"surge share {surge / 3000:.3f}, not 128/630")
for w in W:
    check(not w["date_of_birth"] or date_ok(w["date_of_birth"]), f"{w['id']}: bad date_of_birth")
    check(w["role"] in {"councillor", "candidate", "officer", "member", "MP", "commentator", "activist"},
          f"{w['id']}: role {w['role']!r}")
    check(w["source"] != "", f"{w['id']}: no source")

# -- organisations ------------------------------------------------------------------------------
oh, O = None, []
with open(orgs_path, encoding="utf-8", newline="") as f:
    rows = list(csv.reader(f))
oh, O = rows[0], rows[1:]
check(oh == ["name", "aliases"], f"organisations header {oh}")
org_names = {r[0] for r in O}
alias_of = {}
for name, aliases in O:
    for a in [name] + [x for x in aliases.split("|") if x]:
        alias_of[fold(a)] = name
for forbidden in ("Labour", "Labour Party", "Co-operative Party", "Co-op Party"):
    check(fold(forbidden) not in alias_of, f"organisations.csv lists {forbidden}")
check({w["organisation"] for w in W} <= org_names, "a watch-list organisation is not in organisations.csv")

# -- ground truth ---------------------------------------------------------------------------
labels = Counter(t["label"] for t in T)
check(set(labels) <= {"clean", "watchlisted", "watchlisted_disguised", "declared", "namesake", "duplicate"},
      f"unknown labels {labels}")
for lab in ("watchlisted", "watchlisted_disguised", "declared", "namesake", "duplicate"):
    check(labels[lab] > 0, f"no {lab} applicants in 3000")
check(labels["clean"] > 0.95 * 3000, f"clean share {labels['clean']}")
by_wid = {w["id"]: w for w in W}
by_aid = {a["id"]: a for a in A}
pos = {a["id"]: i for i, a in enumerate(A)}
watch_fam_dob = {(fold(w["family_name"]), w["date_of_birth"]) for w in W if w["date_of_birth"]}
watch_fam_pc = {(fold(w["family_name"]), w["postcode"].upper()) for w in W if " " in w["postcode"]}
watch_emails = {w["email"].lower() for w in W if w["email"]}

def agreements(a, w):
    """The facts the watch list publishes that the applicant's form agrees with."""
    out = []
    if w["date_of_birth"] and a["date_of_birth"] == w["date_of_birth"]:
        out.append("dob")
    if w["email"] and a["email"].lower() == w["email"].lower():
        out.append("email")
    if " " in w["postcode"] and a["postcode"].upper() == w["postcode"].upper():
        out.append("postcode")
    if w["postcode"] and district(a["postcode"]) == w["postcode"].upper().split()[0]:
        out.append("district")
    return out

for t in T:
    a, lab, note = by_aid[t["id"]], t["label"], t["note"]
    where = f"{t['id']} ({lab})"
    if lab in ("watchlisted", "watchlisted_disguised", "namesake"):
        w = by_wid.get(t["watch_id"])
        if not check(w is not None, f"{where}: watch_id {t['watch_id']!r} is not on the watch list"):
            continue
        check(resembles(a, w, note), f"{where}: {a['given_name']} {a['family_name']} does not resemble "
                                     f"{w['given_name']} {w['family_name']} ({note})")
    if lab == "watchlisted":
        check(fold(a["given_name"]) == fold(w["given_name"]) and fold(a["family_name"]) == fold(w["family_name"]),
              f"{where}: own name {a['given_name']} {a['family_name']} is not {w['given_name']} {w['family_name']}")
        agree = agreements(a, w)
        check(agree, f"{where}: agrees with {w['id']} on nothing the list publishes")
        check(not (w["date_of_birth"] and a["date_of_birth"] and "dob" not in agree), f"{where}: dob contradicts")
        check(not (w["postcode"] and "district" not in agree), f"{where}: postcode contradicts")
    elif lab == "watchlisted_disguised":
        check(a["given_name"] != w["given_name"] or a["family_name"] != w["family_name"],
              f"{where}: not disguised at all")
        agree = agreements(a, w)
        strong = [f for f in agree if f != "district"]
        check(strong or ("only postcode district" in note and "district" in agree),
              f"{where}: no corroborating fact agrees with {w['id']} ({note}; agrees: {agree})")
        for fact in ("dob", "email", "postcode"):
            if re.search(r"kept [^;]*\b" + fact, note):
                check(fact in agree, f"{where}: note says {fact} kept but it differs")
    elif lab == "namesake":
        check(not (w["date_of_birth"] and a["date_of_birth"] == w["date_of_birth"]), f"{where}: same dob as {w['id']}")
        check(not (w["email"] and a["email"].lower() == w["email"].lower()), f"{where}: same email as {w['id']}")
        if w["postcode"] and pc_re.fullmatch(a["postcode"]):
            check(area(a["postcode"]) != re.match(r"[A-Z]*", w["postcode"].upper()).group(0),
                  f"{where}: postcode {a['postcode']} in the same area as {w['id']}'s {w['postcode']}")
    elif lab == "duplicate":
        o = by_aid.get(t["watch_id"])
        if check(o is not None and pos[o["id"]] < pos[a["id"]], f"{where}: {t['watch_id']} is not an earlier applicant"):
            same_email = a["email"] and a["email"].lower() == o["email"].lower()
            same_person = (fold(a["given_name"]) == fold(o["given_name"]) and fold(a["family_name"]) == fold(o["family_name"])
                           and a["date_of_birth"] and a["date_of_birth"] == o["date_of_birth"])
            check(same_email or same_person, f"{where}: neither the email nor name and dob of {o['id']}")
    elif lab == "declared":
        m = re.match(r"declared (.*) \((.*)\)", note)
        if check(m and m.group(2) in org_names and a["declared_party"], f"{where}: note {note!r}"):
            check(a["declared_party"] == m.group(1), f"{where}: declared_party differs from note")
    if lab in ("clean", "declared", "namesake"):
        fam = fold(a["family_name"])
        check(not (a["date_of_birth"] and (fam, a["date_of_birth"]) in watch_fam_dob),
              f"{where}: shares family name and dob with a watch-listed person")
        check((fam, a["postcode"].upper()) not in watch_fam_pc,
              f"{where}: shares family name and full postcode with a watch-listed person")
        check(a["email"].lower() not in watch_emails, f"{where}: uses a watch-listed person's email")
    if lab == "clean":
        check(a["declared_party"] == "" or fold(a["declared_party"]) not in alias_of,
              f"{where}: declared {a['declared_party']!r}, an organisation on the list")

declared_known = [a for a, t in zip(A, T) if t["label"] == "declared" and fold(a["declared_party"]) in alias_of]
check(len(declared_known) >= 0.8 * labels["declared"], "most declared parties are not names or aliases in organisations.csv")
check(sum(1 for t in T if "under minimum age" in t["note"]) >= 1, "nobody under the minimum age")

if errors:
    print(f"{len(errors)} problems:", *errors[:40], sep="\n  ")
    sys.exit(1)
print(f"gen-register output ok: {dict(labels)}")
PY
echo "test_gen_register: ok"
