#!/usr/bin/env bash
# rx_compare.sh: linegate's receive path against a plain recvmmsg receiver, in one
# invocation, with the same generator on the same veth pair (docs/benchmarks.md, "Receive
# path"). Root; it makes its own network namespaces and removes them on exit.
usage() {
	cat <<'EOF'
Usage: rx_compare.sh [options]

Runs each receiver in a server namespace behind a veth pair, with linegate-loadgen
(sendmmsg, --precompute) in a line namespace offering a ladder of rates, and reports per
receiver and rate: frames sent, received, loss, CPU per received frame (the receiver's
utime+stime delta from /proc/PID/stat over the run, also the tasks' schedstat run time),
and the zero-loss rate (highest offered rate with loss 0). pipeline_bench (the worker path
and the output stage, without I/O) runs in the same invocation, and the goal figures are
computed from it:
  cpu_ratio     (linegate CPU/frame - (worker path + output stage)) / baseline CPU/frame
                                                                          (goal <= 1.2)
  cpu_ratio_worker_path_only
                (linegate CPU/frame - worker path) / baseline CPU/frame: the definition
                before 2026-12-07, printed beside it
  zero_loss     linegate zero-loss rate / (0.8 / (worker path + baseline CPU/frame))
                                                                          (goal >= 1)
  scaling       two workers' zero-loss rate / one worker's               (goal >= 1.8)
What cpu_ratio subtracts: linegate's CPU/frame is all its threads (the worker, the output
thread that writes a JSON line per scored window, the main thread), so the receive cost
is what is left after pipeline_bench's path_ns: the worker path (frame_ns: verify,
decode, window, features, score, publish onto the rings) plus the output stage
(output_ns: the output thread's own drain formatting and writing those lines, to
/dev/null). Not subtracted, so counted as receive cost: the I/O itself, the output
thread's waking and sleeping, the main thread, the output's write(2) into a real file
rather than /dev/null, and its events' cache misses (the bench drains them at once). Until 2026-12-07 only frame_ns was subtracted, which counted
the JSON lines as receiving; that figure stays as cpu_ratio_worker_path_only (and in
each pair). A pipeline_bench without output_ns (an older build): both are the same.
The receiver runs on CPU 0 (two workers: CPUs 0-1), the generator on CPU 1.
cpu_ratio is judged at the highest rate where linegate and the baseline were both
loss-free, as the median of K pairs of steps at that rate (--pairs): one pair of one-second
steps moved it from 0.86 to 1.24 between two runs of the same code on an idle machine.
Where a one-worker receiver's last loss-free step is below zero_loss's goal rate and no
step of the ladder lies between that rate and 1.1x it, one more step runs at the goal rate
itself (this run's figures, rounded up to 1000/s), so the goal is judged there and not by
a lossy step far above it.

Receivers (--receivers, comma-separated; default all but afxdp-generic):
  none            nothing listens: the generator's own maximum on the veth (one
                  sender thread on CPU 1, as in every other step)
  none-2t         the same with --threads 2 on both CPUs: the generator's maximum
                  on this machine (the goal "generator >= 2x what one worker
                  absorbs" takes the higher of the two)
  baseline        build/bench/recvmmsg_baseline
  uring-1w        linegate --backend uring, 1 worker
  afxdp-1w        linegate --backend afxdp --xdp lg0 (native XDP on the veth), 1 worker
  afxdp-generic-1w  the same with --xdp lg0:generic
  uring-2w        linegate --backend uring, 2 workers

Options:
  -b, --build DIR      meson build folder (default: build beside this script's tree)
  -o, --out FILE       write the results as JSON here (default: none)
  -r, --rates LIST     offered rates in frames/s, comma-separated, 0 = as fast as the
                       generator goes (default 50000,100000,200000,300000,400000,0)
  -t, --seconds S      seconds of traffic per step (default 1.5)
  -R, --receivers LIST see above
  -d, --devices N      enrolled devices in the generated policy (default 16)
  -q, --quick          rates 50000,0 for 0.3 s each (under a minute)
  -A, --afxdp-opts O   the afxdp receivers' backend options (--backend afxdp:O), e.g.
                       frames=4096 (default: none, the backend's defaults)
  -U, --uring-opts O   the uring receivers' backend options (--backend uring:O), e.g.
                       taskrun=coop (default: none, the backend's defaults)
  -P, --perf DIR       also record each linegate step with perf record -g -e cpu-clock
                       (DIR/RECEIVER-RATE.data; perf report --comms lg-worker-0 ...);
                       its CPU figures then include perf's own cost
  -k, --keep DIR       keep each linegate step's final stats (DIR/RECEIVER-RATE.stats.json)
  -m, --pairs K        the CPU ratio from K pairs of steps at the judged rate (default 5;
                       1 with --quick): the ladder's own pair, then K-1 more, each a
                       pipeline_bench run and the linegate and baseline steps in turns
                       (linegate first in the 2nd pair, the baseline first in the 3rd, ...);
                       cpu_ratio is the median over the loss-free pairs, with the lowest
                       and highest beside it
  -n, --nice N         run the receiver and the generator at this nice value (default 0;
                       a negative one keeps other tenants' work on these CPUs from
                       deciding the result)
  -c, --check          exit 1 unless every step's counts add up: the generator sent what
                       it was asked, the baseline counted frames, and linegate accounted
                       for every frame (received = admitted + dropped = sent less what the
                       generator's veth end dropped, before any XDP program), the pairs'
                       steps included, and every judged receiver has its K pairs. Not
                       timing.
  -h, --help           this text
EOF
}

set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
BUILD="$SRC/build"
OUT=""
RATES="50000,100000,200000,300000,400000,0"
SECS=1.5
RECEIVERS="none,none-2t,baseline,uring-1w,afxdp-1w,uring-2w"
NDEV=16
CHECK=0
NICE=0
AFXDP_OPTS=""
URING_OPTS=""
PERF_DIR=""
KEEP_DIR=""
PAIRS=5
PAIRS_SET=0
NSTART=0
MAXGUESS=600000   # frames/s the generator is given for a rate-0 step

ARGS="$*"
while [ $# -gt 0 ]; do
	case "$1" in
	-b|--build) BUILD=$2; shift 2 ;;
	-o|--out) OUT=$2; shift 2 ;;
	-r|--rates) RATES=$2; shift 2 ;;
	-t|--seconds) SECS=$2; shift 2 ;;
	-R|--receivers) RECEIVERS=$2; shift 2 ;;
	-d|--devices) NDEV=$2; shift 2 ;;
	-q|--quick) RATES="50000,0"; SECS=0.3; QUICK=1; shift ;;
	-n|--nice) NICE=$2; shift 2 ;;
	-A|--afxdp-opts) AFXDP_OPTS=$2; shift 2 ;;
	-U|--uring-opts) URING_OPTS=$2; shift 2 ;;
	-P|--perf) PERF_DIR=$2; shift 2 ;;
	-k|--keep) KEEP_DIR=$2; shift 2 ;;
	-m|--pairs) PAIRS=$2; PAIRS_SET=1; shift 2 ;;
	-c|--check) CHECK=1; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "rx_compare.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
