#!/usr/bin/env bash
# A device removed by apply stays out after linegate restarts, also when an enrollment verb
# rewrote the boot policy file before that apply. A new-user trial found it admitted again:
# linegate kept the boot file's hash from its own start, so the verb's edit looked like an
# operator's edit of the boot file and the next start took the boot file over the last
# applied policy. linegate now records the boot file's hash as it is at each apply.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgrv$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
sed -i 's/^uadp_port: 4840/uadp_port: 0/' "$T/policy.yaml"
cp "$T/policy.yaml" "$T/boot-copy.yaml" # the loadgen's view: device 101 still in it
lg_start_linegate 2> "$T/dp1.err"
lg_start_linegated

# The verb rewrites the boot file and applies it; then an apply removes device 101.
"$LG_BIN_CTL" -s "$T/d.sock" devices enroll --id 120 --name extra-1 --source "$LINE_IP" \
	> "$T/enroll.txt" || lg_fail "enroll: $(cat "$T/enroll.txt")"
python3 - "$T/policy.yaml" "$T/no101.yaml" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
a = s.index("  - id: 101\n")
b = s.index("  - id: ", a + 1)
open(sys.argv[2], "w").write(s[:a] + s[b:])
PY
grep -q 'id: 101$' "$T/no101.yaml" && lg_fail "device 101 is still in no101.yaml"
grep -q 'id: 120$' "$T/no101.yaml" || lg_fail "the enrolled device 120 is not in no101.yaml"
"$LG_BIN_CTL" -s "$T/d.sock" apply "$T/no101.yaml" > /dev/null || lg_fail "apply of no101.yaml"

# linegate dies without a word and starts again with the same arguments.
kill -KILL $DP_PID
wait $DP_PID 2>/dev/null || true
rm -f "$T/dp.sock"
lg_start_linegate 2> "$T/dp2.err"
lg_wait_for 5 grep -q 'enrolled' "$T/dp2.err" || lg_fail "linegate did not start: $(cat "$T/dp2.err")"
grep -q 'last applied' "$T/dp2.err" ||
	lg_fail "the restart did not start from the last applied policy: $(grep -i policy "$T/dp2.err")"
grep -q '8 devices enrolled' "$T/dp2.err" ||
	lg_fail "the restart does not run the 8 devices of the last apply: $(grep enrolled "$T/dp2.err")"

# Device 101 sends (new sequences, so that no replay window is in question): all refused.
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/boot-copy.yaml" -t $SRV_IP -S $LINE_IP -d 1 \
	-n 50 -r 1000 --first-seq 100000 -q -j "$T/sent.json" || lg_fail "loadgen failed"
got() {
	lg_dp_stats "$T/m.json" &&
	[ "$(lg_json "$T/m.json" "d['received']")" = 50 ]
}
lg_wait_for 5 got || lg_fail "received $(lg_json "$T/m.json" "d['received']") of 50"
lg_json "$T/m.json" "d['admitted'], d['drops']['unknown_device']" > "$T/c.txt"
[ "$(cat "$T/c.txt")" = "0 50" ] ||
	lg_fail "device 101 after the restart: (admitted, unknown_device) = $(cat "$T/c.txt"), want (0, 50)"
lg_stop_linegate
echo "PASS: the removed device stays out after a restart that follows a verb's edit"
