#!/usr/bin/env bash
# --backend NAME:OPTIONS as an operator meets it: options read back and reported at start,
# a bad option or an unknown backend refused with a message that says what is accepted.
set -uo pipefail
LG=$LG_BUILD/dataplane/linegate
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
port=$(python3 -c "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
cp "$LG_SOURCE"/control/defaults/*.* "$T/"
# Key files readable by their owner only (git keeps them 0644, which the parser refuses).
mkdir -m 700 "$T/keys"
cp "$LG_SOURCE"/control/defaults/keys/*.key "$LG_SOURCE"/tests/fixtures/pcap/keys/*.key "$T/keys/"
chmod 600 "$T"/keys/*.key
sed "s#^  model: .*#  model: $LG_SOURCE/control/defaults/model.json#" \
	"$LG_SOURCE/tests/fixtures/pcap/policy.yaml" > "$T/pcap-policy.yaml"
sed -e "s/^port: .*/port: $port/" -e "s/^uadp_port: .*/uadp_port: 0/" "$LG_SOURCE/control/defaults/policy.yaml" > "$T/p.yaml"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

"$LG" -p "$T/p.yaml" -B 127.0.0.1 -b uring:busy_poll=50 -o /dev/null 2> "$T/ok.err" &
pid=$!
for _ in $(seq 300); do grep -q 'worker(s), uring backend, LGF on UDP port' "$T/ok.err" && break; sleep 0.1; done
kill -INT $pid; wait $pid || fail "linegate with busy_poll=50 exited $?: $(cat "$T/ok.err")"
grep -q "worker 0: uring backend, .*busy poll 50 us" "$T/ok.err" ||
	fail "busy_poll=50 not read back: $(cat "$T/ok.err")"

# How completions reach the worker (issue 10): by default COOP_TASKRUN (5.19 on), read
# back at start; taskrun=MODE that mode.
for opt in "" ":taskrun=coop" ":taskrun=defer" ":taskrun=ipi"; do
	"$LG" -p "$T/p.yaml" -B 127.0.0.1 -b "uring$opt" -o /dev/null 2> "$T/tr.err" &
	pid=$!
	for _ in $(seq 300); do grep -q 'worker(s), uring backend, LGF on UDP port' "$T/tr.err" && break; sleep 0.1; done
	kill -INT $pid; wait $pid || fail "linegate -b uring$opt exited $?: $(cat "$T/tr.err")"
	case "$opt" in
	"") if [ "$(printf '%s\n' 5.19 "$(uname -r)" | sort -V | head -1)" = 5.19 ]; then
		want="task work cooperative (COOP_TASKRUN)"
	    else
		want="task work "
	    fi ;;
	*defer) want="task work deferred to the worker" ;;
	*coop) want="task work cooperative (COOP_TASKRUN" ;;
	*ipi) want="task work by IPI" ;;
	esac
	grep -q "worker 0: uring backend, .*$want" "$T/tr.err" ||
		fail "uring$opt: '$want' not read back: $(cat "$T/tr.err")"
done
"$LG" -p "$T/p.yaml" -B 127.0.0.1 -b uring:taskrun=fast -o /dev/null 2> "$T/bad3.err" &&
	fail "taskrun=fast was accepted"
grep -q "taskrun=coop|defer|ipi" "$T/bad3.err" || fail "taskrun=fast message: $(cat "$T/bad3.err")"

"$LG" -p "$T/p.yaml" -B 127.0.0.1 -b uring:busy=5 -o /dev/null 2> "$T/bad.err" &&
	fail "an unknown uring option was accepted"
grep -q "unknown option or value 'busy=5' (busy_poll=USEC" "$T/bad.err" ||
	fail "bad option message: $(cat "$T/bad.err")"
"$LG" -p "$T/p.yaml" -B 127.0.0.1 -b uring:busy_poll=-1 -o /dev/null 2> "$T/bad2.err" &&
	fail "busy_poll=-1 was accepted"

