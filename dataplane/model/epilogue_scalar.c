/* SPDX-License-Identifier: MIT */
/* Portable epilogue: libm's expf/tanhf, the reference the SIMD paths are tested against. */
#include <math.h>
#include <string.h>

#include "epilogue.h"

static float apply(const struct epi_op *op, float x, size_t j)
{
	switch (op->kind) {
	case EPI_ADD:
		return x + op->vec[j];
	case EPI_SUB:
		return x - op->vec[j];
	case EPI_RSUB:
		return op->vec[j] - x;
	case EPI_MUL:
		return x * op->vec[j];
	case EPI_DIV:
		return x / op->vec[j];
	case EPI_RDIV:
		return op->vec[j] / x;
	case EPI_RELU:
		return x < 0.0f ? 0.0f : x; /* NaN stays NaN, as in PyTorch */
	case EPI_LEAKY:
		return x < 0.0f ? op->alpha * x : x;
	case EPI_SIGMOID:
		return 1.0f / (1.0f + expf(-x));
	case EPI_TANH:
		return tanhf(x);
	case EPI_SOFTMAX:
		break;
	}
	return x;
}

static void softmax(const float *s, float *d, size_t cols, size_t group, const float *bias)
{
	for (size_t g = 0; g < cols; g += group) {
		float mx = -INFINITY, sum = 0.0f;

		for (size_t j = 0; j < group; j++) {
			float x = bias ? s[g + j] + bias[g + j] : s[g + j];

			mx = x > mx ? x : mx;
		}
		for (size_t j = 0; j < group; j++) {
			d[g + j] = expf((bias ? s[g + j] + bias[g + j] : s[g + j]) - mx);
			sum += d[g + j];
		}
		for (size_t j = 0; j < group; j++)
			d[g + j] /= sum;
	}
}

static inline __attribute__((always_inline)) float act1(float x, enum epi_kind act, float alpha)
{
	switch (act) {
	case EPI_RELU:
		return x < 0.0f ? 0.0f : x; /* NaN stays NaN, as in PyTorch */
	case EPI_LEAKY:
		return x < 0.0f ? alpha * x : x;
	case EPI_SIGMOID:
		return 1.0f / (1.0f + expf(-x));
	case EPI_TANH:
		return tanhf(x);
	default:
		return x;
	}
}

/* All of a run's element-wise ops in one pass over the row (none: a copy). */
static void elementwise(const struct epi_op *ops, size_t n_ops, const float *s, float *d,
			size_t cols)
{
	for (size_t j = 0; j < cols; j++) {
		float x = s[j];

		for (size_t k = 0; k < n_ops; k++)
			x = apply(&ops[k], x, j);
		d[j] = x;
	}
}

/* Inlined once per activation below, so `act` is a constant in each copy of the loop. */
static inline __attribute__((always_inline)) void bias_act(const float *src, float *dst,
							   size_t rows, size_t cols,
							   const float *bias, enum epi_kind act,
							   float alpha)
{
	for (size_t r = 0; r < rows; r++) {
		const float *s = src + r * cols;
		float *d = dst + r * cols;

		for (size_t j = 0; j < cols; j++)
			d[j] = act1(bias ? s[j] + bias[j] : s[j], act, alpha);
	}
}

#include "epilogue_run.h"

void epi_run_scalar(const struct epi_op *ops, size_t n_ops, const float *src, float *dst,
		    size_t rows, size_t cols)
{
	epi_run_body(ops, n_ops, src, dst, rows, cols);
}

void epi_sqerr_scalar(const float *x, const float *y, size_t rows, size_t cols, float *out)
{
	for (size_t r = 0; r < rows; r++) {
		const float *a = x + r * cols, *b = y + r * cols;
		float acc = 0.0f;

		for (size_t j = 0; j < cols; j++) {
			float e = a[j] - b[j];

			acc += e * e;
		}
		out[r] = acc / (float)cols;
	}
}
