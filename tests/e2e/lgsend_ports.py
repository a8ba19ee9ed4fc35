#!/usr/bin/env python3
"""One LGF device's frames from several source ports (round robin), for the reorder tests.

usage: lgsend_ports.py KEYFILE DEVICE N SAMPLES SRC_IP DST_IP:PORT PORTS [--skip SEQ,...]

Frames 1..N of DEVICE, SAMPLES int16 samples each (a deterministic signal: the same frames
every run), frame i from source port PORTS[i % len(PORTS)] (PORTS: comma-separated); the
sequences in --skip are not sent (a loss at the sender). A 2 ms pause every 50 frames keeps
the rate below what a 2-worker veth drops. Prints "sent N" with the count actually sent.
"""
import hashlib
import hmac
import math
import socket
import struct
import sys
import time


def frame(key, dev, seq, ts, samples):
    # LGF v1 header (docs/wire-format.md): magic, version 1, type 1 (samples), device, key
    # id 1, sensor kind 1, format 1 (int16), 1 channel, 10 kHz, count, flags 0, scale, seq, ts
    hdr = b"LG" + struct.pack("<BBIBBBBIHHfQQ", 1, 1, dev, 1, 1, 1, 1, 10000, len(samples), 0,
                              0.001, seq, ts)
    body = struct.pack("<%dh" % len(samples), *samples)
    m = hdr + body
    return m + hmac.new(key, m, hashlib.sha256).digest()[:16]


def main():
    args = sys.argv[1:]
    skip = set()
    if "--skip" in args:
        i = args.index("--skip")
        skip = {int(x) for x in args[i + 1].split(",") if x}
        del args[i:i + 2]
    keyfile, dev, n, ns, src, dst, ports = args
    key = bytes.fromhex(open(keyfile).read().strip())
    dev, n, ns = int(dev), int(n), int(ns)
    host, port = dst.rsplit(":", 1)
    socks = []
    for p in ports.split(","):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((src, int(p)))
        socks.append(s)
    t0 = 1796560000000000000
    sent = 0
    for seq in range(1, n + 1):
        if seq % 50 == 0:
            time.sleep(0.002)
        if seq in skip:
            continue
        base = (seq - 1) * ns
        smp = [int(2000 * math.sin(2 * math.pi * (base + i) * 0.0123) +
                   1500 * math.sin(2 * math.pi * (base + i) * 0.21)) for i in range(ns)]
        f = frame(key, dev, seq, t0 + (seq - 1) * ns * 100000, smp)
        socks[seq % len(socks)].sendto(f, (host, int(port)))
        sent += 1
    print("sent", sent)


if __name__ == "__main__":
    main()
