// SPDX-License-Identifier: MIT
/* The output thread: drains the workers' rings (alerts first) into JSON lines. */
#include "dataplane.h"
#include "mqtt.h"

#include <lgadmit.h>

#include <inttypes.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void write_event(struct lg_dp *dp, const struct lg_event *e)
{
	char line[512];
	int len = snprintf(line, sizeof(line),
		"{\"type\":\"%s\",\"device\":%" PRIu32 ",\"name\":\"%s\",\"channel\":%u,"
		"\"score\":%.6g,\"threshold\":%.6g,\"seq\":%" PRIu64 ",\"time_ns\":%" PRIu64
		",\"latency_us\":%.1f,\"model_epoch\":%" PRIu64 "}\n",
		e->alert ? "alert" : "score", e->device_id, e->name, e->channel, e->score,
		e->threshold, e->seq, e->scored_wall_ns, (double)(e->scored_ns - e->rx_ns) / 1000.0,
		e->model_epoch);

	if (len < 0 || (size_t)len >= sizeof(line))
		return; /* cannot happen: names and numbers are bounded */
	fwrite(line, 1, (size_t)len, dp->out);
	if (dp->mqtt)
		lg_mqtt_publish(dp->mqtt, e->alert, e->name, line, (size_t)len - 1);
	atomic_fetch_add_explicit(&dp->out_written, 1, memory_order_relaxed);
	if (e->alert)
		atomic_fetch_add_explicit(&dp->out_alerts, 1, memory_order_relaxed);
}

static unsigned drain(struct lg_dp *dp)
{
	struct lg_event e;
	unsigned n = 0;

	for (unsigned w = 0; w < dp->nworkers; w++)
		while (lg_spsc_pop(&dp->workers[w].alerts, &e)) {
			write_event(dp, &e);
			n++;
		}
	for (unsigned w = 0; w < dp->nworkers; w++)
		for (unsigned k = 0; k < 256 && lg_spsc_pop(&dp->workers[w].scores_ring, &e); k++) {
			write_event(dp, &e);
			n++;
		}
	return n;
}

void lg_output_drain_all(struct lg_dp *dp)
{
	while (drain(dp))
		;
	fflush(dp->out);
}

