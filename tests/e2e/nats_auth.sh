#!/usr/bin/env bash
# NATS credentials and subject permissions (docs/fleet.md "Credentials") against a real
# nats-server -js that requires TLS with a client certificate (verify) and nkey users, each
# line server's user allowed only its own subjects, keys and object store:
#  1. linegate with server A's nkey and client certificate publishes under A's prefix
#     (lgtest.north.lineA.>): every record arrives, none refused;
#  2. the same credentials with line B's prefix: every publish refused by the server, counted
#     as refused with the server's own words (Permissions Violation ... lgtest.north.lineB),
#     none acknowledged, none in the stream, every record kept in the outbox;
#  3. linegated with A's credentials applies a signed bundle of line A from line A's object
#     store, and reports; pointed at line B's keys and object store, it gets nothing (the
#     server refuses the reads: logged with its words), fetches and applies nothing;
#     A's credentials cannot read the shared bucket's stream info (every line's key names):
#     linegate-fleet status of line A with them fails with the server's words;
#  4. refusals at start: an nkey file readable by others (LINE:COL, chmod 600), a seed with
#     a changed character (checksum), both nkey_file and creds_file; no credentials at all:
#     the server refuses the connection and nothing is published;
#  5. a key the server does not know yet (re-check trial 13 N2): the login is refused twice,
#     libnats gives the connection up; linegate logs why, counts it (nats.closes), says it in
#     nats.last_error and makes a new connection after a backoff; once the server's
#     configuration has the key (reloaded on SIGHUP) it connects by itself and every record
#     of its outbox arrives in the stream; linegated with that key says why it cannot connect
#     (once), tries again with a backoff, and reports once the server knows the key.
source "$(dirname "$0")/lib.sh"
lg_need_nats
command -v openssl >/dev/null || lg_skip "openssl is not installed"
lg_tmp
T=$LG_TMP
PORT=$(lg_free_port)
URL=tls://127.0.0.1:$PORT

