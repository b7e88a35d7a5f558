#!/usr/bin/env bash
# Small operations against the standard tool, in the same run, alternating which goes first:
#   berth ls BOT:/data (a small folder)   vs  ctr task exec … ls /data
#   berth exec BOT -- true                vs  ctr task exec … true
# Each is a whole command: process start, connecting, and the work. Prints best and median of
# each and the ratios (best against best, median against median).
#
#   scripts/bench-small.sh [--rounds N]   (default 15)
#
# Needs root; starts the test services and builds what it times (bench_prepare). The Files tab's
# listing after the first (one core call on a kept connection) is timed by scripts/bench-mcp.sh
# (`list_dir`, the same core call). Prints finally:
#   BENCH small ls_best_ms=… ctr_ls_best_ms=… ls_ratio=… exec_best_ms=… ctr_exec_best_ms=… exec_ratio=…
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BERTH_REPO_ROOT"

rounds=15
while (($#)); do
	case "$1" in
	--rounds) rounds="$2"; shift 2 ;;
	*) die "unknown argument: $1" ;;
	esac
done
bench_prepare
bench_workspace bench-small
ctr=(ctr --address "$BERTH_CONTAINERD_SOCKET" -n "$BERTH_NAMESPACE")
"$berth" exec "$bot" -- sh -c 'for i in 1 2 3 4 5 6 7 8; do echo $i > /data/f$i.txt; done; mkdir -p /data/dir'

# Milliseconds a command takes, its output discarded.
ms() {
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000))
}
declare -A times
berth_ls() { "$berth" ls "$bot:/data"; }
ctr_ls() { "${ctr[@]}" task exec --exec-id "l$1" "berth-$bot" ls /data; }
berth_exec() { "$berth" exec "$bot" -- true; }
ctr_exec() { "${ctr[@]}" task exec --exec-id "e$1" "berth-$bot" true; }
n=0
for i in $(seq "$rounds"); do
	n=$((n + 1))
	# Alternate which tool goes first.
	if ((i % 2)); then order=(berth ctr); else order=(ctr berth); fi
	for tool in "${order[@]}"; do
		times[${tool}_ls]+="$(ms "${tool}_ls" "$i") "
		times[${tool}_exec]+="$(ms "${tool}_exec" "$i") "
	done
done

stat_of() { # best and median in ms of the microsecond list
	tr ' ' '\n' <<<"${times[$1]}" | grep . | sort -n | awk '{a[NR]=$1} END {printf "%.2f %.2f", a[1]/1000, a[int((NR+1)/2)]/1000}'
}
read -r ls_best ls_med <<<"$(stat_of berth_ls)"
read -r cls_best cls_med <<<"$(stat_of ctr_ls)"
read -r ex_best ex_med <<<"$(stat_of berth_exec)"
read -r cex_best cex_med <<<"$(stat_of ctr_exec)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
log "berth ls BOT:/data: best $ls_best ms, median $ls_med ms; ctr task exec ls: best $cls_best ms, median $cls_med ms ($n rounds)"
log "berth exec BOT -- true: best $ex_best ms, median $ex_med ms; ctr task exec true: best $cex_best ms, median $cex_med ms"
echo "BENCH small ls_best_ms=$ls_best ctr_ls_best_ms=$cls_best ls_ratio=$(ratio "$ls_best" "$cls_best") ls_median_ratio=$(ratio "$ls_med" "$cls_med") exec_best_ms=$ex_best ctr_exec_best_ms=$cex_best exec_ratio=$(ratio "$ex_best" "$cex_best") exec_median_ratio=$(ratio "$ex_med" "$cex_med")"
