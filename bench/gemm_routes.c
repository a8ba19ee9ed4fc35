/* SPDX-License-Identifier: MIT */
/*
 * The two fp32 GEMM routes alone, at layer shapes, interleaved trial by trial: the calls the
 * engine's openblas route makes (cblas_sgemv at one row, cblas_sgemm NoTrans/NoTrans on
 * [in, out] weights above) against one libxsmm JIT kernel per row count (the xsmm route's,
 * made before timing). Where AUTO's rule in dataplane/model/gemm.h comes from.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <libxsmm.h>

#include <linegate/cli.h>

#include "bench_time.h"

#define TRIALS 9

static const char usage[] =
    "Usage: gemm_routes [options] [SECONDS] [INxOUT ...]\n"
    "\n"
    "OpenBLAS (sgemv at 1 row, sgemm above) against libxsmm's JIT kernels at each layer\n"
    "shape INxOUT (default: every layer shape of the fixture models) and 1, 2, 4, 8, 16 and\n"
    "32 rows, one thread, the two interleaved in each of 9 trials.\n"
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
static const int rows_list[] = {1, 2, 4, 8, 16, 32};

static void openblas_call(int rows, int k, int n, const float *w, const float *src, float *dst)
{
	if (rows == 1)
		cblas_sgemv(CblasRowMajor, CblasTrans, k, n, 1.0f, w, n, src, 1, 0.0f, dst, 1);
	else
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, n, k, 1.0f, src, k, w,
			    n, 0.0f, dst, n);
}

static int shape(int k, int n, double seconds)
{
	float *w = aligned_alloc(64, ((size_t)k * n * 4 + 63) & ~(size_t)63);
	float *src = aligned_alloc(64, ((size_t)32 * k * 4 + 63) & ~(size_t)63);
	float *dst = aligned_alloc(64, ((size_t)32 * n * 4 + 63) & ~(size_t)63);

	for (long i = 0; i < (long)k * n; i++)
		w[i] = (float)(i % 13) / 13.0f - 0.5f;
	for (long i = 0; i < 32L * k; i++)
		src[i] = (float)(i % 7) / 7.0f;
	for (size_t r = 0; r < sizeof(rows_list) / sizeof(rows_list[0]); r++) {
		libxsmm_blasint m = n, nn = rows_list[r], kk = k, lda = n, ldb = k, ldc = n;
		libxsmm_smmfunction f =
		    libxsmm_smmdispatch(m, nn, kk, &lda, &ldb, &ldc, NULL, NULL, NULL, NULL);
		double t[2][TRIALS];

		if (!f) {
			fprintf(stderr, "gemm_routes: no libxsmm kernel for %dx%d, %d rows\n", k, n,
				rows_list[r]);
			return 1;
		}
		for (int tr = 0; tr < TRIALS; tr++)
			for (int route = 0; route < 2; route++) {
				double t0 = now(), t1;
				long it = 0;

				do {
					for (int i = 0; i < 8; i++) {
						if (route)
							f(w, src, dst);
						else
							openblas_call(rows_list[r], k, n, w, src,
								      dst);
					}
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
	free(w);
	free(src);
	free(dst);
	return 0;
}

int main(int argc, char **argv)
{
	double seconds = 0.2;
	int i = lg_cli_simple(argc, argv, usage, 0, 64), ret = 0;

	openblas_set_num_threads(1);
	libxsmm_init();
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
