// SPDX-License-Identifier: MIT
/* The time-domain statistics' passes with AVX2: four vectors are the 32 lanes. */
#include <immintrin.h>

#include "features_time.h"

_Static_assert(LG_TIME_LANES == 32, "four __m256 hold the lanes");

/* 32 double lanes: q[j] holds lanes 4j .. 4j + 3. */
struct dlanes {
	__m256d q[8];
};

static inline void dlanes_zero(struct dlanes *d)
{
	for (int j = 0; j < 8; j++)
		d->q[j] = _mm256_setzero_pd();
}

/* Adds float lanes 8h .. 8h + 7 (v) to the double lanes. */
static inline void flush(struct dlanes *d, int h, __m256 v)
{
	d->q[2 * h] = _mm256_add_pd(d->q[2 * h], _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
	d->q[2 * h + 1] =
	    _mm256_add_pd(d->q[2 * h + 1], _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

/* The lanes' sum in the order of features_time.h: l + 16, l + 8, l + 4, l + 2, l + 1. */
static inline double dlanes_sum(const struct dlanes *d)
{
	__m256d r[4], f;
	__m128d g;

	for (int j = 0; j < 4; j++)
		r[j] = _mm256_add_pd(d->q[j], d->q[j + 4]);
	f = _mm256_add_pd(_mm256_add_pd(r[0], r[2]), _mm256_add_pd(r[1], r[3]));
	g = _mm_add_pd(_mm256_castpd256_pd128(f), _mm256_extractf128_pd(f, 1));
	return _mm_cvtsd_f64(_mm_add_sd(g, _mm_unpackhi_pd(g, g)));
}

/* Lanes [first, first + 8) of a tail of n < 32 samples: all bits set where the lane < n. */
static inline __m256i tail_mask(size_t n, int first)
{
	const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);

	return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n - first), lane);
}

static inline __m256 absv(__m256 v)
{
	return _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)));
}

static void sums(const float *x, size_t n, double *sum, float *peak)
{
	__m256 p[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
		       _mm256_setzero_ps()};
	struct dlanes ds;
	float pk[8];

	dlanes_zero(&ds);
	for (size_t b = 0; b < n; b += LG_TIME_BLOCK) {
		size_t e = n - b < LG_TIME_BLOCK ? n : b + LG_TIME_BLOCK, i;
		__m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
				 _mm256_setzero_ps()};

		for (i = b; i + LG_TIME_LANES <= e; i += LG_TIME_LANES)
			for (int j = 0; j < 4; j++) {
				__m256 v = _mm256_loadu_ps(x + i + 8 * j);

				acc[j] = _mm256_add_ps(acc[j], v);
				/* max(a, p) is p when a is NaN, like the scalar a > p ? a : p */
				p[j] = _mm256_max_ps(absv(v), p[j]);
			}
		if (i < e) /* lanes past the end read as 0 */
			for (int j = 0; j < 4; j++) {
				__m256 v =
				    _mm256_maskload_ps(x + i + 8 * j, tail_mask(e - i, 8 * j));

				acc[j] = _mm256_add_ps(acc[j], v);
				p[j] = _mm256_max_ps(absv(v), p[j]);
			}
		for (int j = 0; j < 4; j++)
			flush(&ds, j, acc[j]);
	}
	_mm256_storeu_ps(pk, _mm256_max_ps(_mm256_max_ps(p[0], p[1]), _mm256_max_ps(p[2], p[3])));
	for (int l = 1; l < 8; l++)
		pk[0] = pk[l] > pk[0] ? pk[l] : pk[0];
	*peak = pk[0];
	*sum = dlanes_sum(&ds);
}

struct acc {
	__m256 a1, a2, a3, a4;
};

static inline void step(struct acc *a, __m256 v, __m256 vc, __m256 vs)
{
	__m256 d = _mm256_mul_ps(_mm256_sub_ps(v, vc), vs), d2 = _mm256_mul_ps(d, d);

	a->a1 = _mm256_add_ps(a->a1, d);
	a->a2 = _mm256_add_ps(a->a2, d2);
	a->a3 = _mm256_add_ps(a->a3, _mm256_mul_ps(d2, d));
	a->a4 = _mm256_add_ps(a->a4, _mm256_mul_ps(d2, d2));
}

/* Lanes [first, first + 8) of a tail of n < 32 samples; those past the end read as c, so that
 * their d = 0 adds nothing. */
static inline __m256 load_tail(const float *x, size_t n, int first, __m256 vc)
{
	__m256i mask = tail_mask(n, first);

	return _mm256_blendv_ps(vc, _mm256_maskload_ps(x + first, mask), _mm256_castsi256_ps(mask));
}

static void moments(const float *x, size_t n, float c, float s, double m[4])
{
	const __m256 vc = _mm256_set1_ps(c), vs = _mm256_set1_ps(s), zero = _mm256_setzero_ps();
	struct dlanes dm[4];

	for (int k = 0; k < 4; k++)
		dlanes_zero(&dm[k]);
	for (size_t b = 0; b < n; b += LG_TIME_BLOCK) {
		size_t e = n - b < LG_TIME_BLOCK ? n : b + LG_TIME_BLOCK, i;
		struct acc a[4] = {{zero, zero, zero, zero},
				   {zero, zero, zero, zero},
				   {zero, zero, zero, zero},
				   {zero, zero, zero, zero}};

		for (i = b; i + LG_TIME_LANES <= e; i += LG_TIME_LANES)
			for (int j = 0; j < 4; j++)
				step(&a[j], _mm256_loadu_ps(x + i + 8 * j), vc, vs);
		if (i < e)
			for (int j = 0; j < 4; j++)
				step(&a[j], load_tail(x + i, e - i, 8 * j, vc), vc, vs);
		for (int j = 0; j < 4; j++) {
			flush(&dm[0], j, a[j].a1);
			flush(&dm[1], j, a[j].a2);
			flush(&dm[2], j, a[j].a3);
			flush(&dm[3], j, a[j].a4);
		}
	}
	for (int k = 0; k < 4; k++)
		m[k] = dlanes_sum(&dm[k]);
}

const struct lg_time_kernels lg_time_avx2 = {sums, moments};
