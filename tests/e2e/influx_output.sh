#!/usr/bin/env bash
# InfluxDB line protocol output (issue 12) against a real InfluxDB 1.x started here, on
# free loopback ports with a configuration and folders of its own (no reporting). After a
# run the points are queried back over HTTP (/query) and must be exactly what linegate's
# JSON lines said, decimated: points per device and channel, values of the points, tags
# that carry the devices' metadata (a group's and a device's own, with spaces, commas,
# equals and quotes). Then InfluxDB is stopped mid-run: linegate keeps scoring, retries
# with backoff, stops within its bound, and every line is accounted for:
# made = written (and in InfluxDB) + dropped, exactly. Last, a database that does not
# exist: every batch refused (HTTP 404), counted, and InfluxDB's answer logged once.
source "$(dirname "$0")/lib.sh"
command -v influxd >/dev/null || lg_skip "influxd is not installed (Debian package influxdb)"
lg_tmp
T=$LG_TMP
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
IPORT=$(free_port)
RPORT=$(free_port)
PORT=$(free_port)
cat > "$T/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$RPORT"
[meta]
  dir = "$T/influx/meta"
[data]
  dir = "$T/influx/data"
  wal-dir = "$T/influx/wal"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:$IPORT"
  auth-enabled = false
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
CONF
INFLUX=""
start_influx() {
	influxd -config "$T/influxdb.conf" >> "$T/influxd.log" 2>&1 &
	INFLUX=$!
	LG_PIDS="$LG_PIDS $INFLUX"
	lg_wait_for 20 curl -sf "http://127.0.0.1:$IPORT/ping" ||
		lg_fail "influxd did not start: $(tail -5 "$T/influxd.log")"
}
stop_influx() {
	kill -TERM "$INFLUX"
	wait "$INFLUX" 2>/dev/null || true
}
query() { # query DB Q: the JSON answer of /query
	curl -sf -G "http://127.0.0.1:$IPORT/query" --data-urlencode "db=$1" \
		--data-urlencode "q=$2"
}
start_influx
query "" "CREATE DATABASE lg" > /dev/null || lg_fail "CREATE DATABASE lg"
query "" "CREATE DATABASE lg2" > /dev/null || lg_fail "CREATE DATABASE lg2"

# The default policy on loopback: the presses in a group with metadata, conveyor-1 with
# its own (escapes of every kind), InfluxDB output decimated by 2 with two features.
write_policy() { # write_policy FILE DATABASE
	sed -e "s#^  model: .*#  model: $LG_SOURCE/control/defaults/model.json#" \
	    -e "s#source: 10.77.0.2#source: 127.0.0.1#" \
	    -e "s#^port: 4739#port: $PORT#" -e "s#^uadp_port: 4840#uadp_port: 0#" \
	    -e "s#^  jsonl: .*#  jsonl: $T/out.jsonl\n  influx: {url: 'http://127.0.0.1:$IPORT/write', database: $2, decimation: 2, features: [rms, kurtosis], batch_lines: 40, flush_ms: 200, timeout_ms: 1000}#" \
	    -e "s#^devices:#groups:\n  presses: {meta: {line: L1, station: press shop, tags: {plant: north}}}\ndevices:#" \
	    -e "s#^    name: press-\\(.\\)-vib#    name: press-\\1-vib\n    group: presses#" \
	    -e "s#^    name: conveyor-1-vib#    name: conveyor-1-vib\n    meta: {line: L2, station: 'st 2,a=b', asset: 'belt \"A\"', sensor: accel-x, units: m/s2, tags: {cell: 'c 1'}}#" \
	    "$LG_SOURCE/control/defaults/policy.yaml" > "$1"
}
write_policy "$T/policy.yaml" lg
lg_keys "$T"

"$LG_BIN_DP" -p "$T/policy.yaml" -B 127.0.0.1 -c "$T/dp.sock" -s "$T/stats.json" \
	2> "$T/dp.err" &
DP=$!
LG_PIDS="$LG_PIDS $DP"
lg_wait_for 5 test -S "$T/dp.sock" || lg_fail "linegate did not start: $(cat "$T/dp.err")"
"$LG_BIN_GEN" -p "$T/policy.yaml" -t 127.0.0.1:$PORT -S 127.0.0.1 -n 100 -r 2000 \
	-f 103:50:bearing -q
