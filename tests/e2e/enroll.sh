#!/usr/bin/env bash
# Enrollment verbs against a running line (linegated + linegate with XDP + loadgen):
#  - enroll: the new key file (0600, fingerprint as printed), the policy file keeps its
#    comments, and frames signed with the new key are admitted, every one;
#  - revoke under load: the time from the command's return to the device's last admitted
#    frame (asserted under 1 s, printed), every later frame counted as unknown_device;
#  - rotate-key under load with a 6 s grace: the old key admitted before the expiry and
#    refused after it (unknown_key), the new key admitted throughout, nothing lost while
#    rotating, and after a restart of both; prune drops the expired key and its file;
#  - refusals leave the file as it was: a hand edit the file watch refused, a data
#    plane that is down (the old file is put back, the new key file removed);
#  - no key byte in any output, the audit log or an error.
# Run with "xdp" (the default) or "noxdp".
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgen$$"
T=$LG_TMP
lg_policy "$T/policy.yaml"
# The default policy's settings with a device list of this test's own: one device with a
# key file made here (0600, as the parser demands).
python3 - "$T/policy.yaml" "$LINE_IP" <<'PY'
import sys
path, ip = sys.argv[1], sys.argv[2]
s = open(path).read()
s = s[:s.index("\ndevices:") + 1] + (
    "devices:\n  # the devices of this test\n  - id: 150\n    name: base-1\n"
    f"    source: {ip}\n    keys:\n      - {{id: 1, key_file: keys/base-1.key}}\n")
open(path, "w").write(s)
PY
mkdir -p "$T/keys"
chmod 700 "$T/keys"
(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$T/keys/base-1.key"; echo >> "$T/keys/base-1.key")
MODE=${1:-xdp}
if [ "$MODE" = xdp ]; then lg_start_linegate --xdp lg0; else lg_start_linegate; fi
# With its file watch (inotify): a verb's own write of the file applies nothing twice.
lg_start_linegated
CTL=("$LG_BIN_CTL" -s "$T/d.sock")

# admitted, unknown_device and unknown_key, wherever they were counted (XDP or a worker).
counters() {
	"${CTL[@]}" metrics > "$T/m.json"
	python3 - "$T/m.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
x, d = m.get("xdp") or {}, m["drops"]
print(m["admitted"], x.get("unknown_device", 0) + d.get("unknown_device", 0),
      x.get("unknown_key", 0) + d.get("unknown_key", 0))
PY
}

# gen POLICY KEY_ID FIRST_SEQ FRAMES: device frames at 1000/s, signed with that key id.
gen() {
	ip netns exec "$NS_LINE" "$LG_BIN_GEN" -p "$1" -t $SRV_IP -S $LINE_IP --key-id "$2" \
		--first-seq "$3" -n "$4" -r 1000 -q -j "$T/sent.json"
}

# expect NAME FRAMES ADMITTED UNKNOWN_DEVICE UNKNOWN_KEY: once all FRAMES of the phase
# are counted, each counter moved by exactly that much since the last call.
read -r A0 U0 K0 < <(counters)
expect() {
	local name=$1 frames=$2 a u k
	settled() {
		read -r a u k < <(counters)
		[ $((a - A0 + u - U0 + k - K0)) -ge "$frames" ]
	}
	lg_wait_for 10 settled || lg_fail "$name: only $((a - A0 + u - U0 + k - K0)) of $frames frames counted"
	sleep 0.2
	read -r a u k < <(counters)
	echo "$name: admitted $((a - A0)), unknown_device $((u - U0)), unknown_key $((k - K0))" \
		"(want $3, $4, $5)"
	[ $((a - A0)) -eq "$3" ] && [ $((u - U0)) -eq "$4" ] && [ $((k - K0)) -eq "$5" ] ||
		lg_fail "$name: counters differ"
	A0=$a U0=$u K0=$k
}

# A loadgen policy for one device with the given key files.
gen_policy() { # FILE ID NAME KEYS_YAML
	printf 'version: 1\ndevices:\n  - id: %s\n    name: %s\n    source: %s\n    keys: %s\n' \
		"$2" "$3" "$LINE_IP" "$4" > "$1"
}

head1=$(head -n 1 "$T/policy.yaml")

# --- enroll -------------------------------------------------------------------------
out=$("${CTL[@]}" devices enroll --id 201 --name new-1 --source $LINE_IP --port 0) ||
	lg_fail "enroll failed: $out"
echo "$out"
kf=$T/keys/new-1.key
[ -f "$kf" ] || lg_fail "no key file $kf"
[ "$(stat -c %a "$kf")" = 600 ] || lg_fail "key file mode $(stat -c %a "$kf"), want 600"
[ "$(stat -c %a "$T/keys")" = 700 ] || lg_fail "keys/ mode $(stat -c %a "$T/keys"), want 700"
grep -Eqx '[0-9a-f]{64}' "$kf" && [ "$(stat -c %s "$kf")" = 65 ] || lg_fail "key file is not 64 hex digits and a newline"
fp=$(python3 -c 'import hashlib,sys; print(hashlib.sha256(bytes.fromhex(open(sys.argv[1]).read().strip())).hexdigest()[:8])' "$kf")
case "$out" in *"fingerprint $fp"*"$kf"*) ;; *) lg_fail "enroll did not print fingerprint $fp and $kf" ;; esac
[ "$(head -n 1 "$T/policy.yaml")" = "$head1" ] || lg_fail "the policy lost its first comment"
grep -q "key_file: keys/new-1.key" "$T/policy.yaml" || lg_fail "no new-1 key in the policy file"
"${CTL[@]}" devices list > "$T/list.txt"
cat "$T/list.txt"
grep -Eq "^201 +new-1 +$LINE_IP +1:$fp\$" "$T/list.txt" || lg_fail "devices list lacks 201 with key 1:$fp"
gen_policy "$T/g201.yaml" 201 new-1 "[{id: 1, key_file: keys/new-1.key}]"
gen "$T/g201.yaml" 1 1 500
expect "enrolled, new key" 500 500 0 0

