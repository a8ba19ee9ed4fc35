// SPDX-License-Identifier: MIT
/* The time-domain statistics' passes in plain C: any CPU, and the order the SIMD files keep. */
#include <math.h>

#include "features_time.h"

enum { L = LG_TIME_LANES };

/* The lanes' sum, pairwise: lane l takes in lane l + L/2, then l + L/4, ... */
static double lanes_sum(double *lane)
{
	for (int w = L / 2; w; w /= 2)
		for (int l = 0; l < w; l++)
			lane[l] += lane[l + w];
	return lane[0];
}

static void sums(const float *x, size_t n, double *sum, float *peak)
{
	double dsum[L] = {0};
	float p[L] = {0};

	for (size_t b = 0; b < n; b += LG_TIME_BLOCK) {
		size_t m = n - b < LG_TIME_BLOCK ? n - b : LG_TIME_BLOCK, i;
		const float *xb = x + b;
		float acc[L] = {0};

		for (i = 0; i + L <= m; i += L)
			for (int l = 0; l < L; l++) {
				float a = fabsf(xb[i + l]);

				acc[l] += xb[i + l];
				p[l] = a > p[l] ? a : p[l];
			}
		for (size_t l = 0; i + l < m; l++) {
			float a = fabsf(xb[i + l]);

			acc[l] += xb[i + l];
			p[l] = a > p[l] ? a : p[l];
		}
		for (int l = 0; l < L; l++)
			dsum[l] += acc[l];
	}
	for (int l = 1; l < L; l++)
		p[0] = p[l] > p[0] ? p[l] : p[0];
	*peak = p[0];
	*sum = lanes_sum(dsum);
}

static void moments(const float *x, size_t n, float c, float s, double m[4])
{
	double dm[4][L] = {{0}};

	for (size_t b = 0; b < n; b += LG_TIME_BLOCK) {
		size_t len = n - b < LG_TIME_BLOCK ? n - b : LG_TIME_BLOCK, i;
		const float *xb = x + b;
		float a1[L] = {0}, a2[L] = {0}, a3[L] = {0}, a4[L] = {0};

		for (i = 0; i + L <= len; i += L)
			for (int l = 0; l < L; l++) {
				float d = (xb[i + l] - c) * s, d2 = d * d;

				a1[l] += d;
				a2[l] += d2;
				a3[l] += d2 * d;
				a4[l] += d2 * d2;
			}
		for (size_t l = 0; i + l < len; l++) {
			float d = (xb[i + l] - c) * s, d2 = d * d;

			a1[l] += d;
			a2[l] += d2;
			a3[l] += d2 * d;
			a4[l] += d2 * d2;
		}
		for (int l = 0; l < L; l++) {
			dm[0][l] += a1[l];
			dm[1][l] += a2[l];
			dm[2][l] += a3[l];
			dm[3][l] += a4[l];
		}
	}
	for (int k = 0; k < 4; k++)
		m[k] = lanes_sum(dm[k]);
}

const struct lg_time_kernels lg_time_scalar = {sums, moments};
