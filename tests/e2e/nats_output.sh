#!/usr/bin/env bash
# NATS JetStream output against a real nats-server (-js, a free loopback port, its store in
# the test's folder), the stream made by linegate-fleet stream-create and read back by
# linegate-fleet stream-dump (docs/fleet.md):
#  1. every incident, alert and drift event linegate writes as a JSON line arrives in the
#     stream exactly once, on <prefix>.<plant>.<line>.<kind>.<device>, scores one in
#     score_every per device; the outbox ends empty;
#  2. nats-server frozen (SIGSTOP) during traffic, killed and restarted on the same store:
#     what it never acknowledged is sent again (resent > 0), nothing lost, no record twice;
#  3. linegate stopped during a NATS outage with records in its outbox, started again after
#     the server is back: those records arrive (once), with no traffic of their own;
#  4. TLS: a server with a certificate of a test CA, linegate trusting that CA (output.nats.tls)
#     publishes to it; trusting another CA, it never connects and keeps its records;
#  5. an outbox of 64 KiB filled during an outage: scores refused past 3/4 of it, alerts past
#     7/8, counted and said as it happens; every incident line arrives; what arrives
#     afterwards is exactly the records after any evicted ones, in order of their sequence
#     numbers;
#  6. subjects no stream takes: every publish refused (errors), the records kept; once the
#     stream is made, they arrive, once each.
source "$(dirname "$0")/lib.sh"
lg_need_nats
lg_tmp
T=$LG_TMP
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=nats://127.0.0.1:$PORT
start_nats() {
	nats-server -js -a 127.0.0.1 -p "$PORT" -sd "$T/js" > "$T/nats.log" 2>&1 &
	NATS=$!
	LG_PIDS="$LG_PIDS $NATS"
	lg_wait_for 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" ||
		lg_fail "nats-server did not start: $(tail -5 "$T/nats.log")"
}
start_nats
"$FLEET" stream-create --url "$URL" --stream LGTEST --subject-prefix lgtest --max-age 1h \
	--duplicate-window 10m > "$T/create.txt" || lg_fail "stream-create failed"
grep -q "stream LGTEST ready: subjects lgtest.>, replicas 1, duplicate window 600 s" \
	"$T/create.txt" || lg_fail "stream-create said: $(cat "$T/create.txt")"

sed -e "s#^  model: .*#  model: $LG_SOURCE/control/defaults/model.json#" \
    -e "s#source: 10.77.0.2#source: 127.0.0.1#" \
    -e "s#^port: 4739#port: $((PORT + 1))#" -e "s#^uadp_port: 4840#uadp_port: 0#" \
    -e "s#^  jsonl: .*#  jsonl: $T/out.jsonl\n  nats: {urls: $URL, subject_prefix: lgtest, plant: north, line: line1, outbox: {dir: $T/outbox}, score_every: 10}#" \
    "$LG_SOURCE/control/defaults/policy.yaml" > "$T/policy.yaml"
lg_keys "$T"

start_dp() { # NAME [extra args]
	local n=$1
	shift
	"$LG_BIN_DP" -p "$T/policy.yaml" -B 127.0.0.1 -c "$T/$n.sock" -s "$T/$n.stats.json" \
		-o "$T/$n.jsonl" "$@" 2> "$T/$n.err" &
	DP=$!
	LG_PIDS="$LG_PIDS $DP"
	lg_wait_for 5 test -S "$T/$n.sock" || lg_fail "linegate $n did not start: $(cat "$T/$n.err")"
}
stop_dp() {
	kill -INT $DP
	wait $DP || lg_fail "linegate exited with status $?: $(tail -3 "$T/$1.err")"
}
gen() { "$LG_BIN_GEN" -p "$T/policy.yaml" -t 127.0.0.1:$((PORT + 1)) -S 127.0.0.1 -q "$@"; }
STREAM=LGTEST PREFIX=lgtest DUMP_URL=$URL DUMP_TLS=()
dump() { "$FLEET" stream-dump --url "$DUMP_URL" --stream $STREAM "${DUMP_TLS[@]}" \
	> "$T/stream.jsonl" || lg_fail "stream-dump failed"; }