# --- revoke under load ----------------------------------------------------------------
# 4000 frames at 1000/s, paced from the moment the generator gets SIGUSR1 (--hold): frame N
# leaves at t0 + (N - 1) ms, so the count of admitted frames says when the last one was
# sent. The revoke comes after 1 s. Two figures: the send time of the last admitted frame
# against the command's return (negative: the revocation was in force before the reply),
# and, from the counters alone, the first poll after the return that saw the final count.
python3 - "$LG_BIN_CTL" "$T/d.sock" "$NS_LINE" "$LG_BIN_GEN" "$T/g201.yaml" $SRV_IP $LINE_IP \
	"$A0" "$U0" > "$T/revoke.txt" <<'PY'
import json, signal, subprocess, sys, time
ctl, sock, ns, gen, pol, dst, src = sys.argv[1:8]
a0, u0 = int(sys.argv[8]), int(sys.argv[9])
def counters():
    out = subprocess.run([ctl, "-s", sock, "metrics"], capture_output=True, text=True).stdout
    m = json.loads(out)["metrics"]
    x, d = m.get("xdp") or {}, m["drops"]
    return m["admitted"], x.get("unknown_device", 0) + d.get("unknown_device", 0)
g = subprocess.Popen(["ip", "netns", "exec", ns, gen, "-p", pol, "-t", dst, "-S", src,
                      "--key-id", "1", "--first-seq", "501", "-n", "4000", "-r", "1000", "-q",
                      "--hold"], stderr=subprocess.PIPE, text=True)
if "ready" not in g.stderr.readline():
    sys.exit("the load generator did not get ready")
g.send_signal(signal.SIGUSR1)
t0 = time.monotonic()
time.sleep(1.0)
t_cmd = time.monotonic()
r = subprocess.run([ctl, "-s", sock, "devices", "revoke", "201"], capture_output=True, text=True)
t_ret = time.monotonic()
if r.returncode:
    sys.exit("revoke failed: " + r.stderr)
print(r.stdout.strip())
last, polls = counters()[0], 1
t_last = time.monotonic()
while time.monotonic() < t_ret + 1.5:
    a = counters()[0]
    polls += 1
    if a != last:
        last, t_last = a, time.monotonic()
if g.wait():
    sys.exit("the load generator failed")
end = time.monotonic() + 10
while True:
    a, u = counters()
    if a - a0 + u - u0 >= 4000 or time.monotonic() > end:
        break
    time.sleep(0.1)
n = a - a0
print(f"{(t0 + (n - 1) / 1000 - t_ret) * 1000:.0f} {(t_last - t_ret) * 1000:.0f} {polls} {n} "
      f"{(t_ret - t_cmd) * 1000:.0f}")
PY
cat "$T/revoke.txt"
read -r sent_ms poll_ms polls before cmd_ms < <(tail -n 1 "$T/revoke.txt")
echo "revoke: the last admitted frame of device 201 was sent $sent_ms ms after the command" \
	"returned (frame $before of 4000 at 1000/s; the command took $cmd_ms ms); the counters" \
	"stopped within $poll_ms ms ($polls polls)"
