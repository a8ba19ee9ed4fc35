#!/usr/bin/env bash
# The MQTT output's on-disk outbox (issue 12) against a real mosquitto on a free loopback
# port (its own persistence, so that a subscriber's session survives the broker's restart):
#  1. connected: every record reaches the subscriber through the outbox;
#  2. the broker stopped; linegate scores a fault meanwhile (its reconnects back off: 4
#     attempts in 10 s) and is stopped with records in its outbox (a 256 KiB one: scores past 3/4 of it are refused, counted);
#  3. linegate started again during the outage, more faults; then the broker comes back:
#     every alert, incident and drift event of all three runs arrives (exact sets against
#     the JSON lines), scores arrive but for those the counters say were dropped, nothing
#     was evicted, the outbox empties.
source "$(dirname "$0")/lib.sh"
command -v mosquitto >/dev/null || lg_skip "mosquitto is not installed"
command -v mosquitto_sub >/dev/null || lg_skip "mosquitto_sub is not installed"
lg_tmp
T=$LG_TMP
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$T/mq"
cat > "$T/mosquitto.conf" <<CONF
listener $PORT 127.0.0.1
allow_anonymous true
persistence true
persistence_location $T/mq/
max_queued_messages 0
# Run as root, it would switch to user mosquitto, who cannot read the test folder (0700).
user root
CONF
start_broker() {
	mosquitto -c "$T/mosquitto.conf" >> "$T/broker.log" 2>&1 &
	BROKER=$!
	LG_PIDS="$LG_PIDS $BROKER"
	lg_wait_for 5 python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" ||
		lg_fail "mosquitto did not start: $(cat "$T/broker.log")"
}
# A persistent session (-c): what is published while it is away waits in the broker for it.
start_sub() {
	mosquitto_sub -h 127.0.0.1 -p $PORT -c -i lgob-sub -q 1 -t 'lgob/#' -F '%t|%p' \
		>> "$T/sub.txt" 2>> "$T/sub.err" &
	SUB=$!
	LG_PIDS="$LG_PIDS $SUB"
	sleep 0.5
}
start_broker
start_sub

sed -e "s#^  model: .*#  model: $LG_SOURCE/control/defaults/model.json#" \
    -e "s#source: 10.77.0.2#source: 127.0.0.1#" \
    -e "s#^port: 4739#port: $((PORT + 1))#" -e "s#^uadp_port: 4840#uadp_port: 0#" \
    -e "s#^  jsonl: .*#  jsonl: $T/out.jsonl\n  mqtt: {host: 127.0.0.1, port: $PORT, topic: lgob/line1, qos_scores: 1, device_offline_seconds: 0, outbox: {dir: $T/outbox, max_bytes: 262144}}#" \
    "$LG_SOURCE/control/defaults/policy.yaml" > "$T/policy.yaml"
lg_keys "$T"
"$LG_BIN_CTL" validate "$T/policy.yaml" > /dev/null || lg_fail "the test policy is refused"

start_dp() {
	"$LG_BIN_DP" -p "$T/policy.yaml" -B 127.0.0.1 -c "$T/$1.sock" -s "$T/$1.stats.json" \
		-o "$T/$1.jsonl" 2> "$T/$1.err" &
	DP=$!
	LG_PIDS="$LG_PIDS $DP"
	lg_wait_for 5 test -S "$T/$1.sock" || lg_fail "$1: linegate did not start: $(cat "$T/$1.err")"
}
stop_dp() {
	kill -INT $DP
	wait $DP || lg_fail "$1: linegate exited with status $?"
}
gen() {
	"$LG_BIN_GEN" -p "$T/policy.yaml" -t 127.0.0.1:$((PORT + 1)) -S 127.0.0.1 -q "$@"
}

# 1. Connected.
start_dp run1
lg_wait_for 10 lg_dp_holds "$T/run1.sock" 's["mqtt"]["connected"]' || lg_fail "run 1 did not connect"
gen -n 100 -r 2000 -f 103:50:bearing
lg_wait_for 10 lg_dp_holds "$T/run1.sock" \
	's["mqtt"]["outbox"]["records"] == 0 and s["mqtt"]["outbox"]["appended"] == s["output_lines"]' ||
	lg_fail "run 1: the outbox did not empty"
