#!/usr/bin/env bash
# MQTT output through TLS with a password and a client certificate (issue 12): a mosquitto of
# our own on a free loopback port with a CA and certificates made here, no anonymous clients,
# a password file, client certificates required.
#  1. Records arrive on their topics at their kind's QoS, with MQTT 5's content type; the
#     line server's status goes online at connect, each device online with its first record
#     and offline after device_offline_seconds of silence; SIGKILL: the last will says
#     offline; a late subscriber gets the retained status and incidents, nothing else.
#  2. A wrong password (MQTT 5 and 3.1.1) and a CA that did not sign the broker's certificate:
#     never connected, a line on stderr that says why, a counter by reason.
source "$(dirname "$0")/lib.sh"
command -v mosquitto >/dev/null || lg_skip "mosquitto is not installed"
command -v mosquitto_sub >/dev/null || lg_skip "mosquitto_sub is not installed"
command -v mosquitto_passwd >/dev/null || lg_skip "mosquitto_passwd is not installed"
command -v openssl >/dev/null || lg_skip "openssl is not installed"
lg_tmp
T=$LG_TMP
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# A CA, the broker's certificate for 127.0.0.1 and two clients' signed by it, another CA.
mkdir -p "$T/pki"
(
cd "$T/pki"
for ca in ca other; do
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=test $ca" \
		-keyout $ca.key -out $ca.crt 2>/dev/null || exit 1
done
printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
for who in broker linegate reader; do
	openssl req -newkey rsa:2048 -nodes -subj "/CN=$who" -keyout $who.key \
		-out $who.csr 2>/dev/null || exit 1
	openssl x509 -req -in $who.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
		-extfile san.ext -out $who.crt 2>/dev/null || exit 1
done
chmod 600 ./*.key
) || lg_fail "openssl: the test CA and certificates"
# Users: linegate (its password in a 0600 file, as the policy wants) and a reader.
printf 'Lg-secret-9431\n' > "$T/mqtt.pass"
printf 'not-the-password\n' > "$T/wrong.pass"
chmod 600 "$T/mqtt.pass" "$T/wrong.pass"
mosquitto_passwd -b -c "$T/passwd" linegate Lg-secret-9431 || lg_fail "mosquitto_passwd"
mosquitto_passwd -b "$T/passwd" reader Rd-secret-2207 || lg_fail "mosquitto_passwd"
cat > "$T/mosquitto.conf" <<CONF
listener $PORT 127.0.0.1
allow_anonymous false
password_file $T/passwd
persistence false
cafile $T/pki/ca.crt
certfile $T/pki/broker.crt
keyfile $T/pki/broker.key
require_certificate true
# Run as root, it would switch to user mosquitto, who cannot read the test folder (0700).
user root
CONF
mosquitto -c "$T/mosquitto.conf" > "$T/broker.log" 2>&1 &
LG_PIDS="$LG_PIDS $!"
lg_wait_for 5 python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" ||
	lg_fail "mosquitto did not start: $(cat "$T/broker.log")"
SUBARGS=(-h 127.0.0.1 -p "$PORT" --cafile "$T/pki/ca.crt" --cert "$T/pki/reader.crt"
	 --key "$T/pki/reader.key" -u reader -P Rd-secret-2207 -V mqttv5)

lg_keys "$T"
# policy FILE EXTRA...: the default policy on loopback with the MQTT output's keys given.
policy() {
	local f=$1; shift
	sed -e "s#^  model: .*#  model: $LG_SOURCE/control/defaults/model.json#" \
	    -e "s#source: 10.77.0.2#source: 127.0.0.1#" \
	    -e "s#^port: 4739#port: $((PORT + 1))#" -e "s#^uadp_port: 4840#uadp_port: 0#" \
	    -e "s#^  jsonl: .*#  jsonl: $T/out.jsonl\n  mqtt: {host: 127.0.0.1, port: ${BROKER_PORT:-$PORT}, topic: lgtls/line1, $*}#" \
	    "$LG_SOURCE/control/defaults/policy.yaml" > "$f"
}
TLS="tls: {ca_file: pki/ca.crt, cert_file: pki/linegate.crt, key_file: pki/linegate.key}"
policy "$T/policy.yaml" "username: linegate, password_file: mqtt.pass, $TLS, qos_alerts: 2," \
	"qos_incidents: 1, retain_incidents: true, qos_scores: 0, qos_events: 1," \
	"device_offline_seconds: 2"
"$LG_BIN_CTL" validate "$T/policy.yaml" > /dev/null || lg_fail "the test policy is refused"


# 1. The subscriber first: it sees everything, with QoS 2 asked (a message keeps its own).
mosquitto_sub "${SUBARGS[@]}" -t 'lgtls/#' -q 2 -F '%t|%q|%r|%C|%p' > "$T/sub.txt" \
	2> "$T/sub.err" &
SUB=$!
LG_PIDS="$LG_PIDS $SUB"
sleep 0.5
kill -0 $SUB 2>/dev/null || lg_fail "the reader could not subscribe: $(cat "$T/sub.err")"
MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$LG_BIN_DP" -p "$T/policy.yaml" -B 127.0.0.1 -c "$T/dp.sock" -m 127.0.0.1:$MPORT 2> "$T/dp.err" &
DP=$!
LG_PIDS="$LG_PIDS $DP"
lg_wait_for 5 test -S "$T/dp.sock" || lg_fail "linegate did not start: $(cat "$T/dp.err")"
lg_wait_for 10 lg_dp_holds "$T/dp.sock" 's["mqtt"]["connected"]' ||
	lg_fail "linegate did not connect over TLS: $(cat "$T/dp.err")"
"$LG_BIN_GEN" -p "$T/policy.yaml" -t 127.0.0.1:$((PORT + 1)) -S 127.0.0.1 -n 100 -r 2000 \
	-f 103:50:bearing -q
# Every device offline after 2 s of silence, and every record delivered.
lg_wait_for 10 lg_dp_holds "$T/dp.sock" 's["mqtt"]["devices"]["offline"] == 8' ||
	lg_fail "the devices did not turn offline: $(cat "$T/dp.err")"
lg_wait_for 10 lg_dp_holds "$T/dp.sock" 's["mqtt"]["delivered"] == s["mqtt"]["published"]' ||
	lg_fail "not every message was delivered"
python3 -c "import sys, json, lgsock
json.dump(lgsock.call(sys.argv[1], {'cmd': 'stats'})['stats'], open(sys.argv[2], 'w'))" \
	"$T/dp.sock" "$T/stats.json"
# The same counters in Prometheus's text (promtool-clean where promtool is installed).
python3 -c "import sys, urllib.request
sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$MPORT/metrics').read().decode())" \
	> "$T/metrics.txt" || lg_fail "no metrics"
if command -v promtool >/dev/null; then
	promtool check metrics < "$T/metrics.txt" > "$T/promtool.txt" 2>&1 ||
		lg_fail "promtool: $(grep -i mqtt "$T/promtool.txt" | head -5)"
fi
"$LG_BIN_CTL" stats --dataplane "$T/dp.sock" > "$T/ctl-stats.txt" || lg_fail "linegatectl stats"
kill -KILL $DP
wait $DP 2>/dev/null || true
# The broker sees the connection gone without a DISCONNECT and publishes the will (within 15 s:
# a loaded CI machine once took more than 5, s25).
lg_wait_for 15 grep -q '^lgtls/line1/status|1|.|.*|offline$' "$T/sub.txt" ||
	lg_fail "no last will after SIGKILL: $(tail -3 "$T/sub.txt")"
# A late subscriber: the retained messages only (status, device status, incidents).
mosquitto_sub "${SUBARGS[@]}" -t 'lgtls/#' -q 2 -F '%t|%q|%r|%C|%p' -W 2 > "$T/late.txt" \
	2>/dev/null || true
kill $SUB 2>/dev/null || true

python3 - "$T/stats.json" "$T/out.jsonl" "$T/sub.txt" "$T/late.txt" "$T/metrics.txt" \
	"$T/ctl-stats.txt" <<'PY' || lg_fail "part 1"
import collections, json, re, sys
st = json.load(open(sys.argv[1]))["mqtt"]
prom = {}
for l in open(sys.argv[5]):
    if l.startswith("linegate_mqtt"):
        k, v = l.rsplit(" ", 1)
        prom[k] = float(v)
ctl = open(sys.argv[6]).read()
lines = [json.loads(l) for l in open(sys.argv[2])]
def read(path):
    out = []
    for l in open(path):
        t, q, r, c, p = l.rstrip("\n").split("|", 4)
        out.append((t, int(q), int(r), c, p))
    return out
sub, late = read(sys.argv[3]), read(sys.argv[4])
ok = True
def check(name, got, want):
    global ok
    print(f"{name}: {'ok' if got == want else 'FAILED'}: got {str(got)[:300]}, want {str(want)[:300]}")
    ok &= got == want
kind = {"alert": "alerts", "score": "scores", "incident": "incidents", "event": "events"}
recs = [m for m in sub if "/status" not in m[0]]
want = sorted((f"lgtls/line1/{kind[e['type']]}/{e['name']}", json.dumps(e, sort_keys=True))
              for e in lines)
got = sorted((t, json.dumps(json.loads(p), sort_keys=True)) for t, q, r, c, p in recs)
check("records on their topics, as the JSON lines", got, want)
check("records by kind", dict(collections.Counter(t.split("/")[2] for t, *_ in recs)),
      dict(collections.Counter(kind[e["type"]] for e in lines)))
# an incident open at the stop: its final update too, when windows came after the open
ie = [e["event"] for e in lines if e["type"] == "incident"]
check("some alerts, one incident, a drift event",
      (sum(e["type"] == "alert" for e in lines) > 0, ie, sum(e["type"] == "event" for e in lines)),
      (True, ["open"] + (["update"] if len(ie) > 1 else []), 1))
qos = {"alerts": 2, "incidents": 1, "scores": 0, "events": 1}
check("QoS by kind", {(t.split("/")[2], q) for t, q, *_ in recs},
      {(k, qos[k]) for k in {t.split("/")[2] for t, *_ in recs}})
check("MQTT 5 content type", {c for *_, c, p in recs}, {"application/json"})
status = [(p, q) for t, q, r, c, p in sub if t == "lgtls/line1/status"]
check("line server: birth, then the will at SIGKILL (QoS 1)", status,
      [("online", 1), ("offline", 1)])
devs = sorted({e["name"] for e in lines})
dstat = collections.defaultdict(list)
for t, q, r, c, p in sub:
    if t.startswith("lgtls/line1/status/"):
        dstat[t.split("/")[3]].append(p)
# An enrolled device silent for 2 s from the start is offline before its first record.
check("each device online, then offline after its silence",
      {d: v[-2:] if v[:-2] in ([], ["offline"]) else v for d, v in dstat.items()},
      {d: ["online", "offline"] for d in devs})
check("counters: records published", sum(v for k, v in st["published_by_kind"].items()
                                          if k != "status"), len(lines))
check("counters: status published", st["published_by_kind"]["status"],
      1 + sum(len(v) for v in dstat.values()))
check("counters: nothing dropped", (st["dropped_scores"], st["dropped_alerts"]), (0, 0))
check("counters: one connection, no errors",
      (st["connects"], sum(st["connect_errors"].values())), (1, 0))
check("Prometheus: published by kind, as the stats",
      {k: int(prom[f'linegate_mqtt_published_total{{kind="{k}"}}']) for k in st["published_by_kind"]},
      st["published_by_kind"])
check("Prometheus: delivered, connects, connected, no errors, devices offline",
      (prom["linegate_mqtt_delivered_total"], prom["linegate_mqtt_connects_total"],
       prom["linegate_mqtt_connected"],
       sum(v for k, v in prom.items() if k.startswith("linegate_mqtt_connect_errors_total")),
       sum(v for k, v in prom.items() if k.startswith("linegate_mqtt_dropped_total")),
       prom['linegate_mqtt_devices{status="offline"}']),
      (st["delivered"], 1, 1, 0, 0, 8))
check("linegatectl stats shows the mqtt block", ("mqtt" in ctl, "published_by_kind" in ctl,
      "connect_errors" in ctl), (True, True, True))
# Retained: incidents (retain_incidents) and status; alerts, scores, events are not.
inc = [e for e in lines if e["type"] == "incident"]
check("late subscriber: retained messages only", sorted((t, r, p if "/status" in t else
      json.loads(p)["event"]) for t, q, r, c, p in late),
      sorted([("lgtls/line1/status", 1, "offline")] +
             [("lgtls/line1/status/" + d, 1, "offline") for d in devs] +
             [(f"lgtls/line1/incidents/{inc[-1]['name']}", 1, inc[-1]["event"])]))
sys.exit(0 if ok else 1)
PY

# 2. Refused: a wrong password (MQTT 5, then 3.1.1), a CA that did not sign the broker's
# certificate, no broker on the port. Never connected; counted by why; said once on stderr;
# and why in /readyz, /status.json, the status page and linegatectl stats (issue 12,
# re-check trial 12: /readyz said "not connected" only).
refused() {
	local name=$1 what=$2 line=$3; shift 3
	local bport=${BROKER_PORT:-$PORT}
	local hport
	hport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	policy "$T/$name.yaml" "client_id: lg-$name, $*"
	"$LG_BIN_DP" -p "$T/$name.yaml" -B 127.0.0.1 -c "$T/$name.sock" -m 127.0.0.1:$hport \
		2> "$T/$name.err" &
	local dp=$!
	LG_PIDS="$LG_PIDS $dp"
	lg_wait_for 5 test -S "$T/$name.sock" || lg_fail "$name: linegate did not start"
	lg_wait_for 10 lg_dp_holds "$T/$name.sock" "s['mqtt']['connect_errors']['$what'] >= 1" ||
		lg_fail "$name: no connect_errors.$what: $(cat "$T/$name.err")"
	lg_dp_holds "$T/$name.sock" "s['mqtt']['connects'] == 0 and not s['mqtt']['connected'] and \
sum(s['mqtt']['connect_errors'].values()) == s['mqtt']['connect_errors']['$what']" ||
		lg_fail "$name: connected, or counted under another reason"
	"$LG_BIN_CTL" stats --dataplane "$T/$name.sock" --json > "$T/$name.ctl.json" ||
		lg_fail "$name: linegatectl stats"
	python3 -c "import json, sys
e = json.load(open(sys.argv[1]))
e = e.get('stats', e)['mqtt']['connect_errors']
sys.exit(0 if e['$what'] >= 1 else 1)" "$T/$name.ctl.json" ||
		lg_fail "$name: linegatectl stats does not show connect_errors.$what"
	"$LG_BIN_CTL" stats --dataplane "$T/$name.sock" > "$T/$name.ctl.txt" ||
		lg_fail "$name: linegatectl stats"
	python3 - "http://127.0.0.1:$hport" "$what" "$line" "$T/$name.ctl.txt" <<'PY' ||
import html, json, sys, urllib.error, urllib.request
from lgcheck import check, done
base, what, line, ctl = sys.argv[1:5]
def get(path):
    try:
        r = urllib.request.urlopen(base + path, timeout=5)
        return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
# the text said on stderr, up to its hint: the reason of the failure
said = line.split(": check ")[0].split(": is the broker")[0]
code, body = get("/readyz")
check("/readyz: 503", code, 503)
mq = [l for l in body.splitlines() if l.startswith("output.mqtt:")]
check("/readyz names why", len(mq) == 1 and f"; last failure: {what}: " in mq[0] and said in mq[0],
      True)
print("  /readyz:", mq)
code, body = get("/status.json")
st = json.loads(body)
check("status.json: mqtt.last_error.reason", st["mqtt"]["last_error"]["reason"], what)
check("status.json: mqtt.last_error.message", said in st["mqtt"]["last_error"]["message"], True)
check("status.json: ready_reasons say why",
      any(f"last failure: {what}: " in r for r in st["ready_reasons"]), True)
code, page = get("/")
check("status page: the reason among the problems",
      f'<li class="bad">' in page and html.escape(f"last failure: {what}: " + said, quote=False) in page.replace("&#39;", "'").replace("&quot;", '"') or
      f"last failure: {what}: " + said in html.unescape(page), True)
text = open(ctl).read()
check("linegatectl stats: last_error", ("last_error:" in text,
      any(l.split() == ["reason", what] for l in text.splitlines())), (True, True))
done()
PY
		lg_fail "$name: the reason is not in /readyz, status.json, the page or linegatectl stats"
	kill -INT $dp
	wait $dp || lg_fail "$name: linegate exited with status $?"
	grep -qF "$line" "$T/$name.err" || lg_fail "$name: stderr does not say '$line': $(cat "$T/$name.err")"
	[ "$(grep -c "linegate: mqtt: 127.0.0.1:$bport:" "$T/$name.err")" = 1 ] ||
		lg_fail "$name: the refusal should be said once: $(cat "$T/$name.err")"
	! grep -q "not-the-password\|Lg-secret" "$T/$name.err" || lg_fail "$name: a password in the log"
	echo "$name: $(grep "linegate: mqtt: 127.0.0.1:$bport:" "$T/$name.err")"
}
refused wrong-pw-5 auth "the broker refused the connection: Not authorized: check output.mqtt.username and password_file" \
	"username: linegate, password_file: wrong.pass, $TLS"
refused wrong-pw-311 auth "the broker refused the connection: Connection Refused: not authorised: check output.mqtt.username" \
	"protocol: 3.1.1, username: linegate, password_file: wrong.pass, $TLS"
refused wrong-ca tls "TLS: the broker's certificate was not trusted" \
	"username: linegate, password_file: mqtt.pass, tls: {ca_file: pki/other.crt, cert_file: pki/linegate.crt, key_file: pki/linegate.key}"
# No broker on the port: network.
BROKER_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
refused broker-down network "Connection refused: is the broker running and listening there?" \
	"username: linegate, password_file: mqtt.pass, $TLS"
unset BROKER_PORT
! grep -q "Lg-secret\|not-the-password" "$T/dp.err" || lg_fail "a password in linegate's log"
echo PASS
