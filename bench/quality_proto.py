#!/usr/bin/python3
"""Usage: quality_proto.py DIR [--window N|revR] [--variant NAME[,NAME...]] [--cache DIR]
                        [--devices K] [--fa RATE] [--norm q90|tail] [--no-dropout-mask]
                        [--misses] [--roc] [--load-check flr|flp] [--state-gate SETTLE]
                        [--state-threshold SETTLE]
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
  ord     order tracking (order_blocks()): bands with the lower half of the spectrum (bins
          1 .. N/4) read in orders of the shaft speed, the upper half (resonances) in Hz.
          The speed of each window, relative to the device's first training windows, is
          estimated from the spectrum alone (speed_ratio(): the shift in ln f that lines up
          the window's spectral lines, those of the sum of its channels' spectra with the
          broad humps taken out, with the reference's; 0.1-0.3% median error against
          line2's truth); no simulator truth is read
  spd     ln of that speed ratio (one feature, the same on every channel)
  eord    env read in orders of the same speed estimate
  imp     10 impact features (impact_blocks(), issue 8 step 6e.2): the shaft angle from the
          phase of the 1x line at the estimated speed (ord's ratio x the reference speed
          found from the declared set points and gear teeth); per revolution the kurtosis
          and crest of the resonance band (found on training windows, gear mesh notched),
          the synchronous average (TSA) of its squared envelope and of the raw signal's
          mesh band, the envelope's order spectrum at 1x, BPFO and BPFI (from the bearing
          geometry) and the angle's jitter. Reads of line2's manifest what an operator
          declares: physics.gear_teeth, physics.setpoints_hz, physics.bearing's balls,
          pitch_mm, ball_mm and contact_deg; a block "imp:0,3" is columns 0 and 3 of imp
  tsae    the squared-envelope TSA of each window and channel, 64 points per revolution
  tsa3    from tsae (tsa3()): ln peak over median of the mean of the last 3 windows' TSAs
  tsa1    the same of each window's own TSA
  flr     5 load-invariant floor features (floor_blocks(), issue 8 step 6e.3, for slip):
          line2's load scales the shaft harmonics, the mesh and the broadband excitation
          alike, slip's friction the broadband only. floor: ln median Hann power of the
          channel's resonance band (found on training windows); lines: ln power of 1x-3x,
          the mesh Z x, (Z +- 1) x and 2 Z x at the window's speed (ord's ratio x the
          reference speed, as imp); floor_lines = floor - lines (column 0), floor_mesh,
          floor_shaft (the floor over the mesh lines and over 1x-3x alone)
  flp     flr with the floor taken from the hump's bins within 3 dB of its peak only
          (hump_bins()); noisier on line2 (lines cross the few bins), kept as tried
  imq     3 per channel (impact2_blocks(), step 6e.3): fm4, the kurtosis of the raw TSA
          with the regular meshing taken out; rb_tsa_kurt, the kurtosis of the resonance
          band's TSA; bpfi_mod, the BPFI envelope lines and the sidebands of the shaft's
          modulation summed coherently (_bpfi_mod())
  sdv     the window's speed against the declared set points and its change since the
          window before (setpoint_blocks(); the same on every channel); kept as tried
Scores (score_variant()): max |robust z| (median, MAD) over the features; the RMS of
the top k |z|; knn: each feature standardised by the training mean and sd, a block
weighted by w (its squared distance counts w times), the score is the RMS distance per
feature to the k-th nearest training row; smooth m: the causal mean of the features of
the last m windows (training rows average training windows only); cap m: at most m
training rows per device and channel, a greedy k-centre cover (kcentre()); comb m (the
_m2, _m3 variants): the causal mean of the last m normalised scores per channel, before
the threshold (the 3rd window after the onset still decides); max_of: the max of other
variants' normalised scores (a second detector combined by max).
Thresholds: dev = per device and channel, the tail model of linegate-train on that
device's calibrate rows; pooled = each device-channel's score normalised by the median and
90% quantile of its calibrate scores, then one (1 - RATE) quantile of every device's
normalised calibrate scores (max over channels): the line's healthy windows set one
threshold, a device's own spread scales it (--norm tail: normalised by the 90% quantile
and the mean excess over it instead; worse on held-back windows). Each is printed without
and with 2-of-3 confirmation. The one chosen for the product (docs/benchmarks.md): bt16_knn1
with the pooled threshold. crossfit (one line per variant, before them): linegate-train's
pooled threshold since 2026-12-06 (docs/models.md, "How the expectation is measured"): the
false alarms of g fitted on the calibrate windows over the check windows plus those of g
fitted on the check windows over the calibrate windows (each normalisation fitted on its
own windows), and the recall at the g and normalisation fitted on both.

--window revR: a window per device, the smallest power of two from 2048 to 16384 samples
holding at least R shaft revolutions at the machine's lowest set point (issue 8's step 6e;
the set points are read from line2's manifest, as an operator would declare a machine's
speed range; no detector reads the speed).
--cache DIR keeps each device's feature blocks (DIR/NAME-N-BLOCK.npy) for the next run and
computes only the blocks the variants need; --devices K takes the first K devices only.
--misses prints, per variant, every fault the pooled threshold misses within 3 windows: kind,
initial severity, growth time, set points, speed and shaft revolutions per window at the
onset, a ramp or load step near it, score over threshold, first alert, speed-estimate error
(these read line2's manifest.json: the table only, never a detector).
--roc prints, per variant, the recall at the threshold giving 5, 10, 15 and 20 false alarms
per 10 000 check windows: detectors compared at equal false alarms (read off the check
windows, so not an operating point).
--load-check flr|flp prints whether that block is load-invariant on the healthy windows:
per device and channel each column's sd and slope against ln load (line2's load from the
manifest's knots: the table only, never a detector), and per fault kind its largest z in
the 3 windows from the onset.
--state-gate SETTLE: an oracle of the operating state a line's PLC knows (issue 8, step 3
of "what the product would need"): a window that overlaps a speed ramp or a load step of
line2's manifest knots, or the SETTLE seconds after one, is not scored, as a dropout window
is not (neither trained on, calibrated on, checked nor alerting; a fault whose 3 windows
are all gated is missed). It reads the simulator's truth for the gate, standing in for the
set point and ramp flag a PLC publishes; it says how much such an input could give, not
what the product has.
--state-threshold SETTLE: the same oracle as a second threshold instead: per variant, the
recall within 3 windows at 0.05, 0.1 and 0.2% false alarms per check window with one pooled
threshold, and with two, one for the steady windows and one for the transient ones (as
--state-gate marks them), each at that rate of its own check windows (read off the check
windows, as --roc: detectors compared at equal false alarms, not an operating point).
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


def spectra(win):
    """Hann power spectra of the windows (n, W) as features() computes them: (n, W/2 + 1)."""
    W = win.shape[1]
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(W) / W)
    x = win - win.mean(1, keepdims=True)
    return np.abs(np.fft.rfft(x * hann, axis=1)) ** 2 / (W * (hann ** 2).sum())


def lines_loggrid(P, fs, step=0.002, lo_bin=16, hi=0.45):
    """The spectral lines of power spectra P (n, W/2 + 1) on a log-frequency grid of the
    given step (in ln f), from bin lo_bin to hi x fs: log10 power minus its moving mean
    over +-10% of frequency (the broad resonance humps and the noise floor), negative part
    cut. Returns (grid ln f, (n, M) lines)."""
    nb = P.shape[1]
    W = 2 * (nb - 1)
    f = np.arange(nb) * fs / W
    g = np.arange(np.log(lo_bin * fs / W), np.log(hi * fs), step)
    L = np.log10(P + FLOOR)
    Lg = np.stack([np.interp(g, np.log(f[1:]), row[1:]) for row in L])
    h = int(round(0.1 / step))
    c = np.concatenate([np.zeros((len(Lg), 1)), np.cumsum(Lg, 1)], 1)
    i = np.arange(Lg.shape[1])
    a, b = np.maximum(0, i - h), np.minimum(Lg.shape[1], i + h + 1)
    m = (c[:, b] - c[:, a]) / (b - a)
    return g, np.maximum(Lg - m, 0)


def speed_ratio(lines, ref, step=0.002, span=0.6):
    """Each row's speed relative to the reference row's, from the shift in ln f that best
    lines up its spectral lines (shaft harmonics, gear mesh, its sidebands: every line of
    the rotation moves with the speed, the resonances do not and are taken out by
    lines_loggrid()) with the reference's, |ln ratio| <= span; parabolic peak. Reads no
    truth: the spectra only."""
    n, M = lines.shape
    L = 1 << int(np.ceil(np.log2(2 * M)))
    A = np.fft.rfft(lines - lines.mean(1, keepdims=True), L, axis=1)
    B = np.fft.rfft(ref - ref.mean(), L)
    xc = np.fft.irfft(A * np.conj(B)[None, :], L, axis=1)    # xc[k] = sum a[i + k] b[i]
    k = int(span / step)
    win = np.concatenate([xc[:, L - k:], xc[:, :k + 1]], 1)  # shifts -k .. k
    j = np.argmax(win, 1)
    jj = np.clip(j, 1, 2 * k - 1)
    y0, y1, y2 = (win[np.arange(n), jj - 1], win[np.arange(n), jj], win[np.arange(n), jj + 1])
    den = y0 - 2 * y1 + y2
    off = np.where(den < 0, 0.5 * (y0 - y2) / np.where(den < 0, den, -1), 0.0)
    return np.exp((jj + off - k) * step)


def order_bands(P, r, nb=96):
    """bands of features() with the lower half of the spectrum (bins 1 .. N/4) read in
    orders: the band edges e of the reference speed are read at e x r (r the window's
    speed over the reference's, the cumulative power interpolated), so a line that moves
    with the speed stays in its band; the upper half (resonances, fixed in Hz) in Hz."""
    nbins = P.shape[1]
    e = band_edges(nbins - 1, nb)
    c = np.concatenate([np.zeros((P.shape[0], 1)), np.cumsum(P, 1)], 1)   # c[k] = sum P[:k]
    half = e <= (nbins - 1) // 2
    out = np.empty((P.shape[0], len(e) - 1))
    x = np.arange(c.shape[1])
    for i in range(P.shape[0]):
        ee = np.where(half, np.minimum(e * r[i], nbins - 1), e).astype(float)
        ee = np.maximum.accumulate(ee)
        cc = np.interp(ee, x, c[i])
        out[i] = np.log10(np.maximum(np.diff(cc), 0) + FLOOR)
    return out


def bt_features(win):
    """bands and time of features(), without the envelope (one r2c and one c2r)."""
    n, W = win.shape
    x = win - win.mean(1, keepdims=True)
    P = spectra(win)
    lb = np.log10(pool(P, band_edges(P.shape[1] - 1, 96)) + FLOOR)
    X = np.fft.rfft(x, axis=1)
    k = np.arange(X.shape[1])
    g = np.where(k < W // 8, 0.0, np.where(k == W // 8, 0.5, 1.0))   # as features() and
    hp = np.fft.irfft(X * g[None, :], n=W, axis=1)                   # lg_spec_wide_row()
    m2 = (hp ** 2).mean(1)
    khp = (hp ** 4).mean(1) / (m2 ** 2 + FLOOR)
    m2x = (x ** 2).mean(1)
    kx = (x ** 4).mean(1) / (m2x ** 2 + FLOOR)
    crest = np.abs(x).max(1) / np.sqrt(m2x + FLOOR)
    t = np.stack([np.log10(m2x + FLOOR), np.log(kx + 1e-9), np.log(khp + 1e-9),
                  np.log(crest + 1e-9), np.log10(m2 + FLOOR)], 1)
    return {"bands": lb, "time": t}, P


def order_blocks(Ps, fs, ref_rows):
    """ord (order_bands per channel) and spd (ln speed ratio, the same on every channel)
    of one device: the speed of each window estimated from the lines of the sum of its
    channels' spectra against the mean of ref_rows (training windows at the start)."""
    g, lines = lines_loggrid(sum(P / (P.mean(1, keepdims=True) + FLOOR) for P in Ps), fs)
    r = speed_ratio(lines, lines[ref_rows].mean(0))
    ob = np.stack([order_bands(P, r) for P in Ps], 1)
    return {"ord": ob, "spd": np.repeat(np.log(r)[:, None, None], len(Ps), 1)}, r


def env_order_bands(win, fs, r, env_hz=1000.0, nbe=48):
    """env of features() read in orders: the envelope spectrum's bands (up to env_hz at the
    reference speed) at edges e x r, relative to the envelope's mean square."""
    n, W = win.shape
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(W) / W)
    x = win - win.mean(1, keepdims=True)
    F = np.fft.fft(x, axis=1)
    f = np.fft.fftfreq(W, 1.0 / fs)
    h = np.zeros(W)
    h[(f >= fs / 8)] = 2.0
    env = np.abs(np.fft.ifft(F * h[None, :], axis=1))
    e = env - env.mean(1, keepdims=True)
    E = np.abs(np.fft.rfft(e * hann, axis=1)) ** 2 / (W * (hann ** 2).sum())
    ke = max(4, int(env_hz / (fs / W)))
    edges = band_edges(ke, nbe)
    c = np.concatenate([np.zeros((n, 1)), np.cumsum(E, 1)], 1)
    xx = np.arange(c.shape[1])
    out = np.empty((n, len(edges) - 1))
    for i in range(n):
        ee = np.maximum.accumulate(np.minimum(edges * r[i], E.shape[1] - 1))
        out[i] = np.log10(np.maximum(np.diff(np.interp(ee, xx, c[i])), 0) + FLOOR)
    return out - np.log10((env ** 2).mean(1) + FLOOR)[:, None]


