#!/usr/bin/env bash
# A policy is judged against the model that runs after the apply, not only against its
# detection.model (docs/model-registry.md "Every device needs a detector of the running
# model"). The registry's active model line@1 is per device (a detector for each of the
# default policy's 8 devices, no default), the policy's detection.model the default model
# (one detector for every device). Before 2026-12-06 a policy that enrolled press-9 was
# "valid" and applied, and press-9's windows were counted as no_detector, never scored.
#  - linegatectl validate (offline, or asking linegated), diff, apply --dry-run and apply
#    refuse it, naming the
#    model, its file and the device; the running policy, version and registry stay, audited;
#  - the data plane refuses it too when sent to it directly (its file watch, SIGHUP, a
#    fleet bundle), naming the running model, and keeps its generation;
#  - an apply that changes detection.model to a model serving press-9 is taken (the new
#    model runs, the registry follows; validate asks linegated and takes it too), and then a model switch back to line@1 (activate,
#    shadow, add) is refused naming press-9: it would leave press-9 without a detector;
#  - with press-9 enrolled and served, its frames are scored (rows_no_detector stays 0).
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgms$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
KEY=$(lg_demo_key)
DEF=$LG_SOURCE/control/defaults/model.json
CTL() { "$LG_BIN_CTL" -s "$T/d.sock" "$@"; }

# line.json: a detector for each of the 8 devices, no default; line9.json: the same and
# press-9 too.
python3 - "$DEF" "$T/policy.yaml" "$T/line.json" "$T/line9.json" <<'EOF'
import json, re, sys
m = json.load(open(sys.argv[1]))
names = re.findall(r"^    name: (\S+)", open(sys.argv[2]).read(), re.M)
assert len(names) == 8, names
for out, devs in ((sys.argv[3], names), (sys.argv[4], names + ["press-9"])):
    json.dump({"format": "linegate-detectors", "name": "line", "version": 1,
               "window": m["window"], "detectors": [{"devices": [n], "model": m} for n in devs]},
              open(out, "w"))
EOF
for m in line line9; do
	"$LG_BIN_CTL" sign "$KEY" "$T/$m.json" >/dev/null
done
# policy9: press-9 enrolled (the line's address, press-1's key); policy9m: and its model
cp "$T/keys/press-1-vib.key" "$T/keys/press-9.key"
cp "$T/policy.yaml" "$T/policy9.yaml"
cat >> "$T/policy9.yaml" <<'EOF'
  - id: 109
    name: press-9
    source: 10.77.0.2
    keys:
      - {id: 1, key_file: keys/press-9.key}
EOF
sed "s#^  model: .*#  model: $T/line9.json#" "$T/policy9.yaml" > "$T/policy9m.yaml"

ip netns exec "$NS_SRV" "$LG_BIN_DP" -p "$T/policy.yaml" -B $SRV_IP -c "$T/dp.sock" \
	-o "$T/out.jsonl" -s "$T/stats.json" 2> "$T/dp.err" &
DP_PID=$!
LG_PIDS="$LG_PIDS $DP_PID"
lg_wait_for 5 test -S "$T/dp.sock" || lg_fail "linegate did not start: $(cat "$T/dp.err")"
lg_start_linegated 2> "$T/d.err"
dp() { lg_ctl "$T/dp.sock" '{"cmd": "status"}' "$1" | tr -d '"'; }
audit() { grep -c "\"what\":\"$1\",\"result\":\"$2\".*$3" "$T/audit.jsonl" || true; }
ndev() { lg_ctl "$T/dp.sock" '{"cmd": "status"}' devices; }

CTL model add line 1 "$T/line.json" >/dev/null || lg_fail "add line@1"
CTL model activate line@1 >/dev/null || lg_fail "activate line@1"
[ "$(dp model)" = line@1 ] || lg_fail "line@1 does not run: $(dp model)"
V0=$(CTL -r status | python3 -c "import json,sys; print(json.load(sys.stdin)['version'])")

# 1. enrolling press-9 under line@1: refused everywhere, naming line@1, its file, press-9.
WHY="the registry's active model line@1 cannot serve the policy: .*/models/line/1/line.json: the model has no detector for device press-9 (id 109) and no default"
# validate offline (no linegated at its socket) and asking linegated: both refuse
for sock in "$T/none.sock" "$T/d.sock"; do
	if "$LG_BIN_CTL" -s "$sock" validate "$T/policy9.yaml" > "$T/v.out" 2> "$T/v.err"; then
		lg_fail "linegatectl validate took a device line@1 cannot score: $(cat "$T/v.out")"
	fi
	grep -q "policy9.yaml: models.registry: $WHY" "$T/v.err" ||
		lg_fail "validate ($sock): $(cat "$T/v.err")"
