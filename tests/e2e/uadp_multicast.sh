#!/usr/bin/env bash
# OPC UA publishers send to a multicast group by default (open62541's examples: 224.0.0.22).
# With uadp_multicast the UADP socket joins the policy's groups on the line interface, also
# when linegate is bound to its unicast address (-B): open62541's tutorial messages sent to
# the group are admitted, every one, with and without XDP in front. Without the section the
# same messages reach no socket of linegate's. Run with "noxdp" or "xdp".
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgmc$$"
T=$LG_TMP
F=$LG_SOURCE/tests/fixtures/opcua
MODE=${1:-noxdp}
lg_fixture_keys "$T" "$F"/keys/k128-1.key
lg_policy_head "$T/policy.yaml"
cat >> "$T/policy.yaml" <<EOF
  - id: 1
    name: o6-tutorial
    source: $LINE_IP
    keys:
      - {id: 1, key_file: keys/k128-1.key}
    uadp: {publisher_id: 2234, writer_group: 100, writer: 62541, security: none,
           replay: timestamp}
EOF
python3 - "$T/policy.yaml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("devices:\n", "uadp_multicast: {groups: [224.0.0.22], interface: lg0}\ndevices:\n", 1)
open(p, "w").write(s)
PY
ip -n "$NS_LINE" route add 224.0.0.0/4 dev lg1
if [ "$MODE" = xdp ]; then
	lg_bpffs
	lg_start_linegate_xdp native -B $SRV_IP -x lg0 -b uring
else
	lg_start_linegate
fi
ip -n "$NS_SRV" maddr show dev lg0 | grep -q 224.0.0.22 || lg_fail "linegate did not join 224.0.0.22"
# send GROUP [FIRST [COUNT]]: the tutorial publisher's messages (all 44, or COUNT from the
# FIRST), to GROUP, from the line's address.
send() {
	ip netns exec "$NS_LINE" python3 - "$LINE_IP" "$F/tutorial.pcap" "$@" <<'PY'
import socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(sys.argv[1]))
group = sys.argv[3]
first = int(sys.argv[4]) if len(sys.argv) > 4 else 0
count = int(sys.argv[5]) if len(sys.argv) > 5 else 1 << 30
data, off, i, n = open(sys.argv[2], "rb").read(), 24, 0, 0
while off < len(data):
    caplen = struct.unpack_from("<I", data, off + 8)[0]
    frame = data[off + 16:off + 16 + caplen]
    off += 16 + caplen
    if first <= i < first + count:
        s.sendto(frame[14 + (frame[14] & 15) * 4 + 8:], (group, 4840))
        n += 1
        time.sleep(0.001)
    i += 1
print(f"sent {n} messages to {group}:4840")
PY
}
stats() {
	python3 "$LG_SOURCE/tests/e2e/lgsock.py" "$T/dp.sock" '{"cmd": "stats"}' stats > "$T/$1.json"
}
send 224.0.0.22
lg_wait_for 10 sh -c "python3 '$LG_SOURCE/tests/e2e/lgsock.py' '$T/dp.sock' \
	'{\"cmd\": \"stats\"}' stats > '$T/s.json' && grep -q '\"admitted\": *44,' '$T/s.json'" ||
	lg_fail "the group's messages were not all admitted: $(head -c 300 "$T/s.json")"
if [ "$MODE" = xdp ]; then
	# A group linegate did not join: XDP calls its frames not_ours (dropped: not_ours'
	# default), where they used to pass XDP as admitted and vanish in the kernel.
	stats before
	send 239.1.2.3 0 20
	sleep 0.5
	stats after
	python3 - "$T/before.json" "$T/after.json" <<'PY'
import json, sys
from lgcheck import check, done
b, a = (json.load(open(f)) for f in sys.argv[1:])
check("XDP: the 20 frames to 239.1.2.3 are not_ours", a["xdp"]["not_ours"] - b["xdp"]["not_ours"], 20)
check("XDP: admitted only the joined group's 44", a["xdp"]["admitted"], 44)
check("workers: still 44 admitted", a["admitted"], 44)
check("workers: received no more", a["received"], b["received"])
done()
PY
fi
lg_stop_linegate
echo "PASS: 44 of 44 multicast messages admitted ($MODE)"
