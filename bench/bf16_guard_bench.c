/* SPDX-License-Identifier: MIT */
/*
 * What the bf16 guard costs (docs/model-engine.md "bf16 guard"): scores per frame on the
 * fp32 xsmm route, on xsmm-bf16 unguarded, and on xsmm-bf16 with its guard, one copy of the
 * model per variant, interleaved within every trial, at batch sizes 1, 16, 64 and 256.
 * The guard's cost depends on how many rows lie near a level, so it is run at two levels:
 * "far", as linegate-quality sets thresholds (3 x the highest fp32 score of the rows; a
 * classifier: its 0.5), and "median" (the median fp32 score: many rows near it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include <linegate/cli.h>
#include <linegate/model.h>

#include "bench_time.h"

#define TRIALS 7

static const char usage[] =
    "Usage: bf16_guard_bench [options] FIXTURE_DIR [SECONDS] [MODEL ...]\n"
    "\n"
    "Scores per frame (lg_model_scores) of FIXTURE_DIR/MODEL.onnx on the xsmm route (fp32),\n"
    "on xsmm-bf16 without a guard, and on xsmm-bf16 with its guard\n"
    "(lg_model_scores_guard) at a level far from the rows (3 x their highest fp32 score; a\n"
    "classifier's 0.5) and at their median fp32 score; the variants interleaved within\n"
    "every trial, at batch sizes 1, 16, 64 and 256. Rows: MODEL.in.f32 repeated to 256.\n"
    "\n"
    "Arguments:\n"
    "  FIXTURE_DIR   tests/fixtures/models\n"
    "  SECONDS       time per point, split over 7 trials (default 0.3)\n"
    "  MODEL         default: ae_1024 ae_64 mlp_classifier\n"
    "\n"
    "Options:\n"
    "  -h, --help    this text\n"
    "\n"
    "Output: JSON lines {\"bench\":\"bf16_guard\", model, variant, batch, ns_per_frame (best),\n"
    "ns_per_frame_median, ratio_xsmm (best and median against xsmm in the same trials),\n"
    "rescored (share of rows the guard scored again), corename}.\n"
    "Exit status: 0, 1 if a model failed to load or the route is missing, 2 on a usage "
    "error.\n";

static const char *const default_models[] = {"ae_1024", "ae_64", "mlp_classifier"};
static const size_t batches[] = {1, 16, 64, 256};
enum { V_XSMM, V_BF16, V_FAR, V_MEDIAN, NV };
static const char *const vname[NV] = {"xsmm", "xsmm-bf16", "xsmm-bf16+guard (far)",
				      "xsmm-bf16+guard (median)"};

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

struct var {
	struct lg_model *m;
	float level;
	size_t rescored, rows;
};

static double trial(struct var *v, int guard, const float *in, size_t batch, float *sc,
		    struct lg_model_ws *ws, double seconds)
{
	double t0 = now(), t;
	long iters = 0;

	do {
		for (int k = 0; k < 16; k++) {
			if (guard) {
				int n = lg_model_scores_guard(v->m, in, batch, sc, ws, &v->level, 1,
							      NULL);

				v->rescored += n > 0 ? (size_t)n : 0;
				v->rows += batch;
			} else {
				lg_model_scores(v->m, in, batch, sc, ws);
			}
		}
		iters += 16;
		t = now();
	} while (t - t0 < seconds);
	return (t - t0) * 1e9 / ((double)iters * (double)batch);
}

static int bench(const char *dir, const char *name, double seconds)
{
	struct var v[NV] = {{0}};
	struct lg_model_ws *ws = NULL;
	char path[1024], err[256];
	float *in = NULL, *sc = NULL, *file = NULL, *tmp = NULL;
	size_t din, ds, frows;
	int ret = 1;
	FILE *f;
	long len;

	snprintf(path, sizeof(path), "%s/%s.onnx", dir, name);
	for (int i = 0; i < NV; i++) {
		if (lg_model_load_file(path, &v[i].m, err, sizeof(err))) {
			fprintf(stderr, "bf16_guard_bench: %s: %s\n", path, err);
			goto out;
		}
		if (lg_model_set_gemm(v[i].m,
				      i == V_XSMM ? LG_MODEL_GEMM_XSMM : LG_MODEL_GEMM_XSMM_BF16)) {
			fprintf(stderr, "bf16_guard_bench: %s\n",
				lg_model_gemm_missing(LG_MODEL_GEMM_XSMM_BF16));
			goto out;
		}
	}
	din = lg_model_input_dim(v[0].m);
	ds = lg_model_score_dim(v[0].m);
	snprintf(path, sizeof(path), "%s/%s.in.f32", dir, name);
	f = fopen(path, "rb");
	if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET)) {
		fprintf(stderr, "bf16_guard_bench: cannot read %s\n", path);
		if (f)
			fclose(f);
		goto out;
	}
	frows = (size_t)len / sizeof(float) / din;
	file = malloc((size_t)len);
	in = malloc(256 * din * sizeof(float));
	sc = malloc(256 * ds * sizeof(float));
	tmp = malloc(256 * sizeof(float));
	if (!file || !in || !sc || !tmp || !frows ||
	    fread(file, 1, (size_t)len, f) != (size_t)len || lg_model_ws_create(v[0].m, 256, &ws)) {
		fclose(f);
		goto out;
	}
	fclose(f);
	for (size_t r = 0; r < 256; r++)
		memcpy(in + r * din, file + (r % frows) * din, din * sizeof(float));
	/* the levels, from the fp32 scores (decision value: score, or 1 - P(class 0)) */
	lg_model_scores(v[V_XSMM].m, in, 256, sc, ws);
	for (size_t r = 0; r < 256; r++)
		tmp[r] = lg_model_kind(v[0].m) == LG_MODEL_AUTOENCODER ? sc[r] : 1.0f - sc[r * ds];
	qsort(tmp, 256, sizeof(float), cmp_float);
	v[V_FAR].level = lg_model_kind(v[0].m) == LG_MODEL_AUTOENCODER ? 3 * tmp[255] : 0.5f;
	v[V_MEDIAN].level = tmp[128];
	for (size_t b = 0; b < sizeof(batches) / sizeof(batches[0]); b++) {
		size_t batch = batches[b];
		double ns[NV][TRIALS], ratio[NV][TRIALS];

		for (int i = 0; i < NV; i++) {
			v[i].rescored = v[i].rows = 0;
			trial(&v[i], i >= V_FAR, in, batch, sc, ws, 0.01);
			v[i].rescored = v[i].rows = 0;
		}
		for (int tr = 0; tr < TRIALS; tr++) {
			for (int i = 0; i < NV; i++)
				ns[i][tr] =
				    trial(&v[i], i >= V_FAR, in, batch, sc, ws, seconds / TRIALS);
			for (int i = 0; i < NV; i++)
				ratio[i][tr] = ns[i][tr] / ns[V_XSMM][tr];
		}
		for (int i = 0; i < NV; i++) {
			qsort(ns[i], TRIALS, sizeof(double), cmp_double);
			qsort(ratio[i], TRIALS, sizeof(double), cmp_double);
			printf(
			    "{\"bench\":\"bf16_guard\",\"model\":\"%s\",\"variant\":\"%s\","
			    "\"batch\":%zu,\"level\":%.6g,\"ns_per_frame\":%.1f,"
			    "\"ns_per_frame_median\":%.1f,\"ratio_xsmm\":%.3f,"
			    "\"ratio_xsmm_median\":%.3f,\"rescored\":%.4f,\"corename\":\"%s\"}\n",
			    name, vname[i], batch, (double)v[i].level, ns[i][0], ns[i][TRIALS / 2],
			    ratio[i][0], ratio[i][TRIALS / 2],
			    v[i].rows ? (double)v[i].rescored / (double)v[i].rows : 0.0,
			    openblas_get_corename());
		}
		fflush(stdout);
	}
	ret = 0;
out:
	lg_model_ws_free(ws);
	for (int i = 0; i < NV; i++)
		lg_model_free(v[i].m);
	free(in), free(sc), free(file), free(tmp);
	return ret;
}

int main(int argc, char **argv)
{
	double seconds = 0.3;
	const char *dir;
	int ret = 0;

	lg_cli_simple(argc, argv, usage, 1, LG_CLI_ANY);
	dir = argv[optind++];
	if (optind < argc)
		seconds = atof(argv[optind++]);
	openblas_set_num_threads(1);
	if (optind < argc)
		for (int i = optind; i < argc; i++)
			ret |= bench(dir, argv[i], seconds);
	else
		for (size_t i = 0; i < sizeof(default_models) / sizeof(default_models[0]); i++)
			ret |= bench(dir, default_models[i], seconds);
	return ret;
}
