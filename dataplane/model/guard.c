/* SPDX-License-Identifier: MIT */
/*
 * The bf16 guard (docs/model-engine.md "bf16 guard"): the xsmm-bf16 route's scores, with
 * every row whose decision could differ from fp32's scored again on fp32.
 *
 * While a batch runs on bf16, each row carries a bound E on the 2-norm of the difference
 * between its activations and the ones the fp32 route would compute, layer by layer:
 *
 *   gemm:      E' = N (E + |d|) + D |b| + (2 gamma_k + u) A (|x| + E)
 *              x: the layer's input row as the bf16 route has it, b = bf16(x), d = b - x
 *              (both computed per row, exactly); N, D, A: upper bounds on the spectral
 *              norms of alpha W, of bf16(alpha W) - alpha W and of |alpha W| (LAPACK's
 *              largest eigenvalue of the Gram matrix, plus its error bound; Collatz-Wielandt
 *              for A); gamma_k = k u / (1 - k u), u = 2^-24: the fp32 sums of both routes,
 *              in any order
 *   epilogue:  E'' = L * E' + eta * |y| (+ eta_abs * sqrt(n) after exp/tanh)
 *                                           L: the ops' Lipschitz bound (relu 1, sigmoid
 *                                           1/4, x * v: max |v|, ...); eta: fp32 rounding
 *
 * The first term is the error the layer inherits, the second the one it adds. At the end
 * the bound on the output becomes one on the decision value: for an autoencoder's score
 * s = |x - y|^2 / d, |s' - s| <= (2 |x - y'| E + 3 E^2) / d (+ the sums' rounding); for a
 * classifier, a probability moves by at most E. A row is scored again on fp32 when its value
 * lies within GUARD_MARGIN times that bound of a level (threshold, hysteresis level), or is
 * not finite. Only norms of rows are computed per batch (O(width) per row and layer, against
 * O(k * n) for the product); N and L are computed when the route is set.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "model_internal.h"

#define U_BF16 (1.0 / 512.0)		/* bf16 unit roundoff (round to nearest even): 2^-9 */
#define U_F32 (1.0 / 16777216.0)	/* 2^-24 */
#define GUARD_ETA_REL (1.0 / 262144.0)	/* fp32 rounding of an epilogue pass, both routes: 2^-18 */
#define GUARD_ETA_ABS (1.0 / 4194304.0) /* exp/tanh approximations, per element: 2^-22 */
/* The band is this many times the bound (docs/model-engine.md "bf16 guard": why 2). */
#define GUARD_MARGIN 2.0
/* Power iterations before the Collatz-Wielandt bound; any number gives an upper bound. */
#define GUARD_POWER_ITERS 30

/*
 * An upper bound on the spectral norm of |A| (A = alpha W, k x n), which also bounds A's:
 * rho(|A|^T |A|) <= max_c (|A|^T |A| v)_c / v_c for any v > 0 (Collatz-Wielandt), with v
 * from a few power iterations so that the bound is close. In double.
 */
static int abs_norm_bound(const struct model_layer *l, double *out)
{
	size_t k = l->k, n = l->n;
	double *v = malloc(n * sizeof(*v)), *t = malloc(k * sizeof(*t)),
	       *u = malloc(n * sizeof(*u)), a = fabs((double)l->alpha), rho = 0;

	if (!v || !t || !u) {
		free(v), free(t), free(u);
		return -ENOMEM;
	}
	for (size_t c = 0; c < n; c++)
		v[c] = 1;
	for (int it = 0; it <= GUARD_POWER_ITERS; it++) {
		double top = 0;

		if (it == GUARD_POWER_ITERS) {
			/* strictly positive, as the bound needs */
			for (size_t c = 0; c < n; c++)
				top = fmax(top, v[c]);
			for (size_t c = 0; c < n; c++)
				v[c] += 1e-3 * top + 1e-300;
		}
		for (size_t r = 0; r < k; r++) {
			double s = 0;

			for (size_t c = 0; c < n; c++)
				s += fabs((double)l->w[r * n + c]) * v[c];
			t[r] = a * s;
		}
		memset(u, 0, n * sizeof(*u));
		for (size_t r = 0; r < k; r++)
			for (size_t c = 0; c < n; c++)
				u[c] += a * fabs((double)l->w[r * n + c]) * t[r];
		if (it == GUARD_POWER_ITERS)
			break;
		top = 0;
		for (size_t c = 0; c < n; c++)
			top = fmax(top, u[c]);
		if (!(top > 0) || !isfinite(top))
			break; /* a zero matrix (bound 0), or inf/NaN weights (bound inf/NaN) */
		for (size_t c = 0; c < n; c++)
			v[c] = u[c] / top;
	}
	for (size_t c = 0; c < n; c++)
		rho = fmax(rho, u[c] / v[c]);
	for (size_t c = 0; c < n && !isnan(rho); c++)
		if (isnan(u[c]))
			rho = NAN;
	free(v), free(t), free(u);
	/* a relative 1e-12 for the double sums */
	*out = isnan(rho) ? INFINITY : sqrt(rho) * (1 + 1e-12);
	return 0;
}

