#!/usr/bin/env bash
# The control protocol under requests it must refuse, on both sockets (linegated's admin
# socket and linegate's control socket), without crashing or half-applying:
# - {"cmd": null} and other wrong JSON types, unframed bytes, bytes after the object;
# - a request cut off in the middle of its policy (the old text protocol applied the first
#   devices): refused whole, the running policy and its device count unchanged;
# - an unprivileged peer (nobody, no groups; it drops privileges as setpriv would), also with the sockets chmod 0666: refused
#   with "permission denied" and audited; a member of --group (primary or supplementary)
#   accepted;
# - a policy with a NUL byte (linegatectl once cut it there and applied the rest);
# - a request over the 16 MiB limit (linegatectl died silently of SIGPIPE, exit 141), and
#   a server that closes early: exit 1 with a message, never 141;
# - an apply the data plane refuses: its reason reaches linegatectl (exit 1).
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgch$$"
T=$LG_TMP
chmod 0711 "$T" # others may reach the sockets: the servers' own peer check must refuse them
GRP=4242        # a group number no account has: only setpriv gives it to our test peer
lg_policy "$T/policy.yaml"
lg_start_linegate --group $GRP
lg_start_linegated --group $GRP

dstatus() { lg_ctl "$T/d.sock" '{"cmd": "status"}' "$1"; }
pstatus() { lg_ctl "$T/dp.sock" '{"cmd": "status"}' "$1"; }
before=$(dstatus policy_sha256)
ndev=$(pstatus devices)
[ "$ndev" = 8 ] || lg_fail "the data plane runs $ndev devices, want 8"
[ "$(pstatus policy_sha256)" = "$before" ] || lg_fail "linegated and linegate disagree on the hash"
unchanged() {
	[ "$(dstatus policy_sha256)" = "$before" ] || lg_fail "linegated's policy changed after: $1"
	[ "$(pstatus policy_sha256)" = "$before" ] || lg_fail "linegate's policy changed after: $1"
	[ "$(pstatus devices)" = "$ndev" ] || lg_fail "linegate's device count changed after: $1"
	kill -0 "$D_PID" 2>/dev/null || lg_fail "linegated died on: $1"
	kill -0 "$DP_PID" 2>/dev/null || lg_fail "linegate died on: $1"
}

