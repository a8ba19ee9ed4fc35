// SPDX-License-Identifier: MIT
/* The kNN row minimum without vector instructions (knn.h). */
#include <math.h>

#include "knn.h"

float lg_knn_rowmin_scalar(const float *g, const float *tn, size_t m)
{
	float best = INFINITY;

	for (size_t j = 0; j < m; j++) {
		float v = tn[j] - 2.0f * g[j];

		if (v < best)
			best = v;
	}
	return best;
}