done
BUILD=$(cd "$BUILD" && pwd)
[ "${QUICK:-0}" = 1 ] && [ "$PAIRS_SET" = 0 ] && PAIRS=1
case "$PAIRS" in ''|*[!0-9]*|0) echo "rx_compare.sh: --pairs wants a whole number from 1" >&2; exit 2 ;; esac
export LG_BUILD=$BUILD LG_SOURCE=$SRC
source "$SRC/tests/e2e/lib.sh"
lg_need_root
command -v ethtool >/dev/null || lg_skip "ethtool is not installed"
BASE_BIN="$BUILD/bench/recvmmsg_baseline"
PIPE_BIN="$BUILD/bench/pipeline_bench"
for b in "$LG_BIN_DP" "$LG_BIN_GEN" "$BASE_BIN" "$PIPE_BIN"; do
	[ -x "$b" ] || { echo "rx_compare.sh: $b is missing (ninja -C $BUILD)" >&2; exit 1; }
done
lg_tmp
T=$LG_TMP
lg_netns_up "lgrx$$"
CLK_TCK=$(getconf CLK_TCK)
# The system python starts in a tenth of the time a pyenv shim takes; both do.
PY=$(command -v /usr/bin/python3 || command -v python3)

# A policy with NDEV devices on the line's address (deterministic demo keys in key files of
# mode 0600 beside it), the default model, no rate limit, no UADP port.
mkdir -m 700 -p "$T/keys"
"$PY" - "$SRC/control/defaults/policy.yaml" "$SRC/control/defaults/model.json" "$NDEV" \
	"$LINE_IP" "$T/keys" > "$T/policy.yaml" <<'PY'
import hashlib, os, sys
src, model, n, ip, kdir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
out = []
for line in open(src):
    if line.startswith('devices:'):
        break
    if line.startswith('  model:'):
        line = f'  model: {model}\n'
    if line.startswith('uadp_port:'):
        line = 'uadp_port: 0\n'
    if line.startswith('  registry:'):
        continue
    out.append(line)
out.append('devices:\n')
for i in range(n):
    key = hashlib.sha256(f'rx-bench-device-{i}'.encode()).hexdigest()
    fd = os.open(os.path.join(kdir, f'rx-{i}.key'), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, (key + '\n').encode())
    os.close(fd)
    out += [f'  - id: {201 + i}\n', f'    name: rx-{i}\n', f'    source: {ip}\n',
            f'    keys:\n', f'      - {{id: 1, key_file: keys/rx-{i}.key}}\n']
