#!/usr/bin/env bash
# A key typed where it does not belong is never echoed: not in a reply, a log line, the
# audit or an offline error. A new-user trial found keys echoed by the enrollment verbs
# ("the source '<key>' is not an IPv4 or IPv6 address"), by an unknown command on both
# sockets ("unknown cmd '<key>'"), by an apply named with a key, and 20 hex digits of a key
# quoted in a policy error. Every server now hides runs of 16 or more hex digits
# (lg_redact_secrets) in what it sends and logs; this test types a real device key (and
# 20 digits of it) into each of those places and then looks for 16 of its digits anywhere.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgcs$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
lg_start_linegate 2> "$T/dp.err"
lg_start_linegated 2> "$T/d.err"

KEY=$(head -c 64 "$T/keys/press-1-vib.key")
[ ${#KEY} = 64 ] || lg_fail "no key read from the test's key file"
PART=${KEY:0:20}
OUT=$T/replies.txt
: > "$OUT"
CTL() { rc=0; "$LG_BIN_CTL" -s "$T/d.sock" "$@" >> "$OUT" 2>&1 || rc=$?; }

# The admin socket and the data plane's socket: the key as a command, and as the name a
# policy came from (linegated quotes that name in its errors and its audit).
for s in "$T/d.sock" "$T/dp.sock"; do
	rc=0
	lg_ctl "$s" "{\"cmd\": \"$KEY\"}" >> "$OUT" 2>&1 || rc=$?
	[ $rc = 1 ] || lg_fail "an unknown command was not refused on $s (exit $rc)"
	lg_ctl "$s" "$(python3 -c 'import json, sys; print(json.dumps({"cmd": "apply", "name": sys.argv[1], "policy": "version: 1\n"}))' "$KEY")" >> "$OUT" 2>&1 || true
done
# The enrollment verbs, with the key in each field an operator types.
CTL devices enroll --id 120 --name x --source "$KEY"
[ $rc = 1 ] || lg_fail "enroll with a key as its source was not refused (exit $rc)"
CTL devices enroll --id 120 --name "$KEY" --source 10.77.0.9
CTL devices enroll --id 120 --name x --source 10.77.0.9 --group "$KEY"
CTL devices enroll --id 120 --name x --source 10.77.0.9 --mac "$KEY"
# 20 digits of the key where a number belongs: too short for the old 24-character rule.
sed "s/^  batch: 16 /  threshold: ${PART}zz\n  batch: 16 /" "$T/policy.yaml" > "$T/bad.yaml"
grep -q "threshold: ${PART}zz" "$T/bad.yaml" || lg_fail "the bad policy has no threshold line"
CTL apply "$T/bad.yaml"
[ $rc = 1 ] || lg_fail "a policy with a bad threshold was applied (exit $rc)"
rc=0
"$LG_BIN_CTL" validate "$T/bad.yaml" >> "$OUT" 2>&1 || rc=$?
[ $rc = 1 ] || lg_fail "validate passed a bad threshold (exit $rc)"

grep -q '<hidden>' "$OUT" || lg_fail "no reply hid anything: the test typed no key where it is quoted: $(cat "$OUT")"
! grep -rq "${KEY:0:16}" "$T/state" || lg_fail "16 digits of the key are in linegated's state folder"
# A policy file named with a key: its name comes back in history's "source" (the trial saw
# it there in full); every string of every reply goes through the same hiding.
cp "$T/policy.yaml" "$T/$KEY.yaml"
CTL apply "$T/$KEY.yaml"
[ $rc = 0 ] || lg_fail "apply of the key-named copy: exit $rc"
CTL --raw history
grep -q '"source":".*<hidden>.yaml"' "$OUT" || lg_fail "history shows no hidden source: $(tail -c 600 "$OUT")"
lg_stop_linegate
for f in "$OUT" "$T/audit.jsonl" "$T/dp.err" "$T/d.err"; do
	[ -s "$f" ] || lg_fail "$f is empty: nothing was checked"
	! grep -q "${KEY:0:16}" "$f" || lg_fail "16 digits of the key are in $(basename "$f"): $(grep "${KEY:0:16}" "$f" | head -2)"
	! grep -q "${KEY:20:16}" "$f" || lg_fail "digits 21-36 of the key are in $(basename "$f")"
done
echo "PASS: the key appears in no reply, log or audit line ($(grep -c '<hidden>' "$OUT") replies hid it)"
