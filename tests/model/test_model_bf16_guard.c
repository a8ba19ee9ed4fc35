/* SPDX-License-Identifier: MIT */
/*
 * The bf16 guard (lg_model_scores_guard(), docs/model-engine.md "bf16 guard"): on every
 * fixture model's recorded inputs and on the simulated line's windows (pipeline_ae.onnx),
 *   1. the bound holds: |bf16 - fp32| <= band / 2 for every row (fp32: the xsmm route);
 *   2. with levels put between each row's fp32 and bf16 values (where those differ), bf16
 *      alone changes verdicts (checked: else the case proves nothing), and the guard gives
 *      every verdict fp32 gives; the rows it scored again carry the xsmm route's scores bit
 *      for bit, and the count it returns is the number of rows within their band of a level;
 *   3. pipeline_ae at its own threshold: the verdicts of all 25 600 windows are fp32's, and
 *      the share scored again is printed.
 * Skipped (77) where the CPU lacks AVX512-BF16 or the build lacks libxsmm.
 *
 * usage: test_model_bf16_guard FIXTURE_DIR
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linegate/model.h>

#include "fixture.h"
#include "quality.h"
#include "../lgt_cli.h"

#define B 64 /* rows per batch */

static int failures;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL " __VA_ARGS__);                                      \
			fputc('\n', stderr);                                                       \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

/* the decision value of row r: the score, or 1 - P(class 0) */
static float value(const struct lg_model *m, const float *s, size_t r)
{
	return lg_model_kind(m) == LG_MODEL_AUTOENCODER ? s[r]
							: 1.0f - s[r * lg_model_score_dim(m)];
}

struct run {
	float *fp32, *bf16, *guard, *band;
	size_t rescored;
};

/*
 * Score rows on xsmm (fp32), xsmm-bf16 (unguarded) and xsmm-bf16 guarded at levels[r] (one
 * level per row when per_row, else nlev levels for all).
 */
static int score_all(struct lg_model *m, const float *in, size_t rows, const float *levels,
		     size_t nlev, int per_row, struct run *o, struct lg_model_ws *ws)
{
	size_t din = lg_model_input_dim(m), ds = lg_model_score_dim(m);
	int ret = lg_model_set_gemm(m, LG_MODEL_GEMM_XSMM);

	for (size_t r = 0; !ret && r < rows; r += B)
		ret = lg_model_scores(m, in + r * din, rows - r < B ? rows - r : B,
				      o->fp32 + r * ds, ws);
	ret = ret ? ret : lg_model_set_gemm(m, LG_MODEL_GEMM_XSMM_BF16);
	for (size_t r = 0; !ret && r < rows; r += B)
		ret = lg_model_scores(m, in + r * din, rows - r < B ? rows - r : B,
				      o->bf16 + r * ds, ws);
	o->rescored = 0;
	/* one level per row: the API takes levels per batch, so such rows go one at a time */
	for (size_t r = 0, step = per_row ? 1 : B; !ret && r < rows; r += step) {
		size_t b = rows - r < step ? rows - r : step;
		int n = lg_model_scores_guard(m, in + r * din, b, o->guard + r * ds, ws,
					      per_row ? levels + r : levels, nlev, o->band + r);

		if (n < 0)
			ret = n;
		else
			o->rescored += (size_t)n;
	}
	return ret;
}

