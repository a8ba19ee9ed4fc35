#!/usr/bin/env bash
# A replay's frames out of sequence order give the same verdicts at every pace and worker
# count, and the ones live would give: the reorder stage's hold runs on the recording's
# clock (docs/replay.md, "Frames out of order"). Until s28 it ran on the wall clock, so a
# capture of 1..300, 1324, 301..1323 admitted all 1324 at pace=0 and 301 with 1023 late at
# pace=1 (trial X3, s27).
#
# A capture of 6 enrolled devices, 120 frames each (linegate-loadgen --pcap), rewritten so
# that each device's frame 100 comes early, 1 us after another of its frames: on devices
# 0-2 after frame 60 (a gap of 39 frames, most of them recorded after the 4 ms hold), on
# devices 3-5 after frame 98 (frame 99 comes within the hold), and their frame 30 lost.
# Replayed at pace=0, 1 and 4 with one and two workers. What each device should get is
# worked out here from the capture's stamps alone: the gap's frames recorded before the held
# frame's time + 4 ms are admitted, the later ones are late (and as many missing), the rest
# in order; a lost frame is missing, and the two frames after it are held until the next
# (reordered: one path holds a frame ahead until its device's next frame, and a second
# frame ahead gives the gap up at the next frame; live, at the end of the receive burst).
#
# Then trial X5 and X6 (s28)'s findings: one record stamped an hour ahead (an ARP) leaves
# the verdicts as they were, under a rate limit too, at both worker counts (the replay's
# clock was the largest stamp so far: it stood still, buckets stopped refilling and holds
# never ran out, on one worker count and not the other), and so does one device whose clock
# runs 2 s ahead of the others' (the clock moved 2 s at each of its records, and a paced
# replay waited 2 s at each); the start line says so; a
# UADP publisher's first frames out of order (5, 1, 2, 3, 4) give one worker's verdicts with
# two (worker 0 reads a UADP file and hands frames over in file order: one path); Ctrl-C in
# a paced replay, and in one whose worker 0 hands frames to worker 1, leaves no frame that
# admission admitted uncounted (stop_unread, or judged from the ring).
source "$(dirname "$0")/lib.sh"
lg_tmp
T=$LG_TMP
N=6
FRAMES=120

lg_pcap_policy $N replay-order
# 3000 frames/s in all: a device's frames 2 ms apart.
"$LG_BIN_GEN" -p "$T/policy.yaml" -t 10.77.0.1 -n $FRAMES -r 3000 --pcap "$T/gen.pcap" -q ||
	lg_fail "loadgen --pcap"

python3 - "$T/gen.pcap" "$T/moved.pcap" "$T/expect.json" <<'PY' || lg_fail "rewriting the capture failed"
import json, struct, sys

HOLD_NS = 4_000_000  # linegate's default --reorder-hold
src, dst, out = sys.argv[1:4]
raw = open(src, "rb").read()
magic = struct.unpack("<I", raw[:4])[0]
if magic != 0xa1b23c4d:
    sys.exit(f"{src}: not a little-endian nanosecond pcap (magic {magic:#x})")
recs, off = [], 24
while off < len(raw):
    s, ns, incl, orig = struct.unpack("<IIII", raw[off:off + 16])
    data = raw[off + 16:off + 16 + incl]
    off += 16 + incl
    ihl = (data[14] & 15) * 4
    lgf = data[14 + ihl + 8:]
    dev, seq = struct.unpack("<I", lgf[4:8])[0], struct.unpack("<Q", lgf[24:32])[0]
    recs.append({"t": s * 10**9 + ns, "dev": dev, "seq": seq, "data": data, "orig": orig})
devs = sorted({r["dev"] for r in recs})
if len(devs) != 6:
    sys.exit(f"{src}: {len(devs)} devices, want 6")
