/* SPDX-License-Identifier: MIT */
/*
 * The per-bin passes of the basic feature row (the taper, |X_k|^2, the band sums and their dB
 * values), one implementation per ISA (features_spec_{scalar,avx2,avx512}.c, each built with
 * its own flags); features.c picks them with the time-domain statistics' (features_time.h).
 *
 * At 256 samples these passes and eight calls to libm's log2 cost about as much as the
 * transform itself (docs/benchmarks.md, issue 10). Every implementation gives the same bits:
 * the taper and |X|^2 are one rounding per element; a band is summed in double in eight
 * partial sums, bin j of the band going to sum j % 8 (as four two-lane vectors, one AVX2 pair
 * or one AVX-512 vector), reduced as ((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7)); and
 * the dB value comes from the same polynomial in every lane (lg_db_normal(), below). No
 * multiply-add is fused (the files are built with -ffp-contract=off).
 */
#ifndef LG_FEATURES_SPEC_H
#define LG_FEATURES_SPEC_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <linegate/features.h>

struct lg_spec_kernels {
	/* out[t] = x[t] w[t], t < n. */
	void (*taper)(const float *x, const float *w, size_t n, float *out);
	/* p[j] = re^2 + im^2 of the complex X[j] (re, im interleaved), j < m. */
	void (*power)(const float *X, size_t m, float *p);
	/* p[k - klo] = |X_k|^2 for k in [klo, khi), X from the half-length transform Z (m + 1
	 * complex points, re and im interleaved, Z[m] = Z[0]) with twiddles c[k], s[k]
	 * (features_impl.h): with A = Z[k], B = conj Z[m - k], S = A + B, D = A - B,
	 * 2 X_k = (S.re + (c D.im - s D.re), S.im - (c D.re + s D.im)) and
	 * p = 0.25 ((2X).re^2 + (2X).im^2), in float, in this order of operations. */
	void (*half_power)(const float *Z, const float *c, const float *s, size_t m, size_t klo,
			   size_t khi, float *p);
	/* out[b] = (float)(10 log10(E_b + floor)), E_b the sum of pw[j] wt[j] over the bins
	 * [bstart[b], bstart[b + 1]) in double (a float product is exact there), b < 8. */
	void (*bands)(const float *pw, const float *wt, const size_t *bstart, double floor,
		      float *out);
};

extern const struct lg_spec_kernels lg_spec_scalar;
#ifdef LG_FEATURES_X86
extern const struct lg_spec_kernels lg_spec_avx2;
extern const struct lg_spec_kernels lg_spec_avx512;
#endif

/*
 * 10 log10(x) for a normal positive x, as ln(x) 10 / ln 10 with ln from fdlibm's e_log.c
 * (x = 2^k m, m in [sqrt(2)/2, sqrt(2)), f = m - 1, s = f / (2 + f), a minimax polynomial
 * in s^2; below 1 ulp, and within 4.1e-16 of 10 log10(x) after the scaling). The SIMD files
 * run these operations in the same order per lane. Against 3.0103 log2(x) from glibc (what
 * the row used before), the float results were the same for every one of 10^7 values from
 * 1e-12 to 1e6 (test_features_spec).
 */
#define LG_DB_LN2_HI 6.93147180369123816490e-01 /* 0x3fe62e42fee00000: k ln2_hi is exact */
#define LG_DB_LN2_LO 1.90821492927058770002e-10 /* 0x3dea39ef35793c76 */
#define LG_DB_LG1 6.666666666666735130e-01
#define LG_DB_LG2 3.999999999940941908e-01
#define LG_DB_LG3 2.857142874366239149e-01
#define LG_DB_LG4 2.222219843214978396e-01
#define LG_DB_LG5 1.818357216161805012e-01
#define LG_DB_LG6 1.531383769920937332e-01
#define LG_DB_LG7 1.479819860511658591e-01
#define LG_DB_PER_LN 4.3429448190325182765 /* 10 / ln 10 */

/* True for a normal positive x (not 0, subnormal, infinite or NaN). */
static inline int lg_db_is_normal(double x)
{
	return x >= 0x1p-1022 && x <= 0x1.fffffffffffffp1023;
}

/*
 * The end of lg_db_normal() and of its AVX2 and AVX-512 twins: fdlibm's log(1 + f) on the
 * mantissa m in [sqrt(2)/2, sqrt(2)) and the exponent dk (both of type T: double, or a GCC
 * vector of doubles, whose operators are the same), returned in dB per unit
 * (LG_DB_PER_LN). One expression for the three paths, so they do the same arithmetic.
 */
#define LG_DB_RETURN_LOG(T, m, dk)                                                          \
	do {                                                                                \
		T f_ = (m) - 1.0, s_ = f_ / (2.0 + f_), z_ = s_ * s_, w_ = z_ * z_;           \
		T t1_ = w_ * (LG_DB_LG2 + w_ * (LG_DB_LG4 + w_ * LG_DB_LG6));                 \
		T t2_ = z_ * (LG_DB_LG1 + w_ * (LG_DB_LG3 + w_ * (LG_DB_LG5 + w_ * LG_DB_LG7))); \
		T r_ = t2_ + t1_, hfsq_ = 0.5 * f_ * f_;                                      \
		return ((dk) * LG_DB_LN2_HI -                                                 \
			((hfsq_ - (s_ * (hfsq_ + r_) + (dk) * LG_DB_LN2_LO)) - f_)) *         \
		       LG_DB_PER_LN;                                                          \
	} while (0)

static inline double lg_db_normal(double x)
{
	uint64_t u, hx, i;
	int64_t k;
	double m, dk;

	memcpy(&u, &x, sizeof(u));
	hx = u >> 32;
	k = (int64_t)(hx >> 20) - 1023;
	hx &= 0x000fffff;
	i = (hx + 0x95f64) & 0x100000; /* m above sqrt(2): take it to m / 2, k + 1 */
	u = ((hx | (i ^ 0x3ff00000)) << 32) | (u & 0xffffffff);
	k += (int64_t)(i >> 20);
	memcpy(&m, &u, sizeof(m));
	dk = (double)k;
	LG_DB_RETURN_LOG(double, m, dk);
}

/* Any x: the polynomial where it holds, libm elsewhere (0, subnormal, inf, NaN), so that
 * every ISA gives the same value for the same x. */
static inline float lg_db(double x)
{
	return (float)(lg_db_is_normal(x) ? lg_db_normal(x) : 10.0 * log10(x));
}

/* One bin of half_power(), the order of operations every ISA keeps. */
static inline float lg_half_bin(const float *Z, const float *c, const float *s, size_t m, size_t k)
{
	float ar = Z[2 * k], ai = Z[2 * k + 1], br = Z[2 * (m - k)], bi = -Z[2 * (m - k) + 1];
	float sr = ar + br, si = ai + bi, dr = ar - br, di = ai - bi;
	float xr = sr + (c[k] * di - s[k] * dr), xi = si - (c[k] * dr + s[k] * di);

	return 0.25f * (xr * xr + xi * xi);
}

#endif
