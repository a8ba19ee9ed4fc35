// SPDX-License-Identifier: MIT
/*
 * Mahalanobis and PCA detectors: sufficient statistics in double, fit with LAPACK
 * (dsyev), score with one sgemm per batch; statistics export, merge and DP noise.
 */
#include <linegate/detector.h>
#include <linegate/lgf.h>
#include <linegate/outpath.h>

#include <cblas.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "knn.h"

/* Eigenvalues below this fraction of the largest are clamped, so a feature that
 * never varies in training (a constant mean, say) cannot blow the score up. */
#define EIG_FLOOR 1e-6
/* PCA keeps the fewest components that explain this share of the variance when the
 * caller does not say how many. */
#define PCA_VARIANCE 0.95

static const char *const kind_names[] = { "mahalanobis", "pca", "knn" };

const char *lg_detector_kind_name(enum lg_detector_kind kind)
{
	return (unsigned)kind < 3 ? kind_names[kind] : "invalid";
}

int lg_detector_kind_parse(const char *name, enum lg_detector_kind *kind)
{
	for (unsigned i = 0; i < 3; i++)
		if (!strcmp(name, kind_names[i])) {
			*kind = (enum lg_detector_kind)i;
			return 0;
		}
	return -EINVAL;
}

/* det->bands must be set: the feature extractor is made for that layout. */
static int alloc_det(struct lg_detector *det, size_t d, size_t max_batch)
{
	det->d = d;
	det->max_batch = max_batch;
	det->mean = calloc(d, sizeof(float));
	det->w = calloc(d * d, sizeof(float));
	det->work = calloc(max_batch * d * 2, sizeof(float));
	if (!det->mean || !det->w || !det->work ||
	    lg_features_new_layout(&det->fx, det->layout, &det->bands, LG_SPECTRUM_DEFAULT, 1)) {
		lg_detector_free(det);
		return -ENOMEM;
	}
	return 0;
}

void lg_detector_free(struct lg_detector *det)
{
	if (!det)
		return;
	free(det->mean);
	free(det->w);
	free(det->work);
	free(det->sd);
	free(det->fweight);
	free(det->scale);
	free(det->train);
	free(det->tnorm);
	free(det->kwork);
	free(det->ref_edge);
	free(det->ref_frac);
	free(det->ref_floor);
	det->ref_edge = NULL;
	det->ref_frac = NULL;
	det->ref_floor = NULL;
	det->ref_block = 0;
	det->has_ref = 0;
	det->sd = det->fweight = det->scale = det->train = det->tnorm = det->kwork = NULL;
	det->m = 0;
	lg_features_free(det->fx);
	det->mean = det->w = det->work = NULL;
	det->fx = NULL;
	for (unsigned c = 0; det->ch && c < det->nch; c++)
		lg_detector_free(&det->ch[c]);
	free(det->ch);
	free(det->oref.lines);
	memset(&det->oref, 0, sizeof(det->oref));
	free(det->cidx);
	free(det->cpart);
	det->ch = NULL;
	det->cidx = NULL;
	det->cpart = NULL;
	det->nch = 0;
}

/* ---- kNN (issue 8) ---- */

/* scores of nc scaled rows z against their products g with the kept rows */
static void knn_minima(const struct lg_detector *det, lg_knn_rowmin_fn rowmin, const float *z,
		       const float *g, size_t nc, float *scores)
{
	size_t d = det->d, m = det->m;

	for (size_t i = 0; i < nc; i++) {
		float zn = 0, d2;

		for (size_t j = 0; j < d; j++)
			zn += z[i * d + j] * z[i * d + j];
		if (!isfinite(zn)) {
			scores[i] = NAN; /* the same on every ISA */
			continue;
		}
		d2 = zn + rowmin(g + i * m, det->tnorm, m);
		scores[i] = sqrtf((d2 > 0 ? d2 : 0) / (float)d);
	}
}

static lg_knn_rowmin_fn knn_kernel(enum lg_model_isa isa)
{
	switch (isa) {
#ifdef LG_FEATURES_X86
	case LG_MODEL_ISA_AVX512:
		return lg_knn_rowmin_avx512;
	case LG_MODEL_ISA_AVX2:
		return lg_knn_rowmin_avx2;
#endif
	default:
		return lg_knn_rowmin_scalar;
	}
}

static lg_knn_rowmin_fn knn_pick(enum lg_model_isa isa)
{
	if (isa != LG_MODEL_ISA_AUTO)
		return knn_kernel(isa);
	if (lg_model_isa_supported(LG_MODEL_ISA_AVX512))
		return knn_kernel(LG_MODEL_ISA_AVX512);
	if (lg_model_isa_supported(LG_MODEL_ISA_AVX2))
		return knn_kernel(LG_MODEL_ISA_AVX2);
	return knn_kernel(LG_MODEL_ISA_SCALAR);
}

int lg_detector_knn_set_isa(struct lg_detector *det, enum lg_model_isa isa)
{
	if (isa != LG_MODEL_ISA_AUTO && !lg_model_isa_supported(isa))
		return -ENOTSUP;
	det->knn_isa = isa;
	for (unsigned c = 0; c < det->nch; c++)
		det->ch[c].knn_isa = isa;
	return 0;
}

/* nch sub-detectors and the scratch to score through them; det->nch is set on success. */
static int knn_alloc_channels(struct lg_detector *det, unsigned nch)
{
	det->ch = calloc(nch, sizeof(*det->ch));
	det->cidx = calloc(det->max_batch, sizeof(*det->cidx));
	det->cpart = calloc(det->max_batch, sizeof(*det->cpart));
	if (!det->ch || !det->cidx || !det->cpart)
		return -ENOMEM;
	det->nch = nch;
	return 0;
}

int lg_detector_knn_fit_channels(const float *rows, size_t n, size_t d, unsigned nch,
				 const float *fweight, size_t cap, enum lg_feat_layout layout,
				 size_t max_batch, struct lg_detector *det)
{
	size_t per = nch ? n / nch : 0;
	float *one;
	int ret;

	memset(det, 0, sizeof(*det));
	if (!nch || nch > 255 || !per || n % nch)
		return -EINVAL;
	one = malloc(sizeof(float) * per * d);
	if (!one)
		return -ENOMEM;
	/* channel 0 is also the detector's own fields (what a reader without per_channel uses) */
	for (size_t i = 0; i < per; i++)
		memcpy(one + i * d, rows + (i * nch) * d, sizeof(float) * d);
	ret = lg_detector_knn_fit(one, per, d, 1, fweight, cap, layout, max_batch, det);
	if (!ret)
		ret = knn_alloc_channels(det, nch);
	for (unsigned c = 0; !ret && c < nch; c++) {
		for (size_t i = 0; i < per; i++)
			memcpy(one + i * d, rows + (i * nch + c) * d, sizeof(float) * d);
		ret = lg_detector_knn_fit(one, per, d, 1, fweight, cap, layout, max_batch,
					  &det->ch[c]);
		if (!ret)
			det->ch[c].threshold = 1;
	}
	free(one);
	if (ret) {
		det->nch = det->ch ? nch : 0;
		lg_detector_free(det);
		return ret;
	}
	det->threshold = 1;
	return 0;
}

int lg_detector_knn_set_channel_threshold(struct lg_detector *det, unsigned c, float t)
{
	if (c >= det->nch || !(t > 0) || !isfinite(t))
		return -EINVAL;
	det->ch[c].threshold = t;
	if (!c)
		det->threshold = t;
	return 0;
}

/* Rows per sgemm of the kNN: its scratch (KNN_CHUNK x m floats) stays small however large
 * the data plane's batch is, since a per-device model holds a detector per device. */
#define KNN_CHUNK 64

static size_t knn_chunk(const struct lg_detector *det)
{
	return det->max_batch < KNN_CHUNK ? det->max_batch : KNN_CHUNK;
}

/* The scores of the n centred rows in det->work: scaled in place, one sgemm against the kept
 * rows per KNN_CHUNK rows (one per batch of up to 64), a row minimum. */
static void score_knn(struct lg_detector *det, size_t n, float *scores)
{
	size_t d = det->d, m = det->m, chunk = knn_chunk(det);
	float *z = det->work, *g = det->kwork;
	lg_knn_rowmin_fn rowmin = knn_pick(det->knn_isa);

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < d; j++)
			z[i * d + j] *= det->scale[j];
	for (size_t i0 = 0; i0 < n; i0 += chunk) {
		size_t nc = n - i0 < chunk ? n - i0 : chunk;

		/* g = z T^T: nc x m */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nc, (int)m, (int)d, 1.0f,
			    z + i0 * d, (int)d, det->train, (int)d, 0.0f, g, (int)m);
		knn_minima(det, rowmin, z + i0 * d, g, nc, scores + i0);
	}
}

float lg_detector_knn_score_self(const struct lg_detector *det, const float *x)
{
	double best = INFINITY;
	size_t d = det->d;

	for (size_t r = 0; r < det->m; r++) {
		double s = 0;

		for (size_t j = 0; j < d; j++) {
			double e = ((double)x[j] - det->mean[j]) * det->scale[j] -
				   det->train[r * d + j];

			s += e * e;
		}
		/* a kept row at (float rounding of) distance 0 is the window itself */
		if (s > 1e-6 * (double)d && s < best)
			best = s;
	}
	return isfinite(best) ? (float)sqrt(best / (double)d) : 0.0f;
}

/* mean, sd and fweight are set: scale, and the kept rows' norms. */
static void knn_derive(struct lg_detector *det)
{
	for (size_t j = 0; j < det->d; j++)
		det->scale[j] = sqrtf(det->fweight[j]) / det->sd[j];
	for (size_t r = 0; r < det->m; r++) {
		float s = 0;

		for (size_t j = 0; j < det->d; j++)
			s += det->train[r * det->d + j] * det->train[r * det->d + j];
		det->tnorm[r] = s;
	}
}

/* d, m and max_batch set: the kNN arrays. */
static int knn_alloc(struct lg_detector *det)
{
	size_t d = det->d, m = det->m;

	det->sd = calloc(d, sizeof(float));
	det->fweight = calloc(d, sizeof(float));
	det->scale = calloc(d, sizeof(float));
	det->train = calloc(m * d, sizeof(float));
	det->tnorm = calloc(m, sizeof(float));
	det->kwork = calloc(knn_chunk(det) * m, sizeof(float));
	return det->sd && det->fweight && det->scale && det->train && det->tnorm && det->kwork ?
		       0 : -ENOMEM;
}

/* Greedy k-centre cover of the rows idx[0..n-1] of t (d wide): at most cap of them, the first,
 * then each the farthest (squared distance in double) from those kept; keep[] gets them in
 * their order in idx (as quality_proto.py's sorted indices). Returns how many. */
static size_t kcentre(const float *t, size_t d, const size_t *idx, size_t n, size_t cap,
		      double *dist, unsigned char *kept, size_t *keep)
{
	size_t k = 0, cur = 0;

	if (n <= cap) {
		for (size_t i = 0; i < n; i++)
			keep[i] = idx[i];
		return n;
	}
	memset(kept, 0, n);
	for (size_t i = 0; i < n; i++)
		dist[i] = INFINITY;
	for (size_t round = 0; round < cap; round++) {
		const float *c = t + idx[cur] * d;
		double far = -1;
		size_t next = 0;

		kept[cur] = 1;
		for (size_t i = 0; i < n; i++) {
			double s = 0;

			for (size_t j = 0; j < d; j++) {
				double e = (double)t[idx[i] * d + j] - c[j];

				s += e * e;
			}
			if (s < dist[i])
				dist[i] = s;
			if (dist[i] > far) { /* the first of equals, as numpy's argmax */
				far = dist[i];
				next = i;
			}
		}
		cur = next;
	}
	for (size_t i = 0; i < n; i++)
		if (kept[i])
			keep[k++] = idx[i];
	return k;
}

