/* SPDX-License-Identifier: MIT */
/*
 * OPC UA PubSub UADP (OPC 10000-14) NetworkMessage decoder subset: the contract
 * between the data-plane workers, the feature extraction and the load generator.
 *
 * The decoder never allocates and never copies payload: it fills a caller-owned
 * struct lg_uadp_msg with fixed-capacity arrays whose pointers point into the
 * message buffer, so the buffer must outlive the decoded view. All wire integers
 * are little-endian (OPC 10000-6 binary encoding); field data pointers therefore
 * point at little-endian element bytes, read them through lg_uadp_field_get_f64()
 * or lg_uadp_field_get_raw(), never by casting.
 *
 * Layout of a NetworkMessage (all parts after the first byte are optional):
 *
 *   UADPVersion/Flags | ExtendedFlags1 | ExtendedFlags2 | PublisherId | DataSetClassId
 *   GroupHeader | PayloadHeader | Timestamp | PicoSeconds | PromotedFields
 *   SecurityHeader | Payload (Sizes[], DataSetMessages) | SecurityFooter | Signature
 *
 * Subset: DataSet NetworkMessages (no chunks, no discovery), not encrypted,
 * signed with HMAC-SHA256 (32-byte signature, as in the PubSub-Aes128-CTR and
 * PubSub-Aes256-CTR policies), DataSetMessages that are data key frames (Variant
 * or RawData field encoding) or keep-alives, fields of the fixed-size built-in
 * types Boolean..Double and DateTime, scalar or one-dimensional array.
 * docs/wire-format-uadp.md describes every field and the test vectors.
 */
#ifndef LINEGATE_UADP_H
#define LINEGATE_UADP_H

#include <stddef.h>
#include <stdint.h>

#include <linegate/admit.h>

#define LG_UADP_VERSION 1

/* Capacities of the decoded view; a message that needs more is rejected (LG_UADP_CAPACITY). */
#define LG_UADP_MAX_DSM 32       /* DataSetMessages per NetworkMessage */
#define LG_UADP_MAX_FIELDS 256   /* fields over all DataSetMessages of one message */
#define LG_UADP_MAX_PROMOTED 8   /* promoted fields */
#define LG_UADP_MAX_NONCE 32     /* MessageNonce bytes */
#define LG_UADP_SIG_LEN 32       /* HMAC-SHA256 */

/* UADPVersion/Flags (first byte) */
#define LG_UADP_F_VERSION_MASK 0x0f
#define LG_UADP_F_PUBLISHER_ID 0x10
#define LG_UADP_F_GROUP_HEADER 0x20
#define LG_UADP_F_PAYLOAD_HEADER 0x40
#define LG_UADP_F_EXT1 0x80

/* ExtendedFlags1 */
#define LG_UADP_X1_PUBID_TYPE_MASK 0x07
#define LG_UADP_X1_DATASET_CLASS_ID 0x08
#define LG_UADP_X1_SECURITY 0x10
#define LG_UADP_X1_TIMESTAMP 0x20
#define LG_UADP_X1_PICOSECONDS 0x40
#define LG_UADP_X1_EXT2 0x80

/* ExtendedFlags2 */
#define LG_UADP_X2_CHUNK 0x01
#define LG_UADP_X2_PROMOTED 0x02
#define LG_UADP_X2_MSG_TYPE_MASK 0x1c /* 000 DataSetMessage, 001/010 discovery */
#define LG_UADP_X2_RESERVED 0xe0

/* GroupFlags */
#define LG_UADP_G_WRITER_GROUP_ID 0x01
#define LG_UADP_G_GROUP_VERSION 0x02
#define LG_UADP_G_NM_NUMBER 0x04
#define LG_UADP_G_SEQUENCE 0x08
#define LG_UADP_G_RESERVED 0xf0

/* SecurityFlags */
#define LG_UADP_S_SIGNED 0x01
#define LG_UADP_S_ENCRYPTED 0x02
#define LG_UADP_S_FOOTER 0x04
#define LG_UADP_S_FORCE_KEY_RESET 0x08
#define LG_UADP_S_RESERVED 0xf0

