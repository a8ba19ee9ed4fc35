#!/usr/bin/python3
"""Tests of line2.py: the physics where they can be checked exactly, the files it writes,
and its LGF frames against a real peer (tcpdump; linegate's pcap backend when LG_BUILD
points at a build). Run by meson (`meson test line2`) or directly."""
import ctypes
import ctypes.util
import glob
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import unittest
import wave

try:
    import numpy as np
except ImportError:
    print("SKIP: %s has no numpy (Debian: python3-numpy)" % sys.executable)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import line2  # noqa: E402
from line2 import load_json, read_bytes, read_text  # noqa: E402

SCRIPT = os.path.join(HERE, "line2.py")
SOURCE = os.path.normpath(os.path.join(HERE, "..", ".."))


def make(out, *args):
    r = subprocess.run([sys.executable, SCRIPT, "make", "-q", "--out", out] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode:
        raise AssertionError("line2.py make failed: %s" % r.stderr)
    return load_json(os.path.join(out, "manifest.json"))


def spectrum(x, fs, pad=8):
    n = len(x)
    X = np.abs(np.fft.rfft((x - x.mean()) * np.hanning(n), pad * n)) * 4 / n
    return np.fft.rfftfreq(pad * n, 1 / fs), X


def amp_at(x, fs, hz, tol=0.02):
    f, X = spectrum(x, fs)
    m = np.abs(f - hz) <= tol * hz
    return X[m].max()


def peak_near(x, fs, hz, tol):
    f, X = spectrum(x, fs)
    m = np.abs(f - hz) <= tol * hz
    return f[m][np.argmax(X[m])]


def envelope_spectrum(x, fs, lo, hi):
    """|spectrum| of the envelope of x band-passed to lo..hi Hz (the bearing analyst's)."""
    n = len(x)
    X = np.fft.fft(x)
    f = np.fft.fftfreq(n, 1 / fs)
    e = np.abs(np.fft.ifft(np.where((f > lo) & (f < hi), 2 * X, 0)))
    e -= e.mean()
    return np.fft.rfftfreq(n, 1 / fs), np.abs(np.fft.rfft(e * np.hanning(n)))


def line_ratio(fe, E, hz, span=(0.3, 2.0), tol=0.015):
    """The envelope line at hz over the median of the envelope spectrum around it."""
    near = np.abs(fe - hz) <= tol * hz
    band = (fe > span[0] * hz) & (fe < span[1] * hz)
    return E[near].max() / np.median(E[band])


def twin(seed, dev, kind, onset, seconds):
    """A device with a fault and the same device healthy: the same machine and noise."""
    fault = line2.draw_fault(seed, dev, kind, onset)
    x, p = line2.synth(seed, dev, seconds, fault)
    h, _ = line2.synth(seed, dev, seconds, None)
    return x[:, 0].astype(float), h[:, 0].astype(float), p, fault


SEEDS = range(1, 9)


class SndFile:
    """libsndfile through ctypes, where it is installed: a reader nobody here wrote."""

    class Info(ctypes.Structure):
        _fields_ = [("frames", ctypes.c_int64), ("samplerate", ctypes.c_int),
                    ("channels", ctypes.c_int), ("format", ctypes.c_int),
                    ("sections", ctypes.c_int), ("seekable", ctypes.c_int)]

    def __init__(self):
        name = ctypes.util.find_library("sndfile")
        self.lib = ctypes.CDLL(name) if name else None
        if self.lib:
            self.lib.sf_open.restype = ctypes.c_void_p
            self.lib.sf_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p]
            self.lib.sf_readf_double.restype = ctypes.c_int64
            self.lib.sf_readf_double.argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                                                 ctypes.c_int64]
            self.lib.sf_close.argtypes = [ctypes.c_void_p]
            self.lib.sf_strerror.restype = ctypes.c_char_p
            self.lib.sf_strerror.argtypes = [ctypes.c_void_p]

    def read(self, path):
        """(sample rate, float64 [frames x channels]); int16 normalised by 1 / 32768."""
        info = self.Info()
        sf = self.lib.sf_open(path.encode(), 0x10, ctypes.byref(info))   # SFM_READ
        if not sf:
            raise OSError("libsndfile: %s: %s" % (path, self.lib.sf_strerror(None).decode()))
        try:
            buf = np.zeros((info.frames, info.channels))
            got = self.lib.sf_readf_double(sf, buf.ctypes.data, info.frames)
        finally:
            self.lib.sf_close(sf)
        return info.samplerate, buf[:got]