after = {d: 60 if i < 3 else 98 for i, d in enumerate(devs)}
# Frame 100 of each device out of its place, stamped 1 us after the frame it now follows.
moved = {d: next(r for r in recs if r["dev"] == d and r["seq"] == 100) for d in devs}
lost = {d: 30 for d in devs[3:]}
rest = [r for r in recs if r["seq"] != 100 and r["seq"] != lost.get(r["dev"])]
res = []
for r in rest:
    res.append(r)
    if r["seq"] == after[r["dev"]]:
        m = dict(moved[r["dev"]])
        m["t"] = r["t"] + 1000
        res.append(m)
if len(res) != len(recs) - 3 or any(b["t"] < a["t"] for a, b in zip(res, res[1:])):
    sys.exit("the rewritten capture is not in time order")
with open(dst, "wb") as f:
    f.write(raw[:24])
    for r in res:
        f.write(struct.pack("<IIII", r["t"] // 10**9, r["t"] % 10**9, len(r["data"]),
                            r["orig"]) + r["data"])
exp = {}
for d in devs:
    held = next(r for r in res if r["dev"] == d and r["seq"] == 100)
    gap = [r for r in res if r["dev"] == d and after[d] < r["seq"] < 100]
    late = sum(r["t"] >= held["t"] + HOLD_NS for r in gap)
    loss = d in lost
    exp[str(d)] = {"admitted": 120 - late - loss, "late": late, "missing": late + loss,
                   "reordered": 1 + 2 * loss}
json.dump(exp, open(out, "w"))
print("expected per device:", exp)
PY

