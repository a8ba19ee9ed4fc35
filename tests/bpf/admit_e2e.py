#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Frame sender and UDP receiver for the admission end-to-end test.

send IFACE DST_MAC DST_IP ID SEQ COUNT [--smac M] [--sip A] [--sport N] [--magic HEX]
     [--bad-ipcsum]
    writes COUNT LGF frames (sequence SEQ, SEQ+1, ...) to IFACE through a raw
    packet socket, so that the source MAC, IP and port can be anything.
recv PORT STOP_PORT OUT
    counts LGF datagrams per device id on UDP PORT until a datagram arrives on
    STOP_PORT, then writes "ID COUNT" lines to OUT.
"""
import argparse
import select
import socket
import struct
import sys
import time

LGF_PORT = 4739


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def lgf(dev_id, seq, magic):
    samples = 16
    hdr = struct.pack("<2sBBIBBBBIHHIQQ", magic, 1, 1, dev_id, 0, 1, 1, 1, 1000, samples, 0,
                      0, seq, 1700000000000000000 + seq)
    return hdr + bytes(2 * samples) + bytes(16)


def frame(a, seq):
    payload = lgf(a.id, seq, bytes.fromhex(a.magic))
    udp = struct.pack("!HHHH", a.sport, LGF_PORT, 8 + len(payload), 0) + payload
    src, dst = socket.inet_aton(a.sip), socket.inet_aton(a.dst_ip)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), seq & 0xFFFF, 0x4000, 64, 17, 0,
                     src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip) ^ (1 if a.bad_ipcsum else 0)) + ip[12:]
    eth = bytes.fromhex(a.dst_mac.replace(":", "")) + bytes.fromhex(a.smac.replace(":", ""))
    return eth + b"\x08\x00" + ip + udp


def send(a):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.iface, 0))
    if not a.smac:
        a.smac = open("/sys/class/net/%s/address" % a.iface).read().strip()
    for i in range(a.count):
        s.send(frame(a, a.seq + i))
        # A veth peer with native XDP takes frames through a 256-entry ring; stay below it.
        if i % 32 == 31:
            time.sleep(0.002)


def recv(a):
    data = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    data.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    data.bind(("0.0.0.0", a.port))
    stop = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stop.bind(("0.0.0.0", a.stop_port))
    counts = {}
    print("listening", flush=True)
    done = False
    while not done:
        r, _, _ = select.select([data, stop], [], [], 30)
        if not r:
            break
        if data in r:
            msg = data.recv(65536)
            if len(msg) >= 8 and msg[:2] == b"LG":
                dev = struct.unpack_from("<I", msg, 4)[0]
                counts[dev] = counts.get(dev, 0) + 1
        if stop in r:
            stop.recv(16)
            # Drain what is already queued before stopping.
            data.setblocking(False)
            try:
                while True:
                    msg = data.recv(65536)
                    if msg[:2] == b"LG":
                        dev = struct.unpack_from("<I", msg, 4)[0]
                        counts[dev] = counts.get(dev, 0) + 1
            except BlockingIOError:
                pass
            done = True
    with open(a.out, "w") as f:
        for dev, n in sorted(counts.items()):
            f.write("%d %d\n" % (dev, n))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument("iface")
    s.add_argument("dst_mac")
    s.add_argument("dst_ip")
    s.add_argument("id", type=int)
    s.add_argument("seq", type=int)
    s.add_argument("count", type=int)
    s.add_argument("--smac", default="")
    s.add_argument("--sip", default="10.77.0.1")
    s.add_argument("--sport", type=int, default=40001)
    s.add_argument("--magic", default="4c47")
    s.add_argument("--bad-ipcsum", action="store_true", help="a wrong IPv4 header checksum")
    r = sub.add_parser("recv")
    r.add_argument("port", type=int)
    r.add_argument("stop_port", type=int)
    r.add_argument("out")
    a = p.parse_args()
    send(a) if a.cmd == "send" else recv(a)


if __name__ == "__main__":
    sys.exit(main())
