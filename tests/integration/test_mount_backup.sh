#!/usr/bin/env bash
# Backups of the mount with the real tools: tar (--listed-incremental), rsync, restic and borg back
# up the tree, a verdict changes through ctl, they back it up again.  The second run of each moves
# only that applicant's files and the register-wide files that include it, and each tool's first and
# second backups restore to exactly what the mount showed at each moment.  Then snapshot/register.db,
# copied by each tool while a re-vet job runs, is a good register every time.
#
# The ctl files are left out of every backup (--exclude): they read as empty; they are not data.
#
# A missing tool (scripts/install-deps installs them all) fails the test under CI=true and is
# skipped with a note otherwise.
source "$(dirname "$0")/lib.sh" || exit 1

# Restored trees keep the mount's modes (folders 0550): make them removable again at exit (only
# them: never walk into the mount, which cleanup unmounts).
mkdir "$T/out"
trap 'rc=$?; set +e; chmod -R u+rwx "$T/out" 2>/dev/null; (exit $rc); cleanup' EXIT

have() {   # TOOL: whether to run the part that needs it
    command -v "$1" >/dev/null && return 0
    [ "${CI:-}" != true ] || fail "$1 is missing (scripts/install-deps installs it)"
    note "SKIP: $1 is not installed (scripts/install-deps installs it)"
    return 1
}
have tar || exit 1
have rsync || exit 1
have_restic=0; have restic && have_restic=1
have_borg=0; have borg && have_borg=1
export RESTIC_REPOSITORY=$T/restic RESTIC_PASSWORD=test RESTIC_CACHE_DIR=$T/restic-cache
export BORG_REPO=$T/borg BORG_BASE_DIR=$T/borg-base BORG_PASSPHRASE=test
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes

# What a tree holds, one line per entry, sorted: folders by path and mode; symlinks by path and
# target; regular files by path, mode, size, mtime (whole seconds) and SHA-256.  ctl files left out,
# and the top folder (a restore makes it).
manifest() {   # DIR
    (cd "$1" && {
        find . -mindepth 1 -name ctl -prune -o -type d -printf 'd %p %m\n' -o -type l -printf 'l %p -> %l\n' \
            -o -type f -printf 'f %p %m %s %Ts\n'
        find . -name ctl -prune -o -type f -print0 | xargs -0 -r sha256sum | awk '{ print "h " $2 " " $1 }'
    } | LC_ALL=C sort)
}
same_as() {   # MANIFEST DIR WHAT
    manifest "$2" >"$T/got"
    diff "$1" "$T/got" >"$T/diff" || fail "$3 differs from what the mount showed: $(sed -n 1,6p "$T/diff")"
}

make_register 2000
mount_register
cd "$MNT"

note "moment A: back up with tar (level 0), rsync, restic and borg"
manifest . >"$T/A"
tar -c --format=posix --listed-incremental="$T/snar0" --exclude=ctl -f "$T/l0.tar" . 2>"$T/tar.err" ||
    fail "tar level 0 failed: $(sed -n 1,3p "$T/tar.err")"
[ ! -s "$T/tar.err" ] || fail "tar level 0 warned: $(sed -n 1,3p "$T/tar.err")"
rsync -a --delete --exclude=ctl "$MNT/" "$T/out/rsA/" || fail "the first rsync failed"
if [ $have_restic = 1 ]; then
    restic init -q >/dev/null || fail "restic init failed"
    restic backup -q --exclude=ctl . >/dev/null || fail "the first restic backup failed"
    snapA=$(restic snapshots --json | jq -r '.[-1].id')
fi
if [ $have_borg = 1 ]; then
    borg init --encryption=none || fail "borg init failed"
    borg create --exclude 'sh:**/ctl' ::A . || fail "the first borg create failed"
fi
manifest . | cmp -s - "$T/A" || fail "the mount changed while it was backed up"

note "one applicant's verdict changes through ctl"
id=$(ls verdicts/review | sed -n 1p)
[ -n "$id" ] || fail "nobody to review"
sleep 1.1   # the changed files' mtimes are then in another second than moment A's
echo "exclude test reason" >"applicants/$id/ctl" || fail "the exclude was refused"
[ -L "verdicts/excluded/$id" ] || fail "verdicts/excluded/$id is missing"
manifest . >"$T/B"
day=$(tail -n 1 audit/log | cut -f2 | cut -c1-10)

# What changed between A and B, from the manifests: every file or symlink whose lines differ.
entries() { grep -E '^[fl] ' "$1" | sed -E 's/^[fl] \.\/([^ ]*) .*/\1/' | LC_ALL=C sort -u; }
{ diff <(grep -E '^[flh] ' "$T/A") <(grep -E '^[flh] ' "$T/B") || true; } |
    sed -nE 's/^[<>] [flh] \.\/([^ ]*) .*/\1/p' | LC_ALL=C sort -u >"$T/changed.all"
