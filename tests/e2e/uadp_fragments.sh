#!/usr/bin/env bash
# IP fragments through XDP admission (docs/admission.md, "Fragments"). Two namespaces joined by
# a veth at MTU 1500; linegate with --xdp (native, or generic with $1 = generic) on the
# receiving side and the uring backend. Enrolled devices send LGF frames of 2996 bytes
# (--samples 1470), so every datagram leaves the sender in 3 IPv4 (or IPv6) fragments:
#   fragments: reassemble  fragments from an enrolled source pass XDP (fragment_passed), the
#                          kernel reassembles them for linegate's socket, the workers verify
#                          and admit every datagram;
#   fragments: drop        (applied live) the same traffic is dropped as `fragment`;
#   unenrolled source      dropped as `fragment` in both modes (here the enrolled ids sent from
#                          another address: whole, they would be spoofed_source);
# over IPv4, and over IPv6 from a device bound to fd77::2. Counts are exact. Then reassemble
# applied live again: with afxdp the reply, the log and status say it is not done (trial J F3).
# With $2 = afxdp (frames to an AF_XDP socket, no UDP socket behind the stack) linegate
# keeps XDP at drop whatever the policy says: every fragment counts as `fragment`.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgfr$$"
T=$LG_TMP
MODE=${1:-native}
[ "$MODE" = native ] && XDP=lg0 || XDP=lg0:generic
BACKEND=${2:-uring}
SAMPLES=1470
SRV6=fd77::1
LINE6=fd77::2

# IPv6 on the veth only (lib.sh turns it off for the namespaces): its neighbour discovery
# passes XDP as not_ours, and no counter checked here sees it.
ip netns exec "$NS_SRV" sysctl -qw net.ipv6.conf.lg0.disable_ipv6=0
ip netns exec "$NS_LINE" sysctl -qw net.ipv6.conf.lg1.disable_ipv6=0
ip -n "$NS_SRV" addr add $SRV6/64 dev lg0 nodad
ip -n "$NS_LINE" addr add $LINE6/64 dev lg1 nodad
ip -n "$NS_SRV" link set lg0 mtu 1500
ip -n "$NS_LINE" link set lg1 mtu 1500

lg_policy "$T/base.yaml"
# Device 120 publishes over IPv6; not_ours: pass lets neighbour discovery through.
mkpolicy() {
	sed -e "s/^port: 4739/port: 4739\nnot_ours: pass\nfragments: $1/" "$T/base.yaml"
	cat <<-EOF
	  - id: 120
	    name: v6-vib
	    source: '$LINE6'
	    keys:
	      - {id: 1, key_file: keys/press-1-vib.key}
	EOF
}
mkpolicy reassemble > "$T/policy.yaml"
mkpolicy drop > "$T/drop.yaml"
grep -q "fragments: reassemble" "$T/policy.yaml" || lg_fail "policy edit"
# The loadgen's view of device 120 alone (ids and keys come from its policy file).
cat > "$T/v6.yaml" <<EOF
version: 1
port: 4739
devices:
  - id: 120
    name: v6-vib
    source: '$LINE6'
    keys:
      - {id: 1, key_file: keys/press-1-vib.key}
EOF

lg_start_linegate_xdp "$MODE" -x $XDP -b "$BACKEND"

# gen NAME POLICY TARGET SOURCE FRAMES FIRST_SEQ [DEVICES]
gen() {
	ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$2" -t "$3" -S "$4" -n "$5" -r 2000 \
		--first-seq "$6" --samples $SAMPLES ${7:+-d $7} -j "$T/$1.json" -q
}
# The counters once the last datagrams are through (the control socket is a file: no netns).
snap() { sleep 0.3; lg_dp_stats "$T/$1.json"; }

