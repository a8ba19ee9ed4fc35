#!/usr/bin/env bash
# Fleet configuration and rollout (docs/fleet.md) against a real nats-server -js on a free
# loopback port: three line servers (linegate in its own network namespace, linegated in
# the host's, each with its own state folder and sockets) watch the key-value bucket;
# linegate-fleet publishes signed bundles to the object store and rolls them out.
#  1. a signed bundle goes to the canary (s1) first, then to all: every server's linegated
#     and data plane run its policy (exact SHA-256), each reported in the bucket;
#  2. a bundle signed by a key no server trusts, rolled out to the whole line: refused by
#     every server, each report says why (the rollout prints each), the line goes back to
#     v1, nothing changed;
#  3. a bundle whose policy does not validate: refused by the canary (its reason names
#     policy.yaml's line and column), rolled back; s2 and s3 never fetch it (their reports
#     never name it, their audit logs never mention it) and run v1's policy throughout;
#  4. a bundle with a signed model: registered as fleet@v4 and activated on all three
#     (the data plane runs it); when the rollout says done, every server's report shows it
#     off the canary key with its floor at v4's serial;
#  5. a health regression on the canary (v5 drops a device whose frames keep coming, so its
#     drop rate grows past --max-drop-increase): rolled back, the canary runs v4 again;
#  5b. v5 rolled out to the canary again: refused without being applied (a version rolled
#     back or refused here is never judged again);
#  5c. v1 rolled out again after v4 (a signed but older bundle, its manifest serial below
#     v4's): refused by every server as "downgrade refused" (audited), the rollout says so
#     and exits 1, nothing changes; the intended way back, v1's folder published as v6,
#     is applied by all three;
#  5d. a bundle whose model cannot run under its own policy: refused before anything of
#      it is applied (trial R, s23: its policy stayed applied);
#  5e. a bundle whose policy drops the key that signed it: refused (it would lock the fleet
#      out of the server);
#  5f. a canary rolled back to the line's version without a model: the line's model comes
#      back, not the canary's;
#  5g. a canary whose data plane is down at the rollback goes back once it answers again;
#  6. a restarted linegated remembers the bundle it applied and does not apply it again;
#     every linegated stops with status 0;
#  7. linegatectl fleet status (--json) prints what linegate-fleet status prints, with the
#     same exit status, also for a line with no reports and an unknown command.
#  9. linegate-fleet forget SERVER removes a retired server's report;
#  10. a model refused after its bundle's policy applied: the policy goes back.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_need_nats
lg_tmp
T=$LG_TMP
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=nats://127.0.0.1:$PORT
nats-server -js -a 127.0.0.1 -p "$PORT" -sd "$T/js" > "$T/nats.log" 2>&1 &
LG_PIDS="$LG_PIDS $!"
lg_wait_for 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" ||
	lg_fail "nats-server did not start: $(tail -5 "$T/nats.log")"
LINE=(--url "$URL" --plant north --line line7)
KEY=$(lg_demo_key)
NS=lgfleet$$
sha() { sha256sum "$1" | cut -d' ' -f1; }

# The line's policy (each server resolves keys/ and models/ beside its own boot file).
sed -e "s#^  model: .*#  model: $LG_SOURCE/control/defaults/model.json#" \
    -e "s#source: 10.77.0.2#source: 127.0.0.1#" -e "s#^uadp_port: 4840#uadp_port: 0#" \
    -e "s#^  jsonl: .*#  jsonl: out.jsonl#" \
    "$LG_SOURCE/control/defaults/policy.yaml" > "$T/base.yaml"

# start_d S: linegated of server S, watching the bucket (its pid in D_s1, D_s2, D_s3)
start_d() {
	"$LG_BIN_D" -p "$T/$1/policy.yaml" -S "$T/$1/d.sock" -d "$T/$1/dp.sock" \
		-a "$T/$1/audit.jsonl" -s "$T/$1/state" --fleet-url "$URL" --fleet-plant north \
		--fleet-line line7 --fleet-server $1 --fleet-report 1000 2>> "$T/$1/d.err" &
	LG_PIDS="$LG_PIDS $!"
	eval "D_$1=$!"
	lg_wait_for 5 test -S "$T/$1/d.sock" || lg_fail "linegated $1 did not start: $(cat "$T/$1/d.err")"
}
for s in s1 s2 s3; do
	mkdir -p "$T/$s"
	cp "$T/base.yaml" "$T/$s/policy.yaml"
	lg_keys "$T/$s"
	ip netns add "$NS$s" || lg_skip "cannot create network namespaces here"
	LG_CLEANUP_NS="${LG_CLEANUP_NS:-} $NS$s"
	ip -n "$NS$s" link set lo up
	STATE_DIRECTORY=$T/$s/dp-state ip netns exec "$NS$s" "$LG_BIN_DP" -p "$T/$s/policy.yaml" \
		-B 127.0.0.1 -c "$T/$s/dp.sock" -s "$T/$s/stats.json" 2> "$T/$s/dp.err" &
	LG_PIDS="$LG_PIDS $!"
	lg_wait_for 5 test -S "$T/$s/dp.sock" || lg_fail "linegate $s did not start: $(cat "$T/$s/dp.err")"
	start_d $s
done

