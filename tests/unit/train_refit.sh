#!/usr/bin/env bash
# linegate-train --base MODEL --only-device NAME (what linegated runs after drift, docs/models.md
# "Retraining after drift") on the model docs/getting-started-own-line.md recommends (--detector
# knn --layout orders96-time5-imp10 --nameplate, --window rev6 --shaft-hz, --smooth 2): a line2
# line of three devices trains it; the retrain, given only what linegated gives, fits the
# device's detector again as the base was trained, from what the base carries ("retrain": the
# line's pooled g and the device's set points; its window, layout and smoothing):
#  - on the same recording, the device's new detector is the base's, field for field (the same
#    windows, reference lines, impact fit, kept rows and thresholds: median + g (q90 - median)
#    with the base's g), and the other devices' detectors are the base's, unchanged;
#  - on part of it (--healthy-range), a detector of its own whose every channel's threshold is
#    q50 + g (q90 - q50) of its calibration scores with the base's g, at the base's window,
#    layout, smoothing, set points and gear;
#  - refused, with what is missing named: a base from before "retrain" (no g, no set points);
#    and options that contradict the base (--smooth, --layout, --window revR, --nameplate).
# Usage: train_refit.sh TRAIN
set -u
train=$1
src=${LG_SOURCE:-.}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
/usr/bin/python3 -c "import numpy" 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no numpy"; exit 77; }

/usr/bin/python3 "$src/tests/line2/line2.py" make --seed 5 --devices 3 --faulty 0 \
	--seconds 40 --formats pcap --out "$dir/line" -q || fail "line2"
# what the operator declares (docs/getting-started-own-line.md), here from line2's manifest
/usr/bin/python3 "$src/tests/line2/line2.py" declare --dir "$dir/line" \
	--shaft-hz "$dir/shaft_hz.csv" --nameplate "$dir/nameplate.csv" || fail "line2 declare"
from=(--from "$dir/line/line.pcap" --policy "$dir/line/policy.yaml")
"$train" "${from[@]}" --healthy-before 40 -w 2048 --window rev6 --shaft-hz "$dir/shaft_hz.csv" \
	--smooth 2 --detector knn --layout orders96-time5-imp10 --nameplate "$dir/nameplate.csv" \
	--min-windows 20 -o "$dir/base.json" > "$dir/base.out" 2> "$dir/base.err" ||
	{ cat "$dir/base.err"; fail "the recommended model"; }
# what linegated gives the trainer (control/retrain.c), nothing more
retrain() {
	local out=$1
	shift
	"$train" "${from[@]}" -w 2048 --min-windows 20 --only-device l2s5-d001 "$@" \
		-o "$out" > "${out%.json}.out" 2> "${out%.json}.err"
}
retrain "$dir/same.json" --base "$dir/base.json" || { cat "$dir/same.err"; fail "retrain"; }
retrain "$dir/part.json" --base "$dir/base.json" --healthy-range 0:25 ||
	{ cat "$dir/part.err"; fail "retrain on part"; }
grep -q "pooled threshold: the base model's line g = " "$dir/part.err" ||
	fail "no g from the base: $(cat "$dir/part.err")"
/usr/bin/python3 - "$dir" <<'PY' || fail "the retrained models"
import json, re, struct, sys
d = sys.argv[1]
base, same, part = (json.load(open(f"{d}/{n}.json")) for n in ("base", "same", "part"))
man = {x["name"]: x for x in json.load(open(f"{d}/line/manifest.json"))["devices"]}
def dets(m):
    return {e["devices"][0]: e["model"] for e in m["detectors"]}
b, s, p = dets(base), dets(same), dets(part)
f32 = lambda x: struct.unpack("f", struct.pack("f", x))[0]
# the base carries what a retrain needs: one g for the line, each device's set points
g = b["l2s5-d001"]["retrain"]["pooled_g"]
assert len(b) == 3 and all(x["retrain"]["pooled_g"] == g for x in b.values()), b.keys()
for n, x in b.items():
    assert x["retrain"]["setpoints_hz"] == man[n]["physics"]["setpoints_hz"], n
    assert "retrain" not in x["per_channel"][0], "a channel's detector carries it"
assert len({x["window"] for x in b.values()}) > 1, "one window for all: pick another seed"
for m in (same, part):
    assert m["format"] == base["format"] == "linegate-detectors-2", m["format"]
    assert m["smooth"] == 2 and m["layout"] == "orders96-time5-imp10" and m["window"] == 2048
    got = dets(m)
    assert sorted(got) == sorted(b), got.keys()
    # the other devices: the base's, unchanged
    for n in ("l2s5-d000", "l2s5-d002"):
        assert json.dumps(got[n], sort_keys=True) == json.dumps(b[n], sort_keys=True), n
# the same recording: the device's detector fitted again is the base's, field for field
assert json.dumps(s["l2s5-d001"], sort_keys=True) == json.dumps(b["l2s5-d001"], sort_keys=True), \
    [k for k in b["l2s5-d001"] if b["l2s5-d001"][k] != s["l2s5-d001"].get(k)]
