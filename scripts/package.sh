#!/usr/bin/env bash
# Builds Berth's Debian package with the Tauri bundler: the app (/usr/bin/berth-app, a desktop
# entry and icons), the `berth` CLI (/usr/bin/berth) and the static bridge
# (/usr/lib/berth/berth-bridge), depending on the runtime packages (see
# src-tauri/tauri.conf.json). Prints the .deb's path.
#
#   scripts/package.sh [--debug]
#     --debug  package the debug builds (fast, reuses target/debug; what the test command does)
#
# Install it with `sudo apt-get install ./Berth_<version>_amd64.deb`.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BERTH_REPO_ROOT"

profile=release
for arg in "$@"; do
	case "$arg" in
	--debug) profile=debug ;;
	-h | --help)
		sed -n '2,10s/^# \{0,1\}//p' "$0"
		exit 0
		;;
	*) die "unknown argument: $arg (try --help)" ;;
	esac
done
cargo_profile=()
bundle_profile=()
if [[ $profile == debug ]]; then bundle_profile=(--debug); else cargo_profile=(--release); fi

# Everything but the .deb's path goes to stderr, so `deb=$(scripts/package.sh)` works.
npm --prefix ui run build --silent >&2
bridge=$(scripts/build-bridge.sh | tail -1)
cargo build "${cargo_profile[@]}" -p berth-cli -p berth-app >&2
# The bundler takes extra files from fixed paths (tauri.conf.json's deb.files).
mkdir -p target/package
install -m 0755 "target/$profile/berth" target/package/berth
install -m 0755 "$bridge" target/package/berth-bridge
# The Tauri CLI reads CI as its --ci flag and refuses anything but true/false (CI=1 is common).
env -u CI npx --prefix ui tauri bundle --ci "${bundle_profile[@]}" --bundles deb >&2
ls -t "target/$profile/bundle/deb/"*.deb | head -1
