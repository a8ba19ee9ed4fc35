// SPDX-License-Identifier: MIT
/*
 * features_bench: cost per window of a full feature row (time statistics and band
 * energies) with the spectrum from FFTW's r2c transform and from one sgemm against a
 * cos/sin basis, against the bare r2c transform of the same windows (a plain program's
 * plan: FFTW_MEASURE, one plan for the whole batch), and the
 * time-domain statistics alone on every ISA, against the serial double loops they replaced.
 * Everything runs in the same invocation on the same windows, each variant's runs
 * interleaved with the others'; the ratios are what to read, absolute times on a shared
 * machine are noise. One JSON object per line.
 */
#include <linegate/cli.h>
#include <linegate/features.h>
#include <linegate/signal.h>

#include <fftw3.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const char usage[] =
    "Usage: features_bench [options] [SECONDS]\n"
    "\n"
    "Cost per window of a full feature row (time statistics and band energies) with the\n"
    "spectrum from FFTW (one window after the other; an even window as a complex transform\n"
    "of half its length and the real transform's last step in linegate's SIMD code) and from\n"
    "one sgemm against a cos/sin basis, and of the bare FFTW r2c transform of the same\n"
    "windows (one FFTW_MEASURE plan for the batch, the windows already in its array), on 512\n"
    "simulated vibration windows of 256, 1024, 2048 and 4096 samples, in batches of 1, 16 and\n"
    "64; and the time-domain statistics alone on every ISA this CPU has and with the serial\n"
    "double loops they replaced. One thread. Every variant runs in the same invocation on the\n"
    "same windows: read the ratios, absolute times on a shared machine are noise.\n"
    "\n"
    "Arguments:\n"
    "  SECONDS       minimum time of each of the 5 runs per variant and point, the best of\n"
    "                which is kept (default 0.05)\n"
    "\n"
    "Options:\n"
    "  -h, --help    this text\n"
    "\n"
    "Output: one JSON line per window size, {\"bench\":\"features_time\", window,\n"
    "serial_double_ns, scalar_ns, avx2_ns, avx512_ns (ns per window; null where the CPU\n"
    "lacks the ISA), best (the ISA a feature extractor uses), serial_over_best}, then one per\n"
    "window and batch size, {\"bench\":\"features\", window, batch, time_stats_ns (the\n"
    "statistics alone, best ISA), r2c_ns (the bare r2c of the batch, per window),\n"
    "fftw_row_ns (ns per window for the whole row), fftw_row_over_r2c, gemm_row_ns,\n"
    "gemm_over_fftw_row, gemm_over_fftw_spectrum (the ratio of the rows minus their\n"
    "time-domain statistics; the gemm fields are null above 2048 samples)}.\n"
    "Exit status: 0, 1 if the feature extractor or an FFTW plan could not be set up, 2 on a\n"
    "usage error.\n";

void openblas_set_num_threads(int n);

enum { TOTAL = 512, REPS = 5 };

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The statistics as they were before the SIMD passes (two serial loops in double): the
 * baseline, kept here only. */
static void serial_double(const float *x, size_t n, float *row)
{
	double sum = 0, sq = 0, peak = 0, m2 = 0, m3 = 0, m4 = 0, mean, var;

	for (size_t i = 0; i < n; i++) {
		double v = x[i];

		sum += v;
		sq += v * v;
		if (fabs(v) > peak)
			peak = fabs(v);
	}
	mean = sum / n;
	for (size_t i = 0; i < n; i++) {
		double c = x[i] - mean, c2 = c * c;

		m2 += c2;
		m3 += c2 * c;
		m4 += c2 * c2;
	}
	var = m2 / n;
	row[LG_FEAT_MEAN] = (float)mean;
	row[LG_FEAT_RMS] = (float)sqrt(sq / n);
	row[LG_FEAT_PEAK] = (float)peak;
	row[LG_FEAT_CREST] = sq > 0 ? (float)(peak / sqrt(sq / n)) : 0.0f;
	if (var > 1e-12 * (mean * mean + 1e-30)) {
		row[LG_FEAT_SKEW] = (float)(m3 / n / pow(var, 1.5));
		row[LG_FEAT_KURTOSIS] = (float)(m4 / n / (var * var));
	} else {
		row[LG_FEAT_SKEW] = 0;
		row[LG_FEAT_KURTOSIS] = 0;
	}
}