sys.stdout.write(''.join(out))
PY
# How the reuseport selector (lg_steer_lgf) splits these devices over two workers.
SPLIT=$("$PY" -c "
n=int('$NDEV'); w=[0,0]
for i in range(n): w[((((201 + i) * 0x9E3779B1) & 0xffffffff) >> 16) % 2] += 1
print('%d/%d' % tuple(w))")

echo "rx_compare: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "rx_compare: rates $RATES, $SECS s a step, $PAIRS pair(s) for the CPU ratio, $NDEV devices (2 workers: $SPLIT), nice $NICE, receivers $RECEIVERS${AFXDP_OPTS:+, afxdp options $AFXDP_OPTS}${URING_OPTS:+, uring options $URING_OPTS}" >&2

# The worker path and the output stage without I/O, same invocation.
LG_SOURCE=$SRC nice -n "$NICE" taskset -c 0 "$PIPE_BIN" | head -1 > "$T/pipeline.json"
echo "rx_compare: pipeline_bench: $(cat "$T/pipeline.json")" >&2

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sched_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%d\n", s}'; }
thread_ticks() { # NAME=TICKS for every task of PID
	local t
	for t in /proc/"$1"/task/*; do
		echo "$(cat "$t/comm" 2>/dev/null)=$(awk '{print $14 + $15}' "$t/stat" 2>/dev/null)"
	done | tr '\n' ' '
}
# The veth pair's own drops, "TX RX": the generator's end (frames it could not hand to the
# receiving end: its ring full with native XDP at overload) and the receiving end's (which
# also counts frames XDP or AF_XDP dropped, and linegate with them).
veth_drops() {
	echo "$(ip netns exec "$NS_LINE" cat /sys/class/net/lg1/statistics/tx_dropped) $(
		ip netns exec "$NS_SRV" cat /sys/class/net/lg0/statistics/rx_dropped)"
}
recv_q() { # bytes waiting in the server's UDP sockets on the policy port
	ip netns exec "$NS_SRV" ss -Hnu state all "sport = :4739" | awk '{s += $2} END {print s + 0}'
}

# start_receiver NAME: sets RPID (and queues/XDP for afxdp)
start_receiver() {
	rm -f "$T/dp.sock" "$T/stats.json" "$T/base.json"
	case "$1" in
	none|none-2t) RPID="" ;;
	baseline)
		ip netns exec "$NS_SRV" nice -n "$NICE" taskset -c 0 "$BASE_BIN" -B $SRV_IP -j "$T/base.json" \
			2> "$T/recv.err" &
		RPID=$!
		lg_wait_for 5 grep -q READY "$T/recv.err" || lg_fail "baseline did not start"
		;;
	uring-1w|uring-2w|afxdp-1w|afxdp-generic-1w)
		local cpus=0 args=(-b "uring${URING_OPTS:+:$URING_OPTS}" -w 1)
		case "$1" in
		uring-2w) cpus=0,1; args=(-b "uring${URING_OPTS:+:$URING_OPTS}" -w 2) ;;
		afxdp-1w) args=(-b "afxdp${AFXDP_OPTS:+:$AFXDP_OPTS}" -w 1 -x lg0) ;;
		afxdp-generic-1w) args=(-b "afxdp${AFXDP_OPTS:+:$AFXDP_OPTS}" -w 1 -x lg0:generic) ;;
		esac
		# A state folder of its own each time: the replay marks of the last step would
		# make this one's frames (the same sequences again) replays.
		NSTART=$((NSTART + 1))
		ip netns exec "$NS_SRV" nice -n "$NICE" taskset -c $cpus "$LG_BIN_DP" -p "$T/policy.yaml" -B $SRV_IP \
			-c "$T/dp.sock" -o /dev/null -s "$T/stats.json" --state-dir "$T/state.$NSTART" \
			"${args[@]}" 2> "$T/recv.err" &
		RPID=$!
		# Its workers run once it says so (the control socket comes earlier).
		lg_wait_for 10 grep -q "worker(s), .* backend, LGF on UDP port" "$T/recv.err" ||
			{ cat "$T/recv.err" >&2; lg_fail "linegate $1 did not start"; }
		;;
	*) echo "rx_compare.sh: unknown receiver '$1'" >&2; exit 2 ;;
	esac
	LG_PIDS="${RPID}"
}

# step RECEIVER RATE [PAIR [WITH]]: one run; appends a JSON line to $T/steps.jsonl, or with
# PAIR (a further pair at the judged rate, 2..K; WITH: the receiver a baseline step is
# paired with) to $T/pairs.jsonl
step() {
	local recv=$1 rate=$2 pair=${3:-} with=${4:-} n per cpu0 cpu1 s0 s1 th0 th1 prev cur i gcpus=1 gthreads=1 vd0 vd1
	per=$rate; [ "$rate" = 0 ] && per=$MAXGUESS
	# The generator's own maximum with a sender thread on each CPU (nothing else runs).
	[ "$recv" = none-2t ] && { gcpus=0,1; gthreads=2; per=$((2 * MAXGUESS)); }
	n=$(awk -v r="$per" -v s="$SECS" -v d="$NDEV" 'BEGIN {n = int(r * s / d); print n < 1 ? 1 : n}')
	start_receiver "$recv"
	# A new file: the last step's 'loadgen: ready' must not start this one's clock (its
	# SIGUSR1 then came before the new generator blocked it, and killed it).
	rm -f "$T/gen.err"
	vd0=$(veth_drops)
	ip netns exec "$NS_LINE" nice -n "$NICE" taskset -c $gcpus "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP \
		-S $LINE_IP -n "$n" -r "$rate" --threads $gthreads --precompute --hold -j "$T/sent.json" \
		2> "$T/gen.err" &
	local gpid=$!
	# The frames are built: measure from here, then let it go.
	lg_wait_for 60 grep -q "loadgen: ready" "$T/gen.err" || lg_fail "loadgen did not start: $(cat "$T/gen.err")"
	if [ -n "$RPID" ]; then cpu0=$(cpu_ticks $RPID); s0=$(sched_ns $RPID); th0=$(thread_ticks $RPID); fi
	local ppid=""
	if [ -n "$PERF_DIR" ] && [ -n "$RPID" ]; then
		mkdir -p "$PERF_DIR"
		perf record -q -g -e cpu-clock -p $RPID -o "$PERF_DIR/$recv-${rate}${pair:+-pair$pair}${with:+-$with}.data" \
			2> "$T/perf.err" &
		ppid=$!
		sleep 0.3
	fi
	kill -USR1 $gpid
	wait $gpid || lg_fail "loadgen failed: $(cat "$T/gen.err")"
	if [ -n "$ppid" ]; then kill -INT $ppid; wait $ppid || true; fi
	# Drained: nothing waits in the socket and the receiver is idle (under 3 ms of CPU in
	# 100 ms), at most 5 s.
	if [ -n "$RPID" ]; then
		prev=$(sched_ns $RPID)
		for i in $(seq 1 50); do
			sleep 0.1
			cur=$(sched_ns $RPID)
			[ "$(recv_q)" = 0 ] && [ $((cur - prev)) -lt 3000000 ] && break
			prev=$cur
		done
		cpu1=$(cpu_ticks $RPID); s1=$(sched_ns $RPID); th1=$(thread_ticks $RPID)
		vd1=$(veth_drops)
		kill -INT $RPID
		wait $RPID || lg_fail "$recv exited with status $?: $(tail -3 "$T/recv.err")"
	else
		cpu0=0; cpu1=0; s0=0; s1=0; th0=""; th1=""; vd1=$(veth_drops)
	fi
	LG_PIDS=""
	if [ -n "$KEEP_DIR" ] && [ -f "$T/stats.json" ]; then
		mkdir -p "$KEEP_DIR"
		cp "$T/stats.json" "$KEEP_DIR/$recv-$rate${pair:+-pair$pair}.stats.json"
		cp "$T/recv.err" "$KEEP_DIR/$recv-$rate${pair:+-pair$pair}.err"
	fi
	"$PY" - "$recv" "$rate" "$T/sent.json" "$T/base.json" "$T/stats.json" \
		"$(( (cpu1 - cpu0) ))" "$CLK_TCK" "$(( s1 - s0 ))" "$th0" "$th1" "$pair" "$with" \
		"$vd0" "$vd1" >> "$T/$([ -n "$pair" ] && echo pairs || echo steps).jsonl" <<'PY'
import json, os, sys
recv, rate, sentf, basef, statsf = sys.argv[1:6]
ticks, hz, sched_ns = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
th0, th1 = sys.argv[9], sys.argv[10]
sent = json.load(open(sentf))
r = {'receiver': recv, 'target_rate': int(rate), 'sent': sent['sent'],
     'gen_seconds': sent['seconds'], 'offered_rate': sent['sent'] / sent['seconds']}
if sys.argv[11]:
    r['pair'] = int(sys.argv[11])
if sys.argv[12]:
    r['paired_with'] = sys.argv[12]
# frames the veth pair itself dropped (TX of the generator's end, RX of the receiver's)
v0, v1 = [int(x) for x in sys.argv[13].split()], [int(x) for x in sys.argv[14].split()]
r['veth_dropped'] = {'tx': v1[0] - v0[0], 'rx': v1[1] - v0[1]}
# The generator does not always reach a step's rate on a busy machine: such a step says
# nothing about the rate it was meant to test (SHORT below 97 %; a rate-0 step has none).
r['rate_reached'] = not r['target_rate'] or r['offered_rate'] >= 0.97 * r['target_rate']
if recv == 'baseline':
    b = json.load(open(basef))
    r.update(received=b['frames'], judged=b['frames'], socket_drops=b['socket_drops'],
             self_cpu_ns_per_frame=b['cpu_ns_per_frame'])
elif not recv.startswith('none'):
    st = json.load(open(statsf))
    r.update(received=st['admitted'], judged=st['received'] - st['backend_dropped'],
             accounted=st['received'], dropped=st['dropped'],
             drops={k: v for k, v in st['drops'].items() if v}, scored=st['scored'],
             output_ring_full_scores=st['output_ring_full_scores'])
    if 'output' in st:  # the output thread's sleeps and wake-ups (builds from 12-05 on)
        r['output_wake'] = st['output']
    if 'xdp' in st:
        r['xdp'] = {k: v for k, v in st['xdp'].items() if v}
    # afxdp: the most frames found waiting in each worker's RX ring, of its size (12-06 on)
    ring = [(w['rx_ring_high'], w['rx_ring_size']) for w in st.get('workers', [])
            if 'rx_ring_size' in w]
    if ring:
        r['rx_ring_high'] = ring
if not recv.startswith('none'):
    r['loss'] = r['sent'] - r['received']
    r['cpu_s'] = ticks / hz
    r['sched_cpu_s'] = sched_ns / 1e9
    r['cpu_ns_per_frame'] = ticks / hz * 1e9 / r['judged'] if r['judged'] else None
    r['sched_ns_per_frame'] = sched_ns / r['judged'] if r['judged'] else None
    # Per thread name, over the run (threads of the same name added up).
    def split(t):
        d = {}
        for kv in t.split():
            k, _, v = kv.rpartition('=')
            if v:
                d[k] = d.get(k, 0) + int(v)
        return d
    a, b = split(th0), split(th1)
    r['thread_cpu_s'] = {k: (b[k] - a.get(k, 0)) / hz for k in b}
print(json.dumps(r))
cpu = r.get('cpu_ns_per_frame')
print('rx_compare: %-16s %7s/s%s offered %8.0f/s%s sent %8d received %8s loss %8s cpu %s ns/frame' % (
    r['receiver'], r['target_rate'] or 'max', ' (pair %d)' % r['pair'] if 'pair' in r else '',
    r['offered_rate'],
    '' if r['rate_reached'] else ' (SHORT)', r['sent'], r.get('received', '-'),
    r.get('loss', '-'), '%.0f' % cpu if cpu else '-'), file=sys.stderr)
PY
}

: > "$T/steps.jsonl"
IFS=, read -ra RECV_LIST <<< "$RECEIVERS"
IFS=, read -ra RATE_LIST <<< "$RATES"
for recv in "${RECV_LIST[@]}"; do
	for rate in "${RATE_LIST[@]}"; do
		case "$recv" in none|none-2t) [ "$rate" != 0 ] && continue ;; esac
		step "$recv" "$rate"
	done
done

# The CPU ratio's further pairs (--pairs): at each one-worker receiver's judged rate (the
# highest where it and the baseline were both loss-free in the ladder), pipeline_bench, then
# linegate and the baseline in turns, so that drift in what else runs on the machine falls
# on both sides alike.
: > "$T/pairs.jsonl"
: > "$T/pipelines.jsonl"
if [ "$PAIRS" -gt 1 ]; then
	"$PY" - "$T/steps.jsonl" > "$T/judged.txt" <<'PY'
import json, sys
steps = [json.loads(l) for l in open(sys.argv[1])]
base = {s['target_rate']: s for s in steps if s['receiver'] == 'baseline'}
for name in ('uring-1w', 'afxdp-1w', 'afxdp-generic-1w'):
    ok = [s for s in steps if s['receiver'] == name and s.get('loss') == 0 and s['cpu_ns_per_frame']
          and s['target_rate'] in base and base[s['target_rate']].get('loss') == 0
          and base[s['target_rate']]['cpu_ns_per_frame']]
    if ok:
        print(name, max(ok, key=lambda s: s['offered_rate'])['target_rate'])
PY
	while read -r recv rate; do
		for k in $(seq 2 "$PAIRS"); do
			LG_SOURCE=$SRC nice -n "$NICE" taskset -c 0 "$PIPE_BIN" | head -1 |
				sed "s/^{/{\"receiver\":\"$recv\",\"pair\":$k,/" >> "$T/pipelines.jsonl"
			if [ $((k % 2)) = 0 ]; then
				step "$recv" "$rate" "$k"; step baseline "$rate" "$k" "$recv"
			else
				step baseline "$rate" "$k" "$recv"; step "$recv" "$rate" "$k"
			fi
		done
	done < "$T/judged.txt"
fi

# The zero-loss goal's own rate, tried: 80 % of 1 / (worker path + the baseline's CPU per
# frame at the judged rate), both from this run. A ladder with no step between linegate's
# last loss-free rate and that rate (300k, then the generator's maximum) would judge the goal
# by a lossy step far above it; one more step at the goal rate says whether linegate is
# loss-free there.
"$PY" - "$T/steps.jsonl" "$T/pipeline.json" > "$T/probe.txt" <<'PY'
import json, math, sys
steps = [json.loads(l) for l in open(sys.argv[1])]
path = json.load(open(sys.argv[2]))['frame_ns']
base = {s['target_rate']: s for s in steps if s['receiver'] == 'baseline'}
for name in ('uring-1w', 'afxdp-1w', 'afxdp-generic-1w'):
    rs = [s for s in steps if s['receiver'] == name]
    both = [s for s in rs if s.get('loss') == 0 and s['cpu_ns_per_frame']
            and s['target_rate'] in base and base[s['target_rate']].get('loss') == 0
            and base[s['target_rate']]['cpu_ns_per_frame']]
    if not both:
        continue
    b = base[max(both, key=lambda s: s['offered_rate'])['target_rate']]
    goal = 0.8 / ((path + b['cpu_ns_per_frame']) * 1e-9)
    zl = max([s['offered_rate'] for s in rs if s.get('loss') == 0] or [0])
    near = any(s['target_rate'] and goal <= s['target_rate'] <= 1.1 * goal for s in rs)
    if zl < goal and not near:
        print(name, int(math.ceil(goal / 1000.0)) * 1000)
PY
while read -r recv rate; do
	echo "rx_compare: $recv: a step at the zero-loss goal's rate, $rate/s" >&2
	step "$recv" "$rate"
done < "$T/probe.txt"

"$PY" - "$T/steps.jsonl" "$T/pipeline.json" "$CHECK" "$OUT" "$SPLIT" "$SECS" "$NICE" \
	"$ARGS" "$T/pairs.jsonl" "$T/pipelines.jsonl" "$PAIRS" <<'PY'
import json, platform, statistics, sys, time
steps = [json.loads(l) for l in open(sys.argv[1])]
pipe = json.load(open(sys.argv[2]))
pair_steps = [json.loads(l) for l in open(sys.argv[9])]
pair_pipes = [json.loads(l) for l in open(sys.argv[10])]
npairs = int(sys.argv[11])
check, out, split, secs = sys.argv[3] == '1', sys.argv[4], sys.argv[5], float(sys.argv[6])
nice, args = int(sys.argv[7]), sys.argv[8]
cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), '?')
by = {}
for s in steps:
    by.setdefault(s['receiver'], []).append(s)

def zero_loss(rs):
    ok = [s['offered_rate'] for s in rs if s.get('loss') == 0]
    return max(ok) if ok else 0.0

def zero_loss_step(rs):
    ok = [s for s in rs if s.get('loss') == 0]
    return max(ok, key=lambda s: s['offered_rate']) if ok else None

def short(s):  # steps of builds before 12-06 have no flag
    return not s.get('rate_reached', True)

summary = {}
for name, rs in by.items():
    if name.startswith('none'):
        summary[name] = {'generator_max_rate': max(s['offered_rate'] for s in rs)}
        continue
    mx = max(rs, key=lambda s: s['offered_rate'])
    zl = zero_loss(rs)
    summary[name] = {
        'zero_loss_rate': zl,
        # the step it came from, and whether the generator reached that step's rate
        'zero_loss_step': (zero_loss_step(rs) or {}).get('target_rate'),
        'zero_loss_step_short': short(zero_loss_step(rs) or {}),
        # steps whose rate the generator did not reach (each is a lower rate than named)
        'short_steps': [{'target_rate': s['target_rate'], 'offered_rate': s['offered_rate']}
                        for s in rs if short(s)],
        # loss-free at the highest rate offered: the generator, not the receiver, was the limit
        'generator_limited': mx.get('loss') == 0,
        'max_offered_rate': mx['offered_rate'], 'loss_at_max': mx['loss'],
        'loss_frac_at_max': mx['loss'] / mx['sent'] if mx['sent'] else None,
        'received_rate_at_max': mx['received'] / mx['gen_seconds'],
        'cpu_ns_per_frame': {str(s['target_rate']): s['cpu_ns_per_frame'] for s in rs},
        'sched_ns_per_frame': {str(s['target_rate']): s['sched_ns_per_frame'] for s in rs},
    }

worker_ns = pipe['frame_ns']
# What cpu_ratio subtracts (usage): the worker path and the output stage (pipeline_bench's
# path_ns); a build before 2026-12-07 has no output stage figure: the worker path alone.
def path_of(p):
    return p.get('path_ns', p['frame_ns'])
path_ns = path_of(pipe)
goals = {'worker_path_ns': worker_ns, 'output_stage_ns': pipe.get('output_ns'),
         'path_ns': path_ns}
base = by.get('baseline', [])

def at(rs, rate):
    return next((s for s in rs if s['target_rate'] == rate), None)

for name in ('uring-1w', 'afxdp-1w', 'afxdp-generic-1w'):
    if name not in by or not base:
        continue
    g = {}
    # CPU per frame, paired with the baseline at the same offered rate: the highest rate
    # at which both were loss-free (lower rates cost more per frame: fewer per wake-up).
    pairs = []
    for s in by[name]:
        b = at(base, s['target_rate'])
        if b and s.get('loss') == 0 and b.get('loss') == 0 and s['cpu_ns_per_frame'] and b['cpu_ns_per_frame']:
            pairs.append((s['offered_rate'], s, b))
    g['cpu_ratio_by_rate'] = {
        str(s['target_rate']): (s['cpu_ns_per_frame'] - path_ns) / b['cpu_ns_per_frame']
        for s in by[name] for b in [at(base, s['target_rate'])]
        if b and s['cpu_ns_per_frame'] and b['cpu_ns_per_frame']}
    g['cpu_ratio_by_rate_worker_path_only'] = {
        str(s['target_rate']): (s['cpu_ns_per_frame'] - worker_ns) / b['cpu_ns_per_frame']
        for s in by[name] for b in [at(base, s['target_rate'])]
        if b and s['cpu_ns_per_frame'] and b['cpu_ns_per_frame']}
    if pairs:
        _, s, b = max(pairs, key=lambda p: p[0])
        g['cpu_ratio'] = (s['cpu_ns_per_frame'] - path_ns) / b['cpu_ns_per_frame']
        g['cpu_ratio_rate'] = s['target_rate']
        # The pair is meant to be at one offered rate: say so when either step fell short
        # (then the two ran at different rates, and the cost per frame falls with rate).
        g['cpu_ratio_offered'] = [s['offered_rate'], b['offered_rate']]
        g['cpu_ratio_pair_short'] = short(s) or short(b)
        # The same with the worker thread alone: its receive path beside the baseline's,
        # without the output thread (JSON lines) and the main thread, which the worker
        # path (pipeline_bench) does not include either.
        wt = sum(v for k, v in s['thread_cpu_s'].items() if k.startswith('lg-worker'))
        g['worker_thread_ns_per_frame'] = wt * 1e9 / s['judged']
        g['output_thread_ns_per_frame'] = s['thread_cpu_s'].get('lg-output', 0) * 1e9 / s['judged']
        g['worker_thread_cpu_ratio'] = (g['worker_thread_ns_per_frame'] - worker_ns) / b['cpu_ns_per_frame']
        # One pair of one-second steps is one draw from a noisy machine (0.86 and 1.24 in
        # two idle bench/run runs of the same code): the ladder's pair, then the further
        # pairs at the same rate (--pairs), each after a pipeline_bench run of its own.
        # cpu_ratio is their median over the loss-free pairs; the ladder's pair alone,
        # what cpu_ratio was before, stays as cpu_ratio_first. The worker path each pair
        # subtracts is the median of all K pipeline_bench runs: one run on a busy machine
        # can read hundreds of ns high, which took single pairs to 0.0 and below.
        # The same for path_ns (worker path + output stage), what cpu_ratio subtracts.
        wpath_runs = [worker_ns] + [x['frame_ns'] for x in pair_pipes if x['receiver'] == name]
        wpath_med = statistics.median(wpath_runs)
        path_runs = [path_ns] + [path_of(x) for x in pair_pipes if x['receiver'] == name]
        path_med = statistics.median(path_runs)

        def one(s, b, own_pipe, k):
            path = path_med
            wt = sum(v for n, v in s['thread_cpu_s'].items() if n.startswith('lg-worker'))
            lossy = s.get('loss') != 0 or b.get('loss') != 0
            ok = not lossy and s['cpu_ns_per_frame'] and b['cpu_ns_per_frame']
            return {'pair': k, 'linegate_ns': s['cpu_ns_per_frame'],
                    'baseline_ns': b['cpu_ns_per_frame'], 'worker_path_ns': own_pipe['frame_ns'],
                    'output_stage_ns': own_pipe.get('output_ns'), 'path_ns': path_of(own_pipe),
                    'worker_thread_ns': wt * 1e9 / s['judged'] if s['judged'] else None,
                    'output_thread_ns': s['thread_cpu_s'].get('lg-output', 0) * 1e9 / s['judged']
                    if s['judged'] else None,
                    'ratio': (s['cpu_ns_per_frame'] - path) / b['cpu_ns_per_frame'] if ok else None,
                    'ratio_worker_path_only': (s['cpu_ns_per_frame'] - wpath_med) /
                    b['cpu_ns_per_frame'] if ok else None,
                    # the worker thread does not run the output stage: its path alone
                    'worker_thread_ratio': (wt * 1e9 / s['judged'] - wpath_med) /
                    b['cpu_ns_per_frame'] if ok else None,
                    # the same from schedstat's run time (ns, where stat counts 10 ms ticks:
                    # 50 ns a frame for 200 000 frames)
                    'sched_ratio': (s['sched_ns_per_frame'] - path) / b['sched_ns_per_frame']
                    if ok and s['sched_ns_per_frame'] and b['sched_ns_per_frame'] else None,
                    'offered': [s['offered_rate'], b['offered_rate']],
                    'lost': [s.get('loss'), b.get('loss')], 'short': short(s) or short(b),
                    'linegate_first': k % 2 == 0}
        runs = [one(s, b, pipe, 1)]
        for k in range(2, npairs + 1):
            ls = [x for x in pair_steps if x['pair'] == k and x['receiver'] == name]
            bs = [x for x in pair_steps if x['pair'] == k and x['receiver'] == 'baseline'
                  and x.get('paired_with') == name]
            ps = [x for x in pair_pipes if x['pair'] == k and x['receiver'] == name]
            if ls and bs and ps:
                runs.append(one(ls[0], bs[0], ps[0], k))
        ok = [x for x in runs if x['ratio'] is not None]
        g['cpu_ratio_pairs'] = runs
        g['cpu_ratio_first'] = g['cpu_ratio']
        g['cpu_ratio_n'] = len(ok)
        g['cpu_ratio_lossy_pairs'] = len(runs) - len(ok)
        g['cpu_ratio_short_pairs'] = sum(1 for x in runs if x['short'])
        g['cpu_ratio'] = statistics.median(x['ratio'] for x in ok)
        g['cpu_ratio_min'] = min(x['ratio'] for x in ok)
        g['cpu_ratio_max'] = max(x['ratio'] for x in ok)
        # The definition before 2026-12-07 (usage): only the worker path subtracted.
        g['cpu_ratio_worker_path_only'] = statistics.median(
            x['ratio_worker_path_only'] for x in ok)
        g['cpu_ratio_worker_path_only_min'] = min(x['ratio_worker_path_only'] for x in ok)
        g['cpu_ratio_worker_path_only_max'] = max(x['ratio_worker_path_only'] for x in ok)
        g['worker_thread_cpu_ratio'] = statistics.median(x['worker_thread_ratio'] for x in ok)
        g['worker_thread_cpu_ratio_min'] = min(x['worker_thread_ratio'] for x in ok)
        g['worker_thread_cpu_ratio_max'] = max(x['worker_thread_ratio'] for x in ok)
        g['output_thread_ns_per_frame'] = statistics.median(x['output_thread_ns'] for x in ok)
        g['worker_path_ns_median'] = wpath_med  # what the _worker_path_only figures subtracted
        g['path_ns_median'] = path_med  # what each pair's ratio subtracted
        sr = [x['sched_ratio'] for x in ok if x['sched_ratio'] is not None]
        g['sched_cpu_ratio'] = statistics.median(sr) if sr else None
        g['cpu_ratio_met'] = g['cpu_ratio'] <= 1.2
        bio = b['cpu_ns_per_frame']
        g['zero_loss_goal_rate'] = 0.8 / ((worker_ns + bio) * 1e-9)
    zl = summary[name]['zero_loss_rate']
    if 'zero_loss_goal_rate' in g:
        g['zero_loss_rate'] = zl
        g['zero_loss_ratio'] = zl / g['zero_loss_goal_rate']
        g['zero_loss_met'] = zl >= g['zero_loss_goal_rate']
        g['zero_loss_generator_limited'] = summary[name]['generator_limited']
        # Short of the goal because no step offered the goal rate (the generator fell
        # short, or the ladder has no such step), not because linegate lost frames there.
        g['zero_loss_untested'] = not any(
            s['offered_rate'] >= g['zero_loss_goal_rate'] for s in by[name])
    goals[name] = g
if 'uring-1w' in summary and 'uring-2w' in summary:
    one, two = summary['uring-1w'], summary['uring-2w']
    goals['scaling'] = {
        'zero_loss_ratio': two['zero_loss_rate'] / one['zero_loss_rate'] if one['zero_loss_rate'] else None,
        'received_rate_at_max_ratio': two['received_rate_at_max'] / one['received_rate_at_max']
        if one['received_rate_at_max'] else None,
        'generator_limited': two['generator_limited'],
        'device_split': split,
    }

doc = {'bench': 'rx_compare', 'date': time.strftime('%Y-%m-%dT%H:%M:%S%z'), 'cpu': cpu,
       'nproc': __import__('os').cpu_count(), 'kernel': platform.release(),
       'loadavg': open('/proc/loadavg').read().split()[:3], 'seconds_per_step': secs,
       'nice': nice, 'args': args,
       'pipeline': pipe, 'steps': steps, 'summary': summary, 'goals': goals,
       # the CPU ratio's further pairs (--pairs): their steps and pipeline_bench runs
       'pairs': npairs, 'pair_steps': pair_steps, 'pair_pipelines': pair_pipes}
if out:
    with open(out, 'w') as f:
        json.dump(doc, f, indent=1)

print(f'\n{cpu}, {doc["nproc"]} CPUs, kernel {doc["kernel"]}, load {" ".join(doc["loadavg"])}')
print(f'worker path (pipeline_bench frame_ns): {worker_ns:.0f} ns/frame; output stage (output_ns): '
      f'{"%.0f" % pipe["output_ns"] if "output_ns" in pipe else "-"} ns/frame; '
      f'cpu_ratio subtracts path_ns {path_ns:.0f} ns/frame')
print(f'{"receiver":<17}{"rate":>8}{"offered/s":>11}{"sent":>9}{"received":>10}{"loss":>8}{"CPU ns/fr":>11}{"sched ns/fr":>12}'
      '  (SHORT: the generator reached under 97 % of the step\'s rate)')
for s in steps:
    if s['receiver'].startswith('none'):
        label = 'generator, 2 thr' if s['receiver'] == 'none-2t' else 'none (generator)'
        print(f'{label:<17}{"max":>8}{s["offered_rate"]:>11.0f}{s["sent"]:>9}')
        continue
    c = s['cpu_ns_per_frame']; sc = s['sched_ns_per_frame']
    print(f'{s["receiver"]:<17}{s["target_rate"] or "max":>8}{s["offered_rate"]:>11.0f}{s["sent"]:>9}'
          f'{s["received"]:>10}{s["loss"]:>8}{(f"{c:.0f}" if c else "-"):>11}{(f"{sc:.0f}" if sc else "-"):>12}'
          f'{"  SHORT" if short(s) else ""}')
for s in steps:
    th = s.get('thread_cpu_s')
    if not th or not s.get("judged") or s["receiver"] == "baseline":
        continue
    wk = sum(v for k, v in th.items() if k.startswith('lg-worker'))
    line = (f'  {s["receiver"]} {s["target_rate"] or "max"}: worker threads '
            f'{wk * 1e9 / s["judged"]:.0f} ns/fr, output thread '
            f'{th.get("lg-output", 0) * 1e9 / s["judged"]:.0f} ns/fr')
    if s.get('rx_ring_high'):
        line += '; RX ring high-water ' + ', '.join(f'{h} of {n}' for h, n in s['rx_ring_high'])
    ow = s.get('output_wake')
    if ow:
        line += (f'; output thread slept {ow["sleeps"]}, woken {ow["wakeups"]} '
                 f'({ow["wakeups_by_workers"]} by workers), linger naps {ow["linger_naps"]}')
    print(line)
print()
for name, v in summary.items():
    if name.startswith('none'):
        print(f'generator alone (nothing listens, {"two threads" if name == "none-2t" else "one thread"}): '
              f'{v["generator_max_rate"]:.0f} frames/s')
        continue
    print(f'{name:<17} zero-loss rate {v["zero_loss_rate"]:>8.0f}/s{" (generator-limited)" if v["generator_limited"] else ""}'
          f'{" (step %s/s, which the generator did not reach)" % v["zero_loss_step"] if v["zero_loss_step_short"] else ""}, '
          f'loss at max {v["loss_at_max"]} of {v["max_offered_rate"]:.0f}/s offered ({100 * (v["loss_frac_at_max"] or 0):.1f} %)')
    if v['short_steps']:
        print(f'{"":<17} steps the generator fell short of: ' + ', '.join(
            f'{x["target_rate"]}/s (reached {x["offered_rate"]:.0f}/s)' for x in v['short_steps']))
for name, g in goals.items():
    if name in ('worker_path_ns', 'output_stage_ns', 'path_ns'):
        continue
    if name == 'scaling':
        zr = g['zero_loss_ratio']; rr = g['received_rate_at_max_ratio']
        print(f'goal two workers / one: zero-loss {zr if zr is None else round(zr, 2)}, '
              f'received at max {rr if rr is None else round(rr, 2)} (goal >= 1.8'
              f'{"; generator-limited" if g["generator_limited"] else ""}; devices split {g["device_split"]})')
        continue
    if 'cpu_ratio' in g:
        for x in g['cpu_ratio_pairs']:
            r_ = x['ratio']
            print(f'  {name} pair {x["pair"]} ({"linegate" if x["linegate_first"] else "baseline"} first): '
                  f'linegate {x["linegate_ns"] or 0:.0f}, baseline {x["baseline_ns"] or 0:.0f}, '
                  f'worker path {x["worker_path_ns"]:.0f} + output stage {x["output_stage_ns"] or 0:.0f} '
                  f'ns/frame (medians {g["worker_path_ns_median"]:.0f}, path {g["path_ns_median"]:.0f}): '
                  f'{"%.2f" % r_ if r_ is not None else "- (frames lost: %s)" % x["lost"]}'
                  f'{" (worker path only %.2f)" % x["ratio_worker_path_only"] if r_ is not None else ""}'
                  f'{" SHORT" if x["short"] else ""}')
        print(f'goal {name}: (CPU/frame - (worker path + output stage)) / baseline = {g["cpu_ratio"]:.3f} '
              f'(median of {g["cpu_ratio_n"]} pair(s), {g["cpu_ratio_min"]:.2f}-{g["cpu_ratio_max"]:.2f}'
              f'{"; %d lossy left out" % g["cpu_ratio_lossy_pairs"] if g["cpu_ratio_lossy_pairs"] else ""}) at '
              f'{g["cpu_ratio_rate"] or "max"}/s'
              f'{" (offered %.0f/s to linegate, %.0f/s to the baseline: a SHORT step)" % tuple(g["cpu_ratio_offered"]) if g["cpu_ratio_pair_short"] else ""}'
              f' (goal <= 1.2: {"met" if g["cpu_ratio_met"] else "not met"}; '
              f'cpu_ratio_worker_path_only (the worker path alone subtracted, the definition '
              f'before 2026-12-07) {g["cpu_ratio_worker_path_only"]:.3f} '
              f'({g["cpu_ratio_worker_path_only_min"]:.2f}-{g["cpu_ratio_worker_path_only_max"]:.2f}); '
              f'worker thread alone {g["worker_thread_cpu_ratio"]:.2f}, output thread '
              f'{g["output_thread_ns_per_frame"]:.0f} ns/frame); '
              f'zero-loss {g["zero_loss_rate"]:.0f}/s vs 80 % of 1/(path + baseline I/O) = '
              f'{g["zero_loss_goal_rate"]:.0f}/s: {g["zero_loss_ratio"]:.3f} '
              f'({"met" if g["zero_loss_met"] else "not tested: no step offered the goal rate" if g["zero_loss_untested"] else "not met"}'
              f'{", generator-limited" if g["zero_loss_generator_limited"] else ""})')
    else:
        print(f'goal {name}: no rate at which it and the baseline were both loss-free')

if check:
    bad = []
    for s in steps + pair_steps:
        want = {r for r in [s['target_rate']]}
        if s['sent'] <= 0:
            bad.append(f'{s["receiver"]} {s["target_rate"]}: nothing sent')
        if s['receiver'] == 'baseline' and s['received'] <= 0:
            bad.append(f'baseline {s["target_rate"]}: nothing received')
        if s['receiver'] not in ('none', 'none-2t', 'baseline'):
            vd = s.get('veth_dropped', {})
            # The generator's end drops what the receiving end's ring has no room for
            # (before any XDP program): not linegate's to count. The receiving end's
            # rx_dropped also counts frames linegate counts (XDP and AF_XDP drops): shown,
            # not added.
            lost = vd.get('tx', 0)
            if s['accounted'] + lost != s['sent']:
                bad.append(f'{s["receiver"]} {s["target_rate"]}: linegate accounted for {s["accounted"]} of {s["sent"]} frames, the generator\'s veth end dropped {lost} (the receiving end: {vd.get("rx", 0)})')
            if s['received'] + s['dropped'] != s['accounted']:
                bad.append(f'{s["receiver"]} {s["target_rate"]}: admitted + dropped != received')
            if s['received'] <= 0:
                bad.append(f'{s["receiver"]} {s["target_rate"]}: nothing admitted')
        if not s['receiver'].startswith('none') and s['cpu_ns_per_frame'] is None:
            bad.append(f'{s["receiver"]} {s["target_rate"]}: no CPU per frame')
    # The CPU ratio's pairs (--pairs K): every judged receiver got its K-1 further pairs,
    # each a linegate step, a baseline step and a pipeline_bench run, and the goal
    # figure is the median of the loss-free ones.
    for name, g in goals.items():
        if not isinstance(g, dict) or 'cpu_ratio_pairs' not in g:
            continue
        if len(g['cpu_ratio_pairs']) != npairs:
            bad.append(f'{name}: {len(g["cpu_ratio_pairs"])} pairs for the CPU ratio, not {npairs}')
        ok = sorted(x['ratio'] for x in g['cpu_ratio_pairs'] if x['ratio'] is not None)
        if not ok or abs(statistics.median(ok) - g['cpu_ratio']) > 1e-9 or \
                g['cpu_ratio_min'] != ok[0] or g['cpu_ratio_max'] != ok[-1]:
            bad.append(f'{name}: cpu_ratio is not the median of its pairs')
    for b in bad:
        print('CHECK FAILED:', b)
    if bad:
        sys.exit(1)
    print('check: every step accounted for')
PY
