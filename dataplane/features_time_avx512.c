// SPDX-License-Identifier: MIT
/* The time-domain statistics' passes with AVX-512 F + DQ: two vectors are the 32 lanes. */
#include <immintrin.h>

#include "features_time.h"

_Static_assert(LG_TIME_LANES == 32, "two __m512 hold the lanes");

/* 32 double lanes: q[j] holds lanes 8j .. 8j + 7. */
struct dlanes {
	__m512d q[4];
};

static inline void dlanes_zero(struct dlanes *d)
{
	for (int j = 0; j < 4; j++)
		d->q[j] = _mm512_setzero_pd();
}

/* Adds float lanes 16h .. 16h + 15 (v) to the double lanes. */
static inline void flush(struct dlanes *d, int h, __m512 v)
{
	__m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));

	d->q[2 * h] = _mm512_add_pd(d->q[2 * h], _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
	d->q[2 * h + 1] = _mm512_add_pd(d->q[2 * h + 1], _mm512_cvtps_pd(hi));
}

/* The lanes' sum in the order of features_time.h: l + 16, l + 8, l + 4, l + 2, l + 1. */
static inline double dlanes_sum(const struct dlanes *d)
{
	__m512d e = _mm512_add_pd(_mm512_add_pd(d->q[0], d->q[2]), _mm512_add_pd(d->q[1], d->q[3]));
	__m256d f = _mm256_add_pd(_mm512_castpd512_pd256(e), _mm512_extractf64x4_pd(e, 1));
	__m128d g = _mm_add_pd(_mm256_castpd256_pd128(f), _mm256_extractf128_pd(f, 1));

	return _mm_cvtsd_f64(_mm_add_sd(g, _mm_unpackhi_pd(g, g)));
}

/* Lanes [first, first + 16) of a tail of n < 32 samples: the bits of those below n. */
static inline __mmask16 tail_mask(size_t n, size_t first)
{
	if (n <= first)
		return 0;
	return n - first >= 16 ? 0xffff : (__mmask16)((1u << (n - first)) - 1);
}

static void sums(const float *x, size_t n, double *sum, float *peak)
{
	__m512 p0 = _mm512_setzero_ps(), p1 = p0;
	struct dlanes ds;

	dlanes_zero(&ds);
	for (size_t b = 0; b < n; b += LG_TIME_BLOCK) {
		size_t e = n - b < LG_TIME_BLOCK ? n : b + LG_TIME_BLOCK, i;
		__m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;

		for (i = b; i + LG_TIME_LANES <= e; i += LG_TIME_LANES) {
			__m512 v0 = _mm512_loadu_ps(x + i), v1 = _mm512_loadu_ps(x + i + 16);

			acc0 = _mm512_add_ps(acc0, v0);
			acc1 = _mm512_add_ps(acc1, v1);
			/* max(a, p) is p when a is NaN, like the scalar a > p ? a : p */
			p0 = _mm512_max_ps(_mm512_abs_ps(v0), p0);
			p1 = _mm512_max_ps(_mm512_abs_ps(v1), p1);
		}
		if (i < e) { /* lanes past the end read as 0 */
			__m512 v0 = _mm512_maskz_loadu_ps(tail_mask(e - i, 0), x + i);
			__m512 v1 = _mm512_maskz_loadu_ps(tail_mask(e - i, 16), x + i + 16);

			acc0 = _mm512_add_ps(acc0, v0);
			acc1 = _mm512_add_ps(acc1, v1);
			p0 = _mm512_max_ps(_mm512_abs_ps(v0), p0);
			p1 = _mm512_max_ps(_mm512_abs_ps(v1), p1);
		}
		flush(&ds, 0, acc0);
		flush(&ds, 1, acc1);
	}
	*peak = _mm512_reduce_max_ps(_mm512_max_ps(p0, p1));
	*sum = dlanes_sum(&ds);
}

struct acc {
	__m512 a1, a2, a3, a4;
};

static inline void step(struct acc *a, __m512 v, __m512 vc, __m512 vs)
{
	__m512 d = _mm512_mul_ps(_mm512_sub_ps(v, vc), vs), d2 = _mm512_mul_ps(d, d);

	a->a1 = _mm512_add_ps(a->a1, d);
	a->a2 = _mm512_add_ps(a->a2, d2);
	a->a3 = _mm512_add_ps(a->a3, _mm512_mul_ps(d2, d));
	a->a4 = _mm512_add_ps(a->a4, _mm512_mul_ps(d2, d2));
}

static void moments(const float *x, size_t n, float c, float s, double m[4])
{
	const __m512 vc = _mm512_set1_ps(c), vs = _mm512_set1_ps(s), zero = _mm512_setzero_ps();
	struct dlanes dm[4];

	for (int k = 0; k < 4; k++)
		dlanes_zero(&dm[k]);
	for (size_t b = 0; b < n; b += LG_TIME_BLOCK) {
		size_t e = n - b < LG_TIME_BLOCK ? n : b + LG_TIME_BLOCK, i;
		struct acc a[2] = {{zero, zero, zero, zero}, {zero, zero, zero, zero}};

		for (i = b; i + LG_TIME_LANES <= e; i += LG_TIME_LANES) {
			step(&a[0], _mm512_loadu_ps(x + i), vc, vs);
			step(&a[1], _mm512_loadu_ps(x + i + 16), vc, vs);
		}
		/* Lanes past the end read as c: their d = 0 adds nothing. */
		if (i < e) {
			step(&a[0], _mm512_mask_loadu_ps(vc, tail_mask(e - i, 0), x + i), vc, vs);
			step(&a[1], _mm512_mask_loadu_ps(vc, tail_mask(e - i, 16), x + i + 16), vc,
			     vs);
		}
		for (int h = 0; h < 2; h++) {
			flush(&dm[0], h, a[h].a1);
			flush(&dm[1], h, a[h].a2);
			flush(&dm[2], h, a[h].a3);
			flush(&dm[3], h, a[h].a4);
		}
	}
	for (int k = 0; k < 4; k++)
		m[k] = dlanes_sum(&dm[k]);
}

const struct lg_time_kernels lg_time_avx512 = {sums, moments};
