// SPDX-License-Identifier: MIT
#include <linegate/replay.h>

#include <string.h>

_Static_assert(LG_REPLAY_WINDOW % 64 == 0, "LG_REPLAY_WINDOW must be a multiple of 64");

static int test_bit(const struct lg_replay *r, uint64_t seq)
{
	uint64_t bit = seq % LG_REPLAY_WINDOW;

	return (r->bits[bit / 64] >> (bit % 64)) & 1;
}

/* Clear n < LG_REPLAY_WINDOW consecutive bits from bit first on, wrapping around the ring:
 * a word at a time, so the cost is bounded by the window, not by the sequence numbers. */
static void clear_bits(struct lg_replay *r, uint64_t first, uint64_t n)
{
	while (n) {
		unsigned off = first % 64;
		uint64_t take = 64 - off < n ? 64 - off : n;
		uint64_t mask = take == 64 ? ~0ULL : ((1ULL << take) - 1) << off;

		r->bits[first / 64] &= ~mask;
		first = (first + take) % LG_REPLAY_WINDOW;
		n -= take;
	}
}

enum lg_reason lg_replay_check(const struct lg_replay *r, uint64_t seq)
{
	if (seq == 0)
		return LG_DROP_TOO_OLD; /* sequences start at 1 */
	if (seq > r->highest)
		return LG_OK;
	if (r->highest - seq >= LG_REPLAY_WINDOW)
		return LG_DROP_TOO_OLD;
	return test_bit(r, seq) ? LG_DROP_REPLAYED : LG_OK;
}

void lg_replay_commit(struct lg_replay *r, uint64_t seq)
{
	uint64_t bit;

	if (seq > r->highest) {
		/* No overflow: highest < seq <= UINT64_MAX. */
		uint64_t shift = seq - r->highest;

		/* Clear the bits of the sequences the window slides past. */
		if (shift >= LG_REPLAY_WINDOW)
			memset(r->bits, 0, sizeof(r->bits));
		else
			clear_bits(r, (r->highest + 1) % LG_REPLAY_WINDOW, shift);
		r->highest = seq;
	} else if (!seq || r->highest - seq >= LG_REPLAY_WINDOW) {
		/* Below the window, where its bit stands for a newer sequence: committed after
		 * another frame checked with it moved the window (a UADP message's DataSetMessages
		 * are all checked before any is committed). */
		return;
	}
	bit = seq % LG_REPLAY_WINDOW;
	r->bits[bit / 64] |= 1ULL << (bit % 64);
}

uint64_t lg_replay_extend16(const struct lg_replay *r, uint16_t seq)
{
	/* How far seq is ahead of the 16-bit number the highest stands for (highest - 1, as
	 * sequences start at 1), modulo 2^16. Unsigned all the way: the highest may be
	 * anywhere in 1..2^64 - 1, not only below 2^63. */
	uint16_t ahead = (uint16_t)(seq - (uint16_t)(r->highest - 1));
	uint64_t behind;

	if (!r->highest)
		return (uint64_t)seq + 1;
	if (ahead < 0x8000)
		return ahead <= UINT64_MAX - r->highest ? r->highest + ahead : 0;
	behind = 0x10000 - (uint64_t)ahead; /* 1..32768 */
	return behind < r->highest ? r->highest - behind : 0;
}
