#!/usr/bin/env bash
# linegate and linegated run as a dedicated user with only the capabilities they still use
# (--user; docs/operations.md "Installing as a service"). linegate starts as root, attaches
# XDP (native) to its veth and pins it, binds its sockets and control socket, then becomes
# the user with no capability (cap_bpf alone on kernels before 6.5, which want it for bpf()
# on the maps it holds); linegated becomes the user with none. After the
# drop, /proc shows every thread with the user's ids and exactly those capabilities, and
# the line still works: frames admitted and scored, the workers' sequence exports reach the
# XDP maps (an old capture is dropped there as replayed), a live apply through linegated
# updates the XDP maps (a revoked device is dropped in XDP as unknown), and the control
# sockets answer. The test uses a uid no account has (nothing is added to /etc/passwd).
source "$(dirname "$0")/lib.sh"
BACKEND=${1:-uring}   # afxdp: an AF_XDP socket and its UMEM, made before the drop
lg_need_root
lg_tmp
lg_netns_up "lgpd$$"
lg_bpffs
T=$LG_TMP
PIN=/sys/fs/bpf/linegate/netns-$(stat -L -c %i "/var/run/netns/$NS_SRV")
trap 'rm -rf "$PIN"; lg_cleanup' EXIT
chmod 755 "$T"
U=64917
while getent passwd $U >/dev/null || getent group $U >/dev/null; do U=$((U + 1)); done
lg_policy "$T/p1.yaml"
# The load generator (root) reads its own copy of the keys: the user's are refused to it.
mkdir "$T/gen"
lg_policy "$T/gen/p1.yaml"
cp "$T/p1.yaml" "$T/policy.yaml"
# p2: device 101 (press-1-vib) revoked.
python3 - "$T/p1.yaml" > "$T/p2.yaml" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
print(re.sub(r"  - id: 101\n(    .*\n)+?(?=  - id: 102)", "", t), end="")
PY
grep -q "id: 101" "$T/p2.yaml" && lg_fail "p2.yaml still enrolls 101"
# What the user reads after the drop (key files, for applies) and the folder it writes.
chown -R $U:$U "$T/keys"
mkdir "$T/u" "$T/models"  # the model registry (models: registry: models)
chown $U:$U "$T/u" "$T/models"

# As linegate@.service starts it: root, with its CapabilityBoundingSet and no_new_privs.
UNIT=$LG_SOURCE/dist/systemd/linegate@.service.in
# LimitMEMLOCK=infinity, as the unit: AF_XDP's UMEM is accounted to it (no CAP_IPC_LOCK).
ulimit -l unlimited 2>/dev/null || true
BSET=${LG_BSET:-$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT" | tr 'A-Z ' 'a-z\n' |
	sed 's/^cap_/+/' | paste -sd, -)}
[ -n "$BSET" ] || lg_fail "no CapabilityBoundingSet in $UNIT"
# nsenter keeps the host's mount namespace: the pins go to the host's bpffs, as under
# systemd (`ip netns exec` would give linegate a private /sys without one).
nsenter --net=/var/run/netns/$NS_SRV setpriv --bounding-set=-all,"$BSET" --inh-caps=-all --no-new-privs \
	"$LG_BIN_DP" -p "$T/policy.yaml" -B $SRV_IP -c "$T/dp.sock" \
	-o "$T/u/out.jsonl" -s "$T/u/stats.json" -x lg0 -b "$BACKEND" --user $U \
	--metrics 127.0.0.1:9477 2> "$T/dp.err" &
DP_PID=$!
LG_PIDS="$DP_PID"
lg_wait_for 5 grep -q "running as" "$T/dp.err" || {
	cat "$T/dp.err"
	grep -q "Operation not supported" "$T/dp.err" && lg_skip "no native XDP on veth here"
	lg_fail "linegate did not drop to uid $U"
}
lg_bg "$LG_BIN_D" -p "$T/policy.yaml" -S "$T/u/d.sock" -d "$T/dp.sock" -a "$T/u/audit.jsonl" \
	-s "$T/u/state" --user $U 2> "$T/d.err"
D_PID=$!
lg_wait_for 5 test -S "$T/u/d.sock" || { cat "$T/d.err"; lg_fail "linegated did not start"; }

