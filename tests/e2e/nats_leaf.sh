#!/usr/bin/env bash
# Leaf node layout (docs/fleet.md "Leaf nodes"): the plant's hub (JetStream domain "hub")
# and the line server's own nats-server, a leaf node of it with JetStream (domain "leafa"),
# each on free loopback ports with its store in the test's folder. linegate publishes to
# the leaf's stream LOCAL; the hub's stream PLANT sources LOCAL across the leaf connection
# (linegate-fleet stream-create --source LOCAL@leafa); the leaf's configuration is the one
# of docs/fleet.md: it neither exports linegate's subjects (deny_exports: the hub takes
# them through the source only) nor imports them (deny_imports: other lines' records never
# land on this line server), LOCAL takes only its line's subjects, and its client port asks
# for the line server's nkey (the same as linegate's). Two lines: linea through the leaf,
# lineb straight to the hub (a server without a leaf node).
#  0. a client without credentials on the leaf node is refused;
#  1. traffic on both lines: LOCAL holds only linea's records; PLANT every record of both
#     lines exactly once (linea's through the source, in order; lineb's direct);
#  2. the WAN cut (the hub stopped): traffic goes on, linegate's outbox empties into LOCAL
#     (the leaf acknowledges: local subscribers have it), PLANT cannot grow;
#  3. the hub back on its store: the backlog arrives, and PLANT holds every record exactly
#     once, in linegate's order (message ids 1..N in sequence), the same as LOCAL;
#  4. the fleet watch through the leaf: linegated pointed at the leaf (--fleet-url) with the
#     hub's JetStream domain (--fleet-domain hub) reports into the hub's bucket and applies a
#     bundle published and rolled out at the hub (linegated and linegate run its policy);
#  5. the hub takes a leaf connection with its credentials only (user and password in the
#     hub's leafnodes authorization): the leaf restarted with a wrong password is refused by
#     the hub, linegate's records wait in LOCAL, PLANT does not grow; the password fixed, the
#     leaf connects and PLANT holds every record once, in order.
source "$(dirname "$0")/lib.sh"
lg_need_nats
lg_tmp
T=$LG_TMP
HPORT=$(lg_free_port) HLEAF=$(lg_free_port) LPORT=$(lg_free_port) DPORT=$(lg_free_port)
HUB=nats://127.0.0.1:$HPORT LEAF=nats://127.0.0.1:$LPORT
LEAFPW=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n') # the leaf connection's password

cat > "$T/hub.conf" <<CONF
server_name: hub
listen: 127.0.0.1:$HPORT
jetstream { store_dir: "$T/hub-js", domain: hub }
# the hub takes a leaf connection with its user and password only (docs/fleet.md "Leaf nodes":
# nats-server 2.9 has no nkey for a leaf connection without operator mode)
leafnodes {
  listen: 127.0.0.1:$HLEAF
  authorization { users: [ { user: leafa, password: "$LEAFPW" } ] }
}
CONF
# the line server's nkey (linegate and linegated) and the local operator's, for the leaf
for n in a admin; do
	"$FLEET" nkey-gen "$T/$n.nk" > "$T/$n.pub" || lg_fail "nkey-gen $n failed"