[ "$poll_ms" -lt 1000 ] && [ "$sent_ms" -lt 1000 ] ||
	lg_fail "device 201 was still admitted long after revoke returned"
[ "$before" -gt 500 ] && [ "$before" -lt 3500 ] || lg_fail "revoke came too early or late: $before of 4000 admitted"
expect "revoked under load" 4000 "$before" $((4000 - before)) 0
[ ! -e "$kf" ] || lg_fail "the revoked device's key file is still there"
grep -q "id: 201" "$T/policy.yaml" && lg_fail "device 201 is still in the policy file"
[ "$(head -n 1 "$T/policy.yaml")" = "$head1" ] || lg_fail "the policy lost its first comment"

# --- rotate under load ------------------------------------------------------------------
out=$("${CTL[@]}" devices enroll --id 202 --name new-2 --source $LINE_IP) || lg_fail "enroll 202: $out"
gen_policy "$T/g202.yaml" 202 new-2 "[{id: 1, key_file: keys/new-2.key}]"
gen "$T/g202.yaml" 1 1 1000 &
GEN=$!
sleep 0.3
out=$("${CTL[@]}" devices rotate-key 202 --grace 6s) || lg_fail "rotate-key failed: $out"
echo "$out"
wait $GEN || lg_fail "load generator failed"
expires=$(sed -n 's/.*accepted until \([0-9TZ:-]*\).*/\1/p' <<<"$out")
[ -n "$expires" ] || lg_fail "rotate-key did not say until when the old key is accepted"
exp_s=$(date -d "$expires" +%s)
# Within the grace period, without waiting for the counters in between (the workers
# publish them about once a second): the new key, then the old one again.
gen_policy "$T/g202b.yaml" 202 new-2 \
	"[{id: 1, key_file: keys/new-2.key}, {id: 2, key_file: keys/new-2-k2.key}]"
gen "$T/g202b.yaml" 2 1001 500
gen "$T/g202b.yaml" 1 1501 500
[ "$(date +%s)" -lt "$exp_s" ] || lg_fail "too slow: the grace period ended before the old key's last frame"
expect "old key while rotating, new key, old key in the grace period" 2000 2000 0 0
grep -q "expires: $expires" "$T/policy.yaml" || lg_fail "no 'expires: $expires' in the policy file"
"${CTL[@]}" devices list | grep -E "^202 " | tee "$T/list.txt"
grep -Eq " 1:[0-9a-f]{8} \(expires $expires\) 2:[0-9a-f]{8}\$" "$T/list.txt" ||
	lg_fail "devices list does not show both keys and the expiry"
while [ "$(date +%s)" -le $((exp_s + 1)) ]; do sleep 0.2; done
gen "$T/g202b.yaml" 1 2001 500
expect "old key after the expiry" 500 0 0 500
gen "$T/g202b.yaml" 2 2501 500
expect "new key after the expiry" 500 500 0 0
# The expiry is in the policy file: both restarted, the old key stays refused.
lg_stop_linegate
if [ "$MODE" = xdp ]; then lg_start_linegate --xdp lg0; else lg_start_linegate; fi
lg_start_linegated
read -r A0 U0 K0 < <(counters)
gen "$T/g202b.yaml" 1 3001 300
expect "old key after a restart" 300 0 0 300
gen "$T/g202b.yaml" 2 3301 300
expect "new key after a restart" 300 300 0 0
out=$("${CTL[@]}" devices prune) || lg_fail "prune failed: $out"
echo "$out"
[ "$out" = "1 expired key dropped" ] || lg_fail "prune: '$out'"
[ ! -e "$T/keys/new-2.key" ] || lg_fail "the expired key's file is still there"
grep -q "keys/new-2.key" "$T/policy.yaml" && lg_fail "the expired key is still in the policy file"
gen_policy "$T/g202c.yaml" 202 new-2 "[{id: 2, key_file: keys/new-2-k2.key}]"
gen "$T/g202c.yaml" 2 3601 300
expect "new key after prune" 300 300 0 0

# --- refusals leave everything as it was ------------------------------------------------
# A hand edit in progress (invalid, so the file watch keeps the running policy): a verb
# would apply it too, so it is refused until the file is the running policy again.
cp "$T/policy.yaml" "$T/good.yaml"
echo "bogus_field: 1" >> "$T/policy.yaml"
sum=$(sha256sum < "$T/policy.yaml")
sleep 0.5
rc=0; out=$("${CTL[@]}" devices enroll --id 203 --name new-3 --source $LINE_IP 2>&1) || rc=$?
echo "$out"
[ $rc -eq 1 ] && [[ "$out" == *"is not the running policy"*"linegatectl apply"* ]] ||
	lg_fail "an edit of a file changed by hand was not refused ($rc): $out"
