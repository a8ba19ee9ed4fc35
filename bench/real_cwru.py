#!/usr/bin/python3
"""Usage: real_cwru.py make DATA OUT [--rate 12000|48000] [--train-chunks K] [--channels C]
       real_cwru.py baseline OUT -w N [--gauss R]

A real recording for issue 8's own-line path: the Case Western Reserve University (CWRU)
bearing data (a 2 hp motor on a test rig, SKF 6205-2RS JEM drive-end bearing seeded with
EDM faults, accelerometers at the drive end DE and fan end FE), not our simulator.

make: DATA is the folder data/crwu_dataset of an export of the GitHub repository
kobarion/bearing-failure-model (the MATLAB v5 .mat files; docs/benchmarks.md, "A real
recording: the CWRU bearing data", says how to get it). Writes into OUT, for linegate-train
and linegate-quality (docs/getting-started-own-line.md):

  npy/cwru-KIND.npy   one "device" per drive-end fault at 0 HP (KIND B007, IR014, OR021-6
                      ...): float64 (n, 2), channels DE and FE in g, as the .mat holds them
                      (--channels FE: the fan end's sensor alone, away from the fault);
                      the healthy recording (normal_0.mat, 0 HP, 48 kHz; decimated to 12 kHz
                      with scipy.signal.decimate for --rate 12000), cut to whole CHUNKs,
                      then the fault's recording. The join is the onset.
  labels.csv          device,kind,onset,end (onset = the join, seconds)
  shaft_hz.csv        device,hz (the shaft at 0 HP, from the recording's RPM)
  nameplate.csv       device,setpoints_hz,gear_teeth,balls,pitch_mm,ball_mm,contact_deg
                      (the 6205's geometry; the rig has no gear: gear_teeth 0), and
                      nameplate-gear2.csv, the same with 2 teeth (the "mesh" orders are then
                      the shaft's 1x-4x): for a linegate that refuses a gearless machine
  manifest.json       files, rates, lengths, the training cut (--healthy-before / --after)

Every device's healthy part is the SAME 5.08 s recording (CWRU published one 0 HP normal
baseline; the 1-3 HP ones are not in that repository), cut to 9 chunks of 0.512 s (6144
samples at 12 kHz, 24576 at 48 kHz): its first K chunks train (--healthy-before TRAIN_S),
the rest is held back (--after TRAIN_S): the false alarms are judged on those few windows,
copied into every device. A chunk is a whole number of windows up to 2048 samples at
12 kHz and 8192 at 48 kHz and lasts a round number of seconds, so that the training cut
and the join fall on window boundaries: no window is half trained, none half faulty. The 0.028" faults (another
bearing, DE only, no RPM) and the fan-end faults are left out.

baseline: a plain numpy detector nobody on linegate wrote the physics of, on the same
windows (consecutive N samples from each device's first sample, as linegate cuts them):
per channel log RMS, log kurtosis and 8 log octave band energies; each feature z-scored
on the training windows (before TRAIN_S), a window's score the largest |z| over its
features and channels; the threshold the largest score of the training windows, or with
--gauss R the |z| a Gaussian feature passes with probability R / features per window
(R = 0.001: 4.06 for the 20 features of 2 channels). Recall within 3 windows of the onset window per
fault kind, delay, false alarms on the held-back healthy windows (each counted once: they
are the same in every device).
"""
import argparse
import json
import os
import sys

import numpy as np

RIG = {
    # SKF 6205-2RS JEM, CWRU's drive-end bearing (inches from CWRU's page)
    "balls": 9,
    "ball_in": 0.3126,
    "pitch_in": 1.537,
    "contact_deg": 0.0,
}
KINDS = [  # (folder, file stem, kind)
    ("007", "B007_0", "B007"),
    ("007", "IR007_0", "IR007"),
    ("007", "OR007_centered_at_6_0", "OR007-6"),
    ("007", "OR007_orthogonal_at_3_0", "OR007-3"),
    ("007", "OR007_opposite_at_12_0", "OR007-12"),
    ("014", "B014_0", "B014"),
    ("014", "IR014_0", "IR014"),
    ("014", "OR014_centered_at_6_0", "OR014-6"),
    ("021", "B021_0", "B021"),
    ("021", "IR021_0", "IR021"),
    ("021", "OR021_centered_at_6_0", "OR021-6"),
    ("021", "OR021_orthogonal_at_3_0", "OR021-3"),
    ("021", "OR021_opposite_at_12_0", "OR021-12"),
]
NCHUNKS = 9
CHUNK_S = 0.512


