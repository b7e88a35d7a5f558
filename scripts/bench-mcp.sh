#!/usr/bin/env bash
# Times `berth mcp serve` as an agent uses it, against `ctr task exec` for the same command:
#   - `exec {command: "true"}` round trips through the MCP server (the official TypeScript SDK
#     as the client, tests/mcp-client/bench.mjs), p50 / p99;
#   - `ctr task exec … true` on the same workspace, the standard tool's cost of one command;
#   - `read_file` of a 1 MiB text file, p50;
#   - the server's idle memory (RSS, PSS).
#
#   scripts/bench-mcp.sh [--rounds N]     (default 200 MCP calls, 30 ctr runs)
#
# Needs root and node with tests/mcp-client's packages (setup.sh); starts the test services
# and builds what it times (lib.sh's bench_prepare). Prints finally:
#   BENCH mcp exec_p50_ms=… ctr_exec_p50_ms=… ratio=… read1m_p50_ms=… idle_rss_mib=…
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BERTH_REPO_ROOT"

rounds=200
while (($#)); do
	case "$1" in
	--rounds) rounds="$2"; shift 2 ;;
	*) die "unknown argument: $1" ;;
	esac
done
bench_prepare
[[ -d tests/mcp-client/node_modules ]] || npm ci --prefix tests/mcp-client --no-audit --no-fund
bench_workspace bench-mcp

# ctr: one `true` per `ctr task exec`, the median of 30.
ctr_ms=()
for i in $(seq 30); do
	t0=$(date +%s%N)
	ctr --address "$BERTH_CONTAINERD_SOCKET" -n "$BERTH_NAMESPACE" task exec --exec-id "b$i" "berth-$bot" true
	ctr_ms+=($((($(date +%s%N) - t0) / 1000)))
done
ctr_p50=$(printf '%s\n' "${ctr_ms[@]}" | sort -n | sed -n 15p)
ctr_p50=$(awk -v us="$ctr_p50" 'BEGIN { printf "%.2f", us / 1000 }')
log "ctr task exec true: p50 $ctr_p50 ms (30 runs)"

out=$(node tests/mcp-client/bench.mjs "$berth" "$bot" "$rounds")
echo "$out" | grep -v '^BENCH'
line=$(echo "$out" | grep '^BENCH')
mcp_p50=$(sed -n 's/.*exec_p50_ms=\([0-9.]*\).*/\1/p' <<<"$line")
ratio=$(awk -v a="$mcp_p50" -v b="$ctr_p50" 'BEGIN { printf "%.3f", a / b }')
echo "${line/BENCH mcp/BENCH mcp ctr_exec_p50_ms=$ctr_p50 ratio=$ratio}"
