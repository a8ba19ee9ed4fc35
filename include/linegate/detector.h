/* SPDX-License-Identifier: MIT */
/*
 * Built-in detectors trained on the server from captured normal windows.
 *
 * Both kinds score a row x as |W (x - mean)|^2 / denom with one d x d matrix W, so a
 * batch is scored with one sgemm whatever the kind:
 *  - Mahalanobis: W = Lambda^-1/2 U^T whitens the training covariance U Lambda U^T;
 *    denom = the number of eigenvalues above 1e-6 of the largest (d unless some
 *    feature never varied), so healthy rows score 1 on average.
 *  - PCA reconstruction error: features are standardised (S = diag(sd)^-1), the k
 *    leading principal components V_k of the standardised data are kept, and
 *    W = (I - V_k V_k^T) S is the residual off that subspace; denom = d - k.
 *
 * Models are fitted from sufficient statistics (count, sum, sum of outer products,
 * in double), which can be exported, merged across servers (federated) and noised
 * for differential privacy before they leave a line; thresholds come from quantiles
 * of the scores of local rows. Model and statistics files are JSON (docs/models.md).
 */
#ifndef LINEGATE_DETECTOR_H
#define LINEGATE_DETECTOR_H

#include <linegate/features.h>
#include <linegate/impact.h>

#include <math.h>
#include <stddef.h>
#include <stdint.h>

enum lg_detector_kind {
	LG_DETECTOR_MAHALANOBIS,
	LG_DETECTOR_PCA,
	LG_DETECTOR_KNN, /* nearest training row (issue 8): lg_detector_knn_fit(), below */
};

/* kNN: training rows kept per channel (a greedy k-centre cover), and at most in a file. */
#define LG_KNN_CAP 128
#define LG_KNN_MAX_ROWS 8192

/* Bins per feature of a detector's drift reference: the training rows' deciles. */
#define LG_REF_BINS 10

/* Set points a detector records for a retrain ("retrain": "setpoints_hz"), at most. */
#define LG_REFIT_SP_MAX 16

