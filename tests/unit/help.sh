#!/usr/bin/env bash
# Every binary answers --help with its usage on stdout and exit status 0, and refuses an
# unknown option with exit status 2.
set -u
bin=$1
out=$("$bin" --help) || { echo "$bin --help exited $?"; exit 1; }
echo "$out" | head -1 | grep -q '^Usage: ' || { echo "$bin --help: no 'Usage:' line"; exit 1; }
"$bin" --no-such-option >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ] || { echo "$bin --no-such-option exited $rc, want 2"; exit 1; }
echo "ok: $(basename "$bin")"