# running S: "<linegated's policy sha256> <the data plane's>"
running() {
	python3 - "$T/$1" <<'PY'
import sys, lgsock
d = sys.argv[1]
a = lgsock.call(d + "/d.sock", {"cmd": "status"})
b = lgsock.call(d + "/dp.sock", {"cmd": "status"})
print(a["policy_sha256"], b["policy_sha256"])
PY
}
# report S FIELD: a field of S's report in the bucket ("bundle.result", "policy.sha256", ...)
report() {
	"$FLEET" status "${LINE[@]}" --json > "$T/status.jsonl" || lg_fail "fleet status failed"
	python3 - "$T/status.jsonl" "$1" "$2" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["server"] == sys.argv[2]:
        v = r
        for k in sys.argv[3].split("."):
            v = v[k]
        print(v)
PY
}
B0=$(sha "$T/base.yaml")
for s in s1 s2 s3; do
	[ "$(running $s)" = "$B0 $B0" ] || lg_fail "$s does not run the boot policy: $(running $s)"
done

# --- 1. signed bundle: canary, then all ---
mkdir -p "$T/v1"
{ cat "$T/base.yaml"; echo "# fleet bundle v1"; } > "$T/v1/policy.yaml"
"$FLEET" publish "$T/v1" "${LINE[@]}" --version v1 --key "$KEY" > "$T/pub1.txt" ||
	lg_fail "publish v1 failed: $(cat "$T/pub1.txt")"
grep -q "published north/line7@v1: policy.yaml .*, serial [0-9]\{13\};" "$T/pub1.txt" || lg_fail "publish said: $(cat "$T/pub1.txt")"
rc=0; "$FLEET" publish "$T/v1" "${LINE[@]}" --version v1 --key "$KEY" > /dev/null 2> "$T/pub1b.err" || rc=$?
[ $rc = 1 ] && grep -q "published already" "$T/pub1b.err" || lg_fail "a second v1 was not refused ($rc): $(cat "$T/pub1b.err")"
# each server must have reported once before a rollout (the rollout lists the line's servers)
for s in s1 s2 s3; do
	lg_wait_value 10 $s report $s server > /dev/null || lg_fail "$s never reported"
done
rc=0; "$FLEET" rollout v1 "${LINE[@]}" --canary s1 --wait 30 --observe 2 > "$T/roll1.txt" 2>&1 || rc=$?
cat "$T/roll1.txt"
[ $rc = 0 ] || lg_fail "rollout v1 failed ($rc)"
grep -q "done: north/line7 runs v1 on 3 servers (" "$T/roll1.txt" || lg_fail "rollout v1 did not finish"
# the canary applied before the others were asked
python3 - "$T" <<'PY' || lg_fail "the canary was not first"
import json, sys
T = sys.argv[1]
def applied(s):
    for l in open(f"{T}/{s}/audit.jsonl"):
        a = json.loads(l)
        if a["what"] == "fleet_bundle" and a.get("result") == "applied" and "@v1" in a["detail"]:
            return a["seq"], a["time"]
t1 = applied("s1")[1]
assert all(applied(s)[1] >= t1 for s in ("s2", "s3")), [applied(s) for s in ("s1", "s2", "s3")]
PY
B1=$(sha "$T/v1/policy.yaml")
for s in s1 s2 s3; do
	[ "$(running $s)" = "$B1 $B1" ] || lg_fail "$s does not run v1: $(running $s)"
	lg_wait_value 10 "$B1" report $s policy.sha256 || lg_fail "$s reports another policy"
	[ "$(report $s bundle.applied)" = v1 ] || lg_fail "$s does not report v1 applied"
	grep -q '"what":"fleet_apply".*"result":"ok".*line7@v1' "$T/$s/audit.jsonl" ||
		lg_fail "$s did not audit the apply"
	# the reason is what was applied, not "applied: applied: ..."
	case "$(report $s bundle.reason)" in
	"[0-9]* devices (version "*) ;;
	[0-9]*" devices (version "*) ;;
	*) lg_fail "$s reports the reason '$(report $s bundle.reason)'" ;;
	esac
done
! grep -q "applied: applied" "$T/s1/d.err" || lg_fail "linegated says 'applied: applied'"

# --- 2. a bundle signed by a key no server trusts: refused by every server ---
"$LG_BIN_CTL" keygen "$T/rogue" > /dev/null
mkdir -p "$T/v2"
{ cat "$T/base.yaml"; echo "# fleet bundle v2 (rogue key)"; } > "$T/v2/policy.yaml"
"$FLEET" publish "$T/v2" "${LINE[@]}" --version v2 --key "$T/rogue.key" > /dev/null ||
	lg_fail "publish v2 failed"
rc=0; "$FLEET" rollout v2 "${LINE[@]}" --wait 30 > "$T/roll2.txt" 2>&1 || rc=$?
cat "$T/roll2.txt"
[ $rc = 1 ] || lg_fail "rollout of a rogue bundle exited $rc"
grep -q "rolled back: the line's bundle is v1 again" "$T/roll2.txt" || lg_fail "v2 was not rolled back"
for s in s1 s2 s3; do
	grep -q "^  $s refused v2: manifest not signed by a trusted key" "$T/roll2.txt" ||
		lg_fail "$s did not report its refusal of v2"
	grep -q '"what":"fleet_bundle","result":"refused".*@v2: manifest not signed' "$T/$s/audit.jsonl" ||
		lg_fail "$s did not audit the refusal"
	# back on v1: fetched again, the policy it runs (nothing applied)
	lg_wait_value 10 v1 report $s bundle.last || lg_fail "$s did not go back to v1"
	[ "$(report $s bundle.result)" = applied ] || lg_fail "$s: $(report $s bundle.reason)"
	[ "$(running $s)" = "$B1 $B1" ] || lg_fail "$s changed its policy for a rogue bundle"
done

