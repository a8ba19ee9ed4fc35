#!/usr/bin/python3
"""Usage: fault_oracle.py DIR [--window N|revR] [--devices K] [--fa RATE] [--out FILE.json]
       fault_oracle.py --self-test

Upper bounds for issue 8 (every fault within 3 windows at <= 0.1% false alarms per
window) on a line2 line (tests/line2/line2.py make --formats npy): how far would a detector
get that KNOWS each fault? For every faulty device line2 is asked for the same machine
without its fault (line2.synth(seed, device, seconds, None): the same noise streams, so
recording - counterfactual is the fault's own signal d, exactly 0 before the onset). Two
oracles, each one statistic per window and device, both fitted on information no real
detector has:

  coherent     knows d's waveform in each of the 3 windows from the onset (phase, impact
               times): a matched filter whitened by the machine's mean healthy spectrum,
               T_w(y) = sum_ch sum_f Re(Y G_w*) / S; the most a detector can get from a
               window if the healthy signal were Gaussian noise of spectrum S
  spectral     knows d's power spectrum (the mean Hann periodogram over the 3 windows), not
               its phase: the Gaussian likelihood-ratio energy detector,
               T(y) = sum_ch sum_f P_y Pd / (S (S + Pd)); what a detector tuned to this
               fault's own orders, bands and sidebands on this machine could reach

Thresholds as bench/quality_proto.py's pooled one: each statistic's scores normalised by
the median and 90% quantile of the device's healthy windows (every healthy window before
the onset, dropouts left out: the null), and one (1 - RATE) quantile of all devices'
normalised null scores; the false alarms are therefore in-sample (RATE by construction),
generous to the oracle. A fault is detected when the onset's window or one of the next
two is above the threshold (coherent: window w against its own template G_w); "either":
each oracle at half the rate, detected when one of them is. Also per
fault: d' (the fault window's score minus the null mean, over the null sd; for the
coherent oracle the highest of the 3) and the fault's energy over the healthy signal's in
the 3 windows (dB). --window revR: per device the
window of quality_proto.py --window revR (at least R revolutions at the lowest set point).
The figures are in docs/benchmarks.md (issue 8, "Oracle").
"""
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "line2"))
import line2            # noqa: E402
import quality_proto as qp  # noqa: E402


def fast_synth(seed, dev, seconds, fault):
    """line2.synth with its convolution by overlap-add (scipy): the same samples to ~1e-14,
    ten times faster; used for both the faulty and the healthy counterfactual, so their
    difference is the fault's own signal."""
    try:
        import scipy.signal as ss
    except ImportError:
        return line2.synth(seed, dev, seconds, fault)
    orig = line2.fftconv
    line2.fftconv = lambda x, h: ss.oaconvolve(x, h)[:len(x)]
    try:
        return line2.synth(seed, dev, seconds, fault)
    finally:
        line2.fftconv = orig


class _Quiet:
    """A stand-in for line2's "noise" stream that draws zeros: the machine without its
    broadband excitation and sensor noise (everything else is deterministic given the
    seed)."""

    def standard_normal(self, n):
        return np.zeros(n)


def fault_signal(man, i):
    """(d, xh, xdet), (n, ch) float64: the fault's own signal (recording - the same machine
    without the fault, same noise streams), the healthy counterfactual, and the healthy
    machine without its noise (so xh - xdet is the noise alone, outside dropouts)."""
    dv = man["devices"][i]
    f = dv["fault"]
    fault = line2.draw_fault(man["seed"], i, f["kind"], f["onset"], f["params"]["gain"])
    xf, _ = fast_synth(man["seed"], i, man["seconds"], fault)
    xh, _ = fast_synth(man["seed"], i, man["seconds"], None)
    orig = line2.rng
    line2.rng = lambda seed, dev, what: _Quiet() if what == "noise" else orig(seed, dev, what)
    try:
        xdet, _ = fast_synth(man["seed"], i, man["seconds"], None)
    finally:
        line2.rng = orig
    xf, xh, xdet = (v.astype(np.float64) for v in (xf, xh, xdet))
    return xf - xh, xh, xdet


def hann(W):
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(W) / W)


def norm_scores(null, x):
    """x normalised by null's median and 90% quantile (quality_proto's pooled threshold)."""
    q50, q90 = np.median(null), np.quantile(null, 0.9)
    return (x - q50) / (q90 - q50 + 1e-30)


def dprime(null, x):
    return (x - null.mean()) / (null.std() + 1e-30)


