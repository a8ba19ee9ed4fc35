#!/usr/bin/env bash
# A NATS server that takes the connection but says nothing at first (a node still starting,
# or too loaded to answer within libnats's 2 s): libnats's first connect times out in the
# handshake, and with retry on a failed first connect its reconnect thread then finds no
# server in its pool and closes the connection for good. linegate never published
# (connects 0, nothing said: CI, nats_cluster's s1). Now:
#  1. while the silent "server" holds the port, linegate says why it has no connection
#     (logged, nats.closes, nats.last_error) and keeps every record in its outbox;
#  2. once a real nats-server -js answers on that port, linegate connects by itself, without
#     a restart, and every record it appended is in the stream exactly once;
#  3. the server replaced by a silent one while linegate is connected (libnats reconnects
#     for ever on its own, and says nothing of why): after 10 s linegate says it has no
#     server (stderr, nats.last_error with its age); the real server back on its store,
#     linegate says it is connected again and every record is in the stream once;
#     linegated's fleet watch says when it cannot read the bucket (none yet; the server
#     lost) and when it reads it again.
source "$(dirname "$0")/lib.sh"
lg_need_nats
lg_tmp
T=$LG_TMP
PORT=$(lg_free_port)

# the silent server: accepts, reads, never answers; gone when $T/go-away exists
silent() {
python3 - "$PORT" "$T/go-away" "$T/accepted" <<'PY' &
import os, socket, sys, time
port, stop, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(16)
srv.settimeout(0.2)
held = []
while not os.path.exists(stop):
    try:
        c, _ = srv.accept()
    except socket.timeout:
        continue
    held.append(c)
    with open(log, "a") as f:
        f.write("accepted\n")
for c in held:
    c.close()
srv.close()
PY
SILENT=$!
LG_PIDS="$LG_PIDS $SILENT"
lg_wait_for 15 python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" ||
	lg_fail "the silent server did not start"
}
silent

lg_keys "$T"
UDP=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -e "s#^  model: .*#  model: $LG_SOURCE/control/defaults/model.json#" \
    -e "s#source: 10.77.0.2#source: 127.0.0.1#" -e "s#^port: 4739#port: $UDP#" \
    -e "s#^uadp_port: 4840#uadp_port: 0#" \
    -e "s#^  jsonl: .*#  jsonl: $T/dp.jsonl\n  nats: {urls: nats://127.0.0.1:$PORT, subject_prefix: lgtest, plant: north, line: a, outbox: {dir: $T/outbox}, score_every: 10}#" \
    "$LG_SOURCE/control/defaults/policy.yaml" > "$T/dp.yaml"
STATE_DIRECTORY=$T/state "$LG_BIN_DP" -p "$T/dp.yaml" -B 127.0.0.1 -c "$T/dp.sock" 2> "$T/dp.err" &
DP=$!
LG_PIDS="$LG_PIDS $DP"
lg_wait_for 10 test -S "$T/dp.sock" || lg_fail "linegate did not start: $(cat "$T/dp.err")"
"$LG_BIN_GEN" -p "$T/dp.yaml" -t 127.0.0.1:$UDP -S 127.0.0.1 -q -n 200 -r 1000 -f 103:100:bearing \
	> "$T/gen.out" 2>&1 || lg_fail "loadgen failed: $(cat "$T/gen.out")"

# --- 1. the silent server: no connection, said so, every record kept ---
lg_wait_for 20 lg_dp_holds "$T/dp.sock" 's["nats"]["closes"] >= 1' ||
	lg_fail "silent server: no connection given up counted: $(python3 -c "
import lgsock; print(lgsock.call('$T/dp.sock', {'cmd': 'stats'})['stats']['nats'])"; tail -3 "$T/dp.err")"
grep -q "linegate: nats: libnats gave the connection up (" "$T/dp.err" ||
	lg_fail "silent server: nothing logged: $(tail -3 "$T/dp.err")"
python3 - "$T/dp.sock" <<'PY' || lg_fail "silent server: counted wrong"
import sys, lgsock
n = lgsock.call(sys.argv[1], {"cmd": "stats"})["stats"]["nats"]
print("silent server:", {k: n[k] for k in ("connected", "connects", "closes", "last_error")},
      "outbox", n["outbox"]["records"], "of", n["outbox"]["appended"])
assert not n["connected"] and n["connects"] == 0, n
assert n["last_error"].startswith("connection given up: "), n
assert n["outbox"]["records"] == n["outbox"]["appended"] > 0, n
PY
[ -s "$T/accepted" ] || lg_fail "linegate never reached the silent server"
echo "1. a server that says nothing: $(grep -m1 'gave the connection up' "$T/dp.err" | sed 's/^linegate: nats: //')"

# --- 2. a real server on the port: linegate connects by itself, every record arrives once ---
touch "$T/go-away"
wait $SILENT || true
dump_check() { # every record linegate appended in the stream, each once
	"$FLEET" stream-dump --url nats://127.0.0.1:$PORT --stream LGTEST > "$T/stream.jsonl" ||
		lg_fail "stream-dump failed"
	python3 - "$T/dp.sock" "$T/stream.jsonl" <<'PY' || lg_fail "the stream does not hold every record once"
import collections, json, sys, lgsock
n = lgsock.call(sys.argv[1], {"cmd": "stats"})["stats"]["nats"]
seqs = collections.Counter(int(json.loads(l)["msg_id"].rsplit(":", 1)[1]) for l in open(sys.argv[2]))
want = n["outbox"]["appended"]
print(f"real server: appended {want}, in the stream {sum(seqs.values())}, distinct {len(seqs)}; "
      f"connects {n['connects']}, closes {n['closes']}")
assert set(seqs) == set(range(1, want + 1)) and all(c == 1 for c in seqs.values()), seqs
PY
}
real_server() {
	nats-server -js -a 127.0.0.1 -p "$PORT" -sd "$T/js" >> "$T/nats.log" 2>&1 &
	NATS_PID=$!
	LG_PIDS="$LG_PIDS $NATS_PID"
}
real_server
lg_wait_for 10 "$FLEET" stream-create --url nats://127.0.0.1:$PORT --stream LGTEST \
	--subject-prefix lgtest --max-age 1h > "$T/create.txt" 2>&1 ||
	lg_fail "stream-create failed: $(cat "$T/create.txt"; tail -3 "$T/nats.log")"
