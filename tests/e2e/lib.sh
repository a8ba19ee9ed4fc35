# Shared helpers for linegate's end-to-end tests (sourced, bash).
# Each test builds its own simulated line: two network namespaces joined by a veth pair,
#   <srv ns>  lg0 10.77.0.1/24  <-- veth -->  lg1 10.77.0.2/24 (+ 10.77.0.3)  <line ns>
# and removes everything it made on exit, also when it fails or is interrupted.
set -euo pipefail

: "${LG_BUILD:?LG_BUILD must point at the meson build folder}"
: "${LG_SOURCE:?LG_SOURCE must point at the source tree}"

SKIP=77
LG_BIN_DP="$LG_BUILD/dataplane/linegate"
LG_BIN_D="$LG_BUILD/control/linegated"
LG_BIN_CTL="$LG_BUILD/control/linegatectl"
LG_BIN_GEN="$LG_BUILD/bench/linegate-loadgen"
SRV_IP=10.77.0.1
LINE_IP=10.77.0.2
SPOOF_IP=10.77.0.3

lg_skip() { echo "SKIP: $*"; exit $SKIP; }
lg_fail() { echo "FAIL: $*" >&2; exit 1; }

# lg_free_port: a free TCP port on loopback (free when asked: bind it soon).
lg_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# lg_need_nats: skip without nats-server or a linegate built with NATS; FLEET is
# linegate-fleet.
lg_need_nats() {
	command -v nats-server >/dev/null || lg_skip "nats-server is not installed"
	FLEET=$LG_BUILD/control/linegate-fleet
	[ -x "$FLEET" ] || lg_skip "linegate was built without NATS (-Dnats)"
}

# lg_pin_trap: PIN, linegate's default XDP pin folder for $NS_SRV (under nsenter --net the
# pins land in the host's bpffs and outlive the namespace), removed on exit with the rest.
lg_pin_trap() {
	PIN=/sys/fs/bpf/linegate/netns-$(stat -L -c %i /var/run/netns/$NS_SRV)
	trap 'rm -rf "$PIN"; lg_cleanup' EXIT
}

# lg_dp_nsenter N [SKIP_RE]: linegate in $NS_SRV under nsenter --net, which keeps the host's
# mount namespace, so XDP pins outlive the process as on a server: $T/policy.yaml, control
# socket $T/dp.sock, output $T/outN.jsonl, stats $T/statsN.json, stderr $T/dpN.err, and the
# caller's XARGS; its pid in DP. Fails unless it starts; skips when its stderr matches SKIP_RE
# (a kernel that lacks what the test needs).
lg_dp_nsenter() {
	rm -f "$T/dp.sock"
	nsenter --net=/var/run/netns/$NS_SRV "$LG_BIN_DP" -p "$T/policy.yaml" \
		-c "$T/dp.sock" -o "$T/out$1.jsonl" -s "$T/stats$1.json" "${XARGS[@]}" \
		2> "$T/dp$1.err" &
	DP=$!
	LG_PIDS="$DP ${GEN:-}"
	if ! lg_wait_for 20 test -S "$T/dp.sock"; then
		[ -n "${2:-}" ] && grep -q "$2" "$T/dp$1.err" &&
			lg_skip "this kernel cannot run linegate $1 here: $(cat "$T/dp$1.err")"
		lg_fail "linegate $1 did not start: $(cat "$T/dp$1.err")"
	fi
}

# lg_dp_start NAME: linegate on $T/NAME.yaml (state $T/NAME.state, control socket
# $T/NAME.sock, stats $T/NAME.stats.json, stderr $T/NAME.err), its pid in DP;
# lg_dp_stop NAME: SIGINT, and its exit status must be 0.
# The lg_*start* helpers remove the control socket first: one that a killed process left
# would pass the wait for this start's socket before the new process listens (the daemons
# unlink and bind it again themselves).
lg_dp_start() {
	rm -f "$T/$1.sock"
	STATE_DIRECTORY=$T/$1.state "$LG_BIN_DP" -p "$T/$1.yaml" -B 127.0.0.1 -c "$T/$1.sock" \
		-s "$T/$1.stats.json" 2> "$T/$1.err" &
	DP=$!
	LG_PIDS="$LG_PIDS $DP"
	lg_wait_for 5 test -S "$T/$1.sock" || lg_fail "linegate $1 did not start: $(cat "$T/$1.err")"
}
lg_dp_stop() {
	kill -INT $DP
	wait $DP || lg_fail "linegate exited with status $?: $(tail -3 "$T/$1.err")"
}

