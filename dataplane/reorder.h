/* SPDX-License-Identifier: MIT */
/*
 * The reorder stage: a device's frames enter its feature window in sequence order, whichever
 * queue or worker received them (docs/architecture.md, "In sequence order").
 *
 * A frame whose tag verified and that the replay window would take is compared with its
 * device's next expected sequence. Equal (the normal case): it goes on, at the price of that
 * one compare. Ahead (by less than the replay window; one further goes on at once): its owner
 * worker holds a copy in a small pool (the replay window is not advanced for it yet) until the gap before it fills, its hold time ends or the pool is full;
 * then the gap is declared lost (counted as the device's missing frames) and the held frames
 * go on in order. Behind (its gap was declared lost): the frame is dropped as late.
 *
 * The pool is the worker's, written only by it. A held frame is judged again when it is
 * released (lg_worker_handle(): key, replay and order again; not its tag, checked when it
 * was held, the pool's copy the worker's own since: lg_worker.releasing), so that
 * everything the verify stage does after the check (replay commit, window, recording)
 * happens in order, once.
 */
#ifndef LG_REORDER_H
#define LG_REORDER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <linegate/backend.h>
#include <linegate/replay.h>

#define LG_REORDER_SLOTS 256	/* frames a worker holds at most */
#define LG_REORDER_MAX 9216	/* bytes of payload a held frame may have (LG_HANDOFF_MAX) */
#define LG_REORDER_HOLD_US 4000 /* default hold time: above the 2 ms handoff poll of dpdk */
/* A timed-out hold waits for the other workers to catch up (lg_worker_gap_may_close()), but
 * never longer than this after the frame was held. */
#define LG_REORDER_HOLD_MAX_NS 100000000ull

/*
 * A device's place in its sequence, written only by its owner worker. next == 0: no frame
 * delivered yet (sequences start at 1): the sequence starts with the first frame delivered.
 * The counters are read by the metrics (relaxed loads).
 */
struct lg_seq_order {
	uint64_t next; /* the sequence the window expects next; 0 = not started */
	uint32_t held; /* frames of the device in its owner's pool */
	bool ended;    /* 2^64 - 1 was delivered: every later frame is late */
	/* gaps declared lost: sequences never delivered; frames held and released; jumps of the
	 * sender's numbering (a gap wider than LG_SEQ_JUMP: not counted in missing) */
	_Atomic uint64_t missing, reordered, jumps;
};

/*
 * A gap of more than this many sequence numbers is taken for a jump of the sender's own
 * numbering, not for frames lost: a reboot under the boot-counter scheme of
 * docs/wire-format.md (boot_count << 32 | n) skips about 2^32, a frame at 2^64 - 1 skips
 * the rest of the range. It is counted once in jumps, not as missing frames. 2^24 frames
 * are 46 hours of a device sending 100 frames a second, 28 minutes at 10 000.
 */
#define LG_SEQ_JUMP (1ull << 24)

/* o's window goes on at seq to, above its next: the sequences skipped are missing, or one
 * jump (LG_SEQ_JUMP). Nothing is missing before the first. */
static inline void lg_order_skip(struct lg_seq_order *o, uint64_t to)
{
	if (!o->next || to <= o->next)
		return;
	if (to - o->next > LG_SEQ_JUMP)
		atomic_fetch_add_explicit(&o->jumps, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&o->missing, to - o->next, memory_order_relaxed);
}

enum lg_order { LG_ORDER_IN, LG_ORDER_AHEAD, LG_ORDER_LATE };

/*
 * Where seq stands against o. Not started: seq 1 is in order (the first a sender sends),
 * any other is ahead when frames may be held (hold), else in order (it starts the sequence).
 */
static inline enum lg_order lg_order_check(const struct lg_seq_order *o, uint64_t seq, bool hold)
{
	if (__builtin_expect(seq == o->next, 1))
		return LG_ORDER_IN;
	if (o->ended)
		return LG_ORDER_LATE;
	if (!o->next)
		return seq == 1 || !hold ? LG_ORDER_IN : LG_ORDER_AHEAD;
	return seq < o->next ? LG_ORDER_LATE : LG_ORDER_AHEAD;
}

/*
 * Whether a frame ahead (LG_ORDER_AHEAD) may be held, or goes on at once with the gap
 * before it lost. On one path (one_path: frames overtake each other only in the network,
 * which swaps neighbours) not when it is a replay window or more ahead: that is a jump, and
 * the frames of the gap are below the window behind it, too old whenever they come (trial
 * X1, s26: 2^64 - 1 after 300, then 301.. in the same burst, were taken in order while it
 * waited, refused a burst later); nor a device's first frame, which no earlier frame can
 * come before by another path (trial X3, s27: 2^64 - 1 then 1..16 as first frames, admitted
 * or refused by the pace, against architecture.md "The start"). Where frames take two paths
 * (queues of afxdp and dpdk with several workers) a queue can run that far ahead of another
 * (a replay merging three queues of 400-frame blocks under ASan: 1024 ahead, and 1004
 * frames of the others refused as late when it was not held), so there it is held.
 */
