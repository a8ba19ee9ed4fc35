/* SPDX-License-Identifier: MIT */
/*
 * A received frame after parsing, and the reasons a worker rejects one.
 * The view points into the receive buffer: nothing is copied.
 */
#ifndef LINEGATE_FRAME_H
#define LINEGATE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <linegate/lgf.h>

/* Why a worker dropped a frame; every reason has a counter. Keep names in sync with
 * lg_reason_name(). */
enum lg_reason {
	LG_OK = 0,
	LG_DROP_TRUNCATED,   /* shorter than a header + tag */
	LG_DROP_BAD_MAGIC,   /* not an LGF frame */
	LG_DROP_BAD_VERSION, /* an LGF version this build does not speak */
	LG_DROP_BAD_LENGTH,  /* lengths in the header disagree with the datagram */
	LG_DROP_UNSUPPORTED, /* type, sample format or flags this build does not handle */
	LG_DROP_UNKNOWN_DEVICE,
	LG_DROP_SPOOFED,     /* enrolled id, but not from the device's bound address */
	LG_DROP_UNKNOWN_KEY, /* key id is not one of the device's keys */
	LG_DROP_BAD_TAG,
	LG_DROP_REPLAYED,    /* inside the window, already seen */
	LG_DROP_TOO_OLD,     /* below the window */
	LG_DROP_UNSIGNED,    /* an unsigned UADP message for a device that must sign */
	LG_REASON_MAX,
};

const char *lg_reason_name(enum lg_reason r);

struct lg_frame {
	const struct lgf_hdr *hdr; /* in the receive buffer */
	uint32_t device_id;
	uint8_t key_id;
	uint8_t type;
	uint8_t sample_format;
	uint8_t channels;
	uint16_t sample_count;
	uint32_t sample_rate;
	float scale;
	uint64_t sequence;
	uint64_t timestamp_ns;
	const uint8_t *samples; /* channels * sample_count interleaved values */
	size_t samples_len;
	const uint8_t *tag;     /* LGF_TAG_LEN bytes */
	size_t signed_len;      /* bytes covered by the tag: header + samples */
};

/* Parse an LGF v1 datagram. Checks structure only, not the tag. */
enum lg_reason lg_lgf_parse(const uint8_t *buf, size_t len, struct lg_frame *f);

/* Decode n samples of one channel, starting at sample index first, into out as floats
 * (int16 x scale, or float32). The caller keeps first + n <= sample_count. */
void lg_lgf_samples(const struct lg_frame *f, unsigned channel, size_t first, size_t n,
		    float *out);

/* HMAC-SHA256(key, msg) truncated to LGF_TAG_LEN. Returns 0 or -EIO. */
int lg_lgf_tag(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t len,
	       uint8_t tag[LGF_TAG_LEN]);

/* Constant-time: 0 when the frame's tag is right for key. */
int lg_lgf_check_tag(const struct lg_frame *f, const uint8_t *key, size_t keylen);

/*
 * A keyed HMAC-SHA256 context. Keying computes the inner and outer pad states once;
 * every tag after that restarts from them, which costs a fraction of a one-shot HMAC()
 * and allocates nothing. One context per key per worker: not thread-safe.
 */
struct lg_mac;
int lg_mac_new(struct lg_mac **m, const uint8_t *key, size_t keylen);
int lg_mac_tag(struct lg_mac *m, const uint8_t *msg, size_t len, uint8_t tag[LGF_TAG_LEN]);
/* Constant-time: 0 when the frame's tag is right, -EBADMSG when not, -EIO on failure. */
int lg_mac_check(struct lg_mac *m, const struct lg_frame *f);
void lg_mac_free(struct lg_mac *m);

/* What a sender needs to build a frame. */
struct lg_lgf_build {
	uint32_t device_id;
	uint8_t key_id;
	uint8_t type;
	uint8_t sensor_kind;
	uint8_t sample_format;
	uint8_t channels;
	uint16_t sample_count;
	uint32_t sample_rate;
	float scale;
	uint64_t sequence;
	uint64_t timestamp_ns;
	const void *samples; /* host-order int16 or float, interleaved */
};

/* Encode and tag a frame into out. Returns its length, or -ENOSPC / -EINVAL / -EIO. */
int lg_lgf_encode(const struct lg_lgf_build *b, const uint8_t *key, size_t keylen, uint8_t *out,
		  size_t outlen);

#endif /* LINEGATE_FRAME_H */
