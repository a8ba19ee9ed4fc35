// SPDX-License-Identifier: MIT
/* Handoff rings between workers: bounded, copied whole, in order per producer, nothing lost
 * or doubled while several producers push and the owner pops. */
#include "../../dataplane/handoff.h"

#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

#define PRODUCERS 3
#define PER_PRODUCER 200000

static struct lg_handoff ring;
static _Atomic unsigned full_seen;

/* Payload: producer id, then its running number; the length varies with the number. */
static void *produce(void *arg)
{
	uint8_t buf[64];
	unsigned id = (unsigned)(uintptr_t)arg;

	for (uint32_t i = 0; i < PER_PRODUCER; i++) {
		struct lg_rx_pkt p = { .data = buf, .len = 8 + i % 50, .src_port = (uint16_t)id };

		memcpy(buf, &id, 4);
		memcpy(buf + 4, &i, 4);
		memset(buf + 8, (int)(i & 0xff), sizeof(buf) - 8);
		while (!lg_handoff_push_from(&ring, &p, id))
			atomic_fetch_add(&full_seen, 1);
	}
	return NULL;
}

static const char usage[] =
	"Usage: test_handoff [options]\n"
	"\n"
	"The handoff rings between workers (dataplane/handoff.h): a full ring refuses, a payload\n"
	"larger than a slot is refused, and with several producer threads every packet arrives\n"
	"once, whole, in its producer's order.\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: \"test_handoff: N checks, M failed\" on stdout.\n"
	LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	static uint8_t big[LG_HANDOFF_MAX + 1];
	pthread_t t[PRODUCERS];
	uint32_t next[PRODUCERS] = { 0 };
	unsigned long got = 0, bad = 0;
	struct lg_rx_pkt p = { .data = big, .len = 4 };

	lgt_cli(argc, argv, usage, 0, 0);
	CHECK_EQ(lg_handoff_init(&ring), 0);
	CHECK(!lg_handoff_peek(&ring));
	/* Bounded: exactly LG_HANDOFF_SLOTS fit. */
	for (unsigned i = 0; i < LG_HANDOFF_SLOTS; i++) {
		big[0] = (uint8_t)i;
		CHECK(lg_handoff_push(&ring, &p));
	}
	CHECK(!lg_handoff_push(&ring, &p));
	for (unsigned i = 0; i < LG_HANDOFF_SLOTS; i++) {
		const struct lg_rx_pkt *q = lg_handoff_peek(&ring);

		CHECK(q && q->len == 4 && q->data[0] == (uint8_t)i);
		lg_handoff_pop(&ring);
	}
	CHECK(!lg_handoff_peek(&ring));
	p.len = LG_HANDOFF_MAX + 1;
	CHECK(!lg_handoff_push(&ring, &p)); /* too big for a slot: refused, not cut */
	p.len = LG_HANDOFF_MAX;
	CHECK(lg_handoff_push(&ring, &p));
	CHECK(lg_handoff_peek(&ring) && lg_handoff_peek(&ring)->len == LG_HANDOFF_MAX);
	CHECK_EQ(lg_handoff_from(lg_handoff_peek(&ring)), LG_HANDOFF_FROM_NONE);
	lg_handoff_pop(&ring);
	/* Each packet says which worker pushed it (a replay that merges queues, worker.c). */
	p.len = 4;
	CHECK(lg_handoff_push_from(&ring, &p, 3));
	CHECK(lg_handoff_push_from(&ring, &p, 0));
	CHECK(lg_handoff_peek(&ring) && lg_handoff_from(lg_handoff_peek(&ring)) == 3);
	lg_handoff_pop(&ring);
	CHECK(lg_handoff_peek(&ring) && lg_handoff_from(lg_handoff_peek(&ring)) == 0);
	lg_handoff_pop(&ring);

	for (unsigned i = 0; i < PRODUCERS; i++)
		pthread_create(&t[i], NULL, produce, (void *)(uintptr_t)i);
	while (got < (unsigned long)PRODUCERS * PER_PRODUCER) {
		const struct lg_rx_pkt *q = lg_handoff_peek(&ring);
		uint32_t id, n;

		if (!q)
			continue;
		memcpy(&id, q->data, 4);
		memcpy(&n, q->data + 4, 4);
		if (id >= PRODUCERS || q->src_port != id || lg_handoff_from(q) != id ||
		    n != next[id] || q->len != 8 + n % 50 ||
		    (q->len > 8 && q->data[q->len - 1] != (uint8_t)(n & 0xff))) {
			if (bad++ < 5)
				fprintf(stderr, "producer %u: got #%u (len %u), want #%u\n", id, n,
					q->len, id < PRODUCERS ? next[id] : 0);
		}
		if (id < PRODUCERS)
			next[id] = n + 1;
		lg_handoff_pop(&ring);
		got++;
	}
	for (unsigned i = 0; i < PRODUCERS; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ(next[i], PER_PRODUCER);
	}
	CHECK_EQ(bad, 0);
	CHECK(!lg_handoff_peek(&ring));
	printf("test_handoff: the ring was full %u times\n", atomic_load(&full_seen));

	/* Issue 10: a push wakes an owner that waits (its backend polls the eventfd), once;
	 * lg_wake_done() reads the write, so the next wait waits; an owner that does not wait
	 * is not signalled. */
	{
		static struct lg_wake wk;
		struct pollfd pfd = { .events = POLLIN };
		struct lg_rx_pkt q = { .data = big, .len = 4 };

		CHECK_EQ(lg_wake_init(&wk), 0);
		pfd.fd = wk.efd;
		ring.wake = &wk;
		lg_wake_prepare(&wk);
		CHECK(lg_handoff_push(&ring, &q));
		CHECK(lg_handoff_push(&ring, &q));
		CHECK_EQ(atomic_load(&wk.wakes), 1);
		CHECK_EQ(poll(&pfd, 1, 0), 1);
		lg_wake_done(&wk);
		CHECK_EQ(poll(&pfd, 1, 0), 0);
		CHECK(!wk.drain);
		lg_handoff_pop(&ring);
		lg_handoff_pop(&ring);
		CHECK(lg_handoff_push(&ring, &q)); /* not waiting: no signal */
		CHECK_EQ(atomic_load(&wk.wakes), 1);
		CHECK_EQ(poll(&pfd, 1, 0), 0);
		lg_handoff_pop(&ring);
		ring.wake = NULL;
		lg_wake_close(&wk);
	}
	lg_handoff_free(&ring);
	return lgt_done("test_handoff");
}
