#!/usr/bin/env bash
# GET /metrics: the Prometheus text exposition is well-formed, its counters equal the
# data plane's own (the final --stats-out), histograms are cumulative and count every
# scored row, and other paths and methods are refused.
source "$(dirname "$0")/lib.sh"
lg_tmp
T=$LG_TMP
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
MPORT=$(free_port)
UPORT=$(free_port)
sed -e "s#^  model: .*#  model: $LG_SOURCE/control/defaults/model.json#" \
    -e "s#source: 10.77.0.2#source: 127.0.0.1#" -e "s#^port: 4739#port: $UPORT#" \
    -e "s#^uadp_port: 4840#uadp_port: 0#" -e "s#^  jsonl: .*#  jsonl: $T/out.jsonl#" \
    "$LG_SOURCE/control/defaults/policy.yaml" > "$T/policy.yaml"
lg_keys "$T"
"$LG_BIN_DP" -p "$T/policy.yaml" -B 127.0.0.1 -c "$T/dp.sock" -s "$T/stats.json" \
	--metrics 127.0.0.1:$MPORT 2> "$T/dp.err" &
DP=$!
LG_PIDS="$DP"
lg_wait_for 5 test -S "$T/dp.sock" || lg_fail "linegate did not start: $(cat "$T/dp.err")"
"$LG_BIN_GEN" -p "$T/policy.yaml" -t 127.0.0.1:$UPORT -S 127.0.0.1 -n 120 -r 3000 \
	-f 103:60 --unknown 30 --bad-tag 10 -q -j "$T/sent.json"
sleep 0.5
python3 - "$MPORT" "$T/metrics.txt" <<'PY'
import sys, urllib.request, urllib.error
base = f"http://127.0.0.1:{sys.argv[1]}"
with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
    assert r.status == 200, r.status
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers["Content-Type"]
    open(sys.argv[2], "w").write(r.read().decode())
for path, method, want in (("/nothing", "GET", 404), ("/metrics", "POST", 405)):
    try:
        urllib.request.urlopen(urllib.request.Request(base + path, method=method, data=b"" if method == "POST" else None), timeout=5)
        sys.exit(f"{method} {path} answered 200")
    except urllib.error.HTTPError as e:
        assert e.code == want, (path, e.code)
PY
kill -INT $DP
wait $DP || lg_fail "linegate exited with status $?"
LG_PIDS=""
python3 - "$T/metrics.txt" "$T/stats.json" "$T/sent.json" "$T/out.jsonl" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read(); st = json.load(open(sys.argv[2])); sent = json.load(open(sys.argv[3]))
# an incident still open at the stop gets its final update after the scrape (trial s18 M8)
finals = sum('"final":true' in l for l in open(sys.argv[4]))
line_re = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")*\})? [-+0-9.eE]+(Inf)?$')
ok = True
def check(name, got, want):
    global ok
    print(f"{name}: {'ok' if got == want else 'FAILED'}: got {got}, want {want}")
    ok &= got == want
samples, types = {}, {}
bad = []
for l in text.splitlines():
    if l.startswith("# TYPE "):
        _, _, n, t = l.split(" ", 3); types[n] = t
    elif l.startswith("# HELP ") or not l:
        continue
    elif not line_re.match(l):
        bad.append(l)
    else:
        k, v = l.rsplit(" ", 1); samples[k] = float(v)
check("malformed lines", bad[:3], [])
check("received", samples["linegate_frames_received_total"], st["received"])
check("admitted", samples["linegate_frames_admitted_total"], st["admitted"])
check("admitted = enrolled frames sent", st["admitted"], sent["enrolled"])
for r in ("unknown_device", "bad_tag", "replayed"):
    check(f"dropped {r}", samples[f'linegate_frames_dropped_total{{reason="{r}"}}'], st["drops"][r])
check("scored", samples["linegate_scored_total"], st["scored"])
check("alerts", samples["linegate_alerts_total"], st["alerts"])
for h in ("linegate_score_latency_seconds", "linegate_publish_latency_seconds", "linegate_batch_rows"):
    check(f"{h} is a histogram", types.get(h), "histogram")
    b = [v for k, v in samples.items() if k.startswith(h + "_bucket")]
    check(f"{h} buckets cumulative", b == sorted(b), True)
    check(f"{h} +Inf == count", samples[h + '_bucket{le="+Inf"}'], samples[h + "_count"])
check("score latency count", samples["linegate_score_latency_seconds_count"], st["scored"])
check("publish latency count", samples["linegate_publish_latency_seconds_count"],
      st["output_lines"] - finals)
check("batch rows sum", samples["linegate_batch_rows_sum"], st["scored"])
check("batches", samples["linegate_batch_rows_count"], st["batches"])
dev_adm = sum(v for k, v in samples.items() if k.startswith("linegate_device_admitted_total{"))
check("per-device admitted adds up", dev_adm, st["admitted"])
check("alerting device", [k for k, v in samples.items() if k.startswith("linegate_device_alerts_total{") and v > 0],
      ['linegate_device_alerts_total{device="103",name="conveyor-1-vib"}'])
# incidents: the faulty device's one (2 of 3 by default), and its time to insight
check("incidents opened", (samples["linegate_incidents_opened_total"], st["incidents"]["opened"]),
      (1, 1))
check("incidents resolved", samples["linegate_incidents_resolved_total"], st["incidents"]["resolved"])
check("incidents open", samples["linegate_incidents_open"], st["incidents"]["open_now"])
h = "linegate_incident_tti_seconds"
check(f"{h} is a histogram", types.get(h), "histogram")
check(f"{h} count", samples[h + "_count"], st["incidents"]["opened"])
check(f"{h} +Inf == count", samples[h + '_bucket{le="+Inf"}'], samples[h + "_count"])
# the running shadow's (a gauge: a new shadow starts from 0) beside every pair's (a counter)
check("shadow disagreements gauge", types.get("linegate_shadow_disagreements"), "gauge")
check("shadow scored gauge", types.get("linegate_shadow_scored"), "gauge")
check("shadow disagreements", (samples["linegate_shadow_disagreements"],
      samples["linegate_shadow_disagreements_total"]),
      (st["shadow_disagreements"], st["shadow_disagreements_total"]))
check("model info", any(k.startswith('linegate_model_info{model="model.json"') for k in samples), True)
sys.exit(0 if ok else 1)
PY
echo PASS
