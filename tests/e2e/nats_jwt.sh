#!/usr/bin/env bash
# NATS JWT credentials (.creds files, docs/fleet.md "JWT credentials") against a real
# nats-server -js in operator mode (operator JWT, resolver MEMORY with the system account and
# the account LINEGATE preloaded, JetStream on for LINEGATE); the keys and JWTs made by
# tests/e2e/natsjwt.py (no nsc in Debian), one user JWT per line server with the same
# per-line permissions as the nkey users of nats_auth.sh:
#  1. linegate with server A's creds_file publishes under A's prefix: every record it
#     appended is in the stream, none refused;
#  2. the same creds with line B's prefix: every publish refused by the server, counted
#     (nats.refused) with the server's words, none acknowledged, every record kept;
#  3. linegated with --fleet-creds applies line A's signed bundle rolled out by
#     linegate-fleet with the operator's --creds (publish, rollout, status, stream-dump);
#  4. a creds file of mode 0644 refused by linegatectl validate with FILE:LINE:COL;
#  5. a user JWT signed by an account key the operator never signed, and an expired user
#     JWT: the server refuses the login; linegate says why (stderr, nats.last_error),
#     tries again, and keeps every record in its outbox.
source "$(dirname "$0")/lib.sh"
lg_need_nats
/usr/bin/python3 -c 'import cryptography.hazmat.primitives.asymmetric.ed25519' 2>/dev/null ||
	lg_skip "python3-cryptography is not installed"
JWT="/usr/bin/python3 $LG_SOURCE/tests/e2e/natsjwt.py"
lg_tmp
T=$LG_TMP
PORT=$(lg_free_port)
URL=nats://127.0.0.1:$PORT

# The operator, its system account and the account LINEGATE; a user JWT per line server.
$JWT init "$T/keys" || lg_fail "natsjwt.py init failed"
$JWT user "$T/keys" admin "$T/admin.creds" || lg_fail "natsjwt.py user admin failed"
# perms LINE SERVER: natsjwt.py options for one line server (docs/fleet.md, the same subjects)
perms() {
	local L=$1 S=$2
	echo --pub "lgtest.north.$L.>" \
		--pub "\$JS.API.DIRECT.GET.KV_linegate-config.\$KV.linegate-config.north.$L.bundle" \
		--pub "\$JS.API.DIRECT.GET.KV_linegate-config.\$KV.linegate-config.north.$L.canary.$S" \
		--pub "\$KV.linegate-config.north.$L.status.$S" \
		--pub "\$JS.API.STREAM.INFO.OBJ_bundles-north-$L" \
		--pub "\$JS.API.STREAM.MSG.GET.OBJ_bundles-north-$L" \
		--pub "\$JS.API.CONSUMER.CREATE.OBJ_bundles-north-$L" \
		--pub "\$JS.API.CONSUMER.CREATE.OBJ_bundles-north-$L.>" \
		--pub "\$JS.API.CONSUMER.DELETE.OBJ_bundles-north-$L.>" \
		--pub "\$JS.FC.OBJ_bundles-north-$L.>" \
		--sub "_INBOX.north.$L.>"
}
set -f # the subjects' '>' and '*' stay as they are
# shellcheck disable=SC2046
$JWT user "$T/keys" srvA "$T/a.creds" $(perms lineA srvA) || lg_fail "user A"
# shellcheck disable=SC2046
$JWT user "$T/keys" untrusted "$T/untrusted.creds" --untrusted $(perms lineA srvA) ||
	lg_fail "user untrusted"
# shellcheck disable=SC2046
$JWT user "$T/keys" expired "$T/expired.creds" --exp -60 $(perms lineA srvA) ||
	lg_fail "user expired"
set +f
for c in admin a untrusted expired; do
	[ "$(stat -c %a "$T/$c.creds")" = 600 ] || lg_fail "$c.creds is not 0600"
done