# 1. reassemble: devices 101 and 102 from their address, then the same ids from another one.
gen a_ok "$T/policy.yaml" $SRV_IP $LINE_IP 200 1 2
gen a_foreign "$T/policy.yaml" $SRV_IP $SPOOF_IP 50 1001 2
gen a_v6 "$T/v6.yaml" "[$SRV6]" $LINE6 100 1
snap a
# 2. drop, applied live: the same again.
r=$(lg_dp_apply "$T/dp.sock" "$T/drop.yaml")
case $r in ok:*fragments*) ;; *) lg_fail "apply fragments: drop: $r" ;; esac
gen b_ok "$T/policy.yaml" $SRV_IP $LINE_IP 100 2001 2
gen b_foreign "$T/policy.yaml" $SRV_IP $SPOOF_IP 50 3001 2
gen b_v6 "$T/v6.yaml" "[$SRV6]" $LINE6 50 2001
snap b
# The data plane's status counts the fragments XDP dropped, for linegated's warning (trial
# s19 C M2: frames over the MTU lost before any worker, every worker counter at 0).
lg_ctl "$T/dp.sock" '{"cmd": "status"}' xdp_fragments_dropped > "$T/fragst.json"
# 3. reassemble applied live again (trial J F3: on afxdp the apply said "drop -> reassemble
# (live)", the log nothing, and XDP kept dropping them): with afxdp the reply's warning says
# the policy's reassemble is not done, and status says it for linegated's warnings; with
# uring neither. No frame is sent after it: the counters above stay those of 1 and 2.
ip netns exec "$NS_SRV" python3 -c "
import json, sys, lgsock
print(json.dumps(lgsock.call(sys.argv[1], {'cmd': 'apply', 'policy': open(sys.argv[2]).read()})))
" "$T/dp.sock" "$T/policy.yaml" > "$T/reapply.json"
lg_ctl "$T/dp.sock" '{"cmd": "status"}' > "$T/st3.json"
python3 - "$T" "$BACKEND" <<'PY' || lg_fail "live apply of fragments: reassemble"
import json, sys
from lgcheck import check, done
T, backend = sys.argv[1], sys.argv[2]
r, st = json.load(open(f"{T}/reapply.json")), json.load(open(f"{T}/st3.json"))
print(r)
check("apply ok", r.get("ok"), True)
check("the change", [(c["field"], c["new"]) for c in r.get("changes", [])],
      [("fragments", "reassemble")])
say = "fragments: reassemble needs the uring backend"
if backend == "uring":
    check("uring: no warning about it", say in r.get("warning", ""), False)
    check("uring: status has no fragments_ignored", "fragments_ignored" in st, False)
else:
    check("afxdp: the reply warns", say in r.get("warning", ""), True)
    check("afxdp: status says it", say in st.get("fragments_ignored", ""), True)
done()
PY
# ... and through linegated: linegatectl apply's reply and linegatectl status's warnings.
if [ "$BACKEND" != uring ]; then
	lg_start_linegated
	CTL() { "$LG_BIN_CTL" -s "$T/d.sock" "$@"; }
	CTL apply "$T/drop.yaml" > "$T/ctl_drop.out" 2>&1 || lg_fail "apply drop: $(cat "$T/ctl_drop.out")"
	CTL apply "$T/policy.yaml" > "$T/ctl_re.out" 2>&1 || lg_fail "apply: $(cat "$T/ctl_re.out")"
	cat "$T/ctl_re.out"
	grep -q "; linegate: .*fragments: reassemble needs the uring backend" "$T/ctl_re.out" ||
		lg_fail "linegatectl apply does not say reassemble is not done: $(cat "$T/ctl_re.out")"
	CTL -r status > "$T/ctl_st.json"
	python3 - "$T/ctl_st.json" <<'PY' || lg_fail "linegatectl status warnings: $(cat "$T/ctl_st.json")"
import json, sys
w = json.load(open(sys.argv[1]))["warnings"]
assert [x for x in w if x.startswith("fragments: reassemble needs the uring backend")], w
PY
	kill -INT $D_PID
	wait $D_PID || lg_fail "linegated exited with status $?"
	unset D_PID
