// SPDX-License-Identifier: MIT
/*
 * The "bands96-time5" feature layout (features.h, issue 8): 96 geometric log band powers
 * and 5 time features per window, as bench/quality_proto.py computes them (bands and time
 * blocks), on FFTW's r2c plan of the slot plus one c2r for the fs/8 high-pass.
 */
#include <errno.h>
#include <fftw3.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "features_impl.h"

#define WIDE_FLOOR 1e-12
#define WIDE_LNFLOOR 1e-9

size_t lg_features_wide_bands(size_t n, size_t *edges)
{
	size_t h = n / 2, nb = 0, prev = 0;
	double step;

	if (n < LG_WIDE_MIN_N || n % 2)
		return 0;
	/* numpy.geomspace(1, h, 97): 10^(i * log10(h) / 96), first and last exact; rounded
	 * half to even (rint), duplicates merged (numpy.unique of a rising sequence). */
	step = log10((double)h) / LG_WIDE_NBANDS;
	for (size_t i = 0; i <= LG_WIDE_NBANDS; i++) {
		double g = i == 0 ? 1.0 : i == LG_WIDE_NBANDS ? (double)h :
			   pow(10.0, (double)i * step);
		size_t e = (size_t)rint(g);

		if (i && e == prev)
			continue;
		if (edges)
			edges[nb] = e;
		nb++;
		prev = e;
	}
	return nb - 1;
}

size_t lg_features_width(enum lg_feat_layout layout, size_t n)
{
	size_t nb;

	switch (layout) {
	case LG_LAYOUT_BASIC:
		return LG_FEAT_N;
	case LG_LAYOUT_BANDS96_TIME5:
		nb = lg_features_wide_bands(n, NULL);
		return nb ? nb + LG_WIDE_TIME_N : 0;
	case LG_LAYOUT_ORDERS96_TIME5:
		/* the speed ratio's grid and its +-LG_ORD_SPAN shifts want a few hundred bins */
		nb = n >= LG_ORD_MIN_N ? lg_features_wide_bands(n, NULL) : 0;
		return nb ? nb + LG_WIDE_TIME_N : 0;
	case LG_LAYOUT_ORDERS96_TIME5_IMP9:
	case LG_LAYOUT_ORDERS96_TIME5_IMP10:
	case LG_LAYOUT_ORDERS96_TIME5_IMP11:
		nb = lg_features_width(LG_LAYOUT_ORDERS96_TIME5, n);
		return nb ? nb + lg_layout_imp_n(layout) : 0;
	}
	return 0;
}

static const char *const layout_names[] = { "basic18", "bands96-time5", "orders96-time5",
					    "orders96-time5-imp9", "orders96-time5-imp10",
					    "orders96-time5-imp11" };
/* impact.h's nine, in its order (quality_proto.py's IMP_NAMES[0:9]), then -imp10's
 * floor_lines (FLR_NAMES[0]), then -imp11's tsa3 */
static const char *const imp_names[LG_IMP_NMAX] = {
	"imp_rev_kurt_max", "imp_rev_kurt_med", "imp_rev_crest_max", "imp_tsa_env_peak",
	"imp_mesh_bump",    "imp_eo_1x",        "imp_eo_bpfo",       "imp_eo_bpfi",
	"imp_eo_bpfi_sb",   "imp_floor_lines",   "imp_tsa3",
};
static const char *const wide_time_names[LG_WIDE_TIME_N] = {
	"log_ms", "ln_kurtosis", "ln_kurtosis_hp", "ln_crest", "log_ms_hp",
};

/* 1 if band j of the wide layout at window n starts in the lower half (edge <= n/4): the
 * bands the orders layout reads in orders (those whose lower edge moves). */
static int wedge_half(size_t n, size_t j)
{
	size_t e[LG_WIDE_NBANDS + 1], nb = lg_features_wide_bands(n, e);

	return j < nb && e[j] <= n / 4;
}

