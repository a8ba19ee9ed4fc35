// SPDX-License-Identifier: MIT
/* Policy parser: libyaml's document API, so every node keeps its line and column. */
#include <linegate/policy.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <time.h>
#include <yaml.h>

struct pctx {
	yaml_document_t *doc;
	struct lg_policy *p;
	const char *name;
	char dir[LG_PATH_MAX]; /* the policy file's folder: relative paths start here */
	char *err;
	size_t errlen;
};

static int perr(struct pctx *c, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int perr(struct pctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	int off;

	off = snprintf(c->err, c->errlen, "%s:%zu:%zu: ", c->name,
		       n ? n->start_mark.line + 1 : 1, n ? n->start_mark.column + 1 : 1);
	if (off < 0 || (size_t)off >= c->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(c->err + off, c->errlen - off, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int get_uint(struct pctx *c, const yaml_node_t *n, const char *key, unsigned long min,
		    unsigned long max, unsigned long *out)
{
	const char *s = scalar(n);
	char *end;
	unsigned long v;

	if (!s || !*s)
		return perr(c, n, "'%s' must be a number", key);
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || s[0] == '-')
		return perr(c, n, "'%s' must be a whole number, not '%s'", key, s);
	if (v < min || v > max)
		return perr(c, n, "'%s' is %lu, must be between %lu and %lu", key, v, min, max);
	*out = v;
	return 0;
}

static int get_float(struct pctx *c, const yaml_node_t *n, const char *key, float *out)
{
	const char *s = scalar(n);
	char *end;
	float v;

	if (!s || !*s)
		return perr(c, n, "'%s' must be a number", key);
	errno = 0;
	v = strtof(s, &end);
	if (errno || *end)
		return perr(c, n, "'%s' must be a number, not '%s'", key, s);
	*out = v;
	return 0;
}

static int get_str(struct pctx *c, const yaml_node_t *n, const char *key, char *out, size_t len)
{
	const char *s = scalar(n);

	if (!s)
		return perr(c, n, "'%s' must be a string", key);
	if (strlen(s) >= len)
		return perr(c, n, "'%s' is longer than %zu characters", key, len - 1);
	strcpy(out, s);
	return 0;
}

/* A path: relative ones are taken from the policy file's folder; "-" is stdout. */
static int get_path(struct pctx *c, const yaml_node_t *n, const char *key, char *out, size_t len)
{
	const char *s = scalar(n);
	int w;

	if (!s)
		return perr(c, n, "'%s' must be a string", key);
	if (!s[0] || s[0] == '/' || !strcmp(s, "-")) {
		w = snprintf(out, len, "%s", s);
		if (w < 0 || (size_t)w >= len)
			return perr(c, n, "'%s' is longer than %zu characters", key, len - 1);
		return 0;
	}
	w = snprintf(out, len, "%s/%s", c->dir, s);
	if (w < 0 || (size_t)w >= len)
		return perr(c, n, "'%s' is longer than %zu characters once taken from %s/", key,
			    len - 1, c->dir);
	return 0;
}

/* Exactly 2n hex digits into n bytes (libsodium: constant time, key bytes included). */
static int hex_decode(const char *s, uint8_t *out, size_t n)
{
	size_t got = 0;

	if (strlen(s) != 2 * n || sodium_hex2bin(out, n, s, 2 * n, NULL, &got, NULL) || got != n)
		return -EINVAL;
	return 0;
}

static int get_key(struct pctx *c, const yaml_node_t *n, uint8_t *out)
{
	const char *s = scalar(n);

	if (!s || strlen(s) != 2 * LG_KEY_LEN)
		return perr(c, n, "a key must be %d hex digits (%d bytes)", 2 * LG_KEY_LEN,
			    LG_KEY_LEN);
	if (hex_decode(s, out, LG_KEY_LEN))
		return perr(c, n, "a key must be hex digits only");
	return 0;
}

void lg_hex_encode(const uint8_t *in, size_t len, char *out)
{
	sodium_bin2hex(out, 2 * len + 1, in, len);
}

/* Iterate a mapping's pairs as (key string, key node, value node). */
#define for_each_pair(c, map, pair)                                                      \
	for (yaml_node_pair_t *pair = (map)->data.mapping.pairs.start;                   \
	     pair < (map)->data.mapping.pairs.top; pair++)

static yaml_node_t *node(struct pctx *c, int idx)
{
	return yaml_document_get_node(c->doc, idx);
}

/* expires: RFC 3339 in UTC, 2026-12-04T18:00:00Z -> unix seconds. */
static int get_expires(struct pctx *c, const yaml_node_t *n, int64_t *out)
{
	const char *s = scalar(n);
	struct tm tm = { 0 };
	char *end;

	end = s ? strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
	if (!end || *end)
		return perr(c, n, "'expires' must be a UTC time such as 2026-12-04T18:00:00Z");
	*out = (int64_t)timegm(&tm);
	return 0;
}

static int parse_keys(struct pctx *c, const yaml_node_t *n, struct lg_policy_device *d)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return perr(c, n, "'keys' must be a list of {id, key}");
	d->nkeys = 0;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *k = node(c, *it);
		struct lg_policy_key *key;
		bool have_id = false, have_key = false;

		if (k->type != YAML_MAPPING_NODE)
			return perr(c, k, "each key must be a mapping {id, key}");
		if (d->nkeys == 2)
			return perr(c, k, "at most two keys per device (the current one and the next)");
		key = &d->keys[d->nkeys];
		for_each_pair(c, k, p) {
			const char *name = scalar(node(c, p->key));
			yaml_node_t *v = node(c, p->value);
			unsigned long u;
			int err;

			if (name && !strcmp(name, "id")) {
				err = get_uint(c, v, "id", 0, 255, &u);
				key->id = (uint8_t)u;
				have_id = true;
			} else if (name && !strcmp(name, "key")) {
				err = get_key(c, v, key->bytes);
				have_key = true;
			} else if (name && !strcmp(name, "expires")) {
				err = get_expires(c, v, &key->expires);
			} else {
				err = perr(c, node(c, p->key), "unknown key field '%s'",
					   name ? name : "?");
			}
			if (err)
				return err;
		}
		if (!have_id || !have_key)
			return perr(c, k, "a key needs both 'id' and 'key'");
		if (d->nkeys == 1 && d->keys[0].id == key->id)
			return perr(c, k, "two keys with id %u", key->id);
		d->nkeys++;
	}
	if (!d->nkeys)
		return perr(c, n, "a device needs at least one key");
	return 0;
}

/* uadp: {publisher_id: N|"name", publisher_type: byte|uint16|uint32|uint64|string,
 *        writer_group: N, writer: N, signed: true|false} */
static int parse_uadp(struct pctx *c, const yaml_node_t *n, struct lg_policy_device *d)
{
	static const char *const types[] = { "byte", "uint16", "uint32", "uint64", "string" };
	static const unsigned long long maxv[] = { 255, 65535, 4294967295ull, ~0ull, 0 };
	const yaml_node_t *pub = NULL;
	int type = -1;
	bool have_wg = false, have_w = false;

	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'uadp' must be a mapping {publisher_id, writer_group, writer}");
	d->uadp_unsigned_ok = false;
	for_each_pair(c, n, pr) {
		const char *name = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);
		const char *val = scalar(v);
		unsigned long u;
		int err = 0;

		if (name && !strcmp(name, "publisher_id")) {
			pub = v;
		} else if (name && !strcmp(name, "publisher_type")) {
			for (int t = 0; t < 5; t++)
				if (val && !strcmp(val, types[t]))
					type = t;
			if (type < 0)
				err = perr(c, v, "'publisher_type' must be byte, uint16, uint32, uint64 "
					   "or string");
		} else if (name && !strcmp(name, "writer_group")) {
			err = get_uint(c, v, "writer_group", 1, 65535, &u);
			d->uadp_writer_group = (uint16_t)u;
			have_wg = true;
		} else if (name && !strcmp(name, "writer")) {
			err = get_uint(c, v, "writer", 1, 65535, &u);
			d->uadp_writer = (uint16_t)u;
			have_w = true;
		} else if (name && !strcmp(name, "signed")) {
			if (val && !strcmp(val, "true"))
				d->uadp_unsigned_ok = false;
			else if (val && !strcmp(val, "false"))
				d->uadp_unsigned_ok = true;
			else
				err = perr(c, v, "'signed' must be true or false");
		} else {
			err = perr(c, node(c, pr->key), "unknown uadp field '%s'", name ? name : "?");
		}
		if (err)
			return err;
	}
	if (!pub || !have_wg || !have_w)
		return perr(c, n, "'uadp' needs publisher_id, writer_group and writer");
	if (type < 0)
		type = 1; /* UInt16, what most publishers use (open62541's tutorial among them) */
	if (type == 4) {
		if (get_str(c, pub, "publisher_id", d->uadp_pub_str, sizeof(d->uadp_pub_str)))
			return -EINVAL;
		if (!d->uadp_pub_str[0])
			return perr(c, pub, "a string 'publisher_id' must not be empty");
	} else {
		const char *sv = scalar(pub);
		char *end;

		errno = 0;
		d->uadp_pub_num = sv ? strtoull(sv, &end, 0) : 0;
		if (!sv || !*sv || *end || errno || sv[0] == '-' || d->uadp_pub_num > maxv[type])
			return perr(c, pub, "'publisher_id' must be a whole number that fits %s",
				    types[type]);
	}
	/* enum lg_uadp_pubid_type: Byte 0 ... String 4, kept +1 here so 0 means "no UADP". */
	d->uadp_pub_type = (uint8_t)(type + 1);
	return 0;
}

