#!/usr/bin/env bash
# Benchmarks committing a small change to a large image: `blockimg add` of
# one small file, and a `blockimg mount` in which one file is written, timed
# to the end of the unmount (the commit, synced). Two images hold the same
# tree: one with a journal (the change is written in place, its metadata
# through the journal) and one made with --no-journal (which is rewritten
# whole, the path every commit took before in-place commits). Prints a
# markdown table for docs/BENCHMARKS.md.
#
#   bash scripts/bench-commit.sh [TREE]
#
# TREE           tree the images hold; default /usr
# BENCH_RUNS=N   runs of each, the median is reported (default 5)
# BENCH_SIZE=S   image size (default 12G)
#
# Every image is checked with `e2fsck -fn` after its last run (untimed).
set -euo pipefail
cd "$(dirname "$0")/.."

TREE=${1:-/usr}
RUNS=${BENCH_RUNS:-5}
SIZE=${BENCH_SIZE:-12G}

die() { echo "bench-commit.sh: $*" >&2; exit 1; }
note() { echo "bench-commit.sh: $*" >&2; }

[ -d "$TREE" ] || die "$TREE is not a directory"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive number"
PATH=$PATH:/usr/sbin:/sbin
command -v e2fsck >/dev/null || die "e2fsck is not installed (package e2fsprogs)"

note "building blockimg (release)"
cargo build --release -p blockimg-cli --bin blockimg >&2
BLOCKIMG=${CARGO_TARGET_DIR:-target}/release/blockimg
[ -x "$BLOCKIMG" ] || die "no binary at $BLOCKIMG"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/blockimg-bench-commit.XXXXXX")
MNT=$WORK/mnt
mkdir "$MNT"
cleanup() {
    "$BLOCKIMG" umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

files=$(find "$TREE" -xdev | wc -l)
note "tree $TREE: $files entries; building the two images"
for kind in journal rewrite; do
    extra=()
    [ "$kind" = rewrite ] && extra=(--no-journal)
    "$BLOCKIMG" mkdisk --quiet --size "$SIZE" "${extra[@]}" --root "$TREE" "$WORK/$kind.img"
done
echo "hello" >"$WORK/hostname.txt"

# add: prints the seconds each run took, and the path the last one took.
bench_add() {
    local img=$WORK/$1.img i start end
    for i in $(seq "$RUNS"); do
        start=$(now)
        "$BLOCKIMG" add "$img" "$WORK/hostname.txt" "/etc/hostname-$i" 2>"$WORK/add.err"
        end=$(now)
        echo "$end - $start" | bc
    done
    note "add on $1: $(tail -1 "$WORK/add.err")"
}

# mount, write one file, unmount: the seconds of the unmount (the commit).
bench_mount() {
    local img=$WORK/$1.img i start end
    for i in $(seq "$RUNS"); do
        "$BLOCKIMG" mount "$img" "$MNT"
        echo hello >"$MNT/newfile-$i"
        start=$(now)
        "$BLOCKIMG" umount "$MNT" 2>"$WORK/umount.err"
        end=$(now)
        echo "$end - $start" | bc
    done
    note "umount on $1: $(tail -1 "$WORK/umount.err")"
}

declare -A result
for kind in journal rewrite; do
    result[add-$kind]=$(bench_add "$kind" | median)
    result[mount-$kind]=$(bench_mount "$kind" | median)
    off=$(( 1 << 20 ))
    e2fsck -fn "$WORK/$kind.img?offset=$off" >/dev/null 2>&1 || die "e2fsck found errors in the $kind image"
done

ratio() { echo "scale=1; $2 / $1" | bc; }
echo
echo "$files entries of $TREE in a $SIZE image; median of $RUNS runs, seconds"
echo
echo "| commit of one small file | in place (journal) | rewritten whole (--no-journal) | rewrite / in place |"
echo "|---|---|---|---|"
echo "| \`blockimg add\` | ${result[add-journal]} | ${result[add-rewrite]} | $(ratio "${result[add-journal]}" "${result[add-rewrite]}") |"
echo "| \`blockimg umount\` after one write | ${result[mount-journal]} | ${result[mount-rewrite]} | $(ratio "${result[mount-journal]}" "${result[mount-rewrite]}") |"
