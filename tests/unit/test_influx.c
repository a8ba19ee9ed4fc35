// SPDX-License-Identifier: MIT
/*
 * InfluxDB line protocol (issue 12, dataplane/influx.h, meta.h): the escapes of each kind
 * of text with known answers (spaces, commas, equals, quotes, backslashes, newlines), the
 * metadata rendered as a record's JSON member and as tags, and the output against an HTTP
 * server in this test that answers from a script: the exact body of a batch (measurement,
 * tags, fields, time), a 503 retried, a 400 refused and counted, decimation, unique times,
 * a full buffer and a stop with lines left, each counted exactly.
 */
#include "dataplane.h"
#include "influx.h"
#include "meta.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static void escapes(void)
{
	char out[128];

	CHECK_EQ(lg_influx_escape(LG_LP_MEASUREMENT, "cpu load,x=1 \"q\"", out, sizeof(out)), 19);
	CHECK_STR(out, "cpu\\ load\\,x=1\\ \"q\"");
	lg_influx_escape(LG_LP_TAG, "a b,c=d\"e", out, sizeof(out));
	CHECK_STR(out, "a\\ b\\,c\\=d\"e");
	lg_influx_escape(LG_LP_STRING, "say \"hi\", a=b c\\d", out, sizeof(out));
	CHECK_STR(out, "say \\\"hi\\\", a=b c\\\\d");
	lg_influx_escape(LG_LP_TAG, "l1\nl2\tx\r", out, sizeof(out));
	CHECK_STR(out, "l1\\nl2\\tx\\r");
	lg_influx_escape(LG_LP_MEASUREMENT, "m\n=\\", out, sizeof(out));
	CHECK_STR(out, "m\\n=\\\\");
	lg_influx_escape(LG_LP_STRING, "line\nbreak", out, sizeof(out));
	CHECK_STR(out, "line\\nbreak");
	/* A backslash: as it is in a tag (InfluxDB stores it so: a new user's trial found it
	 * doubled in the database), doubled where the parser would take it as an escape
	 * (before what is escaped, at the end) and in a string field. */
	lg_influx_escape(LG_LP_TAG, "a\\b", out, sizeof(out));
	CHECK_STR(out, "a\\b");
	lg_influx_escape(LG_LP_TAG, "a\\ b\\,c\\=d\\", out, sizeof(out));
	CHECK_STR(out, "a\\\\\\ b\\\\\\,c\\\\\\=d\\\\");
	lg_influx_escape(LG_LP_STRING, "a\\b", out, sizeof(out));
	CHECK_STR(out, "a\\\\b");
	/* The NUL needs room too: "a b" is 4 bytes escaped, 5 with it. */
	CHECK_EQ(lg_influx_escape(LG_LP_TAG, "a b", out, 4), -ENOSPC);
	CHECK_EQ(lg_influx_escape(LG_LP_TAG, "a b", out, 5), 4);
	CHECK_EQ(lg_influx_escape(LG_LP_TAG, "", out, 1), 0);
}

static struct lg_policy_device dev[2];
static struct lg_policy pol = { .ndevices = 2, .devices = dev };

