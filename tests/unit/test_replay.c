// SPDX-License-Identifier: MIT
/* Anti-replay window: in order, reordered, duplicated, too old, big jumps. */
#include <linegate/replay.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static enum lg_reason accept_seq(struct lg_replay *r, uint64_t seq)
{
	enum lg_reason v = lg_replay_check(r, seq);

	if (v == LG_OK)
		lg_replay_commit(r, seq);
	return v;
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