const char *lg_feat_layout_name(enum lg_feat_layout layout)
{
	return (unsigned)layout < LG_LAYOUT_COUNT ? layout_names[layout] : "invalid";
}

int lg_feat_layout_parse(const char *name, enum lg_feat_layout *layout)
{
	for (unsigned i = 0; name && i < LG_LAYOUT_COUNT; i++)
		if (!strcmp(name, layout_names[i])) {
			*layout = (enum lg_feat_layout)i;
			return 0;
		}
	return -EINVAL;
}

void lg_features_name(enum lg_feat_layout layout, size_t n, size_t j, char *buf, size_t len)
{
	size_t nb = lg_features_wide_bands(n, NULL);

	if (layout == LG_LAYOUT_BASIC)
		snprintf(buf, len, "%s", j < LG_FEAT_N ? lg_feature_names[j] : "?");
	else if (j < nb && lg_layout_orders(layout) && wedge_half(n, j))
		snprintf(buf, len, "oband%zu", j);
	else if (j < nb)
		snprintf(buf, len, "wband%zu", j);
	else if (j - nb < LG_WIDE_TIME_N)
		snprintf(buf, len, "%s", wide_time_names[j - nb]);
	else
		snprintf(buf, len, "%s",
			 j - nb - LG_WIDE_TIME_N < lg_layout_imp_n(layout) ?
				 imp_names[j - nb - LG_WIDE_TIME_N] :
				 "?");
}

void lg_spec_wide_free(struct lg_spec *s)
{
	if (s->plan_c2r) {
		lg_fftw_plan_lock();
		fftwf_destroy_plan(s->plan_c2r);
		lg_fftw_plan_unlock();
	}
	s->plan_c2r = NULL;
	lg_fftw_plan_lock();
	if (s->oplan_a)
		fftwf_destroy_plan(s->oplan_a);
	if (s->oplan_b)
		fftwf_destroy_plan(s->oplan_b);
	if (s->oplan_x)
		fftwf_destroy_plan(s->oplan_x);
	lg_fftw_plan_unlock();
	s->oplan_a = s->oplan_b = s->oplan_x = NULL;
	fftwf_free(s->oa);
	fftwf_free(s->ob);
	fftwf_free(s->oA);
	fftwf_free(s->oB);
	s->oa = s->ob = NULL;
	s->oA = s->oB = NULL;
	free(s->ok);
	free(s->ofrac);
	free(s->osum);
	free(s->ocum);
	free(s->olines);
	s->ok = NULL;
	s->ofrac = s->osum = s->ocum = s->olines = NULL;
	s->om = s->oL = 0;
	free(s->wedge);
	free(s->wcum);
	free(s->wtaper);
	s->wedge = NULL;
	s->wcum = s->wtaper = NULL;
}

