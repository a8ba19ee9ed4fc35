// SPDX-License-Identifier: MIT
/*
 * The detectors: Mahalanobis and PCA against numpy references (tests/fixtures/detector,
 * made by gen_reference.py), the sgemm path against the definition, files, federated
 * merges against training on the whole, clipping and the DP noise's scale, and a
 * first look at quality on simulated machines (tests/unit/test_quality.c has the rest).
 */
#include <linegate/detector.h>
#include <linegate/features.h>
#include <linegate/signal.h>

#include <math.h>
#include <stdlib.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

void openblas_set_num_threads(int n);

#define WIN 256
#define FD 6 /* features in the numpy fixture */

static const char *fixture_dir(void)
{
	const char *src = getenv("LG_SOURCE");

	return src ? src : "..";
}

/* n numbers from tests/fixtures/detector/name; returns how many were read. */
static size_t load_txt(const char *name, double *out, size_t max)
{
	char path[512];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/fixtures/detector/%s", fixture_dir(), name);
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "cannot open %s\n", path);
		return 0;
	}
	while (n < max && fscanf(f, "%lf", &out[n]) == 1)
		n++;
	fclose(f);
	return n;
}

static double rel(double a, double b)
{
	return fabs(a - b) / fmax(fabs(b), 1e-300);
}

static void check_scores(struct lg_detector *det, const float *rows, size_t n, const double *ref,
			 const char *what)
{
	float s[256];
	double worst = 0;

	for (size_t i = 0; i < n; i += 256) {
		size_t m = n - i < 256 ? n - i : 256;

		lg_detector_score(det, rows + i * det->d, m, s);
		for (size_t j = 0; j < m; j++) {
			double e = fabs(s[j] - ref[i + j]) / (fabs(ref[i + j]) + 1e-2);

			CHECK(e < 1e-4);
			worst = fmax(worst, e);
		}
	}
	printf("%s: %zu scores, worst relative difference to numpy %.2e\n", what, n, worst);
}

