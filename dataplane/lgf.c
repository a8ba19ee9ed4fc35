// SPDX-License-Identifier: MIT
/* LGF v1 parsing, tagging and encoding (docs/wire-format.md). */
#include <linegate/frame.h>

#include <endian.h>
#include <stdbool.h>
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static const char *const reason_names[LG_REASON_MAX] = {
#define LG_REASON_NAME(e, name, desc) [LG_##e] = name,
	LG_REASONS(LG_REASON_NAME)
#undef LG_REASON_NAME
};

static const char *const reason_descs[LG_REASON_MAX] = {
#define LG_REASON_DESC(e, name, desc) [LG_##e] = desc,
	LG_REASONS(LG_REASON_DESC)
#undef LG_REASON_DESC
};

const char *lg_reason_name(enum lg_reason r)
{
	return (unsigned)r < LG_REASON_MAX ? reason_names[r] : "invalid";
}

const char *lg_reason_desc(enum lg_reason r)
{
	return (unsigned)r < LG_REASON_MAX ? reason_descs[r] : "";
}

static uint16_t ld16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static uint32_t ld32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t ld64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

enum lg_reason lg_lgf_parse(const uint8_t *buf, size_t len, struct lg_frame *f)
{
	uint32_t size, scale_bits;
	size_t samples_len;

	if (len < LGF_MIN_LEN)
		return LG_DROP_TRUNCATED;
	if (buf[0] != LGF_MAGIC0 || buf[1] != LGF_MAGIC1)
		return LG_DROP_BAD_MAGIC;
	if (buf[2] != LGF_VERSION)
		return LG_DROP_BAD_VERSION;
	if (len > LGF_MAX_LEN)
		return LG_DROP_BAD_LENGTH;

	f->hdr = (const struct lgf_hdr *)buf;
	f->type = buf[3];
	f->device_id = ld32(buf + 4);
	f->key_id = buf[8];
	f->sample_format = buf[10];
	f->channels = buf[11];
	f->sample_rate = ld32(buf + 12);
	f->sample_count = ld16(buf + 16);
	scale_bits = ld32(buf + 20);
	memcpy(&f->scale, &scale_bits, sizeof(f->scale));
	f->sequence = ld64(buf + 24);
	f->timestamp_ns = ld64(buf + 32);

	if (ld16(buf + 18) != 0)
		return LG_DROP_UNSUPPORTED;
	switch (f->type) {
	case LGF_TYPE_HEARTBEAT:
		samples_len = 0;
		if (f->channels || f->sample_count)
			return LG_DROP_BAD_LENGTH;
		break;
	case LGF_TYPE_SAMPLES:
		size = lgf_sample_size(f->sample_format);
		if (!size)
			return LG_DROP_UNSUPPORTED;
		if (!f->channels || f->channels > LGF_MAX_CHANNELS || !f->sample_count)
			return LG_DROP_BAD_LENGTH;
		samples_len = (size_t)size * f->channels * f->sample_count;
		break;
	default:
		return LG_DROP_UNSUPPORTED;
	}
	if (LGF_HDR_LEN + samples_len + LGF_TAG_LEN != len)
		return LG_DROP_BAD_LENGTH;
	f->samples = buf + LGF_HDR_LEN;
	f->samples_len = samples_len;
	f->signed_len = LGF_HDR_LEN + samples_len;
	f->tag = buf + f->signed_len;
	return LG_OK;
}

void lg_lgf_samples(const struct lg_frame *f, unsigned channel, size_t first, size_t n,
		    float *out)
{
	const size_t ch = f->channels;

	/* Separate loops per format, and a unit stride for single-channel frames, so the
	 * compiler vectorises the common cases. */
	if (f->sample_format == LGF_FMT_I16) {
		const uint8_t *src = f->samples + 2 * (first * ch + channel);
		const float scale = f->scale;

		if (ch == 1) {
			for (size_t i = 0; i < n; i++)
				out[i] = (float)(int16_t)ld16(src + 2 * i) * scale;
		} else {
			for (size_t i = 0; i < n; i++)
				out[i] = (float)(int16_t)ld16(src + 2 * i * ch) * scale;
		}
	} else {
		const uint8_t *src = f->samples + 4 * (first * ch + channel);

		for (size_t i = 0; i < n; i++) {
			uint32_t bits = ld32(src + 4 * i * ch);

			memcpy(&out[i], &bits, sizeof(bits));
		}
	}
}

