// SPDX-License-Identifier: MIT
/* Window features: time-domain statistics and band energies, one row per window. */
#include <linegate/features.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "features_impl.h"
#include "features_spec.h"
#include "features_time.h"

const char *const lg_feature_names[LG_FEAT_N] = {
	"mean", "rms", "peak", "crest", "skewness", "kurtosis",
	"band0", "band1", "band2", "band3", "band4", "band5", "band6", "band7",
	"order1", "order2_db", "order3_db", "order4_10_db",
};

_Static_assert(LG_FEAT_BANDS == 8, "lg_feature_names and lg_bands_default list 8 bands");

/*
 * The statistics in double, one sample after the other: for strided windows and for those
 * the vector path leaves (a NaN or an infinity, a peak outside [2^-64, 2^64]), so that these
 * give the same row on every ISA.
 */
static void time_serial(const float *x, size_t n, size_t stride, float *row)
{
	double sum = 0, sq = 0, peak = 0, m2 = 0, m3 = 0, m4 = 0, mean, var;

	if (!n) {
		for (int i = 0; i < LG_FEAT_TIME_N; i++)
			row[i] = 0;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		double v = x[i * stride];

		sum += v;
		sq += v * v;
		if (fabs(v) > peak)
			peak = fabs(v);
	}
	mean = sum / n;
	/* Central moments in a second pass: one pass with raw moments loses every digit
	 * of the kurtosis when the mean is large against the spread. */
	for (size_t i = 0; i < n; i++) {
		double c = x[i * stride] - mean, c2 = c * c;

		m2 += c2;
		m3 += c2 * c;
		m4 += c2 * c2;
	}
	var = m2 / n;
	row[LG_FEAT_MEAN] = (float)mean;
	row[LG_FEAT_RMS] = (float)sqrt(sq / n);
	row[LG_FEAT_PEAK] = (float)peak;
	row[LG_FEAT_CREST] = sq > 0 ? (float)(peak / sqrt(sq / n)) : 0.0f;
	/* A variance at rounding level of the mean is a constant signal. */
	if (var > 1e-12 * (mean * mean + 1e-30)) {
		row[LG_FEAT_SKEW] = (float)(m3 / n / pow(var, 1.5));
		row[LG_FEAT_KURTOSIS] = (float)(m4 / n / (var * var));
	} else {
		row[LG_FEAT_SKEW] = 0;
		row[LG_FEAT_KURTOSIS] = 0;
	}
}

/*
 * Two passes in float lanes (features_time.h). Pass 1 sums the samples and finds the peak;
 * pass 2 sums the powers of d = (x - c) s around c, the mean rounded to float, scaled by
 * s = 2^-e with peak in [2^(e-1), 2^e) so that |d| < 2 and d^4 stays inside float's range.
 * Central moments follow from the moments about c, a1 = mean(d) being tiny against the spread:
 *   m2 = a2 - a1^2,  m3 = a3 - 3 a1 a2 + 2 a1^3,  m4 = a4 - 4 a1 a3 + 6 a1^2 a2 - 3 a1^4.
 * A lane sums 16 samples in float before they go into double, so the window's length hardly
 * matters. Against a long double reference (test_features_time, 64 to 16384 samples, a mean
 * of 1e4 with a spread of 1 among them) the errors beyond the float rounding of the result
 * were at most 2.5e-8 sd for the mean, 7e-8 mean|d|^3/sd^3 for the skewness and 5e-8 of the
 * kurtosis; rms and crest were within the rounding. Every ISA gives the same bits.
 */
