// SPDX-License-Identifier: MIT
/*
 * The deep policy check (include/linegate/policy.h): what linegate would refuse at start or
 * apply beyond the text itself. It loads the model exactly as a worker does (lg_scorer_load:
 * signature against models.trusted_keys, parse, window and feature count), so validate,
 * diff, apply, the file watch and start give one answer.
 */
#include <linegate/policy.h>

#include <errno.h>
#include <stdio.h>

#include "scorer.h"

int lg_policy_check(const struct lg_policy *p, const char *name, char *err, size_t errlen)
{
	struct lg_scorer sc;
	char msg[768];
	int ret;

	if (!p->model[0]) {
		snprintf(err, errlen,
			 "%s: detection.model is not set: linegate scores every "
			 "window with a model and will not start without one (docs/models.md)",
			 name);
		return -EINVAL;
	}
	/* The batch size only sizes buffers: the smallest one makes the check cheap. */
	ret = lg_scorer_load(p, p->model, "check", 1, &sc, msg, sizeof(msg));
	if (ret) {
		snprintf(err, errlen, "%s: detection.model: %s", name, msg);
		return ret;
	}
	lg_scorer_free(&sc);
	return 0;
}

int lg_policy_validate(const char *text, size_t len, const char *name, struct lg_policy *out,
		       char *err, size_t errlen)
{
	int ret = lg_policy_parse(text, len, name, out, err, errlen);

	if (ret)
		return ret;
	ret = lg_policy_check(out, name, err, errlen);
	if (ret)
		lg_policy_free(out);
	return ret;
}

int lg_policy_load_valid(const char *path, struct lg_policy *out, char *err, size_t errlen)
{
	int ret = lg_policy_load(path, out, err, errlen);

	if (ret)
		return ret;
	ret = lg_policy_check(out, path, err, errlen);
	if (ret)
		lg_policy_free(out);
	return ret;
}
