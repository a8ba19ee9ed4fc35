// SPDX-License-Identifier: MIT
/*
 * A worker's loop, top to bottom: take the running generation and model set, judge what
 * other workers handed over, receive a burst from the backend, judge each frame (verify.c:
 * verify -> window -> feature rows), score every full batch (score.c), hand the buffers
 * back. Run to completion, no locks.
 */
#include "dataplane.h"
#include "stages.h"

#include <lgadmit.h>
#include <linegate/uadmit.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t lg_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

int lg_spsc_init(struct lg_spsc *r, unsigned size)
{
	if (!size || size & (size - 1))
		return -EINVAL;
	r->slots = calloc(size, sizeof(*r->slots));
	if (!r->slots)
		return -ENOMEM;
	/* Every page written once now: calloc hands out untouched pages, and the worker's first
	 * pass over the ring (16384 rows, about 80 ms at 200k frames/s) paid a page fault
	 * each, which on a paravirtualised VM cost lg_spsc_push 14 % of the worker's first
	 * fifth of a second (perf, issue 10). A volatile store: a memset after calloc may be
	 * optimised away. */
	for (size_t off = 0; off < (size_t)size * sizeof(*r->slots); off += 4096)
		((volatile char *)r->slots)[off] = 0;
	r->mask = size - 1;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	r->tail_seen = r->head_seen = 0;
	atomic_init(&r->wakes_sent, 0);
	return 0;
}

void lg_spsc_free(struct lg_spsc *r)
{
	free(r->slots);
	r->slots = NULL;
}

bool lg_spsc_push(struct lg_spsc *r, const struct lg_event *e)
{
	uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);

	/* The consumer's tail is read only when the ring looks full by the last one read: a
	 * push does not pull the consumer's cache line over every time (issue 10). */
	if (h - r->tail_seen > r->mask) {
		r->tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (h - r->tail_seen > r->mask)
			return false;
	}
	r->slots[h & r->mask] = *e;
	/* Release: the consumer must see the slot before the new head. */
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
	return true;
}

void lg_spsc_wake(struct lg_spsc *r)
{
	/* Only the producer writes wakes_sent: a relaxed add without a locked instruction. */
	if (r->wake && lg_wake_after_push(r->wake)) {
		uint64_t n = atomic_load_explicit(&r->wakes_sent, memory_order_relaxed);

		atomic_store_explicit(&r->wakes_sent, n + 1, memory_order_relaxed);
	}
}

bool lg_spsc_pop(struct lg_spsc *r, struct lg_event *e)
{
	const struct lg_event *s = lg_spsc_peek(r, 0);

	if (!s)
		return false;
	*e = *s;
	lg_spsc_release(r, 1);
	return true;
}

const struct lg_event *lg_spsc_peek(struct lg_spsc *r, unsigned k)
{
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed) + k;

	/* The producer's head is read only when the events seen so far are used up. */
	if ((int64_t)(t - r->head_seen) >= 0) {
		r->head_seen = atomic_load_explicit(&r->head, memory_order_acquire);
		if (t == r->head_seen)
			return NULL;
	}
	return &r->slots[t & r->mask];
}

void lg_spsc_release(struct lg_spsc *r, unsigned n)
{
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);

	/* Release: the producer may reuse the slots only after they were read. */
	atomic_store_explicit(&r->tail, t + n, memory_order_release);
}

void lg_worker_buffers_free(struct lg_worker *w)
{
	lg_spsc_free(&w->alerts);
	lg_spsc_free(&w->scores_ring);
	free(w->batch);
	free(w->scores);
	free(w->shadow_scores);
	free(w->thr);
	free(w->shadow_thr);
	free(w->det);
	free(w->chan);
	free(w->meta);
	free(w->row_state);
	free(w->umsg);
	free(w->ustep);
	free(w->ubuf);
	lg_reorder_free(&w->ro);
	w->batch = w->scores = w->shadow_scores = w->thr = w->shadow_thr = w->ustep = NULL;
	w->det = NULL;
	w->chan = NULL;
	w->meta = NULL;
	w->row_state = NULL;
	w->umsg = NULL;
	w->ubuf = NULL;
}

