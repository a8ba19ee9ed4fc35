#!/usr/bin/env bash
# The load generator's batched path: sendmmsg from several sender threads, each with its own
# socket and its own devices, paced by a token bucket, with the attack mix shared between
# the threads, and with --precompute. Every count linegate reaches must equal what the
# summary says was sent, exactly: a device whose sequences left out of order, or twice, or a
# thread that lost its share of a class, shows up as a refused or missing frame.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lglt$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
lg_start_linegate -w 2

FRAMES=400
send() {
	ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy.yaml" -t $SRV_IP -S $LINE_IP \
		-n $FRAMES -r 20000 --unknown 101 --bad-tag 21 --replay 19 --malformed 23 \
		--spoof 17 --spoof-from $SPOOF_IP -q "$@"
}
# Two threads, batches of up to 16; then three threads from precomputed frames, going on
# from the sequences the first run used.
send --threads 2 --batch 16 -j "$T/a.json"
send --threads 3 --precompute --first-seq $((FRAMES + 1)) -j "$T/b.json"

total=$(lg_json "$T/a.json" "d['sent']")
total=$((total + $(lg_json "$T/b.json" "d['sent']")))
got_all() {
	lg_dp_stats "$T/m.json" &&
	[ "$(lg_json "$T/m.json" "d['received']")" = "$total" ]
}
lg_wait_for 10 got_all || lg_fail "received $(lg_json "$T/m.json" "d['received']") of $total"
lg_stop_linegate

python3 - "$T/stats.json" "$T/a.json" "$T/b.json" $FRAMES <<'PY'
import json, sys
st = json.load(open(sys.argv[1]))
runs = [json.load(open(f)) for f in sys.argv[2:4]]
frames = int(sys.argv[4])
ok = True
def check(name, got, want):
    global ok
    print(f"{name}: got {got}, want {want}")
    ok &= got == want
devices = len(st["devices"])
want = {"enrolled": devices * frames, "unknown_device": 101, "bad_tag": 21, "replayed": 19,
        "malformed": 23, "spoofed": 17}
for i, r in enumerate(runs):
    for k, v in want.items():
        check(f"run {i + 1} summary {k}", r[k], v)
    check(f"run {i + 1} summary sent", r["sent"], sum(want.values()))
    check(f"run {i + 1} not interrupted", r["interrupted"], False)
s = lambda k: sum(r[k] for r in runs)
d = st["drops"]
check("received = sent", st["received"], s("sent"))
check("admitted = enrolled", st["admitted"], s("enrolled"))
check("unknown_device", d["unknown_device"], s("unknown_device"))
check("bad_tag", d["bad_tag"], s("bad_tag"))
check("replayed", d["replayed"], s("replayed"))
check("spoofed_source", d["spoofed_source"], s("spoofed"))
# Malformed frames alternate bad length, bad magic over the whole run, whichever thread
# sends them: 12 and 11 of 23.
check("bad_length", d["bad_length"], 2 * 12)
check("bad_magic", d["bad_magic"], 2 * 11)
check("no other drops", st["dropped"], s("sent") - s("enrolled"))
check("every device admitted all its frames", sorted({v["admitted"] for v in st["devices"]}),
      [2 * frames])
sys.exit(0 if ok else 1)
PY
echo PASS
