#!/usr/bin/env bash
# docs/drop-reasons.md lists exactly the reasons of include/linegate/frame.h (LG_REASONS)
# and the admission verdicts of include/linegate/admit.h (LG_ADMIT_REASONS), in order, with
# their causes: `linegate --drop-reasons` prints both tables from the code.
set -euo pipefail
want=$("$LG_BUILD/dataplane/linegate" --drop-reasons | grep -E '^\| `')
got=$(grep -E '^\| `' "$LG_SOURCE/docs/drop-reasons.md")
if [ "$want" != "$got" ]; then
	echo "docs/drop-reasons.md differs from the code's table:" >&2
	diff <(echo "$want") <(echo "$got") >&2 || true
	exit 1
fi
echo "drop_reasons_doc: $(echo "$want" | wc -l) reasons, doc matches"