# ---------------------------------------------------------------------------------------
# impacts (issue 8, step 6e.2): angle resampling, time-synchronous averages, the envelope
# at the bearing's orders. What they read of the manifest is what an operator declares
# from the nameplate and the machine's recipes: physics.gear_teeth, physics.setpoints_hz
# and physics.bearing's geometry (balls, pitch_mm, ball_mm, contact_deg); never the
# fault, the speed knots, the resonances or any other hidden state.

IMP_NAMES = ("rev_kurt_max", "rev_kurt_med", "rev_crest_max", "tsa_env_peak", "mesh_bump",
             "eo_1x", "eo_bpfo", "eo_bpfi", "eo_bpfi_sb", "speed_jitter")


def nameplate(dv):
    """What an operator knows of a machine: gear teeth, set points (Hz), the bearing's
    ball-pass orders from its geometry (the textbook formulas, computed here)."""
    p = dv["physics"]
    b = p["bearing"]
    r = b["ball_mm"] / b["pitch_mm"] * np.cos(np.radians(b["contact_deg"]))
    return {"z": int(p["gear_teeth"]), "sp": [float(s) for s in p["setpoints_hz"]],
            "bpfo": b["balls"] / 2 * (1 - r), "bpfi": b["balls"] / 2 * (1 + r)}


def ref_speed(Ps, fs, ref_rows, npl):
    """The shaft speed (Hz) of the reference windows (those order_blocks() measures the
    speed ratio against), from their spectral lines: the f0 within the declared set points
    (x 0.95 .. 1.02: droop and wander) whose shaft harmonics 1-3, gear mesh Z f0 with its
    sidebands (Z +- 1) f0 and second mesh 2 Z f0 stand highest over the broad spectrum."""
    g, lines = lines_loggrid(sum(P[ref_rows] / (P[ref_rows].mean(1, keepdims=True) + FLOOR)
                                 for P in Ps), fs)
    ln = lines.mean(0)
    z = npl["z"]
    f0 = np.exp(np.arange(np.log(0.95 * min(npl["sp"])), np.log(1.02 * max(npl["sp"])), 2e-4))
    sc = np.zeros(len(f0))
    for o in (1, 2, 3, z - 1, z, z + 1, 2 * z):
        lf = np.log(o * f0)
        sc += np.where((lf >= g[0]) & (lf <= g[-1]), np.interp(lf, g, ln), 0.0)
    return float(f0[int(np.argmax(sc))])


def resonance_band(P, fs):
    """The structural resonance band of one channel, found on healthy training spectra P
    (n, W/2 + 1): the peak above fs/10 of the running median of log power over +-10% of
    frequency (the broad hump; lines do not move a median), +-20% around it, under 0.48 fs."""
    nb = P.shape[1]
    W = 2 * (nb - 1)
    f = np.arange(nb) * fs / W
    L = np.log10(P.mean(0) + FLOOR)
    g = np.arange(np.log(fs / 10), np.log(0.48 * fs), 0.01)
    Lg = np.interp(g, np.log(np.maximum(f, 1e-9)), L)
    h = 10
    med = np.array([np.median(Lg[max(0, i - h):i + h + 1]) for i in range(len(Lg))])
    fc = float(np.exp(g[int(np.argmax(med))]))
    return fc / 1.2, min(fc * 1.2, 0.48 * fs)


