// SPDX-License-Identifier: MIT
/*
 * "%.6g" and "%.1f" without printf (include/linegate/fmt.h). perf put glibc's printf_fp at
 * the top of the output thread: one score line had three of them.
 *
 * %.6g: the six significant digits are round(|v| * 10^(5 - X)) for the decimal exponent X
 * that puts the result in [100000, 999999]. The product is taken in long double (64-bit
 * significand): 10^k comes from two table entries (one exact, one correctly rounded) and a
 * product, then one multiply or divide by v, so it is within 2^-61 of |v| * 10^k relative,
 * under 5e-13 absolute below 10^6. Its fraction then decides the rounding unless it is
 * within 1e-9 of one half: such a value (an exact tie such as 1234565, or one that close to
 * it) goes to snprintf(), which decides with exact arithmetic. One value in about 5e8 of
 * random ones does.
 *
 * %.1f: |v| * 10 is exact in long double (53 + 4 bits), so its rounding, ties to even as
 * glibc's, is decided exactly for |v| < 9e17; larger values go to snprintf().
 */
#include <linegate/fmt.h>

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#if LDBL_MANT_DIG >= 64
#define LG_FMT_FAST 1
#else
#define LG_FMT_FAST 0 /* long double is double here: snprintf() decides every value */
#endif

/* "00" "01" .. "99": two digits a division. */
static const char pairs[201] = "0001020304050607080910111213141516171819"
			       "2021222324252627282930313233343536373839"
			       "4041424344454647484950515253545556575859"
			       "6061626364656667686970717273747576777879"
			       "8081828384858687888990919293949596979899";

static const uint64_t p10_u64[20] = {
	1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
	100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
	10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
	100000000000000000ull, 1000000000000000000ull, 10000000000000000000ull,
};

/* Its digits' count, from the highest bit (1233 / 4096 is log10(2) to 4 digits). */
static size_t u64_digits(uint64_t v)
{
	unsigned t = (unsigned)(64 - __builtin_clzll(v | 1)) * 1233 >> 12;

	return t + ((v | 1) >= p10_u64[t]); /* 0: one digit */
}

/* Written backwards from its end, two digits at a time (issue 10: a score line has four
 * or five of them; a digit a division made this the output thread's largest function). */
size_t lg_fmt_u64(char *buf, uint64_t v)
{
	size_t n = u64_digits(v);
	char *p = buf + n;

	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);

		v /= 100;
		p -= 2;
		memcpy(p, pairs + 2 * r, 2);
	}
	if (v >= 10)
		memcpy(p - 2, pairs + 2 * v, 2);
	else
		p[-1] = (char)('0' + v);
	return n;
}

#if LG_FMT_FAST
/* 10^0 .. 10^27: exact in a 64-bit significand (5^27 < 2^64). */
static const long double p10_lo[28] = {
	1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,	 1e7L,	1e8L,  1e9L,
	1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L,
	1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L,
};
/* 10^(28 j), correctly rounded by the compiler: up to 10^336 covers 10^(5 + 324 + 5). */
static const long double p10_hi[13] = {
	1e0L,	1e28L,	1e56L,	1e84L,	1e112L, 1e140L, 1e168L,
	1e196L, 1e224L, 1e252L, 1e280L, 1e308L, 1e336L,
};

/* 10^k for 0 <= k <= 363, within two roundings. */
static long double pow10_ld(int k)
{
	return p10_hi[k / 28] * p10_lo[k % 28];
}

/* |v| * 10^k in long double, for |k| <= 363. */
static long double scale(double a, int k)
{
	return k >= 0 ? (long double)a * pow10_ld(k) : (long double)a / pow10_ld(-k);
}

/* floor(log10(2^e)) for |e| < 2000 (78913 / 2^18 is log10(2) to 6 digits; checked by the
 * caller, which corrects by one either way). */
static int floor_log10_pow2(int e)
{
	return (int)(((int64_t)e * 78913 + ((int64_t)2000 << 18)) >> 18) - 2000;
}

/* Round m >= 0 to an integer; false when it is too close to a tie to tell. */
static bool round_ld(long double m, uint64_t *q)
{
	uint64_t i = (uint64_t)m;
	long double f = m - (long double)i;

	if (f > 0.5L - 1e-9L && f < 0.5L + 1e-9L)
		return false;
	*q = i + (f > 0.5L);
	return true;
}

