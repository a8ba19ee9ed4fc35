#!/usr/bin/env bash
# linegate-train on a recording larger than its memory (--memory, --spill-dir): the same
# recording trained with every sample in memory (the baseline), then in memory cgroups of
# 1/2 and 1/4 of the baseline's peak, where the default budget (half the room there is)
# keeps the rest of the samples in unlinked files. Prints each run's time, its ratio to the
# baseline's, its peak, where the samples went and whether the model has the baseline's
# bytes; one JSON line at the end. docs/benchmarks.md ("A recording larger than the
# memory") has the figures.
#
# Usage: bench/train_memory.sh BUILD_DIR [DEVICES [SECONDS [RUNS]]]
#        (defaults 6 600 3: a line2 pcap of DEVICES machines x SECONDS, seed 3, 502 MB at
#        the defaults; RUNS of each, the median time). Needs a writable memory cgroup (v1,
#        or v2 with the memory controller) and root. SPILL_DIR=DIR: --spill-dir (default
#        the tool's).
set -euo pipefail
case "${1:-}" in -h|--help|"")
	sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
	[ -n "${1:-}" ] && exit 0 || exit 2 ;;
esac
B=$(cd "$1" && pwd)
N=${2:-6}; S=${3:-600}; R=${4:-3}
SRC=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /var/tmp/train-memory.XXXXXX)
source "$SRC/tests/memcg.sh"
lg_memcg train-memory || { echo "train_memory: no writable memory cgroup" >&2; exit 1; }
mkdir "$cg"
trap 'rmdir "$cg" 2>/dev/null; rm -rf "$T"' EXIT
/usr/bin/python3 "$SRC/tests/line2/line2.py" make --seed 3 --devices "$N" --seconds "$S" \
	--formats pcap --out "$T/l" -q
args=(--from "$T/l/line.pcap" --policy "$T/l/policy.yaml" ${SPILL_DIR:+--spill-dir "$SPILL_DIR"})
echo "train_memory: $N machines x $S s, $(du -m "$T/l/line.pcap" | cut -f1) MB of pcap," \
	"linegate-train --from it, median of $R runs" >&2

# one run in the cgroup: "seconds peak_bytes", the samples' line to $T/spill
run() {
	local t0 t1
	[ -w "$cg/$peak" ] && echo 0 > "$cg/$peak"
	t0=$(date +%s.%N)
	sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" "$B/control/linegate-train" \
		"${args[@]}" "$@" -o "$T/m.json" > /dev/null 2> "$T/err" ||
		{ echo "train_memory: linegate-train failed: $(tail -3 "$T/err")" >&2; exit 1; }
	t1=$(date +%s.%N)
	{ grep -o 'samples: .*' "$T/err" || echo "samples: all in memory"; } > "$T/spill"
	echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') $(cat "$cg/$peak")"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
same() {
	/usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
a.pop("name"), b.pop("name")
print("yes" if a == b else "NO")
PY
}

echo -1 > "$cg/$limit" 2>/dev/null || echo max > "$cg/$limit"
: > "$T/t"
for _ in $(seq "$R"); do run --memory 0 >> "$T/t"; done
base=$(cut -d' ' -f1 "$T/t" | median)
bpeak=$(cut -d' ' -f2 "$T/t" | sort -n | tail -1)
cp "$T/m.json" "$T/base.json"
printf '%-28s %8s %8s %10s  %s\n' "run" "s" "x base" "peak MiB" "samples / same model"
printf '%-28s %8.2f %8.2f %10d  %s\n' "in memory (--memory 0)" "$base" 1 $((bpeak >> 20)) \
	"$(cat "$T/spill")"
json="{\"bench\":\"train_memory\",\"devices\":$N,\"seconds\":$S,\"base_s\":$base,\"base_peak\":$bpeak"
for div in 2 4; do
	echo $((bpeak / div)) > "$cg/$limit"
	: > "$T/t"
	for _ in $(seq "$R"); do run >> "$T/t"; done
	med=$(cut -d' ' -f1 "$T/t" | median)
	p=$(cut -d' ' -f2 "$T/t" | sort -n | tail -1)
	sm=$(same "$T/base.json" "$T/m.json")
	printf '%-28s %8.2f %8.2f %10d  %s / %s\n' "cgroup of 1/$div its peak" "$med" \
		"$(awk -v a="$med" -v b="$base" 'BEGIN { print a / b }')" $((p >> 20)) "$(cat "$T/spill")" "$sm"
	json+=",\"cg_1_${div}_s\":$med,\"ratio_1_$div\":$(awk -v a="$med" -v b="$base" 'BEGIN { printf "%.3f", a / b }'),\"same_1_$div\":\"$sm\""
done
echo "$json}"