static void metadata(void)
{
	struct lg_meta_tab *t;
	struct lg_meta_ent *e;

	dev[0].id = 7;
	strcpy(dev[0].name, "press-1");
	strcpy(dev[0].meta.line, "L 1");
	strcpy(dev[0].meta.station, "st,2=a");
	strcpy(dev[0].meta.asset, "belt \"A\"");
	strcpy(dev[0].meta.units, "m/s2");
	dev[0].meta.ntags = 2;
	strcpy(dev[0].meta.tags[0].key, "cell");
	strcpy(dev[0].meta.tags[0].value, "c\\1");
	strcpy(dev[0].meta.tags[1].key, "plant");
	strcpy(dev[0].meta.tags[1].value, "north");
	dev[1].id = 9;
	strcpy(dev[1].name, "fan-1");
	t = lg_meta_build(&pol);
	CHECK(t);
	if (!t)
		return;
	e = lg_meta_find(t, 7);
	CHECK(e);
	if (e) {
		CHECK_STR(e->json, ",\"meta\":{\"line\":\"L 1\",\"station\":\"st,2=a\",\"asset\":"
			  "\"belt \\\"A\\\"\",\"units\":\"m/s2\",\"tags\":{\"cell\":\"c\\\\1\","
			  "\"plant\":\"north\"}}");
		CHECK_STR(e->lp_tags, ",device=7,name=press-1,line=L\\ 1,station=st\\,2\\=a,"
			  "asset=belt\\ \"A\",units=m/s2,cell=c\\1,plant=north");
	}
	e = lg_meta_find(t, 9);
	CHECK(e && !strcmp(e->json, "") && !strcmp(e->lp_tags, ",device=9,name=fan-1"));
	CHECK(!lg_meta_find(t, 8));
	lg_meta_free(t);

	/* The longest metadata, every byte one that is escaped: nothing is cut. */
	{
		struct lg_policy_device big = { .id = 4000000000u };
		struct lg_policy bp = { .ndevices = 1, .devices = &big };
		char *fields[] = { big.meta.line, big.meta.station, big.meta.asset,
				   big.meta.sensor, big.meta.units };
		size_t want;

		memset(big.name, 'n', LG_NAME_MAX - 1);
		for (unsigned i = 0; i < 5; i++)
			memset(fields[i], ',', LG_META_STR_MAX - 1);
		big.meta.ntags = LG_META_MAX_TAGS;
		for (unsigned i = 0; i < LG_META_MAX_TAGS; i++) {
			memset(big.meta.tags[i].key, 'k', LG_META_KEY_MAX - 1);
			big.meta.tags[i].key[0] = (char)('a' + i);
			memset(big.meta.tags[i].value, '"', LG_META_STR_MAX - 1);
		}
		t = lg_meta_build(&bp);
		CHECK(t && t->n == 1);
		if (t && t->n == 1) {
			/* ,device=4000000000,name=nnn... then 5 x ,KEY=<126 bytes> and 8 tags of
			 * 31-byte keys and 63 quotes (not escaped in a tag) */
			want = strlen(",device=4000000000") + strlen(",name=") + LG_NAME_MAX - 1 +
			       strlen(",line=,station=,asset=,sensor=,units=") +
			       5 * 2 * (LG_META_STR_MAX - 1) +
			       LG_META_MAX_TAGS * (2 + LG_META_KEY_MAX - 1 + LG_META_STR_MAX - 1);
			CHECK_EQ(strlen(t->e[0].lp_tags), want);
			/* Every value is there, escaped: 63 commas are 126 bytes. */
			CHECK_EQ(strlen(t->e[0].json) > 5 * (LG_META_STR_MAX - 1) +
				 LG_META_MAX_TAGS * 2 * (LG_META_STR_MAX - 1), 1);
		}
		lg_meta_free(t);
	}
}

/* The server: answers each request with the next status of its script. */
struct server {
	int fd, port;
	pthread_t thread;
	const int *script;
	unsigned nscript, served;
	char bodies[8][2048];
	char first_line[8][128];
	char headers[8][1024]; /* the lines after the first, up to the blank line */
	pthread_mutex_t lock;
};