def oracle_device(x, d, xh, xdet, fs, W, onset):
    """Scores of both oracles for one faulty device. x (n, ch): the recording. The null of
    window w (the onset's and the next two) is the healthy machine in that same window
    (its noise-free signal xdet, the same speed, load and phases) plus each noise window
    of the healthy time before the onset (xh - xdet, dropouts left out): what the machine
    would have shown there without the fault, in as many noise draws as there are healthy
    windows."""
    n = len(x) // W
    ch = x.shape[1]
    rs = lambda v: v[:n * W].reshape(n, W, ch)      # noqa: E731
    win, dw, hw, det = rs(x), rs(d), rs(xh), rs(xdet)
    t = np.arange(n) * W / fs
    dur = W / fs
    healthy = t + dur <= onset
    k = int(np.argmax(t + dur > onset))
    drop = np.stack([qp.dropout_mask(win[:, :, c]) for c in range(ch)], 1).any(1)
    noise = (hw - det)[healthy & ~drop]                            # (m, W, ch)
    noise = noise - noise.mean(1, keepdims=True)
    m = len(noise)
    fit, nul = np.arange(m) % 2 == 1, np.arange(m) % 2 == 0        # halves: fit / null
    h = hann(W)[None, :, None]
    spec = lambda v: np.abs(np.fft.rfft(v * h, axis=1)) ** 2       # noqa: E731
    N = np.fft.rfft(noise, axis=1)                                 # (m, f, ch)
    Sn = (np.abs(N[fit]) ** 2).mean(0) + 1e-30
    out = dict(coh_null=[], coh_hit=[], coh_dp=[], spec_null=[], spec_hit=[], spec_dp=[])
    for w in range(3):
        dd, yy, xd = dw[k + w], win[k + w], det[k + w]
        dd, yy, xd = (v - v.mean(0) for v in (dd, yy, xd))
        # coherent genie: the recording minus the healthy noise-free signal, matched to the
        # fault's waveform, whitened by the noise spectrum
        G = np.fft.rfft(dd, axis=0)
        a = np.conj(G) / Sn
        T0 = np.real(N[nul] * a[None]).sum((1, 2))
        T1 = float(np.real(np.fft.rfft(yy - xd, axis=0) * a).sum())
        out["coh_null"].append(norm_scores(T0, T0))
        out["coh_hit"].append(float(norm_scores(T0, T1)))
        out["coh_dp"].append(float(dprime(T0, T1)))
        # spectral: knows the machine's state in the window (xdet) and the fault's power
        # spectrum, not the noise: a linear discriminant on the Hann power spectrum,
        # per-bin shift over per-bin variance, fitted on one half of the noise draws
        P0 = spec(xd[None] + noise)                                 # (m, f, ch)
        P1 = spec((xd + dd)[None] + noise[fit])
        mu0, v0 = P0[fit].mean(0), P0[fit].var(0) + 1e-30
        wgt = (P1.mean(0) - mu0) / v0
        T0 = (P0[nul] * wgt[None]).sum((1, 2))
        T1 = float((spec(yy[None])[0] * wgt).sum())
        out["spec_null"].append(norm_scores(T0, T0))
        out["spec_hit"].append(float(norm_scores(T0, T1)))
        out["spec_dp"].append(float(dprime(T0, T1)))
    dk = dw[k:k + 3] - dw[k:k + 3].mean(1, keepdims=True)
    hk = hw[k:k + 3] - hw[k:k + 3].mean(1, keepdims=True)
    e = 10 * np.log10(((dk ** 2).sum() + 1e-30) / (hk ** 2).sum())
    nk = (hw - det)[k:k + 3]
    nk = nk - nk.mean(1, keepdims=True)
    snr = 10 * np.log10(((dk ** 2).sum() + 1e-30) / (nk ** 2).sum())
    return dict(coh_null=np.concatenate(out["coh_null"]), coh_hit=out["coh_hit"],
                coh_dp=max(out["coh_dp"]), coh_dps=out["coh_dp"],
                spec_null=np.concatenate(out["spec_null"]),
                spec_hit=out["spec_hit"], spec_dp=max(out["spec_dp"]), energy_db=float(e),
                noise_db=float(snr), k=k, nnull=int(nul.sum()))


