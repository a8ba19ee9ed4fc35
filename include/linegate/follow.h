/* SPDX-License-Identifier: MIT */
/*
 * Does a device's frame follow its last one? One rule for the data plane's windows
 * (dataplane/window.c) and for the trainer's and linegate-quality's reading of a capture
 * (control/ingest.c), so that both cut a stream into the same runs of consecutive samples
 * (docs/models.md, "Training on your own line"). A frame does not follow when
 * - its sequence is not the next (a frame lost, or dropped for a bad sample, its rate or
 *   channel count); or
 * - the stream is on its samples' clock (its last LG_FOLLOW_STEADY_RUN frames each started
 *   within half a frame, at least 1 ms, of where the last one's samples ended) and the
 *   frame's timestamp is more than LG_FOLLOW_PAUSE_NS (and 4 frames) late: a machine that
 *   stopped and started again, its sequence unbroken.
 * A sender stamping another clock (a load generator replaying a recording faster than it
 * was measured, a gateway's arrival time) is never steady and is cut at sequence gaps only:
 * its stamps say nothing about its samples.
 */
#ifndef LINEGATE_FOLLOW_H
#define LINEGATE_FOLLOW_H

#include <stdbool.h>
#include <stdint.h>

#define LG_FOLLOW_STEADY_RUN 8
#define LG_FOLLOW_PAUSE_NS 1000000000ull

struct lg_follow {
	uint64_t next_seq;   /* the sequence the next frame must have (0 = no frame yet) */
	uint64_t ts_next_ns; /* LGF: where the last frame's samples ended on its clock (0: none) */
	uint8_t ts_steady;   /* frames in a row that started where the last one's samples ended */
};

/*
 * Frame seq, stamped ts_ns (0: no clock) with dur_ns of samples (0: none), comes next: the
 * state moves on to it, and the result says whether it does not follow the last (a gap).
 * The first frame is no gap. A UADP DataSetMessage of the message before (group sequence:
 * the same seq again, no timestamp) follows.
 */
static inline bool lg_follow_next(struct lg_follow *s, uint64_t seq, uint64_t ts_ns,
				  uint64_t dur_ns)
{
	bool gap = s->next_seq && seq != s->next_seq;

	if (s->next_seq && seq == s->next_seq - 1 && !ts_ns)
		gap = false;
	if (ts_ns && dur_ns) {
		if (s->ts_next_ns) {
			int64_t d = (int64_t)(ts_ns - s->ts_next_ns);
			uint64_t tol = dur_ns / 2 > 1000000 ? dur_ns / 2 : 1000000;
			uint64_t pause = 4 * dur_ns > LG_FOLLOW_PAUSE_NS ? 4 * dur_ns
									 : LG_FOLLOW_PAUSE_NS;

			if (s->ts_steady >= LG_FOLLOW_STEADY_RUN && d > (int64_t)pause)
				gap = true;
			if ((uint64_t)(d < 0 ? -d : d) > tol)
				s->ts_steady = 0;
			else if (s->ts_steady < UINT8_MAX)
				s->ts_steady++;
		}
		s->ts_next_ns = ts_ns + dur_ns;
	}
	s->next_seq = seq + 1;
	return gap;
}

/* A frame without samples (an LGF heartbeat) took sequence seq: the stream goes on. */
static inline void lg_follow_seq_moves(struct lg_follow *s, uint64_t seq)
{
	if (s->next_seq)
		s->next_seq = seq + 1;
}

#endif
