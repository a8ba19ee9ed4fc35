/* SPDX-License-Identifier: MIT */
/*
 * Waking a sleeping consumer of SPSC rings (the output thread) from their producers (the
 * workers), so that it sleeps while there is nothing to do instead of polling, and wakes
 * at once when there is.
 *
 * The consumer announces that it is about to sleep (lg_wake_prepare: sleeping = 1), looks
 * at its rings once more, and sleeps on an eventfd unless they hold something. A producer,
 * after a run of pushes (a whole scored batch: lg_spsc_wake()), loads sleeping; only when
 * it is set does it take the flag and write the eventfd (lg_wake_signal, once per sleep).
 * Once per batch rather than per push: the consumer then takes the batch in one round
 * (one write(2)) instead of waking for each row.
 *
 * Why no wake-up is lost: the consumer's store of sleeping and its later loads of the
 * rings' heads, and the producer's stores of heads and its later load of sleeping, must
 * not be reordered (a store followed by a load: x86 reorders exactly that). Both sides
 * have a full fence between them: the consumer's seq_cst store, the producer's seq_cst
 * fence, once per batch (a few cycles a row). Then either the consumer sees the new head,
 * or the producer sees sleeping set and wakes it.
 *
 * Linger (issue 10): once per batch is still 12 500 write(2)s a second at 200k frames/s,
 * each on the producer's CPU. After a round that found something, the consumer naps a
 * little (LG_WAKE_NAP_NS) without setting sleeping, so producers do not wake it, and
 * looks again; only after LG_WAKE_LINGER_NAPS naps in a row that found nothing does it
 * sleep on the eventfd. Under load the rings fill during each nap and producers rarely
 * wake it; idle it costs at most that many naps after the last event.
 */
#ifndef LG_WAKE_H
#define LG_WAKE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct lg_wake {
	_Alignas(64) _Atomic int sleeping; /* the consumer is (about to be) asleep */
	int efd;			   /* eventfd, nonblocking */
	bool ready;			   /* lg_wake_init() succeeded (zeroed: not) */
	bool drain;			   /* lg_wake_done(): a write to read (consumer's) */
	_Atomic uint64_t sleeps, wakes;	   /* times the consumer slept, and was woken */
	/* Linger (consumer's): naps left before it sleeps; naps taken. */
	unsigned linger_left;
	_Atomic uint64_t naps;
};

/* After a busy round, up to this many empty naps of LG_WAKE_NAP_NS before a sleep. */
#define LG_WAKE_LINGER_NAPS 2
#define LG_WAKE_NAP_NS 250000L

/* An eventfd: 0 or a negative errno. */
int lg_wake_init(struct lg_wake *w);
void lg_wake_close(struct lg_wake *w);
/* Wake the consumer if it sleeps (a flag it reads has changed, or a push); any thread.
 * True when this call woke it (wrote the eventfd). */
bool lg_wake_signal(struct lg_wake *w);

/* A producer, after a run of pushes (release stores of the rings' heads); true when it
 * woke the consumer. */
static inline bool lg_wake_after_push(struct lg_wake *w)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&w->sleeping, memory_order_relaxed))
		return lg_wake_signal(w);
	return false;
}

/* The consumer, after each round: busy = the round found something. Arms the linger after
 * a busy round; after an empty one, naps LG_WAKE_NAP_NS (producers are not told) and
 * returns true while the linger lasts, false when the consumer should sleep (prepare,
 * look, wait). */
bool lg_wake_linger(struct lg_wake *w, bool busy);

/* The consumer: about to sleep; it must look at its rings once more after this. */
void lg_wake_prepare(struct lg_wake *w);
/* The consumer: sleep until signalled or timeout_ms passed (after lg_wake_prepare() and a
 * look that found nothing); true when signalled. */
bool lg_wake_wait(struct lg_wake *w, int timeout_ms);
/* The consumer: found something after lg_wake_prepare(), does not sleep. */
void lg_wake_cancel(struct lg_wake *w);
/* The consumer, when something else waited on efd (a worker's backend, wake_fd()): after
 * that wait, the flag cleared and a signal's write read (now, or when it has landed), so
 * that a level-triggered wait does not return at once for ever. */
void lg_wake_done(struct lg_wake *w);

#endif /* LG_WAKE_H */
