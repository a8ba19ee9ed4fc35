#!/usr/bin/env python3
"""Send a pcap's Ethernet frames on an interface, some behind 802.1Q tags.

Usage: lgvlan.py PCAP IFACE DST_MAC SKIP SPEC...
After the first SKIP frames of the file, each SPEC is COUNT:VLAN: the next COUNT frames of the file (in order), each with one
802.1Q tag of id VLAN inserted after the MAC addresses, or untagged for VLAN '-'.
The frames' destination MAC becomes DST_MAC (the server's interface). Prints how many
frames it sent in each SPEC, space-separated. Standard library only (AF_PACKET, root).
"""
import socket
import struct
import sys


def frames(path):
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):
        sys.exit("lgvlan: %s: not a little-endian pcap file" % path)
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack("<I", data[off + 8:off + 12])[0]
        yield data[off + 16:off + 16 + incl]
        off += 16 + incl


def main():
    path, iface, dst, skip = sys.argv[1:5]
    dst = bytes.fromhex(dst.replace(":", ""))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    it = frames(path)
    for _ in range(int(skip)):
        next(it, None)
    sent = []
    for spec in sys.argv[5:]:
        count, vlan = spec.split(":")
        n = 0
        for _ in range(int(count)):
            f = next(it, None)
            if f is None:
                break
            tag = b"" if vlan == "-" else struct.pack("!HH", 0x8100, int(vlan))
            s.send(dst + f[6:12] + tag + f[12:])
            n += 1
        sent.append(n)
    print(" ".join(map(str, sent)))


if __name__ == "__main__":
    main()
