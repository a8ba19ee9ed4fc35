#!/usr/bin/env bash
# The dpdk backend live on a veth: a net_af_xdp vdev (--no-huge) on the server's side of
# the simulated line, the project's sender on the other. Every frame the sender sent is
# accounted for exactly: judged by user-space admission, or lost in the port (imissed,
# rx_nombuf) and counted under rx_ring_full / no_buffer.
#   normal:   a paced run, nothing lost; the same verdicts as the pcap replay.
#   policy:   as normal, with the EAL, port and worker options from the policy's backend
#             section instead of --backend (docs/operations.md, "Backends from the policy").
#   overload: a small RX ring, and linegate stopped (SIGSTOP) while the sender sends at full
#             speed, as a worker that falls behind: the ring overflows, frames are lost in
#             the port, and sent = admission's verdicts + port losses still holds (the
#             backend adds the XSK ring-full drops net_af_xdp leaves out of imissed).
#   tap_overload: the same on net_tap (the kernel side, lgtap0, takes what the server's
#             namespace forwards to 10.78.0.2): what the kernel could not queue to the tap
#             while linegate was stopped is lgtap0's tx_dropped, which the PMD never sees;
#             the backend counts it as rx_ring_full (trial U, s24: 20% lost uncounted).
source "$(dirname "$0")/lib.sh"
# DPDK's own leak on close (dpdk-lsan.supp), under ASan builds only.
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$LG_SOURCE/tests/e2e/dpdk-lsan.supp"
MODE=${1:-normal}
"$LG_BIN_DP" --help | grep '^  dpdk:' >/dev/null || lg_skip "linegate was built without DPDK (-Ddpdk)"
lg_need_root
lg_tmp
lg_netns_up "lgdl$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
# DPDK takes every frame off lg0, ARP too: the line knows the server's MAC beforehand.
SRV_MAC=$(ip -n "$NS_SRV" -j link show lg0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
ip -n "$NS_LINE" neigh replace $SRV_IP lladdr "$SRV_MAC" dev lg1 nud permanent

VDEV="vdev=net_af_xdp0;iface=lg0;start_queue=0;queue_count=1"
DST=$SRV_IP
if [ "$MODE" = tap_overload ]; then
	[ -c /dev/net/tun ] || lg_skip "no /dev/net/tun: net_tap needs it"
	# as tests/e2e/reorder.sh dpdk_tap: the line reaches 10.78.0.2 through the server's
	# namespace, which forwards it into the tap (a fixed neighbour: no ARP)
	DST=10.78.0.2
	ip netns exec "$NS_SRV" sysctl -qw net.ipv4.ip_forward=1
	ip -n "$NS_LINE" route add 10.78.0.0/24 via $SRV_IP
	OPTS="nohuge,mem=256,sleep=50,vdev=net_tap0;iface=lgtap0"
	FRAMES=500 RATE=4000 NOT_OURS=0
	GEN_EXTRA=()
elif [ "$MODE" = overload ]; then
	OPTS="nohuge,mem=256,mbufs=${MBUFS:-4095},rxd=${RXD:-256},burst=4,$VDEV"
	FRAMES=3000 RATE=0 NOT_OURS=0
	GEN_EXTRA=()
else
	OPTS="nohuge,mem=256,sleep=50,$VDEV"
	FRAMES=300 RATE=3000 NOT_OURS=25
	GEN_EXTRA=(--unknown 100 --bad-tag 20 --replay 20 --malformed 20 --spoof 30
		--spoof-from $SPOOF_IP --uadp)
fi
BACKEND=(-b "dpdk:$OPTS")
if [ "$MODE" = policy ]; then
	cat >> "$T/policy.yaml" <<EOF
backend:
  name: dpdk
  workers: 1
  dpdk:
    hugepages: false
    memory_mb: 256
    poll_sleep_us: 50
    vdevs: ["net_af_xdp0,iface=lg0,start_queue=0,queue_count=1"]
    eal_args: [--log-level=lib.eal:5]
EOF
	BACKEND=()
fi
ip netns exec "$NS_SRV" "$LG_BIN_DP" -p "$T/policy.yaml" -c "$T/dp.sock" \
	-o "$T/out.jsonl" -s "$T/stats.json" "${BACKEND[@]}" 2> "$T/dp.err" &
DP_PID=$!
LG_PIDS="$DP_PID"
if ! lg_wait_for 20 test -S "$T/dp.sock"; then
	cat "$T/dp.err"
	grep -q "Failed to create xsk socket" "$T/dp.err" &&
		lg_skip "net_af_xdp cannot bind to a veth here"
	lg_fail "linegate did not start"
fi
if [ "$MODE" = tap_overload ]; then
	ip -n "$NS_SRV" addr add 10.78.0.1/24 dev lgtap0
	ip -n "$NS_SRV" link set lgtap0 up
	ip -n "$NS_SRV" neigh replace $DST lladdr 02:00:00:00:00:02 dev lgtap0 nud permanent
fi
[[ $MODE == *overload ]] && kill -STOP $DP_PID
# (the start line comes after the control socket: wait for it)
if [ "$MODE" = policy ] &&
	! lg_wait_for 10 grep -q "1 worker(s), dpdk backend (from the policy)" "$T/dp.err"; then
	cat "$T/dp.err"
	lg_fail "the start line does not say the policy chose the dpdk backend"
fi
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $DST -S $LINE_IP \
	-n $FRAMES -r $RATE --samples 256 "${GEN_EXTRA[@]}" -j "$T/sent.json" -q
# UDP to another port: not ours, counted once (admission's not_ours; the policy says pass,
# and DPDK has no kernel stack to pass them to)
[ $NOT_OURS -eq 0 ] || lg_send_not_ours $NOT_OURS
[[ $MODE == *overload ]] && kill -CONT $DP_PID
if [ "$MODE" = tap_overload ]; then
	# (ip netns exec: the namespace's own /sys)
	TAP_DROPPED=$(ip netns exec "$NS_SRV" cat /sys/class/net/lgtap0/statistics/tx_dropped)
	export TAP_DROPPED
fi
sleep 1
kill -INT $DP_PID
wait $DP_PID || { rc=$?; cat "$T/dp.err"; lg_fail "linegate exited with status $rc"; }
LG_PIDS=""
cat "$T/dp.err" | grep -v "^linegate:   " >&2 || true

python3 - "$T/stats.json" "$T/sent.json" "$MODE" $FRAMES $NOT_OURS <<'PY'
import json, sys
st, s = (json.load(open(f)) for f in sys.argv[1:3])
mode, frames, not_ours = sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
a, d = st["admission"], st["drops"]
from lgcheck import check, done
lost = d["rx_ring_full"] + d["no_buffer"] + d["rx_error"]
check("sent (+ not ours) = admission's verdicts + port losses", a["judged"] + lost,
      s["sent"] + not_ours)
check("admission not_ours", a["not_ours"], not_ours)
check("workers not_ours (admission counted them)", d["not_ours"], 0)
check("every frame once: sent = admitted + admission's drops + workers' drops",
      s["sent"] + not_ours, st["admitted"] + (a["judged"] - a["admitted"]) + sum(d.values()))
check("received = admitted + dropped", st["received"], st["admitted"] + st["dropped"])
check("dropped = sum of reasons", st["dropped"], sum(d.values()))
check("workers received = admission passed + port losses",
      st["received"], a["admitted"] + lost)
if mode.endswith("overload"):
    print(f"port losses: {lost} of {s['sent']} "
          f"(rx_ring_full {d['rx_ring_full']}, no_buffer {d['no_buffer']})")
    check("frames were lost in the port", lost > 0, True)
    if mode == "tap_overload":
        tap = int(__import__("os").environ["TAP_DROPPED"])
        print(f"lgtap0 tx_dropped {tap}")
        check("the tap's kernel side dropped frames", tap > 0, True)
        check("rx_ring_full holds the tap's tx_dropped", d["rx_ring_full"] >= tap, True)
    check("admission admitted every frame that reached it", a["admitted"], a["judged"])
    check("workers admitted every frame they got", st["admitted"], a["admitted"])
    dev = {v["id"]: v for v in st["devices"]}
    check("per-device admitted adds up", sum(v["admitted"] for v in dev.values()),
          st["admitted"])
else:
    half = s["malformed"] // 2
    check("no port losses", lost, 0)
    check("admission unknown_device", a["unknown_device"], s["unknown_device"])
    check("admission spoofed_source", a["spoofed_source"], s["spoofed"])
    check("admission malformed", a["malformed"], half)
    passed = s["enrolled"] + s["bad_tag"] + s["replayed"] + (s["malformed"] - half)
    check("admission admitted", a["admitted"], passed)
    check("workers admitted", st["admitted"], s["enrolled"])
    check("workers bad_length", d["bad_length"], s["malformed"] - half)
    check("workers bad_tag", d["bad_tag"], s["bad_tag"])
    check("workers replayed", d["replayed"], s["replayed"])
    dev = {v["id"]: v for v in st["devices"]}
    for i in range(101, 109):
        check(f"device {i} admitted", dev[i]["admitted"], frames)
    for i in range(101, 107):
        check(f"device {i} windows", dev[i]["windows"], frames)
done()
PY
echo PASS
