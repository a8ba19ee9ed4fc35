// SPDX-License-Identifier: MIT
/*
 * UADP (OPC 10000-14, 7.2.4) NetworkMessage decoder, encoder and signature
 * check for the subset described in include/linegate/uadp.h.
 *
 * Every read goes through struct rd, which knows how many bytes are left, so a
 * length field can never move a pointer past the end of the buffer. Lengths
 * from the wire are widened to 64 bits before they are multiplied.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "linegate/hmac.h"
#include "linegate/uadp.h"

struct rd {
	const uint8_t *p;
	size_t off;
	size_t end;
};

static inline int rd_need(const struct rd *r, uint64_t n)
{
	return (uint64_t)(r->end - r->off) >= n;
}

static inline uint16_t ld16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

static inline uint32_t ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t ld64(const uint8_t *p)
{
	return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32;
}

/* Each reader returns 0 or -LG_UADP_TRUNCATED and advances only on success. */
static int rd_u8(struct rd *r, uint8_t *v)
{
	if (!rd_need(r, 1))
		return -LG_UADP_TRUNCATED;
	*v = r->p[r->off++];
	return 0;
}

static int rd_u16(struct rd *r, uint16_t *v)
{
	if (!rd_need(r, 2))
		return -LG_UADP_TRUNCATED;
	*v = ld16(r->p + r->off);
	r->off += 2;
	return 0;
}

static int rd_u32(struct rd *r, uint32_t *v)
{
	if (!rd_need(r, 4))
		return -LG_UADP_TRUNCATED;
	*v = ld32(r->p + r->off);
	r->off += 4;
	return 0;
}

static int rd_u64(struct rd *r, uint64_t *v)
{
	if (!rd_need(r, 8))
		return -LG_UADP_TRUNCATED;
	*v = ld64(r->p + r->off);
	r->off += 8;
	return 0;
}

static int rd_bytes(struct rd *r, uint64_t n, const uint8_t **v)
{
	if (!rd_need(r, n))
		return -LG_UADP_TRUNCATED;
	*v = r->p + r->off;
	r->off += (size_t)n;
	return 0;
}

unsigned int lg_uadp_type_size(unsigned int type)
{
	switch (type) {
	case LG_UADP_T_BOOLEAN:
	case LG_UADP_T_SBYTE:
	case LG_UADP_T_BYTE:
		return 1;
	case LG_UADP_T_INT16:
	case LG_UADP_T_UINT16:
		return 2;
	case LG_UADP_T_INT32:
	case LG_UADP_T_UINT32:
	case LG_UADP_T_FLOAT:
	case LG_UADP_T_STATUSCODE:
		return 4;
	case LG_UADP_T_INT64:
	case LG_UADP_T_UINT64:
	case LG_UADP_T_DOUBLE:
	case LG_UADP_T_DATETIME:
		return 8;
	case LG_UADP_T_GUID:
		return 16;
	default:
		return 0;
	}
}

int lg_uadp_type_numeric(unsigned int type)
{
	return type >= LG_UADP_T_BOOLEAN && type <= LG_UADP_T_DOUBLE;
}

static int type_is_bytes(unsigned int type)
{
	return type == LG_UADP_T_STRING || type == LG_UADP_T_BYTESTRING ||
	       type == LG_UADP_T_XMLELEMENT;
}

/* One table: decoder reason, its name, and the product-wide drop reason it is counted as. */
#define LG_UADP_REASONS(X)                                                                       \
	X(LG_UADP_OK, "ok", LG_OK)                                                                 \
	X(LG_UADP_TRUNCATED, "truncated", LG_DROP_TRUNCATED)                                       \
	X(LG_UADP_BAD_VERSION, "bad_version", LG_DROP_BAD_VERSION)                                 \
	X(LG_UADP_BAD_FLAGS, "bad_flags", LG_DROP_UADP_BAD_FLAGS)                                  \
	X(LG_UADP_BAD_LENGTH, "bad_length", LG_DROP_BAD_LENGTH)                                    \
	X(LG_UADP_UNSUPPORTED_MSG, "unsupported_msg", LG_DROP_UNSUPPORTED)                         \
	X(LG_UADP_UNSUPPORTED_ENCODING, "unsupported_encoding", LG_DROP_UADP_BAD_TYPE)             \
	X(LG_UADP_ENCRYPTED_NO_KEY, "encrypted_no_key", LG_DROP_UADP_ENCRYPTED_NO_KEY)             \
	X(LG_UADP_CAPACITY, "capacity", LG_DROP_UADP_CAPACITY)                                     \
	X(LG_UADP_NO_LAYOUT, "no_layout", LG_DROP_UADP_NO_LAYOUT)                                  \
	X(LG_UADP_NOT_SIGNED, "not_signed", LG_DROP_UNSIGNED)                                      \
	X(LG_UADP_BAD_SIGNATURE, "bad_signature", LG_DROP_BAD_TAG)                                 \
	X(LG_UADP_BAD_ARG, "bad_arg", LG_DROP_UNSUPPORTED)                                         \
	X(LG_UADP_CRYPTO, "crypto", LG_DROP_UADP_CRYPTO)                                           \
	X(LG_UADP_NO_IDENTITY, "no_identity", LG_DROP_UADP_NO_IDENTITY)                            \
	X(LG_UADP_EVENT, "event", LG_DROP_UADP_EVENT)                                              \
	X(LG_UADP_CHUNK, "chunk", LG_DROP_UADP_CHUNK)                                              \
	X(LG_UADP_DISCOVERY, "discovery", LG_DROP_UADP_DISCOVERY)                                  \
	X(LG_UADP_TOO_DEEP, "too_deep", LG_DROP_UADP_TOO_DEEP)                                     \
	X(LG_UADP_BAD_POLICY, "bad_policy", LG_DROP_UADP_BAD_POLICY)                               \
	X(LG_UADP_BAD_NONCE, "bad_nonce", LG_DROP_UADP_BAD_NONCE)                                  \
	X(LG_UADP_NOT_NUMERIC, "not_numeric", LG_DROP_UNSUPPORTED)

static const char *const reason_names[LG_UADP_NREASONS] = {
#define LG_UADP_REASON_NAME(e, name, drop) [e] = name,
	LG_UADP_REASONS(LG_UADP_REASON_NAME)
#undef LG_UADP_REASON_NAME
};

static const enum lg_reason reason_drops[LG_UADP_NREASONS] = {
#define LG_UADP_REASON_DROP(e, name, drop) [e] = drop,
	LG_UADP_REASONS(LG_UADP_REASON_DROP)
#undef LG_UADP_REASON_DROP
};

const char *lg_uadp_strerror(int reason)
{
	if (reason < 0)
		reason = -reason;
	if (reason >= LG_UADP_NREASONS)
		return "unknown";
	return reason_names[reason];
}

enum lg_reason lg_uadp_drop_reason(int err)
{
	if (err < 0)
		err = -err;
	if (err >= LG_UADP_NREASONS)
		return LG_DROP_UNSUPPORTED;
	return reason_drops[err];
}

/* Int32 length of a String, ByteString or array: -1 is null (0 here), other negatives bad. */
static int rd_len(struct rd *r, uint32_t *len, int *is_null)
{
	int err = rd_u32(r, len);

	if (err)
		return err;
	if (is_null)
		*is_null = *len == UINT32_MAX;
	if (*len == UINT32_MAX)
		*len = 0;
	else if (*len > INT32_MAX)
		return -LG_UADP_BAD_LENGTH;
	return 0;
}

static int skip_string(struct rd *r)
{
	const uint8_t *p;
	uint32_t len;
	int err = rd_len(r, &len, NULL);

	return err ? err : rd_bytes(r, len, &p);
}

static int skip(struct rd *r, uint64_t n)
{
	const uint8_t *p;

	return rd_bytes(r, n, &p);
}

/* NodeId (OPC 10000-6, 5.2.2.9); ExpandedNodeId adds NamespaceUri and ServerIndex. */
static int skip_nodeid(struct rd *r, int expanded)
{
	uint8_t enc;
	int err = rd_u8(r, &enc);

	if (err)
		return err;
	if (!expanded && (enc & 0xc0))
		return -LG_UADP_BAD_FLAGS;
	switch (enc & 0x3f) {
	case 0:
		err = skip(r, 1);
		break;
	case 1:
		err = skip(r, 3);
		break;
	case 2:
		err = skip(r, 6);
		break;
	case 3:
	case 5:
		err = skip(r, 2);
		if (!err)
			err = skip_string(r);
		break;
	case 4:
		err = skip(r, 18);
		break;
	default:
		return -LG_UADP_BAD_FLAGS;
	}
	if (!err && (enc & 0x80))
		err = skip_string(r);
	if (!err && (enc & 0x40))
		err = skip(r, 4);
	return err;
}