sleep 1
kill -INT $DP
wait $DP || lg_fail "linegate exited with status $?: $(cat "$T/dp.err")"

for q in "SELECT * FROM linegate_score" "SELECT * FROM linegate_features" \
	 "SELECT * FROM linegate_incident"; do
	query lg "$q" > "$T/q-${q##* }.json" || lg_fail "query $q"
done
/usr/bin/python3 - "$T" <<'PY'
import json, sys
T = sys.argv[1]
st = json.load(open(T + "/stats.json"))["influx"]
lines = [json.loads(l) for l in open(T + "/out.jsonl")]
def series(name):
    r = json.load(open(f"{T}/q-{name}.json"))["results"][0]
    if "series" not in r:
        return []
    s = r["series"][0]
    return [dict(zip(s["columns"], v)) for v in s["values"]]
score, feat, inc = series("linegate_score"), series("linegate_features"), series("linegate_incident")
ok = True
def check(name, got, want):
    global ok
    print(f"{name}: {'ok' if got == want else 'FAILED'}: got {str(got)[:300]}, want {str(want)[:300]}")
    ok &= got == want
# What decimation keeps, from the JSON lines in the order the output thread wrote them:
# the 1st, 3rd, 5th, ... window of each device's channel.
n, kept = {}, []
for e in lines:
    if e["type"] not in ("score", "alert"):
        continue
    k = (e["device"], e["channel"])
    if n.get(k, 0) % 2 == 0:
        kept.append(e)
    n[k] = n.get(k, 0) + 1
def per_device(rows, key):
    c = {}
    for r in rows:
        c[r[key]] = c.get(r[key], 0) + 1
    return c
check("score points per device", per_device(score, "name"), per_device(kept, "name"))
check("feature points per device", per_device(feat, "name"), per_device(kept, "name"))
incs = [e for e in lines if e["type"] == "incident"]
check("incident points", sorted((r["name"], r["event"], r["incident"]) for r in inc),
      sorted((e["name"], e["event"], e["incident"]) for e in incs))
# Values: every kept row's score, threshold, alert and seq, by (device, channel, seq).
want = {(str(e["device"]), str(e["channel"]), e["seq"]):
        (e["score"], e["threshold"], e["type"] == "alert") for e in kept}
got = {(r["device"], r["channel"], r["seq"]): (r["score"], r["threshold"], r["alert"])
       for r in score}
check("points keyed by device, channel and seq", sorted(got), sorted(want))
close = lambda a, b: a is None and b is None or abs(a - b) <= 1e-5 * max(1, abs(b))
bad = [k for k in want if k in got and not (close(got[k][0], want[k][0]) and
       close(got[k][1], want[k][1]) and got[k][2] == want[k][2])]
check("points whose score, threshold or alert differ from the JSON line", bad[:3], [])
check("feature fields", sorted(k for k in feat[0] if k not in ("time",)) if feat else None,
      ["asset", "cell", "channel", "device", "kurtosis", "line", "name", "plant", "rms",
       "sensor", "station", "units"])
# Tags: the metadata as the policy gives it (the group's for the presses).
c1 = [r for r in score if r["name"] == "conveyor-1-vib"]
check("conveyor-1 tags", {(r["line"], r["station"], r["asset"], r["sensor"], r["units"],
                           r["cell"], r["plant"]) for r in c1},
      {("L2", "st 2,a=b", 'belt "A"', "accel-x", "m/s2", "c 1", None)})
p1 = [r for r in score if r["name"] in ("press-1-vib", "press-2-vib")]
check("press tags (the group's)", {(r["line"], r["station"], r["plant"], r["asset"]) for r in p1},
      {("L1", "press shop", "north", None)})
j1 = [e for e in lines if e["name"] == "conveyor-1-vib"][0]
check("the JSON line's meta", j1.get("meta"),
      {"line": "L2", "station": "st 2,a=b", "asset": 'belt "A"', "sensor": "accel-x",
       "units": "m/s2", "tags": {"cell": "c 1"}})
c1_lines = [e for e in lines if e["name"] == "conveyor-1-vib"]
check("every line of conveyor-1 carries its meta, whatever its type",
      ({json.dumps(e.get("meta"), sort_keys=True) for e in c1_lines},
       {e["type"] for e in c1_lines} >= {"score", "alert", "incident"}),
      ({json.dumps(j1.get("meta"), sort_keys=True)}, True))