fi
kill -INT $DP_PID
wait $DP_PID || { cat "$T/dp.err"; lg_fail "linegate exited with status $?"; }
LG_PIDS=""

[ "$BACKEND" = uring ] || grep -q "fragments: reassemble needs the uring backend" "$T/dp.err" ||
	lg_fail "no warning that $BACKEND cannot reassemble: $(cat "$T/dp.err")"
# at start and at the live applies of 3 (on linegate's socket, then through linegated)
[ "$BACKEND" = uring ] || [ "$(grep -c "fragments: reassemble needs the uring backend" "$T/dp.err")" = 3 ] ||
	lg_fail "the live apply left no line in the log: $(cat "$T/dp.err")"
python3 - "$T" $SAMPLES "$BACKEND" <<'PY'
import json, math, sys
from lgcheck import check, done
T, samples, backend = sys.argv[1], int(sys.argv[2]), sys.argv[3]
j = lambda n: json.load(open(f"{T}/{n}.json"))
a, b = j("a"), j("b")
check("status: xdp_fragments_dropped = the metrics' xdp fragment count",
      json.load(open(f"{T}/fragst.json")), b["xdp"]["fragment"])
sent = {n: j(n)["enrolled"] for n in ("a_ok", "a_foreign", "a_v6", "b_ok", "b_foreign", "b_v6")}
udp = 40 + 2 * samples + 16 + 8               # LGF header, i16 samples, tag; UDP header
k4 = math.ceil(udp / 1480)                    # 1500 - 20-byte IPv4 header
k6 = math.ceil(udp / 1448)                    # 1500 - 40 - 8-byte Fragment header, 8-aligned
check("fragments per IPv4 datagram", k4, 3)
check("fragments per IPv6 datagram", k6, 3)
check("sent a_ok", sent["a_ok"], 400)
xa, xb = a["xdp"], b["xdp"]
if backend != "uring":
    # No socket to reassemble for: XDP drops every fragment, whatever the policy says.
    check("xdp fragment_passed", xb["fragment_passed"], 0)
    check("xdp fragment", xb["fragment"], k4 * sum(v for n, v in sent.items() if "v6" not in n)
          + k6 * (sent["a_v6"] + sent["b_v6"]))
    check("xdp malformed", xb["malformed"], 0)
    check("workers received", b["received"], 0)
    done()
check("reassemble: xdp fragment_passed", xa["fragment_passed"],
      k4 * sent["a_ok"] + k6 * sent["a_v6"])
check("reassemble: xdp fragment (unenrolled source)", xa["fragment"], k4 * sent["a_foreign"])
check("reassemble: xdp malformed", xa["malformed"], 0)
check("reassemble: xdp spoofed_source", xa["spoofed_source"], 0)
check("reassemble: workers received", a["received"], sent["a_ok"] + sent["a_v6"])
check("reassemble: workers admitted", a["admitted"], sent["a_ok"] + sent["a_v6"])
dev = {v["id"]: v for v in a["devices"]}
check("reassemble: admitted from 101", dev[101]["admitted"], 200)
check("reassemble: admitted from 102", dev[102]["admitted"], 200)
check("reassemble: admitted from 120 (IPv6)", dev[120]["admitted"], sent["a_v6"])
check("drop: xdp fragment_passed unchanged", xb["fragment_passed"], xa["fragment_passed"])
check("drop: xdp fragment", xb["fragment"] - xa["fragment"],
      k4 * (sent["b_ok"] + sent["b_foreign"]) + k6 * sent["b_v6"])
check("drop: xdp malformed", xb["malformed"], 0)
check("drop: workers received nothing more", b["received"], a["received"])
check("drop: workers admitted nothing more", b["admitted"], a["admitted"])
check("no drops in the workers", {r: n for r, n in b["drops"].items() if n}, {})
done()
PY
echo PASS
