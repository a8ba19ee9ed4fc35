// SPDX-License-Identifier: MIT
/* InfluxDB line protocol over HTTP (influx.h): batches in memory, one sender thread. */
#include "influx.h"
#include "dataplane.h"
#include "meta.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

const char *const lg_influx_kind_names[LG_IX_KINDS] = { "score", "features", "incident" };
const char *const lg_influx_drop_names[LG_IX_DROPS] = { "buffer_full", "refused", "shutdown" };

#define IX_LINE_MAX 8192      /* the longest line made: the longest tags (2.5 KB), 18 features */
#define IX_BACKOFF_MIN_MS 100
#define IX_BACKOFF_MAX_MS 10000
#define IX_BODY_MAX 300       /* bytes of a refusal's body that are logged */
#define IX_LOGGED_MAX 32      /* HTTP statuses and curl errors logged once each */

int lg_influx_escape(enum lg_lp_kind kind, const char *in, char *out, size_t len)
{
	size_t u = 0;

	for (const char *p = in; *p; p++) {
		char c = *p, esc = 0;

		switch (c) {
		case '\n': esc = 'n'; break;
		case '\r': esc = 'r'; break;
		case '\t': esc = 't'; break;
		case '\\':
			/* A string field's backslash is doubled; elsewhere InfluxDB keeps a
			 * backslash as it is (it unescapes only "\\ ", "\\," and "\\="), so it is
			 * doubled only where the parser would read it as escaping what follows
			 * (a character this escapes, or the end of the value). */
			if (kind == LG_LP_STRING || !p[1] || p[1] == ' ' || p[1] == ',' ||
			    (p[1] == '=' && kind == LG_LP_TAG) || p[1] == '\n' || p[1] == '\r' ||
			    p[1] == '\t')
				esc = '\\';
			break;
		case ' ': case ',': esc = kind != LG_LP_STRING ? c : 0; break;
		case '=': esc = kind == LG_LP_TAG ? c : 0; break;
		case '"': esc = kind == LG_LP_STRING ? c : 0; break;
		default: break;
		}
		if (u + (esc ? 2 : 1) >= len)
			return -ENOSPC;
		if (esc) {
			out[u++] = '\\';
			out[u++] = esc;
		} else {
			out[u++] = c;
		}
	}
	if (u >= len)
		return -ENOSPC;
	out[u] = '\0';
	return (int)u;
}

struct ix_chunk {
	struct ix_chunk *next;
	char *buf;
	size_t len, cap;
	uint32_t lines;
	uint64_t first_ns; /* CLOCK_MONOTONIC: when its first line came */
};

