#!/usr/bin/python3
"""line2: a second line of machines, independent of linegate's own simulator.

Written from textbook vibration physics with numpy alone (no code or constants taken from
bench/signal.c), so that a test that passes on linegate's simulator and on line2 is not
passing because it was tuned to one of them. Every number below is drawn per (seed,
device) from its own random stream (numpy PCG64 seeded with [seed, device, purpose]), so
a device's machine does not depend on how many devices, which formats or how many seconds
are asked for, and the same seed gives the same bytes.

Physics of one device (t in seconds, fs the sample rate):

  sample rate   fs: half of the devices one of 10000, 10240, 12000, 12800, 16000, 20000,
                20480, 25600 Hz (what analysers offer), the others any integer in
                10000..25600 Hz
  amplitude     A: log-uniform in x0.05..x20, applied to the sum of everything below
                (the sensor's sensitivity and the machine's size)
  channels      1..3 (accelerometer axes); each channel sees every source with its own gain
                (0.5..1.2 per source group) and has its own noise
  shaft speed   the machine's top speed F in 10..60 Hz and 1..3 more set points in
                F x 0.6..1.0 (at least 10 Hz): the recipes a line runs. f(t) in Hz is
                piecewise linear through knots: the first set point at load 1.0, then
                events 4 s + an exponential of mean 21 s apart: a ramp to a set point
                over 1..6 s, or a load step within 50 ms to a load l in 0.8..1.25, which
                sets the vibration level L(t) = l and the motor's droop: the speed is the
                set point x (1 - 0.03 (l - 0.8) / 0.45); on top a slow wander of
                0.1..0.5% (three sines, 0.05..0.5 Hz)
                shaft angle in revolutions: theta(t) = integral of f, cumsum(f) / fs
  harmonics     L(t) * sum_k a_k sin(2 pi k theta + p_k), k = 1, 2, 3; a_1 in 0.2..1.0 g,
                a_2 = a_1 x 0.1..0.5, a_3 = a_1 x 0.05..0.3
  gear mesh     Z teeth in 13..61 (fewer where Z x 60 Hz would pass 0.4 fs):
                L(t) a_m (1 + m cos(2 pi theta + q)) sin(2 pi Z theta + p), a_m in 0.1..0.6 g,
                m in 0.1..0.4 (sidebands at mesh +- shaft speed), plus the second mesh
                harmonic at 0.2..0.5 of it where 2 Z x 60 Hz stays under 0.45 fs
  resonances    one or two structural modes, f_r in 2..6 kHz (clipped to 0.42 fs),
                damping zeta in 0.02..0.08: impulse response
                h(t) = exp(-zeta w t) sin(w_d t), w = 2 pi f_r, w_d = w sqrt(1 - zeta^2),
                excited by broadband noise (sd b in 0.05..0.2 g, times L(t)) and by every
                impact below
  bearing       n balls in 7..20, pitch diameter D in 25..150 mm, ball diameter
                d = D x 0.12..0.28, contact angle phi in 0..40 degrees; with
                r = d / D cos(phi), as orders of the shaft speed:
                  FTF  = (1 - r) / 2               (cage)
                  BPFO = n (1 - r) / 2             (ball pass, outer race)
                  BPFI = n (1 + r) / 2             (ball pass, inner race)
                  BSF  = D / (2 d) (1 - r^2)       (ball spin)
                an impact of order O falls where O theta crosses an integer, moved by a
                random 0.5..2% of its period (rolling elements slip)
  sensor noise  white, sd 0.01..0.05 g per channel
  dropouts      on every device, healthy or not: a Poisson number (one per 10..60 s) of
                flat segments of 1..20 ms where the sensor holds its last value (a real
                analyser's dropout; never NaN)

Faults (one per faulty device, onset t0 from --fault-at, labelled in labels.csv), each
growing from onset with severity s(t) = 0 before t0, min(1, s0 + (1 - s0)(t - t0) / Tg)
after, s0 in 0.3..0.5, Tg in 10..60 s:

  outer_race    impacts at BPFO of amplitude s x (1.5..4) g into the resonances
  inner_race    impacts at BPFI of amplitude s x (1.5..4) g x (1 + cos(2 pi theta + q)) / 2:
                modulated by the shaft as the defect passes through the load zone
  imbalance     the 1x amplitude grows to a_1 (1 + k s), k in 1.5..4
  looseness     orders 2..10 at a_1 s (0.3..0.7) / k^0.7 and half orders 0.5..9.5 at half
                of that, random phases
  slip          the speed drops by d s, d in 4..12%, and wanders by +-(1..3%) s (sines of
                0.5..3 Hz); friction raises the broadband level by (0.5..1.5) s
  gear_tooth    a cracked tooth: once per revolution an impact of s x (1..3) g into the
                resonances, and the mesh amplitude rises by (1..3) s over one tooth pitch

int16 outputs (WAV int16, FLAC, LGF int16 frames) use a per-device full scale F, the power
of two at or above 1.1 x the device's peak: raw = round(x / F x 32768), x = raw / 32768 x F.
An LGF int16 frame carries scale = F / 32768, so raw x scale is the physical value.

Usage: see `line2.py --help` and tests/line2/README.md.
"""
import argparse
import hashlib
import heapq
import hmac
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib

try:
    import numpy as np
except ImportError:
    sys.stderr.write("line2.py: needs numpy (Debian: apt install python3-numpy), this python "
                     "(%s) has none: run it with /usr/bin/python3\n" % sys.executable)
    sys.exit(1)