static int parse_device(struct pctx *c, const yaml_node_t *n, struct lg_policy_device *d)
{
	bool have_id = false, have_src = false;

	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "a device must be a mapping");
	memset(d, 0, sizeof(*d));
	for_each_pair(c, n, p) {
		const char *name = scalar(node(c, p->key));
		yaml_node_t *v = node(c, p->value);
		unsigned long u;
		int err = 0;

		if (!name) {
			err = perr(c, node(c, p->key), "device fields are named by plain strings");
		} else if (!strcmp(name, "id")) {
			err = get_uint(c, v, "id", 1, UINT32_MAX, &u);
			d->id = (uint32_t)u;
			have_id = true;
		} else if (!strcmp(name, "name")) {
			err = get_str(c, v, "name", d->name, sizeof(d->name));
			/* Names go into JSON, MQTT topics and metric labels unescaped. */
			for (const char *q = d->name; !err && *q; q++)
				if (!isalnum((unsigned char)*q) && !strchr("._-", *q))
					err = perr(c, v, "a device name may hold only letters, digits, "
						   "'.', '_' and '-'");
		} else if (!strcmp(name, "source")) {
			const char *s = scalar(v);

			if (s && inet_pton(AF_INET, s, d->addr) == 1)
				d->family = AF_INET;
			else if (s && inet_pton(AF_INET6, s, d->addr) == 1)
				d->family = AF_INET6;
			else
				err = perr(c, v, "'source' must be an IPv4 or IPv6 address");
			have_src = true;
		} else if (!strcmp(name, "port")) {
			err = get_uint(c, v, "port", 0, 65535, &u);
			d->port = (uint16_t)u;
		} else if (!strcmp(name, "mac")) {
			const char *s = scalar(v);
			unsigned b[6];
			char tail;

			if (!s || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
					 &b[4], &b[5], &tail) != 6 || strlen(s) != 17)
				err = perr(c, v, "'mac' must look like 02:00:00:00:00:01");
			for (int i = 0; !err && i < 6; i++)
				d->mac[i] = (uint8_t)b[i];
			d->has_mac = true;
		} else if (!strcmp(name, "rate")) {
			err = get_uint(c, v, "rate", 0, 10000000, &u);
			d->rate = (uint32_t)u;
		} else if (!strcmp(name, "burst")) {
			err = get_uint(c, v, "burst", 1, 10000000, &u);
			d->burst = (uint32_t)u;
		} else if (!strcmp(name, "group")) {
			const char *s = scalar(v);

			d->group = 0;
			for (size_t g = 0; s && g < c->p->ngroups; g++)
				if (!strcmp(c->p->groups[g].name, s))
					d->group = (uint16_t)(g + 1);
			if (!d->group)
				err = perr(c, v, "group '%s' is not defined under 'groups'",
					   s ? s : "?");
		} else if (!strcmp(name, "keys")) {
			err = parse_keys(c, v, d);
		} else if (!strcmp(name, "uadp")) {
			err = parse_uadp(c, v, d);
		} else {
			err = perr(c, node(c, p->key), "unknown device field '%s'", name);
		}
		if (err)
			return err;
	}
	if (!have_id)
		return perr(c, n, "a device needs an 'id'");
	if (!have_src)
		return perr(c, n, "device %u needs a bound 'source' address", d->id);
	if (!d->nkeys)
		return perr(c, n, "device %u needs 'keys'", d->id);
	if (!d->name[0])
		snprintf(d->name, sizeof(d->name), "device-%u", d->id);
	if (d->rate && !d->burst)
		d->burst = d->rate / 10 > 16 ? d->rate / 10 : 16; /* 100 ms of frames, at least 16 */
	if (d->burst && !d->rate)
		return perr(c, n, "device %u has a 'burst' but no 'rate'", d->id);
	return 0;
}

