#!/usr/bin/env bash
# linegatectl refuses what it can before anything is sent, saying why: a policy file over
# the 16 MiB limit (not "Argument list too long", as a new-user trial saw for 64 MiB, nor the
# daemon's framing error for 17 MB), a FIFO (diff hung), numbers with a sign or out of
# range (--port 70000 was taken), and it never echoes a key typed as an argument.
set -uo pipefail
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
head -c 70000000 /dev/zero | tr '\0' 'a' > "$T/big.yaml"
rc=0
"$LG_BUILD/control/linegatectl" -s "$T/none.sock" apply "$T/big.yaml" 2> "$T/err" || rc=$?
[ $rc = 1 ] || { echo "FAIL: exit $rc, want 1"; exit 1; }
grep -q "big.yaml: 70000000 bytes, more than the 16 MiB a policy may have" "$T/err" ||
	{ echo "FAIL: message: $(cat "$T/err")"; exit 1; }
# Just over the 16 MiB policy limit: said here, with the size, not by the daemon's framing.
head -c 17000000 /dev/zero > "$T/b17.yaml"
rc=0; "$LG_BUILD/control/linegatectl" -s "$T/none.sock" apply "$T/b17.yaml" 2> "$T/err" || rc=$?
[ $rc = 1 ] && grep -q "b17.yaml: 17000000 bytes, more than the 16 MiB a policy may have" "$T/err" ||
	{ echo "FAIL: 17 MB: exit $rc, $(cat "$T/err")"; exit 1; }
# A FIFO is refused at once (diff used to wait for a writer for ever).
mkfifo "$T/fifo"
rc=0; timeout 5 "$LG_BUILD/control/linegatectl" -s "$T/none.sock" diff "$T/fifo" 2> "$T/err" || rc=$?
[ $rc = 1 ] && grep -q "fifo: not a regular file" "$T/err" ||
	{ echo "FAIL: FIFO: exit $rc, $(cat "$T/err")"; exit 1; }
# Numbers are digits only, within their range; a key typed as one is not echoed.
KEY=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
for args in "devices enroll --id 1 --name x --source 10.0.0.1 --port 70000" \
	    "devices enroll --id 1 --name x --source 10.0.0.1 --rate $KEY" \
	    "devices revoke +2" "rollback +2" "rollback 0"; do
	rc=0; "$LG_BUILD/control/linegatectl" -s "$T/none.sock" $args 2> "$T/err" || rc=$?
	[ $rc = 2 ] || { echo "FAIL: '$args' exit $rc, want 2: $(cat "$T/err")"; exit 1; }
	grep -q "${KEY:0:16}" "$T/err" && { echo "FAIL: '$args' echoed the key"; exit 1; }
done
grep -q -- "--rate takes a whole number from 0 to 4294967295, not '<hidden>'" <(
	"$LG_BUILD/control/linegatectl" -s "$T/none.sock" devices enroll --id 1 --name x \
		--source 10.0.0.1 --rate $KEY 2>&1) || { echo "FAIL: --rate message"; exit 1; }
# models approve without --key says what key it wants (trial X2, s26: only the usage line)
rc=0; "$LG_BUILD/control/linegatectl" -s "$T/none.sock" models approve line-1 2> "$T/err" || rc=$?
[ $rc = 2 ] && grep -q "models approve line-1 needs --key KEY: the secret signing key" "$T/err" ||
	{ echo "FAIL: approve without --key: exit $rc, $(cat "$T/err")"; exit 1; }
echo "PASS: $(cat "$T/err")"
