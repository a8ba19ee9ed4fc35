#!/usr/bin/env bash
# linegate's own-line path (linegate-train, linegate-quality) on a real recording: the CWRU
# bearing data (bench/real_cwru.py says how the streams are built), against a plain numpy
# RMS/kurtosis/band-energy baseline on the same windows. Prints one row per configuration:
# faults caught within 3 windows of the onset window (of 13), the mean delay in windows,
# and the false alarms on the held-back healthy windows of ONE device (every device holds
# the same healthy recording, so the 13 devices' counts are copies). docs/benchmarks.md,
# "A real recording: the CWRU bearing data".
#
# Usage: bench/real_cwru.sh BUILD_DIR CWRU_DIR [CONFIG...]
#        CWRU_DIR: an export of github:kobarion/bearing-failure-model (its data/crwu_dataset)
#        CONFIG: names below (default: all); REAL_CWRU_KEEP=DIR keeps the streams and models
set -euo pipefail
case "${1:-}" in -h|--help|"")
	sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
	[ -n "${1:-}" ] && exit 0 || exit 2 ;;
esac
B=$(cd "$1" && pwd)/control
DATA=$2
shift 2
SRC=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
if [ -n "${REAL_CWRU_KEEP:-}" ]; then
	T=$REAL_CWRU_KEEP; mkdir -p "$T"
else
	T=$(mktemp -d /tmp/real-cwru.XXXXXX); trap 'rm -rf "$T"' EXIT
fi

# name | rate | train chunks (of 9 x 0.512 s) | channels | -w | linegate-train options
CONFIGS=(
	"maha-48k-2048|48000|5|DE,FE|2048|--min-windows 20"
	"knn-48k-2048|48000|5|DE,FE|2048|--detector knn --min-windows 20"
	"orders-48k-2048|48000|5|DE,FE|2048|--detector knn --layout orders96-time5 --min-windows 20"
	"imp10-48k-2048|48000|5|DE,FE|2048|--detector knn --layout orders96-time5-imp10 --nameplate NP --min-windows 20"
	"imp10g2-48k-2048|48000|5|DE,FE|2048|--detector knn --layout orders96-time5-imp10 --nameplate NPG2 --min-windows 20"
	"knn-48k-4096|48000|5|DE,FE|4096|--detector knn --min-windows 20"
	"imp10g2-48k-4096|48000|5|DE,FE|4096|--detector knn --layout orders96-time5-imp10 --nameplate NPG2 --min-windows 20"
	"knn-12k-1024|12000|5|DE,FE|1024|--detector knn --min-windows 20"
	"maha-12k-2048|12000|7|DE,FE|2048|--min-windows 20"
	"knn-12k-2048|12000|7|DE,FE|2048|--detector knn --min-windows 20"
	"orders-12k-2048|12000|7|DE,FE|2048|--detector knn --layout orders96-time5 --min-windows 20"
	"imp10-12k-2048|12000|7|DE,FE|2048|--detector knn --layout orders96-time5-imp10 --nameplate NP --min-windows 20"
	"imp10g2-12k-2048|12000|7|DE,FE|2048|--detector knn --layout orders96-time5-imp10 --nameplate NPG2 --min-windows 20"
	"imp10g2s2-12k-2048|12000|7|DE,FE|2048|--detector knn --layout orders96-time5-imp10 --nameplate NPG2 --smooth 2 --min-windows 20"
	"imp10g2-12k-rev6|12000|7|DE,FE|2048|--detector knn --layout orders96-time5-imp10 --nameplate NPG2 --window rev6 --shaft-hz SH --min-windows 20"
	"fe-knn-48k-2048|48000|5|FE|2048|--detector knn --min-windows 20"
	"fe-maha-48k-2048|48000|5|FE|2048|--min-windows 20"
	"fe-knn-12k-1024|12000|5|FE|1024|--detector knn --min-windows 20"
	"fe-knn-12k-2048|12000|7|FE|2048|--detector knn --min-windows 20"
)

want=("$@")
printf '%-18s %6s %5s %-10s %8s %7s %12s   %s\n' config rate -w tool caught delay_w \
	"fa/held-back" "train windows"
