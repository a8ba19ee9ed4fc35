// SPDX-License-Identifier: MIT
/*
 * The basic row's per-bin passes (dataplane/features_spec.h) on every ISA this CPU has: the
 * taper, |X|^2 and the half-length transform's last step against double references and the
 * scalar code bit for bit; the band sums and their dB values against a double reference, the
 * scalar code bit for bit, and glibc's log2 (the dB values the rows had before); 0, subnormal,
 * infinite and NaN energies; whole rows per ISA at even and odd window sizes.
 */
#include <linegate/features.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "features_spec.h"

#include "../lgtest.h"
#include "../lgt_cli.h"

static const struct {
	enum lg_model_isa isa;
	const struct lg_spec_kernels *k;
} isas[] = {
    {LG_MODEL_ISA_SCALAR, &lg_spec_scalar},
#ifdef LG_FEATURES_X86
    {LG_MODEL_ISA_AVX2, &lg_spec_avx2},
    {LG_MODEL_ISA_AVX512, &lg_spec_avx512},
#endif
};
enum { NISA = sizeof(isas) / sizeof(isas[0]) };

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static double urand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return ((rng >> 11) + 0.5) / 9007199254740992.0;
}

static int same_bits(const float *a, const float *b, size_t n)
{
	return !memcmp(a, b, n * sizeof(float));
}

/* The dB polynomial against glibc: within 4 ulp of 10 log10(x) in double, and the float the
 * rows had before (3.0103 log2(x), rounded) for every one of 10^7 values from 1e-12 to 1e6. */
static void db_values(void)
{
	size_t differ = 0;
	double worst = 0;

	for (int i = 0; i < 10000000; i++) {
		double x = pow(10.0, -12 + 18 * urand()), want = 10 * log10(x);
		double got = lg_db_normal(x), err = fabs(got - want) / fabs(want);

		if (err > worst && want != 0)
			worst = err;
		if (lg_db(x) != (float)(3.0102999566398120 * log2(x)))
			differ++;
	}
	printf("dB: worst relative error %.3g against 10 log10, %zu of 10^7 floats differ from "
	       "3.0103 log2\n",
	       worst, differ);
	CHECK(worst < 4 * DBL_EPSILON);
	CHECK_EQ(differ, 0);
	/* exact powers of ten and two, and 1 */
	CHECK(lg_db(1.0) == 0.0f);
	CHECK_NEAR(lg_db(10.0), 10.0, 1e-6);
	CHECK_NEAR(lg_db(1e-6), -60.0, 1e-5);
	CHECK_NEAR(lg_db(0.5), -3.0103, 1e-4);
	/* outside the normal range: libm */
	CHECK(isinf(lg_db(0.0)) && lg_db(0.0) < 0);
	CHECK(isinf(lg_db(INFINITY)) && lg_db(INFINITY) > 0);
	CHECK(isnan(lg_db(NAN)));
	CHECK(lg_db(1e-310) == (float)(10 * log10(1e-310)));
}

static void taper_power(void)
{
	enum { N = 203 };
	float x[N], w[N], out[NISA][N], X[2 * N], p[NISA][N];

	for (int i = 0; i < N; i++) {
		x[i] = (float)(urand() * 8 - 4);
		w[i] = (float)urand();
		X[2 * i] = (float)(urand() * 100 - 50);
		X[2 * i + 1] = (float)(urand() * 100 - 50);
	}
	for (int v = 0; v < NISA; v++) {
		if (!lg_model_isa_supported(isas[v].isa))
			continue;
		/* every length up to N: the vector bodies and their tails */
		for (size_t n = 0; n <= N; n += n < 40 ? 1 : 37) {
			memset(out[v], 0, sizeof(out[v]));
			memset(p[v], 0, sizeof(p[v]));
			isas[v].k->taper(x, w, n, out[v]);
			isas[v].k->power(X, n, p[v]);
			for (size_t i = 0; i < N; i++) {
				CHECK_EQ(memcmp(&out[v][i], &(float){i < n ? x[i] * w[i] : 0}, 4),
					 0);
				CHECK_EQ(memcmp(&p[v][i],
						&(float){i < n ? X[2 * i] * X[2 * i] +
								     X[2 * i + 1] * X[2 * i + 1]
							       : 0},
						4),
					 0);
			}
		}
	}
}

