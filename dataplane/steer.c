// SPDX-License-Identifier: MIT
/* The steering stage: a frame of a device another worker owns goes to that worker's handoff
 * ring (docs/architecture.md, "One device, one window"). */
#include "dataplane.h"
#include "stages.h"

/*
 * The frame belongs to a device another worker owns: copy it into that worker's ring (it
 * judges and counts it), or count it here as lost when the ring is full. A finite stream
 * (a replay) waits for room instead, judging what is handed to this worker meanwhile so
 * that two workers waiting on each other still move.
 */
enum lg_reason lg_steer_handoff(struct lg_worker *w, unsigned owner, const struct lg_rx_pkt *pkt)
{
	struct lg_dp *dp = w->dp;

	while (!lg_handoff_push_from(&dp->workers[owner].in, pkt, w->id)) {
		if (!dp->handoff_wait || pkt->len > LG_HANDOFF_MAX)
			return LG_DROP_HANDOFF_FULL;
		/* A replay stopping (a signal): read, never judged, as the backend's own */
		if (atomic_load_explicit(&dp->stop, memory_order_relaxed))
			return LG_DROP_STOP_UNREAD;
		lg_worker_drain_handoff(w, atomic_load_explicit(&dp->gen, memory_order_acquire));
	}
	atomic_fetch_add_explicit(&w->st.handed_off, 1, memory_order_relaxed);
	return LG_HANDED_OFF;
}

unsigned lg_dev_owner(const struct lg_policy_device *d, unsigned n)
{
	uint32_t h;

	if (!d->uadp_pub_type)
		return lg_steer_lgf(d->id, n);
	/* FNV-1a over the publisher and the writer group: every DataSetMessage of one
	 * NetworkMessage has them, whichever writer it comes from. */
	h = 2166136261u ^ d->uadp_pub_type;
	h *= 16777619u;
	if (d->uadp_pub_type - 1 == LG_ADMIT_UADP_PUBID_NONE) {
		/* No PublisherId: the source address stands in for it, as in the key. */
		for (size_t i = 0; i < sizeof(d->addr); i++)
			h = (h ^ d->addr[i]) * 16777619u;
	} else if (d->uadp_pub_type - 1 == LG_UADP_PUBID_STRING) {
		for (const char *c = d->uadp_pub_str; *c; c++)
			h = (h ^ (uint8_t)*c) * 16777619u;
	} else {
		for (int i = 0; i < 8; i++)
			h = (h ^ (uint8_t)(d->uadp_pub_num >> (8 * i))) * 16777619u;
	}
	h = (h ^ (d->uadp_writer_group & 0xff)) * 16777619u;
	h = (h ^ (d->uadp_writer_group >> 8)) * 16777619u;
	return h % n;
}
