#!/usr/bin/env bash
# Benchmarks populating an image through a mount: `cp -a` of one real tree
# into (a) a `blockimg mount` of a `blockimg mkdisk` image, (b) fuse2fs on an
# image made by mke2fs, and (c), as root, the kernel's ext4 on a loop device.
# Each run is timed from the mount to the end of the unmount (for blockimg,
# the commit that rewrites the image, synced). Prints a markdown table for
# docs/BENCHMARKS.md.
#
#   bash scripts/bench-fuse.sh [TREE]
#
# TREE           tree to copy; default /usr/share/doc
# BENCH_RUNS=N   runs per tool, the median is reported (default 3)
# BENCH_SIZE=S   image size (default 2G)
#
# Every image is checked with `e2fsck -fn` after its last run (untimed).
set -euo pipefail
cd "$(dirname "$0")/.."

TREE=${1:-/usr/share/doc}
RUNS=${BENCH_RUNS:-3}
SIZE=${BENCH_SIZE:-2G}

die() { echo "bench-fuse.sh: $*" >&2; exit 1; }
note() { echo "bench-fuse.sh: $*" >&2; }

[ -d "$TREE" ] || die "$TREE is not a directory"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive number"
PATH=$PATH:/usr/sbin:/sbin
for tool in mke2fs e2fsck; do
    command -v "$tool" >/dev/null || die "$tool is not installed (package e2fsprogs)"
done

note "building blockimg (release)"
cargo build --release -p blockimg-cli --bin blockimg >&2
BLOCKIMG=${CARGO_TARGET_DIR:-target}/release/blockimg
[ -x "$BLOCKIMG" ] || die "no binary at $BLOCKIMG"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/blockimg-bench-fuse.XXXXXX")
MNT=$WORK/mnt
mkdir "$MNT"
cleanup() {
    umount -l "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

files=$(find "$TREE" | wc -l)
bytes=$(du -sb "$TREE" | cut -f1)
note "tree $TREE: $files entries, $bytes bytes; warming the page cache"
tar -cf - "$TREE" 2>/dev/null | cat >/dev/null

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# One run of tool $1 into a fresh image: prints the seconds taken.
run_once() {
    local img=$WORK/$1.img start end
    rm -f "$img"
    case $1 in
        blockimg) "$BLOCKIMG" mkdisk --quiet --size "$SIZE" --table none "$img" >/dev/null ;;
        *) truncate -s "$SIZE" "$img" && mke2fs -q -F -t ext4 "$img" ;;
    esac
    sync
    start=$(now)
    case $1 in
        blockimg)
            "$BLOCKIMG" mount "$img" "$MNT"
            cp -a "$TREE" "$MNT/tree"
            "$BLOCKIMG" umount "$MNT"
            ;;
        fuse2fs)
            # In the foreground, so that its exit (after it wrote the image
            # in place) can be waited for.
            fuse2fs -f -o rw "$img" "$MNT" >/dev/null 2>&1 &
            local pid=$!
            until mountpoint -q "$MNT"; do sleep 0.01; done
            cp -a "$TREE" "$MNT/tree"
            fusermount3 -u "$MNT"
            wait "$pid"
            ;;
        kernel)
            mount -o loop "$img" "$MNT"
            cp -a "$TREE" "$MNT/tree"
            umount "$MNT"
            ;;
    esac
    end=$(now)
    echo "$end - $start" | bc
}

TOOLS=(blockimg)
command -v fuse2fs >/dev/null && TOOLS+=(fuse2fs) || note "fuse2fs is not installed (package fuse2fs): skipped"
[ "$(id -u)" = 0 ] && TOOLS+=(kernel) || note "not root: the kernel ext4 run is skipped"

declare -A RESULT
for tool in "${TOOLS[@]}"; do
    times=()
    for _ in $(seq "$RUNS"); do
        times+=("$(run_once "$tool")")
        note "$tool: ${times[-1]} s"
    done
    RESULT[$tool]=$(printf '%s\n' "${times[@]}" | median)
    e2fsck -fn "$WORK/$tool.img" >/dev/null || die "$tool: e2fsck found errors"
done

echo
echo "cp -a of $TREE ($files entries, $((bytes / 1048576)) MiB) into a $SIZE image, mount to unmount, median of $RUNS:"
echo
echo "| target | seconds | blockimg is faster by |"
echo "|---|---|---|"
for tool in "${TOOLS[@]}"; do
    ratio=$(echo "scale=2; ${RESULT[$tool]} / ${RESULT[blockimg]}" | bc)
    case $tool in
        blockimg) name="blockimg mount" ;;
        fuse2fs) name="fuse2fs on mke2fs image" ;;
        kernel) name="kernel ext4 on a loop device" ;;
    esac
    printf '| %s | %.2f | %sx |\n' "$name" "${RESULT[$tool]}" "$ratio"
done
