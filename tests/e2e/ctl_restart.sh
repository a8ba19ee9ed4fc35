#!/usr/bin/env bash
# linegated's crash recovery, restarts and versions (docs/operations.md, "Crash recovery"):
# - kill -9 at each phase of an apply (LINEGATED_TEST_CRASH_AT, test only), restart: the
#   audit has the intent and a "reconciled" line saying what really happened (not applied
#   after the intent; applied after the push or the persist), and linegated's running hash
#   equals the data plane's;
# - restarts of linegated under traffic (SIGINT and kill -9): it adopts the running
#   generation, no push (no intent, the data plane's apply count unchanged), no frame lost
#   (exact counts from the load generator's sent file and the data plane's stats);
# - the start rule: boot file unchanged -> the last applied version; boot file changed ->
#   the boot file as the next version, every earlier one kept (rollback 1 reaches the first
#   run); a crash after the push of an enrollment verb: the boot file is that version, kept
#   at the restart, no new version, nothing deleted;
# - history, rollback to the boot version (1), apply --dry-run changing nothing;
# - the audit log and the state folder are not readable by others (an existing 0644 audit
#   log is made 0600).
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgcr$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
cp "$T/policy.yaml" "$T/v1.yaml"
# v2, v3: the same devices with other batch sizes (live fields): every frame stays admitted.
sed 's/^  batch: 16 /  batch: 4  /' "$T/v1.yaml" > "$T/v2.yaml"
sed 's/^  batch: 16 /  batch: 8  /' "$T/v1.yaml" > "$T/v3.yaml"
cmp -s "$T/v1.yaml" "$T/v2.yaml" && lg_fail "v2 is not different from v1"
sha() { sha256sum "$1" | cut -d' ' -f1; }
H1=$(sha "$T/v1.yaml") H2=$(sha "$T/v2.yaml") H3=$(sha "$T/v3.yaml")
CTL() { "$LG_BIN_CTL" -s "$T/d.sock" "$@"; }
dp_field() { lg_ctl "$T/dp.sock" '{"cmd": "status"}' "$1" | tr -d '"'; }
d_field() { lg_ctl "$T/d.sock" '{"cmd": "status"}' "$1" | tr -d '"'; }
applies() { lg_dp_stats "$T/s.json" && lg_json "$T/s.json" "d['policy_applies']"; }
intents() { grep -c '"phase":"intent"' "$T/audit.jsonl" || true; }
start_d() { rm -f "$T/d.sock"; lg_start_linegated "$@"; }
same_hash() {
	local d p
	d=$(d_field policy_sha256) p=$(dp_field policy_sha256)
	[ "$d" = "$p" ] || lg_fail "$1: linegated runs ${d:0:8}, the data plane ${p:0:8}"
	[ "$p" = "$2" ] || lg_fail "$1: the data plane runs ${p:0:8}, want ${2:0:8}"
}

lg_start_linegate
# An audit log others may read is made 0600, and linegated says so.
echo '{"note":"an old line"}' > "$T/audit.jsonl"
chmod 0644 "$T/audit.jsonl"
start_d 2> "$T/d0.err"
[ "$(stat -c %a "$T/audit.jsonl")" = 600 ] || lg_fail "the audit log stayed mode $(stat -c %a "$T/audit.jsonl")"
grep -q "audit.jsonl was mode 0644: made it 0600" "$T/d0.err" || lg_fail "no word of the audit log's mode: $(cat "$T/d0.err")"
same_hash "first start" "$H1"

# kill -9 between the phases of an apply, then a restart.
want_after=(after-intent:"not applied":old after-push:applied:new after-persist:applied:new)
target=v2
for case in "${want_after[@]}"; do
	IFS=: read -r phase result which <<< "$case"
	old=$(dp_field policy_sha256)
	new=$(sha "$T/$target.yaml")
	kill -INT "$D_PID"; wait "$D_PID" || lg_fail "linegated did not stop cleanly"
	LINEGATED_TEST_CRASH_AT=$phase start_d
	rc=0
	CTL apply "$T/$target.yaml" 2> "$T/crash.err" || rc=$?
	[ $rc -eq 1 ] || lg_fail "$phase: linegatectl exited $rc"
	grep -q 'no reply\|closed' "$T/crash.err" || lg_fail "$phase: $(cat "$T/crash.err")"
	rc=0; wait "$D_PID" || rc=$?
	[ $rc -eq 137 ] || lg_fail "$phase: linegated ended with $rc, not killed"
	seq=$(tail -1 "$T/audit.jsonl" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["seq"] if d["phase"] == "intent" else "")')
	[ -n "$seq" ] || lg_fail "$phase: the last audit line is not the intent: $(tail -1 "$T/audit.jsonl")"
	start_d
	python3 - "$T/audit.jsonl" "$seq" "$result" "$new" <<'PY' || lg_fail "$phase: audit: $(tail -3 "$T/audit.jsonl")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
