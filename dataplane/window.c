// SPDX-License-Identifier: MIT
/* The window stage: a verified frame's samples into the device's per-channel window; a full
 * window becomes one feature row per channel in the worker's batch. */
#include "dataplane.h"
#include "stages.h"
#include "scorer.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * A UADP device's other fields, as a window's output line shows them: their newest values
 * as JSON members, by the names the policy gives them (else f<index>), whole members only,
 * as many as fit. Made once per window, not per message.
 */
static void uadp_fields_json(const struct lg_policy_device *dev, const struct lg_dev_state *s,
			     char *out, size_t cap)
{
	size_t u = 0;

	out[0] = '\0';
	for (unsigned j = 0; j < s->nmeta; j++) {
		const char *name = lg_policy_uadp_field(dev, s->meta[j].idx);
		char nb[16];
		int k;

		if (!name) {
			snprintf(nb, sizeof(nb), "f%u", s->meta[j].idx);
			name = nb;
		}
		k = snprintf(out + u, cap - u, "%s\"%s\":%s", u ? "," : "", name, s->meta[j].val);
		if (k < 0 || (size_t)k >= cap - u) {
			out[u] = '\0';
			break;
		}
		u += (size_t)k;
	}
}

/* The device's detector in the worker's model, looked up once per model and policy. */
int16_t lg_window_detector(struct lg_worker *w, const struct lg_gen *g,
			       const struct lg_policy_device *dev, struct lg_dev_state *s)
{
	if (s->det_ms_epoch != w->ms->epoch || s->det_gen_epoch != g->epoch) {
		s->det = (int16_t)lg_scorer_device(w->ms->sc[w->id], dev->name);
		s->det_ms_epoch = w->ms->epoch;
		s->det_gen_epoch = g->epoch;
	}
	return s->det;
}

uint32_t lg_window_len(struct lg_worker *w, const struct lg_gen *g,
		       const struct lg_policy_device *dev, struct lg_dev_state *s)
{
	if (!w->ms || !w->ms->sc[w->id])
		return g->policy.window;
	return lg_scorer_window(w->ms->sc[w->id], lg_window_detector(w, g, dev, s),
				g->policy.window);
}

/* Issue 8: the device's detector says dropout_run and a channel of the window holds that
 * many equal samples (a sensor holding its last value): the window is not scored. */
static bool window_dropout(const struct lg_worker *w, int16_t det, const struct lg_dev_state *s,
			   unsigned window)
{
	const struct lg_scorer *sc = w->ms->sc[w->id];
	unsigned run;

	if (sc->kind != LG_SCORER_DETECTOR || det < 0 || (size_t)det >= sc->set.n ||
	    !(run = sc->set.det[det].dropout_run))
		return false;
	for (unsigned c = 0; c < s->channels; c++)
		if (lg_window_dropout(s->win + (size_t)c * window, window, run))
			return true;
	return false;
}

/* orders96-time5-imp11: the device's TSA history (tsa3) for the worker's model and this
 * window, made on first use (NULL: no memory) and started afresh under another model or
 * window length or channel count; the device's windows take its slots in order. */
static struct lg_imp_hist *tsa_hist(struct lg_worker *w, struct lg_dev_state *s, uint32_t win)
{
	if (s->tsa.nch != s->channels) {
		lg_imp_hist_free(&s->tsa);
		if (lg_imp_hist_init(&s->tsa, s->channels))
			return NULL;
		s->tsa_epoch = w->ms->epoch;
		s->tsa_win = win;
	}
	if (s->tsa_epoch != w->ms->epoch || s->tsa_win != win) {
		lg_imp_hist_reset(&s->tsa);
		s->tsa_epoch = w->ms->epoch;
		s->tsa_win = win;
	}
	return &s->tsa;
}

/* A full window not scored (a sensor dropout, impact features that could not be computed):
 * counted as a window and by its reason, and the device's window starts again. */
static void window_unscored(struct lg_worker *w, struct lg_dev_state *s, _Atomic uint64_t *why)
{
	atomic_fetch_add_explicit(why, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->windows, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->st.windows, 1, memory_order_relaxed);
	s->fill = 0;
	s->first_ts_ns = s->end_ts_ns = 0;
}

