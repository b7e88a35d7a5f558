#!/usr/bin/env bash
# Keystroke latency in the real app, the whole path: a key event in xterm.js, the IPC write,
# core, the bridge, the PTY's echo and back, until the frame that paints the echo
# (tests/e2e/keystrokes.bench.mjs, under Xvfb through scripts/e2e.sh, which builds the app).
#
#   scripts/bench-keys.sh [--keys N]   (default 400)
#
# Targets (issue 15): p50 < 5 ms, p99 < 16 ms (one frame). Run it on an idle machine: it
# measures this machine's scheduling too. Prints finally:
#   BENCH keys n=… echo_p50_ms=… echo_p99_ms=… … painted_p50_ms=… painted_p99_ms=… …
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BERTH_REPO_ROOT"

keys=400
extra=()
while (($#)); do
	case "$1" in
	--keys) keys="$2"; shift 2 ;;
	--no-build) extra+=(--no-build); shift ;;
	*) die "unknown argument: $1" ;;
	esac
done
out=$(mktemp)
trap 'rm -f "$out"' EXIT
BERTH_BENCH_KEYS="$keys" scripts/e2e.sh "${extra[@]}" tests/e2e/keystrokes.bench.mjs | tee "$out" >&2
grep -o 'BENCH keys .*' "$out" | tail -1
