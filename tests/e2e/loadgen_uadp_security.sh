#!/usr/bin/env bash
# The load generator speaks UADP as each device's policy entry says: SignAndEncrypt with a
# PubSub-Aes256-CTR group key, a publisher without PublisherId or PayloadHeader (known by
# its address and position), and RawData in the layout of a device's typed fields. Loopback
# only: linegate's uring backend on 127.0.0.1.
source "$(dirname "$0")/lib.sh"
lg_tmp
T=$LG_TMP
F=$LG_SOURCE/tests/fixtures/opcua
lg_fixture_keys "$T" "$F"/keys/k256-1.key "$F"/keys/k128-1.key
read -r PORT UPORT < <(python3 -c "
import socket
s = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
for x in s: x.bind(('127.0.0.1', 0))
print(*[x.getsockname()[1] for x in s])")
lg_policy_head "$T/policy.yaml" "$PORT" "$UPORT"
cat >> "$T/policy.yaml" <<EOF
  - id: 1
    name: encrypted-256
    source: 127.0.0.1
    keys:
      - {id: 3, key_file: keys/k256-1.key}
    uadp: {publisher_id: 77, writer_group: 5, writer: 6, security: sign_and_encrypt}
  - id: 2
    name: by-address
    source: 127.0.0.1
    keys:
      - {id: 1, key_file: keys/k128-1.key}
    uadp: {writer_position: 1, writer_group: 9}
  - id: 3
    name: rawdata
    source: 127.0.0.1
    keys:
      - {id: 1, key_file: keys/k128-1.key}
    uadp: {publisher_id: 78, writer_group: 5, writer: 7,
           fields: [{name: temp, type: Double}, {name: accel, type: Float, array: 256},
                    {name: count, type: Int32}]}
EOF
# Once with one worker, once with two: a message that reaches the worker not owning its
# device is handed to the owner and counted there once (uadp_received), encrypted or not.
for workers in 2 1; do
	rm -f "$T/dp.sock" "$T/stats.json" "$T/out.jsonl"
	lg_bg "$LG_BIN_DP" -p "$T/policy.yaml" -B 127.0.0.1 -c "$T/dp.sock" -s "$T/stats.json" \
		-o "$T/out.jsonl" -w $workers 2> "$T/dp.err"
	DP_PID=$!
	lg_wait_for 5 test -S "$T/dp.sock" || lg_fail "linegate did not start: $(cat "$T/dp.err")"
	# The same run twice: the second one's MessageNonces were all taken by the first.
	for run in 1 2; do
		"$LG_BIN_GEN" -p "$T/policy.yaml" -t 127.0.0.1 -S 127.0.0.1 --uadp -n 50 -r 500 -q
	done
	lg_wait_for 10 sh -c "python3 '$LG_SOURCE/tests/e2e/lgsock.py' '$T/dp.sock' \
		'{\"cmd\": \"stats\"}' stats > '$T/s.json' && grep -q '\"received\": *300' '$T/s.json'" ||
		lg_fail "not all 300 messages arrived ($workers workers): $(cat "$T/s.json")"
	lg_stop_linegate
	python3 - "$T/stats.json" $workers <<'PY' || lg_fail "counters with $workers workers (above)"
import json, sys
d = json.load(open(sys.argv[1]))
drops = {k: v for k, v in d["drops"].items() if v}
print(sys.argv[2], "workers: received", d["received"], "uadp_received", d["uadp_received"],
      "admitted", d["admitted"], "drops", drops, "windows", d["windows"])
assert (d["received"], d["admitted"], d["windows"]) == (300, 150, 150), d
assert d["uadp_received"] == 300, d["uadp_received"]
assert drops == {"replayed": 150}, drops
PY
done
# RawData: the samples are field 1 of the layout (a Variant message would have them as its
# field 0, named temp), the scalars zero.
python3 - "$T/out.jsonl" <<'PY' || lg_fail "RawData lines (above)"
import json, sys
L = [json.loads(x) for x in open(sys.argv[1])]
R = [l for l in L if l["type"] != "incident" and l["device"] == 3]
print("rawdata lines", len(R), R[0] if R else None)
assert len(R) == 50, len(R)
assert all(l["channel_name"] == "accel" and l["fields"] == {"temp": 0, "count": 0} for l in R)
PY
echo "PASS: the load generator encrypts and leaves out what a device is not enrolled by"
