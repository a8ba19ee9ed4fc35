// SPDX-License-Identifier: MIT
/*
 * Anti-replay window: in order, reordered, duplicated, too old, big jumps; the ends of the
 * 64-bit space; the 16-bit UADP unwrap; jumps of every power of two and a random walk,
 * against the reference model in ../replay_model.h.
 */
#include <linegate/replay.h>

#include <signal.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"
#include "../replay_model.h"

static enum lg_reason accept_seq(struct lg_replay *r, uint64_t seq)
{
	enum lg_reason v = lg_replay_check(r, seq);

	if (v == LG_OK)
		lg_replay_commit(r, seq);
	return v;
}

/* A window whose highest is h, as after a frame with sequence h. */
static struct lg_replay at(uint64_t h)
{
	struct lg_replay r = {0};

	if (h)
		lg_replay_commit(&r, h);
	return r;
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

/* The window and the model, side by side: the same verdict, check() changes nothing, the
 * same highest after a commit. Prints the first few disagreements. */
static enum lg_reason both(struct lg_replay *r, struct replay_model *m, uint64_t seq, bool commit)
{
	static int shown;
	struct lg_replay before = *r;
	enum lg_reason want = replay_model_verdict(m, seq), got = lg_replay_check(r, seq);

	lgt_checks++;
	if (got == want && !memcmp(&before, r, sizeof(before))) {
		if (got == LG_OK && commit) {
			lg_replay_commit(r, seq);
			replay_model_commit(m, seq);
		}
		if (r->highest == m->highest)
			return got;
	}
	lgt_failures++;
	if (shown++ < 10)
		fprintf(stderr,
			"seq %llu after highest %llu: %d, the model %d; highest %llu, %llu\n",
			(unsigned long long)seq, (unsigned long long)before.highest, got, want,
			(unsigned long long)r->highest, (unsigned long long)m->highest);
	return got;
}

static uint64_t seen_table[4096], walk_table[1 << 16];

/*
 * Jumps of every power of two from several places, some near the ends: the new highest is
 * taken once; what was seen before stays refused, what was not is taken once while it is
 * in the window; below the window everything is too old.
 */
static void test_jumps(void)
{
	static const uint64_t starts[] = {1,
					  2,
					  1000,
					  1023,
					  1024,
					  1025,
					  65536,
					  (1ULL << 32) - 1,
					  1ULL << 32,
					  (1ULL << 63) - 1,
					  1ULL << 63,
					  UINT64_MAX - (1ULL << 20),
					  UINT64_MAX - 2048,
					  UINT64_MAX - 1025};
	static const uint64_t offs[] = {0,   1,	   2,	 3,    5,    63,   64,	 65,   511,
					512, 1021, 1022, 1023, 1024, 1025, 2047, 2048, 4096};
	struct replay_model m;
	struct lg_replay r;

	for (size_t si = 0; si < sizeof(starts) / sizeof(starts[0]); si++) {
		for (int k = 0; k < 64; k++) {
			uint64_t start = starts[si], jump = 1ULL << k, to;

			if (jump > UINT64_MAX - start)
				continue;
			to = start + jump;
			memset(&r, 0, sizeof(r));
			replay_model_init(&m, seen_table, 4096);
			/* Before: the start and some below it, every third one. */
			for (uint64_t o = 0; o < LG_REPLAY_WINDOW && o < start; o += 3)
				CHECK_EQ(both(&r, &m, start - o, true), LG_OK);
			CHECK_EQ(both(&r, &m, to, true), LG_OK);
			CHECK_EQ(both(&r, &m, to, true), LG_DROP_REPLAYED);
			CHECK_EQ(r.highest, to);
			/* Below the new highest, and below the old one. */
			for (size_t oi = 0; oi < sizeof(offs) / sizeof(offs[0]); oi++) {
				const uint64_t bases[] = {to, start, to - jump / 2};

				for (size_t bi = 0; bi < 3; bi++) {
					uint64_t seq = bases[bi] - offs[oi];
					enum lg_reason want;

					if (offs[oi] > bases[bi])
						continue;
					if (to - seq >= LG_REPLAY_WINDOW || !seq)
						want = LG_DROP_TOO_OLD;
					else if (seq == to ||
						 (seq <= start && (start - seq) % 3 == 0 &&
						  start - seq < LG_REPLAY_WINDOW))
						want = LG_DROP_REPLAYED;
					else
						want = replay_model_seen(&m, seq) ? LG_DROP_REPLAYED
										  : LG_OK;
					CHECK_EQ(both(&r, &m, seq, true), want);
					CHECK_EQ(both(&r, &m, seq, true), want == LG_DROP_TOO_OLD
									      ? LG_DROP_TOO_OLD
									      : LG_DROP_REPLAYED);
				}
			}
		}
	}
}

/* lg_replay_extend16() and the model's search agree on every 16-bit number, for highests
 * at the boundaries. */
static void test_extend16_model(void)
{
	static const uint64_t highs[] = {0,
					 1,
					 2,
					 10,
					 32767,
					 32768,
					 32769,
					 65535,
					 65536,
					 65537,
					 (1ULL << 63) - 1,
					 1ULL << 63,
					 (1ULL << 63) + 1,
					 UINT64_MAX - 32768,
					 UINT64_MAX - 32767,
					 UINT64_MAX - 1,
					 UINT64_MAX};
	struct replay_model m;

	for (size_t i = 0; i < sizeof(highs) / sizeof(highs[0]); i++) {
		struct lg_replay r = at(highs[i]);
		unsigned wrong = 0;

		replay_model_init(&m, seen_table, 4096);
		replay_model_commit(&m, highs[i]);
		for (uint32_t s = 0; s < 65536; s++)
			wrong += lg_replay_extend16(&r, (uint16_t)s) !=
				 replay_model_extend16(&m, (uint16_t)s);
		CHECK_EQ(wrong, 0);
	}
}

static uint64_t rnd_state = 0x2545f4914f6cdd1dULL;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545f4914f6cdd1dULL;
}

