#!/usr/bin/env bash
# Under `ip netns exec` linegate runs in a mount namespace of its own, whose /sys (and the
# bpffs linegate mounts there for its pins) goes with the process: the start line must not
# promise "kept on exit" (trial D, M6), and indeed nothing is left after the exit. Under
# nsenter (the host's mount namespace) it is kept, and says so.
source "$(dirname "$0")/lib.sh"
lg_need_root
command -v nsenter >/dev/null || lg_skip "nsenter (util-linux) is not installed"
lg_tmp
lg_netns_up "lgnp$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"

lg_start_linegate_xdp generic -B $SRV_IP -x lg0:generic -b uring
lg_wait_for 5 grep -q "XDP: pinned in" "$T/dp.err" || lg_fail "no pin line: $(cat "$T/dp.err")"
grep -q "XDP: pinned in .*(not kept on exit: linegate runs in a mount namespace of its own (ip netns exec?).*nsenter --net=" "$T/dp.err" ||
	lg_fail "ip netns exec: the start line does not say the pins go: $(grep XDP "$T/dp.err")"
grep -q "kept on exit; --xdp-unpin" "$T/dp.err" && lg_fail "ip netns exec: promises the pins stay"
kill -KILL $DP_PID; wait $DP_PID 2>/dev/null || true
LG_PIDS=""
# What it said: after the process, no program on lg0 (the pinned link went with the bpffs).
lg_wait_for 5 sh -c "! ip -n $NS_SRV -d link show lg0 | grep -q 'prog/xdp'" ||
	lg_fail "XDP is still attached after a kill under ip netns exec: $(ip -n $NS_SRV -d link show lg0)"

stop_ns() {
	# its signal handlers are in place once the control socket is
	lg_wait_for 10 test -S "$T/dp.sock" || lg_fail "linegate did not start: $(tail -3 "$T"/ns*.err)"
	kill -INT $DP_PID
	wait $DP_PID || lg_fail "linegate exited with status $?: $(tail -3 "$T"/ns*.err)"
	LG_PIDS=""
}
# nsenter keeps the host's mount namespace (and its bpffs): kept, and said so.
lg_bpffs
rm -f "$T/dp.sock"
nsenter --net=/var/run/netns/$NS_SRV "$LG_BIN_DP" -p "$T/policy.yaml" -B $SRV_IP \
	-c "$T/dp.sock" -o /dev/null -x lg0:generic -b uring --xdp-unpin 2> "$T/ns.err" &
DP_PID=$!
LG_PIDS="$DP_PID"
lg_wait_for 5 grep -q "XDP: pinned in" "$T/ns.err" || lg_fail "nsenter: no pin line: $(cat "$T/ns.err")"
grep -q "(detached and removed on exit: --xdp-unpin)" "$T/ns.err" ||
	lg_fail "nsenter --xdp-unpin: $(grep XDP "$T/ns.err")"
stop_ns
rm -f "$T/dp.sock"
nsenter --net=/var/run/netns/$NS_SRV "$LG_BIN_DP" -p "$T/policy.yaml" -B $SRV_IP \
	-c "$T/dp.sock" -o /dev/null -x lg0:generic -b uring 2> "$T/ns2.err" &
DP_PID=$!
LG_PIDS="$DP_PID"
lg_wait_for 5 grep -q "XDP: pinned in" "$T/ns2.err" || lg_fail "nsenter: no pin line: $(cat "$T/ns2.err")"
grep -q "(kept on exit; --xdp-unpin removes it)" "$T/ns2.err" ||
	lg_fail "nsenter: $(grep XDP "$T/ns2.err")"
stop_ns
# Kept indeed; remove it as operations.md says.
PIN=$(sed -n 's/.*XDP: pinned in \([^ ]*\) .*/\1/p' "$T/ns2.err")
[ -e "$PIN" ] || lg_fail "the pins in $PIN are gone after the stop"
ip -n $NS_SRV link set dev lg0 xdpgeneric off 2>/dev/null || true
rm -rf "$PIN"
rmdir "$(dirname "$PIN")" 2>/dev/null || true
echo PASS