static void time_run(const struct lg_time_kernels *k, const float *x, size_t n, size_t stride,
		     float *row)
{
	double sum, a[4], inv_n = 1.0 / (double)n, inv_s;
	double mean, m2, m3, m4, var, ms;
	float peak, c, s;
	uint32_t pb, sb;
	uint64_t ib;
	int e;

	if (stride != 1 || !n) {
		time_serial(x, n, stride, row);
		return;
	}
	k->sums(x, n, &sum, &peak);
	if (!isfinite(sum) || !(peak >= 0x1p-64f && peak <= 0x1p64f)) {
		time_serial(x, n, stride, row);
		return;
	}
	c = (float)(sum * inv_n);
	/* frexpf(peak, &e), 2^-e and 2^e from the bits (three libm calls were 5 % of a row of
	 * 256 samples): peak is normal here, peak = 1.m 2^(E - 127) = 0.1m 2^(E - 126). */
	memcpy(&pb, &peak, sizeof(pb));
	e = (int)(pb >> 23) - 126;
	sb = (uint32_t)(127 - e) << 23;
	ib = (uint64_t)(1023 + e) << 52;
	memcpy(&s, &sb, sizeof(s));
	memcpy(&inv_s, &ib, sizeof(inv_s));
	k->moments(x, n, c, s, a);
	for (int i = 0; i < 4; i++)
		a[i] *= inv_n;
	m2 = a[1] - a[0] * a[0];
	m3 = a[2] - 3 * a[0] * a[1] + 2 * a[0] * a[0] * a[0];
	m4 = a[3] - 4 * a[0] * a[2] + 6 * a[0] * a[0] * a[1] - 3 * a[0] * a[0] * a[0] * a[0];
	mean = c + a[0] * inv_s;
	var = m2 > 0 ? m2 * inv_s * inv_s : 0;
	ms = mean * mean + var;
	row[LG_FEAT_MEAN] = (float)mean;
	row[LG_FEAT_RMS] = (float)sqrt(ms);
	row[LG_FEAT_PEAK] = peak;
	row[LG_FEAT_CREST] = ms > 0 ? (float)(peak / sqrt(ms)) : 0.0f;
	/* A variance at rounding level of the mean is a constant signal. Skewness and
	 * kurtosis do not depend on the scale: m2, m3 and m4 stay in units of s. */
	if (var > 1e-12 * (mean * mean + 1e-30)) {
		row[LG_FEAT_SKEW] = (float)(m3 / (m2 * sqrt(m2)));
		row[LG_FEAT_KURTOSIS] = (float)(m4 / (m2 * m2));
	} else {
		row[LG_FEAT_SKEW] = 0;
		row[LG_FEAT_KURTOSIS] = 0;
	}
}

static const struct lg_time_kernels *time_kernels(enum lg_model_isa isa)
{
	switch (isa) {
#ifdef LG_FEATURES_X86
	case LG_MODEL_ISA_AVX512:
		return &lg_time_avx512;
	case LG_MODEL_ISA_AVX2:
		return &lg_time_avx2;
#endif
	default:
		return &lg_time_scalar;
	}
}

static const struct lg_spec_kernels *spec_kernels(enum lg_model_isa isa)
{
	switch (isa) {
#ifdef LG_FEATURES_X86
	case LG_MODEL_ISA_AVX512:
		return &lg_spec_avx512;
	case LG_MODEL_ISA_AVX2:
		return &lg_spec_avx2;
#endif
	default:
		return &lg_spec_scalar;
	}
}

static pthread_once_t time_once = PTHREAD_ONCE_INIT;
static enum lg_model_isa isa_best;

static void time_detect(void)
{
	if (lg_model_isa_supported(LG_MODEL_ISA_AVX512))
		isa_best = LG_MODEL_ISA_AVX512;
	else if (lg_model_isa_supported(LG_MODEL_ISA_AVX2))
		isa_best = LG_MODEL_ISA_AVX2;
	else
		isa_best = LG_MODEL_ISA_SCALAR;
}

/* isa, or for AUTO the best this CPU has; LG_MODEL_ISA_AUTO if the CPU lacks isa. */
static enum lg_model_isa isa_pick(enum lg_model_isa isa)
{
	if (isa == LG_MODEL_ISA_AUTO) {
		pthread_once(&time_once, time_detect);
		return isa_best;
	}
	return lg_model_isa_supported(isa) ? isa : LG_MODEL_ISA_AUTO;
}

/* The kernels for isa (AUTO: the best this CPU has), or NULL if the CPU lacks it. */
static const struct lg_time_kernels *time_pick(enum lg_model_isa isa)
{
	isa = isa_pick(isa);
	return isa == LG_MODEL_ISA_AUTO ? NULL : time_kernels(isa);
}

