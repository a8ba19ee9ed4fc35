#!/usr/bin/python3
"""Usage: knn_channel_causes.py LINE_DIR CACHE_DIR

Where linegate's kNN (before per_channel) lost recall to bench/quality_proto.py's
bt16_knn1_c128 (issue 8, docs/benchmarks.md "Where the 4-5 points went"): on a line2 line
made with --formats npy, the prototype's features, split, 128 kept rows per channel and
pooled threshold, with two switches, each printed:
  shared_std_rows 0: each channel standardised and covered on its own rows (the prototype,
                     linegate's per_channel); 1: one standardisation and one set of kept
                     rows (128 per channel) for all of a device's channels (linegate before)
  norm chan: the pooled threshold normalises each channel's calibration scores (the
             prototype, linegate now); dev: the window's highest channel score per device
             (linegate before)
and the false alarms over the check windows with dropout windows counted as windows
without an alarm (the prototype) and left out (linegate). CACHE_DIR is quality_proto.py's
--cache (features per device, reused).
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quality_proto as qp  # noqa: E402

if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help"):
    print(__doc__.strip())
    sys.exit(0)
if len(sys.argv) > 1 and sys.argv[1].startswith("-"):
    print("knn_channel_causes.py: unknown option '%s' (see --help)" % sys.argv[1],
          file=sys.stderr)
    sys.exit(2)
if len(sys.argv) != 3:
    print("knn_channel_causes.py: want LINE_DIR CACHE_DIR (see --help)", file=sys.stderr)
    sys.exit(2)
d, cache = sys.argv[1], sys.argv[2]
W = 2048; target = 1e-3
man = json.load(open(os.path.join(d, "manifest.json")))
os.makedirs(cache, exist_ok=True)
wcol = np.concatenate([np.ones(72), np.full(5, 16.0)])
def knn_scores(F, tr, shared, cap=128):
    n, ch, dd = F.shape
    out = np.zeros((n, ch))
    if shared:
        Ft = F[tr].reshape(-1, dd)
        mu, sd = Ft.mean(0), Ft.std(0) + 1e-3
        Ts = []
        for c in range(ch):
            T = (F[tr, c] - mu) / sd * np.sqrt(wcol)
            if len(T) > cap: T = T[qp.kcentre(T, cap)]
            Ts.append(T)
        T = np.concatenate(Ts)
        for c in range(ch):
            Z = (F[:, c] - mu) / sd * np.sqrt(wcol)
            d2 = (Z**2).sum(1)[:, None] + (T**2).sum(1)[None, :] - 2 * Z @ T.T
            out[:, c] = np.sqrt(np.maximum(d2, 0).min(1) / dd)
        return out
    for c in range(ch):
        Ft = F[tr, c]
        mu, sd = Ft.mean(0), Ft.std(0) + 1e-3
        T = (Ft - mu) / sd * np.sqrt(wcol)
        if len(T) > cap: T = T[qp.kcentre(T, cap)]
        Z = (F[:, c] - mu) / sd * np.sqrt(wcol)
        d2 = (Z**2).sum(1)[:, None] + (T**2).sum(1)[None, :] - 2 * Z @ T.T
        out[:, c] = np.sqrt(np.maximum(d2, 0).min(1) / dd)
    return out
res = {}
for dv in man["devices"]:
    feat, drop, t = qp.load_device(d, dv, W, cache, ("bands", "time"))
    fs = dv["sample_rate"]; dur = W / fs; f = dv["fault"]
    onset = f["onset"] if f else np.inf
    healthy = t + dur <= onset
    role = np.full(len(t), -1); role[np.nonzero(healthy)[0]] = qp.split(int(healthy.sum()))
    dropw = drop.any(1)
    tr = ((role == 0) | (role == 2)) & ~dropw
    cal = (role == 1) & ~dropw
    chk = role == 3
    F = np.concatenate([feat["bands"], feat["time"]], 2)
    k = int(np.argmax(t + dur > onset)) if f else 0
    for shared in (0, 1):
        s = knn_scores(F, tr, shared)
        for norm in ("chan", "dev"):
            if norm == "chan":
                q50 = np.median(s[cal], 0); q90 = np.quantile(s[cal], 0.9, 0)
                sn = ((s - q50) / (q90 - q50 + 1e-9)).max(1)
            else:
                m = s.max(1)
                q50 = np.median(m[cal]); q90 = np.quantile(m[cal], 0.9)
                sn = (m - q50) / (q90 - q50 + 1e-9)
            res.setdefault((shared, norm), []).append(dict(sn=sn, cal=cal, chk=chk, dropw=dropw, k=k, kind=f["kind"] if f else None))
for key, devs in res.items():
    pc = np.concatenate([x["sn"][x["cal"]] for x in devs])
    g = np.quantile(pc, 1 - target)
    det = []; fa = [0, 0, 0]
    for x in devs:
        a = (x["sn"] > g) & ~x["dropw"]
        fa[0] += int(a[x["chk"]].sum()); fa[1] += int(x["chk"].sum()); fa[2] += int((x["chk"] & ~x["dropw"]).sum())
        if x["kind"]: det.append(bool(a[x["k"]:x["k"] + 3].any()))
    print("shared_std_rows=%d norm=%s recall %.3f (%d/%d) fa %d/%d=%.3f%% (dropouts out: /%d=%.3f%%)" % (key[0], key[1], np.mean(det), sum(det), len(det), fa[0], fa[1], 100*fa[0]/fa[1], fa[2], 100*fa[0]/fa[2]), flush=True)
