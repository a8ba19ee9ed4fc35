// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the anti-replay window (replay.c). The input is a list of
 * operations, each applied to a struct lg_replay and to the plain reference model of
 * tests/replay_model.h; any disagreement traps. Beyond "no crash": the same verdict for
 * every sequence, check() changes nothing, the same highest after every commit, the same
 * 64-bit number for every 16-bit one, and no operation hangs (libFuzzer's -timeout).
 *
 * Each operation is one byte, then its operands (little-endian); an operation cut short
 * by the end of the input is not applied:
 *
 *   low 3 bits  0: sequence = the next 8 bytes
 *               1: highest + 1 + the next 2 bytes
 *               2: highest - the next 2 bytes
 *               3: a 16-bit sequence (next 2 bytes) through lg_replay_extend16()
 *               4: highest + 2^(next byte % 64)
 *               5: 2^64 - 1 - the next 2 bytes
 *               6: two DataSetMessages of one UADP message: highest + 1 + the next 2
 *                  bytes and highest - the 2 after, both checked, then both committed
 *               7: a new window (and a new model)
 *   bit 3       the frame's tag fails: checked, never committed
 *
 * (sums wrap modulo 2^64, so the ends of the space come within reach of short inputs).
 */
#include <linegate/replay.h>

#include <stdbool.h>
#include <string.h>

#include "../tests/replay_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEEN_CAP 8192 /* the model's set; a new window before it is half full */

static uint64_t le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

/* Check seq on both; the verdict, or -1 when they disagree or check() changed the window. */
static int check_both(const struct lg_replay *r, const struct replay_model *m, uint64_t seq)
{
	struct lg_replay before = *r;
	enum lg_reason got = lg_replay_check(r, seq);

	if (got != replay_model_verdict(m, seq) || memcmp(&before, r, sizeof(before)))
		return -1;
	return (int)got;
}

static void commit_both(struct lg_replay *r, struct replay_model *m, uint64_t seq)
{
	lg_replay_commit(r, seq);
	replay_model_commit(m, seq);
	if (r->highest != m->highest)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned operands[8] = {8, 2, 2, 2, 1, 2, 4, 0};
	static uint64_t seen[SEEN_CAP];
	struct lg_replay r = {0};
	struct replay_model m;
	size_t i = 0;

	replay_model_init(&m, seen, SEEN_CAP);
	while (i < size) {
		unsigned op = data[i] & 7;
		bool tag_ok = !(data[i] & 8);
		const uint8_t *arg = data + i + 1;
		uint64_t seq, b = 0;
		int v;

		if (size - i - 1 < operands[op])
			break;
		i += 1 + operands[op];
		if (op == 7 || replay_model_full(&m)) {
			memset(&r, 0, sizeof(r));
			replay_model_init(&m, seen, SEEN_CAP);
			continue;
		}
		switch (op) {
		case 0:
			seq = le(arg, 8);
			break;
		case 1:
			seq = r.highest + 1 + le(arg, 2);
			break;
		case 6:
			seq = r.highest + 1 + le(arg, 2);
			b = r.highest - le(arg + 2, 2);
			break;
		case 2:
			seq = r.highest - le(arg, 2);
			break;
		case 3:
			seq = lg_replay_extend16(&r, (uint16_t)le(arg, 2));
			if (seq != replay_model_extend16(&m, (uint16_t)le(arg, 2)))
				__builtin_trap();
			if (!seq)
				continue; /* the worker refuses it as too old, as check() does 0 */
			break;
		case 4:
			seq = r.highest + (1ULL << (arg[0] % 64));
			break;
		default:
			seq = UINT64_MAX - le(arg, 2);
			break;
		}
		v = check_both(&r, &m, seq);
		if (v < 0)
			__builtin_trap();
		if (op == 6) {
			/* Both checked against the window before either is committed. */
			int vb = check_both(&r, &m, b);

			if (vb < 0)
				__builtin_trap();
			if (v == LG_OK && vb == LG_OK && tag_ok) {
				commit_both(&r, &m, seq);
				commit_both(&r, &m, b);
			}
			continue;
		}
		if (v == LG_OK && tag_ok)
			commit_both(&r, &m, seq);
	}
	return 0;
}
