#!/usr/bin/env bash
# One validation, one answer: for each policy linegate refuses (a model made for another
# window, an unsigned model, no trusted keys, a key file of mode 0644, a NUL byte, a second
# 'devices:'), `linegatectl validate` refuses it offline with the very message linegate
# gives at start; and the default policy, with its key files at 0600, passes both.
set -uo pipefail
: "${LG_BUILD:?}" "${LG_SOURCE:?}"
DP=$LG_BUILD/dataplane/linegate
CTL=$LG_BUILD/control/linegatectl
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

cp -r "$LG_SOURCE/tests/fixtures/policy/bad" "$T/bad"
chmod 600 "$T"/bad/keys/*.key
chmod 644 "$T"/bad/keys/*-0644.key
cd "$T/bad" || exit 1
for name in model-window model-window-onnx model-unsigned model-no-trusted-keys model-not-set key-file-0644 nul \
	    dup-devices key-in-port; do
	f=$name.yaml
	rc=0; "$CTL" validate "$f" > "$T/ctl.out" 2> "$T/ctl.err" || rc=$?
	[ $rc -eq 1 ] || fail "$name: linegatectl validate exited $rc, want 1"
	# linegate refuses before it opens a socket: no root, no network needed.
	rc=0; timeout 20 "$DP" -p "$f" -o "$T/out.jsonl" > /dev/null 2> "$T/dp.err" || rc=$?
	[ $rc -eq 1 ] || fail "$name: linegate exited $rc, want 1"
	want=$(cat "$T/ctl.err")
	got=$(sed -n 's/^linegate: //p' "$T/dp.err" | head -1)
	[ -n "$want" ] && [ "$want" = "$got" ] ||
		fail "$name: linegatectl says '$want', linegate says '$got'"
	grep -qF "$(cut -d: -f2- "$name.err" | sed 's/^ //' | cut -c1-40)" "$T/ctl.err" ||
		fail "$name: '$(cat "$T/ctl.err")' is not what $name.err expects"
	echo "refused alike ($name): $want"
done

# The default policy passes both once its key files are 0600.
mkdir -p "$T/ok/keys"
cp "$LG_SOURCE"/control/defaults/*.* "$T/ok/"
cp "$LG_SOURCE"/control/defaults/keys/*.key "$T/ok/keys/"
chmod 600 "$T"/ok/keys/*.key
rc=0; "$CTL" validate "$T/ok/policy.yaml" > "$T/ok.out" 2>&1 || rc=$?
[ $rc -eq 0 ] && grep -q "valid, 8 devices" "$T/ok.out" ||
	fail "the default policy: linegatectl validate exited $rc: $(cat "$T/ok.out")"
chmod 640 "$T/ok/keys/pump-1-vib.key"
rc=0; "$CTL" validate "$T/ok/policy.yaml" > "$T/ok.out" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "pump-1-vib.key has mode 0640" "$T/ok.out" ||
	fail "a key file of mode 0640: linegatectl validate exited $rc: $(cat "$T/ok.out")"

[ $fails -eq 0 ] && echo "policy_one_answer: ok" || echo "policy_one_answer: $fails failed"
exit $((fails > 0))
