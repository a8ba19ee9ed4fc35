#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fail static across a restart, with real traffic: the admission program is
# pinned under bpffs by one process, which then exits; frames keep their
# verdicts with no process alive; a second process takes the instance over
# and finds the counters of the whole time, exports a sequence through it,
# and finally unpins it (detached, pins gone).
#
# usage: admit_restart.sh TOOL [native|generic]
set -euo pipefail

TOOL=$1
MODE=${2:-native}
HERE=$(cd "$(dirname "$0")" && pwd)
PY="$HERE/admit_e2e.py"

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root for network namespaces, XDP and bpffs"
	exit 77
fi
for c in ip python3 nsenter; do
	command -v $c >/dev/null || { echo "SKIP: $c not installed"; exit 77; }
done

A=lgrst-a-$$
B=lgrst-b-$$
PIN=/sys/fs/bpf/lgadmit-restart-$$
TMP=$(mktemp -d)
MAC_A=02:00:00:00:0a:01
MAC_B=02:00:00:00:0b:01
RECV_PID=
TOOL_PID=
fails=0

cleanup() {
	set +e
	if [ -n "$TOOL_PID" ]; then
		[ -n "${T[1]:-}" ] && echo quit >&"${T[1]}" 2>/dev/null
		wait "$TOOL_PID" 2>/dev/null
	fi
	[ -n "$RECV_PID" ] && kill "$RECV_PID" 2>/dev/null
	# Removing the pins releases program and link (the veth goes with the namespace).
	rm -rf "$PIN"
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

start_tool() { # args for the tool after IFNAME MODE
	# nsenter, not "ip netns exec": that one also gives the process a mount
	# namespace of its own with a fresh /sys, so the pins would land in a
	# bpffs that dies with the process. Here they go to the host's bpffs.
	coproc T { exec nsenter --net=/run/netns/"$B" "$TOOL" b0 "$MODE" "$@"; }
	TOOL_PID=$!
	if ! read -r -t 20 -u "${T[0]}" word gen || [ "$word" != ready ]; then
		echo "FAIL: admission tool did not come up"
		exit 1
	fi
	echo "tool up: generation $gen"
}

ask() {
	echo "$*" >&"${T[1]}"
	read -r -t 10 -u "${T[0]}" reply
	echo "$reply"
}

declare -A FR
read_counters() {
	local w name f a
	echo counters >&"${T[1]}"
	while read -r -t 10 -u "${T[0]}" w name f a && [ "$w" = reason ]; do
		FR[$name]=$f
	done
}

quit_tool() {
	echo quit >&"${T[1]}"
	wait "$TOOL_PID" || fail "tool exit"
	TOOL_PID=
}

send() {
	ip netns exec "$A" python3 "$PY" send a0 $MAC_B 10.77.0.2 "$@"
}

attached() {
	ip -n "$B" link show b0 | grep -q "xdp"
}

ip netns exec "$B" python3 "$PY" recv 4739 4741 "$TMP/recv.txt" >"$TMP/recv.log" &
RECV_PID=$!
for _ in $(seq 100); do
	grep -q listening "$TMP/recv.log" 2>/dev/null && break
	sleep 0.05
done

# First life.
start_tool --pin="$PIN" --not-ours=pass "id=1,mac=$MAC_A,ip=10.77.0.1,port=40001"
send 1 1 10 --sport 40001
send 99 1 5 --sport 40001
read_counters
[ "${FR[admitted]}" = 10 ] && [ "${FR[unknown_device]}" = 5 ] ||
	fail "first life: admitted ${FR[admitted]} unknown ${FR[unknown_device]}, want 10 5"
quit_tool

# No process: the pinned program keeps admitting and dropping.
attached || fail "program detached when its process exited"
[ -e "$PIN/prog" ] || fail "pins gone with the process"
send 1 11 10 --sport 40001
send 99 6 5 --sport 40001

# Second life: the same instance, counters of the whole time.
start_tool --reopen="$PIN"
[ "$gen" = 1 ] || fail "reopened generation $gen, want 1"
read_counters
[ "${FR[admitted]}" = 20 ] && [ "${FR[unknown_device]}" = 10 ] ||
	fail "after restart: admitted ${FR[admitted]} unknown ${FR[unknown_device]}, want 20 10"
[ "$(ask device 1)" = "device 1 20 0 0" ] || fail "device 1 counters after restart"
[ "$(ask export 1 100)" = ok ] || fail "export through the reopened handle"
send 1 50 3 --sport 40001
read_counters
[ "${FR[replayed]}" = 3 ] ||
	fail "replayed ${FR[replayed]}, want 3 (sequence exported after reopen)"
[ "$(ask unpin)" = ok ] || fail "unpin"
quit_tool
attached && fail "still attached after unpin"
[ -e "$PIN" ] && fail "pin directory left after unpin"

ip netns exec "$A" python3 -c 'import socket
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"stop", ("10.77.0.2", 4741))'
wait "$RECV_PID" || fail "receiver"
RECV_PID=
declare -A GOT
while read -r id n; do GOT[$id]=$n; done <"$TMP/recv.txt"
echo "received: device 1 ${GOT[1]:-0}, device 99 ${GOT[99]:-0}"
[ "${GOT[1]:-0}" = 20 ] || fail "received ${GOT[1]:-0} frames of device 1, want 20"
[ "${GOT[99]:-0}" = 0 ] || fail "received ${GOT[99]:-0} frames of unknown device 99"

[ "$fails" -eq 0 ] && echo "PASS ($MODE)"
exit $((fails ? 1 : 0))
