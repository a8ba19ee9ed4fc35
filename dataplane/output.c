// SPDX-License-Identifier: MIT
/* The output thread: drains the workers' rings (alerts first) into JSON lines. */
#include "dataplane.h"
#include "influx.h"
#include "meta.h"
#include "mqtt.h"
#include "nats.h"
#include "record.h"

#include <lgadmit.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * Write the buffered lines with write(2): a line counts as written only when all its bytes
 * were; on an error (a full disk, EIO, a reader gone) the lines not written are counted as
 * dropped, the error is remembered, and the output goes on (space may come back).
 */
static void out_flush(struct lg_dp *dp)
{
	int fd = fileno(dp->out);
	uint64_t now;
	size_t done = 0;
	unsigned ok = 0;

	while (done < dp->outlen) {
		ssize_t n = write(fd, dp->outbuf + done, dp->outlen - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			/* A slow reader: wait a little, but never stall for good. */
			if (poll(&pfd, 1, 100) > 0)
				continue;
			dp->out_errno = EAGAIN;
			break;
		}
		if (n <= 0) {
			dp->out_errno = n < 0 ? errno : EIO;
			break;
		}
		done += (size_t)n;
	}
	now = lg_now_ns();
	for (unsigned i = 0; i < dp->nout; i++) {
		bool written = dp->out_end[i] <= done;

		ok += written;
		/* Honest latency: a row is published when its line's write(2) returned. */
		if (written && dp->out_scored_ns[i]) {
			lg_lat_add(&dp->lat_out[0], now - dp->out_scored_ns[i]);
			lg_lat_add(&dp->lat_out[1], now - dp->out_arrival_ns[i]);
		}
		if (dp->out_alert[i])
			atomic_fetch_add_explicit(written ? &dp->out_alerts : &dp->out_dropped_alerts,
						  1, memory_order_relaxed);
	}
	atomic_fetch_add_explicit(&dp->out_written, ok, memory_order_relaxed);
	atomic_fetch_add_explicit(&dp->out_dropped, dp->nout - ok, memory_order_relaxed);
	dp->outlen = 0;
	dp->nout = 0;
}

/* What a UADP window adds to its line: the channel's field name, the publisher's source
 * time (its DateTime field, RFC 3339 UTC) and the newest values of the other fields. */
static void uadp_members(const struct lg_event *e, char *out, size_t len)
{
	size_t u = 0;

	out[0] = '\0';
	if (e->channel_name[0])
		u += (size_t)snprintf(out + u, len - u, ",\"channel_name\":\"%s\"", e->channel_name);
	if (e->source_time > 0 && u < len) {
		/* OPC UA DateTime: 100 ns ticks since 1601-01-01 UTC. */
		int64_t t = e->source_time - 116444736000000000LL;
		time_t sec = (time_t)(t / 10000000);
		struct tm tm;
		char buf[32];

		if (t >= 0 && gmtime_r(&sec, &tm)) {
			strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
			u += (size_t)snprintf(out + u, len - u, ",\"source_time\":\"%s.%07dZ\"", buf,
					      (int)(t % 10000000));
		}
	}
	if (e->fields[0] && u < len)
		snprintf(out + u, len - u, ",\"fields\":{%s}", e->fields);
}

/* A record with its metadata (meta.h): the longest line, with room to spare. */
#define LG_LINE_MAX 4096

/* One whole line into the buffer (written by the next out_flush); e: the scored row it
 * shows, for the latency stages, or NULL. */
static void out_append(struct lg_dp *dp, const char *line, size_t len, bool alert,
		       const struct lg_event *e)
{
	if (dp->outlen + len > sizeof(dp->outbuf) ||
	    dp->nout == sizeof(dp->out_end) / sizeof(dp->out_end[0]))
		out_flush(dp);
	memcpy(dp->outbuf + dp->outlen, line, len);
	dp->outlen += len;
	dp->out_end[dp->nout] = (uint32_t)dp->outlen;
	dp->out_scored_ns[dp->nout] = e ? e->scored_ns : 0;
	dp->out_arrival_ns[dp->nout] = e ? e->arrival_ns : 0;
	dp->out_alert[dp->nout++] = alert;
}

/* linegate_publish_latency_seconds: from the worker's pickup of the window's first frame
 * (not its arrival: latency.h has those stages) to its line buffered (an incident event: of
 * the window that made it), for every line. */
static void out_latency(struct lg_dp *dp, const struct lg_event *e)
{
	uint64_t lat = lg_now_ns() - e->rx_ns;

	atomic_fetch_add_explicit(&dp->pub_hist[lg_latency_bucket(lat)], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&dp->pub_sum_ns, lat, memory_order_relaxed);
}

/* incidents: one event (open, update, resolve) as a JSON line, to MQTT on
 * <topic>/incidents/<device>, and into the open-incident table of status. */
