// SPDX-License-Identifier: MIT
/* The basic row's per-bin passes with AVX2: two vectors are a band's eight sums. */
#include <immintrin.h>

#include "features_spec.h"

static void taper(const float *x, const float *w, size_t n, float *out)
{
	size_t t = 0;

	for (; t + 8 <= n; t += 8)
		_mm256_storeu_ps(out + t,
				 _mm256_mul_ps(_mm256_loadu_ps(x + t), _mm256_loadu_ps(w + t)));
	for (; t < n; t++)
		out[t] = x[t] * w[t];
}

static void power(const float *X, size_t m, float *p)
{
	size_t j = 0;

	for (; j + 8 <= m; j += 8) {
		__m256 a = _mm256_loadu_ps(X + 2 * j), b = _mm256_loadu_ps(X + 2 * j + 8);

		/* hadd of the squares: p0 p1 p4 p5 | p2 p3 p6 p7, then in order */
		a = _mm256_hadd_ps(_mm256_mul_ps(a, a), _mm256_mul_ps(b, b));
		_mm256_storeu_ps(
		    p + j, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(a), 0xd8)));
	}
	for (; j < m; j++)
		p[j] = X[2 * j] * X[2 * j] + X[2 * j + 1] * X[2 * j + 1];
}

/* Eight complex numbers from z (re, im interleaved) as their re and im parts, in order. */
static inline void deinterleave(const float *z, __m256 *re, __m256 *im)
{
	__m256 a = _mm256_loadu_ps(z), b = _mm256_loadu_ps(z + 8);

	/* r0 r1 r4 r5 | r2 r3 r6 r7, then in order */
	*re = _mm256_castpd_ps(
	    _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xd8));
	*im = _mm256_castpd_ps(
	    _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xdd)), 0xd8));
}

static void half_power(const float *Z, const float *c, const float *s, size_t m, size_t klo,
		       size_t khi, float *p)
{
	const __m256i rev = _mm256_setr_epi32(7, 6, 5, 4, 3, 2, 1, 0);
	const __m256 quarter = _mm256_set1_ps(0.25f);
	size_t k = klo;

	for (; k + 8 <= khi && k + 7 <= m; k += 8) {
		__m256 ar, ai, br, bi, sr, si, dr, di, vc, vs, xr, xi;

		deinterleave(Z + 2 * k, &ar, &ai);
		/* Z[m - k] for k = j .. j + 7 lies at m - j - 7 .. m - j, backwards */
		deinterleave(Z + 2 * (m - k - 7), &br, &bi);
		br = _mm256_permutevar8x32_ps(br, rev);
		bi = -_mm256_permutevar8x32_ps(bi, rev);
		sr = ar + br;
		si = ai + bi;
		dr = ar - br;
		di = ai - bi;
		vc = _mm256_loadu_ps(c + k);
		vs = _mm256_loadu_ps(s + k);
		xr = sr + (vc * di - vs * dr);
		xi = si - (vc * dr + vs * di);

		_mm256_storeu_ps(p + k - klo, quarter * (xr * xr + xi * xi));
	}
	for (; k < khi; k++)
		p[k - klo] = lg_half_bin(Z, c, s, m, k);
}

static inline __m256d prod(const float *pw, const float *wt)
{
	return _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(pw)), _mm256_cvtps_pd(_mm_loadu_ps(wt)));
}

static double band_energy(const float *pw, const float *wt, size_t lo, size_t hi)
{
	__m256d a0 = _mm256_setzero_pd(), a1 = a0;
	double a[8];
	size_t j = lo;

	for (; j + 8 <= hi; j += 8) {
		a0 = _mm256_add_pd(a0, prod(pw + j, wt + j));
		a1 = _mm256_add_pd(a1, prod(pw + j + 4, wt + j + 4));
	}
	_mm256_storeu_pd(a, a0);
	_mm256_storeu_pd(a + 4, a1);
	for (int l = 0; j < hi; j++, l++)
		a[l] += (double)pw[j] * wt[j];
	return ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
}

/* lg_db_normal() in four lanes. */
static __m256d db_normal(__m256d x)
{
	const __m256i u = _mm256_castpd_si256(x);
	/* k + 2^52 + 2^51 as a double's bits, minus 2^52 + 2^51: k as a double, exactly */
	const __m256d magic = _mm256_set1_pd(0x1.8p52);
	__m256i hx = _mm256_srli_epi64(u, 32), i, k;
	__m256d m, dk;

	k = _mm256_sub_epi64(_mm256_srli_epi64(hx, 20), _mm256_set1_epi64x(1023));
	hx = _mm256_and_si256(hx, _mm256_set1_epi64x(0x000fffff));
	i = _mm256_and_si256(_mm256_add_epi64(hx, _mm256_set1_epi64x(0x95f64)),
			     _mm256_set1_epi64x(0x100000));
	m = _mm256_castsi256_pd(_mm256_or_si256(
	    _mm256_slli_epi64(
		_mm256_or_si256(hx, _mm256_xor_si256(i, _mm256_set1_epi64x(0x3ff00000))), 32),
	    _mm256_and_si256(u, _mm256_set1_epi64x(0xffffffff))));
	k = _mm256_add_epi64(k, _mm256_srli_epi64(i, 20));
	dk = _mm256_castsi256_pd(_mm256_add_epi64(k, _mm256_castpd_si256(magic))) - magic;
	LG_DB_RETURN_LOG(__m256d, m, dk);
}

static void bands(const float *pw, const float *wt, const size_t *bstart, double floor, float *out)
{
	_Static_assert(LG_FEAT_BANDS == 8, "two vectors hold the bands");
	for (int h = 0; h < 2; h++) {
		const size_t *bs = bstart + 4 * h;
		/* built in registers: stored one by one and read back as a vector, they waited
		 * for the store buffer */
		__m256d x = _mm256_setr_pd(band_energy(pw, wt, bs[0], bs[1]) + floor,
					   band_energy(pw, wt, bs[1], bs[2]) + floor,
					   band_energy(pw, wt, bs[2], bs[3]) + floor,
					   band_energy(pw, wt, bs[3], bs[4]) + floor);
		__m256d ok = _mm256_and_pd(
		    _mm256_cmp_pd(x, _mm256_set1_pd(0x1p-1022), _CMP_GE_OQ),
		    _mm256_cmp_pd(x, _mm256_set1_pd(0x1.fffffffffffffp1023), _CMP_LE_OQ));
		int normal = _mm256_movemask_pd(ok);

		_mm_storeu_ps(out + 4 * h, _mm256_cvtpd_ps(db_normal(x)));
		if (normal != 0xf) {
			double e[4];

			_mm256_storeu_pd(e, x);
			for (int l = 0; l < 4; l++)
				if (!(normal & (1 << l)))
					out[4 * h + l] = lg_db(e[l]);
		}
	}
}

const struct lg_spec_kernels lg_spec_avx2 = {taper, power, half_power, bands};
