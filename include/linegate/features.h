/* SPDX-License-Identifier: MIT */
/*
 * Window features: one row of LG_FEAT_N floats per (device, channel, window),
 * written straight into a row of the batch matrix the model reads.
 *
 * A row holds six time-domain statistics followed by LG_FEAT_BANDS band energies
 * of the window's spectrum. Where the bands lie (struct lg_bands) is a parameter
 * of the model and travels in its file, so a model is always fed the bands it was
 * trained on. The spectrum is computed either with FFTW's batched real transforms
 * or as one sgemm of the windows against a cos/sin basis (docs/models.md has both
 * and their cost); a feature extractor (struct lg_features) holds the plans or
 * bases per window size, made once, outside the hot path.
 */
#ifndef LINEGATE_FEATURES_H
#define LINEGATE_FEATURES_H

#include <stddef.h>

#include <linegate/isa.h>

#define LG_FEAT_BANDS 8

enum lg_feature {
	LG_FEAT_MEAN,
	LG_FEAT_RMS,
	LG_FEAT_PEAK,     /* largest absolute value */
	LG_FEAT_CREST,    /* peak / RMS, 0 for an all-zero window */
	LG_FEAT_SKEW,     /* third standardised moment, 0 for a constant window */
	LG_FEAT_KURTOSIS, /* fourth standardised moment (3 for a Gaussian), 0 for a constant */
	LG_FEAT_TIME_N,
	/* 10 log10(E_b + floor): E_b is band b's share of the mean square (the bands of a
	 * layout that covers DC to Nyquist sum to rms^2, Parseval). */
	LG_FEAT_BAND0 = LG_FEAT_TIME_N,
	/* Shaft orders: the strongest line in the layout's order range is taken as 1x, f1;
	 * E(h) is the energy within +-1 bin of h f1. Ratios to E(1) do not move with load
	 * or speed; imbalance lowers them, looseness raises them. */
	LG_FEAT_ORDER1 = LG_FEAT_BAND0 + LG_FEAT_BANDS, /* f1, as a fraction of Nyquist */
	LG_FEAT_ORDER2_DB, /* 10 log10((E(2) + floor) / (E(1) + floor)) */
	LG_FEAT_ORDER3_DB, /* the same for the third order */
	LG_FEAT_ORDER4_10_DB, /* the same for the sum of orders 4 to 10 */
	LG_FEAT_N,
};

extern const char *const lg_feature_names[LG_FEAT_N];

/*
 * The window is multiplied by the taper w (sum of squares S = sum w_t^2), transformed
 * (X_k), and E_b = sum over band b's bins of c_k |X_k|^2 / (n S), with c_k = 1 for
 * DC and Nyquist and 2 for the others (each stands for itself and its mirror).
 * Band b holds the spectrum's bins k (0 <= k <= n/2) whose frequency, as a fraction
 * of Nyquist (k / (n/2)), lies in [edge[b], edge[b+1]); the last band also holds
 * edge[LG_FEAT_BANDS] itself. Edges rise strictly from edge[0] >= 0 to at most 1.
 * Fractions of Nyquist, not Hz, so one layout fits any window and sample rate.
 */
enum lg_taper {
	LG_TAPER_RECT, /* none: E_b sum exactly to the window's mean square */
	LG_TAPER_HANN, /* periodic Hann: far less leakage from strong low harmonics; E_b sum
			* to the tapered mean square over the taper's mean square */
};

struct lg_bands {
	double edge[LG_FEAT_BANDS + 1];
	double floor; /* added to each energy before the log, in signal units squared */
	enum lg_taper taper;
	/* Where to look for the shaft's 1x line, as fractions of Nyquist (lo < hi). The
	 * order features are 0 unless the layout starts at DC (edge[0] = 0) and the window
	 * resolves the range: lo n/2 >= 2 bins, and at least 3 bins between lo and hi
	 * (n >= 1024 for the default at any rate). */
	double order_lo, order_hi;
};