/*
 * An upper bound on the spectral norm of a (k x n, row-major, double): the square root of
 * the largest eigenvalue of the smaller Gram matrix (dsyrk, dsyevr), raised by the error
 * bounds of both steps (Gram entries: k u_d |a|^T|a|, whose norm is at most anorm^2;
 * eigenvalue: a backward-stable method's s u_d ||G||, here s * 1e-14 relative).
 */
static int spec_norm(const double *a, size_t k, size_t n, double anorm, double *out)
{
	size_t s = k < n ? k : n;
	/* w: dsyevr's W has N elements (the first M the eigenvalues asked for); it works in
	 * all of them, so a w of one overran the stack (a clang build's test_scorer crashed
	 * with a wild out pointer) */
	double *g = malloc(s * s * sizeof(*g)), *w = calloc(s + 1, sizeof(*w));
	lapack_int m = 0, isuppz[2];
	double z[1];

	if (!g || !w) {
		free(g);
		free(w);
		return -ENOMEM;
	}
	if (n <= k)
		cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)n, (int)k, 1.0, a, (int)n,
			    0.0, g, (int)n);
	else
		cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)k, (int)n, 1.0, a, (int)n,
			    0.0, g, (int)k);
	if (LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'N', 'I', 'U', (lapack_int)s, g, (lapack_int)s, 0, 0,
			   (lapack_int)s, (lapack_int)s, 0.0, &m, w, z, 1, isuppz) ||
	    m != 1 || !isfinite(w[0]))
		*out = anorm; /* the Collatz-Wielandt bound bounds this one too */
	else
		*out = fmin(anorm, sqrt(fmax(w[0], 0) * (1 + (double)s * 1e-14) +
					(double)k * 1.2e-16 * anorm * anorm) *
				       (1 + 1e-12));
	free(g);
	free(w);
	return 0;
}

/* N and D of a layer (above); A first, which bounds both. */
static int layer_norms(struct model_layer *l)
{
	size_t kn = l->k * l->n;
	double *a = malloc(kn * sizeof(*a));
	int ret;

	if (!a)
		return -ENOMEM;
	ret = abs_norm_bound(l, &l->guard_anorm);
	for (size_t i = 0; !ret && i < kn; i++)
		a[i] = (double)l->alpha * l->w[i];
	if (!ret && isfinite(l->guard_anorm))
		ret = spec_norm(a, l->k, l->n, l->guard_anorm, &l->guard_norm);
	else
		l->guard_norm = l->guard_anorm;
	/* the rounding error of the bf16 weights gemm_xsmm.c makes (alpha folded in, in fp32) */
	for (size_t i = 0; !ret && i < kn; i++)
		a[i] = (double)gemm_from_bf16(gemm_to_bf16(l->alpha * l->w[i])) - a[i];
	if (!ret && isfinite(l->guard_anorm))
		ret = spec_norm(a, l->k, l->n, l->guard_anorm * U_BF16 * 1.01, &l->guard_dnorm);
	else
		l->guard_dnorm = l->guard_anorm;
	free(a);
	return ret;
}

