#!/usr/bin/env bash
# linegate-train's federated flow through files: two servers export statistics (one with
# DP noise), a third merges them without local data, and the merged model loads and
# scores; wrong combinations are refused with exit status 2 or 1.
set -u
train=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$train" -m 4 -n 50 -s 1 --stats-out "$dir/a.json" 2>/dev/null || fail "export a"
"$train" -m 4 -n 50 -s 2 --stats-out "$dir/b.json" 2>/dev/null || fail "export b"
"$train" --merge "$dir/a.json" --merge "$dir/b.json" --no-local -m 4 -n 50 -s 3 \
	--stats-out "$dir/ab.json" --out "$dir/m.json" 2>/dev/null || fail "merge"
python3 - "$dir" <<'PY' || exit 1
import json, sys
d = sys.argv[1]
a, b, ab = (json.load(open(f"{d}/{n}.json")) for n in ("a", "b", "ab"))
assert a["count"] == 200 and b["count"] == 200 and ab["count"] == 400, "counts"
for k in ("sum", "sum_outer"):
    for x, y, z in zip(a[k], b[k], ab[k]):
        assert abs(x + y - z) <= 1e-12 * (abs(z) + 1), k
m = json.load(open(f"{d}/m.json"))
assert m["format"] == "linegate-detector" and m["features"] == 18 and m["window"] == 256
assert m["threshold"] > 0
PY
# Noise needs a clip; clip and shift must agree to merge.
"$train" -m 2 -n 20 --stats-out "$dir/x.json" --dp-epsilon 0.5 2>/dev/null
[ $? -eq 2 ] || fail "--dp-epsilon without --clip accepted"
"$train" -m 2 -n 20 --clip 30 --dp-epsilon 0.5 --dp-seed 7 --stats-out "$dir/n.json" \
	2>/dev/null || fail "noised export"
grep -q '"sigma"' "$dir/n.json" || fail "noised statistics do not record sigma"
"$train" --merge "$dir/a.json" --merge "$dir/n.json" --no-local --out "$dir/bad.json" \
	2>/dev/null
[ $? -eq 1 ] || fail "statistics with different clips merged"
"$train" --pca-typo 2>/dev/null
[ $? -eq 2 ] || fail "unknown option accepted"
"$train" --detector pca -m 4 -n 50 --out "$dir/p.json" 2>/dev/null || fail "pca"
grep -q '"detector":"pca"' "$dir/p.json" || fail "pca model kind"
# Both models carry the drift reference of the local rows they were calibrated on (the
# simulator's 200 windows): 9 rising deciles and 10 fractions summing to 1 per feature.
python3 - "$dir/m.json" "$dir/p.json" <<'PY' || fail "the drift reference"
import json, sys
for f in sys.argv[1:]:
    r = json.load(open(f))["reference"]
    assert len(r["edges"]) == 18 and len(r["fractions"]) == 18, f
    for e, q in zip(r["edges"], r["fractions"]):
        assert len(e) == 9 and all(a <= b for a, b in zip(e, e[1:])), (f, e)
        assert len(q) == 10 and abs(sum(q) - 1) < 1e-9, (f, q)
    assert all(abs(x - 0.1) < 1e-9 for x in r["fractions"][1]), r["fractions"][1]  # rms
PY
echo "ok: linegate-train federated flow"
