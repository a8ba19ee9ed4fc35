#!/usr/bin/env bash
# MQTT output, linegate started while the broker is down (a new user's trial found both):
# scores at QoS 0 made before the first connection are counted as dropped (not_connected)
# at once, never as published; the failed attempts are said with the socket's reason
# ("Connection refused"), and a broker that comes up is used within the documented
# 1, 2, 4 s retries, not after a 30 s keepalive.
source "$(dirname "$0")/lib.sh"
command -v mosquitto >/dev/null || lg_skip "mosquitto is not installed"
lg_tmp
T=$LG_TMP
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' $PORT > "$T/mosquitto.conf"
sed -e "s#^  model: .*#  model: $LG_SOURCE/control/defaults/model.json#" \
    -e "s#source: 10.77.0.2#source: 127.0.0.1#" \
    -e "s#^port: 4739#port: $((PORT + 1))#" -e "s#^uadp_port: 4840#uadp_port: 0#" \
    -e "s#^  jsonl: .*#  jsonl: $T/out.jsonl\n  mqtt: {host: 127.0.0.1, port: $PORT, topic: lglate, qos_alerts: 1, qos_scores: 0}#" \
    "$LG_SOURCE/control/defaults/policy.yaml" > "$T/policy.yaml"
lg_keys "$T"
"$LG_BIN_DP" -p "$T/policy.yaml" -B 127.0.0.1 -c "$T/dp.sock" -s "$T/stats.json" 2> "$T/dp.err" &
DP=$!
LG_PIDS="$DP"
lg_wait_for 5 test -S "$T/dp.sock" || lg_fail "linegate did not start: $(cat "$T/dp.err")"
# 1. No broker: every QoS 0 score is dropped as not_connected, none published.
"$LG_BIN_GEN" -p "$T/policy.yaml" -t 127.0.0.1:$((PORT + 1)) -S 127.0.0.1 -n 40 -r 400 -q -j "$T/sent1.json" ||
	lg_fail "loadgen"
scores() { lg_dp_stats "$T/s.json" "$T/dp.sock" && lg_json "$T/s.json" "$1"; }
lg_wait_value 10 320 scores "d['scored']" || lg_fail "scored $(scores "d['scored']")"
sleep 0.5
lg_dp_stats "$T/s1.json" "$T/dp.sock" || lg_fail "stats"
python3 - "$T/s1.json" <<'PY' || lg_fail "before the broker"
import json, sys
from lgcheck import check, done
st = json.load(open(sys.argv[1]))
mq = st["mqtt"]
alerts = st["alerts"]
check("not connected", mq["connected"], False)
check("scores published before any connection", mq["published_by_kind"]["scores"], 0)
check("scores dropped as not_connected = scores made (rows that did not alert)",
      mq["dropped"]["scores"]["not_connected"], st["scored"] - alerts)
check("a failed attempt counted", mq["connect_errors"]["network"] >= 1, True)
done()
PY
grep -q "Connection refused: is the broker running" "$T/dp.err" ||
	lg_fail "no reason said: $(grep mqtt "$T/dp.err")"
# 2. The broker comes up: used within the retries (at most 8 s here), not after 30 s.
mosquitto -c "$T/mosquitto.conf" > "$T/broker.log" 2>&1 &
LG_PIDS="$LG_PIDS $!"
connected() { lg_dp_stats "$T/s.json" "$T/dp.sock" && lg_json "$T/s.json" "d['mqtt']['connected']"; }
lg_wait_value 10 True connected || lg_fail "not connected 10 s after the broker came up: $(grep mqtt "$T/dp.err")"
echo PASS
