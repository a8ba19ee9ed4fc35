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
 * Supported: DataSet NetworkMessages (no chunks, no discovery), signed with
 * HMAC-SHA256 and optionally encrypted with AES-CTR (PubSub-Aes128-CTR,
 * PubSub-Aes256-CTR), several DataSetMessages with or without a PayloadHeader,
 * key frames, delta frames and keep-alives in Variant, DataValue or RawData
 * field encoding, fields of every built-in type (ids 1..25), scalar, array or
 * matrix. docs/wire-format-uadp.md states what is supported section by section
 * of OPC 10000-14 7.2.4, and describes the test vectors.
 */
#ifndef LINEGATE_UADP_H
#define LINEGATE_UADP_H

#include <stddef.h>
#include <stdint.h>

#include <linegate/admit.h>
#include <linegate/frame.h>

#define LG_UADP_VERSION 1

/* Capacities of the decoded view; a message that needs more is rejected (LG_UADP_CAPACITY). */
#define LG_UADP_MAX_DSM 32       /* DataSetMessages per NetworkMessage */
#define LG_UADP_MAX_FIELDS 256   /* fields over all DataSetMessages of one message */
#define LG_UADP_MAX_PROMOTED 8   /* promoted fields */
#define LG_UADP_MAX_NONCE 32     /* MessageNonce bytes */
#define LG_UADP_MAX_DEPTH 8      /* Variants and DataValues nested in each other */
#define LG_UADP_SIG_LEN 32       /* HMAC-SHA256 */

/* PubSub-Aes128-CTR and PubSub-Aes256-CTR (OPC 10000-14, 8.4.3 / 8.4.4) */
#define LG_UADP_SIGN_KEY_LEN 32  /* HMAC-SHA256 signing key */
#define LG_UADP_KEY_NONCE_LEN 4  /* KeyNonce, the first 4 bytes of the counter block */
#define LG_UADP_MSG_NONCE_LEN 8  /* MessageNonce: 4 random bytes + 4-byte sequence number */

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
	LG_UADP_ENC_DATAVALUE = 2,
};

enum lg_uadp_dsm_type {
	LG_UADP_DSM_KEY_FRAME = 0,
	LG_UADP_DSM_DELTA_FRAME = 1, /* (FieldIndex, value) pairs; field.index says which */
	LG_UADP_DSM_EVENT = 2,       /* refused: LG_UADP_EVENT */
	LG_UADP_DSM_KEEP_ALIVE = 3,
};

/*
 * OPC UA built-in type ids (OPC 10000-6, 5.1.2). Boolean..Double are numeric (read them with
 * lg_uadp_field_get_f64()); DateTime, StatusCode and Guid have a fixed size (get_raw());
 * String, ByteString and XmlElement elements are (pointer, length) (get_bytes()); the
 * others are decoded only far enough to be skipped.
 */
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
	LG_UADP_T_STRING = 12,   /* Int32 length + UTF-8 bytes, -1 null */
	LG_UADP_T_DATETIME = 13, /* Int64, 100 ns ticks since 1601-01-01 UTC */
	LG_UADP_T_GUID = 14,     /* 16 bytes */
	LG_UADP_T_BYTESTRING = 15,
	LG_UADP_T_XMLELEMENT = 16,
	LG_UADP_T_NODEID = 17,
	LG_UADP_T_EXPANDEDNODEID = 18,
	LG_UADP_T_STATUSCODE = 19, /* UInt32 */
	LG_UADP_T_QUALIFIEDNAME = 20,
	LG_UADP_T_LOCALIZEDTEXT = 21,
	LG_UADP_T_EXTENSIONOBJECT = 22,
	LG_UADP_T_DATAVALUE = 23,
	LG_UADP_T_VARIANT = 24,
	LG_UADP_T_DIAGNOSTICINFO = 25,
	LG_UADP_T_MAX = 25,
};

