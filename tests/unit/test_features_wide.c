// SPDX-License-Identifier: MIT
/*
 * The "bands96-time5" feature layout (features.h, issue 8): line2 windows against
 * bench/quality_proto.py's features (tests/fixtures/wide, made by gen_wide.py), each within
 * 1e-4, and the prototype's self-test known answers (band edges, a sine's power, kurtosis and
 * crest, the fs/8 high-pass) in C.
 */
#include <linegate/detector.h>
#include <linegate/features.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../lgt_cli.h"
#include "../lgtest.h"

#define W 2048

static void against_prototype(void)
{
	FILE *fw = lgt_open_fixture("wide/windows.txt"),
	     *ff = lgt_open_fixture("wide/features.txt");
	struct lg_features *fx = NULL;
	unsigned nwin = 0, n = 0;
	double fs = 0, worst = 0;
	size_t d;
	float *x, *rows;

	CHECK(fw && ff);
	if (!fw || !ff)
		goto out_files;
	CHECK(fscanf(fw, "%u %u %lf", &nwin, &n, &fs) == 3);
	CHECK_EQ(n, W);
	CHECK(nwin >= 1 && nwin <= 16);
	if (n != W || nwin < 1 || nwin > 16)
		goto out_files;
	d = lg_features_width(LG_LAYOUT_BANDS96_TIME5, n);
	CHECK_EQ(d, 77);
	x = calloc((size_t)nwin * n, sizeof(float));
	rows = calloc((size_t)nwin * d, sizeof(float));
	for (size_t i = 0; x && i < (size_t)nwin * n; i++)
		CHECK(fscanf(fw, "%f", &x[i]) == 1);
	CHECK_EQ(lg_features_new_layout(&fx, LG_LAYOUT_BANDS96_TIME5, NULL, LG_SPECTRUM_FFTW, 4),
		 0);
	CHECK_EQ(lg_features_rows(fx, x, nwin, n, n, rows), 0);
	for (size_t i = 0; i < (size_t)nwin * d; i++) {
		double want = NAN;

		CHECK(fscanf(ff, "%lf", &want) == 1);
		if (fabs(rows[i] - want) > worst)
			worst = fabs(rows[i] - want);
		if (!(fabs(rows[i] - want) <= 1e-4))
			fprintf(stderr, "window %zu feature %zu: %.7g, prototype %.7g\n", i / d,
				i % d, (double)rows[i], want);
		CHECK_NEAR(rows[i], want, 1e-4);
	}
	printf("%u line2 windows at %g Hz: worst difference to quality_proto.py %.3g\n", nwin,
	       fs, worst);
	lg_features_free(fx);
	free(x);
	free(rows);
out_files:
	if (fw)
		fclose(fw);
	if (ff)
		fclose(ff);
}

