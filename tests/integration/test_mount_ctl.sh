#!/usr/bin/env bash
# The ctl files: decisions that show in the next read and in the verdict folders, jobs with live
# progress, bad writes refused with EINVAL and nothing changed but one ctl.refused event, writes
# anywhere else refused, and a change made by another process showing up on its own.
source "$(dirname "$0")/lib.sh" || exit 1   # without it $T and $MNT are empty: never run on

make_register 2000
mount_register
cd "$MNT"

id=$(ls verdicts/review | sed -n 1p)
[ -n "$id" ] || fail "nobody to review"
app=applicants/$id

note "a decision shows in the next read, in the verdict folders and in the log"
h0=$(audit_head)
excluded0=$(awk '/^excluded:/ {print $2}' stats)
echo "exclude member of another party, per the CLP's report" >"$app/ctl" || fail "the exclude was refused"
grep -q '^excluded rule=manual .*by=root:0' "$app/verdict" || fail "verdict after exclude: $(cat "$app/verdict")"
[ -L "verdicts/excluded/$id" ] || fail "verdicts/excluded/$id is missing"
[ ! -e "verdicts/review/$id" ] || fail "verdicts/review/$id is still there"
ls verdicts/excluded | grep -qx "$id" || fail "ls verdicts/excluded does not list $id"
! ls verdicts/review | grep -qx "$id" || fail "ls verdicts/review still lists $id"
assert_eq $((h0 + 1)) "$(audit_head)" "audit head after one decision"
tail -n 1 audit/log | awk -F'\t' -v id="$id" '$3 == "root:0" && $4 == "verdict.manual" && $5 == id' | grep -q . ||
    fail "the last event is not root's decision on $id: $(tail -n 1 audit/log)"
tail -n 1 "$app/history" | grep -q 'verdict.manual' || fail "the history does not show the decision"
grep -q 'per the CLP' "$app/summary" "$app/record.json" || fail "the reason is not shown"
awk -F'\t' -v id="$id" '$1 == id { print $12 }' register.tsv | grep -qx excluded || fail "register.tsv does not show the exclusion"
assert_eq $((excluded0 + 1)) "$(awk '/^excluded:/ {print $2}' stats)" "excluded in stats"
cmp <("$REGFS" export "$DB") register.tsv || fail "register.tsv differs from regfs export after a change"
cmp <("$REGFS" log "$DB") audit/log || fail "audit/log differs from regfs log after a change"

note "release hands it back to the rules; a note is evidence"
echo release >"$app/ctl" || fail "release was refused"
! grep -q 'rule=manual' "$app/verdict" || fail "still a manual verdict after release: $(cat "$app/verdict")"
echo "note said on a public forum that they support another party" >"$app/ctl" || fail "the note was refused"
grep -q 'public forum' "$app/record.json" || fail "the note is not in record.json"
jq -e . "$app/record.json" >/dev/null || fail "record.json is not JSON"
# The rules quote the newest note up to 200 bytes; byte 200 here is inside an e-acute.
echo "note $(printf 'b%.0s' $(seq 199))éé and so on" >"$app/ctl" || fail "the long note was refused"
jq -e '.reasons[] | select(.rule == "aims-and-values") | .reason | test("b\"; only")' \
    "$app/record.json" >/dev/null || fail "the long note's quote: $(head -c 600 "$app/record.json")"

note "bad writes fail with EINVAL and change nothing but one ctl.refused event"
before=$(md5sum <register.tsv)
verdict_before=$(cat "$app/verdict")
# One write(2) of printf's output to PATH (the shell's printf may write a line at a time).
write_once() {   # PATH PRINTF-FORMAT [ARGS]
    local path=$1
    shift
    printf "$@" | dd of="$path" bs=1M iflag=fullblock status=none
}
refused() {   # PATH PRINTF-FORMAT [ARGS]: the write must fail with EINVAL and be audited
    local path=$1 h err
    shift
    h=$(audit_head)
    if write_once "$path" "$@" 2>"$T/err"; then
        fail "the write of $(printf "$@" | head -c 60 | od -c | head -n 2) to $path succeeded"
    fi
    grep -q 'Invalid argument' "$T/err" || fail "writing to $path: $(cat "$T/err")"
    assert_eq $((h + 1)) "$(audit_head)" "audit head after a refused write to $path"
    tail -n 1 audit/log | awk -F'\t' '$3 == "root:0" && $4 == "ctl.refused"' | grep -q . ||
        fail "the refusal is not the last event: $(tail -n 1 audit/log | cut -c1-200)"
}
refused "$app/ctl" 'frobnicate\n'
refused "$app/ctl" 'approve\n'
refused "$app/ctl" 'approve    \n'
refused "$app/ctl" 'exclude\n'
refused "$app/ctl" 'refer\n'
refused "$app/ctl" 'note\n'
refused "$app/ctl" 'revet now\n'
refused "$app/ctl" '\n'
refused "$app/ctl" 'approve looks fine\nfrobnicate\n'
refused "$app/ctl" 'approve \xff\xfe\n'
tail -n 1 audit/log | grep -qF '\\xff\\xfe' || fail "the refused bytes are not recorded escaped"
# The error quotes an unknown command up to 64 bytes; byte 64 here is inside an e-acute.
refused "$app/ctl" "$(printf 'c%.0s' $(seq 63))éé\n"
tail -n 1 audit/log | grep -qF "unknown command '$(printf 'c%.0s' $(seq 63))'" ||
    fail "the refusal does not quote the command's whole characters: $(tail -n 1 audit/log | cut -c1-300)"
