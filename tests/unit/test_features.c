// SPDX-License-Identifier: MIT
/* Window features against straightforward double-precision references: the time-domain
 * statistics, and the band energies of both spectrum methods against an O(n^2) DFT. */
#include <linegate/features.h>
#include <linegate/signal.h>

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static void reference(const float *x, size_t n, double out[LG_FEAT_TIME_N])
{
	double mean = 0, var = 0, sq = 0, peak = 0, m3 = 0, m4 = 0;

	for (size_t i = 0; i < n; i++)
		mean += x[i];
	mean /= n;
	for (size_t i = 0; i < n; i++) {
		double d = x[i] - mean;

		var += d * d / n;
		m3 += d * d * d / n;
		m4 += d * d * d * d / n;
		sq += (double)x[i] * x[i] / n;
		peak = fmax(peak, fabs(x[i]));
	}
	out[LG_FEAT_MEAN] = mean;
	out[LG_FEAT_RMS] = sqrt(sq);
	out[LG_FEAT_PEAK] = peak;
	out[LG_FEAT_CREST] = peak / sqrt(sq);
	out[LG_FEAT_SKEW] = m3 / pow(var, 1.5);
	out[LG_FEAT_KURTOSIS] = m4 / (var * var);
}

static void time_features(void)
{
	enum { N = 4096 };
	static float x[N], inter[2 * N];
	float row[LG_FEAT_N];
	double ref[LG_FEAT_TIME_N];
	uint64_t s = 88172645463325252ull;

	/* A pure sine over whole periods: RMS A/sqrt2, crest sqrt2, skew 0, kurtosis 1.5. */
	for (int i = 0; i < N; i++)
		x[i] = (float)(3.0 * sin(2 * M_PI * 16 * i / N));
	lg_features_time(x, N, 1, row);
	CHECK_NEAR(row[LG_FEAT_MEAN], 0, 1e-5);
	CHECK_NEAR(row[LG_FEAT_RMS], 3 / sqrt(2), 1e-5);
	CHECK_NEAR(row[LG_FEAT_PEAK], 3, 1e-5);
	CHECK_NEAR(row[LG_FEAT_CREST], sqrt(2), 1e-5);
	CHECK_NEAR(row[LG_FEAT_SKEW], 0, 1e-4);
	CHECK_NEAR(row[LG_FEAT_KURTOSIS], 1.5, 1e-4);

	/* A constant: its spread is zero, so skewness and kurtosis are defined as 0. */
	for (int i = 0; i < N; i++)
		x[i] = 2.5f;
	lg_features_time(x, N, 1, row);
	CHECK_NEAR(row[LG_FEAT_MEAN], 2.5, 1e-6);
	CHECK_NEAR(row[LG_FEAT_RMS], 2.5, 1e-6);
	CHECK_NEAR(row[LG_FEAT_CREST], 1, 1e-6);
	CHECK_EQ(row[LG_FEAT_SKEW], 0);
	CHECK_EQ(row[LG_FEAT_KURTOSIS], 0);
	for (int i = 0; i < N; i++)
		x[i] = 0;
	lg_features_time(x, N, 1, row);
	for (int k = 0; k < LG_FEAT_TIME_N; k++)
		CHECK_EQ(row[k], 0);

	/* Random signals with an offset, against the reference, and through a stride. */
	for (int trial = 0; trial < 50; trial++) {
		for (int i = 0; i < N; i++) {
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			x[i] = (float)((double)(s % 100000) / 1e4 - 3.0 + trial * 0.7);
			if (trial % 5 == 0 && i % 97 == 0)
				x[i] *= 8; /* impulses: heavy tails */
			inter[2 * i] = x[i];
			inter[2 * i + 1] = -1e9f;
		}
		reference(x, N, ref);
		lg_features_time(x, N, 1, row);
		for (int k = 0; k < LG_FEAT_TIME_N; k++)
			CHECK_NEAR(row[k], ref[k], 1e-4 * (1 + fabs(ref[k])));
		lg_features_time(inter, N, 2, row);
		for (int k = 0; k < LG_FEAT_TIME_N; k++)
			CHECK_NEAR(row[k], ref[k], 1e-4 * (1 + fabs(ref[k])));
	}
	/* Gaussian noise has kurtosis 3. */
	for (int i = 0; i < N; i += 2) {
		double u1, u2;

		s ^= s << 13; s ^= s >> 7; s ^= s << 17;
		u1 = ((s >> 11) + 0.5) / 9007199254740992.0;
		s ^= s << 13; s ^= s >> 7; s ^= s << 17;
		u2 = ((s >> 11) + 0.5) / 9007199254740992.0;
		x[i] = (float)(sqrt(-2 * log(u1)) * cos(2 * M_PI * u2));
		x[i + 1] = (float)(sqrt(-2 * log(u1)) * sin(2 * M_PI * u2));
	}
	lg_features_time(x, N, 1, row);
	CHECK_NEAR(row[LG_FEAT_KURTOSIS], 3.0, 0.3);
}

