/* SPDX-License-Identifier: MIT */
/*
 * The body of every ISA's epi_run_*(): included at the end of epilogue_scalar.c,
 * epilogue_avx2.c and epilogue_avx512.c, after each has defined its own bias_act(),
 * elementwise() and softmax() (which adds an optional bias row as it loads). The same control flow, compiled once per file with that
 * file's flags and kernels.
 */
#ifndef LINEGATE_MODEL_EPILOGUE_RUN_H
#define LINEGATE_MODEL_EPILOGUE_RUN_H

static inline __attribute__((always_inline)) void
epi_run_body(const struct epi_op *ops, size_t n_ops, const float *src, float *dst, size_t rows,
	     size_t cols)
{
	const float *bias;
	enum epi_kind act;
	size_t group;
	float alpha;

	if (epi_match_bias_act(ops, n_ops, &bias, &act, &alpha)) {
		/* One inlined copy of bias_act() per activation: `act` is a constant in each. */
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
	if (epi_match_bias_softmax(ops, n_ops, &bias, &group)) {
		for (size_t r = 0; r < rows; r++)
			softmax(src + r * cols, dst + r * cols, cols, group, bias);
		return;
	}
	for (size_t r = 0; r < rows; r++) {
		const float *s = src + r * cols;
		float *d = dst + r * cols;
		size_t i = 0;

		if (!n_ops && s != d)
			elementwise(ops, 0, s, d, cols);
		/* Runs of element-wise ops fused into one pass, a Softmax between runs. */
		while (i < n_ops) {
			size_t e = i;

			while (e < n_ops && ops[e].kind != EPI_SOFTMAX)
				e++;
			if (e > i) {
				elementwise(ops + i, e - i, s, d, cols);
				s = d;
			}
			if (e < n_ops) {
				softmax(s, d, cols, ops[e].group, NULL);
				s = d;
				e++;
			}
			i = e;
		}
	}
}

#endif