static void *serve(void *arg)
{
	struct server *s = arg;

	for (;;) {
		char req[8192], reply[256];
		size_t got = 0;
		char *hdr_end = NULL, *cl;
		long body_len = 0;
		int c = accept(s->fd, NULL, NULL);
		unsigned i;

		if (c < 0)
			return NULL;
		while (got < sizeof(req) - 1) {
			ssize_t n = read(c, req + got, sizeof(req) - 1 - got);

			if (n <= 0)
				break;
			got += (size_t)n;
			req[got] = '\0';
			hdr_end = strstr(req, "\r\n\r\n");
			if (!hdr_end)
				continue;
			cl = strcasestr(req, "Content-Length:");
			body_len = cl ? strtol(cl + 15, NULL, 10) : 0;
			if ((size_t)(hdr_end + 4 - req) + (size_t)body_len <= got)
				break;
		}
		pthread_mutex_lock(&s->lock);
		i = s->served++;
		if (i < 8 && hdr_end) {
			snprintf(s->bodies[i], sizeof(s->bodies[i]), "%.*s", (int)body_len,
				 hdr_end + 4);
			snprintf(s->first_line[i], sizeof(s->first_line[i]), "%.*s",
				 (int)strcspn(req, "\r"), req);
			{
				char *h = req + strcspn(req, "\r") + 2;

				snprintf(s->headers[i], sizeof(s->headers[i]), "%.*s",
					 (int)(hdr_end + 2 - h), h);
			}
		}
		pthread_mutex_unlock(&s->lock);
		{
			int st = i < s->nscript ? s->script[i] : 204;
			const char *body = st == 400 ? "{\"error\":\"partial write: bad\"}" : "";
			int n = snprintf(reply, sizeof(reply), "HTTP/1.1 %d X\r\nContent-Length: "
					 "%zu\r\nConnection: close\r\n\r\n%s", st, strlen(body),
					 body);

			if (write(c, reply, (size_t)n) < 0)
				perror("write");
		}
		close(c);
	}
}

static int server_start(struct server *s, const int *script, unsigned n)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	memset(s, 0, sizeof(*s));
	s->script = script;
	s->nscript = n;
	pthread_mutex_init(&s->lock, NULL);
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof(a)) || listen(s->fd, 8) ||
	    getsockname(s->fd, (struct sockaddr *)&a, &len))
		return -1;
	s->port = ntohs(a.sin_port);
	return pthread_create(&s->thread, NULL, serve, s);
}

static void server_stop(struct server *s)
{
	shutdown(s->fd, SHUT_RDWR);
	close(s->fd);
	pthread_join(s->thread, NULL);
	pthread_mutex_destroy(&s->lock);
}

