// SPDX-License-Identifier: MIT
/*
 * Devices the model cannot score because their frames come at another sample rate (or with
 * another channel count than their detector was trained on): said in
 * the log and in status, not only counted (dataplane.h, lg_dp_rate_watch()). The workers
 * keep the facts in the device's state (verify.c); the control thread reads them, so the
 * hot path never prints.
 */
#include "dataplane.h"
#include "scorer.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>

#define RATE_SAY_NS (60ull * 1000000000ull) /* a device's next line at most a minute on */
#define RATE_SAY_MAX 8			    /* device lines a round; the rest summed up */

/*
 * One line per device whose authentic frames were dropped as sample_rate (chan false) or
 * channels (chan true) since its last line, at most a line a minute per device and
 * RATE_SAY_MAX devices a round (the rest summed up); final: every one now, at the end.
 */
static void say_drops(struct lg_dp *dp, bool final, bool chan)
{
	const struct lg_gen *g = atomic_load(&dp->gen);
	const struct lg_modelset *ms = atomic_load(&dp->models);
	const char *reason = chan ? "channels" : "sample_rate";
	uint64_t now = lg_now_ns();
	unsigned said = 0, more = 0;

	for (size_t i = 0; i < g->policy.ndevices; i++) {
		struct lg_dev_state *s = g->state[i];
		const struct lg_policy_device *dev = &g->policy.devices[i];
		struct lg_mismatch *m = chan ? &s->chan : &s->rate;
		uint64_t n = atomic_load_explicit(&m->drops, memory_order_relaxed);
		uint64_t *said_n = &m->said, *said_ns = &m->said_ns;
		bool bad = atomic_load_explicit(&m->bad, memory_order_relaxed);
		uint32_t got = atomic_load_explicit(&m->got, memory_order_relaxed);
		uint32_t want = atomic_load_explicit(&m->want, memory_order_relaxed);
		char what[320];

		if (n <= *said_n || (!final && *said_ns && now - *said_ns < RATE_SAY_NS))
			continue;
		if (said == RATE_SAY_MAX) {
			more++;
			continue;
		}
		said++;
		if (chan) {
			snprintf(what, sizeof(what),
				 "%s %u channel%s, the model %.96s was trained on %u for it",
				 bad ? "its frames carry" : "its last such frame carried",
				 (unsigned)got, got == 1 ? "" : "s", ms ? ms->active : "",
				 (unsigned)want);
		} else {
			char wants[160];

			if (atomic_load_explicit(&m->from_policy, memory_order_relaxed))
				snprintf(wants, sizeof(wants), "its sample_rate in the policy is %u Hz",
					 want);
			else
				snprintf(wants, sizeof(wants), "the model %.96s reads %u Hz",
					 ms ? ms->active : "", want);
			snprintf(what, sizeof(what), "%s at %u Hz, %s",
				 bad ? "its frames come" : "its last such frame came",
				 (unsigned)got, wants);
		}
		fprintf(stderr,
			"linegate: device %s (id %u): %" PRIu64 " frame%s dropped as %s%s: %s, so %s "
			"(linegatectl status \"not_scored\"; docs/models.md \"%s\")\n",
			dev->name, dev->id, n - *said_n, n - *said_n == 1 ? "" : "s", reason,
			*said_n ? " since the last line" : "", what,
			bad ? "none of its windows is scored" : "some of its windows were not scored",
			chan ? "Channel counts" : "Sample rates");
		*said_n = n;
		*said_ns = now;
	}
	if (more)
		fprintf(stderr,
			"linegate: %u more devices' frames dropped as %s (linegatectl status "
			"\"not_scored\" lists them)\n",
			more, reason);
}

void lg_dp_rate_watch(struct lg_dp *dp, bool final)
{
	say_drops(dp, final, false);
	say_drops(dp, final, true);
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

/* The entry of a device whose newest frame was dropped as m's reason: its value (got_key),
 * the one wanted (want_key; with where it came from for sample_rate) and the frames of this
 * run, not of another mismatch before it. */
static json_object *mismatch_entry(const struct lg_policy_device *dev, const char *reason,
				   const struct lg_mismatch *m, const char *got_key,
				   const char *want_key, bool say_from)
{
	json_object *o = not_scored(dev, reason);

	json_object_object_add(
	    o, got_key,
	    json_object_new_uint64(atomic_load_explicit(&m->got, memory_order_relaxed)));
	json_object_object_add(
	    o, want_key,
	    json_object_new_uint64(atomic_load_explicit(&m->want, memory_order_relaxed)));
	if (say_from)
		json_object_object_add(
		    o, "want_from",
		    json_object_new_string(
			atomic_load_explicit(&m->from_policy, memory_order_relaxed) ? "policy"
										    : "model"));
	json_object_object_add(
	    o, "frames_dropped",
	    json_object_new_uint64(atomic_load_explicit(&m->run, memory_order_relaxed)));
	return o;
}

/*
 * Whether m's mismatch is the running policy's and model's: what the frames were refused by
 * (the policy's sample_rate, or the model's rate or channel count for the device) is still
 * what would refuse them. After a model or policy change that wants another value, the next
 * frame decides; until then the device is not listed as refused by what no longer runs
 * (trial L, s22: "the model reads 25600 Hz" stayed after the 12800 Hz model came back).
 */
static bool mismatch_current(const struct lg_policy_device *dev, const struct lg_mismatch *m,
			     bool chan, const struct lg_modelset *ms)
{
	uint32_t want = atomic_load_explicit(&m->want, memory_order_relaxed);
	const struct lg_scorer *sc = ms ? ms->sc[0] : NULL;
	int det;

	if (!chan && atomic_load_explicit(&m->from_policy, memory_order_relaxed))
		return dev->sample_rate == want;
	if (!sc)
		return true; /* nothing to compare with */
	det = lg_scorer_device(sc, dev->name);
	if (chan)
		return lg_scorer_channels(sc, det) == want;
	return !dev->sample_rate && (uint32_t)(lg_scorer_rate(sc, det) + 0.5) == want;
}

json_object *lg_dp_rate_json(const struct lg_gen *g, const struct lg_modelset *ms)
{
	json_object *a = json_object_new_array();

	/* every sample_rate entry (and score: false) first, then every channels one */
	for (int chan = 0; chan < 2; chan++) {
		for (size_t i = 0; i < g->policy.ndevices; i++) {
			const struct lg_policy_device *dev = &g->policy.devices[i];
			struct lg_dev_state *s = g->state[i];
			const struct lg_mismatch *m = chan ? &s->chan : &s->rate;

			if (dev->unscored) {
				/* score: false: never silently unscored (trial s19 C M3) */
				json_object *o;

				if (chan)
					continue;
				o = not_scored(dev, "policy");
				json_object_object_add(
				    o, "windows_unscored",
				    json_object_new_uint64(atomic_load_explicit(
					&s->windows_unscored, memory_order_relaxed)));
				json_object_array_add(a, o);
				continue;
			}
			if (!atomic_load_explicit(&m->bad, memory_order_relaxed) ||
			    !mismatch_current(dev, m, chan, ms))
				continue;
			json_object_array_add(
			    a, chan ? mismatch_entry(dev, "channels", m, "frame_channels",
						     "want_channels", false)
				    : mismatch_entry(dev, "sample_rate", m, "frame_rate_hz",
						     "want_rate_hz", true));
		}
	}
	return a;
}
