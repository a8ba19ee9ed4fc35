// SPDX-License-Identifier: MIT
/*
 * Fleet bundle manifests (bundle.h, docs/fleet.md). The manifest is the only thing the
 * signature covers; every part is bound to it by its SHA-256 and size, so a server needs
 * the signature check once and a hash per part.
 */
#include "bundle.h"
#include "ctlproto.h"

#include <linegate/policy.h>
#include <linegate/sign.h>

#include <errno.h>
#include <json-c/json.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool chars_ok(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);

	if (!n || n > max)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
		      (*p && strchr(extra, *p))))
			return false;
	return true;
}

char *lg_bundle_shown(const char *in, char *out, size_t len)
{
	size_t k = 0;

	for (; *in && k + 5 < len; in++) {
		unsigned char c = (unsigned char)*in;

		if (c < 0x20 || c == 0x7f)
			k += (size_t)snprintf(out + k, len - k, "\\x%02x", c);
		else
			out[k++] = (char)c;
	}
	out[k] = '\0';
	return out;
}

bool lg_bundle_token_ok(const char *s)
{
	return chars_ok(s, LG_BUNDLE_TOKEN_MAX, "");
}

bool lg_bundle_part_name_ok(const char *s)
{
	return s[0] != '.' && chars_ok(s, LG_BUNDLE_PART_MAX, ".");
}

/* The string member k of o into out (checked by ok); absent: -ENOENT unless optional. */
static int get_str(json_object *o, const char *k, char *out, size_t outlen,
		   bool (*ok)(const char *), char *err, size_t errlen)
{
	json_object *v;
	const char *s;

	if (!json_object_object_get_ex(o, k, &v)) {
		snprintf(err, errlen, "manifest: \"%s\" is missing", k);
		return -EINVAL;
	}
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "manifest: \"%s\" is not a string", k);
		return -EINVAL;
	}
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v) || strlen(s) >= outlen ||
	    (ok && !ok(s))) {
		snprintf(err, errlen, "manifest: \"%s\" is not a valid %s", k,
			 ok == lg_bundle_token_ok ? "name (letters, digits, _ and -, at most 64)"
			 : ok == lg_bundle_part_name_ok ? "file name (letters, digits, ., _ and -, "
							  "not starting with .)"
							: "value");
		return -EINVAL;
	}
	strcpy(out, s);
	return 0;
}

/* Only the keys in allowed[] (NULL-terminated). */
static int only_keys(json_object *o, const char *const *allowed, const char *what, char *err,
		     size_t errlen)
{
	json_object_object_foreach(o, k, v)
	{
		size_t i;

		(void)v;
		for (i = 0; allowed[i] && strcmp(allowed[i], k); i++)
			;
		if (!allowed[i]) {
			snprintf(err, errlen, "manifest: unknown key \"%.64s\" in %s", k, what);
			return -EINVAL;
		}
	}
	return 0;
}

static int parse_part(json_object *o, struct lg_bundle_part *p, char *err, size_t errlen)
{
	static const char *const keys[] = {"name", "sha256", "size", NULL};
	char hex[65];
	json_object *v;
	int ret;

	if (!json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "manifest: a part is not an object");
		return -EINVAL;
	}
	ret = only_keys(o, keys, "a part", err, errlen);
	if (!ret)
		ret = get_str(o, "name", p->name, sizeof(p->name), lg_bundle_part_name_ok, err,
			      errlen);
	if (!ret)
		ret = get_str(o, "sha256", hex, sizeof(hex), NULL, err, errlen);
	if (ret)
		return ret;
	if (strlen(hex) != 64 || lg_hex_decode(hex, p->sha256, 32)) {
		snprintf(err, errlen, "manifest: part %s: sha256 is not 64 hex digits", p->name);
		return -EINVAL;
	}
	if (!json_object_object_get_ex(o, "size", &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0) {
		snprintf(err, errlen, "manifest: part %s: size is not a whole number of bytes",
			 p->name);
		return -EINVAL;
	}
	p->size = (uint64_t)json_object_get_int64(v);
	return 0;
}

