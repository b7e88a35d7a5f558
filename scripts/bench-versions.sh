#!/usr/bin/env bash
# Times workspace versions with a large /data: save a version and roll back, each
# with the task restart (running workspace: stop → commit/switch → start → bridge answers) and
# without it (stopped workspace: the snapshot step alone), plus "changes since" on a running
# workspace.
#
#   scripts/bench-versions.sh [--mb N] [--image REF]
#
#   --mb N       megabytes written to /data before the first version (default 500)
#   --image REF  image (default $BERTH_TEST_REGISTRY/berth-test/busybox:1)
#   BENCH_DEBUG=1 times target/debug/berth instead of a release build
#
# Every figure is the wall time of one `berth` command (process start + connect ≈ the
# `berth versions` baseline printed first), and the phase times core logs for it
# (stop_ms / commit_ms or switch_ms / restart_ms, from BERTH_LOG=info). The snapshot step
# itself is commit_ms (commit + prepare child + point the container at it).
# Uses its own containerd namespace and data dir, removed at the end. Needs root and
# `scripts/services.sh start`.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BERTH_REPO_ROOT"

mb=500
image=""
while [[ $# -gt 0 ]]; do
	case "$1" in
	--mb) mb="$2"; shift 2 ;;
	--image) image="$2"; shift 2 ;;
	-h | --help) sed -n '2,18p' "$0"; exit 0 ;;
	*) die "unknown argument $1" ;;
	esac
done

bench_prepare

work="$(mktemp -d /tmp/berth-bench-v.XXXXXX)"
export BERTH_DATA_DIR="$work/data" BERTH_NAMESPACE="bench-v-$$" BERTH_LOG=info NO_COLOR=1
bot=bench
cleanup() {
	"$berth" rm "$bot" >/dev/null 2>&1 || true
	ctr --address "$BERTH_CONTAINERD_SOCKET" namespaces rm "$BERTH_NAMESPACE" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

ms() { date +%s%3N; }
# timed LABEL ARGS...: runs berth, prints wall ms and the phase fields core logged.
timed() {
	local label="$1"; shift
	local t0 t1 phases
	t0=$(ms)
	"$berth" "$@" >"$work/out" 2>"$work/err" || { cat "$work/err" >&2; die "$label failed"; }
	t1=$(ms)
	phases=$(grep -oE '(stop_ms|commit_ms|switch_ms|restart_ms)=[0-9]+' "$work/err" | tr '\n' ' ' || true)
	printf '%-44s %6d ms   %s\n' "$label" $((t1 - t0)) "$phases"
}

log "creating the workspace from $image"
"$berth" create "$bot" --image "$image" >/dev/null
log "writing $mb MB to /data"
"$berth" exec "$bot" -- sh -c "dd if=/dev/urandom of=/data/big bs=1M count=$mb 2>/dev/null && sync"
echo "BENCH versions: $mb MB in /data, image $image, containerd $(ctr --address "$BERTH_CONTAINERD_SOCKET" version | awk '/Version:/{print $2; exit}')"
timed "baseline: berth versions (process + connect)" versions "$bot"
timed "save v1, running (with task restart)" snapshot "$bot" --name big
"$berth" exec "$bot" -- sh -c "echo changed > /data/small && dd if=/dev/urandom of=/data/big bs=1M count=1 conv=notrunc 2>/dev/null"
timed "changes since v1, running" versions changes "$bot" 1
timed "save v2, running (with task restart)" snapshot "$bot"
timed "roll back to v1, running, no save" rollback "$bot" 1 --no-save
"$berth" exec "$bot" -- sh -c "echo again > /data/small"
timed "roll back to v2, running, saving first" rollback "$bot" 2
"$berth" stop "$bot" >/dev/null
timed "save v4, stopped (no task restart)" snapshot "$bot"
timed "roll back to v1, stopped (no task restart)" rollback "$bot" 1 --no-save
"$berth" versions "$bot"
