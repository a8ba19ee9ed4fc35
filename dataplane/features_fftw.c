// SPDX-License-Identifier: MIT
/* Band energies through FFTW's batched real-to-complex transforms. */
#include <errno.h>
#include <fftw3.h>
#include <pthread.h>
#include <string.h>

#include "features_impl.h"

/* FFTW's planner keeps global state and is not thread-safe (executing a plan is):
 * workers that plan at the same time take turns here. */
static pthread_mutex_t planner_lock = PTHREAD_MUTEX_INITIALIZER;

void lg_fftw_plan_lock(void)
{
	pthread_mutex_lock(&planner_lock);
}

void lg_fftw_plan_unlock(void)
{
	pthread_mutex_unlock(&planner_lock);
}

/*
 * FFTW_ESTIMATE, not FFTW_MEASURE: a measured plan is the candidate that was fastest while
 * the planner timed them, so it changes from one process to the next (within one, FFTW's
 * wisdom keeps the first choice), and with it the last bits of band energies and scores:
 * 7 of 20 replays of one recording gave other scores in the 6th digit. The same recording
 * must score the same every run (pcap backend, docs/replay.md); a measured plan was not
 * faster for the workers' single windows (features_bench, 256 samples: 1.26 vs 1.15 us).
 */
int lg_spec_fftw_init(struct lg_spec *s, size_t max_batch)
{
	int n = (int)s->n, nb = n / 2 + 1, how = (int)max_batch;
	unsigned flags = FFTW_ESTIMATE;

	s->in = fftwf_alloc_real(max_batch * s->n);
	s->out = fftwf_alloc_complex(max_batch * (size_t)nb);
	if (!s->in || !s->out)
		goto err_mem;
	pthread_mutex_lock(&planner_lock);
	s->plan_many = fftwf_plan_many_dft_r2c(1, &n, how, s->in, NULL, 1, n, s->out, NULL, 1,
					       nb, flags);
	s->plan_one = fftwf_plan_dft_r2c_1d(n, s->in, s->out, flags);
	pthread_mutex_unlock(&planner_lock);
	if (!s->plan_many || !s->plan_one)
		goto err_mem;
	return 0;
err_mem:
	lg_spec_fftw_free(s);
	return -ENOMEM;
}

void lg_spec_fftw_free(struct lg_spec *s)
{
	pthread_mutex_lock(&planner_lock);
	if (s->plan_many)
		fftwf_destroy_plan(s->plan_many);
	if (s->plan_one)
		fftwf_destroy_plan(s->plan_one);
	pthread_mutex_unlock(&planner_lock);
	fftwf_free(s->in);
	fftwf_free(s->out);
	s->plan_many = s->plan_one = NULL;
	s->in = NULL;
	s->out = NULL;
}

static void power(const struct lg_spec *s, const fftwf_complex *X, float *p)
{
	for (size_t k = s->klo; k < s->khi; k++)
		p[k - s->klo] = X[k][0] * X[k][0] + X[k][1] * X[k][1];
}

static void load(const struct lg_spec *s, float *restrict in, const float *restrict x)
{
	if (!s->taper) {
		memcpy(in, x, s->n * sizeof(float));
		return;
	}
	for (size_t t = 0; t < s->n; t++)
		in[t] = x[t] * s->taper[t];
}

void lg_spec_fftw_power(struct lg_spec *s, size_t max_batch, const float *x, size_t nwin,
			size_t xstride)
{
	size_t n = s->n, nb = n / 2 + 1, K = s->khi - s->klo;
	fftwf_complex *out = s->out;

	/* The windows are copied into the plan's aligned array: the plan was made for it,
	 * and a window in the caller's buffer need not be aligned the same way. */
	if (nwin == max_batch && nwin > 1) {
		for (size_t i = 0; i < nwin; i++)
			load(s, s->in + i * n, x + i * xstride);
		fftwf_execute(s->plan_many);
		for (size_t i = 0; i < nwin; i++)
			power(s, out + i * nb, s->power + i * K);
		return;
	}
	for (size_t i = 0; i < nwin; i++) {
		load(s, s->in, x + i * xstride);
		fftwf_execute(s->plan_one);
		power(s, out, s->power + i * K);
	}
}
