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

/* A UADP message's DataSetMessages are all checked before any is committed: committing
 * an earlier one may move the window past a later one, whose bit then stands for a newer
 * sequence. It must be left alone. */
static void test_commit_below(void)
{
	struct lg_replay r = {0};

	CHECK_EQ(accept_seq(&r, 5000), LG_OK);
	CHECK_EQ(lg_replay_check(&r, 4990), LG_OK);
	CHECK_EQ(lg_replay_check(&r, 7000), LG_OK);
	lg_replay_commit(&r, 7000);
	lg_replay_commit(&r, 4990); /* below 7000's window now */
	CHECK_EQ(lg_replay_check(&r, 4990), LG_DROP_TOO_OLD);
	CHECK_EQ(lg_replay_check(&r, 4990 + LG_REPLAY_WINDOW), LG_OK); /* the same bit */
	CHECK_EQ(accept_seq(&r, 4990 + 2 * LG_REPLAY_WINDOW), LG_OK);
	lg_replay_commit(&r, 0); /* never valid, bit 0 */
	CHECK_EQ(lg_replay_check(&r, 6 * LG_REPLAY_WINDOW), LG_OK);
	CHECK_EQ(r.highest, 7038);
}

/* A window whose highest is h, as after a frame with sequence h. */
static struct lg_replay at(uint64_t h)
{
	struct lg_replay r = {0};

	if (h)
		lg_replay_commit(&r, h);
	return r;
}