static void numpy_reference(void)
{
	enum { NTR = 600, NTE = 200 };
	static double trd[NTR * FD], ted[NTE * FD], mean[FD], cov[FD * FD], ref[NTR], mom[FD * FD],
		mu[FD];
	static float train[NTR * FD], test[NTE * FD];
	const double shift[FD] = { 10, -3, 0.5, 100, 0, -40 };
	struct lg_stats st, sh;
	struct lg_detector det;
	double k_auto;

	CHECK_EQ(load_txt("train.txt", trd, NTR * FD), NTR * FD);
	CHECK_EQ(load_txt("test.txt", ted, NTE * FD), NTE * FD);
	CHECK_EQ(load_txt("mean.txt", mean, FD), FD);
	CHECK_EQ(load_txt("cov.txt", cov, FD * FD), FD * FD);
	for (size_t i = 0; i < NTR * FD; i++)
		train[i] = (float)trd[i];
	for (size_t i = 0; i < NTE * FD; i++)
		test[i] = (float)ted[i];

	/* Mean and covariance in double, with and without a shift, as numpy has them. */
	CHECK_EQ(lg_stats_init(&st, FD, NULL, 0, NULL), 0);
	CHECK_EQ(lg_stats_init(&sh, FD, shift, 0, NULL), 0);
	lg_stats_add(&st, train, NTR);
	lg_stats_add(&sh, train, NTR);
	for (int pass = 0; pass < 2; pass++) {
		CHECK_EQ(lg_stats_moments(pass ? &sh : &st, mu, mom), 0);
		for (int j = 0; j < FD; j++)
			CHECK(rel(mu[j], mean[j]) < 1e-12);
		for (int j = 0; j < FD * FD; j++)
			CHECK(fabs(mom[j] - cov[j]) < 1e-9 * sqrt(cov[j / FD * (FD + 1)] *
								  cov[j % FD * (FD + 1)]));
	}

	CHECK_EQ(lg_detector_from_stats(&st, LG_DETECTOR_MAHALANOBIS, 0, 256, &det), 0);
	CHECK_EQ(load_txt("maha_train.txt", ref, NTR), NTR);
	check_scores(&det, train, NTR, ref, "mahalanobis, training rows");
	/* The threshold is a quantile of the training scores: the numpy one, 0.99 x 2. */
	{
		double sorted[NTR];

		for (int i = 0; i < NTR; i++)
			sorted[i] = ref[i];
		for (int i = 1; i < NTR; i++)
			for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
				double t = sorted[j];

				sorted[j] = sorted[j - 1];
				sorted[j - 1] = t;
			}
		CHECK_EQ(lg_detector_calibrate(&det, train, NTR, 0.99, 2.0), 0);
		CHECK_NEAR(det.threshold, sorted[(size_t)((NTR - 1) * 0.99)] * 2.0,
			   1e-4 * det.threshold);
	}
	CHECK_EQ(load_txt("maha_test.txt", ref, NTE), NTE);
	check_scores(&det, test, NTE, ref, "mahalanobis, held-out rows");
	lg_detector_free(&det);

	CHECK_EQ(lg_detector_from_stats(&sh, LG_DETECTOR_PCA, 2, 256, &det), 0);
	CHECK_EQ(det.k, 2);
	CHECK_EQ(load_txt("pca2_train.txt", ref, NTR), NTR);
	check_scores(&det, train, NTR, ref, "pca k=2, training rows");
	CHECK_EQ(load_txt("pca2_test.txt", ref, NTE), NTE);
	check_scores(&det, test, NTE, ref, "pca k=2, held-out rows");
	lg_detector_free(&det);

	CHECK_EQ(lg_detector_from_stats(&st, LG_DETECTOR_PCA, 0, 256, &det), 0);
	CHECK_EQ(load_txt("pcaauto_k.txt", &k_auto, 1), 1);
	CHECK_EQ(det.k, (size_t)k_auto);
	CHECK_EQ(load_txt("pcaauto_test.txt", ref, NTE), NTE);
	check_scores(&det, test, NTE, ref, "pca k=auto, held-out rows");
	/* Save, load, score the same. */
	CHECK_EQ(lg_detector_calibrate(&det, train, NTR, 0.999, 3.0), 0);
	CHECK_EQ(lg_detector_save(&det, "test_detector_pca.json"), 0);
	{
		struct lg_detector d2;
		char err[256];
		float s1[8], s2[8];

		CHECK_EQ(lg_detector_load("test_detector_pca.json", 8, &d2, err, sizeof(err)), 0);
		CHECK_EQ(d2.kind, LG_DETECTOR_PCA);
		CHECK_EQ(d2.k, det.k);
		lg_detector_score(&det, test, 8, s1);
		lg_detector_score(&d2, test, 8, s2);
		for (int i = 0; i < 8; i++)
			CHECK_NEAR(s1[i], s2[i], 1e-5 * s1[i]);
		CHECK_NEAR(d2.threshold, det.threshold, 1e-6 * det.threshold);
		lg_detector_free(&d2);
	}
	lg_detector_free(&det);
	CHECK(lg_detector_from_stats(&st, LG_DETECTOR_PCA, FD, 256, &det) < 0);
	lg_stats_free(&st);
	lg_stats_free(&sh);
}