static void write_incident(struct lg_dp *dp, const struct lg_event *e)
{
	const struct lg_inc_rec *r = &e->inc;
	enum lg_inc_event ev = (enum lg_inc_event)e->inc_event;
	struct lg_meta_ent *m = lg_meta_find(dp->meta, e->device_id);
	char line[LG_LINE_MAX], onset[40], opened[40], now[40], more[128] = "";
	uint64_t tti = r->opened_ns > r->onset_ns ? (r->opened_ns - r->onset_ns) / 1000000u : 0;
	int len;

	lg_inc_time(r->onset_ns, onset, sizeof(onset));
	lg_inc_time(r->opened_ns, opened, sizeof(opened));
	lg_inc_time(e->scored_wall_ns, now, sizeof(now));
	if (ev == LG_INC_RESOLVE)
		snprintf(more, sizeof(more), ",\"resolved\":\"%s\",\"duration_ms\":%" PRIu64, now,
			 e->scored_wall_ns > r->opened_ns ?
				 (e->scored_wall_ns - r->opened_ns) / 1000000u : 0);
	else if (ev == LG_INC_UPDATE)
		snprintf(more, sizeof(more), ",\"time\":\"%s\"", now);
	else if (ev == LG_INC_CONTINUE)
		snprintf(more, sizeof(more), ",\"time\":\"%s\",\"continued\":true", now);
	len = snprintf(line, sizeof(line),
		"{\"type\":\"incident\",\"event\":\"%s\",\"incident\":\"%s\",\"device\":%" PRIu32
		",\"name\":\"%s\",\"onset\":\"%s\",\"clock\":\"%s\",\"opened\":\"%s\","
		"\"tti_ms\":%" PRIu64 ",\"windows\":%" PRIu64 ",\"alerts\":%" PRIu64
		",\"max_score\":%.6g,\"threshold\":%.6g%s%s}\n",
		lg_inc_event_name(ev), r->id, e->device_id, e->name, onset,
		lg_inc_clock_name(r->clock), opened, tti, r->windows, r->alerts,
		(double)r->max_score, (double)r->threshold, more, m ? m->json : "");
	if (len < 0 || (size_t)len >= sizeof(line))
		return; /* cannot happen: names and numbers are bounded */
	lg_dp_inc_table(dp, r, e->name);
	out_append(dp, line, (size_t)len, false, NULL);
	out_latency(dp, e);
	if (dp->mqtt)
		lg_mqtt_publish_incident(dp->mqtt, e->name, line, (size_t)len - 1);
	if (dp->nats)
		lg_nats_put(dp->nats, LG_OUTBOX_INCIDENT, e->device_id, e->name, line,
			    (size_t)len - 1);
	if (dp->influx)
		lg_influx_incident(dp->influx, e, m);
}

/* A drift event (drift.h): {"type":"event","event":"drift",...}. */
static int drift_line(const struct lg_event *e, const char *meta, char *line, size_t size)
{
	const struct lg_drift_event *d = &e->drift;
	char feats[LG_FEAT_N * 40] = "";
	size_t u = 0;

	for (unsigned j = 0; j < LG_FEAT_N; j++)
		if (d->over & (1u << j))
			u += (size_t)snprintf(feats + u, sizeof(feats) - u, "%s\"%s\":%.4f",
					      u ? "," : "", lg_feature_names[j], (double)d->psi[j]);
	return snprintf(line, size,
		"{\"type\":\"event\",\"event\":\"drift\",\"device\":%" PRIu32 ",\"name\":\"%s\","
		"\"state\":\"%s\",\"method\":\"%s\",\"features\":{%s},\"statistic\":%.4f,"
		"\"windows\":%" PRIu64 ",\"seq\":%" PRIu64 ",\"time_ns\":%" PRIu64
		",\"model_epoch\":%" PRIu64 "%s%s}\n",
		e->device_id, e->name, d->start ? "start" : "end",
		d->kind == 1 + LG_DRIFT_PSI ? "psi" : "page_hinkley", feats, (double)d->ph,
		d->windows, e->seq, e->scored_wall_ns, e->model_epoch,
		d->model ? ",\"reason\":\"model changed\"" : "", meta);
}

/* A row's latency_us: from the arrival of the frame with the window's last sample to its
 * score (alert latency, docs/operations.md "Latency"); events that are not rows keep their
 * first frame's pickup. */
static double lat_us(const struct lg_event *e)
{
	uint64_t from = e->arrival_ns ? e->arrival_ns : e->rx_ns;

	return e->scored_ns > from ? (double)(e->scored_ns - from) / 1000.0 : 0.0;
}

