/* SPDX-License-Identifier: MIT */
/*
 * AVX2 + FMA epilogue. Built only into its own static library with -mavx2 -mfma, and called
 * only after the CPU was seen to support both. Row tails use maskload/maskstore (masked-out
 * lanes are never touched), so every column goes through the same arithmetic.
 */
#include <immintrin.h>

#include "epilogue.h"

#define W 8

#define SET1(v) _mm256_set1_ps(v)

/* e^x: same reduction and polynomial as the AVX-512 file; 2^n built in the exponent bits. */
static inline __m256 exp8(__m256 x)
{
	/* NaN and +inf come back as they went in, -inf as 0 (libm's expf): the clamp below
	 * would turn NaN into e^-87 and hide it. */
	const __m256 keep = _mm256_or_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q),
					 _mm256_cmp_ps(x, SET1(__builtin_inff()), _CMP_EQ_OQ));
	const __m256 zero = _mm256_cmp_ps(x, SET1(-__builtin_inff()), _CMP_EQ_OQ);
	const __m256 x0 = x;
	__m256 n, r, p;
	__m256i e;

	x = _mm256_min_ps(_mm256_max_ps(x, SET1(-87.0f)), SET1(88.0f));
	n = _mm256_round_ps(_mm256_mul_ps(x, SET1(1.44269504088896341f)),
			    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	r = _mm256_fnmadd_ps(n, SET1(0.693359375f), x);
	r = _mm256_fnmadd_ps(n, SET1(-2.12194440e-4f), r);
	p = SET1(1.9875691500e-4f);
	p = _mm256_fmadd_ps(p, r, SET1(1.3981999507e-3f));
	p = _mm256_fmadd_ps(p, r, SET1(8.3334519073e-3f));
	p = _mm256_fmadd_ps(p, r, SET1(4.1665795894e-2f));
	p = _mm256_fmadd_ps(p, r, SET1(1.6666665459e-1f));
	p = _mm256_fmadd_ps(p, r, SET1(5.0000001201e-1f));
	p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
	p = _mm256_add_ps(p, SET1(1.0f));
	/* n is in [-126, 127] after the clamp, so n + 127 is a valid biased exponent */
	e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
	p = _mm256_blendv_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), x0, keep);
	return _mm256_andnot_ps(zero, p);
}

/* x < 0 ? 0 : x, so that NaN stays NaN (as in PyTorch and onnxruntime); spelled out rather
 * than left to max_ps's rule of returning its second operand when either is NaN. */
static inline __m256 relu8(__m256 x)
{
	return _mm256_andnot_ps(_mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ), x);
}

static inline __m256 sigmoid8(__m256 x)
{
	__m256 one = SET1(1.0f);

	return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

/* See tanh16() in epilogue_avx512.c for why there are two branches. */
static inline __m256 tanh8(__m256 x)
{
	__m256 sign = _mm256_and_ps(x, SET1(-0.0f));
	__m256 ax = _mm256_andnot_ps(SET1(-0.0f), x);
	__m256 z = _mm256_mul_ps(x, x);
	__m256 p, big;

	p = SET1(-5.70498872745e-3f);
	p = _mm256_fmadd_ps(p, z, SET1(2.06390887954e-2f));
	p = _mm256_fmadd_ps(p, z, SET1(-5.37397155531e-2f));
	p = _mm256_fmadd_ps(p, z, SET1(1.33314422036e-1f));
	p = _mm256_fmadd_ps(p, z, SET1(-3.33332819422e-1f));
	p = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);

	big = exp8(_mm256_add_ps(ax, ax));
	big = _mm256_sub_ps(SET1(1.0f), _mm256_div_ps(SET1(2.0f), _mm256_add_ps(big, SET1(1.0f))));
	big = _mm256_or_ps(big, sign);
	return _mm256_blendv_ps(big, p, _mm256_cmp_ps(ax, SET1(0.625f), _CMP_LT_OQ));
}