done
# docs/fleet.md "Leaf nodes", with lgtest for linegate, linea for line-7, leafsrv for srv-a,
# the hub's domain hub and the default object store
cat > "$T/leaf.conf" <<CONF
server_name: leafa
listen: 127.0.0.1:$LPORT
authorization {
  users: [
    { nkey: $(cat "$T/admin.pub") }
    { nkey: $(cat "$T/a.pub")
      permissions: {
        publish: { allow: [
          "lgtest.north.linea.>",
          "\$JS.hub.API.DIRECT.GET.KV_linegate-config.\$KV.linegate-config.north.linea.bundle",
          "\$JS.hub.API.DIRECT.GET.KV_linegate-config.\$KV.linegate-config.north.linea.canary.leafsrv",
          "\$JS.hub.API.\$KV.linegate-config.north.linea.status.leafsrv",
          "\$JS.hub.API.STREAM.INFO.OBJ_linegate-bundles",
          "\$JS.hub.API.STREAM.MSG.GET.OBJ_linegate-bundles",
          "\$JS.hub.API.CONSUMER.CREATE.OBJ_linegate-bundles",
          "\$JS.hub.API.CONSUMER.CREATE.OBJ_linegate-bundles.>",
          "\$JS.hub.API.CONSUMER.DELETE.OBJ_linegate-bundles.>",
          "\$JS.FC.OBJ_linegate-bundles.>"
        ] }
        subscribe: { allow: [ "_INBOX.north.linea.>" ] }
      }
    }
  ]
}
jetstream { store_dir: "$T/leaf-js", domain: leafa }
leafnodes {
  reconnect: 1
  remotes: [ {
    url: "nats-leaf://leafa:$LEAFPW@127.0.0.1:$HLEAF"
    deny_exports: [ "lgtest.>" ]
    deny_imports: [ "lgtest.>" ]
  } ]
}
CONF
LADMIN=(--url "$LEAF" --nkey "$T/admin.nk")
start_nats() { # NAME PORT
	nats-server -c "$T/$1.conf" >> "$T/$1.log" 2>&1 &
	eval "PID_$1=$!"
	LG_PIDS="$LG_PIDS $!"
	lg_wait_for 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $2), 1)" ||
		lg_fail "nats-server $1 did not start: $(tail -5 "$T/$1.log")"
}
start_nats hub $HPORT
start_nats leaf $LPORT
lg_wait_for 10 grep -q "Leafnode connection created" "$T/hub.log" ||
	lg_fail "the leaf node did not connect: $(tail -5 "$T/leaf.log")"

# --- 0. the leaf's client port: no credentials, no entry ---
rc=0; "$FLEET" stream-dump --url "$LEAF" --stream LOCAL > /dev/null 2> "$T/noauth.err" || rc=$?
[ $rc = 1 ] && grep -q "Authorization Violation\|Authentication Violation" "$T/noauth.err" ||
	lg_fail "a client without credentials on the leaf: $rc $(cat "$T/noauth.err")"
echo "0. the leaf node refuses a client without credentials: $(cat "$T/noauth.err")"
"$FLEET" stream-create "${LADMIN[@]}" --stream LOCAL --subject-prefix lgtest --plant north \
	--line linea --max-age 1d --duplicate-window 10m > "$T/local.txt" ||
	lg_fail "stream-create LOCAL failed: $(cat "$T/local.txt")"
grep -q "subjects lgtest.north.linea.>" "$T/local.txt" || lg_fail "LOCAL: $(cat "$T/local.txt")"
"$FLEET" stream-create --url "$HUB" --stream PLANT --subject-prefix lgtest --max-age 1d \
	--source LOCAL@leafa > "$T/plant.txt" || lg_fail "stream-create PLANT failed: $(cat "$T/plant.txt")"
cat "$T/local.txt" "$T/plant.txt"
grep -q 'sources LOCAL from $JS.leafa.API' "$T/plant.txt" || lg_fail "PLANT does not source LOCAL"

sed -e "s#^  model: .*#  model: $LG_SOURCE/control/defaults/model.json#" \
    -e "s#source: 10.77.0.2#source: 127.0.0.1#" \
    -e "s#^port: 4739#port: $DPORT#" -e "s#^uadp_port: 4840#uadp_port: 0#" \
    -e "s#^  jsonl: .*#  jsonl: $T/out.jsonl\n  nats: {urls: $LEAF, subject_prefix: lgtest, plant: north, line: linea, outbox: {dir: $T/outbox}, score_every: 5, nkey_file: $T/a.nk}#" \
    "$LG_SOURCE/control/defaults/policy.yaml" > "$T/policy.yaml"
# line b: a line server without a leaf node, straight to the hub
BPORT=$(lg_free_port)
sed -e "s#^port: $DPORT#port: $BPORT#" -e "s#urls: $LEAF#urls: $HUB#" -e "s#line: linea#line: lineb#" \
    -e "s#outbox: {dir: $T/outbox}#outbox: {dir: $T/outbox-b}#" -e "s#, nkey_file: [^}]*}#}#" \
    -e "s#jsonl: $T/out.jsonl#jsonl: $T/out-b.jsonl#" "$T/policy.yaml" > "$T/policy-b.yaml"
