/* SPDX-License-Identifier: MIT */
/* The compiled form of a model, shared by the importer and the runtime. */
#ifndef LG_MODEL_INTERNAL_H
#define LG_MODEL_INTERNAL_H

#include <stddef.h>

#include <linegate/model.h>

#include "epilogue.h"
#include "gemm.h"

/* Limits that keep every size inside the int arguments of cblas and away from overflow. */
#define MODEL_MAX_DIM (1u << 20) /* features in any one row */
#define MODEL_MAX_BATCH (1u << 16)
#define MODEL_MAX_ELEMS (1u << 28) /* floats in one tensor: 1 GiB */

/*
 * One layer: dst = epilogue(alpha * src * W), or dst = epilogue(src) without a gemm.
 * W is k x n row-major, always: a Gemm with transB=1 is transposed once at load.
 */
struct model_layer {
	int has_gemm;
	size_t k, n; /* n is the layer's output width; k == n without a gemm */
	float alpha;
	const float *w;
	void *gemm_state; /* what the model's GEMM route prepared for this layer, or NULL */
	size_t n_ops;
	struct epi_op *ops;
};

struct model_chunk {
	struct model_chunk *next;
	_Alignas(64) unsigned char data[];
};

struct lg_model {
	size_t in_dim, out_dim;
	size_t max_width; /* widest intermediate row, for workspaces */
	enum lg_model_kind kind;
	int ends_softmax; /* the output rows already are probabilities */
	int has_threshold; /* metadata_props "linegate.threshold" was present */
	float threshold;
	enum lg_model_isa isa;
	epi_fn epi;
	epi_sqerr_fn sqerr; /* the same ISA's autoencoder score */
	enum lg_model_gemm gemm_route; /* as set; AUTO stays AUTO */
	gemm_fn gemm;
	size_t max_k; /* widest gemm input row, for the bf16 scratch */
	size_t n_layers;
	struct model_layer *layers;
	struct model_chunk *chunks; /* everything the plan points to */
};

void model_runtime_init(void);
/* 64-byte aligned, lives as long as the model. */
void *model_alloc(struct lg_model *m, size_t bytes);

#endif
