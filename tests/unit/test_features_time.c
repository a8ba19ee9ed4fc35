// SPDX-License-Identifier: MIT
/*
 * The time-domain statistics on every ISA this CPU has, forced one by one, against a long
 * double two-pass reference: every length up to two lane groups and one, windows of 64 to
 * 16384 samples, signals with a large offset, impulses and constants; the ISAs against each
 * other bit for bit; strides, NaN and infinities; whole rows of the extractor per ISA.
 */
#include <linegate/features.h>

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

/*
 * Errors beyond the float rounding of the result (2^-23 of it), in units of the spread sd
 * (mean), of the value (rms, crest, kurtosis) and of mean(|x - mean|^3) / sd^3 (skewness).
 * Measured over everything below (the largest are printed): mean 2.5e-8, skewness 7.1e-8,
 * kurtosis 4.7e-8, rms and crest none. The bounds leave about 3x; one sample more or less
 * in a 16384-sample window moves the statistics by about 6e-5.
 */
#define TOL_MEAN 1e-7
#define TOL_RMS 1e-7
#define TOL_CREST 1e-7
#define TOL_SKEW 2e-7
#define TOL_KURT 2e-7

/* Widest group of lanes any ISA fills at once (two AVX-512 vectors). */
#define GROUP 32

static const enum lg_model_isa isas[] = {LG_MODEL_ISA_SCALAR, LG_MODEL_ISA_AVX2,
					 LG_MODEL_ISA_AVX512};
enum { NISA = sizeof(isas) / sizeof(isas[0]) };

static uint64_t rng = 0x2545f4914f6cdd1dull;

