// SPDX-License-Identifier: MIT
/* The drift stage: PSI of each feature against the model's reference and Page-Hinkley on
 * the score stream, per device, one event per change of state (drift.h). */
#include "drift.h"
#include "dataplane.h"
#include "scorer.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double lg_psi(const double *p, const double *q, unsigned n)
{
	double s = 0;

	for (unsigned b = 0; b < n; b++) {
		double pb = p[b] > LG_PSI_FLOOR ? p[b] : LG_PSI_FLOOR;
		double qb = q[b] > LG_PSI_FLOOR ? q[b] : LG_PSI_FLOOR;

		s += (pb - qb) * log(pb / qb);
	}
	return s;
}

void lg_ph_reset(struct lg_ph *ph, int dir)
{
	memset(ph, 0, sizeof(*ph));
	ph->dir = dir;
}

bool lg_ph_step(struct lg_ph *ph, double x, double delta, double lambda, double *stat)
{
	bool turn;

	ph->n += 1;
	ph->mean += (x - ph->mean) / ph->n;
	if (ph->dir > 0) {
		ph->m += x - ph->mean - delta;
		turn = ph->m < ph->extreme || ph->n == 1;
		if (ph->m < ph->extreme)
			ph->extreme = ph->m;
		*stat = ph->m - ph->extreme;
	} else {
		ph->m += x - ph->mean + delta;
		turn = ph->m > ph->extreme || ph->n == 1;
		if (ph->m > ph->extreme)
			ph->extreme = ph->m;
		*stat = ph->extreme - ph->m;
	}
	if (turn) {
		ph->before = ph->mean;
		ph->since_sum = ph->since_n = 0;
	} else {
		ph->since_sum += x;
		ph->since_n += 1;
	}
	return *stat > lambda;
}

json_object *lg_drift_status_json(const struct lg_gen *g)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < g->policy.ndevices; i++) {
		uint8_t f = atomic_load_explicit(&g->state[i]->drift.flag, memory_order_relaxed);
		json_object *o, *m;

		if (!f)
			continue;
		o = json_object_new_object();
		m = json_object_new_array();
		json_object_object_add(o, "id", json_object_new_uint64(g->policy.devices[i].id));
		json_object_object_add(o, "name",
				       json_object_new_string(g->policy.devices[i].name));
		if (f & (1u << LG_DRIFT_PSI))
			json_object_array_add(m, json_object_new_string("psi"));
		if (f & (1u << LG_DRIFT_PAGE_HINKLEY))
			json_object_array_add(m, json_object_new_string("page_hinkley"));
		json_object_object_add(o, "methods", m);
		json_object_array_add(a, o);
	}
	return a;
}

/* The reference of channel c's rows under detector det (its own, or its channel's when it
 * is per channel: a channel past the last is the last's), NULL when there is none. */
static const struct lg_detector *ref_of(const struct lg_detector *det, unsigned c)
{
	if (det->nch)
		det = &det->ch[c < det->nch ? c : det->nch - 1];
	return det->has_ref ? det : NULL;
}

/* PSI needs the reference of every channel the detector scores: its own, or for a kNN per
 * channel each channel's (the detector's own is not read then). */
static bool has_refs(const struct lg_detector *det)
{
	bool ok = det->nch || det->has_ref;

	for (unsigned c = 0; c < det->nch; c++)
		ok &= det->ch[c].has_ref && det->ch[c].d == det->d;
	return ok;
}