int lg_worker_buffers(struct lg_worker *w, size_t max_batch, unsigned alerts, unsigned scores)
{
	w->batch = calloc(max_batch * LG_FEAT_ROW_MAX, sizeof(float)); /* any layout's rows */
	w->scores = calloc(max_batch, sizeof(float));
	w->shadow_scores = calloc(max_batch, sizeof(float));
	w->thr = calloc(max_batch, sizeof(float));
	w->shadow_thr = calloc(max_batch, sizeof(float));
	w->det = calloc(max_batch, sizeof(int16_t));
	w->chan = calloc(max_batch, sizeof(uint8_t));
	w->meta = calloc(max_batch, sizeof(*w->meta));
	w->row_state = calloc(max_batch, sizeof(*w->row_state));
	w->umsg = calloc(1, sizeof(*w->umsg));
	w->ustep = calloc(LGF_MAX_CHANNELS, sizeof(*w->ustep));
	w->ubuf = malloc(LG_UADP_CLEAR_MAX);
	if (!w->batch || !w->scores || !w->shadow_scores || !w->thr || !w->shadow_thr || !w->det || !w->chan ||
	    !w->meta || !w->row_state || !w->umsg || !w->ustep || !w->ubuf ||
	    lg_spsc_init(&w->alerts, alerts) || lg_spsc_init(&w->scores_ring, scores)) {
		lg_worker_buffers_free(w);
		return -ENOMEM;
	}
	return 0;
}

void lg_worker_export_seqs(struct lg_worker *w, const struct lg_gen *g)
{
	for (size_t i = 0; i < g->policy.ndevices; i++) {
		struct lg_dev_state *s = g->state[i];
		uint32_t id = g->policy.devices[i].id;
		int err = 0;

		if (g->owner[i] != w->id || s->replay.highest <= s->exported_seq)
			continue;
		if (w->dp->admit)
			err = lg_admit_export_seq(w->dp->admit, id, s->replay.highest);
		if (!err && w->dp->uadmit && w->dp->uadmit_marks)
			err = lg_uadmit_export_seq(w->dp->uadmit, w->id, id, s->replay.highest);
		if (!err)
			s->exported_seq = s->replay.highest;
	}
}

void lg_worker_replay_fresh(struct lg_worker *w, const struct lg_gen *g)
{
	for (size_t i = 0; i < g->policy.ndevices; i++) {
		struct lg_dev_state *s = g->state[i];
		uint32_t id = g->policy.devices[i].id;

		if (g->owner[i] != w->id || !s->replay_fresh)
			continue;
		s->replay_fresh = false;
		/* decided at the build: taken again now that this worker judges no frame of
		 * the old generation any more (generation.c) */
		if (!lg_gen_fresh_settle(g, i))
			continue;
		/* The old state is no longer judged by anyone (this worker owned it too, and has
		 * moved on): no commit of it can raise the marks after this. */
		if (s->hwm)
			atomic_store_explicit(s->hwm, s->replay.highest, memory_order_relaxed);
		if (w->dp->admit)
			lg_admit_reset_seq(w->dp->admit, id, s->replay.highest);
		if (w->dp->uadmit && w->dp->uadmit_marks)
			lg_uadmit_reset_seq(w->dp->uadmit, w->id, id, s->replay.highest);
		s->exported_seq = s->replay.highest;
	}
}

unsigned lg_worker_drain_handoff(struct lg_worker *w, const struct lg_gen *g)
{
	const struct lg_rx_pkt *pkt;
	unsigned n = 0;

	/* Bounded: a busy neighbour must not keep this worker from its own queue. */
	while (n < LG_BURST && (pkt = lg_handoff_peek(&w->in))) {
		/* Under this generation the frame is ours, or the owner moved with a policy
		 * change: then it goes on to the new owner. */
		lg_worker_tick(w, pkt);
		w->ro.src = lg_handoff_from(pkt);
		lg_worker_count(w, lg_worker_handle(w, g, pkt));
		w->ro.src = w->id;
		lg_worker_score_full(w, g);
		lg_handoff_pop(&w->in);
		lg_worker_held_ready(w);
		n++;
	}
	return n;
}