# Without CAP_IPC_LOCK the UMEM counts against RLIMIT_MEMLOCK: the default 8192 frames
# (32 MiB) where the limit holds them, else fewer, and the start line says why.
if [ "$BACKEND" = afxdp ]; then
	lim=$(ulimit -l)
	if [ "$lim" = unlimited ] || [ "$lim" -ge 65536 ]; then
		grep -q "afxdp backend, .* 8192 frames of 4096 bytes (32 MiB of UMEM)" "$T/dp.err" ||
			lg_fail "memlock $lim KiB: not the default UMEM: $(cat "$T/dp.err")"
	else
		grep -q "afxdp backend, .*; [0-9]* frames, not the default 8192: the locked-memory limit" \
			"$T/dp.err" ||
			lg_fail "memlock $lim KiB: the start line does not say the UMEM is smaller: $(cat "$T/dp.err")"
	fi
fi

# Every thread of both: the user's ids, exactly the capabilities named, no_new_privs; except
# a thread started before the drop by a library (OpenBLAS's idle pool, named as the process)
# other than the main thread: the user's ids and no capability at all.
# linegate keeps cap_bpf only where the kernel wants it for bpf() on the maps it holds:
# before Linux 6.5, with unprivileged BPF off (kernel.unprivileged_bpf_disabled).
read -r KMAJ KMIN < <(uname -r | awk -F. '{print $1, $2}')
if [ "$KMAJ" -gt 6 ] || { [ "$KMAJ" -eq 6 ] && [ "$KMIN" -ge 5 ]; } ||
	[ "$(cat /proc/sys/kernel/unprivileged_bpf_disabled)" = 0 ]; then
	CAPS_DP=0000000000000000 CAPS_NAMES=none
else
	CAPS_DP=$(printf "%016x" $((1 << 39))) CAPS_NAMES=cap_bpf
fi
check_proc() {
	local pid=$1 want=$2 what=$3 t f
	local n=0 early=0
	for t in /proc/$pid/task/*; do
		f=$(cat "$t/status")
		n=$((n + 1))
		for key in Uid Gid; do
			[ "$(awk -v k=$key: '$1 == k {print $2, $3, $4, $5}' <<<"$f")" = "$U $U $U $U" ] ||
				lg_fail "$what thread ${t##*/}: $(grep "^$key:" <<<"$f"), want $U x4"
		done
		[ "$(awk '$1 == "Groups:" {print $2}' <<<"$f")" = "$U" ] ||
			lg_fail "$what thread ${t##*/}: $(grep '^Groups:' <<<"$f"), want $U"
		if [ "${t##*/}" != "$pid" ] && [ "$(cat "$t/comm")" = "$what" ]; then
			for key in CapEff CapPrm CapInh CapAmb; do
				[ "$(awk -v k=$key: '$1 == k {print $2}' <<<"$f")" = 0000000000000000 ] ||
					lg_fail "$what early thread ${t##*/}: $(grep "^$key:" <<<"$f")"
			done
			early=$((early + 1))
			continue
		fi
		for key in CapEff CapPrm; do
			[ "$(awk -v k=$key: '$1 == k {print $2}' <<<"$f")" = "$want" ] ||
				lg_fail "$what thread ${t##*/}: $(grep "^$key:" <<<"$f"), want $want"
		done
		# The bounding set: at most what was kept before trying (cap_bpf, cap_net_admin).
		(( (0x$(awk '$1 == "CapBnd:" {print $2}' <<<"$f") & ~0x8000001000) == 0 )) ||
			lg_fail "$what thread ${t##*/}: $(grep "^CapBnd:" <<<"$f")"
		for key in CapInh CapAmb; do
			[ "$(awk -v k=$key: '$1 == k {print $2}' <<<"$f")" = 0000000000000000 ] ||
				lg_fail "$what thread ${t##*/}: $(grep "^$key:" <<<"$f"), want none"
		done
		[ "$(awk '$1 == "NoNewPrivs:" {print $2}' <<<"$f")" = 1 ] ||
			lg_fail "$what thread ${t##*/}: no_new_privs is not set"
	done
	echo "$what: $n thread(s) as uid $U, capabilities $want ($early early one(s): none)"
}
grep -qF "pinned in $PIN/lg0 (kept on exit" "$T/dp.err" ||
	lg_fail "not pinned: $(grep XDP "$T/dp.err")"
check_proc $DP_PID $CAPS_DP linegate
check_proc $D_PID 0000000000000000 linegated
grep -q "^linegate: running as a uid without an account (uid $U, gid $U), capabilities: $CAPS_NAMES$" \
	"$T/dp.err" || lg_fail "linegate's start line: $(grep 'running as' "$T/dp.err")"
[ "$(stat -c %u "$STATE_DIRECTORY")" = $U ] || lg_fail "the state folder is not the user's"
[ "$(stat -c %u "$T/u/out.jsonl")" = $U ] || lg_fail "the JSON lines file is not the user's"
[ "$(stat -c %u "$T/dp.sock")" = $U ] || lg_fail "the control socket is not the user's"

send() { ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/gen/p1.yaml" -t $SRV_IP -S $LINE_IP -q "$@"; }
stat_of() { lg_dp_stats "$T/s.json" && lg_json "$T/s.json" "$1"; }

# 1. Frames admitted and scored after the drop.
send -n 1200 -r 6000 -j "$T/sent1.json"
ENR1=$(lg_json "$T/sent1.json" "d['enrolled']")
lg_wait_value 10 "$ENR1" stat_of "d['admitted']" ||
	lg_fail "admitted $(stat_of "d['admitted']"), want $ENR1"
# /readyz sees its own XDP program after the drop (it once said "cannot see what runs on
# lg0: Operation not permitted" for ever under --user).
ready=$(ip netns exec "$NS_SRV" curl -s -w ' %{http_code}' 127.0.0.1:9477/readyz)
[ "${ready##* }" = 200 ] || lg_fail "/readyz after the drop: $ready"
# A second linegate with --xdp on the same interface is refused before it touches XDP (a
# re-check trial saw one write its policy into the running one's tables, then fail).
rc=0
nsenter --net=/var/run/netns/$NS_SRV timeout 20 "$LG_BIN_DP" -p "$T/gen/p1.yaml" -B $SRV_IP \
	-o "$T/second.jsonl" --state-dir "$T/second-state" -x lg0 2> "$T/second.err" || rc=$?
[ $rc -eq 1 ] && grep -q "another linegate runs XDP admission on lg0" "$T/second.err" ||
	lg_fail "a second linegate on lg0: status $rc: $(cat "$T/second.err")"
grep -q "took over" "$T/second.err" && lg_fail "the second linegate took the pins over"
# 2. The workers exported their sequences to XDP: frames 1..100 again, now more than a
# replay window (1024) below the verified sequence, die there.
sleep 0.3
send -n 100 -r 4000 -j "$T/sent2.json"
ENR2=$(lg_json "$T/sent2.json" "d['enrolled']")
lg_wait_value 10 "$ENR2" stat_of "d['xdp']['replayed']" ||
	lg_fail "xdp replayed $(stat_of "d['xdp']['replayed']"), want $ENR2"
# 3. A live apply through linegated (linegatectl as root) revokes 101 in the XDP maps.
"$LG_BIN_CTL" --socket "$T/u/d.sock" apply "$T/p2.yaml" > "$T/apply.out" 2>&1 ||
	{ cat "$T/apply.out" "$T/d.err" "$T/dp.err"; lg_fail "apply after the drop failed"; }
cat "$T/apply.out"
UNK0=$(stat_of "d['xdp']['unknown_device']")
ADM0=$(stat_of "d['admitted']")
# 101 and 102, 64 frames each, past every sequence sent so far: 101's die in XDP as
# unknown, 102's are admitted.
send -d 2 -n 64 -r 4000 --first-seq 5000 -j "$T/sent3.json"
lg_wait_value 10 $((UNK0 + 64)) stat_of "d['xdp']['unknown_device']" ||
	lg_fail "xdp unknown_device $(stat_of "d['xdp']['unknown_device']"), want $((UNK0 + 64))"
lg_wait_value 10 $((ADM0 + 64)) stat_of "d['admitted']" ||
	lg_fail "admitted $(stat_of "d['admitted']"), want $((ADM0 + 64))"
# 4. Both control sockets answer: status through linegated reaches linegate.
"$LG_BIN_CTL" --socket "$T/u/d.sock" status > "$T/status.out" || lg_fail "status failed"
grep -q '"in_sync": *true\|in_sync: *true\|in sync' "$T/status.out" ||
	{ cat "$T/status.out"; lg_fail "status: linegated is not in sync with linegate"; }

kill -INT $DP_PID $D_PID
wait $DP_PID || { cat "$T/dp.err"; lg_fail "linegate exited with status $?"; }
wait $D_PID || { cat "$T/d.err"; lg_fail "linegated exited with status $?"; }
LG_PIDS=""
python3 - "$T/u/stats.json" "$T/sent1.json" "$T/u/out.jsonl" <<'PY'
import json, sys
from lgcheck import check, done
st, s1 = (json.load(open(f)) for f in sys.argv[1:3])
lines = sum(1 for l in open(sys.argv[3]) if '"score"' in l)
dev = {v["id"]: v for v in st["devices"]}
check("102 admitted", dev[102]["admitted"], 1200 + 64)
check("windows scored", st["scored"] > 0 and st["scored"] == st["windows"], True)
check("workers bad_tag", st["drops"]["bad_tag"], 0)
done()
PY

# 5. The root part of a start opens nothing on the user's say-so (a new user's trial found
# both): a state file the user replaced with a link to a root-only file, and a JSON lines
# file (the policy's, which the user may write under the package) that is a root-only file
# or would be made in a root-only folder. Each start is refused; no root file is written,
# made or handed over. And --user root is refused like --user 0.
printf 'rootdata\n' > "$T/victim-state"
printf 'secret\n' > "$T/victim-out"
chmod 600 "$T/victim-state" "$T/victim-out"
mkdir -m 755 "$T/rootonly"
rm -f "$STATE_DIRECTORY/replay.hwm"
ln -s "$T/victim-state" "$STATE_DIRECTORY/replay.hwm"
chown -h $U:$U "$STATE_DIRECTORY/replay.hwm"
hostile() { # OUTPUT: a start as the user that must be refused
	local rc=0
	nsenter --net=/var/run/netns/$NS_SRV timeout 20 "$LG_BIN_DP" -p "$T/policy.yaml" \
		-B $SRV_IP -o "$1" --no-xdp-pin --user $U 2> "$T/hostile.err" || rc=$?
	[ $rc -eq 1 ] || { cat "$T/hostile.err"; lg_fail "a start with $1: status $rc, want 1"; }
}
hostile "$T/u/out2.jsonl"
grep -q "$STATE_DIRECTORY/replay.hwm is a symbolic link: refused" "$T/hostile.err" ||
	lg_fail "state link: $(cat "$T/hostile.err")"
rm -f "$STATE_DIRECTORY/replay.hwm"
# applied.json (the last applied policy) likewise: refused as a link, naming the file, not
# taken for the boot file's error with a start from the boot file.
rm -f "$STATE_DIRECTORY/applied.json"
ln -s "$T/victim-state" "$STATE_DIRECTORY/applied.json"
chown -h $U:$U "$STATE_DIRECTORY/applied.json"
hostile "$T/u/out2.jsonl"
grep -q "the state folder: $STATE_DIRECTORY/applied.json is a symbolic link: refused" \
	"$T/hostile.err" || lg_fail "applied.json link: $(cat "$T/hostile.err")"
rm -f "$STATE_DIRECTORY/applied.json"
# The hint says what is wrong: the file (root's, or a link to it), or its folder (re-check
# trial 12: "its folder must let the user write it" was said of a root-only file too).
hostile "$T/victim-out"
grep -q "victim-out: Permission denied (with --user, the JSON lines file is opened as uid $U: the file is uid 0's, mode 0600, not uid $U's: give it to uid $U (chown $U $T/victim-out)" "$T/hostile.err" ||
	lg_fail "root-only JSON lines file: $(cat "$T/hostile.err")"
ln -s "$T/victim-out" "$T/u/link.jsonl"
chown -h $U:$U "$T/u/link.jsonl"
hostile "$T/u/link.jsonl"
grep -q "link.jsonl: Permission denied (with --user, the JSON lines file is opened as uid $U: $T/u/link.jsonl is a link, to a file uid $U may not write" "$T/hostile.err" ||
	lg_fail "a link to a root-only JSON lines file: $(cat "$T/hostile.err")"
rm -f "$T/u/link.jsonl"
hostile "$T/rootonly/made-by-root.jsonl"
grep -q "made-by-root.jsonl: Permission denied (with --user, the JSON lines file is opened as uid $U: its folder must let uid $U reach it and make files in it)" "$T/hostile.err" ||
	lg_fail "a JSON lines file in a root-only folder: $(cat "$T/hostile.err")"
[ ! -e "$T/rootonly/made-by-root.jsonl" ] || lg_fail "a file was made in a root-only folder"
[ "$(cat "$T/victim-state")" = rootdata ] && [ "$(stat -c %u:%s "$T/victim-state")" = 0:9 ] ||
	lg_fail "the root file behind the state link changed: $(stat -c %u:%s "$T/victim-state")"
[ "$(cat "$T/victim-out")" = secret ] && [ "$(stat -c %u:%s "$T/victim-out")" = 0:7 ] ||
	lg_fail "the root JSON lines file changed: $(stat -c %u:%s "$T/victim-out")"
rc=0
"$LG_BIN_DP" -p "$T/policy.yaml" --user root 2> "$T/root.err" || rc=$?
[ $rc -eq 2 ] && grep -q "is uid 0 (root)" "$T/root.err" || lg_fail "--user root: $rc $(cat "$T/root.err")"
echo PASS
