#!/usr/bin/env bash
# Recording admitted frames (docs/recording.md), end to end in a netns with the load
# generator (LGF and UADP, with forged, replayed, spoofed and unknown frames mixed in):
#  1. linegatectl record start --device --group (through linegated, audited) -> frames ->
#     stop: the files hold exactly the admitted frames of the selected devices (counted per
#     device with libpcap and tcpdump, checksums right), nothing of the others, no forged
#     or replayed frame;
#  2. the recording replayed with --backend pcap gives the live run's windows and scores for
#     the recorded devices;
#  3. the policy's recording section, applied live: rotation by size gives several files,
#     none over max_file_bytes, that together hold every frame;
#  4. retention: max_total_bytes deletes the oldest files, the newest stay;
#  5. a full tmpfs stops the recording (record_errors 1, the event line, the log line, the
#     state) while linegate goes on admitting and scoring;
# and a recording that ends by itself (--for, the policy's section changed) is audited by
# linegated as record_end.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgrec$$"
T=$LG_TMP
command -v tcpdump > /dev/null || lg_skip "no tcpdump"
"$LG_BIN_DP" --help | grep "^  pcap:" > /dev/null || lg_skip "this build has no pcap backend"
COUNT="python3 $LG_SOURCE/tests/e2e/lgpcapcount.py"

# The default policy with a group 'presses' (press-2-vib) and a recording folder (off).
lg_policy "$T/base.yaml"
python3 - "$T/base.yaml" "$T/policy.yaml" "$T/rec" <<'PY'
import sys
src, dst, rec = sys.argv[1:4]
out = []
for line in open(src):
    out.append(line)
    if line.startswith("  - id: 102"):
        out.append("    group: presses\n")
text = "".join(out).replace("devices:\n", "groups:\n  presses: {audit: false}\n"
                            "recording:\n  dir: %s\n  min_free_bytes: 0\ndevices:\n" % rec, 1)
open(dst, "w").write(text)
PY
cp "$T/policy.yaml" "$T/policy0.yaml"
# The small disk of step 5, mounted before linegate starts: ip netns exec gives linegate a
# mount namespace of its own, which a later mount would not reach.
mkdir "$T/small"
mount -t tmpfs -o size=192k tmpfs "$T/small" || lg_skip "cannot mount a tmpfs"
trap 'umount "$T/small" 2>/dev/null || true; lg_cleanup' EXIT
lg_start_linegate --metrics $SRV_IP:9477 2> "$T/dp.err"
lg_start_linegated
CTL="$LG_BIN_CTL -s $T/d.sock"

stats() { lg_dp_stats "$1"; }
rec_state() {
	lg_ctl "$T/dp.sock" '{"cmd":"record","action":"status"}' recording |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])'
}
# send FIRST_SEQ N [loadgen args...]: N frames per device from sequence FIRST_SEQ, waits until
# linegate has received all of them; the loadgen summary in $T/sent-FIRST_SEQ.json.
send() {
	local first=$1 n=$2 want
	shift 2
	stats "$T/before.json"
	ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy0.yaml" -t $SRV_IP -S $LINE_IP \
		--uadp -n "$n" -r 4000 --first-seq "$first" -j "$T/sent-$first.json" -q "$@"
	want=$(( $(lg_json "$T/before.json" "d['received']") + \
		 $(lg_json "$T/sent-$first.json" "d['sent']") ))
	got() { stats "$T/now.json" && [ "$(lg_json "$T/now.json" "d['received']")" = "$want" ]; }
	lg_wait_for 10 got || lg_fail "linegate received $(lg_json "$T/now.json" "d['received']") of $want"
}

# Usage errors: exit 2, with what is wrong, nothing sent.
for args in "record" "record begin" "record stop --device press-1-vib" "record start --for 0" \
	    "record start --for 1h" "record status extra"; do
	rc=0; $CTL $args 2> "$T/usage.err" || rc=$?
	[ $rc -eq 2 ] || lg_fail "linegatectl $args: exit $rc, want 2: $(cat "$T/usage.err")"
