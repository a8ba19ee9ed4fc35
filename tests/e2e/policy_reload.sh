#!/usr/bin/env bash
# Live policy changes while frames flow: linegated applies two valid policies and one that
# does not validate in turn, 100 times, during a run; each is a new generation in the XDP tables and in the workers.
# Not one enrolled frame may be lost, not one unknown frame let in, and the replay windows
# must survive every switch (a replayed frame admitted after a switch would show up as
# one admitted frame too many). Run with "xdp" (the default) or "noxdp".
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgpr$$"
T=$LG_TMP
lg_policy "$T/v1.yaml"
# v2: one more device and a different batch size; the six running devices are unchanged.
python3 - "$T/v1.yaml" "$T/v2.yaml" <<'PY'
import sys
s = open(sys.argv[1]).read().replace("batch: 16 ", "batch: 4  ")
s += "  - id: 999\n    name: spare-1\n    source: 10.77.0.9\n    keys:\n      - {id: 1, key_file: keys/spare-1.key}\n"
open(sys.argv[2], "w").write(s)
PY
printf 'ab%.0s' $(seq 32) > "$T/keys/spare-1.key"
chmod 600 "$T/keys/spare-1.key"
cp "$T/v1.yaml" "$T/policy.yaml"

MODE=${1:-xdp}
if [ "$MODE" = xdp ]; then lg_start_linegate --xdp lg0; else lg_start_linegate; fi
lg_start_linegated -i 100000

# v3 does not validate (batch 0): every third apply is refused and the running policy stays.
sed 's/^  batch: 16 /  batch: 0  /' "$T/v1.yaml" > "$T/v3.yaml"
cmp -s "$T/v1.yaml" "$T/v3.yaml" && lg_fail "v3 is not different from v1"
ctl_status() { "$LG_BIN_CTL" -s "$T/d.sock" --raw status > "$1"; }
ctl_status "$T/s0.json"

# 100 applies in turn (v2, v1, v3 refused, ...) while the devices send for the whole time.
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/v1.yaml" -t $SRV_IP -S $LINE_IP -n 300 -r 120 \
	--unknown 200 --replay 100 -j "$T/sent.json" -q &
GEN=$!
t0=$(date +%s.%N)
for i in $(seq 1 100); do
	case $((i % 3)) in
	0)
		rc=0
		"$LG_BIN_CTL" -s "$T/d.sock" apply "$T/v3.yaml" > /dev/null 2> "$T/v3.err" || rc=$?
		[ $rc = 1 ] && grep -q "v3.yaml:[0-9]*:[0-9]*: .*batch" "$T/v3.err" ||
			lg_fail "apply $i of the invalid v3: exit $rc, $(cat "$T/v3.err")"
		;;
	1) "$LG_BIN_CTL" -s "$T/d.sock" apply "$T/v2.yaml" > /dev/null || lg_fail "apply $i of v2 failed" ;;
	2) "$LG_BIN_CTL" -s "$T/d.sock" apply "$T/v1.yaml" > /dev/null || lg_fail "apply $i of v1 failed" ;;
	esac
done
kill -0 $GEN 2>/dev/null || lg_fail "the load ended before the 100 applies did: make it longer"
echo "100 applies (67 applied, 33 refused) in $(python3 -c "import sys, time; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$t0") s under load"
ctl_status "$T/s1.json"
wait $GEN || lg_fail "load generator failed"
python3 - "$T/s0.json" "$T/s1.json" <<'PY' || lg_fail "linegated's counts over the 100 applies"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
ok = b["applies"] - a["applies"] == 67 and b["refused"] - a["refused"] == 33
print(f"linegated: {b['applies'] - a['applies']} applied (want 67), {b['refused'] - a['refused']} refused (want 33)")
sys.exit(0 if ok else 1)
PY
sent=$(lg_json "$T/sent.json" "d['sent']")
# With XDP the unknown senders' frames never reach a worker.
[ "$MODE" = xdp ] && sent=$(lg_json "$T/sent.json" "d['sent'] - d['unknown_device']")
got_all() {
	"$LG_BIN_CTL" -s "$T/d.sock" metrics > "$T/m.json" &&
	[ "$(lg_json "$T/m.json" "d['metrics']['received']")" = "$sent" ]
}
lg_wait_for 10 got_all || lg_fail "received $(lg_json "$T/m.json" "d['metrics']['received']") of $sent"
applies=$(lg_json "$T/m.json" "d['metrics']['policy_applies']")
[ "$applies" -ge 67 ] || lg_fail "data plane counted $applies applies, want >= 67"
lg_stop_linegate
python3 - "$T/stats.json" "$T/sent.json" <<'PY'
import json, sys
st = json.load(open(sys.argv[1])); sent = json.load(open(sys.argv[2]))
ok = True
x = st.get("xdp")
unknown = x["unknown_device"] + st["drops"]["unknown_device"] if x else st["drops"]["unknown_device"]
checks = [("unknown frames a worker saw", st["drops"]["unknown_device"], 0),
          ("XDP admitted", x["admitted"], sent["enrolled"] + sent["replayed"]),
          ("XDP dropped otherwise", sum(v for k, v in x.items()
                                        if k not in ("admitted", "unknown_device", "not_ours", "audited")), 0)] if x else []
for name, got, want in checks + [
    ("admitted", st["admitted"], sent["enrolled"]),
    ("unknown_device", unknown, sent["unknown_device"]),
    ("replayed", st["drops"]["replayed"], sent["replayed"]),
    ("scored", st["scored"], sent["enrolled"]),
    ("dropped otherwise", st["dropped"] - st["drops"]["unknown_device"] - st["drops"]["replayed"], 0),
]:
    print(f"{name}: got {got}, want {want}")
    ok &= got == want
sys.exit(0 if ok else 1)
PY
# linegated adopted the generation linegate started with (no push), then applied 67 and
# refused 33 before any push (an event line each, no intent).
n=$(grep -c '"what":"apply","result":"ok"' "$T/audit.jsonl" || true)
[ "$n" = 67 ] || lg_fail "the audit log has $n applies, want 67"
n=$(grep -c '"phase":"intent"' "$T/audit.jsonl" || true)
[ "$n" = 67 ] || lg_fail "the audit log has $n intents, want 67"
n=$(grep -c '"phase":"event".*"what":"apply","result":"refused"' "$T/audit.jsonl" || true)
[ "$n" = 33 ] || lg_fail "the audit log has $n refusals, want 33"
grep -q '"what":"start","result":"adopted"' "$T/audit.jsonl" || lg_fail "the start was not an adoption"
echo PASS
