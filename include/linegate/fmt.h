/* SPDX-License-Identifier: MIT */
/*
 * Number formatting for the output thread's JSON lines, without printf: the same characters
 * snprintf() writes for "%.6g" and "%.1f" (C locale, round to nearest), at a fraction of the
 * cost. Where the decimal rounding cannot be decided from an extended-precision product
 * (a value within 1e-9 of a tie, a non-finite value, a platform without 64-bit long double)
 * they call snprintf() itself, so the result is always snprintf()'s.
 */
#ifndef LINEGATE_FMT_H
#define LINEGATE_FMT_H

#include <stddef.h>
#include <stdint.h>

/* Bytes a buffer for lg_fmt_g6() needs: "-1.23457e-308" and its NUL, with room to spare. */
#define LG_FMT_G6_MAX 16
/* Bytes a buffer for lg_fmt_f1() needs: any finite double, "-" 309 digits ".d" NUL. */
#define LG_FMT_F1_MAX 320

/* What snprintf(buf, LG_FMT_G6_MAX, "%.6g", v) writes; returns its length. */
size_t lg_fmt_g6(char *buf, double v);
/* What snprintf(buf, LG_FMT_F1_MAX, "%.1f", v) writes; returns its length. */
size_t lg_fmt_f1(char *buf, double v);
/* The decimal digits of v; returns their number (at most 20), no NUL. */
size_t lg_fmt_u64(char *buf, uint64_t v);

#endif /* LINEGATE_FMT_H */
