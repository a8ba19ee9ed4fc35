// SPDX-License-Identifier: MIT
/*
 * NATS JetStream output throughput and added latency (docs/benchmarks.md): records of an
 * alert's size into a stream of a running nats-server, through linegate's NATS output
 * (dataplane/nats.h: the outbox on disk, message ids, acknowledgements moving the cursor),
 * against a baseline in the same run: the same records published straight with libnats's
 * js_PublishAsync (no outbox, nothing on disk). bench/nats_bench.sh starts the server.
 */
#include "nats.h"

#include <errno.h>
#include <inttypes.h>
#include <nats/nats.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linegate/cli.h>

static const char usage[] =
	"Usage: nats_bench URL[,URL...] OUTBOX_DIR [RECORDS [RATE [REPLICAS]]]\n"
	"\n"
	"Publishes RECORDS (20000) records of 300 bytes to the JetStream stream BENCH (made over\n"
	"bench.>, with REPLICAS (1) copies: 3 for a 3-node cluster) of the server(s) at URL, first straight with js_PublishAsync (the baseline), then\n"
	"through linegate's NATS output with its outbox in OUTBOX_DIR (made, must be new), as\n"
	"fast as they are taken; then RECORDS/4 records at RATE (1000) per second through\n"
	"each, for the latency from hand-over to the stream's acknowledgement (p50, p99).\n"
	"Prints one JSON object.\n"
	"\n"
	"Exit status: 0 on success, 1 when a record was not acknowledged, 2 on a usage error.\n";

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pause_us(long us)
{
	struct timespec ts = { 0, us * 1000 };

	nanosleep(&ts, NULL);
}

/* The baseline's acknowledgement times, by the record's index in its message id. */
static uint64_t *base_ack_ns;
static _Atomic uint64_t base_acks;

static void base_on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	const char *id = NULL;

	(void)js, (void)pae, (void)closure;
	if (pa && natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) == NATS_OK && id) {
		base_ack_ns[strtoull(strrchr(id, ':') + 1, NULL, 10)] = now_ns();
		atomic_fetch_add(&base_acks, 1);
	}
	natsMsg_Destroy(msg);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void pctl(uint64_t *lat, size_t n, double *p50, double *p99)
{
	qsort(lat, n, sizeof(*lat), cmp_u64);
	*p50 = lat[n / 2] / 1e6;
	*p99 = lat[(n * 99) / 100] / 1e6;
}

/* Baseline: js_PublishAsync, ids base:<run>:<i>; rate 0 = as fast as taken. */
static int baseline(jsCtx *js, const char *rec, size_t n, unsigned rate, unsigned run,
		    double *rps, double *p50, double *p99)
{
	uint64_t *sent = calloc(n, sizeof(*sent)), t0 = now_ns(), end;
	char id[64];
	int rc = 0;

	base_ack_ns = calloc(n, sizeof(*base_ack_ns));
	atomic_store(&base_acks, 0);
	for (size_t i = 0; i < n; i++) {
		jsPubOptions po;
		natsMsg *m = NULL;

		if (rate)
			while (now_ns() < t0 + i * 1000000000ull / rate)
				pause_us(50);
		jsPubOptions_Init(&po);
		snprintf(id, sizeof(id), "base:%u:%zu", run, i);
		po.MsgId = id;
		natsMsg_Create(&m, "bench.base.alert.dev", NULL, rec, 300);
		sent[i] = now_ns();
		if (js_PublishMsgAsync(js, &m, &po) != NATS_OK) {
			fprintf(stderr, "nats_bench: baseline run %u: record %zu: %s\n", run, i,
				nats_GetLastError(NULL));
			rc = 1;
		}
		natsMsg_Destroy(m);
	}
	for (int t = 0; t < 30000 && atomic_load(&base_acks) < n; t++)
		pause_us(1000);
	end = now_ns();
	if (atomic_load(&base_acks) < n) {
		fprintf(stderr, "nats_bench: baseline run %u: %zu of %zu records acknowledged\n",
			run, (size_t)atomic_load(&base_acks), n);
		rc = 1;
	}
	*rps = n / ((end - t0) / 1e9);
	for (size_t i = 0; i < n; i++)
		sent[i] = base_ack_ns[i] > sent[i] ? base_ack_ns[i] - sent[i] : 0;
	pctl(sent, n, p50, p99);
	free(sent);
	free(base_ack_ns);
	return rc;
}

/* Through lg_nats: put and pump as the output thread does (its round: pump, then a 100 us
 * pause where the output thread has lines to drain). */
static int through_outbox(struct lg_nats *nb, const char *rec, size_t n, unsigned rate,
			  double *rps, double *p50, double *p99)
{
	struct lg_nats_stats st;
	uint64_t *put = calloc(n, sizeof(*put)), *lat = calloc(n, sizeof(*lat));
	uint64_t t0, first, done_seq, end;
	size_t i = 0, got = 0;

	lg_nats_stats(nb, &st);
	first = st.outbox.next_seq;
	done_seq = first - 1;
	t0 = now_ns();
	while (got < n && now_ns() - t0 < 60000000000ull) {
		while (i < n && (!rate || now_ns() >= t0 + i * 1000000000ull / rate)) {
			put[i] = now_ns();
			lg_nats_put(nb, LG_OUTBOX_ALERT, 1, "dev", rec, 300);
			i++;
			if (!rate && i % 64 == 0)
				break;
		}
		lg_nats_pump(nb);
		lg_nats_stats(nb, &st);
		for (uint64_t q = done_seq + 1; q <= st.outbox.acked && q - first < n; q++)
			lat[got++] = now_ns() - put[q - first];
		done_seq = st.outbox.acked;
		if (rate || i == n)
			pause_us(100);
	}
	end = now_ns();
	*rps = got / ((end - t0) / 1e9);
	if (got)
		pctl(lat, got, p50, p99);
	free(put);
	free(lat);
	if (got != n)
		fprintf(stderr, "nats_bench: through the outbox: %zu of %zu records acknowledged\n",
			got, n);
	return got == n ? 0 : 1;
}

