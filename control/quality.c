// SPDX-License-Identifier: MIT
/* Detection quality on labelled simulated machines: see quality.h. */
#include "quality.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void lg_quality_defaults(struct lg_quality_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->window = 256;
	c->fs = 10000;
	c->train_seed = 1000;
	c->train_machines = 64;
	c->train_windows = 400;
	c->kind = LG_DETECTOR_MAHALANOBIS;
	c->quantile = 0.999;
	c->margin = 3;
	c->test_seed = 77;
	c->healthy_machines = 64;
	c->healthy_windows = 2000;
	c->fault_trials = 400;
	c->severity[0] = 0.25;
	c->severity[1] = 0.5;
	c->severity[2] = 1.0;
	c->nsev = 3;
	c->latency = 3;
	c->k = 1;
	c->n = 1;
}

/* Subtract each machine's own mean from its rows; the global mean stays in mean. */
static void centre_per_machine(const struct lg_quality_conf *c, float *rows)
{
	for (unsigned m = 0; m < c->train_machines; m++) {
		float *r = rows + (size_t)m * c->train_windows * LG_FEAT_N;
		double mu[LG_FEAT_N] = { 0 };

		for (unsigned w = 0; w < c->train_windows; w++)
			for (int j = 0; j < LG_FEAT_N; j++)
				mu[j] += r[(size_t)w * LG_FEAT_N + j] / c->train_windows;
		for (unsigned w = 0; w < c->train_windows; w++)
			for (int j = 0; j < LG_FEAT_N; j++)
				r[(size_t)w * LG_FEAT_N + j] -= (float)mu[j];
	}
}

/* A deterministic draw in [0, 1) from a trial's seed. */
static double draw(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return ((z ^ (z >> 31)) >> 11) * (1.0 / 9007199254740992.0);
}

float *lg_quality_training_rows(const struct lg_quality_conf *c, const struct lg_bands *bands,
				size_t *nrows)
{
	size_t n = (size_t)c->train_machines * c->train_windows;
	float *rows = malloc(n * LG_FEAT_N * sizeof(float) + 1);
	float *buf = malloc(c->window * sizeof(float));
	struct lg_features *fx = NULL;

	if (!rows || !buf || lg_features_new(&fx, bands, LG_SPECTRUM_DEFAULT, 1) ||
	    lg_features_prepare(fx, c->window))
		goto err;
	for (unsigned m = 0; m < c->train_machines; m++) {
		struct lg_signal s;
		uint64_t r = c->train_seed * 31 + m;

		lg_signal_init(&s, c->train_seed, m, c->fs);
		for (unsigned w = 0; w < c->train_windows; w++) {
			/* Windows spread over the machine's day: 0-5 s apart, so that every
			 * product, ramp and load level is in the training set. */
			lg_signal_skip(&s, (uint64_t)(draw(&r) * 5 * c->fs));
			lg_signal_fill(&s, buf, c->window);
			lg_features_rows(fx, buf, 1, c->window, c->window,
					 rows + ((size_t)m * c->train_windows + w) * LG_FEAT_N);
		}
	}
	lg_features_free(fx);
	free(buf);
	*nrows = n;
	return rows;
err:
	lg_features_free(fx);
	free(rows);
	free(buf);
	return NULL;
}

int lg_quality_train(const struct lg_quality_conf *c, struct lg_detector *det)
{
	struct lg_stats st;
	size_t n;
	float *rows = lg_quality_training_rows(c, NULL, &n);
	int ret;

	if (!rows)
		return -ENOMEM;
	if (c->per_device)
		centre_per_machine(c, rows);
	ret = lg_stats_init(&st, LG_FEAT_N, NULL, 0, NULL);
	if (ret)
		goto out;
	lg_stats_add(&st, rows, n);
	ret = lg_detector_from_stats(&st, c->kind, c->components, 256, det);
	lg_stats_free(&st);
	if (ret)
		goto out;
	ret = lg_detector_calibrate(det, rows, n, c->quantile, c->margin);
	if (ret)
		lg_detector_free(det);
out:
	free(rows);
	return ret;
}

/* k of the last n windows over the threshold, n <= 64: a bit history per machine. */
struct alarm {
	uint64_t hist;
};

static bool alarm_step(struct alarm *a, bool over, unsigned k, unsigned n)
{
	uint64_t mask = n >= 64 ? ~0ull : (1ull << n) - 1;

	a->hist = ((a->hist << 1) | over) & mask;
	return (unsigned)__builtin_popcountll(a->hist) >= k;
}

