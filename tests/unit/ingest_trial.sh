#!/usr/bin/env bash
# What trial s20 H found in linegate-train / linegate-quality's ingest, each case failing
# without its fix:
#  - H2: a NaN sample in a pcap recording (LGF, tags right) reached the windows: the trainer's
#    fit failed naming no file, linegate-quality scored the NaN window. Now the frame is
#    dropped as the data plane drops it (policy bad_samples: drop), said with the file, the
#    record and the count, and the trainer and quality take the windows the data plane
#    scores; a CSV with a NaN row trains (it was refused whole), under mask it is masked;
#  - H5: CSV time columns "Time (s)", "time_ms", "Zeit" give the rate; a first column that
#    rises like a clock under another name is refused at --sample-rate, not read as a
#    channel; the trainer says which columns it took as which channels;
#  - L3: --sample-rate over a CSV's time column or a WAV's header is said, prefixed by the
#    tool's own name; L4: a decimal comma is hinted; L5: a CSV cut inside its last row is
#    refused (--allow-cut reads the rows before it); L6: linegate-quality's JSON recall is
#    null with no faulty stream; L8: a rate other than the policy's sample_rate is warned of;
#  - a fit that fails names the device's windows and files.
# Usage: ingest_trial.sh TRAIN QUALITY
set -u
train=$1
quality=$2
src=${LG_SOURCE:-.}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
/usr/bin/python3 -c "import numpy" 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no numpy"; exit 77; }

/usr/bin/python3 "$src/tests/line2/line2.py" make --seed 11 --devices 1 --seconds 30 \
	--formats pcap,csv,wav --out "$dir/l" -q || fail "line2"
L=$dir/l
dev=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['devices'][0]['name'])" "$L/manifest.json")
rate=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['devices'][0]['sample_rate'])" "$L/manifest.json")
echo "device,kind,onset,end" > "$dir/none.csv"

# The same capture with one sample of frame 100 NaN, its tag made again with the key (a
# sensor's NaN the data plane drops and counts as bad_sample).
/usr/bin/python3 - "$src/tests/line2" "$L" "$dir/nan.pcap" <<'PY' || fail "nan.pcap"
import sys, struct
sys.path.insert(0, sys.argv[1])
import line2
import numpy as np
L, out = sys.argv[2], sys.argv[3]
pk = line2.read_pcap(L + "/line.pcap")
w = line2.PcapWriter(out, False)
for n, (ts, pkt) in enumerate(pk):
    sport, fr = line2.udp_payload(pkt)
    if n == 99:
        h = struct.unpack("<2sBBIBBBBIHHfQQ", fr[:40])
        key = bytes.fromhex(open("%s/keys/%s.key" % (L, "l2s11-d000")).read().strip())
        s = np.frombuffer(fr[40:-16], "<f4").reshape(h[9], h[7]).copy()
        s[5, 0] = np.nan
        fr = line2.lgf_frame(key, h[3], h[4], h[12], h[13], h[8], s, "f32", h[11])
        pkt = line2.udp_packet(fr, sport, src="10.77.0.2")
    w.packet(ts, pkt)
w.close()
PY
P=(--policy "$L/policy.yaml")

# H2: the trainer drops the NaN frame, says where, and fits.
"$train" --from "$L/line.pcap" "${P[@]}" -w 2048 --min-windows 20 -o "$dir/m.json" \
	> "$dir/clean.out" 2> "$dir/clean.err" || fail "clean: $(cat "$dir/clean.err")"
# a recording shorter than one PSI block: the model has no drift floor for it, said (trial
# L, s22: an approved candidate then raised PSI drift at its first block, unexplained)
grep -q "linegate-train: $dev: [0-9]* healthy windows, fewer than one PSI block (detection.drift.psi_windows [0-9]*): the model gets no drift floor" \
	"$dir/clean.err" || fail "no word of the missing drift floor: $(cat "$dir/clean.err")"
"$train" --from "$dir/nan.pcap" "${P[@]}" -w 2048 --min-windows 20 -o "$dir/mn.json" \
	> "$dir/nan.out" 2> "$dir/nan.err" || fail "nan.pcap: $(cat "$dir/nan.err")"
