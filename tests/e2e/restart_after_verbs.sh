#!/usr/bin/env bash
# A device removed by apply stays out after linegate restarts, also when an enrollment verb
# rewrote the boot policy file before that apply. A new-user trial found it admitted again:
# linegate kept the boot file's hash from its own start, so the verb's edit looked like an
# operator's edit of the boot file and the next start took the boot file over the last
# applied policy. linegate now records the boot file's hash as it is at each apply.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgrv$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
sed -i 's/^uadp_port: 4840/uadp_port: 0/' "$T/policy.yaml"
cp "$T/policy.yaml" "$T/boot-copy.yaml" # the loadgen's view: device 101 still in it
lg_start_linegate 2> "$T/dp1.err"
lg_start_linegated

# The verb rewrites the boot file and applies it; then an apply removes device 101.
"$LG_BIN_CTL" -s "$T/d.sock" devices enroll --id 120 --name extra-1 --source "$LINE_IP" \
	> "$T/enroll.txt" || lg_fail "enroll: $(cat "$T/enroll.txt")"
python3 - "$T/policy.yaml" "$T/no101.yaml" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
a = s.index("  - id: 101\n")
b = s.index("  - id: ", a + 1)
open(sys.argv[2], "w").write(s[:a] + s[b:])
PY
grep -q 'id: 101$' "$T/no101.yaml" && lg_fail "device 101 is still in no101.yaml"
grep -q 'id: 120$' "$T/no101.yaml" || lg_fail "the enrolled device 120 is not in no101.yaml"
"$LG_BIN_CTL" -s "$T/d.sock" apply "$T/no101.yaml" > /dev/null || lg_fail "apply of no101.yaml"

# linegate dies without a word and starts again with the same arguments.
kill -KILL $DP_PID
wait $DP_PID 2>/dev/null || true
rm -f "$T/dp.sock"
lg_start_linegate 2> "$T/dp2.err"
lg_wait_for 5 grep -q 'enrolled' "$T/dp2.err" || lg_fail "linegate did not start: $(cat "$T/dp2.err")"
grep -q 'last applied' "$T/dp2.err" ||
	lg_fail "the restart did not start from the last applied policy: $(grep -i policy "$T/dp2.err")"
grep -q '8 devices enrolled' "$T/dp2.err" ||
	lg_fail "the restart does not run the 8 devices of the last apply: $(grep enrolled "$T/dp2.err")"

# Device 101 sends (new sequences, so that no replay window is in question): all refused.
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/boot-copy.yaml" -t $SRV_IP -S $LINE_IP -d 1 \
	-n 50 -r 1000 --first-seq 100000 -q -j "$T/sent.json" || lg_fail "loadgen failed"
got() {
	lg_dp_stats "$T/m.json" &&
	[ "$(lg_json "$T/m.json" "d['received']")" = 50 ]
}
lg_wait_for 5 got || lg_fail "received $(lg_json "$T/m.json" "d['received']") of 50"
lg_json "$T/m.json" "d['admitted'], d['drops']['unknown_device']" > "$T/c.txt"
[ "$(cat "$T/c.txt")" = "0 50" ] ||
	lg_fail "device 101 after the restart: (admitted, unknown_device) = $(cat "$T/c.txt"), want (0, 50)"

# Started with another --policy file: the start line says so and names both files. Another
# text: that file is used. A copy of the boot file (the same text): the last applied policy
# still is, and the line says why.
restart_with() { # FILE ERRFILE
	kill -INT $DP_PID
	wait $DP_PID || lg_fail "linegate exited with status $?"
	rm -f "$T/dp.sock"
	lg_start_linegate -p "$1" 2> "$2"
	lg_wait_for 5 grep -q 'devices enrolled' "$2" || lg_fail "linegate did not start: $(cat "$2")"
	grep '^linegate: policy:' "$2"
}
restart_with "$T/boot-copy.yaml" "$T/dp3.err"
grep -qF "linegate: policy: started with another policy file ($T/boot-copy.yaml) than the one of the last apply ($T/policy.yaml): using $T/boot-copy.yaml; state in" "$T/dp3.err" ||
	lg_fail "start with another policy file: $(grep 'policy:' "$T/dp3.err")"
