#!/usr/bin/env bash
# What a new user's trial of docs/getting-started-own-line.md found (issue 8), each case
# failing without its fix:
#  - a model records the end of the windows it learnt from (trained_until); linegate-quality
#    refuses --after S before it on the same data (--judge-trained judges anyway), judges
#    after it, and still loads a model without it;
#  - a wrong --sample-rate for .npy files moves the impact layout's reference speed off every
#    set point: refused, saying the rate is the likely cause;
#  - a candidate whose --compare fails leaves no folder behind;
#  - --only-device with the line's labels: rows of the recording's other devices are taken;
#    a row of a device the recording lacks is refused with FILE:LINE;
#  - the trainer's messages: -w against the policy's detection.window, a nameplate set point
#    that is no number, a pcap file cut short (refused unless --allow-cut, said with
#    "linegate-train:" and how many whole records there are), a damaged one (no cut=stop).
# Usage: train_trial.sh TRAIN QUALITY
set -u
train=$1
quality=$2
src=${LG_SOURCE:-.}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
/usr/bin/python3 -c "import numpy" 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no numpy"; exit 77; }

/usr/bin/python3 "$src/tests/line2/line2.py" make --seed 7 --devices 3 --faulty 1 --seconds 40 \
	--fault-at 30 --formats pcap,npy --out "$dir/l" -q || fail "line2"
L=$dir/l
P=(--from "$L/line.pcap" --policy "$L/policy.yaml")

# 1. trained_until, and the judge's refusal to call trained windows held out.
"$train" "${P[@]}" --labels "$L/labels.csv" -w 2048 --min-windows 20 -o "$dir/lab.json" \
	> /dev/null 2> "$dir/lab.err" || fail "train --labels: $(cat "$dir/lab.err")"
"$train" "${P[@]}" --healthy-before 20 -w 2048 --min-windows 20 -o "$dir/hb.json" \
	> /dev/null 2> "$dir/hb.err" || fail "train --healthy-before: $(cat "$dir/hb.err")"
grep -q "trained on windows up to 20.000 s -> " "$dir/hb.err" || fail "hb: $(cat "$dir/hb.err")"
/usr/bin/python3 - "$dir/lab.json" "$dir/hb.json" <<'PY' || fail "trained_until in the models"
import json, sys
lab, hb = (json.load(open(f)) for f in sys.argv[1:])
# --labels: every healthy window, to the end of the 40 s recording (the healthy devices')
assert abs(lab["trained_until"] - 40.0) < 0.2, lab["trained_until"]
# --healthy-before 20: the last window ending by 20 s
assert 19.5 < hb["trained_until"] <= 20.0, hb["trained_until"]
PY
rc=0
"$quality" --model "$dir/lab.json" "${P[@]}" --labels "$L/labels.csv" --after 20 \
	> "$dir/q.out" 2> "$dir/q.err" || rc=$?
[ $rc -eq 1 ] || fail "judging trained windows as held out: status $rc"
grep -q "lab.json: --after 20: the model learnt from these very samples (same data digest) up to 40.000 s" \
	"$dir/q.err" || fail "refusal: $(cat "$dir/q.err")"
grep -q "^healthy windows" "$dir/q.out" && fail "refused, yet judged"
"$quality" --model "$dir/lab.json" "${P[@]}" --labels "$L/labels.csv" --after 20 \
	--judge-trained > "$dir/q.out" 2> "$dir/q.err" || fail "--judge-trained: $(cat "$dir/q.err")"
grep -q "WARNING: --judge-trained: the false alarms below include windows the model learnt from" \
	"$dir/q.err" && grep -q "^healthy windows" "$dir/q.out" || fail "judge-trained: $(cat "$dir/q.err")"
"$quality" --model "$dir/hb.json" "${P[@]}" --labels "$L/labels.csv" --after 20 \
	> "$dir/q.out" 2> "$dir/q.err" || fail "held out: $(cat "$dir/q.err")"