grep -q "linegate-train: warning: $dir/nan.pcap: 1 LGF frame(s) or UADP DataSetMessage(s) holding a NaN, infinite or out-of-range sample dropped (bad_samples: drop, the policy's), the first at record 100 (device $dev, sequence 100)" \
	"$dir/nan.err" || fail "no bad-sample warning: $(cat "$dir/nan.err")"
grep -q "linegate-train: $dir/nan.pcap: device $dev: 1 channel(s) .* in 2 segment(s)" "$dir/nan.err" ||
	fail "no per-device note: $(cat "$dir/nan.err")"
# quality: no window holds the NaN; the clean twin's windows less the one it cuts, at most
"$quality" --model "$dir/m.json" --from "$dir/nan.pcap" "${P[@]}" --labels "$dir/none.csv" \
	> "$dir/q.out" 2> "$dir/q.err" || fail "quality nan: $(cat "$dir/q.err")"
"$quality" --model "$dir/m.json" --from "$L/line.pcap" "${P[@]}" --labels "$dir/none.csv" \
	> "$dir/q0.out" 2> "$dir/q0.err" || fail "quality clean: $(cat "$dir/q0.err")"
grep -q "linegate-quality: warning: $dir/nan.pcap: 1 LGF frame(s)" "$dir/q.err" ||
	fail "quality: no warning: $(cat "$dir/q.err")"
grep -q "ignored with --from" "$dir/q0.err" && fail "a -w warning without -w: $(cat "$dir/q0.err")"
# -w beside --from is not what judges: said (trial L, s22: silently ignored)
"$quality" --model "$dir/m.json" --from "$L/line.pcap" "${P[@]}" --labels "$dir/none.csv" \
	-w 1024 > /dev/null 2> "$dir/qw.err" || fail "quality -w: $(cat "$dir/qw.err")"
grep -q "WARNING: -w 1024 is ignored with --from: each device is judged at its detector's window" \
	"$dir/qw.err" || fail "quality: -w ignored in silence: $(cat "$dir/qw.err")"
/usr/bin/python3 - "$dir/q.out" "$dir/q0.out" "$src/tests/line2" "$L/manifest.json" <<'PY' ||
import json, sys
sys.path.insert(0, sys.argv[3])
import line2
q, q0 = (json.loads(open(f).read().strip().splitlines()[-1]) for f in sys.argv[1:3])
d = json.load(open(sys.argv[4]))["devices"][0]
assert q["recall"] is None and q0["recall"] is None, "recall with no faulty stream: null"
assert q["nonfinite_windows"] == 0
# the data plane's windows: the 99 frames before the dropped one, and those after it
c, n, w = line2.frame_samples(d["channels"], "f32"), d["samples"], 2048
assert q0["healthy_windows"] == n // w, q0
assert q["healthy_windows"] == 99 * c // w + (n - 100 * c) // w, (q, 99 * c // w + (n - 100 * c) // w)
assert q["false_alarms"] <= q0["false_alarms"], (q, q0)
PY
	fail "quality figures: $(cat "$dir/q.out")"

# H2 for files: a CSV with a NaN row trains (it was refused whole), the row dropped and said;
# under the policy's bad_samples: mask it is masked.
C=$L/csv/$dev.csv
awk -F, 'NR == 5001 { $2 = "nan" } { print }' OFS=, "$C" > "$dir/$dev.csv"
"$train" --from "$dir/$dev.csv" -w 2048 --min-windows 20 -o "$dir/mc.json" > /dev/null \
	2> "$dir/c.err" || fail "csv nan: $(cat "$dir/c.err")"
grep -q "warning: $dir/$dev.csv: 1 sample row(s) holding a NaN, infinite or out-of-range sample dropped (bad_samples: drop, the default without --policy), the first at line 5001, column 2" \
	"$dir/c.err" || fail "csv: no warning: $(cat "$dir/c.err")"
sed 's/^detection:$/detection:\n  bad_samples: mask/' "$L/policy.yaml" > "$L/mask.yaml"
"$train" --from "$dir/$dev.csv" --policy "$L/mask.yaml" -w 2048 --min-windows 20 \
	-o "$dir/mm.json" > /dev/null 2> "$dir/cm.err" || fail "csv mask: $(cat "$dir/cm.err")"
