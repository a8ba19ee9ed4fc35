#!/usr/bin/env bash
# The quality suite (linegate-quality on the simulated line) through the ONNX engine: the
# default Mahalanobis detector as an ONNX autoencoder (pipeline_ae.onnx) must give exactly the
# detector's own detections and false alarms on every fp32 GEMM route (openblas, xsmm, auto):
# a route change changes no detection. So must the opt-in xsmm-bf16 route with its guard
# (docs/model-engine.md "bf16 guard"; unguarded bf16 changed 2 detections here), which must
# also say how many windows it scored again on fp32; skipped where the CPU lacks AVX512-BF16.
# Usage: quality_routes.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
q=$build/control/linegate-quality
args=(--model "$src/control/defaults/model.json" --trials 100 --healthy 16)
onnx=$src/tests/fixtures/models/pipeline_ae.onnx
fail() { echo "FAIL: $*"; exit 1; }
# the JSON line without the route, so that lines from different routes compare equal
result() { "$@" | grep '^{"bench":"quality"' | sed 's/,"gemm":"[a-z0-9-]*"//'; }
want=$(result "$q" "${args[@]}")
[ -n "$want" ] || fail "no result from the detector"
echo "detector:  $want"
for g in openblas xsmm auto; do
	if ! got=$(result "$q" "${args[@]}" --onnx "$onnx" --gemm "$g" 2>&1); then
		case $got in *"built without libxsmm"*) echo "$g: skipped: $got"; continue ;; esac
		fail "$g: $got"
	fi
	[ "$got" = "$want" ] || fail "route $g: $got"
	echo "route $g: same detections and false alarms"
done
if out=$("$q" "${args[@]}" --onnx "$onnx" --gemm xsmm-bf16 2>&1); then
	got=$(printf '%s\n' "$out" | grep '^{"bench":"quality"' | sed 's/,"gemm":"[a-z0-9-]*"//')
	[ "$got" = "$want" ] || fail "route xsmm-bf16 (guarded): $got"
	guard=$(printf '%s\n' "$out" | grep '^bf16 guard: [0-9]* of [0-9]* windows') ||
		fail "route xsmm-bf16: no 'bf16 guard:' count"
	n=$(echo "$guard" | awk '{print $3}') total=$(echo "$guard" | awk '{print $5}')
	[ "$total" -gt 0 ] && [ "$n" -le "$total" ] || fail "route xsmm-bf16: $guard"
	echo "route xsmm-bf16: same detections and false alarms ($guard)"
else
	case $out in
	*"AVX512-BF16"* | *"built without libxsmm"* | *"cannot be made executable"*)
		echo "route xsmm-bf16: skipped: $out" ;;
	*) fail "xsmm-bf16: $out" ;;
	esac
fi