/* A full window: one feature row per channel, straight into the batch. */
static void window_done(struct lg_worker *w, const struct lg_gen *g,
			const struct lg_policy_device *dev, struct lg_dev_state *s)
{
	const struct lg_policy *p = &g->policy;
	char fields[LG_EVENT_FIELDS];
	double ratio;
	struct lg_scorer *shadow = w->ms->shadow_sc[w->id];
	int16_t det = lg_window_detector(w, g, dev, s),
		sdet = shadow ? (int16_t)lg_scorer_device(shadow, dev->name) : -1;
	/* the device's window: its detector's own (issue 8 step 6e), else detection.window */
	uint32_t win = s->win_len;
	unsigned nf = lg_layout_imp_n(lg_features_layout(w->ms->sc[w->id]->fx));

	if (dev->unscored) {
		/* score: false (a machine recorded for its detector): counted, not scored */
		window_unscored(w, s, &s->windows_unscored);
		return;
	}
	if (window_dropout(w, det, s, win)) {
		/* a sensor dropout: counted, not scored (issue 8, the model's dropout_run);
		 * -imp11: left out of the next windows' tsa3, as linegate-quality leaves it */
		struct lg_imp_hist *h = nf == LG_IMP_N11 ? tsa_hist(w, s, win) : NULL;

		if (h)
			lg_imp_hist_skip(h);
		window_unscored(w, s, &s->windows_dropout);
		return;
	}
	if (dev->uadp_pub_type)
		uadp_fields_json(dev, s, fields, sizeof(fields));
	{
		/* orders96-time5 (issue 8): one speed ratio per device window, from all its
		 * channels' spectra against the device's detector's reference lines */
		const struct lg_scorer *sc = w->ms->sc[w->id];

		ratio = 1;
		if (lg_layout_orders(lg_features_layout(sc->fx)) &&
		    sc->kind == LG_SCORER_DETECTOR && det >= 0 && (size_t)det < sc->set.n)
			lg_features_speed_ratio(sc->fx, s->win, s->channels, win, win,
						&sc->set.det[det].oref, &ratio);
	}
	{
		/* orders96-time5-imp9 (issue 8 step 6e.2): the nine impact features of each
		 * channel at the window's speed, its ratio x the device's reference speed (its
		 * detector's "impact"); -imp10 (step 6e.3) floor_lines after them, -imp11 tsa3
		 * over the device's last windows too (lg_impact_tail(), as linegate-quality and
		 * linegate-train compute them); 0 for a device without one or of more channels */
		struct lg_scorer *sc = w->ms->sc[w->id];
		const struct lg_detector *dd = det >= 0 && (size_t)det < sc->set.n ?
						       &sc->set.det[det] : NULL;
		struct lg_imp_hist *h = NULL;
		struct lg_impact *im;
		int imp = 0;

		/* only these layouts read imp_feat (below): other models pay nothing here */
		if (nf)
			memset(w->imp_feat, 0, sizeof(w->imp_feat));
		if (nf && sc->kind == LG_SCORER_DETECTOR && dd && dd->imp.ref_hz > 0 &&
		    s->channels <= dd->imp.nch) {
			im = lg_scorer_impact(sc, win);
			if (nf == LG_IMP_N11 && !(h = tsa_hist(w, s, win)))
				im = NULL;
			else if (!im && h)
				lg_imp_hist_skip(h); /* not computed: its slot taken, empty */
			imp = im ? lg_impact_tail(im, &dd->imp, s->win, s->channels, win,
						  dd->sample_rate > 0 ? dd->sample_rate
								      : dev->sample_rate,
						  ratio, nf, h, w->imp_feat)
				 : -ENOMEM;
		}
		if (imp < 0) {
			/* the impact features could not be computed (no memory for their
			 * buffers or FFT plans, or the window's speed at or past half the sample
			 * rate): not scored on zeros, counted (linegate_windows_impact_failed_total) */
			window_unscored(w, s, &s->windows_impact_failed);
			return;
		}
	}
	for (unsigned c = 0; c < s->channels; c++) {
		struct lg_event *e = &w->meta[w->rows];

		const struct lg_scorer *sc = w->ms->sc[w->id];
		size_t rd = lg_scorer_row_d(sc), wd = lg_features_width(lg_features_layout(sc->fx),
									win);
		float *row = w->batch + (size_t)w->rows * rd;

		/* a row of the model's layout at the device's window: wd floats, then zeros up
		 * to the batch's width (a model with windows per device; its detector reads wd) */
		lg_features_rows_ratio(sc->fx, s->win + (size_t)c * win, 1, win, win, &ratio, row);
		if (nf && wd >= nf)
			memcpy(row + wd - nf, w->imp_feat + c * nf, sizeof(float) * nf);
		if (wd < rd)
			memset(row + wd, 0, (rd - wd) * sizeof(*row));
		memset(e, 0, sizeof(*e));
		e->device_id = dev->id;
		e->channel = (uint8_t)c;
		e->det = det;
		e->shadow_det = sdet;
		e->seq = s->last_seq;
		e->rx_ns = s->first_rx_ns;
		/* Honest latency (latency.h): from the frame with the window's last sample. */
		e->arrival_ns = w->cur_arrival_ns;
		e->pickup_ns = w->cur_pickup_ns;
		e->complete_ns = lg_now_ns();
		lg_lat_add(&w->st.stage[LG_LAT_WORKER_WINDOW],
			   e->complete_ns > e->pickup_ns ? e->complete_ns - e->pickup_ns : 0);
		e->threshold = p->threshold;
		e->nchan = s->channels;
		e->sample_ns = s->first_ts_ns;
		e->sample_end_ns = s->end_ts_ns;
		/* Not snprintf: its machinery was 2-3 % of the worker thread (perf, issue 10);
		 * e is zeroed, so the copy is terminated, and truncated as snprintf would. */
		memcpy(e->name, dev->name, strnlen(dev->name, sizeof(e->name) - 1));
		if (dev->uadp_pub_type) {
			const char *fn = lg_policy_uadp_field(dev, s->uadp_chan_field[c]);

			snprintf(e->channel_name, sizeof(e->channel_name), "%s", fn ? fn : "");
			e->source_time = s->uadp_source_time;
			memcpy(e->fields, fields, sizeof(e->fields));
		}
		w->row_state[w->rows] = s;
		if (!w->rows)
			w->oldest_ns = s->first_rx_ns;
		/* Full batches are scored by the loop (lg_worker_score_full) after each frame.
		 * Only a frame that completes more rows than the batch buffer holds is scored
		 * from here, so that no row is lost. */
		if (++w->rows == w->dp->max_batch)
			lg_worker_score(w, w->rows);
	}
	atomic_fetch_add_explicit(&s->windows, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->st.windows, 1, memory_order_relaxed);
	s->fill = 0;
	s->first_ts_ns = s->end_ts_ns = 0;
}

