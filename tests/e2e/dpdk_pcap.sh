#!/usr/bin/env bash
# The dpdk backend on a net_pcap vdev (--no-huge), replaying a capture of the simulated
# line: enrolled devices (LGF and UADP) with valid tags, plus unknown, spoofed, malformed,
# wrongly tagged and replayed frames. User-space admission (the XDP decision) refuses
# unknown, spoofed and unparseable frames before a worker sees them; the workers verify the
# rest. The replay must end by itself at the end of the file (LG_RX_EOF), and every count
# is exact: frames in the file = admission's verdicts, what it passed = what the workers
# received = admitted + dropped by reason, per device, and windows. Frames that are not ours
# (UDP to another port) are counted once, by admission (not_ours), whatever the policy's
# not_ours says: DPDK has no kernel stack to pass them to, and the workers never see them.
source "$(dirname "$0")/lib.sh"
# DPDK's own leak on close (dpdk-lsan.supp), under ASan builds only.
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$LG_SOURCE/tests/e2e/dpdk-lsan.supp"
"$LG_BIN_DP" --help | grep '^  dpdk:' >/dev/null || lg_skip "linegate was built without DPDK (-Ddpdk)"
lg_need_root
lg_tmp
lg_netns_up "lgdp$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
FRAMES=300
NOT_OURS=25

# 1. Record the line: the sender in its namespace, a capture on the server's veth.
lg_capture_start "$T/line.pcap"
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP \
	-n $FRAMES -r 3000 --samples 256 --unknown 100 --bad-tag 20 --replay 20 --malformed 20 \
	--spoof 30 --spoof-from $SPOOF_IP --uadp -j "$T/sent.json" -q
lg_send_not_ours $NOT_OURS
lg_capture_stop

# 2. Replay it through DPDK; linegate must stop by itself at the end of the file.
timeout 120 "$LG_BIN_DP" -p "$T/policy.yaml" -o "$T/out.jsonl" -s "$T/stats.json" \
	-b "dpdk:nohuge,mem=256,mbufs=2047,sleep=100,vdev=net_pcap0;rx_pcap=$T/line.pcap" \
	2> "$T/dp.err" || { rc=$?; cat "$T/dp.err"; lg_fail "linegate exited with status $rc"; }
grep -q "finite source" "$T/dp.err" || { cat "$T/dp.err"; lg_fail "no end-of-stream mode"; }

python3 - "$T/stats.json" "$T/sent.json" "$T/out.jsonl" "$(cat "$T/line.pcap.count")" \
	$FRAMES $NOT_OURS <<'PY'
import json, sys
st, s = (json.load(open(f)) for f in sys.argv[1:3])
lines = [json.loads(l) for l in open(sys.argv[3])]
captured, frames, not_ours = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
a, d = st["admission"], st["drops"]
from lgcheck import check, done
sent = s["sent"]
half = s["malformed"] // 2          # bad magic (admission) and bad length (worker)
check("frames captured = sent + not ours", captured, sent + not_ours)
check("admission judged every frame", a["judged"], captured)
check("admission unknown_device", a["unknown_device"], s["unknown_device"])
check("admission spoofed_source", a["spoofed_source"], s["spoofed"])
check("admission malformed", a["malformed"], half)
passed = s["enrolled"] + s["bad_tag"] + s["replayed"] + (s["malformed"] - half)
check("admission admitted", a["admitted"], passed)
check("admission not_ours (policy: pass; counted once, here)", a["not_ours"], not_ours)
for r in ("rate_limited", "replayed", "audit", "no_table", "state_full"):
    check("admission " + r, a[r], 0)
check("workers received = admission admitted", st["received"], passed)
check("received = admitted + dropped", st["received"], st["admitted"] + st["dropped"])
check("dropped = sum of reasons", st["dropped"], sum(d.values()))
check("workers not_ours (admission counted them)", d["not_ours"], 0)
check("every frame once: captured = admitted + admission's drops + workers' drops", captured,
      st["admitted"] + (a["judged"] - a["admitted"]) + sum(d.values()))
check("workers admitted", st["admitted"], s["enrolled"])
check("workers bad_length", d["bad_length"], s["malformed"] - half)
check("workers bad_tag", d["bad_tag"], s["bad_tag"])
check("workers replayed", d["replayed"], s["replayed"])
check("workers unknown_device + spoofed + bad_magic",
      d["unknown_device"] + d["spoofed_source"] + d["bad_magic"], 0)
check("backend drops (imissed, no buffer, checksum)", st["backend_dropped"], 0)
check("uadp received", st["uadp_received"], s["uadp"])
dev = {v["id"]: v for v in st["devices"]}
for i in range(101, 109):
    check(f"device {i} admitted", dev[i]["admitted"], frames)
for i in range(101, 107):           # 256 samples a frame, 256 a window
    check(f"device {i} windows", dev[i]["windows"], frames)
check("windows = sum over devices", st["windows"], sum(v["windows"] for v in dev.values()))
check("scored rows written", len(lines), st["scored"])
check("every row scored", st["scored"] >= st["windows"], True)
done()
PY

