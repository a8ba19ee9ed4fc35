#!/usr/bin/python3
"""A line2 recording played LOOPS times in a row (a line that repeats its cycle: stationary),
optionally with a sensor gain change: from AT seconds of line time (counted from a device's
first sample, over the loops) until UNTIL (default: the end) every sample of DEVICE is
multiplied by GAIN. Frames of later
loops get the next sequence numbers and shifted timestamps and are signed again with the
device's key; frames left alone in the first loop are copied byte for byte.

usage: drift_line.py LINE_DIR IN.pcap OUT.pcap LOOPS [DEVICE AT GAIN [UNTIL]]
prints the line's seconds and the number of frames whose samples were scaled."""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../line2"))
import line2  # noqa: E402


def main():
    line, src, dst, loops = sys.argv[1:5]
    loops = int(loops)
    device, at, gain = (sys.argv[5], float(sys.argv[6]), float(sys.argv[7])) \
        if len(sys.argv) > 5 else (None, 0.0, 1.0)
    until = float(sys.argv[8]) if len(sys.argv) > 8 else float("inf")
    man = json.load(open(os.path.join(line, "manifest.json")))
    devs = {d["id"]: d for d in man["devices"]}
    keys = {i: line2.device_key(man["seed"], i) for i in devs}
    gain_id = [d["id"] for d in man["devices"] if d["name"] == device][0] if device else None
    t0, period = man["first_sample_ns"], int(man["seconds"] * 10**9)
    pkts = line2.read_pcap(src)
    nseq = {}
    for _, pkt in pkts:
        fr = line2.udp_payload(pkt)[1]
        i, seq = struct.unpack_from("<I", fr, 4)[0], struct.unpack_from("<Q", fr, 24)[0]
        nseq[i] = max(nseq.get(i, 0), seq)
    out = line2.PcapWriter(dst, False)
    scaled = n = 0
    for k in range(loops):
        for ts, pkt in pkts:
            sport, fr = line2.udp_payload(pkt)
            i = struct.unpack_from("<I", fr, 4)[0]
            h, s = line2.lgf_verify(keys[i], fr)
            t = h["timestamp_ns"] + k * period
            g = gain if i == gain_id and at * 1e9 <= t - t0 < until * 1e9 else 1.0
            if k or g != 1.0:
                assert h["sample_format"] == 2, "f32 frames only"
                fr = line2.lgf_frame(keys[i], i, h["key_id"], h["sequence"] + k * nseq[i], t,
                                     h["sample_rate"], (s * g).astype(np.float32), "f32",
                                     h["scale"], h["sensor_kind"])
                pkt = line2.udp_payload_packet(fr, sport, man["source"], n)
                scaled += g != 1.0
            out.packet(ts + k * period, pkt)
            n += 1
    out.close()
    print(man["seconds"] * loops, scaled)


main()