# --- 3. an invalid policy: refused by the canary, rolled back, never seen by the others ---
mkdir -p "$T/v3"
sed -e "s#^port: 4739#port: many#" "$T/base.yaml" > "$T/v3/policy.yaml"
"$FLEET" publish "$T/v3" "${LINE[@]}" --version v3 --key "$KEY" > /dev/null || lg_fail "publish v3 failed"
rc=0; "$FLEET" rollout v3 "${LINE[@]}" --canary s1 --wait 30 > "$T/roll3.txt" 2>&1 || rc=$?
cat "$T/roll3.txt"
[ $rc = 1 ] || lg_fail "rollout of an invalid policy exited $rc"
grep -q "stopped: s1 refused v3: .*policy.yaml:[0-9]*:[0-9]*:" "$T/roll3.txt" ||
	lg_fail "the canary's refusal does not name the line and column"
grep -q "rolled back: the canaries go back to v1; the other servers never saw v3" "$T/roll3.txt" ||
	lg_fail "v3 was not rolled back"
# the audit names the bundle's part, not the boot file (whose line 4 is fine)
grep -q '"what":"fleet_apply","result":"refused","detail":"policy.yaml:[0-9]*:[0-9]*: ' \
	"$T/s1/audit.jsonl" || lg_fail "the refused apply's audit line: $(grep fleet_apply "$T/s1/audit.jsonl" | tail -1)"
! grep -q "\"detail\":\"$T/s1/policy.yaml:" "$T/s1/audit.jsonl" || lg_fail "the audit names the boot file"
sleep 2 # two looks of every server at the bucket after the rollback
for s in s1 s2 s3; do
	[ "$(running $s)" = "$B1 $B1" ] || lg_fail "$s does not run v1 after v3: $(running $s)"
	[ "$(report $s bundle.wanted)" = v1 ] || lg_fail "$s wants $(report $s bundle.wanted)"
done
for s in s2 s3; do
	! grep -q "@v3" "$T/$s/audit.jsonl" || lg_fail "$s saw v3"
	[ "$(report $s bundle.last)" = v1 ] || lg_fail "$s reports $(report $s bundle.last)"
done
[ ! -e "$T/s2/state/fleet/v3" ] && [ ! -e "$T/s3/state/fleet/v3" ] || lg_fail "v3 was fetched by s2 or s3"

# --- 4. a bundle with a signed model: registered and activated everywhere ---
mkdir -p "$T/v4"
{ cat "$T/base.yaml"; echo "# fleet bundle v4"; } > "$T/v4/policy.yaml"
cp "$LG_SOURCE/control/defaults/model.json" "$T/v4/model.json"
"$FLEET" publish "$T/v4" "${LINE[@]}" --version v4 --key "$KEY" > "$T/pub4.txt" || lg_fail "publish v4 failed"
grep -q "model model.json (signed)" "$T/pub4.txt" || lg_fail "publish v4 said: $(cat "$T/pub4.txt")"
rc=0; "$FLEET" rollout v4 "${LINE[@]}" --canary s1 --wait 30 --observe 2 > "$T/roll4.txt" 2>&1 || rc=$?
cat "$T/roll4.txt"
[ $rc = 0 ] || lg_fail "rollout v4 failed ($rc)"
B4=$(sha "$T/v4/policy.yaml")
# "done" means off the canary key with the floor moved (re-check trial 13 N1: for about a
# second after "done" the canary still took an older line version)
for s in s1 s2 s3; do
	[ "$(report $s bundle.canary)" = False ] || lg_fail "rollout v4 done while $s is on its canary key"
	[ "$(report $s bundle.floor)" = "$(report $s bundle.serial)" ] ||
		lg_fail "rollout v4 done while $s's floor $(report $s bundle.floor) is below v4's serial $(report $s bundle.serial)"
done
for s in s1 s2 s3; do
	[ "$(running $s)" = "$B4 $B4" ] || lg_fail "$s does not run v4: $(running $s)"
	lg_wait_value 10 fleet@v4 report $s model || lg_fail "$s runs model $(report $s model)"
	m=$(lg_ctl "$T/$s/dp.sock" '{"cmd": "status"}' | python3 -c 'import json,sys; print(json.load(sys.stdin).get("model"))')
	[ "$m" = fleet@v4 ] || lg_fail "$s data plane runs model $m"
done

# --- 5. a health regression on the canary: rolled back ---
# Traffic of all eight devices to s1; v5 drops device 101 from the policy, so its frames
# (50 a second) become drops on s1 once it applies v5.
ip netns exec "${NS}s1" "$LG_BIN_GEN" -p "$T/s1/policy.yaml" -t 127.0.0.1 -S 127.0.0.1 -q \
	-n 100000 -r 400 > "$T/gen.out" 2>&1 &
GEN=$!
LG_PIDS="$LG_PIDS $GEN"
sleep 3 # a report period with traffic before the rollout: the baseline
kill -0 $GEN 2>/dev/null || lg_fail "the load generator stopped: $(cat "$T/gen.out")"
lg_wait_value 5 True python3 -c "import lgsock; print(lgsock.call('$T/s1/dp.sock', {'cmd': 'stats'})['stats']['admitted'] > 0)" ||
	lg_fail "no frame reached s1"
mkdir -p "$T/v5"
python3 - "$T/v4/policy.yaml" > "$T/v5/policy.yaml" <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
i = lines.index("  - id: 101")
print("\n".join(lines[:i] + lines[i + 5:]) + "# fleet bundle v5: without press-1-vib")
PY
grep -q "id: 101" "$T/v5/policy.yaml" && lg_fail "v5 still has device 101"
"$FLEET" publish "$T/v5" "${LINE[@]}" --version v5 --key "$KEY" > /dev/null || lg_fail "publish v5 failed"
rc=0; "$FLEET" rollout v5 "${LINE[@]}" --canary s1 --wait 30 --observe 3 \
	--max-drop-increase 10 > "$T/roll5.txt" 2>&1 || rc=$?