SNDFILE = SndFile()


class Physics(unittest.TestCase):
    def test_draws_stay_in_their_ranges_and_span_them(self):
        fs, sc, sp, res, ch = [], [], [], [], []
        for seed in range(100):
            for dev in range(4):
                p = line2.draw_physics(seed, dev)
                fs.append(p["sample_rate"])
                sc.append(p["amplitude_scale"])
                sp.append(p["speed_hz"])
                ch.append(p["channels"])
                for r in p["resonances_hz"]:
                    self.assertGreaterEqual(r, min(2000, 0.42 * p["sample_rate"]))
                    self.assertLessEqual(r, min(6000, 0.42 * p["sample_rate"]))
                    res.append(r)
                b = p["bearing"]
                o = b["orders"]
                self.assertTrue(7 <= b["balls"] <= 20)
                self.assertAlmostEqual(o["bpfo"] + o["bpfi"], b["balls"], places=9)
                self.assertAlmostEqual(o["ftf"] * b["balls"], o["bpfo"], places=9)
                self.assertLess(o["bpfo"], o["bpfi"])
                self.assertTrue(13 <= p["gear_teeth"] <= 61)
                self.assertLess(p["gear_teeth"] * 60, 0.4 * p["sample_rate"] + 60)
                self.assertEqual(p["setpoints_hz"][0], p["speed_hz"])
                self.assertTrue(all(max(10, 0.6 * p["speed_hz"]) <= f <= p["speed_hz"]
                                    for f in p["setpoints_hz"]))
                knots = line2.speed_events(seed, dev, p["setpoints_hz"], 600)
                self.assertGreater(len(knots), 10)
                for t, f, lvl in knots:
                    self.assertTrue(9.7 <= f <= 60, "speed %g Hz at %g s" % (f, t))
                    self.assertTrue(0.8 <= lvl <= 1.25)
                self.assertEqual([k[0] for k in knots], sorted(k[0] for k in knots))
        self.assertTrue(10000 <= min(fs) and max(fs) <= 25600)
        self.assertLess(min(fs), 10300)
        self.assertEqual(max(fs), 25600)
        self.assertTrue(0.05 <= min(sc) and max(sc) <= 20)
        self.assertLess(min(sc), 0.07)
        self.assertGreater(max(sc), 14)
        self.assertTrue(10 <= min(sp) and max(sp) <= 60)
        self.assertLess(min(sp), 11)
        self.assertGreater(max(sp), 59)
        self.assertEqual(sorted(set(ch)), [1, 2, 3])
        self.assertGreater(len(set(fs)), 50)

    def test_bearing_orders_of_a_textbook_bearing(self):
        # SKF 6205-2RS as in the Case Western Reserve bearing data: 9 balls, ball 7.94 mm,
        # pitch 39.04 mm, no contact angle; its published orders (BSF there is twice the
        # spin frequency: a spall hits both races once per spin)
        o = line2.bearing_orders(9, 39.04, 7.94, 0.0)
        self.assertAlmostEqual(o["bpfo"], 3.5848, places=3)
        self.assertAlmostEqual(o["bpfi"], 5.4152, places=3)
        self.assertAlmostEqual(o["ftf"], 0.39828, places=4)
        self.assertAlmostEqual(2 * o["bsf"], 4.7135, places=3)

    def test_scale_and_rate_reach_the_samples(self):
        for seed in (2, 5):
            x, p = line2.synth(seed, 0, 1.0)
            self.assertEqual(x.shape, (p["sample_rate"], p["channels"]))
            y, _ = line2.synth(seed, 0, 1.0)
            np.testing.assert_array_equal(x, y)
        # the same machine at another amplitude scale: samples scale exactly with it
        orig = line2.draw_physics

        def scaled(seed, dev):
            q = orig(seed, dev)
            q["amplitude_scale"] *= 4
            return q
        try:
            line2.draw_physics = scaled
            z, q = line2.synth(2, 0, 1.0)
        finally:
            line2.draw_physics = orig
        x, p = line2.synth(2, 0, 1.0)
        np.testing.assert_allclose(z, 4 * x, rtol=1e-6)

    def test_outer_race_has_its_line_at_bpfo(self):
        for seed in SEEDS:
            x, h, p, _ = twin(seed, 0, "outer_race", 0.0, 4.0)
            fs, f0 = p["sample_rate"], p["start_speed_hz"]
            bpfo = p["bearing"]["orders"]["bpfo"] * f0
            fr = p["resonances_hz"][0]
            fe, E = envelope_spectrum(x, fs, 0.6 * fr, 1.4 * fr)
            band = (fe > 0.5 * bpfo) & (fe < 1.5 * bpfo)
            top = fe[band][np.argmax(E[band])]
            self.assertAlmostEqual(top / bpfo, 1.0, delta=0.01,
                                   msg="seed %d: envelope peak %.1f Hz, BPFO %.1f" %
                                   (seed, top, bpfo))
            self.assertGreater(line_ratio(fe, E, bpfo), 10)
            fe, E = envelope_spectrum(h, fs, 0.6 * fr, 1.4 * fr)
            self.assertLess(line_ratio(fe, E, bpfo), 6, "seed %d: healthy twin" % seed)

    def test_inner_race_has_bpfi_and_shaft_sidebands(self):
        for seed in SEEDS:
            x, h, p, _ = twin(seed, 0, "inner_race", 0.0, 4.0)
            fs, f0 = p["sample_rate"], p["start_speed_hz"]
            bpfi = p["bearing"]["orders"]["bpfi"] * f0
            fr = p["resonances_hz"][0]
            fe, E = envelope_spectrum(x, fs, 0.6 * fr, 1.4 * fr)
            self.assertGreater(line_ratio(fe, E, bpfi), 8, "seed %d: BPFI" % seed)
            sb = max(line_ratio(fe, E, bpfi - f0, tol=0.004 * bpfi / (bpfi - f0)),
                     line_ratio(fe, E, bpfi + f0, tol=0.004 * bpfi / (bpfi + f0)))
            self.assertGreater(sb, 5, "seed %d: no sideband at BPFI +- 1x" % seed)
            fe, E = envelope_spectrum(h, fs, 0.6 * fr, 1.4 * fr)
            self.assertLess(line_ratio(fe, E, bpfi), 6, "seed %d: healthy twin" % seed)

    def test_imbalance_raises_1x_from_onset(self):
        for seed in SEEDS:
            x, h, p, ft = twin(seed, 0, "imbalance", 1.5, 3.0)
            fs, f0 = p["sample_rate"], p["start_speed_hz"]
            n = int(1.5 * fs)
            before = amp_at(x[:n], fs, f0) / amp_at(h[:n], fs, f0)
            after = amp_at(x[n:], fs, f0) / amp_at(h[n:], fs, f0)
            self.assertAlmostEqual(before, 1.0, delta=1e-6)
            self.assertGreater(after, 1 + 0.9 * ft["imbalance_k"] * ft["s0"])
            # and 2x stays where it was
            two = amp_at(x[n:], fs, 2 * f0) / amp_at(h[n:], fs, 2 * f0)
            self.assertAlmostEqual(two, 1.0, delta=0.05)

    def test_looseness_brings_half_orders(self):
        for seed in SEEDS:
            x, h, p, _ = twin(seed, 0, "looseness", 1.5, 3.0)
            fs, f0 = p["sample_rate"], p["start_speed_hz"]
            n = int(1.5 * fs)
            for order in (1.5, 2.5, 5):
                a, b = amp_at(x[n:], fs, order * f0, 0.01), amp_at(h[n:], fs, order * f0, 0.01)
                self.assertGreater(a / b, 2, "seed %d order %g" % (seed, order))
            self.assertAlmostEqual(amp_at(x[:n], fs, 2.5 * f0) / amp_at(h[:n], fs, 2.5 * f0),
                                   1.0, delta=1e-6)

    def test_slip_drops_the_speed(self):
        for seed in SEEDS:
            x, h, p, ft = twin(seed, 0, "slip", 1.5, 3.0)
            fs, f0, z = p["sample_rate"], p["start_speed_hz"], p["gear_teeth"]
            n = int(1.5 * fs)
            mesh_h = peak_near(h[n:], fs, z * f0, 0.02)
            mesh_x = peak_near(x[n:], fs, z * f0, 0.2)
            drop = 1 - mesh_x / mesh_h
            self.assertGreater(drop, 0.5 * ft["slip_drop"] * ft["s0"],
                               "seed %d: mesh %.1f Hz healthy, %.1f slipping" %
                               (seed, mesh_h, mesh_x))
            self.assertLess(drop, 1.5 * ft["slip_drop"])
            self.assertEqual(peak_near(x[:n], fs, z * f0, 0.02),
                             peak_near(h[:n], fs, z * f0, 0.02))

    def test_gear_tooth_impacts_once_per_rev(self):
        # the twins share their machine and noise, so x - h is the fault's own signal
        for seed in SEEDS:
            x, h, p, _ = twin(seed, 0, "gear_tooth", 0.0, 4.0)
            fs, f0 = p["sample_rate"], p["start_speed_hz"]
            e = np.abs(x - h)
            hot = np.flatnonzero(e > 0.2 * e.max())
            starts = hot[np.concatenate([[True], np.diff(hot) > 0.5 * fs / f0])]
            rev = np.diff(starts) / (fs / f0)
            self.assertAlmostEqual(np.median(rev), 1.0, delta=0.02, msg="seed %d" % seed)
            self.assertGreater(len(starts), 0.8 * 4 * f0)
            self.assertLessEqual(len(starts), 4 * f0 + 1)

    def test_faults_start_at_their_onset(self):
        for seed in (1, 2):
            for kind in line2.KINDS:
                x, h, p, _ = twin(seed, 1, kind, 1.0, 2.0)
                fs, f0 = p["sample_rate"], p["start_speed_hz"]
                n = fs
                d = np.abs(x - h)
                self.assertLess(d[:n].max(), 1e-5 * np.abs(h).max(), "%s before" % kind)
                self.assertGreater(d[n:n + int(2 * fs / f0)].max(), 0.02 * np.abs(h).max(),
                                   "%s seed %d: nothing in the first two turns" % (kind, seed))

    def test_fault_gain_scales_the_fault_exactly(self):
        for kind in ("outer_race", "gear_tooth", "imbalance"):
            x, h, p, _ = twin(3, 0, kind, 0.5, 1.5)
            y, _ = line2.synth(3, 0, 1.5, line2.draw_fault(3, 0, kind, 0.5, gain=2.0))
            d1, d2 = x - h, y[:, 0].astype(float) - h
            big = np.abs(d1) > 0.1 * np.abs(d1).max()
            np.testing.assert_allclose(d2[big] / d1[big], 2.0, rtol=2e-3, err_msg=kind)

    def test_dropouts_are_flat_not_nan(self):
        found = 0
        for seed in range(1, 30):
            x, p = line2.synth(seed, 1, 20.0)
            self.assertTrue(np.isfinite(x).all())
            fs = p["sample_rate"]
            for t, d in p["dropouts"]:
                a, n = int(round(t * fs)), int(round(d * fs))
                seg = x[a - 1:a + n]
                self.assertTrue((seg == seg[0]).all(), "seed %d dropout at %g s" % (seed, t))
                found += 1
        self.assertGreater(found, 5)


