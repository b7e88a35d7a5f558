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
# Each timing is the wall time of one command after `sync`. Every round extracts into places of
# its own (a new workspace's empty /data, a new directory), and nothing is deleted until the
# script exits: this machine kind's ext4 has no journal, and there creating a file skips every
# inode deleted in the last 60 s (360 s while its inode table block is dirty) with a lookup
# each: after `rm -rf` of 20,000 files, the next 20,000 creates in the same block groups cost
# seconds (`recently_deleted` in a profile; tar took 0.9 to 12 s for the same archive). A
# settled disk (no I/O for two seconds) before each command. Run it with no large delete in the
# minutes before (another benchmark, a test run). The bridge's own log line (staged and
# applied / cleaned up) is printed for the last round. Needs root; starts the test services and
# builds what it times.
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
# Round k's own workspace; all are removed when the script exits.
round_bots=()
remove_round_bots() {
	for b in "${round_bots[@]}"; do "$berth" rm "$b" >/dev/null 2>&1 || true; done
	bench_workspace_remove
}
trap remove_round_bots EXIT
b=() t=()
for ((k = 1; k <= rounds; k++)); do
	round_bots+=("$bot-$k")
	"$berth" create "$bot-$k" --image "$image" --pull if-not-present >/dev/null
	mkdir -p "$work/x$k"
	settle
	# Each tool on a settled disk; which goes first alternates.
	if ((k % 2)); then
		b+=("$(timed "$berth" import "$bot-$k" "$tgz")")
		settle
		t+=("$(timed tar -xzf "$tgz" -C "$work/x$k")")
	else
		t+=("$(timed tar -xzf "$tgz" -C "$work/x$k")")
		settle
		b+=("$(timed "$berth" import "$bot-$k" "$tgz")")
	fi
	log "round $k: berth ${b[-1]} s, tar ${t[-1]} s"
done
stats() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {printf "%.3f %.3f", a[1], a[int((NR+1)/2)]}'; }
read -r b_best b_med <<<"$(stats "${b[@]}")"
read -r t_best t_med <<<"$(stats "${t[@]}")"
grep -a "import (merge)" "$BERTH_DATA_DIR/logs/"*.log | tail -1 | sed 's/^/bridge: /'
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "BENCH import berth_best_s=$b_best berth_median_s=$b_med tar_best_s=$t_best tar_median_s=$t_med speedup_best=$(ratio "$t_best" "$b_best") speedup_median=$(ratio "$t_med" "$b_med")"