comm -12 "$T/changed.all" <(entries "$T/B") >"$T/changed.now"       # changed or new, in B
comm -23 "$T/changed.all" <(entries "$T/B") >"$T/changed.gone"      # in A only
comm -12 <(entries "$T/A") <(entries "$T/B") >"$T/both"
# What may change: that applicant, its verdict links, and the files that are the whole register.
allowed() {
    grep -vxE "applicants/$id/(history|record\.json|summary|verdict)|verdicts/[a-z]+/$id|register\.tsv|register\.jsonl|stats|audit/log|audit/head|audit/$day|snapshot/register\.db" || true
}
extra=$(allowed <"$T/changed.all")
[ -z "$extra" ] || fail "the exclude changed files it should not have: $(echo "$extra" | sed -n 1,5p)"
for f in "applicants/$id/verdict" "verdicts/excluded/$id" register.tsv audit/log; do
    grep -qx "$f" "$T/changed.now" || fail "$f did not change"
done
grep -qx "verdicts/review/$id" "$T/changed.gone" || fail "verdicts/review/$id is still there"

note "rsync again: --itemize-changes lists only what changed"
cp -a "$T/out/rsA" "$T/out/rsB"
rsync -a --delete --exclude=ctl --itemize-changes "$MNT/" "$T/out/rsB/" >"$T/rsync.out" || fail "the second rsync failed"
# "YXcstpoguax PATH" or "*deleting PATH"; folders end in /.  A folder's mtime is that of the newest
# change to what it holds (fs/layout.c), so rsync lists many folders, but for their time alone
# (".d..t......"): that moves no data.
sed -E 's/^[^ ]+ +//; s/ -> .*//' "$T/rsync.out" >"$T/rsync.paths"
grep -v '/$' "$T/rsync.paths" | LC_ALL=C sort -u >"$T/rsync.files"
diff "$T/changed.all" "$T/rsync.files" >/dev/null ||
    fail "rsync's changes are not what changed: $(diff "$T/changed.all" "$T/rsync.files" | sed -n 1,6p)"
extra=$(grep '/$' "$T/rsync.out" | grep -v '^\.d\.\.t\.\.\.\.\.\. ' || true)
[ -z "$extra" ] || fail "rsync changed folders beyond their mtime: $(echo "$extra" | sed -n 1,5p)"
same_as "$T/A" "$T/out/rsA" "rsync's first copy"
same_as "$T/B" "$T/out/rsB" "rsync's second copy"

note "tar level 1: only what changed (and the folders, which tar always lists)"
cp "$T/snar0" "$T/snar1"
tar -c --format=posix --listed-incremental="$T/snar1" --exclude=ctl -f "$T/l1.tar" . 2>"$T/tar.err" ||
    fail "tar level 1 failed: $(sed -n 1,3p "$T/tar.err")"
tar -tf "$T/l1.tar" | grep -v '/$' | sed 's|^\./||' | LC_ALL=C sort >"$T/tar.files"
diff "$T/changed.now" "$T/tar.files" >/dev/null ||
    fail "tar level 1 did not archive just what changed: $(diff "$T/changed.now" "$T/tar.files" | sed -n 1,6p)"
mkdir "$T/out/tar"
tar -x --listed-incremental=/dev/null -f "$T/l0.tar" -C "$T/out/tar" || fail "extracting tar level 0 failed"
same_as "$T/A" "$T/out/tar" "tar level 0, extracted"
tar -x --listed-incremental=/dev/null -f "$T/l1.tar" -C "$T/out/tar" || fail "extracting tar level 1 failed"
same_as "$T/B" "$T/out/tar" "tar levels 0 and 1, extracted"

if [ $have_restic = 1 ]; then
    note "restic again, without --ignore-inode: every other file unmodified"
    restic backup --json --exclude=ctl . >"$T/restic.json" || fail "the second restic backup failed"
    jq -c 'select(.message_type == "summary")' "$T/restic.json" >"$T/restic.sum"
    snapB=$(jq -r .snapshot_id "$T/restic.sum")
    # restic counts regular files only.
    nfiles=$(grep -c '^f ' "$T/B")
    nnew=$(comm -23 <(sed -nE 's/^f \.\/([^ ]*) .*/\1/p' "$T/B" | LC_ALL=C sort) <(entries "$T/A") | wc -l)
    nchanged=$(comm -12 <(sed -nE 's/^f \.\/([^ ]*) .*/\1/p' "$T/B" | LC_ALL=C sort) "$T/changed.now" | wc -l)
    nchanged=$((nchanged - nnew))
    jq -e --argjson n "$nnew" --argjson c "$nchanged" --argjson u "$((nfiles - nnew - nchanged))" \
        '.files_new == $n and .files_changed == $c and .files_unmodified == $u' "$T/restic.sum" >/dev/null ||
        fail "restic's second backup: expected $nnew new, $nchanged changed, $((nfiles - nnew - nchanged)) unmodified; got $(cat "$T/restic.sum")"
    for s in A B; do
        snap=snap$s
        restic restore -q "${!snap}" --target "$T/out/restic$s" >/dev/null || fail "restic restore of $s failed"
        dir=$T/out/restic$s
        [ -e "$dir/README" ] || dir=$T/out/restic$s$MNT
        same_as "$T/$s" "$dir" "restic's backup $s, restored"
    done
