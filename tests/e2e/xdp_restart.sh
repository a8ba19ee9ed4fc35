#!/usr/bin/env bash
# Fail static across a data-plane restart: with --xdp-pin, the admission program and its
# maps outlive linegate. While no linegate runs, unknown senders stay dropped in XDP; the
# next linegate takes the pinned instance over with its counters, and the devices' frames
# are verified again at once. --xdp-unpin removes it for a real stop.
source "$(dirname "$0")/lib.sh"
lg_need_root
command -v nsenter >/dev/null || lg_skip "nsenter (util-linux) is not installed"
lg_bpffs
lg_tmp
lg_netns_up "lgxr$$"
T=$LG_TMP
PIN=/sys/fs/bpf/linegate-test-$$
# linegate's default folder in the server's namespace (not the host's)
DEF=/sys/fs/bpf/linegate/netns-$(stat -L -c %i "/var/run/netns/$NS_SRV")
PINOPT=(--xdp-pin "$PIN")
trap 'rm -rf "$PIN" "$DEF"; lg_cleanup' EXIT
lg_policy "$T/policy.yaml"
sed -i 's/^uadp_port: 4840/uadp_port: 0/' "$T/policy.yaml"
# nsenter keeps the host's mount namespace, so the pins live in the host bpffs;
# `ip netns exec` would give linegate a private /sys whose bpffs dies with it.
run_dp() {
	nsenter --net=/var/run/netns/$NS_SRV "$LG_BIN_DP" -p "$T/policy.yaml" -B $SRV_IP \
		-c "$T/dp.sock" -o "$T/out$1.jsonl" -s "$T/stats$1.json" -x "${XDPSPEC:-lg0}" "${PINOPT[@]}" \
		"${@:2}" 2> "$T/dp$1.err" &
	DP=$!
	LG_PIDS="$DP"
	lg_wait_for 5 test -S "$T/dp.sock" || lg_fail "linegate $1 did not start: $(cat "$T/dp$1.err")"
}
send() { ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP -r 4000 -q "$@"; }
stop_dp() {
	kill -INT $DP
	wait $DP || lg_fail "linegate exited with status $?"
	LG_PIDS=""
	rm -f "$T/dp.sock"
}

run_dp 1
grep -qF "pinned in $PIN (kept on exit; --xdp-unpin removes it); attached to lg0 in native mode" "$T/dp1.err" ||
	lg_fail "start line: $(cat "$T/dp1.err")"
send -n 100 --unknown 40 -j "$T/sent1.json"
sleep 0.3
stop_dp
# the exit summary says what XDP judged (its drops never reach a worker's counters)
want="before them, XDP judged: admitted $(lg_json "$T/sent1.json" "d['enrolled']") unknown_device $(lg_json "$T/sent1.json" "d['unknown_device']")"
grep -qE "^linegate: $want( |\$)" "$T/dp1.err" ||
	lg_fail "exit summary: want '$want': $(grep -A3 'summary after' "$T/dp1.err")"
ip -n "$NS_SRV" link show lg0 | grep -q xdp || lg_fail "XDP left with the process"
[ -d "$PIN" ] || lg_fail "nothing pinned in $PIN"
# No linegate: unknown frames are dropped; enrolled ones too, counted no_reader (a stopped
# linegate told XDP nobody reads: they would find no socket in the stack; issue 10).
send -n 50 --first-seq 101 --unknown 30 -j "$T/sent2.json"
run_dp 2 --xdp-unpin
send -n 50 --first-seq 151 --unknown 20 -j "$T/sent3.json"
sleep 0.3
stop_dp
[ ! -e "$PIN" ] || lg_fail "--xdp-unpin left $PIN"
ip -n "$NS_SRV" link show lg0 | grep -q xdp && lg_fail "--xdp-unpin left the program attached"
grep -qF "took over the instance pinned in $PIN, with its replay sequences, buckets and counters, attached in native mode (detached and removed on exit: --xdp-unpin)" "$T/dp2.err" ||
	lg_fail "takeover line: $(cat "$T/dp2.err")"
