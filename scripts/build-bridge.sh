#!/usr/bin/env bash
# Builds the static `berth-bridge` binary (PID 1 of every workspace container) into
# target/bridge/berth-bridge and prints its path.
#
# Its own cargo invocation with an explicit --target: RUSTFLAGS then reach only the target
# crates, never the host app (which must stay dynamically linked against WebKit), and glibc's
# crt-static gives a static-pie binary that runs in a busybox image (no libc in the image).
#
# Usage: scripts/build-bridge.sh [--force]
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

force=0
for arg in "$@"; do
	case "$arg" in
	--force) force=1 ;;
	-h | --help)
		sed -n '2,9p' "$0"
		exit 0
		;;
	*) die "unknown argument: $arg" ;;
	esac
done

cd "$BERTH_REPO_ROOT"
target=x86_64-unknown-linux-gnu
out_dir="$BERTH_REPO_ROOT/target/bridge"
out="$out_dir/berth-bridge"

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

# ...and it must start: serve on a temp socket and answer by creating it.
tmp="$(mktemp -d)"
BERTH_BRIDGE_SOCKET="$tmp/bridge.sock" BERTH_DATA_DIR="$tmp/data" BERTH_TEMPLATES_DIR="$tmp/none" \
	"$out" 2>"$tmp/log" &
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
