#!/usr/bin/env bash
# End to end through every binary: linegated applies the default policy to linegate in
# its own netns; the load generator sends enrolled devices (one develops a bearing fault;
# two publish OPC UA PubSub UADP, one of them unsigned as the policy allows) and an attack
# mix from the line netns. Exact counters, and alerts from the faulty device only.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgws$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"

lg_start_linegate
lg_start_linegated

# A second linegate on the same port (a one-off run beside the service) is refused: with
# SO_REUSEPORT it would have taken the line's frames silently (a new user's trial).
rc=0
ip netns exec "$NS_SRV" timeout 20 "$LG_BIN_DP" -p "$T/policy.yaml" -B $SRV_IP \
	-s "$T/second.json" -o "$T/second.jsonl" --state-dir "$T/second-state" \
	2> "$T/second.err" || rc=$?
[ $rc -eq 1 ] && grep -q "UDP port 4739 is in use by another process" "$T/second.err" ||
	lg_fail "a second linegate on the port: status $rc: $(cat "$T/second.err")"

FRAMES=150 FAULT=103 ONSET=75
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP --uadp \
	-n $FRAMES -r 3000 -f $FAULT:$ONSET:bearing --unknown 40 --bad-tag 20 --replay 10 \
	--malformed 10 --spoof 15 --spoof-from $SPOOF_IP -j "$T/sent.json" -q

# All sent frames are accounted for (received counts every datagram).
sent=$(lg_json "$T/sent.json" "d['sent']")
got_all() {
	"$LG_BIN_CTL" -s "$T/d.sock" metrics > "$T/m.json" &&
	[ "$(lg_json "$T/m.json" "d['metrics']['received']")" = "$sent" ]
}
lg_wait_for 10 got_all || lg_fail "data plane received $(lg_json "$T/m.json" "d['metrics']['received']") of $sent"

# A policy with a mistake is refused with its line and column; the running one stays.
hash_before=$(lg_json "$T/m.json" "d['metrics']['policy_sha256']")
sed 's/^port: 4739/port: 99999/' "$T/policy.yaml" > "$T/bad.yaml"
if "$LG_BIN_CTL" -s "$T/d.sock" apply "$T/bad.yaml" 2> "$T/bad.err"; then
	lg_fail "a bad policy was applied"
fi
grep -q "bad.yaml:4:7: 'port' is 99999" "$T/bad.err" || lg_fail "error lacks file:line:col: $(cat "$T/bad.err")"
"$LG_BIN_CTL" -s "$T/d.sock" metrics > "$T/m2.json"
[ "$(lg_json "$T/m2.json" "d['metrics']['policy_sha256']")" = "$hash_before" ] ||
	lg_fail "the running policy changed after a refused apply"
grep -q '"result":"refused"' "$T/audit.jsonl" || lg_fail "refusal not in the audit log"

# linegatectl stats reads the same counters from linegate's own socket, without linegated:
# as JSON and as text, equal to what linegated reports (every frame is in by now).
"$LG_BIN_CTL" stats --dataplane "$T/dp.sock" --json > "$T/s.json"
LINEGATE_DATAPLANE="$T/dp.sock" "$LG_BIN_CTL" stats > "$T/s.txt"
"$LG_BIN_CTL" -s "$T/d.sock" metrics > "$T/m3.json"
python3 - "$T/s.json" "$T/s.txt" "$T/m3.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); text = open(sys.argv[2]).read()
m = json.load(open(sys.argv[3]))["metrics"]
from lgcheck import check, done
for k in ("received", "admitted", "dropped", "uadp_received", "policy_sha256", "policy_epoch"):
    check(f"stats --json {k} = linegated's", s[k], m[k])
check("stats --json drops = linegated's", s["drops"], m["drops"])
check("stats --json devices' admitted = linegated's",
      [(d["id"], d["admitted"]) for d in s["devices"]],
      [(d["id"], d["admitted"]) for d in m["devices"]])
