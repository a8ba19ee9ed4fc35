#!/usr/bin/env bash
# A policy file over linegatectl's read limit is refused before anything is sent, with a
# message that says why ("File too large", the 16 MiB policy limit), not "Argument list
# too long" as a new-user trial saw for a 64 MiB file.
set -uo pipefail
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
head -c 70000000 /dev/zero | tr '\0' 'a' > "$T/big.yaml"
rc=0
"$LG_BUILD/control/linegatectl" -s "$T/none.sock" apply "$T/big.yaml" 2> "$T/err" || rc=$?
[ $rc = 1 ] || { echo "FAIL: exit $rc, want 1"; exit 1; }
grep -q "big.yaml: File too large (a policy may have at most 16 MiB" "$T/err" ||
	{ echo "FAIL: message: $(cat "$T/err")"; exit 1; }
echo "PASS: $(cat "$T/err")"
