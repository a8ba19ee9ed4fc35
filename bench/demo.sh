#!/usr/bin/env bash
# README command 1: install what is missing, build, and run the demo on a simulated line.
#
#   <lgdemo srv netns>  linegate + (linegated, on a Unix socket)  10.77.0.1
#          |  veth
#   <lgdemo line netns> linegate-loadgen: 6 enrolled vibration sensors (one develops a
#                       bearing fault), an unknown sender, a spoofer, replays, bad tags
#
# Shows live counters and alerts, then a summary. Everything it creates (namespaces,
# processes, temporary files) is removed on exit, also on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

usage() {
	cat <<'USAGE'
Usage: bash bench/demo.sh [--seconds N] [--rate FPS] [--keep DIR]     (as root)

Runs linegate on a simulated production line, its devices sending for about N seconds
(default 12) at FPS frames per second (default 600); start-up, the summary and the clean-up
add about 5 seconds, and the first run installs the packages and builds (minutes). --keep DIR copies the outputs (JSON lines, counters,
audit log) there before cleaning up.
USAGE
}
SECONDS_RUN=12 RATE=600 KEEP=""
while [ $# -gt 0 ]; do
	case $1 in
	--seconds) SECONDS_RUN=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--keep) KEEP=$2; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "demo: needs root (network namespaces, XDP): run it as root, e.g. sudo bash bench/demo.sh" >&2; exit 1; }

bash .ci/install-deps
[ -f build/build.ninja ] || meson setup build -Dbuildtype=debugoptimized >/dev/null
echo "demo: building..."
ninja -C build >/dev/null