{
	echo "listen: 127.0.0.1:$PORT"
	echo "jetstream { store_dir: \"$T/js\" }"
	echo "debug: true # the server logs why it refused a login"
	$JWT server-conf "$T/keys"
} > "$T/nats.conf" || lg_fail "natsjwt.py server-conf failed"
nats-server -c "$T/nats.conf" > "$T/nats.log" 2>&1 &
LG_PIDS="$LG_PIDS $!"
lg_wait_for 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" ||
	lg_fail "nats-server did not start: $(tail -5 "$T/nats.log")"
grep -q "Trusted Operators" "$T/nats.log" || lg_fail "nats-server is not in operator mode"
ADMIN=(--url "$URL" --creds "$T/admin.creds")
"$FLEET" stream-create "${ADMIN[@]}" --stream LGTEST --subject-prefix lgtest --max-age 1h \
	> "$T/create.txt" 2>&1 || lg_fail "stream-create (admin creds) failed: $(cat "$T/create.txt")"
# without credentials, the server refuses
rc=0; "$FLEET" stream-dump --url "$URL" --stream LGTEST > /dev/null 2> "$T/noauth.err" || rc=$?
[ $rc = 1 ] && grep -q "Authorization Violation" "$T/noauth.err" ||
	lg_fail "no credentials: $rc $(cat "$T/noauth.err")"

stat_of() {
	python3 - "$1" "$2" <<'PY'
import sys, lgsock
s = lgsock.call(sys.argv[1], {"cmd": "stats"})["stats"]
print(eval(sys.argv[2]))
PY
}
# policy NAME LINE CREDS: a policy publishing with CREDS under lgtest.north.LINE
policy() {
	local dp=$(lg_free_port)
	sed -e "s#^  model: .*#  model: $LG_SOURCE/control/defaults/model.json#" \
	    -e "s#source: 10.77.0.2#source: 127.0.0.1#" \
	    -e "s#^port: 4739#port: $dp#" -e "s#^uadp_port: 4840#uadp_port: 0#" \
	    -e "s#^  jsonl: .*#  jsonl: $T/$1.jsonl\n  nats: {urls: $URL, subject_prefix: lgtest, plant: north, line: $2, outbox: {dir: $T/$1.outbox}, score_every: 10, creds_file: $3}#" \
	    "$LG_SOURCE/control/defaults/policy.yaml" > "$T/$1.yaml"
	echo $dp
}
lg_keys "$T"
gen() { "$LG_BIN_GEN" -p "$T/$1.yaml" -t 127.0.0.1:$2 -S 127.0.0.1 -q -n 100 -r 2000 -f 103:50:bearing; }
count() { # SUBJECT-PREFIX: messages of the stream under it (read with the operator's creds)
	"$FLEET" stream-dump "${ADMIN[@]}" --stream LGTEST > "$T/stream.jsonl" ||
		lg_fail "stream-dump failed: $(grep -i "authoriz\|error" "$T/nats.log" | tail -3)"
	python3 -c "import json,sys; print(sum(1 for l in open('$T/stream.jsonl') if json.loads(l)['subject'].startswith('$1')))"
}

# --- 1. A's creds, A's prefix: everything arrives ---
P=$(policy runA lineA "$T/a.creds")
"$LG_BIN_CTL" validate "$T/runA.yaml" > "$T/valA.out" 2>&1 || lg_fail "validate A: $(cat "$T/valA.out")"
lg_dp_start runA
gen runA "$P"
lg_wait_for 15 lg_dp_holds "$T/runA.sock" 's["nats"]["outbox"]["records"] == 0 and s["nats"]["outbox"]["appended"] > 0' ||
	lg_fail "run A: the outbox did not empty: $(stat_of "$T/runA.sock" 's["nats"]'; tail -3 "$T/runA.err")"
