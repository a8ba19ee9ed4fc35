#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""IPv6 frames with extension headers for tests/bpf/admit_e2e_ipv6.sh.

send IFACE DST_MAC KIND COUNT
    writes COUNT frames of one KIND through a raw packet socket:
      mld      MLDv2 report behind Hop-by-Hop (Router Alert), to ff02::16
      lgf      LGF of device 6 from fd00::1 port 40006, behind Hop-by-Hop
      unknown  the same from device 99
      frag     the same with a Fragment header instead (offset 0, more fragments)
sniff IFACE OUT
    counts the IPv6 frames of each KIND the interface receives (after XDP: a
    packet socket only sees what the program passed) until SIGTERM, then
    writes "KIND COUNT" lines to OUT.
"""
import argparse
import signal
import socket
import struct
import sys

from admit_e2e import lgf

SRC6 = socket.inet_pton(socket.AF_INET6, "fd00::1")
DST6 = socket.inet_pton(socket.AF_INET6, "fd00::2")
LL6 = socket.inet_pton(socket.AF_INET6, "fe80::1")
MLD6 = socket.inet_pton(socket.AF_INET6, "ff02::16")
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def ipv6(nh, src, dst, payload, hops=64):
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), nh, hops, src, dst) + payload


def hbh(nh):
    # Router Alert (MLD), then PadN to 8 bytes.
    return struct.pack("!BB", nh, 0) + bytes([5, 2, 0, 0, 1, 0])


def frame(kind, dst_mac, src_mac, seq):
    if kind == "mld":
        report = struct.pack("!BBHHH", 143, 0, 0, 0, 0)
        ip = ipv6(0, LL6, MLD6, hbh(58) + report, hops=1)
        dst_mac = "33:33:00:00:00:16"
    else:
        payload = lgf(99 if kind == "unknown" else 6, seq, b"LG")
        udp = struct.pack("!HHHH", 40006, 4739, 8 + len(payload), 0) + payload
        if kind == "frag":
            ip = ipv6(44, SRC6, DST6, struct.pack("!BBHI", 17, 0, 1, seq) + udp)
        else:
            ip = ipv6(0, SRC6, DST6, hbh(17) + udp)
    eth = bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", ""))
    return eth + b"\x86\xdd" + ip


def kind_of(f):
    if len(f) < 14 + 40 + 8 or f[12:14] != b"\x86\xdd":
        return None
    nh, ext = f[20], f[54:62]
    if nh == 0 and ext[0] == 58:
        return "mld"
    if nh == 0 and ext[0] == 17 and len(f) >= 62 + 8 + 8:
        return "unknown" if struct.unpack_from("<I", f, 70 + 4)[0] == 99 else "lgf"
    if nh == 44:
        return "frag"
    return "other"


def send(a):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.iface, 0))
    src_mac = open("/sys/class/net/%s/address" % a.iface).read().strip()
    for i in range(a.count):
        s.send(frame(a.kind, a.dst_mac, src_mac, i + 1))


def sniff(a):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((a.iface, 0))
    counts = {}

    def stop(_sig, _frm):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print("listening", flush=True)
    try:
        while True:
            f, addr = s.recvfrom(65536)
            if addr[2] == PACKET_OUTGOING:
                continue
            k = kind_of(f)
            if k:
                counts[k] = counts.get(k, 0) + 1
    except KeyboardInterrupt:
        pass
    with open(a.out, "w") as out:
        for k, n in sorted(counts.items()):
            out.write("%s %d\n" % (k, n))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument("iface")
    s.add_argument("dst_mac")
    s.add_argument("kind", choices=["mld", "lgf", "unknown", "frag"])
    s.add_argument("count", type=int)
    r = sub.add_parser("sniff")
    r.add_argument("iface")
    r.add_argument("out")
    a = p.parse_args()
    send(a) if a.cmd == "send" else sniff(a)


if __name__ == "__main__":
    sys.exit(main())