# Counters: every line made was written; what decimation left out is counted apart.
check("lines made", st["lines"], {"score": len(kept), "features": len(kept),
                                  "incident": len(incs)})
check("written", st["written"], 2 * len(kept) + len(incs))
check("dropped", st["dropped"], {"buffer_full": 0, "refused": 0, "shutdown": 0})
check("skipped by decimation", st["skipped"], sum(n.values()) - len(kept))
sys.exit(0 if ok else 1)
PY

# InfluxDB stops mid-run: the lines made before are written; those after wait, are retried
# with backoff, and at SIGINT given up within two seconds, counted as dropped (shutdown).
write_policy "$T/policy2.yaml" lg2
"$LG_BIN_DP" -p "$T/policy2.yaml" -B 127.0.0.1 -c "$T/dp2.sock" -s "$T/stats2.json" \
	-o "$T/out2.jsonl" 2> "$T/dp2.err" &
DP=$!
LG_PIDS="$LG_PIDS $DP"
lg_wait_for 5 test -S "$T/dp2.sock" || lg_fail "linegate did not start again"
"$LG_BIN_GEN" -p "$T/policy2.yaml" -t 127.0.0.1:$PORT -S 127.0.0.1 -n 40 -r 2000 -q \
	--first-seq 101
written() {
	lg_dp_stats "$T/s.json" "$T/dp2.sock" && lg_json "$T/s.json" 'd["influx"]["buffered"]'
}
lg_wait_value 10 0 written || lg_fail "the first lines were not written"
stop_influx
"$LG_BIN_GEN" -p "$T/policy2.yaml" -t 127.0.0.1:$PORT -S 127.0.0.1 -n 40 -r 2000 -q \
	--first-seq 141
retried() {
	lg_dp_stats "$T/s.json" "$T/dp2.sock" && lg_json "$T/s.json" 'd["influx"]["retries"] > 1'
}
lg_wait_value 15 True retried || lg_fail "no retries while InfluxDB was down"
start=$SECONDS
kill -INT $DP
wait $DP || lg_fail "linegate exited with status $?: $(cat "$T/dp2.err")"
took=$((SECONDS - start))
echo "linegate stopped in $took s with InfluxDB down"
[ $took -le 6 ] || lg_fail "linegate took $took s to stop with InfluxDB down"
start_influx
query lg2 "SELECT count(score) FROM linegate_score" > "$T/c-score.json"
query lg2 "SELECT count(rms) FROM linegate_features" > "$T/c-feat.json"
query lg2 "SELECT count(max_score) FROM linegate_incident" > "$T/c-inc.json"
/usr/bin/python3 - "$T" <<'PY'
import json, sys
T = sys.argv[1]
st = json.load(open(T + "/stats2.json"))
ix = st["influx"]
def count(f):
    r = json.load(open(f"{T}/{f}"))["results"][0]
    return r["series"][0]["values"][0][1] if "series" in r else 0
stored = count("c-score.json") + count("c-feat.json") + count("c-inc.json")
made = sum(ix["lines"].values())
ok = True
def check(name, got, want):
    global ok
    print(f"{name}: {'ok' if got == want else 'FAILED'}: got {got}, want {want}")
    ok &= got == want
print(ix)
check("scoring went on", st["scored"], 2 * 8 * 40)
check("points in InfluxDB = written", stored, ix["written"])
check("made = written + dropped", made, ix["written"] + sum(ix["dropped"].values()))
check("dropped at shutdown: the lines made after InfluxDB stopped", ix["dropped"]["shutdown"] > 0, True)
check("nothing refused or dropped for room", (ix["dropped"]["refused"], ix["dropped"]["buffer_full"]), (0, 0))
check("nothing left buffered", ix["buffered"], 0)
sys.exit(0 if ok else 1)
PY
grep -q "influx: http://127.0.0.1:$IPORT/write: Couldn't connect to server" "$T/dp2.err" ||
	lg_fail "the connection error was not logged: $(cat "$T/dp2.err")"
