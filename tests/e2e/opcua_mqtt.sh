#!/usr/bin/env bash
# OPC UA PubSub over MQTT against a real broker: a mosquitto of our own on a free loopback
# port, and linegate subscribed to it (policy 'opcua_mqtt'). open62541's tutorial publisher's
# captured messages (tests/fixtures/opcua/mqtt: its UADP and its JSON mapping) are published
# again with mosquitto_pub and go through the worker path a UDP datagram takes. Exact
# counters: the captures admitted, their copies refused by the device's replay protection
# (replay: timestamp), the same messages for a UDP-only device refused as spoofed_source, a
# UADP datagram over UDP for the MQTT-only device refused the same way, bad JSON, an event, a
# delta frame with a field the policy does not name and an unknown publisher under their
# reasons. A JSON publisher's key frame (a window's worth of samples, a Float and a String
# field) and two delta frames (the samples alone, then the samples and a new String) come out
# as three scored JSON lines named by their fields, with the String as it last was. Then the
# broker restarts: linegate reconnects and keeps counting.
source "$(dirname "$0")/lib.sh"
command -v mosquitto >/dev/null || lg_skip "mosquitto is not installed"
command -v mosquitto_pub >/dev/null || lg_skip "mosquitto_pub is not installed"
lg_tmp
T=$LG_TMP
F=$LG_SOURCE/tests/fixtures/opcua
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
UPORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$T/mosquitto.conf" <<CONF
listener $PORT 127.0.0.1
allow_anonymous true
persistence false
CONF
start_broker() {
	mosquitto -c "$T/mosquitto.conf" >> "$T/broker.log" 2>&1 &
	BROKER=$!
	LG_PIDS="$LG_PIDS $BROKER"
	lg_wait_for 5 python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" ||
		lg_fail "mosquitto did not start: $(cat "$T/broker.log")"
}
start_broker

