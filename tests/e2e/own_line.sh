#!/usr/bin/env bash
# own_line: a line's own recording trains its model, and the data plane enforces it.
# A line2 line (tests/line2: physics unlike the built-in simulator, every device at its own
# sample rate) recorded as a pcap of signed LGF frames:
#  - linegate-train --from the pcap --policy --labels fits one detector per device, signs the
#    model, and the model records each device's rate, the window, the feature layout, the
#    data digest and the signer;
#  - linegatectl validate accepts the policy that names it;
#  - linegate replays the recording (pcap backend) and alerts window for window as
#    linegate-quality says offline (the same windows, features and detectors; verdicts agree
#    but for a score within BLAS rounding of its threshold),
#    the faulty devices within 3 windows of their onset;
#  - with the argument knn (own_line_knn): the same with linegate-train --detector knn (the
#    wide bands96-time5 row, the pooled threshold): the data plane loads the kNN model, leaves
#    sensor dropout windows unscored (counted per device) and alerts as linegate-quality says;
#  - with the argument orders (own_line_orders): the same with --layout orders96-time5 (the
#    lower half of the spectrum in shaft orders, each device window's speed ratio found by the
#    data plane as linegate-quality finds it offline, against the device's "order_ref"); and
#    validate refuses the model once one detector's order_ref has lost a line, naming it;
#  - with the argument rev (own_line_rev): the orders layout with a window per device
#    (linegate-train --window rev6 --shaft-hz: each device's lowest shaft speed, what its
#    nameplate or PLC says, here written from line2's manifest by this script): the model
#    records each device's window, linegate forms each device's windows at it and alerts as
#    linegate-quality says; validate refuses a detector whose window does not fit its rows,
#    naming it; with rev-smooth (own_line_rev_smooth) also --smooth 2: the model records
#    "smooth": 2 and linegate scores each channel by the mean of its last 2 scores as
#    linegate-quality does; with rev-imp (own_line_rev_imp) also --layout
#    orders96-time5-imp9 --nameplate (each machine's set points, gear teeth and bearing, from
#    the manifest): the model records each detector's "impact" and linegate computes the
#    impact features per device window as linegate-quality does; with rev-imp10
#    (own_line_rev_imp10) --layout orders96-time5-imp10: the same with floor_lines (issue 8
#    step 6e.3), the "impact" with floor_lines' own reference speed and bands, and validate
#    refuses a detector that lost them, naming it; with rev-imp11 (own_line_rev_imp11)
#    --layout orders96-time5-imp11: the same with tsa3 too (the envelope's TSA over each
#    device's last 3 windows, which the data plane keeps per device as linegate-quality
#    does over the recording);
#  - refused with their reason: a policy whose device claims another sample_rate, a policy
#    with a device the model has no detector for; and frames at another rate than the
#    device's detector are dropped as sample_rate, exactly that device's frames.
. "$LG_SOURCE/tests/e2e/lib.sh"
lg_tmp
T=$LG_TMP
"$LG_BIN_DP" --help | grep "^  pcap:" >/dev/null || lg_skip "this build has no pcap backend"
/usr/bin/python3 -c "import numpy" 2>/dev/null || lg_skip "/usr/bin/python3 has no numpy"
TRAIN="$LG_BUILD/control/linegate-train"
QUALITY="$LG_BUILD/control/linegate-quality"
W=2048
DET=${1:-mahalanobis}
LAYOUT_ARGS=()
REV=0
MINW=100
SMOOTH=1
IMP=0
if [ "$DET" = orders ] || [ "$DET" = rev ] || [ "$DET" = rev-smooth ] || [ "$DET" = rev-imp ] ||
	[ "$DET" = rev-imp10 ] || [ "$DET" = rev-imp11 ]; then
	[ "$DET" = rev ] && REV=1
	[ "$DET" = rev-smooth ] && REV=1 && SMOOTH=2
	[ "$DET" = rev-imp ] && REV=1 && SMOOTH=2 && IMP=9
	[ "$DET" = rev-imp10 ] && REV=1 && SMOOTH=2 && IMP=10
	[ "$DET" = rev-imp11 ] && REV=1 && SMOOTH=2 && IMP=11
	DET=knn
	LAYOUT_ARGS=(--layout orders96-time5)
	[ $IMP != 0 ] && LAYOUT_ARGS=(--layout orders96-time5-imp$IMP --nameplate "$T/nameplate.csv")
