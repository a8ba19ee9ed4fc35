#!/usr/bin/env bash
# A change of detection.gemm alone is not a new model (docs/models.md "Drift"): the same
# models on another GEMM route give the same scores, so a device's drift monitor keeps its
# state. conveyor-1-vib (103) runs a bearing fault from its frame 50, which starts its
# Page-Hinkley monitor; then an apply that changes only detection.gemm must not end it (no
# "model changed" event, the device still in drift, the model set's epoch advanced),
# and an apply that changes detection.threshold (a new model set for the monitors) must end
# it with "reason":"model changed": the contrast shows the test can see the difference.
# Loopback, no root.
source "$(dirname "$0")/lib.sh"
lg_tmp
T=$LG_TMP
export PYTHONPATH=$LG_SOURCE/tests/e2e
lg_keys "$T"
PORT=$(lg_free_port)
# pol NAME EXTRA-DETECTION-LINE
pol() {
	sed -e "s#^  model: .*#  model: $LG_SOURCE/control/defaults/model.json${2:+\n  $2}#" \
	    -e "s#source: 10.77.0.2#source: 127.0.0.1#" \
	    -e "s#^port: 4739#port: $PORT#" -e "s#^uadp_port: 4840#uadp_port: 0#" \
	    -e "s#^  jsonl: .*#  jsonl: $T/out.jsonl#" \
	    "$LG_SOURCE/control/defaults/policy.yaml" > "$T/$1.yaml"
}
pol run ""
pol gemm "gemm: openblas"
pol thr "threshold: 7.5"
apply() {
	python3 -c "
import json, sys, lgsock
r = lgsock.call(sys.argv[1], {'cmd': 'apply', 'policy': open(sys.argv[2]).read()})
print('ok ' + json.dumps(r['changes'], separators=(',', ':')) if r.get('ok') else
      'error: ' + r.get('error', ''))" "$T/run.sock" "$1"
}
rows() { grep -c '"device":103,.*"score"' "$T/out.jsonl"; }
events() { grep -c "\"type\":\"event\".*\"state\":\"$1\"" "$T/out.jsonl"; }
epoch() { lg_ctl "$T/run.sock" '{"cmd": "status"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["model_epoch"])'; }

lg_dp_start run
"$LG_BIN_GEN" -p "$T/run.yaml" -t 127.0.0.1:$PORT -S 127.0.0.1 -q -d 3 -n 400 -r 600 \
	-f 103:50:bearing > "$T/gen.out" 2>&1 || lg_fail "loadgen: $(cat "$T/gen.out")"
lg_wait_for 10 grep -q '"type":"event".*"device":103.*"state":"start"' "$T/out.jsonl" ||
	lg_fail "no drift start for the faulty device: $(grep '"type":"event"' "$T/out.jsonl")"
[ "$(events end)" = 0 ] || lg_fail "a drift ended before any apply"
e0=$(epoch)
r=$(apply "$T/gemm.yaml")
[[ $r == 'ok [{"field":"detection.gemm"'* ]] || lg_fail "gemm apply: $r"
[ "$(epoch)" -gt "$e0" ] || lg_fail "the gemm apply made no new model set (epoch $e0)"
# still_drifting FIRST-SEQ N WHAT: N more faulty frames per device (sequences go on); 103's
# windows are scored and its drift does not end
still_drifting() {
	local n0
	n0=$(rows)
	"$LG_BIN_GEN" -p "$T/run.yaml" -t 127.0.0.1:$PORT -S 127.0.0.1 -q -d 3 -n "$2" -r 600 \
		--first-seq "$1" -f 103:0:bearing > "$T/gen.out" 2>&1 ||
		lg_fail "loadgen: $(cat "$T/gen.out")"
	lg_wait_for 5 test "$(rows)" -ge $((n0 + 20)) ||
		lg_fail "103's windows after $3: $n0 -> $(rows)"
	[ "$(events end)" = 0 ] || lg_fail "$3 ended a drift: $(grep '"state":"end"' "$T/out.jsonl")"
}
# more faulty windows on the new route: still the same drift, no end
still_drifting 401 100 "a gemm-only apply"
[ "$(events start)" = 1 ] || lg_fail "drift starts: $(grep '"type":"event"' "$T/out.jsonl")"
echo "gemm: openblas: the drift of 103 kept, no event"
# A shadow beside the same active model (what approving a drift candidate does) is not a new
# model for the monitors either (trial L, s22: it ended the drift of the model that still ran,
# "the model changed").
cp "$LG_SOURCE/control/defaults/model.json" "$T/cand.json"
cp "$LG_SOURCE/control/defaults/model.json.sig" "$T/cand.json.sig"
# shadow_set ACTIVE LABEL SHADOW SHADOW_LABEL: linegated's 'model' request
shadow_set() {
	python3 -c "
import json, sys, lgsock
r = lgsock.call(sys.argv[1], {'cmd': 'model', 'active': sys.argv[2], 'label': sys.argv[3],
                              'shadow': sys.argv[4], 'shadow_label': sys.argv[5]})
print('ok' if r.get('ok') else 'error: ' + r.get('error', ''))" "$T/run.sock" "$@"
}
e1=$(epoch)
r=$(shadow_set "$LG_SOURCE/control/defaults/model.json" model.json "$T/cand.json" cand@1)
[ "$r" = ok ] || lg_fail "shadow set: $r"
[ "$(epoch)" -gt "$e1" ] || lg_fail "the shadow made no new model set (epoch $e1)"
# ... and the same active model spelled another way, with another label (trial T, s24: the
# policy's relative path and linegated's absolute one ended the drift)
e1=$(epoch)
r=$(shadow_set "$LG_SOURCE/control/./defaults/../defaults/model.json" line@2 "$T/cand.json" \
	cand@2)
[ "$r" = ok ] || lg_fail "shadow set (another spelling): $r"
[ "$(epoch)" -gt "$e1" ] || lg_fail "the second shadow made no new model set (epoch $e1)"
still_drifting 501 50 "a shadow set"
echo "shadow set: the drift of 103 kept, no event"
r=$(apply "$T/thr.yaml")
[[ $r == ok* ]] || lg_fail "threshold apply: $r"
"$LG_BIN_GEN" -p "$T/run.yaml" -t 127.0.0.1:$PORT -S 127.0.0.1 -q -d 3 -n 20 -r 600 \
	--first-seq 551 -f 103:0:bearing > "$T/gen.out" 2>&1 || lg_fail "loadgen: $(cat "$T/gen.out")"
lg_wait_for 5 grep -q '"state":"end".*"reason":"model changed"' "$T/out.jsonl" ||
	lg_fail "a threshold change did not restart the monitor: $(grep '"type":"event"' "$T/out.jsonl")"
echo "threshold: the drift of 103 ended with \"model changed\""
lg_dp_stop run
echo "drift_gemm: ok"