void lg_features_time(const float *x, size_t n, size_t stride, float *row)
{
	time_run(time_pick(LG_MODEL_ISA_AUTO), x, n, stride, row);
}

int lg_features_time_isa(enum lg_model_isa isa, const float *x, size_t n, size_t stride, float *row)
{
	const struct lg_time_kernels *k = time_pick(isa);

	if (!k)
		return -ENOTSUP;
	time_run(k, x, n, stride, row);
	return 0;
}

void lg_bands_default(struct lg_bands *b)
{
	b->edge[0] = 0;
	for (int i = 1; i <= LG_FEAT_BANDS; i++)
		b->edge[i] = ldexp(1.0, i - LG_FEAT_BANDS); /* 1/128 ... 1/2, 1 */
	b->floor = 1e-6;
	b->taper = LG_TAPER_HANN;
	b->order_lo = 0.002;
	b->order_hi = 0.008;
}

int lg_bands_check(const struct lg_bands *b)
{
	if (!(b->edge[0] >= 0) || !(b->edge[LG_FEAT_BANDS] <= 1) || !(b->floor > 0) ||
	    !isfinite(b->floor) || (b->taper != LG_TAPER_RECT && b->taper != LG_TAPER_HANN) ||
	    !(b->order_lo > 0) || !(b->order_lo < b->order_hi) || !(b->order_hi <= 1))
		return -EINVAL;
	for (int i = 0; i < LG_FEAT_BANDS; i++)
		if (!(b->edge[i] < b->edge[i + 1]))
			return -EINVAL;
	return 0;
}

int lg_bands_equal(const struct lg_bands *a, const struct lg_bands *b)
{
	for (int i = 0; i <= LG_FEAT_BANDS; i++)
		if (a->edge[i] != b->edge[i])
			return 0;
	return a->floor == b->floor && a->taper == b->taper && a->order_lo == b->order_lo &&
	       a->order_hi == b->order_hi;
}

/* Band of bin k of an n-point spectrum, or -1: the one rule both methods and the
 * reference use, so that they agree bin for bin. */
static int bin_band(const struct lg_bands *b, size_t k, size_t n)
{
	double f = 2.0 * (double)k / (double)n;

	if (f < b->edge[0] || f > b->edge[LG_FEAT_BANDS])
		return -1;
	for (int i = LG_FEAT_BANDS - 1; i >= 0; i--)
		if (f >= b->edge[i])
			return i;
	return -1;
}

static double taper_at(enum lg_taper taper, size_t t, size_t n)
{
	/* Periodic Hann (n, not n - 1): the DFT of the taper is three bins wide. */
	return taper == LG_TAPER_HANN ? 0.5 - 0.5 * cos(2 * M_PI * (double)t / (double)n) : 1.0;
}

static double taper_sumsq(enum lg_taper taper, size_t n)
{
	double s = 0;

	for (size_t t = 0; t < n; t++)
		s += taper_at(taper, t, n) * taper_at(taper, t, n);
	return s;
}

/* One-sided weight of bin k over n S: DC and Nyquist appear once in the full
 * spectrum, every other bin twice (with its mirror). */
static double bin_weight(size_t k, size_t n, double sumsq)
{
	return (k == 0 || 2 * k == n ? 1.0 : 2.0) / ((double)n * sumsq);
}

void lg_bands_reference(const struct lg_bands *b, const float *x, size_t n, double *energy)
{
	double sumsq = taper_sumsq(b->taper, n);

	for (int i = 0; i < LG_FEAT_BANDS; i++)
		energy[i] = 0;
	for (size_t k = 0; k <= n / 2; k++) {
		double re = 0, im = 0;
		int band = bin_band(b, k, n);

		if (band < 0)
			continue;
		for (size_t t = 0; t < n; t++) {
			/* k t mod n keeps the argument small and the angle exact. */
			double a = 2 * M_PI * (double)((k * t) % n) / (double)n;

			double v = x[t] * taper_at(b->taper, t, n);

			re += v * cos(a);
			im -= v * sin(a);
		}
		energy[band] += (re * re + im * im) * bin_weight(k, n, sumsq);
	}
}