lg_keys "$T"
stats() {
	python3 - "$T/dp.sock" "$1" <<'PY'
import sys, lgsock
s = lgsock.call(sys.argv[1], {"cmd": "stats"})["stats"]
v = eval(sys.argv[2])
print(v)
sys.exit(0 if v is True or (v is not False and v) else 1)
PY
}
"$LG_BIN_DP" -p "$T/policy.yaml" -B 127.0.0.1 -c "$T/dp.sock" -s "$T/stats.json" 2> "$T/dp.err" &
DP=$!
LG_PIDS="$LG_PIDS $DP"
lg_wait_for 5 test -S "$T/dp.sock" || lg_fail "linegate did not start: $(cat "$T/dp.err")"
gen() { "$LG_BIN_GEN" -p "$T/policy.yaml" -t 127.0.0.1:$DPORT -S 127.0.0.1 -q -n 100 -r 2000 "$@"; }
# count URL STREAM [SUBJECT-PREFIX]: messages in a stream (under the prefix)
count() {
	local a=(--url "$1")
	[ "$1" = "$LEAF" ] && a=("${LADMIN[@]}")
	"$FLEET" stream-dump "${a[@]}" --stream "$2" > "$T/$2.jsonl" &&
		python3 -c "import json,sys; print(sum(1 for l in open('$T/$2.jsonl') if json.loads(l)['subject'].startswith('${3:-}')))"
}

# --- 1. traffic on both lines: linea through the leaf, lineb straight to the hub ---
"$LG_BIN_DP" -p "$T/policy-b.yaml" -B 127.0.0.1 -c "$T/dpb.sock" -s "$T/statsb.json" 2> "$T/dpb.err" &
DPB=$!
LG_PIDS="$LG_PIDS $DPB"
lg_wait_for 5 test -S "$T/dpb.sock" || lg_fail "linegate b did not start: $(cat "$T/dpb.err")"
"$LG_BIN_GEN" -p "$T/policy-b.yaml" -t 127.0.0.1:$BPORT -S 127.0.0.1 -q -n 100 -r 2000 -f 102:50:bearing
gen -f 103:50:bearing
lg_wait_for 15 stats 's["nats"]["outbox"]["records"] == 0 and s["nats"]["outbox"]["appended"] > 0' > /dev/null ||
	lg_fail "run 1: the outbox did not empty"
N1=$(stats 's["nats"]["outbox"]["appended"]')
lg_wait_for 15 python3 -c "import lgsock,sys; n=lgsock.call('$T/dpb.sock', {'cmd':'stats'})['stats']['nats']; sys.exit(0 if n['outbox']['records'] == 0 and n['acked'] > 0 else 1)" ||
	lg_fail "run 1: line b's outbox did not empty: $(tail -3 "$T/dpb.err")"
kill -INT $DPB
wait $DPB || lg_fail "linegate b exited $?"
# what line b appended, read from its final stats: an incident open at the stop gets a final
# update then (docs/policy.md "Incidents"), after any count read while it ran
NB=$(python3 -c "import json; print(json.load(open('$T/statsb.json'))['nats']['outbox']['appended'])")
lg_wait_value 30 "$N1" count "$HUB" PLANT lgtest.north.linea. > /dev/null ||
	lg_fail "run 1: PLANT has $(count "$HUB" PLANT lgtest.north.linea.) of linea's $N1: $(tail -3 "$T/hub.log")"
lg_wait_value 15 "$NB" count "$HUB" PLANT lgtest.north.lineb. > /dev/null || lg_fail "run 1: PLANT has $(count "$HUB" PLANT lgtest.north.lineb.) of lineb's $NB"
sleep 2 # a record of line b taken by the leaf would show in LOCAL by now
[ "$(count "$LEAF" LOCAL)" = "$N1" ] && [ "$(count "$LEAF" LOCAL lgtest.north.linea.)" = "$N1" ] ||
	lg_fail "run 1: LOCAL holds $(count "$LEAF" LOCAL) records, $(count "$LEAF" LOCAL lgtest.north.linea.) of linea's $N1"
echo "1. $N1 records of linea through the leaf node into PLANT, $NB of lineb direct; LOCAL holds linea's only"

# --- 2. the WAN cut: the hub stopped; records go on into the leaf ---
kill -TERM $PID_hub
wait $PID_hub || true
gen --first-seq 101 -f 107:40:imbalance
lg_wait_for 15 stats "s['nats']['outbox']['records'] == 0 and s['nats']['outbox']['appended'] > $N1" > /dev/null ||
	lg_fail "run 2: the leaf did not take the records during the cut: $(stats 's["nats"]')"
N2=$(stats 's["nats"]["outbox"]["appended"]')
[ "$(count "$LEAF" LOCAL)" = "$N2" ] || lg_fail "run 2: LOCAL has $(count "$LEAF" LOCAL) of $N2"
echo "2. the hub away: $((N2 - N1)) more records, acknowledged by the leaf (LOCAL has $N2)"