static int rd_variant(struct rd *r, struct lg_uadp_field *f, unsigned int depth);
static int rd_datavalue(struct rd *r, struct lg_uadp_field *f, unsigned int depth);

static int skip_diaginfo(struct rd *r, unsigned int depth)
{
	uint8_t mask;
	int err;

	for (;;) {
		if (depth > LG_UADP_MAX_DEPTH)
			return -LG_UADP_TOO_DEEP;
		err = rd_u8(r, &mask);
		if (err)
			return err;
		if (mask & 0x80)
			return -LG_UADP_BAD_FLAGS;
		/* SymbolicId, NamespaceUri, Locale, LocalizedText: Int32 each */
		err = skip(r, 4u * (unsigned int)__builtin_popcount(mask & 0x0f));
		if (!err && (mask & 0x10))
			err = skip_string(r);
		if (!err && (mask & 0x20))
			err = skip(r, 4);
		if (err || !(mask & 0x40))
			return err;
		depth++;
	}
}

/* One element of a variable-length type, skipped. */
static int skip_elem(struct rd *r, unsigned int type, unsigned int depth)
{
	struct lg_uadp_field nested;
	uint8_t b;
	int err;

	switch (type) {
	case LG_UADP_T_STRING:
	case LG_UADP_T_BYTESTRING:
	case LG_UADP_T_XMLELEMENT:
		return skip_string(r);
	case LG_UADP_T_NODEID:
		return skip_nodeid(r, 0);
	case LG_UADP_T_EXPANDEDNODEID:
		return skip_nodeid(r, 1);
	case LG_UADP_T_QUALIFIEDNAME:
		err = skip(r, 2);
		return err ? err : skip_string(r);
	case LG_UADP_T_LOCALIZEDTEXT:
		err = rd_u8(r, &b);
		if (err)
			return err;
		if (b & 0xfc)
			return -LG_UADP_BAD_FLAGS;
		if (b & 0x01)
			err = skip_string(r);
		if (!err && (b & 0x02))
			err = skip_string(r);
		return err;
	case LG_UADP_T_EXTENSIONOBJECT:
		err = skip_nodeid(r, 0);
		if (!err)
			err = rd_u8(r, &b);
		if (err)
			return err;
		if (b > 2)
			return -LG_UADP_BAD_FLAGS;
		return b ? skip_string(r) : 0;
	case LG_UADP_T_DATAVALUE:
		return rd_datavalue(r, &nested, depth + 1);
	case LG_UADP_T_VARIANT:
		return rd_variant(r, &nested, depth + 1);
	case LG_UADP_T_DIAGNOSTICINFO:
		return skip_diaginfo(r, depth + 1);
	default:
		return -LG_UADP_UNSUPPORTED_ENCODING;
	}
}

/* count elements of type at r, as data/len of f. */
static int rd_elems(struct rd *r, struct lg_uadp_field *f, unsigned int depth)
{
	unsigned int size = lg_uadp_type_size(f->type);
	size_t start = r->off;
	int err;

	if (size) {
		err = rd_bytes(r, (uint64_t)f->count * size, &f->data);
		f->len = err ? 0 : f->count * size;
		return err;
	}
	/* Every element takes at least one byte, so this loop ends with the buffer. */
	for (uint32_t i = 0; i < f->count; i++) {
		err = skip_elem(r, f->type, depth);
		if (err)
			return err;
	}
	f->data = r->p + start;
	f->len = (uint32_t)(r->off - start);
	return 0;
}

/*
 * A Variant (OPC 10000-6, 5.2.2.16): the empty Variant, a scalar, an array or a matrix
 * (an array followed by its ArrayDimensions) of any built-in type. Nested Variants and
 * DataValues count towards LG_UADP_MAX_DEPTH.
 */
static int rd_variant(struct rd *r, struct lg_uadp_field *f, unsigned int depth)
{
	uint32_t len = 0, ndims, d;
	uint64_t product = 1;
	uint8_t mask;
	int err, is_null;

	if (depth > LG_UADP_MAX_DEPTH)
		return -LG_UADP_TOO_DEEP;
	err = rd_u8(r, &mask);
	if (err)
		return err;
	f->type = mask & 0x3f;
	if (mask == 0) {
		f->data = r->p + r->off;
		return 0;
	}
	if (f->type == LG_UADP_T_NULL || (mask & 0xc0) == 0x40)
		return -LG_UADP_BAD_FLAGS;
	if (f->type > LG_UADP_T_MAX)
		return -LG_UADP_UNSUPPORTED_ENCODING;
	f->is_array = !!(mask & 0x80);
	if (!f->is_array) {
		f->count = 1;
		if (!type_is_bytes(f->type))
			return rd_elems(r, f, depth);
		err = rd_len(r, &len, &is_null);
		if (!err)
			err = rd_bytes(r, len, &f->data);
		if (!err && is_null)
			f->data = NULL;
		f->len = len;
		return err;
	}
	err = rd_len(r, &f->count, NULL);
	if (!err)
		err = rd_elems(r, f, depth);
	if (err || !(mask & 0x40))
		return err;
	err = rd_len(r, &ndims, NULL);
	if (err)
		return err;
	if (!ndims)
		return -LG_UADP_BAD_LENGTH;
	if (ndims > UINT8_MAX)
		return -LG_UADP_CAPACITY;
	err = rd_bytes(r, 4ull * ndims, &f->dims);
	if (err)
		return err;
	f->ndims = (uint8_t)ndims;
	for (uint32_t i = 0; i < ndims; i++) {
		d = ld32(f->dims + 4 * i);
		if (d > INT32_MAX)
			return -LG_UADP_BAD_LENGTH;
		product *= d;
		if (product > f->count)
			product = (uint64_t)f->count + 1; /* saturate: cannot match any more */
	}
	return product == f->count ? 0 : -LG_UADP_BAD_LENGTH;
}

/* A DataValue (OPC 10000-6, 5.2.2.17): its Variant into f, the rest beside it. */
static int rd_datavalue(struct rd *r, struct lg_uadp_field *f, unsigned int depth)
{
	uint64_t ts;
	uint8_t mask;
	int err;

	if (depth > LG_UADP_MAX_DEPTH)
		return -LG_UADP_TOO_DEEP;
	memset(f, 0, sizeof(*f));
	err = rd_u8(r, &mask);
	if (err)
		return err;
	if (mask & LG_UADP_DV_RESERVED)
		return -LG_UADP_BAD_FLAGS;
	f->data = r->p + r->off;
	if ((mask & LG_UADP_DV_VALUE) && (err = rd_variant(r, f, depth)))
		return err;
	f->dv_mask = mask;
	if ((mask & LG_UADP_DV_STATUS) && (err = rd_u32(r, &f->status)))
		return err;
	if (mask & LG_UADP_DV_SOURCE_TS) {
		err = rd_u64(r, &ts);
		if (err)
			return err;
		f->source_ts = (int64_t)ts;
	}
	if ((mask & LG_UADP_DV_SOURCE_PS) && (err = rd_u16(r, &f->source_ps)))
		return err;
	if (mask & LG_UADP_DV_SERVER_TS) {
		err = rd_u64(r, &ts);
		if (err)
			return err;
		f->server_ts = (int64_t)ts;
	}
	if ((mask & LG_UADP_DV_SERVER_PS) && (err = rd_u16(r, &f->server_ps)))
		return err;
	return 0;
}

/*
 * A RawData field: encoded like a Structure field, so an array is an Int32
 * length and its elements, zero-padded to the length the metadata gives
 * (OPC 10000-14, 7.2.4.5.11), which keeps every field at a fixed offset.
 */