struct lg_detector {
	char name[64];
	unsigned version;
	enum lg_detector_kind kind;
	size_t d;            /* features per row */
	size_t k;            /* PCA: components kept */
	float *mean;         /* d */
	float *w;            /* d x d, row-major */
	float denom;         /* rank (Mahalanobis) or d - k (PCA) */
	float threshold;     /* alert when score > threshold */
	unsigned window;     /* samples per window it was trained on (0: not recorded). In a
			      * set, a detector for named devices may have its own (a window per
			      * device, issue 8 step 6e): the data plane forms those devices'
			      * windows at that length; the default's is the set's */
	double sample_rate;  /* samples per second it was trained on (0: not recorded); the data
			      * plane refuses frames and devices of another rate */
	unsigned channels;   /* channels of the device windows it was trained on (file
			      * "channels", 1..16; 0: not recorded, any count scored as before);
			      * the data plane drops frames of another count (channels) */
	char digest[65];     /* SHA-256 of the training samples, hex ("" = not recorded) */
	char signer[65];     /* Ed25519 public key (hex) meant to sign it ("" = not recorded) */
	struct lg_bands bands;     /* the band layout the model was trained on */
	enum lg_feat_layout layout; /* its rows ("layout" in the file; absent: basic) */
	struct lg_features *fx;    /* feature extractor for that layout */
	/* Drift: the training rows' distribution of each feature, for PSI (dataplane/drift.h).
	 * Bin b of feature j holds values v with edge[j][b-1] < v <= edge[j][b] (the outer
	 * bins open-ended); frac[j][b] is the training rows' share of it, for j < d (the basic
	 * row and the wide ones alike; a kNN per channel has one in each ch[c]). has_ref 0: the
	 * model carries none (an older file, an ONNX model) and PSI is off for it. */
	int has_ref;
	double (*ref_edge)[LG_REF_BINS - 1]; /* d, allocated with the reference */
	double (*ref_frac)[LG_REF_BINS];     /* d */
	/* The PSI each feature reached on the training recording's own consecutive blocks of
	 * ref_block windows against this reference (the largest block's): how far a healthy
	 * block of that line strays from the whole, e.g. while it holds one operating point of
	 * several. The data plane raises PSI drift only above psi_threshold + ref_floor[j].
	 * NULL (ref_block 0): not measured (an older file, simulated machines), 0 each. */
	double *ref_floor;   /* d */
	uint32_t ref_block;  /* windows per block it was measured on */
	size_t max_batch;
	float *work;         /* max_batch x d scratch, allocated once */
	/* LG_DETECTOR_KNN (issue 8): z = (x - mean) * scale, scale_j = sqrt(fweight_j) / sd_j;
	 * score = sqrt(min_j |z - t_j|^2 / d), the RMS distance per feature to the nearest kept
	 * training row t_j (standardised and weighted like z). One sgemm (batch x d by d x m)
	 * and a row minimum per batch (knn.h, the best ISA the CPU has). mean is the training
	 * rows' mean; w and denom are unused. */
	float *sd, *fweight, *scale; /* d each */
	float *train;                /* m x d */
	float *tnorm;                /* m: |t_j|^2 */
	float *kwork;                /* max_batch x m */
	size_t m;
	enum lg_model_isa knn_isa;   /* the row minimum's ISA (AUTO: the best) */
	/* > 0 (file "dropout_run", written by linegate-train --detector knn): a window holding
	 * a run of that many equal samples is a sensor dropout, not scored (the data plane
	 * counts it, linegate_windows_dropout_total); 0: every window is scored (older files) */
	unsigned dropout_run;
	/* > 0 (file "normal_level", written by linegate-train, issue 8 trial s19 C H2): what a
	 * healthy device window of this detector scores, over its threshold, at the 99%
	 * quantile of its held-back healthy windows (at most 1). An open incident takes a
	 * window as normal below threshold x max(the policy's hysteresis, this level): a kNN
	 * model's healthy windows score near 0.8 of its threshold, and under the policy's 0.8
	 * alone its incidents never resolved. 0: not recorded (older files): the policy's. */
	float normal_level;
	/* kNN per channel (issue 8, file "per_channel"; absent: nch 0, one detector for every
	 * channel as before): nch > 0 sub-detectors, channel c of a device scored by ch[c] with
	 * its own standardisation, kept rows and threshold, the score then multiplied by
	 * threshold / ch[c].threshold so that this detector's one threshold holds for every
	 * channel. The fields above are channel 0's (a reader without per_channel scores with
	 * them). Row i of lg_detector_score() is channel i % nch. */
	unsigned nch;
	struct lg_detector *ch;
	/* The orders96-time5 layout (issue 8 step 6, file "order_ref"): the device's reference
	 * lines, against which each device window's speed ratio is found (features.h); the
	 * channels share it (ch[c] have none). lines NULL: another layout. */
	struct lg_order_ref oref;
	/* Impact features (issue 8 step 6e.2, impact.h; file "impact"): the device's reference
	 * speed in Hz (0: none, the rest unused), what its operator declared (gear teeth; the
	 * bearing's ball-pass orders, 0 without a bearing) and each of its nch channels'
	 * resonance band in Hz, found in training. A set with one is format 2.
	 * orders96-time5-imp10 (step 6e.3) adds floor_lines' own reference speed and bands
	 * ("floor_ref_speed_hz", "floor_bands_hz"): found the same way on the Hann spectra, as
	 * the prototype's floor_blocks() does (impact.h); floor_ref_hz 0: none. */
	struct lg_imp_model {
		double ref_hz;
		struct lg_imp_plate plate;
		unsigned nch;
		double band[LG_IMP_CH_MAX][2];
		double floor_ref_hz;
		double floor_band[LG_IMP_CH_MAX][2];
	} imp;
	/* What linegate-train --base needs to fit this device's detector again from a new
	 * recording as it was first fitted (issue 8, file "retrain"; the data plane does not
	 * use it, and a linegate before it ignores it): has_g, the line's pooled g (each
	 * channel's threshold was q50 + g (q90 - q50) of its calibration scores, g the line's
	 * quantile of normalised scores, linegate-train's pooled threshold), and the nsp set
	 * points in Hz its operator declared (--nameplate: the impact layouts find the reference
	 * speed among them; gear teeth and bearing orders are in imp.plate). Its window, layout,
	 * kind and the set's smoothing are in the model already. */
	struct lg_refit {
		int has_g;
		double g;
		unsigned nsp;
		double sp[LG_REFIT_SP_MAX];
	} refit;
	unsigned *cidx;  /* max_batch: rows of one channel */
	float *cpart;    /* max_batch: their scores */
};

