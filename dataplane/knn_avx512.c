// SPDX-License-Identifier: MIT
/* The kNN row minimum in AVX-512 lanes (knn.h). */
#include <immintrin.h>
#include <math.h>

#include "knn.h"

float lg_knn_rowmin_avx512(const float *g, const float *tn, size_t m)
{
	__m512 best = _mm512_set1_ps(INFINITY), two = _mm512_set1_ps(2.0f);
	float out;
	size_t j = 0;

	for (; j + 16 <= m; j += 16) {
		__m512 v = _mm512_sub_ps(_mm512_loadu_ps(tn + j),
					 _mm512_mul_ps(two, _mm512_loadu_ps(g + j)));

		best = _mm512_min_ps(v, best);
	}
	if (j < m) {
		__mmask16 k = (__mmask16)((1u << (m - j)) - 1);
		__m512 v = _mm512_sub_ps(_mm512_maskz_loadu_ps(k, tn + j),
					 _mm512_mul_ps(two, _mm512_maskz_loadu_ps(k, g + j)));

		best = _mm512_mask_min_ps(best, k, v, best);
	}
	out = _mm512_reduce_min_ps(best);
	return out;
}