static int rd_raw(struct rd *r, const struct lg_uadp_raw_field *lf, struct lg_uadp_field *f)
{
	unsigned int size = lg_uadp_type_size(lf->type);
	uint32_t len;
	int err, is_null;

	if (lf->type == LG_UADP_T_STRING || lf->type == LG_UADP_T_BYTESTRING) {
		/* A String: Int32 length and its bytes, zero-padded to MaxStringLength (max_len),
		 * the padding skipped. */
		const uint8_t *pad;

		if (!lf->max_len)
			return -LG_UADP_UNSUPPORTED_ENCODING;
		f->type = lf->type;
		f->max_len = lf->max_len;
		f->is_array = 0;
		f->count = 1;
		err = rd_len(r, &len, &is_null);
		if (err)
			return err;
		if (len > lf->max_len)
			return -LG_UADP_BAD_LENGTH;
		err = rd_bytes(r, lf->max_len, &f->data);
		if (err)
			return err;
		pad = f->data + len;
		for (uint32_t i = len; i < lf->max_len; i++)
			if (*pad++)
				return -LG_UADP_BAD_LENGTH; /* not padding: the layout is wrong */
		if (is_null)
			f->data = NULL;
		f->len = len;
		return 0;
	}
	if (!size)
		return -LG_UADP_UNSUPPORTED_ENCODING;
	f->type = lf->type;
	f->max_len = lf->max_len;
	if (!lf->max_len) {
		f->is_array = 0;
		f->count = 1;
		f->len = size;
		return rd_bytes(r, size, &f->data);
	}
	f->is_array = 1;
	err = rd_u32(r, &len);
	if (err)
		return err;
	if (len == UINT32_MAX)
		len = 0;
	else if (len > lf->max_len)
		return -LG_UADP_BAD_LENGTH;
	f->count = len;
	f->len = len * size;
	return rd_bytes(r, (uint64_t)lf->max_len * size, &f->data);
}

/* RawData needs the writer's layout: by DataSetWriterId, else by position in the message. */
static const struct lg_uadp_layout *find_layout(const struct lg_uadp_msg *m,
						 const struct lg_uadp_dsm *d,
						 const struct lg_uadp_layouts *raw)
{
	if (!raw)
		return NULL;
	if (!(m->flags & LG_UADP_F_PAYLOAD_HEADER))
		return d->position <= raw->n ? &raw->v[d->position - 1] : NULL;
	for (unsigned int i = 0; i < raw->n; i++)
		if (raw->v[i].writer_id == d->writer_id)
			return &raw->v[i];
	return NULL;
}

static int decode_dsm_header(struct rd *r, struct lg_uadp_dsm *d)
{
	uint64_t ts;
	int err;

	err = rd_u8(r, &d->flags1);
	if (err)
		return err;
	d->flags2 = 0;
	d->seq = 0;
	d->status = 0;
	d->timestamp = 0;
	d->picoseconds = 0;
	d->cfg_major = 0;
	d->cfg_minor = 0;
	d->field_count = 0;
	/* An invalid DSM "shall not be processed" beyond this flag byte. */
	if (!(d->flags1 & LG_UADP_D1_VALID))
		return 0;
	if (d->flags1 & LG_UADP_D1_FLAGS2) {
		err = rd_u8(r, &d->flags2);
		if (err)
			return err;
		if (d->flags2 & LG_UADP_D2_RESERVED)
			return -LG_UADP_BAD_FLAGS;
	}
	if ((d->flags1 & LG_UADP_D1_SEQUENCE) && (err = rd_u16(r, &d->seq)))
		return err;
	if (d->flags2 & LG_UADP_D2_TIMESTAMP) {
		err = rd_u64(r, &ts);
		if (err)
			return err;
		d->timestamp = (int64_t)ts;
	}
	if ((d->flags2 & LG_UADP_D2_PICOSECONDS) && (err = rd_u16(r, &d->picoseconds)))
		return err;
	if ((d->flags1 & LG_UADP_D1_STATUS) && (err = rd_u16(r, &d->status)))
		return err;
	if ((d->flags1 & LG_UADP_D1_CFG_MAJOR) && (err = rd_u32(r, &d->cfg_major)))
		return err;
	if ((d->flags1 & LG_UADP_D1_CFG_MINOR) && (err = rd_u32(r, &d->cfg_minor)))
		return err;
	return 0;
}

/* One field value in the DSM's encoding; lay is the RawData layout (NULL otherwise). */
static int rd_field(struct rd *r, unsigned int enc, const struct lg_uadp_layout *lay,
		    uint16_t index, struct lg_uadp_field *f)
{
	int err;

	memset(f, 0, sizeof(*f));
	switch (enc) {
	case LG_UADP_ENC_VARIANT:
		f->index = index;
		return rd_variant(r, f, 0);
	case LG_UADP_ENC_DATAVALUE:
		err = rd_datavalue(r, f, 0);
		f->index = index;
		return err;
	default:
		f->index = index;
		if (index >= lay->nfields)
			return -LG_UADP_BAD_LENGTH;
		return rd_raw(r, &lay->fields[index], f);
	}
}

static int decode_dsm(struct lg_uadp_msg *m, struct lg_uadp_dsm *d, struct rd *r,
		      const struct lg_uadp_layouts *raw)
{
	const struct lg_uadp_layout *lay = NULL;
	unsigned int enc, type;
	uint16_t n, index;
	int err;

	d->start = r->p + r->off;
	d->first_field = m->nfields;
	err = decode_dsm_header(r, d);
	if (err)
		return err;
	if (!(d->flags1 & LG_UADP_D1_VALID))
		return 0;

	enc = lg_uadp_dsm_encoding(d);
	type = lg_uadp_dsm_type(d);
	if (enc == 3 || type > LG_UADP_DSM_KEEP_ALIVE)
		return -LG_UADP_BAD_FLAGS;
	if (type == LG_UADP_DSM_EVENT)
		return -LG_UADP_EVENT;
	if (type == LG_UADP_DSM_KEEP_ALIVE)
		return 0;
	if (enc == LG_UADP_ENC_RAW) {
		lay = find_layout(m, d, raw);
		if (!lay)
			return -LG_UADP_NO_LAYOUT;
	}

	/* RawData key frames carry no FieldCount: the layout has it. */
	if (lay && type == LG_UADP_DSM_KEY_FRAME)
		n = lay->nfields;
	else if ((err = rd_u16(r, &n)))
		return err;
	if ((unsigned int)m->nfields + n > LG_UADP_MAX_FIELDS)
		return -LG_UADP_CAPACITY;
	for (unsigned int i = 0; i < n; i++) {
		index = (uint16_t)i;
		if (type == LG_UADP_DSM_DELTA_FRAME && (err = rd_u16(r, &index)))
			return err;
		err = rd_field(r, enc, lay, index, &m->fields[m->nfields]);
		if (err)
			return err;
		m->nfields++;
	}
	d->field_count = n;
	return 0;
}

static int decode_pubid(struct lg_uadp_msg *m, struct rd *r)
{
	uint8_t b = 0;
	uint16_t w = 0;
	uint32_t l = 0;
	int err;

	switch (lg_uadp_pub_type(m)) {
	case LG_UADP_PUBID_BYTE:
		err = rd_u8(r, &b);
		m->pub_num = b;
		return err;
	case LG_UADP_PUBID_UINT16:
		err = rd_u16(r, &w);
		m->pub_num = w;
		return err;
	case LG_UADP_PUBID_UINT32:
		err = rd_u32(r, &l);
		m->pub_num = l;
		return err;
	case LG_UADP_PUBID_UINT64:
		return rd_u64(r, &m->pub_num);
	case LG_UADP_PUBID_STRING:
		err = rd_u32(r, &l);
		if (err)
			return err;
		/* A null String cannot identify a publisher. */
		if (l > INT32_MAX)
			return -LG_UADP_BAD_LENGTH;
		m->pub_str_len = l;
		return rd_bytes(r, l, &m->pub_str);
	default:
		return -LG_UADP_BAD_FLAGS;
	}
}

static int decode_group_header(struct lg_uadp_msg *m, struct rd *r)
{
	uint8_t gf;
	int err;

	err = rd_u8(r, &gf);
	if (err)
		return err;
	if (gf & LG_UADP_G_RESERVED)
		return -LG_UADP_BAD_FLAGS;
	m->group_flags = gf;
	if ((gf & LG_UADP_G_WRITER_GROUP_ID) && (err = rd_u16(r, &m->writer_group_id)))
		return err;
	if ((gf & LG_UADP_G_GROUP_VERSION) && (err = rd_u32(r, &m->group_version)))
		return err;
	if ((gf & LG_UADP_G_NM_NUMBER) && (err = rd_u16(r, &m->nm_number)))
		return err;
	if ((gf & LG_UADP_G_SEQUENCE) && (err = rd_u16(r, &m->group_seq)))
		return err;
	return 0;
}

