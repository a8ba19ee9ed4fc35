// SPDX-License-Identifier: MIT
/*
 * impact_bench: what the impact features (issue 8 step 6e.2, include/linegate/impact.h)
 * add to a device window's features: the orders96-time5 rows of its channels (the speed
 * ratio, then one row per channel) with and without lg_impact_window() after them, and with
 * the orders96-time5-imp10 tail (lg_impact_tail(): the nine and floor_lines, step 6e.3), on
 * the same simulated windows, the three variants' runs interleaved. Read the ratios.
 */
#include <linegate/cli.h>
#include <linegate/detector.h>
#include <linegate/features.h>
#include <linegate/impact.h>
#include <linegate/signal.h>

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_time.h"

static const char usage[] =
    "Usage: impact_bench [options] [SECONDS]\n"
    "\n"
    "Cost of the impact features per device window: the orders96-time5 rows of 1 and 3\n"
    "channels (speed ratio, then a row per channel) alone and followed by the impact\n"
    "features (lg_impact_window), or by the orders96-time5-imp10 tail (lg_impact_tail: the\n"
    "nine and floor_lines), on simulated windows of 4096, 8192 and 16384 samples at\n"
    "12.8 kHz (the windows --window rev6 gives at shaft speeds of 12-25 Hz), the three\n"
    "variants' runs interleaved. One thread.\n"
    "\n"
    "Arguments:\n"
    "  SECONDS       minimum time of each of the 7 runs per variant and point (default 0.2)\n"
    "\n"
    "Options:\n"
    "  -h, --help    this text\n"
    "\n"
    "Output: one JSON line per window and channel count, {\"bench\":\"impact\", window,\n"
    "channels, rows_us, rows_imp_us, rows_imp10_us (best of 7, us per device window),\n"
    "rows_med_us, rows_imp_med_us, rows_imp10_med_us (medians), imp_over_rows,\n"
    "imp10_over_rows (best over best)}.\n";

#define NWIN 8
#define RUNS 7

/* One device window's features: a speed ratio, a row per channel, the impact block (tail 0:
 * none, LG_IMP_N: the nine, LG_IMP_N10: the -imp10 tail). */
static double run(struct lg_features *fx, struct lg_impact *im, const struct lg_order_ref *ref,
		  const float *x, size_t n, unsigned nch, unsigned tail, double min_s)
{
	static float row[LG_FEAT_ROW_MAX], imp[3 * LG_IMP_N10];
	const double band[6] = {2500, 3600, 2500, 3600, 2500, 3600};
	const struct lg_imp_plate pl = {31, 3.6, 5.4};
	struct lg_imp_model mod = {.ref_hz = 25, .plate = pl, .nch = 3, .floor_ref_hz = 25};
	double t0 = now(), t;
	size_t done = 0;

	for (unsigned c = 0; c < 3; c++) {
		mod.band[c][0] = mod.floor_band[c][0] = band[2 * c];
		mod.band[c][1] = mod.floor_band[c][1] = band[2 * c + 1];
	}
	do {
		for (size_t w = 0; w < NWIN; w++) {
			const float *xw = x + w * n * nch;
			double r = 1;

			lg_features_speed_ratio(fx, xw, nch, n, n, ref, &r);
			for (unsigned c = 0; c < nch; c++)
				lg_features_rows_ratio(fx, xw + c * n, 1, n, n, &r, row);
			if (tail == LG_IMP_N)
				lg_impact_window(im, xw, nch, n, 12800, 25 * r, band, &pl, imp);
			else if (tail)
				lg_impact_tail(im, &mod, xw, nch, n, 12800, r, tail, NULL, imp);
		}
		done += NWIN;
		t = now() - t0;
	} while (t < min_s);
	return t / (double)done * 1e6;
}

int main(int argc, char **argv)
{
	static const size_t wins[] = {4096, 8192, 16384};
	static const unsigned chans[] = {1, 3};
	double min_s = 0.2;

	lg_cli_simple(argc, argv, usage, 0, 1);
	if (optind < argc)
		min_s = atof(argv[optind]);
	for (size_t wi = 0; wi < 3; wi++)
		for (size_t ci = 0; ci < 2; ci++) {
			size_t n = wins[wi], m = lg_order_grid_len(n);
			unsigned nch = chans[ci];
			float *x = malloc(sizeof(float) * n * nch * NWIN);
			double *lines = malloc(sizeof(double) * m), a[RUNS], b[RUNS], c[RUNS],
			       sa[RUNS], sb[RUNS], sc[RUNS];
			struct lg_features *fx = NULL;
			struct lg_impact *im = NULL;
			struct lg_order_ref ref;
			struct lg_signal s;

			if (!x || !lines ||
			    lg_features_new_layout(&fx, LG_LAYOUT_ORDERS96_TIME5, NULL,
						   LG_SPECTRUM_DEFAULT, 1) ||
			    lg_impact_new(&im, n, nch))
				return 1;
			lg_signal_init(&s, 5, 0, 12800);
			lg_signal_fill(&s, x, n * nch * NWIN);
			lg_order_grid(n, &ref);
			ref.lines = calloc(m, sizeof(float));
			if (!ref.lines || lg_features_order_lines(fx, x, nch, n, n, lines))
				return 1;
			for (size_t i = 0; i < m; i++)
				ref.lines[i] = (float)lines[i];
			for (int r = 0; r < RUNS; r++) {
				a[r] = run(fx, im, &ref, x, n, nch, 0, min_s);
				b[r] = run(fx, im, &ref, x, n, nch, LG_IMP_N, min_s);
				c[r] = run(fx, im, &ref, x, n, nch, LG_IMP_N10, min_s);
			}
			memcpy(sa, a, sizeof(a));
			memcpy(sb, b, sizeof(b));
			memcpy(sc, c, sizeof(c));
			qsort(sa, RUNS, sizeof(double), cmp_double);
			qsort(sb, RUNS, sizeof(double), cmp_double);
			qsort(sc, RUNS, sizeof(double), cmp_double);
			printf(
			    "{\"bench\":\"impact\",\"window\":%zu,\"channels\":%u,\"rows_us\":%.1f,"
			    "\"rows_imp_us\":%.1f,\"rows_imp10_us\":%.1f,\"rows_med_us\":%.1f,"
			    "\"rows_imp_med_us\":%.1f,\"rows_imp10_med_us\":%.1f,"
			    "\"imp_over_rows\":%.2f,\"imp10_over_rows\":%.2f}\n",
			    n, nch, sa[0], sb[0], sc[0], sa[RUNS / 2], sb[RUNS / 2], sc[RUNS / 2],
			    sb[0] / sa[0], sc[0] / sa[0]);
			fflush(stdout);
			free(ref.lines);
			free(lines);
			free(x);
			lg_impact_free(im);
			lg_features_free(fx);
		}
	return 0;
}
