#!/usr/bin/env bash
# Files benchmark, in one run: upload and download of a 1 GiB file with `berth cp`
# against piping the same bytes through `ctr task exec` (`cat > file` / `cat file`), byte-for-byte
# checked, with the ratio (ctr time / Berth time; ≥ 1 means Berth is at least as fast), the
# client's peak memory (max RSS of `berth cp`), and listing a 20,000-entry directory.
#
#   scripts/bench-files.sh [--mib N] [--image REF]
#
#   --mib N      size of the transferred file in MiB (default 1024)
#   --image REF  image (default $BERTH_TEST_REGISTRY/berth-test/busybox:1)
#   BENCH_DEBUG=1 times target/debug/berth instead of a release build
#
# Each timing is the wall time of one command (process start included, for both sides), the
# better of two alternating runs after `sync`. The
# listing is timed twice: `berth ls BOT:/dir --json` as a whole command, and the bridge call alone
# as printed by the integration test (tests/tests/files.rs). Uses its own containerd namespace and
# data dir, removed at the end. Needs root and `scripts/services.sh start`.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BERTH_REPO_ROOT"

mib=1024
image=""
while [[ $# -gt 0 ]]; do
	case "$1" in
	--mib) mib="$2"; shift 2 ;;
	--image) image="$2"; shift 2 ;;
	-h | --help) sed -n '2,16p' "$0"; exit 0 ;;
	*) die "unknown argument $1" ;;
	esac
done

bench_prepare

work=$(mktemp -d /tmp/berth-bench-files.XXXXXX)
export BERTH_NAMESPACE="bench-files-$$"
export BERTH_DATA_DIR="$work/data"
bot="bench-files"
ctr_=(ctr --address "$BERTH_CONTAINERD_SOCKET" --namespace "$BERTH_NAMESPACE")
cleanup() {
	"$berth" rm "$bot" >/dev/null 2>&1 || true
	# The pulled image keeps the namespace alive: remove it (synchronous GC), then the namespace.
	local i
	for i in $("${ctr_[@]}" images ls -q 2>/dev/null); do "${ctr_[@]}" images rm --sync "$i" >/dev/null 2>&1 || true; done
	for i in 1 2 3 4 5; do
		ctr --address "$BERTH_CONTAINERD_SOCKET" namespaces rm "$BERTH_NAMESPACE" >/dev/null 2>&1 && break
		sleep 1
	done
	rm -rf "$work"
}
trap cleanup EXIT

"$berth" create "$bot" --image "$image" >/dev/null
cid="berth-$bot"

# now_ms: wall clock in milliseconds.
now_ms() { date +%s%3N; }
# timed VAR CMD...: runs CMD, stores its wall time (ms) in VAR.
timed() {
	local __var=$1 t0
	shift
	t0=$(now_ms)
	"$@"
	printf -v "$__var" '%s' $(($(now_ms) - t0))
}
# peak_kib VAR CMD...: runs CMD under GNU time, stores its max RSS (KiB) in VAR.
peak_kib() {
	local __var=$1 out
	shift
	out=$(/usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1)
	printf -v "$__var" '%s' "$out"
}

log "writing $mib MiB of random bytes"
head -c "$((mib * 1024 * 1024))" /dev/urandom >"$work/src.bin"
sum=$(sha256sum <"$work/src.bin" | cut -d' ' -f1)
sync

check_inside() {
	local got
	got=$("$berth" exec "$bot" -- sha256sum "$1" | cut -d' ' -f1)
	[[ "$got" == "$sum" ]] || die "$1 differs inside the workspace"
}
check_local() {
	local got
	got=$(sha256sum <"$1" | cut -d' ' -f1)
	[[ "$got" == "$sum" ]] || die "$1 differs on the host"
}

# Warm both paths once with a small file (page cache, connections, binaries).
head -c 1048576 "$work/src.bin" >"$work/warm.bin"
"$berth" cp "$work/warm.bin" "$bot:/data/warm.bin"
"${ctr_[@]}" task exec --exec-id warm "$cid" sh -c 'cat > /data/warm2.bin' <"$work/warm.bin"