static int decode_promoted(struct lg_uadp_msg *m, struct rd *r)
{
	const uint8_t *p;
	struct rd pr;
	int err;

	err = rd_u16(r, &m->promoted_size);
	if (err)
		return err;
	err = rd_bytes(r, m->promoted_size, &p);
	if (err)
		return err;
	pr = (struct rd){ .p = r->p, .off = (size_t)(p - r->p), .end = r->off };
	while (pr.off < pr.end) {
		if (m->promoted_count == LG_UADP_MAX_PROMOTED)
			return -LG_UADP_CAPACITY;
		memset(&m->promoted[m->promoted_count], 0, sizeof(m->promoted[0]));
		err = rd_variant(&pr, &m->promoted[m->promoted_count], 0);
		/* The Size field said the fields end here, so running past it is a length error. */
		if (err == -LG_UADP_TRUNCATED)
			return -LG_UADP_BAD_LENGTH;
		if (err)
			return err;
		m->promoted_count++;
	}
	return 0;
}

static int decode_security_header(struct lg_uadp_msg *m, struct rd *r)
{
	int err;

	err = rd_u8(r, &m->sec_flags);
	if (err)
		return err;
	if (m->sec_flags & LG_UADP_S_RESERVED)
		return -LG_UADP_BAD_FLAGS;
	/* Encrypt-then-sign: encrypted alone would let anyone flip clear-text bits. */
	if ((m->sec_flags & LG_UADP_S_ENCRYPTED) && !(m->sec_flags & LG_UADP_S_SIGNED))
		return -LG_UADP_NOT_SIGNED;
	err = rd_u32(r, &m->token_id);
	if (err)
		return err;
	err = rd_u8(r, &m->nonce_len);
	if (err)
		return err;
	if (m->nonce_len > LG_UADP_MAX_NONCE)
		return -LG_UADP_CAPACITY;
	err = rd_bytes(r, m->nonce_len, &m->nonce);
	if (err)
		return err;
	if (m->sec_flags & LG_UADP_S_FOOTER)
		return rd_u16(r, &m->footer_size);
	return 0;
}

/* With a PayloadHeader: Sizes[] (when more than one) delimit the DataSetMessages. */
static int decode_payload_sized(struct lg_uadp_msg *m, struct rd *r,
				const struct lg_uadp_layouts *raw)
{
	uint16_t sizes[LG_UADP_MAX_DSM];
	uint64_t sum = 0;
	struct rd dr;
	int err;

	if (m->dsm_count > 1) {
		for (unsigned int i = 0; i < m->dsm_count; i++) {
			err = rd_u16(r, &sizes[i]);
			if (err)
				return err;
			if (!sizes[i])
				return -LG_UADP_BAD_LENGTH;
			sum += sizes[i];
		}
		if (sum > r->end - r->off)
			return -LG_UADP_TRUNCATED;
		if (sum < r->end - r->off)
			return -LG_UADP_BAD_LENGTH;
	} else {
		if (r->end - r->off > UINT16_MAX)
			return -LG_UADP_BAD_LENGTH;
		sizes[0] = (uint16_t)(r->end - r->off);
	}

	for (unsigned int i = 0; i < m->dsm_count; i++) {
		dr = (struct rd){ .p = r->p, .off = r->off, .end = r->off + sizes[i] };
		m->dsm[i].size = sizes[i];
		m->dsm[i].position = (uint8_t)(i + 1);
		err = decode_dsm(m, &m->dsm[i], &dr, raw);
		if (err)
			return err;
		r->off += sizes[i];
	}
	return 0;
}

/*
 * Without a PayloadHeader, as open62541 sends several writers' DataSetMessages: one after
 * the other until the payload ends, each as long as its own encoding says. An invalid
 * DataSetMessage or a keep-alive has no length of its own: it takes the rest (padding).
 */
static int decode_payload_seq(struct lg_uadp_msg *m, struct rd *r,
			      const struct lg_uadp_layouts *raw)
{
	struct lg_uadp_dsm *d;
	size_t start;
	int err;

	m->dsm_count = 0;
	do {
		if (m->dsm_count == LG_UADP_MAX_DSM)
			return -LG_UADP_CAPACITY;
		d = &m->dsm[m->dsm_count];
		d->writer_id = 0;
		d->position = (uint8_t)(m->dsm_count + 1);
		start = r->off;
		err = decode_dsm(m, d, r, raw);
		if (err)
			return err;
		if (!(d->flags1 & LG_UADP_D1_VALID) ||
		    lg_uadp_dsm_type(d) == LG_UADP_DSM_KEEP_ALIVE)
			r->off = r->end;
		if (r->off - start > UINT16_MAX)
			return -LG_UADP_BAD_LENGTH;
		d->size = (uint16_t)(r->off - start);
		m->dsm_count++;
	} while (r->off < r->end);
	return 0;
}

static int decode_payload(struct lg_uadp_msg *m, struct rd *r, const struct lg_uadp_layouts *raw)
{
	if (m->flags & LG_UADP_F_PAYLOAD_HEADER)
		return decode_payload_sized(m, r, raw);
	return decode_payload_seq(m, r, raw);
}

static int decode_headers(struct lg_uadp_msg *m, struct rd *r)
{
	uint64_t ts;
	uint8_t count;
	int err;

	err = rd_u8(r, &m->flags);
	if (err)
		return err;
	if ((m->flags & LG_UADP_F_VERSION_MASK) != LG_UADP_VERSION)
		return -LG_UADP_BAD_VERSION;
	if ((m->flags & LG_UADP_F_EXT1) && (err = rd_u8(r, &m->ext1)))
		return err;
	if ((m->ext1 & LG_UADP_X1_EXT2) && (err = rd_u8(r, &m->ext2)))
		return err;
	if (m->ext2 & LG_UADP_X2_RESERVED)
		return -LG_UADP_BAD_FLAGS;
	if (m->ext2 & LG_UADP_X2_CHUNK)
		return -LG_UADP_CHUNK;
	if (m->ext2 & LG_UADP_X2_MSG_TYPE_MASK)
		return -LG_UADP_DISCOVERY;
	if (lg_uadp_pub_type(m) > LG_UADP_PUBID_STRING)
		return -LG_UADP_BAD_FLAGS;

	if ((m->flags & LG_UADP_F_PUBLISHER_ID) && (err = decode_pubid(m, r)))
		return err;
	if ((m->ext1 & LG_UADP_X1_DATASET_CLASS_ID) &&
	    (err = rd_bytes(r, 16, &m->dataset_class_id)))
		return err;
	if ((m->flags & LG_UADP_F_GROUP_HEADER) && (err = decode_group_header(m, r)))
		return err;

	if (m->flags & LG_UADP_F_PAYLOAD_HEADER) {
		err = rd_u8(r, &count);
		if (err)
			return err;
		if (!count)
			return -LG_UADP_BAD_LENGTH;
		if (count > LG_UADP_MAX_DSM)
			return -LG_UADP_CAPACITY;
		for (unsigned int i = 0; i < count; i++) {
			err = rd_u16(r, &m->dsm[i].writer_id);
			if (err)
				return err;
		}
		m->dsm_count = count;
		m->writer_count = count;
	}

	if (m->ext1 & LG_UADP_X1_TIMESTAMP) {
		err = rd_u64(r, &ts);
		if (err)
			return err;
		m->timestamp = (int64_t)ts;
	}
	if ((m->ext1 & LG_UADP_X1_PICOSECONDS) && (err = rd_u16(r, &m->picoseconds)))
		return err;
	if ((m->ext2 & LG_UADP_X2_PROMOTED) && (err = decode_promoted(m, r)))
		return err;
	if ((m->ext1 & LG_UADP_X1_SECURITY) && (err = decode_security_header(m, r)))
		return err;
	return 0;
}

