// SPDX-License-Identifier: MIT
/* The reorder stage's pool (reorder.h): a worker's held frames, a linear array. It is scanned
 * only while it holds something, which the in-order path never makes it do. */
#include "dataplane.h"
#include "reorder.h"
#include "stages.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int lg_reorder_init(struct lg_reorder *r, unsigned cap)
{
	memset(r, 0, sizeof(*r));
	r->cap = cap ? cap : LG_REORDER_SLOTS;
	r->slot = calloc(r->cap, sizeof(*r->slot));
	r->free_buf = calloc(r->cap + 1, sizeof(*r->free_buf));
	/* Untouched until a frame is held: pages that are never written cost no memory. */
	r->bufs = malloc((size_t)(r->cap + 1) * LG_REORDER_MAX);
	if (!r->slot || !r->free_buf || !r->bufs) {
		lg_reorder_free(r);
		return -ENOMEM;
	}
	for (unsigned i = 0; i <= r->cap; i++)
		r->free_buf[r->nfree++] = r->bufs + (size_t)i * LG_REORDER_MAX;
	r->first_deadline = UINT64_MAX;
	return 0;
}

void lg_reorder_free(struct lg_reorder *r)
{
	if (!r)
		return;
	free(r->slot);
	free(r->free_buf);
	free(r->bufs);
	r->slot = NULL;
	r->free_buf = NULL;
	r->bufs = NULL;
	r->n = r->cap = r->nfree = 0;
}

bool lg_reorder_hold(struct lg_reorder *r, struct lg_seq_order *o, uint64_t seq,
		     const struct lg_rx_pkt *pkt, const void *gen, uint64_t now, uint64_t hold_ns)
{
	struct lg_reorder_slot *s;

	if (r->n >= r->cap || !r->nfree || pkt->len > LG_REORDER_MAX)
		return false;
	s = &r->slot[r->n++];
	s->o = o;
	s->seq = seq;
	s->deadline_ns = now + hold_ns;
	s->held_ns = now;
	s->gen = gen;
	s->src = r->src;
	s->started = o->next != 0;
	s->overtaken = false;
	if (!s->started)
		lg_reorder_overtaken(r, o, seq);
	s->buf = r->free_buf[--r->nfree];
	s->pkt = *pkt;
	/* The frame as received where it fits (a recording keeps its Ethernet header: the
	 * line's MACs, tests/e2e/recording.sh "as received"); else the payload alone, and a
	 * recording synthesizes the headers. */
	if (pkt->l2_off && (size_t)pkt->l2_off + pkt->len <= LG_REORDER_MAX) {
		memcpy(s->buf, pkt->data - pkt->l2_off, (size_t)pkt->l2_off + pkt->len);
		s->pkt.data = s->buf + pkt->l2_off;
	} else {
		memcpy(s->buf, pkt->data, pkt->len);
		s->pkt.data = s->buf;
		s->pkt.l2_off = 0;
	}
	if (s->deadline_ns < r->first_deadline) {
		r->first_deadline = s->deadline_ns;
		r->first_held_ns = now;
	}
	o->held++;
	return true;
}

void lg_reorder_done(struct lg_reorder *r, struct lg_reorder_slot *s)
{
	if (s->buf)
		r->free_buf[r->nfree++] = s->buf;
	s->buf = NULL;
}

void lg_reorder_overtaken(struct lg_reorder *r, const struct lg_seq_order *o, uint64_t seq)
{
	for (unsigned i = 0; i < r->n; i++)
		if (r->slot[i].o == o && r->slot[i].seq > seq)
			r->slot[i].overtaken = true;
}

void lg_reorder_expire(struct lg_reorder *r, const struct lg_seq_order *o, uint64_t now)
{
	for (unsigned i = 0; i < r->n; i++)
		if (r->slot[i].o == o && r->slot[i].deadline_ns > now)
			r->slot[i].deadline_ns = now;
	if (now < r->first_deadline) {
		r->first_deadline = now;
		r->first_held_ns = now;
	}
}

/* Take slot i out of the pool into out. */
static void take_slot(struct lg_reorder *r, unsigned i, struct lg_reorder_slot *out)
{
	*out = r->slot[i];
	r->slot[i] = r->slot[--r->n];
	out->o->held--;
	if (out->started || out->overtaken)
		atomic_fetch_add_explicit(&out->o->reordered, 1, memory_order_relaxed);
	r->first_deadline = UINT64_MAX;
	for (unsigned k = 0; k < r->n; k++)
		if (r->slot[k].deadline_ns < r->first_deadline) {
			r->first_deadline = r->slot[k].deadline_ns;
			r->first_held_ns = r->slot[k].held_ns;
		}
}

/* A slot whose frame may go on now: its device's next, or below it (a copy of a frame
 * released before: judged again, it is refused as replayed). */