# PKI: a test CA, the server's certificate, a client certificate per user.
mkdir -p "$T/pki"
(
cd "$T/pki"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=test ca" -keyout ca.key \
	-out ca.crt 2>/dev/null || exit 1
printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
for n in server admin a b; do
	openssl req -newkey rsa:2048 -nodes -subj "/CN=$n" -keyout $n.key -out $n.csr \
		2>/dev/null || exit 1
	openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
		-extfile san.ext -out $n.crt 2>/dev/null || exit 1
done
chmod 600 ./*.key
) || lg_fail "openssl: the test CA and certificates"

# nkeys: linegate-fleet nkey-gen writes the seed (0600) and prints the public key.
for n in admin a b; do
	"$FLEET" nkey-gen "$T/$n.nk" > "$T/$n.pub" || lg_fail "nkey-gen $n failed"
	[ "$(stat -c %a "$T/$n.nk")" = 600 ] || lg_fail "nkey-gen: $n.nk is not 0600"
	grep -qE '^U[A-Z2-7]{55}$' "$T/$n.pub" || lg_fail "nkey-gen printed $(cat "$T/$n.pub")"
done
rc=0; "$FLEET" nkey-gen "$T/a.nk" > /dev/null 2> "$T/gen2.err" || rc=$?
[ $rc = 1 ] && grep -q "never overwritten" "$T/gen2.err" || lg_fail "nkey-gen overwrote a key ($rc)"

# perms LINE SERVER: the permissions of one line server (docs/fleet.md, the same block).
perms() {
	local L=$1 S=$2
	cat <<CONF
      permissions: {
        publish: { allow: [
          "lgtest.north.$L.>",
          "\$JS.API.DIRECT.GET.KV_linegate-config.\$KV.linegate-config.north.$L.bundle",
          "\$JS.API.DIRECT.GET.KV_linegate-config.\$KV.linegate-config.north.$L.canary.$S",
          "\$KV.linegate-config.north.$L.status.$S",
          "\$JS.API.STREAM.INFO.OBJ_bundles-north-$L",
          "\$JS.API.STREAM.MSG.GET.OBJ_bundles-north-$L",
          "\$JS.API.CONSUMER.CREATE.OBJ_bundles-north-$L",
          "\$JS.API.CONSUMER.CREATE.OBJ_bundles-north-$L.>",
          "\$JS.API.CONSUMER.DELETE.OBJ_bundles-north-$L.>",
          "\$JS.FC.OBJ_bundles-north-$L.>"
        ] }
        subscribe: { allow: [ "_INBOX.north.$L.>" ] }
      }
CONF
}
cat > "$T/nats.conf" <<CONF
listen: 127.0.0.1:$PORT
jetstream { store_dir: "$T/js" }
tls {
  cert_file: "$T/pki/server.crt"
  key_file: "$T/pki/server.key"
  ca_file: "$T/pki/ca.crt"
  verify: true
}
authorization {
  users: [
    { nkey: $(cat "$T/admin.pub") }
    { nkey: $(cat "$T/a.pub")
$(perms lineA srvA)
    }
    { nkey: $(cat "$T/b.pub")
$(perms lineB srvB)
    }
  ]
}
CONF
nats-server -c "$T/nats.conf" > "$T/nats.log" 2>&1 &
NATS_PID=$!
LG_PIDS="$LG_PIDS $!"
lg_wait_for 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" ||
	lg_fail "nats-server did not start: $(tail -5 "$T/nats.log")"
ADMIN=(--url "$URL" --tls-ca "$T/pki/ca.crt" --tls-cert "$T/pki/admin.crt"
       --tls-key "$T/pki/admin.key" --nkey "$T/admin.nk")
"$FLEET" stream-create "${ADMIN[@]}" --stream LGTEST --subject-prefix lgtest --max-age 1h \
	> "$T/create.txt" || lg_fail "stream-create (admin) failed: $(cat "$T/create.txt")"
# without credentials, the server refuses
rc=0; "$FLEET" stream-dump --url "$URL" --tls-ca "$T/pki/ca.crt" --tls-cert "$T/pki/admin.crt" \
	--tls-key "$T/pki/admin.key" --stream LGTEST > /dev/null 2> "$T/noauth.err" || rc=$?
[ $rc = 1 ] && grep -q "tls://127.0.0.1:$PORT: Authorization Violation$" "$T/noauth.err" || lg_fail "no credentials: $rc $(cat "$T/noauth.err")"

stat_of() {
	python3 - "$1" "$2" <<'PY'
import sys, lgsock
s = lgsock.call(sys.argv[1], {"cmd": "stats"})["stats"]
print(eval(sys.argv[2]))
PY
}
# policy NAME LINE NKEY CERT: a policy publishing as NKEY with CERT under lgtest.north.LINE
policy() {
	local dp=$(lg_free_port)
	sed -e "s#^  model: .*#  model: $LG_SOURCE/control/defaults/model.json#" \
	    -e "s#source: 10.77.0.2#source: 127.0.0.1#" \
	    -e "s#^port: 4739#port: $dp#" -e "s#^uadp_port: 4840#uadp_port: 0#" \
	    -e "s#^  jsonl: .*#  jsonl: $T/$1.jsonl\n  nats: {urls: $URL, subject_prefix: lgtest, plant: north, line: $2, outbox: {dir: $T/$1.outbox}, score_every: 10, ${5:-}tls: {ca_file: $T/pki/ca.crt, cert_file: $T/pki/$4.crt, key_file: $T/pki/$4.key}}#" \
	    "$LG_SOURCE/control/defaults/policy.yaml" > "$T/$1.yaml"
	[ -n "$3" ] && sed -i "s#score_every: 10, #score_every: 10, nkey_file: $3, #" "$T/$1.yaml"
	echo $dp
}
lg_keys "$T"
gen() { "$LG_BIN_GEN" -p "$T/$1.yaml" -t 127.0.0.1:$2 -S 127.0.0.1 -q -n 100 -r 2000 -f 103:50:bearing; }
count() { # SUBJECT-PREFIX: messages of the stream under it
	"$FLEET" stream-dump "${ADMIN[@]}" --stream LGTEST > "$T/stream.jsonl" || lg_fail "stream-dump failed"
	python3 -c "import json,sys; print(sum(1 for l in open('$T/stream.jsonl') if json.loads(l)['subject'].startswith('$1')))"
}

# --- 1. A's credentials, A's prefix: everything arrives ---
P=$(policy runA lineA "$T/a.nk" a)
lg_dp_start runA
gen runA "$P"
lg_wait_for 15 lg_dp_holds "$T/runA.sock" 's["nats"]["outbox"]["records"] == 0 and s["nats"]["outbox"]["appended"] > 0' ||
	lg_fail "run A: the outbox did not empty: $(stat_of "$T/runA.sock" 's["nats"]')"
APP=$(stat_of "$T/runA.sock" 's["nats"]["outbox"]["appended"]')
[ "$(stat_of "$T/runA.sock" 's["nats"]["refused"]')" = 0 ] || lg_fail "run A: refusals counted"
[ "$(count lgtest.north.lineA.)" = "$APP" ] || lg_fail "run A: $(count lgtest.north.lineA.) in the stream, $APP appended"
echo "1. A's credentials under A's prefix: $APP records, all in the stream, none refused"
lg_dp_stop runA

# --- 2. A's credentials, B's prefix: refused by the server, counted, kept ---
P=$(policy runAB lineB "$T/a.nk" a)
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
# every publish refused once, nothing else counted (the refused subscription of the replies'
# inbox was counted as one more: re-check trial 13b): in a quiet moment between resends
import time
for _ in range(60):
    a = lgsock.call(sys.argv[1], {"cmd": "stats"})["stats"]["nats"]
    time.sleep(0.5)
    b = lgsock.call(sys.argv[1], {"cmd": "stats"})["stats"]["nats"]
    if (a["published"], a["refused"]) == (b["published"], b["refused"]):
        break
assert b["refused"] == b["published"], ("refused != published in a quiet moment", b)
assert n["outbox"]["records"] == n["outbox"]["appended"], n
assert n["last_error"].startswith('Permissions Violation for Publish to "lgtest.north.lineB.'), n
PY
grep -q 'the server refused: Permissions Violation for Publish to "lgtest.north.lineB.' "$T/runAB.err" ||
	lg_fail "run A-as-B: the refusal was not logged: $(tail -3 "$T/runAB.err")"
# each text once, however often the records are sent again
dup=$(grep 'the server refused: ' "$T/runAB.err" | sort | uniq -d | head -3)
[ -z "$dup" ] || lg_fail "run A-as-B: a refusal logged twice: $dup"
[ "$(count lgtest.north.lineB.)" = 0 ] || lg_fail "run A-as-B: records of line B in the stream"
lg_dp_stop runAB
grep -q "messages refused by the server, the last: Permissions Violation" "$T/runAB.err" ||
	lg_fail "run A-as-B: the exit summary does not say it"
echo "2. A's credentials under B's prefix: refused by the server, none acknowledged or stored"

# --- 3. the fleet watch: A reads its own line, not B's ---
KEY=$(lg_demo_key)
P=$(policy fleetA lineA "$T/a.nk" a)
for L in lineA lineB; do
	mkdir -p "$T/$L-v1"
	{ cat "$T/fleetA.yaml"; echo "# $L v1"; } > "$T/$L-v1/policy.yaml"
	"$FLEET" publish "$T/$L-v1" "${ADMIN[@]}" --plant north --line $L --objects bundles-north-$L \
		--version v1 --key "$KEY" > "$T/pub-$L.txt" 2>&1 || lg_fail "publish $L: $(cat "$T/pub-$L.txt")"
done
lg_dp_start fleetA
start_d() { # NAME LINE
	mkdir -p "$T/$1"
	"$LG_BIN_D" -p "$T/fleetA.yaml" -S "$T/$1/d.sock" -d "$T/fleetA.sock" -a "$T/$1/audit.jsonl" \
		-s "$T/$1/state" --fleet-url "$URL" --fleet-plant north --fleet-line $2 \
		--fleet-server srvA --fleet-objects bundles-north-$2 --fleet-report 1000 \
		--fleet-tls-ca "$T/pki/ca.crt" --fleet-tls-cert "$T/pki/a.crt" \
		--fleet-tls-key "$T/pki/a.key" --fleet-nkey "$T/a.nk" 2> "$T/$1/d.err" &
	LG_PIDS="$LG_PIDS $!"
	eval "D_$1=$!"
	lg_wait_for 5 test -S "$T/$1/d.sock" || lg_fail "linegated $1 did not start: $(cat "$T/$1/d.err")"
}
start_d dA lineA
reported_a() { local o; o=$("$FLEET" status "${ADMIN[@]}" --plant north --line lineA --json) &&
	[[ $o == *'"server":"srvA"'* ]]; }
lg_wait_for 20 reported_a ||
	lg_fail "linegated A never reported: $(cat "$T/dA/d.err")"
rc=0; "$FLEET" rollout v1 "${ADMIN[@]}" --plant north --line lineA --objects bundles-north-lineA \
	--wait 30 > "$T/rollA.txt" 2>&1 || rc=$?
cat "$T/rollA.txt"
[ $rc = 0 ] || lg_fail "rollout to line A failed ($rc): $(cat "$T/dA/d.err")"
grep -q '"what":"fleet_bundle","result":"applied".*lineA@v1' "$T/dA/audit.jsonl" ||
	lg_fail "linegated A did not apply line A's v1"
# A pointed at line B (B's keys and object store): the server refuses every read
"$FLEET" rollout v1 "${ADMIN[@]}" --plant north --line lineB --objects bundles-north-lineB \
	--wait 5 > "$T/rollB.txt" 2>&1 || true
start_d dAB lineB
# (its replies would come to _INBOX.north.lineB.>, which A may not subscribe to; and A may not
# ask for line B's keys nor read line B's object store either: docs/fleet.md)
lg_wait_for 15 grep -q 'fleet: the NATS server refused: Permissions Violation for [A-Za-z]* to "[^"]*[.]north[.]lineB[.]' "$T/dAB/d.err" ||
	lg_fail "A reading line B's keys: no refusal logged: $(cat "$T/dAB/d.err")"
sleep 3
[ ! -e "$T/dAB/state/fleet/v1" ] || lg_fail "A fetched line B's bundle"
! grep -q "fleet_apply\|fleet_bundle" "$T/dAB/audit.jsonl" 2>/dev/null || lg_fail "A judged line B's bundle"
# and line B's object store, read directly with A's credentials: refused
rc=0; "$FLEET" status --url "$URL" --tls-ca "$T/pki/ca.crt" --tls-cert "$T/pki/a.crt" \
	--tls-key "$T/pki/a.key" --nkey "$T/a.nk" --plant north --line lineB > "$T/statusB.txt" 2>&1 || rc=$?
[ $rc = 1 ] || lg_fail "A read line B's status ($rc): $(cat "$T/statusB.txt")"
! grep -q "publish makes it" "$T/statusB.txt" || lg_fail "a refusal shown as a missing bucket: $(cat "$T/statusB.txt")"
# the shared bucket's stream info (every line's key names) is not A's to read, even for line A
rc=0; "$FLEET" status --url "$URL" --tls-ca "$T/pki/ca.crt" --tls-cert "$T/pki/a.crt" \
	--tls-key "$T/pki/a.key" --nkey "$T/a.nk" --plant north --line lineA > "$T/statusA.txt" 2>&1 || rc=$?
cat "$T/statusA.txt"
[ $rc = 1 ] && grep -q 'key-value bucket linegate-config: the NATS server refused: Permissions Violation for Publish to "$JS.API.STREAM.INFO.KV_linegate-config"' \
	"$T/statusA.txt" || lg_fail "A read the bucket's stream info ($rc): $(cat "$T/statusA.txt")"
# nor the plant's stream: stream-dump and stream-create with A's credentials say the server's
# words, not "Timeout (error 0)" (trial R, s23)
for c in stream-dump stream-create; do
	rc=0; "$FLEET" $c --url "$URL" --tls-ca "$T/pki/ca.crt" --tls-cert "$T/pki/a.crt" \
		--tls-key "$T/pki/a.key" --nkey "$T/a.nk" --stream LGTEST --subject-prefix lgtest \
		> /dev/null 2> "$T/$c-A.err" || rc=$?
	[ $rc = 1 ] && grep -q "the NATS server refused: Permissions Violation for Publish to \"\$JS.API.STREAM" \
		"$T/$c-A.err" || lg_fail "$c with A's credentials ($rc): $(cat "$T/$c-A.err")"
done
kill -TERM $D_dA $D_dAB
wait $D_dA || lg_fail "linegated A exited $?"
wait $D_dAB || lg_fail "linegated A-as-B exited $?"
lg_dp_stop fleetA
echo "3. linegated with A's credentials applies line A's bundle; line B's reads refused"

# --- 4. refusals at start ---
cp "$T/a.nk" "$T/open.nk"; chmod 644 "$T/open.nk"
P=$(policy bad lineA "$T/open.nk" a)
rc=0; "$LG_BIN_CTL" validate "$T/bad.yaml" > "$T/bad.out" 2>&1 || rc=$?
grep -qE "bad.yaml:[0-9]+:[0-9]+: .*nkey file .*open.nk has mode 0644.*chmod 600" "$T/bad.out" ||
	lg_fail "an nkey file readable by others: $(cat "$T/bad.out")"
python3 -c "
s = open('$T/a.nk').read().strip(); i = 20
open('$T/flip.nk', 'w').write(s[:i] + ('B' if s[i] == 'A' else 'A') + s[i + 1:] + '\n')"
chmod 600 "$T/flip.nk"
P=$(policy bad lineA "$T/flip.nk" a)
rc=0; "$LG_BIN_CTL" validate "$T/bad.yaml" > "$T/bad.out" 2>&1 || rc=$?
grep -qE "bad.yaml:[0-9]+:[0-9]+: nkey file .*flip.nk: not an nkey seed \(its checksum" "$T/bad.out" ||
	lg_fail "a changed seed: $(cat "$T/bad.out")"
! grep -q "$(cut -c1-12 "$T/a.nk")" "$T/bad.out" || lg_fail "the seed was printed"
P=$(policy bad lineA "$T/a.nk" a "creds_file: $T/a.nk, ")
rc=0; "$LG_BIN_CTL" validate "$T/bad.yaml" > "$T/bad.out" 2>&1 || rc=$?
grep -q "creds file .*a.nk is not a NATS .creds file" "$T/bad.out" || lg_fail "an nkey as creds: $(cat "$T/bad.out")"
# no credentials: the server refuses the connection; nothing is published, records kept
P=$(policy none lineA "" a)
lg_dp_start none
gen none "$P"
sleep 2
python3 - "$T/none.sock" <<'PY' || lg_fail "no credentials: counted wrong"
import sys, lgsock
n = lgsock.call(sys.argv[1], {"cmd": "stats"})["stats"]["nats"]
print("no credentials:", {k: n[k] for k in ("connected", "connects", "acked")}, "outbox", n["outbox"]["records"])
assert not n["connected"] and n["connects"] == 0 and n["acked"] == 0, n
assert n["outbox"]["records"] == n["outbox"]["appended"] > 0, n
PY
lg_dp_stop none
echo "4. refused at start: mode 0644, a changed seed, an nkey as creds; no credentials: not connected"

# --- 5. a key the server learns later: refused, logged, counted, tried again until it works ---
"$FLEET" nkey-gen "$T/c.nk" > "$T/c.pub" || lg_fail "nkey-gen c failed"
BEFORE=$(count lgtest.north.lineA.)
P=$(policy late lineA "$T/c.nk" a)
lg_dp_start late
gen late "$P"
# and linegated with the same unknown key (srvC)
mkdir -p "$T/dC"
"$LG_BIN_D" -p "$T/late.yaml" -S "$T/dC/d.sock" -d "$T/late.sock" -a "$T/dC/audit.jsonl" \
	-s "$T/dC/state" --fleet-url "$URL" --fleet-plant north --fleet-line lineA \
	--fleet-server srvC --fleet-objects bundles-north-lineA --fleet-report 1000 \
	--fleet-tls-ca "$T/pki/ca.crt" --fleet-tls-cert "$T/pki/a.crt" \
	--fleet-tls-key "$T/pki/a.key" --fleet-nkey "$T/c.nk" 2> "$T/dC/d.err" &
D_C=$!
LG_PIDS="$LG_PIDS $D_C"
lg_wait_for 15 grep -q "nats: libnats gave the connection up (Authorization Violation); a new one in 1 s" "$T/late.err" ||
	lg_fail "an unknown key: the refusal was not logged: $(cat "$T/late.err")"
lg_wait_for 10 lg_dp_holds "$T/late.sock" 's["nats"]["closes"] >= 2' ||
	lg_fail "an unknown key: no second try: $(stat_of "$T/late.sock" 's["nats"]')"
python3 - "$T/late.sock" <<'PY' || lg_fail "an unknown key: counted wrong"
import sys, lgsock
n = lgsock.call(sys.argv[1], {"cmd": "stats"})["stats"]["nats"]
print("unknown key:", {k: n[k] for k in ("connected", "connects", "closes", "last_error")})
assert not n["connected"] and n["connects"] == 0 and n["acked"] == 0, n
assert n["last_error"] == "connection given up: Authorization Violation", n
assert n["outbox"]["records"] == n["outbox"]["appended"] > 0, n
PY
# the server learns the key: its configuration reloaded (SIGHUP)
python3 - "$T/nats.conf" "$(cat "$T/c.pub")" "$(perms lineA srvC)" <<'PY'
import sys
path, pub, perms = sys.argv[1:]
conf = open(path).read()
conf = conf.replace("  users: [\n", "  users: [\n    { nkey: %s\n%s\n    }\n" % (pub, perms), 1)
open(path, "w").write(conf)
PY
lg_wait_for 15 grep -q "linegated: fleet: cannot connect to the NATS server (Authorization Violation); trying again in" "$T/dC/d.err" ||
	lg_fail "linegated with an unknown key does not say why: $(cat "$T/dC/d.err")"
kill -HUP $NATS_PID
lg_wait_for 60 lg_dp_holds "$T/late.sock" 's["nats"]["connected"] and s["nats"]["outbox"]["records"] == 0' ||
	lg_fail "the key known now: linegate did not connect again: $(stat_of "$T/late.sock" 's["nats"]'; tail -5 "$T/late.err"; tail -5 "$T/nats.log")"
APP=$(stat_of "$T/late.sock" 's["nats"]["outbox"]["appended"]')
AFTER=$(count lgtest.north.lineA.)
[ "$AFTER" = $((BEFORE + APP)) ] || lg_fail "the key known now: $AFTER in the stream, $BEFORE + $APP wanted"
CL=$(stat_of "$T/late.sock" 's["nats"]["closes"]')
grep -q "linegate: nats: connected, after [0-9]* connection(s) given up" "$T/late.err" ||
	lg_fail "the key known now: the connection not said: $(tail -3 "$T/late.err")"
reported_c() { local o; o=$("$FLEET" status "${ADMIN[@]}" --plant north --line lineA --json) &&
	[[ $o == *'"server":"srvC"'* ]]; }
lg_wait_for 40 reported_c || lg_fail "linegated with the key known now never reported: $(tail -5 "$T/dC/d.err")"
[ "$(grep -c 'cannot connect to the NATS server (Authorization Violation)' "$T/dC/d.err")" = 1 ] ||
	lg_fail "linegated logged the same reason more than once a minute: $(cat "$T/dC/d.err")"
kill -TERM $D_C
wait $D_C || lg_fail "linegated srvC exited $?"
lg_dp_stop late
grep -q "linegate: nats: $CL connection(s) given up by libnats and made again (1 connected)" "$T/late.err" ||
	lg_fail "the exit summary does not count the connections given up: $(tail -4 "$T/late.err")"
[ "$(grep -c 'libnats gave the connection up (Authorization Violation)' "$T/late.err")" = 1 ] ||
	lg_fail "the same reason logged more than once within a minute: $(grep 'gave the connection up' "$T/late.err")"
echo "5. a key the server learnt later: $CL connections given up (logged, counted), then connected by itself; $APP records arrived"
echo "PASS"
