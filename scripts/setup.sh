#!/usr/bin/env bash
# Install what Berth's build, tests and end-to-end runs need on Debian 12
# (run as root). Idempotent: every step checks first and does nothing when
# already satisfied, so CI and developers can run it unconditionally.
#
#   scripts/setup.sh [--no-ui] [--no-e2e] [--for-user USER]
#     --no-ui          skip `npm ci` for ui/
#     --no-e2e         skip installing tauri-driver (WebDriver for the e2e tests)
#     --for-user USER  also let USER run Berth's own rootless containerd: subordinate ids in
#                      /etc/subuid and /etc/subgid, and /dev/net/tun usable (the one step of
#                      a rootless setup that needs root)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

want_ui=1
want_e2e=1
for_user=
while (($#)); do
	arg=$1
	shift
	case "$arg" in
	--no-ui) want_ui=0 ;;
	--no-e2e) want_e2e=0 ;;
	--for-user)
		(($#)) || die "--for-user needs a user name"
		for_user=$1
		shift
		;;
	-h | --help)
		sed -n '2,12s/^# \{0,1\}//p' "$0"
		exit 0
		;;
	*) die "unknown argument: $arg (try --help)" ;;
	esac
done

# As a normal user, only what needs root is done with sudo (asked for once, and only when
# something is missing), for this user's rootless setup; the rest (npm, tauri-driver) runs as
# the user, so nothing in the checkout becomes root's.
[[ $EUID -eq 0 ]] || for_user=${for_user:-$(id -un)}

# Grouped by purpose, for whoever trims this list later.
packages=(
	# runtime under test: containerd + runc, CNI networking, local registry
	containerd runc containernetworking-plugins iptables docker-registry
	# rootless: Berth's own containerd for a normal user, in RootlessKit with slirp4netns
	rootlesskit slirp4netns uidmap
	# test image rootfs (scripts/build-test-images.py)
	busybox-static
	# build: containerd-client's protos need protoc; Tauri needs webkit2gtk
	protobuf-compiler libwebkit2gtk-4.1-dev pkg-config
	# e2e: headless X, WebKit's WebDriver, screenshots and input
	xvfb xauth webkit2gtk-driver imagemagick xdotool x11-utils chromium
	# misc tooling used by tests and scripts
	sqlite3 ca-certificates
	# Chinese UI text in WebKit and Chromium
	fonts-noto-cjk
)

missing=()
for pkg in "${packages[@]}"; do
	# `dpkg -s` alone also succeeds for removed-but-not-purged packages.
	if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
		missing+=("$pkg")
	fi
done

user_ready() {
	grep -q "^$1:" /etc/subuid 2>/dev/null && grep -q "^$1:" /etc/subgid 2>/dev/null &&
		[[ "$(stat -c %a /dev/net/tun 2>/dev/null)" == 666 ]]
}

if [[ $EUID -ne 0 ]]; then
	if ((${#missing[@]})) || ! user_ready "$for_user"; then
		log "one step needs root (packages, subordinate ids for $for_user): running it with sudo"
		sudo "$0" --no-ui --no-e2e --for-user "$for_user"
	fi
elif ((${#missing[@]})); then
	log "installing ${#missing[@]} Debian package(s): ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
	log "Debian packages: all ${#packages[@]} present"
fi

if [[ $EUID -eq 0 && -n "$for_user" ]]; then
	id "$for_user" >/dev/null 2>&1 || die "no user named $for_user"
	# Subordinate ids: 65536 of them, after every range already given out.
	for file in /etc/subuid /etc/subgid; do
		touch "$file"
		if grep -q "^$for_user:" "$file"; then
			log "$file: $for_user has subordinate ids"
		else
			start=$(awk -F: 'BEGIN { m = 100000 } { e = $2 + $3; if (e > m) m = e } END { print m }' "$file")
			echo "$for_user:$start:65536" >>"$file"
			log "$file: gave $for_user ids $start-$((start + 65535))"
		fi
	done
	# slirp4netns makes a TAP device; without udev (VMs, containers) the node stays root-only.
	if [[ -c /dev/net/tun ]] && [[ "$(stat -c %a /dev/net/tun)" != 666 ]]; then
		chmod 0666 /dev/net/tun
		log "/dev/net/tun: made usable by every user (as udev's default rule does)"
	fi
fi

# Debian's containerd package starts the system daemon; Berth's tests use
# their own (scripts/services.sh) and never need it, so we leave it alone.

# npm ci wipes node_modules, so it runs only when the lock file is newer than the last
# install (or nothing is installed yet).
npm_ci_if_stale() { # DIR WHAT
	local dir="$1" what="$2" lock="$1/package-lock.json"
	if [[ ! -d "$dir/node_modules" ]] || { [[ -f "$lock" ]] && [[ "$lock" -nt "$dir/node_modules" ]]; }; then
		have npm || die "npm not found; install Node.js first"
		log "installing $what (npm ci)"
		npm ci --prefix "$dir" --no-audit --no-fund
		# npm ci does not always bump the directory's mtime (and creates no directory at all
		# without dependencies); make the check above see this install.
		mkdir -p "$dir/node_modules"
		touch "$dir/node_modules"
	else
		log "$what: up to date"
	fi
}

ui="$BERTH_REPO_ROOT/ui"
if ((want_ui)) && [[ -f "$ui/package.json" ]]; then
	npm_ci_if_stale "$ui" "UI dependencies"
	# The official TypeScript MCP SDK, the client tests/tests/mcp.rs drives `berth mcp serve` with.
	npm_ci_if_stale "$BERTH_REPO_ROOT/tests/mcp-client" "the MCP SDK test client"
elif ((want_ui)); then
	log "UI dependencies: no ui/package.json yet, skipping"
fi

if ((want_e2e)); then
	if have tauri-driver || [[ -x "$HOME/.cargo/bin/tauri-driver" ]]; then
		log "tauri-driver: present"
	else
		cargo_bin="$(command -v cargo || true)"
		[[ -n "$cargo_bin" ]] || cargo_bin="$HOME/.cargo/bin/cargo"
		[[ -x "$cargo_bin" ]] || die "cargo not found; install Rust (rustup) first"
		log "installing tauri-driver (cargo install, takes a few minutes)"
		"$cargo_bin" install tauri-driver --version '^2' --locked
	fi
fi

log "setup complete"