# Each side runs twice, alternating, after `sync` (so one run's dirty pages do not slow the
# next); the faster run of each counts.
best() { local a=$1 b=$2; echo $((a < b ? a : b)); }
ctr_up=999999 berth_up=999999 ctr_down=999999 berth_down=999999
for round in 1 2; do
	log "upload round $round: ctr task exec cat > file, then berth cp"
	sync
	timed t "${ctr_[@]}" task exec --exec-id "up-$round-$$" "$cid" sh -c 'cat > /data/ctr.bin' <"$work/src.bin"
	ctr_up=$(best "$ctr_up" "$t")
	check_inside /data/ctr.bin
	sync
	timed t "$berth" cp "$work/src.bin" "$bot:/data/berth.bin"
	berth_up=$(best "$berth_up" "$t")
	check_inside /data/berth.bin

	log "download round $round: ctr task exec cat file, then berth cp"
	sync
	timed t sh -c "$(printf '%q ' "${ctr_[@]}") task exec --exec-id down-$round-$$ $cid cat /data/ctr.bin > $work/ctr-out.bin"
	ctr_down=$(best "$ctr_down" "$t")
	check_local "$work/ctr-out.bin"
	rm -f "$work/ctr-out.bin"
	sync
	timed t "$berth" cp "$bot:/data/berth.bin" "$work/berth-out.bin"
	berth_down=$(best "$berth_down" "$t")
	check_local "$work/berth-out.bin"
	rm -f "$work/berth-out.bin"
done
sync
peak_kib up_kib "$berth" cp "$work/src.bin" "$bot:/data/berth2.bin"
sync
peak_kib down_kib "$berth" cp "$bot:/data/berth.bin" "$work/berth-out2.bin"
rm -f "$work/berth-out2.bin" "$work/src.bin"
"$berth" exec "$bot" -- rm -f /data/ctr.bin /data/berth.bin /data/berth2.bin

log "listing 20,000 entries"
"$berth" exec "$bot" -- sh -c 'mkdir /data/big && cd /data/big && seq 1 20000 | sed "s/^/entry-/" | xargs touch'
timed ls_base "$berth" ls "$bot:/data" --json >/dev/null
timed ls_ms "$berth" ls "$bot:/data/big" --json >"$work/ls.json"
n=$(grep -c '"name": "entry-' "$work/ls.json" || true)
[[ "$n" == 20000 ]] || die "listed $n entries, expected 20000"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mbps() { awk -v m="$mib" -v ms="$1" 'BEGIN { printf "%.0f", m / (ms / 1000) }'; }
up_ratio=$(ratio "$ctr_up" "$berth_up")
down_ratio=$(ratio "$ctr_down" "$berth_down")
echo
echo "Files benchmark ($profile build, $mib MiB, $(nproc) CPUs)"
printf '  %-34s %8s ms  %6s MiB/s\n' "upload   ctr task exec (cat > f)" "$ctr_up" "$(mbps "$ctr_up")"
printf '  %-34s %8s ms  %6s MiB/s   ratio %s\n' "upload   berth cp" "$berth_up" "$(mbps "$berth_up")" "$up_ratio"
printf '  %-34s %8s ms  %6s MiB/s\n' "download ctr task exec (cat f)" "$ctr_down" "$(mbps "$ctr_down")"
printf '  %-34s %8s ms  %6s MiB/s   ratio %s\n' "download berth cp" "$berth_down" "$(mbps "$berth_down")" "$down_ratio"
printf '  %-34s %8s MiB / %s MiB\n' "berth cp peak RSS (up / down)" "$((up_kib / 1024))" "$((down_kib / 1024))"
printf '  %-34s %8s ms  (berth ls of a small dir: %s ms)\n' "berth ls of 20,000 entries" "$ls_ms" "$ls_base"
fail=0
awk -v r="$up_ratio" 'BEGIN { exit !(r < 1) }' && { warn "upload slower than ctr (ratio $up_ratio)"; fail=1; }
awk -v r="$down_ratio" 'BEGIN { exit !(r < 1) }' && { warn "download slower than ctr (ratio $down_ratio)"; fail=1; }
[[ $fail == 0 ]] && echo "  result: PASS (Berth at least as fast both ways)" || echo "  result: FAIL (see warnings)"
exit $fail