/* The device's window for this many channels; on its first frame, or when the device
 * changes its channel count, it starts afresh. */
int lg_window_ready(struct lg_dev_state *s, unsigned channels, uint32_t win)
{
	/* A new detection.window: the samples gathered for the old one are dropped, so that
	 * no row mixes two window lengths (the batch was scored at the generation switch). */
	if (s->win && s->channels == channels && s->win_len == win)
		return 0;
	free(s->win);
	s->win = malloc(sizeof(float) * win * channels);
	if (!s->win)
		return -ENOMEM;
	s->channels = (uint8_t)channels;
	s->win_len = win;
	s->fill = 0;
	return 0;
}

/* Sample i of an LGF frame (interleaved index), as the window would take it. */
static float frame_value(const struct lg_frame *f, size_t i)
{
	if (f->sample_format == LGF_FMT_I16) {
		uint16_t u;

		memcpy(&u, f->samples + 2 * i, sizeof(u));
		return (float)(int16_t)le16toh(u) * f->scale;
	} else {
		uint32_t u;
		float x;

		memcpy(&u, f->samples + 4 * i, sizeof(u));
		u = le32toh(u);
		memcpy(&x, &u, sizeof(x));
		return x;
	}
}

/*
 * Whether a frame holds a bad sample. An int16 frame's values are int * scale, monotonic in
 * the int: its smallest and largest ints give its extreme values, so two are checked.
 */
static bool frame_has_bad(const struct lg_frame *f, float lo, float hi)
{
	size_t n = (size_t)f->channels * f->sample_count;

	if (f->sample_format == LGF_FMT_I16) {
		int16_t mn = INT16_MAX, mx = INT16_MIN;

		for (size_t i = 0; i < n; i++) {
			uint16_t u;
			int16_t v;

			memcpy(&u, f->samples + 2 * i, sizeof(u));
			v = (int16_t)le16toh(u);
			mn = v < mn ? v : mn;
			mx = v > mx ? v : mx;
		}
		return n && (lg_sample_bad((float)mn * f->scale, lo, hi) ||
			     lg_sample_bad((float)mx * f->scale, lo, hi));
	}
	for (size_t i = 0; i < n; i++)
		if (lg_sample_bad(frame_value(f, i), lo, hi))
			return true;
	return false;
}

static void count_masked(struct lg_worker *w, struct lg_dev_state *s, uint64_t n)
{
	if (!n)
		return;
	atomic_fetch_add_explicit(&s->samples_masked, n, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->st.samples_masked, n, memory_order_relaxed);
}

