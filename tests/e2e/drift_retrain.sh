#!/usr/bin/env bash
# drift_retrain: drift -> bounded recording -> candidate, with nobody at the keyboard
# (docs/models.md, "Retraining after drift"). A line2 line of two devices trains a model;
# the line is then played live at 20 x its pace with l2s5-d001's sensor gain doubled from
# second 240. With detection.drift.retrain in the policy, linegated:
#  - audits the Page-Hinkley drift of l2s5-d001, then "retrain" "recording": the data plane
#    records l2s5-d001 alone for record_seconds into <recording dir>/drift-*.pcapng;
#  - "training": linegate-train on those files at nice 19 and SCHED_IDLE, off the worker core
#    (workers.cores [0]: the trainer's CPUs exclude 0 when the machine has another);
#  - "candidate": in the registry's candidates/, pending. Its model keeps l2s5-d000's detector
#    exactly as the active model has it (--base) and has a new one for l2s5-d001, and its
#    evaluation shows the active model alarming on the drifted windows where the candidate
#    does not. A person approves it (shadow); nothing was swapped before that.
# Then: with a recording of one device already running (a command), the next drift is
# audited "refused" with the reason, and no trainer runs; with a recording of every device
# running (a line that records all the time), the retrain rides along: linegated cuts that
# recording at the drift and record_seconds later (record rotate), and the candidate is
# trained on the files between the cuts, the drifted device's frames alone; the recording
# goes on.
# With the argument knn: the first part for a kNN model (the wide bands96-time5 row,
# linegate-train --detector knn). Page-Hinkley is held off (ph_lambda 1e6: it would speak
# first, 3 windows after the change), so that the PSI monitor, which the wide row has,
# starts the retrain (gain x2 from window 1500, PSI drift at
# window 2000); the candidate is a kNN with its drift reference.
# With the argument recommended: the first part for the model docs/getting-started-own-line.md
# recommends (--detector knn --layout orders96-time5-imp10 --nameplate, --window rev6
# --shaft-hz, --smooth 2), whose retrain linegated runs with the same arguments as any other:
# the candidate's l2s5-d001 detector is fitted as the base's was, from what the base carries
# (its window, layout, set points and gear, the model's smoothing, the line's pooled g: docs/
# models.md "What a retrain keeps"), and is evaluated against the active model.
MODE=${1:-basic}
. "$LG_SOURCE/tests/e2e/lib.sh"
lg_need_root
lg_tmp
T=$LG_TMP
"$LG_BIN_DP" --help | grep "^  pcap:" >/dev/null || lg_skip "this build has no pcap backend"
/usr/bin/python3 -c "import numpy" 2>/dev/null || lg_skip "/usr/bin/python3 has no numpy"
TRAIN="$LG_BUILD/control/linegate-train"
KEY=$(lg_demo_key)
W=2048
# the drift settings and the monitor that speaks, per mode
DRIFT="psi_windows: 1000000" METHOD=page_hinkley KNN_TRAIN=() PACE=20
[ "$MODE" = knn ] && DRIFT="psi_windows: 1000, ph_lambda: 1000000" METHOD=psi KNN_TRAIN=(--detector knn)
if [ "$MODE" = recommended ]; then
	KNN_TRAIN=(--detector knn --layout orders96-time5-imp10 --nameplate "$T/nameplate.csv"
		--window rev6 --shaft-hz "$T/shaft_hz.csv" --smooth 2)
	# its trainer (the impact features at SCHED_IDLE) takes longer: under ASan on a loaded
	# machine the line had ended at x20, and the data plane with it, before the approval
	PACE=8
fi

/usr/bin/python3 "$LG_SOURCE/tests/line2/line2.py" make --seed 5 --devices 2 --faulty 0 \
	--seconds 120 --formats pcap --out "$T/line" -q || lg_fail "line2 could not make the line"
cp "$KEY" "$T/sign.key"
chmod 600 "$T/sign.key"
# recommended: what the operator declares of each machine (docs/getting-started-own-line.md),
# here from line2's manifest; the trainer never reads the manifest
/usr/bin/python3 "$LG_SOURCE/tests/line2/line2.py" declare --dir "$T/line" \
	--shaft-hz "$T/shaft_hz.csv" --nameplate "$T/nameplate.csv" || lg_fail "the nameplate"
rc=0
"$TRAIN" --from "$T/line/line.pcap" --policy "$T/line/policy.yaml" --healthy-before 120 \
	-w $W --min-windows 100 ${KNN_TRAIN[@]+"${KNN_TRAIN[@]}"} --sign-key "$T/sign.key" \
	-o "$T/line/model.json" \
	> "$T/train.out" 2> "$T/train.err" || rc=$?
