// SPDX-License-Identifier: MIT
/* Honest latency (issue 12): the buckets and the quantiles every stage histogram shares. */
#include "latency.h"

/* The bounds, in ns; a is passed through to X (the binade table below). */
#define LG_LAT_BOUNDS(X, a)                                                                \
	X(5000, a) X(10000, a) X(20000, a) X(50000, a) X(100000, a) X(200000, a)           \
	X(500000, a) X(1000000, a) X(2000000, a) X(5000000, a) X(10000000, a)              \
	X(20000000, a) X(50000000, a) X(100000000, a) X(200000000, a) X(500000000, a)      \
	X(1000000000, a) X(2000000000, a)

#define LG_LAT_BOUND(v, a) v##ull,
const uint64_t lg_latency_bounds_ns[LG_LAT_BUCKETS - 1] = { LG_LAT_BOUNDS(LG_LAT_BOUND, 0) };

/* [k]: the bounds below 2^k, counted by the compiler. */
#define LG_LAT_BELOW(v, k) +(v##ull < (1ull << (k)))
#define LG_BIN(k) (uint8_t)(0 LG_LAT_BOUNDS(LG_LAT_BELOW, k)),
#define LG_BIN8(k) LG_BIN(k) LG_BIN(k + 1) LG_BIN(k + 2) LG_BIN(k + 3) LG_BIN(k + 4)          \
	LG_BIN(k + 5) LG_BIN(k + 6) LG_BIN(k + 7)
const uint8_t lg_latency_binade[64] = {
	LG_BIN8(0) LG_BIN8(8) LG_BIN8(16) LG_BIN8(24) LG_BIN8(32) LG_BIN8(40) LG_BIN8(48)
	LG_BIN8(56)
};

const char *const lg_lat_stage_names[LG_LAT_STAGES] = {
	[LG_LAT_ARRIVAL_WORKER] = "arrival_worker",
	[LG_LAT_WORKER_WINDOW] = "worker_window",
	[LG_LAT_WINDOW_SCORED] = "window_scored",
	[LG_LAT_SCORED_PUBLISHED] = "scored_published",
	[LG_LAT_END_TO_END] = "end_to_end",
};

const char *const lg_lat_stage_help[LG_LAT_STAGES] = {
	[LG_LAT_ARRIVAL_WORKER] = "Per frame: from its arrival (kernel or XDP timestamp) to the "
				  "worker picking it up (socket and ring queueing).",
	[LG_LAT_WORKER_WINDOW] = "Per row: from the worker picking up the frame that completed "
				 "the window to its features in the batch.",
	[LG_LAT_WINDOW_SCORED] = "Per row: from the window complete to its score.",
	[LG_LAT_SCORED_PUBLISHED] = "Per row: from its score to its output line written.",
	[LG_LAT_END_TO_END] = "Per row: from the arrival of the frame with the window's last "
			      "sample to its output line written (the sum of the stages).",
};

void lg_lat_take(struct lg_lat_snap *s, const struct lg_lat_hist *h)
{
	for (unsigned i = 0; i < LG_LAT_BUCKETS; i++)
		s->b[i] += atomic_load_explicit(&h->b[i], memory_order_relaxed);
	s->sum_ns += atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
}

uint64_t lg_lat_count(const struct lg_lat_snap *s)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < LG_LAT_BUCKETS; i++)
		n += s->b[i];
	return n;
}

uint64_t lg_lat_quantile(const struct lg_lat_snap *s, double q)
{
	uint64_t n = lg_lat_count(s), cum = 0;
	double rank;

	/* every sample 0 (a backend without arrival stamps: trial Q, s23 showed p50 2.5 us,
	 * the first bucket's middle, beside a sum of 0) */
	if (!n || !(q > 0) || !s->sum_ns)
		return 0;
	if (q > 1)
		q = 1;
	rank = q * (double)n;
	for (unsigned i = 0; i < LG_LAT_BUCKETS; i++) {
		double lo, hi;

		if ((double)(cum + s->b[i]) < rank) {
			cum += s->b[i];
			continue;
		}
		if (i == LG_LAT_BUCKETS - 1)
			return lg_latency_bounds_ns[LG_LAT_BUCKETS - 2];
		lo = i ? (double)lg_latency_bounds_ns[i - 1] : 0;
		hi = (double)lg_latency_bounds_ns[i];
		return (uint64_t)(lo + (hi - lo) * (rank - (double)cum) / (double)s->b[i]);
	}
	return lg_latency_bounds_ns[LG_LAT_BUCKETS - 2];
}