# Raw bytes to a socket (python3 lgsock.py underneath); prints the reply.
# raw SOCKET HOW [UID GID GROUPS]; HOW: a JSON request, or one of the hostile shapes below.
# With UID, the client drops to that uid, gid and supplementary groups (comma-separated, or
# "none") before it connects, as `setpriv --reuid --regid --groups` would; in-process, so
# that it needs no exec and no search permission on the folders above the socket (the
# socket's name is taken relative to its folder).
raw() {
	python3 - "$1" "$2" "$T/policy.yaml" "${3:-}" "${4:-}" "${5:-}" <<'PY'
import json, os, struct, sys, lgsock
sock, how, pol, uid, gid, groups = sys.argv[1:7]
text = open(pol).read()
# A policy with one device: applied, it would leave 7 of the 8 unenrolled.
one = text[:text.index("  - id: 102")]
apply_one = json.dumps({"cmd": "apply", "policy": one}).encode()
if how == "cut":        # the length says the whole apply, the bytes stop in its policy
    data = struct.pack(">I", len(apply_one)) + apply_one[:len(apply_one) // 2]
elif how == "header":   # cut inside the length header
    data = b"\0\0"
elif how == "unframed": # the old text protocol
    data = b"apply\n" + one.encode()
elif how == "trailing": # one object, then more bytes inside the same frame
    data = lgsock.frame(b'{"cmd": "status"} {"cmd": "apply"}')
elif how == "apply_one":
    data = lgsock.frame(apply_one)
else:
    data = lgsock.frame(how.encode())
if uid:
    os.chdir(os.path.dirname(sock))
    sock = os.path.basename(sock)
    os.setgroups([] if groups == "none" else [int(g) for g in groups.split(",")])
    os.setresgid(int(gid), int(gid), int(gid))
    os.setresuid(int(uid), int(uid), int(uid))
r = lgsock.call_raw(sock, data)
try:
    print(json.dumps(lgsock.unframe(r)))
except ValueError as e:
    print(f"unframed reply: {e}: {r[:200]!r}")
PY
}
refused() { # refused SOCKET HOW WANT [UID GID GROUPS]: the reply is ok:false, error ~ WANT
	local sock=$1 how=$2 want=$3; shift 3
	raw "$sock" "$how" "$@" > "$T/r.json" || lg_fail "no reply to $how on $sock"
	python3 -c "
import json, sys, re
r = json.load(open(sys.argv[1]))
sys.exit(0 if r.get('ok') is False and re.search(sys.argv[2], r.get('error', '')) else 1)" \
		"$T/r.json" "$want" || lg_fail "$how on $(basename "$sock"): $(cat "$T/r.json"), want error ~ $want"
	unchanged "$how on $(basename "$sock")"
}

for s in "$T/d.sock" "$T/dp.sock"; do
	for req in '{"cmd": null}' '{"cmd": 5}' '[1, 2]' 'null' '{"cmd": "apply", "policy": 7}' \
		'{"cmd": "nosuch"}'; do
		refused "$s" "$req" '.'
	done
	refused "$s" '{"cmd": "validate", "policy": "version: 2\n", "name": null}' '.'
	refused "$s" cut 'refused whole: message cut off after [0-9]+ of [0-9]+ bytes'
	refused "$s" header 'refused whole: message cut off in its length header'
	refused "$s" unframed 'over the limit|cut off'
	refused "$s" trailing 'bytes after the JSON object'
	# Not root, not the server's user, not in --group: refused, whatever the file mode.
	chmod 0666 "$s"
	refused "$s" apply_one '^permission denied$' 65534 65534 none
	refused "$s" '{"cmd": "status"}' '^permission denied$' 65534 65534 none
	# In --group, as primary or supplementary group: accepted.
	raw "$s" '{"cmd": "status"}' 65534 $GRP none > "$T/g1.json"
	raw "$s" '{"cmd": "status"}' 65534 65534 $GRP > "$T/g2.json"
	for f in g1 g2; do
		grep -q '"ok": true' "$T/$f.json" || lg_fail "group member ($f) refused on $s: $(cat "$T/$f.json")"
	done
	unchanged "group members on $(basename "$s")"
done
# Sockets made with --group: mode 0660, that group.
chmod 0660 "$T/d.sock" "$T/dp.sock"
[ "$(stat -c %a:%g "$T/d.sock")" = "660:$GRP" ] || lg_fail "d.sock is $(stat -c %a:%g "$T/d.sock")"
[ "$(stat -c %g "$T/dp.sock")" = "$GRP" ] || lg_fail "dp.sock group is $(stat -c %g "$T/dp.sock")"
n=$(grep -c '"what":"connect","result":"denied"' "$T/audit.jsonl" || true)
[ "$n" = 2 ] || lg_fail "the audit log has $n denied connections, want 2"

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
unchanged "a NUL byte"

# Over the daemon's limit: an error and exit 1, not SIGPIPE.
head -c $((17 << 20)) /dev/zero | tr '\0' '#' > "$T/big.yaml"
rc=0
"$LG_BIN_CTL" -s "$T/d.sock" apply "$T/big.yaml" 2> "$T/big.err" || rc=$?
[ $rc -eq 1 ] || lg_fail "linegatectl on a 17 MiB policy exited $rc: $(cat "$T/big.err")"
grep -q 'over the limit of 16777216 bytes' "$T/big.err" || lg_fail "17 MiB: $(cat "$T/big.err")"
unchanged "a 17 MiB request"

# Servers that close early (before reading, after the header): exit 1 with a message.
for mode in close header; do
	python3 - "$T/early.sock" $mode <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4)
for _ in range(2):
    c, _ = s.accept()
    if sys.argv[2] == "header":
        c.recv(4)
    c.close()
PY
	fake=$!
	lg_wait_for 5 test -S "$T/early.sock" || lg_fail "fake server did not start"
	for f in "$T/policy.yaml" "$T/big.yaml"; do
		rc=0
		"$LG_BIN_CTL" -s "$T/early.sock" apply "$f" 2> "$T/early.err" || rc=$?
		[ $rc -eq 1 ] || lg_fail "linegatectl against a server that closes ($mode, $f) exited $rc"
		grep -q 'early.sock: .*\(closed\|no reply\)' "$T/early.err" ||
			lg_fail "no reason from linegatectl ($mode): $(cat "$T/early.err")"
	done
	wait $fake
	rm -f "$T/early.sock"
done

# The data plane refuses what linegated accepts: linegate may run on core 0 only, the
# policy pins a worker to core 1. The data plane's reason reaches linegatectl (exit 1).
if [ "$(nproc)" -ge 2 ]; then
	taskset -a -p -c 0 "$(pgrep -P "$DP_PID" -x linegate || echo "$DP_PID")" > /dev/null
	printf 'workers:\n  cores: [1]\n' | cat "$T/policy.yaml" - > "$T/cores.yaml"
	rc=0
	"$LG_BIN_CTL" -s "$T/d.sock" apply "$T/cores.yaml" 2> "$T/cores.err" || rc=$?
	[ $rc -eq 1 ] || lg_fail "an apply the data plane refused exited $rc"
	grep -q 'data plane refused: .*core 1' "$T/cores.err" ||
		lg_fail "the data plane's reason is lost: $(cat "$T/cores.err")"
	tail -1 "$T/audit.jsonl" | grep -q '"phase":"result".*"result":"failed".*core 1' ||
		lg_fail "the audit lacks the failed result: $(tail -1 "$T/audit.jsonl")"
	unchanged "an apply the data plane refused"
fi

echo "refused: $(head -c 150 "$T/cores.err"); $(head -c 150 "$T/big.err")"
lg_stop_linegate
echo PASS