static int cmp_dev(const void *a, const void *b)
{
	const struct lg_policy_device *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int parse_detection(struct pctx *c, const yaml_node_t *n, struct lg_policy *p)
{
	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'detection' must be a mapping");
	for_each_pair(c, n, pr) {
		const char *name = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);
		unsigned long u = 0;
		int err;

		if (name && !strcmp(name, "window")) {
			err = get_uint(c, v, "window", 8, 65536, &u);
			p->window = (uint32_t)u;
		} else if (name && !strcmp(name, "batch")) {
			err = get_uint(c, v, "batch", 1, 4096, &u);
			p->batch = (uint32_t)u;
		} else if (name && !strcmp(name, "deadline_ms")) {
			err = get_uint(c, v, "deadline_ms", 1, 60000, &u);
			p->deadline_ms = (uint32_t)u;
		} else if (name && !strcmp(name, "model")) {
			err = get_path(c, v, "model", p->model, sizeof(p->model));
		} else if (name && !strcmp(name, "threshold")) {
			err = get_float(c, v, "threshold", &p->threshold);
		} else {
			err = perr(c, node(c, pr->key), "unknown detection field '%s'",
				   name ? name : "?");
		}
		if (err)
			return err;
	}
	return 0;
}

static int parse_groups(struct pctx *c, const yaml_node_t *n, struct lg_policy *p)
{
	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'groups' must map group names to {audit: true|false}");
	for_each_pair(c, n, pr) {
		yaml_node_t *k = node(c, pr->key), *v = node(c, pr->value);
		struct lg_policy_group *g;
		int err;

		if (p->ngroups == LG_POLICY_MAX_GROUPS)
			return perr(c, k, "at most %d groups", LG_POLICY_MAX_GROUPS);
		g = &p->groups[p->ngroups];
		err = get_str(c, k, "group name", g->name, sizeof(g->name));
		if (err)
			return err;
		for (size_t i = 0; i < p->ngroups; i++)
			if (!strcmp(p->groups[i].name, g->name))
				return perr(c, k, "group '%s' is defined twice", g->name);
		if (v->type != YAML_MAPPING_NODE)
			return perr(c, v, "group '%s' must be a mapping such as {audit: true}", g->name);
		for_each_pair(c, v, gp) {
			const char *name = scalar(node(c, gp->key));
			const char *val = scalar(node(c, gp->value));

			if (!name || strcmp(name, "audit"))
				return perr(c, node(c, gp->key), "unknown group field '%s'",
					    name ? name : "?");
			if (val && !strcmp(val, "true"))
				g->audit = true;
			else if (val && !strcmp(val, "false"))
				g->audit = false;
			else
				return perr(c, node(c, gp->value), "'audit' must be true or false");
		}
		p->ngroups++;
	}
	return 0;
}

