#!/usr/bin/env bash
# JSON lines output a plant can build on (issue 12): on a full disk (a 256 KiB tmpfs) every
# line is written or counted as dropped, per kind, never both or neither, and no line is left
# cut in the file; rotation by size (output.jsonl {path, max_bytes, keep}) keeps files under
# max_bytes with whole lines, the number of files asked for, and no line lost; SIGHUP after
# logrotate's rename (and SIGUSR1, which only reopens) makes a new file without losing a line.
source "$(dirname "$0")/lib.sh"
lg_tmp
T=$LG_TMP
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
lg_keys "$T"
# policy FILE JSONL: the default policy on loopback with output.jsonl set to JSONL.
policy() {
	sed -e "s#^  model: .*#  model: $LG_SOURCE/control/defaults/model.json#" \
	    -e "s#source: 10.77.0.2#source: 127.0.0.1#" -e "s#^port: 4739#port: $PORT#" \
	    -e "s#^uadp_port: 4840#uadp_port: 0#" -e "s#^  jsonl: .*#  jsonl: $2#" \
	    "$LG_SOURCE/control/defaults/policy.yaml" > "$1"
}
# run NAME [LINEGATE-ARGS...]: linegate with $T/NAME.yaml in the background (DP), its
# control socket, stats and stderr under $T/NAME.*
run() {
	local name=$1
	shift
	rm -rf "$T/state"
	STATE_DIRECTORY="$T/state" "$LG_BIN_DP" -p "$T/$name.yaml" -B 127.0.0.1 -c "$T/$name.sock" \
		-s "$T/$name.stats" "$@" 2> "$T/$name.err" &
	DP=$!
	LG_PIDS="$LG_PIDS $DP"
	lg_wait_for 5 test -S "$T/$name.sock" || lg_fail "$name: linegate did not start: $(cat "$T/$name.err")"
}
# send N RATE [MORE...]: every enrolled device sends N frames at RATE frames/s in total.
send() {
	local n=$1 rate=$2
	shift 2
	"$LG_BIN_GEN" -p "$T/policy-gen.yaml" -t 127.0.0.1:$PORT -S 127.0.0.1 -n "$n" -r "$rate" -q "$@"
}
# stop NAME: SIGTERM once every frame sent was scored and its line handled; status 0.
stop() {
	local rc=0
	kill -TERM "$DP"
	wait "$DP" || rc=$?
	[ $rc -eq 0 ] || lg_fail "$1: linegate exited with status $rc: $(tail -3 "$T/$1.err")"
}
# settled NAME: the lines the output thread handled (written + dropped) stop changing.
handled() {
	lg_dp_stats "$T/handled.json" "$T/$1.sock"
	lg_json "$T/handled.json" "sum(v['written'] + v['dropped'] for k, v in d['jsonl'].items() if isinstance(v, dict))"
}
settled() {
	local a b
	for _ in $(seq 50); do
		a=$(handled "$1"); sleep 0.3; b=$(handled "$1")
		[ "$a" != "$b" ] || return 0
	done
	lg_fail "$1: the output did not settle"
}
policy "$T/policy-gen.yaml" "\"-\""

cat > "$T/check.py" <<'PY'
"""check.py STATS ERR FILE...: exact per-kind counts against the files' whole lines."""
import json, sys
from lgcheck import check, done

st = json.load(open(sys.argv[1]))
err = open(sys.argv[2]).read()
lines, raw = [], b""
for f in sys.argv[3:]:
    data = open(f, "rb").read()
    raw += data
    check(f"{f}: ends with a whole line", data == b"" or data.endswith(b"\n"), True)
    for l in data.split(b"\n")[:-1]:
        try:
            lines.append(json.loads(l))
        except ValueError:
            check(f"{f}: a line that is not JSON", l[:80], None)
j = st["jsonl"]
kinds = {"alert": "alerts", "score": "scores", "incident": "incidents", "event": "events"}
for t, k in kinds.items():
    check(f"{k} written = {k} lines in the files", j[k]["written"],
          sum(1 for l in lines if l["type"] == t))
check("nothing abandoned (linegate stopped after the output settled)",
      sum(j[k]["abandoned"] for k in kinds.values()), 0)
check("no ring overflow", st["output_ring_full_scores"] + st["output_ring_full_alerts"], 0)
produced = {"alerts": st["alerts"], "scores": st["scored"] - st["alerts"],
            "incidents": st["incidents"]["events"], "events": st["drift_events"]}
for k in kinds.values():
    check(f"{k}: written + dropped = produced", j[k]["written"] + j[k]["dropped"], produced[k])
check("output_lines = lines written", st["output_lines"], len(lines))
check("output_write_dropped = lines dropped", st["output_write_dropped"],
      sum(j[k]["dropped"] for k in kinds.values()))
check("output_write_dropped_alerts", st["output_write_dropped_alerts"], j["alerts"]["dropped"])
print(json.dumps({k: j[k] for k in kinds.values()}))
done()
PY