static int parse_tree(json_object *o, struct lg_bundle_manifest *m, char *err, size_t errlen)
{
	static const char *const keys[] = {"format", "plant", "line",  "version", "created",
					   "serial", "policy", "model", "parts", NULL};
	static const char *const model_keys[] = {"name", "file", NULL};
	char format[32];
	json_object *parts, *model;
	int ret = only_keys(o, keys, "the manifest", err, errlen);

	if (!ret)
		ret = get_str(o, "format", format, sizeof(format), NULL, err, errlen);
	if (!ret && strcmp(format, LG_BUNDLE_FORMAT)) {
		snprintf(err, errlen, "manifest: format is not %s", LG_BUNDLE_FORMAT);
		ret = -EINVAL;
	}
	if (!ret)
		ret = get_str(o, "plant", m->plant, sizeof(m->plant), lg_bundle_token_ok, err,
			      errlen);
	if (!ret)
		ret = get_str(o, "line", m->line, sizeof(m->line), lg_bundle_token_ok, err, errlen);
	if (!ret)
		ret = get_str(o, "version", m->version, sizeof(m->version), lg_bundle_token_ok, err,
			      errlen);
	if (!ret)
		ret = get_str(o, "policy", m->policy, sizeof(m->policy), lg_bundle_part_name_ok,
			      err, errlen);
	if (ret)
		return ret;
	if (json_object_object_get_ex(o, "serial", &model)) {
		if (!json_object_is_type(model, json_type_int) || json_object_get_int64(model) < 1) {
			snprintf(err, errlen, "manifest: \"serial\" is not a whole number above 0");
			return -EINVAL;
		}
		m->serial = (uint64_t)json_object_get_int64(model);
	}
	if (json_object_object_get_ex(o, "created", &model) &&
	    !json_object_is_type(model, json_type_string)) {
		snprintf(err, errlen, "manifest: \"created\" is not a string");
		return -EINVAL;
	}
	if (json_object_object_get_ex(o, "model", &model)) {
		if (!json_object_is_type(model, json_type_object)) {
			snprintf(err, errlen, "manifest: \"model\" is not an object");
			return -EINVAL;
		}
		ret = only_keys(model, model_keys, "model", err, errlen);
		if (!ret)
			ret = get_str(model, "name", m->model_name, sizeof(m->model_name),
				      lg_bundle_token_ok, err, errlen);
		if (!ret)
			ret = get_str(model, "file", m->model_file, sizeof(m->model_file),
				      lg_bundle_part_name_ok, err, errlen);
		if (ret)
			return ret;
	}
	if (!json_object_object_get_ex(o, "parts", &parts) ||
	    !json_object_is_type(parts, json_type_array) || !json_object_array_length(parts)) {
		snprintf(err, errlen, "manifest: \"parts\" is not a list of parts");
		return -EINVAL;
	}
	if (json_object_array_length(parts) > LG_BUNDLE_MAX_PARTS) {
		snprintf(err, errlen, "manifest: more than %d parts", LG_BUNDLE_MAX_PARTS);
		return -E2BIG;
	}
	for (size_t i = 0; i < json_object_array_length(parts); i++) {
		ret = parse_part(json_object_array_get_idx(parts, i), &m->parts[i], err, errlen);
		if (ret)
			return ret;
		/* the folder a server fetches into holds these two beside the parts */
		if (!strcmp(m->parts[i].name, "manifest.json") ||
		    !strcmp(m->parts[i].name, "manifest.sig")) {
			snprintf(err, errlen, "manifest: a part may not be named %s",
				 m->parts[i].name);
			return -EINVAL;
		}
		if (lg_bundle_part(m, m->parts[i].name)) {
			snprintf(err, errlen, "manifest: part %s is listed twice",
				 m->parts[i].name);
			return -EINVAL;
		}
		m->nparts = i + 1;
	}
	if (!lg_bundle_part(m, m->policy)) {
		snprintf(err, errlen, "manifest: the policy %s is not a part", m->policy);
		return -EINVAL;
	}
	if (m->model_file[0]) {
		char sig[LG_BUNDLE_PART_MAX + 8];

		snprintf(sig, sizeof(sig), "%s.sig", m->model_file);
		if (!lg_bundle_part(m, m->model_file) || !lg_bundle_part(m, sig)) {
			snprintf(err, errlen, "manifest: the model %s or its %s is not a part",
				 m->model_file, sig);
			return -EINVAL;
		}
		if (!strcmp(m->model_file, m->policy)) {
			snprintf(err, errlen, "manifest: the model and the policy are one part");
			return -EINVAL;
		}
	}
	return 0;
}