/*
 * A seeded random walk against the model: steps forward and back, jumps of every size,
 * duplicates, the ends of the space, frames that fail their tag (checked, not committed),
 * 16-bit sequences through lg_replay_extend16(); now and then a new window somewhere else.
 */
static void test_random_walk(void)
{
	static const uint64_t places[] = {0,
					  1,
					  5000,
					  65530,
					  (1ULL << 32) - 10,
					  (1ULL << 63) - 700,
					  UINT64_MAX - 70000,
					  UINT64_MAX - 3000};
	struct replay_model m;
	struct lg_replay r = {0};
	uint64_t recent[64] = {0};

	replay_model_init(&m, walk_table, sizeof(walk_table) / sizeof(walk_table[0]));
	for (int i = 0; i < 400000; i++) {
		uint64_t x = rnd(), hi = r.highest, seq;
		unsigned op = x % 100;
		bool commit = (x >> 8) % 16 != 0; /* one in 16 fails its tag */

		x >>= 12;
		if (op < 35) {
			seq = hi + 1 + x % 4;
		} else if (op < 50) {
			/* Below 1100 seldom wrapping round to the top of the space. */
			seq = hi - x % (hi < 1100 && (x >> 11) % 8 ? hi + 1 : 1100);
		} else if (op < 60) {
			seq = hi + (1ULL << (x % 4 ? x % 24 : x % 64)) + (x >> 6) % 3 - 1;
		} else if (op < 75) {
			uint16_t s16 = (uint16_t)(hi - 1 + (x % 5 ? x % 2000 - 1000 : x));
			uint64_t ext = lg_replay_extend16(&r, s16);

			CHECK_EQ(ext, replay_model_extend16(&m, s16));
			if (!ext)
				continue;
			seq = ext;
		} else if (op < 79) {
			static const uint64_t ends[] = {0,
							1,
							2,
							(1ULL << 63) - 1,
							1ULL << 63,
							(1ULL << 63) + 1,
							UINT64_MAX - 1,
							UINT64_MAX};

			seq = ends[x % 8];
			if ((x >> 3) % 2)
				seq -= (x >> 4) % 3000;
			commit = commit && (x >> 20) % 16 == 0; /* else the walk stays up there */
		} else if (op < 91) {
			seq = recent[x % 64];
		} else if (op < 96) {
			seq = x;
		} else if (op < 99) {
			/* Two DataSetMessages of one UADP message: both checked, then committed. */
			uint64_t a = hi + 1 + x % 3000, b = hi - (x >> 12) % 1100;
			enum lg_reason va = both(&r, &m, a, false), vb = both(&r, &m, b, false);

			if (va == LG_OK && vb == LG_OK && commit) {
				lg_replay_commit(&r, a);
				replay_model_commit(&m, a);
				lg_replay_commit(&r, b);
				replay_model_commit(&m, b);
			}
			seq = b;
		} else {
			seq = 0;
		}
		/* A new window, now and then and soon after the end of the space. */
		if (op == 99 || (hi == UINT64_MAX && x % 16 == 0) || replay_model_full(&m)) {
			memset(&r, 0, sizeof(r));
			replay_model_init(&m, walk_table,
					  sizeof(walk_table) / sizeof(walk_table[0]));
			memset(recent, 0, sizeof(recent));
			seq = places[(x >> 6) % 8] + 1;
		}
		if (both(&r, &m, seq, commit) == LG_OK && commit)
			recent[i % 64] = seq;
	}
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
	"jumps; the ends of the 64-bit space; 16-bit UADP sequences unwrapped; jumps of every\n"
	"power of two and a seeded random walk compared with a reference model.\n"
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
	test_extend16_model();
	test_jumps();
	test_random_walk();
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