# --- 3. the hub back: the backlog arrives, once, in order ---
start_nats hub $HPORT
lg_wait_value 90 "$N2" count "$HUB" PLANT lgtest.north.linea. > /dev/null ||
	lg_fail "run 3: PLANT has $(count "$HUB" PLANT lgtest.north.linea.) of $N2 after the hub came back: $(tail -5 "$T/hub.log")"
sleep 2 # anything more (a duplicate) would show now
count "$HUB" PLANT > /dev/null
count "$LEAF" LOCAL > /dev/null
in_order() { # N: PLANT holds linea's records 1..N once, in order, the same as LOCAL
python3 - "$T" "$1" <<'PY'

import json, sys
T, n = sys.argv[1], int(sys.argv[2])
allp = [json.loads(l) for l in open(f"{T}/PLANT.jsonl")]
plant = [m for m in allp if m["subject"].startswith("lgtest.north.linea.")]
other = [m for m in allp if not m["subject"].startswith("lgtest.north.linea.")]
local = [json.loads(l) for l in open(f"{T}/LOCAL.jsonl")]
ids = [m["msg_id"] for m in other]
assert len(ids) == len(set(ids)) and all(m["subject"].startswith("lgtest.north.lineb.") for m in other), ids[:5]
seqs = [int(m["msg_id"].rsplit(":", 1)[1]) for m in plant]
print(f"PLANT: {len(plant)} messages, outbox sequence numbers {seqs[0]}..{seqs[-1]}")
assert seqs == list(range(1, n + 1)), seqs[:20]
assert [(m["subject"], m["msg_id"], m["data"]) for m in plant] == \
       [(m["subject"], m["msg_id"], m["data"]) for m in local]
assert all(m["subject"].startswith("lgtest.north.linea.") for m in local)
PY
}
in_order "$N2" || lg_fail "run 3: PLANT is not every record once, in order"
# the source has caught up, and linegate-fleet says so
"$FLEET" stream-dump --url "$HUB" --stream PLANT > /dev/null 2> "$T/dump.err" || lg_fail "stream-dump PLANT failed"
grep -q 'stream PLANT: source LOCAL from $JS.leafa.API: lag 0, last heard [0-9.]* s ago' "$T/dump.err" ||
	lg_fail "stream-dump does not show the source's lag: $(cat "$T/dump.err")"
echo "3. the hub back: PLANT holds all $N2 records once, in linegate's order ($(cat "$T/dump.err"))"

# --- 4. the fleet watch through the leaf node: linegated reads the hub's bucket ---
# The leaf has JetStream of its own, which would answer $JS.API.> itself (no such bucket):
# linegated names the hub's domain (--fleet-domain hub, $JS.hub.API.>), and the bundle is
# published and rolled out at the hub.
KEY=$(lg_demo_key)
HLINE=(--url "$HUB" --plant north --line linea)
sha() { sha256sum "$1" | cut -d' ' -f1; }
start_d() { # extra linegated arguments
	"$LG_BIN_D" -p "$T/policy.yaml" -S "$T/d.sock" -d "$T/dp.sock" -a "$T/audit.jsonl" \
		-s "$T/d-state" --fleet-url "$LEAF" --fleet-plant north --fleet-line linea \
		--fleet-server leafsrv --fleet-report 1000 --fleet-nkey "$T/a.nk" "$@" 2>> "$T/d.err" &
	D=$!
	LG_PIDS="$LG_PIDS $D"
	lg_wait_for 5 test -S "$T/d.sock" || lg_fail "linegated did not start: $(cat "$T/d.err")"
}
running() {
	python3 - "$T" <<'PY'
import sys, lgsock
T = sys.argv[1]
print(lgsock.call(T + "/d.sock", {"cmd": "status"})["policy_sha256"],
      lgsock.call(T + "/dp.sock", {"cmd": "status"})["policy_sha256"])
PY
}
reporters() { # the servers with a report in the hub's bucket
	"$FLEET" status "${HLINE[@]}" --json 2> /dev/null |
		python3 -c 'import json, sys; print(" ".join(sorted(json.loads(l)["server"] for l in sys.stdin)))'
}
mkdir -p "$T/v1"
{ cat "$T/policy.yaml"; echo "# fleet bundle v1, through the leaf"; } > "$T/v1/policy.yaml"
"$FLEET" publish "$T/v1" "${HLINE[@]}" --version v1 --key "$KEY" > "$T/pub1.txt" ||
	lg_fail "publish v1 at the hub failed: $(cat "$T/pub1.txt")"
