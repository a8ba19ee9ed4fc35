#!/usr/bin/env bash
# Detection quality and training cost on a line unlike the simulator (tests/line2): DEVICES
# machines, each with its own physics and sample rate, every one given a fault at FAULT_AT
# seconds (kinds dealt round-robin). Per machine, linegate-train fits a detector on the
# healthy windows before the onset and measures the false alarms on held-back blocks of them
# it never trained on; linegate-quality then reports, per fault kind, the machines alarmed
# within 3 windows of the onset. Prints both tables, the training time per million windows,
# and one JSON line. docs/benchmarks.md ("Detection on your own line") has the figures.
#
# Usage: bench/own_line_quality.sh BUILD_DIR [DEVICES [SECONDS [FAULT_AT [WINDOW [SEED
#                                     [DETECTOR [LAYOUT]]]]]]]
#        (defaults 200 60 50 2048 21 mahalanobis; DETECTOR knn: linegate-train --detector
#        knn, its pooled line-wide threshold; LAYOUT, knn only: bands96-time5 (default),
#        orders96-time5, orders96-time5-imp9, -imp10 or -imp11 (--nameplate written from
#        the manifest: set points, gear teeth, bearing geometry); the issue's goal needs
#        DEVICES >= 200
#        and about 20 000 held-back healthy windows). WINDOW revR: a window per device
#        (linegate-train --window revR --shaft-hz, each machine's lowest shaft speed
#        written from line2's manifest, what an operator reads off the nameplate;
#        --min-windows 20). OWN_LINE_DIR=DIR: a line2 line
#        made before (npy, its manifest.json) instead of a new one. OWN_LINE_SMOOTH=M (knn):
#        linegate-train --smooth M, each channel's mean of its last M scores.
set -euo pipefail
case "${1:-}" in -h|--help|"")
	sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
	[ -n "${1:-}" ] && exit 0 || exit 2 ;;
esac
B=$(cd "$1" && pwd)
N=${2:-200}; S=${3:-60}; F=${4:-50}; W=${5:-2048}; SEED=${6:-21}; DET=${7:-mahalanobis}
LAYOUT=${8:-}
layout_args=()
[ -n "$LAYOUT" ] && layout_args=(--layout "$LAYOUT")
SRC=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /tmp/own-line-quality.XXXXXX)
trap 'rm -rf "$T"' EXIT
echo "own_line_quality: $N machines x $S s, faults at $F s, window $W, seed $SEED, $DET" \
	"${LAYOUT:+($LAYOUT)}" >&2
L=$T/line
args=()
if [ -n "${OWN_LINE_DIR:-}" ]; then
	L=$OWN_LINE_DIR
	echo "own_line_quality: the line in $L (its own devices, seconds and seed)" >&2
	# npy files carry no rate: each file's from the manifest
	while read -r rate f; do args+=(--sample-rate "$rate" --from "$L/$f"); done < <(
		python3 -c 'import json, sys
for d in json.load(open(sys.argv[1]))["devices"]:
    print(d["sample_rate"], "npy/%s.npy" % d["name"])' "$L/manifest.json")
else
	/usr/bin/python3 "$SRC/tests/line2/line2.py" make --seed "$SEED" --devices "$N" \
		--faulty "$N" --seconds "$S" --fault-at "$F" --formats wav --out "$L" -q
	for f in "$L"/wav/*.wav; do args+=(--from "$f"); done
fi
win_args=(-w "$W")
minw=100
case "$W" in rev*)
	# a window per device: each machine's lowest shaft speed, as its operator knows it
	/usr/bin/python3 "$SRC/tests/line2/line2.py" declare --dir "$L" \
		--shaft-hz "$T/shaft_hz.csv"
	win_args=(-w 2048 --window "$W" --shaft-hz "$T/shaft_hz.csv")
	minw=20 ;;
esac
if [ "$LAYOUT" = orders96-time5-imp9 ] || [ "$LAYOUT" = orders96-time5-imp10 ] ||
	[ "$LAYOUT" = orders96-time5-imp11 ]; then
	# the impact features: what the operator declares of each machine (set points, gear
	# teeth, bearing geometry), never its fault, speed knots or resonances
	/usr/bin/python3 "$SRC/tests/line2/line2.py" declare --dir "$L" \
		--nameplate "$T/nameplate.csv"
	layout_args+=(--nameplate "$T/nameplate.csv")
fi
t0=$(date +%s%N)
"$B/control/linegate-train" "${args[@]}" --labels "$L/labels.csv" "${win_args[@]}" \
	--min-windows $minw --detector "$DET" "${layout_args[@]}" \
	${OWN_LINE_SMOOTH:+--smooth "$OWN_LINE_SMOOTH"} -o "$T/model.json" \
	> "$T/train.out" 2> "$T/train.err"
t1=$(date +%s%N)
tail -2 "$T/train.out"
"$B/control/linegate-quality" --model "$T/model.json" "${args[@]}" \
	--labels "$L/labels.csv" > "$T/quality.out" 2> /dev/null
sed -n '1,10p' "$T/quality.out"
[ -n "${OWN_LINE_KEEP:-}" ] && cp "$T/model.json" "$T/train.out" "$T/train.err" "$T/quality.out" \
	"$OWN_LINE_KEEP"/
python3 - "$T/train.out" "$T/quality.out" "$((t1 - t0))" "$W" "$DET" "${LAYOUT:-default}" \
	"${OWN_LINE_SMOOTH:-}" <<'EOF'
import json, re, sys
train = open(sys.argv[1]).read()
q = json.loads([l for l in open(sys.argv[2]) if l.startswith("{")][-1])
ns, W = int(sys.argv[3]), sys.argv[4]
W = int(W) if W.isdigit() else W
# the per-device table: a name, then train, calibrate and check window counts (the trainer
# prints notes, the expectation and each device's normal level around it)
rows = [r for r in (l.split() for l in train.splitlines()[1:])
        if len(r) > 3 and all(x.isdigit() for x in r[1:4])]
windows = sum(int(r[1]) + int(r[2]) + int(r[3]) for r in rows)
m = re.search(r"expected false alarms per window: ([\d.]+)% \(95% interval ([\d.]+)% to "
              r"([\d.]+)%, (\d+) held-back", train)
out = {"bench": "own_line_quality", "window": W, "detector": sys.argv[5],
       "smooth": int(sys.argv[7] or 1),
       "layout": sys.argv[6],
       "machines": len(rows),
       "recall_3": q["recall"], "faulty_streams": q["faulty_streams"],
       "heldback_windows": int(m.group(4)), "false_alarm_rate": float(m.group(1)) / 100,
       "fa_lo": float(m.group(2)) / 100, "fa_hi": float(m.group(3)) / 100,
       "train_windows": windows, "train_s": ns / 1e9,
       "train_s_per_million_windows": ns / 1e9 / windows * 1e6,
       "kinds": q["kinds"]}
print(f"training: {windows} windows (features and fit) in {ns / 1e9:.1f} s = "
      f"{out['train_s_per_million_windows']:.0f} s per million windows of {W} samples")
print(json.dumps(out))
EOF
