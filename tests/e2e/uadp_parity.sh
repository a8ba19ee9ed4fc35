#!/usr/bin/env bash
# UADP arrays shorter than the window are the same signal as LGF frames of as many samples,
# and a replay's incident counts are the JSON lines' (trial s14, both found with the pcap
# backend: no network, no root).
#  1. Four devices (bench/make_policy.py --uadp-every 2): 1000 and 1002 LGF, 1001 a UADP
#     publisher with a Float array of 64, 1003 one of 128. One recording with every device
#     sending LGF (--samples 256,64,256,128), one with 1001 and 1003 sending UADP (loadgen -u,
#     --samples left at 256 as the trial had it); the same seed and faults (1000, 1002 and
#     1003, bearing, from frame 20). Replayed, each device gives as many windows in both,
#     the LGF devices the same scores, the UADP devices the scores of their LGF twins within
#     the int16 quantization of LGF (1 mg), the same alerting windows, and healthy 1001 none.
#     Before the fix the generator simulated 256 samples a message and sent the first 64 or
#     128: 1001 alerted on every window, 1003 before its fault.
#     A UADP window's time is its messages' Timestamp (the sender's clock): each incident's
#     onset is its fault's first frame, and a second replay gives the same incident lines.
#  2. Each replay ends with three open incidents: the summary says '3 opened, ..., 3 open',
#     stats' open_now is 3 and its list holds the devices, names and ids of the JSON lines'
#     open events (before the fix: 1 open, listed as device 0 with the last one's name).
source "$(dirname "$0")/lib.sh"
lg_tmp
T=$LG_TMP
"$LG_BIN_DP" --help | grep "^  pcap:" > /dev/null || lg_skip "this build has no pcap backend"

lg_policy_head "$T/head.yaml"
python3 "$LG_SOURCE/bench/make_policy.py" "$T/p" 4 --head "$T/head.yaml" --uadp-every 2 \
	--uadp-lengths 64,128 --seed uadp-parity > /dev/null || lg_fail "make_policy.py failed"
grep -q "array: 64" "$T/p/policy.yaml" && grep -q "array: 128" "$T/p/policy.yaml" ||
	lg_fail "make_policy.py made no UADP devices of 64 and 128"

# gen NAME ARGS...: 40 frames a device, three of them faulty from frame 20, into NAME.pcap
gen() {
	local name=$1
	shift
	"$LG_BIN_GEN" -p "$T/p/policy.yaml" -t 10.77.0.1 -n 40 -r 400 -q -s 7 \
		-f 1000:20:bearing -f 1002:20:bearing -f 1003:20:bearing \
		--pcap "$T/$name.pcap" -j "$T/$name.sent" "$@" 2> "$T/$name.gen.err" ||
		lg_fail "loadgen $name: $(tail -3 "$T/$name.gen.err")"
	timeout 60 "$LG_BIN_DP" -p "$T/p/policy.yaml" -b "pcap:file=$T/$name.pcap" \
		-o "$T/$name.jsonl" -s "$T/$name.stats" 2> "$T/$name.err" ||
		lg_fail "replay $name: $(tail -3 "$T/$name.err")"
	grep "incidents:" "$T/$name.err" > "$T/$name.inc" || true
	echo "$name: $(lg_json "$T/$name.sent" "d['uadp']") UADP frames sent;" \
		"$(cat "$T/$name.inc")"
}
gen lgf --samples 256,64,256,128
gen uadp -u
[ "$(lg_json "$T/uadp.sent" "d['uadp']")" = 80 ] || lg_fail "the UADP run sent no 80 UADP frames"
# a replay gives the same incident lines every run, UADP devices' too (their windows' time
# is their messages' Timestamp, not linegate's clock)
timeout 60 "$LG_BIN_DP" -p "$T/p/policy.yaml" -b "pcap:file=$T/uadp.pcap" -o "$T/again.jsonl" \
	2> "$T/again.err" || lg_fail "replay again: $(tail -3 "$T/again.err")"