static bool window_over(const struct lg_quality_conf *c, struct lg_detector *det,
			const float *buf, unsigned window, const float *base, struct lg_quality *q)
{
	float row[LG_FEAT_N], score;

	lg_features_rows(det->fx, buf, 1, window, window, row);
	if (base) /* the model was fitted on rows centred per machine: centre this one too */
		for (int j = 0; j < LG_FEAT_N; j++)
			row[j] = row[j] - base[j] + det->mean[j];
	if (c->onnx) {
		/* on xsmm-bf16 with its guard: a window near the threshold is scored on fp32 */
		int n = lg_model_scores_guard(c->onnx, row, 1, &score, c->onnx_ws,
					      &c->onnx_threshold, 1, NULL);

		if (n < 0)
			return false;
		q->onnx_windows++;
		q->bf16_rescored += (uint64_t)n;
		return score > c->onnx_threshold;
	}
	lg_detector_score(det, row, 1, &score);
	return score > det->threshold;
}

/* The device's own mean over its commissioning windows, 0-10 s apart. The machine is
 * healthy then; its clock moves on, so the test starts after the baseline. */
static const float *baseline(const struct lg_quality_conf *c, struct lg_detector *det,
			     struct lg_signal *s, float *buf, float *base, uint64_t *r)
{
	double mu[LG_FEAT_N] = { 0 };
	float row[LG_FEAT_N];

	if (!c->per_device)
		return NULL;
	for (unsigned w = 0; w < c->per_device; w++) {
		lg_signal_skip(s, (uint64_t)(draw(r) * 10 * c->fs));
		lg_signal_fill(s, buf, c->window);
		lg_features_rows(det->fx, buf, 1, c->window, c->window, row);
		for (int j = 0; j < LG_FEAT_N; j++)
			mu[j] += row[j] / c->per_device;
	}
	for (int j = 0; j < LG_FEAT_N; j++)
		base[j] = (float)mu[j];
	return base;
}

int lg_quality_run(const struct lg_quality_conf *c, struct lg_detector *det,
		   struct lg_quality *q)
{
	static const enum lg_fault kinds[3] = { LG_FAULT_BEARING, LG_FAULT_IMBALANCE,
						LG_FAULT_LOOSENESS };
	const unsigned warm = 16; /* healthy windows before an onset: the policy's history */
	float *buf = malloc(c->window * sizeof(float)), basev[LG_FEAT_N];
	const float *base;

	if (!buf)
		return -ENOMEM;
	if (!c->k || c->k > c->n || c->n > 64 || !c->latency || c->nsev > LG_QUALITY_MAX_SEV) {
		free(buf);
		return -EINVAL;
	}
	memset(q, 0, sizeof(*q));
	lg_features_prepare(det->fx, c->window);

	/* Healthy machines, consecutive windows in blocks of 100 spread over the day. */
	for (unsigned m = 0; m < c->healthy_machines; m++) {
		struct lg_signal s;
		struct alarm a = { 0 };
		uint64_t r = c->test_seed * 31 + m;

		lg_signal_init(&s, c->test_seed, m, c->fs);
		base = baseline(c, det, &s, buf, basev, &r);
		for (unsigned w = 0; w < c->healthy_windows; w++) {
			if (w % 100 == 0)
				lg_signal_skip(&s, (uint64_t)(draw(&r) * 60 * c->fs));
			lg_signal_fill(&s, buf, c->window);
			q->false_alarms += alarm_step(&a, window_over(c, det, buf, c->window, base, q),
						      c->k, c->n);
			q->healthy_windows++;
		}
	}

	/* Faults: a fresh machine per trial, at a random point of its day, with the onset
	 * anywhere inside a window. Window 1 is the one the onset falls in. */
	for (unsigned f = 0; f < 3; f++)
		for (unsigned v = 0; v < c->nsev; v++) {
			struct lg_quality_cell *cell = &q->cell[q->ncells++];

			cell->fault = kinds[f];
			cell->severity = c->severity[v];
			for (unsigned t = 0; t < c->fault_trials; t++) {
				struct lg_signal s;
				struct alarm a = { 0 };
				uint64_t r = (c->test_seed + 1) * 1000003 + t, onset;
				unsigned dev = 1000 + t;

				lg_signal_init(&s, c->test_seed + 1, dev, c->fs);
				base = baseline(c, det, &s, buf, basev, &r);
				lg_signal_skip(&s, (uint64_t)(draw(&r) * 600 * c->fs));
				onset = s.n + (uint64_t)warm * c->window +
					(uint64_t)(draw(&r) * c->window);
				lg_signal_set_fault(&s, kinds[f], c->severity[v], onset);
				for (unsigned w = 0; w < warm; w++) {
					lg_signal_fill(&s, buf, c->window);
					alarm_step(&a, window_over(c, det, buf, c->window, base, q), c->k,
						   c->n);
				}
				cell->trials++;
				for (unsigned w = 1; w <= c->latency; w++) {
					lg_signal_fill(&s, buf, c->window);
					if (alarm_step(&a, window_over(c, det, buf, c->window, base, q),
						       c->k, c->n)) {
						cell->detected++;
						cell->latency_sum += w;
						break;
					}
				}
			}
		}
	free(buf);
	return 0;
}