seq, result, new = int(sys.argv[2]), sys.argv[3], sys.argv[4]
mine = [(l["phase"], l.get("result"), l.get("policy_sha256")) for l in lines if l.get("seq") == seq]
want = [("intent", None, new), ("reconciled", result, new)]
print(f"audit seq {seq}: {mine}")
sys.exit(0 if mine == want else 1)
PY
	if [ "$which" = new ]; then same_hash "$phase" "$new"; else same_hash "$phase" "$old"; fi
	[ "$which" = old ] || target=$([ "$target" = v2 ] && echo v3 || echo v2)
done
# after-push: the reconciled policy became a version (it had been pushed, not kept).
CTL history > "$T/h.json"
python3 - "$T/h.json" "$(dp_field policy_sha256)" <<'PY' || lg_fail "history: $(cat "$T/h.json")"
import json, sys
h = json.load(open(sys.argv[1])); cur = [v for v in h["versions"] if v["current"]]
print("history:", [(v["version"], v["sha256"][:8], v["what"]) for v in h["versions"]])
sys.exit(0 if len(cur) == 1 and cur[0]["sha256"] == sys.argv[2] and len(h["versions"]) == 3 else 1)
PY

# Restarts under traffic: adopted, never pushed, no frame lost.
a0=$(applies) i0=$(intents)
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/v1.yaml" -t $SRV_IP -S $LINE_IP -n 400 -r 1600 \
	-j "$T/sent.json" -q &
GEN=$!
sleep 0.3
for sig in INT KILL INT; do
	kill -$sig "$D_PID"; wait "$D_PID" || true
	start_d
	grep -q '"what":"start","result":"adopted"' <(tail -1 "$T/audit.jsonl") ||
		lg_fail "restart after SIG$sig did not adopt: $(tail -1 "$T/audit.jsonl")"
	sleep 0.2
done
wait $GEN || lg_fail "load generator failed"
[ "$(applies)" = "$a0" ] || lg_fail "restarts pushed: policy_applies $a0 -> $(applies)"
[ "$(intents)" = "$i0" ] || lg_fail "restarts wrote intents: $i0 -> $(intents)"
sent=$(lg_json "$T/sent.json" "d['sent']")
got_all() { lg_dp_stats "$T/s.json" && [ "$(lg_json "$T/s.json" "d['received']")" = "$sent" ]; }
lg_wait_for 10 got_all || lg_fail "received $(lg_json "$T/s.json" "d['received']") of $sent"
[ "$(lg_json "$T/s.json" "d['admitted']")" = "$(lg_json "$T/sent.json" "d['enrolled']")" ] ||
	lg_fail "admitted $(lg_json "$T/s.json" "d['admitted']") of $(lg_json "$T/sent.json" "d['enrolled']") enrolled frames"
echo "restarts under traffic: $sent sent, $(lg_json "$T/s.json" "d['admitted']") admitted, 0 pushes"

