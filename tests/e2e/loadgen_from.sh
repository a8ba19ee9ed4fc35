#!/usr/bin/env bash
# linegate-loadgen --from: a plant's own recordings (WAV, CSV, .npy) sent live as its
# enrolled devices, at the recorded pace, with its labels as the faults whose time to
# insight is measured. A line2 line (tests/line2: physics unlike the built-in simulator, a
# rate and channel count of its own per device) in the three formats:
#  1. known answer (--pcap): every frame's samples are exactly the file's (times the
#     --scale before it), read here by numpy and a WAV chunk reader of its own (not
#     linegate's reader); each .npy at the rate of the --sample-rate right before it; each
#     device's sequences run 1..N, but for one left out at a NaN row's cut (the rows after
#     it are the next frames); its frames are stamped at (k + 1) x samples / rate / pace
#     from the run's start; the labels' onsets fall in the frame their sample is in; the
#     pcap backend admits every frame (tags and rates checked) and drops none;
#  2. refused with their reason: a device the policy does not enroll, a file at another rate
#     than the policy's sample_rate for its device, a capture (named or not), --rate or
#     --fault with --from, --pace without it, a .npy without a rate (also with a
#     --sample-rate after it), a label onset past the recording, a label naming an id, a
#     FIFO, a --gain past the device's last frame; said: a gain's start, what -n sends, a
#     --spoof-from that is an enrolled address, a recording its detector cannot read;
#  3. live in a netns: a model trained on the WAVs' healthy part (linegate-train --labels),
#     linegate in the server namespace, the WAVs sent at 4 x their pace from the line's:
#     linegate admits every frame and drops none, both labelled faults open an incident
#     (the summary's MTTI is the incident's "opened" less the onset frame's send time), and
#     the windows linegate scored are those the frames sent make per device; the end says
#     the --first-seq a next run to the same linegate needs.
source "$(dirname "$0")/lib.sh"
lg_need_root
/usr/bin/python3 -c "import numpy" 2>/dev/null || lg_skip "/usr/bin/python3 has no numpy"
"$LG_BIN_DP" --help | grep "^  pcap:" >/dev/null || lg_skip "this build has no pcap backend"
lg_tmp
T=$LG_TMP
TRAIN="$LG_BUILD/control/linegate-train"
L=$T/line

/usr/bin/python3 "$LG_SOURCE/tests/line2/line2.py" make --seed 5 --devices 4 --faulty 2 \
	--seconds 40 --fault-at 30 --fault-gain 10 --formats wav,csv,npy --out "$L" -q ||
	lg_fail "line2 could not make the line"
