#!/usr/bin/env bash
# drift_knn: PSI drift on the wide row (docs/models.md, "Drift"): the drift test's line
# (tests/e2e/drift.sh: line2, two devices, 120 s healthy, psi_windows 1000, 2048-sample
# windows) with a kNN model from linegate-train --detector knn (bands96-time5, a detector
# per channel where a device has several): each detector (and each channel's) carries the
# deciles of its training rows for every one of the row's features. Played as:
#  - stationary: the recording 8 times in a row: no PSI drift event, no device in drift;
#  - gain: 4 times, with l2s5-d001's samples times 2 from second 240 (window 1500): one PSI
#    "start" for l2s5-d001 within 2 x psi_windows windows, naming wide features (by their
#    layout's names) each over psi_threshold, the statistic the largest; none for l2s5-d000.
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

# 1. Train a kNN model on the whole recording; every detector (or each of its channels)
# carries its reference.
rc=0
"$TRAIN" --from "$T/line/line.pcap" --policy "$T/line/policy.yaml" --healthy-before 120 \
	-w $W --min-windows 100 --detector knn --sign-key "$T/sign.key" \
	-o "$T/line/model.json" > "$T/train.out" 2> "$T/train.err" || rc=$?
[ $rc -eq 0 ] || lg_fail "linegate-train: status $rc: $(tail -3 "$T/train.err")"
python3 - "$T/line/model.json" <<'PY' || lg_fail "the kNN model's drift reference"
import json, sys
m = json.load(open(sys.argv[1]))
assert m["layout"] == "bands96-time5", m["layout"]
d = len(m["feature_layout"])
assert d > 18, d
assert len(m["detectors"]) == 2
def check(r):
    assert len(r["edges"]) == d and len(r["fractions"]) == d
    for edges, fr in zip(r["edges"], r["fractions"]):
        assert len(edges) == 9 and all(a <= b for a, b in zip(edges, edges[1:])), edges
        assert len(fr) == 10 and abs(sum(fr) - 1) < 1e-9, fr
    # deciles: a feature that varies has about a tenth of the rows in each bin
    assert sum(all(0.09 <= f <= 0.11 for f in fr) for fr in r["fractions"]) >= d - 2
# per channel: one in each channel's detector (the detector's own would be channel 0's again)
for e in m["detectors"]:
    per = e["model"].get("per_channel", [])
    for c in per:
        check(c["reference"])
    if per:
        assert "reference" not in e["model"]
    else:
        check(e["model"]["reference"])
print(f"drift_knn: {d} features, references of",
      [len(e["model"].get("per_channel", [])) or 1 for e in m["detectors"]], "channels")
PY
sed -e "s#^  model: .*#  model: model.json#" \
	-e "s#^  window: .*#  window: $W\n  drift: {psi_windows: 1000}#" \
	-e "s#^  jsonl: .*#  jsonl: out.jsonl#" \
	-e "s#^  trusted_keys: .*#  trusted_keys: [$(cat "$LG_SOURCE/control/defaults/demo-signing.pub")]#" \
	"$T/line/policy.yaml" > "$T/line/run.yaml"
rc=0
"$LG_BIN_CTL" validate "$T/line/run.yaml" > "$T/validate.out" 2>&1 || rc=$?
[ $rc -eq 0 ] || lg_fail "validate: $(cat "$T/validate.out")"

replay() {
	local name=$1 policy=$2 pcap=$3 rc=0
	timeout 300 "$LG_BIN_DP" -p "$policy" -b "pcap:file=$pcap" \
		-s "$T/$name.stats" -o "$T/$name.jsonl" 2> "$T/$name.err" || rc=$?
	[ $rc -eq 0 ] || lg_fail "$name: linegate exited with status $rc: $(tail -3 "$T/$name.err")"
	if grep -q "carry no drift reference" "$T/$name.err"; then
		lg_fail "$name: linegate says PSI is off: $(cat "$T/$name.err")"
	fi
}

# 2. Stationary: 8 cycles.
out=$(/usr/bin/python3 "$LG_SOURCE/tests/e2e/drift_line.py" "$T/line" "$T/line/line.pcap" \
	"$T/stat.pcap" 8) || lg_fail "drift_line.py"
