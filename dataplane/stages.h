/* SPDX-License-Identifier: MIT */
/*
 * The stages of a worker's frame path, one file each, called from the loop in worker.c:
 *
 *	verify.c   lg_worker_handle(): identity, source, key, tag, replay window
 *	steer.c    a frame of a device another worker owns goes to that worker
 *	reorder.c  a verified frame ahead of its device's sequence waits for the gap to fill
 *	window.c   samples into the device's window; a full window -> feature rows
 *	score.c    full batches through the model -> events for the output thread, each row
 *	           then to its device's incident state machine (incident.c)
 */
#ifndef LG_STAGES_H
#define LG_STAGES_H

#include "dataplane.h"

/* verify.c: a device's ring of remembered MessageNonces (replay: nonce; s->nonces allocated
 * with LG_NONCE_RING entries). check: LG_DROP_TOO_OLD for a timestamp at or below the oldest
 * remembered one once the ring is full, LG_DROP_REPLAYED for a nonce remembered, else LG_OK;
 * commit: remember an accepted one, forgetting the oldest. bench/uadp_bench times them. */
enum lg_reason lg_nonce_ring_check(const struct lg_dev_state *s, uint64_t nonce, int64_t ts);
void lg_nonce_ring_commit(struct lg_dev_state *s, uint64_t nonce, int64_t ts);

/* verify.c: the UADP routing table's order (generation.c sorts, verify.c searches). */
int lg_uadp_route_cmp(const void *a, const void *b);

/* steer.c: hand pkt to worker owner; LG_HANDED_OFF, or LG_DROP_HANDOFF_FULL. */
enum lg_reason lg_steer_handoff(struct lg_worker *w, unsigned owner, const struct lg_rx_pkt *pkt);

/* Bad samples (issue 8): lg_sample_bounds(), lg_sample_bad(), lg_sample_mask_run() are in
 * linegate/policy.h, one rule for the data plane and the tools that read recordings. */

/* window.c */
int lg_window_ready(struct lg_dev_state *s, unsigned channels, uint32_t win);
/* One time step of a UADP message; ts_ns: the message's Timestamp (ns since 1970), the
 * window's time on the sender's clock, 0 for none. */
void lg_window_step(struct lg_worker *w, const struct lg_gen *g,
		    const struct lg_policy_device *dev, struct lg_dev_state *s, const float *v,
		    uint64_t seq, uint64_t rx_ns, uint64_t ts_ns);
/* The device's detector in the worker's model (-1: none), cached in its state. */
/* The device's samples per window: its detector's own window (a window per device, issue 8
 * step 6e), else the policy's detection.window. */
uint32_t lg_window_len(struct lg_worker *w, const struct lg_gen *g,
		       const struct lg_policy_device *dev, struct lg_dev_state *s);
int16_t lg_window_detector(struct lg_worker *w, const struct lg_gen *g,
			   const struct lg_policy_device *dev, struct lg_dev_state *s);
/* LG_OK, LG_DROP_BAD_SAMPLE (detection.bad_samples: drop) or LG_DROP_UNSUPPORTED (no
 * memory for the window). */
enum lg_reason lg_window_add_frame(struct lg_worker *w, const struct lg_gen *g,
				   const struct lg_policy_device *dev, struct lg_dev_state *s,
				   const struct lg_frame *f, uint64_t rx_ns);
/*
 * A window holds consecutive samples only, as linegate-train and linegate-quality cut a
 * recording (docs/models.md): before a frame (or DataSetMessage) goes into the device's
 * window, its partial window is dropped, not scored, and counted (window_gaps) when the
 * frame does not follow the last one by the rule of <linegate/follow.h> (its sequence not
 * the next; or a pause of a stream on its samples' clock). A heartbeat moves the sequence
 * on (lg_window_seq_moves()). dur_ns: the frame's samples' duration (0 with ts_ns 0: no
 * clock).
 */
void lg_window_follow(struct lg_worker *w, struct lg_dev_state *s, uint64_t seq,
		      uint64_t ts_ns, uint64_t dur_ns);
/* A frame without samples (an LGF heartbeat) took sequence seq: the window goes on. */
static inline void lg_window_seq_moves(struct lg_dev_state *s, uint64_t seq)
{
	lg_follow_seq_moves(&s->follow, seq);
}
/* Bad samples (issue 8): a frame or message of the device was dropped for a bad sample:
 * its partial window is discarded and the drop counted for the device. */
void lg_window_drop_bad(struct lg_dev_state *s);

/* score.c: score the first n rows of the batch (the rest move up); every full batch of the
 * policy's size. lg_worker_flush() (dataplane.h) scores all rows. */
void lg_worker_score(struct lg_worker *w, unsigned n);
void lg_worker_score_full(struct lg_worker *w, const struct lg_gen *g);