/* clear: buf is a decrypted copy, decode its payload although the flags say encrypted. */
static int decode(struct lg_uadp_msg *m, const uint8_t *buf, size_t len,
		  const struct lg_uadp_layouts *raw, int clear)
{
	struct rd r = { .p = buf, .off = 0, .end = len };
	uint64_t tail;
	int err;

	if (!m || (!buf && len))
		return -LG_UADP_BAD_ARG;
	/* Only the header part: dsm[] and fields[] are written as they are filled. */
	memset(m, 0, offsetof(struct lg_uadp_msg, dsm));
	if (len > UINT32_MAX)
		return -LG_UADP_BAD_LENGTH;
	m->buf = buf;
	m->len = (uint32_t)len;

	err = decode_headers(m, &r);
	if (err)
		return err;

	/* The footer and the signature sit at the end; the payload is what lies between. */
	if (m->sec_flags & LG_UADP_S_SIGNED)
		m->sig_len = LG_UADP_SIG_LEN;
	tail = (uint64_t)m->sig_len + m->footer_size;
	if (!rd_need(&r, tail))
		return -LG_UADP_TRUNCATED;
	r.end -= (size_t)tail;
	m->footer = buf + r.end;
	m->sig_off = (uint32_t)(r.end + m->footer_size);
	if (!m->sig_len)
		m->sig_off = m->len;
	m->payload_off = (uint32_t)r.off;

	if (m->sec_flags & LG_UADP_S_ENCRYPTED) {
		m->encrypted = 1;
		if (!clear) {
			/* Nothing of the payload can be read before lg_uadp_decrypt(). */
			m->dsm_count = 0;
			return 0;
		}
		m->decrypted = 1;
	}
	return decode_payload(m, &r, raw);
}

int lg_uadp_decode(struct lg_uadp_msg *m, const uint8_t *buf, size_t len,
		   const struct lg_uadp_layouts *raw)
{
	return decode(m, buf, len, raw, 0);
}

int lg_uadp_admit_hdr(const struct lg_uadp_msg *m, unsigned int dsm_idx,
		      struct lg_admit_uadp_hdr *h)
{
	/* An encrypted message not yet decrypted: its writers are known from its PayloadHeader
	 * (in clear), and without one the first DataSetMessage's position is 1. */
	unsigned int n = m && m->dsm_count ? m->dsm_count : m && m->writer_count ? m->writer_count : 1;

	if (!m || !h || dsm_idx >= n)
		return -LG_UADP_BAD_ARG;
	memset(h, 0, sizeof(*h));
	h->pub_type = LG_ADMIT_UADP_PUBID_NONE;
	if (m->flags & LG_UADP_F_PUBLISHER_ID) {
		h->pub_type = (uint8_t)lg_uadp_pub_type(m);
		if (h->pub_type == LG_UADP_PUBID_STRING) {
			if (m->pub_str_len > LG_ADMIT_UADP_STR_MAX)
				return -LG_UADP_CAPACITY;
			h->pub_str_len = (uint8_t)m->pub_str_len;
			h->pub_str = m->pub_str;
		} else {
			h->pub_num = m->pub_num;
		}
	}
	if ((m->flags & LG_UADP_F_GROUP_HEADER) && (m->group_flags & LG_UADP_G_WRITER_GROUP_ID))
		h->writer_group_id = m->writer_group_id;
	h->by_position = !(m->flags & LG_UADP_F_PAYLOAD_HEADER);
	h->writer = h->by_position ? (uint16_t)(dsm_idx + 1) : m->dsm[dsm_idx].writer_id;
	return 0;
}

unsigned lg_uadp_find_layouts(const struct lg_uadp_msg *m, lg_uadp_layout_fn find, void *ctx,
			      struct lg_uadp_layout *v, struct lg_uadp_layouts *out)
{
	int by_pos = !(m->flags & LG_UADP_F_PAYLOAD_HEADER);
	unsigned n = 0, writers = by_pos ? LG_UADP_MAX_DSM : m->writer_count;
	struct lg_admit_uadp_hdr h;

	out->v = v;
	out->n = 0;
	if (lg_uadp_admit_hdr(m, 0, &h))
		return 0;
	for (unsigned i = 0; i < writers; i++) {
		h.writer = by_pos ? (uint16_t)(i + 1) : m->dsm[i].writer_id;
		if (find(ctx, &h, &v[n])) {
			/* By position, layout i is the i-th one: the first gap ends them. */
			if (by_pos)
				break;
			continue;
		}
		v[n].writer_id = h.writer;
		n++;
	}
	out->n = n;
	return n;
}

int lg_uadp_device_key(const struct lg_uadp_msg *m, unsigned int dsm_idx,
		       struct lg_admit_uadp_key *key)
{
	struct lg_admit_uadp_hdr h;
	int err;

	/* An encrypted message's writers are known from its PayloadHeader before decryption. */
	if (!m || !key || dsm_idx >= (m->dsm_count ? m->dsm_count : m->writer_count))
		return -LG_UADP_BAD_ARG;
	if (!(m->flags & LG_UADP_F_PUBLISHER_ID) || !(m->flags & LG_UADP_F_PAYLOAD_HEADER) ||
	    !(m->group_flags & LG_UADP_G_WRITER_GROUP_ID))
		return -LG_UADP_NO_IDENTITY;
	err = lg_uadp_admit_hdr(m, dsm_idx, &h);
	if (err)
		return err;
	/* With a PublisherId the source address is not read. */
	lg_admit_uadp_key_make(&h, LG_ADMIT_AF_INET, NULL, key);
	return 0;
}

static int sig_compare(const struct lg_uadp_msg *m, const uint8_t *mac, unsigned int mac_len)
{
	if (mac_len != LG_UADP_SIG_LEN)
		return -LG_UADP_CRYPTO;
	if (CRYPTO_memcmp(mac, m->buf + m->sig_off, LG_UADP_SIG_LEN))
		return -LG_UADP_BAD_SIGNATURE;
	return 0;
}

int lg_uadp_verify(const struct lg_uadp_msg *m, const uint8_t *key, size_t key_len)
{
	uint8_t mac[LG_HMAC_LEN];

	if (!m || !key || !key_len || key_len > INT32_MAX)
		return -LG_UADP_BAD_ARG;
	if (!m->sig_len)
		return -LG_UADP_NOT_SIGNED;
	if (lg_mac_once(key, key_len, m->buf, m->sig_off, mac))
		return -LG_UADP_CRYPTO;
	return sig_compare(m, mac, sizeof(mac));
}

int lg_uadp_verify_hmac(const struct lg_uadp_msg *m, struct lg_mac *h)
{
	if (!m || !h)
		return -LG_UADP_BAD_ARG;
	if (!m->sig_len)
		return -LG_UADP_NOT_SIGNED;
	switch (lg_mac_verify(h, m->buf, m->sig_off, m->buf + m->sig_off, LG_UADP_SIG_LEN)) {
	case 0:
		return 0;
	case -EBADMSG:
		return -LG_UADP_BAD_SIGNATURE;
	default:
		return -LG_UADP_CRYPTO;
	}
}

int lg_uadp_field_get_raw(const struct lg_uadp_field *f, uint32_t idx, uint64_t *out)
{
	const uint8_t *p;

	if (!f || !out || idx >= f->count)
		return -LG_UADP_BAD_ARG;
	p = f->data + (size_t)idx * lg_uadp_type_size(f->type);
	switch (f->type) {
	case LG_UADP_T_BOOLEAN:
	case LG_UADP_T_BYTE:
		*out = p[0];
		return 0;
	case LG_UADP_T_SBYTE:
		*out = (uint64_t)(int64_t)(int8_t)p[0];
		return 0;
	case LG_UADP_T_UINT16:
		*out = ld16(p);
		return 0;
	case LG_UADP_T_INT16:
		*out = (uint64_t)(int64_t)(int16_t)ld16(p);
		return 0;
	case LG_UADP_T_UINT32:
	case LG_UADP_T_FLOAT:
	case LG_UADP_T_STATUSCODE:
		*out = ld32(p);
		return 0;
	case LG_UADP_T_INT32:
		*out = (uint64_t)(int64_t)(int32_t)ld32(p);
		return 0;
	case LG_UADP_T_INT64:
	case LG_UADP_T_UINT64:
	case LG_UADP_T_DOUBLE:
	case LG_UADP_T_DATETIME:
		*out = ld64(p);
		return 0;
	default:
		return -LG_UADP_NOT_NUMERIC;
	}
}

