// SPDX-License-Identifier: MIT
/*
 * A device locked out by a flood in its name, said in the log (dataplane.h,
 * lg_dp_flood_watch()). Admission (XDP, or user space for DPDK) counts per device the frames
 * its token bucket refused; the workers count the frames whose tag verified. A device over
 * its rate has verified frames near its rate; one whose verified frames stay well under it
 * while the bucket refuses frames is spending its budget on frames someone else sends with
 * its id from its address (docs/admission.md, "Token bucket"). A replay's rates are on the
 * recording's clock, admission's (docs/replay.md, "Admission"): a file read at full speed
 * holds seconds of the line in a moment of the wall clock.
 */
#include "dataplane.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <lgadmit.h>
#include <linegate/uadmit.h>
#include <stdio.h>
#include <string.h>

#define FLOOD_STEP_NS 1000000000ull	     /* judged a second at a time */
#define FLOOD_SAY_NS (60ull * 1000000000ull) /* a device's next line at most a minute on */

bool lg_flood_suspect(uint64_t rl, uint64_t ok, uint64_t bad, uint64_t ns, uint32_t rate)
{
	/*
	 * Refused as over the rate, while the verified frames came under 90% of it (ok / (ns /
	 * 1e9) < 0.9 rate, without a division or a float) and at least a tenth of what passed
	 * the bucket failed verification: a device over its own rate has no such failures (an
	 * interval that starts or ends mid-stream shows a low verified rate alone).
	 */
	return rl && rate && ns && bad && bad * 10u >= ok + bad &&
	       (unsigned __int128)ok * 10u * 1000000000u < (unsigned __int128)rate * 9u * ns;
}

/* A frame that verified and was dropped after (late, bad_sample, sample_rate, channels,
 * uadp_undecryptable) is the device's; one lost to a full ring or socket may be anyone's:
 * neither is evidence of a forger. */
bool lg_flood_forged_reason(int r)
{
	switch (r) {
	case LG_DROP_LATE:
	case LG_DROP_BAD_SAMPLE:
	case LG_DROP_SAMPLE_RATE:
	case LG_DROP_CHANNELS:
	case LG_DROP_UADP_UNDECRYPTABLE:
	case LG_DROP_SOCKET:
	case LG_DROP_RX_RING_FULL:
	case LG_DROP_NO_BUFFER:
	case LG_DROP_HANDOFF_FULL:
	case LG_DROP_RX_ERROR:
	case LG_DROP_MQTT_QUEUE_FULL:
	case LG_DROP_CAPTURE_TRUNCATED:
		return false;
	default:
		return true;
	}
}

/* Frames the workers refused once they knew them to be the device's id, as not its own. */
static uint64_t refused(struct lg_dev_state *s)
{
	uint64_t n = 0;

	for (int r = 0; r < LG_REASON_MAX; r++)
		if (lg_flood_forged_reason(r))
			n += atomic_load_explicit(&s->drops[r], memory_order_relaxed);
	return n;
}

/* Admission's counters of the device (XDP's, or user space's for DPDK): all 0 and no error
 * for a device it has not seen a frame of yet (-ENOENT); other errors are returned. */
static int admit_counters(struct lg_dp *dp, uint32_t id, struct lg_admit_dev_ctr *c)
{
	int err = -ENOENT;

	memset(c, 0, sizeof(*c));
	if (dp->admit)
		err = lg_admit_read_device(dp->admit, id, c);
	else if (dp->uadmit)
		err = lg_uadmit_read_device(dp->uadmit, id, c);
	if (err == -ENOENT) {
		memset(c, 0, sizeof(*c));
		return 0;
	}
	return err;
}

void lg_dp_flood_watch(struct lg_dp *dp, bool final)
{
	const struct lg_gen *g = atomic_load(&dp->gen);
	uint64_t now;

	if (!g || (!dp->admit && !dp->uadmit))
		return;
	if (dp->replay_clock && dp->uadmit) {
		now = lg_uadmit_clock(dp->uadmit);
		if (!now) /* no record judged yet */
			return;
	} else {
		now = lg_now_ns();
	}
	for (size_t i = 0; i < g->policy.ndevices; i++) {
		const struct lg_policy_device *dev = &g->policy.devices[i];
		struct lg_dev_state *s = g->state[i];
		struct lg_admit_dev_ctr c;
		uint64_t rl, ok, bad, dt;

		/* judged a second at a time: admission's map is read then, not at every turn of
		 * the loop */
		if (!s || !dev->rate ||
		    (s->flood_t0_ns && now - s->flood_t0_ns < FLOOD_STEP_NS && !final) ||
		    admit_counters(dp, dev->id, &c))
			continue;
		rl = c.rate_limited;
		ok = atomic_load_explicit(&s->admitted, memory_order_relaxed);
		bad = refused(s);
		if (!s->flood_t0_ns || rl < s->flood_rl) {
			/* first look, or the counters started afresh (re-enrolled) */
			s->flood_t0_ns = now;
			s->flood_rl = rl;
			s->flood_ok = ok;
			s->flood_bad = bad;
			continue;
		}
		dt = now - s->flood_t0_ns;
		if (lg_flood_suspect(rl - s->flood_rl, ok - s->flood_ok, bad - s->flood_bad, dt,
				     dev->rate)) {
			s->flood_pend_rl += rl - s->flood_rl;
			s->flood_pend_ok += ok - s->flood_ok;
			s->flood_pend_ns += dt;
		}
		s->flood_t0_ns = now;
		s->flood_rl = rl;
		s->flood_ok = ok;
		s->flood_bad = bad;
		if (!s->flood_pend_rl ||
		    (!final && s->flood_said_ns && now - s->flood_said_ns < FLOOD_SAY_NS))
			continue;
		fprintf(stderr,
			"linegate: device %s (id %u): %" PRIu64 " frames over its rate (%u/s) "
			"dropped in %.1f s while its verified frames came at %.1f/s (%" PRIu64
			" bad_tag so far): a flood with its id from its address? Its own frames "
			"are dropped with the flood's (docs/admission.md \"Token bucket\")\n",
			dev->name, dev->id, s->flood_pend_rl, dev->rate,
			(double)s->flood_pend_ns / 1e9,
			(double)s->flood_pend_ok * 1e9 / (double)s->flood_pend_ns,
			atomic_load_explicit(&s->drops[LG_DROP_BAD_TAG], memory_order_relaxed));
		s->flood_said_ns = now;
		s->flood_pend_rl = s->flood_pend_ok = s->flood_pend_ns = 0;
	}
}