grep -q "warning: $dir/$dev.csv: 1 NaN, infinite or out-of-range sample(s) masked with their channel's last good value (bad_samples: mask, the policy's), the first at line 5001, column 2" \
	"$dir/cm.err" || fail "csv mask: no warning: $(cat "$dir/cm.err")"

# H5: time columns with units, and the channels taken said.
for h in "Time (s):1" "t [s]:1" "time_ms:1000" "Zeit:1"; do
	name=${h%:*}
	k=${h##*:}
	awk -F, -v n="$name" -v k="$k" 'NR == 1 { $1 = n } NR > 1 { $1 = sprintf("%.9f", $1 * k) } { print }' \
		OFS=, "$C" > "$dir/h.csv"
	"$train" --device "$dev" --from "$dir/h.csv" -w 2048 --min-windows 20 -o "$dir/h.json" \
		> /dev/null 2> "$dir/h.err" || fail "header '$name': $(cat "$dir/h.err")"
	grep -qF "linegate-train: $dir/h.csv: device $dev: 1 channel(s): ch0 = column 2 'ch0'; $rate Hz (from the time column 1 '$name'" \
		"$dir/h.err" || fail "header '$name': $(cat "$dir/h.err")"
done
# an unknown name: refused without a rate (naming the names), and at the rate (a clock)
awk -F, 'NR == 1 { $1 = "Uhrzeit" } { print }' OFS=, "$C" > "$dir/u.csv"
"$train" --from "$dir/u.csv" -w 2048 --min-windows 20 -o "$dir/u.json" > /dev/null 2> "$dir/u.err"
[ $? -eq 1 ] || fail "unknown time name accepted"
grep -q "no sample rate: give one (--sample-rate) or a time column named t, time, zeit or timestamp" \
	"$dir/u.err" || fail "no-rate refusal: $(cat "$dir/u.err")"
"$train" --sample-rate "$rate" --from "$dir/u.csv" -w 2048 --min-windows 20 -o "$dir/u.json" \
	> /dev/null 2> "$dir/u.err"
[ $? -eq 1 ] || fail "a clock column taken as a channel"
grep -q "column 1 ('Uhrzeit') rises evenly .* like a clock: a time column?" "$dir/u.err" ||
	fail "clock refusal: $(cat "$dir/u.err")"

# L3: --sample-rate over a CSV's time column and a WAV's header: said, as the tool.
"$train" --sample-rate 25600 --from "$C" --sample-rate 25600 --from "$L/wav/$dev.wav" \
	-w 2048 --min-windows 20 -o "$dir/o.json" > /dev/null 2> "$dir/o.err"
grep -q "^linegate-train: warning: $C: its time column 1 ('t') gives $rate Hz; --sample-rate 25600 overrides it" \
	"$dir/o.err" || fail "csv override not said: $(cat "$dir/o.err")"
grep -q "^linegate-train: warning: $L/wav/$dev.wav: its header says $rate Hz; --sample-rate 25600 overrides it" \
	"$dir/o.err" || fail "wav override: $(cat "$dir/o.err")"
grep -q "^linegate:" "$dir/o.err" && fail "a message as 'linegate:'"
# ... but a --sample-rate given for an earlier file (an .npy) is not applied to a file that
# carries its own rate (trial T, s24: a 51.2 kHz FLAC after it trained at 8 kHz, exit 0):
# it keeps its own, said; a glob's files go with the --from they follow.
"$train" --sample-rate 25600 --from "$C" --device wav2 --from "$L/wav/$dev.wav" -w 2048 \
	--min-windows 20 -o "$dir/o2.json" > /dev/null 2> "$dir/o2.err" ||
	fail "two files: $(cat "$dir/o2.err")"
grep -q "^linegate-train: $L/wav/$dev.wav: $rate Hz, its header's: --sample-rate 25600 was given for files before it" \
	"$dir/o2.err" || fail "an earlier file's rate applied to a WAV: $(cat "$dir/o2.err")"
grep -q "^linegate-train: wav2: $rate Hz" "$dir/o2.err" ||
	fail "the WAV's device is not at its own rate: $(cat "$dir/o2.err")"
"$train" --sample-rate 25600 --from "$L/wav/$dev.wav" "$C" -w 2048 --min-windows 20 \
	-o "$dir/o3.json" > /dev/null 2> "$dir/o3.err"
grep -q "its header says $rate Hz; --sample-rate 25600 overrides it" "$dir/o3.err" ||
	fail "a glob's first file not overridden: $(cat "$dir/o3.err")"
grep -q "^linegate-train: warning: $C: its time column 1 ('t') gives $rate Hz; --sample-rate 25600 overrides it" \
	"$dir/o3.err" || fail "a glob's second file not overridden: $(cat "$dir/o3.err")"

# a repeated --device joins the next machine's file: said (trial T, s24 LOW)
cp "$C" "$dir/other.csv"
"$train" --device pump-9 --from "$C" --from "$dir/other.csv" -w 2048 --min-windows 20 \
	-o "$dir/j.json" > /dev/null 2> "$dir/j.err"
grep -q "^linegate-train: device pump-9: 2 files joined, in the order given (the first $C)" \
	"$dir/j.err" || fail "joined files not said: $(cat "$dir/j.err")"
# the same file twice for one device: read once, said (trial X4, s27)
"$train" --device pump-9 --from "$C" --from "$C" -w 2048 --min-windows 20 -o "$dir/j2.json" \
	> /dev/null 2> "$dir/j2.err"
grep -q "^linegate-train: warning: $C is $C again (the same file): read once$" "$dir/j2.err" &&
	! grep -q "files joined" "$dir/j2.err" || fail "the same file twice: $(cat "$dir/j2.err")"
# L4: a decimal comma; L5: a CSV cut inside its last row.
printf 't;x\n0,000049;0,1\n' > "$dir/dc.csv"
"$train" --from "$dir/dc.csv" -o "$dir/dc.json" > /dev/null 2> "$dir/dc.err"
grep -q "dc.csv:2:1: a decimal comma?" "$dir/dc.err" || fail "decimal comma: $(cat "$dir/dc.err")"
head -c 1500000 "$C" > "$dir/cut.csv"
"$train" --from "$dir/cut.csv" -w 2048 --min-windows 20 -o "$dir/cut.json" > /dev/null 2> "$dir/cut.err"
[ $? -eq 1 ] && grep -q "the last row has no line end: a copy cut short" "$dir/cut.err" ||
	fail "cut csv: $(cat "$dir/cut.err")"
"$train" --allow-cut --from "$dir/cut.csv" -w 256 --min-windows 20 -o "$dir/cut.json" \
	> /dev/null 2> "$dir/cut.err" || fail "cut csv --allow-cut: $(cat "$dir/cut.err")"
grep -q "warning: $dir/cut.csv:[0-9]*: the last row has no line end (a copy cut short?): left out (--allow-cut)" \
	"$dir/cut.err" || fail "cut csv: no warning: $(cat "$dir/cut.err")"

# L8: frames at another rate than the policy's sample_rate for the device: warned of.
sed "s/^    name: $dev\$/    name: $dev\n    sample_rate: 25600/" "$L/policy.yaml" > "$L/rate.yaml"
grep -q "sample_rate: 25600" "$L/rate.yaml" || fail "rate.yaml"
"$train" --from "$L/line.pcap" --policy "$L/rate.yaml" -w 2048 --min-windows 20 \
	-o "$dir/r.json" > /dev/null 2> "$dir/r.err"
grep -q "warning: device $dev: its samples are at $rate Hz, and the policy's sample_rate for it is 25600 Hz" \
	"$dir/r.err" || fail "rate vs policy: $(cat "$dir/r.err")"
# A fit that fails names the device's data: its windows and files.
awk 'NR == 1 { print "x" } NR > 1 && NR <= 2048 * 120 + 1 { print 0 }' "$C" > "$dir/flat.csv"
"$train" --sample-rate 20480 --from "$dir/flat.csv" -w 2048 --min-windows 20 \
	-o "$dir/flat.json" > /dev/null 2> "$dir/flat.err"
grep -qF "linegate-train: flat: the fit failed (too few windows, or every window alike?): 120 windows of 2048 samples (120 healthy) from $dir/flat.csv" \
	"$dir/flat.err" || fail "fit failure: $(cat "$dir/flat.err")"
echo "ingest_trial: ok"
