/* SPDX-License-Identifier: MIT */
/* Inside the feature extractor: one spectrum plan per window size, two ways to fill it. */
#ifndef LG_FEATURES_IMPL_H
#define LG_FEATURES_IMPL_H

#include <linegate/features.h>

#include <stdbool.h>

struct lg_spec_kernels;

struct lg_spec {
	size_t n;        /* samples per window; 0 = slot unused */
	size_t klo, khi; /* the bins any band needs: [klo, khi) */
	size_t bstart[LG_FEAT_BANDS + 1]; /* band b: bins klo + [bstart[b], bstart[b + 1]) */
	float *wt;       /* per bin: one-sided weight / n^2, so energies sum to the mean square */
	float *taper;    /* n, or NULL for none */
	float *power;    /* K (GEMM: max_batch x K): |X_k|^2 of the bins [klo, khi) */
	size_t okhi;     /* bins [0, okhi) hold every order up to the 10th (0: klo > 0, or n too
			  * short to resolve the shaft: the orders are 0) */
	double *op, *owt; /* okhi: one window's power in double, and the bin weights */
	/* FFTW */
	void *plan_one; /* fftwf_plan: one window, in -> out (basic layout, even n: a complex
			 * transform of n/2 points, below) */
	float *in;      /* n, aligned */
	void *out;      /* n/2 + 1 fftwf_complex */
	/* Basic layout, even n (lg_spec_fftw_init_basic): plan_one transforms the window as n/2
	 * complex points z_m = x_2m + i x_2m+1 into Z (out; Z_n/2 = Z_0 is appended), and the
	 * spectrum's bins are X_k = ((Z_k + conj Z_n/2-k) - i W^k (Z_k - conj Z_n/2-k)) / 2,
	 * W^k = cos(2 pi k / n) - i sin(2 pi k / n). */
	float *hcos, *hsin; /* n/2 + 1 each; NULL: plan_one is an r2c transform */
	/* GEMM */
	float *basis; /* n x 2K (K = khi - klo): cos columns, then -sin columns */
	float *prod;  /* max_batch x 2K */
	/* LG_LAYOUT_BANDS96_TIME5 (features_wide.c): plan_one, in and out as above */
	size_t nwb;     /* bands */
	size_t *wedge;  /* nwb + 1 bin edges */
	double *wcum;   /* n/2 + 1: prefix sums of the power */
	double *wtaper; /* n: periodic Hann */
	double wscale;  /* 1 / (n sum w^2) */
	void *plan_c2r; /* fftwf_plan: out -> in, for the fs/8 high-pass */
	/* LG_LAYOUT_ORDERS96_TIME5 (features_wide.c): the speed ratio's grid and scratch */
	size_t om;        /* grid points (lg_order_grid_len(n)) */
	unsigned *ok;     /* om: bin k with ln k <= u_i < ln(k + 1) */
	double *ofrac;    /* om: (u_i - ln k) / (ln(k + 1) - ln k) */
	double *osum;     /* n/2 + 1: the channels' normalised spectra, summed */
	double *ocum;     /* om + 1: prefix sums of the log spectrum on the grid */
	double *olines;   /* om: a device window's lines */
	size_t oL;        /* the correlation's FFT length: a power of two >= 2 om */
	float *oa, *ob;   /* oL each: the window's and the reference's lines, zero-padded */
	void *oA, *oB;    /* oL/2 + 1 fftwf_complex each */
	void *oplan_a, *oplan_b, *oplan_x; /* r2c oa -> oA, r2c ob -> oB, c2r oA -> oa */
};

struct lg_features {
	enum lg_feat_layout layout;
	struct lg_bands bands;
	enum lg_spectrum_method method;
	const struct lg_time_kernels *time; /* the ISA's time-domain passes */
	const struct lg_spec_kernels *kern; /* the same ISA's per-bin passes */
	size_t max_batch;
	unsigned next; /* slot to reuse when all are taken */
	struct lg_spec spec[6];
};

int lg_spec_fftw_init(struct lg_spec *s);
/* The basic layout's: for even n a complex transform of n/2 points (hcos, hsin). */
int lg_spec_fftw_init_basic(struct lg_spec *s);
/* |X_k|^2 of the bins [klo, khi) of one window of s->n samples into s->power. */
void lg_spec_fftw_power(struct lg_spec *s, const struct lg_spec_kernels *k, const float *x);
void lg_spec_fftw_free(struct lg_spec *s);
/* The wide layout's slot (features_wide.c): plans, taper and band edges. */
int lg_spec_wide_init(struct lg_spec *s, bool orders);
void lg_spec_wide_free(struct lg_spec *s);
void lg_spec_wide_row(struct lg_spec *s, const float *x, float *row);
/* The orders96-time5 row at speed ratio r. */
void lg_spec_orders_row(struct lg_spec *s, const float *x, double r, float *row);
void lg_spec_order_lines(struct lg_spec *s, const float *x, unsigned nch, size_t chstride,
			 double *lines);
double lg_spec_order_ratio(struct lg_spec *s, const double *lines, const float *ref);
/* FFTW's planner is not thread-safe: every plan is made under this lock. */
void lg_fftw_plan_lock(void);
void lg_fftw_plan_unlock(void);

int lg_spec_gemm_init(struct lg_spec *s, size_t max_batch);
void lg_spec_gemm_power(struct lg_spec *s, const float *x, size_t nwin, size_t xstride);
void lg_spec_gemm_free(struct lg_spec *s);

#endif