KINDS = ("outer_race", "inner_race", "imbalance", "looseness", "slip", "gear_tooth")
RATES = (10000, 10240, 12000, 12800, 16000, 20000, 20480, 25600)
FORMATS = ("wav", "flac", "csv", "npy", "pcap", "pcapng")
T0_NS = 1767225600 * 10**9     # 2026-01-01T00:00:00Z, the first sample of every device
PORT = 4739
SRV_MAC = bytes.fromhex("020000770001")
DEV_MAC = bytes.fromhex("020000770002")
SRV_IP = "10.77.0.1"
DEV_IP = "10.77.0.2"
MAX_UDP = 1472                 # one Ethernet MTU, no fragments
DEMO_TRUSTED = "c3126d69f8a2631f3922c10c7d9dd9422464cbeb25dc6416f0d452089979b3f6"
HERE = os.path.dirname(os.path.abspath(__file__))


def read_bytes(path):
    with open(path, "rb") as fh:
        return fh.read()


def read_text(path):
    with open(path) as fh:
        return fh.read()


def load_json(path):
    with open(path) as fh:
        return json.load(fh)


def rng(seed, dev, what):
    """The random stream of one purpose of one device (dev -1: the line)."""
    return np.random.default_rng([seed, dev + 1, zlib.crc32(what.encode())])


# ---------------------------------------------------------------------------------------
# physics


def bearing_orders(n, pitch_mm, ball_mm, angle_deg):
    r = ball_mm / pitch_mm * np.cos(np.radians(angle_deg))
    return {"ftf": 0.5 * (1 - r), "bpfo": n / 2 * (1 - r), "bpfi": n / 2 * (1 + r),
            "bsf": pitch_mm / (2 * ball_mm) * (1 - r * r)}


def draw_physics(seed, dev):
    """The machine of one device: everything except the speed events and the fault."""
    r = rng(seed, dev, "physics")
    fs = int(r.choice(RATES)) if r.random() < 0.5 else int(r.integers(10000, 25601))
    p = {"sample_rate": fs,
         "amplitude_scale": float(np.exp(r.uniform(np.log(0.05), np.log(20)))),
         "channels": int(r.integers(1, 4)),
         "speed_hz": float(r.uniform(10, 60))}
    sps = [p["speed_hz"]] + [float(max(10.0, p["speed_hz"] * r.uniform(0.6, 1.0)))
                             for _ in range(int(r.integers(1, 4)))]
    p["setpoints_hz"] = sps
    p["start_speed_hz"] = float(sps[0] * (1 - droop(1.0)))
    a1 = r.uniform(0.2, 1.0)
    p["harmonics_g"] = [float(a1), float(a1 * r.uniform(0.1, 0.5)),
                        float(a1 * r.uniform(0.05, 0.3))]
    p["harmonic_phases"] = [float(x) for x in r.uniform(0, 2 * np.pi, 3)]
    z = int(r.integers(13, 62))
    p["gear_teeth"] = int(min(z, int(0.4 * fs / 60)))
    p["mesh_g"] = float(r.uniform(0.1, 0.6))
    p["mesh_mod"] = float(r.uniform(0.1, 0.4))
    p["mesh_phases"] = [float(x) for x in r.uniform(0, 2 * np.pi, 2)]
    p["mesh2_rel"] = float(r.uniform(0.2, 0.5)) if 2 * p["gear_teeth"] * 60 < 0.45 * fs else 0.0
    nres = int(r.integers(1, 3))
    p["resonances_hz"] = [float(min(r.uniform(2000, 6000), 0.42 * fs)) for _ in range(nres)]
    p["damping"] = [float(r.uniform(0.02, 0.08)) for _ in range(nres)]
    p["resonance_gain"] = [float(r.uniform(0.5, 1.0)) for _ in range(nres)]
    p["broadband_g"] = float(r.uniform(0.05, 0.2))
    pitch = r.uniform(25, 150)
    ball = pitch * r.uniform(0.12, 0.28)
    b = {"balls": int(r.integers(7, 21)), "pitch_mm": float(pitch), "ball_mm": float(ball),
         "contact_deg": float(r.uniform(0, 40)), "slip": float(r.uniform(0.005, 0.02))}
    b["orders"] = {k: float(v) for k, v in bearing_orders(
        b["balls"], b["pitch_mm"], b["ball_mm"], b["contact_deg"]).items()}
    p["bearing"] = b
    p["noise_g"] = float(r.uniform(0.01, 0.05))
    p["channel_gains"] = [[float(x) for x in r.uniform(0.5, 1.2, 3)]
                          for _ in range(p["channels"])]
    p["dropouts_per_s"] = float(1 / r.uniform(10, 60))
    p["wander"] = [[float(r.uniform(0.0003, 0.0017)), float(r.uniform(0.05, 0.5)),
                    float(r.uniform(0, 2 * np.pi))] for _ in range(3)]
    return p


def droop(load):
    """An induction motor's speed droop under load: 0 at load 0.8, 3% at 1.25."""
    return 0.03 * (load - 0.8) / 0.45


def speed_events(seed, dev, setpoints, seconds):
    """Knots (t, speed, level) of the speed and load profile up to `seconds`."""
    r = rng(seed, dev, "speed")
    sp, load = setpoints[0], 1.0
    f = sp * (1 - droop(load))
    knots = [(0.0, f, load)]
    t = 0.0
    while True:
        t += r.exponential(1.0) * 21 + 4
        kind = r.random()
        ramp, target = r.uniform(1, 6), setpoints[int(r.integers(len(setpoints)))]
        new_load = r.uniform(0.8, 1.25)
        if t >= seconds:
            break
        knots.append((t, f, load))
        if kind < 0.5:
            sp = target
            t += ramp
        else:
            load = new_load
            t += 0.05
        f = sp * (1 - droop(load))
        knots.append((t, f, load))
    return knots


