#!/usr/bin/env bash
# The wrong users, as real users: a group and three users made for this test (groupadd, useradd;
# removed at exit whatever happens), the register mounted with -o allow_other,group=GROUP.
#   - an outsider can neither list, read nor write anything;
#   - a member (by primary group, or by a supplementary group alone: the kernel checks modes with
#     the caller's groups, as it does on any disk) reads everything and writes only ctl files:
#     every other way of changing the tree is refused and leaves no trace;
#   - each member's ctl writes are audited, and shown, as that user: name:uid.
source "$(dirname "$0")/lib.sh" || exit 1   # without it $T and $MNT are empty: never run on

command -v useradd >/dev/null && command -v groupadd >/dev/null || fail "useradd and groupadd are needed"
tag=rgt$$
group=${tag}g
member=${tag}m       # primary group: $group
extra=${tag}s        # primary group: its own; $group only as a supplementary group
outsider=${tag}o
made=()
remove_users() {
    local u
    for u in "${made[@]}"; do
        case $u in
        group:*) groupdel "${u#group:}" 2>/dev/null || true ;;
        *) userdel "$u" 2>/dev/null || true ;;
        esac
    done
}
trap 'rc=$?; set +e; remove_users; (exit $rc); cleanup' EXIT
groupadd "$group" || fail "groupadd $group"
made=("group:$group")
useradd -M -N -g "$group" -s /usr/sbin/nologin "$member" || fail "useradd $member"
made=("$member" "${made[@]}")
useradd -M -U -G "$group" -s /usr/sbin/nologin "$extra" || fail "useradd $extra"
made=("$extra" "group:$extra" "${made[@]}")
useradd -M -U -s /usr/sbin/nologin "$outsider" || fail "useradd $outsider"
made=("$outsider" "group:$outsider" "${made[@]}")
gid=$(getent group "$group" | cut -d: -f3)
[ "$(id -gn "$member")" = "$group" ] || fail "$member's primary group is $(id -gn "$member")"
[ "$(id -gn "$extra")" != "$group" ] && id -Gn "$extra" | grep -qw "$group" ||
    fail "$extra should have $group as a supplementary group only: $(id "$extra")"
# Runs a command as USER with that user's own groups (initgroups), as a login would.
as() {   # USER COMMAND...
    local u=$1; shift
    setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups "$@"
}

make_register 300
mount_register -o allow_other,group=$group
cd "$MNT"
ids=($(ls applicants | sed -n '1,3p'))
id=${ids[0]}
assert_eq "dr-xr-x--- $group" "$(stat -c '%A %G' .)" "the root folder"

note "an outsider can neither list, read nor write"
h=$(audit_head)
for f in . applicants "applicants/$id" verdicts/review audit jobs; do
    if as "$outsider" ls "$MNT/$f" >/dev/null 2>"$T/err"; then fail "$outsider listed $f"; fi
    grep -q 'Permission denied' "$T/err" || fail "$outsider listing $f: $(cat "$T/err")"
done
for f in README stats register.tsv register.jsonl "applicants/$id/summary" "applicants/$id/record.json" \
         audit/log audit/head snapshot/register.db; do
    if as "$outsider" cat "$MNT/$f" >/dev/null 2>"$T/err"; then fail "$outsider read $f"; fi
    grep -q 'Permission denied' "$T/err" || fail "$outsider reading $f: $(cat "$T/err")"
done
for f in ctl "applicants/$id/ctl"; do
    if as "$outsider" sh -c "echo 'note from an outsider' > '$MNT/$f'" 2>"$T/err"; then
        fail "$outsider wrote $f"
    fi
    grep -q 'Permission denied' "$T/err" || fail "$outsider writing $f: $(cat "$T/err")"
done
if as "$outsider" stat "$MNT/applicants/$id/summary" >/dev/null 2>&1; then fail "$outsider stat'ed a summary"; fi
assert_eq "$h" "$(audit_head)" "the audit head after the outsider's attempts"

