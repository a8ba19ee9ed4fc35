#!/usr/bin/env bash
# drift_retrain_knn: tests/e2e/drift_retrain.sh's first part for a kNN model (the wide
# bands96-time5 row, linegate-train --detector knn): PSI drift -> bounded recording ->
# candidate -> approval. Page-Hinkley is held off (ph_lambda 1e6: on the kNN's scores its
# defaults also speak on a stationary line, docs/benchmarks.md) so that the PSI monitor,
# which the wide row now has, is what starts the retrain: l2s5-d001's sensor gain doubles
# from second 240 (window 1500), PSI drift at window 2000; linegated records 10 s of it,
# trains a candidate at nice 19 off the worker core (linegate-train --base takes the active
# model's kind: kNN), the candidate keeps l2s5-d000's detector as it was and has a new kNN
# for l2s5-d001 (with its reference), alarms on under 10% of the drifted windows where the
# active model alarms on more than half; a person approves it, audited.
. "$LG_SOURCE/tests/e2e/lib.sh"
lg_need_root
lg_tmp
T=$LG_TMP
"$LG_BIN_DP" --help | grep "^  pcap:" >/dev/null || lg_skip "this build has no pcap backend"
/usr/bin/python3 -c "import numpy" 2>/dev/null || lg_skip "/usr/bin/python3 has no numpy"
TRAIN="$LG_BUILD/control/linegate-train"
KEY=$LG_SOURCE/control/defaults/demo-signing.key
W=2048

/usr/bin/python3 "$LG_SOURCE/tests/line2/line2.py" make --seed 5 --devices 2 --faulty 0 \
	--seconds 120 --formats pcap --out "$T/line" -q || lg_fail "line2 could not make the line"
cp "$KEY" "$T/sign.key"
chmod 600 "$T/sign.key"
rc=0
"$TRAIN" --from "$T/line/line.pcap" --policy "$T/line/policy.yaml" --healthy-before 120 \
	-w $W --min-windows 100 --detector knn --sign-key "$T/sign.key" -o "$T/line/model.json" \
	> "$T/train.out" 2> "$T/train.err" || rc=$?
[ $rc -eq 0 ] || lg_fail "linegate-train: status $rc: $(tail -3 "$T/train.err")"
out=$(/usr/bin/python3 "$LG_SOURCE/tests/e2e/drift_line.py" "$T/line" "$T/line/line.pcap" \
	"$T/gain.pcap" 8 l2s5-d001 240 2) || lg_fail "drift_line.py"
[ "${out%% *}" = "960.0" ] || lg_fail "drift_line.py: $out"
mkdir -p "$T/rec" "$T/reg"
sed -e "s#^  model: .*#  model: model.json#" \
	-e "s#^  window: .*#  window: $W\n  drift: {psi_windows: 1000, ph_lambda: 1000000, retrain: {record_seconds: 10, min_windows: 100}}#" \
	-e "s#^  jsonl: .*#  jsonl: out.jsonl#" \
	-e "s#^  trusted_keys: .*#  trusted_keys: [$(cat "$LG_SOURCE/control/defaults/demo-signing.pub")]\n  registry: $T/reg#" \
	-e "s#^devices:#workers:\n  cores: [0]\nrecording:\n  dir: $T/rec\ndevices:#" \
	"$T/line/policy.yaml" > "$T/line/run.yaml"
rc=0
"$LG_BIN_CTL" validate "$T/line/run.yaml" > "$T/validate.out" 2>&1 || rc=$?
[ $rc -eq 0 ] || lg_fail "validate: $(cat "$T/validate.out")"

# A policy with retrain but no recording folder is refused at the retrain's line.
grep -v "^recording:\|^  dir: $T/rec" "$T/line/run.yaml" > "$T/line/norec.yaml"
rc=0
"$LG_BIN_CTL" validate "$T/line/norec.yaml" > "$T/validate.out" 2>&1 || rc=$?
line=$(grep -n "retrain" "$T/line/norec.yaml" | cut -d: -f1)
[ $rc -ne 0 ] && grep -q "norec.yaml:$line:[0-9]*: 'retrain' records the device whose data drifted" \
	"$T/validate.out" || lg_fail "no recording folder: rc $rc: $(cat "$T/validate.out")"

play() {
	lg_bg "$LG_BIN_DP" -p "$T/line/run.yaml" -b "pcap:file=$T/gain.pcap,pace=20" \
		-c "$T/dp.sock" -s "$T/$1.stats"
	DP_PID=$!
	lg_wait_for 5 test -S "$T/dp.sock" || lg_fail "linegate did not start"
}
play live
lg_bg "$LG_BIN_D" -p "$T/line/run.yaml" -S "$T/d.sock" -d "$T/dp.sock" \
	-a "$T/audit.jsonl" -s "$T/state" -i 100
