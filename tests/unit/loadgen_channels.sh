#!/usr/bin/env bash
# linegate-loadgen --channels takes what LGF carries, 1..16 (trial D: 17 was taken, sent,
# and dropped by linegate as bad_length), and says why when refused; --first-seq never wraps.
set -uo pipefail
GEN=$LG_BUILD/bench/linegate-loadgen
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
for c in 17 255 "1,17" 0; do
	out=$("$GEN" -p /nonexistent.yaml -t 127.0.0.1 -n 1 --channels "$c" 2>&1)
	rc=$?
	[ $rc -eq 2 ] || fail "--channels $c: exit status $rc, want 2: $out"
	grep -q "bad --channels '$c': .*each 1..16: an LGF frame carries at most 16 channels" <<<"$out" ||
		fail "--channels $c not explained: $out"
done
for c in 16 "1,16"; do
	out=$("$GEN" -p /nonexistent.yaml -t 127.0.0.1 -n 1 --channels "$c" 2>&1)
	grep -q -- "--channels" <<<"$out" && fail "--channels $c refused: $out"
done
# --first-seq near 2^64 with more frames than fit: refused, not wrapped to 0 (trial s19 B L6).
out=$("$GEN" -p /nonexistent.yaml -t 127.0.0.1 -n 100 --first-seq 18446744073709551600 2>&1)
rc=$?
[ $rc -eq 2 ] || fail "--first-seq 2^64-16 -n 100: exit status $rc, want 2: $out"
grep -q "would pass 2^64 - 1 and wrap to 0; at most -n 16" <<<"$out" ||
	fail "--first-seq wrap not explained: $out"
out=$("$GEN" -p /nonexistent.yaml -t 127.0.0.1 -n 16 --first-seq 18446744073709551600 2>&1)
grep -q "wrap" <<<"$out" && fail "--first-seq 2^64-16 -n 16 (the last is 2^64-1) refused: $out"
echo "loadgen_channels: $fails failed"
exit $((fails ? 1 : 0))
