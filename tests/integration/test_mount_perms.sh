#!/usr/bin/env bash
# Who may do what: modes, owner and group; a user outside the group refused (with and without
# allow_other), a member let in and recorded by name; -o ro; mounting what is not a register
# refused before anything is mounted; SIGTERM and SIGINT unmount cleanly; the mount(8) helper name.
source "$(dirname "$0")/lib.sh" || exit 1   # without it $T and $MNT are empty: never run on

group=users
gid=$(getent group "$group" | cut -d: -f3) || fail "this system has no group '$group'"
nobody_uid=$(id -u nobody) || fail "this system has no user nobody"
as_nobody() { setpriv --reuid="$nobody_uid" --regid="$(id -g nobody)" --clear-groups "$@"; }
as_member() { setpriv --reuid="$nobody_uid" --regid="$gid" --clear-groups "$@"; }

make_register 2000
assert_eq 600 "$(stat -c %a "$DB")" "the database file's mode"

note "modes, owner and group"
mount_register -o group=$group
cd "$MNT"
id=$(ls verdicts/review | sed -n 1p)
me=$(id -un)
assert_eq "dr-xr-x--- $me $group" "$(stat -c '%A %U %G' .)" "the root folder"
assert_eq "-r--r----- $me $group" "$(stat -c '%A %U %G' README)" "README"
assert_eq "-r--r----- $me $group" "$(stat -c '%A %U %G' "applicants/$id/summary")" "a summary"
assert_eq "-rw-rw---- $me $group" "$(stat -c '%A %U %G' ctl)" "the register's ctl"
assert_eq "-rw-rw---- $me $group" "$(stat -c '%A %U %G' "applicants/$id/ctl")" "an applicant's ctl"
assert_eq "dr-xr-x--- $me $group" "$(stat -c '%A %U %G' "applicants/$id")" "an applicant's folder"
[ -z "$(find . ! -type l -perm /o=rwx | sed -n 1p)" ] || fail "something is world-accessible: $(find . ! -type l -perm /o=rwx | sed -n 1,3p)"
[ -z "$(find . ! -type l ! -gid "$gid" | sed -n 1p)" ] || fail "something is not in group $group"

note "without allow_other, nobody else gets in at all"
if as_nobody cat README >/dev/null 2>"$T/err"; then fail "nobody read README"; fi
grep -q 'Permission denied' "$T/err" || fail "nobody's read: $(cat "$T/err")"
if as_member ls applicants >/dev/null 2>"$T/err"; then fail "another user listed applicants/ without allow_other"; fi
cd /
unmount_register

note "with allow_other, the modes decide (default_permissions comes with it)"
mount_register -o group=$group,allow_other
cd "$MNT"
grep " $MNT fuse.regfs " /proc/mounts | grep -q default_permissions || fail "allow_other without default_permissions: $(grep " $MNT " /proc/mounts)"
for f in README stats register.tsv "applicants/$id/summary" audit/log; do
    if as_nobody cat "$f" >/dev/null 2>"$T/err"; then fail "nobody read $f"; fi
    grep -q 'Permission denied' "$T/err" || fail "nobody reading $f: $(cat "$T/err")"
done
if as_nobody ls applicants >/dev/null 2>&1; then fail "nobody listed applicants/"; fi
if as_nobody sh -c "echo 'approve by nobody' > applicants/$id/ctl" 2>"$T/err"; then fail "nobody wrote a ctl file"; fi
grep -q 'Permission denied' "$T/err" || fail "nobody writing ctl: $(cat "$T/err")"
h=$(audit_head)
as_member cat README | cmp - README || fail "a member of $group cannot read README"
as_member cat "applicants/$id/summary" >/dev/null || fail "a member of $group cannot read a summary"
[ "$(as_member ls applicants | wc -l)" = 2000 ] || fail "a member of $group cannot list applicants/"
if as_member sh -c "echo x > applicants/$id/summary" 2>/dev/null; then fail "a member wrote a summary"; fi
as_member cat "applicants/$id/ctl" >"$T/ctl.read" || fail "a member of $group cannot read a ctl file"
[ ! -s "$T/ctl.read" ] || fail "a member's read of a ctl file is not empty"
as_member sh -c "echo 'refer the group member wants a second look' > applicants/$id/ctl" ||
    fail "a member of $group cannot write a ctl file"
assert_eq $((h + 1)) "$(audit_head)" "audit head after the member's decision"
tail -n 1 audit/log | awk -F'\t' -v who="nobody:$nobody_uid" '$3 == who && $4 == "verdict.manual"' | grep -q . ||
    fail "the decision is not recorded as the member's: $(tail -n 1 audit/log | cut -c1-160)"