for c in "${CONFIGS[@]}"; do
	IFS='|' read -r name rate tc chs w opts <<<"$c"
	if [ ${#want[@]} -gt 0 ] && ! printf '%s\n' "${want[@]}" | grep -qx "$name"; then
		continue
	fi
	D=$T/data-$rate-$tc-${chs/,/}
	if [ ! -f "$D/manifest.json" ]; then
		"$PY" "$SRC/bench/real_cwru.py" make "$DATA" "$D" --rate "$rate" \
			--train-chunks "$tc" --channels "$chs" >/dev/null 2>"$D.log" ||
			{ cat "$D.log" >&2; exit 1; }
	fi
	S=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['healthy_before'])" \
		"$D/manifest.json")
	F=(--sample-rate "$rate")
	for f in "$D"/npy/*.npy; do F+=(--from "$f"); done
	opts=${opts//NPG2/$D/nameplate-gear2.csv}
	opts=${opts//NP/$D/nameplate.csv}
	opts=${opts//SH/$D/shaft_hz.csv}
	# shellcheck disable=SC2086
	if ! "$B/linegate-train" "${F[@]}" --healthy-before "$S" -w "$w" $opts \
		-o "$T/$name.json" >"$T/$name.train" 2>&1; then
		printf '%-18s %6s %5s %-10s refused: %s\n' "$name" "$rate" "$w" linegate \
			"$(grep "^linegate-train: " "$T/$name.train" | tail -1 | cut -c1-200)"
		continue
	fi
	"$B/linegate-quality" --model "$T/$name.json" "${F[@]}" --labels "$D/labels.csv" \
		--after "$S" --devices >"$T/$name.quality" 2>&1 || { cat "$T/$name.quality"; exit 1; }
	"$PY" - "$T/$name.quality" "$T/$name.train" "$name" "$rate" "$w" <<'EOF'
import json, re, sys
q, tr, name, rate, w = sys.argv[1:]
j = json.loads([l for l in open(q) if l.startswith('{"bench":"quality_files"')][-1])
dets = [k for k in j["kinds"] if k["detected"]]
delay = sum(k["delay_windows"] for k in dets) / len(dets) if dets else float("nan")
n = j["faulty_streams"]
hw, fa = j["healthy_windows"] // n, j["false_alarms"] / n
tw = re.findall(r"^cwru-B007\s+(\d+)\s+(\d+)\s+(\d+)", open(tr).read(), re.M)
tw = "/".join(tw[0]) if tw else "?"
missed = ",".join(k["kind"] for k in j["kinds"] if not k["detected"])
print(f"{name:18s} {rate:>6s} {w:>5s} {'linegate':10s} {len(dets):>4d}/{n:<3d} {delay:7.2f} "
      f"{fa:5.1f}/{hw:<6d}   {tw} (train/thresh./check){'  missed ' + missed if missed else ''}")
EOF
done
# The baseline on the same windows: one row per (rate, chunks, window) above.
for c in "${CONFIGS[@]}"; do
	IFS='|' read -r name rate tc chs w opts <<<"$c"
	echo "$rate|$tc|${chs/,/}|$w"
done | sort -u | while IFS='|' read -r rate tc chs w; do
	D=$T/data-$rate-$tc-$chs
	[ -f "$D/manifest.json" ] || continue
	for g in 0 0.001; do
		"$PY" "$SRC/bench/real_cwru.py" baseline "$D" -w "$w" --gauss "$g" | tail -1 |
			"$PY" -c '
import json, sys
j = json.loads(sys.stdin.read())
det = [v for v in j["kinds"].values() if v["detected"]]
d = sum(v["delay_windows"] for v in det) / len(det) if det else float("nan")
miss = ",".join(k for k, v in j["kinds"].items() if not v["detected"])
miss = "  missed " + miss if miss else ""
how = "|z| > %.2f (Gaussian 0.1%%)" % j["threshold"] if j["gauss"] else "their max"
print("%-18s %6d %5d %-10s %4d/%-3d %7.2f %5.1f/%-6d   %d train; threshold %s%s"
      % ("baseline-" + sys.argv[1], j["rate"], j["window"], "numpy", j["detected"], j["faults"], d,
         j["false_alarms"], j["held_back_windows"], j["train_windows"], how, miss))' "$chs"
	done
done
