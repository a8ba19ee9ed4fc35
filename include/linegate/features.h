/* SPDX-License-Identifier: MIT */
/*
 * Window features: one row of LG_FEAT_N floats per (device, channel, window),
 * written straight into a row of the batch matrix the model reads.
 *
 * A row holds six time-domain statistics followed by LG_FEAT_BANDS band energies
 * of the window's spectrum. Where the bands lie (struct lg_bands) is a parameter
 * of the model and travels in its file, so a model is always fed the bands it was
 * trained on. The spectrum is computed either with FFTW, window by window (an even window
 * as a complex transform of half its length, the real transform's last step done by the
 * extractor), or as one sgemm of the windows against a cos/sin basis (docs/models.md has both
 * and their cost); a feature extractor (struct lg_features) holds the plans or
 * bases per window size, made once, outside the hot path.
 */
#ifndef LINEGATE_FEATURES_H
#define LINEGATE_FEATURES_H

#include <stddef.h>

#include <linegate/impact.h>
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
	LG_SPECTRUM_FFTW, /* FFTW, one window at a time, planned once per size */
	LG_SPECTRUM_GEMM, /* one sgemm of the batch against a cos/sin basis (n <= 2048) */
};

#define LG_SPECTRUM_DEFAULT LG_SPECTRUM_FFTW
#define LG_SPECTRUM_GEMM_MAX_N 2048

struct lg_features;

/* A feature extractor with this band layout (NULL: the default) that transforms up to
 * max_batch windows at once (GEMM; FFTW transforms one window after the other, so that a
 * window's row has the same bits whatever the batch). */
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
 * contiguous; its row is rows + i * lg_features_width(layout, n) (LG_FEAT_N for the basic
 * layout). Any nwin works (batches are split).
 * A window size that was not prepared is planned here, with FFTW_ESTIMATE.
 * Returns 0, or -ENOMEM / -EINVAL (the rows are then zero).
 */
int lg_features_rows(struct lg_features *fx, const float *x, size_t nwin, size_t n,
		     size_t xstride, float *rows);

/*
 * Feature layouts (issue 8). A model file names its layout ("layout"; files without one
 * are LG_LAYOUT_BASIC); an extractor makes the rows of one layout, and a row of windows of
 * n samples has lg_features_width(layout, n) floats.
 *
 * LG_LAYOUT_BANDS96_TIME5, "bands96-time5" (bench/quality_proto.py's bands + time blocks):
 * the window x is centred (x - mean, in double), and
 *  - bands: its periodic-Hann-tapered power spectrum P_k = |X_k|^2 / (n sum w^2) pooled
 *    into the bins [e_b, e_b+1) of 96 geometrically spaced bands over bins 1 .. n/2 (edges
 *    rint(10^(b log10(n/2) / 96)), duplicates merged: lg_features_wide_bands(n) of them,
 *    72 at n = 2048), each log10(sum + 1e-12); prefix sums in double;
 *  - 5 time features: log10(ms + 1e-12), ln(kurtosis + 1e-9), ln(kurtosis_hp + 1e-9),
 *    ln(crest + 1e-9), log10(ms_hp + 1e-12), where ms, kurtosis (m4 / (m2^2 + 1e-12)) and
 *    crest (peak / sqrt(ms + 1e-12)) are of the centred window and _hp of the window
 *    high-passed at fs/8: its untapered spectrum with the bins below n/8 zeroed, bin
 *    ceil(n/8) halved, transformed back (FFTW c2r). The prototype finds the edge with
 *    fftfreq, which puts bin n/8 on either side of fs/8 by rounding, depending on fs; here
 *    it is always at the edge, so the extractor needs no sample rate.
 * Windows of at least LG_WIDE_MIN_N (even) samples; FFTW only.
 *
 * LG_LAYOUT_ORDERS96_TIME5, "orders96-time5" (issue 8 step 6, quality_proto.py's ord +
 * time blocks, order_bands()): the same row, but the band edges e <= n/4 (the lower half
 * of the spectrum) are read at e x r on the same prefix sums, the cumulative power
 * interpolated linearly at the fractional edge (edges clipped to n/2 and kept rising), so
 * that a line moving with the shaft speed stays in its band; the upper half (resonances,
 * fixed in Hz) stays in Hz. r is the window's speed relative to the device's reference
 * (lg_features_speed_ratio(), below), one per device window shared by its channels; at
 * r = 1 the row is the bands96-time5 row bit for bit.
 */