def self_test():
    """A sine of known amplitude in white noise: the coherent oracle's d' is the textbook
    A sqrt(W / 2) / sigma, the spectral oracle detects it; a zero fault is never detected."""
    fails = []
    rng = np.random.default_rng(7)
    fs, W, n = 10000.0, 1024, 200
    t = np.arange(n * W) / fs
    noise = rng.standard_normal((n * W, 1))
    onset = (n - 5) * W / fs
    zero = np.zeros_like(noise)
    for amp, want in ((0.0, False), (0.3, True)):
        dd = np.where(t >= onset, amp * np.sin(2 * np.pi * 123.4 * t), 0.0)[:, None]
        r = oracle_device(noise + dd, dd, noise, zero, fs, W, onset)
        if amp:
            th = amp * np.sqrt(W / 2)
            dp = float(np.mean(r["coh_dps"]))      # 3 windows: mean d', sd 1 / sqrt(3)
            if abs(dp / th - 1) > 0.25:
                fails.append("coherent d' %.2f, theory %.2f" % (dp, th))
        for o in ("coh", "spec"):
            hit = max(r[o + "_hit"]) > np.quantile(r[o + "_null"], 0.99)
            if hit != want:
                fails.append("%s oracle at amplitude %g: detected %s" % (o, amp, hit))
    for f in fails:
        print("FAIL: %s" % f)
    print("fault_oracle self-test: %s" % ("%d failed" % len(fails) if fails else "ok"))
    return 1 if fails else 0


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    if argv[0] == "--self-test":
        return self_test()
    if argv[0].startswith("-"):
        print("fault_oracle.py: unknown option '%s' (see --help)" % argv[0], file=sys.stderr)
        return 2
    opts = {"--window": "2048", "--devices": "0", "--fa": "0.001", "--out": ""}
    rest = argv[1:]
    while rest:
        if rest[0] not in opts or len(rest) < 2:
            print("fault_oracle.py: bad option '%s' (see --help)" % rest[0], file=sys.stderr)
            return 2
        opts[rest[0]] = rest[1]
        rest = rest[2:]
    wopt, rate = opts["--window"], float(opts["--fa"])
    try:
        revs = float(wopt[3:]) if wopt.startswith("rev") else 0.0
        W = 0 if revs else int(wopt)
    except ValueError:
        revs = W = 0
    if revs <= 0 and W <= 0:
        print("fault_oracle.py: --window %s: want N or revR (R > 0)" % wopt, file=sys.stderr)
        return 2
    man = json.load(open(os.path.join(argv[0], "manifest.json")))
    devs = [(i, dv) for i, dv in enumerate(man["devices"]) if dv["fault"]]
    if int(opts["--devices"]):
        devs = devs[:int(opts["--devices"])]
    res, t0 = [], time.time()
    for i, dv in devs:
        x = np.load(os.path.join(argv[0], dv["files"]["npy"])).astype(np.float64)
        d, xh, xdet = fault_signal(man, i)
        fs = dv["sample_rate"]
        Wd = W or qp.rev_window(dv, revs)
        r = oracle_device(x, d, xh, xdet, fs, Wd, dv["fault"]["onset"])
        kn = np.array(dv["physics"]["speed_knots"])
        sp = float(np.interp(dv["fault"]["onset"], kn[:, 0], kn[:, 1]))
        r.update(name=dv["name"], kind=dv["fault"]["kind"], s0=dv["fault"]["params"]["s0"],
                 growth_s=dv["fault"]["params"]["growth_s"], fs=fs, rev=sp * Wd / fs,
                 speed=sp, window=Wd, noise_g=dv["physics"]["noise_g"],
                 broadband_g=dv["physics"]["broadband_g"])
        res.append(r)
    print("%d faulty devices, window %s, %.0f s" % (len(res), wopt, time.time() - t0))
    out = []
    for o in ("coh", "spec"):
        null = np.concatenate([r[o + "_null"] for r in res])
        thr = np.quantile(null, 1 - rate)
        det = {}
        for r in res:
            r[o + "_det"] = bool(max(r[o + "_hit"]) > thr)
            r[o + "_over"] = float(max(r[o + "_hit"]) / thr)
            det.setdefault(r["kind"], []).append(r[o + "_det"])
        tot = sum(sum(v) for v in det.values())
        print("%-8s recall within 3 windows %.3f (%d/%d) at %.3f%% in-sample false alarms "
              "(%d null windows); %s" % (
                  {"coh": "coherent", "spec": "spectral"}[o], tot / len(res), tot, len(res),
                  100 * float((null > thr).mean()), len(null), " ".join(
                      "%s %d/%d" % (k[:6], sum(v), len(v)) for k, v in sorted(det.items()))))
    # either oracle, each at half the rate: the union stays within RATE
    thr = {o: np.quantile(np.concatenate([r[o + "_null"] for r in res]), 1 - rate / 2)
           for o in ("coh", "spec")}
    det = {}
    for r in res:
        r["either_det"] = bool(max(r["coh_hit"]) > thr["coh"] or max(r["spec_hit"]) > thr["spec"])
        det.setdefault(r["kind"], []).append(r["either_det"])
    tot = sum(sum(v) for v in det.values())
    print("either   recall within 3 windows %.3f (%d/%d), each oracle at %.3f%%; %s" % (
        tot / len(res), tot, len(res), 50 * rate, " ".join(
            "%s %d/%d" % (k[:6], sum(v), len(v)) for k, v in sorted(det.items()))))
    print("missed by either oracle: kind, s0, revolutions per window, fault energy dB "
          "(3 windows), d' coherent, d' spectral, score/threshold spectral")
    for r in sorted(res, key=lambda r: (r["kind"], r["name"])):
        if not (r["coh_det"] and r["spec_det"]):
            print("  %-10s %-12s s0 %.2f rev/w %5.2f %6.1f dB  coh %s d' %7.1f  spec %s d' "
                  "%6.1f (%.2f)" % (r["kind"], r["name"], r["s0"], r["rev"], r["energy_db"],
                                    "hit " if r["coh_det"] else "MISS", r["coh_dp"],
                                    "hit " if r["spec_det"] else "MISS", r["spec_dp"],
                                    r["spec_over"]))
    for r in res:
        out.append({k: v for k, v in r.items() if not k.endswith("_null")})
    if opts["--out"]:
        with open(opts["--out"], "w") as fh:
            json.dump(out, fh, indent=0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
