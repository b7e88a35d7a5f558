#!/usr/bin/env bash
# Times Berth's workspace create against containerd's own CLI on the same image.
#
#   scripts/bench-create.sh [--runs N] [--image REF] [--warm] [--profile] [--keep-logs]
#                           [--against BIN]
#
#   --runs N     timed runs per tool (default 3); the result is the median
#   --image REF  image to create from (default $BERTH_TEST_REGISTRY/berth-test/layered:1);
#                must live in a plain-HTTP registry on this machine
#   --warm       time the image as is, without cold copies (see below): blobs that
#                other namespaces hold are then shared, not downloaded (by ctr at least)
#   --profile    also record Berth's create phases (pull / unpack / create+start /
#                bridge) from its progress output, run under a pseudo-terminal
#   --keep-logs  keep the per-run logs directory (printed at the end)
#   --against BIN  time another Berth binary instead of ctr (e.g. one built before a change):
#                the same kind of cold copies, the same alternation; the machine's drift
#                between two separate runs is often larger than a change's effect
#
# Berth: `berth create BOT --image REF --pull always`, which exits once the workspace runs
#        and its bridge answers (pull + unpack + create + start + bridge ready).
# ctr:   `ctr image pull --plain-http REF`, `ctr run -d REF ID /bin/sleep 3600`, then
#        `ctr task ls` until the task is RUNNING.
# Both include their process start-up. Every run uses a fresh containerd namespace per tool
# and a fresh Berth data dir (initialised untimed by `berth ls`, as an installed Berth's
# would be), and alternates which tool goes first. Phase breakdowns with --profile
# (Berth: from its progress lines; ctr: pull+unpack / run / ready).
#
# Cold pulls: containerd's content store is shared by all namespaces, so a blob that any
# namespace already holds (e.g. `test` or `berth` holding berth-test/layered:1) is linked,
# not downloaded, in a new namespace. So each timed pull gets its own copy of the image
# with unique blob digests (scripts/salt-image.py: gzip header MTIME salt, identical unpacked
# contents), pushed to the local registry as berth-bench/<run>:<i> and deleted afterwards.
#
# Needs root, `scripts/services.sh start`, and builds target/release/berth and the bridge
# when missing. Prints a line per run and finally:
#   BENCH create berth_ms=<median> ctr_ms=<median> ratio=<berth/ctr>   (other_ms with --against)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BERTH_REPO_ROOT"

runs=3
image=""
warm=0
profile=0
keep_logs=0
against=""
while (($#)); do
	case "$1" in
	--runs)
		runs="${2:-}"
		shift 2 || die "--runs needs a value"
		;;
	--runs=*) runs="${1#*=}" && shift ;;
	--image)
		image="${2:-}"
		shift 2 || die "--image needs a value"
		;;
	--image=*) image="${1#*=}" && shift ;;
	--warm) warm=1 && shift ;;
	--profile) profile=1 && shift ;;
	--keep-logs) keep_logs=1 && shift ;;
	--against)
		against="${2:-}"
		shift 2 || die "--against needs a binary"
		;;
	--against=*) against="${1#*=}" && shift ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument: $1 (see --help)" ;;
	esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer"
[[ -z "$against" || -x "$against" ]] || die "--against: $against is not an executable"
[[ $EUID -eq 0 ]] || die "must run as root (containerd needs it)"

if [[ -z "${BERTH_CONTAINERD_SOCKET:-}" || -z "${BERTH_TEST_REGISTRY:-}" ]]; then
	eval "$(scripts/services.sh env)"
fi
scripts/services.sh status >/dev/null 2>&1 || die "containerd/registry not running: scripts/services.sh start"
SOCK="$BERTH_CONTAINERD_SOCKET"
default_image=0
if [[ -z "$image" ]]; then
	image="$BERTH_TEST_REGISTRY/berth-test/layered:1"
	default_image=1
fi
have python3 || die "python3 is needed"
if ((profile)); then
	have script || die "--profile needs script(1) (util-linux)"
fi

BERTH_BIN="${BERTH_BIN:-$BERTH_REPO_ROOT/target/release/berth}"
if [[ ! -x "$BERTH_BIN" ]]; then
	log "building $BERTH_BIN (cargo build --release -p berth-cli)"
	cargo build --release -p berth-cli >&2
fi
scripts/build-bridge.sh >/dev/null
if ((default_image)) && ! python3 scripts/build-test-images.py --check >/dev/null 2>&1; then
	log "pushing the test images"
	python3 scripts/build-test-images.py >/dev/null
fi

ctr_() { ctr --address "$SOCK" "$@"; }
now_ns() { date +%s%N; }

tag="$$-$(date +%s)"
work="$(mktemp -d "${TMPDIR:-/tmp}/berth-bench.XXXXXX")"
state="$work/salt.json"
runc_root="${BERTH_TEST_ROOT:-$BERTH_REPO_ROOT/.berth-test}/bench-runc"
fifo_dir="${BERTH_TEST_ROOT:-$BERTH_REPO_ROOT/.berth-test}/bench-fifo"
mkdir -p "$runc_root" "$fifo_dir"
namespaces=()

