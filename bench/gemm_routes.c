/* SPDX-License-Identifier: MIT */
/*
 * The two fp32 GEMM routes alone, at layer shapes, interleaved trial by trial, through the
 * routes' own code (gemm_run_openblas: cblas_sgemv at one row, cblas_sgemm NoTrans/NoTrans
 * on [in, out] weights above; gemm_run_xsmm: libxsmm JIT kernels on the weights packed in
 * panels, prepared before timing). Where AUTO's rule in dataplane/model/gemm.h comes from.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <libxsmm.h>

#include <linegate/cli.h>

#include "bench_time.h"
#include "model_internal.h"

#define TRIALS 9

static const char usage[] =
    "Usage: gemm_routes [options] [SECONDS] [INxOUT ...]\n"
    "\n"
    "The openblas route (sgemv at 1 row, sgemm above) against the xsmm route (libxsmm's JIT\n"
    "kernels on panel-packed weights), through the engine's own route code, at each layer\n"
    "shape INxOUT (default: every layer shape of the fixture models) and 1, 2, 4, 8, 16, 32,\n"
    "64 and 256 rows, one thread, the two interleaved in each of 9 trials.\n"
    "\n"
    "Arguments:\n"
    "  SECONDS       time per shape and row count, split over the trials (default 0.2)\n"
    "  INxOUT        a layer: IN inputs (k), OUT outputs (n)\n"
    "\n"
    "Options:\n"
    "  -h, --help    this text\n"
    "\n"
    "Output: JSON lines {\"bench\":\"gemm_routes\", k, n, rows, openblas_ns, xsmm_ns,\n"
    "openblas_ns_median, xsmm_ns_median, ratio (xsmm / openblas, best), ratio_median,\n"
    "corename, xsmm_arch}. Exit status: 0, 1 if a kernel cannot be made, 2 on a usage error.\n";

static const char *const default_shapes[] = {"24x64",  "64x32",	 "32x5",    "64x32",
					     "32x8",   "8x32",	 "32x64",   "1024x256",
					     "256x64", "64x256", "256x1024"};
static const int rows_list[] = {1, 2, 4, 8, 16, 32, 64, 256};
#define MAX_ROWS 256

static int shape(int k, int n, double seconds)
{
	float *w = aligned_alloc(64, ((size_t)k * n * 4 + 63) & ~(size_t)63);
	float *src = aligned_alloc(64, ((size_t)MAX_ROWS * k * 4 + 63) & ~(size_t)63);
	float *dst = aligned_alloc(64, ((size_t)MAX_ROWS * n * 4 + 63) & ~(size_t)63);
	struct model_layer l = {.has_gemm = 1, .k = (size_t)k, .n = (size_t)n, .alpha = 1.0f};
	int ret = 0;

	for (long i = 0; i < (long)k * n; i++)
		w[i] = (float)(i % 13) / 13.0f - 0.5f;
	for (long i = 0; i < (long)MAX_ROWS * k; i++)
		src[i] = (float)(i % 7) / 7.0f;
	l.w = w;
	if (gemm_xsmm_prepare(&l, 0)) {
		fprintf(stderr, "gemm_routes: no libxsmm kernels for %dx%d\n", k, n);
		ret = 1;
		goto out;
	}
	for (size_t r = 0; r < sizeof(rows_list) / sizeof(rows_list[0]); r++) {
		size_t rows = (size_t)rows_list[r];
		double t[2][TRIALS];

		for (int tr = 0; tr < TRIALS; tr++)
			for (int route = 0; route < 2; route++) {
				gemm_fn fn = route ? gemm_run_xsmm : gemm_run_openblas;
				double t0 = now(), t1;
				long it = 0;

				do {
					for (int i = 0; i < 8; i++)
						fn(&l, src, rows, dst, NULL);
					it += 8;
					t1 = now();
				} while (t1 - t0 < seconds / TRIALS / 2);
				t[route][tr] = (t1 - t0) * 1e9 / (double)it;
			}
		qsort(t[0], TRIALS, sizeof(double), cmp_double);
		qsort(t[1], TRIALS, sizeof(double), cmp_double);
		printf(
		    "{\"bench\":\"gemm_routes\",\"k\":%d,\"n\":%d,\"rows\":%d,\"openblas_ns\":%.0f,"
		    "\"xsmm_ns\":%.0f,\"openblas_ns_median\":%.0f,\"xsmm_ns_median\":%.0f,"
		    "\"ratio\":%.3f,\"ratio_median\":%.3f,\"corename\":\"%s\",\"xsmm_arch\":\"%s\"}"
		    "\n",
		    k, n, rows_list[r], t[0][0], t[1][0], t[0][TRIALS / 2], t[1][TRIALS / 2],
		    t[1][0] / t[0][0], t[1][TRIALS / 2] / t[0][TRIALS / 2], openblas_get_corename(),
		    libxsmm_get_target_arch());
		fflush(stdout);
	}
	gemm_xsmm_release(l.gemm_state);
out:
	free(w);
	free(src);
	free(dst);
	return ret;
}

int main(int argc, char **argv)
{
	double seconds = 0.2;
	int i = lg_cli_simple(argc, argv, usage, 0, 64), ret = 0;

	openblas_set_num_threads(1);
	if (gemm_xsmm_missing()) {
		fprintf(stderr, "gemm_routes: %s\n", gemm_xsmm_missing());
		return 1;
	}
	if (i < argc && !strchr(argv[i], 'x'))
		seconds = atof(argv[i++]);
	if (i == argc) {
		for (size_t s = 0; s < sizeof(default_shapes) / sizeof(default_shapes[0]); s++) {
			int k, n;

			sscanf(default_shapes[s], "%dx%d", &k, &n);
			ret |= shape(k, n, seconds);
		}
	}
	for (; i < argc; i++) {
		int k, n;

		if (sscanf(argv[i], "%dx%d", &k, &n) != 2 || k < 1 || n < 1 || k > 65536 ||
		    n > 65536) {
			fprintf(stderr, "gemm_routes: '%s' is not INxOUT\n", argv[i]);
			return 2;
		}
		ret |= shape(k, n, seconds);
	}
	return ret;
}
