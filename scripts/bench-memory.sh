#!/usr/bin/env bash
# Idle memory of Berth's window against an empty Tauri 2 window (bench/empty-window: the same
# Tauri and WebKitGTK, an empty page), measured in one run, alternating, under Xvfb. Berth has one
# running workspace and opens on its Overview. After each window has settled, the PSS of its
# three processes is read from /proc/PID/smaps_rollup: the app process, WebKitWebProcess and
# WebKitNetworkProcess (PSS: shared pages counted once across the processes that share them).
#
#   scripts/bench-memory.sh [--rounds N] [--settle S] [--release] [--paint]
#                                         (defaults 3 rounds, 10 s, debug builds)
#
#   --release  build and measure release builds of both (what a user runs); the default is the
#              test command's debug builds
#   --paint    then also time each window's first paint (tests/e2e/first-paint.bench.mjs)
#
# Berth's window turns WebKit's accelerated compositing off (src-tauri/src/webview.rs); the
# empty window keeps WebKit's default. Set WEBKIT_DISABLE_COMPOSITING_MODE=1 to compare both
# without it. Needs root, the test services (started here) and Xvfb. Prints finally:
#   BENCH memory berth_mib=… empty_mib=… ratio=… (app …/…, web …/…, network …/…)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BERTH_REPO_ROOT"

rounds=3
settle=10
release=()
paint=0
while (($#)); do
	case "$1" in
	--rounds) rounds="$2"; shift 2 ;;
	--settle) settle="$2"; shift 2 ;;
	--release) release=(--release); shift ;;
	--paint) paint=1; shift ;;
	*) die "unknown argument: $1" ;;
	esac
done
export BENCH_DEBUG=1
bench_prepare
out=debug
((${#release[@]})) && out=release
npm --prefix ui run build --silent >/dev/null
cargo build --quiet "${release[@]}" -p berth-app
# The root's lock file, so the empty window uses Berth's exact Tauri and shares its build.
cp Cargo.lock bench/empty-window/Cargo.lock
(cd bench/empty-window && CARGO_TARGET_DIR="$BERTH_REPO_ROOT/target" cargo build --quiet "${release[@]}" --offline)
bench_workspace bench-memory

display=:$((90 + RANDOM % 9))
Xvfb "$display" -screen 0 1280x800x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true; bench_workspace_remove' EXIT
export DISPLAY=$display

# PSS in KiB of one process, 0 when it is gone.
pss() { awk '/^Pss:/ {print $2; exit}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
# Children of $1 whose command name is $2.
child() { for s in /proc/[0-9]*/stat; do awk -v p="$1" -v n="($2)" '$4 == p && $2 == n {print $1}' "$s" 2>/dev/null; done; }

# Starts a window program, lets it settle, prints "app web network" PSS in KiB, stops it.
measure() {
	local home
	home=$(mktemp -d)
	XDG_DATA_HOME="$home/data" XDG_CONFIG_HOME="$home/config" XDG_CACHE_HOME="$home/cache" \
		LANGUAGE=en NO_AT_BRIDGE=1 "$@" >/dev/null 2>&1 &
	local pid=$!
	sleep "$settle"
	local web net
	web=$(child "$pid" WebKitWebProces | head -1)
	net=$(child "$pid" WebKitNetworkPr | head -1)
	[[ -n "$web" && -n "$net" ]] || die "no WebKit processes under $1 (pid $pid)"
	echo "$(pss "$pid") $(pss "$web") $(pss "$net")"
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -rf "$home"
}

declare -a berth_runs empty_runs
for ((r = 1; r <= rounds; r++)); do
	e=$(measure "target/$out/empty-window")
	b=$(measure "target/$out/berth-app")
	empty_runs+=("$e")
	berth_runs+=("$b")
	log "round $r: berth app/web/network KiB $b; empty $e"
done

# The round with the smallest total, per program.
best() { for x in "$@"; do read -r a w n <<<"$x"; echo "$((a + w + n)) $a $w $n"; done | sort -n | head -1; }
read -r bt ba bw bn <<<"$(best "${berth_runs[@]}")"
read -r et ea ew en <<<"$(best "${empty_runs[@]}")"
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
ratio=$(awk -v a="$bt" -v b="$et" 'BEGIN {printf "%.2f", a / b}')
echo "BENCH memory berth_mib=$(mib "$bt") empty_mib=$(mib "$et") ratio=$ratio (app $(mib "$ba")/$(mib "$ea"), web $(mib "$bw")/$(mib "$ew"), network $(mib "$bn")/$(mib "$en"))"

if ((paint)); then
	kill $xvfb 2>/dev/null || true
	BERTH_E2E_APP="$BERTH_REPO_ROOT/target/$out/berth-app" BERTH_EMPTY_WINDOW="$BERTH_REPO_ROOT/target/$out/empty-window" \
		BERTH_BENCH_ROUNDS="$rounds" scripts/e2e.sh --no-build tests/e2e/first-paint.bench.mjs |
		grep -o 'BENCH paint .*' | tail -1
fi
