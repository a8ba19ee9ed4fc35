#!/usr/bin/env bash
# OPC UA PubSub over MQTT through TLS: a mosquitto of our own with a certificate from a CA made
# here, linegate subscribed with opcua_mqtt.tls.ca_file. open62541's tutorial UADP capture is
# admitted through it; linegate given another CA never connects (the broker is not trusted),
# and counts nothing.
source "$(dirname "$0")/lib.sh"
command -v mosquitto >/dev/null || lg_skip "mosquitto is not installed"
command -v mosquitto_pub >/dev/null || lg_skip "mosquitto_pub is not installed"
command -v openssl >/dev/null || lg_skip "openssl is not installed"
lg_tmp
T=$LG_TMP
F=$LG_SOURCE/tests/fixtures/opcua
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# A CA, the broker's certificate for 127.0.0.1 signed by it, and a CA nobody used.
mkdir -p "$T/pki"
cd "$T/pki"
for ca in ca other; do
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=test $ca" \
		-keyout $ca.key -out $ca.crt 2>/dev/null || lg_fail "openssl: CA"
done
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout broker.key \
	-out broker.csr 2>/dev/null || lg_fail "openssl: broker key"
printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
openssl x509 -req -in broker.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
	-extfile san.ext -out broker.crt 2>/dev/null || lg_fail "openssl: broker certificate"
chmod 600 ./*.key
cd - >/dev/null
cat > "$T/mosquitto.conf" <<CONF
listener $PORT 127.0.0.1
allow_anonymous true
persistence false
cafile $T/pki/ca.crt
certfile $T/pki/broker.crt
keyfile $T/pki/broker.key
# Run as root, it would switch to user mosquitto, who cannot read the test folder (0700).
user root
CONF
mosquitto -c "$T/mosquitto.conf" > "$T/broker.log" 2>&1 &
LG_PIDS="$LG_PIDS $!"
lg_wait_for 5 python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" ||
	lg_fail "mosquitto did not start: $(cat "$T/broker.log")"

mkdir -p "$T/keys"
cp "$F"/keys/k128-1.key "$T/keys/"
chmod 700 "$T/keys"
chmod 600 "$T"/keys/*.key
policy() {
	cat > "$1" <<POL
version: 1
port: $((PORT + 1))
detection:
  window: 256
  model: $LG_SOURCE/control/defaults/model.json
models:
  trusted_keys: [c3126d69f8a2631f3922c10c7d9dd9422464cbeb25dc6416f0d452089979b3f6]
opcua_mqtt:
  host: 127.0.0.1
  port: $PORT
  topics: [plant/+/uadp]
  tls: {ca_file: $T/pki/$2.crt}
devices:
  - id: 1
    name: tutorial
    keys: [{id: 1, key_file: $T/keys/k128-1.key}]
    uadp: {publisher_id: 2234, writer_group: 100, writer: 62541, security: none,
           replay: timestamp, transport: mqtt}
POL
}
policy "$T/policy.yaml" ca
policy "$T/other.yaml" other
sed -i "s/^port: .*/port: $((PORT + 2))/" "$T/other.yaml"
python3 - "$F/mqtt/mqtt-uadp.sub" "$T" <<'PY'
import sys
for i, l in enumerate(x for x in open(sys.argv[1]) if x.strip()):
    open(f"{sys.argv[2]}/uadp{i}.bin", "wb").write(bytes.fromhex(l.split()[1]))
PY
N=$(ls "$T"/uadp*.bin | wc -l)

"$LG_BIN_DP" -p "$T/policy.yaml" -B 127.0.0.1 -c "$T/dp.sock" -s "$T/stats.json" \
	-o "$T/out.jsonl" 2> "$T/dp.err" &
DP=$!
LG_PIDS="$LG_PIDS $DP"
"$LG_BIN_DP" -p "$T/other.yaml" -B 127.0.0.1 -c "$T/dp2.sock" -s "$T/stats2.json" \
	-o "$T/out2.jsonl" --state-dir "$T/state2" 2> "$T/dp2.err" &
DP2=$!
LG_PIDS="$LG_PIDS $DP2"
lg_wait_for 10 test -S "$T/dp.sock" || lg_fail "linegate did not start: $(cat "$T/dp.err")"
lg_wait_for 10 test -S "$T/dp2.sock" || lg_fail "linegate did not start: $(cat "$T/dp2.err")"
stat() { lg_ctl "$1" '{"cmd": "stats"}' stats | python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"; }
connected() { [ "$(stat "$T/dp.sock" 'd["opcua_mqtt"]["connected"]')" = True ]; }
lg_wait_for 10 connected || lg_fail "linegate did not connect through TLS: $(cat "$T/broker.log")"
sleep 0.3
for ((i = 0; i < N; i++)); do
	mosquitto_pub -h 127.0.0.1 -p $PORT --cafile "$T/pki/ca.crt" -q 1 -t plant/tutorial/uadp \
		-f "$T/uadp$i.bin" || lg_fail "mosquitto_pub through TLS"
done
received() { [ "$(stat "$T/dp.sock" 'd["received"]')" = "$N" ]; }
lg_wait_for 10 received || lg_fail "received $(stat "$T/dp.sock" 'd["opcua_mqtt"]') of $N"
kill -INT $DP $DP2
wait $DP || lg_fail "linegate exited with status $?"
wait $DP2 || lg_fail "the other linegate exited with status $?: $(tail -5 "$T/dp2.err")"
python3 - "$T/stats.json" "$T/stats2.json" $N <<'PY'
import json, sys
st, st2, n = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3])
ok = True
def check(name, got, want):
    global ok
    print(f"{name}: {'ok' if got == want else 'FAILED'}: got {got}, want {want}")
    ok &= got == want
check("through TLS: received, admitted", (st["received"], st["admitted"]), (n, n))
check("through TLS: connects", st["opcua_mqtt"]["connects"], 1)
check("another CA: never connected, nothing received",
      (st2["opcua_mqtt"]["connects"], st2["opcua_mqtt"]["received"], st2["received"]), (0, 0, 0))
sys.exit(0 if ok else 1)
PY
echo PASS
