#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Admission under a flood, end to end on veth: how many frames per second the
# XDP program drops while an enrolled device keeps sending, and proof that
# none of the enrolled device's frames was lost.
#
# Two network namespaces joined by a veth pair; the admission program in
# native XDP on the receiving end (through tests/bpf/admit_e2e_tool). From
# the sending namespace, bench/admit_flood_send floods LGF frames with
# unknown device ids as fast as its socket takes them, while a second one
# sends as the enrolled device at a modest rate. A UDP socket behind the
# program counts what arrives per device.
#
# usage: admit_flood.sh BUILD_DIR [SECONDS] [LEGIT_RATE] [QUEUES] [raw|udp]
#   SECONDS of flood (5), LEGIT_RATE frames/s of the enrolled device (1000),
#   QUEUES veth queues (1). With 2 queues the flood and the enrolled device
#   are sent from different CPUs onto different queues (XPS), as RSS would
#   spread them on a NIC. The flood goes out through a packet socket that
#   bypasses the qdisc (raw, the default: the most one core can send) or a
#   UDP socket (udp); the enrolled device always sends through UDP.
# Prints a summary and one JSON line; exits 1 if an enrolled frame was lost,
# 77 when it cannot run here (not root, tools missing).
set -euo pipefail

BUILD=$(cd "${1:?usage: $0 BUILD_DIR [SECONDS] [LEGIT_RATE] [QUEUES]}" && pwd)
SECONDS_=${2:-5}
LEGIT_RATE=${3:-1000}
QUEUES=${4:-1}
FLOOD_MODE=${5:-raw}
HERE=$(cd "$(dirname "$0")" && pwd)
TOOL=$BUILD/tests/bpf/admit_e2e_tool
SEND=$BUILD/bench/admit_flood_send
PY=$HERE/../tests/bpf/admit_e2e.py

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root for network namespaces and XDP"
	exit 77
fi
for c in ip python3 "$TOOL" "$SEND"; do
	command -v "$c" >/dev/null || { echo "SKIP: $c not found"; exit 77; }
done

A=lgflood-a-$$
B=lgflood-b-$$
TMP=$(mktemp -d)
MAC_A=02:00:00:00:0a:01
MAC_B=02:00:00:00:0b:01
RECV_PID=
TOOL_PID=
SEND_PIDS=

cleanup() {
	set +e
	for p in $SEND_PIDS; do kill "$p" 2>/dev/null; done
	if [ -n "$TOOL_PID" ]; then
		echo quit >&"${TOOLP[1]}" 2>/dev/null
		wait "$TOOL_PID" 2>/dev/null
	fi
	[ -n "$RECV_PID" ] && kill "$RECV_PID" 2>/dev/null
	ip netns del "$A" 2>/dev/null
	ip netns del "$B" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

source "$HERE/../tests/bpf/veth_pair.sh"
veth_pair "$QUEUES"
NCPU=$(nproc)
FLOOD_CPU=0
LEGIT_CPU=$((NCPU > 1 ? 1 : 0))
if [ "$QUEUES" -gt 1 ]; then
	# Flood CPU -> queue 0, enrolled device's CPU -> queue 1.
	Q=/sys/class/net/a0/queues
	ip netns exec "$A" sh -c "echo $(printf %x $((1 << FLOOD_CPU))) > $Q/tx-0/xps_cpus"
	ip netns exec "$A" sh -c "echo $(printf %x $((1 << LEGIT_CPU))) > $Q/tx-1/xps_cpus"
fi

coproc TOOLP { exec ip netns exec "$B" "$TOOL" b0 native --not-ours=pass \
	"id=1,mac=$MAC_A,ip=10.77.0.1,port=40001"; }
TOOL_PID=$!
if ! read -r -t 20 -u "${TOOLP[0]}" word _ || [ "$word" != ready ]; then
	echo "FAIL: admission tool did not come up"
	exit 1
fi

declare -A FR
read_counters() {
	local w name f a
	echo counters >&"${TOOLP[1]}"
	while read -r -t 10 -u "${TOOLP[0]}" w name f a && [ "$w" = reason ]; do
		FR[$name]=$f
	done
}

ip netns exec "$B" python3 "$PY" recv 4739 4741 "$TMP/recv.txt" >"$TMP/recv.log" &
RECV_PID=$!
for _ in $(seq 100); do
	grep -q listening "$TMP/recv.log" 2>/dev/null && break
	sleep 0.05
done

read_counters
unknown0=${FR[unknown_device]}
t0=$(date +%s%N)
ip netns exec "$A" taskset -c $LEGIT_CPU \
	"$SEND" 10.77.0.2 4739 40001 1 1 "$LEGIT_RATE" "$SECONDS_" >"$TMP/legit.txt" &
LEGIT_PID=$!
RAW=()
[ "$FLOOD_MODE" = raw ] && RAW=(--raw a0 $MAC_B 10.77.0.1)
ip netns exec "$A" taskset -c $FLOOD_CPU "$SEND" "${RAW[@]}" 10.77.0.2 4739 40009 1000 100000 0 \
	"$SECONDS_" >"$TMP/flood.txt" &
FLOOD_PID=$!
SEND_PIDS="$LEGIT_PID $FLOOD_PID"
wait "$FLOOD_PID"
wait "$LEGIT_PID"
SEND_PIDS=
t1=$(date +%s%N)
sleep 0.2
read_counters
ip netns exec "$A" python3 -c 'import socket
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"stop", ("10.77.0.2", 4741))'
wait "$RECV_PID" || true
RECV_PID=