APP=$(stat_of "$T/runA.sock" 's["nats"]["outbox"]["appended"]')
[ "$(stat_of "$T/runA.sock" 's["nats"]["refused"]')" = 0 ] || lg_fail "run A: refusals counted"
[ "$(stat_of "$T/runA.sock" 's["nats"]["connects"]')" = 1 ] || lg_fail "run A: not one connection"
N=$(count lgtest.north.lineA.)
[ "$N" = "$APP" ] || lg_fail "run A: $N in the stream, $APP appended"
echo "1. A's creds under A's prefix: $APP records, all in the stream, none refused"
lg_dp_stop runA

# --- 2. A's creds, B's prefix: refused by the server, counted, kept ---
P=$(policy runAB lineB "$T/a.creds")
lg_dp_start runAB
gen runAB "$P"
lg_wait_for 15 lg_dp_holds "$T/runAB.sock" 's["nats"]["refused"] > 0 and s["nats"]["outbox"]["appended"] > 0' ||
	lg_fail "run A-as-B: no refusal counted: $(stat_of "$T/runAB.sock" 's["nats"]')"
sleep 6 # past the 5 s acknowledgement wait: a refused publish is never acknowledged
python3 - "$T/runAB.sock" <<'PY' || lg_fail "run A-as-B: counted wrong"
import sys, lgsock
n = lgsock.call(sys.argv[1], {"cmd": "stats"})["stats"]["nats"]
print("A-as-B:", {k: n[k] for k in ("published", "acked", "refused", "errors", "last_error")},
      "outbox", n["outbox"]["records"], "of", n["outbox"]["appended"])
assert n["acked"] == 0, n
assert n["refused"] >= n["outbox"]["appended"] or n["refused"] >= 1024, n
assert n["outbox"]["records"] == n["outbox"]["appended"], n
assert n["last_error"].startswith('Permissions Violation for Publish to "lgtest.north.lineB.'), n
PY
grep -q 'the server refused: Permissions Violation for Publish to "lgtest.north.lineB.' "$T/runAB.err" ||
	lg_fail "run A-as-B: the refusal was not logged: $(tail -3 "$T/runAB.err")"
[ "$(count lgtest.north.lineB.)" = 0 ] || lg_fail "run A-as-B: records of line B in the stream"
lg_dp_stop runAB
echo "2. A's creds under B's prefix: refused by the server, none acknowledged or stored"

# --- 3. the fleet watch with --fleet-creds; linegate-fleet with --creds ---
KEY=$(lg_demo_key)
P=$(policy fleetA lineA "$T/a.creds")
mkdir -p "$T/v1"
{ cat "$T/fleetA.yaml"; echo "# lineA v1"; } > "$T/v1/policy.yaml"
"$FLEET" publish "$T/v1" "${ADMIN[@]}" --plant north --line lineA --objects bundles-north-lineA \
	--version v1 --key "$KEY" > "$T/pub.txt" 2>&1 || lg_fail "publish: $(cat "$T/pub.txt")"
lg_dp_start fleetA
mkdir -p "$T/dA"
"$LG_BIN_D" -p "$T/fleetA.yaml" -S "$T/dA/d.sock" -d "$T/fleetA.sock" -a "$T/dA/audit.jsonl" \
	-s "$T/dA/state" --fleet-url "$URL" --fleet-plant north --fleet-line lineA \
	--fleet-server srvA --fleet-objects bundles-north-lineA --fleet-report 1000 \
	--fleet-creds "$T/a.creds" 2> "$T/dA/d.err" &
D=$!
LG_PIDS="$LG_PIDS $D"
lg_wait_for 5 test -S "$T/dA/d.sock" || lg_fail "linegated did not start: $(cat "$T/dA/d.err")"
reported_a() { local o; o=$("$FLEET" status "${ADMIN[@]}" --plant north --line lineA --json) &&
	[[ $o == *'"server":"srvA"'* ]]; }
lg_wait_for 20 reported_a || lg_fail "linegated A never reported: $(cat "$T/dA/d.err")"
rc=0; "$FLEET" rollout v1 "${ADMIN[@]}" --plant north --line lineA --objects bundles-north-lineA \
	--wait 30 > "$T/roll.txt" 2>&1 || rc=$?