static uint64_t rng = 0x2545f4914f6cdd1dull;

static double urand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return ((rng >> 11) + 0.5) / 9007199254740992.0;
}

/* Band energy back from its feature: 10 log10(E + floor). */
static double energy_of(const float *row, int b, const struct lg_bands *bl)
{
	return pow(10.0, row[LG_FEAT_BAND0 + b] / 10.0) - bl->floor;
}

static double total_of(const float *row, const struct lg_bands *bl)
{
	double t = 0;

	for (int b = 0; b < LG_FEAT_BANDS; b++)
		t += energy_of(row, b, bl);
	return t;
}

/* Which band holds bin k of an n-point spectrum (the first edge at or below 2k/n). */
static int band_of_bin(const struct lg_bands *bl, size_t k, size_t n)
{
	for (int b = LG_FEAT_BANDS - 1; b >= 0; b--)
		if (2.0 * k / n >= bl->edge[b])
			return b;
	return -1;
}

static void bands(enum lg_spectrum_method method, const struct lg_bands *bl, size_t n)
{
	enum { NW = 37, STRIDE_PAD = 3 };
	size_t stride = n + STRIDE_PAD;
	float *x = calloc(NW * stride, sizeof(float));
	float *rows = calloc(NW * LG_FEAT_N, sizeof(float));
	float one[LG_FEAT_N];
	double ref[LG_FEAT_BANDS];
	struct lg_features *fx;
	const char *mname = method == LG_SPECTRUM_FFTW ? "fftw" : "gemm";

	CHECK(x && rows);
	CHECK_EQ(lg_features_new(&fx, bl, method, 16), 0);
	CHECK_EQ(lg_features_prepare(fx, n), 0);

	/* A pure sine on bin k lands in k's band with A^2/2, the others stay empty. With a
	 * Hann taper it spreads over k-1..k+1: checked where those share a band. */
	for (size_t k = 2; k + 2 <= n / 2; k += (n / 2) / 7 + 1) {
		int b = band_of_bin(bl, k, n);
		bool spread = bl->taper == LG_TAPER_HANN;

		if (spread && (band_of_bin(bl, k - 1, n) != b || band_of_bin(bl, k + 1, n) != b))
			continue;
		for (size_t t = 0; t < n; t++)
			x[t] = (float)(2.0 * sin(2 * M_PI * (double)((k * t) % n) / n + 0.3));
		CHECK_EQ(lg_features_rows(fx, x, 1, n, n, one), 0);
		CHECK(b >= 0);
		CHECK_NEAR(energy_of(one, b, bl), 2.0, 2e-4);
		for (int o = 0; o < LG_FEAT_BANDS; o++)
			if (o != b)
				CHECK_NEAR(energy_of(one, o, bl), 0, 2e-5);
		CHECK_NEAR(total_of(one, bl), one[LG_FEAT_RMS] * one[LG_FEAT_RMS], 2e-4);
	}

	/* A constant: all its energy is DC, in band 0. Hann spreads DC over bins 0 and 1,
	 * 2/3 and 1/3 of it. */
	for (size_t t = 0; t < n; t++)
		x[t] = -1.5f;
	CHECK_EQ(lg_features_rows(fx, x, 1, n, n, one), 0);
	for (int o = 0; o < LG_FEAT_BANDS; o++) {
		double want = 0;

		if (bl->taper == LG_TAPER_RECT)
			want = o == 0 ? 2.25 : 0;
		else
			want = (o == band_of_bin(bl, 0, n) ? 2.25 * 2 / 3 : 0) +
			       (o == band_of_bin(bl, 1, n) ? 2.25 / 3 : 0);
		CHECK_NEAR(energy_of(one, o, bl), want, 2e-4 * want + 2e-5);
	}

	/* Random windows in one batch (split into 16s), against the O(n^2) reference in
	 * double and against Parseval: the bands sum to the mean square. */
	for (size_t i = 0; i < NW; i++) {
		double off = urand() * 2 - 1;

		for (size_t t = 0; t < stride; t++)
			x[i * stride + t] = (float)(off + 3 * (urand() - 0.5) +
						    (i % 3 == 0 && t % 29 == 0 ? 6 : 0));
	}
	CHECK_EQ(lg_features_rows(fx, x, NW, n, stride, rows), 0);
	for (size_t i = 0; i < NW; i++) {
		const float *row = rows + i * LG_FEAT_N;
		double tot = 0, ms = 0;

		lg_bands_reference(bl, x + i * stride, n, ref);
		for (int b = 0; b < LG_FEAT_BANDS; b++) {
			tot += ref[b];
			CHECK_NEAR(energy_of(row, b, bl), ref[b], 2e-5 * (ref[b] + 1e-2) + 1e-7);
		}
		/* Parseval: sum |X_k|^2 = n sum (w x)^2, so the bands sum to the tapered mean
		 * square over the taper's, or the plain mean square without a taper. */
		{
			double num = 0, den = 0;

			for (size_t t = 0; t < n; t++) {
				double w = bl->taper == LG_TAPER_HANN ?
						   0.5 - 0.5 * cos(2 * M_PI * (double)t / n) : 1.0;
				double v = w * x[i * stride + t];

				num += v * v;
				den += w * w;
			}
			ms = num / den;
		}
		if (bl->edge[0] == 0 && bl->edge[LG_FEAT_BANDS] == 1)
			CHECK_NEAR(tot, ms, 1e-9 * ms);
		/* One window at a time gives the batch's rows: with FFTW bit for bit (a batch
		 * goes through the one window's plan), with GEMM within the rounding of a
		 * product of another shape. */
		CHECK_EQ(lg_features_rows(fx, x + i * stride, 1, n, n, one), 0);
		for (int k = 0; k < LG_FEAT_N; k++)
			if (method == LG_SPECTRUM_FFTW)
				CHECK_EQ(memcmp(&one[k], &row[k], sizeof(float)), 0);
			else
				CHECK_NEAR(one[k], row[k], 1e-4 * (1 + fabs(row[k])));
	}
	printf("bands %s %s n=%zu: %d failed so far\n", mname,
	       bl->taper == LG_TAPER_HANN ? "hann" : "rect", n, lgt_failures);
	lg_features_free(fx);
	free(x);
	free(rows);
}

