#!/usr/bin/env bash
# Device metadata (issue 12, docs/policy.md "Metadata"): every record of a device carries
# its 'meta' (a group's filling in what the device leaves out) in the JSON lines and, the
# same text, in MQTT payloads a real mosquitto delivers; the per-device metrics carry line,
# station and asset as labels. A live apply changes the metadata without a restart: the
# reply lists the change as live, later records and the next scrape carry the new values.
source "$(dirname "$0")/lib.sh"
command -v mosquitto >/dev/null || lg_skip "mosquitto is not installed"
command -v mosquitto_sub >/dev/null || lg_skip "mosquitto_sub is not installed"
lg_tmp
T=$LG_TMP
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
MQPORT=$(free_port)
PORT=$(free_port)
MPORT=$(free_port)
cat > "$T/mosquitto.conf" <<CONF
listener $MQPORT 127.0.0.1
allow_anonymous true
persistence false
CONF
mosquitto -c "$T/mosquitto.conf" > "$T/broker.log" 2>&1 &
LG_PIDS="$LG_PIDS $!"
lg_wait_for 5 python3 -c "import socket; socket.create_connection(('127.0.0.1', $MQPORT), 1)" ||
	lg_fail "mosquitto did not start: $(cat "$T/broker.log")"

# LINE2 STATION3: the conveyor's line and the presses' station (changed by the apply).
write_policy() { # write_policy FILE LINE STATION
	sed -e "s#^  model: .*#  model: $LG_SOURCE/control/defaults/model.json#" \
	    -e "s#source: 10.77.0.2#source: 127.0.0.1#" \
	    -e "s#^port: 4739#port: $PORT#" -e "s#^uadp_port: 4840#uadp_port: 0#" \
	    -e "s#^  jsonl: .*#  jsonl: $T/out.jsonl\n  mqtt: {host: 127.0.0.1, port: $MQPORT, topic: lgmeta, qos_alerts: 1, qos_scores: 1}#" \
	    -e "s#^devices:#groups:\n  presses: {meta: {line: L1, station: '$3', units: g, tags: {plant: north, shift: a}}}\ndevices:#" \
	    -e "s#^    name: press-1-vib#    name: press-1-vib\n    group: presses\n    meta: {asset: 'press \\\\ 1', tags: {shift: b}}#" \
	    -e "s#^    name: press-2-vib#    name: press-2-vib\n    group: presses#" \
	    -e "s#^    name: conveyor-1-vib#    name: conveyor-1-vib\n    meta: {line: $2, station: 'st \"2\"', asset: belt-1, sensor: accel-x, units: m/s2}#" \
	    "$LG_SOURCE/control/defaults/policy.yaml" > "$1"
}
write_policy "$T/policy.yaml" L2 press-shop
write_policy "$T/policy2.yaml" L9 press-hall
lg_keys "$T"

mosquitto_sub -h 127.0.0.1 -p $MQPORT -t 'lgmeta/#' -q 1 -v > "$T/sub.txt" 2>&1 &
SUB=$!
LG_PIDS="$LG_PIDS $SUB"
sleep 0.3
"$LG_BIN_DP" -p "$T/policy.yaml" -B 127.0.0.1 -c "$T/dp.sock" -s "$T/stats.json" \
	--metrics 127.0.0.1:$MPORT 2> "$T/dp.err" &
DP=$!
LG_PIDS="$LG_PIDS $DP"
lg_wait_for 5 test -S "$T/dp.sock" || lg_fail "linegate did not start: $(cat "$T/dp.err")"
"$LG_BIN_GEN" -p "$T/policy.yaml" -t 127.0.0.1:$PORT -S 127.0.0.1 -n 20 -r 2000 -q
scored() { lg_dp_stats "$T/s.json" && lg_json "$T/s.json" 'd["scored"]'; }
lg_wait_value 10 160 scored || lg_fail "the first 20 frames were not all scored"
curl -sf "http://127.0.0.1:$MPORT/metrics" > "$T/metrics1.txt" || lg_fail "scrape 1"
wc -l < "$T/out.jsonl" > "$T/n1"

PYTHONPATH=$LG_SOURCE/tests/e2e python3 -c '
import json, sys, lgsock
r = lgsock.call(sys.argv[1], {"cmd": "apply", "policy": open(sys.argv[2]).read()})
print(json.dumps(r.get("changes")) if r.get("ok") else "error: " + r.get("error", ""))' \
	"$T/dp.sock" "$T/policy2.yaml" > "$T/apply.out" || lg_fail "apply failed"
"$LG_BIN_GEN" -p "$T/policy.yaml" -t 127.0.0.1:$PORT -S 127.0.0.1 -n 20 -r 2000 -q \
	--first-seq 21
lg_wait_value 10 320 scored || lg_fail "the next 20 frames were not all scored"
curl -sf "http://127.0.0.1:$MPORT/metrics" > "$T/metrics2.txt" || lg_fail "scrape 2"
kill -INT $DP
wait $DP || lg_fail "linegate exited with status $?"
sleep 0.5
kill $SUB 2>/dev/null || true

