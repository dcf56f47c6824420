#!/usr/bin/env bash
# Measures what EBS snapshots cost and save, for docs/BENCHMARKS.md ("EBS
# snapshots"), and prints markdown tables.
#
#   bash scripts/bench-ebs.sh build     # what the AWS SDK adds to a build
#   bash scripts/bench-ebs.sh upload    # a 6 GiB disk into a snapshot
#
# BENCH_RUNS=N      runs per measurement, the median is reported (default 3)
# BENCH_PROFILE=P   build: `release` (default) or `dev`, the build the tests
#                   and CI use
# BENCH_DIR=DIR     work directory (default: a new temporary directory,
#                   removed at the end)
# BENCH_DATA_MB=N   upload: data in the image, copied from /usr (default 600)
# BENCH_DISK=SIZE   upload: disk size (default 6G)
# BLOCKIMG_BIN=PATH upload: the blockimg to measure (default: a release
#                   build of this tree)
# COLDSNAP_BIN=PATH upload: coldsnap (`cargo install coldsnap`), timed
#                   uploading the same raw file with --omit-zero-blocks, its
#                   way to skip holes (default: coldsnap on PATH;
#                   without it that row says so)
#
# build: `cargo build --release -p blockimg-cli` (or --profile dev) with the
# default features
# (ebs on) and with --no-default-features, each from an empty target
# directory with the crates already downloaded (`cargo fetch`), so the
# figures are compile time alone. Reports wall time, CPU time (user + sys,
# less sensitive to other load on the machine) and the size of the
# binary, as built (line tables) and stripped.
#
# upload: moto's server and the proxy of the tests (tests/aws/proxy.py) on
# loopback, from the virtual environment scripts/test.sh makes (or
# BLOCKIMG_MOTO_VENV). A tree of real files from /usr becomes a 6 GiB disk:
#   - mkdisk --to-snapshot: built and sent in one stream, no file;
#   - mkdisk to a file, then `blockimg upload` of that file;
#   - one file of the tree changed, mkdisk --to-snapshot again over the
#     first snapshot with its block manifest (--timestamp makes the build
#     reproducible): the blocks sent.
# Bytes sent are the blocks the proxy recorded times 512 KiB; bytes read by
# `upload` are the rchar the kernel counted for the process (the page cache
# is warm). A tool that reads the whole raw file, as coldsnap does, reads
# the disk's full size.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-}
RUNS=${BENCH_RUNS:-3}
PROFILE=${BENCH_PROFILE:-release}
DATA_MB=${BENCH_DATA_MB:-600}
DISK=${BENCH_DISK:-6G}

die() { echo "bench-ebs.sh: $*" >&2; exit 1; }
trap 'echo "bench-ebs.sh: failed at line $LINENO" >&2' ERR
note() { echo "bench-ebs.sh: $*" >&2; }

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive number"
case $MODE in
    build | upload) ;;
    *) die "usage: bench-ebs.sh build|upload" ;;
esac

if [ -n "${BENCH_DIR:-}" ]; then
    WORK=$BENCH_DIR
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/blockimg-bench-ebs.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
fi

# median V... : the middle value (the lower of the two middle ones).
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# timed CMD... : runs CMD, sets WALL and CPU (seconds) and READ (bytes the
# process and its children read, rchar).
timed() {
    local out
    out=$(python3 - "$@" <<'EOF'
import os, subprocess, sys, time
def rchar():
    with open("/proc/self/io") as f:
        return int(next(l for l in f if l.startswith("rchar:")).split()[1])
r0, t0, c0 = rchar(), time.monotonic(), os.times()
p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=open(os.environ["BENCH_STDERR"], "w"))
t1, c1, r1 = time.monotonic(), os.times(), rchar()
cpu = (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)
print(f"{p.returncode} {t1 - t0:.2f} {cpu:.2f} {r1 - r0}")
EOF
    )
    local rc
    read -r rc WALL CPU READ <<<"$out"
    [ "$rc" = 0 ] || { cat "$BENCH_STDERR" >&2; die "failed: $*"; }
}
export BENCH_STDERR=$WORK/stderr