# The start rule. Boot file unchanged: the last applied version, adopted.
running=$(dp_field policy_sha256)
[ "$running" != "$H1" ] || lg_fail "expected a version other than the boot file to run"
kill -INT "$D_PID"; wait "$D_PID"
start_d
same_hash "boot file unchanged" "$running"
# Boot file changed while linegated was down: the boot file, pushed, as the next version;
# every earlier version stays (a restart once deleted them and began again at version 1).
nfiles() { find "$T/state/versions" -type f | wc -l; }
N=$(d_field version) F0=$(nfiles)
kill -INT "$D_PID"; wait "$D_PID"
[ "$F0" = $((2 * N)) ] || lg_fail "versions/ has $F0 files for $N versions"
cp "$T/state/versions/1.yaml" "$T/kept1.yaml"
sed -i 's/^  deadline_ms: 50 /  deadline_ms: 40 /' "$T/policy.yaml"
HB=$(sha "$T/policy.yaml")
i0=$(intents)
start_d 2> "$T/d1.err"
same_hash "boot file changed" "$HB"
[ "$(intents)" = $((i0 + 1)) ] || lg_fail "the changed boot file was not pushed once"
VB=$((N + 1))
[ "$(d_field version)" = $VB ] || lg_fail "the boot file is version $(d_field version), want $VB"
[ "$(nfiles)" = $((2 * VB)) ] || lg_fail "versions/ has $(nfiles) files, want $((2 * VB))"
cmp -s "$T/state/versions/1.yaml" "$T/kept1.yaml" || lg_fail "version 1 changed"
grep -q "starting from the boot file .* as the next version (it changed since version $N was applied)" \
	"$T/d1.err" || lg_fail "start line: $(cat "$T/d1.err")"
CTL history > "$T/h0.json"

# History, rollback to the boot version, dry run.
CTL apply "$T/v2.yaml" > /dev/null
CTL apply "$T/v3.yaml" > /dev/null
same_hash "v3 applied" "$H3"
# The same file again: applied, and it stays the version it is (a copy as the next version
# made the rollback below return to v3 itself)
CTL apply "$T/v3.yaml" > "$T/again.txt" || lg_fail "apply v3 again: $(cat "$T/again.txt")"
grep -q "^applied: [0-9]* devices (version $((VB + 2)): the same text as that version, kept as it)" \
	"$T/again.txt" || lg_fail "v3 applied again: $(cat "$T/again.txt")"
CTL rollback > "$T/rb.txt" || lg_fail "rollback: $(cat "$T/rb.txt")"
same_hash "rollback (the one before)" "$H2"
CTL rollback $VB > "$T/rb.txt" || lg_fail "rollback $VB: $(cat "$T/rb.txt")"
same_hash "rollback to the boot version" "$HB"
a0=$(applies) i0=$(intents) v0=$(d_field version)
CTL --raw apply --dry-run "$T/v3.yaml" > "$T/dry.json" || lg_fail "dry run: $(cat "$T/dry.json")"
grep -q '"dry_run": *true' "$T/dry.json" || lg_fail "dry run reply: $(cat "$T/dry.json")"
grep -q '"settings_changed": *true' "$T/dry.json" || lg_fail "dry run shows no diff: $(cat "$T/dry.json")"
# As an operator reads it: the change field by field, then what was (not) done.
CTL apply --dry-run "$T/v3.yaml" > "$T/dry.txt" || lg_fail "dry run: $(cat "$T/dry.txt")"
[ "$(head -1 "$T/dry.txt")" = "detection.batch: 16 -> 8 (live)" ] &&
	grep -q 'dry run: nothing applied$' "$T/dry.txt" ||
	lg_fail "dry run as printed: $(cat "$T/dry.txt")"
# A start-only change: the dry run says an apply would be refused, and why.
sed 's/^port: .*/port: 4799/' "$T/v3.yaml" > "$T/port.yaml"
CTL apply --dry-run "$T/port.yaml" > "$T/dry2.txt" || lg_fail "dry run: $(cat "$T/dry2.txt")"
grep -q '^port: .* -> 4799 (start-only)$' "$T/dry2.txt" &&
	grep -q 'an apply would be refused: port: .* is start-only' "$T/dry2.txt" ||
	lg_fail "dry run of a port change: $(cat "$T/dry2.txt")"
CTL diff "$T/port.yaml" > "$T/diff2.txt" || lg_fail "diff: $(cat "$T/diff2.txt")"
grep -q '^valid: .*; an apply would be refused: port: .* is start-only' "$T/diff2.txt" ||
	lg_fail "diff of a port change: $(cat "$T/diff2.txt")"
same_hash "dry run" "$HB"
[ "$(applies)" = "$a0" ] && [ "$(intents)" = "$i0" ] && [ "$(d_field version)" = "$v0" ] ||
	lg_fail "the dry run changed something"