int lg_uadp_field_get_f64(const struct lg_uadp_field *f, uint32_t idx, double *out)
{
	uint64_t v;
	uint32_t v32;
	float fl;
	double d;
	int err;

	if (!out || !f)
		return -LG_UADP_BAD_ARG;
	if (!lg_uadp_type_numeric(f->type))
		return -LG_UADP_NOT_NUMERIC;
	err = lg_uadp_field_get_raw(f, idx, &v);
	if (err)
		return err;
	switch (f->type) {
	case LG_UADP_T_BOOLEAN:
		*out = v ? 1.0 : 0.0;
		break;
	case LG_UADP_T_BYTE:
	case LG_UADP_T_UINT16:
	case LG_UADP_T_UINT32:
	case LG_UADP_T_UINT64:
		*out = (double)v;
		break;
	case LG_UADP_T_FLOAT:
		v32 = (uint32_t)v;
		memcpy(&fl, &v32, sizeof(fl));
		*out = fl;
		break;
	case LG_UADP_T_DOUBLE:
		memcpy(&d, &v, sizeof(d));
		*out = d;
		break;
	default: /* signed integers, already sign-extended */
		*out = (double)(int64_t)v;
		break;
	}
	return 0;
}

int lg_uadp_field_get_bytes(const struct lg_uadp_field *f, uint32_t idx, const uint8_t **p,
			    uint32_t *len)
{
	struct rd r;
	uint32_t n = 0;
	int is_null = 0, err;

	if (!f || !p || !len || idx >= f->count)
		return -LG_UADP_BAD_ARG;
	if (!type_is_bytes(f->type))
		return -LG_UADP_NOT_NUMERIC;
	if (!f->is_array) {
		*p = f->data;
		*len = f->len;
		return 0;
	}
	/* The decoder checked every element, so this walk stays inside data[0..len). */
	r = (struct rd){ .p = f->data, .off = 0, .end = f->len };
	for (uint32_t i = 0; i <= idx; i++) {
		err = rd_len(&r, &n, &is_null);
		if (err || !rd_need(&r, n))
			return -LG_UADP_BAD_ARG;
		*p = is_null ? NULL : r.p + r.off;
		r.off += n;
	}
	*len = n;
	return 0;
}

int lg_uadp_dsm_values(const struct lg_uadp_msg *m, unsigned int dsm_idx, double *out,
		       size_t cap)
{
	const struct lg_uadp_dsm *d;
	const struct lg_uadp_field *f;
	size_t n = 0;

	if (!m || dsm_idx >= m->dsm_count || (!out && cap))
		return -LG_UADP_BAD_ARG;
	d = &m->dsm[dsm_idx];
	for (unsigned int i = 0; i < d->field_count; i++) {
		f = &m->fields[d->first_field + i];
		if (!lg_uadp_type_numeric(f->type))
			continue;
		if (f->count > cap - n)
			return -LG_UADP_CAPACITY;
		for (uint32_t j = 0; j < f->count; j++)
			lg_uadp_field_get_f64(f, j, &out[n++]);
	}
	if (n > INT32_MAX)
		return -LG_UADP_CAPACITY;
	return (int)n;
}

/* ---- keys, decryption ---- */

struct lg_uadp_keys {
	struct lg_mac *mac;
	EVP_CIPHER_CTX *ctr; /* keyed once; each message only sets its counter block */
	uint8_t key_nonce[LG_UADP_KEY_NONCE_LEN];
};

void lg_uadp_keys_free(struct lg_uadp_keys *k)
{
	if (!k)
		return;
	lg_mac_free(k->mac);
	EVP_CIPHER_CTX_free(k->ctr);
	OPENSSL_cleanse(k->key_nonce, sizeof(k->key_nonce));
	free(k);
}

int lg_uadp_keys_new(struct lg_uadp_keys **kp, const uint8_t *sign_key, size_t sign_len,
		     const uint8_t *enc_key, size_t enc_len, const uint8_t *key_nonce,
		     size_t key_nonce_len)
{
	const EVP_CIPHER *cipher = NULL;
	struct lg_uadp_keys *k;

	if (!kp || !sign_key)
		return -LG_UADP_BAD_ARG;
	*kp = NULL;
	if (sign_len != LG_UADP_SIGN_KEY_LEN)
		return -LG_UADP_BAD_POLICY;
	if (enc_len == 16)
		cipher = EVP_aes_128_ctr();
	else if (enc_len == 32)
		cipher = EVP_aes_256_ctr();
	else if (enc_len)
		return -LG_UADP_BAD_POLICY;
	if (cipher && (!enc_key || !key_nonce))
		return -LG_UADP_BAD_ARG;
	if (cipher && key_nonce_len != LG_UADP_KEY_NONCE_LEN)
		return -LG_UADP_BAD_POLICY;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -LG_UADP_CRYPTO;
	if (lg_mac_new(&k->mac, sign_key, sign_len))
		goto err_free;
	if (cipher) {
		k->ctr = EVP_CIPHER_CTX_new();
		if (!k->ctr || !EVP_EncryptInit_ex(k->ctr, cipher, NULL, enc_key, NULL))
			goto err_free;
		memcpy(k->key_nonce, key_nonce, LG_UADP_KEY_NONCE_LEN);
	}
	*kp = k;
	return 0;
err_free:
	lg_uadp_keys_free(k);
	return -LG_UADP_CRYPTO;
}

int lg_uadp_verify_keys(const struct lg_uadp_msg *m, struct lg_uadp_keys *k)
{
	if (!m || !k)
		return -LG_UADP_BAD_ARG;
	return lg_uadp_verify_hmac(m, k->mac);
}

/*
 * AES-CTR over n bytes of in into out, with the counter block of OPC 10000-14 8.4.3:
 * KeyNonce (4) | MessageNonce (8) | block counter (4, big-endian, starting at 1).
 */
static int ctr_crypt(struct lg_uadp_keys *k, const uint8_t *msg_nonce, const uint8_t *in,
		     uint8_t *out, size_t n)
{
	uint8_t iv[16];
	int outl = 0;

	if (n > INT32_MAX)
		return -LG_UADP_BAD_LENGTH;
	memcpy(iv, k->key_nonce, LG_UADP_KEY_NONCE_LEN);
	memcpy(iv + LG_UADP_KEY_NONCE_LEN, msg_nonce, LG_UADP_MSG_NONCE_LEN);
	iv[12] = 0;
	iv[13] = 0;
	iv[14] = 0;
	iv[15] = 1;
	if (!EVP_EncryptInit_ex(k->ctr, NULL, NULL, NULL, iv) ||
	    !EVP_EncryptUpdate(k->ctr, out, &outl, in, (int)n) || (size_t)outl != n)
		return -LG_UADP_CRYPTO;
	return 0;
}

int lg_uadp_decrypt(struct lg_uadp_msg *m, struct lg_uadp_keys *k, uint8_t *out, size_t cap,
		    const struct lg_uadp_layouts *raw)
{
	int err;

	if (!m || !out || !m->encrypted || m->decrypted || cap < m->len)
		return -LG_UADP_BAD_ARG;
	if (!k)
		return -LG_UADP_ENCRYPTED_NO_KEY;
	if (!k->ctr)
		return -LG_UADP_BAD_POLICY;
	if (m->nonce_len != LG_UADP_MSG_NONCE_LEN)
		return -LG_UADP_BAD_NONCE;
	/* out may be the message itself (a writable receive buffer): decrypt in place. */
	if (out != m->buf)
		memcpy(out, m->buf, m->payload_off);
	err = ctr_crypt(k, m->nonce, m->buf + m->payload_off, out + m->payload_off,
			m->sig_off - m->payload_off);
	if (err)
		return err;
	if (out != m->buf)
		memcpy(out + m->sig_off, m->buf + m->sig_off, m->len - m->sig_off);
	return decode(m, out, m->len, raw, 1);
}

/* ---- encoder ---- */

struct wr {
	uint8_t *p;
	size_t off;
	size_t cap;
};

static int wr_bytes(struct wr *w, const void *src, size_t n)
{
	if (w->cap - w->off < n)
		return -LG_UADP_BAD_ARG;
	if (n) {
		if (src)
			memcpy(w->p + w->off, src, n);
		else
			memset(w->p + w->off, 0, n);
	}
	w->off += n;
	return 0;
}

static int wr_u8(struct wr *w, uint8_t v)
{
	return wr_bytes(w, &v, 1);
}

static int wr_u16(struct wr *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	return wr_bytes(w, b, 2);
}

static int wr_u32(struct wr *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	return wr_bytes(w, b, 4);
}

static int wr_u64(struct wr *w, uint64_t v)
{
	int err = wr_u32(w, (uint32_t)v);

	return err ? err : wr_u32(w, (uint32_t)(v >> 32));
}