grep -q "$(grep -c '^  - id:' "$T/boot-copy.yaml") devices enrolled" "$T/dp3.err" ||
	lg_fail "it does not run boot-copy.yaml's devices: $(grep enrolled "$T/dp3.err")"
cp "$T/policy.yaml" "$T/same.yaml"
restart_with "$T/same.yaml" "$T/dp4.err"
grep -qF "linegate: policy: the last applied policy (kept in $T/dp-state/applied.json): started with another policy file ($T/same.yaml) than the one of the last apply ($T/policy.yaml), but with the same text, so the applies since are newer;" "$T/dp4.err" ||
	lg_fail "start with a copy of the boot file: $(grep 'policy:' "$T/dp4.err")"
grep -q '8 devices enrolled' "$T/dp4.err" ||
	lg_fail "the copy's start does not run the last apply's 8 devices: $(grep enrolled "$T/dp4.err")"

# devices enroll with a UADP identity (docs/opcua.md): the entry's uadp mapping as written,
# a key of the size the security needs, the file valid, the data plane running it; and the
# history names each verb.
CTL() { "$LG_BIN_CTL" -s "$T/d.sock" "$@"; }
CTL apply "$T/policy.yaml" > /dev/null || lg_fail "apply of the boot file"
# While the running policy has no uadp_port (UADP off), a publisher over UDP would never be
# heard: its enrollment is refused, saying what to do, and the file is left as it was.
cp "$T/policy.yaml" "$T/before.yaml"
rc=0; CTL devices enroll --id 121 --name o6-tutorial --source "$LINE_IP" --publisher-id 5150 \
	--writer-group 10 --writer 20 --security none --replay timestamp 2> "$T/nouadp.err" || rc=$?
[ $rc = 1 ] && grep -q "the running policy sets no uadp_port (UADP is off): nothing it sends would be heard" \
	"$T/nouadp.err" && cmp -s "$T/policy.yaml" "$T/before.yaml" ||
	lg_fail "UADP enroll without uadp_port: rc $rc: $(cat "$T/nouadp.err")"
# uadp_port is start-only: set in the file, linegate restarted on it, the file applied.
sed -i 's/^uadp_port: 0/uadp_port: 4840/' "$T/policy.yaml"
restart_with "$T/policy.yaml" "$T/dp5.err"
CTL apply "$T/policy.yaml" > "$T/apply5.out" 2>&1 || lg_fail "apply with uadp_port: $(cat "$T/apply5.out")"
out=$(CTL devices enroll --id 121 --name o6-tutorial --source "$LINE_IP" --publisher-id 5150 \
	--writer-group 10 --writer 20 --security none --replay timestamp) ||
	lg_fail "UADP enroll: $out"
echo "$out"
[[ "$out" == "enrolled UADP device 121 (o6-tutorial): key 1, fingerprint "*"security none"* ]] ||
	lg_fail "UADP enroll said: $out"
grep -qxF "    uadp: {publisher_id: 5150, writer_group: 10, writer: 20, security: none, replay: timestamp}" \
	"$T/policy.yaml" || lg_fail "no uadp line for 121: $(grep -A6 'id: 121' "$T/policy.yaml")"
[ "$(stat -c %s "$T/keys/o6-tutorial.key")" = 65 ] || lg_fail "o6-tutorial.key is not a 32-byte key"
out=$(CTL devices enroll --id 122 --name o6-enc --source "$LINE_IP" --writer-position 1 \
	--security sign_and_encrypt --security-policy PubSub-Aes256-CTR) || lg_fail "UADP enroll 122: $out"
