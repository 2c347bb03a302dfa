#!/usr/bin/env bash
# test_backup_cli.sh: proving the record with the real binary: `regfs keygen`, `regfs checkpoint`,
# `regfs verify --checkpoint`, `regfs backup` and `regfs restore`.  The log is attacked as someone
# with the file would attack it, through the sqlite3 shell with the append-only triggers dropped:
# bytes flipped one at a time, an event deleted, two swapped, the tail cut, an event rewritten and
# every hash after it recomputed, the whole chain recomputed to a new head.  Each time verify must
# exit 4 and name the first bad event or the violated checkpoint.  No FUSE needed.
source "$(dirname "$0")/cli.sh" || exit 1

mode_of() { stat -c %a "$1"; }

command -v sqlite3 >/dev/null ||
    { echo "FAIL: the sqlite3 shell is needed (scripts/install-deps)" >&2; exit 1; }

# The attacker's tool: recompute the hash of every event from SEQ on, in DB, as the format says.
recompute_from() {   # DB SEQ
    local db=$1 from=$2 prev line h seq
    if [ "$from" -gt 1 ]; then
        prev=$(sqlite3 "$db" "SELECT hash FROM audit WHERE seq = $((from - 1))")
    else
        prev=$(printf '%064d' 0)
    fi
    sqlite3 -separator "$(printf '\t')" "$db" \
        "SELECT seq, at, actor, action, applicant, detail FROM audit WHERE seq >= $from ORDER BY seq" |
    while IFS= read -r line; do
        h=$(printf '%s\t%s' "$prev" "$line" | sha256sum | cut -c 1-64)
        seq=${line%%$'\t'*}
        echo "UPDATE audit SET hash = '$h' WHERE seq = $seq;"
        prev=$h
    done > recompute.sql
    sqlite3 "$db" "DROP TRIGGER IF EXISTS audit_no_update; $(cat recompute.sql)" ||
        fail "could not recompute the chain of $db"
}

# ---- a register with a history ----
run 0 "$REGFS" init db || exit 1
for v in off on off on off on off; do
    run 0 "$REGFS" config db auto_exclude "$v" || exit 1
done

# ---- keys ----
run 0 "$REGFS" keygen ck.secret ck.public || exit 1
[ "$(mode_of ck.secret)" = 600 ] || fail "the secret key has mode $(mode_of ck.secret)"
case $(mode_of ck.public) in
    6[04][04]) ;;
    *) fail "the public key has mode $(mode_of ck.public)" ;;
esac
[ "$(sed -n 1p ck.secret)" = "regfs-ed25519-secret v1" ] || fail "secret key file: $(sed -n 1p ck.secret)"
[ "$(sed -n 1p ck.public)" = "regfs-ed25519-public v1" ] || fail "public key file: $(sed -n 1p ck.public)"
grep -qxE '[0-9a-f]{64}' ck.public || fail "public key file has no 64 hex digits"
[ "$(wc -l < ck.secret)" -eq 2 ] && [ "$(wc -l < ck.public)" -eq 2 ] || fail "key files are not two lines"
pub=$(sed -n 2p ck.public)
expect_in out "$pub"
sums=$(cat ck.secret ck.public | sha256sum)
run 1 "$REGFS" keygen ck.secret other.public
expect_in err "never overwritten"
run 1 "$REGFS" keygen other.secret ck.public
[ -e other.secret ] && fail "a refused keygen left other.secret behind"
[ -e other.public ] && fail "a refused keygen left other.public behind"
[ "$(cat ck.secret ck.public | sha256sum)" = "$sums" ] || fail "a refused keygen changed the keys"
run 2 "$REGFS" keygen only-one
run 0 "$REGFS" keygen other.secret other.public || exit 1

# ---- a checkpoint ----
run 0 "$REGFS" verify db || exit 1
head_seq=$(awk '{print $5}' out) head_hash=$(awk '{print $6}' out)
run 0 "$REGFS" checkpoint db --key ck.secret || exit 1
mv out cp.txt
[ -s err ] && fail "checkpoint wrote to stderr: $(cat err)"
[ "$(wc -l < cp.txt)" -eq 7 ] || fail "the statement is not 7 lines: $(cat cp.txt)"
[ "$(sed -n 1p cp.txt)" = "regfs checkpoint v1" ] || fail "statement line 1: $(sed -n 1p cp.txt)"
grep -qxE 'register: [0-9a-f]{32}' cp.txt || fail "no register line"
grep -qx "seq: $head_seq" cp.txt || fail "the statement does not state seq $head_seq"
grep -qx "hash: $head_hash" cp.txt || fail "the statement does not state the head's hash"
grep -qxE 'at: [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z' cp.txt || fail "no at line"
grep -qx "key: $pub" cp.txt || fail "the statement does not name the public key"
grep -qxE 'signature: [0-9a-f]{128}' cp.txt || fail "no signature line"
cps=$head_seq
# Recorded in the log.
run 0 "$REGFS" log db
last=$(tail -n 1 out)
[ "$(printf '%s' "$last" | cut -f 1)" = $((cps + 1)) ] || fail "the checkpoint's record is not event $((cps + 1))"
[ "$(printf '%s' "$last" | cut -f 4)" = audit.checkpoint ] || fail "last event: $last"
printf '%s' "$last" | cut -f 6 | grep -qF "\"seq\":$cps" || fail "the record does not state seq $cps"