# check RUNS...: the stream holds exactly the records of the JSON lines of these runs.
check() {
	dump
	python3 - "$T" "$PREFIX" "$@" <<'PY'
import collections, json, sys
T, prefix, runs = sys.argv[1], sys.argv[2], sys.argv[3:]
stream = [json.loads(l) for l in open(f"{T}/stream.jsonl")]
want = []
for r in runs:
    every = collections.Counter()
    for l in open(f"{T}/{r}.jsonl"):
        e = json.loads(l)
        kind = e["type"]
        if kind == "score":
            every[e["name"]] += 1
            if (every[e["name"]] - 1) % 10:
                continue
        if kind not in ("incident", "alert", "event", "score"):
            continue
        want.append((f"{prefix}.north.line1.{kind}.{e['name']}", json.dumps(e, sort_keys=True)))
got = [(m["subject"], json.dumps(json.loads(m["data"]), sort_keys=True)) for m in stream]
ids = [m["msg_id"] for m in stream]
ok = True
def expect(name, g, w):
    global ok
    print(f"{name}: {'ok' if g == w else 'FAILED'}: got {str(g)[:300]}, want {str(w)[:300]}")
    ok &= g == w
kinds = collections.Counter(s.split(".")[3] for s, _ in want)
print("expected records by kind:", dict(kinds))
expect("records in the stream", len(got), len(want))
expect("records missing from the stream", sorted(collections.Counter(want) - collections.Counter(got))[:3], [])
expect("records in the stream twice or not written", sorted(collections.Counter(got) - collections.Counter(want))[:3], [])
expect("message ids unique", len(set(ids)), len(ids))
expect("message ids <plant>:<line>:<outbox id>:<seq>",
       all(i.startswith("north:line1:") and len(i.split(":")) == 4 for i in ids), True)
expect("incidents, alerts and events present", kinds["incident"] > 0 and kinds["alert"] > 0 and kinds["event"] > 0, True)
sys.exit(0 if ok else 1)
PY
}

# 1. Exactly once, with decimated scores; the Prometheus counters say the same.
MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_dp run1 --metrics 127.0.0.1:$MPORT
gen -n 100 -r 2000 -f 103:50:bearing -j "$T/sent1.json"
lg_wait_for 10 lg_dp_holds "$T/run1.sock" 's["nats"]["outbox"]["records"] == 0' ||
	lg_fail "run 1: the outbox did not empty"
python3 - "$T/run1.sock" "$MPORT" <<'PY' || lg_fail "run 1: Prometheus and stats differ"
import sys, urllib.request, lgsock
n = lgsock.call(sys.argv[1], {"cmd": "stats"})["stats"]["nats"]
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[2]}/metrics", timeout=5).read().decode()
m = {}
for l in text.splitlines():
    if l.startswith("linegate_nats"):
        k, v = l.rsplit(" ", 1)
        m[k] = float(v)
want = {"linegate_nats_published_total": n["published"], "linegate_nats_acked_total": n["acked"],
        "linegate_nats_resent_total": 0, "linegate_nats_errors_total": 0,
        "linegate_nats_outbox_records": 0, "linegate_nats_connected": 1,
        "linegate_nats_outbox_bytes": n["outbox"]["bytes"],
        'linegate_nats_outbox_dropped_total{reason="score_full"}': 0,
        'linegate_nats_outbox_dropped_total{reason="evicted"}': 0,
        'linegate_nats_outbox_dropped_total{reason="disk"}': 0,
        'linegate_nats_outbox_dropped_total{reason="too_large"}': 0}