/* DataValue EncodingMask (OPC 10000-6, 5.2.2.17) */
#define LG_UADP_DV_VALUE 0x01
#define LG_UADP_DV_STATUS 0x02
#define LG_UADP_DV_SOURCE_TS 0x04
#define LG_UADP_DV_SERVER_TS 0x08
#define LG_UADP_DV_SOURCE_PS 0x10
#define LG_UADP_DV_SERVER_PS 0x20
#define LG_UADP_DV_RESERVED 0xc0

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
	LG_UADP_UNSUPPORTED_MSG,      /* the encoder was asked for an event DataSetMessage */
	LG_UADP_UNSUPPORTED_ENCODING, /* a built-in type id above 25 */
	LG_UADP_ENCRYPTED_NO_KEY,     /* encrypted, and no key to decrypt it with */
	LG_UADP_CAPACITY,             /* more DSMs, fields, promoted fields, nonce than fit */
	LG_UADP_NO_LAYOUT,            /* RawData DSM from a writer without a known layout */
	LG_UADP_NOT_SIGNED,           /* a signature was required but the message is not signed */
	LG_UADP_BAD_SIGNATURE,        /* HMAC-SHA256 does not match */
	LG_UADP_BAD_ARG,              /* caller error (NULL, too small an output buffer, bad key) */
	LG_UADP_CRYPTO,               /* libcrypto failed */
	LG_UADP_NO_IDENTITY,          /* no PublisherId, WriterGroupId or DataSetWriterId to map */
	LG_UADP_EVENT,                /* an event DataSetMessage */
	LG_UADP_CHUNK,                /* a chunked NetworkMessage */
	LG_UADP_DISCOVERY,            /* a discovery request or response */
	LG_UADP_TOO_DEEP,             /* Variants/DataValues nested deeper than LG_UADP_MAX_DEPTH */
	LG_UADP_BAD_POLICY,           /* key lengths of no known policy, or the wrong policy */
	LG_UADP_BAD_NONCE,            /* MessageNonce not LG_UADP_MSG_NONCE_LEN bytes */
	LG_UADP_NOT_NUMERIC,          /* a numeric read of a non-numeric field */
	LG_UADP_NREASONS,
};

/*
 * One field. For a scalar, count is 1 and is_array is 0; for an array or a matrix, count
 * is the number of elements (a matrix: the product of its dimensions). data and len are
 * the encoded elements inside the message buffer (or, for the encoder, the caller's memory):
 *  - fixed-size types (lg_uadp_type_size() != 0): count little-endian elements;
 *  - a String, ByteString or XmlElement scalar: its bytes, without the Int32 length
 *    (len 0 for the empty and the null value);
 *  - everything else (arrays of those, NodeId, ...): the elements as on the wire.
 * A DataValue-encoded field (DataSetFlags1 encoding 2) has its value here and the rest of
 * the DataValue in dv_mask, status, source_ts, ...; those are 0 for other encodings.
 */
struct lg_uadp_field {
	const uint8_t *data;
	uint32_t count;
	uint32_t len;       /* bytes at data */
	uint8_t type;       /* enum lg_uadp_type; NULL for an empty Variant */
	uint8_t is_array;   /* 1 for arrays and matrices */
	uint16_t max_len;   /* RawData arrays: padded length on the wire (from the layout) */
	uint16_t index;     /* index in the DataSet: 0..n-1 in key frames, FieldIndex in deltas */
	uint8_t ndims;      /* ArrayDimensions of a matrix, 0 otherwise */
	uint8_t dv_mask;    /* DataValue EncodingMask (LG_UADP_DV_*) */
	const uint8_t *dims; /* ndims little-endian Int32 dimensions, NULL when ndims is 0 */
	uint32_t status;    /* DataValue StatusCode, 0 (Good) when absent */
	uint16_t source_ps; /* DataValue picoseconds, 0 when absent */
	uint16_t server_ps;
	int64_t source_ts;  /* DataValue timestamps (DateTime), 0 when absent */
	int64_t server_ts;
};

struct lg_uadp_dsm {
	uint16_t writer_id;   /* from the PayloadHeader; 0 when there is none */
	uint8_t position;     /* 1-based position in the NetworkMessage */
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

