// SPDX-License-Identifier: MIT
/*
 * Mahalanobis and PCA detectors: sufficient statistics in double, fit with LAPACK
 * (dsyev), score with one sgemm per batch; statistics export, merge and DP noise.
 */
#include <linegate/detector.h>

#include <cblas.h>
#include <errno.h>
#include <json-c/json.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Eigenvalues below this fraction of the largest are clamped, so a feature that
 * never varies in training (a constant mean, say) cannot blow the score up. */
#define EIG_FLOOR 1e-6
/* PCA keeps the fewest components that explain this share of the variance when the
 * caller does not say how many. */
#define PCA_VARIANCE 0.95

static const char *const kind_names[] = { "mahalanobis", "pca" };

const char *lg_detector_kind_name(enum lg_detector_kind kind)
{
	return (unsigned)kind < 2 ? kind_names[kind] : "invalid";
}

int lg_detector_kind_parse(const char *name, enum lg_detector_kind *kind)
{
	for (unsigned i = 0; i < 2; i++)
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
	    lg_features_new(&det->fx, &det->bands, LG_SPECTRUM_DEFAULT, 1)) {
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
	lg_features_free(det->fx);
	det->mean = det->w = det->work = NULL;
	det->fx = NULL;
}

void lg_detector_score(struct lg_detector *det, const float *x, size_t n, float *scores)
{
	size_t d = det->d;
	float *c = det->work, *y = det->work + det->max_batch * d;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < d; j++)
			c[i * d + j] = x[i * d + j] - det->mean[j];
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
	st->sum = calloc(d, sizeof(double));
	st->sxx = calloc(d * d, sizeof(double));
	if (!st->shift || !st->sum || !st->sxx) {
		lg_stats_free(st);
		return -ENOMEM;
	}
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
	free(st->sum);
	free(st->sxx);
	st->shift = st->sum = st->sxx = NULL;
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
			yp[j] = rows[i * d + j] - st->shift[j];
			norm += yp[j] * yp[j];
		}
		if (st->clip > 0 && norm > st->clip * st->clip)
			s = st->clip / sqrt(norm);
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

	if (src->d != d || src->clip != dst->clip ||
	    memcmp(src->shift, dst->shift, d * sizeof(double)) ||
	    !lg_bands_equal(&src->bands, &dst->bands))
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
		mean[j] = st->shift[j] + st->sum[j] / n;
	/* Rows were shifted by a reference near their mean, so the difference below keeps
	 * its digits; the shift itself does not change the covariance. */
	for (size_t j = 0; j < d; j++)
		for (size_t k = 0; k < d; k++)
			cov[j * d + k] = (st->sxx[j * d + k] - st->sum[j] * st->sum[k] / n) /
					 (n - 1);
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

static int read_doubles(json_object *o, const char *key, double *out, size_t n)
{
	json_object *a;

	if (!json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array) ||
	    json_object_array_length(a) != n)
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
	int ret = json_object_to_file_ext(path, o, JSON_C_TO_STRING_PRETTY) ? -EIO : 0;

	json_object_put(o);
	return ret;
}

int lg_detector_save(const struct lg_detector *det, const char *path)
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
	if (det->window)
		json_object_object_add(o, "window", json_object_new_int64(det->window));
	json_object_object_add(o, "bands", bands_object(&det->bands));
	json_object_object_add(o, "mean", float_array(det->mean, det->d));
	json_object_object_add(o, "weights", float_array(det->w, det->d * det->d));
	return write_json(o, path);
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

/* Takes o over. */
static int load_json(json_object *o, const char *path, size_t max_batch,
		     struct lg_detector *det, char *err, size_t errlen)
{
	json_object *v;
	const char *what = NULL;
	struct lg_bands bands;
	enum lg_detector_kind kind;
	int64_t d, k = 0;
	int ret = -EINVAL;

	if (!json_object_object_get_ex(o, "format", &v) ||
	    strcmp(json_object_get_string(v), "linegate-detector")) {
		what = "'format' must be \"linegate-detector\"";
		goto out;
	}
	if (!json_object_object_get_ex(o, "detector", &v) ||
	    lg_detector_kind_parse(json_object_get_string(v), &kind)) {
		what = "'detector' must be \"mahalanobis\" or \"pca\"";
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
	if (read_bands(o, &bands)) {
		what = "'bands' must have 'edges' (9 rising numbers from >= 0 to <= 1), a "
		       "positive 'floor', a 'taper' (\"hann\" or \"rect\") and 'orders' "
		       "(0 < lo < hi <= 1)";
		goto out;
	}
	det->bands = bands;
	ret = alloc_det(det, (size_t)d, max_batch);
	if (ret) {
		what = "out of memory";
		goto out;
	}
	ret = -EINVAL;
	det->kind = kind;
	det->k = (size_t)k;
	if (!json_object_object_get_ex(o, "denominator", &v) ||
	    !((det->denom = (float)json_object_get_double(v)) >= 1) || det->denom > d) {
		what = "'denominator' must be a number from 1 to 'features'";
		goto out;
	}
	if (read_floats(o, "mean", det->mean, det->d)) {
		what = "'mean' must be an array of 'features' finite numbers";
		goto out;
	}
	if (read_floats(o, "weights", det->w, det->d * det->d)) {
		what = "'weights' must be an array of features*features finite numbers";
		goto out;
	}
	if (!json_object_object_get_ex(o, "threshold", &v) ||
	    !((det->threshold = (float)json_object_get_double(v)) > 0) ||
	    !isfinite(det->threshold)) {
		what = "'threshold' must be a positive number";
		goto out;
	}
	if (json_object_object_get_ex(o, "window", &v)) {
		int64_t w = json_object_get_int64(v);

		if (w < 1 || w > 65536) {
			what = "'window' must be between 1 and 65536";
			goto out;
		}
		det->window = (unsigned)w;
	}
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
	json_object_object_add(o, "count", json_object_new_double(st->n));
	json_object_object_add(o, "clip", json_object_new_double(st->clip));
	json_object_object_add(o, "bands", bands_object(&st->bands));
	json_object_object_add(o, "shift", double_array(st->shift, st->d));
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
