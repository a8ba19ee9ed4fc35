/* SPDX-License-Identifier: MIT */
/*
 * linegate inference engine: ONNX models (MLPs and autoencoders) run on a batch.
 *
 * A model is loaded once, compiled into a linear plan of layers (one sgemm plus one fused
 * epilogue each) and is read-only afterwards, so any number of workers may run it at the
 * same time. Each worker owns a workspace, sized once for its largest batch: running a batch
 * allocates nothing, takes no lock and makes no system call.
 *
 * Batches are row-major: row r of the input is the r-th frame's feature vector
 * (lg_model_input_dim() floats), row r of the output is that frame's model output
 * (lg_model_output_dim() floats). The batch dimension is dynamic: any batch from 1 up to
 * the workspace's maximum.
 *
 * All functions that can fail return 0 or a negative errno:
 *   -EBADMSG     the bytes are not a well-formed ONNX model (truncated, garbage)
 *   -EINVAL      well-formed, but the graph or a tensor is inconsistent; or a bad argument
 *   -EOPNOTSUPP  an operator, attribute or data type outside the supported subset
 *   -ENOMEM      out of memory
 *   -ENOTSUP     lg_model_set_isa(): the ISA is not available on this CPU (on Linux this is
 *                the same number as EOPNOTSUPP; the function tells them apart)
 *   -errno       from open()/read() for lg_model_load_file()
 * Loaders write a one-line reason into the caller's error buffer; for anything unsupported
 * it names the node and its operator, e.g. `node "weird_cos" (Cos): unsupported operator`.
 *
 * Supported operators (default ONNX domain): Gemm, MatMul, Add, Sub, Mul, Div, Relu,
 * LeakyRelu, Sigmoid, Tanh, Softmax, Identity, Flatten, Reshape, Constant, and
 * BatchNormalization and Dropout in inference mode. Weights are float32 initializers
 * (raw_data or float_data). The graph has one float input whose first dimension is the batch
 * and one output; every operator with a runtime input consumes the result of the one before
 * it (a chain, as MLPs and autoencoders are). docs/model-engine.md has the details.
 */
#ifndef LINEGATE_MODEL_H
#define LINEGATE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include <linegate/isa.h>

