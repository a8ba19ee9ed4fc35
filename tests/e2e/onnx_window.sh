#!/usr/bin/env bash
# An ONNX model's window (docs/models.md "ONNX metadata"). pipeline_ae.onnx says in its
# metadata_props that it was fitted for 256-sample windows: at detection.window 1024
# linegatectl validate refuses it at the detection.model key's file:line:col, linegate
# refuses it at start and a live apply with the JSON model's words, and linegate-quality -w
# 1024 refuses it. pipeline_ae_nowindow.onnx (the same model without linegate.window, as
# models made elsewhere are) loads everywhere, each with a WARNING that names the model and
# the policy's window. linegate-quality --gemm without --onnx warns that it is ignored.
# /status.json names the model's GEMM route (model_gemm) as the control socket's status.
# Loopback, no root.
source "$(dirname "$0")/lib.sh"
lg_tmp
T=$LG_TMP
Q=$LG_BUILD/control/linegate-quality
lg_keys "$T"
for m in pipeline_ae pipeline_ae_nowindow; do
	cp "$LG_SOURCE/tests/fixtures/models/$m.onnx" "$T/$m.onnx"
	"$LG_BIN_CTL" sign "$(lg_demo_key)" "$T/$m.onnx" >/dev/null
done
PORT=$(lg_free_port)
UPORT=$(lg_free_port)
# pol NAME MODEL WINDOW
pol() {
	sed -e "s#^  model: .*#  model: $T/$2.onnx#" -e "s#^  window: .*#  window: $3#" \
	    -e "s#^port: .*#port: $PORT#" -e "s#^uadp_port: [0-9]*#uadp_port: $UPORT#" \
	    "$LG_SOURCE/control/defaults/policy.yaml" > "$T/$1.yaml"
}
pol ok pipeline_ae 256
pol wrong pipeline_ae 1024
pol nowin pipeline_ae_nowindow 1024
ml=$(grep -n "^  model:" "$T/ok.yaml" | cut -d: -f1)

# validate: the metadata's window checked; none: valid, with the warning
rc=0; "$LG_BIN_CTL" validate "$T/ok.yaml" > "$T/v.out" 2> "$T/v.err" || rc=$?
# Nothing but the warning that the policy trusts the demo signing key, as the tests' do on
# purpose (trial J F19).
[ $rc -eq 0 ] && ! grep -v "WARNING: models.trusted_keys holds the public demo signing key" \
	"$T/v.err" | grep -q . || lg_fail "ok: validate $rc: $(cat "$T/v.err")"
grep -qF "$T/ok.yaml: WARNING: models.trusted_keys holds the public demo signing key c3126d69..." \
	"$T/v.err" || lg_fail "ok: no demo key warning: $(cat "$T/v.err")"
rc=0; "$LG_BIN_CTL" validate "$T/wrong.yaml" > "$T/v.out" 2> "$T/v.err" || rc=$?
[ $rc -eq 1 ] || lg_fail "wrong window: validate exited $rc: $(cat "$T/v.out" "$T/v.err")"
grep -qF "$T/wrong.yaml:$ml:3: detection.model: $T/pipeline_ae.onnx: the model was trained on 256-sample windows, the policy's detection.window is 1024" "$T/v.err" ||
	lg_fail "wrong window: $(cat "$T/v.err")"
rc=0; "$LG_BIN_CTL" validate "$T/nowin.yaml" > "$T/v.out" 2> "$T/v.err" || rc=$?
[ $rc -eq 0 ] && grep -q "valid" "$T/v.out" || lg_fail "no window: validate exited $rc"
grep -qF "$T/nowin.yaml:$ml:3: WARNING: detection.model: $T/pipeline_ae_nowindow.onnx carries no linegate.window metadata: nothing checks that it was trained on the policy's 1024-sample windows" "$T/v.err" ||
	lg_fail "no window: no warning from validate: $(cat "$T/v.err")"
echo "validate: refused at $ml:3, warned for the model without a window"

# linegate at start
rc=0; timeout 20 "$LG_BIN_DP" -p "$T/wrong.yaml" -B 127.0.0.1 -c "$T/x.sock" \
	2> "$T/start.err" > /dev/null || rc=$?
