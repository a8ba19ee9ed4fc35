/* SPDX-License-Identifier: MIT */
/*
 * Model runtime: the compiled plan, workspaces, running a batch, scores, ISA selection.
 * The ONNX importer (onnx_import.c) builds the plan; nothing here knows about protobuf.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "model_internal.h"

static pthread_once_t isa_once = PTHREAD_ONCE_INIT;
static enum lg_model_isa isa_best = LG_MODEL_ISA_SCALAR;
static int isa_have[4];

static void isa_detect(void)
{
	isa_have[LG_MODEL_ISA_SCALAR] = 1;
#ifdef LG_MODEL_X86
	__builtin_cpu_init();
	isa_have[LG_MODEL_ISA_AVX2] =
	    __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	isa_have[LG_MODEL_ISA_AVX512] =
	    __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
#endif
	if (isa_have[LG_MODEL_ISA_AVX512])
		isa_best = LG_MODEL_ISA_AVX512;
	else if (isa_have[LG_MODEL_ISA_AVX2])
		isa_best = LG_MODEL_ISA_AVX2;
	/*
	 * Workers are the parallelism: an OpenBLAS thread pool under every worker would fight
	 * them for the same cores. This is process-wide, which is what we want.
	 */
	openblas_set_num_threads(1);
}

void model_runtime_init(void)
{
	pthread_once(&isa_once, isa_detect);
}

int lg_model_isa_supported(enum lg_model_isa isa)
{
	model_runtime_init();
	if (isa == LG_MODEL_ISA_AUTO)
		return 1;
	if ((unsigned)isa >= sizeof(isa_have) / sizeof(isa_have[0]))
		return 0;
	return isa_have[isa];
}

const char *lg_model_isa_name(enum lg_model_isa isa)
{
	switch (isa) {
	case LG_MODEL_ISA_AUTO:
		return "auto";
	case LG_MODEL_ISA_SCALAR:
		return "scalar";
	case LG_MODEL_ISA_AVX2:
		return "avx2";
	case LG_MODEL_ISA_AVX512:
		return "avx512";
	}
	return "unknown";
}

int lg_model_set_isa(struct lg_model *m, enum lg_model_isa isa)
{
	if (!m)
		return -EINVAL;
	if (!lg_model_isa_supported(isa))
		return -ENOTSUP;
	if (isa == LG_MODEL_ISA_AUTO)
		isa = isa_best;
	switch (isa) {
#ifdef LG_MODEL_X86
	case LG_MODEL_ISA_AVX512:
		m->epi = epi_run_avx512;
		m->sqerr = epi_sqerr_avx512;
		break;
	case LG_MODEL_ISA_AVX2:
		m->epi = epi_run_avx2;
		m->sqerr = epi_sqerr_avx2;
		break;
#endif
	default:
		isa = LG_MODEL_ISA_SCALAR;
		m->epi = epi_run_scalar;
		m->sqerr = epi_sqerr_scalar;
		break;
	}
	m->isa = isa;
	return 0;
}

enum lg_model_isa lg_model_get_isa(const struct lg_model *m)
{
	return m->isa;
}

void *model_alloc(struct lg_model *m, size_t bytes)
{
	struct model_chunk *c;
	size_t sz;

	if (bytes > SIZE_MAX - sizeof(*c) - 64)
		return NULL;
	/* 64-byte aligned payload so weights and broadcast rows start on a cache line */
	sz = (sizeof(*c) + bytes + 63) & ~(size_t)63;
	c = aligned_alloc(64, sz);
	if (!c)
		return NULL;
	c->next = m->chunks;
	m->chunks = c;
	return c->data;
}

void lg_model_free(struct lg_model *m)
{
	struct model_chunk *c, *n;

	if (!m)
		return;
	for (c = m->chunks; c; c = n) {
		n = c->next;
		free(c);
	}
	for (size_t i = 0; i < m->n_layers; i++)
		free(m->layers[i].ops);
	free(m->layers);
	free(m);
}