cat "$T/roll5.txt"
[ $rc = 1 ] || lg_fail "rollout of a bundle that makes drops exited $rc"
grep -q "stopped: s1: health regression after v5: drops [0-9.]*/s (before 0.00, allowed +10.00)" \
	"$T/roll5.txt" || lg_fail "no health regression measured"
grep -q "rolled back: the canaries go back to v4; the other servers never saw v5" "$T/roll5.txt" ||
	lg_fail "v5 was not rolled back"
lg_wait_value 15 "$B4 $B4" running s1 || lg_fail "s1 did not go back to v4: $(running s1)"
lg_wait_for 10 grep -q '"what":"fleet_bundle","result":"rolled_back".*@v5: rolled back: the line went back to v4' \
	"$T/s1/audit.jsonl" || lg_fail "s1 did not audit the rollback of v5"
for s in s2 s3; do
	[ "$(running $s)" = "$B4 $B4" ] || lg_fail "$s does not run v4: $(running $s)"
	! grep -q "@v5" "$T/$s/audit.jsonl" || lg_fail "$s saw v5"
done

# --- 5b. the version rolled back on the canary, rolled out again: refused, not applied ---
n5=$(grep -c '"what":"fleet_apply".*@v5' "$T/s1/audit.jsonl")
rc=0; "$FLEET" rollout v5 "${LINE[@]}" --canary s1 --wait 30 --observe 3 > "$T/roll5b.txt" 2>&1 || rc=$?
cat "$T/roll5b.txt"
[ $rc = 1 ] || lg_fail "v5 rolled out again exited $rc"
grep -q "stopped: s1 refused v5: v5 was judged here before (rolled back: the line went back to v4): refused again" \
	"$T/roll5b.txt" || lg_fail "s1 did not refuse v5 for its rollback"
[ "$(grep -c '"what":"fleet_apply".*@v5' "$T/s1/audit.jsonl")" = "$n5" ] || lg_fail "s1 applied v5 again"
grep -q '"what":"fleet_bundle","result":"refused".*@v5: v5 was judged here before' "$T/s1/audit.jsonl" ||
	lg_fail "s1 did not audit the refusal of v5"
lg_wait_value 10 v4 report s1 bundle.last || lg_fail "s1 did not go back to v4"
[ "$(running s1)" = "$B4 $B4" ] || lg_fail "s1 changed its policy for v5: $(running s1)"

# --- 5c. an older signed bundle (v1 after v4): a downgrade, refused by every server ---
rc=0; "$FLEET" rollout v1 "${LINE[@]}" --wait 30 > "$T/roll1b.txt" 2>&1 || rc=$?
cat "$T/roll1b.txt"
[ $rc = 1 ] || lg_fail "a rollout back to v1 exited $rc"
grep -q "rolled back: the line's bundle is v4 again" "$T/roll1b.txt" || lg_fail "the line did not go back to v4"
# every server refused: none is named as keeping v1 (trial K, s21: the rollback's line named
# no server that kept the new version, and said the whole line went back)
! grep -q "these keep it" "$T/roll1b.txt" || lg_fail "servers named as keeping a refused v1"
for s in s1 s2 s3; do
	grep -q "^  $s refused v1: downgrade refused: v1 (serial [0-9]*) is older than v4 (serial [0-9]*)" \
		"$T/roll1b.txt" || lg_fail "$s did not refuse v1 as a downgrade"
	grep -q '"what":"fleet_bundle","result":"refused".*@v1: downgrade refused' "$T/$s/audit.jsonl" ||
		lg_fail "$s did not audit the downgrade"
	lg_wait_value 10 v4 report $s bundle.last || lg_fail "$s did not go back to v4"
	[ "$(running $s)" = "$B4 $B4" ] || lg_fail "$s applied v1 again: $(running $s)"
done
# the intended way back: v1's content published as a new version
"$FLEET" publish "$T/v1" "${LINE[@]}" --version v6 --key "$KEY" > /dev/null || lg_fail "publish v6 failed"
rc=0; "$FLEET" rollout v6 "${LINE[@]}" --wait 30 > "$T/roll6.txt" 2>&1 || rc=$?
cat "$T/roll6.txt"
[ $rc = 0 ] || lg_fail "rollout of v6 (v1's content) exited $rc"
for s in s1 s2 s3; do
	[ "$(running $s)" = "$B1 $B1" ] || lg_fail "$s does not run v6 (v1's policy): $(running $s)"
done

# --- 5d. a bundle whose model cannot run under its own policy (trial R, s23: its policy was
# applied, then the model refused, and the policy stayed): refused before anything applies ---
mkdir -p "$T/v7"
{ cat "$T/base.yaml"; echo "# fleet bundle v7: a 2048-sample model for 256-sample windows"; } \
	> "$T/v7/policy.yaml"
cp "$LG_SOURCE/control/defaults/model-2048.json" "$T/v7/model.json"
"$FLEET" publish "$T/v7" "${LINE[@]}" --version v7 --key "$KEY" > /dev/null || lg_fail "publish v7 failed"
rc=0; "$FLEET" rollout v7 "${LINE[@]}" --canary s1 --wait 30 --observe 2 > "$T/roll7.txt" 2>&1 || rc=$?
cat "$T/roll7.txt"
[ $rc = 1 ] || lg_fail "rollout v7 exited $rc"
# the audit names the key that signed a bundle (trial R, s23), the demo key as such
grep -q '"what":"fleet_bundle","result":"verified","detail":"bundle north\\/line7@v7: signed by the key of fingerprint c3126d69 (the public demo key' \
	"$T/s1/audit.jsonl" || lg_fail "the audit does not name v7's signer: $(grep verified "$T/s1/audit.jsonl" | tail -1)"