fi

/usr/bin/python3 "$LG_SOURCE/tests/line2/line2.py" make --seed 5 --devices 4 --faulty 2 \
	--seconds 40 --fault-at 30 --fault-gain 10 --formats pcap --out "$T/line" -q ||
	lg_fail "line2 could not make the line"
cp "$(lg_demo_key)" "$T/sign.key"
chmod 600 "$T/sign.key"
WIN_ARGS=(-w $W)
if [ $REV = 1 ]; then
	# what an operator knows of each machine: its lowest shaft speed (nameplate, PLC set
	# points), here taken from line2's manifest; the trainer never reads the manifest
	/usr/bin/python3 "$LG_SOURCE/tests/line2/line2.py" declare --dir "$T/line" \
		--shaft-hz "$T/line/shaft_hz.csv" --nameplate "$T/nameplate.csv" ||
		lg_fail "line2 declare"
	WIN_ARGS=(-w $W --window rev6 --shaft-hz "$T/line/shaft_hz.csv" --smooth $SMOOTH)
	# rev-imp: what the operator declares for the impact features (set points, gear
	# teeth, bearing geometry): nameplate.csv, written above
	MINW=20 # 30 s of healthy history holds 18-118 windows of up to 16384 samples
fi

# 1. Train from the recording.
rc=0
"$TRAIN" --from "$T/line/line.pcap" --policy "$T/line/policy.yaml" \
	--labels "$T/line/labels.csv" "${WIN_ARGS[@]}" --min-windows $MINW --sign-key "$T/sign.key" \
	--detector "$DET" "${LAYOUT_ARGS[@]}" \
	-o "$T/line/model.json" \
	> "$T/train.out" 2> "$T/train.err" || rc=$?
[ $rc -eq 0 ] || lg_fail "linegate-train: status $rc: $(tail -3 "$T/train.err")"
grep -q "^expected false alarms per window: .* (95% interval" "$T/train.out" ||
	lg_fail "linegate-train printed no expectation: $(cat "$T/train.out")"
grep -q "pcap: .* LGF/UADP messages taken, 0 neither, 0 unknown devices, 0 bad tags" "$T/train.err" ||
	lg_fail "linegate-train's pcap counts: $(cat "$T/train.err")"
[ -s "$T/line/model.json.sig" ] || lg_fail "no signature written"
python3 - "$T/line/model.json" "$T/line/manifest.json" \
	"$LG_SOURCE/control/defaults/demo-signing.pub" "$DET" "${LAYOUT_ARGS[*]}" $REV $SMOOTH <<'EOF' || lg_fail "the model file"
import json, math, re, sys
m = json.load(open(sys.argv[1]))
man = json.load(open(sys.argv[2]))
pub = open(sys.argv[3]).read().strip()
rev = sys.argv[6] == "1"
assert m.get("smooth", 1) == int(sys.argv[7]), m.get("smooth")
# smoothing or a window per device need format 2, which a linegate without them refuses
want_fmt = "linegate-detectors-2" if rev or int(sys.argv[7]) > 1 else "linegate-detectors"
assert m["format"] == want_fmt, (m["format"], want_fmt)
assert m["window"] == 2048
assert re.fullmatch(r"[0-9a-f]{64}", m["data_digest"])
assert m["signer"] == pub, (m["signer"], pub)
def rev_window(d, revs=6):  # bench/quality_proto.py's rev_window()
    W = 2048
    while W < 16384 and W / d["sample_rate"] * min(d["physics"]["setpoints_hz"]) < revs:
        W *= 2
    return W
