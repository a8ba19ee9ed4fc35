#!/usr/bin/env bash
# drift: the drift monitors on a line's own recording (docs/models.md, "Drift").
# A line2 line of two devices, 120 s healthy, trains a per-device model whose detectors carry
# the training rows' decile reference. line2's machines change set point and load every
# ~25 s, so a PSI block must span the cycle: psi_windows 1000 (128 s of l2s5-d000 at 16 kHz,
# 160 s of l2s5-d001 at 12.8 kHz, 2048-sample windows). Played as:
#  - stationary: the recording 8 times in a row (a line that repeats its 120-s cycle,
#    960 s, 7500 and 6000 windows): no drift event at all, no device in drift;
#  - gain: 4 times, with l2s5-d001's samples times 2 from second 240 (window 1500; a
#    sensor's gain change): exactly two events, both for l2s5-d001, both "start": PSI within
#    2 x psi_windows windows (the block that ends after the change may still be mostly
#    old rows), naming rms and peak; Page-Hinkley within 10 windows; l2s5-d000 none;
#    drift_events and the devices' drift flags in the stats say the same;
#  - gain with detection.drift.enabled: false: no event;
#  - the gain back to 1 at second 400 (window 2500) of 6 cycles: both monitors end, once
#    each, Page-Hinkley within 10 windows, PSI at the first block without changed rows
#    (window 4000);
#  - live, with linegated: the gain recording at 20 x its pace; linegated audits one
#    data_drift "started" line when l2s5-d001's Page-Hinkley starts; a threshold change
#    (a new model set) restarts the monitors: the data plane ends the drift with "reason":
#    "model changed" and linegated audits one "ended" line that says so (not "back to the
#    training data"); enabled: false after that changes nothing more: two lines, nothing
#    for l2s5-d000;
#  - live, the data plane killed (-9) while l2s5-d001 is in drift and started again:
#    linegated audits the restart and one "ended" line that says the drift state was lost
#    with the restart (not back to normal), and status warns about the device until it
#    drifts again (the new Page-Hinkley starts from the level the data has then).
. "$LG_SOURCE/tests/e2e/lib.sh"
lg_tmp
T=$LG_TMP
"$LG_BIN_DP" --help | grep "^  pcap:" >/dev/null || lg_skip "this build has no pcap backend"
/usr/bin/python3 -c "import numpy" 2>/dev/null || lg_skip "/usr/bin/python3 has no numpy"
TRAIN="$LG_BUILD/control/linegate-train"
W=2048

/usr/bin/python3 "$LG_SOURCE/tests/line2/line2.py" make --seed 5 --devices 2 --faulty 0 \
	--seconds 120 --formats pcap --out "$T/line" -q || lg_fail "line2 could not make the line"
cp "$(lg_demo_key)" "$T/sign.key"
chmod 600 "$T/sign.key"

# 1. Train on the whole recording; every detector carries its reference.
rc=0
"$TRAIN" --from "$T/line/line.pcap" --policy "$T/line/policy.yaml" --healthy-before 120 \
	-w $W --min-windows 100 --sign-key "$T/sign.key" -o "$T/line/model.json" \
	> "$T/train.out" 2> "$T/train.err" || rc=$?
[ $rc -eq 0 ] || lg_fail "linegate-train: status $rc: $(tail -3 "$T/train.err")"
python3 - "$T/line/model.json" <<'PY' || lg_fail "the model's drift reference"
import json, sys
m = json.load(open(sys.argv[1]))
assert len(m["detectors"]) == 2
for e in m["detectors"]:
    r = e["model"]["reference"]
    assert len(r["edges"]) == 18 and len(r["fractions"]) == 18
    for edges, fr in zip(r["edges"], r["fractions"]):
        assert len(edges) == 9 and all(a <= b for a, b in zip(edges, edges[1:])), edges
        assert len(fr) == 10 and abs(sum(fr) - 1) < 1e-9, fr
    # deciles: a feature that varies has about a tenth of the rows in each bin
    rms = r["fractions"][1]
    assert all(0.09 <= f <= 0.11 for f in rms), rms
PY
sed -e "s#^  model: .*#  model: model.json#" \
	-e "s#^  window: .*#  window: $W\n  drift: {psi_windows: 1000}#" \
	-e "s#^  jsonl: .*#  jsonl: out.jsonl#" \
	-e "s#^  trusted_keys: .*#  trusted_keys: [$(cat "$LG_SOURCE/control/defaults/demo-signing.pub")]#" \
	"$T/line/policy.yaml" > "$T/line/run.yaml"
