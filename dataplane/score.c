// SPDX-License-Identifier: MIT
/* The score stage: a batch of feature rows through the model, each row an event for the
 * output thread (alerts and scores on their own bounded rings). */
#include "dataplane.h"
#include "stages.h"
#include "scorer.h"

#include <math.h>
#include <string.h>
#include <time.h>

static void emit(struct lg_worker *w, const struct lg_event *e)
{
	struct lg_spsc *r = e->alert ? &w->alerts : &w->scores_ring;

	while (!lg_spsc_push(r, e)) {
		/* A recording replayed unpaced has no line to keep up with: it waits for room
		 * (a slow output, a full pipe) rather than lose a score, until linegate stops. */
		if (!w->unpaced || atomic_load_explicit(&w->dp->stop, memory_order_relaxed)) {
			atomic_fetch_add_explicit(e->alert ? &w->st.ring_full_alerts :
							     &w->st.ring_full_scores,
						  1, memory_order_relaxed);
			return;
		}
		lg_spsc_wake(r); /* the output thread must be awake to make room */
		atomic_fetch_add_explicit(&w->st.output_waits, 1, memory_order_relaxed);
		nanosleep(&(struct timespec){ 0, 100000 }, NULL);
	}
}

/* Bad samples (issue 8): every feature of the row finite. */
static bool row_finite(const float *row, size_t d)
{
	for (size_t j = 0; j < d; j++)
		if (!isfinite(row[j]))
			return false;
	return true;
}

