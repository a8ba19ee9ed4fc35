/* SPDX-License-Identifier: MIT */
/* What the inference benchmarks share: a monotonic clock in seconds, and a qsort order for
 * the trial times whose median and best they print. */
#ifndef LG_BENCH_TIME_H
#define LG_BENCH_TIME_H

#include <time.h>

static inline double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

#endif
