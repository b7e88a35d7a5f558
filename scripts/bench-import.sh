#!/usr/bin/env bash
# Import of many small files, the shape of a bot's node_modules or Python environment:
# `berth import` into an empty /data against `tar -xzf` of the same archive into an empty
# directory on the host, alternating which goes first, several rounds; best and median of each
# and the ratios (tar time / Berth time: above 1 means Berth is faster).
#
#   scripts/bench-import.sh [--files N] [--big-mib N] [--rounds N]
#
#   --files N    small files of 4 KiB, 100 per folder (default 20000)
#   --big-mib N  MiB of larger files, 10 MiB each, incompressible (default 100)
#   --rounds N   rounds (default 5)
#
# Each timing is the wall time of one command after `sync`; clearing the destinations is not
# timed, and the disk gets a moment after it (this machine kind discards in the background
# after large deletes). The bridge's own log line (staged and applied / cleaned up) is printed
# for the last round. Needs root; starts the test services and builds what it times.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BERTH_REPO_ROOT"

files=20000 big=100 rounds=5
while (($#)); do
	case "$1" in
	--files) files="$2"; shift 2 ;;
	--big-mib) big="$2"; shift 2 ;;
	--rounds) rounds="$2"; shift 2 ;;
	*) die "unknown argument: $1" ;;
	esac
done
bench_prepare
bench_workspace bench-import

tree="$work/tree"
python3 - "$tree" "$files" "$big" <<'PY'
import os, sys
root, n, big = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    d = os.path.join(root, "node_modules", f"pkg{i // 100}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i}.js"), "wb") as f:
        f.write((f"module.exports = {i};\n" * 200).encode()[:4096])
os.makedirs(os.path.join(root, "big"), exist_ok=True)
for i in range(big // 10):
    with open(os.path.join(root, "big", f"blob{i}.bin"), "wb") as f:
        f.write(os.urandom(10 * 1024 * 1024))
PY
tgz="$work/tree.tar.gz"
tar -czf "$tgz" -C "$tree" .
log "archive: $(stat -c %s "$tgz") bytes, $files small files + $big MiB"

now() { date +%s.%N; }
timed() { sync; local s; s=$(now); "$@" >/dev/null; echo "$(now) - $s" | bc; }
# The disk's counters (reads, writes, discards) unchanged for two seconds: the background
# discards after a large delete are over (at most a minute).
disk=$(lsblk -no pkname "$(df --output=source "$work" | tail -1)" 2>/dev/null || true)
[[ -n "$disk" ]] || disk=$(basename "$(df --output=source "$work" | tail -1)")
settle() {
	local before after quiet=0
	for _ in $(seq 60); do
		before=$(cat "/sys/block/$disk/stat" 2>/dev/null || true)
		sleep 1
		after=$(cat "/sys/block/$disk/stat" 2>/dev/null || true)
		if [[ "$before" == "$after" ]]; then quiet=$((quiet + 1)); else quiet=0; fi
		((quiet < 2)) || return 0
	done
}
clear_both() {
	"$berth" exec "$bot" -- sh -c 'rm -rf /data/* /data/.[!.]* 2>/dev/null; true'
	rm -rf "$work/x" && mkdir -p "$work/x"
	sync
	settle
}
b=() t=()
for ((k = 1; k <= rounds; k++)); do
	clear_both
	# Each tool on a settled disk; which goes first alternates.
	if ((k % 2)); then
		b+=("$(timed "$berth" import "$bot" "$tgz")")
		settle
		t+=("$(timed tar -xzf "$tgz" -C "$work/x")")
	else
		t+=("$(timed tar -xzf "$tgz" -C "$work/x")")
		settle
		b+=("$(timed "$berth" import "$bot" "$tgz")")
	fi
	log "round $k: berth ${b[-1]} s, tar ${t[-1]} s"
done
stats() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {printf "%.3f %.3f", a[1], a[int((NR+1)/2)]}'; }
read -r b_best b_med <<<"$(stats "${b[@]}")"
read -r t_best t_med <<<"$(stats "${t[@]}")"
grep -a "import (merge)" "$BERTH_DATA_DIR/logs/"*.log | tail -1 | sed 's/^/bridge: /'
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "BENCH import berth_best_s=$b_best berth_median_s=$b_med tar_best_s=$t_best tar_median_s=$t_med speedup_best=$(ratio "$t_best" "$b_best") speedup_median=$(ratio "$t_med" "$b_med")"
