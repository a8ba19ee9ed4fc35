// SPDX-License-Identifier: MIT
#include <linegate/replay.h>

#include <string.h>


static int test_bit(const struct lg_replay *r, uint64_t seq)
{
	uint64_t bit = seq % LG_REPLAY_WINDOW;

	return (r->bits[bit / 64] >> (bit % 64)) & 1;
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
		uint64_t shift = seq - r->highest;

		/* Clear the bits of the sequences the window slides past. */
		if (shift >= LG_REPLAY_WINDOW) {
			memset(r->bits, 0, sizeof(r->bits));
		} else {
			for (uint64_t s = r->highest + 1; s <= seq; s++) {
				bit = s % LG_REPLAY_WINDOW;
				r->bits[bit / 64] &= ~(1ULL << (bit % 64));
			}
		}
		r->highest = seq;
	}
	bit = seq % LG_REPLAY_WINDOW;
	r->bits[bit / 64] |= 1ULL << (bit % 64);
}