/*
 * Whether a gap whose first held frame was held at held_ns may be declared lost: its frame
 * is not in this worker's handoff ring, and no other worker can still hand it over, because
 * each has since emptied its receive queue (and judged or handed over what it took), or
 * waits for frames. A frame sent before the held one reached its queue before that one was
 * held; a worker that was not scheduled for a while is waited for (up to
 * LG_REORDER_HOLD_MAX_NS), instead of its frames being declared lost and then late.
 */
bool lg_worker_gap_may_close(struct lg_worker *w, uint64_t held_ns)
{
	struct lg_dp *dp = w->dp;

	for (unsigned i = 0; i < dp->nworkers; i++) {
		struct lg_worker *x = &dp->workers[i];

		if (x == w || atomic_load_explicit(&x->rx_idle, memory_order_relaxed))
			continue;
		/* Acquire: its handoffs before that store are visible in our ring below. */
		if (atomic_load_explicit(&x->caught_up_ns, memory_order_acquire) < held_ns)
			return false;
	}
	return !(w->in.slots && lg_handoff_peek(&w->in));
}

/*
 * A replay that merges queues (lg_dp.merge_queues): each queue reads its file as fast as it
 * can, so the queues that hold a device's frames run any number of frames apart, and a
 * hold time says nothing about whether a gap's frame can still come. Each queue (source)
 * is in sequence order per device, and a worker hands frames over in the order it read
 * them; so once every source has sent the owner a frame of the device above the gap (it
 * holds one from each), or has ended (its stream over, its handoffs judged), no source can
 * still hold the gap's frame: it is lost, exactly. The owner looks at the device of its
 * oldest hold each turn and gives its gap up then, not before.
 *
 * Meanwhile the sources that are ahead of the gap must not fill the pool: with
 * LG_MERGE_PAUSE frames held (a pool sized for what is on its way then, dataplane.h), the
 * owner asks them to stop reading their queues (pause_req; its own queue too when
 * it is one of them) until the gap fills or they all passed it, and the sources behind read
 * on. Owners of several devices can ask each other's queues to wait in a circle (each gap's
 * frame on a queue another owner paused); when every queue a gap waits on has been asked
 * to wait for MERGE_STUCK_NS, the gap is given up (missing, and its frames late, counted),
 * as when the pool is full.
 */
#define MERGE_STUCK_NS 50000000ull

static void merge_give_up(struct lg_worker *w, struct lg_seq_order *o)
{
	lg_reorder_give_up(&w->ro, o);
	lg_worker_release_held(w, 0, false);
}

/* Whether this worker may not read its own queue this turn. */
static bool merge_turn(struct lg_worker *w, uint64_t now)
{
	struct lg_dp *dp = w->dp;
	uint64_t all = dp->nworkers >= 64 ? ~0ull : (1ull << dp->nworkers) - 1;
	uint64_t ended = 0, want = 0;
	struct lg_seq_order *o;

	if (!dp->merge_queues)
		return false;
	for (unsigned i = 0; i < dp->nworkers; i++)
		if (i == w->id ? w->at_eof
			       : atomic_load_explicit(&dp->workers[i].caught_up_ns,
						      memory_order_acquire) == UINT64_MAX)
			ended |= 1ull << i;
	/* An ended source's last frames may still be in the ring (read after its flag). */
	if (lg_handoff_peek(&w->in))
		ended = 0;
	while ((o = lg_reorder_oldest(&w->ro)) &&
	       ((lg_reorder_sources(&w->ro, o) | ended) & all) == all)
		merge_give_up(w, o);
	if (o && w->ro.n >= LG_MERGE_PAUSE)
		want = lg_reorder_sources(&w->ro, o) & ~ended & all;
	for (unsigned i = 0; i < dp->nworkers; i++) {
		uint64_t bit = 1ull << i, me = 1ull << w->id;

		if ((want & bit) && !(w->pausing & bit))
			atomic_fetch_or(&dp->workers[i].pause_req, me);
		else if (!(want & bit) && (w->pausing & bit))
			atomic_fetch_and(&dp->workers[i].pause_req, ~me);
	}
	w->pausing = want;
	if (want) {
		uint64_t wait = all & ~want & ~ended;
		bool moving = false;

		for (unsigned i = 0; i < dp->nworkers; i++)
			if ((wait & (1ull << i)) && !atomic_load(&dp->workers[i].pause_req))
				moving = true;
		if (moving || !w->stuck_ns) {
			w->stuck_ns = moving ? 0 : now;
		} else if (now - w->stuck_ns >= MERGE_STUCK_NS) {
			w->stuck_ns = 0;
			merge_give_up(w, o);
		}
	} else {
		w->stuck_ns = 0;
	}
	return atomic_load(&w->pause_req) != 0;
}