static unsigned served(struct server *s)
{
	unsigned n;

	pthread_mutex_lock(&s->lock);
	n = s->served;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static void wait_stats(struct lg_influx *ix, struct lg_influx_stats *st, uint64_t requests)
{
	for (int i = 0; i < 500; i++) {
		lg_influx_stats(ix, st);
		if (st->requests >= requests && !st->buffered)
			return;
		usleep(10000);
	}
}

static struct lg_event row(uint8_t channel, uint64_t seq, float score, uint64_t wall)
{
	struct lg_event e;

	memset(&e, 0, sizeof(e));
	e.device_id = 7;
	strcpy(e.name, "press-1");
	e.channel = channel;
	e.seq = seq;
	e.score = score;
	e.threshold = 2.5f;
	e.alert = score > 2.5f;
	e.scored_wall_ns = wall;
	e.feat[LG_FEAT_RMS] = 0.25f;
	e.feat[LG_FEAT_KURTOSIS] = 3.5f;
	e.feat[LG_FEAT_PEAK] = 9.0f;
	return e;
}

static void output(void)
{
	static const int script[] = { 503, 204, 400, 204 };
	struct lg_policy_influx cfg = {
		.database = "lg", .prefix = "lgt", .decimation = 2, .scores = true,
		.features = 1u << LG_FEAT_RMS | 1u << LG_FEAT_KURTOSIS, .batch_lines = 4,
		.flush_ms = 50, .max_buffer_lines = 8, .timeout_ms = 2000,
	};
	struct lg_influx_stats st;
	struct lg_meta_tab *t = lg_meta_build(&pol);
	struct lg_meta_ent *m = t ? lg_meta_find(t, 7) : NULL;
	struct lg_influx *ix = NULL;
	struct lg_event e;
	struct server s;
	char err[256];

	CHECK(m);
	if (!m || server_start(&s, script, 4)) {
		CHECK(!"the test server did not start");
		lg_meta_free(t);
		return;
	}
	snprintf(cfg.url, sizeof(cfg.url), "http://127.0.0.1:%d/write", s.port);
	CHECK_EQ(lg_influx_open(&cfg, &ix, err, sizeof(err)), 0);
	if (!ix)
		goto out;
	/* Four windows of channel 0 (two kept: decimation 2), the second kept one scored at
	 * the same clock reading as the first (one batch): its time is made one ns later. */
	e = row(0, 10, 1.5f, 1000);
	lg_influx_row(ix, &e, m);
	e = row(0, 11, 1.75f, 1000);
	lg_influx_row(ix, &e, m);
	e = row(0, 12, 3.0f, 1000);
	lg_influx_row(ix, &e, m);
	e = row(1, 12, 0.5f, 1000); /* channel 1: its own count, kept */
	lg_influx_row(ix, &e, m);
	/* 503, then 204: the first batch of four lines, sent twice; the channel 1 lines wait
	 * (half a batch) until flush_ms, and are refused (400): dropped, counted. */
	wait_stats(ix, &st, 3);
	CHECK_EQ(st.requests, 3);
	CHECK_EQ(st.retries, 1);
	CHECK_EQ(st.failures, 2);
	CHECK_EQ(st.written, 4);
	CHECK_EQ(st.dropped[LG_IX_DROP_REFUSED], 2);
	CHECK_EQ(st.skipped, 1);
	CHECK_EQ(st.lines[LG_IX_SCORE], 3);
	CHECK_EQ(st.lines[LG_IX_FEATURES], 3);
	CHECK_EQ(st.last_status, 400);
	CHECK(!st.up);
	CHECK_STR(s.first_line[0], "POST /write?db=lg HTTP/1.1");
	CHECK_STR(s.bodies[1], s.bodies[0]);
	CHECK_STR(s.bodies[0],
		  "lgt_score,device=7,name=press-1,line=L\\ 1,station=st\\,2\\=a,asset=belt\\ \"A\","
		  "units=m/s2,cell=c\\1,plant=north,channel=0 score=1.5,threshold=2.5,alert=false,"
		  "seq=10i 1000\n"
		  "lgt_features,device=7,name=press-1,line=L\\ 1,station=st\\,2\\=a,asset=belt\\ "
		  "\"A\",units=m/s2,cell=c\\1,plant=north,channel=0 rms=0.25,kurtosis=3.5 1000\n"
		  "lgt_score,device=7,name=press-1,line=L\\ 1,station=st\\,2\\=a,asset=belt\\ \"A\","
		  "units=m/s2,cell=c\\1,plant=north,channel=0 score=3,threshold=2.5,alert=true,"
		  "seq=12i 1001\n"
		  "lgt_features,device=7,name=press-1,line=L\\ 1,station=st\\,2\\=a,asset=belt\\ "
		  "\"A\",units=m/s2,cell=c\\1,plant=north,channel=0 rms=0.25,kurtosis=3.5 1001\n");
	CHECK_STR(s.bodies[2],
		  "lgt_score,device=7,name=press-1,line=L\\ 1,station=st\\,2\\=a,asset=belt\\ \"A\","
		  "units=m/s2,cell=c\\1,plant=north,channel=1 score=0.5,threshold=2.5,alert=false,"
		  "seq=12i 1000\n"
		  "lgt_features,device=7,name=press-1,line=L\\ 1,station=st\\,2\\=a,asset=belt\\ "
		  "\"A\",units=m/s2,cell=c\\1,plant=north,channel=1 rms=0.25,kurtosis=3.5 1000\n");
	/* An incident: one line, its id a string field. */
	memset(&e, 0, sizeof(e));
	e.device_id = 7;
	strcpy(e.name, "press-1");
	e.kind = LG_EV_INCIDENT;
	e.inc_event = LG_INC_OPEN;
	e.scored_wall_ns = 5000;
	strcpy(e.inc.id, "press-1-20261205T000000Z-1");
	e.inc.onset_ns = 1000000000;
	e.inc.opened_ns = 1250000000;
	e.inc.windows = 3;
	e.inc.alerts = 2;
	e.inc.max_score = 4.5f;
	e.inc.threshold = 2.5f;
	lg_influx_incident(ix, &e, m);
	wait_stats(ix, &st, 4);
	CHECK_EQ(st.written, 5);
	CHECK_STR(s.bodies[3],
		  "lgt_incident,device=7,name=press-1,line=L\\ 1,station=st\\,2\\=a,asset=belt\\ "
		  "\"A\",units=m/s2,cell=c\\1,plant=north,event=open incident=\"press-1-20261205T"
		  "000000Z-1\",max_score=4.5,threshold=2.5,windows=3i,alerts=2i,tti_ms=250i 5000\n");
	CHECK_EQ(served(&s), 4);
	lg_influx_close(ix);
out:
	server_stop(&s);
	lg_meta_free(t);
}

/* Nobody listens: the first batch is retried while new lines fill the buffer; past
 * max_buffer_lines they are dropped; at stop what is left is dropped (shutdown). */
static void unreachable(void)
{
	struct lg_policy_influx cfg = {
		.prefix = "lgt", .decimation = 1, .scores = true, .batch_lines = 2,
		.flush_ms = 10, .max_buffer_lines = 4, .timeout_ms = 500,
	};
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	struct lg_influx_stats st;
	struct lg_influx *ix = NULL;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char err[256];

	/* A port that was free a moment ago and is closed now: connections are refused. */
	CHECK(fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	      !getsockname(fd, (struct sockaddr *)&a, &len));
	close(fd);
	snprintf(cfg.url, sizeof(cfg.url), "http://127.0.0.1:%d/api/v2/write?bucket=b",
		 ntohs(a.sin_port));
	CHECK_EQ(lg_influx_open(&cfg, &ix, err, sizeof(err)), 0);
	if (!ix)
		return;
	for (uint64_t i = 0; i < 6; i++) {
		struct lg_event e = row(0, i, 1.0f, 1000 + i);

		lg_influx_row(ix, &e, NULL);
	}
	for (int i = 0; i < 300; i++) {
		lg_influx_stats(ix, &st);
		if (st.retries >= 2)
			break;
		usleep(10000);
	}
	CHECK(st.retries >= 2);
	CHECK_EQ(st.lines[LG_IX_SCORE], 6);
	CHECK_EQ(st.dropped[LG_IX_DROP_FULL], 2);
	CHECK_EQ(st.buffered, 4);
	CHECK_EQ(st.written, 0);
	CHECK_EQ(st.last_status, 0);
	lg_influx_stop(ix, 0);
	lg_influx_stats(ix, &st);
	CHECK_EQ(st.dropped[LG_IX_DROP_STOP], 4);
	CHECK_EQ(st.buffered, 0);
	CHECK_EQ(st.lines[LG_IX_SCORE], st.written + st.dropped[LG_IX_DROP_FULL] +
		 st.dropped[LG_IX_DROP_REFUSED] + st.dropped[LG_IX_DROP_STOP]);
	lg_influx_close(ix);
}

/* InfluxDB 2.x's write API: bucket and org in the query, the token as "Authorization: Token",
 * exactly; no basic authentication, no precision (nanoseconds, both APIs' default). */
static void api_v2(void)
{
	static const int script[] = { 204 };
	struct lg_policy_influx cfg = {
		.prefix = "lgt", .decimation = 1, .scores = true, .batch_lines = 1,
		.flush_ms = 10, .max_buffer_lines = 10, .timeout_ms = 2000,
		.bucket = "line-1", .org = "plant.north", .token = "s3cr3t-T0ken==",
	};
	struct lg_influx_stats st;
	struct lg_influx *ix = NULL;
	struct lg_event e = row(0, 1, 1.5f, 1000);
	struct server s;
	char err[256];

	CHECK_EQ(server_start(&s, script, 1), 0);
	snprintf(cfg.url, sizeof(cfg.url), "http://127.0.0.1:%d/api/v2/write", s.port);
	CHECK_EQ(lg_influx_open(&cfg, &ix, err, sizeof(err)), 0);
	if (!ix)
		goto out;
	lg_influx_row(ix, &e, NULL);
	wait_stats(ix, &st, 1);
	CHECK_EQ(st.written, 1);
	CHECK_STR(s.first_line[0], "POST /api/v2/write?bucket=line-1&org=plant.north HTTP/1.1");
	CHECK_STR_CONTAINS(s.headers[0], "\r\nAuthorization: Token s3cr3t-T0ken==\r\n");
	CHECK_STR_CONTAINS(s.headers[0], "\r\nContent-Type: text/plain; charset=utf-8\r\n");
	CHECK(strstr(s.headers[0], "Basic") == NULL);
	CHECK_STR(s.bodies[0], "lgt_score,device=7,name=press-1,channel=0 score=1.5,threshold=2.5,"
			       "alert=false,seq=1i 1000\n");
	lg_influx_close(ix);
out:
	server_stop(&s);
}

/* A server that takes the connection and never answers (a hung InfluxDB): once linegate
 * stops, the request in flight is given up at the shutdown deadline, not at its own
 * timeout_ms, and its lines are counted as dropped (shutdown). */
static void hung_server(void)
{
	struct lg_policy_influx cfg = {
		.prefix = "lgt", .decimation = 1, .scores = true, .batch_lines = 2,
		.flush_ms = 10, .max_buffer_lines = 10, .timeout_ms = 20000,
	};
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	struct lg_influx_stats st;
	struct lg_influx *ix = NULL;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timespec t0, t1;
	char err[256];
	long ms;

	/* listening, never accepting: the kernel completes the connection, nobody reads */
	CHECK(fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) && !listen(fd, 8) &&
	      !getsockname(fd, (struct sockaddr *)&a, &len));
	snprintf(cfg.url, sizeof(cfg.url), "http://127.0.0.1:%d/write?db=x", ntohs(a.sin_port));
	CHECK_EQ(lg_influx_open(&cfg, &ix, err, sizeof(err)), 0);
	if (!ix)
		goto out;
	for (uint64_t i = 0; i < 3; i++) {
		struct lg_event e = row(0, i, 1.0f, 1000 + i);

		lg_influx_row(ix, &e, NULL);
	}
	for (int i = 0; i < 100; i++) { /* the first batch goes out and hangs */
		usleep(10000);
		lg_influx_stats(ix, &st);
	}
	CHECK_EQ(st.requests, 0);
	CHECK_EQ(st.buffered, 3);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	lg_influx_set_deadline(ix, 300);
	lg_influx_stop(ix, 5000); /* the deadline set before, sooner, holds */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	printf("hung server: stopped in %ld ms (deadline 300 ms)\n", ms);
	CHECK(ms >= 290 && ms <= 450);
	lg_influx_stats(ix, &st);
	CHECK_EQ(st.written, 0);
	CHECK_EQ(st.dropped[LG_IX_DROP_STOP], 3);
	CHECK_EQ(st.buffered, 0);
	CHECK_EQ(st.lines[LG_IX_SCORE], 3);
	lg_influx_close(ix);
out:
	close(fd);
}

static const char usage[] =
	"Usage: test_influx\n"
	"\n"
	"InfluxDB line protocol (issue 12): the escapes, device metadata as JSON and as tags, and\n"
	"the output against a scripted HTTP server (batches, retries, refusals, drops).\n";

int main(int argc, char **argv)
{
	lgt_cli(argc, argv, usage, 0, 0);
	escapes();
	metadata();
	output();
	unreachable();
	api_v2();
	hung_server();
	return lgt_done("influx");
}
