#!/usr/bin/env bash
# Real OPC UA publishers, replayed: captures of open62541's own publishers (its tutorial,
# its SignAndEncrypt example, its IOP publisher, and a driver of its library in every
# security mode; tests/fixtures/opcua/README.md says how each was made) go through the
# whole data plane with the pcap backend. Every case checks exact counters (received,
# admitted, each drop reason, windows) and, where the publisher sends samples, what the
# JSON lines say: the channel's field name, the publisher's source time, its other fields.
# The attacker's and the network's versions of the same captures (replayed, tampered,
# reordered, a wrapped sequence, a wrong key, a rotated token) are refused under their own
# reasons.
source "$(dirname "$0")/lib.sh"
lg_tmp
T=$LG_TMP
F=$LG_SOURCE/tests/fixtures/opcua
"$LG_BIN_DP" --help | grep "^  pcap:" >/dev/null || lg_skip "this build has no pcap backend (meson -Dpcap)"
lg_fixture_keys "$T" "$F"/keys/*.key
O6_FIELDS='fields: [SourceTime, accel_x, accel_y, temperature, mode, counter]'
failed=0

# policy FILE DEVICE-YAML...: a policy with the given devices (indented list items).
policy() {
	local f=$1
	shift
	lg_policy_head "$f"
	printf '%s\n' "$@" >> "$f"
}

# o6dev SECURITY-YAML KEY [KEY2]: the open62541 driver's device (PublisherId 4242, writer
# group 7, writer 17) from the capture's loopback address.
o6dev() {
	local keys="      - {id: 1, key_file: $T/keys/$2.key}"
	[ -z "${3:-}" ] || keys="$keys
      - {id: 2, key_file: $T/keys/$3.key}"
	printf '%s\n' "  - id: 1" "    name: o6-vibration" "    source: 127.0.0.1" "    keys:" \
		"$keys" "    uadp: {publisher_id: 4242, writer_group: 7, writer: 17, $1, $O6_FIELDS}"
}

# run NAME PCAP POLICY EXPECT: replay PCAP (its loopback capture left UDP checksums to the
# NIC: csum=off) and check the counters in EXPECT ("key=value ...", keys as in --stats-out,
# drops by their reason name); every reason not named must be 0.
run() {
	local name=$1 pcap=$2 pol=$3 expect=$4 rc=0
	timeout 60 "$LG_BIN_DP" -p "$pol" -b "pcap:file=$pcap,csum=off" -s "$T/$name.stats" \
		-o "$T/$name.jsonl" 2> "$T/$name.err" || rc=$?
	if [ $rc -ne 0 ]; then
		echo "FAIL $name: linegate exited with $rc: $(tail -3 "$T/$name.err")" >&2
		failed=1
		return
	fi
	touch "$T/$name.jsonl"
	python3 - "$T/$name.stats" "$expect" "$name" <<'PY' || failed=1
import json, sys
st = json.load(open(sys.argv[1]))
want = dict(kv.split("=") for kv in sys.argv[2].split())
# A replay's admission (the DPDK backend's, the XDP decision) refuses some records before a
# worker sees them: counted under their reason as the workers' drops are, and received
# here as every record of the capture.
for k, v in st.get("admission", {}).items():
    if v and k not in ("admitted", "audit", "audited", "judged"):
        st["drops"][k] = st["drops"].get(k, 0) + v
        st["received"] += v
        st["dropped"] += v
bad = []
for k, v in want.items():
    got = st["drops"].get(k) if k in st["drops"] else st.get(k)
    if str(got) != v:
        bad.append(f"{k}: got {got}, want {v}")
for k, v in st["drops"].items():
    if v and k not in want:
        bad.append(f"{k}: got {v}, want 0")
drops = {k: v for k, v in st["drops"].items() if v}
print(f"{sys.argv[3]}: received {st['received']} admitted {st['admitted']} drops {drops} "
      f"windows {st['windows']}" + ("" if not bad else "  <-- " + "; ".join(bad)))
sys.exit(1 if bad else 0)
PY
}

# lines NAME CHECK: a Python expression over the list L of the JSON lines' objects (score
# and alert lines; incident lines, checked by incidents.sh, must be on the publisher's clock).
lines() {
	python3 - "$T/$1.jsonl" "$2" "$1" <<'PY' || failed=1
import json, sys
A = [json.loads(x) for x in open(sys.argv[1])]
L = [x for x in A if x["type"] != "incident"]
I = [x for x in A if x["type"] == "incident"]
if any(x["clock"] != "source_time" for x in I if L and "source_time" in L[0]):
    print(f"{sys.argv[3]}: an incident line not on the publisher's clock: {I[0]}")
    sys.exit(1)
ok = bool(eval(sys.argv[2]))
print(f"{sys.argv[3]}: lines: {sys.argv[2]}: {'ok' if ok else 'FAILED'}" +
      (f" ({len(I)} incident lines, clock {I[0]['clock']})" if I else ""))
if not ok and L:
    print("  first line:", json.dumps(L[0]))
sys.exit(0 if ok else 1)
PY
}

v() { python3 "$F/variants.py" "$F/$1.pcap" "$T/$2.pcap" "$3"; }

# devdrops NAME DROPS: the run's one device counts exactly DROPS (a Python dict) as its own
# refusals, and admitted + dropped = received.
devdrops() {
	python3 - "$T/$1.stats" "$2" "$1" <<'PY' || failed=1
import json, sys
st = json.load(open(sys.argv[1]))
d, want = st["devices"][0], eval(sys.argv[2])
ok = d["drops"] == want and d["admitted"] + d["dropped"] == st["received"]
print(f"{sys.argv[3]}: per-device drops {d['drops']}: {'ok' if ok else 'FAILED, want ' + str(want)}")
sys.exit(0 if ok else 1)
PY
}

# --- open62541's tutorial publisher: unsigned, one DateTime field, no sequence numbers.
tut='  - id: 1
    name: tutorial
    source: 127.0.0.1
    keys:
      - {id: 1, key_file: '$T'/keys/k128-1.key}
    uadp: {publisher_id: 2234, writer_group: 100, writer: 62541, security: none'
policy "$T/tut-default.yaml" "$tut}"
policy "$T/tut-ts.yaml" "$tut, replay: timestamp}"
policy "$T/tut-none.yaml" "$tut, replay: none}"
# Without a sequence number its device must choose how replays are caught: by default
# (sequence) every message is refused, under a reason that says so.
run tut-default "$F/tutorial.pcap" "$T/tut-default.yaml" "received=44 admitted=0 no_replay_field=44"
run tut-ts "$F/tutorial.pcap" "$T/tut-ts.yaml" "received=44 admitted=44 windows=0"
v tutorial tut-twice twice
# The second copy of the newest message is inside the window (replayed), the others below it.
run tut-ts-twice "$T/tut-twice.pcap" "$T/tut-ts.yaml" "received=88 admitted=44 replayed=1 too_old=43"
# replay: none takes the recording twice, and says so.
run tut-none-twice "$T/tut-twice.pcap" "$T/tut-none.yaml" \
	"received=88 admitted=88 uadp_unprotected_admitted=88"
grep -q "without replay protection (replay: none): tutorial$" "$T/tut-none-twice.err" || {
	echo "FAIL tut-none-twice: no warning naming the unprotected device" >&2
	failed=1
}

# --- The driver, unsigned with sequence numbers: 59 messages of 64 samples of accel_x and
# accel_y = 3776 samples = 14 windows of 256; temperature, mode and counter become fields.
policy "$T/plain.yaml" "$(o6dev 'security: none' k128-1)"
run plain "$F/o6-plain.pcap" "$T/plain.yaml" "received=59 admitted=59 windows=14"
lines plain 'len(L) == 28 and {l["channel_name"] for l in L} == {"accel_x", "accel_y"}'
lines plain 'L and all(l["source_time"].startswith("2026-") and l["fields"]["mode"] in ("run", "idle") and 40 <= l["fields"]["temperature"] < 41 and isinstance(l["fields"]["counter"], (int, float)) for l in L)'
# The fields are the publisher's: temperature = 40 + 0.01 counter, mode "run" for ten
# messages, then "idle" for ten (delta frames leave an unchanged mode out: it keeps its value).
lines plain 'all(abs(l["fields"]["temperature"] - 40 - 0.01 * l["fields"]["counter"]) < 1e-9 and l["fields"]["mode"] == ("run", "idle")[l["fields"]["counter"] // 10 % 2] for l in L)'
v o6-plain plain-twice twice
run plain-twice "$T/plain-twice.pcap" "$T/plain.yaml" "received=118 admitted=59 replayed=59 windows=14"
v o6-plain plain-swap swap:10
run plain-swap "$T/plain-swap.pcap" "$T/plain.yaml" "received=59 admitted=59 windows=14"
# One forged unsigned message from ten years ahead, first: with replay: timestamp it would
# lift the device's mark and lock every real message out (clock_ahead_ms: 0 shows that);
# the default clock_ahead_ms (60 s) refuses it as future_timestamp and takes the 59.
v o6-plain plain-forged forge:0:16:315360000
policy "$T/plain-ts.yaml" "$(o6dev 'security: none, replay: timestamp' k128-1)"
run plain-forged "$T/plain-forged.pcap" "$T/plain-ts.yaml" "received=60 admitted=59 future_timestamp=1 windows=14"
policy "$T/plain-ts-any.yaml" "$(o6dev 'security: none, replay: timestamp, clock_ahead_ms: 0' k128-1)"
run plain-forged-any "$T/plain-forged.pcap" "$T/plain-ts-any.yaml" "received=60 admitted=1 too_old=59"
# The device's own counters say the same: received = admitted + its drops, by reason.
python3 - "$T/plain-forged.stats" "$T/plain-forged-any.stats" <<'PY' || failed=1
import json, sys
for path, want in zip(sys.argv[1:], ({"future_timestamp": 1}, {"too_old": 59})):
    d = json.load(open(path))["devices"][0]
    ok = d["drops"] == want and d["dropped"] == sum(want.values()) and \
        d["admitted"] + d["dropped"] == 60
    print(f"per-device drops {d['name']}: admitted {d['admitted']} drops {d['drops']}: "
          f"{'ok' if ok else 'FAILED, want ' + str(want)}")
    if not ok:
        sys.exit(1)
PY
policy "$T/plain-signed.yaml" "$(o6dev 'security: sign' k128-1)"
run plain-must-sign "$F/o6-plain.pcap" "$T/plain-signed.yaml" "received=59 admitted=0 unsigned=59"

# --- Sign (PubSub-Aes128-CTR) without sequence numbers: the signed MessageNonce's sequence
# is what replay: nonce (the default for signed devices) checks.
policy "$T/sign.yaml" "$(o6dev 'security: sign' k128-1)"
run sign "$F/o6-sign128.pcap" "$T/sign.yaml" "received=59 admitted=59 windows=14"
v o6-sign128 sign-twice twice
run sign-twice "$T/sign-twice.pcap" "$T/sign.yaml" "received=118 admitted=59 replayed=59 windows=14"
v o6-sign128 sign-tamper tamper:5:200
run sign-tamper "$T/sign-tamper.pcap" "$T/sign.yaml" "received=59 admitted=58 bad_tag=1"
policy "$T/sign-wrongkey.yaml" "$(o6dev 'security: sign' k128-2)"
run sign-wrongkey "$F/o6-sign128.pcap" "$T/sign-wrongkey.yaml" "received=59 admitted=0 bad_tag=59"
policy "$T/sign-seq.yaml" "$(o6dev 'security: sign, replay: sequence' k128-1)"
run sign-seq-none "$F/o6-sign128.pcap" "$T/sign-seq.yaml" "received=59 admitted=0 no_replay_field=59"
run sign-seq "$F/o6-sign128-seq.pcap" "$T/sign-seq.yaml" "received=59 admitted=59 windows=14"

# --- SignAndEncrypt, PubSub-Aes128-CTR and PubSub-Aes256-CTR: verified, then decrypted.
policy "$T/enc128.yaml" "$(o6dev 'security: sign_and_encrypt' k128-1)"
run enc128 "$F/o6-enc128.pcap" "$T/enc128.yaml" "received=59 admitted=59 windows=14"
lines enc128 'len(L) == 28 and all(abs(l["fields"]["temperature"] - 40 - 0.01 * l["fields"]["counter"]) < 1e-9 for l in L)'
policy "$T/enc256.yaml" "$(o6dev 'security: sign_and_encrypt, security_policy: PubSub-Aes256-CTR' k256-1)"
run enc256 "$F/o6-enc256.pcap" "$T/enc256.yaml" "received=59 admitted=59 windows=14"
v o6-enc256 enc256-twice twice
run enc256-twice "$T/enc256-twice.pcap" "$T/enc256.yaml" "received=118 admitted=59 replayed=59 windows=14"
v o6-enc256 enc256-tamper tamper:7:100
run enc256-tamper "$T/enc256-tamper.pcap" "$T/enc256.yaml" "received=59 admitted=58 bad_tag=1"
# A device that must encrypt refuses the same publisher signing only; one that signs takes
# encrypted messages when its key file holds the encrypting key.
run enc-wants-encryption "$F/o6-sign128-seq.pcap" "$T/enc128.yaml" "received=59 admitted=0 not_encrypted=59"
run sign-takes-enc "$F/o6-enc128.pcap" "$T/sign.yaml" "received=59 admitted=59 windows=14"
# The right SigningKey with another EncryptingKey and KeyNonce: every message verifies and
# none opens; each is counted, none admitted.
python3 -c "
k1, k2 = (open('$T/keys/%s.key' % n).read().strip() for n in ('k128-1', 'k128-2'))
open('$T/keys/wrongenc.key', 'w').write(k1[:64] + k2[64:] + '\\n')"
chmod 600 "$T/keys/wrongenc.key"
policy "$T/wrongenc.yaml" "$(o6dev 'security: sign_and_encrypt' wrongenc)"
run wrongenc "$F/o6-enc128.pcap" "$T/wrongenc.yaml" "received=59 admitted=0 uadp_undecryptable=23 no_replay_field=36"
devdrops wrongenc "{'uadp_undecryptable': 23, 'no_replay_field': 36}"
# The wrong security policy's key: refused when the policy is read.
policy "$T/enc-mismatch.yaml" "$(o6dev 'security: sign_and_encrypt, security_policy: PubSub-Aes256-CTR' k128-1)"
if "$LG_BIN_DP" -p "$T/enc-mismatch.yaml" -b "pcap:file=$F/o6-enc128.pcap,csum=off" \
	2> "$T/enc-mismatch.err"; then
	echo "FAIL enc-mismatch: an Aes128 key taken for PubSub-Aes256-CTR" >&2
	failed=1
fi
grep -q "key 1 is a PubSub-Aes128-CTR key, the device's security policy is PubSub-Aes256-CTR" \
	"$T/enc-mismatch.err" || { echo "FAIL enc-mismatch: $(cat "$T/enc-mismatch.err")" >&2; failed=1; }
# ... also for a device that only signs: its group key would open encrypted messages.
policy "$T/sign-mismatch.yaml" "$(o6dev 'security: sign, security_policy: PubSub-Aes256-CTR' k128-1)"
if "$LG_BIN_DP" -p "$T/sign-mismatch.yaml" -b "pcap:file=$F/o6-sign128.pcap,csum=off" \
	2> "$T/sign-mismatch.err" ||
	! grep -q "key 1 is a PubSub-Aes128-CTR key" "$T/sign-mismatch.err"; then
	echo "FAIL sign-mismatch: $(cat "$T/sign-mismatch.err")" >&2
	failed=1
fi
# open62541's own SignAndEncrypt example, with its all-zero keys.
encex='  - id: 1
    name: o6-encrypted-example
    source: 127.0.0.1
    keys:
      - {id: 1, key_file: '$T'/keys/zero128.key}
    uadp: {publisher_id: 2234, writer_group: 100, writer: 62541, security: sign_and_encrypt}'
policy "$T/encex.yaml" "$encex"
run encex "$F/encrypted128.pcap" "$T/encex.yaml" "received=44 admitted=44 windows=0"

# --- Key rotation: token 1 for 30 messages, then token 2 (its nonce sequence restarts).
policy "$T/rot.yaml" "$(o6dev 'security: sign_and_encrypt' k256-1 k256-2)"
run rotate "$F/o6-enc256-rotate.pcap" "$T/rot.yaml" "received=59 admitted=59 windows=14"
policy "$T/rot-old.yaml" "$(o6dev 'security: sign_and_encrypt' k256-1)"
run rotate-old-only "$F/o6-enc256-rotate.pcap" "$T/rot-old.yaml" "received=59 admitted=30 unknown_key=29 windows=7"

# --- Delta frames (a key frame every 5th message) and the DataValue field encoding.
run delta "$F/o6-delta.pcap" "$T/plain.yaml" "received=59 admitted=59 windows=14"
lines delta 'len(L) == 28 and all(abs(l["fields"]["temperature"] - 40 - 0.01 * l["fields"]["counter"]) < 1e-9 and l["fields"]["mode"] == ("run", "idle")[l["fields"]["counter"] // 10 % 2] for l in L)'
run datavalue "$F/o6-datavalue.pcap" "$T/plain.yaml" "received=59 admitted=59 windows=14"

# --- Publishers that send no PublisherId are known by their source address: open62541's
# IOP publisher (no PublisherId, no GroupHeader, no PayloadHeader, two DataSetMessages per
# NetworkMessage, enrolled by position) and the driver without PublisherId and GroupHeader.
iop() {
	printf '%s\n' "  - id: $1" "    name: iop-writer-$2" "    source: $3" "    keys:" \
		"      - {id: 1, key_file: $T/keys/k128-1.key}" \
		"    uadp: {writer_position: $2, security: none, replay: timestamp}"
}
policy "$T/iop.yaml" "$(iop 1 1 127.0.0.1)" "$(iop 2 2 127.0.0.1)"
run iop "$F/iop.pcap" "$T/iop.yaml" "received=8 admitted=8"
policy "$T/iop-elsewhere.yaml" "$(iop 1 1 127.0.0.2)" "$(iop 2 2 127.0.0.2)"
run iop-elsewhere "$F/iop.pcap" "$T/iop-elsewhere.yaml" "received=8 admitted=0 unknown_device=8"
policy "$T/iop-one.yaml" "$(iop 1 1 127.0.0.1)"
run iop-one-position "$F/iop.pcap" "$T/iop-one.yaml" "received=8 admitted=0 unknown_device=8"
nopub='  - id: 1
    name: o6-nopub
    source: 127.0.0.1
    keys:
      - {id: 1, key_file: '$T'/keys/k128-1.key}
    uadp: {writer: 17, security: none, replay: timestamp, '$O6_FIELDS'}'
policy "$T/nopub.yaml" "$nopub"
run nopub "$F/o6-nopub.pcap" "$T/nopub.yaml" "received=59 admitted=59 windows=14"
lines nopub 'len(L) == 28 and all(abs(l["fields"]["temperature"] - 40 - 0.01 * l["fields"]["counter"]) < 1e-9 for l in L)'

# --- RawData (o6-raw.pcap: open62541 sent one message, then failed): no types on the wire,
# so the device's typed 'fields' (the driver's DataSetMetaData: fixtures README) are its
# layout. Four copies of the one message (replay: none takes them) fill one 256-sample window.
O6_RAW='fields: [{name: SourceTime, type: DateTime}, {name: accel_x, type: Float, array: 64},
      {name: accel_y, type: Float, array: ACCEL_Y}, {name: temperature, type: Double},
      {name: counter, type: Int32}]'
rawdev() {
	printf '%s\n' "  - id: 1" "    name: o6-raw" "    source: 127.0.0.1" "    keys:" \
		"      - {id: 1, key_file: $T/keys/k128-1.key}" \
		"    uadp: {publisher_id: 4242, writer_group: 7, writer: 17, security: none," \
		"      replay: none, $1}"
}
v o6-raw raw-2 twice
python3 "$F/variants.py" "$T/raw-2.pcap" "$T/raw-4.pcap" twice
policy "$T/raw.yaml" "$(rawdev "${O6_RAW/ACCEL_Y/64}")"
run raw "$T/raw-4.pcap" "$T/raw.yaml" "received=4 admitted=4 windows=1 uadp_unprotected_admitted=4"
# The fields' values as open62541 encoded them: temperature 40 + 0.01 counter with counter 0,
# the SourceTime field's DateTime (bytes ee6d619b2f84dd01 of the message) as the source time.
lines raw 'len(L) == 2 and {l["channel_name"] for l in L} == {"accel_x", "accel_y"} and all(l["fields"] == {"temperature": 40, "counter": 0} and l["source_time"] == "2026-12-04T20:39:49.6165870Z" for l in L)'
# A layout one element off is refused under its own reason, nothing decoded from it: accel_y
# of 63 (the message's Int32 length says 64) and of 65 (the fields overrun the message).
policy "$T/raw-63.yaml" "$(rawdev "${O6_RAW/ACCEL_Y/63}")"
run raw-63 "$T/raw-4.pcap" "$T/raw-63.yaml" "received=4 admitted=0 uadp_layout_mismatch=4"
devdrops raw-63 "{'uadp_layout_mismatch': 4}"
policy "$T/raw-65.yaml" "$(rawdev "${O6_RAW/ACCEL_Y/65}")"
run raw-65 "$T/raw-4.pcap" "$T/raw-65.yaml" "received=4 admitted=0 uadp_layout_mismatch=4"
# Plain names give no layout: uadp_no_layout, and its reason says what to give.
policy "$T/raw-names.yaml" "$(rawdev "$O6_FIELDS")"
run raw-names "$T/raw-4.pcap" "$T/raw-names.yaml" "received=4 admitted=0 uadp_no_layout=4"
devdrops raw-names "{'uadp_no_layout': 4}"
"$LG_BIN_DP" --drop-reasons | grep "uadp_no_layout.*give its device typed 'fields'" >/dev/null ||
	{ echo "FAIL raw-names: the uadp_no_layout reason does not say what to give" >&2; failed=1; }
# Another writer's layout is not this one's: writer 18 enrolled, the message is writer 17's.
policy "$T/raw-other.yaml" "$(rawdev "${O6_RAW/ACCEL_Y/64}" | sed 's/writer: 17/writer: 18/')"
run raw-other "$T/raw-4.pcap" "$T/raw-other.yaml" "received=4 admitted=0 unknown_device=4"

# --- A signed publisher's 16-bit sequence number wraps (65535 -> 0) inside this recording
# of 300 consecutive messages; a message recorded 33 000 messages (33 s) before, sent again
# after the wrap, unwraps as newer, and its timestamp gives it away.
run wrap-seq "$F/o6-wrap.pcap" "$T/sign-seq.yaml" "received=301 admitted=300 stale_timestamp=1"
run wrap-nonce "$F/o6-wrap.pcap" "$T/sign.yaml" "received=301 admitted=300 stale_timestamp=1"

[ $failed -eq 0 ] || lg_fail "some cases differ (above)"
echo "PASS: open62541 captures"
