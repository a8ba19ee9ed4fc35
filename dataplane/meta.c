// SPDX-License-Identifier: MIT
/* Per-device metadata for the outputs (meta.h): rendered once per applied policy. */
#include "meta.h"
#include "influx.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

static const char *const meta_names[] = { "line", "station", "asset", "sensor", "units" };

static const char *meta_value(const struct lg_policy_meta *m, unsigned i)
{
	const char *v[] = { m->line, m->station, m->asset, m->sensor, m->units };

	return v[i];
}

json_object *lg_meta_object(const struct lg_policy_meta *m)
{
	json_object *o, *tags;

	if (!m->line[0] && !m->station[0] && !m->asset[0] && !m->sensor[0] && !m->units[0] &&
	    !m->ntags)
		return NULL;
	o = json_object_new_object();
	if (!o)
		return NULL;
	for (unsigned i = 0; i < 5; i++)
		if (meta_value(m, i)[0])
			json_object_object_add(o, meta_names[i],
					       json_object_new_string(meta_value(m, i)));
	if (m->ntags) {
		tags = json_object_new_object();
		for (unsigned i = 0; tags && i < m->ntags; i++)
			json_object_object_add(tags, m->tags[i].key,
					       json_object_new_string(m->tags[i].value));
		json_object_object_add(o, "tags", tags);
	}
	return o;
}

char *lg_meta_json(const struct lg_policy_meta *m)
{
	json_object *o;
	char *s;

	if (!m->line[0] && !m->station[0] && !m->asset[0] && !m->sensor[0] && !m->units[0] &&
	    !m->ntags)
		return strdup("");
	o = lg_meta_object(m);
	if (!o)
		return NULL;
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						      JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

/* ,KEY=VALUE with both escaped as line protocol tags want; false when it does not fit. */
static bool lp_tag(char *out, size_t len, size_t *u, const char *key, const char *value)
{
	char k[LG_META_KEY_MAX * 2 + 8], v[LG_META_STR_MAX * 2 + 8];
	int w;

	if (!value[0]) /* line protocol has no empty tag value: a tag not given is left out */
		return true;
	if (lg_influx_escape(LG_LP_TAG, key, k, sizeof(k)) < 0 ||
	    lg_influx_escape(LG_LP_TAG, value, v, sizeof(v)) < 0)
		return false;
	w = snprintf(out + *u, len - *u, ",%s=%s", k, v);
	if (w < 0 || (size_t)w >= len - *u)
		return false;
	*u += (size_t)w;
	return true;
}

static char *lp_tags(const struct lg_policy_device *d)
{
	size_t len = 16 + 2 * LG_NAME_MAX + 5 * (2 * LG_META_STR_MAX + 24) +
		     LG_META_MAX_TAGS * (2 * (LG_META_KEY_MAX + LG_META_STR_MAX) + 8);
	char *s = malloc(len), id[16];
	size_t u = 0;
	bool ok;

	if (!s)
		return NULL;
	s[0] = '\0';
	snprintf(id, sizeof(id), "%" PRIu32, d->id);
	ok = lp_tag(s, len, &u, "device", id) && lp_tag(s, len, &u, "name", d->name);
	for (unsigned i = 0; ok && i < 5; i++)
		ok = lp_tag(s, len, &u, meta_names[i], meta_value(&d->meta, i));
	for (unsigned i = 0; ok && i < d->meta.ntags; i++)
		ok = lp_tag(s, len, &u, d->meta.tags[i].key, d->meta.tags[i].value);
	if (!ok) { /* cannot happen: the buffer holds the longest escaped tags */
		free(s);
		return NULL;
	}
	return s;
}

struct lg_meta_tab *lg_meta_build(const struct lg_policy *p)
{
	struct lg_meta_tab *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->e = calloc(p->ndevices ? p->ndevices : 1, sizeof(*t->e));
	if (!t->e)
		goto fail;
	for (size_t i = 0; i < p->ndevices; i++) {
		struct lg_meta_ent *e = &t->e[t->n++];
		char *json = lg_meta_json(&p->devices[i].meta);

		e->id = p->devices[i].id;
		e->lp_tags = lp_tags(&p->devices[i]);
		if (json && json[0]) {
			size_t len = strlen(json) + 16;

			e->json = malloc(len);
			if (e->json)
				snprintf(e->json, len, ",\"meta\":%s", json);
			free(json);
		} else {
			e->json = json;
		}
		if (!e->json || !e->lp_tags)
			goto fail;
	}
	return t;
fail:
	lg_meta_free(t);
	return NULL;
}

struct lg_meta_ent *lg_meta_find(struct lg_meta_tab *t, uint32_t id)
{
	size_t lo = 0, hi = t ? t->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->e[mid].id == id)
			return &t->e[mid];
		if (t->e[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void lg_meta_carry(struct lg_meta_tab *t, struct lg_meta_tab *old)
{
	for (size_t i = 0; t && i < t->n; i++) {
		struct lg_meta_ent *o = lg_meta_find(old, t->e[i].id);

		if (o) {
			memcpy(t->e[i].rows, o->rows, sizeof(o->rows));
			memcpy(t->e[i].last_ts, o->last_ts, sizeof(o->last_ts));
		}
	}
}

void lg_meta_free(struct lg_meta_tab *t)
{
	if (!t)
		return;
	for (size_t i = 0; t->e && i < t->n; i++) {
		free(t->e[i].json);
		free(t->e[i].lp_tags);
	}
	free(t->e);
	free(t);
}