void lg_window_follow(struct lg_worker *w, struct lg_dev_state *s, uint64_t seq,
		      uint64_t ts_ns, uint64_t dur_ns)
{
	/* A sender stamping another clock than its samples' (a load generator's, a gateway's
	 * arrival time) jitters by more than a frame and must not lose windows to it: only a
	 * steady clock's long pause cuts, besides a sequence gap (<linegate/follow.h>). */
	if (lg_follow_next(&s->follow, seq, ts_ns, dur_ns) && s->fill) {
		s->fill = 0;
		atomic_fetch_add_explicit(&s->window_gaps, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&w->st.window_gaps, 1, memory_order_relaxed);
	}
}

void lg_window_drop_bad(struct lg_dev_state *s)
{
	/* No window spans the gap the dropped frame leaves. */
	s->fill = 0;
	atomic_fetch_add_explicit(&s->bad_sample_drops, 1, memory_order_relaxed);
}

/* Append one time step, one value per channel (bad values masked, whatever the policy:
 * under drop the caller has dropped a message that holds one). */
void lg_window_step(struct lg_worker *w, const struct lg_gen *g,
			const struct lg_policy_device *dev, struct lg_dev_state *s, const float *v,
			uint64_t seq, uint64_t rx_ns, uint64_t ts_ns)
{
	uint32_t win = s->win_len; /* lg_window_ready() sized it for the device */
	uint64_t masked = 0;
	float lo, hi;

	lg_sample_bounds(dev, &lo, &hi);
	if (!s->fill)
		s->first_rx_ns = rx_ns;
	/* incidents: a message's samples carry no times of their own (no sample rate on the
	 * wire): the window runs from its first message's Timestamp to its last one's */
	if (ts_ns) {
		if (!s->fill)
			s->first_ts_ns = ts_ns;
		s->end_ts_ns = ts_ns;
	}
	for (unsigned c = 0; c < s->channels; c++) {
		float *x = &s->win[(size_t)c * win + s->fill];

		*x = v[c];
		masked += lg_sample_mask_run(x, 1, &s->last_good[c], lo, hi);
	}
	count_masked(w, s, masked);
	s->fill++;
	s->last_seq = seq;
	if (s->fill == win)
		window_done(w, g, dev, s);
}

/* Append a verified frame's samples to the device's window, de-interleaving. A frame with
 * a bad sample is dropped whole (LG_DROP_BAD_SAMPLE) or masked, as the policy says. */
enum lg_reason lg_window_add_frame(struct lg_worker *w, const struct lg_gen *g,
				   const struct lg_policy_device *dev, struct lg_dev_state *s,
				   const struct lg_frame *f, uint64_t rx_ns)
{
	uint32_t win = lg_window_len(w, g, dev, s);
	size_t i = 0;
	float lo, hi;
	bool bad;

	lg_sample_bounds(dev, &lo, &hi);
	bad = frame_has_bad(f, lo, hi);
	if (bad && g->policy.bad_samples == LG_BAD_SAMPLES_DROP) {
		lg_window_drop_bad(s);
		return LG_DROP_BAD_SAMPLE;
	}
	if (lg_window_ready(s, f->channels, win))
		return LG_DROP_UNSUPPORTED; /* out of memory for the window: counted */
	lg_window_follow(w, s, f->sequence, f->timestamp_ns,
			 f->sample_rate ? (uint64_t)f->sample_count * 1000000000ull / f->sample_rate
					: 0);
	while (i < f->sample_count) {
		size_t m = f->sample_count - i < win - s->fill ? f->sample_count - i : win - s->fill;

		if (!s->fill)
			s->first_rx_ns = rx_ns;
		/* incidents: the window's sample times on the sender's clock (timestamp_ns is
		 * the frame's first sample) */
		if (f->timestamp_ns && f->sample_rate) {
			if (!s->fill)
				s->first_ts_ns = f->timestamp_ns + i * 1000000000ull / f->sample_rate;
			s->end_ts_ns = f->timestamp_ns + (i + m) * 1000000000ull / f->sample_rate;
		}
		for (unsigned c = 0; c < f->channels; c++) {
			float *x = s->win + (size_t)c * win + s->fill;

			lg_lgf_samples(f, c, i, m, x);
			if (bad)
				count_masked(w, s, lg_sample_mask_run(x, m, &s->last_good[c], lo, hi));
		}
		i += m;
		s->fill += (uint32_t)m;
		s->last_seq = f->sequence;
		if (s->fill == win)
			window_done(w, g, dev, s);
	}
	/* A clean frame's newest values are its channels' last good ones. */
	for (unsigned c = 0; !bad && c < f->channels; c++)
		s->last_good[c] = frame_value(f, (size_t)(f->sample_count - 1) * f->channels + c);
	return LG_OK;
}