def draw_fault(seed, dev, kind, onset, gain=1.0):
    """A fault's parameters; gain (--fault-gain) multiplies its amplitudes and speed drop."""
    r = rng(seed, dev, "fault")
    ft = {"kind": kind, "onset": onset, "s0": float(r.uniform(0.3, 0.5)),
          "growth_s": float(r.uniform(10, 60)), "impact_g": float(r.uniform(1.5, 4)),
          "imbalance_k": float(r.uniform(1.5, 4)), "looseness_rel": float(r.uniform(0.3, 0.7)),
          "slip_drop": float(r.uniform(0.04, 0.12)), "slip_wander": float(r.uniform(0.01, 0.03)),
          "slip_friction": float(r.uniform(0.5, 1.5)), "tooth_g": float(r.uniform(1, 3)),
          "tooth_mesh": float(r.uniform(1, 3)), "phase": float(r.uniform(0, 2 * np.pi))}
    ft["slip_wander_hz"] = [float(x) for x in r.uniform(0.5, 3, 3)]
    ft["looseness_phases"] = [float(x) for x in r.uniform(0, 2 * np.pi, 20)]
    ft["tooth_at"] = float(r.random())
    ft["gain"] = gain
    for k in ("impact_g", "imbalance_k", "looseness_rel", "slip_drop", "tooth_g", "tooth_mesh"):
        ft[k] *= gain
    return ft


def severity(t, fault):
    if fault is None:
        return np.zeros_like(t)
    s = fault["s0"] + (1 - fault["s0"]) * (t - fault["onset"]) / fault["growth_s"]
    return np.where(t < fault["onset"], 0.0, np.minimum(1.0, s))


def fftconv(x, h):
    n = len(x) + len(h) - 1
    nfft = 1 << (n - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(x, nfft) * np.fft.rfft(h, nfft), nfft)[:len(x)]


def impacts(order, theta, fs, amp, jitter, r):
    """Impulse train where order x theta crosses an integer; amp(t) gives each height."""
    n = len(theta)
    ot = order * theta
    ks = np.arange(np.floor(ot[0]) + 1, np.floor(ot[-1]) + 1)
    out = np.zeros(n)
    if len(ks) == 0:
        return out
    pos = np.interp(ks, ot, np.arange(n, dtype=float))
    period = np.gradient(pos) if len(pos) > 1 else np.array([fs / 10.0])
    pos = pos + r.normal(0, jitter, len(pos)) * period
    pos = pos[(pos >= 0) & (pos < n - 1)]
    t = pos / fs
    a = amp(t, pos) * (1 + 0.1 * r.standard_normal(len(pos)))
    i = np.floor(pos).astype(np.int64)
    w = pos - i
    np.add.at(out, i, a * (1 - w))
    np.add.at(out, i + 1, a * w)
    return out


def synth(seed, dev, seconds, fault=None):
    """A device's samples as float32 [samples x channels] and its physics (a dict)."""
    p = draw_physics(seed, dev)
    fs = p["sample_rate"]
    n = int(round(seconds * fs))
    t = np.arange(n) / fs
    knots = speed_events(seed, dev, p["setpoints_hz"], seconds)
    p["speed_knots"] = [[round(k[0], 6), round(k[1], 6), round(k[2], 6)] for k in knots]
    kt = np.array([k[0] for k in knots])
    f = np.interp(t, kt, [k[1] for k in knots])
    lvl = np.interp(t, kt, [k[2] for k in knots])
    for amp, hz, ph in p["wander"]:
        f = f * (1 + amp * np.sin(2 * np.pi * hz * t + ph))
    s = severity(t, fault)
    kind = fault["kind"] if fault else None
    r = rng(seed, dev, "noise")
    rf = rng(seed, dev, "fault-noise")
    broadband = np.full(n, p["broadband_g"])
    if kind == "slip":
        wob = sum(np.sin(2 * np.pi * hz * t + fault["phase"] * (i + 1))
                  for i, hz in enumerate(fault["slip_wander_hz"])) / 3
        f = f * (1 - fault["slip_drop"] * s) * (1 + fault["slip_wander"] * s * wob)
        broadband = broadband * (1 + fault["slip_friction"] * s)
    theta = np.cumsum(f) / fs
    # rotation: shaft harmonics (and the faults that live there)
    rot = np.zeros(n)
    for k, (a, ph) in enumerate(zip(p["harmonics_g"], p["harmonic_phases"]), start=1):
        if k == 1 and kind == "imbalance":
            a = a * (1 + fault["imbalance_k"] * s)
        rot += a * np.sin(2 * np.pi * k * theta + ph)
    if kind == "looseness":
        a1, ph = p["harmonics_g"][0] * fault["looseness_rel"], fault["looseness_phases"]
        for k in range(2, 11):
            rot += s * a1 / k ** 0.7 * np.sin(2 * np.pi * k * theta + ph[k])
        for j, k in enumerate(np.arange(0.5, 10, 1.0)):
            rot += s * a1 / 2 / k ** 0.7 * np.sin(2 * np.pi * k * theta + ph[10 + j % 10])
    rot *= lvl
    # gear mesh with shaft sidebands
    z = p["gear_teeth"]
    env = 1 + p["mesh_mod"] * np.cos(2 * np.pi * theta + p["mesh_phases"][0])
    if kind == "gear_tooth":
        d = np.abs(((theta - fault["tooth_at"]) + 0.5) % 1.0 - 0.5) * z
        env = env * (1 + fault["tooth_mesh"] * s * np.exp(-(d / 0.5) ** 2))
    mesh = p["mesh_g"] * env * (np.sin(2 * np.pi * z * theta + p["mesh_phases"][1]) +
                                p["mesh2_rel"] * np.sin(4 * np.pi * z * theta))
    mesh *= lvl
    # what excites the structure: broadband, and the impacts of faults
    exc = r.standard_normal(n) * broadband * lvl
    hit = np.zeros(n)
    if kind in ("outer_race", "inner_race"):
        o = p["bearing"]["orders"]["bpfo" if kind == "outer_race" else "bpfi"]

        def amp(tt, pos):
            a = fault["impact_g"] * severity(tt, fault)
            if kind == "inner_race":
                th = np.interp(pos, np.arange(n), theta)
                a = a * (1 + np.cos(2 * np.pi * th + fault["phase"])) / 2
            return a
        hit = impacts(o, theta, fs, amp, p["bearing"]["slip"], rf)
    elif kind == "gear_tooth":
        hit = impacts(1.0, theta - fault["tooth_at"], fs,
                      lambda tt, pos: fault["tooth_g"] * severity(tt, fault), 0.002, rf)
    struc = np.zeros(n)
    for fr, zeta, g in zip(p["resonances_hz"], p["damping"], p["resonance_gain"]):
        w = 2 * np.pi * fr
        th = np.arange(int(np.ceil(8 / (zeta * w) * fs)) + 1) / fs
        h = np.exp(-zeta * w * th) * np.sin(w * np.sqrt(1 - zeta * zeta) * th)
        h /= np.max(np.abs(h))
        struc += g * fftconv(exc / np.sqrt(np.sum(h * h)) + hit, h)
    x = np.empty((n, p["channels"]))
    for c, (g_rot, g_mesh, g_struc) in enumerate(p["channel_gains"]):
        x[:, c] = (g_rot * rot + g_mesh * mesh + g_struc * struc +
                   p["noise_g"] * r.standard_normal(n))
    # dropouts: the sensor holds its last value
    rd = rng(seed, dev, "dropouts")
    drops = []
    for _ in range(rd.poisson(p["dropouts_per_s"] * seconds)):
        a = int(rd.integers(1, max(2, n)))
        b = min(n, a + int(rd.uniform(0.001, 0.020) * fs))
        x[a:b] = x[a - 1]
        drops.append([round(a / fs, 6), round((b - a) / fs, 6)])
    p["dropouts"] = sorted(drops)
    x *= p["amplitude_scale"]
    peak = float(np.max(np.abs(x))) if n else 1.0
    p["int16_full_scale"] = float(2.0 ** np.ceil(np.log2(max(peak * 1.1, 1e-30))))
    return x.astype(np.float32), p