/* DataSetFlags1 */
#define LG_UADP_D1_VALID 0x01
#define LG_UADP_D1_ENCODING_MASK 0x06 /* shifted by 1: enum lg_uadp_field_encoding */
#define LG_UADP_D1_SEQUENCE 0x08
#define LG_UADP_D1_STATUS 0x10
#define LG_UADP_D1_CFG_MAJOR 0x20
#define LG_UADP_D1_CFG_MINOR 0x40
#define LG_UADP_D1_FLAGS2 0x80

/* DataSetFlags2 */
#define LG_UADP_D2_TYPE_MASK 0x0f /* enum lg_uadp_dsm_type */
#define LG_UADP_D2_TIMESTAMP 0x10
#define LG_UADP_D2_PICOSECONDS 0x20
#define LG_UADP_D2_RESERVED 0xc0

enum lg_uadp_pubid_type {
	LG_UADP_PUBID_BYTE = 0,
	LG_UADP_PUBID_UINT16 = 1,
	LG_UADP_PUBID_UINT32 = 2,
	LG_UADP_PUBID_UINT64 = 3,
	LG_UADP_PUBID_STRING = 4,
};

enum lg_uadp_field_encoding {
	LG_UADP_ENC_VARIANT = 0,
	LG_UADP_ENC_RAW = 1,
	LG_UADP_ENC_DATAVALUE = 2, /* not in the subset */
};

enum lg_uadp_dsm_type {
	LG_UADP_DSM_KEY_FRAME = 0,
	LG_UADP_DSM_DELTA_FRAME = 1, /* not in the subset */
	LG_UADP_DSM_EVENT = 2,       /* not in the subset */
	LG_UADP_DSM_KEEP_ALIVE = 3,
};

/* OPC UA built-in type ids (OPC 10000-6, 5.1.2) of the subset. */
enum lg_uadp_type {
	LG_UADP_T_NULL = 0, /* empty Variant: a field without a value */
	LG_UADP_T_BOOLEAN = 1,
	LG_UADP_T_SBYTE = 2,
	LG_UADP_T_BYTE = 3,
	LG_UADP_T_INT16 = 4,
	LG_UADP_T_UINT16 = 5,
	LG_UADP_T_INT32 = 6,
	LG_UADP_T_UINT32 = 7,
	LG_UADP_T_INT64 = 8,
	LG_UADP_T_UINT64 = 9,
	LG_UADP_T_FLOAT = 10,
	LG_UADP_T_DOUBLE = 11,
	LG_UADP_T_DATETIME = 13, /* Int64, 100 ns ticks since 1601-01-01 UTC */
};

/*
 * Rejection reasons. Functions return the negated value (-LG_UADP_TRUNCATED, ...);
 * they are not errno values, so that every reason can have its own counter
 * (index a counter array with -ret). lg_uadp_strerror() names them.
 */
enum lg_uadp_reason {
	LG_UADP_OK = 0,
	LG_UADP_TRUNCATED = 1,        /* the message ends inside a field */
	LG_UADP_BAD_VERSION,          /* UADPVersion is not 1 */
	LG_UADP_BAD_FLAGS,            /* a reserved flag bit or PublisherId type is set */
	LG_UADP_BAD_LENGTH,           /* a length or size field is negative or inconsistent */
	LG_UADP_UNSUPPORTED_MSG,      /* chunk, discovery, delta frame or event message */
	LG_UADP_UNSUPPORTED_ENCODING, /* DataValue encoding; a type or shape outside the subset */
	LG_UADP_ENCRYPTED,            /* encrypted messages are not in the subset */
	LG_UADP_CAPACITY,             /* more DSMs, fields, promoted fields, nonce than fit */
	LG_UADP_NO_LAYOUT,            /* RawData DSM from a writer without a known layout */
	LG_UADP_NOT_SIGNED,           /* a signature was required but the message is not signed */
	LG_UADP_BAD_SIGNATURE,        /* HMAC-SHA256 does not match */
	LG_UADP_BAD_ARG,              /* caller error (NULL, too small an output buffer, bad key) */
	LG_UADP_CRYPTO,               /* libcrypto failed */
	LG_UADP_NO_IDENTITY,          /* no PublisherId, WriterGroupId or DataSetWriterId to map */
	LG_UADP_NREASONS,
};

