// SPDX-License-Identifier: MIT
/* The output thread: drains the workers' rings (alerts first) into JSON lines. */
#include "dataplane.h"
#include "mqtt.h"

#include <lgadmit.h>

#include <inttypes.h>
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
	{
		uint64_t lat = lg_now_ns() - e->rx_ns;

		atomic_fetch_add_explicit(&dp->pub_hist[lg_latency_bucket(lat)], 1,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&dp->pub_sum_ns, lat, memory_order_relaxed);
	}
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