# ------------------------------------------------------------------ cleanup

# Removes everything in one namespace: Berth's workspace (through Berth when a data dir is
# given), tasks, containers, images, leases and left-over content/snapshots, then the
# namespace itself. Quiet and best effort; warns about what survives.
clean_ns() {
	local ns="$1" data="${2:-}" x
	ctr_ namespaces ls -q 2>/dev/null | grep -qxF "$ns" || return 0
	if [[ -n "$data" && -d "$data" ]]; then
		timeout 60 "$BERTH_BIN" --containerd-socket "$SOCK" --namespace "$ns" --data-dir "$data" \
			rm bench >/dev/null 2>&1 || true
	fi
	for x in $(ctr_ -n "$ns" tasks ls -q 2>/dev/null); do
		ctr_ -n "$ns" tasks kill -s SIGKILL "$x" >/dev/null 2>&1 || true
		local deadline=$((SECONDS + 10))
		until ctr_ -n "$ns" tasks delete "$x" >/dev/null 2>&1; do
			((SECONDS < deadline)) || break
			sleep 0.1
		done
	done
	for x in $(ctr_ -n "$ns" containers ls -q 2>/dev/null); do
		ctr_ -n "$ns" containers delete "$x" >/dev/null 2>&1 || true
	done
	for x in $(ctr_ -n "$ns" leases ls -q 2>/dev/null); do
		ctr_ -n "$ns" leases delete "$x" >/dev/null 2>&1 || true
	done
	x="$(ctr_ -n "$ns" images ls -q 2>/dev/null)"
	if [[ -n "$x" ]]; then
		# shellcheck disable=SC2086 # one reference a word
		ctr_ -n "$ns" images rm --sync $x >/dev/null 2>&1 || true
	fi
	# Whatever no image referenced (e.g. an interrupted pull).
	for x in $(ctr_ -n "$ns" snapshots ls 2>/dev/null | awk 'NR > 1 { print $1 }' | tac); do
		ctr_ -n "$ns" snapshots rm "$x" >/dev/null 2>&1 || true
	done
	x="$(ctr_ -n "$ns" content ls -q 2>/dev/null)"
	if [[ -n "$x" ]]; then
		# shellcheck disable=SC2086
		ctr_ -n "$ns" content rm $x >/dev/null 2>&1 || true
	fi
	if ! ctr_ namespaces rm "$ns" >/dev/null 2>&1; then
		warn "namespace $ns not empty after cleanup; remove it by hand"
	fi
}