void lg_drift_note_model(const struct lg_scorer *sc, uint32_t psi_windows)
{
	size_t without = 0;
	uint32_t block = 0;

	for (size_t i = 0; sc->kind == LG_SCORER_DETECTOR && i < sc->set.n; i++) {
		const struct lg_detector *det = &sc->set.det[i];

		for (unsigned c = 0; c < (det->nch ? det->nch : 1); c++) {
			const struct lg_detector *r = det->nch ? &det->ch[c] : det;

			if (r->ref_floor && r->ref_block > block)
				block = r->ref_block;
		}
	}
	if (block > psi_windows)
		fprintf(stderr,
			"linegate: model %s: its drift reference's floor was measured on blocks "
			"of %u windows, and detection.drift.psi_windows is %u: shorter blocks "
			"stray further from the reference, expect PSI drift on a healthy line "
			"(train it with this policy, or set psi_windows: %u)\n",
			sc->label, block, psi_windows, block);

	if (sc->kind == LG_SCORER_DETECTOR)
		for (size_t i = 0; i < sc->set.n; i++)
			without += !has_refs(&sc->set.det[i]);
	if (sc->kind != LG_SCORER_DETECTOR || without)
		fprintf(stderr,
			"linegate: model %s: %s carry no drift reference: no PSI drift "
			"for their devices (train it on the line's recording, linegate-train "
			"--from, to get one); Page-Hinkley on the scores still runs\n",
			sc->label,
			sc->kind != LG_SCORER_DETECTOR ? "ONNX models"
			: without == sc->set.n	       ? "its detectors"
						       : "some of its detectors");
}

/* On the alert ring: rare, and ahead of routine scores. A full ring loses the event (the
 * flag in status still tells) and counts it, as for alerts; an unpaced replay waits. */
static void push_event(struct lg_worker *w, const struct lg_event *e)
{
	while (!lg_spsc_push(&w->alerts, e)) {
		if (!w->unpaced || atomic_load_explicit(&w->dp->stop, memory_order_relaxed)) {
			atomic_fetch_add_explicit(&w->st.ring_full_alerts, 1, memory_order_relaxed);
			return;
		}
		lg_spsc_wake(&w->alerts);
		atomic_fetch_add_explicit(&w->st.output_waits, 1, memory_order_relaxed);
		nanosleep(&(struct timespec){0, 100000}, NULL);
	}
	lg_spsc_wake(&w->alerts);
}

static void change(struct lg_worker *w, struct lg_dev_state *s, const struct lg_event *row,
		   enum lg_drift_method m, bool start, const struct lg_drift_event *what,
		   const struct lg_drift_names *names)
{
	struct lg_drift_state *d = &s->drift;
	struct lg_event e = *row;

	e.alert = 0;
	e.drift = *what;
	e.drift.kind = (uint8_t)(1 + m);
	e.drift.start = start;
	e.drift.windows = d->windows;
	if (names)
		e.dnames = *names;
	d->on[m] = start;
	if (start)
		atomic_fetch_or_explicit(&d->flag, (uint8_t)(1u << m), memory_order_relaxed);
	else
		atomic_fetch_and_explicit(&d->flag, (uint8_t) ~(1u << m), memory_order_relaxed);
	atomic_fetch_add_explicit(&w->st.drift_events, 1, memory_order_relaxed);
	push_event(w, &e); /* linegated sees the device in drift in status (retrain.h) */
}

/* Statistics start again (a new model or detector, drift switched off): monitors in drift
 * end, with model set when the model is why. */
static void restart(struct lg_worker *w, struct lg_dev_state *s, const struct lg_event *row,
		    bool model, bool events)
{
	struct lg_drift_state *d = &s->drift;
	struct lg_drift_event what = {.model = model};

	for (int m = 0; m < LG_DRIFT_METHODS; m++)
		if (d->on[m] && events)
			change(w, s, row, (enum lg_drift_method)m, false, &what, NULL);
	if (d->counts)
		memset(d->counts, 0, sizeof(*d->counts) * d->counts_cap);
	d->rows = 0;
	d->windows = 0;
	d->psi_over = 0;
	d->on[LG_DRIFT_PSI] = d->on[LG_DRIFT_PAGE_HINKLEY] = false;
	atomic_store_explicit(&d->flag, 0, memory_order_relaxed);
	lg_ph_reset(&d->ph, 1);
	d->ms_epoch = row->model_id;
	d->det = row->det;
}

/*
 * The counts for detector det (NULL: none, PSI off): nref x d x LG_REF_BINS. Once per model
 * set (or detector) of the device, on its worker, and only when it needs more than it has:
 * never per window. Out of memory: PSI stays off for the device, and a counter says so.
 */
