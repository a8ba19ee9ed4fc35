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

#ifdef LG_MODEL_XSMM
static void gemm_release(void *state)
{
	gemm_xsmm_release(state);
}
#else
static void gemm_release(void *state)
{
	(void)state;
}
#endif

const char *lg_model_gemm_name(enum lg_model_gemm g)
{
	switch (g) {
	case LG_MODEL_GEMM_AUTO:
		return "auto";
	case LG_MODEL_GEMM_OPENBLAS:
		return "openblas";
	case LG_MODEL_GEMM_XSMM:
		return "xsmm";
	case LG_MODEL_GEMM_XSMM_BF16:
		return "xsmm-bf16";
	}
	return "unknown";
}

int lg_model_gemm_parse(const char *name, enum lg_model_gemm *out)
{
	static const enum lg_model_gemm all[] = {LG_MODEL_GEMM_AUTO, LG_MODEL_GEMM_OPENBLAS,
						 LG_MODEL_GEMM_XSMM, LG_MODEL_GEMM_XSMM_BF16};

	for (size_t i = 0; name && i < sizeof(all) / sizeof(all[0]); i++)
		if (!strcmp(name, lg_model_gemm_name(all[i]))) {
			*out = all[i];
			return 0;
		}
	return -EINVAL;
}

const char *lg_model_gemm_shown(const struct lg_model *m)
{
	if (!m)
		return "";
	if (m->gemm_route == LG_MODEL_GEMM_AUTO && m->gemm == gemm_run_openblas)
		return "auto (OpenBLAS alone)";
	return lg_model_gemm_name(m->gemm_route);
}

const char *lg_model_gemm_missing(enum lg_model_gemm g)
{
	switch (g) {
	case LG_MODEL_GEMM_AUTO:
	case LG_MODEL_GEMM_OPENBLAS:
		return NULL;
	case LG_MODEL_GEMM_XSMM:
	case LG_MODEL_GEMM_XSMM_BF16:
#ifdef LG_MODEL_XSMM
		if (gemm_xsmm_missing())
			return gemm_xsmm_missing();
		if (g == LG_MODEL_GEMM_XSMM_BF16 && !gemm_xsmm_bf16_available())
			return gemm_cpu_has_amx_bf16()
				   ? "this CPU lacks AVX512-BF16 (its AMX is not used)"
				   : "this CPU lacks AVX512-BF16 (and AMX is not used)";
		return NULL;
#else
		return "built without libxsmm (meson option -Dxsmm)";
#endif
	}
	return "unknown GEMM route";
}

#ifdef LG_MODEL_XSMM
/* Prepare every layer before touching any, so that a failure changes nothing. */
static int xsmm_prepare_all(struct lg_model *m, int bf16)
{
	void **prep = calloc(m->n_layers ? m->n_layers : 1, sizeof(*prep));

	if (!prep)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_layers; i++) {
		struct model_layer tmp = m->layers[i];
		int ret;

		if (!tmp.has_gemm)
			continue;
		tmp.gemm_state = NULL;
		ret = gemm_xsmm_prepare(&tmp, bf16);
		if (ret) {
			for (size_t j = 0; j < i; j++)
				gemm_release(prep[j]);
			free(prep);
			return ret;
		}
		prep[i] = tmp.gemm_state;
	}
	for (size_t i = 0; i < m->n_layers; i++) {
		gemm_release(m->layers[i].gemm_state);
		m->layers[i].gemm_state = prep[i];
	}
	free(prep);
	return 0;
}
#endif

int lg_model_set_gemm(struct lg_model *m, enum lg_model_gemm g)
{
	gemm_fn fn = gemm_run_openblas;
	size_t max_k = 0;

	if (!m)
		return -EINVAL;
	if (lg_model_gemm_missing(g))
		return -ENOTSUP;
	for (size_t i = 0; i < m->n_layers; i++)
		if (m->layers[i].has_gemm && m->layers[i].k > max_k)
			max_k = m->layers[i].k;
#ifdef LG_MODEL_XSMM
	/* AUTO takes what there is: without libxsmm kernels for this CPU or for one of the
	 * layers' shapes, OpenBLAS alone */
	if (g != LG_MODEL_GEMM_OPENBLAS && (g != LG_MODEL_GEMM_AUTO || gemm_xsmm_available())) {
		/* the bf16 guard's bounds first: they change nothing the other routes read */
		int ret = g == LG_MODEL_GEMM_XSMM_BF16 ? model_guard_prepare(m) : 0;

		if (ret)
			return ret;
		ret = xsmm_prepare_all(m, g == LG_MODEL_GEMM_XSMM_BF16);

		/*
		 * AUTO is libxsmm for every layer and batch where it runs: on panel-packed
		 * weights its kernels took 0.12-0.84x OpenBLAS's time at 1-256 rows on ae_1024's
		 * layer shapes with the Haswell kernels (sgemv at one row included), and
		 * 0.13-1.37x with the AVX-512 (Cooperlake) ones, ahead or within the noise
		 * (docs/benchmarks-inference.md "Panel-packed weights").
		 */
		if (!ret)
			fn = g == LG_MODEL_GEMM_XSMM_BF16 ? gemm_run_xsmm_bf16 : gemm_run_xsmm;
		else if (g != LG_MODEL_GEMM_AUTO || ret != -ENOTSUP)
			return ret;
	}
#endif
	if (fn == gemm_run_openblas)
		for (size_t i = 0; i < m->n_layers; i++) {
			gemm_release(m->layers[i].gemm_state);
			m->layers[i].gemm_state = NULL;
		}
	m->max_k = max_k;
	m->gemm = fn;
	m->gemm_route = g;
	return 0;
}

