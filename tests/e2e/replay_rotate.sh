#!/usr/bin/env bash
# Trial s21 Q (trial J F14): the documented way out of a replay lockout, end to end with
# linegated. The replay mark belongs to the keys whose frames it covers:
#   106: locked out by a valid frame at 2^64-1; rotate-key --grace 2s; during the grace its
#        new key's frames from seq 1 are refused (replayed: the mark is the old key's);
#        after the expiry, prune: the mark starts afresh, new-key frames from seq 1 are
#        admitted, every one, and a resend of them is refused.
#   107: the negative: frames under the new key accepted during the grace are in the mark:
#        after the prune a resend of them is refused as replayed, newer ones admitted.
# Run with "native" (the default) or "generic" XDP.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgrr$$"
T=$LG_TMP
MODE=${1:-native}
[ "$MODE" = native ] && XDP=lg0 || XDP=lg0:generic
lg_policy "$T/policy.yaml"
python3 - "$T/policy.yaml" "$LINE_IP" <<'PY'
import sys
path, ip = sys.argv[1], sys.argv[2]
s = open(path).read()
s = s[:s.index("\ndevices:") + 1] + "devices:\n" + "".join(
    f"  - id: {i}\n    name: d{i}\n    source: {ip}\n    keys:\n"
    f"      - {{id: 1, key_file: keys/d{i}.key}}\n" for i in (106, 107, 108))
