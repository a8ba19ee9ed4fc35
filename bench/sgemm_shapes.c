/* SPDX-License-Identifier: MIT */
/*
 * OpenBLAS alone, at the shapes of a model's layers: the ceiling that the inference engine can
 * reach with it. One thread, the calls lg_model_run() makes (row-major, weights stored
 * [in, out] so the sgemm is NoTrans/NoTrans, cblas_sgemv for a batch of 1), nothing else.
 * --weights nk times the form the engine used before: weights [out, in] (ONNX Gemm's
 * transB=1 layout) transposed in the call, to compare the two in one run.
 *
 * A model is given as NAME=OUTxIN,OUTxIN,... (its layers in order). For each model, batch M and
 * layer it prints the GFLOP/s of that call (best of 7 trials, the median too), then one "chain"
 * line per batch: the frames/s of all the layers' calls back to back, timed as one pass
 * over the layers, each with its own weights (so they compete for the caches as in the
 * engine), which is the engine's throughput if its epilogues cost nothing. The default
 * model is ae_1024 (1024-256-64-256-1024). openblas_get_corename() is printed beside every figure.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "bench_time.h"

#define TRIALS 7
#define MAX_LAYERS 16

struct layer {
	int out, in;
};

static const char usage[] =
	"Usage: sgemm_shapes [options] [SECONDS] [NAME=OUTxIN,OUTxIN,... ...]\n"
	"\n"
	"OpenBLAS alone at the shapes of a model's layers, on one thread: the calls\n"
	"lg_model_run() makes (row-major, weights stored [in, out], NoTrans/NoTrans sgemm,\n"
	"cblas_sgemv for a batch of 1), at batch sizes 1, 16, 64 and 256.\n"
	"bench/model_compare.py runs it.\n"
	"\n"
	"Arguments:\n"
	"  SECONDS       time per layer and batch, split over 7 trials whose best is kept\n"
	"                (default 0.2)\n"
	"  NAME=SHAPES   a model: its name, then its layers in order as OUTxIN separated by\n"
	"                commas (at most 16 layers, sizes 1..65536). Default:\n"
	"                ae_1024=256x1024,64x256,256x64,1024x256\n"
	"\n"
	"Options:\n"
	"  --weights kn  weights stored [in, out], as the engine keeps them (default)\n"
	"  --weights nk  weights stored [out, in] and transposed in the call (sgemm NoTrans/\n"
	"                Trans, sgemv NoTrans): the layout ONNX Gemm transB=1 gives, which the\n"
	"                engine used before it transposed weights at load\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: JSON lines on stdout. Per model, batch and layer {\"bench\":\"sgemm_shape\",\n"
	"model, batch, out, in, call (sgemv or sgemm), weights, gflops, gflops_median, corename};\n"
	"then per model and batch {\"bench\":\"sgemm_chain\", model, batch, layers, weights,\n"
	"frames_per_s, frames_per_s_median, gflops, corename}: all the layers' calls back to back, the\n"
	"engine's throughput if its epilogues cost nothing. corename is the OpenBLAS kernel set\n"
	"picked at run time.\n"
	"Exit status: 0, 1 if out of memory, 2 on a usage error (a malformed model stops the\n"
	"run there).\n";

static const char default_model[] = "ae_1024=256x1024,64x256,256x64,1024x256";
static const int batches[] = {1, 16, 64, 256};
static int weights_nk; /* --weights nk */

static void layer_call(const struct layer *l, int m, const float *x, const float *w, float *y)
{
	if (m == 1 && weights_nk)
		cblas_sgemv(CblasRowMajor, CblasNoTrans, l->out, l->in, 1.0f, w, l->in, x, 1, 0.0f,
			    y, 1);
	else if (m == 1)
		cblas_sgemv(CblasRowMajor, CblasTrans, l->in, l->out, 1.0f, w, l->out, x, 1, 0.0f,
			    y, 1);
	else if (weights_nk)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, l->out, l->in, 1.0f, x,
			    l->in, w, l->in, 0.0f, y, l->out);
	else
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, l->out, l->in, 1.0f, x,
			    l->in, w, l->out, 0.0f, y, l->out);
}

/*
 * Seconds per pass over layers[0..n) at batch m, each layer with its own weights (wl[i]),
 * as the engine's are: sorted trials, best first. With n > 1 this is the chain, whose
 * weights compete for the caches as they do in the engine.
 */
static void time_layers(const struct layer *l, size_t n, int m, const float *x,
			float *const *wl, float *y, double seconds, double *per)
{
	for (size_t i = 0; i < n; i++)
		layer_call(&l[i], m, x, wl[i], y);
	for (int t = 0; t < TRIALS; t++) {
		double t0 = now(), t1;
		long iters = 0;

		do {
			for (int k = 0; k < 8; k++)
				for (size_t i = 0; i < n; i++)
					layer_call(&l[i], m, x, wl[i], y);
			iters += 8;
			t1 = now();
		} while (t1 - t0 < seconds / TRIALS);
		per[t] = (t1 - t0) / (double)iters;
	}
	qsort(per, TRIALS, sizeof(per[0]), cmp_double);
}