/* output.mqtt: {host, port, client_id, topic, qos_alerts, qos_scores, scores} */
static int parse_mqtt(struct pctx *c, const yaml_node_t *n, struct lg_policy_mqtt *m)
{
	bool have_host = false;

	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'mqtt' must be a mapping {host, port, topic, ...}");
	m->port = 1883;
	m->qos_alerts = 1;
	m->qos_scores = 0;
	m->scores = true;
	strcpy(m->client_id, "linegate");
	strcpy(m->topic, "linegate");
	for_each_pair(c, n, pr) {
		const char *name = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);
		const char *val = scalar(v);
		unsigned long u;
		int err = 0;

		if (name && !strcmp(name, "host")) {
			err = get_str(c, v, "host", m->host, sizeof(m->host));
			have_host = true;
		} else if (name && !strcmp(name, "port")) {
			err = get_uint(c, v, "port", 1, 65535, &u);
			m->port = (uint16_t)u;
		} else if (name && !strcmp(name, "client_id")) {
			err = get_str(c, v, "client_id", m->client_id, sizeof(m->client_id));
		} else if (name && !strcmp(name, "topic")) {
			err = get_str(c, v, "topic", m->topic, sizeof(m->topic));
			if (!err && (!m->topic[0] || strpbrk(m->topic, "#+")))
				err = perr(c, v, "'topic' is a prefix without wildcards (# +)");
		} else if (name && !strcmp(name, "qos_alerts")) {
			err = get_uint(c, v, "qos_alerts", 0, 2, &u);
			m->qos_alerts = (uint8_t)u;
		} else if (name && !strcmp(name, "qos_scores")) {
			err = get_uint(c, v, "qos_scores", 0, 2, &u);
			m->qos_scores = (uint8_t)u;
		} else if (name && !strcmp(name, "scores")) {
			if (val && (!strcmp(val, "true") || !strcmp(val, "false")))
				m->scores = !strcmp(val, "true");
			else
				err = perr(c, v, "'scores' must be true or false");
		} else {
			err = perr(c, node(c, pr->key), "unknown mqtt field '%s'", name ? name : "?");
		}
		if (err)
			return err;
	}
	if (!have_host || !m->host[0])
		return perr(c, n, "'mqtt' needs a 'host'");
	return 0;
}