refused ctl 'revet 1\n'
refused ctl "revet $id 12345\\n"
refused ctl 'revet\n'
refused ctl 'revet clp no-such-clp\n'
refused ctl 'revet verdict maybe\n'
refused ctl 'revet joined 2016-02-30\n'
refused ctl 'cancel 999\n'
refused ctl 'cancel 1\n'
refused ctl 'revet all\napprove everything\n'
refused ctl "%s" "$(head -c 70000 /dev/zero | tr '\0' 'a')"
tail -n 1 audit/log | grep -q '"bytes":70000' || fail "the oversized write's size is not recorded"
note "checkpoint without -o checkpoint_key is refused, saying how to give one"
refused ctl 'checkpoint\n'
tail -n 1 audit/log | grep -qF 'no checkpoint key: mount with -o checkpoint_key=PATH' ||
    fail "the refusal does not give the reason: $(tail -n 1 audit/log | cut -c1-200)"
assert_eq "" "$(ls audit/checkpoints)" "audit/checkpoints after a refused checkpoint"
refused ctl 'checkpoint now\n'
assert_eq "$before" "$(md5sum <register.tsv)" "register.tsv after refused writes"
assert_eq "$verdict_before" "$(cat "$app/verdict")" "the verdict after refused writes"
assert_eq 1 "$(ls jobs | wc -l)" "jobs after refused writes"

note "writes anywhere else are refused"
no_write() {   # DESCRIPTION EXPECTED-ERROR COMMAND...
    local what=$1 want=$2
    shift 2
    if "$@" 2>"$T/err"; then fail "$what succeeded"; fi
    grep -q "$want" "$T/err" || fail "$what: $(cat "$T/err")"
}
no_write "writing a summary" "Permission denied" sh -c "echo x > '$app/summary'"
no_write "appending to the log" "Permission denied" sh -c "echo x >> audit/log"
no_write "creating a file" "Permission denied" sh -c "echo x > newfile"
no_write "mkdir" "Permission denied" mkdir applicants/new
no_write "rm" "Permission denied" rm -f "$app/verdict"
no_write "rmdir" "Permission denied" rmdir jobs
no_write "mv" "Permission denied" mv "$app/summary" "$app/summary2"
no_write "ln -s" "Permission denied" ln -s x "$app/link"
no_write "ln" "Permission denied" ln "$app/summary" "$app/hard"
no_write "touch" "Permission denied" touch "$app/summary"
no_write "truncate" "Permission denied" truncate -s 0 "$app/summary"
no_write "chmod" "Operation not permitted" chmod 666 "$app/summary"
[ -s "$app/summary" ] || fail "the summary is gone"

note "a re-vet runs as a job with its progress under jobs/"
echo "revet all" >ctl || fail "revet all was refused"
job=$(ls jobs | sort -n | tail -n 1)
[ "$job" != 1 ] || fail "no new job"
grep -q '^scope: all' "jobs/$job" || fail "jobs/$job: $(cat "jobs/$job")"
wait_for "grep -q '^state: done' jobs/$job" 20 || fail "the job did not finish: $(cat "jobs/$job")"
grep -q '^done: 2000' "jobs/$job" || fail "the job did not do everyone: $(cat "jobs/$job")"
grep -q '^requested_by: root:0' "jobs/$job" || fail "the job does not say who asked"
refused ctl "cancel $job\\n"
clp=$(ls clps | sed -n 1p)
n_clp=$(ls "clps/$clp" | wc -l)
day=$(ls joined | sed -n 1p)
write_once ctl 'revet clp %s\nrevet joined %s %s\nrevet pending\nrevet verdict review\nrevet %s\n' \
    "$clp" "$day" "$day" "$id" || fail "a batch of revets was refused"
assert_eq $((job + 5)) "$(ls jobs | wc -l)" "jobs after a batch of five revets"
clp_job=$((job + 1))
wait_for "grep -q '^state: done' jobs/$clp_job" 20 || fail "the CLP job did not finish"
grep -q "^total: $n_clp\$" "jobs/$clp_job" || fail "the CLP job's total is not the CLP's size ($n_clp): $(cat "jobs/$clp_job")"

