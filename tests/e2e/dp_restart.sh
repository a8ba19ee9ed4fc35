#!/usr/bin/env bash
# The registry and in_sync tell the truth across a restart of the data plane (a docs-only
# trial: after kill -9 of linegate and a new start, status said in_sync true with no warning
# while the policy's detection.model ran in place of the registry's active model):
#  - in_sync is judged from the models the data plane reports running against the
#    registry's active and shadow: a data plane told to run another model (on its own
#    socket, past linegated) makes in_sync false, naming both, audited once (model_drift);
#  - linegated notices the data plane's restart (its status "instance"), audits it, and
#    pushes the registry's active and shadow models again (audited "restore: ... pushed to
#    the data plane"), as at its own start: models and status agree, in_sync true again.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgdr$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
KEY=$(lg_demo_key)
CTL() { "$LG_BIN_CTL" -s "$T/d.sock" "$@"; }
DEF=$LG_SOURCE/control/defaults/model.json
cp "$DEF" "$T/v1.json"
cp "$DEF" "$T/v2.json"
for m in v1 v2; do
	"$LG_BIN_CTL" sign "$KEY" "$T/$m.json" >/dev/null
done

start_dp() {
	ip netns exec "$NS_SRV" "$LG_BIN_DP" -p "$T/policy.yaml" -B $SRV_IP -c "$T/dp.sock" \
		-o "$T/out.jsonl" -s "$T/stats.json" 2>> "$T/dp.err" &
	DP_PID=$!
	LG_PIDS="$LG_PIDS $DP_PID"
	lg_wait_for 5 test -S "$T/dp.sock" || lg_fail "linegate did not start: $(cat "$T/dp.err")"
}
start_dp
lg_start_linegated -i 100 2> "$T/d.err"
dp() { lg_ctl "$T/dp.sock" '{"cmd": "status"}' "$1" | tr -d '"'; }
st() { CTL -r status > "$T/status.json"; lg_json "$T/status.json" "$1"; }
audit() { grep -c "\"what\":\"$1\",\"result\":\"$2\".*${3:-}" "$T/audit.jsonl" || true; }

CTL model add vib 1 "$T/v1.json" >/dev/null || lg_fail "add vib@1"
CTL model add vib 2 "$T/v2.json" >/dev/null || lg_fail "add vib@2"
CTL model activate vib@1 >/dev/null || lg_fail "activate vib@1"
CTL model shadow vib@2 >/dev/null || lg_fail "shadow vib@2"
[ "$(dp model)|$(dp shadow_model)" = "vib@1|vib@2" ] || lg_fail "runs $(dp model), $(dp shadow_model)"
[ "$(st 'd["in_sync"]')" = True ] || lg_fail "not in sync: $(cat "$T/status.json")"

# 1. The data plane runs another model than the registry's (told on its own socket):
# in_sync false, naming what runs and what should; nothing pushed (no restart).
python3 - "$T/dp.sock" "$T/v2.json" > "$T/other.out" <<'PY'
import sys, lgsock
print(lgsock.call(sys.argv[1], {"cmd": "model", "active": sys.argv[2], "label": "by-hand"}))
PY
[ "$(dp model)" = by-hand ] || lg_fail "the data plane runs $(dp model): $(cat "$T/other.out")"
[ "$(st 'd["in_sync"]')" = False ] ||
	lg_fail "in_sync while the data plane runs another model: $(cat "$T/status.json")"
WHY="the data plane runs by-hand, not the registry's active vib@1, shadow vib@2"
st 'd["in_sync_why"]' | grep -q "^models: $WHY" || lg_fail "in_sync_why: $(cat "$T/status.json")"
CTL -r models > "$T/models.json"
[ "$(lg_json "$T/models.json" 'd["running"] + "|" + d["running_why"]')" = "by-hand|$WHY" ] ||
	lg_fail "models: $(cat "$T/models.json")"
sleep 0.5 # several looks: one audit line for the change, not one a look
[ "$(audit model_drift drifted "$WHY")" = 1 ] || lg_fail "model_drift audit: $(cat "$T/audit.jsonl")"
[ "$(dp model)" = by-hand ] || lg_fail "linegated pushed without a restart: $(dp model)"
CTL model activate vib@1 >/dev/null || lg_fail "activate vib@1 again"
[ "$(st 'd["in_sync"]')" = True ] || lg_fail "not in sync again: $(cat "$T/status.json")"
[ "$(audit model_drift resolved)" = 1 ] || lg_fail "no model_drift resolved: $(cat "$T/audit.jsonl")"

# 2. kill -9 of linegate, a new start: linegated pushes the registry's models again.
INST=$(dp instance)
kill -KILL "$DP_PID"
wait "$DP_PID" 2>/dev/null || true
rm -f "$T/dp.sock"
start_dp
lg_wait_value 10 "vib@1|vib@2" eval 'echo "$(dp model)|$(dp shadow_model)"' ||
	lg_fail "after the restart the data plane runs $(dp model), shadow $(dp shadow_model) (the trial: the policy's model, in_sync true)"
[ "$(dp instance)" != "$INST" ] || lg_fail "the new data plane has the old instance $INST"
[ "$(audit dataplane restarted "the data plane restarted (run $(dp instance), was $INST)")" = 1 ] ||
	lg_fail "the restart is not audited: $(tail -5 "$T/audit.jsonl")"
grep "\"peer\":\"dataplane\",\"what\":\"model_activate\",\"result\":\"ok\"" "$T/audit.jsonl" |
	grep -q "restore: the registry's active vib@1, shadow vib@2: pushed to the data plane" ||
	lg_fail "the re-push is not audited: $(tail -5 "$T/audit.jsonl")"
[ "$(st 'd["in_sync"]')" = True ] || lg_fail "not in sync after the re-push: $(cat "$T/status.json")"
CTL -r models > "$T/models.json"
[ "$(lg_json "$T/models.json" 'd["active"] + "|" + d["running"] + "|" + d["running_shadow"]')" = \
  "vib@1|vib@1|vib@2" ] && ! grep -q running_why "$T/models.json" ||
	lg_fail "models after the restart: $(cat "$T/models.json")"
grep -q "the data plane restarted" "$T/d.err" || lg_fail "the restart is not logged"
lg_stop_linegate
echo PASS
