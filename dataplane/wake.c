// SPDX-License-Identifier: MIT
/* Sleeping on an eventfd until a producer's lg_wake_after_push() (wake.h). */
#include "wake.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

int lg_wake_init(struct lg_wake *w)
{
	atomic_init(&w->sleeping, 0);
	atomic_init(&w->sleeps, 0);
	atomic_init(&w->wakes, 0);
	atomic_init(&w->naps, 0);
	w->linger_left = 0;
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->efd < 0)
		return -errno;
	w->ready = true;
	return 0;
}

void lg_wake_close(struct lg_wake *w)
{
	if (w->ready)
		close(w->efd);
	w->ready = false;
}

bool lg_wake_signal(struct lg_wake *w)
{
	uint64_t one = 1;

	/* Once per sleep: the first producer to see the flag takes it. */
	if (!w->ready || !atomic_exchange(&w->sleeping, 0))
		return false;
	atomic_fetch_add_explicit(&w->wakes, 1, memory_order_relaxed);
	while (write(w->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	return true;
}

bool lg_wake_linger(struct lg_wake *w, bool busy)
{
	if (busy) {
		w->linger_left = LG_WAKE_LINGER_NAPS;
		return true;
	}
	if (!w->linger_left)
		return false;
	w->linger_left--;
	atomic_fetch_add_explicit(&w->naps, 1, memory_order_relaxed);
	nanosleep(&(struct timespec){ 0, LG_WAKE_NAP_NS }, NULL);
	return true;
}

void lg_wake_prepare(struct lg_wake *w)
{
	/* seq_cst: a full fence before the look at the rings that follows (wake.h). */
	atomic_store(&w->sleeping, 1);
}

void lg_wake_cancel(struct lg_wake *w)
{
	atomic_store(&w->sleeping, 0);
}

void lg_wake_done(struct lg_wake *w)
{
	uint64_t v;

	/* A producer took the flag: its write is there, or soon will be. */
	if (!atomic_exchange(&w->sleeping, 0))
		w->drain = true;
	if (w->drain && read(w->efd, &v, sizeof(v)) == sizeof(v))
		w->drain = false;
}

bool lg_wake_wait(struct lg_wake *w, int timeout_ms)
{
	struct pollfd pfd = { .fd = w->efd, .events = POLLIN };
	uint64_t v;
	bool woken;

	atomic_fetch_add_explicit(&w->sleeps, 1, memory_order_relaxed);
	woken = poll(&pfd, 1, timeout_ms) > 0;
	atomic_store(&w->sleeping, 0);
	/* A signal that came after the timeout is read here, not at the next sleep. */
	while (read(w->efd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	return woken;
}
