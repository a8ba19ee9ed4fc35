#!/usr/bin/env bash
# incident_revoked: a device revoked with an incident open. No window of it will come again,
# so its incident would stay open for ever (status, linegatectl status, incidents.open_now =
# linegate_incidents_open, across restarts; trial J F11, s21). Now the generation without
# it resolves it: one "resolve" with the open's id and "reason":"device removed from the
# policy", nothing open in status, and a restart (the state folder) with the device enrolled
# again does not bring it back.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgirv$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
sed -i "/^  incidents: /d; s#^  deadline_ms: .*#&\n  incidents: {confirm: 2, of: 3, resolve_after: 5, hysteresis: 0.8, update_ms: 500}#" \
	"$T/policy.yaml"
FAULT=103
CTL() { "$LG_BIN_CTL" -s "$T/d.sock" "$@"; }
n_lines() { # FILE EVENT
	local n=0
	[ -f "$1" ] && n=$(grep -c "\"type\":\"incident\",\"event\":\"$2\"" "$1" || true)
	echo "${n:-0}"
}
has_lines() { [ "$(n_lines "$1" "$2")" -ge "$3" ]; }

lg_start_linegate
lg_start_linegated
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP -d 6 -r 300 \
	-q -n 40 -f $FAULT:20:bearing || lg_fail "linegate-loadgen failed"
lg_wait_for 5 has_lines "$T/out.jsonl" open 1 || lg_fail "no incident opened"
sleep 0.3
lg_dp_stats "$T/s1.json"
[ "$(lg_json "$T/s1.json" 'd["incidents"]["open_now"]')" = 1 ] ||
	lg_fail "before the revoke: not one incident open: $(lg_json "$T/s1.json" 'd["incidents"]')"
# to enroll it again after the restart (revoke deletes its key file)
cp "$T/policy.yaml" "$T/orig.yaml"
cp -a "$T/keys" "$T/keys.orig"
out=$(CTL devices revoke $FAULT) || lg_fail "revoke: $out"
echo "$out"
lg_wait_for 5 has_lines "$T/out.jsonl" resolve 1 || lg_fail "no resolve after the revoke"
sleep 0.3
lg_dp_stats "$T/s2.json"
lg_ctl "$T/dp.sock" '{"cmd": "status"}' incidents > "$T/st2.json"
CTL -r status > "$T/ctl2.json" || lg_fail "linegatectl status"
lg_stop_linegate
unset D_PID
# Restarted, and the device enrolled again (its key back): its record in the state folder
# is closed, so nothing continues (without the resolve it showed open again).
lg_start_linegate
cp -an "$T/keys.orig/." "$T/keys/"
r=$(lg_dp_apply "$T/dp.sock" "$T/orig.yaml")
case $r in ok:*) ;; *) lg_fail "enrolling $FAULT again: $r" ;; esac
sleep 0.5
lg_dp_stats "$T/s3.json"
lg_ctl "$T/dp.sock" '{"cmd": "status"}' incidents > "$T/st3.json"
lg_stop_linegate

python3 - "$T" $FAULT <<'PY'
import json, sys
from lgcheck import check, done
T, fault = sys.argv[1], int(sys.argv[2])
inc = [e for e in map(json.loads, open(f"{T}/out.jsonl")) if e["type"] == "incident"]
print(*inc, sep="\n")
check("events", [(e["event"], e["device"]) for e in inc], [("open", fault), ("resolve", fault)])
o, r = inc[0], inc[-1]
check("the resolve has the open's id", r["incident"], o["incident"])
check("the resolve says why", r.get("reason"), "device removed from the policy")
check("the resolve has its time and duration", "resolved" in r and r["duration_ms"] >= 0, True)
s2 = json.load(open(f"{T}/s2.json"))["incidents"]
check("open_now after the revoke", s2["open_now"], 0)
check("resolved after the revoke", s2["resolved"], 1)
check("status lists none", json.load(open(f"{T}/st2.json")), [])
check("linegatectl status lists none", json.load(open(f"{T}/ctl2.json")).get("incidents", []), [])
s3 = json.load(open(f"{T}/s3.json")).get("incidents", {})
check("after a restart and enrolled again: open_now", s3.get("open_now", 0), 0)
check("after a restart and enrolled again: status lists none",
      json.load(open(f"{T}/st3.json")), [])
done()
PY
echo PASS
