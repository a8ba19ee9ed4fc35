#!/usr/bin/env bash
# The samples of a recording larger than the memory (linegate-train and linegate-quality
# --memory, --spill-dir; docs/models.md "Memory"), each case failing without its part:
#  1. past --memory the samples go to unlinked files in --spill-dir, said once and in the
#     summary, and the model has the same bytes as one trained with every sample in memory
#     (pcap: segments that grow frame by frame; .npy: a file's run at once; CSV: its parsed
#     rows, sized by its lines);
#  2. linegate-quality prints the same figures either way;
#  3. a spill folder that does not exist, or whose disk fills, is a clear error (exit 1; a
#     full disk is not a SIGBUS), and a --memory that is no size is refused (exit 2);
#  4. in a memory cgroup of half the peak use with every sample in memory, the default (half
#     the room there is) trains the same model, where --memory 0 is killed by its OOM killer:
#     a pcap line, and two .npy files (each read whole before its segment).
# Usage: train_spill.sh TRAIN QUALITY
set -u
train=$1
quality=$2
src=${LG_SOURCE:-.}
dir=$(mktemp -d /var/tmp/lgt-spill.XXXXXX)
cg=
cleanup() {
	[ -n "$cg" ] && rmdir "$cg" 2>/dev/null
	mountpoint -q "$dir/small" && umount "$dir/small"
	rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
/usr/bin/python3 -c "import numpy" 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no numpy"; exit 77; }

/usr/bin/python3 "$src/tests/line2/line2.py" make --seed 3 --devices 4 --faulty 2 \
	--seconds 90 --fault-at 60 --formats pcap,npy --out "$dir/l" -q || fail "line2"
L=$dir/l
P=(--from "$L/line.pcap" --policy "$L/policy.yaml" --labels "$L/labels.csv")
mkdir "$dir/spill"
# the same model, but for its name
same() {
	/usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
a.pop("name"), b.pop("name")
sys.exit(a != b)
PY
}

# 1. pcap
"$train" "${P[@]}" --memory 0 -o "$dir/mem.json" > /dev/null 2> "$dir/mem.err" ||
	fail "train --memory 0: $(cat "$dir/mem.err")"
grep -q "unlinked files" "$dir/mem.err" && fail "--memory 0 spilled: $(cat "$dir/mem.err")"
"$train" "${P[@]}" --memory 4M --spill-dir "$dir/spill" -o "$dir/sp.json" > /dev/null \
	2> "$dir/sp.err" || fail "train --memory 4M: $(cat "$dir/sp.err")"
grep -q "linegate-train: the samples are past 4 MiB of memory (--memory): the rest are kept in unlinked files in $dir/spill" \
	"$dir/sp.err" || fail "no spill note: $(cat "$dir/sp.err")"
[ "$(grep -c 'the samples are past' "$dir/sp.err")" = 1 ] || fail "spill note not once"
grep -Eq "linegate-train: samples: [0-9.]+ MiB in memory \(--memory 4 MiB\), [0-9.]+ MiB in unlinked files in $dir/spill" \
	"$dir/sp.err" || fail "no spill summary: $(cat "$dir/sp.err")"
same "$dir/mem.json" "$dir/sp.json" || fail "pcap: the spilled model differs"
[ -z "$(ls -A "$dir/spill")" ] || fail "files left in the spill folder: $(ls "$dir/spill")"

# .npy: each file's samples at once (its own rate: the manifest's)
mapfile -t N < <(/usr/bin/python3 "$src/tests/line2/line2.py" args --dir "$L")
"$train" "${N[@]}" --labels "$L/labels.csv" --memory 0 -o "$dir/nmem.json" > /dev/null \
	2> "$dir/nmem.err" || fail "npy --memory 0: $(cat "$dir/nmem.err")"
"$train" "${N[@]}" --labels "$L/labels.csv" --memory 1M --spill-dir "$dir/spill" \
	-o "$dir/nsp.json" > /dev/null 2> "$dir/nsp.err" || fail "npy --memory 1M: $(cat "$dir/nsp.err")"
grep -q "unlinked files" "$dir/nsp.err" || fail "npy: no spill: $(cat "$dir/nsp.err")"
same "$dir/nmem.json" "$dir/nsp.json" || fail "npy: the spilled model differs"

# CSV: a file's parsed rows, sized by its lines, within --memory (s25: they were a heap
# buffer outside it): spilled from the first row on, the same model
/usr/bin/python3 "$src/tests/line2/line2.py" make --seed 3 --devices 2 --faulty 1 \
	--seconds 30 --fault-at 20 --formats csv --out "$dir/c" -q || fail "line2 csv"
C=(--from "$dir/c/csv/l2s3-d000.csv" --from "$dir/c/csv/l2s3-d001.csv" --labels "$dir/c/labels.csv"
	--min-windows 20)
"$train" "${C[@]}" --memory 0 -o "$dir/cmem.json" > /dev/null 2> "$dir/cmem.err" ||
	fail "csv --memory 0: $(cat "$dir/cmem.err")"
"$train" "${C[@]}" --memory 1M --spill-dir "$dir/spill" -o "$dir/csp.json" > /dev/null \
	2> "$dir/csp.err" || fail "csv --memory 1M: $(cat "$dir/csp.err")"
grep -q "unlinked files" "$dir/csp.err" || fail "csv: no spill: $(cat "$dir/csp.err")"
same "$dir/cmem.json" "$dir/csp.json" || fail "csv: the spilled model differs"

# 2. linegate-quality
Q=(--model "$dir/mem.json" --from "$L/line.pcap" --policy "$L/policy.yaml" --labels "$L/labels.csv")
"$quality" "${Q[@]}" --memory 0 > "$dir/q0.out" 2> "$dir/q0.err" || fail "quality: $(cat "$dir/q0.err")"
"$quality" "${Q[@]}" --memory 2M --spill-dir "$dir/spill" > "$dir/q1.out" 2> "$dir/q1.err" ||
	fail "quality --memory 2M: $(cat "$dir/q1.err")"
grep -q "linegate-quality: samples: .* in unlinked files" "$dir/q1.err" || fail "quality: no spill"
grep -q "recall" "$dir/q0.out" || fail "quality printed no recall: $(cat "$dir/q0.out")"
cmp -s "$dir/q0.out" "$dir/q1.out" || fail "quality's figures differ: $(diff "$dir/q0.out" "$dir/q1.out")"

# 3. errors
"$train" "${P[@]}" --memory 1M --spill-dir "$dir/none" -o "$dir/x.json" > /dev/null \
	2> "$dir/none.err"
rc=$?
[ $rc = 1 ] || fail "a missing spill folder: exit $rc"
grep -q "past --memory (1 MiB) and cannot be kept in $dir/none (--spill-dir): No such file or directory" \
	"$dir/none.err" || fail "missing folder: $(cat "$dir/none.err")"
mkdir "$dir/small"
if mount -t tmpfs -o size=2m tmpfs "$dir/small" 2>/dev/null; then
	"$train" "${P[@]}" --memory 1M --spill-dir "$dir/small" -o "$dir/x.json" > /dev/null \
		2> "$dir/small.err"
	rc=$?
	[ $rc = 1 ] || fail "a full spill disk: exit $rc (135 is SIGBUS): $(cat "$dir/small.err")"
	grep -q "cannot be kept in $dir/small (--spill-dir): No space left on device" \
		"$dir/small.err" || fail "full disk: $(cat "$dir/small.err")"
	[ -z "$(ls -A "$dir/small")" ] || fail "a full disk left files: $(ls "$dir/small")"
	# a tmpfs with room: taken, with a warning that it is memory (trial V, s24)
	umount "$dir/small" && mount -t tmpfs -o size=256m tmpfs "$dir/small" ||
		fail "remounting the tmpfs"
	"$train" "${P[@]}" --memory 1M --spill-dir "$dir/small" -o "$dir/x.json" > /dev/null \
		2> "$dir/tmpfs.err" || fail "a tmpfs spill: $(cat "$dir/tmpfs.err")"
	grep -q "warning: $dir/small is a tmpfs, which is memory" "$dir/tmpfs.err" ||
		fail "a tmpfs spill folder not said: $(cat "$dir/tmpfs.err")"
else
	echo "note: no tmpfs could be mounted: the full-disk case is not run"
fi
"$train" "${P[@]}" --memory 12Q -o "$dir/x.json" > /dev/null 2> "$dir/q.err"
rc=$?
[ $rc = 2 ] || fail "--memory 12Q: exit $rc"
grep -q "linegate-train: --memory 12Q: bytes, with K, M, G or T" "$dir/q.err" ||
	fail "--memory 12Q: $(cat "$dir/q.err")"
"$train" "${P[@]}" --memory 0.5GiB -o "$dir/x.json" > /dev/null 2> "$dir/g.err" ||
	fail "--memory 0.5GiB: $(cat "$dir/g.err")"

# 4. a memory cgroup (v1 here; v2 where its memory controller is this process's), with a
# longer line: its peak use with every sample in memory measured first, then halved
source "$src/tests/memcg.sh"
lg_memcg lgt-spill
if [ "${LG_SANITIZE:-none}" != none ]; then
	cg=
	echo "note: a $LG_SANITIZE build: its shadow memory and quarantine are not the tools'; the cgroup case is not run"
elif [ -n "$cg" ] && mkdir "$cg"; then
	in_cg() { sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" "$@"; }
	# halved NAME ARGS...: peak with --memory 0 unlimited, then in half of it: --memory 0
	# killed, the default (half the room there is) trains the same model
	halved() {
		local name=$1 half rc
		shift
		echo -1 > "$cg/$limit" 2>/dev/null || echo max > "$cg/$limit"
		[ -w "$cg/$peak" ] && echo 0 > "$cg/$peak"
		in_cg "$train" "$@" --memory 0 -o "$dir/${name}0.json" > /dev/null \
			2> "$dir/${name}0.err" || fail "$name, --memory 0: $(cat "$dir/${name}0.err")"
		half=$(($(cat "$cg/$peak") / 2))
		echo "$half" > "$cg/$limit" || fail "cgroup: $limit"
		rc=0
		in_cg "$train" "$@" --memory 0 -o "$dir/${name}k.json" > /dev/null 2>&1 || rc=$?
		[ $rc = 137 ] || fail "$name: --memory 0 in a cgroup of half its peak ($((half >> 20)) MiB): exit $rc, not killed"
		in_cg "$train" "$@" --spill-dir "$dir/spill" -o "$dir/$name.json" > /dev/null \
			2> "$dir/$name.err" || fail "$name: the default in $((half >> 20)) MiB: $(cat "$dir/$name.err")"
		grep -q "in unlinked files in $dir/spill" "$dir/$name.err" || fail "$name: no spill"
		same "$dir/${name}0.json" "$dir/$name.json" || fail "$name: the spilled model differs"
		echo "$name: a cgroup of $((half >> 20)) MiB: --memory 0 killed, the default trained the same model"
	}
	/usr/bin/python3 "$src/tests/line2/line2.py" make --seed 4 --devices 3 --seconds 400 \
		--formats pcap --out "$dir/long" -q || fail "line2 (long)"
	halved pcap --from "$dir/long/line.pcap" --policy "$dir/long/policy.yaml"
	# .npy: each file read whole before its segment (trial V, s24: two 48 MiB files in a
	# cgroup the default should have fit were OOM-killed, the file and its samples in memory)
	/usr/bin/python3 -c '
import numpy as np, sys
r = np.random.default_rng(1)
for k in (1, 2):
    np.save("%s/m%d.npy" % (sys.argv[1], k), r.standard_normal(12 << 20).astype(np.float32))
' "$dir" || fail "npy files"
	halved npy --sample-rate 25600 --from "$dir/m1.npy" --from "$dir/m2.npy"
else
	cg=
	echo "note: no writable memory cgroup: the cgroup case is not run"
fi
echo "OK"