#ifdef __cplusplus
extern "C" {
#endif

struct lg_model;
struct lg_model_ws;

/* How lg_model_scores() turns a model output into scores. */
enum lg_model_kind {
	/* output has the input's shape: score = mean squared error between input and output */
	LG_MODEL_AUTOENCODER = 1,
	/* anything else: scores = class probabilities (softmax of the output unless the graph
	 * already ends in Softmax) */
	LG_MODEL_CLASSIFIER,
};

/*
 * Load and compile a model. `err` (may be NULL) receives a NUL-terminated reason of at most
 * `errlen` bytes on failure. On success *out owns everything it needs; the buffer or file
 * is not referenced afterwards. Never crashes on malformed input.
 */
int lg_model_load_mem(const void *buf, size_t len, struct lg_model **out, char *err, size_t errlen);
int lg_model_load_file(const char *path, struct lg_model **out, char *err, size_t errlen);
/* Accepts NULL. */
void lg_model_free(struct lg_model *m);

size_t lg_model_input_dim(const struct lg_model *m);
size_t lg_model_output_dim(const struct lg_model *m);
enum lg_model_kind lg_model_kind(const struct lg_model *m);
/* Number of compiled layers (each one sgemm and/or one epilogue pass); for tests and stats. */
size_t lg_model_n_layers(const struct lg_model *m);
/* Floating-point operations of the sgemms for one row (2 * multiply-adds); for benchmarks. */
size_t lg_model_flops_per_row(const struct lg_model *m);
/*
 * The compiled plan as text, one line per layer, for logs and `lg-model-check`:
 *   layer 0: sgemm 24x64 (B^T) | add, relu
 * Returns the length the full text needs (like snprintf); writes at most len bytes.
 */
size_t lg_model_describe(const struct lg_model *m, char *buf, size_t len);

/*
 * Choose the code path of the epilogues (bias, activation, softmax; linegate/isa.h lists the
 * paths); sgemm is OpenBLAS's own choice. AUTO picks the best one the CPU supports (detected
 * once per process). Set it before workers share the model; it is not meant to change under them.
 * Returns -ENOTSUP, leaving the path unchanged, if the CPU lacks the requested ISA.
 */
int lg_model_set_isa(struct lg_model *m, enum lg_model_isa isa);
enum lg_model_isa lg_model_get_isa(const struct lg_model *m);

/*
 * The GEMM route: which library computes each layer's matrix product (the epilogues follow,
 * whatever the route). docs/model-engine.md "GEMM routes" has the measurements behind AUTO.
 */
enum lg_model_gemm {
	LG_MODEL_GEMM_AUTO = 0,	 /* the faster fp32 route (libxsmm where it runs, else OpenBLAS);
				  * what a loaded model uses */
	LG_MODEL_GEMM_OPENBLAS,	 /* cblas_sgemv at batch 1, cblas_sgemm above */
	LG_MODEL_GEMM_XSMM,	 /* libxsmm JIT kernels made at load on weights packed in panels
				  * (build option -Dxsmm) */
	LG_MODEL_GEMM_XSMM_BF16, /* opt-in: bf16 weights and activations, fp32 accumulate and
				  * output; needs AVX512-BF16; scores within the bound of
				  * docs/model-engine.md "bf16", not bit-equal to fp32 */
};

const char *lg_model_gemm_name(enum lg_model_gemm g);
/* The name's route, or -EINVAL for an unknown name ("auto", "openblas", "xsmm", "xsmm-bf16"). */
int lg_model_gemm_parse(const char *name, enum lg_model_gemm *out);
/*
 * NULL if this build and CPU can run `g`; otherwise what is missing, for the operator, e.g.
 * "this CPU lacks AVX512-BF16 (and AMX is not used)" or "built without libxsmm (-Dxsmm)".
 */
const char *lg_model_gemm_missing(enum lg_model_gemm g);
/*
 * Choose the route and prepare every layer's weights for it (libxsmm: JIT kernels, bf16
 * conversion); allocates, so call it at load, before workers share the model. Returns
 * -ENOTSUP (lg_model_gemm_missing() says why) or -ENOMEM, leaving the route unchanged.
 */
int lg_model_set_gemm(struct lg_model *m, enum lg_model_gemm g);
enum lg_model_gemm lg_model_get_gemm(const struct lg_model *m);
/* The route as an operator reads it: "auto", "auto (OpenBLAS alone)" where libxsmm could not
 * run (W^X without its dual mapping, no kernel for a shape, a CPU it lacks), "openblas", ... */
const char *lg_model_gemm_shown(const struct lg_model *m);
/*
 * lg_model_load_mem() on GEMM route `gemm` from the start (lg_model_load_mem() is this on
 * `auto`): on `openblas` no libxsmm kernel is ever generated for the model (the policy's
 * detection.gemm). A route this build or CPU cannot run fails the load with -ENOTSUP and
 * lg_model_gemm_missing()'s reason in err.
 */
int lg_model_load_mem_gemm(const void *buf, size_t len, enum lg_model_gemm gemm,
			   struct lg_model **out, char *err, size_t errlen);

/*
 * Per-worker scratch memory for batches of up to `max_batch` rows; allocated here, once.
 * A workspace may be used with any model whose layers are no wider than `m`'s (on the bf16
 * GEMM route, whose layers' inputs are no wider either): create one per (worker, model) pair
 * to be safe.
 */
int lg_model_ws_create(const struct lg_model *m, size_t max_batch, struct lg_model_ws **out);
void lg_model_ws_free(struct lg_model_ws *ws);
size_t lg_model_ws_max_batch(const struct lg_model_ws *ws);

/*
 * Run `batch` rows: in is batch x input_dim, out is batch x output_dim, both row-major and
 * not overlapping. Returns -EINVAL if batch is 0 or larger than the workspace's maximum, or if
 * the workspace is too small for this model.
 */
int lg_model_run(const struct lg_model *m, const float *in, size_t batch, float *out,
		 struct lg_model_ws *ws);

/* Floats per row that lg_model_scores() writes: 1 for an autoencoder, classes otherwise. */
size_t lg_model_score_dim(const struct lg_model *m);

/*
 * Run `batch` rows and write batch x lg_model_score_dim() scores: reconstruction error
 * (mean squared error of the row) for an autoencoder, class probabilities for a classifier.
 * Uses the workspace for the model output; `scores` may be as small as the scores.
 */
/* The alert threshold from the model's metadata_props "linegate.threshold": 0 and *out,
 * or -ENOENT when the model does not carry one. */
int lg_model_threshold(const struct lg_model *m, float *out);

/*
 * What the model was fitted for, from its metadata_props (docs/models.md "ONNX metadata"):
 * "linegate.window" (samples per window), "linegate.sample_rate" (Hz), "linegate.layout"
 * (the feature layout's name, e.g. "basic"). 0 / NULL when the model does not carry it:
 * then nobody can check that the policy feeds it what it was trained on.
 */
uint32_t lg_model_window(const struct lg_model *m);
double lg_model_sample_rate(const struct lg_model *m);
const char *lg_model_layout(const struct lg_model *m);

int lg_model_scores(const struct lg_model *m, const float *in, size_t batch, float *scores,
		    struct lg_model_ws *ws);

/*
 * lg_model_scores() with the bf16 guard (docs/model-engine.md "bf16 guard"). On the
 * xsmm-bf16 route each row's decision value gets a bound on its difference from fp32; a row
 * whose value lies within twice that bound of one of the `nlevels` levels, or is not finite,
 * is scored again on fp32 (the xsmm route's kernels), so that "value > level" is what fp32
 * says for every row and level. The decision value is the score for an autoencoder and
 * 1 - P(class 0) for a classifier (linegate's anomaly score). On every other route this is
 * lg_model_scores(). bound (NULL, or batch floats) receives each row's band (0 off bf16).
 * Returns the number of rows scored again (>= 0), or a negative errno. Allocates nothing.
 */
int lg_model_scores_guard(const struct lg_model *m, const float *in, size_t batch,
			  float *scores, struct lg_model_ws *ws, const float *levels,
			  size_t nlevels, float *bound);
/*
 * NULL when the bf16 guard can bound this model's error on its route (always off bf16);
 * else why not, e.g. "a constant divided by a layer's value ... has no error bound": the
 * guard then scores every row again, and linegate refuses such a model on xsmm-bf16.
 */
const char *lg_model_bf16_unguarded(const struct lg_model *m);

#ifdef __cplusplus
}
#endif

#endif /* LINEGATE_MODEL_H */