/* Sufficient statistics of rows y = clip((x - shift) / scale): count, sum y, sum y y^T. */
struct lg_stats {
	size_t d;
	double n;
	double *shift; /* d: a public reference subtracted from every row (zeros by default) */
	double *scale; /* d: then divided by this (ones by default), so a clip bounds every
			* feature alike (the reference's standard deviations) */
	double *sum;   /* d */
	double *sxx;   /* d x d, symmetric */
	double clip;   /* > 0: each y is scaled down to at most this L2 norm */
	struct lg_bands bands;
	double dp_sigma;       /* standard deviation of the noise added so far (0: none) */
	double dp_epsilon, dp_delta; /* of the last noise added */
	/* What a row means, as a model file records it: the windows' sample rate and length
	 * and the feature layout (lg_stats_set_meta(); a file must carry them, and a merge
	 * needs them equal). rate 0 / window 0: not set. */
	double sample_rate;
	unsigned window;
	enum lg_feat_layout layout;
	/* rows lg_stats_add() scaled down to the clip, of the rows it took (this process only:
	 * not saved, not noised; the exporter's own check that the clip suits its rows) */
	double nclipped, nadded;
};

/* shift may be NULL (zeros), bands NULL (the default layout), clip 0 (none). */
int lg_stats_init(struct lg_stats *st, size_t d, const double *shift, double clip,
		  const struct lg_bands *bands);
void lg_stats_free(struct lg_stats *st);
/* The windows' sample rate (> 0), length (> 0) and the rows' layout (d its width). */
int lg_stats_set_meta(struct lg_stats *st, double sample_rate, unsigned window,
		      enum lg_feat_layout layout);
/* NULL when a and b can merge, else what differs ("sample rate", "window", "feature layout",
 * "features", "band layout", "clip", "shift", "scale"). */
const char *lg_stats_differ(const struct lg_stats *a, const struct lg_stats *b);
/* Divide rows by scale (d positive numbers) after the shift; before any row is added. */
int lg_stats_set_scale(struct lg_stats *st, const double *scale);
void lg_stats_add(struct lg_stats *st, const float *rows, size_t n);
/* dst += src; both must have the same d, shift, scale, clip, band layout, sample rate, window
 * and feature layout (-EINVAL: lg_stats_differ() says which). */
int lg_stats_merge(struct lg_stats *dst, const struct lg_stats *src);
/*
 * The Gaussian mechanism for (epsilon, delta)-differential privacy with respect to
 * adding or removing one row: with rows clipped to L2 norm C, the vector (count, sum,
 * upper triangle of sum of outer products) changes by at most
 * sqrt(1 + C^2 + C^4) in L2, and sigma = that * sqrt(2 ln(1.25/delta)) / epsilon
 * (valid for 0 < epsilon < 1).
 */
double lg_dp_sigma(double epsilon, double delta, double clip);
/* Add N(0, sigma^2) to count, every sum entry and every upper-triangle entry of sxx
 * (mirrored). Needs clip > 0. seed 0 draws a seed from the kernel. */
int lg_stats_add_noise(struct lg_stats *st, double epsilon, double delta, uint64_t seed);
int lg_stats_save(const struct lg_stats *st, const char *path);
int lg_stats_load(const char *path, struct lg_stats *st, char *err, size_t errlen);
/* Mean (d) and unbiased covariance (d x d) of the rows the statistics describe. */
int lg_stats_moments(const struct lg_stats *st, double *mean, double *cov);

/* A detector from statistics; k is the PCA components kept (0: the fewest that explain
 * 95% of the standardised variance), ignored for Mahalanobis. Threshold left at 0. */
int lg_detector_from_stats(const struct lg_stats *st, enum lg_detector_kind kind, size_t k,
			   size_t max_batch, struct lg_detector *det);
/* Threshold = the q quantile of the scores of n rows, times margin. */
int lg_detector_calibrate(struct lg_detector *det, const float *rows, size_t n, double q,
			  double margin);
/* Mahalanobis from n training rows (n x d) in one step: statistics, fit, calibrate. */
int lg_detector_fit(const float *rows, size_t n, size_t d, double q, double margin,
		    size_t max_batch, struct lg_detector *det);

/*
 * A kNN detector from n training rows (n x d, row-major) of `groups` interleaved channels
 * (row i is channel i % groups; 1: one channel): mean and population standard deviation
 * (+ 1e-3) per feature, feature j weighted fweight[j] (NULL: all 1; its squared distance
 * counts fweight[j] times), then per channel at most cap rows (0: LG_KNN_CAP) chosen by a
 * greedy k-centre cover (the first row, then each the row farthest from those kept), as
 * bench/quality_proto.py's kcentre(). layout is recorded (the rows' layout). Threshold 0:
 * lg_detector_calibrate() it. -EINVAL for no rows or a non-finite one.
 */
