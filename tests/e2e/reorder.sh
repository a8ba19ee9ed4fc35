#!/usr/bin/env bash
# One device, one window in sequence order, whichever queue and worker receive its frames
# (docs/architecture.md, "In sequence order"). Device 101 sends the same 1200 frames
# (64 samples: 4 a window) from one source port, then from six; then from six with a loss at
# the sender (37 sequences not sent). From six, frames reach the owner both on its own queue
# and through the handoff ring, and overtake each other; the reorder stage puts them back in
# order: the windows and their scores are the same as from one port (0 differ), nothing is
# missing or late; at the loss the device's missing count is 37, none late, every frame sent
# admitted.
#   afxdp: AF_XDP with native XDP on a two-queue veth, two workers, live.
#   dpdk:  the dpdk backend on net_pcap with two RX queues (one rx_pcap= file each) and two
#          workers, a port without RSS: the sender's frames, captured on the server's veth,
#          split by source port (40001-40003 in one file, 40004-40006 in the other), so both
#          queues carry interleaved sequences of the one device. Each queue reads its file as
#          fast as it can: one runs ahead of the other by any number of frames. Then the six
#          and loss captures over three queues in runs of 100 sequences (a queue's run is
#          hundreds of frames ahead of the others'): the same windows, missing 37, late 0.
#          (DPDK's net_af_xdp cannot run two queues here: it reads combined channels only,
#          which a veth lacks; dpdk_queues.sh checks that refusal.)
#   dpdk_tap: the dpdk backend on net_tap with two queues, two workers, live: the kernel
#          side of the tap (lgtap0, 10.78.0.1/24, in the server's namespace) forwards what the
#          line sends to 10.78.0.2, and spreads the flows over the tap's queues by their hash;
#          exact counts (sent = judged = admitted + dropped by reason) and the sequence as
#          linegatectl reads it. Skipped where the kernel has no multiqueue tun.
source "$(dirname "$0")/lib.sh"
lg_need_root
MODE=${1:-afxdp}
case $MODE in
dpdk*)
	"$LG_BIN_DP" --help | grep -q "^  dpdk" || lg_skip "linegate was built without DPDK"
	# DPDK's own leak on close (dpdk-lsan.supp), under ASan builds only.
	export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$LG_SOURCE/tests/e2e/dpdk-lsan.supp"
	;;
esac
[ "$MODE" != dpdk_tap ] || [ -c /dev/net/tun ] || lg_skip "no /dev/net/tun: net_tap needs it"
lg_tmp
LG_QUEUES=2 lg_netns_up "lgro$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
DST=$SRV_IP
if [ "$MODE" = dpdk_tap ]; then
	# The line reaches 10.78.0.0/24 through the server's namespace, which forwards it into
	# the tap; 10.78.0.2 is the DPDK side (every frame the kernel sends on lgtap0 reaches
	# DPDK whatever its MAC: a fixed neighbour, no ARP that linegate would count).
	DST=10.78.0.2
	ip netns exec "$NS_SRV" sysctl -qw net.ipv4.ip_forward=1
	ip -n "$NS_LINE" route add 10.78.0.0/24 via $SRV_IP
fi
N=1200
LOST=$(python3 -c 'print(",".join(str(s) for s in list(range(100, 1100, 40))[:25] + list(range(301, 313))))')

# The sender's frames from PORTS (its --skip LIST not sent), printing "sent N" to $T/NAME.sent.
send() { # NAME PORTS [--skip LIST]
	local name=$1 ports=$2
	shift 2
	ip netns exec "$NS_LINE" python3 "$LG_SOURCE/tests/e2e/lgsend_ports.py" \
		"$T/keys/press-1-vib.key" 101 $N 64 $LINE_IP $DST:4739 "$ports" "$@" \
		> "$T/$name.sent"
}

# Each run starts afresh (its own state folder, XDP not pinned): the same sequences again.
run_afxdp() { # NAME PORTS [--skip LIST]
	local name=$1
	ip netns exec "$NS_SRV" "$LG_BIN_DP" -p "$T/policy.yaml" -c "$T/dp.sock" \
		-o "$T/$name.jsonl" -s "$T/$name.stats.json" -x lg0 -b afxdp -w 2 \
		--no-xdp-pin --state-dir "$T/$name.state" \
		2> "$T/$name.err" &
	run_live "$@"
}

