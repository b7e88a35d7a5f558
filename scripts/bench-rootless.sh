#!/usr/bin/env bash
# Rootless next to rootful, in one run: the same operations with the same `berth` build, once
# as root against the test containerd and once as a normal user (BERTH_ROOTLESS_USER, default
# berth-ci) against that user's own rootless containerd (RootlessKit + slirp4netns):
#   - create (image already local) against `ctr run -d` on the same daemon (rootless: ctr run
#     inside RootlessKit's user and mount namespaces, as nerdctl does), ratio berth/ctr
#   - upload and download of a file with `berth cp`
#   - export and import (merge) of /data holding that file
#   - a 64 MiB download inside the workspace (nc, plain HTTP) from a server on a private
#     network of this machine (a network namespace behind a veth pair): the bridge and NAT
#     rootful, the bridge and slirp4netns (MTU 65520) rootless
# Each figure is the best of three rounds (wall time, process start included).
#
#   scripts/bench-rootless.sh [--mib N]   (file size for cp/export/import, default 256)
#   BENCH_DEBUG=1 times target/debug/berth instead of a release build
#
# Needs root, `scripts/services.sh start`, and the user's rootless setup
# (scripts/setup.sh --for-user USER).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BERTH_REPO_ROOT"

mib=256
while [[ $# -gt 0 ]]; do
	case "$1" in
	--mib) mib="$2"; shift 2 ;;
	-h | --help) sed -n '2,18p' "$0"; exit 0 ;;
	*) die "unknown argument $1" ;;
	esac
done
user=${BERTH_ROOTLESS_USER:-berth-ci}
id "$user" >/dev/null 2>&1 || die "no user $user (scripts/setup.sh --for-user $user)"

bench_prepare
berth_bin=$(realpath "$berth")

work=$(mktemp -d /tmp/berth-bench-rootless.XXXXXX)
chmod 755 "$work"
lan_ns="berth-bench-lan-$$"
cleanup() {
	as_user rm bench >/dev/null 2>&1 || true
	as_user system stop >/dev/null 2>&1 || true
	ip netns delete "$lan_ns" 2>/dev/null || true
	[[ -n "${server_pid:-}" ]] && kill "$server_pid" 2>/dev/null
	BERTH_DATA_DIR="$work/root-data" "$berth_bin" rm bench >/dev/null 2>&1 || true
	ctr --address "$BERTH_CONTAINERD_SOCKET" -n "bench-rl-$$" tasks kill -s KILL ctr-bench >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

as_root() { BERTH_DATA_DIR="$work/root-data" BERTH_NAMESPACE="bench-rl-$$" "$berth_bin" "$@"; }
mkdir -p "$work/user" && chown "$user:" "$work/user"
as_user() {
	(cd / && runuser -u "$user" -- env -i HOME="$work/user" USER="$user" PATH=/usr/local/bin:/usr/bin:/bin \
		BERTH_DATA_DIR="$work/user/data" "$berth_bin" "$@")
}

# best CMD...: the best wall time of three runs, in seconds; $after (a command, untimed) runs
# after each.
after=true
best() {
	local b="" t0 t
	for _ in 1 2 3; do
		sync
		t0=$(date +%s.%N)
		"$@" >/dev/null
		t=$(echo "$(date +%s.%N) - $t0" | bc)
		$after >/dev/null 2>&1 || true
		[[ -z "$b" ]] || (($(echo "$t < $b" | bc))) || continue
		b=$t
	done
	printf '%.3f' "$b"
}
ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }

# --- a private network of this machine, with a 64 MiB file on a web server -------------------
ip netns add "$lan_ns"
ip link add blbh$$ type veth peer name blbn$$
ip link set "blbn$$" netns "$lan_ns"
ip addr add 192.168.252.1/24 dev "blbh$$" && ip link set "blbh$$" up
ip netns exec "$lan_ns" ip addr add 192.168.252.2/24 dev "blbn$$"
ip netns exec "$lan_ns" ip link set "blbn$$" up
ip netns exec "$lan_ns" ip link set lo up
head -c $((64 << 20)) /dev/urandom >"$work/64m"
(cd "$work" && exec ip netns exec "$lan_ns" python3 -m http.server 8080 --bind 192.168.252.2 >/dev/null 2>&1) &
server_pid=$!
until curl -sf -o /dev/null http://192.168.252.2:8080/64m; do sleep 0.1; done

