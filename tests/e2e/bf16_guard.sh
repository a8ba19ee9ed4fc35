#!/usr/bin/env bash
# detection.gemm: xsmm-bf16 changes no verdict (docs/model-engine.md "bf16 guard"): the load
# generator's capture replayed through linegate with pipeline_ae.onnx (the default detector
# as an ONNX autoencoder) on xsmm and on xsmm-bf16, at the model's threshold and at one put
# at the median score (half the windows near it), gives the same alert on every scored row;
# bf16_rescored counts the rows the guard scored again: 0 on xsmm, > 0 and <= scored on
# bf16 at the median. Where the CPU lacks AVX512-BF16 linegate must refuse the policy
# naming it, and the test is skipped. Pcap backend: no network, no root.
source "$(dirname "$0")/lib.sh"
lg_tmp
T=$LG_TMP
F=$LG_SOURCE/tests/fixtures/pcap
"$LG_BIN_DP" --help | grep "^  pcap:" >/dev/null || lg_skip "this build has no pcap backend (meson -Dpcap)"
lg_keys "$T"
cp "$F"/keys/*.key "$T/keys/"
chmod 600 "$T"/keys/*.key
cp "$LG_SOURCE/tests/fixtures/models/pipeline_ae.onnx" "$T/ae.onnx"
"$LG_BIN_CTL" sign "$(lg_demo_key)" "$T/ae.onnx" >/dev/null

# pol NAME GEMM [THRESHOLD]: the capture's policy on this model and route
pol() {
	sed -e "s#^  model: .*#  model: $T/ae.onnx\n  gemm: $2${3:+\n  threshold: $3}#" \
		"$F/loadgen-policy.yaml" > "$T/$1.yaml"
}
# run NAME: replay the capture unpaced to its end
run() {
	local rc=0
	timeout 60 "$LG_BIN_DP" -p "$T/$1.yaml" -b "pcap:file=$F/loadgen-eth.pcap" -s "$T/$1.stats" \
		-o "$T/$1.jsonl" 2> "$T/$1.err" || rc=$?
	[ $rc -eq 0 ] || lg_fail "$1: linegate exited with status $rc: $(tail -3 "$T/$1.err")"
}

pol bf16 xsmm-bf16
# where the route cannot run, linegate must refuse the policy with the reason
rc=0
timeout 60 "$LG_BIN_DP" -p "$T/bf16.yaml" -b "pcap:file=$F/loadgen-eth.pcap" \
	-o "$T/probe.jsonl" 2> "$T/probe.err" || rc=$?
if [ $rc -ne 0 ]; then
	grep -q "detection.gemm" "$T/probe.err" || lg_fail "xsmm-bf16: $(tail -3 "$T/probe.err")"
	grep -Eq "AVX512-BF16|libxsmm" "$T/probe.err" || lg_fail "refusal: $(cat "$T/probe.err")"
	lg_skip "xsmm-bf16 cannot run here (refused: $(grep -m1 detection.gemm "$T/probe.err"))"
fi
pol fp32 xsmm
run fp32
run bf16
# the median score of the fp32 run: half the windows lie near a threshold there
med=$(python3 -c '
import json, sys
s = sorted(json.loads(l)["score"] for l in open(sys.argv[1])
           if l.startswith("{") and json.loads(l).get("score") is not None)
print(repr(s[len(s) // 2]))' "$T/fp32.jsonl")
pol fp32med xsmm "$med"
pol bf16med xsmm-bf16 "$med"
run fp32med
run bf16med
python3 - "$T" <<'PY' || lg_fail "verdicts or counters differ (above)"
import json, sys

t = sys.argv[1]
ok = True


def rows(name):
    """each scored row's verdict (score or alert line), and every incident line's event"""
    out = []
    for line in open(f"{t}/{name}.jsonl"):
        if line.startswith("{"):
            r = json.loads(line)
            if r.get("type") in ("score", "alert"):
                out.append((r.get("device"), r.get("seq"), r.get("channel"),
                            r["type"] == "alert"))
            elif r.get("type") == "incident":
                out.append(("incident", r.get("device"), r.get("event"), r.get("id")))
    return sorted(out, key=repr)


def stat(name, key):
    s = json.load(open(f"{t}/{name}.stats"))
    return s.get(key, s.get("metrics", {}).get(key))


for a, b in (("fp32", "bf16"), ("fp32med", "bf16med")):
    ra, rb = rows(a), rows(b)
    alerts = sum(r[3] is True for r in ra)
    incidents = sum(r[0] == "incident" for r in ra)
    same = ra == rb
    print(f"{a} vs {b}: {len(ra)} lines, {alerts} alerts, {incidents} incident lines, verdicts "
          f"{'identical' if same else 'DIFFER'}")
    ok &= same and len(ra) > 0
for name in ("fp32", "fp32med", "bf16", "bf16med"):
    n, scored = stat(name, "bf16_rescored"), stat(name, "scored")
    print(f"{name}: bf16_rescored {n} of {scored} scored")
    ok &= n is not None and scored and n <= scored
    if name.startswith("fp32"):
        ok &= n == 0
ok &= stat("bf16med", "bf16_rescored") > 0
sys.exit(0 if ok else 1)
PY
echo "xsmm-bf16 with its guard: the verdicts of xsmm"
