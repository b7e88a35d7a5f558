#!/usr/bin/env bash
# Data benchmark, in one run on the same data: `berth export` of a workspace's /data
# against `tar -czf` (GNU tar + gzip at its default level) of the same tree on the host, and
# `berth import` into an empty /data against `tar -xzf` of the same archive into an empty
# directory on the host, with the ratios of the medians (Berth time / tar time; targets:
# export ≤ 0.5, import ≤ 1). `berth import --replace` over a full /data (which also deletes the
# old tree) is timed for information.
#
#   scripts/bench-data.sh [--mib N] [--runs N] [--image REF]
#
#   --mib N      size of the mixed tree in MiB (default 1024): half incompressible, a quarter
#                text, a quarter small files (4 KiB each)
#   --runs N     rounds, Berth and tar alternating within each (default 3); medians reported
#   --image REF  image (default $BERTH_TEST_REGISTRY/berth-test/busybox:1)
#   BENCH_DEBUG=1 times target/debug/berth instead of a release build
#
# Each timing is the wall time of one command after `sync`; clearing the destinations is not
# timed. Uses its own containerd namespace and data dir, removed at the end. Needs root and
# `scripts/services.sh start`.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BERTH_REPO_ROOT"

mib=1024
runs=3
image=""
while [[ $# -gt 0 ]]; do
	case "$1" in
	--mib) mib="$2"; shift 2 ;;
	--runs) runs="$2"; shift 2 ;;
	--image) image="$2"; shift 2 ;;
	-h | --help) sed -n '2,15p' "$0"; exit 0 ;;
	*) die "unknown argument $1" ;;
	esac
done

bench_prepare

work=$(mktemp -d /tmp/berth-bench-data.XXXXXX)
export BERTH_NAMESPACE="bench-data-$$"
export BERTH_DATA_DIR="$work/data"
bot="bench-data"
cleanup() {
	"$berth" rm "$bot" >/dev/null 2>&1 || true
	ctr -a "$BERTH_CONTAINERD_SOCKET" -n "$BERTH_NAMESPACE" images ls -q 2>/dev/null |
		xargs -r ctr -a "$BERTH_CONTAINERD_SOCKET" -n "$BERTH_NAMESPACE" images rm --sync >/dev/null 2>&1 || true
	ctr -a "$BERTH_CONTAINERD_SOCKET" namespaces rm "$BERTH_NAMESPACE" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

# The mixed tree on the host.
tree="$work/tree"
mkdir -p "$tree/bin" "$tree/text" "$tree/small"
half=$((mib / 2))
quarter=$((mib / 4))
head -c "$((half * 1024 * 1024))" /dev/urandom >"$tree/bin/random.bin"
{ yes "the quick brown fox jumps over the lazy dog $RANDOM" || true; } | head -c "$((quarter * 1024 * 1024))" >"$tree/text/log.txt"
n=$((quarter * 256))
python3 - "$tree/small" "$n" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    sub = os.path.join(d, f"d{i // 1000}")
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, f"f{i}.txt"), "wb") as f:
        f.write((f"file {i} " * 512).encode()[:4096])
PY

now() { date +%s.%N; }
timed() { sync; local s; s=$(now); "$@" >/dev/null; echo "$(now) - $s" | bc; }

log "creating the workspace ($image)"
"$berth" create "$bot" --image "$image" >/dev/null
host_tgz="$work/host.tar.gz"
t_tar_c=$(timed tar -czf "$host_tgz" -C "$tree" .)
log "loading the tree into the workspace"
"$berth" import "$bot" "$host_tgz" --replace >/dev/null

clear_data() { "$berth" exec "$bot" -- sh -c 'rm -rf /data/* /data/.[!.]* 2>/dev/null; true' >/dev/null; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
e=() c=() i=() x=() r=()
for ((k = 1; k <= runs; k++)); do
	log "round $k of $runs"
	# Deleting ~16,000 files keeps the disk busy for a while after (online discard on this
	# machine kind): both destinations are cleared first, then the disk gets a moment.
	clear_data
	rm -rf "$work/x" && mkdir -p "$work/x"
	sync && sleep 3
	i+=("$(timed "$berth" import "$bot" "$host_tgz")")
	x+=("$(timed tar -xzf "$host_tgz" -C "$work/x")")
	e+=("$(timed "$berth" export "$bot" "$work/berth.tar.gz")")
	c+=("$(timed tar -czf "$work/again.tar.gz" -C "$tree" .)")
	r+=("$(timed "$berth" import "$bot" "$host_tgz" --replace)")
done
t_export=$(median "${e[@]}") t_tar_c=$(median "$t_tar_c" "${c[@]}")
t_import=$(median "${i[@]}") t_tar_x=$(median "${x[@]}") t_replace=$(median "${r[@]}")

ratio() { echo "scale=2; $1 / $2" | bc; }
printf 'Data benchmark (%s build, %s MiB mixed, %s rounds, %s CPUs; medians)\n' "$profile" "$mib" "$runs" "$(nproc)"
printf '%-34s %10s %10s %8s\n' "operation" "berth s" "tar s" "ratio"
printf '%-34s %10.2f %10.2f %8s\n' "export vs tar -czf" "$t_export" "$t_tar_c" "$(ratio "$t_export" "$t_tar_c")"
printf '%-34s %10.2f %10.2f %8s\n' "import (empty /data) vs tar -xzf" "$t_import" "$t_tar_x" "$(ratio "$t_import" "$t_tar_x")"
printf '%-34s %10.2f %10.2f %8s\n' "import --replace (full /data)" "$t_replace" "$t_tar_x" "$(ratio "$t_replace" "$t_tar_x")"
printf 'runs (s): export %s | tar -czf %s | import %s | tar -xzf %s | replace %s\n' "${e[*]}" "${c[*]}" "${i[*]}" "${x[*]}" "${r[*]}"
printf 'archives: berth %s bytes, tar %s bytes\n' "$(stat -c %s "$work/berth.tar.gz")" "$(stat -c %s "$host_tgz")"