enum lg_model_gemm lg_model_get_gemm(const struct lg_model *m)
{
	return m->gemm_route;
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
	for (size_t i = 0; i < m->n_layers; i++) {
		free(m->layers[i].ops);
		gemm_release(m->layers[i].gemm_state);
	}
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
	add_text(buf, len, &off,
		 "input %zu -> output %zu, %s, %zu layers, epilogue %s, gemm %s\n",
		 m->in_dim, m->out_dim,
		 m->kind == LG_MODEL_AUTOENCODER ? "autoencoder" : "classifier", m->n_layers,
		 lg_model_isa_name(m->isa), lg_model_gemm_shown(m));
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
	ws->in_width = m->in_dim;
	ws->buf[0] = aligned_alloc(64, rowbytes ? rowbytes : 64);
	ws->buf[1] = aligned_alloc(64, rowbytes ? rowbytes : 64);
	ws->out = aligned_alloc(64, obytes ? obytes : 64);
	/*
	 * Every workspace carries the bf16 route's scratch (GEMM_XSMM_BLOCK rows at a time), so
	 * that the route can change without new workspaces: a few KiB to a few hundred.
	 */
	ws->scratch.bf16_ld = (m->max_k + 1) & ~(size_t)1;
	ws->scratch.bf16 = aligned_alloc(64, (GEMM_XSMM_BLOCK * ws->scratch.bf16_ld *
					      sizeof(uint16_t) + 127) & ~(size_t)63);
	/* the bf16 guard's gather buffers (guard.c), for any route, as the bf16 scratch */
	ws->gidx = calloc(max_batch, sizeof(*ws->gidx));
	ws->gin = calloc(max_batch * (m->in_dim ? m->in_dim : 1), sizeof(float));
	ws->gsc = calloc(max_batch * (m->out_dim ? m->out_dim : 1), sizeof(float));
	ws->geb = calloc(max_batch, sizeof(float));
	if (!ws->buf[0] || !ws->buf[1] || !ws->out || !ws->scratch.bf16 || !ws->gidx ||
	    !ws->gin || !ws->gsc || !ws->geb) {
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
	free(ws->scratch.bf16);
	free(ws->gidx);
	free(ws->gin);
	free(ws->gsc);
	free(ws->geb);
	free(ws);
}

size_t lg_model_ws_max_batch(const struct lg_model_ws *ws)
{
	return ws->max_batch;
}

void model_run_layers(const struct lg_model *m, gemm_fn gemm, const float *in, size_t batch,
		      float *out, struct lg_model_ws *ws, float *eb)
{
	const float *src = in;
	unsigned pp = 0;

	if (!m->n_layers) {
		memcpy(out, in, batch * m->in_dim * sizeof(*out));
		return;
	}
	for (size_t i = 0; i < m->n_layers; i++) {
		const struct model_layer *l = &m->layers[i];
		float *dst = i + 1 == m->n_layers ? out : ws->buf[pp++ & 1];

		if (l->has_gemm) {
			gemm(l, src, batch, dst, &ws->scratch);
			if (l->n_ops)
				m->epi(l->ops, l->n_ops, dst, dst, batch, l->n);
		} else {
			m->epi(l->ops, l->n_ops, src, dst, batch, l->n);
		}
		if (eb)
			model_guard_layer(l, src, dst, batch, eb);
		src = dst;
	}
}

int lg_model_run(const struct lg_model *m, const float *in, size_t batch, float *out,
		 struct lg_model_ws *ws)
{
	if (!m || !in || !out || !ws || !batch || batch > ws->max_batch || ws->width < m->max_width)
		return -EINVAL;
#ifdef LG_MODEL_XSMM
	/* the bf16 route converts each layer's input rows into the workspace */
	if (m->gemm == gemm_run_xsmm_bf16 && ws->scratch.bf16_ld < m->max_k)
		return -EINVAL;
#endif
	model_run_layers(m, m->gemm, in, batch, out, ws, NULL);
	return 0;
}

void model_scores_of(const struct lg_model *m, const float *in, const float *y, size_t batch,
		     float *scores)
{
	if (m->kind == LG_MODEL_AUTOENCODER) {
		m->sqerr(in, y, batch, m->in_dim, scores);
	} else if (m->ends_softmax) {
		memcpy(scores, y, batch * m->out_dim * sizeof(*scores));
	} else {
		struct epi_op sm = {.kind = EPI_SOFTMAX, .group = m->out_dim};

		m->epi(&sm, 1, y, scores, batch, m->out_dim);
	}
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
	model_scores_of(m, in, ws->out, batch, scores);
	return 0;
}

uint32_t lg_model_window(const struct lg_model *m)
{
	return m->window;
}

double lg_model_sample_rate(const struct lg_model *m)
{
	return m->sample_rate;
}

const char *lg_model_layout(const struct lg_model *m)
{
	return m->layout[0] ? m->layout : NULL;
}

int lg_model_threshold(const struct lg_model *m, float *out)
{
	if (!m->has_threshold)
		return -ENOENT;
	*out = m->threshold;
	return 0;
}