head -c $((mib << 20)) /dev/urandom >"$work/file"
chmod 644 "$work/file" "$work/64m"
fetch='printf "GET /64m HTTP/1.0\r\n\r\n" | nc 192.168.252.2 8080 | wc -c'

as_user system start >/dev/null

declare -A r
for mode in rootful rootless; do
	if [[ $mode == rootful ]]; then run=(as_root); else run=(as_user); fi
	"${run[@]}" create bench --image "$image" >/dev/null 2>&1
	got=$("${run[@]}" exec bench -- sh -c "$fetch")
	[[ "$got" -gt $((64 << 20)) ]] || die "$mode: the workspace did not fetch the 64 MiB file ($got bytes)"
	r[$mode.net]=$(best "${run[@]}" exec bench -- sh -c "$fetch")
	r[$mode.up]=$(best "${run[@]}" cp "$work/file" bench:/data/file)
	r[$mode.down]=$(best "${run[@]}" cp bench:/data/file "$work/user/down-$mode")
	r[$mode.export]=$(best "${run[@]}" export bench "$work/user/export-$mode.tar.gz")
	r[$mode.import]=$(best "${run[@]}" import bench "$work/user/export-$mode.tar.gz")
	"${run[@]}" rm bench >/dev/null
	after="${run[*]} rm bench"
	r[$mode.create]=$(best "${run[@]}" create bench --image "$image")
	after=true
done

# ctr on the same daemons: `ctr run -d` of the same local image (started, not waited for).
# Rootless, ctr runs in RootlessKit's user and mount namespaces (it mounts the image itself),
# without a cgroup or CPU shares (runc cannot set them there, as for Berth's workspaces).
ctr_root=(ctr --address "$BERTH_CONTAINERD_SOCKET" -n "bench-rl-$$")
"${ctr_root[@]}" images pull --plain-http "$image" >/dev/null
ctr_remove() {
	"$@" tasks kill -s KILL ctr-bench || true
	for _ in $(seq 50); do "$@" tasks ls | grep -q "ctr-bench.*RUNNING" || break; sleep 0.1; done
	"$@" tasks delete ctr-bench || true
	"$@" containers delete ctr-bench
}
rm_root() { ctr_remove "${ctr_root[@]}"; }
after=rm_root
r[rootful.ctr]=$(best "${ctr_root[@]}" run -d --null-io "$image" ctr-bench sleep 100)
cpid=$(pgrep -u "$user" -x containerd | head -1)
ctr_user=(runuser -u "$user" -- nsenter -U --preserve-credentials -m -t "$cpid"
	ctr --address "$work/user/data/containerd/containerd.sock" -n berth)
rm_user() { ctr_remove "${ctr_user[@]}"; }
after=rm_user
r[rootless.ctr]=$(best "${ctr_user[@]}" run -d --null-io --cgroup "" --cpu-shares 0 "$image" ctr-bench sleep 100)
after=true

printf '\n%-34s %10s %10s %8s\n' "" rootful rootless ratio
for k in create ctr up down export import net; do
	case $k in
	create) label="berth create (image local)" ;;
	ctr) label="ctr run -d (same daemon)" ;;
	up) label="berth cp upload ${mib} MiB" ;;
	down) label="berth cp download ${mib} MiB" ;;
	export) label="export /data" ;;
	import) label="import (merge)" ;;
	net) label="64 MiB over HTTP in the workspace" ;;
	esac
	printf '%-34s %9ss %9ss %8s\n' "$label" "${r[rootful.$k]}" "${r[rootless.$k]}" "$(ratio "${r[rootless.$k]}" "${r[rootful.$k]}")"
done
printf '%-34s %10s %10s\n' "create vs ctr (berth/ctr)" "$(ratio "${r[rootful.create]}" "${r[rootful.ctr]}")" "$(ratio "${r[rootless.create]}" "${r[rootless.ctr]}")"