/*
 * One field. For a scalar, count is 1 and is_array is 0. data points at count
 * little-endian elements of lg_uadp_type_size(type) bytes each, inside the
 * message buffer (or, for the encoder, inside the caller's memory).
 */
struct lg_uadp_field {
	const uint8_t *data;
	uint32_t count;
	uint8_t type;     /* enum lg_uadp_type */
	uint8_t is_array;
	uint16_t max_len; /* RawData arrays: padded length on the wire (from the layout) */
};

struct lg_uadp_dsm {
	uint16_t writer_id;   /* from the PayloadHeader; 0 when there is none */
	uint8_t flags1;       /* DataSetFlags1 as on the wire */
	uint8_t flags2;       /* DataSetFlags2, 0 when absent */
	uint16_t seq;         /* DataSetMessageSequenceNumber, 0 when absent */
	uint16_t status;      /* Status (high 16 bits of a StatusCode), 0 when absent */
	int64_t timestamp;    /* DateTime, 0 when absent */
	uint16_t picoseconds; /* 0 when absent */
	uint16_t field_count; /* fields of this DSM ... */
	uint16_t first_field; /* ... at msg->fields[first_field] */
	uint16_t size;        /* bytes on the wire, header included */
	uint32_t cfg_major;   /* ConfigurationVersion, 0 when absent */
	uint32_t cfg_minor;
	const uint8_t *start; /* first byte of the DSM header in the buffer */
};

struct lg_uadp_msg {
	const uint8_t *buf;
	uint32_t len;

	uint8_t flags; /* UADPVersion/Flags byte */
	uint8_t ext1;  /* ExtendedFlags1, 0 when absent */
	uint8_t ext2;  /* ExtendedFlags2, 0 when absent */
	uint8_t group_flags;

	/* PublisherId: numeric types in pub_num, String as pub_str/pub_str_len. */
	uint64_t pub_num;
	const uint8_t *pub_str;
	uint32_t pub_str_len;

	const uint8_t *dataset_class_id; /* 16-byte Guid as on the wire, NULL when absent */

	/* GroupHeader, fields 0 when absent */
	uint16_t writer_group_id;
	uint16_t nm_number;
	uint32_t group_version;
	uint16_t group_seq;

	uint16_t picoseconds;
	int64_t timestamp;

	/* PromotedFields, encoded as Variants on the wire */
	uint16_t promoted_size; /* bytes */
	uint8_t promoted_count;
	struct lg_uadp_field promoted[LG_UADP_MAX_PROMOTED];

	/* SecurityHeader */
	uint8_t sec_flags;
	uint8_t nonce_len;
	uint16_t footer_size;
	uint32_t token_id;
	const uint8_t *nonce;
	const uint8_t *footer;

	/* The signature covers buf[0 .. sig_off); sig_len is 0 when not signed. */
	uint32_t sig_off;
	uint32_t sig_len;

	uint8_t dsm_count;
	uint16_t nfields;
	struct lg_uadp_dsm dsm[LG_UADP_MAX_DSM];
	struct lg_uadp_field fields[LG_UADP_MAX_FIELDS];
};

/*
 * RawData carries no type information, so a reader needs the DataSetMetaData.
 * This is the part of it the subset uses, per DataSetWriter.
 */
struct lg_uadp_raw_field {
	uint8_t type;     /* enum lg_uadp_type, not NULL */
	uint8_t reserved;
	uint16_t max_len; /* 0: scalar; n: one-dimensional array padded to n elements */
};

struct lg_uadp_layout {
	uint16_t writer_id;
	uint16_t nfields;
	const struct lg_uadp_raw_field *fields;
};

struct lg_uadp_layouts {
	const struct lg_uadp_layout *v;
	unsigned int n;
};

/*
 * The identity a message maps to a device by is struct lg_admit_uadp_key (admit.h):
 * PublisherId (type and value), WriterGroupId and DataSetWriterId, fixed size and
 * zero-filled, the one layout the XDP program, user-space admission and the workers share.
 */

static inline unsigned int lg_uadp_pub_type(const struct lg_uadp_msg *m)
{
	return m->ext1 & LG_UADP_X1_PUBID_TYPE_MASK;
}