run_dpdk_tap() { # NAME PORTS [--skip LIST]
	local name=$1
	ip netns exec "$NS_SRV" "$LG_BIN_DP" -p "$T/policy.yaml" -c "$T/dp.sock" \
		-o "$T/$name.jsonl" -s "$T/$name.stats.json" -w 2 --state-dir "$T/$name.state" \
		-b "dpdk:nohuge,mem=256,sleep=50,vdev=net_tap0;iface=lgtap0" 2> "$T/$name.err" &
	run_live "$@"
}

# linegate started (DP_PID from $!): wait for it, send, wait until it received everything.
run_live() { # NAME PORTS [--skip LIST]
	local name=$1
	DP_PID=$!
	LG_PIDS="$DP_PID"
	if ! lg_wait_for 20 test -S "$T/dp.sock"; then
		cat "$T/$name.err"
		grep -q "Operation not supported\|Failed to create xsk socket" "$T/$name.err" &&
			lg_skip "this kernel cannot run $MODE with two queues on a veth"
		grep -q "Unable to create.*tap\|TUNSETIFF\|tun_alloc" "$T/$name.err" &&
			lg_skip "this kernel cannot make a multiqueue tap for net_tap"
		lg_fail "linegate did not start"
	fi
	if [ "$MODE" = dpdk_tap ]; then
		ip -n "$NS_SRV" -d link show lgtap0 | grep -q "multi_queue numqueues 2" ||
			lg_skip "lgtap0 is not a two-queue tap: $(ip -n "$NS_SRV" -d link show lgtap0 | grep -o 'tun.*numqueues [0-9]*')"
		ip -n "$NS_SRV" addr add 10.78.0.1/24 dev lgtap0
		ip -n "$NS_SRV" link set lgtap0 up
		ip -n "$NS_SRV" neigh replace $DST lladdr 02:00:00:00:00:02 dev lgtap0 nud permanent
	fi
	send "$@"
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

# The sender's frames captured on lg0, then split by source port into two files, one a
# queue: 40001-40003 to NAME.q0.pcap, the rest to NAME.q1.pcap (only LGF to 4739: nothing
# else is in the files). Then linegate replays both through net_pcap and ends by itself.
run_dpdk() { # NAME PORTS [--skip LIST]
	local name=$1
	lg_capture_start "$T/$name.pcap"
	send "$@"
	lg_capture_stop
	replay_dpdk "$name" "$name" 2 ports
}

# replay_dpdk CAPTURE NAME QUEUES ports|blocks: CAPTURE's LGF frames (to 4739, nothing else)
# split into QUEUES files, NAME.qI.pcap: by source port (ports: 40001-40003 to the first,
# the rest to the second), or by runs of 100 sequences in turn (blocks: a queue's run is far
# ahead of or behind the others', more than the reorder pool holds); then linegate replays
# them with a worker a queue and ends by itself.
replay_dpdk() {
	local cap=$1 name=$2 nq=$3 how=$4 vdev="net_pcap0"
	python3 - "$T/$cap.pcap" "$T/$name" "$nq" "$how" <<'PY' > "$T/$name.split"
import struct, sys
src, out, nq, how = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
data = open(src, "rb").read()
outs = [open(f"{out}.q{i}.pcap", "wb") for i in range(nq)]
for o in outs:
    o.write(data[:24])
off, n = 24, [0] * nq
while off < len(data):
    caplen = struct.unpack_from("<I", data, off + 8)[0]
    rec, f = data[off:off + 16 + caplen], data[off + 16:off + 16 + caplen]
    off += 16 + caplen
    ihl = (f[14] & 15) * 4
    sport, dport = struct.unpack_from("!HH", f, 14 + ihl)
    if dport != 4739:
        continue
    seq = struct.unpack_from("<Q", f, 14 + ihl + 8 + 24)[0]  # LGF sequence (wire-format.md)
    q = (0 if sport <= 40003 else 1) if how == "ports" else (seq - 1) // 100 % nq
    outs[q].write(rec)
    n[q] += 1
print(*n)
PY
	for i in $(seq 0 $((nq - 1))); do vdev="$vdev;rx_pcap=$T/$name.q$i.pcap"; done
	timeout 120 "$LG_BIN_DP" -p "$T/policy.yaml" -o "$T/$name.jsonl" -s "$T/$name.stats.json" \
		-w "$nq" -b "dpdk:nohuge,mem=256,mbufs=4095,sleep=100,vdev=$vdev" 2> "$T/$name.err" ||
		{ rc=$?; cat "$T/$name.err"; lg_fail "$name: linegate exited with status $rc"; }
	grep -q "queue 1 of $nq (no RSS: frames handed to their device's worker)" "$T/$name.err" ||
		{ cat "$T/$name.err"; lg_fail "$name: the start does not say how frames reach their worker"; }
	cp "$T/$cap.sent" "$T/$name.sent" 2>/dev/null || true
	echo "$name: frames a queue $(cat "$T/$name.split")"
}

run_$MODE one 40001
run_$MODE six 40001,40002,40003,40004,40005,40006
run_$MODE loss 40001,40002,40003,40004,40005,40006 --skip "$LOST"
if [ "$MODE" = dpdk ]; then
	# The same captures over three queues in runs of 100 sequences.
	replay_dpdk six blocks 3 blocks
	replay_dpdk loss blocks_loss 3 blocks
	grep "sequence:" "$T/blocks.err" "$T/blocks_loss.err" || true
fi
if [ "$MODE" = dpdk_tap ] &&
	[ "$(lg_json "$T/six.stats.json" "sum(w['handed_off'] for w in d['workers'])")" = 0 ]; then
	# The tap picks a flow's queue by the kernel's flow hash (seeded at boot): all six on
	# one queue is possible (1 in 32), and then there is nothing to put in order.
	lg_skip "the kernel's flow hash put all six source ports on one tap queue"
fi
grep "sequence:" "$T/six.err" "$T/loss.err" || true
grep -q "device 101 sequence: 37 missing, 0 late" "$T/loss.err" ||
	lg_fail "the summary does not say device 101 missed 37: $(grep sequence "$T/loss.err")"
! grep -q "sequence:" "$T/one.err" || lg_fail "one port: a sequence line: $(grep sequence "$T/one.err")"

python3 - "$T" "$N" "$LOST" "$MODE" <<'PY'
import json, sys
from lgcheck import check, done
T, n, skip = sys.argv[1], int(sys.argv[2]), [int(s) for s in sys.argv[3].split(",")]
mode = sys.argv[4]

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
runs = [("one", 0), ("six", 0), ("loss", len(skip))]
if mode == "dpdk":
    runs += [("blocks", 0), ("blocks_loss", len(skip))]
    blocks, blocks_loss = rows("blocks"), rows("blocks_loss")
    check("windows that differ between one port and three queues in blocks",
          sum(1 for k in one if blocks.get(k) != one[k]), 0)
    check("windows that differ between the loss over two queues and over three",
          sum(1 for k in set(loss) | set(blocks_loss) if blocks_loss.get(k) != loss.get(k)), 0)
check("windows from one port", len(one), n // 4)
check("windows from six ports", len(six), n // 4)
differ = sum(1 for k in one if six.get(k) != one[k])
check("windows that differ between one port and six", differ, 0)
for name, lost in runs:
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
    if mode == "dpdk":
        break  # a replay ends by itself: no control socket to ask
    row = [l.split() for l in open(f"{T}/{name}.ctl") if l.split()[:1] == ["101"]][0]
    st, d = dev(name)
    check(f"{name}: linegatectl stats missing late reordered", row[-3:],
          [str(lost), "0", str(d["sequence"]["reordered"])])
# dpdk live: every frame sent judged by admission, admitted, none lost at the port.
for name, lost in (("one", 0), ("six", 0), ("loss", len(skip))):
    if mode != "dpdk_tap":
        break
    st, d = dev(name)
    sent = int(open(f"{T}/{name}.sent").read().split()[1])
    check(f"{name}: admission judged every frame sent", st["admission"]["judged"], sent)
    check(f"{name}: sent = admitted + dropped", st["admitted"] + st["dropped"], sent)
    check(f"{name}: every frame sent admitted", st["admitted"], sent)
    check(f"{name}: backend drops", st["backend_dropped"], 0)
# The replay: every frame in the files judged by admission and admitted, every queue used.
for name, lost in runs:
    if mode != "dpdk":
        break
    q = [int(x) for x in open(f"{T}/{name}.split").read().split()]
    st, d = dev(name)
    check(f"{name}: frames in the files = frames sent", sum(q),
          int(open(f"{T}/{name}.sent").read().split()[1]))
    check(f"{name}: admission judged every frame in the files", st["admission"]["judged"],
          sum(q))
    check(f"{name}: every frame in the files admitted", st["admitted"], sum(q))
    check(f"{name}: backend drops", st["backend_dropped"], 0)
    if name != "one":
        check(f"{name}: every queue carries the device", min(q) > 0, True)
same = sum(1 for k in loss if one.get(k) == loss[k])
print(f"loss: {len(loss)} windows, {same} scored as in the one-port run")
done()
PY