lines = text.splitlines()
def line(name, indent=0):
    got = [l.split()[1] for l in lines if l.startswith(" " * indent + name + " ")]
    return got[0] if got else None
for k in ("received", "admitted", "dropped", "uadp_received"):
    check(f"stats text {k} = linegated's", line(k), str(m[k]))
nonzero = {k: v for k, v in m["drops"].items() if v}
check("stats text: the drop reasons that are not 0, each with its count",
      {k: line(k, 2) for k in m["drops"] if line(k, 2) is not None},
      {k: str(v) for k, v in nonzero.items()})
rows = {l.split()[0]: tuple(l.split()[2:4])
        for l in lines[lines.index(f"devices: {len(m['devices'])}") + 2:]}
check("stats text: a row per device with its admitted and dropped",
      rows, {str(d["id"]): (str(d["admitted"]), str(d["dropped"])) for d in m["devices"]})
done()
PY

lg_stop_linegate
[ -s "$T/stats.json" ] || lg_fail "linegate wrote no final stats"

python3 - "$T/stats.json" "$T/sent.json" "$T/out.jsonl" $FAULT $ONSET <<'PY'
import json, sys
st = json.load(open(sys.argv[1])); sent = json.load(open(sys.argv[2]))
fault, onset = int(sys.argv[4]), int(sys.argv[5])
from lgcheck import check, done
d = st["drops"]
check("received", st["received"], sent["sent"])
check("admitted", st["admitted"], sent["enrolled"])
check("unknown_device", d["unknown_device"], sent["unknown_device"])
check("bad_tag", d["bad_tag"], sent["bad_tag"])
check("replayed", d["replayed"], sent["replayed"])
check("spoofed_source", d["spoofed_source"], sent["spoofed"])
check("malformed", d["bad_magic"] + d["bad_length"], sent["malformed"])
check("other drops", st["dropped"] - sum(d[k] for k in ("unknown_device", "bad_tag",
      "replayed", "spoofed_source", "bad_magic", "bad_length")), 0)
check("windows scored", st["scored"], sent["enrolled"])
# Forged, replayed and spoofed frames carry an enrolled device's id: each is counted for that
# device too, and the devices' own drops add up to the totals of those reasons.
for r, k in (("bad_tag", "bad_tag"), ("replayed", "replayed"), ("spoofed_source", "spoofed")):
    check(f"devices' {r} = the total", sum(x["drops"].get(r, 0) for x in st["devices"]),
          sent[k])
check("devices: dropped = the sum of their drops",
      all(x["dropped"] == sum(x["drops"].values()) for x in st["devices"]), True)
check("uadp received", st["uadp_received"], sent["uadp"])
check("uadp messages", sent["uadp"], 2 * 150)
check("unsigned uadp admitted (legacy-gw-1 only)", st["uadp_unsigned_admitted"], 150)
per = {x["name"]: x for x in st["devices"]}
check("press-3-plc (signed UADP) windows", per["press-3-plc"]["windows"], 150)
check("legacy-gw-1 (unsigned UADP) windows", per["legacy-gw-1"]["windows"], 150)
check("output lost", st["output_ring_full_scores"] + st["output_ring_full_alerts"], 0)
alerts = {}
first = {}
for line in open(sys.argv[3]):
    e = json.loads(line)
    if e["type"] == "alert":
        alerts[e["device"]] = alerts.get(e["device"], 0) + 1
        first[e["device"]] = min(first.get(e["device"], 1 << 62), e["seq"])
check("devices with alerts", sorted(alerts), [fault])
frames_after = 150 - onset
check("faulty device flagged in >= 98% of its faulty windows",
      alerts.get(fault, 0) >= 0.98 * frames_after, True)
check("first alert within 3 windows of onset", onset < first.get(fault, 0) <= onset + 3, True)
per_dev = {x["id"]: x for x in st["devices"]}
check("per-device alerts agree", per_dev[fault]["alerts"], alerts.get(fault, 0))
done()
PY
echo "PASS"