/*
 * 10 log10(x) as 10 log10(2) log2(x): glibc's log2 takes 4 ns where log10 takes 13, and the
 * float results were the same for 10^7 values from 1e-12 to 1e4.
 */
static double db(double x)
{
	return 3.0102999566398120 * log2(x);
}

/*
 * Order features from the power |X_k|^2 of bins [0, khi) (p[k]) and their one-sided
 * weights (wt[k]): find 1x, refine it by the centroid of its three bins, and sum the
 * energy within +-1 bin of each order. One routine for both methods and the reference.
 */
/* Where orders() looks for 1x among the bins [0, khi): [*kmin, *kmax]. 0 if a window of n
 * samples cannot resolve the shaft (1x closer than 2 bins to DC, or fewer than 3 bins to
 * search): its order features are constant zeros, as noise there would only widen the
 * healthy spread the detector learns. */
static int order_range(const struct lg_bands *b, size_t n, size_t khi, size_t *kmin,
		       size_t *kmax)
{
	*kmin = (size_t)ceil(b->order_lo * (double)n / 2);
	*kmax = (size_t)floor(b->order_hi * (double)n / 2);
	if (*kmax >= khi)
		*kmax = khi ? khi - 1 : 0;
	return !(*kmin < 2 || *kmax < *kmin + 2);
}

static void orders(const struct lg_bands *b, size_t n, size_t khi, const double *p,
		   const double *wt, float *row)
{
	size_t kmin, kmax, k1;
	double e[11] = { 0 }, f, num = 0, den = 0, high = 0;

	for (int i = 0; i < 4; i++)
		row[LG_FEAT_ORDER1 + i] = 0;
	if (!order_range(b, n, khi, &kmin, &kmax))
		return;
	k1 = kmin;
	for (size_t k = kmin + 1; k <= kmax; k++)
		if (p[k] > p[k1])
			k1 = k;
	for (size_t k = k1 - 1; k <= k1 + 1 && k < khi; k++) {
		num += (double)k * p[k];
		den += p[k];
	}
	f = den > 0 ? num / den : (double)k1;
	for (int h = 1; h <= 10; h++) {
		size_t c = (size_t)floor(h * f + 0.5);

		for (size_t k = c > 1 ? c - 1 : 1; k <= c + 1 && k < khi; k++)
			e[h] += p[k] * wt[k];
	}
	for (int h = 4; h <= 10; h++)
		high += e[h];
	row[LG_FEAT_ORDER1] = (float)(f / ((double)n / 2));
	row[LG_FEAT_ORDER2_DB] = (float)db((e[2] + b->floor) / (e[1] + b->floor));
	row[LG_FEAT_ORDER3_DB] = (float)db((e[3] + b->floor) / (e[1] + b->floor));
	row[LG_FEAT_ORDER4_10_DB] = (float)db((high + b->floor) / (e[1] + b->floor));
}

void lg_orders_reference(const struct lg_bands *b, const float *x, size_t n, double *out)
{
	size_t nb = n / 2 + 1;
	double *p = calloc(nb, sizeof(double)), *wt = calloc(nb, sizeof(double));
	double sumsq = taper_sumsq(b->taper, n);
	float row[LG_FEAT_N];

	if (!p || !wt)
		goto out;
	for (size_t k = 0; k < nb; k++) {
		double re = 0, im = 0;

		for (size_t t = 0; t < n; t++) {
			double a = 2 * M_PI * (double)((k * t) % n) / (double)n;
			double v = x[t] * taper_at(b->taper, t, n);

			re += v * cos(a);
			im -= v * sin(a);
		}
		p[k] = re * re + im * im;
		wt[k] = bin_weight(k, n, sumsq);
	}
	orders(b, n, nb, p, wt, row);
	for (int i = 0; i < 4; i++)
		out[i] = row[LG_FEAT_ORDER1 + i];
out:
	free(p);
	free(wt);
}

static void spec_free(struct lg_spec *s)
{
	lg_spec_wide_free(s);
	lg_spec_fftw_free(s);
	lg_spec_gemm_free(s);
	free(s->wt);
	free(s->taper);
	free(s->power);
	free(s->op);
	free(s->owt);
	memset(s, 0, sizeof(*s));
}

