// SPDX-License-Identifier: MIT
#include "scorer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linegate/features.h>
#include <linegate/model.h>
#include <linegate/sign.h>

static int load_json(struct lg_scorer *sc, const struct lg_policy *p, const uint8_t *buf,
		     size_t len, const char *path, size_t max_batch, char *err, size_t errlen)
{
	struct lg_detector_set *set = &sc->set;
	int ret = lg_detector_set_load_mem(buf, len, path, max_batch, set, err, errlen);
	const struct lg_detector *d0;

	if (ret)
		return ret;
	sc->kind = LG_SCORER_DETECTOR;
	d0 = &set->det[set->fallback >= 0 ? set->fallback : 0];
	sc->threshold = d0->threshold;
	sc->fx = d0->fx;
	/* One feature extractor makes every row: the detectors must agree on the layout. A
	 * detector with a window of its own (issue 8 step 6e) reads the layout's row at that
	 * window, which may be wider or narrower: the batch's rows are as wide as the widest
	 * (lg_scorer_row_d()), each detector scores the first d floats of its own rows. */
	sc->in_dim = lg_features_width(d0->layout, p->window);
	for (size_t i = 0; i < set->n; i++) {
		const struct lg_detector *di = &set->det[i];
		unsigned win = di->window ? di->window : p->window;
		size_t want = lg_features_width(di->layout, win);

		if (di->layout != d0->layout || !lg_bands_equal(&di->bands, &d0->bands) ||
		    (di->d != d0->d && di->window == d0->window)) {
			snprintf(err, errlen, "%s: its detectors read different feature rows (band "
				 "layout or count): one model, one layout", path);
			return -EINVAL;
		}
		if (di->d != want) {
			snprintf(err, errlen, "%s: detector %s takes %zu features per row, linegate "
				 "computes %zu (layout %s, %u-sample windows)", path, di->name, di->d,
				 want, lg_feat_layout_name(di->layout), win);
			return -EINVAL;
		}
		if (want > sc->in_dim)
			sc->in_dim = want;
	}
	sc->idx = calloc(max_batch, sizeof(*sc->idx));
	sc->part = calloc(max_batch, sizeof(*sc->part));
	sc->chan = calloc(max_batch, sizeof(*sc->chan));
	if (!sc->idx || !sc->part || !sc->chan) {
		snprintf(err, errlen, "%s: no memory for a batch of %zu", path, max_batch);
		return -ENOMEM;
	}
	/* Every device of the policy needs a detector, at the model's rate. */
	for (size_t i = 0; i < p->ndevices; i++) {
		const struct lg_policy_device *dev = &p->devices[i];

		if (dev->unscored)
			continue; /* score: false: recorded, not scored, no detector needed */
		if (lg_detector_set_find(set, dev->name) < 0) {
			snprintf(err, errlen, "%s: the model has no detector for device %s (id %u) "
				 "and no default: train one for it (linegate-train --from ...) or "
				 "one for every device (--pooled); a machine being added: 'score: "
				 "false' until then (linegatectl devices enroll --no-score)", path,
				 dev->name, dev->id);
			return -ENOENT;
		}
		double rate = set->det[lg_detector_set_find(set, dev->name)].sample_rate;

		if (dev->sample_rate && rate > 0 && dev->sample_rate != rate) {
			snprintf(err, errlen, "%s: the model was trained on samples at %g Hz, device "
				 "%s (id %u) sends %u Hz (its sample_rate in the policy)", path,
				 rate, dev->name, dev->id, dev->sample_rate);
			return -EINVAL;
		}
		/* A UADP device whose 'channels' names its fields says how many it sends. */
		unsigned nch = set->det[lg_detector_set_find(set, dev->name)].channels,
			 want = (unsigned)__builtin_popcount(dev->uadp_channels);

		if (dev->uadp_pub_type && want && nch && want != nch) {
			snprintf(err, errlen, "%s: the model was trained on %u channel%s, device %s "
				 "(id %u) sends %u (the fields its 'channels' in the policy names)",
				 path, nch, nch == 1 ? "" : "s", dev->name, dev->id, want);
			return -EINVAL;
		}
	}
	return 0;
}

