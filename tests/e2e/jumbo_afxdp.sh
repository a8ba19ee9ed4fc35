#!/usr/bin/env bash
# Jumbo frames through XDP and AF_XDP multi-buffer: a veth pair with MTU 9000, linegate with
# the admission program (native or generic) and the afxdp backend. Every frame must reach a
# worker whole (its tag verifies only if every byte arrived) or be refused under a reason:
#  - LGF frames of 4400 int16 samples (8 890 bytes on the wire, three UMEM frames);
#  - then LGF of 4 KB and 2 KB (two buffers, and one: in place) mixed with UADP messages of
#    8 KB and 4 KB from devices 107 and 108;
#  - then, on an MTU of 9400, raw frames: an IPv4 LGF frame whose IP length runs past the
#    frame (XDP: malformed), and IPv6 LGF frames of an enrolled device with a 256-byte
#    Destination Options header, admitted by XDP but longer than the backend's 9216-byte
#    reassembly buffer (linegate: too_big).
# Exact counts: sent = XDP admitted = received = admitted + too_big, windows per device.
source "$(dirname "$0")/lib.sh"
lg_need_root
# AF_XDP multi-buffer (XDP_USE_SG) came with 6.6; veth's multi-buffer XDP before it.
IFS=. read -r KMAJ KMIN _ <<< "$(uname -r)"
[ "$KMAJ" -gt 6 ] || { [ "$KMAJ" -eq 6 ] && [ "${KMIN%%[!0-9]*}" -ge 6 ]; } ||
	lg_skip "kernel $(uname -r) has no AF_XDP multi-buffer (XDP_USE_SG, Linux 6.6)"
lg_tmp
lg_netns_up "lgjb$$"
T=$LG_TMP
MODE=${1:-native}
[ "$MODE" = native ] && XDP=lg0 || XDP=lg0:generic
lg_policy "$T/policy.yaml"
# An IPv6 device for the raw frames: XDP binds it to its address, nothing else sends from it.
cat >> "$T/policy.yaml" <<'EOF'
  - id: 109
    name: jumbo-v6
    source: fd77::2
    keys:
      - {id: 1, key_file: keys/jumbo-v6.key}
EOF
echo 0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0 > "$T/keys/jumbo-v6.key"
chmod 600 "$T/keys/jumbo-v6.key"
ip -n "$NS_SRV" link set lg0 mtu 9000
ip -n "$NS_LINE" link set lg1 mtu 9000

ip netns exec "$NS_SRV" "$LG_BIN_DP" -p "$T/policy.yaml" -B $SRV_IP -c "$T/dp.sock" \
	-o "$T/out.jsonl" -s "$T/stats.json" -x $XDP -b afxdp 2> "$T/dp.err" &
DP_PID=$!
LG_PIDS="$DP_PID"
if ! lg_wait_for 5 test -S "$T/dp.sock"; then
	cat "$T/dp.err"
	lg_fail "linegate did not start"
fi
cat "$T/dp.err"
grep -q "afxdp backend, .*multi-buffer: frames up to" "$T/dp.err" ||
	lg_fail "the afxdp backend does not say it runs multi-buffer"

gen() {
	ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP \
		-r 2000 -q "$@"
}
N=30
# LGF near LGF_MAX_LEN from the six LGF devices.
gen -d 6 -n $N --samples 4400 -j "$T/sent_a.json"
# 4 KB LGF with 8 KB UADP, then 2 KB LGF with 4 KB UADP, interleaved by the generator.
gen -d 8 -n $N --samples 2000 --first-seq $((N + 1)) --uadp -j "$T/sent_b.json"
gen -d 8 -n $N --samples 1000 --first-seq $((2 * N + 1)) --uadp -j "$T/sent_c.json"

# Raw frames from a packet socket, above the MTU of 9000: both ends to 9400 first.
ip -n "$NS_SRV" link set lg0 mtu 9400
ip -n "$NS_LINE" link set lg1 mtu 9400
SRV_MAC=$(ip netns exec "$NS_SRV" cat /sys/class/net/lg0/address)
ip netns exec "$NS_LINE" python3 - "$SRV_MAC" $SRV_IP $LINE_IP > "$T/raw.json" <<'PY'
import json, socket, struct, sys
dst_mac = bytes.fromhex(sys.argv[1].replace(':', ''))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('lg1', 0))
src_mac = s.getsockname()[4]
def lgf(dev, seq, length):
    # Magic, version, type, device id, then the sequence at 24: what XDP reads.
    hdr = b'LG' + bytes([1, 1]) + struct.pack('<I', dev) + bytes(16) + struct.pack('<Q', seq)
    return hdr + bytes(length - len(hdr))
