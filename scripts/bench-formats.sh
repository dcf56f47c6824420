#!/usr/bin/env bash
# Benchmarks `blockimg convert` against `qemu-img convert` from a raw disk
# image to a dynamic VHD, a fixed VHD and a stream-optimized VMDK, in one
# run, and prints a markdown table for docs/BENCHMARKS.md ("Disk formats").
#
#   bash scripts/bench-formats.sh
#
# BENCH_RUNS=N         runs per measurement, the median is reported (default 5)
# BENCH_DIR=DIR        work directory (default: a new temporary directory,
#                      removed at the end); the tree and the raw image are
#                      reused from it
# BENCH_DATA_MB=N      data in the image, copied from /usr (default 600)
# BENCH_DISK=SIZE      disk size (default 6G)
#
# The raw image is built once with `blockimg mkdisk` from a tree of real
# files (programs, libraries, text from /usr), so the data compresses like
# a real root filesystem. Every run writes a fresh output with a warm page
# cache. Each tool's last output is checked against the raw image with
# `qemu-img compare` (untimed). blockimg syncs its output before renaming
# it into place; qemu-img convert leaves it in the page cache (its default
# cache mode for convert is "unsafe"), so qemu-img is timed both as it is
# and followed by `sync`. Ratios are qemu-img time / blockimg time: above 1
# means blockimg is faster.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${BENCH_RUNS:-5}
DATA_MB=${BENCH_DATA_MB:-600}
DISK=${BENCH_DISK:-6G}

die() { echo "bench-formats.sh: $*" >&2; exit 1; }
note() { echo "bench-formats.sh: $*" >&2; }

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive number"
[[ "$DATA_MB" =~ ^[1-9][0-9]*$ ]] || die "BENCH_DATA_MB must be a positive number"
command -v qemu-img >/dev/null || die "qemu-img is not installed (package qemu-utils)"

note "building blockimg (release)"
cargo build --release -p blockimg-cli --bin blockimg >&2
BLOCKIMG=$(pwd)/${CARGO_TARGET_DIR:-target}/release/blockimg
[ -x "$BLOCKIMG" ] || die "no binary at $BLOCKIMG"

if [ -n "${BENCH_DIR:-}" ]; then
    WORK=$BENCH_DIR
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/blockimg-bench-formats.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
fi

TREE=$WORK/tree
if [ ! -d "$TREE" ]; then
    note "copying ${DATA_MB} MB of files from /usr into $TREE"
    mkdir -p "$TREE.partial"
    limit=$((DATA_MB * 1000 * 1000))
    find /usr/bin /usr/lib /usr/share -xdev -type f -size -16M -printf '%s\t%p\n' 2>/dev/null \
        | sort -t "$(printf '\t')" -k2 \
        | awk -F '\t' -v limit="$limit" '{ if (t + $1 <= limit) { t += $1; print $2 } }' \
        | tar -cf - -T - 2>/dev/null | tar -xf - -C "$TREE.partial"
    mv "$TREE.partial" "$TREE"
fi
DATA_BYTES=$(du -sb "$TREE" | cut -f1)

RAW=$WORK/disk.img
if [ ! -f "$RAW" ]; then
    note "building the $DISK raw image"
    "$BLOCKIMG" mkdisk -q --timestamp 1700000000 -s "$DISK" -r "$TREE" "$RAW"
fi
cat "$RAW" >/dev/null

# measure OUTPUT CMD... : runs CMD $RUNS times (removing OUTPUT first) and
# sets MEDIAN_S.
measure() {
    local output=$1; shift
    local times=() i start end
    for ((i = 0; i < RUNS; i++)); do
        rm -f "$output"
        sync
        start=$(date +%s.%N)
        "$@" >/dev/null 2>"$WORK/stderr" || { cat "$WORK/stderr" >&2; die "failed: $*"; }
        end=$(date +%s.%N)
        times+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')")
    done
    MEDIAN_S=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {m=int((NR+1)/2); printf "%.2f", a[m]}')
}

# Checks that OUTPUT (qemu-img format FMT) holds the raw disk.
same_disk() {
    qemu-img compare -q -f raw -F "$2" "$RAW" "$1" || die "$1 does not hold the raw disk"
}

ROWS=()
row() {
    local what=$1 qfmt=$2 ext=$3; shift 3
    local qopts=("$@")
    local q=$WORK/qemu.$ext b=$WORK/blockimg.$ext
    local bformat
    case "$what" in
        "VHD dynamic") bformat=vhd ;;
        "VHD fixed") bformat=vhd-fixed ;;
        *) bformat=vmdk ;;
    esac
    note "$what: qemu-img"
    measure "$q" qemu-img convert -f raw -O "$qfmt" "${qopts[@]}" "$RAW" "$q"
    local qs=$MEDIAN_S
    note "$what: qemu-img, then sync"
    measure "$q" sh -c 'qemu-img convert "$@" && sync' sh -f raw -O "$qfmt" "${qopts[@]}" "$RAW" "$q"
    local qss=$MEDIAN_S
    note "$what: blockimg"
    measure "$b" "$BLOCKIMG" convert -q --format "$bformat" "$RAW" "$b"
    local bs=$MEDIAN_S
    same_disk "$q" "$qfmt"
    same_disk "$b" "$qfmt"
    local qsize bsize ratio ratio_synced
    qsize=$(stat -c %s "$q"); bsize=$(stat -c %s "$b")
    ratio=$(awk -v q="$qs" -v b="$bs" 'BEGIN { printf "%.2f", (b > 0 ? q / b : 0) }')
    ratio_synced=$(awk -v q="$qss" -v b="$bs" 'BEGIN { printf "%.2f", (b > 0 ? q / b : 0) }')
    ROWS+=("$(printf '| raw -> %s | %s | %s | %s | %s | **%s** | %s | %s |' \
        "$what" "$qs" "$qss" "$bs" "$ratio" "$ratio_synced" "$qsize" "$bsize")")
}

row "VHD dynamic" vpc vhd -o subformat=dynamic
row "VHD fixed" vpc vhd -o subformat=fixed
row "VMDK stream-optimized" vmdk vmdk -o subformat=streamOptimized

echo
echo "Raw image: $DISK disk, $DATA_BYTES bytes of files from /usr; median of $RUNS runs;"
echo "$(nproc) cores; $(qemu-img --version | head -1); blockimg $(git rev-parse --short HEAD 2>/dev/null || echo '?')."
echo
echo "| conversion | qemu-img s | qemu-img + sync s | blockimg s | qemu-img / blockimg | (qemu-img + sync) / blockimg | qemu-img bytes | blockimg bytes |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
