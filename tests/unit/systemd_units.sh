#!/usr/bin/env bash
# The systemd units (dist/systemd, as meson configured them) pass `systemd-analyze verify`
# with the build's binaries in ExecStart, and `systemd-analyze security` rates each no worse
# than the exposure docs/operations.md records for it ("Installing as a service").
# Usage: systemd_units.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
command -v systemd-analyze >/dev/null || { echo "SKIP: no systemd-analyze"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
for u in linegate@.service linegated.service; do
	sed -E -e "s#^ExecStart=[^ ]*/linegate #ExecStart=$build/dataplane/linegate #" \
		-e "s#^ExecStart=[^ ]*/linegated #ExecStart=$build/control/linegated #" \
		"$build/dist/$u" > "$tmp/$u"
	grep -q "^ExecStart=$build/" "$tmp/$u" || fail "$u: no ExecStart to point at the build"
done
cd "$tmp"
out=$(systemd-analyze verify --man=no ./linegate@lo.service ./linegated.service 2>&1) ||
	fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify says: $out"
echo "ok: systemd-analyze verify linegate@lo.service linegated.service"
for u in linegate@lo.service linegated.service; do
	doc=${u/@lo/@}
	got=$(systemd-analyze security --offline=yes "./$u" 2>&1 |
		sed -n "s/^→ Overall exposure level for $u: \([0-9.]*\) .*/\1/p")
	[ -n "$got" ] || fail "$u: no exposure level from systemd-analyze security"
	want=$(sed -n "s/^| \`$doc\` | \([0-9.]*\) .*/\1/p" "$src/docs/operations.md")
	[ -n "$want" ] || fail "docs/operations.md records no exposure for $doc"
	awk -v g="$got" -v w="$want" 'BEGIN { exit !(g <= w) }' ||
		fail "$u: exposure $got, worse than the $want docs/operations.md records"
	echo "ok: $u exposure $got (docs: $want)"
done