grep -q "by=nobody:$nobody_uid" "applicants/$id/verdict" || fail "the verdict does not name the member"
cd /
unmount_register

note "-o ro: every ctl write fails with EROFS, reads work"
before=$("$REGFS" log "$DB" | tail -n 1)
mount_register -o ro
cd "$MNT"
grep " $MNT fuse.regfs " /proc/mounts | grep -q ' ro[ ,]' || fail "not mounted read-only: $(grep " $MNT " /proc/mounts)"
for f in ctl "applicants/$id/ctl"; do
    if sh -c "echo 'revet' > $f" 2>"$T/err"; then fail "a write to $f succeeded under -o ro"; fi
    grep -q 'Read-only file system' "$T/err" || fail "writing $f under -o ro: $(cat "$T/err")"
done
if touch "applicants/$id/summary" 2>"$T/err"; then fail "touch succeeded under -o ro"; fi
grep -q 'Read-only file system' "$T/err" || fail "touch under -o ro: $(cat "$T/err")"
cmp <("$REGFS" export "$DB") register.tsv || fail "register.tsv under -o ro"
cd /
unmount_register
assert_eq "$before" "$("$REGFS" log "$DB" | tail -n 1)" "the audit head after a read-only mount"

note "what is not a register is refused before anything is mounted"
echo "not a database" >"$T/not.db"
cp "$T/gen/applicants.csv" "$T/applicants.db"
for bad in "$T/not.db" "$T/applicants.db" "$T/missing.db"; do
    rc=0
    "$REGFS" mount "$bad" "$MNT" -f >/dev/null 2>"$T/err" || rc=$?
    assert_eq 1 "$rc" "mounting $(basename "$bad")'s exit status"
    grep -q "$(basename "$bad")" "$T/err" || fail "the error does not name the file: $(cat "$T/err")"
    ! mountpoint -q "$MNT" || fail "$(basename "$bad") was mounted"
done
grep -q 'No such file' "$T/err" || fail "missing register: $(cat "$T/err")"
rc=0; "$REGFS" mount "$DB" "$MNT" -f -o group=no-such-group 2>"$T/err" || rc=$?
assert_eq 2 "$rc" "an unknown group's exit status"
grep -q 'no-such-group' "$T/err" || fail "an unknown group: $(cat "$T/err")"
rc=0; "$REGFS" mount "$DB" 2>/dev/null || rc=$?
assert_eq 2 "$rc" "a missing mount point's exit status"
"$REGFS" mount --help | grep -q 'group=NAME' || fail "regfs mount --help does not explain -o group"

note "SIGTERM and SIGINT unmount and exit 0"
for sig in TERM INT; do
    mount_register
    kill -$sig "$DAEMON_PID"
    rc=0; wait "$DAEMON_PID" || rc=$?
    DAEMON_PID=
    assert_eq 0 "$rc" "the daemon's exit status after SIG$sig"
    ! mountpoint -q "$MNT" || fail "still mounted after SIG$sig"
done

note "as mount(8) runs it: mount.fuse.regfs SOURCE DIR -o OPTIONS, detached"
ln -s "$REGFS" "$T/mount.fuse.regfs"
"$T/mount.fuse.regfs" "$DB" "$MNT" -o rw,group=$group,noauto,_netdev,nofail ||
    fail "mount.fuse.regfs failed"
mountpoint -q "$MNT" || fail "mount.fuse.regfs returned before the mount was ready"
grep -q "^$DB $MNT fuse.regfs " /proc/mounts || fail "/proc/mounts: $(grep " $MNT " /proc/mounts)"
assert_eq "$group" "$(stat -c %G "$MNT/README")" "the group given through -o"
fusermount3 -u "$MNT"
wait_for '! mountpoint -q "$MNT"' 5 || fail "still mounted"

note "an /etc/fstab line works through mount(8) (in a private mount namespace with its own /sbin)"
mkdir "$T/sbin"
ln -s "$REGFS" "$T/sbin/mount.fuse.regfs"
printf '%s %s fuse.regfs defaults,group=%s 0 0\n' "$DB" "$MNT" "$group" >"$T/fstab"
unshare -m sh -c "mount --make-rprivate / && mount --bind '$T/sbin' /sbin &&
    mount -T '$T/fstab' '$MNT' && grep ' $MNT ' /proc/self/mounts && stat -c %G '$MNT/README' &&
    umount '$MNT'" >"$T/fstab.out" 2>&1 || fail "mount -T fstab: $(cat "$T/fstab.out")"
grep -q "^$DB $MNT fuse.regfs " "$T/fstab.out" || fail "mount(8) did not mount it: $(cat "$T/fstab.out")"
grep -qx "$group" "$T/fstab.out" || fail "the fstab line's group was not applied: $(cat "$T/fstab.out")"
echo "ok"