/usr/bin/python3 - "$T" <<'PY'
import json, sys
T = sys.argv[1]
lines = [json.loads(l) for l in open(T + "/out.jsonl")]
n1 = int(open(T + "/n1").read())
msgs = []
for l in open(T + "/sub.txt"):
    topic, payload = l.rstrip("\n").split(" ", 1)
    if topic.split("/")[1] == "status":   # online/offline (birth, will, devices): no record
        continue
    msgs.append((topic, json.loads(payload)))
ok = True
def check(name, got, want):
    global ok
    print(f"{name}: {'ok' if got == want else 'FAILED'}: got {str(got)[:300]}, want {str(want)[:300]}")
    ok &= got == want
press1 = {"line": "L1", "station": "press-shop", "asset": "press \\ 1", "units": "g",
          "tags": {"shift": "b", "plant": "north"}}
conv1 = {"line": "L2", "station": 'st "2"', "asset": "belt-1", "sensor": "accel-x",
         "units": "m/s2"}
press2 = {"line": "L1", "station": "press-shop", "units": "g",
          "tags": {"plant": "north", "shift": "a"}}
def metas(rows, name):
    return [json.dumps(e.get("meta"), sort_keys=True) for e in rows if e["name"] == name]
before = lines[:n1]
for name, want in (("press-1-vib", press1), ("conveyor-1-vib", conv1),
                   ("press-2-vib", press2), ("fan-1-vib", None)):
    m = metas(before, name)
    check(f"{name}: every line before the apply carries its meta", set(m),
          {json.dumps(want, sort_keys=True)})
    check(f"{name}: 20 lines before", len(m), 20)
check("meta is the last member of a line (the record's own members first)",
      list(before[0].keys())[-1] if before[0].get("meta") else "meta", "meta")
after = lines[n1:]
check("conveyor-1 after the apply", set(metas(after, "conveyor-1-vib")),
      {json.dumps(dict(conv1, line="L9"), sort_keys=True)})
check("press-2 after the apply (its group's station)", set(metas(after, "press-2-vib")),
      {json.dumps(dict(press2, station="press-hall"), sort_keys=True)})
check("MQTT payloads are the JSON lines", sorted(json.dumps(m, sort_keys=True) for t, m in msgs),
      sorted(json.dumps(e, sort_keys=True) for e in lines))
check("MQTT messages with the conveyor's meta",
      sum(1 for t, m in msgs if m.get("meta") == conv1), 20)
changes = json.loads(open(T + "/apply.out").read())
check("the apply's changes: meta, live, per device",
      sorted((c["device"], c["field"], c["class"], c["old"], c["new"]) for c in changes
             if c.get("field") == "meta"),
      [(101, "meta", "live", "line=L1 station=press-shop asset=press \\ 1 units=g tags shift=b,plant=north",
        "line=L1 station=press-hall asset=press \\ 1 units=g tags shift=b,plant=north"),
       (102, "meta", "live", "line=L1 station=press-shop units=g tags plant=north,shift=a",
        "line=L1 station=press-hall units=g tags plant=north,shift=a"),
       (103, "meta", "live", 'line=L2 station=st "2" asset=belt-1 sensor=accel-x units=m/s2',
        'line=L9 station=st "2" asset=belt-1 sensor=accel-x units=m/s2')])
def admitted(path):
    out = {}
    for l in open(path):
        if l.startswith("linegate_device_admitted_total{"):
            labels, v = l.rsplit(" ", 1)
            out[labels[len("linegate_device_admitted_total"):]] = int(v)
    return out
a1, a2 = admitted(T + "/metrics1.txt"), admitted(T + "/metrics2.txt")
check("labels before the apply", sorted(a1.items())[:3], [
    ('{device="101",name="press-1-vib",line="L1",station="press-shop",asset="press \\\\ 1"}', 20),
    ('{device="102",name="press-2-vib",line="L1",station="press-shop"}', 20),
    ('{device="103",name="conveyor-1-vib",line="L2",station="st \\"2\\"",asset="belt-1"}', 20)])
check("labels after the apply", sorted(a2.items())[:3], [
    ('{device="101",name="press-1-vib",line="L1",station="press-hall",asset="press \\\\ 1"}', 40),
    ('{device="102",name="press-2-vib",line="L1",station="press-hall"}', 40),
    ('{device="103",name="conveyor-1-vib",line="L9",station="st \\"2\\"",asset="belt-1"}', 40)])
check("a device without meta keeps device and name only",
      a2.get('{device="106",name="fan-1-vib"}'), 40)
check("sensor, units and tags are no labels",
      [l for l in open(T + "/metrics2.txt") if "sensor=" in l or "plant=" in l or "units=" in l], [])
sys.exit(0 if ok else 1)
PY
echo PASS
