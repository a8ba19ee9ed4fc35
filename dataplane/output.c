// SPDX-License-Identifier: MIT
/* The output thread: drains the workers' rings (alerts first) into JSON lines. */
#include "dataplane.h"
#include "influx.h"
#include "meta.h"
#include "mqtt.h"
#include "nats.h"
#include "record.h"

#include <linegate/fmt.h>
#include <linegate/outpath.h>

#include <lgadmit.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const lg_out_kind_names[LG_OUT_KINDS] = { "alerts", "scores", "incidents", "events" };

/* Lines [from, to) of the buffer under one outcome: the kind counters and the totals. */
static void out_count(struct lg_dp *dp, unsigned from, unsigned to, _Atomic uint64_t *by_kind,
		      bool written)
{
	uint64_t n = 0, alerts = 0, now = written && from < to ? lg_now_ns() : 0;
	uint64_t kinds[LG_OUT_KINDS] = {0};

	for (unsigned i = from; i < to; i++) {
		kinds[dp->out_kind[i]]++;
		alerts += dp->out_kind[i] == LG_OUT_ALERT;
		n++;
		/* Honest latency: a row is published when its line's write(2) returned. */
		if (written && dp->out_scored_ns[i]) {
			lg_lat_add(&dp->lat_out[0], now - dp->out_scored_ns[i]);
			lg_lat_add(&dp->lat_out[1], now - dp->out_arrival_ns[i]);
		}
	}
	/* Added once a flush, not a line (issue 10: a locked add a line). */
	for (unsigned k = 0; k < LG_OUT_KINDS; k++)
		if (kinds[k])
			atomic_fetch_add_explicit(&by_kind[k], kinds[k], memory_order_relaxed);
	if (!n || by_kind == dp->out_k_abandoned)
		return;
	atomic_fetch_add_explicit(written ? &dp->out_written : &dp->out_dropped, n,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(written ? &dp->out_alerts : &dp->out_dropped_alerts, alerts,
				  memory_order_relaxed);
}

/* One line of a kind, outside the buffer (the tail of a cut line). */
static void out_count1(struct lg_dp *dp, uint8_t kind, _Atomic uint64_t *by_kind, bool written)
{
	atomic_fetch_add_explicit(&by_kind[kind], 1, memory_order_relaxed);
	if (by_kind == dp->out_k_abandoned)
		return;
	atomic_fetch_add_explicit(written ? &dp->out_written : &dp->out_dropped, 1,
				  memory_order_relaxed);
	if (kind == LG_OUT_ALERT)
		atomic_fetch_add_explicit(written ? &dp->out_alerts : &dp->out_dropped_alerts, 1,
					  memory_order_relaxed);
}

/* ms the writer may still wait for a slow reader: 100 while running, the rest of the
 * shutdown bound while stopping; < 0 once the bound has passed (nothing more is written). */
static int out_wait_ms(const struct lg_dp *dp)
{
	uint64_t dl = atomic_load_explicit(&dp->out_deadline_ns, memory_order_relaxed), now;

	if (!dl)
		return 100;
	now = lg_now_ns();
	if (now >= dl)
		return -1;
	return (int)((dl - now + 999999) / 1000000);
}

/*
 * write(2) len bytes to the output (nonblocking when it is a pipe: a reader that does not
 * read is waited for out_wait_ms(), never for good; a replay waits until it is stopped). Returns the bytes written; *err is 0
 * when all were, else why not (EAGAIN: the reader did not read in time; ETIMEDOUT: the
 * shutdown bound passed).
 */
static size_t out_write(struct lg_dp *dp, const char *buf, size_t len, int *err)
{
	int fd = fileno(dp->out);
	size_t done = 0;

	*err = 0;
	while (done < len) {
		ssize_t n;
		int wait = out_wait_ms(dp);

		if (wait < 0) {
			*err = ETIMEDOUT;
			break;
		}
		n = write(fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			if (poll(&pfd, 1, wait) > 0)
				continue;
			/* A replay (a finite stream) has no line to keep up with: it waits for its
			 * reader, as its workers wait for ring room, until it is told to stop. */
			if (!atomic_load_explicit(&dp->out_deadline_ns, memory_order_relaxed) &&
			    !dp->handoff_wait) {
				*err = EAGAIN;
				break;
			}
			continue; /* stopping: waited until the bound, which the top says */
		}
		if (n <= 0) {
			*err = n < 0 ? errno : EIO;
			break;
		}
		done += (size_t)n;
	}
	return done;
}

/* A failed write left the first cut bytes of a line in the file: take them back, so that
 * the next line does not glue onto half of this one. Regular files only. */
static void out_uncut(struct lg_dp *dp, size_t cut)
{
	struct stat st;
	int fd = fileno(dp->out);

	if (!cut)
		return;
	if (fstat(fd, &st) || st.st_size < (off_t)cut || ftruncate(fd, st.st_size - (off_t)cut))
		atomic_fetch_add_explicit(&dp->out_cut_lines, 1, memory_order_relaxed);
}

/* "PATH.N" */
static void out_numbered(const char *path, unsigned n, char *buf, size_t len)
{
	if (n)
		snprintf(buf, len, "%s.%u", path, n);
	else
		snprintf(buf, len, "%s", path);
}

/*
 * Size rotation: PATH.keep-1 -> PATH.keep (the oldest, replaced), ..., PATH -> PATH.1, and a
 * new PATH. Returns 0 when the output is a new, empty file.
 */
static int out_rotate(struct lg_dp *dp, unsigned keep)
{
	char from[LG_PATH_MAX + 16], to[LG_PATH_MAX + 16], why[LG_PATH_MAX + 300];
	FILE *f;

	for (unsigned k = keep; k > 0; k--) {
		out_numbered(dp->out_path, k - 1, from, sizeof(from));
		out_numbered(dp->out_path, k, to, sizeof(to));
		if (rename(from, to) && errno != ENOENT)
			goto fail;
	}
	f = lg_outpath_fopen(dp->out_path, "a", why, sizeof(why));
	if (!f)
		goto fail;
	fclose(dp->out);
	dp->out = f;
	lg_output_prepare(dp);
	atomic_fetch_add_explicit(&dp->out_rotations, 1, memory_order_relaxed);
	return 0;
fail:
	/* Lines go on into the file they went to, past max_bytes, rather than nowhere. */
	dp->out_errno = errno;
	atomic_fetch_add_explicit(&dp->out_reopen_errors, 1, memory_order_relaxed);
	return -errno;
}

/* The size of the output file now, or -1 when it is not a regular file. */
static off_t out_size(struct lg_dp *dp)
{
	struct stat st;

	if (!dp->out_seekable || fstat(fileno(dp->out), &st))
		return -1;
	return st.st_size;
}

/* A pipe: the rest of a line a short write cut, before anything else. true when it is
 * done (or could never be). */
static bool out_finish_tail(struct lg_dp *dp)
{
	int err;
	size_t n;

	if (!dp->out_tail_len)
		return true;
	n = out_write(dp, dp->out_tail, dp->out_tail_len, &err);
	if (!err) {
		out_count1(dp, dp->out_tail_kind, dp->out_k_written, true);
		dp->out_tail_len = 0;
		return true;
	}
	memmove(dp->out_tail, dp->out_tail + n, dp->out_tail_len - n);
	dp->out_tail_len -= n;
	if (err == EAGAIN)
		return false; /* the reader may read later: kept */
	/* The reader is gone (EPIPE) or the bound passed: the line is lost, cut. */
	out_count1(dp, dp->out_tail_kind, err == ETIMEDOUT ? dp->out_k_abandoned :
				 dp->out_k_dropped, false);
	if (err != ETIMEDOUT)
		dp->out_errno = err;
	dp->out_tail_len = 0;
	return true;
}

/*
 * Lines not written, said as it happens: at the first, then at most once a minute while
 * writes go on failing, and once when a flush writes all its lines again. The counters and
 * /readyz say it too; this is the journal's line.
 */
static void out_say(struct lg_dp *dp, bool all_written)
{
	uint64_t d[LG_OUT_KINDS], sum = 0, now;
	const char *to = dp->out_path[0] ? dp->out_path : "the output";

	for (unsigned k = 0; k < LG_OUT_KINDS; k++) {
		d[k] = atomic_load_explicit(&dp->out_k_dropped[k], memory_order_relaxed) -
		       dp->out_said_dropped[k];
		sum += d[k];
	}
	if (all_written && dp->out_failing) {
		fprintf(stderr, "linegate: output: writing to %s again (%" PRIu64 " more lines "
			"not written since the last such line: %" PRIu64 " alerts, %" PRIu64
			" incident lines, %" PRIu64 " events, %" PRIu64 " scores)\n", to, sum,
			d[LG_OUT_ALERT], d[LG_OUT_INCIDENT], d[LG_OUT_EVENT], d[LG_OUT_SCORE]);
		for (unsigned k = 0; k < LG_OUT_KINDS; k++)
			dp->out_said_dropped[k] += d[k];
		dp->out_failing = false;
		return;
	}
	now = lg_now_ns();
	if (!sum || (dp->out_failing && now - dp->out_said_ns < 60000000000ull))
		return;
	fprintf(stderr,
		"linegate: output: %" PRIu64 " lines not written to %s (%" PRIu64 " alerts, %" PRIu64
		" incident lines, %" PRIu64 " events, %" PRIu64 " scores) since %s: %s; they are "
		"lost (output_write_dropped), later lines are written once writes work again\n",
		sum, to, d[LG_OUT_ALERT], d[LG_OUT_INCIDENT], d[LG_OUT_EVENT], d[LG_OUT_SCORE],
		dp->out_failing ? "the last such line" : "the last line written",
		dp->out_errno == EAGAIN ? "the reader did not read for 100 ms"
		: dp->out_errno	       ? strerror(dp->out_errno)
				       : "the write failed");
	for (unsigned k = 0; k < LG_OUT_KINDS; k++)
		dp->out_said_dropped[k] += d[k];
	dp->out_said_ns = now;
	dp->out_failing = true;
}

/*
 * Write the buffered lines with write(2): a line counts as written only when all its bytes
 * were; on an error (a full disk, EIO, a reader gone, a reader that did not read for 100 ms)
 * the lines not written are counted as dropped, the error is remembered, and the output
 * goes on (space may come back); past the shutdown bound they are counted as abandoned. A
 * line a failed write cut is taken back out of a file (truncated); in a pipe its rest is
 * written first next time. With rotation, a file takes the lines that fit under max_bytes.
 */
static void out_flush(struct lg_dp *dp)
{
	uint64_t max = atomic_load_explicit(&dp->out_max_bytes, memory_order_relaxed);
	unsigned keep = atomic_load_explicit(&dp->out_keep, memory_order_relaxed);
	unsigned i = 0;
	int err = 0;

	if (!dp->nout && !dp->out_tail_len)
		return;
	if (!out_finish_tail(dp))
		err = EAGAIN;
	while (i < dp->nout && !err) {
		size_t off = i ? dp->out_end[i - 1] : 0, n;
		unsigned j = dp->nout, k;
		off_t size = max && dp->out_path[0] ? out_size(dp) : -1;

		if (size >= 0) {
			/* The lines that fit; none: a new file (a line alone in one always fits:
			 * max_bytes is at least 4096, a line at most 1024). */
			for (j = i; j < dp->nout && (uint64_t)size + dp->out_end[j] - off <= max; j++)
				;
			if (j == i) {
				if (size > 0 && !out_rotate(dp, keep))
					continue;
				j = i + 1;
			}
		}
		n = out_write(dp, dp->outbuf + off, dp->out_end[j - 1] - off, &err);
		for (k = i; k < j && dp->out_end[k] <= off + n; k++)
			;
		out_count(dp, i, k, dp->out_k_written, true);
		if (err && k < j && off + n > (k ? dp->out_end[k - 1] : 0)) {
			size_t start = k ? dp->out_end[k - 1] : 0, cut = off + n - start;

			if (dp->out_seekable) {
				out_uncut(dp, cut);
			} else if (err == EAGAIN && dp->out_end[k] - start - cut <=
							sizeof(dp->out_tail)) {
				/* A pipe cannot take bytes back: the rest goes first next time. */
				dp->out_tail_len = dp->out_end[k] - start - cut;
				memcpy(dp->out_tail, dp->outbuf + start + cut, dp->out_tail_len);
				dp->out_tail_kind = dp->out_kind[k];
				k++;
			}
		}
		i = k;
	}
	if (i < dp->nout) {
		if (err == ETIMEDOUT) {
			out_count(dp, i, dp->nout, dp->out_k_abandoned, false);
		} else {
			out_count(dp, i, dp->nout, dp->out_k_dropped, false);
			if (err)
				dp->out_errno = err;
		}
	}
	out_say(dp, i == dp->nout && !err);
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

/* One whole line of a kind into the buffer (written by the next out_flush); e: the scored
 * row it shows, for the latency stages, or NULL. */
static void out_commit(struct lg_dp *dp, size_t len, enum lg_out_kind kind,
		       const struct lg_event *e)
{
	dp->outlen += len;
	dp->out_end[dp->nout] = (uint32_t)dp->outlen;
	dp->out_scored_ns[dp->nout] = e ? e->scored_ns : 0;
	dp->out_arrival_ns[dp->nout] = e ? e->arrival_ns : 0;
	dp->out_kind[dp->nout++] = (uint8_t)kind;
}

static void out_append(struct lg_dp *dp, const char *line, size_t len, enum lg_out_kind kind,
		       const struct lg_event *e)
{
	if (dp->outlen + len > sizeof(dp->outbuf) ||
	    dp->nout == sizeof(dp->out_end) / sizeof(dp->out_end[0]))
		out_flush(dp);
	memcpy(dp->outbuf + dp->outlen, line, len);
	out_commit(dp, len, kind, e);
}

/*
 * Where the next line can be formatted in place, LG_LINE_MAX bytes (then out_commit() it):
 * NULL when the buffer has less room or no line slot left, and the line goes through
 * out_append() as before (which flushes first). Flushes happen where they did; a line is
 * not copied a second time (issue 10).
 */
static char *out_room(struct lg_dp *dp)
{
	if (sizeof(dp->outbuf) - dp->outlen < LG_LINE_MAX ||
	    dp->nout == sizeof(dp->out_end) / sizeof(dp->out_end[0]))
		return NULL;
	return dp->outbuf + dp->outlen;
}

/* linegate_publish_latency_seconds: from the worker's pickup of the window's first frame
 * (not its arrival: latency.h has those stages) to its line buffered (an incident event: of
 * the window that made it), for every line; now: a clock read at or after that (a run of
 * score lines shares one, read once they are all buffered, drain()). */
static void out_latency(struct lg_dp *dp, uint64_t rx_ns, uint64_t now)
{
	uint64_t lat = now > rx_ns ? now - rx_ns : 0;

	/* Only the output thread writes these. */
	lg_add_1w(&dp->pub_hist[lg_latency_bucket(lat)], 1);
	lg_add_1w(&dp->pub_sum_ns, lat);
}

/* incidents: one event (open, update, resolve) as a JSON line, to MQTT on
 * <topic>/incidents/<device>, and into the open-incident table of status. */
static void write_incident(struct lg_dp *dp, const struct lg_event *e)
{
	const struct lg_inc_rec *r = &e->inc;
	enum lg_inc_event ev = (enum lg_inc_event)e->inc_event;
	struct lg_meta_ent *m = lg_meta_find(dp->meta, e->device_id);
	char line[LG_LINE_MAX], onset[40], opened[40], now[40], more[192] = "";
	/* Measured at the open on one clock (incident.c); a record from an older state file
	 * has only the two times. */
	uint64_t tti = r->tti_set ? r->tti_ms :
		       r->opened_ns > r->onset_ns ? (r->opened_ns - r->onset_ns) / 1000000u : 0;
	int len;

	lg_inc_time(r->onset_ns, onset, sizeof(onset));
	lg_inc_time(r->opened_ns, opened, sizeof(opened));
	lg_inc_time(e->scored_wall_ns, now, sizeof(now));
	if (ev == LG_INC_RESOLVE || ev == LG_INC_REMOVED)
		snprintf(more, sizeof(more), ",\"resolved\":\"%s\",\"duration_ms\":%" PRIu64 "%s",
			 now, e->scored_wall_ns > r->opened_ns ?
				 (e->scored_wall_ns - r->opened_ns) / 1000000u : 0,
			 ev == LG_INC_REMOVED ?
				 ",\"reason\":\"device removed from the policy\"" : "");
	else if (ev == LG_INC_UPDATE)
		snprintf(more, sizeof(more), ",\"time\":\"%s\"", now);
	else if (ev == LG_INC_CONTINUE)
		snprintf(more, sizeof(more), ",\"time\":\"%s\",\"continued\":true", now);
	else if (ev == LG_INC_FINAL)
		snprintf(more, sizeof(more), ",\"time\":\"%s\",\"final\":true", now);
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
	out_append(dp, line, (size_t)len, LG_OUT_INCIDENT, NULL);
	out_latency(dp, e->rx_ns, lg_now_ns());
	if (dp->mqtt)
		lg_mqtt_put(dp->mqtt, LG_MQTT_INCIDENTS, e->device_id, e->name, line,
			    (size_t)len - 1);
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
	char feats[LG_FEAT_N * 64] = "", nm[48];
	size_t u = 0;

	for (unsigned j = 0; j < LG_FEAT_N && u < sizeof(feats); j++) {
		if (!(d->over & (1u << j)))
			continue;
		/* a wide row: the feature of slot j by its layout's name (drift.h) */
		if (d->wide)
			lg_features_name((enum lg_feat_layout)e->dnames.layout, e->dnames.win,
					 e->dnames.feat[j], nm, sizeof(nm));
		u += (size_t)snprintf(feats + u, sizeof(feats) - u, "%s\"%s\":%.4f", u ? "," : "",
				      d->wide ? nm : lg_feature_names[j], (double)d->psi[j]);
	}
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

/*
 * A score or alert line, built by appends: perf had snprintf() at the top of the output
 * thread (its %.6g floats in printf_fp); lg_fmt_g6() writes the same characters.
 */
struct line_buf {
	char *p, *end;
	bool over;
};

static void put(struct line_buf *b, const char *s, size_t n)
{
	if (n > (size_t)(b->end - b->p)) {
		b->over = true;
		return;
	}
	memcpy(b->p, s, n);
	b->p += n;
}

/*
 * Each put_*() takes chk: false where the caller knows the line fits (lg_out_score_line():
 * the room is at least SCORE_LINE_MOST, its longest), which writes without a check a
 * member; true checks each, as a short buffer needs. Always inlined, so that each of the two
 * score line builders has its own copy, without the other's tests (s21).
 */
#define LG_INLINE static inline __attribute__((always_inline))

LG_INLINE void put_c(struct line_buf *b, const char *s, size_t n, bool chk)
{
	if (chk) {
		put(b, s, n);
		return;
	}
	memcpy(b->p, s, n);
	b->p += n;
}

#define PUT_LIT(b, lit, chk) put_c((b), (lit), sizeof(lit) - 1, (chk))

/*
 * Numbers are written in place where the longest one fits, else through a copy (a line
 * that does not fit is refused whole either way, at the same length). Issue 10: a copy
 * a number, each a memcpy() call, were a fifth of the output thread's instructions.
 */
LG_INLINE void put_u64(struct line_buf *b, uint64_t v, bool chk)
{
	char d[20];

	if (!chk || b->end - b->p >= (ptrdiff_t)sizeof(d))
		b->p += lg_fmt_u64(b->p, v);
	else
		put(b, d, lg_fmt_u64(d, v));
}

LG_INLINE void put_g6(struct line_buf *b, double v, bool chk)
{
	char d[LG_FMT_G6_MAX];

	if (!chk || b->end - b->p >= (ptrdiff_t)sizeof(d))
		b->p += lg_fmt_g6(b->p, v);
	else
		put(b, d, lg_fmt_g6(d, v));
}

LG_INLINE void put_f1(struct line_buf *b, double v, bool chk)
{
	char d[LG_FMT_F1_MAX];

	if (!chk || b->end - b->p >= (ptrdiff_t)sizeof(d))
		b->p += lg_fmt_f1(b->p, v);
	else
		put(b, d, lg_fmt_f1(d, v));
}

/* n of the cap bytes at s: all cap copied (a fixed size, no call) where they fit. */
LG_INLINE void put_fixed(struct line_buf *b, const char *s, size_t n, size_t cap, bool chk)
{
	if (!chk || (size_t)(b->end - b->p) >= cap) {
		memcpy(b->p, s, cap);
		b->p += n;
	} else {
		put(b, s, n);
	}
}

/*
 * The rows of a batch share their threshold, scoring time and model epoch: each of those
 * is formatted once and its characters reused while the value stays the same (per thread:
 * the output thread, or a test).
 */
struct g6_memo {
	double v;
	size_t len;
	char s[LG_FMT_G6_MAX];
};

struct u64_memo {
	uint64_t v;
	size_t len;
	char s[20];
};

LG_INLINE void put_g6_memo(struct line_buf *b, double v, struct g6_memo *m, bool chk)
{
	if (!m->len || memcmp(&m->v, &v, sizeof(v))) {
		m->len = lg_fmt_g6(m->s, v);
		m->v = v;
	}
	put_fixed(b, m->s, m->len, sizeof(m->s), chk);
}

LG_INLINE void put_u64_memo(struct line_buf *b, uint64_t v, struct u64_memo *m, bool chk)
{
	if (!m->len || m->v != v) {
		m->len = lg_fmt_u64(m->s, v);
		m->v = v;
	}
	put_fixed(b, m->s, m->len, sizeof(m->s), chk);
}

static _Thread_local struct g6_memo thr_memo;
static _Thread_local struct u64_memo time_memo, epoch_memo;

/*
 * The most bytes a score line takes without more and meta, its NUL included: its literals
 * (138 bytes at most, "null,\"nonfinite\":true" for the score), the name copied whole,
 * five whole numbers of 20 digits, two %.6g and a %.1f at their buffers' sizes (655),
 * rounded up.
 */
#define SCORE_LINE_MOST 768
_Static_assert(SCORE_LINE_MOST >= 138 + LG_NAME_MAX + 5 * 20 + 2 * LG_FMT_G6_MAX +
				   LG_FMT_F1_MAX + 1, "a score line's longest");

LG_INLINE void score_line(struct line_buf *b, const struct lg_event *e, const char *more,
			  size_t nmore, const char *meta, size_t nmeta, bool chk)
{
	if (e->alert)
		PUT_LIT(b, "{\"type\":\"alert\",\"device\":", chk);
	else
		PUT_LIT(b, "{\"type\":\"score\",\"device\":", chk);
	put_u64(b, e->device_id, chk);
	PUT_LIT(b, ",\"name\":\"", chk);
	put_fixed(b, e->name, strnlen(e->name, sizeof(e->name)), sizeof(e->name), chk);
	PUT_LIT(b, "\",\"channel\":", chk);
	put_u64(b, e->channel, chk);
	PUT_LIT(b, ",\"score\":", chk);
	/* JSON has no NaN or Infinity: a row that was not finite (bad samples, issue 8) shows
	 * its score as null and says so. */
	if (e->nonfinite || !isfinite(e->score))
		PUT_LIT(b, "null,\"nonfinite\":true", chk);
	else
		put_g6(b, e->score, chk);
	PUT_LIT(b, ",\"threshold\":", chk);
	put_g6_memo(b, e->threshold, &thr_memo, chk);
	PUT_LIT(b, ",\"seq\":", chk);
	put_u64(b, e->seq, chk);
	PUT_LIT(b, ",\"time_ns\":", chk);
	put_u64_memo(b, e->scored_wall_ns, &time_memo, chk);
	PUT_LIT(b, ",\"latency_us\":", chk);
	put_f1(b, lat_us(e), chk);
	PUT_LIT(b, ",\"model_epoch\":", chk);
	put_u64_memo(b, e->model_epoch, &epoch_memo, chk);
	if (nmore)
		put_c(b, more, nmore, chk);
	if (nmeta)
		put_c(b, meta, nmeta, chk);
	PUT_LIT(b, "}\n", chk);
}

int lg_out_score_line(const struct lg_event *e, const char *more, const char *meta, char *line,
		      size_t size)
{
	struct line_buf b = { line, line + size - 1, false };
	size_t nmore = *more ? strlen(more) : 0, nmeta = *meta ? strlen(meta) : 0;

	/* Room for the longest such line (the output buffer's LG_LINE_MAX): no checks. */
	if (size >= SCORE_LINE_MOST + nmore + nmeta)
		score_line(&b, e, more, nmore, meta, nmeta, false);
	else
		score_line(&b, e, more, nmore, meta, nmeta, true);
	if (b.over)
		return -ENOSPC;
	*b.p = '\0';
	return (int)(b.p - line);
}

/*
 * Issue 13: the chosen features of a row (output.nats.features) to JetStream, one row in
 * feature_every of each device channel, as {"type":"features",...,"features":{...}} with
 * the row's identity (device, channel, seq, time_ns as in its score line) and metadata;
 * %.9g gives a float back exactly, a value that is not finite is null. A row with no
 * finite chosen feature (a wide-layout model: event.feat is all NaN) is counted, not sent.
 */
static void nats_features(struct lg_dp *dp, const struct lg_event *e, const char *meta)
{
	uint32_t mask = lg_nats_features(dp->nats);
	char line[LG_LINE_MAX];
	bool any = false;
	size_t u;
	int w;

	if (!lg_nats_feature_due(dp->nats, e->device_id, e->channel))
		return;
	w = snprintf(line, sizeof(line), "{\"type\":\"features\",\"device\":%" PRIu32
		     ",\"name\":\"%s\",\"channel\":%u,\"seq\":%" PRIu64 ",\"time_ns\":%" PRIu64
		     ",\"model_epoch\":%" PRIu64 ",\"features\":{", e->device_id, e->name,
		     (unsigned)e->channel, e->seq, e->scored_wall_ns, e->model_epoch);
	u = w < 0 ? sizeof(line) : (size_t)w;
	for (unsigned j = 0; j < LG_FEAT_N && u < sizeof(line); j++) {
		if (!(mask & (1u << j)))
			continue;
		any |= isfinite(e->feat[j]) != 0;
		if (isfinite(e->feat[j]))
			w = snprintf(line + u, sizeof(line) - u, "%s\"%s\":%.9g",
				     line[u - 1] == '{' ? "" : ",", lg_feature_names[j],
				     (double)e->feat[j]);
		else
			w = snprintf(line + u, sizeof(line) - u, "%s\"%s\":null",
				     line[u - 1] == '{' ? "" : ",", lg_feature_names[j]);
		u = w < 0 ? sizeof(line) : u + (size_t)w;
	}
	if (u < sizeof(line))
		w = snprintf(line + u, sizeof(line) - u, "}%s}", meta);
	if (u >= sizeof(line) || w < 0 || (size_t)w >= sizeof(line) - u)
		return; /* cannot happen: names and numbers are bounded */
	if (!any) {
		lg_nats_features_none(dp->nats);
		return;
	}
	lg_nats_put(dp->nats, LG_OUTBOX_FEATURES, e->device_id, e->name, line, u + (size_t)w);
}

/* timed: the line's publish latency is taken here (else by the caller, for a run). */
static void write_event(struct lg_dp *dp, const struct lg_event *e, bool timed)
{
	struct lg_meta_ent *m = lg_meta_find(dp->meta, e->device_id);
	const char *meta = m ? m->json : "";
	char own[LG_LINE_MAX], more[LG_EVENT_FIELDS + 128], *room = out_room(dp);
	/* In the output buffer where it fits, else here and copied (out_room()) */
	char *line = room ? room : own;
	enum lg_out_kind kind = e->drift.kind ? LG_OUT_EVENT :
				e->alert ? LG_OUT_ALERT : LG_OUT_SCORE;
	const struct lg_event *timing =
		e->kind == LG_EV_ROW && !e->drift.kind && e->arrival_ns ? e : NULL;
	int len;

	more[0] = '\0';
	if (e->channel_name[0] || e->source_time > 0 || e->fields[0])
		uadp_members(e, more, sizeof(more));
	if (e->drift.kind)
		len = drift_line(e, meta, line, LG_LINE_MAX);
	else
		len = lg_out_score_line(e, more, meta, line, LG_LINE_MAX);

	if (len < 0 || (size_t)len >= LG_LINE_MAX)
		return; /* cannot happen: names and numbers are bounded */
	if (room)
		out_commit(dp, (size_t)len, kind, timing);
	else
		out_append(dp, line, (size_t)len, kind, timing);
	if (timed)
		out_latency(dp, e->rx_ns, lg_now_ns());
	if (dp->mqtt)
		lg_mqtt_put(dp->mqtt, e->drift.kind ? LG_MQTT_EVENTS :
				      e->alert ? LG_MQTT_ALERTS : LG_MQTT_SCORES,
			    e->device_id, e->name, line, (size_t)len - 1);
	if (dp->nats)
		lg_nats_put(dp->nats, e->drift.kind ? LG_OUTBOX_EVENT :
				      e->alert ? LG_OUTBOX_ALERT : LG_OUTBOX_SCORE,
			    e->device_id, e->name, line, (size_t)len - 1);
	if (dp->nats && !e->drift.kind && e->kind == LG_EV_ROW && lg_nats_features(dp->nats))
		nats_features(dp, e, meta);
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
	out_append(dp, line, len, LG_OUT_EVENT, NULL);
	/* and to the plant, as no device's: <topic>/events, <subject>.event (trial X2, s26:
	 * it reached only the JSON lines) */
	if (dp->mqtt)
		lg_mqtt_put(dp->mqtt, LG_MQTT_EVENTS, 0, "", line, len - 1);
	if (dp->nats)
		lg_nats_put(dp->nats, LG_OUTBOX_EVENT, 0, "", line, len - 1);
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
	lg_output_wake(dp);
	return 0;
}

void lg_dp_meta_free(struct lg_dp *dp)
{
	lg_meta_free(atomic_exchange(&dp->meta_next, NULL));
	lg_meta_free(dp->meta);
	dp->meta = NULL;
}

/* Events are formatted where they lie in the ring (an event is 584 bytes) and their slots
 * given back after each one (alerts) or after the round's run of scores (issue 10). */
static unsigned drain(struct lg_dp *dp)
{
	const struct lg_event *e;
	unsigned n;

	take_meta(dp);
	n = write_record_event(dp);

	for (unsigned w = 0; w < dp->nworkers; w++)
		while ((e = lg_spsc_peek(&dp->workers[w].alerts, 0))) {
			if (e->kind == LG_EV_INCIDENT)
				write_incident(dp, e);
			else
				write_event(dp, e, true);
			lg_spsc_release(&dp->workers[w].alerts, 1);
			n++;
		}
	for (unsigned w = 0; w < dp->nworkers; w++) {
		struct lg_spsc *r = &dp->workers[w].scores_ring;
		/* the run's pickup times, kept as its lines are formatted: the latencies below
		 * do not go back to the ring's slots (s21: a second walk over 256 events of 584
		 * bytes, a call a slot) */
		uint64_t rx[256];
		unsigned k = 0;

		while (k < 256 && (e = lg_spsc_peek(r, k))) {
			rx[k] = e->rx_ns;
			write_event(dp, e, false);
			k++;
		}
		if (k) {
			/* One clock read for the run (it was one a line, the output thread's
			 * largest single cost in perf at 200k frames/s, issue 10): each line was
			 * buffered at or before it, so a latency is never under-counted, and
			 * over-counted by at most the run's formatting (256 lines at most). */
			uint64_t now = lg_now_ns();

			for (unsigned i = 0; i < k; i++)
				out_latency(dp, rx[i], now);
			lg_spsc_release(r, k);
		}
		n += k;
	}
	return n;
}

void lg_output_drain_all(struct lg_dp *dp)
{
	while (drain(dp))
		;
	out_flush(dp);
}

/* SIGHUP/SIGUSR1 (main.c): the same path opened again, for logrotate's rename. A file
 * that cannot be opened leaves the lines going to the old one (said, and counted). */
static void out_reopen(struct lg_dp *dp)
{
	char why[LG_PATH_MAX + 300];
	FILE *f;

	if (!dp->out_path[0])
		return; /* stdout: nothing to reopen */
	f = lg_outpath_fopen(dp->out_path, "a", why, sizeof(why));
	if (!f) {
		dp->out_errno = errno;
		atomic_fetch_add_explicit(&dp->out_reopen_errors, 1, memory_order_relaxed);
		fprintf(stderr, "linegate: output.jsonl: cannot reopen: %s; writing on to "
			"the file it was\n", why);
		return;
	}
	fclose(dp->out);
	dp->out = f;
	lg_output_prepare(dp);
	atomic_fetch_add_explicit(&dp->out_reopens, 1, memory_order_relaxed);
}

void lg_output_prepare(struct lg_dp *dp)
{
	int fd = fileno(dp->out), fl;
	struct stat st;

	dp->out_seekable = !fstat(fd, &st) && S_ISREG(st.st_mode);
	if (dp->out_seekable)
		return;
	/* A pipe, a FIFO, a socket or a terminal: a reader that does not read must never
	 * stall the output thread (out_write() waits for it, bounded). stdout's flags are
	 * shared with whoever else holds it: put back at the end. */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fl & O_NONBLOCK)
		return;
	if (dp->out_is_stdout && !dp->out_fl_saved)
		dp->out_fl_saved = fl + 1;
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

void lg_output_set_deadline(struct lg_dp *dp, uint64_t timeout_ns)
{
	atomic_store(&dp->out_deadline_ns, lg_now_ns() + (timeout_ns ? timeout_ns : 1));
}

void lg_output_close(struct lg_dp *dp)
{
	if (!dp->out)
		return;
	if (dp->out_is_stdout) {
		if (dp->out_fl_saved)
			fcntl(fileno(dp->out), F_SETFL, dp->out_fl_saved - 1);
	} else {
		fclose(dp->out);
	}
	dp->out = NULL;
}

void lg_output_abandon_summary(struct lg_dp *dp, FILE *f)
{
	uint64_t a[LG_OUT_KINDS], total = 0;

	for (unsigned k = 0; k < LG_OUT_KINDS; k++)
		total += a[k] = atomic_load(&dp->out_k_abandoned[k]);
	fprintf(f, "linegate: shutdown: JSON lines abandoned: %" PRIu64 " alerts, %" PRIu64
		" scores, %" PRIu64 " incidents, %" PRIu64 " events%s\n",
		a[LG_OUT_ALERT], a[LG_OUT_SCORE], a[LG_OUT_INCIDENT], a[LG_OUT_EVENT],
		total ? " (not written within the shutdown timeout: the output did not take them)"
		      : "");
}

int lg_output_wake_init(struct lg_dp *dp)
{
	int ret = lg_wake_init(&dp->out_wake);

	if (ret)
		return ret;
	for (unsigned w = 0; w < dp->nworkers; w++) {
		dp->workers[w].alerts.wake = &dp->out_wake;
		dp->workers[w].scores_ring.wake = &dp->out_wake;
	}
	return 0;
}

void lg_output_wake(struct lg_dp *dp)
{
	lg_wake_signal(&dp->out_wake);
}

/* Something in a worker's rings. */
static bool rings_pending(struct lg_dp *dp)
{
	for (unsigned w = 0; w < dp->nworkers; w++) {
		struct lg_spsc *r[2] = { &dp->workers[w].alerts, &dp->workers[w].scores_ring };

		for (unsigned i = 0; i < 2; i++)
			if (atomic_load_explicit(&r[i]->head, memory_order_acquire) !=
			    atomic_load_explicit(&r[i]->tail, memory_order_relaxed))
				return true;
	}
	return false;
}

/*
 * A round found nothing: sleep until a worker pushes (wake.h) or a flag changes
 * (lg_output_wake()), at most 100 ms: a recording that stopped by itself says so within
 * that. With MQTT or NATS, 10 ms, for their outboxes' acknowledgements and resends. Without
 * an eventfd, 2 ms naps as before.
 */
static void out_idle(struct lg_dp *dp)
{
	if (!dp->out_wake.ready) {
		nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
		return;
	}
	lg_wake_prepare(&dp->out_wake);
	if (rings_pending(dp) || atomic_load(&dp->stop) || atomic_load(&dp->out_next) ||
	    atomic_load(&dp->out_reopen) || atomic_load(&dp->meta_next)) {
		lg_wake_cancel(&dp->out_wake);
		return;
	}
	lg_wake_wait(&dp->out_wake, dp->mqtt || dp->nats ? 10 : 100);
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
		if (dp->mqtt)
			lg_mqtt_pump(dp->mqtt);
		/* An apply changed output.jsonl: what was drained went to the old file, whole;
		 * from the next round on, lines go to the new one. */
		next = atomic_load(&dp->out_next);
		if (next) {
			if (dp->out_tail_len) /* the end of a cut line cannot go elsewhere */
				out_count1(dp, dp->out_tail_kind, dp->out_k_dropped, false);
			dp->out_tail_len = 0;
			if (dp->out && !dp->out_is_stdout)
				fclose(dp->out);
			else if (dp->out && dp->out_fl_saved)
				fcntl(fileno(dp->out), F_SETFL, dp->out_fl_saved - 1);
			dp->out_fl_saved = 0;
			dp->out = next;
			dp->out_is_stdout = next == stdout;
			snprintf(dp->out_path, sizeof(dp->out_path), "%s",
				 dp->out_is_stdout ? "" : dp->out_next_path);
			dp->out_errno = 0;
			lg_output_prepare(dp);
			atomic_store(&dp->out_next, NULL);
		}
		if (atomic_exchange(&dp->out_reopen, false))
			out_reopen(dp);
		/* Issue 10: after a busy round, short naps before the eventfd sleep (wake.h). */
		if (n)
			lg_wake_linger(&dp->out_wake, true);
		else if (!dp->out_wake.ready || !lg_wake_linger(&dp->out_wake, false))
			out_idle(dp);
	}
	{
		struct timespec ts;

		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
		atomic_store(&dp->out_cpu_ns,
			     (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
	}
	return NULL;
}
