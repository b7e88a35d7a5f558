#!/usr/bin/env bash
# Sets up and runs every test of Berth on a fresh Debian 12 machine (as root):
#   1. installs what is missing (Debian packages, npm packages, tauri-driver)
#   2. starts a private containerd and a local registry, pushes the test images
#   3. builds the static bridge, the UI and every crate
#   4. runs the Rust tests (unit, bridge, IPC, integration against the real containerd),
#      the UI tests (Vitest + Chromium), and the end-to-end test of the real app
#   5. stops the services again
# CI runs exactly this (.ci/run). Tests that need containerd fail, never skip, under CI=true;
# this script sets CI=true so a local run is as strict as CI's.
#
#   scripts/test.sh            everything
#   scripts/test.sh --no-e2e   everything but the end-to-end test of the real app
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BERTH_REPO_ROOT"

run_e2e=1
for arg in "$@"; do
	case "$arg" in
	--no-e2e) run_e2e=0 ;;
	*) die "unknown argument: $arg" ;;
	esac
done
export CI="${CI:-true}"
# Incremental artefacts only help a rebuild of the same tree; on CI's fresh clone they would
# double target/ (measured: 17 of 33 GiB) on a disk that has filled up before.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
started=$(date +%s)
step() { log "── $* ($(($(date +%s) - started)) s)"; }

step "setup"
# A normal user for the rootless tests (tests/tests/rootless.rs run Berth as this user).
export BERTH_ROOTLESS_USER="${BERTH_ROOTLESS_USER:-berth-ci}"
id "$BERTH_ROOTLESS_USER" >/dev/null 2>&1 || useradd -m -s /bin/bash "$BERTH_ROOTLESS_USER"
if ((run_e2e)); then scripts/setup.sh --for-user "$BERTH_ROOTLESS_USER"; else scripts/setup.sh --no-e2e --for-user "$BERTH_ROOTLESS_USER"; fi

step "test services"
scripts/services.sh start
trap 'scripts/services.sh stop >/dev/null 2>&1 || true' EXIT
eval "$(scripts/services.sh env)"
python3 scripts/build-test-images.py

step "format and lints"
cargo fmt --all --check
npm --prefix ui run build --silent # the app crate embeds ui/dist: clippy compiles it
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "build: bridge (static), crates"
scripts/build-bridge.sh
cargo build --workspace --all-targets

step "Rust tests"
cargo test --workspace --no-fail-fast

step "generated IPC types are current"
if git rev-parse --git-dir >/dev/null 2>&1; then
	stale=$(git status --porcelain -- ui/src/lib/ipc/generated)
	[[ -z "$stale" ]] ||
		die "ui/src/lib/ipc/generated differs from the Rust types: commit the regenerated files:"$'\n'"$stale"
fi

step "UI tests"
npm --prefix ui run check
npm --prefix ui test
npm --prefix ui run build:mock --silent
npm --prefix ui run test:e2e

step "package: build the .deb, install it with apt, run it as $BERTH_ROOTLESS_USER"
deb=$(scripts/package.sh --debug)
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall "./$deb" >/dev/null
as_user() { runuser -u "$BERTH_ROOTLESS_USER" -- env -i HOME="/home/$BERTH_ROOTLESS_USER" \
	USER="$BERTH_ROOTLESS_USER" PATH=/usr/local/bin:/usr/bin:/bin "$@"; }
[[ "$(as_user /usr/bin/berth --version)" == "berth $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)" ]] ||
	die "the installed berth does not report this version"
status=$(cd / && as_user /usr/bin/berth --data-dir "/tmp/berth-pkg-check" system status --json)
grep -q '"rootless"' <<<"$status" && grep -q '"can_manage": true' <<<"$status" ||
	die "the installed berth's status is not what a user with the rootless setup gets: $status"
[[ -x /usr/lib/berth/berth-bridge && -f /usr/share/applications/Berth.desktop ]] ||
	die "the package lacks the bridge or the desktop entry"
rm -rf /tmp/berth-pkg-check
log "installed $(dpkg-query -W -f='${Package} ${Version}' berth): berth --version and system status work as $BERTH_ROOTLESS_USER"

if ((run_e2e)); then
	step "end-to-end: the real app"
	scripts/e2e.sh
fi

step "all tests passed"
