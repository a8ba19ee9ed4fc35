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
rm -f "$artifacts"/crash-* "$artifacts"/timeout-* "$artifacts"/leak-* "$artifacts"/oom-*
rc=0
"$fuzzer" -runs="$runs" -max_total_time=50 -max_len="$max_len" -use_value_profile=1 \
	-error_exitcode=1 -timeout_exitcode=1 -timeout=10 -print_final_stats=1 \
	-artifact_prefix="$artifacts/" "$work" "$seeds" || rc=$?
if [ "$rc" -ne 0 ]; then
	# A finding on a CI machine must be reproducible from its log alone:
	# base64 -d the block into a file and run the fuzzer on it. On stderr, after
	# libFuzzer's own report, so the end of the test's log shows it.
	for f in "$artifacts"/crash-* "$artifacts"/timeout-* "$artifacts"/leak-* "$artifacts"/oom-*; do
		[ -f "$f" ] || continue
		echo "=== finding $(basename "$f") (base64):" >&2
		base64 "$f" >&2
	done
fi
exit "$rc"
