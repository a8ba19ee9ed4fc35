#!/usr/bin/env bash
# Live fields take effect (issue 11, decision 1), each checked by what it does, with XDP:
#   detection.threshold  a threshold below every score: every window alerts (exact count)
#   detection.batch      batch 1: one batch per window (exact count)
#   detection.deadline_ms
#                        batch 4096 and a 60 s deadline hold 400 windows unscored; a 1 ms
#                        deadline lets the next 400 through at once
#   models.trusted_keys  a key list that no longer trusts the running model is refused whole;
#                        one that still does is applied and listed
#   not_ours             drop: ping from the line fails; pass: it answers again
#   devices[].rate/burst/group, groups
#                        device 101 at 1 frame/s with a burst of 16: 16 of 100 frames admitted,
#                        84 rate limited in XDP; its group made an audit group: 100 of 100
#                        admitted, counted as audited
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lglf$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
sed -i 's/^uadp_port: 4840/uadp_port: 0/' "$T/policy.yaml"
"$LG_BIN_CTL" keygen "$T/rogue" >/dev/null
ROGUE=$(cat "$T/rogue.pub")
DEMO=$(sed -n 's/.*trusted_keys: \[\([0-9a-f]*\)\].*/\1/p' "$T/policy.yaml")
[ -n "$DEMO" ] || lg_fail "no trusted key in the default policy"
variant() { # variant NAME SED-EXPR...: the boot policy edited
	local out=$T/$1.yaml; shift
	cp "$T/policy.yaml" "$out"
	for e in "$@"; do sed -i "$e" "$out"; done
}
variant thr 's/^  batch: 16 .*/  batch: 16\n  threshold: 0.000001/'
variant batch1 's/^  batch: 16 .*/  batch: 1/'
variant rogue "s/trusted_keys: \[.*\]/trusted_keys: [$ROGUE]/"
variant both "s/trusted_keys: \[.*\]/trusted_keys: [$DEMO, $ROGUE]/"
variant drop 's/^port: 4739/port: 4739\nnot_ours: drop/'
variant hold 's/^  batch: 16 .*/  batch: 4096/' 's/^  deadline_ms: 50 .*/  deadline_ms: 60000/'
variant quick 's/^  batch: 16 .*/  batch: 4096/' 's/^  deadline_ms: 50 .*/  deadline_ms: 1/'
python3 - "$T/policy.yaml" "$T/rl.yaml" "$T/audit.yaml" <<'PY'
import sys
s = open(sys.argv[1]).read()
d = s.replace("    name: press-1-vib\n", "    name: press-1-vib\n    rate: 1\n    burst: 16\n    group: trial\n", 1)
i = d.index("devices:")
open(sys.argv[2], "w").write(d[:i] + "groups:\n  trial: {audit: false}\n" + d[i:])
open(sys.argv[3], "w").write(d[:i] + "groups:\n  trial: {audit: true}\n" + d[i:])
PY
grep -q "threshold: 0.000001" "$T/thr.yaml" || lg_fail "thr.yaml"
grep -q "not_ours: drop" "$T/drop.yaml" || lg_fail "drop.yaml"

dp_apply() { lg_dp_apply "$T/dp.sock" "$1"; }
n=0
send() { # 50 frames from each of the 8 devices, sequences going on
	ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP -n 50 \
		-r 4000 -q --first-seq $((n * 50 + 1)) -j "$T/sent$n.json"
	n=$((n + 1))
	lg_wait_value 10 $((n * 400)) st "d['scored']" || lg_fail "scored $(st "d['scored']") of $((n * 400))"
}
st() { lg_dp_stats "$T/s.json" && lg_json "$T/s.json" "$1"; }
expect_ok() { # expect_ok FILE CHANGES-JSON
	dp_apply "$1" > "$T/r.txt"
	[ "$(cat "$T/r.txt")" = "ok: 8 devices, changes $2" ] || lg_fail "apply $1: $(cat "$T/r.txt")"
}

lg_start_linegate -x lg0
send
[ "$(st "d['alerts']")" = 0 ] || lg_fail "alerts on healthy frames before any change"

expect_ok "$T/thr.yaml" '[{"field":"detection.threshold","class":"live","old":"model'"'"'s own","new":"9.99999997e-07"}]'
send
[ "$(st "d['alerts']")" = 400 ] || lg_fail "threshold below every score: $(st "d['alerts']") alerts of 400 windows"

b0=$(st "d['batches']")
expect_ok "$T/batch1.yaml" '[{"field":"detection.batch","class":"live","old":"16","new":"1"},{"field":"detection.threshold","class":"live","old":"9.99999997e-07","new":"model'"'"'s own"}]'
b1=$(st "d['batches']")
send
[ $(( $(st "d['batches']") - b1 )) = 400 ] || lg_fail "batch 1: $(( $(st "d['batches']") - b1 )) batches for 400 windows"

