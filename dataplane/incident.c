// SPDX-License-Identifier: MIT
/* The incident state machine of one device (incident.h). */
#include "incident.h"
#include "dataplane.h"
#include "scorer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void lg_inc_time(uint64_t ns, char *out, size_t len)
{
	time_t sec = (time_t)(ns / 1000000000ull);
	struct tm tm;
	char buf[32];

	if (!gmtime_r(&sec, &tm)) {
		snprintf(out, len, "1970-01-01T00:00:00.000Z");
		return;
	}
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, len, "%s.%03uZ", buf, (unsigned)(ns / 1000000ull % 1000));
}

const char *lg_inc_clock_name(uint8_t clock)
{
	switch (clock) {
	case LG_INC_CLOCK_SENDER:
		return "sender";
	case LG_INC_CLOCK_SOURCE:
		return "source_time";
	default:
		return "receive";
	}
}

const char *lg_inc_event_name(enum lg_inc_event ev)
{
	switch (ev) {
	case LG_INC_OPEN:
		return "open";
	case LG_INC_RESOLVE:
	case LG_INC_REMOVED:
		return "resolve";
	case LG_INC_UPDATE:
	case LG_INC_CONTINUE:
	case LG_INC_FINAL:
		return "update";
	default:
		return "none";
	}
}

static uint32_t of_mask(unsigned of)
{
	return of >= 32 ? UINT32_MAX : (1u << of) - 1;
}

/* The id: device name, onset to the second (compact UTC) and the device's counter, which
 * the state folder keeps, so that two runs never give two incidents one id. */