grep -q "learnt from" "$dir/q.err" && fail "held out, yet warned: $(cat "$dir/q.err")"
grep -q "^healthy windows" "$dir/q.out" || fail "held out: not judged"
# one device's file of the training set judged alone (trial T, s24: no warning, and --after
# before trained_until accepted): its samples have its own detector's data digest
mapfile -t N < <(/usr/bin/python3 "$src/tests/line2/line2.py" args --dir "$L")
"$train" "${N[@]}" --labels "$L/labels.csv" -w 2048 --min-windows 20 -o "$dir/npy.json" \
	> /dev/null 2> "$dir/npy.err" || fail "train npy: $(cat "$dir/npy.err")"
one=("${N[@]:0:6}")
{ head -1 "$L/labels.csv"; grep "^${one[3]}," "$L/labels.csv"; } > "$dir/one.csv"
rc=0
"$quality" --model "$dir/npy.json" "${one[@]}" --labels "$dir/one.csv" --after 20 \
	> /dev/null 2> "$dir/q1.err" || rc=$?
[ $rc -eq 1 ] || fail "one trained device's file, --after 20: status $rc: $(cat "$dir/q1.err")"
grep -q "the model learnt from these very samples (device ${one[3]}: the data digest of its detector) up to" \
	"$dir/q1.err" || fail "one device: $(cat "$dir/q1.err")"
"$quality" --model "$dir/npy.json" "${one[@]}" --labels "$dir/one.csv" > /dev/null \
	2> "$dir/q1.err" || fail "one device, no --after: $(cat "$dir/q1.err")"
grep -q "WARNING: these are the very samples the model was trained on (device ${one[3]}: " \
	"$dir/q1.err" || fail "one device, no --after: no warning: $(cat "$dir/q1.err")"
# without --after: judged, and the warning says up to where it learnt
"$quality" --model "$dir/hb.json" "${P[@]}" --labels "$L/labels.csv" > /dev/null \
	2> "$dir/q.err" || fail "no --after"
grep -q "WARNING: it learnt from its devices' healthy windows up to 20.000 s" "$dir/q.err" ||
	fail "no --after: $(cat "$dir/q.err")"
# a model before trained_until (the field removed) loads, and is judged as before
/usr/bin/python3 -c "
import json, sys
m = json.load(open(sys.argv[1])); del m['trained_until']; json.dump(m, open(sys.argv[2], 'w'))
" "$dir/lab.json" "$dir/old.json"
"$quality" --model "$dir/old.json" "${P[@]}" --labels "$L/labels.csv" --after 20 \
	> "$dir/q.out" 2> "$dir/q.err" || fail "a model without trained_until: $(cat "$dir/q.err")"
/usr/bin/python3 -c "
import json, sys
m = json.load(open(sys.argv[1])); m['trained_until'] = -1; json.dump(m, open(sys.argv[2], 'w'))
" "$dir/lab.json" "$dir/neg.json"
"$quality" --model "$dir/neg.json" "${P[@]}" --labels "$L/labels.csv" > /dev/null 2> "$dir/q.err"
[ $? -eq 1 ] && grep -q "'trained_until' must be seconds" "$dir/q.err" ||
	fail "a negative trained_until: $(cat "$dir/q.err")"

# 2. .npy files at a wrong --sample-rate: the reference speed lands off every set point.
/usr/bin/python3 - "$L/manifest.json" > "$dir/plate.csv" <<'PY'
import json, sys
print("device,setpoints_hz,gear_teeth")
for d in json.load(open(sys.argv[1]))["devices"]:
    p = d["physics"]
    print("%s,%s,%d" % (d["name"], " ".join(repr(float(s)) for s in p["setpoints_hz"]),
                        p["gear_teeth"]))
PY
right=()
wrong=()
while read -r name rate; do
	right+=(--sample-rate "$rate" --from "$L/npy/$name.npy")
	wrong+=(--sample-rate 12800 --from "$L/npy/$name.npy")