int lg_detector_knn_fit(const float *rows, size_t n, size_t d, size_t groups,
			const float *fweight, size_t cap, enum lg_feat_layout layout,
			size_t max_batch, struct lg_detector *det);
/* A kNN detector's (nch 0) score of one row x that may be one of its own kept training rows:
 * the distance to the nearest kept row other than x itself (quality_proto.py: "a training
 * row is not its own neighbour"), so that a training window scores as a window the detector
 * never saw (linegate-train's calibration of smoothed scores). Direct, not the sgemm. */
float lg_detector_knn_score_self(const struct lg_detector *det, const float *x);
/* The kNN row minimum's ISA, for tests and benchmarks: -ENOTSUP if the CPU lacks it. */
int lg_detector_knn_set_isa(struct lg_detector *det, enum lg_model_isa isa);
/*
 * A kNN detector per channel (quality_proto.py's bt16_knn1: each channel standardised and
 * covered on its own): rows are windows x nch channels (row i is channel i % nch, n a
 * multiple of nch); ch[c] is fitted as lg_detector_knn_fit() on channel c's rows alone. The
 * thresholds are set after, per channel (lg_detector_knn_set_channel_threshold()).
 */
int lg_detector_knn_fit_channels(const float *rows, size_t n, size_t d, unsigned nch,
				 const float *fweight, size_t cap, enum lg_feat_layout layout,
				 size_t max_batch, struct lg_detector *det);
/* Channel c's threshold t (> 0); channel 0's is also the detector's own. */
int lg_detector_knn_set_channel_threshold(struct lg_detector *det, unsigned c, float t);

/* The drift reference of n rows (n x det->d, n >= LG_REF_BINS): each feature's deciles
 * as edges and the rows' share of each bin (ties at an edge can make them uneven). */
int lg_detector_set_reference(struct lg_detector *det, const float *rows, size_t n);
/*
 * The reference's floor (ref_floor, ref_block above) from a device's rows in time order
 * (n x det->d, ch rows a window): each feature's largest PSI over the consecutive blocks
 * of `block` windows (block x ch rows; an incomplete last block is not one, as in the
 * data plane) against det's reference; the largest of this call's and any earlier
 * call's, so that several devices sharing a detector each add theirs. No complete block:
 * nothing changes. 0, -EINVAL (no reference), -ENOMEM.
 */
int lg_detector_add_psi_floor(struct lg_detector *det, const float *rows, size_t n,
			      unsigned ch, uint32_t block);
/* PSI of observed bin fractions p against reference fractions q (LG_REF_BINS each),
 * each fraction floored at 1e-4 (LG_PSI_FLOOR, docs/models.md "Drift"). */
double lg_detector_psi(const double *p, const double *q);
/* The reference bin of value v of feature j (0 .. LG_REF_BINS - 1). */
unsigned lg_detector_ref_bin(const struct lg_detector *det, unsigned j, float v);

/*
 * Score smoothing (issue 8 step 6e, a model's "smooth" M): a window's score on a channel is
 * the causal mean of its score and the channel's M - 1 scores before it (fewer at the start;
 * windows not scored, such as sensor dropouts, are not among them), compared with the same
 * threshold. The threshold is calibrated on such means (linegate-train --smooth), so M is
 * the model's, not a setting. The data plane, linegate-train and linegate-quality all call
 * lg_smooth_step(), so they agree bit for bit.
 */
#define LG_SMOOTH_MAX 8

struct lg_smooth_ch {
	float prev[LG_SMOOTH_MAX - 1]; /* the newest first */
	unsigned n;                    /* how many of prev hold a score */
};

/* The mean of score and the last m - 1 kept (m <= LG_SMOOTH_MAX; m <= 1: score); score is
 * kept. A score that is not finite is returned as it is and not kept. */
static inline float lg_smooth_step(struct lg_smooth_ch *h, unsigned m, float score)
{
	unsigned k;
	float sum = score;

	if (m <= 1 || !isfinite(score))
		return score;
	m = m < LG_SMOOTH_MAX ? m : LG_SMOOTH_MAX;
	k = h->n < m - 1 ? h->n : m - 1;
	for (unsigned i = 0; i < k; i++)
		sum += h->prev[i];
	for (unsigned i = m - 2; i > 0; i--)
		h->prev[i] = h->prev[i - 1];
	h->prev[0] = score;
	if (h->n < m - 1)
		h->n++;
	return sum / (float)(k + 1);
}

/* Load a model file; errors go to err as "path: message". */
int lg_detector_load(const char *path, size_t max_batch, struct lg_detector *det, char *err,
		     size_t errlen);
