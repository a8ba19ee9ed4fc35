#!/usr/bin/env bash
# Shutdown within a bound whatever the outputs are doing (issue 12): a FIFO whose reader
# never reads, stdout piped to a process that never reads, and an MQTT broker and a NATS
# server that stopped answering (SIGSTOP; mosquitto and nats-server of our own on free
# loopback ports; NATS records are not abandoned: they stay in the on-disk outbox).
# And InfluxDB (influxd of our own) SIGSTOPped, so that a request hangs, or killed, so that
# retries wait in backoff: the final counters come within the bound + 0.25 s, and every
# line made is written or dropped, the abandoned ones as dropped (shutdown), exactly.
# SIGTERM or SIGINT ends linegate within --shutdown-timeout (+ 2.5 s for the last steps),
# with the final lines saying how many records of each kind were abandoned: exactly what was
# produced and neither written nor dropped (counted per kind in the final counters).
source "$(dirname "$0")/lib.sh"
lg_tmp
T=$LG_TMP
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
PORT=$(free_port)
TIMEOUT=2
lg_keys "$T"
# policy FILE [MORE-OUTPUT-LINE]: the default policy on loopback.
policy() {
	sed -e "s#^  model: .*#  model: $LG_SOURCE/control/defaults/model.json#" \
	    -e "s#source: 10.77.0.2#source: 127.0.0.1#" -e "s#^port: 4739#port: $PORT#" \
	    -e "s#^uadp_port: 4840#uadp_port: 0#" -e "s#^  jsonl: .*#  jsonl: \"-\"${2:+\n  $2}#" \
	    "$LG_SOURCE/control/defaults/policy.yaml" > "$1"
}
policy "$T/policy.yaml"

# stop_timed NAME SIGNAL [MARGIN]: signal linegate ($DP), wait for it; its status must be 0 and
# the time from the signal to its end at most TIMEOUT + 2.5 s (about 2.1 s in a release build;
# up to 3.2 s under ASan, whose leak check at exit takes its time on a loaded machine). With
# MARGIN (ms), the final counters (--stats-out, written once the outputs are done with) must
# also be written within TIMEOUT + MARGIN of the signal: the outputs kept to the bound.
stop_timed() {
	local rc=0 t0 ms margin=${3:-} wrote
	t0=$(date +%s%N)
	kill -"$2" "$DP"
	wait "$DP" || rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "$1: stopped in $ms ms (bound $((TIMEOUT * 1000)) ms + 2500)"
	[ $rc -eq 0 ] || lg_fail "$1: linegate exited with status $rc: $(tail -3 "$T/$1.err")"
	[ $ms -le $((TIMEOUT * 1000 + 2500)) ] || lg_fail "$1: shutdown took $ms ms"
	if [ -n "$margin" ]; then
		wrote=$((($(stat -c %.9Y "$T/$1.stats" | tr -d .) - t0) / 1000000))
		echo "$1: final counters written $wrote ms after the signal (bound $((TIMEOUT * 1000)) ms + $margin)"
		[ $wrote -le $((TIMEOUT * 1000 + margin)) ] ||
			lg_fail "$1: the outputs took $wrote ms to finish"
	fi
}

cat > "$T/check.py" <<'PY'
"""check.py STATS ERR: per kind, produced = written + dropped + abandoned, and the summary
line says exactly the abandoned counts."""
import json, re, sys
from lgcheck import check, done

st = json.load(open(sys.argv[1]))
err = open(sys.argv[2]).read()
j = st["jsonl"]
kinds = ("alerts", "scores", "incidents", "events")
produced = {"alerts": st["alerts"], "scores": st["scored"] - st["alerts"],
            "incidents": st["incidents"]["events"], "events": st["drift_events"]}
full = {"alerts": st["output_ring_full_alerts"], "scores": st["output_ring_full_scores"],
        "incidents": st["incidents"]["ring_full"], "events": 0}
for k in kinds:
    check(f"{k}: produced = written + dropped + abandoned (+ lost to full rings)",
          produced[k], j[k]["written"] + j[k]["dropped"] + j[k]["abandoned"] + full[k])
m = re.search(r"^linegate: shutdown: JSON lines abandoned: (\d+) alerts, (\d+) scores, "
              r"(\d+) incidents, (\d+) events", err, re.M)
check("the shutdown line is printed", bool(m), True)
if m:
    check("it says the abandoned counts", [int(x) for x in m.groups()],
          [j[k]["abandoned"] for k in kinds])
abandoned = sum(j[k]["abandoned"] for k in kinds)
check("records were abandoned", abandoned > 0, True)
check("abandoned = produced - written - dropped", abandoned,
      sum(produced[k] - full[k] - j[k]["written"] - j[k]["dropped"] for k in kinds))
