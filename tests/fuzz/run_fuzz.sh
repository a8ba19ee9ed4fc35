#!/bin/sh
# Runs a libFuzzer harness for a bounded number of inputs as a meson test.
# usage: run_fuzz.sh FUZZER SEED_DIR RUNS ARTIFACT_DIR [MAX_LEN]
# New corpus entries go to a scratch directory, never into the seed corpus in
# the source tree. libFuzzer exits 77 on a finding by default, which meson
# would count as "skipped", hence -error_exitcode=1.
set -eu
fuzzer=$1 seeds=$2 runs=$3 artifacts=$4 max_len=${5:-2048}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"
exec "$fuzzer" -runs="$runs" -max_total_time=50 -max_len="$max_len" -use_value_profile=1 \
	-error_exitcode=1 -timeout_exitcode=1 -timeout=10 -print_final_stats=1 \
	-artifact_prefix="$artifacts/" "$work" "$seeds"