static void make_id(struct lg_inc_rec *r, const char *name)
{
	time_t sec = (time_t)(r->onset_ns / 1000000000ull);
	struct tm tm;
	char t[24] = "19700101T000000Z";

	if (gmtime_r(&sec, &tm))
		strftime(t, sizeof(t), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(r->id, sizeof(r->id), "%.48s-%s-%llu", name, t, (unsigned long long)r->counter);
}

static enum lg_inc_event try_open(struct lg_inc_core *c, struct lg_inc_rec *r,
				  const struct lg_policy_incidents *cfg,
				  const struct lg_inc_win *w, const char *name)
{
	uint32_t alerted = c->hist & of_mask(cfg->of);
	unsigned oldest = 0;
	float max = 0;

	/* An incident opens on an alerting window: a normal one after a live change of
	 * confirm/of does not open one on old alerts. */
	if (!w->alert || (unsigned)__builtin_popcount(alerted) < cfg->confirm)
		return LG_INC_NONE;
	oldest = 31u - (unsigned)__builtin_clz(alerted);
	for (unsigned i = 0; i <= oldest; i++)
		if (c->score[i] > max)
			max = c->score[i];
	r->counter++;
	r->onset_ns = c->t[oldest];
	r->clock = w->clock;
	r->opened_ns = w->now_ns;
	r->windows = oldest + 1;
	r->alerts = (uint64_t)__builtin_popcount(alerted);
	r->max_score = max;
	r->threshold = w->threshold;
	make_id(r, name);
	/* Everything else first: a reader that sees open sees the incident. */
	__atomic_store_n(&r->open, 1, __ATOMIC_RELEASE);
	c->normal_run = 0;
	c->last_event_ns = w->now_ns;
	c->ev_alerts = r->alerts;
	c->ev_max = r->max_score;
	c->ev_windows = r->windows;
	return LG_INC_OPEN;
}

enum lg_inc_event lg_inc_step(struct lg_inc_core *c, struct lg_inc_rec *r,
			      const struct lg_policy_incidents *cfg, const struct lg_inc_win *w,
			      const char *name)
{
	bool cont = false;

	memmove(c->t + 1, c->t, sizeof(c->t) - sizeof(c->t[0]));
	memmove(c->score + 1, c->score, sizeof(c->score) - sizeof(c->score[0]));
	c->t[0] = w->sample_ns;
	c->score[0] = w->score;
	c->last_now_ns = w->now_ns;
	c->hist = c->hist << 1 | (w->alert ? 1u : 0u);
	if (c->nhist < LG_INCIDENT_MAX_OF)
		c->nhist++;
	if (!c->seen) {
		/* The first window of this run: an incident the last run left open goes on. */
		c->seen = true;
		if (r->open) {
			cont = true;
			c->normal_run = 0;
		}
	}
	if (!r->open)
		return try_open(c, r, cfg, w, name);
	/* Status reads these while we run (lg_inc_final()): one relaxed store each. */
	__atomic_store_n(&r->windows, r->windows + 1, __ATOMIC_RELAXED);
	if (w->alert)
		__atomic_store_n(&r->alerts, r->alerts + 1, __ATOMIC_RELAXED);
	if (w->score > r->max_score)
		__atomic_store(&r->max_score, &(float){ w->score }, __ATOMIC_RELAXED);
	r->threshold = w->threshold;
	/* Hysteresis: a score that hovers at the threshold is not yet normal. Not below what
	 * the model's healthy windows score (its normal level): a kNN model's sit near 0.8 of
	 * its threshold, and under 0.8 alone its incidents never resolved (trial s19 C H2). */
	if (w->score < w->threshold * (w->level > cfg->hysteresis ? w->level : cfg->hysteresis))
		c->normal_run++;
	else
		c->normal_run = 0;
	if (c->normal_run >= cfg->resolve_after) {
		__atomic_store_n(&r->open, 0, __ATOMIC_RELEASE);
		/* The next incident needs confirm fresh alerting windows. */
		c->hist = 0;
		c->nhist = 0;
		c->normal_run = 0;
		c->last_event_ns = w->now_ns;
		return LG_INC_RESOLVE;
	}
	if (cont) {
		c->last_event_ns = w->now_ns;
		c->ev_alerts = r->alerts;
		c->ev_max = r->max_score;
		c->ev_windows = r->windows;
		return LG_INC_CONTINUE;
	}
	/* An update: at most one per update_ms, and only with news (more alerting windows,
	 * a higher score), so that a long incident is a handful of lines, not one a window. */
	if (w->now_ns - c->last_event_ns >= (uint64_t)cfg->update_ms * 1000000ull &&
	    (r->alerts != c->ev_alerts || r->max_score > c->ev_max)) {
		c->last_event_ns = w->now_ns;
		c->ev_alerts = r->alerts;
		c->ev_max = r->max_score;
		c->ev_windows = r->windows;
		return LG_INC_UPDATE;
	}
	return LG_INC_NONE;
}

enum lg_inc_event lg_inc_final(struct lg_inc_core *c, const struct lg_inc_rec *r)
{
	/* Not seen this run: a record a previous run left open has no news from this one. */
	if (!r->open || !c->seen)
		return LG_INC_NONE;
	if (r->windows == c->ev_windows && r->alerts == c->ev_alerts && !(r->max_score > c->ev_max))
		return LG_INC_NONE;
	c->last_event_ns = c->last_now_ns;
	c->ev_alerts = r->alerts;
	c->ev_max = r->max_score;
	c->ev_windows = r->windows;
	return LG_INC_FINAL;
}

enum lg_inc_event lg_inc_removed(struct lg_inc_core *c, struct lg_inc_rec *r)
{
	if (!__atomic_load_n(&r->open, __ATOMIC_ACQUIRE))
		return LG_INC_NONE;
	__atomic_store_n(&r->open, 0, __ATOMIC_RELEASE);
	c->hist = 0;
	c->nhist = 0;
	c->normal_run = 0;
	return LG_INC_REMOVED;
}

/* The worker's side: rows in, incident events out to the output thread. */

const uint64_t lg_tti_bounds_ms[LG_TTI_BUCKETS - 1] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
};

/* An incident event goes on the alerts ring: it is rarer and matters more than a score. */
static void inc_emit(struct lg_worker *w, const struct lg_event *e)
{
	while (!lg_spsc_push(&w->alerts, e)) {
		if (!w->unpaced || atomic_load_explicit(&w->dp->stop, memory_order_relaxed)) {
			atomic_fetch_add_explicit(&w->st.ring_full_incidents, 1,
						  memory_order_relaxed);
			return;
		}
		lg_spsc_wake(&w->alerts);
		atomic_fetch_add_explicit(&w->st.output_waits, 1, memory_order_relaxed);
		nanosleep(&(struct timespec){ 0, 100000 }, NULL);
	}
	lg_spsc_wake(&w->alerts);
}

/* The device window's sample time (its first sample) and end (past its last sample), and
 * which clock they are on: the publisher's DateTime field, the LGF sender's timestamp, or
 * our own wall clock at arrival and scoring. */
static uint8_t window_times(const struct lg_event *e, uint64_t *start, uint64_t *end)
{
	if (e->source_time > 116444736000000000LL) {
		/* OPC UA DateTime (100 ns ticks since 1601) of the newest message in the window */
		*start = *end = (uint64_t)(e->source_time - 116444736000000000LL) * 100u;
		return LG_INC_CLOCK_SOURCE;
	}
	if (e->sample_ns) {
		*start = e->sample_ns;
		*end = e->sample_end_ns > e->sample_ns ? e->sample_end_ns : e->sample_ns;
		return LG_INC_CLOCK_SENDER;
	}
	*end = e->scored_wall_ns;
	*start = e->scored_wall_ns - (e->scored_ns - e->rx_ns);
	return LG_INC_CLOCK_RECEIVE;
}