/* Two servers' statistics merged equal one server's over all rows. */
static void federated(void)
{
	enum { N = 5000, D = LG_FEAT_N };
	static float rows[N * D];
	double shift[D], m1[D], m2[D], c1[D * D], c2[D * D];
	struct lg_stats whole, a, b, a2, bad;
	uint64_t s = 99;
	char err[256];

	for (int j = 0; j < D; j++)
		shift[j] = j * 3.0 - 10;
	for (int i = 0; i < N; i++)
		for (int j = 0; j < D; j++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			rows[i * D + j] = (float)(shift[j] +
						  (double)(s >> 40) / (1 << 24) * (j + 1) +
						  (j ? rows[i * D + j - 1] * 0.5 : 0));
		}
	CHECK_EQ(lg_stats_init(&whole, D, shift, 0, NULL), 0);
	CHECK_EQ(lg_stats_init(&a, D, shift, 0, NULL), 0);
	CHECK_EQ(lg_stats_init(&b, D, shift, 0, NULL), 0);
	/* what a row means (trial s20 H3): without it a file is not written to be read */
	CHECK_EQ(lg_stats_save(&b, "test_detector_stats_b.json"), 0);
	CHECK(lg_stats_load("test_detector_stats_b.json", &a2, err, sizeof(err)) < 0);
	CHECK_STR_CONTAINS(err, "statistics made before");
	CHECK(lg_stats_set_meta(&a, 10000, 256, LG_LAYOUT_BANDS96_TIME5) < 0); /* not 18 wide */
	CHECK(lg_stats_set_meta(&a, 0, 256, LG_LAYOUT_BASIC) < 0);
	CHECK_EQ(lg_stats_set_meta(&whole, 10000, 256, LG_LAYOUT_BASIC), 0);
	CHECK_EQ(lg_stats_set_meta(&a, 10000, 256, LG_LAYOUT_BASIC), 0);
	CHECK_EQ(lg_stats_set_meta(&b, 10000, 256, LG_LAYOUT_BASIC), 0);
	lg_stats_add(&whole, rows, N);
	lg_stats_add(&a, rows, 1777);
	lg_stats_add(&b, rows + 1777 * D, N - 1777);
	/* One half travels through its file, as it would between servers. */
	CHECK_EQ(lg_stats_save(&b, "test_detector_stats_b.json"), 0);
	lg_stats_free(&b);
	CHECK_EQ(lg_stats_load("test_detector_stats_b.json", &b, err, sizeof(err)), 0);
	CHECK_EQ(lg_stats_save(&a, "test_detector_stats_a.json"), 0);
	CHECK_EQ(lg_stats_load("test_detector_stats_a.json", &a2, err, sizeof(err)), 0);
	CHECK(!memcmp(a.sxx, a2.sxx, D * D * sizeof(double))); /* files keep every bit */
	CHECK(!memcmp(a.sum, a2.sum, D * sizeof(double)));
	CHECK(a2.sample_rate == 10000 && a2.window == 256 && a2.layout == LG_LAYOUT_BASIC);
	CHECK_EQ(lg_stats_merge(&a, &b), 0);
	CHECK_NEAR(a.n, N, 0);
	CHECK_EQ(lg_stats_moments(&whole, m1, c1), 0);
	CHECK_EQ(lg_stats_moments(&a, m2, c2), 0);
	for (int j = 0; j < D; j++)
		CHECK(rel(m2[j], m1[j]) < 1e-9);
	for (int j = 0; j < D * D; j++)
		CHECK(fabs(c2[j] - c1[j]) < 1e-9 * sqrt(c1[j / D * (D + 1)] * c1[j % D * (D + 1)]));
	{
		struct lg_detector dw, dm;
		float sw[64], sm[64];

		CHECK_EQ(lg_detector_from_stats(&whole, LG_DETECTOR_MAHALANOBIS, 0, 64, &dw), 0);
		CHECK_EQ(lg_detector_from_stats(&a, LG_DETECTOR_MAHALANOBIS, 0, 64, &dm), 0);
		lg_detector_score(&dw, rows, 64, sw);
		lg_detector_score(&dm, rows, 64, sm);
		for (int i = 0; i < 64; i++)
			CHECK_NEAR(sw[i], sm[i], 1e-4 * (sw[i] + 1e-3));
		lg_detector_free(&dw);
		lg_detector_free(&dm);
	}
	/* Statistics of another layout, shift, clip, sample rate or window do not merge. */
	CHECK_EQ(lg_stats_init(&bad, D, NULL, 0, NULL), 0);
	CHECK_EQ(lg_stats_set_meta(&bad, 10000, 256, LG_LAYOUT_BASIC), 0);
	CHECK(lg_stats_merge(&a, &bad) < 0);
	CHECK_STR_CONTAINS(lg_stats_differ(&a, &bad), "shift");
	lg_stats_free(&bad);
	CHECK_EQ(lg_stats_init(&bad, D, shift, 5.0, NULL), 0);
	CHECK_EQ(lg_stats_set_meta(&bad, 10000, 256, LG_LAYOUT_BASIC), 0);
	CHECK(lg_stats_merge(&a, &bad) < 0);
	CHECK_STR_CONTAINS(lg_stats_differ(&a, &bad), "clip");
	lg_stats_free(&bad);
	CHECK_EQ(lg_stats_init(&bad, D, shift, 0, NULL), 0);
	CHECK_EQ(lg_stats_set_meta(&bad, 12800, 256, LG_LAYOUT_BASIC), 0);
	CHECK(lg_stats_merge(&a, &bad) < 0);
	CHECK_STR_CONTAINS(lg_stats_differ(&a, &bad), "sample rate");
	CHECK_EQ(lg_stats_set_meta(&bad, 10000, 512, LG_LAYOUT_BASIC), 0);
	CHECK(lg_stats_merge(&a, &bad) < 0);
	CHECK_STR_CONTAINS(lg_stats_differ(&a, &bad), "window");
	CHECK_EQ(lg_stats_set_meta(&bad, 10000, 256, LG_LAYOUT_BASIC), 0);
	CHECK(lg_stats_differ(&a, &bad) == NULL);
	lg_stats_free(&bad);
	CHECK(lg_stats_load("/nonexistent/stats.json", &bad, err, sizeof(err)) < 0);
	CHECK_STR_CONTAINS(err, "/nonexistent/stats.json");
	lg_stats_free(&whole);
	lg_stats_free(&a);
	lg_stats_free(&a2);
	lg_stats_free(&b);
}

