#!/usr/bin/python3
"""Usage: quality_proto.py DIR [--window N] [--variant NAME[,NAME...]] [--cache DIR]
                        [--devices K] [--fa RATE] [--norm q90|tail] [--no-dropout-mask]
       quality_proto.py --self-test

Prototype of a per-machine detector for line2 lines (tests/line2/line2.py make --formats
npy), in numpy, to find what the product's detector should compute before it is written
in C (issue 8: every fault kind within 3 windows in >= 99.5% of >= 200 faulty streams at
<= 0.1% false alarms per window). docs/benchmarks.md ("Detection on your own line") has
the figures and the plan for the product path.

Evaluation, as linegate-train and linegate-quality do it: per device and channel, windows
of N samples (default 2048); the healthy windows (wholly before the labelled onset) are
split in blocks of about 1/64 of them, in turn train, calibrate, train, check. A detector
is fitted on the train blocks only; its threshold comes from the calibrate blocks for RATE
false alarms per window (default 0.001); the false alarms are counted on the check blocks,
never seen before (95% Wilson interval). A faulty stream is detected when the window
holding the onset or one of the next two alerts (any channel). Windows holding a sensor
dropout (a run of >= 16 exactly equal samples) are neither trained on nor scored, and
counted (--no-dropout-mask scores them).

Features per channel and window (features()):
  bands   96 log10 band powers of the Hann-windowed spectrum, bands spaced geometrically
          over bins 1 .. N/2, each at least one bin wide (duplicate edges merged)
  time    log10 mean square, ln kurtosis, ln kurtosis and log10 mean square of the window
          high-passed at fs/8, ln crest factor
  env     48 log band powers of the envelope spectrum (|analytic signal| of the band over
          fs/8) up to 1 kHz, relative to the envelope's mean square
  bkurt   ln kurtosis of the window band-passed to 8 half-octave bands from Nyquist/16 to
          Nyquist (band_kurtosis())
Scores (score_variant()): max |robust z| (median, MAD) over the features; the RMS of
the top k |z|; knn: each feature standardised by the training mean and sd, a block
weighted by w (its squared distance counts w times), the score is the RMS distance per
feature to the k-th nearest training row; smooth m: the causal mean of the features of
the last m windows (training rows average training windows only); cap m: at most m
training rows per device and channel, a greedy k-centre cover (kcentre()).
Thresholds: dev = per device and channel, the tail model of linegate-train on that
device's calibrate rows; pooled = each device-channel's score normalised by the median and
90% quantile of its calibrate scores, then one (1 - RATE) quantile of every device's
normalised calibrate scores (max over channels): the line's healthy windows set one
threshold, a device's own spread scales it (--norm tail: normalised by the 90% quantile
and the mean excess over it instead; worse on held-back windows). Each is printed without
and with 2-of-3 confirmation. The one chosen for the product (docs/benchmarks.md): bt16_knn1
with the pooled threshold.

--cache DIR keeps each device's features (DIR/NAME-N.npz) for the next run; --devices K
takes the first K devices only.
--self-test checks the building blocks against known answers (meson test quality_proto).
"""
import json
import os
import sys
import time

import numpy as np

FLOOR = 1e-12


def band_edges(nbins, nbands):
    """Edges (bin indices, bins 1..nbins-1) of nbands bands spaced geometrically, each at
    least one bin wide: fine at high frequency, single bins at the bottom."""
    e = np.unique(np.round(np.geomspace(1, nbins, nbands + 1)).astype(int))
    return e


def pool(p, edges):
    c = np.concatenate([np.zeros((p.shape[0], 1)), np.cumsum(p, 1)], 1)
    return c[:, edges[1:]] - c[:, edges[:-1]]