read -r _ flood_sent _ flood_err _ flood_s _ flood_rate <"$TMP/flood.txt"
read -r _ legit_sent _ legit_err _ _ _ _ <"$TMP/legit.txt"
legit_recv=$(awk '$1 == 1 { print $2 }' "$TMP/recv.txt")
legit_recv=${legit_recv:-0}
others=$(awk '$1 != 1 { n += $2 } END { print n + 0 }' "$TMP/recv.txt")
echo device 1 >&"${TOOLP[1]}"
read -r -t 10 -u "${TOOLP[0]}" _ _ d1_adm d1_drop _
dropped=$((FR[unknown_device] - unknown0))
# Frames the veth could not hand to the receiving queue (ring full) never reached XDP.
veth_drops=$(ip -n "$A" -s link show a0 | awk '/TX:/ { getline; print $4; exit }')
xdp_rate=$(awk -v n="$dropped" -v s="$flood_s" 'BEGIN { printf "%.0f", n / s }')

echo "flood:    ($FLOOD_MODE) sent $flood_sent in ${flood_s}s ($flood_rate/s)," \
	"send errors $flood_err"
echo "XDP:      dropped $dropped unknown-id frames = $xdp_rate/s;" \
	"veth TX drops $veth_drops"
echo "enrolled: sent $legit_sent (send errors $legit_err), admitted $d1_adm, dropped $d1_drop," \
	"received $legit_recv"
echo "unknown ids that reached the socket: $others"
printf '{"bench":"admit_flood","mode":"%s","queues":%d,"seconds":%s,"flood_sent":%d,' \
	"$FLOOD_MODE" "$QUEUES" "$flood_s" "$flood_sent"
printf '"flood_rate":%s,' "$flood_rate"
printf '"xdp_dropped":%d,"xdp_drop_rate":%s,"veth_tx_drops":%d,"legit_sent":%d,' \
	"$dropped" "$xdp_rate" "${veth_drops:-0}" "$legit_sent"
printf '"legit_admitted":%d,"legit_received":%d,"unknown_received":%d}\n' \
	"$d1_adm" "$legit_recv" "$others"

ok=1
bad() {
	echo "FAIL: $*"
	ok=0
}
[ "$legit_err" -eq 0 ] || bad "the enrolled sender could not send $legit_err frames"
[ "$d1_adm" -eq "$legit_sent" ] || bad "admitted $d1_adm of $legit_sent enrolled frames"
[ "$legit_recv" -eq "$legit_sent" ] || bad "received $legit_recv of $legit_sent enrolled frames"
[ "$others" -eq 0 ] || bad "$others unknown-id frames reached the socket"
[ "$ok" -eq 1 ] && echo "PASS: no enrolled frame lost"
exit $((ok ? 0 : 1))
