// SPDX-License-Identifier: MIT
/* The window stage: a verified frame's samples into the device's per-channel window; a full
 * window becomes one feature row per channel in the worker's batch. */
#include "dataplane.h"
#include "stages.h"
#include "scorer.h"

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

/* A full window: one feature row per channel, straight into the batch. */
static void window_done(struct lg_worker *w, const struct lg_gen *g,
			const struct lg_policy_device *dev, struct lg_dev_state *s)
{
	const struct lg_policy *p = &g->policy;
	char fields[LG_EVENT_FIELDS];

	if (dev->uadp_pub_type)
		uadp_fields_json(dev, s, fields, sizeof(fields));
	for (unsigned c = 0; c < s->channels; c++) {
		struct lg_event *e = &w->meta[w->rows];

		lg_features_rows(w->ms->sc[w->id]->fx, s->win + (size_t)c * p->window, 1, p->window,
				 p->window, w->batch + (size_t)w->rows * LG_FEAT_N);
		memset(e, 0, sizeof(*e));
		e->device_id = dev->id;
		e->channel = (uint8_t)c;
		e->seq = s->last_seq;
		e->rx_ns = s->first_rx_ns;
		e->threshold = p->threshold;
		e->nchan = s->channels;
		e->sample_ns = s->first_ts_ns;
		e->sample_end_ns = s->end_ts_ns;
		snprintf(e->name, sizeof(e->name), "%s", dev->name);
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

/* Append one time step, one value per channel. */
void lg_window_step(struct lg_worker *w, const struct lg_gen *g,
			const struct lg_policy_device *dev, struct lg_dev_state *s, const float *v,
			uint64_t seq, uint64_t rx_ns)
{
	uint32_t win = g->policy.window;

	if (!s->fill)
		s->first_rx_ns = rx_ns;
	for (unsigned c = 0; c < s->channels; c++)
		s->win[(size_t)c * win + s->fill] = v[c];
	s->fill++;
	s->last_seq = seq;
	if (s->fill == win)
		window_done(w, g, dev, s);
}

/* Append a verified frame's samples to the device's window, de-interleaving. */
int lg_window_add_frame(struct lg_worker *w, const struct lg_gen *g,
		       const struct lg_policy_device *dev, struct lg_dev_state *s,
		       const struct lg_frame *f, uint64_t rx_ns)
{
	uint32_t win = g->policy.window;
	size_t i = 0;

	if (lg_window_ready(s, f->channels, win))
		return -ENOMEM;
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
		for (unsigned c = 0; c < f->channels; c++)
			lg_lgf_samples(f, c, i, m, s->win + (size_t)c * win + s->fill);
		i += m;
		s->fill += (uint32_t)m;
		s->last_seq = f->sequence;
		if (s->fill == win)
			window_done(w, g, dev, s);
	}
	return 0;
}
