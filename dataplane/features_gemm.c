// SPDX-License-Identifier: MIT
/*
 * Band energies as one matrix product: the batch of windows (nwin x n) times a basis
 * (n x 2K) of cos and -sin columns for the K bins the bands need gives the real and
 * imaginary parts of those bins for every window in one cblas_sgemm.
 */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "features_impl.h"

int lg_spec_gemm_init(struct lg_spec *s, size_t max_batch)
{
	size_t n = s->n, K = s->khi - s->klo;

	s->basis = malloc(n * 2 * K * sizeof(float) + 1);
	s->prod = malloc(max_batch * 2 * K * sizeof(float) + 1);
	if (!s->basis || !s->prod) {
		lg_spec_gemm_free(s);
		return -ENOMEM;
	}
	for (size_t t = 0; t < n; t++)
		for (size_t j = 0; j < K; j++) {
			size_t k = s->klo + j;
			/* k t mod n: the angle stays exact for any window length. */
			double a = 2 * M_PI * (double)((k * t) % n) / (double)n;
			/* The taper folds into the basis: tapering costs nothing here. */
			double w = s->taper ? s->taper[t] : 1.0;

			s->basis[t * 2 * K + j] = (float)(w * cos(a));
			s->basis[t * 2 * K + K + j] = (float)(-w * sin(a));
		}
	return 0;
}

void lg_spec_gemm_free(struct lg_spec *s)
{
	free(s->basis);
	free(s->prod);
	s->basis = s->prod = NULL;
}

void lg_spec_gemm_power(struct lg_spec *s, const float *x, size_t nwin, size_t xstride)
{
	size_t K = s->khi - s->klo;

	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nwin, (int)(2 * K),
		    (int)s->n, 1.0f, x, (int)xstride, s->basis, (int)(2 * K), 0.0f, s->prod,
		    (int)(2 * K));
	for (size_t i = 0; i < nwin; i++) {
		const float *p = s->prod + i * 2 * K;
		float *out = s->power + i * K;

		for (size_t j = 0; j < K; j++)
			out[j] = p[j] * p[j] + p[K + j] * p[K + j];
	}
}
