#!/usr/bin/env bash
# What a model was trained on, said and kept (trial s20 H M1, M3):
#  1. linegate-train prints each device's channels with their rms and peak in the units it
#     read them: a 16-bit WAV as a fraction of full scale, times --scale (a model trained
#     without --scale judged a line of m/s^2 at 4096 times its amplitude, and nothing said
#     so);
#  2. the model records each detector's channel count ("channels"), and linegate-quality and
#     linegate-train --base refuse a device of another count, naming both;
#  3. the impact layouts' reference speed found at an edge of its search (0.95 x the lowest
#     set point) is said to be one (trial M2: 0.95 x the fans' speed, unflagged): a machine
#     at 31.7 Hz declared at 33.6 Hz; declared at 31.7 Hz, no word.
# Usage: train_levels.sh TRAIN QUALITY
set -u
train=$1 quality=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

/usr/bin/python3 - "$dir" <<'PY' || fail "making the WAV files"
import sys, wave
import numpy as np
d = sys.argv[1]
rng = np.random.default_rng(7)
n = 20480 * 12
t = np.arange(n) / 20480.0
def wav(path, chans):
    x = np.stack(chans, axis=1)
    w = wave.open(path, "wb")
    w.setnchannels(x.shape[1]); w.setsampwidth(2); w.setframerate(20480)
    w.writeframes(np.round(x * 32767).astype("<i2").tobytes())
    w.close()
a = 0.5 * np.sin(2 * np.pi * 31.7 * t) + 0.01 * rng.standard_normal(n)
b = 0.25 * np.sin(2 * np.pi * 63.4 * t) + 0.01 * rng.standard_normal(n)
wav(d + "/fanA.wav", [a, b])
wav(d + "/fanA1.wav", [a])
PY

# 1. the levels, without and with --scale 8
"$train" --from "$dir/fanA.wav" -w 2048 --min-windows 20 -o "$dir/m.json" > "$dir/out" \
	2> "$dir/err" || fail "train: $(tail -3 "$dir/err")"
"$train" --scale 8 --from "$dir/fanA.wav" -w 2048 --min-windows 20 -o "$dir/m8.json" \
	> "$dir/out8" 2> "$dir/err8" || fail "train --scale 8: $(tail -3 "$dir/err8")"
/usr/bin/python3 - "$dir/err" "$dir/err8" <<'PY' || fail "the levels: $(cat "$dir/err" "$dir/err8")"
import re, sys
for path, k in ((sys.argv[1], 1), (sys.argv[2], 8)):
    t = open(path).read()
    m = re.search(r"^linegate-train: fanA: 2 channels, rms (\S+) \(peak (\S+)\), (\S+) "
                  r"\(peak (\S+)\)$", t, re.M)
    assert m, t
    r0, p0, r1, p1 = map(float, m.groups())
    want = (0.5 / 2 ** 0.5 * k, 0.5 * k, 0.25 / 2 ** 0.5 * k, 0.25 * k)
    for got, w, tol in zip((r0, p0, r1, p1), want, (0.05, 0.25, 0.05, 0.25)):
        assert abs(got - w) < tol * w, (path, got, w)  # the peaks: noise on top
    assert "in the units the files were read in" in t, t
print("levels ok")
PY

# 2. "channels" recorded; another count refused by quality and --base
/usr/bin/python3 - "$dir/m.json" <<'PY' || fail "no channels in the model"
import json, sys
m = json.load(open(sys.argv[1]))
dets = m["detectors"] if "detectors" in m else [{"model": m}]
assert [d["model"].get("channels") for d in dets] == [2], dets
PY
printf 'device,kind,onset\n' > "$dir/labels.csv"
rc=0
"$quality" --model "$dir/m.json" --device fanA --from "$dir/fanA1.wav" --labels "$dir/labels.csv" \
	> "$dir/q.out" 2> "$dir/q.err" || rc=$?
[ $rc -ne 0 ] && grep -q "fanA: it has 1 channel, its detector was trained on 2" "$dir/q.err" ||
	fail "quality of a 1-channel fanA (status $rc): $(cat "$dir/q.err")"
rc=0
"$train" --device fanA --from "$dir/fanA1.wav" -w 2048 --min-windows 20 --base "$dir/m.json" \
	-o "$dir/m2.json" > "$dir/b.out" 2> "$dir/b.err" || rc=$?
[ $rc -ne 0 ] && grep -q "device fanA: the recording has 1 channel, its detector in --base .* was trained on 2" \
	"$dir/b.err" || fail "--base with a 1-channel fanA (status $rc): $(cat "$dir/b.err")"
# ... and of another sample rate (a file read at 25600 Hz for a detector of 20480 Hz)
rc=0
"$train" --device fanA --sample-rate 25600 --from "$dir/fanA.wav" -w 2048 --min-windows 20 \
	--base "$dir/m.json" -o "$dir/m3.json" > "$dir/r.out" 2> "$dir/r.err" || rc=$?
[ $rc -ne 0 ] && grep -q "device fanA: the recording is at 25600 Hz, its detector in --base .* was trained at 20480 Hz" \
	"$dir/r.err" || fail "--base with fanA at 25600 Hz (status $rc): $(cat "$dir/r.err")"
/usr/bin/python3 - "$dir/m.wav" <<'PY' || fail "making m.wav"
import sys, wave
import numpy as np
rng = np.random.default_rng(3)
fs = 20480; n = fs * 30
t = np.arange(n) / fs
f0 = 31.7
x = 0.25 * np.sin(2 * np.pi * f0 * t) + 0.15 * np.sin(4 * np.pi * f0 * t + 1) + \
    0.08 * np.sin(6 * np.pi * f0 * t + 2) + 0.1 * np.sin(14 * np.pi * f0 * t)
X = np.fft.rfft(rng.standard_normal(n))  # a resonance at 3.1 kHz, excited by noise
X *= 1.0 / (1 + ((np.fft.rfftfreq(n, 1 / fs) - 3100) / 200) ** 2)
r = np.fft.irfft(X, n)
x += 0.05 * r / np.std(r) + 0.02 * rng.standard_normal(n)
w = wave.open(sys.argv[1], "wb")
w.setnchannels(1); w.setsampwidth(2); w.setframerate(fs)
w.writeframes(np.round(x / 8 * 32767).astype("<i2").tobytes())
w.close()
PY
for sp in 31.7 33.6; do
	printf 'device,setpoints_hz,gear_teeth,balls,pitch_mm,ball_mm,contact_deg\nm,%s,0,9,39.04,7.94,0\n' \
		$sp > "$dir/np.csv"
	"$train" --scale 8 --from "$dir/m.wav" --detector knn --layout orders96-time5-imp10 \
		--nameplate "$dir/np.csv" -w 4096 --min-windows 20 -o "$dir/k.json" > "$dir/k.out" \
		2> "$dir/k.err" || fail "train at $sp Hz: $(tail -3 "$dir/k.err")"
	n=$(grep -c "warning: .*np.csv:2: device m: its reference speed, .* Hz, is the lower edge of its search (0.95 x its lowest set point, 33.6 Hz)" "$dir/k.err")
	[ "$sp" = 33.6 ] && want=1 || want=0
	[ "$n" = $want ] || fail "declared $sp Hz: $n edge warnings: $(grep reference "$dir/k.err")"
done
echo "train_levels: ok"
