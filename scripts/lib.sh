# shellcheck shell=bash
# Shared helpers for Berth's dev/test scripts. Source it; do not execute it.

# Resolve the repository root from this file's location so the scripts work
# from any current directory (CI, IDE task runners, `cargo test` helpers).
BERTH_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export BERTH_REPO_ROOT

# Progress lines go to stderr so `services.sh env` stays eval-able.
log() { printf '[berth] %s\n' "$*" >&2; }
warn() { printf '[berth] warning: %s\n' "$*" >&2; }
die() {
	printf '[berth] error: %s\n' "$*" >&2
	exit 1
}

have() { command -v "$1" >/dev/null 2>&1; }

# pid_alive PID: true if the process exists and is not a zombie.
pid_alive() {
	local pid="$1" state
	[[ -n "$pid" && -r "/proc/$pid/stat" ]] || return 1
	# Field 3 of /proc/PID/stat is the state; the comm field may contain
	# spaces, so strip everything up to the closing parenthesis first.
	state="$(sed -e 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
	[[ -n "$state" && "$state" != Z ]]
}

# read_pid FILE: print the pid stored in FILE if that process is alive.
read_pid() {
	local file="$1" pid
	[[ -f "$file" ]] || return 1
	pid="$(tr -dc '0-9' <"$file")"
	pid_alive "$pid" || return 1
	printf '%s\n' "$pid"
}

# wait_pid_exit PID SECONDS: poll until PID is gone; false on timeout.
wait_pid_exit() {
	local pid="$1" deadline=$((SECONDS + $2))
	while pid_alive "$pid"; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}

# bench_prepare: what every benchmark needs first. Starts the test services if they are not
# running and loads their environment, builds the CLI (release; debug with BENCH_DEBUG=1) and
# the bridge. Sets $profile, $berth (the CLI to time) and $image (the default busybox test image
# unless $image is already set, e.g. by --image).
bench_prepare() {
	scripts/services.sh status >/dev/null 2>&1 || scripts/services.sh start
	eval "$(scripts/services.sh env)"
	image="${image:-$BERTH_TEST_REGISTRY/berth-test/busybox:1}"
	profile=release
	[[ "${BENCH_DEBUG:-}" == 1 ]] && profile=debug
	if [[ $profile == release ]]; then
		cargo build --release --quiet -p berth-cli
	else
		cargo build --quiet -p berth-cli
	fi
	scripts/build-bridge.sh >/dev/null
	berth="$BERTH_REPO_ROOT/target/$profile/berth"
}

# bench_workspace NAME: a bot NAME with a running busybox workspace of its own (after
# bench_prepare): a fresh data directory under $work and a namespace of its own, both removed
# (with the workspace) when the script exits. Sets $work, $bot, BERTH_DATA_DIR, BERTH_NAMESPACE.
bench_workspace() {
	bot="$1"
	work=$(mktemp -d "/tmp/berth-$1.XXXXXX")
	export BERTH_DATA_DIR="$work/data" BERTH_NAMESPACE="$1-$$"
	trap bench_workspace_remove EXIT
	"$berth" create "$bot" --image "$image" --pull if-not-present >/dev/null
}
bench_workspace_remove() {
	"$berth" rm "$bot" >/dev/null 2>&1 || true
	# The image too: containerd keeps a namespace that still holds one.
	ctr -a "$BERTH_CONTAINERD_SOCKET" -n "$BERTH_NAMESPACE" images ls -q 2>/dev/null |
		xargs -r ctr -a "$BERTH_CONTAINERD_SOCKET" -n "$BERTH_NAMESPACE" images rm --sync >/dev/null 2>&1 || true
	ctr -a "$BERTH_CONTAINERD_SOCKET" namespaces rm "$BERTH_NAMESPACE" >/dev/null 2>&1 || true
	rm -rf "$work"
}
