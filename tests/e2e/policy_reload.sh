#!/usr/bin/env bash
# Live policy changes while frames flow: linegated applies two policies in turn, twenty
# times, during a run; each is a new generation in the XDP tables and in the workers.
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

ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/v1.yaml" -t $SRV_IP -S $LINE_IP -n 500 -r 2000 \
	--unknown 200 --replay 100 -j "$T/sent.json" -q &
GEN=$!
for i in $(seq 1 20); do
	f=$T/v$(( (i % 2) + 1 )).yaml
	"$LG_BIN_CTL" -s "$T/d.sock" apply "$f" > /dev/null || lg_fail "apply $i of $f failed"
	sleep 0.05
done
wait $GEN || lg_fail "load generator failed"
sent=$(lg_json "$T/sent.json" "d['sent']")
# With XDP the unknown senders' frames never reach a worker.
[ "$MODE" = xdp ] && sent=$(lg_json "$T/sent.json" "d['sent'] - d['unknown_device']")
got_all() {
	"$LG_BIN_CTL" -s "$T/d.sock" metrics > "$T/m.json" &&
	[ "$(lg_json "$T/m.json" "d['metrics']['received']")" = "$sent" ]
}
lg_wait_for 10 got_all || lg_fail "received $(lg_json "$T/m.json" "d['metrics']['received']") of $sent"
applies=$(lg_json "$T/m.json" "d['metrics']['policy_applies']")
[ "$applies" -ge 20 ] || lg_fail "data plane counted $applies applies, want >= 20"
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
# linegated adopted the generation linegate started with (no push), then applied 20.
n=$(grep -c '"what":"apply","result":"ok"' "$T/audit.jsonl" || true)
[ "$n" = 20 ] || lg_fail "the audit log has $n applies, want 20"
n=$(grep -c '"phase":"intent"' "$T/audit.jsonl" || true)
[ "$n" = 20 ] || lg_fail "the audit log has $n intents, want 20"
grep -q '"what":"start","result":"adopted"' "$T/audit.jsonl" || lg_fail "the start was not an adoption"
echo PASS
