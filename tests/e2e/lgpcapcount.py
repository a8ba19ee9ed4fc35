#!/usr/bin/env python3
"""lgpcapcount.py FILE...: read recordings with libpcap (ctypes), independently of
linegate's writer, and print JSON: frames per device (LGF by its header's device id, UADP
by its publisher: "uadp:2234" or "uadp:gw-1"), duplicate (device, sequence) pairs, bad checksums, link
types, frames per "SRC-MAC>DST-MAC", and per-file counts. Checksums are verified here (IPv4 header and UDP)."""
import ctypes, ctypes.util, json, struct, sys

lib = ctypes.CDLL(ctypes.util.find_library("pcap"))


class Hdr(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("usec", ctypes.c_long),
                ("caplen", ctypes.c_uint32), ("len", ctypes.c_uint32)]


lib.pcap_open_offline_with_tstamp_precision.restype = ctypes.c_void_p
lib.pcap_open_offline_with_tstamp_precision.argtypes = [ctypes.c_char_p, ctypes.c_int,
                                                         ctypes.c_char_p]
lib.pcap_next_ex.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.POINTER(Hdr)),
                             ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte))]
lib.pcap_datalink.argtypes = [ctypes.c_void_p]
lib.pcap_close.argtypes = [ctypes.c_void_p]


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


out = {"frames": 0, "devices": {}, "macs": {}, "dups": 0, "bad_csum": 0, "linktypes": [], "files": {},
       "ts_ns": []}
seen = set()
for path in sys.argv[1:]:
    err = ctypes.create_string_buffer(512)
    p = lib.pcap_open_offline_with_tstamp_precision(path.encode(), 1, err)  # ns precision
    if not p:
        sys.exit("%s: %s" % (path, err.value.decode()))
    out["linktypes"].append(lib.pcap_datalink(p))
    n = 0
    h = ctypes.POINTER(Hdr)()
    d = ctypes.POINTER(ctypes.c_ubyte)()
    while True:
        r = lib.pcap_next_ex(p, ctypes.byref(h), ctypes.byref(d))
        if r != 1:
            if r == -1:
                sys.exit("%s: read error after %d records" % (path, n))
            break
        f = bytes(d[:h.contents.caplen])
        macs = "%s>%s" % (f[6:12].hex(":"), f[0:6].hex(":"))
        out["macs"][macs] = out["macs"].get(macs, 0) + 1
        out["ts_ns"].append(h.contents.sec * 10**9 + h.contents.usec)
        n += 1
        et = struct.unpack("!H", f[12:14])[0]
        if et == 0x0800:
            ip = f[14:34]
            if csum(ip) != 0xffff:
                out["bad_csum"] += 1
            src, dst = ip[12:16], ip[16:20]
            udp = f[34:]
            pseudo = src + dst + struct.pack("!BBH", 0, 17, len(udp))
        else:
            ip = f[14:54]
            src, dst = ip[8:24], ip[24:40]
            udp = f[54:]
            pseudo = src + dst + struct.pack("!IxxxB", len(udp), 17)
        if csum(pseudo + udp) != 0xffff:
            out["bad_csum"] += 1
        dport = struct.unpack("!H", udp[2:4])[0]
        pl = udp[8:]
        if pl[:2] == b"LG":
            dev, seq = struct.unpack("<I", pl[4:8])[0], struct.unpack("<Q", pl[24:32])[0]
            key = str(dev)
        else:
            # the two UADP publishers of the default policy: PublisherId "gw-1"
            # (legacy-gw-1, a String) or 2234 (press-3-plc)
            key, seq = ("uadp:gw-1" if b"gw-1" in pl[:16] else "uadp:2234"), pl
        if (key, seq) in seen:
            out["dups"] += 1
        seen.add((key, seq))
        out["devices"][key] = out["devices"].get(key, 0) + 1
    lib.pcap_close(p)
    out["files"][path] = n
    out["frames"] += n
ts = out.pop("ts_ns")
out["ts_ordered"] = ts == sorted(ts)
out["ts_first_ns"] = ts[0] if ts else 0
print(json.dumps(out, sort_keys=True))