/* 16-bit UADP sequences: the first, both wraps, the half-way boundaries, the ends. */
static void test_extend16(void)
{
	const uint64_t top = UINT64_MAX;
	struct lg_replay r = at(0);

	CHECK_EQ(lg_replay_extend16(&r, 0), 1);
	CHECK_EQ(lg_replay_extend16(&r, 65535), 65536);
	r = at(65536); /* 16-bit 65535 */
	CHECK_EQ(lg_replay_extend16(&r, 65535), 65536);
	CHECK_EQ(lg_replay_extend16(&r, 0), 65537); /* wraps forward */
	CHECK_EQ(lg_replay_extend16(&r, 65534), 65535);
	r = at(65537); /* 16-bit 0; 65535 is one behind, across the wrap */
	CHECK_EQ(lg_replay_extend16(&r, 65535), 65536);
	CHECK_EQ(lg_replay_extend16(&r, 1), 65538);

	/* 32767 ahead is newer, 32768 either way is older. */
	r = at(100001); /* 16-bit 34464 */
	CHECK_EQ(lg_replay_extend16(&r, (uint16_t)(34464 + 32767)), 100001 + 32767);
	CHECK_EQ(lg_replay_extend16(&r, (uint16_t)(34464 + 32768)), 100001 - 32768);
	CHECK_EQ(lg_replay_extend16(&r, (uint16_t)(34464 - 32768)), 100001 - 32768);
	CHECK_EQ(lg_replay_extend16(&r, (uint16_t)(34464 - 32767)), 100001 - 32767);
	r = at(32769); /* 16-bit 32768: 0 is 32768 behind, sequence 1 */
	CHECK_EQ(lg_replay_extend16(&r, 0), 1);
	CHECK_EQ(lg_replay_extend16(&r, 65535), 32769 + 32767);
	r = at(32768); /* 16-bit 32767: 65535 is 32768 behind, before sequence 1 */
	CHECK_EQ(lg_replay_extend16(&r, 65535), 0);
	CHECK_EQ(lg_replay_extend16(&r, 0), 1);

	/* Before the first sequence. */
	r = at(10); /* 16-bit 9 */
	CHECK_EQ(lg_replay_extend16(&r, 0), 1);
	CHECK_EQ(lg_replay_extend16(&r, 65535), 0);
	CHECK_EQ(lg_replay_extend16(&r, (uint16_t)(9 - 32768)), 0);
	CHECK_EQ(lg_replay_extend16(&r, (uint16_t)(9 + 32767)), 10 + 32767);

	/* Across 2^63 (as int64_t the highest turns negative there) and up to 2^64 - 1. */
	r = at((1ULL << 63) - 1);
	CHECK_EQ(lg_replay_extend16(&r, (uint16_t)((1ULL << 63) - 2)), (1ULL << 63) - 1);
	CHECK_EQ(lg_replay_extend16(&r, (uint16_t)((1ULL << 63) - 1)), 1ULL << 63);
	CHECK_EQ(lg_replay_extend16(&r, (uint16_t)((1ULL << 63) + 32765)), (1ULL << 63) + 32766);
	CHECK_EQ(lg_replay_extend16(&r, (uint16_t)((1ULL << 63) + 32766)), (1ULL << 63) - 32769);
	r = at((1ULL << 63) + 5);
	CHECK_EQ(lg_replay_extend16(&r, (uint16_t)((1ULL << 63) + 5)), (1ULL << 63) + 6);
	CHECK_EQ(lg_replay_extend16(&r, (uint16_t)((1ULL << 63) + 1)), (1ULL << 63) + 2);
	CHECK_EQ(lg_replay_extend16(&r, (uint16_t)((1ULL << 63) - 100)), (1ULL << 63) - 99);
	r = at(top - 32767); /* 16-bit 32767 */
	CHECK_EQ(lg_replay_extend16(&r, 65534), top);
	CHECK_EQ(lg_replay_extend16(&r, 65535), top - 32767 - 32768);
	r = at(top - 1); /* 16-bit 65533 */
	CHECK_EQ(lg_replay_extend16(&r, 65534), top);
	CHECK_EQ(lg_replay_extend16(&r, 65535), 0); /* would be 2^64 */
	CHECK_EQ(lg_replay_extend16(&r, 65533 + 32767 - 65536), 0);
	CHECK_EQ(lg_replay_extend16(&r, 65533 + 32768 - 65536), top - 1 - 32768);
	r = at(top); /* 16-bit 65534 */
	CHECK_EQ(lg_replay_extend16(&r, 65534), top);
	CHECK_EQ(lg_replay_extend16(&r, 65533), top - 1);
	for (uint32_t s = 65535; s <= 65534 + 32767; s++)
		if (lg_replay_extend16(&r, (uint16_t)s)) {
			CHECK_EQ(lg_replay_extend16(&r, (uint16_t)s), 0);
			break;
		}

	/* A long run in order, wrapping three times: every one taken, in the 64-bit space. */
	r = at(0);
	for (uint32_t i = 0; i < 200000; i++) {
		uint16_t s = (uint16_t)(65000 + i);
		uint64_t e = lg_replay_extend16(&r, s);

		if (e != 65001ULL + i || lg_replay_check(&r, e) != LG_OK) {
			CHECK_EQ(e, 65001ULL + i);
			CHECK_EQ(lg_replay_check(&r, e), LG_OK);
			break;
		}
		lg_replay_commit(&r, e);
	}
	CHECK_EQ(r.highest, 65001ULL + 199999);

	/* Messages recorded and sent again after the wrap: from just before it, taken once if
	 * they were lost, then refused as replayed; from 2000 frames before, too old. Later the
	 * same 16 bits come round again: they stand for the newest sequence with them. (A frame
	 * 32769..65535 frames old unwraps as newer: 16 bits cannot tell, see replay.h.) */
	r = at(0);
	for (uint32_t i = 0; i < 70000; i++) {
		uint16_t s = (uint16_t)(62000 + i);

		/* Lost on the way the first time round, but recorded. */
		if (i < 60000 && (s == 65530 || s == 63530 || s == 4))
			continue;
		CHECK_EQ(accept_seq(&r, lg_replay_extend16(&r, s)), LG_OK);
		if (i == 65536 - 62000 + 10) { /* 16-bit 10, after the wrap */
			CHECK_EQ(accept_seq(&r, lg_replay_extend16(&r, 65529)), LG_DROP_REPLAYED);
			CHECK_EQ(accept_seq(&r, lg_replay_extend16(&r, 65530)), LG_OK);
			CHECK_EQ(accept_seq(&r, lg_replay_extend16(&r, 65530)), LG_DROP_REPLAYED);
			CHECK_EQ(accept_seq(&r, lg_replay_extend16(&r, 63530)), LG_DROP_TOO_OLD);
			CHECK_EQ(accept_seq(&r, lg_replay_extend16(&r, 4)), LG_OK);
			CHECK_EQ(accept_seq(&r, lg_replay_extend16(&r, 4)), LG_DROP_REPLAYED);
			CHECK_EQ(accept_seq(&r, lg_replay_extend16(&r, 5)), LG_DROP_REPLAYED);
		}
	}
	/* 16-bit 927 now; 4 and 65530 went by again and were taken. */
	CHECK_EQ(lg_replay_extend16(&r, 4), 62000 + 70000 - 923);
	CHECK_EQ(accept_seq(&r, lg_replay_extend16(&r, 4)), LG_DROP_REPLAYED);
	CHECK_EQ(accept_seq(&r, lg_replay_extend16(&r, 65530)), LG_DROP_REPLAYED);
	CHECK_EQ(accept_seq(&r, lg_replay_extend16(&r, 63530)), LG_DROP_TOO_OLD);
	CHECK_EQ(accept_seq(&r, lg_replay_extend16(&r, (uint16_t)(927 - 1024))), LG_DROP_TOO_OLD);
	CHECK_EQ(accept_seq(&r, lg_replay_extend16(&r, (uint16_t)(927 - 1023))), LG_DROP_REPLAYED);
	CHECK_EQ(r.highest, 62000 + 70000);
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
	test_commit_below();
	test_extend16();
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