static int load_onnx(struct lg_scorer *sc, const struct lg_policy *p, const uint8_t *buf,
		     size_t len, const char *path, size_t max_batch, char *err, size_t errlen)
{
	char msg[512];
	/* detection.gemm: the route from the start (openblas: no JIT code for this model;
	 * xsmm: refused where libxsmm cannot run). */
	int ret = lg_model_load_mem_gemm(buf, len, (enum lg_model_gemm)p->gemm, &sc->onnx, msg,
					 sizeof(msg));

	if (ret) {
		snprintf(err, errlen, "%s: %s%s", path, ret == -ENOTSUP ? "detection.gemm: " : "",
			 msg);
		return ret;
	}
	sc->in_dim = lg_model_input_dim(sc->onnx);
	/* What the model was fitted for, where its metadata says (the same checks and words
	 * as a JSON model's); a model that does not say cannot be checked (callers warn). */
	if (lg_model_window(sc->onnx) && lg_model_window(sc->onnx) != p->window) {
		snprintf(err, errlen, "%s: the model was trained on %u-sample windows, the policy's "
			 "detection.window is %u", path, lg_model_window(sc->onnx), p->window);
		return -EINVAL;
	}
	sc->window_unchecked = !lg_model_window(sc->onnx);
	if (lg_model_layout(sc->onnx) && strcmp(lg_model_layout(sc->onnx),
						lg_feat_layout_name(LG_LAYOUT_BASIC))) {
		snprintf(err, errlen, "%s: the model reads feature layout %s (metadata "
			 "linegate.layout), linegate feeds ONNX models layout %s", path,
			 lg_model_layout(sc->onnx), lg_feat_layout_name(LG_LAYOUT_BASIC));
		return -EINVAL;
	}
	for (size_t i = 0; lg_model_sample_rate(sc->onnx) > 0 && i < p->ndevices; i++) {
		const struct lg_policy_device *dev = &p->devices[i];

		if (dev->sample_rate && dev->sample_rate != lg_model_sample_rate(sc->onnx)) {
			snprintf(err, errlen, "%s: the model was trained on samples at %g Hz, device "
				 "%s (id %u) sends %u Hz (its sample_rate in the policy)", path,
				 lg_model_sample_rate(sc->onnx), dev->name, dev->id,
				 dev->sample_rate);
			return -EINVAL;
		}
	}
	/* ONNX files carry no band layout: they read rows made with the default one. */
	ret = lg_features_new(&sc->own_fx, NULL, LG_SPECTRUM_DEFAULT, max_batch);
	if (ret) {
		snprintf(err, errlen, "%s: no memory for the feature extractor", path);
		return ret;
	}
	sc->fx = sc->own_fx;
	ret = lg_model_ws_create(sc->onnx, max_batch, &sc->ws);
	if (ret) {
		snprintf(err, errlen, "%s: no memory for a batch of %zu", path, max_batch);
		return ret;
	}
	/* The bf16 route runs with its guard, whose bound needs every op to have one. */
	if (lg_model_bf16_unguarded(sc->onnx)) {
		snprintf(err, errlen, "%s: detection.gemm: xsmm-bf16 cannot be guarded for this "
			 "model (%s): use auto, openblas or xsmm", path,
			 lg_model_bf16_unguarded(sc->onnx));
		return -EOPNOTSUPP;
	}
	sc->levels = calloc(2 * max_batch, sizeof(*sc->levels));
	if (!sc->levels)
		return -ENOMEM;
	if (lg_model_kind(sc->onnx) == LG_MODEL_AUTOENCODER) {
		sc->kind = LG_SCORER_ONNX_AE;
	} else {
		sc->kind = LG_SCORER_ONNX_CLASSIFIER;
		sc->classes = lg_model_score_dim(sc->onnx);
		sc->probs = calloc(max_batch * sc->classes, sizeof(float));
		if (!sc->probs)
			return -ENOMEM;
	}
	if (lg_model_threshold(sc->onnx, &sc->threshold)) {
		if (sc->kind == LG_SCORER_ONNX_CLASSIFIER) {
			sc->threshold = 0.5f; /* more likely not normal than normal */
		} else if (!(p->threshold > 0)) {
			snprintf(err, errlen, "%s: the autoencoder carries no alert threshold "
				 "(metadata linegate.threshold) and the policy sets no "
				 "detection.threshold", path);
			return -EINVAL;
		}
	}
	return 0;
}