def udp(payload):
    return struct.pack('!HHHH', 40109, 4739, 8 + len(payload), 0) + payload
def ipv4(src, dst, l4, total):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, total, 0, 0x4000, 64, 17, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    return h + l4
n = 20
# IPv4, IP total length 9000 in a frame that carries 6000 bytes of it.
bad = [ipv4(sys.argv[3], sys.argv[2], udp(lgf(101, 1000 + i, 6000 - 28)), 9000) for i in range(n)]
for p in bad:
    s.send(dst_mac + src_mac + b'\x08\x00' + p)
# IPv6 from device 109's address with a 256-byte Destination Options header (PadN).
src6, dst6 = socket.inet_pton(socket.AF_INET6, 'fd77::2'), socket.inet_pton(socket.AF_INET6, 'fd77::1')
dopt = bytes([17, 31]) + bytes([1, 252]) + bytes(252)
for i in range(n):
    l4 = udp(lgf(109, 1 + i, 8972))
    ip6 = struct.pack('!IHBB', 6 << 28, len(dopt) + len(l4), 60, 64) + src6 + dst6
    frame = dst_mac + src_mac + b'\x86\xdd' + ip6 + dopt + l4
    s.send(frame)
print(json.dumps({'inconsistent': n, 'too_big': n, 'too_big_len': len(frame)}))
PY

sent_all() {
	lg_json "$T/sent_a.json" "d['sent']" >/dev/null &&
	python3 -c "
import json, sys
n = sum(json.load(open(f))['sent'] for f in sys.argv[1:4]) + json.load(open(sys.argv[4]))['too_big']
print(n)" "$T/sent_a.json" "$T/sent_b.json" "$T/sent_c.json" "$T/raw.json"
}
want=$(sent_all)
got_all() {
	lg_dp_stats "$T/m.json" && [ "$(lg_json "$T/m.json" "d['received']")" = "$want" ]
}
lg_wait_for 10 got_all || { cat "$T/m.json"; lg_fail "received $(lg_json "$T/m.json" "d['received']") of $want"; }
lg_stop_linegate

python3 - "$T/stats.json" "$T/policy.yaml" "$T/sent_a.json" "$T/sent_b.json" \
	"$T/sent_c.json" "$T/raw.json" $N <<'PY'
import json, sys
st = json.load(open(sys.argv[1]))
window = int(next(l.split()[1] for l in open(sys.argv[2]) if l.strip().startswith('window:')))
a, b, c, raw = (json.load(open(f)) for f in sys.argv[3:7])
n = int(sys.argv[7])
x, d = st["xdp"], st["drops"]
ok = True
def check(name, got, want):
    global ok
    print(f"{name}: got {got}, want {want}")
    ok &= got == want
for name, s in (("a", a), ("b", b), ("c", c)):
    check(f"run {name}: every frame from an enrolled device, well-formed", s["sent"], s["enrolled"])
check("UADP messages (8 KB and 4 KB)", b["uadp"] + c["uadp"], 2 * 2 * n)
sent = a["sent"] + b["sent"] + c["sent"]
check("xdp admitted", x["admitted"], sent + raw["too_big"])
check("xdp malformed (IP length past the frame)", x["malformed"], raw["inconsistent"])
for k in ("unknown_device", "spoofed_source", "rate_limited", "replayed", "no_table",
          "state_full", "audit"):
    check(f"xdp {k}", x[k], 0)
check("workers received", st["received"], sent + raw["too_big"])
check("workers admitted (tags verified: every byte arrived)", st["admitted"], sent)
check("too_big (IPv6 frames of %d bytes)" % raw["too_big_len"], d["too_big"], raw["too_big"])
check("nothing else dropped", {k: v for k, v in d.items() if v and k != "too_big"}, {})
dev = {v["id"]: v for v in st["devices"]}
samples = {i: n * (4400 + 2000 + 1000) for i in range(101, 107)}
samples.update({107: n * (2000 + 1000), 108: n * (2000 + 1000)})
for i, sm in sorted(samples.items()):
    frames = 3 * n if i < 107 else 2 * n
    check(f"device {i} admitted", dev[i]["admitted"], frames)
    check(f"device {i} windows", dev[i]["windows"], sm // window)
check("windows scored", st["scored"], st["windows"])
sys.exit(0 if ok else 1)
PY
echo PASS
