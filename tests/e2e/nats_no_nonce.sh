#!/usr/bin/env bash
# A NATS server that sends no nonce while an nkey is configured (trial 13: a leaf node
# without authentication, or anything on the path that rewrites the server's INFO, which
# comes before TLS): linegate, linegated and linegate-fleet refuse to connect, saying why,
# and none of them crashes (libnats called the signature callback with a NULL nonce: all
# three died of SIGSEGV). The "server" is a few lines of Python that speak the INFO line.
# Also: a tls:// URL without a CA, and TLS:// in any case (libnats connects it in plain
# text), are refused by linegate-fleet and linegated before they connect.
source "$(dirname "$0")/lib.sh"
FLEET=$LG_BUILD/control/linegate-fleet
[ -x "$FLEET" ] || lg_skip "linegate was built without NATS (-Dnats)"
lg_tmp
T=$LG_TMP
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 - "$PORT" "$T/connects" <<'PY' &
import socket, sys, threading
port, log = int(sys.argv[1]), sys.argv[2]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(16)
def serve(c):
    c.sendall(b'INFO {"server_id":"NOFAKE","version":"2.9.10","go":"go1.19","host":"127.0.0.1",'
              b'"port":%d,"headers":true,"max_payload":1048576,"proto":1,"jetstream":true}\r\n' % port)
    c.settimeout(5)
    try:
        data = c.recv(4096)
    except OSError:
        data = b""
    # what a client sends first: its CONNECT; an nkey client must not sign anything here
    with open(log, "a") as f:
        f.write(data.split(b"\r\n", 1)[0].decode(errors="replace")[:300] + "\n")
    try:
        c.sendall(b"-ERR 'Authorization Violation'\r\n")
    except OSError:
        pass
    c.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
LG_PIDS="$LG_PIDS $!"
lg_wait_for 5 python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" ||
	lg_fail "the fake server did not start"
"$FLEET" nkey-gen "$T/a.nk" > "$T/a.pub" || lg_fail "nkey-gen failed"

echo "== 1. linegate-fleet"
rc=0; "$FLEET" status --url nats://127.0.0.1:$PORT --nkey "$T/a.nk" --plant north --line a \
	> "$T/fleet.out" 2> "$T/fleet.err" || rc=$?
[ $rc = 1 ] || lg_fail "linegate-fleet: status $rc (139 is SIGSEGV), want 1: $(cat "$T/fleet.err")"
grep -q "sent no nonce to sign" "$T/fleet.err" || lg_fail "linegate-fleet does not say why: $(cat "$T/fleet.err")"

echo "== 2. linegate (output.nats with nkey_file)"
lg_keys "$T"
sed -e "s#^  model: .*#  model: $LG_SOURCE/control/defaults/model.json#" \
    -e "s#^port: 4739#port: $(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')#" \
    -e "s#^uadp_port: 4840#uadp_port: 0#" \
    -e "s#^  jsonl: .*#  jsonl: $T/dp.jsonl\n  nats: {urls: nats://127.0.0.1:$PORT, subject_prefix: lgtest, plant: north, line: a, outbox: {dir: $T/outbox}, nkey_file: $T/a.nk}#" \
    "$LG_SOURCE/control/defaults/policy.yaml" > "$T/dp.yaml"
echo "== 1b. URLs that ask for TLS without a CA, or in another case (re-check trials 13)"
for url in "tls://127.0.0.1:$PORT" "TLS://127.0.0.1:$PORT" "nats://127.0.0.1:$PORT,Tls://127.0.0.1:$PORT"; do
	case $url in *tls://*) want="asks for TLS: give --tls-ca FILE" ;; *) want="(lower case)" ;; esac
	rc=0; "$FLEET" status --url "$url" --plant north --line a > /dev/null 2> "$T/url.err" || rc=$?
	[ $rc = 1 ] && grep -qF -- "$want" "$T/url.err" || lg_fail "linegate-fleet --url $url: $rc $(cat "$T/url.err")"
	rc=0; "$LG_BIN_D" -p "$T/dp.yaml" -S "$T/u.sock" -s "$T/ustate" --fleet-url "$url" --fleet-plant north \
		--fleet-line a --fleet-server s1 > /dev/null 2> "$T/urld.err" || rc=$?
	[ $rc != 0 ] && grep -qF -- "${want/--tls-ca/--fleet-tls-ca}" "$T/urld.err" ||
		lg_fail "linegated --fleet-url $url: $rc $(cat "$T/urld.err")"
done
STATE_DIRECTORY=$T/state "$LG_BIN_DP" -p "$T/dp.yaml" -B 127.0.0.1 -c "$T/dp.sock" 2> "$T/dp.err" &
DP=$!
LG_PIDS="$LG_PIDS $DP"
lg_wait_for 15 grep -q "sent no nonce to sign" "$T/dp.err" ||
	lg_fail "linegate does not say why it does not connect: $(cat "$T/dp.err")"
sleep 1
kill -0 $DP 2>/dev/null || { rc=0; wait $DP || rc=$?; lg_fail "linegate died (status $rc): $(tail -5 "$T/dp.err")"; }
python3 - "$T/dp.sock" <<'PY' || lg_fail "linegate: nats.last_error does not say why"
import sys, lgsock
n = lgsock.call(sys.argv[1], {"cmd": "stats"})["stats"]["nats"]
print("no nonce:", {k: n[k] for k in ("connected", "connects", "closes", "last_error")})
assert not n["connected"] and n["connects"] == 0, n
assert "nonce" in n["last_error"], n
PY
echo "== 3. linegated (--fleet-nkey)"
mkdir -p "$T/d"
"$LG_BIN_D" -p "$T/dp.yaml" -S "$T/d/d.sock" -d "$T/dp.sock" -a "$T/d/audit.jsonl" \
	-s "$T/d/state" --fleet-url nats://127.0.0.1:$PORT --fleet-plant north --fleet-line a \
	--fleet-server s1 --fleet-nkey "$T/a.nk" 2> "$T/d/d.err" &
D=$!
LG_PIDS="$LG_PIDS $D"
lg_wait_for 15 grep -q "sent no nonce to sign" "$T/d/d.err" ||
	lg_fail "linegated does not say why it does not connect: $(cat "$T/d/d.err")"
sleep 1
kill -0 $D 2>/dev/null || { rc=0; wait $D || rc=$?; lg_fail "linegated died (status $rc): $(tail -5 "$T/d/d.err")"; }
kill -TERM $D
rc=0; wait $D || rc=$?
[ $rc = 0 ] || lg_fail "linegated exited with status $rc: $(tail -5 "$T/d/d.err")"
kill -INT $DP
rc=0; wait $DP || rc=$?
[ $rc = 0 ] || lg_fail "linegate exited with status $rc: $(tail -5 "$T/dp.err")"

! grep -q '"sig"' "$T/connects" || lg_fail "a client signed for a server that asked for nothing: $(cat "$T/connects")"
echo PASS
