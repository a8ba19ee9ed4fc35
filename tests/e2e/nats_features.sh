#!/usr/bin/env bash
# Decimated features to NATS JetStream (issue 13, docs/fleet.md "Decimated features") against
# a real nats-server (-js, a free loopback port, its store in the test's folder):
#  1. output.nats.features [rms, kurtosis, band3], feature_every 3: the stream holds exactly
#     one record on <prefix>.<plant>.<line>.features.<device> for the 1st, 4th, 7th, ... row
#     (score or alert line) of each device channel of the JSON lines, with its seq and
#     time_ns; its feature values are exactly the ones the InfluxDB output (decimation 1,
#     the same features, to a small HTTP server of the test's) wrote for that row; the
#     counters add up (rows = records + features_skipped + features_none);
#  2. an outbox of 64 KiB filled during an outage, every score and every row's features
#     (score_every 1, feature_every 1): feature records are refused like scores, counted in
#     dropped_features (JSON and Prometheus reason="features_full"), and every record made is
#     either in the outbox or counted as refused.
source "$(dirname "$0")/lib.sh"
lg_need_nats
lg_tmp
T=$LG_TMP
PORT=$(lg_free_port)
IPORT=$(lg_free_port)
MPORT=$(lg_free_port)
URL=nats://127.0.0.1:$PORT
start_nats() {
	nats-server -js -a 127.0.0.1 -p "$PORT" -sd "$T/js" > "$T/nats.log" 2>&1 &
	NATS=$!
	LG_PIDS="$LG_PIDS $NATS"
	lg_wait_for 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" ||
		lg_fail "nats-server did not start: $(tail -5 "$T/nats.log")"
}
start_nats
"$FLEET" stream-create --url "$URL" --stream LGFEAT --subject-prefix lgfeat --max-age 1h \
	--duplicate-window 10m > /dev/null || lg_fail "stream-create failed"

# A stand-in for InfluxDB: every POSTed body appended to influx.lp, 204 for each.
python3 - "$IPORT" "$T/influx.lp" > "$T/influx.log" 2>&1 <<'PY' &
import http.server, sys
out = open(sys.argv[2], "ab")
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        out.write(self.rfile.read(int(self.headers["Content-Length"])))
        out.flush()
        self.send_response(204)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
LG_PIDS="$LG_PIDS $!"
lg_wait_for 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $IPORT), 1)" ||
	lg_fail "the HTTP server did not start: $(cat "$T/influx.log")"

NATS_CFG="{urls: $URL, subject_prefix: lgfeat, plant: north, line: line1, outbox: {dir: $T/outbox}, score_every: 0, features: [rms, kurtosis, band3], feature_every: 3}"
sed -e "s#^  model: .*#  model: $LG_SOURCE/control/defaults/model.json#" \
    -e "s#source: 10.77.0.2#source: 127.0.0.1#" \
    -e "s#^port: 4739#port: $((PORT + 1))#" -e "s#^uadp_port: 4840#uadp_port: 0#" \
    -e "s#^  jsonl: .*#  jsonl: $T/out.jsonl\n  nats: $NATS_CFG\n  influx: {url: 'http://127.0.0.1:$IPORT/write', database: lg, features: [rms, kurtosis, band3], flush_ms: 100}#" \
    "$LG_SOURCE/control/defaults/policy.yaml" > "$T/policy.yaml"
lg_keys "$T"
"$LG_BIN_CTL" validate "$T/policy.yaml" > "$T/validate.txt" 2>&1 ||
	lg_fail "the policy is refused: $(cat "$T/validate.txt")"

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

# 1. Exactly the rows at the decimation, with the InfluxDB output's values.
start_dp run1 --metrics 127.0.0.1:$MPORT
gen -n 200 -r 2000 -f 103:50:bearing -j "$T/sent1.json"
lg_wait_for 10 lg_dp_holds "$T/run1.sock" 's["nats"]["outbox"]["records"] == 0' ||
	lg_fail "run 1: the outbox did not empty"
sleep 0.5 # the InfluxDB output's last batch (flush_ms 100)
stop_dp run1
"$FLEET" stream-dump --url "$URL" --stream LGFEAT > "$T/stream.jsonl" ||
	lg_fail "stream-dump failed"
python3 - "$T" <<'PY' || lg_fail "run 1: the feature records"
import collections, json, sys
T = sys.argv[1]
EVERY, NAMES = 3, ["rms", "kurtosis", "band3"]
ok = True
def expect(name, g, w):
    global ok
    print(f"{name}: {'ok' if g == w else 'FAILED'}: got {str(g)[:300]}, want {str(w)[:300]}")
    ok &= g == w

# The rows of the JSON lines, in order, and the decimation's choice per device channel.
rows, n = [], collections.Counter()
for l in open(f"{T}/run1.jsonl"):
    e = json.loads(l)
    if e["type"] in ("score", "alert"):
        k = (e["name"], e["channel"])
        if n[k] % EVERY == 0:
            rows.append((e["name"], e["channel"], e["seq"], e["time_ns"]))
        n[k] += 1
