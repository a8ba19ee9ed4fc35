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
	char msg[768], where[32] = "";
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
	/* The key's place when the text set it (a default model has none). */
	if (p->model_line)
		snprintf(where, sizeof(where), ":%u:%u", p->model_line, p->model_col);
	if (ret) {
		snprintf(err, errlen, "%s%s: detection.model: %s", name, where, msg);
		return ret;
	}
	if (err && errlen)
		err[0] = '\0';
	if (sc.window_unchecked && err && errlen)
		snprintf(err, errlen, "%s%s: WARNING: detection.model: %s carries no "
			 "linegate.window metadata: nothing checks that it was trained on the "
			 "policy's %u-sample windows (detection.window); a model fed other windows "
			 "alerts on every one (docs/models.md \"ONNX metadata\")", name, where,
			 p->model, p->window);
	/* One warning is shown: the model's first (it is older, and tests hold it word for
	 * word), then two devices holding one key (trial J, s21), then the demo signing key
	 * trusted (trial J F19: the demo and tests do on purpose). */
	{
		static int (*const policy_warnings[])(const struct lg_policy *, char *, size_t) = {
			lg_policy_shared_key, lg_policy_trusts_demo_key,
		};
		char why[400];

		for (size_t i = 0; err && errlen && !err[0] &&
				   i < sizeof(policy_warnings) / sizeof(policy_warnings[0]); i++)
			if (policy_warnings[i](p, why, sizeof(why)) == 1)
				snprintf(err, errlen, "%s: WARNING: %s", name, why);
	}
	lg_scorer_free(&sc);
	return 0;
}

int lg_policy_check_model(const struct lg_policy *p, const char *path, char *err,
			  size_t errlen)
{
	struct lg_scorer sc;
	/* The batch size only sizes buffers, as in lg_policy_check(). */
	int ret = lg_scorer_load(p, path, "check", 1, &sc, err, errlen);

	if (!ret)
		lg_scorer_free(&sc);
	return ret;
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

size_t lg_policy_levels(const struct lg_policy *p, char *buf, size_t len)
{
	struct lg_scorer sc;
	char msg[768];
	size_t n;

	if (len)
		buf[0] = '\0';
	if (!p->model[0] || lg_scorer_load(p, p->model, "check", 1, &sc, msg, sizeof(msg)))
		return 0;
	n = lg_scorer_levels_note(&sc, p, buf, len);
	lg_scorer_free(&sc);
	return n;
}