sed "s#drift: {psi_windows: 1000}#drift: {psi_windows: 1000, enabled: false}#" \
	"$T/line/run.yaml" > "$T/line/off.yaml"
rc=0
"$LG_BIN_CTL" validate "$T/line/run.yaml" > "$T/validate.out" 2>&1 || rc=$?
[ $rc -eq 0 ] || lg_fail "validate: $(cat "$T/validate.out")"

replay() {
	local name=$1 policy=$2 pcap=$3 rc=0
	timeout 120 "$LG_BIN_DP" -p "$policy" -b "pcap:file=$pcap" \
		-s "$T/$name.stats" -o "$T/$name.jsonl" 2> "$T/$name.err" || rc=$?
	[ $rc -eq 0 ] || lg_fail "$name: linegate exited with status $rc: $(tail -3 "$T/$name.err")"
}

# 2. Stationary: 8 cycles.
out=$(/usr/bin/python3 "$LG_SOURCE/tests/e2e/drift_line.py" "$T/line" "$T/line/line.pcap" \
	"$T/stat.pcap" 8) || lg_fail "drift_line.py"
[ "$out" = "960.0 0" ] || lg_fail "drift_line.py: $out"
replay stat "$T/line/run.yaml" "$T/stat.pcap"
rm -f "$T/stat.pcap"
python3 - "$T/stat.jsonl" "$T/stat.stats" <<'PY' || lg_fail "the stationary run"
import json, sys
ev = [l for l in open(sys.argv[1]) if '"type":"event"' in l]
st = json.load(open(sys.argv[2]))
assert not ev, ev[:4]
assert st["drift_events"] == 0, st["drift_events"]
w = {d["name"]: d["windows"] for d in st["devices"]}
assert w == {"l2s5-d000": 7500, "l2s5-d001": 6000}, w
assert not any(d["drift"] or d["drift_methods"] for d in st["devices"]), st["devices"]
print(f"drift: stationary, {w}: no drift event")
PY

# 3. A gain change on l2s5-d001 from second 240.
out=$(/usr/bin/python3 "$LG_SOURCE/tests/e2e/drift_line.py" "$T/line" "$T/line/line.pcap" \
	"$T/gain.pcap" 4 l2s5-d001 240 2) || lg_fail "drift_line.py"
[ "${out%% *}" = "480.0" ] && [ "${out##* }" -gt 0 ] || lg_fail "drift_line.py: $out"
replay gain "$T/line/run.yaml" "$T/gain.pcap"
python3 - "$T/gain.jsonl" "$T/gain.stats" <<'PY' || lg_fail "the gain change"
import json, sys
ev = []
for l in open(sys.argv[1]):
    e = json.loads(l)  # every line, events included, is one JSON object
    if e["type"] == "event":
        ev.append(e)
st = json.load(open(sys.argv[2]))
assert all(e["event"] == "drift" and e["name"] == "l2s5-d001" and e["device"] == 20002 and
           e["state"] == "start" for e in ev), ev
by = {e["method"]: e for e in ev}
assert len(ev) == 2 and set(by) == {"psi", "page_hinkley"}, ev
change = 240 * 12800 // 2048  # the first window with scaled samples: 1500
psi, ph = by["psi"], by["page_hinkley"]
assert 0 < psi["windows"] - change <= 2 * 1000, psi
assert {"rms", "peak"} <= set(psi["features"]), psi
assert all(v > 0.25 for v in psi["features"].values()), psi
assert psi["statistic"] == max(psi["features"].values()), psi
assert 0 < ph["windows"] - change <= 10, ph
assert ph["features"] == {} and ph["statistic"] > 50, ph
assert st["drift_events"] == 2, st["drift_events"]
dev = {d["name"]: d for d in st["devices"]}
assert dev["l2s5-d001"]["drift"] and dev["l2s5-d001"]["drift_methods"] == ["psi", "page_hinkley"]
assert not dev["l2s5-d000"]["drift"] and dev["l2s5-d000"]["drift_methods"] == []
print(f"drift: gain x2 on l2s5-d001 at window {change}: PSI after "
      f"{psi['windows'] - change} windows (PSI rms {psi['features']['rms']}), Page-Hinkley "
      f"after {ph['windows'] - change}; l2s5-d000 none")
PY

