#!/usr/bin/env bash
# Key rotation grace ends at the key's `expires` (issue 11, decision 3): device 101 has its
# old key (id 1, expiring a few seconds after start) and its new one (id 2). Frames signed
# with the old key are admitted before that instant and refused after it (unknown_key), also
# by a linegate started after it (the time is in the policy); the new key is admitted
# throughout.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgke$$"
T=$LG_TMP
# Two key files of our own, owner-only as the parser wants them.
printf '%064x\n' 1 > "$T/k1.key"
printf '%064x\n' 2 > "$T/k2.key"
chmod 600 "$T/k1.key" "$T/k2.key"
lg_policy "$T/base.yaml"
sed -i 's/^uadp_port: 4840/uadp_port: 0/' "$T/base.yaml"
mk() { # mk FILE KEYS: the base policy with device 101 only, holding KEYS
	python3 - "$T/base.yaml" "$1" "$2" <<'PY'
import sys
s = open(sys.argv[1]).read()
head = s[:s.index("devices:")]
open(sys.argv[2], "w").write(head + "devices:\n  - id: 101\n    name: press-1-vib\n"
                             "    source: 10.77.0.2\n    keys: " + sys.argv[3] + "\n")
PY
}
mk "$T/old.yaml" "[{id: 1, key_file: k1.key}]"
mk "$T/new.yaml" "[{id: 2, key_file: k2.key}]"
send() { # send POLICY FIRST_SEQ SUMMARY
	ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$1" -t $SRV_IP -S $LINE_IP -n 100 -r 2000 -q \
		--first-seq "$2" -j "$3"
}
st() { lg_dp_stats "$T/s.json" && lg_json "$T/s.json" "$1"; }

# The old key's grace ends 20 s from now (the sends and looks before it took over 6 s on a
# loaded machine running ASan).
EXP_AT=$(( $(date +%s) + 20 ))
EXP=$(date -u -d "@$EXP_AT" +%Y-%m-%dT%H:%M:%SZ)
mk "$T/policy.yaml" "[{id: 1, key_file: k1.key, expires: $EXP}, {id: 2, key_file: k2.key}]"
lg_start_linegate
send "$T/old.yaml" 1 "$T/s1.json"
send "$T/new.yaml" 101 "$T/s2.json"
lg_wait_value 15 200 st "d['admitted']" || lg_fail "before expiry: admitted $(st "d['admitted']") of 200"
[ $(date +%s) -lt $EXP_AT ] || lg_skip "the machine was too slow to send before the key expired"
while [ $(date +%s) -le $EXP_AT ]; do sleep 0.2; done
sleep 0.5
send "$T/old.yaml" 201 "$T/s3.json"
send "$T/new.yaml" 301 "$T/s4.json"
lg_wait_value 5 100 st "d['drops']['unknown_key']" ||
	lg_fail "after expiry: unknown_key $(st "d['drops']['unknown_key']"), want 100"
lg_wait_value 5 300 st "d['admitted']" || lg_fail "after expiry: admitted $(st "d['admitted']") of 300"
lg_stop_linegate
cp "$T/stats.json" "$T/stats1.json"
# A linegate started after the expiry refuses the old key from the start.
lg_start_linegate
send "$T/old.yaml" 401 "$T/s5.json"
send "$T/new.yaml" 501 "$T/s6.json"
lg_wait_value 5 200 st "d['admitted'] + d['drops']['unknown_key']" || lg_fail "after restart: $(cat "$T/s.json")"
lg_stop_linegate
python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
from lgcheck import check, done
a, b = json.load(open(t + "/stats1.json")), json.load(open(t + "/stats.json"))
check("run 1: admitted (100 old before, 100 new before, 100 new after)", a["admitted"], 300)
check("run 1: old key refused after expiry", a["drops"]["unknown_key"], 100)
check("run 1: nothing else dropped", sum(a["drops"].values()), 100)
check("run 2: only the new key admitted", b["admitted"], 100)
check("run 2: old key refused", b["drops"]["unknown_key"], 100)
done()
PY
echo PASS
