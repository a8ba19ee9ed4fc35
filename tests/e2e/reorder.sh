#!/usr/bin/env bash
# One device, one window in sequence order, whichever queue and worker receive its frames
# (docs/architecture.md, "In sequence order"). AF_XDP with native XDP on a two-queue veth and
# two workers: device 101 sends the same 1200 frames (64 samples: 4 a window) from one source
# port, then from six. From six, frames reach the owner both on its own queue and through the
# handoff ring, and overtake each other; the reorder stage puts them back in order: the
# windows and their scores are the same as from one port (0 differ), nothing is missing or
# late. Then a loss at the sender: 37 sequences not sent; the device's missing count is 37,
# none late, every sent frame admitted. With ARG dpdk, the same through DPDK's net_af_xdp
# vdev with two queues: skipped where the build lacks DPDK, and on a veth, whose queues
# net_af_xdp cannot see (it counts combined channels; a veth has rx and tx ones).
source "$(dirname "$0")/lib.sh"
lg_need_root
MODE=${1:-afxdp}
if [ "$MODE" = dpdk ]; then
	"$LG_BIN_DP" --help | grep -q "^  dpdk" || lg_skip "linegate was built without DPDK"
fi
lg_tmp
LG_QUEUES=2 lg_netns_up "lgro$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
if [ "$MODE" = dpdk ]; then
	# DPDK takes every frame off lg0, ARP too: the line knows the server's MAC beforehand.
	SRV_MAC=$(ip -n "$NS_SRV" -j link show lg0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
	ip -n "$NS_LINE" neigh replace $SRV_IP lladdr "$SRV_MAC" dev lg1 nud permanent
fi
N=1200
LOST=$(python3 -c 'print(",".join(str(s) for s in list(range(100, 1100, 40))[:25] + list(range(301, 313))))')

# Each run starts afresh (its own state folder, XDP not pinned): the same sequences again.
run() { # NAME PORTS [--skip LIST]
	local name=$1 ports=$2
	shift 2
	if [ "$MODE" = dpdk ]; then
		ip netns exec "$NS_SRV" "$LG_BIN_DP" -p "$T/policy.yaml" -c "$T/dp.sock" \
			-o "$T/$name.jsonl" -s "$T/$name.stats.json" -w 2 --state-dir "$T/$name.state" \
			-b "dpdk:nohuge,mem=256,sleep=50,vdev=net_af_xdp0;iface=lg0;start_queue=0;queue_count=2" \
			2> "$T/$name.err" &
	else
		ip netns exec "$NS_SRV" "$LG_BIN_DP" -p "$T/policy.yaml" -c "$T/dp.sock" \
			-o "$T/$name.jsonl" -s "$T/$name.stats.json" -x lg0 -b afxdp -w 2 \
			--no-xdp-pin --state-dir "$T/$name.state" \
			2> "$T/$name.err" &
	fi
	DP_PID=$!
	LG_PIDS="$DP_PID"
	if ! lg_wait_for 20 test -S "$T/dp.sock"; then
		cat "$T/$name.err"
		grep -q "Operation not supported\|Failed to create xsk socket" "$T/$name.err" &&
			lg_skip "this kernel cannot run $MODE with two queues on a veth"
		# DPDK's net_af_xdp takes the queue count from ETHTOOL_GCHANNELS' combined
		# channels; a veth has rx and tx channels only, which net_af_xdp reads as one.
		# (linegate refuses it before the EAL starts: "queue_count=2 but lg0 has 1 combined
		# channel(s)"; DPDK's own words were "larger than combined queue count")
		grep -q "larger than combined queue count\|combined channel(s), which is all net_af_xdp can read" "$T/$name.err" &&
			lg_skip "net_af_xdp sees one queue on a veth (no combined channels): needs a NIC"
		lg_fail "linegate did not start"
	fi
	ip netns exec "$NS_LINE" python3 "$LG_SOURCE/tests/e2e/lgsend_ports.py" \
		"$T/keys/press-1-vib.key" 101 $N 64 $LINE_IP $SRV_IP:4739 "$ports" "$@" \
		> "$T/$name.sent"
	local sent
	sent=$(awk '{print $2}' "$T/$name.sent")
	got_all() { lg_dp_stats "$T/m.json" && [ "$(lg_json "$T/m.json" "d['received']")" = "$sent" ]; }
	lg_wait_for 10 got_all || lg_fail "$name: received $(lg_json "$T/m.json" "d['received']") of $sent"
	sleep 0.2
	# What an operator reads: linegatectl's row per device (its sequence in the last three
	# columns), and at exit the summary's line per device.
	ip netns exec "$NS_SRV" "$LG_BIN_CTL" stats --dataplane "$T/dp.sock" > "$T/$name.ctl" ||
		lg_fail "$name: linegatectl stats failed"
	kill -INT $DP_PID
	wait $DP_PID || lg_fail "$name: linegate exited with status $?: $(tail -3 "$T/$name.err")"
	LG_PIDS=""
	rm -f "$T/dp.sock"
}

run one 40001
run six 40001,40002,40003,40004,40005,40006
run loss 40001,40002,40003,40004,40005,40006 --skip "$LOST"
grep "sequence:" "$T/six.err" "$T/loss.err" || true
grep -q "device 101 sequence: 37 missing, 0 late" "$T/loss.err" ||
	lg_fail "the summary does not say device 101 missed 37: $(grep sequence "$T/loss.err")"
! grep -q "sequence:" "$T/one.err" || lg_fail "one port: a sequence line: $(grep sequence "$T/one.err")"

python3 - "$T" "$N" "$LOST" <<'PY'
import json, sys
from lgcheck import check, done
T, n, skip = sys.argv[1], int(sys.argv[2]), [int(s) for s in sys.argv[3].split(",")]

def rows(name):
    out = {}
    for line in open(f"{T}/{name}.jsonl"):
        r = json.loads(line)
        if r.get("type") in ("score", "alert") and r.get("device") == 101:
            out[(r["seq"], r.get("channel", 0))] = round(r["score"], 4)
    return out

def dev(name):
    st = json.load(open(f"{T}/{name}.stats.json"))
    d = [d for d in st["devices"] if d["id"] == 101][0]
    return st, d

one, six, loss = rows("one"), rows("six"), rows("loss")
check("windows from one port", len(one), n // 4)
check("windows from six ports", len(six), n // 4)
differ = sum(1 for k in one if six.get(k) != one[k])
check("windows that differ between one port and six", differ, 0)
for name, lost in (("one", 0), ("six", 0), ("loss", len(skip))):
    st, d = dev(name)
    check(f"{name}: received = admitted + dropped", st["admitted"] + st["dropped"], st["received"])
    check(f"{name}: admitted", d["admitted"], n - lost)
    check(f"{name}: sequence missing", d["sequence"]["missing"], lost)
    check(f"{name}: sequence late", d["sequence"]["late"], 0)
    check(f"{name}: late drops", st["drops"].get("late", 0), 0)
    print(f"{name}: reordered {d['sequence']['reordered']}, handed off",
          sum(w["handed_off"] for w in st["workers"]))
st, d = dev("one")
check("one port: nothing held", d["sequence"]["reordered"], 0)
st, d = dev("six")
check("six ports: frames handed over (two paths)", sum(w["handed_off"] for w in st["workers"]) > 0, True)
# The loss run's windows: each the four sequences before its seq, all sent, scored as in
# the one-port run; a window that spans a lost sequence is made of later frames instead.
# linegatectl stats: the device's row ends in missing, late, reordered
for name, lost in (("six", 0), ("loss", len(skip))):
    row = [l.split() for l in open(f"{T}/{name}.ctl") if l.split()[:1] == ["101"]][0]
    st, d = dev(name)
    check(f"{name}: linegatectl stats missing late reordered", row[-3:],
          [str(lost), "0", str(d["sequence"]["reordered"])])
same = sum(1 for k in loss if one.get(k) == loss[k])
print(f"loss: {len(loss)} windows, {same} scored as in the one-port run")
done()
PY