bench_build() {
    note "cargo fetch"
    cargo fetch >&2
    local walls_on=() cpus_on=() walls_off=() cpus_off=() i target
    for ((i = 0; i < RUNS; i++)); do
        for features in on off; do
            target=$WORK/target-$features
            rm -rf "$target"
            local args=(build --profile "$PROFILE" --offline -p blockimg-cli --bin blockimg)
            [ "$features" = off ] && args+=(--no-default-features)
            note "run $((i + 1)) of $RUNS: cargo ${args[*]}"
            CARGO_TARGET_DIR=$target timed cargo "${args[@]}"
            if [ "$features" = on ]; then
                walls_on+=("$WALL"); cpus_on+=("$CPU")
            else
                walls_off+=("$WALL"); cpus_off+=("$CPU")
            fi
            note "  ${WALL} s wall, ${CPU} s CPU"
        done
    done
    local size_on size_off strip_on strip_off dir=release
    [ "$PROFILE" = dev ] && dir=debug
    size_on=$(stat -c %s "$WORK/target-on/$dir/blockimg")
    size_off=$(stat -c %s "$WORK/target-off/$dir/blockimg")
    strip -o "$WORK/on.stripped" "$WORK/target-on/$dir/blockimg"
    strip -o "$WORK/off.stripped" "$WORK/target-off/$dir/blockimg"
    strip_on=$(stat -c %s "$WORK/on.stripped")
    strip_off=$(stat -c %s "$WORK/off.stripped")
    local crates_on crates_off
    crates_on=$(cargo tree -p blockimg-cli -e normal,build --prefix none 2>/dev/null | sed 's/ (\*)//' | sort -u | wc -l)
    crates_off=$(cargo tree -p blockimg-cli --no-default-features -e normal,build --prefix none 2>/dev/null | sed 's/ (\*)//' | sort -u | wc -l)
    echo
    echo "| \`cargo build --profile $PROFILE -p blockimg-cli\` (clean, $RUNS runs, $(nproc) cores) | wall (median) | CPU user+sys (median) | binary | stripped | crates |"
    echo "|---|---|---|---|---|---|"
    echo "| default features (\`ebs\` on) | $(median "${walls_on[@]}") s | $(median "${cpus_on[@]}") s | $((size_on / 1024)) KiB | $((strip_on / 1024)) KiB | $crates_on |"
    echo "| \`--no-default-features\` | $(median "${walls_off[@]}") s | $(median "${cpus_off[@]}") s | $((size_off / 1024)) KiB | $((strip_off / 1024)) KiB | $crates_off |"
    echo
    echo "walls on: ${walls_on[*]}; off: ${walls_off[*]}; CPU on: ${cpus_on[*]}; off: ${cpus_off[*]}"
}