run 0 "$REGFS" verify db --checkpoint cp.txt --pubkey ck.public
expect_in out "checkpoint cp.txt holds: event $cps $head_hash"
grep -q '^ok: ' out || fail "verify --checkpoint printed no ok line"
# The statement read from stdin, and given twice.
run 0 "$REGFS" verify db --checkpoint - --pubkey ck.public < cp.txt
run 0 "$REGFS" verify db --checkpoint cp.txt --checkpoint cp.txt --pubkey ck.public

# An auditor with openssl needs no regfs to check the signature (README.md ("Proving the record")).
if command -v openssl >/dev/null && command -v xxd >/dev/null; then
    head -n 6 cp.txt > signed.txt
    sed -n 's/^signature: //p' cp.txt | xxd -r -p > sig.bin
    { printf '302a300506032b6570032100'; sed -n 2p ck.public; } | xxd -r -p > pub.der
    run 0 openssl pkeyutl -verify -pubin -keyform DER -inkey pub.der -rawin -in signed.txt -sigfile sig.bin
    expect_in out "Signature Verified Successfully"
    sed -i "s/^seq: .*/seq: $((cps - 1))/" signed.txt
    run 1 openssl pkeyutl -verify -pubin -keyform DER -inkey pub.der -rawin -in signed.txt -sigfile sig.bin
else
    echo "openssl or xxd missing: the signature was not re-checked without regfs"
fi

# ... and the log's text copy against the checkpoint with verify-audit, as README.md ("Proving the record") shows.
VA=$REGFS_TOP/scripts/verify-audit
expect="$(sed -n 's/^seq: //p' cp.txt):$(sed -n 's/^hash: //p' cp.txt)"
"$REGFS" log db > audit.log
run 0 "$VA" --expect "$expect" audit.log
head -n $((cps - 1)) audit.log > audit-cut.log
run 1 "$VA" --expect "$expect" audit-cut.log
expect_in err "seq $cps is not in the log"

# The register moves on after the checkpoint.
for v in on off on; do
    run 0 "$REGFS" config db auto_exclude "$v" || exit 1
done
run 0 "$REGFS" verify db --checkpoint cp.txt --pubkey ck.public

# ---- the statement attacked ----
run 2 "$REGFS" verify db --checkpoint cp.txt
expect_in err "--pubkey"
run 2 "$REGFS" verify db --pubkey ck.public
run 4 "$REGFS" verify db --checkpoint cp.txt --pubkey other.public
expect_in err "checkpoint cp.txt is refused: signed by another key"
run 0 "$REGFS" checkpoint db --key other.secret || exit 1
mv out cp-other.txt
run 4 "$REGFS" verify db --checkpoint cp-other.txt --pubkey ck.public
expect_in err "signed by another key"
sed "s/^seq: .*/seq: $((cps - 1))/" cp.txt > cp-edited.txt
run 4 "$REGFS" verify db --checkpoint cp-edited.txt --pubkey ck.public
expect_in err "checkpoint cp-edited.txt is refused: the signature does not verify"
sed "s/^at: 2/at: 1/" cp.txt > cp-edited.txt
run 4 "$REGFS" verify db --checkpoint cp-edited.txt --pubkey ck.public
# One byte, anywhere in the signed lines.
len=$(head -n 6 cp.txt | wc -c)
for off in 0 7 30 60 100 150 $((len - 2)); do
    python3 -c '
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[int(sys.argv[2])] ^= 1
open(sys.argv[3], "wb").write(b)' cp.txt "$off" cp-byte.txt
    run 4 "$REGFS" verify db --checkpoint cp-byte.txt --pubkey ck.public
    expect_in err "checkpoint cp-byte.txt is refused"
done
run 1 "$REGFS" verify db --checkpoint no-such-file --pubkey ck.public
run 1 "$REGFS" verify db --checkpoint cp.txt --pubkey ck.secret
expect_in err "is a secret key"