# 4. Switched off: the same recording raises nothing.
replay off "$T/line/off.yaml" "$T/gain.pcap"
python3 - "$T/off.jsonl" "$T/off.stats" <<'PY' || lg_fail "enabled: false"
import json, sys
assert not [l for l in open(sys.argv[1]) if '"type":"event"' in l]
st = json.load(open(sys.argv[2]))
assert st["drift_events"] == 0 and not any(d["drift"] for d in st["devices"])
PY
# 4b. The gain goes back: both monitors end, once each.
out=$(/usr/bin/python3 "$LG_SOURCE/tests/e2e/drift_line.py" "$T/line" "$T/line/line.pcap" \
	"$T/back.pcap" 6 l2s5-d001 240 2 400) || lg_fail "drift_line.py"
[ "${out%% *}" = "720.0" ] || lg_fail "drift_line.py: $out"
replay back "$T/line/run.yaml" "$T/back.pcap"
rm -f "$T/back.pcap"
python3 - "$T/back.jsonl" "$T/back.stats" <<'PY' || lg_fail "the gain going back"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if '"type":"event"' in l]
st = json.load(open(sys.argv[2]))
got = sorted((e["method"], e["state"], e["windows"]) for e in ev)
assert all(e["name"] == "l2s5-d001" for e in ev), ev
assert [(m, s) for m, s, _ in got] == [("page_hinkley", "end"), ("page_hinkley", "start"),
                                       ("psi", "end"), ("psi", "start")], got
w = {(m, s): n for m, s, n in got}
assert 0 < w["page_hinkley", "end"] - 2500 <= 10, got
assert w["psi", "start"] == 2000 and w["psi", "end"] == 4000, got
end = [e for e in ev if e["method"] == "psi" and e["state"] == "end"][0]
start = [e for e in ev if e["method"] == "psi" and e["state"] == "start"][0]
assert set(end["features"]) == set(start["features"]), (start, end)
assert all(v <= 0.25 for v in end["features"].values()), end
assert st["drift_events"] == 4 and not any(d["drift"] for d in st["devices"]), st["devices"]
print("drift: gain back at window 2500:", got)
PY

# 5. Live: linegated audits what the data plane's status says (PSI blocks too long to end
# here, so only Page-Hinkley speaks).
sed "s#drift: {psi_windows: 1000}#drift: {psi_windows: 1000000}#" "$T/line/run.yaml" \
	> "$T/line/live.yaml"
sed "s#drift: {psi_windows: 1000}#drift: {psi_windows: 1000000, enabled: false}#" \
	"$T/line/run.yaml" > "$T/line/live-off.yaml"
sed "s#drift: {psi_windows: 1000}#drift: {psi_windows: 1000000}\n  threshold: 0.001#" \
	"$T/line/run.yaml" > "$T/line/live-thr.yaml"
lg_bg "$LG_BIN_DP" -p "$T/line/live.yaml" -b "pcap:file=$T/gain.pcap,pace=20" \
	-c "$T/dp.sock" -o "$T/live.jsonl" -s "$T/live.stats"
DP_PID=$!
lg_wait_for 5 test -S "$T/dp.sock" || lg_fail "linegate did not start"
lg_bg "$LG_BIN_D" -p "$T/line/live.yaml" -S "$T/d.sock" -d "$T/dp.sock" \
	-a "$T/audit.jsonl" -s "$T/state" -i 100
D_PID=$!
lg_wait_for 5 test -S "$T/d.sock" || lg_fail "linegated did not start"
lg_wait_for 30 grep -q '"what":"data_drift","result":"started"' "$T/audit.jsonl" ||
	lg_fail "no data_drift audit line: $(cat "$T/audit.jsonl")"
rc=0
"$LG_BIN_CTL" --socket "$T/d.sock" apply "$T/line/live-thr.yaml" > "$T/apply.out" 2>&1 || rc=$?
[ $rc -eq 0 ] || lg_fail "apply threshold: $(cat "$T/apply.out")"
lg_wait_for 30 grep -q '"what":"data_drift","result":"ended"' "$T/audit.jsonl" ||
	lg_fail "no data_drift end: $(cat "$T/audit.jsonl")"
