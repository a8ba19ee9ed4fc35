#!/usr/bin/env bash
# The model registry and hot swap under load: only signed models get in (unsigned,
# foreign-signed and tampered ones are refused by linegated and by the data plane itself);
# activate, shadow, activate and roll back while frames flow; every window is scored
# exactly once, and each device's windows move from one model to the next in order.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgms$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
KEY=$(lg_demo_key)
CTL() { "$LG_BIN_CTL" -s "$T/d.sock" "$@"; }
TRAIN=$LG_BUILD/control/linegate-train

# Candidate models: v1 is the default; v2 trained on other machines with a wider margin.
cp "$LG_SOURCE/control/defaults/model.json" "$T/v1.json"
"$TRAIN" -o "$T/v2.json" -s 4242 -m 8 -n 200 --margin 4 2>/dev/null
"$LG_BIN_CTL" sign "$KEY" "$T/v1.json" >/dev/null
"$LG_BIN_CTL" sign "$KEY" "$T/v2.json" >/dev/null
# v3: the same detector as an ONNX autoencoder (tests/fixtures/models/gen_pipeline_model.py).
cp "$LG_SOURCE/tests/fixtures/models/pipeline_ae.onnx" "$T/v3.onnx"
"$LG_BIN_CTL" sign "$KEY" "$T/v3.onnx" >/dev/null
cp "$T/v2.json" "$T/unsigned.json"
"$LG_BIN_CTL" keygen "$T/rogue" >/dev/null
cp "$T/v2.json" "$T/rogue.json"
"$LG_BIN_CTL" sign "$T/rogue.key" "$T/rogue.json" >/dev/null
cp "$T/v2.json" "$T/tampered.json"
cp "$T/v2.json.sig" "$T/tampered.json.sig"
sed -i 's/"threshold":[0-9.]*/"threshold":1e9/' "$T/tampered.json"
cmp -s "$T/v2.json" "$T/tampered.json" && lg_fail "the tampered copy is not different"

lg_start_linegate
lg_start_linegated

CTL model add vib 1 "$T/v1.json" >/dev/null 2>"$T/v1.err" || lg_fail "signed v1 refused: $(cat "$T/v1.err")"
CTL model add vib 2 "$T/v2.json" >/dev/null || lg_fail "signed v2 refused"
CTL model add vib 3 "$T/v3.onnx" >/dev/null || lg_fail "signed v3 (ONNX) refused"
for bad in unsigned rogue tampered; do
	if CTL model add vib "$bad" "$T/$bad.json" 2> "$T/$bad.err"; then
		lg_fail "$bad model was registered"
	fi
	grep -q "refused" "$T/$bad.err" || lg_fail "$bad: $(cat "$T/$bad.err")"
done
CTL model add vib 2 "$T/v2.json" 2>/dev/null && lg_fail "a version was registered twice"
# The model command straight to the data plane's control socket, past linegated:
# dp_model ACTIVE LABEL [SHADOW SHADOW_LABEL] prints "ok: model L, shadow S" or "error: ...".
dp_model() {
	python3 - "$T/dp.sock" "$@" <<'PY'
import sys, lgsock
a = sys.argv[2:]
req = {"cmd": "model", "active": a[0], "label": a[1]}
if len(a) > 2:
    req.update(shadow=a[2], shadow_label=a[3])
r = lgsock.call(sys.argv[1], req)
if r["ok"]:
    st = lgsock.call(sys.argv[1], {"cmd": "status"})
    print(f"ok: model {st['model']}" + (f", shadow {st['shadow_model']}" if st["shadow_model"] else ""))
else:
    print("error: " + r["error"])
PY
}
# The data plane checks for itself.
dp_model "$T/tampered.json" x > "$T/direct.txt"
grep -q "^error: .*refused" "$T/direct.txt" || lg_fail "data plane took a tampered model: $(cat "$T/direct.txt")"

ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP \
	-n 1000 -r 2000 -j "$T/sent.json" -q &