# ---------------------------------------------------------------------------------------
# file writers


def to_int16(x, full_scale):
    return np.clip(np.round(x.astype(np.float64) / full_scale * 32768), -32768,
                   32767).astype("<i2")


def write_wav(path, x, fs):
    """WAV of int16 PCM (x of dtype int16) or IEEE float32 (x of dtype float32), written
    by hand: WAVE_FORMAT_PCM (1) or WAVE_FORMAT_IEEE_FLOAT (3) up to two channels,
    WAVE_FORMAT_EXTENSIBLE with that subformat above two, as the RIFF/WAVE spec asks; float
    data also gets the fact chunk that non-PCM data needs."""
    flt = x.dtype == np.float32
    data = np.ascontiguousarray(x, dtype="<f4" if flt else "<i2").tobytes()
    n, ch = x.shape
    size = 4 if flt else 2
    tag = 3 if flt else 1
    fmt = struct.pack("<HHIIHH", tag, ch, fs, fs * ch * size, ch * size, size * 8)
    if ch > 2:
        guid = struct.pack("<I", tag) + bytes.fromhex("000010008000" "00aa00389b71")
        fmt = (struct.pack("<HHIIHH", 0xFFFE, ch, fs, fs * ch * size, ch * size, size * 8) +
               struct.pack("<HHI", 22, size * 8, 0) + guid)
    elif flt:
        fmt += struct.pack("<H", 0)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if flt:
        body += b"fact" + struct.pack("<II", 4, n)
    body += b"data" + struct.pack("<I", len(data)) + data
    with open(path, "wb") as fh:
        fh.write(b"RIFF" + struct.pack("<I", len(body)) + body)


def have_flac():
    return shutil.which("flac") is not None


def write_flac(path, raw, fs):
    """16-bit FLAC through Debian's `flac` tool, fed raw little-endian int16 samples."""
    subprocess.run(["flac", "--silent", "--force", "-8", "--no-padding", "--force-raw-format",
                    "--endian=little", "--sign=signed", "--channels=%d" % raw.shape[1],
                    "--bps=16", "--sample-rate=%d" % fs, "-o", path, "-"],
                   input=np.ascontiguousarray(raw, dtype="<i2").tobytes(), check=True)


def write_csv(path, x, fs, time_column=True):
    ch = x.shape[1]
    head = (["t"] if time_column else []) + ["ch%d" % c for c in range(ch)]
    with open(path, "w") as fh:
        fh.write(",".join(head) + "\n")
        if time_column:
            cols = np.column_stack([np.arange(len(x)) / fs, x.astype(np.float64)])
            fmt = ["%.15g"] + ["%.9g"] * ch
        else:
            cols, fmt = x.astype(np.float64), ["%.9g"] * ch
        np.savetxt(fh, cols, fmt=fmt, delimiter=",")


def write_npy(path, x):
    np.save(path, np.ascontiguousarray(x, dtype="<f4"), allow_pickle=False)


# ---------------------------------------------------------------------------------------
# LGF frames and captures


def lgf_frame(key, dev_id, key_id, seq, ts_ns, fs, samples, fmt, scale=1.0, sensor=1):
    """One LGF v1 frame (docs/wire-format.md): header, samples, HMAC-SHA256[0:16]."""
    count, ch = samples.shape
    if fmt == "i16":
        body, sf = np.ascontiguousarray(samples, dtype="<i2").tobytes(), 1
    else:
        body, sf = np.ascontiguousarray(samples, dtype="<f4").tobytes(), 2
    hdr = struct.pack("<2sBBIBBBBIHHfQQ", b"LG", 1, 1, dev_id, key_id, sensor, sf, ch, fs,
                      count, 0, scale, seq, ts_ns)
    msg = hdr + body
    return msg + hmac.new(key, msg, hashlib.sha256).digest()[:16]


