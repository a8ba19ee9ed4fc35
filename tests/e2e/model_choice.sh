#!/usr/bin/env bash
# The model the operator chose last is the one that runs, and what cannot run is said (the
# control-plane findings of a new-user trial):
#  - model add refuses a signed model that can never load under the running policy (a model
#    for another line: no detector for its devices), with the loader's message, as the data
#    plane gives it when asked to run that file;
#  - shadow_scored and shadow_disagreements count the running pair of models only: a new
#    shadow starts from 0 (the *_total counters go on);
#  - activating the shadow model ends the shadow;
#  - an apply that changes detection.model while the registry has an active model and a
#    shadow: the new detection.model runs, the registry follows (no active model, the old one
#    on its history, no shadow), each step in the audit log; a restarted linegated keeps it
#    (no swap); model rollback returns to the registry's model, and a restart keeps that;
#    a boot file whose detection.model changed while linegated was down: the same at start;
#  - frames at another sample rate than the model's: linegate logs the device and both
#    rates, and linegatectl status lists the device as not scored, with a warning; frames
#    of another channel count than the model's the same (reason channels);
#  - a device enrolled with --no-score (score: false): status lists it as not scored by the
#    policy, with a warning.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgmc$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
KEY=$(lg_demo_key)
CTL() { "$LG_BIN_CTL" -s "$T/d.sock" "$@"; }
DEF=$LG_SOURCE/control/defaults/model.json

# v1: the default model; hot: every row over its threshold (disagrees with v1 on every row
# v1 does not alert on); line-model*: the default under other names, for detection.model;
# other: a model for another line's devices; rate: the default trained at 12800 Hz; chan:
# the default trained on 9 channels.
cp "$DEF" "$T/v1.json"
cp "$DEF" "$T/line-model.json"
cp "$DEF" "$T/line-model2.json"
sed 's/"threshold":[0-9.e+-]*/"threshold":1e-9/' "$DEF" > "$T/hot.json"
python3 - "$DEF" "$T/other.json" "$T/rate.json" "$T/chan.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
json.dump({"format": "linegate-detectors", "name": "other-line", "version": 1,
           "window": m["window"], "detectors": [{"devices": ["mill-1"], "model": m}]},
          open(sys.argv[2], "w"))
m["sample_rate"] = 12800
json.dump(m, open(sys.argv[3], "w"))
del m["sample_rate"]
m["channels"] = 9  # a count no device of the line sends
json.dump(m, open(sys.argv[4], "w"))
EOF
for m in v1 hot line-model line-model2 other rate chan; do
	"$LG_BIN_CTL" sign "$KEY" "$T/$m.json" >/dev/null
done

# linegate with its log kept (lg_start_linegate leaves it on the terminal)
ip netns exec "$NS_SRV" "$LG_BIN_DP" -p "$T/policy.yaml" -B $SRV_IP -c "$T/dp.sock" \
	-o "$T/out.jsonl" -s "$T/stats.json" 2> "$T/dp.err" &
DP_PID=$!
LG_PIDS="$LG_PIDS $DP_PID"
lg_wait_for 5 test -S "$T/dp.sock" || lg_fail "linegate did not start: $(cat "$T/dp.err")"
lg_start_linegated 2> "$T/d.err"
dp() { lg_ctl "$T/dp.sock" '{"cmd": "status"}' "$1" | tr -d '"'; }
metric() { CTL -r metrics | python3 -c "import json,sys; print(json.load(sys.stdin)['metrics']['$1'])"; }
SEQ=1
send() { # N frames a device, sequences on from the last run's
	ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP \
		-n "$1" -r 2000 --first-seq $SEQ -q
	SEQ=$((SEQ + $1))
}
audit() { grep -c "\"what\":\"$1\",\"result\":\"$2\".*$3" "$T/audit.jsonl" || true; }

