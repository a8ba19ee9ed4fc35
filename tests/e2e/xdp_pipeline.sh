#!/usr/bin/env bash
# The whole pipeline with XDP admission: linegate attaches bpf/admit to its veth (native
# mode). Unknown, spoofed and unparseable frames must be dropped in XDP, so the workers
# never see them; what XDP lets through is verified by the workers. Devices 107 and 108
# publish OPC UA PubSub UADP (loadgen --uadp) to the policy's uadp_port: XDP identifies them
# by PublisherId, WriterGroupId and DataSetWriterId, and drops unknown, spoofed and
# malformed UADP as it does LGF. Then an old capture of the LGF devices is replayed: the
# workers' exported sequences make XDP drop all of it.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgxp$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
MODE=${1:-native}
BACKEND=${2:-uring}   # afxdp: admitted frames go to an AF_XDP socket, past the stack
[ "$MODE" = native ] && XDP=lg0 || XDP=lg0:generic

lg_start_linegate_xdp "$MODE" -B $SRV_IP -x $XDP -b "$BACKEND"

LGF_DEVICES=6 FRAMES=1200
UADP_PORT=$(awk '/^uadp_port:/ {print $2}' "$T/policy.yaml")
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP \
	-n $FRAMES -r 6000 -f 103:600:bearing --unknown 100 --bad-tag 20 --replay 20 \
	--malformed 20 --spoof 30 --spoof-from $SPOOF_IP --uadp -j "$T/sent1.json" -q
# UADP that XDP must drop: unknown publishers (UInt16 PublisherId, WriterGroupId,
# DataSetWriterId and String PublisherId each one off, and 107's publisher without
# PayloadHeader: its first DataSetMessage is position 1, which no device enrolled), device
# 107's identity from another address, and messages XDP cannot identify (a chunk, version 2).
ip netns exec "$NS_LINE" python3 - $SRV_IP "$UADP_PORT" $LINE_IP $SPOOF_IP \
	> "$T/uadp_bad.json" <<'PY'
import json, socket, struct, sys
dst, port, line, spoof = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
dsm = bytes([0x01]) + struct.pack('<H', 1) + bytes([0x0a]) + struct.pack('<f', 1.5)
def msg(pub, wg, writer, ext1=0x01, flags=0xf1):
    return bytes([flags, ext1]) + pub + bytes([0x01]) + struct.pack('<HB', wg, 1) + \
        struct.pack('<H', writer) + dsm
u16 = lambda v: struct.pack('<H', v)
string = lambda s: struct.pack('<i', len(s)) + s.encode()
unknown = [msg(u16(2235), 100, 62541), msg(u16(2234), 101, 62541), msg(u16(2234), 100, 62542),
           msg(string('gw-2'), 1, 1, ext1=0x04), msg(u16(2234), 100, 62541, flags=0xb1)]
malformed = [bytes([0xf1, 0x81, 0x01]) + u16(2234) + bytes([0x01]) + u16(100) + bytes([1]) +
             u16(62541) + dsm, msg(u16(2234), 100, 62541, flags=0xf2)]
spoofed = [msg(u16(2234), 100, 62541)]
n = 25
def send(src, msgs):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    for _ in range(n):
        for m in msgs:
            s.sendto(m, (dst, port))
    return n * len(msgs)
print(json.dumps({'unknown': send(line, unknown), 'malformed': send(line, malformed),
                  'spoofed': send(spoof, spoofed)}))
PY
# Let the workers export their verified sequences to XDP (every 50 ms).
sleep 0.4
# An old capture: the LGF devices' frames 1..100, correctly tagged, long superseded.
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP \
	-d $LGF_DEVICES -n 100 -r 6000 -j "$T/sent2.json" -q
sleep 0.4
kill -INT $DP_PID
wait $DP_PID || { cat "$T/dp.err"; lg_fail "linegate exited with status $?"; }
LG_PIDS=""

python3 - "$T/stats.json" "$T/sent1.json" "$T/sent2.json" "$T/out.jsonl" "$T/uadp_bad.json" \
	$FRAMES <<'PY'
import json, sys
st, s1, s2 = (json.load(open(f)) for f in sys.argv[1:4])
ub = json.load(open(sys.argv[5])); frames = int(sys.argv[6])
x, d = st["xdp"], st["drops"]
from lgcheck import check, done
half = s1["malformed"] // 2          # bad magic (XDP) and bad length (worker), alternating
check("uadp sent by 107 and 108", s1["uadp"], 2 * frames)
check("xdp unknown_device", x["unknown_device"], s1["unknown_device"] + ub["unknown"])
check("xdp spoofed_source", x["spoofed_source"], s1["spoofed"] + ub["spoofed"])
check("xdp malformed", x["malformed"], half + ub["malformed"])
check("xdp replayed (old capture)", x["replayed"], s2["enrolled"])
check("xdp rate_limited", x["rate_limited"], 0)
passed = s1["enrolled"] + s1["bad_tag"] + s1["replayed"] + (s1["malformed"] - half)
check("xdp admitted", x["admitted"], passed)
check("workers received", st["received"], passed)
check("workers admitted", st["admitted"], s1["enrolled"])
check("workers unknown_device", d["unknown_device"], 0)
check("workers spoofed_source", d["spoofed_source"], 0)
check("workers bad_magic", d["bad_magic"], 0)
check("workers bad_length", d["bad_length"], s1["malformed"] - half)
check("workers bad_tag", d["bad_tag"], s1["bad_tag"])
check("workers replayed", d["replayed"], s1["replayed"])
check("workers uadp_received", st["uadp_received"], s1["uadp"])
dev = {v["id"]: v for v in st["devices"]}
check("workers admitted from 107 (UADP)", dev[107]["admitted"], frames)
check("workers admitted from 108 (UADP, unsigned)", dev[108]["admitted"], frames)
check("workers uadp_unsigned_admitted", st["uadp_unsigned_admitted"], frames)
alerts = {json.loads(l)["device"] for l in open(sys.argv[4]) if '"alert"' in l}
check("devices with alerts", sorted(alerts), [103])
done()
PY
echo PASS
