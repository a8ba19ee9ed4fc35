#!/usr/bin/env bash
# The Debian package, as an operator gets it: built from a copy of the source tree with
# `dpkg-buildpackage -us -uc -b`, lintian clean (no error or warning; overrides only with a
# reason, in debian/), installed with dpkg -i, then: every binary in it answers --help,
# `man linegate` (and each page) renders, the units pass `systemd-analyze verify`, the
# user linegate exists, the default policy validates; then purged, leaving nothing of it.
# Long (a whole build): the 'package' suite, after the fast ones. Root; skips where dpkg,
# dpkg-buildpackage or lintian are missing, or where linegate is already installed.
# Usage: deb.sh SOURCE_DIR
set -euo pipefail
src=$1
SKIP=77
skip() { echo "SKIP: $*"; exit $SKIP; }
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || skip "needs root (dpkg -i)"
for t in dpkg-buildpackage dpkg lintian systemd-analyze man; do
	command -v $t >/dev/null || skip "$t is not installed"
done
dpkg-query -W -f='${Status}' linegate 2>/dev/null | grep -q "install ok installed" &&
	skip "a linegate package is installed here already: not touching it"
tmp=$(mktemp -d /tmp/linegate-deb.XXXXXX)
installed=0
cleanup() {
	[ $installed = 0 ] || dpkg --purge linegate >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A copy of what git tracks (or of the tree without build folders): dpkg-buildpackage builds
# in the source folder.
ver=$(sed -n '1s/^linegate (\([^)]*\)).*/\1/p' "$src/debian/changelog")
[ -n "$ver" ] || fail "no version in debian/changelog"
# LG_DEB_DIR: a folder where this version is built already (a rerun of the checks alone).
out=${LG_DEB_DIR:-$tmp}
if [ -z "${LG_DEB_DIR:-}" ]; then
	mkdir "$tmp/linegate-$ver"
	if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
		git -C "$src" ls-files -z --cached --others --exclude-standard |
			(cd "$src" && tar --null -cf - -T - 2>/dev/null) | tar -xf - -C "$tmp/linegate-$ver"
	else
		tar -C "$src" --exclude='./build*' --exclude=./.git -cf - . | tar -xf - -C "$tmp/linegate-$ver"
	fi
	echo "building linegate $ver (dpkg-buildpackage -us -uc -b)"
	(cd "$tmp/linegate-$ver" && DEB_BUILD_OPTIONS="parallel=${LG_JOBS:-2}" \
		dpkg-buildpackage -us -uc -b) > "$tmp/build.log" 2>&1 ||
		{ tail -40 "$tmp/build.log"; fail "dpkg-buildpackage failed"; }
fi
deb=$(ls "$out"/linegate_"$ver"_*.deb)
changes=$(ls "$out"/linegate_"$ver"_*.changes)

# lintian: nothing at error or warning level (info and pedantic are listed, not fatal).
lintian --info --display-level '>=info' "$changes" > "$tmp/lintian.txt" 2>&1 || true
cat "$tmp/lintian.txt"
grep -E '^[EW]: ' "$tmp/lintian.txt" && fail "lintian: errors or warnings (above)"

# What the package holds.
dpkg-deb -c "$deb" > "$tmp/contents.txt"
want=(./usr/bin/linegate ./usr/bin/linegated ./usr/bin/linegatectl ./usr/bin/linegate-loadgen
	./usr/bin/linegate-train ./usr/bin/linegate-quality ./usr/bin/lg-model-check
	./lib/systemd/system/linegate@.service ./lib/systemd/system/linegated.service
	./etc/linegate/policy.yaml ./usr/share/man/man8/linegate.8.gz
	./usr/share/man/man5/linegate-policy.5.gz ./usr/lib/sysusers.d/linegate.conf)
for f in "${want[@]}"; do
	grep -q " $f\$" "$tmp/contents.txt" || fail "the package lacks $f"
done

dpkg -i "$deb" > "$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "dpkg -i failed"; }
installed=1
getent passwd linegate >/dev/null || fail "postinst made no user linegate"
[ "$(stat -c %U:%a /etc/linegate/keys)" = linegate:700 ] ||
	fail "/etc/linegate/keys is $(stat -c %U:%a /etc/linegate/keys), want linegate:700"
bins=$(dpkg -L linegate | grep '^/usr/bin/')
n=0
for b in $bins; do
	out=$("$b" --help </dev/null 2>&1) || fail "$b --help exited $?"
	head -1 <<<"$out" | grep -q "^Usage: ${b##*/}" || fail "$b --help: $(head -1 <<<"$out")"
	man -w "${b##*/}" >/dev/null 2>&1 || fail "${b##*/} has no man page installed"
	n=$((n + 1))
done
echo "ok: $n installed binaries answer --help and have a man page"
page=$(MANPAGER=cat MANWIDTH=80 man linegate 2>"$tmp/man.err") || fail "man linegate: $(cat "$tmp/man.err")"
grep -q "^NAME" <<<"$page" && grep -q -- "--user NAME" <<<"$page" ||
	fail "man linegate does not render its page"
for p in $(dpkg -L linegate | grep '^/usr/share/man/'); do
	[ -f "$p" ] || continue
	err=$(MANWIDTH=80 man -l "$p" 2>&1 >/dev/null) && [ -z "$err" ] || fail "man -l $p: $err"
done
echo "ok: man linegate renders, and every page with man -l"
out=$(systemd-analyze verify linegate@lo.service linegated.service 2>&1) && [ -z "$out" ] ||
	fail "systemd-analyze verify: $out"
echo "ok: systemd-analyze verify linegate@lo.service linegated.service"
linegatectl validate /etc/linegate/policy.yaml || fail "the default policy does not validate"

# The maintainer scripts as under systemd, with stubs for systemctl and debhelper's helpers
# (this machine need not run systemd; its /run/systemd/system is a folder of the test's):
# an upgrade stops nothing first and restarts what runs after; a removal stops both
# services (trial N, s22: an upgrade left linegated stopped, a removal left both running).
dpkg-deb -e "$deb" "$tmp/ctrl"
mkdir -p "$tmp/stub" "$tmp/sdrun"
for c in systemctl deb-systemd-invoke deb-systemd-helper systemd-sysusers; do
	printf '#!/bin/sh\necho "%s $*" >> "%s"\n' "$c" "$tmp/calls" > "$tmp/stub/$c"
	chmod +x "$tmp/stub/$c"
done
script() { # script NAME ARGS...: the calls it made, one a line
	: > "$tmp/calls"
	[ -e "$tmp/ctrl/$1" ] || return 0
	sed "s#/run/systemd/system#$tmp/sdrun#g" "$tmp/ctrl/$1" > "$tmp/$1.sh"
	PATH=$tmp/stub:$PATH sh "$tmp/$1.sh" "${@:2}" >/dev/null || fail "$1 ${*:2} failed"
	cat "$tmp/calls"
}
calls=$(script preinst upgrade 0.0.9)
grep -q stop <<<"$calls" && fail "preinst upgrade stops a service: $calls"
calls=$(script postinst configure 0.0.9)
grep -qx "deb-systemd-invoke try-restart linegated.service" <<<"$calls" &&
	grep -qx "deb-systemd-invoke try-restart linegate@\*.service" <<<"$calls" ||
	fail "postinst after an upgrade does not restart what runs: $calls"
calls=$(script postinst configure)
grep -qE "start|restart" <<<"$calls" && fail "a first install starts a service: $calls"
calls=$(script prerm upgrade 0.1.1)
grep -q stop <<<"$calls" && fail "prerm upgrade stops a service: $calls"
calls=$(script prerm remove)
grep -qx "deb-systemd-invoke stop linegated.service linegate@\*.service" <<<"$calls" ||
	fail "prerm remove does not stop the services: $calls"
echo "ok: maintainer scripts: an upgrade restarts what runs, a removal stops it"

dpkg --purge linegate > "$tmp/purge.log" 2>&1 || { cat "$tmp/purge.log"; fail "dpkg --purge failed"; }
installed=0
for f in /usr/bin/linegate /etc/linegate /lib/systemd/system/linegate@.service /var/lib/linegate; do
	[ ! -e "$f" ] || fail "$f is left after the purge"
done
echo "ok: purged, nothing left"
echo PASS