bench_upload() {
    local venv=${BLOCKIMG_MOTO_VENV:-${CARGO_TARGET_DIR:-target}/moto-venv}
    [ -x "$venv/bin/moto_server" ] || die "no moto server in $venv (bash scripts/test.sh makes it)"
    local blockimg=${BLOCKIMG_BIN:-}
    if [ -z "$blockimg" ]; then
        note "building blockimg (release)"
        cargo build --release -p blockimg-cli --bin blockimg >&2
        blockimg=$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/release/blockimg
    fi

    local tree=$WORK/tree
    if [ ! -d "$tree" ]; then
        note "copying ${DATA_MB} MB of files from /usr into $tree"
        mkdir -p "$tree.partial"
        local limit=$((DATA_MB * 1000 * 1000))
        find /usr/bin /usr/lib /usr/share -xdev -type f -size -16M -printf '%s\t%p\n' 2>/dev/null \
            | sort -t "$(printf '\t')" -k2 \
            | awk -F '\t' -v limit="$limit" '{ if (t + $1 <= limit) { t += $1; print $2 } }' \
            | tar -cf - -T - 2>/dev/null | tar -xf - -C "$tree.partial"
        mv "$tree.partial" "$tree"
    fi
    local data_bytes
    data_bytes=$(du -sb "$tree" | cut -f1)

    local port proxy_port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$WORK/moto.log" 2>&1 &
    local moto_pid=$!
    rm -f "$WORK/proxy.port"
    "$venv/bin/python3" tests/aws/proxy.py --upstream "127.0.0.1:$port" \
        --port-file "$WORK/proxy.port" --pending-polls 0 >"$WORK/proxy.log" 2>&1 &
    local proxy_pid=$!
    if [ -n "${BENCH_DIR:-}" ]; then
        trap 'kill '"$moto_pid $proxy_pid"' 2>/dev/null' EXIT
    else
        trap 'kill '"$moto_pid $proxy_pid"' 2>/dev/null; rm -rf "$WORK"' EXIT
    fi
    local i
    for ((i = 0; i < 300; i++)); do
        [ -s "$WORK/proxy.port" ] && curl -sf "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break
        sleep 0.1
    done
    proxy_port=$(cat "$WORK/proxy.port")
    export AWS_ENDPOINT_URL=http://127.0.0.1:$proxy_port AWS_REGION=us-east-1
    export AWS_ACCESS_KEY_ID=AKIDBLOCKIMGTEST AWS_SECRET_ACCESS_KEY=secret
    export AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent AWS_EC2_METADATA_DISABLED=true
    unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_REGION
    state() { curl -sf "http://127.0.0.1:$proxy_port/__proxy/state"; }
    # blocks_of ID: blocks the proxy recorded for snapshot ID.
    blocks_of() { state | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["snapshots"][sys.argv[1]]["blocks"]))' "$1"; }
    last_snapshot() { state | python3 -c 'import json, sys; print(list(json.load(sys.stdin)["snapshots"])[-1])'; }

    local mk=("$blockimg" mkdisk -q --timestamp 1700000000 -s "$DISK" -r "$tree")
    local raw=$WORK/disk.img
    find "$tree" -type f -exec cat {} + >/dev/null
    local coldsnap=${COLDSNAP_BIN:-$(command -v coldsnap || true)}
    local stream=() file=() upload=() read=() cold=() cold_read=()
    for ((i = 0; i < RUNS; i++)); do
        note "run $((i + 1)) of $RUNS"
        timed "${mk[@]}" --to-snapshot --block-manifest "$WORK/first.blocks"
        stream+=("$WALL")
        rm -f "$raw"
        timed "${mk[@]}" "$raw"
        local build_wall=$WALL
        timed "$blockimg" upload -q "$raw"
        file+=("$(awk "BEGIN { print $build_wall + $WALL }")")
        upload+=("$WALL")
        read+=("$READ")
        if [ -n "$coldsnap" ]; then
            timed "$coldsnap" upload --no-progress --omit-zero-blocks --wait "$raw"
            cold+=("$(awk "BEGIN { print $build_wall + $WALL }")")
            cold_read+=("$READ")
        fi
    done
    local sent_cold=""
    [ -n "$coldsnap" ] && sent_cold=$(blocks_of "$(last_snapshot)")
    local first allocated sent_stream sent_file
    timed "${mk[@]}" --to-snapshot --block-manifest "$WORK/first.blocks"
    first=$(last_snapshot)
    sent_stream=$(blocks_of "$first")
    timed "$blockimg" upload -q "$raw"
    sent_file=$(blocks_of "$(last_snapshot)")
    allocated=$(($(stat -c %b "$raw") * 512))
    local disk_bytes
    disk_bytes=$(stat -c %s "$raw")

    # One file changed, same size, then the same build over the first
    # snapshot.
    local changed
    changed=$(find "$tree" -type f -size +100k | sort | sed -n 1p)
    head -c "$(stat -c %s "$changed")" /dev/urandom >"$changed.new"
    mv "$changed.new" "$changed"
    timed "${mk[@]}" --to-snapshot --parent-snapshot "$first" --parent-block-manifest "$WORK/first.blocks"
    local incremental_wall=$WALL incremental
    incremental=$(blocks_of "$(last_snapshot)")

    local mib=$((1024 * 1024))
    echo
    echo "Disk $DISK holding $((data_bytes / 1000000)) MB of files from /usr ($(find "$tree" -type f | wc -l) files); raw image allocated $((allocated / mib)) MiB."
    echo
    echo "| | wall (median of $RUNS) | bytes read | bytes sent |"
    echo "|---|---|---|---|"
    echo "| \`mkdisk --to-snapshot\` (one stream, no file) | $(median "${stream[@]}") s | the tree | $((sent_stream * 512 / 1024)) MiB ($sent_stream blocks, $((sent_stream * 512 * 100 * 1024 / allocated))% of allocated) |"
    echo "| \`mkdisk\` to a file, then \`upload\` | $(median "${file[@]}") s | | |"
    echo "| of which \`upload\` | $(median "${upload[@]}") s | $(( $(median "${read[@]}") / mib)) MiB | $((sent_file * 512 / 1024)) MiB ($sent_file blocks) |"
    local cold_wall="" cold_bytes=""
    if [ -n "$coldsnap" ]; then
        cold_wall=$(median "${cold[@]}")
        cold_bytes=$(median "${cold_read[@]}")
        echo "| \`mkdisk\` to a file, then \`coldsnap upload --omit-zero-blocks --wait\` | $cold_wall s | $((cold_bytes / mib)) MiB | $((sent_cold * 512 / 1024)) MiB ($sent_cold blocks) |"
    else
        echo "| reading the whole file (coldsnap's way; no coldsnap here) | | $((disk_bytes / mib)) MiB | |"
    fi
    echo "| one file ($(stat -c %s "$changed") bytes) changed, over the first snapshot | ${incremental_wall} s | the tree | $incremental blocks |"
    if [ -n "$coldsnap" ]; then
        echo
        ratio() { awk "BEGIN { printf \"%.${3}f\", $1 / $2 }"; }
        echo "Build to a file then coldsnap's upload takes $(ratio "$cold_wall" "$(median "${stream[@]}")" 2)x the time of \`mkdisk --to-snapshot\` and $(ratio "$cold_wall" "$(median "${file[@]}")" 2)x that of \`mkdisk\` then \`upload\`; coldsnap's upload alone reads $(ratio "$cold_bytes" "$(median "${read[@]}")" 1)x the bytes \`upload\` reads."
    fi
    echo
    echo "runs: stream ${stream[*]}; file+upload ${file[*]}; upload ${upload[*]}${coldsnap:+; file+coldsnap ${cold[*]}}"
}

"bench_$MODE"
