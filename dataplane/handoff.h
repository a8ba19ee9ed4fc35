/* SPDX-License-Identifier: MIT */
/*
 * Handoff between workers: one device, one replay window and one feature window, whichever
 * queue receives its frames. A frame that reaches a worker other than its device's owner is
 * copied into the owner's handoff ring and judged there. Each worker has one inbound ring
 * that every other worker may push to: a bounded multi-producer single-consumer queue with
 * a sequence number per slot (D. Vyukov's bounded queue), so producers never lock and the
 * consumer reads a slot in place. Steering (the reuseport selector of the uring backend)
 * keeps this path for the frames that steering cannot place.
 */
#ifndef LG_HANDOFF_H
#define LG_HANDOFF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <linegate/backend.h>

#include "wake.h"

#define LG_HANDOFF_SLOTS 256  /* per worker, a power of two */
#define LG_HANDOFF_MAX 9216   /* bytes of UDP payload a slot holds (the uring buffer size) */

struct lg_handoff_slot {
	_Atomic uint64_t seq;
	unsigned from;	      /* the worker that pushed it (LG_HANDOFF_FROM_NONE: another) */
	struct lg_rx_pkt pkt; /* pkt.data points at data */
	uint8_t data[LG_HANDOFF_MAX];
};

struct lg_handoff {
	_Alignas(64) _Atomic uint64_t tail; /* producers claim slots here */
	_Alignas(64) uint64_t head;         /* the owner's next slot */
	struct lg_handoff_slot *slots;
	struct lg_wake *wake; /* the owner's, when its backend can wait on it; NULL = none */
};

int lg_handoff_init(struct lg_handoff *h);
void lg_handoff_free(struct lg_handoff *h);
#define LG_HANDOFF_FROM_NONE 0xffffu /* pushed by no worker (the MQTT input) */

/* Copy pkt in, pushed by worker from; false when the ring is full (or the payload does not
 * fit a slot). One producer's packets come out in the order it pushed them. */
bool lg_handoff_push_from(struct lg_handoff *h, const struct lg_rx_pkt *pkt, unsigned from);
static inline bool lg_handoff_push(struct lg_handoff *h, const struct lg_rx_pkt *pkt)
{
	return lg_handoff_push_from(h, pkt, LG_HANDOFF_FROM_NONE);
}
/* The oldest handed-over packet, valid until lg_handoff_pop(); NULL when empty. */
const struct lg_rx_pkt *lg_handoff_peek(struct lg_handoff *h);
/* Who pushed pkt, a packet lg_handoff_peek() returned. */
unsigned lg_handoff_from(const struct lg_rx_pkt *pkt);
void lg_handoff_pop(struct lg_handoff *h);

#endif /* LG_HANDOFF_H */
