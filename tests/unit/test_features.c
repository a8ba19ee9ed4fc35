// SPDX-License-Identifier: MIT
/* Window features against a straightforward double-precision reference. */
#include <linegate/features.h>

#include <math.h>
#include <stdint.h>

#include "../lgtest.h"

static void reference(const float *x, size_t n, double out[LG_FEAT_N])
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

int main(void)
{
	enum { N = 4096 };
	static float x[N], inter[2 * N];
	float row[LG_FEAT_N];
	double ref[LG_FEAT_N];
	uint64_t s = 88172645463325252ull;

	/* A pure sine over whole periods: RMS A/sqrt2, crest sqrt2, skew 0, kurtosis 1.5. */
	for (int i = 0; i < N; i++)
		x[i] = (float)(3.0 * sin(2 * M_PI * 16 * i / N));
	lg_features_row(x, N, 1, row);
	CHECK_NEAR(row[LG_FEAT_MEAN], 0, 1e-5);
	CHECK_NEAR(row[LG_FEAT_RMS], 3 / sqrt(2), 1e-5);
	CHECK_NEAR(row[LG_FEAT_PEAK], 3, 1e-5);
	CHECK_NEAR(row[LG_FEAT_CREST], sqrt(2), 1e-5);
	CHECK_NEAR(row[LG_FEAT_SKEW], 0, 1e-4);
	CHECK_NEAR(row[LG_FEAT_KURTOSIS], 1.5, 1e-4);

	/* A constant: its spread is zero, so skewness and kurtosis are defined as 0. */
	for (int i = 0; i < N; i++)
		x[i] = 2.5f;
	lg_features_row(x, N, 1, row);
	CHECK_NEAR(row[LG_FEAT_MEAN], 2.5, 1e-6);
	CHECK_NEAR(row[LG_FEAT_RMS], 2.5, 1e-6);
	CHECK_NEAR(row[LG_FEAT_CREST], 1, 1e-6);
	CHECK_EQ(row[LG_FEAT_SKEW], 0);
	CHECK_EQ(row[LG_FEAT_KURTOSIS], 0);
	for (int i = 0; i < N; i++)
		x[i] = 0;
	lg_features_row(x, N, 1, row);
	for (int k = 0; k < LG_FEAT_N; k++)
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
		lg_features_row(x, N, 1, row);
		for (int k = 0; k < LG_FEAT_N; k++)
			CHECK_NEAR(row[k], ref[k], 1e-4 * (1 + fabs(ref[k])));
		lg_features_row(inter, N, 2, row);
		for (int k = 0; k < LG_FEAT_N; k++)
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
	lg_features_row(x, N, 1, row);
	CHECK_NEAR(row[LG_FEAT_KURTOSIS], 3.0, 0.3);
	return lgt_done("test_features");
}