def load_mat(path):
    import scipy.io as sio

    m = sio.loadmat(path)
    de = [k for k in m if k.endswith("_DE_time")]
    if len(de) != 1:
        sys.exit(f"{path}: expected one *_DE_time variable, found {de}")
    stem = de[0][: -len("_DE_time")]
    fe = stem + "_FE_time"
    if fe not in m:
        sys.exit(f"{path}: no {fe}")
    rpm = m.get(stem + "RPM")
    x = np.column_stack([m[de[0]].ravel(), m[fe].ravel()]).astype(np.float64)
    return x, (float(np.ravel(rpm)[0]) if rpm is not None else None), stem


def harmonic_prominence(x, fs, f0, nh=5):
    """dB of the peak within 0.5 Hz of each shaft harmonic over the median within 10 Hz."""
    n = len(x)
    p = np.abs(np.fft.rfft((x - x.mean()) * np.hanning(n))) ** 2
    f = np.fft.rfftfreq(n, 1 / fs)
    out = []
    for h in range(1, nh + 1):
        c = h * f0
        pk = p[(f > c - 0.5) & (f < c + 0.5)].max()
        bg = np.median(p[(f > c - 10) & (f < c + 10)])
        out.append(round(10 * np.log10(pk / bg), 1))
    return out


def bearing_orders():
    r = RIG["ball_in"] / RIG["pitch_in"]
    n = RIG["balls"]
    return {
        "bpfo": n / 2 * (1 - r),
        "bpfi": n / 2 * (1 + r),
        "bsf": 1 / (2 * r) * (1 - r * r),
        "ftf": 0.5 * (1 - r),
    }