# ---- the log attacked ----
# A clean, standalone copy of the register to attack, again and again.
run 0 "$REGFS" backup db clean.db || exit 1
attack() { rm -f att.db att.db-wal att.db-shm; cp clean.db att.db; sqlite3 att.db "$1" || fail "sqlite3: $1"; }
# An event well before the checkpoint: the first change of auto_exclude to off.
t=$(sqlite3 clean.db "SELECT min(seq) FROM audit WHERE detail LIKE '%\"new\":\"off\"%'")
[ -n "$t" ] && [ "$t" -lt $((cps - 2)) ] || { fail "no event to attack (t=$t)"; t=3; }

# The tail cut, from the checkpointed event on: the chain that is left holds, the checkpoint not.
attack "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq >= $cps"
run 0 "$REGFS" verify att.db
run 4 "$REGFS" verify att.db --checkpoint cp.txt --pubkey ck.public
expect_in err "checkpoint cp.txt (event $cps, signed"
expect_in err "is violated: the log ends at event $((cps - 1)), before event $cps"
expect_in err "removed from the log's tail"

# An event rewritten and every hash after it recomputed: a forged chain that checks in itself.
attack "DROP TRIGGER audit_no_update;
        UPDATE audit SET detail = replace(detail, '\"new\":\"off\"', '\"new\":\"on\"') WHERE seq = $t"
recompute_from att.db "$t"
run 0 "$REGFS" verify att.db
run 4 "$REGFS" verify att.db --checkpoint cp.txt --pubkey ck.public
expect_in err "checkpoint cp.txt (event $cps"
expect_in err "event $cps's hash differs"
expect_in err "the log was rewritten"

# The whole chain recomputed with a forged head, longer than the checkpoint's.
attack "DROP TRIGGER audit_no_update; UPDATE audit SET actor = 'mallory:1001';
        INSERT INTO audit SELECT seq + 1, at, actor, 'setting.set', '-', '{}', '' FROM audit
        WHERE seq = (SELECT max(seq) FROM audit)"
recompute_from att.db 1
run 0 "$REGFS" verify att.db
run 4 "$REGFS" verify att.db --checkpoint cp.txt --pubkey ck.public
expect_in err "event $cps's hash differs"

# One event deleted, two swapped: named, and the checkpoint after them violated.
attack "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = $t"
run 4 "$REGFS" verify att.db --checkpoint cp.txt --pubkey ck.public
expect_in err "audit chain broken at event $((t + 1))"
expect_in err "the chain is broken at event $((t + 1)), before event $cps"
attack "DROP TRIGGER audit_no_update;
        CREATE TEMP TABLE s AS SELECT * FROM audit WHERE seq IN ($t, $((t + 1)));
        UPDATE audit SET (at, actor, action, applicant, detail, hash) =
          (SELECT at, actor, action, applicant, detail, hash FROM s WHERE s.seq = $((2 * t + 1)) - audit.seq)
        WHERE seq IN ($t, $((t + 1)))"
run 4 "$REGFS" verify att.db --checkpoint cp.txt --pubkey ck.public
expect_in err "audit chain broken at event $t"
expect_in err "before event $cps"

# Every byte of one event, flipped in turn: each time the event and the checkpoint are named.
for col in at actor action applicant detail hash; do
    n=$(sqlite3 clean.db "SELECT length(CAST($col AS BLOB)) FROM audit WHERE seq = $t")
    for i in $(seq 1 "$n"); do
        attack "DROP TRIGGER audit_no_update;
                UPDATE audit SET $col = substr($col, 1, $i - 1)
                    || char((unicode(substr($col, $i, 1)) | 1) - (unicode(substr($col, $i, 1)) & 1))
                    || substr($col, $i + 1) WHERE seq = $t"
        if ! run 4 "$REGFS" verify att.db --checkpoint cp.txt --pubkey ck.public; then
            fail "byte $i of $col of event $t"
            continue
        fi
        grep -qF "audit chain broken at event $t:" err ||
            fail "byte $i of $col: the first bad event is not named: $(head -1 err)"
        grep -qF "checkpoint cp.txt (event $cps" err ||
            fail "byte $i of $col: the checkpoint is not named: $(cat err)"
    done
done
echo "flipped every byte of event $t, field by field"

# A broken chain is not signed.
attack "DROP TRIGGER audit_no_update; UPDATE audit SET actor = 'mallory:1001' WHERE seq = $t"
run 4 "$REGFS" checkpoint att.db --key ck.secret
expect_in err "refusing to sign a broken chain"
[ -s out ] && fail "a refused checkpoint printed a statement"
run 2 "$REGFS" checkpoint db
run 1 "$REGFS" checkpoint db --key no-such-key