/* s->n is set and s->plan_one made (lg_spec_fftw_init): the rest of the slot. */
/* The speed ratio's grid (the bin and fraction of each point) and FFT plans. */
static int orders_init(struct lg_spec *s)
{
	size_t n = s->n, h = n / 2, m = lg_order_grid_len(n), L = 1;

	if (!m)
		return -EINVAL;
	while (L < 2 * m)
		L *= 2;
	s->om = m;
	s->oL = L;
	s->ok = calloc(m, sizeof(*s->ok));
	s->ofrac = calloc(m, sizeof(*s->ofrac));
	s->osum = calloc(h + 1, sizeof(*s->osum));
	s->ocum = calloc(m + 1, sizeof(*s->ocum));
	s->olines = calloc(m, sizeof(*s->olines));
	s->oa = fftwf_malloc(sizeof(float) * L);
	s->ob = fftwf_malloc(sizeof(float) * L);
	s->oA = fftwf_malloc(sizeof(fftwf_complex) * (L / 2 + 1));
	s->oB = fftwf_malloc(sizeof(fftwf_complex) * (L / 2 + 1));
	if (!s->ok || !s->ofrac || !s->osum || !s->ocum || !s->olines || !s->oa || !s->ob || !s->oA || !s->oB)
		return -ENOMEM;
	for (size_t i = 0; i < m; i++) {
		double u = log((double)LG_ORD_LO_BIN) + (double)i * LG_ORD_STEP;
		size_t k = (size_t)floor(exp(u));

		if (k < 1)
			k = 1;
		while (k + 1 < h && log((double)(k + 1)) <= u)
			k++;
		while (k > 1 && log((double)k) > u)
			k--;
		s->ok[i] = (unsigned)k;
		s->ofrac[i] = (u - log((double)k)) / (log((double)(k + 1)) - log((double)k));
	}
	lg_fftw_plan_lock();
	s->oplan_a = fftwf_plan_dft_r2c_1d((int)L, s->oa, s->oA, FFTW_ESTIMATE);
	s->oplan_b = fftwf_plan_dft_r2c_1d((int)L, s->ob, s->oB, FFTW_ESTIMATE);
	s->oplan_x = fftwf_plan_dft_c2r_1d((int)L, s->oA, s->oa, FFTW_ESTIMATE);
	lg_fftw_plan_unlock();
	return s->oplan_a && s->oplan_b && s->oplan_x ? 0 : -ENOMEM;
}

int lg_spec_wide_init(struct lg_spec *s, bool orders)
{
	size_t n = s->n;
	double sumsq = 0;

	s->nwb = lg_features_wide_bands(n, NULL);
	if (!s->nwb)
		return -EINVAL;
	s->wedge = calloc(s->nwb + 1, sizeof(*s->wedge));
	s->wcum = calloc(n / 2 + 1, sizeof(*s->wcum));
	s->wtaper = calloc(n, sizeof(*s->wtaper));
	if (!s->wedge || !s->wcum || !s->wtaper)
		goto err_mem;
	lg_features_wide_bands(n, s->wedge);
	for (size_t t = 0; t < n; t++) {
		s->wtaper[t] = 0.5 - 0.5 * cos(2 * M_PI * (double)t / (double)n);
		sumsq += s->wtaper[t] * s->wtaper[t];
	}
	s->wscale = 1.0 / ((double)n * sumsq);
	lg_fftw_plan_lock();
	s->plan_c2r = fftwf_plan_dft_c2r_1d((int)n, s->out, s->in, FFTW_ESTIMATE);
	lg_fftw_plan_unlock();
	if (!s->plan_c2r)
		goto err_mem;
	if (orders) {
		int ret = orders_init(s);

		if (ret) {
			lg_spec_wide_free(s);
			return ret;
		}
	}
	return 0;
err_mem:
	lg_spec_wide_free(s);
	return -ENOMEM;
}

/* m2 and kurtosis m4 / (m2^2 + floor) of the n values v[t] * scale, in double. */
static void moments(const float *v, size_t n, double scale, double *m2, double *kurt)
{
	double a2 = 0, a4 = 0;

	for (size_t t = 0; t < n; t++) {
		double y = v[t] * scale, y2 = y * y;

		a2 += y2;
		a4 += y2 * y2;
	}
	a2 /= (double)n;
	a4 /= (double)n;
	*m2 = a2;
	*kurt = a4 / (a2 * a2 + WIDE_FLOOR);
}

/* The tapered spectrum's power as prefix sums: wcum[k] = power of bins 0 .. k - 1. */
static double wide_spectrum(struct lg_spec *s, const float *x)
{
	size_t n = s->n, h = n / 2;
	fftwf_complex *X = s->out;
	float *in = s->in;
	double sum = 0, mean;

	for (size_t t = 0; t < n; t++)
		sum += x[t];
	mean = sum / (double)n;
	/* bands: the tapered spectrum's power, pooled by prefix sums over bins 1 .. h - 1 */
	for (size_t t = 0; t < n; t++)
		in[t] = (float)(((double)x[t] - mean) * s->wtaper[t]);
	fftwf_execute(s->plan_one);
	s->wcum[0] = 0;
	for (size_t k = 1; k <= h; k++)
		s->wcum[k] = s->wcum[k - 1] + ((double)X[k - 1][0] * X[k - 1][0] +
					       (double)X[k - 1][1] * X[k - 1][1]) * s->wscale;
	return mean;
}

