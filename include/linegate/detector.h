/* SPDX-License-Identifier: MIT */
/*
 * The Mahalanobis detector: a model file holds the feature means and a
 * whitening matrix W (Sigma^-1/2, from the eigendecomposition of the training
 * covariance), so the score of a row x is |W (x - mean)|^2 / d. A batch of rows
 * is scored with one sgemm. Model files are JSON (docs/models.md).
 */
#ifndef LINEGATE_DETECTOR_H
#define LINEGATE_DETECTOR_H

#include <stddef.h>

struct lg_detector {
	char name[64];
	unsigned version;
	size_t d;         /* features per row */
	float *mean;      /* d */
	float *w;         /* d x d, row-major */
	float threshold;  /* alert when score > threshold */
	size_t max_batch;
	float *work;      /* max_batch x d scratch, allocated once */
};

/* Load a model file; errors go to err as "path: message". */
int lg_detector_load(const char *path, size_t max_batch, struct lg_detector *det, char *err,
		     size_t errlen);
/* The same from a buffer (the bytes whose signature was checked); name is for errors. */
int lg_detector_load_mem(const void *buf, size_t len, const char *name, size_t max_batch,
			 struct lg_detector *det, char *err, size_t errlen);
/* Fit from n training rows (n x d, row-major); threshold from the score quantile q
 * multiplied by margin. */
int lg_detector_fit(const float *rows, size_t n, size_t d, double q, double margin,
		    size_t max_batch, struct lg_detector *det);
int lg_detector_save(const struct lg_detector *det, const char *path);
/* Score n rows (n <= max_batch) in place of x: x is not modified, scores has n slots. */
void lg_detector_score(struct lg_detector *det, const float *x, size_t n, float *scores);
void lg_detector_free(struct lg_detector *det);

#endif /* LINEGATE_DETECTOR_H */