static inline unsigned int lg_uadp_dsm_encoding(const struct lg_uadp_dsm *d)
{
	return (d->flags1 & LG_UADP_D1_ENCODING_MASK) >> 1;
}

static inline unsigned int lg_uadp_dsm_type(const struct lg_uadp_dsm *d)
{
	return d->flags2 & LG_UADP_D2_TYPE_MASK;
}

/* Bytes of one element of a subset type; 0 for NULL and types outside the subset. */
unsigned int lg_uadp_type_size(unsigned int type);

/* Name of a reason ("truncated", ...); accepts the positive or the negated value. */
const char *lg_uadp_strerror(int reason);

/*
 * Decode buf[0..len) into *m. raw may be NULL when no RawData messages are
 * expected. Returns 0 or a negated enum lg_uadp_reason. Reads nothing outside
 * buf; on failure *m is partially filled and must not be used.
 */
int lg_uadp_decode(struct lg_uadp_msg *m, const uint8_t *buf, size_t len,
		   const struct lg_uadp_layouts *raw);

/*
 * Fill *key for DataSetMessage dsm_idx of a decoded message that has a PublisherId, a
 * WriterGroupId and a PayloadHeader (else -LG_UADP_NO_IDENTITY): the identity of a message
 * needs no source address.
 */
int lg_uadp_device_key(const struct lg_uadp_msg *m, unsigned int dsm_idx,
		       struct lg_admit_uadp_key *key);

/*
 * What DataSetMessage dsm_idx's identity is made of, for lg_admit_uadp_key_make() (admit.h),
 * for every layout: without PublisherId pub_type LG_ADMIT_UADP_PUBID_NONE (the key then
 * takes the datagram's source address), without WriterGroupId 0, without PayloadHeader
 * the position dsm_idx + 1. The key of any decoded message from a source is
 *
 *	lg_uadp_admit_hdr(m, i, &h) == 0 && (lg_admit_uadp_key_make(&h, family, src, &key), 1)
 *
 * Returns 0, -LG_UADP_BAD_ARG, or -LG_UADP_CAPACITY for a String PublisherId longer than
 * a key holds. h->pub_str points into the message.
 */
int lg_uadp_admit_hdr(const struct lg_uadp_msg *m, unsigned int dsm_idx,
		      struct lg_admit_uadp_hdr *h);

/*
 * Verify the HMAC-SHA256 signature of a decoded signed message with key.
 * Returns 0, -LG_UADP_NOT_SIGNED, -LG_UADP_BAD_SIGNATURE or -LG_UADP_CRYPTO.
 */
int lg_uadp_verify(const struct lg_uadp_msg *m, const uint8_t *key, size_t key_len);

struct lg_mac;

/* As lg_uadp_verify() with a keyed context (include/linegate/hmac.h), prepared once so
 * that verifying costs no key setup per message; the same context an LGF tag uses. */
int lg_uadp_verify_hmac(const struct lg_uadp_msg *m, struct lg_mac *h);

/* Element idx of a field as a double (Boolean 0/1, DateTime as its tick count). */
int lg_uadp_field_get_f64(const struct lg_uadp_field *f, uint32_t idx, double *out);

/* Element idx as its raw 64-bit pattern (sign-extended for signed integers). */
int lg_uadp_field_get_raw(const struct lg_uadp_field *f, uint32_t idx, uint64_t *out);

/*
 * Append the numeric values of DataSetMessage dsm_idx (arrays flattened, in field
 * order; DateTime and NULL fields skipped) to out[0..cap). Returns how many were
 * written, or -LG_UADP_CAPACITY if cap is too small.
 */
int lg_uadp_dsm_values(const struct lg_uadp_msg *m, unsigned int dsm_idx, double *out,
		       size_t cap);

/*
 * Encode *m (as the decoder would have filled it: flag bytes are written as
 * given and decide which parts are present; dsm[].size, sig_off, sig_len and
 * promoted_size are computed and ignored on input) into out[0..cap). If the
 * security header says signed, key signs the message. Returns the length or a
 * negated reason.
 */
int lg_uadp_encode(const struct lg_uadp_msg *m, const struct lg_uadp_layouts *raw,
		   const uint8_t *key, size_t key_len, uint8_t *out, size_t cap);

#endif /* LINEGATE_UADP_H */
