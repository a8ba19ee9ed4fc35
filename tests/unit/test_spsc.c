// SPDX-License-Identifier: MIT
/*
 * The workers' event rings (dataplane.h, struct lg_spsc): a push fails only when the ring
 * holds size events; lg_spsc_peek(r, k) shows the k-th oldest event in place until
 * lg_spsc_release() gives its slot back; a producer never writes a slot the consumer has
 * not released (each side reads the other's index only when its cached copy says full or
 * empty, issue 10). Two threads through a ring of 64: every event arrives once, in order,
 * whole (no field of a later event in a slot still being read).
 */
#include "dataplane.h"

#include <pthread.h>
#include <string.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static const char usage[] =
	"Usage: test_spsc\n"
	"The event ring: full and empty, peek and release in place, and a producer and a\n"
	"consumer thread through a ring of 64 (order, no loss, no torn event).\n"
	"\n" LGT_EXIT_STATUS;

#define EVENTS 400000u

static struct lg_spsc ring;
static uint64_t bad_order, bad_body, got;

static void fill(struct lg_event *e, uint64_t i)
{
	e->seq = i;
	e->score = (float)(i & 0xffff);
	e->device_id = (uint32_t)(i * 2654435761u);
	memset(e->name, 'a' + (int)(i % 26), sizeof(e->name) - 1);
	e->name[sizeof(e->name) - 1] = '\0';
	e->sample_end_ns = ~i;
}

static bool whole(const struct lg_event *e, uint64_t i)
{
	return e->seq == i && e->score == (float)(i & 0xffff) &&
	       e->device_id == (uint32_t)(i * 2654435761u) &&
	       e->name[0] == 'a' + (int)(i % 26) && e->name[sizeof(e->name) - 2] == e->name[0] &&
	       e->sample_end_ns == ~i;
}

/* As the output thread drains: up to 256 events in place, then one release. */
static void *consumer(void *arg)
{
	uint64_t next = 0;

	(void)arg;
	while (next < EVENTS) {
		const struct lg_event *e;
		unsigned k = 0;

		while (k < 256 && (e = lg_spsc_peek(&ring, k))) {
			if (e->seq != next)
				bad_order++;
			/* Read twice, apart: a producer overwriting the slot shows between. */
			else if (!whole(e, next) || (sched_yield(), !whole(e, next)))
				bad_body++;
			next = e->seq + 1;
			k++;
		}
		if (k) {
			lg_spsc_release(&ring, k);
			got += k;
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static struct lg_event e;
	const struct lg_event *p;
	pthread_t t;

	lgt_cli(argc, argv, usage, 0, 0);
	CHECK_EQ(lg_spsc_init(&ring, 8), 0);

	/* One thread: full at 8, empty at 0, peek in place, release frees exactly n. */
	CHECK(lg_spsc_peek(&ring, 0) == NULL);
	for (uint64_t i = 0; i < 8; i++) {
		fill(&e, i);
		CHECK(lg_spsc_push(&ring, &e));
	}
	fill(&e, 8);
	CHECK(!lg_spsc_push(&ring, &e));
	for (unsigned k = 0; k < 8; k++) {
		p = lg_spsc_peek(&ring, k);
		CHECK(p && whole(p, k));
	}
	CHECK(lg_spsc_peek(&ring, 8) == NULL);
	lg_spsc_release(&ring, 3);
	p = lg_spsc_peek(&ring, 0);
	CHECK(p && p->seq == 3);
	for (uint64_t i = 8; i < 11; i++) {
		fill(&e, i);
		CHECK(lg_spsc_push(&ring, &e));
	}
	fill(&e, 11);
	CHECK(!lg_spsc_push(&ring, &e)); /* 8 again: 3..10 */
	p = lg_spsc_peek(&ring, 7);
	CHECK(p && whole(p, 10));
	for (uint64_t i = 3; i < 11; i++) {
		struct lg_event out;

		CHECK(lg_spsc_pop(&ring, &out));
		CHECK(whole(&out, i));
	}
	CHECK(lg_spsc_peek(&ring, 0) == NULL);
	CHECK(!lg_spsc_pop(&ring, &e));
	lg_spsc_free(&ring);

	/* Two threads through 64 slots. */
	CHECK_EQ(lg_spsc_init(&ring, 64), 0);
	CHECK_EQ(pthread_create(&t, NULL, consumer, NULL), 0);
	for (uint64_t i = 0; i < EVENTS; i++) {
		fill(&e, i);
		while (!lg_spsc_push(&ring, &e))
			sched_yield();
	}
	pthread_join(t, NULL);
	printf("test_spsc: %llu events through 64 slots, %llu out of order, %llu torn\n",
	       (unsigned long long)got, (unsigned long long)bad_order,
	       (unsigned long long)bad_body);
	CHECK_EQ(got, EVENTS);
	CHECK_EQ(bad_order, 0);
	CHECK_EQ(bad_body, 0);
	lg_spsc_free(&ring);
	return lgt_done("test_spsc");
}