CTL history > "$T/h.json"
python3 - "$T/h.json" "$T/h0.json" "$HB" "$H2" "$H3" "$VB" <<'PY' || lg_fail "history after rollbacks: $(cat "$T/h.json")"
import json, sys
h, h0 = (json.load(open(f)) for f in sys.argv[1:3]); hb, h2, h3 = sys.argv[3:6]; vb = int(sys.argv[6])
got = [(v["version"], v["sha256"], v["what"], v["current"]) for v in h["versions"]]
before = [(v["version"], v["sha256"], v["what"], False) for v in h0["versions"]]
want = before + [(vb + 1, h2, "apply", False), (vb + 2, h3, "apply", False),
                 (vb + 3, h2, f"rollback to version {vb + 1}", False),
                 (vb + 4, hb, f"rollback to version {vb}", True)]
print("history:", [(v, s[:8], w, c) for v, s, w, c in got])
sys.exit(0 if got == want and len(before) == vb and before[-1][1:3] == (hb, "boot") else 1)
PY
CTL rollback 99 2> "$T/rb.err" && lg_fail "rollback to a version that does not exist worked"
grep -q 'no version 99' "$T/rb.err" || lg_fail "rollback 99: $(cat "$T/rb.err")"
# On the API only a JSON integer names a version: anything else is refused and applies
# nothing (a string, a fraction, a boolean or null once rolled back to the version before).
a0=$(applies) i0=$(intents) v0=$(d_field version) h0=$(dp_field policy_sha256)
for bad in '"abc"' 1.5 '"2"' null true '[2]'; do
	lg_ctl "$T/d.sock" "{\"cmd\": \"rollback\", \"version\": $bad}" > "$T/rbv.json" || true
	python3 - "$T/rbv.json" "$bad" <<'PY' || lg_fail "rollback version $bad: $(cat "$T/rbv.json")"
import json, sys
r = json.load(open(sys.argv[1]))
want = '"version" must be a JSON integer (a version from linegatectl history), not %s: ' \
       'nothing applied' % json.dumps(json.loads(sys.argv[2]), separators=(",", ":"))
sys.exit(0 if r.get("ok") is False and r.get("error") == want else 1)
PY
done
[ "$(applies)" = "$a0" ] && [ "$(intents)" = "$i0" ] && [ "$(d_field version)" = "$v0" ] &&
	[ "$(dp_field policy_sha256)" = "$h0" ] || lg_fail "a refused rollback version changed something"
# Every earlier version can be rolled back to, those from before the boot file changed too.
CTL rollback 1 > "$T/rb.txt" || lg_fail "rollback 1: $(cat "$T/rb.txt")"
same_hash "rollback to version 1 (from before the boot file changed)" "$H1"

# A crash after the push of an enrollment verb, which rewrites the boot file and applies it:
# at the restart the boot file is that version (kept from pending.yaml), not a change since
# (it once was, and the restart deleted every other version).
CTL apply "$T/policy.yaml" > /dev/null # the verbs edit the boot file only while it runs
kill -INT "$D_PID"; wait "$D_PID"
LINEGATED_TEST_CRASH_AT=after-push start_d
NV=$(($(d_field version) + 1))
rc=0; CTL devices enroll --id 301 --name crash-1 --source $LINE_IP 2> "$T/enr.err" || rc=$?
[ $rc -eq 1 ] || lg_fail "enroll with a crash after the push exited $rc: $(cat "$T/enr.err")"
rc=0; wait "$D_PID" || rc=$?
[ $rc -eq 137 ] || lg_fail "enroll: linegated ended with $rc, not killed"
HE=$(sha "$T/policy.yaml")
grep -q 'name: crash-1' "$T/policy.yaml" || lg_fail "the enrollment did not rewrite the boot file"
i0=$(intents) a0=$(applies)
start_d 2> "$T/d2.err"
same_hash "enroll cut short after its push" "$HE"
grep -q "cut short: the data plane runs it; kept as version $NV\$" "$T/d2.err" &&
	grep -q "starting from the last applied version $NV (" "$T/d2.err" ||
	lg_fail "restart after the enrollment's crash: $(cat "$T/d2.err")"