print(json.dumps({k: j[k] for k in kinds}))
done()
PY

# run NAME OUTPUT [ARGS...]: linegate writing JSON lines to OUTPUT (a path; - = its stdout,
# which the caller redirects), traffic from the load generator in the background.
start() {
	local name=$1
	shift
	rm -rf "$T/state"
	STATE_DIRECTORY="$T/state" "$LG_BIN_DP" -p "$T/${POLICY:-policy}.yaml" -B 127.0.0.1 \
		-c "$T/$name.sock" -s "$T/$name.stats" --shutdown-timeout $TIMEOUT "$@" 2> "$T/$name.err" &
}

echo "== a FIFO whose reader never reads, SIGTERM during traffic"
mkfifo "$T/fifo"
sleep 1000 < "$T/fifo" > /dev/null 2>&1 &
READER=$!
LG_PIDS="$LG_PIDS $READER"
start fifo -o "$T/fifo"
DP=$!
LG_PIDS="$LG_PIDS $DP"
lg_wait_for 5 test -S "$T/fifo.sock" || lg_fail "fifo: linegate did not start: $(cat "$T/fifo.err")"
"$LG_BIN_GEN" -p "$T/policy.yaml" -t 127.0.0.1:$PORT -S 127.0.0.1 -n 2000 -r 4000 -q \
	-f 103:200:bearing &
GEN=$!
sleep 2
stop_timed fifo TERM
wait $GEN || true
kill $READER 2>/dev/null || true
python3 "$T/check.py" "$T/fifo.stats" "$T/fifo.err" || lg_fail "fifo"

echo "== stdout piped to a process that never reads, SIGINT during traffic"
# A pipe to a process that never reads it (a coprocess: linegate stays this shell's child).
coproc NOREADER { exec sleep 1000 > /dev/null 2>&1; }
LG_PIDS="$LG_PIDS $NOREADER_PID"
start pipe >&"${NOREADER[1]}"
DP=$!
LG_PIDS="$LG_PIDS $DP"
lg_wait_for 5 test -S "$T/pipe.sock" || lg_fail "pipe: linegate did not start: $(cat "$T/pipe.err")"
"$LG_BIN_GEN" -p "$T/policy.yaml" -t 127.0.0.1:$PORT -S 127.0.0.1 -n 2000 -r 4000 -q &
GEN=$!
sleep 2
stop_timed pipe INT
wait $GEN || true
python3 "$T/check.py" "$T/pipe.stats" "$T/pipe.err" || lg_fail "pipe"

echo "== an MQTT broker that stopped answering (SIGSTOP)"
if command -v mosquitto >/dev/null; then
	MPORT=$(free_port)
	printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$MPORT" \
		> "$T/mosquitto.conf"
	mosquitto -c "$T/mosquitto.conf" > "$T/broker.log" 2>&1 &
	BROKER=$!
	LG_PIDS="$LG_PIDS $BROKER"
	lg_wait_for 5 python3 -c "import socket; socket.create_connection(('127.0.0.1', $MPORT), 1)" ||
		lg_fail "mosquitto did not start: $(cat "$T/broker.log")"
	policy "$T/mqtt.yaml" "mqtt: {host: 127.0.0.1, port: $MPORT, topic: lgtest/l1, qos_alerts: 1, qos_scores: 1}"
	POLICY=mqtt start mqtt -o "$T/mqtt.jsonl"
	DP=$!
	LG_PIDS="$LG_PIDS $DP"
	lg_wait_for 5 test -S "$T/mqtt.sock" || lg_fail "mqtt: linegate did not start: $(cat "$T/mqtt.err")"
	mqtt_connected() { lg_dp_stats "$T/mq.json" "$T/mqtt.sock" && lg_json "$T/mq.json" "d['mqtt']['connected']"; }
	lg_wait_value 5 True mqtt_connected || lg_fail "mqtt: linegate did not connect to the broker"
	"$LG_BIN_GEN" -p "$T/policy.yaml" -t 127.0.0.1:$PORT -S 127.0.0.1 -n 50 -r 2000 -q
	sleep 0.5
	kill -STOP $BROKER
	"$LG_BIN_GEN" -p "$T/policy.yaml" -t 127.0.0.1:$PORT -S 127.0.0.1 -n 200 --first-seq 51 \
		-r 4000 -q
	sleep 0.5
	stop_timed mqtt TERM
	kill -CONT $BROKER
	python3 - "$T/mqtt.stats" "$T/mqtt.err" "$T/mqtt.jsonl" <<'PY' || lg_fail "mqtt"