mkdir -p "$T/keys"
cp "$F"/keys/k128-1.key "$T/keys/"
chmod 700 "$T/keys"
chmod 600 "$T"/keys/*.key
cat > "$T/policy.yaml" <<EOF
version: 1
port: $((UPORT + 1))
uadp_port: $UPORT
detection:
  window: 256
  batch: 1
  model: $LG_SOURCE/control/defaults/model.json
models:
  trusted_keys: [c3126d69f8a2631f3922c10c7d9dd9422464cbeb25dc6416f0d452089979b3f6]
opcua_mqtt:
  host: 127.0.0.1
  port: $PORT
  topics: [plant/+/uadp, plant/+/json]
  client_id: linegate-e2e
# The MQTT output to the same broker, beside the input: two clients of one process.
output:
  mqtt: {host: 127.0.0.1, port: $PORT, topic: lgtest/line1, qos_alerts: 1, qos_scores: 1}
devices:
  # open62541's tutorial publisher, over MQTT only: unsigned, no UADP sequence numbers.
  - id: 1
    name: tutorial
    keys: [{id: 1, key_file: $T/keys/k128-1.key}]
    uadp: {publisher_id: 2234, writer_group: 100, writer: 62541, security: none,
           replay: timestamp, transport: mqtt, fields: [Server localtime]}
  # A UDP device: nothing for it may come through the broker.
  - id: 2
    name: udp-only
    source: 127.0.0.1
    keys: [{id: 1, key_file: $T/keys/k128-1.key}]
    uadp: {publisher_id: 2235, writer_group: 100, writer: 62541, security: none,
           replay: timestamp}
  # A JSON publisher with a String PublisherId, a sample array and a String field.
  - id: 3
    name: press-7
    source: 127.0.0.1
    keys: [{id: 1, key_file: $T/keys/k128-1.key}]
    uadp: {publisher_id: line-7, publisher_type: string, writer_group: 1, writer: 5,
           security: none, transport: any, fields: [vibration, temperature, mode],
           channels: [vibration]}
EOF

# The messages: the captures, a UDP-only device's identity, hostile and unknown ones.
python3 - "$F/mqtt" "$T" <<'PY'
import json, sys
src, t = sys.argv[1], sys.argv[2]
def sub(name):
    return [bytes.fromhex(l.split()[1]) for l in open(f"{src}/{name}") if l.strip()]
uadp, js = sub("mqtt-uadp.sub"), sub("mqtt-json.sub")
for i, b in enumerate(uadp):
    open(f"{t}/uadp{i}.bin", "wb").write(b)
for i, b in enumerate(js):
    open(f"{t}/json{i}.bin", "wb").write(b)
# PublisherId 2235 (UInt16 at bytes 2..3), the UDP-only device's.
b = bytearray(uadp[0]); b[2:4] = (2235).to_bytes(2, "little")
open(f"{t}/spoof.bin", "wb").write(bytes(b))
open(f"{t}/spoof.json", "wb").write(js[0].replace(b'"PublisherId":"2234"', b'"PublisherId":"2235"'))
open(f"{t}/bad.json", "w").write('{"MessageType":"ua-data","PublisherId":"2234","Messages":[{')
open(f"{t}/event.json", "w").write(json.dumps({"MessageType": "ua-data", "PublisherId": "2234",
    "Messages": [{"DataSetWriterId": 62541, "MessageType": "ua-event",
                  "Payload": {"EventId": {"UaType": 15, "Value": "AAE="}}}]}))
open(f"{t}/unknown.json", "w").write(json.dumps({"MessageType": "ua-data", "PublisherId": "9999",
    "Messages": [{"DataSetWriterId": 1, "Payload": {"x": 1}}]}))
samples = [round(((i * 37) % 17 - 8) / 4.0, 3) for i in range(256)]
open(f"{t}/press.json", "w").write(json.dumps({"MessageType": "ua-data", "PublisherId": "line-7",
    "Messages": [{"DataSetWriterId": 5, "SequenceNumber": 1, "MessageType": "ua-keyframe",
                  "Payload": {"temperature": {"UaType": 11, "Value": 21.5},
                              "vibration": {"UaType": 10, "Value": samples},
                              "mode": {"UaType": 12, "Value": "run"}}}]}))
# Delta frames (Part 14 7.2.5.4: only the fields that changed), in the non-reversible form
# too: the samples alone; then the samples and the String; then a field 'fields' lacks.
def delta(seq, payload):
    return json.dumps({"MessageType": "ua-data", "PublisherId": "line-7",
        "Messages": [{"DataSetWriterId": 5, "SequenceNumber": seq,
                      "MessageType": "ua-deltaframe", "Payload": payload}]})
open(f"{t}/delta2.json", "w").write(delta(2, {"vibration": {"UaType": 10, "Value": samples}}))
open(f"{t}/delta3.json", "w").write(delta(3, {"mode": "stop", "vibration": samples}))
open(f"{t}/delta4.json", "w").write(delta(4, {"rpm": 1450}))
PY
NU=$(ls "$T"/uadp*.bin | wc -l)
NJ=$(ls "$T"/json*.bin | wc -l)

"$LG_BIN_DP" -p "$T/policy.yaml" -B 127.0.0.1 -c "$T/dp.sock" -s "$T/stats.json" \
	-o "$T/out.jsonl" 2> "$T/dp.err" &
DP=$!
LG_PIDS="$LG_PIDS $DP"
lg_wait_for 5 test -S "$T/dp.sock" || lg_fail "linegate did not start: $(cat "$T/dp.err")"

# stat EXPR: a value of the live stats (d), from the control socket.
stat() { lg_ctl "$T/dp.sock" '{"cmd": "stats"}' stats | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
connected() { [ "$(stat 'd["opcua_mqtt"]["connected"]')" = True ]; }
received_is() { [ "$(stat 'd["opcua_mqtt"]["received"]')" = "$1" ]; }
judged_is() { [ "$(stat 'd["received"]')" = "$1" ]; }
lg_wait_for 10 connected || lg_fail "linegate did not connect to the broker: $(cat "$T/dp.err")"
# The subscription follows the connection's acknowledgement: give it a moment.
sleep 0.3

pubf() { mosquitto_pub -h 127.0.0.1 -p $PORT -q 1 -t "$1" -f "$2"; }
# In the order open62541 sent them (the UADP run came first): every one is newer.
for ((i = 0; i < NU; i++)); do pubf plant/tutorial/uadp "$T/uadp$i.bin"; done
for ((i = 0; i < NJ; i++)); do pubf plant/tutorial/json "$T/json$i.bin"; done
# The same again: a replay through the broker.
for ((i = 0; i < NU; i++)); do pubf plant/tutorial/uadp "$T/uadp$i.bin"; done
for ((i = 0; i < NJ; i++)); do pubf plant/tutorial/json "$T/json$i.bin"; done
# A UDP-only device's identity through the broker, UADP and JSON.
pubf plant/spoof/uadp "$T/spoof.bin"
pubf plant/spoof/json "$T/spoof.json"
# JSON that is not a NetworkMessage, an event, an unknown publisher.
pubf plant/tutorial/json "$T/bad.json"
pubf plant/tutorial/json "$T/event.json"
pubf plant/other/json "$T/unknown.json"
# A window's worth of samples in one JSON message, and again: its device's replay protection
# is 'sequence', which JSON's SequenceNumber feeds.
pubf plant/press/json "$T/press.json"
pubf plant/press/json "$T/press.json"
# Its delta frames: two more windows, and one that cannot be placed.
pubf plant/press/json "$T/delta2.json"
pubf plant/press/json "$T/delta3.json"
pubf plant/press/json "$T/delta4.json"
# A topic linegate does not subscribe to: never received.
pubf plant/tutorial/other "$T/uadp0.bin"
N1=$((2 * NU + 2 * NJ + 10))
lg_wait_for 10 received_is $N1 || lg_fail "linegate received $(stat 'd["opcua_mqtt"]') of $N1"
# The MQTT-only device's message as a UDP datagram from its publisher's address.
python3 -c "
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0))
s.sendto(open(sys.argv[1], 'rb').read(), ('127.0.0.1', int(sys.argv[2])))" "$T/uadp0.bin" $UPORT
lg_wait_for 5 judged_is $((N1 + 1)) || lg_fail "counted $(stat 'd["received"]') of $((N1 + 1))"
lg_dp_stats "$T/stats1.json"

# The broker restarts: linegate reconnects by itself and goes on counting.
kill $BROKER
wait $BROKER 2>/dev/null || true
# linegate sees the broker go (so that the reconnection below is one).
for ((i = 0; i < 50; i++)); do connected || break; sleep 0.1; done
start_broker
lg_wait_for 30 connected || lg_fail "linegate did not reconnect to the broker"
# ... and its log says both: the broker lost, the connection made again.
grep -q "linegate: opcua_mqtt: lost 127.0.0.1:$PORT (.*); reconnecting" "$T/dp.err" &&
	grep -q "linegate: opcua_mqtt: connected to 127.0.0.1:$PORT (connection 2)" "$T/dp.err" ||
	lg_fail "no log line for the broker's restart: $(grep opcua_mqtt "$T/dp.err")"
sleep 0.3
# Fresh messages from the tutorial publisher after the restart: its newest JSON message one
# second later, and its UADP with a timestamp after that.
python3 - "$T" <<'PY'
import json, struct, sys
t = sys.argv[1]
import glob
last = sorted(glob.glob(f"{t}/json*.bin"))[-1]
j = json.loads(open(last).read())
m = j["Messages"][0]
m["SequenceNumber"] += 100
m["Timestamp"] = "2026-12-04T21:00:00.0000001Z"
open(f"{t}/fresh.json", "w").write(json.dumps(j))
b = bytearray(open(f"{t}/uadp0.bin", "rb").read())
struct.pack_into("<q", b, 12, 134408916000000000)  # 2026-12-04T21:00:00Z and a bit
open(f"{t}/fresh.bin", "wb").write(bytes(b))
PY
pubf plant/tutorial/json "$T/fresh.json"
pubf plant/tutorial/uadp "$T/fresh.bin"
lg_wait_for 10 received_is $((N1 + 2)) || lg_fail "after the restart: $(stat 'd["opcua_mqtt"]')"
lg_wait_for 5 judged_is $((N1 + 3)) || lg_fail "counted $(stat 'd["received"]') of $((N1 + 3))"
kill -INT $DP
wait $DP || lg_fail "linegate exited with status $?"

python3 - "$T/stats1.json" "$T/stats.json" "$T/out.jsonl" $NU $NJ <<'PY'
import json, sys
s1, st = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
lines = [json.loads(l) for l in open(sys.argv[3])]
nu, nj = int(sys.argv[4]), int(sys.argv[5])
ok = True
def check(name, got, want):
    global ok
    print(f"{name}: {'ok' if got == want else 'FAILED'}: got {got}, want {want}")
    ok &= got == want
def nonzero(d):
    return {k: v for k, v in d.items() if v}
dev = lambda s, n: next(d for d in s["devices"] if d["name"] == n)
# Before the restart: the captures once (and the press), their copies, the spoofs, the rest.
check("received before the restart", s1["received"], 2 * nu + 2 * nj + 10 + 1)
check("admitted before the restart", s1["admitted"], nu + nj + 3)
check("drops before the restart", nonzero(s1["drops"]),
      # replayed: the newest capture's copy, and the press's second message
      {"too_old": nu + nj - 1, "replayed": 2, "spoofed_source": 3, "mqtt_bad_json": 1,
       "uadp_event": 1, "unsupported": 1, "unknown_device": 1})
check("received = admitted + dropped", s1["received"], s1["admitted"] + sum(s1["drops"].values()))
check("the tutorial device's messages", dev(s1, "tutorial")["admitted"], nu + nj)
check("the UDP-only device admitted nothing", dev(s1, "udp-only")["admitted"], 0)
check("the press's windows", (dev(s1, "press-7")["admitted"], dev(s1, "press-7")["windows"]), (3, 3))
om = s1["opcua_mqtt"]
check("opcua_mqtt before the restart",
      {k: om[k] for k in ("connected", "connects", "received", "json", "handed_to_workers", "dropped")},
      {"connected": True, "connects": 1, "received": 2 * nu + 2 * nj + 10, "json": 2 * nj + 9,
       "handed_to_workers": 2 * nu + 2 * nj + 7, "dropped": 3})
# The bad JSON, the event and the unplaceable delta frame never became UADP; everything else,
# and the datagram, was judged by a worker.
check("UADP the workers judged", s1["uadp_received"], 2 * nu + 2 * nj + 7 + 1)
check("unsigned admitted", s1["uadp_unsigned_admitted"], nu + nj + 3)
# After it: reconnected, two fresh messages admitted.
om = st["opcua_mqtt"]
check("reconnected", (om["connects"], om["reconnects"]), (2, 1))
check("received in all", st["received"], s1["received"] + 2)
check("admitted in all", st["admitted"], s1["admitted"] + 2)
check("no new drops", nonzero(st["drops"]), nonzero(s1["drops"]))
check("received = admitted + dropped at the end", st["received"],
      st["admitted"] + sum(st["drops"].values()))
# The press's windows as JSON lines, named by their fields: the key frame's, then a delta
# frame's (the fields it left out keep their values), then one with a new String.
press = [l for l in lines if l.get("name") == "press-7" and "channel" in l]
check("JSON lines of the press", len(press), 3)
check("their channels", [l.get("channel_name") for l in press], ["vibration"] * 3)
# the replay window's numbers: the 16-bit SequenceNumbers 1, 2, 3 unwrapped (plus one)
check("their sequence numbers", [l.get("seq") for l in press], [2, 3, 4])
check("their other fields", [l.get("fields") for l in press],
      [{"temperature": 21.5, "mode": "run"}, {"temperature": 21.5, "mode": "run"},
       {"temperature": 21.5, "mode": "stop"}])
# published counts the status messages too (issue 12: birth, each device's online)
check("the MQTT output published them",
      (sum(v for k, v in st["mqtt"]["published_by_kind"].items() if k != "status"),
       st["mqtt"]["delivered"]), (len(lines), st["mqtt"]["published"]))
sys.exit(0 if ok else 1)
PY
echo PASS