/* workers: {cores: [N, ...]} */
static int parse_workers(struct pctx *c, const yaml_node_t *n, struct lg_policy *p)
{
	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'workers' must be a mapping {cores}");
	for_each_pair(c, n, pr) {
		const char *name = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);

		if (!name || strcmp(name, "cores"))
			return perr(c, node(c, pr->key), "unknown workers field '%s' (cores)",
				    name ? name : "?");
		if (v->type != YAML_SEQUENCE_NODE)
			return perr(c, v, "'cores' must be a list of CPU numbers");
		p->ncores = 0;
		cpu_set_t allowed;

		for (yaml_node_item_t *it = v->data.sequence.items.start;
		     it < v->data.sequence.items.top; it++) {
			unsigned long u;
			int err;

			if (p->ncores == LG_POLICY_MAX_CORES)
				return perr(c, node(c, *it), "at most %d cores", LG_POLICY_MAX_CORES);
			err = get_uint(c, node(c, *it), "a core", 0, 1023, &u);
			if (err)
				return err;
			/* The same check the data plane makes when it pins: validate, apply and
			 * start give one answer. */
			if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0 &&
			    !CPU_ISSET(u, &allowed))
				return perr(c, node(c, *it), "core %lu is not one this machine lets "
					    "linegate run on (%d allowed: see taskset -cp $$ or nproc)",
					    u, CPU_COUNT(&allowed));
			p->cores[p->ncores++] = (uint16_t)u;
		}
		if (!p->ncores)
			return perr(c, v, "'cores' lists no core (leave 'workers' out for none)");
	}
	return 0;
}

