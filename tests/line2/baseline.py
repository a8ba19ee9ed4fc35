#!/usr/bin/python3
"""Usage: baseline.py DIR [--window N] [--train S] [--holdout S]

A plain per-device numpy detector over a line that `line2.py make --formats npy` wrote, for
calibration (what a few lines of numpy see in line2's faults), not as a goal:

  features   per channel and window of N samples: log RMS, 16 log band energies of the
             Hann-windowed spectrum (equal widths up to fs/2), kurtosis
  score      max |z| over the features, z against the device's windows before S seconds
  threshold  1.05 x the 99.9% quantile of the scores of the windows before S + H seconds
  detected   a faulty device whose window holding the onset or one of the next two scores
             above its threshold
  false      windows from S seconds on that score above it: healthy devices all of theirs,
  alarms     faulty ones those before S + H

Options: --window N (default 2048), --train S (default 25), --holdout H (default 13).
Prints detections per fault kind and the false alarms per window.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import line2  # noqa: E402


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    if argv[0].startswith("-"):
        print("baseline.py: unknown option '%s' (see --help)" % argv[0], file=sys.stderr)
        return 2
    opts = {"--window": 2048, "--train": 25.0, "--holdout": 13.0}
    d, rest = argv[0], argv[1:]
    while rest:
        if rest[0] not in opts or len(rest) < 2:
            print("baseline.py: unknown option '%s' (see --help)" % rest[0], file=sys.stderr)
            return 2
        opts[rest[0]] = type(opts[rest[0]])(rest[1])
        rest = rest[2:]
    W, tr_s, ho_s = opts["--window"], opts["--train"], opts["--holdout"]
    man = line2.load_json(os.path.join(d, "manifest.json"))
    res, fa = {}, [0, 0]
    for dv in man["devices"]:
        x = np.load(os.path.join(d, dv["files"]["npy"])).astype(np.float64)
        fs, n = dv["sample_rate"], len(x) // W
        win = x[:n * W].reshape(n, W, -1)
        spec = np.abs(np.fft.rfft(win * np.hanning(W)[None, :, None], axis=1)) ** 2
        edges = np.linspace(0, spec.shape[1], 17).astype(int)
        bands = np.stack([spec[:, edges[i]:edges[i + 1]].sum(1) for i in range(16)], 1)
        c = win - win.mean(1, keepdims=True)
        kurt = (c ** 4).mean(1) / ((c ** 2).mean(1) ** 2 + 1e-30)
        F = np.concatenate([np.log(np.sqrt((win ** 2).mean(1)) + 1e-12)[:, None],
                            np.log(bands + 1e-20), kurt[:, None]], 1).reshape(n, -1)
        t = (np.arange(n) + 1) * W / fs
        tr, ho = t < tr_s, (t >= tr_s) & (t < tr_s + ho_s)
        mu, sd = F[tr].mean(0), F[tr].std(0) + 1e-9
        z = np.abs((F - mu) / sd).max(1)
        thr = np.quantile(z[tr | ho], 0.999) * 1.05
        f = dv["fault"]
        if f is None:
            fa[0] += int((z[t >= tr_s] > thr).sum())
            fa[1] += int((t >= tr_s).sum())
        else:
            fa[0] += int((z[ho] > thr).sum())
            fa[1] += int(ho.sum())
            k = int(f["onset"] * fs // W)
            res.setdefault(f["kind"], []).append(bool((z[k:k + 3] > thr).any()))
    for k, v in sorted(res.items()):
        print("%-11s %d/%d detected within 3 windows" % (k, sum(v), len(v)))
    print("false alarms %d/%d windows" % tuple(fa))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
