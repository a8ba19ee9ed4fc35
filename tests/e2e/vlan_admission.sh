#!/usr/bin/env bash
# VLAN-tagged frames (trial D, H5): every path judges tags by one rule (admit.h's
# lg_admit_vlan_ok(), policy 'vlans'), and the counts add up.
#   uring (XDP generic in front of the socket): a tagged frame of ours is dropped as xdp.vlan
#     unless the policy lists its VLAN AND a VLAN interface on lg0 delivers it to the socket;
#     then XDP admits it and the socket receives it: xdp.admitted = received, exactly. On a
#     kernel without 802.1Q no VLAN interface can exist: every tagged frame is xdp.vlan.
#   afxdp: the same rule without the interface (the XSK reads frames, tags and all): a listed
#     VLAN is admitted and scored, any other dropped as xdp.vlan.
# The frames are the load generator's (--pcap), sent again from the line's side with an
# 802.1Q tag inserted (lgvlan.py): valid LGF, only the tag differs.
source "$(dirname "$0")/lib.sh"
BACKEND=${1:-uring}
lg_need_root
lg_tmp
lg_netns_up "lgvl$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
K=40

# 6 LGF devices x 40 frames, in the order the pacing gives them.
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -d 6 -n 40 -r 4000 \
	--pcap "$T/f.pcap" -q
SRV_MAC=$(ip -n "$NS_SRV" -j link show lg0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
# send_next COUNT:VLAN...: the next frames of the file (after the SENT already sent), each
# COUNT of them with an 802.1Q tag of id VLAN, or untagged for '-'
SENT=0
send_next() {
	local got n
	got=$(ip netns exec "$NS_LINE" python3 "$LG_SOURCE/tests/e2e/lgvlan.py" "$T/f.pcap" lg1 \
		"$SRV_MAC" $SENT "$@") || lg_fail "lgvlan.py failed"
	[ "$got" = "$(printf '%s\n' "$@" | cut -d: -f1 | paste -sd' ')" ] ||
		lg_fail "lgvlan.py sent $got frames, not $*"
	for n in $got; do SENT=$((SENT + n)); done
}

if [ "$BACKEND" = uring ]; then
	lg_start_linegate_xdp generic -B $SRV_IP -x lg0:generic -b uring
else
	lg_start_linegate_xdp generic -B $SRV_IP -x lg0:generic -b afxdp
fi
# stat EXPR: the Python expression over the data plane's stats `s`
stat() { lg_dp_stats "$T/m.json" && python3 -c "import json; s=json.load(open('$T/m.json')); print($1)"; }
settle() { # wait until the workers received $1 frames in all, and XDP judged $2
	lg_wait_for 10 test "$(stat "s['received']")" = "$1" ||
		lg_fail "received $(stat "s['received']") frames, want $1"
	lg_wait_for 5 test "$(stat "sum(v for k, v in s['xdp'].items() if k != 'audited')")" = "$2" ||
		lg_fail "XDP judged $(stat "sum(v for k, v in s['xdp'].items() if k != 'audited')") frames, want $2"
}

# 1. No 'vlans' in the policy: tagged frames of ours are dropped as vlan, untagged pass.
send_next $K:- $K:7
settle $K $((2 * K))
[ "$(stat "s['xdp']['vlan']")" = $K ] || lg_fail "xdp.vlan $(stat "s['xdp']['vlan']"), want $K"
[ "$(stat "s['xdp']['admitted']")" = $K ] || lg_fail "xdp.admitted $(stat "s['xdp']['admitted']")"

# 2. vlans: [7, 8], live. With uring, only 7 has a VLAN interface on lg0: 8 stays refused,
# and linegate says why; afxdp reads both from the XSK.
HAVE_VLAN=0
if [ "$BACKEND" = uring ]; then
	# A kernel without 802.1Q (CONFIG_VLAN_8021Q, this project's CI kernel) has no VLAN
	# interfaces at all: then no VLAN reaches the socket, and XDP must refuse them all.
	if ip -n "$NS_SRV" link add link lg0 name lg0.7 type vlan id 7 2> "$T/vlan.err"; then
		HAVE_VLAN=1
		ip -n "$NS_SRV" addr add 10.77.7.1/24 dev lg0.7
		ip -n "$NS_SRV" link set lg0.7 up
		ip netns exec "$NS_SRV" sysctl -qw net.ipv4.conf.all.rp_filter=0 \
			net.ipv4.conf.lg0/7.rp_filter=0
	else
		echo "note: no VLAN interface here ($(cat "$T/vlan.err")): VLAN 7 cannot reach the socket either"
	fi
fi
echo "vlans: [7, 8]" >> "$T/policy.yaml"
out=$(lg_dp_apply "$T/dp.sock" "$T/policy.yaml")
case $out in ok:*'"vlans"'*) ;; *) lg_fail "apply of vlans: $out";; esac
if [ "$BACKEND" = uring ] && [ $HAVE_VLAN = 1 ]; then
	lg_wait_for 5 grep -q "vlans: no VLAN interface on lg0 for VLAN(s) 8:" "$T/dp.err" ||
		lg_fail "no word that VLAN 8 has no interface: $(cat "$T/dp.err")"
	grep -q "VLAN(s) 7" "$T/dp.err" && lg_fail "VLAN 7 has its interface: $(cat "$T/dp.err")"
	send_next $K:7 $K:8 $K:9
	settle $((2 * K)) $((5 * K))
	want_vlan=$((3 * K)) want_adm=$((2 * K))
elif [ "$BACKEND" = uring ]; then
	lg_wait_for 5 grep -q "vlans: no VLAN interface on lg0 for VLAN(s) 7,8:" "$T/dp.err" ||
		lg_fail "no word that VLANs 7 and 8 have no interface: $(cat "$T/dp.err")"
	send_next $K:7 $K:8 $K:9
	settle $K $((5 * K))
	want_vlan=$((4 * K)) want_adm=$K
else
	send_next $K:7 $K:8 $K:9
	settle $((3 * K)) $((5 * K))
	want_vlan=$((2 * K)) want_adm=$((3 * K))
fi
[ "$(stat "s['xdp']['vlan']")" = $want_vlan ] ||
	lg_fail "xdp.vlan $(stat "s['xdp']['vlan']"), want $want_vlan"
lg_stop_linegate

python3 - "$T/stats.json" $want_adm $want_vlan $SENT <<'PY'
import json, sys
from lgcheck import check, done
st = json.load(open(sys.argv[1]))
adm, vlan, sent = (int(a) for a in sys.argv[2:5])
x = st["xdp"]
check("frames sent", sent, 200)
check("xdp.admitted", x["admitted"], adm)
check("xdp.vlan", x["vlan"], vlan)
check("XDP judged every frame sent", sum(v for k, v in x.items() if k != "audited"), sent)
check("what XDP admits is what the workers receive", st["received"], x["admitted"])
check("the workers admitted them all", st["admitted"], adm)
check("received = admitted + dropped", st["received"], st["admitted"] + st["dropped"])
done()
PY
echo PASS
