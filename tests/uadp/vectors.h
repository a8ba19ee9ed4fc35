/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the UADP tests: loading tests/fixtures/uadp/vectors.json
 * (written by gen_vectors.py) and checking with a message that names the case.
 */
#ifndef LG_TEST_UADP_VECTORS_H
#define LG_TEST_UADP_VECTORS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "linegate/uadp.h"

extern int failures;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			failures++;                                                                \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                       \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

#define VEC_MAX_LAYOUTS 8
#define VEC_MAX_LAYOUT_FIELDS 32

/* A vector's RawData layouts, converted from JSON into the decoder's structs. */
struct vec_layouts {
	struct lg_uadp_raw_field f[VEC_MAX_LAYOUTS][VEC_MAX_LAYOUT_FIELDS];
	struct lg_uadp_layout l[VEC_MAX_LAYOUTS];
	struct lg_uadp_layouts set;
};

static inline json_object *jget(json_object *o, const char *k)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, k, &v))
		return NULL;
	return v;
}

static inline int64_t jint(json_object *o, const char *k)
{
	return json_object_get_int64(jget(o, k));
}

/* Unsigned 64-bit values travel as decimal strings so no JSON parser rounds them. */
static inline uint64_t ju64(json_object *o, const char *k)
{
	const char *s = json_object_get_string(jget(o, k));

	return s ? strtoull(s, NULL, 10) : 0;
}

/* Hex string -> malloc'd buffer of exactly its length (so ASan sees any over-read). */
static inline uint8_t *jhex(json_object *o, const char *k, size_t *len)
{
	const char *s = json_object_get_string(jget(o, k));
	size_t n = s ? strlen(s) / 2 : 0;
	uint8_t *b = malloc(n ? n : 1);

	for (size_t i = 0; b && i < n; i++) {
		unsigned int v;

		sscanf(s + 2 * i, "%2x", &v);
		b[i] = (uint8_t)v;
	}
	*len = n;
	return b;
}

static inline const struct lg_uadp_layouts *vec_layouts(json_object *v, struct vec_layouts *vl)
{
	json_object *ls = jget(v, "layouts");
	size_t n;

	if (!ls)
		return NULL;
	n = json_object_array_length(ls);
	if (n > VEC_MAX_LAYOUTS)
		n = VEC_MAX_LAYOUTS;
	for (size_t i = 0; i < n; i++) {
		json_object *l = json_object_array_get_idx(ls, i);
		json_object *fs = jget(l, "fields");
		size_t nf = json_object_array_length(fs);

		if (nf > VEC_MAX_LAYOUT_FIELDS)
			nf = VEC_MAX_LAYOUT_FIELDS;
		for (size_t j = 0; j < nf; j++) {
			json_object *f = json_object_array_get_idx(fs, j);

			vl->f[i][j] = (struct lg_uadp_raw_field){
				.type = (uint8_t)jint(f, "type"),
				.max_len = (uint16_t)jint(f, "max_len"),
			};
		}
		vl->l[i] = (struct lg_uadp_layout){ .writer_id = (uint16_t)jint(l, "writer_id"),
						    .nfields = (uint16_t)nf,
						    .fields = vl->f[i] };
	}
	vl->set = (struct lg_uadp_layouts){ .v = vl->l, .n = (unsigned int)n };
	return &vl->set;
}

static inline json_object *load_vectors(const char *path)
{
	json_object *doc = json_object_from_file(path);

	if (!doc)
		fprintf(stderr, "cannot read %s: %s\n", path, json_util_get_last_err());
	return doc;
}

#endif
