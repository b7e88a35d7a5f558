#!/usr/bin/env bash
# Builds the static `berth-bridge` binary (PID 1 of every workspace container) into
# target/bridge/berth-bridge (or, for another architecture, target/bridge/<arch>/berth-bridge)
# and prints its path.
#
# Its own cargo invocation with an explicit --target: RUSTFLAGS then reach only the target
# crates, never the host app (which must stay dynamically linked against WebKit), and glibc's
# crt-static gives a static-pie binary that runs in a busybox image (no libc in the image).
#
# Usage: scripts/build-bridge.sh [--force] [--arch x86_64|aarch64]
#
# --arch aarch64 builds the bridge for arm64 workspaces (Apple silicon). On a Linux x86-64 host it
# needs, once: `rustup target add aarch64-unknown-linux-gnu` and the Debian packages
# gcc-aarch64-linux-gnu and libc6-dev-arm64-cross (qemu-user-static lets this script also start
# it). On a Mac, build it in a Linux container instead (README: "Berth on a Mac").
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

force=0
arch="$(uname -m)"
[[ "$arch" == arm64 ]] && arch=aarch64
host_arch="$arch"
while (($#)); do
	case "$1" in
	--force) force=1 ;;
	--arch)
		arch="${2:-}"
		shift
		;;
	-h | --help)
		sed -n '2,16p' "$0"
		exit 0
		;;
	*) die "unknown argument: $1" ;;
	esac
	shift
done
case "$arch" in
x86_64 | amd64) arch=x86_64 ;;
aarch64 | arm64) arch=aarch64 ;;
*) die "unknown architecture: $arch (x86_64 or aarch64)" ;;
esac

cd "$BERTH_REPO_ROOT"
target="$arch-unknown-linux-gnu"
out_dir="$BERTH_REPO_ROOT/target/bridge"
[[ "$arch" == "$host_arch" ]] || out_dir="$out_dir/$arch"
out="$out_dir/berth-bridge"
runner=()
if [[ "$arch" != "$host_arch" ]]; then
	# A cross build: the cross linker links, and qemu (when installed) runs the start-up check.
	linker="$arch-linux-gnu-gcc"
	command -v "$linker" >/dev/null ||
		die "cross-building for $arch needs $linker (Debian: apt-get install gcc-$arch-linux-gnu libc6-dev-arm64-cross)"
	rustup target list --installed 2>/dev/null | grep -qx "$target" ||
		die "cross-building for $arch needs the Rust target: rustup target add $target"
	export "CARGO_TARGET_$(tr 'a-z-' 'A-Z_' <<<"$target")_LINKER=$linker"
	if command -v "qemu-$arch-static" >/dev/null; then runner=("qemu-$arch-static"); fi
fi

# Fast path: nothing under crates/bridge (or the workspace manifest or lock file) is newer than the binary.
if [[ $force -eq 0 && -x "$out" ]] &&
	[[ -z "$(find crates/bridge Cargo.toml Cargo.lock -newer "$out" -print -quit 2>/dev/null)" ]]; then
	log "bridge up to date: $out"
	printf '%s\n' "$out"
	exit 0
fi

log "building static berth-bridge for $target"
RUSTFLAGS="-C target-feature=+crt-static" \
	cargo build --release -p berth-bridge --bin berth-bridge --target "$target" >&2

built="$BERTH_REPO_ROOT/target/$target/release/berth-bridge"
mkdir -p "$out_dir"
# Copy to a temp name and rename, so a concurrent reader never sees a half-written binary.
cp "$built" "$out.tmp.$$"
mv -f "$out.tmp.$$" "$out"

# Verify: it must be static (a dynamic binary would not start in images without glibc)...
kind="$(file -b "$out")"
case "$kind" in
*"static-pie linked"* | *"statically linked"*) ;;
*) die "berth-bridge is not static: $kind" ;;
esac
want_machine=x86-64
[[ "$arch" == aarch64 ]] && want_machine=aarch64
[[ "$kind" == *"$want_machine"* ]] || die "berth-bridge is not a $arch binary: $kind"
if [[ "$arch" != "$host_arch" && ${#runner[@]} -eq 0 ]]; then
	log "built $out ($kind); not started: qemu-$arch-static is not installed"
	printf '%s\n' "$out"
	exit 0
fi

# ...and it must start: serve on a temp socket and answer by creating it.
tmp="$(mktemp -d)"
BERTH_BRIDGE_SOCKET="$tmp/bridge.sock" BERTH_DATA_DIR="$tmp/data" BERTH_TEMPLATES_DIR="$tmp/none" \
	"${runner[@]}" "$out" 2>"$tmp/log" &
pid=$!
ok=0
for _ in $(seq 1 100); do
	if [[ -S "$tmp/bridge.sock" ]]; then
		ok=1
		break
	fi
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.05
done
kill -TERM "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
if [[ $ok -ne 1 ]]; then
	cat "$tmp/log" >&2
	rm -rf "$tmp"
	die "berth-bridge did not start"
fi
rm -rf "$tmp"

log "built $out ($kind)"
printf '%s\n' "$out"