/* Refused as a replay of the device by its workers (replayed, too_old), and by admission
 * (*x: its drops of the device but those over its rate: its replay pre-check, or a frame
 * from another address; 0 without admission). */
static uint64_t replay_refused(struct lg_dp *dp, uint32_t id, struct lg_dev_state *s,
			       uint64_t *x)
{
	struct lg_admit_dev_ctr c;

	*x = 0;
	if (!admit_counters(dp, id, &c))
		*x = c.dropped - c.rate_limited;
	return atomic_load_explicit(&s->drops[LG_DROP_REPLAYED], memory_order_relaxed) +
	       atomic_load_explicit(&s->drops[LG_DROP_TOO_OLD], memory_order_relaxed);
}

/*
 * Trial M, s22: a device that followed the docs' old "starts at 1" after a key rotation had
 * every frame refused as a replay, through the grace and after it; the counters said so, but
 * nothing named the device. A look every 500 ms adds the refusals since the last look, from
 * the last look that saw an admitted frame on; a look without new refusals still says a
 * lockout that is due (trial P, s22: one burst was never said in the log).
 */
void lg_dp_lockout_watch(struct lg_dp *dp, bool final)
{
	const struct lg_gen *g = atomic_load(&dp->gen);
	uint64_t now = lg_now_ns();

	if (!g || (!final && now - dp->lockout_look_ns < 500000000ull))
		return;
	dp->lockout_look_ns = now;
	for (size_t i = 0; i < g->policy.ndevices; i++) {
		const struct lg_policy_device *dev = &g->policy.devices[i];
		struct lg_dev_state *s = g->state[i];
		uint64_t ok, wbad, xbad, d = 0;

		if (!s)
			continue;
		ok = atomic_load_explicit(&s->admitted, memory_order_relaxed);
		wbad = replay_refused(dp, dev->id, s, &xbad);
		if (s->lock_seen) {
			/* counters that went down started again (a device enrolled anew) */
			d = (wbad >= s->lock_wbad ? wbad - s->lock_wbad : wbad) +
			    (xbad >= s->lock_xbad ? xbad - s->lock_xbad : xbad);
			if (ok != s->lock_ok) {
				/* a frame admitted since the last look: no lockout. Refusals of the
				 * same half second are not counted, whether they came before or
				 * after it (counters tell no order): a replay during traffic is no
				 * lockout, and a device locked out goes on sending, so its next
				 * half second shows it */
				s->lock_first_ns = s->lock_refused = 0;
			} else if (d) {
				if (!s->lock_first_ns)
					s->lock_first_ns = now;
				s->lock_refused += d;
			}
		}
		s->lock_seen = true;
		s->lock_ok = ok;
		s->lock_wbad = wbad;
		s->lock_xbad = xbad;
		if (!s->lock_first_ns || now - s->lock_first_ns < LG_LOCKOUT_NS ||
		    (!final && s->lock_said_ns && now - s->lock_said_ns < FLOOD_SAY_NS) ||
		    (s->lock_said_ns >= s->lock_first_ns && !d && !final))
			continue;
		fprintf(stderr,
			"linegate: device %s (id %u): none of its frames admitted for %.0f s, %" PRIu64
			" refused as replays of it (by its replay window, or by admission: as "
			"replays, or from another address): a device that started its sequence "
			"again (a reboot without its stored sequence, a new key from 1) stays "
			"refused until its numbers pass its mark, or its old keys are pruned "
			"(docs/wire-format.md \"Sequence numbers\")\n",
			dev->name, dev->id, (double)(now - s->lock_first_ns) / 1e9, s->lock_refused);
		s->lock_said_ns = now;
	}
}

json_object *lg_dp_lockout_json(const struct lg_gen *g)
{
	json_object *a = json_object_new_array();
	uint64_t now = lg_now_ns();

	for (size_t i = 0; g && i < g->policy.ndevices; i++) {
		const struct lg_dev_state *s = g->state[i];
		json_object *o;

		if (!s || !s->lock_first_ns || now - s->lock_first_ns < LG_LOCKOUT_NS)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_uint64(g->policy.devices[i].id));
		json_object_object_add(o, "name",
				       json_object_new_string(g->policy.devices[i].name));
		json_object_object_add(o, "refused", json_object_new_uint64(s->lock_refused));
		json_object_object_add(
		    o, "seconds", json_object_new_double((double)(now - s->lock_first_ns) / 1e9));
		json_object_array_add(a, o);
	}
	return a;
}