/* models: {trusted_keys: [hex, ...], registry: path} */
static int parse_models(struct pctx *c, const yaml_node_t *n, struct lg_policy *p)
{
	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'models' must be a mapping {trusted_keys, registry}");
	for_each_pair(c, n, pr) {
		const char *name = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);
		int err = 0;

		if (name && !strcmp(name, "registry")) {
			err = get_path(c, v, "registry", p->registry, sizeof(p->registry));
		} else if (name && !strcmp(name, "trusted_keys")) {
			if (v->type != YAML_SEQUENCE_NODE)
				return perr(c, v, "'trusted_keys' must be a list of Ed25519 public keys");
			p->nmodel_keys = 0;
			for (yaml_node_item_t *it = v->data.sequence.items.start;
			     it < v->data.sequence.items.top; it++) {
				yaml_node_t *k = node(c, *it);
				const char *hex = scalar(k);

				if (p->nmodel_keys == LG_POLICY_MAX_MODEL_KEYS)
					return perr(c, k, "at most %d trusted keys",
						    LG_POLICY_MAX_MODEL_KEYS);
				if (!hex || strlen(hex) != 64)
					return perr(c, k, "a trusted key is an Ed25519 public key: 64 hex digits");
				if (hex_decode(hex, p->model_keys[p->nmodel_keys], 32))
					return perr(c, k, "a trusted key must be hex digits only");
				p->nmodel_keys++;
			}
		} else {
			err = perr(c, node(c, pr->key), "unknown models field '%s'", name ? name : "?");
		}
		if (err)
			return err;
	}
	return 0;
}

static int parse_root(struct pctx *c, const yaml_node_t *root, struct lg_policy *p)
{
	bool have_version = false;

	if (!root || root->type != YAML_MAPPING_NODE)
		return perr(c, root, "the policy must be a mapping with 'version' and 'devices'");
	/* Groups first, wherever they stand in the file: devices refer to them by name. */
	for_each_pair(c, root, pr) {
		const char *name = scalar(node(c, pr->key));

		if (name && !strcmp(name, "groups")) {
			int err = parse_groups(c, node(c, pr->value), p);

			if (err)
				return err;
		}
	}
	for_each_pair(c, root, pr) {
		const char *name = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);
		unsigned long u;
		int err = 0;

		if (!name) {
			err = perr(c, node(c, pr->key), "top-level keys are plain strings");
		} else if (!strcmp(name, "version")) {
			err = get_uint(c, v, "version", 1, 1, &u);
			have_version = true;
		} else if (!strcmp(name, "port")) {
			err = get_uint(c, v, "port", 1, 65535, &u);
			p->port = (uint16_t)u;
		} else if (!strcmp(name, "groups")) {
			/* parsed above */
		} else if (!strcmp(name, "models")) {
			err = parse_models(c, v, p);
		} else if (!strcmp(name, "workers")) {
			err = parse_workers(c, v, p);
		} else if (!strcmp(name, "uadp_port")) {
			err = get_uint(c, v, "uadp_port", 0, 65535, &u);
			p->uadp_port = (uint16_t)u;
		} else if (!strcmp(name, "not_ours")) {
			const char *s = scalar(v);

			if (s && !strcmp(s, "pass"))
				p->not_ours = LG_ADMIT_NOT_OURS_PASS;
			else if (s && !strcmp(s, "drop"))
				p->not_ours = LG_ADMIT_NOT_OURS_DROP;
			else
				err = perr(c, v, "'not_ours' must be pass or drop");
		} else if (!strcmp(name, "detection")) {
			err = parse_detection(c, v, p);
		} else if (!strcmp(name, "output")) {
			if (v->type != YAML_MAPPING_NODE)
				return perr(c, v, "'output' must be a mapping");
			for_each_pair(c, v, o) {
				const char *on = scalar(node(c, o->key));

				if (on && !strcmp(on, "jsonl"))
					err = get_path(c, node(c, o->value), "jsonl", p->jsonl,
						      sizeof(p->jsonl));
				else if (on && !strcmp(on, "mqtt"))
					err = parse_mqtt(c, node(c, o->value), &p->mqtt);
				else
					err = perr(c, node(c, o->key), "unknown output field '%s'",
						   on ? on : "?");
				if (err)
					return err;
			}
		} else if (!strcmp(name, "devices")) {
			size_t cnt;

			if (v->type != YAML_SEQUENCE_NODE)
				return perr(c, v, "'devices' must be a list");
			cnt = v->data.sequence.items.top - v->data.sequence.items.start;
			if (cnt > LG_POLICY_MAX_DEVICES)
				return perr(c, v, "at most %d devices", LG_POLICY_MAX_DEVICES);
			free(p->devices);
			p->devices = calloc(cnt ? cnt : 1, sizeof(*p->devices));
			if (!p->devices)
				return -ENOMEM;
			p->ndevices = 0;
			for (size_t i = 0; i < cnt; i++) {
				yaml_node_t *dn = node(c, v->data.sequence.items.start[i]);

				err = parse_device(c, dn, &p->devices[i]);
				if (err)
					return err;
				for (size_t j = 0; j < i; j++)
					if (p->devices[j].id == p->devices[i].id)
						return perr(c, dn, "device id %u is enrolled twice",
							    p->devices[i].id);
				p->ndevices++;
			}
		} else {
			err = perr(c, node(c, pr->key), "unknown top-level key '%s'", name);
		}
		if (err)
			return err;
	}
	if (!have_version)
		return perr(c, root, "the policy needs 'version: 1'");
	if (p->uadp_port && p->uadp_port == p->port)
		return perr(c, root, "'uadp_port' and 'port' must differ");
	for (size_t i = 0; i < p->ndevices; i++) {
		const struct lg_policy_device *a = &p->devices[i];

		for (size_t j = 0; a->uadp_pub_type && j < i; j++) {
			const struct lg_policy_device *b = &p->devices[j];

			if (a->uadp_pub_type == b->uadp_pub_type && a->uadp_pub_num == b->uadp_pub_num &&
			    !strcmp(a->uadp_pub_str, b->uadp_pub_str) &&
			    a->uadp_writer_group == b->uadp_writer_group &&
			    a->uadp_writer == b->uadp_writer)
				return perr(c, root, "devices %u and %u have the same UADP identity",
					    b->id, a->id);
		}
	}
	if (p->ndevices)
		qsort(p->devices, p->ndevices, sizeof(*p->devices), cmp_dev);
	return 0;
}

