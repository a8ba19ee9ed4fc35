#!/usr/bin/env bash
# The whole pipeline with XDP admission: linegate attaches bpf/admit to its veth (native
# mode). Unknown, spoofed and unparseable frames must be dropped in XDP, so the workers
# never see them; what XDP lets through is verified by the workers. Then an old capture
# of the same devices is replayed: the workers' exported sequences make XDP drop all of it.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgxp$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
MODE=${1:-native}
BACKEND=${2:-uring}   # afxdp: admitted frames go to an AF_XDP socket, past the stack
[ "$MODE" = native ] && XDP=lg0 || XDP=lg0:generic

ip netns exec "$NS_SRV" "$LG_BIN_DP" -p "$T/policy.yaml" -B $SRV_IP -c "$T/dp.sock" \
	-o "$T/out.jsonl" -s "$T/stats.json" -x $XDP -b "$BACKEND" 2> "$T/dp.err" &
DP_PID=$!
LG_PIDS="$DP_PID"
if ! lg_wait_for 5 test -S "$T/dp.sock"; then
	cat "$T/dp.err"
	grep -q "Operation not supported\|Invalid argument" "$T/dp.err" &&
		lg_skip "this kernel cannot attach XDP in $MODE mode on veth"
	lg_fail "linegate did not start"
fi

DEVICES=6 FRAMES=1200
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP \
	-n $FRAMES -r 6000 -f 103:600:bearing --unknown 100 --bad-tag 20 --replay 20 \
	--malformed 20 --spoof 30 --spoof-from $SPOOF_IP -j "$T/sent1.json" -q
# Let the workers export their verified sequences to XDP (every 50 ms).
sleep 0.4
# An old capture: the same devices' frames 1..100, correctly tagged, long superseded.
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP \
	-n 100 -r 6000 -j "$T/sent2.json" -q
sleep 0.4
kill -INT $DP_PID
wait $DP_PID || { cat "$T/dp.err"; lg_fail "linegate exited with status $?"; }
LG_PIDS=""

python3 - "$T/stats.json" "$T/sent1.json" "$T/sent2.json" "$T/out.jsonl" <<'PY'
import json, sys
st = json.load(open(sys.argv[1])); s1 = json.load(open(sys.argv[2])); s2 = json.load(open(sys.argv[3]))
x, d = st["xdp"], st["drops"]
ok = True
def check(name, got, want):
    global ok
    print(f"{name}: got {got}, want {want}")
    ok &= got == want
half = s1["malformed"] // 2          # bad magic (XDP) and bad length (worker), alternating
check("xdp unknown_device", x["unknown_device"], s1["unknown_device"])
check("xdp spoofed_source", x["spoofed_source"], s1["spoofed"])
check("xdp malformed", x["malformed"], half)
check("xdp replayed (old capture)", x["replayed"], s2["enrolled"])
check("xdp rate_limited", x["rate_limited"], 0)
passed = s1["enrolled"] + s1["bad_tag"] + s1["replayed"] + (s1["malformed"] - half)
check("xdp admitted", x["admitted"], passed)
check("workers received", st["received"], passed)
check("workers admitted", st["admitted"], s1["enrolled"])
check("workers unknown_device", d["unknown_device"], 0)
check("workers spoofed_source", d["spoofed_source"], 0)
check("workers bad_magic", d["bad_magic"], 0)
check("workers bad_length", d["bad_length"], s1["malformed"] - half)
check("workers bad_tag", d["bad_tag"], s1["bad_tag"])
check("workers replayed", d["replayed"], s1["replayed"])
alerts = {json.loads(l)["device"] for l in open(sys.argv[4]) if '"alert"' in l}
check("devices with alerts", sorted(alerts), [103])
sys.exit(0 if ok else 1)
PY
echo PASS