/* A slot of the wide layout: FFTW's plans for one window at a time, then its own part. */
static int spec_init_wide(struct lg_spec *s, size_t n, enum lg_feat_layout layout)
{
	int ret;

	if (!lg_features_width(layout, n))
		return -EINVAL;
	s->n = n;
	ret = lg_spec_fftw_init(s);
	if (!ret)
		ret = lg_spec_wide_init(s, lg_layout_orders(layout));
	if (ret)
		spec_free(s);
	return ret;
}

static int spec_init(struct lg_features *fx, struct lg_spec *s, size_t n)
{
	size_t nb = n / 2 + 1, klo = nb, khi = 0, npow;
	double sumsq;
	int ret;

	if (fx->layout != LG_LAYOUT_BASIC)
		return spec_init_wide(s, n, fx->layout);
	sumsq = taper_sumsq(fx->bands.taper, n);

	for (size_t k = 0; k < nb; k++)
		if (bin_band(&fx->bands, k, n) >= 0) {
			if (k < klo)
				klo = k;
			khi = k + 1;
		}
	if (khi <= klo)
		klo = khi = 0; /* a window too short for any band: energies stay 0 */
	s->n = n;
	s->klo = klo;
	s->khi = khi;
	s->wt = calloc(nb, sizeof(*s->wt));
	if (fx->bands.taper != LG_TAPER_RECT)
		s->taper = malloc(n * sizeof(*s->taper));
	/* FFTW: one window's powers at a time (lg_features_rows); GEMM: the batch's. */
	npow = (fx->method == LG_SPECTRUM_GEMM ? fx->max_batch : 1) * (khi - klo);
	s->power = malloc(npow * sizeof(*s->power) + 1);
	if (!s->wt || !s->power || (fx->bands.taper != LG_TAPER_RECT && !s->taper)) {
		spec_free(s);
		return -ENOMEM;
	}
	for (size_t t = 0; s->taper && t < n; t++)
		s->taper[t] = (float)taper_at(fx->bands.taper, t, n);
	if (klo == 0 && khi) {
		size_t kmin, kmax;

		s->okhi = (size_t)floor(fx->bands.order_hi * (double)n / 2) * 10 + 12;
		if (s->okhi > khi)
			s->okhi = khi;
		/* Windows too short for the orders (256 samples by default) skip them. */
		if (!order_range(&fx->bands, n, s->okhi, &kmin, &kmax))
			s->okhi = 0;
	}
	if (s->okhi) {
		s->op = calloc(s->okhi, sizeof(double));
		s->owt = calloc(s->okhi, sizeof(double));
		if (!s->op || !s->owt) {
			spec_free(s);
			return -ENOMEM;
		}
		for (size_t k = 0; k < s->okhi; k++)
			s->owt[k] = bin_weight(k, n, sumsq);
	}
	for (size_t k = klo; k < khi; k++)
		s->wt[k - klo] = (float)bin_weight(k, n, sumsq);
	/* bin_band() rises with k and is >= 0 over [klo, khi): each band is a run of bins. */
	for (size_t j = 0, b = 0; b <= LG_FEAT_BANDS; b++) {
		while (j < khi - klo && bin_band(&fx->bands, klo + j, n) < (int)b)
			j++;
		s->bstart[b] = j;
	}
	if (fx->method == LG_SPECTRUM_GEMM && n > LG_SPECTRUM_GEMM_MAX_N)
		ret = -EINVAL;
	else if (fx->method == LG_SPECTRUM_GEMM)
		ret = lg_spec_gemm_init(s, fx->max_batch);
	else
		ret = lg_spec_fftw_init_basic(s);
	if (ret)
		spec_free(s);
	return ret;
}

int lg_features_new(struct lg_features **out, const struct lg_bands *bands,
		    enum lg_spectrum_method method, size_t max_batch)
{
	return lg_features_new_layout(out, LG_LAYOUT_BASIC, bands, method, max_batch);
}

enum lg_feat_layout lg_features_layout(const struct lg_features *fx)
{
	return fx->layout;
}