# A repeated option is refused, not decided by the last one (trial: file=A,file=B read B).
"$LG" -p "$T/p.yaml" -B 127.0.0.1 -b uring:busy_poll=5,taskrun=coop,busy_poll=50 \
	-o /dev/null 2> "$T/rep.err" && fail "a repeated uring option was accepted"
grep -q "uring backend: option 'busy_poll' is given more than once: each option once" "$T/rep.err" ||
	fail "repeated option message: $(cat "$T/rep.err")"
# The seam refuses it for every backend (lg_backend_setup()), before the backend's own
# setup: DPDK's EAL is never started for it; its repeatable keys (vdev) stay repeatable.
if "$LG" --help | grep '^  dpdk:' > /dev/null; then
	"$LG" -p "$T/p.yaml" -b dpdk:port=0,mbufs=512,port=1 -o /dev/null 2> "$T/drep.err" &&
		fail "a repeated dpdk option was accepted"
	grep -q "dpdk backend: option 'port' is given more than once: each option once" \
		"$T/drep.err" || fail "repeated dpdk option: $(cat "$T/drep.err")"
	grep -q "EAL" "$T/drep.err" && fail "the EAL started for a refused option string"
fi

"$LG" -p "$T/p.yaml" -b nosuch -o /dev/null 2> "$T/unk.err"
[ $? -eq 2 ] || fail "an unknown backend does not exit 2"
grep -q "unknown backend 'nosuch' (this build has: uring" "$T/unk.err" ||
	fail "unknown backend message: $(cat "$T/unk.err")"

"$LG" -p "$T/p.yaml" -b afxdp -o /dev/null 2> "$T/x.err" && fail "afxdp without --xdp started"
grep -q "needs --xdp IFACE" "$T/x.err" || fail "afxdp without --xdp: $(cat "$T/x.err")"

# --workers takes a whole number 1..64 and nothing else.
for w in 0 65 2x 4294967297 -1; do
	"$LG" -p "$T/p.yaml" -w "$w" -o /dev/null 2> "$T/w.err"
	[ $? -eq 2 ] && grep -q -- "--workers must be 1..64" "$T/w.err" ||
		fail "--workers $w accepted or not explained: $(cat "$T/w.err")"
done