grep -q "s1 refused v7: its model fleet@v7 cannot run under its own policy: .*2048.*; nothing applied" \
	"$T/roll7.txt" || lg_fail "s1 did not refuse v7 for its model"
[ "$(running s1)" = "$B1 $B1" ] || lg_fail "s1 applied v7's policy: $(running s1)"
! grep -q '"what":"fleet_apply".*@v7' "$T/s1/audit.jsonl" || lg_fail "s1 applied v7's policy (audit)"

# --- 5e. a bundle whose policy would not trust the key that signed it (trial R, s23: applied,
# the server then refused every bundle of the fleet's key): refused ---
mkdir -p "$T/v8"
sed "s#trusted_keys: \[.*\]#trusted_keys: [$(printf '%064d' 7)]#" "$T/base.yaml" > "$T/v8/policy.yaml"
grep -q "trusted_keys: \[0000" "$T/v8/policy.yaml" || lg_fail "v8: trusted_keys not changed"
"$FLEET" publish "$T/v8" "${LINE[@]}" --version v8 --key "$KEY" > /dev/null || lg_fail "publish v8 failed"
rc=0; "$FLEET" rollout v8 "${LINE[@]}" --canary s1 --wait 30 --observe 2 > "$T/roll8.txt" 2>&1 || rc=$?
cat "$T/roll8.txt"
[ $rc = 1 ] || lg_fail "rollout v8 exited $rc"
grep -q "s1 refused v8: its policy's models.trusted_keys does not hold the key that signed it" \
	"$T/roll8.txt" || lg_fail "s1 did not refuse v8"
[ "$(running s1)" = "$B1 $B1" ] || lg_fail "s1 applied v8's policy: $(running s1)"

# --- 5f. a canary rolled back to a line version without a model gets the line's model back
# (trial R, s23: the rejected canary's model kept scoring). The line runs v6 (no model) with
# fleet@v4; v9 brings another model and drops device 101 (drops: a health regression). ---
lg_wait_value 10 fleet@v4 report s1 model || lg_fail "s1 does not run fleet@v4 before v9"
mkdir -p "$T/v9"
python3 - "$T/v1/policy.yaml" > "$T/v9/policy.yaml" <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
i = lines.index("  - id: 101")
print("\n".join(lines[:i] + lines[i + 5:]) + "# fleet bundle v9: without press-1-vib")
PY
cp "$LG_SOURCE/control/defaults/model.json" "$T/v9/model.json"
"$FLEET" publish "$T/v9" "${LINE[@]}" --version v9 --key "$KEY" > /dev/null || lg_fail "publish v9 failed"
kill -0 $GEN 2>/dev/null || lg_fail "the load generator stopped: $(cat "$T/gen.out")"
rc=0; "$FLEET" rollout v9 "${LINE[@]}" --canary s1 --wait 30 --observe 3 \
	--max-drop-increase 10 > "$T/roll9.txt" 2>&1 || rc=$?
cat "$T/roll9.txt"
[ $rc = 1 ] || lg_fail "rollout v9 exited $rc"
grep -q "rolled back: the canaries go back to v6" "$T/roll9.txt" || lg_fail "v9 was not rolled back"
lg_wait_value 15 "$B1 $B1" running s1 || lg_fail "s1 did not go back to v6: $(running s1)"
lg_wait_value 10 fleet@v4 report s1 model || lg_fail "s1 kept the canary's model: $(report s1 model)"
m=$(lg_ctl "$T/s1/dp.sock" '{"cmd": "status"}' | python3 -c 'import json,sys; print(json.load(sys.stdin).get("model"))')
[ "$m" = fleet@v4 ] || lg_fail "s1's data plane runs model $m after the rollback"
grep -q '"what":"model_activate","result":"ok".*fleet@v4, the line.s model with v6 (the canary.s fleet@v9 goes)' \
	"$T/s1/audit.jsonl" || lg_fail "s1 did not audit the line's model coming back: $(grep model_activate "$T/s1/audit.jsonl" | tail -2)"

# --- 5g. a canary whose data plane is down when the rollout rolls it back goes back to the
# line's version once its data plane answers again (trial S, s23: it stayed on the rejected
# version for good, and the rollout said "no health report" after the whole wait) ---
mkdir -p "$T/v10"
{ cat "$T/v1/policy.yaml"; echo "# fleet bundle v10"; } > "$T/v10/policy.yaml"
"$FLEET" publish "$T/v10" "${LINE[@]}" --version v10 --key "$KEY" > /dev/null || lg_fail "publish v10 failed"
"$FLEET" rollout v10 "${LINE[@]}" --canary s1 --wait 30 --observe 40 > "$T/roll10.txt" 2>&1 &
ROLL=$!
lg_wait_value 20 v10 report s1 bundle.applied || lg_fail "s1 did not apply v10"
pid1=$(pgrep -f -- "-c $T/s1/dp.sock" | head -1)
[ -n "$pid1" ] || lg_fail "no linegate of s1"
kill -INT "$pid1"; wait "$pid1" 2>/dev/null || true
rc=0; wait $ROLL || rc=$?
cat "$T/roll10.txt"
[ $rc = 1 ] || lg_fail "rollout v10 with s1's data plane gone exited $rc"
grep -q "stopped: s1: its data plane does not answer" "$T/roll10.txt" || lg_fail "the stop does not say why"
grep -q "rolled back: the canaries go back to v6" "$T/roll10.txt" || lg_fail "v10 was not rolled back"
sleep 2 # s1 tries v6 while its data plane is away: it fails
STATE_DIRECTORY=$T/s1/dp-state ip netns exec "${NS}s1" "$LG_BIN_DP" -p "$T/s1/policy.yaml" \
	-B 127.0.0.1 -c "$T/s1/dp.sock" -s "$T/s1/stats.json" 2> "$T/s1/dp3.err" &
