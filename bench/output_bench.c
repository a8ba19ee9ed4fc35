// SPDX-License-Identifier: MIT
/*
 * output_bench: the output thread's cost per record and per alert (dataplane/output.c,
 * lg_output_drain_all(): rings -> JSON line -> write(2), optionally MQTT), against
 * baselines run in the same invocation: the bare write(2) of the same bytes in the same
 * 64 KiB writes, and the bare mosquitto_publish() of the same payloads on a connection of
 * its own to the same broker.
 */
#include "bench_time.h"
#include "../dataplane/dataplane.h"
#include "../dataplane/mqtt.h"

#include <linegate/cli.h>

#include <fcntl.h>
#include <inttypes.h>
#include <mosquitto.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NREC 4000 /* records a round: they fit the 4096-slot rings */
#define ROUNDS 15

static const char usage[] =
	"Usage: output_bench [options] [MQTT_PORT]\n"
	"\n"
	"The output thread's cost per record (a score line) and per alert (an alert line):\n"
	"rows drained from a worker's rings, formatted as JSON lines and written to a file\n"
	"with write(2), against the bare write(2) of the same bytes in the same 64 KiB writes\n"
	"(baseline). With MQTT_PORT (a broker on 127.0.0.1, e.g. a mosquitto started for it)\n"
	"the same with the MQTT output on (scores QoS 0, alerts QoS 1), against bare\n"
	"mosquitto_publish() of the same payloads (baseline), each until the broker has\n"
	"accepted every message. Each figure is the fastest of 15 rounds of 4000 records,\n"
	"in ns per record; the file is in $TMPDIR (default /tmp). record_cross_cpu_ns: score\n"
	"lines whose rows a thread on another CPU pushes while they are drained, as a\n"
	"worker's are (the rows' cache lines come from that CPU; 2 CPUs or more).\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Exit status: 0, or 1 when a round lost a record.\n";

static struct lg_dp dp;

/* Row i of a round (a score, or an alert), as a worker writes it. */
static void row(struct lg_event *e, unsigned i, bool alert)
{
	if (!i) {
		memset(e, 0, sizeof(*e));
		e->kind = LG_EV_ROW;
		e->det = -1;
		e->alert = alert;
		e->score = alert ? 12.5f : 0.731f;
		e->threshold = 7.52f;
		e->model_epoch = 1;
	}
	e->device_id = 101 + i % 8;
	snprintf(e->name, sizeof(e->name), "press-%u-vib", i % 8);
	e->seq = i + 1;
	e->rx_ns = e->arrival_ns = e->pickup_ns = e->complete_ns = now_ns();
	e->scored_ns = e->rx_ns;
	e->scored_wall_ns = 1796398736791453334ull + i;
}

static void fill(bool alert)
{
	struct lg_worker *w = &dp.workers[0];
	struct lg_event e;

	for (unsigned i = 0; i < NREC; i++) {
		row(&e, i, alert);
		if (!lg_spsc_push(alert ? &w->alerts : &w->scores_ring, &e))
			abort();
	}
}

/* A worker on another CPU: pushes NREC score rows as fill() makes them, as fast as the
 * ring takes them. */
static _Atomic int producer_go;

static void *producer(void *arg)
{
	struct lg_worker *w = &dp.workers[0];
	struct lg_event e;

	(void)arg;
	while (!atomic_load(&producer_go))
		;
	for (unsigned i = 0; i < NREC; i++) {
		row(&e, i, false);
		while (!lg_spsc_push(&w->scores_ring, &e))
			;
	}
	return NULL;
}

/* Pinned to CPU cpu; false when it cannot be. */
static bool pin(pthread_t t, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return !pthread_setaffinity_np(t, sizeof(set), &set);
}

/* ns per score line drained while a thread on the other CPU pushes the rows; -1 with
 * one CPU. */