def lgf_verify(key, frame):
    """(header fields, samples as float64 [count x ch]) or None if the tag is wrong."""
    msg, tag = frame[:-16], frame[-16:]
    if not hmac.compare_digest(hmac.new(key, msg, hashlib.sha256).digest()[:16], tag):
        return None
    f = struct.unpack("<2sBBIBBBBIHHfQQ", msg[:40])
    names = ("magic", "version", "type", "device_id", "key_id", "sensor_kind", "sample_format",
             "channels", "sample_rate", "sample_count", "flags", "scale", "sequence",
             "timestamp_ns")
    h = dict(zip(names, f))
    if h["sample_format"] == 1:
        s = np.frombuffer(msg[40:], "<i2").astype(np.float64) * h["scale"]
    else:
        s = np.frombuffer(msg[40:], "<f4").astype(np.float64)
    return h, s.reshape(h["sample_count"], h["channels"])


def frame_samples(ch, fmt):
    return min(256, (MAX_UDP - 56) // (ch * (2 if fmt == "i16" else 4)))


def device_frames(key, dev_id, x, fs, fmt, full_scale):
    """(arrival_ns, frame) of a device's samples: arrival = the frame's last sample's time."""
    count = frame_samples(x.shape[1], fmt)
    data = to_int16(x, full_scale) if fmt == "i16" else x
    scale = full_scale / 32768 if fmt == "i16" else 1.0
    for seq, i in enumerate(range(0, len(x), count), start=1):
        blk = data[i:i + count]
        ts = T0_NS + (i * 10**9) // fs
        yield (T0_NS + ((i + len(blk)) * 10**9) // fs,
               lgf_frame(key, dev_id, 1, seq, ts, fs, blk, fmt, scale))


def csum16(data):
    if len(data) % 2:
        data += b"\0"
    s = int(np.frombuffer(data, ">u2").sum(dtype=np.uint64))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def udp_packet(payload, sport, dport=PORT, src=DEV_IP, dst=SRV_IP, ip_id=0):
    """Ethernet / IPv4 / UDP around payload, both checksums right."""
    s4, d4 = socket.inet_aton(src), socket.inet_aton(dst)
    ulen = 8 + len(payload)
    pseudo = s4 + d4 + struct.pack("!BBH", 0, 17, ulen)
    udp = struct.pack("!HHHH", sport, dport, ulen, 0) + payload
    c = csum16(pseudo + udp) or 0xffff
    udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, ip_id & 0xffff, 0x4000, 64, 17, 0,
                     s4, d4)
    ip = ip[:10] + struct.pack("!H", csum16(ip)) + ip[12:]
    return SRV_MAC + DEV_MAC + b"\x08\x00" + ip + udp


