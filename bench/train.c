// SPDX-License-Identifier: MIT
/*
 * linegate-train: fit a built-in detector (Mahalanobis or PCA) on healthy windows of
 * simulated machines (the generator the load generator uses), export and merge the
 * sufficient statistics across servers, optionally with differential-privacy noise.
 */
#include <linegate/detector.h>
#include <linegate/features.h>
#include <linegate/signal.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quality.h"

void openblas_set_num_threads(int n);

#define MAX_MERGE 64

static const char usage[] =
	"Usage: linegate-train [--out MODEL.json] [--stats-out STATS.json] [options]\n"
	"\n"
	"Fits one of linegate's built-in detectors on healthy vibration windows and writes\n"
	"the model file the policy's detection.model names. The windows come from simulated\n"
	"machines, spread over their operating day. The threshold is the QUANTILE of the\n"
	"training scores times MARGIN, always from this server's own windows.\n"
	"\n"
	"Federated training: each server exports its sufficient statistics (--stats-out,\n"
	"optionally clipped and noised for differential privacy); one merges them (--merge,\n"
	"repeatable, --no-local to leave its own windows out) and the merged statistics fit\n"
	"the model every server then calibrates locally. docs/models.md has the recipe.\n"
	"\n"
	"Options:\n"
	"  -o, --out FILE          model file to write\n"
	"      --stats-out FILE    write the (merged, noised) statistics here\n"
	"      --merge FILE        add another server's statistics (repeatable)\n"
	"      --no-local          fit from the merged statistics only (still calibrates)\n"
	"      --detector KIND     mahalanobis (default) or pca\n"
	"      --components K      PCA components (default: 95% of the variance)\n"
	"  -m, --machines N        simulated healthy machines (default 64)\n"
	"  -n, --windows N         windows per machine (default 400)\n"
	"  -w, --window N          samples per window: the policy's detection.window\n"
	"                          (default 256)\n"
	"      --sample-rate HZ    samples per second (default 10000)\n"
	"  -q, --quantile Q        score quantile for the threshold (default 0.999)\n"
	"      --margin M          threshold = quantile x M (default 1.5)\n"
	"  -s, --seed N            seed (default 1000; use one the load generator does not)\n"
	"      --shift-from MODEL  statistics of rows minus MODEL's mean (every server of a\n"
	"                          federation must use the same reference)\n"
	"      --clip C            clip each (shifted) row to L2 norm C (needed for --dp-epsilon)\n"
	"      --dp-epsilon E      add Gaussian noise for (E, delta)-DP to the exported stats\n"
	"      --dp-delta D        delta (default 1e-6)\n"
	"      --dp-seed N         seed of the noise (default: from the kernel; tests only)\n"
	"  -h, --help              this text\n";

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "stats-out", required_argument, NULL, 10 },
		{ "merge", required_argument, NULL, 11 },
		{ "no-local", no_argument, NULL, 12 },
		{ "detector", required_argument, NULL, 13 },
		{ "components", required_argument, NULL, 14 },
		{ "machines", required_argument, NULL, 'm' },
		{ "windows", required_argument, NULL, 'n' },
		{ "window", required_argument, NULL, 'w' },
		{ "sample-rate", required_argument, NULL, 1 },
		{ "quantile", required_argument, NULL, 'q' },
		{ "margin", required_argument, NULL, 2 },
		{ "seed", required_argument, NULL, 's' },
		{ "shift-from", required_argument, NULL, 15 },
		{ "clip", required_argument, NULL, 16 },
		{ "dp-epsilon", required_argument, NULL, 17 },
		{ "dp-delta", required_argument, NULL, 18 },
		{ "dp-seed", required_argument, NULL, 19 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *out = NULL, *stats_out = NULL, *merge[MAX_MERGE], *shift_from = NULL;
	unsigned nmerge = 0;
	int no_local = 0, opt, ret = 1;
	double clip = 0, eps = 0, delta = 1e-6, shift[LG_FEAT_N] = { 0 };
	unsigned long long dp_seed = 0;
	struct lg_quality_conf c;
	struct lg_detector det = { 0 };
	struct lg_stats st = { 0 };
	float *rows = NULL;
	char err[512];
	size_t n;

	lg_quality_defaults(&c);
	c.margin = 1.5;
	while ((opt = getopt_long(argc, argv, "o:m:n:w:q:s:h", lopts, NULL)) != -1) {
		switch (opt) {
		case 'o': out = optarg; break;
		case 10: stats_out = optarg; break;
		case 11:
			if (nmerge == MAX_MERGE) {
				fprintf(stderr, "linegate-train: at most %d --merge\n", MAX_MERGE);
				return 2;
			}
			merge[nmerge++] = optarg;
			break;
		case 12: no_local = 1; break;
		case 13:
			if (lg_detector_kind_parse(optarg, &c.kind)) {
				fputs(usage, stderr);
				return 2;
			}
			break;
		case 14: c.components = (size_t)atoi(optarg); break;
		case 'm': c.train_machines = (unsigned)atoi(optarg); break;
		case 'n': c.train_windows = (unsigned)atoi(optarg); break;
		case 'w': c.window = (unsigned)atoi(optarg); break;
		case 1: c.fs = atof(optarg); break;
		case 'q': c.quantile = atof(optarg); break;
		case 2: c.margin = atof(optarg); break;
		case 's': c.train_seed = strtoull(optarg, NULL, 0); break;
		case 15: shift_from = optarg; break;
		case 16: clip = atof(optarg); break;
		case 17: eps = atof(optarg); break;
		case 18: delta = atof(optarg); break;
		case 19: dp_seed = strtoull(optarg, NULL, 0); break;
		case 'h': fputs(usage, stdout); return 0;
		default: return 2; /* getopt_long() said why */
		}
	}
	if ((!out && !stats_out) || !c.train_machines || !c.train_windows || c.window < 8 ||
	    c.quantile <= 0 || c.quantile > 1 || c.margin <= 0 || clip < 0 ||
	    (no_local && !nmerge) || (eps && !(clip > 0)) || c.fs <= 0) {
		fputs(usage, stderr);
		return 2;
	}
	openblas_set_num_threads(1);
	if (shift_from) {
		struct lg_detector ref;

		if (lg_detector_load(shift_from, 1, &ref, err, sizeof(err)) || ref.d != LG_FEAT_N) {
			fprintf(stderr, "linegate-train: --shift-from: %s\n",
				ref.d != LG_FEAT_N ? "not a model of this feature row" : err);
			return 1;
		}
		for (int j = 0; j < LG_FEAT_N; j++)
			shift[j] = ref.mean[j];
		lg_detector_free(&ref);
	}
	rows = lg_quality_training_rows(&c, NULL, &n);
	if (!rows || lg_stats_init(&st, LG_FEAT_N, shift, clip, NULL)) {
		fprintf(stderr, "linegate-train: out of memory\n");
		goto out;
	}
	if (!no_local) {
		lg_stats_add(&st, rows, n);
		/* Noise goes on what leaves this server: its own rows, before any merge. */
		if (eps && lg_stats_add_noise(&st, eps, delta, dp_seed)) {
			fprintf(stderr, "linegate-train: --dp-epsilon must lie in (0, 1) and "
					"--dp-delta in (0, 1)\n");
			goto out;
		}
	}
	for (unsigned i = 0; i < nmerge; i++) {
		struct lg_stats other;

		if (lg_stats_load(merge[i], &other, err, sizeof(err))) {
			fprintf(stderr, "linegate-train: %s\n", err);
			goto out;
		}
		if (lg_stats_merge(&st, &other)) {
			fprintf(stderr, "linegate-train: %s: features, band layout, shift or clip "
					"differ from this server's\n", merge[i]);
			lg_stats_free(&other);
			goto out;
		}
		lg_stats_free(&other);
	}
	if (stats_out && lg_stats_save(&st, stats_out)) {
		fprintf(stderr, "linegate-train: cannot write %s\n", stats_out);
		goto out;
	}
	if (out) {
		if (lg_detector_from_stats(&st, c.kind, c.components, 256, &det) ||
		    lg_detector_calibrate(&det, rows, n, c.quantile, c.margin)) {
			fprintf(stderr, "linegate-train: the fit failed (degenerate "
					"statistics?)\n");
			goto out;
		}
		det.window = c.window;
		if (lg_detector_save(&det, out)) {
			fprintf(stderr, "linegate-train: cannot write %s\n", out);
			goto out;
		}
		fprintf(stderr, "linegate-train: %s from %.0f windows, threshold %.3f -> %s\n",
			lg_detector_kind_name(det.kind), st.n, det.threshold, out);
	}
	if (stats_out)
		fprintf(stderr, "linegate-train: statistics of %.0f windows%s -> %s\n", st.n,
			st.dp_sigma > 0 ? " (noised)" : "", stats_out);
	ret = 0;
out:
	lg_detector_free(&det);
	lg_stats_free(&st);
	free(rows);
	return ret;
}
