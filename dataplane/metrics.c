// SPDX-License-Identifier: MIT
/*
 * Counters out: one snapshot of every counter, rendered as the JSON of `linegatectl
 * metrics` / --stats-out, or as Prometheus text (GET /metrics: http.c).
 */
#include "dataplane.h"
#include "mqtt.h"
#include "nats.h"
#include "influx.h"
#include "opcua_mqtt.h"
#include "record.h"
#include "scorer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <lgadmit.h>
#include <linegate/uadmit.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct dev_snap {
	uint32_t id;
	char name[LG_NAME_MAX];
	/* Its labels: device, name and (issue 12) line, station, asset where the policy gives
	 * them, escaped for the exposition format. */
	char labels[2 * LG_NAME_MAX + 3 * (2 * LG_META_STR_MAX + 16) + 32];
	uint64_t admitted, windows, alerts;
	uint64_t windows_dropout; /* issue 8: not scored as a sensor dropout */
	uint64_t window_gaps; /* partial windows dropped at a gap in the device's stream */
	uint64_t windows_unscored; /* the policy's score: false */
	uint64_t windows_impact_failed; /* issue 8: not scored, impact features failed */
	float last_score;
	uint64_t bad_sample_drops, samples_masked; /* bad samples (issue 8) */
	uint64_t rate_drops; /* frames at another sample rate than the model's */
	uint64_t chan_drops; /* frames of another channel count than the detector's */
	uint64_t drops[LG_REASON_MAX]; /* refused once known to be the device's */
	/* The reorder stage (reorder.h): sequences declared lost, frames held and released
	 * (late ones are drops[LG_DROP_LATE]): a view of the device's sequence, apart from the
	 * accounting of frames received. */
	uint64_t seq_missing, seq_reordered, seq_jumps;
	uint8_t drift; /* drift.h: bit (1 << method) */
	/* What admission (XDP, or user space for DPDK) counted for it, before any worker:
	 * have_adm when there is admission and it saw the device's frames. */
	bool have_adm;
	struct lg_admit_dev_ctr adm;
};

struct worker_snap {
	uint64_t judged, admitted, handed, lost; /* lost: the backend's drops on its queue */
	uint64_t scored, batches;
	uint64_t out_wakeups; /* issue 10: times it woke the output thread */
	uint64_t out_waits;   /* an unpaced replay: 100 us waits for room in its output rings */
	uint64_t ring_high, ring_size; /* issue 10: the backend's receive ring (afxdp) */
	uint64_t eof_wait_ns; /* the silence the backend waited for before end of stream */
	int cpu;
};

struct snap {
	uint64_t uptime_ms, rx, reason[LG_REASON_MAX], windows, scored, alerts, batches, full_s,
	    full_a, lat_sum, lat_max, hb, be, rxerr, handed, urx, uuns, uunp, upart, shs, shd,
	    shs_all, shd_all, bf16r, nodet, out_lines, out_dropped, out_dropped_alerts, applies,
	    ctl_denied, apply_failures, swaps, lat_hist[LG_LAT_BUCKETS], pub_hist[LG_LAT_BUCKETS],
	    pub_sum, batch_hist[LG_BATCH_BUCKETS], model_epoch, policy_epoch;
	uint64_t masked, nonfinite; /* bad samples (issue 8) */
	/* incidents */
	uint64_t inc_opened, inc_resolved, inc_continued, inc_updates, inc_open, full_i, tti_sum_ms,
		tti_hist[LG_TTI_BUCKETS];
	uint64_t drift_events; /* drift.c */
	uint64_t drift_nomem;
	struct lg_lat_snap lat[LG_LAT_STAGES]; /* honest latency (latency.h) */
	char model[96], shadow[96], policy_sha[65];
	char model_gemm[32]; /* an ONNX model's GEMM route, as the control socket's status */
	bool have_xdp, have_mqtt, have_uadmit, have_om;
	struct lg_opcua_mqtt_stats om; /* OPC UA PubSub from a broker */
	struct lg_admit_reason_ctr xdp[LG_R_MAX];
	struct lg_admit_reason_ctr uadmit[LG_R_MAX]; /* user-space admission (dpdk) */
	struct lg_mqtt_stats mqtt;
	bool have_nats; /* NATS JetStream output (nats.h) */
	struct lg_nats_stats nats;
	bool have_influx; /* issue 12: InfluxDB line protocol (influx.h) */
	struct lg_influx_stats influx;
	size_t ndev;
	struct dev_snap *dev;
	unsigned nworkers;
	struct worker_snap wk[LG_MAX_WORKERS];
	/* Issue 10: the output thread's sleeps, wake-ups (by anyone) and linger naps. */
	uint64_t out_sleeps, out_wakeups, out_naps, out_wakeups_workers;
};

/* A label value as the exposition format wants it: backslash, quote and newline escaped. */
static size_t label_value(const char *v, char *out, size_t len)
{
	size_t u = 0;

	for (; *v && u + 3 < len; v++) {
		if (*v == '\\' || *v == '"' || *v == '\n')
			out[u++] = '\\';
		out[u++] = *v == '\n' ? 'n' : *v;
	}
	out[u] = '\0';
	return u;
}

/*
 * Issue 12: the per-device metrics carry line, station and asset (when given) besides
 * device and name. Bounded: at most LG_META_STR_MAX - 1 bytes each, one value per device,
 * so no more series than devices; sensor, units and tags are not labels (docs/policy.md).
 */
static void dev_labels(const struct lg_policy_device *d, char *b, size_t len)
{
	const char *names[] = { "line", "station", "asset" };
	const char *vals[] = { d->meta.line, d->meta.station, d->meta.asset };
	size_t u = (size_t)snprintf(b, len, "device=\"%u\",name=\"%s\"", d->id, d->name);

	for (unsigned i = 0; i < 3 && u < len; i++) {
		char v[2 * LG_META_STR_MAX];

		if (!vals[i][0])
			continue;
		label_value(vals[i], v, sizeof(v));
		u += (size_t)snprintf(b + u, len - u, ",%s=\"%s\"", names[i], v);
	}
}

static void take(struct lg_dp *dp, struct snap *s)
{
	struct lg_modelset *ms;
	struct lg_gen *g;

	memset(s, 0, sizeof(*s));
	s->nworkers = dp->nworkers;
	s->out_sleeps = atomic_load(&dp->out_wake.sleeps);
	s->out_wakeups = atomic_load(&dp->out_wake.wakes);
	s->out_naps = atomic_load(&dp->out_wake.naps);
	for (unsigned w = 0; w < dp->nworkers; w++) {
		struct lg_worker_stats *st = &dp->workers[w].st;

		s->rx += atomic_load(&st->rx);
		for (int r = 0; r < LG_REASON_MAX; r++)
			s->reason[r] += atomic_load(&st->reason[r]);
		s->windows += atomic_load(&st->windows);
		s->scored += atomic_load(&st->scored);
		s->alerts += atomic_load(&st->alerts);
		s->batches += atomic_load(&st->batches);
		s->hb += atomic_load(&st->heartbeats);
		s->full_s += atomic_load(&st->ring_full_scores);
		s->full_a += atomic_load(&st->ring_full_alerts);
		s->rxerr += atomic_load(&st->rx_errors);
		s->urx += atomic_load(&st->uadp_rx);
		s->uuns += atomic_load(&st->uadp_unsigned);
		s->uunp += atomic_load(&st->uadp_unprotected);
		s->upart += atomic_load(&st->uadp_partial);
		{
			/* base first: a worker that takes new models between the two loads
			 * counts 0 here, never a wrapped difference */
			uint64_t sb = atomic_load(&st->shadow_scored_base),
				 db = atomic_load(&st->shadow_disagree_base),
				 sc = atomic_load(&st->shadow_scored),
				 dc = atomic_load(&st->shadow_disagree);

			s->shs_all += sc;
			s->shd_all += dc;
			s->shs += sc > sb ? sc - sb : 0;
			s->shd += dc > db ? dc - db : 0;
		}
		s->bf16r += atomic_load(&st->bf16_rescored);
		s->nodet += atomic_load(&st->no_detector);
		s->drift_events += atomic_load(&st->drift_events);
		s->drift_nomem += atomic_load(&st->drift_nomem);
		s->handed += atomic_load(&st->handed_off);
		s->masked += atomic_load(&st->samples_masked);
		s->nonfinite += atomic_load(&st->rows_nonfinite);
		s->lat_sum += atomic_load(&st->latency_ns_sum);
		if (atomic_load(&st->latency_ns_max) > s->lat_max)
			s->lat_max = atomic_load(&st->latency_ns_max);
		for (int b = 0; b < LG_LAT_BUCKETS; b++)
			s->lat_hist[b] += atomic_load(&st->lat_hist[b]);
		for (int b = 0; b < LG_BATCH_BUCKETS; b++)
			s->batch_hist[b] += atomic_load(&st->batch_hist[b]);
		for (int k = 0; k < LG_LAT_SCORED_PUBLISHED; k++)
			lg_lat_take(&s->lat[k], &st->stage[k]);
		s->inc_opened += atomic_load(&st->inc_opened);
		s->inc_resolved += atomic_load(&st->inc_resolved);
		s->inc_continued += atomic_load(&st->inc_continued);
		s->inc_updates += atomic_load(&st->inc_updates);
		s->full_i += atomic_load(&st->ring_full_incidents);
		s->tti_sum_ms += atomic_load(&st->tti_sum_ms);
		for (int b = 0; b < LG_TTI_BUCKETS; b++)
			s->tti_hist[b] += atomic_load(&st->tti_hist[b]);
		s->wk[w].judged = atomic_load(&st->rx);
		s->wk[w].admitted = atomic_load(&st->reason[LG_OK]);
		s->wk[w].handed = atomic_load(&st->handed_off);
		s->wk[w].scored = atomic_load(&st->scored);
		s->wk[w].out_wakeups = atomic_load(&dp->workers[w].alerts.wakes_sent) +
				       atomic_load(&dp->workers[w].scores_ring.wakes_sent);
		s->out_wakeups_workers += s->wk[w].out_wakeups;
		s->wk[w].out_waits = atomic_load(&st->output_waits);
		s->wk[w].batches = atomic_load(&st->batches);
		s->wk[w].cpu = atomic_load(&dp->workers[w].cpu);
		if (dp->workers[w].be && dp->workers[w].ops->stats) {
			struct lg_backend_stats bs = { 0 };

			dp->workers[w].ops->stats(dp->workers[w].be, &bs);
			for (int r = 0; r < LG_REASON_MAX; r++) {
				s->reason[r] += bs.drops[r];
				s->be += bs.drops[r];
				s->wk[w].lost += bs.drops[r];
			}
			s->wk[w].ring_high = bs.ring_high;
			s->wk[w].ring_size = bs.ring_size;
			s->wk[w].eof_wait_ns = bs.eof_wait_ns;
		}
	}
	for (int b = 0; b < LG_LAT_BUCKETS; b++)
		s->pub_hist[b] = atomic_load(&dp->pub_hist[b]);
	s->pub_sum = atomic_load(&dp->pub_sum_ns);
	lg_lat_take(&s->lat[LG_LAT_SCORED_PUBLISHED], &dp->lat_out[0]);
	lg_lat_take(&s->lat[LG_LAT_END_TO_END], &dp->lat_out[1]);
	pthread_mutex_lock(&dp->inc_lock);
	s->inc_open = dp->ninc_open;
	pthread_mutex_unlock(&dp->inc_lock);
	s->uptime_ms = (lg_now_ns() - dp->started_ns) / 1000000;
	s->out_lines = atomic_load(&dp->out_written);
	s->out_dropped = atomic_load(&dp->out_dropped);
	s->out_dropped_alerts = atomic_load(&dp->out_dropped_alerts);
	s->applies = atomic_load(&dp->applies);
	s->ctl_denied = atomic_load(&dp->ctl_denied);
	s->apply_failures = atomic_load(&dp->apply_failures);
	s->swaps = atomic_load(&dp->model_swaps);

	/* The model set cannot be freed under us: model_lock serialises swaps. */
	pthread_mutex_lock(&dp->model_lock);
	ms = atomic_load(&dp->models);
	if (ms) {
		snprintf(s->model, sizeof(s->model), "%s", ms->active);
		snprintf(s->shadow, sizeof(s->shadow), "%s", ms->shadow);
		s->model_epoch = ms->epoch;
		snprintf(s->model_gemm, sizeof(s->model_gemm), "%s", lg_scorer_gemm(ms->sc[0]));
	}
	pthread_mutex_unlock(&dp->model_lock);
	if (dp->mqtt) {
		s->have_mqtt = true;
		lg_mqtt_stats(dp->mqtt, &s->mqtt);
	}
	if (dp->nats) {
		s->have_nats = true;
		lg_nats_stats(dp->nats, &s->nats);
	}
	if (dp->influx) {
		s->have_influx = true;
		lg_influx_stats(dp->influx, &s->influx);
	}
	if (dp->opcua_mqtt) {
		/* What it refused never reached a worker: counted as a backend's losses are. */
		s->have_om = true;
		lg_opcua_mqtt_stats(dp->opcua_mqtt, &s->om);
		for (int r = 0; r < LG_REASON_MAX; r++) {
			s->reason[r] += s->om.drops[r];
			s->be += s->om.drops[r];
		}
	}
	if (dp->admit)
		s->have_xdp = !lg_admit_read_reasons(dp->admit, s->xdp);
	if (dp->uadmit) {
		lg_uadmit_read_reasons(dp->uadmit, s->uadmit);
		s->have_uadmit = true;
	}

	/* Nor the generation: apply_lock serialises frees. */
	pthread_mutex_lock(&dp->apply_lock);
	g = atomic_load(&dp->gen);
	lg_hex_encode(g->policy.hash, sizeof(g->policy.hash), s->policy_sha);
	s->policy_epoch = g->epoch;
	s->dev = calloc(g->policy.ndevices ? g->policy.ndevices : 1, sizeof(*s->dev));
	for (size_t i = 0; s->dev && i < g->policy.ndevices; i++) {
		struct dev_snap *d = &s->dev[s->ndev++];

		d->id = g->policy.devices[i].id;
		snprintf(d->name, sizeof(d->name), "%s", g->policy.devices[i].name);
		dev_labels(&g->policy.devices[i], d->labels, sizeof(d->labels));
		{
			struct lg_dev_state *st = g->state[i];
			uint32_t bits = atomic_load(&st->last_score_bits);

			d->admitted = atomic_load(&st->admitted);
			d->windows = atomic_load(&st->windows);
			d->alerts = atomic_load(&st->alerts);
			d->windows_dropout = atomic_load(&st->windows_dropout);
			d->window_gaps = atomic_load(&st->window_gaps);
			d->windows_unscored = atomic_load(&st->windows_unscored);
			d->windows_impact_failed = atomic_load(&st->windows_impact_failed);
			d->bad_sample_drops = atomic_load(&st->bad_sample_drops);
			d->rate_drops = atomic_load(&st->rate.drops);
			d->chan_drops = atomic_load(&st->chan.drops);
			for (int r = 0; r < LG_REASON_MAX; r++)
				d->drops[r] = atomic_load_explicit(&st->drops[r],
								   memory_order_relaxed);
			d->samples_masked = atomic_load(&st->samples_masked);
			d->seq_missing = atomic_load_explicit(&st->order.missing,
							      memory_order_relaxed);
			d->seq_reordered = atomic_load_explicit(&st->order.reordered,
								memory_order_relaxed);
			d->seq_jumps = atomic_load_explicit(&st->order.jumps, memory_order_relaxed);
			d->drift = atomic_load(&st->drift.flag);
			memcpy(&d->last_score, &bits, sizeof(d->last_score));
		}
		if (dp->admit)
			d->have_adm = !lg_admit_read_device(dp->admit, d->id, &d->adm);
		else if (dp->uadmit)
			d->have_adm = !lg_uadmit_read_device(dp->uadmit, d->id, &d->adm);
	}
	pthread_mutex_unlock(&dp->apply_lock);
}

