#!/usr/bin/env python3
"""Capture the IPv4 UDP frames arriving on an interface into a pcap file (no tcpdump here).

Usage: pcap_capture.py IFACE FILE READY_FILE
Writes READY_FILE once listening; stops on SIGINT or SIGTERM and prints the number of
frames written. Frames the host sends (ICMP errors, ARP replies) are left out.
"""
import signal
import socket
import struct
import sys
import time

PACKET_OUTGOING = 4


def main():
    if len(sys.argv) != 4 or sys.argv[1] in ('-h', '--help'):
        print(__doc__.strip())
        return 0 if len(sys.argv) == 2 else 2
    iface, path, ready = sys.argv[1:]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
    s.bind((iface, 0))
    s.settimeout(0.1)
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    n = 0
    with open(path, 'wb') as out:
        out.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        open(ready, 'w').close()
        while True:
            try:
                data, addr = s.recvfrom(65535)
            except socket.timeout:
                if stop:
                    break
                continue
            except InterruptedError:
                continue
            if addr[2] == PACKET_OUTGOING:
                continue
            if len(data) < 34 or data[12:14] != b'\x08\x00' or data[23] != 17:
                continue
            t = time.time()
            out.write(struct.pack('<IIII', int(t), int(t % 1 * 1e6), len(data), len(data)))
            out.write(data)
            n += 1
    print(n)
    return 0


sys.exit(main())
