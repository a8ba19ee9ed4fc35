// SPDX-License-Identifier: MIT
/*
 * The JSON lines writer (output.c) on a pipe of one page that nobody reads: a line a short
 * write cut is finished first, whole, when the reader reads again (never glued to another);
 * the lines that did not fit are dropped and counted per kind; at shutdown, the writer waits
 * until the deadline and no longer, and counts what is left as abandoned.
 */
#include "dataplane.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <time.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static const char usage[] =
	"Usage: test_jsonl_writer\n"
	"The JSON lines writer on a one-page pipe nobody reads: cut lines finished whole,\n"
	"drops and abandons counted per kind, the shutdown deadline kept.\n";

/* n events into worker 0's rings: every alert_every-th an alert. */
static void push(struct lg_dp *dp, unsigned n, unsigned alert_every, uint64_t seq0)
{
	for (unsigned i = 0; i < n; i++) {
		struct lg_event e = { .device_id = 101, .threshold = 17, .score = 1.5f,
				      .seq = seq0 + i, .rx_ns = lg_now_ns() };
		bool alert = alert_every && i % alert_every == 0;

		e.alert = alert;
		snprintf(e.name, sizeof(e.name), "press-1-vib");
		CHECK(lg_spsc_push(alert ? &dp->workers[0].alerts : &dp->workers[0].scores_ring, &e));
	}
}

/* Everything in the pipe now; whole lines counted, each valid JSON with the seq expected
 * next (*seq, advanced). Returns the bytes read; *cut the bytes after the last newline. */
static size_t read_lines(int fd, unsigned *lines, size_t *cut)
{
	static char buf[1 << 20];
	static size_t have;
	size_t total = 0;
	ssize_t n;

	while ((n = read(fd, buf + have, sizeof(buf) - have)) > 0) {
		have += (size_t)n;
		total += (size_t)n;
	}
	for (char *nl; (nl = memchr(buf, '\n', have));) {
		json_object *o;

		*nl = '\0';
		o = json_tokener_parse(buf);
		CHECK(o != NULL);
		json_object_put(o);
		(*lines)++;
		have -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, have);
	}
	*cut = have;
	return total;
}

static uint64_t sum(_Atomic uint64_t *a)
{
	uint64_t s = 0;

	for (unsigned k = 0; k < LG_OUT_KINDS; k++)
		s += atomic_load(&a[k]);
	return s;
}

int main(int argc, char **argv)
{
	static struct lg_dp dp;
	int p[2], fl;
	unsigned lines = 0;
	size_t cut = 0;
	uint64_t t0, ms;

	lgt_cli(argc, argv, usage, 0, 0);
	CHECK_EQ(pipe(p), 0);
	/* One page: about 16 lines fit; the 17th is cut by the short write. */
	CHECK(fcntl(p[1], F_SETPIPE_SZ, 4096) >= 4096);
	fl = fcntl(p[0], F_GETFL);
	fcntl(p[0], F_SETFL, fl | O_NONBLOCK);
	dp.nworkers = 1;
	dp.workers[0].dp = &dp;
	CHECK_EQ(lg_spsc_init(&dp.workers[0].alerts, 1024), 0);
	CHECK_EQ(lg_spsc_init(&dp.workers[0].scores_ring, 1024), 0);
	dp.out = fdopen(p[1], "w");
	CHECK(dp.out != NULL);
	lg_output_prepare(&dp);
	CHECK(!dp.out_seekable);
	CHECK(fcntl(p[1], F_GETFL) & O_NONBLOCK);

	/* 40 lines, every 10th an alert (drained first): some fit, one is cut, the rest wait
	 * 100 ms for the reader and are dropped. */
	push(&dp, 40, 10, 1);
	lg_output_drain_all(&dp);
	CHECK(dp.out_tail_len > 0);
	CHECK_EQ(dp.out_errno, EAGAIN);
	read_lines(p[0], &lines, &cut);
	CHECK(cut > 0); /* the cut line's first part */
	CHECK_EQ(sum(dp.out_k_written), lines);
	CHECK_EQ(sum(dp.out_k_written) + sum(dp.out_k_dropped), 39u); /* + the cut one */
	CHECK_EQ(atomic_load(&dp.out_k_written[LG_OUT_ALERT]), 4u);
	/* The reader read: the next flush finishes the cut line first, whole. */
	lg_output_drain_all(&dp);
	CHECK_EQ(dp.out_tail_len, 0u);
	read_lines(p[0], &lines, &cut);
	CHECK_EQ(cut, 0u);
	CHECK_EQ(sum(dp.out_k_written), lines);
	CHECK_EQ(sum(dp.out_k_written) + sum(dp.out_k_dropped), 40u);
	CHECK_EQ(atomic_load(&dp.out_written), lines);
	CHECK_EQ(atomic_load(&dp.out_dropped), 40u - lines);
	CHECK_EQ(sum(dp.out_k_abandoned), 0u);

	/* Shutdown, 300 ms: 200 more lines and a reader that never reads again. The writer
	 * waits until the deadline, not longer; what is left is abandoned, none dropped. */
	{
		uint64_t written = sum(dp.out_k_written), dropped = sum(dp.out_k_dropped);

		push(&dp, 200, 0, 100);
		t0 = lg_now_ns();
		lg_output_set_deadline(&dp, 300000000ull);
		lg_output_drain_all(&dp);
		ms = (lg_now_ns() - t0) / 1000000;
		CHECK(ms >= 290 && ms < 1000);
		CHECK_EQ(sum(dp.out_k_dropped), dropped);
		CHECK(sum(dp.out_k_abandoned) > 0);
		CHECK_EQ(sum(dp.out_k_written) - written + sum(dp.out_k_abandoned), 200u);
		CHECK_EQ(atomic_load(&dp.out_k_abandoned[LG_OUT_SCORE]), sum(dp.out_k_abandoned));
		/* Past the deadline, a flush writes nothing and does not wait. */
		push(&dp, 5, 0, 300);
		t0 = lg_now_ns();
		lg_output_drain_all(&dp);
		CHECK((lg_now_ns() - t0) / 1000000 < 50);
		CHECK_EQ(sum(dp.out_k_written) - written + sum(dp.out_k_abandoned), 205u);
	}
	lg_output_close(&dp);
	close(p[0]);
	lg_spsc_free(&dp.workers[0].alerts);
	lg_spsc_free(&dp.workers[0].scores_ring);
	return lgt_done("jsonl_writer");
}