int lg_detector_knn_fit(const float *rows, size_t n, size_t d, size_t groups,
			const float *fweight, size_t cap, enum lg_feat_layout layout,
			size_t max_batch, struct lg_detector *det)
{
	double *mu = NULL, *var = NULL, *dist = NULL;
	size_t *idx = NULL, *keep = NULL, m = 0;
	unsigned char *kept = NULL;
	float *t = NULL;
	int ret = -EINVAL;

	memset(det, 0, sizeof(*det));
	if (!n || !d || d > 4096 || !groups || !max_batch)
		return -EINVAL;
	for (size_t i = 0; i < n * d; i++)
		if (!isfinite(rows[i]))
			return -EINVAL;
	for (size_t j = 0; fweight && j < d; j++)
		if (!(fweight[j] > 0) || !isfinite(fweight[j]))
			return -EINVAL;
	if (!cap)
		cap = LG_KNN_CAP;
	lg_bands_default(&det->bands);
	det->layout = layout;
	ret = alloc_det(det, d, max_batch);
	if (ret)
		return ret;
	ret = -ENOMEM;
	mu = calloc(d, sizeof(*mu));
	var = calloc(d, sizeof(*var));
	t = malloc(n * d * sizeof(*t));
	idx = malloc(n * sizeof(*idx));
	keep = malloc(n * sizeof(*keep));
	dist = malloc(n * sizeof(*dist));
	kept = malloc(n);
	if (!mu || !var || !t || !idx || !keep || !dist || !kept)
		goto out;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < d; j++)
			mu[j] += rows[i * d + j];
	for (size_t j = 0; j < d; j++)
		mu[j] /= (double)n;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < d; j++)
			var[j] += (rows[i * d + j] - mu[j]) * (rows[i * d + j] - mu[j]);
	det->kind = LG_DETECTOR_KNN;
	det->denom = (float)d;
	/* every row standardised and weighted; per channel a k-centre cover of them */
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < d; j++) {
			double sd = sqrt(var[j] / (double)n) + 1e-3;
			double wj = fweight ? fweight[j] : 1.0;

			t[i * d + j] = (float)((rows[i * d + j] - mu[j]) / sd * sqrt(wj));
		}
	for (size_t c = 0; c < groups; c++) {
		size_t k = 0;

		for (size_t i = c; i < n; i += groups)
			idx[k++] = i;
		m += kcentre(t, d, idx, k, cap, dist, kept, keep + m);
	}
	det->m = m;
	if (knn_alloc(det))
		goto out;
	for (size_t j = 0; j < d; j++) {
		det->mean[j] = (float)mu[j];
		det->sd[j] = (float)(sqrt(var[j] / (double)n) + 1e-3);
		det->fweight[j] = fweight ? fweight[j] : 1.0f;
	}
	for (size_t r = 0; r < m; r++)
		memcpy(det->train + r * d, t + keep[r] * d, d * sizeof(float));
	knn_derive(det);
	snprintf(det->name, sizeof(det->name), "knn");
	det->version = 1;
	ret = 0;
out:
	free(mu);
	free(var);
	free(t);
	free(idx);
	free(keep);
	free(dist);
	free(kept);
	if (ret)
		lg_detector_free(det);
	return ret;
}

/* The scores of the n centred rows in det->work. */
static void score_centred(struct lg_detector *det, size_t n, float *scores)
{
	size_t d = det->d;
	float *c = det->work, *y = det->work + det->max_batch * d;

	if (det->kind == LG_DETECTOR_KNN) {
		score_knn(det, n, scores);
		return;
	}

	/* y = c * W^T: row i of y is W applied to centred row i. */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)d, (int)d, 1.0f, c,
		    (int)d, det->w, (int)d, 0.0f, y, (int)d);
	for (size_t i = 0; i < n; i++) {
		float s = 0;

		for (size_t j = 0; j < d; j++)
			s += y[i * d + j] * y[i * d + j];
		scores[i] = s / det->denom;
	}
}

static unsigned row_channel(const struct lg_detector *det, const unsigned *idx,
			    const uint8_t *chan, size_t i)
{
	unsigned c = chan ? chan[i] : idx ? 0 : (unsigned)(i % det->nch);

	return c < det->nch ? c : det->nch - 1;
}

/* A detector per channel: the rows of each channel (chan[i] of row idx[i], idx NULL: row i,
 * chan NULL: channel i % nch) scored by its own, brought to det's threshold. */
static void score_idx_ld(struct lg_detector *det, const float *x, size_t ld, const unsigned *idx,
			 size_t n, float *scores);

static void score_channels(struct lg_detector *det, const float *x, size_t ld,
			   const unsigned *idx, const uint8_t *chan, size_t n, float *scores)
{
	for (unsigned c = 0; c < det->nch; c++) {
		struct lg_detector *s = &det->ch[c];
		size_t m = 0;
		float f = det->threshold / s->threshold;

		for (size_t i = 0; i < n; i++)
			if (row_channel(det, idx, chan, i) == c)
				det->cidx[m++] = idx ? idx[i] : (unsigned)i;
		if (!m)
			continue;
		score_idx_ld(s, x, ld, det->cidx, m, det->cpart);
		for (size_t i = 0, k = 0; i < n; i++)
			if (row_channel(det, idx, chan, i) == c)
				scores[i] = det->cpart[k++] * f;
	}
}

void lg_detector_score(struct lg_detector *det, const float *x, size_t n, float *scores)
{
	size_t d = det->d;

	if (det->nch) {
		score_channels(det, x, det->d, NULL, NULL, n, scores);
		return;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < d; j++)
			det->work[i * d + j] = x[i * d + j] - det->mean[j];
	score_centred(det, n, scores);
}

/* Rows idx[i] of x, ld floats apart (ld >= d), centred into det->work and scored. */
static void score_idx_ld(struct lg_detector *det, const float *x, size_t ld, const unsigned *idx,
			 size_t n, float *scores)
{
	size_t d = det->d;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < d; j++)
			det->work[i * d + j] = x[(size_t)idx[i] * ld + j] - det->mean[j];
	score_centred(det, n, scores);
}

void lg_detector_score_idx(struct lg_detector *det, const float *x, const unsigned *idx, size_t n,
			   float *scores)
{
	if (det->nch)
		score_channels(det, x, det->d, idx, NULL, n, scores);
	else
		score_idx_ld(det, x, det->d, idx, n, scores);
}

void lg_detector_score_idx_ch(struct lg_detector *det, const float *x, const unsigned *idx,
			      const uint8_t *chan, size_t n, float *scores)
{
	lg_detector_score_rows(det, x, det->d, idx, chan, n, scores);
}

void lg_detector_score_rows(struct lg_detector *det, const float *x, size_t ld,
			    const unsigned *idx, const uint8_t *chan, size_t n, float *scores)
{
	if (det->nch)
		score_channels(det, x, ld, idx, chan, n, scores);
	else
		score_idx_ld(det, x, ld, idx, n, scores);
}

/* ---- sufficient statistics ---- */

int lg_stats_init(struct lg_stats *st, size_t d, const double *shift, double clip,
		  const struct lg_bands *bands)
{
	memset(st, 0, sizeof(*st));
	if (!d || clip < 0 || (bands && lg_bands_check(bands)))
		return -EINVAL;
	st->d = d;
	st->clip = clip;
	st->shift = calloc(d, sizeof(double));
	st->scale = calloc(d, sizeof(double));
	st->sum = calloc(d, sizeof(double));
	st->sxx = calloc(d * d, sizeof(double));
	if (!st->shift || !st->scale || !st->sum || !st->sxx) {
		lg_stats_free(st);
		return -ENOMEM;
	}
	for (size_t j = 0; j < d; j++)
		st->scale[j] = 1;
	if (shift)
		memcpy(st->shift, shift, d * sizeof(double));
	if (bands)
		st->bands = *bands;
	else
		lg_bands_default(&st->bands);
	return 0;
}

void lg_stats_free(struct lg_stats *st)
{
	if (!st)
		return;
	free(st->shift);
	free(st->scale);
	free(st->sum);
	free(st->sxx);
	st->shift = st->scale = st->sum = st->sxx = NULL;
}

int lg_stats_set_meta(struct lg_stats *st, double sample_rate, unsigned window,
		      enum lg_feat_layout layout)
{
	if (!(sample_rate >= 1) || sample_rate > 1e7 || !window ||
	    lg_features_width(layout, window) != st->d)
		return -EINVAL;
	st->sample_rate = sample_rate;
	st->window = window;
	st->layout = layout;
	return 0;
}

const char *lg_stats_differ(const struct lg_stats *a, const struct lg_stats *b)
{
	if (a->sample_rate != b->sample_rate)
		return "sample rate";
	if (a->window != b->window)
		return "window";
	if (a->layout != b->layout)
		return "feature layout";
	if (a->d != b->d)
		return "features";
	if (!lg_bands_equal(&a->bands, &b->bands))
		return "band layout";
	if (a->clip != b->clip)
		return "clip";
	if (memcmp(a->shift, b->shift, a->d * sizeof(double)))
		return "shift";
	if (memcmp(a->scale, b->scale, a->d * sizeof(double)))
		return "scale";
	return NULL;
}

int lg_stats_set_scale(struct lg_stats *st, const double *scale)
{
	for (size_t j = 0; j < st->d; j++)
		if (!(scale[j] > 0) || !isfinite(scale[j]))
			return -EINVAL;
	if (st->n > 0)
		return -EBUSY;
	memcpy(st->scale, scale, st->d * sizeof(double));
	return 0;
}

void lg_stats_add(struct lg_stats *st, const float *rows, size_t n)
{
	size_t d = st->d;
	double y[256], *yp = d <= 256 ? y : malloc(d * sizeof(double));

	if (!yp)
		return;
	for (size_t i = 0; i < n; i++) {
		double norm = 0, s = 1;

		for (size_t j = 0; j < d; j++) {
			yp[j] = (rows[i * d + j] - st->shift[j]) / st->scale[j];
			norm += yp[j] * yp[j];
		}
		if (st->clip > 0 && norm > st->clip * st->clip) {
			s = st->clip / sqrt(norm);
			st->nclipped += 1;
		}
		st->nadded += 1;
		for (size_t j = 0; j < d; j++)
			yp[j] *= s;
		st->n += 1;
		for (size_t j = 0; j < d; j++) {
			st->sum[j] += yp[j];
			for (size_t k = j; k < d; k++)
				st->sxx[j * d + k] += yp[j] * yp[k];
		}
	}
	for (size_t j = 0; j < d; j++)
		for (size_t k = 0; k < j; k++)
			st->sxx[j * d + k] = st->sxx[k * d + j];
	if (yp != y)
		free(yp);
}

int lg_stats_merge(struct lg_stats *dst, const struct lg_stats *src)
{
	size_t d = dst->d;

	if (lg_stats_differ(dst, src))
		return -EINVAL;
	dst->n += src->n;
	for (size_t j = 0; j < d; j++)
		dst->sum[j] += src->sum[j];
	for (size_t j = 0; j < d * d; j++)
		dst->sxx[j] += src->sxx[j];
	/* Independent noise adds in variance. */
	dst->dp_sigma = sqrt(dst->dp_sigma * dst->dp_sigma + src->dp_sigma * src->dp_sigma);
	if (src->dp_sigma > 0 && !(dst->dp_epsilon > 0)) {
		dst->dp_epsilon = src->dp_epsilon;
		dst->dp_delta = src->dp_delta;
	}
	return 0;
}