export LG_BUILD=$ROOT/build LG_SOURCE=$ROOT
source tests/e2e/lib.sh
set +e
lg_tmp
T=$LG_TMP
on_exit() {
	if [ -n "$KEEP" ]; then
		mkdir -p "$KEEP" && cp "$T"/*.json* "$T"/policy.yaml "$KEEP"/ 2>/dev/null
		# the key files the kept policy names, still readable by their owner only
		cp -pr "$T/keys" "$KEEP"/ 2>/dev/null
		echo "demo: outputs kept in $KEEP"
	fi
	lg_cleanup
	echo "demo: cleaned up (namespaces, processes, temporary files)"
}
trap on_exit EXIT
trap 'echo; echo "demo: interrupted"; exit 130' INT TERM

lg_netns_up "lgdemo$$"
lg_policy "$T/policy.yaml"
DEVICES=8
FRAMES=$((SECONDS_RUN * RATE / DEVICES))
FAULT=103
ONSET=$((FRAMES * 2 / 5))

echo "demo: simulated line: netns $NS_SRV ($SRV_IP, linegate) <-veth-> netns $NS_LINE ($LINE_IP, devices)"
lg_start_linegate --xdp lg0
lg_start_linegated
echo "demo: linegated applied the default policy:"
"$LG_BIN_CTL" -s "$T/d.sock" --raw devices | python3 -c '
import json, sys
for d in json.load(sys.stdin)["devices"]:
    print("  device %4d  %-16s bound to %s%s" % (d["id"], d["name"], d["source"],
          "  (UADP)" if d["name"] in ("press-3-plc", "legacy-gw-1") else ""))'

echo "demo: load generator: $DEVICES devices x $FRAMES frames at $RATE frames/s (6 send LGF," \
	"2 OPC UA PubSub UADP); device $FAULT develops a bearing fault from its frame $ONSET (counting from 0);" \
	"attackers mixed in"
lg_bg ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP --uadp \
	-n $FRAMES -r "$RATE" -f $FAULT:$ONSET:bearing --unknown $((FRAMES / 4)) \
	--bad-tag $((FRAMES / 20)) --replay $((FRAMES / 20)) --malformed $((FRAMES / 20)) \
	--spoof $((FRAMES / 10)) --spoof-from $SPOOF_IP -j "$T/sent.json" -q
GEN_PID=$!
START=$SECONDS

echo
echo "live counters: XDP drops before the kernel allocates anything (LGF and UADP); workers verify the rest"
printf '%6s | %8s %8s %8s %8s | %9s %8s %8s %8s %8s %7s\n' time "xdp pass" unknown spoofed \
	malform. received admitted bad_tag replayed scored alerts
opens_seen=0
while :; do
	sleep 1
	"$LG_BIN_CTL" -s "$T/d.sock" metrics > "$T/m.json" 2>/dev/null || continue
	python3 - "$T/m.json" "$((SECONDS - START))" 2>/dev/null <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]; d = m["drops"]; x = m.get("xdp", {})
print(f'{sys.argv[2]+"s":>6} | {x.get("admitted", 0):>8} {x.get("unknown_device", 0):>8} '
      f'{x.get("spoofed_source", 0):>8} {x.get("malformed", 0):>8} | {m["received"]:>9} '
      f'{m["admitted"]:>8} {d["bad_tag"]:>8} {d["replayed"]:>8} {m["scored"]:>8} {m["alerts"]:>7}')
PY
	n=$(grep -c '"type":"incident","event":"open"' "$T/out.jsonl" 2>/dev/null || true)
	if [ "${n:-0}" -gt "$opens_seen" ]; then
		grep '"type":"incident","event":"open"' "$T/out.jsonl" | tail -n +$((opens_seen + 1)) |
			sed 's/^/   INCIDENT: /'
	fi
	opens_seen=${n:-0}
	kill -0 $GEN_PID 2>/dev/null || break
done
wait $GEN_PID
sleep 0.5
"$LG_BIN_CTL" -s "$T/d.sock" metrics > "$T/m.json"
kill -INT $(echo $LG_PIDS) 2>/dev/null
wait 2>/dev/null
LG_PIDS=""

python3 - "$T/stats.json" "$T/sent.json" "$T/out.jsonl" <<'PY'
import json, sys
st = json.load(open(sys.argv[1])); sent = json.load(open(sys.argv[2]))
d = st["drops"]; x = st.get("xdp", {})
alerts = {}
incidents = {}  # id -> its newest event
for line in open(sys.argv[3]):
    e = json.loads(line)
    if e["type"] == "alert":
        alerts.setdefault((e["device"], e["name"]), 0)
        alerts[(e["device"], e["name"])] += 1
    elif e["type"] == "incident":
        incidents[e["incident"]] = e
print("\n==================== linegate demo summary ====================")
print(f'frames sent by the line       {sent["sent"]:>8}')
if x:
    print(f'dropped in XDP                {sum(v for k, v in x.items() if k not in ("admitted", "not_ours", "audit", "audited")):>8}   (before the kernel allocated anything)')
    for k, v in x.items():
        if v and k not in ("admitted", "not_ours", "audited"):
            print(f'    {k:<26}{v:>8}')
    print(f'passed by XDP                 {x["admitted"]:>8}')
    print(f'passed as not ours            {x["not_ours"]:>8}   (ARP and the like)')
print(f'frames verified by workers    {st["received"]:>8}')
print(f'  admitted                    {st["admitted"]:>8}   (enrolled devices sent {sent["enrolled"]})')
print(f'  dropped                     {st["dropped"]:>8}')
for k, v in d.items():
    if v:
        print(f'    {k:<26}{v:>8}')
print(f'  of them OPC UA PubSub UADP  {st["uadp_received"]:>8}   ({st["uadp_unsigned_admitted"]} unsigned, from a device the policy allows to)')
print(f'windows scored                {st["scored"]:>8}   in {st["batches"]} batches, '
      f'mean latency {st["latency_us_mean"]} us, max {st["latency_us_max"]} us')
print(f'incidents                     {len(incidents):>8}   (from {st["alerts"]} alerting windows: '
      f'confirmed k of n, one per fault; the alert lines are in the output too)')
for i, e in sorted(incidents.items(), key=lambda x: x[1]["onset"]):
    state = "open" if e["event"] != "resolve" else "resolved " + e["resolved"]
    print(f'  device {e["device"]} ({e["name"]}): incident {i}')
    print(f'      onset {e["onset"]} ({e["clock"]} clock), opened {e["opened"]}: '
          f'time to insight {e["tti_ms"]} ms; {e["alerts"]} of {e["windows"]} windows alerted, '
          f'max score {e["max_score"]:.4g} (threshold {e["threshold"]:.4g}); {state}')
f = sent.get("fault")
if f:
    print(f'injected fault: device {f["device"]} ({f["name"]}), {f["kind"]}, from frame {f["onset_frame"]} (counting from 0)')
    mine = [e for e in incidents.values() if e["device"] == f["device"]]
    others = [e for e in incidents.values() if e["device"] != f["device"]]
    for e in mine:
        y, frac = e["onset"][:-1].split(".")
        import calendar, time
        onset_ns = calendar.timegm(time.strptime(y, "%Y-%m-%dT%H:%M:%S")) * 10**9 + int(frac) * 10**6
        # The onset is the sample time of the first alerting window's first sample, which the
        # generator stamps as it makes the frame, a little before it sends it: so a few ms
        # either side of the injection (the send of the first faulty frame), not a detection
        # before the fault.
        print(f'  its incident\'s onset (the first alerting window\'s first sample time) is '
              f'{(onset_ns - f["onset_wall_ns"]) / 1e6:+.1f} ms from the injection (the send of '
              f'the first faulty frame); time to insight {e["tti_ms"]} ms')
    print("  faulty device identified, one incident, no other: " +
          ("YES" if len(mine) == 1 and not others else "NO"))
lost = sent["enrolled"] - st["admitted"]
print(f'enrolled frames lost between line and model: {lost}')
print("================================================================")
PY
