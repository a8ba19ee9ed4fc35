/* SPDX-License-Identifier: MIT */
/*
 * White-box test of the fp32 GEMM routes (dataplane/model/gemm.h) against a double-precision
 * product, at shapes the fixture models do not have: output widths that leave a narrower
 * last libxsmm panel (n > GEMM_XSMM_PANEL, not a multiple of it), widths below one panel,
 * odd k, alpha folded into the packed weights, and row counts around GEMM_XSMM_BLOCK. Each
 * call must also leave the memory beyond its rows untouched.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "../lgt_cli.h"
#include "../lgtest.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static float frand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((rng >> 40) * (1.0 / (1ull << 24))) * 2.0f - 1.0f;
}

#define GUARD 64
#define GUARD_VAL -12345.0f

static const char *route_name(int r)
{
	return r ? "xsmm" : "openblas";
}

static void one_shape(size_t k, size_t n, float alpha)
{
	static const size_t batches[] = {1,
					 2,
					 7,
					 GEMM_XSMM_BLOCK - 1,
					 GEMM_XSMM_BLOCK,
					 GEMM_XSMM_BLOCK + 1,
					 3 * GEMM_XSMM_BLOCK + 5,
					 GEMM_XSMM_ROWS + GEMM_XSMM_BLOCK + 5};
	const size_t max_b = GEMM_XSMM_ROWS + GEMM_XSMM_BLOCK + 5;
	float *w = malloc(k * n * sizeof(float)), *src = malloc(max_b * k * sizeof(float));
	float *dst = malloc((max_b * n + GUARD) * sizeof(float));
	double *ref = malloc(max_b * n * sizeof(double));
	struct model_layer l = {.has_gemm = 1, .k = k, .n = n, .alpha = alpha};

	for (size_t i = 0; i < k * n; i++)
		w[i] = frand();
	for (size_t i = 0; i < max_b * k; i++)
		src[i] = frand();
	l.w = w;
	for (size_t b = 0; b < max_b; b++)
		for (size_t c = 0; c < n; c++) {
			double s = 0;

			for (size_t i = 0; i < k; i++)
				s += (double)src[b * k + i] * w[i * n + c];
			ref[b * n + c] = alpha * s;
		}
	for (int route = 0; route < 2; route++) {
		gemm_fn fn = gemm_run_openblas;

		if (route) {
#ifdef LG_MODEL_XSMM
			if (!gemm_xsmm_available())
				continue;
			if (gemm_xsmm_prepare(&l, 0)) {
				CHECK(!"gemm_xsmm_prepare failed");
				continue;
			}
			fn = gemm_run_xsmm;
#else
			continue;
#endif
		}
		for (size_t bi = 0; bi < sizeof(batches) / sizeof(batches[0]); bi++) {
			size_t batch = batches[bi], bad = 0;

			for (size_t i = 0; i < max_b * n + GUARD; i++)
				dst[i] = GUARD_VAL;
			fn(&l, src, batch, dst, NULL);
			for (size_t i = 0; i < batch * n; i++) {
				/* k terms of magnitude <= 1, summed in another order */
				double tol = 1e-5 * (double)k * fabs((double)alpha) + 1e-6;

				if (!(fabs(dst[i] - ref[i]) <= tol) && bad++ < 3)
					fprintf(
					    stderr,
					    "%s k %zu n %zu alpha %g batch %zu: [%zu][%zu] %.7g, "
					    "want %.7g\n",
					    route_name(route), k, n, (double)alpha, batch, i / n,
					    i % n, (double)dst[i], ref[i]);
			}
			CHECK(bad == 0);
			for (size_t i = batch * n; i < batch * n + GUARD; i++)
				if (dst[i] != GUARD_VAL && bad++ < 3)
					fprintf(stderr,
						"%s k %zu n %zu batch %zu: wrote dst[%zu]\n",
						route_name(route), k, n, batch, i);
			CHECK(bad == 0);
		}
#ifdef LG_MODEL_XSMM
		if (route) {
			gemm_xsmm_release(l.gemm_state);
			l.gemm_state = NULL;
		}
#endif
	}
	free(w);
	free(src);
	free(dst);
	free(ref);
}

static const char usage[] =
    "Usage: test_gemm_routes [-h]\n"
    "\n"
    "White-box test of the fp32 GEMM routes (openblas, and xsmm where built and runnable)\n"
    "against a double-precision product: output widths with a narrower last libxsmm panel\n"
    "and below one panel, odd k, alpha != 1, row counts around the libxsmm row block; and\n"
    "nothing written past the call's rows.\n"
    "\n" LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	static const size_t shapes[][2] = {
	    {1, 1},
	    {5, 3},
	    {24, 64},
	    {33, GEMM_XSMM_PANEL + 1},
	    {7, 129},
	    {64, 200},
	    {257, 100},
	    {100, 2 * GEMM_XSMM_PANEL},
	    {1024, 256},
	    {3, 17},
	    {64, 3 * GEMM_XSMM_PANEL - 1},
	};

	lgt_cli(argc, argv, usage, 0, 0);
	model_runtime_init();
#ifdef LG_MODEL_XSMM
	if (!gemm_xsmm_available())
		printf("test_gemm_routes: xsmm not tested: %s\n", gemm_xsmm_missing());
#else
	printf("test_gemm_routes: xsmm not tested: built without libxsmm\n");
#endif
	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		one_shape(shapes[s][0], shapes[s][1], 1.0f);
		one_shape(shapes[s][0], shapes[s][1], 0.5f);
	}
	return lgt_done("test_gemm_routes");
}