[ ! -e "$T/keys/new-3.key" ] && [ "$(sha256sum < "$T/policy.yaml")" = "$sum" ] ||
	lg_fail "the refused edit changed something"
cp "$T/good.yaml" "$T/policy.yaml"
sum=$(sha256sum < "$T/policy.yaml")
rc=0; out=$("${CTL[@]}" devices enroll --id 203 --name new-3 --source $LINE_IP --group nosuch 2>&1) || rc=$?
echo "$out"
[ $rc -eq 1 ] && [[ "$out" == *"group 'nosuch' is not defined"* ]] || lg_fail "unknown group not refused: $out"
[ ! -e "$T/keys/new-3.key" ] && [ "$(sha256sum < "$T/policy.yaml")" = "$sum" ] ||
	lg_fail "the refused enroll left a key file or changed the policy"
# A name that is another device's rotated key file (keys/NAME-kN.key): refused, so that
# enroll and rotate-key never hand two devices one key (trial J, s21).
rc=0; out=$("${CTL[@]}" devices enroll --id 203 --name new-2-k3 --source $LINE_IP 2>&1) || rc=$?
echo "$out"
[ $rc -eq 1 ] && [[ "$out" == *"another device's rotated key file"* ]] ||
	lg_fail "a name ending in -kN was not refused: $out"
[ ! -e "$T/keys/new-2-k3.key" ] && [ "$(sha256sum < "$T/policy.yaml")" = "$sum" ] ||
	lg_fail "the refused enroll left a key file or changed the policy"
# The data plane down: the apply fails, the old file comes back, the new key file goes.
kill -INT $DP_PID
wait $DP_PID || lg_fail "linegate exited with status $?"
rc=0; out=$("${CTL[@]}" devices enroll --id 203 --name new-3 --source $LINE_IP 2>&1) || rc=$?
echo "$out"
[ $rc -eq 1 ] && [[ "$out" == *"data plane"* ]] || lg_fail "enroll with the data plane down: $rc $out"
[ ! -e "$T/keys/new-3.key" ] || lg_fail "the refused enroll left its key file"
[ "$(sha256sum < "$T/policy.yaml")" = "$sum" ] || lg_fail "the old policy file was not put back"
rc=0; out=$("${CTL[@]}" devices revoke 202 2>&1) || rc=$?
[ $rc -eq 1 ] && grep -q "id: 202" "$T/policy.yaml" && [ -e "$T/keys/new-2-k2.key" ] ||
	lg_fail "a refused revoke changed the policy or removed the key file"

# --- no key byte anywhere ----------------------------------------------------------------
kill -INT $D_PID
wait $D_PID || lg_fail "linegated exited with status $?"
LG_PIDS=""
for k in "$T"/keys/*.key; do
	hex=$(tr -d '\n' < "$k")
	for f in "$T/audit.jsonl" "$T/list.txt" "$T/revoke.txt" "$T/m.json"; do
		! grep -qi "$hex" "$f" || lg_fail "key bytes of $k in $f"
	done
	[[ "$out" != *"$hex"* ]] || lg_fail "key bytes of $k in an error"
done
# Each verb's version in history names the verb, the device and what changed.
python3 - "$T/state/versions" <<'PY' || lg_fail "the verbs' versions do not say what they did"
import glob, json, re, sys
whats = [json.load(open(f))["what"] for f in
         sorted(glob.glob(sys.argv[1] + "/*.json"), key=lambda f: int(f.split("/")[-1][:-5]))]
want = [r"devices enroll 201 \(new-1\), new key fingerprint [0-9a-f]{8}",
        r"devices revoke 201 \(new-1\)",
        r"devices enroll 202 \(new-2\), new key fingerprint [0-9a-f]{8}",
        r"devices rotate-key 202 \(new-2\): key 2, new key fingerprint [0-9a-f]{8}",
        r"devices prune: removed keys keys/new-2.key"]
got = [w for w in whats if w.startswith("devices ")]
print("history:", got)
sys.exit(0 if len(got) == len(want) and all(re.fullmatch(w, g) for w, g in zip(want, got))
         else 1)
PY
n=$(grep -c '"what":"devices_[a-z_]*","result":"ok"' "$T/audit.jsonl")
[ "$n" -eq 5 ] || lg_fail "audit log: $n enrollment changes, want 5 (2 enroll, revoke, rotate, prune)"
echo PASS
