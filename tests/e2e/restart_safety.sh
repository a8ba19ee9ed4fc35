#!/usr/bin/env bash
# Restarts keep safety (issue 11): linegate is killed with SIGKILL and started again.
#   MODE pinned  XDP pinned in its default folder: the next linegate takes it over
#   MODE nopin   --no-xdp-pin: the killed linegate's program stays attached; the next one
#                recognises it as its own and replaces it (it used to fail "already attached")
#   MODE uring   no XDP at all: only the workers' replay windows stand between an old frame
#                and the model
#   MODE dpdk    DPDK (net_af_xdp vdev) with its user-space admission
# In each: a policy applied before the kill removes device 108; 12 000 frames (1500 from each
# of the 8 devices of the boot file) go in before the kill, recorded on the line's side with
# tcpdump; the recorded frames are sent again, byte for byte, after the restart: not one may
# be admitted (the 10 500 of the enrolled devices count as replayed or too old, device 108's
# as unknown: the restarted linegate runs the last applied policy, not its boot file); then
# new frames are admitted.
source "$(dirname "$0")/lib.sh"
lg_need_root
command -v nsenter >/dev/null || lg_skip "nsenter (util-linux) is not installed"
command -v tcpdump >/dev/null || lg_skip "tcpdump is not installed (it records the frames)"
MODE=${1:-pinned}
lg_bpffs
lg_tmp
lg_netns_up "lgrs$$"
T=$LG_TMP
lg_pin_trap
lg_policy "$T/policy.yaml"
sed -i 's/^uadp_port: 4840/uadp_port: 0/' "$T/policy.yaml"
# The applied policy: the boot file without device 108 (the last one in it).
python3 - "$T/policy.yaml" "$T/no108.yaml" <<'PY'
import sys
s = open(sys.argv[1]).read()
open(sys.argv[2], "w").write(s[:s.index("  - id: 108")])
PY

case $MODE in
pinned) XARGS=(-B $SRV_IP -x lg0) ;;
nopin) XARGS=(-B $SRV_IP -x lg0 --no-xdp-pin) ;;
uring) XARGS=(-B $SRV_IP) ;;
dpdk)
	"$LG_BIN_DP" --help | grep '^  dpdk:' >/dev/null || lg_skip "linegate was built without DPDK (-Ddpdk)"
	export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$LG_SOURCE/tests/e2e/dpdk-lsan.supp"
	SRV_MAC=$(ip -n "$NS_SRV" -j link show lg0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
	ip -n "$NS_LINE" neigh replace $SRV_IP lladdr "$SRV_MAC" dev lg1 nud permanent
	XARGS=(-b "dpdk:nohuge,mem=256,sleep=50,vdev=net_af_xdp0;iface=lg0;start_queue=0;queue_count=1") ;;
*) lg_fail "unknown mode $MODE (pinned, nopin, uring, dpdk)" ;;
esac
run_dp() { lg_dp_nsenter "$1"; }
dp_apply() { lg_dp_apply "$T/dp.sock" "$1"; }
send() {
	ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP -r 4000 -q "$@"
}
admitted() { lg_dp_stats "$T/s.json" && lg_json "$T/s.json" "d['admitted']"; }

# Resend a recording's UDP payloads from the line's address, 4000 a second.
resend() {
	ip netns exec "$NS_LINE" python3 - "$1" $SRV_IP $LINE_IP <<'PY'
import socket, struct, sys, time
path, dst, src = sys.argv[1:]
data = open(path, "rb").read()
magic = struct.unpack("<I", data[:4])[0]
end = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
off, frames = 24, []
while off + 16 <= len(data):
    incl = struct.unpack(end + "I", data[off + 8:off + 12])[0]
    pkt = data[off + 16:off + 16 + incl]
    off += 16 + incl
    ihl = (pkt[14] & 15) * 4
    dport = struct.unpack(">H", pkt[14 + ihl + 2:14 + ihl + 4])[0]
    frames.append((dport, pkt[14 + ihl + 8:]))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
t0 = time.monotonic()
for i, (port, payload) in enumerate(frames):
    s.sendto(payload, (dst, port))
    if i % 16 == 15:
        delay = t0 + (i + 1) / 4000 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
print(len(frames))
PY
}

