#!/usr/bin/env bash
# Every frame accounted for at overload: linegate is frozen (SIGSTOP) while the load
# generator sends far more than its socket buffer (uring) or its AF_XDP RX ring (afxdp)
# holds, then let go. What the kernel dropped must show up under its own reason, so that
#   sent = received = admitted + dropped by reason, exactly,
# and with XDP in front, every frame XDP admitted is one linegate received. A third argument
# "jumbo" (afxdp) sends LGF of 4400 samples on MTU 9000: three UMEM frames each, gathered
# into the backend's reassembly slots, which run out within a burst of such frames.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgov$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
BACKEND=${1:-uring}   # afxdp [generic|native], or uring:OPTIONS (e.g. uring:taskrun=defer)
case $BACKEND in
uring) ARGS=() ;;
uring:*) ARGS=(-b "$BACKEND"); BACKEND=uring ;;
afxdp) [ "${2:-generic}" = native ] && ARGS=(-x lg0 -b afxdp) || ARGS=(-x lg0:generic -b afxdp) ;;
*) lg_fail "unknown backend $BACKEND" ;;
esac
GEN=(-n 2500)
if [ "${3:-}" = jumbo ]; then
	ip -n "$NS_SRV" link set lg0 mtu 9000
	ip -n "$NS_LINE" link set lg1 mtu 9000
	GEN=(-n 400 --samples 4400)
fi

ip netns exec "$NS_SRV" "$LG_BIN_DP" -p "$T/policy.yaml" -B $SRV_IP -c "$T/dp.sock" \
	-o "$T/out.jsonl" -s "$T/stats.json" "${ARGS[@]}" 2> "$T/dp.err" &
DP_PID=$!
LG_PIDS="$DP_PID"
if ! lg_wait_for 5 test -S "$T/dp.sock"; then
	cat "$T/dp.err"
	lg_fail "linegate did not start"
fi

# Frozen: nothing is read while the generator sends.
kill -STOP $DP_PID
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP \
	"${GEN[@]}" -r 0 --unknown 200 --bad-tag 100 -j "$T/sent.json" -q
kill -CONT $DP_PID

# With XDP in front, unknown devices never reach linegate: it receives what XDP admitted.
sent=$(lg_json "$T/sent.json" "d['sent'] - ('$BACKEND' == 'afxdp') * d['unknown_device']")
got_all() {
	lg_dp_stats "$T/m.json" && [ "$(lg_json "$T/m.json" "d['received']")" = "$sent" ]
}
lg_wait_for 20 got_all || lg_fail "received $(lg_json "$T/m.json" "d['received']") of $sent"
lg_stop_linegate

python3 - "$T/stats.json" "$T/sent.json" "$BACKEND" <<'PY'
import json, sys
st = json.load(open(sys.argv[1])); sent = json.load(open(sys.argv[2])); backend = sys.argv[3]
from lgcheck import check, done
d = st["drops"]
lost = {"uring": ["socket_dropped"], "afxdp": ["rx_ring_full", "no_buffer"]}[backend]
xdp = "xdp" in st
check("received", st["received"], sent["sent"] - (sent["unknown_device"] if xdp else 0))
check("received = admitted + dropped", st["admitted"] + st["dropped"], st["received"])
check("dropped = sum of the reasons", sum(d.values()), st["dropped"])
check(f"the kernel dropped some ({' + '.join(lost)} > 0)", sum(d[k] for k in lost) > 0, True)
check("something was admitted", st["admitted"] > 0, True)
check("per-device admitted adds up", sum(x["admitted"] for x in st["devices"]), st["admitted"])
# Frames lost in the kernel may be of any class; the rest are judged by their class.
check("no more admitted than enrolled frames sent", st["admitted"] <= sent["enrolled"], True)
check("unknown + bad tag + lost + admitted covers all",
      st["admitted"] + d["unknown_device"] + d["bad_tag"] + d["replayed"] + d["too_old"] +
      sum(d[k] for k in lost), st["received"])
if xdp:
    x = st["xdp"]
    # not_ours: the netns's own traffic (an ARP or two), not the generator's.
    check("XDP judged every frame sent",
          sum(v for k, v in x.items() if k not in ("audited", "not_ours")), sent["sent"])
    check("XDP dropped the unknown devices", x["unknown_device"], sent["unknown_device"])
    check("XDP admitted = linegate received", x["admitted"], st["received"])
if backend == "afxdp":
    # Issue 10: the fill ring runs dry (no_buffer) only when every UMEM frame waits in the
    # RX ring, less the burst the worker held when it was frozen: the high-water mark of
    # the RX ring says so, and never exceeds its size.
    w = st["workers"][0]
    check("RX ring high-water at most its size", w["rx_ring_high"] <= w["rx_ring_size"], True)
    if d["no_buffer"]:
        check(f"no_buffer only with the RX ring full ({w['rx_ring_high']} of "
              f"{w['rx_ring_size']} waiting, less a burst of 64)",
              w["rx_ring_high"] >= w["rx_ring_size"] - 64, True)
print("drops:", {k: v for k, v in d.items() if v})
done()
PY