/*
 * Time to insight in ms, on one clock. onset is on the window's clock (the sender's, the
 * publisher's DateTime); opened on linegate's. A sender whose clock is off (by minutes, or
 * 338 days for a recording sent again) would make opened - onset meaningless, so the onset
 * is carried onto linegate's clock by the offset the opening window shows: when its last
 * frame arrived (linegate's wall clock) less its end on its own clock. Within a second that
 * offset is the network's delay and how a sender stamps its frames (the first sample's
 * time, or when it sent them), and the sender's sample-exact clock is the better onset:
 * opened - onset as it is. A replay (finite stream) and the receive clock are one clock.
 */
static uint64_t inc_tti(const struct lg_worker *w, const struct lg_event *e,
			const struct lg_inc_rec *r, uint64_t end)
{
	uint64_t onset = r->onset_ns;

	if (!w->dp->finite && r->clock != LG_INC_CLOCK_RECEIVE) {
		uint64_t arr = e->arrival_ns ? e->arrival_ns : e->rx_ns;
		uint64_t arrival_wall = e->scored_wall_ns - (e->scored_ns > arr ?
							     e->scored_ns - arr : 0);
		int64_t offset = (int64_t)(arrival_wall - end);

		if (offset > LG_INC_CLOCK_STEP_NS || offset < -LG_INC_CLOCK_STEP_NS)
			onset = (uint64_t)((int64_t)onset + offset);
	}
	return r->opened_ns > onset ? (r->opened_ns - onset) / 1000000u : 0;
}

void lg_worker_incident(struct lg_worker *w, const struct lg_event *e, struct lg_dev_state *s)
{
	struct lg_inc_win win = { 0 };
	struct lg_event ev;
	enum lg_inc_event t;
	uint64_t end;

	/* A device's channels finish their windows together and their rows come in channel
	 * order: one device window, alerting when any channel alerted. */
	if (e->channel == 0 || e->score > s->inc_max)
		s->inc_max = e->score;
	s->inc_alert = e->channel == 0 ? e->alert : (s->inc_alert || e->alert);
	/* Not before the worker took a generation's rules (lg_worker_main). */
	if (e->channel + 1u < e->nchan || !w->inc.of)
		return;
	if (!s->inc_rec)
		__atomic_store_n(&s->inc_rec, &s->inc_local, __ATOMIC_RELEASE);
	win.alert = s->inc_alert;
	win.score = s->inc_max;
	win.threshold = e->threshold;
	win.clock = window_times(e, &win.sample_ns, &end);
	win.level = lg_scorer_normal_level(w->ms->sc[w->id], e->det, e->threshold);
	/* A recording replayed is not now: its incidents open at the sample time that
	 * confirmed them, the same every run. */
	win.now_ns = w->dp->finite ? end : e->scored_wall_ns;
	t = lg_inc_step(&s->inc, s->inc_rec, &w->inc, &win, e->name);
	if (t == LG_INC_NONE)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.kind = LG_EV_INCIDENT;
	ev.inc_event = (uint8_t)t;
	ev.device_id = e->device_id;
	snprintf(ev.name, sizeof(ev.name), "%s", e->name);
	ev.scored_wall_ns = win.now_ns;
	ev.rx_ns = e->rx_ns;
	ev.inc = *s->inc_rec;
	if (t == LG_INC_OPEN) {
		uint64_t tti = inc_tti(w, e, &ev.inc, end);
		unsigned b = 0;

		s->inc_rec->tti_ms = ev.inc.tti_ms = (uint32_t)(tti < UINT32_MAX ? tti : UINT32_MAX);
		s->inc_rec->tti_set = ev.inc.tti_set = 1;
		while (b < LG_TTI_BUCKETS - 1 && tti > lg_tti_bounds_ms[b])
			b++;
		atomic_fetch_add_explicit(&w->st.inc_opened, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&w->st.tti_hist[b], 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&w->st.tti_sum_ms, tti, memory_order_relaxed);
	} else if (t == LG_INC_RESOLVE) {
		atomic_fetch_add_explicit(&w->st.inc_resolved, 1, memory_order_relaxed);
	} else if (t == LG_INC_CONTINUE) {
		atomic_fetch_add_explicit(&w->st.inc_continued, 1, memory_order_relaxed);
	} else {
		atomic_fetch_add_explicit(&w->st.inc_updates, 1, memory_order_relaxed);
	}
	inc_emit(w, &ev);
}