static void write_event(struct lg_dp *dp, const struct lg_event *e)
{
	struct lg_meta_ent *m = lg_meta_find(dp->meta, e->device_id);
	const char *meta = m ? m->json : "";
	char line[LG_LINE_MAX], more[LG_EVENT_FIELDS + 128], score[32];
	int len;

	uadp_members(e, more, sizeof(more));
	/* JSON has no NaN or Infinity: a row that was not finite (bad samples, issue 8) shows
	 * its score as null and says so. */
	if (e->nonfinite || !isfinite(e->score))
		snprintf(score, sizeof(score), "null,\"nonfinite\":true");
	else
		snprintf(score, sizeof(score), "%.6g", (double)e->score);
	if (e->drift.kind)
		len = drift_line(e, meta, line, sizeof(line));
	else
		len = snprintf(line, sizeof(line),
		"{\"type\":\"%s\",\"device\":%" PRIu32 ",\"name\":\"%s\",\"channel\":%u,"
		"\"score\":%s,\"threshold\":%.6g,\"seq\":%" PRIu64 ",\"time_ns\":%" PRIu64
		",\"latency_us\":%.1f,\"model_epoch\":%" PRIu64 "%s%s}\n",
		e->alert ? "alert" : "score", e->device_id, e->name, e->channel, score,
		e->threshold, e->seq, e->scored_wall_ns, lat_us(e),
		e->model_epoch, more, meta);

	if (len < 0 || (size_t)len >= sizeof(line))
		return; /* cannot happen: names and numbers are bounded */
	out_append(dp, line, (size_t)len, e->alert,
		   e->kind == LG_EV_ROW && !e->drift.kind && e->arrival_ns ? e : NULL);
	out_latency(dp, e);
	if (dp->mqtt && e->drift.kind)
		lg_mqtt_publish_event(dp->mqtt, e->name, line, (size_t)len - 1);
	else if (dp->mqtt)
		lg_mqtt_publish(dp->mqtt, e->alert, e->name, line, (size_t)len - 1);
	if (dp->nats)
		lg_nats_put(dp->nats, e->drift.kind ? LG_OUTBOX_EVENT :
				      e->alert ? LG_OUTBOX_ALERT : LG_OUTBOX_SCORE,
			    e->device_id, e->name, line, (size_t)len - 1);
	if (dp->influx && !e->drift.kind)
		lg_influx_row(dp->influx, e, m);
}

/* An event line of the recorder (record.h): a recording that stopped by itself. */
static unsigned write_record_event(struct lg_dp *dp)
{
	char line[1024];
	size_t len = lg_record_take_event(dp->rec, line, sizeof(line));

	if (!len)
		return 0;
	out_append(dp, line, len, false, NULL);
	return 1;
}

/* Issue 12: the metadata of the policy an apply published, from the next line on. */
static void take_meta(struct lg_dp *dp)
{
	struct lg_meta_tab *t = atomic_exchange(&dp->meta_next, NULL);

	if (!t)
		return;
	lg_meta_carry(t, dp->meta);
	lg_meta_free(dp->meta);
	dp->meta = t;
}

int lg_dp_meta_publish(struct lg_dp *dp, const struct lg_policy *p)
{
	struct lg_meta_tab *t = lg_meta_build(p);

	if (!t)
		return -ENOMEM;
	/* A table the output thread has not taken yet is older than this one. */
	lg_meta_free(atomic_exchange(&dp->meta_next, t));
	return 0;
}

void lg_dp_meta_free(struct lg_dp *dp)
{
	lg_meta_free(atomic_exchange(&dp->meta_next, NULL));
	lg_meta_free(dp->meta);
	dp->meta = NULL;
}

static unsigned drain(struct lg_dp *dp)
{
	struct lg_event e;
	unsigned n;

	take_meta(dp);
	n = write_record_event(dp);

	for (unsigned w = 0; w < dp->nworkers; w++)
		while (lg_spsc_pop(&dp->workers[w].alerts, &e)) {
			if (e.kind == LG_EV_INCIDENT)
				write_incident(dp, &e);
			else
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
	out_flush(dp);
}

void *lg_output_main(void *arg)
{
	struct lg_dp *dp = arg;

	while (!atomic_load(&dp->stop)) {
		unsigned n = drain(dp);
		FILE *next;

		/* One write a round (alerts first, then up to 256 scores a worker). */
		out_flush(dp);
		if (dp->nats)
			lg_nats_pump(dp->nats);
		/* An apply changed output.jsonl: what was drained went to the old file, whole;
		 * from the next round on, lines go to the new one. */
		next = atomic_load(&dp->out_next);
		if (next) {
			if (dp->out && !dp->out_is_stdout)
				fclose(dp->out);
			dp->out = next;
			dp->out_is_stdout = next == stdout;
			dp->out_errno = 0;
			atomic_store(&dp->out_next, NULL);
		}
		if (!n) {
			struct timespec ts = { 0, 2000000 };

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