double lg_dp_sigma(double epsilon, double delta, double clip)
{
	double c2 = clip * clip;

	return sqrt(1 + c2 + c2 * c2) * sqrt(2 * log(1.25 / delta)) / epsilon;
}

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double gauss(uint64_t *x)
{
	double u1 = ((splitmix(x) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
	double u2 = ((splitmix(x) >> 11) + 0.5) * (1.0 / 9007199254740992.0);

	return sqrt(-2.0 * log(u1)) * cos(2 * M_PI * u2);
}

int lg_stats_add_noise(struct lg_stats *st, double epsilon, double delta, uint64_t seed)
{
	size_t d = st->d;
	double sigma;

	if (!(st->clip > 0) || !(epsilon > 0) || !(epsilon < 1) || !(delta > 0) || !(delta < 1))
		return -EINVAL;
	if (!seed && getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		return -errno;
	sigma = lg_dp_sigma(epsilon, delta, st->clip);
	st->n += sigma * gauss(&seed);
	for (size_t j = 0; j < d; j++)
		st->sum[j] += sigma * gauss(&seed);
	for (size_t j = 0; j < d; j++)
		for (size_t k = j; k < d; k++) {
			st->sxx[j * d + k] += sigma * gauss(&seed);
			st->sxx[k * d + j] = st->sxx[j * d + k];
		}
	st->dp_sigma = sqrt(st->dp_sigma * st->dp_sigma + sigma * sigma);
	st->dp_epsilon = epsilon;
	st->dp_delta = delta;
	return 0;
}

int lg_stats_moments(const struct lg_stats *st, double *mean, double *cov)
{
	size_t d = st->d;
	double n = st->n;

	if (!(n > 1))
		return -EINVAL;
	for (size_t j = 0; j < d; j++)
		mean[j] = st->shift[j] + st->scale[j] * st->sum[j] / n;
	/* Rows were shifted by a reference near their mean, so the difference below keeps
	 * its digits; the shift itself does not change the covariance, the scale does. */
	for (size_t j = 0; j < d; j++)
		for (size_t k = 0; k < d; k++)
			cov[j * d + k] = st->scale[j] * st->scale[k] *
					 (st->sxx[j * d + k] - st->sum[j] * st->sum[k] / n) / (n - 1);
	return 0;
}

/* ---- fitting ---- */

static int fit_mahalanobis(struct lg_detector *det, double *cov, double *eig)
{
	size_t d = det->d;

	/* cov = U diag(eig) U^T; row-major LAPACKE returns eigenvectors in columns. */
	if (LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)d, cov, (lapack_int)d, eig))
		return -EDOM;
	size_t rank = 0;

	for (size_t k = 0; k < d; k++) {
		double e = fmax(eig[k], eig[d - 1] * EIG_FLOOR + 1e-30), s = 1.0 / sqrt(e);

		rank += eig[k] > eig[d - 1] * EIG_FLOOR;
		for (size_t j = 0; j < d; j++)
			det->w[k * d + j] = (float)(cov[j * d + k] * s);
	}
	/* Directions that never varied (order features of a short window, say) score 0 on
	 * healthy rows: divide by the directions that did, so that healthy rows average 1. */
	det->denom = (float)(rank ? rank : d);
	return 0;
}

static int fit_pca(struct lg_detector *det, double *cov, double *eig, size_t k)
{
	size_t d = det->d;
	double *sd = calloc(d, sizeof(double)), maxsd = 0, total = 0, acc = 0;
	int ret = -ENOMEM;

	if (!sd)
		return ret;
	for (size_t j = 0; j < d; j++) {
		sd[j] = sqrt(fmax(cov[j * d + j], 0));
		maxsd = fmax(maxsd, sd[j]);
	}
	/* A feature that never varied would divide by zero: floor its spread as the
	 * Mahalanobis fit floors eigenvalues. */
	for (size_t j = 0; j < d; j++)
		sd[j] = fmax(sd[j], maxsd * sqrt(EIG_FLOOR) + 1e-30);
	for (size_t j = 0; j < d; j++)
		for (size_t i = 0; i < d; i++)
			cov[j * d + i] /= sd[j] * sd[i];
	ret = -EDOM;
	if (LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)d, cov, (lapack_int)d, eig))
		goto out;
	/* Eigenvalues ascend: the components kept are the last k columns. */
	for (size_t j = 0; j < d; j++)
		total += fmax(eig[j], 0);
	if (!k) {
		while (k < d - 1 && acc < PCA_VARIANCE * total)
			acc += fmax(eig[d - 1 - k++], 0);
		if (!k)
			k = 1;
	}
	ret = -EINVAL;
	if (k >= d)
		goto out;
	/* W = (I - V_k V_k^T) diag(sd)^-1 */
	for (size_t i = 0; i < d; i++)
		for (size_t j = 0; j < d; j++) {
			double p = i == j;

			for (size_t c = d - k; c < d; c++)
				p -= cov[i * d + c] * cov[j * d + c];
			det->w[i * d + j] = (float)(p / sd[j]);
		}
	det->k = k;
	det->denom = (float)(d - k);
	ret = 0;
out:
	free(sd);
	return ret;
}

int lg_detector_from_stats(const struct lg_stats *st, enum lg_detector_kind kind, size_t k,
			   size_t max_batch, struct lg_detector *det)
{
	size_t d = st->d;
	double *mean, *cov, *eig;
	int ret;

	memset(det, 0, sizeof(*det));
	if (kind != LG_DETECTOR_MAHALANOBIS && kind != LG_DETECTOR_PCA)
		return -EINVAL;
	if (kind == LG_DETECTOR_PCA && d < 2)
		return -EINVAL;
	det->bands = st->bands;
	ret = alloc_det(det, d, max_batch);
	if (ret)
		return ret;
	ret = -ENOMEM;
	mean = calloc(d, sizeof(*mean));
	cov = calloc(d * d, sizeof(*cov));
	eig = calloc(d, sizeof(*eig));
	if (!mean || !cov || !eig)
		goto out;
	ret = lg_stats_moments(st, mean, cov);
	if (ret)
		goto out;
	det->kind = kind;
	ret = kind == LG_DETECTOR_PCA ? fit_pca(det, cov, eig, k) : fit_mahalanobis(det, cov, eig);
	if (ret)
		goto out;
	for (size_t j = 0; j < d; j++)
		det->mean[j] = (float)mean[j];
	snprintf(det->name, sizeof(det->name), "%s", lg_detector_kind_name(kind));
	det->version = 1;
out:
	free(mean);
	free(cov);
	free(eig);
	if (ret)
		lg_detector_free(det);
	return ret;
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return x < y ? -1 : x > y;
}

int lg_detector_calibrate(struct lg_detector *det, const float *rows, size_t n, double q,
			  double margin)
{
	float *scores;

	if (!n || !(q > 0) || q > 1 || !(margin > 0))
		return -EINVAL;
	scores = malloc(n * sizeof(*scores));
	if (!scores)
		return -ENOMEM;
	for (size_t i = 0; i < n; i += det->max_batch) {
		size_t m = n - i < det->max_batch ? n - i : det->max_batch;

		lg_detector_score(det, rows + i * det->d, m, scores + i);
	}
	qsort(scores, n, sizeof(*scores), cmp_float);
	det->threshold = (float)(scores[(size_t)((double)(n - 1) * q)] * margin);
	free(scores);
	return det->threshold > 0 ? 0 : -EDOM;
}

int lg_detector_fit(const float *rows, size_t n, size_t d, double q, double margin,
		    size_t max_batch, struct lg_detector *det)
{
	struct lg_stats st;
	int ret;

	if (n < 2 || !d || q <= 0 || q > 1)
		return -EINVAL;
	ret = lg_stats_init(&st, d, NULL, 0, NULL);
	if (ret)
		return ret;
	lg_stats_add(&st, rows, n);
	ret = lg_detector_from_stats(&st, LG_DETECTOR_MAHALANOBIS, 0, max_batch, det);
	lg_stats_free(&st);
	if (ret)
		return ret;
	ret = lg_detector_calibrate(det, rows, n, q, margin);
	if (ret)
		lg_detector_free(det);
	return ret;
}

/* ---- files ---- */

static json_object *float_array(const float *v, size_t n)
{
	json_object *a = json_object_new_array_ext((int)n);

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_double(v[i]));
	return a;
}

static json_object *double_array(const double *v, size_t n)
{
	json_object *a = json_object_new_array_ext((int)n);

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_double(v[i]));
	return a;
}

static json_object *bands_object(const struct lg_bands *b)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "edges", double_array(b->edge, LG_FEAT_BANDS + 1));
	json_object_object_add(o, "floor", json_object_new_double(b->floor));
	json_object_object_add(o, "taper", json_object_new_string(b->taper == LG_TAPER_HANN ?
								 "hann" : "rect"));
	json_object_object_add(o, "orders", double_array((const double[]){ b->order_lo,
								    b->order_hi }, 2));
	return o;
}

static int read_array(json_object *a, double *out, size_t n)
{
	if (!a || !json_object_is_type(a, json_type_array) || json_object_array_length(a) != n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(a, i);

		if (!json_object_is_type(v, json_type_double) &&
		    !json_object_is_type(v, json_type_int))
			return -EINVAL;
		out[i] = json_object_get_double(v);
		if (!isfinite(out[i]))
			return -EINVAL;
	}
	return 0;
}

static int read_doubles(json_object *o, const char *key, double *out, size_t n)
{
	json_object *a;

	if (!json_object_object_get_ex(o, key, &a))
		return -EINVAL;
	return read_array(a, out, n);
}

static int read_floats(json_object *o, const char *key, float *out, size_t n)
{
	double *tmp = malloc((n ? n : 1) * sizeof(double));
	int ret = -ENOMEM;

	if (!tmp)
		return ret;
	ret = read_doubles(o, key, tmp, n);
	for (size_t i = 0; !ret && i < n; i++) {
		out[i] = (float)tmp[i];
		if (!isfinite(out[i]))
			ret = -EINVAL;
	}
	free(tmp);
	return ret;
}

static int read_bands(json_object *o, struct lg_bands *b)
{
	json_object *bo, *v;

	if (!json_object_object_get_ex(o, "bands", &bo) ||
	    read_doubles(bo, "edges", b->edge, LG_FEAT_BANDS + 1) ||
	    !json_object_object_get_ex(bo, "floor", &v))
		return -EINVAL;
	b->floor = json_object_get_double(v);
	if (!json_object_object_get_ex(bo, "taper", &v))
		return -EINVAL;
	if (!strcmp(json_object_get_string(v), "hann"))
		b->taper = LG_TAPER_HANN;
	else if (!strcmp(json_object_get_string(v), "rect"))
		b->taper = LG_TAPER_RECT;
	else
		return -EINVAL;
	{
		double ord[2];

		if (read_doubles(bo, "orders", ord, 2))
			return -EINVAL;
		b->order_lo = ord[0];
		b->order_hi = ord[1];
	}
	return lg_bands_check(b);
}

static int write_json(json_object *o, const char *path)
{
	char why[PATH_MAX + 300];
	int fd = lg_outpath_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644, why, sizeof(why));
	int ret = fd < 0 ? fd : json_object_to_fd(fd, o, JSON_C_TO_STRING_PRETTY) ? -EIO : 0;

	if (fd >= 0 && close(fd) && !ret)
		ret = -errno;
	json_object_put(o);
	return ret;
}