/* "NAME=OUTxIN,OUTxIN": the name stays in `spec` (the '=' is replaced by a NUL). */
static int parse_model(char *spec, struct layer *layers, size_t *n)
{
	char *p = strchr(spec, '='), *end;

	if (!p || p == spec)
		return -1;
	*p++ = '\0';
	*n = 0;
	for (;;) {
		long out = strtol(p, &end, 10), in;

		if (*end != 'x' || out < 1 || out > 65536 || *n == MAX_LAYERS)
			return -1;
		in = strtol(end + 1, &end, 10);
		if (in < 1 || in > 65536)
			return -1;
		layers[*n].out = (int)out;
		layers[*n].in = (int)in;
		(*n)++;
		if (!*end)
			return 0;
		if (*end != ',')
			return -1;
		p = end + 1;
	}
}

static int bench_model(const char *name, const struct layer *layers, size_t n_layers,
		       double seconds)
{
	size_t max_in = 0, max_out = 0, all_w = 0;
	float *x, *w, *y, *wl[MAX_LAYERS];

	for (size_t i = 0; i < n_layers; i++) {
		size_t in = (size_t)layers[i].in, out = (size_t)layers[i].out;

		max_in = in > max_in ? in : max_in;
		max_out = out > max_out ? out : max_out;
		/* each layer's weights start on a cache line of their own */
		all_w += (in * out + 15) / 16 * 16;
	}
	/* 64-byte aligned, as the engine's weights and workspaces are */
	x = aligned_alloc(64, (sizeof(float) * 256 * max_in + 63) / 64 * 64);
	y = aligned_alloc(64, (sizeof(float) * 256 * max_out + 63) / 64 * 64);
	w = aligned_alloc(64, sizeof(float) * all_w);
	if (!x || !y || !w)
		goto err_nomem;
	for (size_t i = 0; i < 256 * max_in; i++)
		x[i] = (float)((i * 7919) % 1009) / 504.5f - 1.0f;
	for (size_t i = 0; i < all_w; i++)
		w[i] = (float)((i * 104729) % 997) / 4985.0f - 0.1f;
	wl[0] = w;
	for (size_t i = 1; i < n_layers; i++)
		wl[i] = wl[i - 1] + ((size_t)layers[i - 1].in * (size_t)layers[i - 1].out + 15) / 16 * 16;

	for (size_t b = 0; b < sizeof(batches) / sizeof(batches[0]); b++) {
		int m = batches[b];
		double per[TRIALS], flops = 0;

		for (size_t i = 0; i < n_layers; i++) {
			double f = 2.0 * m * layers[i].out * layers[i].in;

			time_layers(&layers[i], 1, m, x, &wl[i], y, seconds, per);
			flops += f;
			printf(
			    "{\"bench\":\"sgemm_shape\",\"model\":\"%s\",\"batch\":%d,\"out\":%d,"
			    "\"in\":%d,\"call\":\"%s\",\"weights\":\"%s\",\"gflops\":%.2f,"
			    "\"gflops_median\":%.2f,\"corename\":\"%s\"}\n",
			    name, m, layers[i].out, layers[i].in, m == 1 ? "sgemv" : "sgemm",
			    weights_nk ? "nk" : "kn", f / per[0] * 1e-9, f / per[TRIALS / 2] * 1e-9,
			    openblas_get_corename());
		}
		time_layers(layers, n_layers, m, x, wl, y, seconds, per);
		printf("{\"bench\":\"sgemm_chain\",\"model\":\"%s\",\"batch\":%d,\"layers\":%zu,"
		       "\"weights\":\"%s\",\"frames_per_s\":%.0f,\"frames_per_s_median\":%.0f,"
		       "\"gflops\":%.2f,\"corename\":\"%s\"}\n",
		       name, m, n_layers, weights_nk ? "nk" : "kn", m / per[0], m / per[TRIALS / 2],
		       flops / per[0] * 1e-9, openblas_get_corename());
		fflush(stdout);
	}
	free(x);
	free(y);
	free(w);
	return 0;

err_nomem:
	free(x);
	free(y);
	free(w);
	fprintf(stderr, "sgemm_shapes: %s: out of memory\n", name);
	return -1;
}

int main(int argc, char **argv)
{
	struct layer layers[MAX_LAYERS];
	char fallback[sizeof(default_model)];
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "weights", required_argument, NULL, 'w' },
		{ 0 },
	};
	double seconds = 0.2;
	size_t n_layers;
	int opt, ret = 0;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'w':
			if (strcmp(optarg, "kn") && strcmp(optarg, "nk")) {
				fprintf(stderr, "sgemm_shapes: --weights takes kn or nk, not '%s'\n",
					optarg);
				return 2;
			}
			weights_nk = !strcmp(optarg, "nk");
			break;
		default:
			return 2;
		}
	}
	if (optind < argc)
		seconds = atof(argv[optind++]);
	/* the single thread of a worker, as model_bench */
	openblas_set_num_threads(1);
	if (optind >= argc) {
		memcpy(fallback, default_model, sizeof(default_model));
		if (parse_model(fallback, layers, &n_layers))
			return 1;
		return bench_model(fallback, layers, n_layers, seconds) ? 1 : 0;
	}
	for (int i = optind; i < argc; i++) {
		if (parse_model(argv[i], layers, &n_layers)) {
			fprintf(stderr, "sgemm_shapes: '%s' is not NAME=OUTxIN,OUTxIN,... (see --help)\n",
				argv[i]);
			return 2;
		}
		ret |= bench_model(argv[i], layers, n_layers, seconds);
	}
	return ret ? 1 : 0;
}
