#!/usr/bin/env bash
# Frames that come while no linegate reads them (a restart of the data plane) are counted
# (issue 10; trial s19 C M1: 676 of 88 600 frames in no counter). Pinned XDP in front of the
# workers; 8 devices send without a pause while linegate is stopped, left down for a second
# and started again (it takes the pinned instance over):
#   MODE afxdp [native|generic]  no AF_XDP socket on the queue: XDP counts each frame it lets
#                through as no_reader and drops it.
#   MODE uring   a linegate that stops (or has not bound its sockets yet) tells XDP so: it
#                counts what it would pass to the stack as no_reader and drops it too.
# WORKERS (fourth argument, default 1): workers, and RX queues on the veth.
# STOP (third argument) is the signal that stops the first linegate:
#   TERM (default) a plain stop: XDP stops handing frames over, the workers empty their
#                rings and sockets, then write their counters:
#                sent = sum of received over the two instances + xdp.no_reader, exactly, and
#                the kernel saw none of them (UdpNoPorts 0).
#   KILL         kill -9: its counters die with it, and so do the frames in its ring or
#                socket; with uring, XDP goes on passing to the stack, where the namespace's
#                UdpNoPorts counts them (nstat -az): only XDP's own identity is exact.
# LOAD (fifth argument): steady (default, 2000 frames a second) or overload (as fast as the
# generator goes, more than a worker takes: the socket or ring is full when the stop comes,
# and a plain stop must still read what XDP handed over; trial s20 I H1: uring lost 4 658-7 971
# frames queued in its socket, in no counter).
source "$(dirname "$0")/lib.sh"
lg_need_root
command -v nsenter >/dev/null || lg_skip "nsenter (util-linux) is not installed"
command -v nstat >/dev/null || lg_skip "nstat (iproute2) is not installed"
MODE=${1:-afxdp}
XMODE=${2:-generic}
STOP=${3:-TERM}
WORKERS=${4:-1} # workers (and RX queues): frames handed between workers during the drain
LOAD=${5:-steady}
case $LOAD in
steady) N=1500 GENARGS=(-r 2000) AT=3000 WAIT=10 ;;
overload) N=50000 GENARGS=(-r 0 --precompute) AT=60000 WAIT=40 ;; # 400 000 frames signed first
*) lg_fail "unknown load $LOAD (steady, overload)" ;;
esac
lg_bpffs
lg_tmp
LG_QUEUES=$WORKERS lg_netns_up "lgrg$$"
T=$LG_TMP
lg_pin_trap
lg_policy "$T/policy.yaml"
sed -i 's/^uadp_port: 4840/uadp_port: 0/' "$T/policy.yaml"
XSPEC=lg0
[ "$XMODE" = generic ] && XSPEC=lg0:generic
case $MODE in
afxdp) XARGS=(-x "$XSPEC" -b afxdp) ;;
uring) XARGS=(-x "$XSPEC" -B $SRV_IP) ;;
*) lg_fail "unknown mode $MODE (afxdp, uring)" ;;
esac
case $STOP in TERM | KILL) ;; *) lg_fail "unknown signal $STOP (TERM, KILL)" ;; esac
XARGS+=(-w "$WORKERS")

run_dp() { lg_dp_nsenter "$1" "Operation not supported\|Invalid argument"; }
# The kernel's UDP counters in the server namespace, absolute (no nstat history).
udp_ctrs() {
	ip netns exec "$NS_SRV" nstat -asz UdpNoPorts UdpRcvbufErrors UdpInErrors > "$1"
}
ctr() { awk -v k="$2" '$1 == k {print $2}' "$1"; }
received() { lg_dp_stats "$T/s.json" && lg_json "$T/s.json" "d['received']"; }

udp_ctrs "$T/udp0"
run_dp 1
grep -q "XDP: pinned in $PIN/lg0" "$T/dp1.err" || lg_fail "start line: $(cat "$T/dp1.err")"
# 8 devices x 1500 frames at 2000 a second: 6 s; the restart happens in the middle. Overload:
# 8 x 50 000 as fast as the generator goes.
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP -n $N \
	"${GENARGS[@]}" -q -j "$T/sent.json" > "$T/gen.out" 2>&1 &
GEN=$!
LG_PIDS="$DP $GEN"
lg_wait_for $WAIT bash -c "[ \"\$(python3 $LG_SOURCE/tests/e2e/lgsock.py $T/dp.sock '{\"cmd\": \"stats\"}' stats | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"received\"])')\" -ge $AT ]" ||
	lg_fail "linegate 1 received $(received) frames in $WAIT s"
kill -$STOP $DP
if [ "$STOP" = TERM ]; then
	wait $DP || lg_fail "linegate 1 exited with status $?"
else
	wait $DP 2>/dev/null || true