lg_need_root() {
	[ "$(id -u)" -eq 0 ] || lg_skip "needs root for network namespaces"
	command -v ip >/dev/null || lg_skip "iproute2 (ip) is not installed"
}

# lg_netns_up NAME: creates namespaces ${NAME}s and ${NAME}l and the veth between them.
# Namespaces a killed test left (SIGKILL runs no trap): lg<letters><pid>s|l whose pid is
# gone. A live process of that pid keeps its namespaces (it may be the test, or pid reuse).
lg_netns_sweep() {
	local ns pid
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		[[ $ns =~ ^lg[a-z]+([0-9]+)[sl]$ ]] || continue
		pid=${BASH_REMATCH[1]}
		[ -d "/proc/$pid" ] || ip netns del "$ns" 2>/dev/null || true
	done
}

lg_netns_up() {
	local n=$1
	lg_netns_sweep
	NS_SRV="${n}s"
	NS_LINE="${n}l"
	LG_CLEANUP_NS="$NS_SRV $NS_LINE"
	ip netns add "$NS_SRV" || lg_skip "cannot create network namespaces here"
	ip netns add "$NS_LINE"
	# No IPv6 on the test line: its neighbour discovery and MLD reports would add frames
	# the tests' exact counters do not expect.
	ip netns exec "$NS_SRV" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	ip netns exec "$NS_LINE" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	# LG_QUEUES: RX/TX queues on each side (default 1).
	ip link add lg0 netns "$NS_SRV" numrxqueues "${LG_QUEUES:-1}" numtxqueues "${LG_QUEUES:-1}" \
		type veth peer name lg1 netns "$NS_LINE" numrxqueues "${LG_QUEUES:-1}" \
		numtxqueues "${LG_QUEUES:-1}"
	ip -n "$NS_SRV" addr add $SRV_IP/24 dev lg0
	ip -n "$NS_LINE" addr add $LINE_IP/24 dev lg1
	ip -n "$NS_LINE" addr add $SPOOF_IP/24 dev lg1
	# A veth passes a local sender's UDP checksum unfinished (the stack trusts it); AF_XDP
	# sees the bytes, as from a real NIC, so the senders compute it in full.
	ip netns exec "$NS_SRV" ethtool -K lg0 tx off >/dev/null
	ip netns exec "$NS_LINE" ethtool -K lg1 tx off >/dev/null
	ip -n "$NS_SRV" link set lg0 up
	ip -n "$NS_LINE" link set lg1 up
	ip -n "$NS_SRV" link set lo up
	ip -n "$NS_LINE" link set lo up
}

# The Python parts of the scripts share their checks (lgcheck.py beside this file).
export PYTHONPATH="$LG_SOURCE/tests/e2e${PYTHONPATH:+:$PYTHONPATH}"

# Mount bpffs where it is missing; `ip netns exec` gives its command a fresh /sys.
lg_bpffs() {
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
}

LG_PIDS=""
lg_bg() { "$@" & LG_PIDS="$LG_PIDS $!"; }

lg_cleanup() {
	local p
	# CONT too: a process a test stopped (SIGSTOP) would hold its INT, and us, for good
	for p in $LG_PIDS; do kill -INT "$p" 2>/dev/null || true; kill -CONT "$p" 2>/dev/null || true; done
	# at most 15 s for them all, then KILL: a failed test must end, not hang until its timeout
	for _ in $(seq 150); do
		local alive=0
		for p in $LG_PIDS; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for p in $LG_PIDS; do kill -KILL "$p" 2>/dev/null || true; done
	for p in $LG_PIDS; do wait "$p" 2>/dev/null || true; done
	for p in ${LG_CLEANUP_NS:-}; do ip netns del "$p" 2>/dev/null || true; done
	[ -n "${LG_TMP:-}" ] && rm -rf "$LG_TMP"
	return 0
}

