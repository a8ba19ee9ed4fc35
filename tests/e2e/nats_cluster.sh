#!/usr/bin/env bash
# A 3-node nats-server cluster with JetStream and three line servers (docs/fleet.md "A
# 3-node cluster"): the nodes' client ports on the host side of the test's veths, their
# routes on loopback, each store in the test's folder; the plant stream PLANT with 3
# replicas. Three linegate, each in its own network namespace with its own load generator
# the three servers of line "fleet", the same policy text), publish to the cluster (all
# three URLs, libnats picks one at random); three linegated watch the cluster's bucket.
#  1. the node most linegate are connected to killed (SIGKILL) during traffic and started
#     again on its store: every record of every server is in PLANT exactly once (message ids
#     <plant>:<line>:<outbox id>:1..appended for each server's outbox, each once), every
#     outbox empty;
#  2. a signed bundle rolled out to the three linegated through the cluster (the rollout
#     time is printed: bench/nats_bench.sh reads it);
#  3. another rolled out with a node killed 1.5 s in and started again 5 s later: done (a
#     server whose fetch timed out meanwhile reports "retrying", no verdict), and no server
#     is said not to have reported.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_need_nats
lg_tmp
T=$LG_TMP
NS=lgc$$
HOST_IP=10.213.1.1 # the host side of line server 1's veth: the nodes listen there
# A veth per line server: host side 10.213.S.1, namespace side 10.213.S.2 (default route).
for s in 1 2 3; do
	ip netns add $NS$s || lg_skip "cannot create network namespaces here"
	LG_CLEANUP_NS="${LG_CLEANUP_NS:-} $NS$s"
	ip link add lgch$s$$ type veth peer name lgcn$s netns $NS$s
	ip addr add 10.213.$s.1/24 dev lgch$s$$
	ip link set lgch$s$$ up
	ip -n $NS$s addr add 10.213.$s.2/24 dev lgcn$s
	ip -n $NS$s link set lgcn$s up
	ip -n $NS$s link set lo up
	ip -n $NS$s route add default via 10.213.$s.1
done

declare -A CPORT RPORT MPORT
for n in 1 2 3; do CPORT[$n]=$(lg_free_port); RPORT[$n]=$(lg_free_port); MPORT[$n]=$(lg_free_port); done
URLS=nats://$HOST_IP:${CPORT[1]},nats://$HOST_IP:${CPORT[2]},nats://$HOST_IP:${CPORT[3]}
for n in 1 2 3; do
	cat > "$T/n$n.conf" <<CONF
