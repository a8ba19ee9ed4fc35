// SPDX-License-Identifier: MIT
#include <linegate/features.h>

#include <math.h>

const char *const lg_feature_names[LG_FEAT_N] = {
	"mean", "rms", "peak", "crest", "skewness", "kurtosis",
};

void lg_features_row(const float *x, size_t n, size_t stride, float *row)
{
	double sum = 0, sq = 0, peak = 0, m2 = 0, m3 = 0, m4 = 0, mean, var;

	if (!n) {
		for (int i = 0; i < LG_FEAT_N; i++)
			row[i] = 0;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		double v = x[i * stride];

		sum += v;
		sq += v * v;
		if (fabs(v) > peak)
			peak = fabs(v);
	}
	mean = sum / n;
	/* Central moments in a second pass: one pass with raw moments loses every digit
	 * of the kurtosis when the mean is large against the spread. */
	for (size_t i = 0; i < n; i++) {
		double c = x[i * stride] - mean, c2 = c * c;

		m2 += c2;
		m3 += c2 * c;
		m4 += c2 * c2;
	}
	var = m2 / n;
	row[LG_FEAT_MEAN] = (float)mean;
	row[LG_FEAT_RMS] = (float)sqrt(sq / n);
	row[LG_FEAT_PEAK] = (float)peak;
	row[LG_FEAT_CREST] = sq > 0 ? (float)(peak / sqrt(sq / n)) : 0.0f;
	/* A variance at rounding level of the mean is a constant signal. */
	if (var > 1e-12 * (mean * mean + 1e-30)) {
		row[LG_FEAT_SKEW] = (float)(m3 / n / pow(var, 1.5));
		row[LG_FEAT_KURTOSIS] = (float)(m4 / n / (var * var));
	} else {
		row[LG_FEAT_SKEW] = 0;
		row[LG_FEAT_KURTOSIS] = 0;
	}
}
