#!/usr/bin/env bash
# Hostile paths: lookups of names that are not what they look like (ids out of range or spelled
# twice, '..' tricks, bytes that are not UTF-8, names past 255 bytes) find nothing and let nothing
# out of the tree; creating, renaming or removing anything anywhere is refused with a sensible
# errno and changes nothing; CLP names and watch-list entries made to look like paths are listed
# under safe names (clps/ holds only [a-z0-9-]).
source "$(dirname "$0")/lib.sh" || exit 1   # without it $T and $MNT are empty: never run on

make_register 300

note "hostile CLP names, watch-list ids and organisations are imported as data, not paths"
id0=$(sed -n 2p "$T/gen/applicants.csv" | cut -d, -f1)
# Rows copied from a real one (name, date of birth, ...), with new ids and odd CLP names.
row=$(sed -n 2p "$T/gen/applicants.csv" | cut -d, -f2-6)
{
    head -n 1 "$T/gen/applicants.csv"
    n=9000001
    for clp in '../../etc' 'a/b' '..' '.' '...' '/' 'ctl' '日本' '-x-' \
               "$(printf 'x%.0s' $(seq 200))" '"CR""LF"' 'Ynys Môn/../..' ' . '; do
        printf '%s,%s,%s,member,2025-09-03,,yes\n' "$n" "$row" "$(printf '"%s"' "${clp//\"/\"\"}")"
        n=$((n + 1))
    done
    # A control character in a CLP's name is refused, row by row.
    printf '9100001,%s,"bad\001clp",member,2025-09-03,,yes\n' "$row"
} >"$T/odd.csv"
rc=0
"$REGFS" import --quiet "$DB" applicants "$T/odd.csv" >"$T/import.out" 2>&1 || rc=$?
assert_eq 3 "$rc" "regfs import's status with one rejected row"
grep -q 'control character' "$T/import.out" || fail "the control character is not named: $(cat "$T/import.out")"
{
    head -n 1 "$T/gen/watchlist.csv"
    printf 'WX1,Ann,Hostile,,,,../../etc,member,test\n'
    printf 'WX2,Bob,Hostile,,,,"a/b",member,test\n'
    printf '..,Cy,Hostile,,,,Org,member,test\n'
    printf 'W/3,Di,Hostile,,,,Org,member,test\n'
} >"$T/odd-watch.csv"
rc=0
"$REGFS" import --quiet "$DB" watchlist "$T/odd-watch.csv" >"$T/import.out" 2>&1 || rc=$?
assert_eq 3 "$rc" "regfs import's status for the watch list with two rejected rows"
grep -q 'cannot name a file' "$T/import.out" || fail "the bad watch-list ids are not refused: $(cat "$T/import.out")"
"$REGFS" vet --quiet "$DB" all >/dev/null 2>&1 || fail "regfs vet failed"

mount_register
cd "$MNT"

note "clps/ holds only safe names"
ls clps >"$T/clps"
bad=$(grep -vxE '[a-z0-9-]{1,127}' "$T/clps" || true)
[ -z "$bad" ] || fail "unsafe names in clps/: $bad"
for slug in etc a-b - ctl x cr-lf ynys-mon; do
    grep -qx -- "$slug" "$T/clps" || fail "clps/$slug is missing: $(tr '\n' ' ' <"$T/clps")"
done
[ "$(ls clps/etc)" = 9000001 ] || fail "clps/etc: $(ls clps/etc)"
# Every name that slugs to nothing ('..', '.', '...', '/', '日本', ' . ') shares the one folder '-'.
assert_eq 6 "$(ls clps/- | wc -l)" "applicants in clps/-"
assert_eq "../../applicants/9000001" "$(readlink clps/etc/9000001)" "the link in clps/etc"
[ "$(stat -c %i clps/etc/9000001/)" = "$(stat -c %i applicants/9000001)" ] ||
    fail "clps/etc/9000001 does not lead to applicants/9000001"
grep -qF '../../etc' applicants/9000001/summary || fail "the CLP's real name is not in the summary"
long=$(grep -x 'x\{127\}' "$T/clps") || fail "the 200-byte CLP is not listed cut to 127 bytes"
[ "$(ls "clps/$long")" = 9000010 ] || fail "clps/$long: $(ls "clps/$long")"

note "watchlist/ lists the entries by id; an organisation's name is only data"
# The generated entries (the header is not one) and the two good new ones.
assert_eq $(($(grep -c . "$T/gen/watchlist.csv") + 1)) "$(ls watchlist | wc -l)" "entries in watchlist/"
grep -qF '../../etc' watchlist/WX1 || fail "watchlist/WX1 does not show its organisation: $(cat watchlist/WX1)"
! ls watchlist | grep -qvxE '[A-Za-z0-9._-]+' || fail "odd names in watchlist/: $(ls watchlist | grep -vxE '[A-Za-z0-9._-]+')"

note "lookups of hostile names find nothing and leave nothing"
head0=$(audit_head)
sum0=$(md5sum <register.tsv)
"$REGFS" verify "$DB" >"$T/verify0" 2>&1 || fail "regfs verify failed before: $(cat "$T/verify0")"
# Python, to pass any bytes to the system calls and see the errno each returns.
python3 - "$MNT" "$id0" <<'EOF' || fail "a hostile path was not refused as it should be"
import errno, os, stat, sys

mnt, app = os.fsencode(sys.argv[1]), sys.argv[2].encode()
os.chdir(mnt)
bad = 0
seen = {}

def want(path, errnos, call=os.lstat):
    global bad
    try:
        call(path)
    except OSError as e:
        if e.errno in errnos:
            seen[errno.errorcode[e.errno]] = seen.get(errno.errorcode[e.errno], 0) + 1
            return
        print(f"{path!r}: {errno.errorcode[e.errno]}, wanted one of "
              f"{[errno.errorcode[n] for n in errnos]}")
    else:
        print(f"{path!r}: found, wanted {[errno.errorcode[n] for n in errnos]}")
    bad += 1

NOENT = (errno.ENOENT,)
TOOLONG = (errno.ENOENT, errno.ENAMETOOLONG)
# ids out of range, spelled twice, with garbage around them
for name in [b"0", b"-1", b"+" + app, b"0" + app, b"00" + app, app + b"x", app + b" ", b" " + app,
             app + b"\n", b"99999999999999999999", b"9223372036854775807", b"9223372036854775808",
             b"18446744073709551616", b"1e6", b"0x10", app + b".0", app + b"\xff", b"\xc3\x28",
             b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"1" * 19, b"1" * 300]:
    want(b"applicants/" + name, TOOLONG if len(name) > 255 else NOENT)
    want(b"applicants/" + name + b"/summary", TOOLONG if len(name) > 255 else NOENT)
for d in [b"verdicts/approved/", b"verdicts/review/", b"clps/etc/", b"joined/2025-09-03/", b"jobs/",
          b"audit/checkpoints/"]:
    for name in [b"0", b"-1", b"0" + app, b"99999999999999999999", app + b"x", b"\xff"]:
        want(d + name, NOENT)
for name in [b"ETC", b"etc ", b"..%2fetc", b"a/b/..", b"\xff", b"x" * 128, b"x" * 256, b"x" * 1100]:
    want(b"clps/" + name, TOOLONG if len(name) > 255 else NOENT)
for name in [b"2025-02-30", b"2025-9-3", b"2025-09-03x", b"9999-99-99", b"-2025-09-03", b"0000-01-01",
             b"\xff\xfe"]:
    want(b"joined/" + name, NOENT)
    want(b"audit/" + name, NOENT)
for name in [b"WX1 ", b"wx1", b"W00001\xff", b"..\xff", b"W" * 64, b"W" * 300]:
    want(b"watchlist/" + name, TOOLONG if len(name) > 255 else NOENT)
for name in [b"README\xff", b"readme", b"ctl/x", b"applicants/" + app + b"/ctl/x",
             b"applicants/" + app + b"/summary/x", b"README/..", b"a" * 256, b"a" * 4096]:
    want(name, (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG))

# '..' resolves inside the tree: applicants/<id>/.. is applicants/, and the root's '..' is the
# kernel's (the folder the mount sits in), never a name the daemon answers for.
root = os.stat(b".")
def same(a, b):
    global bad
    sa, sb = os.stat(a), os.stat(b)
    if (sa.st_dev, sa.st_ino) != (sb.st_dev, sb.st_ino):
        print(f"{a!r} is not {b!r}")
        bad += 1
same(b"applicants/" + app + b"/..", b"applicants")
same(b"applicants/" + app + b"/../..", b".")
same(b"clps/etc/..", b"clps")
same(b"verdicts/approved/../../audit/..", b".")
if os.stat(b"..").st_dev == root.st_dev:
    print("the mount's '..' is on the mount")
    bad += 1
for path in [b"clps/etc/../../../" + os.path.basename(mnt) + b"/README"]:
    same(path, b"README")   # out of the mount and back in by name: the kernel's doing

# A folder read from an offset of the user's choosing (seekdir, lseek) lists what lies after it:
# from an entry's own offset the rest of the listing, from past the end nothing.
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.opendir.restype, libc.opendir.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
libc.readdir.restype, libc.readdir.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
libc.seekdir.argtypes = [ctypes.c_void_p, ctypes.c_long]
libc.closedir.argtypes = [ctypes.c_void_p]
def listing(path, off=None):
    d = libc.opendir(path)
    if not d:
        raise OSError(ctypes.get_errno(), path)
    if off is not None:
        libc.seekdir(d, off)
    out = []
    while (p := libc.readdir(d)):
        # struct dirent: d_ino, d_off (8 bytes each), d_reclen (2), d_type (1), d_name
        out.append((ctypes.c_int64.from_address(p + 8).value, ctypes.string_at(p + 19)))
    libc.closedir(d)
    return out
for d in [b".", b"applicants", b"verdicts/approved", b"clps", b"clps/etc", b"joined",
          b"joined/2025-09-03", b"watchlist", b"audit", b"jobs", b"applicants/" + app]:
    full = listing(d)
    for off in [2**62, 2**63 - 1, full[-1][0], 200000000, 3000000]:
        if off in (200000000, 3000000) and off <= full[-1][0]:
            continue
        got = listing(d, off)
        if got:
            print(f"{d!r} from offset {off} (past the end) lists {len(got)} entries: {got[:3]}")
            bad += 1
    for k in [1, len(full) // 2, len(full) - 2]:
        if 0 <= k < len(full) and listing(d, full[k][0]) != full[k + 1:]:
            print(f"{d!r} from the offset of entry {k} does not list the rest")
            bad += 1

# Nothing can be made, moved or removed anywhere.
SENSIBLE = (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT, errno.EEXIST, errno.ENOTDIR,
            errno.EISDIR)
dirs = [b".", b"applicants", b"applicants/" + app, b"verdicts/approved", b"clps", b"clps/etc",
        b"joined", b"watchlist", b"audit", b"audit/checkpoints", b"jobs", b"snapshot"]
for d in dirs:
    for name in [b"new", b"..", b"9000001", b"\xff", b"x" * 300]:
        p = d + b"/" + name
        want(p, SENSIBLE + (errno.ENAMETOOLONG, errno.EISDIR),
             lambda p: os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)))
        want(p, SENSIBLE + (errno.ENAMETOOLONG,), lambda p: os.mkdir(p))
        want(p, SENSIBLE + (errno.ENAMETOOLONG,), lambda p: os.symlink(b"/etc/passwd", p))
        want(p, SENSIBLE + (errno.ENAMETOOLONG,), lambda p: os.mknod(p, 0o600 | stat.S_IFIFO))
        want(p, SENSIBLE + (errno.ENAMETOOLONG, errno.EXDEV), lambda p: os.link(b"README", p))
    want(d, SENSIBLE + (errno.EBUSY, errno.ENOTEMPTY, errno.EINVAL), lambda p: os.rmdir(p))
    want(d, SENSIBLE + (errno.EBUSY, errno.ENOTEMPTY, errno.EINVAL, errno.EISDIR),
         lambda p: os.rename(p, b"renamed"))