/* What a model file says about the data it was trained on, at its top level. */
static void meta_add(json_object *o, enum lg_feat_layout layout, unsigned window, double rate,
		     const char *digest, const char *signer)
{
	size_t d = lg_features_width(layout, window);
	json_object *names;
	char nm[32];

	if (window)
		json_object_object_add(o, "window", json_object_new_int64(window));
	if (rate > 0)
		json_object_object_add(o, "sample_rate", json_object_new_double(rate));
	/* The basic layout's names are the same at every window; the wide one's need it. */
	if (layout != LG_LAYOUT_BASIC)
		json_object_object_add(o, "layout",
				       json_object_new_string(lg_feat_layout_name(layout)));
	if (layout == LG_LAYOUT_BASIC || d) {
		names = json_object_new_array_ext((int)d);
		for (size_t j = 0; j < d; j++) {
			lg_features_name(layout, window, j, nm, sizeof(nm));
			json_object_array_add(names, json_object_new_string(nm));
		}
		json_object_object_add(o, "feature_layout", names);
	}
	if (digest && *digest)
		json_object_object_add(o, "data_digest", json_object_new_string(digest));
	if (signer && *signer)
		json_object_object_add(o, "signer", json_object_new_string(signer));
}

/* "reference": {"edges": [[9] x d], "fractions": [[10] x d]} and, where measured,
 * "psi_floor": [d], "psi_block": windows (a linegate before 2026-12-06 ignores both) */
static json_object *reference_object(const struct lg_detector *det)
{
	json_object *o = json_object_new_object(), *e = json_object_new_array_ext((int)det->d),
		    *f = json_object_new_array_ext((int)det->d);

	for (size_t j = 0; j < det->d; j++) {
		json_object_array_add(e, double_array(det->ref_edge[j], LG_REF_BINS - 1));
		json_object_array_add(f, double_array(det->ref_frac[j], LG_REF_BINS));
	}
	json_object_object_add(o, "edges", e);
	json_object_object_add(o, "fractions", f);
	if (det->ref_floor && det->ref_block) {
		json_object_object_add(o, "psi_floor", double_array(det->ref_floor, det->d));
		json_object_object_add(o, "psi_block", json_object_new_uint64(det->ref_block));
	}
	return o;
}

/* The reference's arrays for det->d features (kept if already there). */
static int ref_alloc(struct lg_detector *det)
{
	if (!det->ref_edge)
		det->ref_edge = calloc(det->d, sizeof(*det->ref_edge));
	if (!det->ref_frac)
		det->ref_frac = calloc(det->d, sizeof(*det->ref_frac));
	return det->ref_edge && det->ref_frac ? 0 : -ENOMEM;
}

/* Optional: absent leaves has_ref 0; NULL, or what is wrong. */
static const char *read_reference(json_object *o, struct lg_detector *det)
{
	static const char bad[] = "'reference' must have 'edges' (one array of 9 rising numbers "
				  "per feature) and 'fractions' (one array of 10 numbers from 0 "
				  "to 1 summing to 1 per feature)";
	json_object *r, *e, *f;

	if (!json_object_object_get_ex(o, "reference", &r))
		return NULL;
	if (!det->d || !json_object_object_get_ex(r, "edges", &e) ||
	    !json_object_object_get_ex(r, "fractions", &f) ||
	    !json_object_is_type(e, json_type_array) || !json_object_is_type(f, json_type_array) ||
	    json_object_array_length(e) != det->d || json_object_array_length(f) != det->d)
		return bad;
	if (ref_alloc(det))
		return "out of memory";
	for (size_t j = 0; j < det->d; j++) {
		json_object *ej = json_object_array_get_idx(e, j);
		json_object *fj = json_object_array_get_idx(f, j);
		double sum = 0;

		if (read_array(ej, det->ref_edge[j], LG_REF_BINS - 1) ||
		    read_array(fj, det->ref_frac[j], LG_REF_BINS))
			return bad;
		for (int b = 0; b < LG_REF_BINS; b++) {
			if (!(det->ref_frac[j][b] >= 0 && det->ref_frac[j][b] <= 1 + 1e-9))
				return bad;
			sum += det->ref_frac[j][b];
			if (b && b < LG_REF_BINS - 1 &&
			    det->ref_edge[j][b] < det->ref_edge[j][b - 1])
				return bad;
		}
		if (fabs(sum - 1) > 1e-3)
			return bad;
	}
	if (json_object_object_get_ex(r, "psi_floor", &e)) {
		static const char badf[] = "'reference' 'psi_floor' must be one number >= 0 per "
					   "feature, with 'psi_block' (windows, 1 or more)";
		int64_t blk;

		if (!json_object_object_get_ex(r, "psi_block", &f) ||
		    !json_object_is_type(f, json_type_int) ||
		    (blk = json_object_get_int64(f)) < 1 || blk > UINT32_MAX)
			return badf;
		free(det->ref_floor);
		det->ref_floor = calloc(det->d, sizeof(double));
		if (!det->ref_floor)
			return "out of memory";
		if (read_array(e, det->ref_floor, det->d))
			return badf;
		for (size_t j = 0; j < det->d; j++)
			if (!(det->ref_floor[j] >= 0) || !isfinite(det->ref_floor[j]))
				return badf;
		det->ref_block = (uint32_t)blk;
	}
	det->has_ref = 1;
	return NULL;
}

unsigned lg_detector_ref_bin(const struct lg_detector *det, unsigned j, float v)
{
	unsigned b = 0;

	while (b < LG_REF_BINS - 1 && v > det->ref_edge[j][b])
		b++;
	return b;
}

double lg_detector_psi(const double *p, const double *q)
{
	double s = 0;

	for (unsigned b = 0; b < LG_REF_BINS; b++) {
		double pb = p[b] > 1e-4 ? p[b] : 1e-4;
		double qb = q[b] > 1e-4 ? q[b] : 1e-4;

		s += (pb - qb) * log(pb / qb);
	}
	return s;
}

int lg_detector_add_psi_floor(struct lg_detector *det, const float *rows, size_t n,
			      unsigned ch, uint32_t block)
{
	size_t d = det->d, per = (size_t)block * (ch ? ch : 1);

	if (!det->has_ref || !d || !block)
		return -EINVAL;
	if (n < per)
		return 0;
	if (!det->ref_floor) {
		det->ref_floor = calloc(d, sizeof(double));
		if (!det->ref_floor)
			return -ENOMEM;
	}
	for (size_t at = 0; at + per <= n; at += per) {
		for (size_t j = 0; j < d; j++) {
			double p[LG_REF_BINS] = { 0 }, v;
			size_t used = 0;

			for (size_t i = at; i < at + per; i++) {
				float x = rows[i * d + j];

				/* a NaN or Inf is no shift (the data plane leaves its row out) */
				if (!isfinite(x))
					continue;
				p[lg_detector_ref_bin(det, (unsigned)j, x)] += 1;
				used++;
			}
			if (!used)
				continue;
			for (unsigned b = 0; b < LG_REF_BINS; b++)
				p[b] /= (double)used;
			v = lg_detector_psi(p, det->ref_frac[j]);
			if (v > det->ref_floor[j])
				det->ref_floor[j] = v;
		}
	}
	det->ref_block = block;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int lg_detector_set_reference(struct lg_detector *det, const float *rows, size_t n)
{
	size_t d = det->d;
	double *col;

	if (!d || n < LG_REF_BINS)
		return -EINVAL;
	if (ref_alloc(det))
		return -ENOMEM;
	/* a floor belongs to the reference it was measured against */
	free(det->ref_floor);
	det->ref_floor = NULL;
	det->ref_block = 0;
	col = malloc(sizeof(double) * n);
	if (!col)
		return -ENOMEM;
	for (size_t j = 0; j < d; j++) {
		for (size_t i = 0; i < n; i++)
			col[i] = rows[i * d + j];
		qsort(col, n, sizeof(*col), cmp_double);
		/* decile b: the value at rank ceil(b n / 10) (1-based), a training row's own */
		for (unsigned b = 1; b < LG_REF_BINS; b++)
			det->ref_edge[j][b - 1] = col[(b * n + LG_REF_BINS - 1) / LG_REF_BINS - 1];
		size_t cnt[LG_REF_BINS] = { 0 };

		for (size_t i = 0; i < n; i++)
			cnt[lg_detector_ref_bin(det, (unsigned)j, (float)col[i])]++;
		for (unsigned b = 0; b < LG_REF_BINS; b++)
			det->ref_frac[j][b] = (double)cnt[b] / (double)n;
	}
	free(col);
	det->has_ref = 1;
	return 0;
}

static json_object *detector_object(const struct lg_detector *det)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "format", json_object_new_string("linegate-detector"));
	json_object_object_add(o, "detector",
			       json_object_new_string(lg_detector_kind_name(det->kind)));
	json_object_object_add(o, "name", json_object_new_string(det->name));
	json_object_object_add(o, "version", json_object_new_int((int)det->version));
	json_object_object_add(o, "features", json_object_new_int((int)det->d));
	if (det->kind == LG_DETECTOR_PCA)
		json_object_object_add(o, "components", json_object_new_int((int)det->k));
	json_object_object_add(o, "denominator", json_object_new_double(det->denom));
	json_object_object_add(o, "threshold", json_object_new_double(det->threshold));
	meta_add(o, det->layout, det->window, det->sample_rate, det->digest, det->signer);
	if (det->channels)
		json_object_object_add(o, "channels", json_object_new_int64(det->channels));
	if (det->dropout_run)
		json_object_object_add(o, "dropout_run", json_object_new_int64(det->dropout_run));
	if (det->normal_level > 0)
		json_object_object_add(o, "normal_level",
				       json_object_new_double(det->normal_level));
	if (det->imp.ref_hz > 0) {
		json_object *r = json_object_new_object(), *b = json_object_new_array();

		json_object_object_add(r, "ref_speed_hz", json_object_new_double(det->imp.ref_hz));
		json_object_object_add(r, "gear_teeth", json_object_new_int64(det->imp.plate.z));
		json_object_object_add(r, "bpfo", json_object_new_double(det->imp.plate.bpfo));
		json_object_object_add(r, "bpfi", json_object_new_double(det->imp.plate.bpfi));
		for (unsigned c = 0; c < det->imp.nch; c++)
			json_object_array_add(b, double_array(det->imp.band[c], 2));
		json_object_object_add(r, "bands_hz", b);
		/* -imp10: floor_lines' own (none for -imp9: its files as before) */
		if (det->imp.floor_ref_hz > 0) {
			json_object *fb = json_object_new_array();

			json_object_object_add(r, "floor_ref_speed_hz",
					       json_object_new_double(det->imp.floor_ref_hz));
			for (unsigned c = 0; c < det->imp.nch; c++)
				json_object_array_add(fb, double_array(det->imp.floor_band[c], 2));
			json_object_object_add(r, "floor_bands_hz", fb);
		}
		json_object_object_add(o, "impact", r);
	}
	if (det->refit.has_g || det->refit.nsp) {
		json_object *r = json_object_new_object();

		if (det->refit.has_g)
			json_object_object_add(r, "pooled_g", json_object_new_double(det->refit.g));
		if (det->refit.nsp)
			json_object_object_add(r, "setpoints_hz",
					       double_array(det->refit.sp, det->refit.nsp));
		json_object_object_add(o, "retrain", r);
	}
	if (det->oref.lines) {
		json_object *r = json_object_new_object();

		json_object_object_add(r, "start", json_object_new_double(det->oref.start));
		json_object_object_add(r, "step", json_object_new_double(det->oref.step));
		json_object_object_add(r, "bins", double_array((const double[]){ det->oref.lo_bin,
									  det->oref.hi_bin }, 2));
		json_object_object_add(r, "lines", float_array(det->oref.lines, det->oref.m));
		json_object_object_add(o, "order_ref", r);
	}
	if (det->layout == LG_LAYOUT_BASIC)
		json_object_object_add(o, "bands", bands_object(&det->bands));
	json_object_object_add(o, "mean", float_array(det->mean, det->d));
	if (det->kind == LG_DETECTOR_KNN) {
		json_object_object_add(o, "sd", float_array(det->sd, det->d));
		json_object_object_add(o, "feature_weights", float_array(det->fweight, det->d));
		json_object_object_add(o, "neighbours", json_object_new_int64((int64_t)det->m));
		json_object_object_add(o, "train", float_array(det->train, det->m * det->d));
		if (det->nch) {
			json_object *a = json_object_new_array();

			for (unsigned c = 0; c < det->nch; c++)
				json_object_array_add(a, detector_object(&det->ch[c]));
			json_object_object_add(o, "per_channel", a);
		}
	} else {
		json_object_object_add(o, "weights", float_array(det->w, det->d * det->d));
	}
	if (det->has_ref)
		json_object_object_add(o, "reference", reference_object(det));
	return o;
}