grep -qF "detached from lg0 and removed $PIN" "$T/dp2.err" || lg_fail "exit line: $(cat "$T/dp2.err")"

# The default folder, $DEF/lg0: --xdp-unpin says at start that it will not be kept, and
# leaves neither the pins nor the namespace's folder behind (and nothing of the operator's).
PINOPT=()
mkdir -p /sys/fs/bpf/linegate
run_dp 3 --xdp-unpin
grep -qF "pinned in $DEF/lg0 (detached and removed on exit: --xdp-unpin)" "$T/dp3.err" ||
	lg_fail "start line: $(cat "$T/dp3.err")"
[ -e "$DEF/lg0/link" ] || lg_fail "nothing pinned in $DEF/lg0"
stop_dp
grep -qF "detached from lg0 and removed $DEF/lg0" "$T/dp3.err" || lg_fail "exit line: $(cat "$T/dp3.err")"
[ ! -e "$DEF" ] || lg_fail "--xdp-unpin left $DEF: $(ls -la "$DEF")"
[ -d /sys/fs/bpf/linegate ] || lg_fail "--xdp-unpin removed /sys/fs/bpf/linegate"
ip -n "$NS_SRV" link show lg0 | grep -q xdp && lg_fail "--xdp-unpin left the program attached"
# Without --xdp-unpin the default folder stays, pins and all: the next run takes it over.
# Pinned in generic mode, it stays generic when the next run asks for native, and that run
# says so (trial M, s22: it said nothing, and `ip link` showed xdpgeneric).
XDPSPEC=lg0:generic run_dp 4
grep -qF "pinned in $DEF/lg0 (kept on exit; --xdp-unpin removes it); attached to lg0 in generic mode" "$T/dp4.err" ||
	lg_fail "a fresh start does not say its mode: $(cat "$T/dp4.err")"
stop_dp
[ -e "$DEF/lg0/link" ] || lg_fail "the pins in $DEF/lg0 did not outlive linegate"
ip -n "$NS_SRV" link show lg0 | grep -q xdpgeneric || lg_fail "run 4 did not attach in generic mode"
run_dp 5 --xdp-unpin
grep -qF "took over the instance pinned in $DEF/lg0, with its replay sequences, buckets and counters, attached in generic mode" "$T/dp5.err" || lg_fail "$(cat "$T/dp5.err")"
grep -qF "WARNING: --xdp asks for native mode, but the pinned instance runs in generic mode and keeps it" "$T/dp5.err" ||
	lg_fail "no word of the mode kept: $(cat "$T/dp5.err")"
ip -n "$NS_SRV" link show lg0 | grep -q xdpgeneric || lg_fail "the takeover changed the mode"
stop_dp
[ ! -e "$DEF" ] || lg_fail "--xdp-unpin after a takeover left $DEF"

python3 - "$T"/stats1.json "$T"/stats2.json "$T"/sent1.json "$T"/sent2.json "$T"/sent3.json <<'PY'
import json, sys
st1, st2, s1, s2, s3 = (json.load(open(f)) for f in sys.argv[1:])
from lgcheck import check, done
check("first run: workers admitted", st1["admitted"], s1["enrolled"])
check("taken over: XDP unknown counted across all three periods", st2["xdp"]["unknown_device"],
      s1["unknown_device"] + s2["unknown_device"] + s3["unknown_device"])
check("taken over: XDP admitted in the two runs", st2["xdp"]["admitted"],
      s1["enrolled"] + s3["enrolled"])
check("taken over: XDP no_reader while no linegate ran", st2["xdp"]["no_reader"], s2["enrolled"])
check("second run: workers admitted at once", st2["admitted"], s3["enrolled"])
check("second run: no unknown frame reached a worker", st2["drops"]["unknown_device"], 0)
done()
PY
echo PASS