static void check_model(const char *name, struct lg_model *m, const float *in, size_t rows,
			const float *thr)
{
	size_t ds = lg_model_score_dim(m);
	struct run o = {.fp32 = malloc(rows * ds * sizeof(float)),
			.bf16 = malloc(rows * ds * sizeof(float)),
			.guard = malloc(rows * ds * sizeof(float)),
			.band = malloc(rows * sizeof(float))};
	float *lev = malloc(rows * sizeof(float));
	struct lg_model_ws *ws = NULL;
	size_t flips = 0, gflips = 0, within = 0, differ = 0;
	double worst = 0;
	int ret;

	if (!o.fp32 || !o.bf16 || !o.guard || !o.band || !lev || lg_model_ws_create(m, B, &ws)) {
		CHECK(0, "%s: no memory", name);
		goto out;
	}
	/* 1, 2: a level between each row's two values, or at the fp32 value where they agree */
	ret = score_all(m, in, rows, NULL, 0, 0, &o, ws);
	CHECK(!ret, "%s: scoring failed (%d)", name, ret);
	if (ret)
		goto out;
	for (size_t r = 0; r < rows; r++) {
		float a = value(m, o.fp32, r), b = value(m, o.bf16, r);
		double ratio = fabs((double)a - b) / (o.band[r] / 2);

		if (!(ratio <= 1.0))
			CHECK(0, "%s row %zu: |bf16 - fp32| = %.3g over the bound %.3g", name, r,
			      fabs((double)a - b), (double)o.band[r] / 2);
		if (ratio > worst)
			worst = ratio;
		lev[r] = a == b ? a : (float)(0.5 * ((double)a + b));
		differ += a != b;
	}
	if (!thr) {
		ret = score_all(m, in, rows, lev, 1, 1, &o, ws);
		CHECK(!ret, "%s: guarded scoring failed (%d)", name, ret);
		for (size_t r = 0; !ret && r < rows; r++) {
			float a = value(m, o.fp32, r), b = value(m, o.bf16, r),
			      g = value(m, o.guard, r);

			flips += (a > lev[r]) != (b > lev[r]);
			gflips += (a > lev[r]) != (g > lev[r]);
			within += !(fabsf(b - lev[r]) > o.band[r]) || !isfinite(b);
			if (g != b)
				CHECK(
				    !memcmp(o.guard + r * ds, o.fp32 + r * ds, ds * sizeof(float)),
				    "%s row %zu: scored again, but not as the xsmm route", name, r);
		}
		CHECK(!differ || flips, "%s: the levels should make bf16 alone change verdicts",
		      name);
		CHECK(!gflips, "%s: %zu verdict(s) differ from fp32 with the guard", name, gflips);
		CHECK(o.rescored == within, "%s: %zu rows scored again, %zu within their band",
		      name, o.rescored, within);
		printf("%-14s %5zu rows: error <= %.3g of the bound; levels between fp32 and bf16: "
		       "bf16 alone changes %zu verdict(s), the guard 0 (%zu rows scored again)\n",
		       name, rows, worst, flips, o.rescored);
	} else {
		/* 3: the model's own threshold */
		ret = score_all(m, in, rows, thr, 1, 0, &o, ws);
		CHECK(!ret, "%s: guarded scoring failed (%d)", name, ret);
		for (size_t r = 0; !ret && r < rows; r++) {
			flips += (o.fp32[r] > *thr) != (o.bf16[r] > *thr);
			gflips += (o.fp32[r] > *thr) != (o.guard[r] > *thr);
			within += !(fabsf(o.bf16[r] - *thr) > o.band[r]) || !isfinite(o.bf16[r]);
		}
		CHECK(!gflips, "%s: %zu alarm decision(s) differ from fp32 with the guard", name,
		      gflips);
		CHECK(o.rescored == within, "%s: %zu rows scored again, %zu within their band",
		      name, o.rescored, within);
		printf("%-14s %5zu rows: error <= %.3g of the bound; threshold %.4g: bf16 alone "
		       "changes %zu alarm decision(s), the guard 0; %zu rows (%.2f%%) scored "
		       "again\n",
		       name, rows, worst, (double)*thr, flips, o.rescored,
		       100.0 * (double)o.rescored / (double)rows);
	}
out:
	lg_model_ws_free(ws);
	free(o.fp32), free(o.bf16), free(o.guard), free(o.band), free(lev);
}

static const char *const names[] = {"mlp_classifier", "ae_64",	    "ae_1024",	"ops_mix",
				    "mlp_bn",	      "gemm_attrs", "constants"};

static const char usage[] =
    "Usage: test_model_bf16_guard [options] FIXTURE_DIR\n"
    "\n"
    "The bf16 guard (lg_model_scores_guard) on every fixture model's recorded inputs and on\n"
    "the simulated line's windows scored by pipeline_ae.onnx: the error bound holds on every\n"
    "row; with levels put between each row's fp32 and bf16 values bf16 alone changes\n"
    "verdicts and the guard none, re-scored rows equal the xsmm route's bit for bit, and the\n"
    "count returned is the number of rows within their band; at pipeline_ae's threshold\n"
    "every alarm decision is fp32's. Skipped where the CPU lacks AVX512-BF16.\n"
    "\n"
    "Arguments:\n"
    "  FIXTURE_DIR   tests/fixtures/models\n"
    "\n"
    "Options:\n"
    "  -h, --help    this text\n"
    "\n"
    "Output: one line per model on stdout, or \"skipped: REASON\"; failures on "
    "stderr.\n" LGT_EXIT_STATUS_SKIP;

int main(int argc, char **argv)
{
	const char *missing;

	argv += lgt_cli(argc, argv, usage, 1, 1) - 1;
	missing = lg_model_gemm_missing(LG_MODEL_GEMM_XSMM_BF16);
	if (missing) {
		printf("skipped: %s\n", missing);
		return 77;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t len = 0, ilen = 0;
		void *buf = read_all(argv[1], names[i], ".onnx", &len);
		float *in = read_all(argv[1], names[i], ".in.f32", &ilen);
		struct lg_model *m = NULL;
		char err[256];

		if (!buf || !in || lg_model_load_mem(buf, len, &m, err, sizeof(err))) {
			CHECK(0, "%s: cannot load", names[i]);
		} else {
			check_model(names[i], m, in, ilen / sizeof(float) / lg_model_input_dim(m),
				    NULL);
			CHECK(!lg_model_bf16_unguarded(m), "%s: unguarded: %s", names[i],
			      lg_model_bf16_unguarded(m));
		}
		lg_model_free(m);
		free(buf);
		free(in);
	}
	{
		struct lg_quality_conf c;
		struct lg_model *m = NULL;
		size_t rows = 0, len = 0;
		void *buf = read_all(argv[1], "pipeline_ae", ".onnx", &len);
		float *in, thr = 0;
		char err[256];

		lg_quality_defaults(&c);
		in = lg_quality_training_rows(&c, NULL, &rows);
		if (!buf || !in || lg_model_load_mem(buf, len, &m, err, sizeof(err)) ||
		    lg_model_threshold(m, &thr)) {
			CHECK(0, "pipeline_ae: cannot load or simulate");
		} else {
			check_model("pipeline_ae", m, in, rows, NULL);
			check_model("pipeline_ae", m, in, rows, &thr);
		}
		lg_model_free(m);
		free(buf);
		free(in);
	}
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("the bf16 guard gives fp32's verdicts\n");
	return 0;
}