start_d --fleet-domain hub
lg_wait_value 15 leafsrv reporters > /dev/null ||
	lg_fail "linegated's report did not reach the hub's bucket: $(tail -5 "$T/d.err")"
rc=0; "$FLEET" rollout v1 "${HLINE[@]}" --wait 30 > "$T/roll1.txt" 2>&1 || rc=$?
cat "$T/roll1.txt"
[ $rc = 0 ] && grep -q "done: north/linea runs v1 on 1 server" "$T/roll1.txt" ||
	lg_fail "rollout v1 through the leaf failed ($rc): $(tail -5 "$T/d.err")"
B1=$(sha "$T/v1/policy.yaml")
[ "$(running)" = "$B1 $B1" ] || lg_fail "linegated and linegate do not run v1: $(running)"
grep -q '"what":"fleet_apply".*"result":"ok".*linea@v1' "$T/audit.jsonl" ||
	lg_fail "the apply of v1 was not audited"
echo "4. a bundle rolled out at the hub, applied by linegated through the leaf node (--fleet-domain hub)"
kill -INT $D
rc=0; wait $D || rc=$?
[ $rc = 0 ] || lg_fail "linegated exited $rc: $(tail -5 "$T/d.err")"

# --- 5. the leaf connection's credentials: a wrong password refused by the hub ---
kill -TERM $PID_leaf
wait $PID_leaf || true
cp "$T/leaf.conf" "$T/leaf.good"
sed -i "s#nats-leaf://leafa:$LEAFPW@#nats-leaf://leafa:wrong$LEAFPW@#" "$T/leaf.conf"
HL=$(grep -c "authentication error" "$T/hub.log" || true)
LL=$(wc -l < "$T/leaf.log")
start_nats leaf $LPORT
since() { tail -n +$((LL + 1)) "$T/leaf.log" > "$T/leaf.new"; grep -q "$1" "$T/leaf.new"; }
lg_wait_for 15 since "Leafnode Error 'Authorization Violation'" ||
	lg_fail "run 5: the leaf with a wrong password was not refused: $(tail -5 "$T/leaf.log")"
[ "$(grep -c "authentication error" "$T/hub.log")" -gt "$HL" ] ||
	lg_fail "run 5: the hub did not log the refusal: $(tail -5 "$T/hub.log")"
gen --first-seq 201 -f 105:40:bearing
lg_wait_for 15 stats "s['nats']['outbox']['records'] == 0 and s['nats']['outbox']['appended'] > $N2" > /dev/null ||
	lg_fail "run 5: the leaf did not take the records: $(stats 's["nats"]')"
N3=$(stats 's["nats"]["outbox"]["appended"]')
[ "$(count "$LEAF" LOCAL)" = "$N3" ] || lg_fail "run 5: LOCAL has $(count "$LEAF" LOCAL) of $N3"
sleep 3 # a record that crossed the refused link would show in PLANT by now
[ "$(count "$HUB" PLANT lgtest.north.linea.)" = "$N2" ] ||
	lg_fail "run 5: PLANT has $(count "$HUB" PLANT lgtest.north.linea.) with the leaf refused, $N2 before"
echo "5a. a leaf with a wrong password: refused by the hub (the leaf logs $(grep -m1 -o "Leafnode Error 'Authorization Violation'" "$T/leaf.new")); $((N3 - N2)) records wait in LOCAL"
# the password fixed: the leaf connects and PLANT catches up, once, in order
kill -TERM $PID_leaf
wait $PID_leaf || true
cp "$T/leaf.good" "$T/leaf.conf"
start_nats leaf $LPORT
lg_wait_value 60 "$N3" count "$HUB" PLANT lgtest.north.linea. > /dev/null ||
	lg_fail "run 5: PLANT has $(count "$HUB" PLANT lgtest.north.linea.) of $N3 with the password fixed: $(tail -5 "$T/leaf.log")"
sleep 2
count "$HUB" PLANT > /dev/null
count "$LEAF" LOCAL > /dev/null
in_order "$N3" || lg_fail "run 5: PLANT is not every record once, in order"
echo "5b. the password fixed: PLANT holds all $N3 records of linea once, in order"

kill -INT $DP
wait $DP || lg_fail "linegate exited $?"
echo PASS