for u in "$member" "$extra"; do
    uid=$(id -u "$u")
    note "$u (uid $uid, $([ "$u" = "$member" ] && echo "primary group" || echo "supplementary group")) reads everything"
    as "$u" ls -lR "$MNT" >"$T/lsR" 2>"$T/err" || fail "$u: ls -lR: $(sed -n 1,5p "$T/err")"
    [ "$(grep -c '^-r--r-----.* summary$' "$T/lsR")" = 300 ] || fail "$u: ls -lR does not show 300 summaries"
    for f in README stats register.tsv register.jsonl audit/log audit/head \
             "applicants/$id/summary" "applicants/$id/record.json" "applicants/$id/verdict" \
             "applicants/$id/history"; do
        as "$u" cat "$MNT/$f" | cmp -s - "$f" || fail "$u reads $f differently from the mounting user"
    done
    # A copy of personal data is kept private (regfs refuses a register others may read).
    (umask 077; as "$u" cat "$MNT/snapshot/register.db" >"$T/snap.db") || fail "$u cannot read snapshot/register.db"
    "$REGFS" verify "$T/snap.db" >/dev/null 2>&1 || fail "$u's copy of snapshot/register.db does not verify"
    [ "$(as "$u" grep -rl --include=verdict . "$MNT/applicants" | wc -l)" = 300 ] ||
        fail "$u: grep -r over applicants/ did not read 300 verdicts"
    # A backup of the whole tree by a member reads every file, ctl files included (they are empty).
    as "$u" tar -C "$MNT" -cf - . 2>"$T/err" | tar -tvf - >"$T/tarlist" || fail "$u: tar of the mount: $(sed -n 1,3p "$T/err")"
    [ ! -s "$T/err" ] || fail "$u: tar of the mount complained: $(sed -n 1,3p "$T/err")"
    [ "$(grep -c '/ctl$' "$T/tarlist")" = 301 ] || fail "$u: tar did not take the 301 ctl files"

    note "$u writes nothing but ctl files"
    h=$(audit_head)
    before=$(cat "applicants/$id/summary")
    d=$MNT/applicants/$id
    refused() {   # WHAT COMMAND...
        local what=$1; shift
        if as "$u" "$@" >/dev/null 2>"$T/err"; then fail "$u could $what"; fi
        grep -q 'Permission denied\|Operation not permitted\|Operation not supported' "$T/err" ||
            fail "$u trying to $what: $(cat "$T/err")"
    }
    refused "write a summary" sh -c "echo x > '$d/summary'"
    refused "append to a summary" sh -c "echo x >> '$d/summary'"
    refused "truncate a summary" truncate -s 0 "$d/summary"
    refused "truncate a ctl file to a size" truncate -s 5 "$d/ctl"
    refused "create a file" touch "$d/new"
    refused "create a file at the top" sh -c "echo x > '$MNT/new'"
    refused "remove a summary" rm -f "$d/summary"
    refused "remove a ctl file" rm -f "$d/ctl"
    refused "rename a summary" mv "$d/summary" "$d/summary2"
    refused "rename a ctl file" mv "$d/ctl" "$d/ctl2"
    refused "move an applicant's folder" mv "$d" "$MNT/applicants/x"
    refused "chmod a summary" chmod 666 "$d/summary"
    refused "chmod a ctl file" chmod 666 "$d/ctl"
    refused "chmod a folder" chmod 777 "$d"
    refused "chgrp a summary" chgrp "$(id -g "$u")" "$d/summary"
    refused "set a summary's times" touch -d 2001-01-01 "$d/summary"
    refused "make a folder" mkdir "$d/sub"
    refused "remove a folder" rmdir "$d"
    refused "make a symlink" ln -s summary "$d/link"
    refused "make a hard link" ln "$d/summary" "$d/link"
    refused "make a fifo" mkfifo "$d/fifo"
    for f in summary ctl .; do
        refused "set an xattr on $f" python3 -c "import os, sys; os.setxattr(sys.argv[1], 'user.x', b'1')" "$d/$f"
    done
    assert_eq "$h" "$(audit_head)" "the audit head after $u's refused changes"
    assert_eq "$before" "$(cat "applicants/$id/summary")" "the summary after $u's refused changes"
    [ -z "$(ls -A "$d" | grep -vx 'summary\|record.json\|verdict\|history\|ctl')" ] || fail "$d: $(ls -A "$d")"

    note "$u's ctl writes are recorded as $u:$uid"
    as "$u" sh -c "echo 'note seen by $u [$u-note]' > '$d/ctl'" || fail "$u cannot write a note"
    as "$u" sh -c "echo 'refer $u wants a second look [$u-refer]' > '$MNT/applicants/${ids[1]}/ctl'" ||
        fail "$u cannot refer"
    if as "$u" sh -c "echo 'approve' > '$MNT/applicants/${ids[2]}/ctl'" 2>"$T/err"; then
        fail "$u: an approval without a reason was accepted"
    fi
    as "$u" sh -c "echo 'revet all' > '$MNT/ctl'" || fail "$u cannot write the register's ctl"
    job=$(ls jobs | sort -n | tail -n 1)
    wait_for "grep -q '^state: done' jobs/$job" 30 || fail "$u's job did not finish: $(cat "jobs/$job")"
    grep -qx "requested_by: $u:$uid" "jobs/$job" || fail "job $job: $(cat "jobs/$job")"
    tail -n +$((h + 1)) audit/log | cut -f3,4,5 >"$T/events"
    grep -qx "$u:$uid	evidence.add	$id" "$T/events" || fail "$u's note: $(cat "$T/events")"
    grep -qx "$u:$uid	verdict.manual	${ids[1]}" "$T/events" || fail "$u's referral: $(cat "$T/events")"
    grep -qx "$u:$uid	ctl.refused	-" "$T/events" || fail "$u's refused approval: $(cat "$T/events")"
    # Nobody else's name is on anything since: the events of $u's writes are $u's, and the
    # re-vets they caused are the daemon's or $u's.
    [ -z "$(cut -f1 "$T/events" | grep -vx "$u:$uid\|regfs")" ] || fail "events by others: $(cat "$T/events")"
    [ "$(grep -c "\[$u-note\]" audit/log)" = 1 ] || fail "$u's note is not in audit/log exactly once"
    [ "$(grep -c "\[$u-refer\]" audit/log)" = 1 ] || fail "$u's referral is not in audit/log exactly once"
    grep -q "by=$u:$uid" "applicants/${ids[1]}/verdict" || fail "the verdict does not name $u: $(cat "applicants/${ids[1]}/verdict")"
    jq -e --arg who "$u:$uid" '.evidence | map(select(.added_by == $who)) | length == 1' "$d/record.json" >/dev/null ||
        fail "record.json does not show $u's note as $u's: $(jq -c .evidence "$d/record.json")"
done

note "the log agrees, read from the database"
cd /
unmount_register
"$REGFS" log "$DB" | cut -f3,4 | grep -c "^$member:$(id -u "$member")	evidence.add$" | grep -qx 1 ||
    fail "regfs log does not show $member's note"
"$REGFS" verify "$DB" >/dev/null 2>&1 || fail "regfs verify after the users' writes"
echo "ok"
