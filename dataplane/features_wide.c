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
	}
	return 0;
}

static const char *const layout_names[] = { "basic18", "bands96-time5" };
static const char *const wide_time_names[LG_WIDE_TIME_N] = {
	"log_ms", "ln_kurtosis", "ln_kurtosis_hp", "ln_crest", "log_ms_hp",
};

const char *lg_feat_layout_name(enum lg_feat_layout layout)
{
	return (unsigned)layout < 2 ? layout_names[layout] : "invalid";
}

int lg_feat_layout_parse(const char *name, enum lg_feat_layout *layout)
{
	for (unsigned i = 0; name && i < 2; i++)
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
	else if (j < nb)
		snprintf(buf, len, "wband%zu", j);
	else
		snprintf(buf, len, "%s", j - nb < LG_WIDE_TIME_N ? wide_time_names[j - nb] : "?");
}

void lg_spec_wide_free(struct lg_spec *s)
{
	if (s->plan_c2r) {
		lg_fftw_plan_lock();
		fftwf_destroy_plan(s->plan_c2r);
		lg_fftw_plan_unlock();
	}
	s->plan_c2r = NULL;
	free(s->wedge);
	free(s->wcum);
	free(s->wtaper);
	s->wedge = NULL;
	s->wcum = s->wtaper = NULL;
}

/* s->n is set and s->plan_one made (lg_spec_fftw_init): the rest of the slot. */
int lg_spec_wide_init(struct lg_spec *s)
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

void lg_spec_wide_row(struct lg_spec *s, const float *x, float *row)
{
	size_t n = s->n, h = n / 2, k0 = (n + 7) / 8;
	fftwf_complex *X = s->out;
	float *in = s->in;
	double sum = 0, mean, a2 = 0, a4 = 0, peak = 0, m2, kx, m2h, kh;

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
	/* wcum[k] = power of bins 0 .. k - 1; band b holds bins [e_b, e_b+1) */
	for (size_t b = 0; b < s->nwb; b++)
		row[b] = (float)log10(s->wcum[s->wedge[b + 1]] - s->wcum[s->wedge[b]] + WIDE_FLOOR);
	/* time features of the centred window, in double */
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