GEN=$!
sleep 0.2
CTL model activate vib@1 >/dev/null || lg_fail "activate vib@1"
sleep 0.2
CTL model shadow vib@2 >/dev/null || lg_fail "shadow vib@2"
sleep 0.3
CTL model activate vib@2 >/dev/null || lg_fail "activate vib@2"
sleep 0.3
CTL model rollback >/dev/null || lg_fail "rollback"
sleep 0.3
CTL model activate vib@3 >/dev/null || lg_fail "activate vib@3 (ONNX)"
wait $GEN
sleep 0.3
# status names the ONNX model's GEMM route (detection.gemm: auto; OpenBLAS alone where
# libxsmm cannot run)
G=$(lg_ctl "$T/dp.sock" '{"cmd": "status"}' model_gemm | tr -d '"')
case "$G" in auto | "auto (OpenBLAS alone)") ;; *) lg_fail "the ONNX model's GEMM route in status: '$G'" ;; esac
CTL models > "$T/models.json"
CTL metrics > "$T/m.json"
# A restarted linegated finds the registry's active and shadow models running: no swap
# (the final count of swaps below would be one more).
kill -INT "$D_PID"; wait "$D_PID" || lg_fail "linegated did not stop cleanly"
rm -f "$T/d.sock"
lg_start_linegated
# Rollback past the registry's first model goes back to the boot model (the policy's
# detection.model); past that there is nothing to go back to.
dp_label() { lg_ctl "$T/dp.sock" '{"cmd": "status"}' model | tr -d '"'; }
CTL model rollback >/dev/null || lg_fail "rollback to vib@1"
[ "$(dp_label)" = vib@1 ] || lg_fail "after a rollback the data plane runs $(dp_label), want vib@1"
CTL model rollback >/dev/null || lg_fail "rollback to the boot model"
[ "$(dp_label)" = model.json ] || lg_fail "after the second rollback: $(dp_label), want model.json"
CTL models | grep -q '"active": *""' || lg_fail "the registry still names an active model"
if CTL model rollback 2> "$T/rb.err"; then lg_fail "a rollback past the boot model worked"; fi
grep -q "no earlier model: the policy's detection.model (the boot model) is running" "$T/rb.err" ||
	lg_fail "rollback past the boot model: $(cat "$T/rb.err")"
# A model path with a space in it, straight to the data plane.
mkdir -p "$T/with space"
cp "$T/v1.json" "$T/v1.json.sig" "$T/with space/"
dp_model "$T/with space/v1.json" spaced "$T/v2.json" vib@2 > "$T/spaced.txt"
grep -q "^ok: model spaced, shadow vib@2" "$T/spaced.txt" ||
	lg_fail "a model path with a space: $(cat "$T/spaced.txt")"
lg_stop_linegate

python3 - "$T/stats.json" "$T/sent.json" "$T/out.jsonl" "$T/models.json" <<'PY'
import json, sys
st = json.load(open(sys.argv[1])); sent = json.load(open(sys.argv[2]))
models = json.load(open(sys.argv[4]))
from lgcheck import check, done
lines = [json.loads(l) for l in open(sys.argv[3])]
keys = [(e["device"], e["channel"], e["seq"]) for e in lines]
check("windows scored", st["scored"], sent["enrolled"])
check("output lines", len(lines), sent["enrolled"])
check("windows scored twice", len(keys) - len(set(keys)), 0)
check("model swaps (start-up + 5 + 2 rollbacks + the spaced path)", st["model_swaps"], 9)
check("running model", st["model"], "spaced")
check("shadow", st["shadow"], "vib@2")
check("shadow scored some rows", st["shadow_scored_total"] > 0, True)
# the running pair (spaced, vib@2) was set after the last frame: none of its own yet
check("rows of the running shadow", st["shadow_scored"], 0)
epochs = sorted({e["model_epoch"] for e in lines})
check("windows scored under every model set", epochs, [1, 2, 3, 4, 5, 6])
back = 0
last = {}
for e in sorted(lines, key=lambda e: (e["device"], e["seq"])):
    if e["model_epoch"] < last.get(e["device"], 0):
        back += 1
    last[e["device"]] = e["model_epoch"]
check("windows that went back to an older model", back, 0)
check("registry active", models["active"], "vib@3")
check("registry versions", sorted(m["ref"] for m in models["models"]), ["vib@1", "vib@2", "vib@3"])
done()
PY
grep -c '"what":"model_add","result":"refused"' "$T/audit.jsonl" | grep -qx 4 ||
	lg_fail "audit log lacks the 4 refused additions"
echo PASS