class Line(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="test_line2-")
        cls.out = os.path.join(cls.tmp, "a")
        cls.formats = "wav,csv,npy,pcap,pcapng" + (",flac" if line2.have_flac() else "")
        cls.args = ["--seed", "11", "--devices", "8", "--faulty", "6", "--seconds", "3",
                    "--fault-at", "1.5", "--formats", cls.formats]
        cls.man = make(cls.out, *cls.args)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def keys(self, out):
        return {d["id"]: bytes.fromhex(read_text(os.path.join(out, "keys", d["name"] + ".key"))
                                       .strip())
                for d in load_json(os.path.join(out, "manifest.json"))["devices"]}

    def test_same_seed_same_bytes(self):
        again = os.path.join(self.tmp, "again")
        make(again, *self.args)
        names = sorted(os.path.relpath(p, self.out) for p in
                       glob.glob(os.path.join(self.out, "**", "*"), recursive=True)
                       if os.path.isfile(p))
        self.assertGreater(len(names), 8 * 4)
        for n in names:
            with open(os.path.join(self.out, n), "rb") as a, open(os.path.join(again, n),
                                                                   "rb") as b:
                self.assertEqual(a.read(), b.read(), n)
        other = os.path.join(self.tmp, "other")
        make(other, *(self.args[:1] + ["12"] + self.args[2:]))
        self.assertNotEqual(read_bytes(os.path.join(other, "npy", "l2s12-d000.npy")),
                            read_bytes(os.path.join(self.out, "npy", "l2s11-d000.npy")))

    def test_declare(self):
        """declare writes the operator's CSVs from the manifest: each machine's lowest set
        point, and its set points, teeth and bearing, exactly (repr round-trips)."""
        hz, plate = os.path.join(self.tmp, "hz.csv"), os.path.join(self.tmp, "plate.csv")
        r = subprocess.run([sys.executable, SCRIPT, "declare", "--dir", self.out, "--shaft-hz",
                            hz, "--nameplate", plate], stderr=subprocess.PIPE, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = [ln.split(",") for ln in read_text(hz).splitlines()]
        self.assertEqual(rows[0], ["device", "hz"])
        pl = [ln.split(",") for ln in read_text(plate).splitlines()]
        self.assertEqual(pl[0], ["device", "setpoints_hz", "gear_teeth", "balls", "pitch_mm",
                                 "ball_mm", "contact_deg"])
        self.assertEqual(len(rows), 9)
        for d, h, p in zip(self.man["devices"], rows[1:], pl[1:]):
            ph = d["physics"]
            self.assertEqual(h, [d["name"], repr(min(ph["setpoints_hz"]))])
            self.assertEqual(p[0], d["name"])
            self.assertEqual([float(x) for x in p[1].split()], ph["setpoints_hz"])
            self.assertEqual(int(p[2]), ph["gear_teeth"])
            b = ph["bearing"]
            self.assertEqual([int(p[3])] + [float(x) for x in p[4:]],
                             [b["balls"], b["pitch_mm"], b["ball_mm"], b["contact_deg"]])
        r = subprocess.run([sys.executable, SCRIPT, "declare", "--dir", self.out],
                           stderr=subprocess.PIPE, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("nothing to write", r.stderr)

    def test_labels_match_the_manifest(self):
        with open(os.path.join(self.out, "labels.csv")) as fh:
            lines = fh.read().splitlines()
        self.assertEqual(lines[0], "device,kind,onset,end")
        rows = [ln.split(",") for ln in lines[1:]]
        self.assertEqual(len(rows), 6)
        faulty = {d["name"]: d["fault"] for d in self.man["devices"] if d["fault"]}
        self.assertEqual(sorted(r[0] for r in rows), sorted(faulty))
        self.assertEqual(sorted(r[1] for r in rows), sorted(line2.KINDS))
        for name, kind, onset, end in rows:
            self.assertEqual(kind, faulty[name]["kind"])
            self.assertEqual(float(onset), faulty[name]["onset"])
            self.assertEqual(float(onset), 1.5)
            self.assertEqual(end, "")
        for d in self.man["devices"]:
            for fmt, rel in d["files"].items():
                self.assertEqual(os.path.splitext(os.path.basename(rel))[0], d["name"])
            self.assertTrue(0.05 <= d["amplitude_scale"] <= 20)
            self.assertTrue(10000 <= d["sample_rate"] <= 25600)

    def test_policy_and_keys(self):
        pol = read_text(os.path.join(self.out, "policy.yaml"))
        for d in self.man["devices"]:
            self.assertIn("  - id: %d\n    name: %s\n" % (d["id"], d["name"]), pol)
            kf = os.path.join(self.out, "keys", d["name"] + ".key")
            self.assertEqual(os.stat(kf).st_mode & 0o777, 0o600)
            self.assertRegex(read_text(kf), r"^[0-9a-f]{64}\n$")

    def test_files_hold_the_samples(self):
        for d in self.man["devices"]:
            x = np.load(os.path.join(self.out, d["files"]["npy"]))
            self.assertEqual(x.dtype, np.float32)
            self.assertEqual(x.shape, (d["samples"], d["channels"]))
            self.assertEqual(d["samples"], 3 * d["sample_rate"])
            # float32 WAV: the header's rate and the same floats
            raw = read_bytes(os.path.join(self.out, d["files"]["wav"]))
            tag, ch, rate = struct.unpack_from("<HHI", raw, 20)
            self.assertEqual((ch, rate), (d["channels"], d["sample_rate"]))
            self.assertIn(tag, (3, 0xFFFE))
            data = raw[raw.index(b"data") + 8:]
            np.testing.assert_array_equal(np.frombuffer(data, "<f4").reshape(x.shape), x)
            c = np.loadtxt(os.path.join(self.out, d["files"]["csv"]), delimiter=",",
                           skiprows=1, ndmin=2)
            self.assertEqual(read_text(os.path.join(self.out, d["files"]["csv"])).split("\n")[0],
                             ",".join(["t"] + ["ch%d" % i for i in range(d["channels"])]))
            np.testing.assert_array_equal(c[:, 1:].astype(np.float32), x)
            self.assertAlmostEqual(1 / (c[1, 0] - c[0, 0]), d["sample_rate"], places=3)
            if "flac" in d["files"]:
                pcm = subprocess.run(["flac", "-d", "--silent", "--force-raw-format",
                                      "--endian=little", "--sign=signed", "-c",
                                      os.path.join(self.out, d["files"]["flac"])],
                                     stdout=subprocess.PIPE, check=True).stdout
                want = line2.to_int16(x, d["int16_full_scale"])
                np.testing.assert_array_equal(np.frombuffer(pcm, "<i2").reshape(x.shape), want)
                self.assertLessEqual(np.abs(x).max(), d["int16_full_scale"])

    def test_libsndfile_reads_wav_and_flac(self):
        if not SNDFILE.lib:
            self.skipTest("libsndfile is not installed")
        out = os.path.join(self.tmp, "snd")
        man = make(out, "--seed", "8", "--devices", "4", "--seconds", "0.5", "--formats",
                   "wav,npy" + (",flac" if line2.have_flac() else ""), "--wav-format", "int16")
        self.assertEqual(sorted(set(d["channels"] for d in man["devices"]
                                    + self.man["devices"])), [1, 2, 3])
        for m, out_ in ((self.man, self.out), (man, out)):
            for d in m["devices"]:
                x = np.load(os.path.join(out_, d["files"]["npy"]))
                fs, y = SNDFILE.read(os.path.join(out_, d["files"]["wav"]))
                self.assertEqual((fs, y.shape), (d["sample_rate"], x.shape))
                if m is self.man:       # float32 WAV
                    np.testing.assert_array_equal(y, x)
                else:
                    want = line2.to_int16(x, d["int16_full_scale"]) / 32768
                    np.testing.assert_array_equal(y, want)
                if "flac" in d["files"]:
                    fs, y = SNDFILE.read(os.path.join(out_, d["files"]["flac"]))
                    want = line2.to_int16(x, d["int16_full_scale"]) / 32768
                    self.assertEqual(fs, d["sample_rate"])
                    np.testing.assert_array_equal(y, want)

    def test_int16_wav_reads_with_the_stdlib(self):
        out = os.path.join(self.tmp, "i16")
        man = make(out, "--seed", "4", "--devices", "2", "--seconds", "1", "--formats",
                   "wav,npy", "--wav-format", "int16")
        for d in man["devices"]:
            with wave.open(os.path.join(out, d["files"]["wav"])) as w:
                self.assertEqual((w.getframerate(), w.getsampwidth()), (d["sample_rate"], 2))
                if d["channels"] <= 2:
                    self.assertEqual(w.getnchannels(), d["channels"])
                    raw = np.frombuffer(w.readframes(w.getnframes()), "<i2")
                    x = np.load(os.path.join(out, d["files"]["npy"]))
                    got = raw.reshape(x.shape) / 32768 * d["int16_full_scale"]
                    self.assertLessEqual(np.abs(got - x).max(), d["int16_full_scale"] / 32768)

    def frames_of(self, path, out):
        keys = self.keys(out)
        got = {}
        for ts, pkt in line2.read_pcap(path):
            ip = pkt[14:34]
            self.assertEqual(line2.csum16(ip), 0, "IPv4 header checksum")
            sport, payload = line2.udp_payload(pkt)
            ulen = struct.unpack_from("!H", pkt, 38)[0]
            pseudo = ip[12:20] + struct.pack("!BBH", 0, 17, ulen)
            self.assertEqual(line2.csum16(pseudo + pkt[34:34 + ulen]), 0, "UDP checksum")
            dev = struct.unpack_from("<I", payload, 4)[0]
            v = line2.lgf_verify(keys[dev], payload)
            self.assertIsNotNone(v, "tag of a frame of device %d" % dev)
            self.assertIsNone(line2.lgf_verify(keys[dev], payload[:-1] + bytes([payload[-1] ^ 1])))
            self.assertLessEqual(len(payload), 1472)
            h, s = v
            self.assertGreaterEqual(ts, h["timestamp_ns"])
            got.setdefault(dev, []).append((h, s))
        return got

    def test_lgf_frames_verify_and_carry_the_samples(self):
        for ext in ("pcap", "pcapng"):
            got = self.frames_of(os.path.join(self.out, "line." + ext), self.out)
            self.assertEqual(sum(len(v) for v in got.values()), self.man["lgf_frames"])
            for d in self.man["devices"]:
                fr = got[d["id"]]
                self.assertEqual([h["sequence"] for h, _ in fr], list(range(1, len(fr) + 1)))
                fs = d["sample_rate"]
                first = 0
                for h, s in fr:
                    self.assertEqual(h["timestamp_ns"], line2.T0_NS + first * 10**9 // fs)
                    self.assertEqual((h["sample_rate"], h["channels"], h["sample_format"]),
                                     (fs, d["channels"], 2))
                    first += h["sample_count"]
                x = np.load(os.path.join(self.out, d["files"]["npy"]))
                np.testing.assert_array_equal(np.concatenate([s for _, s in fr]), x)

    def test_lgf_int16_frames_scale_back(self):
        out = os.path.join(self.tmp, "lgf16")
        man = make(out, "--seed", "5", "--devices", "3", "--seconds", "1", "--formats",
                   "npy,pcap", "--lgf-format", "i16")
        got = self.frames_of(os.path.join(out, "line.pcap"), out)
        for d in man["devices"]:
            fr = got[d["id"]]
            self.assertTrue(all(h["sample_format"] == 1 and
                                h["scale"] == np.float32(d["int16_full_scale"] / 32768)
                                for h, _ in fr))
            x = np.load(os.path.join(out, d["files"]["npy"]))
            y = np.concatenate([s for _, s in fr])
            self.assertLessEqual(np.abs(y - x).max(), d["int16_full_scale"] / 65536 * 1.0001)

    def test_tcpdump_reads_every_frame(self):
        if not shutil.which("tcpdump"):
            self.skipTest("tcpdump is not installed")
        for ext in ("pcap", "pcapng"):
            r = subprocess.run(["tcpdump", "-nn", "-vv", "-r", os.path.join(self.out, "line." +
                                                                        ext)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.count("> 10.77.0.1.4739: [udp sum ok] UDP"),
                             self.man["lgf_frames"])
            self.assertEqual(r.stdout.count("bad cksum"), 0)

    def test_linegate_admits_every_frame(self):
        build = os.environ.get("LG_BUILD", os.path.join(SOURCE, "build"))
        dp = os.path.join(build, "dataplane", "linegate")
        if not os.access(dp, os.X_OK):
            self.skipTest("no linegate build at %s (set LG_BUILD)" % build)
        if "  pcap:" not in subprocess.run([dp, "--help"], stdout=subprocess.PIPE,
                                           text=True).stdout:
            self.skipTest("this linegate has no pcap backend")
        for ext in ("pcap", "pcapng"):
            st = os.path.join(self.tmp, "stats-%s.json" % ext)
            r = subprocess.run([dp, "-p", os.path.join(self.out, "policy.yaml"), "-b",
                                "pcap:file=" + os.path.join(self.out, "line." + ext), "-s", st,
                                "-o", os.path.join(self.tmp, "out.jsonl")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            s = load_json(st)
            self.assertEqual((s["received"], s["admitted"], s["dropped"]),
                             (self.man["lgf_frames"],) * 2 + (0,), r.stderr[-2000:])

    def test_send_paces_verified_frames(self):
        out = os.path.join(self.tmp, "send")
        man = make(out, "--seed", "6", "--devices", "2", "--seconds", "1", "--formats", "pcap")
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5)
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        got = []

        def recv():
            try:
                while len(got) < man["lgf_frames"]:
                    got.append(rx.recv(2048))
            except socket.timeout:
                pass
        th = threading.Thread(target=recv)
        th.start()
        r = subprocess.run([sys.executable, SCRIPT, "send", "--dir", out, "--to",
                            "127.0.0.1:%d" % rx.getsockname()[1], "--speed", "4"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        th.join()
        rx.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        secs = float(r.stdout.split(" in ")[1].split()[0])
        self.assertGreater(secs, 0.2)       # 1 s of line at x4: at least 0.25 s, less slack
        self.assertLess(secs, 5)
        want = [p for _, p in line2.read_pcap(os.path.join(out, "line.pcap"))]
        self.assertEqual(len(got), len(want))
        self.assertEqual(sorted(got), sorted(line2.udp_payload(p)[1] for p in want))

    def test_cli_refusals(self):
        for args, msg in ((["--faulty", "9", "--devices", "3"], "--faulty 9"),
                          (["--formats", "wav,mp3"], "unknown format 'mp3'"),
                          (["--kinds", "rust"], "unknown fault kind 'rust'"),
                          (["--fault-at", "5", "--seconds", "2", "--faulty", "1"],
                           "--fault-at 5")):
            r = subprocess.run([sys.executable, SCRIPT, "make", "--out",
                                os.path.join(self.tmp, "no")] + args,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            self.assertEqual(r.returncode, 1, args)
            self.assertIn(msg, r.stderr)


class WireFormat(unittest.TestCase):
    def doc_vector(self, title):
        text = read_text(os.path.join(SOURCE, "docs", "wire-format.md"))
        block = text[text.index("**%s**" % title):].split("```")[1]
        return bytes.fromhex("".join(block.split()))

    def test_frames_match_the_documented_vectors(self):
        got = line2.lgf_frame(bytes(range(32)), 0x1001, 1, 1, 1700000000000000000, 10000,
                              np.array([[1000], [-1000], [32767], [-32768]]), "i16", 0.001)
        self.assertEqual(got.hex(), self.doc_vector("i16-1ch").hex())
        got = line2.lgf_frame(b"\x5a" * 32, 0xDEADBEEF, 2, 0x0123456789ABCDEF, 42, 25600,
                              np.array([[0.5, -0.25], [1.5, 2.0], [-3.0, 0.001]]), "f32", 0.0,
                              sensor=2)
        self.assertEqual(got.hex(), self.doc_vector("f32-2ch").hex())
        h, s = line2.lgf_verify(b"\x5a" * 32, got)
        self.assertEqual((h["device_id"], h["sequence"], h["timestamp_ns"]),
                         (0xDEADBEEF, 0x0123456789ABCDEF, 42))
        np.testing.assert_array_equal(s, np.float32([[0.5, -0.25], [1.5, 2.0], [-3.0, 0.001]]))


class Fixtures(unittest.TestCase):
    def test_make_ingest_reproduces_the_committed_files(self):
        script = os.path.join(SOURCE, "tests", "fixtures", "ingest", "make_ingest.py")
        r = subprocess.run([sys.executable, script, "--check"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        self.assertEqual(r.returncode, 0, r.stdout)

    def test_ingest_fixtures_hold_the_expected_values(self):
        d = os.path.join(SOURCE, "tests", "fixtures", "ingest")
        e = load_json(os.path.join(d, "expected.json"))
        unit = np.array(e["values"]["unit"])
        np.testing.assert_array_equal(np.array(e["values"]["int16"]) / 32768, unit)
        np.testing.assert_array_equal(np.load(os.path.join(d, "npy-float32.npy")), unit)
        np.testing.assert_array_equal(np.load(os.path.join(d, "npy-int16.npy")) / 32768, unit)
        c = np.loadtxt(os.path.join(d, "csv-time.csv"), delimiter=",", skiprows=1)
        np.testing.assert_array_equal(c[:, 1:], unit)
        self.assertEqual(1 / (c[1, 0] - c[0, 0]), 12800)
        with wave.open(os.path.join(d, "wav-int16.wav")) as w:
            raw = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
            self.assertEqual(w.getframerate(), 12800)
        np.testing.assert_array_equal(raw / 32768, unit)
        key = bytes.fromhex(read_text(os.path.join(d, "keys", "ingest-fx.key")).strip())
        for f in ("lgf-f32.pcap", "lgf-f32.pcapng", "lgf-i16.pcap", "lgf-i16.pcapng"):
            fr = [line2.lgf_verify(key, line2.udp_payload(p)[1])
                  for _, p in line2.read_pcap(os.path.join(d, f))]
            self.assertEqual([h["sequence"] for h, _ in fr], [1, 2, 3], f)
            np.testing.assert_array_equal(np.concatenate([s for _, s in fr]), unit)
        if SNDFILE.lib:
            for f, info in e["files"].items():
                if info["format"] in ("wav", "flac"):
                    fs, y = SNDFILE.read(os.path.join(d, f))
                    self.assertEqual(fs, info["sample_rate"], f)
                    np.testing.assert_array_equal(y, np.array(e["values"][info["values"]]),
                                                  err_msg=f)
            fs, y = SNDFILE.read(os.path.join(d, "bad-wav-truncated.wav"))
            self.assertEqual(len(y), 50)    # what libsndfile makes of it: 200 bytes, 50 frames
        b = e["broken"]["bad-csv-number.csv"]
        line = read_text(os.path.join(d, "bad-csv-number.csv")).splitlines()[b["line"] - 1]
        self.assertTrue(line[b["column"] - 1:].startswith(b["text"]))
        self.assertEqual(len(read_bytes(os.path.join(d, "bad-wav-truncated.wav"))),
                         44 + 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