bad = {k: (m.get(k), v) for k, v in want.items() if m.get(k) != v}
print("prometheus nats:", "ok" if not bad and n["published"] > 0 else f"FAILED {bad}")
sys.exit(0 if not bad and n["published"] > 0 else 1)
PY
stop_dp run1
check run1 || lg_fail "run 1: the stream does not hold the records once each"
python3 - "$T/run1.stats.json" <<'PY' || lg_fail "run 1: counters"
import json, sys
n = json.load(open(sys.argv[1]))["nats"]
print(n)
ok = n["published"] == n["acked"] == n["outbox"]["appended"] and n["resent"] == 0
ok &= n["outbox"]["records"] == 0 and n["errors"] == 0 and n["duplicates"] == 0
ok &= n["scores_skipped"] > 0 and n["connected"] and n["connects"] == 1
sys.exit(0 if ok else 1)
PY

# 2. The server killed during traffic and restarted on the same store.
HPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_dp run2 -m 127.0.0.1:$HPORT
readyz() {
	python3 -c "
import urllib.request, urllib.error
try:
    print(urllib.request.urlopen('http://127.0.0.1:$HPORT/readyz').read().decode())
except urllib.error.HTTPError as e:
    print(e.read().decode())" 2>&1
}
# connected before the freeze (on a loaded machine linegate's first connect came after it,
# to the frozen server: a different test)
lg_wait_for 20 lg_dp_holds "$T/run2.sock" 's["nats"]["connected"]' ||
	lg_fail "run 2: linegate did not connect"
gen -n 400 -r 400 --first-seq 101 -f 105:100:imbalance -j "$T/sent2.json" &
GEN=$!
sleep 0.4
# Frozen first: linegate goes on publishing into its socket for a second, records the
# server never stores nor acknowledges; then killed, and started again on its store.
kill -STOP $NATS
sleep 1
kill -9 $NATS; wait $NATS 2>/dev/null || true
# /readyz (ready_reasons) says why, as MQTT's does (trial J F13: "not connected" only)
nats_why() { readyz | grep -q "output.nats: not connected to a NATS server .*; last failure: "; }
lg_wait_for 10 nats_why || lg_fail "run 2: /readyz has no last failure for NATS: $(readyz)"
start_nats
wait $GEN
lg_wait_for 30 lg_dp_holds "$T/run2.sock" 's["nats"]["outbox"]["records"] == 0' ||
	lg_fail "run 2: the outbox did not empty after the server came back"
stop_dp run2
# the loss and the new connection each said once, not per record (trial J F13: no line)
grep -q "^linegate: nats: connected to nats://" "$T/run2.err" ||
	lg_fail "run 2: the first connection not said: $(grep nats: "$T/run2.err")"
lost=$(grep -c "^linegate: nats: the connection to .* was lost" "$T/run2.err" || true)
again=$(grep -c "^linegate: nats: connected again after [0-9]* s to nats://" "$T/run2.err" || true)
given=$(grep -c "^linegate: nats: libnats gave the connection up" "$T/run2.err" || true)
[ "$lost" -ge 1 ] && [ "$lost" -le 3 ] && [ "$again" -ge 1 ] && [ "$again" -le 3 ] ||
	[ "$given" -ge 1 ] ||
	lg_fail "run 2: loss said $lost times, reconnection $again: $(grep nats: "$T/run2.err" | head)"
check run1 run2 || lg_fail "run 2: the stream does not hold the records once each"
python3 - "$T/run2.stats.json" <<'PY' || lg_fail "run 2: counters"
import json, sys
n = json.load(open(sys.argv[1]))["nats"]
print(n)
# the connection lost and made again (by libnats, or by linegate when libnats gave it up:
# closes); what was in flight during the freeze is sent again (resent) unless nothing was
# (a slow machine); check() above holds the stream to every record exactly once.
ok = n["connects"] >= 2 and n["published"] >= n["outbox"]["appended"]
ok &= n["outbox"]["records"] == 0
ok &= n["outbox"]["evicted"] == 0 and n["outbox"]["dropped_disk"] == 0
sys.exit(0 if ok else 1)
PY

