// SPDX-License-Identifier: MIT
/*
 * The kNN detector (issue 8): a score against one computed by hand (quality_proto.py's
 * self-test case), feature weights, the greedy k-centre cover per channel, the sgemm + row
 * minimum path against the definition in double, every ISA the CPU has bit for bit like the
 * scalar one, NaN rows, model files (round trip bit for bit, refusals), and a detector per
 * channel (by hand, rows by index with their channels, per_channel in the file).
 */
#include <linegate/detector.h>
#include <linegate/features.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lgt_cli.h"
#include "../lgtest.h"

void openblas_set_num_threads(int n);

/* The prototype's self-test: rows (0,0) and (2,2) train; (5,-1) is 3 sd from the nearer. */
static void hand_computed(void)
{
	const float train[] = { 0, 0, 2, 2 }, x[] = { 5, -1, 0, 0 }, w4[] = { 4, 4 };
	double sd = 1.0 + 1e-3, want = sqrt(((3 / sd) * (3 / sd) + (3 / sd) * (3 / sd)) / 2);
	struct lg_detector det;
	float s[2];

	CHECK_EQ(lg_detector_knn_fit(train, 2, 2, 1, NULL, 0, LG_LAYOUT_BASIC, 4, &det), 0);
	CHECK(det.kind == LG_DETECTOR_KNN);
	CHECK_EQ(det.m, 2);
	CHECK_NEAR(det.mean[0], 1.0, 0);
	CHECK_NEAR(det.sd[1], sd, 1e-7);
	lg_detector_score(&det, x, 2, s);
	printf("knn score of (5,-1): %.7f, by hand %.7f\n", (double)s[0], want);
	CHECK_NEAR(s[0], want, 1e-6);
	CHECK_NEAR(s[1], 0.0, 1e-6); /* a kept training row is its own nearest */
	lg_detector_free(&det);
	/* weight 4 on every feature counts each squared distance 4 times: twice the score */
	CHECK_EQ(lg_detector_knn_fit(train, 2, 2, 1, w4, 0, LG_LAYOUT_BASIC, 4, &det), 0);
	lg_detector_score(&det, x, 1, s);
	CHECK_NEAR(s[0], 2 * want, 2e-6);
	lg_detector_free(&det);
	/* refusals */
	CHECK_EQ(lg_detector_knn_fit(train, 0, 2, 1, NULL, 0, LG_LAYOUT_BASIC, 4, &det), -EINVAL);
	CHECK_EQ(lg_detector_knn_fit((const float[]){ 0, NAN }, 1, 2, 1, NULL, 0, LG_LAYOUT_BASIC,
				     4, &det), -EINVAL);
	CHECK_EQ(lg_detector_knn_fit(train, 2, 2, 1, (const float[]){ 1, 0 }, 0, LG_LAYOUT_BASIC,
				     4, &det), -EINVAL);
}

/* k-centre cover of 0..9 by 3 rows: 0 first, then the farthest (9), then 4; per channel. */
static void kcentre(void)
{
	static const double want3[] = { 0, 4, 9 }, want6[] = { 0, 4, 9, 100, 104, 109 };
	float rows[20];
	struct lg_detector det;

	for (int i = 0; i < 10; i++)
		rows[i] = (float)i;
	CHECK_EQ(lg_detector_knn_fit(rows, 10, 1, 1, NULL, 3, LG_LAYOUT_BASIC, 2, &det), 0);
	CHECK_EQ(det.m, 3);
	for (size_t r = 0; r < det.m && r < 3; r++)
		CHECK_NEAR(det.train[r] * det.sd[0] + det.mean[0], want3[r], 1e-5);
	lg_detector_free(&det);
	/* two interleaved channels: channel 0 holds 0..9, channel 1 holds 100..109 */
	for (int i = 0; i < 10; i++) {
		rows[2 * i] = (float)i;
		rows[2 * i + 1] = (float)(100 + i);
	}
	CHECK_EQ(lg_detector_knn_fit(rows, 20, 1, 2, NULL, 3, LG_LAYOUT_BASIC, 2, &det), 0);
	CHECK_EQ(det.m, 6);
	for (size_t r = 0; r < det.m && r < 6; r++)
		CHECK_NEAR(det.train[r] * det.sd[0] + det.mean[0],
			   want6[r], 1e-4);
	lg_detector_free(&det);
}