/* What one timed run does, over all TOTAL windows (or as many whole batches as fit). */
struct variant {
	enum { V_ROWS, V_TIME, V_SERIAL, V_R2C } kind;
	struct lg_features *fx; /* V_ROWS */
	enum lg_model_isa isa;	/* V_TIME */
	fftwf_plan plan;	/* V_R2C: a plan for `batch` windows in `in` */
	float *in;
	double best; /* ns per window */
};

static size_t run_once(struct variant *v, const float *x, size_t n, size_t batch, float *rows)
{
	size_t done = 0;

	switch (v->kind) {
	case V_ROWS:
		for (; done + batch <= TOTAL; done += batch)
			lg_features_rows(v->fx, x + done * n, batch, n, n, rows);
		break;
	case V_TIME:
		for (; done < TOTAL; done++)
			lg_features_time_isa(v->isa, x + done * n, n, 1, rows);
		break;
	case V_SERIAL:
		for (; done < TOTAL; done++)
			serial_double(x + done * n, n, rows);
		break;
	case V_R2C:
		/* The transform alone: the windows are already in the plan's array. */
		for (; done + batch <= TOTAL; done += batch)
			fftwf_execute(v->plan);
		break;
	}
	return done;
}

/* REPS rounds; in each, every variant runs for at least min_s. Keeps each one's best. */
static void measure(struct variant *v, int nv, const float *x, size_t n, size_t batch, float *rows,
		    double min_s)
{
	for (int i = 0; i < nv; i++)
		v[i].best = 1e30;
	for (int rep = 0; rep < REPS; rep++)
		for (int i = 0; i < nv; i++) {
			size_t done = 0;
			double t0 = now(), t;

			do {
				done += run_once(&v[i], x, n, batch, rows);
				t = now() - t0;
			} while (t < min_s);
			if (t / done * 1e9 < v[i].best)
				v[i].best = t / done * 1e9;
		}
}

static void print_ns(const char *key, const struct variant *v)
{
	if (v)
		printf(",\"%s\":%.1f", key, v->best);
	else
		printf(",\"%s\":null", key);
}

static void time_stats(const float *x, size_t n, float *rows, double min_s)
{
	static const enum lg_model_isa isas[] = {LG_MODEL_ISA_SCALAR, LG_MODEL_ISA_AVX2,
						 LG_MODEL_ISA_AVX512};
	struct variant v[4] = {{.kind = V_SERIAL}};
	int nv = 1, best = 0;

	for (int i = 0; i < 3; i++)
		if (lg_model_isa_supported(isas[i]))
			v[nv++] = (struct variant){.kind = V_TIME, .isa = isas[i]};
	measure(v, nv, x, n, 1, rows, min_s);
	printf("{\"bench\":\"features_time\",\"window\":%zu", n);
	print_ns("serial_double_ns", &v[0]);
	for (int i = 0; i < 3; i++) {
		const struct variant *found = NULL;
		char key[32];

		for (int j = 1; j < nv; j++)
			if (v[j].isa == isas[i])
				found = &v[j];
		snprintf(key, sizeof(key), "%s_ns", lg_model_isa_name(isas[i]));
		print_ns(key, found);
	}
	best = nv - 1; /* the last supported one is what AUTO picks */
	printf(",\"best\":\"%s\",\"serial_over_best\":%.2f}\n", lg_model_isa_name(v[best].isa),
	       v[0].best / v[best].best);
}