done

# 1. A recording started by a command, of press-1-vib, the group presses and press-3-plc.
rc=0; $CTL record start --device nosuch 2> "$T/e1" || rc=$?
[ $rc -eq 1 ] && grep -q "no device named 'nosuch'" "$T/e1" || lg_fail "unknown device: $(cat "$T/e1")"
$CTL record start --device press-1-vib --group presses --device press-3-plc > "$T/start.json"
[ "$(lg_json "$T/start.json" "d['recording']['state']")" = recording ] ||
	lg_fail "start: $(cat "$T/start.json")"
rc=0; $CTL record start 2> "$T/e2" || rc=$?
[ $rc -eq 1 ] && grep -q "a recording runs already" "$T/e2" || lg_fail "second start: $(cat "$T/e2")"
send 1 120 -f 101:60:bearing --unknown 30 --bad-tag 25 --replay 20 --malformed 10 --spoof 15 \
	--spoof-from $SPOOF_IP
$CTL record status > "$T/status.json"
# rotate: the file closes with every frame so far; the next one is being written
first_part=$(lg_json "$T/status.json" "d['recording']['current_file']")
$CTL record rotate > "$T/rot.json" || lg_fail "record rotate: $(cat "$T/rot.json")"
next=$(lg_json "$T/rot.json" "d['next_file']")
[ -f "${first_part%.part}" ] && [ ! -e "$first_part" ] && [ -f "$next.part" ] &&
	[ "$next" != "${first_part%.part}" ] ||
	lg_fail "rotate: $first_part -> $next: $(ls "$T/rec")"
$CTL record stop > "$T/stop.json"
[ "$(lg_json "$T/stop.json" "d['recording']['state']")" = "stopped: stopped by a command" ] ||
	lg_fail "stop: $(cat "$T/stop.json")"
# after the stop, status still names whose recording it was (docs/recording.md)
$CTL record status > "$T/status-stopped.json"
[ "$(lg_json "$T/status-stopped.json" "d['recording']['origin']")" = "command" ] ||
	lg_fail "status after the stop: origin: $(cat "$T/status-stopped.json")"
# ... and what it selected (trial P, s22: 0 selected, all devices, once stopped)
[ "$(lg_json "$T/status-stopped.json" "(d['recording']['devices_selected'], d['recording']['all_devices'])")" = "(3, False)" ] ||
	lg_fail "status after the stop: selection: $(cat "$T/status-stopped.json")"