[ "$(intents)" = "$i0" ] && [ "$(applies)" = "$a0" ] || lg_fail "the restart pushed"
[ "$(d_field version)" = $NV ] || lg_fail "version $(d_field version) after the restart, want $NV"
[ "$(nfiles)" = $((2 * NV)) ] || lg_fail "versions/ has $(nfiles) files, want $((2 * NV))"
CTL history > "$T/h.json"
python3 - "$T/h.json" "$NV" "$HE" <<'PY' || lg_fail "history after the enrollment's crash: $(cat "$T/h.json")"
import json, sys
h = json.load(open(sys.argv[1])); nv = int(sys.argv[2])
got = [(v["version"], v["current"]) for v in h["versions"]]
last = h["versions"][-1]
sys.exit(0 if got == [(v, v == nv) for v in range(1, nv + 1)] and
         (last["sha256"], last["what"]) == (sys.argv[3], "devices_enroll") else 1)
PY
# And once more: the boot file is unchanged since that version, which is adopted.
kill -INT "$D_PID"; wait "$D_PID"
start_d
same_hash "restart after the enrollment" "$HE"
[ "$(d_field version)" = $NV ] && [ "$(nfiles)" = $((2 * NV)) ] && [ "$(intents)" = "$i0" ] ||
	lg_fail "second restart: version $(d_field version), $(nfiles) files"

# A verb's history names the verb, the device and its name; a rollback refused names the
# version it tried to return to and when that was applied, then the reason (the revoke
# deleted the key file the earlier version needs).
CTL devices revoke 301 > "$T/rev.txt" || lg_fail "revoke 301: $(cat "$T/rev.txt")"
HE=$(sha "$T/policy.yaml")
CTL history > "$T/h.json"
python3 - "$T/h.json" <<'PY' || lg_fail "history of the revoke: $(cat "$T/h.json")"
import json, sys
last = json.load(open(sys.argv[1]))["versions"][-1]
print("history, last:", last["what"])
sys.exit(0 if last["what"] == "devices revoke 301 (crash-1)" and last["current"] else 1)
PY
when=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["time"])' "$T/state/versions/$NV.json")
a0=$(applies)
rc=0; CTL rollback 2> "$T/rb.err" || rc=$?
echo "rollback past the revoke: $(cat "$T/rb.err")"
[ $rc -eq 1 ] || lg_fail "a rollback to a version whose key file is gone exited $rc"
grep -q "^linegatectl: version $NV (applied $when): .*keys/crash-1.key" "$T/rb.err" ||
	lg_fail "the refused rollback does not name version $NV, its time $when and the key file"
[ "$(applies)" = "$a0" ] && same_hash "refused rollback" "$HE"

# Drift: the data plane made to run another policy behind linegated's back. linegated looks
# every interval (200 ms here): one audit line and one log line per change of state, however
# many looks; in_sync in status; nothing pushed; back in sync by itself, or by an apply.
kill -INT "$D_PID"; wait "$D_PID"
start_d -i 200 2> "$T/d3.err"
drifts() { grep -c '"what":"drift"' "$T/audit.jsonl" || true; }
logs() { grep -c '^linegated: drift' "$T/d3.err" || true; }
in_sync_is() { [ "$(d_field in_sync)" = "$1" ]; }
drift_line() { # N RESULT LINEGATED_HASH DATAPLANE_HASH: the Nth drift line of the audit
	grep '"what":"drift"' "$T/audit.jsonl" | sed -n "$1p" | python3 -c '
import json, sys
l = json.load(sys.stdin); want = sys.argv[1:4]
got = [l["result"], l["policy_sha256"], l["dataplane_policy_sha256"]]
sys.exit(0 if got == want and l["phase"] == "event" else 1)' "$2" "$3" "$4" ||
		lg_fail "drift line $1: want $2 $3 $4: $(grep '"what":"drift"' "$T/audit.jsonl")"
}
[ "$(drifts)" = 0 ] && in_sync_is true || lg_fail "drift before any: $(drifts) lines, in_sync $(d_field in_sync)"
i0=$(intents) a0=$(applies)
[ "$(lg_dp_apply "$T/dp.sock" "$T/v2.yaml" | cut -c1-3)" = "ok:" ] || lg_fail "apply v2 on linegate"
lg_wait_for 5 in_sync_is false || lg_fail "no drift noticed: $(cat "$T/d3.err")"
sleep 1.2 # six looks more
[ "$(drifts)" = 1 ] && [ "$(logs)" = 1 ] || lg_fail "drift: $(drifts) audit lines, $(logs) log lines, want 1 and 1"
drift_line 1 drifted "$HE" "$H2"
[ "$(d_field policy_sha256)" = "$HE" ] && [ "$(dp_field policy_sha256)" = "$H2" ] ||
	lg_fail "status during the drift"