rc=0
"$LG_BIN_CTL" --socket "$T/d.sock" apply "$T/line/live-off.yaml" > "$T/apply.out" 2>&1 || rc=$?
[ $rc -eq 0 ] || lg_fail "apply enabled: false: $(cat "$T/apply.out")"
wait $DP_PID || lg_fail "linegate exited with status $?"
kill -INT $D_PID
wait $D_PID || lg_fail "linegated exited with status $?"
LG_PIDS=""
python3 - "$T/audit.jsonl" "$T/live.jsonl" <<'PY' || lg_fail "linegated's data_drift audit"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1]) if '"data_drift"' in l]
ev = [json.loads(l) for l in open(sys.argv[2]) if '"type":"event"' in l]
assert [x["result"] for x in a] == ["started", "ended"], a
for x in a:
    assert x["phase"] == "event" and x["peer"] == "dataplane", x
assert a[0]["detail"] == "device l2s5-d001 (id 20002): page_hinkley says its data drifted " \
    "from the model's training data", a[0]
assert a[1]["detail"] == "device l2s5-d001 (id 20002): page_hinkley ended: the model " \
    "changed; monitoring restarts with the new model", a[1]
assert [(e["name"], e["method"], e["state"], e.get("reason")) for e in ev] == \
    [("l2s5-d001", "page_hinkley", "start", None),
     ("l2s5-d001", "page_hinkley", "end", "model changed")], ev
assert ev[1]["model_epoch"] == ev[0]["model_epoch"] + 1, ev
print("drift: linegated audited", [x["result"] for x in a])
PY

# 6. Live, the data plane restarted while l2s5-d001 is in drift.
lg_bg "$LG_BIN_DP" -p "$T/line/live.yaml" -b "pcap:file=$T/gain.pcap,pace=20" \
	-c "$T/dp.sock" -o "$T/live2.jsonl" -s "$T/live2.stats"
DP_PID=$!
lg_wait_for 5 test -S "$T/dp.sock" || lg_fail "linegate did not start"
lg_bg "$LG_BIN_D" -p "$T/line/live.yaml" -S "$T/d.sock" -d "$T/dp.sock" \
	-a "$T/audit2.jsonl" -s "$T/state2" -i 100
D_PID=$!
lg_wait_for 5 test -S "$T/d.sock" || lg_fail "linegated did not start"
lg_wait_for 30 grep -q '"what":"data_drift","result":"started"' "$T/audit2.jsonl" ||
	lg_fail "no data_drift audit line: $(cat "$T/audit2.jsonl")"
kill -KILL $DP_PID
wait $DP_PID 2>/dev/null || true
rm -f "$T/dp.sock"
# the recording from its start again: healthy for its first 240 s (12 s at pace 20)
lg_bg "$LG_BIN_DP" -p "$T/line/live.yaml" -b "pcap:file=$T/gain.pcap,pace=20" \
	-c "$T/dp.sock" -o "$T/live3.jsonl" -s "$T/live3.stats"
DP_PID=$!
lg_wait_for 5 test -S "$T/dp.sock" || lg_fail "linegate did not start again"
lg_wait_for 10 grep -q '"what":"data_drift","result":"ended"' "$T/audit2.jsonl" ||
	lg_fail "no data_drift end after the restart: $(cat "$T/audit2.jsonl")"
"$LG_BIN_CTL" --socket "$T/d.sock" -r status > "$T/status2.json" || lg_fail "status"
kill -KILL $DP_PID
wait $DP_PID 2>/dev/null || true
kill -INT $D_PID
wait $D_PID || lg_fail "linegated exited with status $?"
LG_PIDS=""
python3 - "$T/audit2.jsonl" "$T/status2.json" <<'PY' || lg_fail "the drift lost with a restart"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
dd = [x for x in a if x["what"] == "data_drift"]
assert [x["result"] for x in dd] == ["started", "ended"], dd
assert dd[1]["detail"].startswith("device l2s5-d001 (id 20002): page_hinkley ended: drift "
                                  "state lost with the data plane's restart; its monitors "
                                  "start again"), dd[1]
assert "back at their level before" not in dd[1]["detail"], dd[1]
assert dd[1]["detail"].endswith("not back to normal"), dd[1]
rs = [x for x in a if x["what"] == "dataplane" and x["result"] == "restarted"]
assert len(rs) == 1 and a.index(rs[0]) < a.index(dd[1]), a
s = json.load(open(sys.argv[2]))
w = [x for x in s["warnings"] if x.startswith("device l2s5-d001 (id 20002): its drift was "
                                              "lost with the data plane's restart")]
assert len(w) == 1 and "raised again by PSI only" in w[0], s["warnings"]
print("drift: a restart ends the drift as lost, not as over:", dd[1]["detail"][:90])
PY
echo "drift: passed"