size_t lg_model_input_dim(const struct lg_model *m)
{
	return m->in_dim;
}

size_t lg_model_output_dim(const struct lg_model *m)
{
	return m->out_dim;
}

enum lg_model_kind lg_model_kind(const struct lg_model *m)
{
	return m->kind;
}

size_t lg_model_n_layers(const struct lg_model *m)
{
	return m->n_layers;
}

size_t lg_model_flops_per_row(const struct lg_model *m)
{
	size_t f = 0;

	for (size_t i = 0; i < m->n_layers; i++)
		if (m->layers[i].has_gemm)
			f += 2 * m->layers[i].k * m->layers[i].n;
	return f;
}

static const char *epi_name(enum epi_kind k)
{
	static const char *const names[] = {
	    [EPI_ADD] = "add",	 [EPI_SUB] = "sub",	    [EPI_RSUB] = "rsub",
	    [EPI_MUL] = "mul",	 [EPI_DIV] = "div",	    [EPI_RDIV] = "rdiv",
	    [EPI_RELU] = "relu", [EPI_LEAKY] = "leaky",	    [EPI_SIGMOID] = "sigmoid",
	    [EPI_TANH] = "tanh", [EPI_SOFTMAX] = "softmax",
	};

	return (unsigned)k < sizeof(names) / sizeof(names[0]) && names[k] ? names[k] : "?";
}

