// SPDX-License-Identifier: MIT
/* The Mahalanobis detector: its math against a direct double-precision evaluation,
 * and its quality on simulated healthy and faulty machines. */
#include <linegate/detector.h>
#include <linegate/features.h>
#include <linegate/signal.h>

#include <math.h>
#include <stdlib.h>

#include "../lgtest.h"

void openblas_set_num_threads(int n);

#define WIN 256

static void windows(unsigned machines, unsigned per, uint64_t seed, enum lg_fault fault,
		    float *rows)
{
	float buf[WIN];
	struct lg_features *fx;

	if (lg_features_new(&fx, NULL, LG_SPECTRUM_DEFAULT, 1))
		abort();
	for (unsigned m = 0; m < machines; m++) {
		struct lg_signal s;

		lg_signal_init(&s, seed, m, 10000);
		if (fault)
			lg_signal_set_fault(&s, fault, 1.0, 0);
		for (unsigned w = 0; w < per; w++) {
			lg_signal_fill(&s, buf, WIN);
			lg_features_rows(fx, buf, 1, WIN, WIN, rows + ((size_t)m * per + w) * LG_FEAT_N);
		}
	}
	lg_features_free(fx);
}

int main(void)
{
	enum { M = 16, PER = 200, N = M * PER };
	static float train[N * LG_FEAT_N], test[N * LG_FEAT_N], scores[N];
	struct lg_detector det;
	char err[256];
	unsigned flagged;

	openblas_set_num_threads(1);
	windows(M, PER, 1000, LG_FAULT_NONE, train);
	CHECK_EQ(lg_detector_fit(train, N, LG_FEAT_N, 0.999, 3.0, 256, &det), 0);

	/* The sgemm path against the definition, |W (x - mean)|^2 / d, in double. */
	for (size_t i = 0; i < N; i += 256)
		lg_detector_score(&det, train + i * LG_FEAT_N, N - i < 256 ? N - i : 256, scores + i);
	for (size_t i = 0; i < N; i += 97) {
		double s = 0;

		for (int k = 0; k < LG_FEAT_N; k++) {
			double y = 0;

			for (int j = 0; j < LG_FEAT_N; j++)
				y += (double)det.w[k * LG_FEAT_N + j] *
				     (train[i * LG_FEAT_N + j] - det.mean[j]);
			s += y * y;
		}
		CHECK_NEAR(scores[i], s / LG_FEAT_N, 1e-3 * (1 + s));
	}
	/* Whitened training data has unit mean score: E|z|^2 / d = 1. */
	{
		double mean = 0;

		for (size_t i = 0; i < N; i++)
			mean += scores[i];
		CHECK_NEAR(mean / N, 1.0, 0.01);
	}

	/* Save, load, and score identically. */
	CHECK_EQ(lg_detector_save(&det, "test_detector_model.json"), 0);
	{
		struct lg_detector d2;
		float s1[8], s2[8];

		CHECK_EQ(lg_detector_load("test_detector_model.json", 8, &d2, err, sizeof(err)), 0);
		lg_detector_score(&det, train, 8, s1);
		lg_detector_score(&d2, train, 8, s2);
		for (int i = 0; i < 8; i++)
			CHECK_NEAR(s1[i], s2[i], 1e-4 * s1[i]);
		CHECK_NEAR(d2.threshold, det.threshold, 1e-5 * det.threshold);
		lg_detector_free(&d2);
	}
	CHECK(lg_detector_load("/nonexistent/model.json", 8, &(struct lg_detector){ 0 }, err,
			       sizeof(err)) < 0);
	CHECK_STR_CONTAINS(err, "/nonexistent/model.json");

	/* Healthy machines the model never saw: at most 0.1% of windows flagged. */
	windows(M, PER, 77, LG_FAULT_NONE, test);
	flagged = 0;
	for (size_t i = 0; i < N; i += 256) {
		size_t n = N - i < 256 ? N - i : 256;

		lg_detector_score(&det, test + i * LG_FEAT_N, n, scores + i);
	}
	for (size_t i = 0; i < N; i++)
		flagged += scores[i] > det.threshold;
	printf("healthy windows flagged: %u of %d\n", flagged, N);
	CHECK(flagged <= N / 1000);

	/* A bearing defect at full severity is flagged in nearly every window. */
	windows(M, PER, 77, LG_FAULT_BEARING, test);
	flagged = 0;
	for (size_t i = 0; i < N; i += 256) {
		size_t n = N - i < 256 ? N - i : 256;

		lg_detector_score(&det, test + i * LG_FEAT_N, n, scores + i);
	}
	for (size_t i = 0; i < N; i++)
		flagged += scores[i] > det.threshold;
	printf("bearing-fault windows flagged: %u of %d\n", flagged, N);
	CHECK(flagged >= N * 99 / 100);

	lg_detector_free(&det);
	return lgt_done("test_detector");
}