static uint64_t rng = 88172645463325252ull;

static float unif(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((double)(rng >> 11) / 9007199254740992.0 - 0.5);
}

/* d 77, 300 rows of 2 channels (133 kept per channel at cap 133: an odd tail for the vector
 * lanes), a batch of 64 against the definition and on every ISA. */
static void definition_and_isas(void)
{
	enum { D = 77, N = 300, B = 64 };
	static float rows[N * D], x[B * D], w[D], ref[B], s[B];
	struct lg_detector det;
	double worst = 0;

	for (int j = 0; j < D; j++)
		w[j] = j >= 72 ? 16.0f : 1.0f;
	for (int i = 0; i < N * D; i++)
		rows[i] = unif() * (1 + (float)(i % D) / 10);
	for (int i = 0; i < B * D; i++)
		x[i] = 1.5f * unif() * (1 + (float)(i % D) / 10);
	x[5 * D + 3] = NAN;
	CHECK_EQ(lg_detector_knn_fit(rows, N, D, 2, w, 133, LG_LAYOUT_BANDS96_TIME5, B, &det), 0);
	CHECK_EQ(det.m, 266);
	CHECK_EQ(lg_detector_knn_set_isa(&det, LG_MODEL_ISA_SCALAR), 0);
	lg_detector_score(&det, x, B, ref);
	CHECK(isnan(ref[5]));
	for (int i = 0; i < B; i++) {
		double best = INFINITY;

		if (i == 5)
			continue;
		for (size_t r = 0; r < det.m; r++) {
			double d2 = 0;

			for (int j = 0; j < D; j++) {
				double z = ((double)x[i * D + j] - det.mean[j]) / det.sd[j] *
					   sqrt(det.fweight[j]) - det.train[r * D + j];

				d2 += z * z;
			}
			best = fmin(best, d2);
		}
		best = sqrt(best / D);
		if (fabs(ref[i] - best) / best > worst)
			worst = fabs(ref[i] - best) / best;
	}
	printf("knn d %d, %zu kept rows: worst relative difference to the definition %.3g\n", D,
	       det.m, worst);
	CHECK(worst < 1e-4);
	for (int isa = LG_MODEL_ISA_AVX2; isa <= LG_MODEL_ISA_AVX512; isa++) {
		if (lg_detector_knn_set_isa(&det, (enum lg_model_isa)isa)) {
			printf("knn ISA %s: not on this CPU, skipped\n",
			       lg_model_isa_name((enum lg_model_isa)isa));
			continue;
		}
		lg_detector_score(&det, x, B, s);
		for (int i = 0; i < B; i++)
			CHECK(!memcmp(&s[i], &ref[i], sizeof(float)));
		printf("knn ISA %s: the scalar scores bit for bit\n",
		       lg_model_isa_name((enum lg_model_isa)isa));
	}
	/* a model file: the same scores after a round trip, bit for bit */
	{
		struct lg_detector d2;
		char err[512];

		det.threshold = 1.5f;
		det.window = 2048;
		CHECK_EQ(lg_detector_knn_set_isa(&det, LG_MODEL_ISA_AUTO), 0);
		lg_detector_score(&det, x, B, ref);
		CHECK_EQ(lg_detector_save(&det, "test_knn_model.json"), 0);
		CHECK_EQ(lg_detector_load("test_knn_model.json", B, &d2, err, sizeof(err)), 0);
		CHECK(d2.kind == LG_DETECTOR_KNN && d2.m == det.m && d2.d == D);
		CHECK(d2.layout == LG_LAYOUT_BANDS96_TIME5);
		lg_detector_score(&d2, x, B, s);
		CHECK(!memcmp(s, ref, sizeof(s)));
		lg_detector_free(&d2);
		remove("test_knn_model.json");
	}
	lg_detector_free(&det);
}