[ $rc -eq 0 ] || lg_fail "linegate-train: status $rc: $(tail -3 "$T/train.err")"
out=$(/usr/bin/python3 "$LG_SOURCE/tests/e2e/drift_line.py" "$T/line" "$T/line/line.pcap" \
	"$T/gain.pcap" 8 l2s5-d001 240 2) || lg_fail "drift_line.py"
[ "${out%% *}" = "960.0" ] || lg_fail "drift_line.py: $out"
mkdir -p "$T/rec" "$T/reg"
sed -e "s#^  model: .*#  model: model.json#" \
	-e "s#^  window: .*#  window: $W\n  drift: {$DRIFT, retrain: {record_seconds: 10, min_windows: 100}}#" \
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
	lg_bg "$LG_BIN_DP" -p "$T/line/run.yaml" -b "pcap:file=$T/gain.pcap,pace=$PACE" \
		-c "$T/dp.sock" -s "$T/$1.stats"
	DP_PID=$!
	# the pcap backend reads the whole recording (156 208 records) before the control
	# socket opens: 3-5 s on a loaded 2-vCPU machine
	lg_wait_for 30 test -S "$T/dp.sock" || lg_fail "linegate did not start"
}
play live
lg_bg "$LG_BIN_D" -p "$T/line/run.yaml" -S "$T/d.sock" -d "$T/dp.sock" \
	-a "$T/audit.jsonl" -s "$T/state" -i 100
D_PID=$!
lg_wait_for 5 test -S "$T/d.sock" || lg_fail "linegated did not start"
# basic: the same model from the registry, under another name than its file's stem: the
# candidate is named after the registry name, so that approving it adds a version of the
# active model (it was named "model", after model.json, before 2026-12-06)
if [ "$MODE" = basic ]; then
	"$LG_BIN_CTL" --socket "$T/d.sock" model add press-line 1 "$T/line/model.json" \
		> "$T/add.out" 2>&1 || lg_fail "model add: $(cat "$T/add.out")"
	"$LG_BIN_CTL" --socket "$T/d.sock" model activate press-line@1 > "$T/act.out" 2>&1 ||
		lg_fail "model activate: $(cat "$T/act.out")"
fi
lg_wait_for 120 grep -q '"what":"retrain","result":"\(candidate\|failed\|refused\)"' \
	"$T/audit.jsonl" || lg_fail "no retrain result: $(grep retrain "$T/audit.jsonl")"
"$LG_BIN_CTL" --socket "$T/d.sock" status > "$T/status.json" || lg_fail "status"
cand=$(sed -n 's/.*"result":"candidate".*l2s5-d001: candidate \([^;]*\);.*/\1/p' "$T/audit.jsonl")
[ -n "$cand" ] || lg_fail "no candidate: $(grep retrain "$T/audit.jsonl")"
[ "$MODE" != basic ] || [ "${cand#press-line-}" != "$cand" ] ||
	lg_fail "candidate $cand: not named after the active registry model press-line@1"
python3 - "$T/audit.jsonl" "$T/line/model.json" "$T/reg/candidates/$cand" "$T/status.json" \
	"$T/rec" "$METHOD" "$MODE" <<'PY' || lg_fail "the retrain"
import glob, json, os, sys
audit, base, cdir, status, rec, method, mode = sys.argv[1:]
a = [json.loads(l) for l in open(audit)]
rt = [x for x in a if x["what"] in ("retrain", "data_drift")]
got = [(x["what"], x["result"]) for x in rt]
assert got == [("data_drift", "started"), ("retrain", "recording"), ("retrain", "training"),
               ("retrain", "candidate")], got
assert rt[0]["detail"].startswith("device l2s5-d001 (id 20002): " + method), rt[0]
assert rt[1]["detail"].startswith("device l2s5-d001 (id 20002): %s drift: "
                                  "recording it for 10 s" % method), rt[1]
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
assert ev["reason"].startswith("%s drift on l2s5-d001: trained on the 10 s recorded after it"
                               % method), ev
# ... and what the device's counters did meanwhile: the active model alarmed on the data the
# candidate learns from (trial T, s24: a poisoned candidate looked like any other)
import re
m = re.search(r"; while it was recorded: (\d+) alerts of the active model, (\d+) frames missing "
              r"from its sequence, (\d+) dropped \(a fault, or frames not the machine's", ev["reason"])