/* The 5 time features of the centred window, in double, into row[nwb ...]. */
static void wide_time(struct lg_spec *s, const float *x, double mean, float *row)
{
	size_t n = s->n, h = n / 2, k0 = (n + 7) / 8;
	fftwf_complex *X = s->out;
	float *in = s->in;
	double a2 = 0, a4 = 0, peak = 0, m2, kx, m2h, kh;

	for (size_t t = 0; t < n; t++) {
		double c = (double)x[t] - mean, c2 = c * c;

		a2 += c2;
		a4 += c2 * c2;
		if (fabs(c) > peak)
			peak = fabs(c);
	}
	m2 = a2 / (double)n;
	kx = (a4 / (double)n) / (m2 * m2 + WIDE_FLOOR);
	/* the fs/8 high-pass: bins below n/8 zeroed, the edge bin halved, back to time */
	for (size_t t = 0; t < n; t++)
		in[t] = (float)((double)x[t] - mean);
	fftwf_execute(s->plan_one);
	for (size_t k = 0; k <= h; k++) {
		float g = k < k0 ? 0.0f : k == k0 ? 0.5f : 1.0f;

		X[k][0] *= g;
		X[k][1] *= g;
	}
	fftwf_execute(s->plan_c2r); /* unnormalised: n times the high-passed window */
	moments(in, n, 1.0 / (double)n, &m2h, &kh);
	row[s->nwb + 0] = (float)log10(m2 + WIDE_FLOOR);
	row[s->nwb + 1] = (float)log(kx + WIDE_LNFLOOR);
	row[s->nwb + 2] = (float)log(kh + WIDE_LNFLOOR);
	row[s->nwb + 3] = (float)log(peak / sqrt(m2 + WIDE_FLOOR) + WIDE_LNFLOOR);
	row[s->nwb + 4] = (float)log10(m2h + WIDE_FLOOR);
}

void lg_spec_wide_row(struct lg_spec *s, const float *x, float *row)
{
	double mean = wide_spectrum(s, x);

	/* band b holds bins [e_b, e_b+1) */
	for (size_t b = 0; b < s->nwb; b++)
		row[b] = (float)log10(s->wcum[s->wedge[b + 1]] - s->wcum[s->wedge[b]] + WIDE_FLOOR);
	wide_time(s, x, mean, row);
}

/* The cumulative power at a fractional bin edge e in [0, h] (numpy.interp on wcum). */
static double cum_at(const struct lg_spec *s, double e)
{
	size_t h = s->n / 2, j = (size_t)e;

	if (j >= h)
		return s->wcum[h];
	return s->wcum[j] + (e - (double)j) * (s->wcum[j + 1] - s->wcum[j]);
}

void lg_spec_orders_row(struct lg_spec *s, const float *x, double r, float *row)
{
	size_t h = s->n / 2, q = h / 2;
	double mean = wide_spectrum(s, x), prev = 0, cc[LG_WIDE_NBANDS + 1];

	/* quality_proto.py's order_bands(): the edges of the lower half at e x r (at most
	 * n/2), every edge at least the one below it */
	for (size_t b = 0; b <= s->nwb; b++) {
		double e = (double)s->wedge[b];

		if (s->wedge[b] <= q && (e = e * r) > (double)h)
			e = (double)h;
		if (b && e < prev)
			e = prev;
		prev = e;
		cc[b] = cum_at(s, e);
	}
	for (size_t b = 0; b < s->nwb; b++) {
		double p = cc[b + 1] - cc[b];

		row[b] = (float)log10((p > 0 ? p : 0) + WIDE_FLOOR);
	}
	wide_time(s, x, mean, row);
}

