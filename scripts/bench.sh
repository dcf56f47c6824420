#!/usr/bin/env bash
# Benchmarks `blockimg mkdisk` against the tools users would pick instead
# (`mke2fs -d`, genext2fs) on the same trees, and prints a markdown table for
# docs/BENCHMARKS.md.
#
#   bash scripts/bench.sh [TREE]
#
# TREE                 real tree for workload (a); default /usr/share
# BENCH_RUNS=N         runs per measurement, the median is reported (default 5)
# BENCH_DIR=DIR        work directory (default: a new temporary directory,
#                      removed at the end); generated trees are reused from it
# BENCH_SLOW=1         also time mke2fs -d on 100,000 files (takes minutes)
# BENCH_SKIP=a,b,c,d,e workloads to leave out
# BENCH_TAR_TREE=DIR   tree archived for workload (d); default /usr
#
# Every run starts from a fresh output file with a warm page cache (the
# tree is read once before timing). Wall time and peak RSS come from
# /usr/bin/time; allocated bytes from stat (%b * %B). Each tool's last image
# is checked with `e2fsck -fn` (untimed).
set -euo pipefail
cd "$(dirname "$0")/.."

TREE=${1:-/usr/share}
RUNS=${BENCH_RUNS:-5}
SKIP=${BENCH_SKIP:-}

die() { echo "bench.sh: $*" >&2; exit 1; }
note() { echo "bench.sh: $*" >&2; }

[ -d "$TREE" ] || die "$TREE is not a directory"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive number"
for tool in mke2fs e2fsck; do
    command -v "$tool" >/dev/null || PATH=$PATH:/usr/sbin:/sbin
    command -v "$tool" >/dev/null || die "$tool is not installed (package e2fsprogs)"
done

TIME_BIN=/usr/bin/time
if [ ! -x "$TIME_BIN" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
    && [ "${BLOCKIMG_SKIP_APT:-0}" != 1 ]; then
    note "installing GNU time for peak-memory figures"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends time >&2 \
        || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive \
             apt-get install -y --no-install-recommends time >&2; } || true
fi
if [ ! -x "$TIME_BIN" ]; then
    note "/usr/bin/time is missing: wall times only, no peak RSS"
fi

note "building blockimg (release)"
cargo build --release -p blockimg-cli --bin blockimg >&2
BLOCKIMG=${CARGO_TARGET_DIR:-target}/release/blockimg
[ -x "$BLOCKIMG" ] || die "no binary at $BLOCKIMG"

if [ -n "${BENCH_DIR:-}" ]; then
    WORK=$BENCH_DIR
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/blockimg-bench.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
fi

ROWS=()
RATIOS=()

skipped() { [[ ",$SKIP," == *",$1,"* ]]; }

