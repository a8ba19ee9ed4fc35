// SPDX-License-Identifier: MIT
/* The load generator's parsers (loadgen_parse.h). */
#include "loadgen_parse.h"

#include <json-c/json.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int lg_loadgen_parse_fault(const char *s, struct lg_loadgen_fault *out)
{
	struct lg_loadgen_fault f = *out;
	char buf[128], *save = NULL, *tok, *end;
	int field = 0;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ":", &save); tok; tok = strtok_r(NULL, ":", &save), field++) {
		errno = 0;
		switch (field) {
		case 0:
			if (*tok == '-')
				return -EINVAL;
			f.id = (uint32_t)strtoul(tok, &end, 0);
			break;
		case 1:
			if (*tok == '-')
				return -EINVAL;
			f.frame = strtoull(tok, &end, 0);
			break;
		case 2:
			if (lg_fault_parse(tok, &f.kind))
				return -EINVAL;
			end = tok + strlen(tok);
			break;
		case 3:
			f.severity = strtod(tok, &end);
			if (!(f.severity >= 0 && f.severity <= 1))
				return -EINVAL;
			break;
		default:
			return -EINVAL;
		}
		if (errno || *end || end == tok)
			return -EINVAL;
	}
	if (!f.id)
		return -EINVAL;
	*out = f;
	return 0;
}

int lg_loadgen_parse_attack_rate(const char *s, const char *const *kinds, int nkinds,
				 int *kind, double *fps)
{
	const char *eq = strchr(s, '=');
	char *end;
	double v;

	if (!eq)
		return -EINVAL;
	errno = 0;
	v = strtod(eq + 1, &end);
	if (errno || *end || end == eq + 1 || !(v >= 0 && v <= 1e9))
		return -EINVAL;
	for (int c = 0; c < nkinds; c++) {
		if (kinds[c] && strlen(kinds[c]) == (size_t)(eq - s) &&
		    !strncmp(s, kinds[c], (size_t)(eq - s))) {
			*kind = c;
			*fps = v;
			return 0;
		}
	}
	return -EINVAL;
}

int lg_loadgen_parse_utc_ns(const char *s, uint64_t *ns)
{
	struct tm tm = { 0 };
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	uint64_t frac = 0, scale = 1000000000ull;
	time_t t;

	if (!p)
		return -EINVAL;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (scale > 1) {
				scale /= 10;
				frac += (uint64_t)(*p - '0') * scale;
			}
		}
	}
	if (strcmp(p, "Z"))
		return -EINVAL;
	t = timegm(&tm);
	if (t < 0 || (uint64_t)t > UINT64_MAX / 1000000000ull - 1)
		return -EINVAL;
	*ns = (uint64_t)t * 1000000000ull + frac;
	return 0;
}

static const char *str_field(struct json_object *j, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(j, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int lg_loadgen_incident_open(const char *line, size_t len, uint64_t *device, uint64_t *opened_ns,
			     char *id, size_t idlen)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *j, *v;
	const char *type, *event, *opened, *inc;
	int64_t dev;
	int ret = 0;

	if (!tok)
		return 0;
	j = json_tokener_parse_ex(tok, line, (int)(len > 1 << 20 ? 1 << 20 : len));
	json_tokener_free(tok);
	if (!j || !json_object_is_type(j, json_type_object))
		goto out;
	type = str_field(j, "type");
	event = str_field(j, "event");
	opened = str_field(j, "opened");
	if (!type || strcmp(type, "incident") || !event || strcmp(event, "open") || !opened ||
	    !json_object_object_get_ex(j, "device", &v) || !json_object_is_type(v, json_type_int))
		goto out;
	dev = json_object_get_int64(v);
	if (dev <= 0 || lg_loadgen_parse_utc_ns(opened, opened_ns))
		goto out;
	*device = (uint64_t)dev;
	inc = str_field(j, "incident");
	if (idlen)
		snprintf(id, idlen, "%s", inc ? inc : "");
	ret = 1;
out:
	json_object_put(j);
	return ret;
}

/* A name the kernel would take for an interface (dev_valid_name): 1..15 bytes, not "." or
 * "..", no '/', ':' or white space. */
static int parse_ifname(const char *s, size_t len, char *out, size_t outlen)
{
	if (!len || len >= outlen || (len == 1 && s[0] == '.') ||
	    (len == 2 && s[0] == '.' && s[1] == '.'))
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '/' || s[i] == ':' || s[i] == '\0' || isspace((unsigned char)s[i]))
			return -EINVAL;
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

int lg_loadgen_parse_tx(const char *s, struct lg_loadgen_tx *out)
{
	struct lg_loadgen_tx tx = { .kind = LG_LOADGEN_TX_AFXDP };
	const char *name, *colon;

	if (!strcmp(s, "sendmmsg")) {
		*out = (struct lg_loadgen_tx){ .kind = LG_LOADGEN_TX_SENDMMSG };
		return 0;
	}
	if (!strncmp(s, "dpdk:", 5)) {
		if (!s[5] || strlen(s + 5) >= sizeof(tx.opts))
			return -EINVAL;
		tx = (struct lg_loadgen_tx){ .kind = LG_LOADGEN_TX_DPDK };
		strcpy(tx.opts, s + 5);
		*out = tx;
		return 0;
	}
	if (strncmp(s, "afxdp:", 6))
		return -EINVAL;
	name = s + 6;
	colon = strchr(name, ':');
	if (parse_ifname(name, colon ? (size_t)(colon - name) : strlen(name), tx.ifname,
			 sizeof(tx.ifname)))
		return -EINVAL;
	if (colon) {
		char *end;
		unsigned long q;

		if (!isdigit((unsigned char)colon[1]))
			return -EINVAL;
		errno = 0;
		q = strtoul(colon + 1, &end, 10);
		if (errno || *end || q > 65535)
			return -EINVAL;
		tx.queue = (uint32_t)q;
	}
	*out = tx;
	return 0;
}

static int hexval(char c)
{
	return isdigit((unsigned char)c) ? c - '0' : tolower((unsigned char)c) - 'a' + 10;
}

int lg_loadgen_parse_mac(const char *s, uint8_t mac[6])
{
	uint8_t m[6];

	for (int i = 0; i < 6; i++) {
		if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]))
			return -EINVAL;
		m[i] = (uint8_t)(hexval(s[0]) << 4 | hexval(s[1]));
		s += 2;
		if (i < 5) {
			if (*s != ':' && *s != '-')
				return -EINVAL;
			s++;
		}
	}
	if (*s)
		return -EINVAL;
	memcpy(mac, m, 6);
	return 0;
}

int lg_loadgen_parse_list(const char *s, unsigned min, unsigned maxv, unsigned *vals,
			  unsigned max)
{
	unsigned n = 0;

	for (;;) {
		unsigned long v;
		char *end;

		if (!isdigit((unsigned char)*s) || n == max)
			return -EINVAL;
		errno = 0;
		v = strtoul(s, &end, 10);
		if (errno || v < min || v > maxv)
			return -EINVAL;
		vals[n++] = (unsigned)v;
		if (!*end)
			return (int)n;
		if (*end != ',')
			return -EINVAL;
		s = end + 1;
	}
}

int lg_loadgen_parse_seq(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	/* strtoull takes a sign and leading spaces, and saturates at 2^64 - 1. */
	if (!s || !(s[0] >= '0' && s[0] <= '9'))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno == ERANGE)
		return -ERANGE;
	if (errno || *end || !v)
		return -EINVAL;
	*out = v;
	return 0;
}
