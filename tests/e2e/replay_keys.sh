#!/usr/bin/env bash
# Trial s18 M7: the replay mark belongs to the device's keys. A valid frame at sequence 2^63
# (a device bug, or a device that rebooted to sequence 1) makes every lower sequence a
# replay, across restarts. The way out: keys that are all new (enroll or rotate-key to a
# new key, then retire the old one) start a fresh mark, which an attacker without the keys
# cannot bring about; a rotation that keeps a key keeps the mark.
#   1. seq 1..20, then one at 2^63: seq 1..5 refused (XDP replayed), also after a restart
#   2. a new key (applied live): seq 1..20 admitted; the old key's frames refused (unknown_key)
#   3. restart with the new key: its mark was kept (seq 1..5 refused, 21..25 admitted)
#   4. rotation to new + newer (a key in common): the mark stays (seq 1..5 refused)
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgrk$$"
T=$LG_TMP
MODE=${1:-native}
[ "$MODE" = native ] && XDP=lg0 || XDP=lg0:generic
lg_policy "$T/policy.yaml"
mkdir -p "$T/state"
od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$T/keys/press-1-new.key"
od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$T/keys/press-1-newer.key"
chmod 600 "$T"/keys/*.key
# policy2: 101 with key 2 only (the old key 1 retired); policy3: keys 2 and 3
sed "s#{id: 1, key_file: keys/press-1-vib.key}#{id: 2, key_file: keys/press-1-new.key}#" \
	"$T/policy.yaml" > "$T/policy2.yaml"
sed "s#{id: 1, key_file: keys/press-1-vib.key}#{id: 2, key_file: keys/press-1-new.key}\n      - {id: 3, key_file: keys/press-1-newer.key}#" \
	"$T/policy.yaml" > "$T/policy3.yaml"
grep -q press-1-new "$T/policy2.yaml" && grep -q press-1-newer "$T/policy3.yaml" ||
	lg_fail "could not write the key policies"

start() {
	cp "$1" "$T/boot.yaml"
	ip netns exec "$NS_SRV" "$LG_BIN_DP" -p "$T/boot.yaml" -c "$T/dp.sock" \
		-o "$T/out.jsonl" -s "$T/stats.json" -B $SRV_IP -x $XDP -b uring \
		--state-dir "$T/state" 2>> "$T/dp.err" &
	DP_PID=$!
	LG_PIDS="$DP_PID"
	if ! lg_wait_for 5 test -S "$T/dp.sock"; then
		tail -5 "$T/dp.err"
		grep -q "Operation not supported\|Invalid argument" "$T/dp.err" &&
			lg_skip "this kernel cannot attach XDP in $MODE mode on veth"
		lg_fail "linegate did not start"
	fi
}
stop() {
	kill -INT $DP_PID
	wait $DP_PID || lg_fail "linegate exited with status $?: $(tail -3 "$T/dp.err")"
	LG_PIDS=""
	rm -f "$T/dp.sock"
}
# gen POLICY NAME FIRST_SEQ N: device 101's frames, then the counters as NAME.json
gen() {
	ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$1" -t $SRV_IP -S $LINE_IP -d 1 \
		--first-seq "$3" -n "$4" -r 500 -q || lg_fail "loadgen $2"
	sleep 0.4 # the workers export their marks to XDP every 50 ms
	lg_dp_stats "$T/$2.json"
}

cp "$T/policy.yaml" "$T/boot.yaml"
start "$T/policy.yaml"
gen "$T/policy.yaml" s1a 1 20
gen "$T/policy.yaml" s1b 9223372036854775808 1
gen "$T/policy.yaml" s1c 1 5
stop
start "$T/policy.yaml"
gen "$T/policy.yaml" s1d 1 5
r=$(lg_dp_apply "$T/dp.sock" "$T/policy2.yaml")
case $r in ok:*) ;; *) lg_fail "apply of the new key: $r" ;; esac
gen "$T/policy2.yaml" s2a 1 20
gen "$T/policy.yaml" s2b 21 5
stop
start "$T/policy2.yaml"
gen "$T/policy2.yaml" s3a 1 5
gen "$T/policy2.yaml" s3b 21 5
r=$(lg_dp_apply "$T/dp.sock" "$T/policy3.yaml")
case $r in ok:*) ;; *) lg_fail "apply of the rotation: $r" ;; esac
gen "$T/policy3.yaml" s4a 1 5
gen "$T/policy3.yaml" s4b 26 5
stop

python3 - "$T" <<'PY'
import json, sys
from lgcheck import check, done
T = sys.argv[1]
S = {n: json.load(open(f"{T}/{n}.json")) for n in
     ("s1a", "s1b", "s1c", "s1d", "s2a", "s2b", "s3a", "s3b", "s4a", "s4b")}
dev = lambda s: {d["id"]: d for d in s["devices"]}[101]
adm = lambda n: dev(S[n])["admitted"]
xrep = lambda n: S[n]["xdp"]["replayed"]
check("1: seq 1..20 admitted", adm("s1a"), 20)
check("1: the frame at 2^63 admitted", adm("s1b"), 21)
check("1: then seq 1..5 refused as XDP replayed", (adm("s1c"), xrep("s1c") - xrep("s1b")), (21, 5))
check("1: after a restart too (the mark is kept)", (adm("s1d"), xrep("s1d")), (0, 5))
check("2: a new key: seq 1..20 admitted", adm("s2a"), 20)
check("2: the retired key's frames refused", (adm("s2b") - adm("s2a"),
      dev(S["s2b"])["drops"].get("unknown_key", 0)), (0, 5))
# a mark of 20 is within the replay window of 1..5: the worker refuses them, not XDP
wrep = lambda n: sum(dev(S[n])["drops"].get(r, 0) for r in ("replayed", "too_old"))
check("3: restarted: the new key's mark kept (seq 1..5 refused)", (adm("s3a"), wrep("s3a")), (0, 5))
check("3: and it goes on", adm("s3b"), 5)
check("4: a rotation keeping a key keeps the mark", (adm("s4a") - adm("s3b"),
      wrep("s4a") - wrep("s3b")), (0, 5))
check("4: and it goes on", adm("s4b") - adm("s4a"), 5)
done()
PY
grep -q "device press-1-vib (id 101): none of the keys its frames were accepted under is its any more: its replay mark starts afresh" \
	"$T/dp.err" || lg_fail "no log line for the fresh mark"
[ "$(grep -c "replay mark starts afresh" "$T/dp.err")" = 1 ] ||
	lg_fail "a fresh mark said more than once: $(grep "starts afresh" "$T/dp.err")"
echo PASS
