// SPDX-License-Identifier: MIT
#include "scorer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linegate/sign.h>

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
	ret = lg_detector_load_mem(buf, len, path, max_batch, &sc->det, err, errlen);
	free(buf);
	if (ret)
		return ret;
	sc->kind = LG_SCORER_MAHALANOBIS;
	sc->threshold = sc->det.threshold;
	sc->in_dim = sc->det.d;
	sc->max_batch = max_batch;
	snprintf(sc->label, sizeof(sc->label), "%s", label);
	return 0;
}

void lg_scorer_score(struct lg_scorer *sc, const float *rows, size_t n, float *scores)
{
	lg_detector_score(&sc->det, rows, n, scores);
}

void lg_scorer_free(struct lg_scorer *sc)
{
	if (!sc)
		return;
	lg_detector_free(&sc->det);
}