/*
 * The open-incident table is written at events (open, update, resolve), and updates come at
 * most once per update_ms: its windows, alerts and highest score are taken from the devices'
 * records instead, which the owner worker keeps at every window (lg_inc_step()), so that
 * status and the final counters say what the windows reached.
 */
static void inc_table_refresh(struct lg_dp *dp)
{
	struct lg_gen *g;

	pthread_mutex_lock(&dp->apply_lock);
	g = atomic_load(&dp->gen);
	pthread_mutex_lock(&dp->inc_lock);
	for (size_t i = 0; g && i < dp->ninc_open; i++) {
		struct lg_inc_rec *t = &dp->inc_open[i].rec, *r = NULL;

		for (size_t d = 0; d < g->policy.ndevices; d++)
			if (g->policy.devices[d].id == t->dev && g->state[d]) {
				r = __atomic_load_n(&g->state[d]->inc_rec, __ATOMIC_ACQUIRE);
				break;
			}
		/* the same incident still open: its figures only grow */
		if (!r || !__atomic_load_n(&r->open, __ATOMIC_ACQUIRE) ||
		    strcmp(r->id, t->id))
			continue;
		t->windows = __atomic_load_n(&r->windows, __ATOMIC_RELAXED);
		t->alerts = __atomic_load_n(&r->alerts, __ATOMIC_RELAXED);
		__atomic_load(&r->max_score, &t->max_score, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&dp->inc_lock);
	pthread_mutex_unlock(&dp->apply_lock);
}

/* incidents: the open ones (the output thread's table), for status and the counters. */
json_object *lg_dp_inc_json(struct lg_dp *dp)
{
	json_object *a = json_object_new_array();

	inc_table_refresh(dp);
	pthread_mutex_lock(&dp->inc_lock);
	for (size_t i = 0; i < dp->ninc_open; i++) {
		const struct lg_inc_rec *r = &dp->inc_open[i].rec;
		json_object *o = json_object_new_object();
		char onset[40], opened[40];

		lg_inc_time(r->onset_ns, onset, sizeof(onset));
		lg_inc_time(r->opened_ns, opened, sizeof(opened));
		json_object_object_add(o, "incident", json_object_new_string(r->id));
		json_object_object_add(o, "device", json_object_new_uint64(r->dev));
		json_object_object_add(o, "name", json_object_new_string(dp->inc_open[i].name));
		json_object_object_add(o, "onset", json_object_new_string(onset));
		json_object_object_add(o, "clock", json_object_new_string(lg_inc_clock_name(r->clock)));
		json_object_object_add(o, "opened", json_object_new_string(opened));
		json_object_object_add(o, "windows", json_object_new_uint64(r->windows));
		json_object_object_add(o, "alerts", json_object_new_uint64(r->alerts));
		json_object_object_add(o, "max_score", json_object_new_double(r->max_score));
		json_object_array_add(a, o);
	}
	pthread_mutex_unlock(&dp->inc_lock);
	return a;
}

static void add_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

/* Honest latency (latency.h): per stage its count, p50, p99 and mean in us, and its buckets
 * (not cumulative, the last one +Inf) on bounds_us. */
static json_object *lat_json(const struct snap *s)
{
	json_object *o = json_object_new_object(), *bounds = json_object_new_array();

	for (int i = 0; i < LG_LAT_BUCKETS - 1; i++)
		json_object_array_add(bounds,
				      json_object_new_uint64(lg_latency_bounds_ns[i] / 1000));
	json_object_object_add(o, "bounds_us", bounds);
	for (int k = 0; k < LG_LAT_STAGES; k++) {
		const struct lg_lat_snap *h = &s->lat[k];
		json_object *st = json_object_new_object(), *b = json_object_new_array();
		uint64_t n = lg_lat_count(h);

		add_u64(st, "count", n);
		json_object_object_add(st, "p50_us",
				       json_object_new_double(lg_lat_quantile(h, 0.5) / 1e3));
		json_object_object_add(st, "p99_us",
				       json_object_new_double(lg_lat_quantile(h, 0.99) / 1e3));
		add_u64(st, "sum_ns", h->sum_ns);
		json_object_object_add(st, "mean_us",
				       json_object_new_double(n ? h->sum_ns / 1e3 / (double)n : 0));
		for (int i = 0; i < LG_LAT_BUCKETS; i++)
			json_object_array_add(b, json_object_new_uint64(h->b[i]));
		json_object_object_add(st, "buckets", b);
		json_object_object_add(o, lg_lat_stage_names[k], st);
	}
	return o;
}

/* Honest latency: one line, p50/p99 per stage, for the summary at the end of a run. */
static void lat_summary(const struct snap *s, FILE *f)
{
	if (!lg_lat_count(&s->lat[LG_LAT_ARRIVAL_WORKER]))
		return;
	fprintf(f, "linegate: latency p50/p99 us:");
	for (int k = 0; k < LG_LAT_STAGES; k++)
		fprintf(f, " %s %.0f/%.0f", lg_lat_stage_names[k],
			lg_lat_quantile(&s->lat[k], 0.5) / 1e3, lg_lat_quantile(&s->lat[k], 0.99) / 1e3);
	fputc('\n', f);
}

/* An on-disk outbox (outbox.h) of the MQTT or the NATS output. */
static json_object *outbox_json(const struct lg_outbox_stats *x)
{
	json_object *ob = json_object_new_object();

	add_u64(ob, "next_seq", x->next_seq);
	add_u64(ob, "acked_seq", x->acked);
	add_u64(ob, "records", x->records);
	add_u64(ob, "bytes", x->bytes);
	add_u64(ob, "appended", x->appended);
	add_u64(ob, "dropped_scores", x->dropped_scores);
	add_u64(ob, "dropped_features", x->dropped_features);
	add_u64(ob, "dropped_alerts", x->dropped_alerts);
	add_u64(ob, "dropped_too_large", x->dropped_full);
	add_u64(ob, "evicted", x->evicted);
	{
		/* of them by kind (trial Q, s23: two incident opens were among them) */
		static const char *const k[LG_OUTBOX_KINDS] = { "scores", "alerts", "incidents",
								"events", "features" };
		json_object *e = json_object_new_object();

		for (int i = 0; i < LG_OUTBOX_KINDS; i++)
			add_u64(e, k[i], x->evicted_kind[i]);
		json_object_object_add(ob, "evicted_by_kind", e);
	}
	add_u64(ob, "dropped_disk", x->dropped_disk);
	add_u64(ob, "torn", x->torn);
	add_u64(ob, "sync_errors", x->sync_errors);
	return ob;
}

/*
 * JSON lines (output.c): per kind, written, dropped by a failed write, abandoned at
 * shutdown; rotations and reopens. Every line the output thread took is in one of the three.
 */
static void jsonl_stats_json(struct lg_dp *dp, json_object *o)
{
	json_object *j = json_object_new_object();

	for (unsigned k = 0; k < LG_OUT_KINDS; k++) {
		json_object *kind = json_object_new_object();

		add_u64(kind, "written", atomic_load(&dp->out_k_written[k]));
		add_u64(kind, "dropped", atomic_load(&dp->out_k_dropped[k]));
		add_u64(kind, "abandoned", atomic_load(&dp->out_k_abandoned[k]));
		json_object_object_add(j, lg_out_kind_names[k], kind);
	}
	add_u64(j, "rotations", atomic_load(&dp->out_rotations));
	add_u64(j, "reopens", atomic_load(&dp->out_reopens));
	add_u64(j, "reopen_errors", atomic_load(&dp->out_reopen_errors));
	add_u64(j, "cut_lines_left", atomic_load(&dp->out_cut_lines));
	json_object_object_add(o, "jsonl", j);
}

/*
 * A finite stream that every worker saw to its end: the wall time from the first frame a
 * worker took to the last row scored (less the silence by which a backend told the end,
 * lg_backend_stats.eof_wait_ns), and the CPU time of each worker and of the output
 * thread by then (how two workers compare with one, docs/benchmarks.md). False otherwise.
 */
struct replay_fig {
	double seconds, worker_cpu_s[LG_MAX_WORKERS], output_cpu_s;
};

static bool replay_figures(struct lg_dp *dp, const struct snap *s, struct replay_fig *r)
{
	uint64_t first = UINT64_MAX, last = 0;

	if (!dp->finite || atomic_load(&dp->done_workers) != dp->nworkers)
		return false;
	for (unsigned w = 0; w < dp->nworkers; w++) {
		uint64_t a = atomic_load(&dp->workers[w].first_rx_ns),
			 b = atomic_load(&dp->workers[w].done_ns);

		/* Not the silence after the last frame that told the backend the stream ended
		 * (dpdk's eof=, 500 ms for a net_pcap file): the replay's own time. */
		if (b > s->wk[w].eof_wait_ns)
			b -= s->wk[w].eof_wait_ns;
		if (a && a < first)
			first = a;
		if (b > last)
			last = b;
		r->worker_cpu_s[w] = atomic_load(&dp->workers[w].cpu_ns) / 1e9;
	}
	if (first == UINT64_MAX || last <= first)
		return false;
	r->seconds = (last - first) / 1e9;
	r->output_cpu_s = atomic_load(&dp->out_cpu_ns) / 1e9;
	return true;
}

static void summary_of(struct lg_dp *dp, const struct snap *s, FILE *f)
{
	struct replay_fig rf;

	fprintf(f,
		"linegate: summary after %.1f s: %" PRIu64 " received = %" PRIu64
		" admitted + %" PRIu64 " dropped\n",
		s->uptime_ms / 1e3, s->rx + s->be, s->reason[LG_OK],
		s->rx + s->be - s->reason[LG_OK]);
	if (s->have_uadmit) {
		uint64_t judged = 0;

		fprintf(f, "linegate: before them, user-space admission judged:");
		for (int r = 0; r < LG_R_MAX; r++) {
			judged += s->uadmit[r].frames;
			if (s->uadmit[r].frames)
				fprintf(f, " %s %" PRIu64, lg_admit_reason_name(r),
					s->uadmit[r].frames);
		}
		fputs(judged ? "\n" : " nothing (no frame reached it)\n", f);
		/* A file whose every frame was not ours: most often a cooked capture (tcpdump
		 * -i any) that DPDK's net_pcap reads as Ethernet (trial s20 I L7). */
		if (dp->finite && judged && s->uadmit[LG_R_NOT_OURS].frames == judged &&
		    dp->nworkers && dp->workers[0].ops && !strcmp(dp->workers[0].ops->name, "dpdk"))
			fputs("linegate: every frame was not_ours (not UDP to the policy's LGF or UADP "
			      "port): a cooked capture (tcpdump -i any, LINUX_SLL/SLL2) reads as "
			      "garbage through net_pcap, which takes every record for Ethernet; "
			      "replay it with --backend pcap:file=FILE, which reads cooked captures "
			      "(docs/replay.md)\n", f);
	}
	/* What the XDP program judged never reached a worker: its drops are not among the
	 * received (as --stats-out's "xdp" and the metrics' linegate_xdp_frames_total). */
	if (s->have_xdp) {
		bool any = false;

		fprintf(f, "linegate: before them, XDP judged:");
		for (int r = 0; r < LG_R_MAX; r++)
			if (s->xdp[r].frames) {
				fprintf(f, " %s %" PRIu64, lg_admit_reason_name(r),
					s->xdp[r].frames);
				any = true;
			}
		fprintf(f, "%s\n", any ? "" : " no frame");
	}
	for (int r = 1; r < LG_REASON_MAX; r++)
		if (s->reason[r])
			fprintf(f, "linegate:   %-17s %11" PRIu64 "  %s\n", lg_reason_name(r),
				s->reason[r], lg_reason_desc(r));
	/* Half or more of the frames failed the UDP checksum, on a backend that checks it
	 * itself: most often a capture taken on the sending host, or a veth, where checksum
	 * offload leaves the checksum unfinished (trial X1, s26: every record refused, no
	 * word of csum=off) */
	if (s->reason[LG_DROP_BAD_CHECKSUM] &&
	    2 * s->reason[LG_DROP_BAD_CHECKSUM] >= s->rx + s->be - s->reason[LG_DROP_NOT_OURS] &&
	    dp->nworkers && dp->workers[0].ops &&
	    (!strcmp(dp->workers[0].ops->name, "pcap") || !strcmp(dp->workers[0].ops->name, "afxdp")))
		fprintf(f, "linegate: %" PRIu64 " of %" PRIu64 " frames to linegate's ports failed "
			"their checksum: a capture taken on the sending host or a veth with checksum offload records "
			"UDP checksums unfinished; if the frames are good, give the backend "
			"csum=off (-b %s:...,csum=off; docs/replay.md)\n",
			s->reason[LG_DROP_BAD_CHECKSUM], s->rx + s->be - s->reason[LG_DROP_NOT_OURS],
			dp->workers[0].ops->name);
	/* trial s18: a device's frames refused as over its rate, beside what its own
	 * verified; a flood in its name shows as many refused, few verified */
	for (size_t i = 0; i < s->ndev; i++)
		if (s->dev[i].have_adm && s->dev[i].adm.rate_limited)
			fprintf(f,
				"linegate: device %s (id %u): %" PRIu64 " frames refused by "
				"admission as over its rate; %" PRIu64 " verified, %" PRIu64
				" bad_tag (frames with its id from its address that did not "
				"verify)\n",
				s->dev[i].name, s->dev[i].id, s->dev[i].adm.rate_limited,
				s->dev[i].admitted, s->dev[i].drops[LG_DROP_BAD_TAG]);
	/* Each device's sequence, apart from the accounting above (a frame never received is
	 * not a drop): the devices with gaps, late or reordered frames, the first 16. */
	{
		unsigned shown = 0, more = 0;

		for (size_t i = 0; i < s->ndev; i++) {
			const struct dev_snap *d = &s->dev[i];

			if (!d->seq_missing && !d->drops[LG_DROP_LATE] && !d->seq_reordered &&
			    !d->seq_jumps)
				continue;
			if (shown++ == 16) {
				more++;
				shown--;
				continue;
			}
			fprintf(f, "linegate: device %" PRIu32 " sequence: %" PRIu64 " missing, %"
				   PRIu64 " late, %" PRIu64 " reordered%s", d->id, d->seq_missing,
				d->drops[LG_DROP_LATE], d->seq_reordered, d->seq_jumps ? ", " : "\n");
			if (d->seq_jumps)
				fprintf(f, "%" PRIu64 " jump%s of its numbering\n", d->seq_jumps,
					d->seq_jumps == 1 ? "" : "s");
		}
		if (more)
			fprintf(f, "linegate: and %u more devices with gaps, late or reordered "
				   "frames (--stats-out, metrics)\n", more);
	}
	fprintf(f,
		"linegate: %" PRIu64 " windows, %" PRIu64 " scored, %" PRIu64 " alerts, %" PRIu64
		" output lines, %" PRIu64 " scores and %" PRIu64 " alerts lost to full rings\n",
		s->windows, s->scored, s->alerts, s->out_lines, s->full_s, s->full_a);
	if (replay_figures(dp, s, &rf)) {
		fprintf(f,
			"linegate: replay: %.3f s from the first frame taken to the last row "
			"scored, %.0f frames/s received (admitted or dropped), %.0f admitted/s; "
			"CPU s: workers",
			rf.seconds, (double)(s->rx + s->be) / rf.seconds,
			(double)s->reason[LG_OK] / rf.seconds);
		for (unsigned w = 0; w < dp->nworkers; w++)
			fprintf(f, " %.3f", rf.worker_cpu_s[w]);
		fprintf(f, ", output thread %.3f\n", rf.output_cpu_s);
	}
	lat_summary(s, f);
	if (s->reason[LG_DROP_BAD_SAMPLE] || s->masked || s->nonfinite)
		fprintf(f,
			"linegate: bad samples: %" PRIu64 " frames dropped, %" PRIu64
			" samples masked, %" PRIu64 " rows not finite (alerts with a null score)\n",
			s->reason[LG_DROP_BAD_SAMPLE], s->masked, s->nonfinite);
	if (s->inc_opened || s->inc_continued || s->inc_open)
		fprintf(f,
			"linegate: incidents: %" PRIu64 " opened, %" PRIu64 " continued from "
			"the last run, %" PRIu64 " resolved, %" PRIu64 " open; mean time to "
			"insight %" PRIu64 " ms\n",
			s->inc_opened, s->inc_continued, s->inc_resolved, s->inc_open,
			s->inc_opened ? s->tti_sum_ms / s->inc_opened : 0);
	if (s->out_dropped)
		fprintf(
		    f, "linegate: %" PRIu64 " output lines (%" PRIu64 " alerts, %" PRIu64
		    " incident lines, %" PRIu64 " events) not written: %s\n",
		    s->out_dropped, s->out_dropped_alerts,
		    atomic_load(&dp->out_k_dropped[LG_OUT_INCIDENT]),
		    atomic_load(&dp->out_k_dropped[LG_OUT_EVENT]),
		    dp->out_errno == EAGAIN ? "the reader did not read for 100 ms (a pipe or FIFO)"
		    : dp->out_errno	    ? strerror(dp->out_errno)
					    : "the write failed (see the reasons above)");
	if (s->have_nats)
		fprintf(f,
			"linegate: nats: %" PRIu64 " published (%" PRIu64 " sent again), %" PRIu64
			" acknowledged (%" PRIu64 " duplicates), %" PRIu64 " errors; "
			"outbox %" PRIu64 " records unacknowledged (its files %" PRIu64 " bytes), "
			"dropped %" PRIu64 " scores, %" PRIu64 " feature records and %" PRIu64
			" alerts (full), %" PRIu64 " evicted (%" PRIu64 " alerts, %" PRIu64
			" incident lines, %" PRIu64 " events, %" PRIu64 " scores, %" PRIu64
			" feature records), %" PRIu64 " disk errors\n",
			s->nats.published, s->nats.resent, s->nats.acked, s->nats.duplicates,
			s->nats.errors, s->nats.outbox.records, s->nats.outbox.bytes,
			s->nats.outbox.dropped_scores, s->nats.outbox.dropped_features,
			s->nats.outbox.dropped_alerts, s->nats.outbox.evicted, s->nats.outbox.evicted_kind[LG_OUTBOX_ALERT],
			s->nats.outbox.evicted_kind[LG_OUTBOX_INCIDENT],
			s->nats.outbox.evicted_kind[LG_OUTBOX_EVENT],
			s->nats.outbox.evicted_kind[LG_OUTBOX_SCORE],
			s->nats.outbox.evicted_kind[LG_OUTBOX_FEATURES], s->nats.outbox.dropped_disk);
	/* issue 13: the server's refusals (credentials, subject permissions) */
	if (s->have_nats && s->nats.refused)
		fprintf(f,
			"linegate: nats: %" PRIu64 " messages refused by the server, the last: "
			"%s\n",
			s->nats.refused, s->nats.last_error);
	if (s->have_nats && s->nats.closes)
		fprintf(f,
			"linegate: nats: %" PRIu64 " connection(s) given up by libnats and made "
			"again (%" PRIu64 " connected); the last error: %s\n",
			s->nats.closes, s->nats.connects, s->nats.last_error);
	if (s->have_mqtt)
		fprintf(f,
			"linegate: mqtt: %" PRIu64 " published (%" PRIu64 " sent again), %" PRIu64
			" delivered, dropped %" PRIu64 " scores and %" PRIu64 " alerts, incidents "
			"and events; %" PRIu64 " connection(s); outbox %" PRIu64
			" records unacknowledged (its files %" PRIu64 " bytes), %" PRIu64 " evicted (%"
			PRIu64 " alerts, %" PRIu64 " incident lines, %" PRIu64 " events, %" PRIu64
			" scores)\n",
			s->mqtt.published, s->mqtt.resent, s->mqtt.delivered,
			s->mqtt.dropped_scores, s->mqtt.dropped_alerts, s->mqtt.connects,
			s->mqtt.outbox.records, s->mqtt.outbox.bytes, s->mqtt.outbox.evicted,
			s->mqtt.outbox.evicted_kind[LG_OUTBOX_ALERT],
			s->mqtt.outbox.evicted_kind[LG_OUTBOX_INCIDENT],
			s->mqtt.outbox.evicted_kind[LG_OUTBOX_EVENT],
			s->mqtt.outbox.evicted_kind[LG_OUTBOX_SCORE]);
	if (s->have_influx)
		fprintf(f,
			"linegate: influx: %" PRIu64 " score, %" PRIu64 " features and %" PRIu64
			" incident lines, %" PRIu64 " written; dropped %" PRIu64
			" (buffer full), %" PRIu64 " (refused), %" PRIu64 " (shutdown); %" PRIu64
			" requests, %" PRIu64 " failed, %" PRIu64 " retries\n",
			s->influx.lines[LG_IX_SCORE], s->influx.lines[LG_IX_FEATURES],
			s->influx.lines[LG_IX_INCIDENT], s->influx.written,
			s->influx.dropped[LG_IX_DROP_FULL], s->influx.dropped[LG_IX_DROP_REFUSED],
			s->influx.dropped[LG_IX_DROP_STOP], s->influx.requests, s->influx.failures,
			s->influx.retries);
	if (s->have_om)
		fprintf(f,
			"linegate: opcua_mqtt: %" PRIu64 " messages received (%" PRIu64
			" JSON), %" PRIu64 " handed to workers, %" PRIu64 " connection(s)\n",
			s->om.received, s->om.json, s->om.handed, s->om.connects);
}

/* User-space admission's verdicts, as the "xdp" block has XDP's: every frame the backend
 * took from the NIC under one reason ("judged" is their sum); those it refused never reach
 * a worker, so "received" does not count them. */
static json_object *admission_json(const struct lg_admit_reason_ctr *c)
{
	json_object *x = json_object_new_object();
	uint64_t judged = 0;

	for (int r = 0; r < LG_R_MAX; r++) {
		add_u64(x, lg_admit_reason_name(r), c[r].frames);
		judged += c[r].frames;
	}
	add_u64(x, "audited", c[LG_R_AUDIT].audited);
	add_u64(x, "judged", judged);
	return x;
}

static char *stats_json_of(struct lg_dp *dp, const struct snap *s)
{
	json_object *o = json_object_new_object(), *reasons = json_object_new_object(),
		    *devs = json_object_new_array();
	struct replay_fig rf;
	char *text;

	if (replay_figures(dp, s, &rf)) {
		json_object *rj = json_object_new_object(), *cpu = json_object_new_array();

		json_object_object_add(rj, "seconds", json_object_new_double(rf.seconds));
		json_object_object_add(
		    rj, "frames_per_s",
		    json_object_new_double((double)(s->rx + s->be) / rf.seconds));
		for (unsigned w = 0; w < dp->nworkers; w++)
			json_object_array_add(cpu, json_object_new_double(rf.worker_cpu_s[w]));
		json_object_object_add(rj, "worker_cpu_s", cpu);
		json_object_object_add(rj, "output_cpu_s", json_object_new_double(rf.output_cpu_s));
		json_object_object_add(o, "replay", rj);
	}
	add_u64(o, "uptime_ms", s->uptime_ms);
	/* received = admitted + dropped, exactly: every frame a worker judged and every frame
	 * a backend knows was lost before a worker saw it, each under one reason. */
	add_u64(o, "received", s->rx + s->be);
	add_u64(o, "admitted", s->reason[LG_OK]);
	add_u64(o, "dropped", s->rx + s->be - s->reason[LG_OK]);
	for (int r = 1; r < LG_REASON_MAX; r++)
		add_u64(reasons, lg_reason_name(r), s->reason[r]);
	json_object_object_add(o, "drops", reasons);
	add_u64(o, "backend_dropped", s->be);
	add_u64(o, "handed_off", s->handed);
	add_u64(o, "rx_errors", s->rxerr);
	add_u64(o, "heartbeats", s->hb);
	add_u64(o, "uadp_received", s->urx);
	add_u64(o, "uadp_unsigned_admitted", s->uuns);
	add_u64(o, "uadp_unprotected_admitted", s->uunp);
	add_u64(o, "uadp_partial_admitted", s->upart);
	add_u64(o, "windows", s->windows);
	add_u64(o, "scored", s->scored);
	add_u64(o, "batches", s->batches);
	add_u64(o, "alerts", s->alerts);
	add_u64(o, "samples_masked", s->masked);
	add_u64(o, "rows_nonfinite", s->nonfinite);
	{
		json_object *inc = json_object_new_object();

		add_u64(inc, "opened", s->inc_opened);
		add_u64(inc, "resolved", s->inc_resolved);
		add_u64(inc, "continued", s->inc_continued);
		add_u64(inc, "updates", s->inc_updates);
		/* lines: every open, update (continued ones too) and resolve */
		add_u64(inc, "events",
			s->inc_opened + s->inc_resolved + s->inc_continued + s->inc_updates);
		add_u64(inc, "open_now", s->inc_open);
		add_u64(inc, "ring_full", s->full_i);
		add_u64(inc, "tti_ms_mean", s->inc_opened ? s->tti_sum_ms / s->inc_opened : 0);
		json_object_object_add(inc, "open", lg_dp_inc_json(dp));
		json_object_object_add(o, "incidents", inc);
	}
	add_u64(o, "output_lines", s->out_lines);
	add_u64(o, "output_write_dropped", s->out_dropped);
	add_u64(o, "output_write_dropped_alerts", s->out_dropped_alerts);
	jsonl_stats_json(dp, o);
	lg_record_stats_json(dp->rec, o);
	add_u64(o, "output_ring_full_scores", s->full_s);
	add_u64(o, "output_ring_full_alerts", s->full_a);
	{
		/* Issue 10: the output thread's sleeps on its eventfd, the wake-ups that ended
		 * them (the workers' and the rest: control, shutdown), its linger naps. */
		json_object *ot = json_object_new_object();

		add_u64(ot, "sleeps", s->out_sleeps);
		add_u64(ot, "wakeups", s->out_wakeups);
		add_u64(ot, "wakeups_by_workers", s->out_wakeups_workers);
		add_u64(ot, "linger_naps", s->out_naps);
		json_object_object_add(o, "output", ot);
	}
	add_u64(o, "latency_us_mean", s->scored ? s->lat_sum / s->scored / 1000 : 0);
	json_object_object_add(o, "latency", lat_json(s));
	add_u64(o, "latency_us_max", s->lat_max / 1000);
	add_u64(o, "policy_applies", s->applies);
	add_u64(o, "ctl_denied", s->ctl_denied);
	add_u64(o, "policy_apply_failures", s->apply_failures);
	json_object_object_add(o, "model", json_object_new_string(s->model));
	json_object_object_add(o, "model_gemm", json_object_new_string(s->model_gemm));
	json_object_object_add(o, "shadow", json_object_new_string(s->shadow));
	add_u64(o, "model_epoch", s->model_epoch);
	add_u64(o, "model_swaps", s->swaps);
	/* the running models' (since this active and shadow were set), and since the start */
	add_u64(o, "shadow_scored", s->shs);
	add_u64(o, "shadow_disagreements", s->shd);
	add_u64(o, "shadow_scored_total", s->shs_all);
	add_u64(o, "shadow_disagreements_total", s->shd_all);
	add_u64(o, "bf16_rescored", s->bf16r);
	add_u64(o, "rows_no_detector", s->nodet);
	add_u64(o, "drift_events", s->drift_events);
	add_u64(o, "drift_psi_nomem", s->drift_nomem);
	if (s->have_mqtt) {
		/* MQTT output (mqtt.h, issue 12): by kind, drops by why, connection errors. */
		json_object *m = json_object_new_object(), *pk = json_object_new_object();
		json_object *dk = json_object_new_object(), *ce = json_object_new_object();
		json_object *dev = json_object_new_object();

		json_object_object_add(m, "connected", json_object_new_boolean(s->mqtt.connected));
		add_u64(m, "connects", s->mqtt.connects);
		add_u64(m, "disconnects", s->mqtt.disconnects);
		add_u64(m, "published", s->mqtt.published);
		add_u64(m, "delivered", s->mqtt.delivered);
		add_u64(m, "dropped_scores", s->mqtt.dropped_scores);
		add_u64(m, "dropped_alerts", s->mqtt.dropped_alerts);
		add_u64(m, "resent", s->mqtt.resent);
		for (int k = 0; k < LG_MQTT_KINDS; k++) {
			json_object *r = json_object_new_object();

			add_u64(pk, lg_mqtt_kind_names[k], s->mqtt.published_kind[k]);
			for (int w = 0; w < LG_MQTT_DROPS; w++)
				add_u64(r, lg_mqtt_drop_names[w], s->mqtt.dropped[k][w]);
			json_object_object_add(dk, lg_mqtt_kind_names[k], r);
		}
		json_object_object_add(m, "published_by_kind", pk);
		json_object_object_add(m, "dropped", dk);
		{
			/* Issue 12: delivered, waiting in libmosquitto and abandoned at the stop,
			 * by kind (no outbox; with one, what is not acknowledged stays in it). */
			json_object *dl = json_object_new_object(), *qu = json_object_new_object();
			json_object *ab = json_object_new_object();

			for (int k = 0; k < LG_MQTT_KINDS; k++) {
				add_u64(dl, lg_mqtt_kind_names[k], s->mqtt.delivered_kind[k]);
				add_u64(qu, lg_mqtt_kind_names[k], s->mqtt.queued_kind[k]);
				add_u64(ab, lg_mqtt_kind_names[k], s->mqtt.abandoned[k]);
			}
			json_object_object_add(m, "delivered_by_kind", dl);
			json_object_object_add(m, "queued_by_kind", qu);
			json_object_object_add(m, "abandoned_by_kind", ab);
			add_u64(m, "abandoned", s->mqtt.abandoned_total);
		}
		if (s->mqtt.last_error >= 0) {
			/* Issue 12: why the last connection attempt failed (or the connection was
			 * lost), until the next connection. */
			json_object *le = json_object_new_object();

			json_object_object_add(
			    le, "reason",
			    json_object_new_string(lg_mqtt_conn_error_names[s->mqtt.last_error]));
			json_object_object_add(le, "message",
					       json_object_new_string(s->mqtt.last_error_text));
			json_object_object_add(m, "last_error", le);
		}
		for (int e = 0; e < LG_MQTT_ERRS; e++)
			add_u64(ce, lg_mqtt_conn_error_names[e], s->mqtt.conn_errors[e]);
		json_object_object_add(m, "connect_errors", ce);
		add_u64(dev, "online", s->mqtt.devices_online);
		add_u64(dev, "offline", s->mqtt.devices_offline);
		json_object_object_add(m, "devices", dev);
		if (s->mqtt.have_outbox)
			json_object_object_add(m, "outbox", outbox_json(&s->mqtt.outbox));
		json_object_object_add(o, "mqtt", m);
	}
	if (s->have_nats) {
		json_object *m = json_object_new_object();

		json_object_object_add(m, "connected", json_object_new_boolean(s->nats.connected));
		add_u64(m, "connects", s->nats.connects);
		add_u64(m, "closes", s->nats.closes);
		add_u64(m, "published", s->nats.published);
		add_u64(m, "acked", s->nats.acked);
		add_u64(m, "duplicates", s->nats.duplicates);
		add_u64(m, "resent", s->nats.resent);
		add_u64(m, "errors", s->nats.errors);
		add_u64(m, "scores_skipped", s->nats.scores_skipped);
		add_u64(m, "features_skipped", s->nats.features_skipped);
		add_u64(m, "features_none", s->nats.features_none);
		/* issue 13: the server's refusals (credentials, subject permissions) */
		add_u64(m, "refused", s->nats.refused);
		json_object_object_add(m, "last_error", json_object_new_string(s->nats.last_error));
		json_object_object_add(m, "last_error_age_s",
				       json_object_new_double(s->nats.last_error_age_s));
		json_object_object_add(m, "outbox", outbox_json(&s->nats.outbox));
		json_object_object_add(o, "nats", m);
	}
	if (s->have_influx) {
		json_object *m = json_object_new_object(), *l = json_object_new_object();
		json_object *d = json_object_new_object();

		for (int k = 0; k < LG_IX_KINDS; k++)
			add_u64(l, lg_influx_kind_names[k], s->influx.lines[k]);
		for (int k = 0; k < LG_IX_DROPS; k++)
			add_u64(d, lg_influx_drop_names[k], s->influx.dropped[k]);
		json_object_object_add(m, "up", json_object_new_boolean(s->influx.up));
		json_object_object_add(m, "lines", l);
		add_u64(m, "written", s->influx.written);
		json_object_object_add(m, "dropped", d);
		add_u64(m, "skipped", s->influx.skipped);
		add_u64(m, "buffered", s->influx.buffered);
		add_u64(m, "requests", s->influx.requests);
		add_u64(m, "failures", s->influx.failures);
		add_u64(m, "retries", s->influx.retries);
		add_u64(m, "last_status", s->influx.last_status);
		json_object_object_add(o, "influx", m);
	}
	if (s->have_om) {
		json_object *m = json_object_new_object();
		uint64_t dropped = 0;

		for (int r = 0; r < LG_REASON_MAX; r++)
			dropped += s->om.drops[r];
		json_object_object_add(m, "connected", json_object_new_boolean(s->om.connected));
		add_u64(m, "connects", s->om.connects);
		add_u64(m, "reconnects", s->om.connects ? s->om.connects - 1 : 0);
		add_u64(m, "received", s->om.received);
		add_u64(m, "json", s->om.json);
		add_u64(m, "handed_to_workers", s->om.handed);
		add_u64(m, "dropped", dropped);
		json_object_object_add(o, "opcua_mqtt", m);
	}
	if (s->have_xdp) {
		json_object *x = json_object_new_object();

		for (int r = 0; r < LG_R_MAX; r++)
			add_u64(x, lg_admit_reason_name(r), s->xdp[r].frames);
		add_u64(x, "audited", s->xdp[LG_R_AUDIT].audited);
		json_object_object_add(o, "xdp", x);
	}
	if (s->have_uadmit)
		json_object_object_add(o, "admission", admission_json(s->uadmit));
	json_object_object_add(o, "policy_sha256", json_object_new_string(s->policy_sha));
	add_u64(o, "policy_epoch", s->policy_epoch);
	for (size_t i = 0; i < s->ndev; i++) {
		json_object *d = json_object_new_object();

		add_u64(d, "id", s->dev[i].id);
		json_object_object_add(d, "name", json_object_new_string(s->dev[i].name));
		add_u64(d, "admitted", s->dev[i].admitted);
		add_u64(d, "windows", s->dev[i].windows);
		add_u64(d, "alerts", s->dev[i].alerts);
		add_u64(d, "bad_sample_drops", s->dev[i].bad_sample_drops);
		add_u64(d, "sample_rate_drops", s->dev[i].rate_drops);
		add_u64(d, "channels_drops", s->dev[i].chan_drops);
		add_u64(d, "windows_dropout", s->dev[i].windows_dropout); /* issue 8 */
		add_u64(d, "window_gaps", s->dev[i].window_gaps);
		add_u64(d, "windows_unscored", s->dev[i].windows_unscored); /* score: false */
		add_u64(d, "windows_impact_failed", s->dev[i].windows_impact_failed);
		{
			/* refused once known to be this device's, by reason (non-zero ones) */
			json_object *dr = json_object_new_object();
			uint64_t all = 0;

			for (int r = 0; r < LG_REASON_MAX; r++)
				if (s->dev[i].drops[r]) {
					add_u64(dr, lg_reason_name(r), s->dev[i].drops[r]);
					all += s->dev[i].drops[r];
				}
			add_u64(d, "dropped", all);
			json_object_object_add(d, "drops", dr);
		}
		add_u64(d, "samples_masked", s->dev[i].samples_masked);
		if (s->dev[i].have_adm) {
			/* trial s18: admission's counts, before the workers: rate_limited are
			 * frames its token bucket refused, the device's and any forged with its
			 * id from its address alike (docs/admission.md "Token bucket") */
			json_object *a = json_object_new_object();

			add_u64(a, "admitted", s->dev[i].adm.admitted);
			add_u64(a, "dropped", s->dev[i].adm.dropped);
			add_u64(a, "audited", s->dev[i].adm.audited);
			add_u64(a, "rate_limited", s->dev[i].adm.rate_limited);
			json_object_object_add(d, "admission", a);
		}
		{
			/* its sequence, apart from received = admitted + dropped (reorder.h) */
			json_object *q = json_object_new_object();

			add_u64(q, "missing", s->dev[i].seq_missing);
			add_u64(q, "late", s->dev[i].drops[LG_DROP_LATE]);
			add_u64(q, "reordered", s->dev[i].seq_reordered);
			add_u64(q, "jumps", s->dev[i].seq_jumps);
			json_object_object_add(d, "sequence", q);
		}
		json_object_object_add(d, "last_score",
				       json_object_new_double(s->dev[i].last_score));
		/* drift: any monitor says so; drift_methods: which */
		json_object_object_add(d, "drift", json_object_new_boolean(s->dev[i].drift != 0));
		{
			json_object *m = json_object_new_array();

			if (s->dev[i].drift & (1u << LG_DRIFT_PSI))
				json_object_array_add(m, json_object_new_string("psi"));
			if (s->dev[i].drift & (1u << LG_DRIFT_PAGE_HINKLEY))
				json_object_array_add(m, json_object_new_string("page_hinkley"));
			json_object_object_add(d, "drift_methods", m);
		}
		json_object_array_add(devs, d);
	}
	json_object_object_add(o, "devices", devs);
	devs = json_object_new_array();
	for (unsigned w = 0; w < s->nworkers; w++) {
		json_object *d = json_object_new_object();

		add_u64(d, "id", w);
		json_object_object_add(d, "cpu", json_object_new_int(s->wk[w].cpu));
		add_u64(d, "judged", s->wk[w].judged);
		add_u64(d, "admitted", s->wk[w].admitted);
		add_u64(d, "handed_off", s->wk[w].handed);
		add_u64(d, "backend_dropped", s->wk[w].lost);
		add_u64(d, "scored", s->wk[w].scored);
		add_u64(d, "batches", s->wk[w].batches);
		add_u64(d, "output_wakeups", s->wk[w].out_wakeups);
		add_u64(d, "output_waits", s->wk[w].out_waits);
		if (s->wk[w].ring_size) {
			add_u64(d, "rx_ring_high", s->wk[w].ring_high);
			add_u64(d, "rx_ring_size", s->wk[w].ring_size);
		}
		json_object_array_add(devs, d);
	}
	json_object_object_add(o, "workers", devs);
	text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return text;
}

void lg_dp_summary(struct lg_dp *dp, FILE *f)
{
	struct snap s;

	take(dp, &s);
	summary_of(dp, &s, f);
	free(s.dev);
}

char *lg_dp_stats_json(struct lg_dp *dp)
{
	struct snap s;
	char *text;

	take(dp, &s);
	text = stats_json_of(dp, &s);
	free(s.dev);
	return text;
}

/*
 * One snapshot for both: the XDP program (and a replay's admission) counts on while this
 * process writes its final counters (a frame that comes after the stop is no_reader), so
 * that two reads would differ by what came between them.
 */
char *lg_dp_final_report(struct lg_dp *dp, FILE *f)
{
	struct snap s;
	char *text;

	take(dp, &s);
	text = stats_json_of(dp, &s);
	summary_of(dp, &s, f);
	free(s.dev);
	return text;
}

/* A label value in the exposition format: backslash, double quote and newline escaped. */
size_t lg_prom_label_escape(char *out, size_t cap, const char *v)
{
	size_t n = 0;

	for (; *v; v++) {
		char e = *v == '\n' ? 'n' : *v == '"' || *v == '\\' ? *v : 0;

		if (e && n + 2 < cap) {
			out[n++] = '\\';
			out[n++] = e;
		} else if (!e && n + 1 < cap) {
			out[n++] = *v;
		} else {
			break;
		}
	}
	if (cap)
		out[n] = '\0';
	return n;
}

/* A growing text buffer for the exposition format. */
struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < b->cap - b->len) {
			b->len += n;
			return;
		}
		char *np = realloc(b->p, b->cap * 2 + n);

		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = b->cap * 2 + n;
	}
}

