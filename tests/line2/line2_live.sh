#!/usr/bin/env bash
# A line2 line sent live (line2.py send, paced at x2) from the line namespace to linegate in
# the server namespace: linegate admits every frame the line made and drops none, and it
# forms exactly the windows that a replay of the same line's capture forms.
source "$(dirname "$0")/../e2e/lib.sh"
lg_need_root
PY=$(command -v /usr/bin/python3 || command -v python3)
"$PY" -c 'import numpy' 2>/dev/null || lg_skip "python3 has no numpy (Debian python3-numpy)"
lg_tmp
T=$LG_TMP
lg_netns_up l2live

"$PY" "$LG_SOURCE/tests/line2/line2.py" make -q --seed 13 --devices 6 --faulty 3 --seconds 4 \
	--fault-at 2 --formats pcap --model "$LG_SOURCE/control/defaults/model.json" \
	--out "$T" || lg_fail "line2.py make failed"
sed -i "s#^  jsonl: .*#  jsonl: $T/out.jsonl#" "$T/policy.yaml"
FRAMES=$(lg_json "$T/manifest.json" 'd["lgf_frames"]')
echo "line: $FRAMES frames of 6 devices"

# The capture through the pcap backend: the windows the live run must form too.
rc=0
timeout 60 "$LG_BIN_DP" -p "$T/policy.yaml" -b "pcap:file=$T/line.pcap" -s "$T/replay.json" \
	-o "$T/replay.jsonl" 2> "$T/replay.err" || rc=$?
[ $rc -eq 0 ] || lg_fail "replay: linegate exited with status $rc: $(tail -3 "$T/replay.err")"

lg_start_linegate
rc=0
ip netns exec "$NS_LINE" "$PY" "$LG_SOURCE/tests/line2/line2.py" send --dir "$T" \
	--to $SRV_IP:4739 --speed 2 > "$T/send.out" 2>&1 || rc=$?
[ $rc -eq 0 ] || lg_fail "line2.py send exited with status $rc: $(cat "$T/send.out")"
cat "$T/send.out"
lg_dp_admitted_stop "$T/live.json" "$FRAMES"

"$PY" - "$T/stats.json" "$T/replay.json" "$FRAMES" <<'PY'
import json, sys
live, replay, frames = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3])
ok = True
for name, got, want in (("live received", live["received"], frames),
                        ("live admitted", live["admitted"], frames),
                        ("live dropped", live["dropped"], 0),
                        ("replay admitted", replay["admitted"], frames),
                        ("live windows = replay windows", live["windows"], replay["windows"]),
                        ("live scored = replay scored", live["scored"], replay["scored"])):
    print("%s: got %s, want %s" % (name, got, want))
    ok &= got == want
sys.exit(0 if ok else 1)
PY
echo PASS
