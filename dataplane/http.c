// SPDX-License-Identifier: MIT
/*
 * The data plane's HTTP server (libmicrohttpd): GET /metrics (Prometheus text), /healthz,
 * /readyz, /status.json and the status page at / (status.c renders it), and the sampler
 * that keeps each device's recent scores for the page's charts.
 *
 * One thread per connection, at most LG_HTTP_CONNS of them, each cut after LG_HTTP_IDLE_S
 * of silence: a slow or idle client holds one of them, never a worker, and a request that
 * waits for the policy (an apply in progress) does not hold /healthz behind it.
 */
#include "dataplane.h"
#include "http.h"
#include "meta.h"
#include "mqtt.h"
#include "nats.h"
#include "opcua_mqtt.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <lgadmit.h>

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LG_HTTP_CONNS 16u
#define LG_HTTP_PER_IP 8u
#define LG_HTTP_IDLE_S 10u

/* One device's recent scores: point s (steps since start) at v[s % LG_HTTP_POINTS]. */
struct hist_dev {
	uint32_t id;
	uint64_t first; /* the first step the device was sampled at */
	float v[LG_HTTP_POINTS];
};

struct lg_http {
	struct lg_dp *dp;
	struct MHD_Daemon *mhd;
	const char *version;
	unsigned step_s;
	pthread_t sampler;
	bool sampler_running;
	pthread_mutex_t lock; /* everything below */
	pthread_cond_t cond;
	bool stop;
	uint64_t steps;        /* steps taken */
	uint64_t newest_ms;    /* CLOCK_REALTIME ms of the newest step */
	uint64_t skipped;      /* steps the policy was busy for (an apply held it) */
	/* JSON lines not written (dp->out_dropped) as the last step saw them, and when they
	 * last grew (lg_now_ns(), 0 = never): readiness. */
	uint64_t out_dropped_seen, out_drop_ns;
	struct hist_dev *dev;  /* sorted by id */
	size_t ndev;
};