[ $rc -eq 1 ] && grep -q "the model was trained on 256-sample windows, the policy's detection.window is 1024" "$T/start.err" ||
	lg_fail "start at the wrong window: exit $rc: $(cat "$T/start.err")"
lg_dp_start nowin
lg_wait_for 5 grep -q "WARNING: model $T/pipeline_ae_nowindow.onnx carries no linegate.window metadata: nothing checks that it was trained on the policy's 1024-sample windows" "$T/nowin.err" ||
	lg_fail "start: no warning: $(cat "$T/nowin.err")"
lg_dp_stop nowin
echo "linegate start: refused, warned"

# live apply on a running linegate (the right model at 256)
apply() {
	python3 -c "
import sys, lgsock
r = lgsock.call(sys.argv[1], {'cmd': 'apply', 'policy': open(sys.argv[2]).read()})
print('ok' if r.get('ok') else 'error: ' + r.get('error', ''))" "$T/ok.sock" "$1"
}
export PYTHONPATH=$LG_SOURCE/tests/e2e
HPORT=$(lg_free_port)
STATE_DIRECTORY=$T/ok.state "$LG_BIN_DP" -p "$T/ok.yaml" -B 127.0.0.1 -c "$T/ok.sock" \
	-m 127.0.0.1:$HPORT 2> "$T/ok.err" &
DP=$!
LG_PIDS="$LG_PIDS $DP"
lg_wait_for 5 test -S "$T/ok.sock" || lg_fail "linegate ok did not start: $(cat "$T/ok.err")"
grep WARNING "$T/ok.err" | grep -qv "public demo signing key" &&
	lg_fail "a model with its window: $(cat "$T/ok.err")"
grep -q "linegate: $T/ok.yaml: WARNING: models.trusted_keys holds the public demo signing key" \
	"$T/ok.err" || lg_fail "linegate's start: no demo key warning: $(cat "$T/ok.err")"
# The status page's document says the model's GEMM route as the control socket does.
python3 - "$T/ok.sock" $HPORT <<'PY' || lg_fail "/status.json's model_gemm"
import json, sys, urllib.request, lgsock
ctl = lgsock.call(sys.argv[1], {"cmd": "status"})["model_gemm"]
page = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[2]}/status.json", timeout=5))
print("model_gemm: control socket", repr(ctl), "/status.json", repr(page.get("model_gemm")))
assert ctl and page.get("model_gemm") == ctl
PY
r=$(apply "$T/wrong.yaml")
[[ $r == "error: "*"the model was trained on 256-sample windows, the policy's detection.window is 1024"* ]] ||
	lg_fail "apply at the wrong window: $r"
# through linegated too: its diff and apply replies carry the warning, linegatectl prints it
lg_bg "$LG_BIN_D" -p "$T/ok.yaml" -S "$T/d.sock" -d "$T/ok.sock" -a "$T/audit.jsonl" \
	-s "$T/dstate" 2> "$T/d.err"
lg_wait_for 5 test -S "$T/d.sock" || lg_fail "linegated did not start: $(cat "$T/d.err")"
rc=0; "$LG_BIN_CTL" --socket "$T/d.sock" diff "$T/nowin.yaml" > "$T/diff.out" 2> "$T/diff.err" || rc=$?
[ $rc -eq 0 ] && grep -qF "linegatectl: $T/nowin.yaml:$ml:3: WARNING: detection.model: $T/pipeline_ae_nowindow.onnx carries no linegate.window metadata" "$T/diff.err" ||
	lg_fail "linegatectl diff via linegated: exit $rc, no warning: $(cat "$T/diff.out" "$T/diff.err")"
rc=0; "$LG_BIN_CTL" --socket "$T/d.sock" apply "$T/wrong.yaml" > "$T/ap.out" 2> "$T/ap.err" || rc=$?
[ $rc -eq 1 ] && grep -q "trained on 256-sample windows, the policy's detection.window is 1024" "$T/ap.err" ||
	lg_fail "linegatectl apply at the wrong window via linegated: exit $rc: $(cat "$T/ap.out" "$T/ap.err")"