int main(int argc, char **argv)
{
	static const size_t wins[] = {256, 1024, 2048, 4096}, batches[] = {1, 16, 64};
	double min_s = 0.05;

	lg_cli_simple(argc, argv, usage, 0, 1);
	if (optind < argc)
		min_s = atof(argv[optind]);

	openblas_set_num_threads(1);
	for (size_t wi = 0; wi < sizeof(wins) / sizeof(wins[0]); wi++) {
		size_t n = wins[wi];
		float *x = malloc(TOTAL * n * sizeof(float));
		float *rows = malloc(64 * LG_FEAT_N * sizeof(float));
		struct lg_signal s;

		if (!x || !rows)
			return 1;
		lg_signal_init(&s, 5, 0, 10000);
		lg_signal_fill(&s, x, TOTAL * n);
		time_stats(x, n, rows, min_s);
		for (size_t bi = 0; bi < sizeof(batches) / sizeof(batches[0]); bi++) {
			size_t b = batches[bi];
			int nb = (int)(n / 2 + 1), ni = (int)n, gemm = n <= LG_SPECTRUM_GEMM_MAX_N;
			struct variant v[4] = {
			    {.kind = V_R2C}, {.kind = V_ROWS}, {.kind = V_TIME}, {.kind = V_ROWS}};
			fftwf_complex *out = fftwf_alloc_complex(b * (size_t)nb);
			double tf, tg, tt, tr;

			v[0].in = fftwf_alloc_real(b * n);
			/* What a plain program would plan for this batch: FFTW_MEASURE, one window
			 * alone or the batch at once (the extractor transforms one window after
			 * the other with an FFTW_ESTIMATE plan, features_fftw.c says why). */
			if (v[0].in && out && b == 1)
				v[0].plan = fftwf_plan_dft_r2c_1d(ni, v[0].in, out, FFTW_MEASURE);
			else if (v[0].in && out)
				v[0].plan =
				    fftwf_plan_many_dft_r2c(1, &ni, (int)b, v[0].in, NULL, 1, ni,
							    out, NULL, 1, nb, FFTW_MEASURE);
			if (!v[0].plan || lg_features_new(&v[1].fx, NULL, LG_SPECTRUM_FFTW, b) ||
			    lg_features_prepare(v[1].fx, n))
				return 1;
			for (size_t i = 0; i < b * n; i++)
				v[0].in[i] = x[i];
			if (gemm && (lg_features_new(&v[3].fx, NULL, LG_SPECTRUM_GEMM, b) ||
				     lg_features_prepare(v[3].fx, n)))
				return 1;
			measure(v, gemm ? 4 : 3, x, n, b, rows, min_s);
			tr = v[0].best;
			tf = v[1].best;
			tt = v[2].best;
			tg = v[3].best;
			printf("{\"bench\":\"features\",\"window\":%zu,\"batch\":%zu,"
			       "\"time_stats_ns\":%.1f,\"r2c_ns\":%.1f,\"fftw_row_ns\":%.1f,"
			       "\"fftw_row_over_r2c\":%.2f",
			       n, b, tt, tr, tf, tf / tr);
			/* The spectrum's share: the row minus its time-domain statistics. */
			if (gemm)
				printf(",\"gemm_row_ns\":%.1f,\"gemm_over_fftw_row\":%.2f,"
				       "\"gemm_over_fftw_spectrum\":%.2f}\n",
				       tg, tg / tf, (tg - tt) / (tf - tt));
			else
				printf(",\"gemm_row_ns\":null,\"gemm_over_fftw_row\":null,"
				       "\"gemm_over_fftw_spectrum\":null}\n");
			fflush(stdout);
			fftwf_destroy_plan(v[0].plan);
			fftwf_free(v[0].in);
			fftwf_free(out);
			lg_features_free(v[1].fx);
			lg_features_free(v[3].fx);
		}
		free(x);
		free(rows);
	}
	return 0;
}