int lg_lgf_tag(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t len,
	       uint8_t tag[LGF_TAG_LEN])
{
	uint8_t md[LG_HMAC_LEN];

	if (lg_mac_once(key, keylen, msg, len, md))
		return -EIO;
	memcpy(tag, md, LGF_TAG_LEN);
	return 0;
}

int lg_lgf_check_tag(const struct lg_frame *f, const uint8_t *key, size_t keylen)
{
	uint8_t tag[LGF_TAG_LEN];

	if (lg_lgf_tag(key, keylen, (const uint8_t *)f->hdr, f->signed_len, tag))
		return -EIO;
	return CRYPTO_memcmp(tag, f->tag, LGF_TAG_LEN) ? -EBADMSG : 0;
}

int lg_mac_tag(struct lg_mac *m, const uint8_t *msg, size_t len, uint8_t tag[LGF_TAG_LEN])
{
	uint8_t md[LG_HMAC_LEN];

	if (lg_mac_sha256(m, msg, len, md))
		return -EIO;
	memcpy(tag, md, LGF_TAG_LEN);
	return 0;
}

int lg_mac_check(struct lg_mac *m, const struct lg_frame *f)
{
	return lg_mac_verify(m, (const uint8_t *)f->hdr, f->signed_len, f->tag, LGF_TAG_LEN);
}


static void st16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}

static void st32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static void st64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

int lg_lgf_encode(const struct lg_lgf_build *b, const uint8_t *key, size_t keylen, uint8_t *out,
		  size_t outlen)
{
	size_t n = 0, size = 0, len;
	uint32_t scale_bits;

	if (b->type == LGF_TYPE_SAMPLES) {
		size = lgf_sample_size(b->sample_format);
		if (!size || !b->channels || b->channels > LGF_MAX_CHANNELS || !b->sample_count)
			return -EINVAL;
		n = (size_t)b->channels * b->sample_count;
	} else if (b->type != LGF_TYPE_HEARTBEAT) {
		return -EINVAL;
	}
	len = LGF_HDR_LEN + n * size + LGF_TAG_LEN;
	if (len > outlen || len > LGF_MAX_LEN)
		return -ENOSPC;
	out[0] = LGF_MAGIC0;
	out[1] = LGF_MAGIC1;
	out[2] = LGF_VERSION;
	out[3] = b->type;
	st32(out + 4, b->device_id);
	out[8] = b->key_id;
	out[9] = b->sensor_kind;
	out[10] = n ? b->sample_format : 0;
	out[11] = n ? b->channels : 0;
	st32(out + 12, b->sample_rate);
	st16(out + 16, n ? b->sample_count : 0);
	st16(out + 18, 0);
	memcpy(&scale_bits, &b->scale, sizeof(scale_bits));
	st32(out + 20, scale_bits);
	st64(out + 24, b->sequence);
	st64(out + 32, b->timestamp_ns);
	for (size_t i = 0; i < n; i++) {
		if (size == 2) {
			int16_t s = ((const int16_t *)b->samples)[i];

			st16(out + LGF_HDR_LEN + 2 * i, (uint16_t)s);
		} else {
			uint32_t bits;

			memcpy(&bits, (const float *)b->samples + i, sizeof(bits));
			st32(out + LGF_HDR_LEN + 4 * i, bits);
		}
	}
	if (lg_lgf_tag(key, keylen, out, len - LGF_TAG_LEN, out + len - LGF_TAG_LEN))
		return -EIO;
	return (int)len;
}