/* After its own stream ended: the worker goes on judging handed-over frames until every
 * stream has ended and its ring is empty (in that order: a producer's last push happens
 * before it counts itself at the end). */
static bool worker_done(struct lg_worker *w)
{
	return atomic_load(&w->dp->eof_workers) == w->dp->nworkers && !lg_handoff_peek(&w->in);
}

/*
 * A burst from the backend, waiting at most timeout ms. A worker that may get frames
 * handed over waits for them too: woken by the handoff (wake.h, the backend's wake_fd()),
 * or, where the backend cannot, it looks every 2 ms.
 */
static int rx_wait(struct lg_worker *w, struct lg_rx_pkt *pkts, int timeout)
{
	int n;

	if (!w->in.slots || timeout <= 0)
		return w->ops->rx_burst(w->be, pkts, LG_BURST, timeout);
	if (!w->in_wake.ready)
		return w->ops->rx_burst(w->be, pkts, LG_BURST, timeout > 2 ? 2 : timeout);
	lg_wake_prepare(&w->in_wake);
	if (lg_handoff_peek(&w->in))
		timeout = 0; /* came in before the flag was set */
	n = w->ops->rx_burst(w->be, pkts, LG_BURST, timeout);
	lg_wake_done(&w->in_wake);
	return n;
}