if rev:
    wins = {}
    for e in m["detectors"]:
        d = [x for x in man["devices"] if x["name"] == e["devices"][0]][0]
        wins[d["name"]] = e["model"]["window"]
        assert e["model"]["window"] == rev_window(d), (d["name"], e["model"]["window"])
        assert len(e["model"]["feature_layout"]) == len(e["model"]["mean"])
    assert len(set(wins.values())) > 1, ("one window for all: pick another seed", wins)
    print("own_line: windows per device", wins)
imp = re.search(r"imp(9|10|11)\b", sys.argv[5])
imp = int(imp.group(1)) if imp else 0
if imp:
    assert m["layout"] == "orders96-time5-imp%d" % imp and len(m["feature_layout"]) == 77 + imp
    assert m["feature_layout"][77] == "imp_rev_kurt_max", m["feature_layout"][77:]
    want = {9: [], 10: ["imp_floor_lines"], 11: ["imp_floor_lines", "imp_tsa3"]}[imp]
    assert m["feature_layout"][86:] == want, m["feature_layout"]
    for e in m["detectors"]:
        i = e["model"]["impact"]
        d = [x for x in man["devices"] if x["name"] == e["devices"][0]][0]
        sp = d["physics"]["setpoints_hz"]
        assert 0.95 * min(sp) <= i["ref_speed_hz"] <= 1.02 * max(sp), (i, sp)
        assert i["gear_teeth"] == d["physics"]["gear_teeth"]
        assert abs(i["bpfo"] - d["physics"]["bearing"]["orders"]["bpfo"]) < 1e-6, i
        assert len(i["bands_hz"]) == d["channels"], i
        # -imp10, -imp11: floor_lines' own speed and bands (the Hann spectra's); -imp9: none
        assert ("floor_ref_speed_hz" in i) == ("floor_bands_hz" in i) == (imp >= 10), i
        if imp >= 10:
            assert 0.95 * min(sp) <= i["floor_ref_speed_hz"] <= 1.02 * max(sp), (i, sp)
            assert abs(i["floor_ref_speed_hz"] / i["ref_speed_hz"] - 1) < 0.01, i
            assert len(i["floor_bands_hz"]) == d["channels"], i
            assert all(0 < lo < hi <= 0.48 * d["sample_rate"] for lo, hi in i["floor_bands_hz"])
            # the trainer's weights: the time features 16, the nine 4, floor_lines 16,
            # -imp11's tsa3 after it 4
            fw = e["model"]["feature_weights"]
            if imp == 11:
                assert fw[-1] == 4, fw[-20:]
                fw = fw[:-1]
            assert fw[-1] == 16 and fw[-10:-1] == [4] * 9 and fw[-15:-10] == [16] * 5, fw[-20:]
            assert fw[-16] == 1, fw[-20:]
    print("own_line: impact", {e["devices"][0]: round(e["model"]["impact"]["ref_speed_hz"], 3)
                               for e in m["detectors"]})
if sys.argv[5]:
    assert m["layout"] in ("orders96-time5", "orders96-time5-imp9", "orders96-time5-imp10",
                           "orders96-time5-imp11")
    assert len(m["feature_layout"]) == 77 + imp
    assert m["feature_layout"][0] == "oband0" and m["feature_layout"][71] == "wband71"
    for e in m["detectors"]:
        r = e["model"]["order_ref"]
        M = math.ceil((math.log(0.45 * e["model"]["window"]) - math.log(16)) / 0.002)
        assert len(r["lines"]) == M and r["step"] == 0.002 and r["bins"][0] == 16, r.keys()
        assert max(r["lines"]) > 0.1, "no lines in the reference"
elif sys.argv[4] == "knn":
    assert m["layout"] == "bands96-time5" and len(m["feature_layout"]) == 77
    assert all(e["model"]["detector"] == "knn" and e["model"]["dropout_run"] == 16
               for e in m["detectors"])