for f in [b"README", b"register.tsv", b"applicants/" + app + b"/summary", b"audit/log",
          b"clps/etc/9000001", b"watchlist/WX1"]:
    want(f, SENSIBLE, lambda p: os.unlink(p))
    want(f, SENSIBLE + (errno.EXDEV,), lambda p: os.rename(p, b"applicants/" + app + b"/x"))
    want(f, SENSIBLE, lambda p: os.truncate(p, 0))
    want(f, SENSIBLE, lambda p: os.chmod(p, 0o666))
    want(f, SENSIBLE + (errno.ENOTSUP,), lambda p: os.setxattr(p, b"user.x", b"1"))
print(dict(sorted(seen.items())))
sys.exit(1 if bad else 0)
EOF

note "a NUL in a ctl write is refused, not cut short"
if printf 'approve fine\0 and then some' >"applicants/$id0/ctl" 2>"$T/err"; then
    fail "a ctl write with a NUL in it was accepted"
fi
grep -q 'Invalid argument' "$T/err" || fail "the NUL write failed with: $(cat "$T/err")"
assert_eq $((head0 + 1)) "$(audit_head)" "audit head after the refused write (one ctl.refused)"
tail -n 1 audit/log | grep -q 'ctl.refused' || fail "the refusal is not in the log: $(tail -n 1 audit/log)"

note "nothing changed"
assert_eq "$sum0" "$(md5sum <register.tsv)" "register.tsv after the hostile paths"
cd /
unmount_register
"$REGFS" verify "$DB" >"$T/verify1" 2>&1 || fail "regfs verify failed after: $(cat "$T/verify1")"
# One event more than before: the refused ctl write, and it alone.
n0=$(grep -o '[0-9]\+ events' "$T/verify0" | grep -o '[0-9]\+') || fail "regfs verify said: $(cat "$T/verify0")"
n1=$(grep -o '[0-9]\+ events' "$T/verify1" | grep -o '[0-9]\+') || fail "regfs verify said: $(cat "$T/verify1")"
assert_eq $((n0 + 1)) "$n1" "events in the chain after the hostile paths"
echo "ok"