# part of it: its own fit, as the base was fitted, with the base's g
n, o = p["l2s5-d001"], b["l2s5-d001"]
for k in ("detector", "layout", "window", "features", "feature_weights", "dropout_run",
          "sample_rate", "retrain"):
    assert n[k] == o[k], k
for k in ("gear_teeth", "bpfo", "bpfi"):
    assert n["impact"][k] == o["impact"][k], k
assert n["train"] != o["train"] and n["threshold"] != o["threshold"], "not fitted again"
err = open(f"{d}/part.err").read()
units = re.findall(r"l2s5-d001 channel (\d+): median (\S+), q90 (\S+) of (\d+) held-back "
                   r"windows, threshold (\S+)", err)
assert len(units) == len(n["per_channel"]) == man["l2s5-d001"]["channels"], units
for c, q50, q90, ncal, t in units:
    c, q50, q90 = int(c), float(q50), float(q90)
    want = f32(q50 + g * (q90 - q50 + 1e-9))
    thr = n["per_channel"][c]["threshold"]
    assert abs(thr - want) <= 1e-6 * want and abs(float(t) - thr) <= 1e-6 * thr, (c, thr, want)
assert n["threshold"] == n["per_channel"][0]["threshold"]
print(f"train_refit: g = {g:.6g}; l2s5-d001 at {n['window']} samples, thresholds "
      f"{[round(c['threshold'], 4) for c in n['per_channel']]} (base "
      f"{[round(c['threshold'], 4) for c in o['per_channel']]})")
PY

# refused: a base from before "retrain" names what it lacks; with --nameplate, only the g
/usr/bin/python3 - "$dir/base.json" "$dir/old.json" "$dir/bad.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
for e in m["detectors"]:
    del e["model"]["retrain"]
json.dump(m, open(sys.argv[2], "w"))
m = json.load(open(sys.argv[1]))
m["detectors"][0]["model"]["retrain"]["setpoints_hz"] = []
json.dump(m, open(sys.argv[3], "w"))
PY
refused() { # WHAT PATTERN ARGS...: the retrain exits 1 (2: an option) saying PATTERN
	local what=$1 pat=$2 rc=0
	shift 2
	retrain "$dir/no.json" "$@" || rc=$?
	[ $rc -ne 0 ] && [ ! -e "$dir/no.json" ] || fail "$what: accepted (rc $rc)"
	grep -q -- "$pat" "$dir/no.err" || fail "$what: $(cat "$dir/no.err")"
}
refused "an old base" "device l2s5-d001's detector has no 'pooled_g' (the line's g: .*) and \
'setpoints_hz' (the orders96-time5-imp10 layout's set points: or give --nameplate FILE)" \
	--base "$dir/old.json"
grep -q "train the whole line again" "$dir/no.err" || fail "old base: no way out said"
refused "an old base with --nameplate" "device l2s5-d001's detector has no 'pooled_g' (.*) in" \
	--base "$dir/old.json" --nameplate "$dir/nameplate.csv"
grep -q "setpoints_hz" "$dir/no.err" && fail "set points named though --nameplate gives them"
refused "a bad retrain field" "'retrain' must be {\"pooled_g\": a number" --base "$dir/bad.json"
refused "--smooth 3" "--smooth 3: --base .* a retrain keeps the base's smoothing" \
	--base "$dir/base.json" --smooth 3
refused "--layout" "the rows of --base .* are orders96-time5-imp10: a retrain keeps" \
	--base "$dir/base.json" --layout orders96-time5-imp9
refused "--window rev12" "device l2s5-d001: --window rev12 gives .* a retrain keeps the base's window" \
	--base "$dir/base.json" --window rev12 --shaft-hz "$dir/shaft_hz.csv"
sed 's/^\(l2s5-d001,[^,]*\),\([0-9]*\),/\1,7,/' "$dir/nameplate.csv" > "$dir/other.csv"
cmp -s "$dir/nameplate.csv" "$dir/other.csv" && fail "the nameplate was not changed"
refused "another gear" "other.csv:3: device l2s5-d001: the set points, gear teeth or bearing differ" \
	--base "$dir/base.json" --nameplate "$dir/other.csv"
# the options of the first training, given again, agree: the same candidate
retrain "$dir/again.json" --base "$dir/base.json" --window rev6 --shaft-hz "$dir/shaft_hz.csv" \
	--smooth 2 --layout orders96-time5-imp10 --nameplate "$dir/nameplate.csv" ||
	{ cat "$dir/again.err"; fail "the same options given again"; }
/usr/bin/python3 -c "
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
a.pop('name'); b.pop('name')
assert a == b
" "$dir/same.json" "$dir/again.json" || fail "the options given again changed the candidate"
echo "ok: linegate-train --base refits the recommended model's device"