int lg_features_new_layout(struct lg_features **out, enum lg_feat_layout layout,
			   const struct lg_bands *bands, enum lg_spectrum_method method,
			   size_t max_batch)
{
	struct lg_features *fx;

	if (method != LG_SPECTRUM_FFTW && method != LG_SPECTRUM_GEMM)
		return -EINVAL;
	if (layout != LG_LAYOUT_BASIC && ((layout != LG_LAYOUT_BANDS96_TIME5 &&
					   !lg_layout_orders(layout)) ||
					  method != LG_SPECTRUM_FFTW))
		return -EINVAL;
	if (bands && lg_bands_check(bands))
		return -EINVAL;
	fx = calloc(1, sizeof(*fx));
	if (!fx)
		return -ENOMEM;
	if (bands)
		fx->bands = *bands;
	else
		lg_bands_default(&fx->bands);
	fx->method = method;
	fx->layout = layout;
	fx->time = time_pick(LG_MODEL_ISA_AUTO);
	fx->kern = spec_kernels(isa_pick(LG_MODEL_ISA_AUTO));
	fx->max_batch = max_batch ? max_batch : 1;
	*out = fx;
	return 0;
}

void lg_features_free(struct lg_features *fx)
{
	if (!fx)
		return;
	for (unsigned i = 0; i < sizeof(fx->spec) / sizeof(fx->spec[0]); i++)
		spec_free(&fx->spec[i]);
	free(fx);
}

const struct lg_bands *lg_features_bands(const struct lg_features *fx)
{
	return &fx->bands;
}

int lg_features_set_isa(struct lg_features *fx, enum lg_model_isa isa)
{
	enum lg_model_isa picked = isa_pick(isa);

	if (picked == LG_MODEL_ISA_AUTO)
		return -ENOTSUP;
	fx->time = time_kernels(picked);
	fx->kern = spec_kernels(picked);
	return 0;
}

static struct lg_spec *spec_get(struct lg_features *fx, size_t n, int *err)
{
	const unsigned nslots = sizeof(fx->spec) / sizeof(fx->spec[0]);
	struct lg_spec *s = NULL;

	for (unsigned i = 0; i < nslots; i++)
		if (fx->spec[i].n == n)
			return &fx->spec[i];
	for (unsigned i = 0; i < nslots && !s; i++)
		if (!fx->spec[i].n)
			s = &fx->spec[i];
	if (!s) {
		s = &fx->spec[fx->next];
		fx->next = (fx->next + 1) % nslots;
		spec_free(s);
	}
	*err = spec_init(fx, s, n);
	return *err ? NULL : s;
}

int lg_features_prepare(struct lg_features *fx, size_t n)
{
	int err = 0;

	if (!n)
		return -EINVAL;
	spec_get(fx, n, &err);
	return err;
}

/* Bands and orders of one window from its power spectrum (bins [klo, khi)). */
static void spectral(const struct lg_features *fx, struct lg_spec *s, const float *pw,
		     float *row)
{
	fx->kern->bands(pw, s->wt, s->bstart, fx->bands.floor, row + LG_FEAT_BAND0);
	/* Orders live in the lowest bins: only those are copied to double. */
	if (s->okhi) {
		for (size_t k = 0; k < s->okhi; k++)
			s->op[k] = pw[k];
		orders(&fx->bands, s->n, s->okhi, s->op, s->owt, row);
	} else {
		for (int i = 0; i < 4; i++)
			row[LG_FEAT_ORDER1 + i] = 0;
	}
}

int lg_features_rows(struct lg_features *fx, const float *x, size_t nwin, size_t n,
		     size_t xstride, float *rows)
{
	return lg_features_rows_ratio(fx, x, nwin, n, xstride, NULL, rows);
}

/* The orders layout's slot for windows of n samples, or NULL (*err says why). */
static struct lg_spec *orders_spec(struct lg_features *fx, size_t n, int *err)
{
	*err = -EINVAL;
	if (!lg_layout_orders(fx->layout) || !lg_features_width(fx->layout, n))
		return NULL;
	return spec_get(fx, n, err);
}

