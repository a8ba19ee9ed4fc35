/* SPDX-License-Identifier: MIT */
/*
 * Anti-replay window as in RFC 4303 section 3.4.3, widened to 64-bit sequence
 * numbers and LG_REPLAY_WINDOW frames: reordered frames inside the window are
 * accepted once, duplicates and frames below the window are refused. The
 * window advances only through lg_replay_commit(), called after the tag has
 * verified, so a forged frame cannot move it.
 */
#ifndef LINEGATE_REPLAY_H
#define LINEGATE_REPLAY_H

#include <stdint.h>

#include <linegate/frame.h>

#define LG_REPLAY_WINDOW 1024 /* frames; a multiple of 64 */

struct lg_replay {
	uint64_t highest; /* highest accepted sequence, 0 = none yet */
	uint64_t bits[LG_REPLAY_WINDOW / 64]; /* bit (seq % WINDOW) set = seen */
};

/* LG_OK, LG_DROP_REPLAYED or LG_DROP_TOO_OLD; changes nothing. */
enum lg_reason lg_replay_check(const struct lg_replay *r, uint64_t seq);
/* Record seq as seen; seq must have passed lg_replay_check(). One that a commit since
 * has left below the window (or 0) changes nothing. */
void lg_replay_commit(struct lg_replay *r, uint64_t seq);
/*
 * A 16-bit sequence number (OPC UA UADP's), unwrapped into the window's 64-bit space
 * against the highest one accepted so far (serial number arithmetic, RFC 1982): up to
 * 32767 ahead is newer, up to 32768 behind is older. The first maps 0..65535 to
 * 1..65536, as sequences start at 1. 0 when it would fall before 1 or after 2^64 - 1:
 * lg_replay_check() refuses 0. The same 16 bits recur every 65536 frames: a frame
 * recorded 32769..65535 frames ago unwraps as newer, and the window takes it again.
 */
uint64_t lg_replay_extend16(const struct lg_replay *r, uint16_t seq);

#endif /* LINEGATE_REPLAY_H */