else:
    assert len(m["feature_layout"]) == 18 and m["feature_layout"][0] == "mean"
rates = {d["name"]: d["sample_rate"] for d in man["devices"]}
assert len(set(rates.values())) == 4, "line2 drew one rate twice: pick another seed"
assert "sample_rate" not in m  # the devices differ
got = {}
for e in m["detectors"]:
    assert len(e["devices"]) == 1
    got[e["devices"][0]] = e["model"]["sample_rate"]
assert got == rates, (got, rates)
EOF

# 2. The policy names it; validate says yes.
sed -e "s#^  model: .*#  model: model.json#" -e "s#^  window: .*#  window: $W#" \
	-e "s#^  jsonl: .*#  jsonl: out.jsonl#" \
	-e "s#^  trusted_keys: .*#  trusted_keys: [$(cat "$LG_SOURCE/control/defaults/demo-signing.pub")]#" \
	"$T/line/policy.yaml" > "$T/line/run.yaml"
rc=0
"$LG_BIN_CTL" validate "$T/line/run.yaml" > "$T/validate.out" 2>&1 || rc=$?
[ $rc -eq 0 ] || lg_fail "validate refused the trained model: $(cat "$T/validate.out")"

# 3. The data plane replays the recording; linegate-quality judges it offline.
replay() {
	local name=$1 policy=$2 rc=0
	timeout 120 "$LG_BIN_DP" -p "$policy" -b "pcap:file=$T/line/line.pcap" \
		-s "$T/$name.stats" -o "$T/$name.jsonl" 2> "$T/$name.err" || rc=$?
	[ $rc -eq 0 ] || lg_fail "$name: linegate exited with status $rc: $(tail -3 "$T/$name.err")"
}
replay run "$T/line/run.yaml"
rc=0
"$QUALITY" --model "$T/line/model.json" --from "$T/line/line.pcap" \
	--policy "$T/line/policy.yaml" --labels "$T/line/labels.csv" --latency 3 \
	> "$T/quality.out" 2> "$T/quality.err" || rc=$?
[ $rc -eq 0 ] || lg_fail "linegate-quality: status $rc: $(tail -3 "$T/quality.err")"
python3 - "$T/run.jsonl" "$T/run.stats" "$T/quality.out" "$T/line/manifest.json" \
	"$T/line/labels.csv" "$T/line/model.json" <<'EOF' || lg_fail "the replay against linegate-quality"
import collections, csv, json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
st = json.load(open(sys.argv[2]))
q = json.loads([l for l in open(sys.argv[3]) if l.startswith("{")][-1])
mf = json.load(open(sys.argv[4]))
man = {d["name"]: d for d in mf["devices"]}
fmt = mf["lgf_format"]
onset = {r["device"]: float(r["onset"]) for r in csv.DictReader(open(sys.argv[5]))}
# each device's window: its detector's (a window per device with rev6, else the file's)
model = json.load(open(sys.argv[6]))
wins = {e["devices"][0]: e["model"].get("window", model["window"]) for e in model["detectors"]}
dropout = {d["name"]: d.get("windows_dropout", 0) for d in st["devices"]}
reasons = st["drops"]
assert reasons.get("sample_rate", 0) == 0, reasons
rows = collections.defaultdict(list)
for l in lines:
    if l["type"] in ("score", "alert"):
        rows[l["name"]].append(l)
