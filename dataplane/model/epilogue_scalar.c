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
		return x > 0.0f ? x : 0.0f;
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

static void softmax(const float *s, float *d, size_t cols, size_t group)
{
	for (size_t g = 0; g < cols; g += group) {
		float mx = s[g], sum = 0.0f;

		for (size_t j = 1; j < group; j++)
			mx = s[g + j] > mx ? s[g + j] : mx;
		for (size_t j = 0; j < group; j++) {
			d[g + j] = expf(s[g + j] - mx);
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
		return x > 0.0f ? x : 0.0f;
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

void epi_run_scalar(const struct epi_op *ops, size_t n_ops, const float *src, float *dst,
		    size_t rows, size_t cols)
{
	const float *bias;
	enum epi_kind act;
	float alpha;

	if (epi_match_bias_act(ops, n_ops, &bias, &act, &alpha)) {
		switch (act) {
		case EPI_RELU:
			bias_act(src, dst, rows, cols, bias, EPI_RELU, alpha);
			return;
		case EPI_LEAKY:
			bias_act(src, dst, rows, cols, bias, EPI_LEAKY, alpha);
			return;
		case EPI_SIGMOID:
			bias_act(src, dst, rows, cols, bias, EPI_SIGMOID, alpha);
			return;
		case EPI_TANH:
			bias_act(src, dst, rows, cols, bias, EPI_TANH, alpha);
			return;
		default:
			bias_act(src, dst, rows, cols, bias, EPI_ADD, alpha);
			return;
		}
	}
	for (size_t r = 0; r < rows; r++) {
		const float *s = src + r * cols;
		float *d = dst + r * cols;
		size_t i = 0;

		if (!n_ops && s != d)
			memmove(d, s, cols * sizeof(*d));
		while (i < n_ops) {
			size_t e = i;

			while (e < n_ops && ops[e].kind != EPI_SOFTMAX)
				e++;
			if (e > i) {
				for (size_t j = 0; j < cols; j++) {
					float x = s[j];

					for (size_t k = i; k < e; k++)
						x = apply(&ops[k], x, j);
					d[j] = x;
				}
				s = d;
			}
			if (e < n_ops) {
				softmax(s, d, cols, ops[e].group);
				s = d;
				e++;
			}
			i = e;
		}
	}
}
