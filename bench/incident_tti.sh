#!/usr/bin/env bash
# Time to insight per fault kind (as root): linegate in a netns with the default policy and
# model (window 256, incidents 2 of 3), linegate-loadgen sending the six LGF devices at
# RATE frames/s in all; device 103 develops each fault kind in turn. Prints, per kind and
# run, the incident's onset against the injection and its tti_ms (onset -> open), and
# the faulty device's alert lines (what an operator got before incidents), and incidents
# opened by other devices (false incidents).
#
#   bash bench/incident_tti.sh [RUNS] [RATE] [SEVERITY]     (defaults 5 300 1)
set -euo pipefail
cd "$(dirname "$0")/.."
export LG_BUILD=${LG_BUILD:-$PWD/build} LG_SOURCE=$PWD
source tests/e2e/lib.sh
RUNS=${1:-5} RATE=${2:-300} SEV=${3:-1}
lg_need_root
lg_tmp
lg_netns_up "lgtti$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
seq=1
printf '%-10s %4s %10s %8s %8s %7s %6s\n' kind run onset_ms tti_ms windows alerts others
for kind in bearing imbalance looseness; do
	for run in $(seq 1 "$RUNS"); do
		rm -rf "$STATE_DIRECTORY" "$T/out.jsonl"
		lg_start_linegate
		ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP \
			-d 6 -r "$RATE" -n 60 -s "$run" -f "103:30:$kind:$SEV" -j "$T/sent.json" -q
		sleep 0.3
		lg_stop_linegate
		python3 - "$T/out.jsonl" "$T/sent.json" "$kind" "$run" <<'PY'
import calendar, json, sys, time
lines = [json.loads(x) for x in open(sys.argv[1])]
inc = [e for e in lines if e["type"] == "incident"]
f = json.load(open(sys.argv[2]))["fault"]
alerts = sum(1 for e in lines if e["type"] == "alert" and e["device"] == f["device"])
mine = [e for e in inc if e["device"] == f["device"] and e["event"] == "open"]
others = sum(1 for e in inc if e["device"] != f["device"] and e["event"] == "open")
if not mine:
    print(f"{sys.argv[3]:<10} {sys.argv[4]:>4} {'-':>10} {'missed':>8} {'-':>8} {alerts:>7} "
          f"{others:>6}")
    sys.exit(0)
e = mine[0]
y, frac = e["onset"][:-1].split(".")
onset = calendar.timegm(time.strptime(y, "%Y-%m-%dT%H:%M:%S")) * 10**9 + int(frac) * 10**6
print(f"{sys.argv[3]:<10} {sys.argv[4]:>4} {(onset - f['onset_wall_ns']) / 1e6:>+10.1f} "
      f"{e['tti_ms']:>8} {e['windows']:>8} {alerts:>7} {others:>6}")
PY
	done
done