/* The Lipschitz bound (2-norm) of a layer's ops, or inf with *why set. */
static double ops_lip(const struct model_layer *l, int *transc, const char **why)
{
	double lip = 1;

	*transc = 0;
	for (size_t i = 0; i < l->n_ops; i++) {
		const struct epi_op *op = &l->ops[i];
		double m = 0;

		switch (op->kind) {
		case EPI_ADD:
		case EPI_SUB:
		case EPI_RSUB:
		case EPI_RELU:
			break;
		case EPI_MUL:
			for (size_t j = 0; j < l->n; j++)
				m = fmax(m, fabs((double)op->vec[j]));
			lip *= isnan(m) ? INFINITY : m;
			break;
		case EPI_DIV:
			m = INFINITY;
			for (size_t j = 0; j < l->n; j++)
				m = fmin(m, fabs((double)op->vec[j]));
			if (!(m > 0))
				*why = "a division by a constant 0 has no error bound";
			lip *= m > 0 ? 1 / m : INFINITY;
			break;
		case EPI_RDIV:
			*why = "a constant divided by a layer's value (Div with the value as "
			       "divisor) has no error bound";
			lip = INFINITY;
			break;
		case EPI_LEAKY:
			lip *= fmax(1.0, fabs((double)op->alpha));
			break;
		case EPI_SIGMOID:
			lip *= 0.25;
			*transc = 1;
			break;
		case EPI_TANH:
		case EPI_SOFTMAX: /* its Jacobian's 2-norm is at most 1/2 */
			*transc = 1;
			break;
		}
	}
	return lip;
}

int model_guard_prepare(struct lg_model *m)
{
	const char *why = NULL;

	for (size_t i = 0; i < m->n_layers; i++) {
		struct model_layer *l = &m->layers[i];
		int transc, ret;

		l->guard_norm = l->guard_dnorm = l->guard_anorm = 0;
		if (l->has_gemm && (ret = layer_norms(l)))
			return ret;
		l->guard_lip = ops_lip(l, &transc, &why);
		/* the sign marks layers with exp/tanh (their absolute error term) */
		if (transc)
			l->guard_lip = -l->guard_lip;
		if (!isfinite(l->guard_norm) && !why)
			why = "a layer's weights are not finite";
	}
	m->guard_why = why;
	return 0;
}

/*
 * |x| and |bf16(x) - x| of a row, in float with 16 partial sums that the compiler can keep
 * in one vector (their rounding, n 2^-24 relative at most, is far inside GUARD_MARGIN).
 */
static void row_norms(const float *restrict x, size_t n, double *xn, double *dn)
{
	float s[16] = {0}, d[16] = {0};
	size_t j = 0;

	for (; j + 16 <= n; j += 16)
		for (int q = 0; q < 16; q++) {
			uint32_t u;
			float v = x[j + q], b;

			__builtin_memcpy(&u, &v, sizeof(u));
			u = (u + 0x7fffu + ((u >> 16) & 1)) & 0xffff0000u;
			__builtin_memcpy(&b, &u, sizeof(b));
			s[q] += v * v;
			d[q] += (b - v) * (b - v);
		}
	for (; j < n; j++) {
		float v = x[j], e = gemm_from_bf16(gemm_to_bf16(v)) - v;

		s[0] += v * v;
		d[0] += e * e;
	}
	*xn = *dn = 0;
	for (int q = 0; q < 16; q++) {
		*xn += s[q];
		*dn += d[q];
	}
	*xn = sqrt(*xn) * (1 + 1e-4);
	*dn = sqrt(*dn) * (1 + 1e-4);
}

static double row_norm(const float *restrict x, size_t n)
{
	float s[16] = {0};
	size_t j = 0;
	double t = 0;

	for (; j + 16 <= n; j += 16)
		for (int q = 0; q < 16; q++)
			s[q] += x[j + q] * x[j + q];
	for (; j < n; j++)
		s[0] += x[j] * x[j];
	for (int q = 0; q < 16; q++)
		t += s[q];
	return sqrt(t) * (1 + 1e-4);
}

void model_guard_layer(const struct model_layer *l, const float *src, const float *dst,
		       size_t batch, float *eb)
{
	double gk = (double)l->k * U_F32 / (1 - (double)l->k * U_F32), lip = fabs(l->guard_lip),
	       abs_term = l->guard_lip < 0 ? GUARD_ETA_ABS * sqrt((double)l->n) : 0;

	for (size_t r = 0; r < batch; r++) {
		double e = eb[r], xn, dn;

		if (l->has_gemm) {
			row_norms(src + r * l->k, l->k, &xn, &dn);
			e = l->guard_norm * (e + dn) + l->guard_dnorm * (xn + dn) +
			    (2 * gk + U_F32) * l->guard_anorm * (xn * (1 + 2 * U_BF16) + e);
		}
		e = lip * e + GUARD_ETA_REL * row_norm(dst + r * l->n, l->n) + abs_term;
		eb[r] = isnan(e) ? INFINITY : (float)e;
	}
}

