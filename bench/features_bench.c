// SPDX-License-Identifier: MIT
/*
 * features_bench: cost per window of a full feature row (time statistics and band
 * energies) with the spectrum from FFTW's batched r2c transforms and from one sgemm
 * against a cos/sin basis, for several window and batch sizes. Both run in the same
 * invocation on the same windows; the ratio gemm/fftw is what to read, absolute
 * times on a shared machine are noise. One JSON object per line.
 */
#include <linegate/cli.h>
#include <linegate/features.h>
#include <linegate/signal.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const char usage[] =
	"Usage: features_bench [options] [SECONDS]\n"
	"\n"
	"Cost per window of a full feature row (time statistics and band energies) with the\n"
	"spectrum from FFTW's batched r2c transforms and from one sgemm against a cos/sin basis,\n"
	"on 512 simulated vibration windows of 256, 1024 and 2048 samples, in batches of 1, 16\n"
	"and 64, on one thread. Both run in the same invocation on the same windows: read the\n"
	"ratios, absolute times on a shared machine are noise.\n"
	"\n"
	"Arguments:\n"
	"  SECONDS       minimum time of each of the 5 runs per point, the best of which is\n"
	"                kept (default 0.05)\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: one JSON line per window and batch size on stdout: {\"bench\":\"features\",\n"
	"window, batch, time_stats_ns (time-domain statistics alone), fftw_row_ns, gemm_row_ns\n"
	"(ns per window for the whole row), gemm_over_fftw_row, gemm_over_fftw_spectrum (the\n"
	"ratio of the rows minus their time-domain statistics)}.\n"
	"Exit status: 0, 1 if the feature extractor could not be set up, 2 on a usage error.\n";

void openblas_set_num_threads(int n);

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Best of 5 runs of at least min_s seconds each: ns per window. */
static double run(struct lg_features *fx, const float *x, size_t total, size_t n, size_t batch,
		  float *rows, double min_s)
{
	double best = 1e30;

	for (int rep = 0; rep < 5; rep++) {
		size_t done = 0;
		double t0 = now(), t;

		do {
			for (size_t i = 0; i + batch <= total; i += batch)
				lg_features_rows(fx, x + i * n, batch, n, n, rows);
			done += total / batch * batch;
			t = now() - t0;
		} while (t < min_s);
		if (t / done < best)
			best = t / done;
	}
	return best * 1e9;
}

/* The baseline: time-domain statistics alone, ns per window. */
static double run_time(const float *x, size_t total, size_t n, float *row, double min_s)
{
	double best = 1e30;

	for (int rep = 0; rep < 5; rep++) {
		size_t done = 0;
		double t0 = now(), t;

		do {
			for (size_t i = 0; i < total; i++)
				lg_features_time(x + i * n, n, 1, row);
			done += total;
			t = now() - t0;
		} while (t < min_s);
		if (t / done < best)
			best = t / done;
	}
	return best * 1e9;
}

int main(int argc, char **argv)
{
	static const size_t wins[] = { 256, 1024, 2048 }, batches[] = { 1, 16, 64 };
	double min_s = 0.05;
	enum { TOTAL = 512 };
	lg_cli_simple(argc, argv, usage, 0, 1);
	if (optind < argc)
		min_s = atof(argv[optind]);

	openblas_set_num_threads(1);
	for (size_t wi = 0; wi < sizeof(wins) / sizeof(wins[0]); wi++) {
		size_t n = wins[wi];
		float *x = malloc(TOTAL * n * sizeof(float)), *rows = malloc(64 * LG_FEAT_N * 4);
		struct lg_signal s;

		if (!x || !rows)
			return 1;
		lg_signal_init(&s, 5, 0, 10000);
		lg_signal_fill(&s, x, TOTAL * n);
		for (size_t bi = 0; bi < sizeof(batches) / sizeof(batches[0]); bi++) {
			size_t b = batches[bi];
			struct lg_features *ff, *fg;
			double tf, tg, tt;

			if (lg_features_new(&ff, NULL, LG_SPECTRUM_FFTW, b) ||
			    lg_features_new(&fg, NULL, LG_SPECTRUM_GEMM, b) ||
			    lg_features_prepare(ff, n) || lg_features_prepare(fg, n))
				return 1;
			tf = run(ff, x, TOTAL, n, b, rows, min_s);
			tg = run(fg, x, TOTAL, n, b, rows, min_s);
			tt = run_time(x, TOTAL, n, rows, min_s);
			/* The spectrum's share: the row minus its time-domain statistics. */
			printf("{\"bench\":\"features\",\"window\":%zu,\"batch\":%zu,"
			       "\"time_stats_ns\":%.1f,\"fftw_row_ns\":%.1f,\"gemm_row_ns\":%.1f,"
			       "\"gemm_over_fftw_row\":%.2f,\"gemm_over_fftw_spectrum\":%.2f}\n",
			       n, b, tt, tf, tg, tg / tf, (tg - tt) / (tf - tt));
			lg_features_free(ff);
			lg_features_free(fg);
		}
		free(x);
		free(rows);
	}
	return 0;
}
