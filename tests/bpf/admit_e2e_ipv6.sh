#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# End to end, IPv6 extension headers: the admission program on the receiving
# end of a veth pair (native or generic XDP), with not_ours: pass or drop.
# MLD (ICMPv6 behind a Hop-by-Hop header) must reach the interface with
# pass and not with drop; LGF behind Hop-by-Hop from the
# enrolled device is admitted either way, from an unknown id dropped, and
# UDP behind a Fragment header dropped as fragment (the policy's fragments: drop). A packet socket on the
# receiving interface sees what the program passed (the stack's IPv6 stays
# off: the counters must only see the frames sent here).
#
# usage: admit_e2e_ipv6.sh TOOL native|generic pass|drop
set -euo pipefail

TOOL=$1
MODE=${2:-native}
POLICY=${3:-pass}
HERE=$(cd "$(dirname "$0")" && pwd)
PY="$HERE/admit_e2e_ipv6.py"
N=5

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root for network namespaces and XDP"
	exit 77
fi
for c in ip python3; do
	command -v $c >/dev/null || { echo "SKIP: $c not installed"; exit 77; }
done

A=lgadm6-a-$$
B=lgadm6-b-$$
TMP=$(mktemp -d)
MAC_A=02:00:00:00:0a:01
MAC_B=02:00:00:00:0b:01
SNIFF_PID=
fails=0

stop_tool() {
	if [ -n "${TOOL_JOB:-}" ]; then
		echo quit >&"${TOOL[1]}" 2>/dev/null
		wait "$TOOL_JOB" 2>/dev/null || fail "tool exit"
		TOOL_JOB=
	fi
}

cleanup() {
	set +e
	stop_tool
	[ -n "$SNIFF_PID" ] && kill "$SNIFF_PID" 2>/dev/null
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

declare -A FR SEEN
run() { # not_ours policy
	local policy=$1 w name f k n
	coproc TOOL { exec ip netns exec "$B" "$TOOL" b0 "$MODE" --not-ours="$policy" \
		"id=6,mac=$MAC_A,ip=fd00::1,port=40006"; }
	TOOL_JOB=$!
	if ! read -r -t 20 -u "${TOOL[0]}" w _ || [ "$w" != ready ]; then
		echo "FAIL: admission tool did not come up (${w:-nothing})"
		exit 1
	fi
	ip netns exec "$B" python3 "$PY" sniff b0 "$TMP/sniff.txt" >"$TMP/sniff.log" &
	SNIFF_PID=$!
	for _ in $(seq 100); do
		grep -q listening "$TMP/sniff.log" 2>/dev/null && break
		sleep 0.05
	done
	for k in mld lgf unknown frag; do
		ip netns exec "$A" python3 "$PY" send a0 $MAC_B $k $N
	done
	sleep 0.3
	kill -TERM "$SNIFF_PID"
	wait "$SNIFF_PID" || fail "sniffer"
	SNIFF_PID=
	SEEN=()
	while read -r k n; do SEEN[$k]=$n; done <"$TMP/sniff.txt"
	FR=()
	echo counters >&"${TOOL[1]}"
	while read -r -t 10 -u "${TOOL[0]}" w name f _ && [ "$w" = reason ]; do
		FR[$name]=$f
	done
	stop_tool
	echo "not_ours $policy: passed mld=${SEEN[mld]:-0} lgf=${SEEN[lgf]:-0}" \
		"unknown=${SEEN[unknown]:-0} frag=${SEEN[frag]:-0} other=${SEEN[other]:-0};" \
		"counted admitted=${FR[admitted]} unknown_device=${FR[unknown_device]}" \
		"malformed=${FR[malformed]} fragment=${FR[fragment]} not_ours=${FR[not_ours]}"
}

expect() { # name got want
	[ "$2" = "$3" ] || fail "$1 is $2, want $3"
}

run "$POLICY"
want_mld=0
[ "$POLICY" = pass ] && want_mld=$N
expect "MLD passed" "${SEEN[mld]:-0}" $want_mld
expect "LGF behind HBH passed" "${SEEN[lgf]:-0}" $N
expect "unknown LGF behind HBH passed" "${SEEN[unknown]:-0}" 0
expect "UDP fragments passed" "${SEEN[frag]:-0}" 0
expect ADMITTED "${FR[admitted]}" $N
expect UNKNOWN_DEVICE "${FR[unknown_device]}" $N
expect MALFORMED "${FR[malformed]}" 0
expect FRAGMENT "${FR[fragment]}" $N
expect NOT_OURS "${FR[not_ours]}" $N

[ "$fails" -eq 0 ] && echo "PASS ($MODE, not_ours $POLICY)"
exit $((fails ? 1 : 0))