import json, re, sys
from lgcheck import check, done
st = json.load(open(sys.argv[1]))
err = open(sys.argv[2]).read()
lines = sum(1 for _ in open(sys.argv[3]))
mq = st["mqtt"]
check("every line was written to the file", st["output_lines"], lines)
check("the JSON lines file lost nothing", st["output_write_dropped"], 0)
m = re.search(r"^linegate: shutdown: MQTT abandoned: (\d+) messages not delivered", err, re.M)
check("the MQTT shutdown line is printed", bool(m), True)
undelivered = mq["published"] - mq["delivered"]
check("messages were left undelivered", undelivered > 0, True)
if m:
    check("it says published - delivered", int(m.group(1)), undelivered)
# published counts the status messages too (birth, devices online): records by kind
records = sum(v for k, v in mq["published_by_kind"].items() if k != "status")
dropped = sum(sum(r.values()) for k, r in mq["dropped"].items() if k != "status")
check("every line was handed to MQTT or counted as dropped there", records + dropped, lines)
done()
PY
else
	echo "(mosquitto is not installed: MQTT case skipped)"
fi
echo "== a NATS server that stopped answering (SIGSTOP): records stay in the outbox"
FLEET=$LG_BUILD/control/linegate-fleet
if command -v nats-server >/dev/null && [ -x "$FLEET" ]; then
	NPORT=$(free_port)
	nats-server -js -a 127.0.0.1 -p "$NPORT" -sd "$T/js" > "$T/nats.log" 2>&1 &
	NATS=$!
	LG_PIDS="$LG_PIDS $NATS"
	lg_wait_for 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $NPORT), 1)" ||
		lg_fail "nats-server did not start: $(tail -5 "$T/nats.log")"
	"$FLEET" stream-create --url nats://127.0.0.1:$NPORT --stream LGTEST --subject-prefix lgtest \
		--max-age 1h --duplicate-window 10m > "$T/create.txt" || lg_fail "stream-create failed"
	policy "$T/nats.yaml" "nats: {urls: nats://127.0.0.1:$NPORT, subject_prefix: lgtest, plant: north, line: line1, outbox: {dir: $T/outbox}, score_every: 1}"
	POLICY=nats start nats -o "$T/nats.jsonl"
	DP=$!
	LG_PIDS="$LG_PIDS $DP"
	lg_wait_for 5 test -S "$T/nats.sock" || lg_fail "nats: linegate did not start: $(cat "$T/nats.err")"
	nats_connected() { lg_dp_stats "$T/nq.json" "$T/nats.sock" && lg_json "$T/nq.json" "d['nats']['connected']"; }
	lg_wait_value 10 True nats_connected || lg_fail "nats: linegate did not connect"
	"$LG_BIN_GEN" -p "$T/policy.yaml" -t 127.0.0.1:$PORT -S 127.0.0.1 -n 50 -r 2000 -q
	sleep 0.5
	kill -STOP $NATS
	"$LG_BIN_GEN" -p "$T/policy.yaml" -t 127.0.0.1:$PORT -S 127.0.0.1 -n 200 --first-seq 51 \
		-r 4000 -q
	sleep 0.5
	stop_timed nats TERM
	kill -CONT $NATS
	python3 - "$T/nats.stats" "$T/nats.err" "$T/nats.jsonl" <<'PY' || lg_fail "nats"
import json, re, sys
from lgcheck import check, done
st = json.load(open(sys.argv[1]))
lines = sum(1 for _ in open(sys.argv[3]))
check("every line was written to the file", st["output_lines"], lines)
ob = st["nats"]["outbox"]
check("records wait in the outbox for the next start", ob["records"] > 0, True)
check("the summary says so", re.search(r"outbox %d records unacknowledged" % ob["records"],
      open(sys.argv[2]).read()) is not None, True)
done()
PY
else
	echo "(nats-server or NATS support missing: NATS case skipped)"