fi

if [ $have_borg = 1 ]; then
    note "borg again: it reads only what changed"
    borg create --list --filter=AME --exclude 'sh:**/ctl' ::B . 2>"$T/borg.out" || fail "the second borg create failed"
    # "M path", "A path": borg lists the regular files it read again.
    sed -nE 's/^[AME] //p' "$T/borg.out" | LC_ALL=C sort >"$T/borg.files"
    comm -12 <(sed -nE 's/^f \.\/([^ ]*) .*/\1/p' "$T/B" | LC_ALL=C sort) "$T/changed.now" >"$T/changed.files"
    # borg does not remember the files with the newest mtime it saw (it could not tell a change made
    # within the same clock tick): it reads those again too.
    newest=$(awk '$1 == "f" { if ($5 > m) m = $5 } END { print m }' "$T/A")
    awk -v m="$newest" '$1 == "f" && $5 == m { sub(/^\.\//, "", $2); print $2 }' "$T/A" |
        LC_ALL=C sort -u | comm -23 - "$T/changed.files" >"$T/borg.newest"
    comm -23 "$T/borg.files" "$T/borg.newest" >"$T/borg.read"
    diff "$T/changed.files" "$T/borg.read" >/dev/null ||
        fail "borg read again other files than those that changed: $(diff "$T/changed.files" "$T/borg.read" | sed -n 1,6p)"
    for s in A B; do
        mkdir "$T/out/borg$s"
        (cd "$T/out/borg$s" && borg extract "::$s") || fail "borg extract of $s failed"
        same_as "$T/$s" "$T/out/borg$s" "borg's archive $s, extracted"
    done
fi

note "snapshot/register.db: every tool copies a good register while a re-vet job runs"
echo "revet all" >ctl || fail "revet all was refused"
job=$(ls jobs | sort -n | tail -n 1)
grep -q '^state: \(queued\|running\)' "jobs/$job" || note "(the job had already ended: $(grep '^state' "jobs/$job"))"
mkdir "$T/out/snap" "$T/out/snap/tar" "$T/out/snap/rsync"
cp snapshot/register.db "$T/out/snap/cp.db" || fail "cp of the snapshot failed"
tar -cf "$T/snap.tar" snapshot/register.db || fail "tar of the snapshot failed"
tar -xf "$T/snap.tar" -C "$T/out/snap/tar" && mv "$T/out/snap/tar/snapshot/register.db" "$T/out/snap/tar.db"
rsync -a snapshot/register.db "$T/out/snap/rsync.db" || fail "rsync of the snapshot failed"
if [ $have_restic = 1 ]; then
    restic backup -q snapshot/register.db >/dev/null || fail "restic backup of the snapshot failed"
    restic restore -q latest --include register.db --target "$T/out/snap/restic" >/dev/null ||
        fail "restic restore of the snapshot failed"
    mv "$(find "$T/out/snap/restic" -name register.db)" "$T/out/snap/restic.db"
fi
if [ $have_borg = 1 ]; then
    borg create ::snap snapshot/register.db || fail "borg create of the snapshot failed"
    mkdir "$T/out/snap/borg"
    (cd "$T/out/snap/borg" && borg extract ::snap) || fail "borg extract of the snapshot failed"
    mv "$T/out/snap/borg/snapshot/register.db" "$T/out/snap/borg.db"
fi
wait_for "grep -q '^state: done' jobs/$job" 30 || fail "the job did not finish: $(cat "jobs/$job")"
for copy in "$T"/out/snap/*.db; do
    what="the snapshot copied by $(basename "$copy" .db)"
    "$REGFS" verify "$copy" >"$T/verify.out" 2>&1 || fail "regfs verify of $what: $(cat "$T/verify.out")"
    assert_eq ok "$(sqlite3 "$copy" 'PRAGMA integrity_check')" "integrity_check of $what"
    assert_eq delete "$(sqlite3 "$copy" 'PRAGMA journal_mode')" "the journal mode of $what"
done

unmount_register
echo "ok"