/*
 * The worker stops (linegate stops, a replay ended): each open incident of its devices with
 * news since its last event gets a last update (docs/operations.md "Incidents"), so that
 * the output's last line of it carries the figures its windows reached. Called after the
 * last flush, before the output thread drains the rings.
 */
void lg_worker_incidents_final(struct lg_worker *w, const struct lg_gen *g)
{
	struct lg_event ev;

	for (size_t i = 0; g && i < g->policy.ndevices; i++) {
		struct lg_dev_state *s = g->state[i];

		if (g->owner[i] != w->id || !s || !s->inc_rec ||
		    lg_inc_final(&s->inc, s->inc_rec) != LG_INC_FINAL)
			continue;
		memset(&ev, 0, sizeof(ev));
		ev.kind = LG_EV_INCIDENT;
		ev.inc_event = LG_INC_FINAL;
		ev.device_id = g->policy.devices[i].id;
		snprintf(ev.name, sizeof(ev.name), "%s", g->policy.devices[i].name);
		/* the event clock of the device's newest window: a replay's lines stay the same
		 * every run */
		ev.scored_wall_ns = s->inc.last_now_ns;
		ev.inc = *s->inc_rec;
		atomic_fetch_add_explicit(&w->st.inc_updates, 1, memory_order_relaxed);
		inc_emit(w, &ev);
	}
}

/*
 * The worker moves from generation old to g: each open incident of a device it owned in old
 * that g no longer has (revoked, a policy without it) is resolved with a reason, through
 * the usual event path (JSON lines, MQTT, NATS, InfluxDB, the open-incident table), and is
 * closed in the state folder, so that a restart does not show it again (trial J F11). Called
 * after the worker scored what it held of old, before it says it moved on (old is freed
 * only then).
 */
void lg_worker_incidents_removed(struct lg_worker *w, const struct lg_gen *old,
				 const struct lg_gen *g)
{
	struct lg_event ev;

	for (size_t i = 0; old && g && i < old->policy.ndevices; i++) {
		const struct lg_policy_device *d = &old->policy.devices[i];
		struct lg_dev_state *s = old->state[i];
		struct timespec ts;

		if (old->owner[i] != w->id || !s || !s->inc_rec ||
		    lg_policy_find(&g->policy, d->id) ||
		    lg_inc_removed(&s->inc, s->inc_rec) != LG_INC_REMOVED)
			continue;
		memset(&ev, 0, sizeof(ev));
		ev.kind = LG_EV_INCIDENT;
		ev.inc_event = LG_INC_REMOVED;
		ev.device_id = d->id;
		snprintf(ev.name, sizeof(ev.name), "%s", d->name);
		/* now on the event clock: a replay's (finite) is its newest window's */
		if (w->dp->finite && s->inc.last_now_ns)
			ev.scored_wall_ns = s->inc.last_now_ns;
		else if (!clock_gettime(CLOCK_REALTIME, &ts))
			ev.scored_wall_ns = (uint64_t)ts.tv_sec * 1000000000ull +
					    (uint64_t)ts.tv_nsec;
		ev.inc = *s->inc_rec;
		atomic_fetch_add_explicit(&w->st.inc_resolved, 1, memory_order_relaxed);
		inc_emit(w, &ev);
	}
}

/* The open-incident table: the output thread keeps it as it publishes. */
void lg_dp_inc_table(struct lg_dp *dp, const struct lg_inc_rec *r, const char *name)
{
	size_t i;

	pthread_mutex_lock(&dp->inc_lock);
	for (i = 0; i < dp->ninc_open; i++)
		if (dp->inc_open[i].rec.dev == r->dev)
			break;
	if (!r->open) {
		if (i < dp->ninc_open)
			dp->inc_open[i] = dp->inc_open[--dp->ninc_open];
	} else {
		bool fresh = i == dp->ninc_open;

		if (fresh && dp->ninc_open == dp->inc_cap) {
			size_t cap = dp->inc_cap ? dp->inc_cap * 2 : 16;
			void *n = realloc(dp->inc_open, cap * sizeof(*dp->inc_open));

			if (!n)
				goto out; /* status shows fewer; the events went out */
			dp->inc_open = n;
			dp->inc_cap = cap;
		}
		if (fresh)
			dp->ninc_open++;
		dp->inc_open[i].rec = *r;
		if (name && name[0])
			snprintf(dp->inc_open[i].name, sizeof(dp->inc_open[i].name), "%s", name);
		else if (fresh)
			snprintf(dp->inc_open[i].name, sizeof(dp->inc_open[i].name), "device-%u",
				 r->dev);
	}
out:
	pthread_mutex_unlock(&dp->inc_lock);
}