def cmd_make(a):
    from scipy.signal import decimate

    data = a.data
    if os.path.isdir(os.path.join(data, "data", "crwu_dataset")):
        data = os.path.join(data, "data", "crwu_dataset")
    normal, rpm_n, _ = load_mat(os.path.join(data, "normal_baseline", "normal_0.mat"))
    fs = a.rate
    # The normal baseline's rate is not in the file: CWRU's page says 48 kHz. Check it
    # against a drive-end file known to be 48 kHz: same length class (~5 s at 48 kHz,
    # where the 12 kHz files hold ~10 s in half the samples) and the same pattern of
    # shaft harmonics read at 48 kHz.
    ref, rpm_r, _ = load_mat(os.path.join(data, "drive_end_bearing_fault_48k_data", "007",
                                          "B007_0.mat"))
    check = {
        "normal_0_samples": len(normal),
        "normal_0_seconds_at_48k": len(normal) / 48000,
        "normal_0_rpm": rpm_n,
        "normal_0_harmonics_db_read_at_48k": harmonic_prominence(normal[:, 0], 48000,
                                                                 rpm_n / 60),
        "B007_48k_harmonics_db_read_at_48k": harmonic_prominence(ref[:, 0], 48000,
                                                                 rpm_r / 60),
    }
    print("rate check: " + json.dumps(check), file=sys.stderr)
    if fs == 12000:
        normal = decimate(normal, 4, axis=0, zero_phase=True)
        fdir = "drive_end_bearing_fault_12k_data"
    elif fs == 48000:
        fdir = "drive_end_bearing_fault_48k_data"
    else:
        sys.exit("--rate: 12000 or 48000")
    chunk = int(round(CHUNK_S * fs))
    if len(normal) < NCHUNKS * chunk:
        sys.exit(f"normal_0: {len(normal)} samples, fewer than {NCHUNKS} chunks of {chunk}")
    normal = normal[: NCHUNKS * chunk]
    if not 1 <= a.train_chunks < NCHUNKS:
        sys.exit(f"--train-chunks: 1 to {NCHUNKS - 1}")
    train_s = a.train_chunks * chunk / fs
    onset = NCHUNKS * chunk / fs
    os.makedirs(os.path.join(a.out, "npy"), exist_ok=True)
    cols = [["DE", "FE"].index(c) for c in a.channels.split(",")]
    shaft = rpm_n / 60
    orders = bearing_orders()
    man = {
        "source": "github:kobarion/bearing-failure-model data/crwu_dataset (CWRU)",
        "rate": fs,
        "channels": a.channels.split(","),
        "units": "g",
        "chunk": chunk,
        "train_chunks": a.train_chunks,
        "healthy_before": train_s,
        "onset": onset,
        "healthy_samples": len(normal),
        "shaft_hz": shaft,
        "bearing_orders": orders,
        "bearing_hz": {k: v * shaft for k, v in orders.items()},
        "rate_check": check,
        "devices": [],
    }
    labels = ["device,kind,onset,end"]
    shafts = ["device,hz"]
    plates = ["device,setpoints_hz,gear_teeth,balls,pitch_mm,ball_mm,contact_deg"]
    for folder, stem, kind in KINDS:
        path = os.path.join(data, fdir, folder, stem + ".mat")
        if not os.path.exists(path):
            print(f"skip {path}: not there", file=sys.stderr)
            continue
        fault, rpm_f, var = load_mat(path)
        dev = "cwru-" + kind
        x = np.ascontiguousarray(np.concatenate([normal, fault])[:, cols])
        np.save(os.path.join(a.out, "npy", dev + ".npy"), x)
        labels.append(f"{dev},{kind},{onset:.6f},")
        shafts.append(f"{dev},{shaft:.4f}")
        plates.append(f"{dev},{shaft:.4f},0,{RIG['balls']},{RIG['pitch_in'] * 25.4:.3f},"
                      f"{RIG['ball_in'] * 25.4:.3f},{RIG['contact_deg']:g}")
        man["devices"].append({"device": dev, "kind": kind, "file": f"{fdir}/{folder}/"
                               f"{stem}.mat", "variable": var, "rpm": rpm_f,
                               "fault_samples": len(fault), "samples": len(x)})
    # The rig has no gear (gear_teeth 0). nameplate-gear2.csv declares 2 teeth instead, so
    # that the "mesh" orders Z-1..2Z are the shaft's 1x-4x: for a linegate that takes no
    # gearless declaration.
    plates2 = [plates[0]] + [r.replace(",0,", ",2,", 1) for r in plates[1:]]
    for name, rows in (("labels.csv", labels), ("shaft_hz.csv", shafts),
                       ("nameplate.csv", plates), ("nameplate-gear2.csv", plates2)):
        with open(os.path.join(a.out, name), "w") as f:
            f.write("\n".join(rows) + "\n")
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(man, f, indent=1)
    print(f"{len(man['devices'])} devices at {fs} Hz: healthy {len(normal) / fs:.3f} s "
          f"(trains before {train_s:.4f} s, {onset - train_s:.4f} s held back), onset "
          f"{onset:.4f} s; --healthy-before {train_s:g} --after {train_s:g}")


def octave_edges(n):
    """8 octave bands of an n-sample window's rfft bins, the top one ending at Nyquist."""
    top = n // 2 + 1
    return [max(1, top >> (8 - i)) for i in range(8)] + [top]


def window_features(w):
    """w: (n, channels) -> (channels * 10,) log features."""
    out = []
    for c in range(w.shape[1]):
        x = w[:, c] - w[:, c].mean()
        ms = np.mean(x * x) + 1e-30
        kurt = np.mean(x ** 4) / ms ** 2
        p = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
        e = octave_edges(len(x))
        bands = [np.log10(p[e[i]: e[i + 1]].sum() + 1e-30) for i in range(8)]
        out += [0.5 * np.log10(ms), np.log(kurt)] + bands
    return np.array(out)