static int ready_slot(const struct lg_reorder *r)
{
	for (unsigned i = 0; i < r->n; i++) {
		const struct lg_reorder_slot *s = &r->slot[i];

		if (s->o->ended || (s->o->next && s->seq <= s->o->next))
			return (int)i;
	}
	return -1;
}

struct lg_seq_order *lg_reorder_oldest(const struct lg_reorder *r)
{
	unsigned old = 0;

	if (!r->n)
		return NULL;
	for (unsigned i = 1; i < r->n; i++)
		if (r->slot[i].deadline_ns < r->slot[old].deadline_ns)
			old = i;
	return r->slot[old].o;
}

uint64_t lg_reorder_sources(const struct lg_reorder *r, const struct lg_seq_order *o)
{
	uint64_t m = 0;

	for (unsigned i = 0; i < r->n; i++)
		if (r->slot[i].o == o && r->slot[i].src < 64)
			m |= 1ull << r->slot[i].src;
	return m;
}

void lg_reorder_give_up(struct lg_reorder *r, struct lg_seq_order *o)
{
	uint64_t low = UINT64_MAX;
	bool found = false;

	for (unsigned i = 0; i < r->n; i++)
		if (r->slot[i].o == o && r->slot[i].seq <= low) {
			low = r->slot[i].seq;
			found = true;
		}
	if (!found)
		return;
	lg_order_skip(o, low);
	o->next = low;
	r->pending = true;
}

/* The oldest held frame's device gives up the gap before its lowest held frame. */
static void give_up_oldest(struct lg_reorder *r)
{
	lg_reorder_give_up(r, lg_reorder_oldest(r));
}

bool lg_reorder_take(struct lg_reorder *r, uint64_t now, bool force, struct lg_reorder_slot *out)
{
	int i;

	if (!r->n) {
		r->pending = false;
		return false;
	}
	i = ready_slot(r);
	if (i < 0 && (force || r->n >= r->cap || now >= r->first_deadline)) {
		give_up_oldest(r);
		i = ready_slot(r);
	}
	if (i < 0) {
		r->pending = false;
		return false;
	}
	take_slot(r, (unsigned)i, out);
	return true;
}

/* The worker's side: the stage's verdict (stages.h) and the release of held frames. */

bool lg_order_hold(struct lg_worker *w, const struct lg_gen *g, struct lg_seq_order *o,
		   uint64_t seq, const struct lg_rx_pkt *pkt, uint64_t hold_ns, bool one_path)
{
	uint64_t now = lg_worker_hold_clock(w);

	/* One path: the network swaps a frame or two, it does not hold one back for
	 * milliseconds; a second frame ahead while one is held says the gap's frame is lost
	 * (a socket overflow, a cable): the held frames and this one go on at the next look. */
	if (one_path && o->held) {
		lg_reorder_expire(&w->ro, o, now);
		hold_ns = 0;
	}
	return lg_reorder_hold(&w->ro, o, seq, pkt, g, now, hold_ns);
}

enum lg_reason lg_order_slow(struct lg_worker *w, const struct lg_gen *g, struct lg_seq_order *o,
			     uint64_t seq, const struct lg_rx_pkt *pkt, uint64_t hold_ns)
{
	bool hold = hold_ns && w->ro.slot;

	switch (lg_order_check(o, seq, hold)) {
	case LG_ORDER_LATE:
		return LG_DROP_LATE;
	case LG_ORDER_AHEAD:
		if (hold && lg_order_may_hold(o, seq, w->dp->one_path_lgf) &&
		    lg_order_hold(w, g, o, seq, pkt, hold_ns, w->dp->one_path_lgf))
			return LG_HELD;
		/* Never held (--reorder-hold 0), too far ahead, a first frame on one path, or no
		 * room for it: the gap before it is lost now. */
		break;
	case LG_ORDER_IN:
		/* the sequence's first frame while later ones wait: they were overtaken */
		if (!o->next && o->held)
			lg_reorder_overtaken(&w->ro, o, seq);
		break;
	}
	lg_order_deliver(o, seq);
	/* Its successor (or a frame it overtook, now late) may be waiting in the pool. */
	if (o->held)
		w->ro.pending = true;
	return LG_OK;
}

void lg_worker_release_held(struct lg_worker *w, uint64_t now, bool force)
{
	struct lg_reorder_slot s;

	while (lg_reorder_take(&w->ro, now, force, &s)) {
		/* Judged under the generation it was held under: a worker releases everything
		 * (force) before it acknowledges a new one. */
		const struct lg_gen *g = s.gen;

		/* Held only after its tag (or signature) verified, and the bytes are the pool's
		 * own copy since: not checked again (replay and order are). */
		w->releasing = true;
		lg_worker_count(w, lg_worker_handle(w, g, &s.pkt));
		w->releasing = false;
		lg_worker_score_full(w, g);
		lg_reorder_done(&w->ro, &s);
	}
}