dp_apply "$T/rogue.yaml" > "$T/r.txt"
grep -q "^error: $T/policy.yaml:[0-9]*:[0-9]*: detection.model: $LG_SOURCE/control/defaults/model.json: not signed by a trusted key" "$T/r.txt" ||
	lg_fail "untrusted running model: $(cat "$T/r.txt")"
cat "$T/r.txt"
send
[ $(( $(st "d['batches']") - b1 )) = 800 ] || lg_fail "the refused apply changed something"
expect_ok "$T/both.yaml" "[{\"field\":\"detection.batch\",\"class\":\"live\",\"old\":\"1\",\"new\":\"16\"},{\"field\":\"models.trusted_keys\",\"class\":\"live\",\"old\":\"${DEMO:0:12}\",\"new\":\"${DEMO:0:12},${ROGUE:0:12}\"}]"
send

ip netns exec "$NS_LINE" ping -c 1 -W 1 $SRV_IP >/dev/null || lg_fail "ping with not_ours: pass"
expect_ok "$T/drop.yaml" "[{\"field\":\"not_ours\",\"class\":\"live\",\"old\":\"pass\",\"new\":\"drop\"},{\"field\":\"models.trusted_keys\",\"class\":\"live\",\"old\":\"${DEMO:0:12},${ROGUE:0:12}\",\"new\":\"${DEMO:0:12}\"}]"
ip -n "$NS_LINE" neigh flush dev lg1
rc=0; ip netns exec "$NS_LINE" ping -c 2 -W 1 $SRV_IP >/dev/null || rc=$?
[ $rc -ne 0 ] || lg_fail "ping answered with not_ours: drop"
expect_ok "$T/policy.yaml" '[{"field":"not_ours","class":"live","old":"drop","new":"pass"}]'
ip -n "$NS_LINE" neigh flush dev lg1
lg_wait_for 5 ip netns exec "$NS_LINE" ping -c 1 -W 1 $SRV_IP >/dev/null || lg_fail "ping with not_ours: pass again"

# The deadline: held, then released.
expect_ok "$T/hold.yaml" '[{"field":"detection.batch","class":"live","old":"16","new":"4096"},{"field":"detection.deadline_ms","class":"live","old":"50","new":"60000"}]'
s0=$(st "d['scored']")
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP -n 50 \
	-r 4000 -q --first-seq $((n * 50 + 1)) -j "$T/sent$n.json"
n=$((n + 1))
lg_wait_value 5 $((s0 + 400)) st "d['windows']" || lg_fail "windows: $(st "d['windows']")"
sleep 1
[ "$(st "d['scored']")" = "$s0" ] || lg_fail "a 60 s deadline with batch 4096 scored $(( $(st "d['scored']") - s0 )) of 400 windows within 1 s"
expect_ok "$T/quick.yaml" '[{"field":"detection.deadline_ms","class":"live","old":"60000","new":"1"}]'
send
expect_ok "$T/policy.yaml" '[{"field":"detection.batch","class":"live","old":"4096","new":"16"},{"field":"detection.deadline_ms","class":"live","old":"1","new":"50"}]'

# Rate, burst and group of device 101, then its group in audit.
send101() { # 100 frames of device 101 in 50 ms
	ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP -d 1 \
		-n 100 -r 2000 -q --first-seq $1 -j "$T/sent101-$1.json"
}
a0=$(st "d['admitted']")
expect_ok "$T/rl.yaml" '[{"field":"groups","class":"live","old":"","new":"trial"},{"device":101,"change":"changed","field":"rate","class":"live","old":"0","new":"1"},{"device":101,"change":"changed","field":"burst","class":"live","old":"0","new":"16"},{"device":101,"change":"changed","field":"group","class":"live","old":"","new":"trial"}]'
send101 1001
lg_wait_value 5 84 st "d['xdp']['rate_limited']" || lg_fail "rate limited in XDP: $(st "d['xdp']['rate_limited']"), want 84"
lg_wait_value 5 $((a0 + 16)) st "d['admitted']" || lg_fail "admitted at 1/s burst 16: $(( $(st "d['admitted']") - a0 )), want 16"
expect_ok "$T/audit.yaml" '[{"field":"groups","class":"live","old":"trial","new":"trial(audit)"}]'
send101 1101
lg_wait_value 5 $((a0 + 116)) st "d['admitted']" || lg_fail "admitted in an audit group: $(( $(st "d['admitted']") - a0 - 16 )), want 100"
lg_stop_linegate
python3 - "$T/stats.json" <<'PY'
import json, sys
st = json.load(open(sys.argv[1]))
from lgcheck import check, done
check("admitted", st["admitted"], 2800 + 16 + 100)
check("XDP rate limited (only before the audit group)", st["xdp"]["rate_limited"], 84)
check("alerts: only the 400 windows under the tiny threshold", st["alerts"], 400)
check("applies (10 ok + 1 refused)", (st["policy_applies"], st["policy_apply_failures"]), (10, 1))
check("XDP not_ours counted the dropped pings (and ARP)", st["xdp"]["not_ours"] > 0, True)
done()
PY
echo PASS