fi
[ -e "$PIN/lg0/link" ] || lg_fail "nothing pinned in $PIN/lg0 after the stop"
sleep 1
run_dp 2
grep -q "XDP: took over the instance pinned in $PIN/lg0" "$T/dp2.err" ||
	lg_fail "no takeover: $(cat "$T/dp2.err")"
# The start line says what was lost while no linegate read (afxdp, or uring after a stop).
if [ "$MODE" = afxdp ] || [ "$STOP" = TERM ]; then
	grep -qE "XDP: [1-9][0-9]* frames of enrolled devices came while no linegate read them" \
		"$T/dp2.err" || lg_fail "no no_reader line at the takeover: $(cat "$T/dp2.err")"
fi
wait $GEN || lg_fail "the generator failed: $(cat "$T/gen.out")"
LG_PIDS="$DP"
sent=$(lg_json "$T/sent.json" "d['enrolled']")
[ "$sent" = $((8 * N)) ] || lg_fail "the generator sent $sent enrolled frames, want $((8 * N))"
# Every frame judged: XDP's own identity (its counters span both runs).
lg_wait_for 10 lg_dp_holds "$T/dp.sock" \
	"s['xdp']['admitted'] + s['xdp']['no_reader'] == $sent" ||
	lg_fail "XDP judged $(lg_dp_stats "$T/s.json"; lg_json "$T/s.json" "d['xdp']")"
sleep 0.5
kill -INT $DP
wait $DP || lg_fail "linegate 2 exited with status $?"
LG_PIDS=""
udp_ctrs "$T/udp1"
[ -e "$PIN/lg0/link" ] || lg_fail "the pins went with a clean stop"
# Started without --xdp on sockets while the pinned program is still attached, linegate says
# so (trial s19 G: what an afxdp run left dropped everything a uring start then waited for).
nsenter --net=/var/run/netns/$NS_SRV "$LG_BIN_DP" -p "$T/policy.yaml" -b uring -B $SRV_IP \
	-c "$T/w.sock" -o /dev/null 2> "$T/w.err" &
W=$!
LG_PIDS="$W"
lg_wait_for 10 test -S "$T/w.sock" || lg_fail "linegate without --xdp did not start: $(cat "$T/w.err")"
kill -INT $W
wait $W || true
LG_PIDS=""
grep -q "WARNING: lg0 runs linegate's XDP admission program (id [0-9]*), left attached" \
	"$T/w.err" || lg_fail "no warning of the pinned program: $(cat "$T/w.err")"

python3 - "$MODE" "$STOP" "$sent" "$T/stats1.json" "$T/stats2.json" \
	"$(($(ctr "$T/udp1" UdpNoPorts) - $(ctr "$T/udp0" UdpNoPorts)))" \
	"$(($(ctr "$T/udp1" UdpRcvbufErrors) - $(ctr "$T/udp0" UdpRcvbufErrors)))" <<'PY'
import json, os, sys
from lgcheck import check, done
mode, stop, sent, f1, f2 = sys.argv[1:6]
sent, noports, rcvbuf = int(sent), int(sys.argv[6]), int(sys.argv[7])
st2 = json.load(open(f2))
x = st2["xdp"]
r1 = json.load(open(f1))["received"] if os.path.exists(f1) else None
r2 = st2["received"]
print(f"{mode} {stop}: the first instance's drops",
      {k: v for k, v in json.load(open(f1)).get("drops", {}).items() if v} if os.path.exists(f1) else None)
print(f"{mode} {stop}: sent {sent}, received {r1} + {r2}, xdp admitted {x['admitted']} "
      f"no_reader {x['no_reader']}, UdpNoPorts {noports}, UdpRcvbufErrors {rcvbuf}")
check("XDP: admitted + no_reader = sent", x["admitted"] + x["no_reader"], sent)
check("no frame of ours judged otherwise by XDP",
      sum(v for k, v in x.items() if isinstance(v, int) and k not in ("admitted", "no_reader", "not_ours")), 0)
lost = x["no_reader"] + noports
if mode == "afxdp" or stop == "TERM":
    check("frames came while nobody read them: no_reader > 0", x["no_reader"] > 0, True)
    check("none reached the kernel's stack (UdpNoPorts)", noports, 0)
else:
    check("uring, kill -9: frames went to the stack with no socket (UdpNoPorts > 0)",
          noports > 0, True)
if stop == "TERM":
    check("sent = received (both instances) + xdp no_reader + UdpNoPorts",
          r1 + r2 + lost, sent)
    check("what XDP admitted, the workers received", r1 + r2, x["admitted"])
else:
    # kill -9: the first instance's counters are gone; the second received what XDP admitted
    # after it bound its socket, at most what XDP admitted in all.
    check("kill -9: the second instance received at most what XDP admitted",
          0 < r2 <= x["admitted"], True)
done()
PY
echo PASS