enum lg_feat_layout {
	LG_LAYOUT_BASIC,          /* LG_FEAT_N: time statistics, struct lg_bands, orders */
	LG_LAYOUT_BANDS96_TIME5,  /* lg_features_wide_bands(n) + LG_WIDE_TIME_N */
	LG_LAYOUT_ORDERS96_TIME5, /* as wide as BANDS96_TIME5; needs a speed ratio per window */
	/* "orders96-time5-imp9" (issue 8 step 6e.2): the orders96-time5 row, then the nine impact
	 * features of its channel (impact.h). The extractor writes the orders part and zeros
	 * for the nine; the caller, who has the device's "impact" (its detector's), fills them
	 * (lg_impact_window()), 0 where the window holds fewer than LG_IMP_MIN_REVS revolutions */
	LG_LAYOUT_ORDERS96_TIME5_IMP9,
	/* "orders96-time5-imp10" (issue 8 step 6e.3): the -imp9 row, then floor_lines of its
	 * channel (lg_impact_floor_lines()); filled by the caller as the nine are
	 * (lg_impact_tail()) */
	LG_LAYOUT_ORDERS96_TIME5_IMP10,
	/* "orders96-time5-imp11" (step 6e.3): the -imp10 row, then tsa3 of its channel (over
	 * the device's last windows: struct lg_imp_hist); filled by the caller likewise */
	LG_LAYOUT_ORDERS96_TIME5_IMP11,
};
#define LG_LAYOUT_COUNT 6

/* Whether rows of the layout are read in orders (a speed ratio per window, "order_ref"). */
static inline int lg_layout_orders(enum lg_feat_layout layout)
{
	return layout == LG_LAYOUT_ORDERS96_TIME5 || layout == LG_LAYOUT_ORDERS96_TIME5_IMP9 ||
	       layout == LG_LAYOUT_ORDERS96_TIME5_IMP10 || layout == LG_LAYOUT_ORDERS96_TIME5_IMP11;
}

/* The impact tail of the layout's rows (the caller's to fill, lg_impact_tail()): 0, the nine
 * (-imp9), the nine and floor_lines (-imp10), and tsa3 (-imp11). */
static inline unsigned lg_layout_imp_n(enum lg_feat_layout layout)
{
	return layout == LG_LAYOUT_ORDERS96_TIME5_IMP9	? 9u :
	       layout == LG_LAYOUT_ORDERS96_TIME5_IMP10 ? 10u :
	       layout == LG_LAYOUT_ORDERS96_TIME5_IMP11 ? 11u :
							  0u;
}

#define LG_WIDE_NBANDS 96
#define LG_WIDE_TIME_N 5
#define LG_WIDE_MIN_N 16
#define LG_ORD_MIN_N 256 /* orders96-time5: windows of at least this many samples */
/* The widest row any layout makes: the batch is sized for it. */
#define LG_FEAT_ROW_MAX (LG_WIDE_NBANDS + LG_WIDE_TIME_N + LG_IMP_NMAX)

const char *lg_feat_layout_name(enum lg_feat_layout layout);
int lg_feat_layout_parse(const char *name, enum lg_feat_layout *layout);
/* Floats per row of windows of n samples (0: the layout cannot take such windows). */
size_t lg_features_width(enum lg_feat_layout layout, size_t n);
/* Bands of the wide layout at window n (0 below LG_WIDE_MIN_N or for odd n); edges (may be
 * NULL) gets the bands + 1 bin edges. */
size_t lg_features_wide_bands(size_t n, size_t *edges);
/* Feature j's name in a row of the layout at window n ("wband12", "log_ms", ...). */
void lg_features_name(enum lg_feat_layout layout, size_t n, size_t j, char *buf, size_t len);
/* An extractor of the layout; bands is used by LG_LAYOUT_BASIC only. */
int lg_features_new_layout(struct lg_features **fx, enum lg_feat_layout layout,
			   const struct lg_bands *bands, enum lg_spectrum_method method,
			   size_t max_batch);
