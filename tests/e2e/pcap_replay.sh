#!/usr/bin/env bash
# Recordings replayed through the whole data plane with the pcap backend (no network, no
# root): linegate ends by itself with status 0 at the end of the file and prints its
# summary; counters are exact (received, admitted, every drop reason, windows, scored rows,
# per device); the same file gives the same JSON lines every run (times aside), and so do
# its pcapng and Linux cooked copies, two workers (each reading the file for its own devices,
# or worker 0 alone handing over), and the recorded pace. Captures tcpdump
# took of the load generator (tests/fixtures/pcap/capture_loadgen.sh) replay to the counts
# and the scores of the live linegate that received them. An unpaced replay waits for a slow
# output instead of dropping. Bad options and files are refused with a message naming them.
source "$(dirname "$0")/lib.sh"
lg_tmp
T=$LG_TMP
F=$LG_SOURCE/tests/fixtures/pcap
# The fixtures' policies beside copies of their key files, readable by their owner only (git
# keeps 0644, which the parser refuses), with the model by its absolute path.
lg_keys "$T"
cp "$F"/keys/*.key "$T/keys/"
chmod 600 "$T"/keys/*.key
for p in policy loadgen-policy; do
	sed "s#^  model: .*#  model: $LG_SOURCE/control/defaults/model.json#" "$F/$p.yaml" > "$T/$p.yaml"
done
"$LG_BIN_DP" --help | grep "^  pcap:" >/dev/null || lg_skip "this build has no pcap backend (meson -Dpcap)"

# replay NAME POLICY BACKEND-OPTIONS [LINEGATE-ARGS...]: linegate to the end of the file,
# which must end it with status 0 within 60 s. Its wall time goes to $T/NAME.time.
replay() {
	local name=$1 policy=$2 opts=$3 rc=0 t0 t1
	shift 3
	t0=$(date +%s%N)
	timeout 60 "$LG_BIN_DP" -p "$policy" -b "pcap:$opts" -s "$T/$name.stats" \
		-o "$T/$name.jsonl" "$@" 2> "$T/$name.err" || rc=$?
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000)) > "$T/$name.time"
	[ $rc -ne 124 ] || lg_fail "$name: linegate did not end at the end of the file"
	[ $rc -eq 0 ] || lg_fail "$name: linegate exited with status $rc: $(tail -3 "$T/$name.err")"
	grep -q "^linegate: summary after .* received = .* admitted + .* dropped$" "$T/$name.err" ||
		lg_fail "$name: no summary on stderr: $(tail -3 "$T/$name.err")"
	[ -s "$T/$name.stats" ] || lg_fail "$name: no --stats-out"
	touch "$T/$name.jsonl"
}

# refuse NAME MESSAGE BACKEND-OPTIONS: linegate must not start, and say why.
refuse() {
	local name=$1 msg=$2 opts=$3 rc=0
	timeout 20 "$LG_BIN_DP" -p "$T/policy.yaml" -b "pcap:$opts" -o "$T/$name.jsonl" \
		2> "$T/$name.err" || rc=$?
	[ $rc -ne 0 ] && [ $rc -ne 124 ] || lg_fail "$name: exit status $rc, want a refusal"
	grep -qF -- "$msg" "$T/$name.err" || lg_fail "$name: '$msg' not in: $(cat "$T/$name.err")"
	[ ! -s "$T/$name.jsonl" ] || lg_fail "$name: wrote output"
	echo "refused ($name): $(head -1 "$T/$name.err")"
}

cat > "$T/check.py" <<'PY'
"""check.py MODE ... : exact counters and identical outputs; prints each check."""
import json, sys

ok = True


def check(what, got, want):
    global ok
    print(f"  {what}: got {got}, want {want}")
    if got != want:
        ok = False


def lines(path):
    """JSON lines without their times, alerts and scores apart (each ring keeps its order;
    alerts are drained first, so the two interleave by timing)."""
    out = {"alert": [], "score": []}
    for line in open(path):
        e = json.loads(line)
        if e["type"] == "incident":
            continue  # incidents.sh checks them
        for k in ("time_ns", "latency_us"):
            e.pop(k)
        out[e["type"]].append(json.dumps(e, sort_keys=True))
    return out


def admission_drops(st):
    """What the replay's admission (the DPDK backend's, the XDP decision) dropped, by reason:
    those records never reach a worker, so they are not among the received."""
    adm = st.get("admission", {})
    return {r: n for r, n in adm.items()
            if n and r not in ("admitted", "audit", "audited", "judged")}


def counts(st, err, want, backend_reasons):
    """Every counter of want (expected.json's form: every record under one reason, admission's
    and the workers' alike) and 0 for every other drop reason."""
    adm = admission_drops(st)
    nadm = sum(adm.values())
    check("received + admission's drops", st["received"] + nadm, want["received"])
    check("admitted", st["admitted"], want["admitted"])
    check("dropped + admission's drops", st["dropped"] + nadm, want["dropped"])
    for r in sorted(set(st["drops"]) | set(adm)):
        check("drops." + r, st["drops"].get(r, 0) + adm.get(r, 0), want["drops"].get(r, 0))
    check("backend_dropped + admission's drops", st["backend_dropped"] + nadm,
          sum(want["drops"].get(r, 0) for r in backend_reasons + ADMISSION))
    check("windows", st["windows"], want["windows"])
    check("scored", st["scored"], want["scored"])
    # a line per scored row, and per incident event (incidents.sh checks those)
    check("output_lines", st["output_lines"], want["scored"] + st["incidents"]["events"])
    check("output lost", st["output_ring_full_scores"] + st["output_ring_full_alerts"], 0)
    check("rx_errors", st["rx_errors"], 0)
    summary = [l for l in open(err) if "summary after" in l]
    check("summary", summary and summary[0].split(": ", 2)[2].strip(),
          "%d received = %d admitted + %d dropped" % (want["received"] - nadm,
                                                       want["admitted"],
                                                       want["dropped"] - nadm))


BACKEND = ("malformed", "not_ours", "bad_checksum", "capture_truncated", "fragment")
# reasons only admission gives (before the worker)
ADMISSION = ("unknown_device", "spoofed_source", "vlan", "rate_limited", "no_table",
             "state_full")
mode = sys.argv[1]
if mode == "fixture":
    # check.py fixture STATS ERR JSONL EXPECTED NAME
    st, err, jl, exp, name = sys.argv[2:7]
    want = json.load(open(exp))[name]
    st = json.load(open(st))
    counts(st, err, want, BACKEND)
    for d in st["devices"]:
        w = want["devices"][str(d["id"])]
        check("device %d admitted" % d["id"], d["admitted"], w["admitted"])
        check("device %d windows" % d["id"], d["windows"], w["windows"])
    n = sum(len(v) for v in lines(jl).values())
    check("JSON lines", n, want["scored"])
    if len(sys.argv) > 7:
        # unpaced: batches by size alone (policy batch 16), none by the deadline; each
        # worker scores its own devices' rows and the last partial batch at the end
        b = int(sys.argv[7])
        check("batches", st["batches"], sum(-(-w["scored"] // b) for w in st["workers"]))
        check("rows scored by the workers", sum(w["scored"] for w in st["workers"]),
              want["scored"])
elif mode in ("same", "close"):
    # check.py same|close JSONL-A JSONL-B: the same lines, times aside; 'close': scores
    # within 2e-5 of each other (paced: batches form by the clock, and BLAS rounds a
    # row's score by its place in the batch), all else the same
    a, b = lines(sys.argv[2]), lines(sys.argv[3])
    check("alert lines", len(a["alert"]), len(b["alert"]))
    check("score lines", len(a["score"]), len(b["score"]))
    if mode == "close":
        far = exact = 0
        for t in a:
            for x, y in zip(a[t], b[t]):
                x, y = json.loads(x), json.loads(y)
                sx, sy = x.pop("score"), y.pop("score")
                far += x != y or abs(sx - sy) > 2e-5 * max(abs(sx), abs(sy))
                exact += x == y and sx == sy
        print(f"  ({exact} of {len(a['alert']) + len(a['score'])} lines exactly the same)")
        check("lines that differ by more than a score's last digits", far, 0)
    else:
        check("the same alert lines, in order", a["alert"] == b["alert"], True)
        check("the same score lines, in order", a["score"] == b["score"], True)
    check("some lines at all", len(a["alert"]) + len(a["score"]) > 0, True)
elif mode in ("perdevice", "perdevice-close"):
    # check.py perdevice[-close] JSONL-A JSONL-B: each device's lines the same and in the
    # same order (with several workers, devices' lines interleave by timing); '-close':
    # scores within 2e-5 (another worker count batches other rows together)
    def by_dev(path):
        out = {}
        for t, ls in lines(path).items():
            for x in ls:
                e = json.loads(x)
                out.setdefault((t, e["device"]), []).append(e)
        return out
    a, b = by_dev(sys.argv[2]), by_dev(sys.argv[3])
    check("the same devices and kinds of line", sorted(a), sorted(b))
    far = 0
    for k in a:
        if len(a[k]) != len(b.get(k, [])):
            far += 1
            continue
        for x, y in zip(a[k], b[k]):
            sx, sy = x.pop("score"), y.pop("score")
            tol = 2e-5 * max(abs(sx), abs(sy)) if mode == "perdevice-close" else 0
            far += x != y or abs(sx - sy) > tol
    check("lines that differ (per device, in order)", far, 0)
    check("some lines at all", len(a) > 0, True)
elif mode == "loadgen":
    # check.py loadgen STATS ERR JSONL LOADGEN.JSON FILE: a tcpdump capture of a live run
    st, err, jl, lj, name = sys.argv[2:7]
    run = json.load(open(lj))["loadgen"]
    sent, live, td = run["sent"], run["live"], run["tcpdump"][name]
    st = json.load(open(st))
    other = td["records"] - td["lgf"] - td["uadp"]
    # What tcpdump and the load generator say, independently of linegate; the live
    # linegate saw datagrams, not frames: it called a bad magic bad_magic, the admission
    # parser (whole frames) calls it malformed, and it never saw ARP.
    check("tcpdump: every datagram sent is in the capture", td["lgf"] + td["uadp"],
          sent["sent"])
    check("tcpdump: no bad UDP checksum", td["bad_udp_checksum"], 0)
    want = {
        "received": td["records"], "admitted": sent["enrolled"],
        "dropped": td["records"] - sent["enrolled"],
        "drops": {"unknown_device": sent["unknown_device"], "bad_tag": sent["bad_tag"],
                  "replayed": sent["replayed"], "spoofed_source": sent["spoofed"],
                  "malformed": live["drops"]["bad_magic"],
                  "bad_length": live["drops"]["bad_length"], "not_ours": other},
        "windows": live["windows"], "scored": live["scored"],
    }
    check("live: the malformed frames sent", live["drops"]["bad_magic"] +
          live["drops"]["bad_length"], sent["malformed"])
    check("live: admitted", live["admitted"], sent["enrolled"])
    counts(st, err, want, BACKEND)
    check("alerts (as live)", st["alerts"], live["alerts"])
    check("uadp_received (as live, as sent)", st["uadp_received"], sent["uadp"])
    check("uadp_unsigned_admitted (as live)", st["uadp_unsigned_admitted"],
          live["uadp_unsigned_admitted"])
    alerted = {json.loads(l)["device"] for l in lines(jl)["alert"]}
    check("devices with alerts", sorted(alerted), [sent["fault"]["device"]])
elif mode == "offload":
    # check.py offload STATS ERR LOADGEN.JSON CSUM
    st, err, lj, csum = sys.argv[2:6]
    run = json.load(open(lj))["offload"]
    sent, live, td = run["sent"], run["live"], run["tcpdump"]["loadgen-offload.pcap"]
    st = json.load(open(st))
    udp = td["lgf"] + td["uadp"]
    check("tcpdump: every UDP checksum unfinished", td["bad_udp_checksum"], udp)
    check("live: admitted all the same", live["admitted"], sent["enrolled"])
    on = csum == "on"
    want = {
        "received": td["records"], "admitted": 0 if on else sent["enrolled"],
        "dropped": td["records"] - (0 if on else sent["enrolled"]),
        "drops": {"bad_checksum": udp if on else 0, "not_ours": td["records"] - udp},
        "windows": 0 if on else live["windows"], "scored": 0 if on else live["scored"],
    }
    counts(st, err, want, BACKEND)
    # csum=on: the summary says what to do (trial X1, s26: no word of csum=off)
    check("the summary's csum=off advice", "csum=off (-b pcap:...,csum=off" in open(err).read(),
          on)
sys.exit(0 if ok else 1)
PY
check() { python3 "$T/check.py" "$@" || lg_fail "$1 ${*: -1}: counters or lines differ (above)"; }

echo "== the fixture: pcap, pcapng, Linux cooked; twice; two workers"
for f in lgf.pcap lgf.pcapng lgf-sll.pcap; do
	replay "$f" "$T/policy.yaml" "file=$F/$f"
	echo "$f:"
	check fixture "$T/$f.stats" "$T/$f.err" "$T/$f.jsonl" "$F/expected.json" "$f" 16
done
replay again "$T/policy.yaml" "file=$F/lgf.pcap"
replay workers2 "$T/policy.yaml" "file=$F/lgf.pcap" --workers 2
replay workers2b "$T/policy.yaml" "file=$F/lgf.pcap" --workers 2
replay workers2one "$T/policy.yaml" "file=$F/lgf.pcap,readers=one" --workers 2
grep -q "worker 1: pcap backend, .* keeps its devices' records (2 readers)" "$T/workers2.err" ||
	lg_fail "worker 1 does not say that it reads the file for its devices"
grep -q "worker 1: pcap backend, ends at once" "$T/workers2one.err" ||
	lg_fail "readers=one: worker 1 does not say that it ends at once"
# What the start and the replay lines measure: the capture's span, not a load time; the
# records received (refused ones too) and, apart, the admitted per second
grep -q "worker 0: pcap backend, [0-9]* records captured over [0-9.]* s, " "$T/lgf.pcap.err" ||
	lg_fail "start line: $(grep 'worker 0' "$T/lgf.pcap.err")"
grep -q "^linegate: replay: .* [0-9]* frames/s received (admitted or dropped), [0-9]* admitted/s;" \
	"$T/lgf.pcap.err" || lg_fail "replay line: $(grep 'replay:' "$T/lgf.pcap.err")"
echo "== VLANs: a replay judges tags as live admission does (trial s20 I M1)"
# lgf.pcap with every untagged Ethernet record behind a VLAN 7 tag (its two VLAN 100 ones
# stay): without 7 in vlans, admission refuses every one of ours as `vlan`, as XDP and
# DPDK's net_pcap do; with vlans: [7, 100] the replay gives the fixture's counts and lines.
python3 - "$F/lgf.pcap" "$T/vlan7.pcap" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
out, off = bytearray(data[:24]), 24
while off + 16 <= len(data):
    sec, frac, incl, orig = struct.unpack("<IIII", data[off:off + 16])
    rec = data[off + 16:off + 16 + incl]
    off += 16 + incl
    if incl >= 14 and rec[12:14] != b"\x81\x00":
        rec, incl, orig = rec[:12] + struct.pack("!HH", 0x8100, 7) + rec[12:], incl + 4, orig + 4
    out += struct.pack("<IIII", sec, frac, incl, orig) + rec
open(sys.argv[2], "wb").write(out)
PY
replay vlan7-refused "$T/policy.yaml" "file=$T/vlan7.pcap"
sed 's/^vlans: \[100\]$/vlans: [7, 100]/' "$T/policy.yaml" > "$T/policy-vlan7.yaml"
grep -q '^vlans: \[7, 100\]$' "$T/policy-vlan7.yaml" || lg_fail "no vlans line to edit"
replay vlan7-admitted "$T/policy-vlan7.yaml" "file=$T/vlan7.pcap"
python3 - "$T/vlan7-refused.stats" "$T/lgf.pcap.stats" <<'PY' || lg_fail "vlans: VLAN 7 replayed without it in vlans (above)"
import json, sys
st, plain = (json.load(open(p)) for p in sys.argv[1:3])
adm, padm = st["admission"], plain["admission"]
# every record admission judged that is ours (not malformed, not not_ours: LGF, UADP, a
# fragment) is now `vlan`; only 201's two VLAN 100 frames pass
print("  admission:", {k: v for k, v in adm.items() if v}, "admitted", st["admitted"])
ok = (adm["judged"] == padm["judged"] and adm["admitted"] == 2 and st["admitted"] == 2
      and adm["vlan"] == padm["judged"] - padm["malformed"] - padm["not_ours"] - 2
      and adm["not_ours"] == padm["not_ours"] and adm["malformed"] == padm["malformed"])
sys.exit(0 if ok else 1)
PY
echo "vlans: [7, 100]:"
check fixture "$T/vlan7-admitted.stats" "$T/vlan7-admitted.err" "$T/vlan7-admitted.jsonl" \
	"$F/expected.json" lgf.pcap 16
check same "$T/lgf.pcap.jsonl" "$T/vlan7-admitted.jsonl"

echo "two workers:"
check fixture "$T/workers2.stats" "$T/workers2.err" "$T/workers2.jsonl" "$F/expected.json" \
	lgf.pcap 16
for other in again lgf.pcapng lgf-sll.pcap; do
	echo "lines of lgf.pcap = lines of $other:"
	check same "$T/lgf.pcap.jsonl" "$T/$other.jsonl"
done
echo "two workers, worker 0 reading alone (readers=one):"
check fixture "$T/workers2one.stats" "$T/workers2one.err" "$T/workers2one.jsonl" \
	"$F/expected.json" lgf.pcap 16
# Two workers: each reads the file and keeps its own devices' records (or worker 0 reads
# and hands them over), so each device is judged and scored by its owner in its order, the
# same every two-worker run.
echo "two-worker runs, per device:"
check perdevice "$T/workers2.jsonl" "$T/workers2b.jsonl"
check perdevice "$T/workers2.jsonl" "$T/workers2one.jsonl"
echo "one and two workers, per device:"
check perdevice-close "$T/lgf.pcap.jsonl" "$T/workers2.jsonl"

echo "== a full disk: lines written or counted as not written, never both or neither"
mkdir -p "$T/tiny"
if mount -t tmpfs -o size=8k tmpfs "$T/tiny" 2>/dev/null; then
	timeout 60 "$LG_BIN_DP" -p "$T/policy.yaml" -b "pcap:file=$F/lgf.pcap" -s "$T/full.stats" \
		-o "$T/tiny/out.jsonl" 2> "$T/full.err" || true
	python3 - "$T/full.stats" "$T/tiny/out.jsonl" "$T/full.err" <<'PY'
import json, sys
from lgcheck import check, done
st = json.load(open(sys.argv[1]))
whole = [l for l in open(sys.argv[2], "rb").read().split(b"\n")[:-1]]
check("lines in the file = output_lines", len(whole), st["output_lines"])
check("output_lines + output_write_dropped = scored + incident events",
      st["output_lines"] + st["output_write_dropped"], st["scored"] + st["incidents"]["events"])
check("some lines did not fit", st["output_write_dropped"] > 0, True)
check("the summary says why", "not written: No space left on device" in open(sys.argv[3]).read(),
      True)
done()
PY
	umount "$T/tiny"
else
	echo "(no tmpfs mount here: skipped)"
fi

echo "== pace"
dur_ms=$(lg_json "$F/expected.json" "int(d['lgf.pcap']['duration_s'] * 1000)")
replay pace1 "$T/policy.yaml" "file=$F/lgf.pcap,pace=1"
replay pace4 "$T/policy.yaml" "file=$F/lgf.pcap,pace=4"
t0=$(cat "$T/lgf.pcap.time") t1=$(cat "$T/pace1.time") t4=$(cat "$T/pace4.time")
echo "recorded $dur_ms ms; replayed in $t0 ms at pace=0, $t1 ms at pace=1, $t4 ms at pace=4"
[ "$t1" -ge $((dur_ms * 8 / 10)) ] || lg_fail "pace=1 took $t1 ms, under 80% of $dur_ms ms"
[ "$t4" -ge $((dur_ms / 4 * 8 / 10)) ] || lg_fail "pace=4 took $t4 ms, under 80% of $((dur_ms / 4)) ms"
[ "$t4" -lt "$t1" ] || lg_fail "pace=4 ($t4 ms) not faster than pace=1 ($t1 ms)"
# Both start the same way; full speed must save most of the recorded time.
[ $((t1 - t0)) -ge $((dur_ms / 2)) ] || lg_fail "pace=0 ($t0 ms) not much faster than pace=1 ($t1 ms)"
# Timestamps that no clock moves like: a classic pcap's seconds wrap at 2038 (libpcap reads
# them signed, so the second record is 136 years "before" the first: at once); a step
# across 1970 is a 1 s gap like any other.
python3 - "$T" "$F/lgf.pcap" <<'PY'
import struct, sys
# The fixture's first record (an enrolled device's frame): delivered, so paced.
raw = open(sys.argv[2], "rb").read()
incl = struct.unpack("<I", raw[24 + 8:24 + 12])[0]
frame = raw[24 + 16:24 + 16 + incl]
def write(path, stamps):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for sec in stamps:
            f.write(struct.pack("<IIII", sec & 0xffffffff, 0, len(frame), len(frame)) + frame)
write(sys.argv[1] + "/wrap2038.pcap", [0x7fffffff, 0x80000000])
write(sys.argv[1] + "/step1970.pcap", [-1, 0])
PY
replay wrap2038 "$T/policy.yaml" "file=$T/wrap2038.pcap,pace=1"
replay step1970 "$T/policy.yaml" "file=$T/step1970.pcap,pace=1"
tw=$(cat "$T/wrap2038.time") ts=$(cat "$T/step1970.time")
echo "seconds wrapped at 2038: $tw ms; a step across 1970: $ts ms"
[ "$tw" -lt "$t0" ] || [ "$tw" -lt 1500 ] || lg_fail "a record stamped before the previous one waited $tw ms"
[ "$ts" -ge 800 ] || lg_fail "a 1 s step across 1970 took $ts ms"
for p in pace1 pace4; do
	echo "$p:"
	check fixture "$T/$p.stats" "$T/$p.err" "$T/$p.jsonl" "$F/expected.json" lgf.pcap
	check close "$T/lgf.pcap.jsonl" "$T/$p.jsonl"
done

echo "== tcpdump's captures of the load generator and a live linegate"
for f in loadgen-eth.pcap loadgen-any.pcap; do
	replay "$f" "$T/loadgen-policy.yaml" "file=$F/$f"
	echo "$f:"
	check loadgen "$T/$f.stats" "$T/$f.err" "$T/$f.jsonl" "$F/loadgen.json" "$f"
	# Live, batches formed by the clock; the replay's by size: scores may differ in
	# their last digits (BLAS rounds a row by its place in a batch), nothing else.
	echo "lines of $f = lines of the live linegate:"
	check close "$T/$f.jsonl" "$F/loadgen-live.jsonl"
done
grep -q "LINUX_SLL2" "$T/loadgen-any.pcap.err" || lg_fail "tcpdump -i any is not LINUX_SLL2"
for csum in on off; do
	replay "offload-$csum" "$T/loadgen-policy.yaml" "file=$F/loadgen-offload.pcap,csum=$csum"
	echo "loadgen-offload.pcap, csum=$csum:"
	check offload "$T/offload-$csum.stats" "$T/offload-$csum.err" "$F/loadgen.json" $csum
done

echo "== a slow reader: an unpaced replay waits for its output, loses nothing"
# 6000 windows, each an alert (more than the worker's alert ring holds), written into a
# pipe whose reader sleeps 2 s first: the output thread blocks, the rings fill, and the
# worker must wait for them, not drop (a live stream would drop and count).
python3 "$F/make_pcaps.py" --bench "$T/6000.pcap" --frames 6000
mkfifo "$T/slow.jsonl"
python3 -c "
import sys, time
f = open(sys.argv[1], 'rb'); time.sleep(2); sys.stdout.buffer.write(f.read())" \
	"$T/slow.jsonl" > "$T/slow.out" &
reader=$!
rc=0
timeout 60 "$LG_BIN_DP" -p "$T/policy.yaml" -b "pcap:file=$T/6000.pcap" -s "$T/slow.stats" \
	-o "$T/slow.jsonl" 2> "$T/slow.err" || rc=$?
wait $reader
[ $rc -eq 0 ] || lg_fail "slow reader: linegate exited with status $rc: $(tail -3 "$T/slow.err")"
python3 - "$T/slow.stats" "$T/slow.out" <<'PY' || lg_fail "slow reader: outputs lost (above)"
import json, sys
st = json.load(open(sys.argv[1]))
got = sum(1 for _ in open(sys.argv[2]))
# every window an alert: an incident per device (open, then updates at most one per
# update_ms of sample time), a line each besides the rows' lines
inc = st["incidents"]["events"]
want = {"admitted": 6000, "scored": 6000, "output_lines": 6000 + inc,
        "output_ring_full_alerts": 0, "output_ring_full_scores": 0, "batches": 6000 // 16}
bad = {k: st[k] for k in want if st[k] != want[k]}
print("  slow reader:", {k: st[k] for k in want}, "lines read", got, "incident events", inc)
sys.exit(1 if bad or got != 6000 + inc or not 0 < inc <= 100 else 0)
PY

echo "== refusals"
refuse no-file "which file?" "pace=1"
refuse bad-pace "pace=fast is not a factor" "file=$F/lgf.pcap,pace=fast"
refuse bad-option "unknown option 'speed'" "file=$F/lgf.pcap,speed=2"
refuse bad-loop "loop=0 is not a number of passes" "file=$F/lgf.pcap,loop=0"
refuse missing "$T/missing.pcap: No such file or directory" "file=$T/missing.pcap"
refuse not-a-capture "$F/policy.yaml: not a pcap or pcapng file" "file=$F/policy.yaml"
head -c 30000 "$F/lgf.pcap" > "$T/cut.pcap"
refuse cut "$T/cut.pcap: record 41 cannot be read" "file=$T/cut.pcap"
# A pcapng of two interfaces of different link types (dumpcap -i eth0 -i any: EN10MB and
# LINUX_SLL) is not damaged: libpcap reads one link type a file. Say so, and the way out
# (trial s20 I M2: it said "the file is damaged before its end").
python3 - "$F/lgf.pcap" "$T/two-links.pcapng" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
incl = struct.unpack("<I", data[32:36])[0]
rec = data[40:40 + incl]


def block(kind, body):
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", kind, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))


def epb(iface, pkt):
    return block(6, struct.pack("<IIIII", iface, 0, 0, len(pkt), len(pkt)) + pkt)


out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
out += block(1, struct.pack("<HHI", 1, 0, 65535)) + epb(0, rec)       # EN10MB
out += block(1, struct.pack("<HHI", 113, 0, 65535)) + epb(1, rec)     # LINUX_SLL
open(sys.argv[2], "wb").write(out)
# one link type, two snap lengths (mergecap of tcpdump's 262144 and loadgen --pcap's 65535)
out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
out += block(1, struct.pack("<HHI", 1, 0, 262144)) + epb(0, rec)
out += block(1, struct.pack("<HHI", 1, 0, 65535)) + epb(1, rec)
open(sys.argv[2].replace("two-links", "two-snaps"), "wb").write(out)
PY
refuse two-links "libpcap reads one link type a file" "file=$T/two-links.pcapng"
grep -qF "link type LINUX_SLL (113), and its first interface is EN10MB" "$T/two-links.err" ||
	lg_fail "two-links: the link types are not named: $(cat "$T/two-links.err")"
grep -qF "tshark -r $T/two-links.pcapng -Y 'frame.interface_id == 0' -F pcap -w one.pcap" \
	"$T/two-links.err" || lg_fail "two-links: no way out: $(cat "$T/two-links.err")"
! grep -q "the file is damaged" "$T/two-links.err" || lg_fail "two-links: called damaged"
# ... nor is one of two snap lengths (trial U, s24: "the file is damaged before its end")
refuse two-snaps "libpcap reads one snap length a file" "file=$T/two-snaps.pcapng"
grep -qF "tshark -r $T/two-snaps.pcapng -Y 'frame.interface_id == 0' -F pcap -w one.pcap" \
	"$T/two-snaps.err" || lg_fail "two-snaps: no way out: $(cat "$T/two-snaps.err")"
! grep -q "the file is damaged" "$T/two-snaps.err" || lg_fail "two-snaps: called damaged"
# ... and the way out works (trial V, s24: without -F pcap, tshark wrote a pcapng of both
# interfaces, refused again)
if command -v tshark > /dev/null; then
	tshark -r "$T/two-snaps.pcapng" -Y 'frame.interface_id == 0' -F pcap -w "$T/one.pcap" \
		> /dev/null 2>&1 || lg_fail "tshark as the message says failed"
	timeout 20 "$LG_BIN_DP" -p "$T/policy.yaml" -b "pcap:file=$T/one.pcap" -o "$T/one.jsonl" \
		-s "$T/one.stats.json" 2> "$T/one.err" || lg_fail "the way out: $(cat "$T/one.err")"
	[ "$(lg_json "$T/one.stats.json" "d['received']")" = 1 ] ||
		lg_fail "the way out: not the one record: $(cat "$T/one.err")"
	echo "two-snaps: the way out (tshark -F pcap) replays"
else
	echo "note: no tshark: the message's way out is not run"
fi
echo "PASS"
