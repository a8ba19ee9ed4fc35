// SPDX-License-Identifier: MIT
/* The basic row's per-bin passes with AVX-512 F + DQ: one vector is a band's eight sums. */
#include <immintrin.h>

#include "features_spec.h"

static void taper(const float *x, const float *w, size_t n, float *out)
{
	size_t t = 0;

	for (; t + 16 <= n; t += 16)
		_mm512_storeu_ps(out + t,
				 _mm512_mul_ps(_mm512_loadu_ps(x + t), _mm512_loadu_ps(w + t)));
	if (t < n) {
		__mmask16 m = (__mmask16)((1u << (n - t)) - 1);

		_mm512_mask_storeu_ps(out + t, m,
				      _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + t),
						    _mm512_maskz_loadu_ps(m, w + t)));
	}
}

static void power(const float *X, size_t m, float *p)
{
	const __m512i re =
	    _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
	const __m512i im = _mm512_add_epi32(re, _mm512_set1_epi32(1));
	size_t j = 0;

	for (; j + 16 <= m; j += 16) {
		__m512 a = _mm512_loadu_ps(X + 2 * j), b = _mm512_loadu_ps(X + 2 * j + 16);
		__m512 r = _mm512_permutex2var_ps(a, re, b), i = _mm512_permutex2var_ps(a, im, b);

		_mm512_storeu_ps(p + j, _mm512_add_ps(_mm512_mul_ps(r, r), _mm512_mul_ps(i, i)));
	}
	for (; j < m; j++)
		p[j] = X[2 * j] * X[2 * j] + X[2 * j + 1] * X[2 * j + 1];
}

static void half_power(const float *Z, const float *c, const float *s, size_t m, size_t klo,
		       size_t khi, float *p)
{
	const __m512i even =
	    _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
	const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
	/* Z[m - k] for k = j .. j + 15 lies at m - j - 15 .. m - j, backwards */
	const __m512i reven =
	    _mm512_setr_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
	const __m512i rodd = _mm512_add_epi32(reven, _mm512_set1_epi32(1));
	const __m512 quarter = _mm512_set1_ps(0.25f);
	size_t k = klo;

	for (; k + 16 <= khi && k + 15 <= m; k += 16) {
		const float *a = Z + 2 * k, *b = Z + 2 * (m - k - 15);
		__m512 a0 = _mm512_loadu_ps(a), a1 = _mm512_loadu_ps(a + 16);
		__m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
		__m512 ar = _mm512_permutex2var_ps(a0, even, a1);
		__m512 ai = _mm512_permutex2var_ps(a0, odd, a1);
		__m512 br = _mm512_permutex2var_ps(b0, reven, b1);
		__m512 bi = -_mm512_permutex2var_ps(b0, rodd, b1);
		__m512 sr = ar + br, si = ai + bi, dr = ar - br, di = ai - bi;
		__m512 vc = _mm512_loadu_ps(c + k), vs = _mm512_loadu_ps(s + k);
		__m512 xr = sr + (vc * di - vs * dr), xi = si - (vc * dr + vs * di);

		_mm512_storeu_ps(p + k - klo, quarter * (xr * xr + xi * xi));
	}
	for (; k < khi; k++)
		p[k - klo] = lg_half_bin(Z, c, s, m, k);
}

/* pw[j] wt[j] of the lanes in mask (the others 0) as eight doubles. */
static inline __m512d prod(const float *pw, const float *wt, __mmask16 m)
{
	__m512 a = _mm512_maskz_loadu_ps(m, pw), b = _mm512_maskz_loadu_ps(m, wt);

	return _mm512_mul_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(a)),
			     _mm512_cvtps_pd(_mm512_castps512_ps256(b)));
}

/* One band's eight partial sums (lane l: bins lo + l, lo + l + 8, ...). Adding the tail's
 * zero lanes changes nothing: the sums are >= +0. */
static inline __m512d band_sums(const float *pw, const float *wt, size_t lo, size_t hi)
{
	__m512d a = _mm512_setzero_pd();
	size_t j = lo;

	for (; j + 8 <= hi; j += 8)
		a = _mm512_add_pd(a, _mm512_mul_pd(_mm512_cvtps_pd(_mm256_loadu_ps(pw + j)),
						   _mm512_cvtps_pd(_mm256_loadu_ps(wt + j))));
	if (j < hi)
		a = _mm512_add_pd(a, prod(pw + j, wt + j, (__mmask16)((1u << (hi - j)) - 1)));
	return a;
}