RUNS="p0w1 p0w2 p1w1 p1w2 p4w1"
for run in $RUNS; do   # pPACE wWORKERS
	pace=${run#p}
	lg_pcap_replay "$T/moved.pcap" $run ",pace=${pace%w*}" ${run#*w}
done

python3 - "$T" $RUNS <<'PY'
import json, sys
from lgcheck import check, done

T, runs = sys.argv[1], sys.argv[2:]
exp = json.load(open(f"{T}/expect.json"))
# Of the expectation: the far gaps lose most of their frames, the near ones none.
far = [v["late"] for v in list(exp.values())[:3]]
near = [v["late"] for v in list(exp.values())[3:]]
check("frames of the far gaps recorded after the hold (each device)", all(30 <= x <= 39 for x in far), True)
check("frames of the near gaps recorded after the hold", near, [0, 0, 0])
for run in runs:
    st = json.load(open(f"{T}/{run}.stats"))
    got = {str(d["id"]): {"admitted": d["admitted"], "missing": d["sequence"]["missing"],
                          "reordered": d["sequence"]["reordered"]}
           for d in st["devices"] if d["admitted"]}
    want = {k: {x: v[x] for x in ("admitted", "missing", "reordered")} for k, v in exp.items()}
    check(f"{run}: per device admitted, missing, reordered", got, want)
    check(f"{run}: late", st["drops"].get("late", 0), sum(v["late"] for v in exp.values()))
    check(f"{run}: received", st["received"], 6 * 120 - 3)
done()
PY

echo "== one record stamped an hour ahead"
# rate.yaml: every device under a token bucket it never empties (500 frames/s against 1000)
sed 's#^\(    keys: .*\)$#\1\n    rate: 1000\n    burst: 20#' "$T/policy.yaml" > "$T/rate.yaml"
python3 - "$T/moved.pcap" "$T/future.pcap" <<'PY' || lg_fail "writing future.pcap failed"
import struct, sys
raw = open(sys.argv[1], "rb").read()
out, off, n = bytearray(raw[:24]), 24, 0
arp = bytes.fromhex("ffffffffffff02000000000108060001080006040001020000000001") + bytes(32)
while off < len(raw):
    s, ns, incl, orig = struct.unpack("<IIII", raw[off:off + 16])
    out += raw[off:off + 16 + incl]
    off += 16 + incl
    n += 1
    if n == 10:  # record 11: an ARP stamped 3600 s after record 10
        out += struct.pack("<IIII", s + 3600, ns, len(arp), len(arp)) + arp
open(sys.argv[2], "wb").write(out)
PY
lg_pcap_replay "$T/future.pcap" fw1 "" 1 "$T/rate.yaml"
lg_pcap_replay "$T/future.pcap" fw2 "" 2 "$T/rate.yaml"
grep -q "1 record stamped ahead of the records after (taken at their time)" "$T/fw1.err" ||
	lg_fail "the start line does not name the record an hour ahead: $(grep 'pcap backend' "$T/fw1.err")"

echo "== one device's clock 2 s ahead of the others' (a merged capture)"
python3 - "$T/moved.pcap" "$T/skew.pcap" <<'PY' || lg_fail "writing skew.pcap failed"
import struct, sys
raw = open(sys.argv[1], "rb").read()
out, off = bytearray(raw[:24]), 24
while off < len(raw):
    s, ns, incl, orig = struct.unpack("<IIII", raw[off:off + 16])
    rec = raw[off + 16:off + 16 + incl]
    off += 16 + incl
    ihl = (rec[14] & 15) * 4
    dev = struct.unpack("<I", rec[14 + ihl + 8 + 4:14 + ihl + 8 + 8])[0]
    out += struct.pack("<IIII", s + 2 * (dev == 1005), ns, incl, orig) + rec
open(sys.argv[2], "wb").write(out)
PY
lg_pcap_replay "$T/skew.pcap" sw1 "" 1
lg_pcap_replay "$T/skew.pcap" sw2p1 ",pace=1" 2
grep -q "; 11[0-9] records stamped ahead of the records after" "$T/sw1.err" ||
	lg_fail "the start line does not name the records ahead: $(grep 'pcap backend' "$T/sw1.err")"

echo "== a UADP publisher's first frames out of order, one and two workers"
mkdir -p "$T/uadp"
lg_policy "$T/uadp/policy.yaml"
"$LG_BIN_GEN" -p "$T/uadp/policy.yaml" -t 10.77.0.1 -n 40 -r 1600 -u --pcap "$T/uadp.pcap" -q ||
	lg_fail "loadgen -u --pcap"
python3 - "$T/uadp.pcap" "$T/uadp5.pcap" <<'PY' || lg_fail "rewriting uadp.pcap failed"
import struct, sys
raw = open(sys.argv[1], "rb").read()
recs, off = [], 24
while off < len(raw):
    s, ns, incl, orig = struct.unpack("<IIII", raw[off:off + 16])
    recs.append([raw[off:off + 8], raw[off + 8:off + 16 + incl]])
    off += 16 + incl
# UADP datagrams (to port 4840) by publisher: the 5 bytes after the UDP header
pub = {}
for i, (_, body) in enumerate(recs):
    d = body[8:]
    if len(d) > 47 and struct.unpack(">H", d[36:38])[0] == 4840:
        pub.setdefault(d[42:47], []).append(i)
if len(pub) < 2:
    sys.exit(f"{len(pub)} UADP publishers in the capture, want 2")
# each publisher's 5th message moved before its 1st; the stamps stay with the places
order = list(range(len(recs)))
for idx in pub.values():
    order.remove(idx[4])
    order.insert(order.index(idx[0]), idx[4])
out = bytearray(raw[:24])
for place, i in enumerate(order):
    out += recs[place][0] + recs[i][1]
open(sys.argv[2], "wb").write(out)
PY
T0=$T
T=$T0/uadp
lg_pcap_replay "$T0/uadp5.pcap" uw1 "" 1
lg_pcap_replay "$T0/uadp5.pcap" uw2 "" 2
T=$T0

echo "== Ctrl-C in a paced replay"
# interrupted NAME SECONDS ARGS...: linegate ARGS (-s $T/NAME.stats) stopped by SIGINT after
# SECONDS; it must exit 0
interrupted() {
	local name=$1 after=$2
	shift 2
	rm -rf "$STATE_DIRECTORY"
	"$LG_BIN_DP" "$@" -s "$T/$name.stats" -o /dev/null 2> "$T/$name.err" &
	DP=$!
	LG_PIDS="$DP"
	sleep "$after"
	kill -INT $DP
	wait $DP || lg_fail "$name: linegate stopped by SIGINT exited with status $?: $(tail -3 "$T/$name.err")"
	LG_PIDS=""
}
# 717 records over 0.24 s recorded, at pace x0.05: about 5 s; stopped after 1
interrupted int 1 -p "$T/policy.yaml" -b "pcap:file=$T/moved.pcap,pace=0.05"
# the UADP capture, worker 0 handing frames to worker 1, at full speed: stopped mid-way
interrupted uint 1.5 -p "$T/uadp/policy.yaml" -w 2 -b "pcap:file=$T/uadp5.pcap,loop=100000"

python3 - "$T" <<'PY'
import json, sys
from lgcheck import check, done

T = sys.argv[1]
exp = json.load(open(f"{T}/expect.json"))
got = {}
for run in ("fw1", "fw2", "sw1", "sw2p1"):
    st = json.load(open(f"{T}/{run}.stats"))
    got[run] = {str(d["id"]): {"admitted": d["admitted"], "missing": d["sequence"]["missing"],
                               "reordered": d["sequence"]["reordered"]}
                for d in st["devices"] if d["admitted"]}
    want = {k: {x: v[x] for x in ("admitted", "missing", "reordered")} for k, v in exp.items()}
    arp = run.startswith("f")
    if not arp:
        # 1005's own records get the time of the records after them (its stamps are 2 s
        # off): its verdicts may move by a frame at the hold's edge; the others' may not
        for x in (got[run], want):
            x.pop("1005", None)
    check(f"{run} (out-of-step stamps): per device as without them", got[run], want)
    if arp:
        check(f"{run}: late", st["drops"].get("late", 0), sum(v["late"] for v in exp.values()))
    check(f"{run}: admission's verdicts", {k: v for k, v in st["admission"].items() if v},
          {"judged": 6 * 120 - 3 + arp, "admitted": 6 * 120 - 3, **({"not_ours": 1} if arp else {})})


check("skew: device 1005 the same at pace 0 with one worker and pace 1 with two",
      json.load(open(f"{T}/sw2p1.stats"))["devices"][5]["sequence"],
      json.load(open(f"{T}/sw1.stats"))["devices"][5]["sequence"])


def per_dev(st):
    return {d["id"]: (d["admitted"], {k: v for k, v in d["drops"].items() if v},
                      {k: v for k, v in d["sequence"].items() if v})
            for d in st["devices"] if d["admitted"] or d["dropped"]}


u1, u2 = (json.load(open(f"{T}/uadp/{r}.stats")) for r in ("uw1", "uw2"))
check("uadp: per device, two workers as one", per_dev(u2), per_dev(u1))
late4 = [i for i, v in per_dev(u1).items() if v[1].get("late") == 4]
check("uadp: publishers whose first 4 frames came after their 5th, refused late",
      len(late4) >= 1, True)
st = json.load(open(f"{T}/int.stats"))
adm = st["admission"]
check("SIGINT at pace x0.05: stopped before the end", st["received"] < 6 * 120 - 3, True)
check("SIGINT: received = what admission admitted (the waiting record is stop_unread)",
      st["received"], adm.get("admitted", 0) + adm.get("audit", 0))
check("SIGINT: stop_unread", st["drops"].get("stop_unread", 0) in (0, 1), True)
st = json.load(open(f"{T}/uint.stats"))
adm = st["admission"]
check("SIGINT, UADP, 2 workers: stopped before the end", adm["judged"] < 100000 * 320, True)
check("SIGINT, UADP, 2 workers: every record admission judged is received or its drop",
      st["received"] + sum(v for k, v in adm.items() if k not in ("admitted", "audit", "judged")),
      adm["judged"])
done()
PY
echo PASS
