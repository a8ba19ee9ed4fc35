#!/usr/bin/env bash
# The control plane under requests it must refuse, not crash on or half-apply:
# {"cmd": null} and other wrong JSON types (linegated crashed), a policy file with a NUL
# byte (linegatectl cut it there and applied the rest), and a request over the daemon's
# 16 MiB limit (linegatectl died silently of SIGPIPE, exit 141). After each, linegated
# still answers and the running policy is the one it had.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgch$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
lg_start_linegate
lg_start_linegated

hash() { "$LG_BIN_CTL" -s "$T/d.sock" status | python3 -c "import json,sys; print(json.load(sys.stdin)['policy_sha256'])"; }
before=$(hash)

# Wrong JSON types, straight to the daemon's socket.
for req in '{"cmd": null}' '{"cmd": 5}' '{"cmd": "validate", "policy": null}' \
	'{"cmd": "validate", "policy": 7}' '{"cmd": "validate", "policy": "version: 2\n", "name": null}' \
	'[1, 2]' 'null'; do
	python3 - "$T/d.sock" "$req" > "$T/r.json" <<'PY' || lg_fail "no reply to $req"
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode()); s.shutdown(socket.SHUT_WR)
print(b"".join(iter(lambda: s.recv(65536), b"")).decode())
PY
	kill -0 "$D_PID" 2>/dev/null || lg_fail "linegated died on $req"
	grep -q '"ok": *false\|"ok":false' "$T/r.json" || lg_fail "$req was not refused: $(cat "$T/r.json")"
done

# A NUL byte inside the policy: refused whole by validate and apply.
python3 -c "
import sys; t = open(sys.argv[1], 'rb').read()
i = t.index(b'devices:'); open(sys.argv[2], 'wb').write(t[:i] + b'#\x00' + t[i:])" \
	"$T/policy.yaml" "$T/nul.yaml"
if "$LG_BIN_CTL" -s "$T/d.sock" validate "$T/nul.yaml" 2> "$T/nul.err"; then
	lg_fail "validate passed a policy with a NUL byte"
fi
if "$LG_BIN_CTL" -s "$T/d.sock" apply "$T/nul.yaml" 2>> "$T/nul.err"; then
	lg_fail "apply took a policy with a NUL byte"
fi
[ "$(hash)" = "$before" ] || lg_fail "the running policy changed after a refused apply"

# Over the daemon's limit: an error and exit 1, not SIGPIPE.
head -c $((17 << 20)) /dev/zero | tr '\0' '#' > "$T/big.yaml"
rc=0
"$LG_BIN_CTL" -s "$T/d.sock" validate "$T/big.yaml" 2> "$T/big.err" || rc=$?
[ $rc -eq 1 ] || lg_fail "linegatectl on a 17 MiB policy exited $rc: $(cat "$T/big.err")"
[ -s "$T/big.err" ] || lg_fail "linegatectl on a 17 MiB policy said nothing"
kill -0 "$D_PID" 2>/dev/null || lg_fail "linegated died on a 17 MiB request"
[ "$(hash)" = "$before" ] || lg_fail "the running policy changed"
echo "refused: $(head -c 200 "$T/nul.err" | tr '\n' ' '); $(head -c 200 "$T/big.err")"
lg_stop_linegate
echo PASS