rc=0; $CTL record stop 2> "$T/e3" || rc=$?
[ $rc -eq 1 ] && grep -q "no recording runs" "$T/e3" || lg_fail "second stop: $(cat "$T/e3")"
rc=0; $CTL record rotate 2> "$T/e4" || rc=$?
[ $rc -eq 1 ] && grep -q "no recording runs" "$T/e4" || lg_fail "rotate when none runs: $(cat "$T/e4")"
stats "$T/s1.json"
ls "$T"/rec/linegate-*.pcapng > "$T/files1" || lg_fail "no recording files"
! ls "$T"/rec/*.part 2> /dev/null || lg_fail "a .part file remains after the stop"
$COUNT $(cat "$T/files1") > "$T/count1.json"
tcpdump -nn -r "$(head -1 "$T/files1")" 2> /dev/null | wc -l > "$T/tcpdump1"
python3 - "$T/s1.json" "$T/count1.json" "$T/sent-1.json" "$T/audit.jsonl" "$T/tcpdump1" \
	"$T/files1" "$T/status.json" <<'PY'
import json, sys
from lgcheck import check, done
st, cnt, sent = (json.load(open(f)) for f in sys.argv[1:4])
per = {d["name"]: d["admitted"] for d in st["devices"]}
files = open(sys.argv[6]).read().split()
check("admitted frames sent by press-1-vib (120)", per["press-1-vib"], 120)
check("recorded press-1-vib (101)", cnt["devices"].get("101", 0), per["press-1-vib"])
check("recorded press-2-vib (102, group presses)", cnt["devices"].get("102", 0),
      per["press-2-vib"])
check("recorded press-3-plc (UADP)", cnt["devices"].get("uadp:2234", 0), per["press-3-plc"])
check("devices in the recording", sorted(cnt["devices"]), ["101", "102", "uadp:2234"])
check("frames recorded", cnt["frames"], per["press-1-vib"] + per["press-2-vib"] +
      per["press-3-plc"])
check("forged and replayed frames were sent", sent["bad_tag"] + sent["replayed"] +
      sent["spoofed"] > 0, True)
check("a (device, sequence) twice (a replay recorded)", cnt["dups"], 0)
check("bad IPv4/UDP checksums", cnt["bad_csum"], 0)
check("link types (Ethernet)", set(cnt["linktypes"]), {1})
check("frames in time order", cnt["ts_ordered"], True)
check("record frames counter", st["recording"]["frames"], cnt["frames"])
check("record_dropped", st["record_dropped"], 0)
check("record_errors", st["record_errors"], 0)
check("tcpdump reads the first file whole", int(open(sys.argv[5]).read()),
      cnt["files"][files[0]])
status = json.load(open(sys.argv[7]))["recording"]
check("status while recording: state", status["state"], "recording")
check("status: current file is a .part", status["current_file"].endswith(".pcapng.part"), True)
check("status: devices selected", status["devices_selected"], 3)
check("status: not all devices", status["all_devices"], False)
audit = [json.loads(l) for l in open(sys.argv[4])]
ev = [(a.get("what"), a.get("result")) for a in audit if "record" in str(a.get("what"))]
check("audited", ev, [("record_start", "refused"), ("record_start", "ok"),
                      ("record_start", "refused"), ("record_rotate", "ok"),
                      ("record_stop", "ok"), ("record_stop", "refused"),
                      ("record_rotate", "refused")])
done()
PY

# The same on the Prometheus endpoint.
ip netns exec "$NS_SRV" python3 -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
	"http://$SRV_IP:9477/metrics" > "$T/metrics1.txt"
want=$(lg_json "$T/s1.json" "d['recording']['frames']")
for m in "linegate_record_frames_total $want" "linegate_record_dropped_total 0" \
	 "linegate_record_errors_total 0" "linegate_recording 0"; do
	grep -qx "$m" "$T/metrics1.txt" || lg_fail "metrics: no line '$m'"
done

# 2. The recording replayed gives the live run's windows and scores of those devices.
timeout 60 "$LG_BIN_DP" -p "$T/policy0.yaml" -b "pcap:file=$(head -1 "$T/files1")" \
	-o "$T/replay.jsonl" -s "$T/replay.stats" 2> "$T/replay.err" ||
	lg_fail "replay: $(tail -3 "$T/replay.err")"
[ "$(wc -l < "$T/files1")" = 1 ] || lg_fail "one file expected for 2 x 120 + UADP frames"
python3 - "$T/out.jsonl" "$T/replay.jsonl" "$T/s1.json" "$T/replay.stats" <<'PY'
import json, sys
from lgcheck import check, done
def lines(path, devs):
    out = {}
    for l in open(path):
        e = json.loads(l)
        if e.get("type") in ("score", "alert") and e["device"] in devs:
            out.setdefault(e["device"], []).append(e)
    return out
devs = {101, 102, 107}
live, rep = lines(sys.argv[1], devs), lines(sys.argv[2], devs)
st, rs = json.load(open(sys.argv[3])), json.load(open(sys.argv[4]))
lw = {d["id"]: d["windows"] for d in st["devices"]}
rw = {d["id"]: d["windows"] for d in rs["devices"]}
for d in sorted(devs):
    check("device %d windows, replay = live" % d, rw[d], lw[d])
    # alerts and scores come through two rings: their interleaving is timing; by sequence
    a = sorted(live.get(d, []), key=lambda e: e["seq"])
    b = sorted(rep.get(d, []), key=lambda e: e["seq"])
    check("device %d score lines, replay = live" % d, len(b), len(a))
    far = sum(x["seq"] != y["seq"] or x["type"] != y["type"] or
              abs(x["score"] - y["score"]) > 2e-5 * max(abs(x["score"]), abs(y["score"]))
              for x, y in zip(a, b))
    check("device %d lines that differ (seq, alert, score within 2e-5)" % d, far, 0)
check("replay admitted every recorded frame", rs["admitted"], rs["received"])
check("replay: other devices", sorted(k for k, v in rw.items() if v), sorted(devs))
check("alerts of press-1-vib's fault, replay = live", sum(x["type"] == "alert" for x in
      rep.get(101, [])), sum(x["type"] == "alert" for x in live.get(101, [])))
done()
PY

# 3. Rotation by size: the policy's recording section, applied live.
# (Policies applied from files of their own: linegated watches policy.yaml.)
python3 - "$T/policy0.yaml" "$T/p3.yaml" <<'PY'
import sys
t = open(sys.argv[1]).read().replace("  min_free_bytes: 0\n", "  min_free_bytes: 0\n  enabled: true\n"
    "  prefix: rot\n  devices: [press-1-vib]\n  max_file_bytes: 32768\n", 1)
open(sys.argv[2], "w").write(t)
PY
# A replay with that policy records nothing: a replay is not the line.
timeout 60 "$LG_BIN_DP" -p "$T/p3.yaml" -b "pcap:file=$(head -1 "$T/files1")" \
	-o "$T/replay3.jsonl" 2> "$T/replay3.err" || lg_fail "replay: $(tail -3 "$T/replay3.err")"
grep -q "recording: the policy's is off in a replay" "$T/replay3.err" ||
	lg_fail "replay with recording enabled: $(cat "$T/replay3.err")"
! ls "$T"/rec/rot-* 2> /dev/null || lg_fail "a replay recorded"
$CTL apply "$T/p3.yaml" > "$T/apply3.out" || lg_fail "apply: $(cat "$T/apply3.out")"
[ "$(rec_state)" = recording ] || lg_fail "the policy's recording did not start: $(rec_state)"
send 1001 200
$CTL apply "$T/policy0.yaml" > "$T/apply3b.out" || lg_fail "apply: $(cat "$T/apply3b.out")"
stats "$T/s3.json"
ls "$T"/rec/rot-*.pcapng > "$T/files3"
$COUNT $(cat "$T/files3") > "$T/count3.json"
python3 - "$T/s1.json" "$T/s3.json" "$T/count3.json" "$T/files3" <<'PY'
import json, os, sys
from lgcheck import check, done
a, b, cnt = (json.load(open(f)) for f in sys.argv[1:4])
files = open(sys.argv[4]).read().split()
adm = lambda s: {d["name"]: d["admitted"] for d in s["devices"]}["press-1-vib"]
check("press-1-vib frames in the rotated files", cnt["devices"].get("101", 0), adm(b) - adm(a))
check("only press-1-vib", sorted(cnt["devices"]), ["101"])
check("several files (200 frames of ~600 bytes, 32 KiB each)", len(files) >= 4, True)
check("no file over max_file_bytes", max(os.path.getsize(f) for f in files) <= 32768, True)
per_file = [cnt["files"][f] for f in sorted(files)]
check("every file holds frames", min(per_file) > 0, True)
check("every file but the last is full (as many frames as the first)",
      [n for n in per_file[:-1] if n != per_file[0]], [])
check("state after the policy turned it off", b["recording"]["state"],
      "stopped: the policy changed its recording section")
done()
PY

# 3b. Rotation by age (max_file_seconds 1, 3.2 s of frames), then record start --for 1.
python3 - "$T/policy0.yaml" "$T/p3b.yaml" <<'PY'
import sys
t = open(sys.argv[1]).read().replace("  min_free_bytes: 0\n", "  min_free_bytes: 0\n  enabled: true\n"
    "  prefix: age\n  devices: [fan-1-vib]\n  max_file_seconds: 1\n", 1)
open(sys.argv[2], "w").write(t)
PY
$CTL apply "$T/p3b.yaml" > "$T/apply3c.out" || lg_fail "apply: $(cat "$T/apply3c.out")"
send 1501 40 -r 100
$CTL apply "$T/policy0.yaml" > /dev/null || lg_fail "apply back"
ls "$T"/rec/age-*.pcapng > "$T/files3b"
for f in $(cat "$T/files3b"); do $COUNT "$f"; done > "$T/count3b.json"
$CTL record start --device fan-1-vib --for 1 > /dev/null
sleep 1.6
[ "$(rec_state)" = "stopped: its time (--for) is up" ] || lg_fail "--for 1: $(rec_state)"
# ended by itself: audited by linegated when it next looks (s25: it was not)
ended() { grep -q '"what":"record_end".*its time (--for) is up' "$T/audit.jsonl"; }
lg_wait_for 5 ended || lg_fail "no record_end in the audit log: $(grep record "$T/audit.jsonl")"
python3 - "$T/audit.jsonl" <<'PY'
import json, sys
from lgcheck import check, done
ends = [a for a in map(json.loads, open(sys.argv[1])) if a.get("what") == "record_end"]
print([(a["result"], a["detail"]) for a in ends])
check("record_end of --for 1: ok, by the data plane, the command's recording",
      [(a["result"], a["peer"], "the command recording" in a["detail"]) for a in ends
       if "(--for)" in a["detail"]], [("ok", "dataplane", True)])
# and the policy's recordings of steps 3 and 3b, ended when their section was applied away
check("the policy's recordings ended, audited ok",
      [a["result"] for a in ends if "the policy changed its recording section" in a["detail"]
       and a["detail"].startswith(("the policy recording", "2 recordings"))][:1], ["ok"])
check("no record_end of a command's stop", any("by a command" in a["detail"] for a in ends), False)
done()
PY
python3 - "$T/count3b.json" "$T/files3b" <<'PY'
import json, sys
from lgcheck import check, done
per = [json.loads(l) for l in open(sys.argv[1])]
check("files of 40 frames at 12.5/s, a new one every second: 3 to 5", 3 <= len(per) <= 5, True)
check("fan-1-vib frames in them", sum(p["devices"].get("106", 0) for p in per), 40)
done()
PY

# 4. Retention: 3 files' worth at most; the oldest go.
python3 - "$T/policy0.yaml" "$T/p4.yaml" <<'PY'
import sys
t = open(sys.argv[1]).read().replace("  min_free_bytes: 0\n", "  min_free_bytes: 0\n  enabled: true\n"
    "  prefix: ret\n  devices: [press-1-vib]\n  max_file_bytes: 32768\n"
    "  max_total_bytes: 98304\n", 1)
open(sys.argv[2], "w").write(t)
PY
stats "$T/s3c.json"
$CTL apply "$T/p4.yaml" > "$T/apply4.out" || lg_fail "apply: $(cat "$T/apply4.out")"
send 2001 300
$CTL apply "$T/policy0.yaml" > /dev/null || lg_fail "apply back"
stats "$T/s4.json"
ls "$T"/rec/ret-*.pcapng > "$T/files4"
$COUNT $(cat "$T/files4") > "$T/count4.json"
python3 - "$T/s3c.json" "$T/s4.json" "$T/count4.json" "$T/files4" <<'PY'
import json, os, sys
from lgcheck import check, done
a, b, cnt = (json.load(open(f)) for f in sys.argv[1:4])
files = sorted(open(sys.argv[4]).read().split())
total = sum(os.path.getsize(f) for f in files)
check("folder's ret-* recordings within max_total_bytes", total <= 98304, True)
check("files deleted (counter)", b["recording"]["deleted"] - a["recording"]["deleted"] > 0, True)
nums = [int(f.rsplit("-", 1)[1].split(".")[0]) for f in files]
created = b["recording"]["files"] - a["recording"]["files"]
check("the newest files are kept (numbers)", nums, list(range(created - len(nums) + 1,
                                                                 created + 1)))
adm = lambda s: {d["name"]: d["admitted"] for d in s["devices"]}["press-1-vib"]
check("kept frames fewer than admitted ones", 0 < cnt["frames"] < adm(b) - adm(a), True)
done()
PY

# 5. A full disk: a 192 KiB tmpfs. The recording stops by itself; linegate goes on.
python3 - "$T/policy0.yaml" "$T/p5.yaml" "$T" <<'PY'
import sys
t = open(sys.argv[1]).read().replace("  min_free_bytes: 0\n", "  min_free_bytes: 0\n  enabled: true\n"
    "  prefix: full\n  max_file_bytes: 1048576\n", 1)
t = t.replace("  dir: %s/rec\n" % sys.argv[3], "  dir: %s/small\n" % sys.argv[3], 1)
open(sys.argv[2], "w").write(t)
PY
# Less free space than min_free_bytes: the apply goes through, the recording does not start.
sed "s/^  min_free_bytes: 0$/  min_free_bytes: 1099511627776/" "$T/p5.yaml" > "$T/p5min.yaml"
python3 -c 'import json, sys; print(json.dumps({"cmd": "apply", "policy": open(sys.argv[1]).read(),
	"name": sys.argv[1]}))' "$T/p5min.yaml" > "$T/p5min.req"
lg_ctl "$T/dp.sock" "$(cat "$T/p5min.req")" recording_error > "$T/p5min.out" ||
	lg_fail "apply with min_free_bytes 1 TiB: $(cat "$T/p5min.out")"
grep -q "under min_free_bytes 1099511627776: free some or lower min_free_bytes" "$T/p5min.out" ||
	lg_fail "min_free_bytes: $(cat "$T/p5min.out")"
[ "$(rec_state)" = "stopped: the policy changed its recording section" ] || lg_fail "state: $(rec_state)"
# The same through linegated: applied, and said.
sed "s/^  prefix: full$/  prefix: full2/" "$T/p5min.yaml" > "$T/p5min2.yaml"
$CTL apply "$T/p5min2.yaml" > "$T/p5min2.out" 2>&1 || lg_fail "apply: $(cat "$T/p5min2.out")"
grep -q "^applied: 8 devices (version [0-9]*); recording not started: free space in $T/small is" \
	"$T/p5min2.out" || lg_fail "linegated's answer: $(cat "$T/p5min2.out")"
$CTL apply "$T/p5.yaml" > "$T/apply5.out" || lg_fail "apply: $(cat "$T/apply5.out")"
stats "$T/s5a.json"
send 3001 150
stop_seen() { case "$(rec_state)" in "stopped: write "*) return 0;; esac; return 1; }
lg_wait_for 5 stop_seen || lg_fail "the recording did not stop on a full disk: $(rec_state); $(ls -l "$T/small"; df "$T/small"; cat "$T/apply5.out")"
send 3151 50
stats "$T/s5.json"
lg_stop_linegate
umount "$T/small" || lg_fail "umount $T/small"
python3 - "$T/s5a.json" "$T/s5.json" "$T/out.jsonl" "$T/dp.err" "$T/stats.json" <<'PY'
import json, sys
from lgcheck import check, done
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
final = json.load(open(sys.argv[5]))
check("record_errors", b["record_errors"], 1)
check("state", b["recording"]["state"].startswith("stopped: write ") and
      b["recording"]["state"].endswith(": No space left on device"), True)
ev = [json.loads(l) for l in open(sys.argv[3]) if '"event":"recording_' in l]
check("one recording_stopped event line", [e["event"] for e in ev], ["recording_stopped"])
check("its reason", ev[0]["reason"], b["recording"]["state"][len("stopped: "):])
# this recording's frames, not the total since linegate started (trial L, s22)
check("its frames: this recording's", ev[0]["frames"],
      b["recording"]["frames"] - a["recording"]["frames"])
check("its frames_total: since the start", ev[0]["frames_total"], b["recording"]["frames"])
check("earlier recordings' frames are not in it", a["recording"]["frames"] > 0, True)
log = [l for l in open(sys.argv[4]) if "recording stopped:" in l]
check("one log line", len(log), 1)
# 8 devices x 200 frames after the apply, all admitted and scored, recording or not
check("admitted after the apply", b["admitted"] - a["admitted"], 8 * 200)
check("scored after the apply", b["scored"] - a["scored"], 8 * 200)
check("final counters: record_errors", final["record_errors"], 1)
done()
PY
# 6. A backend that sees frames (afxdp behind XDP): the received frames are recorded as they
# came, MAC addresses and all (a socket's datagrams get zero MACs, as above). press-1-vib's
# policy says another sample rate than it sends: its frames are refused as sample_rate, and
# recorded all the same, authentic and fresh (trial L, s22: they were left out, silently,
# though a recording is how such a machine is retrained).
python3 - "$T/policy0.yaml" "$T/p6.yaml" "$T" <<'PY'
import sys
t = open(sys.argv[1]).read().replace("  dir: %s/rec\n" % sys.argv[3], "  dir: %s/rec6\n" % sys.argv[3], 1)
t = t.replace("  - id: 101\n", "  - id: 101\n    sample_rate: 12345\n", 1)
open(sys.argv[2], "w").write(t)
PY
ip netns exec "$NS_SRV" "$LG_BIN_DP" -p "$T/p6.yaml" -B $SRV_IP -c "$T/dp6.sock" \
	-o "$T/out6.jsonl" -s "$T/stats6.json" -x lg0:generic -b afxdp 2> "$T/dp6.err" &
DP_PID=$!
LG_PIDS="$DP_PID"
if ! lg_wait_for 5 test -S "$T/dp6.sock"; then
	cat "$T/dp6.err"
	grep -q "Operation not supported\|Invalid argument" "$T/dp6.err" &&
		lg_skip "steps 1-5 passed; this kernel cannot run afxdp on a veth"
	lg_fail "linegate (afxdp) did not start"
fi
lg_ctl "$T/dp6.sock" '{"cmd":"record","action":"start","devices":["press-1-vib","press-2-vib"]}' > /dev/null ||
	lg_fail "record start (afxdp)"
ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$T/policy0.yaml" -t $SRV_IP -S $LINE_IP -d 2 -n 30 \
	-r 2000 --first-seq 6001 -q -j "$T/sent6.json"
got6() { lg_dp_stats "$T/s6.json" "$T/dp6.sock" && [ "$(lg_json "$T/s6.json" "d['received']")" = \
	"$(lg_json "$T/sent6.json" "d['sent']")" ]; }
lg_wait_for 10 got6 || lg_fail "linegate (afxdp) received $(lg_json "$T/s6.json" "d['received']")"
lg_ctl "$T/dp6.sock" '{"cmd":"record","action":"stop"}' > /dev/null || lg_fail "record stop (afxdp)"
kill -INT $DP_PID
wait $DP_PID || lg_fail "linegate (afxdp) exited with status $?"
LG_PIDS=""
$COUNT "$T"/rec6/linegate-*.pcapng > "$T/count6.json"
python3 - "$T/count6.json" "$(ip netns exec "$NS_LINE" cat /sys/class/net/lg1/address)" \
	"$(ip netns exec "$NS_SRV" cat /sys/class/net/lg0/address)" "$T/s6.json" <<'PY'
import json, sys
from lgcheck import check, done
cnt, line_mac, srv_mac = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
st = json.load(open(sys.argv[4]))
dev = {d["name"]: d for d in st["devices"]}
check("press-1-vib refused as sample_rate", dev["press-1-vib"]["drops"].get("sample_rate"), 30)
check("press-1-vib admitted", dev["press-1-vib"]["admitted"], 0)
check("frames recorded (afxdp): press-2-vib's, and press-1-vib's refused for their rate",
      cnt["devices"], {"101": 30, "102": 30})
check("as received: the line's MAC to the server's", cnt["macs"], {"%s>%s" % (line_mac, srv_mac): 60})
check("bad checksums", cnt["bad_csum"], 0)
done()
PY
echo "PASS"
