/* SPDX-License-Identifier: MIT */
/*
 * LGF v1, the linegate frame: the wire contract between devices (and the load
 * generator), the XDP admission program and the data-plane workers.
 *
 * All multi-byte fields are little-endian. docs/wire-format.md describes the
 * format byte by byte and gives test vectors. This header is included by BPF
 * code too, so it uses only fixed-width types and no libc.
 *
 *   +--------+-----------------------+------------------+
 *   | header | samples (interleaved) | tag (16 bytes)   |
 *   | 40 B   | chans * count * size  | HMAC-SHA256[:16] |
 *   +--------+-----------------------+------------------+
 *
 * The tag is HMAC-SHA256 with the device's key (selected by key_id) over the
 * header and the samples, truncated to its first 16 bytes.
 */
#ifndef LINEGATE_LGF_H
#define LINEGATE_LGF_H

#ifdef __BPF__
#include <linux/types.h>
typedef __u8 lg_u8;
typedef __u16 lg_u16;
typedef __u32 lg_u32;
typedef __u64 lg_u64;
#else
#include <stdint.h>
typedef uint8_t lg_u8;
typedef uint16_t lg_u16;
typedef uint32_t lg_u32;
typedef uint64_t lg_u64;
#endif

#define LGF_MAGIC0 0x4c /* 'L' */
#define LGF_MAGIC1 0x47 /* 'G' */
#define LGF_VERSION 1

#define LGF_HDR_LEN 40
#define LGF_TAG_LEN 16
#define LGF_MIN_LEN (LGF_HDR_LEN + LGF_TAG_LEN)
/* Largest frame a worker accepts: one UDP datagram on a 9000-byte jumbo MTU. */
#define LGF_MAX_LEN 8972
#define LGF_MAX_CHANNELS 16

/* Default UDP port; the policy file may choose another. */
#define LGF_DEFAULT_PORT 4739

enum lgf_type {
	LGF_TYPE_SAMPLES = 1,
	LGF_TYPE_HEARTBEAT = 2,
};

enum lgf_sample_format {
	LGF_FMT_I16 = 1, /* value = raw * scale */
	LGF_FMT_F32 = 2, /* IEEE 754 binary32, scale ignored */
};

enum lgf_sensor_kind {
	LGF_SENSOR_GENERIC = 0,
	LGF_SENSOR_VIBRATION = 1,
	LGF_SENSOR_CURRENT = 2,
	LGF_SENSOR_TEMPERATURE = 3,
	LGF_SENSOR_PRESSURE = 4,
};

/*
 * The header as it lies on the wire. Every field is naturally aligned, so the
 * struct has no padding; the static assertion below keeps it that way.
 */
struct lgf_hdr {
	lg_u8 magic[2];       /*  0: 'L' 'G' */
	lg_u8 version;        /*  2: LGF_VERSION */
	lg_u8 type;           /*  3: enum lgf_type */
	lg_u32 device_id;     /*  4: enrolled device id, never 0 */
	lg_u8 key_id;         /*  8: which of the device's keys made the tag */
	lg_u8 sensor_kind;    /*  9: enum lgf_sensor_kind */
	lg_u8 sample_format;  /* 10: enum lgf_sample_format */
	lg_u8 channels;       /* 11: 1..LGF_MAX_CHANNELS (0 for heartbeats) */
	lg_u32 sample_rate;   /* 12: samples per second per channel */
	lg_u16 sample_count;  /* 16: samples per channel in this frame */
	lg_u16 flags;         /* 18: reserved, must be 0 in v1 */
	lg_u32 scale_bits;    /* 20: float32 scale for LGF_FMT_I16, as raw bits */
	lg_u64 sequence;      /* 24: per device, strictly increasing, starts at 1 */
	lg_u64 timestamp_ns;  /* 32: sender's clock, ns since the Unix epoch */
};

#ifndef __BPF__
_Static_assert(sizeof(struct lgf_hdr) == LGF_HDR_LEN, "LGF header must be 40 bytes");
#endif

static inline lg_u32 lgf_sample_size(lg_u8 fmt)
{
	return fmt == LGF_FMT_I16 ? 2 : fmt == LGF_FMT_F32 ? 4 : 0;
}

#endif /* LINEGATE_LGF_H */