/* Shaft orders: a known harmonic series, and machine-like windows against the
 * double-precision reference. */
static void orders(enum lg_spectrum_method method)
{
	enum { n = 2048 };
	static float x[n];
	float row[LG_FEAT_N];
	double ref[4];
	const double amp[11] = { 0, 1.0, 0.5, 0.25, 0, 0.1, 0, 0.05 };
	const double fl = 1e-6;
	struct lg_features *fx;
	struct lg_bands bl;

	lg_bands_default(&bl);
	CHECK_EQ(lg_features_new(&fx, &bl, method, 1), 0);
	/* 1x on bin 5 (24.4 Hz at 10 kHz): each order's line is 3 bins wide under the Hann
	 * taper and holds A^2/2; 4..10 hold 0.1^2/2 + 0.05^2/2. */
	for (int t = 0; t < n; t++) {
		double v = 0;

		for (int h = 1; h <= 10; h++)
			v += amp[h] * sin(2 * M_PI * (double)((5 * h * t) % n) / n + h);
		x[t] = (float)v;
	}
	CHECK_EQ(lg_features_rows(fx, x, 1, n, n, row), 0);
	CHECK_NEAR(row[LG_FEAT_ORDER1], 5.0 / 1024, 1e-7);
	CHECK_NEAR(row[LG_FEAT_ORDER2_DB], 10 * log10((0.125 + fl) / (0.5 + fl)), 1e-3);
	CHECK_NEAR(row[LG_FEAT_ORDER3_DB], 10 * log10((0.03125 + fl) / (0.5 + fl)), 1e-3);
	CHECK_NEAR(row[LG_FEAT_ORDER4_10_DB], 10 * log10((0.005 + 0.00125 + fl) / (0.5 + fl)),
		   1e-3);
	lg_orders_reference(&bl, x, n, ref);
	CHECK_NEAR(ref[1], 10 * log10((0.125 + fl) / (0.5 + fl)), 1e-5);
	/* Simulated machines at their various speeds: against the reference. */
	for (unsigned m = 0; m < 12; m++) {
		struct lg_signal s;

		lg_signal_init(&s, 5, m, 10000);
		if (m % 3)
			lg_signal_set_fault(&s, m % 3 == 1 ? LG_FAULT_LOOSENESS :
							     LG_FAULT_IMBALANCE, 0.5, 0);
		lg_signal_skip(&s, m * 300000);
		lg_signal_fill(&s, x, n);
		CHECK_EQ(lg_features_rows(fx, x, 1, n, n, row), 0);
		lg_orders_reference(&bl, x, n, ref);
		CHECK_NEAR(row[LG_FEAT_ORDER1], ref[0], 1e-6);
		for (int i = 1; i < 4; i++)
			CHECK_NEAR(row[LG_FEAT_ORDER1 + i], ref[i], 0.01);
		/* 1x of a 14-35 Hz shaft lies in 0.0028..0.0069 of Nyquist. */
		CHECK(row[LG_FEAT_ORDER1] > 0.0025 && row[LG_FEAT_ORDER1] < 0.0075);
	}
	/* Too short to resolve the shaft: the order features are 0, not garbage. */
	CHECK_EQ(lg_features_rows(fx, x, 1, 64, 64, row), 0);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(row[LG_FEAT_ORDER1 + i], 0);
	lg_features_free(fx);
}