void *lg_worker_main(void *arg)
{
	struct lg_worker *w = arg;
	struct lg_dp *dp = w->dp;
	struct lg_rx_pkt pkts[LG_BURST];
	uint64_t epoch = 0;
	char name[16];

	/* ps -L, top -H and the tests find the workers by name. */
	snprintf(name, sizeof(name), "lg-worker-%u", w->id);
	pthread_setname_np(pthread_self(), name);
	atomic_store(&w->tid, (int)gettid());
	w->ro.src = w->id; /* what it holds comes from its own queue, unless handed over */

	while (!atomic_load_explicit(&dp->stop, memory_order_relaxed)) {
		struct lg_gen *g = atomic_load_explicit(&dp->gen, memory_order_acquire);
		int timeout = 100, n;
		/* One clock read a turn for the heartbeat, the deadline and the export below
		 * (they were three to four; issue 10). */
		uint64_t now = lg_now_ns();

		/* /healthz: a loop that stops turning is a hung worker (a clock read per burst). */
		atomic_store_explicit(&w->beat_ns, now, memory_order_relaxed);

		struct lg_modelset *ms = atomic_load_explicit(&dp->models, memory_order_acquire);

		/* A model set made for a generation this worker has not read yet (an apply that
		 * changed window or model publishes the set first): keep the old pair one more
		 * round. Read in this order, a new generation always comes with its set. */
		if (ms->need_gen > g->epoch && w->ms)
			ms = w->ms;

		if (g->epoch != epoch) {
			/* Held frames point at state objects of the old generation too: they
			 * go on now, their gaps given up (reorder.h). */
			if (w->ro.n)
				lg_worker_release_held(w, now, true);
			/* Rows of the batch point at state objects of the old generation,
			 * which is freed once we say we have moved on: score them first. */
			lg_worker_flush(w);
			/* a device gone with an incident open: resolved, with a reason */
			lg_worker_incidents_removed(w, w->gen_prev, g);
			w->gen_prev = g;
			epoch = g->epoch;
			w->inc = g->policy.incidents;
			lg_worker_replay_fresh(w, g);
			atomic_store_explicit(&w->seen_epoch, epoch, memory_order_release);
		}
		if (ms != w->ms) {
			/* Rows gathered so far are scored by the model they were gathered
			 * under; the next batch by the new one. None twice, none skipped. */
			lg_worker_flush(w);
			/* The rows scored so far compared other models: the shadow's counts
			 * for these start from here (the totals go on). */
			if (!w->ms || w->ms->model_id != ms->model_id) {
				atomic_store_explicit(&w->st.shadow_scored_base,
					atomic_load_explicit(&w->st.shadow_scored,
							     memory_order_relaxed),
					memory_order_relaxed);
				atomic_store_explicit(&w->st.shadow_disagree_base,
					atomic_load_explicit(&w->st.shadow_disagree,
							     memory_order_relaxed),
					memory_order_relaxed);
			}
			w->ms = ms;
			atomic_store_explicit(&w->models_seen, ms->epoch, memory_order_release);
		}
		/* Unpaced: batches by size (and the end of the stream) alone, the same every run. */
		if (w->rows && !w->unpaced) {
			/* rows of this turn are not added yet: oldest_ns is before now */
			uint64_t age = now > w->oldest_ns ? now - w->oldest_ns : 0,
				 dl = (uint64_t)g->policy.deadline_ms * 1000000ull;

			if (age >= dl) {
				lg_worker_flush(w);
			} else {
				/* At most the idle wait: a long deadline (up to 60 s) must not
				 * keep the worker from seeing a new generation (an apply waits
				 * for it). */
				timeout = (int)((dl - age) / 1000000ull);
				if (timeout < 1)
					timeout = 1;
				if (timeout > 100)
					timeout = 100;
			}
		}
		if ((dp->admit || dp->uadmit) && now - w->last_export_ns > LG_EXPORT_NS) {
			lg_worker_export_seqs(w, g);
			w->last_export_ns = now;
		}
		if ((dp->nworkers > 1 || dp->ext_input) && lg_worker_drain_handoff(w, g))
			timeout = 0;
		bool paused = merge_turn(w, now);

		/* A hold that times out ends when it is due, not at the next frame: once the
		 * frame it waits for can no longer be on its way (lg_worker_gap_may_close()).
		 * A replay that merges queues gives a gap up once every queue passed it, never
		 * on time (merge_turn()); a pcap replay when a frame recorded after its time
		 * comes, or at the end (lg_worker_tick()). */
		if (w->ro.n && !dp->merge_queues && !dp->hold_on_record) {
			if (now >= w->ro.first_deadline &&
			    (lg_worker_gap_may_close(w, w->ro.first_held_ns) ||
			     now - w->ro.first_held_ns >= LG_REORDER_HOLD_MAX_NS))
				lg_worker_held_due(w, now);
			if (w->ro.n) {
				uint64_t left = w->ro.first_deadline > now
					? (w->ro.first_deadline - now + 999999) / 1000000 : 1;

				if (left < (uint64_t)timeout)
					timeout = (int)left;
			}
		}
		if (w->at_eof) {
			if (worker_done(w))
				break;
			if (!lg_handoff_peek(&w->in)) {
				struct timespec ts = { 0, 200000 };

				nanosleep(&ts, NULL);
			}
			continue;
		}
		if (paused) {
			if (!lg_handoff_peek(&w->in)) {
				struct timespec ts = { 0, 100000 };

				nanosleep(&ts, NULL);
			}
			continue;
		}
		atomic_store_explicit(&w->rx_idle, true, memory_order_relaxed);
		n = rx_wait(w, pkts, timeout);
		atomic_store_explicit(&w->rx_idle, false, memory_order_relaxed);
		if (n == LG_RX_EOF) {
			atomic_store_explicit(&w->caught_up_ns, UINT64_MAX, memory_order_release);
			w->at_eof = true;
			atomic_fetch_add(&dp->eof_workers, 1);
			continue;
		}
		if (n < 0) {
			/* A backend error is not a reason to stop receiving: count and go on. */
			atomic_fetch_add_explicit(&w->st.rx_errors, 1, memory_order_relaxed);
			continue;
		}
		if (n && !atomic_load_explicit(&w->first_rx_ns, memory_order_relaxed))
			atomic_store_explicit(&w->first_rx_ns, lg_now_ns(), memory_order_relaxed);
		for (int i = 0; i < n; i++) {
			uint64_t a = pkts[i].arrival_ns;

			/* Honest latency: every datagram taken from the backend, once (a frame
			 * handed to another worker was counted here, where it arrived). */
			lg_lat_add(&w->st.stage[LG_LAT_ARRIVAL_WORKER],
				   a && a <= pkts[i].rx_ns ? pkts[i].rx_ns - a : 0);
			lg_worker_tick(w, &pkts[i]);
			lg_worker_count(w, lg_worker_handle(w, g, &pkts[i]));
			lg_worker_score_full(w, g);
			lg_worker_held_ready(w);
		}
		w->ops->release(w->be, pkts, (unsigned)n);
		/* Release: what it handed over is in the rings before others read this. */
		/* While linegate stops, fewer than LG_BURST is not enough: uring's sockets can
		 * hold a whole receive buffer behind a short burst (trial s20 I H1: 4 658-7 971
		 * frames XDP had handed over were never read). */
		if (n < LG_BURST &&
		    (!atomic_load_explicit(&dp->draining, memory_order_relaxed) ||
		     !w->ops->rx_empty || w->ops->rx_empty(w->be)))
			atomic_store_explicit(&w->caught_up_ns, now, memory_order_release);
	}
	/*
	 * A stop whose drain ran out of time (xsk_drain()'s bound: a slow worker at overload, an
	 * ASan build): what still waits in the ring or socket is taken out unjudged and counted
	 * as stop_unread, so that every frame XDP handed over is in received (trial s20 I H1's
	 * test: afxdp under ASan left 2 714-6 468 of a full 8192-frame ring). At most 200 ms.
	 */
	if (atomic_load_explicit(&dp->draining, memory_order_relaxed)) {
		uint64_t end = lg_now_ns() + 200000000ull;
		int n;

		while (lg_now_ns() < end) {
			n = w->ops->rx_burst(w->be, pkts, LG_BURST, 1);
			if (n > 0) {
				for (int i = 0; i < n; i++)
					lg_worker_count(w, LG_DROP_STOP_UNREAD);
				w->ops->release(w->be, pkts, (unsigned)n);
				continue;
			}
			if (n < 0 || !w->ops->rx_empty || w->ops->rx_empty(w->be))
				break;
		}
	}
	/*
	 * Frames the other workers handed over before they stopped are judged, not left in the
	 * ring uncounted (trial X6 F1, s28: a Ctrl-C of a replay whose worker 0 hands frames
	 * over lost up to 256 of them). Once every worker is out of its receive loop none can
	 * hand over more; at most 200 ms (a worker that does not get there).
	 */
	atomic_fetch_add_explicit(&dp->rx_stopped, 1, memory_order_release);
	if (w->in.slots) {
		uint64_t end = lg_now_ns() + 200000000ull;

		for (;;) {
			/* Acquire: what a worker handed over before it counted itself out. */
			bool all = atomic_load_explicit(&dp->rx_stopped, memory_order_acquire) >=
				   dp->nworkers;

			while (lg_worker_drain_handoff(w, atomic_load_explicit(
								 &dp->gen, memory_order_acquire)))
				;
			if (all || lg_now_ns() >= end)
				break;
			nanosleep(&(struct timespec){ 0, 100000 }, NULL);
		}
	}
	/* Stopped before the stream's end: what the backend read and kept is counted. */
	if (!w->at_eof && w->ops->stop)
		w->ops->stop(w->be);
	/* Held frames go on (their gaps given up) and what is in the batch is scored now, not
	 * at a deadline that would never come. */
	if (w->ro.n)
		lg_worker_release_held(w, lg_now_ns(), true);
	lg_worker_flush(w);
	/* and an open incident's last figures go out (incident.c) */
	lg_worker_incidents_final(w, atomic_load_explicit(&dp->gen, memory_order_acquire));
	if (w->at_eof) {
		struct timespec ts;

		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
		atomic_store(&w->cpu_ns, (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
		atomic_store(&w->done_ns, lg_now_ns());
		atomic_fetch_add(&dp->done_workers, 1);
	}
	return NULL;
}