/* Clipping bounds a row's contribution; the noise has the documented scale. */
static void privacy(void)
{
	enum { D = 14, DRAWS = 300 };
	const double eps = 0.5, delta = 1e-5, clip = 2.0;
	const float big[3] = { 6, 8, 0 }; /* norm 10 */
	double sigma = lg_dp_sigma(eps, delta, clip), sum = 0, sq = 0, m4 = 0, cnt = 0;
	struct lg_stats st, st2;

	/* sqrt(1 + 4 + 16) * sqrt(2 ln(1.25e5)) / 0.5 */
	CHECK_NEAR(sigma, sqrt(21.0) * sqrt(2 * log(1.25e5)) / 0.5, 1e-12);
	CHECK_NEAR(sigma, 44.403, 0.001);

	CHECK_EQ(lg_stats_init(&st, 3, NULL, clip, NULL), 0);
	lg_stats_add(&st, big, 1);
	CHECK_NEAR(st.sum[0], 1.2, 1e-12);
	CHECK_NEAR(st.sum[1], 1.6, 1e-12);
	CHECK_NEAR(st.sxx[0] + st.sxx[4] + st.sxx[8], clip * clip, 1e-12);
	CHECK(lg_stats_add_noise(&st, 1.5, delta, 1) < 0); /* outside the mechanism's range */
	lg_stats_free(&st);
	CHECK_EQ(lg_stats_init(&st, 3, NULL, 0, NULL), 0);
	CHECK(lg_stats_add_noise(&st, eps, delta, 1) < 0); /* no clip, no sensitivity bound */
	lg_stats_free(&st);

	for (uint64_t seed = 1; seed <= DRAWS; seed++) {
		CHECK_EQ(lg_stats_init(&st, D, NULL, clip, NULL), 0);
		CHECK_EQ(lg_stats_add_noise(&st, eps, delta, seed), 0);
		CHECK_NEAR(st.dp_sigma, sigma, 1e-12);
		for (int i = -1; i < D; i++) {
			double v = i < 0 ? st.n : st.sum[i];

			sum += v, sq += v * v, m4 += v * v * v * v, cnt++;
		}
		for (int j = 0; j < D; j++)
			for (int k = j; k < D; k++) {
				double v = st.sxx[j * D + k];

				CHECK(st.sxx[k * D + j] == v);
				sum += v, sq += v * v, m4 += v * v * v * v, cnt++;
			}
		lg_stats_free(&st);
	}
	{
		double mean = sum / cnt, sd = sqrt(sq / cnt - mean * mean);
		double kurt = m4 / cnt / (sd * sd * sd * sd);

		printf("dp noise: %.0f draws, mean %.3f (sigma/sqrt(n) %.3f), sd %.3f "
		       "(sigma %.3f), kurtosis %.3f\n", cnt, mean, sigma / sqrt(cnt), sd, sigma, kurt);
		CHECK(fabs(mean) < 4 * sigma / sqrt(cnt));
		CHECK(fabs(sd / sigma - 1) < 0.02); /* the sd estimate's own error is 0.4% */
		CHECK(fabs(kurt - 3) < 0.15);
	}
	/* Noise from two servers adds in variance when merged. */
	CHECK_EQ(lg_stats_init(&st, D, NULL, clip, NULL), 0);
	CHECK_EQ(lg_stats_init(&st2, D, NULL, clip, NULL), 0);
	CHECK_EQ(lg_stats_add_noise(&st, eps, delta, 7), 0);
	CHECK_EQ(lg_stats_add_noise(&st2, eps, delta, 8), 0);
	CHECK_EQ(lg_stats_merge(&st, &st2), 0);
	CHECK_NEAR(st.dp_sigma, sigma * sqrt(2), 1e-9);
	lg_stats_free(&st);
	lg_stats_free(&st2);
}

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
			lg_features_rows(fx, buf, 1, WIN, WIN,
					 rows + ((size_t)m * per + w) * LG_FEAT_N);
		}
	}
	lg_features_free(fx);
}