fi
echo "== InfluxDB that stopped answering (SIGSTOP: a request hangs) or is gone (retries, backoff)"
if command -v influxd >/dev/null; then
	IPORT=$(free_port)
	RPORT=$(free_port)
	printf '%s\n' 'reporting-disabled = true' "bind-address = \"127.0.0.1:$RPORT\"" \
		'[meta]' "  dir = \"$T/influx/meta\"" '[data]' "  dir = \"$T/influx/data\"" \
		"  wal-dir = \"$T/influx/wal\"" '  query-log-enabled = false' '[http]' \
		'  enabled = true' "  bind-address = \"127.0.0.1:$IPORT\"" \
		'  log-enabled = false' '[monitor]' '  store-enabled = false' \
		'[continuous_queries]' '  enabled = false' '[subscriber]' '  enabled = false' \
		> "$T/influxdb.conf"
	# influx_case NAME HOW TIMEOUT_MS: InfluxDB up for the first frames, then HOW (STOP:
	# SIGSTOPped, so that a POST hangs; KILL: gone, so that POSTs are refused and retried
	# with backoff), more frames, SIGTERM: linegate stops within the bound (TIMEOUT + a
	# small margin: the request in flight, its retries and the backoff keep to the
	# shutdown deadline) and every line made is written or dropped, those left at the stop
	# counted as dropped (shutdown).
	influx_case() {
		local name=$1 how=$2 tmo=$3
		influxd -config "$T/influxdb.conf" >> "$T/influxd.log" 2>&1 &
		INFLUX=$!
		LG_PIDS="$LG_PIDS $INFLUX"
		lg_wait_for 20 curl -sf "http://127.0.0.1:$IPORT/ping" ||
			lg_fail "influxd did not start: $(tail -5 "$T/influxd.log")"
		curl -sf -XPOST "http://127.0.0.1:$IPORT/query" --data-urlencode \
			"q=CREATE DATABASE lg" > /dev/null || lg_fail "CREATE DATABASE lg"
		policy "$T/$name.yaml" "influx: {url: 'http://127.0.0.1:$IPORT/write', database: lg, batch_lines: 40, flush_ms: 100, timeout_ms: $tmo}"
		POLICY=$name start "$name" -o "$T/$name.jsonl"
		DP=$!
		LG_PIDS="$LG_PIDS $DP"
		lg_wait_for 5 test -S "$T/$name.sock" ||
			lg_fail "$name: linegate did not start: $(cat "$T/$name.err")"
		"$LG_BIN_GEN" -p "$T/policy.yaml" -t 127.0.0.1:$PORT -S 127.0.0.1 -n 50 -r 2000 -q
		ix_idle() {
			lg_dp_stats "$T/ix.json" "$T/$name.sock" &&
				lg_json "$T/ix.json" "d['influx']['buffered'] == 0 and d['influx']['written'] > 0"
		}
		lg_wait_value 10 True ix_idle || lg_fail "$name: the first points were not written"
		kill -"$how" $INFLUX
		"$LG_BIN_GEN" -p "$T/policy.yaml" -t 127.0.0.1:$PORT -S 127.0.0.1 -n 200 \
			--first-seq 51 -r 4000 -q
		ix_failed() {
			lg_dp_stats "$T/ix.json" "$T/$name.sock" &&
				lg_json "$T/ix.json" "d['influx']['requests'] > 2 and d['influx']['buffered'] > 0"
		}
		lg_wait_value 10 True ix_failed || lg_fail "$name: no request after the outage"
		if [ "$how" = KILL ]; then
			ix_retried() {
				lg_dp_stats "$T/ix.json" "$T/$name.sock" &&
					lg_json "$T/ix.json" "d['influx']['retries'] >= 4"
			}
			# backoff 100, 200, 400, 800 ms: the next wait is 1.6 s, past the bound
			lg_wait_value 10 True ix_retried || lg_fail "$name: no retries"
		fi
		stop_timed "$name" TERM 250
		[ "$how" = KILL ] || kill -CONT $INFLUX
		kill -KILL $INFLUX 2>/dev/null || true
		wait $INFLUX 2>/dev/null || true
		python3 - "$T/$name.stats" "$T/$name.err" <<'PY' || lg_fail "$name"
import json, re, sys
from lgcheck import check, done
st = json.load(open(sys.argv[1]))
err = open(sys.argv[2]).read()
ix = st["influx"]
made = sum(ix["lines"].values())
check("lines made = written + dropped (every reason)", made,
      ix["written"] + sum(ix["dropped"].values()))
check("nothing waits any more", ix["buffered"], 0)
check("points were left at the stop", ix["dropped"]["shutdown"] > 0, True)
check("none refused, none lost to a full buffer",
      [ix["dropped"]["refused"], ix["dropped"]["buffer_full"]], [0, 0])
m = re.search(r"^linegate: shutdown: InfluxDB abandoned: (\d+) lines", err, re.M)
check("the shutdown line says the abandoned lines", int(m.group(1)) if m else None,
      ix["dropped"]["shutdown"])
print(json.dumps(ix))
done()
PY
	}
	influx_case influx_stop STOP 5000
	influx_case influx_kill KILL 5000
else
	echo "(influxd is not installed: InfluxDB cases skipped)"
fi
echo "PASS"
