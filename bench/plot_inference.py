#!/usr/bin/python3
"""Plots of one bench/model_compare.py run, for docs/benchmarks-inference.md.

usage: /usr/bin/python3 bench/plot_inference.py RUN.json [OUT_DIR]

Reads the JSON that model_compare.py wrote (its "summary.points": medians of ns per frame
per runner) and writes two SVG files into OUT_DIR (default docs/img):

  inference-frames.svg   frames/s against batch, one panel per model: linegate (OpenBLAS
                         variables set and unset), onnxruntime (sync path), numpy (unset)
                         and OpenBLAS alone at the model's layer shapes (unset)
  inference-speedup.svg  linegate's speed-up over onnxruntime against batch, unset and set,
                         with the issue's goals as steps

Needs matplotlib (Debian: apt-get install python3-matplotlib); it is not needed to build
or test linegate, only to redraw these figures.
"""
import json
import os
import sys

try:
    import matplotlib

    matplotlib.use("svg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("plot_inference.py: needs matplotlib: apt-get install python3-matplotlib")

GOALS = {1: 2.0, 16: 2.0, 64: 1.2, 256: 1.0}


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) >= 2 else 2
    run = json.load(open(argv[1]))
    out_dir = argv[2] if len(argv) > 2 else "docs/img"
    os.makedirs(out_dir, exist_ok=True)
    points = run["summary"]["points"]
    models = []
    for p in points:
        if p["model"] not in models:
            models.append(p["model"])

    def series(model, key):
        xs, ys = [], []
        for p in points:
            if p["model"] == model and key in p:
                xs.append(p["batch"])
                ys.append(1e9 / p[key]["median"])
        return xs, ys

    lines = [
        ("linegate_unset", "linegate, unset (Cooperlake)", "-", "o"),
        ("linegate_set", "linegate, set (Haswell)", "-", "s"),
        ("ort_sync", "onnxruntime (node, sync)", "-", "^"),
        ("numpy_unset", "numpy, unset", ":", "x"),
        ("openblas_chain_unset", "OpenBLAS alone, unset", "--", None),
    ]
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.6))
    for ax, model in zip(axes, models):
        for key, label, style, marker in lines:
            xs, ys = series(model, key)
            if xs:
                ax.plot(xs, ys, style, marker=marker, label=label)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks([1, 16, 64, 256], ["1", "16", "64", "256"])
        ax.set_title(model)
        ax.set_xlabel("batch")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("frames/s, one thread (median)")
    axes[-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "inference-frames.svg"))

    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.3), sharey=True)
    for ax, model in zip(axes, models):
        ort = {p["batch"]: p["ort_sync"]["median"] for p in points if p["model"] == model}
        for key, label, marker in (("linegate_unset", "unset", "o"), ("linegate_set", "set", "s")):
            xs = sorted(ort)
            ys = [ort[b] / next(p[key]["median"] for p in points
                                if p["model"] == model and p["batch"] == b) for b in xs]
            ax.plot(xs, ys, "-", marker=marker, label=f"x onnxruntime, {label}")
        gx = sorted(GOALS)
        ax.step(gx, [GOALS[b] for b in gx], "k--", where="mid", label="goal", alpha=0.6)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks([1, 16, 64, 256], ["1", "16", "64", "256"])
        ax.set_title(model)
        ax.set_xlabel("batch")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("speed-up over onnxruntime (median)")
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "inference-speedup.svg"))
    print(f"plot_inference.py: wrote {out_dir}/inference-frames.svg and inference-speedup.svg")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