/*
 * Bands b and b + 1 (sums a, c) to t = (s0 + s4, s1 + s5, s2 + s6, s3 + s7) of a in lanes 0-3
 * and of c in lanes 4-7.
 */
static inline __m512d fold(__m512d a, __m512d c)
{
	return _mm512_add_pd(_mm512_shuffle_f64x2(a, c, 0x44), _mm512_shuffle_f64x2(a, c, 0xee));
}

/*
 * The eight bands' sums reduced as ((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7)), all in
 * registers: stored one by one and read back as a vector, they waited for the store buffer.
 */
static inline __m512d reduce(const __m512d *a)
{
	/* u = t0 + t1, v = t2 + t3. For bands 0-3: lanes u0 u2 v0 v2 u1 u3 v1 v3 */
	__m512d t01 = fold(a[0], a[1]), t23 = fold(a[2], a[3]);
	__m512d t45 = fold(a[4], a[5]), t67 = fold(a[6], a[7]);
	__m512d lo = _mm512_add_pd(_mm512_unpacklo_pd(t01, t23), _mm512_unpackhi_pd(t01, t23));
	__m512d hi = _mm512_add_pd(_mm512_unpacklo_pd(t45, t67), _mm512_unpackhi_pd(t45, t67));
	/* u + v, bands in the order 0 2 1 3 4 6 5 7 */
	__m512d e =
	    _mm512_add_pd(_mm512_shuffle_f64x2(lo, hi, 0x88), _mm512_shuffle_f64x2(lo, hi, 0xdd));

	return _mm512_permutexvar_pd(_mm512_setr_epi64(0, 2, 1, 3, 4, 6, 5, 7), e);
}

/* lg_db_normal() in eight lanes. */
static __m512d db_normal(__m512d x)
{
	const __m512i u = _mm512_castpd_si512(x);
	__m512i hx = _mm512_srli_epi64(u, 32), i, k;
	__m512d m, dk;

	k = _mm512_sub_epi64(_mm512_srli_epi64(hx, 20), _mm512_set1_epi64(1023));
	hx = _mm512_and_si512(hx, _mm512_set1_epi64(0x000fffff));
	i = _mm512_and_si512(_mm512_add_epi64(hx, _mm512_set1_epi64(0x95f64)),
			     _mm512_set1_epi64(0x100000));
	m = _mm512_castsi512_pd(_mm512_or_si512(
	    _mm512_slli_epi64(
		_mm512_or_si512(hx, _mm512_xor_si512(i, _mm512_set1_epi64(0x3ff00000))), 32),
	    _mm512_and_si512(u, _mm512_set1_epi64(0xffffffff))));
	k = _mm512_add_epi64(k, _mm512_srli_epi64(i, 20));
	dk = _mm512_cvtepi64_pd(k);
	LG_DB_RETURN_LOG(__m512d, m, dk);
}

static void bands(const float *pw, const float *wt, const size_t *bstart, double floor, float *out)
{
	__m512d a[LG_FEAT_BANDS], x;
	__mmask8 normal;

	_Static_assert(LG_FEAT_BANDS == 8, "one vector holds the bands");
	for (int b = 0; b < LG_FEAT_BANDS; b++)
		a[b] = band_sums(pw, wt, bstart[b], bstart[b + 1]);
	x = _mm512_add_pd(reduce(a), _mm512_set1_pd(floor));
	normal = _mm512_cmp_pd_mask(x, _mm512_set1_pd(0x1p-1022), _CMP_GE_OQ) &
		 _mm512_cmp_pd_mask(x, _mm512_set1_pd(0x1.fffffffffffffp1023), _CMP_LE_OQ);
	_mm256_storeu_ps(out, _mm512_cvtpd_ps(db_normal(x)));
	if (normal != 0xff) {
		double e[LG_FEAT_BANDS];

		_mm512_storeu_pd(e, x);
		for (int b = 0; b < LG_FEAT_BANDS; b++)
			if (!(normal & (1u << b)))
				out[b] = lg_db(e[b]);
	}
}

const struct lg_spec_kernels lg_spec_avx512 = {taper, power, half_power, bands};
