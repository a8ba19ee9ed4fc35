#!/usr/bin/env bash
# Live apply that never lies (issue 11), with XDP on the line and frames flowing:
# 1. a port change is start-only: refused whole, naming the field, and every frame sent
#    meanwhile is still admitted (it used to report success, then lose 100%);
# 2. detection.window + detection.model change together: the reply lists both, and the
#    healthy windows after it are scored by the new model (no alert; it used to keep the
#    old model and alert on every window);
# 3. output.jsonl changes while frames flow: new lines go to the new file, none lost, none
#    written twice.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgla$$"
T=$LG_TMP
D=$LG_SOURCE/control/defaults
lg_policy "$T/p1.yaml"
sed -i "s#^  jsonl: .*#  jsonl: $T/a.jsonl#" "$T/p1.yaml"
cp "$T/p1.yaml" "$T/policy.yaml"
# Start-only: the port.
sed 's/^port: 4739/port: 4740/' "$T/p1.yaml" > "$T/port.yaml"
# Window and model together, and the output to another file.
sed -e "s#^  window: 256 #  window: 2048#" -e "s#^  model: .*#  model: $D/model-2048.json#" \
	-e "s#^  jsonl: .*#  jsonl: $T/b.jsonl#" "$T/p1.yaml" > "$T/p2.yaml"
grep -q "window: 2048" "$T/p2.yaml" || lg_fail "p2.yaml has no new window"
sed "s#^  jsonl: .*#  jsonl: $T/c.jsonl#" "$T/p2.yaml" > "$T/p3.yaml"

dp_apply() { lg_dp_apply "$T/dp.sock" "$1"; }
send() {
	ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/p1.yaml" -t $SRV_IP -S $LINE_IP -q "$@"
}
stats_admitted() { lg_dp_stats "$T/s.json" && lg_json "$T/s.json" "d['admitted']"; }
# (a function, so lg_wait_for reads the counters again at every try)
admitted_is() { [ "$(stats_admitted)" = "$1" ]; }
admitted_at_least() { [ "$(stats_admitted)" -ge "$1" ]; }
wait_admitted() {
	local want=$1
	lg_wait_for 10 admitted_is "$want" || lg_fail "admitted $(stats_admitted) frames, want $want"
}

lg_bg ip netns exec "$NS_SRV" "$LG_BIN_DP" -p "$T/policy.yaml" -B $SRV_IP -c "$T/dp.sock" \
	-s "$T/stats.json" -x lg0
DP_PID=$!
lg_wait_for 5 test -S "$T/dp.sock" || lg_fail "linegate did not start"

# 1. Port change under load: refused, nothing lost.
send -n 400 -r 3200 -j "$T/sent1.json" &
GEN=$!
sleep 0.3
dp_apply "$T/port.yaml" > "$T/port.reply"
wait $GEN
grep -q "^error: port: 4739 -> 4740 is start-only: a running linegate cannot change it, and nothing was applied. To change it, edit the boot policy ($T/policy.yaml) and restart linegate" "$T/port.reply" ||
	lg_fail "port change: $(cat "$T/port.reply")"
wait_admitted "$(lg_json "$T/sent1.json" "d['enrolled']")"

# 2. Window and model as one generation (and the output moves to b.jsonl).
dp_apply "$T/p2.yaml" > "$T/p2.reply"
cat "$T/p2.reply"
python3 - "$T/p2.reply" "$D" "$T" <<'PY'
import json, sys
reply, d, t = sys.argv[1:]
from lgcheck import check, done
r = open(reply).read()
check("apply ok", r.startswith("ok: 8 devices, changes "), True)
ch = json.loads(r.split("changes ", 1)[1])
check("the changes, exactly", ch, [
    {"field": "detection.window", "class": "live", "old": "256", "new": "2048"},
    {"field": "detection.model", "class": "live", "old": d + "/model.json",
     "new": d + "/model-2048.json"},
    {"field": "output.jsonl", "class": "live", "old": t + "/a.jsonl", "new": t + "/b.jsonl"}])
