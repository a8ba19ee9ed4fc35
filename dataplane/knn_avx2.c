// SPDX-License-Identifier: MIT
/* The kNN row minimum in AVX2 lanes (knn.h). */
#include <immintrin.h>
#include <math.h>

#include "knn.h"

float lg_knn_rowmin_avx2(const float *g, const float *tn, size_t m)
{
	__m256 best = _mm256_set1_ps(INFINITY), two = _mm256_set1_ps(2.0f);
	float lanes[8], out = INFINITY;
	size_t j = 0;

	for (; j + 8 <= m; j += 8) {
		__m256 v = _mm256_sub_ps(_mm256_loadu_ps(tn + j),
					 _mm256_mul_ps(two, _mm256_loadu_ps(g + j)));

		best = _mm256_min_ps(v, best);
	}
	_mm256_storeu_ps(lanes, best);
	for (int l = 0; l < 8; l++)
		if (lanes[l] < out)
			out = lanes[l];
	for (; j < m; j++) {
		float v = tn[j] - 2.0f * g[j];

		if (v < out)
			out = v;
	}
	return out;
}
