#!/usr/bin/env bash
# A real publisher without PublisherId through XDP admission: the first NetworkMessage of
# open62541's IOP publisher (tests/fixtures/uadp/open62541_iop_1.bin, the UDP payload of the
# first datagram of a capture of examples/pubsub/server_pubsub_publisher_iop.c: no
# PublisherId, no GroupHeader, no PayloadHeader, two DataSetMessages), sent from the line's
# address, where devices 130 and 131 are enrolled by source address and writer positions 1
# and 2, and from another address. XDP (native, or generic with $1 = generic) must admit
# every message from the enrolled address for device 130 (position 1), pass it to the
# workers' socket, and drop every one from the other address as unknown_device.
source "$(dirname "$0")/lib.sh"
lg_need_root
lg_tmp
lg_netns_up "lgio$$"
T=$LG_TMP
MODE=${1:-native}
[ "$MODE" = native ] && XDP=lg0 || XDP=lg0:generic
MSG="$LG_SOURCE/tests/fixtures/uadp/open62541_iop_1.bin"
N=40

lg_policy "$T/policy.yaml"
cat >> "$T/policy.yaml" <<EOP
  - id: 130
    name: iop-writer-1
    source: $LINE_IP
    keys:
      - {id: 1, key_file: keys/press-1-vib.key}
    uadp: {writer_position: 1, signed: false}
  - id: 131
    name: iop-writer-2
    source: $LINE_IP
    keys:
      - {id: 1, key_file: keys/press-1-vib.key}
    uadp: {writer_position: 2, signed: false}
EOP

lg_start_linegate_xdp "$MODE" -B $SRV_IP -x $XDP -b uring
UADP_PORT=$(awk '/^uadp_port:/ {print $2}' "$T/policy.yaml")
ip netns exec "$NS_LINE" python3 - "$MSG" $SRV_IP "$UADP_PORT" $LINE_IP $SPOOF_IP $N <<'PY'
import socket, sys, time
msg = open(sys.argv[1], "rb").read()
dst, port, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[6])
for src in sys.argv[4:6]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    for _ in range(n):
        s.sendto(msg, (dst, port))
        time.sleep(0.001)
PY
sleep 0.3
lg_dp_stats "$T/s.json"
kill -INT $DP_PID
wait $DP_PID || { cat "$T/dp.err"; lg_fail "linegate exited with status $?"; }
LG_PIDS=""

python3 - "$T/s.json" $N <<'PY'
import json, sys
from lgcheck import check, done
st, n = json.load(open(sys.argv[1])), int(sys.argv[2])
x = st["xdp"]
check("xdp admitted (IOP from the enrolled address)", x["admitted"], n)
check("xdp unknown_device (IOP from another address)", x["unknown_device"], n)
check("xdp malformed", x["malformed"], 0)
check("xdp spoofed_source", x["spoofed_source"], 0)
check("workers received", st["received"], n)
check("workers uadp_received", st["uadp_received"], n)
# What the workers make of it is theirs (dataplane/verify.c maps DataSetMessages with
# lg_uadp_device_key(), which needs a PublisherId): shown, not judged here.
print("workers: admitted %d, drops %s" % (st["admitted"],
      {r: c for r, c in st["drops"].items() if c}))
done()
PY
echo PASS
