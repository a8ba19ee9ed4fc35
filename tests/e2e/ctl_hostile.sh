#!/usr/bin/env bash
# The control protocol under requests it must refuse, on both sockets (linegated's admin
# socket and linegate's control socket), without crashing or half-applying:
# - {"cmd": null} and other wrong JSON types, unframed bytes, bytes after the object;
# - a request cut off in the middle of its policy (the old text protocol applied the first
#   devices): refused whole, the running policy and its device count unchanged;
# - an unprivileged peer (nobody, no groups; it drops privileges as setpriv would), also with
#   the sockets chmod 0666: refused with "permission denied" and audited; a connect/close
#   loop is audited at most once a second, each line with the count since the one before;
#   a member of --group (primary or supplementary) accepted;
# - a policy with a NUL byte (linegatectl once cut it there and applied the rest);
# - a request over the 16 MiB limit (linegatectl died silently of SIGPIPE, exit 141), and
#   a server that closes early: exit 1 with a message, never 141;
# - an apply the data plane refuses: its reason reaches linegatectl (exit 1).
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgch$$"
T=$LG_TMP
chmod 0711 "$T" # others may reach the sockets: the servers' own peer check must refuse them
GRP=4242        # a group number no account has: only setpriv gives it to our test peer
lg_policy "$T/policy.yaml"
lg_start_linegate --group $GRP
lg_start_linegated --group $GRP

dstatus() { lg_ctl "$T/d.sock" '{"cmd": "status"}' "$1"; }
pstatus() { lg_ctl "$T/dp.sock" '{"cmd": "status"}' "$1"; }
before=$(dstatus policy_sha256)
ndev=$(pstatus devices)
[ "$ndev" = 8 ] || lg_fail "the data plane runs $ndev devices, want 8"
[ "$(pstatus policy_sha256)" = "$before" ] || lg_fail "linegated and linegate disagree on the hash"
unchanged() {
	[ "$(dstatus policy_sha256)" = "$before" ] || lg_fail "linegated's policy changed after: $1"
	[ "$(pstatus policy_sha256)" = "$before" ] || lg_fail "linegate's policy changed after: $1"
	[ "$(pstatus devices)" = "$ndev" ] || lg_fail "linegate's device count changed after: $1"
	kill -0 "$D_PID" 2>/dev/null || lg_fail "linegated died on: $1"
	kill -0 "$DP_PID" 2>/dev/null || lg_fail "linegate died on: $1"
}