/*
 * "retrain" (what linegate-train --base needs to fit a device's detector again): written and
 * read back bit for bit; a wrong one refused with its name, as the data plane's fields are.
 */
static void retrain_field(struct lg_detector *det, char *err, size_t errlen)
{
	static const char *const bad[] = {
		"{}", "[]", "{\"pooled_g\":\"4\"}", "{\"pooled_g\":4,\"other\":1}",
		"{\"setpoints_hz\":[]}", "{\"setpoints_hz\":[20,0.001]}", "{\"setpoints_hz\":20}",
		"{\"setpoints_hz\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}",
	};
	struct lg_detector d2;
	char *text = NULL, *spliced;
	size_t len = 0;
	FILE *f;

	det->refit.has_g = 1;
	det->refit.g = 4.588529524803164;
	det->refit.nsp = 3;
	det->refit.sp[0] = 26.068332488812516;
	det->refit.sp[1] = 0.01;
	det->refit.sp[2] = 1e5;
	CHECK_EQ(lg_detector_save(det, "test_detector_refit.json"), 0);
	memset(&det->refit, 0, sizeof(det->refit));
	CHECK_EQ(lg_detector_load("test_detector_refit.json", 8, &d2, err, errlen), 0);
	CHECK_EQ(d2.refit.has_g, 1);
	CHECK(d2.refit.g == 4.588529524803164);
	CHECK_EQ(d2.refit.nsp, 3);
	CHECK(d2.refit.sp[0] == 26.068332488812516 && d2.refit.sp[1] == 0.01 &&
	      d2.refit.sp[2] == 1e5);
	lg_detector_free(&d2);
	/* the file with each wrong "retrain" in place of its own */
	f = fopen("test_detector_model.json", "r");
	CHECK(f != NULL);
	if (!f)
		return;
	text = calloc(1 << 20, 1);
	spliced = calloc((1 << 20) + 256, 1);
	if (text && spliced)
		len = fread(text, 1, (1 << 20) - 1, f);
	fclose(f);
	CHECK(len > 0 && len < (1 << 20) - 1 && text[0] == '{');
	for (size_t i = 0; len && i < sizeof(bad) / sizeof(bad[0]); i++) {
		int n = snprintf(spliced, (1 << 20) + 256, "{\"retrain\":%s,%s", bad[i], text + 1);

		CHECK(lg_detector_load_mem(spliced, (size_t)n, "m.json", 8, &d2, err, errlen) < 0);
		CHECK_STR_CONTAINS(err, "m.json: 'retrain' must be {\"pooled_g\": a number");
	}
	/* either alone is a retrain field */
	if (len) {
		int n = snprintf(spliced, (1 << 20) + 256, "{\"retrain\":{\"pooled_g\":-0.5},%s",
				 text + 1);

		CHECK_EQ(lg_detector_load_mem(spliced, (size_t)n, "m.json", 8, &d2, err, errlen), 0);
		CHECK(d2.refit.has_g && d2.refit.g == -0.5 && !d2.refit.nsp);
		lg_detector_free(&d2);
	}
	free(text);
	free(spliced);
}