/* |X_k|^2 of the real x (n = 2m) from the complex transform of its n/2 points, against a
 * direct DFT in double, every ISA the scalar code's bits. */
static void half_power(void)
{
	static const size_t ms[] = {2, 3, 8, 15, 16, 17, 31, 64, 100, 128, 500, 2048};

	for (size_t mi = 0; mi < sizeof(ms) / sizeof(ms[0]); mi++) {
		size_t m = ms[mi], n = 2 * m;
		float *x = malloc(n * sizeof(float)), *Z = malloc((2 * m + 2) * sizeof(float));
		float *c = malloc((m + 1) * sizeof(float)), *s = malloc((m + 1) * sizeof(float));
		float *p[NISA];
		double *ref = malloc((m + 1) * sizeof(double)), scale = 0;

		CHECK(x && Z && c && s && ref);
		for (size_t t = 0; t < n; t++)
			x[t] = (float)(urand() * 2 - 1 + (t % 7 == 0 ? 3 : 0));
		/* Z: the complex DFT of z_j = x_2j + i x_2j+1, in double, rounded */
		for (size_t k = 0; k < m; k++) {
			double re = 0, im = 0;

			for (size_t j = 0; j < m; j++) {
				double a = -2 * M_PI * (double)((k * j) % m) / (double)m;

				re += x[2 * j] * cos(a) - x[2 * j + 1] * sin(a);
				im += x[2 * j] * sin(a) + x[2 * j + 1] * cos(a);
			}
			Z[2 * k] = (float)re;
			Z[2 * k + 1] = (float)im;
		}
		Z[2 * m] = Z[0];
		Z[2 * m + 1] = Z[1];
		for (size_t k = 0; k <= m; k++) {
			double re = 0, im = 0;

			c[k] = (float)cos(M_PI * (double)k / (double)m);
			s[k] = (float)sin(M_PI * (double)k / (double)m);
			for (size_t t = 0; t < n; t++) {
				double a = -2 * M_PI * (double)((k * t) % n) / (double)n;

				re += x[t] * cos(a);
				im += x[t] * sin(a);
			}
			ref[k] = re * re + im * im;
			if (ref[k] > scale)
				scale = ref[k];
		}
		for (int v = 0; v < NISA; v++) {
			/* all bins in p[v][0 .. m], a range inside from p[v][m + 1] on */
			float *part;

			p[v] = calloc(2 * (m + 1), sizeof(float));
			CHECK(p[v]);
			part = p[v] + m + 1;
			if (!lg_model_isa_supported(isas[v].isa))
				continue;
			isas[v].k->half_power(Z, c, s, m, 0, m + 1, p[v]);
			for (size_t k = 0; k <= m; k++)
				CHECK_NEAR(p[v][k], ref[k], 1e-5 * scale);
			isas[v].k->half_power(Z, c, s, m, m / 3, m / 3 + m / 2 + 1, part);
			for (size_t k = 0; k < m / 2 + 1; k++)
				CHECK_NEAR(part[k], ref[m / 3 + k], 1e-5 * scale);
			if (v)
				CHECK(same_bits(p[v], p[0], 2 * (m + 1)));
		}
		for (int v = 0; v < NISA; v++)
			free(p[v]);
		free(x);
		free(Z);
		free(c);
		free(s);
		free(ref);
	}
}