[ "$(intents)" = "$i0" ] && [ "$(applies)" = $((a0 + 1)) ] || lg_fail "linegated pushed on a drift"
# The data plane back on linegated's policy by itself.
[ "$(lg_dp_apply "$T/dp.sock" "$T/policy.yaml" | cut -c1-3)" = "ok:" ] || lg_fail "apply back on linegate"
lg_wait_for 5 in_sync_is true || lg_fail "the return was not noticed: $(cat "$T/d3.err")"
sleep 1.2
[ "$(drifts)" = 2 ] && [ "$(logs)" = 2 ] || lg_fail "back: $(drifts) audit lines, $(logs) log lines, want 2 and 2"
drift_line 2 resolved "$HE" "$HE"
# Drift again, ended by an apply (it is not undone by itself).
[ "$(lg_dp_apply "$T/dp.sock" "$T/v3.yaml" | cut -c1-3)" = "ok:" ] || lg_fail "apply v3 on linegate"
lg_wait_for 5 in_sync_is false || lg_fail "the second drift was not noticed"
sleep 1.2
[ "$(drifts)" = 3 ] && [ "$(dp_field policy_sha256)" = "$H3" ] || lg_fail "second drift: $(drifts) lines"
drift_line 3 drifted "$HE" "$H3"
CTL apply "$T/policy.yaml" > "$T/apply-drift.out"
# The file is linegated's version: no change against it, but the data plane's did change.
grep -q "the data plane ran another policy than linegated's (drift): the changes above are against linegated's version, and the data plane now runs this one" \
	"$T/apply-drift.out" || lg_fail "the apply that ended the drift said: $(cat "$T/apply-drift.out")"
in_sync_is true || lg_fail "in_sync after the apply: $(d_field in_sync)"
sleep 1.2
[ "$(drifts)" = 4 ] && [ "$(logs)" = 4 ] || lg_fail "after the apply: $(drifts) audit lines, $(logs) log lines"
drift_line 4 resolved "$HE" "$HE"
grep '"what":"drift"' "$T/audit.jsonl" | tail -1 | grep -q 'again: linegated applied it' ||
	lg_fail "the last drift line does not say the apply ended it"
same_hash "after the drift" "$HE"

# A data plane that does not answer: stopped (SIGSTOP, hung), then dead. linegated's status
# answers within 3 s all the while (its looks wait 2 s, not the 30 s of a client), says
# in_sync false and why; each change is one audit line; back, in_sync is true again.
reach() { grep -c "\"what\":\"dataplane\",\"result\":\"$1\"" "$T/audit.jsonl" || true; }
timed_status() { # the reply's in_sync, after asserting it came within 3 s
	local t0 t1
	t0=$(date +%s%N)
	CTL --raw status > "$T/st.json" || lg_fail "linegatectl status failed"
	t1=$(date +%s%N)
	[ $(((t1 - t0) / 1000000)) -lt 3000 ] ||
		lg_fail "status took $(((t1 - t0) / 1000000)) ms with the data plane $1"
	echo "status with the data plane $1: $(((t1 - t0) / 1000000)) ms"
}
[ "$(reach not_answering)" = 0 ] || lg_fail "not_answering before any"
kill -STOP "$DP_PID"
stopped_sync() { timed_status stopped; [ "$(lg_json "$T/st.json" "d['in_sync']")" = False ]; }
lg_wait_for 10 stopped_sync || lg_fail "in_sync stayed true with the data plane stopped"
for i in 1 2 3 4 5; do timed_status stopped; sleep 0.3; done
python3 - "$T/st.json" <<'PY' || lg_fail "status with the data plane stopped: $(cat "$T/st.json")"
import json, sys
d = json.load(open(sys.argv[1]))
print("status:", d["in_sync"], d["dataplane"], "|", d.get("in_sync_why"))
sys.exit(0 if d["in_sync"] is False and d["dataplane"].startswith("not answering since ") and
         "no reply within 2 s" in d["dataplane"] and
         d["in_sync_why"].startswith("the data plane does not answer") else 1)
