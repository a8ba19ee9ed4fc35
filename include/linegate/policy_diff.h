/* SPDX-License-Identifier: MIT */
/*
 * What changes between two policies, field by field, and which of those changes a running
 * data plane can take live. One table of fields (policy_diff.c) answers for `diff`, for the
 * data plane's apply (which refuses start-only changes whole) and for the reply that says
 * what an apply changed. Keys appear by id and fingerprint only, never their bytes.
 */
#ifndef LINEGATE_POLICY_DIFF_H
#define LINEGATE_POLICY_DIFF_H

#include <stddef.h>
#include <stdint.h>

#include <linegate/policy.h>

enum lg_field_class {
	LG_FIELD_LIVE,       /* applied to a running data plane */
	LG_FIELD_START_ONLY, /* taken only at start: edit the boot policy and restart */
};

enum lg_change_kind {
	LG_CHANGE_SETTING,        /* a top-level setting: field, old, new */
	LG_CHANGE_DEVICE_ADDED,   /* device enrolled: new = its summary */
	LG_CHANGE_DEVICE_REMOVED, /* device removed: old = its summary */
	LG_CHANGE_DEVICE_FIELD,   /* one field of a device in both: field, old, new */
};

struct lg_policy_change {
	enum lg_change_kind kind;
	enum lg_field_class cls;
	uint32_t device;     /* the device's id (device changes), else 0 */
	char field[48];      /* "detection.window", or a device's field: "rate", "keys" */
	char old[512];       /* the value as text ("" when absent) */
	char new[512];
};

struct lg_policy_diff {
	size_t n;
	struct lg_policy_change *c;
};

/* One row per policy field: its YAML path and its class (docs/policy.md). */
struct lg_policy_field {
	const char *name;
	enum lg_field_class cls;
};
/* Row i of the table, NULL past its end. */
const struct lg_policy_field *lg_policy_field_at(size_t i);

/* The class of a top-level field by name; -ENOENT for a name not in the table. */
int lg_policy_field_class(const char *name);

/*
 * The changes from old to new, in table order, then devices by id (removed, added and
 * changed interleaved in id order; a changed device's fields in the order of
 * struct lg_policy_device). 0 or -ENOMEM; *out is empty when nothing changed.
 */
int lg_policy_diff(const struct lg_policy *old, const struct lg_policy *new,
		   struct lg_policy_diff *out);
void lg_policy_diff_free(struct lg_policy_diff *d);

/* The first start-only change, NULL when every change can be applied live. */
const struct lg_policy_change *lg_policy_diff_start_only(const struct lg_policy_diff *d);

/* The changes as a JSON array (malloc'd, NUL-terminated):
 * [{"field":"detection.window","class":"live","old":"256","new":"512"},
 *  {"device":101,"change":"removed","old":"press-1 10.77.0.2 keys 1:ab12cd34"},
 *  {"device":102,"field":"rate","class":"live","old":"0","new":"100"}, ...]
 * NULL when out of memory. */
char *lg_policy_diff_json(const struct lg_policy_diff *d);

#endif /* LINEGATE_POLICY_DIFF_H */
