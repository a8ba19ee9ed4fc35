// SPDX-License-Identifier: MIT
/*
 * linegate-quality --from: a model judged on a line's own labelled recordings. Per fault
 * kind: the faulty devices alarmed within LATENCY windows of their onset and the delay;
 * over every healthy window: the false alarms with their 95% interval.
 */
#include <linegate/detector.h>
#include <linegate/ingest.h>
#include <linegate/policy.h>

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle.h"
#include "quality.h"

#define MAX_KINDS 32

struct kind_row {
	char kind[32];
	unsigned trials, detected, late, missed;
	double delay_w, delay_ms; /* sums over the detected */
	double late_w;            /* sum over the late ones: windows from onset to alarm */
};

static struct kind_row *kind_of(struct kind_row *k, unsigned *nk, const char *name)
{
	for (unsigned i = 0; i < *nk; i++)
		if (!strcmp(k[i].kind, name))
			return &k[i];
	if (*nk == MAX_KINDS)
		return &k[MAX_KINDS - 1];
	memset(&k[*nk], 0, sizeof(k[*nk]));
	snprintf(k[*nk].kind, sizeof(k[*nk].kind), "%s", name);
	return &k[(*nk)++];
}

/*
 * Judging the very samples the model was trained on (the same data digest) flatters it:
 * without --after, a warning; with --after S before the end of the windows it learnt from
 * (its trained_until), a refusal unless --judge-trained: the trial's line gave "0 false
 * alarms" judged so, and 13.6% on a stretch held out. Nonzero: refused.
 */
static int trained_on(const struct lg_detector_set *set, const struct lg_quality_files *qc,
		      const char *how)
{
	double tu = set->trained_until;

	if (!(qc->after > 0)) {
		fprintf(stderr, "linegate-quality: WARNING: these are the very samples the model "
			"was trained on (%s): the figures flatter it. Train on a "
			"range (linegate-train --healthy-before S) and judge what came after it "
			"(--after S)\n", how);
		if (tu > 0)
			fprintf(stderr, "linegate-quality: WARNING: it learnt from its devices' "
				"healthy windows up to %.3f s (its trained_until)\n", tu);
		return 0;
	}
	if (!lg_time_after(tu, qc->after))
		return 0; /* not recorded (an older model), or held out indeed */
	fprintf(stderr, "linegate-quality: %s%s: --after %g: the model learnt from these very "
		"samples (%s) up to %.3f s of its devices (its trained_until): the "
		"windows from %g s to %.3f s trained, calibrated or checked it, and judged they "
		"flatter it. Train on a range (linegate-train --healthy-before S) and judge "
		"--after S, judge --after %.3f, or give --judge-trained\n",
		qc->judge_trained ? "WARNING: " : "", qc->model, qc->after, how, tu, qc->after, tu,
		tu);
	if (!qc->judge_trained)
		return 1;
	fprintf(stderr, "linegate-quality: WARNING: --judge-trained: the false alarms below "
		"include windows the model learnt from\n");
	return 0;
}

/*
 * Some of the files the model was trained on, judged without the rest (trial T, s24: one
 * device's file of the line's training set passed unwarned): a device whose samples have
 * the data digest of its own detector. Says which in how; 0: none.
 */
static int same_devices(const struct lg_detector_set *set, const struct lg_ingest *in,
			char *how, size_t len)
{
	char names[400] = "";
	size_t n = 0, u = 0;

	for (size_t i = 0; i < in->ndev; i++) {
		int k = lg_detector_set_find(set, in->dev[i].name);
		char d[65];

		if (k < 0 || !set->det[k].digest[0] || lg_ingest_dev_digest(&in->dev[i], d) ||
		    strcmp(d, set->det[k].digest))
			continue;
		if (u < sizeof(names))
			u += (size_t)snprintf(names + u, sizeof(names) - u, "%s%s", n ? ", " : "",
					      in->dev[i].name);
		n++;
	}
	snprintf(how, len, "%s %s: the data digest of %s detector", n > 1 ? "devices" : "device",
		 names, n > 1 ? "each one's" : "its");
	return n > 0;
}