# 3. The same file again: a replay is a finite stream (net_pcap's rx_pcap), which neither
# reads nor writes the line's state folder, so its sequences are not replays of the first
# run's: the same verdicts, frame for frame.
# (eof=3000: the replay's seconds leave out the 3 s of silence that end it)
timeout 120 "$LG_BIN_DP" -p "$T/policy.yaml" -o "$T/out2.jsonl" -s "$T/stats2.json" \
	-b "dpdk:nohuge,mem=256,mbufs=2047,sleep=100,eof=3000,vdev=net_pcap0;rx_pcap=$T/line.pcap" \
	2> "$T/dp2.err" || { rc=$?; cat "$T/dp2.err"; lg_fail "linegate (second replay) exited with status $rc"; }
grep -q "a finite stream: no state folder" "$T/dp2.err" ||
	{ cat "$T/dp2.err"; lg_fail "the start line does not say the replay keeps off the state"; }
python3 - "$T/stats.json" "$T/stats2.json" "$T/out.jsonl" "$T/out2.jsonl" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
from lgcheck import check, done
for k in ("received", "admitted", "windows", "scored", "backend_dropped"):
    check(f"second replay: {k} as the first", b[k], a[k])
check("second replay: admission verdicts as the first", b["admission"], a["admission"])
check("second replay: drops as the first", b["drops"], a["drops"])
n1, n2 = (sum(1 for _ in open(f)) for f in sys.argv[3:5])
check("second replay: rows written", n2, n1)
# The replay's own time, not the end-of-file wait (trial D: 0.516 s for a 0.018 s replay).
sec = b["replay"]["seconds"]
print(f"replay seconds: {a['replay']['seconds']:.3f} (eof=500), {sec:.3f} (eof=3000)")
check("replay.seconds leaves out the eof= wait (3 s)", 0 < sec < 2.5, True)
check("replay.frames_per_s = received / seconds",
      abs(b["replay"]["frames_per_s"] - b["received"] / sec) < 1e-6 * b["received"] / sec, True)
done()
PY

# 4. Jumbo frames (trial s20 I L1): LGF frames of the largest payload (8 972 bytes, a 9 014-byte
# frame) are longer than a default mbuf (2 048 bytes of data): net_pcap chains them, and
# admission used to judge the first segment alone, as malformed. Now each is `too_big`, once,
# before admission; mbuf_size=9344 takes them whole, and all are admitted.
"$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP -n 5 -d 1 --samples 4458 \
	--pcap "$T/jumbo.pcap" -q || lg_fail "linegate-loadgen --pcap (jumbo) failed"
for ms in "" ",mbuf_size=9344"; do
	timeout 120 "$LG_BIN_DP" -p "$T/policy.yaml" -o /dev/null -s "$T/jumbo$ms.json" \
		-b "dpdk:nohuge,mem=256,mbufs=2047,sleep=100$ms,vdev=net_pcap0;rx_pcap=$T/jumbo.pcap" \
		2> "$T/jumbo.err" || { rc=$?; cat "$T/jumbo.err"; lg_fail "jumbo$ms: status $rc"; }
done
python3 - "$T/jumbo.json" "$T/jumbo,mbuf_size=9344.json" <<'PY'
import json, sys
small, big = (json.load(open(f)) for f in sys.argv[1:3])
from lgcheck import check, done
check("2048-byte mbufs: every jumbo frame too_big", small["drops"]["too_big"], 5)
check("2048-byte mbufs: none judged malformed", small["admission"]["malformed"], 0)
check("2048-byte mbufs: none admitted", small["admitted"], 0)
check("mbuf_size=9344: all admitted by admission", big["admission"]["admitted"], 5)
check("mbuf_size=9344: all admitted by the worker", big["admitted"], 5)
check("mbuf_size=9344: nothing too_big", big["drops"]["too_big"], 0)
done()
PY

# 5. A cooked capture (tcpdump -i any) through net_pcap: every record is read as Ethernet and
# is not ours; linegate says why at the end (trial s20 I L7: no hint).
python3 - "$T/line.pcap" "$T/cooked.pcap" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
hdr = bytearray(data[:24])
struct.pack_into("<I", hdr, 20, 113)                # LINKTYPE_LINUX_SLL
out, off = hdr, 24
while off + 16 <= len(data):
    sec, frac, incl, orig = struct.unpack("<IIII", data[off:off + 16])
    rec = data[off + 16:off + 16 + incl]
    off += 16 + incl
    sll = struct.pack("!HHH", 0, 1, 6) + rec[6:12] + b"\0\0" + rec[12:14]
    out += struct.pack("<IIII", sec, frac, incl + 2, orig + 2) + sll + rec[14:]
open(sys.argv[2], "wb").write(out)
PY
timeout 120 "$LG_BIN_DP" -p "$T/policy.yaml" -o /dev/null -s "$T/cooked.json" \
	-b "dpdk:nohuge,mem=256,mbufs=2047,sleep=100,vdev=net_pcap0;rx_pcap=$T/cooked.pcap" \
	2> "$T/cooked.err" || { rc=$?; cat "$T/cooked.err"; lg_fail "cooked: status $rc"; }
grep -q "every frame was not_ours .*a cooked capture .* --backend pcap:file=FILE" "$T/cooked.err" ||
	{ cat "$T/cooked.err"; lg_fail "cooked capture via net_pcap: no hint"; }
! grep -q "every frame was not_ours" "$T/dp.err" || lg_fail "the hint on a capture of the line"
echo "cooked capture via net_pcap: $(grep 'every frame was not_ours' "$T/cooked.err" | cut -c1-80)..."
echo PASS