done()
PY
# 2048-sample windows: 8 frames of 256 samples each; healthy machines, no fault injected.
send -n 400 --first-seq 401 -r 3200 -j "$T/sent2.json"
wait_admitted $(( $(lg_json "$T/sent1.json" "d['enrolled']") + $(lg_json "$T/sent2.json" "d['enrolled']") ))

# 3. The output file changes while frames flow: applied once an eighth of run 3 is in
# (not after a fixed sleep: on a loaded machine the whole run could be in before it), with
# 7 s of frames still to come (the apply goes through python3, whose start alone took 1.5-3 s
# on a loaded machine).
base=$(( $(lg_json "$T/sent1.json" "d['enrolled']") + $(lg_json "$T/sent2.json" "d['enrolled']") ))
send -n 800 --first-seq 801 -r 800 -j "$T/sent3.json" &
GEN=$!
lg_wait_for 10 admitted_at_least $((base + 800)) ||
	lg_fail "run 3: admitted $(stats_admitted), want at least $((base + 800)) before the apply"
dp_apply "$T/p3.yaml" > "$T/p3.reply"
wait $GEN
grep -q '^ok: 8 devices, changes \[{"field":"output.jsonl","class":"live","old":"'"$T"'/b.jsonl","new":"'"$T"'/c.jsonl"}\]$' "$T/p3.reply" ||
	lg_fail "output change: $(cat "$T/p3.reply")"
wait_admitted $(( $(lg_json "$T/sent1.json" "d['enrolled']") + $(lg_json "$T/sent2.json" "d['enrolled']") + $(lg_json "$T/sent3.json" "d['enrolled']") ))
sleep 0.3
kill -INT $DP_PID
wait $DP_PID || lg_fail "linegate exited with status $?"
LG_PIDS=""

python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
from lgcheck import check, done
st = json.load(open(t + "/stats.json"))
s1, s2, s3 = (json.load(open(f"{t}/sent{i}.json")) for i in (1, 2, 3))
a, b, c = ([json.loads(l) for l in open(f"{t}/{n}.jsonl")] for n in "abc")
check("admitted: every enrolled frame of the three runs", st["admitted"],
      s1["enrolled"] + s2["enrolled"] + s3["enrolled"])
check("applies: two", st["policy_applies"], 2)
# Phase 1: one 256-sample frame is one window, scored by model epoch 1 into a.jsonl.
check("a.jsonl: one line per frame of run 1", len(a), s1["enrolled"])
check("a.jsonl: model set 1 only", sorted({e["model_epoch"] for e in a}), [1])
# Phase 2: 400 frames a device -> 50 windows of 2048 samples, all by model set 2.
check("b.jsonl lines of run 2 (8 devices x 50 windows)",
      len([e for e in b if e["seq"] <= 800]), 8 * 50)
check("b.jsonl: model set 2 only", sorted({e["model_epoch"] for e in b}), [2])
check("alerts after the window + model swap (healthy machines)",
      len([e for e in b + c if e["type"] == "alert"]), 0)
check("thresholds after the swap: the 2048 model's",
      sorted({round(e["threshold"], 3) for e in b + c}) != sorted({round(e["threshold"], 3) for e in a}), True)
# Phase 3: 800 frames a device -> 100 windows each, split between b.jsonl and c.jsonl.
late = [(e["device"], e["channel"], e["seq"]) for e in b + c if e["seq"] > 800]
check("run 3 windows across b.jsonl and c.jsonl", len(late), 8 * 100)
check("run 3 windows written twice", len(late) - len(set(late)), 0)
check("c.jsonl got lines", len(c) > 0, True)
check("scored = lines written", st["scored"], len(a) + len(b) + len(c))
done()
PY
echo PASS