# 3. linegate stopped during an outage; its outbox sent after a restart.
kill $NATS; wait $NATS 2>/dev/null || true
start_dp run3
gen -n 100 -r 2000 --first-seq 501 -f 107:30:bearing -j "$T/sent3.json"
sleep 1
stop_dp run3
python3 -c "
import json, sys
n = json.load(open('$T/run3.stats.json'))['nats']
print(n)
sys.exit(0 if not n['connected'] and n['outbox']['records'] > 0 and n['acked'] == 0 else 1)" ||
	lg_fail "run 3: records should wait in the outbox"
start_nats
start_dp run4
lg_wait_for 30 lg_dp_holds "$T/run4.sock" 's["nats"]["outbox"]["records"] == 0' ||
	lg_fail "run 4: the outbox of run 3 did not empty"
stop_dp run4
[ ! -s "$T/run4.jsonl" ] || lg_fail "run 4 had traffic of its own"
check run1 run2 run3 || lg_fail "run 4: the stream does not hold run 3's records once each"

# 4. TLS.
cp "$T/policy.yaml" "$T/policy-plain.yaml"
if command -v openssl >/dev/null; then
	mkdir -p "$T/pki"
	(
	cd "$T/pki"
	for ca in ca other; do
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=test $ca" \
			-keyout $ca.key -out $ca.crt 2>/dev/null || exit 1
	done
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server.key \
		-out server.csr 2>/dev/null || exit 1
	printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
	openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
		-extfile san.ext -out server.crt 2>/dev/null || exit 1
	chmod 600 ./*.key
	) || lg_fail "openssl: the test CA and the server's certificate"
	TPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	nats-server -js -a 127.0.0.1 -p "$TPORT" -sd "$T/js-tls" --tls --tlscert "$T/pki/server.crt" \
		--tlskey "$T/pki/server.key" > "$T/nats-tls.log" 2>&1 &
	LG_PIDS="$LG_PIDS $!"
	lg_wait_for 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $TPORT), 1)" ||
		lg_fail "nats-server (TLS) did not start: $(tail -5 "$T/nats-tls.log")"
	STREAM=LGTLS PREFIX=lgtls DUMP_URL=tls://127.0.0.1:$TPORT DUMP_TLS=(--tls-ca "$T/pki/ca.crt")
	"$FLEET" stream-create --url "$DUMP_URL" "${DUMP_TLS[@]}" --stream LGTLS \
		--subject-prefix lgtls > "$T/create-tls.txt" || lg_fail "stream-create over TLS failed"
	sed -e "s#  nats: {.*#  nats: {urls: $DUMP_URL, subject_prefix: lgtls, plant: north, line: line1, outbox: {dir: $T/outbox-tls}, score_every: 10, tls: {ca_file: pki/ca.crt}}#" \
		"$T/policy-plain.yaml" > "$T/policy.yaml"
	start_dp run5
	gen -n 100 -r 2000 --first-seq 601 -f 103:20:bearing -j "$T/sent5.json"
	lg_wait_for 10 lg_dp_holds "$T/run5.sock" 's["nats"]["outbox"]["records"] == 0' ||
		lg_fail "run 5: the outbox did not empty over TLS"
	stop_dp run5
	check run5 || lg_fail "run 5: the TLS stream does not hold the records once each"
	# The same server, trusted through a CA that did not sign its certificate.
	sed -i "s#ca_file: pki/ca.crt#ca_file: pki/other.crt#; s#outbox-tls#outbox-other#" \
		"$T/policy.yaml"
	start_dp run6
	gen -n 100 -r 2000 --first-seq 701 -f 103:20:bearing -j "$T/sent6.json"
	sleep 1
	stop_dp run6
	python3 -c "
import json, sys
n = json.load(open('$T/run6.stats.json'))['nats']
print(n)
sys.exit(0 if n['connects'] == 0 and n['acked'] == 0 and n['outbox']['records'] > 0 else 1)" ||
		lg_fail "run 6: a server whose certificate the CA did not sign was trusted"
else
	echo "SKIP (part 4): openssl is not installed"
fi

# 5. A full outbox during an outage (the plain server, stopped).
kill $NATS; wait $NATS 2>/dev/null || true
sed -e "s#outbox: {dir: $T/outbox}, score_every: 10#outbox: {dir: $T/outbox-small, max_bytes: 65536}, score_every: 1#" \
	"$T/policy-plain.yaml" > "$T/policy.yaml"
grep -q outbox-small "$T/policy.yaml" || lg_fail "part 5: the policy was not changed"
start_dp run7
gen -n 300 -r 3000 --first-seq 801 -f 103:20:bearing -j "$T/sent7.json"
sleep 1
stop_dp run7
python3 -c "
import json, sys
n = json.load(open('$T/run7.stats.json'))['nats']; o = n['outbox']
print(n)
# score_every 1: every line is a record, written or refused (counted), none unaccounted.
lines = sum(1 for l in open('$T/run7.jsonl')
            if json.loads(l)['type'] in ('incident', 'alert', 'event', 'score'))
print('lines', lines, '= appended + refused:', o['appended'] + o['dropped_scores'] +
      o['dropped_alerts'] + o['dropped_disk'] + o['dropped_too_large'])
sys.exit(0 if o['dropped_scores'] > 0 and o['dropped_alerts'] > 0 and o['bytes'] <= 65536 and
         o['records'] == o['appended'] - o['evicted'] and o['acked_seq'] == o['evicted'] and
         lines == o['appended'] + o['dropped_scores'] + o['dropped_alerts'] +
         o['dropped_disk'] + o['dropped_too_large'] else 1)" ||
	lg_fail "run 7: the full outbox's counts"
# said as it happened, not only at exit (trial Q, s23)
grep -qE "^linegate: nats: the outbox lost records: [0-9]+ scores and feature records refused since the start" "$T/run7.err" ||
	lg_fail "run 7: no line of the scores refused: $(cat "$T/run7.err")"
grep -qE "^linegate: nats: the outbox lost records: .*[0-9]+ alerts refused since the start \(past 7/8 of max_bytes: the last eighth is kept for incident lines and events\)" "$T/run7.err" ||
	lg_fail "run 7: no line of the alerts refused: $(cat "$T/run7.err")"
start_nats
start_dp run8
lg_wait_for 30 lg_dp_holds "$T/run8.sock" 's["nats"]["outbox"]["records"] == 0' ||
	lg_fail "run 8: the outbox of run 7 did not empty"
stop_dp run8
STREAM=LGTEST PREFIX=lgtest DUMP_URL=$URL DUMP_TLS=()
dump
python3 - "$T" "$(cat "$T/outbox-small/id")" <<'PY' || lg_fail "part 5: what arrived after the evictions"
import json, sys
T, oid = sys.argv[1], sys.argv[2]
o = json.load(open(f"{T}/run7.stats.json"))["nats"]["outbox"]
lines = {json.dumps(json.loads(l), sort_keys=True) for l in open(f"{T}/run7.jsonl")}
mine = [json.loads(l) for l in open(f"{T}/stream.jsonl")]
mine = [m for m in mine if m["msg_id"].split(":")[2] == oid]
seqs = [int(m["msg_id"].split(":")[3]) for m in mine]
ok = seqs == list(range(o["evicted"] + 1, o["appended"] + 1))
print("sequence numbers in the stream:", seqs[:3], "...", seqs[-3:], "want",
      o["evicted"] + 1, "..", o["appended"], ":", "ok" if ok else "FAILED")
known = all(json.dumps(json.loads(m["data"]), sort_keys=True) in lines for m in mine)
print("every record one of run 7's lines:", "ok" if known else "FAILED")
kinds = {m["subject"].split(".")[3] for m in mine}
print("kinds:", sorted(kinds))
# evicted by kind (trial Q, s23: only a total): what run 7 wrote less what arrived, less the
# scores refused
ek = o["evicted_by_kind"]
made, came = {}, {}
for l in open(f"{T}/run7.jsonl"):
    t = json.loads(l)["type"]
    made[t] = made.get(t, 0) + 1
for m in mine:
    t = json.loads(m["data"])["type"]
    came[t] = came.get(t, 0) + 1
byk = {"alerts": made.get("alert", 0) - came.get("alert", 0) - o["dropped_alerts"],
       "incidents": made.get("incident", 0) - came.get("incident", 0),
       "events": made.get("event", 0) - came.get("event", 0),
       "scores": made.get("score", 0) - came.get("score", 0) - o["dropped_scores"]}
print("evicted by kind", ek, "want", byk)
ok2 = sum(ek.values()) == o["evicted"] and all(ek[k] == byk[k] for k in byk)
print("evicted by kind:", "ok" if ok2 else "FAILED")
# the last eighth kept for them: every incident line of run 7 arrived
ok3 = made.get("incident", 0) > 0 and came.get("incident", 0) == made.get("incident", 0)
print("incident lines", made.get("incident", 0), "made,", came.get("incident", 0), "arrived:",
      "ok" if ok3 else "FAILED")
sys.exit(0 if ok and ok2 and ok3 and known and "alert" in kinds else 1)
PY

# 6. No stream for the subjects yet.
sed -e "s#subject_prefix: lgtest,#subject_prefix: lgnostream,#; s#outbox: {dir: $T/outbox}#outbox: {dir: $T/outbox-nostream}#" \
	"$T/policy-plain.yaml" > "$T/policy.yaml"
grep -q lgnostream "$T/policy.yaml" || lg_fail "part 6: the policy was not changed"
start_dp run9
gen -n 100 -r 2000 --first-seq 1101 -f 103:20:bearing -j "$T/sent9.json"
lg_wait_for 10 lg_dp_holds "$T/run9.sock" 's["nats"]["errors"] > 0' ||
	lg_fail "run 9: publishing with no stream did not fail"
lg_dp_holds "$T/run9.sock" 's["nats"]["acked"] == 0 and s["nats"]["outbox"]["records"] > 0' ||
	lg_fail "run 9: records should wait in the outbox"
# ... and it is said: once on stderr, in last_error, and not ready (trial Q, s23: silent,
# "ready", while every record was refused)
lg_wait_for 5 grep -q "linegate: nats: the server refused: no stream takes the subjects lgnostream.north.line1.> (no responders)" "$T/run9.err" ||
	lg_fail "run 9: no word of the missing stream: $(cat "$T/run9.err")"
[ "$(grep -c "no stream takes the subjects" "$T/run9.err")" = 1 ] ||
	lg_fail "run 9: the missing stream should be said once: $(cat "$T/run9.err")"
lg_dp_holds "$T/run9.sock" '"no stream takes" in s["nats"]["last_error"]' ||
	lg_fail "run 9: last_error does not say it"
"$LG_BIN_CTL" health --dataplane "$T/run9.sock" --ready > "$T/ready9.txt" 2>&1 &&
	lg_fail "run 9: ready while every record is refused: $(cat "$T/ready9.txt")"
grep -q "output.nats: connected, but the server acknowledges no record" "$T/ready9.txt" ||
	lg_fail "run 9: the readiness reason: $(cat "$T/ready9.txt")"
# ... and the refused records are sent again less and less often (1 s, doubled up to 16 s
# while nothing is acknowledged), not every second for as long as the stream is missing
lg_dp_stats "$T/s9a.json" "$T/run9.sock"
sleep 9
lg_dp_stats "$T/s9b.json" "$T/run9.sock"
python3 - "$T/s9a.json" "$T/s9b.json" <<'PY' || lg_fail "run 9: the refused records were sent again too often"
import json, sys
a, b = (json.load(open(f))["nats"] for f in sys.argv[1:])
recs = a["outbox"]["records"]
passes = (b["errors"] - a["errors"]) / max(recs, 1)
print("run 9: %d refusals of %d records in 9 s (%.1f passes)" % (b["errors"] - a["errors"], recs, passes))
# passes at about 0, 1, 3, 7, 15 s from the first: at most 2 in any 9 s from 3 s on
sys.exit(0 if passes <= 3 else 1)
PY
# ... and /readyz stays not ready between the passes (trial V, s24: ready for 6 s of each
# 16, the last refusal older than its 10 s window): 20 s more, past a 16 s wait
for i in $(seq 20); do
	"$LG_BIN_CTL" health --dataplane "$T/run9.sock" --ready > /dev/null 2>&1 &&
		lg_fail "run 9: ready at poll $i while every record is refused"
	sleep 1
done
"$FLEET" stream-create --url "$URL" --stream LGNOSTREAM --subject-prefix lgnostream \
	> /dev/null || lg_fail "stream-create LGNOSTREAM failed"
lg_wait_for 30 lg_dp_holds "$T/run9.sock" 's["nats"]["outbox"]["records"] == 0' ||
	lg_fail "run 9: the records did not arrive once the stream was made"
"$LG_BIN_CTL" health --dataplane "$T/run9.sock" --ready > "$T/ready9b.txt" 2>&1 ||
	lg_fail "run 9: not ready once the stream took the records: $(cat "$T/ready9b.txt")"
stop_dp run9
STREAM=LGNOSTREAM PREFIX=lgnostream
check run9 || lg_fail "run 9: the stream does not hold the records once each"

# 10. The line server's own event, no device's: a recording a full disk stops reaches the
#     stream on <prefix>.<plant>.<line>.event (trial X2, s26: only the JSON lines had it).
if [ "$(id -u)" = 0 ]; then
	mkdir "$T/small"
	mount -t tmpfs -o size=128k tmpfs "$T/small" || lg_fail "cannot mount a tmpfs"
	trap 'umount "$T/small" 2>/dev/null || true; lg_cleanup' EXIT
	sed -i "s#^devices:#recording:\n  dir: $T/small\n  min_free_bytes: 0\n  enabled: true\ndevices:#" \
		"$T/policy.yaml"
	grep -q "^  dir: $T/small" "$T/policy.yaml" || lg_fail "run 10: could not add the recording"
	start_dp run10
	gen -n 300 -r 4000 --first-seq 20001
	lg_wait_for 10 grep -q '"event":"recording_stopped"' "$T/run10.jsonl" ||
		lg_fail "run 10: the recording did not stop: $(grep -i record "$T/run10.err")"
	lg_wait_for 10 lg_dp_holds "$T/run10.sock" 's["nats"]["outbox"]["records"] == 0' ||
		lg_fail "run 10: the outbox did not empty"
	stop_dp run10
	umount "$T/small" || lg_fail "umount $T/small"
	dump
	python3 - "$T/stream.jsonl" "$T/run10.jsonl" <<'PY' || lg_fail "run 10: recording_stopped not in the stream"
import json, sys
got = [m for m in map(json.loads, open(sys.argv[1])) if '"recording_stopped"' in m["data"]]
line = [json.loads(l) for l in open(sys.argv[2]) if '"event":"recording_stopped"' in l]
print("run 10:", [m["subject"] for m in got])
assert [m["subject"] for m in got] == ["lgnostream.north.line1.event"], got
assert json.loads(got[0]["data"]) == line[0], (got, line)
PY
else
	echo "not root: run 10 (a tmpfs) is not run"
fi
echo PASS