size_t lg_order_grid_len(size_t n)
{
	double span;

	if (!lg_features_width(LG_LAYOUT_ORDERS96_TIME5, n))
		return 0;
	span = log(LG_ORD_HI * (double)n) - log((double)LG_ORD_LO_BIN);
	return (size_t)ceil(span / LG_ORD_STEP);
}

void lg_order_grid(size_t n, struct lg_order_ref *g)
{
	memset(g, 0, sizeof(*g));
	g->start = log((double)LG_ORD_LO_BIN);
	g->step = LG_ORD_STEP;
	g->lo_bin = LG_ORD_LO_BIN;
	g->hi_bin = LG_ORD_HI * (double)n;
	g->m = lg_order_grid_len(n);
}

const char *lg_order_ref_check(const struct lg_order_ref *ref, size_t n)
{
	struct lg_order_ref g;

	lg_order_grid(n, &g);
	if (!g.m)
		return "'order_ref': the orders96-time5 layout needs a 'window' of at least 256 "
		       "samples (even)";
	if (!ref->lines)
		return "'order_ref' is missing (the orders96-time5 layout's reference lines)";
	if (fabs(ref->start - g.start) > 1e-9 || fabs(ref->step - g.step) > 1e-12 ||
	    fabs(ref->lo_bin - g.lo_bin) > 1e-9 || fabs(ref->hi_bin - g.hi_bin) > 1e-6)
		return "'order_ref': its grid ('start', 'step', 'bins') is not the one this "
		       "linegate computes at the model's 'window' (ln 16, 0.002, [16, 0.45 window])";
	if (ref->m != g.m)
		return "'order_ref': 'lines' does not have the grid's length at the model's "
		       "'window' (a model for another window or rate: train it again)";
	{
		double sum = 0, max = 0;

		for (size_t i = 0; i < ref->m; i++) {
			if (!isfinite(ref->lines[i]) || ref->lines[i] < 0)
				return "'order_ref': 'lines' must be finite numbers >= 0";
			/* log10 of a line's power over its neighbourhood: trained ones reach 3-4 */
			if (ref->lines[i] > LG_ORD_LINE_MAX)
				return "'order_ref': a line above 20 (log10 of its power over its "
				       "neighbourhood: no spectrum gives that; train it again)";
			sum += ref->lines[i];
			max = ref->lines[i] > max ? ref->lines[i] : max;
		}
		/* Nothing to line up with, or one line that outweighs all the others: the
		 * speed ratio would be noise or that line's alone (a dead sensor's windows, or
		 * an edited file). Trained references spread over hundreds of lines. */
		if (!(sum > 0))
			return "'order_ref': 'lines' are all 0 (no line to find the speed by: "
			       "trained on a silent or dead sensor? train it again on running data)";
		if (max > LG_ORD_LINE_SHARE * sum)
			return "'order_ref': one line holds more than a quarter of all the lines' "
			       "weight (no trained reference looks like that; train it again)";
	}
	return NULL;
}