static void st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* Elements as the field holds them (see struct lg_uadp_field), checked for consistency. */
static int wr_variant(struct wr *w, const struct lg_uadp_field *f)
{
	unsigned int size = lg_uadp_type_size(f->type);
	size_t len = f->len;
	int err;

	if (f->type == LG_UADP_T_NULL)
		return wr_u8(w, 0);
	if (f->type > LG_UADP_T_MAX)
		return -LG_UADP_UNSUPPORTED_ENCODING;
	if (!f->is_array && f->count != 1)
		return -LG_UADP_BAD_ARG;
	if (f->count > INT32_MAX || f->ndims > (f->is_array ? UINT8_MAX : 0))
		return -LG_UADP_BAD_ARG;
	if (size)
		len = (size_t)f->count * size;
	if (len > INT32_MAX)
		return -LG_UADP_BAD_ARG;
	if ((len && !f->data) || (f->ndims && !f->dims))
		return -LG_UADP_BAD_ARG;
	err = wr_u8(w, (uint8_t)(f->type | (f->is_array ? 0x80 : 0) | (f->ndims ? 0x40 : 0)));
	if (!err && f->is_array)
		err = wr_u32(w, f->count);
	/* A String-like scalar is its bytes; NULL data is the null value. */
	if (!err && !f->is_array && type_is_bytes(f->type))
		err = wr_u32(w, f->data ? (uint32_t)len : UINT32_MAX);
	if (!err)
		err = wr_bytes(w, f->data, len);
	if (!err && f->ndims)
		err = wr_u32(w, f->ndims);
	if (!err && f->ndims)
		err = wr_bytes(w, f->dims, 4u * f->ndims);
	return err;
}

static int wr_datavalue(struct wr *w, const struct lg_uadp_field *f)
{
	uint8_t mask = f->dv_mask;
	int err;

	if (mask & LG_UADP_DV_RESERVED)
		return -LG_UADP_BAD_ARG;
	err = wr_u8(w, mask);
	if (!err && (mask & LG_UADP_DV_VALUE))
		err = wr_variant(w, f);
	if (!err && (mask & LG_UADP_DV_STATUS))
		err = wr_u32(w, f->status);
	if (!err && (mask & LG_UADP_DV_SOURCE_TS))
		err = wr_u64(w, (uint64_t)f->source_ts);
	if (!err && (mask & LG_UADP_DV_SOURCE_PS))
		err = wr_u16(w, f->source_ps);
	if (!err && (mask & LG_UADP_DV_SERVER_TS))
		err = wr_u64(w, (uint64_t)f->server_ts);
	if (!err && (mask & LG_UADP_DV_SERVER_PS))
		err = wr_u16(w, f->server_ps);
	return err;
}

static int wr_raw(struct wr *w, const struct lg_uadp_raw_field *lf, const struct lg_uadp_field *f)
{
	unsigned int size = lg_uadp_type_size(lf->type);
	int err;

	if (lf->type == LG_UADP_T_STRING || lf->type == LG_UADP_T_BYTESTRING) {
		/* Int32 length, the bytes, zero padding to MaxStringLength (null: -1, padded) */
		if (f->type != lf->type || f->is_array || !lf->max_len)
			return -LG_UADP_BAD_ARG;
		if (f->len > lf->max_len)
			return -LG_UADP_BAD_LENGTH;
		err = wr_u32(w, f->data ? f->len : UINT32_MAX);
		if (!err && f->data)
			err = wr_bytes(w, f->data, f->len);
		if (!err)
			err = wr_bytes(w, NULL, lf->max_len - (f->data ? f->len : 0));
		return err;
	}
	if (!size || f->type != lf->type || !!lf->max_len != !!f->is_array)
		return -LG_UADP_BAD_ARG;
	if (f->count && !f->data)
		return -LG_UADP_BAD_ARG;
	if (!lf->max_len)
		return f->count == 1 ? wr_bytes(w, f->data, size) : -LG_UADP_BAD_ARG;
	if (f->count > lf->max_len)
		return -LG_UADP_BAD_LENGTH;
	err = wr_u32(w, f->count);
	if (!err)
		err = wr_bytes(w, f->data, (size_t)f->count * size);
	if (!err)
		err = wr_bytes(w, NULL, (size_t)(lf->max_len - f->count) * size);
	return err;
}

static int encode_dsm(const struct lg_uadp_msg *m, const struct lg_uadp_dsm *d, struct wr *w,
		      const struct lg_uadp_layouts *raw)
{
	const struct lg_uadp_layout *lay = NULL;
	const struct lg_uadp_field *f;
	unsigned int enc = lg_uadp_dsm_encoding(d), type = lg_uadp_dsm_type(d);
	int err;

	err = wr_u8(w, d->flags1);
	if (err || !(d->flags1 & LG_UADP_D1_VALID))
		return err;
	if ((d->flags1 & LG_UADP_D1_FLAGS2) && (err = wr_u8(w, d->flags2)))
		return err;
	if (!(d->flags1 & LG_UADP_D1_FLAGS2) && d->flags2)
		return -LG_UADP_BAD_ARG;
	if ((d->flags1 & LG_UADP_D1_SEQUENCE) && (err = wr_u16(w, d->seq)))
		return err;
	if ((d->flags2 & LG_UADP_D2_TIMESTAMP) && (err = wr_u64(w, (uint64_t)d->timestamp)))
		return err;
	if ((d->flags2 & LG_UADP_D2_PICOSECONDS) && (err = wr_u16(w, d->picoseconds)))
		return err;
	if ((d->flags1 & LG_UADP_D1_STATUS) && (err = wr_u16(w, d->status)))
		return err;
	if ((d->flags1 & LG_UADP_D1_CFG_MAJOR) && (err = wr_u32(w, d->cfg_major)))
		return err;
	if ((d->flags1 & LG_UADP_D1_CFG_MINOR) && (err = wr_u32(w, d->cfg_minor)))
		return err;

	if (type == LG_UADP_DSM_KEEP_ALIVE)
		return 0;
	if (type != LG_UADP_DSM_KEY_FRAME && type != LG_UADP_DSM_DELTA_FRAME)
		return -LG_UADP_UNSUPPORTED_MSG;
	if (enc == 3)
		return -LG_UADP_BAD_ARG;
	if ((unsigned int)d->first_field + d->field_count > m->nfields ||
	    m->nfields > LG_UADP_MAX_FIELDS)
		return -LG_UADP_BAD_ARG;
	if (enc == LG_UADP_ENC_RAW) {
		lay = find_layout(m, d, raw);
		if (!lay)
			return -LG_UADP_NO_LAYOUT;
		if (type == LG_UADP_DSM_KEY_FRAME && lay->nfields != d->field_count)
			return -LG_UADP_BAD_ARG;
	}
	if (!lay || type == LG_UADP_DSM_DELTA_FRAME)
		err = wr_u16(w, d->field_count);
	for (unsigned int i = 0; !err && i < d->field_count; i++) {
		f = &m->fields[d->first_field + i];
		if (type == LG_UADP_DSM_DELTA_FRAME)
			err = wr_u16(w, f->index);
		if (err)
			break;
		if (enc == LG_UADP_ENC_VARIANT)
			err = wr_variant(w, f);
		else if (enc == LG_UADP_ENC_DATAVALUE)
			err = wr_datavalue(w, f);
		else if (type == LG_UADP_DSM_DELTA_FRAME && f->index >= lay->nfields)
			err = -LG_UADP_BAD_ARG;
		else if (type == LG_UADP_DSM_DELTA_FRAME)
			err = wr_raw(w, &lay->fields[f->index], f);
		else
			err = wr_raw(w, &lay->fields[i], f);
	}
	return err;
}