FROM=()
for f in "$L"/wav/*.wav; do FROM+=(--from "$f"); done

# 1. Known answer: a WAV at --scale 2, a CSV, and two .npy files, each at the rate of the
#    --sample-rate right before it (as linegate-train reads them), the second with a NaN row
#    (its rows before and after are two segments: a sequence number left out between them).
rate_of() { lg_json "$L/manifest.json" "[x for x in d['devices'] if x['name'] == '$1'][0]['sample_rate']"; }
D2_RATE=$(rate_of l2s5-d002)
D3_RATE=$(rate_of l2s5-d003)
/usr/bin/python3 -c "import numpy as np, sys; x = np.load(sys.argv[1]); x[30000] = np.nan
np.save(sys.argv[2], x)" "$L/npy/l2s5-d003.npy" "$T/d3nan.npy" || lg_fail "d3nan.npy"
rc=0
"$LG_BIN_GEN" -p "$L/policy.yaml" -t 10.77.0.1 --scale 2 --from "$L/wav/l2s5-d000.wav" \
	--scale 1 --from "l2s5-d001=$L/csv/l2s5-d001.csv" --sample-rate "$D2_RATE" \
	--from "$L/npy/l2s5-d002.npy" --sample-rate "$D3_RATE" --from "l2s5-d003=$T/d3nan.npy" \
	--pace 2 --labels "$L/labels.csv" --pcap "$T/ka.pcap" \
	--ground-truth "$T/ka_gt.jsonl" -j "$T/ka.json" 2> "$T/ka.err" || rc=$?
[ $rc -eq 0 ] || lg_fail "loadgen --from into a pcap: status $rc: $(cat "$T/ka.err")"
cat "$T/ka.err"
# with the levels, at --scale 2 twice what linegate-train says of the file at --scale 1
# (0.4055, peak 8.879; 0.3249, peak 9.037): a --scale in the wrong place shows
grep -q "^loadgen: l2s5-d000 (id [0-9]*) from .*l2s5-d000.wav: 16000 Hz, 2 channels, 40.000 s, 5000 frames of 128 samples; rms 0.8111 (peak 17.76), 0.6499 (peak 18.07)$" "$T/ka.err" ||
	lg_fail "the WAV's line: $(cat "$T/ka.err")"
/usr/bin/python3 - "$T/ka.pcap" "$L" "$T/ka_gt.jsonl" "$D2_RATE" "$T/d3nan.npy" <<'PY' || lg_fail "the frames are not the files' samples"
import json, struct, sys
import numpy as np
pcap, line, gt, d2_rate, d3nan = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
man = {d["id"]: d for d in json.load(open(line + "/manifest.json"))["devices"]}
d = open(pcap, "rb").read()
assert struct.unpack("<I", d[:4])[0] == 0xa1b23c4d  # nanosecond stamps
off, frames = 24, {}
while off < len(d):
    sec, frac, cap, _ = struct.unpack("<IIII", d[off:off + 16])
    pkt = d[off + 16:off + 16 + cap]
    off += 16 + cap
    ip = 14 + (pkt[14] & 15) * 4
    lgf = pkt[ip + 8:]
    dev, = struct.unpack("<I", lgf[4:8])
    fmt, ch = lgf[10], lgf[11]
    rate, = struct.unpack("<I", lgf[12:16])
    n, = struct.unpack("<H", lgf[16:18])
    seq, = struct.unpack("<Q", lgf[24:32])
    assert fmt == 2 and len(lgf) == 40 + n * ch * 4 + 16, (fmt, len(lgf), n, ch)
    x = np.frombuffer(lgf[40:40 + n * ch * 4], dtype="<f4").reshape(n, ch)
    frames.setdefault(dev, []).append((sec * 10**9 + frac, rate, n, seq, x))

def wav(path):  # the data chunk of a (WAVE_FORMAT_EXTENSIBLE) WAV, read here
    b, i = open(path, "rb").read(), 12
    while True:
        cid, sz = b[i:i + 4], struct.unpack("<I", b[i + 4:i + 8])[0]
        if cid == b"fmt ":
            chn, bits = struct.unpack("<H", b[i + 10:i + 12])[0], struct.unpack("<H", b[i + 22:i + 24])[0]
        if cid == b"data":
            data = b[i + 8:i + 8 + sz]
            break
        i += 8 + sz + (sz & 1)
    if bits == 16:
        return np.frombuffer(data, dtype="<i2").reshape(-1, chn) / 32768.0
    return np.frombuffer(data, dtype="<f4").reshape(-1, chn)

want = {}
for i, (dev, m) in enumerate(sorted(man.items())[:3]):
    name = m["name"]
    want[dev] = (wav(f"{line}/wav/{name}.wav"),
                 np.loadtxt(f"{line}/csv/{name}.csv", delimiter=",", skiprows=1)[:, 1:],
                 np.load(f"{line}/npy/{name}.npy"))[i]
    want[dev] = want[dev].reshape(len(want[dev]), -1).astype(np.float32)
want[sorted(man)[0]] *= 2  # --scale 2
# the fourth: rows 0..29999 and 30001.. (row 30000 NaN) as two segments of 256-sample
# frames; one sequence number left out between them
d3 = sorted(man)[3]
f3 = frames.pop(d3)
x3 = np.load(d3nan).astype(np.float32).reshape(-1)  # (n, 1): one channel
k1 = 30000 // 256
seq3 = [f[3] for f in f3]
assert seq3 == list(range(1, k1 + 1)) + list(range(k1 + 2, len(f3) + 2)), "d003 sequences"
assert all(f[1] == man[d3]["sample_rate"] for f in f3), "d003 rate"
assert np.array_equal(np.concatenate([f[4] for f in f3[:k1]])[:, 0], x3[:k1 * 256])
seg2 = np.concatenate([f[4] for f in f3[k1:]])[:, 0]
assert np.array_equal(seg2, x3[30001:30001 + len(seg2)]), "d003 second segment"
print(f"{man[d3]['name']}: {len(f3)} frames, sequence {k1 + 1} left out at the NaN row's gap")
assert sorted(frames) == sorted(want), (sorted(frames), sorted(want))
base = []
for dev, fs in frames.items():
    rate = man[dev]["sample_rate"] if dev != sorted(man)[2] else d2_rate
    n = fs[0][2]
    got = np.concatenate([f[4] for f in fs])
    assert [f[3] for f in fs] == list(range(1, len(fs) + 1)), "sequences"
    assert all(f[1] == rate for f in fs), ("rate", fs[0][1], rate)
    assert len(fs) == len(want[dev]) // n, (len(fs), len(want[dev]), n)
    assert np.array_equal(got, want[dev][:len(got)]), dev
    # at --pace 2: frame k is due when its last sample has been measured, over 2
    # (every device's from the same start)
    base += [f[0] - (k + 1) * n / rate / 2 * 1e9 for k, f in enumerate(fs)]
    print(f"{man[dev]['name']}: {len(fs)} frames of {n} x {fs[0][4].shape[1]}, exact")
print(f"stamps: (k + 1) x samples / rate / 2 from one start, within {(max(base) - min(base)) / 1e3:.3f} us")
assert max(base) - min(base) < 1000, "stamps off the pace"
for g in map(json.loads, open(gt)):
    dev = g["device"]
    n = frames[dev][0][2]
    rate = man[dev]["sample_rate"]
    k = int(g["onset_s"] * rate) // n
    assert g["onset_frame"] == k and g["onset_seq"] == k + 1 and g["sent"], (g, k)
    assert g["onset_host_ns"] == frames[dev][k][0], "onset stamp"
    assert g["severity"] is None and g["kind"] == man[dev]["fault"]["kind"], g
    print(f"{g['name']}: {g['kind']} onset {g['onset_s']} s = frame {k}")
PY
rc=0
timeout 120 "$LG_BIN_DP" -p "$L/policy.yaml" -b "pcap:file=$T/ka.pcap" -s "$T/ka_stats.json" \
	-o /dev/null 2> "$T/ka_dp.err" || rc=$?
[ $rc -eq 0 ] || lg_fail "the pcap backend on loadgen's pcap: status $rc: $(tail -3 "$T/ka_dp.err")"
SENT=$(lg_json "$T/ka.json" 'd["sent"]')
[ "$(lg_json "$T/ka_stats.json" 'd["admitted"]')" = "$SENT" ] &&
	[ "$(lg_json "$T/ka_stats.json" 'd["dropped"]')" = 0 ] ||
	lg_fail "replay of $SENT frames: $(cat "$T/ka_stats.json")"
echo "pcap backend: $SENT of $SENT admitted, none dropped"
# The trainer follows the same capture as the data plane does (<linegate/follow.h>): stamped at
# twice the samples' pace, each device is one segment, and the NaN row's left-out sequence
# number the one gap (trial X2, s26: a --pace 4 recording gave 0 windows, every frame cut).
"$TRAIN" --policy "$L/policy.yaml" --from "$T/ka.pcap" --labels "$L/labels.csv" \
	-o "$T/ka_model.json" > "$T/ka_train.out" 2>&1 || lg_fail "linegate-train on ka.pcap: $(cat "$T/ka_train.out")"
for d in l2s5-d000 l2s5-d001 l2s5-d002; do
	grep -q "ka.pcap: device $d: .* 40.0 s in 1 segment(s)$" "$T/ka_train.out" ||
		lg_fail "$d is not one segment: $(grep -E 'segment|gaps' "$T/ka_train.out")"
done
grep -q "ka.pcap: device l2s5-d003: .* 40.0 s in 2 segment(s)$" "$T/ka_train.out" &&
	grep -q " 0 out of order, 1 gaps," "$T/ka_train.out" ||
	lg_fail "l2s5-d003 (a NaN row) is not two segments: $(grep -E 'segment|gaps' "$T/ka_train.out")"
echo "linegate-train: ka.pcap at --pace 2 read as the data plane follows it (1 gap, the NaN row's)"

# A recording in two captures whose names sort against their times: read in time order, one
# stream, nothing out of order (trial X3, s27: rec/*.pcapng after a prefix change lost 70%)
"$LG_BIN_GEN" -p "$L/policy.yaml" -t 10.77.0.1 --from "$L/wav/l2s5-d000.wav" --pace 100 \
	--pcap "$T/z-first.pcap" -q || lg_fail "z-first.pcap"
"$LG_BIN_GEN" -p "$L/policy.yaml" -t 10.77.0.1 --from "$L/wav/l2s5-d000.wav" --pace 100 \
	--first-seq 5001 --pcap "$T/a-second.pcap" -q || lg_fail "a-second.pcap"
"$TRAIN" --policy "$L/policy.yaml" --from "$T/a-second.pcap" --from "$T/z-first.pcap" \
	--healthy-before 1000 -o "$T/two.json" > "$T/two.out" 2>&1 || lg_fail "two captures: $(cat "$T/two.out")"
grep -q "captures read in the order of their first frames' times, not as given (2 moved): $T/z-first.pcap, $T/a-second.pcap$" "$T/two.out" &&
	grep -q " 0 out of order, 0 gaps," "$T/two.out" ||
	lg_fail "two captures out of name order: $(grep -E 'captures|segment|order' "$T/two.out")"
echo "linegate-train: two captures named against their times, read in time order, one stream"
# the same capture twice: read once, said (trial X4, s27: counted as out of order, no word)
"$TRAIN" --policy "$L/policy.yaml" --from "$T/z-first.pcap" --from "$T/../$(basename "$T")/z-first.pcap" \
	--healthy-before 1000 -o "$T/twice.json" > "$T/twice.out" 2>&1 || lg_fail "twice: $(cat "$T/twice.out")"
grep -q "warning: .*z-first.pcap is $T/z-first.pcap again (the same file): read once$" "$T/twice.out" &&
	grep -q " 0 out of order, 0 gaps," "$T/twice.out" || lg_fail "the same capture twice: $(cat "$T/twice.out")"

# Into a pcap, no --target needed (trial X2, s26: it was required)
"$LG_BIN_GEN" -p "$L/policy.yaml" --from "$L/wav/l2s5-d000.wav" --pace 0 --pcap "$T/not.pcap" -q ||
	lg_fail "--pcap without --target"
[ -s "$T/not.pcap" ] || lg_fail "--pcap without --target wrote nothing"

# 2. Refused, each with its reason.
sed 's/^    name: l2s5-d000$/&\n    sample_rate: 8000/' "$L/policy.yaml" > "$L/rate.yaml"
grep -q "sample_rate: 8000" "$L/rate.yaml" || lg_fail "could not write rate.yaml"
cp "$L/labels.csv" "$T/late.csv"
echo "l2s5-d002,looseness,40.5," >> "$T/late.csv"
refused() { # WANT ARGS...: loadgen refuses ARGS, saying WANT
	local want=$1 rc=0
	shift
	"$LG_BIN_GEN" -t 127.0.0.1 --pcap "$T/no.pcap" "$@" > "$T/ref.out" 2> "$T/ref.err" || rc=$?
	[ $rc -ne 0 ] || lg_fail "loadgen accepted $*"
	grep -q -- "$want" "$T/ref.err" || lg_fail "$*: want '$want', got: $(cat "$T/ref.err")"
}
refused "enrolls no device 'nosuch'" -p "$L/policy.yaml" --from "nosuch=$L/wav/l2s5-d000.wav"
refused "16000 Hz, but the policy gives l2s5-d000 (id [0-9]*) sample_rate 8000" -p "$L/rate.yaml" \
	--from "$L/wav/l2s5-d000.wav"
refused "replay it with linegate --backend pcap" -p "$L/policy.yaml" --from "l2s5-d000=$T/ka.pcap"
refused "not with --rate" -p "$L/policy.yaml" "${FROM[@]}" -r 100
refused "not with --fault" -p "$L/policy.yaml" "${FROM[@]}" -f 20001
refused "is for recordings sent with --from" -p "$L/policy.yaml" --pace 2
refused "a .npy file carries no sample rate" -p "$L/policy.yaml" --from "$L/npy/l2s5-d000.npy"
refused "a .npy file carries no sample rate" -p "$L/policy.yaml" --from "$L/npy/l2s5-d000.npy" \
	--sample-rate 16000   # a rate applies to the --from files after it, as for linegate-train
refused "a capture holds its devices' own frames" -p "$L/policy.yaml" --from "$T/ka.pcap"
printf 'device,kind,onset\n%s,inner_race,30\n' "$(lg_json "$L/manifest.json" 'd["devices"][0]["id"]')" > "$T/byid.csv"
refused "is the id of l2s5-d000: labels name devices by their names" -p "$L/policy.yaml" \
	"${FROM[@]}" --labels "$T/byid.csv"
refused "late.csv:4: l2s5-d002's onset 40.5 s is past its last frame sent" -p "$L/policy.yaml" \
	"${FROM[@]}" --labels "$T/late.csv"
mkfifo "$T/fifo.csv"
refused "fifo.csv: not a regular file (a FIFO)" -p "$L/policy.yaml" --from "l2s5-d000=$T/fifo.csv"
D0=$(lg_json "$L/manifest.json" 'd["devices"][0]["id"]')
refused "gain $D0:5000: l2s5-d000 sends frames 0 to 4999 of 128 samples: FRAME must be below 5000" \
	-p "$L/policy.yaml" --from "$L/wav/l2s5-d000.wav" --gain "$D0:5000:2"
echo "refusals: 13 of 13 said why"
# said: a gain's start in the recording's seconds, what -n sends of it, a --spoof-from that is
# a device's own address
"$LG_BIN_GEN" -p "$L/policy.yaml" -t 127.0.0.1 --from "$L/wav/l2s5-d000.wav" -n 100 \
	--gain "$D0:50:2" --spoof 2 --spoof-from 10.77.0.2 --pace 0 --pcap "$T/said.pcap" \
	2> "$T/said.err" || lg_fail "loadgen: $(cat "$T/said.err")"
for want in "l2s5-d000: its samples times 2 from its frame 50 on, 0.400 s into its recording (--gain)" \
	"100 frames of 128 samples (-n: its first 0.800 s sent; the rms and peaks are the whole file's)" \
	"WARNING: --spoof-from 10.77.0.2 is the address l2s5-d000 (id $D0) is enrolled from"; do
	grep -qF "$want" "$T/said.err" || lg_fail "not said: $want: $(cat "$T/said.err")"
done
# Of a device's labels the earliest onset is followed, whatever the file's order.
printf 'device,kind,onset\nl2s5-d000,looseness,30\nl2s5-d000,slip,10\n' > "$T/order.csv"
"$LG_BIN_GEN" -p "$L/policy.yaml" -t 127.0.0.1 --from "$L/wav/l2s5-d000.wav" --pace 0 \
	--labels "$T/order.csv" --pcap "$T/order.pcap" --ground-truth "$T/order_gt.jsonl" \
	2> "$T/order.err" || lg_fail "loadgen --labels order.csv: $(cat "$T/order.err")"
grep -qF "1 later label of a device already labelled left out: its earliest fault is the one followed" \
	"$T/order.err" || lg_fail "the later label not said: $(cat "$T/order.err")"
[ "$(lg_json "$T/order_gt.jsonl" '[d["kind"], d["onset_s"], d["onset_frame"]]')" = "['slip', 10.0, 1250]" ] ||
	lg_fail "not the earliest label followed: $(cat "$T/order_gt.jsonl")"
echo "labels: the earliest of a device's two followed (slip at 10 s, frame 1250)"
# A device's files one after the other, as linegate-train joins them (the WAV, then the CSV
# of the same recording): one recording of two segments.
# (and a third --from of another device after them: three files, two recordings; a pace
# other than 0, whose start line sums the recordings: trial W3 F1, it crashed there)
"$LG_BIN_GEN" -p "$L/policy.yaml" -t 127.0.0.1 --from "$L/wav/l2s5-d000.wav" \
	--from "l2s5-d000=$L/csv/l2s5-d000.csv" --from "$L/wav/l2s5-d001.wav" --pace 1000 \
	--pcap "$T/two.pcap" 2> "$T/two.err" || lg_fail "two files of one device: $(cat "$T/two.err")"
grep -q "^loadgen: 2 recordings, 14000 frames + 0 attack frames at 1000 times the recorded pace (0.1 s) into " \
	"$T/two.err" || lg_fail "two files of one device, the start line: $(cat "$T/two.err")"
grep -q "^loadgen: l2s5-d000 (id [0-9]*) from 2 files: 16000 Hz, 2 channels, 80.000 s, 10000 frames of 128 samples, 2 segments; rms " \
	"$T/two.err" || lg_fail "two files of one device: $(cat "$T/two.err")"
# A .npy whose device has a sample_rate in the policy: the trainer and the sender both take
# it (trial W, s25: the trainer refused it, the sender took it), and say where it came from.
sed 's/^    name: l2s5-d000$/&\n    sample_rate: 16000/' "$L/policy.yaml" > "$L/rate16k.yaml"
# (named as linegate-loadgen names a file's device: DEVICE=FILE; its stem says another)
cp "$L/npy/l2s5-d000.npy" "$T/press.npy"
"$LG_BUILD/control/linegate-train" --policy "$L/rate16k.yaml" --from "l2s5-d000=$T/press.npy" \
	--min-windows 20 -w 2048 -o "$T/r16.json" > /dev/null 2> "$T/r16.err" ||
	lg_fail "train a .npy at its policy rate: $(cat "$T/r16.err")"
grep -q "16000 Hz (the policy's sample_rate)" "$T/r16.err" || lg_fail "train: $(cat "$T/r16.err")"
[ "$(lg_json "$T/r16.json" 'int(d.get("sample_rate") or d["detectors"][0]["model"]["sample_rate"])')" = 16000 ] ||
	lg_fail "the model's rate is not the policy's"
"$LG_BIN_GEN" -p "$L/rate16k.yaml" -t 127.0.0.1 --from "$L/npy/l2s5-d000.npy" --pace 0 \
	--pcap "$T/r16.pcap" 2> "$T/r16g.err" || lg_fail "loadgen: $(cat "$T/r16g.err")"
grep -q "16000 Hz (the policy's sample_rate)" "$T/r16g.err" || lg_fail "loadgen: $(cat "$T/r16g.err")"

# 3. Live: train on the WAVs' healthy part, send them to linegate in the server namespace.
cp "$(lg_demo_key)" "$T/sign.key"
chmod 600 "$T/sign.key"
rc=0
"$TRAIN" "${FROM[@]}" --policy "$L/policy.yaml" --labels "$L/labels.csv" -w 2048 \
	--min-windows 100 --sign-key "$T/sign.key" -o "$L/model.json" > "$T/train.out" \
	2> "$T/train.err" || rc=$?
[ $rc -eq 0 ] || lg_fail "linegate-train: status $rc: $(tail -3 "$T/train.err")"
sed -e "s#^  model: .*#  model: $L/model.json#" -e "s#^  window: .*#  window: 2048#" \
	-e "s#^  trusted_keys: .*#  trusted_keys: [$(cat "$LG_SOURCE/control/defaults/demo-signing.pub")]#" \
	-e "s#key_file: keys/#key_file: $L/keys/#" "$L/policy.yaml" > "$T/policy.yaml"
# A recording sent as a device whose detector reads other channels and another rate: said
# before the run (linegate would drop every frame of it as channels and sample_rate).
"$LG_BIN_GEN" -p "$T/policy.yaml" -t 127.0.0.1 --from "l2s5-d003=$L/wav/l2s5-d000.wav" \
	--pace 0 --pcap "$T/wrong.pcap" 2> "$T/wrong.err" || lg_fail "loadgen: $(cat "$T/wrong.err")"
grep -q "WARNING: l2s5-d003: its recording has 2 channels, its detector in .* reads 1: linegate drops every frame of it (drop reason channels)" "$T/wrong.err" &&
	grep -q "WARNING: l2s5-d003: its recording is at 16000 Hz, its detector in .* reads 21551 Hz" "$T/wrong.err" ||
	lg_fail "no warning of the detector's channels and rate: $(cat "$T/wrong.err")"
lg_netns_up "lgfr$$"
lg_start_linegate
rc=0
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP "${FROM[@]}" \
	--pace 4 --labels "$L/labels.csv" --alerts "$T/out.jsonl" --alerts-wait 10 \
	-j "$T/live.json" 2> "$T/live.err" || rc=$?
cat "$T/live.err"
[ $rc -eq 0 ] || lg_fail "loadgen --from live: status $rc"
grep -q "^loadgen: the devices' sequences went up to 7965; .*give --first-seq 7966 or more" \
	"$T/live.err" || lg_fail "no line for the next run's --first-seq"
lg_dp_admitted_stop "$T/now.json" "$(lg_json "$T/live.json" 'd["sent"]')"
python3 - "$T/live.json" "$T/stats.json" "$T/live.err" <<'PY' || lg_fail "the live run"
import json, re, sys
sent, st = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
# each device's windows of 2048 from the frames loadgen said it sends
windows = sum(int(f) * int(n) // 2048 for f, n in
              re.findall(r"^loadgen: .* (\d+) frames of (\d+) samples", open(sys.argv[3]).read(), re.M))
ok = True
for name, got, want in (("admitted", st["admitted"], sent["sent"]), ("dropped", st["dropped"], 0),
                        ("windows", st["windows"], windows),
                        ("faults with an incident", sent["faults_with_incident"], 2)):
    print(f"{name}: {got} (want {want})")
    ok &= got == want
for f in sent["faults"]:
    print(f"{f['name']} {f['kind']} from {f['onset_s']} s: incident {f['incident']} after "
          f"{f['mtti_ms']} ms")
    ok &= f["mtti_ms"] is not None and 0 <= f["mtti_ms"] < 5000
print("false incidents (healthy devices, or before the onset):", sent["false_incidents"])
sys.exit(0 if ok else 1)
PY
echo PASS
