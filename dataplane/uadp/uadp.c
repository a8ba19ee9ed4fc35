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
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

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
		return 4;
	case LG_UADP_T_INT64:
	case LG_UADP_T_UINT64:
	case LG_UADP_T_DOUBLE:
	case LG_UADP_T_DATETIME:
		return 8;
	default:
		return 0;
	}
}

static const char *const reason_names[LG_UADP_NREASONS] = {
	[LG_UADP_OK] = "ok",
	[LG_UADP_TRUNCATED] = "truncated",
	[LG_UADP_BAD_VERSION] = "bad_version",
	[LG_UADP_BAD_FLAGS] = "bad_flags",
	[LG_UADP_BAD_LENGTH] = "bad_length",
	[LG_UADP_UNSUPPORTED_MSG] = "unsupported_msg",
	[LG_UADP_UNSUPPORTED_ENCODING] = "unsupported_encoding",
	[LG_UADP_ENCRYPTED] = "encrypted",
	[LG_UADP_CAPACITY] = "capacity",
	[LG_UADP_NO_LAYOUT] = "no_layout",
	[LG_UADP_NOT_SIGNED] = "not_signed",
	[LG_UADP_BAD_SIGNATURE] = "bad_signature",
	[LG_UADP_BAD_ARG] = "bad_arg",
	[LG_UADP_CRYPTO] = "crypto",
	[LG_UADP_NO_IDENTITY] = "no_identity",
};

const char *lg_uadp_strerror(int reason)
{
	if (reason < 0)
		reason = -reason;
	if (reason >= LG_UADP_NREASONS)
		return "unknown";
	return reason_names[reason];
}

/*
 * A Variant (OPC 10000-6, 5.2.2.16) of the subset: a scalar or a one-dimensional
 * array of a fixed-size type, or the empty Variant.
 */
