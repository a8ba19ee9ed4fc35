#!/usr/bin/env bash
# incidents_knn: an incident of a kNN model resolves once its device is healthy again (trial
# s19 C H2). A kNN model's healthy windows score near 0.8 of its threshold (its threshold sits
# about 25% over their median), so under the policy's hysteresis 0.8 alone a 3-channel device
# window (its channels' highest) was often not "normal", and resolve_after 10 in a row came
# late or never. linegate-train records each detector's normal level (the 99% quantile of its
# held-back healthy device windows over the threshold) and the incident stage takes a window
# as normal below threshold x max(hysteresis, level).
#  1. linegate-loadgen (seed 42, 2 devices, 3 channels) records a healthy line to a pcap;
#     linegate-train --detector knn trains on it and prints each detector's normal level,
#     which the model records (0.8 to 1);
#  2. a replay (pcap backend, deterministic): 50 windows of a bearing fault on press-1-vib
#     (frames the model never saw), then the healthy line again, sequence numbers and clock
#     going on: exactly one incident opens on press-1-vib and it resolves after exactly
#     resolve_after (10) healthy windows; press-2-vib opens none;
#  linegatectl validate and linegate at start say where the level overrides the hysteresis;
#  3. the same model without its normal_level (signed anew: what a model before it gives)
#     resolves the same incident only later (55 healthy windows on this line), as the
#     policy's hysteresis alone decides;
#  4. a new machine (trial s19 C M3): a device the model has no detector for is refused,
#     and accepted with score: false: its frames admitted (and so recordable), its windows
#     counted as not scored (windows_unscored), no score line of it; its frames train its
#     detector with --base (the others kept), and without score: false it is scored.
. "$LG_SOURCE/tests/e2e/lib.sh"
lg_tmp
T=$LG_TMP
"$LG_BIN_DP" --help | grep "^  pcap:" >/dev/null || lg_skip "this build has no pcap backend"
TRAIN="$LG_BUILD/control/linegate-train"
cp -r "$LG_SOURCE/control/defaults/keys" "$T/keys"
chmod 600 "$T"/keys/*
cp "$(lg_demo_key)" "$T/sign.key"
chmod 600 "$T/sign.key"
# the demo line's first two devices (press-1-vib 101, press-2-vib 102), 2048-sample windows
awk '/^devices:/ { d = 1 } d && /^  - id:/ { n++ } !(d && n > 2)' \
	"$LG_SOURCE/control/defaults/policy.yaml" |
	sed -e "s#^  window: .*#  window: 2048\n  incidents: {confirm: 2, of: 3, resolve_after: 10, hysteresis: 0.8, update_ms: 500}#" \
	-e "s#^  trusted_keys: .*#  trusted_keys: [$(cat "$LG_SOURCE/control/defaults/demo-signing.pub")]#" \
	-e "s#^  model: .*#  model: model.json#" > "$T/policy.yaml"
grep -c "^  - id:" "$T/policy.yaml" | grep -qx 2 || lg_fail "the policy: $(cat "$T/policy.yaml")"
gen() { # ARGS...: the two devices, 3 channels at 10 kHz, 39 frames a second each, to a pcap
	"$LG_BIN_GEN" -p "$T/policy.yaml" -t 10.0.0.1 -d 2 -r 78 -s 42 --channels 3 -q "$@" ||
		lg_fail "linegate-loadgen $*"
}

# 1. A healthy recording (6400 frames a device: 800 windows) trains the kNN model.
gen -n 6400 --pcap "$T/healthy.pcap"
rc=0
"$TRAIN" --from "$T/healthy.pcap" --policy "$T/policy.yaml" -w 2048 --min-windows 50 \
	--detector knn --sign-key "$T/sign.key" -o "$T/model.json" > "$T/train.out" \
	2> "$T/train.err" || rc=$?
[ $rc -eq 0 ] || lg_fail "linegate-train: status $rc: $(tail -3 "$T/train.err")"
grep -Eq "^normal level \(.*\): press-1-vib 0\.[89][0-9]{2} press-2-vib 0\.[89][0-9]{2}$" \
	"$T/train.out" || lg_fail "the trainer's normal levels: $(grep normal "$T/train.out")"
python3 - "$T/model.json" <<'PY' || lg_fail "the model's normal levels"
import json, sys
m = json.load(open(sys.argv[1]))
assert len(m["detectors"]) == 2
for e in m["detectors"]:
    assert 0.8 < e["model"]["normal_level"] < 1, e["model"].get("normal_level")
# what a model before it says: no normal_level
for e in m["detectors"]:
    del e["model"]["normal_level"]
json.dump(m, open(sys.argv[1].replace("model.json", "model-old.json"), "w"))
PY
"$LG_BIN_CTL" sign "$T/sign.key" "$T/model-old.json" > /dev/null || lg_fail "sign model-old"
sed "s#^  model: .*#  model: model-old.json#" "$T/policy.yaml" > "$T/policy-old.yaml"
"$LG_BIN_CTL" validate "$T/policy.yaml" > "$T/validate.out" 2>&1 ||
	lg_fail "validate: $(cat "$T/validate.out")"
# validate says where the model's level overrides the policy's hysteresis, and for whom
NOTE="an open incident resolves below threshold x the model's normal level where it is above"
grep -Eq "note: $NOTE detection.incidents' hysteresis 0.80: press-1-vib 0\.[89][0-9]{2}, \
press-2-vib 0\.[89][0-9]{2}$" "$T/validate.out" || lg_fail "validate's note: $(cat "$T/validate.out")"
"$LG_BIN_CTL" validate "$T/policy-old.yaml" > "$T/validate-old.out" 2>&1 ||
	lg_fail "validate old: $(cat "$T/validate-old.out")"
! grep -q "normal level" "$T/validate-old.out" || lg_fail "a note without a level"

# 2. The fault (frames 6400-6799 of the same line: 50 windows the model never saw), then the
# healthy line again, its sequence numbers and clock after the fault's.
gen -n 6800 -f 101:6400:bearing:1 --pcap "$T/fault.pcap"
gen -n 6400 --first-seq 6801 --clock-offset 200 --pcap "$T/again.pcap"
python3 - "$T/replay.pcap" "$T/fault.pcap" "$T/again.pcap" 6401 <<'PY' || lg_fail "splice"
# OUT A B FROMSEQ: A's records whose LGF sequence is at least FROMSEQ, then B's (record times
# moved after A's last where they are not)
import struct, sys
out, a, b, from_seq = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def lgf_at(p):  # Ethernet, IPv4 or IPv6, UDP: where the LGF header starts
    et = struct.unpack(">H", p[12:14])[0]
    return 14 + (40 if et == 0x86DD else (p[14] & 15) * 4) + 8
def records(path):
    buf = open(path, "rb").read()
    off = 24
    while off < len(buf):
        sec, frac, cl, ol = struct.unpack("<IIII", buf[off:off + 16])
        p = buf[off + 16:off + 16 + cl]
        i = lgf_at(p)
        assert p[i:i + 2] == b"LG", (path, off)
        yield sec * 10**9 + frac, struct.unpack("<Q", p[i + 24:i + 32])[0], p, ol
        off += 16 + cl
o = open(out, "wb")
o.write(open(a, "rb").read(24))
last, shift, n = 0, None, 0
def put(t, p, ol):
    o.write(struct.pack("<IIII", t // 10**9, t % 10**9, len(p), ol) + p)
for t, seq, p, ol in records(a):
    if seq >= from_seq:
        put(t, p, ol)
        last, n = t, n + 1
assert n == 2 * 400, n
for t, seq, p, ol in records(b):
    shift = max(0, last + 1000000 - t) if shift is None else shift
    put(t + shift, p, ol)
PY
replay() { # NAME POLICY
	local rc=0
	timeout 120 "$LG_BIN_DP" -p "$2" -b "pcap:file=$T/replay.pcap" -s "$T/$1.stats" \
		-o "$T/$1.jsonl" 2> "$T/$1.err" || rc=$?
	[ $rc -eq 0 ] || lg_fail "$1: linegate exited with status $rc: $(tail -3 "$T/$1.err")"
}
replay new "$T/policy.yaml"
replay old "$T/policy-old.yaml"
grep -q "linegate: model .*model.json: $NOTE the policy's hysteresis .*: press-1-vib 0\.[89]" \
	"$T/new.err" || lg_fail "linegate said nothing of the level at start: $(head -5 "$T/new.err")"
! grep -q "normal level" "$T/old.err" || lg_fail "linegate spoke of a level the model has not"
python3 - "$T/new.jsonl" "$T/old.jsonl" <<'PY' || lg_fail "the incidents of the replays"
import json, sys
def incidents(path):
    ev = [json.loads(l) for l in open(path) if '"type":"incident"' in l]
    return [(e["event"], e["name"], e["incident"], e["windows"], e["alerts"]) for e in ev
            if e["event"] != "update"]
new, old = incidents(sys.argv[1]), incidents(sys.argv[2])
print("normal level:", new)
print("without it:  ", old)
# one incident, opened on the fault, resolved after exactly 10 healthy windows (50 + 10)
assert [e[:2] for e in new] == [("open", "press-1-vib"), ("resolve", "press-1-vib")], new
assert new[0][2] == new[1][2], new
assert new[1][3] == 50 + 10 and new[1][4] == 50, new[1]
# the policy's hysteresis alone: the same incident, resolved later
assert [e[:2] for e in old] == [("open", "press-1-vib"), ("resolve", "press-1-vib")], old
assert old[1][3] > 50 + 20, old[1]
PY
# 4. A new machine (trial s19 C M3): conveyor-1-vib (103), which the model has no detector
# for, is refused as a scored device, and admitted as score: false: its frames verified and
# admitted, its windows counted as not scored, no score line of it; the others scored.
awk '/^devices:/ { d = 1 } d && /^  - id:/ { n++ } !(d && n > 3)' \
	"$LG_SOURCE/control/defaults/policy.yaml" | sed -n '/^devices:/,$p' | tail -n +2 |
	awk '/^  - id:/ { n++ } n == 3' > "$T/dev3.yaml"
[ -s "$T/dev3.yaml" ] || lg_fail "no third device in the default policy"
cp "$T/policy.yaml" "$T/policy3.yaml"
cat "$T/dev3.yaml" >> "$T/policy3.yaml"
rc=0
"$LG_BIN_CTL" validate "$T/policy3.yaml" > "$T/v3.out" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "no detector for device conveyor-1-vib (id 103)" "$T/v3.out" ||
	lg_fail "a device without a detector, scored: $(cat "$T/v3.out")"
sed -i '/^    name: conveyor-1-vib/a\    score: false' "$T/policy3.yaml"
"$LG_BIN_CTL" validate "$T/policy3.yaml" > "$T/v3.out" 2>&1 ||
	lg_fail "score: false refused: $(cat "$T/v3.out")"
"$LG_BIN_GEN" -p "$T/policy3.yaml" -t 10.0.0.1 -d 3 -r 117 -s 42 --channels 3 -q -n 3200 \
	--pcap "$T/three.pcap" || lg_fail "linegate-loadgen, 3 devices"
rc=0
timeout 120 "$LG_BIN_DP" -p "$T/policy3.yaml" -b "pcap:file=$T/three.pcap" -s "$T/three.stats" \
	-o "$T/three.jsonl" 2> "$T/three.err" || rc=$?
[ $rc -eq 0 ] || lg_fail "three: linegate exited with status $rc: $(tail -3 "$T/three.err")"
python3 - "$T/three.stats" "$T/three.jsonl" <<'PY' || lg_fail "score: false in the data plane"
import json, sys
st = json.load(open(sys.argv[1]))
dev = {d["name"]: d for d in st["devices"]}
c = dev["conveyor-1-vib"]
print("conveyor-1-vib:", {k: c.get(k) for k in ("admitted", "windows", "windows_unscored")})
assert c["admitted"] == 3200, c
assert c["windows"] == 400 and c["windows_unscored"] == 400, c
for n in ("press-1-vib", "press-2-vib"):
    assert dev[n]["windows"] == 400 and dev[n]["windows_unscored"] == 0, dev[n]
names = {json.loads(l).get("name") for l in open(sys.argv[2]) if '"type":"score"' in l}
assert names == {"press-1-vib", "press-2-vib"}, names
PY

# ... its frames (what linegatectl record start --device conveyor-1-vib writes: here cut
# from the pcap) train its detector with --base, the others' kept; without score: false the
# policy is valid and the new machine is scored.
python3 - "$T/three.pcap" "$T/new.pcap" 103 <<'PY' || lg_fail "cut device 103"
import struct, sys
b = open(sys.argv[1], "rb").read()
def lgf_at(p):  # Ethernet, IPv4 or IPv6, UDP: where the LGF header starts
    et = struct.unpack(">H", p[12:14])[0]
    return 14 + (40 if et == 0x86DD else (p[14] & 15) * 4) + 8
o = open(sys.argv[2], "wb")
o.write(b[:24])
off, n = 24, 0
while off < len(b):
    cl = struct.unpack("<I", b[off + 8:off + 12])[0]
    p = b[off + 16:off + 16 + cl]
    i = lgf_at(p)
    assert p[i:i + 2] == b"LG", off
    if struct.unpack("<I", p[i + 4:i + 8])[0] == int(sys.argv[3]):
        o.write(b[off:off + 16 + cl])
        n += 1
    off += 16 + cl
assert n == 3200, n
PY
rc=0
"$TRAIN" --from "$T/new.pcap" --policy "$T/policy3.yaml" -w 2048 --min-windows 50 \
	--base "$T/model.json" --sign-key "$T/sign.key" -o "$T/model3.json" > "$T/t3.out" \
	2> "$T/t3.err" || rc=$?
[ $rc -eq 0 ] || lg_fail "linegate-train --base: status $rc: $(tail -3 "$T/t3.err")"
grep -q "^kept from .*model.json: 2 device(s)" "$T/t3.out" || lg_fail "--base: $(cat "$T/t3.out")"
sed -e '/^    score: false/d' -e "s#^  model: .*#  model: model3.json#" "$T/policy3.yaml" \
	> "$T/policy3s.yaml"
"$LG_BIN_CTL" validate "$T/policy3s.yaml" > "$T/v3s.out" 2>&1 ||
	lg_fail "the new machine's model refused: $(cat "$T/v3s.out")"
rc=0
timeout 120 "$LG_BIN_DP" -p "$T/policy3s.yaml" -b "pcap:file=$T/three.pcap" \
	-s "$T/three-s.stats" -o "$T/three-s.jsonl" 2> "$T/three-s.err" || rc=$?
[ $rc -eq 0 ] || lg_fail "three-s: linegate exited with status $rc: $(tail -3 "$T/three-s.err")"
python3 - "$T/three-s.stats" "$T/three-s.jsonl" <<'PY' || lg_fail "the new machine scored"
import json, sys
st = json.load(open(sys.argv[1]))
c = {d["name"]: d for d in st["devices"]}["conveyor-1-vib"]
assert c["windows"] == 400 and c["windows_unscored"] == 0, c
names = {json.loads(l).get("name") for l in open(sys.argv[2]) if '"type":"score"' in l}
assert names == {"press-1-vib", "press-2-vib", "conveyor-1-vib"}, names
PY

echo "PASS: incidents_knn"