LG_PIDS="$LG_PIDS $!"
lg_wait_for 5 test -S "$T/s1/dp.sock" || lg_fail "linegate s1 did not start again: $(cat "$T/s1/dp3.err")"
lg_wait_value 40 "$B1 $B1" running s1 || lg_fail "s1 stayed on v10 after its data plane came back: $(running s1)"
lg_wait_value 10 v6 report s1 bundle.applied || lg_fail "s1 reports $(report s1 bundle.applied)"
grep -q "linegated: fleet: trying v6 again (1 of 5)" "$T/s1/d.err" || lg_fail "s1 did not say it tried v6 again"
# the try with the data plane away "failed" (not "refused": not the bundle's fault)
grep -q '"what":"fleet_bundle","result":"failed","detail":"bundle north\\/line7@v6: ' "$T/s1/audit.jsonl" ||
	lg_fail "s1's failed try of v6: $(grep '@v6' "$T/s1/audit.jsonl" | tail -2)"
grep -q '"what":"fleet_bundle","result":"rolled_back".*@v10: rolled back: the line went back to v6' \
	"$T/s1/audit.jsonl" || lg_fail "s1 did not audit v10's rollback"

# --- 6. a restarted linegated does not apply its bundle again ---
n=$(grep -c '"what":"fleet_apply"' "$T/s2/audit.jsonl")
kill -INT $D_s2
rc=0; wait $D_s2 || rc=$?
[ $rc = 0 ] || lg_fail "linegated s2 exited $rc: $(tail -20 "$T/s2/d.err")"
start_d s2
grep -q "applied bundle v6" "$T/s2/d.err" || lg_fail "s2 did not remember v6: $(tail -3 "$T/s2/d.err")"
sleep 3 # three looks at the bucket, three reports
[ "$(grep -c '"what":"fleet_apply"' "$T/s2/audit.jsonl")" = "$n" ] || lg_fail "s2 applied v6 again"
[ "$(report s2 bundle.applied)" = v6 ] && [ "$(report s2 bundle.last)" = v6 ] &&
	[ "$(report s2 bundle.result)" = applied ] && [ "$(running s2)" = "$B1 $B1" ] ||
	lg_fail "s2 after its restart: $(report s2 bundle.applied), $(running s2)"

# what was fetched is gone once judged (the registry keeps its own copy of the model)
[ -z "$(ls "$T/s1/state/fleet")" ] || lg_fail "s1 kept fetched bundles: $(ls "$T/s1/state/fleet")"

"$FLEET" status "${LINE[@]}" | tee "$T/table.txt"
[ "$(grep -c ' v6 ' "$T/table.txt")" = 3 ] || lg_fail "the status table does not show v6 three times"

# --- 6a. a data plane that came back on its boot file (its state folder lost) is not counted
# as running the bundle either (trial K, s21: "done" while it ran the boot policy) ---
pid3=$(pgrep -f -- "-c $T/s3/dp.sock" | head -1)
[ -n "$pid3" ] || lg_fail "no linegate of s3"
kill -INT "$pid3"; wait "$pid3" 2>/dev/null || true
# while no data plane answers: the status table says so, and a rollout does not count s3 as
# running the version (trial R, s23: a row of 0.00 drops, and "done ... on 2 servers" for a
# linegated with no data plane)
lg_wait_value 15 False report s3 health.dataplane || lg_fail "s3's report still says a data plane"
"$FLEET" status "${LINE[@]}" > "$T/status6a.txt" || lg_fail "fleet status failed"
grep -q "^s3 .*\[NO DATA PLANE answers" "$T/status6a.txt" || lg_fail "status: $(cat "$T/status6a.txt")"
rc=0; "$FLEET" rollout v6 "${LINE[@]}" --wait 10 > "$T/roll6n.txt" 2>&1 || rc=$?
cat "$T/roll6n.txt"
[ $rc = 1 ] || lg_fail "a rollout with s3's data plane down exited $rc"
grep -q "^  s3 reports v6 applied, but no data plane of it answers" "$T/roll6n.txt" ||
	lg_fail "s3 without a data plane was counted"
rm -f "$T/s3/dp-state/applied.json"
cp "$T/base.yaml" "$T/s3/boot0.yaml"  # the boot file it was first started with
STATE_DIRECTORY=$T/s3/dp-state ip netns exec "${NS}s3" "$LG_BIN_DP" -p "$T/s3/boot0.yaml" \
	-B 127.0.0.1 -c "$T/s3/dp.sock" -s "$T/s3/stats.json" 2> "$T/s3/dp2.err" &
LG_PIDS="$LG_PIDS $!"
lg_wait_for 5 test -S "$T/s3/dp.sock" || lg_fail "linegate s3 did not start again: $(cat "$T/s3/dp2.err")"
lg_wait_value 15 "$B0" report s3 policy.dataplane_sha256 ||
	lg_fail "s3's report does not show its data plane on the boot policy: $(report s3 policy)"
