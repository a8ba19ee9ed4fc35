#!/usr/bin/env bash
# DPDK's net_af_xdp on a two-queue veth (trial D): what linegate must refuse, and say why.
#   - queue_count=1 with one worker: RSS would put part of the line's frames on the queue
#     no socket reads, and XDP would pass them to the kernel (Udp NoPorts): refused, as the
#     afxdp backend refuses it, with the way out;
#   - queue_count=2: a veth has no combined channels, which is all net_af_xdp reads: refused
#     before DPDK's "no DPDK port" (which would say "add a vdev=" though one was given);
#   - a vdev DPDK refuses for its own reasons: the message says so, not "add a vdev=";
#   - fewer mbufs than net_af_xdp's fill rings take: refused with the real floor;
# then with one RX queue (ethtool -L lg0 rx 1 tx 1) it runs, every frame sent is judged,
# and a plain stop leaves the interface as it found it (not promiscuous).
source "$(dirname "$0")/lib.sh"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$LG_SOURCE/tests/e2e/dpdk-lsan.supp"
"$LG_BIN_DP" --help | grep '^  dpdk:' >/dev/null || lg_skip "linegate was built without DPDK (-Ddpdk)"
lg_need_root
lg_tmp
LG_QUEUES=2 lg_netns_up "lgdq$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
OPTS="nohuge,mem=256,sleep=50"

# refused NAME WANT ARGS...: linegate must exit non-zero by itself, saying WANT (grep -E)
refused() {
	local name=$1 want=$2 rc=0
	shift 2
	timeout 30 ip netns exec "$NS_SRV" "$LG_BIN_DP" -p "$T/policy.yaml" -c "$T/$name.sock" \
		-o /dev/null "$@" 2> "$T/$name.err" || rc=$?
	[ $rc -ne 0 ] && [ $rc -ne 124 ] || lg_fail "$name: linegate ran (status $rc): $(tail -3 "$T/$name.err")"
	grep -Eq "$want" "$T/$name.err" || lg_fail "$name: not said why: $(grep -v '^linegate:   ' "$T/$name.err" | tail -5)"
	grep -q "add a vdev=" "$T/$name.err" && lg_fail "$name: says add a vdev= though one was given"
	ip -n "$NS_SRV" -d link show lg0 | grep -q PROMISC &&
		lg_fail "$name: lg0 was left promiscuous"
	echo "ok: $name: $(grep -E -o "$want" "$T/$name.err" | head -1)"
}

refused one_queue "lg0 has 2 RX queues and net_af_xdp reads 1 of them.*queue_count=2 and --workers 2.*ethtool -L lg0 rx 1 tx 1" \
	-w 1 -b "dpdk:$OPTS,vdev=net_af_xdp0;iface=lg0;queue_count=1"
refused start_queue "lg0 has 2 RX queues and net_af_xdp reads 1 of them \(start_queue=1" \
	-w 1 -b "dpdk:$OPTS,vdev=net_af_xdp0;iface=lg0;start_queue=1;queue_count=1"
# in ethtool -l's words: a veth shows "Combined: n/a" (trial s20 I L5)
refused channels "queue_count=2, but net_af_xdp reads only combined channels, and lg0 has none \(ethtool -l lg0: Combined n/a or 0" \
	-w 2 -b "dpdk:$OPTS,vdev=net_af_xdp0;iface=lg0;queue_count=2"
refused no_iface "no DPDK port: DPDK made none of the 1 device\(s\) given \(net_af_xdp0,iface=nosuch0" \
	-w 1 -b "dpdk:$OPTS,vdev=net_af_xdp0;iface=nosuch0"
ip netns exec "$NS_SRV" ethtool -L lg0 rx 1 tx 1
ip netns exec "$NS_LINE" ethtool -L lg1 rx 1 tx 1
refused mbufs "mbufs=2079 is too few for net_af_xdp.*at least 2080 \(1 queue\(s\) x \(2048 \+ 32\)\)" \
	-w 1 -b "dpdk:$OPTS,mbufs=2079,vdev=net_af_xdp0;iface=lg0;queue_count=1"
# any other port: queues x (rxd + burst) (trial V, s24: net_tap with 2 queues of 1024 and
# mbufs=2047 stopped receiving after one burst)
python3 -c 'import struct,sys; open(sys.argv[1],"wb").write(struct.pack("<IHHiIII",0xa1b2c3d4,2,4,0,0,65535,1))' "$T/empty.pcap"
refused mbufs_queues "mbufs=2047 is too few for 2 queue\(s\) of rxd=1024.*at least 2112 \(2 queue\(s\) x \(1024 \+ 32\)\)" \
	-w 2 -b "dpdk:$OPTS,mbufs=2047,vdev=net_pcap0;rx_pcap=$T/empty.pcap;rx_pcap=$T/empty.pcap"

# One queue, every frame of it read: sent = admission's verdicts.
SRV_MAC=$(ip -n "$NS_SRV" -j link show lg0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
ip -n "$NS_LINE" neigh replace $SRV_IP lladdr "$SRV_MAC" dev lg1 nud permanent
ip netns exec "$NS_SRV" "$LG_BIN_DP" -p "$T/policy.yaml" -c "$T/dp.sock" -o /dev/null \
	-s "$T/stats.json" -w 1 -b "dpdk:$OPTS,mbufs=2080,vdev=net_af_xdp0;iface=lg0;queue_count=1" \
	2> "$T/dp.err" &
DP_PID=$!
LG_PIDS="$DP_PID"
lg_wait_for 20 test -S "$T/dp.sock" || { cat "$T/dp.err"; lg_fail "linegate did not start"; }
ip -n "$NS_SRV" -d link show lg0 | grep -q PROMISC || lg_fail "net_af_xdp did not make lg0 promiscuous (the stop check would prove nothing)"
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP \
	-n 200 -r 2000 -j "$T/sent.json" -q
sleep 1
kill -INT $DP_PID
wait $DP_PID || { rc=$?; cat "$T/dp.err"; lg_fail "linegate exited with status $rc"; }
LG_PIDS=""
ip -n "$NS_SRV" -d link show lg0 | grep -q PROMISC && lg_fail "a plain stop left lg0 promiscuous"
python3 - "$T/stats.json" "$T/sent.json" <<'PY'
import json, sys
from lgcheck import check, done
st, s = (json.load(open(f)) for f in sys.argv[1:3])
a, d = st["admission"], st["drops"]
lost = d["rx_ring_full"] + d["no_buffer"] + d["rx_error"]
check("no port losses with mbufs=2080 (the floor)", lost, 0)
check("every frame sent was judged", a["judged"], s["sent"])
check("every frame admitted", st["admitted"], s["sent"])
done()
PY
echo PASS