void lg_spec_order_lines(struct lg_spec *s, const float *x, unsigned nch, size_t chstride,
			 double *lines)
{
	size_t n = s->n, h = n / 2, m = s->om, H = LG_ORD_SMOOTH;
	fftwf_complex *X = s->out;
	float *in = s->in;

	for (size_t k = 0; k <= h; k++)
		s->osum[k] = 0;
	for (unsigned c = 0; c < nch; c++) {
		const float *xc = x + (size_t)c * chstride;
		double sum = 0, mean, pm = 0;

		for (size_t t = 0; t < n; t++)
			sum += xc[t];
		mean = sum / (double)n;
		for (size_t t = 0; t < n; t++)
			in[t] = (float)(((double)xc[t] - mean) * s->wtaper[t]);
		fftwf_execute(s->plan_one);
		/* P_k over k = 0 .. n/2 (the Nyquist bin too, as numpy's rfft), divided by its
		 * mean: every channel counts alike whatever its gain */
		for (size_t k = 0; k <= h; k++)
			pm += ((double)X[k][0] * X[k][0] + (double)X[k][1] * X[k][1]) * s->wscale;
		pm /= (double)(h + 1);
		for (size_t k = 0; k <= h; k++)
			s->osum[k] += ((double)X[k][0] * X[k][0] + (double)X[k][1] * X[k][1]) *
				      s->wscale / (pm + WIDE_FLOOR);
	}
	/* log10 of the bins the grid reads (in place), then on the log-frequency grid by linear
	 * interpolation in ln k */
	for (size_t k = s->ok[0]; k <= s->ok[m - 1] + 1; k++)
		s->osum[k] = log10(s->osum[k] + WIDE_FLOOR);
	s->ocum[0] = 0;
	for (size_t i = 0; i < m; i++) {
		size_t k = s->ok[i];
		double a = s->osum[k], b = s->osum[k + 1];

		lines[i] = a + s->ofrac[i] * (b - a);
		s->ocum[i + 1] = s->ocum[i] + lines[i];
	}
	/* minus the mean over +-H grid points (the resonance humps, the floor), cut at 0 */
	for (size_t i = 0; i < m; i++) {
		size_t lo = i > H ? i - H : 0, hi = i + H + 1 < m ? i + H + 1 : m;
		double v = lines[i] - (s->ocum[hi] - s->ocum[lo]) / (double)(hi - lo);

		lines[i] = v > 0 ? v : 0;
	}
}

double lg_spec_order_ratio(struct lg_spec *s, const double *lines, const float *ref)
{
	size_t m = s->om, L = s->oL, K = LG_ORD_SPAN, j = 0, jj;
	fftwf_complex *A = s->oA, *B = s->oB;
	double ma = 0, mb = 0, best = -INFINITY, y0, y1, y2, den, off = 0;

	for (size_t i = 0; i < m; i++) {
		ma += lines[i];
		mb += ref[i];
	}
	ma /= (double)m;
	mb /= (double)m;
	for (size_t i = 0; i < L; i++) {
		s->oa[i] = i < m ? (float)(lines[i] - ma) : 0.0f;
		s->ob[i] = i < m ? (float)((double)ref[i] - mb) : 0.0f;
	}
	fftwf_execute(s->oplan_a);
	fftwf_execute(s->oplan_b);
	for (size_t k = 0; k <= L / 2; k++) {
		/* A conj(B): xc[k] = sum_i a[i + k] b[i] */
		float re = A[k][0] * B[k][0] + A[k][1] * B[k][1],
		      im = A[k][1] * B[k][0] - A[k][0] * B[k][1];

		A[k][0] = re;
		A[k][1] = im;
	}
	fftwf_execute(s->oplan_x);
	/* shifts -K .. K: xc[L - K .. L - 1], then xc[0 .. K]; the first maximum */
#define XC(t) ((double)s->oa[(t) < K ? L - K + (t) : (t) - K])
	for (size_t t = 0; t <= 2 * K; t++)
		if (XC(t) > best) {
			best = XC(t);
			j = t;
		}
	jj = j < 1 ? 1 : j > 2 * K - 1 ? 2 * K - 1 : j;
	y0 = XC(jj - 1);
	y1 = XC(jj);
	y2 = XC(jj + 1);
#undef XC
	den = y0 - 2 * y1 + y2;
	if (den < 0)
		off = 0.5 * (y0 - y2) / den;
	return exp(((double)jj + off - (double)K) * LG_ORD_STEP);
}

int lg_window_dropout(const float *x, size_t n, size_t run)
{
	size_t same = 1;

	if (run < 2)
		return n >= run;
	for (size_t i = 1; i < n; i++) {
		same = x[i] == x[i - 1] ? same + 1 : 1;
		if (same >= run)
			return 1;
	}
	return 0;
}
