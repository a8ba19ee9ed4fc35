// SPDX-License-Identifier: MIT
/* Mahalanobis detector: fit with LAPACK (dsyev), score with one sgemm per batch. */
#include <linegate/detector.h>

#include <cblas.h>
#include <errno.h>
#include <json-c/json.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Eigenvalues below this fraction of the largest are clamped, so a feature that
 * never varies in training (a constant mean, say) cannot blow the score up. */
#define EIG_FLOOR 1e-6

static int alloc_det(struct lg_detector *det, size_t d, size_t max_batch)
{
	det->d = d;
	det->max_batch = max_batch;
	det->mean = calloc(d, sizeof(float));
	det->w = calloc(d * d, sizeof(float));
	det->work = calloc(max_batch * d * 2, sizeof(float));
	if (!det->mean || !det->w || !det->work) {
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
	det->mean = det->w = det->work = NULL;
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
		scores[i] = s / (float)d;
	}
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return x < y ? -1 : x > y;
}

int lg_detector_fit(const float *rows, size_t n, size_t d, double q, double margin,
		    size_t max_batch, struct lg_detector *det)
{
	double *mean = NULL, *cov = NULL, *eig = NULL;
	float *scores = NULL;
	int ret;

	if (n < 2 || !d || q <= 0 || q > 1)
		return -EINVAL;
	memset(det, 0, sizeof(*det));
	ret = alloc_det(det, d, max_batch);
	if (ret)
		return ret;
	ret = -ENOMEM;
	mean = calloc(d, sizeof(*mean));
	cov = calloc(d * d, sizeof(*cov));
	eig = calloc(d, sizeof(*eig));
	scores = calloc(n, sizeof(*scores));
	if (!mean || !cov || !eig || !scores)
		goto out;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < d; j++)
			mean[j] += rows[i * d + j];
	for (size_t j = 0; j < d; j++)
		mean[j] /= (double)n;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < d; j++)
			for (size_t k = 0; k <= j; k++)
				cov[j * d + k] += (rows[i * d + j] - mean[j]) *
						  (rows[i * d + k] - mean[k]);
	for (size_t j = 0; j < d; j++)
		for (size_t k = 0; k <= j; k++)
			cov[k * d + j] = cov[j * d + k] /= (double)(n - 1);
	/* cov = U diag(eig) U^T; row-major LAPACKE returns eigenvectors in columns. */
	if (LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)d, cov, (lapack_int)d, eig)) {
		ret = -EDOM;
		goto out;
	}
	for (size_t k = 0; k < d; k++) {
		double e = fmax(eig[k], eig[d - 1] * EIG_FLOOR + 1e-30), s = 1.0 / sqrt(e);

		for (size_t j = 0; j < d; j++)
			det->w[k * d + j] = (float)(cov[j * d + k] * s);
	}
	for (size_t j = 0; j < d; j++)
		det->mean[j] = (float)mean[j];
	for (size_t i = 0; i < n; i += max_batch) {
		size_t m = n - i < max_batch ? n - i : max_batch;

		lg_detector_score(det, rows + i * d, m, scores + i);
	}
	qsort(scores, n, sizeof(*scores), cmp_float);
	det->threshold = (float)(scores[(size_t)((n - 1) * q)] * margin);
	snprintf(det->name, sizeof(det->name), "mahalanobis");
	det->version = 1;
	ret = 0;
out:
	free(mean);
	free(cov);
	free(eig);
	free(scores);
	if (ret)
		lg_detector_free(det);
	return ret;
}

static json_object *float_array(const float *v, size_t n)
{
	json_object *a = json_object_new_array_ext((int)n);

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_double(v[i]));
	return a;
}

int lg_detector_save(const struct lg_detector *det, const char *path)
{
	json_object *o = json_object_new_object();
	int ret;

	json_object_object_add(o, "format", json_object_new_string("linegate-mahalanobis"));
	json_object_object_add(o, "name", json_object_new_string(det->name));
	json_object_object_add(o, "version", json_object_new_int((int)det->version));
	json_object_object_add(o, "features", json_object_new_int((int)det->d));
	json_object_object_add(o, "threshold", json_object_new_double(det->threshold));
	json_object_object_add(o, "mean", float_array(det->mean, det->d));
	json_object_object_add(o, "whitening", float_array(det->w, det->d * det->d));
	ret = json_object_to_file_ext(path, o, JSON_C_TO_STRING_PRETTY) ? -EIO : 0;
	json_object_put(o);
	return ret;
}

static int read_floats(json_object *o, const char *key, float *out, size_t n)
{
	json_object *a;

	if (!json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array) ||
	    json_object_array_length(a) != n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(a, i);

		if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
			return -EINVAL;
		out[i] = (float)json_object_get_double(v);
		if (!isfinite(out[i]))
			return -EINVAL;
	}
	return 0;
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

static int load_json(json_object *o, const char *path, size_t max_batch,
		     struct lg_detector *det, char *err, size_t errlen)
{
	json_object *v;
	const char *what = NULL;
	int64_t d;
	int ret = -EINVAL;

	if (!json_object_object_get_ex(o, "format", &v) ||
	    strcmp(json_object_get_string(v), "linegate-mahalanobis")) {
		what = "'format' must be \"linegate-mahalanobis\"";
		goto out;
	}
	if (!json_object_object_get_ex(o, "features", &v) ||
	    (d = json_object_get_int64(v)) < 1 || d > 4096) {
		what = "'features' must be between 1 and 4096";
		goto out;
	}
	ret = alloc_det(det, (size_t)d, max_batch);
	if (ret) {
		what = "out of memory";
		goto out;
	}
	ret = -EINVAL;
	if (read_floats(o, "mean", det->mean, det->d)) {
		what = "'mean' must be an array of 'features' finite numbers";
		goto out;
	}
	if (read_floats(o, "whitening", det->w, det->d * det->d)) {
		what = "'whitening' must be an array of features*features finite numbers";
		goto out;
	}
	if (!json_object_object_get_ex(o, "threshold", &v) ||
	    !((det->threshold = (float)json_object_get_double(v)) > 0)) {
		what = "'threshold' must be a positive number";
		goto out;
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