# The InfluxDB output's points: a features point has the time of its row's score point.
def lp(line):
    head, fields, ts = line.rsplit(" ", 2)
    tags = dict(t.split("=", 1) for t in head.split(",")[1:])
    return head.split(",")[0], tags, dict(f.split("=", 1) for f in fields.split(",")), int(ts)
seq_of, feat_at = {}, {}
for line in open(f"{T}/influx.lp").read().splitlines():
    meas, tags, fields, ts = lp(line)
    if meas == "linegate_incident":
        continue
    key = (tags["name"], int(tags["channel"]), ts)
    if meas == "linegate_score":
        seq_of[key] = int(fields["seq"].rstrip("i"))
    elif meas == "linegate_features":
        feat_at[key] = {k: float(v) for k, v in fields.items()}
influx = {}
for key, f in feat_at.items():
    influx[(key[0], key[1], seq_of[key])] = f

stream = [json.loads(m["data"]) | {"_subject": m["subject"]}
          for m in map(json.loads, open(f"{T}/stream.jsonl"))]
feats = [m for m in stream if m["type"] == "features"]
expect("only feature records in the stream (score_every 0, nothing else due)",
       {m["type"] for m in stream} <= {"features", "alert", "incident", "event"}, True)
expect("feature records", len(feats), len(rows))
expect("the rows at the decimation (name, channel, seq, time_ns)",
       sorted((m["name"], m["channel"], m["seq"], m["time_ns"]) for m in feats), sorted(rows))
expect("subjects", sorted({m["_subject"] for m in feats}),
       sorted({f"lgfeat.north.line1.features.{r[0]}" for r in rows}))
expect("feature names", {tuple(m["features"]) for m in feats}, {tuple(NAMES)})
bad = [(m["name"], m["channel"], m["seq"], m["features"], influx.get((m["name"], m["channel"], m["seq"])))
       for m in feats if influx.get((m["name"], m["channel"], m["seq"])) != m["features"]]
expect("feature values equal the InfluxDB output's for the same row", bad[:3], [])
expect("rows with an InfluxDB point", len(influx) >= len(rows) and len(rows) > 50, True)
st = json.load(open(f"{T}/run1.stats.json"))["nats"]
print({k: st[k] for k in ("features_skipped", "features_none", "published", "acked")})
expect("rows = feature records + skipped + none", sum(n.values()),
       len(feats) + st["features_skipped"] + st["features_none"])
expect("features_none (the basic layout has every feature)", st["features_none"], 0)
expect("nothing dropped", (st["outbox"]["dropped_features"], st["outbox"]["evicted"]), (0, 0))
sys.exit(0 if ok else 1)
PY

# 2. A full outbox during an outage: feature records refused first, like scores.
kill $NATS; wait $NATS 2>/dev/null || true
sed -i -e "s#outbox: {dir: $T/outbox}, score_every: 0, features: \[rms, kurtosis, band3\], feature_every: 3#outbox: {dir: $T/outbox-small, max_bytes: 65536}, score_every: 1, features: all, feature_every: 1#" \
	"$T/policy.yaml"
grep -q outbox-small "$T/policy.yaml" || lg_fail "part 2: the policy was not changed"
start_dp run2 --metrics 127.0.0.1:$MPORT
gen -n 300 -r 3000 --first-seq 301 -f 103:20:bearing -j "$T/sent2.json"
sleep 1
python3 - "$MPORT" > "$T/prom2.txt" <<'PY' || lg_fail "part 2: /metrics"
import sys, urllib.request
print(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode())
PY
stop_dp run2
python3 - "$T" <<'PY' || lg_fail "part 2: the full outbox's counts"
import json, sys
T = sys.argv[1]
n = json.load(open(f"{T}/run2.stats.json"))["nats"]; o = n["outbox"]
lines = [json.loads(l)["type"] for l in open(f"{T}/run2.jsonl")]
records = sum(t in ("incident", "alert", "event", "score") for t in lines)
rows = sum(t in ("alert", "score") for t in lines)
made = records + rows - n["features_skipped"] - n["features_none"]
refused = (o["dropped_scores"] + o["dropped_features"] + o["dropped_alerts"] + o["dropped_disk"] +
           o["dropped_too_large"])
print({k: o[k] for k in ("appended", "dropped_scores", "dropped_features", "dropped_alerts",
                         "evicted", "records")})
print("records made", made, "= appended + refused", o["appended"] + refused)
prom = {}
for l in open(f"{T}/prom2.txt"):
    if l.startswith("linegate_nats_outbox_dropped_total"):
        k, v = l.rsplit(" ", 1)
        prom[k] = float(v)
pf = prom.get('linegate_nats_outbox_dropped_total{reason="features_full"}')
print("prometheus features_full", pf)
ok = o["dropped_features"] > 0 and o["dropped_scores"] > 0 and made == o["appended"] + refused
ok &= n["features_skipped"] == 0 and o["bytes"] <= 65536
ok &= pf is not None and 0 < pf <= o["dropped_features"]
sys.exit(0 if ok else 1)
PY
echo PASS
