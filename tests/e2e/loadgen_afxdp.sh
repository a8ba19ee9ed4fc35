#!/usr/bin/env bash
# The load generator's AF_XDP TX (--tx afxdp:IFNAME[:QUEUE]): whole Ethernet/IPv4/UDP frames
# written into a UMEM and sent from the line namespace's veth, one socket per thread on its
# own queue, to linegate (uring backend) in the server namespace. linegate must see exactly
# what the generator says it sent: every class of the attack mix, every device's frames,
# nothing malformed beyond the frames made so. The server's kernel drops a datagram whose
# UDP checksum is wrong before linegate sees it (and counts it in Udp InCsumErrors), so a
# wrong checksum, IPv4 header or MAC shows up as a frame missing here. First the operator
# errors (an interface that is not there, a queue the veth does not have, no MAC for the
# target in the neighbour table) and frames the kernel drops (no carrier), counted.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
LG_QUEUES=2 lg_netns_up "lgxt$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"

FRAMES=400
send() {
	ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -n $FRAMES \
		-r 20000 --unknown 101 --bad-tag 21 --replay 19 --malformed 23 --spoof 17 \
		--spoof-from $SPOOF_IP -q "$@"
}
SRV_MAC=$(ip -n "$NS_SRV" -br link show lg0 | awk '{print $3}')

# The operator's mistakes, each refused with what to do.
rc=0
send --tx afxdp:nosuch0 > "$T/e1" 2>&1 || rc=$?
[ $rc = 1 ] && grep -q "no interface 'nosuch0' in this network namespace" "$T/e1" ||
	lg_fail "a missing interface: status $rc, $(cat "$T/e1")"
rc=0
send --tx afxdp:lg1:1 --threads 2 --dst-mac "$SRV_MAC" > "$T/e2" 2>&1 || rc=$?
[ $rc = 1 ] && grep -q "lg1 has 2 queues, --threads 2 from queue 1 needs 3" "$T/e2" ||
	lg_fail "a queue past the veth's: status $rc, $(cat "$T/e2")"
ip -n "$NS_LINE" neigh flush dev lg1
rc=0
send --tx afxdp:lg1 > "$T/e3" 2>&1 || rc=$?
[ $rc = 1 ] && grep -q "no MAC for $SRV_IP in lg1's neighbour table" "$T/e3" ||
	lg_fail "no neighbour entry: status $rc, $(cat "$T/e3")"
rc=0
send --tx afxdp:lg1 -S $LINE_IP > "$T/e4" 2>&1 || rc=$?
[ $rc = 2 ] && grep -q "not with --source or --pcap" "$T/e4" ||
	lg_fail "--source with afxdp: status $rc, $(cat "$T/e4")"
# A frame above the veth's MTU (1500): 4096 samples are 8192 bytes. AF_XDP sends no IP
# fragments, so the run stops and says the MTU and the --samples that fits ((1500 - 20 - 8
# - 56) / 2 = 708), and that it wrote no summary.
rc=0
send --tx afxdp:lg1 --dst-mac "$SRV_MAC" --samples 4096 -j "$T/long.json" > "$T/e6" 2>&1 || rc=$?
[ $rc = 1 ] && grep -q "the MTU of lg1 is 1500" "$T/e6" &&
	grep -q "lower --samples to at most 708" "$T/e6" &&
	grep -q "no summary written to $T/long.json" "$T/e6" && [ ! -e "$T/long.json" ] ||
	lg_fail "--samples 4096 over a 1500 MTU: status $rc, $(cat "$T/e6")"

# The server's end down: lg1 has no carrier and the kernel drops every frame it is handed
# ("completed but not sent", EBUSY). Each is counted as refused, said, and fails the run.
ip -n "$NS_SRV" link set lg0 down
rc=0
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -n 10 -r 0 -q \
	--tx afxdp:lg1 --dst-mac "$SRV_MAC" -j "$T/down.json" > "$T/e5" 2>&1 || rc=$?
ip -n "$NS_SRV" link set lg0 up
[ $rc = 1 ] && grep -q "80 of 80 frames were not sent" "$T/e5" ||
	lg_fail "no carrier: status $rc, $(cat "$T/e5")"
