#!/usr/bin/env bash
# Benchmarks populating an image through a mount: `cp -a` of real trees
# into (a) a `blockimg mount` of a `blockimg mkdisk` image, (b) fuse2fs on an
# image made by mke2fs, and (c), as root, the kernel's ext4 on a loop device.
# Two workloads: small files (TREE) and a data-heavy one (BENCH_DATA: a
# kernel's modules and a Python library, large files). Each run is timed
# from the mount to the end of the unmount (for blockimg, the commit that
# writes the image, synced). Prints a markdown table per workload, with
# blockimg's ratio against each target, for docs/BENCHMARKS.md.
#
#   bash scripts/bench-fuse.sh [TREE]
#
# TREE           small-file tree to copy; default /usr/share/doc
# BENCH_DATA="D..."  data-heavy trees, copied together; default
#                the first of /usr/lib/modules/* and /usr/lib/python3*
#                ("" skips this workload)
# BENCH_RUNS=N   runs per tool, the median is reported (default 3)
# BENCH_SIZE=S   image size (default 2G)
# BENCH_BIN=PATH time this blockimg binary instead of building one (to
#                compare two versions)
#
# Every image is checked with `e2fsck -fn` after its last run (untimed).
set -euo pipefail
cd "$(dirname "$0")/.."

TREE=${1:-/usr/share/doc}
RUNS=${BENCH_RUNS:-3}
SIZE=${BENCH_SIZE:-2G}
if [ -z "${BENCH_DATA+set}" ]; then
    BENCH_DATA="$(ls -d /usr/lib/modules/* 2>/dev/null | head -1) $(ls -d /usr/lib/python3.* 2>/dev/null | head -1)"
fi
read -r -a DATA <<<"$BENCH_DATA"

die() { echo "bench-fuse.sh: $*" >&2; exit 1; }
note() { echo "bench-fuse.sh: $*" >&2; }

for tree in "$TREE" "${DATA[@]}"; do
    [ -d "$tree" ] || die "$tree is not a directory"
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive number"
PATH=$PATH:/usr/sbin:/sbin
for tool in mke2fs e2fsck; do
    command -v "$tool" >/dev/null || die "$tool is not installed (package e2fsprogs)"
done

if [ -n "${BENCH_BIN:-}" ]; then
    BLOCKIMG=$BENCH_BIN
else
    note "building blockimg (release)"
    cargo build --release -p blockimg-cli --bin blockimg >&2
    BLOCKIMG=${CARGO_TARGET_DIR:-target}/release/blockimg
fi
[ -x "$BLOCKIMG" ] || die "no binary at $BLOCKIMG"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/blockimg-bench-fuse.XXXXXX")
MNT=$WORK/mnt
mkdir "$MNT"
cleanup() {
    umount -l "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# One run of tool $1 copying the trees $2... into a fresh image: prints
# the seconds taken.
run_once() {
    local tool=$1
    shift
    local img=$WORK/$tool.img start end
    rm -f "$img"
    case $tool in
        blockimg) "$BLOCKIMG" mkdisk --quiet --size "$SIZE" --table none "$img" >/dev/null ;;
        *) truncate -s "$SIZE" "$img" && mke2fs -q -F -t ext4 "$img" ;;
    esac
    sync
    start=$(now)
    case $tool in
        blockimg)
            "$BLOCKIMG" mount "$img" "$MNT"
            mkdir "$MNT/tree" && cp -a "$@" "$MNT/tree/"
            "$BLOCKIMG" umount "$MNT"
            ;;
        fuse2fs)
            # In the foreground, so that its exit (after it wrote the image
            # in place) can be waited for.
            fuse2fs -f -o rw "$img" "$MNT" >/dev/null 2>&1 &
            local pid=$!
            until mountpoint -q "$MNT"; do sleep 0.01; done
            mkdir "$MNT/tree" && cp -a "$@" "$MNT/tree/"
            fusermount3 -u "$MNT"
            wait "$pid"
            ;;
        kernel)
            mount -o loop "$img" "$MNT"
            mkdir "$MNT/tree" && cp -a "$@" "$MNT/tree/"
            umount "$MNT"
            ;;
    esac
    end=$(now)
    echo "$end - $start" | bc
}

TOOLS=(blockimg)
command -v fuse2fs >/dev/null && TOOLS+=(fuse2fs) || note "fuse2fs is not installed (package fuse2fs): skipped"
[ "$(id -u)" = 0 ] && TOOLS+=(kernel) || note "not root: the kernel ext4 run is skipped"

# Runs every tool on the trees given, then prints the table.
workload() {
    local files bytes tool times
    files=$(find "$@" | wc -l)
    bytes=$(du -scb "$@" | tail -1 | cut -f1)
    note "trees $*: $files entries, $bytes bytes; warming the page cache"
    tar -cf - "$@" 2>/dev/null | cat >/dev/null
    declare -A RESULT
    for tool in "${TOOLS[@]}"; do
        times=()
        for _ in $(seq "$RUNS"); do
            times+=("$(run_once "$tool" "$@")")
            note "$tool: ${times[-1]} s"
        done
        RESULT[$tool]=$(printf '%s\n' "${times[@]}" | median)
        e2fsck -fn "$WORK/$tool.img" >/dev/null || die "$tool: e2fsck found errors"
    done

    echo
    echo "cp -a of $* ($files entries, $((bytes / 1048576)) MiB) into a $SIZE image, mount to unmount, median of $RUNS:"
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
}

workload "$TREE"
[ ${#DATA[@]} -eq 0 ] || workload "${DATA[@]}"