cat "$T/roll.txt"
[ $rc = 0 ] && grep -q "^done: north/lineA runs v1 on 1 server" "$T/roll.txt" ||
	lg_fail "rollout with creds failed ($rc): $(cat "$T/dA/d.err")"
grep -q '"what":"fleet_bundle","result":"applied".*lineA@v1' "$T/dA/audit.jsonl" ||
	lg_fail "linegated (creds) did not apply line A's v1"
"$FLEET" status "${ADMIN[@]}" --plant north --line lineA --json > "$T/status.json" ||
	lg_fail "status with --creds failed"
python3 - "$T/status.json" <<'PY' || lg_fail "status with --creds: $(cat "$T/status.json")"
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert len(r) == 1 and r[0]["server"] == "srvA", r
assert r[0]["bundle"]["applied"] == "v1" and r[0]["bundle"]["result"] == "applied", r
PY
kill -TERM $D
wait $D || lg_fail "linegated exited $?"
lg_dp_stop fleetA
echo "3. linegated --fleet-creds applied line A's v1; linegate-fleet --creds: publish, rollout, status, stream-dump"

# --- 4. a creds file readable by others ---
cp "$T/a.creds" "$T/open.creds"; chmod 644 "$T/open.creds"
P=$(policy bad lineA "$T/open.creds")
rc=0; "$LG_BIN_CTL" validate "$T/bad.yaml" > "$T/bad.out" 2>&1 || rc=$?
[ $rc != 0 ] && grep -qE "bad.yaml:[0-9]+:[0-9]+: .*creds file .*open.creds has mode 0644.*chmod 600" "$T/bad.out" ||
	lg_fail "a creds file of mode 0644 ($rc): $(cat "$T/bad.out")"
! grep -q "$(sed -n '/BEGIN USER NKEY SEED/{n;p}' "$T/a.creds" | cut -c1-12)" "$T/bad.out" ||
	lg_fail "the seed was printed"
echo "4. a creds file of mode 0644 refused: $(cat "$T/bad.out")"

# --- 5. a user JWT the account did not sign, an expired one: refused, said, kept ---
for who in untrusted expired; do
	P=$(policy $who lineA "$T/$who.creds")
	lg_dp_start $who
	gen $who "$P"
	lg_wait_for 15 grep -q "nats: libnats gave the connection up (Authorization Violation); a new one in 1 s" "$T/$who.err" ||
		lg_fail "$who: the refusal was not logged: $(cat "$T/$who.err")"
	lg_wait_for 10 lg_dp_holds "$T/$who.sock" 's["nats"]["closes"] >= 2' ||
		lg_fail "$who: no second try: $(stat_of "$T/$who.sock" 's["nats"]')"
	python3 - "$T/$who.sock" "$who" <<'PY' || lg_fail "$who: counted wrong"
import sys, lgsock
n = lgsock.call(sys.argv[1], {"cmd": "stats"})["stats"]["nats"]
print(sys.argv[2] + ":", {k: n[k] for k in ("connected", "connects", "closes", "last_error")},
      "outbox", n["outbox"]["records"], "of", n["outbox"]["appended"])
assert not n["connected"] and n["connects"] == 0 and n["acked"] == 0, n
assert n["last_error"] == "connection given up: Authorization Violation", n
assert n["outbox"]["records"] == n["outbox"]["appended"] > 0, n
PY
	lg_dp_stop $who
done
# the server's reasons (its debug log): the untrusted issuer is no account it knows
grep -q "User JWT no longer valid: .*claim is expired" "$T/nats.log" &&
	grep -q "Account JWT lookup error: account missing" "$T/nats.log" ||
	lg_fail "the server's reasons: $(grep -B1 'authentication error' "$T/nats.log" | tail -6)"
echo "5. a user JWT of an untrusted account key, an expired one: refused, logged, records kept"
echo "PASS"