int main(int argc, char **argv)
{
	int a = lg_cli_simple(argc, argv, usage, 2, 5), rc = 0;
	const char *url = argv[a], *dir = argv[a + 1];
	size_t n = argc > a + 2 ? strtoul(argv[a + 2], NULL, 10) : 20000;
	unsigned rate = argc > a + 3 ? (unsigned)strtoul(argv[a + 3], NULL, 10) : 1000;
	int replicas = argc > a + 4 ? atoi(argv[a + 4]) : 1;
	struct lg_policy_nats cfg = { .nurls = 1, .subject_prefix = "bench", .plant = "p",
				      .line = "l", .outbox_max_bytes = 1ull << 30 };
	const char *subj[1] = { "bench.>" };
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	jsOptions jo;
	jsStreamConfig sc;
	jsStreamInfo *si = NULL;
	struct lg_nats *nb = NULL;
	char rec[301], err[512] = "";
	double b_rps, b50, b99, o_rps, o50, o99, bl_rps, bl50, bl99, ol_rps, ol50, ol99;

	if (n < 100 || !rate || replicas < 1 || replicas > 5) {
		fprintf(stderr, "nats_bench: RECORDS at least 100, RATE at least 1, REPLICAS 1..5\n");
		return 2;
	}
	memset(rec, 'x', 300);
	rec[300] = '\0';
	/* a cluster: every URL, as a line server's output.nats.urls would list them */
	cfg.nurls = 0;
	for (const char *u = url; *u && cfg.nurls < LG_NATS_MAX_URLS;) {
		size_t len = strcspn(u, ",");

		snprintf(cfg.urls[cfg.nurls++], sizeof(cfg.urls[0]), "%.*s", (int)len, u);
		u += len + (u[len] == ',');
	}
	snprintf(cfg.outbox_dir, sizeof(cfg.outbox_dir), "%s", dir);
	jsOptions_Init(&jo);
	jo.PublishAsync.AckHandler = base_on_ack;
	jo.PublishAsync.MaxPending = 4096;
	if (natsConnection_ConnectTo(&nc, url) != NATS_OK ||
	    natsConnection_JetStream(&js, nc, &jo) != NATS_OK) {
		fprintf(stderr, "nats_bench: %s: %s\n", url, nats_GetLastError(NULL));
		return 1;
	}
	jsStreamConfig_Init(&sc);
	sc.Name = "BENCH";
	sc.Subjects = subj;
	sc.SubjectsLen = 1;
	sc.Duplicates = 120000000000ll;
	sc.Replicas = replicas;
	if (js_AddStream(&si, js, &sc, NULL, NULL) != NATS_OK) {
		fprintf(stderr, "nats_bench: stream BENCH: %s\n", nats_GetLastError(NULL));
		return 1;
	}
	jsStreamInfo_Destroy(si);
	/* A new replicated stream elects its leader first: one acknowledged message before the
	 * clock starts (else the baseline would time the election). */
	for (int t = 0; t < 100; t++) {
		jsPubAck *pa = NULL;

		if (js_Publish(&pa, js, "bench.warmup", "w", 1, NULL, NULL) == NATS_OK) {
			jsPubAck_Destroy(pa);
			break;
		}
		pause_us(100000);
	}
	if (lg_nats_open(&cfg, &nb, err, sizeof(err))) {
		fprintf(stderr, "nats_bench: %s\n", err);
		return 1;
	}
	for (int t = 0; t < 5000; t += 10) {
		struct lg_nats_stats st;

		lg_nats_stats(nb, &st);
		if (st.connected)
			break;
		pause_us(10000);
	}
	rc |= baseline(js, rec, n, 0, 1, &b_rps, &b50, &b99);
	rc |= through_outbox(nb, rec, n, 0, &o_rps, &o50, &o99);
	rc |= baseline(js, rec, n / 4, rate, 2, &bl_rps, &bl50, &bl99);
	rc |= through_outbox(nb, rec, n / 4, rate, &ol_rps, &ol50, &ol99);
	printf("{\"records\":%zu,\"record_bytes\":300,\"baseline_records_per_s\":%.0f,"
	       "\"outbox_records_per_s\":%.0f,\"ratio\":%.3f,\"rate\":%u,\"replicas\":%d,"
	       "\"baseline_ack_ms_p50\":%.3f,\"baseline_ack_ms_p99\":%.3f,"
	       "\"outbox_ack_ms_p50\":%.3f,\"outbox_ack_ms_p99\":%.3f}\n",
	       n, b_rps, o_rps, o_rps / b_rps, rate, replicas, bl50, bl99, ol50, ol99);
	(void)b50, (void)b99, (void)o50, (void)o99, (void)bl_rps, (void)ol_rps;
	lg_nats_close(nb);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	nats_Close();
	return rc;
}