/* Relative paths in a policy are relative to the policy file's folder. */
static void policy_dir(char *dir, size_t len, const char *name)
{
	char *slash;

	snprintf(dir, len, "%s", name);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, len, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
}

int lg_policy_parse(const char *text, size_t len, const char *name, struct lg_policy *out,
		    char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct lg_policy p = {
		.port = 4739, .window = 256, .batch = 16, .deadline_ms = 50, .jsonl = "-",
		.not_ours = LG_ADMIT_NOT_OURS_PASS,
	};
	struct pctx c = { .doc = &doc, .p = &p, .name = name, .err = err, .errlen = errlen };
	int ret;

	if (strlen(name) >= sizeof(c.dir)) {
		snprintf(err, errlen, "%.64s...: the policy's file name is longer than %zu characters",
			 name, sizeof(c.dir) - 1);
		return -ENAMETOOLONG;
	}
	policy_dir(c.dir, sizeof(c.dir), name);
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, errlen, "%s:%zu:%zu: %s", name, parser.problem_mark.line + 1,
			 parser.problem_mark.column + 1,
			 parser.problem ? parser.problem : "YAML syntax error");
		yaml_parser_delete(&parser);
		return -EINVAL;
	}
	ret = parse_root(&c, yaml_document_get_root_node(&doc), &p);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (ret) {
		free(p.devices);
		return ret;
	}
	SHA256((const unsigned char *)text, len, p.hash);
	*out = p;
	return 0;
}

int lg_policy_load(const char *path, struct lg_policy *out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *text = NULL;
	long len;
	int ret;

	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		ret = -EIO;
		goto out;
	}
	text = malloc(len + 1);
	if (!text) {
		ret = -ENOMEM;
		goto out;
	}
	if (fread(text, 1, len, f) != (size_t)len) {
		ret = -EIO;
		snprintf(err, errlen, "%s: read failed", path);
		goto out;
	}
	text[len] = '\0';
	ret = lg_policy_parse(text, len, path, out, err, errlen);
out:
	free(text);
	fclose(f);
	return ret;
}

void lg_policy_free(struct lg_policy *p)
{
	if (!p)
		return;
	free(p->devices);
	p->devices = NULL;
	p->ndevices = 0;
}

const struct lg_policy_device *lg_policy_find(const struct lg_policy *p, uint32_t id)
{
	size_t lo = 0, hi = p->ndevices;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->devices[mid].id == id)
			return &p->devices[mid];
		if (p->devices[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