int lg_detector_save(const struct lg_detector *det, const char *path)
{
	return write_json(detector_object(det), path);
}

static int load_json(json_object *o, const char *path, size_t max_batch,
		     struct lg_detector *det, char *err, size_t errlen);

int lg_detector_load(const char *path, size_t max_batch, struct lg_detector *det, char *err,
		     size_t errlen)
{
	json_object *o = json_object_from_file(path);

	memset(det, 0, sizeof(*det));
	if (!o) {
		snprintf(err, errlen, "%s: not readable JSON (%s)", path, json_util_get_last_err());
		return -EINVAL;
	}
	return load_json(o, path, max_batch, det, err, errlen);
}

int lg_detector_load_mem(const void *buf, size_t len, const char *name, size_t max_batch,
			 struct lg_detector *det, char *err, size_t errlen)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *o = tok ? json_tokener_parse_ex(tok, buf, (int)len) : NULL;

	memset(det, 0, sizeof(*det));
	if (!o || json_tokener_get_parse_end(tok) != len) {
		snprintf(err, errlen, "%s: not a JSON model", name);
		json_object_put(o);
		json_tokener_free(tok);
		return -EINVAL;
	}
	json_tokener_free(tok);
	return load_json(o, name, max_batch, det, err, errlen);
}

static int hex64(const char *s)
{
	if (strlen(s) != 64)
		return 0;
	for (int i = 0; i < 64; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

/* "layout", optional: absent is the basic layout (every file before it). */
static const char *read_layout(json_object *o, enum lg_feat_layout *layout)
{
	json_object *v;

	*layout = LG_LAYOUT_BASIC;
	if (json_object_object_get_ex(o, "layout", &v) &&
	    (!json_object_is_type(v, json_type_string) ||
	     lg_feat_layout_parse(json_object_get_string(v), layout)))
		return "'layout' must be \"basic18\", \"bands96-time5\", \"orders96-time5\", "
		       "\"orders96-time5-imp9\", \"orders96-time5-imp10\" or "
		       "\"orders96-time5-imp11\"";
	return NULL;
}

/* sample_rate, feature_layout (the names of the layout's features at the window, when the
 * window is known), data_digest and signer, all optional: NULL, or what is wrong. */
static const char *read_meta(json_object *o, enum lg_feat_layout layout, unsigned window,
			     double *rate, char digest[65], char signer[65])
{
	size_t d = lg_features_width(layout, window);
	json_object *v;

	if (json_object_object_get_ex(o, "sample_rate", &v)) {
		*rate = json_object_get_double(v);
		if (!(*rate >= 1) || *rate > 1e7)
			return "'sample_rate' must be a number of samples per second (1..1e7)";
	}
	if (json_object_object_get_ex(o, "feature_layout", &v) &&
	    (layout == LG_LAYOUT_BASIC || window)) {
		if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) != d)
			return "'feature_layout' names other features than this linegate computes "
			       "(a model for another version: train it again)";
		for (size_t j = 0; j < d; j++) {
			const char *nm = json_object_get_string(json_object_array_get_idx(v, j));
			char want[32];

			lg_features_name(layout, window, j, want, sizeof(want));
			if (!nm || strcmp(nm, want))
				return "'feature_layout' names other features than this linegate "
				       "computes, or in another order (a model for another "
				       "version: train it again)";
		}
	}
	if (json_object_object_get_ex(o, "data_digest", &v)) {
		if (!hex64(json_object_get_string(v)))
			return "'data_digest' must be 64 hex digits (SHA-256)";
		snprintf(digest, 65, "%s", json_object_get_string(v));
	}
	if (json_object_object_get_ex(o, "signer", &v)) {
		if (!hex64(json_object_get_string(v)))
			return "'signer' must be 64 hex digits (an Ed25519 public key)";
		snprintf(signer, 65, "%s", json_object_get_string(v));
	}
	return NULL;
}

static const char oom[] = "out of memory";
static const char imp_needed[] = "the orders96-time5-imp9 layout needs the detector's 'impact' "
				 "(its reference speed, gear teeth, bearing orders and resonance "
				 "bands)";
static const char floor_needed[] = "the orders96-time5-imp10 layout needs the detector's "
				   "'impact' with 'floor_ref_speed_hz' and 'floor_bands_hz' "
				   "(floor_lines' reference speed and resonance bands, from "
				   "linegate-train --layout orders96-time5-imp10)";
static const char floor11_needed[] = "the orders96-time5-imp11 layout needs the detector's "
				     "'impact' with 'floor_ref_speed_hz' and 'floor_bands_hz' "
				     "(floor_lines' reference speed and resonance bands, from "
				     "linegate-train --layout orders96-time5-imp11)";

/* What a detector of an impact layout lacks (NULL: nothing, or another layout). */
static const char *imp_lacks(const struct lg_detector *det)
{
	const char *fl =
	    det->layout == LG_LAYOUT_ORDERS96_TIME5_IMP11 ? floor11_needed : floor_needed;

	if (lg_layout_imp_n(det->layout) && !(det->imp.ref_hz > 0))
		return lg_layout_imp_n(det->layout) > LG_IMP_N ? fl : imp_needed;
	if (lg_layout_imp_n(det->layout) > LG_IMP_N && !(det->imp.floor_ref_hz > 0))
		return fl;
	return NULL;
}

/* o's key as a number within lo .. hi (0: absent, not a number or out of range). */
static int num_in(json_object *o, const char *key, double lo, double hi, double *v)
{
	json_object *x;

	if (!json_object_object_get_ex(o, key, &x) ||
	    !(json_object_is_type(x, json_type_double) || json_object_is_type(x, json_type_int)))
		return 0;
	*v = json_object_get_double(x);
	return *v >= lo && *v <= hi;
}

/* One [lo, hi] of a bands array (0 < lo < hi, finite). */
static int read_band(json_object *e, double band[2])
{
	if (!json_object_is_type(e, json_type_array) || json_object_array_length(e) != 2)
		return -EINVAL;
	band[0] = json_object_get_double(json_object_array_get_idx(e, 0));
	band[1] = json_object_get_double(json_object_array_get_idx(e, 1));
	return band[0] > 0 && band[1] > band[0] && isfinite(band[1]) ? 0 : -EINVAL;
}

/* "impact" (issue 8 step 6e.2): {ref_speed_hz, gear_teeth, bpfo, bpfi, bands_hz: [[lo, hi]
 * per channel]}; bpfo and bpfi 0 without a declared bearing. Each wrong field is named; a
 * key the trainer does not write, or the block on another layout than orders96-time5-imp9,
 * -imp10 or -imp11 (whose rows alone have the impact features), is refused rather than
 * ignored. -imp10 and -imp11 (step 6e.3) add floor_ref_speed_hz and floor_bands_hz (as many
 * as bands_hz), both or neither, and on those layouts only (tsa3 needs nothing more). */
static const char *read_impact(json_object *o, struct lg_detector *det)
{
	static const char *const keys[] = { "ref_speed_hz", "gear_teeth",	  "bpfo",
					    "bpfi",	    "bands_hz",		  "floor_ref_speed_hz",
					    "floor_bands_hz" };
	json_object *r, *b, *fb = NULL;
	double z;
	size_t n;
	int has_fr, has_fb;

	memset(&det->imp, 0, sizeof(det->imp));
	if (!json_object_object_get_ex(o, "impact", &r))
		return NULL;
	if (!lg_layout_imp_n(det->layout))
		return "'impact' belongs to the orders96-time5-imp9, -imp10 and -imp11 layouts "
		       "only";
	if (!json_object_is_type(r, json_type_object))
		return "'impact' must be {\"ref_speed_hz\": Hz, \"gear_teeth\": 0 or 2..10000, "
		       "\"bpfo\": orders, \"bpfi\": orders, \"bands_hz\": [[lo, hi] per channel]}";
	json_object_object_foreach(r, key, val) {
		size_t k = 0;

		(void)val;
		while (k < sizeof(keys) / sizeof(keys[0]) && strcmp(key, keys[k]))
			k++;
		if (k == sizeof(keys) / sizeof(keys[0]))
			return "'impact' has a field other than 'ref_speed_hz', 'gear_teeth', "
			       "'bpfo', 'bpfi', 'bands_hz', 'floor_ref_speed_hz' and "
			       "'floor_bands_hz'";
	}
	if (!num_in(r, "ref_speed_hz", 1e-3, 1e5, &det->imp.ref_hz))
		return "'impact': 'ref_speed_hz' must be a speed from 0.001 to 100000 Hz";
	if (!num_in(r, "gear_teeth", 0, 10000, &z) || z != floor(z) || z == 1)
		return "'impact': 'gear_teeth' must be 0 (no gear) or a whole number from 2 to "
		       "10000";
	if (!num_in(r, "bpfo", 0, 1000, &det->imp.plate.bpfo))
		return "'impact': 'bpfo' must be orders from 0 to 1000 (0: no bearing declared)";
	if (!num_in(r, "bpfi", 0, 1000, &det->imp.plate.bpfi))
		return "'impact': 'bpfi' must be orders from 0 to 1000 (0: no bearing declared)";
	if (!json_object_object_get_ex(r, "bands_hz", &b) ||
	    !json_object_is_type(b, json_type_array) || !(n = json_object_array_length(b)) ||
	    n > LG_IMP_CH_MAX)
		return "'impact': 'bands_hz' must be an array of [lo, hi] per channel, 1 to 16";
	det->imp.plate.z = (unsigned)z;
	for (size_t c = 0; c < n; c++)
		if (read_band(json_object_array_get_idx(b, c), det->imp.band[c]))
			return "'impact': each of 'bands_hz' must be [lo, hi] in Hz, 0 < lo < hi";
	det->imp.nch = (unsigned)n;
	has_fr = json_object_object_get_ex(r, "floor_ref_speed_hz", NULL);
	has_fb = json_object_object_get_ex(r, "floor_bands_hz", &fb);
	if (!has_fr && !has_fb)
		return NULL;
	if (lg_layout_imp_n(det->layout) <= LG_IMP_N)
		return "'impact': 'floor_ref_speed_hz' and 'floor_bands_hz' belong to the "
		       "orders96-time5-imp10 and -imp11 layouts only";
	if (!has_fr || !has_fb ||
	    !num_in(r, "floor_ref_speed_hz", 1e-3, 1e5, &det->imp.floor_ref_hz) ||
	    !json_object_is_type(fb, json_type_array) || json_object_array_length(fb) != n)
		return "'impact': 'floor_ref_speed_hz' (Hz) and 'floor_bands_hz' ([lo, hi] per "
		       "channel, as many as 'bands_hz') go together";
	for (size_t c = 0; c < n; c++)
		if (read_band(json_object_array_get_idx(fb, c), det->imp.floor_band[c]))
			return "'impact': each of 'floor_bands_hz' must be [lo, hi] in Hz, "
			       "0 < lo < hi";
	return NULL;
}

/* "retrain" (issue 8; linegate-train --base reads it, the data plane does not use it):
 * {"pooled_g": number, "setpoints_hz": [1 to 16 speeds in Hz]}, either or both. Checked as
 * strictly as what the data plane scores with, so that a retrain never refits from a wrong
 * one. */
