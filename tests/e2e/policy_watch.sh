#!/usr/bin/env bash
# linegated's file watch applies only complete files, under traffic:
# - a writer that writes half the devices, sleeps 2 s, then writes the rest (the old mtime
#   poll applied the half file and lost the other devices' frames): the half file is never
#   applied (no audit line carries its hash), the whole one is, once it is closed;
# - a file that does not validate keeps the last-known-good policy; the log and the audit
#   say why;
# - a file replaced by rename (mv, editors) is applied;
# - inotify: a file written by two writers in turn (> then >>) is applied whole, once
#   nothing wrote to it for the settle time (--settle, 1 s).
# Not one legitimate frame is lost (exact counts from the sent file and the stats).
# Run with "inotify" (the default) or "poll" (linegated --watch poll: a content is applied
# once two reads in a row, 1.5 s apart, found it; the writer then pauses 0.5 s, less than
# one interval, so that no two reads can see the half file).
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgpw$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
cp "$T/policy.yaml" "$T/v1.yaml"
sed 's/^  batch: 16 /  batch: 4  /' "$T/v1.yaml" > "$T/full.yaml"
sed 's/^  batch: 16 /  batch: 8  /' "$T/v1.yaml" > "$T/v3.yaml"
sed 's/^port: 4739/port: 99999/' "$T/v1.yaml" > "$T/bad.yaml"
sha() { sha256sum "$1" | cut -d' ' -f1; }
dp_hash() { lg_ctl "$T/dp.sock" '{"cmd": "status"}' policy_sha256 | tr -d '"'; }
runs() { [ "$(dp_hash)" = "$1" ]; }

MODE=${1:-inotify}
PAUSE=2
if [ "$MODE" = poll ]; then PAUSE=0.5; WATCH=(--watch poll -i 1500); else WATCH=(); fi
lg_start_linegate
lg_start_linegated "${WATCH[@]}" 2> "$T/d.err"
grep -q "file watch: $MODE" "$T/d.err" || lg_fail "linegated does not watch by $MODE: $(cat "$T/d.err")"
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/v1.yaml" -t $SRV_IP -S $LINE_IP -n 1000 -r 1600 \
	-j "$T/sent.json" -q &
GEN=$!
sleep 0.3

# Half the devices, a pause with the file open, then the rest.
python3 - "$T/full.yaml" "$T/policy.yaml" "$T/half.sha" "$PAUSE" <<'PY'
import hashlib, sys, time
full = open(sys.argv[1], "rb").read()
cut = full.index(b"  - id: 105")
open(sys.argv[3], "w").write(hashlib.sha256(full[:cut]).hexdigest())
with open(sys.argv[2], "wb") as f:
    f.write(full[:cut]); f.flush()
    time.sleep(float(sys.argv[4]))
    f.write(full[cut:])
PY
HALF=$(cat "$T/half.sha") FULL=$(sha "$T/full.yaml")
lg_wait_for 8 runs "$FULL" || lg_fail "the whole file was not applied: $(dp_hash)"
grep -q "$HALF" "$T/audit.jsonl" && lg_fail "the half-written file reached the audit log"
grep -q "\"phase\":\"result\",\"peer\":\"file-watch\",\"what\":\"apply\",\"result\":\"ok\",\"policy_sha256\":\"$FULL\"" \
	"$T/audit.jsonl" || lg_fail "no audited file-watch apply of the whole file"

# A file that does not validate: the running policy stays, the log and the audit say why.
cp "$T/bad.yaml" "$T/policy.yaml"
lg_wait_for 8 grep -q "kept the running policy: .*policy.yaml:4:7: 'port' is 99999" "$T/d.err" ||
	lg_fail "the log does not say why: $(tail -3 "$T/d.err")"
grep -q '"result":"refused".*policy.yaml:4:7' "$T/audit.jsonl" || lg_fail "the audit does not say why"
[ "$(dp_hash)" = "$FULL" ] || lg_fail "a file that does not validate changed the running policy"

# Replaced by rename.
cp "$T/v3.yaml" "$T/new.yaml" && mv "$T/new.yaml" "$T/policy.yaml"
lg_wait_for 8 runs "$(sha "$T/v3.yaml")" || lg_fail "the renamed file was not applied"
why='renamed into place'; [ "$MODE" = poll ] && why='unchanged for two looks'
grep -q "file watch ($why): applied" "$T/d.err" || lg_fail "log: $(tail -2 "$T/d.err")"

# Two writers one after the other (`cat a > f; cat b >> f`): the first closes a valid half
# file; with inotify it is not applied before nothing wrote for the settle time (1 s by
# default), and the append 0.4 s later restarts that wait: only the whole file is applied.
if [ "$MODE" = inotify ]; then
	sed 's/^  batch: 16 /  batch: 2  /' "$T/v1.yaml" > "$T/v4.yaml"
	python3 - "$T/v4.yaml" "$T/policy.yaml" "$T/half4.sha" <<'PY'
import hashlib, sys, time
full = open(sys.argv[1], "rb").read()
cut = full.index(b"  - id: 105")
open(sys.argv[3], "w").write(hashlib.sha256(full[:cut]).hexdigest())
with open(sys.argv[2], "wb") as f:
    f.write(full[:cut])
time.sleep(0.4)
with open(sys.argv[2], "ab") as f:
    f.write(full[cut:])
PY
	lg_wait_for 8 runs "$(sha "$T/v4.yaml")" || lg_fail "the appended file was not applied"
	grep -q "$(cat "$T/half4.sha")" "$T/audit.jsonl" &&
		lg_fail "the first writer's half file was applied before the append"
	grep -q "file watch (closed after writing, unchanged for 1000 ms): applied" "$T/d.err" ||
		lg_fail "log: $(tail -2 "$T/d.err")"
fi
wait $GEN || lg_fail "load generator failed"
sent=$(lg_json "$T/sent.json" "d['sent']")
got_all() { lg_dp_stats "$T/s.json" && [ "$(lg_json "$T/s.json" "d['received']")" = "$sent" ]; }
lg_wait_for 10 got_all || lg_fail "received $(lg_json "$T/s.json" "d['received']") of $sent"
adm=$(lg_json "$T/s.json" "d['admitted']") enr=$(lg_json "$T/sent.json" "d['enrolled']")
[ "$adm" = "$enr" ] || lg_fail "admitted $adm of $enr enrolled frames"
echo "file watch ($MODE) under traffic: $sent sent, $adm admitted, half file never applied"
lg_stop_linegate
echo PASS