static double run_cross_cpu(bool *lost)
{
	double best = 1e18;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || !pin(pthread_self(), 1))
		return -1;
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t before = atomic_load(&dp.out_written), t0, dl;
		pthread_t t;

		atomic_store(&producer_go, 0);
		if (pthread_create(&t, NULL, producer, NULL))
			return -1;
		pin(t, 0);
		atomic_store(&producer_go, 1);
		t0 = now_ns();
		dl = t0 + 10000000000ull;
		while (atomic_load(&dp.out_written) - before < NREC && now_ns() < dl)
			lg_output_drain_all(&dp);
		t0 = now_ns() - t0;
		pthread_join(t, NULL);
		if (atomic_load(&dp.out_written) - before != NREC)
			*lost = true;
		if ((double)t0 / NREC < best)
			best = (double)t0 / NREC;
	}
	pin(pthread_self(), 0);
	{
		cpu_set_t all;

		CPU_ZERO(&all);
		for (int c = 0; c < CPU_SETSIZE && c < sysconf(_SC_NPROCESSORS_ONLN); c++)
			CPU_SET(c, &all);
		pthread_setaffinity_np(pthread_self(), sizeof(all), &all);
	}
	return best;
}

/* ns per record of lg_output_drain_all() (and the broker's acceptance, with MQTT). */
static double run_linegate(bool alert, bool *lost)
{
	double best = 1e18;

	for (int r = 0; r < ROUNDS; r++) {
		uint64_t before = atomic_load(&dp.out_written), t0;
		struct lg_mqtt_stats ms = { 0 }, me = { 0 };

		fill(alert);
		if (dp.mqtt)
			lg_mqtt_stats(dp.mqtt, &ms);
		t0 = now_ns();
		lg_output_drain_all(&dp);
		if (dp.mqtt) {
			lg_mqtt_flush(dp.mqtt, 10000);
			lg_mqtt_stats(dp.mqtt, &me);
			if (me.delivered - ms.delivered != NREC)
				*lost = true;
		}
		t0 = now_ns() - t0;
		if (atomic_load(&dp.out_written) - before != NREC)
			*lost = true;
		if ((double)t0 / NREC < best)
			best = (double)t0 / NREC;
	}
	return best;
}

/* The same bytes, written bare in 64 KiB writes (what out_flush cannot avoid). */
static double run_write(int fd, const char *line, size_t len)
{
	static char buf[65536];
	size_t per = sizeof(buf) / len;
	double best = 1e18;

	for (size_t i = 0; i < per; i++)
		memcpy(buf + i * len, line, len);
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t t0 = now_ns();

		for (unsigned n = 0; n < NREC; n += (unsigned)per) {
			size_t k = NREC - n < per ? NREC - n : per;

			if (write(fd, buf, k * len) != (ssize_t)(k * len))
				return -1;
		}
		t0 = now_ns() - t0;
		if ((double)t0 / NREC < best)
			best = (double)t0 / NREC;
	}
	return best;
}

static unsigned acked;
static void on_publish(struct mosquitto *m, void *u, int mid)
{
	(void)m, (void)u, (void)mid;
	acked++;
}

/* Bare libmosquitto: the same payloads and QoS, until the broker accepted them all. */
static double run_mosquitto(int port, int qos, const char *line, size_t len, bool *lost)
{
	struct mosquitto *m = mosquitto_new("output-bench-base", true, NULL);
	double best = 1e18;

	if (!m || mosquitto_connect(m, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS) {
		*lost = true;
		mosquitto_destroy(m);
		return -1;
	}
	mosquitto_publish_callback_set(m, on_publish);
	mosquitto_loop_start(m);
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t t0 = now_ns(), dl;

		acked = 0;
		for (unsigned i = 0; i < NREC; i++) {
			char topic[64];

			snprintf(topic, sizeof(topic), "bench/%s/press-%u-vib",
				 qos ? "alerts" : "scores", i % 8);
			if (mosquitto_publish(m, NULL, topic, (int)len - 1, line, qos, false))
				*lost = true;
		}
		dl = now_ns() + 10000000000ull;
		while (__atomic_load_n(&acked, __ATOMIC_ACQUIRE) < NREC && now_ns() < dl)
			usleep(50);
		if (acked < NREC)
			*lost = true;
		t0 = now_ns() - t0;
		if ((double)t0 / NREC < best)
			best = (double)t0 / NREC;
	}
	mosquitto_disconnect(m);
	mosquitto_loop_stop(m, false);
	mosquitto_destroy(m);
	return best;
}