/* The default layout: DC alone, then octaves up to Nyquist (1/128, 1/64, ... 1/2, 1),
 * Hann taper, floor 1e-6, 1x searched between 0.002 and 0.008 of Nyquist (10-40 Hz at
 * 10 kHz). */
void lg_bands_default(struct lg_bands *b);
/* 0 if the layout is usable, -EINVAL if not. */
int lg_bands_check(const struct lg_bands *b);
/* 1 if two layouts give the same features, else 0 (compare fields, not bytes). */
int lg_bands_equal(const struct lg_bands *a, const struct lg_bands *b);

enum lg_spectrum_method {
	LG_SPECTRUM_FFTW, /* batched r2c transforms, planned once per window size */
	LG_SPECTRUM_GEMM, /* one sgemm of the batch against a cos/sin basis (n <= 2048) */
};

#define LG_SPECTRUM_DEFAULT LG_SPECTRUM_FFTW
#define LG_SPECTRUM_GEMM_MAX_N 2048

struct lg_features;

/* A feature extractor with this band layout (NULL: the default) that transforms up to
 * max_batch windows at once. */
int lg_features_new(struct lg_features **fx, const struct lg_bands *bands,
		    enum lg_spectrum_method method, size_t max_batch);
void lg_features_free(struct lg_features *fx);
const struct lg_bands *lg_features_bands(const struct lg_features *fx);
/* The ISA of the time-domain statistics (AUTO, the default: the best this CPU has), for tests
 * and benchmarks. Returns -ENOTSUP, changing nothing, if the CPU lacks it. */
int lg_features_set_isa(struct lg_features *fx, enum lg_model_isa isa);
/* Plan for windows of n samples now (an FFTW plan or the basis), so that the first
 * window of that size does not plan on the hot path. A few sizes are kept. Plans are made
 * without timing candidates (FFTW_ESTIMATE): the same windows give the same bits. */
int lg_features_prepare(struct lg_features *fx, size_t n);
/*
 * Features of nwin windows of n samples: window i starts at x + i * xstride and is
 * contiguous; its row is rows + i * LG_FEAT_N. Any nwin works (batches are split).
 * A window size that was not prepared is planned here, with FFTW_ESTIMATE.
 * Returns 0, or -ENOMEM / -EINVAL (the rows are then zero).
 */
int lg_features_rows(struct lg_features *fx, const float *x, size_t nwin, size_t n,
		     size_t xstride, float *rows);

/* The order features (row[LG_FEAT_ORDER1 ...]) of one window, from its power spectrum
 * as defined above, straight from the definition in double: for the tests. */
void lg_orders_reference(const struct lg_bands *b, const float *x, size_t n, double *out);
/*
 * The time-domain features only (row[0 .. LG_FEAT_TIME_N-1]) of x[0], x[stride], ...
 * Contiguous windows (stride 1) run in float SIMD lanes with the best ISA this CPU has (AVX-512,
 * AVX2 or scalar, chosen once); every ISA gives the same row, bit for bit, within the float
 * rounding and about 1e-7 of the exact statistics (the mean's error relative to the spread,
 * not to the mean, so a large offset costs no digits of skewness or kurtosis).
 * Strided windows, and windows holding a NaN or an infinity or with a peak outside
 * [2^-64, 2^64], take one serial double loop instead, on every ISA. Its results: an empty
 * window gives zeros; a NaN sample gives mean and rms NaN, the peak of the other samples,
 * crest, skewness and kurtosis 0; an infinity (and no NaN) gives mean +-inf (NaN if both
 * signs), rms and peak inf, crest NaN, skewness and kurtosis 0.
 */
void lg_features_time(const float *x, size_t n, size_t stride, float *row);
/* The same with a given ISA, for tests and benchmarks: -ENOTSUP if the CPU lacks it. */
int lg_features_time_isa(enum lg_model_isa isa, const float *x, size_t n, size_t stride,
			 float *row);
/* Band energies E_b (linear, not logged) of one window, straight from the definition
 * in double precision, O(n^2): the reference the tests hold both methods to. */
void lg_bands_reference(const struct lg_bands *b, const float *x, size_t n, double *energy);

#endif /* LINEGATE_FEATURES_H */
