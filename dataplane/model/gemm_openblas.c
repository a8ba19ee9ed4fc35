/* SPDX-License-Identifier: MIT */
/* The OpenBLAS GEMM route: the weights are used as loaded (k x n row-major), nothing prepared. */
#include <cblas.h>

#include "gemm.h"
#include "model_internal.h"

void gemm_run_openblas(const struct model_layer *l, const float *src, size_t batch, float *dst,
		       const struct gemm_scratch *s)
{
	(void)s;
	if (batch == 1) {
		/*
		 * One frame is a matrix-vector product; OpenBLAS's sgemv skips the packing
		 * sgemm does, which is most of the cost at this size.
		 */
		cblas_sgemv(CblasRowMajor, CblasTrans, (int)l->k, (int)l->n, l->alpha, l->w,
			    (int)l->n, src, 1, 0.0f, dst, 1);
		return;
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)batch, (int)l->n, (int)l->k,
		    l->alpha, src, (int)l->k, l->w, (int)l->n, 0.0f, dst, (int)l->n);
}

/* cpuid without <cpuid.h>'s macros, so that a non-x86 build still compiles this file */
static int cpuid_bit(unsigned leaf, unsigned sub, int reg, int bit)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned r[4], max;

	__asm__ volatile("cpuid" : "=a"(max), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(0), "c"(0));
	if (leaf > max)
		return 0;
	__asm__ volatile("cpuid"
			 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(leaf), "c"(sub));
	return (r[reg] >> bit) & 1;
#else
	(void)leaf, (void)sub, (void)reg, (void)bit;
	return 0;
#endif
}

int gemm_cpu_has_avx512_bf16(void)
{
	return cpuid_bit(7, 1, 0, 5);
}

int gemm_cpu_has_amx_bf16(void)
{
	return cpuid_bit(7, 0, 3, 22);
}