echo "== a full disk: 256 KiB of tmpfs for about 8000 lines"
mkdir -p "$T/tiny"
mount -t tmpfs -o size=256k tmpfs "$T/tiny" || lg_skip "cannot mount a tmpfs here"
# The tmpfs goes once linegate closed its file (lg_cleanup would leave it mounted).
cleanup() {
	local p
	for p in $LG_PIDS; do kill -INT "$p" 2>/dev/null || true; done
	for p in $LG_PIDS; do wait "$p" 2>/dev/null || true; done
	umount "$T/tiny" 2>/dev/null || true
	lg_cleanup
}
trap cleanup EXIT
policy "$T/full.yaml" "$T/tiny/out.jsonl"
# a filler takes most of it, removed later: writes that failed work again
head -c 180k /dev/zero > "$T/tiny/filler"
run full
# 8 devices x 1000 frames, a fault on 103 (alerts, an incident, a drift event).
send 1000 4000 -f 103:500:bearing
settled full
rm "$T/tiny/filler"
send 20 4000 --first-seq 1001
settled full
stop full
# Said as it happened, once (within a minute), and when writes worked again (trial Q, s23:
# nothing on stderr until exit)
[ "$(grep -c "^linegate: output: [0-9]* lines not written to $T/tiny/out.jsonl (.* alerts, .* incident lines, .* events, .* scores) since the last line written: No space left on device; they are lost" "$T/full.err")" = 1 ] ||
	lg_fail "full disk: want one line as it happened: $(grep 'linegate: output' "$T/full.err")"
grep -q "^linegate: output: writing to $T/tiny/out.jsonl again ([0-9]* more lines not written since the last such line: [0-9]* alerts, [0-9]* incident lines, [0-9]* events, [0-9]* scores)" "$T/full.err" ||
	lg_fail "full disk: no line when writes worked again: $(grep 'linegate: output' "$T/full.err")"
python3 "$T/check.py" "$T/full.stats" "$T/full.err" "$T/tiny/out.jsonl" || lg_fail "full disk"
python3 - "$T/full.stats" "$T/full.err" <<'PY' || lg_fail "full disk"
import json, sys
from lgcheck import check, done
st = json.load(open(sys.argv[1]))
j = st["jsonl"]
check("lines were dropped (the disk filled)", st["output_write_dropped"] > 0, True)
check("alerts dropped: the disk was full by then", j["alerts"]["dropped"] > 0, True)
check("the summary says why", "not written: No space left on device" in open(sys.argv[2]).read(),
      True)
import re
m = re.search(r"linegate: (\d+) output lines \((\d+) alerts, (\d+) incident lines, (\d+) events\) not written", open(sys.argv[2]).read())
check("the summary's kinds are the counters'", m and tuple(int(x) for x in m.groups()),
      (st["output_write_dropped"], j["alerts"]["dropped"], j["incidents"]["dropped"], j["events"]["dropped"]))
check("no cut line left behind", j["cut_lines_left"], 0)
done()
PY
umount "$T/tiny"

echo "== rotation by size: max_bytes 16384, keep 100 (none deleted)"
mkdir -p "$T/rot"
policy "$T/rot.yaml" "{path: $T/rot/out.jsonl, max_bytes: 16384, keep: 100}"
run rot
send 150 4000 -f 103:75:bearing
settled rot
stop rot
rotations=$(lg_json "$T/rot.stats" "d['jsonl']['rotations']")
files=("$T/rot/out.jsonl")
for i in $(seq "$rotations"); do files+=("$T/rot/out.jsonl.$i"); done
python3 "$T/check.py" "$T/rot.stats" "$T/rot.err" "${files[@]}" || lg_fail "rotation"
python3 - "$rotations" "$T/rot" "${files[@]}" <<'PY' || lg_fail "rotation"
import os, sys
from lgcheck import check, done
rot, folder, files = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
check("rotated a few times", rot >= 5, True)
check("files: out.jsonl and one per rotation", sorted(os.listdir(folder)),
      sorted(os.path.basename(f) for f in files))
check("every file at most max_bytes", [f for f in files if os.path.getsize(f) > 16384], [])
check("rotated files are full (within a line of max_bytes)",
      [f for f in files[1:] if os.path.getsize(f) < 16384 - 1100], [])
done()
PY