# 1. model add runs activate's load check: a model for another line is refused, as the data
# plane refuses to run it.
CTL model add vib 1 "$T/v1.json" >/dev/null || lg_fail "add vib@1"
CTL model add vib hot "$T/hot.json" >/dev/null || lg_fail "add vib@hot"
CTL model add vib 1b "$T/v1.json" >/dev/null || lg_fail "add vib@1b"
WHY="the model has no detector for device press-1-vib (id 101) and no default"
if CTL model add other 1 "$T/other.json" 2> "$T/other.err"; then
	lg_fail "a model for another line was added"
fi
grep -q "other@1 refused: it cannot run under the running policy .*$WHY" "$T/other.err" ||
	lg_fail "model add of another line's model: $(cat "$T/other.err")"
python3 - "$T/dp.sock" "$T/other.json" > "$T/other.dp" <<'PY'
import sys, lgsock
print(lgsock.call(sys.argv[1], {"cmd": "model", "active": sys.argv[2], "label": "x"}))
PY
grep -q "$WHY" "$T/other.dp" || lg_fail "the data plane says otherwise: $(cat "$T/other.dp")"
CTL models | grep -q "other@1" && lg_fail "other@1 is in the registry"
[ "$(audit model_add refused "other@1 refused")" = 1 ] || lg_fail "no refused model_add audited"

# 2. the shadow's counters are the running pair's.
CTL model activate vib@1 >/dev/null || lg_fail "activate vib@1"
CTL model shadow vib@hot >/dev/null || lg_fail "shadow vib@hot"
send 400
shadow_rows() { [ "$(metric shadow_scored)" -gt 0 ]; }
lg_wait_for 5 shadow_rows || lg_fail "the shadow scored nothing"
sleep 0.5 # the last partial batch (deadline_ms 50)
D1=$(metric shadow_disagreements)
[ "$D1" -gt 0 ] || lg_fail "vib@hot never disagreed with vib@1"
CTL model shadow vib@1b >/dev/null || lg_fail "shadow vib@1b"
[ "$(metric shadow_scored)" = 0 ] || lg_fail "a new shadow has scored rows: $(metric shadow_scored)"
[ "$(metric shadow_disagreements)" = 0 ] ||
	lg_fail "a new shadow starts with $(metric shadow_disagreements) disagreements (the old one's)"
[ "$(metric shadow_disagreements_total)" = "$D1" ] || lg_fail "the total did not go on"

# 3. activating the shadow ends it.
CTL model activate vib@1b > "$T/act.out" || lg_fail "activate vib@1b"
grep -q "its shadow ended" "$T/act.out" || lg_fail "activate of the shadow: $(cat "$T/act.out")"
[ "$(dp model)" = vib@1b ] && [ -z "$(dp shadow_model)" ] ||
	lg_fail "after activating the shadow: model $(dp model), shadow $(dp shadow_model)"
CTL -r models | grep -q '"shadow": *""' || lg_fail "the registry still names a shadow"
[ "$(audit model_shadow ok "the shadow vib@1b became the active model")" = 1 ] ||
	lg_fail "the shadow's end is not audited"

# 4. an apply of a new detection.model: it runs, the registry follows, audited.
CTL model shadow vib@hot >/dev/null || lg_fail "shadow vib@hot again"
sed "s#^  model: .*#  model: $T/line-model.json#" "$T/policy.yaml" > "$T/policy2.yaml"
for v in "apply --dry-run" diff; do
	CTL $v "$T/policy2.yaml" > "$T/dry.out" || lg_fail "$v"
	grep -q "an apply would run the new detection.model in place of the registry's active model vib@1b, and end the shadow vib@hot" \
		"$T/dry.out" || lg_fail "$v does not say it: $(cat "$T/dry.out")"
done
CTL apply "$T/policy2.yaml" > "$T/apply.out" || lg_fail "apply of a new detection.model"
grep -q "the policy's new detection.model line-model.json runs in place of the registry's active model vib@1b (model rollback returns to it); shadow vib@hot ended" \
	"$T/apply.out" || lg_fail "the apply does not say what it did to the models: $(cat "$T/apply.out")"
