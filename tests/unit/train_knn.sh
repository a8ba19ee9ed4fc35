#!/usr/bin/env bash
# linegate-train --detector knn on a line2 recording (issue 8): a per-device model of kNN
# detectors on the bands96-time5 row (77 features at 2048, time features weighted 16, at most
# 128 kept rows per channel, dropout_run 16; a device of several channels has a detector per
# channel) and its drift reference (per channel), one pooled line-wide threshold for several devices (each channel normalised on
# its own) and the tail model for one; linegate-quality judges it from the same files; the
# knn kind is refused where it cannot work.
# Usage: train_knn.sh TRAIN QUALITY
set -u
train=$1
quality=$2
src=${LG_SOURCE:-.}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

/usr/bin/python3 "$src/tests/line2/line2.py" make --seed 5 --devices 6 --faulty 6 \
	--seconds 40 --fault-at 30 --formats wav --out "$dir/line" -q || fail "line2"
args=()
for f in "$dir"/line/wav/*.wav; do args+=(--from "$f"); done
"$train" "${args[@]}" --labels "$dir/line/labels.csv" -w 2048 --min-windows 50 \
	--detector knn -o "$dir/knn.json" > "$dir/train.out" 2> "$dir/train.err" ||
	{ cat "$dir/train.err"; fail "train knn"; }
grep -q "pooled threshold: .* of 6 devices" "$dir/train.err" || fail "no pooled threshold"
grep -q "^sensor dropout windows (16 equal samples) neither trained on nor judged: " \
	"$dir/train.out" || fail "dropout windows not reported"
grep -q "^expected false alarms per window: " "$dir/train.out" || fail "no expectation"
/usr/bin/python3 - "$dir/knn.json" "$dir/line/manifest.json" <<'PY' || fail "the kNN model file"
import json, sys
m = json.load(open(sys.argv[1]))
chans = {d["name"]: d["channels"] for d in json.load(open(sys.argv[2]))["devices"]}
multi = 0
assert m["format"] == "linegate-detectors" and m["window"] == 2048, m["format"]
assert m["layout"] == "bands96-time5" and len(m["feature_layout"]) == 77
assert m["feature_layout"][72:] == ["log_ms", "ln_kurtosis", "ln_kurtosis_hp", "ln_crest",
                                   "log_ms_hp"]
assert len(m["detectors"]) == 6
for e in m["detectors"]:
    d = e["model"]
    assert d["detector"] == "knn" and d["features"] == 77 and d["layout"] == "bands96-time5"
    assert d["dropout_run"] == 16
    assert d["feature_weights"] == [1.0] * 72 + [16.0] * 5
    # 128 kept rows per channel at most (these recordings hold fewer: all kept)
    assert 1 <= d["neighbours"] <= 2 * 128 and len(d["train"]) == 77 * d["neighbours"]
    assert all(s > 0 for s in d["sd"]) and d["threshold"] > 0
    assert "weights" not in d
    # the drift reference (PSI): the deciles of each of the 77 features, the detector's own
    # for one channel, else each channel's in its detector (and none of the detector's own)
    def ref_ok(r):
        return (len(r["edges"]) == 77 and len(r["fractions"]) == 77 and
                all(len(x) == 9 for x in r["edges"]) and
                all(len(x) == 10 and abs(sum(x) - 1) < 1e-9 for x in r["fractions"]))
    # a device of several channels: a detector per channel (its own standardisation, kept
    # rows and threshold), the first one's fields also the detector's own
    ch = chans[e["devices"][0]]
    if ch == 1:
        assert "per_channel" not in d and ref_ok(d["reference"])
        continue
    assert "reference" not in d
    assert all(ref_ok(c["reference"]) for c in d["per_channel"])
    multi += 1
    pc = d["per_channel"]
    assert len(pc) == ch, (len(pc), ch)
    for c in pc:
        assert c["detector"] == "knn" and c["features"] == 77 and c["threshold"] > 0
        assert 1 <= c["neighbours"] <= 128 and len(c["train"]) == 77 * c["neighbours"]
        assert "per_channel" not in c
    assert pc[0]["mean"] == d["mean"] and pc[0]["threshold"] == d["threshold"]
    assert pc[0]["sd"] == d["sd"] and pc[0]["train"] == d["train"]
    assert pc[1]["mean"] != pc[0]["mean"], "channels standardised alike"
assert multi >= 1, "no device of several channels in the recording"
PY
# One device alone: the tail model, no pooled threshold.
"$train" "${args[0]}" "${args[1]}" --healthy-before 30 -w 2048 --min-windows 50 \
	--detector knn -o "$dir/one.json" > /dev/null 2> "$dir/one.err" || fail "train one"
grep -q "pooled threshold" "$dir/one.err" && fail "one device got the pooled threshold"
# linegate-quality reads the model's layout and leaves dropout windows unscored.
"$quality" --model "$dir/knn.json" "${args[@]}" --labels "$dir/line/labels.csv" \
	> "$dir/q.out" 2> "$dir/q.err" || { cat "$dir/q.err"; fail "quality"; }
/usr/bin/python3 - "$dir/q.out" <<'PY' || fail "quality's result"
import json, sys
q = json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][-1])
assert q["faulty_streams"] == 6, q
assert q["recall"] >= 0.5, q
assert q["false_alarm_rate"] < 0.02, q
PY
# Refused: knn from simulated machines, or through statistics.
"$train" --detector knn -m 2 -n 20 -o "$dir/x.json" 2> "$dir/err"
[ $? -eq 2 ] || fail "knn from simulated machines accepted"
grep -q "trained on recordings" "$dir/err" || fail "knn refusal does not say why"
"$train" "${args[@]}" --detector knn --stats-out "$dir/s.json" 2> /dev/null
[ $? -eq 2 ] || fail "knn with --stats-out accepted"
echo "train_knn: ok"
