#!/usr/bin/env bash
# Terminal benchmarks, in one run against one workspace:
#
#   scripts/bench-terminal.sh [--runs N] [--keys N] [--mb N]
#
#   --runs N   timed `cat` runs per tool (default 3); the result is the median
#   --keys N   keystrokes for the latency measurement (default 500)
#   --mb N     size of the file `cat` prints (default 50 MiB)
#
# 1. Keystroke round trip through core and the bridge: tests/examples/terminal-latency.rs
#    opens a session as the app does (core's Terminals with a sink), runs `stty raw -echo;
#    exec cat` in it, then writes one byte at a time and waits until it comes back through
#    the PTY, the bridge's gRPC stream and core. Target: p50 < 5 ms.
# 2. Throughput: `cat` of an N MiB text file on a PTY, Berth (`berth exec -t BOT -- cat F`)
#    against containerd's own CLI (`ctr task exec -t … cat F`) on the same container. Both
#    run under script(1), so each gets a terminal on the calling side as a user would, and
#    both include their process start-up; the order alternates per run. Target: ratio ≤ 1.
#
# Needs root, `scripts/services.sh start`, the test images, and builds the release CLI, the
# latency example and the static bridge when missing. Uses its own namespace and data dir.
# Prints:  BENCH terminal key_p50_us=… key_p99_us=… cat_berth_ms=… cat_ctr_ms=… ratio=…
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BERTH_REPO_ROOT"

runs=3
keys=500
mb=50
while (($#)); do
	case "$1" in
	--runs) runs="${2:-}" && shift 2 ;;
	--keys) keys="${2:-}" && shift 2 ;;
	--mb) mb="${2:-}" && shift 2 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument: $1 (see --help)" ;;
	esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ && "$keys" =~ ^[1-9][0-9]*$ && "$mb" =~ ^[1-9][0-9]*$ ]] || die "numbers must be positive integers"
[[ $EUID -eq 0 ]] || die "must run as root (containerd needs it)"
have script || die "script(1) (util-linux) is needed"
have ctr || die "ctr is needed"
if [[ -z "${BERTH_CONTAINERD_SOCKET:-}" || -z "${BERTH_TEST_REGISTRY:-}" ]]; then
	eval "$(scripts/services.sh env)"
fi
scripts/services.sh status >/dev/null 2>&1 || die "containerd/registry not running: scripts/services.sh start"
python3 scripts/build-test-images.py --check >/dev/null 2>&1 || python3 scripts/build-test-images.py >/dev/null

BERTH_BIN="$BERTH_REPO_ROOT/target/release/berth"
LATENCY_BIN="$BERTH_REPO_ROOT/target/release/examples/terminal-latency"
[[ -x target/bridge/berth-bridge ]] || scripts/build-bridge.sh >&2
log "building the release CLI and the latency probe"
# Two invocations: with --example, cargo builds only that target of the listed packages.
cargo build --release -p berth-cli >&2
cargo build --release -p berth-tests --example terminal-latency >&2

work="$(mktemp -d /tmp/berth-bench-terminal.XXXXXX)"
export BERTH_DATA_DIR="$work/data"
export BERTH_NAMESPACE="bench-term-$$"
bot="bench-term"
cleanup() {
	"$BERTH_BIN" rm "$bot" >/dev/null 2>&1 || true
	local c=(ctr --address "$BERTH_CONTAINERD_SOCKET" -n "$BERTH_NAMESPACE") x
	for x in $("${c[@]}" images ls -q 2>/dev/null); do "${c[@]}" images rm --sync "$x" >/dev/null 2>&1 || true; done
	for x in $("${c[@]}" leases ls -q 2>/dev/null); do "${c[@]}" leases rm "$x" >/dev/null 2>&1 || true; done
	ctr --address "$BERTH_CONTAINERD_SOCKET" namespace rm "$BERTH_NAMESPACE" >/dev/null 2>&1 ||
		warn "namespace $BERTH_NAMESPACE not removed"
	rm -rf "$work"
}
trap cleanup EXIT

log "creating a workspace (busybox) in namespace $BERTH_NAMESPACE"
"$BERTH_BIN" create "$bot" --image "$BERTH_TEST_REGISTRY/berth-test/busybox:1" --pull if-not-present >/dev/null

log "keystroke round trip ($keys keys)"
lat="$("$LATENCY_BIN" "$bot" "$keys")"
echo "latency: $lat"
p50="$(sed -n 's/.*p50_us=\([0-9]*\).*/\1/p' <<<"$lat")"
p99="$(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<<"$lat")"

log "writing a $mb MiB text file in the workspace"
"$BERTH_BIN" exec "$bot" -- sh -c "yes 'the quick brown fox jumps over the lazy dog 0123456789' | head -c $((mb * 1048576)) > /data/bench.txt" </dev/null
size="$("$BERTH_BIN" exec "$bot" -- sh -c 'wc -c < /data/bench.txt' </dev/null | tr -d ' ')"
((size == mb * 1048576)) || die "bench file has $size bytes"

now_ms() { date +%s%3N; }
# One timed run under script(1); prints milliseconds; checks the bytes that came out.
timed() {
	local out="$work/out" t0 t1 got
	t0="$(now_ms)"
	script -qfec "$1" "$out" </dev/null >/dev/null
	t1="$(now_ms)"
	got="$(stat -c %s "$out")"
	# ONLCR turns every \n into \r\n on the way out: at least the file's size must arrive.
	((got >= size)) || die "only $got bytes arrived for: $1"
	echo $((t1 - t0))
}
cid="berth-$bot"
berth_cmd="$BERTH_BIN exec -t $bot -- cat /data/bench.txt"
ctr_cmd_for() { echo "ctr --address $BERTH_CONTAINERD_SOCKET -n $BERTH_NAMESPACE task exec -t --exec-id bench-$1 $cid cat /data/bench.txt"; }

berth_ms=()
ctr_ms=()
for ((i = 1; i <= runs; i++)); do
	if ((i % 2)); then
		b="$(timed "$berth_cmd")"
		c="$(timed "$(ctr_cmd_for "$i")")"
	else
		c="$(timed "$(ctr_cmd_for "$i")")"
		b="$(timed "$berth_cmd")"
	fi
	echo "run $i: berth ${b} ms, ctr ${c} ms"
	berth_ms+=("$b")
	ctr_ms+=("$c")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
bm="$(median "${berth_ms[@]}")"
cm="$(median "${ctr_ms[@]}")"
ratio="$(awk -v b="$bm" -v c="$cm" 'BEGIN {printf "%.2f", b / c}')"
echo "BENCH terminal key_p50_us=$p50 key_p99_us=$p99 cat_mib=$mb cat_berth_ms=$bm cat_ctr_ms=$cm ratio=$ratio"
