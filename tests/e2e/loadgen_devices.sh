#!/usr/bin/env bash
# A fleet: 2048 enrolled devices (bench/make_policy.py: each its own key file, source
# address in 10.77.16.0/20, port and MAC; every 16th a UADP publisher with its own RawData
# array length), sent by linegate-loadgen through AF_XDP TX from two threads on two queues
# (each frame from its device's own address and MAC), LGF layouts varying per device
# (--samples 96,160,240 x --channels 1,2: six layouts, each frame within the MTU; five
# sample rates in the policy, each device sending at its own), at a low rate per device
# (~2.5 frames/s each),
# with the attack mix. linegate receives with two uring workers; with the argument "xdp" it
# admits in XDP first (generic mode, the device table holding them all; skipped where this
# kernel cannot load the program). Asserted: sent = admitted + dropped by reason, exactly
# (XDP's and the workers' reasons added); every device admitted every one of its frames
# (and no sample_rate drop); the run took what the pacing says; all in well under a minute.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
LG_QUEUES=2 lg_netns_up "lgdv$$"
T=$LG_TMP
N=${LG_DEVICES:-2048}
FRAMES=5
RATE=5000
# The devices' subnet is on the server's veth (a link route, no address of its own in it:
# a frame from the server's own address would be a martian): their frames pass its
# reverse-path check as any on-link host's. LG_DEVICES up to 4096 (the last two share
# addresses, on other ports).
ip -n "$NS_SRV" route add 10.77.16.0/20 dev lg0
lg_policy_head "$T/head.yaml"
python3 "$LG_SOURCE/bench/make_policy.py" "$T" "$N" --head "$T/head.yaml" \
	--subnet 10.77.16.0/20 --uadp-every 16 --uadp-lengths 64,128 \
	--sample-rate 10000,25600,12800,51200,20000 ||
	lg_fail "make_policy.py failed"
[ "$(grep -c '^  - id:' "$T/policy.yaml")" = "$N" ] || lg_fail "the policy has not $N devices"
[ "$(find "$T/keys" -name '*.key' -perm 600 | wc -l)" = "$N" ] || lg_fail "not $N key files 0600"
[ "$(sort -u "$T"/keys/*.key | wc -l)" = "$N" ] || lg_fail "two devices share a key"
SRV_MAC=$(ip -n "$NS_SRV" -br link show lg0 | awk '{print $3}')

start=$SECONDS
if [ "${1:-uring}" = xdp ]; then
	lg_start_linegate_xdp generic -B $SRV_IP -x lg0:generic -b uring -w 2
else
	lg_start_linegate -b uring -w 2
fi
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -n $FRAMES -r $RATE \
	--threads 2 --tx afxdp:lg1 --dst-mac "$SRV_MAC" --uadp --samples 96,160,240 \
	--channels 1,2 --unknown 101 --bad-tag 21 --replay 19 --malformed 23 --spoof 17 \
	--spoof-from $SPOOF_IP -q -j "$T/sent.json" || lg_fail "the generator failed"
sent=$(lg_json "$T/sent.json" "d['sent']")
# every frame counted: by XDP (its drops, and what it passed, which the workers received)
counted() {
	lg_dp_stats "$T/m.json" &&
	[ "$(lg_json "$T/m.json" "d['received'] + sum(d.get('xdp', {}).get(r, 0) for r in
		('unknown_device', 'spoofed_source', 'malformed', 'replayed', 'rate_limited'))")" = "$sent" ]
}
lg_wait_for 20 counted || lg_fail "linegate did not count all $sent frames: $(lg_json "$T/m.json" \
	"d['received'], d['admitted'], d['dropped'], d.get('xdp'), [v['id'] for v in d['devices'] if v['admitted'] != $FRAMES][:20]")"
lg_stop_linegate
took=$((SECONDS - start))

python3 - "$T/stats.json" "$T/sent.json" "$N" $FRAMES $RATE $took <<'PY'
import json, sys
from lgcheck import check, done
st, s = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
n, frames, rate, took = map(int, sys.argv[3:7])
x, d = st.get("xdp", {}), st["drops"]
both = lambda r: x.get(r, 0) + d.get(r, 0)
check("summary enrolled", s["enrolled"], n * frames)
check("summary uadp (every 16th device)", s["uadp"], n // 16 * frames)
# once each, also the ones the receiving worker handed to their owner (counted twice before)
check("uadp_received", st["uadp_received"], s["uadp"])
check("afxdp on the ring, sent, refused, pending",
      tuple(s["afxdp"][k] for k in ("submitted", "sent", "refused", "pending")),
      (s["sent"], s["sent"], 0, 0))
check("sent = every class", s["sent"], sum(s[k] for k in
      ("enrolled", "unknown_device", "bad_tag", "replayed", "malformed", "spoofed")))
check("admitted = enrolled", st["admitted"], s["enrolled"])
check("unknown_device", both("unknown_device"), s["unknown_device"])
check("spoofed_source", both("spoofed_source"), s["spoofed"])
check("bad_tag", both("bad_tag"), s["bad_tag"])
check("replayed", both("replayed"), s["replayed"])
check("malformed (bad magic, bad length)",
      both("malformed") + both("bad_magic") + both("bad_length"), s["malformed"])
check("rate_limited", both("rate_limited"), 0)
check("sent = admitted + dropped by reason", s["sent"],
      st["admitted"] + sum(x.get(r, 0) for r in ("unknown_device", "spoofed_source",
                                                 "malformed", "replayed", "rate_limited"))
      + st["dropped"])
if x:
    check("xdp admitted = workers received", x["admitted"], st["received"])
devs = st["devices"]
check("devices in the stats", len(devs), n)
check("every device admitted all its frames", sorted({v["admitted"] for v in devs}), [frames])
check("no sample_rate drops", sum(v.get("sample_rate_drops", 0) for v in devs), 0)
# the layouts: device i (id order) sends samples[i % 3] per channel, channels[i % 2] of them
# (LGF), or as many of them as its RawData array holds (UADP, every 16th: one channel); a
# window is 256 samples of every channel, one scored row per channel
samples, channels, lengths = (96, 160, 240), (1, 2), (64, 128)
windows = rows = 0
wrong = []
for i, v in enumerate(sorted(devs, key=lambda v: v["id"])):
    uadp = i % 16 == 15
    n = min(samples[i % 3], lengths[(i // 16) % 2]) if uadp else samples[i % 3]
    w = n * frames // 256
    if v["windows"] != w:
        wrong.append((v["id"], v["windows"], w))
    windows += w
    rows += w * (1 if uadp else channels[i % 2])
check("every device's windows as its layout gives (first wrong ones)", wrong[:5], [])
check("windows", st["windows"], windows)
check("scored rows (one per channel)", st["scored"], rows)
# the pacing: the run lasts sent / rate (at a low rate per device: rate / n frames/s each)
check(f"paced: {s['seconds']:.2f} s for {s['sent']} frames at {rate}/s",
      0.95 * s["sent"] / rate <= s["seconds"] <= 1.2 * s["sent"] / rate, True)
check(f"the whole test in well under a minute ({took} s)", took < 40, True)
done()
PY
echo PASS