/* The same from a buffer (the bytes whose signature was checked); name is for errors. */
int lg_detector_load_mem(const void *buf, size_t len, const char *name, size_t max_batch,
			 struct lg_detector *det, char *err, size_t errlen);
int lg_detector_save(const struct lg_detector *det, const char *path);
/* Score n rows (n <= max_batch): x is not modified, scores has n slots. */
void lg_detector_score(struct lg_detector *det, const float *x, size_t n, float *scores);
/* The same for the rows idx[0..n-1] of x (n <= max_batch): scores[i] is row idx[i]'s. */
void lg_detector_score_idx(struct lg_detector *det, const float *x, const unsigned *idx, size_t n,
			   float *scores);
/* The same with each row's channel (chan[i] of row idx[i]; NULL: channel 0), for a detector
 * per channel (nch > 0; a channel past the last is scored by the last). */
void lg_detector_score_idx_ch(struct lg_detector *det, const float *x, const unsigned *idx,
			      const uint8_t *chan, size_t n, float *scores);
/* The same with the rows ld floats apart (ld >= d): a batch whose rows are as wide as the
 * widest of its detectors (a window per device, issue 8 step 6e); each detector reads the first
 * d floats of its own rows, in its own sgemm. ld = d is lg_detector_score_idx_ch(). */
void lg_detector_score_rows(struct lg_detector *det, const float *x, size_t ld,
			    const unsigned *idx, const uint8_t *chan, size_t n, float *scores);

/*
 * A model file of one detector per device (or group of devices) and optionally a default
 * for devices it does not name: format "linegate-detectors" (docs/models.md), written by
 * linegate-train from a line's recordings. A "linegate-detector" file loads as a set of one
 * detector that is every device's default. The set's digest and signer hold for all its
 * detectors; each detector has its sample rate (the set's sample_rate is the common one, 0 when
 * the devices differ) and its window (det[i].window: the set's window, the policy's
 * detection.window, unless a detector for named devices records its own).
 */
#define LG_DETECTOR_SET_MAX 4096

struct lg_detector_set {
	char name[64];
	unsigned version;
	unsigned window;
	double sample_rate;
	char digest[65], signer[65];
	/* "trained_until": seconds from each device's first sample to the end of the last
	 * healthy window of the digest's data that trained, calibrated or checked it (the
	 * latest of its devices); 0: not recorded (a model before it). linegate-quality
	 * refuses to call windows before it held out (--after). */
	double trained_until;
	size_t n;
	struct lg_detector *det;
	size_t nnames;
	char (*names)[64];    /* device names, each with the detector it has: */
	unsigned *name_det;
	int fallback;         /* the detector of devices not named, -1 = none */
	/* "smooth" (issue 8 step 6e): score each window by the causal mean of the last
	 * smooth scores of its device and channel (lg_smooth_step()); 0 or 1: none. Its
	 * thresholds were calibrated on such means (linegate-train --smooth). */
	unsigned smooth;
};

/* Either format, from the bytes whose signature was checked. */
int lg_detector_set_load_mem(const void *buf, size_t len, const char *name, size_t max_batch,
			     struct lg_detector_set *set, char *err, size_t errlen);
int lg_detector_set_load(const char *path, size_t max_batch, struct lg_detector_set *set,
			 char *err, size_t errlen);
/*
 * The file format a set needs: 1 ("linegate-detectors", what every linegate reads) unless it
 * uses what a linegate before issue 8 step 6e does not know and would silently ignore or
 * misread: "smooth" > 1 (scores would be judged unsmoothed against thresholds made for
 * means), a detector window other than the file's, or a detector's "impact". Those are written as
 * "linegate-detectors-2", which older linegates refuse; a format above
 * LG_DETECTOR_FORMAT_MAX is refused here. Models without them are written as before.
 */
#define LG_DETECTOR_FORMAT_MAX 2
unsigned lg_detector_set_format(const struct lg_detector_set *set);
/* One detector: a "linegate-detector" file; more: "linegate-detectors" (or -N, above). */
int lg_detector_set_save(const struct lg_detector_set *set, const char *path);
/* The detector index for a device name: its own, else the default, else -1. */
int lg_detector_set_find(const struct lg_detector_set *set, const char *device);
void lg_detector_set_free(struct lg_detector_set *set);
void lg_detector_free(struct lg_detector *det);

const char *lg_detector_kind_name(enum lg_detector_kind kind);
int lg_detector_kind_parse(const char *name, enum lg_detector_kind *kind);

#endif /* LINEGATE_DETECTOR_H */
