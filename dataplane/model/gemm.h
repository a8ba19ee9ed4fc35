/* SPDX-License-Identifier: MIT */
/*
 * The GEMM route seam: how a layer's dst[batch x n] = alpha * src[batch x k] * W is computed.
 * A route prepares a layer's weights once (when the model is loaded or its route is set),
 * runs any batch from 1 to the workspace's maximum without allocating, and frees what it
 * prepared. The epilogue runs after it, whatever the route. docs/model-engine.md "GEMM routes".
 */
#ifndef LG_MODEL_GEMM_H
#define LG_MODEL_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include <linegate/model.h>

struct model_layer;

/* Per-worker scratch a route may use during one call (owned by the workspace). */
struct gemm_scratch {
	uint16_t *bf16; /* max_batch x bf16_ld: activations converted to bf16 */
	size_t bf16_ld; /* bf16 elements per row, >= every layer's k rounded up to even */
};

typedef void (*gemm_fn)(const struct model_layer *l, const float *src, size_t batch, float *dst,
			const struct gemm_scratch *s);

/* OpenBLAS: sgemv at batch 1, sgemm otherwise, on the k x n weights as loaded. */
void gemm_run_openblas(const struct model_layer *l, const float *src, size_t batch, float *dst,
		       const struct gemm_scratch *s);

/*
 * libxsmm (built with -Dxsmm): JIT kernels made at prepare time for 1..GEMM_XSMM_BLOCK rows;
 * larger batches run in blocks of GEMM_XSMM_BLOCK rows. The fp32 variant keeps the weights
 * in panels of GEMM_XSMM_PANEL output columns (each k x PANEL, contiguous) and runs every
 * row block of a chunk of up to GEMM_XSMM_ROWS rows on one panel before the next. The bf16
 * variant keeps the weights as bf16 in libxsmm's VNNI layout and converts the activations
 * per call (fp32 accumulate/out).
 */
#ifndef GEMM_XSMM_BLOCK
#define GEMM_XSMM_BLOCK 32
#endif
#ifndef GEMM_XSMM_PANEL
#define GEMM_XSMM_PANEL 64
#endif
/* fp32: batches above this many rows run in chunks of it, all panels on one chunk first */
#ifndef GEMM_XSMM_ROWS
#define GEMM_XSMM_ROWS 256
#endif
int gemm_xsmm_available(void);
/* NULL when libxsmm's kernels can run here, else why not (for lg_model_gemm_missing()) */
const char *gemm_xsmm_missing(void);
int gemm_xsmm_bf16_available(void);
/* libxsmm's requests for write+exec memory (mmap) or exec (mprotect) refused so far */
unsigned long gemm_xsmm_wx_refused(void);
/* 0, or -ENOMEM / -ENOTSUP (a kernel could not be generated). Replaces l->gemm_state. */
int gemm_xsmm_prepare(struct model_layer *l, int bf16);
void gemm_xsmm_release(void *state);
void gemm_run_xsmm(const struct model_layer *l, const float *src, size_t batch, float *dst,
		   const struct gemm_scratch *s);
void gemm_run_xsmm_bf16(const struct model_layer *l, const float *src, size_t batch, float *dst,
			const struct gemm_scratch *s);

/* fp32 to bf16, rounding to nearest even as vcvtneps2bf16 does; NaN stays NaN (quiet) */
static inline uint16_t gemm_to_bf16(float f)
{
	uint32_t u;

	__builtin_memcpy(&u, &f, sizeof(u));
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40);
	return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

static inline float gemm_from_bf16(uint16_t b)
{
	uint32_t u = (uint32_t)b << 16;
	float f;

	__builtin_memcpy(&f, &u, sizeof(f));
	return f;
}

/* The CPU has AVX512-BF16 (cpuid leaf 7.1 EAX bit 5). */
int gemm_cpu_has_avx512_bf16(void);
/* The CPU has AMX-BF16 (cpuid leaf 7.0 EDX bit 22). */
int gemm_cpu_has_amx_bf16(void);

#endif