echo "$out"
[[ "$out" == *"SecurityTokenId"*"SigningKey, EncryptingKey and KeyNonce"* ]] || lg_fail "enroll 122 said: $out"
grep -qxF "    uadp: {writer_position: 1, security: sign_and_encrypt, security_policy: PubSub-Aes256-CTR}" \
	"$T/policy.yaml" || lg_fail "no uadp line for 122: $(grep -A6 'id: 122' "$T/policy.yaml")"
[ "$(stat -c %s "$T/keys/o6-enc.key")" = 137 ] ||
	lg_fail "o6-enc.key is $(stat -c %s "$T/keys/o6-enc.key") bytes, not 136 hex digits and a newline"
rc=0; CTL devices enroll --id 123 --name bad --source "$LINE_IP" --writer 1 --writer-position 1 \
	2> "$T/bad.err" || rc=$?
[ $rc = 1 ] && grep -q "writer position" "$T/bad.err" || lg_fail "writer and position: $rc $(cat "$T/bad.err")"
"$LG_BIN_CTL" validate "$T/policy.yaml" | tee "$T/val.txt"
grep -q ": valid, 11 devices$" "$T/val.txt" || lg_fail "validate after the UADP enrollments"
lg_dp_stats "$T/m.json" || true
[ "$(lg_ctl "$T/dp.sock" '{"cmd": "status"}' policy_sha256 | tr -d '"')" = "$(sha256sum < "$T/policy.yaml" | cut -d' ' -f1)" ] ||
	lg_fail "the data plane does not run the enrolled policy"
CTL devices revoke 121 > /dev/null || lg_fail "revoke 121"
CTL history > "$T/h.json"
python3 - "$T/h.json" <<'PY' || lg_fail "history: $(cat "$T/h.json")"
import json, re, sys
whats = [v["what"] for v in json.load(open(sys.argv[1]))["versions"][-3:]]
print("history:", whats)
want = [r"devices enroll 121 \(o6-tutorial\), new key fingerprint [0-9a-f]{8}",
        r"devices enroll 122 \(o6-enc\), new key fingerprint [0-9a-f]{8}",
        r"devices revoke 121 \(o6-tutorial\)"]
sys.exit(0 if all(re.fullmatch(w, g) for w, g in zip(want, whats)) else 1)
PY

# Fail static: an edit left broken in the boot file (the file watch refused it) does not take
# the line down at the next restarts: both start from the last applied policy (10 devices),
# say why, and take the file again once it is fixed.
cp "$T/policy.yaml" "$T/good.yaml"
printf 'bogus_key: 1\n' >> "$T/policy.yaml"
restart_with "$T/policy.yaml" "$T/dp6.err"
grep -qF "because the boot file is not valid: $T/policy.yaml:" "$T/dp6.err" &&
	grep -q "10 devices enrolled" "$T/dp6.err" ||
	lg_fail "linegate with a broken boot file: $(grep 'policy:\|enrolled\|linegate:' "$T/dp6.err" | head -5)"
kill -INT $D_PID
wait $D_PID || lg_fail "linegated exited with status $?"
lg_start_linegated 2> "$T/d6.err"
lg_wait_for 5 grep -q "starting from" "$T/d6.err" || lg_fail "linegated: $(cat "$T/d6.err")"
grep -q "starting from the last applied version [0-9]*, because the boot file is not valid" \
	"$T/d6.err" || lg_fail "linegated with a broken boot file: $(cat "$T/d6.err")"
grep -q '"what":"start","result":"boot file refused: last version kept"' "$T/audit.jsonl" ||
	lg_fail "no audit line for the broken boot file: $(tail -3 "$T/audit.jsonl")"
cp "$T/good.yaml" "$T/policy.yaml"
sed -i 's/^  - id: 122$/  - id: 124/' "$T/policy.yaml" # the fixed file: another text
restart_with "$T/policy.yaml" "$T/dp7.err"
grep -q "linegate: policy: the boot file $T/policy.yaml: it changed since the last apply" \
	"$T/dp7.err" || lg_fail "the fixed boot file is not taken: $(grep 'policy:' "$T/dp7.err")"
lg_stop_linegate
echo "PASS: the removed device stays out after a restart that follows a verb's edit"
