#!/usr/bin/env bash
# Real OPC UA publishers on a live line: the messages open62541's publishers sent
# (tests/fixtures/opcua, the UDP payloads as captured) are sent again from the line
# namespace to a running linegate over a veth, with and without XDP and on the AF_XDP
# backend. Exact counters: every message of the enrolled publishers admitted, the windows
# their samples fill, and a second sending of the same recording refused as replays.
# Run with "noxdp" (uring backend, no XDP), "xdp" (XDP admission + uring), "afxdp", or
# "dpdk" (the line recorded on the server's veth, replayed through a net_pcap vdev).
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgou$$"
T=$LG_TMP
F=$LG_SOURCE/tests/fixtures/opcua
MODE=${1:-xdp}
lg_fixture_keys "$T" "$F"/keys/*.key
lg_policy_head "$T/policy.yaml"
cat >> "$T/policy.yaml" <<EOF
  - id: 1
    name: o6-vibration
    source: $LINE_IP
    keys:
      - {id: 1, key_file: keys/k128-1.key}
    uadp: {publisher_id: 4242, writer_group: 7, writer: 17,
           fields: [SourceTime, accel_x, accel_y, temperature, mode, counter]}
  - id: 2
    name: o6-tutorial
    source: $LINE_IP
    keys:
      - {id: 1, key_file: keys/k128-2.key}
    uadp: {publisher_id: 2234, writer_group: 100, writer: 62541, security: none,
           replay: timestamp}
  - id: 3
    name: iop-writer-1
    source: $LINE_IP
    keys:
      - {id: 1, key_file: keys/k128-2.key}
    uadp: {writer_position: 1, security: none, replay: timestamp}
  - id: 4
    name: iop-writer-2
    source: $LINE_IP
    keys:
      - {id: 1, key_file: keys/k128-2.key}
    uadp: {writer_position: 2, security: none, replay: timestamp}
EOF

case $MODE in
noxdp) lg_start_linegate ;;
xdp) lg_start_linegate --xdp lg0 ;;
afxdp) lg_start_linegate --xdp lg0 -b afxdp ;;
dpdk)
	"$LG_BIN_DP" --help | grep '^  dpdk:' >/dev/null ||
		lg_skip "linegate was built without DPDK (-Ddpdk)"
	export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$LG_SOURCE/tests/e2e/dpdk-lsan.supp"
	;;
*) lg_fail "unknown mode $MODE" ;;
esac

# send PCAP...: each capture's UDP payloads, in order, from the line's address.
send() {
	ip netns exec "$NS_LINE" python3 - "$SRV_IP" "$LINE_IP" "$@" <<'PY'
import socket, struct, sys, time
dst, src = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
n = 0
for path in sys.argv[3:]:
    data = open(path, "rb").read()
    off = 24
    while off < len(data):
        _, _, caplen, _ = struct.unpack_from("<IIII", data, off)
        frame = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        ihl = (frame[14] & 0x0F) * 4
        s.sendto(frame[14 + ihl + 8:], (dst, 4840))
        n += 1
        time.sleep(0.0005)
print(f"sent {n} messages")
PY
}

counters() {
	lg_dp_stats "$T/s.json"
	python3 - "$T/s.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
drops = {k: v for k, v in d["drops"].items() if v}
xdp = {k: v for k, v in d.get("xdp", {}).items() if v} if isinstance(d.get("xdp"), dict) else {}
print(d["received"], d["admitted"], drops, d["windows"], xdp)
PY
}

# expect WANT: wait (up to 10 s) until the counters read WANT.
expect() {
	local got=""
	for _ in $(seq 100); do
		got=$(ip netns exec "$NS_SRV" true && counters)
		[ "${got%% \{*}" != "$1" ] || break
		sleep 0.1
	done
	echo "counters: $got"
	[ "${got%% \{*}" = "$1" ] || lg_fail "want received admitted = $1, got $got"
	LAST=$got
}

# The DPDK backend sees the line as recorded on the server's veth (net_pcap vdev): the same
# messages, sent twice, in the frames a NIC would have received.
if [ "$MODE" = dpdk ]; then
	lg_capture_start "$T/line.pcap"
	send "$F/o6-sign128.pcap" "$F/tutorial.pcap"
	send "$F/o6-sign128.pcap" "$F/tutorial.pcap"
	send "$F/o6-enc128.pcap" "$F/iop.pcap"
	lg_capture_stop
	timeout 120 "$LG_BIN_DP" -p "$T/policy.yaml" -o "$T/out.jsonl" -s "$T/s.json" \
		-b "dpdk:nohuge,mem=256,mbufs=2047,sleep=100,vdev=net_pcap0;rx_pcap=$T/line.pcap" \
		2> "$T/dp.err" || { rc=$?; cat "$T/dp.err"; lg_fail "linegate exited with status $rc"; }
	python3 - "$T/s.json" <<'PY' || lg_fail "dpdk counters"
import json, sys
d = json.load(open(sys.argv[1]))
drops = {k: v for k, v in d["drops"].items() if v}
print("dpdk:", d["received"], d["admitted"], drops, d["windows"])
assert (d["received"], d["admitted"], d["windows"]) == (273, 170, 29), d
assert drops == {"replayed": 60, "too_old": 43}, drops
PY
else
# Sign (PubSub-Aes128-CTR) without sequence numbers, and the unsigned tutorial publisher.
send "$F/o6-sign128.pcap" "$F/tutorial.pcap"
expect "103 103"
case $LAST in *"{} 14"*) ;; *) lg_fail "want no drops and 14 windows: $LAST" ;; esac
# The same recording again: every message a replay, refused by the workers.
send "$F/o6-sign128.pcap" "$F/tutorial.pcap"
expect "206 103"
python3 - "$T/s.json" <<'PY' || lg_fail "the replays are not all counted as such"
import json, sys
d = json.load(open(sys.argv[1]))["drops"]
# o6: 59 nonce sequences seen before; tutorial: its newest timestamp again (replayed) and
# 43 older ones (too_old).
assert d["replayed"] == 60 and d["too_old"] == 43, d
PY
# SignAndEncrypt (the same device: its key file holds the whole group key), and the IOP
# publisher, which sends no PublisherId, GroupHeader or PayloadHeader: known by its address,
# its two DataSetMessages by their positions. 2 x 59 messages of 64 samples: 29 windows.
send "$F/o6-enc128.pcap" "$F/iop.pcap"
expect "273 170"
case $LAST in *"} 29"*) ;; *) lg_fail "want 29 windows: $LAST" ;; esac
lg_stop_linegate
# A restarted linegate (the same state folder) still refuses the recording: the newest
# accepted timestamps were kept as each device's high-water mark.
mv "$T/out.jsonl" "$T/out1.jsonl"
case $MODE in
noxdp) lg_start_linegate ;;
xdp) lg_start_linegate --xdp lg0 ;;
afxdp) lg_start_linegate --xdp lg0 -b afxdp ;;
esac
send "$F/o6-sign128.pcap" "$F/tutorial.pcap"
expect "103 0"
# The vibration publisher's 59 at or below its mark (too_old), the tutorial's 43 older ones
# too_old and its newest replayed (inside the window at its mark).
case $LAST in *"{'replayed': 1, 'too_old': 102}"*) ;; *) lg_fail "after the restart: $LAST" ;; esac
lg_stop_linegate
mv "$T/out1.jsonl" "$T/out.jsonl"
fi

# A device without replay protection is said to be one where the change is recorded:
# linegatectl's reply, linegated's audit line, linegate's status.
if [ "$MODE" = noxdp ]; then
	mv "$T/out.jsonl" "$T/out1.jsonl"
	lg_start_linegate
	lg_start_linegated
	# A device with a security group key gets one of the same security policy (104 hex
	# digits for PubSub-Aes128-CTR), under the next key id: the next SecurityTokenId.
	"$LG_BIN_CTL" -s "$T/d.sock" devices rotate-key 1 --grace 1h > "$T/rotate.out" 2>&1 ||
		lg_fail "rotate-key: $(cat "$T/rotate.out")"
	grep -q "the publisher.s SecurityTokenId for it is 2" "$T/rotate.out" &&
		[ "$(stat -c %s "$T/keys/o6-vibration-k2.key")" = 105 ] ||
		lg_fail "the rotated key is not an Aes128 group key: $(cat "$T/rotate.out")"
	# Another EncryptingKey in a key file is another key: diff says so (the fingerprint
	# covers the whole group key, not only its SigningKey).
	python3 -c "
p = '$T/keys/k128-1.key'
k = open(p).read().strip()
open(p, 'w').write(k[:64] + ('0' if k[64] != '0' else '1') + k[65:] + '\\n')"
	"$LG_BIN_CTL" -s "$T/d.sock" diff "$T/policy.yaml" > "$T/diff.out" 2>&1 || true
	grep -q "device 1 keys: 1:e274dbaa .* -> 1:" "$T/diff.out" ||
		lg_fail "a changed EncryptingKey is not in the diff: $(cat "$T/diff.out")"
	cp "$F/keys/k128-1.key" "$T/keys/k128-1.key"
	chmod 600 "$T/keys/k128-1.key"
	sed 's/security: none,$/security: none, replay: none,/; s/           replay: timestamp}$/           }/' \
		"$T/policy.yaml" > "$T/unprotected.yaml"
	grep -q 'replay: none' "$T/unprotected.yaml" || lg_fail "the test's policy edit did nothing"
	"$LG_BIN_CTL" -s "$T/d.sock" apply "$T/unprotected.yaml" > "$T/apply.out" 2>&1 ||
		lg_fail "apply: $(cat "$T/apply.out")"
	grep -q "without replay protection (replay: none): o6-tutorial" "$T/apply.out" ||
		lg_fail "apply's reply does not name the unprotected device: $(cat "$T/apply.out")"
	grep '"result"' "$T/audit.jsonl" | grep -q "without replay protection: o6-tutorial" ||
		lg_fail "the audit line does not name it: $(tail -2 "$T/audit.jsonl")"
	[ "$(lg_ctl "$T/dp.sock" '{"cmd": "status"}' unprotected_devices)" = '"o6-tutorial"' ] ||
		lg_fail "status does not name it"
	echo "unprotected device named in the reply, the audit log and status"
	lg_stop_linegate
	mv "$T/out1.jsonl" "$T/out.jsonl"
fi
# Every window of the vibration publisher came out (29 windows, 2 channels), named by
# its fields.
python3 - "$T/out.jsonl" <<'PY' || lg_fail "outputs"
import json, sys
L = [json.loads(x) for x in open(sys.argv[1])]
# score and alert rows; incident events (detection.incidents) are lines of their own
o6 = [l for l in L if l["device"] == 1 and l["type"] in ("score", "alert")]
inc = [l for l in L if l["type"] == "incident"]
assert len(o6) == 58, len(o6)
# the publisher's clock dates the onset (its DateTime field)
assert all(l["clock"] == "source_time" for l in inc), inc
assert {l["channel_name"] for l in o6} == {"accel_x", "accel_y"}
assert all("temperature" in l["fields"] and l["source_time"].startswith("20") for l in o6)
print(f"outputs: {len(o6)} lines of o6-vibration, e.g. {json.dumps(o6[-1]['fields'])}")
PY
echo "PASS: open62541 captures on a live line ($MODE)"
