#!/usr/bin/env bash
# linegatectl status (linegated's) names what keeps the data plane from being ready (trial Q,
# s23: an MQTT broker down showed only in /readyz and linegatectl health, never in status):
# output.mqtt pointed at a loopback port nobody listens on; the status's warnings carry
# /readyz's reason, and they go once a broker listens there.
source "$(dirname "$0")/lib.sh"
command -v mosquitto >/dev/null || lg_skip "mosquitto is not installed"
lg_tmp
T=$LG_TMP
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
MQ=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -e "s#^  model: .*#  model: $LG_SOURCE/control/defaults/model.json#" \
    -e "s#source: 10.77.0.2#source: 127.0.0.1#" -e "s#^port: 4739#port: $PORT#" \
    -e "s#^uadp_port: 4840#uadp_port: 0#" \
    -e "s#^  jsonl: .*#  jsonl: $T/out.jsonl\n  mqtt: {host: 127.0.0.1, port: $MQ, topic: lgst/line1}#" \
    "$LG_SOURCE/control/defaults/policy.yaml" > "$T/policy.yaml"
lg_keys "$T"
STATE_DIRECTORY=$T/dp-state "$LG_BIN_DP" -p "$T/policy.yaml" -B 127.0.0.1 -c "$T/dp.sock" \
	2> "$T/dp.err" &
DP_PID=$!
LG_PIDS="$LG_PIDS $DP_PID"
lg_wait_for 5 test -S "$T/dp.sock" || lg_fail "linegate did not start: $(cat "$T/dp.err")"
lg_start_linegated
status() { python3 -c "import json, sys, lgsock; print(json.dumps(lgsock.call(sys.argv[1], {'cmd': 'status'})))" "$T/d.sock" > "$T/st.json" || lg_fail "status failed"; }
warned() {
	status
	python3 -c "import json,sys; w=json.load(open(sys.argv[1])).get('warnings', []); sys.exit(0 if any(x.startswith('the data plane is not ready: output.mqtt: not connected to 127.0.0.1:$MQ') for x in w) else 1)" "$T/st.json"
}
lg_wait_for 10 warned || lg_fail "no warning of the MQTT output: $(cat "$T/st.json")"
"$LG_BIN_CTL" -s "$T/d.sock" status > "$T/st.txt" 2>&1 || true
grep -q "the data plane is not ready: output.mqtt: not connected" "$T/st.txt" ||
	lg_fail "linegatectl status (text) does not say it: $(cat "$T/st.txt")"
printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser root\n' "$MQ" > "$T/mq.conf"
mosquitto -c "$T/mq.conf" > "$T/mq.log" 2>&1 &
MQ_PID=$!
LG_PIDS="$LG_PIDS $MQ_PID"
lg_wait_for 40 sh -c "! { \"$LG_BIN_CTL\" -s \"$T/d.sock\" status | grep -q 'not ready'; }" ||
	lg_fail "the warning stayed with the broker up: $(cat "$T/st.json")"
kill -INT $D_PID $DP_PID
wait $D_PID || lg_fail "linegated exited $?"
wait $DP_PID || lg_fail "linegate exited $?"
LG_PIDS="$MQ_PID" # the broker: lg_cleanup stops it
echo PASS