/* Digits d (6 of them, d[0] != '0') with decimal exponent x as %.6g prints them. */
static size_t g6_digits(char *p, const char d[6], int x)
{
	char *s = p;
	int last = 5;

	while (last > 0 && d[last] == '0')
		last--;
	if (x < -4 || x >= 6) {
		unsigned ax = (unsigned)(x < 0 ? -x : x);

		*p++ = d[0];
		if (last > 0) {
			*p++ = '.';
			memcpy(p, d + 1, (size_t)last);
			p += last;
		}
		*p++ = 'e';
		*p++ = x < 0 ? '-' : '+';
		if (ax >= 100)
			*p++ = (char)('0' + ax / 100);
		*p++ = (char)('0' + ax / 10 % 10);
		*p++ = (char)('0' + ax % 10);
	} else if (x >= 0) {
		memcpy(p, d, (size_t)x + 1);
		p += x + 1;
		if (last > x) {
			*p++ = '.';
			memcpy(p, d + x + 1, (size_t)(last - x));
			p += last - x;
		}
	} else {
		*p++ = '0';
		*p++ = '.';
		for (int i = -1; i > x; i--)
			*p++ = '0';
		memcpy(p, d, (size_t)last + 1);
		p += last + 1;
	}
	return (size_t)(p - s);
}

/* frexp()'s exponent of a finite a > 0, from its bits but for subnormals (frexp's call
 * was a tenth of lg_fmt_g6()). */
static int binexp(double a)
{
	uint64_t bits;
	int e2;

	memcpy(&bits, &a, sizeof(bits));
	if (!(bits >> 52 & 0x7ff)) {
		frexp(a, &e2);
		return e2;
	}
	return (int)(bits >> 52 & 0x7ff) - 1022;
}

static bool g6_fast(char *buf, double v, size_t *len)
{
	double a = fabs(v);
	char *p = buf, d[6];
	uint64_t q = 0;
	long double m;
	int e2, x;

	if (!isfinite(v))
		return false;
	if (signbit(v))
		*p++ = '-';
	if (a == 0) {
		*p++ = '0';
		*p = '\0';
		*len = (size_t)(p - buf);
		return true;
	}
	e2 = binexp(a); /* a in [2^(e2-1), 2^e2) */
	x = floor_log10_pow2(e2 - 1);
	/*
	 * x = floor(log10(a)) first: the digits are those of a's own decade (9.999951 is
	 * "9.99995", never 100000 of the next one), so m in [10^5, 10^6). An m within its error
	 * of either end gives 1.00000e(x+1) or 100000 at x whichever side it is on, so that
	 * does not need deciding.
	 */
	for (int tries = 0;; tries++) {
		m = scale(a, 5 - x);
		if (tries == 3)
			return false;
		if (m < 100000)
			x--;
		else if (m >= 1000000)
			x++;
		else
			break;
	}
	if (!round_ld(m, &q))
		return false;
	if (q == 1000000) { /* rounded up into the next decade: 999999.5 is 1.00000e(x+1) */
		q = 100000;
		x++;
	}
	/* q in [100000, 999999]: one digit and two pairs a division each */
	d[0] = (char)('0' + q / 100000);
	q %= 100000;
	d[1] = (char)('0' + q / 10000);
	memcpy(d + 2, pairs + 2 * (q % 10000 / 100), 2);
	memcpy(d + 4, pairs + 2 * (q % 100), 2);
	p += g6_digits(p, d, x);
	*p = '\0';
	*len = (size_t)(p - buf);
	return true;
}

static bool f1_fast(char *buf, double v, size_t *len)
{
	double a = fabs(v);
	char *p = buf;
	long double m;
	uint64_t q;
	long double f;

	if (!isfinite(v) || a >= 9e17)
		return false;
	m = (long double)a * 10; /* exact */
	q = (uint64_t)m;
	f = m - (long double)q;	 /* exact */
	q += f > 0.5L || (f == 0.5L && (q & 1));
	if (signbit(v))
		*p++ = '-';
	p += lg_fmt_u64(p, q / 10);
	*p++ = '.';
	*p++ = (char)('0' + q % 10);
	*p = '\0';
	*len = (size_t)(p - buf);
	return true;
}
#else
static bool g6_fast(char *buf, double v, size_t *len)
{
	(void)buf, (void)v, (void)len;
	return false;
}

static bool f1_fast(char *buf, double v, size_t *len)
{
	(void)buf, (void)v, (void)len;
	return false;
}
#endif

size_t lg_fmt_g6(char *buf, double v)
{
	size_t len;

	if (g6_fast(buf, v, &len))
		return len;
	return (size_t)snprintf(buf, LG_FMT_G6_MAX, "%.6g", v);
}

size_t lg_fmt_f1(char *buf, double v)
{
	size_t len;

	if (f1_fast(buf, v, &len))
		return len;
	return (size_t)snprintf(buf, LG_FMT_F1_MAX, "%.1f", v);
}