class PcapWriter:
    """Classic pcap (microsecond timestamps) or pcapng (one interface, nanoseconds)."""

    def __init__(self, path, ng):
        self.fh, self.ng = open(path, "wb"), ng
        if ng:
            shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
            self.block(0x0A0D0D0A, shb)
            opts = struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0)  # if_tsresol 1e-9
            self.block(1, struct.pack("<HHI", 1, 0, 65535) + opts)
        else:
            self.fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))

    def block(self, btype, body):
        body += b"\0" * (-len(body) % 4)
        n = len(body) + 12
        self.fh.write(struct.pack("<II", btype, n) + body + struct.pack("<I", n))

    def packet(self, ts_ns, pkt):
        if self.ng:
            self.block(6, struct.pack("<IIIII", 0, ts_ns >> 32, ts_ns & 0xffffffff, len(pkt),
                                      len(pkt)) + pkt)
        else:
            sec, ns = divmod(ts_ns, 10**9)
            self.fh.write(struct.pack("<IIII", sec, ns // 1000, len(pkt), len(pkt)) + pkt)

    def close(self):
        self.fh.close()


def read_pcap(path):
    """(ts_ns, packet bytes) of a classic pcap or pcapng file written above (or by others)."""
    data = read_bytes(path)
    out = []
    magic = struct.unpack_from("<I", data)[0]
    if magic == 0x0A0D0D0A:
        off, res = 0, 10**6
        while off < len(data):
            btype, n = struct.unpack_from("<II", data, off)
            if btype == 1:
                o = off + 16
                while o < off + n - 4:
                    code, ln = struct.unpack_from("<HH", data, o)
                    if code == 0:
                        break
                    if code == 9:
                        v = data[o + 4]
                        res = 10 ** v if not v & 0x80 else 2 ** (v & 0x7f)
                    o += 4 + ln + (-ln % 4)
            elif btype == 6:
                _, hi, lo, cap, _ = struct.unpack_from("<IIIII", data, off + 8)
                ts = (hi << 32) | lo
                out.append((ts * 10**9 // res, data[off + 28:off + 28 + cap]))
            off += n
        return out
    us = {0xA1B2C3D4: 1000, 0xA1B23C4D: 1}[magic]
    off = 24
    while off < len(data):
        sec, sub, cap, _ = struct.unpack_from("<IIII", data, off)
        out.append((sec * 10**9 + sub * us, data[off + 16:off + 16 + cap]))
        off += 16 + cap
    return out


def udp_payload(pkt):
    """(source port, UDP payload) of an Ethernet/IPv4/UDP packet."""
    ihl = (pkt[14] & 15) * 4
    sport, _, ulen, _ = struct.unpack_from("!HHHH", pkt, 14 + ihl)
    return sport, pkt[14 + ihl + 8:14 + ihl + ulen]


# ---------------------------------------------------------------------------------------
# a line: devices, faults, files


def device_key(seed, dev_id):
    """A TEST key derived from public strings: never use it on a real line."""
    return hashlib.sha256(b"line2 test key: seed %d device %d" % (seed, dev_id)).digest()


def plan(seed, devices, faulty, fault_at, kinds=KINDS, onset_jitter=0.0):
    """The line: per device its index, id, name, and fault (kind, onset) or None."""
    if not 0 <= faulty <= devices:
        raise ValueError("--faulty %d: must be between 0 and --devices (%d)" % (faulty, devices))
    r = rng(seed, -1, "line")
    bad = set(int(i) for i in r.permutation(devices)[:faulty])
    ks = [kinds[i % len(kinds)] for i in range(faulty)]
    r.shuffle(ks)
    out, j = [], 0
    for i in range(devices):
        d = {"index": i, "id": 20001 + i, "name": "l2s%d-d%03d" % (seed, i), "fault": None}
        if i in bad:
            d["fault"] = (ks[j], round(fault_at + r.uniform(0, onset_jitter), 6))
            j += 1
        out.append(d)
    return out


def policy_yaml(devs, source, model):
    out = ["# A line2 line (tests/line2/line2.py): do not edit, regenerate.",
           "# TEST KEYS in keys/ derived from public strings: never use them on a real line.",
           "version: 1", "port: %d" % PORT, "uadp_port: 4840", "detection:",
           "  window: 256", "  batch: 16", "  deadline_ms: 50", "  model: %s" % model,
           "models:", "  trusted_keys: [%s]" % DEMO_TRUSTED, "output:", "  jsonl: \"-\"",
           "devices:"]
    for d in devs:
        out += ["  - id: %d" % d["id"], "    name: %s" % d["name"], "    source: %s" % source,
                "    keys:", "      - {id: 1, key_file: keys/%s.key}" % d["name"]]
    return "\n".join(out) + "\n"


def write_keys(out, seed, devs):
    kd = os.path.join(out, "keys")
    os.makedirs(kd, exist_ok=True)
    os.chmod(kd, 0o700)
    for d in devs:
        p = os.path.join(kd, d["name"] + ".key")
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(device_key(seed, d["id"]).hex() + "\n")
        os.chmod(p, 0o600)


def write_labels(path, devs):
    with open(path, "w") as fh:
        fh.write("device,kind,onset,end\n")
        for d in devs:
            if d["fault"]:
                fh.write("%s,%s,%s,\n" % (d["name"], d["fault"][0], repr(d["fault"][1])))


def spool_frames(path, frames):
    with open(path, "wb") as fh:
        for ts, fr in frames:
            fh.write(struct.pack("<QI", ts, len(fr)) + fr)


def read_spool(path, i):
    with open(path, "rb") as fh:
        while True:
            h = fh.read(12)
            if not h:
                return
            ts, n = struct.unpack("<QI", h)
            yield ts, i, fh.read(n)


def make_line(a, log=print):
    """Everything `make` writes; returns the manifest."""
    kinds = tuple(a.kinds.split(",")) if a.kinds else KINDS
    for k in kinds:
        if k not in KINDS:
            raise ValueError("--kinds: unknown fault kind '%s' (known: %s)" % (k, ",".join(KINDS)))
    formats = [f for f in a.formats.split(",") if f]
    for f in formats:
        if f not in FORMATS:
            raise ValueError("--formats: unknown format '%s' (known: %s)" % (f, ",".join(FORMATS)))
    if "flac" in formats and not have_flac():
        log("line2: FLAC skipped: the 'flac' command-line tool is missing "
            "(Debian package flac; .ci/install-deps installs it)", file=sys.stderr)
        formats.remove("flac")
    if a.fault_at >= a.seconds and a.faulty:
        raise ValueError("--fault-at %g: must be before the end (--seconds %g)"
                         % (a.fault_at, a.seconds))
    devs = plan(a.seed, a.devices, a.faulty, a.fault_at, kinds, a.onset_jitter)
    os.makedirs(a.out, exist_ok=True)
    for f in formats:
        if f in ("wav", "flac", "csv", "npy"):
            os.makedirs(os.path.join(a.out, f), exist_ok=True)
    write_keys(a.out, a.seed, devs)
    model = a.model or os.path.normpath(os.path.join(HERE, "../../control/defaults/model.json"))
    with open(os.path.join(a.out, "policy.yaml"), "w") as fh:
        fh.write(policy_yaml(devs, a.source, model))
    write_labels(os.path.join(a.out, "labels.csv"), devs)
    spool = tempfile.mkdtemp(prefix="line2-") if ("pcap" in formats or "pcapng" in formats) \
        else None
    man = {"generator": "tests/line2/line2.py", "version": 1, "seed": a.seed,
           "seconds": a.seconds, "fault_at": a.fault_at, "fault_gain": a.fault_gain,
           "formats": formats,
           "lgf_format": a.lgf_format, "wav_format": a.wav_format, "csv_time": a.csv_time,
           "first_sample_ns": T0_NS, "source": a.source, "port": PORT, "devices": []}
    try:
        for d in devs:
            fault = draw_fault(a.seed, d["index"], *d["fault"], gain=a.fault_gain) \
                if d["fault"] else None
            x, p = synth(a.seed, d["index"], a.seconds, fault)
            fs, name = p["sample_rate"], d["name"]
            files = {}
            if "wav" in formats:
                files["wav"] = os.path.join("wav", name + ".wav")
                write_wav(os.path.join(a.out, files["wav"]),
                          to_int16(x, p["int16_full_scale"]) if a.wav_format == "int16" else x,
                          fs)
            if "flac" in formats:
                files["flac"] = os.path.join("flac", name + ".flac")
                write_flac(os.path.join(a.out, files["flac"]), to_int16(x, p["int16_full_scale"]),
                           fs)
            if "csv" in formats:
                files["csv"] = os.path.join("csv", name + ".csv")
                write_csv(os.path.join(a.out, files["csv"]), x, fs, a.csv_time)
            if "npy" in formats:
                files["npy"] = os.path.join("npy", name + ".npy")
                write_npy(os.path.join(a.out, files["npy"]), x)
            if spool:
                spool_frames(os.path.join(spool, "%d" % d["index"]),
                             device_frames(device_key(a.seed, d["id"]), d["id"], x, fs,
                                           a.lgf_format, p["int16_full_scale"]))
            entry = {"name": name, "id": d["id"], "sample_rate": fs, "channels": p["channels"],
                     "samples": int(len(x)), "amplitude_scale": p["amplitude_scale"],
                     "int16_full_scale": p["int16_full_scale"],
                     "udp_source_port": 40000 + d["index"] % 20000, "files": files,
                     "fault": None, "physics": p}
            if fault:
                entry["fault"] = {"kind": fault["kind"], "onset": fault["onset"],
                                  "params": fault}
            man["devices"].append(entry)
            log("line2: %s %s %d Hz x%d ch scale %.3g%s" % (
                name, "healthy" if not fault else fault["kind"] + " from %gs" % fault["onset"],
                fs, p["channels"], p["amplitude_scale"], ""))
        if spool:
            merged = heapq.merge(*[read_spool(os.path.join(spool, "%d" % d["index"]), d["index"])
                                   for d in devs])
            ws = []
            if "pcap" in formats:
                ws.append(PcapWriter(os.path.join(a.out, "line.pcap"), False))
            if "pcapng" in formats:
                ws.append(PcapWriter(os.path.join(a.out, "line.pcapng"), True))
            nframes = 0
            for ts, i, fr in merged:
                pkt = udp_payload_packet(fr, 40000 + i % 20000, a.source, nframes)
                for w in ws:
                    w.packet(ts, pkt)
                nframes += 1
            for w in ws:
                w.close()
            man["lgf_frames"] = nframes
    finally:
        if spool:
            shutil.rmtree(spool)
    with open(os.path.join(a.out, "manifest.json"), "w") as fh:
        json.dump(man, fh, indent=1, sort_keys=True)
        fh.write("\n")
    return man


def udp_payload_packet(frame, sport, source, n):
    return udp_packet(frame, sport, PORT, source, SRV_IP, n)


def send_line(a, log=print):
    """Paces a line's LGF frames (regenerated from DIR/manifest.json) to HOST:PORT."""
    man = load_json(os.path.join(a.dir, "manifest.json"))
    host, _, port = a.to.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError("--to %s: want HOST:PORT, e.g. 10.77.0.1:4739" % a.to)
    fmt = a.lgf_format or man["lgf_format"]
    seconds = a.seconds if a.seconds else man["seconds"]
    seed = man["seed"]
    spool = tempfile.mkdtemp(prefix="line2-send-")
    try:
        for i, d in enumerate(man["devices"]):
            f = d["fault"]
            fault = draw_fault(seed, i, f["kind"], f["onset"], f["params"]["gain"]) if f else None
            x, p = synth(seed, i, seconds, fault)
            key = bytes.fromhex(read_text(os.path.join(a.dir, "keys", d["name"] + ".key"))
                                .strip())
            spool_frames(os.path.join(spool, "%d" % i),
                         device_frames(key, d["id"], x, p["sample_rate"], fmt,
                                       p["int16_full_scale"]))
        merged = heapq.merge(*[read_spool(os.path.join(spool, "%d" % i), i)
                               for i in range(len(man["devices"]))])
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if a.bind:
            sock.bind((a.bind, 0))
        dst = (host, int(port))
        start, sent = time.monotonic(), 0
        for ts, i, fr in merged:
            if a.speed > 0:
                due = start + (ts - T0_NS) / 1e9 / a.speed
                ahead = due - time.monotonic()
                if ahead > 0.001:
                    time.sleep(ahead)
            sock.sendto(fr, dst)
            sent += 1
        log("line2: sent %d frames of %d devices in %.2f s" % (
            sent, len(man["devices"]), time.monotonic() - start))
    finally:
        shutil.rmtree(spool)
    return sent


# ---------------------------------------------------------------------------------------
# command line


class Parser(argparse.ArgumentParser):
    """--help starts with 'Usage: line2.py'; an error is one line on stderr, status 2."""

    def format_usage(self):
        return super().format_usage().replace("usage:", "Usage:", 1)

    def format_help(self):
        return super().format_help().replace("usage:", "Usage:", 1)

    def error(self, message):
        sys.stderr.write("%s: %s\n" % (self.prog, message))
        sys.exit(2)


def declare(a):
    """What an operator would declare of each machine, from the line's manifest (linegate
    never reads the manifest): --shaft-hz's device,hz (the lowest set point) and
    --nameplate's set points, gear teeth and bearing geometry."""
    if not a.shaft_hz and not a.nameplate:
        raise ValueError("nothing to write: give --shaft-hz FILE, --nameplate FILE or both")
    with open(os.path.join(a.dir, "manifest.json")) as f:
        devs = json.load(f)["devices"]
    if a.shaft_hz:
        with open(a.shaft_hz, "w") as f:
            print("device,hz", file=f)
            for d in devs:
                print("%s,%r" % (d["name"], min(d["physics"]["setpoints_hz"])), file=f)
    if a.nameplate:
        with open(a.nameplate, "w") as f:
            print("device,setpoints_hz,gear_teeth,balls,pitch_mm,ball_mm,contact_deg", file=f)
            for d in devs:
                p = d["physics"]
                b = p["bearing"]
                print("%s,%s,%d,%d,%r,%r,%r" % (
                    d["name"], " ".join(repr(float(s)) for s in p["setpoints_hz"]),
                    p["gear_teeth"], b["balls"], b["pitch_mm"], b["ball_mm"], b["contact_deg"]),
                    file=f)


def main(argv=None):
    ap = Parser(prog="line2.py", formatter_class=argparse.RawDescriptionHelpFormatter,
                description="A second line of machines, independent of linegate's simulator: "
                "physics drawn per seed (see the\nmodule docstring), faults with labelled "
                "onsets, written as WAV, FLAC, CSV, .npy and pcap/pcapng\nof signed LGF "
                "frames, with the policy and keys that enroll the devices.",
                epilog="Example:\n  line2.py make --seed 7 --devices 12 --faulty 6 --seconds 120 "
                "--fault-at 60 \\\n      --formats wav,csv,npy,pcap --out /tmp/line7\n"
                "  line2.py send --dir /tmp/line7 --to 10.77.0.1:4739 --speed 4\n"
                "Outputs of make: FORMAT/NAME.EXT per device, line.pcap / line.pcapng (all "
                "devices),\nlabels.csv (device,kind,onset,end; seconds from the device's "
                "first sample),\npolicy.yaml, keys/NAME.key (0600, TEST keys), manifest.json.")
    sub = ap.add_subparsers(dest="cmd", metavar="COMMAND", parser_class=Parser)
    mk = sub.add_parser("make", help="write a line's files", prog="line2.py make",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    mk.add_argument("--seed", type=int, default=1, help="the line's seed (default 1)")
    mk.add_argument("--devices", type=int, default=8, help="devices on the line (default 8)")
    mk.add_argument("--faulty", type=int, default=0, help="how many of them get a fault "
                    "(default 0); kinds are dealt round-robin, shuffled")
    mk.add_argument("--seconds", type=float, default=60.0, help="seconds per device "
                    "(default 60)")
    mk.add_argument("--fault-at", type=float, default=30.0, help="fault onset in seconds from "
                    "each device's first sample (default 30)")
    mk.add_argument("--onset-jitter", type=float, default=0.0, help="add 0..J s to each onset "
                    "(default 0)")
    mk.add_argument("--fault-gain", type=float, default=1.0, help="multiply every fault's "
                    "amplitudes and speed drop by G (default 1: the ranges in the docstring)")
    mk.add_argument("--kinds", default="", help="fault kinds to deal, comma-separated "
                    "(default all: %s)" % ",".join(KINDS))
    mk.add_argument("--formats", default="wav,csv,npy,pcap", help="comma-separated from "
                    "%s (default wav,csv,npy,pcap)" % ",".join(FORMATS))
    mk.add_argument("--wav-format", choices=("float32", "int16"), default="float32",
                    help="WAV samples: float32 in physical units (default) or int16 "
                    "(x = raw / 32768 x int16_full_scale from the manifest)")
    mk.add_argument("--lgf-format", choices=("f32", "i16"), default="f32",
                    help="LGF sample format in pcap/pcapng (default f32)")
    mk.add_argument("--no-csv-time", dest="csv_time", action="store_false",
                    help="CSV without the time column t")
    mk.add_argument("--source", default=DEV_IP, help="the devices' source address in the "
                    "policy and the captures (default %s)" % DEV_IP)
    mk.add_argument("--model", default="", help="detection.model in policy.yaml (default "
                    "this checkout's control/defaults/model.json)")
    mk.add_argument("--out", required=True, help="output folder (created)")
    mk.add_argument("-q", "--quiet", action="store_true", help="no line per device")
    sd = sub.add_parser("send", help="pace a line's LGF frames over UDP", prog="line2.py send")
    sd.add_argument("--dir", required=True, help="a folder `make` wrote (manifest.json, keys/)")
    sd.add_argument("--to", required=True, help="HOST:PORT, e.g. 10.77.0.1:4739")
    sd.add_argument("--speed", type=float, default=1.0, help="x real time (default 1; 0: as "
                    "fast as possible)")
    sd.add_argument("--seconds", type=float, default=0.0, help="send only the first S seconds "
                    "of each device (default all)")
    sd.add_argument("--lgf-format", choices=("f32", "i16"), default="", help="override the "
                    "manifest's LGF sample format")
    sd.add_argument("--bind", default="", help="source address to send from")
    dc = sub.add_parser("declare", help="write what an operator declares of each machine "
                        "(linegate-train's --shaft-hz and --nameplate CSVs) from a line's "
                        "manifest", prog="line2.py declare")
    dc.add_argument("--dir", required=True, help="a folder `make` wrote (manifest.json)")
    dc.add_argument("--shaft-hz", default="", help="write device,hz here: each machine's "
                    "lowest set point")
    dc.add_argument("--nameplate", default="", help="write device,setpoints_hz,gear_teeth,"
                    "balls,pitch_mm,ball_mm,contact_deg here")
    ar = sub.add_parser("args", help="print linegate-train's --from options for a line's .npy "
                        "files, one word a line (bash: mapfile -t ARGS < <(line2.py args "
                        "--dir D)): --sample-rate, --device and --from of each machine",
                        prog="line2.py args")
    ar.add_argument("--dir", required=True, help="a folder `make` wrote with npy")
    a = ap.parse_args(argv)
    if a.cmd is None:
        ap.print_help()
        return 2
    try:
        if a.cmd == "make":
            if a.devices < 1 or a.seconds <= 0 or a.fault_gain <= 0:
                raise ValueError("--devices must be at least 1, --seconds and --fault-gain "
                                 "above 0")
            make_line(a, log=(lambda *x, **k: None) if a.quiet else print)
        elif a.cmd == "declare":
            declare(a)
        elif a.cmd == "args":
            with open(os.path.join(a.dir, "manifest.json")) as f:
                for d in json.load(f)["devices"]:
                    print("--sample-rate\n%s\n--device\n%s\n--from\n%s" % (
                        d["sample_rate"], d["name"],
                        os.path.join(a.dir, "npy", d["name"] + ".npy")))
        else:
            send_line(a)
    except (ValueError, OSError, subprocess.CalledProcessError) as e:
        sys.stderr.write("line2.py %s: %s\n" % (a.cmd, e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
