// SPDX-License-Identifier: MIT
/*
 * The OPC UA PubSub JSON mapping into UADP (include/linegate/uadp_json.h): json-c parses
 * with a depth limit and UTF-8 validation, the values are laid out little-endian in the
 * converter's own space, and lg_uadp_encode() writes the NetworkMessage, so that the worker
 * decodes it as it decodes a datagram.
 */
#include <linegate/uadp.h>
#include <linegate/uadp_json.h>

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VAL_SPACE 16384 /* bytes of field values in one message: more would not fit a slot */
#define PUB_MAX 255     /* a String PublisherId's bytes */

struct lg_uadp_json {
	struct lg_uadp_msg m;
	uint8_t vals[VAL_SPACE];
	size_t used;
	char pub[PUB_MAX + 1];
};

int lg_uadp_json_new(struct lg_uadp_json **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void lg_uadp_json_free(struct lg_uadp_json *c)
{
	free(c);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, int n, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

#define UNIX_EPOCH_TICKS 116444736000000000ll /* 1970-01-01 in 100 ns ticks since 1601 */

int lg_uadp_json_time(const char *s, int64_t *ticks)
{
	static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned y, mo, d, h, mi, sec, frac = 0, oh = 0, om = 0;
	int64_t t;
	int n = 0, sign = 0;

	if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) ||
	    s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
		return -EINVAL;
	s += 19;
	if (*s == '.') {
		s++;
		/* 100 ns ticks: seven digits count, the rest is read and dropped. */
		for (; *s >= '0' && *s <= '9'; s++, n++)
			if (n < 7)
				frac = frac * 10 + (unsigned)(*s - '0');
		if (!n)
			return -EINVAL;
		for (; n < 7; n++)
			frac *= 10;
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s == '-' ? -1 : 1;
		if (!digits(s + 1, 2, &oh) || s[3] != ':' || !digits(s + 4, 2, &om) || oh > 23 ||
		    om > 59)
			return -EINVAL;
		s += 6;
	} else {
		return -EINVAL;
	}
	if (*s || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	if (mo == 2 && d == 29 && (y % 4 || (y % 100 == 0 && y % 400)))
		return -EINVAL;
	if (y < 1601)
		return -EINVAL; /* DateTime starts in 1601 */
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
	    sign * (int64_t)(oh * 3600 + om * 60);
	*ticks = t * 10000000 + frac + UNIX_EPOCH_TICKS;
	return *ticks > 0 ? 0 : -EINVAL;
}

/*
 * Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past U+10FFFF;
 * stricter than json-c's own check, so that no two byte strings name one field.
 */
static bool utf8_ok(const uint8_t *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		uint8_t c = s[i];
		unsigned n, cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1, cp = c & 0x1f, min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2, cp = c & 0x0f, min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (unsigned k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

static json_object *member(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* A whole number of the JSON (a number, or a decimal string as Int64/UInt64 are written),
 * in [min, max]. */
static int get_int(json_object *v, int64_t min, uint64_t max, bool sgn, uint64_t *out)
{
	const char *s;
	char *end;

	switch (json_object_get_type(v)) {
	case json_type_int:
		/* json-c keeps what fits an int64 signed, bigger ones unsigned */
		if (json_object_get_int64(v) < 0) {
			int64_t x = json_object_get_int64(v);

			if (!sgn || x < min)
				return -EPROTO;
			*out = (uint64_t)x;
			return 0;
		}
		*out = json_object_get_uint64(v);
		break;
	case json_type_double: {
		double x = json_object_get_double(v);

		if (x != floor(x) || x < (double)min || x > (double)max || x < -9.2e18 ||
		    x > 1.8e19)
			return -EPROTO;
		if (x < 0) {
			*out = (uint64_t)(int64_t)x;
			return 0;
		}
		*out = (uint64_t)x;
		break;
	}
	case json_type_string:
		s = json_object_get_string(v);
		errno = 0;
		if (sgn && s[0] == '-') {
			int64_t x = strtoll(s, &end, 10);

			if (errno || end == s || *end || x < min)
				return -EPROTO;
			*out = (uint64_t)x;
			return 0;
		}
		if (s[0] < '0' || s[0] > '9')
			return -EPROTO;
		*out = strtoull(s, &end, 10);
		if (errno || *end)
			return -EPROTO;
		break;
	default:
		return -EPROTO;
	}
	return *out <= max ? 0 : -EPROTO;
}

static int get_double(json_object *v, double *out)
{
	const char *s;

	switch (json_object_get_type(v)) {
	case json_type_int:
	case json_type_double:
		*out = json_object_get_double(v);
		return 0;
	case json_type_string:
		/* Part 14 writes the special values as strings */
		s = json_object_get_string(v);
		if (!strcmp(s, "NaN"))
			*out = NAN;
		else if (!strcmp(s, "Infinity"))
			*out = INFINITY;
		else if (!strcmp(s, "-Infinity"))
			*out = -INFINITY;
		else
			return -EPROTO;
		return 0;
	default:
		return -EPROTO;
	}
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* One element of a built-in type into p (lg_uadp_type_size(type) bytes). */
static int put_elem(uint8_t *p, unsigned type, json_object *v)
{
	static const struct {
		int64_t min;
		uint64_t max;
	} lim[] = {
		[LG_UADP_T_SBYTE] = { INT8_MIN, INT8_MAX },
		[LG_UADP_T_BYTE] = { 0, UINT8_MAX },
		[LG_UADP_T_INT16] = { INT16_MIN, INT16_MAX },
		[LG_UADP_T_UINT16] = { 0, UINT16_MAX },
		[LG_UADP_T_INT32] = { INT32_MIN, INT32_MAX },
		[LG_UADP_T_UINT32] = { 0, UINT32_MAX },
		[LG_UADP_T_INT64] = { INT64_MIN, INT64_MAX },
		[LG_UADP_T_UINT64] = { 0, UINT64_MAX },
	};
	uint64_t u;
	int64_t t;
	double d;
	float f;
	int err;

	switch (type) {
	case LG_UADP_T_BOOLEAN:
		if (json_object_get_type(v) != json_type_boolean)
			return -EPROTO;
		p[0] = json_object_get_boolean(v) ? 1 : 0;
		return 0;
	case LG_UADP_T_FLOAT:
	case LG_UADP_T_DOUBLE:
		err = get_double(v, &d);
		if (err)
			return err;
		if (type == LG_UADP_T_DOUBLE) {
			memcpy(&u, &d, 8);
			put_le(p, u, 8);
		} else {
			uint32_t b;

			f = (float)d;
			memcpy(&b, &f, 4);
			put_le(p, b, 4);
		}
		return 0;
	case LG_UADP_T_DATETIME:
		if (json_object_get_type(v) != json_type_string ||
		    lg_uadp_json_time(json_object_get_string(v), &t))
			return -EPROTO;
		put_le(p, (uint64_t)t, 8);
		return 0;
	default:
		err = get_int(v, lim[type].min, lim[type].max, lim[type].min < 0, &u);
		if (err)
			return err;
		put_le(p, u, lg_uadp_type_size(type));
		return 0;
	}
}

/* A scalar or array of a fixed-size type, or a String scalar (vv a JSON string, or NULL: the
 * null String), into f. */
static int put_typed(struct lg_uadp_json *c, struct lg_uadp_field *f, unsigned type,
		     json_object *vv)
{
	unsigned size;
	size_t n;
	int err;

	f->type = (uint8_t)type;
	if (type == LG_UADP_T_STRING) {
		if (!vv) {
			f->count = 1; /* data NULL: the null String */
			return 0;
		}
		if (json_object_get_type(vv) != json_type_string)
			return json_object_get_type(vv) == json_type_array ? -ENOTSUP : -EPROTO;
		/* The bytes stay in the parsed JSON, which outlives the encoding. */
		f->data = (const uint8_t *)json_object_get_string(vv);
		f->len = (uint32_t)json_object_get_string_len(vv);
		f->count = 1;
		return 0;
	}
	size = lg_uadp_type_size(type);
	f->data = c->vals + c->used;
	if (json_object_get_type(vv) != json_type_array) {
		if (VAL_SPACE - c->used < size)
			return -E2BIG;
		err = put_elem(c->vals + c->used, type, vv);
		if (err)
			return err;
		c->used += size;
		f->count = 1;
		return 0;
	}
	n = json_object_array_length(vv);
	if (n > (VAL_SPACE - c->used) / size)
		return -E2BIG;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(vv, i);

		if (!e)
			return -EPROTO;
		err = put_elem(c->vals + c->used, type, e);
		if (err)
			return err;
		c->used += size;
	}
	f->count = (uint32_t)n;
	f->is_array = 1;
	return 0;
}

/* A value without a type (the non-reversible forms): a number is a Double, true/false a
 * Boolean, a string a String, a list (of numbers) a Double array, null no value. */
static int put_plain(struct lg_uadp_json *c, struct lg_uadp_field *f, json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		return 0;
	case json_type_boolean:
		return put_typed(c, f, LG_UADP_T_BOOLEAN, v);
	case json_type_int:
	case json_type_double:
	case json_type_array:
		return put_typed(c, f, LG_UADP_T_DOUBLE, v);
	case json_type_string:
		return put_typed(c, f, LG_UADP_T_STRING, v);
	default:
		return -ENOTSUP; /* a structure: outside the subset */
	}
}

/*
 * Field f from a Payload value v, in each form a publisher writes (OPC 10000-6 5.4.2.17,
 * 5.4.2.18 and Part 14 7.2.5.4; open62541 writes the reversible Variant):
 *  - a plain JSON value (RawData, the non-reversible Variant of 1.05);
 *  - the reversible Variant {"UaType": N, "Value": v} (1.05) or {"Type": N, "Body": v}
 *    (1.04); the nullable types (String, DateTime) leave Value out for the null value;
 *  - the non-reversible Variant of 1.04 as open62541 writes it, {"Body": v};
 *  - a DataValue: 1.05 {"UaType": N, "Value": v, "StatusCode": ..., "SourceTimestamp": ...}
 *    (a Variant with more members), 1.04 {"Value": <a Variant>, "Status": ..., ...}: its
 *    value is taken, status and timestamps are not.
 */
static int put_field(struct lg_uadp_json *c, struct lg_uadp_field *f, json_object *v,
		     bool in_dv)
{
	json_object *vt = NULL, *vv = NULL;
	uint64_t t = 0;
	int err;

	memset(f, 0, sizeof(*f));
	if (!v) /* a named field the message lacks: a field without a value */
		return 0;
	if (json_object_get_type(v) != json_type_object)
		return put_plain(c, f, v);
	if ((vt = member(v, "UaType"))) {
		vv = member(v, "Value");
	} else if ((vt = member(v, "Type"))) {
		vv = member(v, "Body");
	} else if ((vv = member(v, "Body"))) {
		return put_plain(c, f, vv);
	} else if (!in_dv && (vv = member(v, "Value"))) {
		return json_object_get_type(vv) == json_type_object ? put_field(c, f, vv, true)
								     : put_plain(c, f, vv);
	} else if (!in_dv && (member(v, "Status") || member(v, "StatusCode") ||
			      member(v, "SourceTimestamp") || member(v, "ServerTimestamp"))) {
		return 0; /* a DataValue without a value */
	} else {
		return -EPROTO;
	}
	if (member(v, "Dimensions") || member(v, "ArrayDimensions"))
		return -ENOTSUP; /* a matrix is not in the subset */
	err = get_int(vt, 0, 255, false, &t);
	if (err)
		return err;
	if (!t) {
		if (vv && json_object_get_type(vv) != json_type_null)
			return -EPROTO;
		return 0; /* an empty Variant */
	}
	/* Numbers, Booleans, DateTime and String; ByteString, Guid, ...: not taken from JSON
	 * (put_elem() writes the fixed-size numeric types only). */
	if (!lg_uadp_type_numeric((unsigned)t) && t != LG_UADP_T_DATETIME &&
	    t != LG_UADP_T_STRING)
		return -ENOTSUP;
	if (!vv || json_object_get_type(vv) == json_type_null) {
		/* Only the nullable types have a null value. */
		if (t == LG_UADP_T_STRING)
			return put_typed(c, f, LG_UADP_T_STRING, NULL);
		return t == LG_UADP_T_DATETIME ? 0 : -EPROTO;
	}
	return put_typed(c, f, (unsigned)t, vv);
}

/* The index of a named field in the DataSet (the policy's order), or -1. */
static int field_index(const struct lg_uadp_json_ident *id, const char *key)
{
	const char *s = id->fields;

	for (unsigned i = 0; s && i < id->nfields; i++, s += strlen(s) + 1)
		if (!strcmp(s, key))
			return (int)i;
	return -1;
}

/*
 * A delta frame's Payload: the fields that changed, each with its index in the DataSet, which
 * the policy's field names give (a JSON field carries its name, not its index); a name they
 * do not list cannot be placed (-ENOTSUP). A publisher the policy does not know keeps the
 * JSON order: the worker refuses it as unknown_device anyway.
 */
static int put_delta(struct lg_uadp_json *c, struct lg_uadp_dsm *d, json_object *payload,
		     const struct lg_uadp_json_ident *id)
{
	struct lg_uadp_msg *m = &c->m;
	unsigned pos = 0;
	int err;

	json_object_object_foreach(payload, key, val) {
		int x = id ? field_index(id, key) : (int)pos;

		if (x < 0)
			return -ENOTSUP;
		if (m->nfields == LG_UADP_MAX_FIELDS)
			return -E2BIG;
		err = put_field(c, &m->fields[m->nfields], val, false);
		if (err)
			return err;
		m->fields[m->nfields++].index = (uint16_t)x;
		pos++;
	}
	d->field_count = (uint16_t)(m->nfields - d->first_field);
	return 0;
}

/* The Payload's fields into the message: in the policy's order when it names them. */
static int put_payload(struct lg_uadp_json *c, struct lg_uadp_dsm *d, json_object *payload,
		       const struct lg_uadp_json_ident *id)
{
	struct lg_uadp_msg *m = &c->m;
	const char *s = id ? id->fields : NULL;
	int err;

	if (!payload || json_object_get_type(payload) != json_type_object)
		return -EPROTO;
	d->first_field = m->nfields;
	if (lg_uadp_dsm_type(d) == LG_UADP_DSM_DELTA_FRAME)
		return put_delta(c, d, payload, id);
	for (unsigned i = 0; s && i < id->nfields; i++, s += strlen(s) + 1) {
		json_object *v = NULL;

		if (m->nfields == LG_UADP_MAX_FIELDS)
			return -E2BIG;
		json_object_object_get_ex(payload, s, &v);
		err = put_field(c, &m->fields[m->nfields++], v, false);
		if (err)
			return err;
	}
	json_object_object_foreach(payload, key, val) {
		if (id && field_index(id, key) >= 0)
			continue;
		if (m->nfields == LG_UADP_MAX_FIELDS)
			return -E2BIG;
		err = put_field(c, &m->fields[m->nfields++], val, false);
		if (err)
			return err;
	}
	d->field_count = (uint16_t)(m->nfields - d->first_field);
	return 0;
}

static int put_dsm(struct lg_uadp_json *c, json_object *o, lg_uadp_json_resolve_fn resolve,
		   void *arg, struct lg_uadp_json_ident *first, bool *have_first)
{
	struct lg_uadp_msg *m = &c->m;
	struct lg_uadp_dsm *d = &m->dsm[m->dsm_count];
	struct lg_uadp_json_ident id;
	json_object *v;
	const char *mt;
	bool known;
	uint64_t u;
	int err;

	if (json_object_get_type(o) != json_type_object)
		return -EPROTO;
	memset(d, 0, sizeof(*d));
	d->flags1 = LG_UADP_D1_VALID; /* Variant field encoding */
	v = member(o, "DataSetWriterId");
	if (json_object_get_type(v) != json_type_int || get_int(v, 1, UINT16_MAX, false, &u))
		return -EPROTO;
	d->writer_id = (uint16_t)u;
	if ((v = member(o, "SequenceNumber")) && json_object_get_type(v) != json_type_null) {
		if (get_int(v, 0, UINT32_MAX, false, &u))
			return -EPROTO;
		d->seq = (uint16_t)u; /* UADP's DataSetMessage sequence number is 16 bits */
		d->flags1 |= LG_UADP_D1_SEQUENCE;
	}
	if ((v = member(o, "Status")) && json_object_get_type(v) != json_type_null) {
		/* A StatusCode (a number, or {"Code": n}); UADP carries its high 16 bits. */
		if (json_object_get_type(v) == json_type_object)
			v = member(v, "Code");
		if (!v || get_int(v, 0, UINT32_MAX, false, &u))
			return -EPROTO;
		d->status = (uint16_t)(u >> 16);
		d->flags1 |= LG_UADP_D1_STATUS;
	}
	if ((v = member(o, "MetaDataVersion")) && json_object_get_type(v) != json_type_null) {
		json_object *maj = member(v, "MajorVersion"), *min = member(v, "MinorVersion");
		uint64_t a = 0, b = 0;

		if (json_object_get_type(v) != json_type_object ||
		    (maj && get_int(maj, 0, UINT32_MAX, false, &a)) ||
		    (min && get_int(min, 0, UINT32_MAX, false, &b)))
			return -EPROTO;
		d->cfg_major = (uint32_t)a;
		d->cfg_minor = (uint32_t)b;
		d->flags1 |= LG_UADP_D1_CFG_MAJOR | LG_UADP_D1_CFG_MINOR;
	}
	if ((v = member(o, "Timestamp")) && json_object_get_type(v) != json_type_null) {
		if (json_object_get_type(v) != json_type_string ||
		    lg_uadp_json_time(json_object_get_string(v), &d->timestamp))
			return -EPROTO;
		d->flags1 |= LG_UADP_D1_FLAGS2;
		d->flags2 |= LG_UADP_D2_TIMESTAMP;
	}
	mt = "ua-keyframe";
	if ((v = member(o, "MessageType")) && json_object_get_type(v) != json_type_null) {
		if (json_object_get_type(v) != json_type_string)
			return -EPROTO;
		mt = json_object_get_string(v);
	}
	if (!strcmp(mt, "ua-keepalive")) {
		d->flags1 |= LG_UADP_D1_FLAGS2;
		d->flags2 |= LG_UADP_DSM_KEEP_ALIVE;
	} else if (!strcmp(mt, "ua-deltaframe")) {
		d->flags1 |= LG_UADP_D1_FLAGS2;
		d->flags2 |= LG_UADP_DSM_DELTA_FRAME;
	} else if (!strcmp(mt, "ua-event")) {
		return -ENOMSG; /* as UADP events are: only data is taken */
	} else if (strcmp(mt, "ua-keyframe")) {
		return -EPROTO;
	}
	known = resolve && !resolve(arg, c->pub, d->writer_id, &id);
	if (!*have_first) {
		if (known)
			*first = id;
		*have_first = true;
		first->pub_type = known ? id.pub_type : LG_UADP_PUBID_STRING;
	}
	if (lg_uadp_dsm_type(d) != LG_UADP_DSM_KEEP_ALIVE) {
		err = put_payload(c, d, member(o, "Payload"), known ? &id : NULL);
		if (err)
			return err;
	}
	m->dsm_count++;
	return 0;
}

static int convert(struct lg_uadp_json *c, json_object *root, lg_uadp_json_resolve_fn resolve,
		   void *arg, uint8_t *out, size_t cap)
{
	struct lg_uadp_msg *m = &c->m;
	struct lg_uadp_json_ident first = { 0 };
	bool have_first = false;
	json_object *v, *msgs;
	int ret;

	if (json_object_get_type(root) != json_type_object)
		return -EPROTO;
	if ((v = member(root, "MessageType")) &&
	    (json_object_get_type(v) != json_type_string ||
	     strcmp(json_object_get_string(v), "ua-data")))
		return json_object_get_type(v) == json_type_string ? -ENOTSUP : -EPROTO;
	/* PublisherId: a string (1.05), or a number from older publishers. */
	v = member(root, "PublisherId");
	if (!v)
		return -EPROTO; /* nothing to know the publisher by */
	if (json_object_get_type(v) == json_type_string) {
		if (json_object_get_string_len(v) < 1 || json_object_get_string_len(v) > PUB_MAX)
			return -EPROTO;
		size_t n = (size_t)json_object_get_string_len(v);

		memcpy(c->pub, json_object_get_string(v), n + 1);
		if (strlen(c->pub) != n)
			return -EPROTO; /* a NUL inside */
	} else if (json_object_get_type(v) == json_type_int) {
		uint64_t u;

		if (get_int(v, 0, UINT64_MAX, false, &u))
			return -EPROTO;
		snprintf(c->pub, sizeof(c->pub), "%" PRIu64, u);
	} else {
		return -EPROTO;
	}
	memset(m, 0, offsetof(struct lg_uadp_msg, fields));
	c->used = 0;
	msgs = member(root, "Messages");
	if (!msgs) {
		/* A DataSetMessage on its own, the NetworkMessage header left out. */
		ret = put_dsm(c, root, resolve, arg, &first, &have_first);
	} else if (json_object_get_type(msgs) == json_type_object) {
		ret = put_dsm(c, msgs, resolve, arg, &first, &have_first);
	} else if (json_object_get_type(msgs) == json_type_array) {
		size_t n = json_object_array_length(msgs);

		if (!n)
			return -EPROTO;
		if (n > LG_UADP_MAX_DSM)
			return -E2BIG;
		ret = 0;
		for (size_t i = 0; !ret && i < n; i++)
			ret = put_dsm(c, json_object_array_get_idx(msgs, i), resolve, arg, &first,
				      &have_first);
	} else {
		return -EPROTO;
	}
	if (ret)
		return ret;
	m->flags = LG_UADP_VERSION | LG_UADP_F_PUBLISHER_ID | LG_UADP_F_GROUP_HEADER |
		   LG_UADP_F_PAYLOAD_HEADER | LG_UADP_F_EXT1;
	m->ext1 = first.pub_type;
	m->group_flags = LG_UADP_G_WRITER_GROUP_ID;
	m->writer_group_id = first.writer_group;
	if (first.pub_type == LG_UADP_PUBID_STRING) {
		/* The policy's spelling when it knows the publisher, else the JSON's. */
		const char *s = first.pub_str[0] ? first.pub_str : c->pub;

		m->pub_str = (const uint8_t *)s;
		m->pub_str_len = (uint32_t)strlen(s);
	} else {
		m->pub_num = first.pub_num;
	}
	ret = lg_uadp_encode(m, NULL, NULL, 0, out, cap);
	if (ret >= 0)
		return ret;
	if (ret == -LG_UADP_UNSUPPORTED_MSG || ret == -LG_UADP_UNSUPPORTED_ENCODING)
		return -ENOTSUP;
	return -E2BIG; /* what is left: it does not fit out */
}

int lg_uadp_json_convert(struct lg_uadp_json *c, const char *json, size_t len,
			 lg_uadp_json_resolve_fn resolve, void *arg, uint8_t *out, size_t cap)
{
	struct json_tokener *tok;
	json_object *root;
	size_t end;
	int ret;

	if (!c || !json || !out)
		return -EINVAL;
	if (len > LG_UADP_JSON_MAX_LEN)
		return -E2BIG;
	if (memchr(json, '\0', len) || !utf8_ok((const uint8_t *)json, len))
		return -EBADMSG;
	tok = json_tokener_new_ex(LG_UADP_JSON_MAX_DEPTH);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, json, (int)len);
	if (json_tokener_get_error(tok) == json_tokener_continue) {
		/* The whole message was given: a value still open is a truncated one. */
		json_object_put(root);
		root = NULL;
	} else if (json_tokener_get_error(tok) != json_tokener_success) {
		root = NULL;
	}
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!root)
		return -EBADMSG;
	for (; end < len; end++)
		if (!json[end] || !strchr(" \t\r\n", json[end])) {
			json_object_put(root);
			return -EBADMSG; /* something after the value */
		}
	ret = convert(c, root, resolve, arg, out, cap);
	json_object_put(root);
	return ret;
}