static int rd_variant(struct rd *r, struct lg_uadp_field *f)
{
	uint8_t mask;
	uint32_t len;
	unsigned int size;
	int err;

	err = rd_u8(r, &mask);
	if (err)
		return err;
	f->type = mask & 0x3f;
	f->max_len = 0;
	if (mask == 0) {
		f->data = r->p + r->off;
		f->count = 0;
		f->is_array = 0;
		return 0;
	}
	/* Bit 6 (ArrayDimensions) means a matrix: outside the subset. */
	if (mask & 0x40)
		return -LG_UADP_UNSUPPORTED_ENCODING;
	size = lg_uadp_type_size(f->type);
	if (!size)
		return -LG_UADP_UNSUPPORTED_ENCODING;
	f->is_array = !!(mask & 0x80);
	if (!f->is_array) {
		f->count = 1;
		return rd_bytes(r, size, &f->data);
	}
	err = rd_u32(r, &len);
	if (err)
		return err;
	/* Int32 length; -1 is the null array, other negative values are invalid. */
	if (len == UINT32_MAX)
		len = 0;
	else if (len > INT32_MAX)
		return -LG_UADP_BAD_LENGTH;
	f->count = len;
	return rd_bytes(r, (uint64_t)len * size, &f->data);
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
	int err;

	if (!size)
		return -LG_UADP_UNSUPPORTED_ENCODING;
	f->type = lf->type;
	f->max_len = lf->max_len;
	if (!lf->max_len) {
		f->is_array = 0;
		f->count = 1;
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
	return rd_bytes(r, (uint64_t)lf->max_len * size, &f->data);
}

static const struct lg_uadp_layout *find_layout(const struct lg_uadp_layouts *raw,
						 uint16_t writer_id)
{
	if (!raw)
		return NULL;
	for (unsigned int i = 0; i < raw->n; i++)
		if (raw->v[i].writer_id == writer_id)
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

static int decode_dsm(struct lg_uadp_msg *m, struct lg_uadp_dsm *d, struct rd *r,
		      const struct lg_uadp_layouts *raw)
{
	const struct lg_uadp_layout *lay;
	unsigned int enc, type;
	uint16_t n;
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
	if (type == LG_UADP_DSM_DELTA_FRAME || type == LG_UADP_DSM_EVENT)
		return -LG_UADP_UNSUPPORTED_MSG;
	/* Anything after the fields is padding up to a ConfiguredSize. */
	if (type == LG_UADP_DSM_KEEP_ALIVE)
		return 0;
	if (enc == LG_UADP_ENC_DATAVALUE)
		return -LG_UADP_UNSUPPORTED_ENCODING;

	if (enc == LG_UADP_ENC_RAW) {
		lay = find_layout(raw, d->writer_id);
		if (!lay)
			return -LG_UADP_NO_LAYOUT;
		if ((unsigned int)m->nfields + lay->nfields > LG_UADP_MAX_FIELDS)
			return -LG_UADP_CAPACITY;
		for (unsigned int i = 0; i < lay->nfields; i++) {
			err = rd_raw(r, &lay->fields[i], &m->fields[m->nfields]);
			if (err)
				return err;
			m->nfields++;
		}
		d->field_count = lay->nfields;
		return 0;
	}

	err = rd_u16(r, &n);
	if (err)
		return err;
	if ((unsigned int)m->nfields + n > LG_UADP_MAX_FIELDS)
		return -LG_UADP_CAPACITY;
	for (unsigned int i = 0; i < n; i++) {
		err = rd_variant(r, &m->fields[m->nfields]);
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
		err = rd_variant(&pr, &m->promoted[m->promoted_count]);
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
	if (m->sec_flags & LG_UADP_S_ENCRYPTED)
		return -LG_UADP_ENCRYPTED;
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

static int decode_payload(struct lg_uadp_msg *m, struct rd *r, const struct lg_uadp_layouts *raw)
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
		err = decode_dsm(m, &m->dsm[i], &dr, raw);
		if (err)
			return err;
		r->off += sizes[i];
	}
	return 0;
}

int lg_uadp_decode(struct lg_uadp_msg *m, const uint8_t *buf, size_t len,
		   const struct lg_uadp_layouts *raw)
{
	struct rd r = { .p = buf, .off = 0, .end = len };
	uint64_t tail, ts;
	uint8_t count;
	int err;

	if (!m || (!buf && len))
		return -LG_UADP_BAD_ARG;
	/* Only the header part: dsm[] and fields[] are written as they are filled. */
	memset(m, 0, offsetof(struct lg_uadp_msg, dsm));
	if (len > UINT32_MAX)
		return -LG_UADP_BAD_LENGTH;
	m->buf = buf;
	m->len = (uint32_t)len;

	err = rd_u8(&r, &m->flags);
	if (err)
		return err;
	if ((m->flags & LG_UADP_F_VERSION_MASK) != LG_UADP_VERSION)
		return -LG_UADP_BAD_VERSION;
	if ((m->flags & LG_UADP_F_EXT1) && (err = rd_u8(&r, &m->ext1)))
		return err;
	if ((m->ext1 & LG_UADP_X1_EXT2) && (err = rd_u8(&r, &m->ext2)))
		return err;
	if (m->ext2 & LG_UADP_X2_RESERVED)
		return -LG_UADP_BAD_FLAGS;
	if ((m->ext2 & LG_UADP_X2_CHUNK) || (m->ext2 & LG_UADP_X2_MSG_TYPE_MASK))
		return -LG_UADP_UNSUPPORTED_MSG;
	if (lg_uadp_pub_type(m) > LG_UADP_PUBID_STRING)
		return -LG_UADP_BAD_FLAGS;

	if ((m->flags & LG_UADP_F_PUBLISHER_ID) && (err = decode_pubid(m, &r)))
		return err;
	if ((m->ext1 & LG_UADP_X1_DATASET_CLASS_ID) &&
	    (err = rd_bytes(&r, 16, &m->dataset_class_id)))
		return err;
	if ((m->flags & LG_UADP_F_GROUP_HEADER) && (err = decode_group_header(m, &r)))
		return err;

	if (m->flags & LG_UADP_F_PAYLOAD_HEADER) {
		err = rd_u8(&r, &count);
		if (err)
			return err;
		if (!count)
			return -LG_UADP_BAD_LENGTH;
		if (count > LG_UADP_MAX_DSM)
			return -LG_UADP_CAPACITY;
		for (unsigned int i = 0; i < count; i++) {
			err = rd_u16(&r, &m->dsm[i].writer_id);
			if (err)
				return err;
		}
		m->dsm_count = count;
	} else {
		/* Without a PayloadHeader the reader is told there is one DataSetMessage. */
		m->dsm[0].writer_id = 0;
		m->dsm_count = 1;
	}

	if (m->ext1 & LG_UADP_X1_TIMESTAMP) {
		err = rd_u64(&r, &ts);
		if (err)
			return err;
		m->timestamp = (int64_t)ts;
	}
	if ((m->ext1 & LG_UADP_X1_PICOSECONDS) && (err = rd_u16(&r, &m->picoseconds)))
		return err;
	if ((m->ext2 & LG_UADP_X2_PROMOTED) && (err = decode_promoted(m, &r)))
		return err;
	if ((m->ext1 & LG_UADP_X1_SECURITY) && (err = decode_security_header(m, &r)))
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

	return decode_payload(m, &r, raw);
}

int lg_uadp_admit_hdr(const struct lg_uadp_msg *m, unsigned int dsm_idx,
		      struct lg_admit_uadp_hdr *h)
{
	if (!m || !h || dsm_idx >= m->dsm_count)
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

int lg_uadp_device_key(const struct lg_uadp_msg *m, unsigned int dsm_idx,
		       struct lg_admit_uadp_key *key)
{
	struct lg_admit_uadp_hdr h;
	int err;

	if (!m || !key || dsm_idx >= m->dsm_count)
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
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;

	if (!m || !key || !key_len || key_len > INT32_MAX)
		return -LG_UADP_BAD_ARG;
	if (!m->sig_len)
		return -LG_UADP_NOT_SIGNED;
	if (!HMAC(EVP_sha256(), key, (int)key_len, m->buf, m->sig_off, mac, &mac_len))
		return -LG_UADP_CRYPTO;
	return sig_compare(m, mac, mac_len);
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
		return -LG_UADP_UNSUPPORTED_ENCODING;
	}
}

int lg_uadp_field_get_f64(const struct lg_uadp_field *f, uint32_t idx, double *out)
{
	uint64_t v;
	uint32_t v32;
	float fl;
	double d;
	int err;

	if (!out)
		return -LG_UADP_BAD_ARG;
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
	default: /* signed integers and DateTime, already sign-extended */
		*out = (double)(int64_t)v;
		break;
	}
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
		if (f->type == LG_UADP_T_DATETIME || f->type == LG_UADP_T_NULL)
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

static int wr_variant(struct wr *w, const struct lg_uadp_field *f)
{
	unsigned int size = lg_uadp_type_size(f->type);
	int err;

	if (f->type == LG_UADP_T_NULL)
		return wr_u8(w, 0);
	if (!size)
		return -LG_UADP_UNSUPPORTED_ENCODING;
	if (!f->is_array && f->count != 1)
		return -LG_UADP_BAD_ARG;
	if (f->count > INT32_MAX || (f->count && !f->data))
		return -LG_UADP_BAD_ARG;
	err = wr_u8(w, (uint8_t)(f->type | (f->is_array ? 0x80 : 0)));
	if (!err && f->is_array)
		err = wr_u32(w, f->count);
	if (!err)
		err = wr_bytes(w, f->data, (size_t)f->count * size);
	return err;
}

static int wr_raw(struct wr *w, const struct lg_uadp_raw_field *lf, const struct lg_uadp_field *f)
{
	unsigned int size = lg_uadp_type_size(lf->type);
	int err;

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
	const struct lg_uadp_layout *lay;
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
	if (type != LG_UADP_DSM_KEY_FRAME)
		return -LG_UADP_UNSUPPORTED_MSG;
	if ((unsigned int)d->first_field + d->field_count > m->nfields ||
	    m->nfields > LG_UADP_MAX_FIELDS)
		return -LG_UADP_BAD_ARG;
	if (enc == LG_UADP_ENC_VARIANT) {
		err = wr_u16(w, d->field_count);
		for (unsigned int i = 0; !err && i < d->field_count; i++)
			err = wr_variant(w, &m->fields[d->first_field + i]);
		return err;
	}
	if (enc != LG_UADP_ENC_RAW)
		return -LG_UADP_UNSUPPORTED_ENCODING;
	lay = find_layout(raw, d->writer_id);
	if (!lay)
		return -LG_UADP_NO_LAYOUT;
	if (lay->nfields != d->field_count)
		return -LG_UADP_BAD_ARG;
	for (unsigned int i = 0; !err && i < d->field_count; i++)
		err = wr_raw(w, &lay->fields[i], &m->fields[d->first_field + i]);
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
		if (m->sec_flags & LG_UADP_S_ENCRYPTED)
			return -LG_UADP_ENCRYPTED;
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

int lg_uadp_encode(const struct lg_uadp_msg *m, const struct lg_uadp_layouts *raw,
		   const uint8_t *key, size_t key_len, uint8_t *out, size_t cap)
{
	struct wr w = { .p = out, .off = 0, .cap = cap };
	int is_signed, err;
	unsigned int mac_len = 0;
	size_t sizes_at = 0, start;

	if (!m || !out || cap > INT32_MAX)
		return -LG_UADP_BAD_ARG;
	if (!m->dsm_count || m->dsm_count > LG_UADP_MAX_DSM)
		return -LG_UADP_BAD_ARG;
	if (m->dsm_count > 1 && !(m->flags & LG_UADP_F_PAYLOAD_HEADER))
		return -LG_UADP_BAD_ARG;
	is_signed = (m->ext1 & LG_UADP_X1_SECURITY) && (m->sec_flags & LG_UADP_S_SIGNED);
	if (is_signed && (!key || !key_len || key_len > INT32_MAX))
		return -LG_UADP_BAD_ARG;

	err = encode_headers(m, &w);
	if (err)
		return err;

	if (m->dsm_count > 1) {
		sizes_at = w.off;
		err = wr_bytes(&w, NULL, 2u * m->dsm_count);
		if (err)
			return err;
	}
	for (unsigned int i = 0; i < m->dsm_count; i++) {
		start = w.off;
		err = encode_dsm(m, &m->dsm[i], &w, raw);
		if (err)
			return err;
		if (w.off - start > UINT16_MAX)
			return -LG_UADP_BAD_LENGTH;
		if (m->dsm_count > 1)
			st16(out + sizes_at + 2 * i, (uint16_t)(w.off - start));
	}

	if ((m->ext1 & LG_UADP_X1_SECURITY) && (m->sec_flags & LG_UADP_S_FOOTER)) {
		err = wr_bytes(&w, m->footer, m->footer_size);
		if (err)
			return err;
	}
	if (is_signed) {
		if (w.cap - w.off < LG_UADP_SIG_LEN)
			return -LG_UADP_BAD_ARG;
		if (!HMAC(EVP_sha256(), key, (int)key_len, out, w.off, out + w.off, &mac_len) ||
		    mac_len != LG_UADP_SIG_LEN)
			return -LG_UADP_CRYPTO;
		w.off += LG_UADP_SIG_LEN;
	}
	return (int)w.off;
}