def cmd_baseline(a):
    with open(os.path.join(a.out, "manifest.json")) as f:
        man = json.load(f)
    fs, n = man["rate"], a.window
    train_end, onset = man["healthy_before"], man["onset"]
    rows = {}
    for d in man["devices"]:
        x = np.load(os.path.join(a.out, "npy", d["device"] + ".npy"))
        nw = len(x) // n
        feats = np.array([window_features(x[i * n:(i + 1) * n]) for i in range(nw)])
        rows[d["device"]] = (d["kind"], feats)
    # The healthy part is the same in every device: fit on the first device's windows.
    _, f0 = next(iter(rows.values()))
    cut, join = int(round(train_end * fs)), int(round(onset * fs))
    t_end = cut // n                           # windows wholly before the training cut
    o_win = join // n                          # the window holding the onset
    h_start = -(-cut // n)                     # the first window wholly after the cut
    tr = f0[:t_end]
    mu, sd = tr.mean(0), tr.std(0) + 1e-9

    def score(f):
        return np.abs((f - mu) / sd).max(axis=1)

    s_tr = score(tr)
    if a.gauss:
        # |z| that a Gaussian feature passes with a.gauss / (features) per window, two-sided:
        # the 0.1% target for all features together, with no fitting beyond mean and sd
        from scipy.stats import norm
        thr = float(norm.isf(a.gauss / (2 * f0.shape[1])))
    else:
        thr = s_tr.max()
    held = score(f0[h_start:o_win])
    fa = int((held > thr).sum())
    kinds = {}
    for dev, (kind, f) in rows.items():
        s = score(f)
        hit = [i for i in range(o_win, min(o_win + 3, len(s))) if s[i] > thr]
        first = next((i for i in range(o_win, len(s)) if s[i] > thr), None)
        kinds[kind] = (bool(hit), None if first is None else first - o_win)
    res = {"window": n, "rate": fs, "train_windows": int(t_end), "gauss": a.gauss,
           "held_back_windows": int(o_win - h_start), "false_alarms": fa,
           "threshold": float(thr), "detected": sum(v[0] for v in kinds.values()),
           "faults": len(kinds),
           "kinds": {k: {"detected": v[0], "delay_windows": v[1]} for k, v in kinds.items()}}
    print(f"baseline (numpy RMS/kurtosis/octave bands, max |z| > {thr:.2f}), {fs} Hz, -w {n}: "
          f"{res['detected']}/{res['faults']} within 3 windows; false alarms {fa}/"
          f"{res['held_back_windows']} held-back healthy windows; {t_end} training windows")
    for k, v in kinds.items():
        print(f"  {k:10s} {'yes' if v[0] else 'no ':3s} delay {v[1]}")
    print(json.dumps(res))


class Parser(argparse.ArgumentParser):
    """--help prints the docstring; a refusal is one line on stderr, exit 2."""

    def print_help(self, file=None):
        print(__doc__, end="")

    def error(self, message):
        sys.stderr.write(f"real_cwru.py: {message}\n")
        sys.exit(2)


def main():
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(__doc__, end="")
        return
    for a in sys.argv[1:2]:
        if a.startswith("-"):
            Parser().error(f"unknown option {a}: give make or baseline first")
    p = Parser(usage=__doc__.split("\n\n")[0], add_help=False)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make", add_help=False)
    m.add_argument("data")
    m.add_argument("out")
    m.add_argument("--rate", type=int, default=12000)
    m.add_argument("--train-chunks", type=int, default=5)
    m.add_argument("--channels", default="DE,FE", choices=["DE,FE", "DE", "FE"])
    b = sub.add_parser("baseline", add_help=False)
    b.add_argument("out")
    b.add_argument("-w", "--window", type=int, required=True)
    b.add_argument("--gauss", type=float, default=0.0)
    a = p.parse_args()
    {"make": cmd_make, "baseline": cmd_baseline}[a.cmd](a)


if __name__ == "__main__":
    main()