n=$(grep -c "Couldn't connect to server" "$T/dp2.err" || true)
[ "$n" = 1 ] || lg_fail "the connection error was logged $n times, not once"

# InfluxDB down and back while linegate runs, its buffer too small for the outage: the lines
# dropped for room and the server's return are said once each (trial K, s21: only counters).
sed "s#timeout_ms: 1000}#timeout_ms: 1000, max_buffer_lines: 100}#" "$T/policy2.yaml" > "$T/policy2b.yaml"
grep -q "max_buffer_lines: 100" "$T/policy2b.yaml" || lg_fail "policy2b has no max_buffer_lines"
"$LG_BIN_DP" -p "$T/policy2b.yaml" -B 127.0.0.1 -c "$T/dp2b.sock" -o "$T/out2b.jsonl" \
	2> "$T/dp2b.err" &
DP=$!
LG_PIDS="$LG_PIDS $DP"
lg_wait_for 5 test -S "$T/dp2b.sock" || lg_fail "linegate did not start (2b)"
stop_influx
"$LG_BIN_GEN" -p "$T/policy2b.yaml" -t 127.0.0.1:$PORT -S 127.0.0.1 -n 60 -r 2000 -q \
	--first-seq 181
full() {
	lg_dp_stats "$T/s.json" "$T/dp2b.sock" &&
		lg_json "$T/s.json" 'd["influx"]["dropped"]["buffer_full"] > 0 and d["influx"]["retries"] > 1'
}
lg_wait_value 15 True full || lg_fail "no buffer_full drops while InfluxDB was down: $(cat "$T/s.json")"
lg_wait_for 10 grep -q "influx: the buffer is full (max_buffer_lines 100)" "$T/dp2b.err" ||
	lg_fail "the buffer_full drops were not said: $(cat "$T/dp2b.err")"
start_influx
lg_wait_for 20 grep -q "influx: http://127.0.0.1:$IPORT/write takes lines again after [0-9.]* s; lines dropped meanwhile (buffer_full): [1-9]" \
	"$T/dp2b.err" || lg_fail "InfluxDB's return was not said: $(cat "$T/dp2b.err")"
kill -INT $DP
wait $DP || lg_fail "linegate exited with status $?: $(cat "$T/dp2b.err")"
[ "$(grep -c "the buffer is full" "$T/dp2b.err")" = 1 ] || lg_fail "the full buffer was said more than once"

# A database that does not exist: InfluxDB refuses every batch (404); each is dropped and
# counted as refused, the status and InfluxDB's answer logged once.
write_policy "$T/policy3.yaml" nosuchdb
"$LG_BIN_DP" -p "$T/policy3.yaml" -B 127.0.0.1 -c "$T/dp3.sock" -s "$T/stats3.json" \
	-o "$T/out3.jsonl" 2> "$T/dp3.err" &
DP=$!
LG_PIDS="$LG_PIDS $DP"
lg_wait_for 5 test -S "$T/dp3.sock" || lg_fail "linegate did not start a third time"
"$LG_BIN_GEN" -p "$T/policy3.yaml" -t 127.0.0.1:$PORT -S 127.0.0.1 -n 40 -r 2000 -q \
	--first-seq 241
refused() {
	lg_dp_stats "$T/s.json" "$T/dp3.sock" && lg_json "$T/s.json" 'd["influx"]["requests"] >= 2 and d["influx"]["buffered"] == 0'
}
lg_wait_value 10 True refused || lg_fail "the batches were not all answered"
kill -INT $DP
wait $DP || lg_fail "linegate exited with status $?: $(cat "$T/dp3.err")"
/usr/bin/python3 - "$T/stats3.json" <<'PY'
import json, sys
ix = json.load(open(sys.argv[1]))["influx"]
print(ix)
made = sum(ix["lines"].values())
ok = made > 0 and ix["written"] == 0 and ix["dropped"]["refused"] == made
ok &= ix["last_status"] == 404 and ix["requests"] == ix["failures"] and ix["retries"] == 0
sys.exit(0 if ok else 1)
PY
n=$(grep -c 'refused a batch of .* lines with HTTP 404: {"error":"database not found: \\"nosuchdb\\""}' "$T/dp3.err" || true)
[ "$n" = 1 ] || lg_fail "the refusal was logged $n times, not once: $(cat "$T/dp3.err")"
echo PASS
