#!/usr/bin/env bash
# A device every key of which has expired is dead on the line (its frames unknown_key): status
# says so in "warnings", and a rotate-key gives it a new key without giving the expired one a
# grace period back (trial J, s21: nothing said it; a rotation would have revived the key).
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgke$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
EXP=2026-01-01T00:00:00Z
sed -i "s#{id: 1, key_file: keys/pump-1-vib.key}#{id: 1, key_file: keys/pump-1-vib.key, expires: $EXP}#" \
	"$T/policy.yaml"
grep -q "pump-1-vib.key, expires: $EXP" "$T/policy.yaml" || lg_fail "the policy edit did not take"
ID=$(python3 - "$T/policy.yaml" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
print(re.search(r"id: (\d+)\n\s+name: pump-1-vib", t).group(1))
PY
)
CTL() { "$LG_BIN_CTL" -s "$T/d.sock" "$@"; }
lg_start_linegate
lg_start_linegated
CTL -r status > "$T/st.json"
python3 - "$T/st.json" "$ID" <<'PY' || lg_fail "status: $(cat "$T/st.json")"
import json, sys
s = json.load(open(sys.argv[1]))
w = [x for x in s["warnings"] if "every key of it has expired" in x]
print(w)
assert len(w) == 1 and f"(id {sys.argv[2]})" in w[0] and "2026-01-01T00:00:00Z" in w[0], w
PY
out=$(CTL devices rotate-key "$ID" --grace 10m) || lg_fail "rotate-key: $out"
echo "$out"
[[ "$out" == *"the old key expired at $EXP"* ]] || lg_fail "the reply does not say the old key expired: $out"
grep -q "pump-1-vib.key, expires: $EXP" "$T/policy.yaml" ||
	lg_fail "the rotation gave the expired key another time: $(grep pump-1 "$T/policy.yaml")"
CTL -r status > "$T/st.json"
python3 - "$T/st.json" <<'PY' || lg_fail "status after the rotation: $(cat "$T/st.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert not [x for x in s["warnings"] if "every key of it has expired" in x], s["warnings"]
PY
lg_stop_linegate
echo PASS
