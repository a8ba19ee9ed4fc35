/* SPDX-License-Identifier: MIT */
/*
 * Drift monitors, per device (docs/models.md, "Drift"):
 *  - PSI: every detection.drift.psi_windows windows, the device's rows per reference bin of
 *    each feature against the training rows' (the model's "reference"):
 *    PSI = sum over bins (p - q) ln(p / q), fractions floored at LG_PSI_FLOOR; drift while
 *    any feature's PSI is above psi_threshold plus the reference's floor for it (the PSI
 *    the training recording's own blocks reached, lg_detector.ref_floor; 0 without one). Any row the model reads (the basic row, the
 *    wide ones); a kNN per channel has a reference per channel, and a feature's PSI is then
 *    the largest of its channels'.
 *  - Page-Hinkley on x = ln(score / threshold): an upward test raises drift, then the same
 *    test mirrored (downward, on the drifted level) ends it when the level it falls to is
 *    the level before the drift (within max(ph_delta, ln 1.5)); a fall short of it re-arms
 *    the downward test, the drift goes on.
 * One event per change of state, never one per window.
 */
#ifndef LINEGATE_DP_DRIFT_H
#define LINEGATE_DP_DRIFT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <linegate/detector.h>
#include <linegate/features.h>

#define LG_PSI_FLOOR 1e-4
/* Page-Hinkley: the least distance, in ln(score / threshold), from the level before a drift
 * that ends it (a factor 1.5; the policy's ph_delta when larger) */
#define LG_PH_BACK 0.4054651081081644

enum lg_drift_method {
	LG_DRIFT_PSI,
	LG_DRIFT_PAGE_HINKLEY,
	LG_DRIFT_METHODS,
};

/* PSI of observed bin fractions p against reference fractions q (n bins each), each
 * fraction floored at LG_PSI_FLOOR. */
double lg_psi(const double *p, const double *q, unsigned n);

/*
 * Page-Hinkley test. Upward (dir +1): with xbar_t the mean of x_1..x_t,
 * m_t = sum (x_i - xbar_i - delta), M_t = min m_i; alarm when m_t - M_t > lambda.
 * Downward (dir -1): m_t = sum (x_i - xbar_i + delta), M_t = max m_i; alarm when
 * M_t - m_t > lambda.
 */
struct lg_ph {
	double n, mean, m, extreme;
	int dir;
	/* The change point is where m_t last reached its extreme: the mean of x up to there
	 * (the level before), and the sum and count of x since (the level after). */
	double before, since_sum, since_n;
};

void lg_ph_reset(struct lg_ph *ph, int dir);
/* Add x; true on an alarm. The statistic (m_t - M_t, or M_t - m_t) is *stat. */
bool lg_ph_step(struct lg_ph *ph, double x, double delta, double lambda, double *stat);
/* The mean of x since the change point (x itself right at it). */
static inline double lg_ph_after(const struct lg_ph *ph)
{
	return ph->since_n ? ph->since_sum / ph->since_n : ph->mean;
}

/* What an event says (carried to the output thread in struct lg_event). */
struct lg_drift_event {
	uint8_t kind;	  /* 0: not a drift event; else 1 + enum lg_drift_method */
	uint8_t start;	  /* 1: drift starts, 0: it ends */
	uint8_t model;	  /* an end because the model (or the device's detector) changed */
	uint8_t wide;	  /* PSI on a row other than the basic one: lg_event.dnames names psi[] */
	uint32_t over;	  /* PSI: bit j = psi[j] is named (over the threshold at start) */
	uint64_t windows; /* the device's windows since its monitors (re)started */
	float psi[LG_FEAT_N]; /* the basic row: feature j's; wide: lg_drift_names.feat[j]'s */
	float ph; /* Page-Hinkley: the statistic at the event */
};

/* A PSI event on a wide row: the features psi[] names (at most LG_FEAT_N, the largest PSI
 * first), of the row of that layout and window (lg_features_name()). In struct lg_event
 * over the row's basic features, which a drift event has none of: the event stays 576
 * bytes, nine cache lines, as before. */
struct lg_drift_names {
	uint16_t feat[LG_FEAT_N];
	uint8_t layout;
	uint32_t win;
};

/* Per device, owner worker only (except flag, which status and metrics read). */
struct lg_drift_state {
	uint64_t ms_epoch; /* the models (lg_modelset.model_id) they are for; 0 = none yet */
	int16_t det;	   /* and the device's detector in it */
	/* Rows per bin in the current block: nref x d x LG_REF_BINS (nref: the detector's
	 * channels with their own reference, else 1), sized when a model set comes and kept
	 * (grown only) until the device goes: never allocated per window. NULL: PSI off. */
	uint32_t *counts;
	size_t counts_cap; /* uint32_t */
	unsigned nref;
	size_t d;
	uint32_t rows;				 /* rows in the block */
	uint64_t windows;			 /* windows since the monitors (re)started */
	struct lg_ph ph;
	/* Page-Hinkley in drift: the level of ln(score / threshold) before its change point
	 * (lg_ph.before at the start); the drift ends only when a fall brings the scores back
	 * within max(ph_delta, ln 1.5) of it (trial X2, s26: an end said "back to the
	 * model's training data" with the scores at 4x the threshold) */
	double ph_base;
	uint32_t psi_over; /* features over at the start of the PSI drift (wide: slots) */
	uint16_t psi_feat[LG_FEAT_N]; /* wide: those features */
	bool on[LG_DRIFT_METHODS];
	_Atomic uint8_t flag; /* bit (1 << method): that monitor says drift */
};

struct lg_worker;
struct lg_event;
struct lg_scorer;
struct lg_dev_state;

/* The drift stage of one scored row e (its score final) of device state s. */
void lg_drift_row(struct lg_worker *w, struct lg_dev_state *s, const struct lg_event *e,
		  const float *row);

/* The devices of generation g whose monitors say drift, for the control socket's status:
 * [{"id", "name", "methods": ["psi", "page_hinkley"]}]. */
struct json_object;
struct lg_gen;
struct json_object *lg_drift_status_json(const struct lg_gen *g);

/* One log line when a loaded model lacks the reference PSI needs (some detectors or all),
 * and one when its reference's floor was measured on longer blocks than psi_windows (the
 * policy's): shorter blocks stray further from the reference than the floor allows for. */
void lg_drift_note_model(const struct lg_scorer *sc, uint32_t psi_windows);

#endif /* LINEGATE_DP_DRIFT_H */