# 1b. An outage within the run: what waited in the outbox for the broker is counted as
# sent again once it goes (resent; trial Q, s23: a 4810-record backlog went, resent 0).
kill $SUB; wait $SUB 2>/dev/null || true
kill $BROKER; wait $BROKER 2>/dev/null || true
lg_wait_for 10 lg_dp_holds "$T/run1.sock" 'not s["mqtt"]["connected"]' || lg_fail "run 1: still connected"
L0=$(python3 -c "import sys, lgsock
print(lgsock.call(sys.argv[1], {'cmd': 'stats'})['stats']['output_lines'])" "$T/run1.sock")
gen -n 40 -r 2000 --first-seq 101 -f 103:1:bearing
lg_wait_for 10 lg_dp_holds "$T/run1.sock" "s['output_lines'] >= $L0 + 40" || lg_fail "run 1b: no lines"
WAITED=$(python3 -c "import sys, lgsock
print(lgsock.call(sys.argv[1], {'cmd': 'stats'})['stats']['mqtt']['outbox']['records'])" "$T/run1.sock")
[ "$WAITED" -ge 40 ] || lg_fail "run 1b: $WAITED records waiting, want >= 40"
start_broker
start_sub
lg_wait_for 40 lg_dp_holds "$T/run1.sock" 's["mqtt"]["connected"] and s["mqtt"]["outbox"]["records"] == 0' ||
	lg_fail "run 1b: the outbox did not empty after the broker came back"
lg_dp_holds "$T/run1.sock" "s['mqtt']['resent'] >= $WAITED" ||
	lg_fail "run 1b: resent $(python3 -c "import sys, lgsock
print(lgsock.call(sys.argv[1], {'cmd': 'stats'})['stats']['mqtt']['resent'])" "$T/run1.sock"), want >= the $WAITED records that waited"
stop_dp run1

# 2. The broker stopped (the subscriber first: its session stays in the broker's store).
kill $SUB; wait $SUB 2>/dev/null || true
kill $BROKER; wait $BROKER 2>/dev/null || true
start_dp run2
T0=$SECONDS
gen -n 150 -r 2000 --first-seq 141 -f 105:30:bearing
# Reconnects back off: attempts at 0, 1, 3, 7, 15 s: four in the first 10 s (not a busy
# loop), each refused (nobody listening), said once on stderr.
sleep $((T0 + 10 - SECONDS))
lg_dp_holds "$T/run2.sock" 's["mqtt"]["connect_errors"]["network"] == 4' ||
	lg_fail "run 2: not 4 attempts in 10 s: $(python3 -c "import sys, lgsock
print(lgsock.call(sys.argv[1], {'cmd': 'stats'})['stats']['mqtt']['connect_errors'])" "$T/run2.sock")"
[ "$(grep -c "linegate: mqtt: 127.0.0.1:$PORT: " "$T/run2.err")" = 1 ] ||
	lg_fail "run 2: the refusal should be said once: $(cat "$T/run2.err")"
stop_dp run2
python3 -c "
import json, sys
m = json.load(open('$T/run2.stats.json'))['mqtt']
print('run 2:', {k: m[k] for k in ('connects', 'published', 'dropped_scores', 'dropped_alerts')}, m['outbox'])
sys.exit(0 if m['connects'] == 0 and m['outbox']['records'] > 0 and m['dropped_scores'] > 0
         and m['dropped_alerts'] == 0 and m['outbox']['evicted'] == 0 else 1)" ||
	lg_fail "run 2: records should wait in the outbox, scores past 3/4 dropped"

# 3. Started again during the outage, more faults; then the broker and the subscriber.
start_dp run3
gen -n 60 -r 2000 --first-seq 291 -f 103:1:bearing
start_broker
start_sub
# The reconnect backs off 1, 2, 4 ... s from run 3's start.
lg_wait_for 40 lg_dp_holds "$T/run3.sock" 's["mqtt"]["connected"] and s["mqtt"]["outbox"]["records"] == 0' ||
	lg_fail "run 3: the outbox did not empty after the broker came back"
stop_dp run3
# Every message delivered to the subscriber (its queue in the broker drained).
want=$(python3 -c "
import json
n = 0
for r in ('run1', 'run2', 'run3'):
    o = json.load(open('$T/' + r + '.stats.json'))['mqtt']['outbox']
    n += o['appended']
print(n)")
got() { python3 -c "
import sys
print(len({l for l in open(sys.argv[1]) if '/status' not in l.split('|')[0]}))" "$T/sub.txt"; }
lg_wait_value 20 "$want" got || echo "the subscriber has $(got) distinct records of $want"
kill $SUB 2>/dev/null || true

python3 - "$T" <<'PY' || lg_fail "what arrived"
import collections, json, sys
T = sys.argv[1]
ok = True
def check(name, got, want):
    global ok
    print(f"{name}: {'ok' if got == want else 'FAILED'}: got {str(got)[:300]}, want {str(want)[:300]}")
    ok &= got == want
kind = {"alert": "alerts", "score": "scores", "incident": "incidents", "event": "events"}
lines, st = [], {}
for r in ("run1", "run2", "run3"):
    lines += [(r, json.loads(l)) for l in open(f"{T}/{r}.jsonl")]
    st[r] = json.load(open(f"{T}/{r}.stats.json"))["mqtt"]
want = collections.defaultdict(set)
for r, e in lines:
    want[kind[e["type"]]].add(json.dumps(e, sort_keys=True))
got, copies = collections.defaultdict(set), 0
for l in open(f"{T}/sub.txt"):
    t, p = l.rstrip("\n").split("|", 1)
    if "/status" in t:
        continue
    e = json.loads(p)
    check_topic = t == f"lgob/line1/{kind[e['type']]}/{e['name']}"
    ok &= check_topic
    s = json.dumps(e, sort_keys=True)
    copies += s in got[kind[e["type"]]]
    got[kind[e["type"]]].add(s)
for k in ("alerts", "incidents", "events"):
    check(f"{k}: every one of the three runs arrived", (len(got[k]), got[k] == want[k]),
          (len(want[k]), True))
check("alerts, incidents in all three runs",
      sorted({r for r, e in lines if e["type"] in ("alert", "incident")}),
      ["run1", "run2", "run3"])
dropped = sum(st[r]["dropped"]["scores"]["outbox_full"] for r in st)
check("scores: all but those counted as dropped (outbox full)",
      (len(got["scores"]), got["scores"] <= want["scores"]),
      (len(want["scores"]) - dropped, True))
check("scores dropped: as many as the outbox refused",
      dropped, sum(st[r]["outbox"]["dropped_scores"] for r in st))
check("some scores dropped (run 2's outage)", dropped > 0, True)
check("alerts, incidents, events dropped or evicted",
      sum(st[r]["dropped_alerts"] + st[r]["outbox"]["evicted"] for r in st), 0)
check("connections: run 1 twice (its outage), none in run 2, run 3 once the broker was back",
      [st[r]["connects"] for r in ("run1", "run2", "run3")], [2, 0, 1])
check("run 3 sent run 2's records (counted as sent again)", st["run3"]["resent"] > 0, True)
check("outbox empty at the end", st["run3"]["outbox"]["records"], 0)
print("copies received twice (at least once):", copies)
sys.exit(0 if ok else 1)
PY
# 4. A broker that takes no packet over 300 bytes (MQTT 5 tells the client): incident lines
# are larger, refused by libmosquitto for good: counted as dropped (client_error) and passed,
# not sent again for ever with every record behind them held back.
kill $BROKER; wait $BROKER 2>/dev/null || true
PORT2=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_packet_size 300\nuser root\n' \
	"$PORT2" > "$T/small.conf"
mosquitto -c "$T/small.conf" > "$T/small.log" 2>&1 &
LG_PIDS="$LG_PIDS $!"
lg_wait_for 5 python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT2), 1)" ||
	lg_fail "mosquitto (max_packet_size) did not start: $(cat "$T/small.log")"
sed -i "s#port: $PORT, topic: lgob/line1#port: $PORT2, topic: lgob/line1#; s#outbox: {dir: $T/outbox,#outbox: {dir: $T/outbox-small,#" \
	"$T/policy.yaml"
grep -q "outbox-small" "$T/policy.yaml" || lg_fail "part 4: the policy was not changed"
start_dp run4
lg_wait_for 10 lg_dp_holds "$T/run4.sock" 's["mqtt"]["connected"]' || lg_fail "run 4 did not connect"
gen -n 60 -r 2000 --first-seq 351 -f 104:20:bearing
lg_wait_for 10 lg_dp_holds "$T/run4.sock" 's["mqtt"]["outbox"]["records"] == 0' ||
	lg_fail "run 4: the outbox did not empty past the records the broker cannot take"
stop_dp run4
python3 - "$T" <<'PY' || lg_fail "part 4"
import json, sys
T = sys.argv[1]
m = json.load(open(f"{T}/run4.stats.json"))["mqtt"]
lines = [l for l in open(f"{T}/run4.jsonl")]
big = {"alerts": 0, "incidents": 0, "scores": 0, "events": 0}
kind = {"alert": "alerts", "score": "scores", "incident": "incidents", "event": "events"}
for l in lines:
    e = json.loads(l)
    # the PUBLISH: fixed header (2..5), topic length and topic, id, properties (content type)
    topic = f"lgob/line1/{kind[e['type']]}/{e['name']}"
    n = len(l.encode()) - 1 + 2 + len(topic) + 2 + 1 + 3 + len("application/json") + 3
    big[kind[e["type"]]] += n > 300
drop = {k: v["client_error"] for k, v in m["dropped"].items() if k != "status"}
print("too large for the broker, by kind:", big, "dropped (client_error):", drop,
      "lines by kind:", {k: sum(json.loads(l)["type"] == k for l in lines) for k in kind})
ok = drop == big and big["incidents"] >= 1
ok &= sum(v for k, v in m["published_by_kind"].items() if k != "status") + sum(drop.values()) == len(lines)
sys.exit(0 if ok else 1)
PY
echo PASS
