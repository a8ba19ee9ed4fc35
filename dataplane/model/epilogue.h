/* SPDX-License-Identifier: MIT */
/*
 * Epilogues: the element-wise tail of a layer (bias, scale, activation, softmax) applied in
 * one pass over the sgemm output while it is still in cache. One implementation per ISA, each
 * in its own file built with its own flags; model.c picks one at load time.
 */
#ifndef LG_MODEL_EPILOGUE_H
#define LG_MODEL_EPILOGUE_H

#include <stddef.h>

enum epi_kind {
	EPI_ADD,  /* x + v[j] */
	EPI_SUB,  /* x - v[j] */
	EPI_RSUB, /* v[j] - x */
	EPI_MUL,  /* x * v[j] */
	EPI_DIV,  /* x / v[j] */
	EPI_RDIV, /* v[j] / x */
	EPI_RELU,
	EPI_LEAKY, /* x < 0 ? alpha * x : x */
	EPI_SIGMOID,
	EPI_TANH,
	EPI_SOFTMAX, /* over each run of `group` columns; group divides cols */
};

struct epi_op {
	enum epi_kind kind;
	float alpha;
	size_t group;
	/* cols floats for the binary kinds (a broadcast constant expanded to a row) */
	const float *vec;
};

/*
 * dst[r][j] = ops applied in order to src[r][j], for rows x cols row-major matrices.
 * src may equal dst. Element-wise runs of ops are fused into one pass per row; a softmax
 * is a row barrier.
 */
/*
 * The epilogue almost every layer has: an optional bias row, then an optional activation.
 * The kernels run it through a loop specialised per activation, without the per-op dispatch
 * of the general path. Returns 1 and fills *bias (NULL if none) and *act (EPI_ADD standing
 * for "no activation") if `ops` is of that form.
 */
static inline int epi_match_bias_act(const struct epi_op *ops, size_t n_ops, const float **bias,
				     enum epi_kind *act, float *alpha)
{
	size_t i = 0;

	*bias = NULL;
	*act = EPI_ADD;
	*alpha = 0.0f;
	if (!n_ops || n_ops > 2)
		return 0;
	if (ops[0].kind == EPI_ADD)
		*bias = ops[i++].vec;
	if (i < n_ops) {
		switch (ops[i].kind) {
		case EPI_RELU:
		case EPI_LEAKY:
		case EPI_SIGMOID:
		case EPI_TANH:
			*act = ops[i].kind;
			*alpha = ops[i].alpha;
			i++;
			break;
		default:
			return 0;
		}
	}
	return i == n_ops;
}

/*
 * The classifier's tail: an optional bias row, then a softmax, and nothing else. The kernels
 * run it with the bias added as the row is loaded and, for groups that fit one vector,
 * the whole softmax in registers (no pass writes the row out and reads it back).
 */
static inline int epi_match_bias_softmax(const struct epi_op *ops, size_t n_ops,
					 const float **bias, size_t *group)
{
	size_t i = 0;

	*bias = NULL;
	if (n_ops == 2 && ops[0].kind == EPI_ADD)
		*bias = ops[i++].vec;
	if (n_ops != i + 1 || ops[i].kind != EPI_SOFTMAX)
		return 0;
	*group = ops[i].group;
	return 1;
}

/*
 * For the narrow-layer kernels: the bias row of `cols` floats repeated into tile until its
 * length, returned, is a multiple of the vector width w (lcm(cols, w) floats; tile must hold
 * w * w). Only called with cols < w.
 */
static inline size_t epi_bias_tile(const float *bias, size_t cols, size_t w, float *tile)
{
	size_t tlen = cols;

	while (tlen % w)
		tlen += cols;
	for (size_t i = 0; bias && i < tlen; i++)
		tile[i] = bias[i % cols];
	return tlen;
}

typedef void (*epi_fn)(const struct epi_op *ops, size_t n_ops, const float *src, float *dst,
		       size_t rows, size_t cols);

/*
 * An autoencoder's score: out[r] = mean over j of (x[r][j] - y[r][j])^2, for rows x cols
 * row-major matrices. Summed in as many lanes as the ISA has, so the result differs from a
 * left-to-right sum by rounding only.
 */
typedef void (*epi_sqerr_fn)(const float *x, const float *y, size_t rows, size_t cols,
			     float *out);

void epi_sqerr_scalar(const float *x, const float *y, size_t rows, size_t cols, float *out);
void epi_sqerr_avx2(const float *x, const float *y, size_t rows, size_t cols, float *out);
void epi_sqerr_avx512(const float *x, const float *y, size_t rows, size_t cols, float *out);

void epi_run_scalar(const struct epi_op *ops, size_t n_ops, const float *src, float *dst,
		    size_t rows, size_t cols);
void epi_run_avx2(const struct epi_op *ops, size_t n_ops, const float *src, float *dst, size_t rows,
		  size_t cols);
void epi_run_avx512(const struct epi_op *ops, size_t n_ops, const float *src, float *dst,
		    size_t rows, size_t cols);

#endif
