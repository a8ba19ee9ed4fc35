// SPDX-License-Identifier: MIT
#include "scorer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linegate/features.h>
#include <linegate/model.h>
#include <linegate/sign.h>

static int load_json(struct lg_scorer *sc, const uint8_t *buf, size_t len, const char *path,
		     size_t max_batch, char *err, size_t errlen)
{
	int ret = lg_detector_load_mem(buf, len, path, max_batch, &sc->det, err, errlen);

	if (ret)
		return ret;
	sc->kind = LG_SCORER_DETECTOR;
	sc->threshold = sc->det.threshold;
	sc->in_dim = sc->det.d;
	sc->fx = sc->det.fx;
	return 0;
}

static int load_onnx(struct lg_scorer *sc, const struct lg_policy *p, const uint8_t *buf,
		     size_t len, const char *path, size_t max_batch, char *err, size_t errlen)
{
	char msg[512];
	int ret = lg_model_load_mem(buf, len, &sc->onnx, msg, sizeof(msg));

	if (ret) {
		snprintf(err, errlen, "%s: %s", path, msg);
		return ret;
	}
	sc->in_dim = lg_model_input_dim(sc->onnx);
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
		ret = i < len && buf[i] == '{' ? load_json(sc, buf, len, path, max_batch, err, errlen) :
						load_onnx(sc, p, buf, len, path, max_batch, err, errlen);
	}
	free(buf);
	if (!ret && sc->kind == LG_SCORER_DETECTOR && sc->det.window &&
	    sc->det.window != p->window) {
		snprintf(err, errlen, "%s: the model was trained on %u-sample windows, the policy's "
			 "detection.window is %u", path, sc->det.window, p->window);
		ret = -EINVAL;
	}
	if (!ret && sc->in_dim != LG_FEAT_N) {
		snprintf(err, errlen, "%s: the model takes %zu features per row, linegate computes %d",
			 path, sc->in_dim, LG_FEAT_N);
		ret = -EINVAL;
	}
	/* Plan the spectrum for the policy's window now, not on the hot path. */
	if (!ret && (ret = lg_features_prepare(sc->fx, p->window)))
		snprintf(err, errlen, "%s: features for %u-sample windows: %s", path, p->window,
			 strerror(-ret));
	if (ret) {
		lg_scorer_free(sc);
		return ret;
	}
	sc->max_batch = max_batch;
	snprintf(sc->label, sizeof(sc->label), "%s", label);
	return 0;
}

void lg_scorer_score(struct lg_scorer *sc, const float *rows, size_t n, float *scores)
{
	switch (sc->kind) {
	case LG_SCORER_DETECTOR:
		lg_detector_score(&sc->det, rows, n, scores);
		break;
	case LG_SCORER_ONNX_AE:
		lg_model_scores(sc->onnx, rows, n, scores, sc->ws);
		break;
	case LG_SCORER_ONNX_CLASSIFIER:
		lg_model_scores(sc->onnx, rows, n, sc->probs, sc->ws);
		for (size_t i = 0; i < n; i++)
			scores[i] = 1.0f - sc->probs[i * sc->classes];
		break;
	}
}

void lg_scorer_free(struct lg_scorer *sc)
{
	if (!sc)
		return;
	lg_detector_free(&sc->det);
	lg_model_ws_free(sc->ws);
	lg_model_free(sc->onnx);
	lg_features_free(sc->own_fx);
	free(sc->probs);
	sc->own_fx = sc->fx = NULL;
	sc->ws = NULL;
	sc->onnx = NULL;
	sc->probs = NULL;
}
