#!/usr/bin/env bash
# PSI drift on the load generator's line (docs/models.md "Drift", the reference's floor):
# the loadgen's machines move between set points and loads every 20-120 s, so a block of
# psi_windows windows holds one or two operating points while the training reference holds
# all of them. Before the floor, replaying the very recording a model was trained on
# (4 devices, seed 2, 4000 windows each, psi_windows 1000) started PSI drift on 3 of the 4
# devices (conveyor-1-vib at window 1000, PSI 1.07).
#  1. linegate-train --from the recording: every detector's reference carries psi_floor
#     (one number >= 0 a feature, some > 0.25: the test has teeth) and psi_block 1000.
#  2. The same recording replayed: no PSI drift event over its whole length (4000 windows).
#  3. The same line with press-2-vib's gain x2 from frame 1500 (loadgen --gain): PSI drift
#     starts for press-2-vib only, within 2 x psi_windows of the change (by window 3500),
#     naming rms.
#  4. psi_windows 500 under a floor of 1000-window blocks: one log line says so.
# Loopback-free (pcap files, the pcap backend), no root.
source "$(dirname "$0")/lib.sh"
lg_tmp
T=$LG_TMP
TRAIN="$LG_BUILD/control/linegate-train"
lg_keys "$T"
# The default policy's first four devices (all LGF), this test's model, JSON lines out.
awk '/^  - id: 105/{exit} {print}' "$LG_SOURCE/control/defaults/policy.yaml" |
	sed -e "s#^  model: .*#  model: $T/model.json#" -e 's#^  jsonl: .*#  jsonl: "-"#' \
	> "$T/run.yaml"
# 4 devices x 10000 Hz / 256 samples = 156.25 frames/s: stamps at the samples' own pace
gen() {
	"$LG_BIN_GEN" -p "$T/run.yaml" -t 10.77.0.1 --pcap "$T/$1.pcap" -d 4 -n 4000 \
		-r 156.25 -q -s 2 "${@:2}" 2> "$T/$1.gen.err" ||
		lg_fail "loadgen $1: $(cat "$T/$1.gen.err")"
}
gen line
gen gain --gain 102:1500:2

# 1. Train on the whole recording.
"$TRAIN" --from "$T/line.pcap" --policy "$T/run.yaml" -o "$T/model.json" \
	--sign-key "$(lg_demo_key)" > "$T/train.out" \
	2> "$T/train.err" || lg_fail "linegate-train: $(tail -3 "$T/train.err")"
grep -q " 0 gaps," "$T/train.err" || lg_fail "the recording has gaps: $(cat "$T/train.err")"
python3 - "$T/model.json" <<'PY' || lg_fail "the model's PSI floor"
import json, sys
m = json.load(open(sys.argv[1]))
top = 0
for e in m["detectors"]:
    r = e["model"]["reference"]
    f = r["psi_floor"]
    assert r["psi_block"] == 1000, r["psi_block"]
    assert len(f) == len(r["edges"]) and min(f) >= 0, f
    top = max(top, max(f))
print(f"psi_floor: {len(m['detectors'])} detectors, the largest {top:.2f}")
sys.exit(0 if top > 0.25 else 1)
PY

# replay NAME: the pcap NAME replayed, the JSON lines in $T/NAME.jsonl
replay() {
	"$LG_BIN_DP" -p "$T/run.yaml" -b "pcap:file=$T/$1.pcap" > "$T/$1.jsonl" \
		2> "$T/$1.err" || lg_fail "linegate on $1.pcap: $(tail -3 "$T/$1.err")"
	grep -q "16000 received = 16000 admitted" "$T/$1.err" ||
		lg_fail "$1.pcap: not every frame admitted: $(grep summary "$T/$1.err")"
}

# 2. The training recording itself: no PSI drift.
replay line
python3 - "$T/line.jsonl" <<'PY' || lg_fail "PSI drift on the recording the model learnt"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
scored = sum(r["type"] == "score" for r in rows)
psi = [r for r in rows if r["type"] == "event" and r.get("method") == "psi"]
print(f"stationary: {scored} rows scored, PSI events {psi}")
sys.exit(0 if scored > 15000 and not psi else 1)
PY

# 3. A gain change: PSI drift for that device only, in time.
replay gain
python3 - "$T/gain.jsonl" <<'PY' || lg_fail "the gain change"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
psi = [r for r in rows if r["type"] == "event" and r.get("method") == "psi"]
got = [(r["name"], r["state"], r["windows"], sorted(r["features"])) for r in psi]
print("gain x2 on press-2-vib from window 1500: PSI events", got)
ok = (len(psi) == 1 and psi[0]["name"] == "press-2-vib" and psi[0]["state"] == "start"
      and 1500 < psi[0]["windows"] <= 3500 and "rms" in psi[0]["features"])
sys.exit(0 if ok else 1)
PY
# 4. A policy of shorter blocks than the floor was measured on: said when the model loads.
sed 's/^  model: .*/&\n  drift: {psi_windows: 500}/' "$T/run.yaml" > "$T/run500.yaml"
"$LG_BIN_DP" -p "$T/run500.yaml" -b "pcap:file=$T/line.pcap" > /dev/null 2> "$T/500.err" ||
	lg_fail "linegate, psi_windows 500: $(tail -3 "$T/500.err")"
grep -q "floor was measured on blocks of 1000 windows, and detection.drift.psi_windows is 500" \
	"$T/500.err" || lg_fail "no note of the shorter blocks: $(head -5 "$T/500.err")"
grep -q "floor was measured" "$T/line.err" && lg_fail "a note of shorter blocks at 1000"
echo "drift_loadgen: ok"