open(path, "w").write(s)
PY
mkdir -p "$T/keys" "$T/state"
chmod 700 "$T/keys" "$T/state"
for i in 106 107 108; do
	(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$T/keys/d$i.key"; echo >> "$T/keys/d$i.key")
done
lg_start_linegate_xdp "$MODE" -B $SRV_IP -x $XDP -b uring --state-dir "$T/state"
lg_start_linegated
CTL=("$LG_BIN_CTL" -s "$T/d.sock")

# gen ID KEYS_YAML KEY_ID FIRST_SEQ N: device ID's frames signed with that key id.
gen() {
	printf 'version: 1\ndevices:\n  - id: %s\n    name: d%s\n    source: %s\n    keys: %s\n' \
		"$1" "$1" "$LINE_IP" "$2" > "$T/g.yaml"
	ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/g.yaml" -t $SRV_IP -S $LINE_IP \
		--key-id "$3" --first-seq "$4" -n "$5" -r 1000 -q || lg_fail "loadgen $1 $4"
	sleep 0.4 # the workers export their marks to XDP every 50 ms
}
# the keys of device $1 for the loadgen: before the rotation, old; after it, new
old() { echo "[{id: 1, key_file: keys/d$1.key}]"; }
new() { echo "[{id: 2, key_file: keys/d$1-k2.key}]"; }
# snap NAME: the data plane's counters
snap() { lg_dp_stats "$T/$1.json"; }

gen 106 "$(old 106)" 1 1 20
gen 106 "$(old 106)" 1 18446744073709551615 1
gen 106 "$(old 106)" 1 21 5
gen 107 "$(old 107)" 1 1 100
snap s1
out=$("${CTL[@]}" devices rotate-key 106 --grace 2s) || lg_fail "rotate-key 106: $out"
echo "$out"
out=$("${CTL[@]}" devices rotate-key 107 --grace 2s) || lg_fail "rotate-key 107: $out"
echo "$out"
exp=$(( $(date +%s) + 2 ))
gen 106 "$(new 106)" 2 1 3
gen 107 "$(new 107)" 2 101 10
snap s2
# locked_out: status names 106, whose frames have all been refused as replays since its last
# admitted one (trial M, s22: only the counters said so), and not 107
lockout() { # the status warnings that name device $1 as locked out
	"${CTL[@]}" -r status | python3 -c 'import json, sys
print("\n".join(w for w in json.load(sys.stdin).get("warnings", [])
                if "(id %s): none of its frames admitted" % sys.argv[1] in w))' "$1"
}
named_106() { [ -n "$(lockout 106)" ]; }
lg_wait_for 5 named_106 || lg_fail "status does not name 106 locked out: $("${CTL[@]}" -r status)"
lockout 106
[ -z "$(lockout 107)" ] || lg_fail "107 named locked out: $(lockout 107)"
lg_wait_for 2 grep -q "device d106 (id 106): none of its frames admitted for [0-9]* s, [0-9]* refused as replays of it" \
	"$T/dp.err" || lg_fail "no log line for 106's lockout"
[ "$(date +%s)" -lt "$exp" ] || echo "note: the grace was over before the grace-time sends ended"
while [ "$(date +%s)" -le $((exp + 1)) ]; do sleep 0.2; done
out=$("${CTL[@]}" devices prune) || lg_fail "prune: $out"
echo "$out"
[ "$out" = "2 expired keys dropped" ] || lg_fail "prune: '$out'"
sleep 0.3
gen 106 "$(new 106)" 2 1 20
snap s3
[ -z "$(lockout 106)" ] || lg_fail "106 still named locked out after its frames were admitted: $(lockout 106)"
gen 106 "$(new 106)" 2 1 20
snap s4
gen 107 "$(new 107)" 2 101 10
snap s5
gen 107 "$(new 107)" 2 111 10
snap s6
# 108, trial P (s22): its frames all admitted, its mark far ahead (100000), then a rotation and
# one burst of the new key from 1, which XDP refuses (more than a window below the mark), and
# at once an apply for another device: named locked out, with every refused frame counted,
# and said in the log though no frame follows
gen 108 "$(old 108)" 1 100000 1
out=$("${CTL[@]}" devices rotate-key 108 --grace 60s) || lg_fail "rotate-key 108: $out"
sleep 0.5 # apart from its last admitted frame by more than a look (counters tell no order)
printf 'version: 1\ndevices:\n  - id: 108\n    name: d108\n    source: %s\n    keys: %s\n' \
	"$LINE_IP" "$(new 108)" > "$T/g.yaml"
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/g.yaml" -t $SRV_IP -S $LINE_IP --key-id 2 \
	--first-seq 1 -n 20 -r 1000 -q || lg_fail "loadgen 108 new key"
out=$("${CTL[@]}" devices enroll --id 109 --name d109 --source $LINE_IP) || lg_fail "enroll 109: $out"
named_108() { [ -n "$(lockout 108)" ]; }
lg_wait_for 5 named_108 || lg_fail "status does not name 108 after one refused burst: $("${CTL[@]}" -r status)"
"${CTL[@]}" -r status | python3 -c 'import json, sys
e = [x for x in json.load(sys.stdin)["locked_out"] if x["id"] == 108]
assert e and e[0]["refused"] == 20, e' || lg_fail "108's refused count: $("${CTL[@]}" -r status)"
lg_wait_for 3 grep -q "device d108 (id 108): none of its frames admitted for [0-9]* s, 20 refused" "$T/dp.err" ||
	lg_fail "no log line for 108's single burst: $(grep 'd108' "$T/dp.err")"
lg_stop_linegate

python3 - "$T" <<'PY'
import json, sys
from lgcheck import check, done
T = sys.argv[1]
S = {n: json.load(open(f"{T}/{n}.json")) for n in ("s1", "s2", "s3", "s4", "s5", "s6")}
dev = lambda n, i: {d["id"]: d for d in S[n]["devices"]}[i]
adm = lambda n, i: dev(n, i)["admitted"]
# refused as a replay, wherever: XDP (the exported mark; its counter is the line's) or the
# worker's window (per device); the phases send one device's frames each
rep = lambda n, i: S[n]["xdp"]["replayed"] + sum(dev(n, i)["drops"].get(r, 0)
                                                 for r in ("replayed", "too_old"))
# by the line's total (the phases send one device's frames each)
d = lambda a, b, i: (S[b]["admitted"] - S[a]["admitted"], rep(b, i) - rep(a, i))
check("106: seq 1..20 and 2^64-1 admitted", adm("s1", 106), 21)
check("107: seq 1..100 admitted", adm("s1", 107), 100)
check("106: locked out: 21..25 refused as replayed", rep("s1", 106), 5)
check("grace: 106's new key from seq 1 refused, 107's new key admitted",
      (adm("s2", 106), rep("s2", 106) - rep("s1", 106), adm("s2", 107)), (21, 3, 110))
check("106: after the prune, its new key from seq 1: all 20 admitted", d("s2", "s3", 106), (20, 0))
# its own counters go on across the fresh mark (trial P, s22: they started again at 0)
check("106: its own admitted counter kept across the fresh mark", adm("s3", 106), adm("s2", 106) + 20)
check("106: its own too_old/replayed kept", sum(dev("s3", 106)["drops"].get(r, 0) for r in ("replayed", "too_old"))
      >= sum(dev("s2", 106)["drops"].get(r, 0) for r in ("replayed", "too_old")), True)
check("106: a resend of them refused as replayed", d("s3", "s4", 106), (0, 20))
check("107: after the prune, a resend of the grace's 101..110 refused as replayed",
      d("s4", "s5", 107), (0, 10))
check("107: and newer ones admitted", d("s5", "s6", 107), (10, 0))
done()
PY
grep -q "device d106 (id 106): none of the keys its frames were accepted under is its any more: its replay mark starts afresh" \
	"$T/dp.err" || lg_fail "no log line for 106's fresh mark: $(grep afresh "$T/dp.err")"
grep -q "(id 107).*afresh" "$T/dp.err" && lg_fail "107's mark was made afresh"
echo PASS