static const char *read_refit(json_object *o, struct lg_detector *det)
{
	static const char bad[] = "'retrain' must be {\"pooled_g\": a number, \"setpoints_hz\": "
				  "[1 to 16 speeds from 0.01 to 100000 Hz]}, either or both";
	json_object *r, *a;
	size_t n;

	memset(&det->refit, 0, sizeof(det->refit));
	if (!json_object_object_get_ex(o, "retrain", &r))
		return NULL;
	if (!json_object_is_type(r, json_type_object) || !json_object_object_length(r))
		return bad;
	json_object_object_foreach(r, key, val) {
		(void)val;
		if (strcmp(key, "pooled_g") && strcmp(key, "setpoints_hz"))
			return bad;
	}
	if (json_object_object_get_ex(r, "pooled_g", &a)) {
		if ((!json_object_is_type(a, json_type_double) &&
		     !json_object_is_type(a, json_type_int)) ||
		    !isfinite(det->refit.g = json_object_get_double(a)))
			return bad;
		det->refit.has_g = 1;
	}
	if (json_object_object_get_ex(r, "setpoints_hz", &a)) {
		if (!json_object_is_type(a, json_type_array) || !(n = json_object_array_length(a)) ||
		    n > LG_REFIT_SP_MAX || read_array(a, det->refit.sp, n))
			return bad;
		for (size_t k = 0; k < n; k++)
			if (!(det->refit.sp[k] >= 0.01 && det->refit.sp[k] <= 1e5))
				return bad;
		det->refit.nsp = (unsigned)n;
	}
	return NULL;
}

/* "order_ref" (the orders96-time5 layout): {start, step, bins: [lo, hi], lines: [M]}; its
 * fit to the window is lg_order_ref_check()'s, once the window is known. */
static const char *read_order_ref(json_object *o, struct lg_detector *det)
{
	json_object *r, *a;
	double g[2], bins[2];
	size_t m;

	if (!json_object_object_get_ex(o, "order_ref", &r))
		return NULL;
	if (!lg_layout_orders(det->layout))
		return "'order_ref' belongs to the orders96-time5 layout only";
	if (!json_object_is_type(r, json_type_object) ||
	    !json_object_object_get_ex(r, "start", &a) ||
	    (!json_object_is_type(a, json_type_double) && !json_object_is_type(a, json_type_int)) ||
	    !isfinite(g[0] = json_object_get_double(a)) ||
	    !json_object_object_get_ex(r, "step", &a) ||
	    (!json_object_is_type(a, json_type_double) && !json_object_is_type(a, json_type_int)) ||
	    !isfinite(g[1] = json_object_get_double(a)) ||
	    read_doubles(r, "bins", bins, 2) || !json_object_object_get_ex(r, "lines", &a) ||
	    !json_object_is_type(a, json_type_array) ||
	    (m = json_object_array_length(a)) < 1 || m > 65536)
		return "'order_ref' must be {\"start\": number, \"step\": number, \"bins\": [lo, "
		       "hi], \"lines\": [1..65536 numbers]}";
	det->oref.lines = malloc(sizeof(float) * m);
	if (!det->oref.lines)
		return oom;
	det->oref.m = m;
	det->oref.start = g[0];
	det->oref.step = g[1];
	det->oref.lo_bin = bins[0];
	det->oref.hi_bin = bins[1];
	if (read_floats(r, "lines", det->oref.lines, m))
		return "'order_ref': 'lines' must be finite numbers >= 0";
	return NULL;
}

/* A kNN detector's arrays (docs/models.md): NULL, or what is wrong. */
static const char *read_knn(json_object *o, struct lg_detector *det)
{
	json_object *v;
	int64_t m;

	if (!json_object_object_get_ex(o, "neighbours", &v) ||
	    !json_object_is_type(v, json_type_int) || (m = json_object_get_int64(v)) < 1 ||
	    m > LG_KNN_MAX_ROWS)
		return "'neighbours' must be the number of kept training rows (1 .. 8192)";
	det->m = (size_t)m;
	if (knn_alloc(det))
		return oom;
	if (read_floats(o, "sd", det->sd, det->d) ||
	    read_floats(o, "feature_weights", det->fweight, det->d))
		return "'sd' and 'feature_weights' must be arrays of 'features' positive numbers";
	for (size_t j = 0; j < det->d; j++)
		if (!(det->sd[j] > 0) || !(det->fweight[j] > 0) ||
		    !isfinite(sqrtf(det->fweight[j]) / det->sd[j]))
			return "'sd' and 'feature_weights' must be arrays of 'features' positive "
			       "numbers";
	if (read_floats(o, "train", det->train, det->m * det->d))
		return "'train' must be an array of neighbours*features finite numbers";
	knn_derive(det);
	for (size_t r = 0; r < det->m; r++)
		if (!isfinite(det->tnorm[r]))
			return "'train' holds a row whose squared norm overflows";
	return NULL;
}

/* A kNN detector per channel ("per_channel": an array of kNN detector objects of det's
 * features and layout, each with its threshold): NULL, or what is wrong. */
static const char *read_per_channel(json_object *a, const char *path, size_t max_batch,
				    struct lg_detector *det)
{
	static const char bad[] = "'per_channel' must be an array of 1 to 255 \"knn\" detectors "
				  "of the model's 'features' and 'layout', each with its 'threshold'";
	size_t n;
	char err[256];

	if (!json_object_is_type(a, json_type_array) || !(n = json_object_array_length(a)) ||
	    n > 255)
		return bad;
	det->ch = calloc(n, sizeof(*det->ch));
	det->cidx = calloc(det->max_batch, sizeof(*det->cidx));
	det->cpart = calloc(det->max_batch, sizeof(*det->cpart));
	if (!det->ch || !det->cidx || !det->cpart)
		return oom;
	det->nch = (unsigned)n;
	for (size_t c = 0; c < n; c++) {
		struct lg_detector *s = &det->ch[c];
		json_object *e = json_object_array_get_idx(a, c);

		if (!json_object_is_type(e, json_type_object) ||
		    load_json(json_object_get(e), path, max_batch, s, err, sizeof(err)))
			return bad;
		if (s->kind != LG_DETECTOR_KNN || s->d != det->d || s->layout != det->layout ||
		    s->nch)
			return bad;
	}
	return NULL;
}

/* Takes o over. */
static int load_json(json_object *o, const char *path, size_t max_batch,
		     struct lg_detector *det, char *err, size_t errlen)
{
	json_object *v;
	const char *what = NULL;
	struct lg_bands bands;
	enum lg_detector_kind kind;
	enum lg_feat_layout layout;
	int64_t d, k = 0, win = 0;
	int ret = -EINVAL;

	if (!json_object_object_get_ex(o, "format", &v) ||
	    strcmp(json_object_get_string(v), "linegate-detector")) {
		what = "'format' must be \"linegate-detector\"";
		goto out;
	}
	if ((what = read_layout(o, &layout)))
		goto out;
	if (json_object_object_get_ex(o, "window", &v)) {
		win = json_object_get_int64(v);
		/* a whole number: json-c would read 4096.5 as 4096 */
		if (!json_object_is_type(v, json_type_int) || win < 1 || win > 65536) {
			what = "'window' must be a whole number between 1 and 65536";
			goto out;
		}
	}
	if (!json_object_object_get_ex(o, "detector", &v) ||
	    lg_detector_kind_parse(json_object_get_string(v), &kind)) {
		what = "'detector' must be \"mahalanobis\", \"pca\" or \"knn\"";
		goto out;
	}
	if (!json_object_object_get_ex(o, "features", &v) ||
	    (d = json_object_get_int64(v)) < 1 || d > 4096) {
		what = "'features' must be between 1 and 4096";
		goto out;
	}
	if (kind == LG_DETECTOR_PCA && (!json_object_object_get_ex(o, "components", &v) ||
					(k = json_object_get_int64(v)) < 1 || k >= d)) {
		what = "'components' must be between 1 and features - 1";
		goto out;
	}
	/* The wide layout has its own bands: a "bands" object is the basic layout's. */
	if (layout != LG_LAYOUT_BASIC && !json_object_object_get_ex(o, "bands", &v)) {
		lg_bands_default(&bands);
	} else if (read_bands(o, &bands)) {
		what = "'bands' must have 'edges' (9 rising numbers from >= 0 to <= 1), a "
		       "positive 'floor', a 'taper' (\"hann\" or \"rect\") and 'orders' "
		       "(0 < lo < hi <= 1)";
		goto out;
	}
	if (layout != LG_LAYOUT_BASIC && win && lg_features_width(layout, (size_t)win) != (size_t)d) {
		what = "'features' is not the width of the layout's rows at the model's 'window' "
		       "(bands96-time5 and orders96-time5: its bands at the window + 5)";
		goto out;
	}
	det->bands = bands;
	det->layout = layout;
	ret = alloc_det(det, (size_t)d, max_batch);
	if (ret) {
		what = "out of memory";
		goto out;
	}
	ret = -EINVAL;
	det->kind = kind;
	det->k = (size_t)k;
	if (kind == LG_DETECTOR_KNN) {
		det->denom = (float)d; /* the score is per feature: "denominator" is not read */
	} else if (!json_object_object_get_ex(o, "denominator", &v) ||
		   !((det->denom = (float)json_object_get_double(v)) >= 1) || det->denom > d) {
		what = "'denominator' must be a number from 1 to 'features'";
		goto out;
	}
	if (read_floats(o, "mean", det->mean, det->d)) {
		what = "'mean' must be an array of 'features' finite numbers";
		goto out;
	}
	if (kind == LG_DETECTOR_KNN) {
		if ((what = read_knn(o, det))) {
			ret = what == oom ? -ENOMEM : -EINVAL;
			goto out;
		}
		if (json_object_object_get_ex(o, "per_channel", &v) &&
		    (what = read_per_channel(v, path, max_batch, det))) {
			ret = what == oom ? -ENOMEM : -EINVAL;
			goto out;
		}
	} else if (read_floats(o, "weights", det->w, det->d * det->d)) {
		what = "'weights' must be an array of features*features finite numbers";
		goto out;
	}
	if (!json_object_object_get_ex(o, "threshold", &v) ||
	    !((det->threshold = (float)json_object_get_double(v)) > 0) ||
	    !isfinite(det->threshold)) {
		what = "'threshold' must be a positive number";
		goto out;
	}
	if (json_object_object_get_ex(o, "dropout_run", &v)) {
		int64_t r = json_object_get_int64(v);

		if (!json_object_is_type(v, json_type_int) || r < 2 || r > 65536) {
			what = "'dropout_run' must be a number of equal samples from 2 to 65536";
			goto out;
		}
		det->dropout_run = (unsigned)r;
	}
	if (json_object_object_get_ex(o, "channels", &v)) {
		int64_t c = json_object_get_int64(v);

		if (!json_object_is_type(v, json_type_int) || c < 1 || c > LGF_MAX_CHANNELS) {
			what = "'channels' must be a whole number of channels from 1 to 16";
			goto out;
		}
		/* a kNN per channel was fitted on that many: a count that disagrees is a file
		 * put together by hand, or damaged */
		if (det->nch && det->nch != (unsigned)c) {
			what = "'channels' is not the number of its 'per_channel' detectors";
			goto out;
		}
		det->channels = (unsigned)c;
	}
	if (json_object_object_get_ex(o, "normal_level", &v)) {
		double r = json_object_get_double(v);

		if (!(json_object_is_type(v, json_type_double) ||
		      json_object_is_type(v, json_type_int)) || !(r > 0 && r <= 1)) {
			what = "'normal_level' must be a number above 0 and at most 1 (a healthy "
			       "window's score over the threshold)";
			goto out;
		}
		det->normal_level = (float)r;
	}
	det->window = (unsigned)win;
	if ((what = read_order_ref(o, det))) {
		ret = what == oom ? -ENOMEM : -EINVAL;
		goto out;
	}
	/* the orders layout's reference must fit the window (in a set: the file's, set_add) */
	if (lg_layout_orders(layout) && win &&
	    (what = lg_order_ref_check(&det->oref, (size_t)win)))
		goto out;
	if ((what = read_meta(o, layout, det->window, &det->sample_rate, det->digest,
			      det->signer)))
		goto out;
	if ((what = read_reference(o, det)))
		goto out;
	if ((what = read_impact(o, det))) {
		memset(&det->imp, 0, sizeof(det->imp));
		goto out;
	}
	if ((what = read_refit(o, det)))
		goto out;
	snprintf(det->name, sizeof(det->name), "%s",
		 json_object_object_get_ex(o, "name", &v) ? json_object_get_string(v) : "model");
	det->version = json_object_object_get_ex(o, "version", &v) ?
			       (unsigned)json_object_get_int(v) : 0;
	ret = 0;
out:
	json_object_put(o);
	if (ret) {
		snprintf(err, errlen, "%s: %s", path, what ? what : "invalid model");
		lg_detector_free(det);
	}
	return ret;
}