/*
 * Before a frame verified under key slot `slot` of g's device i is committed: the key goes
 * into the record of the keys the device's replay mark covers (generation.c, trial s21 Q),
 * written to the state folder before the mark moves, so that a kill -9 between the two
 * never leaves a mark the record does not cover. One load and a test a frame; the record
 * is written the first time a key's frame is accepted.
 */
static inline void lg_dev_key_marks(const struct lg_gen *g, size_t i, unsigned slot)
{
	if (__builtin_expect(!((g->kin[i] >> slot) & 1u), 0))
		lg_gen_mark_key(g, i, slot);
}

/* Advance the device's replay window past seq, and its high-water mark in the state folder:
 * one store to a shared mapping, which outlives a kill -9 of this process. */
static inline void lg_dev_commit(struct lg_dev_state *s, uint64_t seq)
{
	lg_replay_commit(&s->replay, seq);
	if (s->hwm && s->replay.highest > atomic_load_explicit(s->hwm, memory_order_relaxed))
		atomic_store_explicit(s->hwm, s->replay.highest, memory_order_relaxed);
}

/*
 * The reorder stage (reorder.h), for device state s's frame seq once its tag verified and the
 * replay window would take it, before anything is committed: LG_OK (in order: the caller
 * goes on, commits and fills the window), LG_HELD (a copy waits in the worker's pool; judged
 * again when released) or LG_DROP_LATE. hold_ns: the path's hold time, 0 = never hold. In
 * order, the normal case, costs one compare and a store.
 */
/* Hold pkt (o's frame seq) in the worker's pool; one path: until the device's next frame
 * ahead at most (reorder.c). false: no room. */
bool lg_order_hold(struct lg_worker *w, const struct lg_gen *g, struct lg_seq_order *o,
		   uint64_t seq, const struct lg_rx_pkt *pkt, uint64_t hold_ns, bool one_path);
enum lg_reason lg_order_slow(struct lg_worker *w, const struct lg_gen *g, struct lg_seq_order *o,
			     uint64_t seq, const struct lg_rx_pkt *pkt, uint64_t hold_ns);

static inline enum lg_reason lg_order_stage(struct lg_worker *w, const struct lg_gen *g,
					    struct lg_seq_order *o, uint64_t seq,
					    const struct lg_rx_pkt *pkt, uint64_t hold_ns)
{
	if (__builtin_expect(seq == o->next && !o->held, 1)) {
		o->next = seq + 1;
		o->ended = !o->next;
		return LG_OK;
	}
	return lg_order_slow(w, g, o, seq, pkt, hold_ns);
}

/* After each frame: release the held frames that may go on because a gap filled or the pool
 * is full. Not the holds that timed out: the loop looks at those once its handoff ring is
 * empty (the frame a gap waits for may be in it). Nothing held: one load. */
static inline void lg_worker_held_ready(struct lg_worker *w)
{
	if (__builtin_expect(w->ro.n != 0, 0) && (w->ro.pending || w->ro.n >= w->ro.cap))
		lg_worker_release_held(w, 0, false);
}

/* The same, and the holds that timed out by now (0 = read the clock here). */
static inline void lg_worker_held_due(struct lg_worker *w, uint64_t now)
{
	if (__builtin_expect(w->ro.n != 0, 0)) {
		if (!now)
			now = lg_now_ns();
		if (lg_reorder_due(&w->ro, now))
			lg_worker_release_held(w, now, false);
	}
}

/*
 * Before a frame is judged, where the holds run on the recording's clock (a replay:
 * lg_dp.hold_on_record): the clock moves to the frame's time, and the holds that ran out by
 * then give their gaps up first, as live they would have by the time this frame came. So a
 * gap's frames recorded within the hold time after the frame ahead of them fill it, and
 * those recorded later are late, at any pace (live: the loop's look at the wall clock).
 */
static inline void lg_worker_tick(struct lg_worker *w, const struct lg_rx_pkt *pkt)
{
	if (__builtin_expect(!w->dp->hold_on_record, 1))
		return;
	if (pkt->rec_ns > w->rec_now)
		w->rec_now = pkt->rec_ns;
	if (w->ro.n && w->rec_now >= w->ro.first_deadline)
		lg_worker_release_held(w, w->rec_now, false);
}

/* The clock the reorder stage's holds run on: the recording's in a replay, else the wall's. */
static inline uint64_t lg_worker_hold_clock(const struct lg_worker *w)
{
	return w->dp->hold_on_record ? w->rec_now : lg_now_ns();
}

/* A verdict counted where the frame was judged (a handed-over one by its owner). */
static inline void lg_worker_count(struct lg_worker *w, enum lg_reason r)
{
	if (r >= LG_HANDED_OFF) /* handed off or held: counted where and when it is judged */
		return;
	/* Only this worker writes its counters. */
	lg_add_1w(&w->st.reason[r], 1);
	lg_add_1w(&w->st.rx, 1);
}

#endif /* LG_STAGES_H */
