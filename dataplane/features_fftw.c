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
 *
 * One plan, for one window, whatever the batch: a batch goes through it window by window
 * (lg_spec_fftw_power), so that the window, its spectrum and its power stay in L1/L2 from
 * the copy to the band sums, where a plan for the whole batch wrote every window's spectrum
 * out first (64 windows of 4096 samples: 2 MB, more than L2) and read it back for the powers.
 * It also gives a window the same row whether it came alone or in a batch (a batch plan is
 * another algorithm, with other rounding), as the workers (one window) and the training of a
 * model (batches) need.
 */
int lg_spec_fftw_init(struct lg_spec *s)
{
	int n = (int)s->n;

	s->in = fftwf_alloc_real(s->n);
	s->out = fftwf_alloc_complex((size_t)n / 2 + 1);
	if (!s->in || !s->out)
		goto err_mem;
	pthread_mutex_lock(&planner_lock);
	s->plan_one = fftwf_plan_dft_r2c_1d(n, s->in, s->out, FFTW_ESTIMATE);
	pthread_mutex_unlock(&planner_lock);
	if (!s->plan_one)
		goto err_mem;
	return 0;
err_mem:
	lg_spec_fftw_free(s);
	return -ENOMEM;
}

void lg_spec_fftw_free(struct lg_spec *s)
{
	pthread_mutex_lock(&planner_lock);
	if (s->plan_one)
		fftwf_destroy_plan(s->plan_one);
	pthread_mutex_unlock(&planner_lock);
	fftwf_free(s->in);
	fftwf_free(s->out);
	s->plan_one = NULL;
	s->in = NULL;
	s->out = NULL;
}

void lg_spec_fftw_power(struct lg_spec *s, const float *restrict x)
{
	const fftwf_complex *X = s->out;
	float *restrict in = s->in, *restrict p = s->power;

	/* The window is copied into the plan's aligned array: the plan was made for it, and
	 * a window in the caller's buffer need not be aligned the same way. */
	if (!s->taper)
		memcpy(in, x, s->n * sizeof(float));
	else
		for (size_t t = 0; t < s->n; t++)
			in[t] = x[t] * s->taper[t];
	fftwf_execute(s->plan_one);
	for (size_t k = s->klo; k < s->khi; k++)
		p[k - s->klo] = X[k][0] * X[k][0] + X[k][1] * X[k][1];
}