wait_for "! grep -qx 'state: \(queued\|running\)' jobs/*" 30 || fail "the jobs did not all finish"

note "changes made by another process show up by themselves"
auto=$(comm -12 <(ls verdicts/excluded | sort) <(grep -l 'excluded rule=[a-z-]*' applicants/*/verdict |
    grep -v manual | cut -d/ -f2 | sort) | sed -n 1p)
[ -n "$auto" ] || fail "no automatic exclusion to undo"
ls -l "verdicts/excluded/$auto" "applicants/$auto/verdict" >/dev/null   # the kernel now holds both
h=$(audit_head)
"$REGFS" config "$DB" auto_exclude off >/dev/null || fail "regfs config failed"
wait_for '[ "$(audit_head)" -gt "$h" ]' 5 || fail "audit/head did not follow another process's change"
tail -n 1 audit/log | grep -q 'setting.set' || fail "the last event is not the setting: $(tail -n 1 audit/log | cut -c1-120)"
wait_for 'cmp -s <("$REGFS" stats "$DB") stats' 5 || fail "stats did not follow another process's change"
"$REGFS" vet --quiet "$DB" all >/dev/null 2>&1 || fail "regfs vet all failed"
# The first open after another process's change waits for the kernel to be told of it.
cmp <("$REGFS" export "$DB") register.tsv || fail "register.tsv did not follow regfs vet"
grep -q '^review' "applicants/$auto/verdict" || fail "$auto's verdict did not follow regfs vet: $(cat "applicants/$auto/verdict")"
assert_eq "$(stat -c %s "applicants/$auto/verdict")" "$(wc -c <"applicants/$auto/verdict")" "the verdict's size"
[ ! -e "verdicts/excluded/$auto" ] || fail "verdicts/excluded/$auto is still there after regfs vet"
[ -L "verdicts/review/$auto" ] || fail "verdicts/review/$auto is missing after regfs vet"
cmp <("$REGFS" log "$DB") audit/log || fail "audit/log did not follow another process's changes"

unmount_register

note "-o checkpoint_key: checked at mount, then echo checkpoint > ctl signs the head"
"$REGFS" keygen "$T/secret" "$T/public" >/dev/null || fail "regfs keygen failed"
mount_fails() {   # WANT-STATUS WANT-MESSAGE OPTION
    local rc=0
    "$REGFS" mount "$DB" "$MNT" -f -o "$3" >"$T/mount.err" 2>&1 || rc=$?
    assert_eq "$1" "$rc" "regfs mount -o $3's status"
    grep -q "$2" "$T/mount.err" || fail "regfs mount -o $3 said: $(cat "$T/mount.err")"
    ! mountpoint -q "$MNT" || fail "mounted with -o $3"
}
mount_fails 1 "No such file" "checkpoint_key=$T/no-such-key"
mount_fails 2 "needs the secret key file" "checkpoint_key="
chmod 640 "$T/secret"
mount_fails 1 "open to others (mode 0640)" "checkpoint_key=$T/secret"
chmod 600 "$T/secret"
mount_register -o "checkpoint_key=$T/secret"
cd "$MNT"
h=$(audit_head)
echo checkpoint >ctl || fail "the checkpoint was refused: $(tail -n 1 audit/log | cut -c1-200)"
assert_eq "$h" "$(ls audit/checkpoints)" "audit/checkpoints after a checkpoint of head $h"
assert_eq $((h + 1)) "$(audit_head)" "audit head after a checkpoint"
tail -n 1 audit/log | awk -F'\t' '$3 == "root:0" && $4 == "audit.checkpoint"' | grep -q . ||
    fail "the last event is not the checkpoint: $(tail -n 1 audit/log | cut -c1-200)"
grep -qx "seq: $h" "audit/checkpoints/$h" || fail "the statement: $(cat "audit/checkpoints/$h")"
cp "audit/checkpoints/$h" "$T/statement"
"$REGFS" verify "$DB" --checkpoint "$T/statement" --pubkey "$T/public" >"$T/verify.out" ||
    fail "regfs verify --checkpoint failed: $(cat "$T/verify.out")"
grep -q "holds: event $h " "$T/verify.out" || fail "regfs verify said: $(cat "$T/verify.out")"
# The key is read at each checkpoint: one opened up since the mount is refused then.
chmod 644 "$T/secret"
h=$(audit_head)
if echo checkpoint >ctl 2>"$T/err"; then fail "a checkpoint with a key open to others succeeded"; fi
assert_eq $((h + 1)) "$(audit_head)" "audit head after a refused checkpoint"
tail -n 1 audit/log | grep -q 'ctl.refused.*open to others' ||
    fail "the refusal does not say why: $(tail -n 1 audit/log | cut -c1-200)"
assert_eq 1 "$(ls audit/checkpoints | wc -l)" "checkpoints after a refused one"
chmod 600 "$T/secret"
unmount_register
echo "ok"