done
for v in diff "apply --dry-run" apply; do
	if CTL $v "$T/policy9.yaml" > "$T/a.out" 2> "$T/a.err"; then
		lg_fail "$v took a device line@1 cannot score: $(cat "$T/a.out")"
	fi
	[ "$v" = apply ] && SO="nothing was applied" || SO="an apply is refused"
	grep -q "$WHY.*; it runs after an apply of this policy (the policy keeps detection.model .*model.json), so $SO" \
		"$T/a.out" "$T/a.err" || lg_fail "$v: $(cat "$T/a.out" "$T/a.err")"
done
[ "$(audit apply refused "no detector for device press-9")" = 1 ] || lg_fail "the refusal is not audited"
[ "$(ndev)" = 8 ] || lg_fail "the data plane runs $(ndev) devices"
[ "$(dp model)" = line@1 ] || lg_fail "the model changed: $(dp model)"
V1=$(CTL -r status | python3 -c "import json,sys; print(json.load(sys.stdin)['version'])")
[ "$V1" = "$V0" ] || lg_fail "the policy version moved from $V0 to $V1"

# 2. the data plane itself, asked directly: refused, its generation kept.
lg_dp_apply "$T/dp.sock" "$T/policy9.yaml" > "$T/dpa.out"
grep -q "^error: model: the running active model line@1 (not the policy's detection.model .*model.json) cannot serve this policy: .*line.json: the model has no detector for device press-9 (id 109) and no default.*; nothing was applied" \
	"$T/dpa.out" || lg_fail "the data plane's apply: $(cat "$T/dpa.out")"
[ "$(ndev)" = 8 ] || lg_fail "the data plane took press-9: $(ndev) devices"

# 3. with a model that serves press-9 as detection.model: taken; linegated knows the new
# model runs. validate asks it, and takes what apply takes (trial s20 H M4: "validate &&
# apply" of "Adding a machine" stopped at validate); offline it cannot know, and says so.
if "$LG_BIN_CTL" -s "$T/none.sock" validate "$T/policy9m.yaml" > "$T/v.out" 2> "$T/v.err"; then
	lg_fail "offline validate took policy9m: $(cat "$T/v.out" "$T/v.err")"
fi
grep -q "linegated, which knows, did not answer at $T/none.sock" "$T/v.err" ||
	lg_fail "offline validate: $(cat "$T/v.err")"
CTL validate "$T/policy9m.yaml" > "$T/v.out" 2> "$T/v.err" ||
	lg_fail "validate refused what apply takes: $(cat "$T/v.out" "$T/v.err")"
grep -q "policy9m.yaml: valid, 9 devices" "$T/v.out" || lg_fail "validate: $(cat "$T/v.out")"
grep -q "an apply changes detection.model: linegated at .* would apply it: .*an apply would run the new detection.model in place of the registry's active model line@1" \
	"$T/v.err" || lg_fail "validate's note: $(cat "$T/v.err")"
CTL apply --dry-run "$T/policy9m.yaml" > "$T/a.out" || lg_fail "dry run: $(cat "$T/a.out")"
CTL apply "$T/policy9m.yaml" > "$T/a.out" || lg_fail "apply with line9.json: $(cat "$T/a.out")"
grep -q "the policy's new detection.model line9.json runs in place of the registry's active model line@1" \
	"$T/a.out" || lg_fail "apply: $(cat "$T/a.out")"
[ "$(ndev)" = 9 ] && [ "$(dp model)" = line9.json ] ||
	lg_fail "after the apply: $(ndev) devices, model $(dp model)"

# 4. a switch back to line@1 would leave press-9 without a detector: refused, naming it.
for v in "model activate line@1" "model shadow line@1" "model add line 2 $T/line.json"; do
	if CTL $v > "$T/s.out" 2> "$T/s.err"; then
		lg_fail "$v: taken with press-9 enrolled: $(cat "$T/s.out")"
	fi
	grep -q "no detector for device press-9 (id 109)" "$T/s.err" "$T/s.out" ||
		lg_fail "$v: $(cat "$T/s.out" "$T/s.err")"
done
[ "$(dp model)" = line9.json ] && [ -z "$(dp shadow_model)" ] ||
	lg_fail "after the refused switches: model $(dp model), shadow $(dp shadow_model)"

# 5. press-9 served: its windows are scored, none counted as no_detector.
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy9m.yaml" -t $SRV_IP -S $LINE_IP -n 200 \
	-r 2000 -q
lg_wait_for 10 lg_dp_holds "$T/dp.sock" 's["scored"] > 0' ||
	lg_fail "nothing was scored"
lg_dp_holds "$T/dp.sock" 's["rows_no_detector"] == 0' ||
	lg_fail "rows counted as no_detector: $(lg_ctl "$T/dp.sock" '{"cmd": "stats"}' stats)"
grep -q '"name":"press-9"' "$T/out.jsonl" || lg_fail "press-9 was never scored"

lg_stop_linegate
echo "PASS: model_serves"