enum lg_feat_layout lg_features_layout(const struct lg_features *fx);

/*
 * The speed ratio of a device window (orders96-time5; quality_proto.py's lines_loggrid()
 * and speed_ratio()), from the spectra alone, no tachometer: each channel's periodic-Hann
 * power spectrum P_k (k = 0 .. n/2, as the bands) divided by its mean over those bins
 * (+ 1e-12), summed over the channels; log10(S_k + 1e-12) interpolated linearly in ln k on
 * a grid u_i = ln(LG_ORD_LO_BIN) + i LG_ORD_STEP, i < M, M = ceil((ln(LG_ORD_HI n) -
 * ln(LG_ORD_LO_BIN)) / LG_ORD_STEP) (2027 at n = 2048, whatever the rate); minus its mean over
 * the grid points within +-LG_ORD_SMOOTH (fewer at the ends); negative part cut: the
 * "lines". r = exp(LG_ORD_STEP s), s the shift (-LG_ORD_SPAN .. LG_ORD_SPAN) that maximises
 * sum_i a[i + s] b[i] (a, b: the window's and the reference's lines minus their means; an
 * FFTW r2c/c2r pair of a power of two >= 2M), refined by a parabola through the maximum
 * and its neighbours. The reference lines are the mean lines of the device's first training
 * windows (linegate-train), carried in the model ("order_ref", docs/models.md).
 */
#define LG_ORD_STEP 0.002
#define LG_ORD_LO_BIN 16
#define LG_ORD_HI 0.45 /* of n: the grid ends at bin 0.45 n (0.45 fs) */
#define LG_ORD_SMOOTH 50
#define LG_ORD_SPAN 300
/* A model's reference lines are refused above this value, when all are 0, or when one
 * holds more than this share of their sum (lg_order_ref_check()). */
#define LG_ORD_LINE_MAX 20.0
#define LG_ORD_LINE_SHARE 0.25

/* A model's reference lines (its "order_ref"): the grid start (ln of a bin), step, bin
 * range and the M values on it. */
struct lg_order_ref {
	double start, step, lo_bin, hi_bin;
	size_t m;
	float *lines; /* m; NULL: none */
};

/* M, the grid points of windows of n samples (0 if the layout cannot take them). */
size_t lg_order_grid_len(size_t n);
/* The grid this linegate computes at window n: start, step, bins and m (lines NULL). */
void lg_order_grid(size_t n, struct lg_order_ref *g);
/* NULL if ref is the grid this linegate computes at window n, else what is wrong (a
 * sentence naming the field). */
const char *lg_order_ref_check(const struct lg_order_ref *ref, size_t n);
/* The lines (lg_order_grid_len(n) doubles) of one device window: nch channels of n
 * samples, channel c at x + c * chstride. fx must be of the orders96-time5 layout. */
int lg_features_order_lines(struct lg_features *fx, const float *x, unsigned nch, size_t n,
			    size_t chstride, double *lines);
/* The speed ratio of one device window against ref (its m must be the grid's at n). */
int lg_features_speed_ratio(struct lg_features *fx, const float *x, unsigned nch, size_t n,
			    size_t chstride, const struct lg_order_ref *ref, double *r);
/* The ratio of lines (the grid's M) against ref, as lg_features_speed_ratio() finds it. */
int lg_features_ratio_of_lines(struct lg_features *fx, size_t n, const double *lines,
			       const struct lg_order_ref *ref, double *r);
/* lg_features_rows() with window i read at speed ratio r[i] (r NULL: all 1); r is read by
 * the orders96-time5 layout only. */
int lg_features_rows_ratio(struct lg_features *fx, const float *x, size_t nwin, size_t n,
			   size_t xstride, const double *r, float *rows);

/* A sensor dropout (issue 8): a run of at least LG_DROPOUT_RUN exactly equal consecutive
 * samples (a sensor that holds its last value; NaN equals nothing). Such windows are neither
 * trained on by the kNN detector nor scored by a model that says so ("dropout_run"). */
#define LG_DROPOUT_RUN 16
/* 1 if x[0 .. n-1] holds a run of >= run equal samples, else 0. */
int lg_window_dropout(const float *x, size_t n, size_t run);

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
