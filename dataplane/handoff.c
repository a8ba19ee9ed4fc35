// SPDX-License-Identifier: MIT
/* Handoff rings between workers (handoff.h). */
#include "handoff.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

int lg_handoff_init(struct lg_handoff *h)
{
	h->slots = calloc(LG_HANDOFF_SLOTS, sizeof(*h->slots));
	if (!h->slots)
		return -ENOMEM;
	for (uint64_t i = 0; i < LG_HANDOFF_SLOTS; i++)
		atomic_init(&h->slots[i].seq, i);
	atomic_init(&h->tail, 0);
	h->head = 0;
	return 0;
}

void lg_handoff_free(struct lg_handoff *h)
{
	free(h->slots);
	h->slots = NULL;
}

bool lg_handoff_push_from(struct lg_handoff *h, const struct lg_rx_pkt *pkt, unsigned from)
{
	uint64_t pos = atomic_load_explicit(&h->tail, memory_order_relaxed);
	struct lg_handoff_slot *s;

	if (pkt->len > LG_HANDOFF_MAX || !h->slots)
		return false;
	for (;;) {
		int64_t dif;

		s = &h->slots[pos & (LG_HANDOFF_SLOTS - 1)];
		/* Acquire: the consumer's reads of this slot are done before we overwrite it. */
		dif = (int64_t)(atomic_load_explicit(&s->seq, memory_order_acquire) - pos);
		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(&h->tail, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		} else if (dif < 0) {
			return false; /* full: the slot still holds a packet a lap behind */
		} else {
			pos = atomic_load_explicit(&h->tail, memory_order_relaxed);
		}
	}
	s->from = from;
	s->pkt = *pkt;
	memcpy(s->data, pkt->data, pkt->len);
	s->pkt.data = s->data;
	s->pkt.l2_off = 0; /* only the payload is copied: a recording synthesizes its headers */
	/* Release: the consumer sees the bytes before it sees the slot as filled. */
	atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
	/* The owner may be waiting for frames with a long timeout: wake it (wake.h; the fence
	 * costs nothing beside the copy above, and steering makes handoffs rare). */
	if (h->wake)
		lg_wake_after_push(h->wake);
	return true;
}

const struct lg_rx_pkt *lg_handoff_peek(struct lg_handoff *h)
{
	struct lg_handoff_slot *s;

	if (!h->slots)
		return NULL;
	s = &h->slots[h->head & (LG_HANDOFF_SLOTS - 1)];
	if (atomic_load_explicit(&s->seq, memory_order_acquire) != h->head + 1)
		return NULL;
	return &s->pkt;
}

unsigned lg_handoff_from(const struct lg_rx_pkt *pkt)
{
	const struct lg_handoff_slot *s =
		(const struct lg_handoff_slot *)((const char *)pkt -
						 offsetof(struct lg_handoff_slot, pkt));

	return s->from;
}

void lg_handoff_pop(struct lg_handoff *h)
{
	struct lg_handoff_slot *s = &h->slots[h->head & (LG_HANDOFF_SLOTS - 1)];

	atomic_store_explicit(&s->seq, h->head + LG_HANDOFF_SLOTS, memory_order_release);
	h->head++;
}