[ "$(lg_json "$T/down.json" "(d['sent'], d['afxdp']['refused'], d['afxdp']['pending'])")" = \
	"(0, 80, 0)" ] || lg_fail "no carrier: summary $(cat "$T/down.json")"
lg_wait_value 5 yes sh -c "ip -n $NS_LINE -br link show lg1 | grep -q LOWER_UP && echo yes"

lg_start_linegate -w 2 -b uring

# Two threads on queues 0 and 1, the target's MAC given; then one thread on queue 1 from
# precomputed frames, the MAC from the neighbour table (filled by a ping), going on from the
# sequences the first run used.
send --tx afxdp:lg1 --threads 2 --batch 16 --dst-mac "$SRV_MAC" -j "$T/a.json"
ip netns exec "$NS_LINE" ping -c 1 -W 2 $SRV_IP > /dev/null
send --tx afxdp:lg1:1 --precompute --first-seq $((FRAMES + 1)) -j "$T/b.json"

total=$(lg_json "$T/a.json" "d['sent']")
total=$((total + $(lg_json "$T/b.json" "d['sent']")))
got_all() {
	lg_dp_stats "$T/m.json" &&
	[ "$(lg_json "$T/m.json" "d['received']")" = "$total" ]
}
lg_wait_for 10 got_all || lg_fail "received $(lg_json "$T/m.json" "d['received']") of $total"
lg_stop_linegate
ip netns exec "$NS_SRV" cat /proc/net/snmp > "$T/snmp"

python3 - "$T/stats.json" "$T/a.json" "$T/b.json" $FRAMES "$T/snmp" <<'PY'
import json, sys
st = json.load(open(sys.argv[1]))
runs = [json.load(open(f)) for f in sys.argv[2:4]]
frames = int(sys.argv[4])
udp = [l.split() for l in open(sys.argv[5]) if l.startswith("Udp:")]
udp = dict(zip(udp[0][1:], map(int, udp[1][1:])))
ok = True
def check(name, got, want):
    global ok
    print(f"{name}: got {got}, want {want}")
    ok &= got == want
devices = len(st["devices"])
want = {"enrolled": devices * frames, "unknown_device": 101, "bad_tag": 21, "replayed": 19,
        "malformed": 23, "spoofed": 17}
for i, r in enumerate(runs):
    for k, v in want.items():
        check(f"run {i + 1} summary {k}", r[k], v)
    total = sum(want.values())
    check(f"run {i + 1} summary sent", r["sent"], total)
    check(f"run {i + 1} tx", r["tx"], "afxdp")
    x = r["afxdp"]
    check(f"run {i + 1} afxdp on the ring, sent, refused, pending",
          (x["submitted"], x["sent"], x["refused"], x["pending"]), (total, total, 0, 0))
    check(f"run {i + 1} not interrupted", r["interrupted"], False)
    # paced as the other modes: 20000 frames/s, not as fast as the ring takes them
    check(f"run {i + 1} took at least 0.9 x {total} / 20000 s", r["seconds"] >= 0.9 * total / 20000,
          True)
check("queues", [r["afxdp"]["queue"] for r in runs], [0, 1])
s = lambda k: sum(r[k] for r in runs)
d = st["drops"]
check("received = sent", st["received"], s("sent"))
check("admitted = enrolled", st["admitted"], s("enrolled"))
check("unknown_device", d["unknown_device"], s("unknown_device"))
check("bad_tag", d["bad_tag"], s("bad_tag"))
check("replayed", d["replayed"], s("replayed"))
check("spoofed_source", d["spoofed_source"], s("spoofed"))
check("bad_length", d["bad_length"], 2 * 12)
check("bad_magic", d["bad_magic"], 2 * 11)
check("no other drops", st["dropped"], s("sent") - s("enrolled"))
check("every device admitted all its frames", sorted({v["admitted"] for v in st["devices"]}),
      [2 * frames])
check("server's UDP checksum errors", udp["InCsumErrors"], 0)
check("server's UDP datagrams received", udp["InDatagrams"], s("sent"))
sys.exit(0 if ok else 1)
PY
echo PASS
