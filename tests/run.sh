#!/usr/bin/env bash
# README command 2: install what is missing, build, and run the whole test suite.
#
#   build/       the normal build (warnings are errors): every suite
#   build-asan/  ASan + UBSan build: every suite again but 'package' (the Debian package,
#                built and tested once, from the normal build's run)
#   build-fuzz/  clang libFuzzer build: the 'fuzz' suite (bounded runs), when clang is there
#
# Every test's PATH starts with DIR/tests/pyexec, whose python3 runs the interpreter that
# python3 was when meson set DIR up, directly: a version manager's shim in PATH (pyenv's, on
# CI) costs up to a second a call, and the e2e scripts call python3 hundreds of times.
#
# Ends with one line "N passed, N failed, N skipped" counted from meson's testlog.json
# of each build, and exits non-zero when anything failed (a build that does not compile
# counts as a failure).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

bash .ci/install-deps || { echo "0 passed, 1 failed, 0 skipped"; exit 1; }

# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE stay exactly as the machine sets them (or not):
# the tests must pass with whatever kernel set OpenBLAS picks for this CPU.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}

JOBS=$(nproc)
BUILD_FAILURES=0
LOGS=()

# build DIR SUITE_ARGS... -- SETUP_ARGS...
run_build() {
	local dir=$1; shift
	local suites=() setup=()
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do suites+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	setup=("$@")
	echo "=== $dir: setup and build"
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "${setup[@]}" > "$dir.setup.log" 2>&1 ||
			{ cat "$dir.setup.log"; echo "=== $dir: meson setup FAILED"; BUILD_FAILURES=$((BUILD_FAILURES + 1)); return; }
	fi
	if ! ninja -C "$dir" -j "$JOBS" > "$dir.build.log" 2>&1; then
		tail -50 "$dir.build.log"
		echo "=== $dir: build FAILED"
		BUILD_FAILURES=$((BUILD_FAILURES + 1))
		return
	fi
	echo "=== $dir: tests (${suites[*]:-all})"
	rm -f "$dir/meson-logs/testlog.json"
	meson test -C "$dir" --print-errorlogs --num-processes "$JOBS" "${suites[@]}" | \
		grep -E '^ *[0-9]+/[0-9]+ |^(Ok|Fail|Skipped|Timeout):' || true
	LOGS+=("$dir/meson-logs/testlog.json")
}

run_build build --no-suite fuzz -- -Dbuildtype=debugoptimized
run_build build-asan --no-suite fuzz --no-suite package -- -Dbuildtype=debug -Db_sanitize=address,undefined \
	-Db_lundef=false
if command -v clang >/dev/null; then
	CC=clang run_build build-fuzz --suite fuzz -- -Dbuildtype=debug -Dfuzzers=true
fi

python3 - "$BUILD_FAILURES" "${LOGS[@]}" <<'PY'
import json, sys
passed = failed = skipped = 0
failed += int(sys.argv[1])
for path in sys.argv[2:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        print(f"{path}: no test log (the test run did not start)")
        failed += 1
        continue
    for line in lines:
        r = json.loads(line)
        res = r["result"]
        if res in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif res == "SKIP":
            skipped += 1
            print(f"skipped: {path.split('/')[0]}: {r['name']}")
        else:
            failed += 1
            print(f"FAILED: {path.split('/')[0]}: {r['name']} ({res})")
            # The last lines the test printed, so a CI log alone says why.
            text = (r.get("stdout") or "") + (r.get("stderr") or "")
            for out in text.splitlines()[-100:]:
                print(f"    | {out}")
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
PY
