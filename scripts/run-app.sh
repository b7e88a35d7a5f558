#!/usr/bin/env bash
# Sets up, builds and runs the Berth desktop app on Debian 12, as yourself or as root.
#   - installs what is missing (Debian packages, the UI's npm packages); as a normal user it
#     asks sudo once for the packages and your subordinate ids (rootless containerd)
#   - builds the static bridge, the UI and the app (release)
#   - starts the app. When no containerd answers (a normal user: Berth's own rootless one not
#     started yet), the app offers to run its own (Settings or the banner).
#
#   scripts/run-app.sh [--debug]   (--debug: a debug build, faster to compile)
# Environment: BERTH_DATA_DIR, BERTH_CONTAINERD_SOCKET, BERTH_NAMESPACE override the settings.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BERTH_REPO_ROOT"

profile=release
[[ "${1:-}" == "--debug" ]] && profile=debug

scripts/setup.sh --no-e2e
scripts/build-bridge.sh
npm --prefix ui run build --silent
if [[ $profile == release ]]; then
	cargo build --release -p berth-app -p berth-cli
else
	cargo build -p berth-app -p berth-cli
fi
log "CLI: target/$profile/berth"

app="target/$profile/berth-app"
if [[ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]]; then
	# No desktop session (a server, CI): run under a virtual display.
	log "no display: running under xvfb-run (take screenshots with: import -window root shot.png)"
	exec xvfb-run -a -s "-screen 0 1280x800x24" "$app"
fi
exec "$app"
