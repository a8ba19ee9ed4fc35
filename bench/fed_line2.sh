#!/usr/bin/env bash
# Federated statistics on a line unlike the simulator (tests/line2), two servers: A is line2
# seed 16, B seed 1839 (three machines each, all at 10 000 Hz, every one given a fault at
# 600 s of 720). Runs the recipes of docs/models.md ("Federated statistics"): one plain
# round (the merged first export, ref.json), then exports clipped to ref.json, with and
# without --dp-epsilon; fits every federated model on server A and judges it with
# linegate-quality on all six machines after the training span. Prints one line per model
# (recall within 3 windows, false alarms per window, threshold). docs/benchmarks.md
# ("Federated statistics on line2") has the figures.
#
# Usage: bench/fed_line2.sh BUILD_DIR [WORK_DIR]   (needs /usr/bin/python3 with numpy;
#        WORK_DIR keeps the line2 files between runs; about 5 minutes on 2 vCPUs)
set -eu
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
work=${2:-$(mktemp -d)}
T=$build/control/linegate-train
Q=$build/control/linegate-quality
mkdir -p "$work"
cd "$work"
for s in 16 1839; do
	[ -e "s$s/labels.csv" ] && [ -e "s$s/wav/l2s$s-d002.wav" ] ||
		/usr/bin/python3 "$src/tests/line2/line2.py" make --seed $s --devices 3 --faulty 3 \
			--seconds 720 --fault-at 600 --formats wav --out "s$s" -q
done
A=() B=()
for f in s16/wav/*.wav; do A+=(--from "$f"); done
for f in s1839/wav/*.wav; do B+=(--from "$f"); done
(cat s16/labels.csv; tail -n +2 s1839/labels.csv) > lab.csv
C=(-w 1024 --healthy-before 480)
judge() {
	local j
	j=$("$Q" --model "$2" "${A[@]}" "${B[@]}" --labels lab.csv -w 1024 --after 480 2>/dev/null |
		tail -1)
	python3 - "$1" "$2" "$j" <<'PY'
import json, sys
name, model, j = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
m = json.load(open(model))
thr = "%.4g" % m["default"]["threshold"] if "default" in m else "per device"
print("%-44s recall %.3f  false alarms %.3f%%  threshold %s" %
      (name, j["recall"], 100 * j["false_alarm_rate"], thr))
PY
}
# a detector per device, both servers' windows (not federated)
"$T" "${A[@]}" "${B[@]}" "${C[@]}" -o own.json > /dev/null 2>&1
judge "per device, not federated" own.json
# round 1: plain exports, merged: the plain federated model and the reference
"$T" "${A[@]}" "${C[@]}" --stats-out first-a.json 2> /dev/null
"$T" "${B[@]}" "${C[@]}" --stats-out first-b.json 2> /dev/null
"$T" --merge first-a.json --merge first-b.json --no-local --stats-out ref.json 2> /dev/null
"$T" "${A[@]}" "${C[@]}" --merge ref.json --no-local -o plain.json > /dev/null 2>&1
judge "federated, plain" plain.json
# round 2: clipped to ref.json (the share clipped on stderr), noised with fixed draws
run() { # NAME CLIP EPS SEED_A SEED_B
	local dp=() s
	for s in a b; do
		[ "$3" = 0 ] || dp=(--dp-epsilon "$3" --dp-seed "$([ $s = a ] && echo "$4" || echo "$5")")
		if [ $s = a ]; then F=("${A[@]}"); else F=("${B[@]}"); fi
		"$T" "${F[@]}" "${C[@]}" --shift-from ref.json --clip "$2" "${dp[@]}" \
			--stats-out "$1-$s.json" 2>&1 | grep "rows clipped" | sed "s/^/  $s: /"
	done
	"$T" --merge "$1-a.json" --merge "$1-b.json" --no-local --stats-out "$1-m.json" 2> /dev/null
	"$T" "${A[@]}" "${C[@]}" --merge "$1-m.json" --no-local -o "$1.json" > /dev/null 2>&1
	judge "$1" "$1.json"
}
run clip8 8 0 0 0
run clip8-eps0.5-draw1 8 0.5 1 2
run clip8-eps0.5-draw2 8 0.5 3 4
run clip8-eps0.5-draw3 8 0.5 5 6
run clip8-eps0.9 8 0.9 1 2
run clip5-eps0.5 5 0.5 1 2
# the recipe of before 2026-12-06: the simulator's model as the reference (refused now)
"$T" "${A[@]}" -w 2048 --healthy-before 480 --shift-from "$src/control/defaults/model-2048.json" \
	--clip 8 --stats-out old-a.json 2>&1 | grep -E "rows clipped" | sed "s/^/simulator's reference: /" ||
	true
