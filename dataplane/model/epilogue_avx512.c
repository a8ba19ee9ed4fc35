/* SPDX-License-Identifier: MIT */
/*
 * AVX-512 (F + DQ) epilogue. Built only into its own static library with -mavx512f -mavx512dq,
 * and called only after the CPU was seen to support both. Row tails use lane masks, so every
 * column goes through the same arithmetic whatever the row width.
 */
#include <immintrin.h>

#include "epilogue.h"

#define W 16

/*
 * e^x in the usual way: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two so n ln2 is
 * exact), e^r by a degree-7 minimax polynomial (Cephes expf coefficients, ~1 ulp), then
 * scaled by 2^n. The clamp keeps 2^n a normal number: below -87 the result is ~1e-38 and
 * only ever feeds 1 + e^x or a softmax sum.
 */
static inline __m512 exp16(__m512 x)
{
	/* NaN and +inf come back as they went in, -inf as 0 (libm's expf): the clamp below
	 * would turn NaN into e^-87 and hide it. */
	const __mmask16 keep = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q) |
			       _mm512_cmp_ps_mask(x, _mm512_set1_ps(__builtin_inff()), _CMP_EQ_OQ);
	const __mmask16 zero = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-__builtin_inff()), _CMP_EQ_OQ);
	const __m512 x0 = x;
	__m512 n, r, p;

	x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
	n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
				 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
	p = _mm512_set1_ps(1.9875691500e-4f);
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
	p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
	p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
	p = _mm512_mask_mov_ps(_mm512_scalef_ps(p, n), keep, x0);
	return _mm512_mask_mov_ps(p, zero, _mm512_setzero_ps());
}

/* x < 0 ? 0 : x, so that NaN stays NaN (as in PyTorch and onnxruntime). */
static inline __m512 relu16(__m512 x)
{
	return _mm512_mask_mov_ps(x, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ),
				  _mm512_setzero_ps());
}

/* 1 / (1 + e^-x): no cancellation anywhere, so the exp's accuracy carries through. */
static inline __m512 sigmoid16(__m512 x)
{
	__m512 one = _mm512_set1_ps(1.0f);

	return _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

/*
 * tanh: 1 - 2 / (e^2|x| + 1) loses relative accuracy near 0 (cancellation), so below 0.625
 * an odd polynomial (Cephes tanhf) is used instead; the sign is put back at the end.
 */
static inline __m512 tanh16(__m512 x)
{
	__m512 ax = _mm512_abs_ps(x);
	__m512 z = _mm512_mul_ps(x, x);
	__m512 p, big;
	__mmask16 small;

	p = _mm512_set1_ps(-5.70498872745e-3f);
	p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(2.06390887954e-2f));
	p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-5.37397155531e-2f));
	p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.33314422036e-1f));
	p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-3.33332819422e-1f));
	p = _mm512_fmadd_ps(_mm512_mul_ps(p, z), x, x);

	big = exp16(_mm512_add_ps(ax, ax));
	big = _mm512_sub_ps(
	    _mm512_set1_ps(1.0f),
	    _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(big, _mm512_set1_ps(1.0f))));
	big = _mm512_or_ps(big, _mm512_and_ps(x, _mm512_set1_ps(-0.0f)));
	small = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(0.625f), _CMP_LT_OQ);
	return _mm512_mask_blend_ps(small, big, p);
}

static inline __mmask16 tail_mask(size_t left)
{
	return left >= W ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
}

static void elementwise(const struct epi_op *ops, size_t n_ops, const float *s, float *d,
			size_t cols)
{
	for (size_t j = 0; j < cols; j += W) {
		__mmask16 m = tail_mask(cols - j);
		__m512 x = _mm512_maskz_loadu_ps(m, s + j);

		for (size_t k = 0; k < n_ops; k++) {
			const struct epi_op *op = &ops[k];

			switch (op->kind) {
			case EPI_ADD:
				x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, op->vec + j));
				break;
			case EPI_SUB:
				x = _mm512_sub_ps(x, _mm512_maskz_loadu_ps(m, op->vec + j));
				break;
			case EPI_RSUB:
				x = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, op->vec + j), x);
				break;
			case EPI_MUL:
				x = _mm512_mul_ps(x, _mm512_maskz_loadu_ps(m, op->vec + j));
				break;
			case EPI_DIV:
				x = _mm512_maskz_div_ps(m, x,
							_mm512_maskz_loadu_ps(m, op->vec + j));
				break;
			case EPI_RDIV:
				x = _mm512_maskz_div_ps(m, _mm512_maskz_loadu_ps(m, op->vec + j),
							x);
				break;
			case EPI_RELU:
				x = relu16(x);
				break;
			case EPI_LEAKY:
				x = _mm512_mask_mul_ps(
				    x, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), x,
				    _mm512_set1_ps(op->alpha));
				break;
			case EPI_SIGMOID:
				x = sigmoid16(x);
				break;
			case EPI_TANH:
				x = tanh16(x);
				break;
			case EPI_SOFTMAX:
				break;
			}
		}
		_mm512_mask_storeu_ps(d + j, m, x);
	}
}

/* Row chunk j of group g, plus the bias if there is one. */
static inline __m512 load_biased(const float *s, const float *bias, size_t at, __mmask16 m)
{
	__m512 x = _mm512_maskz_loadu_ps(m, s + at);

	return bias ? _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, bias + at)) : x;
}