lg_wait_for 60 lg_dp_holds "$T/dp.sock" 's["nats"]["connected"] and s["nats"]["outbox"]["records"] == 0' ||
	lg_fail "a real server now: linegate did not connect by itself: $(python3 -c "
import lgsock; print(lgsock.call('$T/dp.sock', {'cmd': 'stats'})['stats']['nats'])"; tail -3 "$T/dp.err")"
dump_check
# linegated's fleet watch on that server: no bucket yet, said (re-check trial 13c); the bucket
# made by a publish, said too
mkdir -p "$T/d" "$T/v1"
cp "$T/dp.yaml" "$T/v1/policy.yaml"
"$LG_BIN_D" -p "$T/dp.yaml" -S "$T/d/d.sock" -d "$T/dp.sock" -a "$T/d/audit.jsonl" -s "$T/d/state" \
	--fleet-url nats://127.0.0.1:$PORT --fleet-plant north --fleet-line a --fleet-server s1 \
	--fleet-report 1000 2> "$T/d/d.err" &
D=$!
LG_PIDS="$LG_PIDS $D"
lg_wait_for 20 grep -q "linegated: fleet: cannot read the keys of north/a in bucket linegate-config (no answer for the bucket: it does not exist yet" "$T/d/d.err" ||
	lg_fail "linegated without the bucket: nothing said: $(cat "$T/d/d.err")"
"$FLEET" publish "$T/v1" --url nats://127.0.0.1:$PORT --plant north --line a --version v1 \
	--key "$(lg_demo_key)" > "$T/pub.txt" 2>&1 ||
	lg_fail "publish failed: $(cat "$T/pub.txt")"
lg_wait_for 20 grep -q "linegated: fleet: reading the bucket linegate-config again" "$T/d/d.err" ||
	lg_fail "linegated with the bucket: not said: $(cat "$T/d/d.err")"
A1=$(python3 -c "import lgsock; print(lgsock.call('$T/dp.sock', {'cmd': 'stats'})['stats']['nats']['outbox']['appended'])")
echo "2. a real server on the port: connected by itself, every record in the stream once"

# --- 3. connected, then the server goes and a silent one takes its port ---
kill $NATS_PID; wait $NATS_PID || true
rm -f "$T/go-away"
silent
"$LG_BIN_GEN" -p "$T/dp.yaml" -t 127.0.0.1:$UDP -S 127.0.0.1 -q -n 100 -r 1000 -f 103:50:bearing --first-seq 1000 \
	> "$T/gen2.out" 2>&1 || lg_fail "loadgen failed: $(cat "$T/gen2.out")"
A2=$(python3 -c "import lgsock; print(lgsock.call('$T/dp.sock', {'cmd': 'stats'})['stats']['nats']['outbox']['appended'])")
[ "$A2" -gt "$A1" ] || lg_fail "the second load made no records ($A1, then $A2)"
lg_wait_for 30 grep -q "linegate: nats: no server connected for 10 s" "$T/dp.err" ||
	lg_fail "a silent server after a connection: nothing said: $(tail -3 "$T/dp.err")"
lg_dp_holds "$T/dp.sock" 'not s["nats"]["connected"] and s["nats"]["last_error"].startswith("no server connected for 10 s") and 0 <= s["nats"]["last_error_age_s"] < 30' ||
	lg_fail "a silent server after a connection: $(python3 -c "
import lgsock; print(lgsock.call('$T/dp.sock', {'cmd': 'stats'})['stats']['nats'])")"
touch "$T/go-away"
wait $SILENT || true
real_server
lg_wait_for 60 lg_dp_holds "$T/dp.sock" 's["nats"]["connected"] and s["nats"]["outbox"]["records"] == 0' ||
	lg_fail "the real server back: not delivered: $(tail -3 "$T/dp.err")"
grep -q "linegate: nats: connected again after [0-9]* s" "$T/dp.err" || lg_fail "connected again: not said"
grep -q "linegated: fleet: cannot read the keys of north/a in bucket linegate-config (the NATS server is lost" "$T/d/d.err" ||
	lg_fail "linegated: the lost server not said: $(cat "$T/d/d.err")"
again() { [ "$(grep -c "reading the bucket linegate-config again" "$T/d/d.err")" = 2 ]; }
lg_wait_for 20 again ||
	lg_fail "linegated: the server back not said: $(cat "$T/d/d.err")"
kill -TERM $D
wait $D || lg_fail "linegated exited $?: $(tail -3 "$T/d/d.err")"
dump_check
kill -INT $DP
rc=0; wait $DP || rc=$?
[ $rc = 0 ] || lg_fail "linegate exited with status $rc: $(tail -5 "$T/dp.err")"
echo "3. a silent server after a connection: said after 10 s; the real one back: every record once"
echo PASS