rc=0; "$FLEET" rollout v6 "${LINE[@]}" --wait 20 > "$T/roll6a.txt" 2>&1 || rc=$?
cat "$T/roll6a.txt"
[ $rc = 1 ] || lg_fail "a rollout with s3's data plane on its boot policy exited $rc"
grep -q "^  s3 reports v6 applied but its data plane runs another policy" "$T/roll6a.txt" ||
	lg_fail "s3's data plane policy was not said"

# --- 6b. a server whose policy was changed locally is not counted as running the bundle ---
# (trial K, s21: a local rollback on one server, then the same version rolled out: "done:
# runs v11 on 3 servers" while that server ran its own policy)
{ cat "$T/s2/policy.yaml"; echo "# a local change on s2"; } > "$T/s2/local.yaml"
"$LG_BIN_CTL" -s "$T/s2/d.sock" apply "$T/s2/local.yaml" > /dev/null || lg_fail "local apply on s2 failed"
BL=$(sha "$T/s2/local.yaml")
lg_wait_value 15 "$BL" report s2 policy.sha256 || lg_fail "s2's report does not show its local policy"
rc=0; "$FLEET" rollout v6 "${LINE[@]}" --wait 20 > "$T/roll6b.txt" 2>&1 || rc=$?
cat "$T/roll6b.txt"
[ $rc = 1 ] || lg_fail "a rollout with s2 on a local policy exited $rc"
grep -q "^  s2 reports v6 applied but runs another policy" "$T/roll6b.txt" ||
	lg_fail "s2's local policy was not said"
! grep -q "^done:" "$T/roll6b.txt" || lg_fail "the rollout said done with s2 on a local policy"
# linegated stops cleanly (its fleet thread joined; under ASan a leak would fail it here)
for s in s1 s2 s3; do
	p=$(eval echo "\$D_$s")
	kill -INT $p
	rc=0; wait $p || rc=$?
	[ $rc = 0 ] || lg_fail "linegated $s exited $rc: $(tail -20 "$T/$s/d.err")"
done

# --- 7. linegatectl fleet ARGS is linegate-fleet ARGS: the same output and exit status ---
# (the reports stand still now that every linegated stopped)
rc1=0; "$FLEET" status "${LINE[@]}" --json > "$T/st-fleet.json" 2> "$T/st-fleet.err" || rc1=$?
rc2=0; "$LG_BIN_CTL" fleet status "${LINE[@]}" --json > "$T/st-ctl.json" 2> "$T/st-ctl.err" || rc2=$?
[ $rc1 = 0 ] && [ $rc2 = 0 ] || lg_fail "fleet status: exit $rc1 and $rc2: $(cat "$T/st-ctl.err")"
[ "$(grep -c '"applied": *"v6"' "$T/st-ctl.json")" = 3 ] ||
	lg_fail "linegatectl fleet status --json: $(cat "$T/st-ctl.json")"
cmp "$T/st-fleet.json" "$T/st-ctl.json" || lg_fail "linegatectl fleet status printed otherwise"
# a line with no reports, and a command it does not know: the same words, the same status
for args in "status --url $URL --plant north --line nosuchline" "no-such-command"; do
	rc1=0; "$FLEET" $args > "$T/f.out" 2> "$T/f.err" || rc1=$?
	rc2=0; "$LG_BIN_CTL" fleet $args > "$T/c.out" 2> "$T/c.err" || rc2=$?
	echo "linegate-fleet $args: exit $rc1; linegatectl fleet: exit $rc2"
	[ $rc1 = $rc2 ] && cmp "$T/f.out" "$T/c.out" && cmp "$T/f.err" "$T/c.err" ||
		lg_fail "linegatectl fleet $args differs: $rc1/$rc2 $(cat "$T/f.err") | $(cat "$T/c.err")"
done
[ $rc2 != 0 ] || lg_fail "linegatectl fleet no-such-command succeeded"

# --- 8. a report no terminal should obey (re-check trial 13b A1): a line server's own status
# key holds escape sequences (window title, cursor up, erase line) and a time ahead; a key
# of the bucket with a control character in the server's name. Put as any client can
# (a raw NATS publish to the key's subject). The table shows \x1b, never the byte; the age
# comes from the server's time stamp and the report dated ahead is said to be. ---
python3 - "$PORT" <<'PY' || lg_fail "could not put the hostile reports"
import json, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5)
f = s.makefile("rb")
f.readline()  # INFO
def pub(subj, body):
    s.sendall(b"PUB %s %d\r\n%s\r\n" % (subj, len(body), body))
now = int(time.time() * 1000)
rep = {"server": "s9", "plant": "north", "line": "line7", "at_ms": now + 600000,
       "policy": {"version": 9, "sha256": "deadbeef"}, "model": "fleet@v9\x1b]0;owned\x07",
       "bundle": {"wanted": "v6", "applied": "v6", "last": "v6", "result": "applied",
                  "reason": "ok\x1b[1A\x1b[2K\x1b[32mall fine\x1b[0m"},
       "health": {"dataplane": True, "drop_rate": 0, "incident_rate": 0}}