grep '"type":"incident"' "$T/uadp.jsonl" > "$T/uadp.lines" || true
grep '"type":"incident"' "$T/again.jsonl" > "$T/again.lines" || true
cmp "$T/uadp.lines" "$T/again.lines" || lg_fail "two replays gave other incident lines"

python3 - "$T" <<'PY'
import json, re, sys
from datetime import datetime, timezone
from lgcheck import check, done
T = sys.argv[1]

def ns(t):
    d = datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return int(d.timestamp()) * 10**9 + d.microsecond * 1000

def rows(name):
    """device -> [(score, alert)] in window order, and the incident events"""
    out, inc = {}, []
    for line in open(f"{T}/{name}.jsonl"):
        e = json.loads(line)
        if e["type"] == "incident":
            inc.append(e)
        elif e["type"] in ("score", "alert"):
            out.setdefault(e["device"], []).append((e["seq"], e["score"], e["type"] == "alert"))
    return {d: [(s, a) for _, s, a in sorted(r)] for d, r in out.items()}, inc

lgf, inc_lgf = rows("lgf")
uadp, inc_uadp = rows("uadp")
for d, n in ((1000, 40), (1001, 10), (1002, 40), (1003, 20)):
    check(f"{d}: windows (LGF, UADP run)", (len(lgf.get(d, [])), len(uadp.get(d, []))), (n, n))
for d in (1000, 1002):
    check(f"{d} (LGF in both): the same scores", uadp.get(d) == lgf.get(d), True)
for d in (1001, 1003):
    a, b = lgf.get(d, []), uadp.get(d, [])
    rel = max((abs(x[0] - y[0]) / max(abs(x[0]), 1e-6) for x, y in zip(a, b)), default=1)
    print(f"  {d}: largest relative score difference UADP vs LGF {rel:.2e}")
    check(f"{d}: UADP scores = LGF scores within 1 %", rel < 0.01, True)
    check(f"{d}: the same alerting windows", [x[1] for x in b], [x[1] for x in a])
check("1001 (healthy, array 64): no alert", sum(x[1] for x in uadp.get(1001, [])), 0)
first = [i for i, x in enumerate(uadp.get(1003, [])) if x[1]]
check("1003 (array 128, faulty from sample 20 x 128 = window 10): first alert", first[:1], [10])

for name, inc in (("lgf", inc_lgf), ("uadp", inc_uadp)):
    opened = {(e["device"], e["name"], e["incident"]) for e in inc if e["event"] == "open"}
    resolved = {e["incident"] for e in inc if e["event"] == "resolve"}
    still = {o for o in opened if o[2] not in resolved}
    check(f"{name}: incidents opened", sorted(d for d, _, _ in opened), [1000, 1002, 1003])
    fault = {f["device"]: f["onset_wall_ns"] for f in json.load(open(f"{T}/{name}.sent"))["faults"]}
    for e in inc:
        if e["event"] == "open":
            # the fault's first frame starts a window of each device: its (ms) onset
            check(f"{name}: {e['device']}: onset = the fault's first frame, sender's clock",
                  (e["clock"], abs(ns(e["onset"]) - fault.get(e["device"], 0)) <= 1_000_000),
                  ("sender", True))
    summary = open(f"{T}/{name}.inc").read()
    m = re.search(r"incidents: (\d+) opened, (\d+) continued from the last run, (\d+) resolved, "
                  r"(\d+) open", summary)
    check(f"{name}: summary (opened, continued, resolved, open)",
          tuple(map(int, m.groups())) if m else None, (len(opened), 0, len(resolved), len(still)))
    st = json.load(open(f"{T}/{name}.stats"))["incidents"]
    check(f"{name}: stats opened, open_now", (st["opened"], st["open_now"]),
          (len(opened), len(still)))
    check(f"{name}: stats' open list = the JSON lines' open incidents",
          sorted((o["device"], o["name"], o["incident"]) for o in st["open"]), sorted(still))
done()
PY
echo "PASS"