static void softmax(const float *s, float *d, size_t cols, size_t group, const float *bias)
{
	for (size_t g = 0; g < cols; g += group) {
		__m512 mx = _mm512_set1_ps(-__builtin_inff()), sum = _mm512_setzero_ps();
		float max, inv;

		if (group <= W) {
			/* One vector: max, exp, sum and scale in registers, one store. */
			__mmask16 m = tail_mask(group);
			__m512 x = load_biased(s, bias, g, m), e;

			max = _mm512_mask_reduce_max_ps(m, x);
			e = _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(x, _mm512_set1_ps(max))));
			inv = 1.0f / _mm512_reduce_add_ps(e);
			_mm512_mask_storeu_ps(d + g, m, _mm512_mul_ps(e, _mm512_set1_ps(inv)));
			continue;
		}
		for (size_t j = 0; j < group; j += W) {
			__mmask16 m = tail_mask(group - j);

			mx = _mm512_mask_max_ps(mx, m, mx, load_biased(s, bias, g + j, m));
		}
		max = _mm512_reduce_max_ps(mx);
		for (size_t j = 0; j < group; j += W) {
			__mmask16 m = tail_mask(group - j);
			__m512 e = exp16(_mm512_sub_ps(load_biased(s, bias, g + j, m),
						       _mm512_set1_ps(max)));

			sum = _mm512_mask_add_ps(sum, m, sum, e);
			_mm512_mask_storeu_ps(d + g + j, m, e);
		}
		inv = 1.0f / _mm512_reduce_add_ps(sum);
		for (size_t j = 0; j < group; j += W) {
			__mmask16 m = tail_mask(group - j);

			_mm512_mask_storeu_ps(d + g + j, m,
					      _mm512_mul_ps(_mm512_maskz_loadu_ps(m, d + g + j),
							    _mm512_set1_ps(inv)));
		}
	}
}

static inline __attribute__((always_inline)) __m512 act16(__m512 x, enum epi_kind act, __m512 alpha)
{
	switch (act) {
	case EPI_RELU:
		return relu16(x);
	case EPI_LEAKY:
		return _mm512_mask_mul_ps(x, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ),
					  x, alpha);
	case EPI_SIGMOID:
		return sigmoid16(x);
	case EPI_TANH:
		return tanh16(x);
	default:
		return x;
	}
}

/*
 * Rows narrower than a vector (a layer of 5 or 8 outputs) as one flat run of rows x cols
 * floats: full vectors instead of one masked, part-empty vector per row. The bias row is
 * repeated into a tile of lcm(cols, 16) floats, a whole number of vectors, so the bias of
 * every vector is one aligned load from it.
 */
static inline __attribute__((always_inline)) void bias_act_narrow(const float *src, float *dst,
								  size_t rows, size_t cols,
								  const float *bias,
								  enum epi_kind act, __m512 va)
{
	_Alignas(64) float tile[W * W];
	size_t n = rows * cols, tlen = epi_bias_tile(bias, cols, W, tile), t = 0;
	for (size_t i = 0; i < n; i += W) {
		__mmask16 m = tail_mask(n - i);
		__m512 x = _mm512_maskz_loadu_ps(m, src + i);

		if (bias)
			x = _mm512_add_ps(x, _mm512_load_ps(tile + t));
		_mm512_mask_storeu_ps(dst + i, m, act16(x, act, va));
		t += W;
		if (t == tlen)
			t = 0;
	}
}

/* Inlined once per activation below, so `act` is a constant in each copy of the loop. */
static inline __attribute__((always_inline)) void bias_act(const float *src, float *dst,
							   size_t rows, size_t cols,
							   const float *bias, enum epi_kind act,
							   float alpha)
{
	__m512 va = _mm512_set1_ps(alpha);

	if (cols < W && rows > 1) {
		bias_act_narrow(src, dst, rows, cols, bias, act, va);
		return;
	}

	for (size_t r = 0; r < rows; r++) {
		const float *s = src + r * cols;
		float *d = dst + r * cols;

		for (size_t j = 0; j < cols; j += W) {
			__mmask16 m = tail_mask(cols - j);
			__m512 x = _mm512_maskz_loadu_ps(m, s + j);

			if (bias)
				x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, bias + j));
			_mm512_mask_storeu_ps(d + j, m, act16(x, act, va));
		}
	}
}

#include "epilogue_run.h"

void epi_run_avx512(const struct epi_op *ops, size_t n_ops, const float *src, float *dst,
		    size_t rows, size_t cols)
{
	epi_run_body(ops, n_ops, src, dst, rows, cols);
}

/* Two accumulators of 16 lanes, so consecutive FMAs do not wait on each other. */
void epi_sqerr_avx512(const float *x, const float *y, size_t rows, size_t cols, float *out)
{
	for (size_t r = 0; r < rows; r++) {
		const float *a = x + r * cols, *b = y + r * cols;
		__m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
		size_t j = 0;

		for (; j + 2 * W <= cols; j += 2 * W) {
			__m512 e0 = _mm512_sub_ps(_mm512_loadu_ps(a + j), _mm512_loadu_ps(b + j));
			__m512 e1 = _mm512_sub_ps(_mm512_loadu_ps(a + j + W),
						  _mm512_loadu_ps(b + j + W));

			acc0 = _mm512_fmadd_ps(e0, e0, acc0);
			acc1 = _mm512_fmadd_ps(e1, e1, acc1);
		}
		for (; j < cols; j += W) {
			__mmask16 m = tail_mask(cols - j);
			__m512 e = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + j),
						 _mm512_maskz_loadu_ps(m, b + j));

			acc0 = _mm512_fmadd_ps(e, e, acc0);
		}
		out[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) / (float)cols;
	}
}
