#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# End to end: two network namespaces joined by a veth pair, the admission
# program attached to the receiving end (native or generic XDP), frames from
# enrolled, unknown, spoofed, malformed, replaying, flooding and audited
# senders. Checks every reason counter and that only admitted (and audited)
# frames reach the UDP socket behind the program, or with an -xsk mode, the
# AF_XDP socket in the program's XSKMAP (and then nothing LGF reaches UDP).
#
# usage: admit_e2e.sh TOOL native|generic|native-xsk|generic-xsk
set -euo pipefail

TOOL=$1
MODE=${2:-native}
XDP_MODE=${MODE%-xsk}
XSK=
[ "$MODE" != "$XDP_MODE" ] && XSK=--xsk
HERE=$(cd "$(dirname "$0")" && pwd)
PY="$HERE/admit_e2e.py"

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root for network namespaces and XDP"
	exit 77
fi
for c in ip python3 ping; do
	command -v $c >/dev/null || { echo "SKIP: $c not installed"; exit 77; }
done

A=lgadm-a-$$
B=lgadm-b-$$
TMP=$(mktemp -d)
MAC_A=02:00:00:00:0a:01
MAC_B=02:00:00:00:0b:01
RECV_PID=
fails=0

cleanup() {
	set +e
	if [ -n "${TOOL_JOB:-}" ]; then
		echo quit >&"${TOOL[1]}" 2>/dev/null
		wait "$TOOL_JOB" 2>/dev/null
	fi
	[ -n "$RECV_PID" ] && kill "$RECV_PID" 2>/dev/null
	ip netns del "$A" 2>/dev/null
	ip netns del "$B" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

source "$HERE/veth_pair.sh"
veth_pair

coproc TOOL { exec ip netns exec "$B" "$TOOL" b0 "$XDP_MODE" --not-ours=pass $XSK \
	"id=1,mac=$MAC_A,ip=10.77.0.1,port=40001" \
	"id=2,mac=$MAC_A,ip=10.77.0.1,port=40002,rate=5,burst=10" \
	"id=3,mac=$MAC_A,ip=10.77.0.1,port=40003,audit"; }
TOOL_JOB=$!
if ! read -r -t 20 -u "${TOOL[0]}" word gen || [ "$word" != ready ]; then
	wait "$TOOL_JOB" && rc=0 || rc=$?
	TOOL_JOB=
	if [ "$rc" = 77 ]; then
		echo "SKIP: $MODE not available in this build"
		exit 77
	fi
	echo "FAIL: admission tool did not come up (${word:-nothing})"
	exit 1
fi
echo "attached ($MODE), generation $gen"
ip -n "$B" link show b0 | grep -q "xdp" || fail "no XDP program on b0"

ask() {
	echo "$*" >&"${TOOL[1]}"
	read -r -t 10 -u "${TOOL[0]}" reply
	echo "$reply"
}

declare -A FR AU
read_counters() {
	local w name f a
	echo counters >&"${TOOL[1]}"
	while read -r -t 10 -u "${TOOL[0]}" w name f a && [ "$w" = reason ]; do
		FR[$name]=$f
		AU[$name]=$a
	done
}

ip netns exec "$B" python3 "$PY" recv 4739 4741 "$TMP/recv.txt" >"$TMP/recv.log" &
RECV_PID=$!
for _ in $(seq 100); do
	grep -q listening "$TMP/recv.log" 2>/dev/null && break
	sleep 0.05
done

send() {
	ip netns exec "$A" python3 "$PY" send a0 $MAC_B 10.77.0.2 "$@"
}

send 1 1 20 --sport 40001                           # enrolled
send 99 1 10 --sport 40001                          # unknown device
send 1 100 10 --sport 40001 --smac 02:00:00:00:0a:66 # spoofed MAC
send 1 200 5 --sport 40009                          # spoofed port
send 1 300 5 --sport 40001 --sip 10.77.0.9          # spoofed IP
send 1 400 5 --sport 40001 --magic 4c48             # malformed LGF
send 1 600 6 --sport 40001 --bad-ipcsum             # bad IPv4 header checksum
[ "$(ask export 1 1000)" = ok ] || fail "export"
send 1 500 3 --sport 40001                          # replayed
send 1 1001 2 --sport 40001                         # enrolled again
t0=$(date +%s%N)
send 2 1 200 --sport 40002                          # flood: 5/s, burst 10
t1=$(date +%s%N)
send 3 1 4 --sport 40003 --smac 02:00:00:00:0a:77   # audit group: spoofed, let through
ip netns exec "$A" ping -q -c 2 -i 0.2 -W 2 10.77.0.2 >/dev/null || fail "ping did not pass (not-ours policy pass)"
ip netns exec "$A" python3 -c \
	'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"stop", ("10.77.0.2", 4741))'
wait "$RECV_PID" || fail "receiver"
RECV_PID=

declare -A GOT UDP
while read -r id n; do UDP[$id]=$n; done <"$TMP/recv.txt"
echo "UDP socket per device: 1=${UDP[1]:-0} 2=${UDP[2]:-0} 3=${UDP[3]:-0} 99=${UDP[99]:-0}"
if [ -n "$XSK" ]; then
	# Admitted frames went to the AF_XDP socket; none may reach the stack.
	read -r -a xr <<<"$(ask xsk)"
	echo "AF_XDP socket: ${xr[*]}"
	xsk_total=${xr[1]}
	for kv in "${xr[@]:2}"; do GOT[${kv%%=*}]=${kv#*=}; done
	for id in "${!UDP[@]}"; do fail "device $id reached the UDP socket ${UDP[$id]} times"; done
else
	for id in "${!UDP[@]}"; do GOT[$id]=${UDP[$id]}; done
fi
read_counters
read -r _ _ d2_adm d2_drop _ <<<"$(ask device 2)"
[ -z "$XSK" ] || [ "$xsk_total" = $((22 + d2_adm + 4)) ] ||
	fail "AF_XDP socket got $xsk_total frames, want $((22 + d2_adm + 4))"

echo "received per device: 1=${GOT[1]:-0} 2=${GOT[2]:-0} 3=${GOT[3]:-0} 99=${GOT[99]:-0}"
for r in admitted unknown_device spoofed_source rate_limited replayed malformed not_ours audit no_table state_full bad_checksum; do
	echo "counter $r frames ${FR[$r]} audited ${AU[$r]}"
done

# The flood may earn one token per 200 ms while it is being sent.
max2=$((10 + (t1 - t0) * 5 / 1000000000 + 1))
[ "$d2_adm" -ge 10 ] && [ "$d2_adm" -le "$max2" ] || fail "flood admitted $d2_adm, want 10..$max2"
[ "$d2_drop" -eq $((200 - d2_adm)) ] || fail "flood dropped $d2_drop, want $((200 - d2_adm))"

expect() { # name got want
	[ "$2" = "$3" ] || fail "$1 is $2, want $3"
}
expect "received from device 1" "${GOT[1]:-0}" 22
expect "received from device 2" "${GOT[2]:-0}" "$d2_adm"
expect "received from device 3 (audit)" "${GOT[3]:-0}" 4
expect "received from device 99" "${GOT[99]:-0}" 0
expect ADMITTED "${FR[admitted]}" $((22 + d2_adm))
expect UNKNOWN_DEVICE "${FR[unknown_device]}" 10
expect SPOOFED_SOURCE "${FR[spoofed_source]}" 20
expect RATE_LIMITED "${FR[rate_limited]}" $((200 - d2_adm))
expect REPLAYED "${FR[replayed]}" 3
expect MALFORMED "${FR[malformed]}" 5
# dropped by XDP and counted, not admitted for the kernel to drop uncounted (trial U, s24)
expect BAD_CHECKSUM "${FR[bad_checksum]:-}" 6
expect AUDIT "${FR[audit]}" 4
expect "audited as SPOOFED_SOURCE" "${AU[spoofed_source]}" 4
expect NO_TABLE "${FR[no_table]}" 0
expect STATE_FULL "${FR[state_full]}" 0
# Two echo requests and the stop datagram at least; nothing else is exact.
[ "${FR[not_ours]}" -ge 3 ] || fail "NOT_OURS is ${FR[not_ours]}, want >= 3"
expect "device 1" "$(ask device 1)" "device 1 22 23 0"
expect "device 3" "$(ask device 3)" "device 3 0 0 4"
expect "device 99" "$(ask device 99)" "device 99 none"

echo quit >&"${TOOL[1]}"
wait "$TOOL_JOB" || fail "tool exit"
TOOL_JOB=
ip -n "$B" link show b0 | grep -q "xdp" && fail "XDP program still attached after quit"

[ "$fails" -eq 0 ] && echo "PASS ($MODE)"
exit $((fails ? 1 : 0))