def features(win, fs, nb=96, env_hz=1000.0, nbe=48):
    """win: (n, W) float64 windows of one channel. Returns dict of feature blocks."""
    n, W = win.shape
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(W) / W)
    x = win - win.mean(1, keepdims=True)
    X = np.fft.rfft(x * hann, axis=1)
    P = (np.abs(X) ** 2) / (W * (hann ** 2).sum())
    nbins = P.shape[1]                          # W/2 + 1
    edges = band_edges(nbins - 1, nb)
    lb = np.log10(pool(P, edges) + FLOOR)
    # envelope: the band over fs/8 (resonances, impacts), analytic signal magnitude
    F = np.fft.fft(x, axis=1)
    f = np.fft.fftfreq(W, 1.0 / fs)
    h = np.zeros(W)
    h[(f >= fs / 8)] = 2.0
    env = np.abs(np.fft.ifft(F * h[None, :], axis=1))
    e = env - env.mean(1, keepdims=True)
    E = np.abs(np.fft.rfft(e * hann, axis=1)) ** 2 / (W * (hann ** 2).sum())
    ke = max(4, int(env_hz / (fs / W)))
    eedges = band_edges(ke, nbe)
    le = np.log10(pool(E, eedges) + FLOOR) - np.log10((env ** 2).mean(1) + FLOOR)[:, None]
    hp = np.real(np.fft.ifft(F * (h / 2 + h[::-1] / 2)[None, :], axis=1))  # fs/8 high-pass
    m2 = (hp ** 2).mean(1)
    khp = (hp ** 4).mean(1) / (m2 ** 2 + FLOOR)
    m2x = (x ** 2).mean(1)
    kx = (x ** 4).mean(1) / (m2x ** 2 + FLOOR)
    crest = np.abs(x).max(1) / np.sqrt(m2x + FLOOR)
    t = np.stack([np.log10(m2x + FLOOR), np.log(kx + 1e-9), np.log(khp + 1e-9),
                  np.log(crest + 1e-9), np.log10(m2 + FLOOR)], 1)
    return {"bands": lb, "env": le, "time": t}


def band_kurtosis(win, nb=8, lo=1 / 16):
    """Kurtosis (log) of the window band-passed to each of nb bands spaced geometrically
    from lo x Nyquist to Nyquist (half octaves for the defaults): impacts ring the
    structure's resonances, wherever they lie."""
    n, W = win.shape
    x = win - win.mean(1, keepdims=True)
    X = np.fft.rfft(x, axis=1)
    fr = np.arange(X.shape[1]) / (W / 2)       # fraction of Nyquist
    edges = np.geomspace(lo, 1.0, nb + 1)
    out = np.zeros((n, nb))
    for b in range(nb):
        m = (fr >= edges[b]) & ((fr < edges[b + 1]) | (b == nb - 1))
        y = np.fft.irfft(X * m[None, :], n=W, axis=1)
        m2 = (y ** 2).mean(1)
        out[:, b] = np.log((y ** 4).mean(1) / (m2 ** 2 + FLOOR) + 1e-9)
    return out


def dropout_mask(win, run=16):
    """Windows holding a run of >= run exactly equal consecutive samples (a sensor that
    holds its last value)."""
    eq = np.diff(win, axis=1) == 0
    # longest run of True per row
    n, m = eq.shape
    out = np.zeros(n, bool)
    for i in np.nonzero(eq.sum(1) >= run - 1)[0]:
        r = eq[i].astype(np.int8)
        d = np.diff(np.concatenate([[0], r, [0]]))
        s, e = np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]
        out[i] = (e - s).max() >= run - 1
    return out