run_dp 1
dp_apply "$T/no108.yaml" > "$T/apply.reply"
grep -q '^ok: 7 devices, changes \[{"device":108,"change":"removed"' "$T/apply.reply" ||
	lg_fail "apply: $(cat "$T/apply.reply")"
ip netns exec "$NS_LINE" tcpdump -i lg1 -B 65536 -U -c 12000 -w "$T/rec.pcap" \
	"udp dst port 4739" 2> "$T/tcpdump.err" &
TCPDUMP=$!
lg_wait_for 5 grep -q "listening on" "$T/tcpdump.err" || lg_fail "tcpdump: $(cat "$T/tcpdump.err")"
send -n 1500 -j "$T/sent1.json"
# tcpdump ends by itself after 12000 frames (-c); one that lags is given 10 s.
lg_wait_for 10 bash -c "! kill -0 $TCPDUMP" || kill -INT $TCPDUMP
wait $TCPDUMP || true
grep -q "^12000 packets captured" "$T/tcpdump.err" || lg_fail "recording: $(cat "$T/tcpdump.err")"
lg_wait_value 10 10500 admitted || lg_fail "run 1 admitted $(admitted) of 10500"
kill -KILL $DP
wait $DP 2>/dev/null || true
LG_PIDS=""
case $MODE in
pinned) [ -e "$PIN/lg0/link" ] || lg_fail "nothing pinned in $PIN/lg0" ;;
nopin) ip -n "$NS_SRV" link show lg0 | grep -q "prog/xdp" ||
	lg_fail "the killed linegate's program is not attached (nothing to replace)" ;;
esac

run_dp 2
grep -q "linegate: policy: the last applied policy (kept in $STATE_DIRECTORY/applied.json): the boot file $T/policy.yaml is unchanged since" "$T/dp2.err" ||
	lg_fail "start line: $(cat "$T/dp2.err")"
case $MODE in
pinned) grep -q "XDP: took over the instance pinned in $PIN/lg0" "$T/dp2.err" ||
	lg_fail "no takeover: $(cat "$T/dp2.err")" ;;
nopin) grep -q "XDP: replaced the stale linegate program (id [0-9]*) that a linegate stopped without pins left on lg0" "$T/dp2.err" ||
	lg_fail "no replacement: $(cat "$T/dp2.err")" ;;
esac
sleep 0.2
# The recorded frames again, byte for byte, then new ones.
[ "$(resend "$T/rec.pcap")" = 12000 ] || lg_fail "the recording does not hold 12000 frames"
send -n 100 --first-seq 1501 -j "$T/sent3.json"
lg_wait_value 10 700 admitted || lg_fail "run 2 admitted $(admitted), want 700"
sleep 0.3
kill -INT $DP
wait $DP || lg_fail "linegate exited with status $?"
LG_PIDS=""
[ "$MODE" != pinned ] || [ -e "$PIN/lg0/link" ] || lg_fail "the pins went with a clean stop"

python3 - "$T/stats2.json" "$MODE" <<'PY'
import json, sys
st, mode = json.load(open(sys.argv[1])), sys.argv[2]
from lgcheck import check, done
x = st.get("xdp") or {}
old = 1500 * 7
# With pins, XDP's counters span both runs: take run 2's share from the workers' view.
replayed = st["drops"]["replayed"] + st["drops"]["too_old"]
if mode == "dpdk":
    # DPDK's user-space admission runs XDP's decision before the workers.
    replayed += st["admission"].get("replayed", 0)
    x = {"unknown_device": st["admission"].get("unknown_device", 0)}
if mode == "nopin":
    replayed += x.get("replayed", 0)
check("admitted after the restart: only the 7 x 100 new frames", st["admitted"], 700)
if mode == "pinned":
    # XDP's counters span both runs; run 1 had no replayed frame.
    check("old frames counted as replayed (XDP, both runs) + by the workers",
          x["replayed"] + replayed, old)
    check("device 108 after the restart: unknown (XDP, both runs: 1500 + 1500 + 100)",
          x["unknown_device"], 3100)
else:
    check("old frames counted as replayed or too old", replayed, old)
    check("device 108 after the restart: unknown",
          st["drops"]["unknown_device"] + x.get("unknown_device", 0), 1600)
check("scored after the restart", st["scored"], 700)
done()
PY
echo PASS