# Final counters that cannot be written make the run fail, not just a line on stderr.
if "$LG" --help | grep '^  pcap:' > /dev/null; then
	"$LG" -p "$T/pcap-policy.yaml" -o /dev/null -s /dev/full \
		-b "pcap:file=$LG_SOURCE/tests/fixtures/pcap/lgf.pcap" 2> "$T/s.err"
	[ $? -eq 1 ] && grep -q -- "--stats-out /dev/full: No space left" "$T/s.err" ||
		fail "--stats-out to a full device did not fail the run: $(tail -2 "$T/s.err")"
	"$LG" -p "$T/pcap-policy.yaml" -o /dev/null \
		-b "pcap:file=$LG_SOURCE/tests/fixtures/pcap/lgf.pcap,file=/nonexistent.pcap" \
		2> "$T/f2.err" && fail "pcap with file= twice was accepted"
	grep -q "pcap backend: option 'file' is given more than once" "$T/f2.err" ||
		fail "pcap file= twice: $(tail -1 "$T/f2.err")"
	# loop= takes digits only: strtoul alone let a sign or a leading space through.
	for l in +2 " 2" 0 -1 2x 1000001; do
		"$LG" -p "$T/pcap-policy.yaml" -o /dev/null \
			-b "pcap:file=$LG_SOURCE/tests/fixtures/pcap/lgf.pcap,loop=$l" 2> "$T/l.err" &&
			fail "loop=$l was accepted"
		grep -q "loop=$l is not a number of passes" "$T/l.err" ||
			fail "loop=$l not explained: $(tail -1 "$T/l.err")"
	done
	# docs/replay.md quotes the refusal of a bad pace= as linegate prints it.
	"$LG" -p "$T/pcap-policy.yaml" -o /dev/null \
		-b "pcap:file=$LG_SOURCE/tests/fixtures/pcap/lgf.pcap,pace=fast" 2> "$T/pace.err" &&
		fail "pace=fast was accepted"
	doc=$(grep -m1 '^linegate: pcap backend: pace=fast' "$LG_SOURCE/docs/replay.md")
	[ -n "$doc" ] && grep -qxF "$doc" "$T/pace.err" ||
		fail "docs/replay.md's pace error ($doc) is not linegate's: $(tail -1 "$T/pace.err")"
	# A replay has no state folder: the start line says so, not "state in none".
	"$LG" -p "$T/pcap-policy.yaml" -o /dev/null \
		-b "pcap:file=$LG_SOURCE/tests/fixtures/pcap/lgf.pcap" 2> "$T/st.err" ||
		fail "the replay failed: $(tail -2 "$T/st.err")"
	grep -q "^linegate: policy: the boot file .*(a finite stream: no state folder is read or written)$" \
		"$T/st.err" || fail "the replay's policy line: $(grep 'policy:' "$T/st.err")"
	grep -q "state in none" "$T/st.err" && fail "the replay's start line says 'state in none'"
	# Another user's symlink in a sticky world-writable folder (/tmp with
	# fs.protected_symlinks = 0, as in containers) is not followed by -o, --stats-out, nor
	# linegate-loadgen's -j, --ground-truth and --pcap: root appended its scores to the file
	# such a link named, and loadgen replaced it (trial J F16).
	if [ "$(id -u)" = 0 ]; then
		GEN=$LG_BUILD/bench/linegate-loadgen
		mkdir -m 1777 "$T/sticky"
		echo secret > "$T/victim"
		for n in out.jsonl stats.json sent.json truth.jsonl sent.pcap; do
			ln -s "$T/victim" "$T/sticky/$n"
			chown -h 65534 "$T/sticky/$n"
		done
		"$LG" -p "$T/pcap-policy.yaml" -o "$T/sticky/out.jsonl" \
			-b "pcap:file=$LG_SOURCE/tests/fixtures/pcap/lgf.pcap" 2> "$T/sym.err"
		[ $? -eq 1 ] && grep -q "^linegate: $T/sticky/out.jsonl is a symlink owned by another user (uid 65534) in the world-writable sticky folder $T/sticky: not followed" \
			"$T/sym.err" || fail "-o through another user's symlink: $(tail -2 "$T/sym.err")"
		"$LG" -p "$T/pcap-policy.yaml" -o /dev/null -s "$T/sticky/stats.json" \
			-b "pcap:file=$LG_SOURCE/tests/fixtures/pcap/lgf.pcap" 2> "$T/sym.err"
		[ $? -eq 1 ] && grep -q "^linegate: --stats-out $T/sticky/stats.json is a symlink owned by another user" \
			"$T/sym.err" || fail "-s through another user's symlink: $(tail -2 "$T/sym.err")"
		for o in "-j $T/sticky/sent.json" "--ground-truth $T/sticky/truth.jsonl" \
			"--pcap $T/sticky/sent.pcap"; do
			"$GEN" -p "$T/p.yaml" -t 127.0.0.1 -n 2 -f 103:1:bearing \
				--pcap "$T/gen.pcap" $o > /dev/null 2> "$T/sym.err"
			[ $? -ne 0 ] && grep -q "is a symlink owned by another user (uid 65534)" \
				"$T/sym.err" || fail "loadgen $o: $(tail -2 "$T/sym.err")"
		done
		[ "$(cat "$T/victim")" = secret ] ||
			fail "the file another user's symlink named was written: $(head -c 300 "$T/victim")"
		# the caller's own link is followed, as the kernel would
		ln -s "$T/own.jsonl" "$T/sticky/own.jsonl"
		"$LG" -p "$T/pcap-policy.yaml" -o "$T/sticky/own.jsonl" \
			-b "pcap:file=$LG_SOURCE/tests/fixtures/pcap/lgf.pcap" 2> "$T/sym.err" ||
			fail "-o through root's own link: $(tail -2 "$T/sym.err")"
		[ -s "$T/own.jsonl" ] || fail "-o through root's own link wrote nothing"
	fi
fi

echo "backend_options: $fails failed"
exit $((fails ? 1 : 0))
