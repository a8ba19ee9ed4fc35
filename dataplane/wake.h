/* SPDX-License-Identifier: MIT */
/*
 * Waking a sleeping consumer of SPSC rings (the output thread) from their producers (the
 * workers), so that it sleeps while there is nothing to do instead of polling, and wakes
 * at once when there is.
 *
 * The consumer announces that it is about to sleep (lg_wake_prepare: sleeping = 1), looks
 * at its rings once more, and sleeps on an eventfd unless they hold something. A producer,
 * after it published an event, loads sleeping; only when it is set does it take the flag
 * and write the eventfd (lg_wake_signal, once per sleep). So a push costs one load of a
 * line that changes once per sleep.
 *
 * Why no wake-up is lost: the consumer's store of sleeping and its later loads of the
 * rings' heads, and the producer's store of a head and its later load of sleeping, must not
 * be reordered (a store followed by a load: x86 reorders exactly that). The consumer's side
 * gets a full barrier; the producer's side gets one from the consumer too, with
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which runs a barrier on every CPU running
 * one of our threads (an asymmetric fence, as liburcu uses): the producer pays nothing.
 * Where the kernel has no membarrier, producers fence themselves (asym false).
 */
#ifndef LG_WAKE_H
#define LG_WAKE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct lg_wake {
	_Alignas(64) _Atomic int sleeping; /* the consumer is (about to be) asleep */
	int efd;			   /* eventfd, nonblocking; -1 = not set up */
	bool asym;			   /* membarrier does the producers' fence */
	bool ready;			   /* lg_wake_init() succeeded (zeroed: not) */
	_Atomic uint64_t sleeps, wakes;	   /* times the consumer slept, and was woken */
};

/* An eventfd and (where the kernel has it) membarrier: 0 or a negative errno. */
int lg_wake_init(struct lg_wake *w);
void lg_wake_close(struct lg_wake *w);
/* Wake the consumer whatever it is doing (a flag it reads has changed); any thread. */
void lg_wake_signal(struct lg_wake *w);

/* A producer, after it published (a release store of the ring's head). */
static inline void lg_wake_after_push(struct lg_wake *w)
{
	if (w->asym)
		atomic_signal_fence(memory_order_seq_cst); /* the compiler only */
	else
		atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&w->sleeping, memory_order_relaxed))
		lg_wake_signal(w);
}

/* The consumer: about to sleep; it must look at its rings once more after this. */
void lg_wake_prepare(struct lg_wake *w);
/* The consumer: sleep until signalled or timeout_ms passed (after lg_wake_prepare() and a
 * look that found nothing); true when signalled. */
bool lg_wake_wait(struct lg_wake *w, int timeout_ms);
/* The consumer: found something after lg_wake_prepare(), does not sleep. */
void lg_wake_cancel(struct lg_wake *w);

#endif /* LG_WAKE_H */
