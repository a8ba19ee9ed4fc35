// SPDX-License-Identifier: MIT
/* Anti-replay window: in order, reordered, duplicated, too old, big jumps. */
#include <linegate/replay.h>

#include <signal.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static enum lg_reason accept_seq(struct lg_replay *r, uint64_t seq)
{
	enum lg_reason v = lg_replay_check(r, seq);

	if (v == LG_OK)
		lg_replay_commit(r, seq);
	return v;
}

/* A commit that never returns (the window sliding up to 2^64 - 1 once did) fails the test
 * with a message instead of hanging until meson's timeout. */
static void hung(int sig)
{
	static const char msg[] = "test_replay: still running after the watchdog's time\n";

	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1);
}

/* The ends of the 64-bit space and the sign bit: nothing there may overflow. */
static void test_extremes(void)
{
	struct lg_replay r = {0};
	const uint64_t top = UINT64_MAX;

	alarm(5);
	CHECK_EQ(accept_seq(&r, 0), LG_DROP_TOO_OLD);
	CHECK_EQ(accept_seq(&r, 1), LG_OK);
	CHECK_EQ(accept_seq(&r, 0), LG_DROP_TOO_OLD);
	CHECK_EQ(accept_seq(&r, 1), LG_DROP_REPLAYED);
	CHECK_EQ(accept_seq(&r, (1ULL << 63) - 1), LG_OK);
	CHECK_EQ(accept_seq(&r, 1), LG_DROP_TOO_OLD);
	CHECK_EQ(accept_seq(&r, 1ULL << 63), LG_OK);
	CHECK_EQ(accept_seq(&r, (1ULL << 63) + 1), LG_OK);
	CHECK_EQ(accept_seq(&r, (1ULL << 63) - 1), LG_DROP_REPLAYED);
	CHECK_EQ(accept_seq(&r, 1ULL << 63), LG_DROP_REPLAYED);
	CHECK_EQ(accept_seq(&r, (1ULL << 63) + 1), LG_DROP_REPLAYED);
	CHECK_EQ(accept_seq(&r, (1ULL << 63) - 2), LG_OK);
	CHECK_EQ(accept_seq(&r, top - 1), LG_OK);
	CHECK_EQ(accept_seq(&r, top), LG_OK); /* slides the window by one, up to the end */
	CHECK_EQ(r.highest, top);
	CHECK_EQ(accept_seq(&r, top), LG_DROP_REPLAYED);
	CHECK_EQ(accept_seq(&r, top - 1), LG_DROP_REPLAYED);
	CHECK_EQ(accept_seq(&r, top - 2), LG_OK);
	CHECK_EQ(accept_seq(&r, top - (LG_REPLAY_WINDOW - 1)), LG_OK);
	CHECK_EQ(accept_seq(&r, top - LG_REPLAY_WINDOW), LG_DROP_TOO_OLD);
	CHECK_EQ(accept_seq(&r, 1ULL << 63), LG_DROP_TOO_OLD);
	CHECK_EQ(accept_seq(&r, 0), LG_DROP_TOO_OLD);

	/* Every step below the window up to the end, in order: each slide by one. */
	memset(&r, 0, sizeof(r));
	for (uint64_t s = top - 3 * LG_REPLAY_WINDOW;; s++) {
		CHECK_EQ(accept_seq(&r, s), LG_OK);
		if (s == top)
			break;
	}
	CHECK_EQ(accept_seq(&r, top), LG_DROP_REPLAYED);
	CHECK_EQ(accept_seq(&r, top - (LG_REPLAY_WINDOW - 1)), LG_DROP_REPLAYED);
	CHECK_EQ(accept_seq(&r, top - LG_REPLAY_WINDOW), LG_DROP_TOO_OLD);

	/* Slides by less than the window that end at 2^64 - 1 (the old per-sequence loop's
	 * counter wrapped to 0 there and never ended). */
	for (uint64_t d = 1; d < LG_REPLAY_WINDOW; d = 2 * d + 1) {
		memset(&r, 0, sizeof(r));
		CHECK_EQ(accept_seq(&r, top - d), LG_OK);
		CHECK_EQ(accept_seq(&r, top), LG_OK);
		CHECK_EQ(accept_seq(&r, top - d), LG_DROP_REPLAYED);
		CHECK_EQ(accept_seq(&r, top - d + 1), d > 1 ? LG_OK : LG_DROP_REPLAYED);
	}
	alarm(0);
}