static struct hist_dev *hist_find(struct hist_dev *d, size_t n, uint32_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (d[mid].id == id)
			return &d[mid];
		if (d[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int cmp_id(const void *a, const void *b)
{
	uint32_t x = ((const struct hist_dev *)a)->id, y = ((const struct hist_dev *)b)->id;

	return x < y ? -1 : x > y;
}

static void abs_in(struct timespec *ts, clockid_t clk, long ms)
{
	clock_gettime(clk, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* One step: each device's highest score since the last one (NaN: none scored). The devices
 * of the running generation only; a device that left the policy leaves the charts. */
static void sample(struct lg_http *h)
{
	struct lg_dp *dp = h->dp;
	struct hist_dev *nd = NULL;
	struct timespec ts;
	struct lg_gen *g;
	size_t n = 0;
	struct { uint32_t id, key; } *pk = NULL;

	/* An apply holds the policy until every worker runs it: a step it blocks is a gap
	 * (the peaks stay for the next), never a stalled sampler. */
	abs_in(&ts, CLOCK_REALTIME, 500);
	if (pthread_mutex_timedlock(&dp->apply_lock, &ts)) {
		pthread_mutex_lock(&h->lock);
		h->skipped++;
		pthread_mutex_unlock(&h->lock);
		return;
	}
	g = atomic_load(&dp->gen);
	pk = calloc(g->policy.ndevices ? g->policy.ndevices : 1, sizeof(*pk));
	for (size_t i = 0; pk && i < g->policy.ndevices; i++, n++) {
		pk[n].id = g->policy.devices[i].id;
		pk[n].key = atomic_exchange_explicit(&g->state[i]->peak_key, 0,
						     memory_order_relaxed);
	}
	pthread_mutex_unlock(&dp->apply_lock);
	{
		uint64_t d = atomic_load(&dp->out_dropped);

		pthread_mutex_lock(&h->lock);
		if (d != h->out_dropped_seen) {
			h->out_dropped_seen = d;
			h->out_drop_ns = lg_now_ns();
		}
		pthread_mutex_unlock(&h->lock);
	}
	if (!pk)
		return;
	nd = calloc(n ? n : 1, sizeof(*nd));
	pthread_mutex_lock(&h->lock);
	if (nd) {
		unsigned slot = (unsigned)(h->steps % LG_HTTP_POINTS);

		for (size_t i = 0; i < n; i++) {
			struct hist_dev *old = hist_find(h->dev, h->ndev, pk[i].id);

			if (old) {
				nd[i] = *old;
			} else {
				nd[i].id = pk[i].id;
				nd[i].first = h->steps;
			}
			nd[i].v[slot] = pk[i].key ? lg_score_from_key(pk[i].key) : NAN;
		}
		qsort(nd, n, sizeof(*nd), cmp_id);
		free(h->dev);
		h->dev = nd;
		h->ndev = n;
		h->steps++;
		h->newest_ms = wall_ms();
	}
	pthread_mutex_unlock(&h->lock);
	free(pk);
}

static void *sampler_main(void *arg)
{
	struct lg_http *h = arg;
	struct timespec next;

	clock_gettime(CLOCK_MONOTONIC, &next);
	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		next.tv_sec += h->step_s;
		while (!h->stop && pthread_cond_timedwait(&h->cond, &h->lock, &next) != ETIMEDOUT)
			;
		if (h->stop)
			break;
		pthread_mutex_unlock(&h->lock);
		sample(h);
		pthread_mutex_lock(&h->lock);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* ---- health and readiness ---- */

static void say(json_object *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(json_object *a, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_array_add(a, json_object_new_string(msg));
}

/* Alive and making progress: every worker's loop turned within LG_HTTP_STALL_MS (a worker
 * that has not started yet is not ready, not unhealthy). Reads atomics only: it answers
 * while a worker, the output thread or an apply is stuck. */
void lg_http_health(struct lg_dp *dp, json_object *problems)
{
	uint64_t now = lg_now_ns();
	bool ended = atomic_load(&dp->eof_workers) == dp->nworkers;

	if (atomic_load(&dp->stop))
		say(problems, "linegate is stopping");
	for (unsigned i = 0; i < dp->nworkers && !ended; i++) {
		struct lg_worker *w = &dp->workers[i];
		uint64_t beat = atomic_load_explicit(&w->beat_ns, memory_order_relaxed);

		if (beat && now > beat && now - beat > (uint64_t)LG_HTTP_STALL_MS * 1000000ull)
			say(problems, "worker %u (thread lg-worker-%u, tid %d) has not turned its "
			    "loop for %.1f s (more than %u ms): it is hung, and its queue's frames "
			    "are not judged", i, i, atomic_load(&w->tid), (now - beat) / 1e9,
			    LG_HTTP_STALL_MS);
	}
}

/* Ready to take the line's traffic: healthy, every worker started, a policy and a model,
 * XDP attached where configured, and every configured output and input connected. */
void lg_http_ready(struct lg_dp *dp, json_object *reasons)
{
	struct lg_gen *g = atomic_load(&dp->gen);
	struct lg_modelset *ms = atomic_load(&dp->models);

	lg_http_health(dp, reasons);
	for (unsigned i = 0; i < dp->nworkers; i++)
		if (!atomic_load_explicit(&dp->workers[i].beat_ns, memory_order_relaxed))
			say(reasons, "worker %u has not started yet", i);
	if (!g)
		say(reasons, "no policy loaded");
	if (!ms || !ms->active[0])
		say(reasons, "no model loaded (detection.model)");
	if (dp->admit && dp->admit_ifindex) {
		struct lg_admit_iface cur = { 0 };
		/* Our own program's id, from the fd we hold, against what the interface runs
		 * (netlink): both work without a capability, after --user too; the full probe
		 * (which program is it?) needs one, and is only for a program that is not ours. */
		LIBBPF_OPTS(bpf_xdp_query_opts, q);
		struct bpf_prog_info info = { 0 };
		__u32 ilen = sizeof(info);
		int ret = bpf_xdp_query(dp->admit_ifindex, 0, &q);
		__u32 now = ret ? 0 : q.prog_id ? q.prog_id : q.drv_prog_id ? q.drv_prog_id :
								       q.skb_prog_id;

		if (!ret && now &&
		    !bpf_obj_get_info_by_fd(lg_admit_prog_fd(dp->admit), &info, &ilen) &&
		    info.id == now) {
			cur.prog_id = now;
			cur.ours = 1;
		} else if (!ret && now) {
			ret = lg_admit_probe(dp->admit_ifindex, &cur);
		}
		if (ret)
			say(reasons, "XDP: cannot see what runs on %s: %s", dp->admit_ifname,
			    strerror(-ret));
		else if (!cur.prog_id)
			say(reasons, "XDP: no program attached to %s (detached from outside "
			    "linegate?): admission is not enforced; restart linegate with --xdp",
			    dp->admit_ifname);
		else if (!cur.ours)
			say(reasons, "XDP: %s runs another program (%s), not linegate's admission",
			    dp->admit_ifname, cur.name);
	}
	if (dp->mqtt) {
		struct lg_mqtt_stats st;

		lg_mqtt_stats(dp->mqtt, &st);
		/* Issue 12: and why (the last attempt's failure, or the lost connection) */
		if (!st.connected)
			say(reasons, "output.mqtt: not connected to %s:%u (%llu connections so "
			    "far): records wait in %s%s%s%s%s%s",
			    g ? g->policy.mqtt.host : "?", g ? g->policy.mqtt.port : 0,
			    (unsigned long long)st.connects,
			    st.have_outbox ? "the outbox (on disk)" : "its queue (in memory)",
			    st.last_error >= 0 ? "; last failure: " : "",
			    st.last_error >= 0 ? lg_mqtt_conn_error_names[st.last_error] : "",
			    st.last_error >= 0 ? ": " : "", st.last_error_text,
			    st.last_error >= 0 ? "" : "; no connection attempt has ended yet");
	}
	if (dp->nats) {
		struct lg_nats_stats st;

		lg_nats_stats(dp->nats, &st);
		/* and why, as MQTT's (trial J F13: no last failure) */
		if (!st.connected)
			say(reasons, "output.nats: not connected to a NATS server (%llu connections "
			    "so far): records wait in the outbox%s%s%s",
			    (unsigned long long)st.connects,
			    st.last_error[0] ? "; last failure: " : "", st.last_error,
			    st.last_error[0] ? "" : "; no failure known yet (libnats keeps trying)");
		/* Connected, but nothing acknowledged since the last failure, which is recent
		 * (within the longest wait between resends, and a margin: trial V, s24, ready
		 * for 6 s of each 16), while records wait: the server refuses them (no stream
		 * for the subjects, a full one; trial Q, s23: "ready" while every record was
		 * refused) */
		else if (st.outbox.records && st.last_error_age_s >= 0 &&
			 st.last_error_age_s < LG_NATS_RESEND_MAX_S + 4 &&
			 (st.last_ack_age_s < 0 || st.last_ack_age_s > st.last_error_age_s))
			say(reasons, "output.nats: connected, but the server acknowledges no record "
			    "(%llu records wait in the outbox): %s",
			    (unsigned long long)st.outbox.records, st.last_error);
	}
	if (dp->opcua_mqtt) {
		struct lg_opcua_mqtt_stats st;

		lg_opcua_mqtt_stats(dp->opcua_mqtt, &st);
		if (!st.connected)
			say(reasons, "opcua_mqtt: not connected to %s:%u: no OPC UA PubSub "
			    "messages arrive", g ? g->policy.opcua_mqtt.host : "?",
			    g ? g->policy.opcua_mqtt.port : 0);
	}
	if (dp->http) {
		/* JSON lines a write failed for (full disk, I/O error, reader gone), now or
		 * within the last two steps (at least 10 s): not ready until writes succeed. */
		struct lg_http *h = dp->http;
		uint64_t d = atomic_load(&dp->out_dropped), seen, at, now = lg_now_ns(),
			 win = (uint64_t)(h->step_s * 2 > 10 ? h->step_s * 2 : 10) * 1000000000ull;

		pthread_mutex_lock(&h->lock);
		seen = h->out_dropped_seen;
		at = h->out_drop_ns;
		pthread_mutex_unlock(&h->lock);
		if (d > seen || (at && now - at < win))
			say(reasons, "output.jsonl: writes are failing (full disk, I/O error, reader "
			    "gone): %llu lines not written so far (output_write_dropped)",
			    (unsigned long long)d);
	}
}

/* ---- the status document ---- */

json_object *lg_http_status(struct lg_http *h)
{
	struct lg_dp *dp = h->dp;
	char *stats = lg_dp_stats_json(dp);
	json_object *o = stats ? json_tokener_parse(stats) : NULL, *devs, *x;
	struct timespec ts;

	free(stats);
	if (!o)
		return NULL;
	x = json_object_new_object();
	json_object_object_add(x, "version", json_object_new_string(h->version));
	json_object_object_add(x, "policy_file",
			       json_object_new_string(dp->policy_path ? dp->policy_path : ""));
	json_object_object_add(o, "linegate", x);
	x = json_object_new_array();
	lg_http_health(dp, x);
	json_object_object_add(o, "healthy", json_object_new_boolean(!json_object_array_length(x)));
	json_object_object_add(o, "health_problems", x);
	x = json_object_new_array();
	lg_http_ready(dp, x);
	json_object_object_add(o, "ready", json_object_new_boolean(!json_object_array_length(x)));
	json_object_object_add(o, "ready_reasons", x);
	x = json_object_new_array();
	for (int r = 1; r < LG_REASON_MAX; r++) {
		json_object *d = json_object_new_object(), *drops, *c = NULL;

		json_object_object_add(d, "reason", json_object_new_string(lg_reason_name(r)));
		if (json_object_object_get_ex(o, "drops", &drops))
			json_object_object_get_ex(drops, lg_reason_name(r), &c);
		json_object_object_add(d, "count", json_object_new_uint64(
			c ? json_object_get_uint64(c) : 0));
		json_object_object_add(d, "description",
				       json_object_new_string(lg_reason_desc(r)));
		json_object_array_add(x, d);
	}
	json_object_object_add(o, "drop_reasons", x);

	if (!json_object_object_get_ex(o, "devices", &devs))
		return o;
	/* The devices' publishers (UADP), from the running policy, when it is not being
	 * changed right now. */
	abs_in(&ts, CLOCK_REALTIME, 1000);
	if (!pthread_mutex_timedlock(&dp->apply_lock, &ts)) {
		struct lg_gen *g = atomic_load(&dp->gen);

		for (size_t i = 0; i < json_object_array_length(devs); i++) {
			json_object *d = json_object_array_get_idx(devs, i), *id, *meta;
			char pub[64] = "";

			if (i >= g->policy.ndevices || !json_object_object_get_ex(d, "id", &id) ||
			    g->policy.devices[i].id != json_object_get_uint64(id))
				continue;
			/* Issue 12: the device's metadata (its group's merged in), if any */
			meta = lg_meta_object(&g->policy.devices[i].meta);
			if (meta)
				json_object_object_add(d, "meta", meta);
			if (!g->policy.devices[i].uadp_pub_type)
				continue;
			if (g->policy.devices[i].uadp_pub_str[0])
				snprintf(pub, sizeof(pub), "%s", g->policy.devices[i].uadp_pub_str);
			else
				snprintf(pub, sizeof(pub), "%llu",
					 (unsigned long long)g->policy.devices[i].uadp_pub_num);
			json_object_object_add(d, "uadp_publisher", json_object_new_string(pub));
		}
		pthread_mutex_unlock(&dp->apply_lock);
	}
	pthread_mutex_lock(&h->lock);
	x = json_object_new_object();
	json_object_object_add(x, "step_s", json_object_new_uint64(h->step_s));
	json_object_object_add(x, "points", json_object_new_uint64(LG_HTTP_POINTS));
	json_object_object_add(x, "steps", json_object_new_uint64(h->steps));
	json_object_object_add(x, "newest_ms", json_object_new_uint64(h->newest_ms));
	json_object_object_add(x, "skipped", json_object_new_uint64(h->skipped));
	json_object_object_add(o, "history", x);
	for (size_t i = 0; i < json_object_array_length(devs); i++) {
		json_object *d = json_object_array_get_idx(devs, i), *id, *a;
		struct hist_dev *hd;
		uint64_t from;

		if (!json_object_object_get_ex(d, "id", &id))
			continue;
		a = json_object_new_array();
		hd = hist_find(h->dev, h->ndev, (uint32_t)json_object_get_uint64(id));
		/* Oldest first; null where no row was scored in the step. */
		from = h->steps > LG_HTTP_POINTS ? h->steps - LG_HTTP_POINTS : 0;
		if (hd && hd->first > from)
			from = hd->first;
		for (uint64_t s = from; hd && s < h->steps; s++) {
			float v = hd->v[s % LG_HTTP_POINTS];

			json_object_array_add(a, isfinite(v) ? json_object_new_double(v) : NULL);
		}
		json_object_object_add(d, "recent", a);
	}
	pthread_mutex_unlock(&h->lock);
	return o;
}

/* ---- serving ---- */

static bool wants_json(struct MHD_Connection *c)
{
	const char *f = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format");
	const char *acc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");

	if (f)
		return !strcmp(f, "json");
	return acc && strstr(acc, "application/json");
}

/* /healthz and /readyz: 200 or 503, the problems as text lines or as JSON. */
static char *check_doc(bool ready, struct lg_dp *dp, bool json, unsigned *status,
		       const char **type)
{
	json_object *a = json_object_new_array();
	size_t n;
	char *text;

	if (ready)
		lg_http_ready(dp, a);
	else
		lg_http_health(dp, a);
	n = json_object_array_length(a);
	*status = n ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK;
	if (json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, ready ? "ready" : "healthy", json_object_new_boolean(!n));
		json_object_object_add(o, ready ? "reasons" : "problems", a);
		text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		*type = "application/json";
		return text;
	}
	{
		size_t len = 64;

		for (size_t i = 0; i < n; i++)
			len += strlen(json_object_get_string(json_object_array_get_idx(a, i))) + 2;
		text = malloc(len);
		if (text) {
			size_t off = (size_t)snprintf(text, len, "%s\n", n ? (ready ? "not ready" :
					"unhealthy") : (ready ? "ready" : "ok"));

			for (size_t i = 0; i < n; i++)
				off += (size_t)snprintf(text + off, len - off, "%s\n",
					json_object_get_string(json_object_array_get_idx(a, i)));
		}
	}
	json_object_put(a);
	*type = "text/plain; charset=utf-8";
	return text;
}

/* The counters and the status read the running policy under apply_lock, which an apply
 * holds until every worker runs it: with a hung worker, for good. Such a request would
 * hold its connection's thread for good too, and enough of them every connection: wait a
 * few seconds at most, then say why. */
#define LG_HTTP_POLICY_WAIT_MS 3000

static bool policy_free(struct lg_dp *dp)
{
	struct timespec ts;

	abs_in(&ts, CLOCK_REALTIME, LG_HTTP_POLICY_WAIT_MS);
	if (pthread_mutex_timedlock(&dp->apply_lock, &ts))
		return false;
	pthread_mutex_unlock(&dp->apply_lock);
	return true;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **state)
{
	struct lg_http *h = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	unsigned status = MHD_HTTP_OK;
	const char *type = "text/plain; charset=utf-8";
	char *text = NULL;

	(void)version;
	(void)upload;
	(void)upload_len;
	(void)state;
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
	} else if ((!strcmp(url, "/metrics") || !strcmp(url, "/status.json") ||
		    !strcmp(url, "/")) && !policy_free(h->dp)) {
		status = MHD_HTTP_SERVICE_UNAVAILABLE;
		if (asprintf(&text, "a policy change has held the running policy for more than "
			     "%u ms (every worker must take it: see /healthz for a hung one); "
			     "try again\n", LG_HTTP_POLICY_WAIT_MS) < 0)
			text = NULL;
	} else if (!strcmp(url, "/metrics")) {
		text = lg_dp_metrics_text(h->dp);
		type = "text/plain; version=0.0.4; charset=utf-8";
	} else if (!strcmp(url, "/healthz") || !strcmp(url, "/readyz")) {
		text = check_doc(url[1] == 'r', h->dp, wants_json(c), &status, &type);
	} else if (!strcmp(url, "/status.json") || !strcmp(url, "/")) {
		json_object *o = lg_http_status(h);

		if (o && url[1]) {
			text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
			type = "application/json";
		} else if (o) {
			/* ?refresh=SECONDS (0: none; default: every chart step) */
			const char *rf = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
								     "refresh");
			char *end = NULL;
			long rs = rf ? strtol(rf, &end, 10) : -1;

			if (rf && (end == rf || *end || rs < 0 || rs > 3600))
				rs = -1;
			text = lg_http_status_html(o, (int)rs);
			type = "text/html; charset=utf-8";
		}
		json_object_put(o);
	} else {
		status = MHD_HTTP_NOT_FOUND;
	}
	if (!text && status == MHD_HTTP_OK)
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	if (!text)
		text = strdup(status == MHD_HTTP_NOT_FOUND ?
			      "linegate serves /, /status.json, /metrics, /healthz and /readyz\n" :
			      status == MHD_HTTP_METHOD_NOT_ALLOWED ? "GET and HEAD only\n" :
								     "out of memory\n");
	r = MHD_create_response_from_buffer(text ? strlen(text) : 0, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	if (!strcmp(type, "text/html; charset=utf-8"))
		/* The page needs nothing from elsewhere and runs no script: say so to the
		 * browser, so that a name that slipped past escaping could not either. */
		MHD_add_response_header(r, "Content-Security-Policy",
					"default-src 'none'; style-src 'unsafe-inline'; img-src data:");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

int lg_http_start(struct lg_dp *dp, const struct lg_http_opts *o, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct lg_http *h;
	pthread_condattr_t ca;
	int ret;

	ret = lg_http_parse_addr(o->addr, &ss, err, errlen);
	if (ret)
		return ret;
	if (o->step_s > 3600) {
		snprintf(err, errlen, "a chart step of %u s is more than an hour", o->step_s);
		return -EINVAL;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	h->dp = dp;
	h->version = o->version ? o->version : "";
	h->step_s = o->step_s ? o->step_s : LG_HTTP_STEP_S;
	pthread_mutex_init(&h->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->cond, &ca);
	pthread_condattr_destroy(&ca);
	dp->http = h;
	if (pthread_create(&h->sampler, NULL, sampler_main, h)) {
		snprintf(err, errlen, "cannot start the status sampler");
		ret = -EAGAIN;
		goto err;
	}
	h->sampler_running = true;
	pthread_setname_np(h->sampler, "lg-http-sample");
	h->mhd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
				  MHD_USE_ERROR_LOG | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				  0, NULL, NULL, answer, h,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  MHD_OPTION_CONNECTION_LIMIT, LG_HTTP_CONNS,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT, LG_HTTP_PER_IP,
				  MHD_OPTION_CONNECTION_TIMEOUT, LG_HTTP_IDLE_S,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
				  MHD_OPTION_END);
	if (!h->mhd) {
		snprintf(err, errlen, "cannot serve HTTP on %s (port in use, or an address this "
			 "host does not have?)", o->addr);
		ret = -EADDRINUSE;
		goto err;
	}
	return 0;
err:
	lg_http_stop(dp);
	return ret;
}

void lg_http_stop(struct lg_dp *dp)
{
	struct lg_http *h = dp->http;

	if (!h)
		return;
	if (h->mhd)
		MHD_stop_daemon(h->mhd);
	if (h->sampler_running) {
		pthread_mutex_lock(&h->lock);
		h->stop = true;
		pthread_cond_signal(&h->cond);
		pthread_mutex_unlock(&h->lock);
		pthread_join(h->sampler, NULL);
	}
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h->dev);
	free(h);
	dp->http = NULL;
}