void *lg_output_main(void *arg)
{
	struct lg_dp *dp = arg;

	while (!atomic_load(&dp->stop)) {
		if (!drain(dp)) {
			struct timespec ts = { 0, 2000000 };

			fflush(dp->out);
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

static void add_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

char *lg_dp_stats_json(struct lg_dp *dp)
{
	json_object *o = json_object_new_object(), *reasons = json_object_new_object(),
		    *devs = json_object_new_array();
	uint64_t reason[LG_REASON_MAX] = { 0 }, rx = 0, windows = 0, scored = 0, alerts = 0,
		 batches = 0, full_s = 0, full_a = 0, lat_sum = 0, lat_max = 0, hb = 0, be = 0,
		 rxerr = 0, urx = 0, uuns = 0, shs = 0, shd = 0;
	struct lg_modelset *ms;
	struct lg_gen *g;
	char hash[65], *text;

	for (unsigned w = 0; w < dp->nworkers; w++) {
		struct lg_worker_stats *s = &dp->workers[w].st;

		rx += atomic_load(&s->rx);
		for (int r = 0; r < LG_REASON_MAX; r++)
			reason[r] += atomic_load(&s->reason[r]);
		windows += atomic_load(&s->windows);
		scored += atomic_load(&s->scored);
		alerts += atomic_load(&s->alerts);
		batches += atomic_load(&s->batches);
		hb += atomic_load(&s->heartbeats);
		full_s += atomic_load(&s->ring_full_scores);
		full_a += atomic_load(&s->ring_full_alerts);
		rxerr += atomic_load(&s->rx_errors);
		urx += atomic_load(&s->uadp_rx);
		uuns += atomic_load(&s->uadp_unsigned);
		shs += atomic_load(&s->shadow_scored);
		shd += atomic_load(&s->shadow_disagree);
		lat_sum += atomic_load(&s->latency_ns_sum);
		if (atomic_load(&s->latency_ns_max) > lat_max)
			lat_max = atomic_load(&s->latency_ns_max);
		if (dp->workers[w].be && dp->workers[w].ops->dropped)
			be += dp->workers[w].ops->dropped(dp->workers[w].be);
	}
	add_u64(o, "uptime_ms", (lg_now_ns() - dp->started_ns) / 1000000);
	add_u64(o, "received", rx);
	add_u64(o, "admitted", reason[LG_OK]);
	add_u64(o, "dropped", rx - reason[LG_OK]);
	for (int r = 1; r < LG_REASON_MAX; r++)
		add_u64(reasons, lg_reason_name(r), reason[r]);
	json_object_object_add(o, "drops", reasons);
	add_u64(o, "backend_dropped", be);
	add_u64(o, "rx_errors", rxerr);
	add_u64(o, "heartbeats", hb);
	add_u64(o, "uadp_received", urx);
	add_u64(o, "uadp_unsigned_admitted", uuns);
	add_u64(o, "windows", windows);
	add_u64(o, "scored", scored);
	add_u64(o, "batches", batches);
	add_u64(o, "alerts", alerts);
	add_u64(o, "output_lines", atomic_load(&dp->out_written));
	add_u64(o, "output_ring_full_scores", full_s);
	add_u64(o, "output_ring_full_alerts", full_a);
	add_u64(o, "latency_us_mean", scored ? lat_sum / scored / 1000 : 0);
	add_u64(o, "latency_us_max", lat_max / 1000);
	add_u64(o, "policy_applies", atomic_load(&dp->applies));
	/* The model set cannot be freed under us: model_lock serialises swaps. */
	pthread_mutex_lock(&dp->model_lock);
	ms = atomic_load(&dp->models);
	if (ms) {
		json_object_object_add(o, "model", json_object_new_string(ms->active));
		json_object_object_add(o, "shadow", json_object_new_string(ms->shadow));
		add_u64(o, "model_epoch", ms->epoch);
	}
	pthread_mutex_unlock(&dp->model_lock);
	add_u64(o, "model_swaps", atomic_load(&dp->model_swaps));
	if (dp->mqtt) {
		struct lg_mqtt_stats ms2;
		json_object *m = json_object_new_object();

		lg_mqtt_stats(dp->mqtt, &ms2);
		json_object_object_add(m, "connected", json_object_new_boolean(ms2.connected));
		add_u64(m, "connects", ms2.connects);
		add_u64(m, "published", ms2.published);
		add_u64(m, "delivered", ms2.delivered);
		add_u64(m, "dropped_scores", ms2.dropped_scores);
		add_u64(m, "dropped_alerts", ms2.dropped_alerts);
		json_object_object_add(o, "mqtt", m);
	}
	add_u64(o, "shadow_scored", shs);
	add_u64(o, "shadow_disagreements", shd);
	if (dp->admit) {
		struct lg_admit_reason_ctr ctr[LG_R_MAX];
		json_object *x = json_object_new_object();

		if (!lg_admit_read_reasons(dp->admit, ctr)) {
			for (int r = 0; r < LG_R_MAX; r++)
				add_u64(x, lg_admit_reason_name(r), ctr[r].frames);
			add_u64(x, "audited", ctr[LG_R_AUDIT].audited);
		}
		json_object_object_add(o, "xdp", x);
	}

	/* The generation cannot be freed under us: apply_lock serialises frees. */
	pthread_mutex_lock(&dp->apply_lock);
	g = atomic_load(&dp->gen);
	lg_hex_encode(g->policy.hash, sizeof(g->policy.hash), hash);
	json_object_object_add(o, "policy_sha256", json_object_new_string(hash));
	add_u64(o, "policy_epoch", g->epoch);
	for (size_t i = 0; i < g->policy.ndevices; i++) {
		json_object *d = json_object_new_object();
		uint64_t adm = 0, win = 0, al = 0;
		float score = 0;

		for (unsigned w = 0; w < g->nworkers; w++) {
			struct lg_dev_state *s = g->state[w][i];
			uint32_t bits = atomic_load(&s->last_score_bits);
			float sc;

			adm += atomic_load(&s->admitted);
			win += atomic_load(&s->windows);
			al += atomic_load(&s->alerts);
			memcpy(&sc, &bits, sizeof(sc));
			if (sc > score)
				score = sc;
		}
		json_object_object_add(d, "id", json_object_new_uint64(g->policy.devices[i].id));
		json_object_object_add(d, "name", json_object_new_string(g->policy.devices[i].name));
		add_u64(d, "admitted", adm);
		add_u64(d, "windows", win);
		add_u64(d, "alerts", al);
		json_object_object_add(d, "last_score", json_object_new_double(score));
		json_object_array_add(devs, d);
	}
	pthread_mutex_unlock(&dp->apply_lock);
	json_object_object_add(o, "devices", devs);
	text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return text;
}
