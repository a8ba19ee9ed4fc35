#!/usr/bin/env bash
# A foreign XDP program on the interface (issue 11): linegate never replaces a program that
# is not its own; it refuses to start, naming the program (id and name) and the command that
# removes it, and leaves it attached. After that command, linegate starts.
source "$(dirname "$0")/lib.sh"
lg_need_root
command -v clang >/dev/null || lg_skip "clang is not installed (it builds the foreign program)"
lg_tmp
lg_netns_up "lgxf$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
cat > "$T/foreign.bpf.c" <<'C'
#include <linux/bpf.h>
__attribute__((section("xdp"), used)) int foreign_pass(struct xdp_md *ctx) { return XDP_PASS; }
char LICENSE[] __attribute__((section("license"), used)) = "MIT";
C
clang -O2 -g -target bpf -I/usr/include/$(uname -m)-linux-gnu -c "$T/foreign.bpf.c" -o "$T/foreign.bpf.o"
ip -n "$NS_SRV" link set dev lg0 xdpgeneric obj "$T/foreign.bpf.o" sec xdp ||
	lg_skip "ip cannot load an XDP object here"
id=$(ip -n "$NS_SRV" -d link show lg0 | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p' | head -1)
[ -n "$id" ] || lg_fail "the foreign program is not attached"

rc=0
ip netns exec "$NS_SRV" "$LG_BIN_DP" -p "$T/policy.yaml" -B $SRV_IP -o /dev/null -x lg0 \
	2> "$T/dp.err" || rc=$?
[ $rc -eq 1 ] || lg_fail "linegate exited $rc beside a foreign program: $(cat "$T/dp.err")"
grep -qF "linegate: XDP admission on lg0: lg0 already runs another XDP program (id $id, name 'foreign_pass'), which linegate does not replace: remove it with 'ip link set dev lg0 xdpgeneric off' (or 'xdp-loader unload lg0 --all') and start linegate again" "$T/dp.err" ||
	lg_fail "refusal: $(cat "$T/dp.err")"
now=$(ip -n "$NS_SRV" -d link show lg0 | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p' | head -1)
[ "$now" = "$id" ] || lg_fail "the foreign program was touched (id $id -> '$now')"

ip -n "$NS_SRV" link set dev lg0 xdpgeneric off
ip -n "$NS_SRV" -d link show lg0 | grep -q "prog/xdp" && lg_fail "xdp off left the program"
lg_start_linegate -x lg0
ip -n "$NS_SRV" -d link show lg0 > "$T/link.txt"
grep -q "name lg_admit" "$T/link.txt" || lg_fail "linegate's program is not attached: $(cat "$T/link.txt")"
lg_stop_linegate
echo PASS