# ---- backup and restore ----
run 0 "$REGFS" verify db || exit 1
live_ok=$(cat out)
run 0 "$REGFS" backup db bk.db || exit 1
expect_in out "bk.db: "
[ "$(mode_of bk.db)" = 600 ] || fail "the copy has mode $(mode_of bk.db)"
[ -e bk.db-wal ] && fail "the copy needs a -wal beside it"
[ "$(sqlite3 bk.db 'PRAGMA journal_mode')" = delete ] || fail "the copy is not in rollback-journal mode"
rm -f bk.db-wal bk.db-shm
run 0 "$REGFS" verify bk.db
[ "$(cat out)" = "$live_ok" ] || fail "the copy verifies as '$(cat out)', the register as '$live_ok'"
run 1 "$REGFS" backup db bk.db
expect_in err "exists"
run 0 "$REGFS" backup --force db bk.db
run 1 "$REGFS" backup --force db db
expect_in err "the register itself"
run 0 "$REGFS" verify db

# A backup taken while the register is written: whole and consistent.
( for v in on off on off on off on off on off; do "$REGFS" config db auto_exclude "$v" >/dev/null; done ) &
writer=$!
for i in 1 2 3; do
    run 0 "$REGFS" backup db busy-$i.db
    run 0 "$REGFS" verify busy-$i.db
done
wait "$writer"

# Round trip.
cp bk.db bk-pristine.db
run 0 "$REGFS" restore bk.db new.db || exit 1
expect_in out "new.db: restored from bk.db"
expect_in out "(register.restore)"
[ "$(mode_of new.db)" = 600 ] || fail "the restored register has mode $(mode_of new.db)"
cmp -s bk.db bk-pristine.db || fail "restoring changed the copy"
run 0 "$REGFS" verify new.db --checkpoint cp.txt --pubkey ck.public
expect_in out "checkpoint cp.txt holds"
run 0 "$REGFS" log new.db
tail -n 1 out | cut -f 4 | grep -qx register.restore || fail "the restore is not the last event"
run 0 "$REGFS" config new.db auto_exclude off    # a working register
run 0 "$REGFS" verify new.db

# Not over an existing register unless told.
run 1 "$REGFS" restore bk.db new.db
expect_in err "--force"
run 0 "$REGFS" restore --force bk.db new.db
expect_in out "replaced a register whose head was"

# Tampered copies are refused with exit 4, the register left as it was.
run 0 "$REGFS" verify new.db
before=$(cat out)
cp bk.db bad.db
sqlite3 bad.db "DROP TRIGGER audit_no_update; UPDATE audit SET detail = '{}' WHERE seq = $t" ||
    fail "sqlite3 could not tamper"
run 4 "$REGFS" restore --force bad.db new.db
expect_in err "audit event $t"
run 0 "$REGFS" verify new.db
[ "$(cat out)" = "$before" ] || fail "a refused restore changed the register"
run 4 "$REGFS" restore bad.db fresh.db
[ -e fresh.db ] && fail "a refused restore left fresh.db"

# Older than a head someone kept (audit/head's form, or SEQ:HASH from verify).
run 0 "$REGFS" config db auto_exclude off
run 0 "$REGFS" verify db
kept_seq=$(awk '{print $5}' out) kept_hash=$(awk '{print $6}' out)
run 4 "$REGFS" restore --expect-head "$kept_seq $kept_hash" bk.db older.db
expect_in err "expected head $kept_seq"
expect_in err "the copy is older than the expected head"
[ -e older.db ] && fail "an older copy was restored"
run 0 "$REGFS" backup db newer.db
run 0 "$REGFS" restore --expect-head "$kept_seq:$kept_hash" newer.db newer-restored.db
run 4 "$REGFS" restore --expect-head "$t:$kept_hash" newer.db older.db
expect_in err "the copy's log was rewritten"
run 2 "$REGFS" restore --expect-head "12:abc" bk.db older.db

# A damaged copy, and files that are not copies of a register.
cp bk.db torn.db
truncate -s $(( $(stat -c %s bk.db) / 2 )) torn.db
run 4 "$REGFS" restore torn.db torn-restored.db
expect_in err "damaged"
printf 'id,given_name\n1,Bill\n' > notadb.db
run 1 "$REGFS" restore notadb.db x.db
expect_in err "not an SQLite database"
: > empty.db
run 1 "$REGFS" restore empty.db x.db
[ -e x.db ] && fail "a file that is not a copy was restored"
run 2 "$REGFS" restore bk.db
ls -A | grep -E '^\.' && fail "temporary files were left behind"

if [ "$failures" -gt 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "ok"