assert m and int(m.group(1)) > 0, ev["reason"]
c, act = ev["candidate"], ev["active"]
assert c["windows"] == act["windows"] >= 25, ev
# the one judge of --compare: the recording after the drift is one the active model never
# learnt from, so it is judged on every window the candidate is judged on, the same ones
assert "another data digest" in act["judged_on"], act
assert act["candidate_same_windows"] == {k: c[k] for k in act["candidate_same_windows"]}, ev
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
if mode == "recommended":
    # fitted as the base's was, from what the base carries; its own rows and thresholds
    n1, o1 = det(new, "l2s5-d001"), det(old, "l2s5-d001")
    assert new["format"] == old["format"] == "linegate-detectors-2", new["format"]
    assert new["smooth"] == old["smooth"] == 2 and new["layout"] == "orders96-time5-imp10"
    for k in ("detector", "layout", "window", "features", "feature_weights", "retrain"):
        assert n1[k] == o1[k], k
    assert n1["window"] != new["window"], "rev6 gave l2s5-d001 the policy's window"
    for k in ("gear_teeth", "bpfo", "bpfi"):
        assert n1["impact"][k] == o1["impact"][k], k
    assert n1["retrain"]["pooled_g"] == det(old, "l2s5-d000")["retrain"]["pooled_g"]
    assert len(n1["retrain"]["setpoints_hz"]) >= 1
    assert n1["train"] != o1["train"], "not fitted again"
if mode == "knn":
    assert det(new, "l2s5-d001")["detector"] == "knn" and new["layout"] == "bands96-time5"
    n1 = det(new, "l2s5-d001")
    assert all(len(c["reference"]["edges"]) == len(new["feature_layout"])
               for c in n1.get("per_channel", [n1])), "the candidate's drift reference"
st = json.load(open(status))["retrain"]
assert st["phase"] == "idle" and st["jobs"] == 1 and st["candidates"] == 1, st
assert st["failed"] == 0 and st["last"].startswith("candidate: device l2s5-d001"), st
print(f"drift_retrain {mode}: candidate {os.path.basename(cdir)} from {len(files)} file(s): "
      f"false alarms {c['rate']:.4f} vs active {act['rate']:.4f} on {c['windows']} windows")
PY
# Nothing was swapped by itself; a person approves it into the shadow.
grep -q '"shadow_model":""' "$T/status.json" || grep -vq shadow_model "$T/status.json" ||
	lg_fail "a shadow model before any approval: $(cat "$T/status.json")"
# Made by the retrain: listed so; its evaluation.json rewritten (better figures) is listed
# CHANGED and approve refuses it (trial X2, s26: a forged evaluation was approvable).
CTL_D() { "$LG_BIN_CTL" --socket "$T/d.sock" "$@"; }
lg_cands_listed CTL_D "$T/made.list" "^$cand *pending *retrain "
EVAL="$T/reg/candidates/$cand/evaluation.json"
cp "$EVAL" "$T/eval.orig"
python3 -c 'import json, sys; e = json.load(open(sys.argv[1])); e["candidate"]["rate"] = 0
json.dump(e, open(sys.argv[1], "w"))' "$EVAL" || lg_fail "could not rewrite $EVAL"
lg_cands_listed CTL_D "$T/forged.list" "^$cand *pending *CHANGED " "^made by CHANGED: "
lg_approve_refused CTL_D "$cand" "$T/sign.key" "$T/forged.out" "its evaluation.json is not the one linegated's retrain wrote"
cp "$T/eval.orig" "$EVAL"
rc=0
"$LG_BIN_CTL" --socket "$T/d.sock" models approve "$cand" --key "$T/sign.key" \
	> "$T/approve.out" 2>&1 || rc=$?
[ $rc -eq 0 ] || lg_fail "approve: $(cat "$T/approve.out")"
[ "$MODE" != basic ] || grep -q "in the registry as press-line@" "$T/approve.out" ||
	lg_fail "approved as another model than press-line: $(cat "$T/approve.out")"
lg_stop_linegate
grep -q '"what":"candidate_approve","result":"ok"' "$T/audit.jsonl" ||
	lg_fail "no approval audited: $(tail -3 "$T/audit.jsonl")"
[ "$MODE" != basic ] && { echo "drift_retrain $MODE: passed"; exit 0; }

# 2. A recording of one device already runs (an operator's): the drift's recording is
# refused, audited with the reason, and no trainer starts.
rm -f "$T/dp.sock" "$T/d.sock"
: > "$T/audit.jsonl"
play busy
lg_bg "$LG_BIN_D" -p "$T/line/run.yaml" -S "$T/d.sock" -d "$T/dp.sock" \
	-a "$T/audit.jsonl" -s "$T/state2" -i 100
