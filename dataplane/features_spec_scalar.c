// SPDX-License-Identifier: MIT
/* The basic row's per-bin passes in plain C: any CPU, and the order the SIMD files keep. */
#include "features_spec.h"

static void taper(const float *restrict x, const float *restrict w, size_t n, float *restrict out)
{
	for (size_t t = 0; t < n; t++)
		out[t] = x[t] * w[t];
}

static void power(const float *restrict X, size_t m, float *restrict p)
{
	for (size_t j = 0; j < m; j++)
		p[j] = X[2 * j] * X[2 * j] + X[2 * j + 1] * X[2 * j + 1];
}

static void half_power(const float *Z, const float *c, const float *s, size_t m, size_t klo,
		       size_t khi, float *p)
{
	for (size_t k = klo; k < khi; k++)
		p[k - klo] = lg_half_bin(Z, c, s, m, k);
}

typedef float v2f __attribute__((vector_size(8)));
typedef double v2d __attribute__((vector_size(16)));

/* Two floats from p as two doubles (one cvtps2pd). */
static v2d v2d_at(const float *p)
{
	v2f v;

	memcpy(&v, p, sizeof(v));
	return __builtin_convertvector(v, v2d);
}

/*
 * One band's sum in the eight partial sums of features_spec.h. They are written as four
 * vectors of two because GCC left the eight scalar (a scalar convert, multiply and add per
 * bin; vectors of four, wider than SSE2's registers, it kept on the stack).
 */
static double band_energy(const float *pw, const float *wt, size_t lo, size_t hi)
{
	v2d a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
	double a[8];
	size_t j = lo;

	for (; j + 8 <= hi; j += 8) {
		a0 += v2d_at(pw + j) * v2d_at(wt + j);
		a1 += v2d_at(pw + j + 2) * v2d_at(wt + j + 2);
		a2 += v2d_at(pw + j + 4) * v2d_at(wt + j + 4);
		a3 += v2d_at(pw + j + 6) * v2d_at(wt + j + 6);
	}
	memcpy(a, &a0, sizeof(a0));
	memcpy(a + 2, &a1, sizeof(a1));
	memcpy(a + 4, &a2, sizeof(a2));
	memcpy(a + 6, &a3, sizeof(a3));
	for (int l = 0; j < hi; j++, l++)
		a[l] += (double)pw[j] * wt[j];
	return ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
}

static void bands(const float *pw, const float *wt, const size_t *bstart, double floor, float *out)
{
	for (int b = 0; b < LG_FEAT_BANDS; b++)
		out[b] = lg_db(band_energy(pw, wt, bstart[b], bstart[b + 1]) + floor);
}

const struct lg_spec_kernels lg_spec_scalar = {taper, power, half_power, bands};
