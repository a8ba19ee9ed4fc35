/* SPDX-License-Identifier: MIT */
/*
 * A scorer is one loaded model as a worker uses it: a signed artifact, verified against
 * the policy's trusted keys and parsed from exactly the bytes that were verified, with
 * its own workspace (one scorer per worker: no sharing, no locks).
 */
#ifndef LINEGATE_DP_SCORER_H
#define LINEGATE_DP_SCORER_H

#include <stdbool.h>
#include <stddef.h>

#include <linegate/detector.h>
#include <linegate/policy.h>

enum lg_scorer_kind {
	LG_SCORER_DETECTOR = 1,    /* linegate-detector JSON: Mahalanobis or PCA (docs/models.md) */
	LG_SCORER_ONNX_AE,         /* ONNX autoencoder: score = reconstruction MSE */
	LG_SCORER_ONNX_CLASSIFIER, /* ONNX classifier: score = 1 - P(class 0, "normal") */
};

struct lg_model;
struct lg_model_ws;

#define LG_SCORER_IMP_MAX 8

struct lg_scorer {
	enum lg_scorer_kind kind;
	char label[96];    /* what outputs and metrics call it: file name, or name@version */
	/* An ONNX model without metadata linegate.window: nothing says what window it was
	 * trained on, so lg_scorer_load() could not check the policy's (callers warn). */
	bool window_unchecked;
	float threshold;   /* the model's own; the policy's detection.threshold overrides */
	size_t in_dim;
	size_t max_batch;
	/* The feature extractor whose rows this model reads: the detector's own band layout,
	 * or the default one for ONNX models. Rows are computed with the scorer that will
	 * score them (a model swap first scores what was gathered under the old one). */
	struct lg_features *fx;
	struct lg_features *own_fx; /* fx, when the scorer made it (ONNX) */
	/* LG_SCORER_DETECTOR: one detector per device, or one for all (a set of one) */
	struct lg_detector_set set;
	unsigned *idx;              /* max_batch: rows of one detector */
	float *part;                /* max_batch: their scores */
	uint8_t *chan;              /* max_batch: their channels */
	struct lg_model *onnx;      /* the ONNX kinds */
	struct lg_model_ws *ws;
	float *probs;               /* classifier: max_batch x classes */
	size_t classes;
	/* The bf16 guard (detection.gemm: xsmm-bf16; docs/model-engine.md "bf16 guard"): the
	 * levels the caller compares this batch's scores with (lg_scorer_guard_levels()), and
	 * the rows the last score call re-scored on fp32 because they lay near one. */
	float *levels;              /* 2 x max_batch */
	size_t nlevels;
	size_t rescored;
	/* orders96-time5-imp9 (issue 8 step 6e.2): the impact features' buffers and plans, one
	 * per window length the scorer's devices use, made at their first window
	 * (lg_scorer_impact()) */
	struct lg_impact *imp[LG_SCORER_IMP_MAX];
};

/* The impact features' context of this scorer for windows of n samples (NULL: out of memory
 * or more window lengths than LG_SCORER_IMP_MAX). */
struct lg_impact *lg_scorer_impact(struct lg_scorer *sc, size_t n);

/*
 * The decision levels of the next batch, for the bf16 guard: each row's alert threshold
 * (pol[i] when > 0, else the scorer's own) and that threshold x hysteresis (the incidents'
 * resolve level). No-op off the bf16 route.
 */
void lg_scorer_guard_levels(struct lg_scorer *sc, const float *pol, size_t n, float hysteresis);

/* Floats per row of the batch for this scorer: its in_dim (the layout's width at the
 * policy's window, lg_scorer_load() checked it; a detector model with windows per device: the
 * widest of its detectors' rows, each row's own d floats first and zeros after); a scorer
 * set up by hand (unit tests) with in_dim 0 reads the basic row. */
static inline size_t lg_scorer_row_d(const struct lg_scorer *sc)
{
	return sc->in_dim ? sc->in_dim : LG_FEAT_N;
}

/* Verify path against path.sig with the policy's trusted keys, then load it. */
int lg_scorer_load(const struct lg_policy *p, const char *path, const char *label,
		   size_t max_batch, struct lg_scorer *sc, char *err, size_t errlen);
/* Score n rows of in_dim floats (n <= max_batch) with the model's default detector (a set
 * without one: its first). */
void lg_scorer_score(struct lg_scorer *sc, const float *rows, size_t n, float *scores);
/* The detector of a device's rows: its own, else the model's default; -1 = none (only a
 * per-device model names devices; every other model has one for all, 0). */
int lg_scorer_device(const struct lg_scorer *sc, const char *device);
/* The samples per window of the devices whose detector is det: the detector's own window
 * (a window per device, issue 8 step 6e; an old model's is the policy's), else
 * policy_window (ONNX models, a detector that records none, det -1). */
unsigned lg_scorer_window(const struct lg_scorer *sc, int det, unsigned policy_window);
/* The sample rate detector det was trained on (0: not recorded, or an ONNX model). */
double lg_scorer_rate(const struct lg_scorer *sc, int det);
/* Channels detector det was trained on (0: not recorded, or not a detector model). */
unsigned lg_scorer_channels(const struct lg_scorer *sc, int det);
/* Score n rows, row i by detector det[i] (from lg_scorer_device; ONNX models ignore it);
 * thr[i] = that detector's threshold. A row whose det[i] is -1 scores NaN. chan[i] is row
 * i's channel (a kNN detector per channel scores each by its own; NULL: channel 0). */
void lg_scorer_score_rows(struct lg_scorer *sc, const float *rows, size_t n, const int16_t *det,
			  const uint8_t *chan, float *scores, float *thr);
/* The normal level of detector det's windows (lg_detector.normal_level) where its own
 * threshold is in force (thr, the one the window was judged by, is det's: a policy's
 * detection.threshold is another scale); 0 otherwise, and for ONNX models. */
static inline float lg_scorer_normal_level(const struct lg_scorer *sc, int det, float thr)
{
	const struct lg_detector *d;

	if (!sc || sc->kind != LG_SCORER_DETECTOR || det < 0 || (size_t)det >= sc->set.n)
		return 0;
	d = &sc->set.det[det];
	return d->threshold == thr ? d->normal_level : 0;
}
/* The devices of policy p whose detector's normal level is above the policy's hysteresis and
 * counts (no detection.threshold), as "name level, ..." into buf; returns how many. What
 * linegate says at start and linegatectl validate says (docs/policy.md "Incidents"). */
size_t lg_scorer_levels_note(const struct lg_scorer *sc, const struct lg_policy *p, char *buf,
			     size_t len);
void lg_scorer_free(struct lg_scorer *sc);
/* An ONNX model's GEMM route as lg_model_gemm_shown() says it; "" for detector models. */
const char *lg_scorer_gemm(const struct lg_scorer *sc);

#endif