struct lg_influx {
	struct lg_policy_influx cfg;
	char url[1024];
	char meas[LG_IX_KINDS][96]; /* <prefix>_score, ... escaped */
	struct curl_slist *hdr;
	CURL *curl;
	CURLM *multi; /* one easy handle at a time: a request whose wait stop can cut */
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* Under lock: the batches waiting (oldest first), the counters, stop. */
	struct ix_chunk *head, *tail;
	struct lg_influx_stats st;
	bool stop;
	/* Once linegate stops (lg_influx_set_deadline(), lg_influx_stop()): when what is
	 * left is given up; 0 = not stopping. Requests, retries and backoff keep to it. */
	uint64_t deadline_ns;
	/* Sender thread only: what was logged already, the body of the last answer. */
	int logged[IX_LOGGED_MAX];
	unsigned nlogged;
	/* Sender thread only: an outage (a batch retried), since when, the buffer_full count
	 * at its start, and whether its drops were said (trial K, s21: only counters did). */
	uint64_t down_ns, full_at_down;
	bool said_full;
	char body[IX_BODY_MAX + 1];
	size_t body_len;
	/* Output thread only. */
	char line[IX_LINE_MAX];
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void abs_time(struct timespec *ts, uint64_t mono)
{
	ts->tv_sec = (time_t)(mono / 1000000000ull);
	ts->tv_nsec = (long)(mono % 1000000000ull);
}

/* A line into the newest batch (output thread); dropped and counted when the buffer is
 * full. */
static void put(struct lg_influx *ix, enum lg_influx_kind kind, const char *line, size_t len)
{
	struct ix_chunk *c;

	pthread_mutex_lock(&ix->lock);
	if (ix->st.buffered >= ix->cfg.max_buffer_lines || ix->stop)
		goto drop;
	c = ix->tail;
	if (!c || c->lines >= ix->cfg.batch_lines) {
		c = calloc(1, sizeof(*c));
		if (!c)
			goto drop;
		c->first_ns = mono_ns();
		if (ix->tail)
			ix->tail->next = c;
		else
			ix->head = c;
		ix->tail = c;
	}
	if (c->len + len > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		char *b;

		while (cap < c->len + len)
			cap *= 2;
		b = realloc(c->buf, cap);
		if (!b)
			goto drop;
		c->buf = b;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, line, len);
	c->len += len;
	c->lines++;
	ix->st.buffered++;
	ix->st.lines[kind]++;
	if (c->lines == ix->cfg.batch_lines)
		pthread_cond_signal(&ix->cond);
	pthread_mutex_unlock(&ix->lock);
	return;
drop:
	ix->st.lines[kind]++;
	ix->st.dropped[LG_IX_DROP_FULL]++;
	pthread_mutex_unlock(&ix->lock);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct lg_influx *ix = arg;
	size_t len = size * n, take = len;

	if (take > IX_BODY_MAX - ix->body_len)
		take = IX_BODY_MAX - ix->body_len;
	memcpy(ix->body + ix->body_len, p, take);
	ix->body_len += take;
	ix->body[ix->body_len] = '\0';
	return len;
}

static uint64_t deadline_of(struct lg_influx *ix)
{
	uint64_t d;

	pthread_mutex_lock(&ix->lock);
	d = ix->deadline_ns;
	pthread_mutex_unlock(&ix->lock);
	return d;
}

/*
 * One request. Once linegate stops, it ends by the shutdown deadline: libcurl's timeouts are
 * cut to what is left, and the wait in curl_multi_poll() is woken (curl_multi_wakeup()) when
 * the deadline is set, so a request that started before (a server that accepted the
 * connection and says nothing) is given up at the deadline, not at its own timeout.
 * Returns CURLE_ABORTED_BY_CALLBACK when given up for the deadline.
 */
static CURLcode perform(struct lg_influx *ix)
{
	long tmo = (long)ix->cfg.timeout_ms;
	uint64_t deadline = deadline_of(ix), now = mono_ns();
	CURLcode rc = CURLE_ABORTED_BY_CALLBACK;
	int running = 1;

	if (deadline) {
		if (now >= deadline)
			return CURLE_ABORTED_BY_CALLBACK;
		if ((deadline - now) / 1000000u < (uint64_t)tmo)
			tmo = (long)((deadline - now) / 1000000u) + 1;
	}
	curl_easy_setopt(ix->curl, CURLOPT_TIMEOUT_MS, tmo);
	curl_easy_setopt(ix->curl, CURLOPT_CONNECTTIMEOUT_MS, tmo);
	if (curl_multi_add_handle(ix->multi, ix->curl) != CURLM_OK)
		return CURLE_OUT_OF_MEMORY;
	for (;;) {
		int wait_ms = 1000;

		if (curl_multi_perform(ix->multi, &running) != CURLM_OK) {
			rc = CURLE_OUT_OF_MEMORY;
			break;
		}
		if (!running) {
			int left;
			CURLMsg *m = curl_multi_info_read(ix->multi, &left);

			rc = m && m->msg == CURLMSG_DONE ? m->data.result : CURLE_RECV_ERROR;
			break;
		}
		deadline = deadline_of(ix);
		now = mono_ns();
		if (deadline) {
			if (now >= deadline)
				break; /* given up: CURLE_ABORTED_BY_CALLBACK */
			if ((deadline - now) / 1000000u < (uint64_t)wait_ms)
				wait_ms = (int)((deadline - now) / 1000000u) + 1;
		}
		if (curl_multi_poll(ix->multi, NULL, 0, wait_ms, NULL) != CURLM_OK) {
			rc = CURLE_OUT_OF_MEMORY;
			break;
		}
	}
	curl_multi_remove_handle(ix->multi, ix->curl);
	return rc;
}

/* Once per HTTP status (or per curl error, negated): the first of each kind is logged. */
static bool first_time(struct lg_influx *ix, int what)
{
	for (unsigned i = 0; i < ix->nlogged; i++)
		if (ix->logged[i] == what)
			return false;
	if (ix->nlogged < IX_LOGGED_MAX)
		ix->logged[ix->nlogged++] = what;
	return true;
}

enum post_result { POST_OK, POST_REFUSED, POST_RETRY };

static enum post_result post(struct lg_influx *ix, const struct ix_chunk *c)
{
	long status = 0;
	CURLcode rc;

