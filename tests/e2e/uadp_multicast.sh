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
# apply FILE: a live apply on linegate's own socket; the reply goes to $T/apply.json.
apply() {
	python3 - "$T/dp.sock" "$1" > "$T/apply.json" <<'PY'
import json, sys
sys.path.insert(0, __import__("os").environ["LG_SOURCE"] + "/tests/e2e")
import lgsock
r = lgsock.call(sys.argv[1], {"cmd": "apply", "policy": open(sys.argv[2]).read(),
                              "name": sys.argv[2]})
print(json.dumps(r))
sys.exit(0 if r.get("ok") else 1)
PY
}
admitted() {
	lg_wait_for 10 sh -c "python3 '$LG_SOURCE/tests/e2e/lgsock.py' '$T/dp.sock' \
		'{\"cmd\": \"stats\"}' stats > '$T/s.json' && grep -q '\"admitted\": *$1,' '$T/s.json'" ||
		lg_fail "$2: not $1 admitted: $(head -c 300 "$T/s.json")"
}
# The first 22 of the tutorial's 44 messages to the joined group: all admitted.
send 224.0.0.22 0 22
admitted 22 "224.0.0.22"

# 20 of the rest to a group linegate did not join. The kernel drops them: no socket of
# linegate's is in 239.1.2.3. With XDP in front, XDP calls them not_ours (dropped: not_ours'
# default), where they used to pass XDP as admitted and vanish in the kernel uncounted.
stats before
send 239.1.2.3 22 20
sleep 0.5
stats after
python3 - "$T/before.json" "$T/after.json" "$MODE" <<'PY'
import json, sys
from lgcheck import check, done
b, a = (json.load(open(f)) for f in sys.argv[1:3])
check("workers: nothing from 239.1.2.3 received", a["received"], b["received"])
if sys.argv[3] == "xdp":
    check("XDP: the 20 frames to 239.1.2.3 are not_ours",
          a["xdp"]["not_ours"] - b["xdp"]["not_ours"], 20)
    check("XDP: admitted only the joined group's 22", a["xdp"]["admitted"], 22)
done()
PY

# A live apply that adds 239.1.2.3: linegate joins it, XDP takes its frames, and the 22
# messages left are admitted, every one.
sed 's/groups: \[224.0.0.22\]/groups: [224.0.0.22, 239.1.2.3]/' "$T/policy.yaml" > "$T/added.yaml"
apply "$T/added.yaml" || lg_fail "the live apply that adds 239.1.2.3 was refused: $(cat "$T/apply.json")"
grep -q '"field": *"uadp_multicast", *"class": *"live"' "$T/apply.json" ||
	lg_fail "the apply's changes: $(cat "$T/apply.json")"
ip -n "$NS_SRV" maddr show dev lg0 | grep -q 239.1.2.3 || lg_fail "linegate did not join 239.1.2.3"
send 239.1.2.3 22 22
admitted 44 "239.1.2.3 after the live apply"
stats added
python3 - "$T/added.json" "$MODE" <<'PY'
import json, sys
from lgcheck import check, done
a = json.load(open(sys.argv[1]))
check("workers: 44 received, 44 admitted", (a["received"], a["admitted"]), (44, 44))
if sys.argv[2] == "xdp":
    check("XDP: 44 admitted", a["xdp"]["admitted"], 44)
done()
PY
# And one that removes it again leaves the group (224.0.0.22 stays).
apply "$T/policy.yaml" || lg_fail "the live apply that removes 239.1.2.3: $(cat "$T/apply.json")"
ip -n "$NS_SRV" maddr show dev lg0 | grep -q 239.1.2.3 && lg_fail "linegate did not leave 239.1.2.3"
ip -n "$NS_SRV" maddr show dev lg0 | grep -q 224.0.0.22 || lg_fail "linegate left 224.0.0.22"
lg_stop_linegate
if [ "$MODE" = noxdp ]; then
	# Started without uadp_multicast and bound to its unicast address (-B), linegate's UADP
	# socket hears no group: a live apply that adds one is refused, saying why and what to do.
	sed '/^uadp_multicast:/d' "$T/policy.yaml" > "$T/none.yaml"
	cp "$T/none.yaml" "$T/policy.yaml"
	rm -f "$T/dp.sock"
	lg_start_linegate
	rc=0; apply "$T/added.yaml" || rc=$?
	[ $rc -eq 1 ] || lg_fail "adding groups to a socket bound to $SRV_IP was applied: $(cat "$T/apply.json")"
	grep -qF "uadp_multicast: linegate's UADP socket listens on its --bind address only, where no group arrives (it started without uadp_multicast), and nothing was applied. Add uadp_multicast to the boot policy ($T/policy.yaml) and restart linegate" "$T/apply.json" ||
		lg_fail "refusal: $(cat "$T/apply.json")"
	ip -n "$NS_SRV" maddr show dev lg0 | grep -q 239.1.2.3 && lg_fail "a refused apply joined 239.1.2.3"
	lg_stop_linegate
	# Without --bind the UADP socket is dual-stack IPv6, which Linux hands an IPv4 group
	# that another socket joined only with IP_MULTICAST_ALL set on it.
	rm -f "$T/dp.sock"
	lg_bg ip netns exec "$NS_SRV" "$LG_BIN_DP" -p "$T/added.yaml" -c "$T/dp.sock" \
		--state-dir "$T/st2" -o "$T/out2.jsonl"
	DP_PID=$!
	lg_wait_for 5 test -S "$T/dp.sock" || lg_fail "linegate without --bind did not start"
	send 239.1.2.3 0 22
	admitted 22 "239.1.2.3 on the dual-stack socket"
	lg_stop_linegate
fi
echo "PASS: 44 of 44 multicast messages admitted, 22 of them after a live apply added their group ($MODE)"
