/* SPDX-License-Identifier: MIT */
/*
 * Window features: one row of LG_FEAT_N floats per (device, channel, window),
 * written straight into a row of the batch matrix the model reads.
 */
#ifndef LINEGATE_FEATURES_H
#define LINEGATE_FEATURES_H

#include <stddef.h>

enum lg_feature {
	LG_FEAT_MEAN,
	LG_FEAT_RMS,
	LG_FEAT_PEAK,     /* largest absolute value */
	LG_FEAT_CREST,    /* peak / RMS, 0 for an all-zero window */
	LG_FEAT_SKEW,     /* third standardised moment, 0 for a constant window */
	LG_FEAT_KURTOSIS, /* fourth standardised moment (3 for a Gaussian), 0 for a constant */
	LG_FEAT_N,
};

extern const char *const lg_feature_names[LG_FEAT_N];

/* Compute the features of x[0], x[stride], ... x[(n-1)*stride] into row. */
void lg_features_row(const float *x, size_t n, size_t stride, float *row);

#endif /* LINEGATE_FEATURES_H */