static void size_counts(struct lg_worker *w, struct lg_drift_state *d,
			const struct lg_detector *det)
{
	size_t need;

	d->nref = 0;
	d->d = 0;
	if (!det)
		return;
	need = (size_t)(det->nch ? det->nch : 1) * det->d * LG_REF_BINS;
	if (need > d->counts_cap) {
		uint32_t *c = calloc(need, sizeof(*c));

		if (!c) {
			atomic_fetch_add_explicit(&w->st.drift_nomem, 1, memory_order_relaxed);
			return;
		}
		free(d->counts);
		d->counts = c;
		d->counts_cap = need;
	}
	memset(d->counts, 0, sizeof(*d->counts) * need);
	d->nref = det->nch ? det->nch : 1;
	d->d = det->d;
}

/* Feature j's PSI: the largest of its channels' (each against its channel's reference);
 * *excess: the largest of PSI minus the reference's floor for it (drift.h), what the
 * threshold is held against. */
static double feature_psi(const struct lg_drift_state *d, const struct lg_detector *det,
			  size_t j, double *excess)
{
	double best = 0;

	*excess = 0;
	for (unsigned k = 0; k < d->nref; k++) {
		const uint32_t *cnt = d->counts + ((size_t)k * d->d + j) * LG_REF_BINS;
		const struct lg_detector *r = ref_of(det, k);
		double p[LG_REF_BINS], rows = 0, v;

		for (unsigned b = 0; b < LG_REF_BINS; b++)
			rows += cnt[b];
		if (!rows || !r)
			continue;
		for (unsigned b = 0; b < LG_REF_BINS; b++)
			p[b] = cnt[b] / rows;
		v = lg_psi(p, r->ref_frac[j], LG_REF_BINS);
		if (v > best)
			best = v;
		if (r->ref_floor)
			v -= r->ref_floor[j];
		if (v > *excess)
			*excess = v;
	}
	return best;
}

/* Insert feature j of PSI v into the wide event's list, kept largest first (n slots). */
static void top_insert(struct lg_drift_event *what, struct lg_drift_names *nm, unsigned *n,
		       uint16_t j, float v)
{
	unsigned i = *n < LG_FEAT_N ? (*n)++ : LG_FEAT_N;

	if (i == LG_FEAT_N) {
		if (v <= what->psi[LG_FEAT_N - 1])
			return;
		i = LG_FEAT_N - 1;
	}
	for (; i > 0 && what->psi[i - 1] < v; i--) {
		what->psi[i] = what->psi[i - 1];
		nm->feat[i] = nm->feat[i - 1];
	}
	what->psi[i] = v;
	nm->feat[i] = j;
}

static void psi_block(struct lg_worker *w, struct lg_dev_state *s, const struct lg_event *row,
		      const struct lg_detector *det, const struct lg_policy_drift *cfg, bool wide)
{
	struct lg_drift_state *d = &s->drift;
	struct lg_drift_event what = {0};
	struct lg_drift_names nm = {0};
	uint32_t over = 0;
	unsigned nover = 0;

	what.wide = wide;
	nm.layout = (uint8_t)det->layout;
	nm.win = s->win_len;
	for (size_t j = 0; j < d->d; j++) {
		double ex;
		float v = (float)feature_psi(d, det, j, &ex);

		if (v > what.ph)
			what.ph = v; /* the statistic of a PSI event: the largest */
		if (!wide) {
			what.psi[j] = v;
			if (ex > cfg->psi_threshold)
				over |= 1u << j;
			continue;
		}
		if (ex > cfg->psi_threshold) {
			over = 1;
			if (!d->on[LG_DRIFT_PSI])
				top_insert(&what, &nm, &nover, (uint16_t)j, v);
		}
		/* in drift: the features that drifted, with their PSI now, for the end */
		for (unsigned i = 0; d->on[LG_DRIFT_PSI] && i < LG_FEAT_N; i++)
			if ((d->psi_over & (1u << i)) && d->psi_feat[i] == j) {
				what.psi[i] = v;
				nm.feat[i] = (uint16_t)j;
			}
	}
	memset(d->counts, 0, sizeof(*d->counts) * d->nref * d->d * LG_REF_BINS);
	d->rows = 0;
	if (wide && !d->on[LG_DRIFT_PSI] && over) {
		over = nover >= 32 ? UINT32_MAX : (1u << nover) - 1;
		memcpy(d->psi_feat, nm.feat, sizeof(d->psi_feat));
	}
	if (over && !d->on[LG_DRIFT_PSI]) {
		what.over = d->psi_over = over;
		change(w, s, row, LG_DRIFT_PSI, true, &what, wide ? &nm : NULL);
	} else if (!over && d->on[LG_DRIFT_PSI]) {
		/* the features that drifted, with their PSI now */
		what.over = d->psi_over;
		change(w, s, row, LG_DRIFT_PSI, false, &what, wide ? &nm : NULL);
	}
}