	ix->body_len = 0;
	ix->body[0] = '\0';
	curl_easy_setopt(ix->curl, CURLOPT_POSTFIELDS, c->buf);
	curl_easy_setopt(ix->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->len);
	rc = perform(ix);
	if (rc == CURLE_OK)
		curl_easy_getinfo(ix->curl, CURLINFO_RESPONSE_CODE, &status);
	pthread_mutex_lock(&ix->lock);
	ix->st.requests++;
	ix->st.last_status = (unsigned)status;
	ix->st.up = status >= 200 && status < 300;
	if (!ix->st.up)
		ix->st.failures++;
	pthread_mutex_unlock(&ix->lock);
	if (status >= 200 && status < 300)
		return POST_OK;
	if (rc != CURLE_OK) {
		/* Given up at the shutdown deadline (perform()): counted by the caller. */
		if (rc != CURLE_ABORTED_BY_CALLBACK && first_time(ix, -(int)rc))
			fprintf(stderr, "linegate: influx: %s: %s (retried with backoff; said once "
				"per error)\n", ix->cfg.url, curl_easy_strerror(rc));
		return POST_RETRY;
	}
	/* 408, 429 and 5xx: the server may take the same batch later. */
	if (status == 408 || status == 429 || status >= 500) {
		if (first_time(ix, (int)status))
			fprintf(stderr, "linegate: influx: %s answered HTTP %ld: %s (retried with "
				"backoff; said once per status)\n", ix->cfg.url, status, ix->body);
		return POST_RETRY;
	}
	if (first_time(ix, (int)status)) {
		for (char *q = ix->body; *q; q++)
			if (*q == '\n' || *q == '\r')
				*q = ' ';
		lg_redact_secrets(ix->body);
		fprintf(stderr, "linegate: influx: %s refused a batch of %u lines with HTTP %ld: "
			"%s (the batch is dropped, counted as refused; said once per status)\n",
			ix->cfg.url, c->lines, status, ix->body);
	}
	return POST_REFUSED;
}

static bool due(const struct lg_influx *ix, uint64_t now)
{
	const struct ix_chunk *h = ix->head;

	return h && (ix->stop || h != ix->tail || h->lines >= ix->cfg.batch_lines ||
		     now - h->first_ns >= (uint64_t)ix->cfg.flush_ms * 1000000ull);
}

static void *sender(void *arg)
{
	struct lg_influx *ix = arg;
	unsigned backoff = 0;

	pthread_mutex_lock(&ix->lock);
	for (;;) {
		struct ix_chunk *c;
		enum post_result r;
		uint64_t now = mono_ns();

		if (ix->deadline_ns && now >= ix->deadline_ns) {
			/* Past the shutdown bound nothing more is sent: what is left is counted
			 * as dropped (shutdown) once lg_influx_stop() says so. */
			if (ix->stop)
				break;
			pthread_cond_wait(&ix->cond, &ix->lock);
			continue;
		}
		if (ix->stop && !ix->head)
			break;
		if (!due(ix, now)) {
			struct timespec ts;
			uint64_t until = ix->head ? ix->head->first_ns +
						    (uint64_t)ix->cfg.flush_ms * 1000000ull
						  : now + 1000000000ull;

			abs_time(&ts, until);
			pthread_cond_timedwait(&ix->cond, &ix->lock, &ts);
			continue;
		}
		c = ix->head;
		ix->head = c->next;
		if (!ix->head)
			ix->tail = NULL;
		for (;;) {
			if (ix->deadline_ns && mono_ns() >= ix->deadline_ns) {
				ix->st.dropped[LG_IX_DROP_STOP] += c->lines;
				break;
			}
			pthread_mutex_unlock(&ix->lock);
			r = post(ix, c);
			pthread_mutex_lock(&ix->lock);
			if (r == POST_OK) {
				ix->st.written += c->lines;
				backoff = 0;
				if (ix->down_ns) {
					uint64_t lost = ix->st.dropped[LG_IX_DROP_FULL] -
							ix->full_at_down;

					fprintf(stderr, "linegate: influx: %s takes lines again after "
						"%.1f s%s%" PRIu64 "%s\n", ix->cfg.url,
						(double)(mono_ns() - ix->down_ns) / 1e9,
						lost ? "; lines dropped meanwhile (buffer_full): " :
						       " (", lost, lost ? "" : " dropped)");
					ix->down_ns = 0;
				}
				break;
			}
			if (r == POST_REFUSED) {
				ix->st.dropped[LG_IX_DROP_REFUSED] += c->lines;
				break;
			}
			now = mono_ns();
			if (ix->deadline_ns && now >= ix->deadline_ns) {
				ix->st.dropped[LG_IX_DROP_STOP] += c->lines;
				break;
			}
			if (!ix->down_ns) {
				ix->down_ns = now ? now : 1;
				ix->full_at_down = ix->st.dropped[LG_IX_DROP_FULL];
				ix->said_full = false;
			}
			if (!ix->said_full &&
			    ix->st.dropped[LG_IX_DROP_FULL] > ix->full_at_down) {
				fprintf(stderr, "linegate: influx: the buffer is full "
					"(max_buffer_lines %u): new lines are dropped, counted as "
					"buffer_full, until %s takes lines again\n",
					ix->cfg.max_buffer_lines, ix->cfg.url);
				ix->said_full = true;
			}
			backoff = backoff ? backoff * 2 : IX_BACKOFF_MIN_MS;
			if (backoff > IX_BACKOFF_MAX_MS)
				backoff = IX_BACKOFF_MAX_MS;
			ix->st.retries++;
			{
				struct timespec ts;
				uint64_t until = now + (uint64_t)backoff * 1000000ull;

				/* The whole backoff: a batch filling up (put()) signals the same
				 * condition, and must not hurry a retry. lg_influx_set_deadline()
				 * and lg_influx_stop() cut it to the shutdown deadline. */
				while ((now = mono_ns()) < until &&
				       !(ix->deadline_ns && now >= ix->deadline_ns)) {
					uint64_t t = until;

					if (ix->deadline_ns && t > ix->deadline_ns)
						t = ix->deadline_ns;
					abs_time(&ts, t);
					pthread_cond_timedwait(&ix->cond, &ix->lock, &ts);
				}
			}
		}
		ix->st.buffered -= c->lines;
		free(c->buf);
		free(c);
	}
	/* Stopped: what is left was not sent in the time given. */
	while (ix->head) {
		struct ix_chunk *c = ix->head;

		ix->head = c->next;
		ix->st.dropped[LG_IX_DROP_STOP] += c->lines;
		ix->st.buffered -= c->lines;
		free(c->buf);
		free(c);
	}
	ix->tail = NULL;
	pthread_mutex_unlock(&ix->lock);
	return NULL;
}

static void ix_free(struct lg_influx *ix)
{
	if (!ix)
		return;
	if (ix->multi)
		curl_multi_cleanup(ix->multi);
	if (ix->curl)
		curl_easy_cleanup(ix->curl);
	curl_slist_free_all(ix->hdr);
	pthread_mutex_destroy(&ix->lock);
	pthread_cond_destroy(&ix->cond);
	sodium_memzero(&ix->cfg, sizeof(ix->cfg));
	free(ix);
}

int lg_influx_open(const struct lg_policy_influx *cfg, struct lg_influx **out, char *err,
		   size_t errlen)
{
	static const char *const suffix[LG_IX_KINDS] = { "_score", "_features", "_incident" };
	struct lg_influx *ix;
	pthread_condattr_t ca;
	char auth[600], sep;
	size_t u;

	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		snprintf(err, errlen, "influx: libcurl did not start");
		return -ENOMEM;
	}
	ix = calloc(1, sizeof(*ix));
	if (!ix)
		return -ENOMEM;
	ix->cfg = *cfg;
	pthread_mutex_init(&ix->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ix->cond, &ca);
	pthread_condattr_destroy(&ca);
	for (unsigned k = 0; k < LG_IX_KINDS; k++) {
		char m[96];

		snprintf(m, sizeof(m), "%s%s", cfg->prefix, suffix[k]);
		if (lg_influx_escape(LG_LP_MEASUREMENT, m, ix->meas[k], sizeof(ix->meas[k])) < 0)
			goto nomem;
	}
	/* The parser allows only [A-Za-z0-9_.-/] in these: no URL encoding needed. */
	u = (size_t)snprintf(ix->url, sizeof(ix->url), "%s", cfg->url);
	sep = strchr(cfg->url, '?') ? '&' : '?';
	if (cfg->database[0] && u < sizeof(ix->url)) {
		u += (size_t)snprintf(ix->url + u, sizeof(ix->url) - u, "%cdb=%s", sep,
				      cfg->database);
		sep = '&';
	}
	if (cfg->bucket[0] && u < sizeof(ix->url)) {
		u += (size_t)snprintf(ix->url + u, sizeof(ix->url) - u, "%cbucket=%s", sep,
				      cfg->bucket);
		sep = '&';
	}
	if (cfg->org[0] && u < sizeof(ix->url))
		u += (size_t)snprintf(ix->url + u, sizeof(ix->url) - u, "%corg=%s", sep, cfg->org);
	if (u >= sizeof(ix->url)) {
		snprintf(err, errlen, "influx: the url with its query is longer than %zu bytes",
			 sizeof(ix->url) - 1);
		ix_free(ix);
		return -EINVAL;
	}
	ix->curl = curl_easy_init();
	ix->multi = curl_multi_init();
	if (!ix->curl || !ix->multi)
		goto nomem;
	ix->hdr = curl_slist_append(NULL, "Content-Type: text/plain; charset=utf-8");
	if (cfg->token[0]) {
		struct curl_slist *h;

		snprintf(auth, sizeof(auth), "Authorization: Token %s", cfg->token);
		h = curl_slist_append(ix->hdr, auth);
		sodium_memzero(auth, sizeof(auth));
		if (!h)
			goto nomem;
		ix->hdr = h;
	}
	if (!ix->hdr)
		goto nomem;
	curl_easy_setopt(ix->curl, CURLOPT_URL, ix->url);
	curl_easy_setopt(ix->curl, CURLOPT_HTTPHEADER, ix->hdr);
	curl_easy_setopt(ix->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(ix->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(ix->curl, CURLOPT_WRITEDATA, ix);
	curl_easy_setopt(ix->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (cfg->username[0]) {
		curl_easy_setopt(ix->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(ix->curl, CURLOPT_USERNAME, cfg->username);
		curl_easy_setopt(ix->curl, CURLOPT_PASSWORD, cfg->password);
	}
	if (pthread_create(&ix->thread, NULL, sender, ix))
		goto nomem;
	pthread_setname_np(ix->thread, "lg-influx");
	ix->started = true;
	*out = ix;
	return 0;
nomem:
	snprintf(err, errlen, "influx: out of memory");
	ix_free(ix);
	return -ENOMEM;
}

/* name=value with value a float, or nothing when it is not finite (line protocol has no
 * NaN or Inf). */
static size_t field_f(char *b, size_t len, size_t u, const char *name, double v)
{
	int w;

	if (!isfinite(v) || u >= len)
		return u;
	w = snprintf(b + u, len - u, "%s%s=%.9g", b[u - 1] == ' ' ? "" : ",", name, v);
	return w < 0 ? len : u + (size_t)w;
}

/* The time of a point: unique per series, so that two windows of a channel scored in one
 * batch (one clock reading) stay two points. */
static uint64_t point_time(struct lg_meta_ent *m, unsigned slot, uint64_t t)
{
	if (!m)
		return t;
	if (t <= m->last_ts[slot])
		t = m->last_ts[slot] + 1;
	m->last_ts[slot] = t;
	return t;
}

static void tags_of(const struct lg_event *e, const struct lg_meta_ent *m, char *b, size_t len)
{
	if (m && m->lp_tags)
		snprintf(b, len, "%s", m->lp_tags);
	else
		snprintf(b, len, ",device=%" PRIu32 ",name=%s", e->device_id, e->name);
}

void lg_influx_row(struct lg_influx *ix, const struct lg_event *e, struct lg_meta_ent *m)
{
	unsigned ch = e->channel % LGF_MAX_CHANNELS;
	char tags[IX_LINE_MAX / 2];
	uint64_t ts;
	size_t u, len = sizeof(ix->line);
	char *b = ix->line;

	if (!ix || e->drift.kind)
		return;
	if (m && m->rows[ch]++ % ix->cfg.decimation) {
		pthread_mutex_lock(&ix->lock);
		ix->st.skipped++;
		pthread_mutex_unlock(&ix->lock);
		return;
	}
	tags_of(e, m, tags, sizeof(tags));
	ts = point_time(m, ch, e->scored_wall_ns);
	if (ix->cfg.scores) {
		u = (size_t)snprintf(b, len, "%s%s,channel=%u ", ix->meas[LG_IX_SCORE], tags,
				     e->channel);
		u = field_f(b, len, u, "score", e->nonfinite ? NAN : (double)e->score);
		u = field_f(b, len, u, "threshold", (double)e->threshold);
		if (u < len)
			u += (size_t)snprintf(b + u, len - u, "%salert=%s,seq=%" PRId64 "i %" PRIu64
					      "\n", b[u - 1] == ' ' ? "" : ",",
					      e->alert ? "true" : "false",
					      (int64_t)(e->seq & INT64_MAX), ts);
		if (u < len)
			put(ix, LG_IX_SCORE, b, u);
	}
	if (ix->cfg.features) {
		size_t start;

		u = (size_t)snprintf(b, len, "%s%s,channel=%u ", ix->meas[LG_IX_FEATURES], tags,
				     e->channel);
		start = u;
		for (unsigned j = 0; j < LG_FEAT_N; j++)
			if (ix->cfg.features & (1u << j))
				u = field_f(b, len, u, lg_feature_names[j], (double)e->feat[j]);
		/* No finite feature: no point (a line needs a field). */
		if (u > start && u < len) {
			u += (size_t)snprintf(b + u, len - u, " %" PRIu64 "\n", ts);
			if (u < len)
				put(ix, LG_IX_FEATURES, b, u);
		}
	}
}

void lg_influx_incident(struct lg_influx *ix, const struct lg_event *e, struct lg_meta_ent *m)
{
	const struct lg_inc_rec *r = &e->inc;
	char tags[IX_LINE_MAX / 2], id[2 * sizeof(r->id) + 8];
	size_t u, len = sizeof(ix->line);
	char *b = ix->line;
	uint64_t ts, tti;

	if (!ix)
		return;
	tags_of(e, m, tags, sizeof(tags));
	ts = point_time(m, LGF_MAX_CHANNELS, e->scored_wall_ns);
	tti = r->opened_ns > r->onset_ns ? (r->opened_ns - r->onset_ns) / 1000000u : 0;
	if (lg_influx_escape(LG_LP_STRING, r->id, id, sizeof(id)) < 0)
		return;
	u = (size_t)snprintf(b, len, "%s%s,event=%s incident=\"%s\"", ix->meas[LG_IX_INCIDENT],
			     tags, lg_inc_event_name((enum lg_inc_event)e->inc_event), id);
	u = field_f(b, len, u, "max_score", (double)r->max_score);
	u = field_f(b, len, u, "threshold", (double)r->threshold);
	if (u < len)
		u += (size_t)snprintf(b + u, len - u, ",windows=%" PRId64 "i,alerts=%" PRId64
				      "i,tti_ms=%" PRId64 "i %" PRIu64 "\n",
				      (int64_t)(r->windows & INT64_MAX),
				      (int64_t)(r->alerts & INT64_MAX), (int64_t)tti, ts);
	if (u < len)
		put(ix, LG_IX_INCIDENT, b, u);
}

void lg_influx_stats(struct lg_influx *ix, struct lg_influx_stats *st)
{
	pthread_mutex_lock(&ix->lock);
	*st = ix->st;
	pthread_mutex_unlock(&ix->lock);
}

/* Under lock: the deadline in timeout_ms, or the one set before when that is sooner; the
 * sender is woken wherever it waits (its backoff, a batch to fill, a request). */
static void set_deadline(struct lg_influx *ix, int timeout_ms)
{
	uint64_t d = mono_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000ull;

	if (!ix->deadline_ns || d < ix->deadline_ns)
		ix->deadline_ns = d;
	pthread_cond_broadcast(&ix->cond);
	curl_multi_wakeup(ix->multi);
}

void lg_influx_set_deadline(struct lg_influx *ix, int timeout_ms)
{
	if (!ix || !ix->started)
		return;
	pthread_mutex_lock(&ix->lock);
	set_deadline(ix, timeout_ms);
	pthread_mutex_unlock(&ix->lock);
}

void lg_influx_stop(struct lg_influx *ix, int timeout_ms)
{
	if (!ix || !ix->started)
		return;
	pthread_mutex_lock(&ix->lock);
	ix->stop = true;
	set_deadline(ix, timeout_ms);
	pthread_mutex_unlock(&ix->lock);
	pthread_join(ix->thread, NULL);
	ix->started = false;
}

void lg_influx_close(struct lg_influx *ix)
{
	lg_influx_stop(ix, 0);
	ix_free(ix);
}