int main(int argc, char **argv)
{
	int first = lg_cli_simple(argc, argv, usage, 0, 1), port = 0, fd;
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char path[512], line[512];
	bool lost = false;
	double rec, alert, base, cross;
	size_t len;

	if (first < argc)
		port = atoi(argv[first]);
	snprintf(path, sizeof(path), "%s/output_bench.%d.jsonl", tmp, (int)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || !(dp.out = fdopen(fd, "w"))) {
		perror(path);
		return 1;
	}
	dp.nworkers = 1;
	dp.workers[0].dp = &dp;
	pthread_mutex_init(&dp.inc_lock, NULL);
	if (lg_spsc_init(&dp.workers[0].alerts, 4096) ||
	    lg_spsc_init(&dp.workers[0].scores_ring, 4096))
		return 1;
	/* A score line as output.c writes it, for the baselines. */
	len = (size_t)snprintf(line, sizeof(line),
		"{\"type\":\"score\",\"device\":101,\"name\":\"press-0-vib\",\"channel\":0,"
		"\"score\":0.731,\"threshold\":7.52,\"seq\":1234,\"time_ns\":1796398736791453334,"
		"\"latency_us\":0.0,\"model_epoch\":1}\n");
	rec = run_linegate(false, &lost);
	alert = run_linegate(true, &lost);
	base = run_write(fd, line, len);
	cross = run_cross_cpu(&lost);
	printf("{\"jsonl\":{\"record_ns\":%.1f,\"alert_ns\":%.1f,\"baseline_write_ns\":%.1f,"
	       "\"record_ratio\":%.2f,\"alert_ratio\":%.2f,\"record_minus_baseline_ns\":%.1f,"
	       "\"record_cross_cpu_ns\":%.1f}",
	       rec, alert, base, rec / base, alert / base, rec - base, cross);
	if (port) {
		static struct lg_policy_mqtt cfg;
		char err[256];
		double mrec, malert, brec, balert;

		/* As the policy's defaults: MQTT 5, alerts and incidents at QoS 1, scores at 0,
		 * no outbox, no per-device status. */
		cfg.port = (uint16_t)port;
		cfg.protocol = 5;
		cfg.qos[LG_MQTT_ALERTS] = cfg.qos[LG_MQTT_INCIDENTS] = cfg.qos[LG_MQTT_EVENTS] = 1;
		cfg.qos[LG_MQTT_STATUS] = 1;
		cfg.retain[LG_MQTT_STATUS] = true;
		cfg.scores = true;
		snprintf(cfg.host, sizeof(cfg.host), "127.0.0.1");
		snprintf(cfg.client_id, sizeof(cfg.client_id), "output-bench");
		snprintf(cfg.topic, sizeof(cfg.topic), "bench");
		mosquitto_lib_init();
		if (lg_mqtt_open(&cfg, NULL, 0, &dp.mqtt, err, sizeof(err))) {
			fprintf(stderr, "output_bench: MQTT: %s\n", err);
			return 1;
		}
		for (int i = 0; i < 500; i++) {
			struct lg_mqtt_stats st;

			lg_mqtt_stats(dp.mqtt, &st);
			if (st.connected)
				break;
			usleep(10000);
		}
		mrec = run_linegate(false, &lost);
		malert = run_linegate(true, &lost);
		brec = run_mosquitto(port, 0, line, len, &lost);
		balert = run_mosquitto(port, 1, line, len, &lost);
		printf(",\"mqtt\":{\"record_ns\":%.1f,\"alert_ns\":%.1f,\"baseline_qos0_ns\":%.1f,"
		       "\"baseline_qos1_ns\":%.1f,\"record_minus_baseline_ns\":%.1f,"
		       "\"alert_minus_baseline_ns\":%.1f,\"record_ratio\":%.2f,"
		       "\"alert_ratio\":%.2f}",
		       mrec, malert, brec, balert, mrec - brec, malert - balert, mrec / brec,
		       malert / balert);
		lg_mqtt_close(dp.mqtt);
		mosquitto_lib_cleanup();
	}
	printf(",\"lost\":%s}\n", lost ? "true" : "false");
	fclose(dp.out);
	unlink(path);
	lg_spsc_free(&dp.workers[0].alerts);
	lg_spsc_free(&dp.workers[0].scores_ring);
	return lost ? 1 : 0;
}