static const char usage[] =
	"Usage: test_features [options]\n"
	"\n"
	"Window features against straightforward double-precision references: the time-domain\n"
	"statistics, and the band energies of both spectrum methods (FFTW and sgemm) against an\n"
	"O(n^2) DFT, for every band layout and taper.\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: on stdout a line per band layout, method and window size with the failures so\n"
	"far, then \"test_features: N checks, M failed\".\n"
	LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	struct lg_bands def, oct, lin, linh, part, bad;

	lgt_cli(argc, argv, usage, 0, 0);
	time_features();

	lg_bands_default(&def);
	CHECK_EQ(lg_bands_check(&def), 0);
	CHECK_NEAR(def.edge[1], 1.0 / 128, 0);
	CHECK_NEAR(def.edge[LG_FEAT_BANDS], 1, 0);
	CHECK_EQ(def.taper, LG_TAPER_HANN);
	oct = def;
	oct.taper = LG_TAPER_RECT;
	lin = oct;
	for (int b = 0; b <= LG_FEAT_BANDS; b++)
		lin.edge[b] = b / (double)LG_FEAT_BANDS;
	linh = lin;
	linh.taper = LG_TAPER_HANN;
	/* A layout that skips DC and stops below Nyquist: the bins outside stay out. */
	part = lin;
	part.edge[0] = 0.01;
	part.edge[LG_FEAT_BANDS] = 0.95;
	bad = def;
	bad.edge[3] = bad.edge[2];
	CHECK(lg_bands_check(&bad) < 0);
	bad = def;
	bad.edge[LG_FEAT_BANDS] = 1.5;
	CHECK(lg_bands_check(&bad) < 0);
	bad = def;
	bad.floor = 0;
	CHECK(lg_bands_check(&bad) < 0);
	bad = def;
	bad.taper = (enum lg_taper)7;
	CHECK(lg_bands_check(&bad) < 0);
	{
		struct lg_features *fx;

		CHECK(lg_features_new(&fx, &bad, LG_SPECTRUM_FFTW, 4) < 0);
		/* GEMM keeps its basis small: a window over its limit is refused. */
		CHECK_EQ(lg_features_new(&fx, NULL, LG_SPECTRUM_GEMM, 4), 0);
		CHECK(lg_features_prepare(fx, LG_SPECTRUM_GEMM_MAX_N * 2) < 0);
		lg_features_free(fx);
	}

	for (int m = 0; m < 2; m++) {
		enum lg_spectrum_method method = m ? LG_SPECTRUM_GEMM : LG_SPECTRUM_FFTW;

		bands(method, &def, 256);
		bands(method, &oct, 256);
		bands(method, &def, 1024);
		bands(method, &lin, 250); /* not a power of two, and n/2 not a power either */
		bands(method, &linh, 250);
		bands(method, &lin, 64);
		bands(method, &def, 8); /* shorter than the layout: some bands hold no bin */
		bands(method, &oct, 8);
	}
	orders(LG_SPECTRUM_FFTW);
	orders(LG_SPECTRUM_GEMM);
	bad = def;
	bad.order_hi = bad.order_lo;
	CHECK(lg_bands_check(&bad) < 0);
	/* The sine and constant checks above assume a layout from DC to Nyquist. */
	{
		enum { n = 200 };
		float x[n], row[LG_FEAT_N];
		double ref[LG_FEAT_BANDS];
		struct lg_features *fx[2];

		for (int m = 0; m < 2; m++)
			CHECK_EQ(lg_features_new(&fx[m], &part, m ? LG_SPECTRUM_GEMM :
						 LG_SPECTRUM_FFTW, 1), 0);
		for (int t = 0; t < n; t++)
			x[t] = (float)(1.0 + urand() + sin(2 * M_PI * 99.0 * t / n));
		lg_bands_reference(&part, x, n, ref);
		CHECK(ref[LG_FEAT_BANDS - 1] < 0.05); /* bin 99 of 100 (0.5) is above 0.95 */
		for (int m = 0; m < 2; m++) {
			CHECK_EQ(lg_features_rows(fx[m], x, 1, n, n, row), 0);
			for (int b = 0; b < LG_FEAT_BANDS; b++)
				CHECK_NEAR(energy_of(row, b, &part), ref[b],
					   2e-5 * (ref[b] + 1e-2) + 1e-7);
			lg_features_free(fx[m]);
		}
	}
	return lgt_done("test_features");
}