[ "$(dp model)" = line-model.json ] && [ -z "$(dp shadow_model)" ] ||
	lg_fail "after the apply: model $(dp model), shadow $(dp shadow_model)"
CTL -r models > "$T/models.json"
[ "$(lg_json "$T/models.json" 'd["active"] + "|" + d["shadow"]')" = "|" ] ||
	lg_fail "the registry after the apply: $(cat "$T/models.json")"
[ "$(audit model_activate ok "the policy's detection.model line-model.json, chosen by the policy's apply (vib@1b was active")" = 1 ] ||
	lg_fail "the new model is not audited: $(tail -3 "$T/audit.jsonl")"
[ "$(audit model_shadow ok "off: the policy's apply changed detection.model (vib@hot")" = 1 ] ||
	lg_fail "the shadow's end is not audited"
# ... and a restarted linegated keeps it: no swap.
E=$(dp model_epoch)
restart_d() {
	kill -INT "$D_PID"
	wait "$D_PID" || lg_fail "linegated did not stop cleanly"
	rm -f "$T/d.sock"
	lg_start_linegated 2>> "$T/d.err"
}
restart_d
[ "$(dp model)" = line-model.json ] ||
	lg_fail "a restart brought back $(dp model) (the trial: the registry's model again)"
[ "$(dp model_epoch)" = "$E" ] || lg_fail "a restart swapped models (epoch $E -> $(dp model_epoch))"
# rollback: the registry's model the apply replaced; a restart keeps that too.
CTL model rollback >/dev/null || lg_fail "rollback"
[ "$(dp model)" = vib@1b ] || lg_fail "rollback runs $(dp model), want vib@1b"
E=$(dp model_epoch)
restart_d
[ "$(dp model)" = vib@1b ] && [ "$(dp model_epoch)" = "$E" ] ||
	lg_fail "after a restart: $(dp model) (epoch $(dp model_epoch), was $E)"

# 5. the boot file's detection.model changed while linegated was down: the same at start.
kill -INT "$D_PID"
wait "$D_PID" || lg_fail "linegated did not stop cleanly"
rm -f "$T/d.sock"
sed -i "s#^  model: .*#  model: $T/line-model2.json#" "$T/policy.yaml"
lg_start_linegated 2>> "$T/d.err"
lg_wait_value 5 line-model2.json dp model || lg_fail "the new boot model does not run: $(dp model)"
CTL -r models > "$T/models.json"
[ "$(lg_json "$T/models.json" 'd["active"]')" = "" ] ||
	lg_fail "the registry still names $(lg_json "$T/models.json" 'd["active"]') active"
[ "$(audit model_activate ok "line-model2.json, chosen by the policy's apply (vib@1b was active")" = 1 ] ||
	lg_fail "the start-up's model change is not audited"
grep "\"peer\":\"startup\",\"what\":\"model_activate\"" "$T/audit.jsonl" >/dev/null ||
	lg_fail "the start-up's model change names another peer: $(tail -3 "$T/audit.jsonl")"

# 6. frames at another rate than the model's: said in the log and in status.
CTL model add vib rate "$T/rate.json" >/dev/null || lg_fail "add vib@rate"
CTL model activate vib@rate >/dev/null || lg_fail "activate vib@rate"
send 200
LINE="linegate: device press-1-vib (id 101): [0-9]* frames dropped as sample_rate: its frames come at 10000 Hz, the model vib@rate reads 12800 Hz, so none of its windows is scored"
lg_wait_for 5 grep -q "$LINE" "$T/dp.err" || lg_fail "no log line for the wrong rate: $(tail -5 "$T/dp.err")"
[ "$(grep -c "device press-1-vib (id 101): .*sample_rate" "$T/dp.err")" = 1 ] ||
	lg_fail "the rate line is not rate-limited: $(grep -c "press-1-vib" "$T/dp.err")"
CTL -r status > "$T/status.json"
python3 - "$T/status.json" <<'EOF' || lg_fail "status: $(cat "$T/status.json")"
import json, sys
s = json.load(open(sys.argv[1]))
ns = {d["name"]: d for d in s["not_scored"]}
d = ns["press-1-vib"]
assert (d["reason"], d["frame_rate_hz"], d["want_rate_hz"], d["want_from"]) == \
    ("sample_rate", 10000, 12800, "model"), d
assert d["frames_dropped"] > 0, d
assert any(w.startswith("device press-1-vib (id 101) is not scored: its frames come at 10000 Hz, "
                        "the model reads 12800 Hz") for w in s["warnings"]), s["warnings"]
EOF
# Back to a model at the frames' rate: the device is scored again, status says nothing.
CTL model rollback >/dev/null || lg_fail "rollback from vib@rate"
send 100
# (apart from the public demo signing key's, which the tests trust on purpose)
no_warnings() { CTL -r status | python3 -c 'import json,sys; sys.exit(len([w for w in json.load(sys.stdin)["warnings"] if "public demo signing key" not in w]))'; }
lg_wait_for 5 no_warnings || lg_fail "status still warns: $(CTL -r status)"
# 6b. frames of another channel count than the model's (trial s20 H M1): the same.
CTL model add vib chan "$T/chan.json" >/dev/null || lg_fail "add vib@chan"
CTL model activate vib@chan >/dev/null || lg_fail "activate vib@chan"
send 200
LINE="linegate: device press-1-vib (id 101): [0-9]* frames dropped as channels: its frames carry [0-9]* channels\\?, the model vib@chan was trained on 9 for it, so none of its windows is scored"
lg_wait_for 5 grep -q "$LINE" "$T/dp.err" || lg_fail "no log line for the channels: $(tail -5 "$T/dp.err")"
CTL -r status > "$T/status.json"
python3 - "$T/status.json" <<'EOF' || lg_fail "status: $(cat "$T/status.json")"
import json, sys
s = json.load(open(sys.argv[1]))
ns = {d["name"]: d for d in s["not_scored"]}
d = ns["press-1-vib"]
assert (d["reason"], d["want_channels"]) == ("channels", 9) and d["frame_channels"] != 9, d
assert d["frames_dropped"] > 0, d
assert any(w.startswith("device press-1-vib (id 101) is not scored: its frames carry ")
           and "the model's detector for it was trained on 9" in w for w in s["warnings"]), \
    s["warnings"]
EOF
CTL model rollback >/dev/null || lg_fail "rollback from vib@chan"
send 100
lg_wait_for 5 no_warnings || lg_fail "status still warns: $(CTL -r status)"
# A new machine enrolled as recorded, not scored (--no-score, trial s19 C M3): the policy
# file says score: false, status lists it as not scored by the policy, with a warning.
CTL devices enroll --id 950 --name new-1 --source "$LINE_IP" --no-score > "$T/enroll.out" ||
	lg_fail "enroll --no-score: $(cat "$T/enroll.out")"
grep -A4 "name: new-1" "$T/policy.yaml" | grep -q "^    score: false$" ||
	lg_fail "no score: false in the policy file: $(grep -A5 'name: new-1' "$T/policy.yaml")"
CTL -r status > "$T/status.json" || lg_fail "status"
python3 - "$T/status.json" <<'EOF' || lg_fail "status: $(cat "$T/status.json")"
import json, sys
s = json.load(open(sys.argv[1]))
ns = {d["name"]: d for d in s["not_scored"]}
assert ns["new-1"]["reason"] == "policy" and ns["new-1"]["id"] == 950, ns
assert any(w.startswith("device new-1 (id 950) is not scored: the policy says score: false")
           for w in s["warnings"]), s["warnings"]
EOF
lg_stop_linegate
echo PASS