def _analytic(X, W):
    """Analytic signal of real-FFT half spectra X (..., W/2 + 1)."""
    Y = np.zeros(X.shape[:-1] + (W,), complex)
    Y[..., :X.shape[-1]] = X
    Y[..., 1:(W + 1) // 2] *= 2
    if W % 2 == 0:
        Y[..., W // 2] = X[..., W // 2]
    return np.fft.ifft(Y, axis=-1)


def _lnratio(spec, orders, res, half):
    """ln of the sum of the peak powers of an order spectrum (resolution res orders per
    bin) within +-half orders of each of the given orders, over the sum of the median
    powers around them (the floor: within +-max(10%, 0.5 orders, half + 6 bins), the
    peak's +-half and 2 bins either side left out)."""
    num, den = 0.0, 0.0
    nbin = len(spec)
    for o in orders:
        c = o / res
        a, b = int(np.floor(c - half / res)), int(np.ceil(c + half / res)) + 1
        if b >= nbin or a < 1:
            continue
        wf = max(0.1 * o / res, 0.5 / res, 6 + half / res)
        fa, fb = max(1, int(np.floor(c - wf))), min(nbin, int(np.ceil(c + wf)) + 1)
        fl = np.concatenate([spec[fa:max(fa, a - 2)], spec[min(fb, b + 2):fb]])
        if not len(fl):
            continue
        num += spec[a:b].max()
        den += np.median(fl)
    return float(np.log((num + FLOOR) / (den + FLOOR))) if den > 0 else 0.0


def impact_blocks(win, fs, r, ref_rows, band_rows, npl):
    """imp (n, ch, 10) of one device (names in IMP_NAMES). win (n, W, ch); r the speed
    ratio of each window against ref_rows (order_blocks()). Per window:
    - the shaft speed r x ref_speed(); the shaft angle theta(t) from the phase of the 1x
      line (the channels' sum band-passed to +-0.45 orders around it, analytic signal,
      unwrapped phase / 2 pi), the first and last revolution's worth of samples dropped
      (the band-pass's edges);
    - speed_jitter: ln sd of theta(t) around its quadratic fit (revolutions): slip's
      0.5-3 Hz wobble; the wander and ramps are slow;
    - per channel the resonance band (resonance_band() on the training windows) with the
      gear mesh and its second harmonic notched (+-1.5 orders), resampled to the angle
      (B = the power of two at or above the samples per revolution): per revolution its
      kurtosis and crest factor (max and median over the revolutions: the once-per-
      revolution impact of a tooth); its squared envelope averaged synchronously over
      the revolutions (the TSA), peak over median; and the squared envelope's order
      spectrum over the window's revolutions at 1x-3x, BPFO x 1-3, BPFI x 1-3 and BPFI
      x 1-2 +- 1 (each the max within +-max(2%, 1 bin) over the median within +-10%);
    - mesh_bump: the raw signal's TSA over the revolutions, its band of orders
      0.5 Z .. 1.5 Z (the mesh and its sidebands), the envelope of that band over the
      revolution with orders 0-3 taken out, max over mean (a cracked tooth raises the
      mesh over one tooth pitch)."""
    n, W, ch = win.shape
    x = win - win.mean(1, keepdims=True)
    X = np.fft.rfft(x, axis=1)                                  # (n, W/2+1, ch)
    P = [np.abs(X[:, :, c]) ** 2 for c in range(ch)]
    f0ref = ref_speed(P, fs, ref_rows, npl)
    bands = [resonance_band(P[c][band_rows], fs) for c in range(ch)]
    fbin = np.fft.rfftfreq(W, 1.0 / fs)
    z = npl["z"]
    out = np.zeros((n, ch, len(IMP_NAMES)))
    tsae = np.zeros((n, ch, 64))
    for i in range(n):
        fw = r[i] * f0ref
        m1 = np.clip(1 - np.abs(fbin - fw) / (0.45 * fw), 0, 1)  # triangular +-0.45 orders
        a1 = _analytic(X[i].sum(1) * m1, W)
        th = np.unwrap(np.angle(a1)) / (2 * np.pi)
        if th[-1] < th[0]:
            th = -th
        e = min(W // 4, int(round(fs / fw)))
        th = th[e:W - e]
        # speed jitter: the shaft angle's deviation (revolutions) from a quadratic in t
        # (a constant acceleration): slip's 0.5-3 Hz wobble; wander and ramps are slow
        tt = np.linspace(-1, 1, len(th))
        jit = np.log((th - np.polyval(np.polyfit(tt, th, 2), tt)).std() + 1e-9)
        out[i, :, 9] = jit
        spr = fs / fw                                           # samples per revolution
        B = int(2 ** np.ceil(np.log2(max(spr, 16))))
        ra, rb = np.ceil(th[0]), np.floor(th[-1])
        nrev = int(rb - ra)
        if nrev >= 1:
            grid = ra + np.arange(nrev * B) / B
        else:                                                   # under a revolution
            nrev, grid = 1, np.linspace(th[0], th[-1], B, endpoint=False)
        for c in range(ch):
            lo, hi = bands[c]
            mk = ((fbin >= lo) & (fbin <= hi)).astype(float)
            for h in (1, 2):
                mk[np.abs(fbin / fw - h * z) <= 1.5] = 0.0
            y = _analytic(X[i, :, c] * mk, W)[e:W - e]
            ya = np.interp(grid, th, y.real).reshape(nrev, B)
            m2 = (ya ** 2).mean(1) + FLOOR
            kr = (ya ** 4).mean(1) / m2 ** 2
            cr = np.abs(ya).max(1) / np.sqrt(m2)
            out[i, c, 0] = np.log(kr.max())
            out[i, c, 1] = np.log(np.median(kr))
            out[i, c, 2] = np.log(cr.max())
            env = np.interp(grid, th, np.abs(y) ** 2).reshape(nrev, B)
            ts = env.mean(0)
            tsae[i, c] = np.interp(np.arange(64) / 64, np.arange(B) / B, ts) / (np.median(ts) +
                                                                               FLOOR)
            out[i, c, 3] = np.log(ts.max() / (np.median(ts) + FLOOR) + FLOOR)
            es = env.ravel() - env.mean()
            S = np.abs(np.fft.rfft(es * np.hanning(len(es)))) ** 2
            res_o = 1.0 / nrev                                  # orders per bin
            half = lambda o: max(0.02 * o, res_o)               # noqa: E731
            out[i, c, 5] = _lnratio(S, (1, 2, 3), res_o, res_o)
            out[i, c, 6] = _lnratio(S, [npl["bpfo"] * h for h in (1, 2, 3)], res_o,
                                    half(npl["bpfo"]))
            out[i, c, 7] = _lnratio(S, [npl["bpfi"] * h for h in (1, 2, 3)], res_o,
                                    half(npl["bpfi"]))
            out[i, c, 8] = _lnratio(S, [npl["bpfi"] * h + s for h in (1, 2) for s in (-1, 1)],
                                    res_o, half(npl["bpfi"]))
            # mesh bump: the raw signal's TSA, its mesh band, the envelope over the revolution
            xa = np.interp(grid, th, x[i, e:W - e, c]).reshape(nrev, B).mean(0)
            T = np.fft.rfft(xa)
            o = np.arange(len(T))
            T = T * ((o >= 0.5 * z) & (o <= 1.5 * z))
            ev = np.abs(_analytic(T, B))
            EV = np.fft.rfft(ev)
            EV[:4] = 0
            bump = np.fft.irfft(EV, B)
            out[i, c, 4] = np.log(bump.max() / (ev.mean() + FLOOR) + 1e-6)
    return out, f0ref, tsae


# ---------------------------------------------------------------------------------------
# gear tooth and inner race, physics-grounded (issue 8 step 6e.3): the residual of the
# synchronous average once the regular meshing is taken out (FM4 of gear diagnostics), and
# the inner race's envelope lines at BPFI with the sidebands the shaft's modulation puts
# at +-1 and +-2 orders, summed coherently

IMQ_NAMES = ("fm4", "rb_tsa_kurt", "bpfi_mod")


def _bpfi_mod(S, bpfi, nrev):
    """ln of the BPFI family of a squared envelope's complex order spectrum S (nrev bins
    per order) over its floor. line2's inner race: impacts at BPFI with amplitude
    (1 + cos(2 pi theta + q)) / 2, so the squared envelope is modulated by its square,
    3/8 + cos/2 + cos(2 .)/8: lines at k BPFI and k BPFI +- 1, +- 2 of relative amplitude
    1, 2/3, 1/6 and phases 0, -+q, -+2q. Per k = 1, 2 the matched sum
    |S(j) + 2/3 (S(j+n) e^-iq + S(j-n) e^iq) + 1/6 (S(j+2n) e^-2iq + S(j-2n) e^2iq)|^2,
    at its best q (16 phases), j the highest bin within +-max(2%, 1 bin) of k BPFI, n one
    order; over what noise alone gives it (1 + 2 (4/9 + 1/36) times the median power
    within +-max(10%, 3 orders) of it, the family's bins left out)."""
    P = np.abs(S) ** 2
    nb = len(S)
    qs = np.exp(1j * np.linspace(0, 2 * np.pi, 16, endpoint=False))
    num = den = 0.0
    for k in (1, 2):
        c = k * bpfi * nrev
        h = max(0.02 * k * bpfi * nrev, 1.0)
        a, b = int(np.floor(c - h)), int(np.ceil(c + h)) + 1
        if a - 2 * nrev - 2 < 1 or b + 2 * nrev + 2 >= nb:
            continue
        j = a + int(np.argmax(P[a:b]))
        n = nrev
        v = np.abs(S[j] + 2 / 3 * (S[j + n] / qs + S[j - n] * qs) +
                   1 / 6 * (S[j + 2 * n] / qs ** 2 + S[j - 2 * n] * qs ** 2)) ** 2
        w = int(max(0.1 * c, 3 * nrev))
        fa, fb = max(1, j - w), min(nb, j + w + 1)
        keep = np.ones(fb - fa, bool)
        for m in (-2, -1, 0, 1, 2):
            lo_ = j + m * n - 2 - fa
            keep[max(0, lo_):max(0, lo_ + 5)] = False
        fl = P[fa:fb][keep]
        if not len(fl):
            continue
        num += v.max()
        den += (1 + 2 * (4 / 9 + 1 / 36)) * np.median(fl)
    return float(np.log((num + FLOOR) / (den + FLOOR))) if den > 0 else 0.0


def impact2_blocks(win, fs, r, ref_rows, band_rows, npl):
    """imq (n, ch, 3) of one device (names in IMQ_NAMES); the shaft angle, the resonance
    band with the mesh notched and the angle grid exactly as impact_blocks(). Per window
    and channel:
    - fm4: ln kurtosis of the raw signal's synchronous average (over the window's
      revolutions) with the regular meshing taken out (orders 0-3, and h Z + -2..2 for
      h = 1, 2): a cracked tooth's once-per-revolution disturbance is what remains;
    - rb_tsa_kurt: ln kurtosis of the resonance band's own synchronous average (the
      tooth's impact rings the structure at the same angle every revolution);
    - bpfi_mod: the inner race's envelope family, _bpfi_mod()."""
    n, W, ch = win.shape
    x = win - win.mean(1, keepdims=True)
    X = np.fft.rfft(x, axis=1)
    P = [np.abs(X[:, :, c]) ** 2 for c in range(ch)]
    f0ref = ref_speed(P, fs, ref_rows, npl)
    bands = [resonance_band(P[c][band_rows], fs) for c in range(ch)]
    fbin = np.fft.rfftfreq(W, 1.0 / fs)
    z = npl["z"]
    out = np.zeros((n, ch, len(IMQ_NAMES)))
    for i in range(n):
        fw = r[i] * f0ref
        m1 = np.clip(1 - np.abs(fbin - fw) / (0.45 * fw), 0, 1)
        a1 = _analytic(X[i].sum(1) * m1, W)
        th = np.unwrap(np.angle(a1)) / (2 * np.pi)
        if th[-1] < th[0]:
            th = -th
        e = min(W // 4, int(round(fs / fw)))
        th = th[e:W - e]
        spr = fs / fw
        B = int(2 ** np.ceil(np.log2(max(spr, 16))))
        ra, rb = np.ceil(th[0]), np.floor(th[-1])
        nrev = int(rb - ra)
        if nrev >= 1:
            grid = ra + np.arange(nrev * B) / B
        else:
            nrev, grid = 1, np.linspace(th[0], th[-1], B, endpoint=False)
        o = np.arange(B // 2 + 1)
        reg = o <= 3
        for h in (1, 2):
            reg |= np.abs(o - h * z) <= 2
        for c in range(ch):
            xa = np.interp(grid, th, x[i, e:W - e, c]).reshape(nrev, B).mean(0)
            T = np.fft.rfft(xa)
            d = np.fft.irfft(np.where(reg, 0, T), B)
            out[i, c, 0] = np.log((d ** 4).mean() / ((d ** 2).mean() ** 2 + FLOOR) + 1e-9)
            lo, hi = bands[c]
            mk = ((fbin >= lo) & (fbin <= hi)).astype(float)
            for h in (1, 2):
                mk[np.abs(fbin / fw - h * z) <= 1.5] = 0.0
            y = _analytic(X[i, :, c] * mk, W)[e:W - e]
            ya = np.interp(grid, th, y.real).reshape(nrev, B).mean(0)
            out[i, c, 1] = np.log((ya ** 4).mean() / ((ya ** 2).mean() ** 2 + FLOOR) + 1e-9)
            env = np.interp(grid, th, np.abs(y) ** 2)
            es = env - env.mean()
            S = np.fft.rfft(es * np.hanning(len(es)))
            out[i, c, 2] = _bpfi_mod(S, npl["bpfi"], nrev)
    return out


# ---------------------------------------------------------------------------------------
# slip (issue 8, step 6e.3): the broadband floor over the order lines, load-invariant

FLR_NAMES = ("floor_lines", "floor", "lines", "floor_mesh", "floor_shaft")


def _line_power(P, fbin, freqs, rel=0.02, nbin=2):
    """(n,) the power of the spectral lines at freqs (n, k) Hz of Hann power spectra P
    (n, W/2 + 1): per line the sum of the bins within +-max(rel, nbin bins) of it minus
    that many bins of the median power within +-3 times that (the floor under it); lines
    at or over 0.45 fs, or under 2 bins, are left out."""
    n, nb = P.shape
    df = fbin[1]
    out = np.zeros(n)
    for i in range(n):
        for fl in freqs[i]:
            if fl < 2 * df or fl >= 0.9 * fbin[-1]:
                continue
            h = max(rel * fl, nbin * df)
            a, b = int(np.floor((fl - h) / df)), int(np.ceil((fl + h) / df)) + 1
            fa, fb = max(1, int(np.floor((fl - 3 * h) / df))), min(nb, int(np.ceil(
                (fl + 3 * h) / df)) + 1)
            fl_bins = np.concatenate([P[i, fa:max(fa, a)], P[i, min(fb, b):fb]])
            med = np.median(fl_bins) if len(fl_bins) else 0.0
            out[i] += max(P[i, max(a, 1):min(b, nb)].sum() - med * (b - a), 0.0)
    return out


def setpoint_blocks(r, f0ref, sp, ch):
    """sdv (n, ch, 2), the same on every channel: the window's speed (r x f0ref, as imp's)
    against the set points the operator declared: ln of it over the nearest set point (a
    healthy machine sits at a set point less its load's droop, 0-3% in line2, or between
    two in a ramp; a slipping one runs d s = 1.2-6% slower than its set point and droop),
    and |ln r| changed since the window before (a ramp moves the speed, a slip holds it)."""
    f = np.log(r * f0ref)
    ls = np.log(np.asarray(sp, float))
    dev = f - ls[np.argmin(np.abs(f[:, None] - ls[None, :]), 1)]
    mv = np.abs(np.diff(np.log(r), prepend=np.log(r[:1])))
    return np.repeat(np.stack([dev, mv], 1)[:, None, :], ch, 1)


def hump_bins(P, fs, lo, hi, half=0.01):
    """The bins of the resonance band lo..hi (resonance_band()) where the structure's hump
    stands within 3 dB of its peak, from healthy training spectra P (n, W/2 + 1): their mean,
    median-filtered over +-half of the band's centre frequency (a line does not move a
    median), at or over half its maximum; at least 8 bins (the 8 highest otherwise). There
    the broadband through the structure stands highest over the sensor's own noise, which
    neither load nor friction scales."""
    nb = P.shape[1]
    W = 2 * (nb - 1)
    f = np.arange(nb) * fs / W
    inb = np.nonzero((f >= lo) & (f <= hi))[0]
    m = P.mean(0)
    h = max(1, int(round(half * (lo + hi) / 2 / (fs / W))))
    pad = np.concatenate([np.full(h, m[inb[0]]), m[inb], np.full(h, m[inb[-1]])])
    med = np.median(np.lib.stride_tricks.sliding_window_view(pad, 2 * h + 1), 1)
    sel = inb[med >= 0.5 * med.max()]
    if len(sel) < 8:
        sel = np.sort(inb[np.argsort(med)[::-1][:8]])
    return sel


def floor_blocks(Ps, fs, r, f0ref, band_rows, z, peak=False):
    """flr (n, ch, 5) of one device (names in FLR_NAMES), from the Hann power spectra Ps
    (one (n, W/2 + 1) per channel, spectra()), the speed ratio r of each window
    (order_blocks()), the reference speed f0ref (ref_speed()) and the declared gear teeth z.
    Load scales line2's shaft harmonics, the gear mesh and the broadband excitation of the
    structure alike; slip's friction raises the broadband only. So per channel and window:
    - floor: ln of the median power of the resonance band (resonance_band() on the
      training windows band_rows; the median, so that the lines in it do not count):
      the broadband through the structure;
    - lines: ln of the power of the order lines 1x, 2x, 3x, the mesh Z x and 2 Z x with
      the sidebands (Z +- 1) x at the window's speed r x f0ref (_line_power());
    - floor_lines = floor - lines: load-invariant on a healthy machine, raised by slip's
      friction (and by impacts into the resonances); floor_mesh, floor_shaft: the floor
      over the mesh lines alone and over 1x-3x alone.
    peak: the floor from the hump's bins within 3 dB of its peak only (hump_bins(); block
    flp), where the sensor noise dilutes the structure's broadband least."""
    n = len(r)
    ch = len(Ps)
    W = 2 * (Ps[0].shape[1] - 1)
    fbin = np.arange(Ps[0].shape[1]) * fs / W
    f0 = (r * f0ref)[:, None]
    shaft = f0 * np.array([1.0, 2.0, 3.0])[None, :]
    mesh = f0 * np.array([z - 1.0, z, z + 1.0, 2.0 * z])[None, :]
    out = np.zeros((n, ch, len(FLR_NAMES)))
    for c, P in enumerate(Ps):
        lo, hi = resonance_band(P[band_rows], fs)
        inb = (fbin >= lo) & (fbin <= hi)
        if peak:
            inb = hump_bins(P[band_rows], fs, lo, hi)
        fl = np.log(np.median(P[:, inb], 1) + FLOOR)
        ps, pm = _line_power(P, fbin, shaft), _line_power(P, fbin, mesh)
        ln = np.log(ps + pm + FLOOR)
        out[:, c] = np.stack([fl - ln, fl, ln, fl - np.log(pm + FLOOR),
                              fl - np.log(ps + FLOOR)], 1)
    return out


BASE_BLOCKS = ("bands", "time")


def load_device(d, dv, W, cache, need=("bands", "time", "env", "bkurt")):
    """Feature blocks (n, ch, d) of one device, dropout mask and window times; with a cache
    every block is kept in its own file and only the missing ones are computed."""
    base = os.path.join(cache, "%s-%d" % (dv["name"], W)) if cache else None
    feat = {}
    meta = base + "-meta.npz" if base else None
    drop = t = None
    if meta and os.path.exists(meta):
        z = np.load(meta)
        drop, t = z["drop"], z["t"]
    for b in need:
        if base and os.path.exists("%s-%s.npy" % (base, b)):
            feat[b] = np.load("%s-%s.npy" % (base, b))
    missing = [b for b in need if b not in feat]
    if not missing and drop is not None:
        if "tsae" in feat:
            feat["tsa3"] = tsa3(feat["tsae"], drop.any(1))
            feat["tsa1"] = tsa3(feat["tsae"], drop.any(1), 1)
        return feat, drop, t
    x = np.load(os.path.join(d, dv["files"]["npy"])).astype(np.float64)
    fs = dv["sample_rate"]
    n = len(x) // W
    win = x[:n * W].reshape(n, W, -1)
    ch = win.shape[2]
    t = np.arange(n) * W / fs
    drop = np.stack([dropout_mask(win[:, :, c]) for c in range(ch)], 1)
    new, Ps = {}, []
    for c in range(ch):
        f, P = bt_features(win[:, :, c])
        Ps.append(P)
        if "env" in missing:
            f["env"] = features(win[:, :, c], fs)["env"]
        if "bkurt" in missing:
            f["bkurt"] = band_kurtosis(win[:, :, c])
        for k, v in f.items():
            new.setdefault(k, []).append(v)
    new = {k: np.stack(v, 1) for k, v in new.items()}
    if {"ord", "spd", "eord", "imp", "tsae", "flr", "flp", "imq", "sdv"} & set(missing):
        f = dv["fault"]
        onset = f["onset"] if f else np.inf
        nh = int((t + W / fs <= onset).sum())
        ref = np.arange(min(4, max(1, nh // 64)))         # the first training block's windows
        ref = ref[~drop[ref].any(1)] if (~drop[ref].any(1)).any() else ref
        ob, r = order_blocks(Ps, fs, ref)
        new.update(ob)
        if "eord" in missing:
            new["eord"] = np.stack([env_order_bands(win[:, :, c], fs, r) for c in range(ch)], 1)
        # the training block's first windows set the speed reference (as for ord) and
        # each channel's resonance band (the first training blocks, dropouts out)
        tr0 = np.nonzero((split(nh) % 2 == 0))[0] if nh else np.arange(1)
        tr0 = tr0[~drop[tr0].any(1)][:64] if (~drop[tr0].any(1)).any() else tr0[:64]
        if "imp" in missing or "tsae" in missing:
            new["imp"], _, new["tsae"] = impact_blocks(win, fs, r, ref, tr0, nameplate(dv))
        if "imq" in missing:
            new["imq"] = impact2_blocks(win, fs, r, ref, tr0, nameplate(dv))
        if "flr" in missing or "flp" in missing or "sdv" in missing:
            npl = nameplate(dv)
            f0r = ref_speed(Ps, fs, ref, npl)
            if "sdv" in missing:
                new["sdv"] = setpoint_blocks(r, f0r, npl["sp"], ch)
            if "flr" in missing:
                new["flr"] = floor_blocks(Ps, fs, r, f0r, tr0, npl["z"])
            if "flp" in missing:
                new["flp"] = floor_blocks(Ps, fs, r, f0r, tr0, npl["z"], peak=True)
    for b in need:
        if b not in feat:
            feat[b] = new[b]
        if base:
            np.save("%s-%s.npy" % (base, b), feat[b])
    if meta:
        np.savez(meta, drop=drop, t=t)
    if "tsae" in feat:
        feat["tsa3"] = tsa3(feat["tsae"], drop.any(1))
        feat["tsa1"] = tsa3(feat["tsae"], drop.any(1), 1)
    return feat, drop, t


def tsa3(tsae, skip, m=3):
    """(n, ch, 1): ln peak over median of the causal mean of the last m windows' squared-
    envelope TSAs (64 points per revolution, each over its median; dropout windows left
    out). The 1x phase fixes the angle's origin, so the windows' TSAs line up: m times the
    revolutions averaged, still decided by the 3rd window after the onset."""
    a = smooth(tsae, m, skip)
    return np.log(a.max(2) / (np.median(a, 2) + FLOOR) + FLOOR)[:, :, None]


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


def getblock(feat, b):
    """A feature block; "imp:0,3,4" is columns 0, 3 and 4 of block imp."""
    if ":" not in b:
        return feat[b]
    name, cols = b.split(":")
    return feat[name][:, :, [int(c) for c in cols.split(",")]]


def score_variant(var, feat, tr, skip=None):
    """(n, ch) scores of one device."""
    blocks = var["blocks"]
    F = np.concatenate([getblock(feat, b) for b in blocks], 2)    # (n, ch, d)
    Ftr = F
    if var.get("smooth", 1) > 1:
        skip = skip if skip is not None else np.zeros(len(F), bool)
        # training rows average training windows only: no held-back window leaks in
        Ftr = smooth(F, var["smooth"], skip | ~tr)
        F = smooth(F, var["smooth"], skip)
    wcol = np.concatenate([np.full(getblock(feat, b).shape[2], var.get("w", {}).get(b, 1.0))
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
    # order tracking (order_blocks()): the lower half of the spectrum in orders of the
    # estimated shaft speed, and/or the speed itself as a feature
    "ot16_knn1_c128": {"blocks": ["ord", "time"], "score": "knn", "k": 1,
                       "w": {"time": 16}, "cap": 128},
    "ot16_knn1": {"blocks": ["ord", "time"], "score": "knn", "k": 1, "w": {"time": 16}},
    "ot16_knn1_c256": {"blocks": ["ord", "time"], "score": "knn", "k": 1,
                       "w": {"time": 16}, "cap": 256},
    "bt16_knn1_c256": {"blocks": ["bands", "time"], "score": "knn", "k": 1,
                       "w": {"time": 16}, "cap": 256},
    "ots16_knn1_c128": {"blocks": ["ord", "time", "spd"], "score": "knn", "k": 1,
                        "w": {"time": 16, "spd": 16}, "cap": 128},
    "ote16_knn1_c128": {"blocks": ["ord", "time", "eord"], "score": "knn", "k": 1,
                        "w": {"time": 16, "eord": 0.25}, "cap": 128},
    "ote1_knn1_c128": {"blocks": ["ord", "time", "eord"], "score": "knn", "k": 1,
                       "w": {"time": 16, "eord": 1}, "cap": 128},
    "bts16_knn1_c128": {"blocks": ["bands", "time", "spd"], "score": "knn", "k": 1,
                        "w": {"time": 16, "spd": 16}, "cap": 128},
    "bots16_knn1_c128": {"blocks": ["bands", "ord", "time", "spd"], "score": "knn", "k": 1,
                         "w": {"time": 16, "spd": 16}, "cap": 128},
    "bandsenv_knn3": {"blocks": ["bands", "env"], "score": "knn", "k": 3},
    # comb m: the causal mean of the last m normalised scores per channel (issue 8, 6e)
    "ot16_knn1_c128_m2": {"blocks": ["ord", "time"], "score": "knn", "k": 1,
                          "w": {"time": 16}, "cap": 128, "comb": 2},
    "ot16_knn1_c128_m3": {"blocks": ["ord", "time"], "score": "knn", "k": 1,
                          "w": {"time": 16}, "cap": 128, "comb": 3},
    "bt16_knn1_c128_m3": {"blocks": ["bands", "time"], "score": "knn", "k": 1,
                          "w": {"time": 16}, "cap": 128, "comb": 3},
    # impacts (issue 8, step 6e.2; impact_blocks()): imp alone, added to the ot16 row,
    # or a second detector whose normalised score is combined by max
    "imp_knn1_c128": {"blocks": ["imp"], "score": "knn", "k": 1, "cap": 128},
    "imp_knn1_c128_m2": {"blocks": ["imp"], "score": "knn", "k": 1, "cap": 128, "comb": 2},
    "oti16_knn1_c128_m2": {"blocks": ["ord", "time", "imp"], "score": "knn", "k": 1,
                           "w": {"time": 16, "imp": 16}, "cap": 128, "comb": 2},
    "oti4_knn1_c128_m2": {"blocks": ["ord", "time", "imp"], "score": "knn", "k": 1,
                          "w": {"time": 16, "imp": 4}, "cap": 128, "comb": 2},
    "ot_imp_max_m2": {"blocks": ["ord", "time", "imp"],
                      "max_of": ["ot16_knn1_c128_m2", "imp_knn1_c128_m2"]},
    "oti1_knn1_c128_m2": {"blocks": ["ord", "time", "imp"], "score": "knn", "k": 1,
                          "w": {"time": 16, "imp": 1}, "cap": 128, "comb": 2},
    "oti2_knn1_c128_m2": {"blocks": ["ord", "time", "imp"], "score": "knn", "k": 1,
                          "w": {"time": 16, "imp": 2}, "cap": 128, "comb": 2},
    "oti8_knn1_c128_m2": {"blocks": ["ord", "time", "imp"], "score": "knn", "k": 1,
                          "w": {"time": 16, "imp": 8}, "cap": 128, "comb": 2},
    "oti4_knn1_c128": {"blocks": ["ord", "time", "imp"], "score": "knn", "k": 1,
                       "w": {"time": 16, "imp": 4}, "cap": 128},
    "oti4_knn1_c128_m3": {"blocks": ["ord", "time", "imp"], "score": "knn", "k": 1,
                          "w": {"time": 16, "imp": 4}, "cap": 128, "comb": 3},
    # imp without the speed jitter, and without the bearing orders too (weight 4)
    "otiRTB4_knn1_c128_m2": {"blocks": ["ord", "time", "imp:0,1,2,3,4,5,6,7,8"],
                             "score": "knn", "k": 1, "cap": 128, "comb": 2,
                             "w": {"time": 16, "imp:0,1,2,3,4,5,6,7,8": 4}},
    "otiRT4_knn1_c128_m2": {"blocks": ["ord", "time", "imp:0,1,2,3,4,5"], "score": "knn",
                            "k": 1, "cap": 128, "comb": 2,
                            "w": {"time": 16, "imp:0,1,2,3,4,5": 4}},
    # the impact features' largest robust |z| as a second detector, combined by max
    "impRTB_max_m2": {"blocks": ["imp:0,1,2,3,4,5,6,7,8"], "score": "max", "comb": 2},
    "otiRTB4_impmax_m2": {"blocks": ["ord", "time", "imp"],
                          "max_of": ["otiRTB4_knn1_c128_m2", "impRTB_max_m2"]},
    # the squared-envelope TSA over the last 3 windows (tsa3()) added to otiRTB4
    "otiRTB4t4_knn1_c128_m2": {"blocks": ["ord", "time", "imp:0,1,2,3,4,5,6,7,8", "tsa3"],
                               "score": "knn", "k": 1, "cap": 128, "comb": 2,
                               "w": {"time": 16, "imp:0,1,2,3,4,5,6,7,8": 4, "tsa3": 4}},
    "otiRTB4t16_knn1_c128_m2": {"blocks": ["ord", "time", "imp:0,1,2,3,4,5,6,7,8", "tsa3"],
                                "score": "knn", "k": 1, "cap": 128, "comb": 2,
                                "w": {"time": 16, "imp:0,1,2,3,4,5,6,7,8": 4, "tsa3": 16}},
    # the parts of imp, each added to ot16 (weight 16): which feature recovers which miss
    "otiR16_knn1_c128_m2": {"blocks": ["ord", "time", "imp:0,1,2"], "score": "knn", "k": 1,
                            "w": {"time": 16, "imp:0,1,2": 16}, "cap": 128, "comb": 2},
    "otiT16_knn1_c128_m2": {"blocks": ["ord", "time", "imp:3,4,5"], "score": "knn", "k": 1,
                            "w": {"time": 16, "imp:3,4,5": 16}, "cap": 128, "comb": 2},
    "otiB16_knn1_c128_m2": {"blocks": ["ord", "time", "imp:6,7,8"], "score": "knn", "k": 1,
                            "w": {"time": 16, "imp:6,7,8": 16}, "cap": 128, "comb": 2},
    "otiS16_knn1_c128_m2": {"blocks": ["ord", "time", "imp:9"], "score": "knn", "k": 1,
                            "w": {"time": 16, "imp:9": 16}, "cap": 128, "comb": 2},
}

# the broadband floor over the order lines (floor_blocks(), issue 8 step 6e.3) added to
# otiRTB4's row at weight W: flr:0 alone (f), the three ratios flr:0,3,4 (fa), and with
# tsa3 at weight 4 (t4)
_RTB = "imp:0,1,2,3,4,5,6,7,8"
for _w in (1, 2, 4, 8, 16, 32):
    for _tag, _fb in (("f", "flr:0"), ("fa", "flr:0,3,4")):
        VARIANTS["otiRTB4%s%d_knn1_c128_m2" % (_tag, _w)] = {
            "blocks": ["ord", "time", _RTB, _fb], "score": "knn", "k": 1, "cap": 128,
            "comb": 2, "w": {"time": 16, _RTB: 4, _fb: _w}}
        VARIANTS["otiRTB4t4%s%d_knn1_c128_m2" % (_tag, _w)] = {
            "blocks": ["ord", "time", _RTB, "tsa3", _fb], "score": "knn", "k": 1, "cap": 128,
            "comb": 2, "w": {"time": 16, _RTB: 4, "tsa3": 4, _fb: _w}}
    for _tag, _fb in (("p", "flp:0"), ("pa", "flp:0,3,4")):
        VARIANTS["otiRTB4%s%d_knn1_c128_m2" % (_tag, _w)] = {
            "blocks": ["ord", "time", _RTB, _fb], "score": "knn", "k": 1, "cap": 128,
            "comb": 2, "w": {"time": 16, _RTB: 4, _fb: _w}}
        VARIANTS["otiRTB4t4%s%d_knn1_c128_m2" % (_tag, _w)] = {
            "blocks": ["ord", "time", _RTB, "tsa3", _fb], "score": "knn", "k": 1, "cap": 128,
            "comb": 2, "w": {"time": 16, _RTB: 4, "tsa3": 4, _fb: _w}}
    # and tsa1 (tsa3() of one window: the 64-point squared-envelope TSA, ln peak over
    # median) at weight 4 (s4)
    VARIANTS["otiRTB4s4fa%d_knn1_c128_m2" % _w] = {
        "blocks": ["ord", "time", _RTB, "tsa1", "flr:0,3,4"], "score": "knn", "k": 1,
        "cap": 128, "comb": 2, "w": {"time": 16, _RTB: 4, "tsa1": 4, "flr:0,3,4": _w}}
    # the gear tooth's and inner race's imq (impact2_blocks()) at weight W, with flr:0 at
    # 16 and tsa3 at 4 (t4f16q), or with flr:0 at 16 alone (f16q)
    VARIANTS["otiRTB4t4f16q%d_knn1_c128_m2" % _w] = {
        "blocks": ["ord", "time", _RTB, "tsa3", "flr:0", "imq"], "score": "knn", "k": 1,
        "cap": 128, "comb": 2, "w": {"time": 16, _RTB: 4, "tsa3": 4, "flr:0": 16, "imq": _w}}
    VARIANTS["otiRTB4f16q%d_knn1_c128_m2" % _w] = {
        "blocks": ["ord", "time", _RTB, "flr:0", "imq"], "score": "knn", "k": 1,
        "cap": 128, "comb": 2, "w": {"time": 16, _RTB: 4, "flr:0": 16, "imq": _w}}
    # the speed against the declared set points (setpoint_blocks()) at weight W, added
    # to otiRTB4t4f16 (t4f16d) and to otiRTB4f16 (f16d)
    VARIANTS["otiRTB4t4f16d%d_knn1_c128_m2" % _w] = {
        "blocks": ["ord", "time", _RTB, "tsa3", "flr:0", "sdv"], "score": "knn", "k": 1,
        "cap": 128, "comb": 2, "w": {"time": 16, _RTB: 4, "tsa3": 4, "flr:0": 16, "sdv": _w}}
    VARIANTS["otiRTB4f16d%d_knn1_c128_m2" % _w] = {
        "blocks": ["ord", "time", _RTB, "flr:0", "sdv"], "score": "knn", "k": 1,
        "cap": 128, "comb": 2, "w": {"time": 16, _RTB: 4, "flr:0": 16, "sdv": _w}}
    VARIANTS["otf%d_knn1_c128_m2" % _w] = {
        "blocks": ["ord", "time", "flr:0"], "score": "knn", "k": 1, "cap": 128, "comb": 2,
        "w": {"time": 16, "flr:0": _w}}


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
    # order tracking: a harmonic series (shaft 20 Hz, 13 orders, and a mesh of 31 teeth with
    # sidebands) over a fixed resonance hump; the same machine 7% faster is found 1.07
    # times faster (within 0.3%), and its order bands match the reference's where a band of
    # Hz bands would not
    def machine(f0, n=8, seed=3):
        rr = np.random.default_rng(seed)
        tt = np.arange(W) / fs
        out = []
        for _ in range(n):
            y = sum(np.sin(2 * np.pi * k * f0 * tt + rr.uniform(0, 6)) / k for k in range(1, 14))
            y = y + sum(0.5 * np.sin(2 * np.pi * (31 + j) * f0 * tt + rr.uniform(0, 6))
                        for j in (-1, 0, 1))
            y = y + 0.3 * np.sin(2 * np.pi * 3500 * tt) * rr.standard_normal(W)
            out.append(y + 0.01 * rr.standard_normal(W))
        return np.array(out)
    P0, P1 = spectra(machine(20.0)), spectra(machine(21.4))
    g0, l0 = lines_loggrid(P0, fs)
    _, l1 = lines_loggrid(P1, fs)
    rat = speed_ratio(l1, l0.mean(0))
    check("speed ratio of a 7%% faster machine (%.4f, want 1.07 +- 0.3%%)" % np.median(rat),
          abs(np.median(rat) / 1.07 - 1) < 0.003)
    check("speed ratio of the same machine 1 +- 0.3%",
          abs(np.median(speed_ratio(l0, l0.mean(0))) - 1) < 0.003)
    lo = W // 4
    e = band_edges(W // 2, 96)
    low = e[1:] <= lo
    ob0 = order_bands(P0, np.ones(len(P0)))
    ob1 = order_bands(P1, rat)
    hz1 = np.log10(pool(P1, e) + FLOOR)
    d_ord = np.abs(ob1.mean(0) - ob0.mean(0))[low & (e[:-1] >= 16)].mean()
    d_hz = np.abs(hz1.mean(0) - ob0.mean(0))[low & (e[:-1] >= 16)].mean()
    check("order bands of the faster machine nearer the reference's than Hz bands "
          "(%.3f vs %.3f decades)" % (d_ord, d_hz), d_ord < 0.5 * d_hz)
    check("order bands at ratio 1 are the Hz bands", np.allclose(
        ob0, np.log10(pool(P0, e) + FLOOR), atol=1e-9))
    # impacts: a machine at 25 Hz (Z = 31, a resonance at 3 kHz excited by noise) with and
    # without a once-per-revolution impact and with impacts at a bearing's BPFO; the speed
    # of the reference is found within 0.3%, the TSA of the envelope and the envelope's
    # order spectrum at 1x / BPFO see what they should
    def machine2(f0, n=6, tooth=0.0, bpfo=0.0, seed=5, Wm=8192, inner=0.0):
        rr = np.random.default_rng(seed)
        tt = np.arange(n * Wm) / fs
        th = f0 * tt
        y = 0.5 * np.sin(2 * np.pi * th + 0.3) + 0.1 * np.sin(4 * np.pi * th)
        y = y + 0.3 * (1 + 0.2 * np.cos(2 * np.pi * th)) * np.sin(2 * np.pi * 31 * th)
        hit = np.zeros(len(tt))
        for o, a in ((1.0, tooth), (5.3, bpfo), (7.7, inner)):
            if a:
                k = np.arange(1, int(o * th[-1]))
                am = a * (1 + np.cos(2 * np.pi * k / o + 1.0)) / 2 if o == 7.7 else a
                hit[np.round(k / (o * f0) * fs).astype(int)] += am
        ht = np.arange(200) / fs
        h = np.exp(-0.05 * 2 * np.pi * 3000 * ht) * np.sin(2 * np.pi * 3000 * ht)
        ex = 0.05 * rr.standard_normal(len(tt)) + hit
        y = y + np.convolve(ex, h)[:len(tt)] + 0.01 * rr.standard_normal(len(tt))
        return y.reshape(n, Wm, 1)
    npl = {"z": 31, "sp": [20.0, 30.0], "bpfo": 5.3, "bpfi": 7.7}
    wh = machine2(25.0)
    Ph = [spectra(wh[:, :, 0])]
    check("reference speed 25 Hz found within 0.3%% (%.3f)" % ref_speed(Ph, fs, np.arange(6),
          npl), abs(ref_speed(Ph, fs, np.arange(6), npl) / 25 - 1) < 0.003)
    lo_r, hi_r = resonance_band(Ph[0], fs)
    check("resonance band holds 3 kHz (%.0f-%.0f Hz)" % (lo_r, hi_r), lo_r < 3000 < hi_r)
    one = np.ones(6)
    ih = impact_blocks(wh, fs, one, np.arange(6), np.arange(6), npl)[0]
    it = impact_blocks(machine2(25.0, tooth=0.5), fs, one, np.arange(6), np.arange(6), npl)[0]
    ib = impact_blocks(machine2(25.0, bpfo=0.5), fs, one, np.arange(6), np.arange(6), npl)[0]
    j = {nm: i for i, nm in enumerate(IMP_NAMES)}
    check("a once-per-revolution impact raises the TSA envelope's peak (%.2f -> %.2f) and the "
          "envelope at 1x (%.2f -> %.2f)" % (ih[:, 0, j["tsa_env_peak"]].mean(),
                                              it[:, 0, j["tsa_env_peak"]].mean(),
                                              ih[:, 0, j["eo_1x"]].mean(),
                                              it[:, 0, j["eo_1x"]].mean()),
          (it[:, 0, j["tsa_env_peak"]] > ih[:, 0, j["tsa_env_peak"]].max() + 0.8).all() and
          (it[:, 0, j["eo_1x"]] > ih[:, 0, j["eo_1x"]].max()).all() and
          it[:, 0, j["eo_1x"]].mean() > ih[:, 0, j["eo_1x"]].mean() + 1)
    check("impacts at BPFO raise the envelope at BPFO (%.2f -> %.2f), not at BPFI" % (
          ih[:, 0, j["eo_bpfo"]].mean(), ib[:, 0, j["eo_bpfo"]].mean()),
          (ib[:, 0, j["eo_bpfo"]] > ih[:, 0, j["eo_bpfo"]].max() + 1).all() and
          ib[:, 0, j["eo_bpfi"]].mean() < ib[:, 0, j["eo_bpfo"]].mean() - 1)
    check("per-revolution kurtosis of impacts over noise's (%.2f vs %.2f)" % (
          it[:, 0, j["rev_kurt_med"]].mean(), ih[:, 0, j["rev_kurt_med"]].mean()),
          it[:, 0, j["rev_kurt_med"]].min() > ih[:, 0, j["rev_kurt_med"]].max())
    # imq: a once-per-revolution impact leaves a synchronous residual (fm4) and rings the
    # band at one angle (rb_tsa_kurt); shaft-modulated impacts at BPFI raise bpfi_mod,
    # impacts at BPFO far less
    qh = impact2_blocks(wh, fs, one, np.arange(6), np.arange(6), npl)
    qt = impact2_blocks(machine2(25.0, tooth=0.5), fs, one, np.arange(6), np.arange(6), npl)
    qi = impact2_blocks(machine2(25.0, inner=0.5), fs, one, np.arange(6), np.arange(6), npl)
    qo = impact2_blocks(machine2(25.0, bpfo=0.5), fs, one, np.arange(6), np.arange(6), npl)
    check("imq: tooth impact raises fm4 (%.2f -> %.2f) and rb_tsa_kurt (%.2f -> %.2f)" % (
          qh[:, 0, 0].mean(), qt[:, 0, 0].mean(), qh[:, 0, 1].mean(), qt[:, 0, 1].mean()),
          qt[:, 0, 0].min() > qh[:, 0, 0].max() and qt[:, 0, 1].min() > qh[:, 0, 1].max() + 0.5)
    check("imq: modulated impacts at BPFI raise bpfi_mod (%.2f -> %.2f; BPFO impacts %.2f)" % (
          qh[:, 0, 2].mean(), qi[:, 0, 2].mean(), qo[:, 0, 2].mean()),
          qi[:, 0, 2].min() > qh[:, 0, 2].max() + 1 and
          qi[:, 0, 2].mean() > qo[:, 0, 2].mean() + 1)
    # the TSA over 3 windows: a weak once-per-revolution impact stands higher over 3
    # consecutive windows (lined up by the 1x phase) than over one
    wt = machine2(25.0, tooth=0.2, seed=7)
    _, _, te = impact_blocks(wt, fs, one, np.arange(6), np.arange(6), npl)
    _, _, he = impact_blocks(machine2(25.0, seed=7), fs, one, np.arange(6), np.arange(6), npl)
    nodrop = np.zeros(6, bool)
    t3, t1 = tsa3(te, nodrop)[2:, 0, 0], tsa3(te, nodrop, 1)[2:, 0, 0]
    h3, h1 = tsa3(he, nodrop)[2:, 0, 0], tsa3(he, nodrop, 1)[2:, 0, 0]
    check("TSA over 3 windows: a weak impact %.2f-%.2f over healthy %.2f-%.2f (1 window: "
          "%.2f-%.2f, %.2f-%.2f)" % (t3.min(), t3.max(), h3.min(), h3.max(), t1.min(),
                                     t1.max(), h1.min(), h1.max()),
          t3.min() - h3.max() > max(0.0, t1.min() - h1.max()))
    # the floor over the lines: a load scale (lines and broadband alike) leaves it, a rise
    # of the broadband alone (slip's friction) at the same lines raises it by its power
    def machine3(lvl=1.0, bb=1.0, n=6, Wm=8192, f0=25.0, noise=0.001):
        rr = np.random.default_rng(11)
        tt = np.arange(n * Wm) / fs
        th = f0 * tt
        y = 0.5 * np.sin(2 * np.pi * th + 0.3) + 0.1 * np.sin(4 * np.pi * th + 1.0)
        y = y + 0.3 * (1 + 0.2 * np.cos(2 * np.pi * th)) * np.sin(2 * np.pi * 31 * th)
        ht = np.arange(200) / fs
        h = np.exp(-0.05 * 2 * np.pi * 3000 * ht) * np.sin(2 * np.pi * 3000 * ht)
        y = lvl * (y + np.convolve(0.05 * bb * rr.standard_normal(len(tt)), h)[:len(tt)])
        return (y + noise * rr.standard_normal(len(tt))).reshape(n, Wm)
    P3 = [spectra(machine3())]
    f0r = ref_speed(P3, fs, np.arange(6), npl)
    fl0 = floor_blocks(P3, fs, one, f0r, np.arange(6), 31)[:, 0]
    fll = floor_blocks([spectra(machine3(lvl=1.25))], fs, one, f0r, np.arange(6), 31)[:, 0]
    flb = floor_blocks([spectra(machine3(bb=1.5))], fs, one, f0r, np.arange(6), 31)[:, 0]
    dl, db = (fll - fl0).mean(0), (flb - fl0).mean(0)
    check("floor over lines: load x1.25 moves floor by 2 ln 1.25 (%.3f) and lines alike "
          "(%.3f), floor_lines by %.3f (want 0 +- 0.03)" % (dl[1], dl[2], dl[0]),
          abs(dl[1] - 2 * np.log(1.25)) < 0.03 and abs(dl[2] - 2 * np.log(1.25)) < 0.03 and
          np.abs(fll - fl0)[:, 0].max() < 0.03)
    check("floor over lines: broadband x1.5 at the same lines raises floor_lines by ln 2.25 "
          "(%.3f, want %.3f +- 0.05) and leaves the lines (%.3f)" % (db[0], np.log(2.25),
                                                                       db[2]),
          abs(db[0] - np.log(2.25)) < 0.05 and abs(db[2]) < 0.05 and
          (flb[:, 0] > fl0[:, 0] + 0.6).all())
    # ... and with a loud sensor noise (0.1, white): the hump's peak (flp)
    # keeps more of the rise than the band's median (flr)
    Pn = [spectra(machine3(noise=0.1))]
    Pnb = [spectra(machine3(bb=1.5, noise=0.1))]
    dr = (floor_blocks(Pnb, fs, one, f0r, np.arange(6), 31)[:, 0, 0] -
          floor_blocks(Pn, fs, one, f0r, np.arange(6), 31)[:, 0, 0]).mean()
    dp = (floor_blocks(Pnb, fs, one, f0r, np.arange(6), 31, peak=True)[:, 0, 0] -
          floor_blocks(Pn, fs, one, f0r, np.arange(6), 31, peak=True)[:, 0, 0]).mean()
    dpl = (floor_blocks([spectra(machine3(lvl=1.25, noise=0.1))], fs, one, f0r,
                        np.arange(6), 31, peak=True)[:, 0, 0] -
           floor_blocks(Pn, fs, one, f0r, np.arange(6), 31, peak=True)[:, 0, 0]).mean()
    check("sensor noise: broadband x1.5 raises the hump's floor over lines by %.3f, the band "
          "median's by %.3f (want %.3f); load x1.25 moves the hump's by %.3f" % (
              dp, dr, np.log(2.25), dpl),
          dp > dr + 0.1 and abs(dp - np.log(2.25)) < 0.15 and abs(dpl) < 0.1)
    # the speed against the declared set points: 3% under 30 Hz reads ln 0.97; a ramp's
    # window moves
    sdv = setpoint_blocks(np.array([1.0, 1.0, 0.97, 1.2]), 30.0, [20.0, 30.0, 40.0], 2)
    check("set point deviation (%s) and speed change (%s)" % (
          np.round(sdv[:, 0, 0], 4).tolist(), np.round(sdv[:, 1, 1], 4).tolist()),
          np.allclose(sdv[:, 0, 0], [0, 0, np.log(0.97), np.log(36 / 40)]) and
          np.allclose(sdv[:, 1, 1], [0, 0, -np.log(0.97), np.log(1.2 / 0.97)]))
    bo = nameplate({"physics": {"gear_teeth": 31, "setpoints_hz": [20.0], "bearing": {
        "balls": 9, "pitch_mm": 50.0, "ball_mm": 10.0, "contact_deg": 0.0}}})
    check("BPFO, BPFI of 9 balls, d/D 0.2: 3.6, 5.4", abs(bo["bpfo"] - 3.6) < 1e-9 and
          abs(bo["bpfi"] - 5.4) < 1e-9)
    # Wilson interval of 0 of 20 000
    lo, hi = wilson(0, 20000)
    check("Wilson 0/20000 upper bound 0.0192%", lo == 0 and abs(hi - 1.9204e-4) < 1e-7)
    for w in fails:
        print("FAIL: %s" % w)
    print("quality_proto self-test: %d checks failed" % len(fails) if fails else
          "quality_proto self-test: ok")
    return 1 if fails else 0


def roc(v, devs):
    """Recall within 3 windows (1 of 1, pooled normalisation) at the threshold that gives
    exactly 5, 10, 15 and 20 false alarms per 10 000 check windows: a comparison of
    detectors at equal false alarms, the threshold read off the check windows (so not an
    operating point: the calibrated one is printed below)."""
    chk = np.concatenate([np.where(x["dropw"], -np.inf, x["sn"].max(1))[x["chk"]]
                          for x in devs])
    hit = np.array([np.where(x["dropw"], -np.inf, x["sn"].max(1))[x["k"]:x["k"] + 3].max()
                    for x in devs if x["kind"]])
    out = []
    for per in (5, 10, 15, 20):
        n = int(per * len(chk) / 10000)
        thr = np.sort(chk)[::-1][n]             # n check windows above it
        out.append("%.3f at %d/%d" % ((hit > thr).mean(), n, len(chk)))
    print("%-12s roc    recall at equal false alarms (check windows): %s" % (v, ", ".join(out)))


def true_speed(dv, t):
    """The simulator's shaft speed at times t (for the miss table only; no detector reads
    it)."""
    k = np.array(dv["physics"]["speed_knots"])
    return np.interp(t, k[:, 0], k[:, 1])


def miss_table(v, devs, gthr):
    """Every fault not alerted within 3 windows (pooled threshold, 1 of 1): kind, initial
    severity s0, growth time, the machine's set points, its speed at the onset and the shaft
    revolutions one window holds there, whether its speed or load changed within 2 s of the
    onset, the highest normalised score in the 3 windows over the threshold, the window of
    the first alert after the onset, and the median error of the order tracking's speed
    estimate over the healthy windows. Then the misses among all faults by revolutions per
    window. Reads the simulator's truth (manifest.json): for this table only."""
    rows, revs_all = [], []
    for x in devs:
        if not x["kind"]:
            continue
        dv, f = x["dv"], x["dv"]["fault"]
        sp_on = float(true_speed(dv, np.array([f["onset"]]))[0])
        rev = sp_on * x["dur"]
        a = (x["sn"].max(1) > gthr) & ~x["dropw"]
        k = x["k"]
        revs_all.append((rev, bool(a[k:k + 3].any())))
        if a[k:k + 3].any():
            continue
        sp = dv["physics"]["setpoints_hz"]
        knots = np.array(dv["physics"]["speed_knots"])
        near = bool(((knots[1:, 0] > f["onset"] - 2) & (knots[1:, 0] < f["onset"] + 3 * x["dur"])
                     ).any())
        after = np.nonzero(a[k:])[0]
        first = int(after[0]) + 1 if len(after) else 0
        m = float(x["sn"][k:k + 3].max() / gthr)
        err = ""
        if x["spd"] is not None:
            ts = true_speed(dv, x["t"] + x["dur"] / 2)
            e = np.abs(np.exp(x["spd"][:, 0, 0]) / (ts / ts[0]) - 1)[:k]
            err = "%.1f%%" % (100 * np.median(e))
        rows.append((f["kind"], f["params"]["s0"], f["params"]["growth_s"], min(sp), max(sp),
                     sp_on, rev, near, m, first, dv["sample_rate"], dv["channels"], dv["name"],
                     err))
    print("misses of %s (pooled, 1 of 1): %d" % (v, len(rows)))
    print("  %-10s %5s %6s %13s %6s %5s %4s %5s %5s %6s %3s %-11s %s" % (
        "kind", "s0", "grow_s", "set points Hz", "onset", "rev/w", "ramp", "score", "first",
        "fs", "ch", "device", "speed err"))
    for r in sorted(rows):
        print("  %-10s %5.2f %6.1f %5.1f - %5.1f %6.1f %5.2f %4s %5.2f %5s %6d %3d %-11s %s" % (
            r[0], r[1], r[2], r[3], r[4], r[5], r[6], "yes" if r[7] else "no", r[8],
            str(r[9]) if r[9] else "none", r[10], r[11], r[12], r[13]))
    ks = {}
    for r in rows:
        ks[r[0]] = ks.get(r[0], 0) + 1
    print("  by kind: %s; s0 < 0.4: %d; grows in > 35 s: %d; ramp or load step near the onset:"
          " %d; first alert in window 4-10: %d, later: %d, never: %d" % (
              ", ".join("%s %d" % kv for kv in sorted(ks.items())),
              sum(r[1] < 0.4 for r in rows), sum(r[2] > 35 for r in rows),
              sum(r[7] for r in rows), sum(4 <= r[9] <= 10 for r in rows),
              sum(r[9] > 10 for r in rows), sum(r[9] == 0 for r in rows)))
    cuts = [(0, 1.5), (1.5, 3), (3, 6), (6, 1e9)]
    print("  missed / faults by shaft revolutions per window at the onset: %s" % ", ".join(
        "%s %d/%d" % ("%g-%g" % c if c[1] < 1e9 else ">%g" % c[0],
                      sum(1 for rv, det in revs_all if c[0] <= rv < c[1] and not det),
                      sum(1 for rv, det in revs_all if c[0] <= rv < c[1])) for c in cuts))


def load_check(blk, rows):
    """Is the floor over the lines load-invariant? Per device and channel over its healthy
    windows: the sd of each column of flr (or flp) and its slope against ln load (line2's
    load at the window's middle, from the manifest's speed knots: for this table only, no
    detector reads it; the floor and the lines should go as 2 ln L, their difference as 0);
    the same on the machines whose load moved (sd of ln L > 0.05); then per fault kind the
    largest z of each column (training mean and sd) over the 3 windows from the onset and
    over the channels, median and smallest over the kind's faults."""
    st, zs = [], {}
    for dv, F, t, dur, h, tr in rows:
        k = np.array(dv["physics"]["speed_knots"])
        L = np.log(np.interp(t + dur / 2, k[:, 0], k[:, 2]))
        for c in range(F.shape[1]):
            x = F[h, c]
            sl = [np.polyfit(L[h], x[:, j], 1)[0] if L[h].std() > 1e-3 else np.nan
                  for j in range(x.shape[1])]
            st.append(list(x.std(0)) + sl + [L[h].std()])
        f = dv["fault"]
        if f:
            kk = int(np.argmax(t + dur > f["onset"]))
            z = (F[kk:kk + 3] - F[tr].mean(0)) / (F[tr].std(0) + 1e-9)
            zs.setdefault(f["kind"], []).append(z.max(0).max(0))
    S = np.array(st)
    nc = len(FLR_NAMES)
    mv = S[:, 2 * nc] > 0.05
    print("load check of %s: %d device-channels (load moved on %d); median over them:" % (
        blk, len(S), mv.sum()))
    for j, nm in enumerate(FLR_NAMES):
        print("  %-12s healthy sd %.3f (where the load moved %.3f); slope vs ln load %.2f "
              "(10-90%%: %.2f .. %.2f)" % (nm, np.median(S[:, j]), np.median(S[mv, j]),
                                          np.nanmedian(S[:, nc + j]),
                                          np.nanquantile(S[:, nc + j], 0.1),
                                          np.nanquantile(S[:, nc + j], 0.9)))
    print("  largest z in the 3 windows from the onset, median [smallest] per kind:")
    for kind, v in sorted(zs.items()):
        Z = np.array(v)
        print("  %-10s %s" % (kind, "  ".join("%s %.1f [%.1f]" % (nm, np.median(Z[:, j]),
                                                                   Z[:, j].min())
                                               for j, nm in enumerate(FLR_NAMES))))


def state_gate(dv, t, dur, settle):
    """Windows (start times t, length dur) that overlap a change of line2's operating
    state, a ramp to another set point or a load step (consecutive knots whose speed or
    load differ), or end within settle seconds after one: the flag a PLC would raise. Reads
    the manifest's knots: --state-gate's oracle only."""
    k = np.array(dv["physics"]["speed_knots"])
    gate = np.zeros(len(t), bool)
    for a, b in zip(k[:-1], k[1:]):
        if abs(a[1] - b[1]) > 1e-9 or abs(a[2] - b[2]) > 1e-9:
            gate |= (t < b[0] + settle) & (t + dur > a[0])
    return gate


def state_threshold(v, devs, settle):
    """--state-threshold: recall at equal false alarms with one pooled threshold against
    two, steady and transient windows (state_gate()) each at the rate of its own check
    windows. Prints one line."""
    chs, cht, hits = [], [], []
    for x in devs:
        tg = state_gate(x["dv"], x["t"], x["dur"], settle)
        m = np.where(x["dropw"], -np.inf, x["sn"].max(1))
        c = x["chk"] & ~x["dropw"]
        chs.append(m[c & ~tg])
        cht.append(m[c & tg])
        if x["kind"]:
            hits.append((m[x["k"]:x["k"] + 3], tg[x["k"]:x["k"] + 3]))
    chs, cht = np.concatenate(chs), np.concatenate(cht)
    alls = np.concatenate([chs, cht])
    out = []
    for r in (0.0005, 0.001, 0.002):
        g1, gs, gt = (np.quantile(a, 1 - r) for a in (alls, chs, cht))
        one = np.mean([(m > g1).any() for m, tg in hits])
        two = np.mean([np.where(tg, m > gt, m > gs).any() for m, tg in hits])
        fa2 = ((chs > gs).sum() + (cht > gt).sum()) / len(alls)
        out.append("%.2f%%: one %.3f, two %.3f (%.3f%%)" % (100 * r, one, two, 100 * fa2))
    print("%-12s state-threshold %g s (transient %d of %d check windows): %s" % (
        v, settle, len(cht), len(alls), "; ".join(out)))


def rev_window(dv, revs, lo=2048, hi=16384):
    """Step 6e's per-device window: the smallest power of two from lo to hi samples that
    holds at least revs shaft revolutions at the machine's lowest set point (the speed range
    an operator declares for a machine; read from line2's manifest here, no detector reads
    the speed itself)."""
    slow = min(dv["physics"]["setpoints_hz"])
    W = lo
    while W < hi and W / dv["sample_rate"] * slow < revs:
        W *= 2
    return W


def crossfit(v, devs, target):
    """linegate-train's pooled threshold (docs/models.md, "How the expectation is measured"):
    g fitted on the calibration windows judges the check windows, g fitted on the check
    windows judges the calibration ones (each with its own normalisation), the model's g is
    fitted on both; recall within 3 windows at the model's g. Prints one line."""
    held = [x["chk"] & ~x["dropw"] for x in devs]
    g_cal = np.quantile(np.concatenate([x["sn"][x["cal"]].max(1) for x in devs]), 1 - target)
    g_chk = np.quantile(np.concatenate([x["snk"][h].max(1) for x, h in zip(devs, held)]),
                        1 - target)
    g_all = np.quantile(np.concatenate([x["sna"][x["cal"] | h].max(1)
                                        for x, h in zip(devs, held)]), 1 - target)
    fa, det = [0, 0], {}
    for x, h in zip(devs, held):
        fa[0] += int((x["sn"][h].max(1) > g_cal).sum() + (x["snk"][x["cal"]].max(1) > g_chk).sum())
        fa[1] += int(h.sum() + x["cal"].sum())
        if x["kind"]:
            a = (x["sna"].max(1) > g_all) & ~x["dropw"]
            det.setdefault(x["kind"], []).append(bool(a[x["k"]:x["k"] + 3].any()))
    tot = sum(sum(y) for y in det.values()), sum(len(y) for y in det.values())
    lo, hi = wilson(fa[0], fa[1])
    print("%-12s crossfit 1/1 recall %.3f (%d/%d)  fa %.3f%% (%d/%d, 95%% %.3f-%.3f%%)  g %.4g "
          "(calibration %.4g, check %.4g)" % (v, tot[0] / max(1, tot[1]), tot[0], tot[1],
                                                100 * fa[0] / max(1, fa[1]), fa[0], fa[1],
                                                100 * lo, 100 * hi, g_all, g_cal, g_chk))


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
            "--fa": "0.001", "--no-dropout-mask": None, "--norm": "q90", "--misses": None,
            "--roc": None, "--load-check": "", "--state-gate": "", "--state-threshold": ""}
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
    wopt = opts["--window"]
    if wopt.startswith("rev"):
        try:
            revs = float(wopt[3:])
        except ValueError:
            revs = 0
        if revs <= 0:
            print("quality_proto.py: --window %s: want N or revR (R > 0)" % wopt, file=sys.stderr)
            return 2
        W = 0
    else:
        W, revs = int(wopt), 0
    target = float(opts["--fa"])
    mask = opts["--no-dropout-mask"] is None
    settle = float(opts["--state-gate"]) if opts["--state-gate"] else None
    gated = [0, 0]
    names = opts["--variant"].split(",") if opts["--variant"] else list(VARIANTS)
    for v in names:
        if v not in VARIANTS:
            print("quality_proto.py: unknown variant '%s' (known: %s)" % (v, ", ".join(VARIANTS)),
                  file=sys.stderr)
            return 2
    need = {b.split(":")[0] for v in names for b in VARIANTS[v]["blocks"]}
    if opts["--load-check"]:
        if opts["--load-check"] not in ("flr", "flp"):
            print("quality_proto.py: --load-check wants flr or flp", file=sys.stderr)
            return 2
        need.add(opts["--load-check"])
    need = sorted((need - {"tsa3", "tsa1"}) | ({"tsae"} if need & {"tsa3", "tsa1"} else set()))
    lc = []
    if opts["--cache"]:
        os.makedirs(opts["--cache"], exist_ok=True)
    man = json.load(open(os.path.join(d, "manifest.json")))
    devs = man["devices"][:int(opts["--devices"]) or None]
    res = {v: {"dev": []} for v in names}
    masked = [0, 0]
    t0 = time.time()
    for dv in devs:
        fs = dv["sample_rate"]
        Wd = W or rev_window(dv, revs)
        feat, drop, t = load_device(d, dv, Wd, opts["--cache"], need)
        dur = Wd / fs
        f = dv["fault"]
        onset = f["onset"] if f else np.inf
        healthy = t + dur <= onset
        nh = int(healthy.sum())
        role = np.full(len(t), -1)
        role[np.nonzero(healthy)[0]] = split(nh)
        tr = (role == 0) | (role == 2)
        dropw = drop.any(1) if mask else np.zeros(len(t), bool)
        if settle is not None:
            g = state_gate(dv, t, dur, settle)
            gated[0] += int(g.sum())
            gated[1] += len(t)
            dropw = dropw | g
        tr &= ~dropw
        cal = (role == 1) & ~dropw
        chk = role == 3
        ch = drop.shape[1]
        masked[0] += int(dropw[chk].sum())
        masked[1] += int(dropw.sum())
        raw = {}                       # variant: its raw scores (n, ch) on this device

        def normalised(v, on=None):
            """(raw, normalised) scores (n, ch) of variant v on this device; a max_of
            variant is the max of its parts' normalised scores (then its own raw score).
            on: the windows the normalisation is fitted on (default the calibration ones)."""
            on = cal if on is None else on
            if "max_of" in VARIANTS[v]:
                sn = np.max([normalised(u, on)[1] for u in VARIANTS[v]["max_of"]], 0)
                return sn, sn
            if v not in raw:
                raw[v] = score_variant(VARIANTS[v], feat, tr, dropw)
            s = raw[v]
            # per channel: scores relative to the calibration median and 90% quantile
            q50 = np.median(s[on], 0)
            q90 = np.quantile(s[on], 0.9, 0)
            if opts["--norm"] == "tail":
                beta = np.array([np.mean(np.maximum(s[on, c] - q90[c], 0)[s[on, c] > q90[c]])
                                 for c in range(ch)])
                sn = (s - q90) / (beta + 1e-9)
            else:
                sn = (s - q50) / (q90 - q50 + 1e-9)
            if VARIANTS[v].get("comb", 1) > 1:
                # the causal mean of the last m normalised scores (dropouts left out): the
                # evidence of up to 3 windows, still decided by the 3rd after the onset
                sn = np.stack([smooth(sn[:, c, None, None], VARIANTS[v]["comb"], dropw)[:, 0, 0]
                               for c in range(ch)], 1)
            return s, sn

        if opts["--load-check"]:
            lc.append((dv, feat[opts["--load-check"]], t, dur, healthy & ~dropw, tr))
        for v in names:
            s, sn = normalised(v)
            thr = np.array([tail_threshold(s[cal, c], target / ch) for c in range(ch)])
            # the window holding the onset: the first that ends after it (linegate-quality's)
            k = int(np.argmax(t + dur > onset)) if f else 0
            # cross-fitting (linegate-train's pooled threshold): normalised on the check
            # windows (to judge the calibration ones) and on both (the model's own)
            chkn = chk & ~dropw
            snk = normalised(v, chkn)[1]
            sna = normalised(v, cal | chkn)[1]
            res[v]["dev"].append(dict(s=s, sn=sn, snk=snk, sna=sna, thr=thr, cal=cal, chk=chk,
                                      dropw=dropw,
                                      ch=ch, k=k, kind=f["kind"] if f else None, dv=dv, t=t,
                                      dur=dur, spd=feat.get("spd")))
    wins = {}
    for x in res[names[0]]["dev"]:
        wins[int(round(x["dur"] * x["dv"]["sample_rate"]))] = wins.get(
            int(round(x["dur"] * x["dv"]["sample_rate"])), 0) + 1
    print("%d devices, window %s, %.0f s; dropout windows not scored: %d of all, %d of the "
          "check windows" % (len(devs), W if W else "%s (devices per window: %s)" % (
              wopt, ", ".join("%d %d" % kv for kv in sorted(wins.items()))),
              time.time() - t0, masked[1], masked[0]))
    if settle is not None:
        print("--state-gate %g: %d of %d windows overlap a ramp or load step (or the %g s "
              "after one) and are not scored" % (settle, gated[0], gated[1], settle))
    if lc:
        load_check(opts["--load-check"], lc)
    for v in names:
        # pooled: one quantile of the normalised calibration scores of every device
        pc = np.concatenate([(x["sn"][x["cal"]]).max(1) for x in res[v]["dev"]])
        gthr = np.quantile(pc, 1 - target)
        if opts["--roc"]:
            roc(v, res[v]["dev"])
        if opts["--state-threshold"]:
            state_threshold(v, res[v]["dev"], float(opts["--state-threshold"]))
        crossfit(v, res[v]["dev"], target)
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
                if mode == "pooled" and conf == (1, 1) and opts["--misses"]:
                    miss_table(v, res[v]["dev"], gthr)
                print("%-12s %-6s %d/%d recall %.3f (%d/%d)  fa %.3f%% (%d/%d, 95%% %.3f-%.3f%%)"
                      "  %s" % (v, mode, conf[0], conf[1], tot[0] / max(1, tot[1]), tot[0],
                                tot[1], 100 * fa[0] / max(1, fa[1]), fa[0], fa[1], 100 * lo,
                                100 * hi, kinds))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