static void machines(void)
{
	enum { M = 16, PER = 200, N = M * PER };
	static float train[N * LG_FEAT_N], test[N * LG_FEAT_N], scores[N];
	struct lg_detector det;
	char err[256];
	unsigned flagged;

	windows(M, PER, 1000, LG_FAULT_NONE, train);
	CHECK_EQ(lg_detector_fit(train, N, LG_FEAT_N, 0.999, 3.0, 256, &det), 0);

	/* The sgemm path against the definition, |W (x - mean)|^2 / rank, in double. */
	for (size_t i = 0; i < N; i += 256)
		lg_detector_score(&det, train + i * LG_FEAT_N, N - i < 256 ? N - i : 256,
				  scores + i);
	for (size_t i = 0; i < N; i += 97) {
		double s = 0;

		for (int k = 0; k < LG_FEAT_N; k++) {
			double y = 0;

			for (int j = 0; j < LG_FEAT_N; j++)
				y += (double)det.w[k * LG_FEAT_N + j] *
				     (train[i * LG_FEAT_N + j] - det.mean[j]);
			s += y * y;
		}
		CHECK_NEAR(scores[i], s / det.denom, 1e-3 * (1 + s));
	}
	/* Whitened training data has unit mean score: E|z|^2 / rank = 1. 256-sample windows
	 * cannot resolve the shaft orders: those 4 features are constant and drop out. */
	CHECK_NEAR(det.denom, LG_FEAT_N - 4, 0);
	{
		double mean = 0;

		for (size_t i = 0; i < N; i++)
			mean += scores[i];
		CHECK_NEAR(mean / N, 1.0, 0.01);
	}

	/* Save, load, and score identically; the band layout travels with the model. */
	det.window = WIN;
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
		CHECK(lg_bands_equal(&d2.bands, &det.bands));
		CHECK_EQ(d2.window, WIN);
		CHECK(d2.fx != NULL);
		/* no "retrain" (every file before it): nothing for a retrain */
		CHECK_EQ(d2.refit.has_g, 0);
		CHECK_EQ(d2.refit.nsp, 0);
		lg_detector_free(&d2);
	}
	retrain_field(&det, err, sizeof(err));
	CHECK(lg_detector_load("/nonexistent/model.json", 8, &(struct lg_detector){ 0 }, err,
			       sizeof(err)) < 0);
	CHECK_STR_CONTAINS(err, "/nonexistent/model.json");
	{
		FILE *f = fopen("test_detector_bad.json", "w");

		CHECK(f != NULL);
		fputs("{\"format\":\"linegate-detector\",\"detector\":\"mahalanobis\","
		      "\"features\":1,\"threshold\":1,\"mean\":[0],\"weights\":[1],"
		      "\"bands\":{\"edges\":[0,0.1,0.1,0.3,0.4,0.5,0.6,0.7,1],\"floor\":1e-6}}",
		      f);
		fclose(f);
		CHECK(lg_detector_load("test_detector_bad.json", 8, &(struct lg_detector){ 0 }, err,
				       sizeof(err)) < 0);
		CHECK_STR_CONTAINS(err, "'bands'");
	}

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
}

static const char usage[] =
	"Usage: test_detector [options]\n"
	"\n"
	"The detectors: Mahalanobis and PCA scores against numpy references\n"
	"(tests/fixtures/detector, made by gen_reference.py), the sgemm path against the\n"
	"definition, model files, federated merges against training on the whole, clipping and\n"
	"the differential-privacy noise's scale, and a first look at quality on simulated\n"
	"machines.\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Environment:\n"
	"  LG_SOURCE     the source tree, where tests/fixtures is read\n"
	"                (default: ..)\n"
	"\n"
	"Output: on stdout the worst relative difference to numpy per detector, the noise's\n"
	"statistics, healthy and bearing-fault windows flagged, then \"test_detector: N checks,\n"
	"M failed\".\n"
	LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	lgt_cli(argc, argv, usage, 0, 0);
	openblas_set_num_threads(1);
	numpy_reference();
	federated();
	privacy();
	machines();
	return lgt_done("test_detector");
}
