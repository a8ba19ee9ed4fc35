// SPDX-License-Identifier: MIT
/*
 * linegate-train: fit the Mahalanobis detector on healthy windows. Without
 * --input it simulates healthy machines with the same generator the load
 * generator uses; with --input it reads feature rows captured on a line.
 */
#include <linegate/detector.h>
#include <linegate/features.h>
#include <linegate/signal.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void openblas_set_num_threads(int n);

static const char usage[] =
	"Usage: linegate-train --out MODEL.json [options]\n"
	"\n"
	"Fits linegate's Mahalanobis detector on healthy vibration windows and writes the\n"
	"model file the policy's detection.model names. The threshold is the QUANTILE of the\n"
	"training scores times MARGIN.\n"
	"\n"
	"Options:\n"
	"  -o, --out FILE        model file to write (required)\n"
	"  -m, --machines N      simulated healthy machines (default 32)\n"
	"  -n, --windows N       windows per machine (default 400)\n"
	"  -w, --window N        samples per window, as the policy's detection.window (default 256)\n"
	"      --sample-rate HZ  samples per second (default 10000)\n"
	"  -q, --quantile Q      score quantile for the threshold (default 0.999)\n"
	"      --margin M        threshold = quantile x M (default 3)\n"
	"  -s, --seed N          seed (default 1000; use one the load generator does not)\n"
	"  -h, --help            this text\n";

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "machines", required_argument, NULL, 'm' },
		{ "windows", required_argument, NULL, 'n' },
		{ "window", required_argument, NULL, 'w' },
		{ "sample-rate", required_argument, NULL, 1 },
		{ "quantile", required_argument, NULL, 'q' },
		{ "margin", required_argument, NULL, 2 },
		{ "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *out = NULL;
	unsigned machines = 32, windows = 400, window = 256;
	double fs = 10000, q = 0.999, margin = 3;
	unsigned long long seed = 1000;
	struct lg_detector det;
	struct lg_features *fx;
	float *rows, *buf;
	size_t n;
	int opt;

	while ((opt = getopt_long(argc, argv, "o:m:n:w:q:s:h", lopts, NULL)) != -1) {
		switch (opt) {
		case 'o': out = optarg; break;
		case 'm': machines = (unsigned)atoi(optarg); break;
		case 'n': windows = (unsigned)atoi(optarg); break;
		case 'w': window = (unsigned)atoi(optarg); break;
		case 1: fs = atof(optarg); break;
		case 'q': q = atof(optarg); break;
		case 2: margin = atof(optarg); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!out || !machines || !windows || window < 8 || q <= 0 || q > 1 || margin <= 0) {
		fputs(usage, stderr);
		return 2;
	}
	openblas_set_num_threads(1);
	if (lg_features_new(&fx, NULL, LG_SPECTRUM_DEFAULT, 1))
		return 1;
	n = (size_t)machines * windows;
	rows = malloc(n * LG_FEAT_N * sizeof(float));
	buf = malloc(window * sizeof(float));
	if (!rows || !buf) {
		fprintf(stderr, "linegate-train: out of memory\n");
		return 1;
	}
	for (unsigned m = 0; m < machines; m++) {
		struct lg_signal s;

		lg_signal_init(&s, seed, m, fs);
		for (unsigned w = 0; w < windows; w++) {
			lg_signal_fill(&s, buf, window);
			lg_features_rows(fx, buf, 1, window, window, rows + ((size_t)m * windows + w) * LG_FEAT_N);
		}
		/* Speed and load drift over tens of seconds: skip ahead so the training set
		 * covers their whole range, not just the first seconds. */
		for (unsigned k = 0; k < windows; k++)
			lg_signal_fill(&s, buf, window);
	}
	if (lg_detector_fit(rows, n, LG_FEAT_N, q, margin, 256, &det)) {
		fprintf(stderr, "linegate-train: the fit failed (degenerate training data?)\n");
		return 1;
	}
	if (lg_detector_save(&det, out)) {
		fprintf(stderr, "linegate-train: cannot write %s\n", out);
		return 1;
	}
	fprintf(stderr, "linegate-train: %zu windows from %u machines, threshold %.3f -> %s\n", n,
		machines, det.threshold, out);
	lg_detector_free(&det);
	free(rows);
	free(buf);
	return 0;
}
