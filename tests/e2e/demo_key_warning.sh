#!/usr/bin/env bash
# A policy that trusts the public demo signing key (its secret half is in the repository,
# control/defaults/demo-signing.key) is warned about, never refused: by `linegatectl validate`,
# by linegate's start and by linegated's status "warnings"; a policy that trusts a key of the
# operator's own instead is not (trial J F19: nothing at run time said it).
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgdk$$"
T=$LG_TMP
SAY="models.trusted_keys holds the public demo signing key c3126d69..."
CTL() { "$LG_BIN_CTL" -s "$T/d.sock" "$@"; }
lg_policy "$T/policy.yaml"
grep -q "trusted_keys: \[c3126d69" "$T/policy.yaml" || lg_fail "the default policy changed"

"$LG_BIN_CTL" validate "$T/policy.yaml" > "$T/v.out" 2> "$T/v.err" ||
	lg_fail "validate refused: $(cat "$T/v.err")"
grep -qF "$T/policy.yaml: WARNING: $SAY" "$T/v.err" || lg_fail "validate: $(cat "$T/v.err")"
grep -q "valid, " "$T/v.out" || lg_fail "validate: $(cat "$T/v.out")"

lg_start_linegate 2> "$T/dp.err"
lg_start_linegated
lg_wait_for 5 grep -qF "linegate: $T/policy.yaml: WARNING: $SAY" "$T/dp.err" ||
	lg_fail "linegate's start: $(cat "$T/dp.err")"
CTL -r status > "$T/st.json"
python3 - "$T/st.json" "$SAY" <<'PY' || lg_fail "status: $(cat "$T/st.json")"
import json, sys
s = json.load(open(sys.argv[1]))
w = [x for x in s["warnings"] if sys.argv[2] in x]
print(w)
assert len(w) == 1 and "linegatectl keygen" in w[0], s["warnings"]
PY

# A key of our own, the model signed with it, the demo key no longer trusted: silent.
"$LG_BIN_CTL" keygen "$T/own" > /dev/null || lg_fail "keygen"
cp "$LG_SOURCE/control/defaults/model.json" "$T/model.json"
"$LG_BIN_CTL" sign "$T/own.key" "$T/model.json" > /dev/null || lg_fail "sign"
OWN=$(tr -d '\n' < "$T/own.pub")
sed -e "s#trusted_keys: \[c3126d69[0-9a-f]*\]#trusted_keys: [$OWN]#" \
    -e "s#^  model: .*#  model: $T/model.json#" "$T/policy.yaml" > "$T/own.yaml"
grep -q "trusted_keys: \[$OWN\]" "$T/own.yaml" || lg_fail "the policy edit did not take"
"$LG_BIN_CTL" validate "$T/own.yaml" > /dev/null 2> "$T/v2.err" ||
	lg_fail "validate own: $(cat "$T/v2.err")"
grep -q "demo signing key" "$T/v2.err" && lg_fail "validate own: $(cat "$T/v2.err")"
cp "$T/own.yaml" "$T/policy.yaml"
out=$(CTL apply "$T/policy.yaml" 2>&1) || lg_fail "apply: $out"
CTL -r status > "$T/st2.json"
python3 - "$T/st2.json" <<'PY' || lg_fail "status after the apply: $(cat "$T/st2.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert not [x for x in s["warnings"] if "demo signing key" in x], s["warnings"]
PY
lg_stop_linegate
echo PASS