done < <(/usr/bin/python3 -c "
import json, sys
for d in json.load(open(sys.argv[1]))['devices']: print(d['name'], d['sample_rate'])
" "$L/manifest.json")
IMP=(--healthy-before 25 -w 2048 --detector knn --layout orders96-time5-imp9
	--nameplate "$dir/plate.csv" --min-windows 20)
"$train" "${right[@]}" "${IMP[@]}" -o "$dir/npy.json" > /dev/null 2> "$dir/npy.err" ||
	fail "npy at their rates: $(cat "$dir/npy.err")"
grep -q "not within 0.95-1.02" "$dir/npy.err" && fail "right rates refused: $(cat "$dir/npy.err")"
rc=0
"$train" "${wrong[@]}" "${IMP[@]}" -o "$dir/npyw.json" > /dev/null 2> "$dir/npyw.err" || rc=$?
[ $rc -eq 1 ] && [ ! -e "$dir/npyw.json" ] || fail "a wrong --sample-rate trained: status $rc"
grep -Eq "plate.csv:[0-9]+: device l2s7-d00[0-9]: its reference speed came out at [0-9.]+ Hz, not within 0.95-1.02 of any of its set points .* Most likely its sample rate is wrong \(12800 Hz" \
	"$dir/npyw.err" || fail "wrong rate: $(cat "$dir/npyw.err")"

# 3. A candidate the --compare refuses (another window per device) leaves no folder.
/usr/bin/python3 - "$L/manifest.json" > "$dir/hz.csv" <<'PY'
import json, sys
print("device,hz")
for d in json.load(open(sys.argv[1]))["devices"]:
    print("%s,%r" % (d["name"], min(d["physics"]["setpoints_hz"])))
PY
"$train" "${P[@]}" --healthy-before 20 -w 2048 --window rev6 --shaft-hz "$dir/hz.csv" \
	--detector knn --min-windows 20 -o "$dir/run.json" > /dev/null 2> "$dir/run.err" ||
	fail "running model: $(cat "$dir/run.err")"
grep -q "(and 2048, the model's window, for the devices it does not name: the policy's detection.window must be 2048)" \
	"$dir/run.err" || fail "revR's wording: $(grep rev6 "$dir/run.err")"
rc=0
"$train" "${P[@]}" --healthy-before 20 -w 2048 --min-windows 20 --candidate-dir "$dir/cands" \
	--compare "$dir/run.json" --name line > /dev/null 2> "$dir/cand.err" || rc=$?
[ $rc -eq 1 ] && grep -q "cannot be judged on the same windows" "$dir/cand.err" ||
	fail "compare: status $rc: $(cat "$dir/cand.err")"
grep -q "linegate-train: candidate line-[0-9TZ]* not made (removed)" "$dir/cand.err" ||
	fail "no removal said: $(cat "$dir/cand.err")"
[ -z "$(ls -A "$dir/cands")" ] || fail "a stray candidate: $(find "$dir/cands")"

# 4. --only-device with the line's labels; a row naming no device of the recording.
"$train" "${P[@]}" --labels "$L/labels.csv" --only-device l2s7-d002 -w 2048 --min-windows 20 \
	-o "$dir/od.json" > /dev/null 2> "$dir/od.err" || fail "--only-device: $(cat "$dir/od.err")"
printf 'device,kind,onset,end\nl2s7-d001,outer_race,30,\n\nghost,x,3,\n' > "$dir/ghost.csv"
rc=0
"$train" "${P[@]}" --labels "$dir/ghost.csv" --only-device l2s7-d002 -w 2048 --min-windows 20 \
	-o "$dir/od.json" > /dev/null 2> "$dir/od.err" || rc=$?
[ $rc -eq 1 ] && grep -q "ghost.csv:4: the row of device 'ghost' (x at 3 s) names no device" \
	"$dir/od.err" || fail "ghost row: status $rc: $(cat "$dir/od.err")"
grep -q "^linegate-train: $dir/ghost.csv: refused (the rows above)" "$dir/od.err" ||
	fail "ghost row: no verdict line: $(cat "$dir/od.err")"

# 5. Messages.
grep -q "warning: -w 2048, and the policy's detection.window is 256: linegate refuses" \
	"$dir/hb.err" || fail "-w against the policy: $(cat "$dir/hb.err")"
sed 's/^\(l2s7-d001,[^,]*\)/\1 2x.72/' "$dir/plate.csv" > "$dir/typo.csv"
"$train" "${right[@]}" --healthy-before 25 -w 2048 --detector knn --layout orders96-time5-imp9 \
	--nameplate "$dir/typo.csv" --min-windows 20 -o "$dir/x.json" 2> "$dir/x.err"
[ $? -eq 2 ] && grep -q "^linegate-train: $dir/typo.csv:3: setpoints_hz: a set point is not a number" \
	"$dir/x.err" || fail "set point typo: $(cat "$dir/x.err")"
size=$(stat -c %s "$L/line.pcap")
head -c $((size / 2)) "$L/line.pcap" > "$dir/cut.pcap"
CUT=(--from "$dir/cut.pcap" --policy "$L/policy.yaml" --healthy-before 20 -w 2048 --min-windows 20)
rc=0
"$train" "${CUT[@]}" -o "$dir/c.json" > /dev/null 2> "$dir/c.err" || rc=$?
[ $rc -eq 1 ] && [ ! -e "$dir/c.json" ] || fail "a cut pcap trained: status $rc"
grep -Eq "^linegate-train: .*cut.pcap: record ([0-9]+) cannot be read: .*the file ends inside it: a copy cut short\? The records before it are whole; the rest of the recording is not in the file: copy it again, or give --allow-cut" \
	"$dir/c.err" || fail "cut: $(cat "$dir/c.err")"
grep -q "cut=stop\|^linegate:" "$dir/c.err" && fail "the backend's words: $(cat "$dir/c.err")"
"$train" "${CUT[@]}" --allow-cut -o "$dir/c.json" > /dev/null 2> "$dir/c.err" ||
	fail "--allow-cut: $(cat "$dir/c.err")"
grep -Eq "^linegate-train: WARNING: .*cut.pcap: 1 record\(s\) cut short .*: [0-9]+ whole records read" \
	"$dir/c.err" || fail "--allow-cut warning: $(cat "$dir/c.err")"
/usr/bin/python3 - "$L/line.pcap" "$dir/dam.pcap" <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
off = 24
for _ in range(100):
    off += 16 + int.from_bytes(d[off + 8:off + 12], "little")
d[off + 8:off + 12] = (0x7fffffff).to_bytes(4, "little")  # record 101's length: damaged
open(sys.argv[2], "wb").write(d)
PY
for cut in "" --allow-cut; do
	"$train" --from "$dir/dam.pcap" --policy "$L/policy.yaml" --healthy-before 20 -w 2048 \
		--min-windows 20 $cut -o "$dir/d.json" > /dev/null 2> "$dir/d.err"
	[ $? -eq 1 ] && grep -q "dam.pcap: record 101 cannot be read .* the file is damaged before its end" \
		"$dir/d.err" || fail "damaged $cut: $(cat "$dir/d.err")"
	grep -q "cut=stop" "$dir/d.err" && fail "damaged: a backend option: $(cat "$dir/d.err")"
done

# --only-device with a name the recording does not hold: said so, not "no samples of any device"
"$train" "${P[@]}" --only-device l2s7-d0001 --healthy-before 20 -w 2048 --min-windows 20 \
	-o "$dir/o.json" > /dev/null 2> "$dir/o.err" && fail "--only-device typo accepted"
grep -q "only-device l2s7-d0001: no message of the files is that device's" "$dir/o.err" ||
	fail "--only-device typo: $(cat "$dir/o.err")"

# Files of several rates: each device's rate as the trainer took it is said (the one place a
# wrong --sample-rate shows before the model is used).
"$train" --sample-rate 25600 --from "$L/npy/l2s7-d000.npy" --sample-rate 20000 \
	--from "$L/npy/l2s7-d001.npy" --healthy-before 20 -w 2048 --min-windows 20 \
	-o "$dir/r.json" > /dev/null 2> "$dir/r.err" || fail "two rates: $(cat "$dir/r.err")"
grep -q "^linegate-train: l2s7-d000: 25600 Hz$" "$dir/r.err" &&
	grep -q "^linegate-train: l2s7-d001: 20000 Hz$" "$dir/r.err" ||
	fail "each device's rate not said: $(cat "$dir/r.err")"
echo "ok: train_trial"