[ "$out" = "960.0 0" ] || lg_fail "drift_line.py: $out"
replay stat "$T/line/run.yaml" "$T/stat.pcap"
rm -f "$T/stat.pcap"
python3 - "$T/stat.jsonl" "$T/stat.stats" <<'PY' || lg_fail "the stationary run"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if '"type":"event"' in l]
st = json.load(open(sys.argv[2]))
psi = [e for e in ev if e["method"] == "psi"]
assert not psi, psi[:4]
# Page-Hinkley on ln(score / threshold) floored at ln 0.05: a kNN's healthy scores near 0 made
# the log swing (99 starts on this line with the floor at 1e-6)
ph = [e for e in ev if e["method"] == "page_hinkley"]
assert not ph, (len(ph), ph[:2])
w = {d["name"]: d["windows"] for d in st["devices"]}
assert w == {"l2s5-d000": 7500, "l2s5-d001": 6000}, w
assert not any("psi" in d["drift_methods"] for d in st["devices"]), st["devices"]
print(f"drift_knn: stationary, {w}: no PSI drift event ({len(ev)} Page-Hinkley)")
PY

# 3. A gain change on l2s5-d001 from second 240.
out=$(/usr/bin/python3 "$LG_SOURCE/tests/e2e/drift_line.py" "$T/line" "$T/line/line.pcap" \
	"$T/gain.pcap" 4 l2s5-d001 240 2) || lg_fail "drift_line.py"
[ "${out%% *}" = "480.0" ] && [ "${out##* }" -gt 0 ] || lg_fail "drift_line.py: $out"
replay gain "$T/line/run.yaml" "$T/gain.pcap"
python3 - "$T/gain.jsonl" "$T/gain.stats" "$T/line/model.json" <<'PY' || lg_fail "the gain change"
import json, sys
ev = []
for l in open(sys.argv[1]):
    e = json.loads(l)  # every line, events included, is one JSON object
    if e["type"] == "event":
        ev.append(e)
st = json.load(open(sys.argv[2]))
names = json.load(open(sys.argv[3]))["feature_layout"]
psi = [e for e in ev if e["method"] == "psi"]
assert len(psi) == 1, psi
psi = psi[0]
assert psi["event"] == "drift" and psi["name"] == "l2s5-d001" and psi["device"] == 20002, psi
assert psi["state"] == "start", psi
change = 240 * 12800 // 2048  # the first window with scaled samples: 1500
assert 0 < psi["windows"] - change <= 2 * 1000, psi
f = psi["features"]
assert 1 <= len(f) <= 18 and set(f) <= set(names), f
assert all(v > 0.25 for v in f.values()), psi
assert psi["statistic"] == max(f.values()), psi
assert st["drift_events"] == len(ev), (st["drift_events"], len(ev))
dev = {d["name"]: d for d in st["devices"]}
assert "psi" in dev["l2s5-d001"]["drift_methods"], dev["l2s5-d001"]
assert "psi" not in dev["l2s5-d000"]["drift_methods"], dev["l2s5-d000"]
ph = [(e["name"], e["state"], e["windows"]) for e in ev if e["method"] == "page_hinkley"]
assert all(n == "l2s5-d001" for n, _, _ in ph), ph
top = sorted(f.items(), key=lambda kv: -kv[1])[:3]
print(f"drift_knn: gain x2 on l2s5-d001 at window {change}: PSI after "
      f"{psi['windows'] - change} windows, {len(f)} features named, largest {top}; "
      f"Page-Hinkley {ph}")
PY
# 4. The gain goes back at second 400 (window 2500) of 6 cycles: the PSI drift starts at the
# block that ends at window 2000 and ends at the first block without changed rows (4000),
# naming the same features with their PSI now.
out=$(/usr/bin/python3 "$LG_SOURCE/tests/e2e/drift_line.py" "$T/line" "$T/line/line.pcap" \
	"$T/back.pcap" 6 l2s5-d001 240 2 400) || lg_fail "drift_line.py"
[ "${out%% *}" = "720.0" ] || lg_fail "drift_line.py: $out"
replay back "$T/line/run.yaml" "$T/back.pcap"
rm -f "$T/back.pcap"
python3 - "$T/back.jsonl" <<'PY' || lg_fail "the gain going back"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if '"type":"event"' in l]
psi = [e for e in ev if e["method"] == "psi"]
got = [(e["name"], e["state"], e["windows"]) for e in psi]
assert got == [("l2s5-d001", "start", 2000), ("l2s5-d001", "end", 4000)], got
assert set(psi[1]["features"]) == set(psi[0]["features"]), psi
assert all(v <= 0.25 for v in psi[1]["features"].values()), psi[1]
print("drift_knn: gain back at window 2500:", got)
PY
echo "drift_knn: passed"