echo "== rotation keeps 'keep' files: keep 2"
rm -rf "$T/rot" && mkdir -p "$T/rot"
policy "$T/keep.yaml" "{path: $T/rot/out.jsonl, max_bytes: 8192, keep: 2}"
run keep
send 100 4000
settled keep
stop keep
python3 - "$T/keep.stats" "$T/rot" <<'PY' || lg_fail "keep"
import json, os, sys
from lgcheck import check, done
st, folder = json.load(open(sys.argv[1])), sys.argv[2]
files = sorted(os.listdir(folder))
check("rotated more often than it keeps", st["jsonl"]["rotations"] > 2, True)
check("three files: out.jsonl, .1, .2", files, ["out.jsonl", "out.jsonl.1", "out.jsonl.2"])
seqs = []
for f in ["out.jsonl.2", "out.jsonl.1", "out.jsonl"]:
    data = open(os.path.join(folder, f), "rb").read()
    check(f"{f} at most max_bytes, whole lines", (len(data) <= 8192, data.endswith(b"\n")),
          (True, True))
    seqs += [json.loads(l)["seq"] for l in data.split(b"\n")[:-1]
             if json.loads(l).get("device") == 101 and json.loads(l).get("channel") == 0]
check("the newest lines are kept: device 101 channel 0 up to its last frame",
      seqs[-1] if seqs else None, 100)
check("in order, none missing across the kept files", seqs, list(range(seqs[0], 101)))
done()
PY

echo "== rotation switched on by a live apply"
rm -rf "$T/rot" && mkdir -p "$T/rot"
policy "$T/live.yaml" "$T/rot/out.jsonl"
policy "$T/live2.yaml" "{path: $T/rot/out.jsonl, max_bytes: 8192, keep: 50}"
run live
send 20 4000
settled live
python3 -c "
import json, sys, lgsock
r = lgsock.call(sys.argv[1], {'cmd': 'apply', 'policy': open(sys.argv[2]).read()})
print(json.dumps(r.get('changes')) if r.get('ok') else 'error: ' + r.get('error', ''))" \
	"$T/live.sock" "$T/live2.yaml" > "$T/live.apply"
python3 - "$T/live.apply" <<'PY' || lg_fail "live apply"
import json, sys
from lgcheck import check, done
ch = json.load(open(sys.argv[1]))
check("the apply's changes", sorted((c["field"], c["old"], c["new"]) for c in ch),
      [("output.jsonl.keep", "0", "50"), ("output.jsonl.max_bytes", "0", "8192")])
done()
PY
send 40 4000 --first-seq 21
settled live
stop live
rotations=$(lg_json "$T/live.stats" "d['jsonl']['rotations']")
files=("$T/rot/out.jsonl")
for i in $(seq "$rotations"); do files+=("$T/rot/out.jsonl.$i"); done
python3 "$T/check.py" "$T/live.stats" "$T/live.err" "${files[@]}" || lg_fail "live apply"
python3 - "$rotations" "${files[@]}" <<'PY' || lg_fail "live apply"
import os, sys
from lgcheck import check, done
rot, files = int(sys.argv[1]), sys.argv[2:]
check("rotated after the apply", rot >= 3, True)
# The file from before the apply (160 lines, ~40 KiB) is rotated before the first line after.
check("files after the first at most max_bytes", [f for f in files[:-1] if os.path.getsize(f) > 8192], [])
check("the oldest is the file from before the apply", os.path.getsize(files[-1]) > 8192, True)
done()
PY

echo "== logrotate: mv, then SIGHUP (reopen and reload); mv, then SIGUSR1 (reopen)"
mkdir -p "$T/hup"
policy "$T/hup.yaml" "$T/hup/out.jsonl"
run hup
# Lines keep coming while the file is renamed and reopened.
send 400 1600 &
GEN=$!
sleep 0.7
mv "$T/hup/out.jsonl" "$T/hup/out.jsonl.1"
kill -HUP "$DP"
lg_wait_for 5 test -e "$T/hup/out.jsonl" || lg_fail "SIGHUP: no new file"
sleep 0.5
mv "$T/hup/out.jsonl" "$T/hup/out.jsonl.2"
kill -USR1 "$DP"
lg_wait_for 5 test -e "$T/hup/out.jsonl" || lg_fail "SIGUSR1: no new file"
wait $GEN
settled hup
stop hup
grep -q "^linegate: reload: ok" "$T/hup.err" || lg_fail "SIGHUP did not reload: $(cat "$T/hup.err")"
python3 "$T/check.py" "$T/hup.stats" "$T/hup.err" "$T/hup/out.jsonl.1" "$T/hup/out.jsonl.2" \
	"$T/hup/out.jsonl" || lg_fail "reopen"
python3 - "$T/hup.stats" "$T/hup" <<'PY' || lg_fail "reopen"
import json, os, sys
from lgcheck import check, done
st, folder = json.load(open(sys.argv[1])), sys.argv[2]
j = st["jsonl"]
check("two reopens", (j["reopens"], j["reopen_errors"]), (2, 0))
check("nothing dropped", sum(j[k]["dropped"] for k in ("alerts", "scores", "incidents", "events")), 0)
n = [sum(1 for _ in open(os.path.join(folder, f))) for f in ("out.jsonl.1", "out.jsonl.2", "out.jsonl")]
check("each of the three files got lines", [x > 0 for x in n], [True, True, True])
check("every frame's line is in one file: 8 devices x 400 frames", sum(n), 3200)
done()
PY
echo "PASS"