int lg_bundle_manifest_parse(const char *text, size_t len, struct lg_bundle_manifest *m, char *err,
			     size_t errlen)
{
	json_object *o;
	int ret;

	memset(m, 0, sizeof(*m));
	if (len > LG_BUNDLE_MAX_MANIFEST) {
		snprintf(err, errlen, "manifest: longer than %d bytes", LG_BUNDLE_MAX_MANIFEST);
		return -E2BIG;
	}
	if (memchr(text, '\0', len)) {
		snprintf(err, errlen, "manifest: holds a NUL byte");
		return -EINVAL;
	}
	/* Strict object parsing of the control protocol: one object, no key given twice. */
	o = lg_ctl_parse_object(text, len, err, errlen);
	if (!o) {
		char why[256];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "manifest: %s", why);
		return -EINVAL;
	}
	ret = parse_tree(o, m, err, errlen);
	json_object_put(o);
	if (ret)
		memset(m, 0, sizeof(*m));
	return ret;
}

int lg_bundle_verify(const char *text, size_t len, const uint8_t sig[64],
		     const uint8_t (*trusted)[32], size_t n, struct lg_bundle_manifest *m,
		     char *err, size_t errlen)
{
	if (lg_sign_init()) {
		snprintf(err, errlen, "libsodium did not start");
		return -EIO;
	}
	if (!n) {
		snprintf(err, errlen,
			 "the running policy trusts no key (models.trusted_keys): "
			 "refused");
		return -EKEYREJECTED;
	}
	if (lg_sign_verify_buf(text, len, sig, trusted, n)) {
		snprintf(err, errlen,
			 "manifest not signed by a trusted key (models.trusted_keys), "
			 "or changed since it was signed: refused");
		return -EKEYREJECTED;
	}
	return lg_bundle_manifest_parse(text, len, m, err, errlen);
}

const struct lg_bundle_part *lg_bundle_part(const struct lg_bundle_manifest *m, const char *name)
{
	for (size_t i = 0; i < m->nparts; i++)
		if (!strcmp(m->parts[i].name, name))
			return &m->parts[i];
	return NULL;
}

int lg_bundle_check_part(const struct lg_bundle_part *p, const void *buf, size_t len, char *err,
			 size_t errlen)
{
	uint8_t h[32];

	if (len != p->size) {
		snprintf(err, errlen, "part %s: %zu bytes, the manifest says %llu: refused",
			 p->name, len, (unsigned long long)p->size);
		return -EBADMSG;
	}
	SHA256(buf, len, h);
	if (memcmp(h, p->sha256, 32)) {
		snprintf(err, errlen, "part %s: its SHA-256 is not the manifest's: refused",
			 p->name);
		return -EBADMSG;
	}
	return 0;
}

int lg_bundle_manifest_text(const struct lg_bundle_manifest *m, char **out, size_t *len)
{
	json_object *o = json_object_new_object(), *parts = json_object_new_array();
	const char *s;

	json_object_object_add(o, "format", json_object_new_string(LG_BUNDLE_FORMAT));
	json_object_object_add(o, "plant", json_object_new_string(m->plant));
	json_object_object_add(o, "line", json_object_new_string(m->line));
	json_object_object_add(o, "version", json_object_new_string(m->version));
	if (m->serial)
		json_object_object_add(o, "serial", json_object_new_int64((int64_t)m->serial));
	json_object_object_add(o, "policy", json_object_new_string(m->policy));
	if (m->model_file[0]) {
		json_object *mo = json_object_new_object();

		json_object_object_add(mo, "name", json_object_new_string(m->model_name));
		json_object_object_add(mo, "file", json_object_new_string(m->model_file));
		json_object_object_add(o, "model", mo);
	}
	for (size_t i = 0; i < m->nparts; i++) {
		json_object *p = json_object_new_object();
		char hex[65];

		lg_hex_encode(m->parts[i].sha256, 32, hex);
		json_object_object_add(p, "name", json_object_new_string(m->parts[i].name));
		json_object_object_add(p, "sha256", json_object_new_string(hex));
		json_object_object_add(p, "size", json_object_new_int64((int64_t)m->parts[i].size));
		json_object_array_add(parts, p);
	}
	json_object_object_add(o, "parts", parts);
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
	*out = strdup(s);
	*len = *out ? strlen(*out) : 0;
	json_object_put(o);
	return *out ? 0 : -ENOMEM;
}