D_PID=$!
lg_wait_for 5 test -S "$T/d.sock" || lg_fail "linegated did not start"
lg_wait_for 120 grep -q '"what":"retrain","result":"\(candidate\|failed\|refused\)"' \
	"$T/audit.jsonl" || lg_fail "no retrain result: $(grep retrain "$T/audit.jsonl")"
"$LG_BIN_CTL" --socket "$T/d.sock" status > "$T/status.json" || lg_fail "status"
cand=$(sed -n 's/.*"result":"candidate".*l2s5-d001: candidate \([^;]*\);.*/\1/p' "$T/audit.jsonl")
[ -n "$cand" ] || lg_fail "no candidate: $(grep retrain "$T/audit.jsonl")"
python3 - "$T/audit.jsonl" "$T/line/model.json" "$T/reg/candidates/$cand" "$T/status.json" \
	"$T/rec" <<'PY' || lg_fail "the retrain"
import glob, json, os, sys
audit, base, cdir, status, rec = sys.argv[1:]
a = [json.loads(l) for l in open(audit)]
rt = [x for x in a if x["what"] in ("retrain", "data_drift")]
got = [(x["what"], x["result"]) for x in rt]
assert got == [("data_drift", "started"), ("retrain", "recording"), ("retrain", "training"),
               ("retrain", "candidate")], got
assert rt[0]["detail"].startswith("device l2s5-d001 (id 20002): psi"), rt[0]
assert rt[1]["detail"].startswith("device l2s5-d001 (id 20002): psi drift: "
                                  "recording it for 10 s"), rt[1]
tr = rt[2]["detail"]
assert "nice 19, SCHED_IDLE" in tr and "worker cores 0" in tr, tr
cpus = tr.split("cpus ")[1].split(";")[0].split(",")
if os.cpu_count() > 1:
    assert "0" not in cpus, tr
files = sorted(glob.glob(rec + "/drift-*.pcapng"))
assert files and not glob.glob(rec + "/linegate-*"), os.listdir(rec)
assert f"on {len(files)} file(s)" in tr, (tr, files)
# The candidate: pending, l2s5-d000's detector as it was, a new one for l2s5-d001.
assert open(cdir + "/state").read() == "pending\n"
assert not os.path.exists(cdir + "/model.json.sig")
ev = json.load(open(cdir + "/evaluation.json"))
assert ev["devices"] == 1, ev
assert ev["reason"] == "psi drift on l2s5-d001: trained on the 10 s recorded after it", ev
c, act = ev["candidate"], ev["active"]
assert c["windows"] == act["windows"] >= 25, ev
assert act["rate"] > 0.5 and c["rate"] < 0.1, ev
old = json.load(open(base))
new = json.load(open(cdir + "/model.json"))
def det(m, name):
    for e in m["detectors"]:
        if name in e.get("devices", [e.get("name")]) or e["model"].get("name") == name:
            return e["model"]
    raise KeyError(name)
assert len(new["detectors"]) == 2, [e.keys() for e in new["detectors"]]
assert det(new, "l2s5-d000") == det(old, "l2s5-d000")
assert det(new, "l2s5-d001") != det(old, "l2s5-d001")
assert det(new, "l2s5-d001")["threshold"] != det(old, "l2s5-d001")["threshold"]
assert det(new, "l2s5-d001")["detector"] == "knn" and new["layout"] == "bands96-time5"
n1 = det(new, "l2s5-d001")
assert all(len(c["reference"]["edges"]) == len(new["feature_layout"])
           for c in n1.get("per_channel", [n1])), "the candidate's drift reference"
st = json.load(open(status))["retrain"]
assert st["phase"] == "idle" and st["jobs"] == 1 and st["candidates"] == 1, st
assert st["failed"] == 0 and st["last"].startswith("candidate: device l2s5-d001"), st
print(f"drift_retrain_knn: candidate {os.path.basename(cdir)} from {len(files)} file(s): "
      f"false alarms {c['rate']:.4f} vs active {act['rate']:.4f} on {c['windows']} windows")
PY
# Nothing was swapped by itself; a person approves it into the shadow.
grep -q '"shadow_model":""' "$T/status.json" || grep -vq shadow_model "$T/status.json" ||
	lg_fail "a shadow model before any approval: $(cat "$T/status.json")"
rc=0
"$LG_BIN_CTL" --socket "$T/d.sock" models approve "$cand" --key "$T/sign.key" \
	> "$T/approve.out" 2>&1 || rc=$?
[ $rc -eq 0 ] || lg_fail "approve: $(cat "$T/approve.out")"
lg_stop_linegate
grep -q '"what":"candidate_approve","result":"ok"' "$T/audit.jsonl" ||
	lg_fail "no approval audited: $(tail -3 "$T/audit.jsonl")"

echo "drift_retrain_knn: passed"