void lg_worker_score(struct lg_worker *w, unsigned n)
{
	struct timespec wall;
	uint64_t now, wall_ns;
	struct lg_scorer *sc, *shadow;
	size_t d;

	if (!n || n > w->rows)
		return;
	sc = w->ms->sc[w->id];
	shadow = w->ms->shadow_sc[w->id];
	d = lg_scorer_row_d(sc); /* the model's row width (a shadow's is the same: generation.c) */
	for (unsigned i = 0; i < n; i++) {
		w->det[i] = w->meta[i].det;
		w->chan[i] = w->meta[i].channel;
		w->thr[i] = w->meta[i].threshold; /* the policy's, for the bf16 guard's levels */
	}
	/* On xsmm-bf16, rows near a level these compare with are scored again on fp32 (the
	 * alert threshold, and the incidents' resolve level below). */
	lg_scorer_guard_levels(sc, w->thr, n, w->inc.hysteresis);
	lg_scorer_score_rows(sc, w->batch, n, w->det, w->chan, w->scores, w->thr);
	if (sc->rescored)
		atomic_fetch_add_explicit(&w->st.bf16_rescored, sc->rescored, memory_order_relaxed);
	if (shadow) {
		for (unsigned i = 0; i < n; i++)
			w->det[i] = w->meta[i].shadow_det;
		for (unsigned i = 0; i < n; i++)
			w->shadow_thr[i] = w->meta[i].threshold;
		lg_scorer_guard_levels(shadow, w->shadow_thr, n, w->inc.hysteresis);
		lg_scorer_score_rows(shadow, w->batch, n, w->det, w->chan, w->shadow_scores, w->shadow_thr);
		if (shadow->rescored)
			atomic_fetch_add_explicit(&w->st.bf16_rescored, shadow->rescored,
						  memory_order_relaxed);
	}
	now = lg_now_ns();
	clock_gettime(CLOCK_REALTIME, &wall);
	wall_ns = (uint64_t)wall.tv_sec * 1000000000ull + wall.tv_nsec;
	for (unsigned i = 0; i < n; i++) {
		struct lg_event *e = &w->meta[i];
		struct lg_dev_state *s;
		uint64_t lat = now - e->rx_ns;
		/* The policy's threshold, when it sets one, holds for every model; else
		 * each model (each of its detectors) brings its own. */
		float pol = e->threshold, thr = pol > 0 ? pol : w->thr[i];
		uint32_t bits;

		if (e->det < 0) {
			/* No detector for the device: a policy or model switch that would leave
			 * one so is refused (lg_dp_apply()'s check of the running models, and
			 * linegated's of the registry's); a last guard, counted, not published. */
			atomic_fetch_add_explicit(&w->st.no_detector, 1, memory_order_relaxed);
			continue;
		}
		/* Bad samples (issue 8), the last guard: a row whose features or score are not
		 * finite is never taken as normal (NaN > thr is false): it is an alert shown with
		 * "score": null, "nonfinite": true (output.c), counted, and not the device's
		 * newest score. */
		e->nonfinite = !row_finite(w->batch + (size_t)i * d, d) ||
			       !isfinite(w->scores[i]);
		if (e->nonfinite)
			atomic_fetch_add_explicit(&w->st.rows_nonfinite, 1, memory_order_relaxed);

		s = w->row_state[i];
		/* a model with "smooth": the causal mean of the channel's last scores, which its
		 * thresholds were calibrated on (lg_smooth_step(), as linegate-quality) */
		if (sc->kind == LG_SCORER_DETECTOR && sc->set.smooth > 1 && !e->nonfinite) {
			if (s->smooth_epoch != w->ms->epoch) {
				memset(s->smooth, 0, sizeof(s->smooth));
				s->smooth_epoch = w->ms->epoch;
			}
			w->scores[i] = lg_smooth_step(&s->smooth[e->channel % LGF_MAX_CHANNELS],
						      sc->set.smooth, w->scores[i]);
		}
		e->score = w->scores[i];
		e->threshold = thr;
		e->alert = e->score > thr || e->nonfinite;
		e->scored_ns = now;
		e->scored_wall_ns = wall_ns;
		e->model_epoch = w->ms->epoch;
		e->model_id = w->ms->active_id;
		if (shadow && e->shadow_det >= 0 &&
		    (w->shadow_scores[i] > (pol > 0 ? pol : w->shadow_thr[i])) != (bool)e->alert)
			atomic_fetch_add_explicit(&w->st.shadow_disagree, 1, memory_order_relaxed);
		memcpy(&bits, &e->score, sizeof(bits));
		if (!e->nonfinite) {
			uint32_t k = lg_score_key(e->score),
				 pk = atomic_load_explicit(&s->peak_key, memory_order_relaxed);

			atomic_store_explicit(&s->last_score_bits, bits, memory_order_relaxed);
			/* The status page's chart: the step's highest score (the sampler swaps
			 * in 0, hence a CAS, once per scored row). */
			while (k > pk && !atomic_compare_exchange_weak_explicit(&s->peak_key, &pk, k,
					memory_order_relaxed, memory_order_relaxed))
				;
		}
		if (e->alert) {
			atomic_fetch_add_explicit(&s->alerts, 1, memory_order_relaxed);
			atomic_fetch_add_explicit(&w->st.alerts, 1, memory_order_relaxed);
		}
		atomic_fetch_add_explicit(&w->st.latency_ns_sum, lat, memory_order_relaxed);
		atomic_fetch_add_explicit(&w->st.lat_hist[lg_latency_bucket(lat)], 1,
					  memory_order_relaxed);
		if (lat > atomic_load_explicit(&w->st.latency_ns_max, memory_order_relaxed))
			atomic_store_explicit(&w->st.latency_ns_max, lat, memory_order_relaxed);
		lg_lat_add(&w->st.stage[LG_LAT_WINDOW_SCORED],
			   now > e->complete_ns ? now - e->complete_ns : 0);
		if (d == LG_FEAT_N && lg_features_layout(sc->fx) == LG_LAYOUT_BASIC)
			memcpy(e->feat, w->batch + (size_t)i * d, sizeof(e->feat)); /* issue 12 */
		else
			for (unsigned j = 0; j < LG_FEAT_N; j++)
				e->feat[j] = NAN; /* not the basic row: no feature points */
		emit(w, e);
		lg_worker_incident(w, e, s);
		/* PSI reads the row at its width, against the detector's reference (drift.c) */
		lg_drift_row(w, s, e, w->batch + (size_t)i * d);
	}
	/* The batch's rows (and any incident or drift events) are on the rings: one wake-up
	 * for all of them, so the output thread takes the batch in one round. */
	lg_spsc_wake(&w->scores_ring);
	atomic_fetch_add_explicit(&w->st.scored, n, memory_order_relaxed);
	if (shadow)
		atomic_fetch_add_explicit(&w->st.shadow_scored, n, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->st.batches, 1, memory_order_relaxed);
	{
		unsigned b = 0;

		while (b < LG_BATCH_BUCKETS - 1 && n > (1u << b))
			b++;
		atomic_fetch_add_explicit(&w->st.batch_hist[b], 1, memory_order_relaxed);
	}
	/* Rows a frame completed past the batch wait for the next one, oldest first. */
	w->rows -= n;
	if (w->rows) {
		memmove(w->batch, w->batch + (size_t)n * d, sizeof(float) * d * w->rows);
		memmove(w->meta, w->meta + n, sizeof(*w->meta) * w->rows);
		memmove(w->row_state, w->row_state + n, sizeof(*w->row_state) * w->rows);
		w->oldest_ns = w->meta[0].rx_ns;
	}
}

void lg_worker_flush(struct lg_worker *w)
{
	lg_worker_score(w, w->rows);
}

void lg_worker_score_full(struct lg_worker *w, const struct lg_gen *g)
{
	unsigned batch = g->policy.batch < w->dp->max_batch ? g->policy.batch
							     : (unsigned)w->dp->max_batch;

	while (batch && w->rows >= batch)
		lg_worker_score(w, batch);
}