static const char usage[] =
	"Usage: test_replay [options]\n"
	"\n"
	"The anti-replay window: sequences in order, reordered, duplicated, too old, and big\n"
	"jumps.\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: \"test_replay: N checks, M failed\" on stdout.\n"
	LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	struct lg_replay r = { 0 };

	lgt_cli(argc, argv, usage, 0, 0);
	signal(SIGALRM, hung);
	test_extremes();
	CHECK_EQ(lg_replay_check(&r, 0), LG_DROP_TOO_OLD);
	for (uint64_t s = 1; s <= 100; s++)
		CHECK_EQ(accept_seq(&r, s), LG_OK);
	for (uint64_t s = 1; s <= 100; s++)
		CHECK_EQ(accept_seq(&r, s), LG_DROP_REPLAYED);
	CHECK_EQ(r.highest, 100);

	/* Reordering inside the window: each late frame once, then refused. */
	memset(&r, 0, sizeof(r));
	CHECK_EQ(accept_seq(&r, 2000), LG_OK);
	CHECK_EQ(accept_seq(&r, 2000 - 1023), LG_OK);     /* oldest still in the window */
	CHECK_EQ(accept_seq(&r, 2000 - 1023), LG_DROP_REPLAYED);
	CHECK_EQ(accept_seq(&r, 2000 - 1024), LG_DROP_TOO_OLD);
	CHECK_EQ(accept_seq(&r, 1500), LG_OK);
	CHECK_EQ(accept_seq(&r, 1500), LG_DROP_REPLAYED);

	/* Sliding: a bit set for 1500 must not haunt 1500 + 1024 when the window moves. */
	CHECK_EQ(accept_seq(&r, 2524), LG_OK);
	CHECK_EQ(accept_seq(&r, 2523), LG_OK);
	CHECK_EQ(accept_seq(&r, 1500), LG_DROP_TOO_OLD);
	CHECK_EQ(accept_seq(&r, 2001), LG_OK);

	/* A jump larger than the window forgets everything below it. */
	CHECK_EQ(accept_seq(&r, 1000000), LG_OK);
	CHECK_EQ(accept_seq(&r, 1000000 - 5), LG_OK);
	CHECK_EQ(accept_seq(&r, 2524), LG_DROP_TOO_OLD);

	/* check() alone never changes the window: a frame whose tag fails is not committed. */
	memset(&r, 0, sizeof(r));
	CHECK_EQ(accept_seq(&r, 10), LG_OK);
	CHECK_EQ(lg_replay_check(&r, 11), LG_OK);
	CHECK_EQ(lg_replay_check(&r, 11), LG_OK);
	CHECK_EQ(r.highest, 10);

	/* Exhaustive against a model: random order, every duplicate refused exactly. */
	{
		static uint8_t seen[20000];
		uint64_t x = 12345;
		struct lg_replay m = { 0 };
		uint64_t hi = 0;

		for (int i = 0; i < 200000; i++) {
			uint64_t seq;
			enum lg_reason want, got;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			seq = 1 + x % 19999;
			if (seq > hi)
				want = LG_OK;
			else if (hi - seq >= LG_REPLAY_WINDOW)
				want = LG_DROP_TOO_OLD;
			else
				want = seen[seq] ? LG_DROP_REPLAYED : LG_OK;
			got = accept_seq(&m, seq);
			if (got != want) {
				CHECK_EQ(got, want);
				break;
			}
			if (got == LG_OK) {
				seen[seq] = 1;
				if (seq > hi)
					hi = seq;
			}
		}
	}
	return lgt_done("test_replay");
}
