#!/usr/bin/env bash
# The quality suite (linegate-quality on the simulated line) through the ONNX engine: the
# default Mahalanobis detector as an ONNX autoencoder (pipeline_ae.onnx) must give exactly the
# detector's own detections and false alarms on every fp32 GEMM route (openblas, xsmm, auto):
# a route change changes no detection. The opt-in bf16 route is run too and its differences
# printed, not failed (docs/model-engine.md "bf16": it does change some).
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
if got=$(result "$q" "${args[@]}" --onnx "$onnx" --gemm xsmm-bf16 2>&1); then
	if [ "$got" = "$want" ]; then
		echo "route xsmm-bf16: same detections and false alarms"
	else
		echo "route xsmm-bf16 differs (known, docs/model-engine.md \"bf16\"): $got"
	fi
else
	echo "route xsmm-bf16: skipped: $got"
fi