lg_tmp() {
	LG_TMP=$(mktemp -d /tmp/linegate-test.XXXXXX)
	# Each test its own state folder (replay marks, last applied policy): see --state-dir.
	export STATE_DIRECTORY="$LG_TMP/dp-state"
	trap lg_cleanup EXIT
	trap 'exit 130' INT TERM
}

# lg_demo_key: the demo signing key copied under $LG_TMP, readable by its owner only (git
# keeps it 0644; the signing tools refuse a key others can read). Prints its path.
lg_demo_key() {
	local k="$LG_TMP/demo-signing.key"
	[ -e "$k" ] || { cp "$LG_SOURCE/control/defaults/demo-signing.key" "$k" && chmod 600 "$k"; }
	echo "$k"
}

# lg_keys DIR: the default policy's device key files into DIR/keys, readable by their owner
# only (git keeps them 0644; the policy parser refuses anything else).
lg_keys() {
	# An empty DIR would make /keys and chmod it: refuse before touching anything.
	[ -n "${1:-}" ] && [ "$1" != / ] || lg_fail "lg_keys needs a test folder, got '${1:-}'"
	mkdir -p "$1/keys"
	cp "$LG_SOURCE"/control/defaults/keys/*.key "$1/keys/"
	chmod 700 "$1/keys"
	chmod 600 "$1"/keys/*.key
}

# lg_policy_head FILE [PORT [UADP_PORT]]: a policy's settings up to 'devices:' (window 256,
# batch 4, the default model and the key it is signed with), for a test that lists its own
# devices after it.
lg_policy_head() {
	cat > "$1" <<EOF
version: 1
port: ${2:-4739}
uadp_port: ${3:-4840}
detection:
  window: 256
  batch: 4
  model: $LG_SOURCE/control/defaults/model.json
models:
  trusted_keys: [c3126d69f8a2631f3922c10c7d9dd9422464cbeb25dc6416f0d452089979b3f6]
devices:
EOF
}

# lg_pcap_policy N SEED: skip where linegate has no pcap backend; else $T/policy.yaml with N
# enrolled LGF devices and their keys (bench/make_policy.py), for a test that replays
# linegate-loadgen --pcap captures.
lg_pcap_policy() {
	"$LG_BIN_DP" --help | grep "^  pcap:" >/dev/null ||
		lg_skip "this build has no pcap backend (meson -Dpcap)"
	lg_policy_head "$T/head.yaml"
	python3 "$LG_SOURCE/bench/make_policy.py" "$T" "$1" --head "$T/head.yaml" --seed "$2" \
		> /dev/null || lg_fail "make_policy.py failed"
}

# lg_pcap_replay FILE NAME OPTIONS WORKERS [POLICY]: linegate under POLICY ($T/policy.yaml)
# replays FILE to its end (-b pcap:file=FILE,OPTIONS) with WORKERS workers, its state folder
# fresh: $T/NAME.stats, .jsonl and .err; status 0 within 60 s, or the test fails.
lg_pcap_replay() {
	local rc=0
	rm -rf "$STATE_DIRECTORY"
	timeout 60 "$LG_BIN_DP" -p "${5:-$T/policy.yaml}" -b "pcap:file=$1$3" -w "$4" \
		-s "$T/$2.stats" -o "$T/$2.jsonl" 2> "$T/$2.err" || rc=$?
	[ $rc -eq 0 ] || lg_fail "$2: status $rc: $(tail -3 "$T/$2.err")"
}

# lg_fixture_keys DIR FILE...: key files into DIR/keys, readable by their owner only.
lg_fixture_keys() {
	[ -n "${1:-}" ] && [ "$1" != / ] || lg_fail "lg_fixture_keys needs a test folder"
	local dir=$1
	shift
	mkdir -p "$dir/keys"
	cp "$@" "$dir/keys/"
	chmod 700 "$dir/keys"
	chmod 600 "$dir"/keys/*.key
}

# The default policy, bound to the test line's address, with an absolute model path; its
# key files beside it (lg_keys).
lg_policy() {
	sed -e "s#^  model: .*#  model: $LG_SOURCE/control/defaults/model.json#" \
	    -e "s#source: 10.77.0.2#source: $LINE_IP#" \
	    "$LG_SOURCE/control/defaults/policy.yaml" > "$1"
	lg_keys "$(dirname "$1")"
}

# lg_wait_for SECONDS COMMAND...: retry until the command succeeds.
lg_wait_for() {
	local t=$1; shift
	local end=$((SECONDS + t))
	until "$@" 2>/dev/null; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}

# lg_wait_value SECS WANT CMD [ARGS...]: wait until CMD prints WANT, running it again at
# every try (lg_wait_for with test "$(CMD)" = WANT would expand CMD once, and not wait).
lg_wait_value() {
	local t=$1 want=$2; shift 2
	local end=$((SECONDS + t))
	until [ "$("$@" 2>/dev/null)" = "$want" ]; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}

# JSON field with python3's standard library: lg_json FILE EXPR (EXPR over `d`).
lg_json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# linegate in the server netns with the test's policy, control socket, outputs and final
# counters under $T; extra arguments are appended. Sets DP_PID.
# The data plane's counters as JSON, from its control socket ($2, default $T/dp.sock).
lg_dp_stats() {
	python3 "$LG_SOURCE/tests/e2e/lgsock.py" "${2:-$T/dp.sock}" '{"cmd": "stats"}' stats > "$1"
}

# lg_dp_admitted_stop FILE N: wait up to 10 s until linegate ($DP_PID, its socket $T/dp.sock)
# has admitted N frames (its stats in FILE), then stop it with SIGINT; it must exit 0 (its
# final stats then in the file its -s names).
lg_dp_admitted_stop() {
	local file=$1 n=$2
	lg_wait_for 10 lg_dp_holds "$T/dp.sock" "s['admitted'] >= $n" ||
		{ lg_dp_stats "$file"; lg_fail "linegate admitted $(lg_json "$file" 'd["admitted"]') of $n"; }
	lg_dp_stats "$file"
	kill -INT "$DP_PID"
	wait "$DP_PID" || lg_fail "linegate exited with status $?"
	LG_PIDS=""
}

# lg_dp_holds SOCKET EXPR: exit 0 when the Python expression EXPR holds over the data
# plane's stats `s` from its control socket (lg_wait_for 10 lg_dp_holds "$T/dp.sock" '...').
lg_dp_holds() {
	python3 - "$1" "$2" <<'PY'
import sys, lgsock
s = lgsock.call(sys.argv[1], {"cmd": "stats"})["stats"]
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
}

# lg_ctl SOCKET REQUEST_JSON [FIELD]: one framed request (lgsock.py), the reply on stdout.
lg_ctl() { python3 "$LG_SOURCE/tests/e2e/lgsock.py" "$@"; }

# lg_cands_listed CTL OUT PATTERN...: `CTL models candidates` into OUT holds a line matching
# each PATTERN (CTL: a command or function that runs linegatectl on the test's socket).
lg_cands_listed() {
	local ctl=$1 out=$2 p
	shift 2
	$ctl models candidates > "$out" || lg_fail "models candidates failed"
	for p in "$@"; do
		grep -q "$p" "$out" || lg_fail "models candidates: no line '$p': $(cat "$out")"
	done
}
# lg_approve_refused CTL ID KEY OUT WANT: `CTL models approve ID --key KEY` exits 1, saying WANT.
lg_approve_refused() {
	local ctl=$1 id=$2 key=$3 out=$4 want=$5 rc=0
	$ctl models approve "$id" --key "$key" > "$out" 2>&1 || rc=$?
	[ $rc -eq 1 ] && grep -q "$want" "$out" ||
		lg_fail "candidate $id approved or refused otherwise (status $rc, want '$want'): $(cat "$out")"
}

# lg_dp_apply SOCKET FILE: apply FILE's text on linegate's control socket from the server
# namespace; prints "ok: N devices, changes [...]" (the reply's changes, compact JSON) or
# "error: REASON".
lg_dp_apply() {
	ip netns exec "$NS_SRV" python3 -c "
import json, sys, lgsock
r = lgsock.call(sys.argv[1], {'cmd': 'apply', 'policy': open(sys.argv[2]).read()})
if r.get('ok'):
    print('ok: %d devices, changes %s' % (r['devices'],
          json.dumps(r['changes'], separators=(',', ':'))))
else:
    print('error: ' + r.get('error', ''))" "$1" "$2"
}

lg_start_linegate() {
	rm -f "$T/dp.sock"
	lg_bg ip netns exec "$NS_SRV" "$LG_BIN_DP" -p "$T/policy.yaml" -B $SRV_IP \
		-c "$T/dp.sock" -o "$T/out.jsonl" -s "$T/stats.json" "$@"
	DP_PID=$!
	lg_wait_for 5 test -S "$T/dp.sock" || lg_fail "linegate did not start"
}

# lg_start_linegate_xdp MODE ARGS...: linegate in the server namespace with ARGS (which
# attach XDP), its outputs under $T; skips the test where this kernel cannot attach XDP in
# MODE (native or generic) on a veth. Sets DP_PID.
lg_start_linegate_xdp() {
	local mode=$1
	shift
	rm -f "$T/dp.sock"
	ip netns exec "$NS_SRV" "$LG_BIN_DP" -p "$T/policy.yaml" -c "$T/dp.sock" \
		-o "$T/out.jsonl" -s "$T/stats.json" "$@" 2> "$T/dp.err" &
	DP_PID=$!
	LG_PIDS="$DP_PID"
	if ! lg_wait_for 5 test -S "$T/dp.sock"; then
		cat "$T/dp.err"
		grep -q "Operation not supported\|Invalid argument" "$T/dp.err" &&
			lg_skip "this kernel cannot attach XDP in $mode mode on veth"
		lg_fail "linegate did not start"
	fi
}

# lg_capture_start FILE: record the server's veth (lg0) to FILE; lg_capture_stop ends it.
lg_capture_start() {
	ip netns exec "$NS_SRV" python3 "$LG_SOURCE/tests/e2e/pcap_capture.py" lg0 "$1" \
		"$1.ready" > "$1.count" &
	CAP_PID=$!
	LG_PIDS="$CAP_PID"
	lg_wait_for 5 test -e "$1.ready" || lg_fail "the capture did not start"
}

# lg_send_not_ours N: N UDP datagrams from the line to the server on a port that is neither
# LGF nor UADP (5999): frames that are not ours, for admission's not_ours count.
lg_send_not_ours() {
	ip netns exec "$NS_LINE" python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[2])):
    s.sendto(b"not ours %d" % i, (sys.argv[1], 5999))' $SRV_IP "$1"
}

lg_capture_stop() {
	sleep 0.3
	kill -INT $CAP_PID
	wait $CAP_PID || lg_fail "the capture failed"
	LG_PIDS=""
}

# linegated for that linegate, with its audit log and state folder under $T. Sets D_PID.
lg_start_linegated() {
	rm -f "$T/d.sock"
	lg_bg "$LG_BIN_D" -p "$T/policy.yaml" -S "$T/d.sock" -d "$T/dp.sock" \
		-a "$T/audit.jsonl" -s "$T/state" "$@"
	D_PID=$!
	lg_wait_for 5 test -S "$T/d.sock" || lg_fail "linegated did not start"
}

# Stop both with SIGINT; each must exit 0 (under ASan a leak or an error would not).
lg_stop_linegate() {
	kill -INT $DP_PID ${D_PID:-} 2>/dev/null
	wait $DP_PID || lg_fail "linegate exited with status $?"
	[ -z "${D_PID:-}" ] || wait $D_PID || lg_fail "linegated exited with status $?"
	LG_PIDS=""
}
