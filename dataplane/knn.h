/* SPDX-License-Identifier: MIT */
/*
 * The kNN detector's row minimum (detector.c, issue 8), one implementation per ISA
 * (knn_{scalar,avx2,avx512}.c, each built with its own flags, no fused multiply-add):
 * detector.c picks one at run time. For a row of G = Z T^T (the batch's standardised rows
 * against the kept training rows) it returns min over j of tn[j] - 2 g[j]: with |z|^2 added,
 * the squared distance to the nearest training row. Doubling is exact and a minimum picks
 * one of the values, so every ISA gives the same bits. A NaN in g or tn may be skipped or
 * taken differently per ISA: detector.c makes a row with a non-finite |z|^2 NaN itself.
 */
#ifndef LG_KNN_H
#define LG_KNN_H

#include <stddef.h>

typedef float (*lg_knn_rowmin_fn)(const float *g, const float *tn, size_t m);

float lg_knn_rowmin_scalar(const float *g, const float *tn, size_t m);
/* x86-64 builds only (LG_FEATURES_X86) */
float lg_knn_rowmin_avx2(const float *g, const float *tn, size_t m);
float lg_knn_rowmin_avx512(const float *g, const float *tn, size_t m);

#endif