def split(nh):
    block = max(1, nh // 64)
    k = np.arange(nh)
    r = (k // block) % 4
    return r


def tail_threshold(s, p):
    s = np.sort(s)
    n = len(s)
    iu = int(0.9 * (n - 1))
    u = s[iu]
    beta = (s[iu + 1:] - u).mean() if n - iu - 1 > 0 else 0.0
    t = u + beta * np.log(0.1 / p)
    if p * n >= 10:
        t = max(t, s[int((1 - p) * (n - 1))])
    return t


def wilson(k, n, z=1.959963984540054):
    if not n:
        return 0.0, 1.0
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


def load_device(d, dv, W, cache):
    path = os.path.join(cache, "%s-%d.npz" % (dv["name"], W)) if cache else None
    if path and os.path.exists(path):
        z = np.load(path, allow_pickle=True)
        feat, drop, t = z["feat"].item(), z["drop"], z["t"]
        z.close()
        if "bkurt" in feat:
            return feat, drop, t
        x = np.load(os.path.join(d, dv["files"]["npy"])).astype(np.float64)
        n = len(x) // W
        win = x[:n * W].reshape(n, W, -1)
        feat["bkurt"] = np.stack([band_kurtosis(win[:, :, c]) for c in range(win.shape[2])], 1)
        np.savez(path, feat=np.array(feat, dtype=object), drop=drop, t=t)
        return feat, drop, t
    x = np.load(os.path.join(d, dv["files"]["npy"])).astype(np.float64)
    fs = dv["sample_rate"]
    n = len(x) // W
    win = x[:n * W].reshape(n, W, -1)
    feat = {}
    drop = np.zeros((n, win.shape[2]), bool)
    for c in range(win.shape[2]):
        f = features(win[:, :, c], fs)
        f["bkurt"] = band_kurtosis(win[:, :, c])
        for k, v in f.items():
            feat.setdefault(k, []).append(v)
        drop[:, c] = dropout_mask(win[:, :, c])
    feat = {k: np.stack(v, 1) for k, v in feat.items()}   # (n, ch, d)
    t = np.arange(n) * W / fs
    if path:
        np.savez(path, feat=np.array(feat, dtype=object), drop=drop, t=t)
    return feat, drop, t


def robust_z(F, tr):
    med = np.median(F[tr], 0)
    mad = np.median(np.abs(F[tr] - med), 0) * 1.4826
    sd = F[tr].std(0)
    scale = np.maximum(mad, 0.5 * sd) + 1e-6
    return (F - med) / scale


def kcentre(T, m):
    """Indices of m rows of T chosen greedily, each the farthest from those before it (a
    k-centre cover: rare set points and ramps keep a row)."""
    sel = [0]
    d = ((T - T[0]) ** 2).sum(1)
    for _ in range(m - 1):
        j = int(np.argmax(d))
        sel.append(j)
        d = np.minimum(d, ((T - T[j]) ** 2).sum(1))
    return np.array(sorted(sel))


def smooth(F, m, skip):
    """Causal mean of each window's features and those of the m - 1 before it, leaving
    out the windows in skip (dropouts); a window with none to average keeps its own."""
    if m <= 1:
        return F
    ok = (~skip).astype(float)[:, None, None]
    c = np.cumsum(F * ok, 0)
    k = np.cumsum(ok, 0)
    c = np.concatenate([np.zeros_like(c[:1]), c], 0)
    k = np.concatenate([np.zeros_like(k[:1]), k], 0)
    i = np.arange(len(F))
    lo = np.maximum(0, i - m + 1)
    s, n = c[i + 1] - c[lo], k[i + 1] - k[lo]
    return np.where(n > 0, s / np.maximum(n, 1), F)


def score_variant(var, feat, tr, skip=None):
    """(n, ch) scores of one device."""
    blocks = var["blocks"]
    F = np.concatenate([feat[b] for b in blocks], 2)    # (n, ch, d)
    Ftr = F
    if var.get("smooth", 1) > 1:
        skip = skip if skip is not None else np.zeros(len(F), bool)
        # training rows average training windows only: no held-back window leaks in
        Ftr = smooth(F, var["smooth"], skip | ~tr)
        F = smooth(F, var["smooth"], skip)
    wcol = np.concatenate([np.full(feat[b].shape[2], var.get("w", {}).get(b, 1.0))
                           for b in blocks])
    n, ch, dd = F.shape
    out = np.zeros((n, ch))
    for c in range(ch):
        Fc, Ft = F[:, c], Ftr[tr, c]
        if var["score"] == "knn":
            mu, sd = Ft.mean(0), Ft.std(0) + 1e-3
            Z = (Fc - mu) / sd * np.sqrt(wcol)[None, :]
            T = (Ft - mu) / sd * np.sqrt(wcol)[None, :]
            keep = np.arange(len(T))
            if var.get("cap") and len(T) > var["cap"]:
                keep = kcentre(T, var["cap"])
                T = T[keep]
            # distance to the k-th nearest training window (itself excluded for training)
            d2 = (Z ** 2).sum(1)[:, None] + (T ** 2).sum(1)[None, :] - 2 * Z @ T.T
            d2 = np.maximum(d2, 0)
            idx = np.nonzero(tr)[0][keep]
            d2[idx, np.arange(len(idx))] = np.inf       # a training row is not its own
                                                        # neighbour
            k = var.get("k", 3)
            out[:, c] = np.sqrt(np.sort(d2, 1)[:, k - 1] / dd)
            continue
        Z = robust_z(Fc, tr)
        if var["score"] == "max":
            out[:, c] = np.abs(Z).max(1)
        elif var["score"] == "topk":
            k = var.get("k", 5)
            a = np.sort(np.abs(Z), 1)[:, -k:]
            out[:, c] = np.sqrt((a ** 2).mean(1))
        elif var["score"] == "pos_topk":
            k = var.get("k", 5)
            a = np.sort(np.maximum(Z, 0), 1)[:, -k:]
            out[:, c] = np.sqrt((a ** 2).mean(1))
    return out


VARIANTS = {
    "bands_max": {"blocks": ["bands"], "score": "max"},
    "bands_top5": {"blocks": ["bands"], "score": "topk", "k": 5},
    "all_max": {"blocks": ["bands", "env", "time"], "score": "max"},
    "all_top5": {"blocks": ["bands", "env", "time"], "score": "topk", "k": 5},
    "all_top10": {"blocks": ["bands", "env", "time"], "score": "topk", "k": 10},
    "all_knn3": {"blocks": ["bands", "env", "time"], "score": "knn", "k": 3},
    "bands_knn3": {"blocks": ["bands", "time"], "score": "knn", "k": 3},
    "bands_knn1": {"blocks": ["bands", "time"], "score": "knn", "k": 1},
    "bands_knn5": {"blocks": ["bands", "time"], "score": "knn", "k": 5},
    "bt4_knn1": {"blocks": ["bands", "time"], "score": "knn", "k": 1, "w": {"time": 4}},
    "bt16_knn1": {"blocks": ["bands", "time"], "score": "knn", "k": 1, "w": {"time": 16}},
    "bt16_knn2": {"blocks": ["bands", "time"], "score": "knn", "k": 2, "w": {"time": 16}},
    "bte16_knn1": {"blocks": ["bands", "time", "env"], "score": "knn", "k": 1,
                   "w": {"time": 16, "env": 0.25}},
    "bt64_knn1": {"blocks": ["bands", "time"], "score": "knn", "k": 1, "w": {"time": 64}},
    "bt64_knn2": {"blocks": ["bands", "time"], "score": "knn", "k": 2, "w": {"time": 64}},
    "bt16_knn1_s2": {"blocks": ["bands", "time"], "score": "knn", "k": 1, "w": {"time": 16},
                     "smooth": 2},
    "bt16_knn1_s3": {"blocks": ["bands", "time"], "score": "knn", "k": 1, "w": {"time": 16},
                     "smooth": 3},
    "bt16_knn2_s3": {"blocks": ["bands", "time"], "score": "knn", "k": 2, "w": {"time": 16},
                     "smooth": 3},
    "bt4_knn1_s3": {"blocks": ["bands", "time"], "score": "knn", "k": 1, "w": {"time": 4},
                    "smooth": 3},
    "btk16_knn1": {"blocks": ["bands", "time", "bkurt"], "score": "knn", "k": 1,
                   "w": {"time": 16, "bkurt": 16}},
    "btk4_knn1": {"blocks": ["bands", "time", "bkurt"], "score": "knn", "k": 1,
                  "w": {"time": 4, "bkurt": 4}},
    "btk16_knn1_s2": {"blocks": ["bands", "time", "bkurt"], "score": "knn", "k": 1,
                      "w": {"time": 16, "bkurt": 16}, "smooth": 2},
    "bt16_knn1_c64": {"blocks": ["bands", "time"], "score": "knn", "k": 1, "w": {"time": 16},
                      "cap": 64},
    "bt16_knn1_c128": {"blocks": ["bands", "time"], "score": "knn", "k": 1, "w": {"time": 16},
                       "cap": 128},
    "bandsonly_knn3": {"blocks": ["bands"], "score": "knn", "k": 3},
    "bandsenv_knn3": {"blocks": ["bands", "env"], "score": "knn", "k": 3},
}


def self_test():
    """Known answers of the building blocks; returns 0, or 1 with the failures printed."""
    fails = []

    def check(what, ok):
        if not ok:
            fails.append(what)

    W, fs = 2048, 12800.0
    t = np.arange(W)
    # bands: single bins at the bottom, every bin 1 .. W/2 in exactly one band
    e = band_edges(W // 2, 96)
    check("band edges rise from 1 to N/2", e[0] == 1 and e[-1] == W // 2 and
          (np.diff(e) >= 1).all())
    check("96 nominal bands of bins 1..1024: %d after merging (want 72)" % (len(e) - 1),
          len(e) - 1 == 72)
    # a sine at bin 100, amplitude 2: Hann puts A^2/4 on bins 99..101 of the one-sided P
    x = 2.0 * np.sin(2 * np.pi * 100 * t / W)
    f = features(x[None, :], fs)
    P = np.abs(np.fft.rfft(x * (0.5 - 0.5 * np.cos(2 * np.pi * t / W)))) ** 2 / (
        W * (0.5 - 0.5 * np.cos(2 * np.pi * t / W)) ** 2).sum()
    check("Hann sine power on bins 99..101 = A^2/4", abs(P[99:102].sum() - 1.0) < 1e-9)
    b = int(np.searchsorted(e, 100, side="right") - 1)
    check("the band of bin 100 holds the sine", abs(10 ** f["bands"][0, b] -
                                                   pool(P[None, :], e)[0, b]) < 1e-9)
    check("sine: log10 mean square = log10(2)", abs(f["time"][0, 0] - np.log10(2.0)) < 1e-9)
    check("sine: kurtosis 1.5", abs(f["time"][0, 1] - np.log(1.5)) < 1e-6)
    check("sine: crest sqrt(2)", abs(f["time"][0, 3] - np.log(np.sqrt(2.0))) < 1e-3)
    # high-pass at fs/8: a sine at bin 100 (625 Hz) is gone, one at bin 500 (3125 Hz) stays
    f2 = features((x + np.sin(2 * np.pi * 500 * t / W))[None, :], fs)
    check("fs/8 high-pass keeps only the upper sine (mean square 1/2)",
          abs(f2["time"][0, 4] - np.log10(0.5)) < 1e-9)
    # band kurtosis: white noise about 3 in every band; an impulse train far above
    r = np.random.default_rng(1)
    bk = band_kurtosis(r.standard_normal((64, W)))
    check("band kurtosis of white noise is 3 +- 10%", np.abs(np.exp(bk.mean(0)) - 3).max() < 0.3)
    imp = np.zeros(W)
    imp[::512] = 50.0
    bki = band_kurtosis((np.random.default_rng(1).standard_normal(W) + imp)[None, :])
    check("band kurtosis of an impulse train > 6 and rising with the band",
          (np.exp(bki) > 6).all() and (np.diff(bki[0]) > 0).all())
    # dropouts: 16 equal samples are one, 15 are not
    y = r.standard_normal((2, W))
    y[0, 100:116] = y[0, 99]
    y[1, 100:114] = y[1, 99]
    check("dropout mask: 16 equal samples yes, 15 no", dropout_mask(y).tolist() == [True, False])
    # the tail model: Exp(1) scores, p = 0.001: -ln p within 5%
    s = r.exponential(1.0, 200000)
    check("tail threshold of Exp(1) at 0.1%% (%.3f) = ln 1000 +- 5%%" % tail_threshold(s, 1e-3),
          abs(tail_threshold(s, 1e-3) / np.log(1000) - 1) < 0.05)
    # knn: rows 0 and 1 train; row 2 is 3 sd (of the training rows) from the nearer
    F = np.array([[0.0, 0.0], [2.0, 2.0], [5.0, -1.0]])[:, None, :]
    sc = score_variant({"blocks": ["a"], "score": "knn", "k": 1}, {"a": F},
                       np.array([True, True, False]))
    sd = 1.0 + 1e-3
    want = np.sqrt(((3.0 / sd) ** 2 + (3.0 / sd) ** 2) / 2)
    check("knn: RMS distance per feature to the nearest (%.6f, want %.6f)" % (sc[2, 0], want),
          abs(sc[2, 0] - want) < 1e-9)
    check("knn: a training row is not its own neighbour",
          abs(sc[0, 0] - np.sqrt(8 / sd ** 2 / 2)) < 1e-9)
    # weights: block w counts w times in the squared distance
    scw = score_variant({"blocks": ["a"], "score": "knn", "k": 1, "w": {"a": 4}}, {"a": F},
                        np.array([True, True, False]))
    check("knn: weight 4 doubles the distance", abs(scw[2, 0] - 2 * want) < 1e-9)
    # k-centre thinning: 0 first, then the farthest (9), then the farthest from both (4)
    kc = kcentre(np.arange(10, dtype=float)[:, None], 3)
    check("k-centre cover of 0..9 by 3 rows (%s)" % kc.tolist(), kc.tolist() == [0, 4, 9])
    # smoothing: causal mean of the last m windows, dropouts left out
    G = np.arange(6, dtype=float)[:, None, None]
    sm = smooth(G, 3, np.array([False, False, True, False, False, False]))[:, 0, 0]
    check("smooth 3 with a dropout (%s)" % sm.tolist(),
          np.allclose(sm, [0, 0.5, 0.5, 2.0, 3.5, 4.0]))
    # Wilson interval of 0 of 20 000
    lo, hi = wilson(0, 20000)
    check("Wilson 0/20000 upper bound 0.0192%", lo == 0 and abs(hi - 1.9204e-4) < 1e-7)
    for w in fails:
        print("FAIL: %s" % w)
    print("quality_proto self-test: %d checks failed" % len(fails) if fails else
          "quality_proto self-test: ok")
    return 1 if fails else 0


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    if argv[0] == "--self-test":
        return self_test()
    if argv[0].startswith("-"):
        print("quality_proto.py: unknown option '%s' (see --help)" % argv[0], file=sys.stderr)
        return 2
    d = argv[0]
    opts = {"--window": "2048", "--variant": "", "--cache": "", "--devices": "0",
            "--fa": "0.001", "--no-dropout-mask": None, "--norm": "q90"}
    rest = argv[1:]
    while rest:
        if rest[0] not in opts:
            print("quality_proto.py: unknown option '%s' (see --help)" % rest[0],
                  file=sys.stderr)
            return 2
        if opts[rest[0]] is None:
            opts[rest[0]] = "1"
            rest = rest[1:]
            continue
        opts[rest[0]] = rest[1]
        rest = rest[2:]
    W = int(opts["--window"])
    target = float(opts["--fa"])
    mask = opts["--no-dropout-mask"] is None
    names = opts["--variant"].split(",") if opts["--variant"] else list(VARIANTS)
    if opts["--cache"]:
        os.makedirs(opts["--cache"], exist_ok=True)
    man = json.load(open(os.path.join(d, "manifest.json")))
    devs = man["devices"][:int(opts["--devices"]) or None]
    res = {v: {"dev": []} for v in names}
    masked = [0, 0]
    t0 = time.time()
    for dv in devs:
        feat, drop, t = load_device(d, dv, W, opts["--cache"])
        fs = dv["sample_rate"]
        dur = W / fs
        f = dv["fault"]
        onset = f["onset"] if f else np.inf
        healthy = t + dur <= onset
        nh = int(healthy.sum())
        role = np.full(len(t), -1)
        role[np.nonzero(healthy)[0]] = split(nh)
        tr = (role == 0) | (role == 2)
        dropw = drop.any(1) if mask else np.zeros(len(t), bool)
        tr &= ~dropw
        cal = (role == 1) & ~dropw
        chk = role == 3
        ch = drop.shape[1]
        masked[0] += int(dropw[chk].sum())
        masked[1] += int(dropw.sum())
        for v in names:
            s = score_variant(VARIANTS[v], feat, tr, dropw)
            # per channel: scores relative to the calibration median and 90% quantile
            q50 = np.median(s[cal], 0)
            q90 = np.quantile(s[cal], 0.9, 0)
            if opts["--norm"] == "tail":
                beta = np.array([np.mean(np.maximum(s[cal, c] - q90[c], 0)[s[cal, c] > q90[c]])
                                 for c in range(ch)])
                sn = (s - q90) / (beta + 1e-9)
            else:
                sn = (s - q50) / (q90 - q50 + 1e-9)
            thr = np.array([tail_threshold(s[cal, c], target / ch) for c in range(ch)])
            # the window holding the onset: the first that ends after it (linegate-quality's)
            k = int(np.argmax(t + dur > onset)) if f else 0
            res[v]["dev"].append(dict(s=s, sn=sn, thr=thr, cal=cal, chk=chk, dropw=dropw,
                                      ch=ch, k=k, kind=f["kind"] if f else None))
    print("%d devices, window %d, %.0f s; dropout windows not scored: %d of all, %d of the "
          "check windows" % (len(devs), W, time.time() - t0, masked[1], masked[0]))
    for v in names:
        # pooled: one quantile of the normalised calibration scores of every device
        pc = np.concatenate([(x["sn"][x["cal"]]).max(1) for x in res[v]["dev"]])
        gthr = np.quantile(pc, 1 - target)
        for mode in ("dev", "pooled"):
            for conf in ((1, 1), (2, 3)):
                det, fa = {}, [0, 0]
                for x in res[v]["dev"]:
                    if mode == "dev":
                        a = (x["s"] > x["thr"][None, :]).any(1)
                    else:
                        a = x["sn"].max(1) > gthr
                    a &= ~x["dropw"]
                    if conf[0] > 1:
                        c = np.convolve(a.astype(int), np.ones(conf[1], int))[:len(a)]
                        a = c >= conf[0]
                    fa[0] += int(a[x["chk"]].sum())
                    fa[1] += int(x["chk"].sum())
                    if x["kind"]:
                        det.setdefault(x["kind"], []).append(bool(a[x["k"]:x["k"] + 3].any()))
                tot = sum(sum(y) for y in det.values()), sum(len(y) for y in det.values())
                kinds = " ".join("%s %d/%d" % (kk[:6], sum(y), len(y))
                                 for kk, y in sorted(det.items()))
                lo, hi = wilson(fa[0], fa[1])
                print("%-12s %-6s %d/%d recall %.3f (%d/%d)  fa %.3f%% (%d/%d, 95%% %.3f-%.3f%%)"
                      "  %s" % (v, mode, conf[0], conf[1], tot[0] / max(1, tot[1]), tot[0],
                                tot[1], 100 * fa[0] / max(1, fa[1]), fa[0], fa[1], 100 * lo,
                                100 * hi, kinds))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
