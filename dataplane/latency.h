/* SPDX-License-Identifier: MIT */
/*
 * Honest latency (issue 12): histograms per stage of a frame's path, all on the same buckets
 * (lg_latency_bounds_ns) and in one clock domain, CLOCK_MONOTONIC. Arrival is the time the
 * kernel or the NIC side took the frame (lg_rx_pkt.arrival_ns: a socket's SO_TIMESTAMPNS
 * converted from CLOCK_REALTIME once per burst, the XDP program's bpf_ktime_get_ns(), or the
 * DPDK rx burst); pickup is when the worker's rx_burst returned it (lg_rx_pkt.rx_ns).
 *
 *	arrival_worker     a frame: arrival -> its worker picks it up (socket/ring queueing)
 *	worker_window      a row: pickup of the frame that completed the window -> the window's
 *	                   features are in the batch (verify, decode, window, features)
 *	window_scored      a row: window complete -> scored (batch wait, model)
 *	scored_published   a row: scored -> its output line written (output ring, write(2))
 *	end_to_end         a row: arrival of the frame that carried the window's last sample ->
 *	                   published; the sum of the four stages, exactly
 *
 * Written by one thread each (the workers the first three, the output thread the last two),
 * read by anyone: relaxed atomics, no locks.
 */
#ifndef LG_LATENCY_H
#define LG_LATENCY_H

#include <stdatomic.h>
#include <stdint.h>

/* Upper bounds in ns of all but the last bucket, which is +Inf: 1-2-5 steps, 5 us to 2 s. */
#define LG_LAT_BUCKETS 19
extern const uint64_t lg_latency_bounds_ns[LG_LAT_BUCKETS - 1];

enum lg_lat_stage {
	LG_LAT_ARRIVAL_WORKER,
	LG_LAT_WORKER_WINDOW,
	LG_LAT_WINDOW_SCORED,
	LG_LAT_SCORED_PUBLISHED,
	LG_LAT_END_TO_END,
	LG_LAT_STAGES
};

/* Stage names as metrics (linegate_latency_<name>_seconds) and stats keys show them. */
extern const char *const lg_lat_stage_names[LG_LAT_STAGES];
extern const char *const lg_lat_stage_help[LG_LAT_STAGES];

struct lg_lat_hist {
	_Atomic uint64_t b[LG_LAT_BUCKETS];
	_Atomic uint64_t sum_ns;
};

/* A plain copy, to add up and read. */
struct lg_lat_snap {
	uint64_t b[LG_LAT_BUCKETS];
	uint64_t sum_ns;
};

/* lg_latency_binade[k]: the bounds below 2^k. No two bounds share a binade [2^k, 2^(k+1))
 * (1-2-5 steps are at least 2x apart; test_latency checks it), so one compare finishes. */
extern const uint8_t lg_latency_binade[64];

/* The first bucket whose bound is >= ns, in O(1) (issue 10: the output thread takes three a
 * line; walking the bounds from 5 us cost about 70 instructions at 1 ms, callgrind). */
static inline unsigned lg_latency_bucket(uint64_t ns)
{
	unsigned b;

	if (!ns)
		return 0;
	b = lg_latency_binade[63 - __builtin_clzll(ns)];
	return b + (b < LG_LAT_BUCKETS - 1 && ns > lg_latency_bounds_ns[b]);
}

/*
 * c += v for a counter only one thread writes (others only read it): a relaxed load and
 * store, without the locked read-modify-write of atomic_fetch_add (issue 10: four of those
 * a frame on the worker's receive path, each a full barrier on x86). A reader still sees
 * each value whole, and never one going backwards.
 */
static inline void lg_add_1w(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
			      memory_order_relaxed);
}

/* One sample (one writer per histogram). */
static inline void lg_lat_add(struct lg_lat_hist *h, uint64_t ns)
{
	lg_add_1w(&h->b[lg_latency_bucket(ns)], 1);
	lg_add_1w(&h->sum_ns, ns);
}

/* Add h into s. */
void lg_lat_take(struct lg_lat_snap *s, const struct lg_lat_hist *h);
uint64_t lg_lat_count(const struct lg_lat_snap *s);
/*
 * The q-quantile (0 < q <= 1) in ns, as Prometheus' histogram_quantile() computes it: the
 * bucket that holds rank q * count, linear inside it (from 0 for the first bucket); a rank in
 * the +Inf bucket answers the highest finite bound. 0 for an empty histogram.
 */
uint64_t lg_lat_quantile(const struct lg_lat_snap *s, double q);

#endif /* LG_LATENCY_H */
