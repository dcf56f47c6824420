#!/usr/bin/env bash
# The one test command: installs the oracles the tests use (on Debian, as
# root or through sudo), then checks formatting, runs clippy, and runs every
# test of the workspace, doctests included.
#
#   bash scripts/test.sh
#
# BLOCKIMG_SKIP_APT=1   never run apt-get (tests whose tools are missing say
#                       SKIPPED and why)
# BLOCKIMG_ARM64_ROOT   Debian's arm64 GRUB modules, busybox, kernel and libc
#                       unpacked in one directory (default: TARGET/arm64/root,
#                       downloaded with apt-get download on the first run)
# PROPTEST_CASES=N      cases of the random-tree property test (default 24)
# PROPTEST_RNG_SEED=N   seed of every property test (default 1, so that a run
#                       repeats the last; the documented long runs use new seeds)
# FUZZ_SMOKE_SECONDS=N  seconds each fuzz target runs at the end (default 10;
#                       0 leaves fuzzing out); see scripts/fuzz.sh
# FUZZ_SEED=N           libFuzzer seed of that run (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
    e2fsprogs genext2fs fdisk gdisk util-linux
    qemu-system-x86 qemu-system-arm qemu-utils
    grub-pc-bin grub-efi-amd64-bin ovmf qemu-efi-aarch64
    fuse3 dosfstools mtools busybox-static cpio linux-image-amd64
    libarchive-tools kmod xz-utils zstd gzip tar python3 python3-venv
    rsync acl attr passwd dpkg
)

# Commands and files that show the packages above are installed.
NEEDED_COMMANDS=(
    e2fsck debugfs dumpe2fs mke2fs genext2fs sfdisk sgdisk losetup mount setpriv
    qemu-system-x86_64 qemu-system-aarch64 qemu-img grub-mkimage fusermount3 fsck.fat mdir busybox cpio
    bsdtar modprobe xz zstd gzip tar python3 grub-fstest
    rsync setfacl setfattr useradd dpkg-deb
)
NEEDED_PATHS=(
    /usr/lib/grub/i386-pc/boot.img
    /usr/lib/grub/x86_64-efi
    /usr/share/ovmf/OVMF.fd
    /usr/share/AAVMF/AAVMF_CODE.fd
)

log() { printf '\n== %s\n' "$*" >&2; }

have_command() {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
}

missing_tools() {
    local missing=()
    for cmd in "${NEEDED_COMMANDS[@]}"; do
        have_command "$cmd" || missing+=("$cmd")
    done
    for path in "${NEEDED_PATHS[@]}"; do
        [ -e "$path" ] || missing+=("$path")
    done
    compgen -G '/boot/vmlinuz-*' >/dev/null || missing+=("/boot/vmlinuz-*")
    # python3 -m venv (the EBS tests' moto server) needs python3-venv on Debian.
    python3 -c 'import ensurepip' 2>/dev/null || missing+=("python3 venv (python3-venv)")
    printf '%s\n' "${missing[@]}"
}

install_tools() {
    if [ "${BLOCKIMG_SKIP_APT:-0}" = 1 ]; then
        log "BLOCKIMG_SKIP_APT=1: not installing test tools"
        return
    fi
    local missing
    missing=$(missing_tools)
    if [ -z "$missing" ]; then
        log "every test tool is installed"
        return
    fi
    if [ ! -f /etc/debian_version ] || ! command -v apt-get >/dev/null; then
        log "not Debian: install these yourself, or the tests that need them skip:" $missing
        return
    fi
    local sudo=()
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            log "not root and no sudo: cannot install" $missing "- the tests that need them skip"
            return
        fi
    fi
    log "installing test tools (missing:" $missing")"
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
    "${apt[@]}" update
    if ! "${apt[@]}" install -y --no-install-recommends "${PACKAGES[@]}"; then
        # A qemu-utils from another suite (backports, say) breaks the
        # qemu-system-x86 of this one: install both at the version
        # qemu-system-x86 has here.
        local version
        version=$(apt-cache policy qemu-system-x86 | awk '/Candidate:/ {print $2}')
        [ -n "$version" ] && [ "$version" != "(none)" ] || return 1
        log "retrying with qemu-system-x86 and qemu-utils both at $version"
        local pinned=()
        for pkg in "${PACKAGES[@]}"; do
            case $pkg in
                qemu-system-x86 | qemu-system-arm | qemu-utils) pinned+=("$pkg=$version") ;;
                *) pinned+=("$pkg") ;;
            esac
        done
        "${apt[@]}" install -y --no-install-recommends --allow-downgrades "${pinned[@]}"
    fi
}

