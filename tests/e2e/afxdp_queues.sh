#!/usr/bin/env bash
# AF_XDP with a two-queue veth. One worker: linegate refuses to start (what XDP admitted on
# the queue without a socket would go to the kernel, where nobody listens) and says how to
# fix it, also under nsenter --net (the host's /sys); three workers: refused (a queue that
# is not there). Two workers: every queue has its socket; each device's frames are judged by its
# owner whichever queue they arrive on (handed over when needed), so resending every frame
# from new source ports admits none twice, and received = admitted + dropped exactly.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
LG_QUEUES=2 lg_netns_up "lgaq$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"

if ip netns exec "$NS_SRV" "$LG_BIN_DP" -p "$T/policy.yaml" -B $SRV_IP -x lg0:generic \
	-b afxdp -w 1 -o /dev/null 2> "$T/one.err"; then
	lg_fail "one worker on a two-queue interface started"
fi
grep -q "lg0 has 2 RX queues and linegate 1 worker(s).*--workers 2" "$T/one.err" ||
	lg_fail "the refusal does not say why: $(cat "$T/one.err")"

# The same under nsenter --net (trial s19 B H1), which keeps the host's /sys: the queues are
# counted in linegate's own namespace, not under /sys/class/net, where lg0 is not.
if nsenter --net=/run/netns/"$NS_SRV" "$LG_BIN_DP" -p "$T/policy.yaml" -B $SRV_IP \
	-x lg0:generic -b afxdp -w 1 -o /dev/null 2> "$T/nsenter.err"; then
	lg_fail "one worker on a two-queue interface started under nsenter --net"
fi
grep -q "lg0 has 2 RX queues and linegate 1 worker(s).*--workers 2" "$T/nsenter.err" ||
	lg_fail "under nsenter --net, the refusal does not say why: $(cat "$T/nsenter.err")"

# More workers than queues: worker 2 would read a queue lg0 does not have.
if ip netns exec "$NS_SRV" "$LG_BIN_DP" -p "$T/policy.yaml" -B $SRV_IP -x lg0:generic \
	-b afxdp -w 3 -o /dev/null 2> "$T/three.err"; then
	lg_fail "three workers on a two-queue interface started"
fi
grep -q "lg0 has 2 RX queue(s) and linegate 3 workers: worker 2 reads RX queue 2.*--workers 2" \
	"$T/three.err" || lg_fail "three workers refused without saying why: $(cat "$T/three.err")"

if ip netns exec "$NS_SRV" "$LG_BIN_DP" -p "$T/policy.yaml" -B $SRV_IP -x lg0:generic \
	-b afxdp:frames=1000 -w 2 -o /dev/null 2> "$T/frames.err"; then
	lg_fail "frames=1000 (not a power of two) was accepted"
fi
grep -q "frames=N: a power of two" "$T/frames.err" ||
	lg_fail "frames=1000 refused without saying why: $(cat "$T/frames.err")"

# Without frames=N: the default UMEM, 8192 frames (32 MiB) a worker, said at start.
ip netns exec "$NS_SRV" "$LG_BIN_DP" -p "$T/policy.yaml" -B $SRV_IP -c "$T/def.sock" \
	-o /dev/null -x lg0:generic -b afxdp -w 2 2> "$T/def.err" &
DP_PID=$!
LG_PIDS="$DP_PID"
lg_wait_for 5 test -S "$T/def.sock" || { cat "$T/def.err"; lg_fail "linegate did not start"; }
[ "$(grep -c 'afxdp backend, lg0 queue [01], copy mode, 8192 frames of 4096 bytes (32 MiB of UMEM)' \
	"$T/def.err")" = 2 ] || lg_fail "the default UMEM is not 8192 frames: $(cat "$T/def.err")"
# each worker says its interface and queue (s24: they did not)
grep -q '^linegate: worker 0: afxdp backend, lg0 queue 0, ' "$T/def.err" &&
	grep -q '^linegate: worker 1: afxdp backend, lg0 queue 1, ' "$T/def.err" ||
	lg_fail "the workers' queues are not said: $(cat "$T/def.err")"
lg_stop_linegate

ip netns exec "$NS_SRV" "$LG_BIN_DP" -p "$T/policy.yaml" -B $SRV_IP -c "$T/dp.sock" \
	-o "$T/out.jsonl" -s "$T/stats.json" -x lg0:generic -b afxdp:busy_poll=20,frames=4096 -w 2 \
	2> "$T/dp.err" &
DP_PID=$!
LG_PIDS="$DP_PID"
lg_wait_for 5 test -S "$T/dp.sock" || { cat "$T/dp.err"; lg_fail "linegate did not start"; }
[ "$(grep -c 'afxdp backend, lg0 queue [01], copy mode, 4096 frames of 4096 bytes (16 MiB of UMEM).*busy poll 20 us' \
	"$T/dp.err")" = 2 ] ||
	lg_fail "workers do not report copy mode, frames=4096 (16 MiB) and busy_poll=20: $(cat "$T/dp.err")"

# Several sender sockets (each run its own), so the frames use both TX queues of lg1 and
# so both RX queues of lg0; every run after the first resends the same frames.
for i in 1 2 3 4; do
	ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP \
		-n 40 -r 4000 -s 3 -q -j "$T/s$i.json"
done
sent=$(python3 -c "import json,sys; print(sum(json.load(open(f))['sent'] for f in sys.argv[1:]))" \
	"$T"/s[1-4].json)
got_all() { lg_dp_stats "$T/m.json" && [ "$(lg_json "$T/m.json" "d['received']")" = "$sent" ]; }
lg_wait_for 10 got_all || lg_fail "received $(lg_json "$T/m.json" "d['received']") of $sent"
lg_stop_linegate

python3 - "$T/stats.json" "$T"/s1.json "$T"/s2.json "$T"/s3.json "$T"/s4.json <<'PY'
import json, sys
st = json.load(open(sys.argv[1]))
runs = [json.load(open(f)) for f in sys.argv[2:]]
from lgcheck import check, done
check("received", st["received"], sum(r["sent"] for r in runs))
check("received = admitted + dropped", st["admitted"] + st["dropped"], st["received"])
check("admitted: the first run's frames, once", st["admitted"], runs[0]["enrolled"])
check("replayed: every resent frame", st["drops"]["replayed"], sum(r["enrolled"] for r in runs[1:]))
check("two workers reported", len(st["workers"]), 2)
check("what the workers judged adds up", sum(w["judged"] for w in st["workers"]), st["received"])
print("per worker:", [(w["id"], w["judged"], w["handed_off"]) for w in st["workers"]])
done()
PY