const char *lg_model_bf16_unguarded(const struct lg_model *m)
{
	if (!m)
		return "no model";
	if (m->gemm_route != LG_MODEL_GEMM_XSMM_BF16)
		return NULL;
	return m->guard_why;
}

#ifdef LG_MODEL_XSMM
/* The band around a level within which row r's decision value could be fp32's other side. */
static float row_band(const struct lg_model *m, const float *scores, size_t r, float e)
{
	double b;

	if (m->kind == LG_MODEL_AUTOENCODER) {
		double d = (double)m->in_dim, s = fabs((double)scores[r]), rn = sqrt(d * s);

		b = (2 * rn * e + 3 * (double)e * e) / d + 4 * d * U_F32 * s;
	} else {
		/* lg_model_scores()'s own softmax (Lipschitz 1) adds its rounding */
		b = e + GUARD_ETA_REL + GUARD_ETA_ABS * sqrt((double)m->out_dim) + U_F32;
	}
	b *= GUARD_MARGIN;
	return isnan(b) ? INFINITY : (float)b;
}

static int near_level(float v, float band, const float *levels, size_t nlevels)
{
	if (!isfinite(v) || !(band < INFINITY))
		return 1;
	for (size_t i = 0; i < nlevels; i++)
		if (!(fabsf(v - levels[i]) > band))
			return 1;
	return 0;
}

#endif

int lg_model_scores_guard(const struct lg_model *m, const float *in, size_t batch, float *scores,
			  struct lg_model_ws *ws, const float *levels, size_t nlevels, float *bound)
{
#ifdef LG_MODEL_XSMM
	size_t ds, nr = 0;
	int ret;

	if (!m || m->gemm != gemm_run_xsmm_bf16)
		goto plain;
	if (!ws || !in || !scores || (nlevels && !levels) || !batch || batch > ws->max_batch ||
	    ws->width < m->max_width || ws->out_width < m->out_dim || ws->in_width < m->in_dim ||
	    ws->scratch.bf16_ld < m->max_k)
		return -EINVAL;
	ds = lg_model_score_dim(m);
	memset(ws->geb, 0, batch * sizeof(*ws->geb));
	model_run_layers(m, m->gemm, in, batch, ws->out, ws, ws->geb);
	model_scores_of(m, in, ws->out, batch, scores);
	for (size_t r = 0; r < batch; r++) {
		float v = m->kind == LG_MODEL_AUTOENCODER ? scores[r] : 1.0f - scores[r * ds],
		      band = row_band(m, scores, r, ws->geb[r]);

		if (bound)
			bound[r] = band;
		if (!near_level(v, band, levels, nlevels))
			continue;
		ws->gidx[nr] = (unsigned)r;
		memcpy(ws->gin + nr * m->in_dim, in + r * m->in_dim, m->in_dim * sizeof(float));
		nr++;
	}
	if (!nr)
		return 0;
	/* the same fp32 kernels as the xsmm route: a row's result does not depend on the
	 * others in its block (model_bf16_guard checks it bit for bit) */
	model_run_layers(m, gemm_run_xsmm, ws->gin, nr, ws->out, ws, NULL);
	model_scores_of(m, ws->gin, ws->out, nr, ws->gsc);
	for (size_t i = 0; i < nr; i++)
		memcpy(scores + ws->gidx[i] * ds, ws->gsc + i * ds, ds * sizeof(float));
	return (int)nr;
plain:
	ret = lg_model_scores(m, in, batch, scores, ws);
	if (!ret && bound)
		for (size_t r = 0; r < batch; r++)
			bound[r] = 0;
	return ret;
#else
	int ret = lg_model_scores(m, in, batch, scores, ws);

	(void)levels, (void)nlevels;
	if (!ret && bound)
		for (size_t r = 0; r < batch; r++)
			bound[r] = 0;
	return ret;
#endif
}