static int encode_headers(const struct lg_uadp_msg *m, struct wr *w)
{
	size_t at;
	int err;

	err = wr_u8(w, m->flags);
	if (!err && (m->flags & LG_UADP_F_EXT1))
		err = wr_u8(w, m->ext1);
	if (!err && (m->ext1 & LG_UADP_X1_EXT2))
		err = wr_u8(w, m->ext2);
	if (err)
		return err;

	if (m->flags & LG_UADP_F_PUBLISHER_ID) {
		switch (lg_uadp_pub_type(m)) {
		case LG_UADP_PUBID_BYTE:
			err = wr_u8(w, (uint8_t)m->pub_num);
			break;
		case LG_UADP_PUBID_UINT16:
			err = wr_u16(w, (uint16_t)m->pub_num);
			break;
		case LG_UADP_PUBID_UINT32:
			err = wr_u32(w, (uint32_t)m->pub_num);
			break;
		case LG_UADP_PUBID_UINT64:
			err = wr_u64(w, m->pub_num);
			break;
		case LG_UADP_PUBID_STRING:
			if (m->pub_str_len > INT32_MAX || (m->pub_str_len && !m->pub_str))
				return -LG_UADP_BAD_ARG;
			err = wr_u32(w, m->pub_str_len);
			if (!err)
				err = wr_bytes(w, m->pub_str, m->pub_str_len);
			break;
		default:
			return -LG_UADP_BAD_FLAGS;
		}
	}
	if (!err && (m->ext1 & LG_UADP_X1_DATASET_CLASS_ID))
		err = wr_bytes(w, m->dataset_class_id, 16);
	if (!err && (m->flags & LG_UADP_F_GROUP_HEADER)) {
		err = wr_u8(w, m->group_flags);
		if (!err && (m->group_flags & LG_UADP_G_WRITER_GROUP_ID))
			err = wr_u16(w, m->writer_group_id);
		if (!err && (m->group_flags & LG_UADP_G_GROUP_VERSION))
			err = wr_u32(w, m->group_version);
		if (!err && (m->group_flags & LG_UADP_G_NM_NUMBER))
			err = wr_u16(w, m->nm_number);
		if (!err && (m->group_flags & LG_UADP_G_SEQUENCE))
			err = wr_u16(w, m->group_seq);
	}
	if (!err && (m->flags & LG_UADP_F_PAYLOAD_HEADER)) {
		err = wr_u8(w, m->dsm_count);
		for (unsigned int i = 0; !err && i < m->dsm_count; i++)
			err = wr_u16(w, m->dsm[i].writer_id);
	}
	if (!err && (m->ext1 & LG_UADP_X1_TIMESTAMP))
		err = wr_u64(w, (uint64_t)m->timestamp);
	if (!err && (m->ext1 & LG_UADP_X1_PICOSECONDS))
		err = wr_u16(w, m->picoseconds);
	if (!err && (m->ext2 & LG_UADP_X2_PROMOTED)) {
		if (m->promoted_count > LG_UADP_MAX_PROMOTED)
			return -LG_UADP_BAD_ARG;
		at = w->off;
		err = wr_u16(w, 0);
		for (unsigned int i = 0; !err && i < m->promoted_count; i++)
			err = wr_variant(w, &m->promoted[i]);
		if (!err && w->off - at - 2 > UINT16_MAX)
			return -LG_UADP_BAD_LENGTH;
		if (!err)
			st16(w->p + at, (uint16_t)(w->off - at - 2));
	}
	if (!err && (m->ext1 & LG_UADP_X1_SECURITY)) {
		if ((m->nonce_len && !m->nonce) || m->nonce_len > LG_UADP_MAX_NONCE)
			return -LG_UADP_BAD_ARG;
		err = wr_u8(w, m->sec_flags);
		if (!err)
			err = wr_u32(w, m->token_id);
		if (!err)
			err = wr_u8(w, m->nonce_len);
		if (!err)
			err = wr_bytes(w, m->nonce, m->nonce_len);
		if (!err && (m->sec_flags & LG_UADP_S_FOOTER))
			err = wr_u16(w, m->footer_size);
	}
	return err;
}

static int encode(const struct lg_uadp_msg *m, const struct lg_uadp_layouts *raw,
		  struct lg_mac *mac, const uint8_t *key, size_t key_len, struct lg_uadp_keys *k,
		  uint8_t *out, size_t cap)
{
	struct wr w = { .p = out, .off = 0, .cap = cap };
	int is_signed, is_encrypted, err;
	size_t sizes_at = 0, start, payload_at;

	if (!m || !out || cap > INT32_MAX)
		return -LG_UADP_BAD_ARG;
	if (!m->dsm_count || m->dsm_count > LG_UADP_MAX_DSM)
		return -LG_UADP_BAD_ARG;
	is_signed = (m->ext1 & LG_UADP_X1_SECURITY) && (m->sec_flags & LG_UADP_S_SIGNED);
	is_encrypted = (m->ext1 & LG_UADP_X1_SECURITY) && (m->sec_flags & LG_UADP_S_ENCRYPTED);
	if (is_signed && !mac && (!key || !key_len || key_len > INT32_MAX))
		return -LG_UADP_BAD_ARG;
	if (is_encrypted && !k)
		return -LG_UADP_ENCRYPTED_NO_KEY;
	if (is_encrypted && !is_signed)
		return -LG_UADP_NOT_SIGNED;
	if (is_encrypted && !k->ctr)
		return -LG_UADP_BAD_POLICY;
	if (is_encrypted && m->nonce_len != LG_UADP_MSG_NONCE_LEN)
		return -LG_UADP_BAD_NONCE;

	err = encode_headers(m, &w);
	if (err)
		return err;
	payload_at = w.off;

	if (m->dsm_count > 1 && (m->flags & LG_UADP_F_PAYLOAD_HEADER)) {
		sizes_at = w.off;
		err = wr_bytes(&w, NULL, 2u * m->dsm_count);
		if (err)
			return err;
	}
	for (unsigned int i = 0; i < m->dsm_count; i++) {
		struct lg_uadp_dsm d = m->dsm[i];

		d.position = (uint8_t)(i + 1);
		start = w.off;
		err = encode_dsm(m, &d, &w, raw);
		if (err)
			return err;
		if (w.off - start > UINT16_MAX)
			return -LG_UADP_BAD_LENGTH;
		if (sizes_at)
			st16(out + sizes_at + 2 * i, (uint16_t)(w.off - start));
	}

	if ((m->ext1 & LG_UADP_X1_SECURITY) && (m->sec_flags & LG_UADP_S_FOOTER)) {
		err = wr_bytes(&w, m->footer, m->footer_size);
		if (err)
			return err;
	}
	/* Encrypt-then-sign: payload and footer in place, then the signature over all. */
	if (is_encrypted) {
		err = ctr_crypt(k, m->nonce, out + payload_at, out + payload_at,
				w.off - payload_at);
		if (err)
			return err;
	}
	if (is_signed) {
		if (w.cap - w.off < LG_UADP_SIG_LEN)
			return -LG_UADP_BAD_ARG;
		if (mac) {
			if (lg_mac_sha256(mac, out, w.off, out + w.off))
				return -LG_UADP_CRYPTO;
		} else if (lg_mac_once(key, key_len, out, w.off, out + w.off)) {
			return -LG_UADP_CRYPTO;
		}
		w.off += LG_UADP_SIG_LEN;
	}
	return (int)w.off;
}

int lg_uadp_encode(const struct lg_uadp_msg *m, const struct lg_uadp_layouts *raw,
		   const uint8_t *key, size_t key_len, uint8_t *out, size_t cap)
{
	return encode(m, raw, NULL, key, key_len, NULL, out, cap);
}

int lg_uadp_encode_keys(const struct lg_uadp_msg *m, const struct lg_uadp_layouts *raw,
			struct lg_uadp_keys *k, uint8_t *out, size_t cap)
{
	if (!k)
		return -LG_UADP_BAD_ARG;
	return encode(m, raw, k->mac, NULL, 0, k, out, cap);
}

unsigned lg_uadp_sample_fields(const struct lg_uadp_msg *m, unsigned int dsm_idx, uint32_t want,
			       unsigned max, const struct lg_uadp_field **f, uint8_t *idx,
			       uint32_t *count)
{
	const struct lg_uadp_dsm *dsm = &m->dsm[dsm_idx];
	uint32_t most = 0;
	unsigned n = 0;

	*count = 0;
	if (!want)
		for (unsigned fi = 0; fi < dsm->field_count; fi++) {
			const struct lg_uadp_field *fl = &m->fields[dsm->first_field + fi];

			if (lg_uadp_type_numeric(fl->type) && fl->count > most)
				most = fl->count;
		}
	for (unsigned fi = 0; fi < dsm->field_count; fi++) {
		const struct lg_uadp_field *fl = &m->fields[dsm->first_field + fi];
		unsigned x = fl->index;
		int chosen = want ? x < 32 && (want >> x & 1) : fl->count == most;

		if (!chosen || !lg_uadp_type_numeric(fl->type) || !fl->count)
			continue;
		if (n == max || (n && fl->count != *count))
			return max + 1;
		*count = fl->count;
		idx[n] = (uint8_t)(x < 255 ? x : 255);
		f[n++] = fl;
	}
	/* A channel this message lacks: its samples are not here. */
	if (want && n != (unsigned)__builtin_popcount(want))
		return 0;
	return n;
}