D_PID=$!
lg_wait_for 5 test -S "$T/d.sock" || lg_fail "linegated did not start"
rc=0
"$LG_BIN_CTL" --socket "$T/d.sock" record start --device l2s5-d000 > "$T/rec.out" 2>&1 || rc=$?
[ $rc -eq 0 ] || lg_fail "record start: $(cat "$T/rec.out")"
lg_wait_for 60 grep -q '"what":"retrain","result":"refused"' "$T/audit.jsonl" ||
	lg_fail "no refusal: $(grep retrain "$T/audit.jsonl")"
sleep 1 # a trainer would have started by now
lg_stop_linegate
python3 - "$T/audit.jsonl" <<'PY' || lg_fail "the refused retrain"
import json, sys
rt = [json.loads(l) for l in open(sys.argv[1]) if '"retrain"' in l]
assert [x["result"] for x in rt] == ["refused"], rt
assert "a recording of some devices (origin command) runs" in rt[0]["detail"], rt
PY

# 3. A recording of every device runs: the retrain rides along.
rm -f "$T/dp.sock" "$T/d.sock"
rm -rf "$T/rec"/* "$T/reg/candidates"/*
: > "$T/audit.jsonl"
play all
lg_bg "$LG_BIN_D" -p "$T/line/run.yaml" -S "$T/d.sock" -d "$T/dp.sock" \
	-a "$T/audit.jsonl" -s "$T/state3" -i 100
D_PID=$!
lg_wait_for 5 test -S "$T/d.sock" || lg_fail "linegated did not start"
rc=0
"$LG_BIN_CTL" --socket "$T/d.sock" record start > "$T/rec.out" 2>&1 || rc=$?
[ $rc -eq 0 ] || lg_fail "record start (all): $(cat "$T/rec.out")"
lg_wait_for 120 grep -q '"what":"retrain","result":"\(candidate\|failed\|refused\)"' \
	"$T/audit.jsonl" || lg_fail "no retrain result (all): $(grep retrain "$T/audit.jsonl")"
"$LG_BIN_CTL" --socket "$T/d.sock" record status > "$T/recstat.json" 2>&1 ||
	lg_fail "record status: $(cat "$T/recstat.json")"
lg_stop_linegate
cand=$(sed -n 's/.*"result":"candidate".*l2s5-d001: candidate \([^;]*\);.*/\1/p' "$T/audit.jsonl")
[ -n "$cand" ] || lg_fail "no candidate (all): $(grep retrain "$T/audit.jsonl")"
python3 - "$T/audit.jsonl" "$T/reg/candidates/$cand" "$T/rec" "$T/recstat.json" \
	"$T/line/model.json" <<'PY' || lg_fail "the retrain along a recording of every device"
import glob, json, os, sys
audit, cdir, rec, recstat, base = sys.argv[1:]
rt = [json.loads(l) for l in open(audit) if '"retrain"' in l]
assert [x["result"] for x in rt] == ["recording", "training", "candidate"], rt
d = rt[0]["detail"]
assert "the recording of every device (origin command) goes on; its files from " in d, d
first = d.split("its files from ")[1].split(",")[0]
assert os.path.dirname(first) == rec and os.path.basename(first).startswith("linegate-"), first
files = sorted(f for f in glob.glob(rec + "/linegate-*.pcapng") if f >= first)
n = int(rt[1]["detail"].split(" on ")[1].split(" file(s)")[0])
assert n >= 1 and n <= len(files), (n, files)
assert not glob.glob(rec + "/drift-*"), os.listdir(rec)   # no recording of its own
st = json.load(open(recstat))["recording"]
assert st["state"] == "recording" and st["all_devices"], st  # the line's recording goes on
ev = json.load(open(cdir + "/evaluation.json"))
assert ev["devices"] == 1, ev                                  # --only-device
new, old = json.load(open(cdir + "/model.json")), json.load(open(base))
assert len(new["detectors"]) == 2
assert [e for e in new["detectors"] if "l2s5-d000" in json.dumps(e)] == \
       [e for e in old["detectors"] if "l2s5-d000" in json.dumps(e)]
print(f"drift_retrain: along the line's recording: candidate from {n} file(s), "
      f"false alarms {ev['candidate']['rate']:.4f} vs active {ev['active']['rate']:.4f}")
PY
echo "drift_retrain: passed"