# measure NAME IMAGE CMD... : runs CMD $RUNS times (removing IMAGE first),
# sets MEDIAN_S and MEDIAN_RSS_KB.
measure() {
    local image=$1; shift
    local times=() rss=() i out
    for ((i = 0; i < RUNS; i++)); do
        rm -f "$image"
        out=$WORK/time.out
        if [ -x "$TIME_BIN" ]; then
            "$TIME_BIN" -o "$out" -f '%e %M' "$@" >/dev/null 2>"$WORK/stderr" \
                || { cat "$WORK/stderr" >&2; die "failed: $*"; }
            read -r t m <"$out"
        else
            local start end
            start=$(date +%s.%N)
            "$@" >/dev/null 2>"$WORK/stderr" || { cat "$WORK/stderr" >&2; die "failed: $*"; }
            end=$(date +%s.%N)
            t=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", e - s }')
            m=0
        fi
        times+=("$t")
        rss+=("$m")
    done
    MEDIAN_S=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    MEDIAN_RSS_KB=$(printf '%s\n' "${rss[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
}

allocated_mib() { echo $(( $(stat -c '%b * %B' "$1") / 1048576 )); }

fsck_result() {
    if e2fsck -fn "$1" >/dev/null 2>&1; then echo clean; else echo "NOT clean"; fi
}

# row WORKLOAD TOOL IMAGE
row() {
    local rss="n/a"
    [ "$MEDIAN_RSS_KB" != 0 ] && rss=$(( MEDIAN_RSS_KB / 1024 ))
    ROWS+=("| $1 | $2 | $RUNS | $MEDIAN_S | $rss | $(allocated_mib "$3") | $(fsck_result "$3") |")
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# Size for a tree: twice its apparent size plus 256 MiB, in MiB.
size_for() {
    local bytes
    bytes=$(du -s --apparent-size --block-size=1 "$1" | cut -f1)
    echo "$(( (bytes * 2) / 1048576 + 256 ))M"
}

# compare WORKLOAD TREE SIZE [with-genext2fs]
compare() {
    local name=$1 tree=$2 size=$3 img=$WORK/out.img
    local files
    files=$(find "$tree" | wc -l)
    note "$name: $files entries, image size $size, $RUNS runs each"
    # Warm the page cache so every tool reads the tree from memory.
    find "$tree" -type f -print0 | xargs -0 cat >/dev/null 2>&1 || true

    measure "$img" "$BLOCKIMG" mkdisk -q --table none --size "$size" --root "$tree" "$img"
    local blockimg_s=$MEDIAN_S
    row "$name" blockimg "$img"

    measure "$img" mke2fs -q -F -t ext4 -d "$tree" "$img" "$size"
    local mke2fs_s=$MEDIAN_S
    row "$name" "mke2fs -d" "$img"
    RATIOS+=("- $name: mke2fs -d / blockimg wall time = $(ratio "$mke2fs_s" "$blockimg_s")")

    if [ "${4:-}" = with-genext2fs ]; then
        if command -v genext2fs >/dev/null; then
            local blocks=$(( ${size%M} * 256 ))
            measure "$img" genext2fs -z -B 4096 -b "$blocks" -N $(( files * 2 + 1024 )) \
                -d "$tree" "$img"
            row "$name" "genext2fs (ext2)" "$img"
            RATIOS+=("- $name: genext2fs / blockimg wall time = $(ratio "$MEDIAN_S" "$blockimg_s")")
        else
            note "genext2fs is not installed; skipped"
        fi
    fi
    rm -f "$img"
}

# (a) A real tree.
if ! skipped a; then
    compare "real tree ($TREE)" "$TREE" "$(size_for "$TREE")" with-genext2fs
fi

# (b) One directory of 100,000 empty files.
if ! skipped b; then
    many=$WORK/many
    if [ ! -d "$many" ] || [ "$(find "$many" -type f | wc -l)" != 100000 ]; then
        note "generating 100,000 empty files"
        rm -rf "$many"
        mkdir -p "$many"
        (cd "$many" && seq -f 'file-%06g' 1 100000 | xargs touch)
    fi
    img=$WORK/out.img
    # 2 GiB: the default inode ratio (16 KiB) gives 131,072 inodes.
    measure "$img" "$BLOCKIMG" mkdisk -q --table none --size 2G --root "$many" "$img"
    blockimg_s=$MEDIAN_S
    row "100,000 empty files in one directory" blockimg "$img"
    if [ "${BENCH_SLOW:-0}" = 1 ]; then
        measure "$img" mke2fs -q -F -t ext4 -d "$many" "$img" 2G
        row "100,000 empty files in one directory" "mke2fs -d" "$img"
        RATIOS+=("- 100,000 files: mke2fs -d / blockimg wall time = $(ratio "$MEDIAN_S" "$blockimg_s")")
    else
        RATIOS+=("- 100,000 files: mke2fs -d skipped (takes minutes; BENCH_SLOW=1 runs it)")
    fi
    rm -f "$img"
fi

# (c) About 12,000 files and 600 MiB of incompressible data.
if ! skipped c; then
    data=$WORK/data
    if [ ! -d "$data" ] || [ "$(find "$data" -type f | wc -l)" != 12288 ]; then
        note "generating 12,288 files of 50 KiB (600 MiB)"
        rm -rf "$data"
        for d in $(seq -w 0 11); do
            mkdir -p "$data/d$d"
            head -c 50M /dev/urandom | split -b 50K -d -a 4 - "$data/d$d/f"
        done
    fi
    compare "12,288 files, 600 MiB" "$data" "$(size_for "$data")"
fi

# (d) A tar snapshot of a real tree: from the archive, from the extracted
# directory, with mke2fs -d on the extracted directory, and extracting then
# building (what a user without a tar source would do).
if ! skipped d; then
    tar_tree=${BENCH_TAR_TREE:-/usr}
    [ -d "$tar_tree" ] || die "$tar_tree is not a directory"
    archive=$WORK/tree.tar
    note "archiving $tar_tree"
    tar -cf "$archive" -C "$tar_tree" . 2>/dev/null || [ -s "$archive" ] || die "tar of $tar_tree failed"
    extracted=$WORK/extracted
    rm -rf "$extracted" && mkdir -p "$extracted"
    tar -xf "$archive" -C "$extracted"
    size=$(size_for "$extracted")
    name="tar of $tar_tree"
    note "$name: $(du -sh --apparent-size "$archive" | cut -f1), image size $size, $RUNS runs each"
    img=$WORK/out.img
    cat "$archive" >/dev/null
    find "$extracted" -type f -print0 | xargs -0 cat >/dev/null 2>&1 || true

    measure "$img" "$BLOCKIMG" mkdisk -q --table none --size "$size" --root "$archive" "$img"
    from_tar_s=$MEDIAN_S
    row "$name" "blockimg (from the tar)" "$img"
    measure "$img" "$BLOCKIMG" mkdisk -q --table none --size "$size" --root "$extracted" "$img"
    from_dir_s=$MEDIAN_S
    row "$name" "blockimg (extracted directory)" "$img"
    measure "$img" mke2fs -q -F -t ext4 -d "$extracted" "$img" "$size"
    mke2fs_s=$MEDIAN_S
    row "$name" "mke2fs -d (extracted directory)" "$img"
    scratch=$WORK/scratch
    measure "$img" sh -c 'rm -rf "$1" && mkdir "$1" && tar -xf "$2" -C "$1" && mke2fs -q -F -t ext4 -d "$1" "$3" "$4"' \
        extract-then-build "$scratch" "$archive" "$img" "$size"
    extract_s=$MEDIAN_S
    row "$name" "tar -x, then mke2fs -d" "$img"
    rm -rf "$scratch" "$extracted" "$archive" "$img"
    RATIOS+=("- $name: blockimg from the directory / from the tar wall time = $(ratio "$from_dir_s" "$from_tar_s") (target >= 1)")
    RATIOS+=("- $name: mke2fs -d / blockimg from the tar wall time = $(ratio "$mke2fs_s" "$from_tar_s") (target >= 3)")
    RATIOS+=("- $name: (tar -x, then mke2fs -d) / blockimg from the tar wall time = $(ratio "$extract_s" "$from_tar_s")")
fi

# (e) Empty filesystems of 1 TiB and 15 TiB (a sparse file that large
# needs a host filesystem that allows it; ext4 stops at 16 TiB).
if ! skipped e; then
    img=$WORK/out.img
    for size in 1T 15T; do
        if ! truncate -s "$size" "$img" 2>/dev/null; then
            note "a $size file does not fit in $WORK; skipped"
            continue
        fi
        note "empty $size filesystem, $RUNS runs each"
        measure "$img" "$BLOCKIMG" mkdisk -q --table none --size "$size" "$img"
        blockimg_s=$MEDIAN_S
        row "empty $size filesystem" blockimg "$img"
        measure "$img" mke2fs -q -F -t ext4 "$img" "$size"
        row "empty $size filesystem" "mke2fs" "$img"
        RATIOS+=("- empty $size: mke2fs / blockimg wall time = $(ratio "$MEDIAN_S" "$blockimg_s")")
        rm -f "$img"
    done
fi

echo
skipped a || echo "Tree (a): $TREE."
skipped d || echo "Tree archived for (d): ${BENCH_TAR_TREE:-/usr}."
echo "$RUNS runs per figure (median); $(nproc) CPUs; $(uname -sr);"
echo "blockimg $("$BLOCKIMG" --version 2>/dev/null | awk '{print $2}'), $(mke2fs -V 2>&1 | head -1)."
echo
echo "| workload | tool | runs | wall (s, median) | peak RSS (MiB, median) | allocated (MiB) | e2fsck -fn |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
printf '%s\n' "${RATIOS[@]}"
