/* SPDX-License-Identifier: MIT */
/*
 * The model registry: signed model artifacts kept by name and version in a folder
 * that linegated owns, and which of them the data plane runs.
 *
 *   <root>/<name>/<version>/<file>        the artifact, as it was signed
 *   <root>/<name>/<version>/<file>.sig    its Ed25519 signature
 *   <root>/<name>/<version>/meta.json     name, version, file, sha256, size, added
 *   <root>/state.json                     active, shadow, history (for rollback)
 *
 * A version is immutable once added. Every function returns 0 or a negative errno and
 * writes a message for people into err.
 */
#ifndef LINEGATE_REGISTRY_H
#define LINEGATE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>
#include <linegate/policy.h>

#define LG_REG_HISTORY 16

struct lg_registry {
	char root[LG_PATH_MAX];
	char active[160];  /* "name@version", "" = none (the policy's detection.model runs) */
	char shadow[160];
	char history[LG_REG_HISTORY][160]; /* previous actives, newest first */
	unsigned nhistory;
};

/* Open (creating the folder if needed) and read state.json. */
int lg_registry_open(struct lg_registry *r, const char *root, char *err, size_t errlen);
/* Read state.json only, creating nothing (linegatectl validate, as any user): -ENOENT when
 * the registry has no state yet. */
int lg_registry_read(struct lg_registry *r, const char *root, char *err, size_t errlen);
/* Verify path/path.sig with the policy's trusted keys, then copy both in as name@version.
 * With check, also refuse a model that check(p, path, ...) refuses (the load check a model
 * activation runs, lg_policy_check_model()): a model that can never run is not added. */
typedef int lg_registry_check_fn(const struct lg_policy *p, const char *path, char *err,
				 size_t errlen);
int lg_registry_add(struct lg_registry *r, const struct lg_policy *p, const char *name,
		    const char *version, const char *path, lg_registry_check_fn *check, char *err,
		    size_t errlen);
/* The artifact path of name@version ("name@version" form in ref). */
int lg_registry_path(const struct lg_registry *r, const char *ref, char *out, size_t outlen,
		     char *err, size_t errlen);
/* Record a new active and save the state. With remember, the old active goes onto the
 * history (activate); without, history[0] is dropped instead (rollback to it). */
int lg_registry_set_active(struct lg_registry *r, const char *ref, bool remember, char *err,
			   size_t errlen);
int lg_registry_set_shadow(struct lg_registry *r, const char *ref /* NULL = off */, char *err,
			   size_t errlen);
/* Take name@version out again right after lg_registry_add(), when what the add was for
 * (shadowing it) failed: refused (-EBUSY) for a version that is or was active or shadow. */
int lg_registry_undo_add(struct lg_registry *r, const char *ref, char *err, size_t errlen);
/* The registry's active and shadow models (those that run while the policy keeps its
 * detection.model) checked against p with check (lg_policy_check_model(): every device a
 * detector, at its rate, ...): 0, or the first refusal in err, naming the model as
 * "the registry's active model NAME@VERSION" and check's reason (the file, the device). */
int lg_registry_check_policy(const struct lg_registry *r, const struct lg_policy *p,
			     lg_registry_check_fn *check, char *err, size_t errlen);
/* The version to roll back to (history[0]), or -ENOENT. Does not change the state. */
int lg_registry_previous(const struct lg_registry *r, char *ref, size_t len, char *err,
			 size_t errlen);
/* All versions with their metadata and state, as a JSON array. */
json_object *lg_registry_list(const struct lg_registry *r);

#endif
