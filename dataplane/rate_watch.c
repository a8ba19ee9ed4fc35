// SPDX-License-Identifier: MIT
/*
 * Devices the model cannot score because their frames come at another sample rate (or with
 * another channel count than their detector was trained on): said in
 * the log and in status, not only counted (dataplane.h, lg_dp_rate_watch()). The workers
 * keep the facts in the device's state (verify.c); the control thread reads them, so the
 * hot path never prints.
 */
#include "dataplane.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>

#define RATE_SAY_NS (60ull * 1000000000ull) /* a device's next line at most a minute on */
#define RATE_SAY_MAX 8			    /* device lines a round; the rest summed up */

/* The same for frames of another channel count than the device's detector was trained on. */
static void chan_watch(struct lg_dp *dp, bool final)
{
	const struct lg_gen *g = atomic_load(&dp->gen);
	const struct lg_modelset *ms = atomic_load(&dp->models);
	uint64_t now = lg_now_ns();
	unsigned said = 0, more = 0;

	for (size_t i = 0; i < g->policy.ndevices; i++) {
		struct lg_dev_state *s = g->state[i];
		const struct lg_policy_device *dev = &g->policy.devices[i];
		uint64_t n = atomic_load_explicit(&s->chan_drops, memory_order_relaxed);
		bool bad = atomic_load_explicit(&s->chan_bad, memory_order_relaxed);
		unsigned nch = atomic_load_explicit(&s->chan_bad_n, memory_order_relaxed);
		unsigned want = atomic_load_explicit(&s->chan_want, memory_order_relaxed);

		if (n <= s->chan_said ||
		    (!final && s->chan_said_ns && now - s->chan_said_ns < RATE_SAY_NS))
			continue;
		if (said == RATE_SAY_MAX) {
			more++;
			continue;
		}
		said++;
		fprintf(stderr,
			"linegate: device %s (id %u): %" PRIu64 " frame%s dropped as "
			"channels%s: %s %u channel%s, the model %.96s was trained on %u for it, "
			"so %s (linegatectl status \"not_scored\"; docs/models.md \"Channel "
			"counts\")\n",
			dev->name, dev->id, n - s->chan_said, n - s->chan_said == 1 ? "" : "s",
			s->chan_said ? " since the last line" : "",
			bad ? "its frames carry" : "its last such frame carried", nch,
			nch == 1 ? "" : "s", ms ? ms->active : "", want,
			bad ? "none of its windows is scored"
			    : "some of its windows were not scored");
		s->chan_said = n;
		s->chan_said_ns = now;
	}
	if (more)
		fprintf(stderr,
			"linegate: %u more devices' frames dropped as channels "
			"(linegatectl status \"not_scored\" lists them)\n",
			more);
}

void lg_dp_rate_watch(struct lg_dp *dp, bool final)
{
	const struct lg_gen *g = atomic_load(&dp->gen);
	const struct lg_modelset *ms = atomic_load(&dp->models);
	uint64_t now = lg_now_ns();
	unsigned said = 0, more = 0;

	for (size_t i = 0; i < g->policy.ndevices; i++) {
		struct lg_dev_state *s = g->state[i];
		const struct lg_policy_device *dev = &g->policy.devices[i];
		uint64_t n = atomic_load_explicit(&s->rate_drops, memory_order_relaxed);
		bool bad = atomic_load_explicit(&s->rate_bad, memory_order_relaxed);
		uint32_t hz = atomic_load_explicit(&s->rate_bad_hz, memory_order_relaxed);
		uint32_t want = atomic_load_explicit(&s->rate_want_hz, memory_order_relaxed);
		bool pol = atomic_load_explicit(&s->rate_want_policy, memory_order_relaxed);
		char wants[160];

		if (n <= s->rate_said ||
		    (!final && s->rate_said_ns && now - s->rate_said_ns < RATE_SAY_NS))
			continue;
		if (said == RATE_SAY_MAX) {
			more++;
			continue;
		}
		said++;
		if (pol)
			snprintf(wants, sizeof(wants), "its sample_rate in the policy is %u Hz",
				 want);
		else
			snprintf(wants, sizeof(wants), "the model %.96s reads %u Hz",
				 ms ? ms->active : "", want);
		fprintf(stderr,
			"linegate: device %s (id %u): %" PRIu64 " frame%s dropped as "
			"sample_rate%s: %s at %u Hz, %s, so %s (linegatectl status "
			"\"not_scored\"; docs/models.md \"Sample rates\")\n",
			dev->name, dev->id, n - s->rate_said, n - s->rate_said == 1 ? "" : "s",
			s->rate_said ? " since the last line" : "",
			bad ? "its frames come" : "its last such frame came", hz, wants,
			bad ? "none of its windows is scored"
			    : "some of its windows were not scored");
		s->rate_said = n;
		s->rate_said_ns = now;
	}
	if (more)
		fprintf(stderr,
			"linegate: %u more devices' frames dropped as sample_rate "
			"(linegatectl status \"not_scored\" lists them)\n",
			more);
	chan_watch(dp, final);
}

