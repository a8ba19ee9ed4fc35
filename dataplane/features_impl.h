/* SPDX-License-Identifier: MIT */
/* Inside the feature extractor: one spectrum plan per window size, two ways to fill it. */
#ifndef LG_FEATURES_IMPL_H
#define LG_FEATURES_IMPL_H

#include <linegate/features.h>

#include <stdbool.h>

struct lg_spec {
	size_t n;        /* samples per window; 0 = slot unused */
	size_t klo, khi; /* the bins any band needs: [klo, khi) */
	size_t bstart[LG_FEAT_BANDS + 1]; /* band b: bins klo + [bstart[b], bstart[b + 1]) */
	float *wt;       /* per bin: one-sided weight / n^2, so energies sum to the mean square */
	float *taper;    /* n, or NULL for none */
	float *power;    /* max_batch x K: |X_k|^2 of the bins [klo, khi) */
	size_t okhi;     /* bins [0, okhi) hold every order up to the 10th (0: klo > 0) */
	double *op, *owt; /* okhi: one window's power in double, and the bin weights */
	/* FFTW */
	void *plan_many, *plan_one; /* fftwf_plan, for max_batch windows and for one */
	float *in;                  /* max_batch x n, aligned */
	void *out;                  /* max_batch x (n/2 + 1) fftwf_complex */
	/* GEMM */
	float *basis; /* n x 2K (K = khi - klo): cos columns, then -sin columns */
	float *prod;  /* max_batch x 2K */
};

struct lg_features {
	struct lg_bands bands;
	enum lg_spectrum_method method;
	const struct lg_time_kernels *time; /* the ISA's time-domain passes */
	size_t max_batch;
	unsigned next; /* slot to reuse when all are taken */
	struct lg_spec spec[4];
};

int lg_spec_fftw_init(struct lg_spec *s, size_t max_batch);
/* |X_k|^2 of the bins [klo, khi) of nwin <= max_batch windows into s->power. */
void lg_spec_fftw_power(struct lg_spec *s, size_t max_batch, const float *x, size_t nwin,
			size_t xstride);
void lg_spec_fftw_free(struct lg_spec *s);

int lg_spec_gemm_init(struct lg_spec *s, size_t max_batch);
void lg_spec_gemm_power(struct lg_spec *s, const float *x, size_t nwin, size_t xstride);
void lg_spec_gemm_free(struct lg_spec *s);

#endif
