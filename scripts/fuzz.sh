#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a while, starting from seed
# inputs made here from real data (images by mke2fs and blockimg, archives
# by GNU tar, VHD/VMDK/qcow2 by qemu-img), and fails if any target crashes.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS      time per target (default 60)
# TARGET...    targets to run (default: every target in fuzz/Cargo.toml)
#
# FUZZ_SEED=N   libFuzzer's random seed (default: a new one each run); a
#               fixed seed makes a short run repeat what it tried before.
#
# Needs cargo-fuzz (installed with `cargo install cargo-fuzz` when missing
# and BLOCKIMG_SKIP_INSTALL is not 1). cargo-fuzz needs nightly features;
# on a stable toolchain RUSTC_BOOTSTRAP=1 enables them. A crash leaves its
# input in fuzz/artifacts/TARGET/; turn it into a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${1:-60}
shift || true
[[ "$SECONDS_PER_TARGET" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: SECONDS must be a positive number" >&2; exit 2; }

note() { echo "fuzz.sh: $*" >&2; }

if ! cargo fuzz --version >/dev/null 2>&1; then
    if [ "${BLOCKIMG_SKIP_INSTALL:-0}" = 1 ]; then
        note "SKIPPED: cargo-fuzz is not installed (cargo install cargo-fuzz)"
        exit 0
    fi
    note "installing cargo-fuzz"
    cargo install --locked cargo-fuzz >&2
fi
export RUSTC_BOOTSTRAP=1

mapfile -t ALL < <(awk -F'"' '/^\[\[bin\]\]/ {bin = 1} bin && /^name = / {print $2; bin = 0}' fuzz/Cargo.toml)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi

# Seeds: small real inputs of every kind, made fresh (fuzz/corpus is not
# versioned; what libFuzzer finds accumulates there between runs).
SEEDS=$(mktemp -d "${TMPDIR:-/tmp}/blockimg-seeds.XXXXXX")
trap 'rm -rf "$SEEDS"' EXIT
note "building blockimg for the seeds"
cargo build -q -p blockimg-cli --bin blockimg
BLOCKIMG=${CARGO_TARGET_DIR:-target}/debug/blockimg
PATH=$PATH:/usr/sbin:/sbin

tree=$SEEDS/tree
mkdir -p "$tree/etc" "$tree/dir/sub"
echo hello >"$tree/etc/hostname"
head -c 70000 /dev/urandom >"$tree/dir/data"
ln -s ../etc/hostname "$tree/dir/link"
ln "$tree/etc/hostname" "$tree/dir/hard"
truncate -s 1M "$tree/dir/sparse" && echo tail >>"$tree/dir/sparse"
for i in $(seq 1 150); do : >"$tree/dir/sub/file-with-a-long-name-$i"; done
setfattr -n user.seed -v value "$tree/etc/hostname" 2>/dev/null || true

seed() { mkdir -p "$SEEDS/$1"; cp "$2" "$SEEDS/$1/"; }

# Archives.
tar -cf "$SEEDS/gnu.tar" -C "$tree" .
tar --format=pax --xattrs -cf "$SEEDS/pax.tar" -C "$tree" .
tar --sparse -cf "$SEEDS/sparse.tar" -C "$tree" dir/sparse
gzip -c "$SEEDS/gnu.tar" >"$SEEDS/gnu.tar.gz"
for f in gnu.tar pax.tar sparse.tar gnu.tar.gz; do seed tar_source "$SEEDS/$f"; done
command -v xz >/dev/null && xz -c "$SEEDS/pax.tar" >"$SEEDS/pax.tar.xz" && seed tar_source "$SEEDS/pax.tar.xz"
command -v zstd >/dev/null && zstd -q -c "$SEEDS/pax.tar" >"$SEEDS/pax.tar.zst" && seed tar_source "$SEEDS/pax.tar.zst"

# Disks: ours, then converted by qemu-img.
"$BLOCKIMG" mkdisk -q --size 8M --timestamp 0 --root "$tree" "$SEEDS/disk.img"
"$BLOCKIMG" mkdisk -q --size 4M --table none --timestamp 0 --root "$tree" "$SEEDS/fs.img"
seed ext4_reader "$SEEDS/disk.img"
seed inspect "$SEEDS/disk.img"
seed ext4_reader "$SEEDS/fs.img"
if command -v qemu-img >/dev/null; then
    qemu-img convert -O vpc -o subformat=dynamic "$SEEDS/disk.img" "$SEEDS/disk.vhd"
    qemu-img convert -O vpc -o subformat=fixed "$SEEDS/disk.img" "$SEEDS/fixed.vhd"
    qemu-img convert -O vmdk -o subformat=streamOptimized "$SEEDS/disk.img" "$SEEDS/stream.vmdk"
    qemu-img convert -O vmdk "$SEEDS/disk.img" "$SEEDS/sparse.vmdk"
    qemu-img convert -O qcow2 "$SEEDS/disk.img" "$SEEDS/disk.qcow2"
    for f in disk.vhd fixed.vhd; do seed vhd_reader "$SEEDS/$f"; done
    for f in stream.vmdk sparse.vmdk; do seed vmdk_reader "$SEEDS/$f"; done
    seed qcow2_reader "$SEEDS/disk.qcow2"
    # inspect, ls and cat read these formats in place too.
    for f in disk.vhd stream.vmdk disk.qcow2; do seed inspect "$SEEDS/$f"; seed partitions "$SEEDS/$f"; done
fi
# Filesystems made by mke2fs with several feature sets.
if command -v mke2fs >/dev/null; then
    n=0
    for opts in "-t ext4" "-t ext4 -O ^metadata_csum,^64bit" "-t ext2" "-t ext3 -b 1024" "-t ext4 -I 128 -b 2048"; do
        n=$((n + 1))
        # shellcheck disable=SC2086
        mke2fs -q -F $opts -d "$tree" "$SEEDS/mke2fs-$n.img" 2M >/dev/null 2>&1 && seed ext4_reader "$SEEDS/mke2fs-$n.img" && seed inspect "$SEEDS/mke2fs-$n.img"
    done
fi
# Single structures of those filesystems for ext4_structures: a kind byte
# (0 superblock, 1 group descriptor, 2 inode, 4 directory block, 7 journal
# superblock), a geometry byte (block size 1 KiB << bits 0-2, metadata_csum
# 0x08, 64bit 0x10), a detail byte, then the structure's bytes.
structure() { # NAME KIND GEOMETRY DETAIL IMAGE OFFSET LENGTH
    mkdir -p "$SEEDS/ext4_structures"
    { printf "$(printf '\\x%02x\\x%02x\\x%02x' "$2" "$3" "$4")"; dd if="$5" iflag=skip_bytes,count_bytes skip="$6" count="$7" status=none; } >"$SEEDS/ext4_structures/$1"
}
structures() { # PREFIX IMAGE BLOCK-SHIFT GEOMETRY
    local bs=$((1024 << $3)) loc block dir journal
    structure "$1-superblock" 0 "$4" 0 "$2" 1024 1024
    structure "$1-group-desc" 1 "$4" 1 "$2" $(((1 + ($3 == 0)) * bs)) 64
    loc=$(debugfs -R "imap <2>" "$2" 2>/dev/null | awk '/located at block/ {sub(",", "", $4); print $4 * '"$bs"' + $6}')
    [ -n "$loc" ] && structure "$1-root-inode" 2 "$4" 0 "$2" "$loc" 256
    dir=$(debugfs -R "bmap <2> 0" "$2" 2>/dev/null)
    [[ "$dir" =~ ^[0-9]+$ ]] && structure "$1-root-dir" 4 "$4" 0 "$2" $((dir * bs)) "$bs"
    journal=$(debugfs -R "bmap <8> 0" "$2" 2>/dev/null)
    [[ "$journal" =~ ^[0-9]+$ ]] && [ "$journal" != 0 ] && structure "$1-journal" 7 "$4" 255 "$2" $((journal * bs)) 1024
    return 0
}
if command -v debugfs >/dev/null; then
    structures blockimg "$SEEDS/fs.img" 2 $((2 | 0x08 | 0x10))
    [ -f "$SEEDS/mke2fs-1.img" ] && structures mke2fs "$SEEDS/mke2fs-1.img" 0 $((0x08 | 0x10))
    [ -f "$SEEDS/mke2fs-3.img" ] && structures ext3 "$SEEDS/mke2fs-3.img" 0 0
fi
# Journals debugfs left transactions in (a revoke, a block beginning with
# the jbd2 magic), no checksums, 64-bit and csum v3, cut after the log.
if command -v debugfs >/dev/null; then
    { printf '\xc0\x3b\x39\x98'; head -c 2044 /dev/urandom; } >"$SEEDS/jdata"
    n=0
    for jo in "jo" "jo -c"; do
        for fsopts in "-O ^64bit,^metadata_csum" "-O 64bit,metadata_csum"; do
            n=$((n + 1))
            # shellcheck disable=SC2086
            mke2fs -q -F -t ext4 -b 1024 $fsopts "$SEEDS/j-$n.img" 8M >/dev/null 2>&1 || continue
            printf '%s\njw -b 300,301 %s\njw -r 301 /dev/null\njw -b 302 %s\njc\n' "$jo" "$SEEDS/jdata" "$SEEDS/jdata" |
                debugfs -w -f - "$SEEDS/j-$n.img" >/dev/null 2>&1 || continue
            debugfs -R "dump <8> $SEEDS/j-$n.journal" "$SEEDS/j-$n.img" >/dev/null 2>&1 || continue
            mkdir -p "$SEEDS/ext4_journal"
            head -c 16K "$SEEDS/j-$n.journal" >"$SEEDS/ext4_journal/journal-$n"
            seed ext4_reader "$SEEDS/j-$n.img"
        done
    done
fi
# Partition tables, modules lists, loader configuration.
command -v sfdisk >/dev/null && {
    truncate -s 8M "$SEEDS/gpt.img"
    printf 'label: gpt\n,2M\n,\n' | sfdisk -q "$SEEDS/gpt.img" >/dev/null
    seed partitions "$SEEDS/gpt.img"
    seed inspect "$SEEDS/gpt.img"
    # A FAT32 with fewer clusters than FAT32's minimum (read without fatfs),
    # cut after its root directory.
    if command -v mkfs.fat >/dev/null; then
        mkfs.fat -F 32 -n SMALL -C "$SEEDS/small-fat32.full" 32768 >/dev/null 2>&1 &&
            head -c 600K "$SEEDS/small-fat32.full" >"$SEEDS/small-fat32.img" &&
            seed inspect "$SEEDS/small-fat32.img"
        rm -f "$SEEDS/small-fat32.full"
    fi
    seed partitions "$SEEDS/disk.img"
}
for dep in /lib/modules/*/modules.dep; do
    [ -f "$dep" ] && head -c 20000 "$dep" >"$SEEDS/modules.dep" && seed parse_modules "$SEEDS/modules.dep"
    break
done
[ -f /etc/ld.so.conf ] && seed parse_ld_so_conf /etc/ld.so.conf
printf '6G\n' >"$SEEDS/size.txt" && seed parse_size "$SEEDS/size.txt"
printf 'dir /dev 0755 0:0\nchar /dev/console 5 1 0600 0:0\nmode /etc/** 0644\n' >"$SEEDS/manifest.txt" && seed manifest "$SEEDS/manifest.txt"
# EBS: a block manifest, and EC2 answers as moto and EC2 give them.
printf 'blockimg-ebs-manifest 1\nsnapshot snap-0123456789abcdef0\nvolume-gib 8\nblock-size 524288\n0 %s\n17 %s\n' \
    "$(printf a | sha256sum | cut -c1-64)" "$(printf b | sha256sum | cut -c1-64)" >"$SEEDS/disk.blocks" && seed ebs_manifest "$SEEDS/disk.blocks"
printf '<?xml version="1.0" encoding="UTF-8"?>\n<DescribeSnapshotsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><snapshotSet><item><snapshotId>snap-1</snapshotId><status>completed</status><statusMessage>a &amp; b</statusMessage></item></snapshotSet></DescribeSnapshotsResponse>\n' >"$SEEDS/describe.xml" && seed ec2_answer "$SEEDS/describe.xml"
printf '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>InvalidAMIID.NotFound</Code><Message>The image id &apos;[ami-1]&apos; does not exist</Message></Error></Errors><RequestID>r</RequestID></Response>\n' >"$SEEDS/error.xml" && seed ec2_answer "$SEEDS/error.xml"
# Recipes: the documented examples.
for recipe in docs/examples/*.toml; do seed recipe "$recipe"; done

note "building the fuzz targets"
(cd fuzz && cargo fuzz build -O >&2)

seed_arg=()
if [ -n "${FUZZ_SEED:-}" ]; then
    [[ "$FUZZ_SEED" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: FUZZ_SEED must be a positive number" >&2; exit 2; }
    seed_arg=(-seed="$FUZZ_SEED")
fi
failed=()
printf '| target | seconds | executions | result |\n|---|---|---|---|\n'
for target in "${TARGETS[@]}"; do
    corpus=fuzz/corpus/$target
    mkdir -p "$corpus" "fuzz/artifacts/$target"
    log=$SEEDS/$target.log
    dirs=("$PWD/$corpus")
    [ -d "$SEEDS/$target" ] && dirs+=("$SEEDS/$target")
    if (cd fuzz && cargo fuzz run -O "$target" "${dirs[@]}" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=20 \
        -print_final_stats=1 "${seed_arg[@]}") >"$log" 2>&1; then
        result=ok
    else
        result="CRASH (see fuzz/artifacts/$target)"
        failed+=("$target")
        tail -30 "$log" >&2
    fi
    runs=$( (grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" || true) | awk '{s += $2} END {print s + 0}')
    printf '| %s | %s | %s | %s |\n' "$target" "$SECONDS_PER_TARGET" "$runs" "$result"
done

if [ ${#failed[@]} -gt 0 ]; then
    note "targets that crashed: ${failed[*]}"
    exit 1
fi
