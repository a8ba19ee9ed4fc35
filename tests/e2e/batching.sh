#!/usr/bin/env bash
# Batches are scored when full, or when their oldest window reaches the policy's
# deadline: at a trickle, every window is scored while linegate runs (not at exit), within
# the deadline plus scheduling slack; at a flood, batches fill up.
source "$(dirname "$0")/lib.sh"
lg_tmp
T=$LG_TMP
PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
policy() { # BATCH DEADLINE_MS
	sed -e "s#^  model: .*#  model: $LG_SOURCE/control/defaults/model.json#" \
	    -e "s#source: 10.77.0.2#source: 127.0.0.1#" -e "s#^port: 4739#port: $PORT#" \
	    -e "s#^uadp_port: 4840#uadp_port: 0#" -e "s#^  jsonl: .*#  jsonl: $T/out.jsonl#" \
	    -e "s#^  batch: .*#  batch: $1#" -e "s#^  deadline_ms: .*#  deadline_ms: $2#" \
	    "$LG_SOURCE/control/defaults/policy.yaml" > "$T/policy.yaml"
	lg_keys "$T"
}
run() { # BATCH DEADLINE RATE FRAMES
	policy "$1" "$2"
	rm -f "$T/dp.sock"
	"$LG_BIN_DP" -p "$T/policy.yaml" -B 127.0.0.1 -c "$T/dp.sock" 2> "$T/dp.err" &
	DP=$!
	LG_PIDS="$DP"
	lg_wait_for 5 test -S "$T/dp.sock" || lg_fail "linegate did not start: $(cat "$T/dp.err")"
	"$LG_BIN_GEN" -p "$T/policy.yaml" -t 127.0.0.1:$PORT -S 127.0.0.1 -n "$4" -r "$3" -q \
		-j "$T/sent.json"
	sleep $(python3 -c "print($2 / 1000 + 0.3)")
	lg_dp_stats "$T/live.json"           # while running: nothing may wait for the exit
	kill -INT $DP
	wait $DP || lg_fail "linegate exited with status $?"
	LG_PIDS=""
}

# A trickle into a batch of 1000 that never fills: the 40 ms deadline flushes it.
run 1000 40 200 20
python3 - "$T/live.json" "$T/sent.json" <<'PY'
import json, sys
st = json.load(open(sys.argv[1])); sent = json.load(open(sys.argv[2]))
ok = True
def check(name, got, want):
    global ok
    print(f"trickle: {name}: got {got}, want {want}")
    ok &= got == want
check("scored while running", st["scored"], sent["enrolled"])
check("several partial batches", st["batches"] >= 3, True)
check("rows per batch below the batch size", st["scored"] / st["batches"] < 1000, True)
# Deadline 40 ms, plus the time one window takes to fill (one frame) and scheduling slack.
check("slowest window scored within 250 ms", st["latency_us_max"] < 250000, True)
sys.exit(0 if ok else 1)
PY

# A flood into batches of 8 with a long deadline: batches are scored when full.
run 8 5000 4000 200
python3 - "$T/live.json" "$T/sent.json" <<'PY'
import json, sys
st = json.load(open(sys.argv[1])); sent = json.load(open(sys.argv[2]))
ok = st["scored"] == sent["enrolled"] and st["batches"] == sent["enrolled"] // 8
print(f"flood: scored {st['scored']} of {sent['enrolled']} in {st['batches']} batches of 8 (want {sent['enrolled'] // 8})")
sys.exit(0 if ok else 1)
PY
echo PASS