	/*
	 * Payload (DataSetMessages, with their Sizes) at buf[payload_off .. footer), the
	 * SecurityFooter after it; encryption covers buf[payload_off .. sig_off). encrypted:
	 * the message says so; until lg_uadp_decrypt() has run, dsm_count is 0 and decrypted
	 * is 0. After it, buf points at the caller's clear copy.
	 */
	uint32_t payload_off;
	uint8_t encrypted;
	uint8_t decrypted;

	uint8_t writer_count; /* DataSetWriterIds in the PayloadHeader, 0 without one */
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

/* Bytes of one element of a fixed-size type; 0 for NULL and variable-length types. */
unsigned int lg_uadp_type_size(unsigned int type);

/* 1 for the numeric types Boolean..Double, whose elements get_f64() reads. */
int lg_uadp_type_numeric(unsigned int type);

/*
 * The fields of DataSetMessage dsm_idx that carry a device's samples, one channel each, into
 * f[] (at most max) with their DataSet field indices in idx[] and their common length in
 * *count: the fields whose index is set in want, else (want 0) the numeric fields with the
 * most values (a vibration publisher's sample arrays; its scalars are not samples). Returns
 * how many (0: none in this message, or one of want's fields is missing), or max + 1 when the
 * chosen fields disagree on their length or are more than max.
 */
unsigned lg_uadp_sample_fields(const struct lg_uadp_msg *m, unsigned int dsm_idx, uint32_t want,
			       unsigned max, const struct lg_uadp_field **f, uint8_t *idx,
			       uint32_t *count);

/* Name of a reason ("truncated", ...); accepts the positive or the negated value. */
const char *lg_uadp_strerror(int reason);

/*
 * Decode buf[0..len) into *m. raw may be NULL when no RawData messages are
 * expected. Returns 0 or a negated enum lg_uadp_reason. Reads nothing outside
 * buf; on failure *m is partially filled and must not be used.
 *
 * An encrypted message is decoded up to and including its SecurityHeader; payload,
 * footer and signature are located, m->encrypted is 1, m->dsm_count is 0 and 0 is
 * returned: verify the signature (it covers the ciphertext), then lg_uadp_decrypt().
 * An encrypted message that is not signed is refused (LG_UADP_NOT_SIGNED).
 */
int lg_uadp_decode(struct lg_uadp_msg *m, const uint8_t *buf, size_t len,
		   const struct lg_uadp_layouts *raw);

/*
 * Fill *key for DataSetMessage dsm_idx of a decoded message that has a PublisherId, a
 * WriterGroupId and a PayloadHeader (else -LG_UADP_NO_IDENTITY): the identity of a message
 * needs no source address. For an encrypted message not yet decrypted, dsm_idx <
 * writer_count (the PayloadHeader is in clear).
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
 * The reader's RawData layouts for message m once its headers are decoded (lg_uadp_decode()
 * returned -LG_UADP_NO_LAYOUT, or m is encrypted and not yet decrypted): find(ctx, h, out)
 * fills the layout of the DataSetMessage whose identity is h (lg_uadp_admit_hdr(): by
 * DataSetWriterId, or by position without a PayloadHeader) and returns 0, or nonzero when
 * it has none. v[] holds LG_UADP_MAX_DSM layouts; *out is set for lg_uadp_decode() and
 * lg_uadp_decrypt(). Returns how many layouts were found.
 */
typedef int (*lg_uadp_layout_fn)(void *ctx, const struct lg_admit_uadp_hdr *h,
				 struct lg_uadp_layout *out);
unsigned lg_uadp_find_layouts(const struct lg_uadp_msg *m, lg_uadp_layout_fn find, void *ctx,
			      struct lg_uadp_layout *v, struct lg_uadp_layouts *out);

/*
 * Verify the HMAC-SHA256 signature of a decoded signed message with key.
 * Returns 0, -LG_UADP_NOT_SIGNED, -LG_UADP_BAD_SIGNATURE or -LG_UADP_CRYPTO.
 */
int lg_uadp_verify(const struct lg_uadp_msg *m, const uint8_t *key, size_t key_len);

struct lg_mac;

/* As lg_uadp_verify() with a keyed context (include/linegate/hmac.h), prepared once so
 * that verifying costs no key setup per message; the same context an LGF tag uses. */
int lg_uadp_verify_hmac(const struct lg_uadp_msg *m, struct lg_mac *h);

/*
 * Key material of one SecurityGroup key (OPC 10000-14, 8.3: SigningKey | EncryptingKey |
 * KeyNonce) with its HMAC and AES-CTR contexts, prepared once by lg_uadp_keys_new():
 * nothing is keyed per message. enc_len 16 is PubSub-Aes128-CTR, 32 PubSub-Aes256-CTR;
 * enc_len 0 (enc_key and key_nonce NULL) is a signing-only key. One per key per worker:
 * not thread-safe. Returns 0, -LG_UADP_BAD_POLICY (lengths), -LG_UADP_BAD_ARG or
 * -LG_UADP_CRYPTO (includes out of memory).
 */
struct lg_uadp_keys;

int lg_uadp_keys_new(struct lg_uadp_keys **k, const uint8_t *sign_key, size_t sign_len,
		     const uint8_t *enc_key, size_t enc_len, const uint8_t *key_nonce,
		     size_t key_nonce_len);
void lg_uadp_keys_free(struct lg_uadp_keys *k); /* accepts NULL */

/* As lg_uadp_verify() with the signing key of k. */
int lg_uadp_verify_keys(const struct lg_uadp_msg *m, struct lg_uadp_keys *k);

/*
 * Decrypt the payload of an encrypted message decoded by lg_uadp_decode(), whose
 * signature the caller has verified, and decode its DataSetMessages. out[0..cap) receives
 * a copy of the whole message with payload and footer in clear (cap >= m->len; the receive
 * buffer is not written, unless out is m->buf: then it is decrypted in place); on success m
 * points into out (m->buf == out, m->decrypted 1). Verify before: the signature covers the
 * ciphertext, which the clear copy no longer holds.
 * k NULL: -LG_UADP_ENCRYPTED_NO_KEY; k without an encrypting key: -LG_UADP_BAD_POLICY;
 * MessageNonce not 8 bytes: -LG_UADP_BAD_NONCE; then any decoder reason. A message that
 * is not encrypted: -LG_UADP_BAD_ARG. On failure *m must not be used.
 */
int lg_uadp_decrypt(struct lg_uadp_msg *m, struct lg_uadp_keys *k, uint8_t *out, size_t cap,
		    const struct lg_uadp_layouts *raw);

/* The drop reason (include/linegate/frame.h, enum lg_reason) of a decoder return value. */
enum lg_reason lg_uadp_drop_reason(int err);

/* Element idx of a numeric field as a double (Boolean 0/1); -LG_UADP_NOT_NUMERIC for
 * any other type (DateTime, StatusCode, Guid, String, ... and NULL). */
int lg_uadp_field_get_f64(const struct lg_uadp_field *f, uint32_t idx, double *out);

/* Element idx of a fixed-size field other than Guid as its raw 64-bit pattern
 * (sign-extended for signed integers); -LG_UADP_NOT_NUMERIC for other types. */
int lg_uadp_field_get_raw(const struct lg_uadp_field *f, uint32_t idx, uint64_t *out);

/* Element idx of a String, ByteString or XmlElement field as (pointer, length); a null
 * value gives (NULL, 0). -LG_UADP_NOT_NUMERIC for other types. */
int lg_uadp_field_get_bytes(const struct lg_uadp_field *f, uint32_t idx, const uint8_t **p,
			    uint32_t *len);

/*
 * Append the numeric values of DataSetMessage dsm_idx (arrays flattened, in field
 * order; non-numeric fields, DateTime and NULL included, skipped) to out[0..cap).
 * Returns how many were written, or -LG_UADP_CAPACITY if cap is too small.
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

/*
 * As lg_uadp_encode(), signing with k's signing key and, if the security header says
 * encrypted, encrypting payload and footer with k and m->nonce (LG_UADP_MSG_NONCE_LEN
 * bytes) before signing, as a PubSub-Aes*-CTR publisher does.
 */
int lg_uadp_encode_keys(const struct lg_uadp_msg *m, const struct lg_uadp_layouts *raw,
			struct lg_uadp_keys *k, uint8_t *out, size_t cap);

#endif /* LINEGATE_UADP_H */