static double urand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return ((rng >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(void)
{
	return sqrt(-2 * log(urand())) * cos(2 * M_PI * urand());
}

struct ref {
	double v[LG_FEAT_TIME_N];
	double sd, abs3; /* spread, and mean |x - mean|^3 / sd^3 */
};

static void reference(const float *x, size_t n, struct ref *r)
{
	long double sum = 0, sq = 0, m2 = 0, m3 = 0, m4 = 0, a3 = 0, mean, var;
	float peak = 0;

	memset(r, 0, sizeof(*r));
	if (!n) /* an empty window: all zero */
		return;
	for (size_t i = 0; i < n; i++) {
		sum += x[i];
		sq += (long double)x[i] * x[i];
		peak = fabsf(x[i]) > peak ? fabsf(x[i]) : peak;
	}
	mean = sum / n;
	for (size_t i = 0; i < n; i++) {
		long double d = x[i] - mean;

		m2 += d * d;
		m3 += d * d * d;
		m4 += d * d * d * d;
		a3 += fabsl(d * d * d);
	}
	var = m2 / n;
	r->v[LG_FEAT_MEAN] = (double)mean;
	r->v[LG_FEAT_RMS] = (double)sqrtl(sq / n);
	r->v[LG_FEAT_PEAK] = peak;
	r->v[LG_FEAT_CREST] = (double)(peak / sqrtl(sq / n));
	r->sd = (double)sqrtl(var);
	/* features.c's rule: a variance below 1e-12 (mean^2 + 1e-30) is a constant signal */
	if (var <= 1e-12L * (mean * mean + 1e-30L)) {
		r->abs3 = r->v[LG_FEAT_SKEW] = r->v[LG_FEAT_KURTOSIS] = 0;
		return;
	}
	r->abs3 = (double)(a3 / n / (var * sqrtl(var)));
	r->v[LG_FEAT_SKEW] = (double)(m3 / n / (var * sqrtl(var)));
	r->v[LG_FEAT_KURTOSIS] = (double)(m4 / n / (var * var));
}

/* The largest error seen per statistic, in the units of the TOL_ bounds. */
static double worst[LG_FEAT_TIME_N];

static void check_stat(const char *isa, const char *sig, size_t n, int k, double got, double want,
		       double unit, double tol)
{
	double err = (fabs(got - want) - 0x1p-23 * fabs(want)) / unit;

	if (err > worst[k])
		worst[k] = err;
	lgt_checks++;
	if (!(err <= tol)) {
		lgt_failures++;
		fprintf(stderr, "%s %s n=%zu %s: %.9g, want %.9g (error %.3g, bound %.3g)\n", isa,
			sig, n, lg_feature_names[k], got, want, err, tol);
	}
}

static void check_exact(const char *isa, const char *sig, size_t n, int k, float got, float want)
{
	lgt_checks++;
	if (got != want) {
		lgt_failures++;
		fprintf(stderr, "%s %s n=%zu %s: %.9g, want exactly %.9g\n", isa, sig, n,
			lg_feature_names[k], got, want);
	}
}

static void check_row(const char *isa, const char *sig, size_t n, const float *row,
		      const struct ref *r)
{
	const double *v = r->v;

	if (!r->abs3) { /* a constant (one sample, all zero): exact */
		check_exact(isa, sig, n, LG_FEAT_MEAN, row[LG_FEAT_MEAN], (float)v[LG_FEAT_MEAN]);
		check_exact(isa, sig, n, LG_FEAT_RMS, row[LG_FEAT_RMS], (float)v[LG_FEAT_RMS]);
		check_exact(isa, sig, n, LG_FEAT_PEAK, row[LG_FEAT_PEAK], (float)v[LG_FEAT_PEAK]);
		check_exact(isa, sig, n, LG_FEAT_CREST, row[LG_FEAT_CREST],
			    v[LG_FEAT_RMS] > 0 ? 1.0f : 0.0f);
		check_exact(isa, sig, n, LG_FEAT_SKEW, row[LG_FEAT_SKEW], 0);
		check_exact(isa, sig, n, LG_FEAT_KURTOSIS, row[LG_FEAT_KURTOSIS], 0);
		return;
	}
	check_exact(isa, sig, n, LG_FEAT_PEAK, row[LG_FEAT_PEAK], (float)v[LG_FEAT_PEAK]);
	check_stat(isa, sig, n, LG_FEAT_MEAN, row[LG_FEAT_MEAN], v[LG_FEAT_MEAN], r->sd, TOL_MEAN);
	check_stat(isa, sig, n, LG_FEAT_RMS, row[LG_FEAT_RMS], v[LG_FEAT_RMS], v[LG_FEAT_RMS],
		   TOL_RMS);
	check_stat(isa, sig, n, LG_FEAT_CREST, row[LG_FEAT_CREST], v[LG_FEAT_CREST],
		   v[LG_FEAT_CREST], TOL_CREST);
	check_stat(isa, sig, n, LG_FEAT_SKEW, row[LG_FEAT_SKEW], v[LG_FEAT_SKEW], r->abs3,
		   TOL_SKEW);
	check_stat(isa, sig, n, LG_FEAT_KURTOSIS, row[LG_FEAT_KURTOSIS], v[LG_FEAT_KURTOSIS],
		   v[LG_FEAT_KURTOSIS], TOL_KURT);
}

enum signal {
	SIG_SINE,     /* sine plus Gaussian noise */
	SIG_OFFSET,   /* mean 1e4, spread 1: raw moments would lose the kurtosis */
	SIG_IMPULSE,  /* small noise and one-sided impulses: large skewness and kurtosis */
	SIG_CONSTANT, /* one value: skewness and kurtosis 0 */
	SIG_TINY,     /* spread 1e-15 (scaled by 2^50 in the vector path) */
	SIG_HUGE,     /* around 1e15 */
	SIG_VAST,     /* around 1e25: past 2^64, the serial loop */
	SIG_MINUTE,   /* around 1e-20: below 2^-64, the serial loop */
	SIG_ZERO,
	SIG_N,
};

static const char *const sig_names[SIG_N] = {"sine", "offset", "impulse", "constant", "tiny",
					     "huge", "vast",   "minute",  "zero"};

static void fill(enum signal sig, float *x, size_t n)
{
	double f = 0.5 * urand(), ph = 2 * M_PI * urand();

	for (size_t i = 0; i < n; i++) {
		switch (sig) {
		case SIG_SINE:
			x[i] = (float)(3 * sin(f * i + ph) + 0.5 * gauss());
			break;
		case SIG_OFFSET:
			x[i] = (float)(1e4 + gauss());
			break;
		case SIG_IMPULSE:
			x[i] = (float)(0.1 * gauss() + (urand() < 0.01 ? 20 : 0));
			break;
		case SIG_CONSTANT:
			x[i] = 0.1f;
			break;
		case SIG_TINY:
			x[i] = (float)(1e-15 * (sin(f * i + ph) + gauss()));
			break;
		case SIG_HUGE:
			x[i] = (float)(1e15 * (2 + sin(f * i + ph) + 0.1 * gauss()));
			break;
		case SIG_VAST:
			x[i] = (float)(1e25 * (2 + sin(f * i + ph) + 0.1 * gauss()));
			break;
		case SIG_MINUTE:
			x[i] = (float)(1e-20 * (sin(f * i + ph) + gauss()));
			break;
		case SIG_ZERO:
			x[i] = 0;
			break;
		case SIG_N:
			break;
		}
	}
	if (sig == SIG_IMPULSE && n)
		x[n - 1] = 25; /* an impulse in the tail */
}

/*
 * One window of n samples on every ISA, against the reference and each other. The window
 * starts one float past an aligned address, and what follows it is a large value, so that a
 * lane read past the end shows.
 */
static void window(enum signal sig, size_t n)
{
	float *buf = malloc((n + 1 + 2 * GROUP) * sizeof(float)), *x = buf + 1;
	float rows[NISA][LG_FEAT_N];
	int first = -1;
	struct ref r;

	if (!buf) {
		CHECK(buf);
		return;
	}
	buf[0] = 1e6f;
	fill(sig, x, n);
	for (size_t i = n; i < n + 2 * GROUP; i++)
		x[i] = 1e6f;
	reference(x, n, &r);
	for (int i = 0; i < NISA; i++) {
		if (!lg_model_isa_supported(isas[i]))
			continue;
		CHECK_EQ(lg_features_time_isa(isas[i], x, n, 1, rows[i]), 0);
		check_row(lg_model_isa_name(isas[i]), sig_names[sig], n, rows[i], &r);
		if (first < 0)
			first = i;
		else if (memcmp(rows[i], rows[first], LG_FEAT_TIME_N * sizeof(float))) {
			lgt_failures++;
			fprintf(stderr, "%s n=%zu: %s and %s differ\n", sig_names[sig], n,
				lg_model_isa_name(isas[i]), lg_model_isa_name(isas[first]));
		}
	}
	free(buf);
}

static void windows(void)
{
	static const size_t sizes[] = {64,   100,  255,	 256,  257,  511,  512,	 513,	1000, 1023,
				       1024, 1025, 2047, 2048, 4096, 4097, 8192, 16383, 16384};

	for (int sig = 0; sig < SIG_N; sig++) {
		/* every tail, and no full group to one full and a tail of one, on every ISA */
		for (size_t n = 0; n <= 2 * GROUP + 1; n++)
			window(sig, n);
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			window(sig, sizes[i]);
	}
}

/* Strided windows take the serial loop on every ISA, with the same results as a copy would
 * give within the bounds. */
static void strides(void)
{
	enum { N = 1000 };
	static float x[3 * N], c[N];
	float row[LG_FEAT_N];
	struct ref r;

	for (size_t i = 0; i < 3 * N; i++)
		x[i] = (float)(1e4 + gauss());
	for (size_t stride = 2; stride <= 3; stride++) {
		for (size_t i = 0; i < N; i++)
			c[i] = x[i * stride];
		reference(c, N, &r);
		for (int i = 0; i < NISA; i++) {
			if (!lg_model_isa_supported(isas[i]))
				continue;
			CHECK_EQ(lg_features_time_isa(isas[i], x, N, stride, row), 0);
			check_row(lg_model_isa_name(isas[i]), "strided", N, row, &r);
		}
	}
}

/* What header says a NaN and an infinity give, on every ISA, wherever they are. */
static void non_finite(void)
{
	enum { N = 100 };
	float x[N], row[LG_FEAT_N];

	for (size_t at = 0; at < N; at += 33) {
		for (int i = 0; i < NISA; i++) {
			float peak = 0;

			if (!lg_model_isa_supported(isas[i]))
				continue;
			for (size_t t = 0; t < N; t++) {
				x[t] = (float)sin(0.1 * t) + 2;
				if (t != at && x[t] > peak)
					peak = x[t];
			}
			x[at] = NAN;
			lg_features_time_isa(isas[i], x, N, 1, row);
			CHECK(isnan(row[LG_FEAT_MEAN]) && isnan(row[LG_FEAT_RMS]));
			CHECK(row[LG_FEAT_PEAK] == peak);
			CHECK(row[LG_FEAT_CREST] == 0 && row[LG_FEAT_SKEW] == 0);
			CHECK(row[LG_FEAT_KURTOSIS] == 0);

			x[at] = INFINITY;
			lg_features_time_isa(isas[i], x, N, 1, row);
			CHECK(row[LG_FEAT_MEAN] == INFINITY && row[LG_FEAT_RMS] == INFINITY);
			CHECK(row[LG_FEAT_PEAK] == INFINITY && isnan(row[LG_FEAT_CREST]));
			CHECK(row[LG_FEAT_SKEW] == 0 && row[LG_FEAT_KURTOSIS] == 0);
			x[(at + 1) % N] = -INFINITY;
			lg_features_time_isa(isas[i], x, N, 1, row);
			CHECK(isnan(row[LG_FEAT_MEAN]) && row[LG_FEAT_RMS] == INFINITY);

			/* A float sum that overflows is not a non-finite sample. */
			for (size_t t = 0; t < N; t++)
				x[t] = FLT_MAX * (t % 2 ? 1.0f : 0.5f);
			lg_features_time_isa(isas[i], x, N, 1, row);
			CHECK_NEAR(row[LG_FEAT_MEAN], 0.75 * FLT_MAX, 1e-6 * FLT_MAX);
			CHECK_NEAR(row[LG_FEAT_KURTOSIS], 1, 1e-6);
		}
	}
}

/* The extractor's rows per ISA: the same bits, and -ENOTSUP for what the CPU lacks. */
static void extractor_rows(void)
{
	enum { N = 1024, W = 8 };
	static float x[W * N], rows[NISA][W * LG_FEAT_N];
	struct lg_features *fx;
	int first = -1;

	for (size_t i = 0; i < W * N; i++)
		x[i] = (float)(100 + sin(0.05 * i) + 0.2 * gauss());
	CHECK_EQ(lg_features_new(&fx, NULL, LG_SPECTRUM_FFTW, 4), 0);
	CHECK_EQ(lg_features_set_isa(fx, (enum lg_model_isa)99), -ENOTSUP);
	for (int i = 0; i < NISA; i++) {
		if (!lg_model_isa_supported(isas[i])) {
			CHECK_EQ(lg_features_set_isa(fx, isas[i]), -ENOTSUP);
			CHECK_EQ(lg_features_time_isa(isas[i], x, N, 1, rows[0]), -ENOTSUP);
			continue;
		}
		CHECK_EQ(lg_features_set_isa(fx, isas[i]), 0);
		CHECK_EQ(lg_features_rows(fx, x, W, N, N, rows[i]), 0);
		if (first < 0)
			first = i;
		else
			CHECK(!memcmp(rows[i], rows[first], sizeof(rows[i])));
	}
	CHECK_EQ(lg_features_set_isa(fx, LG_MODEL_ISA_AUTO), 0);
	lg_features_free(fx);
}

static const char usage[] =
    "Usage: test_features_time [options]\n"
    "\n"
    "The time-domain statistics (mean, rms, peak, crest, skewness, kurtosis) on every ISA\n"
    "this CPU has, forced one by one, against a long double reference: every length up to 65\n"
    "samples and windows of 64 to 16384, for a noisy sine, a mean of 1e4 with a spread of 1,\n"
    "impulses, a constant, and tiny and huge values; the ISAs against each other bit for bit;\n"
    "strided windows, NaN and infinities; whole feature rows per ISA.\n"
    "\n"
    "Options:\n"
    "  -h, --help    this text\n"
    "\n"
    "Output: on stdout each ISA, \"tested\" or \"skipped: CPU lacks it\", the largest error\n"
    "per statistic (in the units of the bounds in the source), then \"test_features_time: N\n"
    "checks, M failed\".\n" LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	lgt_cli(argc, argv, usage, 0, 0);
	for (int i = 0; i < NISA; i++)
		printf("%-6s %s\n", lg_model_isa_name(isas[i]),
		       lg_model_isa_supported(isas[i]) ? "tested" : "skipped: CPU lacks it");
	windows();
	strides();
	non_finite();
	extractor_rows();
	printf("largest errors: mean %.2g sd, rms %.2g, crest %.2g, skewness %.2g, kurtosis %.2g "
	       "(relative; skewness in mean |d|^3 / sd^3)\n",
	       worst[LG_FEAT_MEAN], worst[LG_FEAT_RMS], worst[LG_FEAT_CREST], worst[LG_FEAT_SKEW],
	       worst[LG_FEAT_KURTOSIS]);
	return lgt_done("test_features_time");
}
