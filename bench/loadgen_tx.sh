#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The load generator's ways out, side by side in one invocation: frames/s of
# linegate-loadgen on one core (taskset), --precompute, --rate 0, with sendmmsg (UDP
# sockets), with --tx afxdp (whole frames through AF_XDP, copy mode on the veth) and, where
# the generator was built with DPDK, with --tx dpdk (the same frames in mbufs through a
# net_af_packet vdev on the veth, EAL without hugepages), alternating, RUNS runs each: first to a server namespace where nothing listens, then with
# linegate (uring backend, one worker, unpinned) listening, whose counters say how many of
# the frames it received and admitted. On a veth the receiving stack runs in the sender's
# softirq, on the sender's core: both ways pay for it.
#
# usage: bench/loadgen_tx.sh BUILD_DIR [FRAMES_PER_DEVICE [RUNS [CPU]]]
#   FRAMES_PER_DEVICE (25000, eight devices), RUNS (3), CPU the generator's core (1).
#   Prints one JSON line per run and a table; exits 1 when a run failed (the generator
#   fails a run in which a frame was not sent), 77 when it cannot run here (not root).
set -euo pipefail
LG_BUILD=$(cd "${1:?usage: $0 BUILD_DIR [FRAMES_PER_DEVICE [RUNS [CPU]]]}" && pwd)
LG_SOURCE=$(cd "$(dirname "$0")/.." && pwd)
export LG_BUILD LG_SOURCE
FRAMES=${2:-25000}
RUNS=${3:-3}
CPU=${4:-1}
source "$LG_SOURCE/tests/e2e/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgtx$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
SRV_MAC=$(ip -n "$NS_SRV" -br link show lg0 | awk '{print $3}')

# one run: MODE (sendmmsg|afxdp) WHERE (nothing|linegate); a JSON line on stdout. Each run
# goes on from the sequences the last one used, so that linegate sees no replays.
SEQ=1
run() {
	local mode=$1 where=$2 args=(-S $LINE_IP)
	[ "$mode" = afxdp ] && args=(--tx afxdp:lg1 --dst-mac "$SRV_MAC")
	[ "$mode" = dpdk ] && args=(--tx "dpdk:vdev=net_af_packet0;iface=lg1,nohuge,mem=512"
		--dst-mac "$SRV_MAC")
	ip netns exec "$NS_LINE" taskset -c "$CPU" "$LG_BIN_GEN" -p "$T/policy.yaml" \
		-t $SRV_IP -n "$FRAMES" -r 0 --precompute --batch 64 --first-seq $SEQ -q \
		-j "$T/s.json" "${args[@]}" || lg_fail "$mode to $where: the generator failed"
	python3 - "$T/s.json" "$mode" "$where" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(json.dumps({"tx": sys.argv[2], "to": sys.argv[3], "sent": s["sent"],
                  "seconds": s["seconds"], "fps": round(s["sent"] / s["seconds"])}))
PY
}

MODES="sendmmsg afxdp"
if ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -n 1 -q \
	--dst-mac "$SRV_MAC" --tx "dpdk:vdev=net_null0,nohuge,mem=256" > "$T/probe" 2>&1; then
	MODES="$MODES dpdk"
else
	echo "note: no DPDK TX here: $(tail -1 "$T/probe")"
fi
: > "$T/runs.jsonl"
for where in nothing linegate; do
	if [ $where = linegate ]; then
		lg_start_linegate -w 1 -b uring
	fi
	for i in $(seq "$RUNS"); do
		for mode in $MODES; do
			run $mode $where | tee -a "$T/runs.jsonl"
			SEQ=$((SEQ + FRAMES))
		done
	done
	if [ $where = linegate ]; then
		lg_dp_stats "$T/m.json"
		python3 - "$T/m.json" "$T/runs.jsonl" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
sent = sum(json.loads(l)["sent"] for l in open(sys.argv[2]) if '"linegate"' in l)
print(f"linegate: {m['received']} of the {sent} frames sent to it received, "
      f"{m['admitted']} admitted, {m['drops'].get('socket_dropped', 0)} dropped at its socket "
      "(receive buffer full)")
PY
		lg_stop_linegate
	fi
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
python3 - "$T/runs.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
dpdk = any(r["tx"] == "dpdk" for r in runs)
print("| to | sendmmsg frames/s | AF_XDP TX frames/s | AF_XDP / sendmmsg (medians) |"
      + (" DPDK TX frames/s | DPDK / sendmmsg (medians) |" if dpdk else ""))
print("|---|---|---|---:|" + ("---|---:|" if dpdk else ""))
for to in ("nothing", "linegate"):
    f = {m: [r["fps"] for r in runs if r["to"] == to and r["tx"] == m]
         for m in ("sendmmsg", "afxdp", "dpdk")}
    fmt = lambda v: ", ".join(f"{x / 1000:.0f}k" for x in v)
    ratio = lambda m: statistics.median(f[m]) / statistics.median(f["sendmmsg"])
    print(f"| {to} | {fmt(f['sendmmsg'])} | {fmt(f['afxdp'])} | {ratio('afxdp'):.2f} |"
          + (f" {fmt(f['dpdk'])} | {ratio('dpdk'):.2f} |" if dpdk else ""))
PY
