// SPDX-License-Identifier: MIT
/* The latency histograms' math (dataplane/latency.c): which bucket a sample lands in at each
 * bound, and quantiles exactly as Prometheus' histogram_quantile() computes them from the
 * same buckets. */
#include "latency.h"

#include "../lgtest.h"
#include "../lgt_cli.h"

static const char usage[] =
	"Usage: test_latency\n"
	"\n"
	"The latency histograms of dataplane/latency.c: buckets at their bounds and quantiles\n"
	"(p50, p99) against values worked out by hand.\n"
	"\n" LGT_EXIT_STATUS;

static struct lg_lat_snap snap(const struct lg_lat_hist *h)
{
	struct lg_lat_snap s = { 0 };

	lg_lat_take(&s, h);
	return s;
}

/* A bound belongs to its own bucket (le = less or equal), one ns more to the next. */
static void buckets(void)
{
	CHECK_EQ(lg_latency_bucket(0), 0);
	CHECK_EQ(lg_latency_bucket(5000), 0);
	CHECK_EQ(lg_latency_bucket(5001), 1);
	for (unsigned i = 0; i < LG_LAT_BUCKETS - 1; i++) {
		CHECK_EQ(lg_latency_bucket(lg_latency_bounds_ns[i]), i);
		CHECK_EQ(lg_latency_bucket(lg_latency_bounds_ns[i] + 1), i + 1);
		if (i)
			CHECK(lg_latency_bounds_ns[i] > lg_latency_bounds_ns[i - 1]);
	}
	CHECK_EQ(lg_latency_bucket(UINT64_MAX), LG_LAT_BUCKETS - 1);
	CHECK_EQ(lg_latency_bounds_ns[LG_LAT_BUCKETS - 2], 2000000000ull);
}

/* The bucket by the definition: walk the bounds. */
static unsigned bucket_walk(uint64_t ns)
{
	unsigned b = 0;

	while (b < LG_LAT_BUCKETS - 1 && ns > lg_latency_bounds_ns[b])
		b++;
	return b;
}

/* lg_latency_bucket() (one table look-up by the highest bit, one compare) answers what
 * walking the bounds answers: at every power of two and its neighbours, every bound and
 * its neighbours, and a million values spread over every binade; its premise, one bound
 * at most in each [2^k, 2^(k+1)), holds. */
static void buckets_fast(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned differ = 0;

	for (unsigned i = 1; i < LG_LAT_BUCKETS - 1; i++)
		CHECK(63 - __builtin_clzll(lg_latency_bounds_ns[i]) !=
		      63 - __builtin_clzll(lg_latency_bounds_ns[i - 1]));
	for (unsigned k = 0; k < 64; k++)
		for (int d = -1; d <= 1; d++) {
			uint64_t v = (1ull << k) + (uint64_t)(int64_t)d;

			differ += lg_latency_bucket(v) != bucket_walk(v);
		}
	for (unsigned i = 0; i < LG_LAT_BUCKETS - 1; i++)
		for (int d = -2; d <= 2; d++) {
			uint64_t v = lg_latency_bounds_ns[i] + (uint64_t)(int64_t)d;

			differ += lg_latency_bucket(v) != bucket_walk(v);
		}
	for (unsigned i = 0; i < 1000000; i++) {
		uint64_t v;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		v = x >> (x % 64); /* every binade, not only the top ones */
		differ += lg_latency_bucket(v) != bucket_walk(v);
	}
	CHECK_EQ(differ, 0);
}

static void quantiles(void)
{
	struct lg_lat_hist h = { 0 };
	struct lg_lat_snap s;

	s = snap(&h);
	CHECK_EQ(lg_lat_count(&s), 0);
	CHECK_EQ(lg_lat_quantile(&s, 0.5), 0);

	/* samples of 0 only (no arrival stamps): every quantile 0, not the first bucket's
	 * middle (trial Q, s23: p50 2.5 us beside a sum of 0) */
	for (int i = 0; i < 50; i++)
		lg_lat_add(&h, 0);
	s = snap(&h);
	CHECK_EQ(lg_lat_count(&s), 50);
	CHECK_EQ(lg_lat_quantile(&s, 0.5), 0);
	CHECK_EQ(lg_lat_quantile(&s, 0.99), 0);
	h = (struct lg_lat_hist){ 0 };

	/* 100 samples: 90 of 3 us (bucket <= 5 us), 10 of 150 ms (bucket 100..200 ms). */
	for (int i = 0; i < 90; i++)
		lg_lat_add(&h, 3000);
	for (int i = 0; i < 10; i++)
		lg_lat_add(&h, 150000000);
	s = snap(&h);
	CHECK_EQ(lg_lat_count(&s), 100);
	CHECK_EQ(s.sum_ns, 90ull * 3000 + 10ull * 150000000);
	CHECK_EQ(s.b[0], 90);
	CHECK_EQ(s.b[lg_latency_bucket(150000000)], 10);
	/* p50: rank 50 of 90 in [0, 5 us]: 5 us * 50 / 90 */
	CHECK_EQ(lg_lat_quantile(&s, 0.5), 2777);
	/* p90: rank 90, the top of the first bucket */
	CHECK_EQ(lg_lat_quantile(&s, 0.9), 5000);
	/* p99: rank 99, 9 of 10 into (100 ms, 200 ms]: 190 ms */
	CHECK_EQ(lg_lat_quantile(&s, 0.99), 190000000);
	CHECK_EQ(lg_lat_quantile(&s, 1.0), 200000000);
	/* Quantiles never fall as q rises. */
	for (double q = 0.01, last = 0; q <= 1.0; q += 0.01) {
		double v = (double)lg_lat_quantile(&s, q);

		CHECK(v >= last);
		last = v;
	}

	/* A rank in +Inf answers the highest finite bound, as Prometheus does. */
	lg_lat_add(&h, 5000000000ull);
	s = snap(&h);
	CHECK_EQ(s.b[LG_LAT_BUCKETS - 1], 1);
	CHECK_EQ(lg_lat_quantile(&s, 1.0), 2000000000ull);

	/* Several writers' histograms add up bucket by bucket. */
	{
		struct lg_lat_hist a = { 0 }, b = { 0 };
		struct lg_lat_snap t = { 0 };

		lg_lat_add(&a, 7000);
		lg_lat_add(&b, 7000);
		lg_lat_add(&b, 1500000);
		lg_lat_take(&t, &a);
		lg_lat_take(&t, &b);
		CHECK_EQ(lg_lat_count(&t), 3);
		CHECK_EQ(t.b[1], 2);
		CHECK_EQ(t.b[lg_latency_bucket(1500000)], 1);
		CHECK_EQ(t.sum_ns, 1514000);
		/* p50: rank 1.5 of 2 in (5 us, 10 us]: 5 + 5 * 1.5 / 2 = 8.75 us */
		CHECK_EQ(lg_lat_quantile(&t, 0.5), 8750);
	}
}

int main(int argc, char **argv)
{
	lgt_cli(argc, argv, usage, 0, 0);
	buckets();
	buckets_fast();
	quantiles();
	return lgt_done("latency");
}
