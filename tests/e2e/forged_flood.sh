#!/usr/bin/env bash
# Trial s18 H3: the token bucket and a flood forged in a device's name. XDP cannot check a
# tag, so frames with device 101's id from its bound address and a wrong tag spend its
# budget (docs/admission.md "Token bucket"). What linegate must say:
#   1. 101 over its own rate (verified frames near the rate): counted per device as
#      rate_limited, and not named as flooded;
#   2. 101 at half its rate beside a bad-tag flood from its address: per-device
#      rate_limited in stats (devices[].admission) equal to XDP's, admission's admitted =
#      the device's verified + bad_tag, the log line naming the device, and the exit summary.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgff$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
MODE=${1:-native}
[ "$MODE" = native ] && XDP=lg0 || XDP=lg0:generic
python3 - "$T/policy.yaml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("    name: press-1-vib\n", "    name: press-1-vib\n    rate: 200\n    burst: 20\n", 1)
open(p, "w").write(s)
PY
grep -q "rate: 200" "$T/policy.yaml" || lg_fail "could not give device 101 a rate"

lg_start_linegate_xdp "$MODE" -B $SRV_IP -x $XDP -b uring

echo "== 1. device 101 at 400 frames/s, its rate 200: over its own rate"
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP -d 1 \
	-n 1200 -r 400 -j "$T/sent1.json" -q || lg_fail "loadgen 1"
sleep 1.5
lg_dp_stats "$T/stats1.json" "$T/dp.sock"
grep -q "a flood with its id" "$T/dp.err" &&
	lg_fail "a device over its own rate was named as flooded: $(grep flood "$T/dp.err")"

echo "== 2. device 101 at 100 frames/s beside 3000 bad-tag frames/s from its address"
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP -d 1 \
	-n 400 -r 3100 --attack-rate bad-tag=3000 -j "$T/sent2.json" -q || lg_fail "loadgen 2"
lg_wait_for 5 grep -q "a flood with its id" "$T/dp.err" ||
	lg_fail "no log line for the flooded device: $(tail -5 "$T/dp.err")"
sleep 0.5
kill -INT $DP_PID
wait $DP_PID || { cat "$T/dp.err"; lg_fail "linegate exited with status $?"; }
LG_PIDS=""
grep "device press-1-vib" "$T/dp.err"

python3 - "$T" <<'PY'
import json, re, sys
from lgcheck import check, done
T = sys.argv[1]
st1, st = (json.load(open(f"{T}/{f}")) for f in ("stats1.json", "stats.json"))
s1, s2 = (json.load(open(f"{T}/{f}")) for f in ("sent1.json", "sent2.json"))
err = open(f"{T}/dp.err").read()
d1 = {d["id"]: d for d in st1["devices"]}[101]
check("1: 101 over its rate: rate_limited per device = XDP's", d1["admission"]["rate_limited"],
      st1["xdp"]["rate_limited"])
check("1: some refused, most of the rate verified", 0 < d1["admission"]["rate_limited"] and
      d1["admitted"] >= 0.8 * (s1["enrolled"] - d1["admission"]["rate_limited"]), True)
d = {d["id"]: d for d in st["devices"]}[101]
a = d["admission"]
check("rate_limited per device = XDP's (the only device with a rate)", a["rate_limited"],
      st["xdp"]["rate_limited"])
# the flood reuses the device's next sequence: once that one verified, the rest are replays
# (the workers' replayed, or XDP's pre-check)
check("admission's admitted = what the workers took of 101 (verified + refused)", a["admitted"],
      d["admitted"] + d["dropped"])
check("some refused as bad_tag", d["drops"].get("bad_tag", 0) > 0, True)
check("admission's dropped = XDP's rate_limited + replayed (the only device)", a["dropped"],
      st["xdp"]["rate_limited"] + st["xdp"]["replayed"])
check("2: the flood cost the device frames", s2["enrolled"] - (d["admitted"] - d1["admitted"]) > 0,
      True)
m = re.search(r"linegate: device press-1-vib \(id 101\): (\d+) frames over its rate \(200/s\) "
              r"dropped in [0-9.]+ s while its verified frames came at ([0-9.]+)/s "
              r"\((\d+) bad_tag so far\): a flood with its id from its address\?", err)
check("the flood log line", bool(m), True)
if m:
    check("its verified rate under 90% of 200/s", float(m.group(2)) < 180, True)
    check("frames it names within the total", 0 < int(m.group(1)) <= a["rate_limited"], True)
check("exit summary names the device", bool(re.search(
    r"linegate: device press-1-vib \(id 101\): %d frames refused by admission as over its "
    r"rate; %d verified, %d bad_tag" % (a["rate_limited"], d["admitted"],
                                        d["drops"].get("bad_tag", 0)), err)), True)
done()
PY
echo PASS