/* A "not_scored" entry: the device and why. */
static json_object *not_scored(const struct lg_policy_device *dev, const char *reason)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_uint64(dev->id));
	json_object_object_add(o, "name", json_object_new_string(dev->name));
	json_object_object_add(o, "reason", json_object_new_string(reason));
	return o;
}

json_object *lg_dp_rate_json(const struct lg_gen *g)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < g->policy.ndevices; i++) {
		struct lg_dev_state *s = g->state[i];
		json_object *o;

		if (g->policy.devices[i].unscored) {
			/* score: false: never silently unscored (trial s19 C M3) */
			o = not_scored(&g->policy.devices[i], "policy");
			json_object_object_add(o, "windows_unscored",
					       json_object_new_uint64(atomic_load_explicit(
						   &s->windows_unscored, memory_order_relaxed)));
			json_object_array_add(a, o);
			continue;
		}
		if (!atomic_load_explicit(&s->rate_bad, memory_order_relaxed))
			continue;
		o = not_scored(&g->policy.devices[i], "sample_rate");
		json_object_object_add(o, "frame_rate_hz",
				       json_object_new_uint64(atomic_load_explicit(
					   &s->rate_bad_hz, memory_order_relaxed)));
		json_object_object_add(o, "want_rate_hz",
				       json_object_new_uint64(atomic_load_explicit(
					   &s->rate_want_hz, memory_order_relaxed)));
		json_object_object_add(
		    o, "want_from",
		    json_object_new_string(
			atomic_load_explicit(&s->rate_want_policy, memory_order_relaxed)
			    ? "policy"
			    : "model"));
		/* the frames of this mismatch, not of another before it */
		json_object_object_add(o, "frames_dropped",
				       json_object_new_uint64(atomic_load_explicit(
					   &s->rate_run, memory_order_relaxed)));
		json_object_array_add(a, o);
	}
	for (size_t i = 0; i < g->policy.ndevices; i++) {
		struct lg_dev_state *s = g->state[i];
		json_object *o;

		if (g->policy.devices[i].unscored ||
		    !atomic_load_explicit(&s->chan_bad, memory_order_relaxed))
			continue;
		o = not_scored(&g->policy.devices[i], "channels");
		json_object_object_add(o, "frame_channels",
				       json_object_new_uint64(atomic_load_explicit(
					   &s->chan_bad_n, memory_order_relaxed)));
		json_object_object_add(o, "want_channels",
				       json_object_new_uint64(atomic_load_explicit(
					   &s->chan_want, memory_order_relaxed)));
		json_object_object_add(o, "frames_dropped",
				       json_object_new_uint64(atomic_load_explicit(
					   &s->chan_run, memory_order_relaxed)));
		json_object_array_add(a, o);
	}
	return a;
}