cleanup() {
	local rc=$? i
	trap - EXIT INT TERM
	for i in "${!namespaces[@]}"; do
		clean_ns "${namespaces[i]%%|*}" "${namespaces[i]#*|}"
	done
	local storage="${BERTH_TEST_ROOT:-$BERTH_REPO_ROOT/.berth-test}/registry"
	[[ -d "$storage" ]] || storage=""
	python3 scripts/salt-image.py clean --state "$state" ${storage:+--storage "$storage"} >/dev/null 2>&1 ||
		warn "could not delete the cold image copies (berth-bench/$tag) from the registry"
	rm -rf "$runc_root" "$fifo_dir" 2>/dev/null || true
	if ((keep_logs)); then
		log "logs kept in $work"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ images

refs=()
if ((warm)); then
	for ((i = 0; i < 2 * runs; i++)); do refs+=("$image"); done
	warn "--warm: blobs already in containerd (any namespace) are linked, not downloaded"
else
	log "pushing $((2 * runs)) cold copies of $image"
	mapfile -t refs < <(python3 scripts/salt-image.py push --source "$image" --count $((2 * runs)) \
		--state "$state" --run "$tag")
	((${#refs[@]} == 2 * runs)) || die "could not make cold copies of $image"
fi

# ------------------------------------------------------------------ the two tools

# berth_create NS DATA REF LOG [BIN]: prints the elapsed milliseconds.
berth_create() {
	local ns="$1" data="$2" ref="$3" logf="$4" bin="${5:-$BERTH_BIN}" t0 t1 rc=0
	local -a cmd=("$bin" --containerd-socket "$SOCK" --namespace "$ns" --data-dir "$data"
		create bench --image "$ref" --pull always)
	t0=$(now_ns)
	if ((profile)); then
		# A pseudo-terminal makes the CLI print its phase lines; stamp each output chunk.
		script -qefc "$(printf '%q ' "${cmd[@]}")" /dev/null 2>&1 </dev/null |
			python3 -u bench/stamp.py "$t0" "${logf%.log}.phases" >"$logf" || rc=$?
	else
		"${cmd[@]}" >"$logf" 2>&1 </dev/null || rc=$?
	fi
	t1=$(now_ns)
	((rc == 0)) || {
		warn "berth create failed (exit $rc):"
		tail -n 20 "$logf" >&2
		return 1
	}
	echo $(((t1 - t0) / 1000000))
}

# ctr_create NS REF ID LOG: prints the elapsed milliseconds.
ctr_create() {
	local ns="$1" ref="$2" id="$3" logf="$4" t0 t1 tp tr deadline
	t0=$(now_ns)
	ctr_ -n "$ns" image pull --plain-http "$ref" >"$logf" 2>&1 || {
		warn "ctr image pull failed:"
		tail -n 20 "$logf" >&2
		return 1
	}
	tp=$(now_ns)
	ctr_ -n "$ns" run -d --runc-root "$runc_root" --fifo-dir "$fifo_dir" "$ref" "$id" \
		/bin/sleep 3600 >>"$logf" 2>&1 || {
		warn "ctr run failed:"
		tail -n 20 "$logf" >&2
		return 1
	}
	tr=$(now_ns)
	deadline=$((SECONDS + 30))
	until ctr_ -n "$ns" task ls 2>/dev/null | awk -v id="$id" '$1 == id && $3 == "RUNNING" { ok = 1 } END { exit !ok }'; do
		((SECONDS < deadline)) || {
			warn "ctr task $id never reached RUNNING"
			return 1
		}
		sleep 0.01
	done
	t1=$(now_ns)
	printf 'pull+unpack=%d  run=%d  ready=%d  (total %d ms)\n' $(((tp - t0) / 1000000)) \
		$(((tr - tp) / 1000000)) $(((t1 - tr) / 1000000)) $(((t1 - t0) / 1000000)) >"${logf%.log}.phases"
	echo $(((t1 - t0) / 1000000))
}

# other_create NS DATA REF ID LOG: the reference, ctr or the --against binary.
other_create() {
	if [[ -n "$against" ]]; then
		berth_create "$1" "$2" "$3" "$5" "$against"
	else
		ctr_create "$1" "$3" "$4" "$5"
	fi
}

# ------------------------------------------------------------------ runs

# Between the two tools of a run: flush the first one's dirty pages (45 MB of content plus
# the unpacked layers), or their writeback lands in the second one's timing.
settle() {
	sync
	sleep 0.2
}

median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%d\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }'; }

other=ctr
[[ -n "$against" ]] && other=other
log "image $image, $runs run(s), berth $BERTH_BIN, ${against:+against $against, }containerd $SOCK"
printf '%-4s %-6s %10s %10s %7s\n' run first berth_ms "${other}_ms" ratio
berth_all=()
ctr_all=()
for ((i = 1; i <= runs; i++)); do
	bns="berth-bench-$tag-$i-b"
	cns="berth-bench-$tag-$i-c"
	bdata="$work/data-$i"
	cdata=""
	[[ -n "$against" ]] && cdata="$work/data-$i-other"
	namespaces+=("$bns|$bdata" "$cns|$cdata")
	bref="${refs[2 * (i - 1)]}"
	cref="${refs[2 * (i - 1) + 1]}"
	# Berth's one-time set-up of a new data directory (database, bridge install) is not
	# part of a create: do it untimed, as an installed Berth would have done long before.
	"$BERTH_BIN" --containerd-socket "$SOCK" --namespace "$bns" --data-dir "$bdata" ls >/dev/null
	if [[ -n "$against" ]]; then
		"$against" --containerd-socket "$SOCK" --namespace "$cns" --data-dir "$cdata" ls >/dev/null
	fi
	settle
	if ((i % 2)); then
		first=berth
		b=$(berth_create "$bns" "$bdata" "$bref" "$work/berth-$i.log")
		settle
		c=$(other_create "$cns" "$cdata" "$cref" "bench-$i" "$work/ctr-$i.log")
	else
		first=$other
		c=$(other_create "$cns" "$cdata" "$cref" "bench-$i" "$work/ctr-$i.log")
		settle
		b=$(berth_create "$bns" "$bdata" "$bref" "$work/berth-$i.log")
	fi
	berth_all+=("$b")
	ctr_all+=("$c")
	printf '%-4s %-6s %10s %10s %7s\n' "$i" "$first" "$b" "$c" "$(ratio "$b" "$c")"
	if ((profile)); then
		sed 's/^/     berth: /' "$work/berth-$i.phases" 2>/dev/null || true
		sed "s/^/     $other: /" "$work/ctr-$i.phases" 2>/dev/null || true
	fi
	# Tear both down now, outside the timing, so the next run starts from the same state.
	clean_ns "$bns" "$bdata"
	clean_ns "$cns" "$cdata"
done

bm=$(median "${berth_all[@]}")
cm=$(median "${ctr_all[@]}")
printf '%-11s %10s %10s %7s\n' median "$bm" "$cm" "$(ratio "$bm" "$cm")"
echo "BENCH create berth_ms=$bm ${other}_ms=$cm ratio=$(ratio "$bm" "$cm")"