static void counter(struct buf *b, const char *name, const char *help, uint64_t v)
{
	bprintf(b, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n", name, help, name, name, v);
}

static void histogram(struct buf *b, const char *name, const char *help, const uint64_t *h,
		      uint64_t sum_ns)
{
	uint64_t cum = 0;

	bprintf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (int i = 0; i < LG_LAT_BUCKETS; i++) {
		cum += h[i];
		if (i < LG_LAT_BUCKETS - 1)
			bprintf(b, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
				lg_latency_bounds_ns[i] / 1e9, cum);
		else
			bprintf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
	}
	bprintf(b, "%s_sum %.9f\n%s_count %" PRIu64 "\n", name, sum_ns / 1e9, name, cum);
}

char *lg_dp_metrics_text(struct lg_dp *dp)
{
	struct buf b = { .cap = 16384 };
	struct snap s;
	uint64_t cum = 0;

	b.p = malloc(b.cap);
	if (!b.p)
		return NULL;
	b.p[0] = '\0';
	take(dp, &s);
	counter(&b, "linegate_frames_received_total",
		"Datagrams the workers took in, and those a backend lost before (received = "
		"admitted + dropped).", s.rx + s.be);
	counter(&b, "linegate_frames_admitted_total", "Frames that passed every check.",
		s.reason[LG_OK]);
	bprintf(&b, "# HELP linegate_frames_dropped_total Frames refused or lost, by reason "
		    "(docs/drop-reasons.md).\n"
		    "# TYPE linegate_frames_dropped_total counter\n");
	for (int r = 1; r < LG_REASON_MAX; r++)
		bprintf(&b, "linegate_frames_dropped_total{reason=\"%s\"} %" PRIu64 "\n",
			lg_reason_name(r), s.reason[r]);
	if (s.have_xdp) {
		bprintf(&b, "# HELP linegate_xdp_frames_total Frames by XDP admission verdict.\n"
			    "# TYPE linegate_xdp_frames_total counter\n");
		for (int r = 0; r < LG_R_MAX; r++)
			bprintf(&b, "linegate_xdp_frames_total{verdict=\"%s\"} %" PRIu64 "\n",
				lg_admit_reason_name(r), s.xdp[r].frames);
	}
	/* Issue 10: the output thread's wake-ups (wake.h). */
	counter(&b, "linegate_output_sleeps_total",
		"Times the output thread slept on its eventfd, having found nothing to write.",
		s.out_sleeps);
	counter(&b, "linegate_output_wakeups_total",
		"Times the output thread was woken from that sleep (workers, control, shutdown).",
		s.out_wakeups);
	counter(&b, "linegate_output_wakeups_by_workers_total",
		"Times a worker woke the output thread after pushing rows or events.",
		s.out_wakeups_workers);
	counter(&b, "linegate_output_linger_naps_total",
		"Short naps the output thread took after a busy round instead of sleeping.",
		s.out_naps);
	counter(&b, "linegate_frames_handed_off_total",
		"Frames a worker received for a device another worker owns, handed to it.",
		s.handed);
	if (s.have_uadmit) {
		bprintf(&b, "# HELP linegate_admission_frames_total Frames by user-space admission "
			    "verdict (backends whose frames do not pass XDP).\n"
			    "# TYPE linegate_admission_frames_total counter\n");
		for (int r = 0; r < LG_R_MAX; r++)
			bprintf(&b, "linegate_admission_frames_total{verdict=\"%s\"} %" PRIu64 "\n",
				lg_admit_reason_name(r), s.uadmit[r].frames);
	}
	counter(&b, "linegate_backend_dropped_total", "Datagrams the backend could not hand over.",
		s.be);
	counter(&b, "linegate_uadp_received_total", "OPC UA PubSub datagrams.", s.urx);
	counter(&b, "linegate_uadp_unsigned_admitted_total",
		"Unsigned UADP messages admitted (devices with security: none).", s.uuns);
	counter(&b, "linegate_uadp_unprotected_admitted_total",
		"UADP messages admitted without replay protection (devices with replay: none).",
		s.uunp);
	counter(&b, "linegate_uadp_partial_admitted_total",
		"UADP datagrams admitted with a device's DataSetMessage dropped (bad_sample, "
		"channels).",
		s.upart);
	counter(&b, "linegate_windows_total", "Feature windows completed.", s.windows);
	counter(&b, "linegate_scored_total", "Rows scored by the model.", s.scored);
	counter(&b, "linegate_alerts_total", "Rows above the threshold.", s.alerts);
	counter(&b, "linegate_samples_masked_total",
		"Bad samples (NaN, Inf, out of range) replaced by their channel's last good value "
		"(detection.bad_samples: mask).", s.masked);
	counter(&b, "linegate_rows_nonfinite_total",
		"Feature rows whose features or score were not finite, reported as alerts with a "
		"null score.", s.nonfinite);
	counter(&b, "linegate_incidents_opened_total",
		"Incidents opened (confirm of the last 'of' device windows alerted).", s.inc_opened);
	counter(&b, "linegate_incidents_resolved_total",
		"Incidents resolved (resolve_after normal windows in a row).", s.inc_resolved);
	bprintf(&b, "# HELP linegate_incidents_open Incidents open now.\n"
		    "# TYPE linegate_incidents_open gauge\nlinegate_incidents_open %" PRIu64 "\n",
		s.inc_open);
	{
		uint64_t c = 0;

		bprintf(&b, "# HELP linegate_incident_tti_seconds Time to insight: from an "
			    "incident's onset (sample time) to its opening.\n"
			    "# TYPE linegate_incident_tti_seconds histogram\n");
		for (int i = 0; i < LG_TTI_BUCKETS; i++) {
			c += s.tti_hist[i];
			if (i < LG_TTI_BUCKETS - 1)
				bprintf(&b, "linegate_incident_tti_seconds_bucket{le=\"%g\"} %" PRIu64
					"\n", lg_tti_bounds_ms[i] / 1e3, c);
			else
				bprintf(&b, "linegate_incident_tti_seconds_bucket{le=\"+Inf\"} %" PRIu64
					"\n", c);
		}
		bprintf(&b, "linegate_incident_tti_seconds_sum %.3f\n"
			    "linegate_incident_tti_seconds_count %" PRIu64 "\n",
			s.tti_sum_ms / 1e3, c);
	}
	counter(&b, "linegate_drift_events_total",
		"Drift events: a monitor's drift started or ended (docs/models.md).",
		s.drift_events);
	counter(&b, "linegate_drift_psi_nomem_total",
		"Times PSI drift was left off for a device: no memory for its bin counts.",
		s.drift_nomem);
	counter(&b, "linegate_output_dropped_total",
		"Events lost because the output could not keep up.", s.full_s + s.full_a);
	counter(&b, "linegate_output_write_dropped_total",
		"JSON lines a write to the output failed for (full disk, I/O error, reader gone).",
		s.out_dropped);
	{
		/* JSON lines by kind and outcome (output.c). */
		static const char *const res[] = { "written", "dropped", "abandoned" };

		bprintf(&b, "# HELP linegate_jsonl_lines_total JSON lines by kind and outcome: "
			    "written, dropped (a write failed: full disk, I/O error, reader gone "
			    "or not reading), abandoned (not written by the shutdown timeout).\n"
			    "# TYPE linegate_jsonl_lines_total counter\n");
		for (unsigned k = 0; k < LG_OUT_KINDS; k++)
			for (unsigned r = 0; r < 3; r++) {
				_Atomic uint64_t *c = r == 0 ? dp->out_k_written :
						      r == 1 ? dp->out_k_dropped :
							       dp->out_k_abandoned;

				bprintf(&b, "linegate_jsonl_lines_total{kind=\"%s\",result="
					    "\"%s\"} %" PRIu64 "\n", lg_out_kind_names[k],
					res[r], atomic_load(&c[k]));
			}
		counter(&b, "linegate_jsonl_rotations_total",
			"JSON lines files rotated by size (output.jsonl.max_bytes).",
			atomic_load(&dp->out_rotations));
		counter(&b, "linegate_jsonl_reopens_total",
			"JSON lines file opened again on SIGHUP or SIGUSR1.",
			atomic_load(&dp->out_reopens));
	}
	{
		struct lg_rec_status rs = { 0 };

		if (dp->rec)
			lg_record_status(dp->rec, &rs);
		counter(&b, "linegate_record_frames_total", "Admitted frames written to recordings.",
			rs.frames);
		counter(&b, "linegate_record_dropped_total",
			"Frames a recording lost (recorder ring full, a failed write).", rs.dropped);
		counter(&b, "linegate_record_errors_total",
			"Recordings stopped by a failed write or a full disk.", rs.errors);
		bprintf(&b, "# HELP linegate_recording 1 while a recording runs.\n"
			"# TYPE linegate_recording gauge\nlinegate_recording %d\n",
			!strcmp(rs.state, "recording"));
	}
	counter(&b, "linegate_shadow_disagreements_total",
		"Rows where the shadow model's alert verdict differed (every model pair since "
		"the start).", s.shd_all);
	bprintf(&b, "# HELP linegate_shadow_disagreements Rows where the running shadow "
		"model's alert verdict differed from the running active model's, since the two "
		"were set.\n# TYPE linegate_shadow_disagreements gauge\n"
		"linegate_shadow_disagreements %" PRIu64 "\n", s.shd);
	bprintf(&b, "# HELP linegate_shadow_scored Rows the running shadow model scored beside "
		"the running active model, since the two were set.\n"
		"# TYPE linegate_shadow_scored gauge\nlinegate_shadow_scored %" PRIu64 "\n", s.shs);
	counter(&b, "linegate_bf16_rescored_total",
		"Rows the bf16 guard scored again on fp32 (detection.gemm: xsmm-bf16): they lay "
		"near a threshold.", s.bf16r);
	counter(&b, "linegate_rows_no_detector_total",
		"Rows not scored: the model has no detector for their device.", s.nodet);
	/* These two start when the worker picked the window's first frame up, not at its
	 * arrival: socket queueing is in linegate_latency_arrival_worker_seconds. */
	histogram(&b, "linegate_score_latency_seconds",
		  "From the worker's pickup of a window's first frame (not its arrival) to its "
		  "score; arrival is in linegate_latency_*_seconds.", s.lat_hist, s.lat_sum);
	histogram(&b, "linegate_publish_latency_seconds",
		  "From the worker's pickup of a window's first frame (not its arrival) to its "
		  "output line; arrival is in linegate_latency_*_seconds.", s.pub_hist,
		  s.pub_sum);
	for (int k = 0; k < LG_LAT_STAGES; k++) {
		char name[64];

		snprintf(name, sizeof(name), "linegate_latency_%s_seconds", lg_lat_stage_names[k]);
		histogram(&b, name, lg_lat_stage_help[k], s.lat[k].b, s.lat[k].sum_ns);
	}
	bprintf(&b, "# HELP linegate_batch_rows Rows per scored batch.\n"
		    "# TYPE linegate_batch_rows histogram\n");
	for (int i = 0; i < LG_BATCH_BUCKETS; i++) {
		cum += s.batch_hist[i];
		if (i < LG_BATCH_BUCKETS - 1)
			bprintf(&b, "linegate_batch_rows_bucket{le=\"%u\"} %" PRIu64 "\n", 1u << i, cum);
		else
			bprintf(&b, "linegate_batch_rows_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
	}
	bprintf(&b, "linegate_batch_rows_sum %" PRIu64 "\nlinegate_batch_rows_count %" PRIu64 "\n",
		s.scored, cum);
	if (s.have_mqtt) {
		/* MQTT output (mqtt.h, issue 12) */
		const struct lg_mqtt_stats *q = &s.mqtt;

		bprintf(&b, "# HELP linegate_mqtt_published_total Messages handed to the MQTT "
			    "client, by kind (outbox resends included).\n"
			    "# TYPE linegate_mqtt_published_total counter\n");
		for (int k = 0; k < LG_MQTT_KINDS; k++)
			bprintf(&b, "linegate_mqtt_published_total{kind=\"%s\"} %" PRIu64 "\n",
				lg_mqtt_kind_names[k], q->published_kind[k]);
		counter(&b, "linegate_mqtt_delivered_total",
			"Messages the broker acknowledged (QoS 1, 2) or that were written to it "
			"(QoS 0).", q->delivered);
		/* Issue 12: by kind, without an outbox (with one: 0; the outbox keeps them) */
		bprintf(&b, "# HELP linegate_mqtt_queued Messages handed to the MQTT client and "
			    "not delivered yet, by kind (no outbox: a stop now would abandon "
			    "them).\n"
			    "# TYPE linegate_mqtt_queued gauge\n");
		for (int k = 0; k < LG_MQTT_KINDS; k++)
			bprintf(&b, "linegate_mqtt_queued{kind=\"%s\"} %" PRIu64 "\n",
				lg_mqtt_kind_names[k], q->queued_kind[k]);
		bprintf(&b, "# HELP linegate_mqtt_abandoned_total Messages the MQTT client still "
			    "held at the stop (no outbox), by kind.\n"
			    "# TYPE linegate_mqtt_abandoned_total counter\n");
		for (int k = 0; k < LG_MQTT_KINDS; k++)
			bprintf(&b, "linegate_mqtt_abandoned_total{kind=\"%s\"} %" PRIu64 "\n",
				lg_mqtt_kind_names[k], q->abandoned[k]);
		counter(&b, "linegate_mqtt_resent_total",
			"Outbox records that waited for a connection and were sent once it came.", q->resent);
		bprintf(&b, "# HELP linegate_mqtt_dropped_total Messages the MQTT output dropped, "
			    "by kind and why.\n# TYPE linegate_mqtt_dropped_total counter\n");
		for (int k = 0; k < LG_MQTT_KINDS; k++)
			for (int w = 0; w < LG_MQTT_DROPS; w++)
				if (k != LG_MQTT_STATUS)
					bprintf(&b, "linegate_mqtt_dropped_total{kind=\"%s\",reason="
						    "\"%s\"} %" PRIu64 "\n", lg_mqtt_kind_names[k],
						lg_mqtt_drop_names[w], q->dropped[k][w]);
		counter(&b, "linegate_mqtt_connects_total",
			"Connections to the MQTT broker (reconnections included).", q->connects);
		bprintf(&b, "# HELP linegate_mqtt_connect_errors_total Connection attempts that "
			    "failed, by why.\n# TYPE linegate_mqtt_connect_errors_total counter\n");
		for (int e = 0; e < LG_MQTT_ERRS; e++)
			bprintf(&b, "linegate_mqtt_connect_errors_total{reason=\"%s\"} %" PRIu64 "\n",
				lg_mqtt_conn_error_names[e], q->conn_errors[e]);
		bprintf(&b, "# HELP linegate_mqtt_connected 1 while the broker is connected.\n"
			    "# TYPE linegate_mqtt_connected gauge\nlinegate_mqtt_connected %d\n",
			q->connected);
		bprintf(&b, "# HELP linegate_mqtt_devices Devices by the status published on "
			    "<topic>/status/<device>.\n# TYPE linegate_mqtt_devices gauge\n"
			    "linegate_mqtt_devices{status=\"online\"} %" PRIu32 "\n"
			    "linegate_mqtt_devices{status=\"offline\"} %" PRIu32 "\n",
			q->devices_online, q->devices_offline);
		if (q->have_outbox) {
			bprintf(&b, "# HELP linegate_mqtt_outbox_bytes Bytes of the MQTT outbox's "
				    "files.\n# TYPE linegate_mqtt_outbox_bytes gauge\n"
				    "linegate_mqtt_outbox_bytes %" PRIu64 "\n", q->outbox.bytes);
			bprintf(&b, "# HELP linegate_mqtt_outbox_records Records the broker has not "
				    "acknowledged yet.\n# TYPE linegate_mqtt_outbox_records gauge\n"
				    "linegate_mqtt_outbox_records %" PRIu64 "\n", q->outbox.records);
			counter(&b, "linegate_mqtt_outbox_evicted_total",
				"Unacknowledged records the full outbox removed for newer alerts, "
				"incidents and events.", q->outbox.evicted);
		}
	}
	if (s.have_influx) {
		/* Issue 12: InfluxDB line protocol (influx.h). lines = written + dropped +
		 * buffered, exactly. */
		bprintf(&b, "# HELP linegate_influx_lines_total Line protocol lines made, by "
			    "measurement.\n# TYPE linegate_influx_lines_total counter\n");
		for (int k = 0; k < LG_IX_KINDS; k++)
			bprintf(&b, "linegate_influx_lines_total{kind=\"%s\"} %" PRIu64 "\n",
				lg_influx_kind_names[k], s.influx.lines[k]);
		counter(&b, "linegate_influx_written_total",
			"Lines in batches the server accepted.", s.influx.written);
		bprintf(&b, "# HELP linegate_influx_dropped_total Lines dropped, by reason.\n"
			    "# TYPE linegate_influx_dropped_total counter\n");
		for (int k = 0; k < LG_IX_DROPS; k++)
			bprintf(&b, "linegate_influx_dropped_total{reason=\"%s\"} %" PRIu64 "\n",
				lg_influx_drop_names[k], s.influx.dropped[k]);
		counter(&b, "linegate_influx_skipped_total",
			"Windows left out by output.influx.decimation (not a loss).",
			s.influx.skipped);
		counter(&b, "linegate_influx_requests_total", "POSTs to the write endpoint.",
			s.influx.requests);
		counter(&b, "linegate_influx_request_failures_total",
			"POSTs not answered 2xx (refused, failed or timed out).",
			s.influx.failures);
		counter(&b, "linegate_influx_retries_total",
			"Batches sent again after a failure (backoff).", s.influx.retries);
		bprintf(&b, "# HELP linegate_influx_buffered_lines Lines waiting to be sent.\n"
			    "# TYPE linegate_influx_buffered_lines gauge\n"
			    "linegate_influx_buffered_lines %" PRIu64 "\n", s.influx.buffered);
		bprintf(&b, "# HELP linegate_influx_up 1 while the last request was accepted.\n"
			    "# TYPE linegate_influx_up gauge\nlinegate_influx_up %d\n",
			s.influx.up);
	}
	if (s.have_nats) {
		const struct lg_outbox_stats *x = &s.nats.outbox;

		counter(&b, "linegate_nats_published_total",
			"Records published to JetStream (resends included).", s.nats.published);
		counter(&b, "linegate_nats_acked_total",
			"JetStream acknowledgements (duplicates included).", s.nats.acked);
		counter(&b, "linegate_nats_duplicates_total",
			"Acknowledgements JetStream marked as duplicates.", s.nats.duplicates);
		counter(&b, "linegate_nats_resent_total",
			"Records published again (after a lost acknowledgement or a restart).",
			s.nats.resent);
		counter(&b, "linegate_nats_errors_total",
			"Publishes JetStream refused or did not acknowledge in time.",
			s.nats.errors);
		/* issue 13 */
		counter(&b, "linegate_nats_refused_total",
			"Messages the NATS server refused (permissions violation: a subject these "
			"credentials may not publish to).", s.nats.refused);
		counter(&b, "linegate_nats_closes_total",
			"Connections libnats gave up on (a login refused twice, an unknown "
			"error); each is replaced after a backoff of 1 to 30 s.", s.nats.closes);
		static const char *const why[] = { "score_full", "evicted", "disk", "too_large",
						   "features_full", "alerts_full" };
		const uint64_t n[] = { x->dropped_scores, x->evicted, x->dropped_disk,
				       x->dropped_full, x->dropped_features, x->dropped_alerts };

		bprintf(&b, "# HELP linegate_nats_outbox_dropped_total Records the outbox dropped, "
			    "by reason.\n# TYPE linegate_nats_outbox_dropped_total counter\n");
		for (unsigned i = 0; i < 6; i++)
			bprintf(&b, "linegate_nats_outbox_dropped_total{reason=\"%s\"} %" PRIu64
				    "\n", why[i], n[i]);
		bprintf(&b, "# HELP linegate_nats_outbox_bytes Bytes of the outbox's files.\n"
			    "# TYPE linegate_nats_outbox_bytes gauge\n"
			    "linegate_nats_outbox_bytes %" PRIu64 "\n", x->bytes);
		bprintf(&b, "# HELP linegate_nats_outbox_records Records not yet acknowledged.\n"
			    "# TYPE linegate_nats_outbox_records gauge\n"
			    "linegate_nats_outbox_records %" PRIu64 "\n", x->records);
		bprintf(&b, "# HELP linegate_nats_connected 1 while a NATS server is connected.\n"
			    "# TYPE linegate_nats_connected gauge\nlinegate_nats_connected %d\n",
			s.nats.connected);
	}
	if (s.have_om) {
		counter(&b, "linegate_opcua_mqtt_received_total",
			"OPC UA PubSub messages the opcua_mqtt broker delivered.", s.om.received);
		counter(&b, "linegate_opcua_mqtt_connects_total",
			"Connections to the opcua_mqtt broker (reconnections included).",
			s.om.connects);
		bprintf(&b, "# HELP linegate_opcua_mqtt_connected 1 while the opcua_mqtt broker is "
			    "connected.\n# TYPE linegate_opcua_mqtt_connected gauge\n"
			    "linegate_opcua_mqtt_connected %d\n", s.om.connected);
	}
	/* Device names are restricted by the policy parser to [A-Za-z0-9._-]; model labels
	 * are file names, which may hold anything: escaped (a '"' broke the exposition). */
	{
		char m[sizeof(s.model) * 2], sh[sizeof(s.shadow) * 2];

		lg_prom_label_escape(m, sizeof(m), s.model);
		lg_prom_label_escape(sh, sizeof(sh), s.shadow);
		bprintf(&b, "# HELP linegate_model_info The running model and its shadow.\n"
			    "# TYPE linegate_model_info gauge\n"
			    "linegate_model_info{model=\"%s\",shadow=\"%s\",epoch=\"%" PRIu64
			    "\"} 1\n", m, sh, s.model_epoch);
	}
	bprintf(&b, "# HELP linegate_policy_info The running policy generation.\n"
		    "# TYPE linegate_policy_info gauge\n"
		    "linegate_policy_info{sha256=\"%s\",epoch=\"%" PRIu64 "\"} 1\n",
		s.policy_sha, s.policy_epoch);
	bprintf(&b, "# HELP linegate_worker_frames_total Frames per worker: judged by it (its own and "
		    "handed over to it), admitted, handed to another worker, lost on its queue.\n"
		    "# TYPE linegate_worker_frames_total counter\n");
	for (unsigned w = 0; w < s.nworkers; w++) {
		static const char *const what[] = { "judged", "admitted", "handed_off",
						     "backend_dropped" };
		uint64_t v[] = { s.wk[w].judged, s.wk[w].admitted, s.wk[w].handed, s.wk[w].lost };

		for (int k = 0; k < 4; k++)
			bprintf(&b, "linegate_worker_frames_total{worker=\"%u\",what=\"%s\"} %" PRIu64
				    "\n", w, what[k], v[k]);
	}
	if (s.nworkers && s.wk[0].ring_size) {
		bprintf(&b, "# HELP linegate_worker_rx_ring_frames The worker's receive ring (afxdp): "
			    "its slots (what=\"size\") and the most frames found waiting in it at a "
			    "burst since start (what=\"high\"); high = size: the queue was full.\n"
			    "# TYPE linegate_worker_rx_ring_frames gauge\n");
		for (unsigned w = 0; w < s.nworkers; w++)
			bprintf(&b, "linegate_worker_rx_ring_frames{worker=\"%u\",what=\"size\"} %"
				    PRIu64 "\nlinegate_worker_rx_ring_frames{worker=\"%u\",what=\"high\"} %"
				    PRIu64 "\n", w, s.wk[w].ring_size, w, s.wk[w].ring_high);
	}
	bprintf(&b, "# HELP linegate_device_admitted_total Frames admitted per device.\n"
		    "# TYPE linegate_device_admitted_total counter\n");
	for (size_t i = 0; i < s.ndev; i++)
		bprintf(&b, "linegate_device_admitted_total{%s} %" PRIu64 "\n",
			s.dev[i].labels, s.dev[i].admitted);
	bprintf(&b, "# HELP linegate_device_alerts_total Alerts per device.\n"
		    "# TYPE linegate_device_alerts_total counter\n");
	for (size_t i = 0; i < s.ndev; i++)
		bprintf(&b, "linegate_device_alerts_total{%s} %" PRIu64 "\n",
			s.dev[i].labels, s.dev[i].alerts);
	/* issue 8: sensor dropouts, per device */
	bprintf(&b, "# HELP linegate_windows_dropout_total Windows not scored because a channel "
		    "held a sensor dropout (the model's dropout_run equal samples), per device.\n"
		    "# TYPE linegate_windows_dropout_total counter\n");
	for (size_t i = 0; i < s.ndev; i++)
		bprintf(&b, "linegate_windows_dropout_total{%s} %" PRIu64 "\n", s.dev[i].labels,
			s.dev[i].windows_dropout);
	bprintf(&b, "# HELP linegate_window_gaps_total Partial windows dropped because the "
		    "device's next frame did not follow the last one (a lost frame, a pause of "
		    "over a second): no window spans a gap, per device.\n"
		    "# TYPE linegate_window_gaps_total counter\n");
	for (size_t i = 0; i < s.ndev; i++)
		bprintf(&b, "linegate_window_gaps_total{%s} %" PRIu64 "\n", s.dev[i].labels,
			s.dev[i].window_gaps);
	bprintf(&b, "# HELP linegate_windows_unscored_total Windows not scored because the "
		    "policy says score: false for the device (recorded to train its detector), "
		    "per device.\n"
		    "# TYPE linegate_windows_unscored_total counter\n");
	for (size_t i = 0; i < s.ndev; i++)
		bprintf(&b, "linegate_windows_unscored_total{%s} %" PRIu64 "\n", s.dev[i].labels,
			s.dev[i].windows_unscored);
	bprintf(&b, "# HELP linegate_windows_impact_failed_total Windows not scored because "
		    "their impact features (layout orders96-time5-imp9, -imp10 or -imp11) could "
		    "not be computed, per device.\n"
		    "# TYPE linegate_windows_impact_failed_total counter\n");
	for (size_t i = 0; i < s.ndev; i++)
		bprintf(&b, "linegate_windows_impact_failed_total{%s} %" PRIu64 "\n",
			s.dev[i].labels, s.dev[i].windows_impact_failed);
	bprintf(&b, "# HELP linegate_device_bad_samples_total Frames dropped for a bad sample "
		    "(action dropped) and samples masked (action masked) per device.\n"
		    "# TYPE linegate_device_bad_samples_total counter\n");
	for (size_t i = 0; i < s.ndev; i++) {
		bprintf(&b, "linegate_device_bad_samples_total{%s,"
			    "action=\"dropped\"} %" PRIu64 "\n", s.dev[i].labels,
			s.dev[i].bad_sample_drops);
		bprintf(&b, "linegate_device_bad_samples_total{%s,"
			    "action=\"masked\"} %" PRIu64 "\n", s.dev[i].labels,
			s.dev[i].samples_masked);
	}
	bprintf(&b, "# HELP linegate_device_sample_rate_drops_total Authentic frames dropped "
		    "because their sample rate is not the device's model's (drop reason "
		    "sample_rate).\n# TYPE linegate_device_sample_rate_drops_total counter\n");
	for (size_t i = 0; i < s.ndev; i++)
		bprintf(&b, "linegate_device_sample_rate_drops_total{%s} %"
			PRIu64 "\n", s.dev[i].labels, s.dev[i].rate_drops);
	bprintf(&b, "# HELP linegate_device_channels_drops_total Authentic frames dropped "
		    "because their channel count is not the one the device's detector was "
		    "trained on (drop reason channels).\n"
		    "# TYPE linegate_device_channels_drops_total counter\n");
	for (size_t i = 0; i < s.ndev; i++)
		bprintf(&b, "linegate_device_channels_drops_total{%s} %"
			PRIu64 "\n", s.dev[i].labels, s.dev[i].chan_drops);
	bprintf(&b, "# HELP linegate_device_drops_total Frames refused once they were known to be "
		    "the device's, by reason (docs/drop-reasons.md).\n"
		    "# TYPE linegate_device_drops_total counter\n");
	for (size_t i = 0; i < s.ndev; i++)
		for (int r = 0; r < LG_REASON_MAX; r++)
			if (s.dev[i].drops[r])
				bprintf(&b, "linegate_device_drops_total{%s,"
					    "reason=\"%s\"} %" PRIu64 "\n", s.dev[i].labels,
					lg_reason_name(r), s.dev[i].drops[r]);
	/* trial s18: admission's per-device counts, so that a device's losses before the
	 * workers are its own, not only in the sum of linegate_xdp_frames_total */
	if (s.have_xdp || s.have_uadmit) {
		bprintf(&b, "# HELP linegate_device_admission_frames_total Frames admission (XDP, or "
			    "user space for DPDK) judged per device, before any worker: admitted, "
			    "dropped, audited, and of the dropped and audited rate_limited (its "
			    "token bucket; forged frames with its id from its address count too).\n"
			    "# TYPE linegate_device_admission_frames_total counter\n");
		for (size_t i = 0; i < s.ndev; i++) {
			const struct lg_admit_dev_ctr *a = &s.dev[i].adm;

			if (!s.dev[i].have_adm)
				continue;
			bprintf(&b, "linegate_device_admission_frames_total{%s,result=\"admitted\"} %"
				    PRIu64 "\nlinegate_device_admission_frames_total{%s,"
				    "result=\"dropped\"} %" PRIu64 "\n"
				    "linegate_device_admission_frames_total{%s,result=\"audited\"} %"
				    PRIu64 "\n", s.dev[i].labels, a->admitted, s.dev[i].labels,
				a->dropped, s.dev[i].labels, a->audited);
		}
		bprintf(&b, "# HELP linegate_device_rate_limited_total Frames of the device admission "
			    "refused as over its rate (dropped, or let through by audit mode).\n"
			    "# TYPE linegate_device_rate_limited_total counter\n");
		for (size_t i = 0; i < s.ndev; i++)
			if (s.dev[i].have_adm)
				bprintf(&b, "linegate_device_rate_limited_total{%s} %" PRIu64 "\n",
					s.dev[i].labels, s.dev[i].adm.rate_limited);
	}
	bprintf(&b, "# HELP linegate_device_sequence_missing_total Sequence numbers of the device "
		    "never received before its window went on without them (gaps declared lost; "
		    "not frames received, so not among the drops).\n"
		    "# TYPE linegate_device_sequence_missing_total counter\n");
	for (size_t i = 0; i < s.ndev; i++)
		bprintf(&b, "linegate_device_sequence_missing_total{%s} %" PRIu64 "\n",
			s.dev[i].labels, s.dev[i].seq_missing);
	bprintf(&b, "# HELP linegate_device_sequence_late_total Authentic frames of the device "
		    "that came after their gap was declared lost (drop reason late).\n"
		    "# TYPE linegate_device_sequence_late_total counter\n");
	for (size_t i = 0; i < s.ndev; i++)
		bprintf(&b, "linegate_device_sequence_late_total{%s} %" PRIu64 "\n",
			s.dev[i].labels, s.dev[i].drops[LG_DROP_LATE]);
	bprintf(&b, "# HELP linegate_device_sequence_reordered_total Frames of the device that "
		    "overtook an earlier one, were held and went on in sequence order.\n"
		    "# TYPE linegate_device_sequence_reordered_total counter\n");
	for (size_t i = 0; i < s.ndev; i++)
		bprintf(&b, "linegate_device_sequence_reordered_total{%s} %" PRIu64 "\n",
			s.dev[i].labels, s.dev[i].seq_reordered);
	bprintf(&b, "# HELP linegate_device_sequence_jumps_total Gaps of more than 2^24 sequence "
		    "numbers in the device's frames: a jump of its numbering (a reboot's boot "
		    "counter), not frames lost, so not in missing.\n"
		    "# TYPE linegate_device_sequence_jumps_total counter\n");
	for (size_t i = 0; i < s.ndev; i++)
		bprintf(&b, "linegate_device_sequence_jumps_total{%s} %" PRIu64 "\n",
			s.dev[i].labels, s.dev[i].seq_jumps);
	bprintf(&b, "# HELP linegate_device_score The newest score per device.\n"
		    "# TYPE linegate_device_score gauge\n");
	for (size_t i = 0; i < s.ndev; i++)
		bprintf(&b, "linegate_device_score{%s} %g\n", s.dev[i].labels, s.dev[i].last_score);
	bprintf(&b, "# HELP linegate_device_drift 1 while a drift monitor says the device's data "
		    "drifted from the model's training data.\n"
		    "# TYPE linegate_device_drift gauge\n");
	for (size_t i = 0; i < s.ndev; i++)
		bprintf(&b, "linegate_device_drift{%s} %d\n", s.dev[i].labels, s.dev[i].drift != 0);
	free(s.dev);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}
