#!/usr/bin/env bash
# Two workers replaying one capture give what one worker gives. A capture of 32 enrolled LGF
# devices (bench/make_policy.py), two of them with an injected fault, plus unknown ids,
# bad tags, replays and malformed frames (linegate-loadgen --pcap), replayed at full speed
# with one worker, twice with two (each reads the file and keeps the devices it owns:
# readers=all, the default) and once with two where worker 0 alone reads and hands over
# (readers=one). Asserted: the same counters, exactly (received, admitted, every drop
# reason, windows, scored, per device); the same incidents; per device the same alert and
# score lines in the same order (scores within 2e-5 between worker counts: each worker
# batches other rows together; exactly the same between the two two-worker runs); with
# readers=all no frame handed over and both workers busy, with readers=one frames handed.
source "$(dirname "$0")/lib.sh"
lg_tmp
T=$LG_TMP
N=32
FRAMES=100

lg_pcap_policy $N pcap-workers
# Two faults, at a third and at half of the run; the attack mix spread through it.
"$LG_BIN_GEN" -p "$T/policy.yaml" -t 10.77.0.1 -n $FRAMES -r 20000 -f 1003:30:bearing:1 \
	-f 1017:50:imbalance:1 --unknown 20 --bad-tag 20 --replay 20 --malformed 20 \
	--pcap "$T/gen.pcap" -j "$T/sent.json" -q || lg_fail "loadgen --pcap"

lg_pcap_replay "$T/gen.pcap" w1 "" 1
lg_pcap_replay "$T/gen.pcap" w2 "" 2
lg_pcap_replay "$T/gen.pcap" w2b "" 2
lg_pcap_replay "$T/gen.pcap" one ",readers=one" 2
grep -q "worker 1: pcap backend, .* keeps its devices' records (2 readers)" "$T/w2.err" ||
	lg_fail "worker 1 does not say that it keeps its devices' records: $(grep 'worker 1' "$T/w2.err")"
grep -q "worker 1: pcap backend, ends at once" "$T/one.err" ||
	lg_fail "readers=one: worker 1 does not say that it ends at once"

python3 - "$T" "$N" "$FRAMES" <<'PY'
import json, sys
from lgcheck import check, done

T, n, frames = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sent = json.load(open(f"{T}/sent.json"))
st = {k: json.load(open(f"{T}/{k}.stats")) for k in ("w1", "w2", "w2b", "one")}


def counters(s):
    return {"received": s["received"], "admitted": s["admitted"], "dropped": s["dropped"],
            "admission": {k: v for k, v in s.get("admission", {}).items() if v},
            "drops": {k: v for k, v in s["drops"].items() if v}, "windows": s["windows"],
            "scored": s["scored"], "backend_dropped": s["backend_dropped"],
            "incident_events": s["incidents"]["events"],
            "devices": sorted((d["id"], d["admitted"], d["windows"]) for d in s["devices"])}


def lines(path):
    """Per (kind, device): its lines in order, times aside; incidents whole."""
    out = {}
    for line in open(path):
        e = json.loads(line)
        for k in ("time_ns", "latency_us"):
            e.pop(k, None)
        out.setdefault((e["type"], e.get("device")), []).append(e)
    return out


def differ(a, b, tol):
    far = 0
    for k in set(a) | set(b):
        x, y = a.get(k, []), b.get(k, [])
        if len(x) != len(y):
            far += 1
            continue
        for p, q in zip(x, y):
            p, q = dict(p), dict(q)
            sp, sq = p.pop("score", 0.0), q.pop("score", 0.0)
            far += p != q or abs(sp - sq) > tol * max(abs(sp), abs(sq))
    return far


w1 = st["w1"]
# what admission refused (unknown devices, spoofed sources) never reached a worker
adm_dropped = sum(v for k, v in w1["admission"].items()
                  if k not in ("admitted", "audit", "audited", "judged"))
check("received + admission's drops = sent", w1["received"] + adm_dropped, sent["sent"])
check("admitted = enrolled frames", w1["admitted"], n * frames)
check("some windows scored", w1["scored"] > 0, True)
out = {k: lines(f"{T}/{k}.jsonl") for k in st}
check("alerts at all (the faults)", sum(len(v) for k, v in out["w1"].items() if k[0] == "alert") > 0,
      True)
c1 = counters(w1)
inc1 = {kk: v for kk, v in out["w1"].items() if kk[0] == "incident"}
print("one worker:", {k: v for k, v in c1.items() if k != "devices"})
print("one worker's incidents:", [(e["device"], e["event"]) for v in inc1.values() for e in v])
check("incidents of the two faulty devices", sorted(d for _, d in inc1), [1003, 1017])
for k in ("w2", "w2b", "one"):
    ck = counters(st[k])
    check(f"{k}: counters that differ from one worker's",
          [x for x in c1 if ck.get(x) != c1[x]], [])
    check(f"{k}: the same incident lines, per device in order",
          {kk: v for kk, v in out[k].items() if kk[0] == "incident"} == inc1, True)
    check(f"{k}: the same devices and kinds of line", sorted(out[k], key=str) ==
          sorted(out["w1"], key=str), True)
    check(f"{k}: lines that differ from one worker's (per device, scores within 2e-5)",
          differ(out[k], out["w1"], 2e-5), 0)
check("two-worker runs: lines that differ at all (per device)", differ(out["w2"], out["w2b"], 0), 0)
for k in ("w2", "w2b"):
    wk = st[k]["workers"]
    check(f"{k}: frames handed over (every worker reads its own devices)",
          sum(w["handed_off"] for w in wk), 0)
    check(f"{k}: both workers judged frames", all(w["judged"] > 0 for w in wk), True)
    check(f"{k}: judged by the workers = received", sum(w["judged"] for w in wk),
          st[k]["received"] - st[k]["backend_dropped"])
check("readers=one: frames handed over", sum(w["handed_off"] for w in st["one"]["workers"]) > 0,
      True)
done()
PY
[ $? -eq 0 ] || lg_fail "one and two workers differ (above)"
echo PASS