int lg_features_order_lines(struct lg_features *fx, const float *x, unsigned nch, size_t n,
			    size_t chstride, double *lines)
{
	int err;
	struct lg_spec *s = orders_spec(fx, n, &err);

	if (!s || !nch)
		return s ? -EINVAL : err;
	lg_spec_order_lines(s, x, nch, chstride, lines);
	return 0;
}

int lg_features_ratio_of_lines(struct lg_features *fx, size_t n, const double *lines,
			       const struct lg_order_ref *ref, double *r)
{
	int err;
	struct lg_spec *s = orders_spec(fx, n, &err);

	*r = 1;
	if (!s)
		return err;
	if (!ref || !ref->lines || ref->m != s->om)
		return -EINVAL;
	*r = lg_spec_order_ratio(s, lines, ref->lines);
	return 0;
}

int lg_features_speed_ratio(struct lg_features *fx, const float *x, unsigned nch, size_t n,
			    size_t chstride, const struct lg_order_ref *ref, double *r)
{
	int err;
	struct lg_spec *s = orders_spec(fx, n, &err);

	*r = 1;
	if (!s)
		return err;
	if (!ref || !ref->lines || ref->m != s->om || !nch)
		return -EINVAL;
	lg_spec_order_lines(s, x, nch, chstride, s->olines);
	*r = lg_spec_order_ratio(s, s->olines, ref->lines);
	return 0;
}

/* The next window of a batch, into the caches while this one is transformed. */
static void prefetch_window(const float *x, size_t n)
{
	for (size_t t = 0; t < n; t += 64 / sizeof(float))
		__builtin_prefetch(x + t);
	__builtin_prefetch(x + n - 1);
}

int lg_features_rows_ratio(struct lg_features *fx, const float *x, size_t nwin, size_t n,
			   size_t xstride, const double *r, float *rows)
{
	struct lg_spec *s;
	size_t d = lg_features_width(fx->layout, n);
	int err = 0;

	if (!n || !d) {
		memset(rows, 0, nwin * (d ? d : LG_FEAT_N) * sizeof(float));
		return -EINVAL;
	}
	s = spec_get(fx, n, &err);
	if (!s) {
		memset(rows, 0, nwin * d * sizeof(float));
		return err;
	}
	if (fx->layout == LG_LAYOUT_BANDS96_TIME5) {
		for (size_t i = 0; i < nwin; i++)
			lg_spec_wide_row(s, x + i * xstride, rows + i * d);
		return 0;
	}
	if (lg_layout_orders(fx->layout)) {
		for (size_t i = 0; i < nwin; i++) {
			lg_spec_orders_row(s, x + i * xstride, r ? r[i] : 1.0, rows + i * d);
			/* orders96-time5-imp9/-imp10: the impact block is the caller's
			 * (features.h) */
			if (lg_layout_imp_n(fx->layout))
				memset(rows + i * d + d - lg_layout_imp_n(fx->layout), 0,
				       sizeof(float) * lg_layout_imp_n(fx->layout));
		}
		return 0;
	}
	/* FFTW: one window after the other, its statistics while it is still in the cache
	 * (features_fftw.c says why not a batch plan). */
	if (fx->method == LG_SPECTRUM_FFTW) {
		for (size_t i = 0; i < nwin; i++) {
			float *row = rows + i * LG_FEAT_N;

			if (i + 1 < nwin)
				prefetch_window(x + (i + 1) * xstride, n);
			if (s->khi > s->klo)
				lg_spec_fftw_power(s, fx->kern, x + i * xstride);
			time_run(fx->time, x + i * xstride, n, 1, row);
			spectral(fx, s, s->power, row);
		}
		return 0;
	}
	for (size_t i = 0; i < nwin;) {
		size_t m = nwin - i < fx->max_batch ? nwin - i : fx->max_batch;
		size_t K = s->khi - s->klo;

		if (K)
			lg_spec_gemm_power(s, x + i * xstride, m, xstride);
		for (size_t j = 0; j < m; j++) {
			float *row = rows + (i + j) * LG_FEAT_N;

			time_run(fx->time, x + (i + j) * xstride, n, 1, row);
			spectral(fx, s, s->power + j * K, row);
		}
		i += m;
	}
	return 0;
}