int lg_stats_save(const struct lg_stats *st, const char *path)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "format", json_object_new_string("linegate-stats"));
	json_object_object_add(o, "features", json_object_new_int((int)st->d));
	/* what a row means, as a model records it (meta_add(): window, sample_rate, layout,
	 * feature_layout): statistics of other windows or rates must not merge */
	meta_add(o, st->layout, st->window, st->sample_rate, NULL, NULL);
	json_object_object_add(o, "count", json_object_new_double(st->n));
	json_object_object_add(o, "clip", json_object_new_double(st->clip));
	json_object_object_add(o, "bands", bands_object(&st->bands));
	json_object_object_add(o, "shift", double_array(st->shift, st->d));
	json_object_object_add(o, "scale", double_array(st->scale, st->d));
	json_object_object_add(o, "sum", double_array(st->sum, st->d));
	json_object_object_add(o, "sum_outer", double_array(st->sxx, st->d * st->d));
	if (st->dp_sigma > 0) {
		json_object *dp = json_object_new_object();

		json_object_object_add(dp, "sigma", json_object_new_double(st->dp_sigma));
		json_object_object_add(dp, "epsilon", json_object_new_double(st->dp_epsilon));
		json_object_object_add(dp, "delta", json_object_new_double(st->dp_delta));
		json_object_object_add(o, "dp", dp);
	}
	return write_json(o, path);
}

int lg_stats_load(const char *path, struct lg_stats *st, char *err, size_t errlen)
{
	json_object *o = json_object_from_file(path), *v, *dp;
	const char *what = NULL;
	struct lg_bands bands;
	double clip;
	int64_t d;
	int ret = -EINVAL;

	memset(st, 0, sizeof(*st));
	if (!o) {
		snprintf(err, errlen, "%s: not readable JSON (%s)", path, json_util_get_last_err());
		return -EINVAL;
	}
	if (!json_object_object_get_ex(o, "format", &v) ||
	    strcmp(json_object_get_string(v), "linegate-stats")) {
		what = "'format' must be \"linegate-stats\"";
		goto out;
	}
	if (!json_object_object_get_ex(o, "features", &v) ||
	    (d = json_object_get_int64(v)) < 1 || d > 4096) {
		what = "'features' must be between 1 and 4096";
		goto out;
	}
	if (!json_object_object_get_ex(o, "clip", &v) ||
	    !((clip = json_object_get_double(v)) >= 0)) {
		what = "'clip' must be a number >= 0";
		goto out;
	}
	if (read_bands(o, &bands)) {
		what = "'bands' is not a valid band layout";
		goto out;
	}
	ret = lg_stats_init(st, (size_t)d, NULL, clip, &bands);
	if (ret) {
		what = "out of memory";
		goto out;
	}
	ret = -EINVAL;
	/* sample rate, window and layout: files made before 2026-12-06 have none, and their
	 * rows could be of any rate or window (trial s20 H3): refused, not guessed */
	if (!json_object_object_get_ex(o, "sample_rate", &v) ||
	    !json_object_object_get_ex(o, "window", &v) ||
	    !json_object_object_get_ex(o, "feature_layout", &v)) {
		what = "no 'sample_rate', 'window' or 'feature_layout': statistics made before "
		       "linegate-train recorded what a row means (2026-12-06), of any rate or "
		       "window; export them again with this linegate-train";
		goto out;
	}
	{
		enum lg_feat_layout layout = LG_LAYOUT_BASIC;
		int64_t win;
		double rate = 0;
		char digest[65], signer[65];

		json_object_object_get_ex(o, "window", &v);
		win = json_object_get_int64(v);
		if ((what = read_layout(o, &layout)))
			goto out;
		if (win < 1 || win > (1 << 24)) {
			what = "'window' must be a number of samples (1..16777216)";
			goto out;
		}
		if ((what = read_meta(o, layout, (unsigned)win, &rate, digest, signer)))
			goto out;
		if (lg_stats_set_meta(st, rate, (unsigned)win, layout)) {
			what = "'features' is not the width of 'feature_layout' at 'window'";
			goto out;
		}
	}
	if (!json_object_object_get_ex(o, "count", &v) ||
	    !isfinite(st->n = json_object_get_double(v))) {
		what = "'count' must be a number";
		goto out;
	}
	if (read_doubles(o, "shift", st->shift, st->d) || read_doubles(o, "sum", st->sum, st->d) ||
	    read_doubles(o, "sum_outer", st->sxx, st->d * st->d)) {
		what = "'shift', 'sum' and 'sum_outer' must hold features, features and "
		       "features*features finite numbers";
		goto out;
	}
	if (json_object_object_get_ex(o, "scale", &v)) {
		int bad = read_doubles(o, "scale", st->scale, st->d);

		for (size_t j = 0; !bad && j < st->d; j++)
			bad = !(st->scale[j] > 0);
		if (bad) {
			what = "'scale' must hold features positive numbers";
			goto out;
		}
	}
	if (json_object_object_get_ex(o, "dp", &dp)) {
		if (json_object_object_get_ex(dp, "sigma", &v))
			st->dp_sigma = json_object_get_double(v);
		if (json_object_object_get_ex(dp, "epsilon", &v))
			st->dp_epsilon = json_object_get_double(v);
		if (json_object_object_get_ex(dp, "delta", &v))
			st->dp_delta = json_object_get_double(v);
	}
	ret = 0;
out:
	json_object_put(o);
	if (ret) {
		snprintf(err, errlen, "%s: %s", path, what ? what : "invalid statistics");
		lg_stats_free(st);
	}
	return ret;
}

/* ---- sets: one detector per device ---- */

void lg_detector_set_free(struct lg_detector_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++)
		lg_detector_free(&set->det[i]);
	free(set->det);
	free(set->names);
	free(set->name_det);
	memset(set, 0, sizeof(*set));
	set->fallback = -1;
}

int lg_detector_set_find(const struct lg_detector_set *set, const char *device)
{
	for (size_t i = 0; i < set->nnames; i++)
		if (!strcmp(set->names[i], device))
			return (int)set->name_det[i];
	return set->fallback;
}

/* A set of one: the detector is every device's. */
static int set_of_one(struct lg_detector_set *set, struct lg_detector *det)
{
	set->det = malloc(sizeof(*set->det));
	if (!set->det) {
		lg_detector_free(det);
		return -ENOMEM;
	}
	set->det[0] = *det;
	set->n = 1;
	set->fallback = 0;
	snprintf(set->name, sizeof(set->name), "%s", det->name);
	set->version = det->version;
	set->window = det->window;
	set->sample_rate = det->sample_rate;
	memcpy(set->digest, det->digest, sizeof(set->digest));
	memcpy(set->signer, det->signer, sizeof(set->signer));
	return 0;
}

/* One entry of "detectors" (or the "default"), held to the set's window and rate. */
static int set_add(struct lg_detector_set *set, json_object *mo, const char *path, size_t i,
		   json_object *devs, size_t max_batch, char *err, size_t errlen)
{
	struct lg_detector *det = &set->det[set->n];
	size_t ndev = devs ? json_object_array_length(devs) : 0;
	const char *dev = ndev ? json_object_get_string(json_object_array_get_idx(devs, 0)) : NULL;
	char where[600];
	int ret;

	/* the entry, and the device it is for, as an operator knows it */
	if (i == (size_t)-1)
		snprintf(where, sizeof(where), "%s: default", path);
	else if (dev && ndev > 1)
		snprintf(where, sizeof(where), "%s: detectors[%zu] (devices %.64s and %zu more)",
			 path, i, dev, ndev - 1);
	else if (dev)
		snprintf(where, sizeof(where), "%s: detectors[%zu] (device %.64s)", path, i, dev);
	else
		snprintf(where, sizeof(where), "%s: detectors[%zu]", path, i);
	ret = load_json(json_object_get(mo), where, max_batch, det, err, errlen);
	if (ret)
		return ret;
	set->n++;
	/* A rate per detector, or the file's. A window per detector too (issue 8 step 6e: a
	 * window per device, in revolutions), but not the default's: the devices the model does
	 * not name take the file's window, which is the policy's detection.window. */
	if ((i == (size_t)-1 && det->window && det->window != set->window) ||
	    (det->sample_rate > 0 && set->sample_rate > 0 && det->sample_rate != set->sample_rate)) {
		snprintf(err, errlen, "%s: %s differs from the file's", where,
			 det->window && det->window != set->window ? "the default's window" :
								    "sample_rate");
		return -EINVAL;
	}
	if (!det->window)
		det->window = set->window;
	/* Impact features that cannot fit the device make it alert on every window (trial:
	 * one band for a 3-channel device, a reference speed past half the sample rate):
	 * refused here rather than scored. */
	if (det->imp.ref_hz > 0) {
		double rate = det->sample_rate > 0 ? det->sample_rate : set->sample_rate, top = 0;

		for (unsigned c = 0; c < det->imp.nch; c++)
			top = fmax(top, fmax(det->imp.band[c][1], det->imp.floor_band[c][1]));
		/* a kNN without per_channel is a device of one channel (the trainer fits one
		 * detector per channel for more); more bands than that were ignored */
		if (det->imp.nch != (det->nch ? det->nch : 1)) {
			snprintf(err, errlen, "%s: 'impact' has %u band(s) in 'bands_hz' for a detector "
				 "of %u channel%s: one per channel", where, det->imp.nch,
				 det->nch ? det->nch : 1, det->nch > 1 ? "s" : "");
			return -EINVAL;
		}
		if (rate > 0 && det->imp.floor_ref_hz >= rate / 2) {
			snprintf(err, errlen,
				 "%s: 'impact': 'floor_ref_speed_hz' %g Hz is not below "
				 "half the sample rate (%g Hz)",
				 where, det->imp.floor_ref_hz, rate);
			return -EINVAL;
		}
		if (rate > 0 && (det->imp.ref_hz >= rate / 2 || top > rate / 2)) {
			snprintf(err, errlen, "%s: 'impact': %s %g Hz is not below half the sample "
				 "rate (%g Hz)", where,
				 det->imp.ref_hz >= rate / 2 ? "'ref_speed_hz'" : "a band up to",
				 det->imp.ref_hz >= rate / 2 ? det->imp.ref_hz : top, rate);
			return -EINVAL;
		}
	}
	if (det->layout != LG_LAYOUT_BASIC &&
	    lg_features_width(det->layout, det->window) != det->d) {
		snprintf(err, errlen, "%s: 'features' is not the width of its layout's rows at its "
			 "window (%u samples)", where, det->window);
		return -EINVAL;
	}
	/* a device's detector, not its channels' (per_channel entries carry none) */
	if (imp_lacks(det)) {
		snprintf(err, errlen, "%s: %s", where, imp_lacks(det));
		return -EINVAL;
	}
	if (lg_layout_orders(det->layout)) {
		const char *what = lg_order_ref_check(&det->oref, det->window);

		if (what) {
			snprintf(err, errlen, "%s: %s", where, what);
			return -EINVAL;
		}
	}
	if (!(det->sample_rate > 0))
		det->sample_rate = set->sample_rate;
	return 0;
}

