#!/usr/bin/env bash
# The load generator's DPDK TX (--tx dpdk:OPTIONS): whole Ethernet/IPv4/UDP frames built by
# the AF_XDP path's code, in mbufs, sent with rte_eth_tx_burst() from two threads on two TX
# queues of a net_af_packet vdev on the line namespace's veth (EAL without hugepages), to
# linegate (uring backend, two workers) in the server namespace: linegate must see exactly
# what the generator says it sent, class by class and device by device, and the server's
# kernel no UDP checksum error. Then a net_pcap vdev writing a file: every frame in it.
# Then frames the driver does not take (a net_ring vdev whose ring nobody empties: 1023
# fit) are counted and fail the run, soon. Skipped where linegate-loadgen was built without
# DPDK.
source "$(dirname "$0")/lib.sh"
# DPDK's own leak on close (dpdk-lsan.supp), under ASan builds only.
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$LG_SOURCE/tests/e2e/dpdk-lsan.supp"
lg_need_root
lg_tmp
LG_QUEUES=2 lg_netns_up "lgdt$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
SRV_MAC=$(ip -n "$NS_SRV" -br link show lg0 | awk '{print $3}')
FRAMES=300
EAL="nohuge,mem=256"
send() {
	ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP --dst-mac "$SRV_MAC" \
		-q "$@"
}
rc=0
send -n 1 --tx "dpdk:vdev=net_null0,$EAL" > "$T/probe" 2>&1 || rc=$?
grep -q "built without DPDK" "$T/probe" && lg_skip "linegate-loadgen was built without DPDK"
[ $rc = 0 ] || lg_fail "DPDK TX to net_null: status $rc, $(cat "$T/probe")"
rc=0
send -n 1 --tx "dpdk:vdev=net_null0,$EAL,port=7" > "$T/e1" 2>&1 || rc=$?
[ $rc = 1 ] && grep -q "no port 7" "$T/e1" || lg_fail "a port that is not there: status $rc, $(cat "$T/e1")"
rc=0
send -n 1 --tx "dpdk:vdev=net_null0,$EAL,bogus=1" > "$T/e2" 2>&1 || rc=$?
[ $rc = 1 ] && grep -q "unknown option 'bogus'" "$T/e2" || lg_fail "a bad option: status $rc, $(cat "$T/e2")"
rc=0
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -n 1 -q \
	--tx "dpdk:vdev=net_null0,$EAL" > "$T/e3" 2>&1 || rc=$?
[ $rc = 2 ] && grep -q "needs --dst-mac" "$T/e3" || lg_fail "no --dst-mac: status $rc, $(cat "$T/e3")"

lg_start_linegate -w 2 -b uring
AF="dpdk:vdev=net_af_packet0;iface=lg1;qpairs=2,$EAL"
send -n $FRAMES -r 20000 --threads 2 --tx "$AF" --unknown 101 --bad-tag 21 --replay 19 \
	--malformed 23 --spoof 17 --spoof-from $SPOOF_IP -j "$T/a.json" 2> "$T/a.err" ||
	lg_fail "DPDK TX through net_af_packet: $(cat "$T/a.err")"
total=$(lg_json "$T/a.json" "d['sent']")
got_all() {
	lg_dp_stats "$T/m.json" &&
	[ "$(lg_json "$T/m.json" "d['received']")" = "$total" ]
}
lg_wait_for 10 got_all || lg_fail "received $(lg_json "$T/m.json" "d['received']") of $total"
lg_stop_linegate
ip netns exec "$NS_SRV" cat /proc/net/snmp > "$T/snmp"

# net_pcap: the frames into a file, each one there
send -n 50 -r 0 --tx "dpdk:vdev=net_pcap0;tx_pcap=$T/out.pcap,$EAL" --unknown 7 -j "$T/p.json" ||
	lg_fail "DPDK TX to net_pcap failed"
python3 "$LG_SOURCE/tests/e2e/lgpcapcount.py" "$T/out.pcap" > "$T/pcount.json"

# a ring nobody empties: what does not fit is refused, counted, and fails the run
rc=0
send -n 500 -r 0 --tx "dpdk:vdev=net_ring0,$EAL" -j "$T/down.json" > "$T/e5" 2>&1 || rc=$?

python3 - "$T/stats.json" "$T/a.json" $FRAMES "$T/snmp" "$T/p.json" "$T/pcount.json" \
	"$T/down.json" $rc "$T/e5" <<'PY'
import json, sys
from lgcheck import check, done
st, r = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
frames = int(sys.argv[3])
udp = [l.split() for l in open(sys.argv[4]) if l.startswith("Udp:")]
udp = dict(zip(udp[0][1:], map(int, udp[1][1:])))
p, pc = json.load(open(sys.argv[5])), json.load(open(sys.argv[6]))
devices = len(st["devices"])
want = {"enrolled": devices * frames, "unknown_device": 101, "bad_tag": 21, "replayed": 19,
        "malformed": 23, "spoofed": 17}
for k, v in want.items():
    check(f"summary {k}", r[k], v)
total = sum(want.values())
check("summary sent", r["sent"], total)
check("tx", r["tx"], "dpdk")
check("dpdk submitted, sent, refused, oerrors",
      tuple(r["dpdk"][k] for k in ("submitted", "sent", "refused", "oerrors")), (total, total, 0, 0))
check(f"paced: {r['seconds']:.3f} s at 20000/s", r["seconds"] >= 0.9 * total / 20000, True)
d = st["drops"]
check("received = sent", st["received"], r["sent"])
check("admitted = enrolled", st["admitted"], r["enrolled"])
check("unknown_device", d["unknown_device"], r["unknown_device"])
check("bad_tag", d["bad_tag"], r["bad_tag"])
check("replayed", d["replayed"], r["replayed"])
check("spoofed_source", d["spoofed_source"], r["spoofed"])
check("bad_length + bad_magic", d["bad_length"] + d["bad_magic"], r["malformed"])
check("no other drops", st["dropped"], r["sent"] - r["enrolled"])
check("every device admitted all its frames", sorted({v["admitted"] for v in st["devices"]}),
      [frames])
check("server's UDP checksum errors", udp["InCsumErrors"], 0)
check("server's UDP datagrams received", udp["InDatagrams"], r["sent"])
check("net_pcap: frames in the file = sent", (pc["frames"], pc["bad_csum"]), (p["sent"], 0))
check("net_pcap: sent", p["sent"], devices * 50 + 7)
down = open(sys.argv[9]).read()
check("full ring: the run failed", int(sys.argv[8]), 1)
dn = json.load(open(sys.argv[7]))
x = dn["dpdk"]
check("full ring: submitted, sent, refused", (x["submitted"], x["sent"], x["refused"]),
      (devices * 500, 1023, devices * 500 - 1023))
check("full ring: summary sent", dn["sent"], 1023)
check("full ring: said on stderr", f"{devices * 500 - 1023} of {devices * 500} frames were not sent"
      in down, True)
done()
PY
echo PASS
