#!/usr/bin/env bash
# latency_bench.sh: the output path's cost (bench/output_bench: JSON lines and MQTT to a
# mosquitto this script starts on loopback) and linegate's end-to-end latency, arrival ->
# published, per stage (dataplane/latency.h), at a low baseline rate, a moderate rate and
# the highest loss-free rate of a ladder, all in one invocation (docs/benchmarks.md,
# "Output path and latency").
usage() {
	cat <<'EOF2'
Usage: latency_bench.sh [options]

1. output_bench against a mosquitto started on a free 127.0.0.1 port: ns per record and
   per alert for JSON lines and MQTT, with bare write(2) and bare mosquitto_publish()
   as the baselines.
2. linegate (uring, 1 worker, the default policy and model: 8 devices, window 256 =
   one frame, batch 16, deadline 50 ms, JSON lines to a file) fed by linegate-loadgen
   --precompute over loopback for --seconds at each rate: the baseline rate, the
   moderate rate and then the ladder; per rate the stage p50/p99 from --stats-out.
   The highest ladder rate with no frame and no line lost is "max loss-free".
   Differences are against the baseline rate's figures.

Options:
  -b, --build DIR      meson build folder (default: build beside this script's tree)
  -o, --out FILE       write the results as JSON here too
  -B, --baseline FPS   the baseline rate (default 1000)
  -m, --moderate FPS   the moderate rate (default 10000)
  -r, --rates LIST     the ladder, comma-separated (default 20000,50000,100000,200000)
  -t, --seconds S      seconds of traffic per rate (default 2)
  -h, --help           this text
EOF2
}
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
BUILD="$SRC/build"
OUT=""
BASE=1000
MOD=10000
RATES="20000,50000,100000,200000"
SECS=2
while [ $# -gt 0 ]; do
	case "$1" in
	-b|--build) BUILD=$2; shift 2 ;;
	-o|--out) OUT=$2; shift 2 ;;
	-B|--baseline) BASE=$2; shift 2 ;;
	-m|--moderate) MOD=$2; shift 2 ;;
	-r|--rates) RATES=$2; shift 2 ;;
	-t|--seconds) SECS=$2; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "latency_bench.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
done
BUILD=$(cd "$BUILD" && pwd)
T=$(mktemp -d /tmp/latency-bench.XXXXXX)
PIDS=""
cleanup() {
	for p in $PIDS; do kill -INT "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# 1. The output path
MQ=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n' "$MQ" > "$T/mosquitto.conf"
mosquitto -c "$T/mosquitto.conf" > "$T/mosquitto.log" 2>&1 &
PIDS="$!"
for _ in $(seq 50); do
	/usr/bin/python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $MQ), 0.2)" \
		2>/dev/null && break
	sleep 0.1
done
(cd "$T" && TMPDIR="$T" "$BUILD/bench/output_bench" "$MQ") > "$T/output.json"
echo "output path: $(cat "$T/output.json")" >&2

# 2. End to end, per rate
UPORT=$(free_port)
sed -e "s#^  model: .*#  model: $SRC/control/defaults/model.json#" \
    -e "s#source: 10.77.0.2#source: 127.0.0.1#" -e "s#^port: 4739#port: $UPORT#" \
    -e "s#^uadp_port: 4840#uadp_port: 0#" -e "s#^  jsonl: .*#  jsonl: $T/out.jsonl#" \
    "$SRC/control/defaults/policy.yaml" > "$T/policy.yaml"
mkdir -p "$T/keys"
cp "$SRC"/control/defaults/keys/*.key "$T/keys/"
chmod 700 "$T/keys"; chmod 600 "$T"/keys/*.key
run_rate() { # RATE NAME
	local rate=$1 name=$2 n dp
	n=$(( rate * SECS / 8 ))
	rm -f "$T/out.jsonl" "$T/stats.json" "$T/dp.sock"
	# A state folder per run: each run's frames start at sequence 1 again, which the
	# replay marks of the previous run would refuse.
	export STATE_DIRECTORY="$T/state-$name"
	"$BUILD/dataplane/linegate" -p "$T/policy.yaml" -B 127.0.0.1 -c "$T/dp.sock" \
		-s "$T/stats.json" 2> "$T/dp.err" &
	dp=$!
	PIDS="$PIDS $dp"
	for _ in $(seq 100); do [ -S "$T/dp.sock" ] && break; sleep 0.05; done
	# The control socket comes before the workers are in their loop: let them settle.
	sleep 0.3
	"$BUILD/bench/linegate-loadgen" -p "$T/policy.yaml" -t 127.0.0.1:$UPORT -S 127.0.0.1 \
		-n "$n" -r "$rate" --precompute -q -j "$T/sent-$name.json"
	# Past the deadline of the last partial batch, and the output thread's round.
	sleep 0.5
	kill -INT $dp
	wait $dp || true
	PIDS=${PIDS% $dp}
	cp "$T/stats.json" "$T/stats-$name.json"
	echo "$name ($rate/s): $(grep 'latency p50' "$T/dp.err" || echo 'no latency line')" >&2
}
run_rate "$BASE" baseline
run_rate "$MOD" moderate
LADDER=""
for r in ${RATES//,/ }; do run_rate "$r" "r$r"; LADDER="$LADDER $r"; done

/usr/bin/python3 - "$T" "$BASE" "$MOD" "$LADDER" "$OUT" <<'PY'
import json, sys
t, base, mod, ladder, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split(), sys.argv[5]
stages = ["arrival_worker", "worker_window", "window_scored", "scored_published", "end_to_end"]
def load(name, rate):
    st = json.load(open(f"{t}/stats-{name}.json")); sent = json.load(open(f"{t}/sent-{name}.json"))
    lost = sent["enrolled"] - st["admitted"] + st["output_ring_full_scores"] + st["output_ring_full_alerts"] + st["output_write_dropped"]
    return {"rate": rate, "sent": sent["enrolled"], "admitted": st["admitted"], "lost": lost,
            "lines": st["output_lines"],
            "stages": {s: {"p50_us": round(st["latency"][s]["p50_us"], 1), "p99_us": round(st["latency"][s]["p99_us"], 1),
                           "count": st["latency"][s]["count"]} for s in stages}}
res = {"output": json.load(open(f"{t}/output.json")), "baseline": load("baseline", base), "moderate": load("moderate", mod)}
res["ladder"] = [load(f"r{r}", int(r)) for r in ladder]
ok = [x for x in res["ladder"] if x["lost"] == 0]
res["max_loss_free"] = max(ok, key=lambda x: x["rate"]) if ok else None
b = res["baseline"]["stages"]["end_to_end"]
for k in ("moderate", "max_loss_free"):
    if res[k]:
        e = res[k]["stages"]["end_to_end"]
        res[k]["end_to_end_minus_baseline_us"] = {"p50": round(e["p50_us"] - b["p50_us"], 1), "p99": round(e["p99_us"] - b["p99_us"], 1)}
print(f"{'rate':>8} {'sent':>8} {'lost':>6}  " + "  ".join(f"{s + ' p50/p99 us':>28}" for s in stages))
for x in [res["baseline"], res["moderate"]] + res["ladder"]:
    print(f"{x['rate']:>8} {x['sent']:>8} {x['lost']:>6}  " + "  ".join(f"{x['stages'][s]['p50_us']:>13.1f}/{x['stages'][s]['p99_us']:<14.1f}" for s in stages))
print(json.dumps(res))
if out:
    json.dump(res, open(out, "w"), indent=1)
PY