void lg_drift_row(struct lg_worker *w, struct lg_dev_state *s, const struct lg_event *e,
		  const float *row)
{
	/* The generation this worker runs, or a newer one it has not yet taken: neither is
	 * freed before this worker takes the one after it. */
	const struct lg_gen *g = atomic_load_explicit(&w->dp->gen, memory_order_acquire);
	const struct lg_policy_drift *cfg = g ? &g->policy.drift : NULL;
	struct lg_drift_state *d = &s->drift;
	const struct lg_scorer *sc = w->ms->sc[w->id];
	const struct lg_detector *det = NULL, *ref;
	unsigned ch = s->channels ? s->channels : 1;
	double stat;

	if (!cfg) /* no generation published (a worker driven by a unit test) */
		return;
	if (!cfg->enabled) {
		if (d->ms_epoch)
			restart(w, s, e, false, false);
		d->ms_epoch = 0;
		return;
	}
	if (sc->kind == LG_SCORER_DETECTOR && e->det >= 0 && (size_t)e->det < sc->set.n &&
	    has_refs(&sc->set.det[e->det]) && sc->set.det[e->det].d <= lg_scorer_row_d(sc))
		det = &sc->set.det[e->det];
	if (d->ms_epoch != e->model_id || d->det != e->det) {
		restart(w, s, e, d->ms_epoch != 0, true);
		size_counts(w, d, det);
	}
	if (e->channel == 0)
		d->windows++;
	ref = det && d->nref ? ref_of(det, e->channel) : NULL;
	if (ref) {
		unsigned k = e->channel < d->nref ? e->channel : d->nref - 1;
		uint32_t *cnt = d->counts + (size_t)k * d->d * LG_REF_BINS;
		bool finite = true;

		for (size_t j = 0; j < d->d; j++)
			finite &= isfinite(row[j]);
		/* A row with a NaN or Inf feature is another stage's business, not a shift. */
		if (finite) {
			for (size_t j = 0; j < d->d; j++)
				cnt[j * LG_REF_BINS +
				    lg_detector_ref_bin(ref, (unsigned)j, row[j])]++;
			d->rows++;
		}
		if (d->rows >= (uint64_t)cfg->psi_windows * ch)
			psi_block(w, s, e, det, cfg,
				  det->layout != LG_LAYOUT_BASIC || det->d != LG_FEAT_N);
	}
	/*
	 * Page-Hinkley on ln(score / threshold): scores are positive and skewed, and a gain
	 * or load change multiplies them, so the log makes a change a shift of the mean and
	 * keeps one wild window from dominating; over the threshold it is unitless (0 = at
	 * the threshold) so one delta and lambda suit every detector and device.
	 */
	if (isfinite(e->score) && e->score >= 0 && e->threshold > 0) {
		double x = log(fmax((double)e->score / e->threshold, 0.05));

		if (lg_ph_step(&d->ph, x, cfg->ph_delta, cfg->ph_lambda, &stat)) {
			struct lg_drift_event what = {.ph = (float)stat};
			bool start = !d->on[LG_DRIFT_PAGE_HINKLEY];

			if (start) {
				d->ph_base = d->ph.before;
			} else if (lg_ph_after(&d->ph) >
				   d->ph_base + fmax(cfg->ph_delta, LG_PH_BACK)) {
				/* fallen, but not to where it was: the drift goes on, and the
				 * test looks for the next fall from here */
				lg_ph_reset(&d->ph, -1);
				return;
			}
			change(w, s, e, LG_DRIFT_PAGE_HINKLEY, start, &what, NULL);
			/* In drift, the test mirrored looks for the way back. */
			lg_ph_reset(&d->ph, start ? -1 : 1);
		}
	}
}
