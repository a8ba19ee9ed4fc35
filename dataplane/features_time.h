/* SPDX-License-Identifier: MIT */
/*
 * The time-domain statistics' two passes over a contiguous window, one implementation per ISA
 * (features_time_{scalar,avx2,avx512}.c, each built with its own flags); features.c picks one
 * once and turns the sums into the statistics.
 *
 * Every implementation adds in the same order, so that a row does not depend on the machine
 * that computed it: sample i goes to float lane i % LG_TIME_LANES; each lane sums at most
 * LG_TIME_BLOCK / LG_TIME_LANES samples in float, then is added to a double per lane; at the
 * end lane l takes in lane l + 16, then l + 8, l + 4, l + 2 and l + 1, and lane 0 is the sum.
 * No multiply-add is fused (the files are built with -ffp-contract=off and call no fma
 * intrinsic): a fused and an unfused one round apart.
 */
#ifndef LG_FEATURES_TIME_H
#define LG_FEATURES_TIME_H

#include <stddef.h>

/* Two AVX-512 vectors (four AVX2 ones): two add chains per sum hide the add's latency. */
#define LG_TIME_LANES 32
#define LG_TIME_BLOCK 512

struct lg_time_kernels {
	/* Pass 1: *sum = the sum of the x[i], *peak = the largest |x[i]| (NaN samples skipped;
	 * the caller takes another path when the sum is not finite). */
	void (*sums)(const float *x, size_t n, double *sum, float *peak);
	/* Pass 2: m[k - 1] = the sum of d^k over the window, d = (x[i] - c) * s, k = 1..4; s is a
	 * power of two that keeps d^4 inside float's range. */
	void (*moments)(const float *x, size_t n, float c, float s, double m[4]);
};

extern const struct lg_time_kernels lg_time_scalar;
#ifdef LG_FEATURES_X86
extern const struct lg_time_kernels lg_time_avx2;
extern const struct lg_time_kernels lg_time_avx512;
#endif

#endif