server_name: n$n
listen: $HOST_IP:${CPORT[$n]}
http: 127.0.0.1:${MPORT[$n]}
jetstream { store_dir: "$T/n$n-js" }
cluster {
  name: plant
  listen: 127.0.0.1:${RPORT[$n]}
  routes: [ nats-route://127.0.0.1:${RPORT[1]}, nats-route://127.0.0.1:${RPORT[2]}, nats-route://127.0.0.1:${RPORT[3]} ]
}
CONF
done
start_node() {
	nats-server -c "$T/n$1.conf" >> "$T/n$1.log" 2>&1 &
	eval "NODE_$1=$!"
	LG_PIDS="$LG_PIDS $!"
}
for n in 1 2 3; do start_node $n; done
T0=$(date +%s)
# The cluster elects its JetStream meta leader: stream-create succeeds once it has one.
create() {
	"$FLEET" stream-create --url "$URLS" --stream PLANT --subject-prefix lgtest --replicas 3 \
		--max-age 1h --duplicate-window 10m > "$T/create.txt" 2> "$T/create.err"
}
lg_wait_for 30 create || lg_fail "no R3 stream: $(cat "$T/create.err"; grep -i "listen\|error" "$T/n1.log" | head; ip addr show lgch1$$)"
grep -q "replicas 3" "$T/create.txt" || lg_fail "stream-create said: $(cat "$T/create.txt")"

# The line servers: linegate (and its load generator) in the namespace, linegated beside it.
KEY=$(lg_demo_key)
for s in 1 2 3; do
	mkdir -p "$T/s$s"
	sed -e "s#^  model: .*#  model: $LG_SOURCE/control/defaults/model.json#" \
	    -e "s#source: 10.77.0.2#source: 127.0.0.1#" -e "s#^uadp_port: 4840#uadp_port: 0#" \
	    -e "s#^  jsonl: .*#  jsonl: out.jsonl\n  nats: {urls: [${URLS//,/, }], subject_prefix: lgtest, plant: north, line: fleet, outbox: {dir: outbox}, score_every: 10}#" \
	    "$LG_SOURCE/control/defaults/policy.yaml" > "$T/s$s/policy.yaml"
	lg_keys "$T/s$s"
	STATE_DIRECTORY=$T/s$s/dp-state ip netns exec $NS$s "$LG_BIN_DP" -p "$T/s$s/policy.yaml" \
		-B 127.0.0.1 -c "$T/s$s/dp.sock" -s "$T/s$s/stats.json" 2> "$T/s$s/dp.err" &
	LG_PIDS="$LG_PIDS $!"
	eval "DP_$s=$!"
	lg_wait_for 5 test -S "$T/s$s/dp.sock" || lg_fail "linegate s$s did not start: $(cat "$T/s$s/dp.err")"
done
nstat() { # S EXPR: EXPR over linegate s$S's stats s["nats"] (as n)
	python3 - "$T/s$1/dp.sock" "$2" <<'PY'
import sys, lgsock
n = lgsock.call(sys.argv[1], {"cmd": "stats"})["stats"]["nats"]
v = eval(sys.argv[2])
print(v)
sys.exit(0 if v is True or (v is not False and v) else 1)
PY
}

# --- 1. traffic on the three lines; node n1 killed and started again meanwhile ---
for s in 1 2 3; do
	ip netns exec $NS$s "$LG_BIN_GEN" -p "$T/s$s/policy.yaml" -t 127.0.0.1:4739 -S 127.0.0.1 -q \
		-n 2400 -r 400 -f 103:300:bearing -f 107:300:imbalance > "$T/s$s/gen.out" 2>&1 &
	eval "GEN_$s=$!"
	LG_PIDS="$LG_PIDS $!"
done
sleep 2
# the node with the most client connections (linegate's; linegated is not running yet)
K=$(python3 - ${MPORT[1]} ${MPORT[2]} ${MPORT[3]} <<'PY'
import json, sys, urllib.request
c = [json.load(urllib.request.urlopen(f"http://127.0.0.1:{p}/varz"))["connections"] for p in sys.argv[1:]]
print(1 + c.index(max(c)))
PY
)
eval "kill -KILL \$NODE_$K; wait \$NODE_$K || true"
echo "n$K killed at $(( $(date +%s) - T0 )) s"
sleep 2
start_node $K
echo "n$K started again"
for s in 1 2 3; do eval "wait \$GEN_$s" || lg_fail "loadgen s$s failed: $(cat "$T/s$s/gen.out")"; done
for s in 1 2 3; do
	lg_wait_for 60 nstat $s 'n["outbox"]["records"] == 0 and n["outbox"]["appended"] > 0' > /dev/null ||
		lg_fail "s$s: the outbox did not empty: $(nstat $s n); $(tail -5 "$T/s$s/dp.err")"
done
"$FLEET" stream-dump --url "$URLS" --stream PLANT > "$T/plant.jsonl" || lg_fail "stream-dump failed"
for s in 1 2 3; do nstat $s 'n' > "$T/s$s/nats.txt"; done
python3 - "$T" <<'PY' || lg_fail "PLANT does not hold every record exactly once"
import ast, collections, json, sys
T = sys.argv[1]
msgs = [json.loads(l) for l in open(f"{T}/plant.jsonl")]
ok = all(m["subject"].startswith("lgtest.north.fleet.") for m in msgs)
ids = sorted({m["msg_id"].split(":")[2] for m in msgs})
print(f"PLANT: {len(msgs)} messages from {len(ids)} outboxes")
ok &= len(ids) == 3
for s in (1, 2, 3):
    n = ast.literal_eval(open(f"{T}/s{s}/nats.txt").read())
    oid = open(f"{T}/s{s}/outbox/id").read().strip() # the outbox id in its message ids
    mine = [m for m in msgs if m["msg_id"].split(":")[2] == oid]
    seqs = collections.Counter(int(m["msg_id"].rsplit(":", 1)[1]) for m in mine)
    want = n["outbox"]["appended"]
    twice = sum(c - 1 for c in seqs.values())
    missing = [q for q in range(1, want + 1) if q not in seqs]
    print(f"s{s} (outbox {oid}): appended {want}, in PLANT {len(mine)}, missing {len(missing)}, twice {twice}; "
          f"published {n['published']}, resent {n['resent']}, duplicates {n['duplicates']}, "
          f"connects {n['connects']}, errors {n['errors']}")
    ok &= not missing and not twice and len(mine) == want and set(seqs) == set(range(1, want + 1))
    ok &= n["outbox"]["evicted"] == 0 and n["outbox"]["dropped_scores"] == 0
sys.exit(0 if ok else 1)
PY
echo "1. three line servers, n$K killed and restarted during traffic: every record once in PLANT"

# --- 2. a rollout to the three linegated through the cluster ---
for s in 1 2 3; do
	"$LG_BIN_D" -p "$T/s$s/policy.yaml" -S "$T/s$s/d.sock" -d "$T/s$s/dp.sock" \
		-a "$T/s$s/audit.jsonl" -s "$T/s$s/state" --fleet-url "$URLS" --fleet-plant north \
		--fleet-line fleet --fleet-server s$s --fleet-report 1000 2> "$T/s$s/d.err" &
	LG_PIDS="$LG_PIDS $!"
	eval "D_$s=$!"
	lg_wait_for 5 test -S "$T/s$s/d.sock" || lg_fail "linegated s$s did not start: $(cat "$T/s$s/d.err")"
done
# the bundle: the servers' policy (the same text for the three) and a comment
mkdir -p "$T/v1"
{ cat "$T/s1/policy.yaml"; echo "# fleet bundle v1"; } > "$T/v1/policy.yaml"
"$FLEET" publish "$T/v1" --url "$URLS" --plant north --line fleet --version v1 --key "$KEY" \
	--replicas 3 > "$T/pub.txt" 2>&1 || lg_fail "publish failed: $(cat "$T/pub.txt")"
reported() { "$FLEET" status --url "$URLS" --plant north --line fleet --json 2>/dev/null | grep -c "\"server\":\"s$1\""; }
for s in 1 2 3; do
	lg_wait_value 15 1 reported $s ||
		lg_fail "s$s never reported: $(tail -3 "$T/s$s/d.err")"
done
rc=0; "$FLEET" rollout v1 --url "$URLS" --plant north --line fleet --canary s1 --wait 30 \
	--observe 2 > "$T/roll.txt" 2>&1 || rc=$?
cat "$T/roll.txt"
[ $rc = 0 ] || lg_fail "rollout failed ($rc)"
echo "2. rollout: $(grep -o 'done: .*' "$T/roll.txt")"
# --- 3. a node killed 1.5 s into a canary rollout (trial R, s23: "incomplete: no server of
# the line has reported" right after the canary's report: the bucket's keys could not be
# listed while its stream elected a leader anew) ---
mkdir -p "$T/v2"
{ cat "$T/s1/policy.yaml"; echo "# fleet bundle v2"; } > "$T/v2/policy.yaml"
"$FLEET" publish "$T/v2" --url "$URLS" --plant north --line fleet --version v2 --key "$KEY" \
	--replicas 3 > "$T/pub2.txt" 2>&1 || lg_fail "publish v2 failed: $(cat "$T/pub2.txt")"
K2=$(( K % 3 + 1 ))
rc=0; "$FLEET" rollout v2 --url "$URLS" --plant north --line fleet --canary s1 --wait 30 \
	--observe 2 > "$T/roll2.txt" 2>&1 & ROLL=$!
sleep 1.5
eval "kill -KILL \$NODE_$K2; wait \$NODE_$K2 || true"
# started again 5 s later, as a plant's node comes back: the servers whose fetch timed out
# meanwhile report "retrying" (no verdict) and apply it at a later try, within --wait
sleep 5
start_node $K2
wait $ROLL || rc=$?
cat "$T/roll2.txt"
! grep -q "has reported" "$T/roll2.txt" ||
	lg_fail "3: the servers that reported were said not to have"
[ $rc = 0 ] || { for s in 1 2 3; do echo "== s$s"; grep -i "fleet\|nats" "$T/s$s/d.err" | tail -8; done; lg_fail "3: rollout with n$K2 killed failed ($rc)"; }
echo "3. rollout with n$K2 killed 1.5 s in, back 5 s later: $(grep -o 'done: .*' "$T/roll2.txt")"
for s in 1 2 3; do kill -TERM $(eval echo \$D_$s); done
for s in 1 2 3; do eval "wait \$D_$s" || lg_fail "linegated s$s exited $?"; done
for s in 1 2 3; do kill -INT $(eval echo \$DP_$s); eval "wait \$DP_$s" || lg_fail "linegate s$s exited $?: $(tail -3 "$T/s$s/dp.err")"; done
echo "total $(( $(date +%s) - T0 )) s"
echo PASS