/* A batch larger than the 64 rows of one sgemm: the same scores as row by row. */
static void large_batch(void)
{
	enum { D = 9, N = 500, B = 150 };
	static float rows[N * D], x[B * D], all[B], one;
	struct lg_detector det;

	for (int i = 0; i < N * D; i++)
		rows[i] = unif();
	for (int i = 0; i < B * D; i++)
		x[i] = 2 * unif();
	CHECK_EQ(lg_detector_knn_fit(rows, N, D, 1, NULL, 0, LG_LAYOUT_BASIC, B, &det), 0);
	CHECK_EQ(det.m, LG_KNN_CAP);
	lg_detector_score(&det, x, B, all);
	for (int i = 0; i < B; i++) {
		lg_detector_score(&det, x + i * D, 1, &one);
		CHECK_NEAR(all[i], one, 1e-5 * one);
	}
	lg_detector_free(&det);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void refusals(void)
{
	static const struct {
		const char *body, *want;
	} cases[] = {
		{ "\"neighbours\":0,\"sd\":[1,1],\"feature_weights\":[1,1],\"train\":[]",
		  "'neighbours'" },
		{ "\"neighbours\":2,\"sd\":[1,1],\"feature_weights\":[1,1],\"train\":[1,2,3]",
		  "'train'" },
		{ "\"neighbours\":1,\"sd\":[1,-1],\"feature_weights\":[1,1],\"train\":[1,2]",
		  "'sd' and 'feature_weights'" },
		{ "\"neighbours\":1,\"sd\":[1,1],\"feature_weights\":[1,0],\"train\":[1,2]",
		  "'sd' and 'feature_weights'" },
		{ "\"neighbours\":1,\"sd\":[1,1],\"feature_weights\":[1,1],\"train\":[1e30,1e30]",
		  "overflows" },
		{ "\"neighbours\":1,\"sd\":[1,1],\"feature_weights\":[1,1],\"train\":[1,2]", NULL },
	};
	char text[1024], err[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct lg_detector det;
		int ret;

		snprintf(text, sizeof(text),
			 "{\"format\":\"linegate-detector\",\"detector\":\"knn\",\"features\":2,"
			 "\"threshold\":1,\"mean\":[0,0],\"bands\":{\"edges\":[0,0.0078125,"
			 "0.015625,0.03125,0.0625,0.125,0.25,0.5,1],\"floor\":1e-6,\"taper\":"
			 "\"hann\",\"orders\":[0.002,0.008]},%s}", cases[i].body);
		write_file("test_knn_bad.json", text);
		err[0] = '\0';
		ret = lg_detector_load("test_knn_bad.json", 2, &det, err, sizeof(err));
		if (cases[i].want) {
			CHECK(ret < 0);
			CHECK_STR_CONTAINS(err, cases[i].want);
		} else {
			float s;

			CHECK_EQ(ret, 0);
			if (!ret) {
				/* a file from before per_channel: one detector for all channels */
				CHECK_EQ(det.nch, 0);
				/* (3, 4) against the one row (1, 2): sqrt((4 + 4) / 2) = 2 */
				lg_detector_score(&det, (const float[]){ 3, 4 }, 1, &s);
				CHECK_NEAR(s, 2.0, 1e-6);
				lg_detector_free(&det);
			}
		}
	}
	remove("test_knn_bad.json");
}

/*
 * A detector per channel (quality_proto.py's bt16_knn1): each channel standardised and
 * covered on its own rows, its own threshold, scores brought to channel 0's threshold. One
 * feature, by hand: channel 0 trains on 0 and 2 (mean 1, sd 1 + 1e-3), channel 1 on 100 and
 * 110 (mean 105, sd 5 + 1e-3); one standardisation of all four rows (the old fit) would
 * give channel 0's 5 the score 0.0576 instead of 3 / 1.001.
 */
static void per_channel(void)
{
	const float train[] = { 0, 100, 2, 110 }, x[] = { 5, 120 };
	const double s0 = 3 / 1.001, s1 = 10 / 5.001;
	struct lg_detector det, back;
	unsigned idx[3] = { 1, 0, 1 };
	uint8_t chan[3] = { 1, 0, 7 };
	float s[3], t[3];
	char err[512];

	CHECK_EQ(lg_detector_knn_fit_channels(train, 3, 1, 2, NULL, 0, LG_LAYOUT_BASIC, 4, &det),
		 -EINVAL); /* not windows x channels */
	CHECK_EQ(lg_detector_knn_fit_channels(train, 4, 1, 2, NULL, 0, LG_LAYOUT_BASIC, 4, &det), 0);
	CHECK_EQ(det.nch, 2);
	CHECK_NEAR(det.ch[0].mean[0], 1.0, 0);
	CHECK_NEAR(det.ch[1].mean[0], 105.0, 0);
	CHECK_NEAR(det.ch[1].sd[0], 5.001, 1e-6);
	CHECK_NEAR(det.mean[0], 1.0, 0); /* the detector's own fields are channel 0's */
	CHECK_EQ(lg_detector_knn_set_channel_threshold(&det, 0, 2), 0);
	CHECK_EQ(lg_detector_knn_set_channel_threshold(&det, 1, 4), 0);
	CHECK_EQ(lg_detector_knn_set_channel_threshold(&det, 2, 4), -EINVAL);
	CHECK_NEAR(det.threshold, 2.0, 0);
	/* row i is channel i % 2; channel 1's score is brought to channel 0's threshold */
	lg_detector_score(&det, x, 2, s);
	printf("per channel: %.7f %.7f, by hand %.7f %.7f\n", (double)s[0], (double)s[1], s0,
	       s1 * 2 / 4);
	CHECK_NEAR(s[0], s0, 1e-6);
	CHECK_NEAR(s[1], s1 * 2 / 4, 1e-6);
	/* rows by index with their channels (the data plane); a channel past the last: the last */
	lg_detector_score_idx_ch(&det, x, idx, chan, 3, t);
	CHECK_NEAR(t[0], s[1], 0);
	CHECK_NEAR(t[1], s[0], 0);
	CHECK_NEAR(t[2], s[1], 0);
	/* the file: per_channel round trip, scores bit for bit */
	CHECK_EQ(lg_detector_save(&det, "test_knn_ch.json"), 0);
	CHECK_EQ(lg_detector_load("test_knn_ch.json", 4, &back, err, sizeof(err)), 0);
	CHECK_EQ(back.nch, 2);
	if (back.nch == 2) {
		CHECK_NEAR(back.ch[1].threshold, 4.0, 0);
		lg_detector_score(&back, x, 2, t);
		CHECK(memcmp(s, t, 2 * sizeof(float)) == 0);
		lg_detector_free(&back);
	}
	lg_detector_free(&det);
	remove("test_knn_ch.json");
}

static void per_channel_refusals(void)
{
	static const char *const bad[] = {
		"[]",
		"{}",
		"[{\"format\":\"linegate-detector\",\"detector\":\"mahalanobis\"}]",
		/* a channel of another width */
		"[{\"format\":\"linegate-detector\",\"detector\":\"knn\",\"features\":1,"
		"\"threshold\":1,\"mean\":[0],\"neighbours\":1,\"sd\":[1],"
		"\"feature_weights\":[1],\"train\":[1]}]",
	};
	char text[2048], err[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct lg_detector det;

		snprintf(text, sizeof(text),
			 "{\"format\":\"linegate-detector\",\"detector\":\"knn\",\"features\":2,"
			 "\"threshold\":1,\"mean\":[0,0],\"bands\":{\"edges\":[0,0.0078125,"
			 "0.015625,0.03125,0.0625,0.125,0.25,0.5,1],\"floor\":1e-6,\"taper\":"
			 "\"hann\",\"orders\":[0.002,0.008]},\"neighbours\":1,"
			 "\"sd\":[1,1],\"feature_weights\":[1,1],\"train\":[1,2],"
			 "\"per_channel\":%s}", bad[i]);
		write_file("test_knn_bad.json", text);
		err[0] = '\0';
		CHECK(lg_detector_load("test_knn_bad.json", 2, &det, err, sizeof(err)) < 0);
		CHECK_STR_CONTAINS(err, "'per_channel'");
	}
	remove("test_knn_bad.json");
}

static const char usage[] =
	"Usage: test_knn [options]\n"
	"\n"
	"The kNN detector: a score computed by hand, weights, the k-centre cover per channel,\n"
	"the sgemm + row minimum path against the definition, every ISA bit for bit like the\n"
	"scalar one, model files and their refusals.\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: the worst difference to the definition, the ISAs compared, then\n"
	"\"test_knn: N checks, M failed\".\n"
	LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	lgt_cli(argc, argv, usage, 0, 0);
	openblas_set_num_threads(1);
	hand_computed();
	kcentre();
	definition_and_isas();
	large_batch();
	refusals();
	per_channel();
	per_channel_refusals();
	return lgt_done("test_knn");
}