hw = fa = 0
for name, d in man.items():
    ch = d["channels"]
    W = wins[name]
    # alerts and scores reach the output on rings of their own: order by window (its newest
    # frame's sequence) and channel
    r = sorted(rows[name], key=lambda x: (x["seq"], x["channel"]))
    # a window's rows carry its last frame's seq (line2 frames of F samples, seq from 1,
    # tests/line2/line2.py frame_samples()); a window the model left unscored (a sensor
    # dropout, knn) has no rows
    F = min(256, (1472 - 56) // (ch * (2 if fmt == "i16" else 4)))
    seq_win = {((k + 1) * W - 1) // F + 1: k for k in range(d["samples"] // W)}
    win = collections.defaultdict(list)
    for x in r:
        win[seq_win[x["seq"]]].append(x)
    assert all(len(v) == ch for v in win.values()), name
    n = len(win)
    assert n == d["samples"] // W - dropout[name], (name, len(r), d["samples"], dropout[name])
    first = None
    for k in sorted(win):
        alert = any(x["type"] == "alert" for x in win[k])
        t = k * W / d["sample_rate"]
        healthy = name not in onset or t + W / d["sample_rate"] <= onset[name]
        if healthy:
            hw += 1
            fa += alert
        elif alert and first is None:
            first = k
    if name in onset:
        k0 = int(onset[name] * d["sample_rate"] // W)
        assert first is not None and first - k0 < 3, (name, first, k0)
# the data plane and the offline tool judge the same windows; a score within BLAS rounding of
# its threshold (a row's rounding depends on its place in the batch) may flip one verdict
assert hw == q["healthy_windows"], (hw, q)
assert abs(fa - q["false_alarms"]) <= max(1, fa // 100), (fa, q)
assert q["recall"] == 1.0 and q["faulty_streams"] == 2, q
print(f"own_line: {hw} healthy windows, {fa} alerted, {sum(dropout.values())} dropout "
      f"windows not scored; both faults within 3 windows")
EOF

# 3b. Frames lost on the way (trial s20 H H1): frames of a healthy device left out of the
# recording, each in the middle of a window. The data plane drops the partial window at each
# gap (window_gaps) where linegate-quality starts a new segment: the same windows, and no
# alert from a window that joined the samples on both sides of a gap (one such window scored
# 80-250x the threshold before).
if [ "$DET" = mahalanobis ]; then
	dev=$(/usr/bin/python3 - "$T/line/line.pcap" "$T/line/gap.pcap" "$T/line/manifest.json" \
		"$T/line/labels.csv" "$W" <<'EOF'
import csv, json, struct, sys
src, dst, mf, labels, W = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3])), sys.argv[4], int(sys.argv[5])
faulty = {r["device"] for r in csv.DictReader(open(labels))}
d = [x for x in mf["devices"] if x["name"] not in faulty][0]
data = open(src, "rb").read()
out, off, cut = [data[:24]], 24, []
while off < len(data):
    incl = struct.unpack_from("<I", data, off + 8)[0]
    rec = data[off:off + 16 + incl]
    off += 16 + incl
    p = rec[16 + 14 + 20 + 8:]  # Ethernet, IPv4 without options, UDP
    if len(p) >= 40 and p[:2] == b"LG" and struct.unpack_from("<I", p, 4)[0] == d["id"]:
        n, seq = struct.unpack_from("<H", p, 16)[0], struct.unpack_from("<Q", p, 24)[0]
        # frames 300, 900, 1500 of the device, when not the first of a window
        if seq in (300, 900, 1500) and ((seq - 1) * n) % W:
            cut.append(seq)
            continue
    out.append(rec)
open(dst, "wb").write(b"".join(out))
assert len(cut) >= 2, cut
print(d["name"], len(cut))
EOF
) || lg_fail "the recording with gaps"
	name=${dev% *} ncut=${dev#* }
	rc=0
	timeout 120 "$LG_BIN_DP" -p "$T/line/run.yaml" -b "pcap:file=$T/line/gap.pcap" \
		-s "$T/gap.stats" -o "$T/gap.jsonl" 2> "$T/gap.err" || rc=$?
	[ $rc -eq 0 ] || lg_fail "gap: linegate exited with status $rc: $(tail -3 "$T/gap.err")"
	"$QUALITY" --model "$T/line/model.json" --from "$T/line/gap.pcap" --policy "$T/line/policy.yaml" \
		--labels "$T/line/labels.csv" --latency 3 --devices > "$T/gapq.out" 2> "$T/gapq.err" ||
		lg_fail "linegate-quality on the gaps: $(tail -3 "$T/gapq.err")"
	python3 - "$T/gap.jsonl" "$T/gap.stats" "$T/gapq.out" "$name" "$ncut" <<'EOF' ||
import json, re, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
st = json.load(open(sys.argv[2]))
name, ncut = sys.argv[4], int(sys.argv[5])
q = [l for l in open(sys.argv[3]) if l.startswith("device %s " % name)]
m = re.search(r"(\d+) healthy windows, +(\d+) false alarms", q[0])
qw, qfa = int(m.group(1)), int(m.group(2))
dev = [d for d in st["devices"] if d["name"] == name][0]
rows = [l for l in lines if l.get("name") == name and l["type"] in ("score", "alert")]
ch = len({l["channel"] for l in rows})
wins = len(rows) // ch
alerts = len({l["seq"] for l in rows if l["type"] == "alert"})
assert dev["window_gaps"] == ncut, (dev["window_gaps"], ncut)
assert dev["sequence"]["missing"] == ncut, dev["sequence"]
assert wins == qw, ("windows: data plane", wins, "linegate-quality", qw)
assert abs(alerts - qfa) <= 1, ("alerts", alerts, "quality", qfa)
print(f"own_line gaps: {name}: {ncut} frames lost, {dev['window_gaps']} partial windows "
      f"dropped, {wins} windows as linegate-quality, {alerts} alerted")
EOF
		lg_fail "the replay with gaps against linegate-quality"
fi

# validate must refuse POLICY (WHAT it is), saying PATTERN (grep)
refuses() {
	local rc=0 out="${1%.yaml}.validate"

	"$LG_BIN_CTL" validate "$1" > "$out" 2>&1 || rc=$?
	[ $rc -ne 0 ] || lg_fail "validate passed $2"
	grep -q "$3" "$out" || lg_fail "validate's reason: $(cat "$out")"
}
# MODEL (an edited copy of the line's model) signed anew, in a copy of the run's policy:
# prints that policy's path
signed_policy() {
	local y="${1%.json}.yaml"

	"$LG_BIN_CTL" sign "$T/sign.key" "$1" > /dev/null
	sed "s#^  model: .*#  model: $(basename "$1")#" "$T/line/run.yaml" > "$y"
	echo "$y"
}

# 4. Refusals. A window per device: a detector whose window is not the one its rows were made
# at (signed anew) is refused, the detector named.
if [ $REV = 1 ] && [ $SMOOTH = 1 ]; then
	python3 - "$T/line/model.json" "$T/line/model-w.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
e = m["detectors"][1]["model"]
e["window"] = 4096 if e["window"] != 4096 else 8192
json.dump(m, open(sys.argv[2], "w"))
EOF
	refuses "$(signed_policy "$T/line/model-w.json")" \
		"a detector whose window does not fit its rows" \
		"model-w.json: detectors\[1\] (device [^)]*): "
	# the policy's detection.window is the default's: another one is refused as before
	sed "s#^  window: .*#  window: 4096#" "$T/line/run.yaml" > "$T/line/run-4096.yaml"
	refuses "$T/line/run-4096.yaml" "a policy window other than the model's" \
		"trained on 2048-sample windows, the policy's detection.window is 4096"
fi
# The orders layout: a detector whose reference lines lost one (signed anew).
if [ ${#LAYOUT_ARGS[@]} -gt 0 ]; then
	python3 - "$T/line/model.json" "$T/line/model-o.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
m["detectors"][1]["model"]["order_ref"]["lines"].pop()
json.dump(m, open(sys.argv[2], "w"))
EOF
	refuses "$(signed_policy "$T/line/model-o.json")" \
		"a model whose order_ref does not fit its window" \
		"detectors\[1\] (device [^)]*): 'order_ref': 'lines' does not have the grid's length"
fi
# -imp10, -imp11: a detector whose "impact" lost floor_lines' speed and bands (signed anew)
# is refused, named
if [ $IMP -ge 10 ]; then
	python3 - "$T/line/model.json" "$T/line/model-f.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
i = m["detectors"][1]["model"]["impact"]
del i["floor_ref_speed_hz"], i["floor_bands_hz"]
json.dump(m, open(sys.argv[2], "w"))
EOF
	refuses "$(signed_policy "$T/line/model-f.json")" \
		"an -imp$IMP detector without floor_lines' fields" \
		"detectors\[1\] (device [^)]*): the orders96-time5-imp$IMP layout needs the detector's 'impact' with 'floor_ref_speed_hz'"
fi
# A device that claims another rate than its detector's:
python3 - "$T/line/run.yaml" "$T/line/bad-rate.yaml" <<'EOF'
import sys
t = open(sys.argv[1]).read()
t = t.replace("    name: l2s5-d001\n", "    name: l2s5-d001\n    sample_rate: 11111\n", 1)
open(sys.argv[2], "w").write(t)
EOF
refuses "$T/line/bad-rate.yaml" "a device whose sample_rate is not its detector's" \
	"device l2s5-d001 (id 20002) sends 11111 Hz"
# A device the model has no detector for:
python3 - "$T/line/run.yaml" "$T/line/extra.yaml" <<'EOF'
import sys
t = open(sys.argv[1]).read()
t += "  - id: 29999\n    name: newcomer\n    source: 10.77.0.9\n    keys:\n      - {id: 1, key_file: keys/l2s5-d000.key}\n"
open(sys.argv[2], "w").write(t)
EOF
refuses "$T/line/extra.yaml" "a device without a detector" \
	"no detector for device newcomer (id 29999)"
# A detector of another rate than the device's frames, signed: its frames are dropped.
python3 - "$T/line/model.json" "$T/line/model-r.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
for e in m["detectors"]:
    if e["devices"] == ["l2s5-d002"]:
        e["model"]["sample_rate"] += 1
json.dump(m, open(sys.argv[2], "w"))
EOF
replay rate "$(signed_policy "$T/line/model-r.json")"
# ... and said: the device, its frames' rate and the model's (the replay ends within the
# watch's round: said at exit; a watch round that saw only its first frame says "1 frame",
# and the lines after it "since the last line")
grep -q "linegate: device l2s5-d002 (id [0-9]*): [0-9]* frames\{0,1\} dropped as sample_rate\( since the last line\)\{0,1\}: its frames come at [0-9]* Hz, the model [^ ]* reads [0-9]* Hz, so none of its windows is scored" \
	"$T/rate.err" || lg_fail "no log line for the frames at another rate: $(grep -i "sample_rate\|device l2s5-d002" "$T/rate.err" | head -5)"
python3 - "$T/rate.stats" "$T/run.stats" <<'EOF' || lg_fail "sample_rate drops"
import json, sys
r = json.load(open(sys.argv[1]))
g = json.load(open(sys.argv[2]))
def dev(s, name):
    return [d for d in s["devices"] if d["name"] == name][0]
reasons = r["drops"]
want = dev(g, "l2s5-d002")["admitted"]
assert want > 0 and reasons["sample_rate"] == want, (reasons.get("sample_rate"), want)
# and by device: that one, no other
assert dev(r, "l2s5-d002")["sample_rate_drops"] == want
assert all(d["sample_rate_drops"] == 0 for d in r["devices"] if d["name"] != "l2s5-d002")
assert dev(r, "l2s5-d002")["windows"] == 0
assert dev(r, "l2s5-d000")["windows"] == dev(g, "l2s5-d000")["windows"]
print(f"own_line: {want} frames of l2s5-d002 dropped as sample_rate")
EOF
echo "own_line: passed"