s.sendall(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\n")
pub(b"$KV.linegate-config.north.line7.status.s9", json.dumps(rep).encode())
pub(b"$KV.linegate-config.north.line7.status.s\x1bX", json.dumps(rep).encode())
s.sendall(b"PING\r\n")
while not f.readline().startswith(b"PONG"):
    pass
PY
"$FLEET" status "${LINE[@]}" > "$T/hostile.txt" 2>&1 || lg_fail "status failed: $(cat "$T/hostile.txt")"
cat "$T/hostile.txt"
! grep -q $'\x1b' "$T/hostile.txt" || lg_fail "an escape byte reached the terminal"
! grep -q $'\x07' "$T/hostile.txt" || lg_fail "a BEL byte reached the terminal"
grep -q '^s9 .*fleet@v9\\x1b\]0;owned\\x07 .*applied: ok\\x1b\[1A.*(its report is dated ahead of the server.s clock)$' "$T/hostile.txt" ||
	lg_fail "the hostile report is not shown escaped and flagged"
age=$(awk '$1 == "s9" { for (i = 1; i <= NF; i++) if ($i == "applied:") print $(i - 1) }' "$T/hostile.txt")
[ -n "$age" ] && [ "${age%%.*}" -ge 0 ] && [ "${age%%.*}" -lt 60 ] || lg_fail "s9's age $age: not the server's"
[ "$(grep -c "^s" "$T/hostile.txt")" = 4 ] || lg_fail "a server name with a control character was listed"
echo "8. hostile reports shown escaped; the age from the server's clock ($age s), the time ahead flagged"
# --- 9. a retired server forgotten (trial R, s23: no tool removed its report, and every
# later rollout waited for it) ---
"$FLEET" forget s3 "${LINE[@]}" > "$T/forget.txt" || lg_fail "forget s3 failed: $(cat "$T/forget.txt")"
grep -q "^forgot s3 of north/line7" "$T/forget.txt" || lg_fail "forget said: $(cat "$T/forget.txt")"
"$FLEET" status "${LINE[@]}" > "$T/status9.txt" || lg_fail "fleet status failed"
! grep -q "^s3 " "$T/status9.txt" || lg_fail "s3 still listed: $(cat "$T/status9.txt")"
grep -q "^s1 " "$T/status9.txt" || lg_fail "s1 no longer listed: $(cat "$T/status9.txt")"
rc=0; "$FLEET" forget s3 "${LINE[@]}" > /dev/null 2> "$T/forget2.err" || rc=$?
[ $rc = 1 ] && grep -q "has no server s3" "$T/forget2.err" || lg_fail "forget s3 twice: $rc $(cat "$T/forget2.err")"
# a canary that never reported (a typo, or forgotten) is refused before any key is set
rc=0; "$FLEET" rollout v6 "${LINE[@]}" --canary s3 --wait 5 > /dev/null 2> "$T/canary9.err" || rc=$?
[ $rc = 1 ] && grep -q -- "--canary s3: no server of that name has reported on north/line7" "$T/canary9.err" ||
	lg_fail "a canary never seen: $rc $(cat "$T/canary9.err")"
echo "9. a retired server forgotten"

# --- 10. a bundle whose model the data plane side refuses after its policy applied: the
# policy goes back to the version before (trial R, s23: it stayed). A linegated without a
# data plane (line8, s4) cannot run models: the model is refused at activation. ---
mkdir -p "$T/s4" "$T/w1"
cp "$T/base.yaml" "$T/s4/policy.yaml"
lg_keys "$T/s4"
"$LG_BIN_D" -p "$T/s4/policy.yaml" -S "$T/s4/d.sock" -a "$T/s4/audit.jsonl" -s "$T/s4/state" \
	--fleet-url "$URL" --fleet-plant north --fleet-line line8 --fleet-server s4 \
	--fleet-report 1000 2>> "$T/s4/d.err" &
D_s4=$!
LG_PIDS="$LG_PIDS $D_s4"
lg_wait_for 5 test -S "$T/s4/d.sock" || lg_fail "linegated s4 did not start: $(cat "$T/s4/d.err")"
{ cat "$T/base.yaml"; echo "# fleet bundle w1"; } > "$T/w1/policy.yaml"
cp "$LG_SOURCE/control/defaults/model.json" "$T/w1/model.json"
L8=(--url "$URL" --plant north --line line8)
"$FLEET" publish "$T/w1" "${L8[@]}" --version w1 --key "$KEY" > /dev/null || lg_fail "publish w1 failed"
lg_wait_for 10 "$FLEET" status "${L8[@]}" --json || true
sleep 2 # s4's first report
rc=0; "$FLEET" rollout w1 "${L8[@]}" --wait 20 > "$T/rollw1.txt" 2>&1 || rc=$?
cat "$T/rollw1.txt"
[ $rc = 1 ] || lg_fail "rollout w1 to a server without a data plane exited $rc"
grep -q "s4 failed w1: policy applied, model fleet@w1 refused: no data plane to run models.*; the policy went back to version 1's (applied again as version 3)" \
	"$T/rollw1.txt" || lg_fail "s4 did not take its policy back"
H4=$(lg_ctl "$T/s4/d.sock" '{"cmd": "status"}' policy_sha256 | tr -d '"')
[ "$H4" = "$B0" ] || lg_fail "s4 runs ${H4:0:8} after the undo, want the boot policy ${B0:0:8}"
grep -q '"what":"fleet_undo","result":"ok"' "$T/s4/audit.jsonl" || lg_fail "s4 did not audit the undo"
# and its model is not left in the registry (trial S, s23)
grep -q '"what":"model_add","result":"undone","detail":"fleet@w1"' "$T/s4/audit.jsonl" ||
	lg_fail "s4 left fleet@w1 in its registry: $(grep model_add "$T/s4/audit.jsonl")"
! "$LG_BIN_CTL" -s "$T/s4/d.sock" models 2>/dev/null | grep -q "fleet@w1" || lg_fail "linegatectl models lists fleet@w1"
kill -INT $D_s4; wait $D_s4 || lg_fail "linegated s4 exited $?: $(tail -40 "$T/s4/d.err")"
echo "10. a model refused after its policy applied: the policy went back"
echo "PASS fleet_rollout"