rc=0; "$LG_BIN_CTL" --socket "$T/d.sock" apply "$T/nowin.yaml" > "$T/ap.out" 2> "$T/ap.err" || rc=$?
[ $rc -eq 0 ] && grep -qF "WARNING: detection.model: $T/pipeline_ae_nowindow.onnx carries no linegate.window metadata" "$T/ap.err" ||
	lg_fail "linegatectl apply via linegated: exit $rc, no warning: $(cat "$T/ap.out" "$T/ap.err")"
lg_wait_for 5 grep -q "WARNING: model $T/pipeline_ae_nowindow.onnx carries no linegate.window" "$T/ok.err" ||
	lg_fail "apply: no warning: $(cat "$T/ok.err")"
lg_dp_stop ok
echo "live apply: refused, warned"

# linegate-quality
rc=0; "$Q" --onnx "$T/pipeline_ae.onnx" -w 1024 --healthy 1 > "$T/q.out" 2> "$T/q.err" || rc=$?
[ $rc -eq 1 ] && grep -qF "$T/pipeline_ae.onnx: the model was trained on 256-sample windows, -w is 1024" "$T/q.err" ||
	lg_fail "quality -w 1024: exit $rc: $(cat "$T/q.err")"
rc=0; "$Q" --onnx "$T/pipeline_ae_nowindow.onnx" -w 1024 --healthy 1 --gemm openblas > "$T/q.out" 2> "$T/q.err" || rc=$?
grep -qF "WARNING: $T/pipeline_ae_nowindow.onnx carries no linegate.window metadata" "$T/q.err" ||
	lg_fail "quality without a window: no warning (exit $rc): $(cat "$T/q.err")"
rc=0; "$Q" --gemm xsmm --healthy 1 > "$T/q.out" 2> "$T/q.err" || rc=$?
grep -qF "WARNING: --gemm xsmm is ignored" "$T/q.err" ||
	lg_fail "quality --gemm without --onnx: no warning (exit $rc): $(cat "$T/q.err")"
echo "linegate-quality: refused, warned twice"
# A value that does not parse is refused at load (needs python3-onnx to write one).
if /usr/bin/python3 -c "import onnx" 2>/dev/null; then
	for kv in "linegate.window=abc" "linegate.window=4" "linegate.sample_rate=0" "linegate.layout=bands96-time5"; do
		/usr/bin/python3 - "$T/pipeline_ae.onnx" "$T/bad.onnx" "$kv" <<'PY'
import sys, onnx
m = onnx.load(sys.argv[1])
k, v = sys.argv[3].split("=", 1)
next(p for p in m.metadata_props if p.key == "linegate.window").value = "256"
e = next((p for p in m.metadata_props if p.key == k), None) or m.metadata_props.add()
e.key, e.value = k, v
onnx.save(m, sys.argv[2])
PY
		k=${kv%%=*}
		if [ "$k" = linegate.layout ]; then
			"$LG_BIN_CTL" sign "$(lg_demo_key)" "$T/bad.onnx" >/dev/null
			sed -e "s#pipeline_ae.onnx#bad.onnx#" "$T/ok.yaml" > "$T/bad.yaml"
			rc=0; "$LG_BIN_CTL" validate "$T/bad.yaml" > /dev/null 2> "$T/bad.err" || rc=$?
			[ $rc -eq 1 ] && grep -q "the model reads feature layout bands96-time5 (metadata linegate.layout)" "$T/bad.err" ||
				lg_fail "$kv: validate exited $rc: $(cat "$T/bad.err")"
		else
			rc=0; "$LG_BUILD/dataplane/model/lg-model-check" "$T/bad.onnx" > /dev/null 2> "$T/bad.err" || rc=$?
			[ $rc -eq 1 ] && grep -q "metadata $k '${kv#*=}' is not" "$T/bad.err" ||
				lg_fail "$kv: lg-model-check exited $rc: $(cat "$T/bad.err")"
		fi
	done
	echo "metadata that does not parse: refused"
fi
echo "onnx_window: ok"
