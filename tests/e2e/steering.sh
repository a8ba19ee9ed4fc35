#!/usr/bin/env bash
# One device, one replay window, whichever worker receives its frames: linegate with two
# workers (uring: one SO_REUSEPORT socket each), and the load generator sending every
# enrolled device's frames twice, the second time from a new source port. The kernel's
# default reuseport hash would spread the two copies over both workers, each with a
# window of its own, and admit most frames twice. Here: every first copy admitted, every
# second one refused as replayed, LGF frames steered by the reuseport selector (none
# handed over between workers), UADP messages handed to their owner when they land
# elsewhere, and received = admitted + dropped exactly.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgst$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"

# Workers pinned by the policy, and pinned again by a live apply.
printf 'workers:\n  cores: [1, 0]\n' >> "$T/policy.yaml"
lg_start_linegate -w 2

# Cpus_allowed_list of each named worker thread, "0:1 1:0" for worker 0 on core 1.
affinity() {
	local t
	for t in /proc/$DP_PID/task/*; do
		case $(cat "$t/comm") in lg-worker-*)
			echo "$(sed 's/lg-worker-//' "$t/comm"):$(awk '/Cpus_allowed_list/ {print $2}' "$t/status")" ;;
		esac
	done | sort | tr '\n' ' '
}
dp_apply() { # apply the policy on stdin straight to the data plane: "ok" or "error: why"
	python3 -c "
import sys, lgsock
r = lgsock.call(sys.argv[1], {'cmd': 'apply', 'policy': sys.stdin.read()})
print('ok' if r['ok'] else 'error: ' + r['error'])" "$T/dp.sock"
}
# (the workers start, and pin themselves, after the control socket exists: wait for it)
lg_wait_value 5 "0:1 1:0 " affinity || lg_fail "workers not pinned as workers.cores says: $(affinity)"
sed 's/^  cores: \[1, 0\]/  cores: [1]/' "$T/policy.yaml" | dp_apply | grep -q '^ok' ||
	lg_fail "live apply of workers.cores [1] refused"
[ "$(affinity)" = "0:1 1:1 " ] || lg_fail "workers not re-pinned by a live apply: $(affinity)"
if sed 's/^  cores: \[1, 0\]/  cores: [1000]/' "$T/policy.yaml" | dp_apply | grep -q '^ok'; then
	lg_fail "a policy with a core this machine lacks was applied"
fi
[ "$(affinity)" = "0:1 1:1 " ] || lg_fail "a refused apply changed the pinning: $(affinity)"
lg_dp_stats "$T/w.json"
[ "$(lg_json "$T/w.json" "[w['cpu'] for w in d['workers']]")" = "[1, 1]" ] ||
	lg_fail "stats say workers run on $(lg_json "$T/w.json" "[w['cpu'] for w in d['workers']]")"

send() {
	ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP \
		-n 60 -r 4000 -s 7 -q "$@"
}
# LGF only first, twice; then with UADP publishers, twice.
send -j "$T/a1.json"
send -j "$T/a2.json"
lg_dp_stats "$T/lgf.json"
send --uadp --first-seq 1000 -j "$T/b1.json"
send --uadp --first-seq 1000 -j "$T/b2.json"

total=$(python3 -c "import json,sys; print(sum(json.load(open(f))['sent'] for f in sys.argv[1:]))" \
	"$T"/a1.json "$T"/a2.json "$T"/b1.json "$T"/b2.json)
got_all() {
	lg_dp_stats "$T/m.json" &&
	[ "$(lg_json "$T/m.json" "d['received']")" = "$total" ]
}
lg_wait_for 10 got_all || lg_fail "received $(lg_json "$T/m.json" "d['received']") of $total"
lg_stop_linegate

python3 - "$T/stats.json" "$T"/a1.json "$T"/a2.json "$T"/b1.json "$T"/b2.json "$T/lgf.json" <<'PY'
import json, sys
st = json.load(open(sys.argv[1]))
a1, a2, b1, b2 = (json.load(open(f)) for f in sys.argv[2:6])
from lgcheck import check, done
sent = a1["sent"] + a2["sent"] + b1["sent"] + b2["sent"]
check("received", st["received"], sent)
check("received = admitted + dropped", st["admitted"] + st["dropped"], st["received"])
check("admitted: each first copy once", st["admitted"], a1["enrolled"] + b1["enrolled"])
check("replayed: each second copy", st["drops"]["replayed"], a2["enrolled"] + b2["enrolled"])
check("other drops", st["dropped"] - st["drops"]["replayed"], 0)
try:
    lgf = json.load(open(sys.argv[6]))
    check("LGF frames handed between workers (steered by the selector)", lgf["handed_off"], 0)
except (OSError, ValueError, KeyError) as e:
    check(f"stats after the LGF runs ({e})", "unreadable", "readable")
check("UADP messages handed over at most once each",
      st["handed_off"] <= b1["uadp"] + b2["uadp"], True)
done()
PY