int lg_quality_files(const struct lg_quality_files *qc)
{
	struct lg_detector_set set;
	struct lg_ingest in = { 0 };
	struct lg_policy pol;
	struct lg_labels labels = { 0 };
	struct lg_truth tr = { .before = -1 };
	struct kind_row kinds[MAX_KINDS];
	unsigned nk = 0, total = 0, detected = 0, wmin, wmax;
	unsigned long long hw = 0, fa = 0, dropouts = 0, nonfinite = 0, *devfa = NULL,
			   *devhw = NULL;
	char err[1024], digest[65], rec[32], how[512];
	int have_pol = 0, ret = 1;
	double lo, hi;

	if (lg_detector_set_load(qc->model, 256, &set, err, sizeof(err))) {
		fprintf(stderr, "linegate-quality: %s\n", err);
		return 1;
	}
	if (lg_labels_load(qc->labels, &labels, err, sizeof(err))) {
		fprintf(stderr, "linegate-quality: %s\n", err);
		goto out;
	}
	tr.labels = &labels;
	if (qc->policy) {
		if (lg_policy_load(qc->policy, &pol, err, sizeof(err))) {
			fprintf(stderr, "linegate-quality: %s\n", err);
			goto out;
		}
		have_pol = 1;
	}
	in.allow_cut = qc->allow_cut;
	if (lg_ingest_all(&qc->from, have_pol ? &pol : NULL, qc->port, NULL, &in,
			  "linegate-quality") ||
	    lg_labels_check(&labels, qc->labels, &in, "linegate-quality"))
		goto out;
	lg_ingest_digest(&in, digest);
	if (set.digest[0] && !strcmp(set.digest, digest)) {
		if (trained_on(&set, qc, "same data digest"))
			goto out;
	} else if (same_devices(&set, &in, how, sizeof(how)) && trained_on(&set, qc, how)) {
		goto out;
	}
	for (size_t i = 0; i < in.ndev; i++) {
		int k = set.window ? lg_detector_set_find(&set, in.dev[i].name) : -1;

		if (!set.window || k < 0) {
			fprintf(stderr, "linegate-quality: %s: %s\n", in.dev[i].name,
				!set.window ? "the model records no window: give a model trained "
					      "by linegate-train" :
					      "the model has no detector for this device (and no "
					      "default)");
			goto out;
		}
		if (set.det[k].sample_rate > 0 && in.dev[i].rate != set.det[k].sample_rate) {
			fprintf(stderr, "linegate-quality: %s: its samples are at %g Hz, the model "
				"was trained on %g Hz (a file's own rate, else --sample-rate)\n",
				in.dev[i].name, (double)in.dev[i].rate, (double)set.det[k].sample_rate);
			goto out;
		}
		/* as the data plane drops them (channels): never scored, not "false alarms" */
		if (set.det[k].channels && in.dev[i].channels != set.det[k].channels) {
			fprintf(stderr, "linegate-quality: %s: it has %u channel%s, its detector was "
				"trained on %u (the data plane drops its frames as channels)\n",
				in.dev[i].name, in.dev[i].channels, in.dev[i].channels == 1 ? "" : "s",
				set.det[k].channels);
			goto out;
		}
	}
	devfa = calloc(in.ndev + 1, sizeof(*devfa));
	devhw = calloc(in.ndev + 1, sizeof(*devhw));
	if (!devfa || !devhw)
		goto out;
	for (size_t i = 0; i < in.ndev; i++) {
		const struct lg_ingest_dev *d = &in.dev[i];
		struct lg_detector *det = &set.det[lg_detector_set_find(&set, d->name)];
		struct lg_win_rows w;
		struct lg_kofn a = { 0, qc->k, qc->n };
		float sc[LG_INGEST_MAX_CHANNELS];
		unsigned long long dhw = 0, dfa = 0;
		unsigned dtrials = 0, dmissed = 0;
		struct lg_smooth_ch hist[LG_INGEST_MAX_CHANNELS] = { 0 };
		unsigned char *alarm;

		/* the device's windows at its detector's window (a window per device, issue 8
		 * step 6e; an old model's is the file's) */
		if (lg_win_rows_make(d, det->window ? det->window : set.window, &det->bands,
				     det->layout,
				     lg_layout_orders(det->layout) ? &det->oref : NULL, &det->imp,
				     &w) ||
		    !(alarm = calloc(w.n + 1, 1))) {
			lg_win_rows_free(&w);
			fprintf(stderr, "linegate-quality: out of memory\n");
			goto out;
		}
		for (size_t j = 0; j < w.n; j++) {
			const float *row = w.rows + j * w.channels * w.d;
			size_t e = 0;

			/* a model with dropout_run does not score a dropout window (the data plane
			 * counts it): no alarm, not judged, not a step of k-of-n */
			if (det->dropout_run && w.dropout[j]) {
				dropouts++;
				continue;
			}
			/* never a window whose features are not finite (a sample the ingest let
			 * through, a model's overflow): the data plane never scores one as normal
			 * and no sample of it reaches a row; not judged either way, counted */
			while (e < w.channels * w.d && isfinite(row[e]))
				e++;
			if (e < w.channels * w.d) {
				nonfinite++;
				continue;
			}
			/* a model with "smooth": each channel's mean of its last scores */
			alarm[j] = (unsigned char)lg_kofn_step(
				&a, lg_win_alert_smooth(det, &w, j, sc, set.smooth, hist));
			if (lg_time_after(qc->after, w.t[j]))
				continue; /* it trained the model: not judged */
			if (lg_win_truth(&tr, d->name, w.t[j], w.dur) == LG_WIN_HEALTHY) {
				dhw++;
				dfa += alarm[j];
			}
		}
		hw += dhw;
		fa += dfa;
		devhw[i] = dhw;
		devfa[i] = dfa;
		/* Each of the device's label rows is a trial: its onset window, and the first
		 * alarm from there while the fault lasts. */
		for (size_t r = 0; r < labels.n; r++) {
			const struct lg_label *l = &labels.l[r];
			long onset_w = -1, hit = -1;
			struct kind_row *k;

			if (strcmp(l->device, d->name) || lg_time_after(qc->after, l->onset))
				continue;
			for (size_t j = 0; j < w.n; j++) {
				bool in_fault = lg_win_overlaps(w.t[j], w.dur, l->onset, l->end);

				if (in_fault && onset_w < 0)
					onset_w = (long)j;
				if (in_fault && alarm[j]) {
					hit = (long)j;
					break;
				}
			}
			if (onset_w < 0)
				continue;
			k = kind_of(kinds, &nk, l->kind);
			k->trials++;
			total++;
			dtrials++;
			if (hit >= 0 && hit - onset_w < (long)qc->latency) {
				k->detected++;
				detected++;
				k->delay_w += (double)(hit - onset_w);
				/* onset to the end of the window that raised the alarm */
				k->delay_ms += 1000.0 * (w.t[hit] + w.dur - l->onset);
			} else if (hit >= 0) {
				k->late++;
				k->late_w += (double)(hit - onset_w);
			} else {
				k->missed++;
				dmissed++;
			}
		}
		if (qc->per_device)
			printf("device %-20s %6g Hz %6llu healthy windows, %5llu false alarms "
			       "(%.3f%%), %u faults, %u missed\n", d->name, d->rate, dhw, dfa,
			       dhw ? 100.0 * (double)dfa / (double)dhw : 0.0, dtrials, dmissed);
		free(alarm);
		lg_win_rows_free(&w);
	}
	/* a machine's false alarms come in runs (its rare states): the interval resamples the
	 * devices (lg_cluster95()) */
	lg_cluster95(devfa, devhw, in.ndev, &lo, &hi);
	wmin = wmax = set.window;
	for (size_t i = 0; i < set.n; i++) {
		wmin = set.det[i].window && set.det[i].window < wmin ? set.det[i].window : wmin;
		wmax = set.det[i].window > wmax ? set.det[i].window : wmax;
	}
	if (wmin == wmax)
		printf("model %s: %zu detector(s), window %u samples, alarm %u of %u, "
		       "latency %u windows\n", qc->model, set.n, set.window, qc->k, qc->n,
		       qc->latency);
	else
		printf("model %s: %zu detector(s), a window per device of %u to %u samples "
		       "(default %u), alarm %u of %u, latency %u windows of the device's\n",
		       qc->model, set.n, wmin, wmax, set.window, qc->k, qc->n, qc->latency);
	if (set.smooth > 1)
		printf("scores: each channel's mean of its last %u (the model's smooth)\n",
		       set.smooth);
	printf("%-14s %7s %9s %8s %6s %7s %14s %14s\n", "fault", "trials", "detected", "recall",
	       "late", "missed", "delay_windows", "delay_ms");
	for (unsigned i = 0; i < nk; i++) {
		struct kind_row *k = &kinds[i];

		/* the delay is the detected ones'; none detected: none, not 0 (trial s20 H L6) */
		if (k->detected)
			printf("%-14s %7u %9u %7.2f%% %6u %7u %14.2f %14.1f\n", k->kind, k->trials,
			       k->detected, 100.0 * k->detected / k->trials, k->late, k->missed,
			       k->delay_w / k->detected, k->delay_ms / k->detected);
		else
			printf("%-14s %7u %9u %7.2f%% %6u %7u %14s %14s\n", k->kind, k->trials,
			       k->detected, 0.0, k->late, k->missed, "-", "-");
		if (k->late)
			printf("%-14s %u late: alarmed %.2f windows after the onset window on "
			       "average (latency %u)\n", "", k->late, k->late_w / k->late,
			       qc->latency);
	}
	if (in.ndev < LG_CLUSTER_MIN)
		printf("note: the false alarms' interval takes every window as independent with "
		       "%zu device(s) (it resamples the devices from %d on): too narrow when "
		       "alarms come in runs\n", in.ndev, LG_CLUSTER_MIN);
	printf("healthy windows %llu, false alarms %llu (%.4f%%, 95%% interval %.4f%% to %.4f%%)\n",
	       hw, fa, hw ? 100.0 * (double)fa / (double)hw : 0.0, 100 * lo, 100 * hi);
	if (dropouts)
		printf("sensor dropout windows (%d equal samples), not scored: %llu\n",
		       LG_DROPOUT_RUN, dropouts);
	if (nonfinite)
		printf("windows whose features are not finite, not scored: %llu\n", nonfinite);
	/* A window per device (linegate-train --window revR): "per device" and each judged
	 * device's, not the file's default as if it were every device's (trial). */
	if (wmin == wmax) {
		printf("{\"bench\":\"quality_files\",\"window\":%u,", set.window);
	} else {
		json_object *wins = json_object_new_object();

		for (size_t i = 0; wins && i < in.ndev; i++) {
			const struct lg_detector *det =
				&set.det[lg_detector_set_find(&set, in.dev[i].name)];

			json_object_object_add(wins, in.dev[i].name,
					       json_object_new_int64(det->window ? det->window :
										   set.window));
		}
		printf("{\"bench\":\"quality_files\",\"window\":\"per device\",\"windows\":%s,"
		       "\"default_window\":%u,", wins ? json_object_to_json_string_ext(wins,
				JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : "{}",
		       set.window);
		json_object_put(wins);
	}
	/* no faulty stream: no recall (null), not 0 */
	if (total)
		snprintf(rec, sizeof(rec), "%.5f", (double)detected / total);
	else
		snprintf(rec, sizeof(rec), "null");
	printf("\"k\":%u,\"n\":%u,\"latency\":%u,"
	       "\"recall\":%s,\"faulty_streams\":%u,\"healthy_windows\":%llu,"
	       "\"false_alarms\":%llu,\"false_alarm_rate\":%.6f,\"fa_lo\":%.6f,\"fa_hi\":%.6f,"
	       "\"nonfinite_windows\":%llu,\"kinds\":[", qc->k, qc->n, qc->latency, rec, total,
	       hw, fa, hw ? (double)fa / (double)hw : 0.0, lo, hi, nonfinite);
	for (unsigned i = 0; i < nk; i++) {
		const struct kind_row *k = &kinds[i];

		printf("%s{\"kind\":\"%s\",\"trials\":%u,\"detected\":%u,\"late\":%u,",
		       i ? "," : "", k->kind, k->trials, k->detected, k->late);
		if (k->detected)
			printf("\"delay_windows\":%.3f,\"delay_ms\":%.1f", k->delay_w / k->detected,
			       k->delay_ms / k->detected);
		else
			printf("\"delay_windows\":null,\"delay_ms\":null");
		if (k->late)
			printf(",\"late_delay_windows\":%.3f", k->late_w / k->late);
		printf("}");
	}
	printf("]}\n");
	ret = 0;
out:
	free(devfa);
	free(devhw);
	lg_detector_set_free(&set);
	lg_labels_free(&labels);
	lg_ingest_free(&in);
	if (have_pol)
		lg_policy_free(&pol);
	return ret;
}
