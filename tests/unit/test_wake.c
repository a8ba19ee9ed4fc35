// SPDX-License-Identifier: MIT
/*
 * The output thread's wake-up (dataplane/wake.h): a consumer that sleeps on an empty SPSC
 * ring with a 10 s timeout is woken by lg_spsc_wake() after pushes, never left asleep with
 * an event in the ring (a lost wake-up would show as a 10 s wait), and a signal while
 * nobody sleeps writes nothing. The linger (lg_wake_linger): a consumer that naps after a
 * busy round is woken by a producer pushing a batch every 100 us at most a few times
 * (without the linger: once per batch), and idle after the last batch it naps exactly
 * LG_WAKE_LINGER_NAPS times and then sleeps.
 */
#include "dataplane.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static const char usage[] =
	"Usage: test_wake\n"
	"A consumer sleeping on an empty ring (10 s timeout) is woken after pushes, at once;\n"
	"a signal while nobody sleeps writes nothing.\n"
	"\n" LGT_EXIT_STATUS;

#define ROUNDS 3000

static struct lg_spsc ring;
static struct lg_wake wk;
static _Atomic bool done;
static uint64_t got, max_wait_ns, timeouts;
static bool linger; /* the consumer lingers after a busy round */

static void *consumer(void *arg)
{
	struct lg_event e;

	(void)arg;
	for (;;) {
		/* Read before the drain: every push came before done was set, so the drain
		 * sees them all. */
		bool stop = atomic_load(&done), any = false;

		while (lg_spsc_pop(&ring, &e)) {
			uint64_t waited = lg_now_ns() - e.rx_ns;

			if (waited > max_wait_ns)
				max_wait_ns = waited;
			got++;
			any = true;
		}
		if (stop)
			break;
		if (linger && lg_wake_linger(&wk, any))
			continue;
		if (any)
			continue;
		lg_wake_prepare(&wk);
		if (atomic_load_explicit(&ring.head, memory_order_acquire) !=
			    atomic_load_explicit(&ring.tail, memory_order_relaxed) ||
		    atomic_load(&done)) {
			lg_wake_cancel(&wk);
			continue;
		}
		if (!lg_wake_wait(&wk, 10000))
			timeouts++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct lg_event e = { 0 };
	pthread_t t;
	uint64_t v;

	lgt_cli(argc, argv, usage, 0, 0);
	CHECK_EQ(lg_spsc_init(&ring, 64), 0);
	CHECK_EQ(lg_wake_init(&wk), 0);

	/* Nobody sleeps: a signal writes nothing, so the next sleep is not cut short. */
	lg_wake_signal(&wk);
	CHECK_EQ(atomic_load(&wk.wakes), 0);
	CHECK(read(wk.efd, &v, sizeof(v)) < 0);
	/* Asleep: two signals wake it once. */
	lg_wake_prepare(&wk);
	lg_wake_signal(&wk);
	lg_wake_signal(&wk);
	CHECK_EQ(atomic_load(&wk.wakes), 1);
	CHECK(lg_wake_wait(&wk, 0));
	CHECK(!lg_wake_wait(&wk, 0)); /* the counter was read: nothing left */
	CHECK_EQ(atomic_load(&wk.sleeping), 0);

	ring.wake = &wk;
	CHECK_EQ(pthread_create(&t, NULL, consumer, NULL), 0);
	for (unsigned i = 0; i < ROUNDS; i++) {
		/* Mostly once the consumer sleeps (or is about to); every third at once, into
		 * whatever it is doing: the races a lost wake-up needs. */
		if (i % 3) {
			uint64_t t0 = lg_now_ns();

			while (!atomic_load(&wk.sleeping) && lg_now_ns() - t0 < 20000000)
				;
		}
		if (i % 7 == 0)
			nanosleep(&(struct timespec){ 0, (long)(i % 5) * 1000 }, NULL);
		e.seq = i;
		e.rx_ns = lg_now_ns();
		while (!lg_spsc_push(&ring, &e))
			;
		/* A push alone wakes nobody: one wake-up after a run of pushes, as a batch. */
		if (i % 4 != 1)
			lg_spsc_wake(&ring);
	}
	atomic_store(&done, true);
	lg_wake_signal(&wk);
	pthread_join(t, NULL);
	printf("test_wake: %llu events, slept %llu times, woken %llu, longest wait %.3f ms, "
	       "%llu timeouts\n", (unsigned long long)got,
	       (unsigned long long)atomic_load(&wk.sleeps),
	       (unsigned long long)atomic_load(&wk.wakes), max_wait_ns / 1e6,
	       (unsigned long long)timeouts);
	CHECK_EQ(got, ROUNDS);
	/* A lost wake-up leaves an event in the ring for the whole 10 s timeout. */
	CHECK_EQ(timeouts, 0);
	CHECK(max_wait_ns < 2000000000ull);
	/* It did sleep, and the wake-ups woke it (not the timeout); a push without
	 * lg_spsc_wake() waited for the next one (two pushes, one wake-up). */
	CHECK(atomic_load(&wk.sleeps) >= ROUNDS / 3);
	CHECK(atomic_load(&wk.wakes) >= atomic_load(&wk.sleeps) - 1);
	CHECK_EQ(atomic_load(&wk.naps), 0);

	/* The linger: a batch of 16 every 100 us for 2000 batches; the consumer naps 250 us
	 * after a busy round instead of sleeping, so the producer (almost) never has to wake
	 * it. Without the linger, every batch found it asleep: one write(2) each. */
	CHECK(lg_wake_linger(&wk, true));
	CHECK_EQ(wk.linger_left, LG_WAKE_LINGER_NAPS);
	for (unsigned i = 0; i < LG_WAKE_LINGER_NAPS; i++)
		CHECK(lg_wake_linger(&wk, false));
	CHECK(!lg_wake_linger(&wk, false)); /* idle: sleep now */
	CHECK(!lg_wake_linger(&wk, false));
	CHECK_EQ(atomic_load(&wk.naps), LG_WAKE_LINGER_NAPS);
	for (unsigned r = 0; r < 2; r++) {
		uint64_t wakes0, sleeps0, naps0, sent0;
		uint64_t batches = 2000, t_end;

		got = 0;
		timeouts = 0;
		atomic_store(&done, false);
		linger = r == 1;
		wk.linger_left = 0;
		CHECK_EQ(pthread_create(&t, NULL, consumer, NULL), 0);
		/* The consumer asleep before the first batch. */
		while (!atomic_load(&wk.sleeping))
			;
		wakes0 = atomic_load(&wk.wakes);
		sleeps0 = atomic_load(&wk.sleeps);
		naps0 = atomic_load(&wk.naps);
		sent0 = atomic_load(&ring.wakes_sent);
		for (unsigned b = 0; b < batches; b++) {
			uint64_t t0 = lg_now_ns();

			for (unsigned i = 0; i < 16; i++) {
				e.seq = b * 16 + i;
				e.rx_ns = lg_now_ns();
				while (!lg_spsc_push(&ring, &e))
					;
			}
			lg_spsc_wake(&ring);
			while (lg_now_ns() - t0 < 100000)
				;
		}
		/* Idle: the lingering consumer naps LG_WAKE_LINGER_NAPS times and sleeps. */
		t_end = lg_now_ns();
		while (!atomic_load(&wk.sleeping) && lg_now_ns() - t_end < 2000000000ull)
			;
		usleep(20000);
		printf("test_wake: linger %s: %llu batches, woken %llu times (%llu by the ring), "
		       "slept %llu, napped %llu, longest wait %.3f ms\n", linger ? "on" : "off",
		       (unsigned long long)batches,
		       (unsigned long long)(atomic_load(&wk.wakes) - wakes0),
		       (unsigned long long)(atomic_load(&ring.wakes_sent) - sent0),
		       (unsigned long long)(atomic_load(&wk.sleeps) - sleeps0),
		       (unsigned long long)(atomic_load(&wk.naps) - naps0), max_wait_ns / 1e6);
		CHECK(atomic_load(&wk.sleeping)); /* asleep, idle */
		/* Every wake-up the ring sent is one the consumer counted, and no other. */
		CHECK_EQ(atomic_load(&ring.wakes_sent) - sent0, atomic_load(&wk.wakes) - wakes0);
		if (linger) {
			/* This machine is shared: a producer descheduled for over 500 us lets it
			 * sleep now and then; a tenth of the batches is far from every one. */
			CHECK(atomic_load(&wk.wakes) - wakes0 <= batches / 10);
			CHECK(atomic_load(&wk.naps) - naps0 > 0);
		} else {
			CHECK_EQ(atomic_load(&wk.naps) - naps0, 0);
			CHECK(atomic_load(&wk.wakes) - wakes0 >= batches / 2);
		}
		atomic_store(&done, true);
		lg_wake_signal(&wk);
		pthread_join(t, NULL);
		CHECK_EQ(got, batches * 16);
		CHECK_EQ(timeouts, 0);
	}
	lg_wake_close(&wk);
	lg_spsc_free(&ring);
	return lgt_done("test_wake");
}