static inline __m256i tail_mask(size_t left)
{
	int n = left >= W ? W : (int)left;

	return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static void elementwise(const struct epi_op *ops, size_t n_ops, const float *s, float *d,
			size_t cols)
{
	for (size_t j = 0; j < cols; j += W) {
		__m256i m = tail_mask(cols - j);
		__m256 x = _mm256_maskload_ps(s + j, m);

		for (size_t k = 0; k < n_ops; k++) {
			const struct epi_op *op = &ops[k];

			switch (op->kind) {
			case EPI_ADD:
				x = _mm256_add_ps(x, _mm256_maskload_ps(op->vec + j, m));
				break;
			case EPI_SUB:
				x = _mm256_sub_ps(x, _mm256_maskload_ps(op->vec + j, m));
				break;
			case EPI_RSUB:
				x = _mm256_sub_ps(_mm256_maskload_ps(op->vec + j, m), x);
				break;
			case EPI_MUL:
				x = _mm256_mul_ps(x, _mm256_maskload_ps(op->vec + j, m));
				break;
			case EPI_DIV:
				x = _mm256_div_ps(x, _mm256_maskload_ps(op->vec + j, m));
				break;
			case EPI_RDIV:
				x = _mm256_div_ps(_mm256_maskload_ps(op->vec + j, m), x);
				break;
			case EPI_RELU:
				x = relu8(x);
				break;
			case EPI_LEAKY:
				x = _mm256_blendv_ps(
				    x, _mm256_mul_ps(x, SET1(op->alpha)),
				    _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
				break;
			case EPI_SIGMOID:
				x = sigmoid8(x);
				break;
			case EPI_TANH:
				x = tanh8(x);
				break;
			case EPI_SOFTMAX:
				break;
			}
		}
		_mm256_maskstore_ps(d + j, m, x);
	}
}

static inline float hmax8(__m256 v)
{
	__m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	x = _mm_max_ps(x, _mm_movehl_ps(x, x));
	x = _mm_max_ss(x, _mm_shuffle_ps(x, x, 1));
	return _mm_cvtss_f32(x);
}

static inline float hsum8(__m256 v)
{
	__m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	x = _mm_add_ps(x, _mm_movehl_ps(x, x));
	x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
	return _mm_cvtss_f32(x);
}

/* Row chunk at `at`, plus the bias if there is one (masked-out lanes: 0). */
static inline __m256 load_biased(const float *s, const float *bias, size_t at, __m256i m)
{
	__m256 x = _mm256_maskload_ps(s + at, m);

	return bias ? _mm256_add_ps(x, _mm256_maskload_ps(bias + at, m)) : x;
}

static void softmax(const float *s, float *d, size_t cols, size_t group, const float *bias)
{
	const __m256 ninf = SET1(-__builtin_inff());

	for (size_t g = 0; g < cols; g += group) {
		__m256 mx = ninf, sum = _mm256_setzero_ps();
		float inv;

		if (group <= W) {
			/* One vector: max, exp, sum and scale in registers, one store. */
			__m256i m = tail_mask(group);
			__m256 x = load_biased(s, bias, g, m), e;

			mx = SET1(hmax8(_mm256_blendv_ps(ninf, x, _mm256_castsi256_ps(m))));
			e = _mm256_and_ps(exp8(_mm256_sub_ps(x, mx)), _mm256_castsi256_ps(m));
			inv = 1.0f / hsum8(e);
			_mm256_maskstore_ps(d + g, m, _mm256_mul_ps(e, SET1(inv)));
			continue;
		}
		for (size_t j = 0; j < group; j += W) {
			__m256i m = tail_mask(group - j);
			__m256 x = _mm256_blendv_ps(ninf, load_biased(s, bias, g + j, m),
						    _mm256_castsi256_ps(m));

			mx = _mm256_max_ps(mx, x);
		}
		mx = SET1(hmax8(mx));
		for (size_t j = 0; j < group; j += W) {
			__m256i m = tail_mask(group - j);
			__m256 e = exp8(_mm256_sub_ps(load_biased(s, bias, g + j, m), mx));

			e = _mm256_and_ps(e, _mm256_castsi256_ps(m));
			sum = _mm256_add_ps(sum, e);
			_mm256_maskstore_ps(d + g + j, m, e);
		}
		inv = 1.0f / hsum8(sum);
		for (size_t j = 0; j < group; j += W) {
			__m256i m = tail_mask(group - j);

			_mm256_maskstore_ps(
			    d + g + j, m,
			    _mm256_mul_ps(_mm256_maskload_ps(d + g + j, m), SET1(inv)));
		}
	}
}

static inline __attribute__((always_inline)) __m256 act8(__m256 x, enum epi_kind act, __m256 alpha)
{
	switch (act) {
	case EPI_RELU:
		return relu8(x);
	case EPI_LEAKY:
		return _mm256_blendv_ps(x, _mm256_mul_ps(x, alpha),
					_mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
	case EPI_SIGMOID:
		return sigmoid8(x);
	case EPI_TANH:
		return tanh8(x);
	default:
		return x;
	}
}

/* Inlined once per activation below, so `act` is a constant in each copy of the loop. */
/*
 * Rows narrower than a vector as one flat run of rows x cols floats: full vectors instead
 * of one masked, part-empty vector per row. The bias row is repeated into a tile of
 * lcm(cols, 8) floats, a whole number of vectors.
 */
static inline __attribute__((always_inline)) void bias_act_narrow(const float *src, float *dst,
								  size_t rows, size_t cols,
								  const float *bias,
								  enum epi_kind act, __m256 va)
{
	_Alignas(32) float tile[W * W];
	size_t n = rows * cols, tlen = epi_bias_tile(bias, cols, W, tile), t = 0, i = 0;
	for (; i + W <= n; i += W) {
		__m256 x = _mm256_loadu_ps(src + i);

		if (bias)
			x = _mm256_add_ps(x, _mm256_load_ps(tile + t));
		_mm256_storeu_ps(dst + i, act8(x, act, va));
		t += W;
		if (t == tlen)
			t = 0;
	}
	if (i < n) {
		__m256i m = tail_mask(n - i);
		__m256 x = _mm256_maskload_ps(src + i, m);

		if (bias)
			x = _mm256_add_ps(x, _mm256_load_ps(tile + t));
		_mm256_maskstore_ps(dst + i, m, act8(x, act, va));
	}
}

static inline __attribute__((always_inline)) void bias_act(const float *src, float *dst,
							   size_t rows, size_t cols,
							   const float *bias, enum epi_kind act,
							   float alpha)
{
	__m256 va = SET1(alpha);

	if (cols < W && rows > 1) {
		bias_act_narrow(src, dst, rows, cols, bias, act, va);
		return;
	}

	for (size_t r = 0; r < rows; r++) {
		const float *s = src + r * cols;
		float *d = dst + r * cols;
		size_t j = 0;

		for (; j + W <= cols; j += W) {
			__m256 x = _mm256_loadu_ps(s + j);

			if (bias)
				x = _mm256_add_ps(x, _mm256_loadu_ps(bias + j));
			_mm256_storeu_ps(d + j, act8(x, act, va));
		}
		if (j < cols) {
			__m256i m = tail_mask(cols - j);
			__m256 x = _mm256_maskload_ps(s + j, m);

			if (bias)
				x = _mm256_add_ps(x, _mm256_maskload_ps(bias + j, m));
			_mm256_maskstore_ps(d + j, m, act8(x, act, va));
		}
	}
}

#include "epilogue_run.h"

void epi_run_avx2(const struct epi_op *ops, size_t n_ops, const float *src, float *dst, size_t rows,
		  size_t cols)
{
	epi_run_body(ops, n_ops, src, dst, rows, cols);
}

/* Two accumulators of 8 lanes, so consecutive FMAs do not wait on each other. */
void epi_sqerr_avx2(const float *x, const float *y, size_t rows, size_t cols, float *out)
{
	for (size_t r = 0; r < rows; r++) {
		const float *a = x + r * cols, *b = y + r * cols;
		__m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
		size_t j = 0;

		for (; j + 16 <= cols; j += 16) {
			__m256 e0 = _mm256_sub_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j));
			__m256 e1 = _mm256_sub_ps(_mm256_loadu_ps(a + j + 8),
						  _mm256_loadu_ps(b + j + 8));

			acc0 = _mm256_fmadd_ps(e0, e0, acc0);
			acc1 = _mm256_fmadd_ps(e1, e1, acc1);
		}
		for (; j < cols; j += 8) {
			__m256i m = tail_mask(cols - j);
			__m256 e = _mm256_sub_ps(_mm256_maskload_ps(a + j, m),
						 _mm256_maskload_ps(b + j, m));

			acc0 = _mm256_fmadd_ps(e, e, acc0);
		}
		out[r] = hsum8(_mm256_add_ps(acc0, acc1)) / (float)cols;
	}
}