/* quality_proto.py --self-test's feature checks, in C. */
static void known_answers(void)
{
	size_t e[LG_WIDE_NBANDS + 1], nb = lg_features_wide_bands(W, e), d = nb + LG_WIDE_TIME_N;
	struct lg_features *fx = NULL, *basic = NULL;
	float x[W], row[LG_FEAT_ROW_MAX];
	double sum = 0;
	char name[32];

	CHECK_EQ(nb, 72);
	CHECK_EQ(e[0], 1);
	CHECK_EQ(e[nb], W / 2);
	for (size_t b = 0; b < nb; b++)
		CHECK(e[b + 1] > e[b]);
	CHECK_EQ(e[1], 2); /* single bins at the bottom */
	CHECK_EQ(lg_features_width(LG_LAYOUT_BASIC, W), LG_FEAT_N);
	CHECK_EQ(lg_features_width(LG_LAYOUT_BANDS96_TIME5, 8), 0);
	CHECK_EQ(lg_features_width(LG_LAYOUT_BANDS96_TIME5, 2047), 0);
	CHECK(lg_features_width(LG_LAYOUT_BANDS96_TIME5, 65536) <= LG_FEAT_ROW_MAX);
	lg_features_name(LG_LAYOUT_BANDS96_TIME5, W, 3, name, sizeof(name));
	CHECK_STR(name, "wband3");
	lg_features_name(LG_LAYOUT_BANDS96_TIME5, W, 72 + 2, name, sizeof(name));
	CHECK_STR(name, "ln_kurtosis_hp");
	CHECK_STR(lg_feat_layout_name(LG_LAYOUT_BANDS96_TIME5), "bands96-time5");
	CHECK_EQ(lg_features_new_layout(&fx, LG_LAYOUT_BANDS96_TIME5, NULL, LG_SPECTRUM_GEMM, 1),
		 -EINVAL);
	CHECK_EQ(lg_features_new_layout(&fx, LG_LAYOUT_BANDS96_TIME5, NULL, LG_SPECTRUM_FFTW, 1),
		 0);
	CHECK(lg_features_layout(fx) == LG_LAYOUT_BANDS96_TIME5);
	CHECK_EQ(lg_features_rows(fx, x, 1, 8, 8, row), -EINVAL);
	/* a sine at bin 100, amplitude 2: its Hann power A^2/4 = 1 lies in the bands */
	for (int t = 0; t < W; t++)
		x[t] = (float)(2.0 * sin(2 * M_PI * 100 * t / W));
	CHECK_EQ(lg_features_rows(fx, x, 1, W, W, row), 0);
	for (size_t b = 0; b < nb; b++)
		sum += pow(10.0, row[b]) - 1e-12;
	CHECK_NEAR(sum, 1.0, 1e-5);
	CHECK_NEAR(row[nb + 0], log10(2.0), 1e-6);          /* mean square 2 */
	CHECK_NEAR(row[nb + 1], log(1.5), 1e-5);            /* kurtosis of a sine */
	CHECK_NEAR(row[nb + 3], log(sqrt(2.0)), 1e-3);      /* crest */
	CHECK(row[nb + 4] < -8);                            /* nothing above fs/8 */
	/* the fs/8 high-pass keeps only a second sine at bin 500: mean square 1/2 */
	for (int t = 0; t < W; t++)
		x[t] += (float)sin(2 * M_PI * 500 * t / W);
	CHECK_EQ(lg_features_rows(fx, x, 1, W, W, row), 0);
	CHECK_NEAR(row[nb + 4], log10(0.5), 1e-6);
	CHECK_NEAR(row[nb + 2], log(1.5), 1e-5);
	/* the basic layout is untouched: same rows as an extractor made the old way */
	{
		float r1[LG_FEAT_N], r2[LG_FEAT_N];
		struct lg_features *old = NULL;

		CHECK_EQ(lg_features_new_layout(&basic, LG_LAYOUT_BASIC, NULL, LG_SPECTRUM_FFTW, 1),
			 0);
		CHECK_EQ(lg_features_new(&old, NULL, LG_SPECTRUM_FFTW, 1), 0);
		lg_features_rows(basic, x, 1, W, W, r1);
		lg_features_rows(old, x, 1, W, W, r2);
		CHECK(!memcmp(r1, r2, sizeof(r1)));
		lg_features_free(old);
	}
	(void)d;
	lg_features_free(fx);
	lg_features_free(basic);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* A model of the wide layout saves "layout" and loads with an extractor of it; a file
 * without "layout" is the basic layout; a wrong width or layout name is refused. */
static void model_file(void)
{
	enum { N = 64 };
	struct lg_detector det, d2;
	struct lg_features *fx = NULL;
	size_t d = lg_features_width(LG_LAYOUT_BANDS96_TIME5, W);
	float *x = malloc(sizeof(float) * W), *rows = malloc(sizeof(float) * N * d), s1, s2;
	char err[512];
	uint64_t r = 7;

	CHECK_EQ(lg_features_new_layout(&fx, LG_LAYOUT_BANDS96_TIME5, NULL, LG_SPECTRUM_FFTW, 1),
		 0);
	for (int i = 0; i < N; i++) {
		for (int t = 0; t < W; t++) {
			r = r * 6364136223846793005ull + 1442695040888963407ull;
			x[t] = (float)sin(2 * M_PI * (20 + i % 5) * t / W) +
			       (float)((double)(r >> 11) / 9007199254740992.0 - 0.5);
		}
		lg_features_rows(fx, x, 1, W, W, rows + (size_t)i * d);
	}
	CHECK_EQ(lg_detector_fit(rows, N, d, 0.99, 1.0, 1, &det), 0);
	det.layout = LG_LAYOUT_BANDS96_TIME5;
	det.window = W;
	CHECK_EQ(lg_detector_save(&det, "test_features_wide_model.json"), 0);
	CHECK_EQ(lg_detector_load("test_features_wide_model.json", 1, &d2, err, sizeof(err)), 0);
	CHECK(d2.layout == LG_LAYOUT_BANDS96_TIME5);
	CHECK_EQ(d2.d, d);
	CHECK(d2.fx && lg_features_layout(d2.fx) == LG_LAYOUT_BANDS96_TIME5);
	lg_detector_score(&det, rows, 1, &s1);
	lg_detector_score(&d2, rows, 1, &s2);
	CHECK_NEAR(s1, s2, 1e-6 * s1);
	lg_detector_free(&d2);
	lg_detector_free(&det);
	write_file("test_features_wide_bad.json",
		   "{\"format\":\"linegate-detector\",\"detector\":\"mahalanobis\","
		   "\"layout\":\"bands96-time5\",\"window\":2048,\"features\":18,"
		   "\"denominator\":1,\"threshold\":1,\"mean\":[],\"weights\":[]}");
	CHECK(lg_detector_load("test_features_wide_bad.json", 1, &d2, err, sizeof(err)) < 0);
	CHECK_STR_CONTAINS(err, "width of the layout");
	write_file("test_features_wide_bad.json",
		   "{\"format\":\"linegate-detector\",\"detector\":\"mahalanobis\","
		   "\"layout\":\"bands200\",\"features\":18}");
	CHECK(lg_detector_load("test_features_wide_bad.json", 1, &d2, err, sizeof(err)) < 0);
	CHECK_STR_CONTAINS(err, "'layout' must be");
	remove("test_features_wide_bad.json");
	remove("test_features_wide_model.json");
	lg_features_free(fx);
	free(x);
	free(rows);
}

static const char usage[] =
	"Usage: test_features_wide [options]\n"
	"\n"
	"The bands96-time5 feature layout against bench/quality_proto.py: line2 windows\n"
	"(tests/fixtures/wide, made by gen_wide.py) within 1e-4 per feature, and the\n"
	"prototype's self-test known answers in C, model files of the layout.\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Environment:\n"
	"  LG_SOURCE     the source tree, where tests/fixtures is read (default: ..)\n"
	"\n"
	"Output: the worst difference to the prototype, then \"test_features_wide: N checks,\n"
	"M failed\".\n"
	LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	lgt_cli(argc, argv, usage, 0, 0);
	known_answers();
	against_prototype();
	model_file();
	return lgt_done("test_features_wide");
}
