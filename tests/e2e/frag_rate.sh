#!/usr/bin/env bash
# A fragmented flood against a rate-limited device (trial J F18; docs/admission.md,
# "Fragments"). Two namespaces joined by a veth at MTU 1500, linegate with --xdp (native, or
# generic with $1 = generic) and the uring backend, `fragments: reassemble`. Device 101 has
# `rate: 200`, `burst: 20`; from its address come, as fast as the generator goes, 100 of its
# frames and 1400 with its id and a forged tag, each a datagram of 2996 bytes, so 3 IPv4
# fragments. XDP passes every fragment uncharged (fragment_passed); the worker charges the
# device's token bucket for each reassembled datagram before it checks the tag:
#   - the workers judge (verify the tag of) at most burst + rate x (time + slack) of them;
#   - the rest are dropped as `rate_limited`, counted per device in admission.rate_limited;
#   - received = admitted + dropped by reason, exactly, and every datagram was received.
# Without the charge, every one of the 1500 reached the tag check (bad_tag 1400).
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgfq$$"
T=$LG_TMP
MODE=${1:-native}
[ "$MODE" = native ] && XDP=lg0 || XDP=lg0:generic
SAMPLES=1470
RATE=200
BURST=20
ip -n "$NS_SRV" link set lg0 mtu 1500
ip -n "$NS_LINE" link set lg1 mtu 1500

LMAC=$(ip netns exec "$NS_LINE" cat /sys/class/net/lg1/address)

lg_policy "$T/base.yaml"
# 101 bound to the line's MAC too: linegate says that reassembly cannot check it.
sed -e "s/^port: 4739/port: 4739\nfragments: reassemble/" \
    -e "/^    name: press-1-vib/a\\    rate: $RATE\n    burst: $BURST\n    mac: '$LMAC'" \
    "$T/base.yaml" > "$T/policy.yaml"
grep -q "rate: $RATE" "$T/policy.yaml" && grep -q "fragments: reassemble" "$T/policy.yaml" ||
	lg_fail "policy edit"

lg_start_linegate_xdp "$MODE" -x $XDP -b uring
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP -d 1 \
	-n 100 --bad-tag 1400 -r 0 --samples $SAMPLES -j "$T/sent.json" -q ||
	lg_fail "loadgen failed"
# Everything through: the workers received what the sender sent.
lg_wait_for 10 lg_dp_holds "$T/dp.sock" 's["received"] >= 1500' || true
sleep 0.3
lg_dp_stats "$T/stats_now.json"
kill -INT $DP_PID
wait $DP_PID || { cat "$T/dp.err"; lg_fail "linegate exited with status $?"; }
LG_PIDS=""
grep -q "fragments: reassemble.*mac" "$T/dp.err" ||
	lg_fail "no warning that reassemble weakens mac: $(cat "$T/dp.err")"

python3 - "$T" $RATE $BURST <<'PY'
import json, sys
from lgcheck import check, done
T, rate, burst = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = json.load(open(f"{T}/stats_now.json"))
g = json.load(open(f"{T}/sent.json"))
sent = g["sent"]
check("sent", sent, 1500)
x = s["xdp"]
check("xdp fragment_passed (3 per datagram)", x["fragment_passed"], 3 * sent)
check("xdp rate_limited (no whole frame)", x["rate_limited"], 0)
check("workers received every datagram", s["received"], sent)
drops = {r: n for r, n in s["drops"].items() if n}
check("received = admitted + dropped by reason", s["admitted"] + sum(drops.values()),
      s["received"])
rl = drops.get("rate_limited", 0)
judged = s["received"] - rl
# The bucket starts full (burst) and refills at rate over the generator's time; slack for
# the time between the first datagram's arrival and the last one's pickup.
bound = burst + rate * (g["seconds"] + 0.25)
print(f"sent {sent} in {g['seconds']:.3f} s: judged {judged}, rate_limited {rl}, "
      f"bound {bound:.0f}; drops {drops}")
check("rate_limited counted", rl > 0, True)
check(f"judged <= burst + rate x (time + 0.25 s) = {bound:.0f}", judged <= bound, True)
check("only rate_limited, bad_tag and (tagged ones) admitted",
      set(drops) <= {"rate_limited", "bad_tag"}, True)
dev = {d["id"]: d for d in s["devices"]}[101]
a = dev["admission"]
check("device 101 admission.rate_limited", a["rate_limited"], rl)
check("device 101 admission admitted + dropped", a["admitted"] + a["dropped"], sent)
check("device 101 admission.dropped", a["dropped"], rl)
done()
PY
echo PASS
