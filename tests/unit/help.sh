#!/usr/bin/env bash
# Every binary answers --help with its usage on stdout ("Usage: NAME ..." first) and exit
# status 0, and refuses an unknown option with one line on stderr, nothing on stdout and exit
# status 2, before it does any work.
set -u
bin=$1
name=$(basename "$bin")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL $name: $*"; exit 1; }

"$bin" --help >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
[ $rc -eq 0 ] || fail "--help exited $rc, want 0; stderr: $(head -3 "$tmp/err")"
head -1 "$tmp/out" | grep -q "^Usage: $name\( \|\$\)" ||
	fail "--help: first line is '$(head -1 "$tmp/out")', want 'Usage: $name ...'"
[ "$(wc -l <"$tmp/out")" -ge 3 ] || fail "--help: a usage text of fewer than 3 lines"
[ -s "$tmp/err" ] && fail "--help wrote to stderr: $(head -3 "$tmp/err")"

"$bin" --no-such-option >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
[ $rc -eq 2 ] || fail "--no-such-option exited $rc, want 2"
[ "$(wc -l <"$tmp/err")" -eq 1 ] ||
	fail "--no-such-option: want one line on stderr, got: $(head -5 "$tmp/err")"
grep -q 'no-such-option' "$tmp/err" || fail "--no-such-option: the error does not name it"
[ -s "$tmp/out" ] && fail "--no-such-option wrote to stdout: $(head -3 "$tmp/out")"
echo "ok: $name"