/* "trained_until" (optional; a set's, next to data_digest): seconds, 0 .. 1e9. */
static const char *read_trained_until(json_object *o, struct lg_detector_set *set)
{
	json_object *v;

	set->trained_until = 0;
	if (!json_object_object_get_ex(o, "trained_until", &v))
		return NULL;
	if ((!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int)) ||
	    !(json_object_get_double(v) >= 0 && json_object_get_double(v) <= 1e9))
		return "'trained_until' must be seconds from 0 to 1e9";
	set->trained_until = json_object_get_double(v);
	return NULL;
}

/* Takes o over. */
static int load_set(json_object *o, const char *path, size_t max_batch,
		    struct lg_detector_set *set, char *err, size_t errlen)
{
	json_object *v, *dets, *def = NULL;
	const char *what = NULL;
	enum lg_feat_layout layout;
	size_t nd;
	int ret = -EINVAL;

	if (!json_object_object_get_ex(o, "window", &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 1 || json_object_get_int64(v) > 65536) {
		what = "'window' must be a whole number between 1 and 65536";
		goto out;
	}
	set->window = (unsigned)json_object_get_int64(v);
	if ((what = read_layout(o, &layout)) ||
	    (what = read_meta(o, layout, set->window, &set->sample_rate, set->digest,
			      set->signer)) ||
	    (what = read_trained_until(o, set)))
		goto out;
	if (!json_object_object_get_ex(o, "detectors", &dets) ||
	    !json_object_is_type(dets, json_type_array) ||
	    (nd = json_object_array_length(dets)) > LG_DETECTOR_SET_MAX) {
		what = "'detectors' must be an array of at most 4096 {devices, model}";
		goto out;
	}
	json_object_object_get_ex(o, "default", &def);
	if (!nd && !def) {
		what = "no detector: neither 'detectors' nor 'default'";
		goto out;
	}
	set->det = calloc(nd + 1, sizeof(*set->det));
	if (!set->det) {
		what = "out of memory";
		goto out;
	}
	for (size_t i = 0; i < nd; i++) {
		json_object *e = json_object_array_get_idx(dets, i), *devs, *mo;
		size_t k;

		if (!json_object_object_get_ex(e, "devices", &devs) ||
		    !json_object_is_type(devs, json_type_array) ||
		    !(k = json_object_array_length(devs)) || k > LG_DETECTOR_SET_MAX ||
		    !json_object_object_get_ex(e, "model", &mo)) {
			snprintf(err, errlen, "%s: detectors[%zu] needs 'devices' (names) and "
				 "'model'", path, i);
			goto fail;
		}
		if ((ret = set_add(set, mo, path, i, devs, max_batch, err, errlen)))
			goto fail;
		ret = -EINVAL;
		for (size_t j = 0; j < k; j++) {
			const char *nm = json_object_get_string(json_object_array_get_idx(devs, j));
			void *a, *b;

			if (!nm || !*nm || strlen(nm) >= 64 || set->nnames >= LG_DETECTOR_SET_MAX) {
				snprintf(err, errlen, "%s: detectors[%zu]: devices[%zu] must be a "
					 "device name (1..63 characters)", path, i, j);
				goto fail;
			}
			if (lg_detector_set_find(set, nm) >= 0 && set->fallback < 0) {
				snprintf(err, errlen, "%s: detectors[%zu]: device %s has a detector "
					 "already", path, i, nm);
				goto fail;
			}
			a = realloc(set->names, sizeof(*set->names) * (set->nnames + 1));
			if (a)
				set->names = a;
			b = realloc(set->name_det, sizeof(*set->name_det) * (set->nnames + 1));
			if (b)
				set->name_det = b;
			if (!a || !b) {
				snprintf(err, errlen, "%s: out of memory", path);
				ret = -ENOMEM;
				goto fail;
			}
			snprintf(set->names[set->nnames], 64, "%s", nm);
			set->name_det[set->nnames++] = (unsigned)set->n - 1;
		}
	}
	set->fallback = -1;
	if (def) {
		if ((ret = set_add(set, def, path, (size_t)-1, NULL, max_batch, err, errlen)))
			goto fail;
		set->fallback = (int)set->n - 1;
	}
	for (size_t i = 0; i < set->n; i++)
		if (set->det[i].layout != layout) {
			snprintf(err, errlen, "%s: its detectors' 'layout' differs from the file's",
				 path);
			ret = -EINVAL;
			goto fail;
		}
	if (json_object_object_get_ex(o, "smooth", &v)) {
		int64_t m = json_object_get_int64(v);

		if (!json_object_is_type(v, json_type_int) || m < 1 || m > LG_SMOOTH_MAX) {
			snprintf(err, errlen, "%s: 'smooth' must be a number of scores from 1 to %d",
				 path, LG_SMOOTH_MAX);
			ret = -EINVAL;
			goto fail;
		}
		set->smooth = (unsigned)m;
	}
	snprintf(set->name, sizeof(set->name), "%s",
		 json_object_object_get_ex(o, "name", &v) ? json_object_get_string(v) : "model");
	set->version = json_object_object_get_ex(o, "version", &v) ?
			       (unsigned)json_object_get_int(v) : 0;
	json_object_put(o);
	return 0;
out:
	snprintf(err, errlen, "%s: %s", path, what);
fail:
	json_object_put(o);
	lg_detector_set_free(set);
	return ret ? ret : -EINVAL;
}

static int set_load_obj(json_object *o, const char *name, size_t max_batch,
			struct lg_detector_set *set, char *err, size_t errlen)
{
	json_object *v;
	struct lg_detector det;
	int ret;

	memset(set, 0, sizeof(*set));
	set->fallback = -1;
	if (json_object_object_get_ex(o, "format", &v) &&
	    !strncmp(json_object_get_string(v), "linegate-detectors", 18)) {
		const char *f = json_object_get_string(v) + 18;
		char *end;
		long fv = 1;

		/* "linegate-detectors" is format 1, "linegate-detectors-N" format N: a file that
		 * needs what an older linegate does not know names a format it refuses. */
		if (*f) {
			errno = 0;
			fv = *f == '-' && f[1] >= '1' && f[1] <= '9' ? strtol(f + 1, &end, 10) : 0;
			if (!fv || errno || *end) {
				snprintf(err, errlen, "%s: 'format' must be \"linegate-detector\", "
					 "\"linegate-detectors\" or \"linegate-detectors-N\"",
					 name);
				json_object_put(o);
				return -EINVAL;
			}
		}
		if (fv > LG_DETECTOR_FORMAT_MAX) {
			snprintf(err, errlen, "%s: a model of format %ld, newer than this linegate "
				 "reads (1 to %d): update linegate, or train it with this one",
				 name, fv, LG_DETECTOR_FORMAT_MAX);
			json_object_put(o);
			return -EINVAL;
		}
		ret = load_set(o, name, max_batch, set, err, errlen);
		/* A file that says format 1 but uses what format 2 brought (smoothing, a window
		 * per device, impact features) is what a linegate before them would misread:
		 * refused, so that the label can be trusted. */
		if (!ret && fv < (long)lg_detector_set_format(set)) {
			snprintf(err, errlen, "%s: says format %ld but uses format %u's fields "
				 "(\"smooth\", a window per device or \"impact\"): its 'format' "
				 "must be \"linegate-detectors-%u\"", name, fv,
				 lg_detector_set_format(set), lg_detector_set_format(set));
			lg_detector_set_free(set);
			return -EINVAL;
		}
		return ret;
	}
	memset(&det, 0, sizeof(det));
	ret = load_json(o, name, max_batch, &det, err, errlen);
	if (!ret && imp_lacks(&det)) {
		snprintf(err, errlen, "%s: %s", name, imp_lacks(&det));
		lg_detector_free(&det);
		return -EINVAL;
	}
	return ret ? ret : set_of_one(set, &det);
}

int lg_detector_set_load_mem(const void *buf, size_t len, const char *name, size_t max_batch,
			     struct lg_detector_set *set, char *err, size_t errlen)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *o = tok ? json_tokener_parse_ex(tok, buf, (int)len) : NULL;

	if (!o || json_tokener_get_parse_end(tok) != len) {
		snprintf(err, errlen, "%s: not a JSON model", name);
		json_object_put(o);
		json_tokener_free(tok);
		memset(set, 0, sizeof(*set));
		set->fallback = -1;
		return -EINVAL;
	}
	json_tokener_free(tok);
	return set_load_obj(o, name, max_batch, set, err, errlen);
}

int lg_detector_set_load(const char *path, size_t max_batch, struct lg_detector_set *set,
			 char *err, size_t errlen)
{
	json_object *o = json_object_from_file(path);

	if (!o) {
		memset(set, 0, sizeof(*set));
		set->fallback = -1;
		snprintf(err, errlen, "%s: not readable JSON (%s)", path, json_util_get_last_err());
		return -EINVAL;
	}
	return set_load_obj(o, path, max_batch, set, err, errlen);
}

unsigned lg_detector_set_format(const struct lg_detector_set *set)
{
	if (set->smooth > 1)
		return 2;
	for (size_t i = 0; i < set->n; i++)
		if ((set->det[i].window && set->det[i].window != set->window) ||
		    set->det[i].imp.ref_hz > 0)
			return 2;
	return 1;
}

int lg_detector_set_save(const struct lg_detector_set *set, const char *path)
{
	json_object *o, *dets;
	unsigned fv;

	if (set->n == 1 && set->fallback == 0 && !set->nnames && lg_detector_set_format(set) == 1) {
		struct lg_detector one = set->det[0];

		one.window = set->window;
		one.sample_rate = set->sample_rate;
		memcpy(one.digest, set->digest, sizeof(one.digest));
		memcpy(one.signer, set->signer, sizeof(one.signer));
		return lg_detector_save(&one, path);
	}
	o = json_object_new_object();
	dets = json_object_new_array();
	fv = lg_detector_set_format(set);
	json_object_object_add(o, "format",
			       json_object_new_string(fv > 1 ? "linegate-detectors-2" :
							      "linegate-detectors"));
	json_object_object_add(o, "name", json_object_new_string(set->name));
	json_object_object_add(o, "version", json_object_new_int((int)set->version));
	if (set->smooth > 1)
		json_object_object_add(o, "smooth", json_object_new_int((int)set->smooth));
	/* the file's rate when every detector has it; else each detector carries its own */
	meta_add(o, set->n ? set->det[0].layout : LG_LAYOUT_BASIC, set->window, set->sample_rate,
		 set->digest, set->signer);
	if (set->trained_until > 0)
		json_object_object_add(o, "trained_until",
				       json_object_new_double(set->trained_until));
	for (size_t i = 0; i < set->n; i++) {
		json_object *e, *devs;

		if ((int)i == set->fallback)
			continue;
		e = json_object_new_object();
		devs = json_object_new_array();
		for (size_t j = 0; j < set->nnames; j++)
			if (set->name_det[j] == i)
				json_object_array_add(devs, json_object_new_string(set->names[j]));
		json_object_object_add(e, "devices", devs);
		json_object_object_add(e, "model", detector_object(&set->det[i]));
		json_object_array_add(dets, e);
	}
	json_object_object_add(o, "detectors", dets);
	if (set->fallback >= 0)
		json_object_object_add(o, "default", detector_object(&set->det[set->fallback]));
	return write_json(o, path);
}