/* snprintf that keeps counting past the end of the buffer */
__attribute__((format(printf, 4, 5))) static void add_text(char *buf, size_t len, size_t *off,
							   const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(*off < len ? buf + *off : NULL, *off < len ? len - *off : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off += (size_t)n;
}

size_t lg_model_describe(const struct lg_model *m, char *buf, size_t len)
{
	size_t off = 0;

	if (buf && len)
		buf[0] = '\0';
	else
		buf = NULL, len = 0;
	add_text(buf, len, &off, "input %zu -> output %zu, %s, %zu layers, epilogue %s\n",
		 m->in_dim, m->out_dim,
		 m->kind == LG_MODEL_AUTOENCODER ? "autoencoder" : "classifier", m->n_layers,
		 lg_model_isa_name(m->isa));
	for (size_t i = 0; i < m->n_layers; i++) {
		const struct model_layer *l = &m->layers[i];

		add_text(buf, len, &off, "layer %zu: ", i);
		if (l->has_gemm)
			add_text(buf, len, &off, "sgemm %zux%zu", l->k, l->n);
		else
			add_text(buf, len, &off, "width %zu", l->n);
		for (size_t k = 0; k < l->n_ops; k++) {
			add_text(buf, len, &off, "%s%s", k ? ", " : " | ",
				 epi_name(l->ops[k].kind));
			if (l->ops[k].kind == EPI_LEAKY)
				add_text(buf, len, &off, "(%g)", (double)l->ops[k].alpha);
			if (l->ops[k].kind == EPI_SOFTMAX && l->ops[k].group != l->n)
				add_text(buf, len, &off, "/%zu", l->ops[k].group);
		}
		add_text(buf, len, &off, "\n");
	}
	return off;
}

size_t lg_model_score_dim(const struct lg_model *m)
{
	return m->kind == LG_MODEL_AUTOENCODER ? 1 : m->out_dim;
}

struct lg_model_ws {
	size_t max_batch;
	size_t width; /* floats per row in each of buf[0], buf[1] */
	size_t out_width;
	float *buf[2];
	float *out;
};

int lg_model_ws_create(const struct lg_model *m, size_t max_batch, struct lg_model_ws **out)
{
	struct lg_model_ws *ws;
	size_t rowbytes, obytes;

	if (!m || !out || !max_batch || max_batch > MODEL_MAX_BATCH)
		return -EINVAL;
	if (m->max_width > SIZE_MAX / sizeof(float) / max_batch ||
	    m->out_dim > SIZE_MAX / sizeof(float) / max_batch)
		return -EINVAL;
	rowbytes = (max_batch * m->max_width * sizeof(float) + 63) & ~(size_t)63;
	obytes = (max_batch * m->out_dim * sizeof(float) + 63) & ~(size_t)63;
	ws = calloc(1, sizeof(*ws));
	if (!ws)
		return -ENOMEM;
	ws->max_batch = max_batch;
	ws->width = m->max_width;
	ws->out_width = m->out_dim;
	ws->buf[0] = aligned_alloc(64, rowbytes ? rowbytes : 64);
	ws->buf[1] = aligned_alloc(64, rowbytes ? rowbytes : 64);
	ws->out = aligned_alloc(64, obytes ? obytes : 64);
	if (!ws->buf[0] || !ws->buf[1] || !ws->out) {
		lg_model_ws_free(ws);
		return -ENOMEM;
	}
	*out = ws;
	return 0;
}

void lg_model_ws_free(struct lg_model_ws *ws)
{
	if (!ws)
		return;
	free(ws->buf[0]);
	free(ws->buf[1]);
	free(ws->out);
	free(ws);
}

size_t lg_model_ws_max_batch(const struct lg_model_ws *ws)
{
	return ws->max_batch;
}

int lg_model_run(const struct lg_model *m, const float *in, size_t batch, float *out,
		 struct lg_model_ws *ws)
{
	const float *src = in;
	unsigned pp = 0;

	if (!m || !in || !out || !ws || !batch || batch > ws->max_batch || ws->width < m->max_width)
		return -EINVAL;
	if (!m->n_layers) {
		memcpy(out, in, batch * m->in_dim * sizeof(*out));
		return 0;
	}
	for (size_t i = 0; i < m->n_layers; i++) {
		const struct model_layer *l = &m->layers[i];
		float *dst = i + 1 == m->n_layers ? out : ws->buf[pp++ & 1];

		if (l->has_gemm && batch == 1) {
			/*
			 * One frame is a matrix-vector product; OpenBLAS's sgemv skips the
			 * packing sgemm does, which is most of the cost at this size.
			 */
			cblas_sgemv(CblasRowMajor, CblasTrans, (int)l->k, (int)l->n, l->alpha, l->w,
				    (int)l->n, src, 1, 0.0f, dst, 1);
			if (l->n_ops)
				m->epi(l->ops, l->n_ops, dst, dst, 1, l->n);
		} else if (l->has_gemm) {
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)batch, (int)l->n,
				    (int)l->k, l->alpha, src, (int)l->k, l->w, (int)l->n, 0.0f, dst,
				    (int)l->n);
			if (l->n_ops)
				m->epi(l->ops, l->n_ops, dst, dst, batch, l->n);
		} else {
			m->epi(l->ops, l->n_ops, src, dst, batch, l->n);
		}
		src = dst;
	}
	return 0;
}

int lg_model_scores(const struct lg_model *m, const float *in, size_t batch, float *scores,
		    struct lg_model_ws *ws)
{
	int ret;

	if (!m || !ws || !scores || ws->out_width < m->out_dim)
		return -EINVAL;
	ret = lg_model_run(m, in, batch, ws->out, ws);
	if (ret)
		return ret;
	if (m->kind == LG_MODEL_AUTOENCODER) {
		m->sqerr(in, ws->out, batch, m->in_dim, scores);
	} else if (m->ends_softmax) {
		memcpy(scores, ws->out, batch * m->out_dim * sizeof(*scores));
	} else {
		struct epi_op sm = {.kind = EPI_SOFTMAX, .group = m->out_dim};

		m->epi(&sm, 1, ws->out, scores, batch, m->out_dim);
	}
	return 0;
}

int lg_model_threshold(const struct lg_model *m, float *out)
{
	if (!m->has_threshold)
		return -ENOENT;
	*out = m->threshold;
	return 0;
}
