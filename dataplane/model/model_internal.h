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
	/* bf16 guard (guard.c), set with the xsmm-bf16 route: upper bounds on the spectral
	 * norms of alpha W, of its bf16 rounding error and of |alpha W|, and on the Lipschitz
	 * constant (2-norm) of the epilogue's ops (negative: exp/tanh among them) */
	double guard_norm, guard_dnorm, guard_anorm, guard_lip;
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
	/* metadata_props "linegate.window", "linegate.sample_rate", "linegate.layout": what
	 * the model was fitted for (0 / "" = not carried) */
	uint32_t window;
	double sample_rate;
	char layout[32];
	enum lg_model_isa isa;
	epi_fn epi;
	epi_sqerr_fn sqerr; /* the same ISA's autoencoder score */
	enum lg_model_gemm gemm_route; /* as set; AUTO stays AUTO */
	gemm_fn gemm;
	size_t max_k; /* widest gemm input row, for the bf16 scratch */
	/* NULL when the bf16 guard can bound every row's error (guard.c), else why not */
	const char *guard_why;
	size_t n_layers;
	struct model_layer *layers;
	struct model_chunk *chunks; /* everything the plan points to */
};

/* Per-worker scratch (model.c); the guard's arrays are sized with it, never on the hot path. */
struct lg_model_ws {
	size_t max_batch;
	size_t width; /* floats per row in each of buf[0], buf[1] */
	size_t out_width;
	size_t in_width; /* floats per row of gin */
	float *buf[2];
	float *out;
	struct gemm_scratch scratch;
	/* bf16 guard: rows re-scored in fp32 (indices, their inputs and scores), and each
	 * row's error bound */
	unsigned *gidx;
	float *gin, *gsc, *geb;
};

void model_runtime_init(void);
/*
 * Run the layers with `gemm` instead of the model's route. eb: NULL, or batch floats set to
 * 0, which come back as each row's bound on the 2-norm of its output's difference from
 * fp32 (guard.c; only meaningful with gemm_run_xsmm_bf16).
 */
void model_run_layers(const struct lg_model *m, gemm_fn gemm, const float *in, size_t batch,
		      float *out, struct lg_model_ws *ws, float *eb);
/* The scores of `batch` rows of model output `y` for inputs `in` (lg_model_scores()). */
void model_scores_of(const struct lg_model *m, const float *in, const float *y, size_t batch,
		     float *scores);
/* Set the layers' guard_norm and guard_lip and m->guard_why (guard.c); -ENOMEM. */
int model_guard_prepare(struct lg_model *m);
/* Per-row error bound after one layer (guard.c): before (pre = 1) or after its gemm. */
void model_guard_layer(const struct model_layer *l, const float *src, const float *dst,
		       size_t batch, float *eb);
/* 64-byte aligned, lives as long as the model. */
void *model_alloc(struct lg_model *m, size_t bytes);

#endif
