#!/usr/bin/env bash
# Bad samples through the whole data plane (issue 8), replayed with the pcap backend so every
# count is exact: signed float32 frames holding NaN, +Inf and a sample past the hard limit
# (1e12), and int16 frames past a device's 'range' or with a NaN scale, under
# detection.bad_samples: drop and mask. Asserts received/admitted/bad_sample, the per-device
# drop and mask counters, windows and scored rows (in the stats, Prometheus and status), that every JSON
# line parses (no NaN), and that a fault right after a NaN frame still alerts.
source "$(dirname "$0")/lib.sh"
lg_tmp
T=$LG_TMP
F=$LG_SOURCE/tests/fixtures/pcap
"$LG_BIN_DP" --help | grep "^  pcap:" >/dev/null || lg_skip "this build has no pcap backend (meson -Dpcap)"
lg_keys "$T"
cp "$F"/keys/*.key "$T/keys/"
chmod 600 "$T"/keys/*.key

# The pcap fixture's policy (devices 201, 202, 203; window 256), the model by its absolute
# path, a threshold between this signal's healthy and faulty windows, device 202 given a
# range; one copy per mode.
for mode in drop mask; do
	sed -e "s#^  model: .*#  model: $LG_SOURCE/control/defaults/model.json\n  threshold: 1e9\n  bad_samples: $mode#" \
	    -e "s#^    port: 40202#    port: 40202\n    range: [-3, 3]#" "$F/policy.yaml" > "$T/$mode.yaml"
	grep -q "bad_samples: $mode" "$T/$mode.yaml" && grep -q "range: \[-3, 3\]" "$T/$mode.yaml" ||
		lg_fail "could not write the $mode policy"
done

cat > "$T/gen.py" <<'PY'
"""gen.py FIXTURE_DIR OUT.pcap: the records, signed with the fixture keys."""
import hashlib, hmac, math, struct, sys

sys.path.insert(0, sys.argv[1])
import make_pcaps as mp  # noqa: E402

N = 64  # samples per channel per frame: 4 frames make a 256-sample window


def lgf(dev, kid, seq, samples, fmt, ch, scale=0.0):
    hdr = b"LG" + struct.pack("<BBIBBBBIHHfQQ", 1, 1, dev, kid, 1, fmt, ch, 10000,
                              len(samples) // ch, 0, scale, seq,
                              1767225600000000000 + seq * 6400000)
    body = hdr + struct.pack("<%d%s" % (len(samples), "h" if fmt == 1 else "f"), *samples)
    return body + hmac.new(mp.key(dev, kid), body, hashlib.sha256).digest()[:16]


recs = []
sig = mp.Signal(1, 64)
for seq in range(1, 27):
    v = [float(sig.next()) for _ in range(N)]
    if seq in range(19, 23):
        v = [x * 100.0 for x in v]  # the fault: 100 times the amplitude
    if seq == 7:
        v[10] = math.nan
    if seq == 12:
        v[63] = math.inf
    if seq == 13:
        v[0] = -1e13  # past the hard limit of a device without a range
    if seq == 18:
        v[0] = math.nan  # the frame right before the fault
    recs.append(mp.v4_frame(lgf(201, 1, seq, v, 2, 1), 40201))

sig = mp.Signal(2, 40)
for seq in range(1, 11):
    v = [sig.next() for _ in range(2 * N)]  # x 0.001: within [-3, 3]
    scale = 0.001
    if seq == 5:
        v[7] = 5000  # 5.0: past range max 3 (channel 1, sample 3)
    if seq == 6:
        scale = math.nan  # every sample NaN
    recs.append(mp.v4_frame(lgf(202, 1, seq, v, 1, 2, scale), 40202))
# Then, 3 s later, one more good frame of 201: a replay at the recorded pace stays up that
# long, for the Prometheus counters to be read while it runs.
sig = mp.Signal(9, 64)
recs.append(mp.v4_frame(lgf(201, 1, 27, [float(sig.next()) for _ in range(N)], 2, 1), 40201))
with open(sys.argv[2], "wb") as out:
    out.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, mp.LINKTYPE_ETHERNET))
    for i, f in enumerate(recs):
        t = mp.T0_US + (i * 1000 if i < len(recs) - 1 else 3000000)
        out.write(struct.pack("<IIII", t // 1000000, t % 1000000, len(f), len(f)))
        out.write(f)
PY
python3 "$T/gen.py" "$F" "$T/bad.pcap" || lg_fail "could not write the pcap"

cat > "$T/check.py" <<'PY'
"""check.py MODE STATS JSONL METRICS STATUS: exact counters, every line valid JSON, the fault alerts."""
import json, sys

mode, stats, jsonl, metrics, status = sys.argv[1:6]
ok = True


def check(what, got, want):
    global ok
    print(f"  {mode} {what}: got {got}, want {want}")
    if got != want:
        ok = False


def strict(tok):
    raise ValueError("not JSON: " + tok)


# Every line must be JSON (json.loads takes NaN and Infinity unless told not to).
events = []
for n, line in enumerate(open(jsonl), 1):
    try:
        events.append(json.loads(line, parse_constant=strict))
    except ValueError as e:
        print(f"  {mode} line {n} is not valid JSON ({e}): {line.strip()}")
        ok = False
st = json.load(open(stats))
dev = {d["id"]: d for d in st["devices"]}
# drop: 201 loses frames 7, 12, 13 and 18 (and the partial windows before 7 and 18), 202
# frames 5 and 6; mask: every frame is used, 4 samples of 201 and 1 + 128 of 202 masked.
# Frame 27 of 201, the last record, only starts a window.
want = {
    "drop": dict(admitted=31, bad=6, windows={201: 5, 202: 2}, scored=9,
                 drops={201: 4, 202: 2}, masked={201: 0, 202: 0}, adm={201: 23, 202: 8}),
    "mask": dict(admitted=37, bad=0, windows={201: 6, 202: 2}, scored=10,
                 drops={201: 0, 202: 0}, masked={201: 4, 202: 129}, adm={201: 27, 202: 10}),
}[mode]
check("received", st["received"], 37)
check("admitted", st["admitted"], want["admitted"])
check("drops.bad_sample", st["drops"]["bad_sample"], want["bad"])
check("other drops", sum(v for k, v in st["drops"].items() if k != "bad_sample"), 0)
check("windows", st["windows"], sum(want["windows"].values()))
check("scored", st["scored"], want["scored"])
check("samples_masked", st["samples_masked"], sum(want["masked"].values()))
check("rows_nonfinite", st["rows_nonfinite"], 0)
for d in (201, 202):
    check(f"device {d} admitted", dev[d]["admitted"], want["adm"][d])
    check(f"device {d} windows", dev[d]["windows"], want["windows"][d])
    check(f"device {d} bad_sample_drops", dev[d]["bad_sample_drops"], want["drops"][d])
    check(f"device {d} samples_masked", dev[d]["samples_masked"], want["masked"][d])
check("JSON lines", len(events), want["scored"])
check("scores all numbers", all(isinstance(e["score"], (int, float)) for e in events), True)
# The fault (frames 19-22 of device 201) right after a NaN frame (18) alerts, and nothing
# else does (threshold 1e9: healthy windows of this signal score about 3e7 on the default
# model, the fault's about 3e11): under drop the window of frames 19-22, under mask the
# windows ending at frames 20 and 24, which hold it (and, at 20, the masked NaN).
alerts = sorted((e["device"], e["seq"]) for e in events if e["type"] == "alert")
check("alerts", alerts, {"drop": [(201, 22)], "mask": [(201, 20), (201, 24)]}[mode])
# Prometheus, read while the replay waited for its last record: the same counters
m = {}
for line in open(metrics):
    if line.startswith("linegate_"):
        k, v = line.rsplit(" ", 1)
        m[k] = float(v)
check("prometheus bad_sample", m.get('linegate_frames_dropped_total{reason="bad_sample"}'),
      float(want["bad"]))
check("prometheus samples_masked", m.get("linegate_samples_masked_total"),
      float(sum(want["masked"].values())))
check("prometheus rows_nonfinite", m.get("linegate_rows_nonfinite_total"), 0.0)
for d, name in ((201, "fx-press-v4"), (202, "fx-pump-2ch")):
    for action, key in (("dropped", "drops"), ("masked", "masked")):
        check(f"prometheus device {d} {action}",
              m.get(f'linegate_device_bad_samples_total{{device="{d}",name="{name}",'
                    f'action="{action}"}}'), float(want[key][d]))
# linegate's status, asked at the same time
check("status bad_samples", json.load(open(status)),
      {"policy": mode, "frames_dropped": want["bad"],
       "samples_masked": sum(want["masked"].values()), "rows_nonfinite": 0})
sys.exit(0 if ok else 1)
PY

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
for mode in drop mask; do
	rc=0
	MPORT=$(free_port)
	# At the recorded pace: the first 36 records within 40 ms, the last one 3 s later.
	timeout 60 "$LG_BIN_DP" -p "$T/$mode.yaml" -b "pcap:file=$T/bad.pcap,pace=1" \
		-s "$T/$mode.stats" -o "$T/$mode.jsonl" -m "127.0.0.1:$MPORT" -c "$T/$mode.sock" \
		2> "$T/$mode.err" &
	DP=$!
	LG_PIDS="$DP"
	sleep 1.5
	python3 -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
		"http://127.0.0.1:$MPORT/metrics" > "$T/$mode.prom" ||
		lg_fail "$mode: no metrics: $(tail -3 "$T/$mode.err")"
	lg_ctl "$T/$mode.sock" '{"cmd": "status"}' bad_samples > "$T/$mode.status" ||
		lg_fail "$mode: no status: $(tail -3 "$T/$mode.err")"
	wait "$DP" || rc=$?
	LG_PIDS=""
	[ $rc -eq 0 ] || lg_fail "$mode: linegate exited with status $rc: $(tail -3 "$T/$mode.err")"
	python3 "$T/check.py" "$mode" "$T/$mode.stats" "$T/$mode.jsonl" "$T/$mode.prom" \
		"$T/$mode.status" ||
		lg_fail "$mode: counters or lines differ (above)"
done
echo "bad_samples: drop and mask counted exactly, every line JSON, the fault after a NaN alerted"
