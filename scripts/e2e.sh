#!/usr/bin/env bash
# End-to-end tests of the real desktop app (tests/e2e/): tauri-driver + WebKitWebDriver under
# Xvfb, a private containerd namespace, the `berth` CLI checking state from outside.
#
#   scripts/e2e.sh [--no-build] [node --test args...] [tests/e2e/NAME.test.mjs...]
#
# With test files given, only those run (e.g. scripts/e2e.sh tests/e2e/data.test.mjs).
# Steps: install tauri-driver if missing; build ui/dist, berth-app, the CLI and the static bridge
# (cheap when up to date; --no-build or BERTH_E2E_NO_BUILD=1 skips it); start the test services
# and push the test images if needed; run `node --test tests/e2e/` under xvfb-run (or the
# current $DISPLAY with BERTH_E2E_DISPLAY=1). Exit code = the test result.
#
# Missing system packages (xvfb-run, WebKitWebDriver, node, containerd) skip with exit 0 locally
# and fail when CI is set. Screenshots and the driver log: tests/e2e/screenshots/.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BERTH_REPO_ROOT"

build=1
[[ "${BERTH_E2E_NO_BUILD:-}" == 1 ]] && build=0
node_args=()
test_files=()
for arg in "$@"; do
	case "$arg" in
	--no-build) build=0 ;;
	-h | --help)
		sed -n '2,15p' "$0"
		exit 0
		;;
	*.test.mjs | *.bench.mjs) test_files+=("$arg") ;;
	*) node_args+=("$arg") ;;
	esac
done
[[ ${#test_files[@]} -gt 0 ]] || test_files=(tests/e2e/)

# missing WHAT HINT: fail in CI, skip (exit 0) otherwise.
missing() {
	if [[ -n "${CI:-}" ]]; then
		die "e2e: missing $1 ($2)"
	fi
	warn "e2e: SKIPPED: missing $1 ($2)"
	exit 0
}

debs="apt-get install --no-install-recommends xvfb xauth webkit2gtk-driver"
have node || missing node "Node 20+"
have WebKitWebDriver || missing WebKitWebDriver "$debs"
if [[ "${BERTH_E2E_DISPLAY:-}" != 1 ]]; then
	have xvfb-run || missing xvfb-run "$debs"
	have xauth || missing xauth "$debs"
fi
have containerd || missing containerd "apt-get install containerd"
have cargo || missing cargo "rustup"

t0=$SECONDS

# --- tauri-driver -------------------------------------------------------------------------
export PATH="$HOME/.cargo/bin:$PATH"
if ! have tauri-driver; then
	log "installing tauri-driver"
	cargo install tauri-driver --version '^2' --locked >&2
fi
TAURI_DRIVER="$(command -v tauri-driver)"
export TAURI_DRIVER

# --- builds -------------------------------------------------------------------------------
if [[ $build -eq 1 ]]; then
	if [[ ! -d ui/node_modules ]]; then
		log "npm ci (ui)"
		npm --prefix ui ci >&2
	fi
	# ui/dist is embedded into the app at compile time: rebuild it when any UI source is newer.
	if [[ ! -f ui/dist/index.html ]] ||
		[[ -n "$(find ui/src ui/index.html ui/public ui/package.json ui/vite.config.ts ui/svelte.config.js \
			-newer ui/dist/index.html -print -quit 2>/dev/null)" ]]; then
		log "building ui/dist"
		npm --prefix ui run build >&2
	fi
	log "cargo build -p berth-app -p berth-cli"
	cargo build -p berth-app -p berth-cli >&2
	scripts/build-bridge.sh >/dev/null
fi
for bin in target/debug/berth-app target/debug/berth; do
	[[ -x "$bin" ]] || die "$bin is missing (run without --no-build)"
done
export BERTH_E2E_APP="$BERTH_REPO_ROOT/target/debug/berth-app"
export BERTH_E2E_CLI="$BERTH_REPO_ROOT/target/debug/berth"

# --- services and images ------------------------------------------------------------------
if ! scripts/services.sh status >/dev/null 2>&1; then
	log "starting test services"
	scripts/services.sh start >&2
fi
eval "$(scripts/services.sh env)"
if ! python3 scripts/build-test-images.py --check >/dev/null 2>&1; then
	log "pushing test images to $BERTH_TEST_REGISTRY"
	python3 scripts/build-test-images.py >&2
fi
# containerd shares content between namespaces: a copy with fresh blob digests makes the app
# really download, so the progress panel shows bytes moving (scripts/salt-image.py).
if [[ -z "${BERTH_E2E_IMAGE:-}" ]]; then
	salt_state=$(mktemp /tmp/berth-e2e-salt.XXXXXX)
	trap 'python3 scripts/salt-image.py clean --state "$salt_state" --storage "$BERTH_TEST_ROOT/registry" >/dev/null 2>&1; rm -f "$salt_state"' EXIT
	BERTH_E2E_IMAGE=$(python3 scripts/salt-image.py push --source "$BERTH_TEST_REGISTRY/berth-test/layered:1" \
		--count 1 --state "$salt_state" --run "e2e-$$")
	export BERTH_E2E_IMAGE
fi
log "prepared in $((SECONDS - t0)) s (image $BERTH_E2E_IMAGE)"

# --- run ----------------------------------------------------------------------------------
cmd=(node --test --test-concurrency=1 "${node_args[@]}" "${test_files[@]}")
set +e
if [[ "${BERTH_E2E_DISPLAY:-}" == 1 ]]; then
	[[ -n "${DISPLAY:-}" ]] || die "BERTH_E2E_DISPLAY=1 but DISPLAY is not set"
	"${cmd[@]}"
else
	xvfb-run -a -s "-screen 0 1280x800x24" "${cmd[@]}"
fi
rc=$?
set -e
log "e2e finished in $((SECONDS - t0)) s: $([[ $rc -eq 0 ]] && echo PASS || echo "FAIL (exit $rc)")"
exit "$rc"
