// SPDX-License-Identifier: MIT
/* Band energies through FFTW's batched real-to-complex transforms. */
#include <errno.h>
#include <fftw3.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "features_impl.h"
#include "features_spec.h"

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

/*
 * The basic layout's slot: for an even n, a complex transform of the n/2 points
 * x_2m + i x_2m+1 and the last step of the real transform done here (features_impl.h), with
 * |X_k|^2 in the same pass. FFTW_ESTIMATE's r2c plan for 256 points is that complex transform
 * (AVX codelets) and a radix-2 step in SSE2 codelets; timed alone (16 windows a round, best of
 * 9, docs/benchmarks.md's machine) it took 390-450 ns where the complex plan for 128 points
 * took 130-150. It does the same arithmetic as lg_half_bin(): the rows kept their bits there.
 * Odd n keep the r2c plan.
 */
int lg_spec_fftw_init_basic(struct lg_spec *s)
{
	size_t m = s->n / 2;

	if (s->n % 2 || s->n < 4)
		return lg_spec_fftw_init(s);
	s->in = fftwf_alloc_real(s->n);
	s->out = fftwf_alloc_complex(m + 1);
	s->hcos = fftwf_alloc_real(m + 1);
	s->hsin = fftwf_alloc_real(m + 1);
	if (!s->in || !s->out || !s->hcos || !s->hsin)
		goto err_mem;
	/* cos and sin of pi k / m, exact at 0, m/2 and m, and symmetric about m/2 */
	for (size_t k = 0; k <= m; k++) {
		size_t r = k <= m / 2 ? k : m - k;
		double a = M_PI * (double)r / (double)m;

		s->hcos[k] = (float)(k <= m / 2 ? cos(a) : -cos(a));
		s->hsin[k] = (float)sin(a);
		if (2 * r == m) /* a quarter turn */
			s->hcos[k] = 0;
	}
	pthread_mutex_lock(&planner_lock);
	s->plan_one = fftwf_plan_dft_1d((int)m, (fftwf_complex *)s->in, s->out, FFTW_FORWARD,
					FFTW_ESTIMATE);
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
	fftwf_free(s->hcos);
	fftwf_free(s->hsin);
	s->hcos = NULL;
	s->hsin = NULL;
	s->plan_one = NULL;
	s->in = NULL;
	s->out = NULL;
}

void lg_spec_fftw_power(struct lg_spec *s, const struct lg_spec_kernels *k, const float *x)
{
	/* The window is copied into the plan's aligned array: the plan was made for it, and
	 * a window in the caller's buffer need not be aligned the same way. */
	if (!s->taper)
		memcpy(s->in, x, s->n * sizeof(float));
	else
		k->taper(x, s->taper, s->n, s->in);
	fftwf_execute(s->plan_one);
	if (s->hcos) {
		float *Z = s->out;

		Z[s->n] = Z[0]; /* Z_n/2 = Z_0 */
		Z[s->n + 1] = Z[1];
		k->half_power(Z, s->hcos, s->hsin, s->n / 2, s->klo, s->khi, s->power);
	} else {
		k->power((const float *)s->out + 2 * s->klo, s->khi - s->klo, s->power);
	}
}
