/* SPDX-License-Identifier: MIT */
/*
 * The opt-in bf16 GEMM route against fp32 (the OpenBLAS route): the largest score error over
 * every fixture model's recorded inputs and over windows of the simulated line (the quality
 * suite's healthy machines, scored by pipeline_ae.onnx, the default detector as an ONNX
 * autoencoder) must stay within the bounds docs/model-engine.md "bf16" states; the alarm
 * decisions bf16 changes on the simulated windows are printed (see SIM_REL). Skipped
 * (exit 77, printed) where the CPU lacks AVX512-BF16 or the build lacks libxsmm; there the
 * route must be refused with -ENOTSUP and a reason naming what is missing.
 *
 * usage: test_model_bf16 FIXTURE_DIR
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linegate/features.h>
#include <linegate/model.h>

#include "fixture.h"
#include "quality.h"
#include "../lgt_cli.h"

/*
 * The bounds (docs/model-engine.md "bf16"): bf16 keeps 8 significant bits, so each product's
 * inputs carry up to 2^-9 relative rounding; the sums are fp32.
 *   autoencoder score (mean squared error): relative error <= AE_REL
 *   classifier probabilities: absolute error <= CLS_ABS
 */
#define AE_REL 1e-3
#define CLS_ABS 0.02
/*
 * pipeline_ae's score is a small residual (x minus a near-identity reconstruction of x), so
 * the inputs' bf16 rounding is a large share of it: measured 7.0% at worst, 0.56% on average
 * over the 25600 windows. Its alarm decisions are counted and printed, not failed: 1 of the
 * 25600 changed when this was written, which is why linegate runs bf16 only with its guard
 * (test_model_bf16_guard.c).
 */
#define SIM_REL 0.1

static int failures;

struct err {
	double max, sum;
	size_t n, at;
};

static void add_err(struct err *e, double v, size_t at)
{
	if (!(v <= e->max)) { /* NaN counts as the worst */
		e->max = v;
		e->at = at;
	}
	e->sum += v;
	e->n++;
}

/* scores of `rows` rows on route g, in batches of up to 64 */
static int scores_on(struct lg_model *m, enum lg_model_gemm g, const float *in, size_t rows,
		     float *out, struct lg_model_ws *ws)
{
	size_t din = lg_model_input_dim(m), ds = lg_model_score_dim(m);
	int ret = lg_model_set_gemm(m, g);

	for (size_t r = 0; !ret && r < rows; r += 64) {
		size_t b = rows - r < 64 ? rows - r : 64;

		ret = lg_model_scores(m, in + r * din, b, out + r * ds, ws);
	}
	return ret;
}

static void compare_model(const char *what, struct lg_model *m, const float *in, size_t rows,
			  double bound_ae, double bound_cls, double threshold)
{
	size_t ds = lg_model_score_dim(m);
	float *a = malloc(rows * ds * sizeof(float)), *b = malloc(rows * ds * sizeof(float));
	struct lg_model_ws *ws = NULL;
	struct err e = {0};
	size_t flips = 0;
	int ae = lg_model_kind(m) == LG_MODEL_AUTOENCODER;

	if (!a || !b || lg_model_ws_create(m, 64, &ws) ||
	    scores_on(m, LG_MODEL_GEMM_OPENBLAS, in, rows, a, ws) ||
	    scores_on(m, LG_MODEL_GEMM_XSMM_BF16, in, rows, b, ws)) {
		fprintf(stderr, "FAIL %s: cannot score\n", what);
		failures++;
		goto out;
	}
	for (size_t i = 0; i < rows * ds; i++) {
		double d = fabs((double)b[i] - a[i]);

		add_err(&e, ae ? d / fabs((double)a[i]) : d, i);
		if (threshold > 0 && (a[i] > threshold) != (b[i] > threshold))
			flips++;
	}
	printf("%-28s %5zu rows, %s error max %.3g (row %zu: fp32 %.6g bf16 %.6g), mean %.3g", what,
	       rows, ae ? "relative" : "absolute", e.max, e.at / ds, (double)a[e.at],
	       (double)b[e.at], e.sum / (double)e.n);
	if (threshold > 0)
		printf(", %zu alarm decision(s) changed at threshold %.4g", flips, threshold);
	printf("\n");
	if (!(e.max <= (ae ? bound_ae : bound_cls))) {
		fprintf(stderr, "FAIL %s: bf16 error %.3g above the bound %.3g\n", what, e.max,
			ae ? bound_ae : bound_cls);
		failures++;
	}
out:
	lg_model_ws_free(ws);
	free(a);
	free(b);
}

static const char *const names[] = {"mlp_classifier", "ae_64",	    "ae_1024",	"ops_mix",
				    "mlp_bn",	      "gemm_attrs", "constants"};

static const char usage[] =
    "Usage: test_model_bf16 [options] FIXTURE_DIR\n"
    "\n"
    "The opt-in bf16 GEMM route (xsmm-bf16) against fp32 (openblas): the largest score\n"
    "error over every fixture model's recorded inputs (autoencoders: relative error of the\n"
    "score; classifiers: absolute error of the probabilities) and over the simulated line's\n"
    "healthy windows scored by pipeline_ae.onnx must stay within the bounds of\n"
    "docs/model-engine.md \"bf16\"; the alarm decisions bf16 changes on the simulated\n"
    "windows are printed. Where the CPU lacks AVX512-BF16 the route must be refused, and\n"
    "the test is skipped.\n"
    "\n"
    "Arguments:\n"
    "  FIXTURE_DIR   tests/fixtures/models\n"
    "\n"
    "Options:\n"
    "  -h, --help    this text\n"
    "\n"
    "Output: on stdout one line per model with the largest and mean error, or\n"
    "\"skipped: REASON\"; failures on stderr.\n" LGT_EXIT_STATUS_SKIP;

int main(int argc, char **argv)
{
	const char *missing;

	argv += lgt_cli(argc, argv, usage, 1, 1) - 1;
	missing = lg_model_gemm_missing(LG_MODEL_GEMM_XSMM_BF16);
	if (missing) {
		size_t len = 0;
		void *buf = read_all(argv[1], "ae_64", ".onnx", &len);
		struct lg_model *m = NULL;
		char err[256];
		int ret;

		if (!buf || lg_model_load_mem(buf, len, &m, err, sizeof(err)))
			return 1;
		ret = lg_model_set_gemm(m, LG_MODEL_GEMM_XSMM_BF16);
		lg_model_free(m);
		free(buf);
		if (ret != -ENOTSUP ||
		    (!strstr(missing, "AVX512-BF16") && !strstr(missing, "libxsmm"))) {
			fprintf(stderr, "FAIL: refusal %d, reason \"%s\"\n", ret, missing);
			return 1;
		}
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
			fprintf(stderr, "FAIL %s: cannot load\n", names[i]);
			failures++;
		} else {
			compare_model(names[i], m, in, ilen / sizeof(float) / lg_model_input_dim(m),
				      AE_REL, CLS_ABS, 0);
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
			fprintf(stderr, "FAIL pipeline_ae: cannot load or simulate\n");
			failures++;
		} else {
			compare_model("pipeline_ae (simulated line)", m, in, rows, SIM_REL, CLS_ABS,
				      thr);
		}
		lg_model_free(m);
		free(buf);
		free(in);
	}
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("bf16 within its bounds\n");
	return 0;
}