static inline bool lg_order_may_hold(const struct lg_seq_order *o, uint64_t seq, bool one_path)
{
	if (!one_path)
		return true;
	return o->next && seq - o->next < LG_REPLAY_WINDOW;
}

/* seq (LG_ORDER_IN, or ahead with the gap before it given up) goes into the window: the
 * sequences skipped count as missing, or as a jump (lg_order_skip()). */
static inline void lg_order_deliver(struct lg_seq_order *o, uint64_t seq)
{
	lg_order_skip(o, seq);
	o->next = seq + 1;
	if (!o->next)
		o->ended = true;
}

struct lg_reorder_slot {
	struct lg_seq_order *o;
	uint64_t seq;
	uint64_t deadline_ns;
	uint64_t held_ns;
	const void *gen;      /* the generation it was judged under (struct lg_gen) */
	struct lg_rx_pkt pkt; /* pkt.data points at buf */
	uint8_t *buf;
	unsigned src;	      /* the queue (worker) it was received on (lg_reorder.src) */
	/* reordered when released: the device's sequence had started when it was held (a gap
	 * was before it), or a lower one came after it (overtaken). A first frame after a start
	 * that is not 1 waits its hold time for an earlier one, but nothing before it is
	 * missing: released in order, it was not reordered (trial P, s22: every restart with a
	 * state folder counted 2 reordered a device, its frames in order) */
	bool started, overtaken;
};

struct lg_reorder {
	struct lg_reorder_slot *slot; /* n held, unordered */
	unsigned n, cap;
	uint8_t **free_buf; /* cap + 1 buffers: one may be in use by the frame being released */
	unsigned nfree;
	uint8_t *bufs;
	uint64_t first_deadline; /* the earliest slot's; UINT64_MAX when none */
	uint64_t first_held_ns;  /* when that slot's frame was held */
	bool pending;		 /* a device's next may now be held: look */
	/* Set by the worker before it judges a frame: the queue (worker) that received it,
	 * its own or the one that handed it over; held frames keep it (a replay that merges
	 * queues: lg_reorder_sources(), worker.c merge_turn()). */
	unsigned src;
};

/* cap frames (0: LG_REORDER_SLOTS). 0 or -ENOMEM. */
int lg_reorder_init(struct lg_reorder *r, unsigned cap);
void lg_reorder_free(struct lg_reorder *r);
/* Hold a copy of pkt as o's frame seq until now + hold_ns. false: no room, or too large. */
bool lg_reorder_hold(struct lg_reorder *r, struct lg_seq_order *o, uint64_t seq,
		     const struct lg_rx_pkt *pkt, const void *gen, uint64_t now, uint64_t hold_ns);
/*
 * The next frame to release, taken out of the pool (its buffer stays valid until
 * lg_reorder_done()), or false. A frame is released when it is its device's next; when none
 * is and the pool is full, a hold has timed out by now, or force (a new generation, the end),
 * the oldest held frame's device gives up its gap: its lowest held frame becomes its next.
 */
bool lg_reorder_take(struct lg_reorder *r, uint64_t now, bool force, struct lg_reorder_slot *out);
void lg_reorder_done(struct lg_reorder *r, struct lg_reorder_slot *s);
/* The device of the hold that is due first; NULL when nothing is held. */
struct lg_seq_order *lg_reorder_oldest(const struct lg_reorder *r);
/* The sources (bit src, for src < 64) of o's held frames. */
uint64_t lg_reorder_sources(const struct lg_reorder *r, const struct lg_seq_order *o);
/* o gives up the gap before its lowest held frame (counted missing); that frame may go on
 * at the next lg_reorder_take(). o must hold a frame. */
void lg_reorder_give_up(struct lg_reorder *r, struct lg_seq_order *o);
/* o's held frames are due now: their gap is given up at the next look (one path). */
void lg_reorder_expire(struct lg_reorder *r, const struct lg_seq_order *o, uint64_t now);
/* Device o's frame seq came after its held frames above seq: they were overtaken. */
void lg_reorder_overtaken(struct lg_reorder *r, const struct lg_seq_order *o, uint64_t seq);
/* Whether lg_reorder_take() has something to do (a cheap test for the worker's loop). */
static inline bool lg_reorder_due(const struct lg_reorder *r, uint64_t now)
{
	return r->n && (r->pending || r->n >= r->cap || now >= r->first_deadline);
}

#endif /* LG_REORDER_H */
