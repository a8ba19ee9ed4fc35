#!/usr/bin/env bash
# linegate-train --compare judges the model now active as it judges the candidate: on
# windows neither learnt from (docs/models.md "Training on your own line", --compare).
#  1. Two identical models (trained alike on the same recording): the active one learnt
#     from every held-back window of the candidate (same data digest, trained_until at the
#     recording's end), so no figure is printed for it, and evaluation.json says why
#     (before 2026-12-06 it was judged in-sample: a trial gave 0.201% against the
#     candidate's cross-fitted 0.402% for identical models; that figure is refused here).
#  2. A model trained on the first half (--healthy-before) and a candidate trained alike on
#     the second half (--healthy-range) of a stationary line: the same model twice, judged
#     on the very same windows, the candidate's held-back windows after the active model's
#     trained_until; their rates agree within each other's 95% interval.
#  3. A model with another data digest (another recording of the line): judged on all of
#     the candidate's held-back windows, the candidate's own count on them its expectation's.
# Usage: train_compare.sh TRAIN
set -u
train=$1
src=${LG_SOURCE:-.}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
/usr/bin/python3 -c "import numpy" 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no numpy"; exit 77; }

# A stationary line (numpy): 8 machines, a shaft line, its third harmonic and noise, 480 s at
# 12800 Hz (int16), so that a model of its first half is the same model as one of its second
# (1500 windows a device a half: the pooled 0.1% quantile needs thousands); and another
# recording of it (other noise: another data digest).
/usr/bin/python3 - "$dir" <<'PY' || fail "the recordings"
import numpy as np, sys
fs, d = 12800, sys.argv[1]
for rec, secs, seed in (("l", 480, 5), ("m", 240, 6)):
    rng = np.random.default_rng(seed)
    t = np.arange(fs * secs) / fs
    for i, f in enumerate((23.0, 31.0, 47.0, 59.0, 17.0, 71.0, 37.0, 43.0)):
        x = np.sin(2 * np.pi * f * t) + 0.3 * np.sin(6 * np.pi * f * t + i)
        x += 0.2 * rng.standard_normal(t.size)
        np.save("%s/%s%d.npy" % (d, rec, i), np.round(x * 8000).astype(np.int16))
PY
from() { local a=() i; for i in 0 1 2 3 4 5 6 7; do a+=(--device "d$i" --from "$dir/$1$i.npy"); done; echo "${a[@]}"; }
K=(--sample-rate 12800 --scale 0.000125 -w 2048 --min-windows 20 --detector knn)
P=("${K[@]}" $(from l))

# evaluation.json of the one candidate in DIR, as Python's dict d
ev() { /usr/bin/python3 - "$1" "$2" <<'PY'
import glob, json, sys
(f,) = glob.glob(sys.argv[1] + "/*/evaluation.json")
d = json.load(open(f))
exec(sys.argv[2])
PY
}

# 1. identical models
"$train" "${P[@]}" --healthy-before 480 -o "$dir/a.json" > /dev/null 2> "$dir/a.err" ||
	fail "active model: $(cat "$dir/a.err")"
"$train" "${P[@]}" --healthy-before 480 --candidate-dir "$dir/c1" --compare "$dir/a.json" \
	--name line > "$dir/c1.out" 2> "$dir/c1.err" || fail "candidate 1: $(cat "$dir/c1.err")"
cmp -s <(/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["detectors"])' "$dir/a.json") \
	<(/usr/bin/python3 -c 'import json,sys,glob; d=json.load(open(glob.glob(sys.argv[1]+"/*/model.json")[0])); print(d["detectors"])' "$dir/c1") ||
	fail "the two models are not identical"
grep -q "the model now active (.*a.json): not compared: .*a.json learnt from these very samples (the same data digest) up to 480.000 s (its trained_until)" \
	"$dir/c1.out" || fail "identical models: $(cat "$dir/c1.out")"
ev "$dir/c1" '
a = d["active"]
assert "rate" not in a and "false_alarms" not in a, ("a biased figure", a)
assert "learnt from these very samples" in a["not_judged"], a
assert a["model"].endswith("a.json"), a
' || fail "evaluation of identical models"

# 2. the first half against a candidate of the second half: the same windows, both held out
"$train" "${P[@]}" --healthy-before 240 -o "$dir/h.json" > /dev/null 2> "$dir/h.err" ||
	fail "first half: $(cat "$dir/h.err")"
"$train" "${P[@]}" --healthy-range 240:480 --candidate-dir "$dir/c2" --compare "$dir/h.json" \
	--name line > "$dir/c2.out" 2> "$dir/c2.err" || fail "candidate 2: $(cat "$dir/c2.err")"
grep -q "^the model now active (.*h.json) on the same held-back windows as the candidate, the [0-9]* neither learnt from: .*; judged on: the candidate's held-back windows from 240.000 s on" \
	"$dir/c2.out" || fail "halves: $(cat "$dir/c2.out")"
ev "$dir/c2" '
a, c = d["active"], d["active"]["candidate_same_windows"]
assert a["windows"] == c["windows"] > 5000, (a, c)
# the same windows: the candidate on them is its whole held-back expectation here
assert c["windows"] == d["candidate"]["windows"], (c, d["candidate"])
# equal within the interval: each rate inside the other one`s 95% interval
assert a["rate_lo"] <= c["rate"] <= a["rate_hi"] and c["rate_lo"] <= a["rate"] <= c["rate_hi"], (a, c)
' || fail "evaluation of the halves: $(cat "$dir/c2/"*/evaluation.json)"

# 3. another recording's model: every held-back window of the candidate
"$train" "${K[@]}" $(from m) --healthy-before 240 -o "$dir/o.json" > /dev/null 2> "$dir/o.err" ||
	fail "other recording: $(cat "$dir/o.err")"
"$train" "${P[@]}" --healthy-before 480 --candidate-dir "$dir/c3" --compare "$dir/o.json" \
	--name line > "$dir/c3.out" 2> "$dir/c3.err" || fail "candidate 3: $(cat "$dir/c3.err")"
ev "$dir/c3" '
a = d["active"]
assert "another data digest" in a["judged_on"], a
assert a["windows"] == d["candidate"]["windows"] == a["candidate_same_windows"]["windows"], a
assert a["candidate_same_windows"]["false_alarms"] == d["candidate"]["false_alarms"], a
' || fail "evaluation against another recording: $(cat "$dir/c3/"*/evaluation.json)"
echo "PASS: train_compare"
