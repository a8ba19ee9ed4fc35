/* SPDX-License-Identifier: MIT */
/*
 * The anti-replay window of include/linegate/replay.h written the plain way, as a reference
 * for test_replay and fuzz_replay: every accepted sequence kept in a set, the highest beside
 * it, the rules read with integers that cannot overflow (128 bits), the 16-bit unwrap as a
 * search among the numbers that carry those 16 bits. Slow, small and obviously right; the
 * real window must agree with it on every verdict.
 */
#ifndef LG_REPLAY_MODEL_H
#define LG_REPLAY_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <linegate/replay.h>

__extension__ typedef unsigned __int128 rm_u128;
__extension__ typedef __int128 rm_i128;

struct replay_model {
	uint64_t highest; /* highest accepted, 0 = none yet */
	uint64_t *seen;	  /* open addressing set of the accepted ones; 0 = empty slot */
	size_t cap;	  /* slots, a power of two */
	size_t n;	  /* sequences in the set */
};

/* seen: cap slots, cap a power of two; the model holds at most cap / 2 sequences. */
static inline void replay_model_init(struct replay_model *m, uint64_t *seen, size_t cap)
{
	m->highest = 0;
	m->seen = seen;
	m->cap = cap;
	m->n = 0;
	memset(seen, 0, cap * sizeof(*seen));
}

static inline bool replay_model_full(const struct replay_model *m)
{
	return m->n >= m->cap / 2;
}

static inline size_t replay_model_slot(const struct replay_model *m, uint64_t seq)
{
	size_t i = (size_t)((seq * 0x9e3779b97f4a7c15ULL) >> 32) & (m->cap - 1);

	while (m->seen[i] && m->seen[i] != seq)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static inline bool replay_model_seen(const struct replay_model *m, uint64_t seq)
{
	return seq && m->seen[replay_model_slot(m, seq)] == seq;
}

/* Too old: 0, or at least a window's length below the highest, counted without wrapping. */
static inline bool replay_model_too_old(const struct replay_model *m, uint64_t seq)
{
	return !seq || (rm_u128)seq + LG_REPLAY_WINDOW <= m->highest;
}

static inline enum lg_reason replay_model_verdict(const struct replay_model *m, uint64_t seq)
{
	if (replay_model_too_old(m, seq))
		return LG_DROP_TOO_OLD;
	return replay_model_seen(m, seq) ? LG_DROP_REPLAYED : LG_OK;
}

/* What lg_replay_commit() promises: a too old one is ignored. The caller keeps the set from
 * filling (replay_model_full()). */
static inline void replay_model_commit(struct replay_model *m, uint64_t seq)
{
	size_t i;

	if (replay_model_too_old(m, seq))
		return;
	i = replay_model_slot(m, seq);
	if (m->seen[i] != seq) {
		m->seen[i] = seq;
		m->n++;
	}
	if (seq > m->highest)
		m->highest = seq;
}

/*
 * The 16-bit sequence s stands for one of the numbers s + 1 + k * 65536. Of those, take the
 * one nearest the highest, the older on a tie (32768 either way); 0 if it is not in
 * 1..2^64 - 1. Before any sequence, s + 1.
 */
static inline uint64_t replay_model_extend16(const struct replay_model *m, uint16_t s)
{
	rm_i128 hi = m->highest, x;

	if (!m->highest)
		return (uint64_t)s + 1;
	x = (rm_i128)s + 1 - 65536;    /* a candidate below hi: hi >= 1 */
	x += (hi - x) / 65536 * 65536; /* the greatest candidate <= hi */
	if (hi - x > 32768)
		x += 65536; /* the next one is nearer */
	if (x < 1 || x > (rm_i128)UINT64_MAX)
		return 0;
	return (uint64_t)x;
}

#endif /* LG_REPLAY_MODEL_H */