/* Band sums and dB: random layouts (empty bands, single bins, long runs), every ISA. */
static void bands(void)
{
	enum { K = 300 };
	float pw[K], wt[K], out[NISA][LG_FEAT_BANDS];

	for (int trial = 0; trial < 2000; trial++) {
		size_t bstart[LG_FEAT_BANDS + 1] = {0};
		double floor = trial % 3 ? 1e-6 : 1e-310;
		int special = trial % 10;

		for (int j = 0; j < K; j++) {
			pw[j] = (float)(urand() * pow(10.0, 12 * urand() - 6));
			wt[j] = (float)(urand() * 1e-3);
		}
		for (int b = 1; b <= LG_FEAT_BANDS; b++)
			bstart[b] = bstart[b - 1] + (size_t)(urand() * (trial % 2 ? 40 : 9));
		/* 0 energies (subnormal with the tiny floor), infinity, NaN */
		if (special == 1)
			for (size_t j = bstart[2]; j < bstart[3]; j++)
				pw[j] = 0;
		if (special == 2 && bstart[5] > bstart[4])
			pw[bstart[4]] = INFINITY;
		if (special == 3 && bstart[7] > bstart[6])
			pw[bstart[6]] = NAN;
		for (int v = 0; v < NISA; v++) {
			if (!lg_model_isa_supported(isas[v].isa))
				continue;
			isas[v].k->bands(pw, wt, bstart, floor, out[v]);
			if (v)
				CHECK(same_bits(out[v], out[0], LG_FEAT_BANDS));
		}
		for (int b = 0; b < LG_FEAT_BANDS; b++) {
			long double e = 0;
			double want;

			for (size_t j = bstart[b]; j < bstart[b + 1]; j++)
				e += (long double)pw[j] * wt[j];
			want = 10 * log10((double)e + floor);
			if (isnan(want))
				CHECK(isnan(out[0][b]));
			else if (isinf(want))
				CHECK(out[0][b] == (float)want);
			else
				CHECK_NEAR(out[0][b], want, 1e-6 * fabs(want) + 1e-6);
		}
	}
}

/* Whole rows: every ISA the same bits, at even sizes (the half-length transform) and odd
 * ones (FFTW's r2c), and bands that sum to the mean square (Parseval). */
static void rows(void)
{
	static const size_t ns[] = {17, 64, 250, 255, 256, 1000, 1024, 4096};

	for (size_t ni = 0; ni < sizeof(ns) / sizeof(ns[0]); ni++) {
		size_t n = ns[ni], W = 9;
		float *x = malloc(W * n * sizeof(float)), *r[NISA];
		struct lg_features *fx;
		struct lg_bands bl;

		lg_bands_default(&bl);
		bl.taper = LG_TAPER_RECT;
		CHECK(x);
		for (size_t i = 0; i < W * n; i++)
			x[i] = (float)(urand() * 2 - 1 + sin(0.3 * (double)i) * (i / n + 1));
		CHECK_EQ(lg_features_new(&fx, &bl, LG_SPECTRUM_FFTW, 4), 0);
		for (int v = 0; v < NISA; v++) {
			r[v] = calloc(W * LG_FEAT_N, sizeof(float));
			CHECK(r[v]);
			if (!lg_model_isa_supported(isas[v].isa))
				continue;
			CHECK_EQ(lg_features_set_isa(fx, isas[v].isa), 0);
			CHECK_EQ(lg_features_rows(fx, x, W, n, n, r[v]), 0);
			if (v)
				CHECK(same_bits(r[v], r[0], W * LG_FEAT_N));
		}
		for (size_t i = 0; i < W; i++) {
			double ms = 0, tot = 0;

			for (size_t t = 0; t < n; t++)
				ms += (double)x[i * n + t] * x[i * n + t] / (double)n;
			for (int b = 0; b < LG_FEAT_BANDS; b++)
				tot += pow(10, r[0][i * LG_FEAT_N + LG_FEAT_BAND0 + b] / 10) -
				       bl.floor;
			CHECK_NEAR(tot, ms, 1e-5 * ms);
		}
		for (int v = 0; v < NISA; v++)
			free(r[v]);
		lg_features_free(fx);
		free(x);
	}
}

static const char usage[] =
    "Usage: test_features_spec [options]\n"
    "\n"
    "The basic feature row's per-bin passes (taper, |X|^2, the last step of the real transform\n"
    "from a half-length complex one, band sums and their dB values) on every ISA this CPU has,\n"
    "against double references and the scalar code bit for bit; the dB values against glibc's\n"
    "for 10^7 values; whole rows per ISA at even and odd window sizes.\n"
    "\n"
    "Options:\n"
    "  -h, --help    this text\n"
    "\n" LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	lg_cli_simple(argc, argv, usage, 0, 0);
	db_values();
	taper_power();
	half_power();
	bands();
	rows();
	printf("%d checks, %d failed\n", lgt_checks, lgt_failures);
	return lgt_failures ? 1 : 0;
}