# Debian's arm64 packages the arm64 tests boot (GRUB's arm64-efi modules,
# a static busybox, the kernel with its modules, libc for a dynamic
# executable), downloaded once into TARGET/arm64/debs and unpacked into
# TARGET/arm64/root with the kernel's modules.dep made by depmod.
ARM64_PACKAGES=(grub-efi-arm64-bin busybox-static libc6)

prepare_arm64() {
    local dir=$1
    if [ -f "$dir/root/.complete" ]; then
        log "arm64 packages: $dir/root"
        return
    fi
    if [ "${BLOCKIMG_SKIP_APT:-0}" = 1 ] || ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
        log "no arm64 packages in $dir/root: the arm64 tests skip"
        return
    fi
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo -n)
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        log "dpkg --add-architecture arm64"
        "${sudo[@]}" dpkg --add-architecture arm64 && "${sudo[@]}" apt-get update ||
            { log "cannot add arm64 to dpkg: the arm64 tests skip"; return; }
    fi
    local kernel
    kernel=$(apt-cache depends linux-image-arm64:arm64 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    if [ -z "$kernel" ]; then
        "${sudo[@]}" apt-get update || true
        kernel=$(apt-cache depends linux-image-arm64:arm64 2>/dev/null |
            awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    fi
    [ -n "$kernel" ] || { log "no linux-image-arm64:arm64 in apt's lists: the arm64 tests skip"; return; }
    log "downloading arm64 packages: ${ARM64_PACKAGES[*]} $kernel"
    rm -rf "$dir/debs" "$dir/root"
    mkdir -p "$dir/debs" "$dir/root"
    local pkgs=()
    for pkg in "${ARM64_PACKAGES[@]}"; do pkgs+=("$pkg:arm64"); done
    (cd "$dir/debs" && apt-get download "${pkgs[@]}" "$kernel") ||
        { log "apt-get download failed: the arm64 tests skip"; return; }
    local deb
    for deb in "$dir"/debs/*.deb; do
        dpkg-deb -x "$deb" "$dir/root" || { log "dpkg-deb -x $deb failed: the arm64 tests skip"; return; }
    done
    local modules
    modules=$(find "$dir/root/lib/modules" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | head -n1)
    if [ -z "$modules" ] || ! /sbin/depmod -b "$dir/root" "$(basename "$modules")"; then
        log "no arm64 kernel modules to index in $dir/root: the arm64 tests skip"
        return
    fi
    touch "$dir/root/.complete"
}

install_tools

# moto's server and boto3 for the EBS snapshot tests, in a virtual
# environment beside the build (made once, reused while it works).
target_dir=${CARGO_TARGET_DIR:-target}
case $target_dir in
    /*) ;;
    *) target_dir=$PWD/$target_dir ;;
esac
make_moto_venv() {
    local venv=$target_dir/moto-venv
    if [ -x "$venv/bin/moto_server" ] && "$venv/bin/python3" -c 'import moto, boto3' 2>/dev/null; then
        log "moto's server is in $venv"
    elif rm -rf "$venv" && python3 -m venv "$venv" && "$venv/bin/pip" install -q 'moto[server]'; then
        log "made $venv with moto's server"
    else
        rm -rf "$venv"
        log "could not make a venv with moto (python3-venv, PyPI): the EBS tests skip"
        return
    fi
    export BLOCKIMG_MOTO_VENV=$venv
}
make_moto_venv

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

log "no import cycles between modules (scripts/check-cycles.py)"
python3 scripts/check-cycles.py

# Build the binary the end-to-end tests run once, before they start, and
# point every test at it.
log "cargo build -p blockimg-cli"
cargo build -p blockimg-cli --bin blockimg
export BLOCKIMG_BIN=$target_dir/debug/blockimg
if [ -z "${BLOCKIMG_ARM64_ROOT:-}" ]; then
    prepare_arm64 "$target_dir/arm64"
    export BLOCKIMG_ARM64_ROOT=$target_dir/arm64/root
fi
export PROPTEST_RNG_SEED=${PROPTEST_RNG_SEED:-1}

if command -v cargo-nextest >/dev/null 2>&1; then
    log "cargo nextest run --workspace"
    cargo nextest run --workspace --no-fail-fast
else
    log "cargo test --workspace (cargo-nextest is not installed)"
    cargo test --workspace --no-fail-fast
fi

log "cargo test --workspace --doc"
cargo test --workspace --doc

log "cargo doc --no-deps (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace

smoke=${FUZZ_SMOKE_SECONDS:-10}
if [ "$smoke" != 0 ]; then
    # A fixed seed: the smoke run checks that known ground still holds;
    # finding new crashes is the work of long runs (docs/RELIABILITY.md).
    log "fuzz smoke run: every target for $smoke s, seed ${FUZZ_SEED:-1} (scripts/fuzz.sh)"
    FUZZ_SEED=${FUZZ_SEED:-1} bash scripts/fuzz.sh "$smoke"
fi

log "all tests passed"
