#!/usr/bin/env bash
# Every binary meson installs has a man page (docs/man/NAME.SECTION.scd), every long option
# its --help names appears in that page, and every page renders with man. So the pages
# cannot drift from the binaries.
# Usage: man_pages.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
fail=0
installed=$(python3 - "$build/meson-info/intro-installed.json" <<'PY'
import json, os, sys
for built, dest in json.load(open(sys.argv[1])).items():
    if os.path.basename(os.path.dirname(dest)) == 'bin':
        print(built)
PY
)
[ -n "$installed" ] || { echo "FAIL: meson installs no binary?"; exit 1; }
for bin in $installed; do
	name=$(basename "$bin")
	page=$(compgen -G "$src/docs/man/$name.[1-8].scd" | head -1 || true)
	[ -n "$page" ] || { echo "FAIL: $name is installed and has no docs/man/$name.N.scd"; fail=1; continue; }
	[ -x "$bin" ] || { echo "FAIL: $bin is not built"; fail=1; continue; }
	opts=$("$bin" --help </dev/null | grep -o -- '--[a-z][a-z0-9-]*' | sort -u)
	n=0
	for o in $opts; do
		n=$((n + 1))
		grep -qF -- "$o" "$page" || { echo "FAIL: $name --help names $o, ${page##*/} does not"; fail=1; }
	done
	# Both ways: an option the page names that --help does not is a page out of date.
	for o in $(grep -o -- '\*--[a-z][a-z0-9-]*' "$page" | tr -d '*' | sort -u); do
		grep -qxF -- "$o" <<<"$opts" || { echo "FAIL: ${page##*/} names $o, $name --help does not"; fail=1; }
	done
	echo "ok: $name: $n options of --help in ${page##*/}"
done
if command -v scdoc >/dev/null && command -v man >/dev/null; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	for page in "$src"/docs/man/*.scd; do
		base=$(basename "$page" .scd)
		scdoc < "$page" > "$tmp/$base" || { echo "FAIL: scdoc refuses ${page##*/}"; fail=1; continue; }
		out=$(MANWIDTH=80 man -l "$tmp/$base" 2>&1 >/dev/null) && [ -z "$out" ] ||
			{ echo "FAIL: man -l $base: $out"; fail=1; }
		for s in NAME SYNOPSIS DESCRIPTION "SEE ALSO"; do
			grep -q "^# $s\$" "$page" || { echo "FAIL: ${page##*/} has no $s"; fail=1; }
		done
	done
fi
exit $fail