PY
[ "$(reach not_answering)" = 1 ] && [ "$(reach answering)" = 0 ] ||
	lg_fail "stopped: $(reach not_answering) not_answering lines, want 1"
kill -CONT "$DP_PID"
in_sync_true() { [ "$(d_field in_sync)" = true ]; }
lg_wait_for 10 in_sync_true || lg_fail "in_sync did not come back after SIGCONT"
[ "$(reach not_answering)" = 1 ] && [ "$(reach answering)" = 1 ] ||
	lg_fail "continued: $(reach not_answering) not_answering, $(reach answering) answering lines"
# Dead: refused at once; a new linegate (it starts from the last applied policy) ends it.
kill -INT "$DP_PID"; wait "$DP_PID" || lg_fail "linegate did not stop cleanly"
in_sync_false() { [ "$(d_field in_sync)" = false ]; }
lg_wait_for 5 in_sync_false || lg_fail "in_sync stayed true with the data plane gone"
timed_status gone
grep -q 'No such file\|refused' <(lg_json "$T/st.json" "d['dataplane']") ||
	lg_fail "status with the data plane gone: $(cat "$T/st.json")"
[ "$(reach not_answering)" = 2 ] || lg_fail "gone: $(reach not_answering) not_answering lines, want 2"
rm -f "$T/dp.sock"
lg_start_linegate
lg_wait_for 10 in_sync_true || lg_fail "in_sync did not come back with a new linegate"
[ "$(reach answering)" = 2 ] || lg_fail "back: $(reach answering) answering lines, want 2"
same_hash "after the data plane came back" "$HE"
[ "$(stat -c %a "$T/audit.jsonl")" = 600 ] || lg_fail "the audit log is mode $(stat -c %a "$T/audit.jsonl")"
[ "$(stat -c %a "$T/state")" = 700 ] || lg_fail "the state folder is mode $(stat -c %a "$T/state")"
# A second linegated on the running one's socket, or on its state folder, is refused before
# it writes or pushes anything; the first keeps its socket (trial R, s23: the second took the
# socket, and the first one's exit then removed it, as a restart that overlapped a stop did)
n0=$(intents)
rc=0; "$LG_BIN_D" -p "$T/policy.yaml" -S "$T/d.sock" -d "$T/dp.sock" -a "$T/audit2.jsonl" \
	-s "$T/state2" 2> "$T/d2.err" || rc=$?
[ $rc = 1 ] && grep -q "d.sock: another process listens on it" "$T/d2.err" ||
	lg_fail "a second linegated on the socket: rc $rc: $(cat "$T/d2.err")"
rc=0; "$LG_BIN_D" -p "$T/policy.yaml" -S "$T/d2.sock" -d "$T/dp.sock" -a "$T/audit2.jsonl" \
	-s "$T/state" 2> "$T/d3.err" || rc=$?
[ $rc = 1 ] && grep -q "is in use by another linegated" "$T/d3.err" ||
	lg_fail "a second linegated on the state folder: rc $rc: $(cat "$T/d3.err")"
[ ! -e "$T/audit2.jsonl" ] || lg_fail "a refused second linegated made its audit file"
[ -S "$T/d.sock" ] && CTL status > /dev/null || lg_fail "the first linegated lost its socket"
[ "$(intents)" = "$n0" ] || lg_fail "a refused second linegated pushed a policy"
# and a linegated's exit leaves a socket that is not its own: a later one's of that name
mv "$T/d.sock" "$T/d-old.sock"
lg_bg "$LG_BIN_D" -p "$T/policy.yaml" -S "$T/d.sock" -d "$T/dp.sock" -a "$T/audit3.jsonl" \
	-s "$T/state3" 2> "$T/d4.err"
D2=$!
lg_wait_for 5 test -S "$T/d.sock" || lg_fail "a linegated on a free socket did not start: $(cat "$T/d4.err")"
kill -INT $D_PID; wait $D_PID || lg_fail "the first linegated exited with $?"
D_PID=
[ -S "$T/d.sock" ] && CTL status > /dev/null ||
	lg_fail "the first linegated's exit removed the socket of the one after it"
kill -INT $D2; wait $D2 || lg_fail "the second linegated exited with $?"
[ ! -e "$T/d.sock" ] || lg_fail "a linegated left its own socket at exit"
lg_stop_linegate
echo PASS