int lg_scorer_load(const struct lg_policy *p, const char *path, const char *label,
		   size_t max_batch, struct lg_scorer *sc, char *err, size_t errlen)
{
	uint8_t *buf = NULL;
	size_t len;
	int ret;

	memset(sc, 0, sizeof(*sc));
	if (!p->nmodel_keys) {
		snprintf(err, errlen, "%s: the policy trusts no model signing key "
			 "(models.trusted_keys): no model can be loaded", path);
		return -ENOKEY;
	}
	ret = lg_sign_verify_artifact(path, (const uint8_t(*)[32])p->model_keys, p->nmodel_keys,
				      &buf, &len, err, errlen);
	if (ret)
		return ret;
	/* Parse the verified bytes, not the file again: it could change in between. */
	{
		size_t i = 0;

		while (i < len && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\t' || buf[i] == '\r'))
			i++;
		ret = i < len && buf[i] == '{' ? load_json(sc, p, buf, len, path, max_batch, err, errlen) :
						load_onnx(sc, p, buf, len, path, max_batch, err, errlen);
	}
	free(buf);
	if (!ret && sc->kind == LG_SCORER_DETECTOR && sc->set.window &&
	    sc->set.window != p->window) {
		snprintf(err, errlen, "%s: the model was trained on %u-sample windows, the policy's "
			 "detection.window is %u", path, sc->set.window, p->window);
		ret = -EINVAL;
	}
	/* The row the data plane computes for it: its layout's width at the policy's window
	 * (the basic layout: LG_FEAT_N; ONNX models read that one); a detector model's rows are
	 * at least that wide (load_json() held each detector to its own window's width). */
	if (!ret && sc->kind != LG_SCORER_DETECTOR &&
	    sc->in_dim != lg_features_width(lg_features_layout(sc->fx), p->window)) {
		snprintf(err, errlen, "%s: the model takes %zu features per row, linegate computes "
			 "%zu (layout %s, %u-sample windows)", path, sc->in_dim,
			 lg_features_width(lg_features_layout(sc->fx), p->window),
			 lg_feat_layout_name(lg_features_layout(sc->fx)), p->window);
		ret = -EINVAL;
	}
	/* The orders layout: every detector's reference lines fit its window (its own, else
	 * the policy's). */
	for (size_t i = 0; !ret && sc->kind == LG_SCORER_DETECTOR && i < sc->set.n; i++) {
		const struct lg_detector *di = &sc->set.det[i];
		const char *what = lg_layout_orders(di->layout) ?
					   lg_order_ref_check(&di->oref, di->window ? di->window :
										      p->window) :
					   NULL;

		if (what) {
			snprintf(err, errlen, "%s: detector %s: %s", path, di->name, what);
			ret = -EINVAL;
		}
	}
	/* Plan the spectrum for the policy's window now, not on the hot path, and for every
	 * window a device of the policy has from its own detector. */
	if (!ret && (ret = lg_features_prepare(sc->fx, p->window)))
		snprintf(err, errlen, "%s: features for %u-sample windows: %s", path, p->window,
			 strerror(-ret));
	for (size_t i = 0; !ret && i < p->ndevices; i++) {
		int det = lg_scorer_device(sc, p->devices[i].name);
		unsigned win = lg_scorer_window(sc, det, p->window);

		if (win != p->window && (ret = lg_features_prepare(sc->fx, win)))
			snprintf(err, errlen, "%s: features for device %s's %u-sample windows: %s",
				 path, p->devices[i].name, win, strerror(-ret));
		/* The impact features' buffers for the device's window now too, not at its
		 * first window on the worker (their envelope transforms are still planned when
		 * a revolution count is first seen: impact.c). */
		if (!ret && lg_layout_imp_n(lg_features_layout(sc->fx)) &&
		    sc->kind == LG_SCORER_DETECTOR && det >= 0 && (size_t)det < sc->set.n &&
		    sc->set.det[det].imp.ref_hz > 0 && !lg_scorer_impact(sc, win)) {
			ret = -ENOMEM;
			snprintf(err, errlen, "%s: impact features for device %s's %u-sample "
				 "windows: %s", path, p->devices[i].name, win, strerror(-ret));
		}
	}
	if (ret) {
		lg_scorer_free(sc);
		return ret;
	}
	sc->max_batch = max_batch;
	/* until the worker sets each batch's (lg_scorer_guard_levels()): the policy's */
	if (sc->levels) {
		float pol = p->threshold;

		lg_scorer_guard_levels(sc, &pol, 1, p->incidents.hysteresis);
	}
	snprintf(sc->label, sizeof(sc->label), "%s", label);
	return 0;
}

size_t lg_scorer_levels_note(const struct lg_scorer *sc, const struct lg_policy *p, char *buf,
			     size_t len)
{
	size_t n = 0, at = 0;

	if (len)
		buf[0] = '\0';
	for (size_t i = 0; sc->kind == LG_SCORER_DETECTOR && i < p->ndevices && p->threshold <= 0;
	     i++) {
		int det = lg_scorer_device(sc, p->devices[i].name);
		float lv = det >= 0 && (size_t)det < sc->set.n ?
				   lg_scorer_normal_level(sc, det, sc->set.det[det].threshold) : 0;
		int k;

		if (!(lv > p->incidents.hysteresis))
			continue;
		k = snprintf(buf + at, at < len ? len - at : 0, "%s%s %.3f", n ? ", " : "",
			     p->devices[i].name, (double)lv);
		if (k > 0)
			at += (size_t)k;
		if (at >= len)
			at = len; /* cut short: the count stays right */
		n++;
	}
	return n;
}

void lg_scorer_guard_levels(struct lg_scorer *sc, const float *pol, size_t n, float hysteresis)
{
	size_t k = 0;

	if (!sc->onnx || lg_model_get_gemm(sc->onnx) != LG_MODEL_GEMM_XSMM_BF16)
		return;
	for (size_t i = 0; i < n && i < sc->max_batch; i++) {
		/* as score.c and incident.c compute them */
		float t = pol[i] > 0 ? pol[i] : sc->threshold, lv[2] = {t, t * hysteresis};

		for (int j = 0; j < 2; j++) {
			size_t q = 0;

			while (q < k && sc->levels[q] != lv[j])
				q++;
			if (q == k)
				sc->levels[k++] = lv[j];
		}
	}
	sc->nlevels = k;
}

void lg_scorer_score(struct lg_scorer *sc, const float *rows, size_t n, float *scores)
{
	int ret = 0;

	sc->rescored = 0;
	switch (sc->kind) {
	case LG_SCORER_DETECTOR:
		lg_detector_score(&sc->set.det[sc->set.fallback >= 0 ? sc->set.fallback : 0], rows,
				  n, scores);
		break;
	case LG_SCORER_ONNX_AE:
		ret = lg_model_scores_guard(sc->onnx, rows, n, scores, sc->ws, sc->levels,
					    sc->nlevels, NULL);
		break;
	case LG_SCORER_ONNX_CLASSIFIER:
		ret = lg_model_scores_guard(sc->onnx, rows, n, sc->probs, sc->ws, sc->levels,
					    sc->nlevels, NULL);
		for (size_t i = 0; i < n; i++)
			scores[i] = 1.0f - sc->probs[i * sc->classes];
		break;
	}
	if (ret > 0)
		sc->rescored = (size_t)ret;
}

double lg_scorer_rate(const struct lg_scorer *sc, int det)
{
	if (sc->kind != LG_SCORER_DETECTOR || det < 0 || (size_t)det >= sc->set.n)
		return 0;
	return sc->set.det[det].sample_rate;
}

unsigned lg_scorer_channels(const struct lg_scorer *sc, int det)
{
	if (sc->kind != LG_SCORER_DETECTOR || det < 0 || (size_t)det >= sc->set.n)
		return 0;
	return sc->set.det[det].channels;
}

unsigned lg_scorer_window(const struct lg_scorer *sc, int det, unsigned policy_window)
{
	if (sc->kind != LG_SCORER_DETECTOR || det < 0 || (size_t)det >= sc->set.n ||
	    !sc->set.det[det].window)
		return policy_window;
	return sc->set.det[det].window;
}

int lg_scorer_device(const struct lg_scorer *sc, const char *device)
{
	return sc->kind == LG_SCORER_DETECTOR ? lg_detector_set_find(&sc->set, device) : 0;
}

void lg_scorer_score_rows(struct lg_scorer *sc, const float *rows, size_t n, const int16_t *det,
			  const uint8_t *chan, float *scores, float *thr)
{
	if (sc->kind == LG_SCORER_DETECTOR && sc->set.n == 1 && !sc->set.nnames &&
	    sc->set.det[0].nch) {
		for (size_t i = 0; i < n; i++)
			sc->idx[i] = (unsigned)i;
		lg_detector_score_idx_ch(&sc->set.det[0], rows, sc->idx, chan, n, scores);
		for (size_t i = 0; i < n; i++)
			thr[i] = sc->set.det[0].threshold;
		return;
	}
	if (sc->kind != LG_SCORER_DETECTOR || (sc->set.n == 1 && !sc->set.nnames)) {
		lg_scorer_score(sc, rows, n, scores);
		for (size_t i = 0; i < n; i++)
			thr[i] = sc->threshold;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		scores[i] = NAN;
		thr[i] = NAN;
	}
	/* Each detector in the batch scores its rows in one sgemm: the work follows the rows'
	 * detectors, not the model's (a line of a thousand devices has a thousand). */
	for (size_t r = 0; r < n; r++) {
		int j = det[r];
		struct lg_detector *d;
		size_t m = 0;

		if (!isnan(thr[r]) || j < 0 || (size_t)j >= sc->set.n)
			continue; /* scored with an earlier row's detector, or none */
		d = &sc->set.det[j];
		for (size_t i = r; i < n; i++)
			if (det[i] == j) {
				sc->chan[m] = chan ? chan[i] : 0;
				sc->idx[m++] = (unsigned)i;
			}
		/* rows lg_scorer_row_d() apart; d reads its own width of them */
		lg_detector_score_rows(d, rows, lg_scorer_row_d(sc), sc->idx, sc->chan, m, sc->part);
		for (size_t i = 0; i < m; i++) {
			scores[sc->idx[i]] = sc->part[i];
			thr[sc->idx[i]] = d->threshold;
		}
	}
}

const char *lg_scorer_gemm(const struct lg_scorer *sc)
{
	return sc && sc->onnx ? lg_model_gemm_shown(sc->onnx) : "";
}

struct lg_impact *lg_scorer_impact(struct lg_scorer *sc, size_t n)
{
	for (size_t i = 0; i < LG_SCORER_IMP_MAX; i++) {
		if (sc->imp[i] && lg_impact_len(sc->imp[i]) == n)
			return sc->imp[i];
		if (!sc->imp[i])
			return lg_impact_new(&sc->imp[i], n, LG_IMP_CH_MAX) ? NULL : sc->imp[i];
	}
	return NULL;
}

void lg_scorer_free(struct lg_scorer *sc)
{
	if (!sc)
		return;
	for (size_t i = 0; i < LG_SCORER_IMP_MAX; i++) {
		lg_impact_free(sc->imp[i]);
		sc->imp[i] = NULL;
	}
	lg_detector_set_free(&sc->set);
	free(sc->idx);
	free(sc->part);
	free(sc->chan);
	sc->idx = NULL;
	sc->part = NULL;
	sc->chan = NULL;
	lg_model_ws_free(sc->ws);
	lg_model_free(sc->onnx);
	lg_features_free(sc->own_fx);
	free(sc->probs);
	free(sc->levels);
	sc->levels = NULL;
	sc->own_fx = sc->fx = NULL;
	sc->ws = NULL;
	sc->onnx = NULL;
	sc->probs = NULL;
}