# Every hostile request on both sockets, in one Python process (lgsock.py underneath).
# After each: both still run, with the same policy and device count. An unprivileged peer
# is a forked child that drops to its uid, gid and groups before it connects, as
# `setpriv --reuid --regid --groups` would; in-process, so that it needs no exec and no
# search permission on the folders above the socket (it connects by the socket's name
# relative to its folder).
python3 - "$T" "$D_PID" "$DP_PID" "$GRP" <<'PY' || lg_fail "a hostile request was not refused as it should be"
import json, os, re, struct, sys, lgsock
T, dpid, ppid, grp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
text = open(f"{T}/policy.yaml").read()
# A policy with one device: applied, it would leave 7 of the 8 unenrolled.
one = text[:text.index("  - id: 102")]
apply_one = json.dumps({"cmd": "apply", "policy": one}).encode()
shapes = {
    "cut": struct.pack(">I", len(apply_one)) + apply_one[:len(apply_one) // 2],
    "header": b"\0\0",
    "unframed": b"apply\n" + one.encode(),  # the old text protocol
    "trailing": lgsock.frame(b'{"cmd": "status"} {"cmd": "apply"}'),
    "apply_one": lgsock.frame(apply_one),
}

def send(sock, how, ids=None):
    data = shapes.get(how) or lgsock.frame(how.encode())
    if not ids:
        return lgsock.unframe(lgsock.call_raw(sock, data))
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        uid, gid, groups = ids
        os.chdir(os.path.dirname(sock))
        os.setgroups(groups)
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        os.write(w, lgsock.call_raw(os.path.basename(sock), data))
        os._exit(0)
    os.close(w)
    out = b"".join(iter(lambda: os.read(r, 65536), b""))
    os.waitpid(pid, 0)
    return lgsock.unframe(out)

def status(sock):
    return lgsock.call(sock, {"cmd": "status"})

base = status(f"{T}/dp.sock")
bad = 0
def check(sock, how, want_ok, want_err=".", ids=None):
    global bad
    name = f"{how} on {os.path.basename(sock)}" + (f" as {ids}" if ids else "")
    r = send(sock, how, ids)
    good = r.get("ok") is want_ok and (want_ok or re.search(want_err, r.get("error", "")))
    for pid in (dpid, ppid):
        os.kill(pid, 0)  # raises if it died
    d, p = status(f"{T}/d.sock"), status(f"{T}/dp.sock")
    same = (d["policy_sha256"] == p["policy_sha256"] == base["policy_sha256"] and
            p["devices"] == base["devices"])
    print(f"{name}: {'ok' if good and same else 'WRONG'}: {json.dumps(r)[:160]}")
    bad += not (good and same)

for s in (f"{T}/d.sock", f"{T}/dp.sock"):
    for req in ('{"cmd": null}', '{"cmd": 5}', '[1, 2]', 'null', '{"cmd": "apply", "policy": 7}',
                '{"cmd": "nosuch"}', '{"cmd": "validate", "policy": "version: 2\\n", "name": null}'):
        check(s, req, False)
    check(s, "cut", False, r"^request refused whole: message cut off after \d+ of \d+ bytes$")
    check(s, "header", False, "^request refused whole: message cut off in its length header$")
    check(s, "unframed", False, "over the limit|cut off")
    check(s, "trailing", False, "bytes after the JSON object")
    # Not root, not the server's user, not in --group: refused, whatever the file mode.
    os.chmod(s, 0o666)
    check(s, "apply_one", False, "^permission denied$", (65534, 65534, []))
    check(s, '{"cmd": "status"}', False, "^permission denied$", (65534, 65534, []))
    # In --group, as the primary or a supplementary group: served.
    check(s, '{"cmd": "status"}', True, ids=(65534, grp, []))
    check(s, '{"cmd": "status"}', True, ids=(65534, 65534, [grp]))
sys.exit(1 if bad else 0)
PY
# linegate counts the two peers its own socket refused (linegated audits its own).
lg_dp_stats "$T/sd.json" || lg_fail "stats"
[ "$(lg_json "$T/sd.json" "d['ctl_denied']")" = 2 ] ||
	lg_fail "linegate's ctl_denied: $(lg_json "$T/sd.json" "d['ctl_denied']"), want 2"
# An unprivileged client looping connect/close on the 0666 socket for 2.5 s (it once wrote
# 67 000 audit lines in 3 s): every refusal counted in status, audited at most once a second
# per uid (the first at once), each line with the count refused since the one before.
python3 - "$T/d.sock" > "$T/flood.txt" <<'PY'
import os, socket, sys, time
os.chdir(os.path.dirname(sys.argv[1]))
r, w = os.pipe()
if os.fork() == 0:
    os.setgroups([]); os.setresgid(65534, 65534, 65534); os.setresuid(65534, 65534, 65534)
    n, end = 0, time.monotonic() + 2.5
    while time.monotonic() < end:
        s = socket.socket(socket.AF_UNIX); s.connect(os.path.basename(sys.argv[1])); s.close()
        n += 1
    os.write(w, b"%d" % n)
    os._exit(0)
os.close(w)
print(os.read(r, 64).decode())
os.wait()
PY
flood=$(cat "$T/flood.txt")
[ "$flood" -gt 1000 ] || lg_fail "the flood made only $flood connections"
denied_is() { [ "$(dstatus denied)" = "$1" ]; }
lg_wait_for 10 denied_is $((flood + 2)) ||
	lg_fail "status counts $(dstatus denied) refusals, want $((flood + 2)) (2 + the flood's $flood)"
sleep 1.2 # the count of the last second goes out after a quiet second
python3 - "$T/audit.jsonl" $((flood + 2)) "$(dstatus denied_unaudited)" <<'PY' ||
import json, re, sys
from datetime import datetime
lines = [json.loads(l) for l in open(sys.argv[1])]
den = [l for l in lines if l.get("what") == "connect" and l.get("result") == "denied"]
total, unaudited = int(sys.argv[2]), int(sys.argv[3])
t = [datetime.strptime(l["time"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() for l in den]
new = sum(l["detail"].startswith("permission denied") for l in den)
more = sum(int(m.group(1)) for l in den for m in [re.search(r"(\d+) more since ", l["detail"])] if m)
gaps = [b - a for a, b in zip(t, t[1:])]
print(f"{len(den)} denied lines for {total} refusals ({new} audited, {more} counted), "
      f"gaps {[round(g, 2) for g in gaps]}: {[l['detail'][:40] for l in den]}")
ok = (den[0]["detail"] == "permission denied" and all(l["peer"].startswith("uid=65534 ")
      for l in den) and new + more == total and more == unaudited and
      all(g >= 0.95 for g in gaps) and len(den) <= t[-1] - t[0] + 2 and 3 <= len(den))
sys.exit(0 if ok else 1)
PY
	lg_fail "denied connections in the audit: $(grep '"result":"denied"' "$T/audit.jsonl" | cut -c1-200)"
# More uids than linegated follows one by one (16): 24 at once, each looping for 2.5 s.
# No uid is audited twice within a second (a 17th uid once took the slot of one audited
# just before, which was then audited again at once); the uids beyond are counted together
# ("other uids", also at most a line a second), and every refusal is in a line's count.
n0=$(grep -c . "$T/audit.jsonl") d0=$(dstatus denied) u0=$(dstatus denied_unaudited)
python3 - "$T/d.sock" > "$T/flood24.txt" <<'PY'
import os, socket, sys, time
os.chdir(os.path.dirname(sys.argv[1]))
pids = []
for k in range(24):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        uid = 60001 + k
        os.setgroups([]); os.setresgid(uid, uid, uid); os.setresuid(uid, uid, uid)
        n, end = 0, time.monotonic() + 2.5
        while time.monotonic() < end:
            s = socket.socket(socket.AF_UNIX); s.connect(os.path.basename(sys.argv[1])); s.close()
            n += 1
            time.sleep(0.002)
        os.write(w, b"%d" % n)
        os._exit(0)
    os.close(w)
    pids.append(r)
print(sum(int(os.read(r, 64)) for r in pids))
for _ in pids:
    os.wait()
PY
flood=$(cat "$T/flood24.txt")
lg_wait_for 10 denied_is $((d0 + flood)) ||
	lg_fail "status counts $(($(dstatus denied) - d0)) refusals of 24 uids, want $flood"
sleep 1.5
python3 - "$T/audit.jsonl" "$n0" "$flood" $(($(dstatus denied_unaudited) - u0)) <<'PY' ||
import json, re, sys
from collections import defaultdict
from datetime import datetime
lines = [json.loads(l) for l in open(sys.argv[1])][int(sys.argv[2]):]
den = [l for l in lines if l.get("what") == "connect" and l.get("result") == "denied"]
total, unaudited = int(sys.argv[3]), int(sys.argv[4])
by = defaultdict(list)
for l in den:
    by[l["peer"].split(" ")[0]].append(
        datetime.strptime(l["time"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp())
new = sum(l["detail"].startswith("permission denied") for l in den)
more = sum(int(m.group(1)) for l in den for m in [re.search(r"(\d+) more since ", l["detail"])] if m)
gaps = {p: min(b - a for a, b in zip(t, t[1:])) for p, t in by.items() if len(t) > 1}
print(f"24 uids: {total} refusals, {len(den)} lines ({new} audited, {more} counted, "
      f"{len(by['other'])} for other uids); {len(by) - ('other' in by)} uids audited; "
      f"shortest gap per uid {min(gaps.values()):.2f} s")
sys.exit(0 if new + more == total and more == unaudited and
         all(g >= 0.95 for g in gaps.values()) and len(by) - ("other" in by) >= 16 and
         by["other"] else 1)
PY
	lg_fail "24 uids: $(tail -5 "$T/audit.jsonl" | cut -c1-200)"
# Sockets made with --group: mode 0660, that group.
chmod 0660 "$T/d.sock" "$T/dp.sock"
[ "$(stat -c %a:%g "$T/d.sock")" = "660:$GRP" ] || lg_fail "d.sock is $(stat -c %a:%g "$T/d.sock")"
[ "$(stat -c %g "$T/dp.sock")" = "$GRP" ] || lg_fail "dp.sock group is $(stat -c %g "$T/dp.sock")"

# A NUL byte inside the policy: refused whole by validate and apply.
python3 -c "
import sys; t = open(sys.argv[1], 'rb').read()
i = t.index(b'devices:'); open(sys.argv[2], 'wb').write(t[:i] + b'#\x00' + t[i:])" \
	"$T/policy.yaml" "$T/nul.yaml"
if "$LG_BIN_CTL" -s "$T/d.sock" validate "$T/nul.yaml" 2> "$T/nul.err"; then
	lg_fail "validate passed a policy with a NUL byte"
fi
if "$LG_BIN_CTL" -s "$T/d.sock" apply "$T/nul.yaml" 2>> "$T/nul.err"; then
	lg_fail "apply took a policy with a NUL byte"
fi
unchanged "a NUL byte"

# Over the daemon's limit: an error and exit 1, not SIGPIPE. A file just under the 16 MiB
# policy limit passes linegatectl's own size check (a bigger one is refused before it is
# sent: unit ctl_refusals), and its request, with the JSON around it, is over the framing
# limit: the daemon refuses it unread.
head -c $(((16 << 20) - 16)) /dev/zero | tr '\0' '#' > "$T/big.yaml"
rc=0
"$LG_BIN_CTL" -s "$T/d.sock" apply "$T/big.yaml" 2> "$T/big.err" || rc=$?
[ $rc -eq 1 ] || lg_fail "linegatectl on a 16 MiB policy exited $rc: $(cat "$T/big.err")"
grep -q 'over the limit of 16777216 bytes' "$T/big.err" || lg_fail "16 MiB: $(cat "$T/big.err")"
unchanged "a request over the framing limit"

# Servers that close early (before reading, after the header): exit 1 with a message.
for mode in close header; do
	python3 - "$T/early.sock" $mode <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4)
for _ in range(2):
    c, _ = s.accept()
    if sys.argv[2] == "header":
        c.recv(4)
    c.close()
PY
	fake=$!
	lg_wait_for 5 test -S "$T/early.sock" || lg_fail "fake server did not start"
	for f in "$T/policy.yaml" "$T/big.yaml"; do
		rc=0
		"$LG_BIN_CTL" -s "$T/early.sock" apply "$f" 2> "$T/early.err" || rc=$?
		[ $rc -eq 1 ] || lg_fail "linegatectl against a server that closes ($mode, $f) exited $rc"
		grep -q 'early.sock: .*\(closed\|no reply\)' "$T/early.err" ||
			lg_fail "no reason from linegatectl ($mode): $(cat "$T/early.err")"
	done
	wait $fake
	rm -f "$T/early.sock"
done

# The data plane refuses what linegated accepts: linegate may run on core 0 only, the
# policy pins a worker to core 1. The data plane's reason reaches linegatectl (exit 1).
if [ "$(nproc)" -ge 2 ]; then
	taskset -a -p -c 0 "$(pgrep -P "$DP_PID" -x linegate || echo "$DP_PID")" > /dev/null
	printf 'workers:\n  cores: [1]\n' | cat "$T/policy.yaml" - > "$T/cores.yaml"
	rc=0
	"$LG_BIN_CTL" -s "$T/d.sock" apply "$T/cores.yaml" 2> "$T/cores.err" || rc=$?
	[ $rc -eq 1 ] || lg_fail "an apply the data plane refused exited $rc"
	grep -q 'data plane refused: .*core 1' "$T/cores.err" ||
		lg_fail "the data plane's reason is lost: $(cat "$T/cores.err")"
	tail -1 "$T/audit.jsonl" | grep -q '"phase":"result".*"result":"refused".*core 1' ||
		lg_fail "the audit lacks the failed result: $(tail -1 "$T/audit.jsonl")"
	unchanged "an apply the data plane refused"
fi

echo "refused: $(head -c 150 "$T/cores.err"); $(head -c 150 "$T/big.err")"
lg_stop_linegate
echo PASS
