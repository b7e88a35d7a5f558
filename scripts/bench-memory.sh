#!/usr/bin/env bash
# Idle memory of Berth's window against an empty Tauri 2 window (bench/empty-window: the same
# Tauri and WebKitGTK, an empty page), measured in one run, alternating, under Xvfb. Berth has one
# running workspace and opens on its Overview. After each window has settled, the PSS of its
# three processes is read from /proc/PID/smaps_rollup: the app process, WebKitWebProcess and
# WebKitNetworkProcess (PSS: shared pages counted once across the processes that share them).
#
#   scripts/bench-memory.sh [--rounds N] [--settle S]   (defaults 3 rounds, 10 s)
#
# Both are debug builds (the test command's; a release build changes the app process's code
# size, not WebKit's). Needs root, the test services (started here) and Xvfb. Prints finally:
#   BENCH memory berth_mib=… empty_mib=… ratio=… (app …/…, web …/…, network …/…)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BERTH_REPO_ROOT"

rounds=3
settle=10
while (($#)); do
	case "$1" in
	--rounds) rounds="$2"; shift 2 ;;
	--settle) settle="$2"; shift 2 ;;
	*) die "unknown argument: $1" ;;
	esac
done
export BENCH_DEBUG=1
bench_prepare
npm --prefix ui run build --silent >/dev/null
cargo build --quiet -p berth-app
# The root's lock file, so the empty window uses Berth's exact Tauri and shares its build.
cp Cargo.lock bench/empty-window/Cargo.lock
(cd bench/empty-window && CARGO_TARGET_DIR="$BERTH_REPO_ROOT/target" cargo build --quiet --offline)
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
	e=$(measure target/debug/empty-window)
	b=$(measure target/debug/berth-app)
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
